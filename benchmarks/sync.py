"""Benchmark: a week offline at a busy site (200 000 entries) delivered to the local city server.

    .venv/bin/python benchmarks/sync.py [--entries 200000] [--batch-size 500]

Fills a journal with sealed entries, starts the reference city server on 127.0.0.1 (in this
process, in a thread), then times one `kiosk sync --once` (a separate process, as on a kiosk)
and prints, in one run:

- the kiosk's delivery rate (entries/s over the whole command, start-up included, and over the
  delivery pass alone, from its log line) and its peak RSS (the kernel's ru_maxrss for the child);
- the server's own ingest time (validation + SQLite commit, summed over batches) beside it.

Aims (issue 4): 2 000+ entries/s, peak RSS under 100 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiosk import config as config_mod  # noqa: E402
from kiosk.journal import Journal, utc_iso  # noqa: E402
from sync.seal import seal  # noqa: E402
from city.embedded import start_server  # noqa: E402


def fill(journal: Journal, count: int, kiosk_id: str, seal_key: str) -> None:
    """``count`` entries in the journal's schema, inserted in large transactions (filling is
    not what is measured). 1 000 distinct sealed identities are cycled: same sizes as real ones."""
    sealed = [seal(json.dumps({"name": f"NGUYEN VAN {i:04d}", "birth_date": "1990-01-01",
                               "document": f"0010900{i:05d}"}).encode(), seal_key) for i in range(1000)]
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7)
    step = dt.timedelta(days=7) / count
    journal.db.execute("PRAGMA synchronous = OFF")
    for offset in range(0, count, 20_000):
        rows = [
            (str(uuid.uuid4()), kiosk_id, "Bến xe Giáp Bát", utc_iso(start + step * i), 1,
             "pc-covid" if i % 3 else "cccd", "valid", "pass", "checked_in", "identity", "", sealed[i % 1000], 8.5)
            for i in range(offset, min(count, offset + 20_000))
        ]
        with journal.transaction():
            journal.db.conn.executemany(
                """INSERT INTO entries (id, kiosk_id, venue, at, clock_synced, format, status, decision, reason,
                   kind, flags, identity, frame_age_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--dir", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="kiosk-sync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, work)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:

    with start_server(work / "city", daily_quota=0) as server:  # one kiosk sends a week at once: no daily quota
        enrollment = server.enroll("bench-kiosk", state_dir=work / "state", venue="Bến xe Giáp Bát")
        data = json.loads(json.dumps(enrollment.config))
        data["sync"]["batch_size"] = args.batch_size
        config_path = work / "kiosk.toml"
        config_path.write_text(type(enrollment)(**{**enrollment.__dict__, "config": data}).toml())
        config = config_mod.load(config_path)

        started = time.perf_counter()
        with Journal(config.journal_path) as journal:
            fill(journal, args.entries, config.kiosk.id, config.sync.seal_public_key)
            assert journal.counts()["undelivered"] == args.entries
        print(f"backlog: {args.entries} entries in {config.journal_path} "
              f"({os.path.getsize(config.journal_path) / 1e6:.0f} MB), filled in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "kiosk", "sync", "--once", "--config", str(config_path)],
            capture_output=True, text=True,
        )
        wall = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return 1
        stats = dict(server.store.stats)
        held = server.store.count()

    match = re.search(r"(\d+) delivered in (\d+) batch\(es\) \((\d+)/s\)", proc.stderr)
    pass_rate = int(match.group(3)) if match else None
    print(f"kiosk sync --once: {args.entries} entries in {wall:.1f} s = {args.entries / wall:,.0f} entries/s "
          f"(start-up included; the delivery pass alone: {pass_rate:,} entries/s), "
          f"{stats['batches']} batches of {args.batch_size}")
    print(f"kiosk sync peak RSS: {peak_kb / 1024:.1f} MB")
    print(f"server ingest: {stats['ingest_seconds']:.1f} s for {stats['entries_stored']} entries "
          f"= {stats['entries_stored'] / stats['ingest_seconds']:,.0f} entries/s "
          f"({stats['ingest_seconds'] / wall:.0%} of the kiosk's wall time); {held} held, "
          f"{stats['entries_duplicate']} duplicates")
    ok = args.entries / wall >= 2000 and peak_kb / 1024 < 100 and held == args.entries
    print("aims (2 000+ entries/s, < 100 MB, every entry held once):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
