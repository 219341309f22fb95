"""What a decision sounds like: a pass and a fail pattern, for the buzzer and for a speaker.

A guard who is not looking at the screen must still tell a pass from a fail, and so must a
visitor who cannot see colour; an active buzzer can only go on and off, so the two patterns
differ in rhythm, not pitch: a pass is two short quick beeps, a fail three long ones. On a
speaker the same rhythm plays as tones (rising and high for a pass, low for a fail).

The patterns are plain data: ``steps`` are ``(on_seconds, off_seconds)`` pairs. The gate driver
plays them on a gpiozero ``Buzzer`` (``Buzzer.blink`` with ``as_blink()``, since both patterns are
uniform); ``drivers.sound`` plays them on anything with ``on()``/``off()`` and through a speaker.
"""

from __future__ import annotations

from dataclasses import dataclass


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
            raise ValueError(f"the {self.name} pattern is not uniform; use play_on()")
        return {"on_time": on, "off_time": off, "n": len(self.steps)}


PASS = Pattern("pass", steps=((0.08, 0.07), (0.08, 0.07)), hz=(1318.5, 1760.0))  # E6 then A6: "ding-ding"
FAIL = Pattern("fail", steps=((0.4, 0.15), (0.4, 0.15), (0.4, 0.15)), hz=(233.1, 233.1, 233.1))  # B-flat 3
PATTERNS: dict[str, Pattern] = {"pass": PASS, "fail": FAIL}


def pattern_for(decision: str) -> Pattern:
    """The pattern for a decision (``"pass"`` or ``"fail"``); anything else sounds like a fail."""
    return PATTERNS.get(decision, FAIL)
