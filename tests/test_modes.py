"""Issue 14, item 11: the state folder and journal, the city's data folder and database, are
private whatever the umask (made without install.sh: a lab, `kiosk-city enroll --state`, a city
server started by hand)."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest

from kiosk.cli import main as kiosk_main


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077], ids=["umask 000", "umask 022", "umask 077"])
def test_the_kiosk_makes_its_state_folder_0700_and_journal_0600(tmp_path, capsys, mask):
    state = tmp_path / "lab" / "state"
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[kiosk]\nstate_dir = "{state}"\nclock = "assume_synchronised"\n')
    with umask(mask):
        assert kiosk_main(["simulate", "--visitors", "2", "--config", str(config)]) == 0
        from kiosk import config as config_mod
        from kiosk.journal import Journal

        with Journal(config_mod.load(config).journal_path) as journal:  # open: the -wal and -shm exist
            files = [journal.path, journal.path.with_name("journal.db-wal"), journal.path.with_name("journal.db-shm")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(state) == 0o700


def test_an_existing_journal_readable_by_others_is_tightened(tmp_path):
    from kiosk.journal import Journal

    path = tmp_path / "journal.db"
    with Journal(path):
        pass
    os.chmod(path, 0o666)  # as an earlier version left it under a loose umask
    with Journal(path):
        assert mode(path) == 0o640  # the group keeps its read access (install.sh's 0750 folder)
    assert mode(tmp_path) == stat.S_IMODE(os.stat(tmp_path).st_mode)  # an existing folder is not changed


@pytest.mark.parametrize("mask", [0o000, 0o022], ids=["umask 000", "umask 022"])
def test_kiosk_city_enroll_state_and_the_city_data_folder(tmp_path, capsys, mask):
    from city.cli import main as city_main

    data, state = tmp_path / "city", tmp_path / "kiosk-state"
    with umask(mask):
        assert city_main(["enroll", "gate-01", "--data", str(data), "--url", "http://127.0.0.1:1",
                          "--state", str(state), "--simulated"]) == 0
    assert mode(state) == 0o700 and mode(state / "city-token") == 0o600
    assert mode(data) == 0o700 and mode(data / "city.db") == 0o600
    assert mode(data / "keys") == 0o700
    with umask(mask):
        from city.store import CityStore

        store = CityStore(data)  # open: the -wal and -shm exist
        try:
            store.kiosks()
            for suffix in ("-wal", "-shm"):
                assert mode(data / f"city.db{suffix}") == 0o600
        finally:
            store.close()
