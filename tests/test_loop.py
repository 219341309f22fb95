"""The loop end to end: replay frames -> journal rows and recorded MockFactory pin states."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sqlite3
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.camera import Camera, ReplaySource
from kiosk.app import build_kiosk
from kiosk.clock import FixedClock
from kiosk.model import Status
from kiosk.demo.visitors import GARBAGE, Visitor, cccd_text, frames_for, make_person, pc_covid_text
from kiosk.testing import FakeCamera, RecordingScreen, mock_pin_factory

TODAY = dt.date.today()


def visitors(n_people=3, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n_people):
        out.append(Visitor("cccd", cccd_text(make_person(rng, TODAY), rng, TODAY), "pass"))
        out.append(Visitor("pc-covid", pc_covid_text(make_person(rng, TODAY), rng), "pass", dark=True))
    out.append(Visitor("garbage", GARBAGE[0].format(n=1), "fail"))
    broken = cccd_text(make_person(rng, TODAY), rng, TODAY).split("|")
    broken[3] = "99999999"
    out.append(Visitor("cccd broken", "|".join(broken), "fail"))
    return out


def run(config, vs, factory, gap_frames=2, **kw):
    camera = Camera(ReplaySource(frames=frames_for(vs, gap_frames=gap_frames), fps=30, realtime=False))
    kiosk = build_kiosk(config, camera=camera, pin_factory=factory, **kw)
    try:
        kiosk.run(stop_at_end=True)
    finally:
        kiosk.close()
    return kiosk


def test_replay_to_journal_rows_and_pin_states(make_config, mock_factory):
    config = make_config(gate={"open_seconds": 0.2})
    vs = visitors()
    committed_at_relay_on = []

    def on_gate_event(event):
        if event.device == "relay" and event.state == "on":
            # at the instant the relay is energised, another connection must already see the entry
            with sqlite3.connect(config.journal_path) as other:
                row = other.execute("SELECT decision FROM entries WHERE id = ?", [event.entry_id]).fetchone()
            committed_at_relay_on.append(row)

    kiosk = run(config, vs, mock_factory, on_gate_event=on_gate_event)
    with sqlite3.connect(config.journal_path) as db:
        rows = db.execute("SELECT format, status, decision, reason, kiosk_id, clock_synced FROM entries ORDER BY seq").fetchall()
    assert [r[2] for r in rows] == [v.expect for v in vs]
    assert [r[0] for r in rows[:2]] == ["cccd", "pc-covid"]
    assert rows[-2][1:4] == ("unsupported", "fail", "unsupported")
    assert rows[-1][1:4] == ("malformed", "fail", "malformed")
    passes = sum(v.expect == "pass" for v in vs)
    assert committed_at_relay_on == [("pass",)] * passes
    # the pin's own record: locked at start, opened (admissions close together hold it open), locked at close
    relay_states = [s.state for s in mock_factory.pin(config.gate.relay_pin).states]
    assert relay_states[0] is False and True in relay_states and relay_states[-1] is False
    assert [s.state for s in mock_factory.pin(config.gate.red_led_pin).states].count(True) >= 1
    assert kiosk.stats.decisions == len(vs)


def test_a_code_held_five_seconds_gives_one_decision_and_returns_as_reentry(make_config, mock_factory):
    config = make_config()
    v = visitors(1)[0]
    gap = int(config.debounce.absent_seconds * 30) + 3
    vs = [dataclasses.replace(v, hold_frames=150), dataclasses.replace(v, gap_before=gap)]
    run(config, vs, mock_factory)
    with sqlite3.connect(config.journal_path) as db:
        rows = db.execute("SELECT decision, reason FROM entries ORDER BY seq").fetchall()
    assert rows == [("pass", "checked_in"), ("fail", "already_entered")]


def test_guard_override_is_recorded_before_opening(make_config, mock_factory):
    config = make_config(gate={"button_pin": 5, "open_seconds": 0.2})
    seen = []
    camera = FakeCamera(frames_for([], gap_frames=3))
    kiosk = build_kiosk(config, camera=camera, pin_factory=mock_factory, on_outcome=seen.append)
    mock_factory.pin(5).drive_low()
    mock_factory.pin(5).drive_high()
    assert kiosk.gate.wait_for_override(2.0)  # gpiozero has handed the press to the gate
    kiosk.run(stop_at_end=True)
    kiosk.close()
    assert [(o.format, o.decision.reason) for o in seen] == [("guard", "guard_override")]
    assert True in [s.state for s in mock_factory.pin(17).states]


def test_journal_failure_keeps_the_gate_shut(make_config, mock_factory):
    config = make_config()
    camera = Camera(ReplaySource(frames=frames_for(visitors(1)[:1]), realtime=False))
    kiosk = build_kiosk(config, camera=camera, pin_factory=mock_factory)
    kiosk.journal.db.conn.execute("PRAGMA query_only = ON")  # every write now fails, like a full disk

    kiosk.run(stop_at_end=True)
    kiosk.close()
    assert kiosk.stats.unrecorded == 1
    assert True not in [s.state for s in mock_factory.pin(17).states]


def test_unsynchronised_clock_is_recorded(make_config, mock_factory):
    config = make_config()
    run(config, visitors(1)[:1], mock_factory, clock=FixedClock(synchronised=False))
    with sqlite3.connect(config.journal_path) as db:
        assert db.execute("SELECT clock_synced, flags, decision FROM entries").fetchall() == [
            (0, "clock_unsynchronised", "pass")]


@pytest.fixture(scope="module")
def kiosk_for_fuzz(tmp_path_factory):
    from kiosk import config as config_mod

    tmp = tmp_path_factory.mktemp("fuzz")
    config, _ = config_mod.parse({"kiosk": {"state_dir": str(tmp), "clock": "assume_synchronised"},
                                  "gate": {"open_seconds": 0.2}})
    with mock_pin_factory() as pins:  # the module's kiosk outlives each test's mock_factory
        kiosk = build_kiosk(config, camera=FakeCamera(), pin_factory=pins)
        yield kiosk
        kiosk.close()


PREFIXES = st.sampled_from(["", "HC1:", "shc:/", "shc:/1/2/", "001090123456|", "a|b|c|d|e|", "a|b|c|d|e|f|"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=PREFIXES, text=st.text(max_size=300))
def test_no_text_a_visitor_shows_can_crash_the_loop(kiosk_for_fuzz, prefix, text):
    outcome = kiosk_for_fuzz.decide(prefix + text)
    assert outcome.status in {s.value for s in Status}
    assert outcome.decision.decision in ("pass", "fail")
    assert outcome.entry is not None


def test_chunked_card_is_decided_once_whole_and_a_lone_part_is_refused(make_config, mock_factory, tmp_path):
    from kiosk.demo.issuing.shc import ShcTestIssuer, chunk, vaccinated
    from kiosk.model import Identity

    issuer = ShcTestIssuer(iss="https://shc.test/issuer")
    directory = issuer.publish(tmp_path / "issuer")
    config = make_config(trust={"shc_issuers": [{"iss": issuer.iss, "dir": str(directory)}]})
    card = vaccinated(issuer, Identity("Lê Văn Tám", "1980-02-03"), TODAY - dt.timedelta(days=60))
    parts = chunk(card, 3)
    lone = chunk(vaccinated(issuer, Identity("Hồ Thị Lan", "1985-02-03"), TODAY - dt.timedelta(days=60)), 2)[0]
    wait = int(config.debounce.chunk_wait_seconds * 30) + 5
    vs = [Visitor("part", text, "") for text in parts] + [Visitor("lone part", lone, "")]
    vs.append(Visitor("later", cccd_text(make_person(random.Random(3), TODAY), random.Random(3), TODAY), "",
                      gap_before=wait))
    seen = []
    run(config, vs, mock_factory, on_outcome=seen.append)
    assert [(o.format, o.status, o.decision.decision) for o in seen] == [
        ("shc", "valid", "pass"),  # three parts, one decision
        ("shc", "malformed", "fail"),  # the lone part, once its wait is over
        ("cccd", "valid", "pass"),
    ]


def test_screen_gets_cards_and_status(make_config, mock_factory):
    config = make_config(policy={"unsynchronised_clock": "refuse"})
    screen = RecordingScreen()
    run(config, visitors(1)[:1], mock_factory, screen=screen, clock=FixedClock(synchronised=False))
    states = [v.state for v in screen.views]
    assert states[0] == "clock"  # the policy refuses while the clock is not synchronised: say so
    (card,) = [v for v in screen.views if v.state == "fail"]  # sent once: the screen times the card
    assert card.reason == "clock_unsynchronised" and card.message_vi and card.decision_id
    assert card.masked_name and " " in card.masked_name and len(card.masked_name) < 12
    assert screen.views[-1].status.undelivered == 1 and screen.views[-1].status.online is None


def test_reentry_keys_are_forgotten_after_the_window(make_config, mock_factory):
    config = make_config(policy={"reentry_minutes": 10.0})
    clock = FixedClock(start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30), advance=False)
    kiosk = run(config, visitors(1)[:1], mock_factory, clock=clock)
    assert len(kiosk.reentry) == 1
    rounds = kiosk.housekeeping
    rounds.clock = FixedClock()  # half an hour later: the next round drops the key
    rounds.journal = type(kiosk.journal)(config.journal_path)
    rounds.tick(time.monotonic() + rounds.every)
    rounds.journal.close()
    assert len(kiosk.reentry) == 0


def _release_fifo_readers(folder) -> None:
    """Give every reader blocked on a FIFO in ``folder`` an end of file (a writer opens and closes)."""
    import errno
    import os

    for path in folder.iterdir():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody is reading it
                raise
        else:
            os.close(fd)


def _wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("live", [True, False], ids=["stalled-live-camera", "wedged-read-in-the-loop"])
def test_guard_button_works_while_the_camera_is_stalled(make_config, mock_factory, tmp_path, live):
    """The screen says "call the guard" exactly when the camera is out: the button must work then.

    The replay camera's images become FIFOs nobody writes to, so every read blocks for good, like
    a wedged camera driver: live, the capture thread blocks and the loop sees a stall; not live,
    the loop's own read blocks."""
    import os

    import cv2
    import numpy as np

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(folder / f"frame{i}.png"), np.full((120, 160), 60 + 20 * i, np.uint8))
    config = make_config(
        camera={"replay_path": str(folder), "replay_realtime": live, "replay_loop": True, "fps": 20.0,
                "stall_seconds": 0.5},
        gate={"button_pin": 5, "open_seconds": 0.5},
    )
    seen = []
    kiosk = build_kiosk(config, pin_factory=mock_factory, on_outcome=seen.append)
    loop = threading.Thread(target=kiosk.run, kwargs={"stop_at_end": False}, daemon=True)
    loop.start()
    try:
        _wait(lambda: kiosk.stats.frames >= 3, "the camera to deliver")
        for path in folder.iterdir():
            path.unlink()
            os.mkfifo(path)
        if live:
            _wait(lambda: kiosk.stats.stalls >= 1 and kiosk._view.state == "offline", "the stall to show")
        frames_when_stalled = kiosk.stats.frames
        time.sleep(0.3)  # let the reads settle on the FIFOs
        assert kiosk.stats.frames <= frames_when_stalled + 1  # no frame is arriving now

        mock_factory.pin(5).drive_low()  # the guard presses the button
        mock_factory.pin(5).drive_high()
        _wait(lambda: [o.decision.reason for o in seen] == ["guard_override"], "the override")
        assert kiosk.stats.frames <= frames_when_stalled + 1  # it came without any frame
        assert True in [s.state for s in mock_factory.pin(config.gate.relay_pin).states]
        with sqlite3.connect(config.journal_path) as db:  # recorded before the relay moved
            assert db.execute("SELECT format, reason FROM entries").fetchall() == [("guard", "guard_override")]
    finally:
        kiosk.stop()
        deadline = time.monotonic() + 20
        while loop.is_alive() and time.monotonic() < deadline:
            _release_fifo_readers(folder)
            loop.join(timeout=0.05)
        _release_fifo_readers(folder)
        kiosk.close()
        _release_fifo_readers(folder)
        for path in folder.iterdir():
            path.unlink()
    assert not loop.is_alive()
