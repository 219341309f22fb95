"""Trusted SMART Health Card issuers, loaded from an offline copy of what each issuer publishes.

An issuer (identified by its ``iss`` URL) publishes its public keys at
``<iss>/.well-known/jwks.json`` and, per key, an optional revocation list at
``<iss>/.well-known/crl/<kid>.json``. The kiosk never fetches them at scan time: an admin (or the
city bundle) places a copy in a folder, and :func:`add_shc_issuer` loads that folder into the
:class:`~sync.trust.TrustStore` under ``trust.shc_issuers[iss]``.

A revocation entry is either ``rid`` (every card with that ``rid`` is revoked) or
``rid.timestamp`` (only cards whose ``nbf`` is before that instant, in seconds since the epoch,
are revoked: the issuer revoked what it had issued until then, and later re-issued cards with the
same ``rid`` stay good).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.errors import TrustError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from kiosk.config import TrustSection
    from sync.trust import TrustStore

# a JWKS or CRL copy larger than this is not an issuer's publication
MAX_FILE_BYTES = 1024 * 1024


@dataclass
class ShcIssuer:
    """One trusted issuer: its ES256 keys by ``kid`` and its revoked ``rid``s by ``kid``."""

    iss: str
    keys: dict[str, "EllipticCurvePublicKey"] = field(default_factory=dict)
    # kid -> rid -> cutoff (seconds since the epoch; None = revoked whatever its nbf)
    revoked: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def is_revoked(self, kid: str, rid: str, nbf: float) -> bool:
        """Whether the card with this ``rid``, signed with ``kid`` and issued at ``nbf``, is revoked."""
        rids = self.revoked.get(kid)
        if not rids or rid not in rids:
            return False
        cutoff = rids[rid]
        return cutoff is None or nbf < cutoff


def normalise_iss(iss: str) -> str:
    """Issuer URLs are compared without a trailing slash (the spec forbids one; copies vary)."""
    return iss.rstrip("/")


def _b64url_int(value: Any, what: str) -> int:
    if not isinstance(value, str) or not value:
        raise TrustError(f"{what}: missing or not a string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise TrustError(f"{what}: not base64url") from exc
    if len(raw) != 32:
        raise TrustError(f"{what}: a P-256 coordinate is 32 bytes, got {len(raw)}")
    return int.from_bytes(raw, "big")


def public_key_from_jwk(jwk: dict) -> "EllipticCurvePublicKey":
    """An ES256 verification key from a JWK; raises TrustError for anything else."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise TrustError(f"key {jwk.get('kid')!r}: not an EC P-256 key")
    if jwk.get("alg", "ES256") != "ES256":
        raise TrustError(f"key {jwk.get('kid')!r}: alg {jwk.get('alg')!r} is not ES256")
    x = _b64url_int(jwk.get("x"), f"key {jwk.get('kid')!r} x")
    y = _b64url_int(jwk.get("y"), f"key {jwk.get('kid')!r} y")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as exc:  # the point is not on the curve
        raise TrustError(f"key {jwk.get('kid')!r}: {exc}") from exc


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TrustError(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise TrustError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise TrustError(f"{path}: not valid JSON") from exc


def parse_crl(data: Any, kid: str, where: str = "CRL") -> dict[str, float | None]:
    """The revoked rids of one key's CRL (``{"kid", "method": "rid", "ctr", "rids": [...]}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("rids"), list):
        raise TrustError(f"{where}: expected an object with a \"rids\" list")
    if data.get("kid", kid) != kid:
        raise TrustError(f"{where}: is for key {data.get('kid')!r}, not {kid!r}")
    if data.get("method", "rid") != "rid":
        raise TrustError(f"{where}: revocation method {data.get('method')!r} is not supported")
    revoked: dict[str, float | None] = {}
    for entry in data["rids"]:
        if not isinstance(entry, str) or not entry:
            raise TrustError(f"{where}: a rid must be a non-empty string")
        rid, dot, stamp = entry.partition(".")
        cutoff: float | None = None
        if dot:
            try:
                cutoff = float(int(stamp))
            except ValueError:
                raise TrustError(f"{where}: {entry!r} is neither rid nor rid.timestamp") from None
        if rid in revoked:  # listed twice: the wider revocation wins
            previous = revoked[rid]
            cutoff = None if previous is None or cutoff is None else max(previous, cutoff)
        revoked[rid] = cutoff
    return revoked


def load_issuer(iss: str, directory: str | Path) -> ShcIssuer:
    """Read DIR/.well-known/jwks.json (required) and DIR/.well-known/crl/<kid>.json (optional)."""
    directory = Path(directory)
    well_known = directory / ".well-known"
    jwks_path = well_known / "jwks.json"
    if not jwks_path.is_file():
        raise TrustError(f"SMART Health Card issuer {iss}: {jwks_path} not found")
    jwks = _read_json(jwks_path)
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise TrustError(f"{jwks_path}: expected an object with a \"keys\" list")
    issuer = ShcIssuer(normalise_iss(iss))
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            raise TrustError(f"{jwks_path}: every key needs a string \"kid\"")
        if jwk.get("use", "sig") != "sig":
            continue  # not a signing key
        kid = jwk["kid"]
        issuer.keys[kid] = public_key_from_jwk(jwk)
        crl_path = well_known / "crl" / f"{kid}.json"
        if "/" not in kid and crl_path.is_file():
            issuer.revoked[kid] = parse_crl(_read_json(crl_path), kid, str(crl_path))
    if not issuer.keys:
        raise TrustError(f"{jwks_path}: no ES256 signing key")
    return issuer


def add_shc_issuer(trust: "TrustStore", iss: str, directory: str | Path) -> ShcIssuer:
    """Trust the issuer ``iss`` with the keys and revocations published under ``directory``."""
    if not iss.startswith(("https://", "http://")):
        raise TrustError(f"SMART Health Card issuer {iss!r}: must be the issuer's URL (https://...)")
    issuer = load_issuer(iss, directory)
    trust.shc_issuers[issuer.iss] = issuer
    return issuer


def add_config_issuers(trust: "TrustStore", section: "TrustSection", base: Path) -> None:
    """Trust every ``[[trust.shc_issuers]]`` of the config; relative dirs are from the config's folder."""
    from sync.schema import resolve_path

    for entry in section.shc_issuers:
        if not entry.dir:
            raise TrustError(f"trust.shc_issuers: issuer {entry.iss}: dir is required")
        add_shc_issuer(trust, entry.iss, resolve_path(entry.dir, base))


def parse_cli_issuer(spec: str) -> tuple[str, Path]:
    """``URL=DIR`` from ``kiosk verify --shc-issuer``; the URL may itself hold '=' (a query), DIR not."""
    url, sep, directory = spec.rpartition("=")
    if not sep or not url or not directory:
        raise TrustError(f"--shc-issuer {spec!r}: expected URL=DIR")
    return url, Path(directory)
