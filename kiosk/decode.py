"""QR decoding on camera frames: zxing-cpp first, then a few cheap attempts chosen by measurement.

Most frames a kiosk sees hold no code, and most codes it sees are read by zxing-cpp's first pass in
well under a millisecond. The rest are hard for one of a few reasons, each with its own remedy:

- no light quiet zone around the code (an edge-to-edge code on a dark-mode phone, a crop, a code
  printed without a margin): zxing-cpp's finder search needs one. :mod:`kiosk.decoding.finders`
  finds the finders by their inner rings instead and the code is warped onto a clean canvas with
  a synthetic quiet zone (``rectified``); this also enlarges small codes;
- glare, shading or a smudge, where a local-average binariser breaks the code apart: one global
  threshold keeps it whole (``global-histogram``);
- texture or screen moire at full size: a half-size copy averages it away (``downscaled``);
- anything else: ZBar (pyzbar), a second decoder with its own binariser and finder search, as the
  last attempt (``zbar``, the config's ``decoder.zbar_fallback``);
- control characters in the text: read in zxing-cpp's plain text mode, so the text is exactly what
  the code holds (its default "human readable" mode rewrites them as ``<SOH>`` and the like).

The fallbacks cost more than the first pass, so they run only when something in the frame looks
like a QR code: finder patterns found by :class:`~kiosk.decoding.finders.FinderSearch`, or a code
that zxing-cpp located but could not decode. An empty frame therefore pays for the first pass and
one finder search (about as much again), nothing more; and a per-frame budget (``budget_ms``) stops
the attempts on a hard frame so that it cannot stall the camera.

Which attempt read each frame is counted in :attr:`Decoder.hits`, so that the benchmark
(``benchmarks/decode.py``) can show what each attempt is worth, and each can be switched off.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

log = logging.getLogger(__name__)

# every attempt the decoder knows, in the order it tries them (all of them by default); see the module
# docstring. ZBar comes last: it reads some wrinkled or low-contrast codes the others miss and costs
# several milliseconds, but only on a frame where a code was seen and nothing else read it
ATTEMPTS = ("rectified", "global-histogram", "downscaled", "zbar")


@dataclass(frozen=True)
class Code:
    """One decoded QR code: its exact text and its corners in the frame (clockwise from top-left)."""

    text: str
    corners: tuple[tuple[int, int], ...] = ()


class Decoder:
    """Decode QR codes in greyscale (or BGR) frames; safe to reuse, not to share between threads.

    ``attempts`` names the fallbacks to make, from :data:`ATTEMPTS` (default: all of them);
    ``zbar_fallback=False`` leaves ZBar out whatever ``attempts`` says, and so does a missing ZBar
    library (with a warning), so that a kiosk without libzbar still decodes.
    """

    def __init__(
        self,
        budget_ms: float = 40.0,
        zbar_fallback: bool = True,
        attempts: tuple[str, ...] | None = None,
    ):
        import zxingcpp

        self._zx = zxingcpp
        self._format = zxingcpp.BarcodeFormat.QRCodeModel2  # what phones and ID cards show
        self.budget_ms = budget_ms
        self.zbar_fallback = zbar_fallback
        if attempts is None:
            attempts = ATTEMPTS
        unknown = set(attempts) - set(ATTEMPTS)
        if unknown:
            raise ValueError(f"unknown decoding attempts: {', '.join(sorted(unknown))}")
        if "zbar" in attempts and zbar_fallback and not _zbar_available():
            zbar_fallback = False
        self.attempts = tuple(a for a in ATTEMPTS if a in attempts and (a != "zbar" or zbar_fallback))
        self.hits: Counter[str] = Counter()  # which attempt read each frame ("first" for the first pass)
        self._finders = None  # a FinderSearch, made on the first frame the first pass cannot read

    def decode(self, gray: np.ndarray) -> list[Code]:
        """Every QR code read in the frame, or [] (never raises on odd input: a frame is just pixels)."""
        start = time.perf_counter()
        gray = _as_gray(gray)
        if gray is None:
            return []
        codes, located = self._first_pass(gray)
        if codes:
            self.hits["first"] += 1
            return codes
        if self._finders is None:
            from kiosk.decoding.finders import FinderSearch

            self._finders = FinderSearch()
        finders = self._finders(gray)
        if not finders and not located:
            return []
        deadline = start + self.budget_ms / 1000.0
        polarity = _polarity(finders)
        for name in self.attempts:
            if time.perf_counter() > deadline:
                break
            codes = self._attempt(name, gray, finders, polarity)
            if codes:
                self.hits[name] += 1
                return codes
        return []

    # -- attempts -------------------------------------------------------------------------------

    def _first_pass(self, gray: np.ndarray) -> tuple[list[Code], bool]:
        """zxing-cpp at full size, both polarities; also says whether it located an undecodable code."""
        results = self._zx.read_barcodes(
            gray,
            formats=self._format,
            text_mode=self._zx.TextMode.Plain,
            try_downscale=False,  # the "downscaled" attempt does this, only where a code is seen
            # a QR code's finders read the same in any orientation; rotating the frame only repeats
            # the search (the same reads on the qr-frames set, a sixth less time)
            try_rotate=False,
            return_errors=True,
        )
        codes = self._codes(results)
        return codes, any(not r.valid for r in results)

    def _attempt(self, name: str, gray: np.ndarray, finders: list, polarity: tuple[bool, ...]) -> list[Code]:
        import cv2

        if name == "rectified":
            return self._rectified(gray, finders)
        if name == "global-histogram":
            for inverted in polarity:
                image = cv2.bitwise_not(gray) if inverted else gray
                codes = self._read(image, binarizer=self._zx.Binarizer.GlobalHistogram, try_invert=False)
                if codes:
                    return codes
            return []
        if name == "downscaled":
            h, w = gray.shape
            if min(h, w) < 64:
                return []
            half = cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            return [_scaled(c, 2.0) for c in self._read(half)]
        if name == "zbar":
            for inverted in polarity:
                codes = _zbar(cv2.bitwise_not(gray) if inverted else gray)
                if codes:
                    return codes
            return []
        raise ValueError(name)

    def _rectified(self, gray: np.ndarray, finders: list) -> list[Code]:
        import cv2

        from kiosk.decoding.finders import group, rectify

        for triple in group(finders, limit=3):
            # the version follows from finder spacing over module size; a module measured on a few
            # pixels can be a little off, so the neighbouring versions are tried too
            for modules in (triple.modules, triple.modules + 4, triple.modules - 4):
                if not 21 <= modules <= 177:
                    continue
                image, matrix = rectify(gray, replace(triple, modules=modules))
                codes = self._read(image, try_invert=False)
                if codes:
                    back = cv2.invertAffineTransform(matrix)
                    return [_mapped(c, back) for c in codes]
        return []

    def _read(self, image: np.ndarray, **options) -> list[Code]:
        options.setdefault("try_downscale", False)
        return self._codes(
            self._zx.read_barcodes(image, formats=self._format, text_mode=self._zx.TextMode.Plain, **options)
        )

    @staticmethod
    def _codes(results) -> list[Code]:
        out = []
        for r in results:
            if r.valid and r.text:
                p = r.position
                corners = tuple((pt.x, pt.y) for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
                out.append(Code(r.text, corners))
        return out


def _as_gray(image: np.ndarray) -> np.ndarray | None:
    """A contiguous uint8 greyscale view of a frame, or None when it cannot hold a code."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype != np.uint8:
            image = _to_uint8(image)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.ndim != 2 or image.shape[0] < 21 or image.shape[1] < 21:
        return None  # the smallest QR code is 21 modules wide
    if image.dtype != np.uint8:
        image = _to_uint8(image)
    return np.ascontiguousarray(image)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating) and np.nanmax(image, initial=0) <= 1.0:
        image = np.nan_to_num(image) * 255.0
    return np.clip(np.nan_to_num(image), 0, 255).astype(np.uint8)


