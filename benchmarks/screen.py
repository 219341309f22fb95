"""The loop's frame rate with the pygame screen on, beside the same loop with the null screen.

    python benchmarks/screen.py [--visitors N] [--repeats R]

Generated visitors' codes in 640x480 camera frames (held four frames each, two empty frames
between), replayed as fast as the loop takes them through the real loop (decode, debounce,
verify, policy, journal commit, mock pins). The screen is the real ``PygameScreen`` on SDL's
dummy video driver (it draws into memory exactly as on a display, without the final copy to
the panel), at 800x480 and 1920x1080, with its render thread capped at 15 draws a second as in
the kiosk. Runs are interleaved in rounds (one run of each kind, the order rotating from round
to round) and repeated; medians are printed, and "vs null" is the median of each run's ratio to
the null-screen run of its round (paired, so a change in the shared machine's load between
rounds cancels out); a second null-screen run in each round shows how far two identical runs
differ on this machine, the noise under every "vs null". For contrast, one line draws
every frame on the loop's own thread, which is what the render thread avoids. The replay is
dense (a decision every few frames), so the screen mostly shows cards, and every threaded draw
finds a new decision and a new unsent count in the status bar; a second table gives the cost of
one draw by what is on screen (a kiosk mostly shows the idle preview). "ms/draw" is the wall time of
a draw, which in the render thread includes waiting for the GIL; "CPU ms/draw" is the drawing
thread's own processor time, and "draw CPU" that time as a share of the run's: what the loop
can lose to the screen (pygame's drawing holds the GIL), and the least noisy figure here on a
shared machine, where loop fps vary by a few per cent from run to run. The journal lives on
tmpfs (/dev/shm) for the run, so disk flushes do not drown the difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

# the kiosk's venue, given to the screen and to the loop alike (as drivers.screen.open_screen does)
VENUE = "Bến xe Mỹ Đình · Cổng số 2"


class InlineScreen:
    """Draws every view on the caller's thread: what the kiosk must not do (for contrast)."""

    def __init__(self, screen):
        self.screen = screen

    def show(self, view) -> None:
        self.screen.show(view)
        self.screen.render()

    def close(self) -> None:
        self.screen.close()

    @property
    def frames_drawn(self) -> int:
        return self.screen.frames_drawn

    @property
    def draw_seconds(self) -> float:
        return self.screen.draw_seconds

    @property
    def draw_cpu_seconds(self) -> float:
        return self.screen.draw_cpu_seconds


def make_screen(kind: str):
    from kiosk.ports import NullScreen
    from drivers.screen.pygame_screen import PygameScreen

    if kind.startswith("null"):
        return NullScreen()
    size, _, mode = kind.partition(" ")
    width, height = map(int, size.split("x"))
    section = SimpleNamespace(fullscreen=False, width=width, height=height, result_seconds=3.0, font="", sound=False)
    if mode == "inline":
        return InlineScreen(PygameScreen(section, venue=VENUE, threaded=False))
    return PygameScreen(section, venue=VENUE, max_fps=15.0)


def run_once(kind: str, frames) -> tuple[float, int, float, int, float, float]:
    """(loop frames a second, screen draws, seconds spent drawing, decisions, process CPU ms a
    frame, drawing thread's CPU seconds)."""
    from drivers.camera import Camera, ReplaySource
    from kiosk import config as config_mod
    from kiosk.app import build_kiosk
    from kiosk.testing import mock_pin_factory

    # the journal on tmpfs where there is one: its fsyncs (which no screen can slow) otherwise
    # add tens of milliseconds of disk noise per decision and drown the comparison
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp, mock_pin_factory() as pins:
        config, problems = config_mod.parse({
            "kiosk": {"state_dir": tmp, "clock": "assume_synchronised", "venue": VENUE},
            "camera": {"driver": "replay", "replay_path": tmp},
            "policy": {"reentry_minutes": 0.0},
        })
        assert not problems, problems
        screen = make_screen(kind)
        camera = Camera(ReplaySource(frames=frames, realtime=False))
        kiosk = build_kiosk(config, camera=camera, screen=screen, pin_factory=pins)
        start, cpu_start = time.perf_counter(), time.process_time()
        kiosk.run(stop_at_end=True)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        frames_done = kiosk.stats.frames
        decisions = kiosk.stats.decisions
        kiosk.close()  # closes the screen too
        return (frames_done / elapsed, getattr(screen, "frames_drawn", 0), getattr(screen, "draw_seconds", 0.0),
                decisions, 1000 * cpu / frames_done, getattr(screen, "draw_cpu_seconds", 0.0))


