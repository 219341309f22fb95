"""The gate on gpiozero's mock pins: never energised at start or stop, open only to admit."""

from __future__ import annotations

import time

import pytest

from drivers.gate import Gate
from kiosk.config import GateSection
from kiosk.errors import DriverError


def states(pin):
    return [s.state for s in pin.states]


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_start_and_close_never_energise(mock_factory):
    gate = Gate(GateSection(), pin_factory=mock_factory)
    relay = mock_factory.pin(17)
    assert relay.state is False
    gate.close()
    gate.close()  # idempotent
    assert True not in states(relay)


def test_admit_opens_for_open_seconds_then_locks(mock_factory):
    events = []
    gate = Gate(GateSection(open_seconds=0.2), pin_factory=mock_factory, on_event=events.append)
    relay, green, red = mock_factory.pin(17), mock_factory.pin(27), mock_factory.pin(22)
    gate.admit("entry-1")
    assert relay.state is True and green.state is True and red.state is False
    wait_for(lambda: relay.state is False)
    assert states(relay) == [False, True, False]
    assert [(e.device, e.state, e.entry_id) for e in events if e.device == "relay"] == [
        ("relay", "on", "entry-1"), ("relay", "off", "entry-1")]
    gate.close()


def test_refuse_lights_red_only(mock_factory):
    gate = Gate(GateSection(open_seconds=0.2), pin_factory=mock_factory)
    gate.refuse("entry-2")
    assert mock_factory.pin(22).state is True
    assert True not in states(mock_factory.pin(17))
    gate.close()
    assert mock_factory.pin(22).state is False


def test_close_while_open_locks_at_once(mock_factory):
    gate = Gate(GateSection(open_seconds=30), pin_factory=mock_factory)
    gate.admit("e")
    gate.close()
    assert mock_factory.pin(17).state is False
    with pytest.raises(DriverError):
        gate.admit("after close")


def test_active_low_relay(mock_factory):
    gate = Gate(GateSection(relay_active_high=False, open_seconds=0.1), pin_factory=mock_factory)
    relay = mock_factory.pin(17)
    assert relay.state is True  # active low: high = de-energised
    gate.admit("e")
    assert relay.state is False
    gate.close()
    assert relay.state is True


def test_guard_button_requests_an_override(mock_factory):
    gate = Gate(GateSection(button_pin=5), pin_factory=mock_factory)
    button = mock_factory.pin(5)
    assert not gate.wait_for_override(0)
    button.drive_low()  # pressed: the button pulls the pin to ground
    button.drive_high()
    assert gate.wait_for_override(3.0)
    assert gate.take_override_requests() == 1 and gate.take_override_requests() == 0
    assert not gate.wait_for_override(0)  # taken: nothing more to wait for
    assert True not in states(mock_factory.pin(17))  # the loop opens it, after recording
    gate.close()


# --------------------------------------------------------------------------- overlapping decisions
# Time is a fake clock the test moves; the gate's timer thread reads the same clock, so nothing
# below depends on how fast the machine is. `expire()` is what the timer thread calls.


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def to(self, offset: float) -> None:
        self.now = 100.0 + offset


def outputs(factory) -> tuple[bool, bool, bool]:
    """(relay, green, red) as the pins are now."""
    return factory.pin(17).state, factory.pin(27).state, factory.pin(22).state


def test_a_later_admission_extends_the_open_time(mock_factory):
    ticks = Ticks()
    gate = Gate(GateSection(open_seconds=3.0), pin_factory=mock_factory, clock=ticks)
    gate.admit("first")  # t = 0: open until 3
    ticks.to(1.0)
    gate.admit("second")  # t = 1: open until 4, not cut at 3 by the first visitor's time
    seen = {}
    for t in (2.0, 3.0, 3.5, 3.99, 4.0, 5.0):
        ticks.to(t)
        gate.expire()
        seen[t] = outputs(mock_factory)[:2]
    assert seen == {2.0: (True, True), 3.0: (True, True), 3.5: (True, True), 3.99: (True, True),
                    4.0: (False, False), 5.0: (False, False)}
    # one opening on the pin, one closing: the first visitor's timer never pulsed it
    assert states(mock_factory.pin(17)) == [False, True, False]
    offs = [(e.at - 100.0, e.entry_id) for e in gate.events if e.device == "relay" and e.state == "off"]
    assert offs == [(4.0, "second")]
    gate.close()


def test_a_new_decision_turns_the_other_light_off_at_once(mock_factory):
    ticks = Ticks()
    gate = Gate(GateSection(open_seconds=3.0), pin_factory=mock_factory, clock=ticks)
    gate.refuse("refused")  # t = 0: red until 3
    assert outputs(mock_factory) == (False, False, True)
    ticks.to(0.5)
    gate.admit("admitted")  # red off now, not at 3: never red and green together
    assert outputs(mock_factory) == (True, True, False)
    ticks.to(1.0)
    gate.refuse("refused again")  # green off now; the admitted visitor's open time runs on
    assert outputs(mock_factory) == (True, False, True)
    ticks.to(3.0)
    gate.expire()
    assert outputs(mock_factory) == (True, False, True)
    ticks.to(3.5)
    gate.expire()
    assert outputs(mock_factory) == (False, False, True)
    ticks.to(4.0)
    gate.expire()
    assert outputs(mock_factory) == (False, False, False)
    # the pins' own record: red and green were never on at the same instant
    assert states(mock_factory.pin(22)) == [False, True, False, True, False]
    assert states(mock_factory.pin(27)) == [False, True, False]
    gate.close()


def test_visitors_closer_than_open_seconds_through_the_loop(make_config, mock_factory, tmp_path):
    """Decisions made by the loop (recorded, then acted on) at fake times 0.6 s apart, open 3 s."""
    import datetime as dt
    import random

    import numpy as np

    from drivers.camera import Camera, ReplaySource
    from kiosk.app import build_kiosk
    from kiosk.clock import FixedClock
    from kiosk.demo.visitors import GARBAGE, cccd_text, make_person, pc_covid_text

    today = dt.date.today()
    rng = random.Random(5)
    config = make_config(gate={"open_seconds": 3.0})
    ticks = Ticks()
    gate = Gate(config.gate, pin_factory=mock_factory, clock=ticks)
    camera = Camera(ReplaySource(frames=[np.zeros((120, 160), np.uint8)], realtime=False))
    kiosk = build_kiosk(config, camera=camera, gate=gate, clock=FixedClock(synchronised=True))
    plan = [  # (time, text, decision)
        (0.0, cccd_text(make_person(rng, today), rng, today), "pass"),
        (0.6, pc_covid_text(make_person(rng, today), rng), "pass"),
        (1.2, GARBAGE[0].format(n=1), "fail"),
        (1.8, cccd_text(make_person(rng, today), rng, today), "pass"),
    ]
    timeline = []
    for at, text, want in plan:
        ticks.to(at)
        gate.expire()
        assert kiosk.decide(text).decision.decision == want
        timeline.append((at, outputs(mock_factory)))
    for at in (3.0, 4.2, 4.79, 4.8):
        ticks.to(at)
        gate.expire()
        timeline.append((at, outputs(mock_factory)))
    kiosk.close()
    assert timeline == [
        (0.0, (True, True, False)),
        (0.6, (True, True, False)),
        (1.2, (True, False, True)),  # a refusal: red alone, the gate still open for #2
        (1.8, (True, True, False)),  # a pass: green alone, open 3 s from now
        (3.0, (True, True, False)),  # #1's 3 s are up, but not #4's
        (4.2, (True, True, False)),
        (4.79, (True, True, False)),
        (4.8, (False, False, False)),
    ]
    assert states(mock_factory.pin(17)) == [False, True, False]
