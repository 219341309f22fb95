"""The gate: a relay, green and red LEDs, a buzzer and an optional guard button, via gpiozero.

The pin factory is given: the kiosk's assembly finds it by ``gate.pin_factory`` in
``kiosk.plugins.PIN_FACTORIES`` (``mock`` is gpiozero's MockFactory, whose pins tests drive and
inspect). The relay is created de-energised, is energised only to admit someone whose
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


class Gate:
    """Relay, LEDs, buzzer, button. ``admit``/``refuse`` never block the loop.

    Each output has one deadline: an admission sets the relay's and the green light's to
    ``open_seconds`` from now, extending (never cutting short) an earlier visitor's open time; a
    refusal does the same for the red light. A new decision turns the other light off at once,
    so the guard always sees the latest decision alone. One timer thread switches each output off
    when its deadline passes. ``clock`` (seconds, default ``time.monotonic``) is what deadlines
    and events are measured on; tests pass a fake one and call :meth:`expire` themselves.
    """

    def __init__(self, section, pin_factory, on_event: Callable[[GateEvent], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        from gpiozero import LED, Button, Buzzer, OutputDevice

        self.section = section
        self.factory = pin_factory
        self.on_event = on_event
        self.events: list[GateEvent] = []
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._override_requests = 0
        self._override_wanted = threading.Event()
        # output name -> (deadline on self._clock, the entry it was last switched on for)
        self._deadlines: dict[str, tuple[float, str]] = {}
        self._outputs_changed = threading.Condition()
        self._timer: threading.Thread | None = None
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
        self._timer = threading.Thread(target=self._run_timer, name="gate-timer", daemon=True)
        self._timer.start()

    # ------------------------------------------------------------------ events
    def _event(self, device: str, state: str, entry_id: str = "") -> None:
        event = GateEvent(self._clock(), device, state, entry_id)
        with self._lock:
            self.events.append(event)
            if len(self.events) > 10000:  # a long-running kiosk keeps only the recent history
                del self.events[:5000]
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------------ outputs and their deadlines
    def _device(self, name: str):
        return getattr(self, name)

    def _switch_on(self, name: str, until: float, entry_id: str) -> None:
        """On until ``until`` at least (caller holds ``_outputs_changed``)."""
        device = self._device(name)
        if device is None:
            return
        if not device.value:
            device.on()
        earlier = self._deadlines.get(name)
        self._deadlines[name] = (max(until, earlier[0]) if earlier else until, entry_id)
        self._event(name, "on", entry_id)

    def _switch_off(self, name: str) -> None:
        """Off now, whatever its deadline (caller holds ``_outputs_changed``)."""
        _until, entry_id = self._deadlines.pop(name, (0.0, ""))
        device = self._device(name)
        if device is not None and device.value:
            device.off()
            self._event(name, "off", entry_id)

    def expire(self, now: float | None = None) -> None:
        """Switch off every output whose deadline has passed (the timer thread calls this)."""
        with self._outputs_changed:
            if self._closed:
                return
            now = self._clock() if now is None else now
            for name, (until, _entry) in list(self._deadlines.items()):
                if until <= now:
                    self._switch_off(name)

    def _run_timer(self) -> None:
        with self._outputs_changed:
            while not self._closed:
                self.expire()
                if self._deadlines:
                    wait = min(until for until, _ in self._deadlines.values()) - self._clock()
                    self._outputs_changed.wait(min(max(wait, 0.005), 1.0))
                else:
                    self._outputs_changed.wait()

    def _beep(self, decision: str) -> None:
        """The decision's buzzer pattern (kiosk.ports.pattern_for), in the background; it replaces any other."""
        if self.buzzer is not None:
            from kiosk.ports import pattern_for

            self.buzzer.blink(**pattern_for(decision).as_blink(), background=True)

    # ------------------------------------------------------------------ actions
    def _decide(self, on: tuple[str, ...], off: str, entry_id: str, seconds: float | None) -> None:
        with self._outputs_changed:
            if self._closed:
                raise DriverError("gate is closed")
            until = self._clock() + (self.section.open_seconds if seconds is None else seconds)
            self._switch_off(off)  # the guard sees the latest decision alone
            for name in on:
                self._switch_on(name, until, entry_id)
            self._outputs_changed.notify_all()

    def admit(self, entry_id: str, seconds: float | None = None) -> None:
        """Open for ``seconds`` (the config's open time) from now: the entry is already committed."""
        self._decide(("relay", "green"), "red", entry_id, seconds)
        log.debug("relay energised for entry %s", entry_id)
        self._beep("pass")

    def refuse(self, entry_id: str, seconds: float | None = None) -> None:
        """The red light for ``seconds``; an earlier visitor's open time runs on."""
        self._decide(("red",), "green", entry_id, seconds)
        self._beep("fail")

    def _pressed(self) -> None:
        # runs on gpiozero's thread: only note it; the loop records and opens
        with self._lock:
            self._override_requests += 1
            self._override_wanted.set()
        self._event("button", "pressed")

    def take_override_requests(self) -> int:
        with self._lock:
            count, self._override_requests = self._override_requests, 0
            self._override_wanted.clear()
        return count

    def wait_for_override(self, timeout: float) -> bool:
        """Block until the guard's button was pressed (True) or ``timeout`` seconds pass."""
        return self._override_wanted.wait(timeout)

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
        with self._outputs_changed:
            if self._closed:
                return
            self._closed = True
            self._outputs_changed.notify_all()
        try:
            if self.relay.value:
                self.relay.off()
                self._event("relay", "off")
            for led in (self.green, self.red, self.buzzer):
                if led is not None:
                    led.off()
        finally:
            self._close_devices()
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.join(timeout=2.0)

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
