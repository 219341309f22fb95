"""The kiosk's QR decoder on codes rendered here (each hard case a class of real frames) and on junk."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from kiosk.decode import ATTEMPTS, Decoder, read_image, timed_decode
from kiosk.decoding.finders import FinderSearch

TEXT = "KIOSK-TEST|VISITOR-0042|GATE-A|2021"
FRAMES = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "qr-frames"


def render(text: str = TEXT, scale: int = 6, border: int = 4) -> np.ndarray:
    """A dark-on-light code as a greyscale image, ``scale`` pixels per module."""
    matrix = np.array(segno.make_qr(text, error="m").matrix, dtype=bool)
    image = np.where(matrix, 0, 255).astype(np.uint8)
    image = np.kron(image, np.ones((scale, scale), np.uint8))
    return cv2.copyMakeBorder(image, border * scale, border * scale, border * scale, border * scale, cv2.BORDER_CONSTANT, value=255)


# What the decoder reads must not depend on how busy the machine is: the behaviour tests give it all
# the time it wants; test_budget_stops_the_attempts tests the budget itself.
UNBOUNDED = math.inf


def frame(code: np.ndarray, background: int = 200, size=(480, 640), at=(100, 150)) -> np.ndarray:
    out = np.full(size, background, np.uint8)
    y, x = at
    out[y : y + code.shape[0], x : x + code.shape[1]] = code
    return out


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return Decoder(budget_ms=UNBOUNDED)


def texts(decoder: Decoder, image: np.ndarray) -> list[str]:
    return [c.text for c in decoder.decode(image)]


def test_dark_on_light(decoder):
    codes = decoder.decode(frame(render()))
    assert [c.text for c in codes] == [TEXT]
    assert len(codes[0].corners) == 4


def test_light_on_dark(decoder):
    assert texts(decoder, 255 - frame(render())) == [TEXT]


def test_small_code(decoder):
    assert texts(decoder, frame(render(scale=2))) == [TEXT]


def test_rotated(decoder):
    image = frame(render(scale=5), at=(120, 200))
    matrix = cv2.getRotationMatrix2D((320, 240), 33, 1.0)
    assert texts(decoder, cv2.warpAffine(image, matrix, (640, 480), borderValue=200)) == [TEXT]


def test_blurred(decoder):
    assert texts(decoder, cv2.GaussianBlur(frame(render(scale=6)), (0, 0), 2.0)) == [TEXT]


def test_noisy(decoder):
    rng = np.random.default_rng(5)
    noisy = frame(render()).astype(np.int16) + rng.normal(0, 25, (480, 640)).astype(np.int16)
    assert texts(decoder, np.clip(noisy, 0, 255).astype(np.uint8)) == [TEXT]


def test_control_characters_kept_exactly(decoder):
    text = "\x01\x10AD:SUB:;;"
    assert texts(decoder, frame(render(text))) == [text]


def test_unicode_text(decoder):
    text = "Cổng vào|Hà Nội|Tòa nhà A"
    assert texts(decoder, frame(render(text))) == [text]


@pytest.mark.parametrize("inverted", [False, True])
def test_code_without_quiet_zone(inverted):
    """A code edge to edge against a dark surround (a dark-mode phone): zxing's first pass fails,
    the finder search and the rectified attempt read it."""
    code = render(scale=3, border=0)
    image = frame(code, background=0)
    if inverted:
        image = frame(255 - code, background=255)  # light-on-dark, nothing dark around it
    decoder = Decoder(budget_ms=UNBOUNDED)
    assert texts(decoder, image) == [TEXT]
    assert decoder.hits["rectified"] == 1
    assert texts(Decoder(attempts=()), image) == []  # the first pass alone cannot


def test_pixel_exact_code_without_quiet_zone():
    code = render(scale=1, border=0)
    image = frame(code, background=0)
    decoder = Decoder(budget_ms=UNBOUNDED)
    assert texts(decoder, image) == [TEXT]
    assert decoder.hits["rectified"] == 1


@pytest.mark.parametrize("inverted", [False, True])
def test_pixel_exact_finders_found_either_way_round(inverted):
    code = render(scale=1, border=0)
    image = frame(code, background=0, at=(7, 9))  # near the frame's corner, as a crop would be
    if inverted:
        image = frame(255 - code, background=255, at=(7, 9))  # light-on-dark, nothing dark around
    found = FinderSearch()(image)
    assert len(found) == 3 and {f.inverted for f in found} == {inverted}
    assert {f.module for f in found} == {1.0}


def test_stripes_beside_a_pixel_exact_code_are_not_taken_for_finders():
    """Vertical one-pixel stripes read like a finder's run on every row (thousands of places, which
    would be given up as texture); a finder's rows two away from its centre do not, the stripes' do."""
    image = frame(render(scale=1, border=0), background=0, at=(100, 60))
    image[:, 320:] = np.tile(np.array([0, 255, 0, 0, 0, 255, 0, 255], np.uint8), 40)
    found = FinderSearch()(image)
    assert len(found) == 3 and all(f.x < 320 for f in found)


def test_finder_search_follows_the_frame_size():
    """Working images are kept between frames; a new frame size gets new ones (and 32-bit labels
    once 16 bits could overflow), with the same finders as a fresh search."""
    search = FinderSearch()
    sizes = [(480, 640), (720, 1280), (1080, 1920), (480, 640)]
    for h, w in sizes:
        image = frame(render(scale=3, border=0), background=0, size=(h, w), at=(h // 4, w // 4))
        found = search(image)
        assert len(found) == 3
        assert found == FinderSearch()(image)
    assert search._labels.dtype == np.uint16  # back at 640x480
    search(np.zeros((1080, 1920), np.uint8) + 1)
    assert search._labels.dtype == np.int32


def test_large_frame_reads(decoder):
    image = frame(render(scale=2, border=0), background=0, size=(1080, 1920), at=(500, 900))
    assert texts(decoder, image) == [TEXT]


def test_no_code_gives_nothing(decoder):
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.integers(0, 256, (480, 640), dtype=np.uint8), (0, 0), 3)
    assert decoder.decode(scene) == []


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((480, 640), np.uint8),
        np.full((480, 640), 255, np.uint8),
        np.random.default_rng(2).integers(0, 256, (480, 640), dtype=np.uint8),
        np.random.default_rng(3).integers(0, 2, (480, 640), dtype=np.uint8) * 255,
        np.zeros((1, 1), np.uint8),
        np.zeros((0, 0), np.uint8),
        np.zeros((5, 1000), np.uint8),
        np.zeros((477, 641), np.uint8),
        np.zeros((480, 640, 3), np.uint8),
        np.zeros((480, 640, 4), np.uint8),
        np.zeros((480, 640, 1), np.uint8),
        np.zeros((480, 640), np.float32),
        np.ones((48, 64), bool),
        np.full((100, 100), np.nan, np.float64),
        np.zeros((4, 4, 4, 4), np.uint8),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_junk_never_raises(decoder, image):
    assert decoder.decode(image) == []


def test_colour_input(decoder):
    bgr = cv2.cvtColor(frame(render()), cv2.COLOR_GRAY2BGR)
    assert texts(decoder, bgr) == [TEXT]


def test_unknown_attempt_refused():
    with pytest.raises(ValueError):
        Decoder(attempts=("rectified", "magic"))


def test_zbar_only_when_allowed():
    assert "zbar" not in Decoder(attempts=ATTEMPTS, zbar_fallback=False).attempts
    assert "zbar" in Decoder(attempts=ATTEMPTS, zbar_fallback=True).attempts
    assert Decoder().attempts[-1] == "zbar"  # the config's default: ZBar, as the last fallback
    assert Decoder(zbar_fallback=False).attempts == tuple(a for a in ATTEMPTS if a != "zbar")


@pytest.fixture
def zbar_calls(monkeypatch):
    """Every frame handed to ZBar, while still decoding with it (watched at pyzbar's own entry
    point, not inside the decoder)."""
    from pyzbar import pyzbar

    calls = []
    real = pyzbar.decode

    def spy(image, *args, **kwargs):
        calls.append(image.shape)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(pyzbar, "decode", spy)
    return calls


def scrambled_without_quiet_zone() -> np.ndarray:
    """A code whose finders are intact but whose data cannot be read, edge to edge on black."""
    code = render(scale=4, border=0)
    n = code.shape[0] // 4
    rng = np.random.default_rng(9)
    noise = np.kron(rng.integers(0, 2, (n, n), dtype=np.uint8) * 255, np.ones((4, 4), np.uint8))
    keep = np.zeros((n, n), bool)
    keep[:8, :8] = keep[:8, -8:] = keep[-8:, :8] = True  # the three finders and their separators
    code = np.where(np.kron(keep, np.ones((4, 4), bool)), code, noise)
    return frame(code, background=0)


def test_zbar_is_the_last_attempt_and_never_runs_on_empty_frames(zbar_calls):
    decoder = Decoder(budget_ms=UNBOUNDED)
    rng = np.random.default_rng(1)
    scenes = [
        np.full((480, 640), 128, np.uint8),
        cv2.GaussianBlur(rng.integers(0, 256, (480, 640), dtype=np.uint8), (0, 0), 3),
        rng.integers(0, 256, (480, 640), dtype=np.uint8),
    ]
    for scene in scenes:
        assert decoder.decode(scene) == []
    assert zbar_calls == []  # nothing there looks like a code: no fallback at all
    assert texts(decoder, frame(render(scale=3, border=0), background=0)) == [TEXT]
    assert zbar_calls == []  # read by an earlier attempt
    assert decoder.decode(scrambled_without_quiet_zone()) == []
    assert zbar_calls  # seen, read by nothing else: ZBar had its turn
    assert Decoder(zbar_fallback=False).decode(scrambled_without_quiet_zone()) == []
    assert len(zbar_calls) <= 2  # one per polarity, and only where allowed


def test_budget_stops_the_attempts(zbar_calls):
    decoder = Decoder(budget_ms=0.0)
    assert decoder.decode(frame(render(scale=3, border=0), background=0)) == []
    assert decoder.decode(scrambled_without_quiet_zone()) == []
    assert sum(decoder.hits.values()) == 0 and zbar_calls == []


def test_missing_zbar_library_leaves_zbar_out(monkeypatch, caplog):
    import sys

    monkeypatch.setitem(sys.modules, "pyzbar", None)  # as if pyzbar or libzbar0 were not installed
    decoder = Decoder(budget_ms=UNBOUNDED)
    assert "zbar" not in decoder.attempts
    assert "ZBar fallback off" in caplog.text
    assert texts(decoder, frame(render(scale=3, border=0), background=0)) == [TEXT]


@pytest.mark.skipif(not FRAMES.is_dir(), reason=f"shared test data not found at {FRAMES}")
def test_zbar_fallback_reads_what_zxing_cannot():
    """A printed card, tilted, with a narrow margin on a dark ground: zxing-cpp locates the code but
    cannot read it; ZBar can."""
    image = read_image(str(FRAMES / "qrcode-4-09.png"))
    expected = (FRAMES / "qrcode-4-09.txt").read_bytes().decode("utf-8")
    assert texts(Decoder(attempts=()), image) == []
    zbar_only = Decoder(attempts=("zbar",))
    assert texts(zbar_only, image) == [expected] and zbar_only.hits["zbar"] == 1
    assert texts(Decoder(attempts=("zbar",), zbar_fallback=False), image) == []


def test_timed_decode_and_read_image(tmp_path, decoder):
    path = tmp_path / "code.png"
    cv2.imwrite(str(path), frame(render()))
    codes, ms = timed_decode(decoder, read_image(str(path)))
    assert [c.text for c in codes] == [TEXT] and ms >= 0.0
    with pytest.raises(OSError, match="missing.png"):
        read_image(str(tmp_path / "missing.png"))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        read_image(str(tmp_path / "notes.png"))


@pytest.mark.skipif(not FRAMES.is_dir(), reason=f"shared test data not found at {FRAMES}")
def test_qr_frames_counts():
    """Issue 5's must-show counts: >= 166 upright and inverted read exactly, no read on an empty frame."""
    decoder = Decoder(budget_ms=UNBOUNDED)
    upright = inverted = false_reads = 0
    for path in sorted(FRAMES.glob("*.png")):
        found = [c.text for c in decoder.decode(read_image(str(path)))]
        expected = path.with_suffix(".txt")
        if not expected.exists():
            false_reads += bool(found)
            continue
        if expected.read_bytes().decode("utf-8") in found:
            if path.name.startswith("inv-"):
                inverted += 1
            else:
                upright += 1
    assert (upright >= 166, inverted >= 166, false_reads) == (True, True, 0), (upright, inverted, false_reads)


