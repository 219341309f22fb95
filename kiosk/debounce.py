"""Debounce: one decision per code shown, however long it is held up.

A code counts as still shown while it has been seen within ``absent_seconds`` (decoders miss
a frame now and then as a phone moves); once it has been out of view that long, showing it again
gives a new decision. Only a digest of each text is kept: the QR text is personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


class Debouncer:
    def __init__(self, absent_seconds: float):
        self.absent_seconds = absent_seconds
        self._last_seen: dict[bytes, float] = {}

    def new_codes(self, texts: Iterable[str], now: float) -> list[str]:
        """Texts in this frame that are not already on show; ``now`` is the frame's capture time."""
        self._forget(now)
        fresh = []
        for text in dict.fromkeys(texts):  # a code twice in one frame is one code
            key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if key not in self._last_seen:
                fresh.append(text)
            self._last_seen[key] = now
        return fresh

    def _forget(self, now: float) -> None:
        gone = [k for k, seen in self._last_seen.items() if now - seen > self.absent_seconds]
        for key in gone:
            del self._last_seen[key]
