"""What flows through the loop: credentials, their evidence, decisions.

A format plug-in turns QR text into a :class:`Credential` (never raising); the policy turns a
credential into a :class:`Decision`. Statuses and decisions are contract values (DESIGN.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from sync.wire import Status  # noqa: F401  (the contract's statuses: one list, in the protocol)


class Kind(StrEnum):
    """What a credential proves."""

    IDENTITY = "identity"
    VACCINATION = "vaccination"
    TEST = "test"
    RECOVERY = "recovery"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """Personal data. Never logged; sealed before it touches the disk."""

    name: str
    birth_date: str = ""  # ISO 8601, possibly partial ("1990", "1990-05") or empty
    document: str = ""  # document number (possibly masked by the issuer), or empty

    def masked(self) -> str:
        """What the guard may see: initials and birth year."""
        initials = "".join(part[0] for part in self.name.replace(",", " ").split() if part)
        year = self.birth_date[:4]
        return f"{initials.upper()} {year}".strip()

    def to_json(self) -> dict:
        return {"name": self.name, "birth_date": self.birth_date, "document": self.document}


@dataclass(frozen=True)
class Vaccination:
    date: dt.date
    dose_number: int
    series_doses: int
    product: str = ""  # e.g. "EU/1/20/1528", or a CVX code for SMART Health Cards
    disease: str = "840539006"  # SNOMED CT COVID-19
    country: str = ""


@dataclass(frozen=True)
class TestResult:
    sampled_at: dt.datetime
    detected: bool
    test_type: str = ""  # "pcr" (NAAT) or "rat" (rapid antigen), or the issuer's code
    disease: str = "840539006"
    country: str = ""


@dataclass(frozen=True)
class Recovery:
    first_positive: dt.date
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    disease: str = "840539006"
    country: str = ""


Evidence = Vaccination | TestResult | Recovery


@dataclass(frozen=True)
class Credential:
    """The outcome of recognising and verifying one QR text.

    ``detail`` explains a non-valid status in words safe to log (never personal data).
    """

    format: str  # format id ("eu-dcc", "shc", "pc-covid", "cccd") or "unknown"
    status: Status
    kind: Kind = Kind.UNKNOWN
    identity: Identity | None = None
    evidence: tuple[Evidence, ...] = ()
    issuer: str = ""  # country code or issuer URL, safe to log
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID


@dataclass(frozen=True)
class Decision:
    decision: str  # "pass" or "fail"
    reason: str  # stable machine code, see kiosk.reasons
    flags: tuple[str, ...] = field(default=())  # e.g. ("clock_unsynchronised",)

    @property
    def passed(self) -> bool:
        return self.decision == "pass"
