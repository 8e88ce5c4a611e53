"""A stand-in for ClamAV's daemon that speaks its INSTREAM wire protocol over TCP.

ClamAV's signatures cannot be downloaded here, so a real clamd cannot start; this
server receives the stream exactly as clamd would and answers with a set verdict.
"""

from __future__ import annotations

import socketserver
import struct
import threading


class FakeClamd:
    def __init__(self) -> None:
        self.verdict = "OK"
        self.received = b""
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                command = b""
                while not command.endswith(b"\0"):
                    command += self.request.recv(1)
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    (length,) = struct.unpack("!L", self._exactly(4))
                    if length == 0:
                        break
                    data += self._exactly(length)
                outer.received = data
                self.request.sendall(f"stream: {outer.verdict}\0".encode())

            def _exactly(self, n: int) -> bytes:
                out = b""
                while len(out) < n:
                    more = self.request.recv(n - len(out))
                    if not more:
                        raise ConnectionError("client went away")
                    out += more
                return out

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeClamd:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
