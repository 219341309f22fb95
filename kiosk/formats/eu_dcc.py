"""EU Digital COVID Certificate (and Vietnam's vaccine passport, which is one): ``HC1:`` codes.

The chain, each step with its limit, each failure a status (never an exception)::

    "HC1:" prefix -> base45 -> zlib (capped; uncompressed payloads refused) -> COSE_Sign1
    (CBOR tag 18, optionally inside CWT tag 61, or untagged) -> CWT claims (1 iss, 4 exp,
    6 iat, -260 hcert {1: DCC}) -> required DCC fields -> health certificate

The order of the checks follows the EU reference verifier apps, so that when several things are
wrong the visitor hears the most fundamental one:

1. ``malformed``: anything that cannot be decoded, including the DCC schema's required fields
   (checked before the signature, as the reference apps do, so that a broken structure is
   reported as broken rather than as a bad signature);
2. ``unknown_issuer``: no trusted DSC under the key id (the protected header's ``kid`` wins;
   the unprotected one is used only when the protected header has none);
3. ``invalid_signature``: ES256/ES384/ES512 (raw ``r||s``) or PS256/PS384/PS512 (RSA-PSS, salt
   length = digest length, any salt accepted as a fallback for DSCs that got it wrong);
4. ``wrong_key_usage``: the DSC's extended key usage does not cover the certificate type;
5. ``revoked``: a hash of the UCI, of country + UCI or of the signature is on the list;
6. ``expired`` / ``not_yet_valid``: the CWT ``exp``, and the DSC's own validity period,
   judged at ``context.now``.

An ``iat`` after ``context.now`` is not a refusal. The signature already proves the issuer made
the certificate, and the DSC's validity bounds when it could. An ``iat`` in the future therefore
means the kiosk's clock is behind, which a Pi without a real-time clock is after every power cut
until NTP has synchronised it. Refusing then would turn away every certificate issued since the
clock's last saved time. (``iat`` must still be a well-formed time, or the code is malformed.)
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from kiosk.formats.base import MAX_DECOMPRESSED, MAX_NESTING, MAX_QR_TEXT, Refused, VerifyContext
from kiosk.model import Credential, Identity, Kind, Recovery, Status, TestResult, Vaccination

PREFIX = "HC1:"

# COSE algorithm ids we verify
ES256, ES384, ES512 = -7, -35, -36
PS256, PS384, PS512 = -37, -38, -39
ALG_NAMES = {ES256: "ES256", ES384: "ES384", ES512: "ES512", PS256: "PS256", PS384: "PS384", PS512: "PS512"}

# CWT claim keys and COSE header labels
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_HCERT = 1, 4, 6, -260
HEADER_ALG, HEADER_KID = 1, 4

TEST_NAAT = "LP6464-4"
TEST_RAT = "LP217198-3"
TEST_DETECTED = "260373001"

# CBOR tags whose built-in decoding (datetimes, bignums, regexes, shared references that can
# make cycles, MIME...) we never want on untrusted input: they stay as plain CBORTag objects.
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 28, 29, 30, 32, 33, 34, 35, 36, 37, 38,
                  52, 54, 100, 256, 258, 260, 261, 1004, 55799)

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")
# the schema's birth date: a year, year-month or full date (some issuers add a time); ASCII digits
# only ([0-9], not \d: Python's \d matches full-width and other scripts' digits too)
_DOB = re.compile(r"([0-9]{4}(-[0-9]{2}){0,2}(T[0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})?)?)?")
_COUNTRY = re.compile(r"^[A-Z]{2,3}\Z")


def _malformed(detail: str) -> Refused:
    return Refused(Status.MALFORMED, detail)


class EuDcc:
    """The ``eu-dcc`` format plug-in."""

    id = "eu-dcc"

    def recognises(self, text: str) -> bool:
        return text.startswith(PREFIX)

    def verify(self, text: str, context: VerifyContext) -> Credential:
        try:
            return _verify(text, context)
        except Refused as refusal:
            return Credential(self.id, refusal.status, detail=refusal.detail)


FORMAT = EuDcc()


# --- decoding -----------------------------------------------------------------------------


def unwrap(text: str) -> bytes:
    """``HC1:`` text -> the COSE bytes (base45, then zlib with a size cap). Raises Refused."""
    if len(text) > MAX_QR_TEXT:
        raise _malformed("text longer than any QR code")
    if not text.startswith(PREFIX):
        raise Refused(Status.UNSUPPORTED, "not an HC1: code")
    import base45

    try:
        compressed = base45.b45decode(text[len(PREFIX):])
    except (ValueError, TypeError):
        raise _malformed("base45 decoding failed") from None
    return inflate(compressed)


def inflate(compressed: bytes) -> bytes:
    """zlib-decompress at most MAX_DECOMPRESSED bytes; refuse uncompressed or truncated data.

    ``decompressobj`` with ``max_length`` stops after the cap, so a bomb costs at most the cap
    in memory and the time to produce it.
    """
    import zlib

    # a zlib stream starts with CMF=0x78 (deflate, 32K window) and a header check; a COSE
    # payload starts with 0xD2 or 0x84: uncompressed certificates are refused, as the EU requires
    if len(compressed) < 2 or compressed[0] & 0x0F != 8 or (compressed[0] << 8 | compressed[1]) % 31:
        raise _malformed("payload is not zlib-compressed")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, MAX_DECOMPRESSED + 1)
    except zlib.error:
        raise _malformed("zlib decompression failed") from None
    if len(out) > MAX_DECOMPRESSED or inflater.unconsumed_tail:
        raise _malformed(f"decompressed payload larger than {MAX_DECOMPRESSED} bytes")
    if not inflater.eof:
        raise _malformed("zlib stream truncated")
    return out


@functools.cache
def _raw_tag_decoders() -> dict:
    import cbor2

    return {tag: (lambda t: lambda value, immutable: cbor2.CBORTag(t, value))(tag) for tag in _SEMANTIC_TAGS}


def _cbor(data: bytes, what: str) -> Any:
    """Decode exactly one CBOR item, with depth, duplicate-key and trailing-byte checks."""
    import io

    import cbor2

    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream,
            max_depth=MAX_NESTING,
            allow_duplicate_keys=False,
            semantic_decoders=_raw_tag_decoders(),
        ).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, MemoryError):
        raise _malformed(f"{what} is not valid CBOR") from None
    if stream.tell() != len(data):
        raise _malformed(f"{what} has bytes after its end")
    return value


def decode_cose(cose: bytes) -> tuple[bytes, dict, dict, bytes, bytes]:
    """COSE_Sign1 bytes -> (protected bytes, protected map, unprotected map, payload, signature)."""
    import cbor2

    obj = _cbor(cose, "COSE message")
    tags = []
    while isinstance(obj, cbor2.CBORTag) and len(tags) < 2:
        tags.append(obj.tag)
        obj = obj.value
    if tags not in ([], [18], [61, 18], [61]):
        raise _malformed("not a COSE_Sign1 message (unexpected CBOR tag)")
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise _malformed("not a COSE_Sign1 message (expected an array of four)")
    protected_raw, unprotected, payload, signature = obj
    if not isinstance(protected_raw, bytes) or not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise _malformed("COSE_Sign1 fields have the wrong types")
    if not hasattr(unprotected, "get"):
        raise _malformed("COSE unprotected header is not a map")
    protected = _cbor(protected_raw, "COSE protected header") if protected_raw else {}
    if not hasattr(protected, "get"):
        raise _malformed("COSE protected header is not a map")
    return protected_raw, dict(protected), dict(unprotected), payload, signature


# --- the DCC content ----------------------------------------------------------------------


def _text(entry: dict, key: str, where: str, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _malformed(f"DCC field {where}.{key} missing or not text")
    return value


def _date(entry: dict, key: str, where: str) -> dt.date:
    value = _text(entry, key, where)
    if not _DATE.match(value):
        raise _malformed(f"DCC field {where}.{key} is not a date")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise _malformed(f"DCC field {where}.{key} is not a date") from None


def _datetime(entry: dict, key: str, where: str) -> dt.datetime:
    """An RFC 3339 date-time; early issuers wrote it as CBOR tag 0 (text) or 1 (epoch)."""
    import cbor2

    value = entry.get(key)
    if isinstance(value, cbor2.CBORTag) and value.tag == 1 and isinstance(value.value, (int, float)):
        return _epoch(value.value, f"DCC field {where}.{key}")
    if isinstance(value, cbor2.CBORTag) and value.tag == 0:
        value = value.value
    if not isinstance(value, str):
        raise _malformed(f"DCC field {where}.{key} missing or not a date-time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(f"DCC field {where}.{key} is not a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _epoch(value: float, what: str) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed(f"{what} is not a number")
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _malformed(f"{what} is out of range") from None


def _int(entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise _malformed(f"DCC field {where}.{key} missing or not a positive whole number")
    return value


MAX_ENTRIES = 16  # early schemas allowed a list of doses; no real certificate holds more


def _entry(kind: str, entry: Any) -> Any:
    """One v/t/r entry, its required fields checked, as the model's evidence."""
    if not hasattr(entry, "get"):
        raise _malformed(f"DCC field {kind} holds something that is not an entry")
    for common in ("tg", "co", "is", "ci"):
        _text(entry, common, kind)
    if kind == "v":
        for required in ("vp", "mp", "ma"):
            _text(entry, required, kind)
        return Vaccination(
            date=_date(entry, "dt", kind),
            dose_number=_int(entry, "dn", kind),
            series_doses=_int(entry, "sd", kind),
            product=entry["mp"],
            disease=entry["tg"],
            country=entry["co"],
        )
    if kind == "t":
        test_type = _text(entry, "tt", kind)
        return TestResult(
            sampled_at=_datetime(entry, "sc", kind),
            detected=_text(entry, "tr", kind) == TEST_DETECTED,
            test_type={TEST_NAAT: "pcr", TEST_RAT: "rat"}.get(test_type, test_type),
            disease=entry["tg"],
            country=entry["co"],
        )
    return Recovery(
        first_positive=_date(entry, "fr", kind),
        valid_from=_date(entry, "df", kind),
        valid_until=_date(entry, "du", kind),
        disease=entry["tg"],
        country=entry["co"],
    )


