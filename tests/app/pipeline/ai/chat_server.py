"""A stand-in for a remote model: an OpenAI-compatible chat-completions endpoint.

It listens on 127.0.0.1 (a free port), speaks the real wire format
(`POST /v1/chat/completions` in, a `chat.completion` object out) and answers from
a script the test sets up: each `reply(...)` is used by one request, in order.
Every request is kept (path, headers, JSON body) for the test to inspect.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 20
    finish_reason: str = "stop"
    body: bytes | None = None  # sent as is instead of a chat.completion


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ChatServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(Request(self.path, dict(self.headers), body))
                reply = server.replies.popleft() if server.replies else Reply(status=599)
                time.sleep(reply.delay)
                # The client may have given up waiting (the timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply, body)

            def _send(self, reply: Reply, request: dict[str, Any]) -> None:
                payload = reply.body
                if payload is None and reply.status == 200:
                    payload = json.dumps(completion(reply, request.get("model", ""))).encode()
                payload = payload or b'{"error": {"message": "scripted failure"}}'
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def reply(self, content: Any = None, **options: Any) -> None:
        """Script the next answer: `content` (a dict is sent as JSON text) and options."""
        text = json.dumps(content) if isinstance(content, dict | list) else content
        self.replies.append(Reply(text, **options))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """A chat.completion object as OpenAI's API returns it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": None},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }
