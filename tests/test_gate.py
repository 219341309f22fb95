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
    button.drive_low()  # pressed: the button pulls the pin to ground
    button.drive_high()
    wait_for(lambda: gate._override_requests == 1)
    assert gate.take_override_requests() == 1 and gate.take_override_requests() == 0
    assert True not in states(mock_factory.pin(17))  # the loop opens it, after recording
    gate.close()
