"""Typed tables: a dict (parsed TOML or JSON) checked against frozen dataclasses.

Each field's metadata may constrain it (``choices``, ``min``, ``max``, ``path``); :func:`build`
walks the data against the dataclass and collects *every* problem, each with its dotted key path,
instead of stopping at the first. The kiosk's config file (:mod:`kiosk.config`) and the city's
rules bundle (:mod:`sync.content`) are read by this one walker, so a kiosk refuses exactly what
``kiosk-city publish`` refuses.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

__all__ = ["opt", "build", "resolve_path"]


def opt(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, **meta: Any) -> Any:
    """A field with validation metadata: choices=..., min=..., max=..., path='file'|'dir'."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


_SCALARS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 4, 4
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlong = 40


def _shown(value: Any) -> str:
    """A bad value as a problem line may quote it: short, whatever its size or depth."""
    return _SHOWN.repr(value)


def _type_name(tp: Any) -> str:
    if tp in _SCALARS:
        return _SCALARS[tp]
    if dataclasses.is_dataclass(tp):
        return "a table"
    return "a list"


def _convert(tp: Any, value: Any, key: str, meta: dict, base: Path, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{key}: expected a table, got {type(value).__name__}")
            return dataclasses.MISSING
        return build(tp, value, key, base, problems)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{key}: expected a list, got {type(value).__name__}")
            return dataclasses.MISSING
        items = []
        for i, item in enumerate(value):
            converted = _convert(item_tp, item, f"{key}[{i}]", meta, base, problems)
            if converted is not dataclasses.MISSING:
                items.append(converted)
        return tuple(items)
    # scalars; TOML bool is not an int here, an int is accepted for a float
    ok = (
        isinstance(value, tp) and not (tp is int and isinstance(value, bool))
        or (tp is float and isinstance(value, int) and not isinstance(value, bool))
    )
    if not ok:
        problems.append(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {_shown(value)}")
        return dataclasses.MISSING
    if tp is float:
        # nan passes every range check (all comparisons are false) and inf is no setting either
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            problems.append(f"{key}: must be a finite number, got {_shown(value)}")
            return dataclasses.MISSING
    if tp is str and "\x00" in value:
        problems.append(f"{key}: holds a NUL character")
        return dataclasses.MISSING
    _check_constraints(value, key, meta, base, problems)
    if meta.get("path") and value:  # relative paths are relative to the config file
        value = str(resolve_path(value, base))
    return value


def _check_constraints(value: Any, key: str, meta: dict, base: Path, problems: list[str]) -> None:
    if "choices" in meta and value not in meta["choices"]:
        problems.append(f"{key}: {_shown(value)} is not one of {', '.join(map(str, meta['choices']))}")
    if "min" in meta and value < meta["min"]:
        problems.append(f"{key}: {value} is below the minimum {meta['min']}")
    if "max" in meta and value > meta["max"]:
        problems.append(f"{key}: {value} is above the maximum {meta['max']}")
    kind = meta.get("path")
    if kind and value:
        path = resolve_path(value, base)
        if kind == "file" and not path.is_file():
            problems.append(f"{key}: file not found: {path}")
        elif kind == "any" and not path.exists():
            problems.append(f"{key}: not found: {path}")
        # "dir" paths (state folders) are created on start, so they need not exist yet


def resolve_path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def build(cls: type, data: dict, prefix: str, base: Path, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            problems.append(f"{key}: unknown key")
            continue
        converted = _convert(hints[name], value, key, dict(fields[name].metadata), base, problems)
        if converted is not dataclasses.MISSING:
            kwargs[name] = converted
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            key = f"{prefix}.{name}" if prefix else name
            if name not in data:
                problems.append(f"{key}: required key missing")
            return dataclasses.MISSING
    return cls(**kwargs)
