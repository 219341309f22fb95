"""Run the kiosk: camera -> decode -> verify -> decide -> record -> gate and screen.

Under systemd (Type=notify) it reports READY=1 once the camera delivers, feeds the watchdog
after each processed frame, and re-reads the config on SIGHUP (systemctl reload kiosk) without
dropping a visitor. SIGTERM stops it cleanly: the relay is de-energised on the way out.
"""

from __future__ import annotations

import logging
import signal

from kiosk.commands._common import add_config_argument, load_config

log = logging.getLogger("kiosk.run")


def add_arguments(parser) -> None:
    add_config_argument(parser)


def run(args) -> int:
    from kiosk import config as config_mod
    from kiosk.app import build_kiosk
    from kiosk.errors import ConfigError
    from kiosk.notify import Notifier

    config = load_config(args)
    logging.getLogger().setLevel(config.kiosk.log_level.upper())
    notifier = Notifier()
    kiosk = build_kiosk(config, notifier=notifier)

    def stop(signum, _frame) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        kiosk.stop()

    def reload(_signum, _frame) -> None:
        notifier.reloading()
        try:
            kiosk.request_reload(config_mod.load(config.source))
        except ConfigError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
        notifier.ready()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    log.info("kiosk %s at %s starting", config.kiosk.id, config.kiosk.venue)
    notifier.status("starting: waiting for the camera")
    try:
        kiosk.run(stop_at_end=False)
    finally:
        notifier.stopping()
        kiosk.close()
    stats = kiosk.stats
    log.info("stopped after %d frames, %d decisions", stats.frames, stats.decisions)
    return 0
