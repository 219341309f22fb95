"""Benchmark: the city at city scale, on both storage engines side by side.

    .venv/bin/python benchmarks/city.py [--entries 10000000] [--sqlite-entries 1000000]
        [--http-entries 100000] [--kiosks 50,200,500] [--engines sqlite,postgresql] [--dir DIR]

It makes a city of districts. A district is 1 000 000 entries over the last 14 days: 1 000
venues with a kiosk each, 20 000 people who each visit 5 of its venues (about 50 visits each,
6 am to 10 pm), a third of them by PC-Covid code (masked document number), the rest by CCCD.
A bigger city has more districts, so the people traced at 1 M (in district 0) have the same
visits and contacts at 10 M: a trace's time at both sizes shows what the store's size costs.

How the entries get in, and what is measured, per engine:

- **Bulk build** (district after district, two processes): through the store's own ingest
  (``CityStore.ingest``, what the HTTP handler calls: validation, venue check, every identity
  opened and indexed, the engine's insert), in batches of 1 000, in-process. Building 10 M
  entries through HTTP would take hours on 2 cores; the HTTP path is measured on its own below.
  Each person's identity is sealed once by the generator and that box sent with each of their
  visits; the server opens every entry's box as it would a fresh one.
- **HTTP ingest** (``kiosk-city serve --workers 2`` in its own processes, the load generator in
  this one, on the same machine): N concurrent kiosks each post their share in batches of 100
  (a kiosk syncing every few seconds at a busy gate), for N in ``--kiosks``: entries/s, request
  latency p50/p95/max, errors, and exactly-once (every id acknowledged, the store grew by
  exactly the number sent, a re-sent batch stores nothing). Then the same batch is raced to two
  separate ``serve`` processes 30 times: answers 5xx must be 0.
- **Trace** (``kiosk-city trace`` as a process, start included): 20 people of district 0, by
  name + birth date, by document (CCCD holders) and by entry; a 14-day and a 1-day range; p50
  and p95, at 1 M and at the full size.
- **Size**: bytes on disk per entry (SQLite file + WAL; PostgreSQL database size); the server
  processes' peak RSS; the time to purge one day (the oldest).

PostgreSQL runs in a throwaway cluster from Debian's ``postgresql`` package (as the
``postgres`` user when run as root), fsync and synchronous commit on, as in production.

Aims (issue 10): trace p95 <= 1 s over 14 days at 10 M on PostgreSQL and at 1 M on SQLite, at
10 M within 2x of 1 M; PostgreSQL HTTP ingest >= 10 000 entries/s with 200 kiosks, p95 <= 2 s,
0 errors, every entry exactly once; the race: 0 answers 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync.wire import utc_iso  # noqa: E402

# $KIOSK_CITY_BENCH_DISTRICT makes districts smaller for a quick trial run (same proportions)
DISTRICT = int(os.environ.get("KIOSK_CITY_BENCH_DISTRICT", 1_000_000))
VENUES = max(10, DISTRICT // 1000)  # per district, one kiosk each
PEOPLE = max(100, DISTRICT // 50)  # per district
FAVOURITES = 5  # venues each person visits
DAYS = 14
BATCH = 1000  # bulk ingest
HTTP_BATCH = 100
TRACED = 20
FAMILY = ["NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "HUYNH", "PHAN", "VU", "VO", "DANG", "BUI", "DO", "HO", "NGO", "DUONG"]
MIDDLE = ["VAN", "THI", "HUU", "DUC", "MINH", "NGOC", "THANH", "QUANG", "XUAN", "KIM"]
GIVEN = ["AN", "BINH", "CUONG", "DUNG", "GIANG", "HA", "HAI", "HANH", "HIEU", "HOA", "HUNG", "HUONG", "KHANH", "LAN",
         "LINH", "LONG", "MAI", "MINH", "NAM", "NGA", "NGHIA", "PHONG", "PHUONG", "QUAN", "QUYNH", "SON", "TAM",
         "THAO", "THANG", "THU", "THUY", "TIEN", "TRANG", "TRUNG", "TUAN", "TUNG", "UYEN", "VAN", "VINH", "YEN"]


# ---------------------------------------------------------------------------- the city
@dataclass(frozen=True)
class Person:
    number: int  # across the city

    @property
    def rng(self) -> random.Random:
        return random.Random(f"person-{self.number}")

    def identity(self) -> dict:
        rng = self.rng
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)} {rng.choice(GIVEN)}"
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
        document = f"0{rng.randrange(10**10, 10**11)}"
        if self.pc_covid:
            document = document[:3] + "******" + document[-3:]
        return {"name": name, "birth_date": born.isoformat(), "document": document}

    @property
    def pc_covid(self) -> bool:
        return self.number % 3 == 0

    def venues(self) -> list[int]:
        district = self.number // PEOPLE
        rng = random.Random(f"venues-{self.number}")
        return [district * VENUES + v for v in rng.sample(range(VENUES), FAVOURITES)]


def kiosk_id(venue: int) -> str:
    return f"gate-{venue:05d}"


def venue_name(venue: int) -> str:
    return f"Venue {venue:05d}, district {venue // VENUES}"


def visitors(district: int) -> dict[int, list[int]]:
    """venue -> the people of the district who visit it."""
    found: dict[int, list[int]] = {}
    for number in range(district * PEOPLE, (district + 1) * PEOPLE):
        for venue in Person(number).venues():
            found.setdefault(venue, []).append(number)
    return found


def first_day(today: dt.date) -> dt.date:
    return today - dt.timedelta(days=DAYS)


def venue_entries(venue: int, people: list[int], count: int, sealed: dict[int, str], today: dt.date) -> list[dict]:
    """One venue's ``count`` entries over the 14 days before ``today``, 6 am to 10 pm."""
    rng = random.Random(f"entries-{venue}")
    start = dt.datetime.combine(first_day(today), dt.time(6), dt.timezone.utc)
    rows = []
    for _ in range(count):
        number = rng.choice(people)
        at = start + dt.timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(16 * 3600))
        person = Person(number)
        rows.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kiosk_id": kiosk_id(venue),
            "venue": venue_name(venue), "at": utc_iso(at), "clock_synced": True,
            "format": "pc-covid" if person.pc_covid else "cccd", "status": "valid", "decision": "pass",
            "reason": "checked_in", "kind": "identity", "flags": [], "identity": sealed[number], "frame_age_ms": 40.0,
        })
    return rows


