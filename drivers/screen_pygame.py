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

A result card is held for ``screen.result_seconds`` after the screen first sees it, unless a
newer decision arrives: the loop sends ``View(state="pass"/"fail")`` once per decision and
``View(state="idle")`` (or an error state) otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.screen import StatusBar, View
from kiosk.errors import DriverError
from kiosk.reasons import message as reason_message

log = logging.getLogger("kiosk.screen")

RESULT_STATES = ("pass", "fail")
# every character the screen's own Vietnamese texts use, to check a font covers them
VIETNAMESE_SAMPLE = (
    "Đưaãàáạảăằắặẳẵâầấậẩẫèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
    "ĂÂÊÔƠƯÀÁẠẢÃẰẮẶẲẴẦẤẬẨẪÈÉẸẺẼỀẾỆỂỄÌÍỊỈĨÒÓỌỎÕỒỐỘỔỖỜỚỢỞỠÙÚỤỦŨỪỨỰỬỮỲÝỴỶỸ"
)

# (regular, bold) pairs tried in order when screen.font is empty
KNOWN_FONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ("/usr/share/fonts/opentype/noto/NotoSans-Regular.otf", "/usr/share/fonts/opentype/noto/NotoSans-Bold.otf"),
    ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf"),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
)
MATCH_NAMES = "dejavusans,notosans,freesans,liberationsans,arial"

# colours
WHITE = (255, 255, 255)
INK = (16, 22, 31)  # main background
HEADER = (13, 39, 68)
PANEL = (32, 41, 54)
MUTED = (170, 181, 196)
GREEN = (27, 138, 58)
RED = (198, 40, 40)
AMBER = (240, 170, 0)
GREY = (120, 128, 140)
OUTLINE = (0, 230, 118)
STATUS_BG = (8, 12, 18)

# text on the error screens: state -> (title vi, title en, hint vi, hint en)
ERROR_TEXT: dict[str, tuple[str, str, str, str]] = {
    "offline": (
        "Mất tín hiệu camera",
        "Camera offline",
        "Đang thử kết nối lại. Vui lòng gọi bảo vệ.",
        "Reconnecting. Please call the guard.",
    ),
    "disk_full": (
        "Bộ nhớ đầy",
        "Disk full",
        "Không thể ghi nhận lượt vào. Vui lòng gọi bảo vệ.",
        "Entries cannot be recorded. Please call the guard.",
    ),
    "clock": (
        "Đồng hồ chưa đồng bộ",
        "Clock not synchronised",
        "Tạm dừng kiểm tra. Vui lòng gọi bảo vệ.",
        "Checks are paused. Please call the guard.",
    ),
}
IDLE_VI = "Đưa mã QR vào camera"
IDLE_EN = "Hold your QR code up to the camera"
CARD_TITLE = {"pass": ("MỜI VÀO", "Welcome"), "fail": ("KHÔNG ĐƯỢC VÀO", "Entry refused")}


# --------------------------------------------------------------------------- fonts


@dataclass(frozen=True)
class FontChoice:
    regular: str | None  # None = pygame's built-in font
    bold: str | None
    covers_vietnamese: bool


def missing_glyphs(path: str | None, text: str = VIETNAMESE_SAMPLE) -> str:
    """The characters of ``text`` that the font at ``path`` has no glyph for ('' = all there).

    ``pygame.freetype`` reports a missing glyph as ``None`` in ``get_metrics`` (``pygame.font``
    would quietly measure the box it draws instead).
    """
    import pygame.freetype

    pygame.freetype.init()
    font = pygame.freetype.Font(path, 24)
    text = unicodedata.normalize("NFC", text)
    metrics = font.get_metrics(text)
    return "".join(ch for ch, m in zip(text, metrics) if m is None and not ch.isspace())


