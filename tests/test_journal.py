"""The journal: durable, migrated, sealed, and what the loop and sync ask of it."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from kiosk.errors import JournalError
from kiosk.journal import MIGRATIONS, Journal
from kiosk.model import Identity

T0 = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.timezone.utc)
PERSON = Identity("Nguyễn Văn An", "1990-01-01", "001090123456")


def record(journal: Journal, at=T0, decision="pass", identity=None):
    return journal.record(kiosk_id="k1", venue="Cổng A", at=at, clock_synced=True, format="cccd",
                          status="valid", decision=decision, reason="checked_in", kind="identity",
                          identity=identity)


def test_wal_full_sync_and_recorded_migrations(tmp_path):
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert journal.applied_migrations() == [name for name, _ in MIGRATIONS]
        record(journal)
    with Journal(path) as again:  # reopening applies nothing twice and keeps the rows
        assert again.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert again.counts()["total"] == 1


def test_record_is_committed_and_visible_to_another_connection(tmp_path):
    with Journal(tmp_path / "j.db") as journal:
        entry = record(journal)
        other = sqlite3.connect(tmp_path / "j.db")
        row = other.execute("SELECT id, decision, kiosk_id, venue FROM entries").fetchone()
        assert row == (entry.id, "pass", "k1", "Cổng A")
        other.close()


def test_identity_sealed_never_plain(tmp_path):
    seen = []
    with Journal(tmp_path / "j.db", sealer=lambda b: seen.append(b) or b"SEALED:" + bytes(len(b))) as journal:
        record(journal, identity=PERSON)
        stored = journal.db.execute("SELECT identity FROM entries").fetchone()[0]
    assert stored.startswith(b"SEALED:") and "Nguyễn".encode() in seen[0]
    with Journal(tmp_path / "k.db") as unsealed:  # no sealer: the identity is not stored at all
        record(unsealed, identity=PERSON)
        assert unsealed.db.execute("SELECT identity FROM entries").fetchone()[0] is None
    for f in tmp_path.iterdir():
        assert "Nguyễn".encode() not in f.read_bytes()


def test_undelivered_and_mark_delivered(tmp_path):
    with Journal(tmp_path / "j.db") as journal:
        ids = [record(journal, at=T0 + dt.timedelta(seconds=i)).id for i in range(5)]
        assert journal.counts() == {"total": 5, "undelivered": 5, "oldest_undelivered": "2026-11-29T08:00:00.000Z"}
        batch = journal.undelivered(limit=3)
        assert [r["id"] for r in batch] == ids[:3]
        assert journal.mark_delivered(ids[:3] + ["not-an-id"], at="2026-11-29T09:00:00Z") == 3
        assert journal.mark_delivered(ids[:3], at="x") == 0  # idempotent
        assert [r["id"] for r in journal.undelivered(limit=10)] == ids[3:]
        assert journal.counts()["oldest_undelivered"] == "2026-11-29T08:00:03.000Z"
        assert journal.has_ids(ids + ["nope"]) == set(ids)


def test_meta(tmp_path):
    with Journal(tmp_path / "j.db") as journal:
        assert journal.get_meta("last_sync") is None
        journal.set_meta("last_sync", "2026-11-29T08:00:00Z")
        assert journal.get_meta("last_sync") == "2026-11-29T08:00:00Z"


def test_not_a_database_is_a_journal_error(tmp_path):
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError):
        Journal(path)
