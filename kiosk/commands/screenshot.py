"""Render one screen state to a PNG, with sample data, without a display.

States: idle (a camera preview with a code outlined), pass, fail (result cards), offline (the
camera-lost screen, with the network down and entries waiting in the status bar). The image is
drawn by the kiosk's own screen driver with SDL's "dummy" video driver, so it works over SSH and
in CI, and never takes over the kiosk's display. The name shown is sample data.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from types import SimpleNamespace

STATES = ("idle", "pass", "fail", "offline")
SAMPLE_VENUE = "Bến xe Mỹ Đình · Cổng số 2"
SAMPLE_REASONS = {"pass": "vaccinated", "fail": "vaccination_too_recent"}
# a fixed time of day in the status bar (08:30 local) so that the command draws the same picture
SAMPLE_TIME = (2021, 7, 20, 8, 30, 0, 0, 0, -1)


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 800x480")
    width, height = int(match[1]), int(match[2])
    if not (320 <= width <= 7680 and 240 <= height <= 4320):
        raise argparse.ArgumentTypeError(f"{text}: width 320-7680 and height 240-4320, please")
    return width, height


def add_arguments(parser) -> None:
    parser.add_argument("--state", required=True, choices=STATES, help="which screen to draw")
    parser.add_argument("--size", type=_size, default=(800, 480), metavar="WxH", help="pixels (default 800x480)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the PNG to write")
    parser.add_argument("--venue", default=SAMPLE_VENUE, help="the venue name in the header")
    parser.add_argument("--reason", help="reason code on a pass/fail card (default: a sample one)")
    parser.add_argument("--font", default="", help="a TTF file to draw with (default: as the kiosk finds one)")


def sample_view(state: str, venue: str = SAMPLE_VENUE, reason: str | None = None):
    """The view drawn for ``state``: a camera frame with a real decoded outline, or a card."""
    from kiosk.ports import StatusBar, View
    from kiosk.model import Identity
    from kiosk.reasons import message

    healthy = StatusBar(online=True, undelivered=0, clock_synchronised=True, trust_age_hours=3.0, camera_ok=True)
    if state == "idle":
        frame, outline = _sample_frame()
        return View(state="idle", venue=venue, frame=frame, outline=outline, status=healthy)
    if state in ("pass", "fail"):
        code = reason or SAMPLE_REASONS[state]
        msg = message(code)
        person = Identity("Nguyễn Văn An", "1990-05-01", "") if state == "pass" else \
            Identity("Trần Thị Bích", "1985-11-20", "")
        return View(state=state, venue=venue, reason=code, message_vi=msg.vi, message_en=msg.en,
                    masked_name=person.masked(), decision_id=f"sample-{state}", status=healthy)
    if state == "offline":
        status = StatusBar(online=False, undelivered=12, clock_synchronised=True, trust_age_hours=30.0,
                           camera_ok=False)
        return View(state="offline", venue=venue, status=status)
    raise ValueError(f"unknown state {state!r}")


def _sample_frame():
    """A generated camera frame of a phone showing a QR code, outlined where the decoder finds it."""
    import random

    from kiosk.decode import Decoder
    from kiosk.demo.visitors import render_frame

    frame = render_frame("https://example.org/kiosk/screenshot", rng=random.Random(7))
    codes = Decoder().decode(frame)
    return frame, (codes[0].corners if codes else ())


def render(state: str, size: tuple[int, int], out: str, venue: str = SAMPLE_VENUE, reason: str | None = None,
           font: str = "") -> None:
    """Draw ``state`` at ``size`` into the PNG ``out`` with the dummy video driver."""
    # a screenshot never needs a real window, and must not grab the kiosk's display
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from drivers.screen.pygame_screen import PygameScreen

    section = SimpleNamespace(fullscreen=False, width=size[0], height=size[1], result_seconds=3.0, font=font)
    clock_now = [0.0]
    sample_time = time.mktime(SAMPLE_TIME)
    screen = PygameScreen(section, venue=venue, threaded=False, clock=lambda: clock_now[0],
                          wall_clock=lambda: sample_time)
    try:
        screen.show(sample_view(state, venue, reason))
        clock_now[0] = 1.0  # a card one second into its time: the countdown bar shows
        screen.save(out)
    finally:
        screen.close()


def run(args) -> int:
    if args.reason and args.state not in ("pass", "fail"):
        from kiosk.cli import UsageError

        raise UsageError("screenshot: --reason goes with --state pass or fail")
    render(args.state, args.size, args.out, args.venue, args.reason, args.font)
    print(f"{args.out}: {args.state} at {args.size[0]}x{args.size[1]}")
    return 0
