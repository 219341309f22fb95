"""The uploader behind ``kiosk sync``: journal entries to the city, bundles back, heartbeats.

It runs as its own process beside ``kiosk run`` on the same journal (SQLite WAL; every
transaction here is short, and waits up to the busy timeout for the gate's writes), so the
network can never stall the gate.

Delivery is at-least-once on the wire and exactly-once in the city: each entry's id is its
idempotency key, the server acknowledges every id it now holds (stored now or before), and an
entry is marked delivered only when its id comes back in an acknowledgement. A connection lost
anywhere, or this process killed at any instant, at worst re-sends entries the city already has.

Failures, and what happens (see ``sync/PROTOCOL.md``):

- network errors, timeouts, 408, 429, 5xx: :class:`~sync.errors.TransientError`; wait with
  exponential backoff and full jitter (``sync.max_backoff_seconds`` at most), or the server's
  ``Retry-After`` if it says longer (up to :data:`RETRY_AFTER_CAP_SECONDS`, or
  ``sync.max_backoff_seconds`` if that is longer), then try again. ``--once`` waits out a
  ``Retry-After`` of :data:`ONCE_RETRY_AFTER_SECONDS` at most; a longer one ends the pass at
  once with everything still queued, and :attr:`Uploader.come_back_at` says when;
- 401/403: :class:`~sync.errors.AuthError`; the token file is read again before the next try;
- any other 4xx for a batch: :class:`~sync.errors.BatchRefused`. The rest of the batch is
  re-sent at once without the entries the server names; if it names none, the batch is split in
  halves until the bad entry is alone. Those entries are quarantined (kept, reported, not re-sent
  as they are) once the server takes others in the same or a later batch; a server that refuses
  everything quarantines nothing (:meth:`Uploader.deliver`). So a bad entry is never retried
  forever and never blocks the others, and a broken server cannot empty the queue.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.errors import ConfigError
from kiosk.journal import Journal, utc_iso
from sync import PROTOCOL_VERSION
from sync.bundles import KINDS, MAX_BUNDLE_BYTES, BundleStore, issued_instant
from sync.errors import AuthError, BatchRefused, BundleError, SyncError, TransientError
from sync.schema import resolve_path
from sync.wire import loads, parse_time, to_wire

log = logging.getLogger("kiosk.sync")

BACKOFF_BASE_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 86400.0  # a Retry-After read as more than a day is read as a day
# the longest the running uploader waits for a Retry-After (unless sync.max_backoff_seconds is
# longer): a quota's "come back at midnight" costs one 429 an hour, and a server (or anyone on
# the path) naming a day cannot stop delivery for a day
RETRY_AFTER_CAP_SECONDS = 3600.0
# --once waits out a Retry-After up to this; a longer one ends the pass (an admin at a terminal,
# a script or a timer does not sit for hours)
ONCE_RETRY_AFTER_SECONDS = 60.0
PURGE_EVERY_SECONDS = 3600.0
MAX_REPLY_BYTES = 4 * 1024 * 1024  # an acknowledgement of 10 000 ids is about 400 KB
READ_CHUNK_BYTES = 64 * 1024
STOP_POLL_SECONDS = 0.1  # how often a wait for the city looks at the stop flag
# wholly refused batches in a row after which a pass stops: the server refuses everything
MAX_REFUSED_BATCHES = 20


def _now_iso() -> str:
    return utc_iso(dt.datetime.now(dt.timezone.utc))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


def backoff_delay(attempt: int, cap: float, rng: random.Random, retry_after: float | None = None,
                  base: float = BACKOFF_BASE_SECONDS) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt)).

    Full jitter spreads a city's kiosks out after an outage instead of having them return in
    lock-step. The server's ``Retry-After`` is a floor: it is never waited less than that.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class PassResult:
    """What one delivery pass did."""

    delivered: int = 0
    batches: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class Uploader:
    """Delivers the journal's entries to the city server named in ``config.sync``.

    ``session`` (a ``requests.Session``), ``rng`` and ``sleep`` are seams for tests; by default
    the real network, randomness and an interruptible wait on ``stop`` are used.
    """

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        session: Any = None,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ):
        if not config.sync.url:
            raise ConfigError("sync.url: empty; set the city server's URL (or use kiosk export)")
        if not config.sync.token_file:
            raise ConfigError("sync.token_file: empty; the kiosk's token is read from this file")
        self.config = config
        self.sync = config.sync
        self.journal = journal
        self.base = config.sync.url.rstrip("/")
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()
        self._base_dir = Path(config.source).resolve().parent if config.source else Path.cwd()
        self.session = session or self._make_session()
        self._token: str | None = None
        self.delivered_total = 0  # over the life of this uploader, including interrupted passes
        self.on_batch: Callable[[int], None] | None = None  # told how many entries each batch handled
        self._acked = False  # did the server take any entry of the current batch
        # when the server asked to come back, if a --once pass stopped on a long Retry-After
        self.come_back_at: dt.datetime | None = None
        self.bundles = (
            BundleStore(Path(config.kiosk.state_dir), config.sync.bundle_public_key)  # as config.journal_path does
            if config.sync.bundle_public_key else None
        )
        if self.base.startswith("http://") and not self._loopback():
            log.warning("sync.url is plain http: the token and entry metadata travel unencrypted "
                        "(identities stay sealed); use https")

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ plumbing
    def _loopback(self) -> bool:
        from urllib.parse import urlsplit

        host = urlsplit(self.base).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")

    def _make_session(self):
        import requests

        from kiosk import __version__

        session = requests.Session()
        session.headers["User-Agent"] = f"qr-gate-kiosk/{__version__} (sync protocol {PROTOCOL_VERSION})"
        return session

    def _verify(self) -> str | None:
        """What TLS trusts: the pinned CA alone when ``sync.ca_file`` is set. Passed with every
        request, because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
        ``verify``; None (the system store, or those variables) without a pin."""
        return str(resolve_path(self.sync.ca_file, self._base_dir)) if self.sync.ca_file else None

    def token(self) -> str:
        """The kiosk's token, read from ``sync.token_file`` (again after a 401)."""
        if self._token is None:
            path = resolve_path(self.sync.token_file, self._base_dir)
            try:
                mode = path.stat().st_mode
                token = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"sync.token_file: cannot read {path}: {exc.strerror or exc}") from None
            if not token:
                raise ConfigError(f"sync.token_file: {path} is empty")
            if mode & 0o077:
                log.warning("sync.token_file %s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
            self._token = token
        return self._token

    def request(self, method: str, path: str, *, body: Any = None, headers: dict | None = None,
                limit: int = MAX_REPLY_BYTES) -> "Reply":
        """One HTTP exchange with the city, errors converted where they enter.

        The exchange runs in a worker thread while this one waits, so it ends at once on
        ``stop`` (SIGTERM) and at ``sync.deadline_seconds`` in total, however slowly the server
        dribbles its reply (``sync.timeout_seconds`` bounds each wait for a byte). The reply is
        read as it streams and refused past ``limit`` bytes.

        Returns the reply for 2xx and 304; raises TransientError, AuthError or BatchRefused.
        """
        sent_headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            sent_headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.sync.deadline_seconds
        done, cancelled = threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}

        def exchange() -> None:
            try:
                outcome["reply"] = self._exchange(method, self.base + path, data, sent_headers, limit, deadline,
                                                  cancelled)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=exchange, name="sync-http", daemon=True).start()
        while not done.wait(STOP_POLL_SECONDS):
            if self.stop.is_set():
                cancelled.set()
                raise TransientError("stopped while waiting for the city")
            if time.monotonic() > deadline:
                cancelled.set()
                raise ReplyTooSlow(self._too_slow())
        if "error" in outcome:
            raise self._converted(outcome["error"]) from outcome["error"]
        reply: Reply = outcome["reply"]
        status = reply.status_code
        if 200 <= status < 300 or status == 304:
            return reply
        detail = _error_detail(reply)
        if status in (401, 403):
            self._token = None
            raise AuthError(f"the city refused the kiosk's token ({status}: {detail})")
        if status in (408, 429) or status >= 500 or 300 <= status < 400:
            raise TransientError(f"server answered {status}: {detail}",
                                 retry_after=parse_retry_after(reply.headers.get("Retry-After")))
        refused = {}
        try:
            items = reply.json().get("refused", [])
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    refused[item["id"]] = str(item.get("problem", ""))[:300]
        except (ValueError, AttributeError):
            pass
        raise BatchRefused(f"server refused the request ({status}: {detail})", status, refused)

    def _exchange(self, method: str, url: str, data: bytes | None, headers: dict, limit: int, deadline: float,
                  cancelled: threading.Event) -> "Reply":
        """The worker thread's half: send, then read the reply as it streams, within the limits."""
        response = self.session.request(
            method, url, data=data, headers=headers, timeout=self.sync.timeout_seconds, allow_redirects=False,
            verify=self._verify(), stream=True,
        )
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise ReplyTooLarge(f"the reply declares {int(declared)} bytes, over the {limit} limit")
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise ReplyTooSlow(self._too_slow())
                if cancelled.is_set():
                    raise ReplyTooSlow("the reply was abandoned")
                chunk = response.raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > limit:  # counted after decompression: a gzip bomb stops here too
                    raise ReplyTooLarge(f"the reply is over the {limit} bytes limit")
            return Reply(response.status_code, response.headers, bytes(body), str(response.reason or ""))
        finally:
            response.close()

    def _too_slow(self) -> str:
        return f"no complete reply within {self.sync.deadline_seconds:g} s (sync.deadline_seconds)"

    def _converted(self, exc: BaseException) -> SyncError:
        """What went wrong in the worker thread, as the sync's own error."""
        import requests
        import urllib3.exceptions

        if isinstance(exc, SyncError):
            return exc
        if isinstance(exc, requests.exceptions.SSLError):
            return TransientError(f"TLS verification failed for {self.base}: {_short(exc)}")
        if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return TransientError(f"no reply within {self.sync.timeout_seconds:g} s")
        if isinstance(exc, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)):
            return TransientError(f"cannot reach {self.base}: {_short(exc)}")
        log.debug("sync: unexpected error in a request", exc_info=exc)
        return TransientError(f"the exchange with {self.base} failed: {type(exc).__name__}: {_short(exc)}")

    # ------------------------------------------------------------------ entries
    def send_batch(self, rows: list[dict]) -> tuple[int, dict[str, tuple[int, str]]]:
        """Deliver ``rows``; return (delivered, refused), ``refused`` mapping the ids the server
        would not take to (status, reason). Nothing is quarantined here: :meth:`deliver` decides.

        Raises TransientError/AuthError.
        """
        delivered, _, suspects = self._send(rows)
        return delivered, suspects

    def _send(self, rows: list[dict]) -> tuple[int, int, dict[str, tuple[int, str]]]:
        if not rows:
            return 0, 0, {}
        try:
            response = self.request("POST", "/v1/entries", body={
                "kiosk_id": self.config.kiosk.id, "entries": [to_wire(row) for row in rows],
            })
        except BatchRefused as exc:
            return self._refused(rows, exc)
        try:
            acked = response.json()["acked"]
            if not isinstance(acked, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise TransientError("the server's reply is not an acknowledgement; nothing marked delivered") from None
        sent = {row["id"] for row in rows}
        ids = [entry_id for entry_id in acked if isinstance(entry_id, str) and entry_id in sent]
        if ids:
            self._acked = True
        delivered = self.journal.mark_delivered(ids, _now_iso()) if ids else 0
        return delivered, 0, {}

    def _refused(self, rows: list[dict], exc: BatchRefused) -> tuple[int, int, dict[str, tuple[int, str]]]:
        batch_ids = {row["id"] for row in rows}
        named = {entry_id: (exc.status, reason) for entry_id, reason in exc.refused.items() if entry_id in batch_ids}
        if named:  # the server said which: suspects all; the rest sent again at once
            delivered, _, suspects = self._send([row for row in rows if row["id"] not in named])
            return delivered, 0, {**named, **suspects}
        if len(rows) == 1:  # alone and still refused: a suspect
            return 0, 0, {rows[0]["id"]: (exc.status, str(exc))}
        half = len(rows) // 2  # the server did not say which: halve until the bad entry is alone
        first = self._send(rows[:half])
        second = self._send(rows[half:])
        return first[0] + second[0], 0, {**first[2], **second[2]}

    def _quarantine(self, reasons: dict[str, tuple[int, str]]) -> int:
        n = self.journal.quarantine({k: f"{status}: {reason}" for k, (status, reason) in reasons.items()}, _now_iso())
        for entry_id, (status, reason) in reasons.items():
            # the id and the server's reason only: the server never echoes an identity
            log.error("entry %s quarantined: the city refused it (%s: %s)", entry_id, status, reason)
        return n

    def deliver(self) -> PassResult:
        """Send every sendable entry, batch by batch, in journal order; return what was done.

        The protocol's rule on refusals (sync/PROTOCOL.md, "Quarantine"): the entries the server
        refuses, named or found by halving, are *suspects*; they are quarantined only once the
        server takes other entries in the same or a later batch of this pass (so the fault is
        theirs). A server that refuses everything it is sent quarantines nothing: after
        ``MAX_REFUSED_BATCHES`` wholly refused batches, or at the end of the journal, this raises
        BatchRefused and the loop waits. Raises TransientError or AuthError on the first batch
        that cannot be sent (what was delivered before it stays delivered).
        """
        result = PassResult()
        started = time.perf_counter()
        after = 0
        held: dict[str, tuple[int, str]] = {}
        refused_batches = 0
        while not self.stop.is_set():
            rows = self.journal.sendable(self.sync.batch_size, after)
            if not rows:
                break
            self._acked = False
            delivered, suspects = self.send_batch(rows)
            result.delivered += delivered
            self.delivered_total += delivered
            result.batches += 1
            after = rows[-1]["seq"]
            if self.on_batch is not None:
                self.on_batch(len(rows))
            held.update(suspects)
            if held and self._acked:  # the server takes entries: the ones it refused are bad
                result.quarantined += self._quarantine(held)
                held, refused_batches = {}, 0
            elif held:
                refused_batches += 1
                if refused_batches >= MAX_REFUSED_BATCHES:
                    break
        result.seconds = time.perf_counter() - started
        if held:
            status, reason = next(iter(held.values()))
            raise BatchRefused(f"the server refuses every entry it was sent ({len(held)}: {reason}); "
                               "nothing quarantined", status)
        return result

    # ------------------------------------------------------------------ bundles, heartbeat
    def fetch_bundles(self) -> dict[str, str]:
        """Fetch each bundle with If-None-Match; keep the good ones. Returns kind -> outcome."""
        if self.bundles is None:
            return {}
        outcomes = {}
        for kind in KINDS:
            etag = self.bundles.etag(kind)
            try:
                response = self.request("GET", f"/v1/bundles/{kind}", headers={"If-None-Match": etag} if etag else None,
                                        limit=MAX_BUNDLE_BYTES)
            except BatchRefused as exc:
                outcomes[kind] = "not published" if exc.status == 404 else f"refused ({exc.status})"
                continue
            if response.status_code == 304:
                self.bundles.confirm(kind)
                outcomes[kind] = "current"
            else:
                try:
                    bundle = self.bundles.accept(kind, response.content, response.headers.get("ETag"))
                    outcomes[kind] = f"version {bundle.version}"
                except BundleError as exc:
                    log.error("%s bundle from %s REFUSED, keeping the last good copy: %s", kind, self.base, exc)
                    outcomes[kind] = "refused"
                    continue
            if kind == "trust-list":  # the status bar and `kiosk status`: when the city signed the held copy
                held = self.bundles.current(kind)
                issued = issued_instant(held) if held is not None else None
                if issued is not None:
                    self.journal.set_meta("trust_updated_at", utc_iso(issued))
        return outcomes

    def send_heartbeat(self) -> None:
        from sync.health import collect

        report = collect(self.config, self.journal, self.bundles)
        response = self.request("POST", "/v1/heartbeat", body=report)
        try:
            server_time = response.json().get("server_time")
        except (ValueError, AttributeError):
            server_time = None
        when = parse_time(server_time)
        if server_time is not None and when is None:
            log.warning("heartbeat: the city's server_time is not a time; clock skew not checked")
        if when is not None:
            skew = (dt.datetime.now(dt.timezone.utc) - when).total_seconds()
            if abs(skew) > 120:
                log.warning("the kiosk clock is %+.0f s off the city server's", skew)

    # ------------------------------------------------------------------ the loop
    def wait(self, seconds: float) -> bool:
        """Sleep, waking early on stop; True if stopped."""
        return self.stop.wait(max(0.0, seconds))

    def run(self, once: bool = False, attempts: int = 5, on_pass: Callable[[PassResult], None] | None = None) -> int:
        """Deliver until stopped (or, with ``once``, until the queue is empty, ``attempts``
        tries in a row failed, or the server asked to come back later than
        :data:`ONCE_RETRY_AFTER_SECONDS`: then :attr:`come_back_at`). Returns the number of
        entries left undelivered."""
        from sync.retention import housekeeping

        failures = 0
        self.come_back_at = None
        next_side = 0.0  # bundles and heartbeat
        next_purge = 0.0

        def side_channels_when_due() -> None:
            nonlocal next_side
            if time.monotonic() >= next_side:
                next_side = time.monotonic() + self.sync.heartbeat_seconds
                self._side_channels()

        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_purge:
                housekeeping(self.journal, self.config.journal.retention_days, self.config.journal.disk_alarm_percent)
                next_purge = now + PURGE_EVERY_SECONDS
            try:
                self.journal.set_meta("last_sync_attempt", _now_iso())
                result = self.deliver()
            except (TransientError, AuthError, BatchRefused) as exc:
                failures += 1
                self.journal.set_meta("last_sync_error", f"{_now_iso()} {exc}")
                cap = self.sync.max_backoff_seconds
                if not isinstance(exc, TransientError):  # waiting briefly will not fix these
                    hint = ("check sync.token_file (kiosk-city enroll makes a new token)" if isinstance(exc, AuthError)
                            else "is this kiosk's software older or newer than the server's protocol?")
                    log.error("sync: %s; %s", exc, hint)
                    if once:
                        break
                    delay = cap
                elif once and exc.retry_after is not None and exc.retry_after > ONCE_RETRY_AFTER_SECONDS:
                    self.come_back_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=exc.retry_after)
                    log.warning("sync: %s; the server asks to come back at %s: --once stops, everything "
                                "stays queued", exc, self.come_back_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
                    break
                else:
                    retry_after = exc.retry_after
                    if retry_after is not None:
                        retry_after = min(retry_after, max(RETRY_AFTER_CAP_SECONDS, cap))
                    delay = backoff_delay(failures, cap, self.rng, retry_after)
                    log.warning("sync: %s; next try in %.1f s", exc, delay)
                if once and failures >= attempts:
                    break
                if not once and _server_answered(exc):
                    # a server that refuses entries for now (its daily quota, a protocol mismatch)
                    # still hands out bundles and takes heartbeats: the revocation list must not
                    # age, nor the kiosk vanish from the console, until the entries go through
                    side_channels_when_due()
                self.wait(delay)
                continue
            failures = 0
            self.journal.set_meta("last_sync", _now_iso())
            self.journal.set_meta("last_sync_error", "")
            if result.delivered or result.quarantined:
                log.info("sync: %d delivered in %d batch(es) (%.0f/s), %d quarantined", result.delivered,
                         result.batches, result.delivered / result.seconds if result.seconds else 0, result.quarantined)
            if on_pass:
                on_pass(result)
            side_channels_when_due()
            if once:
                break
            self.wait(self.sync.interval_seconds)
        left = self.journal.counts()["undelivered"]
        return left

    def _side_channels(self) -> None:
        """Bundles and heartbeat: their failures are logged, never allowed to stop delivery."""
        try:
            outcomes = self.fetch_bundles()
            if outcomes:
                log.info("bundles: %s", ", ".join(f"{k} {v}" for k, v in outcomes.items()))
        except (SyncError, OSError) as exc:  # OSError: the state folder could not take the copy
            log.warning("bundles not fetched: %s", exc)
        try:
            self.send_heartbeat()
        except SyncError as exc:
            log.warning("heartbeat not sent: %s", exc)


def _server_answered(exc: SyncError) -> bool:
    """The city answered the batch (a refusal, or come back later with a Retry-After), so it is
    reachable: not a dead network, where the bundles and the heartbeat would fail as well."""
    return isinstance(exc, BatchRefused) or getattr(exc, "retry_after", None) is not None


def _short(exc: BaseException) -> str:
    text = str(exc)
    # urllib3 wraps the cause several times; the last clause is the useful one
    if "(Caused by" in text:
        text = text.split("(Caused by", 1)[1].rstrip(")")
    return " ".join(text.split())[:200]


def _error_detail(reply: "Reply") -> str:
    try:
        body = reply.json()
        if isinstance(body, dict):
            return str(body.get("detail") or body.get("error") or reply.reason)[:200]
    except ValueError:
        pass
    return str(reply.reason or "")[:200]


@dataclass(frozen=True)
class Reply:
    """A reply read in full (within its size limit): what the rest of the uploader looks at."""

    status_code: int
    headers: Any  # case-insensitive, as requests gives them
    content: bytes
    reason: str = ""

    def json(self) -> Any:
        """The body as JSON; ValueError for anything else, however hostile (deep nesting too)."""
        return loads(self.content)


class ReplyTooLarge(TransientError):
    """The server's reply is over its size limit: refused while it streams, nothing kept."""


class ReplyTooSlow(TransientError):
    """The reply was abandoned: the total deadline passed, or the uploader is stopping."""


@dataclass(frozen=True)
class OnceResult:
    delivered: int
    undelivered: int
    quarantined: int


def sync_once(config: Config, *, attempts: int = 3) -> OnceResult:
    """One ``kiosk sync --once`` in-process (the demo): deliver what can be, fetch bundles,
    send a heartbeat; report what is left."""
    with Journal(config.journal_path) as journal:
        uploader = Uploader(config, journal)
        try:
            left = uploader.run(once=True, attempts=attempts)
        finally:
            uploader.close()
        quarantined = journal.sync_counts()["quarantined"]
    return OnceResult(uploader.delivered_total, left, quarantined)