def draw_costs(draws: int = 100) -> None:
    """Milliseconds per draw on one thread, by what is on screen (the render thread's cost)."""
    from kiosk.ports import StatusBar, View
    from drivers.screen.pygame_screen import PygameScreen
    from kiosk.demo.visitors import render_frame

    frame = render_frame("https://example.org/benchmark")
    outline = ((200, 150), (420, 150), (420, 370), (200, 370))
    print(f"\n{'draw cost, ms':<14} {'idle preview':>13} {'new count':>10} {'new card':>9} {'card countdown':>15}")
    for width, height in ((800, 480), (1920, 1080)):
        section = SimpleNamespace(fullscreen=False, width=width, height=height, result_seconds=1e6, font="",
                                  sound=False)
        screen = PygameScreen(section, venue=VENUE, threaded=False)
        costs = []
        for case in ("idle", "new count", "new card", "countdown"):  # the idle ones before any card
            screen.show(View(state="idle", frame=frame, outline=outline))
            screen.render()
            start = time.perf_counter()
            for i in range(draws):
                if case == "idle":
                    screen.show(View(state="idle", frame=frame, outline=outline))
                elif case == "new count":  # the idle preview and a status bar whose count moved
                    screen.show(View(state="idle", frame=frame, outline=outline,
                                     status=StatusBar(undelivered=1 + i)))
                elif case == "new card" or i == 0:
                    screen.show(View(state="pass" if i % 2 else "fail", reason="ok" if i % 2 else "expired",
                                     masked_name=f"NVA {1900 + i}", decision_id=str(i)))
                screen.render()
            costs.append(1000 * (time.perf_counter() - start) / draws)
        screen.close()
        print(f"{width}x{height:<9} {costs[0]:>13.2f} {costs[1]:>10.2f} {costs[2]:>9.2f} {costs[3]:>15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-inline", action="store_true", help="skip the draw-every-frame contrast")
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from kiosk.demo.visitors import frames_for, generate

    frames = frames_for(list(generate(args.visitors)), size=(640, 480))
    kinds = ["null", "null again", "800x480", "1920x1080"]
    if not args.no_inline:
        kinds += ["800x480 inline", "1920x1080 inline"]
    results: dict[str, list[tuple]] = {k: [] for k in kinds}
    run_once("null", frames[:50])  # warm up imports and caches
    for round_ in range(args.repeats):
        # interleaved, so drift in the machine's load hits every kind alike; rotated, so no kind
        # always runs first or right after the same one
        start = round_ % len(kinds)
        for kind in kinds[start:] + kinds[:start]:
            results[kind].append(run_once(kind, frames))

    print(f"{len(frames)} frames of 640x480 per run, {args.repeats} runs each, medians; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'screen':<32} {'loop fps':>9} {'(min-max)':>11} {'vs null':>8} {'CPU ms/frame':>13} {'vs null':>8} "
          f"{'draws/s':>8} {'ms/draw':>8} {'CPU ms/draw':>12} {'draw CPU':>9} {'decisions':>9}")
    for kind in kinds:
        runs = results[kind]
        fps = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[4] for r in runs)
        per_run_seconds = statistics.median(len(frames) / r[0] for r in runs)
        draws = statistics.median(r[1] for r in runs)
        ms = statistics.median(1000 * r[2] / r[1] for r in runs) if draws else 0.0
        cpu_ms = statistics.median(1000 * r[5] / r[1] for r in runs) if draws else 0.0
        share = statistics.median(r[5] * r[0] / len(frames) for r in runs)  # drawing CPU / run time
        # paired: each run against the null run of its round
        fps_vs = statistics.median(r[0] / n[0] - 1 for r, n in zip(runs, results["null"]))
        cpu_vs = statistics.median(r[4] / n[4] - 1 for r, n in zip(runs, results["null"]))
        label = {"null": "null screen", "null again": "null screen again (noise)"}.get(
            kind, f"pygame {kind}" + ("" if "inline" in kind else " (thread, 15/s)"))
        spread = f"{min(r[0] for r in runs):.0f}-{max(r[0] for r in runs):.0f}"
        print(f"{label:<32} {fps:>9.0f} {spread:>11} {fps_vs:>+8.1%} {cpu:>13.2f} "
              f"{cpu_vs:>+8.1%} {draws / per_run_seconds:>8.1f} {ms:>8.2f} {cpu_ms:>12.2f} {share:>9.1%} "
              f"{statistics.median(r[3] for r in runs):>9.0f}")
    print("CPU ms/frame counts both threads: even if every draw ran in series with the loop, the "
          "loop could slow by no more than that share.")
    draw_costs()


if __name__ == "__main__":
    main()