def find_font(configured: str = "") -> FontChoice:
    """The font to draw with: the configured one, else a known Vietnamese-capable sans.

    Falls back, with a warning that says what to install, to the first font found even if it
    lacks the glyphs: boxes on the screen are better than no screen.
    """
    import pygame.font

    candidates: list[tuple[str | None, str | None]] = []
    if configured:
        candidates.append((configured, configured))
    candidates.extend(KNOWN_FONTS)
    pygame.font.init()
    matched = pygame.font.match_font(MATCH_NAMES)
    if matched:
        candidates.append((matched, pygame.font.match_font(MATCH_NAMES, bold=True) or matched))
    first: tuple[str | None, str | None] | None = None
    for regular, bold in candidates:
        if not regular or not os.path.isfile(regular):
            continue
        if bold and not os.path.isfile(bold):
            bold = regular
        first = first or (regular, bold)
        try:
            missing = missing_glyphs(regular)
        except Exception as exc:  # noqa: BLE001 - an unreadable font file is just skipped
            log.warning("screen: cannot read font %s: %s", regular, exc)
            continue
        if not missing:
            if configured and regular != configured:
                log.warning("screen: screen.font %s lacks Vietnamese glyphs; using %s instead", configured, regular)
            return FontChoice(regular, bold, True)
        if regular == configured:
            log.warning("screen: screen.font %s has no glyph for %r; looking for another font", configured, missing[:20])
    log.warning(
        "screen: no font with Vietnamese glyphs found; Vietnamese text will show boxes. "
        "Install fonts-dejavu-core or set screen.font to a TTF file with Vietnamese glyphs"
    )
    if first:
        return FontChoice(first[0], first[1], False)
    return FontChoice(None, None, False)


class Text:
    """Rendered text, cached: the same string is drawn once, then only blitted."""

    def __init__(self, choice: FontChoice, cache_size: int = 512):
        import pygame.freetype

        import pygame.display

        pygame.freetype.init()
        self._ft = pygame.freetype
        self._display = pygame.display
        self.choice = choice
        self._fonts: dict[tuple[int, bool], Any] = {}
        self._cache: OrderedDict[tuple, list] = OrderedDict()
        self._cache_size = cache_size
        self._widths: dict[tuple[str, int, bool], int] = {}
        self.measured = 0  # widths laid out by FreeType (not from the cache), for tests

    def font(self, size: int, bold: bool = False) -> Any:
        key = (max(6, int(size)), bold)
        font = self._fonts.get(key)
        if font is None:
            path = self.choice.bold if bold else self.choice.regular
            font = self._ft.Font(path, key[0])
            font.pad = True  # same line height whatever the letters (stacked diacritics fit)
            if bold and self.choice.bold == self.choice.regular:
                font.strong = True
            self._fonts[key] = font
        return font

    def width(self, text: str, size: int, bold: bool = False) -> int:
        """``text``'s width in pixels, remembered: FreeType lays a string out afresh on every
        ``get_rect`` (a tenth of a millisecond at 1080p sizes, holding the GIL the loop needs)."""
        key = (text, int(size), bold)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.font(size, bold).get_rect(_nfc(text)).width
            self.measured += 1
            if len(self._widths) > 4 * self._cache_size:
                self._widths.pop(next(iter(self._widths)))  # the oldest: counts that have moved on
        return width

    def line_height(self, size: int, bold: bool = False) -> int:
        return self.font(size, bold).get_sized_height()

    def lines(self, text: str, size: int, colour: tuple, bold: bool = False, width: int = 0,
              bg: tuple | None = None, like: Any = None) -> list:
        """``text`` as one surface per line, word-wrapped to ``width`` pixels (0 = no wrap).

        With ``bg`` (the colour it will lie on) and ``like`` (the surface it will be blitted
        to) the lines are opaque and in that surface's pixel format: a plain copy to blit,
        some fifty times faster than blending an anti-aliased alpha surface.
        """
        key = (text, int(size), colour, bold, width, bg)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        font = self.font(size, bold)
        rendered = []
        for line in self._wrap(_nfc(text), font, width):
            surface = font.render(line, colour, bg)[0] if bg is not None else font.render(line, colour)[0]
            if bg is not None and like is not None and self._display.get_init():  # convert needs SDL video
                surface = surface.convert(like)
            rendered.append(surface)
        self._cache[key] = rendered
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rendered

    @staticmethod
    def _wrap(text: str, font: Any, width: int) -> list[str]:
        if not width:
            return [text]
        out: list[str] = []
        line = ""
        for word in text.split():
            trial = f"{line} {word}" if line else word
            if not line or font.get_rect(trial).width <= width:
                line = trial
            else:
                out.append(line)
                line = word
        out.append(line)
        return out


