"""The kiosk's health, for the heartbeat and for ``kiosk status``.

Everything here is safe to send and to log: counts, times, percentages, never an identity.
"""

from __future__ import annotations

import datetime as dt
import glob
import time
from pathlib import Path

from kiosk.config import Config
from kiosk.journal import Journal, utc_iso
from sync.bundles import BundleStore
from sync.retention import disk_state

_STARTED = time.monotonic()


def cpu_temperature(root: str = "/sys/class/thermal") -> float | None:
    """The SoC temperature in °C from /sys/class/thermal, or None where there is none.

    Prefers the zone a Pi calls ``cpu-thermal``; otherwise the first readable zone.
    """
    zones = sorted(glob.glob(f"{root}/thermal_zone*"))
    readings = []
    for zone in zones:
        try:
            kind = Path(zone, "type").read_text().strip()
            millidegrees = int(Path(zone, "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.append((kind, millidegrees / 1000.0))
    for kind, celsius in readings:
        if "cpu" in kind or "soc" in kind:
            return celsius
    return readings[0][1] if readings else None


def clock_state(config: Config) -> dict:
    from kiosk.clock import kernel_clock_synchronised

    if config.kiosk.clock == "assume_synchronised":
        return {"synchronised": True, "source": "assumed (kiosk.clock)"}
    synced = kernel_clock_synchronised()
    return {"synchronised": synced, "source": "kernel" if synced is not None else "unknown"}


def last_scan(journal: Journal) -> str | None:
    """When the camera loop last decided: the time of the last entry it recorded."""
    last = journal.last_entry()
    return last["at"] if last else None


def collect(config: Config, journal: Journal, bundle_store: BundleStore | None = None) -> dict:
    """The heartbeat document (see ``sync/PROTOCOL.md``)."""
    from kiosk import __version__

    counts = journal.counts()
    extra = journal.sync_counts()
    report = {
        "kiosk_id": config.kiosk.id,
        "at": utc_iso(dt.datetime.now(dt.timezone.utc)),
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - _STARTED),
        "queue_depth": counts["undelivered"],
        "oldest_undelivered": counts["oldest_undelivered"],
        "quarantined": extra["quarantined"],
        "total": counts["total"],
        "last_scan": last_scan(journal),
        "last_sync": journal.get_meta("last_sync"),
        "clock": clock_state(config),
        "disk": disk_state(journal.path, config.journal.disk_alarm_percent).to_json(),
        "temperature_c": cpu_temperature(),
    }
    if bundle_store is not None:
        report["bundles"] = bundle_store.status()
    return report
