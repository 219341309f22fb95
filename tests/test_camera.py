"""Cameras: replay of folders, videos and arrays; newest-frame capture; stalls."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from drivers.camera import Camera, LatestFrame, ReplaySource
from kiosk.ports import EndOfStream
from kiosk.errors import CameraStalled, DriverError
from kiosk.testing import FakeCamera


def frames(n, shape=(48, 64)):
    return [np.full(shape, (i * 10) % 256, dtype=np.uint8) for i in range(n)]


def test_replay_folder_in_name_order_and_loop(tmp_path):
    for i, image in enumerate(frames(3)):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    source = ReplaySource(tmp_path, realtime=False, loop=True, fps=10)
    got = [source.read() for _ in range(5)]
    assert [int(f.image[0, 0]) for f in got] == [0, 10, 20, 0, 10]
    assert [f.stream_time for f in got] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


def test_replay_video_file(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for image in frames(4):
        writer.write(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    writer.release()
    source = ReplaySource(path, realtime=False)
    got = []
    with pytest.raises(EndOfStream):
        while True:
            got.append(source.read())
    assert len(got) == 4 and got[0].image.ndim == 2


def test_replay_end_and_bad_paths(tmp_path):
    source = ReplaySource(frames=frames(2), realtime=False)
    source.read(), source.read()
    with pytest.raises(EndOfStream):
        source.read()
    with pytest.raises(DriverError):
        ReplaySource(tmp_path / "absent")
    with pytest.raises(DriverError):
        ReplaySource(tmp_path)  # empty folder


def test_realtime_replay_paces_frames():
    source = ReplaySource(frames=frames(4), fps=50, realtime=True)
    start = time.monotonic()
    for _ in range(4):
        source.read()
    assert time.monotonic() - start >= 3 / 50 * 0.9


def test_latest_frame_drops_stale_frames():
    source = ReplaySource(frames=frames(30), fps=200, realtime=True)
    latest = LatestFrame(source)
    try:
        first = latest.get(timeout=2.0)
        time.sleep(0.1)  # the loop is busy: frames pile up at the source, only the newest is kept
        second = latest.get(timeout=2.0)
        assert second.index > first.index + 1
        assert latest.dropped >= 1
    finally:
        latest.close()


def test_stalled_camera_raises_in_the_loop_thread():
    camera = Camera(FakeCamera(live=True), stall_seconds=0.2)  # live, and shown nothing: read() waits
    with camera, pytest.raises(CameraStalled):
        camera.read()


def test_end_of_live_replay_reaches_the_reader():
    camera = Camera(ReplaySource(frames=frames(2), fps=100, realtime=True), stall_seconds=1.0)
    with camera:
        camera.read()
        with pytest.raises(EndOfStream):
            for _ in range(3):
                camera.read()
