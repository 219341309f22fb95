"""Whom to trust: document signing certificates (EU DCC), SMART Health Card issuers, revocations.

Filled from the config's trust files (``[trust] trust_list``, ``revocations``),
``kiosk verify --trust-list/--dsc/--shc-issuer``, or a verified city bundle.

Trust list file (JSON), one of three shapes, recognised by its top level:

* the kiosk's own format, an object::

      {
        "version": 1,
        "dscs": [
          {"kid": "<base64 of 8 bytes, optional>", "country": "VN",
           "rawData": "<base64 DER certificate>"}
        ],
        "dcc_revocations": {"UCI": ["<hex or base64>", ...],
                            "COUNTRYCODEUCI": [...], "SIGNATURE": [...]}
      }

  ``kid`` defaults to the first 8 bytes of the SHA-256 of the DER (the EU rule);
  ``dcc_revocations`` is optional (the same object as a revocation file, below);
* the EU gateway's DSC list: a JSON array of ``{"kid", "country", "rawData",
  "certificateType", "thumbprint", "signature", "timestamp"}`` objects; entries whose
  ``certificateType`` is not ``DSC`` (CSCA, UPLOAD, AUTHENTICATION) are skipped;
* a national backend's list, ``{"certificates": [ the same objects ]}``.

Revocation file (JSON): ``{"dcc_revocations": {...}}`` as above, or that inner object alone
(both forms are read by one loader, :func:`read_revocations`, for files and bundles alike).
Each hash is the first 16 bytes (or more; only the first 16 count) of a SHA-256, written in hex
or base64, of the UCI, of the issuing country code + UCI, or of the COSE signature (for ECDSA only
its ``r`` half), as the EU DCC revocation scheme defines them.

DSCs are parsed when loaded. Some real ones carry DER that strict X.509 parsers refuse (an
encoded DEFAULT in BasicConstraints, an empty extended key usage); for those the public key,
validity and extended key usage are read with a minimal DER walk instead, because refusing a
national signer would refuse every certificate it signed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import TrustError
from sync.wire import loads

log = logging.getLogger(__name__)

# Extended key usages that limit a DSC to certificate types (EU DCC, and the older arc under .0.)
EKU_TYPES: dict[str, str] = {
    "1.3.6.1.4.1.1847.2021.1.1": "test",
    "1.3.6.1.4.1.1847.2021.1.2": "vaccination",
    "1.3.6.1.4.1.1847.2021.1.3": "recovery",
    "1.3.6.1.4.1.0.1847.2021.1.1": "test",
    "1.3.6.1.4.1.0.1847.2021.1.2": "vaccination",
    "1.3.6.1.4.1.0.1847.2021.1.3": "recovery",
}
REVOCATION_KINDS = ("UCI", "COUNTRYCODEUCI", "SIGNATURE")
REVOCATION_HASH_BYTES = 16


def kid_of(der: bytes) -> bytes:
    """The EU DCC key id of a certificate: the first 8 bytes of the SHA-256 of its DER."""
    return hashlib.sha256(der).digest()[:8]


@dataclass(frozen=True)
class Dsc:
    """A document signing certificate, parsed once at load."""

    kid: bytes
    der: bytes
    public_key: Any  # a cryptography public key (EC or RSA)
    country: str = ""
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    # certificate types this DSC may sign ({"test", "vaccination", "recovery"}, possibly none); None = any
    usages: frozenset[str] | None = None

    def may_sign(self, kind: str) -> bool:
        return self.usages is None or kind in self.usages


@dataclass
class TrustStore:
    # EU DCC: key id (8 bytes) -> DSCs under it (a key id may collide across countries)
    dscs: dict[bytes, list[Dsc]] = field(default_factory=dict)
    # SMART Health Cards: issuer URL (iss) -> issuer keys / revocations (filled by the shc module)
    shc_issuers: dict[str, object] = field(default_factory=dict)
    # EU DCC revocation hashes (first 16 bytes of SHA-256); the three kinds share one set since
    # hashes of different inputs cannot collide in practice
    dcc_revoked: set[bytes] = field(default_factory=set)

    # --- EU DCC signers -------------------------------------------------------------------

    def add_dsc(self, der: bytes, *, kid: bytes | None = None, country: str = "") -> Dsc:
        """Trust one DSC (DER bytes) under ``kid`` (default: its EU key id)."""
        dsc = parse_dsc(der, kid=kid, country=country)
        entries = self.dscs.setdefault(dsc.kid, [])
        if all(existing.der != dsc.der for existing in entries):
            entries.append(dsc)
        return dsc

    def dscs_for(self, kid: bytes) -> list[Dsc]:
        return self.dscs.get(bytes(kid), [])

    def add_dsc_file(self, path: str | Path) -> Dsc:
        """Trust one certificate file, PEM or DER (``kiosk verify --dsc CERT``)."""
        data = _read(path)
        der = pem_to_der(data) if b"-----BEGIN" in data else data
        try:
            return self.add_dsc(der)
        except TrustError as exc:
            raise TrustError(f"{path}: {exc}") from exc

    def add_trust_list(self, path: str | Path) -> int:
        """Load a trust list file (any of the three shapes); returns how many DSCs it added."""
        return _add_file(path, self.add_trust_document)

    def add_trust_document(self, doc: Any) -> int:
        """Load an already-parsed trust list document; returns how many DSCs it added."""
        if isinstance(doc, list):
            entries = doc
        elif isinstance(doc, dict) and isinstance(doc.get("certificates"), list):
            entries = doc["certificates"]
        elif isinstance(doc, dict) and isinstance(doc.get("dscs", []), list):
            entries = doc.get("dscs", [])
        else:
            raise TrustError("a trust list is a JSON array of DSCs or an object with 'dscs' or 'certificates'")
        revoked = read_revocations(doc["dcc_revocations"]) if isinstance(doc, dict) and "dcc_revocations" in doc else set()
        added = skipped = 0
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise TrustError(f"entry {index}: not an object")
            if str(entry.get("certificateType", "DSC")).upper() != "DSC":
                continue
            raw = entry.get("rawData", entry.get("certificate"))
            if not isinstance(raw, str):
                raise TrustError(f"entry {index}: no rawData (base64 DER certificate)")
            try:
                der = base64.b64decode(raw, validate=True)
                kid = base64.b64decode(entry["kid"], validate=True) if entry.get("kid") else None
                self.add_dsc(der, kid=kid, country=str(entry.get("country", "")))
                added += 1
            except (binascii.Error, ValueError, TrustError) as exc:
                # one broken signer in a list of thousands must not stop the others loading
                skipped += 1
                log.warning("trust list entry %d skipped: %s", index, exc)
        if skipped and not added:
            raise TrustError(f"none of its {skipped} DSC entries could be loaded")
        self.dcc_revoked |= revoked
        return added

    # --- EU DCC revocations ---------------------------------------------------------------

    def add_revocations(self, path: str | Path) -> int:
        """Load a revocation file; returns how many hashes it added."""
        return _add_file(path, self.add_revocation_document)

    def add_revocation_document(self, doc: Any) -> int:
        """Add a revocation list in either form (see the module docstring): all of it or, if any
        part is unusable, nothing (TrustError). Returns how many hashes were new."""
        before = len(self.dcc_revoked)
        self.dcc_revoked |= read_revocations(doc)
        return len(self.dcc_revoked) - before

    def is_revoked(self, hashes: list[bytes]) -> bool:
        return any(h[:REVOCATION_HASH_BYTES] in self.dcc_revoked for h in hashes)


def load_trust_list(path: str | Path, store: TrustStore | None = None) -> TrustStore:
    """Load a trust list file into ``store`` (a new one by default) and return the store."""
    store = store if store is not None else TrustStore()
    store.add_trust_list(path)
    return store


def load_dsc(path: str | Path, store: TrustStore | None = None) -> TrustStore:
    """Trust one PEM or DER certificate under its EU key id; returns the store."""
    store = store if store is not None else TrustStore()
    store.add_dsc_file(path)
    return store


def from_config(trust_list: str = "", revocations: str = "") -> TrustStore:
    """The EU DCC part of the store from the config's ``[trust]`` paths (empty = none)."""
    store = TrustStore()
    if trust_list:
        store.add_trust_list(trust_list)
    if revocations:
        store.add_revocations(revocations)
    return store


