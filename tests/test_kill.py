"""Power cut: `kiosk simulate` killed with SIGKILL at random moments.

The journal must open cleanly afterwards, and every relay activation the process reported must
name an entry that is in the journal (the entry is committed before the relay is energised).
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time

import pytest

from kiosk.journal import Journal

pytestmark = pytest.mark.slow


def write_config(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[kiosk]\nstate_dir = "{tmp_path / "state"}"\nclock = "assume_synchronised"\n'
        '[gate]\nopen_seconds = 0.2\n[policy]\nreentry_minutes = 0.0\n'
    )
    return path


def simulate_until_killed(config, kill_after_relays: int, seed: int) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "simulate", "--visitors", "2000", "--seed", str(seed), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    relays: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    buffer = b""
    try:
        while len(relays) < kill_after_relays and time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            relays += [line.split(b"entry=")[1].decode() for line in lines if line.startswith(b"relay on entry=")]
        proc.send_signal(signal.SIGKILL)  # mid-run, whatever it was doing
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    buffer += rest
    relays += [line.split(b"entry=")[1].decode() for line in buffer.split(b"\n") if line.startswith(b"relay on entry=")]
    assert proc.returncode == -signal.SIGKILL
    return relays


def test_sigkill_at_random_moments_loses_no_admitted_entry(tmp_path):
    config = write_config(tmp_path)
    rng = random.Random()
    reported: list[str] = []
    for round_ in range(4):
        reported += simulate_until_killed(config, kill_after_relays=rng.randint(1, 40), seed=round_)
        with Journal(tmp_path / "state" / "journal.db") as journal:  # opens (and recovers) cleanly
            assert journal.integrity_check() == "ok"
            missing = set(reported) - journal.has_ids(reported)
            assert not missing, f"relay activations without a journal entry: {sorted(missing)[:5]}"
    assert len(reported) >= 4
