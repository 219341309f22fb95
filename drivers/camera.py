"""Cameras: a source of greyscale frames, each stamped with its capture time.

Sources (``read()`` blocks at the source's own pace), each found by its ``camera.driver`` name in
``kiosk.plugins.CAMERAS`` and made by its ``from_config(section)``:
- ``ReplaySource``: a folder of images, a video file, or frames in memory, at a set frame rate
  (or as fast as they are taken), optionally looping. Tests, the demo and benchmarks use it.
- ``OpenCVSource``: a USB camera through OpenCV.
- ``drivers.camera_picamera2.Picamera2Source``: a Raspberry Pi camera (imports picamera2 only
  when opened).

A live source is wrapped in :class:`LatestFrame`: a capture thread keeps only the newest frame,
so the loop always decodes the freshest image and stale frames are dropped, never queued; a
source that delivers nothing for ``stall_seconds`` raises :class:`CameraStalled` in the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kiosk.errors import CameraStalled, DriverError, EndOfStream
from kiosk.ports import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class Source(Protocol):
    live: bool  # True: frames come at the source's pace, take the newest; False: take each in turn

    def read(self) -> Frame: ...

    def close(self) -> None: ...


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    import cv2

    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


class ReplaySource:
    """Frames from a folder of images, a video file or a list of arrays, at ``fps``.

    ``realtime=True`` paces frames at ``fps`` from the moment of the first read (a live camera
    in all but name); ``realtime=False`` hands each frame over as soon as it is asked for, so a
    test or a simulation sees every frame.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        frames: Sequence[np.ndarray] | None = None,
        fps: float = 30.0,
        loop: bool = False,
        realtime: bool = True,
    ):
        if (path is None) == (frames is None):
            raise ValueError("give a path or frames")
        self.fps = fps
        self.loop = loop
        self.live = realtime
        self._frames = frames  # any sequence: a list, or frames rendered on demand
        self._files: list[Path] = []
        self._video = None
        self._path = Path(path) if path is not None else None
        if self._path is not None:
            if self._path.is_dir():
                self._files = sorted(p for p in self._path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                if not self._files:
                    raise DriverError(f"{self._path}: no images to replay")
            elif self._path.is_file():
                self._open_video()
            else:
                raise DriverError(f"{self._path}: no such folder or video file")
        self._index = 0
        self._start: float | None = None
        self._closed = False

    @classmethod
    def from_config(cls, section) -> "ReplaySource":
        """``camera.driver = "replay"``."""
        return cls(section.replay_path, fps=section.fps, loop=section.replay_loop,
                   realtime=section.replay_realtime)

    def _open_video(self) -> None:
        import cv2

        self._video = cv2.VideoCapture(str(self._path))
        if not self._video.isOpened():
            raise DriverError(f"{self._path}: OpenCV cannot open this video")

    def _count(self) -> int | None:
        if self._frames is not None:
            return len(self._frames)
        return len(self._files) if self._files else None

    def _load(self, position: int) -> np.ndarray | None:
        if self._frames is not None:
            return to_grey(self._frames[position])
        if self._files:
            import cv2

            image = cv2.imread(str(self._files[position]), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise DriverError(f"{self._files[position]}: unreadable image")
            return image
        ok, image = self._video.read()
        if not ok and self.loop and position > 0:
            self._video.set(1, 0)  # cv2.CAP_PROP_POS_FRAMES
            ok, image = self._video.read()
        return to_grey(image) if ok else None

    def read(self) -> Frame:
        if self._closed:
            raise DriverError("camera is closed")
        count = self._count()
        position = self._index
        if count is not None:
            if position >= count and not self.loop:
                raise EndOfStream("replay finished")
            position %= count
        if self.live:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self._index / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        image = self._load(position)
        if image is None:
            raise EndOfStream("replay finished")
        stream_time = None if self.live else self._index / self.fps
        frame = Frame(image, time.monotonic(), self._index, stream_time)
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed = True
        if self._video is not None:
            self._video.release()


class OpenCVSource:
    """A USB (V4L2) camera through OpenCV."""

    live = True

    def __init__(self, device: int = 0, width: int = 640, height: int = 480, fps: float = 30.0):
        import cv2

        self._cv2 = cv2
        self._cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            raise DriverError(f"camera /dev/video{device} could not be opened")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a queue
        self._index = 0

    @classmethod
    def from_config(cls, section) -> "OpenCVSource":
        """``camera.driver = "opencv"``."""
        return cls(section.device, section.width, section.height, section.fps)

    def read(self) -> Frame:
        ok, image = self._cap.read()
        if not ok:
            raise DriverError("camera returned no frame")
        self._index += 1
        return Frame(to_grey(image), time.monotonic(), self._index)

    def close(self) -> None:
        self._cap.release()


class LatestFrame:
    """A capture thread that keeps only the newest frame of a live source.

    ``get(timeout)`` returns a frame newer than the last one returned; frames the loop had no
    time for are counted in ``dropped`` and discarded.
    """

    def __init__(self, source: Source):
        self.source = source
        self.dropped = 0
        self.captured = 0
        self._frame: Frame | None = None
        self._taken: int | None = None
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.source.read()
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, which decides
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if self._frame is not None and self._frame.index != self._taken:
                    self.dropped += 1
                self._frame = frame
                self.captured += 1
                self._cond.notify_all()

    def get(self, timeout: float) -> Frame:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._frame is not None and self._frame.index != self._taken:
                    self._taken = self._frame.index
                    return self._frame
                if self._error is not None:
                    raise self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraStalled(f"no frame from the camera for {timeout:.1f} s")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._stop.set()
        self.source.close()
        self._thread.join(timeout=2.0)


class Camera:
    """What the loop holds: ``read()`` the next frame to decode, ``close()``.

    A live source goes through :class:`LatestFrame`; a non-live replay is read in turn.
    """

    def __init__(self, source: Source, stall_seconds: float = 3.0):
        self.source = source
        self.stall_seconds = stall_seconds
        self._latest = LatestFrame(source) if source.live else None

    @property
    def dropped(self) -> int:
        return self._latest.dropped if self._latest else 0

    def read(self) -> Frame:
        if self._latest is not None:
            return self._latest.get(self.stall_seconds)
        return self.source.read()

    def close(self) -> None:
        if self._latest is not None:
            self._latest.close()
        else:
            self.source.close()

    def __enter__(self) -> "Camera":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
