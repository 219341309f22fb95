"""The blind index: keyed hashes of a visitor's normalised identifiers, so a trace finds a
person's entries without opening every identity in the store.

At ingest the city opens each sealed identity once and stores, for its entry, HMAC-SHA256 under
the index key (``DIR/keys/index.key``, never the sealing key) of:

- the full document number (spaces removed, upper case): ``document``;
- the name with the birth date as read (full, or just the year, or none): ``name+birth``;
- the name with the birth year: ``name+year``;
- the name alone: ``name``.

Names are compared as :func:`normalise_name` writes them (no diacritics, case or extra spaces:
PC-Covid writes ``NGUYEN VAN AN``, a certificate ``Nguyễn Văn An``). A masked document number
(PC-Covid shows ``0010******01``) is not indexed: ``--document`` finds only fully read numbers.

:meth:`BlindIndex.for_person` names the hashes whose entries include every entry
:meth:`Person.matches` accepts; a trace opens only those entries and keeps the ones that match,
so its answer is the answer of opening everything.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from city.storage.base import HASH_BYTES


def normalise_name(name: str) -> str:
    text = name
    if not text.isascii():  # an ASCII name (PC-Covid's, most typed ones) has nothing to decompose
        text = text.replace("đ", "d").replace("Đ", "D")
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace(",", " ").upper().split())


def normalise_document(value: str) -> str:
    return "".join(value.split()).upper()


def _text(identity: dict, key: str) -> str:
    value = identity.get(key)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Person:
    """Who a trace looks for: a document number, or a name with an optional (partial) birth date."""

    name: str = ""
    birth_date: str = ""
    document: str = ""

    def matches(self, identity: dict | None) -> bool:
        if not identity:
            return False
        document = normalise_document(_text(identity, "document"))
        if self.document and document and "*" not in document and document == normalise_document(self.document):
            return True
        if not self.name or normalise_name(_text(identity, "name")) != normalise_name(self.name):
            return False
        other = _text(identity, "birth_date")
        if self.birth_date and other:
            return self.birth_date.startswith(other) or other.startswith(self.birth_date)
        return True

    @classmethod
    def from_identity(cls, identity: dict) -> "Person":
        return cls(_text(identity, "name"), _text(identity, "birth_date"), _text(identity, "document"))


class BlindIndex:
    def __init__(self, key: bytes):
        if len(key) < 32:
            raise ValueError("the index key must be at least 32 bytes")
        # the key's inner and outer pads hashed once; each hash copies that state (a third faster
        # than hmac.digest, which starts from the key every time)
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def _hash(self, kind: str, *parts: str) -> bytes:
        mac = self._keyed.copy()
        mac.update("\x00".join((kind, *parts)).encode("utf-8"))
        return mac.digest()[:HASH_BYTES]

    def of_identity(self, identity: object) -> tuple[bytes, ...]:
        """The hashes stored for an opened identity (none for one without a usable name or number)."""
        if not isinstance(identity, dict):
            return ()
        hashes = []
        document = normalise_document(_text(identity, "document"))
        if document and "*" not in document:
            hashes.append(self._hash("document", document))
        name = normalise_name(_text(identity, "name"))
        if name:
            birth = _text(identity, "birth_date")
            hashes.append(self._hash("name+birth", name, birth))
            if len(birth) >= 4:
                hashes.append(self._hash("name+year", name, birth[:4]))
            hashes.append(self._hash("name", name))
        return tuple(hashes)

    def for_person(self, person: Person) -> tuple[bytes, ...]:
        """The hashes to look up: their entries include every entry ``person.matches``."""
        hashes = []
        document = normalise_document(person.document)
        if document and "*" not in document:
            hashes.append(self._hash("document", document))
        name = normalise_name(person.name)
        if name:
            birth = person.birth_date
            if not birth:
                hashes.append(self._hash("name", name))
            else:
                # stored births that are a prefix of the one asked (1990 for 1990-05-01), or none
                hashes.extend(self._hash("name+birth", name, birth[:length]) for length in range(len(birth) + 1))
                # stored births the one asked is a prefix of (1990-05-01 for 1990): same year
                hashes.append(self._hash("name+year", name, birth[:4]) if len(birth) >= 4 else self._hash("name", name))
        return tuple(dict.fromkeys(hashes))
