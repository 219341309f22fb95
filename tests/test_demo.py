"""`kiosk demo`: the README's first command, in both policy modes, with the real city server."""

from __future__ import annotations

import re

import pytest

from kiosk.cli import main


@pytest.mark.parametrize("mode", ["checkin", "health"])
def test_demo_passes_and_fails_and_delivers(mode, tmp_path, capsys):
    assert main(["demo", "--fast", "--mode", mode, "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = re.search(r"summary: (\d+) visitors, \d+ frames, (\d+) decisions: (\d+) pass, (\d+) fail; 0 unexpected", out)
    assert summary, out
    visitors, decisions, passes, fails = map(int, summary.groups())
    assert decisions == visitors and passes > 0 and fails > 0
    assert "already_entered" in out and "relay on" in out
    assert re.search(rf"{decisions} entries delivered .* holds {decisions} entries", out)
