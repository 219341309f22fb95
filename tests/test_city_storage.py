"""The city's store on both engines: migrations, the blind index against a full scan, retention,
and ingest raced across processes."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import random
import sqlite3
import sys
import threading
import unicodedata
import uuid

import pytest
import requests

from city.cli import main as kiosk_city_main
from city.storage.migrations import MIGRATIONS
from city.store import CityStore, InvalidBatch
from city.trace import Person, trace
from sync.progress import progress as terminal_bar
from sync.seal import seal
from sync.wire import parse_iso, utc_iso

from serving_helpers import free_port, serve, wait_up

NOW = dt.datetime.now(dt.timezone.utc)
VENUES = ["Office A", "Market"]


def wire_entry(kiosk_id: str, seal_key: str | None, at: dt.datetime, venue: str = "Office A", **identity) -> dict:
    sealed = None
    if seal_key is not None:
        sealed = base64.b64encode(seal(json.dumps(identity, ensure_ascii=False).encode(), seal_key)).decode()
    return {"id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue": venue, "at": utc_iso(at), "clock_synced": True,
            "format": "pc-covid", "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity",
            "flags": [], "identity": sealed, "frame_age_ms": None}


# ---------------------------------------------------------------------------- today's scan, as a reference
def _old_normalise(name: str) -> str:
    text = name.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace(",", " ").upper().split())


def _old_matches(person: Person, identity: dict | None) -> bool:
    """Person.matches as the scan of commit 6423af3 wrote it."""
    if not identity:
        return False
    document = "".join((identity.get("document") or "").split()).upper()
    if person.document and document and "*" not in document and document == "".join(person.document.split()).upper():
        return True
    if not person.name or _old_normalise(identity.get("name") or "") != _old_normalise(person.name):
        return False
    other = identity.get("birth_date") or ""
    if person.birth_date and other:
        return person.birth_date.startswith(other) or other.startswith(person.birth_date)
    return True


def scan_trace(store: CityStore, person: Person, since: str, until: str, minutes: float):
    """The trace of commit 6423af3: open every identity in the range."""
    visits = [row for row in store.iter_entries(since=since, until=until) if _old_matches(person, row.get("identity"))]
    window = dt.timedelta(minutes=minutes)
    contacts: dict[str, tuple[str, float]] = {}
    visit_ids = {visit["id"] for visit in visits}
    for visit in visits:
        at = parse_iso(visit["at"])
        for row in store.iter_entries(venue=visit["venue"], since=utc_iso(at - window),
                                      until=utc_iso(at + window + dt.timedelta(milliseconds=1))):
            if row["id"] in visit_ids or _old_matches(person, row.get("identity")):
                continue
            apart = round(abs((parse_iso(row["at"]) - at).total_seconds()) / 60, 2)
            held = contacts.get(row["id"])
            if held is None or apart < held[1]:
                contacts[row["id"]] = (visit["id"], apart)
    return [v["id"] for v in visits], sorted(contacts.items())


NAMES = ["NGUYEN VAN AN", "Nguyễn Văn An", "Trần Thị Bích Ngọc", "TRAN THI BICH NGOC", "Lê Hoàng Long", "Đặng Thu Hà"]
BIRTHS = ["1990-05-01", "1990", "1990-05", "", "1985-03-02", "1985"]


def test_the_index_finds_exactly_what_opening_everything_finds(tmp_path, city_db):
    rng = random.Random(10)
    store = CityStore(tmp_path / "city", city_db, migrate=True)
    try:
        store.enroll("k1", VENUES)
        start = dt.datetime(2021, 7, 1, 8, tzinfo=dt.timezone.utc)
        batch = []
        for _ in range(400):
            name, birth = rng.choice(NAMES), rng.choice(BIRTHS)
            document = rng.choice(["001090000001", "0010 9000 0001", "0010******01", "", f"00{rng.randint(1, 5)}"])
            at = start + dt.timedelta(minutes=rng.randint(0, 6 * 24 * 60))
            if rng.random() < 0.05:
                batch.append(wire_entry("k1", None, at))  # no identity
            else:
                batch.append(wire_entry("k1", store.keys.seal_public, at, venue=rng.choice(["Office A", "Market"]),
                                        name=name, birth_date=birth, document=document))
        assert store.ingest(batch, "k1").stored == 400
        people = [Person(name=n, birth_date=b) for n in NAMES for b in ["", "1990", "1990-05-01", "1985-03", "19"]]
        people += [Person(document=d) for d in ["001090000001", "0010******01", "003", "nope"]]
        people += [Person(name="NGUYEN VAN AN", birth_date="1990-05-01", document="002")]
        since, until = utc_iso(start + dt.timedelta(days=1)), utc_iso(start + dt.timedelta(days=4))
        compared = 0
        for person in people:
            found = trace(store, person, since, until, 20)
            expected = scan_trace(store, person, since, until, 20)
            assert ([v["id"] for v in found.visits],
                    sorted((c.entry["id"], (c.index_entry, c.minutes_apart)) for c in found.contacts)) == expected, person
            compared += len(expected[0])
        assert compared > 50  # the comparison covered real visits
        # it opens the person's candidates and their contacts, not the store
        small = trace(store, Person(name="Đặng Thu Hà", birth_date="1985-03-02"), since, until, 1)
        assert 0 < len(small.visits) <= small.opened < 60
    finally:
        store.close()


# ---------------------------------------------------------------------------- migrations
OLD_SCHEMA = """
CREATE TABLE kiosks (id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
    last_seen TEXT, heartbeat TEXT);
