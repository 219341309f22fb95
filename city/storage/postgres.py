"""The PostgreSQL engine (``kiosk-city --db postgresql://...``), psycopg 3 with a connection pool.

- **Partitions.** ``entries`` is partitioned by day on ``at`` (``entries_p20210720``...), each
  day made when its first entry arrives; retention drops a whole day (``DROP TABLE``), never a
  big ``DELETE``.
- **The blind index** lives in each entry's row: its hashes (:mod:`city.blind`) as 8-byte
  integers in four slots ``hash1``..``hash4``, each slot indexed. Eight bytes of a keyed hash
  can match another identifier's now and then; that costs a trace one more identity opened,
  never a wrong answer (a trace keeps only the entries whose opened identity matches).
- **Ingest** is one statement a batch (arrays in binary, ``unnest``): its ids go first into
  ``entry_ids``, one table keyed by id alone, with ``ON CONFLICT DO NOTHING``; the entries whose
  id went in are stored, with their index hashes, the kiosk's count for the day (the daily
  quota) and its entries a day of ``at`` (the fleet's counts), all in one transaction. A
  partition's key must hold ``at``, so the partitions alone could tell an id already stored only
  by looking into every day; ``entry_ids`` tells it with one lookup. The same batch reaching two
  worker processes at once is stored once: the second waits for the first's commit, then skips
  every row. Retention removes ``entry_ids`` rows in bounded batches after dropping the days
  they belong to, and those days' counts.
- **Reads** are short statements; listings page by ``seq`` (arrival order), so a long listing
  holds no transaction open. A trace reads the entries by their hash slots and by (venue, at),
  each pruned to the days it asks for.
- **Migrations** run under an advisory lock: several processes starting at once apply them once.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from city.storage.base import (ROW_COLUMNS, Engine, EntryFilter, IndexedRow, KioskSession, MigrationContext,
                               StoredBatch)
from city.storage.migrations import MIGRATIONS
from sync.wire import parse_iso, utc_iso

PAGE = 1000
# connections a process keeps (each `serve` worker has its own pool: mind max_connections; on a
# small machine more only add backends contending for the same cores and faulting in shared memory);
# a request waits up to POOL_WAIT_SECONDS for one when all are busy
POOL_SIZE = 4
POOL_WAIT_SECONDS = 120.0
# advisory lock keys (any constant bigints, unique to this program)
MIGRATE_LOCK = 0x6B696F736B01
PARTITION_LOCK = 0x6B696F736B02
BUNDLE_LOCK = 0x6B696F736B03
PARTITIONED = ("entries",)
_PARTITION_NAME = re.compile(r"^entries_p(\d{8})$")
HASH_SLOTS = ("hash1", "hash2", "hash3", "hash4")  # an identity has at most four index hashes
_SELECT = "SELECT seq, " + ", ".join(ROW_COLUMNS) + " FROM entries"
_TYPES = {
    "id": "uuid", "kiosk_id": "text", "venue": "text", "at": "timestamptz", "clock_synced": "boolean",
    "format": "text", "status": "text", "decision": "text", "reason": "text", "kind": "text", "flags": "text",
    "identity": "bytea", "frame_age_ms": "float8", "received_at": "text", "via": "text",
}
_UNNEST = ", ".join(f"%b::{_TYPES[c]}[]" for c in ROW_COLUMNS)
_COLUMNS = ", ".join(ROW_COLUMNS)
_SLOTS = ", ".join(HASH_SLOTS)
_SLOT_ARRAYS = ", ".join("%b::int8[]" for _ in HASH_SLOTS)
# one statement stores a batch (rows with distinct ids): ids into entry_ids first (in id order, so
# two batches sharing ids never wait on each other in a cycle), then the entries whose id went
# in (in the batch's order: seq is arrival order) with their index hashes, the day's count (the
# quota) and the kiosk's entries a day of `at` (its count in `kiosks`). An id new to entry_ids is
# new to entries (every stored entry has its row there), so the entries go in without ON
# CONFLICT's check of each row beforehand; should one be there all the same (written by a program
# from before entry_ids), the batch is stored again with that check (_STORE_CHECKED)
_STORE = f"""
WITH batch AS (
    SELECT * FROM unnest({_UNNEST}, {_SLOT_ARRAYS}) WITH ORDINALITY AS b({_COLUMNS}, {_SLOTS}, n)
), gate AS (
    INSERT INTO entry_ids (id, at, kiosk_id) SELECT id, at, kiosk_id FROM batch ORDER BY id
    ON CONFLICT (id) DO NOTHING RETURNING id
), stored AS (
    INSERT INTO entries ({_COLUMNS}, {_SLOTS}) SELECT {_COLUMNS}, {_SLOTS} FROM batch
    WHERE id IN (SELECT id FROM gate) ORDER BY n
    {{conflict}}RETURNING id, kiosk_id, at
), counted AS (
    INSERT INTO kiosk_days (kiosk_id, day, stored) SELECT kiosk_id, %s, count(*) FROM stored GROUP BY kiosk_id
    ON CONFLICT (kiosk_id, day) DO UPDATE SET stored = kiosk_days.stored + excluded.stored
), tallied AS (
    INSERT INTO kiosk_entries (kiosk_id, day, entries)
    SELECT kiosk_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM stored GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (kiosk_id, day) DO UPDATE SET entries = kiosk_entries.entries + excluded.entries
)
SELECT id::text FROM stored
"""
_STORE, _STORE_CHECKED = _STORE.format(conflict=""), _STORE.format(conflict="ON CONFLICT DO NOTHING ")
_INSERT_INDEX = ("INSERT INTO entry_index (hash, at, entry_id) SELECT * FROM unnest(%b::bytea[], %b::timestamptz[], "
                 "%b::uuid[]) ON CONFLICT DO NOTHING")
# any slot (a hash of one kind never equals one of another but by chance: see the module's text)
_BY_HASHES = (_SELECT + " WHERE (" + " OR ".join(f"{slot} = ANY(%s::int8[])" for slot in HASH_SLOTS)
              + ") AND at >= %s AND at < %s ORDER BY seq")
_OWNERS = "SELECT id::text, kiosk_id FROM entry_ids WHERE id = ANY(%s::uuid[])"
_ENTRY_OWNERS = "SELECT id::text, kiosk_id FROM entries WHERE id = ANY(%s::uuid[])"  # every day: slow
_SESSION = """SELECT k.id, ARRAY(SELECT venue FROM kiosk_venues v WHERE v.kiosk_id = k.id),
                     COALESCE((SELECT stored FROM kiosk_days d WHERE d.kiosk_id = k.id AND d.day = %s), 0)
              FROM kiosks k WHERE k.token_sha256 = %s"""
PURGE_BATCH = 10_000


class _Foreign(Exception):
    """Ids of the batch that another kiosk had stored: the transaction is rolled back."""

    def __init__(self, foreign: dict[str, str]):
        super().__init__(f"{len(foreign)} ids of another kiosk")
        self.foreign = foreign


def _slot(digest: bytes) -> int:
    """A blind-index hash as stored: its first 8 bytes, a signed integer (PostgreSQL's bigint)."""
    return int.from_bytes(digest[:8], "big", signed=True)


def _slots(hashes: Sequence[tuple[bytes, ...]]) -> list[list[int | None]]:
    """Each row's hashes (at most four) -> one array a slot, None where a row has fewer."""
    if any(len(row) > len(HASH_SLOTS) for row in hashes):
        raise ValueError(f"an entry has at most {len(HASH_SLOTS)} index hashes")
    return [[_slot(row[k]) if k < len(row) else None for row in hashes] for k in range(len(HASH_SLOTS))]


def _sql(text: str) -> str:
    """``?`` placeholders (the interface's) -> psycopg's ``%s``."""
    return text.replace("%", "%%").replace("?", "%s")


def _instant(text: str) -> dt.datetime:
    return parse_iso(text)


def _entry(row: tuple) -> dict:
    entry = dict(zip(ROW_COLUMNS, row[1:]))
    entry["id"] = str(entry["id"])
    entry["at"] = utc_iso(entry["at"])
    entry["clock_synced"] = int(entry["clock_synced"])
    return entry


def _bound(day: dt.date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


class _Tx:
    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(_sql(sql), params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(_sql(sql), params).fetchall()


class PostgresEngine(Engine):
    name = "postgresql"

    def __init__(self, url: str, pool_size: int = POOL_SIZE):
        self.url = url
        try:  # one plain connection first: a wrong URL or a stopped server fails now, in one line
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise ConnectionError(f"cannot connect to the PostgreSQL database: {' '.join(str(exc).split())}") from None
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs={"autocommit": True},
                                   name="kiosk-city", open=False, timeout=POOL_WAIT_SECONDS)
        try:
            self.pool.open(wait=True, timeout=30)
        except Exception as exc:  # noqa: BLE001 - one clear line for the admin
            self.pool.close()
            raise ConnectionError(f"cannot connect to the PostgreSQL database: {exc}") from None
        self._days: set[dt.date] = set()
        self._days_lock = threading.Lock()

    def close(self) -> None:
        self.pool.close()

    def open_connections(self) -> None:
        # min_size up to max_size: all made now and kept (a pool at min_size 1 makes them one at a
        # time as uploads wait for them, and closes idle ones after ten minutes)
        self.pool.resize(self.pool.max_size, self.pool.max_size)
        with ExitStack() as held:  # every one of them borrowed at once: each made by now
            for _ in range(self.pool.max_size):
                held.enter_context(self.pool.connection(timeout=30))

    @contextmanager
    def _connection(self):
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self):
        with self._connection() as conn, conn.transaction():
            yield _Tx(conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(_sql(sql), params).fetchall()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ migrations
    def schema_version(self) -> int:
        with self._connection() as conn:
            if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
                return 0
            return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]

    def migrate(self, context: MigrationContext) -> list[int]:
        applied: list[int] = []
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)")
                current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
                for migration in MIGRATIONS:
                    if migration.version <= current:
                        continue
                    with conn.transaction():
                        conn.execute(migration.postgres)
                    if migration.python is not None:
                        migration.python(self, context)
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                                 [migration.version, migration.name, utc_iso(dt.datetime.now(dt.timezone.utc))])
                    applied.append(migration.version)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])
        return applied

    # ------------------------------------------------------------------ partitions
    def _ensure_days(self, instants: Sequence[dt.datetime]) -> None:
        """Make the day partitions these instants need (and tomorrow's with today's, so the day
        does not begin with every worker making it at once)."""
        days = {moment.astimezone(dt.timezone.utc).date() for moment in instants}
        if days <= self._days:
            return
        with self._days_lock:  # one thread of this process makes them, the others then find them
            missing = days - self._days
            if not missing:
                return
            today = dt.datetime.now(dt.timezone.utc).date()
            if today in missing:
                missing.add(today + dt.timedelta(days=1))
            with self._connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
                for day in sorted(missing):
                    upper = _bound(day + dt.timedelta(days=1)) if day < dt.date.max else "'infinity'"
                    for table in PARTITIONED:
                        conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_p{day:%Y%m%d} PARTITION OF {table} "
                                     f"FOR VALUES FROM ({_bound(day)}) TO ({upper})")
            self._days = self._days | missing

    # ------------------------------------------------------------------ kiosks
    def upsert_kiosk(self, kiosk_id: str, token_sha256: str, enrolled_at: str) -> None:
        self.execute("""INSERT INTO kiosks (id, token_sha256, enrolled_at) VALUES (?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET token_sha256 = excluded.token_sha256,
                        enrolled_at = excluded.enrolled_at""", [kiosk_id, token_sha256, enrolled_at])

    def kiosk_for_token(self, token_sha256: str) -> str | None:
        rows = self._rows("SELECT id FROM kiosks WHERE token_sha256 = %s", [token_sha256])
        return rows[0][0] if rows else None

    def kiosk_exists(self, kiosk_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM kiosks WHERE id = %s", [kiosk_id]))

    def kiosk_session(self, token_sha256: str, day: str) -> KioskSession | None:
        rows = self._rows(_SESSION, [day, token_sha256])
        if not rows:
            return None
        kiosk_id, venues, stored = rows[0]
        return KioskSession(kiosk_id, frozenset(venues) or None, stored)

    def kiosks(self) -> list[dict]:
        rows = self._rows("""SELECT k.id, k.enrolled_at, k.last_seen, k.heartbeat,
                                    (SELECT COALESCE(SUM(entries), 0)::bigint FROM kiosk_entries c
                                     WHERE c.kiosk_id = k.id)
                             FROM kiosks k ORDER BY k.id""")
        return [dict(zip(("id", "enrolled_at", "last_seen", "heartbeat", "entries"), r)) for r in rows]

    # ------------------------------------------------------------------ entries
    def owners(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        return dict(self._rows(_OWNERS, [list(ids)]))

    def store_batch(self, rows: Sequence[IndexedRow], day: str) -> StoredBatch:
        if not rows:
            return StoredBatch([], {})
        try:
            return self._store_batch(rows, day)
        except psycopg.errors.CheckViolation:
            # a day this process had seen was dropped by another one's retention: make it again
            with self._days_lock:
                self._days = set()
            return self._store_batch(rows, day)
        except psycopg.errors.UniqueViolation:
            return self._store_batch(rows, day, _STORE_CHECKED)

    def _store_batch(self, rows: Sequence[IndexedRow], day: str, statement: str = _STORE) -> StoredBatch:
        columns = [list(values) for values in zip(*(item.row for item in rows))]
        at = ROW_COLUMNS.index("at")
        instants = columns[at] = [_instant(value) for value in columns[at]]
        self._ensure_days(instants)
        synced = ROW_COLUMNS.index("clock_synced")
        columns[synced] = [bool(value) for value in columns[synced]]
        slots = _slots([item.hashes for item in rows])
        with self._connection() as conn:
            try:
                with conn.transaction():
                    # %b: the arrays travel in binary, without text escaping (a third of the CPU otherwise)
                    stored = [row[0] for row in conn.execute(statement, [*columns, *slots, day])]
                    if len(stored) < len(rows):  # some were there: whose are they?
                        kept = set(stored)
                        others = [item for item in rows if item.id not in kept]
                        # (with _STORE_CHECKED, an entry may be stored without its entry_ids row)
                        owners = dict(conn.execute(_OWNERS if statement is _STORE else _ENTRY_OWNERS,
                                                   [[item.id for item in others]]).fetchall())
                        foreign = {item.id: owners[item.id] for item in others
                                   if owners.get(item.id, item.row[1]) != item.row[1]}
                        if foreign:
                            raise _Foreign(foreign)
            except _Foreign as refused:
                return StoredBatch([], refused.foreign)
        return StoredBatch(stored, {})

    def insert_index(self, rows: Sequence[tuple[bytes, str, str]]) -> None:
        """Into entry_index, which only a store upgraded from version 1 has, between migrations 2
        and 6 (6 moves its rows into the entries' hash slots)."""
        if not rows:
            return
        hashes, instants, ids = zip(*rows)
        with self._connection() as conn, conn.transaction():
            conn.execute(_INSERT_INDEX, [list(hashes), [_instant(at) for at in instants], list(ids)])

    def count(self) -> int:
        return self._rows("SELECT COUNT(*) FROM entries")[0][0]

    def iter_entries(self, where: EntryFilter = EntryFilter()) -> Iterator[dict]:
        clauses, params = [], []
        for column, op, value in (("kiosk_id", "=", where.kiosk_id), ("at", ">=", where.since),
                                  ("at", "<", where.until), ("venue", "=", where.venue)):
            if value is not None:
                clauses.append(f"{column} {op} %s")
                params.append(_instant(value) if column == "at" else value)
        sql = _SELECT + " WHERE seq > %s" + "".join(" AND " + c for c in clauses) + f" ORDER BY seq LIMIT {PAGE}"
        last = 0
        while True:
            page = self._rows(sql, [last, *params])
            for row in page:
                yield _entry(row)
            if len(page) < PAGE:
                return
            last = page[-1][0]

    def get_entry(self, entry_id: str) -> dict | None:
        try:
            rows = self._rows(_SELECT + " WHERE id = %s::uuid", [entry_id])
        except psycopg.errors.InvalidTextRepresentation:
            return None  # not a UUID: no such entry
        return _entry(rows[0]) if rows else None

    def entries_by_hashes(self, hashes: Sequence[bytes], since: str, until: str) -> list[dict]:
        if not hashes:
            return []
        wanted = sorted({_slot(digest) for digest in hashes})
        rows = self._rows(_BY_HASHES, [wanted] * len(HASH_SLOTS) + [_instant(since), _instant(until)])
        return [_entry(row) for row in rows]

    def entries_at_venue(self, venue: str, since: str, until: str) -> list[dict]:
        sql = _SELECT + " WHERE venue = %s AND at >= %s AND at < %s ORDER BY seq"
        return [_entry(row) for row in self._rows(sql, [venue, _instant(since), _instant(until)])]

    def purge(self, before: dt.datetime) -> int:
        """Drop every day partition that ends at or before ``before``; return the entries it held."""
        last_day = before.astimezone(dt.timezone.utc).date()
        removed = 0
        rows = self._rows("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)""", [list(PARTITIONED)])
        expired = sorted(name for (name,) in rows
                         if (m := _PARTITION_NAME.match(name)) and dt.datetime.strptime(m.group(1), "%Y%m%d").date()
                         + dt.timedelta(days=1) <= last_day)
        for name in expired:
            with self._connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
                removed += conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
                conn.execute(f"DROP TABLE IF EXISTS {name}")
        with self._days_lock:
            self._days = {day for day in self._days if day >= last_day}
        self.execute("DELETE FROM kiosk_entries WHERE day < ?", [last_day.isoformat()])
        # and their ids, a bounded batch at a time (entry_ids is one table, not one a day)
        cutoff = dt.datetime.combine(last_day, dt.time(), dt.timezone.utc)
        while True:
            with self._connection() as conn:
                gone = conn.execute("DELETE FROM entry_ids WHERE id IN "
                                    f"(SELECT id FROM entry_ids WHERE at < %s LIMIT {PURGE_BATCH})", [cutoff]).rowcount
            if gone < PURGE_BATCH:
                break
        return removed

    # ------------------------------------------------------------------ bundles and imports
    def put_bundle(self, kind: str, make: Callable[[int], tuple[bytes, str]], published_at: str) -> int:
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [BUNDLE_LOCK])
            row = conn.execute("SELECT version FROM bundles WHERE kind = %s", [kind]).fetchone()
            version = (row[0] if row else 0) + 1
            envelope, etag = make(version)
            conn.execute("""INSERT INTO bundles (kind, version, envelope, etag, published_at) VALUES (%s, %s, %s, %s, %s)
                            ON CONFLICT (kind) DO UPDATE SET version = excluded.version, envelope = excluded.envelope,
                            etag = excluded.etag, published_at = excluded.published_at""",
                         [kind, version, envelope, etag, published_at])
        return version

    def bundle(self, kind: str) -> tuple[bytes, str] | None:
        rows = self._rows("SELECT envelope, etag FROM bundles WHERE kind = %s", [kind])
        return (bytes(rows[0][0]), rows[0][1]) if rows else None

    def record_import(self, export_id: str, kiosk_id: str, imported_at: str, entries: int, stored: int) -> None:
        self.execute("""INSERT INTO imports (export_id, kiosk_id, imported_at, entries, stored) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (export_id) DO UPDATE SET kiosk_id = excluded.kiosk_id,
                        imported_at = excluded.imported_at, entries = excluded.entries, stored = excluded.stored""",
                     [export_id, kiosk_id, imported_at, entries, stored])


__all__ = ["PostgresEngine"]
