"""Finding QR finder patterns that zxing-cpp's own detector misses, and rectifying the code they frame.

zxing-cpp looks for the 1:1:3:1:1 run ratio across a finder pattern, which needs a light quiet zone
around the code. A code shown edge to edge on a phone in dark mode, cropped by an app's frame, or
printed without a margin has none: the finder's outer dark ring merges with whatever lies beyond.
This module looks for the inner structure instead, which survives: a filled dark 3x3-module core
inside a light ring inside a dark ring (or, light-on-dark, a dark ring around a light core). One
connected-components pass over a binarised, subsampled frame finds both polarities; a row scan finds
the finders of codes drawn at exactly one pixel per module, which subsampling loses.

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


class FinderSearch:
    """The finder search, with its working images kept from one frame to the next.

    It runs on every frame the plain decode could not read, most of which hold no code, so its cost
    is what an empty frame costs: the frame is binarised with one global threshold, then

    - connected components on every other pixel of every other row: subsampling a binary image
      keeps at least one pixel of every module two or more pixels wide, so every finder of that size
      keeps its rings, at a quarter of the cost;
    - for pixel-exact codes of one pixel per module, which subsampling loses, a scan of every row
      for the finder's run (dark, light, 3 dark, light, dark, or its inverse), kept where three rows
      in a row have it (the core's), then the whole 7x7 pattern checked at the few places left.

    Each step is a few OpenCV calls on small images, where allocating fresh result images (and the
    page faults on them) costs as much as the arithmetic, so the images are kept and reused while
    the frame size stays the same; both steps share one working area, so that the memory a frame
    touches stays small enough to stay in the cache. Not thread-safe: one search per decoding thread.
    """

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None

    def _buffers(self, h: int, w: int) -> None:
        if self._shape == (h, w):
            return
        hh, hw = (h + 1) // 2, (w + 1) // 2
        # 16-bit labels are cheaper, and enough: 8-connected components are at most a quarter of the pixels
        label_type = np.dtype(np.uint16 if hh * hw // 4 < 65535 else np.int32)
        half_bytes = hh * hw * (1 + label_type.itemsize)
        area = np.empty(max(half_bytes, h * (2 * w - 1)) + 16, np.uint8)

        def image(offset: int, shape: tuple[int, int], dtype=np.uint8) -> np.ndarray:
            size = shape[0] * shape[1] * np.dtype(dtype).itemsize
            return area[offset : offset + size].view(dtype).reshape(shape)

        # the components step: every other pixel of every other row (binarised in place), labels
        self._half = image(0, (hh, hw))
        self._labels = image(hh * hw + (-hh * hw) % 4, (hh, hw), label_type)
        # the pixel-exact step, after it: the frame binarised, then where each row changes colour;
        # the runs found go over the binarised frame, and the runs three rows tall over the changes
        # (each image is done with when the next is written over it)
        self._dark = image(0, (h, w))
        self._change = image(h * w, (h, w - 1))
        self._run = image(0, (h, w - 6))
        self._core = image(h * w, (h - 4, w - 6))
        self._shape = (h, w)

    def __call__(self, gray: np.ndarray) -> list[Finder]:
        import cv2

        h, w = gray.shape[:2]
        if h < 9 or w < 9:
            return []
        self._buffers(h, w)
        np.copyto(self._half, gray[::2, ::2])
        threshold, _ = cv2.threshold(
            self._half, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU, dst=self._half
        )  # 255 where dark (at or below the threshold)
        dark = cv2.countNonZero(self._half)
        if min(dark, self._half.size - dark) < 3:
            # one colour (a covered lens, a blank wall): a code of any size, either way round, puts
            # both colours on this grid (at one pixel per module, a quarter of its modules, which its
            # mask keeps about half dark)
            return []
        found = [
            Finder(f.x * 2.0, f.y * 2.0, f.module * 2.0, f.inverted)
            for f in _components(self._half, self._labels)
        ]
        if len(found) > MAX_CANDIDATES:
            return []  # more is texture, not a code
        found += self._pixel_exact(gray, threshold)
        return found if len(found) <= MAX_CANDIDATES else []

    def _pixel_exact(self, gray: np.ndarray, threshold: float) -> list[Finder]:
        """Finders of exactly one pixel per module: around a dark-on-light finder's centre the 3x3 box
        is dark, the ring two pixels out light and the ring three out dark; a light-on-dark one is
        the inverse. Each of the core's three rows reads a b a a a b a (a != b) across the finder: a
        change of colour after the first, second, fifth and sixth pixel, none after the third and
        fourth; the rows two above and below the centre (the middle ring) read a b b b b b a. Stripes
        and other patterns that repeat from row to row have the run there too, and are passed over."""
        import cv2

        dark, change, run, core = self._dark, self._change, self._run, self._core
        cv2.threshold(gray, threshold, 255, cv2.THRESH_BINARY_INV, dst=dark)
        cv2.bitwise_xor(dark[:, :-1], dark[:, 1:], dst=change)
        n = run.shape[1]
        cv2.bitwise_and(change[:, 0:n], change[:, 1 : n + 1], dst=run)
        cv2.bitwise_and(run, change[:, 4 : n + 4], dst=run)
        cv2.bitwise_and(run, change[:, 5 : n + 5], dst=run)
        cv2.subtract(run, change[:, 2 : n + 2], dst=run)  # 255 - 255: no change allowed there
        cv2.subtract(run, change[:, 3 : n + 3], dst=run)
        # centred on row j + 2: the run on rows j + 1, j + 2, j + 3, not on rows j and j + 4
        cv2.bitwise_and(run[1:-3], run[2:-2], dst=core)
        cv2.bitwise_and(core, run[3:-1], dst=core)
        cv2.subtract(core, run[:-4], dst=core)
        cv2.subtract(core, run[4:], dst=core)
        hits = cv2.countNonZero(core)
        if hits == 0:
            return []
        if hits > _MAX_CORES:
            return []  # a texture of tiny blobs, not a code
        xy = cv2.findNonZero(core).reshape(-1, 2)
        cx, cy = xy[:, 0] + 3, xy[:, 1] + 2
        inside = (cy >= 3) & (cy < gray.shape[0] - 3)  # the columns are, by construction
        cx, cy = cx[inside], cy[inside]
        samples = gray[cy[:, None] + _PATTERN7[:, 1], cx[:, None] + _PATTERN7[:, 0]] <= threshold
        found: list[Finder] = []
        for inverted in (False, True):
            ok = np.all(samples == (_PATTERN7_DARK != inverted), axis=1)
            found += [Finder(float(x), float(y), 1.0, inverted) for x, y in zip(cx[ok], cy[ok])]
        return found


# the 7x7 offsets around a pixel-exact finder's centre, and which are dark in a dark-on-light one
_PATTERN7 = np.array([(dx, dy) for dy in range(-3, 4) for dx in range(-3, 4)])
_PATTERN7_DARK = np.max(np.abs(_PATTERN7), axis=1) != 2
# more places with a finder's run in three rows than this is texture (a code has three, a few in noise)
_MAX_CORES = 100 * MAX_CANDIDATES


def _components(dark: np.ndarray, labels: np.ndarray | None = None) -> list[Finder]:
    """Finders by their inner structure (core, ring, ring) in a binary image, 255 where dark.

    - dark-on-light: a filled dark core, 3 modules wide; light 2 modules out; dark 3 modules out;
    - light-on-dark: a dark ring 5 modules wide with a light centre; light 3 modules out.
    """
    import cv2

    ltype = cv2.CV_16U if labels is not None and labels.dtype == np.uint16 else cv2.CV_32S
    count, _, stats, centroids = cv2.connectedComponentsWithStats(dark, labels, connectivity=8, ltype=ltype)
    if count <= 1:
        return []
    w = stats[1:, cv2.CC_STAT_WIDTH]
    h = stats[1:, cv2.CC_STAT_HEIGHT]
    # square within 3:2 and at least three pixels wide, in integers: most components fail here
    keep = np.flatnonzero((w >= 3) & (2 * w < 3 * h + 2) & (2 * h < 3 * w + 2))
    if keep.size == 0:
        return []
    w = w[keep].astype(np.float64)
    h = h[keep].astype(np.float64)
    fill = stats[1:, cv2.CC_STAT_AREA][keep] / (w * h)
    core = fill >= 0.7
    ring = (w >= 5) & (fill >= 0.45) & (fill <= 0.8)
    centres = centroids[1:][keep]
    return _confirm(
        dark,
        np.concatenate([centres[core], centres[ring]]),
        np.concatenate([(w[core] + h[core]) / 6.0, (w[ring] + h[ring]) / 10.0]),
        np.concatenate([np.zeros(np.count_nonzero(core), bool), np.ones(np.count_nonzero(ring), bool)]),
    )


# the centre, then eight directions two modules out (the light ring of a dark-on-light finder), then
# the same three modules out (its outer dark ring)
_DIRECTIONS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], np.float64)
_STEPS = np.concatenate([[[0.0, 0.0]], 2 * _DIRECTIONS, 3 * _DIRECTIONS])
_RINGS_DARK = np.array([255] + [0] * 8 + [255] * 8)  # at those places, in a dark-on-light finder


def _confirm(dark: np.ndarray, centres: np.ndarray, module: np.ndarray, inverted: np.ndarray) -> list[Finder]:
    """Keep the candidates whose surroundings alternate as a finder pattern's rings do."""
    if len(centres) == 0:
        return []
    u = module[:, None]
    values = _sample(dark, centres[:, 0:1] + u * _STEPS[:, 0], centres[:, 1:2] + u * _STEPS[:, 1])
    expected = np.where(inverted[:, None], 255 - _RINGS_DARK, _RINGS_DARK)
    idx = np.flatnonzero(np.all(values == expected, axis=1))
    return [Finder(float(centres[i, 0]), float(centres[i, 1]), float(module[i]), bool(inverted[i])) for i in idx]


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
