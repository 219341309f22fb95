"""What every storage engine of the city offers, and the pieces they share.

The city's logic (validation, sealing, the blind index, tracing) lives above this line in
:mod:`city.store`; an engine only stores and finds rows. Two engines implement
:class:`Engine` with the same behaviour: :mod:`city.storage.sqlite` (one file, the default)
and :mod:`city.storage.postgres` (a PostgreSQL database, many worker processes).

An entry row is a dict with the columns of :data:`ENTRY_COLUMNS` plus ``received_at`` and
``via``: ``at`` and ``received_at`` are :func:`sync.wire.utc_iso` text, ``identity`` the sealed
box (bytes) or None, ``flags`` comma-joined text. Rows come back in arrival order.

Other modules with tables of their own (the web console) add a :class:`~city.storage.migrations.Migration`
and use :meth:`Engine.execute`, :meth:`Engine.query` and :meth:`Engine.transaction` with ``?``
placeholders, which each engine translates to its own.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sync.progress import progress

ENTRY_COLUMNS = (
    "id", "kiosk_id", "venue", "at", "clock_synced", "format", "status", "decision", "reason", "kind",
    "flags", "identity", "frame_age_ms",
)
ROW_COLUMNS = ENTRY_COLUMNS + ("received_at", "via")

# a keyed hash of one normalised identifier (see city.blind), cut to this many bytes
HASH_BYTES = 16


@dataclass(frozen=True)
class EntryFilter:
    """Which entries: ``since`` <= at < ``until`` (utc_iso text, either open), a kiosk, a venue."""

    since: str | None = None
    until: str | None = None
    kiosk_id: str | None = None
    venue: str | None = None


@dataclass(frozen=True)
class IndexedRow:
    """An entry to store and the blind-index hashes of its identity (empty when it has none)."""

    row: tuple  # ENTRY_COLUMNS + received_at, via
    hashes: tuple[bytes, ...] = ()

    @property
    def id(self) -> str:
        return self.row[0]

    @property
    def at(self) -> str:
        return self.row[3]


@dataclass(frozen=True)
class KioskSession:
    """What an upload needs to know about the kiosk a token belongs to, read in one go."""

    kiosk_id: str
    venues: frozenset[str] | None  # None: none recorded (not checked)
    stored_today: int  # entries of this kiosk stored on the UTC day asked (its daily quota)


@dataclass
class StoredBatch:
    """What :meth:`Engine.store_batch` did: the ids it stored, or (nothing stored) the ids that
    another kiosk had already used, each with that kiosk."""

    stored: list[str]
    foreign: dict[str, str]


class Cursorish(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> object: ...
    def close(self) -> None: ...


# (label, total) -> a bar; the default is sync.progress's (tqdm on a terminal, nothing otherwise)
ProgressFactory = Callable[[str, int], ProgressBar]


def terminal_progress(label: str, total: int) -> ProgressBar:
    """Progress and an ETA on stderr when it is a terminal (:func:`sync.progress.progress`)."""
    return progress(total, label)


class Engine(abc.ABC):
    """One city database. Thread-safe; every method is a short transaction of its own."""

    name: str = ""

    # ------------------------------------------------------------------ life
    @abc.abstractmethod
    def close(self) -> None: ...

    def open_connections(self) -> None:
        """Open every connection serving will use, now (at ``serve`` start): an engine with a pool
        fills it, so the first wave of uploads does not wait for connections to be made."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The highest migration applied (0 for an empty database)."""

    @abc.abstractmethod
    def migrate(self, context: "MigrationContext") -> list[int]:
        """Apply every pending migration in order, each recorded in the database; return their
        versions. Safe to run from several processes at once (one applies, the others wait)."""

    # ------------------------------------------------------------------ generic SQL (``?`` placeholders)
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in a transaction of its own; return the rows changed."""

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """The rows of one read."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Cursorish]:
        """A write transaction (committed on success, rolled back on an exception)."""

    # ------------------------------------------------------------------ kiosks
    @abc.abstractmethod
    def upsert_kiosk(self, kiosk_id: str, token_sha256: str, enrolled_at: str) -> None: ...

    @abc.abstractmethod
    def kiosk_for_token(self, token_sha256: str) -> str | None: ...

    @abc.abstractmethod
    def kiosk_exists(self, kiosk_id: str) -> bool: ...

    def kiosk_session(self, token_sha256: str, day: str) -> KioskSession | None:
        """The kiosk of a token with its venues and its count of entries stored on ``day``
        (YYYY-MM-DD), or None for an unknown token. Engines may read it in one statement."""
        kiosk_id = self.kiosk_for_token(token_sha256)
        if kiosk_id is None:
            return None
        return KioskSession(kiosk_id, self.venues_of(kiosk_id), self.stored_on(kiosk_id, day))

    def venues_of(self, kiosk_id: str) -> frozenset[str] | None:
        """The venues a kiosk is enrolled for; None when none are recorded (not checked)."""
        rows = self.query("SELECT venue FROM kiosk_venues WHERE kiosk_id = ?", [kiosk_id])
        return frozenset(row[0] for row in rows) or None

    def stored_on(self, kiosk_id: str, day: str) -> int:
        """How many entries of this kiosk were stored on a UTC day (YYYY-MM-DD): its quota's count."""
        rows = self.query("SELECT stored FROM kiosk_days WHERE kiosk_id = ? AND day = ?", [kiosk_id, day])
        return rows[0][0] if rows else 0

    def kiosk_seen(self, kiosk_id: str, at: str, heartbeat: str | None = None) -> None:
        """Record a kiosk's last contact (and its last heartbeat, JSON text, when given)."""
        if heartbeat is None:
            self.execute("UPDATE kiosks SET last_seen = ? WHERE id = ?", [at, kiosk_id])
        else:
            self.execute("UPDATE kiosks SET last_seen = ?, heartbeat = ? WHERE id = ?", [at, heartbeat, kiosk_id])

    @abc.abstractmethod
    def kiosks(self) -> list[dict]:
        """Every kiosk: id, enrolled_at, last_seen, heartbeat (JSON text or None), entries (count)."""

    # ------------------------------------------------------------------ entries
    @abc.abstractmethod
    def owners(self, ids: Sequence[str]) -> dict[str, str]:
        """Of these entry ids, those already stored, each with its kiosk."""

    @abc.abstractmethod
    def store_batch(self, rows: Sequence[IndexedRow], day: str) -> StoredBatch:
        """Store a batch's new entries with their index hashes, and add them to their kiosks'
        counts for ``day`` (YYYY-MM-DD, the daily quota) and for their days of ``at`` (the counts
        :meth:`kiosks` gives, which :meth:`purge` keeps), in one transaction. An id already
        stored, also by another process at the same moment, is skipped; if one was stored by
        another kiosk than the row's, nothing is stored and those ids are returned."""

    @abc.abstractmethod
    def insert_index(self, rows: Sequence[tuple[bytes, str, str]]) -> None:
        """Add (hash, at, entry_id) rows to the blind index, skipping those already there."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def iter_entries(self, where: EntryFilter = EntryFilter()) -> Iterator[dict]:
        """Matching entries in arrival order, read in pages: constant memory, short reads."""

    @abc.abstractmethod
    def get_entry(self, entry_id: str) -> dict | None: ...

    @abc.abstractmethod
    def entries_by_hashes(self, hashes: Sequence[bytes], since: str, until: str) -> list[dict]:
        """Entries in [since, until) whose identity has one of these index hashes, arrival order."""

    @abc.abstractmethod
    def entries_at_venue(self, venue: str, since: str, until: str) -> list[dict]:
        """Entries at ``venue`` in [since, until), arrival order."""

    @abc.abstractmethod
    def purge(self, before: dt.datetime) -> int:
        """Remove entries (and their index rows) with ``at`` before ``before``, a UTC midnight,
        in bounded steps; return how many were removed (when the engine can tell)."""

    # ------------------------------------------------------------------ bundles and imports
    @abc.abstractmethod
    def put_bundle(self, kind: str, make: Callable[[int], tuple[bytes, str]], published_at: str) -> int:
        """Store the next version of a bundle: ``make(version)`` -> (envelope, etag); return the version."""

    @abc.abstractmethod
    def bundle(self, kind: str) -> tuple[bytes, str] | None: ...

    @abc.abstractmethod
    def record_import(self, export_id: str, kiosk_id: str, imported_at: str, entries: int, stored: int) -> None: ...


@dataclass
class MigrationContext:
    """What a migration written in Python may need: the blind index of a sealed identity (for
    indexing stores made before the index existed) and a progress line."""

    index_sealed: Callable[[bytes | None], tuple[bytes, ...]]
    progress: ProgressFactory = terminal_progress


def midnight(instant: dt.datetime) -> dt.datetime:
    """The UTC midnight that starts ``instant``'s day."""
    utc = instant.astimezone(dt.timezone.utc)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


__all__ = [
    "ENTRY_COLUMNS", "ROW_COLUMNS", "HASH_BYTES", "EntryFilter", "IndexedRow", "KioskSession", "StoredBatch",
    "Engine", "MigrationContext", "ProgressFactory", "terminal_progress", "midnight",
]
