"""install.sh and the systemd units: shellcheck, idempotent --root installs, unit contents, verify.

A real install needs root, apt and systemd; ``--root DIR`` lays out the same files under a
temporary folder, which is what these tests inspect.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk.config import CameraSection

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "install.sh"
UNITS = REPO / "systemd"
VENV_KIOSK = "/opt/kiosk/venv/bin/kiosk"
UNIT_DIR = "usr/local/lib/systemd/system"

needs_example = pytest.mark.skipif(
    not (REPO / "config.example.toml").is_file(), reason="config.example.toml is not in the checkout yet"
)


def run_install(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    if check and result.returncode != 0:
        raise AssertionError(f"install.sh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, mode, mtime and content digest (or link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            detail = os.readlink(path)
        elif path.is_file():
            detail = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            detail = ""
        out[str(path.relative_to(root))] = (stat.filemode(st.st_mode), st.st_mtime_ns, detail)
    return out


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file; keys may repeat (Environment=, DeviceAllow=)."""
    section = ""
    entries = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(path: Path, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


def seconds(value: str) -> float:
    """A systemd time span such as 15s, 1min 30s, 500ms."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


# --------------------------------------------------------------------------- the script


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (apt-get install shellcheck)")
def test_shellcheck_clean():
    result = subprocess.run(["shellcheck", "--severity=style", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_and_bad_usage():
    assert "--uninstall" in run_install("--help").stdout
    bad = run_install("--frobnicate", check=False)
    assert bad.returncode == 2 and "unknown option: --frobnicate" in bad.stderr
    purge = run_install("--purge", check=False)
    assert purge.returncode == 2 and "--purge only goes with --uninstall" in purge.stderr


@needs_example
def test_root_install_lays_out_everything(tmp_path):
    root = tmp_path / "root"
    out = run_install("--root", str(root)).stdout

    config = root / "etc/kiosk/config.toml"
    assert config.read_bytes() == (REPO / "config.example.toml").read_bytes()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    token = root / "etc/kiosk/token"
    assert token.is_file() and token.stat().st_size == 0
    assert stat.S_IMODE(token.stat().st_mode) == 0o600  # kiosk:kiosk: the service user alone reads it
    assert "chown kiosk:kiosk /etc/kiosk/token" in out
    assert stat.S_IMODE((root / "etc/kiosk").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "var/lib/kiosk").stat().st_mode) == 0o750
    for unit in ("kiosk.service", "kiosk-sync.service"):
        installed = root / UNIT_DIR / unit
        assert installed.read_bytes() == (UNITS / unit).read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644
        if shutil.which("systemctl"):
            link = root / "etc/systemd/system/multi-user.target.wants" / unit
            assert os.readlink(link) == f"/{UNIT_DIR}/{unit}"
    assert (root / "opt/kiosk/share/config.example.toml").is_file()
    wrapper = root / "usr/local/bin/kiosk"  # `sudo kiosk selftest` runs as the service user
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o755
    assert f"exec runuser -u kiosk -- {VENV_KIOSK}" in wrapper.read_text()
    if shutil.which("shellcheck"):
        checked = subprocess.run(["shellcheck", str(wrapper)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout

    # what needs the live system is recorded, not done
    assert "would (not under --root): apt-get install" in out
    assert "useradd --system kiosk" in out and "groupadd --system" in out
    assert "chown root:kiosk /etc/kiosk/config.toml" in out
    assert f"-m venv --system-site-packages {Path(VENV_KIOSK).parent.parent}" in out
    assert "systemctl daemon-reload && systemctl enable --now" in out
    assert not (root / "opt/kiosk/venv").exists()


@needs_example
def test_second_run_changes_nothing_and_keeps_an_edited_config(tmp_path):
    root = tmp_path / "root"
    run_install("--root", str(root))
    config = root / "etc/kiosk/config.toml"
    edited = config.read_text() + '\n# the venue\'s own edit\n'
    config.write_text(edited)
    os.chmod(config, 0o640)
    (root / "etc/kiosk/token").write_text("secret-token\n")
    before = snapshot(root)

    second = run_install("--root", str(root)).stdout
    assert "nothing to do" in second
    assert snapshot(root) == before
    assert config.read_text() == edited
    assert (root / "etc/kiosk/token").read_text() == "secret-token\n"


@needs_example
def test_rerun_repairs_modes_and_replaces_stale_units(tmp_path):
    root = tmp_path / "root"
    run_install("--root", str(root))
    config = root / "etc/kiosk/config.toml"
    os.chmod(config, 0o644)  # someone made it world-readable
    unit = root / UNIT_DIR / "kiosk.service"
    unit.write_text("[Service]\nExecStart=/bin/false\n")
    out = run_install("--root", str(root)).stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert "mode 0640 on /etc/kiosk/config.toml" in out
    assert unit.read_bytes() == (UNITS / "kiosk.service").read_bytes()


@needs_example
def test_uninstall_keeps_data_unless_purge(tmp_path):
    root = tmp_path / "root"
    run_install("--root", str(root))
    (root / "var/lib/kiosk/journal.db").write_bytes(b"entries")
    out = run_install("--uninstall", "--root", str(root)).stdout
    assert "would (not under --root): userdel kiosk" in out
    assert not (root / UNIT_DIR / "kiosk.service").exists()
    assert not (root / "opt/kiosk").exists()
    assert not (root / "usr/local/bin/kiosk").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/kiosk.service").exists()
    assert (root / "var/lib/kiosk/journal.db").read_bytes() == b"entries"
    assert (root / "etc/kiosk/config.toml").is_file()

    run_install("--uninstall", "--purge", "--root", str(root))
    assert not (root / "var/lib/kiosk").exists()
    assert not (root / "etc/kiosk").exists()


@needs_example
@pytest.mark.parametrize(
    "os_release, ok",
    [
        ('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', True),
        ('ID=raspbian\nVERSION_ID="12"\n', True),
        ('ID=ubuntu\nVERSION_ID="22.04"\n', False),
        ('ID=debian\nVERSION_ID="11"\n', False),
    ],
)
def test_checks_the_target_os(tmp_path, os_release, ok):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    result = run_install("--root", str(root), check=False)
    if ok:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "unsupported system" in result.stderr
        assert not (root / "etc/kiosk").exists()
        assert run_install("--root", str(root), "--force", check=False).returncode == 0


def _fake_dev_checkout(tmp_path: Path, stamp_matches: bool) -> Path:
    """A checkout whose .venv has a python (a wrapper around this one) but no pip."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy2(INSTALL, checkout / "install.sh")
    shutil.copy2(REPO / "pyproject.toml", checkout / "pyproject.toml")
    bindir = checkout / ".venv/bin"
    bindir.mkdir(parents=True)
    python = bindir / "python"
    python.write_text(f'#!/bin/sh\nexec "{REPO / ".venv/bin/python"}" "$@"\n')
    python.chmod(0o755)
    digest = hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv/.kiosk-dev").write_text((digest if stamp_matches else "0" * 64) + "\n")
    return checkout


def _dev_packages_present() -> bool:
    if shutil.which("dpkg-query") is None:
        return True
    for pkg in ("python3-venv", "libzbar0", "fonts-dejavu-core", "postgresql"):
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], capture_output=True, text=True
        ).stdout
        if status != "installed":
            return False
    return True


