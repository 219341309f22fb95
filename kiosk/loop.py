"""The kiosk loop: frame -> decode -> debounce -> verify -> policy -> record -> act -> screen.

One thread does all of it, frame by frame, so that the order that matters holds by construction:
an entry is committed to the journal before the relay is energised. The camera's capture thread
only keeps the newest frame (see drivers/camera.py); decoding never queues stale frames.
The watchdog is fed from here, after each processed frame: a loop that stops processing frames
stops feeding it, whatever other threads still run.

The guard's button is heard by a thread of its own while the loop runs (``_watch_button``), so
an override works in every state of the loop, a stalled or wedged camera included (exactly when
the screen tells visitors to call the guard). Decisions, the loop's and the guard's, are made
one at a time under one lock, so the record-before-act order holds for both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk import formats
from kiosk.errors import CameraStalled, DriverError, EndOfStream, JournalError
from kiosk.formats.base import VerifyContext
from kiosk.housekeeping import Housekeeping
from kiosk.journal import Entry, Journal
from kiosk.model import Credential, Decision, Kind, Status
from kiosk.policy import CLOCK_FLAG, Policy, ReentryGuard
from kiosk.ports import Camera, Clock, Frame, Gate, NullScreen, Screen, StatusBar, View
from kiosk.reasons import message

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Outcome:
    """One decision, as the loop made it (safe to print: no personal data)."""

    entry: Entry | None  # None when the journal could not record it (then the gate stayed shut)
    format: str
    status: str
    decision: Decision
    frame_age_ms: float
    masked_name: str = ""
    detail: str = ""


class NullNotifier:
    """The service manager's notifier when not under systemd."""

    def ready(self) -> None: ...
    def watchdog(self) -> None: ...
    def status(self, text: str) -> None: ...


@dataclass
class LoopStats:
    frames: int = 0
    decisions: int = 0
    passes: int = 0
    fails: int = 0
    unrecorded: int = 0
    stalls: int = 0
    started: float = field(default_factory=time.monotonic)


