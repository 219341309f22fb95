"""The EU DCC value sets the kiosk ships: the EU's final release, in
``kiosk/formats/eu_dcc_data/valuesets/`` (``MANIFEST.json`` names it). Their format, and how a
city's rules bundle replaces them, is the protocol's (:mod:`sync.valuesets`)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from sync.valuesets import FIELDS, NAMES, ValueSet, ValueSets, parse

__all__ = ["FIELDS", "NAMES", "ValueSet", "ValueSets", "VALUESET_DIR", "shipped"]

VALUESET_DIR = Path(__file__).parent / "formats" / "eu_dcc_data" / "valuesets"


@functools.cache
def shipped() -> ValueSets:
    """The value sets shipped with the kiosk."""
    manifest = json.loads((VALUESET_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    sets = {}
    for name, filename in manifest["files"].items():
        sets[name] = parse(name, json.loads((VALUESET_DIR / filename).read_text(encoding="utf-8")))
    return ValueSets(sets, f"{manifest['version']} ({manifest['date']})")
