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


# Codes of the EU DCC value sets (kiosk/valuesets.py), the language of the health rules
COVID19 = "840539006"  # disease-agent-targeted: COVID-19 (SNOMED CT)
NAAT = "LP6464-4"  # test-type: nucleic acid amplification ("PCR")
RAT = "LP217198-3"  # test-type: rapid antigen test
NOT_DETECTED = "260415000"  # test-result
DETECTED = "260373001"  # test-result
EU_DCC_CODES = "eu-dcc"  # Vaccination.coding: the product is an EU medicinal-product code


# Evidence: what a health credential records, as its format read it. A field the credential left
# out, left empty or wrote so it cannot be read is None (or ""); the rules (kiosk.rules) name the
# fields they need and refuse a record that lacks one (certificate_incomplete). The EU DCC key of
# each field is in brackets.


@dataclass(frozen=True)
class Vaccination:
    date: dt.date | None  # [dt]
    dose_number: int | None  # [dn]
    series_doses: int | None  # [sd]
    product: str = ""  # [mp] e.g. "EU/1/20/1528", or a CVX code for SMART Health Cards
    disease: str = COVID19  # [tg]
    country: str = ""  # [co]
    coding: str = ""  # EU_DCC_CODES when the product is an EU value-set code


@dataclass(frozen=True)
class TestResult:
    sampled_at: dt.datetime | None  # [sc]
    result: str  # [tr] a test-result code: NOT_DETECTED, DETECTED
    test_type: str = ""  # [tt] a test-type code: NAAT, RAT
    disease: str = COVID19  # [tg]
    country: str = ""  # [co]

    @property
    def detected(self) -> bool:
        return self.result == DETECTED


@dataclass(frozen=True)
class Recovery:
    first_positive: dt.date | None  # [fr]
    valid_from: dt.date | None = None  # [df]
    valid_until: dt.date | None = None  # [du]
    disease: str = COVID19  # [tg]
    country: str = ""  # [co]


Evidence = Vaccination | TestResult | Recovery


@dataclass(frozen=True)
class SchemaProblem:
    """One way a payload departs from its format's official schema: reported, never a refusal.

    ``path`` names the place (``$.v[0].dt``) and ``message`` what is wrong, both from the schema
    alone: never a value from the credential, so a problem is safe to print and log.
    """

    path: str
    message: str

    def to_json(self) -> dict:
        return {"path": self.path, "message": self.message}


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
    # the payload against its format's official schema (EU DCC): the version used, the problems
    schema_version: str = ""
    schema_problems: tuple["SchemaProblem", ...] = ()
    # coded fields: (path, value set, code), e.g. ("$.v[0].mp", "vaccine-medicinal-product", "EU/1/20/1528")
    codes: tuple[tuple[str, str, str], ...] = ()

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
