"""No visitor's name can be found in any file of the kiosk's state folder, while the city reads it.

Visitors go through the real loop (`kiosk simulate`) into the journal; `kiosk sync` delivers
them. Every byte of every file in the state folder (the journal with its -wal and -shm files,
bundles, token, secrets) is searched for each visitor's name and document number.
"""

from __future__ import annotations

import json
from pathlib import Path

from kiosk.demo.visitors import generate
from city.embedded import start_server
from sync_helpers import kiosk, kiosk_city, load, write_config

SEED = 77
VISITORS = 24


def _people(seed: int, count: int) -> list[tuple[str, str]]:
    """(name as the QR carries it, document number) of each identity visitor generated."""
    people = []
    for visitor in generate(count, seed=seed):
        fields = visitor.text.split("|")
        if visitor.label == "cccd":
            people.append((fields[2], fields[0]))
        elif visitor.label == "pc-covid":
            people.append((fields[1], ""))
    return people


def _state_bytes(state: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in state.rglob("*") if path.is_file()}


def test_names_never_touch_the_kiosk_disk_but_reach_the_city(tmp_path, city_db):
    people = _people(SEED, VISITORS)
    assert len(people) >= 10
    with start_server(tmp_path / "city", db=city_db) as city:
        enrollment = city.enroll("privacy-1", state_dir=tmp_path / "state", simulated=True)
        config_path = write_config(enrollment, tmp_path / "kiosk.toml")
        config = load(config_path)
        simulated = kiosk("simulate", "--visitors", str(VISITORS), "--seed", str(SEED), "--config", str(config_path))
        assert simulated.returncode == 0, simulated.stderr

        files = _state_bytes(Path(config.kiosk.state_dir))
        assert any(path.name == "journal.db" for path in files)
        for name, document in people:
            for variant in {name, name.upper(), name.casefold()}:
                needle = variant.encode("utf-8")
                assert not [p for p, data in files.items() if needle in data], "a name is on the kiosk's disk"
            if document:
                assert not [p for p, data in files.items() if document.encode() in data]
        assert not any(name in simulated.stdout + simulated.stderr for name, _ in people)

        synced = kiosk("sync", "--once", "--config", str(config_path))
        assert synced.returncode == 0, synced.stderr
        assert not any(name in synced.stdout + synced.stderr for name, _ in people)

    listed = kiosk_city("entries", "--data", str(tmp_path / "city"), "--json", "--identities")
    names_at_city = {(json.loads(line)["identity"] or {}).get("name") for line in listed.stdout.splitlines()}
    assert {name for name, _ in people} <= names_at_city

    # after delivery the state folder still holds no name (the WAL has been written again since)
    files = _state_bytes(Path(config.kiosk.state_dir))
    assert not any(name.encode() in data for name, _ in people for data in files.values())
