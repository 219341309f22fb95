"""Issue 14, item 5: hostile or broken replies never kill or hang `kiosk sync`.

Deeply nested JSON in an ack, a 422 or a bundle; a heartbeat `server_time` that is not a time;
a reply at one byte a second; a 200 MB bundle. Each is a logged retry: `kiosk sync` keeps its
memory bounded, gives up on a request at its total deadline, and ends within 2 s of SIGTERM
whatever it is doing.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile_server import Dribble, HostileCity, Json, Silent, Stream
from kiosk import config as config_mod
from kiosk.journal import Journal
from sync.bundles import generate_signing_key
from sync.client import Uploader
from sync.seal import generate_keypair
from sync_helpers import fill_journal, token_file

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


@pytest.fixture
def city():
    servers = []

    def start(**replies):
        server = HostileCity(replies)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _config(tmp_path, url: str, **sync):
    token = token_file(tmp_path)
    data = {
        "kiosk": {"id": "k-hostile", "venue": "Office A", "state_dir": str(tmp_path / "state")},
        "sync": {"url": url, "token_file": str(token), "seal_public_key": generate_keypair()[1],
                 "bundle_public_key": generate_signing_key()[1], "timeout_seconds": 2.0,
                 "max_backoff_seconds": 1.0, "interval_seconds": 3600.0, **sync},
    }
    path = tmp_path / "kiosk.toml"
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return config_mod.load(path)


def _run_once(config, attempts: int = 2) -> int:
    with Journal(config.journal_path) as journal:
        uploader = Uploader(config, journal, rng=random.Random(1))
        try:
            return uploader.run(once=True, attempts=attempts)  # the old main: RecursionError, AttributeError...
        finally:
            uploader.close()


@pytest.mark.parametrize("key, body, logged", [
    ("POST /v1/entries", Json(200, DEEP), "not an acknowledgement"),
    ("POST /v1/entries", Json(200, DEEP_OBJECT), "not an acknowledgement"),
    ("POST /v1/entries", Json(422, DEEP), "refuses every entry"),
])
def test_deep_json_in_a_reply_is_a_logged_retry(city, tmp_path, caplog, key, body, logged):
    server = city(**{key: body})
    config = _config(tmp_path, server.url)
    fill_journal(config, 3)
    with caplog.at_level(logging.WARNING, logger="kiosk.sync"):
        assert _run_once(config) == 3  # nothing marked delivered, nothing quarantined, no exit
    assert logged in caplog.text


def test_a_deeply_nested_bundle_is_refused(city, tmp_path, caplog):
    server = city(**{"GET /v1/bundles/trust-list": Json(200, DEEP)})
    config = _config(tmp_path, server.url)
    assert _run_once(config) == 0
    assert "trust-list bundle from" in caplog.text and "REFUSED" in caplog.text


@pytest.mark.parametrize("server_time", [b'"not-a-time"', b"5", b'"0001-01-01T00:00:00+14:00"', DEEP])
def test_an_odd_server_time_is_logged_not_fatal(city, tmp_path, caplog, server_time):
    body = b'{"ok": true, "server_time": ' + server_time + b"}"
    server = city(**{"POST /v1/heartbeat": Json(200, body)})
    config = _config(tmp_path, server.url)
    fill_journal(config, 2)
    with caplog.at_level(logging.WARNING, logger="kiosk.sync"):
        assert _run_once(config) == 0
    assert "POST /v1/heartbeat" in server.seen


def test_a_reply_dribbled_a_byte_a_second_ends_at_the_total_deadline(city, tmp_path, caplog):
    server = city(**{"POST /v1/entries": Dribble()})
    config = _config(tmp_path, server.url, deadline_seconds=2.0)
    fill_journal(config, 2)
    with caplog.at_level(logging.WARNING, logger="kiosk.sync"):
        assert _run_once(config, attempts=1) == 2
    assert "no complete reply within 2 s" in caplog.text


def _start_sync(config, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kiosk", "sync", "--config", config.source, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("state", ["upload reply", "bundle", "heartbeat reply", "silent server", "backoff"])
def test_sigterm_ends_kiosk_sync_within_two_seconds_in_every_state(city, tmp_path, state):
    replies = {
        "upload reply": {"POST /v1/entries": Dribble()},
        "bundle": {"GET /v1/bundles/trust-list": Dribble()},
        "heartbeat reply": {"POST /v1/heartbeat": Dribble()},
        "silent server": {"POST /v1/entries": Silent()},
        "backoff": {"POST /v1/entries": Json(503, b'{"error": "busy"}')},
    }[state]
    server = city(**replies)
    # a long per-read timeout and deadline: only the stop can end the wait
    config = _config(tmp_path, server.url, timeout_seconds=60.0, deadline_seconds=600.0, max_backoff_seconds=600.0)
    fill_journal(config, 3)
    proc = _start_sync(config)
    try:
        if state == "backoff":
            for _ in range(300):  # until the first refusal has been answered
                if "POST /v1/entries" in server.seen:
                    break
                time.sleep(0.05)
            time.sleep(1.0)
        else:
            assert server.started.wait(60), "the sync never reached the slow reply"
            time.sleep(1.5)  # well into it
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=2.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()


def _peak_rss_mb(proc: subprocess.Popen) -> float:
    """The process's own high-water RSS (VmHWM) until it exits. Not wait4's ru_maxrss: that keeps
    the high-water mark of the forking test process across exec."""
    peak_kb = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.02)
    return peak_kb / 1024


@pytest.mark.slow
def test_a_200_mb_bundle_is_refused_while_it_streams_in_bounded_memory(city, tmp_path):
    server = city(**{"GET /v1/bundles/trust-list": Stream(200 * 1024 * 1024)})
    config = _config(tmp_path, server.url)
    proc = _start_sync(config, "--once")
    peak_mb = _peak_rss_mb(proc)
    _out, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "bundles not fetched" in stderr and "over the 33554432 bytes limit" in stderr
    assert 0 < peak_mb < 200, f"peak RSS {peak_mb:.0f} MB (the old main: 667 MB)"
