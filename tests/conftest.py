"""Shared fixtures: a config in a temporary state folder, the shared test data, mock pins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

REPO = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


def shared_data(*parts: str) -> Path:
    """A folder of ../shared/testdata, or skip the test saying why."""
    path = SHARED_TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"public test data not present at {path} (it sits beside the checkout in CI)")
    return path


@pytest.fixture
def make_config(tmp_path):
    """Build a Config from a dict of overrides, with its state in tmp_path; fails on any problem."""
    from kiosk import config as config_mod

    def make(**sections):
        data = {
            "kiosk": {"state_dir": str(tmp_path / "state"), "clock": "assume_synchronised"},
            "camera": {"driver": "replay", "replay_path": str(tmp_path)},
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        config, problems = config_mod.parse(data, base=tmp_path)
        assert not problems, problems
        return config

    return make


@pytest.fixture
def mock_factory():
    """gpiozero's MockFactory, also the one every gate opened by name with ``pin_factory = "mock"``
    gets until the test ends (then the registry gives a new one per gate again)."""
    from kiosk.testing import mock_pin_factory

    with mock_pin_factory() as factory:
        yield factory


# ---------------------------------------------------------------------------- the city's two engines
def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster from Debian's ``postgresql`` package, in a temporary folder.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user
    (``runuser``); it listens only on a unix socket in the folder. fsync is off: a test cluster.
    """

    def __init__(self, bindir: Path):
        import subprocess
        import tempfile

        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="city-pg-"))
        self.data = self.root / "data"
        self.socket = self.root / "run"
        self.socket.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket, "postgres")
            os.chmod(self.root, 0o755)  # postgres reaches its data and socket; we reach the socket
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.run = lambda *cmd: subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, text=True)
        self.run(str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--no-sync", "--locale=C")
        options = (f"-k {self.socket} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=400")
        self.run(str(bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                 "-w", "-t", "60", "start")
        self.count = 0

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket}"

    def new_database(self) -> str:
        import psycopg

        self.count += 1
        name = f"city_test_{os.getpid()}_{self.count}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        import shutil

        try:
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run and install.sh --dev do)")
    cluster = PostgresCluster(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def city_db(request, monkeypatch):
    """The city's database for one test: None (SQLite in the data folder) or a fresh PostgreSQL
    database's URL; also in $KIOSK_CITY_DB, so `kiosk-city` commands the test runs use it."""
    if request.param == "sqlite":
        monkeypatch.delenv("KIOSK_CITY_DB", raising=False)
        return None
    url = request.getfixturevalue("postgres_cluster").new_database()
    monkeypatch.setenv("KIOSK_CITY_DB", url)
    return url
