"""Contact tracing: who was at the same venue as a given person, within ± N minutes.

The person is chosen by one of (see ``kiosk-city trace --help``):

- ``--entry ID``: the person of a known entry (e.g. found with ``kiosk-city entries``);
- ``--document NUMBER``: a document number (CCCD, passport ...), found only where the kiosk read
  it in full (PC-Covid masks it: those entries are found by name);
- ``--name NAME [--birth-date DATE]``: a name, compared without diacritics, case or extra
  spaces (PC-Covid writes ``NGUYEN VAN AN``, a certificate ``Nguyễn Văn An``), and if given a
  birth date, which may be partial (``1990`` matches ``1990-05-01``).

The person's entries are found through the blind index (:mod:`city.blind`), the contacts by
venue and time; only the identities of those entries are opened. It needs the city's private
keys and is meant for the city's own machine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from city.blind import Person, normalise_name
from city.store import CityStore
from sync.wire import parse_iso, utc_iso

__all__ = ["Person", "Contact", "TraceResult", "normalise_name", "parse_bound", "trace"]

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
    opened: int = 0  # identities opened to answer


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
    Raises LookupError when the entry does not exist or has no identity, or the name has no letters.
    """
    if entry_id is not None:
        found = store.get_entry(entry_id)
        if found is None:
            raise LookupError(f"no entry {entry_id}")
        if not found.get("identity"):
            raise LookupError(f"entry {entry_id} carries no identity that can be opened")
        person = Person.from_identity(found["identity"])
    assert person is not None
    if person.name and not normalise_name(person.name):
        raise LookupError("--name: a name needs letters")
    opened: dict[str, dict] = {}

    def unsealed(rows: list[dict]) -> list[dict]:
        for row in rows:
            if row["id"] not in opened:
                opened[row["id"]] = store.unsealed(row)
        return [opened[row["id"]] for row in rows]

    candidates = store.engine.entries_by_hashes(store.index.for_person(person), since, until)
    visits = [row for row in unsealed(candidates) if person.matches(row.get("identity"))]
    window = dt.timedelta(minutes=minutes)
    contacts: dict[str, Contact] = {}
    visit_ids = {visit["id"] for visit in visits}
    for visit in visits:
        at = parse_iso(visit["at"])
        nearby = store.engine.entries_at_venue(visit["venue"], utc_iso(at - window),
                                               utc_iso(at + window + dt.timedelta(milliseconds=1)))
        for row in unsealed([row for row in nearby if row["id"] not in visit_ids]):
            if person.matches(row.get("identity")):
                continue
            apart = abs((parse_iso(row["at"]) - at).total_seconds()) / 60
            held = contacts.get(row["id"])
            if held is None or apart < held.minutes_apart:
                contacts[row["id"]] = Contact(row, visit["id"], round(apart, 2))
    ordered = sorted(contacts.values(), key=lambda c: (c.entry["at"], c.entry["id"]))
    return TraceResult(person, visits, ordered, opened=len(opened))
