"""``pc-covid``: the personal QR code of the national PC-Covid app (Decision 1405/QĐ-BTTTT).

``SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT``: document number (the app may mask digits
with ``*``), name in upper case without diacritics, birth date (ddMMyyyy or dd/MM/yyyy, or a
year alone where the app knows no more), identifier type, the app's QR id, an extension that may
be empty. Unsigned: the check is well-formedness only.
"""

from __future__ import annotations

import re

from kiosk.formats.identity import IdentityFormat, Invalid, check_name, parse_date, split_fields
from kiosk.model import Identity

FORMAT_ID = "pc-covid"
FIELDS = 6


def parse(text: str, today) -> Identity:
    document, name, birth, id_type, qid, _ext = split_fields(text, FIELDS)
    if not re.fullmatch(r"[0-9A-Z*]{6,20}", document) or document.count("*") > len(document) - 3:
        raise Invalid("document number must be 6-20 digits or capitals, at most partly masked")
    name = check_name(name, ascii_upper=True)
    if re.fullmatch(r"[0-9]{4}", birth):
        year = int(birth)
        if not 1900 <= year <= today.year:
            raise Invalid("birth year is out of range")
        birth_date = str(year)
    else:
        birth_date = parse_date(birth, "birth date", today).isoformat()
    if not re.fullmatch(r"[0-9]{1,2}", id_type):
        raise Invalid("identifier type must be a number")
    if not re.fullmatch(r"[0-9A-Za-z-]{4,64}", qid):
        raise Invalid("QR id must be 4-64 letters or digits")
    return Identity(name=name, birth_date=birth_date, document=document)


FORMAT = IdentityFormat(FORMAT_ID, FIELDS, parse)
