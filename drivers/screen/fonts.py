"""Fonts with the Vietnamese glyphs, and text rendered once and cached."""

from __future__ import annotations

import logging
import os
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("kiosk.screen")

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
            width = self._widths[key] = self.font(size, bold).get_rect(nfc(text)).width
            self.measured += 1
            if len(self._widths) > 4 * self._cache_size:
                self._widths.pop(next(iter(self._widths)))  # the oldest: counts that have moved on
        return width

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
        for line in self._wrap(nfc(text), font, width):
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


def nfc(text: str) -> str:
    # precomposed letters: one glyph each, no reliance on the font's mark positioning
    return unicodedata.normalize("NFC", text)
