"""The city's server is its own package: it speaks the protocol (sync/) and imports nothing of the kiosk."""

from __future__ import annotations

import json
import subprocess
import sys

CITY_MODULES = ["city", "city.store", "city.app", "city.cli", "city.trace", "city.enroll", "city.imports",
                "city.embedded"]


def test_importing_the_city_loads_no_kiosk_module():
    code = (
        "import importlib, json, sys\n"
        f"for name in {CITY_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'kiosk' or m.startswith('kiosk.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_kiosk_errors_are_the_protocol_errors():
    from kiosk import errors as kiosk_errors
    from sync import errors as sync_errors

    assert kiosk_errors.KioskError is sync_errors.ProtocolError
    for name in ("ConfigError", "TrustError", "SyncError"):
        assert getattr(kiosk_errors, name) is getattr(sync_errors, name)
        assert issubclass(getattr(kiosk_errors, name), kiosk_errors.KioskError)
    assert issubclass(sync_errors.TransientError, kiosk_errors.SyncError)
    assert issubclass(sync_errors.BundleError, kiosk_errors.TrustError)
    assert issubclass(kiosk_errors.JournalError, kiosk_errors.KioskError)


def test_every_kiosk_city_command_takes_db_and_data():
    import argparse

    from city.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, sub in commands.choices.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        for leaf in (nested[0].choices.values() if nested else [sub]):
            text = leaf.format_help()
            assert "--db URL" in text and "--data DIR" in text, name
            checked += 1
    assert checked >= 10
