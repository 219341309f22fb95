"""`kiosk selftest` against simulated parts: a replay camera, gpiozero's mock pins, pygame on
SDL's dummy video driver, a real journal file and a real city server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from kiosk import config as config_mod
from kiosk.cli import main
from kiosk.commands import selftest
from kiosk.commands.selftest import FAIL, PASS, SKIP, run_checks


def write_frame(folder: Path, value: int) -> Path:
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    image = np.full((240, 320), value, dtype=np.uint8)
    image[60:180, 80:240] = max(0, value - 60)  # something in view, not a flat field
    assert cv2.imwrite(str(folder / "frame.png"), image)
    return folder


def write_config(tmp_path: Path, *, frame_value: int = 150, sync: dict | None = None,
                 screen: str = "pygame", accept: tuple[str, ...] | None = None,
                 kiosk_id: str = "kiosk-01") -> Path:
    frames = write_frame(tmp_path / "frames", frame_value)
    lines = [
        "[kiosk]",
        f'id = "{kiosk_id}"',
        f'state_dir = "{tmp_path / "state"}"',
        'clock = "assume_synchronised"',
        "[camera]",
        'driver = "replay"',
        f'replay_path = "{frames}"',
        "replay_realtime = false",
        "[gate]",
        'pin_factory = "mock"',
        "[screen]",
        f'driver = "{screen}"',
        "fullscreen = false",
        "width = 480",
        "height = 320",
    ]
    if accept is not None:
        lines += ["[policy]", "accept_formats = [" + ", ".join(f'"{f}"' for f in accept) + "]"]
    if sync:
        lines.append("[sync]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in sync.items()]
    path = tmp_path / "kiosk.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture
def mock_pins(mock_factory):
    """The MockFactory the selftest's gate gets, kept for inspecting pin histories."""
    return mock_factory


@pytest.fixture
def city(tmp_path):
    from city.embedded import start_server

    with start_server(tmp_path / "city") as server:
        yield server


def by_name(results) -> dict:
    return {r.check: r for r in results}


def high_then_low(pin) -> bool:
    states = [s.state for s in pin.states]
    return states[-2:] == [True, False] and states.count(True) == 1


def test_every_check_passes_on_a_healthy_simulated_kiosk(tmp_path, mock_pins, city):
    from kiosk.journal import Journal
    from sync.client import Uploader

    enrollment = city.enroll("kiosk-selftest", state_dir=tmp_path / "state")
    city.store.publish("trust-list", {"certificates": []})
    path = write_config(tmp_path, sync=enrollment.sync_section(), kiosk_id="kiosk-selftest")
    config = config_mod.load(path)
    journal = Journal(config.journal_path)
    uploader = Uploader(config, journal)
    assert uploader.fetch_bundles()["trust-list"] == "version 1"  # what kiosk-sync would have done
    uploader.close()
    journal.close()

    results = by_name(run_checks(config, service_active=False))

    assert {name: r.result for name, r in results.items()} == {
        "camera": PASS, "decoder": PASS, "relay": PASS, "leds": PASS, "buzzer": PASS, "screen": PASS,
        "clock": SKIP,  # assume_synchronised: a lab setting, not a pass
        "disk": PASS, "journal": PASS, "city": PASS, "trust-list": PASS,
    }, results
    assert results["camera"].detail.startswith("replay: 320x240, brightness ")
    assert "(320x240)" in results["decoder"].detail  # the code was drawn on a frame of the camera's size
    assert results["screen"].detail == "pygame (dummy): 480x320"
    assert "integrity ok, 0 entries" in results["journal"].detail
    assert "token accepted" in results["city"].detail
    assert results["trust-list"].detail.startswith("version 1")
    # one click of the relay, each LED once, the buzzer once; everything off at the end
    for pin in (17, 27, 22, 23):
        assert high_then_low(mock_pins.pin(pin)), (pin, mock_pins.pin(pin).states)
    # the city heard the heartbeat
    (kiosk,) = [k for k in city.store.kiosks() if k["id"] == "kiosk-selftest"]
    assert kiosk["heartbeat"]["kiosk_id"] == "kiosk-selftest"


def test_failures_exit_1_with_a_table(tmp_path, mock_pins, capsys):
    # a camera with the lens cap on, and a city server that is not there
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    token.chmod(0o600)
    path = write_config(tmp_path, frame_value=0, screen="none", accept=("pc-covid", "cccd"),
                        sync={"url": f"http://127.0.0.1:{port}", "token_file": str(token),
                              "timeout_seconds": 2.0})
    assert main(["selftest", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert rows["camera"] == FAIL and "too dark" in out
    assert rows["city"] == FAIL and f"cannot reach http://127.0.0.1:{port}" in out
    assert rows["screen"] == SKIP and rows["trust-list"] == SKIP and rows["journal"] == SKIP
    assert rows["decoder"] == PASS and rows["relay"] == PASS
    assert out.splitlines()[-1].startswith("selftest: ") and "2 failed" in out.splitlines()[-1]


def test_a_refused_token_fails_the_city_check(tmp_path, mock_pins, city):
    enrollment = city.enroll("kiosk-selftest", state_dir=tmp_path / "state")
    sync = enrollment.sync_section()
    Path(sync["token_file"]).write_text("not-the-token\n")
    config = config_mod.load(write_config(tmp_path, sync=sync, screen="none"))
    result = by_name(run_checks(config, skip={"camera", "decoder", "relay", "leds", "buzzer"},
                                service_active=False))["city"]
    assert result.result == FAIL
    assert "refused the kiosk's token" in result.detail


def test_a_damaged_journal_fails(tmp_path, mock_pins):
    config = config_mod.load(write_config(tmp_path, screen="none", accept=("cccd",)))
    config.journal_path.parent.mkdir(parents=True)
    config.journal_path.write_bytes(b"this is not a database" * 100)
    result = by_name(run_checks(config, skip={"camera", "decoder", "relay", "leds", "buzzer"},
                                service_active=False))["journal"]
    assert result.result == FAIL and "journal.db" in result.detail


def test_hardware_is_left_alone_while_the_service_runs(tmp_path, mock_pins):
    config = config_mod.load(write_config(tmp_path, accept=("cccd",)))
    results = by_name(run_checks(config, service_active=True))
    for name in ("camera", "relay", "leds", "buzzer", "screen"):
        assert results[name].result == SKIP and "systemctl stop kiosk" in results[name].detail
    assert results["decoder"].result == PASS
    for pin in (17, 27, 22, 23):  # not one pin touched
        assert all(not s.state for s in mock_pins.pin(pin).states)


def test_json_and_skip(tmp_path, mock_pins, capsys):
    path = write_config(tmp_path, screen="none", accept=("cccd",))
    code = main(["selftest", "--config", str(path), "--json", "--skip", "relay", "--skip", "buzzer"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True
    checks = {c["check"]: c for c in doc["checks"]}
    assert list(checks) == selftest.CHECK_NAMES
    assert checks["relay"]["result"] == SKIP and checks["relay"]["detail"] == "left out (--skip)"
    assert all(not s.state for s in mock_pins.pin(17).states)  # the relay never clicked


def test_unknown_check_is_a_usage_error(tmp_path, capsys):
    path = write_config(tmp_path, screen="none")
    assert main(["selftest", "--config", str(path), "--skip", "kettle"]) == 2
    assert "unknown check kettle" in capsys.readouterr().err
