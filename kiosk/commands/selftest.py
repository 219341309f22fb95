"""Check the kiosk's parts one by one and print a PASS / FAIL / SKIP table; exit 1 on any FAIL.

Checks, in order: camera (a frame: its size and brightness), decoder (on a QR code it renders
itself), relay (one click: it energises for a moment), green and red LEDs, buzzer, screen,
clock synchronised, free disk, journal integrity, city server reachable and token accepted,
trust-list age. The hardware checks are skipped while kiosk.service runs (it holds the camera,
the pins and the display): stop it first, or run the selftest right after install.

Run it as the service user so that files it creates in the state folder stay the service's:
``sudo kiosk selftest`` (the /usr/local/bin/kiosk wrapper does that) or
``sudo -u kiosk /opt/kiosk/venv/bin/kiosk selftest``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk.commands._common import add_config_argument, load_config
from kiosk.config import Config
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.selftest")

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# a frame this dark or bright shows nothing a decoder can read (lens cap, no light, glare)
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 8.0, 247.0
# the trust list is re-fetched every sync.interval_seconds; a week without is a broken sync
MAX_TRUST_AGE = dt.timedelta(days=7)
HARDWARE = ("camera", "relay", "leds", "buzzer", "screen")


@dataclass(frozen=True)
class Result:
    check: str
    result: str  # PASS, FAIL or SKIP
    detail: str


class Skip(Exception):
    """A check that does not apply here (not configured, or the hardware is in use)."""


class Failed(Exception):
    """A check that found a problem; the message says what and, where possible, what to do."""


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument("--skip", action="append", default=[], metavar="CHECK",
                        help=f"leave a check out (repeatable): one of {', '.join(CHECK_NAMES)}")


def run(args) -> int:
    unknown = sorted(set(args.skip) - set(CHECK_NAMES))
    if unknown:
        from kiosk.cli import UsageError

        raise UsageError(f"--skip: unknown check {', '.join(unknown)} (checks: {', '.join(CHECK_NAMES)})")
    config = load_config(args)
    results = run_checks(config, skip=set(args.skip))
    failed = sum(r.result == FAIL for r in results)
    if args.json:
        print(json.dumps({"ok": failed == 0, "checks": [asdict(r) for r in results]}, ensure_ascii=False))
    else:
        print(format_table(results))
    return 1 if failed else 0


def run_checks(config: Config, skip: set[str] = frozenset(), service_active: bool | None = None) -> list[Result]:
    """Every check in order; one that raises unexpectedly is a FAIL, never a traceback."""
    state = _State(config)
    if service_active is None:
        service_active = kiosk_service_active()
    results = []
    try:
        for name, check in CHECKS:
            if name in skip:
                results.append(Result(name, SKIP, "left out (--skip)"))
                continue
            if service_active and name in HARDWARE:
                results.append(Result(name, SKIP, "kiosk.service is running and holds it: "
                                                  "sudo systemctl stop kiosk, then run the selftest again"))
                continue
            try:
                detail = check(state)
                results.append(Result(name, PASS, detail))
            except Skip as exc:
                results.append(Result(name, SKIP, str(exc)))
            except Failed as exc:
                results.append(Result(name, FAIL, str(exc)))
            except KioskError as exc:  # the kiosk's own errors already say what is wrong
                results.append(Result(name, FAIL, _one_line(exc)))
            except Exception as exc:  # noqa: BLE001 - a broken part is a FAIL line, not a crash
                log.debug("check %s", name, exc_info=True)
                results.append(Result(name, FAIL, f"{type(exc).__name__}: {_one_line(exc)}"))
    finally:
        state.close()
    return results


def format_table(results: list[Result]) -> str:
    width = max(len(r.check) for r in results)
    lines = [f"{'CHECK':<{width}}  RESULT  DETAIL"]
    lines += [f"{r.check:<{width}}  {r.result:<6}  {r.detail}" for r in results]
    counts = {kind: sum(r.result == kind for r in results) for kind in (PASS, FAIL, SKIP)}
    lines.append(f"selftest: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped")
    return "\n".join(lines)


def kiosk_service_active() -> bool:
    """True when systemd runs kiosk.service (which then holds the camera, pins and display)."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return False
    try:
        return subprocess.run(["systemctl", "is-active", "--quiet", "kiosk.service"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _State:
    """What the checks share: the config, and parts opened once (the gate, the journal)."""

    def __init__(self, config: Config):
        self.config = config
        self.frame_size: tuple[int, int] | None = None
        self._gate = None
        self._journal = None

    def gate(self):
        if self._gate is None:
            from kiosk.app import open_gate

            self._gate = open_gate(self.config)
        return self._gate

    def journal(self):
        if self._journal is None:
            from kiosk.journal import Journal

            self._journal = Journal(self.config.journal_path)
        return self._journal

    def close(self) -> None:
        for part in (self._gate, self._journal):
            if part is not None:
                try:
                    part.close()  # the gate: relay de-energised whatever happened
                except Exception as exc:  # noqa: BLE001
                    log.error("closing %s: %s", type(part).__name__, exc)


# --------------------------------------------------------------------------- hardware


def check_camera(state: _State) -> str:
    import numpy as np

    from kiosk.app import open_camera

    section = state.config.camera
    camera = open_camera(state.config)
    try:
        frame = camera.read()
    finally:
        camera.close()
    height, width = frame.image.shape[:2]
    state.frame_size = (width, height)
    brightness = float(np.mean(frame.image))
    detail = f"{section.driver}: {width}x{height}, brightness {brightness:.0f}/255"
    if brightness < MIN_BRIGHTNESS:
        raise Failed(f"{detail}: too dark to read a code (lens cap? no light?)")
    if brightness > MAX_BRIGHTNESS:
        raise Failed(f"{detail}: washed out (glare? exposure?)")
    if (width, height) != (section.width, section.height) and section.driver != "replay":
        detail += f" (asked for {section.width}x{section.height})"
    return detail


def check_decoder(state: _State) -> str:
    """Render a code with segno into a frame of the camera's size, then decode it."""
    import numpy as np
    import segno

    from kiosk.decode import Decoder, timed_decode

    width, height = state.frame_size or (state.config.camera.width, state.config.camera.height)
    text = f"KIOSK-SELFTEST-{secrets.token_hex(8)}"
    qr = segno.make_qr(text, error="m")
    side = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, int(min(width, height) * 0.6) // side)
    matrix = np.array([[0 if dark else 255 for dark in row] for row in qr.matrix_iter(scale=scale, border=4)],
                      dtype=np.uint8)
    frame = np.full((height, width), 255, dtype=np.uint8)
    h, w = matrix.shape
    if h > height or w > width:
        raise Failed(f"a {w}x{h} code does not fit a {width}x{height} frame")
    top, left = (height - h) // 2, (width - w) // 2
    frame[top:top + h, left:left + w] = matrix
    decoder = Decoder(budget_ms=state.config.decoder.budget_ms, zbar_fallback=state.config.decoder.zbar_fallback)
    codes, ms = timed_decode(decoder, frame)
    found = [c.text for c in codes]
    if found != [text]:
        raise Failed(f"decoded {found!r} from a {width}x{height} frame holding one code")
    return f"read its own code in {ms:.1f} ms ({width}x{height})"


def _pulse(device, seconds: float) -> None:
    """Switch an output on and off again, reading the pin back each time."""
    try:
        device.on()
        if not device.value:
            raise Failed("switched on, but the pin reads back off")
        time.sleep(seconds)
    finally:
        device.off()
    if device.value:
        raise Failed("switched off, but the pin reads back on")


def check_relay(state: _State) -> str:
    gate = state.gate()
    section = state.config.gate
    _pulse(gate.relay, 0.3)
    polarity = "active-high" if section.relay_active_high else "active-low"
    return f"GPIO {section.relay_pin} ({polarity}, {section.pin_factory}): one click - did you hear it?"


def check_leds(state: _State) -> str:
    gate = state.gate()
    section = state.config.gate
    lit = []
    for name, device, pin in (("green", gate.green, section.green_led_pin), ("red", gate.red, section.red_led_pin)):
        if device is None:
            continue
        _pulse(device, 0.5)
        lit.append(f"{name} GPIO {pin}")
    if not lit:
        raise Skip("no LEDs fitted (gate.green_led_pin = gate.red_led_pin = -1)")
    return ", ".join(lit) + ": each lit for half a second"


def check_buzzer(state: _State) -> str:
    gate = state.gate()
    if gate.buzzer is None:
        raise Skip("no buzzer fitted (gate.buzzer_pin = -1)")
    _pulse(gate.buzzer, 0.15)
    return f"GPIO {state.config.gate.buzzer_pin}: one beep"


def check_screen(state: _State) -> str:
    from kiosk.app import open_screen
    from kiosk.ports import View

    if state.config.screen.driver == "none":
        raise Skip('no screen (screen.driver = "none")')
    screen = open_screen(state.config)
    try:
        screen.show(View(state="idle", venue=state.config.kiosk.venue))
        size = getattr(screen, "size", None)  # the pygame screen's (width, height)
        size = size() if callable(size) else size
        driver = _sdl_driver()
    finally:
        screen.close()
    return f"{state.config.screen.driver} ({driver})" + (f": {size[0]}x{size[1]}" if size else "")


def _sdl_driver() -> str:
    """The video driver SDL picked (kmsdrm on a Pi without a desktop), while the display is open."""
    import sys

    pygame = sys.modules.get("pygame")
    try:
        if pygame is not None and pygame.display.get_init():
            return pygame.display.get_driver()
    except Exception:  # noqa: BLE001 - only a detail of the report
        pass
    return os.environ.get("SDL_VIDEODRIVER", "SDL's choice")


# --------------------------------------------------------------------------- system


def check_clock(state: _State) -> str:
    from kiosk.clock import kernel_clock_synchronised

    if state.config.kiosk.clock == "assume_synchronised":
        raise Skip('assumed synchronised (kiosk.clock = "assume_synchronised"): for labs only')
    synced = kernel_clock_synchronised()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if synced is None:
        raise Failed(f"cannot ask the kernel (adjtimex) whether the clock is synchronised; it says {now}")
    if not synced:
        raise Failed(f"not synchronised ({now}): check the network and 'timedatectl timesync-status'")
    return f"synchronised by NTP ({now})"


def check_disk(state: _State) -> str:
    from sync.retention import disk_state

    disk = disk_state(state.config.journal_path, state.config.journal.disk_alarm_percent)
    detail = (f"{disk.free_bytes / 1e9:.1f} GB free, {disk.used_percent:.0f}% used "
              f"(alarm at {disk.alarm_percent:.0f}%)")
    if disk.alarm:
        raise Failed(detail + ": entries may soon not be recorded; free space or raise the alarm")
    return detail


def check_journal(state: _State) -> str:
    path = state.config.journal_path
    if not path.exists():
        raise Skip(f"{path} does not exist yet (kiosk run creates it)")
    journal = state.journal()
    verdict = journal.integrity_check()
    if verdict != "ok":
        raise Failed(f"{path}: integrity_check says {verdict!r}; stop the kiosk and see docs/ADMIN.md")
    counts = journal.counts()
    return f"{path}: integrity ok, {counts['total']} entries, {counts['undelivered']} undelivered"


def check_city(state: _State) -> str:
    from kiosk.errors import ConfigError, SyncError
    from sync.client import Uploader

    if not state.config.sync.url:
        raise Skip("sync.url is empty: no city server (entries leave with kiosk export)")
    try:
        uploader = Uploader(state.config, state.journal())
    except ConfigError as exc:
        raise Failed(str(exc)) from None
    try:
        uploader.send_heartbeat()  # authenticated: reachable and token accepted, or why not
    except (SyncError, ConfigError) as exc:
        raise Failed(_one_line(exc)) from None
    finally:
        uploader.close()
    return f"{state.config.sync.url}: reachable, token accepted (heartbeat sent)"


def check_trust_list(state: _State) -> str:
    config = state.config
    if not {"eu-dcc", "shc"} & set(config.policy.accept_formats):
        raise Skip("no signed formats accepted (policy.accept_formats): no trust list needed")
    now = dt.datetime.now(dt.timezone.utc)
    if config.trust.trust_list:
        from sync.schema import resolve_path

        base = Path(config.source).resolve().parent if config.source else Path.cwd()
        path = resolve_path(config.trust.trust_list, base)
        age = now - dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        detail = f"{path}: {_age(age)} old (a file from the config, updated by hand)"
        if age > MAX_TRUST_AGE:
            raise Failed(detail)
        return detail
    if not config.sync.bundle_public_key:
        raise Failed("no trust list: set trust.trust_list, or sync.url and sync.bundle_public_key")
    from sync.bundles import BundleStore

    status = BundleStore(config.kiosk.state_dir, config.sync.bundle_public_key).status(now)["trust-list"]
    if status["version"] is None:
        raise Failed("no trust list from the city yet: is kiosk-sync running? (journalctl -u kiosk-sync)")
    age = dt.timedelta(seconds=status["age_seconds"] or 0)
    detail = f"version {status['version']}, signed by the city {_age(age)} ago"
    if age > MAX_TRUST_AGE:
        raise Failed(detail + ": the city signs it daily, so the sync has not brought a new one for too long")
    return detail


def _age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


CHECKS: list[tuple[str, Callable[[_State], str]]] = [
    ("camera", check_camera),
    ("decoder", check_decoder),
    ("relay", check_relay),
    ("leds", check_leds),
    ("buzzer", check_buzzer),
    ("screen", check_screen),
    ("clock", check_clock),
    ("disk", check_disk),
    ("journal", check_journal),
    ("city", check_city),
    ("trust-list", check_trust_list),
]
CHECK_NAMES = [name for name, _ in CHECKS]
