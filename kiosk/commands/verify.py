"""Recognise, verify and decide one credential, exactly as the gate would.

The payload is the QR text itself (PAYLOAD), read from stdin (-, the trailing newline removed),
or decoded from an image (--image FILE, the first QR code in it; a full set of chunked SMART
Health Card codes in one image is joined). Whom to trust comes from the config's [trust] section
plus --trust-list, --dsc and --shc-issuer; the decision from the config's [policy] (without
--config: checkin mode, which admits any valid credential).

Exit status: 0 pass, 1 fail, 2 bad usage, bad config or an unreadable file.
With --json: one object with format, status, decision, reason, detail, kind, issuer,
masked_name (initials and birth year, never the full name or birth date), flags, message, at,
schema_version and schema_problems (EU DCC: the official schema of the payload's version, and each
problem as a path and a message, never a value from the certificate: reported, not refused), and
codes (each coded field's path, value set, code and display name from the EU value sets).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli import UsageError
from sync.printable import json_line, shown
from kiosk.errors import TrustError

if TYPE_CHECKING:
    import argparse

    from kiosk.config import Config
    from kiosk.model import Credential, Decision
    from sync.trust import TrustStore


def add_arguments(parser: "argparse.ArgumentParser") -> None:
    parser.add_argument("--config", metavar="FILE", help="config file for [policy] and [trust] (default: built-in defaults)")
    parser.add_argument("--trust-list", metavar="FILE", action="append", default=[], help="trust the DSCs in this trust list (JSON)")
    parser.add_argument("--dsc", metavar="CERT", action="append", default=[], help="trust one signing certificate (PEM or DER); repeatable")
    parser.add_argument(
        "--shc-issuer",
        metavar="URL=DIR",
        action="append",
        default=[],
        help="trust a SMART Health Card issuer whose .well-known/jwks.json (and crl/) lie under DIR; repeatable",
    )
    parser.add_argument("--at", metavar="TIME", help="ISO 8601 instant to judge validity at (default: now; date-only or no offset = UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the QR text, or - to read it from stdin")
    source.add_argument("--image", metavar="FILE", help="decode the QR code in this image")


def parse_instant(text: str) -> dt.datetime:
    """``--at``: an ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        instant = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at {text!r}: not an ISO 8601 date or date-time") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def read_payload(args: "argparse.Namespace") -> str:
    if args.image:
        return _payload_from_image(args.image)
    if args.payload == "-":
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return args.payload


def _payload_from_image(path: str) -> str:
    from kiosk.decode import Decoder, read_image

    if not Path(path).is_file():
        raise UsageError(f"--image {path}: no such file")
    try:
        image = read_image(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--image {exc}") from None
    texts = [code.text for code in Decoder().decode(image)]
    if not texts:
        raise UsageError(f"--image {path}: no QR code found")
    if len(texts) > 1:
        from kiosk.formats.shc import assemble_chunks

        joined = assemble_chunks(texts)
        if joined:
            return joined
    return texts[0]


def build_trust(config: "Config", args: "argparse.Namespace") -> "TrustStore":
    """What the gate trusts under this config (its files, else the city's last good bundles),
    then the command line's additions; TrustError if unusable."""
    from kiosk.app import load_trust
    from kiosk.shc_issuers import add_shc_issuer, parse_cli_issuer

    store = load_trust(config)
    for path in args.trust_list:
        store.add_trust_list(path)
    for path in args.dsc:
        store.add_dsc_file(path)
    for spec in args.shc_issuer:
        url, directory = parse_cli_issuer(spec)
        add_shc_issuer(store, url, directory)
    return store


def verify_text(text: str, config: "Config", trust: "TrustStore", now: dt.datetime) -> tuple["Credential", "Decision"]:
    """Recognise, verify and decide one QR text, as the loop would with a synchronised clock."""
    from kiosk import formats
    from kiosk.formats.base import VerifyContext
    from kiosk.policy import Policy

    credential = formats.verify(text, VerifyContext(now=now, trust=trust))
    decision = Policy(config.policy).decide(credential, now=now, clock_synchronised=True)
    return credential, decision


def report(credential: "Credential", decision: "Decision", now: dt.datetime, value_sets=None) -> dict:
    """What the command prints: no personal data beyond the masked name the guard may see.
    Coded fields get their display names from ``value_sets`` (default: the shipped ones)."""
    from kiosk.reasons import message
    from kiosk.valuesets import shipped

    value_sets = value_sets if value_sets is not None else shipped()
    text = message(decision.reason)
    return {
        "format": credential.format,
        "status": credential.status.value,
        "decision": decision.decision,
        "reason": decision.reason,
        "detail": credential.detail,
        "kind": credential.kind.value,
        "issuer": credential.issuer,
        "masked_name": credential.identity.masked() if credential.identity else "",
        "flags": list(decision.flags),
        "message": {"vi": text.vi, "en": text.en},
        "at": now.isoformat(),
        "schema_version": credential.schema_version,
        "schema_problems": [problem.to_json() for problem in credential.schema_problems],
        "codes": [{"path": path, "value_set": name, "code": code, "display": value_sets.display(name, code)}
                  for path, name, code in credential.codes],
    }


def run(args: "argparse.Namespace") -> int:
    from kiosk import config as config_module

    now = parse_instant(args.at) if args.at else dt.datetime.now(dt.UTC)
    from kiosk.app import apply_city_rules

    config = apply_city_rules(config_module.load(args.config)) if args.config else config_module.Config()
    try:
        trust = build_trust(config, args)
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    text = read_payload(args)
    credential, decision = verify_text(text, config, trust, now)
    out = report(credential, decision, now, config.policy.value_sets)
    # the issuer, the detail and the holder's initials come from the QR code: anyone's to write, so
    # escaped (an escape sequence could clear the screen and print a green "pass")
    if args.json:
        print(json_line(out))
    else:
        print(shown(f"{out['decision']}: {out['reason']} ({out['message']['vi']} / {out['message']['en']})"))
        facts = [f"format {out['format']}", f"status {out['status']}", f"kind {out['kind']}"]
        if out["issuer"]:
            facts.append(f"issuer {out['issuer']}")
        if out["masked_name"]:
            facts.append(f"holder {out['masked_name']}")
        print(shown("  " + ", ".join(facts)))
        if out["detail"]:
            print(shown(f"  detail: {out['detail']}"))
        if out["flags"]:
            print(shown(f"  flags: {', '.join(out['flags'])}"))
        for problem in out["schema_problems"]:
            print(shown(f"  schema {out['schema_version']}: {problem['path']} {problem['message']}"))
    return 0 if decision.passed else 1
