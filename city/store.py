"""The city server's storage: keys and one SQLite database in the data folder.

Layout of ``--data DIR``::

    DIR/keys/seal.key      X25519 private key (base64) that opens visitors' identities  (0600)
    DIR/keys/seal.pub      its public half, given to every kiosk (sync.seal_public_key)
    DIR/keys/bundle.key    Ed25519 key that signs bundles and import receipts         (0600)
    DIR/keys/bundle.pub    its public half (sync.bundle_public_key)
    DIR/city.db            kiosks, entries, bundles, imports (SQLite, WAL, synchronous=FULL)

Keys are made on first use and never replaced: a new seal key would make every sealed identity
already on the kiosks unreadable. Ingest is idempotent on the entry id, and an
acknowledgement is sent only after the batch is committed (fsync'd).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import bundles, seal
from sync.wire import DECISIONS, STATUSES, parse_iso, utc_iso

log = logging.getLogger("kiosk.city")

MAX_BATCH_ENTRIES = 10_000
MAX_IDENTITY_BYTES = 4096
MAX_TEXT = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS kiosks (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL,
    last_seen TEXT,
    heartbeat TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    at TEXT NOT NULL,
    clock_synced INTEGER NOT NULL,
    format TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    flags TEXT NOT NULL,
    identity BLOB,
    frame_age_ms REAL,
    received_at TEXT NOT NULL,
    via TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_venue_at ON entries(venue, at);
CREATE INDEX IF NOT EXISTS entries_kiosk_at ON entries(kiosk_id, at);
CREATE TABLE IF NOT EXISTS bundles (
    kind TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    etag TEXT NOT NULL,
    published_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    export_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    entries INTEGER NOT NULL,
    stored INTEGER NOT NULL
);
"""

ENTRY_COLUMNS = (
    "id", "kiosk_id", "venue", "at", "clock_synced", "format", "status", "decision", "reason", "kind",
    "flags", "identity", "frame_age_ms",
)


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
    public_path.write_text(public + "\n")
    log.info("made a new %s key in %s", name, folder)
    return private, public


def load_keys(data_dir: Path) -> CityKeys:
    """The city's keys, made on first use (and only then)."""
    folder = Path(data_dir) / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    seal_private, seal_public = _read_or_make(folder, "seal", seal.generate_keypair)
    bundle_private, bundle_public = _read_or_make(folder, "bundle", bundles.generate_signing_key)
    return CityKeys(
        seal_private=seal_private,
        seal_public=seal_public or seal.public_key_of(seal_private),
        bundle_private=bundle_private,
        bundle_public=bundle_public,
    )


@dataclass
class IngestResult:
    acked: list[str]  # ids now on the server: stored by this call or already present
    stored: int
    duplicates: int
    seconds: float = 0.0


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


def _text(entry: dict, key: str, problems: list[str], *, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = entry.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value):
        problems.append(f"{key}: expected a non-empty string")
        return ""
    if len(value) > limit:
        problems.append(f"{key}: longer than {limit} characters")
    return value


def validate_entry(entry: Any, kiosk_id: str | None) -> tuple[tuple | None, str | None]:
    """One wire entry -> a row for ``entries`` (without received_at/via), or the problem."""
    if not isinstance(entry, dict):
        return None, "not an object"
    problems: list[str] = []
    raw_id = entry.get("id")
    try:
        entry_id = str(uuid.UUID(raw_id)) if isinstance(raw_id, str) and len(raw_id) == 36 else None
    except ValueError:
        entry_id = None
    if entry_id != raw_id:  # acked ids must be byte-equal to the sent ones, so only canonical form
        entry_id = None
        problems.append("id: expected a UUID in lower-case canonical form")
    entry_kiosk = _text(entry, "kiosk_id", problems)
    if kiosk_id is not None and entry_kiosk and entry_kiosk != kiosk_id:
        problems.append("kiosk_id: does not match the kiosk the token belongs to")
    venue = _text(entry, "venue", problems)
    at_text = entry.get("at")
    at = None
    if isinstance(at_text, str) and len(at_text) <= 40:
        try:
            at = utc_iso(parse_iso(at_text))
        except ValueError:
            pass
    if at is None:
        problems.append("at: expected an ISO 8601 time")
    clock_synced = entry.get("clock_synced")
    if not isinstance(clock_synced, bool):
        problems.append("clock_synced: expected true or false")
    fmt = _text(entry, "format", problems, limit=40)
    status = _text(entry, "status", problems, limit=40)
    if status and status not in STATUSES:
        problems.append(f"status: {status!r} is not a known status")
    decision = _text(entry, "decision", problems, limit=10)
    if decision and decision not in DECISIONS:
        problems.append("decision: expected pass or fail")
    reason = _text(entry, "reason", problems, limit=80)
    kind = _text(entry, "kind", problems, limit=40)
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


