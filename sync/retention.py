"""Retention and the disk alarm.

Delivered entries are deleted ``journal.retention_days`` after the city acknowledged them (the
city holds them from then on; the kiosk keeps them that long only for local audit). Undelivered
entries are never deleted, whatever their age or the disk: when the disk fills, the alarm says so
(log, ``kiosk status``, the screen) and an operator must act (``kiosk export``, a network).

The alarm fires when the file system holding the journal is more than
``journal.disk_alarm_percent`` full.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk.journal import Journal, utc_iso

log = logging.getLogger("kiosk.sync.retention")


@dataclass(frozen=True)
class DiskState:
    path: str  # the journal file
    total_bytes: int
    free_bytes: int
    used_percent: float
    journal_bytes: int  # the database with its -wal and -shm files
    alarm_percent: float
    alarm: bool

    def to_json(self) -> dict:
        return asdict(self)

    def message(self) -> str:
        """One line for the log and the screen (no personal data)."""
        return (
            f"disk {self.used_percent:.1f}% full (alarm at {self.alarm_percent:g}%), "
            f"{self.free_bytes // (1024 * 1024)} MB free, journal {self.journal_bytes // 1024} kB"
        )


def journal_bytes(journal_path: str | os.PathLike) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(f"{journal_path}{suffix}").st_size
        except FileNotFoundError:
            pass
    return total


def disk_state(journal_path: str | os.PathLike, alarm_percent: float) -> DiskState:
    """How full the journal's file system is, and whether that passes the alarm threshold.

    Measured on the nearest existing folder, so it works before the journal is created.
    """
    folder = Path(journal_path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    used_percent = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 100.0
    return DiskState(
        path=str(journal_path),
        total_bytes=usage.total,
        free_bytes=usage.free,
        used_percent=round(used_percent, 1),
        journal_bytes=journal_bytes(journal_path),
        alarm_percent=alarm_percent,
        alarm=used_percent >= alarm_percent,
    )


def purge(journal: Journal, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete entries delivered more than ``retention_days`` ago; return how many."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = utc_iso(now - dt.timedelta(days=retention_days))
    purged = journal.purge_delivered(cutoff)
    if purged:
        log.info("retention: %d delivered entries older than %d days deleted", purged, retention_days)
    return purged


def check_disk(journal_path: str | os.PathLike, alarm_percent: float) -> DiskState:
    """:func:`disk_state`, logging an error when the alarm is on."""
    state = disk_state(journal_path, alarm_percent)
    if state.alarm:
        log.error("DISK ALARM: %s; undelivered entries are kept: deliver or export them", state.message())
    return state


def housekeeping(journal: Journal, retention_days: int, alarm_percent: float) -> DiskState:
    """Purge and check the disk: what ``kiosk sync`` does every hour, and ``kiosk export`` after
    a receipt (a venue with no network has no other delivery to trigger it)."""
    purge(journal, retention_days)
    return check_disk(journal.path, alarm_percent)
