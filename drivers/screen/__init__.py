"""Screens: the loop hands one a :class:`kiosk.ports.View` after each frame.

``drivers.screen.pygame_screen.PygameScreen`` draws on a display (``painter`` lays out a view,
``fonts``, ``texts``, ``icons`` and ``colours`` are what it draws with);
``kiosk.ports.NullScreen`` is the screen of a kiosk without one.
"""

from __future__ import annotations

from kiosk.ports import NullScreen, Screen


def open_screen(config) -> Screen:
    """The screen the config asks for."""
    if config.screen.driver == "pygame":
        import os

        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        from drivers.screen.pygame_screen import PygameScreen

        return PygameScreen(config.screen, venue=config.kiosk.venue)
    return NullScreen()
