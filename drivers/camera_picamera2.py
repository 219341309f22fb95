"""A Raspberry Pi camera through picamera2 (a Pi-only system package, imported on open)."""

from __future__ import annotations

import time

from kiosk.ports import Frame
from kiosk.errors import DriverError


class Picamera2Source:
    live = True

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0):
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise DriverError(
                "picamera2 is not installed (on Raspberry Pi OS: apt install python3-picamera2, "
                "and a venv made with --system-site-packages)"
            ) from exc
        try:
            self._cam = Picamera2()
            # YUV420: the first `height` rows are the luma plane, i.e. a greyscale image for free
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": "YUV420"},
                controls={"FrameRate": fps},
                buffer_count=2,
            )
            self._cam.configure(config)
            self._cam.start()
        except Exception as exc:  # picamera2 raises bare RuntimeError for everything
            raise DriverError(f"Pi camera could not be started: {exc}") from exc
        self._height = height
        self._index = 0

    @classmethod
    def from_config(cls, section) -> "Picamera2Source":
        """``camera.driver = "picamera2"``."""
        return cls(section.width, section.height, section.fps)

    def read(self) -> Frame:
        try:
            array = self._cam.capture_array("main")
        except Exception as exc:
            raise DriverError(f"Pi camera capture failed: {exc}") from exc
        self._index += 1
        return Frame(array[: self._height], time.monotonic(), self._index)

    def close(self) -> None:
        try:
            self._cam.stop()
            self._cam.close()
        except Exception:  # closing a camera that failed is not worth a crash
            pass
