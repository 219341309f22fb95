"""A fault-injecting HTTP/1.1 proxy for the sync tests: what a bad mobile network does to a kiosk.

It sits between ``kiosk sync`` and the real city server on 127.0.0.1 and, per request, either
relays it or injects one fault:

- ``drop_before``: the connection is closed before the server sees the request;
- ``drop_after``: the request reaches the server (which stores the batch), the reply is thrown
  away and the connection closed: the kiosk must not mark anything delivered, and the repeat
  must be acknowledged without being stored twice;
- ``unavailable``: a 503 (or ``unavailable_status``, e.g. 429) with ``Retry-After`` (the
  server never sees the request);
- ``slow``: the server's reply is held back longer than the kiosk's timeout.

Faults are drawn from a seeded random generator; ``counts`` records what was done, so a test can
check that every fault really happened.
"""

from __future__ import annotations

import random
import socket
import socketserver
import threading
import time
from collections import Counter

FAULTS = ("drop_before", "drop_after", "unavailable", "slow")


def _read_request(reader) -> tuple[bytes, list[tuple[str, str]], bytes] | None:
    request_line = reader.readline(65537)
    if not request_line:
        return None
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
    body = reader.read(length) if length else b""
    return request_line, headers, body


class FaultProxy:
    """``FaultProxy(upstream_port, rates={"drop_before": 0.1, ...}, slow_seconds=1.0)``; then
    ``.url``, ``.counts``, ``.rates`` (changeable while running) and ``.stop()``."""

    def __init__(self, upstream_port: int, rates: dict[str, float] | None = None, *, slow_seconds: float = 1.0,
                 retry_after: int = 1, unavailable_status: int = 503, seed: int = 0,
                 paths: tuple[str, ...] = ("/v1/entries",)):
        self.upstream = ("127.0.0.1", upstream_port)
        self.rates = dict(rates or {})
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.unavailable_status = unavailable_status
        self.paths = paths
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    request = _read_request(self.rfile)
                    if request is None:
                        return
                    if not proxy._serve(request, self.connection, self.wfile):
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _draw(self, path: str) -> str:
        with self._lock:
            if not any(path.startswith(p) for p in self.paths):
                fault = "pass"
            else:
                roll, fault = self.rng.random(), "pass"
                for name in FAULTS:
                    rate = self.rates.get(name, 0.0)
                    if roll < rate:
                        fault = name
                        break
                    roll -= rate
            self.counts[fault] += 1
            return fault

    def _forward(self, request_line: bytes, headers: list[tuple[str, str]], body: bytes) -> bytes:
        upstream = socket.create_connection(self.upstream, timeout=30)
        try:
            lines = [request_line]
            lines += [f"{n}: {v}\r\n".encode("latin-1") for n, v in headers if n.lower() != "connection"]
            lines.append(b"Connection: close\r\n\r\n")
            upstream.sendall(b"".join(lines) + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            upstream.close()

    def _serve(self, request, connection: socket.socket, out) -> bool:
        """Handle one request; False closes the client connection."""
        request_line, headers, body = request
        path = request_line.split(b" ")[1].decode("latin-1") if b" " in request_line else ""
        fault = self._draw(path)
        if fault == "drop_before":
            connection.shutdown(socket.SHUT_RDWR)
            return False
        if fault == "unavailable":
            message = b'{"error":"unavailable","detail":"injected by the test proxy"}'
            out.write(
                f"HTTP/1.1 {self.unavailable_status} Come Back Later\r\nContent-Type: application/json\r\n".encode()
                + f"Retry-After: {self.retry_after}\r\nContent-Length: {len(message)}\r\n\r\n".encode()
                + message
            )
            out.flush()
            return True
        response = self._forward(request_line, headers, body)
        if fault == "drop_after":
            connection.shutdown(socket.SHUT_RDWR)
            return False
        if fault == "slow":
            time.sleep(self.slow_seconds)
        try:
            out.write(response)
            out.flush()
        except OSError:  # the kiosk gave up waiting (timeout) or was killed
            return False
        # the upstream reply may say "connection: close"; keep the client's connection only if not
        head = response.split(b"\r\n\r\n", 1)[0].lower()
        return b"connection: close" not in head

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
