"""Wall-clock time and whether it can be trusted.

A Raspberry Pi has no real-time clock: until NTP has synchronised, the time may be days off,
and certificate validity cannot be judged. The kernel knows: ``adjtimex`` reports STA_UNSYNC
until a time daemon has disciplined the clock (this is what ``timedatectl``'s NTPSynchronized
reads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import time

STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; only `modes` and `status` are read, the rest is room
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 200),
    ]


def kernel_clock_synchronised() -> bool | None:
    """True/False from adjtimex, None where it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        if libc.adjtimex(ctypes.byref(tx)) < 0:
            return None
        return not (tx.status & STA_UNSYNC)
    except (OSError, AttributeError):
        return None


class SystemClock:
    """The system clock; synchronisation asked of the kernel at most every ``recheck`` seconds."""

    def __init__(self, recheck: float = 30.0):
        self.recheck = recheck
        self._checked = -1e18
        self._synced = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def synchronised(self) -> bool:
        mono = time.monotonic()
        if mono - self._checked >= self.recheck:
            self._synced = bool(kernel_clock_synchronised())
            self._checked = mono
        return self._synced


class FixedClock:
    """A clock for tests and the demo: a given time (advancing with real time), synchronised or not."""

    def __init__(self, start: dt.datetime | None = None, synchronised: bool = True, advance: bool = True):
        self._start = start or dt.datetime.now(dt.timezone.utc)
        self._mono = time.monotonic()
        self._advance = advance
        self.is_synchronised = synchronised

    def now(self) -> dt.datetime:
        if not self._advance:
            return self._start
        return self._start + dt.timedelta(seconds=time.monotonic() - self._mono)

    def synchronised(self) -> bool:
        return self.is_synchronised


def open_clock(section):
    if section.clock == "assume_synchronised":
        return FixedClock()
    return SystemClock()
