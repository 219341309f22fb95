"""``kiosk verify``: the DESIGN contract (options, exit codes, --json shape), in-process and as a process."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.demo.issuing.shc import ShcTestIssuer, chunk, vaccinated
from kiosk.model import Identity

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata" / "shc"
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
AT = NOW.isoformat()
PERSON = Identity("Nguyen Van An", "1990-05-01")
REQUIRED_KEYS = {"format", "status", "decision", "reason", "detail", "kind", "issuer", "masked_name"}


@pytest.fixture(scope="module")
def shc(tmp_path_factory):
    """A published SHC issuer with one revoked rid; returns (issuer, --shc-issuer value)."""
    issuer = ShcTestIssuer("https://issuer.example/shc")
    issuer.revoke("gone")
    directory = issuer.publish(tmp_path_factory.mktemp("issuer"))
    return issuer, f"{issuer.iss}={directory}"


def good_card(issuer, last_dose: dt.date = dt.date(2024, 3, 1), **kw) -> str:
    return vaccinated(issuer, PERSON, last_dose, nbf=NOW - dt.timedelta(days=10), **kw)


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["verify", "--json", *argv])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1, (out, err)
    return code, json.loads(lines[0])


def test_valid_card_passes_in_checkin_mode(shc, capsys):
    issuer, trusted = shc
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", AT, good_card(issuer))
    assert code == 0
    assert REQUIRED_KEYS <= out.keys()
    assert (out["format"], out["status"], out["decision"], out["reason"]) == ("shc", "valid", "pass", "checked_in")
    assert (out["kind"], out["issuer"], out["masked_name"]) == ("vaccination", issuer.iss, "NVA 1990")
    assert out["message"]["vi"] and out["message"]["en"]


def test_output_holds_no_personal_data(shc, capsys):
    issuer, trusted = shc
    for extra in ([], ["--json"]):
        assert main(["verify", *extra, "--shc-issuer", trusted, "--at", AT, good_card(issuer)]) == 0
        out, err = capsys.readouterr()
        for secret in ("Nguyen", "Van An", "1990-05-01", "05-01"):
            assert secret not in out + err


def test_refused_cards_exit_1(shc, capsys):
    issuer, trusted = shc
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", AT, good_card(issuer, rid="gone"))
    assert (code, out["status"], out["decision"], out["reason"]) == (1, "revoked", "fail", "revoked")
    code, out = run_json(capsys, "--at", AT, good_card(issuer))  # issuer not trusted
    assert (code, out["status"], out["reason"]) == (1, "unknown_issuer", "unknown_issuer")
    code, out = run_json(capsys, "--at", AT, "hello world")
    assert (code, out["format"], out["status"]) == (1, "unknown", "unsupported")


def test_health_mode_from_config(shc, tmp_path, capsys):
    issuer, _ = shc
    directory = tmp_path / "issuers" / "example"
    issuer.publish(directory)
    config = tmp_path / "kiosk.toml"
    # the issuer's dir is relative to the config file's folder
    config.write_text(
        '[policy]\nmode = "health"\n\n[[trust.shc_issuers]]\n'
        f'iss = "{issuer.iss}"\ndir = "issuers/example"\n'
    )
    code, out = run_json(capsys, "--config", str(config), "--at", AT, good_card(issuer))
    assert (code, out["decision"], out["reason"]) == (0, "pass", "vaccinated")
    code, out = run_json(capsys, "--config", str(config), "--at", AT, good_card(issuer, last_dose=dt.date(2024, 5, 25)))
    assert (code, out["decision"], out["reason"]) == (1, "fail", "vaccination_too_recent")
    code, out = run_json(capsys, "--config", str(config), "--at", AT, "001090000001|NGUYEN VAN AN|01051990|1|AB12CD34|")
    assert (code, out["format"], out["reason"]) == (1, "pc-covid", "health_certificate_required")


def test_at_forms(shc, capsys):
    issuer, trusted = shc
    card = good_card(issuer)
    for given, expected in [
        ("2024-06-01", "2024-06-01T00:00:00+00:00"),
        ("2024-06-01T12:00:00", "2024-06-01T12:00:00+00:00"),
        ("2024-06-01T19:00:00+07:00", "2024-06-01T19:00:00+07:00"),
        ("2024-06-01T12:00:00Z", "2024-06-01T12:00:00+00:00"),
    ]:
        code, out = run_json(capsys, "--shc-issuer", trusted, "--at", given, card)
        assert (code, out["at"]) == (0, expected)
    # judged at the instant given: before the card was issued it is not valid yet
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", "2024-01-01", card)
    assert (code, out["status"]) == (1, "not_yet_valid")


def test_stdin(shc, capsys, monkeypatch):
    issuer, trusted = shc
    monkeypatch.setattr(sys, "stdin", io.StringIO(good_card(issuer) + "\n"))
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", AT, "-")
    assert (code, out["status"]) == (0, "valid")


def test_image(shc, tmp_path, capsys):
    import segno

    issuer, trusted = shc
    png = tmp_path / "card.png"
    segno.make(good_card(issuer), error="m").save(png, scale=4, border=4)
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", AT, "--image", str(png))
    assert (code, out["status"], out["decision"]) == (0, "valid", "pass")


def test_image_with_all_chunks_of_a_card(shc, tmp_path, capsys):
    import cv2
    import numpy as np

    from kiosk.demo.visitors import qr_matrix

    issuer, trusted = shc
    tiles = []
    for part in chunk(good_card(issuer), 3):
        modules = np.where(qr_matrix(part), 0, 255).astype(np.uint8)
        tiles.append(cv2.resize(modules, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST))
    height = max(t.shape[0] for t in tiles)
    sheet = np.hstack([cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=255)
                       for t in tiles])
    cv2.imwrite(str(tmp_path / "sheet.png"), sheet)
    code, out = run_json(capsys, "--shc-issuer", trusted, "--at", AT, "--image", str(tmp_path / "sheet.png"))
    assert (code, out["status"]) == (0, "valid")


def test_dsc_option_trusts_one_certificate(tmp_path, capsys):
    from kiosk.demo.issuing.dcc import DccIssuer

    dcc = DccIssuer.create(valid_from=NOW - dt.timedelta(days=100))
    text = dcc.vaccination(PERSON, dt.date(2024, 3, 1), iat=NOW - dt.timedelta(days=10))
    for pem in (True, False):
        cert = dcc.write_dsc(tmp_path / f"dsc{int(pem)}", pem=pem)
        code, out = run_json(capsys, "--dsc", str(cert), "--at", AT, text)
        assert (code, out["format"], out["status"], out["decision"]) == (0, "eu-dcc", "valid", "pass")
    code, out = run_json(capsys, "--at", AT, text)
    assert (code, out["status"]) == (1, "unknown_issuer")


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no payload
        ["--image", "x.png", "payload"],  # two payloads
        ["--at", "yesterday", "shc:/00"],
        ["--shc-issuer", "no-equals-sign", "shc:/00"],
        ["--shc-issuer", "https://x.example=/nonexistent/dir", "shc:/00"],
        ["--dsc", "/nonexistent/cert.pem", "shc:/00"],
        ["--trust-list", "/nonexistent/list.json", "shc:/00"],
        ["--config", "/nonexistent/kiosk.toml", "shc:/00"],
        ["--image", "/nonexistent/card.png"],
    ],
)
def test_bad_usage_exits_2(argv, capsys):
    assert main(["verify", *argv]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith("kiosk: error:") and len(err.strip().splitlines()) == 1


def test_bad_config_and_unreadable_image_exit_2(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[policy]\nmode = "sometimes"\n')
    assert main(["verify", "--config", str(config), "shc:/00"]) == 2
    not_an_image = tmp_path / "note.png"
    not_an_image.write_text("not a picture")
    assert main(["verify", "--image", str(not_an_image)]) == 2
    blank = tmp_path / "blank.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(blank), np.full((200, 200), 255, np.uint8))
    assert main(["verify", "--image", str(blank)]) == 2
    assert "no QR code" in capsys.readouterr().err


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"SMART Health Card examples not found at {TESTDATA}")
def test_spec_examples_as_a_process():
    """Once through a real process, as an admin would run it; prints the wall time (no assertion on it)."""
    trusted = f"https://spec.smarthealth.cards/examples/issuer={TESTDATA / 'issuer'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for n, status, code in [(0, "valid", 0), (1, "valid", 0), (3, "revoked", 1)]:
        text = (TESTDATA / f"example-{n:02d}-f-qr-code-numeric-value-0.txt").read_text().strip()
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "kiosk", "verify", "--shc-issuer", trusted, "--at", "2023-07-01", "--json", text],
            capture_output=True, text=True, env=env, timeout=60,
        )
        elapsed = time.perf_counter() - start
        assert done.returncode == code, done.stderr
        out = json.loads(done.stdout)
        assert (out["format"], out["status"]) == ("shc", status)
        print(f"example {n:02d}: {status} in {elapsed * 1000:.0f} ms wall")


def test_verify_path_imports_no_heavy_modules(shc):
    issuer, trusted = shc
    code = (
        "import sys; from kiosk.cli import main; "
        f"rc = main(['verify', '--shc-issuer', {trusted!r}, '--at', {AT!r}, {good_card(issuer)!r}]); "
        "heavy = sorted(m for m in ('cv2', 'pygame', 'requests', 'httpx', 'numpy', 'zxingcpp') if m in sys.modules); "
        "print('HEAVY', heavy, rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr


# --------------------------------------------------------------------------- text from the code is escaped
# Issue 14, item 9: an untrusted SMART Health Card (no valid signature needed) chooses its `iss`;
# printed raw, it could clear the terminal and print a green "pass".
HOSTILE = "https://x.example/\x1b[2J\x1b[1;32mPASS\x1b[0m \u202eevil\x9b31m\r\n\u2028\x7f\U000e0041"
TERMINAL_ACTS_ON = ("\x1b", "\x9b", "\u202e", "\r", "\u2028", "\x7f", "\U000e0041")


def test_a_hostile_issuer_is_printed_escaped(capsys):
    card = vaccinated(ShcTestIssuer(HOSTILE), PERSON, dt.date(2024, 3, 1), nbf=NOW - dt.timedelta(days=10))
    assert main(["verify", "--at", AT, card]) == 1
    out = capsys.readouterr().out
    assert [c for c in TERMINAL_ACTS_ON if c in out] == []
    assert out.count("\n") == 3  # its own lines only: the code's line breaks cannot add one
    assert "issuer https://x.example/\\x1b[2J\\x1b[1;32mPASS\\x1b[0m \\u202eevil\\x9b31m\\x0d\\x0a" in out

    assert main(["verify", "--json", "--at", AT, card]) == 1
    out = capsys.readouterr().out
    assert [c for c in TERMINAL_ACTS_ON if c in out] == [] and out.count("\n") == 1
    assert json.loads(out)["issuer"] == HOSTILE  # the JSON still says exactly what the code holds


def test_decode_prints_a_codes_text_escaped(tmp_path, capsys):
    import segno

    text = "CCCD\x1b[2J\x1b[32mPASS\x9b0m\u202e|\r\nforged line"
    path = tmp_path / "hostile.png"
    segno.make_qr(text, error="m", encoding="utf-8").save(str(path), scale=6, border=4)
    assert main(["decode", str(path)]) == 0
    out = capsys.readouterr().out
    assert [c for c in TERMINAL_ACTS_ON if c in out] == [] and out.count("\n") == 1
    assert "CCCD\\x1b[2J\\x1b[32mPASS\\x9b0m\\u202e|\\x0d\\x0aforged line" in out
    assert main(["decode", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert [c for c in TERMINAL_ACTS_ON if c in out] == [] and out.count("\n") == 1
    assert json.loads(out)["codes"] == [text]
