"""Screens: the loop hands one a :class:`kiosk.ports.View` after each frame.

``pygame_screen.PygameScreen`` (``screen.driver = "pygame"``) draws on a display: ``painter`` lays
out a view with ``fonts``, ``texts``, ``icons`` and ``colours``. ``kiosk.ports.NullScreen``
(``"none"``) is the screen of a kiosk without one. ``kiosk.plugins.SCREENS`` finds them by name.
"""
