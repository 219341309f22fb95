"""Fakes shipped with the kiosk, as gpiozero ships ``MockFactory``: for tests, the demo and
benchmarks. Each implements a port (:mod:`kiosk.ports`) and can be driven and inspected.

- :class:`FakeCamera`: frames put in by the test (``show(image)``), read by the loop in turn;
  ``EndOfStream`` once they are used up (or ``CameraStalled`` with ``stall_when_empty``). With
  ``live=True`` it plays a live camera: ``read()`` waits for the next frame shown until ``end()``,
  and ``wait_until_read(n)`` tells the test when the reader has taken ``n`` frames.
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
    """A camera the test feeds: each image shown is one frame, read once, in order.

    Not live (the default), it is a replay: ``read()`` ends the stream once every frame shown
    has been read. Live, it is a camera in front of the world: ``read()`` waits until a frame is
    shown (or ``end()`` is called, or it is closed), and :class:`drivers.camera.Camera` reads it
    in its capture thread, keeping only the newest frame.
    """

    def __init__(self, images: Iterable[Any] = (), *, fps: float = 30.0, live: bool = False,
                 stall_when_empty: bool = False):
        self.fps = fps
        self.live = live
        self.stall_when_empty = stall_when_empty
        self._queue: deque[Any] = deque(images)
        self._cond = threading.Condition()
        self._index = 0  # frames read so far
        self._asked = -1  # frames read when read() was last entered: the reader is back for more
        self._ended = False
        self.closed = False

    def show(self, *images: Any) -> None:
        """Put frames in front of the camera (plays the outside world, like ``pin.drive_high()``)."""
        with self._cond:
            self._queue.extend(images)
            self._cond.notify_all()

    def end(self) -> None:
        """No frame will follow those shown: once they are read, a live ``read()`` ends the stream."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def wait_until_read(self, count: int, timeout: float = 10.0) -> None:
        """Until the reader has taken ``count`` frames and come back to ``read()`` for the next: a
        capture thread has then handed frame ``count - 1`` on."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed or self._asked >= count, timeout):
                raise AssertionError(f"the reader never took frame {count - 1} and came back")

    def read(self) -> Frame:
        with self._cond:
            self._asked = self._index
            self._cond.notify_all()
            while not self._queue:
                if self.closed:
                    raise DriverError("camera is closed")
                if self.stall_when_empty:
                    raise CameraStalled("no frame from the fake camera")
                if not self.live or self._ended:
                    raise EndOfStream("the fake camera has shown every frame")
                self._cond.wait()
            if self.closed:
                raise DriverError("camera is closed")
            image = self._queue.popleft()
            index = self._index
            self._index += 1
        # as drivers.camera.ReplaySource: a live frame has no stream clock, a replayed one index / fps
        return Frame(image, time.monotonic(), index, stream_time=None if self.live else index / self.fps)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


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