class Kiosk:
    def __init__(
        self,
        config,
        *,
        camera: Camera,
        decoder,
        gate: Gate,
        journal: Journal,
        trust,
        clock: Clock,
        screen: Screen | None = None,
        notifier=None,
        reentry: ReentryGuard | None = None,
        housekeeping: Housekeeping | None = None,
        reload: Callable[[Any], tuple[Any, Any]] | None = None,
        reopen_camera: Callable[[], Camera] | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ):
        """``housekeeping``: the half-minute rounds (by default without the city's bundles);
        ``reload(config) -> (config, trust)``: what a re-read config becomes (the assembly's)."""
        from kiosk.chunks import ChunkAssembler
        from kiosk.debounce import Debouncer

        self.config = config
        self.camera = camera
        self.decoder = decoder
        self.gate = gate
        self.journal = journal
        self.trust = trust
        self.clock = clock
        self.screen = screen or NullScreen()
        self.notifier = notifier or NullNotifier()
        # in memory only: a restart forgets it (an empty guard is falsy: no "or" here)
        self.reentry = reentry if reentry is not None else ReentryGuard()
        self.housekeeping = housekeeping if housekeeping is not None else Housekeeping(config, journal, clock, self.reentry)
        self.reload = reload
        self.reopen_camera = reopen_camera
        self.on_outcome = on_outcome
        self.policy = Policy(config.policy, admitted_since=self.reentry.admitted_since)
        self.debouncer = Debouncer(config.debounce.absent_seconds)
        self.chunks = ChunkAssembler(config.debounce.chunk_wait_seconds)
        self.stats = LoopStats()
        self.stop_event = threading.Event()
        self._view = View(state="idle", venue=config.kiosk.venue)
        self._ready_sent = False
        self._camera_ok = True
        self._journal_failed = False  # the last journal write failed
        self._pending_config = None
        # one decision at a time (the loop's and the button's); the view with it
        self._decision_lock = threading.RLock()

    # ------------------------------------------------------------------ one visitor
    def decide(self, text: str, frame_captured: float | None = None, fmt=formats.RECOGNISE) -> Outcome:
        """Verify, decide, record (committed), then act. Never raises for any text."""
        now = self.clock.now()
        synchronised = self.clock.synchronised()
        credential = formats.verify(text, VerifyContext(now=now, trust=self.trust), fmt)
        key = None
        if credential.identity is not None and credential.status is Status.VALID:
            key = self.reentry.key(credential.identity)
        decision = self.policy.decide(credential, now=now, clock_synchronised=synchronised, person_key=key)
        age_ms = (time.monotonic() - frame_captured) * 1000.0 if frame_captured is not None else 0.0
        return self._record_and_act(credential, decision, now, synchronised, key, age_ms)

    def override(self) -> Outcome:
        """The guard opened the gate by hand: recorded like any decision, then opened."""
        now = self.clock.now()
        synchronised = self.clock.synchronised()
        credential = Credential("guard", Status.VALID, kind=Kind.UNKNOWN)
        flags = () if synchronised else (CLOCK_FLAG,)
        decision = Decision("pass", "guard_override", flags)
        return self._record_and_act(credential, decision, now, synchronised, None, 0.0)

    def _record_and_act(self, credential: Credential, decision: Decision, now: dt.datetime,
                        synchronised: bool, key: str | None, age_ms: float) -> Outcome:
        with self._decision_lock:
            return self._record_and_act_locked(credential, decision, now, synchronised, key, age_ms)

    def _record_and_act_locked(self, credential: Credential, decision: Decision, now: dt.datetime,
                               synchronised: bool, key: str | None, age_ms: float) -> Outcome:
        cfg = self.config
        try:
            entry = self.journal.record(
                kiosk_id=cfg.kiosk.id, venue=cfg.kiosk.venue, at=now, clock_synced=synchronised,
                format=credential.format, status=credential.status.value, decision=decision.decision,
                reason=decision.reason, kind=credential.kind.value, flags=decision.flags,
                identity=credential.identity, frame_age_ms=round(age_ms, 3),
            )
            self._journal_failed = False
            self.housekeeping.recorded()
        except JournalError as exc:
            # nobody enters unrecorded: a journal that cannot write keeps the gate shut
            log.error("ALARM journal write failed, gate kept shut: %s", exc)
            self.stats.unrecorded += 1
            self._journal_failed = True
            entry = None
            decision = Decision("fail", "journal_unavailable", decision.flags)
        if entry is not None and decision.passed:
            if key is not None:
                self.reentry.admitted(key, now)
            self.gate.admit(entry.id)
        else:
            self.gate.refuse(entry.id if entry else "")
        self.stats.decisions += 1
        if decision.passed:
            self.stats.passes += 1
        else:
            self.stats.fails += 1
        masked = credential.identity.masked() if credential.identity else ""
        outcome = Outcome(entry, credential.format, credential.status.value, decision, age_ms, masked,
                          credential.detail)
        log.info(
            "decision %s reason=%s format=%s status=%s entry=%s",
            decision.decision, decision.reason, credential.format, credential.status.value,
            entry.id if entry else "-",
        )
        self._show_result(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    # ------------------------------------------------------------------ frames
    def process(self, frame: Frame) -> list[Outcome]:
        """Everything the loop does with one frame (the button's thread waits for it to finish)."""
        with self._decision_lock:
            return self._process_locked(frame)

    def _process_locked(self, frame: Frame) -> list[Outcome]:
        outcomes = self.take_overrides()
        try:
            codes = self.decoder.decode(frame.image)
        except Exception as exc:  # a decoder bug on one frame must not stop the gate
            log.error("decoder failed on a frame: %s", type(exc).__name__)
            codes = []
        texts = [c.text for c in codes]
        ready = []
        for text in self.debouncer.new_codes(texts, frame.at):
            ready += self.chunks.feed(text, frame.at)
        ready += self.chunks.expired(frame.at)
        for text, fmt in ready:
            outcomes.append(self.decide(text, frame.captured, fmt))
        self.stats.frames += 1
        trust = self.housekeeping.tick(frame.captured)
        if trust is not None:
            self.trust = trust
        self._refresh_view(frame, codes)
        return outcomes

    def take_overrides(self) -> list[Outcome]:
        """Record and open for each press of the guard's button since the last call."""
        return [self.override() for _ in range(self.gate.take_override_requests())]

    def _watch_button(self, stop: threading.Event) -> None:
        """The guard's button, heard whatever the loop is doing (waiting on a stalled camera too)."""
        while not stop.is_set():
            if not self.gate.wait_for_override(0.25):
                continue
            try:
                if self.take_overrides() and not self._camera_ok:
                    self._refresh_view(None)  # no frame will come to show the guard's decision
            except Exception as exc:  # the button thread must outlive any one failure
                log.error("guard override failed: %s", exc)

    def _show_result(self, outcome: Outcome) -> None:
        msg = message(outcome.decision.reason)
        self._view = View(
            state="pass" if outcome.decision.passed else "fail",
            venue=self.config.kiosk.venue,
            reason=outcome.decision.reason,
            message_vi=msg.vi,
            message_en=msg.en,
            masked_name=outcome.masked_name,
            status=self._status_bar(),
            decision_id=outcome.entry.id if outcome.entry else f"unrecorded-{self.stats.decisions}",
        )
        self._show(self._view)  # once: the screen holds a decision's card for its time

    def _status_bar(self) -> StatusBar:
        return dataclasses.replace(
            self.housekeeping.sync_status,
            clock_synchronised=self.clock.synchronised(),
            camera_ok=self._camera_ok,
            disk_alarm=self.housekeeping.disk_alarm or self._journal_failed,
        )

    def _refresh_view(self, frame: Frame | None, codes=()) -> None:
        with self._decision_lock:
            self._refresh_view_locked(frame, codes)

    def _refresh_view_locked(self, frame: Frame | None, codes=()) -> None:
        venue = self.config.kiosk.venue
        # a decision's card was shown once, when it was made; the screen keeps it up for its time
        # (a guard's override while the camera is out too) and shows this view when it ends
        if not self._camera_ok:
            view = View(state="offline", venue=venue)
        elif self.housekeeping.disk_alarm or self._journal_failed:
            view = View(state="disk_full", venue=venue)
        elif self.config.policy.unsynchronised_clock == "refuse" and not self.clock.synchronised():
            view = View(state="clock", venue=venue)
        else:
            view = View(state="idle", venue=venue)
        outline = codes[0].corners if codes else ()
        self._view = dataclasses.replace(view, frame=frame.image if frame else None, outline=outline,
                                         status=self._status_bar())
        self._show(self._view)

    def _show(self, view: View) -> None:
        try:
            self.screen.show(view)
        except Exception as exc:  # the screen is a convenience; the gate must go on
            log.error("screen failed: %s", exc)

    # ------------------------------------------------------------------ running
    def run(self, max_frames: int | None = None, stop_at_end: bool = True) -> LoopStats:
        """Process frames until stopped (``stop()``, end of a replay, or ``max_frames``)."""
        stop_button = threading.Event()
        button = threading.Thread(target=self._watch_button, args=(stop_button,), name="guard-button",
                                  daemon=True)
        button.start()
        try:
            return self._run(max_frames, stop_at_end)
        finally:
            stop_button.set()
            button.join(timeout=2.0)

    def _run(self, max_frames: int | None, stop_at_end: bool) -> LoopStats:
        while not self.stop_event.is_set():
            try:
                frame = self.camera.read()
            except EndOfStream:
                if stop_at_end:
                    break
                self._camera_lost("replay finished")
                continue
            except (CameraStalled, DriverError) as exc:
                self._camera_lost(str(exc))
                continue
            if not self._ready_sent:
                self.notifier.ready()
                self.notifier.status("camera delivering; ready for visitors")
                self._ready_sent = True
            if not self._camera_ok:
                log.warning("camera is back")
                self.notifier.status("camera delivering; ready for visitors")
                self._camera_ok = True
            if self._pending_config is not None:
                self._apply_reload()
            self.process(frame)
            self.notifier.watchdog()
            if max_frames is not None and self.stats.frames >= max_frames:
                break
        return self.stats

    def _camera_lost(self, why: str) -> None:
        self.stats.stalls += 1
        if self._camera_ok:
            log.error("camera stalled: %s", why)
            self.notifier.status(f"camera stalled: {why}")
        self._camera_ok = False
        self._refresh_view(None)
        if self.reopen_camera is not None:
            try:
                self.camera.close()
            except Exception:
                pass
            try:
                self.camera = self.reopen_camera()
            except DriverError as exc:
                log.error("camera could not be reopened: %s", exc)
                self.stop_event.wait(1.0)
        else:
            self.stop_event.wait(0.5)

    def stop(self) -> None:
        self.stop_event.set()

    def request_reload(self, config) -> None:
        """Take a re-read config at the next frame (signal handlers must not swap state mid-frame)."""
        self._pending_config = config

    def _apply_reload(self) -> None:
        config, self._pending_config = self._pending_config, None
        trust = self.trust
        if self.reload is not None:
            config, trust = self.reload(config)
        if config.gate != self.config.gate or config.camera != self.config.camera:
            log.warning("gate and camera settings change only on restart")
        self.config = config
        self.policy = Policy(config.policy, admitted_since=self.reentry.admitted_since)
        self.trust = trust
        self.housekeeping.config = config
        self.debouncer.absent_seconds = config.debounce.absent_seconds  # codes on show stay on show
        self.chunks.wait_seconds = config.debounce.chunk_wait_seconds
        log.info("config reloaded")

    def close(self) -> None:
        """Stop using the hardware: relay de-energised, camera and screen released, journal closed."""
        for part in (self.gate, self.camera, self.screen, self.journal):
            try:
                part.close()
            except Exception as exc:  # closing must reach every part
                log.error("closing %s failed: %s", type(part).__name__, exc)
