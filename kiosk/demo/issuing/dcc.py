"""A test/demo EU DCC issuer: a CSCA, a DSC it signs, and ``HC1:`` certificates.

    issuer = DccIssuer.create(alg="ES256", eku=None, country="VN")
    text = issuer.vaccination(Identity("Van An Nguyen", "1990-01-02"), dt.date(2022, 1, 5))
    issuer.write_trust_list(path)        # a kiosk trust list holding this issuer's DSC

Every knob a test needs to produce each status is a keyword: ``iat``/``exp``, where the key id
goes (``kid_in``), the CWT tag, no compression, an extended key usage limiting the DSC.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.model import COVID19, DETECTED, NAAT, NOT_DETECTED, RAT, Identity

# extended key usages a DSC can be limited to (the current EU arc)
EKU_OIDS = {
    "test": "1.3.6.1.4.1.1847.2021.1.1",
    "vaccination": "1.3.6.1.4.1.1847.2021.1.2",
    "recovery": "1.3.6.1.4.1.1847.2021.1.3",
}
ALGS = {"ES256": -7, "ES384": -35, "PS256": -37}
TEST_TYPES = {"pcr": NAAT, "rat": RAT}


def icao_transliteration(name: str) -> str:
    """Upper-case A-Z with ``<`` for anything else, as the DCC's ``fnt``/``gnt`` fields want."""
    folded = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).upper()
    return "".join(c if "A" <= c <= "Z" else "<" for c in ascii_only)[:80]