# --- helpers ------------------------------------------------------------------------------


def _add_file(path: str | Path, add) -> int:
    """A JSON file's document given to ``add``; its problems name the file."""
    try:
        doc = loads(_read(path))
    except ValueError as exc:
        raise TrustError(f"{path}: not JSON: {exc}") from exc
    try:
        return add(doc)
    except TrustError as exc:
        raise TrustError(f"{path}: {exc}") from exc


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TrustError(f"cannot read {path}: {exc.strerror or exc}") from exc


def pem_to_der(data: bytes) -> bytes:
    """The first certificate in a PEM file, as DER."""
    text = data.decode("ascii", "replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin + 1)
    if begin < 0 or end < 0:
        raise TrustError("no PEM certificate in the file")
    body = text[begin + len("-----BEGIN CERTIFICATE-----") : end]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise TrustError(f"bad base64 in PEM: {exc}") from exc


def read_revocations(doc: Any) -> set[bytes]:
    """The revocation hashes of a revocation document, in either form: ``{"dcc_revocations":
    {kind: [hash, ...]}}`` (a ``trust.revocations`` file, the city's bundle) or the inner object
    alone. TrustError on anything unusable: one bad hash refuses the whole list."""
    if isinstance(doc, dict) and "dcc_revocations" in doc:
        doc = doc["dcc_revocations"]
    if not isinstance(doc, dict):
        raise TrustError("dcc_revocations must be an object of hash lists by kind")
    hashes: set[bytes] = set()
    for kind, texts in doc.items():
        if kind.upper() not in REVOCATION_KINDS:
            raise TrustError(f"unknown revocation kind {kind!r} (expected one of {', '.join(REVOCATION_KINDS)})")
        if not isinstance(texts, list):
            raise TrustError(f"{kind}: expected a list of hashes")
        for index, text in enumerate(texts):
            try:
                hashes.add(_decode_hash(text))
            except TrustError as exc:
                raise TrustError(f"{kind}[{index}]: {exc}") from None
    return hashes


def _decode_hash(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TrustError("a revocation hash must be a string (hex or base64)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise TrustError(f"revocation hash {text[:20]!r} is neither hex nor base64") from exc
    if len(raw) < REVOCATION_HASH_BYTES:
        raise TrustError(f"a revocation hash needs at least {REVOCATION_HASH_BYTES} bytes")
    return raw[:REVOCATION_HASH_BYTES]


def parse_dsc(der: bytes, *, kid: bytes | None = None, country: str = "") -> Dsc:
    """Parse a DSC; strict X.509 first, the lenient DER walk for what the strict parser refuses."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    kid = bytes(kid) if kid else kid_of(der)
    try:
        cert = x509.load_der_x509_certificate(der)
        public_key = cert.public_key()
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception:  # cryptography refuses some real DSCs; fall back to the walk below
        cert = None
    if cert is None:
        try:
            fields = walk_certificate(der)
            public_key = load_der_public_key(fields.spki)
        except Exception as exc:
            raise TrustError(f"not a certificate that can be read: {exc}") from exc
        not_before, not_after, eku = fields.not_before, fields.not_after, fields.eku
    else:
        try:
            eku = _eku_strict(cert)
        except Exception:
            try:
                eku = walk_certificate(der).eku
            except Exception as exc:
                raise TrustError(f"extensions cannot be read: {exc}") from exc
    # the DCC specification: no extended key usage, the DSC signs every type; one that lists
    # purposes, only the types whose OIDs it lists (either spelling), so one listing none of them
    # signs none. An EKU extension listing nothing at all (DER forbids it; a real DSC has it)
    # names no purpose: as the EU conformance cases judge it, that is no restriction.
    usages = frozenset(EKU_TYPES[oid] for oid in eku if oid in EKU_TYPES) if eku else None
    return Dsc(kid, bytes(der), public_key, country, not_before, not_after, usages)


def _eku_strict(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return []
    return [oid.dotted_string for oid in ext.value]


# --- a minimal DER walk over an X.509 certificate ------------------------------------------


@dataclass(frozen=True)
class CertFields:
    spki: bytes
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    eku: list[str]


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """One DER element at ``pos``: (tag, content start, content end)."""
    if pos + 2 > end:
        raise ValueError("truncated DER")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags are not used in certificates")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("DER element overruns its container")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in [start, end)."""
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(buf, pos, end)
        out.append((tag, pos, cstart, cend))
        pos = cend
    return out


def _oid(raw: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise ValueError("empty OID")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def _time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii").rstrip("Z")
    if tag == 0x17:  # UTCTime, YYMMDDHHMM[SS]Z, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    fmt = "%Y%m%d%H%M%S" if len(text) >= 14 else "%Y%m%d%H%M"
    return dt.datetime.strptime(text[:14] if len(text) >= 14 else text, fmt).replace(tzinfo=dt.timezone.utc)


EKU_EXTENSION_OID = "2.5.29.37"


def walk_certificate(der: bytes) -> CertFields:
    """Read the public key, validity and extended key usage of a certificate, tolerating the
    DER defects real DSCs have: nothing outside those three is looked at."""
    der = bytes(der)
    tag, start, end = _tlv(der, 0, len(der))
    if tag != 0x30:
        raise ValueError("a certificate is a SEQUENCE")
    parts = _children(der, start, end)
    if not parts or parts[0][0] != 0x30:
        raise ValueError("no TBSCertificate")
    tbs = _children(der, parts[0][2], parts[0][3])
    index = 1 if tbs and tbs[0][0] == 0xA0 else 0  # optional [0] version
    # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
    if len(tbs) < index + 6:
        raise ValueError("TBSCertificate too short")
    validity = _children(der, tbs[index + 3][2], tbs[index + 3][3])
    not_before = not_after = None
    if len(validity) == 2:
        not_before = _time(validity[0][0], der[validity[0][2] : validity[0][3]])
        not_after = _time(validity[1][0], der[validity[1][2] : validity[1][3]])
    spki_tag, spki_start, _, spki_end = tbs[index + 5]
    if spki_tag != 0x30:
        raise ValueError("no SubjectPublicKeyInfo")
    eku: list[str] = []
    for tag, _, cstart, cend in tbs[index + 6 :]:
        if tag != 0xA3:  # [3] extensions
            continue
        outer = _children(der, cstart, cend)
        if not outer:
            continue
        for ext_tag, _, estart, eend in _children(der, outer[0][2], outer[0][3]):
            ext = _children(der, estart, eend)
            if ext_tag != 0x30 or not ext or ext[0][0] != 0x06:
                continue
            if _oid(der[ext[0][2] : ext[0][3]]) != EKU_EXTENSION_OID:
                continue
            value = ext[-1]
            if value[0] != 0x04:
                raise ValueError("extension value is not an OCTET STRING")
            inner = _children(der, value[2], value[3])
            if inner and inner[0][0] == 0x30:
                eku = [_oid(der[c[2] : c[3]]) for c in _children(der, inner[0][2], inner[0][3]) if c[0] == 0x06]
    return CertFields(der[spki_start:spki_end], not_before, not_after, eku)