def parse_dcc(dcc: Any) -> tuple[Kind, Identity, tuple, list]:
    """Check the DCC schema's required fields.

    Returns (kind, identity, evidence, entries). Exactly one of ``v``, ``t``, ``r`` must be
    present (a ``null`` one counts as absent, as early issuers wrote them); it holds one entry,
    or a few in the first schema versions, each becoming one piece of evidence.
    """
    if not hasattr(dcc, "get"):
        raise _malformed("DCC is not a map")
    _text(dcc, "ver", "dcc")
    nam = dcc.get("nam")
    if not hasattr(nam, "get"):
        raise _malformed("DCC field nam missing")
    _text(nam, "fnt", "nam")
    dob = dcc.get("dob")
    if not isinstance(dob, str):
        raise _malformed("DCC field dob missing or not text")
    if not _DOB.fullmatch(dob):
        raise _malformed("DCC field dob is not a date")
    present = [key for key in ("v", "t", "r") if dcc.get(key) is not None]
    if len(present) != 1:
        raise _malformed(f"DCC must hold exactly one of v, t, r (holds {len(present)})")
    key = present[0]
    entries = dcc[key]
    if not isinstance(entries, (list, tuple)) or not 1 <= len(entries) <= MAX_ENTRIES:
        raise _malformed(f"DCC field {key} must be a list of 1 to {MAX_ENTRIES} entries")
    evidence = tuple(_entry(key, entry) for entry in entries)
    kind = {"v": Kind.VACCINATION, "t": Kind.TEST, "r": Kind.RECOVERY}[key]
    given = _text(nam, "gn", "nam", required=False) or _text(nam, "gnt", "nam", required=False)
    family = _text(nam, "fn", "nam", required=False) or nam["fnt"]
    identity = Identity(name=f"{given} {family}".strip(), birth_date=dob, document="")
    return kind, identity, evidence, list(entries)


