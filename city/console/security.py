"""Console sessions, CSRF tokens, sign-in throttling and the pages' security headers.

A session is a cookie signed with the console key (``DIR/keys/console.key``, made on first use,
0600): the account name, its generation (see :mod:`city.console.records`) and the session's
CSRF token, time-stamped by itsdangerous and re-signed on every page, so it ends after
:data:`IDLE_SECONDS` without a request. The cookie is HttpOnly and SameSite=Strict, and Secure
when the console is served over TLS. A visitor who has not signed in holds the same cookie
without a name, so the sign-in form has a CSRF token too.

Kiosk tokens (``Authorization: Bearer``) are never looked at here, and the kiosk API never
looks at this cookie: the two doors do not open each other.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "kiosk_console"
LANG_COOKIE = "kiosk_console_lang"
IDLE_SECONDS = 30 * 60

# no script at all, no framing, nothing from elsewhere: the console works on a closed network
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # every console page is personal to its account, and some show identities: kept nowhere
    "Cache-Control": "no-store",
}


def console_key(data_dir: str | os.PathLike) -> str:
    """The key that signs console cookies (made on first use, readable by the server's user only)."""
    path = Path(data_dir) / "keys" / "console.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


@dataclass(frozen=True)
class Session:
    user: str | None  # None: not signed in (the sign-in form's session)
    generation: str
    csrf: str


class Sessions:
    def __init__(self, key: str, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.time):
        self.idle_seconds = idle_seconds
        self._serializer = URLSafeTimedSerializer(key, salt="kiosk-console-session")
        self.clock = clock

    def new(self, user: str | None = None, generation: str = "") -> Session:
        return Session(user, generation, secrets.token_urlsafe(24))

    def dump(self, session: Session) -> str:
        return self._serializer.dumps([session.user, session.generation, session.csrf])

    def load(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or idle too long."""
        if not cookie:
            return None
        try:
            (user, generation, csrf), signed_at = self._serializer.loads(cookie, return_timestamp=True)
        except (BadSignature, ValueError, TypeError):
            return None
        if self.clock() - signed_at.timestamp() > self.idle_seconds:
            return None
        return Session(user, generation, csrf)


@dataclass
class Throttle:
    """Failed sign-ins per key (an account, an address): more than ``limit`` in ``window``
    seconds blocks that key until the oldest of them leaves the window. The failures are kept in
    the city's database (``records``: :class:`city.console.records.ConsoleRecords`), so every
    worker process of ``serve --workers N`` counts the same ones; ``scope`` keeps the keys of one
    throttle apart from another's."""

    records: Any
    scope: str
    limit: int = 5
    window: float = 15 * 60
    clock: Callable[[], float] = time.time  # wall-clock seconds: shared by processes

    def wait_seconds(self, key: str) -> float:
        """How long ``key`` must wait before it may try again (0: it may now)."""
        now = self.clock()
        recent = self.records.failures(f"{self.scope}:{key}", now - self.window, self.limit)
        if len(recent) < self.limit:
            return 0.0
        return max(0.0, recent[-1] + self.window - now)

    def fail(self, key: str) -> None:
        now = self.clock()
        self.records.add_failure(f"{self.scope}:{key}", now, now - self.window)

    def clear(self, key: str) -> None:
        self.records.clear_failures(f"{self.scope}:{key}")
