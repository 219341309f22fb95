"""The city server's HTTP API (FastAPI), as documented in ``sync/PROTOCOL.md``.

FastAPI is imported at module level (not lazily) because it resolves the endpoints' type hints
from this module's globals; only the server imports this module.

Bodies are read as raw bytes with a hard size cap and validated by hand (one pass, every
problem named per entry) rather than by a pydantic model: a kiosk needs to know *which* entries
were refused so it can quarantine exactly those and deliver the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import logging
import math
import os
import threading
from typing import Any

import anyio
import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sync import PROTOCOL_VERSION, bundles
from city.store import CityStore, InvalidBatch, MAX_BATCH_ENTRIES, now_iso

log = logging.getLogger("kiosk.city")

MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_HEARTBEAT_BYTES = 64 * 1024
# JSON values a body may hold: a real entry has about 16, so a full batch stays far below; 16 MiB
# of `{}` (5.6 million objects, ~500 MB once parsed) does not
MAX_BATCH_VALUES = 40 * MAX_BATCH_ENTRIES
MAX_HEARTBEAT_VALUES = MAX_HEARTBEAT_BYTES  # 64 KiB cannot hold many: the size bounds it
# batches a worker process ingests at once: one at a time opens its identities (CityStore's lock)
# while others are checked or written through the pool's connections; more threads would only
# wait, each holding one of the threadpool's 40; the others wait their turn (first come, first
# served), holding no thread
INGEST_THREADS = 8
DAILY_QUOTA = 100_000  # entries one kiosk may have stored per UTC day (a gate admits ~30 000 in 16 h)
# how `kiosk-city serve` tells each worker process what to open (JSON: data, db, retention_days)
SERVE_ENV = "KIOSK_CITY_SERVE"
PURGE_EVERY_SECONDS = 3600.0


def app_from_environment():
    """The app factory each ``serve`` worker process calls: its own store and connections."""
    settings = json.loads(os.environ[SERVE_ENV])
    from city.console.pages import ConsoleSettings

    store = CityStore(settings["data"], settings.get("db"), retention_days=settings.get("retention_days"))
    return create_app(store, close_store=True, daily_quota=settings.get("daily_quota", DAILY_QUOTA),
                      console=ConsoleSettings(**settings.get("console", {})))


class BodyRefused(ValueError):
    """The body cannot be taken: ``status`` and ``code`` say how to answer."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code = status, code


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, max_values: int, *, exact: bool = False) -> Any:
    """``body`` as JSON, never building more than about ``max_values`` values.

    Commas and brackets bound the number of values the parser will make, and counting them costs
    a few milliseconds for 16 MiB; nesting too deep is an error here (400), not a crash; NaN and
    Infinity are not JSON. orjson parses (in less CPU than json.loads: an upload's batch), except
    with ``exact`` (a heartbeat, kept as sent): orjson reads an integer past 64 bits as a float.
    """
    if body.count(b",") + body.count(b"{") + body.count(b"[") > max_values:
        raise BodyRefused(413, "too_complex", f"a body may hold at most {max_values} JSON values")
    try:
        return json.loads(body, parse_constant=_no_constant) if exact else orjson.loads(body)
    except RecursionError:
        raise BodyRefused(400, "bad_json", "the body is nested too deeply") from None
    except orjson.JSONDecodeError as exc:  # a ValueError: before the next clause
        if "depth" in str(exc) or "ecursion" in str(exc):  # past 1 024 levels ("depth limit exceeded")
            raise BodyRefused(400, "bad_json", "the body is nested too deeply") from None
        raise BodyRefused(400, "bad_json", "the body is not JSON") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyRefused(400, "bad_json", "the body is not JSON") from None


def seconds_to_midnight(now: dt.datetime) -> int:
    """Whole seconds until the next UTC day begins (a quota's Retry-After), at least 1."""
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _purge_loop(store: CityStore, stop: threading.Event) -> None:
    """Remove what has left the retention window at start and then hourly, until ``stop``."""
    while True:
        try:
            removed = store.purge()
            if removed:
                log.info("retention: removed %d entries older than %s days", removed, store.retention_days)
        except Exception:  # noqa: BLE001 - a failed purge is retried at the next round, serving goes on
            log.exception("retention: the purge failed")
        if stop.wait(PURGE_EVERY_SECONDS):
            return


