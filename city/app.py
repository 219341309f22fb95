"""The city server's HTTP API (FastAPI), as documented in ``sync/PROTOCOL.md``.

FastAPI is imported at module level (not lazily) because it resolves the endpoints' type hints
from this module's globals; only the server imports this module.

Bodies are read as raw bytes with a hard size cap and validated by hand (one pass, every
problem named per entry) rather than by a pydantic model: a kiosk needs to know *which* entries
were refused so it can quarantine exactly those and deliver the rest.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sync import PROTOCOL_VERSION, bundles
from city.store import CityStore, InvalidBatch, MAX_BATCH_ENTRIES, now_iso

log = logging.getLogger("kiosk.city")

MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_HEARTBEAT_BYTES = 64 * 1024
# how `kiosk-city serve` tells each worker process what to open (JSON: data, db, retention_days)
SERVE_ENV = "KIOSK_CITY_SERVE"
PURGE_EVERY_SECONDS = 3600.0


def app_from_environment():
    """The app factory each ``serve`` worker process calls: its own store and connections."""
    settings = json.loads(os.environ[SERVE_ENV])
    store = CityStore(settings["data"], settings.get("db"), retention_days=settings.get("retention_days"))
    return create_app(store, close_store=True)


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


def create_app(store: CityStore, max_batch_bytes: int = MAX_BATCH_BYTES, *, close_store: bool = False):
    """The ASGI app serving one city's store.

    Database work runs in the threadpool (never on the event loop), so a slow write or a
    trace never holds up other requests. With a retention window, a thread removes expired
    entries at start and every hour while the app runs (its lifespan).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app):
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

    app = FastAPI(title="kiosk-city", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store

    def error(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)

    async def authenticate(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not hmac.compare_digest(scheme.lower(), "bearer") or not token.strip():
            return None
        return await run_in_threadpool(store.kiosk_for_token, token.strip())

    async def read_body(request: Request, limit: int) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def read_json(request: Request, limit: int, too_large: str) -> tuple[Any, Response | None]:
        """The request's JSON body, or the error to answer with (413 over ``limit``, 400 not JSON)."""
        body = await read_body(request, limit)
        if body is None:
            return None, error(413, "too_large", too_large)
        try:
            return json.loads(body), None
        except (ValueError, UnicodeDecodeError):
            return None, error(400, "bad_json", "the body is not JSON")

    @app.get("/v1/health")
    async def health() -> dict:
        return {"ok": True, "protocol": PROTOCOL_VERSION, "server_time": now_iso(), **store.stats}

    @app.post("/v1/entries")
    async def upload(request: Request):
        kiosk_id = await authenticate(request)
        if kiosk_id is None:
            return error(401, "unauthorized", "missing, unknown or replaced kiosk token")
        document, refusal = await read_json(
            request, max_batch_bytes, f"a batch may be at most {max_batch_bytes} bytes; send fewer entries")
        if refusal is not None:
            return refusal
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            return error(400, "bad_batch", 'expected {"kiosk_id": ..., "entries": [...]}')
        if document.get("kiosk_id", kiosk_id) != kiosk_id:
            return error(403, "wrong_kiosk", "the batch names another kiosk than the token's")
        if len(document["entries"]) > MAX_BATCH_ENTRIES:
            return error(413, "too_many", f"a batch may hold at most {MAX_BATCH_ENTRIES} entries")
        try:
            result = await run_in_threadpool(store.ingest, document["entries"], kiosk_id)
        except InvalidBatch as exc:
            log.warning("kiosk %s: batch of %d refused: %s", kiosk_id, len(document["entries"]), exc)
            return error(422, "invalid_entries", str(exc), refused=[r.to_json() for r in exc.refused])
        await run_in_threadpool(store.touch, kiosk_id)
        log.info("kiosk %s: %d stored, %d already present (%.1f ms)", kiosk_id, result.stored,
                 result.duplicates, result.seconds * 1000)
        answer = {"acked": result.acked, "stored": result.stored, "duplicates": result.duplicates}
        if result.expired:
            answer["expired"] = result.expired
        return answer

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
            request, MAX_HEARTBEAT_BYTES, f"a heartbeat may be at most {MAX_HEARTBEAT_BYTES} bytes")
        if refusal is not None:
            return refusal
        if not isinstance(document, dict):
            return error(400, "bad_heartbeat", "expected a JSON object")
        await run_in_threadpool(store.record_heartbeat, kiosk_id, document)
        return {"ok": True, "server_time": now_iso()}

    return app
