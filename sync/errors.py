"""The protocol's exceptions: one root shared by both sides (the tree is drawn in :mod:`sync`).

The kiosk and the city server both speak this protocol, and the city imports nothing from
``kiosk/``, so the root lives here. :mod:`kiosk.errors` reuses it: ``kiosk.errors.KioskError``
*is* :class:`ProtocolError`, and the kiosk's ``ConfigError``, ``TrustError`` and ``SyncError``
are the classes below, so the kiosk's hierarchy is unchanged and one ``except KioskError``
still catches everything either side raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError", "ConfigError", "TrustError", "SyncError",
    "TransientError", "AuthError", "BatchRefused", "BundleError",
]


class ProtocolError(Exception):
    """Root of every error the kiosk, the protocol and the city raise on purpose."""


class ConfigError(ProtocolError, ValueError):
    """A configuration value (a key, a file) cannot be used; ``problems`` lists each one."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class TrustError(ProtocolError, ValueError):
    """A trust list, key or bundle could not be used."""


class SyncError(ProtocolError, ConnectionError):
    """Talking to the city server failed."""


class TransientError(SyncError):
    """The server could not be reached or asked us to come back later; nothing is lost by waiting.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(SyncError):
    """The server refused the kiosk's token (401/403): retrying will not help until an admin acts."""


class BatchRefused(SyncError):
    """The server refused a batch as invalid (a 4xx other than 401/403/408/429).

    ``refused`` maps entry ids the server named to its reason; empty when it named none.
    """

    def __init__(self, message: str, status: int, refused: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.refused = dict(refused or {})


class BundleError(TrustError):
    """A bundle (or import receipt) is unsigned, tampered with, signed by another key, or older
    than the copy already held."""
