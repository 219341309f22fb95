"""EU Digital COVID Certificate (and Vietnam's vaccine passport, which is one): ``HC1:`` codes.

The status is the technical verification only. The chain, each step with its limit::

    "HC1:" prefix -> base45 -> zlib (capped; uncompressed payloads refused) -> COSE_Sign1
    (CBOR tag 18, optionally inside CWT tag 61, or untagged) -> CWT claims (1 iss, 4 exp,
    6 iat, -260 hcert {1: DCC}) -> the DCC's content, read leniently

then, in the order of the EU reference verifier apps, so that when several things are wrong the
visitor hears the most fundamental one:

1. ``malformed``: only what cannot be read: not base45, zlib or CBOR, not a COSE_Sign1, no
   health-certificate claim, a DCC, an entry list or an entry that is not what it must be;
2. ``unknown_issuer``: no trusted DSC under the key id (the protected header's ``kid``; the
   unprotected one only when the protected header has none);
3. ``invalid_signature``: the algorithm (from the protected header only; from the unprotected
   one only when the protected header is empty altogether) missing, unknown, or not
   fitting the DSC's key (ES256 on P-256, ES384 on P-384, ES512 on P-521, PS256/384/512 on RSA);
   or the signature, ES* as raw ``r||s``, PS* RSA-PSS with salt length = digest length (any salt
   accepted as a fallback for DSCs that got it wrong), does not verify;
4. ``wrong_key_usage``: the DSC's extended key usage does not cover the certificate's type
   (kiosk.trust: no EKU signs every type; an EKU signs only the types whose OIDs it lists);
5. ``revoked``: a hash of the UCI, of country + UCI or of the signature is on the list;
6. ``expired`` / ``not_yet_valid``: the CWT ``exp``, and the DSC's own validity period,
   judged at ``context.now``.

A certificate that passes them is ``valid``, whatever its fields look like. Its payload is
checked against the official schema of its ``ver`` (kiosk.formats.dcc_schema) and the problems
travel with the credential (``schema_problems``), reported, never refused; the health rules
(kiosk.rules) refuse a record that lacks what they need, each with its reason.

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
import struct
from dataclasses import dataclass
from typing import Any

from kiosk.formats.base import MAX_DECOMPRESSED, MAX_NESTING, MAX_QR_TEXT, Refused, VerifyContext
from kiosk.model import EU_DCC_CODES, Credential, Identity, Kind, Recovery, Status, TestResult, Vaccination

PREFIX = "HC1:"

# COSE algorithm ids we verify
ES256, ES384, ES512 = -7, -35, -36
PS256, PS384, PS512 = -37, -38, -39
ALG_NAMES = {ES256: "ES256", ES384: "ES384", ES512: "ES512", PS256: "PS256", PS384: "PS384", PS512: "PS512"}

# CWT claim keys and COSE header labels
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_HCERT = 1, 4, 6, -260
HEADER_ALG, HEADER_KID = 1, 4

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

    def prepare(self) -> None:
        """Compile the schema check of every shipped version now, not at the first visitor."""
        from kiosk.formats import dcc_schema

        dcc_schema.prepare()


FORMAT = EuDcc()


# --- decoding -----------------------------------------------------------------------------


def unwrap(text: str) -> bytes:
    """``HC1:`` text -> the COSE bytes (base45, then zlib with a size cap). Raises Refused."""
    if len(text) > MAX_QR_TEXT:
        raise _malformed("text longer than any QR code")
    if not text.startswith(PREFIX):
        raise Refused(Status.UNSUPPORTED, "not an HC1: code")
    try:
        compressed = b45decode(text[len(PREFIX):])
    except ValueError:
        raise _malformed("base45 decoding failed") from None
    return inflate(compressed)


B45_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUES = bytes.maketrans(B45_ALPHABET, bytes(range(45)))


def b45decode(text: str) -> bytes:
    """Base45 (RFC 9285) to bytes; ValueError for anything else.

    What the ``base45`` package's ``b45decode`` does (a test holds the two to the same answer on
    every input), with the per-character work done by ``bytes.translate`` and ``struct`` in C:
    three times faster, and it is a third of verifying a certificate.
    """
    try:
        raw = text.rstrip("\n").encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("invalid base45") from None
    if raw.translate(None, B45_ALPHABET):  # a character outside the alphabet
        raise ValueError("invalid base45")
    values = raw.translate(_B45_VALUES)
    size, rest = len(values), len(values) % 3
    if rest == 1:
        raise ValueError("invalid base45")
    full = size - rest
    words = [a + 45 * b + 2025 * c for a, b, c in zip(values[0:full:3], values[1:full:3], values[2:full:3])]
    try:
        out = struct.pack(f">{len(words)}H", *words)  # a group over 0xFFFF is an error
    except struct.error:
        raise ValueError("invalid base45") from None
    if rest == 2:
        last = values[-2] + 45 * values[-1]
        if last > 0xFF:
            raise ValueError("invalid base45")
        out += bytes((last,))
    return out


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
# Read leniently: the status is the technical verification only. A field that is missing, empty
# or unreadable becomes None (or "") in the evidence, the official schema of the payload's version
# lists what departs from it (kiosk.formats.dcc_schema), and the rules refuse what they cannot
# judge. Malformed is only what cannot be read at all: a payload, an entry list or an entry
# that is not what it must be.

MAX_CODE = 80  # longer is no code of any value set; not reported
ENTRY_KINDS = {"v": Kind.VACCINATION, "t": Kind.TEST, "r": Kind.RECOVERY}
# value set of each coded field of an entry, by entry kind
CODED = {
    "v": (("tg", "disease-agent-targeted"), ("vp", "vaccine-prophylaxis"), ("mp", "vaccine-medicinal-product"),
          ("ma", "vaccine-mah-manf")),
    "t": (("tg", "disease-agent-targeted"), ("tt", "test-type"), ("tr", "test-result"), ("ma", "test-manf")),
    "r": (("tg", "disease-agent-targeted"),),
}


def _text(entry: Any, key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def _date(value: Any) -> dt.date | None:
    """A complete date (``2021-05-12``, or the date of a date-time); else None."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    """An RFC 3339 date-time; early issuers wrote it as CBOR tag 0 (text) or 1 (epoch)."""
    import cbor2

    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        try:
            return _epoch(value.value, "date-time")
        except Refused:
            return None
    if isinstance(value, cbor2.CBORTag) and value.tag == 0:
        value = value.value
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _epoch(value: Any, what: str) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed(f"{what} is not a number")
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _malformed(f"{what} is out of range") from None


def _count(value: Any) -> int | None:
    """A dose count: a whole number of at least 1 (a 0 cannot be judged); else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        return None
    return value