CREATE TABLE entries (id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, venue TEXT NOT NULL, at TEXT NOT NULL,
    clock_synced INTEGER NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL, decision TEXT NOT NULL,
    reason TEXT NOT NULL, kind TEXT NOT NULL, flags TEXT NOT NULL, identity BLOB, frame_age_ms REAL,
    received_at TEXT NOT NULL, via TEXT NOT NULL);
CREATE INDEX entries_venue_at ON entries(venue, at);
CREATE INDEX entries_kiosk_at ON entries(kiosk_id, at);
CREATE TABLE bundles (kind TEXT PRIMARY KEY, version INTEGER NOT NULL, envelope BLOB NOT NULL, etag TEXT NOT NULL,
    published_at TEXT NOT NULL);
CREATE TABLE imports (export_id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, imported_at TEXT NOT NULL,
    entries INTEGER NOT NULL, stored INTEGER NOT NULL);
"""


def test_a_city_db_of_the_first_server_upgrades_in_place(tmp_path, capsys):
    """city.db as commit 6423af3 made it (its schema, rows as its ingest wrote them) -> migrate."""
    data = tmp_path / "city"
    keys = CityStore(data, migrate=False)  # makes the keys only: city.db stays empty
    seal_key = keys.keys.seal_public
    keys.close()
    (data / "city.db").unlink()
    db = sqlite3.connect(data / "city.db")
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO kiosks VALUES ('k1', 'x', '2021-07-01T00:00:00.000Z', NULL, NULL)")
    t0 = dt.datetime(2021, 7, 20, 9, tzinfo=dt.timezone.utc)
    people = [("Phạm Minh Đức", "1985-03-02", "001085000777"), ("LE HOANG LONG", "1990", "1")]
    rows = []
    for i in range(30):
        name, birth, document = people[i % 2]
        identity = json.dumps({"name": name, "birth_date": birth, "document": document}).encode()
        rows.append((str(uuid.uuid4()), "k1", "Office A", utc_iso(t0 + dt.timedelta(minutes=i)), 1, "pc-covid",
                     "valid", "pass", "checked_in", "identity", "", seal(identity, seal_key), None,
                     "2021-07-20T10:00:00.000Z", "sync"))
    db.executemany("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()

    # the other commands refuse an old database and say what to do
    assert kiosk_city_main(["entries", "--data", str(data)]) == 2
    assert "run 'kiosk-city migrate'" in capsys.readouterr().err
    assert kiosk_city_main(["migrate", "--data", str(data)]) == 0
    assert "from version 1 to" in capsys.readouterr().out
    assert kiosk_city_main(["migrate", "--data", str(data)]) == 0
    assert "up to date" in capsys.readouterr().out

    with CityStore(data) as store:
        assert store.count() == 30
        assert [(k["id"], k["entries"]) for k in store.kiosks()] == [("k1", 30)]  # counted in the migration
        versions = [r[0] for r in store.engine.query("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in MIGRATIONS]
        found = trace(store, Person(name="PHAM MINH DUC", birth_date="1985"), "2021-07-19T00:00:00.000Z",
                      "2021-07-21T00:00:00.000Z", 1)
        assert [v["id"] for v in found.visits] == [r[0] for r in rows[0::2]]
        assert {c.entry["identity"]["name"] for c in found.contacts} == {"LE HOANG LONG"}


def index_hashes(store) -> int:
    """Blind-index hashes the store holds: rows of entry_index (SQLite), filled slots (PostgreSQL)."""
    if store.engine.name == "postgresql":
        return store.engine.query("SELECT COUNT(hash1) + COUNT(hash2) + COUNT(hash3) + COUNT(hash4) FROM entries")[0][0]
    return store.engine.query("SELECT COUNT(*) FROM entry_index")[0][0]


def test_stores_without_the_index_get_it_in_the_migration(tmp_path, city_db):
    """A store at version 1 on either engine: the migration indexes what it holds."""
    from city.storage import open_engine

    data = tmp_path / "city"
    with CityStore(data, city_db, migrate=True) as store:  # keys, and the entries to move back
        store.enroll("k1", VENUES)
        t0 = dt.datetime(2021, 7, 20, 9, tzinfo=dt.timezone.utc)
        batch = [wire_entry("k1", store.keys.seal_public, t0 + dt.timedelta(minutes=i), name=f"NGUYEN VAN {i % 3}",
                            birth_date="1990-01-01", document="") for i in range(12)]
        store.ingest(batch, "k1")
        if city_db:  # PostgreSQL keeps the hashes in the entries' rows (migration 6)
            store.engine.execute("UPDATE entries SET hash1 = NULL, hash2 = NULL, hash3 = NULL, hash4 = NULL")
        else:
            store.engine.execute("DELETE FROM entry_index")
        assert index_hashes(store) == 0
        store.engine.execute("DELETE FROM schema_migrations WHERE version >= 2")
        assert store.engine.schema_version() == 1
    assert MIGRATIONS[1].version == 2
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    with CityStore(data, city_db, migrate=True,
                   progress=lambda label, total: terminal_bar(total, label, stream=stream)) as store:
        found = trace(store, Person(name="nguyen van 1"), "2021-07-20T00:00:00.000Z", "2021-07-21T00:00:00.000Z", 0)
        assert [v["id"] for v in found.visits] == [e["id"] for e in batch[1::3]]
        assert index_hashes(store) == 12 * 3  # name + birth, name + year, name
    drawn = stream.getvalue()  # the kiosk's tqdm bar (sync.progress): the count, and elapsed<remaining
    assert "indexing stored identities: 100%" in drawn and "12/12 [" in drawn and "<" in drawn, drawn
    engine = open_engine(data, city_db)
    try:
        assert engine.schema_version() == MIGRATIONS[-1].version
    finally:
        engine.close()


# ---------------------------------------------------------------------------- retention
def test_a_postgresql_store_with_index_rows_gets_them_moved_into_its_entries(tmp_path, city_db):
    """A store of the version before 6 (four rows of the day-partitioned entry_index an entry):
    migration 6 moves the hashes into each entry's slots, drops the table, and a trace finds the
    same visits."""
    if not city_db:
        pytest.skip("SQLite keeps entry_index")
    data = tmp_path / "city"
    days = [NOW - dt.timedelta(days=d) for d in (0, 2)]
    with CityStore(data, city_db, migrate=True) as store:
        store.enroll("k1", VENUES)
        key = store.keys.seal_public
        batch = [wire_entry("k1", key, days[i % 2] - dt.timedelta(minutes=i), name=f"LE VAN {i % 3}",
                            birth_date="1988-02-03", document=f"00108800{i:04d}") for i in range(12)]
        store.ingest(batch, "k1")
        rows = [(digest, parse_iso(entry["at"]), entry["id"]) for entry in batch
                for digest in store.index_sealed(base64.b64decode(entry["identity"]))]
        assert len(rows) == 12 * 4
        engine = store.engine
        engine.execute("UPDATE entries SET hash1 = NULL, hash2 = NULL, hash3 = NULL, hash4 = NULL")
        engine.execute("CREATE TABLE entry_index (hash bytea NOT NULL, at timestamptz NOT NULL, entry_id uuid NOT NULL, "
                       "PRIMARY KEY (hash, at, entry_id)) PARTITION BY RANGE (at)")
        for day in {moment.date() for moment in days}:
            after = day + dt.timedelta(days=1)
            engine.execute(f"CREATE TABLE entry_index_p{day:%Y%m%d} PARTITION OF entry_index "
                           f"FOR VALUES FROM ('{day}T00:00:00Z') TO ('{after}T00:00:00Z')")
        for row in rows:
            engine.execute("INSERT INTO entry_index VALUES (?, ?, ?)", list(row))
        engine.execute("DELETE FROM schema_migrations WHERE version >= 6")
    with CityStore(data, city_db, migrate=True) as store:
        assert store.engine.query("SELECT to_regclass('entry_index')") == [(None,)]
        assert index_hashes(store) == 12 * 4
        since, until = utc_iso(NOW - dt.timedelta(days=3)), utc_iso(NOW + dt.timedelta(minutes=1))
        found = trace(store, Person(name="Lê Văn 1", birth_date="1988-02-03"), since, until, 0)
        assert sorted(v["id"] for v in found.visits) == sorted(e["id"] for e in batch[1::3])
        by_document = trace(store, Person(document="001088000004"), since, until, 0)
        assert [v["id"] for v in by_document.visits] == [batch[4]["id"]]


def test_a_hash_matching_by_chance_costs_an_opening_not_a_wrong_answer(tmp_path, city_db):
    """Another person's entry whose stored hash equals one the trace looks up (PostgreSQL keeps 8
    bytes of each hash: two identifiers can share them) is opened and left out."""
    with CityStore(tmp_path / "city", city_db, migrate=True) as store:
        store.enroll("k1", VENUES)
        key = store.keys.seal_public
        mine = wire_entry("k1", key, NOW - dt.timedelta(hours=2), name="TRAN THI MAI", birth_date="1985-03-04")
        other = wire_entry("k1", key, NOW - dt.timedelta(hours=5), name="PHAM VAN NAM", birth_date="1970-01-01")
        store.ingest([mine, other], "k1")
        person = Person(name="Trần Thị Mai", birth_date="1985-03-04")
        looked_up = store.index.for_person(person)
        if city_db:  # the other entry's first slot made to equal a hash the trace asks for
            from city.storage.postgres import _slot
            store.engine.execute("UPDATE entries SET hash1 = ? WHERE id = ?", [_slot(looked_up[0]), other["id"]])
        else:
            store.engine.execute("INSERT INTO entry_index (hash, at, entry_id) VALUES (?, ?, ?)",
                                 [looked_up[0], utc_iso(parse_iso(other["at"])), other["id"]])
        since, until = utc_iso(NOW - dt.timedelta(days=1)), utc_iso(NOW + dt.timedelta(minutes=1))
        assert {row["id"] for row in store.engine.entries_by_hashes(looked_up, since, until)} == {mine["id"], other["id"]}
        found = trace(store, person, since, until, 15)
        assert [visit["id"] for visit in found.visits] == [mine["id"]]
        assert found.opened == 2


def test_retention_drops_whole_days_past_the_window_and_never_one_inside(tmp_path, city_db):
    with CityStore(tmp_path / "city", city_db, migrate=True, retention_days=21) as store:
        store.enroll("k1", VENUES)
        key = store.keys.seal_public
        start = store.retention_start()
        assert start == (NOW - dt.timedelta(days=21)).replace(hour=0, minute=0, second=0, microsecond=0)
        late = wire_entry("k1", key, start - dt.timedelta(milliseconds=1), name="A")
        first_kept = wire_entry("k1", key, start, name="B")
        recent = [wire_entry("k1", key, NOW - dt.timedelta(days=d), name="C") for d in (0, 3, 10)]
        result = store.ingest([late, first_kept, *recent], "k1")
        assert result.acked == [e["id"] for e in [late, first_kept, *recent]]  # acknowledged, all
        assert (result.stored, result.expired, result.duplicates) == (4, 1, 0)
        again = store.ingest([late, first_kept], "k1")
        assert (again.stored, again.expired, again.duplicates) == (0, 1, 1)
        ids = lambda: {row["id"] for row in store.iter_entries(identities=False)}  # noqa: E731
        assert ids() == {first_kept["id"], *(e["id"] for e in recent)}
        counted = lambda: {k["id"]: k["entries"] for k in store.kiosks()}["k1"]  # noqa: E731 - kept, not counted
        assert counted() == 4

        assert store.purge() == 0  # nothing has left the window yet
        removed = store.purge(now=NOW + dt.timedelta(days=1))  # a day later: first_kept's day has gone
        assert removed == 1 and ids() == {e["id"] for e in recent} and counted() == 3
        # the index went with it (two hashes an identity here: name + no birth date, name)
        assert index_hashes(store) == 6
        if city_db:  # and their ids (PostgreSQL's entry_ids)
            assert store.engine.query("SELECT COUNT(*) FROM entry_ids") == [(3,)]
        assert store.purge(now=NOW + dt.timedelta(days=11)) == 0  # the day of NOW - 10 days is still inside
        assert store.purge(now=NOW + dt.timedelta(days=12)) == 1
        assert ids() == {e["id"] for e in recent[:2]} and counted() == 2
        assert store.purge(now=NOW + dt.timedelta(days=12)) == 0


# ---------------------------------------------------------------------------- reads never hold up writes
def test_a_paused_listing_holds_no_read_transaction(tmp_path):
    with CityStore(tmp_path / "city", migrate=True) as store:
        store.enroll("k1", VENUES)
        store.ingest([wire_entry("k1", store.keys.seal_public, NOW, name=f"P {i}") for i in range(2500)], "k1")
        listing = store.iter_entries(identities=False)
        next(listing)  # a listing (or trace) paused between pages, e.g. printing to a slow terminal
        done = threading.Event()
        threading.Thread(target=lambda: (store.ingest([wire_entry("k1", None, NOW)], "k1"), done.set())).start()
        assert done.wait(timeout=30)
        busy, _, _ = sqlite3.connect(tmp_path / "city" / "city.db").execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0  # the WAL could be reset: no reader holds a snapshot
        assert sum(1 for _ in listing) == 2500


# ---------------------------------------------------------------------------- two processes, one batch
@pytest.mark.slow
def test_the_same_batch_raced_to_two_serve_processes_is_stored_once_and_acked_by_both(tmp_path, city_db):
    """Two `serve` processes on one database (one of them with two workers), the same batch sent
    to both at the same moment, 30 times. They also purge what is past the retention window."""
    data = tmp_path / "city"
    with CityStore(data, city_db, migrate=True) as store:
        token = store.enroll("k1", VENUES)
        seal_key = store.keys.seal_public
        expired = wire_entry("k1", seal_key, NOW - dt.timedelta(days=40), name="LONG AGO")
        assert store.ingest([expired], "k1").stored == 1  # this store keeps everything
    ports = [free_port(), free_port()]
    procs = [serve(data, ports[0], "--workers", "2"), serve(data, ports[1], "--retention-days", "21")]
    try:
        for port, proc in zip(ports, procs):
            wait_up(port, proc)
        sent: set[str] = set()
        statuses: list[int] = []
        session = [requests.Session(), requests.Session()]
        for round_ in range(30):
            batch = [wire_entry("k1", seal_key, NOW - dt.timedelta(seconds=i), name=f"VISITOR {round_} {i}")
                     for i in range(40)]
            sent |= {e["id"] for e in batch}
            replies: list = [None, None]
            barrier = threading.Barrier(2)

            def send(which: int) -> None:
                barrier.wait()
                replies[which] = session[which].post(f"http://127.0.0.1:{ports[which]}/v1/entries", timeout=30,
                                                     json={"entries": batch}, headers={"Authorization": f"Bearer {token}"})

            threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            statuses += [reply.status_code for reply in replies]
            assert all(reply.status_code == 200 for reply in replies), [r.text for r in replies]
            assert all(reply.json()["acked"] == [e["id"] for e in batch] for reply in replies)
            assert sum(reply.json()["stored"] for reply in replies) == 40
        late = requests.post(f"http://127.0.0.1:{ports[1]}/v1/entries", json={"entries": [expired]}, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        assert late.status_code == 200 and late.json() == {"acked": [expired["id"]], "stored": 0, "duplicates": 0,
                                                           "expired": 1}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
    assert statuses == [200] * 60
    with CityStore(data, city_db) as store:
        assert store.get_entry(expired["id"]) is None  # purged at start
        assert store.count() == len(sent) == 1200
        assert {row["id"] for row in store.iter_entries(identities=False)} == sent


def test_the_migrations_progress_is_the_one_of_sync_progress(monkeypatch):
    """One progress bar in the project (sync.progress, tqdm): a migration's default draws with it,
    on a terminal only."""
    from city.storage.base import MigrationContext

    bar = MigrationContext(index_sealed=lambda sealed: ())
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", tty)
    drawing = bar.progress("indexing", 4)
    for _ in range(4):
        drawing.update(1)
    drawing.close()
    assert "indexing: 100%" in tty.getvalue() and "4/4 [" in tty.getvalue(), tty.getvalue()
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    drawing = bar.progress("indexing", 4)
    drawing.update(4)
    drawing.close()
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------------------- one table of ids (migration 5)
def test_stores_from_before_the_table_of_ids_get_it_in_the_migration(tmp_path, city_db):
    """PostgreSQL tells a stored id from entry_ids (migration 5): an existing store's ids go
    into it, so a re-sent entry is a duplicate and another kiosk's id is refused after the upgrade."""
    data = tmp_path / "city"
    with CityStore(data, city_db, migrate=True) as store:
        store.enroll("k1", VENUES)
        store.enroll("k2", VENUES)
        key = store.keys.seal_public
        batch = [wire_entry("k1", key, NOW - dt.timedelta(days=d, minutes=d), name=f"P {d}") for d in range(5)]
        assert store.ingest(batch, "k1").stored == 5
        if city_db:
            store.engine.execute("DROP TABLE entry_ids")
        store.engine.execute("DELETE FROM schema_migrations WHERE version >= 5")
    with CityStore(data, city_db, migrate=True) as store:
        if city_db:
            assert store.engine.query("SELECT COUNT(*) FROM entry_ids") == [(5,)]
        again = store.ingest(batch[1:3], "k1")
        assert (again.stored, again.duplicates) == (0, 2)
        with pytest.raises(InvalidBatch) as refused:
            store.ingest([dict(batch[4], kiosk_id="k2")], "k2")
        assert "another kiosk" in refused.value.refused[0].problem
        assert store.count() == 5


