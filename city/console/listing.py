"""What the console lists, read through the storage engine's interface (both engines).

Entries are listed sealed: only the page shown is unsealed, and only to be masked.
"""

from __future__ import annotations

from itertools import islice

from city.storage.base import EntryFilter
from city.store import CityStore


def page_of_entries(store: CityStore, where: EntryFilter, *, decision: str | None = None, format: str | None = None,
                    offset: int = 0, limit: int = 50) -> tuple[list[dict], bool]:
    """One page of matching entries in arrival order, identity unsealed; and whether more follow."""
    matching = (row for row in store.engine.iter_entries(where)
                if (decision is None or row["decision"] == decision) and (format is None or row["format"] == format))
    rows = list(islice(matching, offset, offset + limit + 1))
    return [store.unsealed(row) for row in rows[:limit]], len(rows) > limit


def times_at_venue(store: CityStore, venue: str, since: str, until: str) -> list[str]:
    """When each entry at ``venue`` in [since, until) was made (nothing unsealed)."""
    return [row["at"] for row in store.engine.entries_at_venue(venue, since, until)]


def kiosk_venues(store: CityStore) -> dict[str, list[str]]:
    """The venues each kiosk is enrolled for (``kiosk-city enroll --venue``)."""
    venues: dict[str, list[str]] = {}
    for kiosk_id, venue in store.engine.query("SELECT kiosk_id, venue FROM kiosk_venues"):
        venues.setdefault(kiosk_id, []).append(venue)
    return venues


def formats(store: CityStore, since: str, until: str) -> list[str]:
    """The credential formats of the entries in [since, until)."""
    rows = store.engine.query("SELECT DISTINCT format FROM entries WHERE at >= ? AND at < ?", [since, until])
    return sorted(row[0] for row in rows)
