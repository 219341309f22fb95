"""The screen interface: the loop hands it a :class:`View` after each frame.

``NullScreen`` is the screen of a kiosk without one (it does nothing, so the loop needs no
``if screen`` checks). ``drivers.screen.pygame_screen.PygameScreen`` draws on a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    message_vi: str = ""
    message_en: str = ""
    masked_name: str = ""  # initials and birth year, never the full name
    # the decision's id (e.g. the journal entry id): a pass/fail view with a new id starts a new
    # result card; repeats of the same decision's view keep the card's timer running
    decision_id: str = ""
    frame: Any = None  # latest greyscale/BGR frame (numpy) for the preview, or None
    outline: tuple[tuple[int, int], ...] = ()  # corners of the found code in frame pixels
    status: StatusBar = field(default_factory=StatusBar)


class Screen(Protocol):
    def show(self, view: View) -> None: ...

    def close(self) -> None: ...


class NullScreen:
    """A kiosk with no screen."""

    def show(self, view: View) -> None:
        pass

    def close(self) -> None:
        pass


def open_screen(config) -> Screen:
    """The screen the config asks for."""
    if config.screen.driver == "pygame":
        import os

        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        from drivers.screen.pygame_screen import PygameScreen

        return PygameScreen(config.screen, venue=config.kiosk.venue)
    return NullScreen()