@pytest.mark.skipif(not (REPO / ".venv/bin/python").exists(), reason="no development .venv in the checkout")
@pytest.mark.skipif(not _dev_packages_present(), reason="the --dev apt packages are missing here; the test must not install them")
@pytest.mark.parametrize("stamp_matches", [True, False])
def test_dev_skips_pip_when_nothing_changed(tmp_path, stamp_matches):
    checkout = _fake_dev_checkout(tmp_path, stamp_matches)
    result = subprocess.run(
        ["bash", str(checkout / "install.sh"), "--dev"], capture_output=True, text=True, timeout=60, cwd=checkout
    )
    if stamp_matches:
        assert result.returncode == 0, result.stderr
        assert ".venv is up to date" in result.stdout
    else:
        # pyproject.toml changed since the last --dev: it must run pip (absent in the fake venv)
        assert result.returncode == 1
        assert "pip could not install the kiosk" in result.stderr


# --------------------------------------------------------------------------- the units


def test_kiosk_unit_is_notify_with_a_watchdog():
    unit = UNITS / "kiosk.service"
    assert values(unit, "Type") == ["notify"]
    assert values(unit, "NotifyAccess") == ["main"]
    (watchdog,) = values(unit, "WatchdogSec")
    # the loop's own stall handling (detect, reopen the camera) gets its chance first
    assert seconds(watchdog) > 2 * CameraSection().stall_seconds
    assert values(unit, "Restart") == ["on-failure"]
    assert values(unit, "RestartPreventExitStatus") == ["2"]  # a bad config: restarting cannot help
    assert values(unit, "ExecStart") == [f"{VENV_KIOSK} run --config /etc/kiosk/config.toml"]
    assert values(unit, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values(unit, "User") == ["kiosk"]
    groups = values(unit, "SupplementaryGroups")[0].split()
    assert {"gpio", "video", "render", "input"} <= set(groups)
    # install.sh must create and join exactly these: systemd refuses to start on a missing group
    script = INSTALL.read_text()
    assert f"readonly SERVICE_GROUPS=({' '.join(groups)})" in script


def assert_clock_readable(unit: Path) -> None:
    """adjtimex() tells whether the clock is synchronised (kiosk/clock.py): it must stay allowed."""
    assert values(unit, "ProtectClock") in ([], ["no"])  # ProtectClock=yes forbids adjtimex
    filters = " ".join(values(unit, "SystemCallFilter")).split()
    if filters and not filters[0].startswith("~"):
        # an allow-list: @system-service does not contain @clock, so adjtimex must be named
        assert "adjtimex" in filters and "clock_adjtime" in filters


def test_kiosk_unit_hardening_keeps_devices_reachable():
    unit = UNITS / "kiosk.service"
    for key, value in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "kiosk"),
        ("PrivateDevices", "no"),
        ("DevicePolicy", "closed"),
    ]:
        assert values(unit, key) == [value], key
    allowed = {v.split()[0] for v in values(unit, "DeviceAllow")}
    assert {"char-gpiochip", "char-video4linux", "char-drm", "char-vchiq", "char-input"} <= allowed
    assert_clock_readable(unit)
    # nothing writable but the state folder
    assert values(unit, "ReadWritePaths") == []
    env = dict(v.split("=", 1) for v in values(unit, "Environment"))
    assert env["SDL_VIDEODRIVER"] == "kmsdrm"
    assert env["LG_WD"] == "/var/lib/kiosk" == values(unit, "WorkingDirectory")[0]


