"""Shapes drawn from polygons, not font glyphs: a colour-blind visitor and a missing font still
get the answer."""

from __future__ import annotations

import math
from typing import Any

from drivers.screen.colours import AMBER, INK, WHITE

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
