"""The vocabulary both sides speak, and one journal row as it travels to the city.

Statuses and decisions are the contract's values (DESIGN.md); times travel as ISO 8601 in UTC
with a ``Z`` and milliseconds. The kiosk and the city server both take them from here.

A journal row travels the same way in a batch upload or an export file.

The same shape serves both roads, so ``kiosk-city import`` validates carried entries with exactly
the checks an upload gets. The identity stays sealed all the way: it is base64 of the sealed box.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """The technical status of a credential (contract)."""

    VALID = "valid"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    UNKNOWN_ISSUER = "unknown_issuer"
    INVALID_SIGNATURE = "invalid_signature"
    WRONG_KEY_USAGE = "wrong_key_usage"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"


# the first line of a ``kiosk export`` file names this format (``kiosk-city import`` checks it)
EXPORT_FORMAT = "kiosk-export/1"

STATUSES = frozenset(status.value for status in Status)
DECISIONS = frozenset({"pass", "fail"})

# The text fields of an entry (PROTOCOL.md, "Upload"): each non-empty, at most this many
# characters. The city refuses an entry over them; `kiosk check-config` refuses a kiosk id or a
# venue the city would refuse, so no kiosk records entries the city will never take.
TEXT_LIMITS: dict[str, int] = {
    "kiosk_id": 200, "venue": 200, "format": 40, "status": 40, "decision": 10, "reason": 80, "kind": 40,
}
PRINTABLE_FIELDS = frozenset({"kiosk_id", "venue"})  # names the city's admins read and enrol


def text_problem(field: str, value: Any) -> str | None:
    """What is wrong with ``value`` as the entry's text field ``field`` (None: nothing)."""
    if not isinstance(value, str) or not value:
        return "expected a non-empty string"
    limit = TEXT_LIMITS[field]
    if len(value) > limit:
        return f"longer than {limit} characters"
    if field in PRINTABLE_FIELDS and not value.isprintable():
        return "expected printable characters only"
    return None


def utc_iso(instant: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z and milliseconds: sorts as text, reads as time."""
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_wire(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row (``Journal.undelivered``) -> the JSON object the protocol sends."""
    identity = row.get("identity")
    return {
        "id": row["id"],
        "kiosk_id": row["kiosk_id"],
        "venue": row["venue"],
        "at": row["at"],
        "clock_synced": bool(row["clock_synced"]),
        "format": row["format"],
        "status": row["status"],
        "decision": row["decision"],
        "reason": row["reason"],
        "kind": row["kind"],
        "flags": [flag for flag in (row.get("flags") or "").split(",") if flag],
        "identity": base64.b64encode(identity).decode("ascii") if identity is not None else None,
        "frame_age_ms": row.get("frame_age_ms"),
    }


def loads(data: bytes | str) -> Any:
    """JSON from the other side, however hostile: ValueError for anything that is not JSON,
    including nesting too deep to parse (never a RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_time(value: Any) -> dt.datetime | None:
    """An aware UTC instant from an ISO 8601 text sent by the other side, or None for anything
    else (not a string, not a time, a time UTC cannot hold)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = parse_iso(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None
