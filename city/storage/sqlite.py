"""The embedded engine: one SQLite file (``DIR/city.db``), WAL, ``synchronous=FULL``.

Each thread has its own connection, so reads (token checks, traces, listings) never wait for a
write and a write never waits for a read; writes are serialised by SQLite (``BEGIN IMMEDIATE``,
and a lock in this process so threads queue instead of polling). Listings read in pages by
rowid, each page a short read, so a long listing or trace never keeps the WAL from being reset.
Several processes may share the file (``serve --workers N``): ingest is
``INSERT … ON CONFLICT DO NOTHING`` inside the write transaction.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from city.storage.base import ROW_COLUMNS, Engine, EntryFilter, IndexedRow, MigrationContext, StoredBatch
from city.storage.migrations import MIGRATIONS
from sync.files import private_db
from sync.wire import utc_iso

PAGE = 1000
PURGE_BATCH = 5000
_SELECT = "SELECT rowid, " + ", ".join(ROW_COLUMNS) + " FROM entries"


class _Tx:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()


def _entry(row: tuple) -> dict:
    entry = dict(zip(ROW_COLUMNS, row[1:]))
    if entry["identity"] is not None:
        entry["identity"] = bytes(entry["identity"])
    return entry


class SQLiteEngine(Engine):
    name = "sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._conn()  # open (and create) now, so a bad path fails here

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the city store is closed")
            private_db(self.path)  # 0600 when made here, whatever the umask (its -wal and -shm too)
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    @contextmanager
    def transaction(self):
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._conn().execute(sql, params).fetchall()

    # ------------------------------------------------------------------ migrations
    def schema_version(self) -> int:
        conn = self._conn()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone():
            return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
        # the first city server kept no record: its tables are version 1
        return 1 if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries'").fetchone() else 0

    def migrate(self, context: MigrationContext) -> list[int]:
        applied: list[int] = []
        lock_path = self.path.with_name(self.path.name + ".migrate-lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process migrates; the others wait, then find nothing to do
            current = self.schema_version()
            with self.transaction() as tx:
                tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                           "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                if current and not tx.query("SELECT 1 FROM schema_migrations"):
                    tx.execute("INSERT INTO schema_migrations VALUES (1, ?, ?)",
                               [MIGRATIONS[0].name + " (found)", utc_iso(dt.datetime.now(dt.timezone.utc))])
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                conn = self._conn()
                with self._write_lock:
                    conn.executescript("BEGIN IMMEDIATE;\n" + migration.sqlite + "\nCOMMIT;")
                if migration.python is not None:
                    migration.python(self, context)
                self.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                             [migration.version, migration.name, utc_iso(dt.datetime.now(dt.timezone.utc))])
                applied.append(migration.version)
        return applied

    # ------------------------------------------------------------------ kiosks
    def upsert_kiosk(self, kiosk_id: str, token_sha256: str, enrolled_at: str) -> None:
        self.execute(
            """INSERT INTO kiosks (id, token_sha256, enrolled_at) VALUES (?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET token_sha256 = excluded.token_sha256, enrolled_at = excluded.enrolled_at""",
            [kiosk_id, token_sha256, enrolled_at])

    def kiosk_for_token(self, token_sha256: str) -> str | None:
        row = self._conn().execute("SELECT id FROM kiosks WHERE token_sha256 = ?", [token_sha256]).fetchone()
        return row[0] if row else None

    def kiosk_exists(self, kiosk_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM kiosks WHERE id = ?", [kiosk_id]).fetchone() is not None

    def kiosks(self) -> list[dict]:
        rows = self._conn().execute(
            """SELECT k.id, k.enrolled_at, k.last_seen, k.heartbeat,
                      (SELECT COALESCE(SUM(entries), 0) FROM kiosk_entries c WHERE c.kiosk_id = k.id)
               FROM kiosks k ORDER BY k.id""").fetchall()
        return [dict(zip(("id", "enrolled_at", "last_seen", "heartbeat", "entries"), r)) for r in rows]

    # ------------------------------------------------------------------ entries
    def owners(self, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        conn = self._conn()
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(f"SELECT id, kiosk_id FROM entries WHERE id IN ({marks})", chunk).fetchall())
        return found

    def store_batch(self, rows: Sequence[IndexedRow], day: str) -> StoredBatch:
        if not rows:
            return StoredBatch([], {})
        marks = ",".join("?" * len(ROW_COLUMNS))
        with self.transaction() as tx:
            # the write lock is held: ids found absent now stay absent until the commit
            present = self.owners([item.id for item in rows])
            foreign = {item.id: present[item.id] for item in rows
                       if item.id in present and present[item.id] != item.row[1]}
            if foreign:
                return StoredBatch([], foreign)
            new = list({item.id: item for item in rows if item.id not in present}.values())
            tx.conn.executemany(f"INSERT INTO entries ({','.join(ROW_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                                [item.row for item in new])
            tx.conn.executemany("INSERT OR IGNORE INTO entry_index (hash, at, entry_id) VALUES (?, ?, ?)",
                                [(digest, item.at, item.id) for item in new for digest in item.hashes])
            tx.conn.executemany("""INSERT INTO kiosk_days (kiosk_id, day, stored) VALUES (?, ?, ?)
                                   ON CONFLICT (kiosk_id, day) DO UPDATE SET stored = kiosk_days.stored + excluded.stored""",
                                [(kiosk, day, count) for kiosk, count in Counter(item.row[1] for item in new).items()])
            tx.conn.executemany("""INSERT INTO kiosk_entries (kiosk_id, day, entries) VALUES (?, ?, ?) ON CONFLICT
                                   (kiosk_id, day) DO UPDATE SET entries = kiosk_entries.entries + excluded.entries""",
                                [(*key, count) for key, count in Counter((item.row[1], item.at[:10]) for item in new).items()])
        return StoredBatch([item.id for item in new], {})

    def insert_index(self, rows: Sequence[tuple[bytes, str, str]]) -> None:
        with self.transaction() as tx:
            tx.conn.executemany("INSERT OR IGNORE INTO entry_index (hash, at, entry_id) VALUES (?, ?, ?)", rows)

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def iter_entries(self, where: EntryFilter = EntryFilter()) -> Iterator[dict]:
        clauses, params = [], []
        for column, op, value in (("kiosk_id", "=", where.kiosk_id), ("at", ">=", where.since),
                                  ("at", "<", where.until), ("venue", "=", where.venue)):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        sql = _SELECT + " WHERE rowid > ?" + "".join(" AND " + c for c in clauses) + f" ORDER BY rowid LIMIT {PAGE}"
        last = 0
        while True:
            page = self._conn().execute(sql, [last, *params]).fetchall()
            for row in page:
                yield _entry(row)
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def get_entry(self, entry_id: str) -> dict | None:
        row = self._conn().execute(_SELECT + " WHERE id = ?", [entry_id]).fetchone()
        return _entry(row) if row else None

    def entries_by_hashes(self, hashes: Sequence[bytes], since: str, until: str) -> list[dict]:
        if not hashes:
            return []
        marks = ",".join("?" * len(hashes))
        sql = (_SELECT + f" WHERE id IN (SELECT entry_id FROM entry_index WHERE hash IN ({marks}) AND at >= ? AND at < ?)"
               " ORDER BY rowid")
        return [_entry(row) for row in self._conn().execute(sql, [*hashes, since, until])]

    def entries_at_venue(self, venue: str, since: str, until: str) -> list[dict]:
        sql = _SELECT + " WHERE venue = ? AND at >= ? AND at < ? ORDER BY rowid"
        return [_entry(row) for row in self._conn().execute(sql, [venue, since, until])]

    def purge(self, before: dt.datetime) -> int:
        cutoff = utc_iso(before)
        removed = 0
        # bounded batches: the write lock is held a moment at a time, never for the whole purge
        while True:
            with self.transaction() as tx:
                count = tx.execute("DELETE FROM entries WHERE rowid IN "
                                   f"(SELECT rowid FROM entries WHERE at < ? LIMIT {PURGE_BATCH})", [cutoff])
            removed += count
            if count < PURGE_BATCH:
                break
        self.execute("DELETE FROM kiosk_entries WHERE day < ?", [cutoff[:10]])
        while True:
            with self.transaction() as tx:
                gone = tx.execute("DELETE FROM entry_index WHERE (hash, at, entry_id) IN "
                                  f"(SELECT hash, at, entry_id FROM entry_index WHERE at < ? LIMIT {PURGE_BATCH})",
                                  [cutoff])
            if gone < PURGE_BATCH:
                break
        return removed

    # ------------------------------------------------------------------ bundles and imports
    def put_bundle(self, kind: str, make: Callable[[int], tuple[bytes, str]], published_at: str) -> int:
        with self.transaction() as tx:
            row = tx.query("SELECT version FROM bundles WHERE kind = ?", [kind])
            version = (row[0][0] if row else 0) + 1
            envelope, etag = make(version)
            tx.execute("INSERT OR REPLACE INTO bundles (kind, version, envelope, etag, published_at) VALUES (?, ?, ?, ?, ?)",
                       [kind, version, envelope, etag, published_at])
        return version

    def bundle(self, kind: str) -> tuple[bytes, str] | None:
        row = self._conn().execute("SELECT envelope, etag FROM bundles WHERE kind = ?", [kind]).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    def record_import(self, export_id: str, kiosk_id: str, imported_at: str, entries: int, stored: int) -> None:
        self.execute("INSERT OR REPLACE INTO imports (export_id, kiosk_id, imported_at, entries, stored) VALUES (?, ?, ?, ?, ?)",
                     [export_id, kiosk_id, imported_at, entries, stored])


__all__ = ["SQLiteEngine"]
