"""Parts found by name, as gpiozero finds its pin factories: a table of the built-in ones, and an
entry-point group through which another installed package adds its own.

- :data:`CAMERAS`: ``camera.driver``, group ``kiosk.cameras``; an entry names
  ``f(camera_section) -> source`` (``read()``, ``close()``, ``live``)
- :data:`SCREENS`: ``screen.driver``, group ``kiosk.screens``; ``f(screen_section, venue) -> Screen``
- :data:`PIN_FACTORIES`: ``gate.pin_factory``, group ``kiosk.pin_factories``; a gpiozero pin
  factory class
- :data:`FORMATS`: ``policy.accept_formats``, group ``kiosk.formats``; a credential format object
  (see :mod:`kiosk.formats.base`), tried on a QR text in table order, plug-ins last

Built-in entries are ``"module:attribute"`` strings, imported only when that name is used, so a
hardware library is imported only when its driver is opened. A registry is also the ``choices``
of its config key: a name an installed plug-in brings is a valid setting, with no list to edit.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kiosk.errors import DriverError, KioskError

__all__ = ["Registry", "UnknownName", "CAMERAS", "SCREENS", "PIN_FACTORIES", "FORMATS"]


_NOTHING = object()


class UnknownName(KioskError, LookupError):
    """No built-in part and no installed plug-in has this name."""


def load_spec(spec: str) -> Any:
    """The object a ``"module:attribute"`` string names."""
    module, _, path = spec.partition(":")
    found = importlib.import_module(module)
    for attr in path.split("."):  # "Class.from_config" too
        found = getattr(found, attr)
    return found


class Registry:
    """Names to parts: ``builtin`` first, then the entry points of ``group``."""

    def __init__(self, kind: str, group: str, builtin: Mapping[str, str]):
        self.kind = kind
        self.group = group
        self.builtin = dict(builtin)
        self._substitutes: dict[str, Any] = {}

    def _entry_points(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.group) if ep.name not in self.builtin}

    def names(self) -> tuple[str, ...]:
        """Every name: the built-in ones in table order, then the plug-ins' in name order."""
        return tuple(self.builtin) + tuple(sorted(self._entry_points()))

    def __contains__(self, name: object) -> bool:
        return name in self.builtin or name in self._entry_points()

    def __iter__(self) -> Iterator[str]:  # a config key's choices
        return iter(self.names())

    def load(self, name: str) -> Any:
        """The part called ``name``, imported now; :class:`UnknownName` when there is none."""
        if name in self._substitutes:
            return self._substitutes[name]
        if name in self.builtin:
            return load_spec(self.builtin[name])
        found = self._entry_points().get(name)
        if found is None:
            raise UnknownName(f"no {self.kind} called {name!r} (known: {', '.join(self.names())})")
        return found.load()

    @contextmanager
    def substitute(self, name: str, part: Any) -> Iterator[Any]:
        """``name`` gives ``part`` until the block ends, then what it gave before (tests: every
        gate opened with ``pin_factory = "mock"`` gets the test's own MockFactory)."""
        saved = self._substitutes.get(name, _NOTHING)
        self._substitutes[name] = part
        try:
            yield part
        finally:
            if saved is _NOTHING:
                self._substitutes.pop(name, None)
            else:
                self._substitutes[name] = saved

    def open(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Load ``name`` and call it; any failure of a driver is a :class:`DriverError`."""
        try:
            return self.load(name)(*args, **kwargs)
        except DriverError:
            raise
        except Exception as exc:  # hardware libraries raise many kinds when the hardware is absent
            raise DriverError(f"{self.kind} {name!r} could not be opened: {exc}") from exc


CAMERAS = Registry("camera driver", "kiosk.cameras", {
    "picamera2": "drivers.camera_picamera2:Picamera2Source.from_config",
    "opencv": "drivers.camera:OpenCVSource.from_config",
    "replay": "drivers.camera:ReplaySource.from_config",
})
SCREENS = Registry("screen driver", "kiosk.screens", {
    "pygame": "drivers.screen.pygame_screen:PygameScreen",
    "none": "kiosk.ports:NullScreen",
})
PIN_FACTORIES = Registry("GPIO pin factory", "kiosk.pin_factories", {
    "mock": "gpiozero.pins.mock:MockFactory",
    "lgpio": "gpiozero.pins.lgpio:LGPIOFactory",
    "rpigpio": "gpiozero.pins.rpigpio:RPiGPIOFactory",
    "pigpio": "gpiozero.pins.pigpio:PiGPIOFactory",
    "native": "gpiozero.pins.native:NativeFactory",
})
# in the order they are tried on a QR text
FORMATS = Registry("credential format", "kiosk.formats", {
    "eu-dcc": "kiosk.formats.eu_dcc:FORMAT",
    "shc": "kiosk.formats.shc:FORMAT",
    "pc-covid": "kiosk.formats.pc_covid:FORMAT",
    "cccd": "kiosk.formats.cccd:FORMAT",
})
