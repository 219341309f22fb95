r"""Shared checks for the unsigned Vietnamese identity codes (PC-Covid personal QR, chip ID card).

They carry no signature that can be checked publicly, so verification is well-formedness: the
right number of fields, digits where digits belong, real dates in the past. Digits are ASCII
``[0-9]`` only, never ``\d``: Python's ``\d`` (and ``int()``) accept full-width and other
scripts' digits, so a lookalike number would pass and be recorded as a different string.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from kiosk.formats.base import VerifyContext
from kiosk.model import Credential, Identity, Kind, Status

FIELD_SEPARATOR = "|"
MAX_FIELD = 200  # no real name or address is longer; a longer one is not an ID code
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Invalid(ValueError):
    """A field is not well-formed; the message names the field, never its value."""


def split_fields(text: str, count: int) -> list[str]:
    fields = text.split(FIELD_SEPARATOR)
    if len(fields) != count:
        raise Invalid(f"expected {count} fields separated by '|', found {len(fields)}")
    for i, value in enumerate(fields):
        if len(value) > MAX_FIELD:
            raise Invalid(f"field {i + 1} is longer than {MAX_FIELD} characters")
        if _CONTROL.search(value):
            raise Invalid(f"field {i + 1} holds control characters")
    return [f.strip() for f in fields]


def parse_date(value: str, field: str, today: dt.date) -> dt.date:
    """ddMMyyyy or dd/MM/yyyy (as printed on Vietnamese documents), in the past, after 1900."""
    digits = value.replace("/", "").replace("-", "")
    if not re.fullmatch(r"[0-9]{8}", digits):
        raise Invalid(f"{field} is not a date ddMMyyyy")
    try:
        date = dt.date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        raise Invalid(f"{field} is not a calendar date") from None
    if date.year < 1900 or date > today:
        raise Invalid(f"{field} is out of range")
    return date


def check_name(value: str, field: str = "name", *, ascii_upper: bool = False) -> str:
    if not value:
        raise Invalid(f"{field} is empty")
    if ascii_upper:
        if not re.fullmatch(r"[A-Z]+( [A-Z]+)*", value):
            raise Invalid(f"{field} must be upper-case letters without diacritics")
        return value
    # letters (any script, with Vietnamese diacritics), spaces, and the odd apostrophe or hyphen
    for ch in value:
        if not (ch in " '-." or unicodedata.category(ch).startswith(("L", "M"))):
            raise Invalid(f"{field} holds characters that are not letters")
    return " ".join(value.split())


class IdentityFormat:
    """A pipe-separated identity code with a fixed number of fields, checked by ``parse``."""

    def __init__(self, format_id: str, fields: int, parse: Callable[[str, dt.date], Identity]):
        self.id = format_id
        self.fields = fields
        self.parse = parse

    def recognises(self, text: str) -> bool:
        return text.count(FIELD_SEPARATOR) == self.fields - 1

    def verify(self, text: str, context: VerifyContext) -> Credential:
        try:
            identity = self.parse(text, context.now.date())
        except Invalid as exc:
            return Credential(self.id, Status.MALFORMED, kind=Kind.IDENTITY, detail=str(exc))
        return Credential(self.id, Status.VALID, kind=Kind.IDENTITY, identity=identity, issuer="VN")
