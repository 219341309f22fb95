"""Issue 14, item 4: one source of field limits (sync.wire) for check-config and the city."""

from __future__ import annotations

import uuid

import pytest

from city.store import validate_entry
from kiosk.cli import main
from sync.wire import TEXT_LIMITS

ENTRY = {"id": "", "kiosk_id": "gate-01", "venue": "Office A", "at": "2021-07-20T09:15:02.123Z",
         "clock_synced": True, "format": "pc-covid", "status": "valid", "decision": "pass",
         "reason": "checked_in", "kind": "identity", "flags": [], "identity": None, "frame_age_ms": None}


def _city_takes(kiosk_id: str, venue: str) -> bool:
    row, _problem = validate_entry({**ENTRY, "id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue": venue}, kiosk_id)
    return row is not None


def _check_config(tmp_path, capsys, kiosk_id: str, venue: str) -> tuple[int, str]:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nid = "{kiosk_id}"\nvenue = "{venue}"\nstate_dir = "{tmp_path}/state"\n', encoding="utf-8")
    code = main(["check-config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


VENUE_MAX, ID_MAX = TEXT_LIMITS["venue"], TEXT_LIMITS["kiosk_id"]


@pytest.mark.parametrize("kiosk_id, venue, problem", [
    ("gate-01", "", "kiosk.venue: expected a non-empty string"),
    ("gate-01", "V" * (VENUE_MAX + 100), f"kiosk.venue: longer than {VENUE_MAX} characters"),
    ("g" * (ID_MAX + 1), "Office A", f"kiosk.id: longer than {ID_MAX} characters"),
    ("", "Office A", "kiosk.id: expected a non-empty string"),
    ("gate-01", "Bến xe Giáp Bát " + "x" * (VENUE_MAX - 16), None),  # exactly at the limit
])
def test_check_config_refuses_exactly_what_the_city_refuses(tmp_path, capsys, kiosk_id, venue, problem):
    code, out = _check_config(tmp_path, capsys, kiosk_id, venue)
    assert _city_takes(kiosk_id, venue) is (problem is None)
    if problem is None:
        assert code == 0, out
    else:
        assert code == 2 and problem in out
