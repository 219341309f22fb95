"""Exactly once through a bad network, with `kiosk sync` killed by SIGKILL at random moments.

The real city server on 127.0.0.1 sits behind a proxy that drops connections before the server
sees a batch and after it stored one, answers 503 with Retry-After, and holds replies past the
kiosk's timeout. Meanwhile another writer (the gate, as `kiosk run` would) keeps recording.
At the end: `kiosk status --json` says nothing is undelivered, and `kiosk-city entries` holds
exactly the journal's entries, each once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from city.embedded import start_server
from sync_helpers import fill_journal, kiosk, kiosk_city, load, write_config
from sync_proxy import FaultProxy

pytestmark = pytest.mark.slow

PREFILLED = 8000
RECORDED_DURING = 2000
TOTAL = PREFILLED + RECORDED_DURING


def test_ten_thousand_entries_arrive_exactly_once(tmp_path, city_db):
    rng = random.Random(4)
    with start_server(tmp_path / "city", db=city_db) as server:
        enrollment = server.enroll("gate-faults", state_dir=tmp_path / "state", venue="Bus station")
        upstream_port = int(server.url.rsplit(":", 1)[1])
        proxy = FaultProxy(
            upstream_port,
            {"drop_before": 0.08, "drop_after": 0.12, "unavailable": 0.08, "slow": 0.08},
            slow_seconds=0.9, retry_after=1, seed=4,
        )
        try:
            config_path = write_config(
                enrollment, tmp_path / "kiosk.toml", url=proxy.url,
                batch_size=400, timeout_seconds=0.5, max_backoff_seconds=1.0, interval_seconds=1.0,
            )
            config = load(config_path)
            ids = fill_journal(config, PREFILLED)

            # the gate keeps recording (fsync'd, its own connection) while sync runs and dies
            recorded: list[str] = []
            writer = threading.Thread(
                target=lambda: recorded.extend(fill_journal(config, RECORDED_DURING, start=PREFILLED, fast=False)),
            )
            writer.start()

            kills = 0
            deadline = time.monotonic() + 40
            while (writer.is_alive() or kills < 6) and time.monotonic() < deadline:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "kiosk", "sync", "--config", str(config_path)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
                time.sleep(rng.uniform(0.4, 2.5))  # python start-up is ~0.4 s: kills land mid-sync
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                assert proc.returncode == -signal.SIGKILL
                kills += 1
            writer.join(timeout=60)
            assert not writer.is_alive()
            ids += recorded
            assert len(ids) == TOTAL

            # the network stays bad; --once retries until the queue is empty
            for _ in range(10):
                done = kiosk("sync", "--once", "--attempts", "30", "--config", str(config_path))
                if done.returncode == 0:
                    break
            assert done.returncode == 0, done.stdout + done.stderr
        finally:
            proxy.stop()
        stats = dict(server.store.stats)

    # every fault happened, and the drop-after-store path really produced repeats
    assert all(proxy.counts[fault] > 0 for fault in ("drop_before", "drop_after", "unavailable", "slow")), proxy.counts
    assert stats["entries_duplicate"] > 0, stats
    assert kills >= 6

    status = kiosk("status", "--json", "--config", str(config_path))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["undelivered"] == 0
    assert json.loads(status.stdout)["total"] == TOTAL

    listed = kiosk_city("entries", "--data", str(tmp_path / "city"), "--json", "--identities")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == TOTAL
    assert len({row["id"] for row in rows}) == TOTAL
    assert {row["id"] for row in rows} == set(ids)
    assert all(row["kiosk_id"] == "gate-faults" and row["identity"]["name"] for row in rows)
