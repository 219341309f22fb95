"""Helpers for the sync tests: a kiosk config enrolled with a real city server, a filled journal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from kiosk import config as config_mod
from kiosk.journal import Journal
from kiosk.model import Identity
from sync.seal import sealer

# names with and without diacritics, as PC-Covid (upper-case ASCII) and certificates write them
NAMES = ("NGUYEN VAN AN", "Trần Thị Bích Ngọc", "LE HOANG LONG", "Phạm Minh Đức", "Đặng Thu Hà")


def write_config(enrollment, path: Path, url: str | None = None, **sync: object) -> Path:
    """The enrollment's config, with the URL (e.g. a proxy's) and [sync] keys overridden."""
    data = json.loads(json.dumps(enrollment.config))
    if url:
        data["sync"]["url"] = url
    data["sync"].update(sync)
    path.write_text(dataclasses.replace(enrollment, config=data).toml())
    return path


def load(path: Path) -> config_mod.Config:
    return config_mod.load(path)


def enrolled_config(server, tmp_path: Path, kiosk_id: str) -> config_mod.Config:
    """A kiosk enrolled with the city ``server`` (simulated hardware), its state in ``tmp_path/state``."""
    enrollment = server.enroll(kiosk_id, state_dir=tmp_path / "state", simulated=True)
    config, problems = config_mod.parse(enrollment.config, base=tmp_path)
    assert not problems, problems
    return config


def token_file(tmp_path: Path) -> Path:
    """A kiosk token file (0600) for a server that takes any token."""
    token = tmp_path / "token"
    token.write_text("t0ken")
    token.chmod(0o600)
    return token


def bare_config(tmp_path: Path, kiosk_id: str, **sync: object) -> config_mod.Config:
    """A kiosk config for a server that is not a city (no enrollment): a token file and these [sync] keys."""
    config, problems = config_mod.parse({
        "kiosk": {"id": kiosk_id, "state_dir": str(tmp_path / "state")},
        "sync": {"token_file": str(token_file(tmp_path)), **sync},
    }, base=tmp_path)
    assert not problems, problems
    return config


def person(i: int) -> Identity:
    return Identity(f"{NAMES[i % len(NAMES)]} {i:05d}", f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}", f"0010{i:08d}")


def fill_journal(config: config_mod.Config, count: int, *, start: int = 0, fast: bool = True,
                 at: dt.datetime | None = None, venue: str | None = None) -> list[str]:
    """Record ``count`` entries through ``Journal.record`` (identity sealed); return their ids.

    ``fast`` turns fsync off for this connection only: a test filler, not the kiosk.
    """
    ids = []
    with Journal(config.journal_path, sealer=sealer(config.sync.seal_public_key)) as journal:
        if fast:
            journal.db.execute("PRAGMA synchronous = OFF")
        for i in range(start, start + count):
            entry = journal.record(
                kiosk_id=config.kiosk.id, venue=venue or config.kiosk.venue,
                at=at or dt.datetime.now(dt.timezone.utc), clock_synced=True, format="pc-covid",
                status="valid", decision="pass", reason="checked_in", kind="identity", identity=person(i),
            )
            ids.append(entry.id)
    return ids


def kiosk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def kiosk_city(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "city.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