def _evidence(key: str, entry: dict) -> Any:
    """One v/t/r entry as the model's evidence."""
    if key == "v":
        return Vaccination(
            date=_date(entry.get("dt")), dose_number=_count(entry.get("dn")), series_doses=_count(entry.get("sd")),
            product=_text(entry, "mp"), disease=_text(entry, "tg"), country=_text(entry, "co"), coding=EU_DCC_CODES,
        )
    if key == "t":
        return TestResult(
            sampled_at=_datetime(entry.get("sc")), result=_text(entry, "tr"), test_type=_text(entry, "tt"),
            disease=_text(entry, "tg"), country=_text(entry, "co"),
        )
    return Recovery(
        first_positive=_date(entry.get("fr")), valid_from=_date(entry.get("df")), valid_until=_date(entry.get("du")),
        disease=_text(entry, "tg"), country=_text(entry, "co"),
    )


def _identity(dcc: dict) -> Identity | None:
    nam = dcc.get("nam")
    nam = nam if hasattr(nam, "get") else {}
    given = _text(nam, "gn") or _text(nam, "gnt")
    family = _text(nam, "fn") or _text(nam, "fnt")
    name = f"{given} {family}".strip()
    # the birth date as the schema shapes it (a year, year-month or full date, ASCII digits only:
    # Python's \d matches other scripts' digits too), else none; the schema check reports it
    dob = dcc.get("dob")
    dob = dob.strip() if isinstance(dob, str) else ""
    return Identity(name=name, birth_date=dob if _DOB.fullmatch(dob) else "", document="") if name else None


@dataclass(frozen=True)
class Content:
    """What a DCC holds, read leniently (see parse_dcc)."""

    kinds: tuple[Kind, ...]  # the entry kinds present, in v, t, r order (one, unless it breaks the schema)
    identity: Identity | None
    evidence: tuple
    entries: tuple[dict, ...]
    codes: tuple[tuple[str, str, str], ...]

    @property
    def kind(self) -> Kind:
        return self.kinds[0] if self.kinds else Kind.UNKNOWN


def parse_dcc(dcc: Any) -> Content:
    """The DCC's content. Refused (malformed) only if it cannot be read: the DCC, an entry list
    (``v``, ``t``, ``r``; ``null`` counts as absent, as early issuers wrote it) or an entry that is
    not what it must be. No field is required here: the schema reports, the rules decide."""
    if not hasattr(dcc, "get"):
        raise _malformed("DCC is not a map")
    kinds, evidence, entries, codes = [], [], [], []
    for key, kind in ENTRY_KINDS.items():
        listed = dcc.get(key)
        if listed is None:
            continue
        if not isinstance(listed, (list, tuple)):
            raise _malformed(f"DCC field {key} is not a list of entries")
        kinds.append(kind)
        for index, entry in enumerate(listed):
            if not hasattr(entry, "get"):
                raise _malformed(f"DCC field {key} holds something that is not an entry")
            entries.append(entry)
            evidence.append(_evidence(key, entry))
            codes += [(f"$.{key}[{index}].{field}", value_set, entry[field]) for field, value_set in CODED[key]
                      if isinstance(entry.get(field), str) and 0 < len(entry[field]) <= MAX_CODE]
    return Content(tuple(kinds), _identity(dcc), tuple(evidence), tuple(entries), tuple(codes))


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

    if not alg_fits_key(alg, public_key):
        return False
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
    hashes = {"SIGNATURE": hashlib.sha256(signed_part).digest()[:16]}
    if uci:  # a certificate without a UCI can be revoked by its signature only
        hashes["UCI"] = hashlib.sha256(uci.encode()).digest()[:16]
        hashes["COUNTRYCODEUCI"] = hashlib.sha256((country + uci).encode()).digest()[:16]
    return hashes