def test_sync_unit_waits_for_the_network_and_yields_to_the_gate():
    unit = UNITS / "kiosk-sync.service"
    assert "network-online.target" in values(unit, "After", "Unit")[0].split()
    assert values(unit, "Wants", "Unit") == ["network-online.target"]
    assert values(unit, "ExecStart") == [f"{VENV_KIOSK} sync --config /etc/kiosk/config.toml"]
    assert values(unit, "User") == ["kiosk"]
    assert values(unit, "StateDirectory") == ["kiosk"]
    assert values(unit, "PrivateDevices") == ["yes"]
    assert int(values(unit, "Nice")[0]) > 0
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert values(unit, key) == ["yes"], key
    assert values(unit, "ProtectSystem") == ["strict"]
    assert_clock_readable(unit)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean(tmp_path):
    """`systemd-analyze verify` on the units, with ExecStart pointing at this checkout's kiosk.

    verify insists that the binaries exist; on a machine without a real install /opt/kiosk/venv
    is absent, so the copies point at the development venv's bin/ (real executables: kiosk,
    python); everything else is verified as shipped.
    """
    bindir = REPO / ".venv/bin"
    if not (bindir / "kiosk").exists() or not (bindir / "python").exists():
        pytest.skip("no development venv with the kiosk console script (./install.sh --dev)")
    venv_bin = str(Path(VENV_KIOSK).parent) + "/"
    copies = []
    for unit in ("kiosk.service", "kiosk-sync.service"):
        text = (UNITS / unit).read_text()
        assert VENV_KIOSK in text
        # verify skips commands prefixed '-' (failure ignored): check ExecStopPost= too
        text = text.replace("=-" + venv_bin, "=" + venv_bin)
        copy = tmp_path / unit
        copy.write_text(text.replace(venv_bin, f"{bindir}/"))
        copies.append(str(copy))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stdout + result.stderr


def test_gate_outputs_are_driven_off_after_the_kiosk_ends(tmp_path, mock_factory):
    """ExecStopPost= runs kiosk.release_gate: a relay left energised by a killed process goes off."""
    from kiosk.release_gate import release

    (line,) = values(UNITS / "kiosk.service", "ExecStopPost")
    assert line == "-/opt/kiosk/venv/bin/python -m kiosk.release_gate /etc/kiosk/config.toml"
    config = tmp_path / "kiosk.toml"
    config.write_text('[gate]\npin_factory = "mock"\n')
    for pin in (17, 27, 22, 23):
        mock_factory.pin(pin).drive_high()  # what a process killed mid-open leaves behind
    release(str(config))  # the factory named in the config: the test's mock_factory
    for pin in (17, 27, 22, 23):
        assert mock_factory.pin(pin).state is False, pin
