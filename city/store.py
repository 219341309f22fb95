"""The city server's store: its keys, and one database behind a storage engine.

Layout of ``--data DIR``::

    DIR/keys/seal.key      X25519 private key (base64) that opens visitors' identities  (0600)
    DIR/keys/seal.pub      its public half, given to every kiosk (sync.seal_public_key)
    DIR/keys/bundle.key    Ed25519 key that signs bundles and import receipts         (0600)
    DIR/keys/bundle.pub    its public half (sync.bundle_public_key)
    DIR/keys/index.key     the blind index's HMAC key (city.blind)                      (0600)
    DIR/city.db            the SQLite database (the default engine), WAL, synchronous=FULL

With ``db="postgresql://..."`` (``--db``, ``$KIOSK_CITY_DB``) the database is PostgreSQL
instead and ``DIR`` holds only the keys. Keys are made on first use and never replaced: a new
seal key would make every sealed identity already on the kiosks unreadable, a new index key
every index row.

Ingest is idempotent on the entry id and an acknowledgement is sent only after the batch is
committed. Each new identity is opened once, at ingest, to store its blind-index hashes; it
stays sealed at rest. With ``retention_days`` an entry from before the retention window is
acknowledged but not kept, and :meth:`CityStore.purge` removes what has left the window.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import city.console.records  # noqa: F401 - registers the console's tables (migration 4) before any store opens
from city.blind import BlindIndex
from city.storage import open_engine
from city.storage.base import EntryFilter, IndexedRow, KioskSession, MigrationContext, midnight, terminal_progress
from city.storage.migrations import latest_version
from sync import bundles, seal
from sync.files import private_dir
from sync.wire import DECISIONS, STATUSES, Status, parse_iso, text_problem, utc_iso

log = logging.getLogger("kiosk.city")

MAX_BATCH_ENTRIES = 10_000
RESIGN_AFTER = dt.timedelta(days=1)  # a served bundle is signed again, as the next version, this old
MAX_IDENTITY_BYTES = 4096
TOUCH_EVERY_SECONDS = 30.0  # how stale a kiosk's "last seen" may be (the console warns after 15 min)
# a kiosk's clock, when synchronised, is not a day ahead: later times are forged or broken
MAX_FUTURE = dt.timedelta(days=1)
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# sync.wire.utc_iso's form (years from 1000): such an `at` is stored as sent
_STORED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


_LOOK_UP = object()  # CityStore.ingest: the kiosk's venues are read from the database


class SchemaOutdated(RuntimeError):
    """The database needs migrations this command does not apply (``kiosk-city migrate``)."""


def now_iso() -> str:
    return utc_iso(dt.datetime.now(dt.timezone.utc))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CityKeys:
    seal_private: str
    seal_public: str
    bundle_private: str
    bundle_public: str
    index_key: str  # base64 of 32 random bytes: the blind index's HMAC key


def _read_or_make(folder: Path, name: str, make) -> tuple[str, str]:
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if private_path.exists():
        private = private_path.read_text().strip()
        public = public_path.read_text().strip() if public_path.exists() else ""
        return private, public
    private, public = make()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(private + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    if public:
        public_path.write_text(public + "\n")
    log.info("made a new %s key in %s", name, folder)
    return private, public


def _index_key() -> tuple[str, str]:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii"), ""


def load_keys(data_dir: Path) -> CityKeys:
    """The city's keys, made on first use (and only then; several processes may start at once)."""
    folder = Path(data_dir) / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seal_private, seal_public = _read_or_make(folder, "seal", seal.generate_keypair)
        bundle_private, bundle_public = _read_or_make(folder, "bundle", bundles.generate_signing_key)
        index_key, _ = _read_or_make(folder, "index", _index_key)
    return CityKeys(
        seal_private=seal_private,
        seal_public=seal_public or seal.public_key_of(seal_private),
        bundle_private=bundle_private,
        bundle_public=bundle_public,
        index_key=index_key,
    )


@dataclass
class IngestResult:
    acked: list[str]  # ids now on the server: stored by this call or already present (or expired)
    stored: int
    duplicates: int
    seconds: float = 0.0
    expired: int = 0  # older than the retention window: acknowledged, not kept


@dataclass
class Refusal:
    index: int
    id: str | None
    problem: str

    def to_json(self) -> dict:
        return {"index": self.index, "id": self.id, "problem": self.problem}


class InvalidBatch(ValueError):
    """The batch (or some of its entries) cannot be stored; nothing of it was stored."""

    def __init__(self, message: str, refused: list[Refusal] | None = None):
        super().__init__(message)
        self.refused = refused or []


