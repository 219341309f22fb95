"""A city server on 127.0.0.1 that answers as a test tells it to: hostile, broken or slow.

Each reply is chosen by "METHOD /path" (the longest matching prefix wins) and is one of:

- ``Json(status, body)``: ``body`` bytes as they are (deeply nested JSON, a bad time...);
- ``Ack()``: a proper acknowledgement of every id in the batch;
- ``Dribble()``: headers promising a large body, then one byte a second;
- ``Silent()``: reads the request and never answers;
- ``Stream(size)``: a body of ``size`` bytes with no Content-Length (read until the close),
  sent a megabyte at a time without holding it in memory.

``started`` is set once any Dribble or Silent reply has begun; ``stop()`` ends them all.
"""

from __future__ import annotations

import datetime as dt
import json
import socketserver
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Json:
    status: int
    body: bytes


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Dribble:
    pass


@dataclass(frozen=True)
class Silent:
    pass


@dataclass(frozen=True)
class Stream:
    size: int


def heartbeat_reply() -> Json:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return Json(200, json.dumps({"ok": True, "server_time": now}).encode())


class HostileCity:
    def __init__(self, replies: dict[str, object] | None = None):
        self.replies: dict[str, object] = {
            "POST /v1/entries": Ack(),
            "GET /v1/bundles/": Json(404, b'{"error": "not_published"}'),
            "POST /v1/heartbeat": None,  # a fresh heartbeat reply each time
            **(replies or {}),
        }
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.seen: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while not outer.stopping.is_set():
                    request_line = self.rfile.readline(65536)
                    if not request_line:
                        return
                    length = 0
                    while True:
                        line = self.rfile.readline(65536)
                        if line in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    body = self.rfile.read(length) if length else b""
                    method, path = request_line.decode("latin-1").split()[:2]
                    outer.seen.append(f"{method} {path}")
                    if not outer._answer(self.wfile, f"{method} {path}", body):
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _reply_for(self, key: str):
        matches = [k for k in self.replies if key.startswith(k)]
        return self.replies[max(matches, key=len)] if matches else Json(404, b'{"error": "not_found"}')

    def _answer(self, out, key: str, body: bytes) -> bool:
        """Write the reply; False when the connection is to be closed."""
        reply = self._reply_for(key)
        if reply is None:
            reply = heartbeat_reply()
        if isinstance(reply, Ack):
            ids = [entry["id"] for entry in json.loads(body)["entries"]]
            reply = Json(200, json.dumps({"acked": ids, "stored": len(ids), "duplicates": 0}).encode())
        if isinstance(reply, Json):
            out.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % (reply.status, len(reply.body)) + reply.body)
            out.flush()
            return True
        if isinstance(reply, Silent):
            self.started.set()
            self.stopping.wait()
            return False
        if isinstance(reply, Dribble):
            out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            out.flush()
            self.started.set()
            while not self.stopping.wait(1.0):
                try:
                    out.write(b" ")
                    out.flush()
                except OSError:
                    return False
            return False
        if isinstance(reply, Stream):
            out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            chunk = b" " * (1024 * 1024)
            try:
                for _ in range(reply.size // len(chunk)):
                    out.write(chunk)
            except OSError:
                pass
            return False
        raise TypeError(reply)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
