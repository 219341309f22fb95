"""The ``kiosk`` command line: a thin layer over the library.

Each subcommand is one module in ``kiosk/commands/`` with a docstring (its help), an
``add_arguments(parser)`` and a ``run(args) -> int``. Only the chosen subcommand's module is
imported, so ``kiosk verify`` starts without loading OpenCV, pygame or the sync stack.

Exit status (DESIGN contract): 0 success, 1 a refused credential or a failed check, 2 bad usage
or a bad config. Errors are one line ``kiosk: error: ...`` on stderr; a traceback only with
``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kiosk.errors import ConfigError, KioskError

# name -> (module, one-line help); the order is the order of `kiosk --help`
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("kiosk.commands.run", "run the kiosk: camera, decoder, gate, screen"),
    "demo": ("kiosk.commands.demo", "run the real loop on generated visitors, with simulated hardware"),
    "check-config": ("kiosk.commands.check_config", "report every problem in a config file"),
    "verify": ("kiosk.commands.verify", "recognise, verify and decide one credential"),
    "decode": ("kiosk.commands.decode", "decode QR codes in image files"),
    "status": ("kiosk.commands.status", "journal counts, last sync, trust-list age, clock state"),
    "simulate": ("kiosk.commands.simulate", "generated visitors through the real loop into the journal"),
    "sync": ("kiosk.commands.sync", "deliver journal entries to the city server, fetch bundles"),
    "export": ("kiosk.commands.export", "write undelivered entries (sealed) to a file for kiosk-city import"),
    "selftest": ("kiosk.commands.selftest", "check camera, decoder, pins, screen, clock, disk, journal, server"),
    "screenshot": ("kiosk.commands.screenshot", "render one screen state to a PNG"),
}

log = logging.getLogger("kiosk")


class UsageError(KioskError, ValueError):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog.split()[-1]}: {message}" if " " in self.prog else message)


def _top_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kiosk",
        description="QR gate kiosk: decode, verify, decide, record, act, sync.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<14}{h}" for n, (_, h) in COMMANDS.items()),
    )
    parser.add_argument("--debug", action="store_true", help="log debug messages; show tracebacks")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of the commands below")
    return parser


def _version() -> str:
    from kiosk import __version__

    return f"kiosk {__version__}"


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of one subcommand, and its module."""
    module = importlib.import_module(COMMANDS[name][0])
    parser = _Parser(
        prog=f"kiosk {name}",
        description=(module.__doc__ or COMMANDS[name][1]).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="log debug messages; show tracebacks")
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        code = _dispatch(argv, debug)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `kiosk decode ... | head`
        sys.stderr.close()
        code = 0
    except SystemExit as exc:  # --help / --version
        code = exc.code if isinstance(exc.code, int) else 0
    except (UsageError, ConfigError) as exc:
        _error(exc, debug)
        code = 2
    except (KioskError, OSError) as exc:
        _error(exc, debug)
        code = 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        _error(exc, debug, unexpected=True)
        code = 1
    return code


def _dispatch(argv: list[str], debug: bool) -> int:
    # the first word that is not an option names the command
    names = [a for a in argv if not a.startswith("-")]
    if not names or names[0] not in COMMANDS:
        _top_parser().parse_args(argv)  # prints help, or a usage error
        raise UsageError("a command is required")
    name = names[0]
    rest = list(argv)
    rest.remove(name)
    parser, module = build_parser(name)
    args = parser.parse_args(rest)
    setup_logging(debug)
    return int(module.run(args) or 0)


def setup_logging(debug: bool = False, level: str = "info") -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _error(exc: BaseException, debug: bool, unexpected: bool = False) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc) or type(exc).__name__
    if unexpected:
        text = f"unexpected {type(exc).__name__}: {text} (run with --debug for the traceback)"
    from sync.printable import shown  # the text may quote a config file or a QR code

    print("kiosk: error: " + shown(" ".join(text.split())), file=sys.stderr)
