"""One journal row as it travels to the city (in a batch upload or an export file).

The same shape serves both roads, so ``kiosk-city import`` validates carried entries with exactly
the checks an upload gets. The identity stays sealed all the way: it is base64 of the sealed box.
"""

from __future__ import annotations

import base64
from typing import Any

WIRE_FIELDS = (
    "id", "kiosk_id", "venue", "at", "clock_synced", "format", "status", "decision", "reason", "kind",
    "flags", "identity", "frame_age_ms",
)


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
