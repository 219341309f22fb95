"""Draws a view onto a surface: layers cached, per frame only what changed."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.screen.colours import AMBER, GREEN, HEADER, INK, MUTED, OUTLINE, PANEL, RED, STATUS_BG, WHITE
from drivers.screen.fonts import Text, nfc
from drivers.screen.icons import draw_tick_or_cross, draw_warning
from drivers.screen.texts import CARD_TITLE, ERROR_TEXT, IDLE_EN, IDLE_VI, status_items
from kiosk.ports import StatusBar, View

RESULT_STATES = ("pass", "fail")

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
        msg_vi, msg_en = view.message_vi, view.message_en  # the view carries the reason's words
        blocks = [_Block(title_vi, 44, WHITE, bold=True), _Block(title_en, 24, WHITE, gap=2)]
        if msg_vi and nfc(msg_vi).casefold() != nfc(title_vi).casefold():
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