def _polarity(finders: list) -> tuple[bool, ...]:
    """Which polarities to try, most likely first: the finders say; with none, both."""
    if not finders:
        return (False, True)
    inverted = sum(f.inverted for f in finders) * 2 > len(finders)
    return (inverted, not inverted)


def _scaled(code: Code, factor: float) -> Code:
    return Code(code.text, tuple((round(x * factor), round(y * factor)) for x, y in code.corners))


def _mapped(code: Code, matrix: np.ndarray) -> Code:
    pts = np.array(code.corners, np.float64).reshape(-1, 2)
    out = pts @ matrix[:, :2].T + matrix[:, 2]
    return Code(code.text, tuple((int(round(x)), int(round(y))) for x, y in out))


def _zbar_available() -> bool:
    try:
        from pyzbar import pyzbar  # noqa: F401  (loads libzbar)
    except ImportError as exc:  # the Python package, or the libzbar0 it loads
        log.warning("ZBar fallback off: %s", exc)
        return False
    return True


def _zbar(gray: np.ndarray) -> list[Code]:
    from pyzbar import pyzbar

    out = []
    for r in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        try:
            text = r.data.decode("utf-8")  # ZBar hands over its own guess of the text, as UTF-8
        except UnicodeDecodeError:
            continue
        if text:
            out.append(Code(text, tuple((p.x, p.y) for p in r.polygon)))
    return out


# an image file handed to `kiosk decode` or `kiosk verify --image` may be a bomb: a 600 KB PNG can
# declare 40 000 x 40 000 pixels (1.6 GB to decode). Its size is read from the header first and
# refused over these limits, before anything is decoded (documented in the README)
MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels, e.g. 8000 x 5000: far more than any photo of a code needs
MAX_IMAGE_BYTES = 200 * 1024 * 1024
HEADER_FORMATS = "PNG, JPEG, BMP, GIF, TIFF, WebP, PNM"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header alone (imagesize), or None if it cannot tell."""
    import io

    import imagesize

    width, height = imagesize.get(io.BytesIO(data))  # a stream: imagesize never opens a path or URL
    return (width, height) if width > 0 and height > 0 else None


def read_image(path: str) -> np.ndarray:
    """A greyscale frame from an image file (for the CLI, tests and benchmarks).

    OSError if the file cannot be read (the message names it); ValueError, naming the file, if it
    is no image, or one over :data:`MAX_IMAGE_PIXELS` by its header (then nothing is decoded).
    """
    import os

    import cv2

    size = os.stat(path).st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"{path}: {size / 2**20:.0f} MiB; an image may be at most {MAX_IMAGE_BYTES // 2**20} MiB")
    with open(path, "rb") as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    dimensions = image_size(data)
    if dimensions is None:
        raise ValueError(f"{path}: not an image whose size its header tells ({HEADER_FORMATS})")
    width, height = dimensions
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{path}: {width} x {height} pixels; an image may have at most "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (scale it down)")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error as exc:  # OpenCV's own checks, a last line of defence
        raise ValueError(f"{path}: OpenCV cannot decode it ({str(exc).strip().splitlines()[-1]})") from None
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    return image


def timed_decode(decoder: Decoder, gray: np.ndarray) -> tuple[list[Code], float]:
    """Decode one frame and say how long it took, in milliseconds."""
    start = time.perf_counter()
    codes = decoder.decode(gray)
    return codes, (time.perf_counter() - start) * 1000.0
