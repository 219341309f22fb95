"""Sound for a decision: a pattern played on a buzzer-like device, or as tones through a speaker
(``pygame.mixer``, where there is a sound device). The patterns themselves are ports
(``kiosk.ports.PASS``, ``FAIL``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kiosk.ports import PATTERNS, Pattern

log = logging.getLogger("kiosk.sounds")


def play_on(device: Any, pattern: Pattern, *, sleep: Callable[[float], None] = time.sleep,
            stop: threading.Event | None = None) -> None:
    """Play ``pattern`` on anything with ``on()``/``off()`` (a gpiozero Buzzer or LED). Blocks.

    ``stop`` ends it early (a newer decision), always leaving the device off.
    """
    try:
        for on, off in pattern.steps:
            if stop is not None and stop.is_set():
                return
            device.on()
            sleep(on)
            device.off()
            if off:
                sleep(off)
    finally:
        device.off()


def tone_samples(pattern: Pattern, rate: int = 22050, volume: float = 0.4) -> Any:
    """The pattern as mono 16-bit samples: a sine per beep with 5 ms fades (no clicks), then silence."""
    import numpy as np

    parts = []
    fade = max(1, int(rate * 0.005))
    for (on, off), hz in zip(pattern.steps, pattern.hz):
        n = int(rate * on)
        t = np.arange(n) / rate
        wave = np.sin(2 * np.pi * hz * t)
        envelope = np.ones(n)
        k = min(fade, n // 2)
        if k:
            envelope[:k] = np.linspace(0.0, 1.0, k)
            envelope[-k:] = np.linspace(1.0, 0.0, k)
        parts.append(wave * envelope * volume)
        parts.append(np.zeros(int(rate * off)))
    return (np.concatenate(parts) * 32767).astype(np.int16)


class Speaker:
    """Plays the patterns through ``pygame.mixer``; ``play`` returns at once (the mixer mixes)."""

    def __init__(self, volume: float = 0.4):
        import numpy as np
        import pygame

        if not pygame.mixer.get_init():
            pygame.mixer.init(frequency=22050, size=-16, channels=1, buffer=512)
        rate, _size, channels = pygame.mixer.get_init()
        self._mixer = pygame.mixer
        self._sounds = {}
        for name, pattern in PATTERNS.items():
            mono = tone_samples(pattern, rate, volume)
            samples = mono if channels == 1 else np.repeat(mono[:, None], channels, axis=1)
            self._sounds[name] = pygame.sndarray.make_sound(np.ascontiguousarray(samples))
        self._playing: Any = None

    def play(self, decision: str) -> None:
        """Start the decision's sound, cutting short one still playing."""
        if self._playing is not None:
            self._playing.stop()
        self._playing = self._sounds["pass" if decision == "pass" else "fail"]
        self._playing.play()

    def length(self, decision: str) -> float:
        return self._sounds["pass" if decision == "pass" else "fail"].get_length()

    def close(self) -> None:
        if self._mixer.get_init():
            self._mixer.quit()


def open_speaker(volume: float = 0.4) -> Speaker | None:
    """A speaker if the system has a sound device, else None (the buzzer still sounds)."""
    try:
        return Speaker(volume)
    except Exception as exc:  # noqa: BLE001 - no sound device is normal on a kiosk
        log.info("sounds: no speaker (%s); the buzzer alone will sound", exc)
        return None
