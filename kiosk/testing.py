"""Fakes shipped with the kiosk, as gpiozero ships ``MockFactory``: for tests, the demo and
benchmarks. Each implements a port (:mod:`kiosk.ports`) and can be driven and inspected.

- :class:`FakeCamera`: frames put in by the test (``show(image)``), read by the loop in turn;
  ``EndOfStream`` once they are used up (or ``CameraStalled`` with ``stall_when_empty``).
- :class:`RecordingScreen`: keeps every view it was shown.
- :func:`mock_pin_factory`: gpiozero's MockFactory as the ``mock`` pin factory, restored after.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kiosk.errors import CameraStalled, DriverError, EndOfStream
from kiosk.ports import Frame, View


class FakeCamera:
    """A camera the test feeds: each image shown is one frame, read once, in order."""

    live = False

    def __init__(self, images: Iterable[Any] = (), *, fps: float = 30.0, stall_when_empty: bool = False):
        self.fps = fps
        self.stall_when_empty = stall_when_empty
        self._queue: deque[Any] = deque(images)
        self._lock = threading.Lock()
        self._index = 0
        self.closed = False

    def show(self, *images: Any) -> None:
        """Put frames in front of the camera (plays the outside world, like ``pin.drive_high()``)."""
        with self._lock:
            self._queue.extend(images)

    def read(self) -> Frame:
        if self.closed:
            raise DriverError("camera is closed")
        with self._lock:
            if not self._queue:
                if self.stall_when_empty:
                    raise CameraStalled("no frame from the fake camera")
                raise EndOfStream("the fake camera has shown every frame")
            image = self._queue.popleft()
            index = self._index
            self._index += 1
        return Frame(image, time.monotonic(), index, stream_time=index / self.fps)

    def close(self) -> None:
        self.closed = True


class RecordingScreen:
    """A screen that keeps every view it is shown (``views``), for tests to read."""

    def __init__(self, section: Any = None, venue: str = "") -> None:
        self.views: list[View] = []
        self.closed = False

    def show(self, view: View) -> None:
        if self.closed:
            raise DriverError("screen: show() after close()")
        self.views.append(view)

    @property
    def states(self) -> list[str]:
        return [v.state for v in self.views]

    def close(self) -> None:
        self.closed = True


@contextmanager
def mock_pin_factory() -> Iterator[Any]:
    """gpiozero's MockFactory, given to every gate opened with ``pin_factory = "mock"`` until the
    block ends; its pins are then reset (gpiozero's own test fixture saves and restores the
    factory the same way)."""
    from gpiozero.pins.mock import MockFactory

    from kiosk.plugins import PIN_FACTORIES

    factory = MockFactory()
    try:
        with PIN_FACTORIES.substitute("mock", lambda: factory):
            yield factory
    finally:
        factory.reset()
