"""A SMART Health Card issuer for tests and the demo: own EC P-256 key, published JWKS and CRL.

It does what a real issuer does, with a key of its own: publishes ``.well-known/jwks.json`` (and
``.well-known/crl/<kid>.json`` when it has revoked something) into a folder the kiosk trusts with
``--shc-issuer URL=DIR``, and signs FHIR bundles of immunizations or lab tests into ``shc:/``
texts. Lower-level :meth:`ShcTestIssuer.sign` takes any payload and header so that tests can
make every kind of broken card.

    issuer = ShcTestIssuer("https://issuer.example/shc")
    issuer.publish(tmp_path)
    text = issuer.card(Identity("Jane Doe", "1990-05-01"), doses=[Dose(dt.date(2021, 6, 1))] * 2)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.formats.shc import CVX_SYSTEM, HEALTH_CARD_TYPE, LOINC_SYSTEM, SNOMED_SYSTEM, jws_to_numeric
from kiosk.model import Identity

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey


@dataclass(frozen=True)
class Dose:
    """One immunization: a date and a CVX code (207 Moderna, 208 Pfizer, 212 Janssen, ...)."""

    date: dt.date
    cvx: str = "208"


@dataclass(frozen=True)
class LabTest:
    """One SARS-CoV-2 lab result: LOINC 94500-6 is a NAAT (PCR), 94558-4 a rapid antigen test."""

    sampled_at: dt.datetime
    detected: bool = False
    loinc: str = "94500-6"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _epoch(value: dt.datetime | float | None) -> float:
    if value is None:
        return float(int(time.time()))
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.UTC).timestamp()
    return float(value)


class ShcTestIssuer:
    def __init__(self, iss: str = "https://issuer.example/shc", key: "EllipticCurvePrivateKey | None" = None):
        from cryptography.hazmat.primitives.asymmetric import ec

        self.iss = iss
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self._revoked: list[str] = []

    @classmethod
    def from_seed(cls, seed: bytes, iss: str = "https://issuer.example/shc") -> "ShcTestIssuer":
        """The same key for the same seed: demos and fixtures that must be reproducible."""
        from cryptography.hazmat.primitives.asymmetric import ec

        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        secret = int.from_bytes(hashlib.sha256(seed).digest(), "big") % (order - 1) + 1
        return cls(iss, ec.derive_private_key(secret, ec.SECP256R1()))

    # ----------------------------------------------------------------- what the issuer publishes

    def jwk(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        public = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        # the spec's kid: the key's RFC 7638 thumbprint
        kid = b64url(hashlib.sha256(json.dumps(public, separators=(",", ":"), sort_keys=True).encode()).digest())
        return {**public, "kid": kid, "use": "sig", "alg": "ES256"}

    @property
    def kid(self) -> str:
        return self.jwk()["kid"]

    def revoke(self, rid: str, before: dt.datetime | float | None = None) -> None:
        """Revoke ``rid`` (all its cards), or with ``before`` only its cards issued before then."""
        self._revoked.append(rid if before is None else f"{rid}.{int(_epoch(before))}")

    def publish(self, directory: str | Path) -> Path:
        """Write ``.well-known/jwks.json`` (and the CRL if anything is revoked) under ``directory``."""
        well_known = Path(directory) / ".well-known"
        well_known.mkdir(parents=True, exist_ok=True)
        jwk = self.jwk()
        if self._revoked:
            jwk["crlVersion"] = 1
            (well_known / "crl").mkdir(exist_ok=True)
            crl = {"kid": jwk["kid"], "method": "rid", "ctr": 1, "rids": list(self._revoked)}
            (well_known / "crl" / f"{jwk['kid']}.json").write_text(json.dumps(crl, indent=2))
        (well_known / "jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2))
        return Path(directory)

    # ----------------------------------------------------------------- cards

    def payload(
        self,
        identity: Identity,
        doses: Sequence[Dose] = (),
        tests: Sequence[LabTest] = (),
        *,
        nbf: dt.datetime | float | None = None,
        exp: dt.datetime | float | None = None,
        rid: str | None = None,
    ) -> dict:
        """The JWS payload of a health card: ``iss``, ``nbf`` (default now), ``exp``, ``vc``."""
        words = identity.name.split()
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "name": [{"family": words[-1] if words else "", "given": words[:-1]}],
        }
        if identity.birth_date:
            patient["birthDate"] = identity.birth_date
        resources = [patient]
        for dose in doses:
            resources.append(
                {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": CVX_SYSTEM, "code": dose.cvx}]},
                    "patient": {"reference": "resource:0"},
                    "occurrenceDateTime": dose.date.isoformat(),
                    "lotNumber": "TEST0001",
                }
            )
        for test in tests:
            sampled = test.sampled_at if test.sampled_at.tzinfo else test.sampled_at.replace(tzinfo=dt.UTC)
            resources.append(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC_SYSTEM, "code": test.loinc}]},
                    "subject": {"reference": "resource:0"},
                    "effectiveDateTime": sampled.isoformat().replace("+00:00", "Z"),
                    "valueCodeableConcept": {
                        "coding": [{"system": SNOMED_SYSTEM, "code": "260373001" if test.detected else "260415000"}]
                    },
                }
            )
        vc: dict[str, Any] = {
            "type": [HEALTH_CARD_TYPE, "https://smarthealth.cards#immunization" if doses else "https://smarthealth.cards#laboratory"],
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"fullUrl": f"resource:{i}", "resource": r} for i, r in enumerate(resources)],
                },
            },
        }
        if rid:
            vc["rid"] = rid
        payload: dict[str, Any] = {"iss": self.iss, "nbf": _epoch(nbf), "vc": vc}
        if exp is not None:
            payload["exp"] = _epoch(exp)
        return payload

    def sign(self, payload: dict | bytes, header: dict | None = None, *, compress: bool = True) -> str:
        """A compact JWS of ``payload`` (a dict is JSON-encoded, then raw-DEFLATEd unless told not to)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        if compress:
            body = deflate_raw(body)
        header = header if header is not None else {"zip": "DEF", "alg": "ES256", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(body)}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def card(
        self,
        identity: Identity,
        doses: Sequence[Dose] = (),
        tests: Sequence[LabTest] = (),
        *,
        nbf: dt.datetime | float | None = None,
        exp: dt.datetime | float | None = None,
        rid: str | None = None,
    ) -> str:
        """The ``shc:/`` QR text of a signed health card."""
        return jws_to_numeric(self.sign(self.payload(identity, doses, tests, nbf=nbf, exp=exp, rid=rid)))


def chunk(text: str, parts: int) -> list[str]:
    """Split a ``shc:/`` text into the deprecated chunked form ``shc:/C/N/digits`` (for tests)."""
    digits = text[len("shc:/") :]
    pairs = len(digits) // 2
    size = -(-pairs // parts)
    return [f"shc:/{i + 1}/{parts}/{digits[2 * size * i : 2 * size * (i + 1)]}" for i in range(parts)]


def vaccinated(issuer: ShcTestIssuer, identity: Identity, last_dose: dt.date, cvx: str = "208", doses: int = 2, **kw: Any) -> str:
    """A card with ``doses`` doses of ``cvx``, four weeks apart, the last on ``last_dose``."""
    schedule = [Dose(last_dose - dt.timedelta(days=28 * (doses - 1 - i)), cvx) for i in range(doses)]
    return issuer.card(identity, doses=schedule, **kw)
