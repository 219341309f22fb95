"""Deliver journal entries to the city server; fetch its signed bundles; send heartbeats.

Runs until stopped (SIGTERM/SIGINT), as its own systemd unit beside `kiosk run`; it also purges
delivered entries after journal.retention_days and raises the disk alarm (with an empty
sync.url, that is all it does). With --once it delivers what it can and exits 0 only when
nothing is left undelivered (1 otherwise, saying how many and why); on a terminal it shows
the backlog's progress and an ETA. A server asking it to come back in more than a minute
(Retry-After, e.g. a daily quota used up) ends --once at once, everything kept in the queue,
saying when the server asked it to come back (exit 1). Entries the city refuses as invalid are
quarantined: kept, reported here and in `kiosk status`, never re-sent as they are;
--retry-quarantined puts them back in the queue once the cause is fixed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from kiosk.commands._common import add_config_argument, load_config

log = logging.getLogger("kiosk.sync")


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--once", action="store_true",
                        help="one pass: exit 0 when nothing is left undelivered, 1 otherwise")
    parser.add_argument("--attempts", type=int, default=5, metavar="N",
                        help="with --once: give up after N failed tries in a row (default 5)")
    parser.add_argument("--retry-quarantined", action="store_true",
                        help="put quarantined entries back in the queue first")


def run(args) -> int:
    from kiosk.journal import Journal
    from sync.client import Uploader

    config = load_config(args)
    if not args.debug:
        logging.getLogger().setLevel(config.kiosk.log_level.upper())
    if args.attempts < 1:
        from kiosk.cli import UsageError

        raise UsageError("--attempts must be at least 1")
    stop = threading.Event()

    def _stop(signum, _frame) -> None:
        log.info("sync: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not config.sync.url:
        return _housekeeping_only(config, args.once, stop)
    with Journal(config.journal_path) as journal:
        if args.retry_quarantined:
            released = journal.release_quarantine()
            print(f"{released} quarantined entries put back in the queue")
        uploader = Uploader(config, journal, stop=stop)
        bar = _progress(journal) if args.once else None
        if bar is not None:
            uploader.on_batch = bar.update
        try:
            left = uploader.run(once=args.once, attempts=args.attempts)
        finally:
            uploader.close()
            if bar is not None:
                bar.close()
        quarantined = journal.quarantined(limit=20)
        total_quarantined = journal.sync_counts()["quarantined"]
    if not args.once:
        return 0
    print(f"{uploader.delivered_total} delivered, {left} left undelivered"
          + (f" ({total_quarantined} quarantined)" if total_quarantined else "")
          + (f"; the city server asked to come back at {_when(uploader.come_back_at)}" if uploader.come_back_at else ""))
    for row in quarantined:
        print(f"  quarantined {row['id']} (recorded {row['at']}): {row['quarantine_reason']}", file=sys.stderr)
    return 0 if left == 0 else 1


def _when(instant) -> str:
    """``2026-12-07 00:00:00 UTC (in 2 h 26 min)``."""
    import datetime as dt

    minutes = max(0, round((instant - dt.datetime.now(dt.timezone.utc)).total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{instant:%Y-%m-%d %H:%M:%S} UTC (in {f'{hours} h ' if hours else ''}{minutes} min)"


def _progress(journal):
    """--once on a terminal: the backlog's progress and ETA (nothing when not a terminal)."""
    from sync.progress import progress

    backlog = journal.counts()["undelivered"] - journal.sync_counts()["quarantined"]
    return progress(backlog, "sync") if backlog > 0 else None


def _housekeeping_only(config, once: bool, stop: threading.Event) -> int:
    """No city server configured (a venue that carries its entries with `kiosk export`): keep
    purging delivered entries and watching the disk, so the unit is still worth running."""
    from kiosk.journal import Journal
    from sync.client import PURGE_EVERY_SECONDS
    from sync.retention import housekeeping

    log.warning("sync.url is empty: nothing is delivered; only retention and the disk alarm run "
                "(carry entries with kiosk export)")
    while True:
        with Journal(config.journal_path) as journal:
            housekeeping(journal, config.journal.retention_days, config.journal.disk_alarm_percent)
            left = journal.counts()["undelivered"]
        if once:
            print(f"0 delivered (no sync.url), {left} left undelivered")
            return 0 if left == 0 else 1
        if stop.wait(PURGE_EVERY_SECONDS):
            return 0
