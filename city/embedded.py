"""The reference city server inside another program (the demo, tests, benchmarks).

    with start_server(tmp / "city") as server:
        enrollment = server.enroll("kiosk-01", state_dir=tmp / "kiosk")
        config = {..., "sync": enrollment.sync_section()}
        ...  # sync.client.sync_once(config), or `kiosk sync --once`
        server.entries()

uvicorn runs in a daemon thread on a socket bound before the thread starts, so the URL (with
its ephemeral port) is known and connectable when :func:`start_server` returns.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable

from city.store import CityStore


@dataclass
class RunningServer:
    url: str  # e.g. "http://127.0.0.1:40123"
    store: CityStore
    stop: Callable[[], None] = field(repr=False)

    @property
    def data_dir(self) -> Path:
        return self.store.data_dir

    def enroll(self, kiosk_id: str, *, state_dir: str | os.PathLike | None = None,
               venue: str | Sequence[str] | None = None,
               simulated: bool = False):
        """Enrol a kiosk with this server (see :func:`city.enroll.enroll_kiosk`)."""
        from city.enroll import enroll_kiosk

        return enroll_kiosk(self.store, kiosk_id, self.url, state_dir=state_dir, venue=venue, simulated=simulated)

    def entries(self, kiosk_id: str | None = None) -> list[dict]:
        """Every received entry, identity unsealed, in arrival order."""
        return list(self.store.iter_entries(kiosk_id=kiosk_id))

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(
    data_dir: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
    max_batch_bytes: int | None = None,
    db: str | None = None,
    retention_days: float | None = None,
    daily_quota: int | None = None,
    client_timeout: float | None = None,
) -> RunningServer:
    """Start the city server in a background thread; return its URL, store and a stop function.

    ``port=0`` picks a free port. ``stop()`` is idempotent and waits for the thread to end.
    ``db`` is a PostgreSQL URL (else SQLite in ``data_dir``); pending migrations are applied.
    """
    import uvicorn

    from city.app import DAILY_QUOTA, MAX_BATCH_BYTES, create_app
    from city.serving import CLIENT_TIMEOUT, server_options

    store = CityStore(data_dir, db, migrate=True, retention_days=retention_days)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    app = create_app(store, max_batch_bytes=max_batch_bytes or MAX_BATCH_BYTES,
                     daily_quota=DAILY_QUOTA if daily_quota is None else daily_quota)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            **server_options(client_timeout or CLIENT_TIMEOUT))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kiosk-city", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            store.close()
            raise RuntimeError("the city server did not start")
        time.sleep(0.01)

    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()

    shown = f"[{host}]" if ":" in host else host
    return RunningServer(url=f"http://{shown}:{bound_port}", store=store, stop=stop)
