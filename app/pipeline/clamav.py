"""A client for ClamAV's daemon: stream bytes with INSTREAM, read the verdict.

The protocol is a few lines (clamd(8)): send `zINSTREAM\\0`, then chunks each
prefixed by its length as a 4-byte big-endian integer, then a zero length; the
daemon answers `stream: OK` or `stream: <signature> FOUND`. A daemon that cannot
be reached is a transient error (the stage retries), never a silent pass.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from app.pipeline.errors import TransientError

CHUNK = 64 * 1024


class ScannerUnavailable(TransientError):
    error_type = "scanner_unavailable"


class ClamdScanner:
    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        try:
            if self.address.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address)
                return sock
            host, _, port = self.address.rpartition(":")
            return socket.create_connection((host or "127.0.0.1", int(port)), timeout=self.timeout)
        except (OSError, ValueError) as exc:
            raise ScannerUnavailable("the ClamAV daemon cannot be reached") from exc

    def __call__(self, chunks: Iterator[bytes]) -> str | None:
        """Return the signature name clamd found, or None if the stream is clean."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK):
                        piece = chunk[start : start + CHUNK]
                        sock.sendall(struct.pack("!L", len(piece)) + piece)
                sock.sendall(struct.pack("!L", 0))
                reply = b""
                while not reply.endswith(b"\0"):
                    data = sock.recv(4096)
                    if not data:
                        break
                    reply += data
            except OSError as exc:
                raise ScannerUnavailable("the ClamAV daemon stopped answering") from exc
        answer = reply.rstrip(b"\0").decode("ascii", "replace").strip()
        if answer.endswith("FOUND"):
            return answer.removeprefix("stream:").removesuffix("FOUND").strip() or "unknown"
        if answer.endswith("OK"):
            return None
        raise ScannerUnavailable("the ClamAV daemon answered with an error")
