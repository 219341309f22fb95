"""The config file: typed, immutable, every problem reported with its key path."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from kiosk import config as config_mod
from kiosk.cli import main
from kiosk.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"


def test_example_passes_check(capsys):
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert config_mod.check(EXAMPLE) == []


def test_wrong_type_and_unknown_key_are_both_named(tmp_path, capsys):
    text = EXAMPLE.read_text()
    text = text.replace("width = 640", 'width = "640"').replace("[gate]\n", "[gate]\nrelay_pn = 5\n", 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "camera.width: expected an integer" in err
    assert "gate.relay_pn: unknown key" in err


def test_every_problem_at_once(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[camera]\nfps = 0\ndriver = "webcam"\n[gate]\nrelay_pin = 27\n'
        '[policy]\naccept_formats = ["cccd", "passport"]\n[trust]\ntrust_list = "missing.json"\n'
    )
    problems = config_mod.check(bad)
    keys = {p.split(":")[0] for p in problems}
    assert {"camera.fps", "camera.driver", "gate.green_led_pin", "policy.accept_formats[1]", "trust.trust_list"} <= keys
    with pytest.raises(ConfigError) as exc:
        config_mod.load(bad)
    assert len(exc.value.problems) == len(problems)


def test_unreadable_files_are_one_clear_error(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "absent.toml")]) == 2
    (tmp_path / "broken.toml").write_text("[kiosk\n")
    assert main(["check-config", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_config_is_immutable_with_defaults():
    config, problems = config_mod.parse({})
    assert problems == []
    assert config.gate.fail_mode == "secure" and config.policy.mode == "checkin"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.gate.relay_pin = 5  # type: ignore[misc]


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "kiosk.toml").write_text('[camera]\ndriver = "replay"\nreplay_path = "frames"\n')
    config = config_mod.load(tmp_path / "kiosk.toml")
    assert Path(config.camera.replay_path) == tmp_path / "frames"


def test_every_key_is_documented_in_the_example():
    documented = set()
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        header = re.match(r"#?\s*\[\[?([\w.]+)\]\]?\s*$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"#?\s*(\w+)\s*=", line)
        if key and section:
            documented.add(f"{section}.{key.group(1)}")
    missing = sorted(set(config_mod.all_keys()) - documented)
    assert not missing, f"keys missing from config.example.toml: {missing}"


# --------------------------------------------------------------------------- hostile or broken files
# Issue 14, item 7: whatever the file holds, every command that reads it answers with one line
# `kiosk: error: ...` and exit 2, never a traceback, "unexpected ...", or exit 1.

BAD_FILES = {
    "invalid UTF-8": b'[kiosk]\nvenue = "Cong \xff\xfe A"\n',
    "100 000-digit integer": b"[camera]\nwidth = " + b"9" * 100_000 + b"\n",
    "5 000-deep arrays": b"[policy]\naccept_formats = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "5 000-deep inline tables": b"[policy]\nvaccination = " + b"{a = " * 5000 + b"1" + b"}" * 5000 + b"\n",
    "binary": bytes(range(256)) * 8,
    "over a megabyte": b"# " + b"x" * (1 << 20) + b"\n",
    "syntax error": b"[kiosk\n",
    "NUL in a path": b'[trust]\ntrust_list = "a\\u0000b"\n',
    "a float too big for a float": b"[gate]\nopen_seconds = 1" + b"0" * 400 + b"\n",
    "nan open time": b"[gate]\nopen_seconds = nan\n",
    "nan sync interval": b"[sync]\ninterval_seconds = nan\n",
    "inf disk alarm": b"[journal]\ndisk_alarm_percent = inf\n",
    "-inf re-entry": b"[policy]\nreentry_minutes = -inf\n",
    "deep list in a string list": b"[policy]\naccept_formats = " + b"[" * 200 + b"]" * 200 + b"\n",
    "escape sequence in a key": b'[kiosk]\n"\\u001b[2J\\u001b[32mPASS" = 1\n',
}
COMMANDS = [
    ["check-config", "{file}"],
    ["run", "--config", "{file}"],
    ["status", "--config", "{file}"],
    ["simulate", "--visitors", "1", "--config", "{file}"],
    ["sync", "--once", "--config", "{file}"],
    ["export", "--out", "{out}", "--config", "{file}"],
    ["selftest", "--config", "{file}"],
    ["verify", "--config", "{file}", "HC1:NCF"],
]


@pytest.mark.parametrize("name", BAD_FILES)
def test_every_bad_file_is_one_error_line_and_exit_2_from_every_command(tmp_path, capsys, name):
    path = tmp_path / "kiosk.toml"
    path.write_bytes(BAD_FILES[name])
    for command in COMMANDS + [["status", "--config", str(tmp_path)]]:  # a folder, not a file
        argv = [a.format(file=path, out=tmp_path / "out.jsonl") for a in command]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.splitlines()
        errors = [line for line in err if line.startswith("kiosk: error: ")]
        assert len(errors) == 1, (argv, err)
        if command[0] == "check-config":  # it lists each problem (with its key path) before
            assert all(line.startswith(f"{path}: ") for line in err[:-1]) and err[-1] == errors[0], err
        else:
            assert err == errors, (argv, err)
        assert "unexpected" not in errors[0] and "Traceback" not in errors[0]
        assert len(errors[0]) < 400 and "\x1b" not in errors[0]


@pytest.mark.parametrize("key, section, value", [
    ("open_seconds", "gate", "nan"), ("interval_seconds", "sync", "nan"),
    ("disk_alarm_percent", "journal", "nan"), ("open_seconds", "gate", "inf"),
    ("reentry_minutes", "policy", "-inf"), ("fps", "camera", "+nan"),
])
def test_non_finite_numbers_are_refused_with_their_key_path(tmp_path, key, section, value):
    path = tmp_path / "kiosk.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    assert config_mod.check(path) == [f"{section}.{key}: must be a finite number, got {value.lstrip('+')}"]
