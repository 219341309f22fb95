"""Contact tracing: who was at the same venue as a given person, within ± N minutes.

The person is chosen by one of (see ``kiosk-city trace --help``):

- ``--entry ID``: the person of a known entry (e.g. found with ``kiosk-city entries``);
- ``--document NUMBER``: a document number (CCCD, passport ...);
- ``--name NAME [--birth-date DATE]``: a name, compared without diacritics, case or extra
  spaces (PC-Covid writes ``NGUYEN VAN AN``, a certificate ``Nguyễn Văn An``), and if given a
  birth date, which may be partial (``1990`` matches ``1990-05-01``).

Identities are sealed in storage, so tracing opens every entry in the date range: it needs the
city's private key and is meant for the city's own machine.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from city.store import CityStore
from sync.wire import parse_iso, utc_iso


def normalise_name(name: str) -> str:
    text = name.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace(",", " ").upper().split())


def _document(value: str) -> str:
    return "".join(value.split()).upper()


@dataclass(frozen=True)
class Person:
    name: str = ""
    birth_date: str = ""
    document: str = ""

    def matches(self, identity: dict | None) -> bool:
        if not identity:
            return False
        document = _document(identity.get("document") or "")
        if self.document and document and "*" not in document and document == _document(self.document):
            return True
        if not self.name or normalise_name(identity.get("name") or "") != normalise_name(self.name):
            return False
        other = identity.get("birth_date") or ""
        if self.birth_date and other:
            return self.birth_date.startswith(other) or other.startswith(self.birth_date)
        return True

    @classmethod
    def from_identity(cls, identity: dict) -> "Person":
        return cls(identity.get("name") or "", identity.get("birth_date") or "", identity.get("document") or "")


@dataclass
class Contact:
    entry: dict  # the contact's entry, identity unsealed
    index_entry: str  # the traced person's entry it overlaps
    minutes_apart: float


@dataclass
class TraceResult:
    person: Person
    visits: list[dict]
    contacts: list[Contact]


def parse_bound(text: str, end: bool = False) -> str:
    """A date (whole day; ``end`` = the day after) or an instant -> the stored time format."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        moment = parse_iso(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return utc_iso(moment)
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), dt.timezone.utc)
    return utc_iso(start)


def trace(store: CityStore, person: Person | None, since: str, until: str, minutes: float,
          entry_id: str | None = None) -> TraceResult:
    """Everyone at the venues of ``person``'s entries in [since, until), within ± ``minutes``.

    With ``entry_id``, the person is whoever that entry belongs to (and ``person`` is ignored).
    Raises LookupError when the entry does not exist or has no identity.
    """
    if entry_id is not None:
        found = store.get_entry(entry_id)
        if found is None:
            raise LookupError(f"no entry {entry_id}")
        if not found.get("identity"):
            raise LookupError(f"entry {entry_id} carries no identity that can be opened")
        person = Person.from_identity(found["identity"])
    assert person is not None
    visits = [row for row in store.iter_entries(since=since, until=until) if person.matches(row.get("identity"))]
    window = dt.timedelta(minutes=minutes)
    contacts: dict[str, Contact] = {}
    visit_ids = {visit["id"] for visit in visits}
    for visit in visits:
        at = parse_iso(visit["at"])
        for row in store.iter_entries(venue=visit["venue"], since=utc_iso(at - window), until=utc_iso(at + window + dt.timedelta(milliseconds=1))):
            if row["id"] in visit_ids or person.matches(row.get("identity")):
                continue
            apart = abs((parse_iso(row["at"]) - at).total_seconds()) / 60
            held = contacts.get(row["id"])
            if held is None or apart < held.minutes_apart:
                contacts[row["id"]] = Contact(row, visit["id"], round(apart, 2))
    ordered = sorted(contacts.values(), key=lambda c: (c.entry["at"], c.entry["id"]))
    return TraceResult(person, visits, ordered)
