"""QR decoding on greyscale frames: zxing-cpp first, ZBar as fallback."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Code:
    text: str
    corners: tuple[tuple[int, int], ...] = ()


class Decoder:
    def __init__(self, budget_ms: float = 40.0, zbar_fallback: bool = True):
        import zxingcpp

        self._zxing = zxingcpp
        self.budget_ms = budget_ms
        self.zbar_fallback = zbar_fallback

    def decode(self, gray: np.ndarray) -> list[Code]:
        if gray.ndim == 3:
            import cv2

            gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
        codes = self._read_zxing(gray)
        if not codes and self.zbar_fallback:
            codes = self._read_zbar(gray)
        return codes

    def _read_zxing(self, gray: np.ndarray) -> list[Code]:
        results = self._zxing.read_barcodes(gray, formats=self._zxing.BarcodeFormat.QRCode)
        out = []
        for r in results:
            if r.valid and r.text:
                p = r.position
                corners = tuple((pt.x, pt.y) for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
                out.append(Code(r.text, corners))
        return out

    def _read_zbar(self, gray: np.ndarray) -> list[Code]:
        from pyzbar import pyzbar

        out = []
        for r in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE]):
            try:
                text = r.data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append(Code(text, tuple((p.x, p.y) for p in r.polygon)))
        return out


def read_image(path: str) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    return image


def timed_decode(decoder: Decoder, gray: np.ndarray) -> tuple[list[Code], float]:
    start = time.perf_counter()
    codes = decoder.decode(gray)
    return codes, (time.perf_counter() - start) * 1000.0
