"""``shc``: SMART Health Cards (``shc:/`` + digit pairs), verified offline.

The QR text is ``shc:/`` followed by two digits per character of a compact JWS (each pair is the
character's code minus 45). The JWS header must say ``alg: ES256``, ``zip: DEF`` and name the
signing key (``kid``); the payload is raw DEFLATE of a JSON object with the issuer URL (``iss``),
``nbf``, optionally ``exp``, and a ``vc`` holding a FHIR bundle and optionally a revocation id
(``rid``). Verification:

1. digits → JWS → header → payload, inflated with a size cap (a QR code is 4 KB; a DEFLATE bomb
   must not get further), JSON parsed with a nesting cap;
2. the issuer must be trusted (``trust.shc_issuers``, see :mod:`kiosk.shc_issuers`) and hold the
   key ``kid``, else ``unknown_issuer``; the ES256 signature (raw ``r || s``) must verify, else
   ``invalid_signature``;
3. ``rid`` in the issuer's revocation list for that key → ``revoked`` (``rid.timestamp`` entries
   revoke only cards whose ``nbf`` is before the timestamp);
4. ``nbf`` later than now (beyond a small clock-skew allowance) → ``not_yet_valid``; ``exp`` past →
   ``expired``;
5. the bundle's Immunization resources become :class:`~kiosk.model.Vaccination` and its SARS-CoV-2
   lab Observations :class:`~kiosk.model.TestResult`; the Patient becomes the identity.

The deprecated chunked form ``shc:/C/N/digits`` (one JWS over N codes) is recognised: a single
chunk is refused as incomplete; :func:`assemble_chunks` joins a full set into one text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import zlib
from collections.abc import Iterable
from typing import Any

from kiosk.formats.base import MAX_DECOMPRESSED, MAX_NESTING, Refused, VerifyContext
from kiosk.model import COVID19, DETECTED, NAAT, NOT_DETECTED, RAT, Credential, Identity, Kind, Status, TestResult, Vaccination

FORMAT_ID = "shc"
PREFIX = "shc:/"
HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"

# A card issued a moment "in the future" is usually a kiosk clock a little behind the issuer's.
NBF_SKEW_SECONDS = 300

_CHUNK = re.compile(r"([0-9]+)/([0-9]+)/([0-9]*)")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# byte 0xAB (digits "AB" read as hex) -> the character 10*A + B + 45; 0 = not a valid pair
_PAIR_TABLE = bytes(
    (10 * (byte >> 4) + (byte & 15) + 45) if (byte >> 4) < 10 and (byte & 15) < 10 and 10 * (byte >> 4) + (byte & 15) <= 77 else 0
    for byte in range(256)
)

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
LOINC_SYSTEM = "http://loinc.org"
SNOMED_SYSTEM = "http://snomed.info/sct"

# Doses in a complete primary series, by CVX code; any other COVID-19 CVX code counts 2.
CVX_SERIES_DOSES = {"212": 1}  # Janssen (Johnson & Johnson) is a single dose

# SARS-CoV-2 qualitative lab tests (LOINC), from the SMART Health Cards COVID-19 lab value set:
# nucleic acid amplification and rapid antigen, reported as the EU test-type codes NAAT and RAT.
LOINC_TEST_TYPES = {
    **dict.fromkeys(
        (
            "94309-2", "94306-8", "94500-6", "94502-2", "94531-1", "94533-7", "94534-5", "94559-2",
            "94565-9", "94639-2", "94640-0", "94756-4", "94757-2", "94759-8", "94760-6", "94845-5",
            "95406-5", "95409-9", "95425-5", "96094-8", "96120-1",
        ),
        NAAT,
    ),
    **dict.fromkeys(("94558-4", "95209-3", "96119-3", "97097-0"), RAT),
}
SNOMED_DETECTED = {"260373001", "10828004"}  # Detected, Positive
SNOMED_NOT_DETECTED = {"260415000", "260385009"}  # Not detected, Negative
FINAL_OBSERVATION = {"final", "amended", "corrected"}
MAX_NAME = 200


# --------------------------------------------------------------------------- QR text


def numeric_to_jws(digits: str) -> str:
    """``shc:/`` digits → compact JWS: each pair of digits is one character, its code minus 45."""
    if not digits or len(digits) % 2 or not digits.isascii() or not digits.isdigit():
        raise Refused(Status.MALFORMED, "shc:/ must be followed by an even number of digits")
    # read the pairs as hex bytes (0x00-0x99) and map each through a table, all in C
    chars = bytes.fromhex(digits).translate(_PAIR_TABLE)
    if 0 in chars:  # 45 + 77 = 'z', the highest character of a compact JWS
        raise Refused(Status.MALFORMED, "a digit pair is out of range (00-77)")
    return chars.decode("ascii")


def jws_to_numeric(jws: str) -> str:
    """Compact JWS → ``shc:/`` text (the encoding issuers use)."""
    return PREFIX + "".join(f"{ord(ch) - 45:02d}" for ch in jws)


def _chunk(text: str) -> tuple[int, int, str] | None:
    match = _CHUNK.fullmatch(text[len(PREFIX) :])
    if not match:
        return None
    return int(match[1]), int(match[2]), match[3]


def assemble_chunks(texts: Iterable[str]) -> str | None:
    """Join the chunks of one chunked card (``shc:/C/N/digits``, any order) into one ``shc:/`` text.

    Returns None unless the texts are exactly a full set 1..N of one card (a chunk seen twice
    with the same digits is fine, so a loop can feed every code it has read).
    """
    parts: dict[int, str] = {}
    total = None
    for text in texts:
        if not text[: len(PREFIX)].lower() == PREFIX:
            return None
        chunk = _chunk(text)
        if chunk is None:
            return None
        index, count, digits = chunk
        if count < 1 or not 1 <= index <= count or (total is not None and count != total):
            return None
        if parts.get(index, digits) != digits:
            return None
        total = count
        parts[index] = digits
    if total is None or len(parts) != total:
        return None
    return PREFIX + "".join(parts[i] for i in range(1, total + 1))


# --------------------------------------------------------------------------- JWS


def _b64url(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise Refused(Status.MALFORMED, f"JWS {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise Refused(Status.MALFORMED, f"JWS {what} is not base64url") from None


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, level by level, without recursion."""
    deepest, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level and deepest <= MAX_NESTING:
        deepest += 1
        below = []
        for item in level:
            below.extend(c for c in (item.values() if isinstance(item, dict) else item) if isinstance(c, (dict, list)))
        level = below
    return deepest


