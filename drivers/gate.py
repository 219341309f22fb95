"""The gate: a relay, green and red LEDs, a buzzer and an optional guard button, via gpiozero.

The pin factory comes from the config (``mock`` gives gpiozero's MockFactory, whose pins tests
drive and inspect). The relay is created de-energised, is energised only to admit someone whose
entry is already committed, and is de-energised again on close: never energised at start-up or
shutdown. ``fail_mode`` documents the wiring (see docs/ADMIN.md): with ``secure`` the lock stays
locked without power (electric strike on the relay's normally-open contact); with ``safe`` it
opens without power (maglock through the normally-closed contact), as escape routes may require.
Either way the software energises the relay only to open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.errors import DriverError

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class GateEvent:
    at: float  # time.monotonic()
    device: str  # "relay", "green", "red", "buzzer", "button"
    state: str  # "on" / "off" / "pressed"
    entry_id: str = ""


def make_pin_factory(name: str):
    """gpiozero pin factory by config name; imported only here."""
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        if name == "pigpio":
            from gpiozero.pins.pigpio import PiGPIOFactory

            return PiGPIOFactory()
        if name == "native":
            from gpiozero.pins.native import NativeFactory

            return NativeFactory()
    except Exception as exc:  # gpiozero raises many kinds when the hardware is absent
        raise DriverError(f"GPIO pin factory {name!r} could not be opened: {exc}") from exc
    raise DriverError(f"unknown pin factory {name!r}")


class Gate:
    """Relay, LEDs, buzzer, button. ``admit``/``refuse`` never block the loop."""

    def __init__(self, section, pin_factory=None, on_event: Callable[[GateEvent], None] | None = None):
        from gpiozero import LED, Button, Buzzer, OutputDevice

        self.section = section
        self.factory = pin_factory or make_pin_factory(section.pin_factory)
        self.on_event = on_event
        self.events: list[GateEvent] = []
        self._lock = threading.Lock()
        self._closed = False
        self._timers: list[threading.Timer] = []
        self._override_requests = 0
        f = self.factory
        try:
            self.relay = OutputDevice(section.relay_pin, active_high=section.relay_active_high,
                                      initial_value=False, pin_factory=f)
            self.green = LED(section.green_led_pin, pin_factory=f) if section.green_led_pin >= 0 else None
            self.red = LED(section.red_led_pin, pin_factory=f) if section.red_led_pin >= 0 else None
            self.buzzer = Buzzer(section.buzzer_pin, pin_factory=f) if section.buzzer_pin >= 0 else None
            self.button = None
            if section.button_pin >= 0:
                self.button = Button(section.button_pin, pull_up=True, bounce_time=0.05, pin_factory=f)
                self.button.when_pressed = self._pressed
        except Exception as exc:
            self._close_devices()
            raise DriverError(f"gate pins could not be set up: {exc}") from exc

    # ------------------------------------------------------------------ events
    def _event(self, device: str, state: str, entry_id: str = "") -> None:
        event = GateEvent(time.monotonic(), device, state, entry_id)
        with self._lock:
            self.events.append(event)
            if len(self.events) > 10000:  # a long-running kiosk keeps only the recent history
                del self.events[:5000]
        if self.on_event is not None:
            self.on_event(event)

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _light(self, led, name: str, seconds: float, entry_id: str) -> None:
        if led is None:
            return
        led.on()
        self._event(name, "on", entry_id)

        def off() -> None:
            if not self._closed:
                led.off()
                self._event(name, "off", entry_id)

        self._later(seconds, off)

    def _beep(self, decision: str) -> None:
        """The decision's buzzer pattern (kiosk.sounds), in the background."""
        if self.buzzer is not None:
            from kiosk.sounds import pattern_for

            self.buzzer.blink(**pattern_for(decision).as_blink(), background=True)

    # ------------------------------------------------------------------ actions
    def admit(self, entry_id: str, seconds: float | None = None) -> None:
        """Open for ``seconds`` (the config's open time): the entry is already committed."""
        if self._closed:
            raise DriverError("gate is closed")
        seconds = self.section.open_seconds if seconds is None else seconds
        self.relay.on()
        self._event("relay", "on", entry_id)
        log.debug("relay energised for entry %s", entry_id)

        def close_relay() -> None:
            if not self._closed:
                self.relay.off()
                self._event("relay", "off", entry_id)

        self._later(seconds, close_relay)
        self._light(self.green, "green", seconds, entry_id)
        self._beep("pass")

    def refuse(self, entry_id: str, seconds: float | None = None) -> None:
        if self._closed:
            raise DriverError("gate is closed")
        seconds = self.section.open_seconds if seconds is None else seconds
        self._light(self.red, "red", seconds, entry_id)
        self._beep("fail")

    def _pressed(self) -> None:
        # runs on gpiozero's thread: only note it; the loop records and opens
        with self._lock:
            self._override_requests += 1
        self._event("button", "pressed")

    def take_override_requests(self) -> int:
        with self._lock:
            count, self._override_requests = self._override_requests, 0
        return count

    # ------------------------------------------------------------------ lifecycle
    def _close_devices(self) -> None:
        for name in ("button", "buzzer", "red", "green", "relay"):
            device = getattr(self, name, None)
            if device is not None:
                try:
                    device.close()  # gpiozero leaves an output pin as it was: switch off first
                except Exception:
                    pass

    def close(self) -> None:
        """De-energise everything; idempotent."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        try:
            if self.relay.value:
                self.relay.off()
                self._event("relay", "off")
            for led in (self.green, self.red, self.buzzer):
                if led is not None:
                    led.off()
        finally:
            self._close_devices()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_gate(config, pin_factory=None, on_event=None) -> Gate:
    return Gate(config.gate, pin_factory=pin_factory, on_event=on_event)