# --- signatures ---------------------------------------------------------------------------


def sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 section 4.4)."""
    import cbor2

    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def verify_signature(public_key: Any, alg: int, signed: bytes, signature: bytes) -> bool:
    """Check one COSE signature; False for any mismatch of algorithm, key type or bytes."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    digest = {ES256: hashes.SHA256, ES384: hashes.SHA384, ES512: hashes.SHA512,
              PS256: hashes.SHA256, PS384: hashes.SHA384, PS512: hashes.SHA512}[alg]()
    try:
        if alg in (ES256, ES384, ES512):
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return False
            size = (public_key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
            return True
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        for salt in (padding.PSS.DIGEST_LENGTH, padding.PSS.AUTO):
            try:
                public_key.verify(signature, signed, padding.PSS(padding.MGF1(digest), salt), digest)
                return True
            except InvalidSignature:
                continue
        return False
    except (InvalidSignature, ValueError):
        return False


def revocation_hashes(uci: str, country: str, signature: bytes, alg: int) -> dict[str, bytes]:
    """The EU DCC revocation hashes (first 16 bytes of SHA-256) of one certificate.

    UCI: of the UCI as written; COUNTRYCODEUCI: of the issuing country code followed by the UCI;
    SIGNATURE: of the COSE signature, for ECDSA only its ``r`` half (``s`` can be changed by
    anyone holding the certificate without breaking it, ``r`` cannot).
    """
    import hashlib

    signed_part = signature[: len(signature) // 2] if alg in (ES256, ES384, ES512) else signature
    return {
        "UCI": hashlib.sha256(uci.encode()).digest()[:16],
        "COUNTRYCODEUCI": hashlib.sha256((country + uci).encode()).digest()[:16],
        "SIGNATURE": hashlib.sha256(signed_part).digest()[:16],
    }


# --- the whole chain ----------------------------------------------------------------------


def _claim_time(claims: dict, key: int, name: str) -> dt.datetime | None:
    value = claims.get(key)
    return None if value is None else _epoch(value, f"CWT claim {name}")


def _verify(text: str, context: VerifyContext) -> Credential:
    protected_raw, protected, unprotected, payload, signature = decode_cose(unwrap(text))

    claims = _cbor(payload, "CWT payload")
    if not hasattr(claims, "get"):
        raise _malformed("CWT payload is not a map")
    claims = dict(claims)
    hcert = claims.get(CLAIM_HCERT)
    if not hasattr(hcert, "get") or 1 not in hcert:
        raise _malformed("CWT holds no health certificate (claim -260, key 1)")
    expires = _claim_time(claims, CLAIM_EXP, "exp")
    _claim_time(claims, CLAIM_IAT, "iat")  # must be well-formed; not a refusal when ahead of now
    iss = claims.get(CLAIM_ISS)
    kind, identity, evidence, entries = parse_dcc(hcert[1])
    # the issuer is logged: only a country code is taken from the (possibly unsigned) content
    issuer = next((c for c in (iss, entries[0]["co"]) if isinstance(c, str) and _COUNTRY.match(c)), "")

    def refused(status: Status, detail: str) -> Credential:
        return Credential(FORMAT.id, status, kind=kind, identity=identity, evidence=evidence,
                          issuer=issuer, detail=detail)

    # the protected header is authoritative; the unprotected one only fills what it lacks
    kid = protected.get(HEADER_KID, unprotected.get(HEADER_KID))
    alg = protected.get(HEADER_ALG, unprotected.get(HEADER_ALG))
    if not isinstance(kid, bytes) or not kid:
        return refused(Status.UNKNOWN_ISSUER, "no key id in the COSE headers")
    dscs = context.trust.dscs_for(kid)
    if not dscs:
        return refused(Status.UNKNOWN_ISSUER, f"no trusted DSC with key id {kid.hex()[:32]}")
    if alg not in ALG_NAMES:
        return refused(Status.INVALID_SIGNATURE, f"signature algorithm {str(alg)[:12]} not supported")
    signed = sig_structure(protected_raw, payload)
    signer = next((d for d in dscs if verify_signature(d.public_key, alg, signed, signature)), None)
    if signer is None:
        return refused(Status.INVALID_SIGNATURE, f"{ALG_NAMES[alg]} signature does not verify")
    if not signer.may_sign(kind.value):
        allowed = ", ".join(sorted(signer.usages or ()))
        return refused(Status.WRONG_KEY_USAGE, f"DSC may sign {allowed}, not {kind.value}")
    hashes = [h for e in entries for h in revocation_hashes(e["ci"], e["co"], signature, alg).values()]
    if context.trust.is_revoked(hashes):
        return refused(Status.REVOKED, "on the DCC revocation list")
    now = context.now
    # exp is the last valid instant (the EU cases judge a certificate valid at exactly exp);
    # iat after now is tolerated: see the module docstring
    if expires is not None and now > expires:
        return refused(Status.EXPIRED, "certificate expired (CWT exp)")
    if signer.not_after is not None and now > signer.not_after:
        return refused(Status.EXPIRED, "signing certificate (DSC) expired")
    if signer.not_before is not None and now < signer.not_before:
        return refused(Status.NOT_YET_VALID, "signing certificate (DSC) not yet valid")
    return Credential(FORMAT.id, Status.VALID, kind=kind, identity=identity, evidence=evidence, issuer=issuer)
