"""``cccd``: the QR code printed on the back of a Vietnamese chip ID card (Căn cước công dân).

``CCCD(12)|CMND(9, may be empty)|name|ddMMyyyy|gender|address|issue date ddMMyyyy``.
Unsigned, so the check is well-formedness, plus what the number itself encodes: digits 4 of a
CCCD number encode sex and century of birth, digits 5-6 the year of birth (Circular
07/2016/TT-BCA), which must agree with the printed birth date and gender.
"""

from __future__ import annotations

import re

from kiosk.formats.identity import IdentityFormat, Invalid, check_name, parse_date, split_fields
from kiosk.model import Identity

FORMAT_ID = "cccd"
FIELDS = 7
_GENDERS = {"nam": "M", "male": "M", "nữ": "F", "nu": "F", "female": "F"}


def _century_digit(sex: str, year: int) -> int:
    century = (year // 100) - 19  # 1900s -> 0, 2000s -> 1, ...
    return century * 2 + (1 if sex == "F" else 0)


def parse(text: str, today) -> Identity:
    number, old_number, name, birth, gender, address, issued = split_fields(text, FIELDS)
    if not re.fullmatch(r"[0-9]{12}", number):
        raise Invalid("ID number must be 12 digits")
    if old_number and not re.fullmatch(r"[0-9]{9}", old_number):
        raise Invalid("old ID (CMND) number must be 9 digits or empty")
    province = int(number[:3])
    if not 1 <= province <= 96:
        raise Invalid("ID number has no valid province code")
    name = check_name(name)
    birth_date = parse_date(birth, "birth date", today)
    sex = _GENDERS.get(gender.lower())
    if sex is None:
        raise Invalid("gender must be Nam or Nữ")
    if int(number[3]) != _century_digit(sex, birth_date.year):
        raise Invalid("ID number does not match the sex and century of birth")
    if int(number[4:6]) != birth_date.year % 100:
        raise Invalid("ID number does not match the year of birth")
    if not address:
        raise Invalid("address is empty")
    issue_date = parse_date(issued, "issue date", today)
    if issue_date < birth_date:
        raise Invalid("issue date is before the birth date")
    return Identity(name=name, birth_date=birth_date.isoformat(), document=number)


FORMAT = IdentityFormat(FORMAT_ID, FIELDS, parse)
