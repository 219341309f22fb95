"""Finding QR finder patterns that zxing-cpp's own detector misses, and rectifying the code they frame.

zxing-cpp looks for the 1:1:3:1:1 run ratio across a finder pattern, which needs a light quiet zone
around the code. A code shown edge to edge on a phone in dark mode, cropped by an app's frame, or
printed without a margin has none: the finder's outer dark ring merges with whatever lies beyond.
This module looks for the inner structure instead, which survives: a filled dark 3x3-module core
inside a light ring inside a dark ring (or, light-on-dark, a dark ring around a light core). One
connected-components pass over a binarised frame finds both polarities.

Three finders of one size and roughly at the corners of a right isosceles triangle give the code's
geometry; :func:`rectify` warps that square onto a clean canvas with a synthetic quiet zone, at a
comfortable number of pixels per module, which zxing-cpp then reads easily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

# more candidates than this means the frame is texture, not a code: give up rather than spend time
MAX_CANDIDATES = 40


@dataclass(frozen=True)
class Finder:
    x: float  # centre, pixels
    y: float
    module: float  # module size, pixels
    inverted: bool  # light-on-dark


@dataclass(frozen=True)
class Triple:
    """Three finders of one code: the corner one (top-left in the code's frame) and its two neighbours."""

    corner: Finder
    right: Finder  # top-right in the code's own frame
    down: Finder  # bottom-left in the code's own frame
    modules: int  # modules per side (17 + 4 * version)

    @property
    def inverted(self) -> bool:
        return self.corner.inverted


def _sample(binary: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Binary values at (xs, ys), rounded and clipped to the frame; out-of-frame counts as unknown (-1)."""
    h, w = binary.shape
    xi = np.rint(xs).astype(np.int64)
    yi = np.rint(ys).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.full(xi.shape, -1, np.int16)
    out[inside] = binary[yi[inside], xi[inside]]
    return out


def find_finders(gray: np.ndarray) -> list[Finder]:
    """Finder-pattern candidates of either polarity in a greyscale frame, without needing a quiet zone.

    Cheap enough to run on every frame the plain decode could not read, most of which hold no code:
    the frame is binarised with one global threshold, then

    - connected components on every other pixel of every other row: subsampling a binary image
      keeps at least one pixel of every module two or more pixels wide, so every finder of that size
      keeps its rings, at a quarter of the cost;
    - for pixel-exact codes of one pixel per module, which subsampling loses, a morphological test
      at full size (counts of dark pixels in 3x3, 5x5 and 7x7 boxes).
    """
    import cv2

    h, w = gray.shape[:2]
    if h < 9 or w < 9:
        return []
    threshold, _ = cv2.threshold(np.ascontiguousarray(gray[::2, ::2]), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = cv2.compare(gray, threshold, cv2.CMP_LE)  # 255 where dark
    found = [
        Finder(f.x * 2.0, f.y * 2.0, f.module * 2.0, f.inverted)
        for f in _components(np.ascontiguousarray(dark[::2, ::2]))
    ]
    found += _pixel_exact(dark)
    return found if len(found) <= MAX_CANDIDATES else []  # more is texture, not a code


def _components(dark: np.ndarray) -> list[Finder]:
    """Finders by their inner structure (core, ring, ring) in a binary image, 255 where dark."""
    import cv2

    count, _, stats, centroids = cv2.connectedComponentsWithStats(dark, connectivity=8, ltype=cv2.CV_32S)
    if count <= 1:
        return []
    stats = stats[1:]
    centroids = centroids[1:]
    w = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64)
    h = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    square = (w < 1.5 * h + 1) & (h < 1.5 * w + 1)
    binary = (dark > 0).astype(np.int16)
    found: list[Finder] = []
    # dark-on-light: a filled dark core, 3 modules wide; light 2 modules out; dark 3 modules out
    core = square & (w >= 3) & (area >= 0.7 * w * h)
    found += _confirm(binary, centroids[core], (w[core] + h[core]) / 6.0, inverted=False)
    # light-on-dark: a dark ring 5 modules wide with a light centre; light 3 modules out
    ring = square & (w >= 5) & (area >= 0.45 * w * h) & (area <= 0.8 * w * h)
    found += _confirm(binary, centroids[ring], (w[ring] + h[ring]) / 10.0, inverted=True)
    return found


def _pixel_exact(dark: np.ndarray) -> list[Finder]:
    """Finders of exactly one pixel per module, by counting dark pixels in the 5x5, 3x3 and 7x7 boxes
    around each pixel: 9, 9, 33 at a dark-on-light finder's centre; 16, 0, 16 at a light-on-dark one's."""
    import cv2

    ones = cv2.threshold(dark, 0, 1, cv2.THRESH_BINARY)[1]

    def box(k: int) -> np.ndarray:
        return cv2.boxFilter(ones, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)

    s5 = box(5)
    hits = {False: cv2.compare(s5, 9, cv2.CMP_EQ), True: cv2.compare(s5, 16, cv2.CMP_EQ)}
    if not any(cv2.countNonZero(h) for h in hits.values()):
        return []
    s3, s7 = box(3), box(7)
    found: list[Finder] = []
    for inverted, (n3, n7) in ((False, (9, 33)), (True, (0, 16))):
        h = cv2.bitwise_and(hits[inverted], cv2.compare(s3, n3, cv2.CMP_EQ))
        h = cv2.bitwise_and(h, cv2.compare(s7, n7, cv2.CMP_EQ))
        n = cv2.countNonZero(h)
        if n > MAX_CANDIDATES:
            return []
        if n:
            found += [Finder(float(x), float(y), 1.0, inverted) for x, y in cv2.findNonZero(h).reshape(-1, 2)]
    return found


def _confirm(binary: np.ndarray, centres: np.ndarray, module: np.ndarray, inverted: bool) -> list[Finder]:
    """Keep the candidates whose surroundings alternate as a finder pattern's rings do."""
    if len(centres) == 0:
        return []
    cx = centres[:, 0][:, None]
    cy = centres[:, 1][:, None]
    u = module[:, None]
    dirs = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], np.float64)
    dx = dirs[:, 0][None, :]
    dy = dirs[:, 1][None, :]
    centre_dark = 0 if inverted else 1
    at0 = _sample(binary, cx[:, 0], cy[:, 0])
    at2 = _sample(binary, cx + 2 * u * dx, cy + 2 * u * dy)  # the ring between core and outer ring
    at3 = _sample(binary, cx + 3 * u * dx, cy + 3 * u * dy)  # the outer ring
    ok = (
        (at0 == centre_dark)
        & np.all(at2 == 1 - centre_dark, axis=1)
        & np.all(at3 == centre_dark, axis=1)
    )
    idx = np.nonzero(ok)[0]
    return [Finder(float(centres[i, 0]), float(centres[i, 1]), float(module[i]), inverted) for i in idx]


