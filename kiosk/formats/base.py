"""The credential-format plug-in interface.

A format is one module holding one object with an ``id``, a cheap ``recognises(text)`` (a prefix
or shape test, no decoding) and ``verify(text, context)``, which parses and checks the text and
returns a :class:`~kiosk.model.Credential`. ``verify`` must never raise for any text: every
problem is a status. Heavy libraries are imported inside ``verify`` so that recognising stays
cheap and ``kiosk verify`` starts fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sync.trust import TrustStore

# Decoding limits, part of verification: a QR code holds at most ~4 KB, so anything that
# expands far beyond that is an attack, not a certificate.
MAX_QR_TEXT = 8 * 1024
MAX_DECOMPRESSED = 64 * 1024
MAX_NESTING = 32


class Refused(Exception):
    """Inside a format: a verification step failed with this status and a detail safe to log.

    Raised by the steps, caught once in the format's ``verify``, which turns it into a
    Credential; it never leaves a format.
    """

    def __init__(self, status, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class VerifyContext:
    """Everything verification needs besides the text: the instant to judge at and whom to trust."""

    now: dt.datetime
    trust: "TrustStore" = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("VerifyContext.now must be timezone-aware")
        if self.trust is None:
            from sync.trust import TrustStore

            object.__setattr__(self, "trust", TrustStore())


@runtime_checkable
class CredentialFormat(Protocol):
    id: str

    def recognises(self, text: str) -> bool: ...

    def verify(self, text: str, context: VerifyContext) -> "Credential": ...  # noqa: F821
