"""The kiosk's exceptions, one root, each also the builtin it resembles.

    KioskError
    ├── ConfigError(KioskError, ValueError)      bad configuration file
    ├── DriverError(KioskError, RuntimeError)    hardware could not be opened or used
    │   ├── CameraStalled(DriverError, TimeoutError)   no frame for camera.stall_seconds
    │   └── EndOfStream(DriverError)                   a replay without looping has ended
    ├── JournalError(KioskError, RuntimeError)   the local store failed (disk full, corrupt)
    ├── TrustError(KioskError, ValueError)       a trust list, key or bundle could not be used
    └── SyncError(KioskError, ConnectionError)   talking to the city server failed

A visitor's QR code never raises: verification turns every problem into a status.

The root and the three errors the protocol shares with the city (``ConfigError``, ``TrustError``,
``SyncError``) are defined in :mod:`sync.errors` (the city server imports nothing from
``kiosk/``) and re-exported here: ``KioskError`` is ``sync.errors.ProtocolError``.
"""

from sync.errors import ConfigError, SyncError, TrustError
from sync.errors import ProtocolError as KioskError

__all__ = ["KioskError", "ConfigError", "DriverError", "CameraStalled", "EndOfStream", "JournalError", "TrustError", "SyncError"]


class DriverError(KioskError, RuntimeError):
    pass


class CameraStalled(DriverError, TimeoutError):
    pass


class EndOfStream(DriverError):
    """A replay without looping has shown its last frame."""


class JournalError(KioskError, RuntimeError):
    pass