# --------------------------------------------------------------------------- image bombs (issue 14, item 8)


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height grey pixels (the pixel data is cut short:
    it is never meant to be decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(60_000)))
            + chunk(b"IEND", b""))


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A baseline JPEG header (SOI, SOF0 with one component) declaring width x height, then EOI."""
    import struct

    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


@pytest.mark.parametrize("make", [_png_declaring, _jpeg_declaring], ids=["png", "jpeg"])
def test_an_image_bomb_is_refused_from_its_header_before_decoding(tmp_path, capsys, monkeypatch, make):
    from kiosk.cli import main

    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: decoded.append(1) or real_imdecode(*a, **k))
    bomb = tmp_path / "bomb.img"
    bomb.write_bytes(make(40_000, 40_000))  # 1.6 gigapixels, in a few kilobytes
    assert bomb.stat().st_size < 100_000
    assert main(["decode", str(bomb)]) == 1
    assert main(["decode", "--json", str(bomb)]) == 1
    assert main(["verify", "--image", str(bomb)]) == 2
    assert decoded == []  # refused before OpenCV saw a byte of it
    from kiosk.decode import MAX_IMAGE_PIXELS

    err = capsys.readouterr().err.splitlines()
    assert err == [f"kiosk: error: {bomb}: 40000 x 40000 pixels; an image may have at most "
                   f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (scale it down)"] * 2 + [
                  f"kiosk: error: --image {bomb}: 40000 x 40000 pixels; an image may have at most "
                  f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (scale it down)"]
    # at the limit it is handed to OpenCV (which finds the pixel data cut short)
    side = int(MAX_IMAGE_PIXELS ** 0.5)
    bomb.write_bytes(make(side, side))
    with pytest.raises(ValueError):
        read_image(str(bomb))
    assert decoded == [1]


def test_a_file_whose_header_tells_no_size_is_refused(tmp_path):
    path = tmp_path / "frame.raw"
    path.write_bytes(bytes(640 * 480))
    with pytest.raises(ValueError, match="header"):
        read_image(str(path))
