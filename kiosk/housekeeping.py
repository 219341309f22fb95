"""Housekeeping beside the visitor's path, every half minute: the disk alarm, the status bar's
figures from the sync process, the city's new bundles (a new trust store), and forgetting re-entry
keys older than the re-entry window.

The loop calls :meth:`Housekeeping.tick` after each frame; what is not due costs one comparison.
How to tell that the city's bundles changed and how to load a trust store belong to the assembly
(:mod:`kiosk.app`), which hands them in, so the loop never imports it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from kiosk.journal import Journal
from kiosk.policy import ReentryGuard
from kiosk.ports import Clock, StatusBar

log = logging.getLogger("kiosk.loop")

EVERY_SECONDS = 30.0


class Housekeeping:
    def __init__(self, config: Any, journal: Journal, clock: Clock, reentry: ReentryGuard, *,
                 bundle_stamp: Callable[[Any], float] | None = None,
                 load_trust: Callable[[Any], Any] | None = None,
                 every: float = EVERY_SECONDS):
        self.config = config
        self.journal = journal
        self.clock = clock
        self.reentry = reentry
        self.bundle_stamp = bundle_stamp
        self.load_trust = load_trust
        self.every = every
        self.disk_alarm = False  # the disk is fuller than journal.disk_alarm_percent
        self.sync_status = StatusBar()  # online, undelivered, trust-list age
        self._next = 0.0
        self._stamp: float | None = None

    def tick(self, now: float) -> Any | None:
        """Do the rounds if they are due (``now``: monotonic seconds); a new trust store when the
        city's bundles changed since the last round, else None. Never raises."""
        if now < self._next:
            return None
        self._next = now + self.every
        try:
            return self.run()
        except Exception as exc:  # housekeeping must never stop the gate
            log.error("housekeeping failed: %s", exc)
            return None

    def run(self) -> Any | None:
        from sync.retention import disk_state

        disk = disk_state(self.journal.path, self.config.journal.disk_alarm_percent)
        if disk.alarm and not self.disk_alarm:
            log.error("ALARM %s", disk.message())
        self.disk_alarm = disk.alarm
        self.sync_status = self.read_sync_status()
        # re-entry keys link one person's visits: keep them no longer than the guard needs
        window = dt.timedelta(minutes=self.config.policy.reentry_minutes)
        self.reentry.forget(before=self.clock.now() - window)
        if self.bundle_stamp is None or self.load_trust is None:
            return None
        stamp = self.bundle_stamp(self.config)
        changed = self._stamp is not None and stamp != self._stamp
        self._stamp = stamp
        if changed:
            log.info("trust store reloaded from new city bundles")
            return self.load_trust(self.config)
        return None

    def recorded(self) -> None:
        """One more entry waits for delivery (until the next round counts them again)."""
        self.sync_status = dataclasses.replace(self.sync_status, undelivered=self.sync_status.undelivered + 1)

    def read_sync_status(self) -> StatusBar:
        """What the sync process last reported in the journal's meta table, for the status bar."""
        now = self.clock.now()
        online = None
        if self.config.sync.url:
            since = self.journal.meta_age_seconds("last_sync", now)
            online = since is not None and since < 3 * self.config.sync.interval_seconds + 60
        trust_age = self.journal.meta_age_seconds("trust_updated_at", now)
        return StatusBar(online=online, undelivered=self.journal.undelivered_count(),
                         trust_age_hours=None if trust_age is None else trust_age / 3600)