def sealed_identities(numbers, seal_key: str, cache: dict[int, str]) -> dict[int, str]:
    from sync.seal import seal

    for number in numbers:
        if number not in cache:
            box = seal(json.dumps(Person(number).identity()).encode(), seal_key)
            cache[number] = base64.b64encode(box).decode()
    return cache


# ---------------------------------------------------------------------------- PostgreSQL
class Cluster:
    """A throwaway PostgreSQL cluster tuned like a small production server (fsync on)."""

    def __init__(self):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = found[-1].parent
        self.root = root = Path(tempfile.mkdtemp(prefix="kiosk-city-bench-pg-"))
        self.data, self.socket = root / "pgdata", root / "pgrun"
        self.socket.mkdir(parents=True, exist_ok=True)
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            for path in (root, self.socket):
                shutil.chown(path, "postgres")
            os.chmod(root, 0o755)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C")
        options = (f"-k {self.socket} -c listen_addresses='' -c max_connections=200 -c shared_buffers=1GB "
                   "-c max_wal_size=8GB -c checkpoint_timeout=30min -c work_mem=16MB -c maintenance_work_mem=256MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(root / "pg.log"), "-w", "-t", "120", "start")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket}"

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------- bulk build
def _build_worker(task: tuple) -> tuple[int, float]:
    """Ingest some venues' entries through CityStore.ingest in this process."""
    data, db, venues, per_venue, today_text = task
    from city.store import CityStore

    today = dt.date.fromisoformat(today_text)
    store = CityStore(data, db)
    cache: dict[int, str] = {}
    by_district: dict[int, dict[int, list[int]]] = {}
    stored, busy = 0, 0.0
    try:
        for venue in venues:
            district = venue // VENUES
            if district not in by_district:
                by_district.clear()
                by_district[district] = visitors(district)
            people = by_district[district][venue]
            sealed_identities(people, store.keys.seal_public, cache)
            rows = venue_entries(venue, people, per_venue, cache, today)
            started = time.perf_counter()
            for offset in range(0, len(rows), BATCH):
                stored += store.ingest(rows[offset:offset + BATCH], kiosk_id(venue), via="bench").stored
            busy += time.perf_counter() - started
    finally:
        store.close()
    return stored, busy


def build(data: Path, db: str | None, districts: range, today: dt.date, processes: int = 2) -> tuple[int, float]:
    """Enrol the districts' kiosks and ingest their entries; return (stored, wall seconds)."""
    from city.store import CityStore

    with CityStore(data, db, migrate=True) as store:
        for district in districts:
            for venue in range(district * VENUES, (district + 1) * VENUES):
                store.enroll(kiosk_id(venue), [venue_name(venue)])
    venues = [v for d in districts for v in range(d * VENUES, (d + 1) * VENUES)]
    # consecutive venues per task: a worker computes a district's visitors once
    size = 50
    tasks = [(str(data), db, venues[i:i + size], DISTRICT // VENUES, today.isoformat()) for i in range(0, len(venues), size)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_build_worker, tasks, chunksize=1)
    return sum(r[0] for r in results), time.perf_counter() - started


# ---------------------------------------------------------------------------- HTTP ingest
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``kiosk-city serve`` in processes of its own."""

    def __init__(self, data: Path, db: str | None, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.pop("KIOSK_CITY_DB", None)
        command = [sys.executable, "-m", "city.cli", "serve", "--data", str(data), "--listen", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--log-level", "warning", "--daily-quota", "0", "--retention-days", "0"]
        if db:
            command += ["--db", db]
        self.log = open(data / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        import requests

        for _ in range(600):
            try:
                if requests.get(self.url + "/v1/health", timeout=2).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or up but not answering yet
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        raise SystemExit(f"kiosk-city serve did not start: see {self.log.name}")

    def peak_rss(self) -> int:
        """The largest peak RSS among the server's processes (bytes)."""
        import psutil

        peak = 0
        try:
            parent = psutil.Process(self.proc.pid)
            for proc in [parent, *parent.children(recursive=True)]:
                try:
                    for line in open(f"/proc/{proc.pid}/status"):
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
                except OSError:
                    pass
        except psutil.Error:
            pass
        return peak

    def cpu_seconds(self) -> float:
        """User + system CPU so far of the server's processes."""
        return _tree_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (live ones)."""
    import psutil

    total = 0.0
    try:
        parent = psutil.Process(pid)
        for proc in [parent, *parent.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def _own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class LoadResult:
    kiosks: int
    entries: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter = field(default_factory=Counter)  # "HTTP 503", "ConnectionResetError"...
    acked: int = 0
    stored: int = 0
    grew: int = 0
    resent_stored: int = -1
    cpu: dict = field(default_factory=dict)  # seconds: server, database, load generator

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0

    @property
    def exactly_once(self) -> bool:
        return self.acked == self.entries == self.stored == self.grew and self.resent_stored == 0


def _pct(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def http_load(store, server: "Server", kiosks: int, entries: int, run: int, today: dt.date,
              database_pid: int | None) -> LoadResult:
    """``kiosks`` kiosks post ``entries`` entries concurrently, in batches of HTTP_BATCH."""
    import h11

    ids = [f"http{run}-{k:04d}" for k in range(kiosks)]
    tokens = {k: store.enroll(k, [f"Hall {k}"]) for k in ids}
    share = entries // kiosks
    cache: dict[int, str] = {}
    base = 10_000_000 + run * 100_000  # people of their own, outside the districts
    sealed_identities(range(base, base + 2000), store.keys.seal_public, cache)
    rng = random.Random(f"http-{run}")
    now = dt.datetime.now(dt.timezone.utc)
    bodies: dict[str, list[bytes]] = {}
    sent_ids: set[str] = set()
    for k in ids:
        rows = []
        for _ in range(share):
            number = base + rng.randrange(2000)
            entry_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            sent_ids.add(entry_id)
            rows.append({"id": entry_id, "kiosk_id": k, "venue": f"Hall {k}",
                         "at": utc_iso(now - dt.timedelta(seconds=rng.randrange(3600))), "clock_synced": True,
                         "format": "cccd", "status": "valid", "decision": "pass", "reason": "checked_in",
                         "kind": "identity", "flags": [], "identity": cache[number], "frame_age_ms": 40.0})
        bodies[k] = [json.dumps({"kiosk_id": k, "entries": rows[i:i + HTTP_BATCH]}).encode()
                     for i in range(0, len(rows), HTTP_BATCH)]
    url = server.url
    result = LoadResult(kiosks=kiosks, entries=share * kiosks, seconds=0.0)
    before = store.count()
    acked: set[str] = set()
    cpu_before = (server.cpu_seconds(), _tree_cpu(database_pid) if database_pid else 0.0, _own_cpu())

    async def kiosk(k: str) -> None:
        # one keep-alive connection per kiosk, HTTP/1.1 by h11 (uvicorn's own parser): a client
        # far lighter than a full one, so the load generator takes little of the machine's CPU
        host, port = url.removeprefix("http://").split(":")
        headers = [("Host", host), ("Authorization", f"Bearer {tokens[k]}"), ("Content-Type", "application/json")]
        reader = writer = None
        conn = None
        for body in bodies[k]:
            started = time.perf_counter()
            status, answer, failure = 0, b"", "no answer"
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                    conn = h11.Connection(h11.CLIENT)
                writer.write(conn.send(h11.Request(method="POST", target="/v1/entries",
                                                   headers=headers + [("Content-Length", str(len(body)))])))
                writer.write(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await asyncio.wait_for(reader.read(65536), 120))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        answer += event.data
                    elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                        break
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                else:
                    writer.close()
                    writer = None
            except (OSError, asyncio.TimeoutError, h11.ProtocolError) as exc:
                writer, failure = None, type(exc).__name__
            result.latencies.append(time.perf_counter() - started)
            if status != 200:
                result.errors += 1
                result.error_kinds[f"HTTP {status}" if status else failure] += 1
                continue
            reply = json.loads(answer)
            acked.update(reply["acked"])
            result.stored += reply["stored"]
        if writer is not None:
            writer.close()

    async def everyone() -> None:
        started = time.perf_counter()
        await asyncio.gather(*(kiosk(k) for k in ids))
        result.seconds = time.perf_counter() - started

    asyncio.run(everyone())
    cpu_after = (server.cpu_seconds(), _tree_cpu(database_pid) if database_pid else 0.0, _own_cpu())
    result.cpu = {name: after - before for name, after, before in
                  zip(("server", "database", "load generator"), cpu_after, cpu_before)}
    result.acked = len(acked & sent_ids)
    result.grew = store.count() - before
    # a kiosk that lost the reply sends the batch again: nothing more is stored
    import requests

    again = requests.post(url + "/v1/entries", data=bodies[ids[0]][0], timeout=60,
                          headers={"Authorization": f"Bearer {tokens[ids[0]]}", "Content-Type": "application/json"})
    result.resent_stored = again.json().get("stored", -1) if again.ok else -1
    return result


def race(store, first: Server, second: Server, rounds: int = 30) -> tuple[int, int, int]:
    """The same batch posted to two serve processes at once, ``rounds`` times:
    (answers 5xx, other non-200 answers, rounds not stored exactly once)."""
    import httpx

    token = store.enroll("race-kiosk", ["Race hall"])
    cache: dict[int, str] = {}
    sealed_identities(range(20_000_000, 20_000_050), store.keys.seal_public, cache)
    now = utc_iso(dt.datetime.now(dt.timezone.utc))
    server_errors = other = wrong = 0

    async def one_round(client: httpx.AsyncClient) -> None:
        nonlocal server_errors, other, wrong
        rows = [{"id": str(uuid.uuid4()), "kiosk_id": "race-kiosk", "venue": "Race hall", "at": now, "clock_synced": True,
                 "format": "cccd", "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity",
                 "flags": [], "identity": cache[20_000_000 + i], "frame_age_ms": 1.0} for i in range(50)]
        body = json.dumps({"entries": rows}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        replies = await asyncio.gather(*(client.post(s.url + "/v1/entries", content=body, headers=headers)
                                         for s in (first, second)), return_exceptions=True)
        stored = 0
        for reply in replies:
            if isinstance(reply, Exception):
                other += 1
            elif reply.status_code >= 500:
                server_errors += 1
            elif reply.status_code != 200:
                other += 1
            else:
                stored += reply.json()["stored"]
        if stored != len(rows):
            wrong += 1

    async def rounds_all() -> None:
        async with httpx.AsyncClient(timeout=60.0) as client:
            for _ in range(rounds):
                await one_round(client)

    asyncio.run(rounds_all())
    return server_errors, other, wrong


# ---------------------------------------------------------------------------- tracing
@dataclass
class Traced:
    person: Person
    identity: dict
    entry_id: str
    day: dt.date


def choose_traced(store, today: dt.date) -> list[Traced]:
    """TRACED people of district 0 (two thirds CCCD holders), with one of their entries."""
    from city.trace import Person as Who, trace

    since, until = utc_iso(dt.datetime.combine(first_day(today), dt.time(), dt.timezone.utc)), \
        utc_iso(dt.datetime.combine(today, dt.time(), dt.timezone.utc))
    chosen = []
    for number in random.Random("traced").sample(range(PEOPLE), TRACED):
        identity = Person(number).identity()
        found = trace(store, Who(name=identity["name"], birth_date=identity["birth_date"]), since, until, 15.0)
        visit = found.visits[len(found.visits) // 2]
        chosen.append(Traced(Person(number), identity, visit["id"], dt.date.fromisoformat(visit["at"][:10])))
    return chosen


def time_traces(data: Path, db: str | None, traced: list[Traced], today: dt.date) -> dict[str, list[float]]:
    """Wall seconds of ``kiosk-city trace`` processes: key (how, range) -> one time per person;
    beside them (``in-process ...``) the same traces called in this process, and (``start-up``)
    a process that only imports what ``kiosk-city trace`` imports and opens the store."""
    from city.store import CityStore
    from city.trace import Person as Who, parse_bound, trace

    startup = [sys.executable, "-c", "import sys; from city.cli import main; from city.store import CityStore; "
               "from city.trace import trace; CityStore(sys.argv[1], sys.argv[2] or None).close()", str(data), db or ""]
    env = dict(os.environ)
    env.pop("KIOSK_CITY_DB", None)
    base = [sys.executable, "-m", "city.cli", "trace", "--data", str(data), "--json"] + (["--db", db] if db else [])
    times: dict[str, list[float]] = {}
    store = CityStore(data, db)
    for person in traced:
        started = time.perf_counter()
        subprocess.run(startup, check=True, env=env)
        times.setdefault("start-up", []).append(time.perf_counter() - started)
        ranges = {"14 days": ["--from", first_day(today).isoformat(), "--to", (today - dt.timedelta(days=1)).isoformat()],
                  "1 day": ["--from", person.day.isoformat(), "--to", person.day.isoformat()]}
        hows = {"name + birth date": ["--name", person.identity["name"], "--birth-date", person.identity["birth_date"]],
                "entry": ["--entry", person.entry_id]}
        if not person.person.pc_covid:
            hows["document"] = ["--document", person.identity["document"]]
        for how, who in hows.items():
            for span, bounds in ranges.items():
                started = time.perf_counter()
                done = subprocess.run(base + who + bounds, capture_output=True, text=True, env=env)
                elapsed = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"kiosk-city trace failed: {done.stderr.strip()}")
                times.setdefault(f"{how}, {span}", []).append(elapsed)
                since, until = parse_bound(bounds[1]), parse_bound(bounds[3], end=True)
                who_person = None if how == "entry" else Who(
                    name=person.identity["name"] if how != "document" else "",
                    birth_date=person.identity["birth_date"] if how != "document" else "",
                    document=person.identity["document"] if how == "document" else "")
                started = time.perf_counter()
                trace(store, who_person, since, until, 15.0, entry_id=person.entry_id if how == "entry" else None)
                times.setdefault(f"in-process {how}, {span}", []).append(time.perf_counter() - started)
                times.setdefault(f"contacts {how}, {span}", []).append(len(done.stdout.splitlines()))
    store.close()
    return times


# ---------------------------------------------------------------------------- sizes
def bytes_per_entry(data: Path, db: str | None, count: int) -> float:
    if db is None:
        size = sum(p.stat().st_size for p in data.glob("city.db*"))
    else:
        import psycopg

        with psycopg.connect(db) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size / count if count else float("nan")


def purge_one_day(data: Path, db: str | None, today: dt.date) -> tuple[float, int]:
    from city.store import CityStore

    with CityStore(data, db, retention_days=DAYS - 1) as store:
        before = store.count()
        started = time.perf_counter()
        store.purge(dt.datetime.combine(today, dt.time(1), dt.timezone.utc))
        seconds = time.perf_counter() - started
        return seconds, before - store.count()


# ---------------------------------------------------------------------------- one engine
def run_engine(engine: str, work: Path, args, report: dict, today: dt.date, cluster: Cluster | None) -> None:
    from city.store import CityStore

    data = work / engine
    data.mkdir(parents=True, exist_ok=True)
    db = cluster.new_database("city_bench") if engine == "postgresql" else None
    total = args.entries if engine == "postgresql" else args.sqlite_entries
    col = report.setdefault(engine, {})
    say = lambda text: print(f"[{engine}] {text}", flush=True)  # noqa: E731

    stored, seconds = build(data, db, range(0, 1), today)
    col["bulk 1M"] = f"{stored / seconds:,.0f}/s"
    say(f"district 0 built: {stored:,} entries in {seconds:.0f} s ({stored / seconds:,.0f} entries/s in-process)")
    with CityStore(data, db) as store:
        traced = choose_traced(store, today)
        count = store.count()
    first = _millions(count)
    col[f"size {first}"] = f"{bytes_per_entry(data, db, count):,.0f} B"
    col[f"traces {first}"] = time_traces(data, db, traced, today)
    say(f"traced at {first} entries")

    server = Server(data, db)
    second = Server(data, db, workers=1)
    try:
        with CityStore(data, db) as store:
            for run, kiosks in enumerate(args.kiosks):
                result = http_load(store, server, kiosks, args.http_entries, run, today,
                                   cluster.pid() if cluster and db else None)
                col[f"http {run}"] = result  # by run: the same number of kiosks may run again
                say(f"HTTP, {kiosks} kiosks: {result.rate:,.0f} entries/s, p95 {_pct(result.latencies, .95):.2f} s, "
                    f"{result.errors} errors{f' {dict(result.error_kinds)}' if result.errors else ''}, "
                    f"exactly once: {result.exactly_once}")
            col["race"] = race(store, server, second)
        col["rss"] = server.peak_rss()
    finally:
        server.stop()
        second.stop()

    districts = max(1, total // DISTRICT)
    if districts > 1:
        stored, seconds = build(data, db, range(1, districts), today)
        say(f"districts 1-{districts - 1} built: {stored:,} entries in {seconds:.0f} s")
        col["bulk rest"] = f"{stored / seconds:,.0f}/s"
        with CityStore(data, db) as store:
            count = store.count()
        size = _millions(count)
        col[f"size {size}"] = f"{bytes_per_entry(data, db, count):,.0f} B"
        col[f"traces {size}"] = time_traces(data, db, traced, today)
        say(f"traced at {size} entries")
    seconds, removed = purge_one_day(data, db, today)
    col["purge"] = f"{seconds:.1f} s ({removed:,} entries)"
    say(f"purged one day: {removed:,} entries in {seconds:.1f} s")


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M"


def print_report(report: dict, args) -> None:
    engines = list(report)
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, cell) -> None:
        rows.append((label, [cell(report[e]) for e in engines]))

    add("bulk ingest (in-process, 2 processes), district 0", lambda c: c.get("bulk 1M", "-"))
    add("bulk ingest, the other districts", lambda c: c.get("bulk rest", "-"))
    for run, kiosks in enumerate(args.kiosks):
        def http(c, k=run):
            r = c.get(f"http {k}")
            if r is None:
                return "-"
            return (f"{r.rate:,.0f}/s p50 {_pct(r.latencies, .5):.2f} p95 {_pct(r.latencies, .95):.2f} "
                    f"max {max(r.latencies):.2f} s, {r.errors} err, once: {'yes' if r.exactly_once else 'NO'}")
        add(f"HTTP ingest, {kiosks} kiosks x batches of {HTTP_BATCH}", http)

        def cpu(c, k=run):
            r = c.get(f"http {k}")
            if r is None or not r.cpu:
                return "-"
            per = {name: seconds / r.entries * 1e6 for name, seconds in r.cpu.items()}
            total = sum(per.values())
            return (" + ".join(f"{name} {us:,.0f}" for name, us in per.items()) +
                    f" us CPU/entry: 2 idle cores ~ {2e6 / total:,.0f}/s")
        add(f"  CPU per entry, {kiosks} kiosks", cpu)
    add("same batch raced to 2 servers x30: 5xx / other / not once", lambda c: "%d / %d / %d" % c["race"] if "race" in c else "-")
    add("server peak RSS (largest process)", lambda c: f"{c['rss'] / 2**20:,.0f} MB" if "rss" in c else "-")
    sizes = sorted({k.split()[1] for e in engines for k in report[e] if k.startswith("traces ")}, key=lambda s: float(s[:-1]))
    for size in sizes:
        add(f"bytes per entry at {size}", lambda c, s=size: c.get(f"size {s}", "-"))
        keys = [k for k in next(iter(report[e][f"traces {size}"] for e in engines if f"traces {size}" in report[e]))
                if not k.startswith("contacts")]
        for key in keys:
            def cell(c, s=size, k=key):
                times = c.get(f"traces {s}", {}).get(k)
                if not times:
                    return "-"
                contacts = c[f"traces {s}"].get("contacts " + k)
                found = f" ({statistics.mean(contacts):.0f} contacts)" if contacts else ""
                return f"p50 {_pct(times, .5):.3f} p95 {_pct(times, .95):.3f} s{found}"
            add(f"trace at {size}, {key}", cell)
    add("purge one day", lambda c: c.get("purge", "-"))
    width = max(len(label) for label, _ in rows)
    cols = [max(len(e), *(len(cells[i]) for _, cells in rows)) for i, e in enumerate(engines)]
    print()
    print(" " * width + " | " + " | ".join(e.ljust(w) for e, w in zip(engines, cols)))
    print("-" * (width + sum(cols) + 3 * len(cols)))
    for label, cells in rows:
        print(label.ljust(width) + " | " + " | ".join(c.ljust(w) for c, w in zip(cells, cols)))
    print()
    print("Bulk ingest runs CityStore.ingest in-process (validation, venue check, each identity opened and "
          "indexed, the engine's insert); HTTP ingest goes through `kiosk-city serve --workers 2`, the load "
          "generator in this process. Traces are `kiosk-city trace` processes, start-up included.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10 * DISTRICT, help="PostgreSQL city size (default 10 M)")
    parser.add_argument("--sqlite-entries", type=int, default=DISTRICT, help="SQLite city size (default 1 M)")
    parser.add_argument("--http-entries", type=int, default=100_000, help="entries per HTTP run (default 100 000)")
    parser.add_argument("--kiosks", type=lambda t: [int(x) for x in t.split(",")], default=[50, 200, 500],
                        help="concurrent kiosks per HTTP run (default 50,200,500)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed at the end)")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="kiosk-city-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    report: dict = {}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    cluster = Cluster() if "postgresql" in engines else None
    try:
        for engine in engines:
            run_engine(engine, work, args, report, today, cluster)
    finally:
        if cluster is not None:
            cluster.stop()
        print_report(report, args)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
