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


def test_demo_in_real_time_as_the_readme_runs_it(tmp_path, capsys):
    """Without --fast the replay is paced at 30 fps like a live camera: every visitor decided once,
    none lost while a dense code is drawn (a SMART Health Card's took a quarter of a second to draw
    and was sometimes missed)."""
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = re.search(r"summary: (\d+) visitors, \d+ frames, (\d+) decisions: \d+ pass, \d+ fail; 0 unexpected", out)
    assert summary and summary.group(1) == summary.group(2), out


def test_a_real_time_replay_draws_every_scene_before_its_first_frame(monkeypatch):
    import numpy as np

    import kiosk.demo.visitors as visitors_mod
    from kiosk.demo.simulation import replay_camera

    visitors = list(visitors_mod.generate(5))
    drawn: list[str] = []
    real = visitors_mod.render_frame
    monkeypatch.setattr(visitors_mod, "render_frame", lambda text, **kw: drawn.append(text) or real(text, **kw))
    paced = replay_camera(visitors, realtime=True)
    assert drawn == [v.text for v in visitors]  # all of them, before the camera is read
    on_demand = visitors_mod.frames_for(visitors)
    paced_frames = paced.source._frames
    assert all(np.array_equal(paced_frames[i], on_demand[i]) for i in range(len(on_demand)))
    assert len(drawn) == 2 * len(visitors)  # the on-demand replay drew each once more; the paced one none