@dataclass
class DccIssuer:
    alg: str
    country: str
    csca_key: Any
    csca_der: bytes
    dsc_key: Any
    dsc_der: bytes
    eku: tuple[str, ...] | None

    @classmethod
    def create(
        cls,
        alg: str = "ES256",
        eku: str | list[str] | tuple[str, ...] | None = None,
        country: str = "VN",
        valid_from: dt.datetime | None = None,
        valid_days: int = 730,
        der_quirk: str | None = None,
    ) -> "DccIssuer":
        """New CSCA and DSC keys. ``eku`` limits the DSC to "test", "vaccination" and/or
        "recovery", or names dotted OIDs (None: no extended key usage, so the DSC may sign any
        type). ``der_quirk`` reproduces DER that strict parsers refuse, as some national DSCs
        have it: "encoded-default" (BasicConstraints with cA FALSE written out) or "empty-eku"
        (an extended key usage extension listing nothing)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import Encoding
        from cryptography.x509.oid import NameOID

        if alg not in ALGS:
            raise ValueError(f"alg must be one of {', '.join(ALGS)}")
        ekus = (eku,) if isinstance(eku, str) else tuple(eku) if eku is not None else None
        for usage in ekus or ():
            if usage not in EKU_OIDS and "." not in usage:
                raise ValueError(f"eku must be among {', '.join(EKU_OIDS)} or a dotted OID")
        if der_quirk not in (None, "encoded-default", "empty-eku"):
            raise ValueError("der_quirk must be None, 'encoded-default' or 'empty-eku'")

        def new_key() -> Any:
            if alg.startswith("PS"):
                return rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return ec.generate_private_key(ec.SECP384R1() if alg == "ES384" else ec.SECP256R1())

        start = valid_from or dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
        end = start + dt.timedelta(days=valid_days)

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country[:2] or "VN"),
                              x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        csca_key = new_key()
        csca = (
            x509.CertificateBuilder()
            .subject_name(name(f"Test CSCA {country}"))
            .issuer_name(name(f"Test CSCA {country}"))
            .public_key(csca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=valid_days * 2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(csca_key, hashes.SHA256())
        )
        dsc_key = new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"Test DSC {country}"))
            .issuer_name(csca.subject)
            .public_key(dsc_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )
        if ekus:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([x509.ObjectIdentifier(EKU_OIDS.get(u, u)) for u in ekus]), critical=False
            )
        if der_quirk == "encoded-default":  # SEQUENCE { BOOLEAN FALSE }: DER forbids the default
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x30\x03\x01\x01\x00"),
                critical=True,
            )
        elif der_quirk == "empty-eku":  # SEQUENCE {}: at least one purpose is required
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE, b"\x30\x00"), critical=False
            )
        dsc = builder.sign(csca_key, hashes.SHA256())
        return cls(alg, country, csca_key, csca.public_bytes(Encoding.DER), dsc_key,
                   dsc.public_bytes(Encoding.DER), ekus)

    @property
    def kid(self) -> bytes:
        """The EU key id: the first 8 bytes of the SHA-256 of the DSC's DER."""
        return hashlib.sha256(self.dsc_der).digest()[:8]

    # --- trust ----------------------------------------------------------------------------

    def trust_entry(self) -> dict:
        """This DSC as a trust list entry (the EU gateway's field names)."""
        return {
            "kid": base64.b64encode(self.kid).decode(),
            "country": self.country,
            "certificateType": "DSC",
            "rawData": base64.b64encode(self.dsc_der).decode(),
        }

    def trust_list(self, revocations: dict[str, list[str]] | None = None) -> dict:
        doc: dict = {"version": 1, "dscs": [self.trust_entry()]}
        if revocations:
            doc["dcc_revocations"] = revocations
        return doc

    def write_trust_list(self, path: str | Path, revocations: dict[str, list[str]] | None = None) -> Path:
        """Write a kiosk trust list holding this issuer's DSC (and optional revocations)."""
        path = Path(path)
        path.write_text(json.dumps(self.trust_list(revocations), indent=2), encoding="utf-8")
        return path

    def write_dsc(self, path: str | Path, pem: bool = True) -> Path:
        """Write the DSC alone, for ``kiosk verify --dsc``."""
        path = Path(path)
        if pem:
            body = base64.encodebytes(self.dsc_der).decode().replace("\n", "")
            lines = [body[i : i + 64] for i in range(0, len(body), 64)]
            path.write_text("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n")
        else:
            path.write_bytes(self.dsc_der)
        return path

    # --- certificates ---------------------------------------------------------------------

    def _uci(self, kind: str, identity: Identity, extra: str) -> str:
        digest = hashlib.sha256(f"{kind}|{identity.name}|{identity.birth_date}|{extra}|{self.kid.hex()}".encode())
        return f"URN:UVCI:01:{self.country}:{digest.hexdigest()[:24].upper()}"

    def _dcc(self, identity: Identity, key: str, entry: dict) -> dict:
        given, _, family = identity.name.strip().rpartition(" ")
        nam = {"fn": family, "fnt": icao_transliteration(family)}
        if given:
            nam.update(gn=given, gnt=icao_transliteration(given))
        return {"ver": "1.3.0", "nam": nam, "dob": identity.birth_date, key: [entry]}

    def vaccination(self, identity: Identity, date: dt.date, dose: int = 2, doses: int = 2,
                    product: str = "EU/1/20/1528", **options: Any) -> str:
        entry = {
            "tg": COVID19, "vp": "J07BX03", "mp": product, "ma": "ORG-100030215",
            "dn": dose, "sd": doses, "dt": date.isoformat(), "co": self.country,
            "is": f"Ministry of Health ({self.country})",
            "ci": options.pop("uci", None) or self._uci("v", identity, f"{date}{dose}"),
        }
        return self.sign_dcc(self._dcc(identity, "v", entry), **options)

    def test(self, identity: Identity, sampled_at: dt.datetime, test_type: str = "pcr",
             detected: bool = False, **options: Any) -> str:
        entry = {
            "tg": COVID19, "tt": TEST_TYPES.get(test_type, test_type),
            "sc": sampled_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tr": DETECTED if detected else NOT_DETECTED, "tc": "Test centre 1",
            "co": self.country, "is": f"Ministry of Health ({self.country})",
            "ci": options.pop("uci", None) or self._uci("t", identity, sampled_at.isoformat()),
        }
        if test_type == "rat":
            entry["ma"] = "1232"
        else:
            entry["nm"] = "Roche LightCycler qPCR"
        return self.sign_dcc(self._dcc(identity, "t", entry), **options)

    def recovery(self, identity: Identity, first_positive: dt.date, valid_from: dt.date | None = None,
                 valid_until: dt.date | None = None, **options: Any) -> str:
        valid_from = valid_from or first_positive + dt.timedelta(days=11)
        valid_until = valid_until or first_positive + dt.timedelta(days=180)
        entry = {
            "tg": COVID19, "fr": first_positive.isoformat(), "df": valid_from.isoformat(),
            "du": valid_until.isoformat(), "co": self.country,
            "is": f"Ministry of Health ({self.country})",
            "ci": options.pop("uci", None) or self._uci("r", identity, first_positive.isoformat()),
        }
        return self.sign_dcc(self._dcc(identity, "r", entry), **options)

    def sign_dcc(
        self,
        dcc: Any,
        *,
        iat: dt.datetime | None = None,
        exp: dt.datetime | None = None,
        kid_in: str = "protected",
        cwt_tag: bool = False,
        compress: bool = True,
        claims: dict | None = None,
    ) -> str:
        """Sign any DCC content (valid or not: tests use this for schema violations).

        ``kid_in``: "protected", "unprotected" or "none"; ``claims`` replaces the CWT claims
        entirely (its -260 included) when a test needs a broken CWT.
        """
        import cbor2

        iat = iat or dt.datetime.now(dt.timezone.utc)
        exp = exp or iat + dt.timedelta(days=365)
        if claims is None:
            claims = {1: self.country, 6: int(iat.timestamp()), 4: int(exp.timestamp()), -260: {1: dcc}}
        payload = cbor2.dumps(claims)
        return self.sign_payload(payload, kid_in=kid_in, cwt_tag=cwt_tag, compress=compress)

    def sign_payload(self, payload: bytes, *, kid_in: str = "protected", cwt_tag: bool = False,
                     compress: bool = True) -> str:
        """COSE_Sign1 over ``payload`` -> ``HC1:`` text."""
        import base45
        import cbor2

        protected: dict = {1: ALGS[self.alg]}
        unprotected: dict = {}
        if kid_in == "protected":
            protected[4] = self.kid
        elif kid_in == "unprotected":
            unprotected[4] = self.kid
        elif kid_in != "none":
            raise ValueError("kid_in must be protected, unprotected or none")
        protected_raw = cbor2.dumps(protected)
        to_sign = cbor2.dumps(["Signature1", protected_raw, b"", payload])
        signature = self.raw_signature(to_sign)
        message: Any = cbor2.CBORTag(18, [protected_raw, unprotected, payload, signature])
        if cwt_tag:
            message = cbor2.CBORTag(61, message)
        cose = cbor2.dumps(message)
        body = zlib.compress(cose, 9) if compress else cose
        return "HC1:" + base45.b45encode(body).decode()

    def raw_signature(self, data: bytes) -> bytes:
        """A COSE signature: raw ``r||s`` for ECDSA, RSA-PSS with salt = digest length."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if self.alg.startswith("ES"):
            digest = hashes.SHA384() if self.alg == "ES384" else hashes.SHA256()
            r, s = decode_dss_signature(self.dsc_key.sign(data, ec.ECDSA(digest)))
            size = (self.dsc_key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return self.dsc_key.sign(
            data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), hashes.SHA256()
        )
