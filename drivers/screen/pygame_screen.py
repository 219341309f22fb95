"""The kiosk's screen drawn with pygame: idle preview, result cards, error screens, status bar.

Why it is built this way:

- **Drawing never slows decoding.** ``show()`` only stores the latest :class:`View` and returns;
  a render thread that owns the display draws it at a capped rate (``max_fps``, 15 by default,
  plenty for a preview nobody studies). SDL wants its display calls on the thread that created
  the display, so that thread opens the display itself, and draws the idle and card
  backgrounds there before the first visitor. Text, text widths, cards and backgrounds are
  drawn once and cached; per frame only the preview (``cv2.resize`` to its box, then
  ``cv2.cvtColor`` straight into the display's pixels), the outline, a countdown bar and a
  changed status bar are drawn, and a new decision on a card of the same colour redraws only
  the card's text. Most of pygame's drawing holds the GIL the loop needs, so what the render
  thread spends is what the loop loses: keep per-draw work to copies of cached surfaces
  (``benchmarks/screen.py``).
- **One glance from two metres.** A result is a full-width card, green with a tick or red with a
  cross (shapes drawn as polygons, not font glyphs, so colour-blind visitors and a missing font
  still get the answer), the reason in Vietnamese first and bigger, then English, then the
  masked name and birth year.
- **Vietnamese with every diacritic.** Text is NFC-normalised and drawn with a TTF that has the
  Vietnamese glyphs (``screen.font``, else DejaVu/Noto/Free/Liberation Sans found on the
  system); a font without them is reported in the log, never silently shown as boxes.
- **Scales by height.** Every size is a multiple of ``height / 480``, so the 7-inch 800x480 Pi
  display and a 1920x1080 monitor get the same layout.

A result card is held for ``screen.result_seconds`` after the screen is shown it, unless a
newer decision arrives: the loop sends ``View(state="pass"/"fail")`` once per decision and
``View(state="idle")`` (or an error state) otherwise; the card's timer is the screen's alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.screen.fonts import Text, find_font
from drivers.screen.painter import RESULT_STATES, Painter
from kiosk.errors import DriverError
from kiosk.ports import View

log = logging.getLogger("kiosk.screen")


# --------------------------------------------------------------------------- the screen


class PygameScreen:
    """The screen driver: ``show()`` is cheap and never blocks on drawing.

    ``threaded=True`` (the kiosk): a render thread opens the display and draws the latest view
    at most ``max_fps`` times a second. ``threaded=False`` (screenshots, tests): the caller
    draws with :meth:`render`. ``clock`` is monotonic seconds (for the card's time),
    ``wall_clock`` gives the time of day shown in the status bar.
    """

    def __init__(
        self,
        section: Any,
        venue: str = "",
        *,
        threaded: bool = True,
        max_fps: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        speaker: Any = None,
    ):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before pygame is first imported
        self.section = section
        self.venue = venue
        self.result_seconds = float(section.result_seconds)
        self.max_fps = max_fps
        self._clock = clock
        self._wall_clock = wall_clock
        self._owns_speaker = speaker is None
        if speaker is None and getattr(section, "sound", False):
            from drivers.sound import open_speaker

            speaker = open_speaker()
        self._speaker = speaker  # drivers.sound.Speaker or None
        self._lock = threading.Lock()
        self._base = View(state="idle", venue=venue)
        self._card: View | None = None
        self._card_since = 0.0
        self._version = 0  # bumped by every show()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self.frames_drawn = 0
        self.draw_seconds = 0.0  # time spent drawing, for benchmarks/screen.py
        # the drawing thread's own processor time: draw_seconds also counts waiting for the GIL
        self.draw_cpu_seconds = 0.0
        self._display: Any = None
        self._painter: Painter | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            ready = threading.Event()
            failure: list[BaseException] = []
            self._thread = threading.Thread(target=self._run, args=(ready, failure), name="screen", daemon=True)
            self._thread.start()
            ready.wait()
            if failure:
                self._thread.join()
                raise DriverError(f"screen: cannot open the display: {failure[0]}") from failure[0]
        else:
            try:
                self._open_display()
            except Exception as exc:
                raise DriverError(f"screen: cannot open the display: {exc}") from exc

    # -- the loop's side ---------------------------------------------------------------------

    def show(self, view: View) -> None:
        """Take the latest view; a pass/fail view starts a result card held for result_seconds."""
        if self._closed:
            raise DriverError("screen: show() after close()")
        now = self._clock()
        new_decision = view.state in RESULT_STATES
        with self._lock:
            if new_decision:
                # each decision's view comes once: its card is held for result_seconds here (the
                # screen's timer alone), unless a newer decision replaces it
                self._card_since = now
                self._card = view
            else:
                self._base = view
            self._version += 1
        if new_decision and self._speaker is not None:
            try:
                self._speaker.play(view.state)
            except Exception as exc:  # noqa: BLE001 - a sound is a nicety
                log.warning("screen: sound failed: %s", exc)
        self._wake.set()

    def close(self) -> None:
        """Stop drawing and close the display; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        else:
            self._close_display()
        if self._speaker is not None and self._owns_speaker:
            self._speaker.close()

    def __enter__(self) -> PygameScreen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- drawing -----------------------------------------------------------------------------

    def current(self, now: float | None = None) -> tuple[View, float]:
        """What is on screen at ``now``: the view and, for a card, the share of its time left."""
        now = self._clock() if now is None else now
        with self._lock:
            if self._card is not None:
                left = 1.0 - (now - self._card_since) / self.result_seconds
                if left > 0:
                    return self._card, left
                self._card = None
            return self._base, 1.0

    def render(self) -> Any:
        """Draw the current view now, on the calling thread (``threaded=False`` only)."""
        if self._thread is not None:
            raise DriverError("screen: render() is for threaded=False; the render thread draws")
        self._draw()
        return self._display

    def save(self, path: str | os.PathLike) -> None:
        """Draw the current view and write it to an image file (PNG by the name)."""
        import pygame

        surface = self.render()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(surface, str(path))

    @property
    def size(self) -> tuple[int, int]:
        return (self._painter.w, self._painter.h) if self._painter else (0, 0)

    def _open_display(self) -> None:
        import pygame

        pygame.display.init()
        flags = 0
        size = (int(self.section.width), int(self.section.height))
        if self.section.fullscreen:
            flags = pygame.FULLSCREEN
            size = (0, 0)  # the display's own resolution
        self._display = pygame.display.set_mode(size, flags)
        pygame.display.set_caption("kiosk")
        if self.section.fullscreen:
            pygame.mouse.set_visible(False)
        choice = find_font(getattr(self.section, "font", "") or "")
        self._painter = Painter(self._display.get_size(), self.venue, Text(choice))
        log.info("screen: %dx%d with %s (%s)", *self._display.get_size(), pygame.display.get_driver(),
                 Path(choice.regular).name if choice.regular else "built-in font")

    def _close_display(self) -> None:
        import pygame

        if self._display is not None:
            pygame.display.quit()
            self._display = None

    def _draw(self) -> None:
        import pygame

        started, cpu_started = time.perf_counter(), time.thread_time()
        view, left = self.current()
        clock_text = time.strftime("%H:%M", time.localtime(self._wall_clock()))
        changed = self._painter.paint(self._display, view, card_left=left, clock_text=clock_text)
        if changed is None:
            pygame.display.flip()
        elif changed:
            pygame.display.update(changed)
        self.frames_drawn += 1
        self.draw_seconds += time.perf_counter() - started
        self.draw_cpu_seconds += time.thread_time() - cpu_started

    def _run(self, ready: threading.Event, failure: list) -> None:
        import pygame

        try:
            self._open_display()
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor
            failure.append(exc)
            ready.set()
            return
        try:
            self._painter.prepare(self._display)
        except Exception:  # noqa: BLE001 - drawn again on demand; a drawing bug must not stop the gate
            log.exception("screen: drawing failed")
        ready.set()
        period = 1.0 / self.max_fps
        drawn_version = -1
        drawn_minute = ""
        failures = 0
        try:
            while not self._stop.is_set():
                # wake on a new view, else once a second for the clock and a card's end
                self._wake.wait(timeout=1.0 if self._card is None else period)
                self._wake.clear()
                if self._stop.is_set():
                    break
                started = time.monotonic()
                for event in pygame.event.get():  # keep the window responsive; a kiosk ignores QUIT
                    if event.type == pygame.QUIT:
                        log.info("screen: window close ignored")
                minute = time.strftime("%H:%M", time.localtime(self._wall_clock()))
                if self._version != drawn_version or self._card is not None or minute != drawn_minute:
                    drawn_version, drawn_minute = self._version, minute
                    try:
                        self._draw()
                        failures = 0
                    except Exception:  # noqa: BLE001 - a drawing bug must never stop the gate
                        failures += 1
                        if failures == 1:
                            log.exception("screen: drawing failed")
                spare = period - (time.monotonic() - started)
                if spare > 0:
                    self._stop.wait(spare)  # the cap: at most max_fps draws a second
        finally:
            self._close_display()
