"""The official EU DCC JSON schemas, as a report: which problems a payload has, never a refusal.

Every published version (1.0.0 … 1.3.3) ships in ``eu_dcc_data/schemas/`` with its licence. A
payload is checked against the schema of its own ``ver``; a ``ver`` that names no published
version is checked against the newest published one not above it (the oldest, below them all;
the newest, when ``ver`` is not a version at all: the schema then reports ``ver`` itself).

Real certificates, including ones the EU's conformance data counts as valid, break their own
schema (empty strings, partial dates in 1.0.x, a 0 where a count belongs), so problems are only
*listed*: the technical status never depends on them, and the rules decide on the fields they
need (kiosk.rules).

Speed: a DCC is checked on every scan, so each version's schema is compiled once, on first use,
twice over. ``fastjsonschema`` turns it into Python code that decides *whether* a payload
conforms (tens of microseconds; every payload runs through it); only for a payload that does not,
``jsonschema`` (the reference implementation, draft 2020-12) lists *every* problem, so a kiosk
imports jsonschema only when a certificate breaks its schema. Both judge ``format`` with the same
two checkers (``FORMATS``: date by the standard library, date-time by rfc3339-validator, as
jsonschema itself does), so they agree on what conforms; a test holds them to it. Draft 2020-12 keywords beyond draft 2019 (which fastjsonschema implements) do not occur
in these schemas: a test checks that too.

A problem is a path (``$.v[0].dt``: property names from the schema and item numbers, never
anything the certificate chose) and a message made from the schema alone: no value from the
certificate ever appears in one, so problems can be printed and logged.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.model import SchemaProblem

SCHEMA_DIR = Path(__file__).with_name("eu_dcc_data") / "schemas"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _version_key(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch)


@functools.cache
def shipped_versions() -> tuple[str, ...]:
    """The schema versions shipped, oldest first."""
    found = [p.name for p in SCHEMA_DIR.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return tuple(sorted(found, key=_version_key))


@functools.cache
def load_schema(version: str) -> dict:
    """The combined schema of one shipped version (a parsed JSON document)."""
    if version not in shipped_versions():
        raise KeyError(f"no shipped DCC schema {version}")
    (path,) = (SCHEMA_DIR / version).glob("*.combined-schema.json")
    return _ascii_digits(json.loads(path.read_text(encoding="utf-8")))


def _ascii_digits(node: Any) -> Any:
    """JSON Schema patterns are ECMA-262 regular expressions, where ``\\d`` is [0-9]; in Python's
    ``re`` it also matches full-width and other scripts' digits. Rewritten for both validators."""
    if isinstance(node, dict):
        return {k: v.replace("\\d", "[0-9]") if k == "pattern" and isinstance(v, str) else _ascii_digits(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_ascii_digits(v) for v in node]
    return node


def schema_version_for(ver: Any) -> str:
    """The shipped schema a payload's ``ver`` is checked against."""
    return _version_for(ver if isinstance(ver, str) and len(ver) <= 20 else "")


@functools.lru_cache(maxsize=64)
def _version_for(ver: str) -> str:
    versions = shipped_versions()
    if not _VERSION.match(ver):
        return versions[-1]
    if ver in versions:
        return ver
    wanted = _version_key(ver)
    below = [v for v in versions if _version_key(v) <= wanted]
    return below[-1] if below else versions[0]


_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def is_date(value: Any) -> bool:
    """JSON Schema ``format: date``: an RFC 3339 full-date (a format applies to strings only)."""
    if not isinstance(value, str):
        return True
    if not _FULL_DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_date_time(value: Any) -> bool:
    """JSON Schema ``format: date-time``: an RFC 3339 date-time (rfc3339-validator, as jsonschema)."""
    from rfc3339_validator import validate_rfc3339

    return not isinstance(value, str) or bool(validate_rfc3339(value))


# the formats the schemas use, judged the same way by both validators
FORMATS: dict[str, Callable[[Any], bool]] = {"date": is_date, "date-time": is_date_time}


@functools.cache
def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, predicate in FORMATS.items():
        checker.checks(name)(predicate)
    return checker


@functools.cache
def _fast(version: str) -> Callable[[Any], Any]:
    """fastjsonschema's compiled check of one version: raises on the first problem."""
    import fastjsonschema

    # draft 2019 code generation: the 2020-12 schemas use nothing that differs between the two
    schema = dict(load_schema(version), **{"$schema": "https://json-schema.org/draft/2019-09/schema"})
    return fastjsonschema.compile(schema, formats=FORMATS, use_default=False, detailed_exceptions=False)


def prepare() -> None:
    """Compile the fast check of every shipped version (what the first payload of each would)."""
    for version in shipped_versions():
        _fast(version)


@functools.cache
def _full(version: str) -> Any:
    """jsonschema's validator of one version (draft 2020-12), to list every problem."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(version), format_checker=_format_checker())


ONE_ENTRY_KIND = SchemaProblem("$", "holds more than one of v, t, r (a DCC holds exactly one)")


def check(dcc: Any) -> tuple[str, tuple[SchemaProblem, ...]]:
    """(the schema version used, the problems of ``dcc`` against it; empty if it conforms).

    Beyond the schema, one rule of the DCC specification is reported the same way: a DCC holds
    exactly one of v, t, r (the 1.3 schemas say so with oneOf; earlier ones do not).
    """
    version = schema_version_for(dcc.get("ver") if isinstance(dcc, dict) else None)
    try:
        _fast(version)(dcc)
        problems: tuple[SchemaProblem, ...] = ()
    except Exception:  # any exception: the payload does not conform, or the generated code met
        # a value no JSON holds (a CBOR tag, bytes); the reference validator says which
        problems = _listed(version, dcc) or (SchemaProblem("$", "does not conform to the schema"),)
    kinds = sum(dcc.get(key) is not None for key in ("v", "t", "r")) if isinstance(dcc, dict) else 0
    if kinds > 1 and not any(p.path == "$" and "exactly one" in p.message for p in problems):
        problems += (ONE_ENTRY_KIND,)
    return version, problems


def _listed(version: str, dcc: Any) -> tuple[SchemaProblem, ...]:
    try:
        errors = list(_full(version).iter_errors(dcc))
    except Exception:  # a value no JSON can hold may trip the validator itself; still a report
        return (SchemaProblem("$", "holds values no JSON document can hold"),)
    out: list[SchemaProblem] = []
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        path = _path(error.absolute_path)
        for message in _messages(error.validator, error.validator_value, error.instance):
            problem = SchemaProblem(path, message)
            if problem not in out:
                out.append(problem)
    return tuple(out)


def _path(parts: Any) -> str:
    """``$.v[0].dt``: the schema's property names and item numbers (the schemas have no
    additionalProperties or patternProperties, so no key the certificate chose can appear)."""
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _alternatives(value: Any) -> str | None:
    """oneOf/anyOf alternatives that only require properties: "fnt | gnt"."""
    if isinstance(value, list) and all(isinstance(v, dict) and set(v) == {"required"} for v in value):
        return " | ".join(", ".join(v["required"]) for v in value)
    return None


def _messages(keyword: str, value: Any, instance: Any) -> list[str]:
    """Messages from the schema's side of a failed check only (``instance`` is used to find which
    required properties are missing: their names come from the schema)."""
    if keyword == "required":
        missing = [name for name in value if not (isinstance(instance, dict) and name in instance)]
        return [f"required property {name} is missing" for name in missing] or ["a required property is missing"]
    if keyword == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        return [f"is not of type {expected}"]
    if keyword in ("oneOf", "anyOf"):
        how = "exactly one" if keyword == "oneOf" else "at least one"
        options = _alternatives(value)
        if options:
            return [f"must hold {how} of these sets of properties: {options}"]
        return [f"must match {how} of {len(value)} alternatives ({keyword})"]
    simple = {
        "pattern": "does not match the pattern {}",
        "format": "is not a valid {}",
        "maxLength": "is longer than {} characters",
        "minLength": "is shorter than {} characters",
        "minimum": "is below the minimum {}",
        "maximum": "is above the maximum {}",
        "exclusiveMinimum": "is not above {}",
        "exclusiveMaximum": "is not below {}",
        "minItems": "has fewer than {} items",
        "maxItems": "has more than {} items",
        "enum": "is not one of the values the schema allows",
        "const": "is not the value the schema requires",
        "additionalProperties": "holds properties the schema does not allow",
    }
    if keyword in simple:
        return [simple[keyword].format(value)]
    return [f"fails the schema's {keyword} check"]