_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def _ring(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """The four strips of ``outer`` around ``inner`` (which lies inside it), as rectangles."""
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return [(ox, oy, ow, iy - oy), (ox, iy + ih, ow, oy + oh - iy - ih),
            (ox, iy, ix - ox, ih), (ix + iw, iy, ox + ow - ix - iw, ih)]


def _write_pixels(surface: Any, image: Any, x: int, y: int) -> bool:
    """Write a greyscale or BGR ``image`` straight into a 32-bit ``surface`` at (x, y) with
    OpenCV; False (nothing written) when the surface's pixel format is not one it can write.

    The preview is the one large picture drawn every frame. Through pygame it is wrapped in a
    surface and blitted, and SDL's blit holds the GIL the loop needs for the whole copy; here
    ``cv2.cvtColor`` converts into the surface's own pixels, with the GIL released.
    """
    import sys

    import cv2
    import numpy as np

    order = _byte_order(surface) if sys.byteorder == "little" else None
    if order is None or image.dtype != np.uint8 or not (image.ndim == 2 or image.shape[2:] == (3,)):
        return False
    if image.ndim == 2:
        code = cv2.COLOR_GRAY2BGRA  # grey is the same in either byte order
    else:
        code = cv2.COLOR_BGR2BGRA if order == "BGRA" else cv2.COLOR_BGR2RGBA
    h, w = image.shape[:2]
    buffer = surface.get_buffer()  # locks the surface until released below
    rows = None
    try:
        rows = np.frombuffer(buffer, np.uint8).reshape(surface.get_height(), surface.get_pitch())
        cv2.cvtColor(image, code, dst=rows[y:y + h, 4 * x:4 * (x + w)].reshape(h, w, 4))
    finally:
        del rows, buffer
    return True


def _byte_order(surface: Any) -> str | None:
    """"BGRA" or "RGBA": the order of a 32-bit surface's bytes in memory (little-endian)."""
    if surface.get_bytesize() != 4:
        return None
    r, g, b, _a = surface.get_masks()
    if (r, g, b) == (0xFF0000, 0xFF00, 0xFF):
        return "BGRA"
    if (r, g, b) == (0xFF, 0xFF00, 0xFF0000):
        return "RGBA"
    return None


def _decision_key(view: View) -> tuple:
    return (view.decision_id, view.state, view.reason, view.message_vi, view.message_en, view.masked_name)


def _nfc(text: str) -> str:
    # precomposed letters: one glyph each, no reliance on the font's mark positioning
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------- painting


@dataclass
class _Block:
    text: str
    size: float  # in layout units (scaled by height / 480)
    colour: tuple
    bold: bool = False
    gap: float = 0.0  # space above, in layout units


class Painter:
    """Draws a :class:`View` onto a surface. Needs no display, so tests and screenshots use it.

    Static layers (header, instructions, cards, error screens) are drawn once into cached
    surfaces; per frame only the preview, the outline, the countdown and the status bar change.
    """

    def __init__(self, size: tuple[int, int], venue: str, text: Text, mirror: bool = True, layers: int = 4):
        self.w, self.h = size
        self.s = self.h / 480.0
        self.venue = venue
        self.text = text
        self.mirror = mirror  # the preview as a mirror: move the phone left, it moves left
        self._layers: OrderedDict[tuple, Any] = OrderedDict()
        self._max_layers = layers  # a 1080p layer is 8 MB; a Zero 2 W has 512 MB
        self._status_key: tuple | None = None
        self._status_surface: Any = None
        self._shown: tuple | None = None  # (surface, layer key, scene) last painted
        self._card_lines: list = []  # where the shown card's own text lies (pygame.Rect)
        self._grey_palette = [(i, i, i) for i in range(256)]
        self.header_h = round(56 * self.s)
        self.status_h = round(34 * self.s)
        pad = self.pad = round(14 * self.s)
        main_h = self.h - self.header_h - self.status_h
        ph = main_h - 2 * pad
        pw = min(round(ph * 4 / 3), round(self.w * 0.6))
        self.preview_rect = (pad, self.header_h + pad, pw, ph)

    def prepare(self, surface: Any) -> None:
        """Draw the idle screen and both result cards once, before the first visitor.

        A 1080p layer takes ten milliseconds or more to draw the first time (a Pi takes longer):
        done here, at start-up, the first visitor's card is not late and the loop never shares
        the processor with it. The next :meth:`paint` draws the whole surface again.
        """
        for state in ("pass", "fail", "idle"):
            self.paint(surface, View(state=state))
        self._shown = None

    def u(self, units: float) -> int:
        """Layout units to pixels."""
        return max(1, round(units * self.s))

    # -- the frame ---------------------------------------------------------------------------

    def paint(self, surface: Any, view: View, *, card_left: float = 1.0, clock_text: str = "") -> list | None:
        """Draw ``view`` on ``surface``; ``card_left`` is the share of a result card's time left.

        Returns the rectangles that changed, or None when the whole surface did: when the same
        layer is already on the surface only the preview, the countdown and a changed status bar
        are drawn again, which keeps a 1080p frame to about a millisecond; a new decision on a
        card of the colour already shown redraws only the card's text, not the whole screen.
        """
        state = view.state
        venue = view.venue or self.venue
        if state in RESULT_STATES:
            # one cached background per colour; the decision's text is drawn once, when it comes
            key = ("card", state, venue)
            layer = self._layer(key, lambda s: self._draw_card_base(s, state, venue), surface)
            scene = key + (view.reason, view.message_vi, view.message_en, view.masked_name)
        elif state in ERROR_TEXT:
            key = scene = ("error", state, venue)
            layer = self._layer(key, lambda s: self._draw_error(s, state, venue), surface)
        else:
            key = scene = ("idle", venue)
            layer = self._layer(key, lambda s: self._draw_idle(s, venue), surface)
        full = self._shown is None or self._shown[0] is not surface or self._shown[1] != key
        new_scene = full or self._shown[2] != scene
        self._shown = (surface, key, scene)
        rects: list = []
        if full:
            surface.blit(layer, (0, 0))
        if state in RESULT_STATES and new_scene:
            surface.set_clip(self._card_text_rect())
            try:
                if not full:  # wipe the last decision's text: its lines, not the whole card
                    for line in self._card_lines:
                        surface.blit(layer, line, area=line)
                    rects += self._card_lines
                self._card_lines = [r for r in self._draw_card_text(surface, view) if r.w and r.h]
                if not full:
                    rects += self._card_lines
            finally:
                surface.set_clip(None)
        if state in RESULT_STATES:
            rects.append(self._draw_countdown(surface, state, card_left))
        elif state not in ERROR_TEXT:
            margin = self.u(4)
            px, py, pw, ph = self.preview_rect
            box = (px - margin, py - margin, pw + 2 * margin, ph + 2 * margin)
            if not full:
                # wipe the last outline where it overhung the preview; the new preview covers
                # the rest (wiping the whole box first doubled the pixels copied per frame)
                for strip in _ring(box, self.preview_rect):
                    surface.blit(layer, strip[:2], area=strip)
            surface.set_clip(box)  # an outline never strays beyond what the next frame wipes
            try:
                self._draw_preview(surface, view.frame, view.outline)
            finally:
                surface.set_clip(None)
            rects.append(box)
        bar, changed = self._status(view.status, clock_text, surface)
        if full or changed:
            status_rect = (0, self.h - self.status_h, self.w, self.status_h)
            surface.blit(bar, status_rect[:2])
            rects.append(status_rect)
        return None if full else rects

    def _layer(self, key: tuple, draw: Callable[[Any], None], like: Any) -> Any:
        import pygame

        layer = self._layers.get(key)
        if layer is None:
            layer = pygame.Surface((self.w, self.h), 0, like)
            draw(layer)
            self._layers[key] = layer
            if len(self._layers) > self._max_layers:
                self._layers.popitem(last=False)
        else:
            self._layers.move_to_end(key)
        return layer

    # -- header and text blocks --------------------------------------------------------------

    def _draw_header(self, surface: Any, venue: str, colour: tuple = HEADER) -> None:
        import pygame

        surface.fill(colour, (0, 0, self.w, self.header_h))
        size = self.u(26)
        text = venue
        while size > self.u(14) and self.text.width(text, size, True) > self.w - 2 * self.pad:
            size -= 1
        line = self.text.lines(text, size, WHITE, bold=True, bg=colour, like=surface)[0]
        surface.blit(line, (self.pad, (self.header_h - line.get_height()) // 2))
        edge = tuple(min(255, c + 27) for c in colour)
        pygame.draw.line(surface, edge, (0, self.header_h - 1), (self.w, self.header_h - 1), self.u(1))

    def _draw_blocks(self, surface: Any, blocks: list[_Block], x: int, y: int, width: int, height: int,
                     bg: tuple, centre: bool = True) -> list:
        """Lay out text blocks in a box, shrinking them all alike until they fit; returns the
        rectangles drawn (clipped to the surface's clip)."""
        scale = 1.0
        while True:
            rendered = []
            total = 0
            for b in blocks:
                lines = self.text.lines(b.text, self.u(b.size * scale), b.colour, b.bold, width, bg, surface)
                gap = self.u(b.gap * scale) if rendered else 0
                widest = max(line.get_width() for line in lines)
                total += gap + sum(line.get_height() for line in lines)
                rendered.append((gap, lines, widest))
            too_wide = any(widest > width for _g, _l, widest in rendered)
            if (total <= height and not too_wide) or scale < 0.45:
                break
            scale *= 0.9
        top = y + max(0, (height - total) // 2) if centre else y
        drawn = []
        for gap, lines, _widest in rendered:
            top += gap
            for line in lines:
                drawn.append(surface.blit(line, (x, top)))
                top += line.get_height()
        return drawn

    # -- idle --------------------------------------------------------------------------------

    def _draw_idle(self, surface: Any, venue: str) -> None:
        import pygame

        surface.fill(INK)
        self._draw_header(surface, venue)
        px, py, pw, ph = self.preview_rect
        pygame.draw.rect(surface, PANEL, (px - self.u(3), py - self.u(3), pw + self.u(6), ph + self.u(6)),
                         border_radius=self.u(8))
        x = px + pw + 2 * self.pad
        width = self.w - x - self.pad
        main_top = self.header_h + self.pad
        main_h = self.h - self.header_h - self.status_h - 2 * self.pad
        icon = self.u(96)
        self._draw_phone_icon(surface, x + width // 2 - icon // 4, main_top + self.u(8), icon)
        text_top = main_top + icon + self.u(24)
        self._draw_blocks(surface, [
            _Block(IDLE_VI, 34, WHITE, bold=True),
            _Block(IDLE_EN, 22, MUTED, gap=12),
        ], x, text_top, width, main_top + main_h - text_top, INK, centre=False)

    def _draw_phone_icon(self, surface: Any, x: int, y: int, height: int) -> None:
        """A phone showing a QR code: what to hold up, understood without reading."""
        import pygame

        w = height // 2
        pygame.draw.rect(surface, WHITE, (x, y, w, height), width=self.u(3), border_radius=self.u(8))
        q = int(w * 0.7)
        qx, qy = x + (w - q) // 2, y + (height - q) // 2
        surface.fill(WHITE, (qx, qy, q, q))
        cell = max(1, q // 7)
        for fx, fy in ((0, 0), (4, 0), (0, 4)):  # the three finder patterns
            surface.fill(INK, (qx + fx * cell, qy + fy * cell, 3 * cell, 3 * cell))
            surface.fill(WHITE, (qx + fx * cell + cell // 2, qy + fy * cell + cell // 2, 2 * cell, 2 * cell))
            surface.fill(INK, (qx + fx * cell + cell, qy + fy * cell + cell, cell, cell))
        surface.fill(INK, (qx + 4 * cell, qy + 4 * cell, cell, cell))
        surface.fill(INK, (qx + 5 * cell + cell // 2, qy + 5 * cell, cell, cell))

    def _draw_preview(self, surface: Any, frame: Any, outline: tuple) -> None:
        import pygame

        px, py, pw, ph = self.preview_rect
        if frame is None:
            surface.fill(PANEL, self.preview_rect)
            self._draw_blocks(surface, [_Block("Đang chờ hình từ camera…", 18, MUTED),
                                        _Block("Waiting for the camera…", 14, MUTED, gap=4)],
                              px + self.pad, py, pw - 2 * self.pad, ph, PANEL)
            return
        import cv2
        import numpy as np

        fh, fw = frame.shape[:2]
        scale = min(pw / fw, ph / fh)
        tw, th = max(1, int(fw * scale)), max(1, int(fh * scale))
        small = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_LINEAR)
        if self.mirror:
            small = cv2.flip(small, 1)
        ox, oy = px + (pw - tw) // 2, py + (ph - th) // 2
        for bar in _ring(self.preview_rect, (ox, oy, tw, th)):  # black bars where the aspects differ
            if bar[2] > 0 and bar[3] > 0:
                surface.fill((0, 0, 0), bar)
        if not _write_pixels(surface, small, ox, oy):
            small = np.ascontiguousarray(small)
            if small.ndim == 2:  # 8-bit with a grey palette: SDL expands it in the blit
                image = pygame.image.frombuffer(small.data, (tw, th), "P")
                image.set_palette(self._grey_palette)
            else:
                image = pygame.image.frombuffer(small.data, (tw, th), "BGR")
            surface.blit(image, (ox, oy))
        if len(outline) >= 3:
            pts = [((fw - x if self.mirror else x) * scale + ox, y * scale + oy) for x, y in outline]
            pygame.draw.lines(surface, OUTLINE, True, pts, self.u(4))

    # -- result card -------------------------------------------------------------------------

    def _card_geometry(self) -> tuple[int, int, int, int, int]:
        """(icon centre x, centre y, radius, text x, text width) of a result card."""
        height = self.h - self.header_h - self.status_h
        diameter = min(int(height * 0.62), int(self.w * 0.3))
        cx = self.pad * 2 + diameter // 2
        x = cx + diameter // 2 + self.pad * 2
        return cx, self.header_h + height // 2, diameter // 2, x, self.w - x - self.pad * 2

    def _card_text_rect(self) -> tuple[int, int, int, int]:
        """Where a card's own text goes: right of the tick or cross, between header and status bar."""
        _cx, _cy, _r, x, _width = self._card_geometry()
        return (x, self.header_h, self.w - x, self.h - self.header_h - self.status_h)

    def _draw_card_base(self, surface: Any, state: str, venue: str) -> None:
        """What every pass (or fail) card shares; the decision's own text is drawn over it."""
        colour = GREEN if state == "pass" else RED
        surface.fill(colour)
        self._draw_header(surface, venue, tuple(int(c * 0.7) for c in colour))
        cx, cy, radius, _x, _width = self._card_geometry()
        draw_tick_or_cross(surface, state == "pass", (cx, cy), radius, colour)

    def _draw_card_text(self, surface: Any, view: View) -> list:
        _cx, _cy, _r, x, width = self._card_geometry()
        title_vi, title_en = CARD_TITLE[view.state]
        reason = reason_message(view.reason) if view.reason else None
        msg_vi = view.message_vi or (reason.vi if reason else "")
        msg_en = view.message_en or (reason.en if reason else "")
        blocks = [_Block(title_vi, 44, WHITE, bold=True), _Block(title_en, 24, WHITE, gap=2)]
        if msg_vi and _nfc(msg_vi).casefold() != _nfc(title_vi).casefold():
            blocks += [_Block(msg_vi, 30, WHITE, bold=True, gap=18), _Block(msg_en, 21, WHITE, gap=4)]
        if view.masked_name:
            blocks.append(_Block(view.masked_name, 30, WHITE, bold=True, gap=22))
        height = self.h - self.header_h - self.status_h
        return self._draw_blocks(surface, blocks, x, self.header_h + self.pad, width,
                                 height - 2 * self.pad - self.u(10), GREEN if view.state == "pass" else RED)

    def _draw_countdown(self, surface: Any, state: str, left: float) -> tuple[int, int, int, int]:
        """A bar that shrinks while the card is shown: the visitor sees the screen is alive."""
        bar_h = self.u(8)
        y = self.h - self.status_h - bar_h
        dark = tuple(int(c * 0.7) for c in (GREEN if state == "pass" else RED))
        surface.fill(dark, (0, y, self.w, bar_h))
        surface.fill(WHITE, (0, y, int(self.w * max(0.0, min(1.0, left))), bar_h))
        return (0, y, self.w, bar_h)

    # -- error screens -----------------------------------------------------------------------

    def _draw_error(self, surface: Any, state: str, venue: str) -> None:
        title_vi, title_en, hint_vi, hint_en = ERROR_TEXT[state]
        surface.fill(INK)
        self._draw_header(surface, venue)
        top = self.header_h
        height = self.h - self.header_h - self.status_h
        size = min(int(height * 0.5), int(self.w * 0.26))
        cx = self.pad * 2 + size // 2
        draw_warning(surface, (cx, top + height // 2), size)
        x = cx + size // 2 + self.pad * 2
        self._draw_blocks(surface, [
            _Block(title_vi, 38, AMBER, bold=True),
            _Block(title_en, 24, AMBER, gap=2),
            _Block(hint_vi, 24, WHITE, bold=True, gap=22),
            _Block(hint_en, 19, MUTED, gap=4),
        ], x, top + self.pad, self.w - x - 2 * self.pad, height - 2 * self.pad, INK)

    # -- status bar --------------------------------------------------------------------------

    def _status(self, status: StatusBar, clock_text: str, like: Any) -> tuple[Any, bool]:
        key = (status, clock_text)
        if key == self._status_key:
            return self._status_surface, False
        self._status_surface = self._draw_status(status, clock_text, like)
        self._status_key = key
        return self._status_surface, True

    def _status_size(self, labels: list[str], room: int) -> tuple[int, bool]:
        """The largest type size, from u(14) down to u(9), at which ``labels`` fit in ``room``
        pixels, and whether they fit at all.

        Text width grows in proportion to its size, so one measurement at the largest size
        points at the answer and two or three more confirm it: the bar is redrawn whenever a
        count in it changes, and trying every size in turn cost a dozen FreeType layouts per
        label, some ten milliseconds a redraw at 1080p. Digits are measured as zeros (the
        fonts' digits are all one width), so a count going from 7 to 8 reuses the measurements
        and the type does not change size under it.
        """
        labels = [t.translate(_DIGITS_AS_ZERO) for t in labels]
        largest, smallest = self.u(14), self.u(9)

        def fits(size: int) -> bool:
            return sum(self.text.width(t, size) for t in labels) <= room

        widest = sum(self.text.width(t, largest) for t in labels)
        if widest <= room:
            return largest, True
        size = max(smallest, min(largest - 1, int(largest * room / max(1, widest))))
        while size < largest - 1 and fits(size + 1):  # the estimate was a little low
            size += 1
        while size > smallest and not fits(size):  # or a little high
            size -= 1
        return size, fits(size)

    def _draw_status(self, status: StatusBar, clock_text: str, like: Any) -> Any:
        import pygame

        bar = pygame.Surface((self.w, self.status_h), 0, like)
        bar.fill(STATUS_BG)
        items = status_items(status)
        dot = self.u(5)
        gap = self.u(16)
        clock_w = 0
        size = self.u(14)
        if clock_text:
            clock_w = self.text.width(clock_text, size, True) + self.pad
        room = self.w - 2 * self.pad - clock_w
        # bilingual if it fits, else Vietnamese only, then smaller type
        for bilingual in (True, False):
            labels = [vi + (" · " + en if bilingual and en else "") for _c, vi, en in items]
            size, fits = self._status_size(labels, room - len(labels) * (3 * dot + gap))
            if fits:
                break
        x = self.pad
        mid = self.status_h // 2
        for (colour, _vi, _en), label in zip(items, labels):
            pygame.draw.circle(bar, colour, (x + dot, mid), dot)
            x += 3 * dot
            line = self.text.lines(label, size, WHITE, bg=STATUS_BG, like=bar)[0]
            bar.blit(line, (x, mid - line.get_height() // 2))
            x += line.get_width() + gap
        if clock_text:
            line = self.text.lines(clock_text, self.u(14), WHITE, bold=True, bg=STATUS_BG, like=bar)[0]
            bar.blit(line, (self.w - self.pad - line.get_width(), mid - line.get_height() // 2))
        return bar


def status_items(status: StatusBar) -> list[tuple[tuple[int, int, int], str, str]]:
    """The status bar's items as (dot colour, Vietnamese, English), in display order."""
    items = []
    if status.online is None:
        items.append((GREY, "Không đồng bộ", "sync off"))
    elif status.online:
        items.append((GREEN, "Trực tuyến", "online"))
    else:
        items.append((RED, "Mất mạng", "offline"))
    if status.undelivered:
        colour = AMBER if status.online is not False else RED
        items.append((colour, f"Chưa gửi: {status.undelivered}", f"unsent: {status.undelivered}"))
    else:
        items.append((GREEN, "Đã gửi hết", "all sent"))
    if status.clock_synchronised:
        items.append((GREEN, "Giờ chuẩn", "clock synced"))
    else:
        items.append((RED, "Giờ chưa đồng bộ", "clock not synced"))
    age = status.trust_age_hours
    if age is None:
        items.append((RED, "Chưa có khóa tin cậy", "no trust list"))
    else:
        vi, en = _age(age)
        colour = GREEN if age < 24 else AMBER if age < 24 * 7 else RED
        items.append((colour, f"Khóa tin cậy: {vi}", f"trust list {en}"))
    if status.camera_ok:
        items.append((GREEN, "Camera tốt", "camera OK"))
    else:
        items.append((RED, "Mất camera", "camera lost"))
    if status.disk_alarm:
        items.append((RED, "Đĩa đầy", "disk full"))
    return items


def _age(hours: float) -> tuple[str, str]:
    if hours < 1:
        return "mới", "fresh"
    if hours < 48:
        return f"{int(hours)} giờ", f"{int(hours)} h old"
    return f"{int(hours // 24)} ngày", f"{int(hours // 24)} days old"


def draw_tick_or_cross(surface: Any, tick: bool, centre: tuple[int, int], radius: int, ink: tuple) -> None:
    """A white disc with a thick tick or cross in ``ink``, drawn from polygons (no font)."""
    from pygame import gfxdraw

    cx, cy = centre
    gfxdraw.filled_circle(surface, cx, cy, radius, WHITE)
    gfxdraw.aacircle(surface, cx, cy, radius, WHITE)
    r = radius
    thick = r * 0.22
    if tick:
        strokes = [((-0.52, 0.02), (-0.15, 0.40)), ((-0.15, 0.40), (0.55, -0.38))]
    else:
        strokes = [((-0.45, -0.45), (0.45, 0.45)), ((-0.45, 0.45), (0.45, -0.45))]
    for (x1, y1), (x2, y2) in strokes:
        poly = _thick_segment((cx + x1 * r, cy + y1 * r), (cx + x2 * r, cy + y2 * r), thick)
        gfxdraw.aapolygon(surface, poly, ink)
        gfxdraw.filled_polygon(surface, poly, ink)
        for x, y in ((x1, y1), (x2, y2)):  # round caps and joint
            gfxdraw.aacircle(surface, int(cx + x * r), int(cy + y * r), int(thick / 2), ink)
            gfxdraw.filled_circle(surface, int(cx + x * r), int(cy + y * r), int(thick / 2), ink)


def draw_warning(surface: Any, centre: tuple[int, int], size: int) -> None:
    """An amber warning triangle with an exclamation mark, drawn from polygons (no font)."""
    from pygame import gfxdraw

    cx, cy = centre
    half = size / 2
    h = size * math.sqrt(3) / 2
    tri = [(cx, cy - h / 2), (cx + half, cy + h / 2), (cx - half, cy + h / 2)]
    tri = [(int(x), int(y)) for x, y in tri]
    gfxdraw.aapolygon(surface, tri, AMBER)
    gfxdraw.filled_polygon(surface, tri, AMBER)
    bar_w = size * 0.09
    top, bottom = cy - h * 0.18, cy + h * 0.2
    poly = _thick_segment((cx, top), (cx, bottom), bar_w)
    gfxdraw.filled_polygon(surface, poly, INK)
    gfxdraw.filled_circle(surface, int(cx), int(cy + h * 0.32), int(bar_w * 0.65), INK)


def _thick_segment(a: tuple[float, float], b: tuple[float, float], thick: float) -> list[tuple[int, int]]:
    (x1, y1), (x2, y2) = a, b
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    nx, ny = -(y2 - y1) / length * thick / 2, (x2 - x1) / length * thick / 2
    return [(round(x1 + nx), round(y1 + ny)), (round(x2 + nx), round(y2 + ny)),
            (round(x2 - nx), round(y2 - ny)), (round(x1 - nx), round(y1 - ny))]


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
        self.section = section
        self.venue = venue
        self.result_seconds = float(section.result_seconds)
        self.max_fps = max_fps
        self._clock = clock
        self._wall_clock = wall_clock
        self._owns_speaker = speaker is None
        if speaker is None and getattr(section, "sound", False):
            from kiosk.sounds import open_speaker

            speaker = open_speaker()
        self._speaker = speaker  # kiosk.sounds.Speaker or None
        self._lock = threading.Lock()
        self._base = View(state="idle", venue=venue)
        self._card: View | None = None
        self._card_since = 0.0
        self._decision: tuple = ()
        self._between_decisions = True
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
        new_decision = False
        with self._lock:
            if view.state in RESULT_STATES:
                key = _decision_key(view)
                # the loop may repeat a decision's view on every frame while it holds it: only a
                # different decision, or one after a non-decision view, restarts the card
                new_decision = self._between_decisions or key != self._decision
                self._decision = key
                self._between_decisions = False
                if new_decision:
                    self._card_since = now
                self._card = view
                # the live parts carry on underneath, for when the card ends
                self._base = dataclasses.replace(self._base, frame=view.frame, outline=view.outline,
                                                 status=view.status)
            else:
                self._between_decisions = True
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
