"""The command line: every command has help and documentation; errors are one line; exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(name, capsys):
    parser, module = build_parser(name)
    assert (module.__doc__ or "").strip(), f"kiosk {name} has no docstring (its --help text)"
    assert main([name, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: kiosk {name}")
    assert f"`kiosk {name}" in README, f"kiosk {name} is not documented in README.md"


def test_every_city_command_has_help_and_is_in_the_readme(capsys):
    """Every subcommand kiosk-city's own parser has (not a list kept here by hand)."""
    import argparse

    from city.cli import build_parser
    from city.cli import main as city_main

    (commands,) = [a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"serve", "enroll", "trace"} <= set(commands)
    for name in commands:
        assert city_main([name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: kiosk-city {name}"), name
    missing = [c for c in commands if not re.search(rf"kiosk-city[^\n]*\b{c}\b", README)]
    assert missing == [], f"kiosk-city commands not in README.md: {missing}"


def test_usage_errors_are_one_line_and_exit_2(capsys):
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["decode"]) == 2  # missing IMAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith(("kiosk: error:", "usage:")) for line in err)


def test_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[kiosk]\nlog_level = 3\n")
    assert main(["status", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kiosk.log_level" in err


def test_python_dash_m_and_traceback_only_with_debug(tmp_path):
    missing = str(tmp_path / "absent.png")
    plain = subprocess.run([sys.executable, "-m", "kiosk", "decode", missing], capture_output=True, text=True)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("kiosk: error:")


def test_decode_json_contract(tmp_path, capsys):
    import cv2

    from kiosk.demo.visitors import empty_frame, render_frame

    cv2.imwrite(str(tmp_path / "code.png"), render_frame("hello kiosk"))
    cv2.imwrite(str(tmp_path / "none.png"), empty_frame())
    assert main(["decode", "--json", str(tmp_path / "code.png"), str(tmp_path / "none.png")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["file"], r["codes"]) for r in lines] == [(str(tmp_path / "code.png"), ["hello kiosk"]),
                                                         (str(tmp_path / "none.png"), [])]
    assert all(isinstance(r["ms"], float) and r["ms"] >= 0 for r in lines)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    demo, tests = blocks[0].strip(), blocks[1].strip()
    assert demo.endswith("kiosk demo") and "install.sh" in demo
    assert "pytest" in tests
    assert README.index(demo) < README.index("## What it is")
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_simulate_into_the_configured_journal(tmp_path, capsys):
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[kiosk]\nstate_dir = "{tmp_path}"\nclock = "assume_synchronised"\n')
    assert main(["simulate", "--visitors", "12", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "simulated 12 decisions" in out
    assert main(["status", "--config", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["total"] == 12 and status["undelivered"] == 12
    relay_ids = re.findall(r"relay on entry=(\S+)", out)
    assert relay_ids  # the identity codes were admitted
