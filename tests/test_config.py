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
