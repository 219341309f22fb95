"""Tell systemd how the kiosk is doing: the ``sd_notify`` protocol, without libsystemd.

Why: ``kiosk.service`` is ``Type=notify`` with ``WatchdogSec=``. systemd considers the kiosk
started only when it sends ``READY=1`` (the camera delivered its first frame), and kills and
restarts it when ``WATCHDOG=1`` stops arriving (the camera loop is stuck). ``STATUS=`` lines show
up in ``systemctl status kiosk``.

The protocol is one datagram per message on the AF_UNIX socket named by ``$NOTIFY_SOCKET``
(a path, or ``@name`` for the abstract namespace), each a few ``KEY=value`` lines. When the
variable is unset (a terminal, the tests, ``kiosk demo``) every method is a no-op, so the loop
calls them unconditionally. Sending never raises: a lost status line must not stop the gate.

The watchdog must be fed from the camera loop itself, after each processed frame, never from a
side thread (a thread would keep the kiosk "alive" while the loop is stuck). Feeding at frame
rate would send dozens of datagrams a second to PID 1, so :meth:`Notifier.watchdog` sends at
most one per quarter of the watchdog interval; a stuck loop still stops the datagrams at once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

__all__ = ["Notifier", "watchdog_interval", "notify_address"]


def notify_address(environ: Mapping[str, str] | None = None) -> str | bytes | None:
    """The address of the notify socket from ``$NOTIFY_SOCKET``, or None when not under systemd.

    A leading ``@`` names a socket in the abstract namespace (a leading NUL byte on the wire).
    """
    env = os.environ if environ is None else environ
    value = env.get("NOTIFY_SOCKET", "")
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if not value.startswith("/"):
        log.warning("ignoring NOTIFY_SOCKET=%r: neither a path nor @abstract", value)
        return None
    return value


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1`` (``$WATCHDOG_USEC``), or None.

    Like ``sd_watchdog_enabled()``: when ``$WATCHDOG_PID`` is set and is not this process, the
    watchdog is meant for another process (say, a parent shell) and this returns None.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    if value <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return value / 1_000_000


class Notifier:
    """Sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` to systemd; does nothing outside it.

    ``environ`` and ``clock`` are injectable for tests (the clock paces watchdog datagrams).
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = notify_address(environ)
        interval = watchdog_interval(environ)
        self.watchdog_seconds: float | None = interval
        # at most one WATCHDOG=1 per quarter interval; 0 = every call (no interval known)
        self._watchdog_every = interval / 4 if interval else 0.0
        self._last_watchdog: float | None = None
        self._clock = clock
        self._sock: socket.socket | None = None
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; True if it was sent. Never raises."""
        if self._address is None or not lines:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock = sock
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            # systemd gone (reexec) or socket full: a lost notification must not stop the gate
            log.debug("sd_notify failed: %s", exc)
            self._close_socket()
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (the camera delivered its first frame)."""
        lines = ["READY=1"]
        if status:
            lines.append(_status_line(status))
            self._last_status = status
        return self.notify(*lines)

    def watchdog(self) -> bool:
        """Feed the watchdog; call from the camera loop after each processed frame."""
        if self._address is None:
            return False
        now = self._clock()
        if self._last_watchdog is not None and now - self._last_watchdog < self._watchdog_every:
            return False
        if self.notify("WATCHDOG=1"):
            self._last_watchdog = now
            return True
        return False

    def status(self, text: str) -> bool:
        """A one-line status for ``systemctl status`` (sent only when it changes)."""
        if text == self._last_status:
            return False
        sent = self.notify(_status_line(text))
        if sent:
            self._last_status = text
        return sent

    def reloading(self) -> bool:
        """The config is being re-read (send :meth:`ready` when done)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Shutting down (the relay is being released)."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status_line(text: str) -> str:
    # one line: a newline would start a new KEY=value assignment
    return "STATUS=" + " ".join(text.split())
