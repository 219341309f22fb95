"""Benchmark: a trace through the city console's page over a 1 M-entry store.

    .venv/bin/python benchmarks/console.py [--dir DIR] [--people 20]

Builds (or reuses, in ``--dir``) district 0 of ``benchmarks/city.py``: 1 000 000 entries over
14 days, 1 000 venues, 20 000 people, on SQLite (``$KIOSK_CITY_BENCH_DISTRICT`` makes it smaller
for a trial). Then a real server (``city.embedded``, uvicorn on 127.0.0.1) and a signed-in
tracer: for each of ``--people`` people, ``POST /console/trace`` by name + birth date, by
document (CCCD holders) and by entry id, over the 14 days: the time from sending the form to
the whole HTML page received (rendering every contact, the audit record included).

Side by side, in the same run: :func:`city.trace.trace` called in-process with the same query
(what the page builds on), so the page's own cost shows. Aim (issue 11): p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchmarks.city as city_bench  # noqa: E402  (the generated city of benchmarks/city.py)

PASSWORD = "benchmark password 11"
ZONE = "Asia/Ho_Chi_Minh"


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="keep the built city here (reused when present)")
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="console-bench-"))
    data = work / "city"
    today = dt.datetime.now(dt.timezone.utc).date()
    stamp = work / "built-for"
    if not stamp.exists() or stamp.read_text() != today.isoformat():
        import shutil

        shutil.rmtree(data, ignore_errors=True)
        stored, seconds = city_bench.build(data, None, range(1), today)
        stamp.write_text(today.isoformat())
        print(f"built {stored} entries in {seconds:.0f} s")

    import httpx

    from city.console.records import ConsoleRecords
    from city.embedded import start_server
    from city.trace import Person, trace

    with start_server(data) as server:
        store = server.store
        count = store.count()
        records = ConsoleRecords(store.engine)
        if records.user("bench") is None:
            records.add_user("bench", "tracer", PASSWORD)
        traced = city_bench.choose_traced(store, today)[: args.people]
        first, last = city_bench.first_day(today), today - dt.timedelta(days=1)
        zone = ZoneInfo(ZONE)
        since = city_bench.utc_iso(dt.datetime.combine(first, dt.time(), zone))
        until = city_bench.utc_iso(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone))
        page_times: dict[str, list[float]] = {}
        call_times: dict[str, list[float]] = {}
        with httpx.Client(base_url=server.url, timeout=60) as web:
            token = re.search(r'name="csrf" value="([^"]+)"', web.get("/console/").text).group(1)
            web.post("/console/", data={"csrf": token, "name": "bench", "password": PASSWORD})
            token = re.search(r'name="csrf" value="([^"]+)"', web.get("/console/trace").text).group(1)
            for person in traced:
                hows = {"name + birth date": ({"by": "name", "name": person.identity["name"],
                                               "birth_date": person.identity["birth_date"]},
                                              Person(name=person.identity["name"],
                                                     birth_date=person.identity["birth_date"]), None),
                        "entry": ({"by": "entry", "entry": person.entry_id}, None, person.entry_id)}
                if not person.person.pc_covid:
                    hows["document"] = ({"by": "document", "document": person.identity["document"]},
                                        Person(document=person.identity["document"]), None)
                for how, (form, who, entry_id) in hows.items():
                    started = time.perf_counter()
                    answer = web.post("/console/trace", data={"csrf": token, "from": first.isoformat(),
                                                              "to": last.isoformat(), "minutes": "15", **form})
                    page_times.setdefault(how, []).append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text[:500]
                    started = time.perf_counter()
                    result = trace(store, who, since, until, 15.0, entry_id=entry_id)
                    call_times.setdefault(how, []).append(time.perf_counter() - started)
                    shown = re.search(r'id="contacts-h">[^:]*: (\d+)', answer.text)
                    assert shown and int(shown.group(1)) == len(result.contacts), (how, shown, len(result.contacts))
    print(f"\ntrace through /console/trace over {count:,} entries (SQLite), 14 days, ±15 min, "
          f"{len(traced)} people; seconds")
    print(f"{'query':<20} {'page p50':>9} {'page p95':>9} {'page max':>9}   {'trace() p50':>11} {'trace() p95':>11}")
    for how in page_times:
        pages, calls = page_times[how], call_times[how]
        print(f"{how:<20} {statistics.median(pages):9.3f} {pct(pages, 0.95):9.3f} {max(pages):9.3f}   "
              f"{statistics.median(calls):11.3f} {pct(calls, 0.95):11.3f}")
    worst = max(pct(v, 0.95) for v in page_times.values())
    print(f"\naim: page p95 <= 1 s: {'met' if worst <= 1.0 else 'NOT met'} (worst p95 {worst:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
