"""Benchmark: in-process verification of each format, beside a bare signature check, and
``kiosk verify`` start-up time.

    python benchmarks/verify.py [--runs N] [--startup-runs N]

For each format in ``CASES`` it times the whole ``kiosk.formats.verify`` (recognise, decode,
check the signature, parse the content, and for EU DCCs check the payload against the official
schema of its version) next to a bare ``cryptography`` verification of the very same signature
over the same bytes, so the overhead of everything but the mathematics is visible, with their
ratio (the target for an ES256 EU DCC: at most 3x) and the schema check's own time. Then it times ``python -m kiosk verify`` end to end in fresh processes (what a user or
a script pays per call), beside a bare ``python -c pass``.

Adding a format is one entry in ``CASES``: a name and a function returning a :class:`Prepared`.
Figures are printed, never asserted: timing depends on the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder comes first on sys.path, and its sync.py would hide the protocol
# package sync/ that the kiosk imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import datetime as dt
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from kiosk.formats.base import VerifyContext
from kiosk.model import Identity

NOW = dt.datetime(2022, 6, 1, 12, tzinfo=dt.timezone.utc)
PERSON = Identity("Van An Nguyen", "1990-01-02")


@dataclass
class Prepared:
    text: str  # the QR text
    context: VerifyContext  # whom to trust, when
    bare: Callable[[], None] | None  # the same signature checked with cryptography alone
    cli_args: list[str]  # trust arguments for `kiosk verify` (files written to the workdir)
    schema: Callable[[], object] | None = None  # the payload's schema check alone, if the format has one


def _dcc(alg: str, workdir: Path) -> Prepared:
    import cbor2
    import base45
    import zlib
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from kiosk.formats.eu_dcc import sig_structure
    from kiosk.demo.issuing.dcc import DccIssuer
    from sync.trust import TrustStore

    issuer = DccIssuer.create(alg=alg)
    text = issuer.vaccination(PERSON, dt.date(2022, 5, 1), iat=NOW - dt.timedelta(days=5))
    store = TrustStore()
    dsc = store.add_dsc(issuer.dsc_der)
    message = cbor2.loads(zlib.decompress(base45.b45decode(text[4:]))).value
    signed = sig_structure(message[0], message[2])
    signature = message[3]
    key = dsc.public_key
    if alg == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))

        def bare() -> None:
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    else:
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)

        def bare() -> None:
            key.verify(signature, signed, pss, hashes.SHA256())

    cert = issuer.write_dsc(workdir / f"dsc-{alg}.pem")
    from kiosk.formats import dcc_schema

    dcc = cbor2.loads(message[2])[-260][1]
    return Prepared(text, VerifyContext(now=NOW, trust=store), bare, ["--dsc", str(cert)],
                    lambda: dcc_schema.check(dcc))


def _shc(workdir: Path) -> Prepared:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from kiosk.formats.shc import numeric_to_jws
    from kiosk.demo.issuing.shc import ShcTestIssuer, vaccinated
    from kiosk.shc_issuers import add_shc_issuer
    from sync.trust import TrustStore

    issuer = ShcTestIssuer("https://issuer.example/shc")
    directory = issuer.publish(workdir / "shc-issuer")
    store = TrustStore()
    add_shc_issuer(store, issuer.iss, directory)
    text = vaccinated(issuer, PERSON, dt.date(2022, 5, 1), nbf=NOW - dt.timedelta(days=5))
    header, payload, signature = numeric_to_jws(text[5:]).split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signed, key = f"{header}.{payload}".encode(), issuer.key.public_key()

    def bare() -> None:
        key.verify(der, signed, ec.ECDSA(hashes.SHA256()))

    return Prepared(text, VerifyContext(now=NOW, trust=store), bare, ["--shc-issuer", f"{issuer.iss}={directory}"])


def _identity(text: str) -> Callable[[Path], Prepared]:
    """An unsigned identity code: well-formedness only, so there is no signature to set beside it."""
    return lambda workdir: Prepared(text, VerifyContext(now=NOW), None, [])


# name -> preparation; one line per format (or per algorithm of a format)
CASES: dict[str, Callable[[Path], Prepared]] = {
    "eu-dcc ES256": lambda workdir: _dcc("ES256", workdir),
    "eu-dcc PS256": lambda workdir: _dcc("PS256", workdir),
    "shc ES256": _shc,
    "pc-covid": _identity("0010******56|NGUYEN VAN AN|01/01/1990|1|3f2a9c01ab|"),
    "cccd": _identity("001090123456|012345678|Nguyễn Văn An|01011990|Nam|Phường Bến Nghé, Quận 1|15042021"),
}


def _time_us(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and 95th percentile of one call, in microseconds."""
    for _ in range(min(20, runs)):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def _time_process_ms(argv: list[str], runs: int) -> tuple[float, int]:
    samples, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="verifications timed per format")
    parser.add_argument("--startup-runs", type=int, default=10, help="kiosk verify processes timed")
    args = parser.parse_args()

    from kiosk import formats

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepared = {name: make(workdir) for name, make in CASES.items()}

        print(f"in-process, {args.runs} runs each (median / p95, microseconds); 'x bare' = kiosk verify's median")
        print("over the bare signature check's; 'schema' = the EU DCC schema check alone (part of kiosk verify)")
        print(f"{'format':<16} {'status':<8} {'kiosk verify':>20} {'bare signature':>20} {'overhead':>9} "
              f"{'x bare':>7} {'schema':>8}")
        for name, case in prepared.items():
            credential = formats.verify(case.text, case.context)
            full = _time_us(lambda: formats.verify(case.text, case.context), args.runs)
            bare = _time_us(case.bare, args.runs) if case.bare else None
            schema = _time_us(case.schema, args.runs) if case.schema else None
            bare_text = f"{bare[0]:9.1f} / {bare[1]:8.1f}" if bare else f"{'-':>20}"
            overhead = f"{full[0] - bare[0]:8.1f}" if bare else f"{'-':>9}"
            ratio = f"{full[0] / bare[0]:6.2f}x" if bare else f"{'-':>7}"
            schema_text = f"{schema[0]:8.1f}" if schema else f"{'-':>8}"
            print(f"{name:<16} {credential.status.value:<8} {full[0]:9.1f} / {full[1]:8.1f} {bare_text} {overhead} "
                  f"{ratio} {schema_text}")

        print(f"\nstart-up, {args.startup_runs} fresh processes each (median wall time, ms)")
        baseline, _ = _time_process_ms([sys.executable, "-c", "pass"], args.startup_runs)
        print(f"{'python -c pass':<40} {baseline:8.1f}")
        help_ms, _ = _time_process_ms([sys.executable, "-m", "kiosk", "verify", "--help"], args.startup_runs)
        print(f"{'kiosk verify --help':<40} {help_ms:8.1f}")
        at = NOW.isoformat()
        for name, case in prepared.items():
            argv = [sys.executable, "-m", "kiosk", "verify", *case.cli_args, "--at", at, "--json", case.text]
            ms, code = _time_process_ms(argv, args.startup_runs)
            print(f"{'kiosk verify (' + name + ')':<40} {ms:8.1f}   exit {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
