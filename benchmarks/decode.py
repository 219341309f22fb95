"""Compare the kiosk's QR decoder with zxing-cpp, ZBar and OpenCV on a folder of frames.

    python benchmarks/decode.py [FOLDER] [--ablation]

FOLDER (default ../shared/testdata/qr-frames next to the repository) holds PNG/JPEG frames; a frame
with a ``.txt`` beside it must decode to exactly that text (``inv-`` frames are counted as
inverted, the others as upright); a frame without one must decode to nothing (any read there is a
false read). All frames are loaded first, so timings exclude file reading. Prints one table:
reads, wrong reads, false reads and median / p90 milliseconds per frame, with and without a code.
``--ablation`` adds the kiosk decoder with each fallback attempt switched off in turn, and which
attempt read each frame, to show what each is worth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT.parent / "shared" / "testdata" / "qr-frames"


def load(folder: Path) -> list[tuple[str, np.ndarray, str | None]]:
    from kiosk.decode import read_image

    frames = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".pgm"):
            continue
        expected = path.with_suffix(".txt")
        text = expected.read_bytes().decode("utf-8") if expected.exists() else None
        frames.append((path.stem, read_image(str(path)), text))
    return frames


def zxing_alone():
    import zxingcpp

    def read(gray):
        return [r.text for r in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)]

    return read


def zbar_alone():
    from pyzbar import pyzbar

    def read(gray):
        out = []
        for r in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE]):
            try:
                out.append(r.data.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(r.data.decode("latin-1"))
        return out

    return read


def opencv(aruco: bool = False):
    import cv2

    detector = cv2.QRCodeDetectorAruco() if aruco else cv2.QRCodeDetector()

    def read(gray):
        try:
            text, _, _ = detector.detectAndDecode(gray)
        except (cv2.error, UnicodeDecodeError):  # OpenCV's binding fails on non-UTF-8 payloads
            return []
        return [text] if text else []

    return read


def kiosk(attempts=None):
    """The kiosk's decoder as the kiosk runs it (every attempt, ZBar last), or with ``attempts`` only."""
    from kiosk.decode import Decoder

    decoder = Decoder(attempts=attempts)

    def read(gray):
        return [c.text for c in decoder.decode(gray)]

    read.decoder = decoder
    return read


def run(readers: dict, frames, rounds: int = 1) -> dict:
    """Interleave the readers frame by frame so that load on the machine falls on all alike, in a new
    random order on every frame: the reader that runs first on a frame pays for bringing it (and its
    own working memory) back into the cache after the previous frame's readers, and the one right
    after it finds the frame warm, so no reader should keep either place."""
    stats = {name: {"up": 0, "inv": 0, "wrong": 0, "false": 0, "code_ms": [], "empty_ms": [], "missed": []} for name in readers}
    names = list(readers)
    rng = np.random.default_rng(0)
    for r in range(rounds):
        for stem, gray, text in frames:
            for i in rng.permutation(len(names)):
                name = names[i]
                read = readers[name]
                start = time.perf_counter()
                texts = read(gray)
                ms = (time.perf_counter() - start) * 1000.0
                s = stats[name]
                if text is None:
                    s["empty_ms"].append(ms)
                    if r == 0 and texts:
                        s["false"] += 1
                    continue
                s["code_ms"].append(ms)
                if r:
                    continue
                if text in texts:
                    s["inv" if stem.startswith("inv-") else "up"] += 1
                else:
                    s["missed"].append(stem)
                    if texts:
                        s["wrong"] += 1
    return stats


def table(stats: dict, frames, baseline: str) -> str:
    n_up = sum(1 for s, _, t in frames if t is not None and not s.startswith("inv-"))
    n_inv = sum(1 for s, _, t in frames if t is not None and s.startswith("inv-"))
    n_empty = sum(1 for _, _, t in frames if t is None)
    head = (
        f"{'decoder':<34} {'upright':>9} {'inverted':>9} {'wrong':>5} {'false':>6} "
        f"{'code med':>8} {'p90':>6} {'empty med':>9} {'p90':>6} {'x zxing':>13}"
    )
    lines = [head, "-" * len(head)]
    base = stats[baseline]
    for name, s in stats.items():
        cm, cp = np.median(s["code_ms"]), np.percentile(s["code_ms"], 90)
        em = np.median(s["empty_ms"]) if s["empty_ms"] else float("nan")
        ep = np.percentile(s["empty_ms"], 90) if s["empty_ms"] else float("nan")
        ratio = f"{cm / np.median(base['code_ms']):.1f} / {em / np.median(base['empty_ms']):.1f}" if base["empty_ms"] else ""
        lines.append(
            f"{name:<34} {s['up']:>4}/{n_up:<4} {s['inv']:>4}/{n_inv:<4} {s['wrong']:>5} {s['false']:>3}/{n_empty:<2} "
            f"{cm:>8.2f} {cp:>6.2f} {em:>9.2f} {ep:>6.2f} {ratio:>13}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT))
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds over the frames (counts from the first)")
    parser.add_argument("--ablation", action="store_true", help="also the kiosk decoder without each attempt")
    parser.add_argument("--missed", action="store_true", help="list the frames each decoder missed")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"benchmarks/decode.py: no folder {folder}", file=sys.stderr)
        return 2
    frames = load(folder)
    from kiosk.decode import ATTEMPTS

    readers = {
        "kiosk pipeline": kiosk(),
        "zxing-cpp alone": zxing_alone(),
        "ZBar alone": zbar_alone(),
        "OpenCV QRCodeDetector": opencv(),
        "OpenCV QRCodeDetectorAruco": opencv(aruco=True),
    }
    if args.ablation:
        for attempt in ATTEMPTS:
            readers[f"kiosk without {attempt}"] = kiosk(tuple(a for a in ATTEMPTS if a != attempt))
        readers["kiosk first pass only"] = kiosk(())
    stats = run(readers, frames, rounds=max(1, args.rounds))
    print(f"{len(frames)} frames from {folder}; times in ms per frame (median, p90), {args.rounds} rounds")
    print(table(stats, frames, baseline="zxing-cpp alone"))
    hits = readers["kiosk pipeline"].decoder.hits
    print("kiosk pipeline, frames read by each step (all rounds):", dict(hits))
    if args.missed:
        for name in ("kiosk pipeline", "zxing-cpp alone"):
            print(f"{name} missed: {' '.join(stats[name]['missed'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
