"""Frames per second of the whole kiosk loop beside the decoder alone, on the same replay frames.

    python benchmarks/loop.py [--visitors N] [--seconds S]

For 640x480 and 1280x720: generated visitors' codes rendered into camera frames (held four
frames each, two empty frames between), replayed as fast as the loop takes them, through the
real loop (decode, debounce, verify, policy, journal commit with synchronous=FULL, mock pins,
null screen). Beside it, the decoder alone on the same frames. Ratios are what to read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=60)
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from drivers.camera import Camera, ReplaySource
    from kiosk import config as config_mod
    from kiosk.app import build_kiosk
    from kiosk.decode import Decoder
    from kiosk.demo.visitors import frames_for, generate
    from kiosk.testing import mock_pin_factory

    visitors = list(generate(args.visitors))
    print(f"{'size':<10} {'frames':>6} {'decoder alone':>15} {'whole loop':>12} {'loop/decoder':>13} {'decisions':>10}")
    for size in ((640, 480), (1280, 720)):
        frames = frames_for(visitors, size=size)
        decoder = Decoder()
        start = time.perf_counter()
        for frame in frames:
            decoder.decode(frame)
        decoder_fps = len(frames) / (time.perf_counter() - start)

        with tempfile.TemporaryDirectory() as tmp, mock_pin_factory() as pins:
            config, problems = config_mod.parse({
                "kiosk": {"state_dir": tmp, "clock": "assume_synchronised"},
                "camera": {"driver": "replay", "replay_path": tmp},
                "policy": {"reentry_minutes": 0.0},
            })
            assert not problems, problems
            camera = Camera(ReplaySource(frames=frames, realtime=False))
            kiosk = build_kiosk(config, camera=camera, pin_factory=pins)
            start = time.perf_counter()
            kiosk.run(stop_at_end=True)
            loop_fps = kiosk.stats.frames / (time.perf_counter() - start)
            decisions = kiosk.stats.decisions
            kiosk.close()
        print(f"{size[0]}x{size[1]:<5} {len(frames):>6} {decoder_fps:>11.0f} fps {loop_fps:>8.0f} fps "
              f"{loop_fps / decoder_fps:>12.2f}x {decisions:>10}")


if __name__ == "__main__":
    main()