def _text(entry: dict, key: str, problems: list[str]) -> str:
    value = entry.get(key)
    problem = text_problem(key, value)
    if problem:
        problems.append(f"{key}: {problem}")
    return value if isinstance(value, str) else ""


def validate_entry(entry: Any, kiosk_id: str | None, latest: str | None = None,
                   venues: frozenset[str] | None = None) -> tuple[tuple | None, str | None]:
    """One wire entry -> a row for ``entries`` (without received_at/via), or the problem.

    ``latest``: the latest ``at`` accepted from a synchronised clock (stored format);
    ``venues``: the venues the kiosk is enrolled for (None: not checked).
    """
    if not isinstance(entry, dict):
        return None, "not an object"
    problems: list[str] = []
    raw_id = entry.get("id")
    # acked ids must be byte-equal to the sent ones, so only the canonical form (str(uuid.UUID(...)))
    entry_id = raw_id if isinstance(raw_id, str) and _CANONICAL_ID.fullmatch(raw_id) else None
    if entry_id is None:
        problems.append("id: expected a UUID in lower-case canonical form")
    entry_kiosk = _text(entry, "kiosk_id", problems)
    if kiosk_id is not None and entry_kiosk and entry_kiosk != kiosk_id:
        problems.append("kiosk_id: does not match the kiosk the token belongs to")
    venue = _text(entry, "venue", problems)
    if venue and venues is not None and venue not in venues:
        problems.append("venue: the kiosk is not enrolled for this venue")
    at_text = entry.get("at")
    at = None
    if isinstance(at_text, str) and len(at_text) <= 40:
        try:
            moment = parse_iso(at_text)
            if moment.tzinfo is not None:  # kept as sent when sent as it is stored (a kiosk does)
                at = at_text if _STORED_AT.fullmatch(at_text) and at_text[0] != "0" else utc_iso(moment)
        except (ValueError, OverflowError):  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
            pass
    if at is None:
        problems.append("at: expected an ISO 8601 time with a time zone")
    clock_synced = entry.get("clock_synced")
    if not isinstance(clock_synced, bool):
        problems.append("clock_synced: expected true or false")
    elif clock_synced and at is not None and latest is not None and at > latest:
        problems.append("at: more than a day ahead of the city's clock")
    fmt = _text(entry, "format", problems)
    status = _text(entry, "status", problems)
    if status and status not in STATUSES:
        problems.append(f"status: {status!r} is not a known status")
    decision = _text(entry, "decision", problems)
    if decision and decision not in DECISIONS:
        problems.append("decision: expected pass or fail")
    elif decision == "pass" and status in STATUSES and status != Status.VALID:
        # the policy refuses every credential that is not valid; a guard's override is recorded as valid
        problems.append(f"decision: pass is impossible for a {status} credential")
    reason = _text(entry, "reason", problems)
    kind = _text(entry, "kind", problems)
    flags = entry.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) and 0 < len(f) <= 60 and "," not in f for f in flags) or len(flags) > 20:
        problems.append("flags: expected a list of short strings")
        flags = []
    identity = entry.get("identity")
    sealed = None
    if identity is not None:
        try:
            sealed = base64.b64decode(identity, validate=True) if isinstance(identity, str) else None
        except (binascii.Error, ValueError):
            sealed = None
        if sealed is None or not (seal.SEAL_OVERHEAD < len(sealed) <= MAX_IDENTITY_BYTES):
            problems.append("identity: expected null or base64 of a sealed box")
    frame_age = entry.get("frame_age_ms")
    if frame_age is not None and (
        isinstance(frame_age, bool) or not isinstance(frame_age, (int, float)) or not math.isfinite(frame_age)
    ):
        problems.append("frame_age_ms: expected a number or null")
    if problems:
        return None, "; ".join(problems)
    row = (entry_id, entry_kiosk, venue, at, int(clock_synced), fmt, status, decision, reason, kind,
           ",".join(flags), sealed, frame_age)
    return row, None


def _heartbeat(stored: str | None) -> Any:
    """A stored heartbeat as sent, or None when there is none or it cannot be read."""
    try:
        return json.loads(stored) if stored else None
    except (ValueError, RecursionError):
        return None