def group(finders: list[Finder], limit: int = 4) -> list[Triple]:
    """Triples of same-polarity, similar-size finders at the corners of a plausible QR code, best first."""
    scored: list[tuple[float, Triple]] = []
    for a, b, c in combinations(finders, 3):
        if not (a.inverted == b.inverted == c.inverted):
            continue
        sizes = (a.module, b.module, c.module)
        if max(sizes) > 1.6 * min(sizes):
            continue
        triple = _as_triple(a, b, c)
        if triple is not None:
            scored.append(triple)
    scored.sort(key=lambda st: st[0])
    return [t for _, t in scored[:limit]]


def _as_triple(a: Finder, b: Finder, c: Finder) -> tuple[float, Triple] | None:
    pts = [a, b, c]
    # the corner finder is the one opposite the longest side
    d = [math.dist((p.x, p.y), (q.x, q.y)) for p, q in ((b, c), (a, c), (a, b))]
    k = max(range(3), key=lambda i: d[i])
    corner = pts[k]
    p, q = [pts[i] for i in range(3) if i != k]
    v1 = (p.x - corner.x, p.y - corner.y)
    v2 = (q.x - corner.x, q.y - corner.y)
    l1, l2 = math.hypot(*v1), math.hypot(*v2)
    if l1 == 0 or l2 == 0:
        return None
    module = (a.module + b.module + c.module) / 3.0
    if min(l1, l2) < 7 * module or max(l1, l2) > 1.5 * min(l1, l2):
        return None  # finders overlap, or far too skewed to be one code
    cos = (v1[0] * v2[0] + v1[1] * v2[1]) / (l1 * l2)
    if abs(cos) > 0.35:  # about 70..110 degrees: perspective allowed, not a random triangle
        return None
    cross = v1[0] * v2[1] - v1[1] * v2[0]
    right, down = (p, q) if cross > 0 else (q, p)
    span = (l1 + l2) / 2.0 / module  # finder centre to finder centre, in modules
    version = max(1, min(40, round((span + 7 - 17) / 4.0)))
    modules = 17 + 4 * version
    # prefer triples whose span fits a QR version and whose sides agree
    misfit = abs(span + 7 - modules) / modules + abs(l1 - l2) / max(l1, l2) + abs(cos)
    return misfit, Triple(corner, right, down, modules)


def rectify(gray: np.ndarray, triple: Triple, px_per_module: int = 4, quiet: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The code framed by ``triple``, warped upright onto a light canvas with a ``quiet``-module margin,
    and the 2x3 affine matrix from frame to canvas.

    Dark-on-light always: a light-on-dark code is inverted, so the reader need not guess. Everything
    outside the code's square is painted light, which restores the quiet zone the frame lacked.
    """
    import cv2

    n = triple.modules
    s = float(px_per_module)
    src = np.float32([[f.x, f.y] for f in (triple.corner, triple.right, triple.down)])
    lo = (quiet + 3.5) * s
    hi = (quiet + n - 3.5) * s
    dst = np.float32([[lo, lo], [hi, lo], [lo, hi]])
    matrix = cv2.getAffineTransform(src, dst)
    size = int((n + 2 * quiet) * s)
    image = gray if not triple.inverted else cv2.bitwise_not(gray)
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=255)
    a, b = int(round(quiet * s)), int(round((quiet + n) * s))
    warped[:a, :] = 255
    warped[b:, :] = 255
    warped[:, :a] = 255
    warped[:, b:] = 255
    return warped, matrix
