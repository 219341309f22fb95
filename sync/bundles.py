"""The city's signed bundles: trust list, revocation list, rules (and import receipts).

A bundle is a small JSON envelope around the bytes the city signed with its Ed25519 key::

    {"format": "kiosk-bundle/1",
     "key_id": "<hex, first 8 bytes of SHA-256 of the public key>",
     "signed": "<base64 of the signed document>",
     "signature": "<base64 Ed25519 signature of exactly those bytes>"}

and the signed document is ``{"kind", "version", "issued_at", "content"}``. Signing exact bytes
(not re-serialised JSON) means no canonicalisation question can ever make a good bundle fail or
a bad one pass. ``kind`` and ``version`` are inside the signature, so a revocation list cannot be
served as a trust list, and an old bundle replayed by an attacker is refused (its version is lower
than the copy the kiosk holds).

The kiosk keeps the last good copy of each kind in ``<state_dir>/bundles/<kind>.json`` (the raw
envelope, re-verified whenever it is read) with ``<kind>.meta.json`` beside it (ETag, when it was
fetched and when the server last confirmed it current); it keeps working on that copy while the
network is down and reports its age (:meth:`BundleStore.status`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.content import check_content
from sync.errors import BundleError
from sync.wire import loads, parse_time

log = logging.getLogger("kiosk.sync.bundles")

__all__ = [
    "KINDS", "Bundle", "BundleStore", "verify_bundle", "sign_bundle", "generate_signing_key",
    "key_id", "MAX_BUNDLE_BYTES",
]

FORMAT = "kiosk-bundle/1"
KINDS = ("trust-list", "revocations", "rules")
RECEIPT_KIND = "import-receipt"
MAX_BUNDLE_BYTES = 32 * 1024 * 1024  # the EU gateway's full DSC list is a few MB


@dataclass(frozen=True)
class Bundle:
    kind: str
    version: int
    issued_at: str  # ISO 8601 UTC, when the city signed it
    content: Any  # the published JSON document
    raw: bytes  # the envelope exactly as received (what is stored)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"bundle refused: {what} missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"bundle refused: {what} is not valid base64") from None


def _public_key_bytes(public_key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("bundle key (sync.bundle_public_key) is not valid base64") from None
    if len(raw) != 32:
        raise BundleError(f"bundle key (sync.bundle_public_key) must be 32 bytes, got {len(raw)}")
    return raw


def key_id(public_key_b64: str) -> str:
    """A short fingerprint of a bundle key, safe to log and print."""
    return hashlib.sha256(_public_key_bytes(public_key_b64)).hexdigest()[:16]


def generate_signing_key() -> tuple[str, str]:
    """A new Ed25519 bundle-signing key pair as (private_b64, public_b64)."""
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    return _b64(bytes(key)), _b64(bytes(key.verify_key))


def sign_bundle(kind: str, content: Any, private_key_b64: str, version: int, issued_at: str | None = None) -> bytes:
    """The signed envelope (bytes) for ``content`` — what the city server stores and serves."""
    from nacl.signing import SigningKey

    key = SigningKey(base64.b64decode(private_key_b64))
    issued_at = issued_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = json.dumps(
        {"kind": kind, "version": int(version), "issued_at": issued_at, "content": content},
        ensure_ascii=False, separators=(",", ":"),
    ).encode("utf-8")
    signature = key.sign(signed).signature
    envelope = {
        "format": FORMAT,
        "key_id": key_id(_b64(bytes(key.verify_key))),
        "signed": _b64(signed),
        "signature": _b64(signature),
    }
    return json.dumps(envelope, separators=(",", ":")).encode("ascii")


def verify_bundle(raw: bytes, public_key_b64: str, kind: str | None = None) -> Bundle:
    """Check a bundle's signature against the city key and return its content.

    Raises :class:`BundleError` (with a message fit for the log) when the bundle is too large,
    not an envelope, unsigned, signed by another key, altered, or of another kind than ``kind``.
    """
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    if not public_key_b64:
        raise BundleError("bundle refused: no city key configured (sync.bundle_public_key)")
    if len(raw) > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle refused: {len(raw)} bytes is over the {MAX_BUNDLE_BYTES} limit")
    try:
        envelope = loads(raw)
    except ValueError:
        raise BundleError("bundle refused: not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise BundleError(f"bundle refused: not a signed bundle (expected format {FORMAT!r})")
    signed = _unb64(envelope.get("signed"), "signed document")
    signature = _unb64(envelope.get("signature"), "signature")
    expected_key = key_id(public_key_b64)
    if envelope.get("key_id") not in (None, expected_key):
        raise BundleError(
            f"bundle refused: signed by key {envelope.get('key_id')!r}, the configured city key is {expected_key}"
        )
    try:
        VerifyKey(_public_key_bytes(public_key_b64)).verify(signed, signature)
    except (BadSignatureError, ValueError):
        raise BundleError("bundle refused: signature does not match (tampered, or signed by another key)") from None
    try:
        document = loads(signed)
        bundle = Bundle(
            kind=str(document["kind"]),
            version=int(document["version"]),
            issued_at=str(document["issued_at"]),
            content=document["content"],
            raw=bytes(raw),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise BundleError("bundle refused: signed document lacks kind, version, issued_at or content") from None
    if kind is not None and bundle.kind != kind:
        raise BundleError(f"bundle refused: expected a {kind!r} bundle, got {bundle.kind!r}")
    return bundle


# a bundle signed later than this ahead of the kiosk's clock is refused
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)


def issued_instant(bundle: Bundle) -> dt.datetime | None:
    """When the city signed ``bundle`` (its signed ``issued_at``), None if that is not a time."""
    return parse_time(bundle.issued_at)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atomic_write(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write a file so that a power cut leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class BundleStore:
    """The kiosk's last good copy of each bundle, in ``<state_dir>/bundles/``."""

    def __init__(self, state_dir: str | os.PathLike, public_key_b64: str):
        self.folder = Path(state_dir) / "bundles"
        self.public_key_b64 = public_key_b64

    def _path(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown bundle kind {kind!r}")
        return self.folder / f"{kind}.json"

    def _meta_path(self, kind: str) -> Path:
        return self.folder / f"{kind}.meta.json"

    def _meta(self, kind: str) -> dict:
        try:
            meta = json.loads(self._meta_path(kind).read_text())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def current(self, kind: str) -> Bundle | None:
        """The stored bundle, verified again (a copy altered on disk is refused, loudly)."""
        try:
            raw = self._path(kind).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return verify_bundle(raw, self.public_key_b64, kind)
        except BundleError as exc:
            log.error("stored %s bundle is not usable: %s", kind, exc)
            return None

    def etag(self, kind: str) -> str | None:
        """The ETag to send as If-None-Match (only while the stored copy still verifies)."""
        etag = self._meta(kind).get("etag")
        return etag if etag and self.current(kind) is not None else None

    def accept(self, kind: str, raw: bytes, etag: str | None = None) -> Bundle:
        """Verify a fetched bundle and, if good, usable (read by the code that will use it, see
        :mod:`sync.content`) and not older than the held copy, keep it.

        Raises :class:`BundleError` otherwise; the held copy stays in use.
        """
        bundle = verify_bundle(raw, self.public_key_b64, kind)
        issued = issued_instant(bundle)
        if issued is None:
            raise BundleError(f"bundle refused: issued_at {bundle.issued_at[:40]!r} is not an ISO 8601 time")
        if issued > _now() + MAX_CLOCK_SKEW:  # a clock gone wrong at the city, or a list made to last
            raise BundleError(f"bundle refused: issued at {bundle.issued_at}, in the future (this kiosk's clock "
                              f"says {_iso(_now())})")
        check_content(kind, bundle.content)  # what the kiosk could not load never replaces what it can
        held = self.current(kind)
        if held is not None and bundle.version < held.version:
            raise BundleError(
                f"bundle refused: {kind} version {bundle.version} is older than the held version {held.version}"
            )
        atomic_write(self._path(kind), bundle.raw)
        now = _iso(_now())
        self._write_meta(kind, {"etag": etag, "fetched_at": now, "checked_at": now})
        log.info("%s bundle version %d (issued %s) accepted", kind, bundle.version, bundle.issued_at)
        return bundle

    def confirm(self, kind: str) -> None:
        """The server said our copy is current (304): note when. An unsigned 304 proves nothing
        about freshness, so it changes no age: the age is that of the signed content."""
        meta = self._meta(kind)
        if meta:
            meta["checked_at"] = _iso(_now())
            self._write_meta(kind, meta)

    def _write_meta(self, kind: str, meta: dict) -> None:
        atomic_write(self._meta_path(kind), json.dumps(meta).encode())

    def status(self, now: dt.datetime | None = None) -> dict[str, dict]:
        """For ``kiosk status`` and the heartbeat: per kind, version, when the city signed it
        (``issued_at``), when the server last confirmed it current (``checked_at``), and
        ``age_seconds``: the age of the signed content, since ``issued_at`` (None when no good
        copy is held). The city re-signs its bundles daily, so a list older than a day or two
        means the kiosk is not getting new ones, whatever 304s it may be answered."""
        now = now or _now()
        result = {}
        for kind in KINDS:
            bundle = self.current(kind)
            meta = self._meta(kind)
            issued = issued_instant(bundle) if bundle else None
            result[kind] = {
                "version": bundle.version if bundle else None,
                "issued_at": bundle.issued_at if bundle else None,
                "checked_at": meta.get("checked_at") if bundle else None,
                "age_seconds": max(0, round((now - issued).total_seconds())) if issued else None,
            }
        return result

    def content(self, kind: str) -> Any | None:
        """The content of the last good copy, or None (for the trust store and the policy)."""
        bundle = self.current(kind)
        return bundle.content if bundle else None
