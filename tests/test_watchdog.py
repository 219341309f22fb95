"""The systemd watchdog, end to end: `kiosk run` against a notify socket of the test's own.

The test plays systemd: it binds an AF_UNIX datagram socket, starts `kiosk run` with
NOTIFY_SOCKET and WATCHDOG_USEC in its environment, and reads what the kiosk sends. The camera
is a replay folder; to make it stall, every image is replaced by a FIFO, so the camera's next
read blocks for good, like a wedged camera driver. The kiosk must then stop sending WATCHDOG=1
(systemd would restart it) while staying alive and saying why in STATUS=.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WATCHDOG_SECONDS = 3.0  # what WatchdogSec= would say
STALL_SECONDS = 1.0  # camera.stall_seconds: the loop notices before systemd does


class FakeSystemd:
    """The receiving end of sd_notify, keeping each datagram with its arrival time."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path
        self.messages: list[tuple[float, str]] = []

    def wait_for(self, predicate, timeout: float, process: subprocess.Popen) -> tuple[float, str]:
        """Read datagrams until one satisfies predicate; fail on timeout or if the kiosk died."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received so far: {[m for _, m in self.messages]}")
            if process.poll() is not None:
                raise AssertionError(f"kiosk exited with {process.returncode}: {_stderr(process)}")
            self.sock.settimeout(min(remaining, 0.5))
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            item = (time.monotonic(), data)
            self.messages.append(item)
            if predicate(data):
                return item

    def collect(self, seconds: float) -> list[tuple[float, str]]:
        """Every datagram arriving in the next ``seconds``."""
        end = time.monotonic() + seconds
        got = []
        while (remaining := end - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            got.append((time.monotonic(), data))
        self.messages.extend(got)
        return got

    def close(self) -> None:
        self.sock.close()


def _stderr(process: subprocess.Popen) -> str:
    try:
        _out, err = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        return "(no stderr)"
    return err[-3000:] if err else ""


def _write_frames(folder: Path, count: int) -> list[Path]:
    import cv2
    import numpy as np

    folder.mkdir()
    paths = []
    for i in range(count):
        image = np.full((120, 160), 40 + 10 * i, dtype=np.uint8)  # plain frames: no code to decide on
        path = folder / f"frame{i:03d}.png"
        assert cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def _config(tmp_path: Path, frames: Path) -> Path:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f"""
[kiosk]
id = "watchdog-test"
venue = "Test venue"
state_dir = "{tmp_path / 'state'}"
clock = "assume_synchronised"

[camera]
driver = "replay"
replay_path = "{frames}"
fps = 10.0
replay_loop = true
replay_realtime = true
stall_seconds = {STALL_SECONDS}

[gate]
pin_factory = "mock"

[screen]
driver = "none"
"""
    )
    return config


def test_a_stalled_camera_stops_the_watchdog(tmp_path):
    frames = _write_frames(tmp_path / "frames", 10)
    config = _config(tmp_path, tmp_path / "frames")
    systemd = FakeSystemd(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(systemd.path), WATCHDOG_USEC=str(int(WATCHDOG_SECONDS * 1e6)))
    env.pop("WATCHDOG_PID", None)
    env.pop("KIOSK_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "run", "--config", str(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # started: READY=1 once the camera delivers, then the loop feeds the watchdog
        systemd.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=120, process=process)
        first, _ = systemd.wait_for(lambda m: m == "WATCHDOG=1", timeout=30, process=process)
        healthy = [t for t, m in systemd.collect(2 * WATCHDOG_SECONDS) if m == "WATCHDOG=1"]
        feeds = [first, *healthy]
        assert len(feeds) >= 3, systemd.messages
        # fed often enough while healthy that systemd would not have fired
        assert max(b - a for a, b in zip(feeds, feeds[1:])) < WATCHDOG_SECONDS, feeds

        # the camera wedges: every image becomes a FIFO nobody writes to, so reads block
        for path in frames:
            path.unlink()
            os.mkfifo(path)
        stalled_at, _ = systemd.wait_for(lambda m: m.startswith("STATUS=camera stalled"), timeout=60,
                                         process=process)

        # from now on no WATCHDOG=1 at all, for longer than the watchdog interval
        after = systemd.collect(2 * WATCHDOG_SECONDS)
        assert [m for _, m in after if m == "WATCHDOG=1"] == [], after
        assert process.poll() is None, "the kiosk must stay up; ending it is systemd's call"
        last_feed = max(t for t, m in systemd.messages if m == "WATCHDOG=1")
        assert time.monotonic() - last_feed > WATCHDOG_SECONDS  # systemd would restart it now
        assert last_feed < stalled_at

        # a clean stop still works with the camera wedged
        process.send_signal(signal.SIGTERM)
        systemd.wait_for(lambda m: m == "STOPPING=1", timeout=30, process=process)
        assert process.wait(timeout=30) == 0, _stderr(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        systemd.close()
        for path in frames:
            if path.exists():
                path.unlink()

