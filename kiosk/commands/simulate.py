"""Generated visitors through the real loop into the configured journal.

Frames of generated codes (every format, valid and broken) are replayed as fast as the loop
takes them; the gate uses gpiozero's mock pins (a real relay is never clicked by a simulation).
Each relay activation is printed with its entry id as it happens, for load and recovery tests.
"""

from __future__ import annotations

import sys
import time

from kiosk.commands._common import add_config_argument, load_config


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--visitors", type=int, required=True, metavar="N", help="how many visitors")
    parser.add_argument("--seed", type=int, default=2021, help="random seed of the generated visitors")


def run(args) -> int:
    from kiosk.cli import UsageError
    from kiosk.demo.simulation import run_visitors
    from kiosk.demo.visitors import generate

    if args.visitors < 1:
        raise UsageError("--visitors must be at least 1")
    config = load_config(args)

    def gate_event(event) -> None:
        if event.device == "relay" and event.state == "on":
            sys.stdout.write(f"relay on entry={event.entry_id}\n")
            sys.stdout.flush()

    started = time.monotonic()
    kiosk = run_visitors(config, list(generate(args.visitors, seed=args.seed)), on_gate_event=gate_event)
    elapsed = time.monotonic() - started
    s = kiosk.stats
    print(f"simulated {s.decisions} decisions ({s.passes} pass, {s.fails} fail) from {s.frames} frames "
          f"in {elapsed:.1f} s: {s.frames / elapsed:.0f} frames/s; journal {config.journal_path}")
    return 0
