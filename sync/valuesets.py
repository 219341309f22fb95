"""EU DCC value sets: the codes the health rules speak, with their display names, in the EU's
own format, as a city's rules bundle carries them (``{"valuesets": {name: value set}}``)::

    {"valueSetId": "vaccines-covid-19-names", "valueSetDate": "2022-11-30",
     "valueSetValues": {"EU/1/20/1528": {"display": "Comirnaty", "lang": "en",
                                         "active": true, "system": "...", "version": ""}, ...}}

The kiosk ships the EU's final release (kiosk.valuesets); a set the city's bundle names replaces
the shipped one of that name, the others stay. Both sides read a bundle's sets with
:func:`read_value_sets` (the kiosk before using it, ``kiosk-city publish`` before signing it).

Names (as the schemas' ``valueset-uri`` name them): ``disease-agent-targeted`` (``tg``),
``vaccine-prophylaxis`` (``vp``), ``vaccine-medicinal-product`` (``mp``), ``vaccine-mah-manf``
(vaccination ``ma``), ``test-type`` (``tt``), ``test-result`` (``tr``), ``test-manf`` (test
``ma``). A code listed in a set is inside it, active or not (an inactive code is a withdrawn
one, still on certificates issued before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# value set -> the DCC fields it codes (entry kind, key)
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "disease-agent-targeted": (("v", "tg"), ("t", "tg"), ("r", "tg")),
    "vaccine-prophylaxis": (("v", "vp"),),
    "vaccine-medicinal-product": (("v", "mp"),),
    "vaccine-mah-manf": (("v", "ma"),),
    "test-type": (("t", "tt"),),
    "test-result": (("t", "tr"),),
    "test-manf": (("t", "ma"),),
}
NAMES = tuple(FIELDS)
MAX_CODES = 10_000  # per value set; the largest EU one (test devices) holds a few hundred
MAX_TEXT = 300


@dataclass(frozen=True)
class ValueSet:
    name: str  # one of NAMES
    id: str  # its valueSetId
    date: str  # its valueSetDate
    displays: Mapping[str, str] = field(hash=False)  # code -> display name
    source: str = "shipped"  # "shipped" or "city rules bundle"

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self.displays


@dataclass(frozen=True)
class ValueSets:
    sets: Mapping[str, ValueSet] = field(hash=False)
    version: str = ""  # of the shipped release, e.g. "60ea3d8 (2023-07-12)"

    def __getitem__(self, name: str) -> ValueSet:
        return self.sets[name]

    def display(self, name: str, code: object) -> str | None:
        value_set = self.sets.get(name)
        return value_set.displays.get(code) if value_set is not None and isinstance(code, str) else None

    def with_sets(self, sets: Mapping[str, ValueSet]) -> "ValueSets":
        """These value sets with ``sets`` (by name) replacing theirs."""
        return ValueSets({**self.sets, **sets}, self.version)

    def replaced(self, doc: Any, source: str = "city rules bundle") -> "ValueSets":
        """These value sets with those in ``doc`` ({name: value set}) replacing theirs;
        ValueError naming every problem if any set does not validate."""
        return self.with_sets(read_value_sets(doc, source))

    def describe(self) -> list[dict]:
        """Each set's name, id, date, size and source (for status and documentation)."""
        return [{"name": s.name, "id": s.id, "date": s.date, "codes": len(s.displays), "source": s.source}
                for s in self.sets.values()]


def parse(name: str, doc: Any, source: str = "shipped") -> ValueSet:
    """One value set in the EU's format; ValueError saying what is wrong."""
    if name not in FIELDS:
        raise ValueError(f"unknown value set (expected one of {', '.join(NAMES)})")
    if not isinstance(doc, dict):
        raise ValueError("expected an object with valueSetId, valueSetDate, valueSetValues")
    values = doc.get("valueSetValues")
    if not isinstance(values, dict) or not values:
        raise ValueError("valueSetValues: expected a non-empty object of codes")
    if len(values) > MAX_CODES:
        raise ValueError(f"valueSetValues: more than {MAX_CODES} codes")
    displays = {}
    for code, entry in values.items():
        if not code.strip() or len(code) > MAX_TEXT:
            raise ValueError("valueSetValues: a code is empty or too long")
        display = entry.get("display") if isinstance(entry, dict) else None
        if not isinstance(display, str) or len(display) > MAX_TEXT:
            raise ValueError(f"valueSetValues.{code}: expected an object with a display text")
        displays[code] = display
    ident, date = doc.get("valueSetId", ""), doc.get("valueSetDate", "")
    if not isinstance(ident, str) or not isinstance(date, str) or len(ident) > MAX_TEXT or len(date) > 40:
        raise ValueError("valueSetId and valueSetDate must be short texts")
    return ValueSet(name, ident, date, displays, source)


def read_value_sets(doc: Any, source: str = "city rules bundle") -> dict[str, ValueSet]:
    """A bundle's ``valuesets`` object; ValueError naming every set that does not validate."""
    if not isinstance(doc, dict):
        raise ValueError("valuesets: expected an object of value sets by name")
    problems, sets = [], {}
    for name, content in doc.items():
        try:
            sets[name] = parse(name, content, source)
        except ValueError as exc:
            problems.append(f"valuesets.{name}: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return sets