# --- the whole chain ----------------------------------------------------------------------


def _claim_time(claims: dict, key: int, name: str) -> dt.datetime | None:
    value = claims.get(key)
    return None if value is None else _epoch(value, f"CWT claim {name}")


# the key each ECDSA algorithm needs (RFC 9053): the curve fixes the hash and the signature size
CURVES = {ES256: "secp256r1", ES384: "secp384r1", ES512: "secp521r1"}


def alg_fits_key(alg: int, public_key: Any) -> bool:
    """ES256 needs a P-256 key, ES384 P-384, ES512 P-521; PS256/384/512 an RSA key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if alg in CURVES:
        return isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == CURVES[alg]
    return alg in (PS256, PS384, PS512) and isinstance(public_key, rsa.RSAPublicKey)


def _verify(text: str, context: VerifyContext) -> Credential:
    from kiosk.formats import dcc_schema

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
    dcc = hcert[1]
    content = parse_dcc(dcc)
    schema_version, problems = dcc_schema.check(dcc)
    entries = content.entries
    # the issuer is logged: only a country code is taken from the (possibly unsigned) content
    countries = [iss] + [e.get("co") for e in entries[:1]]
    issuer = next((c for c in countries if isinstance(c, str) and _COUNTRY.match(c)), "")

    def judged(status: Status, detail: str = "") -> Credential:
        return Credential(FORMAT.id, status, kind=content.kind, identity=content.identity, evidence=content.evidence,
                          issuer=issuer, detail=detail, schema_version=schema_version, schema_problems=problems,
                          codes=content.codes)

    # COSE headers as the DCC specification says: the key id from the protected header, the
    # unprotected one only when the protected has none; the algorithm from the protected header
    # only, never overridden or supplied by the unprotected one. One exception, which the EU's
    # conformance cases count valid (common CO20): a protected header holding nothing, as early
    # issuers sent, has both in the unprotected header. It cannot weaken anything: the
    # algorithm must still fit the key (below), and the key fixes curve and hash.
    kid = protected.get(HEADER_KID, unprotected.get(HEADER_KID))
    alg = protected.get(HEADER_ALG) if protected else unprotected.get(HEADER_ALG)
    if not isinstance(kid, bytes) or not kid:
        return judged(Status.UNKNOWN_ISSUER, "no key id in the COSE headers")
    dscs = context.trust.dscs_for(kid)
    if not dscs:
        return judged(Status.UNKNOWN_ISSUER, f"no trusted DSC with key id {kid.hex()[:32]}")
    if alg is None:
        return judged(Status.INVALID_SIGNATURE, "no signature algorithm in the protected header")
    if alg not in ALG_NAMES:
        return judged(Status.INVALID_SIGNATURE, f"signature algorithm {str(alg)[:12]} not supported")
    fitting = [d for d in dscs if alg_fits_key(alg, d.public_key)]
    if not fitting:
        return judged(Status.INVALID_SIGNATURE, f"{ALG_NAMES[alg]} does not fit the DSC's key")
    signed = sig_structure(protected_raw, payload)
    signer = next((d for d in fitting if verify_signature(d.public_key, alg, signed, signature)), None)
    if signer is None:
        return judged(Status.INVALID_SIGNATURE, f"{ALG_NAMES[alg]} signature does not verify")
    refused_kinds = [k.value for k in content.kinds if not signer.may_sign(k.value)]
    if refused_kinds:
        allowed = ", ".join(sorted(signer.usages or ())) or "no certificate type"
        return judged(Status.WRONG_KEY_USAGE, f"DSC may sign {allowed}, not {', '.join(refused_kinds)}")
    hashes = [h for e in entries or ({},) for h in revocation_hashes(_text(e, "ci"), _text(e, "co"), signature, alg).values()]
    if context.trust.is_revoked(hashes):
        return judged(Status.REVOKED, "on the DCC revocation list")
    now = context.now
    # exp is the last valid instant (the EU cases judge a certificate valid at exactly exp);
    # iat after now is tolerated: see the module docstring
    if expires is not None and now > expires:
        return judged(Status.EXPIRED, "certificate expired (CWT exp)")
    if signer.not_after is not None and now > signer.not_after:
        return judged(Status.EXPIRED, "signing certificate (DSC) expired")
    if signer.not_before is not None and now < signer.not_before:
        return judged(Status.NOT_YET_VALID, "signing certificate (DSC) not yet valid")
    return judged(Status.VALID)