class CityStore:
    """One city's data folder. Thread-safe: one connection, one lock (SQLite writes are serial)."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = load_keys(self.data_dir)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(str(self.data_dir / "city.db"), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout = 10000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.executescript(SCHEMA)
        self.stats = {"batches": 0, "entries_stored": 0, "entries_duplicate": 0, "ingest_seconds": 0.0}

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # ------------------------------------------------------------------ kiosks
    def enroll(self, kiosk_id: str) -> str:
        """Register a kiosk (or re-enrol it: the old token stops working); return its new token."""
        if not kiosk_id or len(kiosk_id) > MAX_TEXT or not kiosk_id.isprintable():
            raise ValueError("a kiosk id is 1 to 200 printable characters")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.conn.execute(
                """INSERT INTO kiosks (id, token_sha256, enrolled_at) VALUES (?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET token_sha256 = excluded.token_sha256,
                   enrolled_at = excluded.enrolled_at""",
                [kiosk_id, token_hash(token), now_iso()],
            )
        return token

    def kiosk_for_token(self, token: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT id FROM kiosks WHERE token_sha256 = ?", [token_hash(token)]).fetchone()
        return row[0] if row else None

    def is_enrolled(self, kiosk_id: str) -> bool:
        with self._lock:
            return self.conn.execute("SELECT 1 FROM kiosks WHERE id = ?", [kiosk_id]).fetchone() is not None

    def record_heartbeat(self, kiosk_id: str, heartbeat: dict) -> None:
        with self._lock:
            self.conn.execute(
                "UPDATE kiosks SET last_seen = ?, heartbeat = ? WHERE id = ?",
                [now_iso(), json.dumps(heartbeat, separators=(",", ":")), kiosk_id],
            )

    def touch(self, kiosk_id: str) -> None:
        with self._lock:
            self.conn.execute("UPDATE kiosks SET last_seen = ? WHERE id = ?", [now_iso(), kiosk_id])

    def kiosks(self) -> list[dict]:
        with self._lock:
            rows = self.conn.execute(
                """SELECT k.id, k.enrolled_at, k.last_seen, k.heartbeat,
                          (SELECT COUNT(*) FROM entries e WHERE e.kiosk_id = k.id)
                   FROM kiosks k ORDER BY k.id"""
            ).fetchall()
        return [
            {"id": r[0], "enrolled_at": r[1], "last_seen": r[2],
             "heartbeat": json.loads(r[3]) if r[3] else None, "entries": r[4]}
            for r in rows
        ]

    # ------------------------------------------------------------------ entries
    def ingest(self, entries: Any, kiosk_id: str | None, via: str = "sync") -> IngestResult:
        """Store a batch all or nothing; raise :class:`InvalidBatch` naming every bad entry.

        ``kiosk_id`` is the authenticated kiosk (every entry must carry it), or None for an
        import where each entry names its own kiosk. Returns after the commit, never before.
        """
        started = time.perf_counter()
        if not isinstance(entries, list):
            raise InvalidBatch("entries: expected a list")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise InvalidBatch(f"entries: more than {MAX_BATCH_ENTRIES} in one batch")
        rows, indexes, refused = [], [], []
        for index, entry in enumerate(entries):
            row, problem = validate_entry(entry, kiosk_id)
            if problem:
                raw_id = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
                refused.append(Refusal(index, raw_id[:64] if raw_id else None, problem))
            else:
                rows.append(row)
                indexes.append(index)
        received = now_iso()
        with self._lock:
            present = self._present([row[0] for row in rows])
            for index, row in zip(indexes, rows):
                owner = present.get(row[0])
                if owner is not None and owner != row[1]:
                    refused.append(Refusal(index, row[0], "id: already used by another kiosk"))
            if refused:
                raise InvalidBatch(f"{len(refused)} entr{'y' if len(refused) == 1 else 'ies'} refused", refused)
            new_rows, seen = [], set(present)
            for row in rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    new_rows.append((*row, received, via))
            if new_rows:
                marks = ",".join("?" * (len(ENTRY_COLUMNS) + 2))
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.executemany(
                        f"INSERT INTO entries ({','.join(ENTRY_COLUMNS)}, received_at, via) VALUES ({marks})", new_rows
                    )
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            seconds = time.perf_counter() - started
            self.stats["batches"] += 1
            self.stats["entries_stored"] += len(new_rows)
            self.stats["entries_duplicate"] += len(rows) - len(new_rows)
            self.stats["ingest_seconds"] += seconds
        acked = list(dict.fromkeys(row[0] for row in rows))
        return IngestResult(acked=acked, stored=len(new_rows), duplicates=len(acked) - len(new_rows), seconds=seconds)

    def _present(self, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(self.conn.execute(f"SELECT id, kiosk_id FROM entries WHERE id IN ({marks})", chunk).fetchall())
        return found

    def count(self) -> int:
        with self._lock:
            return self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def iter_entries(self, kiosk_id: str | None = None, since: str | None = None, until: str | None = None,
                     venue: str | None = None) -> Iterator[dict]:
        """Received entries in arrival order, identity unsealed (``identity`` None when there was
        none; ``identity_error`` set when it cannot be opened with this city's key)."""
        where, params = [], []
        for column, op, value in (("kiosk_id", "=", kiosk_id), ("at", ">=", since), ("at", "<", until), ("venue", "=", venue)):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        sql = "SELECT * FROM entries" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY rowid"
        # a separate read connection: a long listing must not hold the writer's lock
        conn = sqlite3.connect(f"file:{self.data_dir / 'city.db'}?mode=ro", uri=True)
        try:
            cursor = conn.execute(sql, params)
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                yield self.unsealed(dict(zip(columns, row)))
        finally:
            conn.close()

    def get_entry(self, entry_id: str) -> dict | None:
        """One received entry, identity unsealed, or None."""
        with self._lock:
            cursor = self.conn.execute("SELECT * FROM entries WHERE id = ?", [entry_id])
            row = cursor.fetchone()
            columns = [c[0] for c in cursor.description]
        return self.unsealed(dict(zip(columns, row))) if row else None

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
        with self._lock:
            row = self.conn.execute("SELECT version FROM bundles WHERE kind = ?", [kind]).fetchone()
            version = (row[0] if row else 0) + 1
            envelope = bundles.sign_bundle(kind, content, self.keys.bundle_private, version)
            etag = '"' + hashlib.sha256(envelope).hexdigest()[:32] + '"'
            self.conn.execute(
                "INSERT OR REPLACE INTO bundles (kind, version, envelope, etag, published_at) VALUES (?, ?, ?, ?, ?)",
                [kind, version, envelope, etag, now_iso()],
            )
        return bundles.verify_bundle(envelope, self.keys.bundle_public, kind)

    def bundle(self, kind: str) -> tuple[bytes, str] | None:
        with self._lock:
            row = self.conn.execute("SELECT envelope, etag FROM bundles WHERE kind = ?", [kind]).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    # ------------------------------------------------------------------ imports
    def record_import(self, export_id: str, kiosk_id: str, entries: int, stored: int) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO imports (export_id, kiosk_id, imported_at, entries, stored) VALUES (?, ?, ?, ?, ?)",
                [export_id, kiosk_id, now_iso(), entries, stored],
            )

    def sign_receipt(self, content: dict) -> bytes:
        """An import receipt, signed like a bundle (kind ``import-receipt``) so the kiosk can
        trust it with the bundle key it already holds."""
        return bundles.sign_bundle(bundles.RECEIPT_KIND, content, self.keys.bundle_private, 1)
