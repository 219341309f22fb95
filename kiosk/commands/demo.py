"""Run the real kiosk loop on generated visitors, on any Linux machine.

No camera, pins or screen needed: visitors' codes of every format (valid and broken, one held up
for five seconds, one shown again a moment later) are rendered into camera frames and replayed
at 30 frames a second; the gate is gpiozero's mock pins; a reference city server runs on
127.0.0.1 and receives the entries through a real sync. Prints each decision and each
relay/LED transition, then a summary. The journal stays in --dir (default: a temporary folder).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from sync.printable import shown

DEMO_VENUE = "Demo office, Hoàn Kiếm, Hà Nội"
HOLD_FRAMES = 10  # frames each visitor's code is in view (a third of a second at 30 fps)


def add_arguments(parser) -> None:
    parser.add_argument("--dir", metavar="DIR", help="keep the demo's journal and server data here")
    parser.add_argument("--visitors", type=int, default=16, metavar="N", help="generated visitors (default 16)")
    parser.add_argument("--fast", action="store_true", help="replay as fast as the loop goes, not at 30 fps")
    parser.add_argument("--no-server", action="store_true", help="skip the city server and the sync")
    parser.add_argument("--mode", choices=("checkin", "health"), default="checkin",
                        help="the venue's policy: checkin (any identity code) or health (certificates and rules)")


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(args) -> int:
    import dataclasses

    import logging

    from kiosk import config as config_mod
    from kiosk.demo.visitors import HealthIssuers, Visitor, generate

    if args.dir:
        base = Path(args.dir)
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    if not args.debug:
        logging.getLogger().setLevel(logging.WARNING)  # the demo prints its own lines
    today = dt.date.today()
    health = HealthIssuers(base, today)

    server = None
    sync_keys: dict = {}
    if not args.no_server:
        from city.embedded import start_server

        server = start_server(base / "city")
        enrolled = server.enroll("demo-kiosk-01", state_dir=base / "state", venue=DEMO_VENUE)
        sync_keys = enrolled.sync_section()
        _print(f"city server: {server.url}  (data in {base / 'city'})")

    data = {
        "kiosk": {"id": "demo-kiosk-01", "venue": DEMO_VENUE,
                  "state_dir": str(base / "state"), "clock": "assume_synchronised"},
        "camera": {"driver": "replay", "replay_path": str(base), "fps": 30.0},
        "gate": {"pin_factory": "mock", "open_seconds": 1.0},
        "policy": {"mode": args.mode, "reentry_minutes": 10.0},
        "trust": {"trust_list": str(health.trust_list),
                  "shc_issuers": [{"iss": health.shc.iss, "dir": str(health.shc_dir)}]},
        "sync": sync_keys,
    }
    config, problems = config_mod.parse(data, base=base)
    if problems or config is None:
        raise config_mod.ConfigError(problems)
    _print(f"journal: {config.journal_path}   policy: {args.mode} mode")

    # each code held up a third of a second at least (a person holds a phone up longer still): at
    # 30 fps in real time, a machine slower than this one's loop decodes only some of the frames,
    # and four frames of a dense code (a SMART Health Card's) were sometimes all missed
    visitors: list[Visitor] = [dataclasses.replace(v, hold_frames=max(v.hold_frames, HOLD_FRAMES))
                               for v in generate(args.visitors, today=today, health=health)]
    # the first visitor admitted under this mode holds the code up, and comes back later
    first = next(i for i, v in enumerate(visitors) if v.expected(args.mode) == "pass")
    held = dataclasses.replace(visitors[first], label=visitors[first].label + " (held 5 s)", hold_frames=150)
    again = dataclasses.replace(visitors[first], label=visitors[first].label + " (same person again)",
                                expect="fail", expect_health="fail")
    # the held code gives one decision; after it has been out of view, showing it again is a
    # new decision, refused by the re-entry guard
    gap = int(config.debounce.absent_seconds * config.camera.fps) + 5
    visitors = ([held] + visitors[:first] + visitors[first + 1:]
                + [dataclasses.replace(again, hold_frames=HOLD_FRAMES, gap_before=gap)])
    expected = [v.expected(args.mode) for v in visitors]
    labels = [v.label for v in visitors]

    from kiosk.demo.simulation import run_visitors

    started = time.monotonic()
    outcomes = []

    def on_outcome(outcome) -> None:
        n = len(outcomes)
        outcomes.append(outcome)
        label = labels[n] if n < len(labels) else "?"
        mark = "PASS" if outcome.decision.passed else "FAIL"
        want = expected[n] if n < len(expected) else "?"
        surprise = "" if (outcome.decision.decision == want) else f"   <-- expected {want}"
        _print(f"{time.monotonic() - started:6.2f}s  #{n + 1:<3} {label:<38} {mark}  "
               f"{outcome.decision.reason:<27} {shown(outcome.masked_name):<10} "
               f"entry {outcome.entry.id[:8] if outcome.entry else '-'}{surprise}")

    def on_gate_event(event) -> None:
        if event.device != "buzzer":
            _print(f"{time.monotonic() - started:6.2f}s        {event.device} {event.state}")

    kiosk = run_visitors(config, visitors, on_outcome=on_outcome, on_gate_event=on_gate_event,
                         screen=_headless_screen(config), gap_frames=6, realtime=not args.fast,
                         linger=min(config.gate.open_seconds, 1.0) + 0.1)  # the last relay closes on screen

    stats = kiosk.stats
    mismatches = sum(1 for o, want in zip(outcomes, expected) if o.decision.decision != want)
    _print("")
    _print(f"summary: {len(visitors)} visitors, {stats.frames} frames, {stats.decisions} decisions: "
           f"{stats.passes} pass, {stats.fails} fail; {mismatches} unexpected")
    code = 0 if mismatches == 0 and stats.decisions == len(visitors) else 1
    if server is not None:
        code = max(code, _sync_and_show(config, server))
        server.stop()
    _print(f"demo files kept in {base}")
    return code


def _headless_screen(config):
    """The real pygame screen on SDL's dummy driver when pygame can start; else no screen."""
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        from drivers.screen.pygame_screen import PygameScreen

        section = type(config.screen)(driver="pygame", fullscreen=False)
        return PygameScreen(section, venue=config.kiosk.venue)
    except Exception:  # the demo runs without a screen where pygame cannot
        from kiosk.ports import NullScreen

        return NullScreen()


def _sync_and_show(config, server) -> int:
    from sync.client import sync_once

    result = sync_once(config)
    received = server.entries()
    _print(f"sync: {result.delivered} entries delivered to {server.url}; the city server now holds "
           f"{len(received)} entries from this kiosk")
    for row in received[:3]:
        _print(f"   city sees: {row['at']}  {row['format']:<9} {row['decision']:<5} "
               f"{row.get('identity', {}).get('name', '-') if isinstance(row.get('identity'), dict) else '-'}")
    return 0 if result.undelivered == 0 else 1
