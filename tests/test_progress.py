"""Issue 14, item 14: long commands show progress and an ETA on a terminal, nothing otherwise.

Each command runs twice: with its stderr on a pseudo-terminal (what an admin sees), and on a
pipe (systemd's journal, a script), where not one byte more than before may appear.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from city.embedded import start_server
from city.enroll import enroll_kiosk
from city.store import CityStore
from sync_helpers import fill_journal, load, write_config

ENTRIES = 1200


def _run(args: list[str], terminal: bool, timeout: float = 180) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) with stderr on a terminal or on a pipe."""
    command = [sys.executable, "-m", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=timeout)
    os.close(leader)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def _assert_progress(stderr: str, total: int, unit: str) -> None:
    assert f"/{total}" in stderr or unit in stderr, stderr[-500:]
    assert "100%" in stderr and "<" in stderr  # the bar, finished, and tqdm's [elapsed<remaining]


def _assert_quiet(stderr: str) -> None:
    assert "%|" not in stderr and "\r" not in stderr, stderr[-500:]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_sync_once_shows_the_backlog_draining_on_a_terminal_only(tmp_path, terminal):
    with start_server(tmp_path / "city") as city:
        enrollment = city.enroll("k-progress", state_dir=tmp_path / "state", venue="Office A")
        config = load(write_config(enrollment, tmp_path / "kiosk.toml", batch_size=100))
        fill_journal(config, ENTRIES)
        code, out, err = _run(["kiosk", "sync", "--once", "--config", config.source], terminal)
    assert code == 0, err
    assert f"{ENTRIES} delivered, 0 left undelivered" in out
    if terminal:
        _assert_progress(err, ENTRIES, "entries")
        assert f"{ENTRIES}/{ENTRIES}" in err
    else:
        _assert_quiet(err)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_export_and_import_show_progress_on_a_terminal_only(tmp_path, terminal):
    store = CityStore(tmp_path / "city")
    enrollment = enroll_kiosk(store, "k-carry", "https://city.example", state_dir=tmp_path / "state", venue="Far")
    store.close()
    config = load(write_config(enrollment, tmp_path / "kiosk.toml"))
    fill_journal(config, ENTRIES)
    out_file = tmp_path / "entries.jsonl"
    code, out, err = _run(["kiosk", "export", "--config", config.source, "--out", str(out_file)], terminal)
    assert code == 0, err
    assert f"{ENTRIES} entries written" in out
    if terminal:
        _assert_progress(err, ENTRIES, "entries")
    else:
        _assert_quiet(err)

    code, out, err = _run(["city.cli", "import", str(out_file), "--data", str(tmp_path / "city")], terminal)
    assert code == 0, err
    assert f"{ENTRIES} entries, {ENTRIES} stored" in out
    if terminal:
        _assert_progress(err, out_file.stat().st_size, "B")
    else:
        _assert_quiet(err)