def test_an_entry_stored_without_its_id_row_is_still_stored_once(tmp_path, city_db):
    """An entry written without its entry_ids row (by a program from before it) is neither stored
    twice nor answered with an error when it comes again, nor taken by another kiosk."""
    with CityStore(tmp_path / "city", city_db, migrate=True) as store:
        store.enroll("k1", VENUES)
        store.enroll("k2", VENUES)
        batch = [wire_entry("k1", store.keys.seal_public, NOW - dt.timedelta(minutes=i), name="A") for i in range(3)]
        store.ingest(batch, "k1")
        if city_db:
            store.engine.execute("DELETE FROM entry_ids")
        with pytest.raises(InvalidBatch) as refused:
            store.ingest([dict(batch[0], kiosk_id="k2")], "k2")
        assert "another kiosk" in refused.value.refused[0].problem
        again = store.ingest([*batch, wire_entry("k1", None, NOW)], "k1")
        assert (again.stored, again.duplicates) == (1, 3)
        assert store.count() == 4
        assert store.stored_on("k1", NOW.date().isoformat()) == 4


def test_serve_opens_every_pooled_connection_at_start(tmp_path, postgres_cluster):
    """`kiosk-city serve` fills its pool before the first upload (not one connection at a time
    while uploads wait for them)."""
    import psycopg

    from city.storage.postgres import POOL_SIZE

    url = postgres_cluster.new_database()
    data = tmp_path / "city"
    CityStore(data, url, migrate=True).close()
    port = free_port()
    proc = serve(data, port, "--db", url)
    try:
        wait_up(port, proc)
        with psycopg.connect(url) as conn:
            others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                  " AND pid <> pg_backend_pid()").fetchone()[0]
        assert others == POOL_SIZE
    finally:
        proc.terminate()
        proc.wait(timeout=30)
