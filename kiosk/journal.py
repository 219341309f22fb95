"""The journal: one row per decision, in SQLite, committed before the gate acts.

WAL mode with ``synchronous=FULL``: a committed entry survives a power cut the next instant.
Schema changes are recorded migrations (table ``migrations``), applied in order on open.
The identity never touches the disk in clear: ``record`` hands its JSON to the ``sealer``
(a sealed box to the city's public key) or, with no sealer, stores none. Nothing else that could
tell who came in is stored either: the re-entry guard lives in memory (kiosk.policy.ReentryGuard);
``secure_delete`` overwrites whatever a purge or a migration removes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from kiosk.errors import JournalError
from kiosk.model import Identity
from sync.files import private_db
from sync.wire import parse_iso, utc_iso  # noqa: F401  (one time format, in the protocol)

log = logging.getLogger(__name__)

Sealer = Callable[[bytes], bytes]


def _m001_entries(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kiosk_id TEXT NOT NULL,
            venue TEXT NOT NULL,
            at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            format TEXT NOT NULL,
            status TEXT NOT NULL,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            kind TEXT NOT NULL,
            flags TEXT NOT NULL DEFAULT '',
            identity BLOB,
            person_key TEXT,
            frame_age_ms REAL,
            delivered_at TEXT,
            exported_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX entries_undelivered ON entries(seq) WHERE delivered_at IS NULL")
    db.execute("CREATE INDEX entries_person ON entries(person_key, at) WHERE person_key IS NOT NULL")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def _m002_sync_quarantine(db: sqlite_utils.Database) -> None:
    # entries the city refused as invalid: kept (never dropped), reported, not re-sent as they are
    db.execute("ALTER TABLE entries ADD COLUMN quarantined_at TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN quarantine_reason TEXT")


def _m003_drop_person_keys(db: sqlite_utils.Database) -> None:
    # the re-entry guard kept keyed hashes of name and birth year here, its key in the same state
    # folder: a dictionary of names told who came in. The guard now lives in memory only; the
    # column goes, and the whole file is rewritten after this migration (SCRUB_AFTER)
    db.execute("DROP INDEX IF EXISTS entries_person")
    db.execute("ALTER TABLE entries DROP COLUMN person_key")


# name -> migration; append only, never edit one that has shipped
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_entries", _m001_entries),
    ("002_sync_quarantine", _m002_sync_quarantine),
    ("003_drop_person_keys", _m003_drop_person_keys),
]
# migrations that removed values nobody may read again: after them the file is rebuilt (VACUUM)
# and the write-ahead log emptied, so no old page keeps a copy
SCRUB_AFTER = {"003_drop_person_keys"}


def _chunks(ids: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices small enough for SQLite's limit on bound parameters."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


@dataclass(frozen=True)
class Entry:
    seq: int
    id: str
    at: str
    decision: str
    reason: str


class Journal:
    """The local store. One instance per process; safe beside another process (WAL)."""

    def __init__(self, path: str | Path, sealer: Sealer | None = None, *, busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self.sealer = sealer
        try:
            private_db(self.path)  # 0600 in a 0700 folder when made here, whatever the umask
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise JournalError(f"{self.path}: could not switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            # purged rows and anything a migration removes are overwritten, not left in free pages
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: {exc}") from exc
        self._closed = False

    # ------------------------------------------------------------------ schema
    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {row[0] for row in self.db.execute("SELECT name FROM migrations").fetchall()}
        scrub = False
        for name, migration in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():  # one transaction per migration, recorded with it
                # another process may have applied it while we waited for the lock
                if self.db.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
                    continue
                migration(self.db)
                self.db.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    [name, utc_iso(dt.datetime.now(dt.timezone.utc))],
                )
            log.info("journal migration %s applied", name)
            scrub = scrub or name in SCRUB_AFTER
        if scrub:
            self.scrub()

    def scrub(self) -> None:
        """Rebuild the file and empty the write-ahead log, so that no free page, no old page in the
        log and no slack in the file keeps a removed value (secure_delete covers rows and cells)."""
        self.db.execute("VACUUM")
        busy, _log_frames, _done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:  # another process is reading: its next checkpoint copies the clean pages over
            log.warning("journal scrubbed, but the write-ahead log is still in use by another process")

    def applied_migrations(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM migrations ORDER BY name").fetchall()]

    # ------------------------------------------------------------------ writing
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection is autocommit)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def record(
        self,
        *,
        kiosk_id: str,
        venue: str,
        at: dt.datetime,
        clock_synced: bool,
        format: str,
        status: str,
        decision: str,
        reason: str,
        kind: str,
        flags: Iterable[str] = (),
        identity: Identity | None = None,
        frame_age_ms: float | None = None,
    ) -> Entry:
        """Append one decision and commit it (fsync'd by synchronous=FULL) before returning."""
        sealed = None
        if identity is not None and self.sealer is not None:
            sealed = self.sealer(json.dumps(identity.to_json(), ensure_ascii=False).encode())
        entry_id = str(uuid.uuid4())
        at_text = utc_iso(at)
        try:
            with self.transaction():
                cursor = self.db.execute(
                    """INSERT INTO entries (id, kiosk_id, venue, at, clock_synced, format, status,
                       decision, reason, kind, flags, identity, frame_age_ms)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [entry_id, kiosk_id, venue, at_text, int(clock_synced), format, status, decision,
                     reason, kind, ",".join(flags), sealed, frame_age_ms],
                )
        except sqlite3.OperationalError as exc:  # disk full, locked beyond the timeout, I/O error
            raise JournalError(f"could not record the entry: {exc}") from exc
        return Entry(cursor.lastrowid, entry_id, at_text, decision, reason)

    def _stamp_undelivered(self, column: str, ids: list[str], at: str) -> int:
        """Set ``column`` to ``at`` on the undelivered entries among ``ids``, in one transaction."""
        changed = 0
        with self.transaction():
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                changed += self.db.execute(
                    f"UPDATE entries SET {column} = ? WHERE delivered_at IS NULL AND id IN ({marks})",
                    [at, *chunk],
                ).rowcount
        return changed

    def mark_delivered(self, ids: list[str], at: str) -> int:
        return self._stamp_undelivered("delivered_at", ids, at)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    # ------------------------------------------------------------------ reading
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def meta_age_seconds(self, key: str, now: dt.datetime) -> float | None:
        """Seconds since the instant stored under ``key`` (e.g. last_sync), None if never stored."""
        value = self.get_meta(key)
        return (now - parse_iso(value)).total_seconds() if value else None

    def undelivered(self, limit: int, after_seq: int = 0) -> list[dict]:
        cursor = self.db.execute(
            "SELECT * FROM entries WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            [after_seq, limit],
        )
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def undelivered_count(self) -> int:
        """Entries not yet delivered (the partial index makes this cheap however long the journal)."""
        return self.db.execute("SELECT COUNT(*) FROM entries WHERE delivered_at IS NULL").fetchone()[0]

    def counts(self) -> dict:
        total, undelivered, oldest = self.db.execute(
            """SELECT COUNT(*),
                      COUNT(*) - COUNT(delivered_at),
                      (SELECT at FROM entries WHERE delivered_at IS NULL ORDER BY seq LIMIT 1)
               FROM entries"""
        ).fetchone()
        return {"total": total, "undelivered": undelivered, "oldest_undelivered": oldest}

    def last_entry(self) -> dict | None:
        cursor = self.db.execute("SELECT seq, id, at, decision, reason FROM entries ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return dict(zip([c[0] for c in cursor.description], row)) if row else None

    # ------------------------------------------------------------------ sync (sync.client, sync.retention)
    def sendable(self, limit: int, after_seq: int = 0) -> list[dict]:
        """Undelivered entries not in quarantine, in journal order, after ``after_seq``."""
        cursor = self.db.execute(
            """SELECT * FROM entries WHERE delivered_at IS NULL AND quarantined_at IS NULL AND seq > ?
               ORDER BY seq LIMIT ?""",
            [after_seq, limit],
        )
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def quarantine(self, reasons: dict[str, str], at: str) -> int:
        """Set entries the city refused aside (still undelivered, never deleted) with its reason."""
        with self.transaction():
            return sum(
                self.db.execute(
                    "UPDATE entries SET quarantined_at = ?, quarantine_reason = ? WHERE id = ? AND delivered_at IS NULL",
                    [at, reason[:500], entry_id],
                ).rowcount
                for entry_id, reason in reasons.items()
            )

    def quarantined(self, limit: int = 100) -> list[dict]:
        """Quarantined entries (no identity), oldest first: what `kiosk sync` reports."""
        cursor = self.db.execute(
            """SELECT seq, id, at, quarantined_at, quarantine_reason FROM entries
               WHERE quarantined_at IS NOT NULL AND delivered_at IS NULL ORDER BY seq LIMIT ?""",
            [limit],
        )
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def release_quarantine(self) -> int:
        """Put every quarantined entry back in the queue (after the cause was fixed)."""
        with self.transaction():
            return self.db.execute(
                "UPDATE entries SET quarantined_at = NULL, quarantine_reason = NULL WHERE quarantined_at IS NOT NULL"
            ).rowcount

    def sync_counts(self) -> dict:
        """Quarantined and exported-but-unconfirmed counts, beside :meth:`counts`."""
        quarantined, exported = self.db.execute(
            """SELECT COUNT(quarantined_at), COUNT(exported_at) FROM entries WHERE delivered_at IS NULL"""
        ).fetchone()
        return {"quarantined": quarantined, "exported_unconfirmed": exported}

    def mark_exported(self, ids: list[str], at: str) -> int:
        return self._stamp_undelivered("exported_at", ids, at)

    def purge_delivered(self, before: str, chunk: int = 5000) -> int:
        """Delete entries delivered before ``before`` (ISO UTC); undelivered ones are never touched.

        Deletes in short transactions so `kiosk run` never waits long for the write lock.
        """
        purged = 0
        while True:
            with self.transaction():
                n = self.db.execute(
                    """DELETE FROM entries WHERE seq IN (SELECT seq FROM entries
                       WHERE delivered_at IS NOT NULL AND delivered_at < ? LIMIT ?)""",
                    [before, chunk],
                ).rowcount
            purged += n
            if n < chunk:
                return purged

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def has_ids(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        ids = list(ids)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT id FROM entries WHERE id IN ({marks})", chunk))
        return found

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.db.conn.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
