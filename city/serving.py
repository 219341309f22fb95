"""The city's HTTP server (uvicorn, h11, uvloop) hardened against clients that hold sockets open.

uvicorn closes a keep-alive connection left idle after a response, but not one that never sends
a request, nor one that trickles its request in a byte at a time: a few hundred such sockets use
every file descriptor a server has (256 on some systems), after which nobody, not even
``/v1/health``, is served. :class:`GuardedH11Protocol` adds three things:

- a deadline for a request's head: ``client_timeout`` seconds from the connection (or from the
  previous response), however slowly the bytes come;
- while a body streams in, at most ``client_timeout`` seconds without a byte, and
  ``BODY_SECONDS`` for the whole body;
- a cap on open connections below the file limit: past it, each new connection closes the
  oldest one that is not in the middle of a request (idle, or still sending its head).

:func:`server_options` gives the uvicorn keywords; ``kiosk-city serve`` (every worker) and
:mod:`city.embedded` both use it. The event loop is uvloop's (libuv): the same protocol on a loop
that costs less CPU a request and a thread hand-off than asyncio's. 200 kiosks posting batches of
100 to ``serve --workers 2`` on PostgreSQL (2 cores, the load generator on them too), three
alternating pairs of three runs: 12 520 entries/s on average instead of 11 610, p95 1.57-1.99 s
instead of 1.78-2.24 s.

:func:`run_workers` runs ``serve --workers N``: uvicorn's supervisor, but each worker accepts on
a listening socket of its own (``SO_REUSEPORT``), so the kernel spreads connections over the
workers by a hash of their addresses (200 kiosks over 2 workers, 43 runs: 109/91 or closer in
36, 120/80 at worst). On one shared socket, the worker that wakes first takes every connection
waiting (up to the backlog): 200 kiosks connecting at once were split 64/36, and the busier
worker's kiosks waited longer while the other ran out of work.
"""

from __future__ import annotations

import functools
import logging
import resource
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("kiosk.city")

CLIENT_TIMEOUT = 10.0  # seconds for a request's head, and the longest pause inside a body
BODY_SECONDS = 300.0  # a whole body (16 MiB over a slow 3G link)
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept (uvicorn's default)
RESERVED_FILES = 64  # descriptors kept for the database, logs and the listening socket
# connections the loop may accept in one turn before the cap can act (at most the listen backlog,
# which this sets): the cap leaves room for a few such bursts, so accepting never meets EMFILE
# (asyncio's loop logs one traceback per pending connection there, CPython 3.11)
ACCEPT_BURST = 64
MAX_HEAD_BYTES = 16 * 1024  # request line and headers (h11's default, stated)


@functools.lru_cache(maxsize=1)
def max_connections() -> int:
    """Open connections this process allows: its file limit less what it needs besides."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, min(soft, 65536) - RESERVED_FILES - 3 * ACCEPT_BURST)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for request heads and bodies and a connection cap."""

    def __init__(self, *args: Any, client_timeout: float = CLIENT_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_timeout = client_timeout
        self._timer = None
        self._phase = "head"  # head | body | answer | idle
        self._body_deadline = 0.0
        self._opened = 0.0

    # -------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm(self.client_timeout)
        if len(self.connections) > max_connections():
            self._shed()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._disarm()
        self._phase = "idle"  # uvicorn's keep-alive timer runs from here
        super().on_response_complete()

    # -------------------------------------------------------------- deadlines
    def _follow(self) -> None:
        """Set the timer for where the request now is (h11's view of the client)."""
        state = self.conn.their_state
        if state is h11.IDLE:  # a head not yet complete: its deadline does not move
            if self._phase != "head":
                self._phase = "head"
                self._arm(self.client_timeout)
        elif state is h11.SEND_BODY:
            now = self.loop.time()
            if self._phase != "body":
                self._phase = "body"
                self._body_deadline = now + BODY_SECONDS
            self._arm(max(0.0, min(self.client_timeout, self._body_deadline - now)))
        else:  # the request is in: the app's work has no deadline here
            self._phase = "answer"
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            log.debug("closing a connection that sent nothing in time (%s)", self._phase)
            self.transport.close()

    def _shed(self) -> None:
        """Close the oldest connection not in the middle of a request, to make room."""
        waiting = [p for p in self.connections
                   if isinstance(p, GuardedH11Protocol) and p is not self and p._phase in ("head", "idle")
                   and not p.transport.is_closing()]
        if waiting:
            oldest = min(waiting, key=lambda p: p._opened)
            log.debug("%d connections open: closing the oldest idle one", len(self.connections))
            oldest._disarm()
            oldest.transport.close()


def server_options(client_timeout: float = CLIENT_TIMEOUT) -> dict:
    """Keywords for ``uvicorn.Config`` or ``uvicorn.run`` that every city server uses (a partial
    of a module-level class, so it travels to ``--workers`` processes)."""
    return {
        "http": functools.partial(GuardedH11Protocol, client_timeout=client_timeout),
        "timeout_keep_alive": KEEP_ALIVE,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "backlog": ACCEPT_BURST,
        "loop": "uvloop",
    }


def run_workers(config) -> None:
    """Serve ``config`` (a ``uvicorn.Config`` with ``workers`` > 1, on ``host`` and ``port``) from
    that many worker processes, each accepting on its own socket bound with ``SO_REUSEPORT``.
    uvicorn's supervisor restarts a worker that dies; the one it starts listens on every socket."""
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class OneSocketEach(Multiprocess):
        def init_processes(self) -> None:
            for sock in self.sockets:
                process = Process(self.config, [sock])
                process.start()
                self.processes.append(process)

    sockets = _reuse_port_sockets(config.host, config.port, config.workers, config.backlog)
    try:
        OneSocketEach(config, sockets=sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def _reuse_port_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on one address (port 0: the first one's port for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
