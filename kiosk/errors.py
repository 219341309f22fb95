"""The kiosk's exceptions, one root, each also the builtin it resembles.

    KioskError
    ├── ConfigError(KioskError, ValueError)      bad configuration file
    ├── DriverError(KioskError, RuntimeError)    hardware could not be opened or used
    │   └── CameraStalled(DriverError, TimeoutError)
    ├── JournalError(KioskError, RuntimeError)   the local store failed (disk full, corrupt)
    ├── TrustError(KioskError, ValueError)       a trust list, key or bundle could not be used
    └── SyncError(KioskError, ConnectionError)   talking to the city server failed

A visitor's QR code never raises: verification turns every problem into a status.
"""


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose."""


class ConfigError(KioskError, ValueError):
    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class DriverError(KioskError, RuntimeError):
    pass


class CameraStalled(DriverError, TimeoutError):
    pass


class JournalError(KioskError, RuntimeError):
    pass


class TrustError(KioskError, ValueError):
    pass


class SyncError(KioskError, ConnectionError):
    pass
