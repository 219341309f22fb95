"""Put the gate's outputs back to off after `kiosk run` has ended, however it ended.

kiosk.service runs this as ``ExecStopPost=``. Why: when the kiosk process dies while the relay is
energised (the watchdog's SIGABRT, an out-of-memory kill, a crash), the kernel releases its GPIO
lines but leaves them at their last level, so the door would stay open until the restarted kiosk
claims the pins again. Claiming the pins here drives the relay, LEDs and buzzer to off
(``drivers.gate.Gate`` creates every output off), and closing releases them off.

    python -m kiosk.release_gate /etc/kiosk/config.toml

Exit 0 when released, 1 when the pins could not be claimed (logged; systemd ignores it with
the ``-`` prefix, the restart then sets the pins).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("kiosk.release_gate")


def release(config_path: str) -> None:
    """Claim the configured gate pins (which sets them off) and release them again."""
    from kiosk.app import open_gate
    from kiosk import config as config_mod

    config = config_mod.load(config_path)
    open_gate(config).close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kiosk.release_gate CONFIG", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        release(args[0])
    except Exception as exc:  # noqa: BLE001 - report in one line; systemd goes on either way
        print(f"kiosk: error: release gate: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    log.info("gate outputs set off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
