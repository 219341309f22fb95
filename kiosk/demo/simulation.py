"""Generated visitors through the real loop: what ``kiosk demo`` and ``kiosk simulate`` share.

The only simulated parts are the outside world: a replay camera fed rendered frames and
gpiozero's mock pins. Everything from decoding to the committed journal entry is the code
``kiosk run`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drivers.camera import Camera, ReplaySource
from kiosk.demo.visitors import Visitor, frames_for


def replay_camera(visitors: Sequence[Visitor], *, fps: float = 30.0, gap_frames: int = 2,
                  size: tuple[int, int] = (640, 480), realtime: bool = False) -> Camera:
    frames = frames_for(visitors, size=size, gap_frames=gap_frames)
    if realtime:  # paced like a live camera: every scene drawn before it starts
        frames.render_all()
    return Camera(ReplaySource(frames=frames, fps=fps, realtime=realtime, loop=False))


def run_visitors(config, visitors: Sequence[Visitor], *, on_outcome: Callable | None = None,
                 on_gate_event: Callable | None = None, screen=None, clock=None, gap_frames: int = 2,
                 realtime: bool = False, linger: float = 0.0):
    """Run ``visitors`` through a kiosk built from ``config`` with mock pins; return the kiosk.

    ``realtime`` replays at the camera's frame rate; ``linger`` keeps the gate open that many
    seconds after the last frame, so its last transitions happen before it is closed.
    """
    import time

    from kiosk.app import build_kiosk
    from kiosk.testing import mock_pin_factory

    camera = replay_camera(visitors, fps=config.camera.fps, gap_frames=gap_frames, realtime=realtime)
    with mock_pin_factory() as pins:
        kiosk = build_kiosk(config, camera=camera, pin_factory=pins, screen=screen, clock=clock,
                            on_outcome=on_outcome, on_gate_event=on_gate_event)
        try:
            kiosk.run(stop_at_end=True)
            time.sleep(linger)
        finally:
            kiosk.close()
    return kiosk
