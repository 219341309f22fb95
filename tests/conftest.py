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
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    yield factory
    factory.reset()
