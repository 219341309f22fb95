"""Helpers for tests that run `kiosk-city serve` in a process of its own: a free port, the
process, and the wait until it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(data: Path, port: int, *options: str, log_level: str = "warning", **popen) -> subprocess.Popen:
    """``kiosk-city serve --data DATA`` on 127.0.0.1:PORT (stdout dropped, stderr piped unless
    ``popen`` says otherwise)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "city.cli", "serve", "--data", str(data),
                             "--listen", f"127.0.0.1:{port}", "--log-level", log_level, *options], **popen)


def wait_up(port: int, proc: subprocess.Popen, log: Path | None = None, seconds: float = 60) -> dict:
    """Wait until the server answers ``/v1/health`` and return its answer. Not up yet: a refused
    connection, or one a worker's socket took before the worker answers. Fails with the server's
    stderr (or ``log``) if it exits or does not answer in time."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            said = log.read_text() if log else (proc.stderr.read().decode() if proc.stderr else "")
            raise AssertionError(f"kiosk-city serve exited ({proc.returncode}): {said[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"kiosk-city serve did not answer within {seconds:g} s"
                                 + (f": {log.read_text()[-3000:]}" if log else ""))
        try:
            return requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).json()
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