def create_app(store: CityStore, max_batch_bytes: int = MAX_BATCH_BYTES, *, close_store: bool = False,
               daily_quota: int | None = DAILY_QUOTA, console: Any = None):
    """The ASGI app serving one city's store: the kiosk API, and the web console under
    ``/console/`` (``console``: its :class:`city.console.pages.ConsoleSettings`, defaults if None).
    ``daily_quota``: entries a kiosk may have stored per UTC day before its uploads are answered
    429 (None or 0: no quota).

    Database work runs in the threadpool (never on the event loop), so a slow write or a
    trace never holds up other requests. At start every database connection is opened. With a
    retention window, a thread removes expired entries at start and every hour while the app runs
    (its lifespan).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await run_in_threadpool(store.engine.open_connections)
        stop = threading.Event()
        purger = None
        if store.retention_days is not None:
            purger = threading.Thread(target=_purge_loop, args=(store, stop), name="city-retention", daemon=True)
            purger.start()
        try:
            yield
        finally:
            stop.set()
            if purger is not None:
                purger.join(timeout=30)
            if close_store:
                store.close()

    from city.console.pages import Console, ConsoleSettings

    app = FastAPI(title="kiosk-city", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.console = Console(store, console or ConsoleSettings())
    app.state.console.mount(app)

    def error(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)

    def bearer_token(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not hmac.compare_digest(scheme.lower(), "bearer") or not token.strip():
            return None
        return token.strip()

    async def authenticate(request: Request) -> str | None:
        token = bearer_token(request)
        return None if token is None else await run_in_threadpool(store.kiosk_for_token, token)

    async def read_body(request: Request, limit: int, too_large: str) -> bytes:
        """The body, refused as soon as it is known to exceed ``limit``: from its declared length
        before any of it is read, else while it streams in."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BodyRefused(413, "too_large", too_large)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise BodyRefused(413, "too_large", too_large)
        except ClientDisconnect:  # gone (or cut off by the server's timeouts): nobody to answer
            raise BodyRefused(400, "disconnected", "the client left before sending its body") from None
        return bytes(body)

    async def read_json(request: Request, limit: int, max_values: int, too_large: str,
                        exact: bool = False) -> tuple[Any, Response | None]:
        """The request's JSON body, or the error to answer with (413 too large, 400 not JSON)."""
        try:
            return parse_json(await read_body(request, limit, too_large), max_values, exact=exact), None
        except BodyRefused as refused:
            return None, error(refused.status, refused.code, str(refused))

    def over_quota(kiosk_id: str, stored_today: int, now: dt.datetime) -> Response | None:
        """A 429 for a kiosk that has had its daily quota stored today (UTC), else None."""
        if not daily_quota or stored_today < daily_quota:
            return None
        retry = seconds_to_midnight(now)
        log.warning("kiosk %s: over its daily quota of %d entries", kiosk_id, daily_quota)
        response = error(429, "over_quota", f"this kiosk has had {daily_quota} entries stored today (UTC); "
                         "send the rest after midnight UTC", retry_after=retry)
        response.headers["Retry-After"] = str(retry)
        return response

    limiters: list[anyio.CapacityLimiter] = []

    def ingesting() -> anyio.CapacityLimiter:
        """The ingest threads' limiter (made in the event loop, at the first upload)."""
        if not limiters:
            limiters.append(anyio.CapacityLimiter(INGEST_THREADS))
        return limiters[0]

    def ingest(entries: list, kiosk_id: str, venues: frozenset[str] | None):
        """A batch stored, and the kiosk's contact recorded: one trip to the threadpool."""
        result = store.ingest(entries, kiosk_id, venues=venues)
        store.touch(kiosk_id)
        return result

    @app.get("/v1/health")
    async def health() -> dict:
        return {"ok": True, "protocol": PROTOCOL_VERSION, "server_time": now_iso(), **store.stats}

    @app.post("/v1/entries")
    async def upload(request: Request):
        # the kiosk, its venues and its count for today in one read, before the body is read
        token = bearer_token(request)
        now = dt.datetime.now(dt.timezone.utc)
        session = await run_in_threadpool(store.session, token, now.date().isoformat()) if token else None
        if session is None:
            return error(401, "unauthorized", "missing, unknown or replaced kiosk token")
        kiosk_id = session.kiosk_id
        refusal = over_quota(kiosk_id, session.stored_today, now)
        if refusal is not None:
            return refusal
        document, refusal = await read_json(
            request, max_batch_bytes, MAX_BATCH_VALUES,
            f"a batch may be at most {max_batch_bytes} bytes; send fewer entries")
        if refusal is not None:
            return refusal
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            return error(400, "bad_batch", 'expected {"kiosk_id": ..., "entries": [...]}')
        if document.get("kiosk_id", kiosk_id) != kiosk_id:
            return error(403, "wrong_kiosk", "the batch names another kiosk than the token's")
        if len(document["entries"]) > MAX_BATCH_ENTRIES:
            return error(413, "too_many", f"a batch may hold at most {MAX_BATCH_ENTRIES} entries")
        try:
            result = await anyio.to_thread.run_sync(ingest, document["entries"], kiosk_id, session.venues,
                                                    limiter=ingesting())
        except InvalidBatch as exc:
            log.warning("kiosk %s: batch of %d refused: %s", kiosk_id, len(document["entries"]), exc)
            return error(422, "invalid_entries", str(exc), refused=[r.to_json() for r in exc.refused])
        log.info("kiosk %s: %d stored, %d already present (%.1f ms)", kiosk_id, result.stored,
                 result.duplicates, result.seconds * 1000)
        answer = {"acked": result.acked, "stored": result.stored, "duplicates": result.duplicates}
        if result.expired:
            answer["expired"] = result.expired
        # orjson, not FastAPI's encoder (which would walk every acked id) nor json.dumps
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/v1/bundles/{kind}")
    async def bundle(kind: str, request: Request):
        if await authenticate(request) is None:
            return error(401, "unauthorized", "missing, unknown or replaced kiosk token")
        if kind not in bundles.KINDS:
            return error(404, "unknown_kind", f"bundles are {', '.join(bundles.KINDS)}")
        found = await run_in_threadpool(store.bundle, kind)
        if found is None:
            return error(404, "not_published", f"no {kind} bundle has been published")
        envelope, etag = found
        wanted = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
        if etag in wanted or "*" in wanted:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(envelope, media_type="application/json", headers={"ETag": etag, "Cache-Control": "no-cache"})

    @app.post("/v1/heartbeat")
    async def heartbeat(request: Request):
        kiosk_id = await authenticate(request)
        if kiosk_id is None:
            return error(401, "unauthorized", "missing, unknown or replaced kiosk token")
        document, refusal = await read_json(
            request, MAX_HEARTBEAT_BYTES, MAX_HEARTBEAT_VALUES, f"a heartbeat may be at most {MAX_HEARTBEAT_BYTES} bytes",
            exact=True)
        if refusal is not None:
            return refusal
        if not isinstance(document, dict):
            return error(400, "bad_heartbeat", "expected a JSON object")
        await run_in_threadpool(store.record_heartbeat, kiosk_id, document)
        return {"ok": True, "server_time": now_iso()}

    return app
