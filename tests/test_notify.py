"""The sd_notify client against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kiosk.notify import Notifier, notify_address, watchdog_interval


@pytest.fixture
def systemd_socket(tmp_path):
    """A datagram socket where systemd would listen; yields (socket, its path)."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on the socket, decoded."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5)
    return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_notify_socket_everything_is_a_no_op():
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.status("scanning") is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    notifier.close()


def test_ready_status_reloading_stopping_arrive_as_datagrams(systemd_socket):
    sock, path = systemd_socket
    with Notifier(environ={"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready("camera 640x480")
        assert sock.recv(4096) == b"READY=1\nSTATUS=camera 640x480"
        assert notifier.status("scanning")
        assert sock.recv(4096) == b"STATUS=scanning"
        assert notifier.reloading()
        lines = sock.recv(4096).decode().split("\n")
        assert lines[0] == "RELOADING=1"
        assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_status_is_one_line_and_sent_only_when_it_changes(systemd_socket):
    sock, path = systemd_socket
    notifier = Notifier(environ={"NOTIFY_SOCKET": path})
    assert notifier.status("camera stalled\nREADY=1")  # a newline must not inject a key
    assert notifier.status("camera stalled\nREADY=1") is False
    assert notifier.status("scanning")
    assert received(sock) == ["STATUS=camera stalled READY=1", "STATUS=scanning"]


def test_abstract_namespace_socket():
    name = f"kiosk-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert notify_address({"NOTIFY_SOCKET": "@" + name}) == b"\0" + name.encode()
        assert Notifier(environ={"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_relative_notify_socket_is_ignored():
    assert notify_address({"NOTIFY_SOCKET": "relative/path"}) is None
    assert not Notifier(environ={"NOTIFY_SOCKET": "relative/path"}).enabled


def test_watchdog_paced_to_a_quarter_of_the_interval(systemd_socket):
    sock, path = systemd_socket
    clock = FakeClock()
    notifier = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "8000000"}, clock=clock)
    assert notifier.watchdog_seconds == 8.0
    assert notifier.watchdog()  # the first frame feeds at once
    clock.now += 1.0
    assert notifier.watchdog() is False  # 30 fps must not mean 30 datagrams to PID 1
    clock.now += 1.0
    assert notifier.watchdog()  # 2 s = a quarter of 8 s
    assert received(sock) == ["WATCHDOG=1", "WATCHDOG=1"]


def test_watchdog_without_interval_sends_every_call(systemd_socket):
    sock, path = systemd_socket
    notifier = Notifier(environ={"NOTIFY_SOCKET": path}, clock=FakeClock())
    assert notifier.watchdog() and notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1", "WATCHDOG=1"]


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        ({"WATCHDOG_USEC": "10000000"}, 10.0),
        ({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "4242"}, 2.5),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "x"}, None),
    ],
)
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env, pid=4242) == expected


def test_sending_to_a_vanished_systemd_does_not_raise(tmp_path):
    path = tmp_path / "gone.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.close()
    path.unlink()
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(path)})
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    # and it recovers when the socket comes back (systemd re-executed)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_child_process_reads_its_environment(systemd_socket):
    """What systemd does: the service finds the socket and interval in its environment."""
    sock, path = systemd_socket
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="4000000")
    env.pop("WATCHDOG_PID", None)
    code = (
        "from kiosk.notify import Notifier\n"
        "n = Notifier()\n"
        "assert n.watchdog_seconds == 4.0\n"
        "n.ready(); n.watchdog(); n.stopping()\n"
    )
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], env=env, cwd=repo, check=True, timeout=60)
    assert received(sock) == ["READY=1", "WATCHDOG=1", "STOPPING=1"]
