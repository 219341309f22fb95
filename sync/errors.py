"""The sync package's exceptions (the tree is drawn in :mod:`sync`)."""

from __future__ import annotations

from kiosk.errors import SyncError, TrustError

__all__ = ["SyncError", "TransientError", "AuthError", "BatchRefused", "BundleError"]


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
