"""Report every problem in a config file, each with its key path; exit 0 if none, 2 otherwise.

A file that cannot be read as TOML at all (not UTF-8, a syntax error, nested too deeply) is one
line `kiosk: error: ...`.
"""

from __future__ import annotations

import sys

from kiosk import config
from sync.printable import shown


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", help="the TOML config file to check")


def run(args) -> int:
    problems = config.check(args.file)
    for problem in problems:
        print(shown(f"{args.file}: {problem}"), file=sys.stderr)
    if problems:
        print(f"kiosk: error: {len(problems)} problem(s) in {args.file}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    return 0
