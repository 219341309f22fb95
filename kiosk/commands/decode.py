"""Decode QR codes in image files with the kiosk's own decoder.

With --json, one line per image: {"file": path, "codes": [text, ...], "ms": decode milliseconds,
excluding file reading}. A code's text is anyone's to write: characters a terminal would act on
(escape sequences, bidi overrides, line breaks) are printed escaped, as JSON escapes with --json.
"""

from __future__ import annotations

import sys

from sync.printable import json_line, shown


def add_arguments(parser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args) -> int:
    from kiosk.decode import Decoder, read_image, timed_decode

    decoder = Decoder()
    failed = 0
    for path in args.images:
        try:
            image = read_image(path)
        except (OSError, ValueError) as exc:
            print(f"kiosk: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        codes, ms = timed_decode(decoder, image)
        texts = [c.text for c in codes]
        if args.json:
            print(json_line({"file": path, "codes": texts, "ms": round(ms, 3)}))
        else:
            found = " | ".join(texts) if texts else "(no code)"
            print(shown(f"{path}: {found}  [{ms:.2f} ms]"))
    return 1 if failed else 0
