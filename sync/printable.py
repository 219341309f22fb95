"""Text from outside (a QR code, a kiosk's upload, a config file) made safe to print on a terminal.

A QR code is anyone's to write: its text may hold escape sequences that clear the screen and print
a green "pass", bidi overrides that reorder a line, or line breaks that forge a log line. Whatever
prints such text goes through :func:`shown` (human output) or :func:`json_line` (one JSON object a
line): every character a terminal would act on, and any it could not show, is written as an escape
(``\\x1b``, ``\\u202e``); the rest, Vietnamese letters included, stays as it is. Used by both the
kiosk (``kiosk verify``, ``kiosk decode``, error lines) and the city (``kiosk-city entries``,
``trace``, ``kiosks``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["shown", "json_line"]


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: Any) -> str:
    """``value`` as text a terminal may print: control and format characters (escape sequences,
    bidi overrides, line breaks), separators, surrogates and unassigned ones escaped as
    ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN``."""
    text = value if isinstance(value, str) else str(value)
    return text if text.isprintable() else "".join(c if c.isprintable() else _escape(c) for c in text)


def json_line(value: Any) -> str:
    """One JSON object a line, with every character a terminal would act on escaped (JSON escapes
    C0 controls; DEL, C1, format characters and the like are escaped here as ``\\uNNNN``). It
    parses back to exactly ``value``."""
    text = json.dumps(value, ensure_ascii=False)
    return text if text.isprintable() else "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)
