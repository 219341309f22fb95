"""The loop never waits on decoding: while it decodes, newer frames replace older ones; the next frame
it decodes is the newest; every decision carries the age of its frame, into the journal."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time

from drivers.camera import Camera
from kiosk.app import build_kiosk
from kiosk.demo.visitors import cccd_text, make_person, render_frame
from kiosk.testing import FakeCamera

ARRIVE_WHILE_DECODING = 3  # frames the camera delivers while the loop decodes one


class SlowDecoder:
    """The kiosk's decoder, during which the camera shows ARRIVE_WHILE_DECODING new frames (and
    the capture thread takes them all)."""

    def __init__(self, decoder, camera: FakeCamera, images):
        self.decoder = decoder
        self.camera = camera
        self.images = images
        self.index_of = {id(image): i for i, image in enumerate(images)}
        self.shown = 0
        self.decoded: list[int] = []
        self.busy_ms: dict[int, float] = {}

    def show(self, n: int) -> None:
        new = self.images[self.shown:self.shown + n]
        self.shown += len(new)
        self.camera.show(*new)
        if self.shown == len(self.images):
            self.camera.end()

    def decode(self, image):
        start = time.monotonic()
        index = self.index_of[id(image)]
        self.decoded.append(index)
        self.show(ARRIVE_WHILE_DECODING)
        self.camera.wait_until_read(self.shown)
        codes = self.decoder.decode(image)
        self.busy_ms[index] = (time.monotonic() - start) * 1000.0
        return codes


def test_loop_decodes_the_newest_frame_drops_stale_ones_and_records_frame_age(make_config, mock_factory):
    config = make_config()
    rng = random.Random(3)
    today = dt.date.today()
    texts = [cccd_text(make_person(rng, today), rng, today) for _ in range(16)]  # a new code in every frame
    images = [render_frame(text, rng=random.Random(i)) for i, text in enumerate(texts)]
    source = FakeCamera(live=True)  # a frame arrives when the test shows it
    camera = Camera(source, stall_seconds=10.0)
    outcomes = []
    kiosk = build_kiosk(config, camera=camera, pin_factory=mock_factory, on_outcome=outcomes.append)
    slow = SlowDecoder(kiosk.decoder, source, images)
    kiosk.decoder = slow
    slow.show(1)
    try:
        kiosk.run(stop_at_end=True)
    finally:
        kiosk.close()

    # each decode let three frames in; the loop then took the newest and the two before it were dropped
    assert slow.decoded == list(range(0, len(images), ARRIVE_WHILE_DECODING))
    assert camera.dropped == (ARRIVE_WHILE_DECODING - 1) * (len(slow.decoded) - 1)
    assert kiosk.stats.frames == len(slow.decoded)
    # one decision per decoded frame, each knowing how old its frame was: at least the decode time
    assert len(outcomes) == len(slow.decoded)
    for index, outcome in zip(slow.decoded, outcomes):
        assert outcome.frame_age_ms >= slow.busy_ms[index]
    with sqlite3.connect(config.journal_path) as db:
        ages = [row[0] for row in db.execute("SELECT frame_age_ms FROM entries ORDER BY seq")]
    assert ages == [round(o.frame_age_ms, 3) for o in outcomes]