def _json(data: bytes, what: str) -> Any:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Refused(Status.MALFORMED, f"{what} is not valid JSON") from None
    if _depth(value) > MAX_NESTING:
        raise Refused(Status.MALFORMED, f"{what} is nested deeper than {MAX_NESTING} levels")
    if not isinstance(value, dict):
        raise Refused(Status.MALFORMED, f"{what} is not a JSON object")
    return value


def inflate(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """Raw DEFLATE (RFC 1951), refusing anything that would expand past ``limit`` bytes."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise Refused(Status.MALFORMED, "payload is not raw DEFLATE") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise Refused(Status.MALFORMED, f"payload expands beyond {limit} bytes")
    if not inflater.eof:
        raise Refused(Status.MALFORMED, "payload's DEFLATE stream is truncated")
    if inflater.unused_data:
        raise Refused(Status.MALFORMED, "data after the payload's DEFLATE stream")
    return out


def _verify_es256(public_key: Any, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- FHIR → evidence


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [
        c["code"]
        for c in concept["coding"]
        if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str)
    ]


def _date(value: Any, what: str) -> dt.date:
    if not isinstance(value, str) or len(value) < 10:
        raise Refused(Status.MALFORMED, f"{what} is not a full date")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Refused(Status.MALFORMED, f"{what} is not a date") from None


def _instant(value: Any, what: str) -> dt.datetime:
    """A FHIR dateTime; a date alone is read as its first instant (UTC), a naive time as UTC."""
    if not isinstance(value, str):
        raise Refused(Status.MALFORMED, f"{what} is missing")
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Refused(Status.MALFORMED, f"{what} is not a date and time") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def _identity(patient: dict) -> Identity:
    names = patient.get("name")
    name = ""
    if isinstance(names, list) and names and isinstance(names[0], dict):
        first = names[0]
        given = first.get("given") if isinstance(first.get("given"), list) else []
        family = first.get("family") if isinstance(first.get("family"), str) else ""
        words = [g for g in given if isinstance(g, str)] + [family]
        name = " ".join(" ".join(words).split())
        if not name and isinstance(first.get("text"), str):
            name = " ".join(first["text"].split())
    birth = patient.get("birthDate")
    birth_date = birth if isinstance(birth, str) and re.fullmatch(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?", birth) else ""
    return Identity(name=name[:MAX_NAME], birth_date=birth_date, document="")


def bundle_evidence(bundle: Any) -> tuple[Identity | None, list[Vaccination], list[TestResult]]:
    """The patient, the completed COVID-19 immunizations and the SARS-CoV-2 lab results of a bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Refused(Status.MALFORMED, "credentialSubject.fhirBundle is not a FHIR Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise Refused(Status.MALFORMED, "the FHIR Bundle has no entry list")
    identity = None
    doses: list[tuple[dt.date, str]] = []
    tests: list[TestResult] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise Refused(Status.MALFORMED, "a Bundle entry has no resource")
        kind = resource.get("resourceType")
        if kind == "Patient" and identity is None:
            identity = _identity(resource)
        elif kind == "Immunization" and resource.get("status") == "completed":
            cvx = _codes(resource.get("vaccineCode"), CVX_SYSTEM)
            doses.append((_date(resource.get("occurrenceDateTime"), "Immunization.occurrenceDateTime"), cvx[0] if cvx else ""))
        elif kind == "Observation" and resource.get("status") in FINAL_OBSERVATION:
            test = _test_result(resource)
            if test is not None:
                tests.append(test)
    # dose numbers are the order of vaccination, whatever the order of the bundle
    doses.sort(key=lambda d: d[0])
    vaccinations = [
        Vaccination(date=day, dose_number=i, series_doses=CVX_SERIES_DOSES.get(cvx, 2), product=cvx, disease=COVID19)
        for i, (day, cvx) in enumerate(doses, start=1)
    ]
    return identity, vaccinations, tests


def _test_result(observation: dict) -> TestResult | None:
    test_type = next((LOINC_TEST_TYPES[c] for c in _codes(observation.get("code"), LOINC_SYSTEM) if c in LOINC_TEST_TYPES), None)
    if test_type is None:
        return None  # not a SARS-CoV-2 test (a bundle may carry any lab result)
    values = set(_codes(observation.get("valueCodeableConcept"), SNOMED_SYSTEM))
    if values & SNOMED_DETECTED:
        result = DETECTED
    elif values & SNOMED_NOT_DETECTED:
        result = NOT_DETECTED
    else:
        return None  # inconclusive or a value we cannot read: proves nothing either way
    sampled_at = _instant(observation.get("effectiveDateTime"), "Observation.effectiveDateTime")
    return TestResult(sampled_at=sampled_at, result=result, test_type=test_type, disease=COVID19)


# --------------------------------------------------------------------------- the plug-in


class ShcFormat:
    id = FORMAT_ID

    def chunk(self, text: str) -> tuple[str, int, int] | None:
        """(group, index, count) of one part of a chunked card, else None (see kiosk.chunks)."""
        if text[: len(PREFIX)].lower() != PREFIX:
            return None
        chunk = _chunk(text)
        if chunk is None or chunk[1] < 2 or not 1 <= chunk[0] <= chunk[1]:
            return None
        return f"{FORMAT_ID}/{chunk[1]}", chunk[0], chunk[1]

    def assemble(self, texts: Iterable[str]) -> str | None:
        return assemble_chunks(texts)

    def recognises(self, text: str) -> bool:
        return text[: len(PREFIX)].lower() == PREFIX

    def verify(self, text: str, context: VerifyContext) -> Credential:
        try:
            return self._verify(text.strip(), context)
        except Refused as refused:
            return Credential(FORMAT_ID, refused.status, detail=refused.detail)

    def _verify(self, text: str, context: VerifyContext) -> Credential:
        body = text[len(PREFIX) :]
        if "/" in body:
            chunk = _chunk(text)
            if chunk is None:
                raise Refused(Status.MALFORMED, "shc:/ text is neither digits nor a chunk C/N/digits")
            index, count, body = chunk
            if count != 1 or index != 1:
                raise Refused(
                    Status.MALFORMED,
                    f"part {index} of {count} of a chunked SMART Health Card (deprecated form); all parts are needed",
                )
        jws = numeric_to_jws(body)
        parts = jws.split(".")
        if len(parts) != 3:
            raise Refused(Status.MALFORMED, "not a compact JWS (header.payload.signature)")
        header = _json(_b64url(parts[0], "header"), "JWS header")
        if not isinstance(header.get("alg"), str):
            raise Refused(Status.MALFORMED, "JWS header has no algorithm (alg)")
        if header.get("alg") != "ES256":
            raise Refused(Status.UNSUPPORTED, f"JWS algorithm {str(header.get('alg'))[:20]!r} is not ES256")
        if header.get("zip") != "DEF":
            raise Refused(Status.MALFORMED, "JWS payload must be DEFLATE-compressed (zip: DEF)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused(Status.MALFORMED, "JWS header has no key id (kid)")
        payload = _json(inflate(_b64url(parts[1], "payload")), "JWS payload")
        signature = _b64url(parts[2], "signature")

        iss = payload.get("iss")
        if not isinstance(iss, str) or not iss:
            raise Refused(Status.MALFORMED, "payload has no issuer (iss)")
        issuer_url = iss[:300]
        from kiosk.shc_issuers import normalise_iss

        issuer = context.trust.shc_issuers.get(normalise_iss(iss))
        if issuer is None:
            return Credential(FORMAT_ID, Status.UNKNOWN_ISSUER, issuer=issuer_url, detail="issuer is not trusted")
        key = issuer.keys.get(kid)
        if key is None:
            return Credential(FORMAT_ID, Status.UNKNOWN_ISSUER, issuer=issuer_url, detail="issuer has no key with this kid")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        if not _verify_es256(key, signing_input, signature):
            return Credential(FORMAT_ID, Status.INVALID_SIGNATURE, issuer=issuer_url, detail="ES256 signature does not verify")

        def refuse(status: Status, detail: str) -> Credential:
            return Credential(FORMAT_ID, status, issuer=issuer_url, detail=detail)

        nbf, exp = payload.get("nbf"), payload.get("exp")
        if not _number(nbf):
            return refuse(Status.MALFORMED, "payload has no numeric nbf")
        if exp is not None and not _number(exp):
            return refuse(Status.MALFORMED, "payload's exp is not a number")
        vc = payload.get("vc")
        if not isinstance(vc, dict):
            return refuse(Status.MALFORMED, "payload has no vc object")
        types = vc.get("type")
        if not isinstance(types, list) or HEALTH_CARD_TYPE not in types:
            return refuse(Status.UNSUPPORTED, "not a health card (vc.type lacks #health-card)")
        rid = vc.get("rid")
        if rid is not None and not isinstance(rid, str):
            return refuse(Status.MALFORMED, "vc.rid is not a string")
        if rid and issuer.is_revoked(kid, rid, float(nbf)):
            return refuse(Status.REVOKED, "rid is on the issuer's revocation list")
        now = context.now.timestamp()
        if nbf > now + NBF_SKEW_SECONDS:
            return refuse(Status.NOT_YET_VALID, "nbf is in the future")
        if exp is not None and now >= exp:
            return refuse(Status.EXPIRED, "exp has passed")
        subject = vc.get("credentialSubject")
        if not isinstance(subject, dict):
            return refuse(Status.MALFORMED, "vc has no credentialSubject")
        try:
            identity, vaccinations, tests = bundle_evidence(subject.get("fhirBundle"))
        except Refused as refused:
            return refuse(refused.status, refused.detail)
        kind = Kind.VACCINATION if vaccinations else Kind.TEST if tests else Kind.UNKNOWN
        return Credential(
            FORMAT_ID,
            Status.VALID,
            kind=kind,
            identity=identity,
            evidence=(*vaccinations, *tests),
            issuer=issuer_url,
        )


FORMAT = ShcFormat()
