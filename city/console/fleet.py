"""The fleet page's judgement: each kiosk's health from its last heartbeat, green, amber or red.

Each check looks at one field of the heartbeat (``sync/PROTOCOL.md``) and says ``ok``, ``warn``
or ``bad``; a kiosk is as bad as its worst check, and the page lists the worst first. The
limits are the ones an admin would act on: a kiosk silent for an hour, a queue that has not
drained for hours, a disk past its alarm, a clock not synchronised (entry times would be wrong),
a trust list not confirmed for days (revoked signers would still pass).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sync.wire import parse_iso

LEVELS = ("ok", "warn", "bad")  # green, amber, red

LAST_CONTACT = (15 * 60, 60 * 60)  # seconds since the kiosk was last heard from
QUEUE_AGE = (60 * 60, 6 * 60 * 60)  # seconds the oldest undelivered entry has waited
DISK_PERCENT = (80.0, 90.0)
TEMPERATURE_C = (70.0, 80.0)
TRUST_AGE = (24 * 60 * 60, 3 * 24 * 60 * 60)  # seconds since the trust list was confirmed


@dataclass
class Check:
    level: str
    value: str  # what the page shows (language-neutral: numbers, times, or a message key)


@dataclass
class KioskHealth:
    id: str
    venue: str
    last_seen: str | None
    entries: int
    checks: dict[str, Check] = field(default_factory=dict)
    bundle_versions: dict[str, int | None] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return max((c.level for c in self.checks.values()), key=LEVELS.index, default="ok")


def _grade(value: float | None, limits: tuple[float, float]) -> str:
    if value is None:
        return "bad"
    return "bad" if value >= limits[1] else "warn" if value >= limits[0] else "ok"


def _age(text: str | None, now: dt.datetime) -> float | None:
    if not text:
        return None
    try:
        return (now - parse_iso(text)).total_seconds()
    except (ValueError, TypeError):
        return None


def judge(kiosk: dict, venue: str, now: dt.datetime) -> KioskHealth:
    """One kiosk as ``CityStore.kiosks()`` gives it -> its checks."""
    beat = kiosk.get("heartbeat") or {}
    health = KioskHealth(kiosk["id"], venue, kiosk.get("last_seen"), kiosk.get("entries", 0))
    seen_age = _age(kiosk.get("last_seen"), now)
    health.checks["contact"] = Check(_grade(seen_age, LAST_CONTACT), kiosk.get("last_seen") or "never")
    if not beat:
        health.checks["heartbeat"] = Check("bad", "no-heartbeat")
        return health
    queue = beat.get("queue_depth")
    queue_age = _age(beat.get("oldest_undelivered"), now) if queue else 0.0
    health.checks["queue"] = Check(_grade(queue_age, QUEUE_AGE) if isinstance(queue, int) else "bad",
                                   str(queue if isinstance(queue, int) else "?"))
    disk = beat.get("disk") or {}
    used = disk.get("used_percent")
    used = float(used) if isinstance(used, (int, float)) else None
    level = _grade(used, DISK_PERCENT)
    if disk.get("alarm") and level == "ok":
        level = "warn"
    health.checks["disk"] = Check(level, f"{used:.0f}%" if used is not None else "?")
    clock = beat.get("clock") or {}
    synced = clock.get("synchronised")
    health.checks["clock"] = Check("ok" if synced else "warn", "synced" if synced else "not-synced")
    temperature = beat.get("temperature_c")
    if isinstance(temperature, (int, float)):
        health.checks["temperature"] = Check(_grade(float(temperature), TEMPERATURE_C), f"{temperature:.0f} °C")
    else:
        health.checks["temperature"] = Check("ok", "–")  # not every machine has a sensor
    held = beat.get("bundles") or {}
    trust = held.get("trust-list") or {}
    trust_age = trust.get("age_seconds")
    health.checks["trust"] = Check(_grade(trust_age if isinstance(trust_age, (int, float)) else None, TRUST_AGE),
                                   _hours(trust_age))
    health.bundle_versions = {kind: (held.get(kind) or {}).get("version") for kind in held}
    return health


def _hours(seconds: object) -> str:
    if not isinstance(seconds, (int, float)):
        return "none"
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def fleet(kiosks: list[dict], venues: dict[str, str], now: dt.datetime) -> list[KioskHealth]:
    """Every kiosk judged, the worst first, then by venue and id."""
    from city.console.vietnamese import sort_key

    judged = [judge(k, venues.get(k["id"], ""), now) for k in kiosks]
    return sorted(judged, key=lambda h: (-LEVELS.index(h.level), sort_key(h.venue), sort_key(h.id)))
