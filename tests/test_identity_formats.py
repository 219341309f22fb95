"""The unsigned Vietnamese identity codes: chip ID card (cccd) and PC-Covid personal QR."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.formats import recognise, verify
from kiosk.formats.base import VerifyContext
from kiosk.model import Kind, Status

NOW = VerifyContext(now=dt.datetime(2026, 11, 29, 8, tzinfo=dt.timezone.utc))
CCCD = "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh|15042021"
PC_COVID = "0010******56|NGUYEN VAN AN|01/01/1990|1|3f2a9c01ab|"


def test_cccd_valid_with_identity_and_mask():
    cred = verify(CCCD, NOW)
    assert (cred.format, cred.status, cred.kind) == ("cccd", Status.VALID, Kind.IDENTITY)
    assert cred.identity.name == "Nguyễn Văn An"
    assert cred.identity.birth_date == "1990-01-01"
    assert cred.identity.masked() == "NVA 1990"


def test_cccd_woman_born_2001_without_old_number():
    text = "079301000123||Trần Thị Mai|05062001|Nữ|Quận 3, TP. Hồ Chí Minh|01072021"
    assert verify(text, NOW).status is Status.VALID


@pytest.mark.parametrize("field, value, words", [
    (0, "00109012345", "12 digits"),
    (0, "0010901234ab", "12 digits"),
    (0, "099090123456", "province"),
    (0, "001190123456", "sex and century"),
    (0, "001091123456", "year of birth"),
    (1, "12345", "9 digits"),
    (2, "", "empty"),
    (2, "Nguyễn <script>", "not letters"),
    (3, "31021990", "calendar date"),
    (3, "01011890", "out of range"),
    (3, "01012999", "out of range"),
    (3, "1990-1-1", "ddMMyyyy"),
    (4, "Khác", "gender"),
    (5, "", "address"),
    (6, "01011980", "before the birth date"),
])
def test_cccd_malformed_fields_say_which(field, value, words):
    fields = CCCD.split("|")
    fields[field] = value
    cred = verify("|".join(fields), NOW)
    assert cred.status is Status.MALFORMED
    assert words in cred.detail
    assert value not in cred.detail or not value  # details name the field, never echo it


def test_pc_covid_valid_masked_document():
    cred = verify(PC_COVID, NOW)
    assert (cred.format, cred.status) == ("pc-covid", Status.VALID)
    assert cred.identity.document == "0010******56"
    assert cred.identity.masked() == "NVA 1990"


def test_pc_covid_birth_year_only():
    cred = verify("001090123456|TRAN THI B|1985|1|abcdef12|ext", NOW)
    assert cred.status is Status.VALID and cred.identity.birth_date == "1985"


@pytest.mark.parametrize("text", [
    "0010******56|Nguyễn Văn An|01/01/1990|1|3f2a9c01ab|",  # diacritics: the app writes none
    "0010******56|nguyen van an|01/01/1990|1|3f2a9c01ab|",  # lower case
    "**********56|NGUYEN VAN AN|01/01/1990|1|3f2a9c01ab|",  # masked beyond recognition
    "0010******56|NGUYEN VAN AN|30/02/1990|1|3f2a9c01ab|",
    "0010******56|NGUYEN VAN AN|01/01/1990|x|3f2a9c01ab|",
    "0010******56|NGUYEN VAN AN|01/01/1990|1|!!|",
    "0010******56|NGUYEN VAN AN|01/01/1990|1|3f2a9c01ab\x00|",
])
def test_pc_covid_malformed(text):
    assert verify(text, NOW).status is Status.MALFORMED


def test_recognition_by_shape_and_unknown_text():
    assert recognise(CCCD).id == "cccd"
    assert recognise(PC_COVID).id == "pc-covid"
    assert recognise("hello") is None
    cred = verify("https://example.com/", NOW)
    assert (cred.format, cred.status) == ("unknown", Status.UNSUPPORTED)
    assert verify("x" * 100_000, NOW).status is Status.MALFORMED


# --------------------------------------------------------------------------- lookalike digits
# Python's \d and int() take any script's decimal digits; an ID number or date in full-width,
# Arabic-Indic, Devanagari or mathematical digits must be refused, not recorded as another string.
LOOKALIKES = {
    "full-width": 0xFF10,
    "arabic-indic": 0x0660,
    "devanagari": 0x0966,
    "mathematical bold": 0x1D7CE,
}


def lookalike(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


@pytest.mark.parametrize("zero", LOOKALIKES.values(), ids=LOOKALIKES.keys())
@pytest.mark.parametrize("field", [0, 1, 3, 6], ids=["CCCD number", "CMND number", "birth date", "issue date"])
def test_cccd_numeric_fields_take_ascii_digits_only(field, zero):
    fields = CCCD.split("|")
    fields[field] = lookalike(fields[field], zero)
    assert verify("|".join(fields), NOW).status is Status.MALFORMED


@pytest.mark.parametrize("zero", LOOKALIKES.values(), ids=LOOKALIKES.keys())
@pytest.mark.parametrize("text, field", [
    ("001090123456|TRAN THI B|1985|1|abcdef12|ext", 2),
    (PC_COVID, 2),
    (PC_COVID, 3),
    (PC_COVID, 0),
], ids=["birth year", "birth date", "identifier type", "document number"])
def test_pc_covid_numeric_fields_take_ascii_digits_only(text, field, zero):
    assert verify(text, NOW).status is Status.VALID
    fields = text.split("|")
    fields[field] = lookalike(fields[field], zero)
    assert verify("|".join(fields), NOW).status is Status.MALFORMED
