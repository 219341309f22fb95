"""The ports: what the visitor's path needs from the outside world, as types and protocols.

The loop holds these and nothing else of the hardware; ``drivers/`` implements them, and imports
from ``kiosk`` only this module and :mod:`kiosk.errors` (as gpiozero's devices only know the pin
interface, never a program that uses them). ``tests/test_imports.py`` keeps it so.

- frames and cameras: :class:`Frame`, :class:`Camera` (``read()`` blocks for the next frame and
  raises :class:`~kiosk.errors.CameraStalled`, :class:`~kiosk.errors.EndOfStream` or another
  :class:`~kiosk.errors.DriverError`)
- the gate: :class:`Gate` (relay, lights, buzzer, the guard's button)
- the screen: :class:`Screen` shows a :class:`View` (with its :class:`StatusBar`);
  :class:`NullScreen` is a kiosk without one
- the clock: :class:`Clock` (wall time, and whether it is synchronised)
- sound: what a pass and a fail sound like (:class:`Pattern`, :func:`pattern_for`), played by the
  gate's buzzer and a screen's speaker
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from kiosk.errors import CameraStalled, DriverError, EndOfStream

__all__ = [
    "CameraStalled", "DriverError", "EndOfStream", "Frame", "Camera", "Gate", "StatusBar", "View",
    "Screen", "NullScreen", "Clock", "Pattern", "PASS", "FAIL", "PATTERNS", "pattern_for",
]


# --------------------------------------------------------------------------- frames, camera


@dataclass(frozen=True)
class Frame:
    image: Any  # numpy array: greyscale, uint8, HxW
    captured: float  # time.monotonic() when the frame was captured
    index: int  # the source's frame counter
    # seconds on the stream's own clock: capture time for a live camera, index / fps for a
    # replay taken as fast as possible (so held codes and gaps last what the video says)
    stream_time: float | None = None

    @property
    def at(self) -> float:
        return self.captured if self.stream_time is None else self.stream_time


class Camera(Protocol):
    """What the loop holds: the next frame to decode, at the camera's pace."""

    def read(self) -> Frame: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- gate


class Gate(Protocol):
    """Relay, lights and buzzer; none of these calls blocks the loop."""

    def admit(self, entry_id: str) -> None:
        """Open (the entry is already committed), green light, the pass sound."""

    def refuse(self, entry_id: str) -> None:
        """Stay shut, red light, the fail sound."""

    def take_override_requests(self) -> int:
        """Presses of the guard's button since the last call."""

    def wait_for_override(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a press of the guard's button."""

    def close(self) -> None: ...


# --------------------------------------------------------------------------- screen


@dataclass(frozen=True)
class StatusBar:
    online: bool | None = None  # None = sync not configured
    undelivered: int = 0
    clock_synchronised: bool = True
    trust_age_hours: float | None = None
    camera_ok: bool = True
    disk_alarm: bool = False


@dataclass(frozen=True)
class View:
    """What the screen should show now.

    state: "idle", "pass", "fail", "offline" (camera lost), "disk_full", "clock"
    (clock not synchronised and the policy refuses).
    """

    state: str = "idle"
    venue: str = ""
    reason: str = ""  # reason code
    message_vi: str = ""  # the reason's message, as the visitor reads it
    message_en: str = ""
    masked_name: str = ""  # initials and birth year, never the full name
    # the decision's id (the journal entry's): a pass/fail view is sent once per decision, and
    # the screen holds its card for the screen's result time
    decision_id: str = ""
    frame: Any = None  # latest greyscale/BGR frame (numpy) for the preview, or None
    outline: tuple[tuple[int, int], ...] = ()  # corners of the found code in frame pixels
    status: StatusBar = field(default_factory=StatusBar)


class Screen(Protocol):
    def show(self, view: View) -> None:
        """Take the latest view and return at once (drawing never slows the loop)."""

    def close(self) -> None: ...


class NullScreen:
    """A kiosk with no screen (so the loop needs no ``if screen`` checks)."""

    def __init__(self, section: Any = None, venue: str = "") -> None:
        """Takes a screen driver's arguments (``screen.driver = "none"``) and needs none."""

    def show(self, view: View) -> None:
        pass

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Wall time, timezone-aware."""

    def synchronised(self) -> bool:
        """Whether the system time is synchronised (a Pi has no real-time clock)."""


# --------------------------------------------------------------------------- sound patterns
#
# A guard who is not looking at the screen must still tell a pass from a fail, and so must a
# visitor who cannot see colour; an active buzzer can only go on and off, so the two patterns
# differ in rhythm, not pitch: a pass is two short quick beeps, a fail three long ones. On a
# speaker the same rhythm plays as tones (rising and high for a pass, low for a fail).


@dataclass(frozen=True)
class Pattern:
    name: str
    steps: tuple[tuple[float, float], ...]  # (on_seconds, off_seconds) per beep
    hz: tuple[float, ...]  # the pitch of each beep on a speaker (a buzzer ignores it)

    @property
    def duration(self) -> float:
        return sum(on + off for on, off in self.steps)

    def as_blink(self) -> dict[str, float | int]:
        """Keyword arguments for gpiozero's ``Buzzer.blink`` (the pattern must be uniform)."""
        on, off = self.steps[0]
        if any(step != (on, off) for step in self.steps[:-1]) or self.steps[-1][0] != on:
            raise ValueError(f"the {self.name} pattern is not uniform; use drivers.sound.play_on()")
        return {"on_time": on, "off_time": off, "n": len(self.steps)}


PASS = Pattern("pass", steps=((0.08, 0.07), (0.08, 0.07)), hz=(1318.5, 1760.0))  # E6 then A6: "ding-ding"
FAIL = Pattern("fail", steps=((0.4, 0.15), (0.4, 0.15), (0.4, 0.15)), hz=(233.1, 233.1, 233.1))  # B-flat 3
PATTERNS: dict[str, Pattern] = {"pass": PASS, "fail": FAIL}


def pattern_for(decision: str) -> Pattern:
    """The pattern for a decision (``"pass"`` or ``"fail"``); anything else sounds like a fail."""
    return PATTERNS.get(decision, FAIL)