class CityStore:
    """One city: its keys (``data_dir``) and its database (SQLite in ``data_dir``, or ``db``).

    Thread-safe. ``migrate``: True applies pending migrations (``serve``, ``migrate``, the
    embedded server); ``"auto"`` sets up an empty database but refuses one that needs upgrading
    (:class:`SchemaOutdated`: the other commands, so an upgrade is a deliberate step); False
    leaves the database as it is;
    ``retention_days``: entries older than that many days (counted from UTC midnight) are not
    kept; None keeps everything.
    """

    def __init__(self, data_dir: str | os.PathLike, db: str | None = None, *, migrate: bool | str = "auto",
                 retention_days: float | None = None, progress=terminal_progress):
        self.data_dir = private_dir(data_dir)  # 0700 when made here, whatever the umask
        self.keys = load_keys(self.data_dir)
        self.index = BlindIndex(base64.b64decode(self.keys.index_key))
        if retention_days is not None and retention_days <= 0:
            raise ValueError("the retention must be a positive number of days")
        self.retention_days = retention_days
        self.engine = open_engine(self.data_dir, db)
        try:
            version = self.engine.schema_version()
            if migrate is True or (migrate == "auto" and version == 0):
                self.engine.migrate(MigrationContext(self.index_sealed, progress))
            elif migrate == "auto" and version < latest_version():
                raise SchemaOutdated(f"the city database is at version {version}, this program needs "
                                     f"{latest_version()}: run 'kiosk-city migrate' first")
        except BaseException:
            self.engine.close()
            raise
        self._signed_at: dict[str, tuple[str, bundles.Bundle]] = {}  # kind -> (ETag, bundle) last served
        self._stats_lock = threading.Lock()
        # one batch at a time per process opens its identities: the threads of a busy server
        # doing it at once only hand the GIL back and forth (each sealed box's opening lets it
        # go), which cost 30 µs of CPU an entry more at 8 threads
        self._opening = threading.Lock()
        self._touched: dict[str, float] = {}
        self.stats = {"batches": 0, "entries_stored": 0, "entries_duplicate": 0, "entries_expired": 0,
                      "ingest_seconds": 0.0}

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "CityStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ kiosks
    def enroll(self, kiosk_id: str, venues: Sequence[str] = ()) -> str:
        """Register a kiosk for ``venues`` (default: a venue named as the kiosk), or re-enrol it:
        the old token stops working and the venues are replaced. Return its new token."""
        venues = list(dict.fromkeys(venues or [kiosk_id]))
        for name, field_name in [(kiosk_id, "kiosk_id"), *((venue, "venue") for venue in venues)]:
            problem = text_problem(field_name, name)
            if problem:
                raise ValueError(f"{'a kiosk id' if field_name == 'kiosk_id' else 'a venue'}: {problem}")
        token = secrets.token_urlsafe(32)
        self.engine.upsert_kiosk(kiosk_id, token_hash(token), now_iso())
        with self.engine.transaction() as tx:
            tx.execute("DELETE FROM kiosk_venues WHERE kiosk_id = ?", [kiosk_id])
            for venue in venues:
                tx.execute("INSERT INTO kiosk_venues (kiosk_id, venue) VALUES (?, ?)", [kiosk_id, venue])
        return token

    def venues_of(self, kiosk_id: str) -> frozenset[str] | None:
        """The venues a kiosk is enrolled for; None when none are recorded (a kiosk not enrolled
        here, or enrolled before venues were recorded and with no entries then: not checked)."""
        return self.engine.venues_of(kiosk_id)

    def stored_on(self, kiosk_id: str, day: str) -> int:
        """How many entries of this kiosk were stored on a UTC day (YYYY-MM-DD): its quota's count."""
        return self.engine.stored_on(kiosk_id, day)

    def kiosk_for_token(self, token: str) -> str | None:
        return self.engine.kiosk_for_token(token_hash(token))

    def session(self, token: str, day: str) -> KioskSession | None:
        """The token's kiosk, its venues and its entries stored on ``day`` (UTC, YYYY-MM-DD) in
        one read: what an upload checks before it reads the body. None for an unknown token."""
        return self.engine.kiosk_session(token_hash(token), day)

    def is_enrolled(self, kiosk_id: str) -> bool:
        return self.engine.kiosk_exists(kiosk_id)

    def record_heartbeat(self, kiosk_id: str, heartbeat: dict) -> None:
        self.engine.kiosk_seen(kiosk_id, now_iso(), json.dumps(heartbeat, separators=(",", ":")))

    def touch(self, kiosk_id: str) -> None:
        """Record a kiosk's contact; at most once a :data:`TOUCH_EVERY_SECONDS` per process (an
        upload is not worth a write of its own each time; heartbeats always record)."""
        moment = time.monotonic()
        with self._stats_lock:
            if moment - self._touched.get(kiosk_id, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
                return
            self._touched[kiosk_id] = moment
        self.engine.kiosk_seen(kiosk_id, now_iso())

    def kiosks(self) -> list[dict]:
        return [{**kiosk, "heartbeat": _heartbeat(kiosk["heartbeat"])} for kiosk in self.engine.kiosks()]

    # ------------------------------------------------------------------ entries
    def retention_start(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The first instant kept: UTC midnight of ``retention_days`` ago (None: keep everything)."""
        if self.retention_days is None:
            return None
        now = now or dt.datetime.now(dt.timezone.utc)
        return midnight(now - dt.timedelta(days=self.retention_days))

    def index_sealed(self, sealed: bytes | None) -> tuple[bytes, ...]:
        """Open a sealed identity and return its blind-index hashes (none if it cannot be opened)."""
        if sealed is None:
            return ()
        from nacl.exceptions import CryptoError

        try:
            identity = orjson.loads(seal.unseal(sealed, self.keys.seal_private))
        except (CryptoError, ValueError):  # orjson.JSONDecodeError is a ValueError
            return ()
        return self.index.of_identity(identity)

    def ingest(self, entries: Any, kiosk_id: str | None, via: str = "sync", *,
               venues: frozenset[str] | None | object = _LOOK_UP) -> IngestResult:
        """Store a batch all or nothing; raise :class:`InvalidBatch` naming every bad entry.

        ``kiosk_id`` is the authenticated kiosk (every entry must carry it), or None for an
        import where each entry names its own kiosk; ``venues``: the kiosk's venues when the
        caller has read them already (:meth:`session`), else they are looked up. Returns after
        the commit, never before. The same batch arriving at two processes at once is stored
        once and acknowledged by both.
        """
        started = time.perf_counter()
        if not isinstance(entries, list):
            raise InvalidBatch("entries: expected a list")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise InvalidBatch(f"entries: more than {MAX_BATCH_ENTRIES} in one batch")
        now = dt.datetime.now(dt.timezone.utc)
        if venues is _LOOK_UP:
            venues = self.venues_of(kiosk_id) if kiosk_id is not None else None
        rows, indexes, new_rows, expired = self._prepare(entries, kiosk_id, via, venues, now)
        outcome = self.engine.store_batch(new_rows, now.date().isoformat())
        if outcome.foreign:
            self._refuse([], outcome.foreign, indexes, rows)
        stored = len(outcome.stored)
        seconds = time.perf_counter() - started
        acked = list(dict.fromkeys(row[0] for row in rows))
        duplicates = len(acked) - stored - expired
        with self._stats_lock:
            self.stats["batches"] += 1
            self.stats["entries_stored"] += stored
            self.stats["entries_duplicate"] += duplicates
            self.stats["entries_expired"] += expired
            self.stats["ingest_seconds"] += seconds
        return IngestResult(acked=acked, stored=stored, duplicates=duplicates, seconds=seconds, expired=expired)

    def _prepare(self, entries: list, kiosk_id: str | None, via: str, venues: frozenset[str] | None,
                 now: dt.datetime) -> tuple[list[tuple], list[int], list[IndexedRow], int]:
        """A batch's work before it is stored: each entry checked, each identity opened and
        indexed. Returns the valid rows, their places in the batch, the rows to store, and how
        many were older than the window; raises :class:`InvalidBatch`."""
        rows, indexes, refused = [], [], []
        latest = utc_iso(now + MAX_FUTURE)
        for index, entry in enumerate(entries):
            row, problem = validate_entry(entry, kiosk_id, latest, venues)
            if problem:
                raw_id = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
                refused.append(Refusal(index, raw_id[:64] if raw_id else None, problem))
            else:
                rows.append(row)
                indexes.append(index)
        if refused:  # and those of the valid ones that another kiosk's entries use
            self._refuse(refused, self.engine.owners([row[0] for row in rows]), indexes, rows)
        start = self.retention_start()
        kept_from = utc_iso(start) if start is not None else ""
        received = utc_iso(now)
        new_rows, seen, expired = [], set(), 0
        with self._opening:
            for row in rows:
                if row[0] in seen:
                    continue
                seen.add(row[0])
                if row[3] < kept_from:
                    expired += 1
                    continue
                new_rows.append(IndexedRow((*row, received, via), self.index_sealed(row[11])))
        return rows, indexes, new_rows, expired

    @staticmethod
    def _refuse(refused: list[Refusal], owners: dict[str, str], indexes: list[int], rows: list[tuple]) -> None:
        """Raise :class:`InvalidBatch` with ``refused`` and the rows whose id ``owners`` gives
        to another kiosk (when there are any)."""
        for index, row in zip(indexes, rows):
            owner = owners.get(row[0])
            if owner is not None and owner != row[1]:
                refused.append(Refusal(index, row[0], "id: already used by another kiosk"))
        if refused:
            raise InvalidBatch(f"{len(refused)} entr{'y' if len(refused) == 1 else 'ies'} refused", refused)

    def purge(self, now: dt.datetime | None = None) -> int:
        """Remove the entries that have left the retention window; return how many (0 without one)."""
        start = self.retention_start(now)
        return 0 if start is None else self.engine.purge(start)

    def count(self) -> int:
        return self.engine.count()

    def iter_entries(self, kiosk_id: str | None = None, since: str | None = None, until: str | None = None,
                     venue: str | None = None, *, identities: bool = True) -> Iterator[dict]:
        """Received entries in arrival order, read in pages (constant memory). With ``identities``
        each identity is unsealed (``identity`` None when there was none; ``identity_error`` set
        when it cannot be opened with this city's key); without, ``identity`` is left out and
        ``sealed`` says whether the entry carries one."""
        for row in self.engine.iter_entries(EntryFilter(since=since, until=until, kiosk_id=kiosk_id, venue=venue)):
            yield self.unsealed(row) if identities else self.sealed(row)

    def get_entry(self, entry_id: str) -> dict | None:
        """One received entry, identity unsealed, or None."""
        row = self.engine.get_entry(entry_id)
        return self.unsealed(row) if row else None

    @staticmethod
    def sealed(row: dict) -> dict:
        """A stored row without its identity: ``sealed`` says whether it carries one."""
        row = dict(row)
        row["clock_synced"] = bool(row["clock_synced"])
        row["flags"] = [f for f in row["flags"].split(",") if f]
        row["sealed"] = row.pop("identity") is not None
        return row

    def unsealed(self, row: dict) -> dict:
        """A stored row as the city sees it: identity opened, flags as a list."""
        from nacl.exceptions import CryptoError

        row = dict(row)
        row["clock_synced"] = bool(row["clock_synced"])
        row["flags"] = [f for f in row["flags"].split(",") if f]
        sealed = row.pop("identity")
        row["identity"] = None
        if sealed is not None:
            try:
                row["identity"] = json.loads(seal.unseal(sealed, self.keys.seal_private))
            except (CryptoError, ValueError):
                row["identity_error"] = "cannot be unsealed with this city's key"
        return row

    # ------------------------------------------------------------------ bundles
    def publish(self, kind: str, content: Any) -> bundles.Bundle:
        """Sign ``content`` as the next version of a bundle and serve it from now on."""
        if kind not in bundles.KINDS:
            raise ValueError(f"unknown bundle kind {kind!r}")
        made: list[bytes] = []

        def make(version: int) -> tuple[bytes, str]:
            envelope = bundles.sign_bundle(kind, content, self.keys.bundle_private, version)
            made.append(envelope)
            return envelope, '"' + hashlib.sha256(envelope).hexdigest()[:32] + '"'

        self.engine.put_bundle(kind, make, now_iso())
        return bundles.verify_bundle(made[-1], self.keys.bundle_public, kind)

    def bundle(self, kind: str) -> tuple[bytes, str] | None:
        """The envelope and ETag to serve. Once a day old it is first signed again, same content
        as the next version: a kiosk reports the age of what the city signed, so it can tell a
        current list from one frozen by a stale cache or a responder faking 304s."""
        held = self.engine.bundle(kind)
        if held is None:
            return None
        envelope, etag = held
        seen = self._signed_at.get(kind)
        if seen is None or seen[0] != etag:  # verified and parsed once per version
            try:
                seen = (etag, bundles.verify_bundle(envelope, self.keys.bundle_public, kind))
            except bundles.BundleError as exc:  # not ours to re-sign: served as it is, the kiosks refuse it
                log.error("the stored %s bundle does not verify with the city's key: %s", kind, exc)
                return held
            self._signed_at[kind] = seen
        issued = bundles.issued_instant(seen[1])
        if issued is None or dt.datetime.now(dt.timezone.utc) - issued >= RESIGN_AFTER:
            self.publish(kind, seen[1].content)
            held = self.engine.bundle(kind)
        return held

    # ------------------------------------------------------------------ imports
    def record_import(self, export_id: str, kiosk_id: str, entries: int, stored: int) -> None:
        self.engine.record_import(export_id, kiosk_id, now_iso(), entries, stored)

    def sign_receipt(self, content: dict) -> bytes:
        """An import receipt, signed like a bundle (kind ``import-receipt``) so the kiosk can
        trust it with the bundle key it already holds."""
        return bundles.sign_bundle(bundles.RECEIPT_KIND, content, self.keys.bundle_private, 1)
