"""The loop never waits on decoding: while it decodes, newer frames replace older ones; the next frame
it decodes is the newest; every decision carries the age of its frame, into the journal."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import threading
import time

from drivers.camera import Camera
from kiosk.ports import EndOfStream, Frame
from kiosk.app import build_kiosk
from kiosk.errors import DriverError
from kiosk.demo.visitors import cccd_text, make_person, render_frame

ARRIVE_WHILE_DECODING = 3  # frames the camera delivers while the loop decodes one


class GatedCamera:
    """A live source that delivers a frame only when the test lets it, and says when it has
    handed every allowed frame over (it is then waiting in ``read`` for the next one)."""

    live = True

    def __init__(self, images):
        self.images = images
        self._allowed = threading.Semaphore(0)
        self._cond = threading.Condition()
        self._delivered = 0
        self._asking = 0  # how many frames had been delivered when read() was last entered
        self._closed = False

    def allow(self, n: int) -> None:
        for _ in range(n):
            self._allowed.release()

    def wait_delivered(self, count: int, timeout: float = 10.0) -> None:
        """Until the capture thread holds frame ``count - 1``: it has stored it and come back for more."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._asking >= count or self._closed, timeout):
                raise AssertionError(f"capture thread never took frame {count - 1}")

    def read(self) -> Frame:
        with self._cond:
            index = self._asking = self._delivered
            self._cond.notify_all()
        if not self._allowed.acquire(timeout=10.0) or self._closed:
            raise DriverError("closed")
        if index >= len(self.images):
            raise EndOfStream("no more frames")
        self._delivered = index + 1
        return Frame(self.images[index], time.monotonic(), index)

    def close(self) -> None:
        self._closed = True
        self._allowed.release(100)
        with self._cond:
            self._cond.notify_all()


class SlowDecoder:
    """The kiosk's decoder, during which the camera delivers ARRIVE_WHILE_DECODING new frames."""

    def __init__(self, decoder, source: GatedCamera, index_of):
        self.decoder = decoder
        self.source = source
        self.index_of = index_of
        self.released = 1
        self.decoded: list[int] = []
        self.busy_ms: dict[int, float] = {}

    def decode(self, image):
        start = time.monotonic()
        index = self.index_of[id(image)]
        self.decoded.append(index)
        self.source.allow(ARRIVE_WHILE_DECODING)
        self.released += ARRIVE_WHILE_DECODING
        self.source.wait_delivered(min(self.released, len(self.source.images)))
        codes = self.decoder.decode(image)
        self.busy_ms[index] = (time.monotonic() - start) * 1000.0
        return codes


def test_loop_decodes_the_newest_frame_drops_stale_ones_and_records_frame_age(make_config, mock_factory):
    config = make_config()
    rng = random.Random(3)
    today = dt.date.today()
    texts = [cccd_text(make_person(rng, today), rng, today) for _ in range(16)]  # a new code in every frame
    images = [render_frame(text, rng=random.Random(i)) for i, text in enumerate(texts)]
    source = GatedCamera(images)
    camera = Camera(source, stall_seconds=10.0)
    outcomes = []
    kiosk = build_kiosk(config, camera=camera, pin_factory=mock_factory, on_outcome=outcomes.append)
    slow = SlowDecoder(kiosk.decoder, source, {id(image): i for i, image in enumerate(images)})
    kiosk.decoder = slow
    source.allow(1)
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
