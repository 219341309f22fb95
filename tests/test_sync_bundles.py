"""Sealed identities and the city's signed bundles."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging

import pytest
from nacl.exceptions import CryptoError

from kiosk.errors import ConfigError, TrustError
from kiosk.demo.issuing.dcc import DccIssuer
from sync import bundles, seal
from sync.bundles import BundleStore, sign_bundle, verify_bundle
from sync.errors import BundleError

TRUST = {"certificates": [DccIssuer.create().trust_entry()]}


# ---------------------------------------------------------------------------- sealing
def test_sealed_identity_opens_only_with_the_citys_private_key():
    private, public = seal.generate_keypair()
    _other_private, _ = seal.generate_keypair()
    data = json.dumps({"name": "Trần Thị Bích Ngọc"}, ensure_ascii=False).encode()
    sealed = seal.seal(data, public)
    assert "Trần".encode() not in sealed and b"Ngoc" not in sealed
    assert len(sealed) == len(data) + seal.SEAL_OVERHEAD
    assert seal.unseal(sealed, private) == data
    with pytest.raises(CryptoError):
        seal.unseal(sealed, _other_private)
    with pytest.raises(CryptoError):
        seal.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), private)


def test_two_seals_of_the_same_identity_differ():
    # an ephemeral key per box: equal identities cannot be linked by their ciphertext
    _, public = seal.generate_keypair()
    assert seal.seal(b"same", public) != seal.seal(b"same", public)


def test_sealer_checks_the_key_at_once():
    with pytest.raises(ConfigError, match="sync.seal_public_key"):
        seal.sealer("not base64!")
    with pytest.raises(ConfigError, match="32-byte"):
        seal.sealer(base64.b64encode(b"short").decode())
    private, public = seal.generate_keypair()
    assert seal.public_key_of(private) == public
    assert seal.unseal(seal.sealer(public)(b"x"), private) == b"x"


# ---------------------------------------------------------------------------- bundles
@pytest.fixture
def keys():
    return bundles.generate_signing_key()


def test_a_signed_bundle_verifies_and_gives_its_content(keys):
    private, public = keys
    raw = sign_bundle("trust-list", TRUST, private, version=3, issued_at="2021-07-20T00:00:00Z")
    bundle = verify_bundle(raw, public, "trust-list")
    assert (bundle.kind, bundle.version, bundle.issued_at, bundle.content) == ("trust-list", 3, "2021-07-20T00:00:00Z", TRUST)


def _tamper(raw: bytes) -> bytes:
    envelope = json.loads(raw)
    document = json.loads(base64.b64decode(envelope["signed"]))
    document["content"]["certificates"].append({"kid": "evil"})
    envelope["signed"] = base64.b64encode(json.dumps(document).encode()).decode()
    return json.dumps(envelope).encode()


def test_tampered_unsigned_foreign_and_mislabelled_bundles_are_refused(keys):
    private, public = keys
    raw = sign_bundle("trust-list", TRUST, private, version=1)
    with pytest.raises(BundleError, match="signature does not match"):
        verify_bundle(_tamper(raw), public)
    with pytest.raises(BundleError, match="not a signed bundle"):
        verify_bundle(json.dumps(TRUST).encode(), public)
    with pytest.raises(BundleError, match="not JSON"):
        verify_bundle(b"\x00garbage", public)
    other_private, other_public = bundles.generate_signing_key()
    with pytest.raises(BundleError, match="signed by key"):
        verify_bundle(sign_bundle("trust-list", TRUST, other_private, version=1), public)
    with pytest.raises(BundleError, match="expected a 'trust-list' bundle"):
        verify_bundle(sign_bundle("revocations", TRUST, private, version=1), public, "trust-list")
    with pytest.raises(BundleError, match="no city key"):
        verify_bundle(raw, "")
    assert issubclass(BundleError, TrustError)


def test_the_store_keeps_the_last_good_copy_and_reports_its_age(tmp_path, keys, caplog):
    private, public = keys
    store = BundleStore(tmp_path, public)
    assert store.current("trust-list") is None
    assert store.status()["trust-list"]["age_seconds"] is None

    good = sign_bundle("trust-list", TRUST, private, version=2)
    store.accept("trust-list", good, etag='"v2"')
    assert store.etag("trust-list") == '"v2"'
    assert store.content("trust-list") == TRUST

    with caplog.at_level(logging.ERROR), pytest.raises(BundleError):
        store.accept("trust-list", _tamper(good), etag='"evil"')
    assert store.content("trust-list") == TRUST  # still the good one
    assert store.etag("trust-list") == '"v2"'

    with pytest.raises(BundleError, match="older than the held version 2"):  # a replayed old bundle
        store.accept("trust-list", sign_bundle("trust-list", TRUST, private, version=1))
    assert store.content("trust-list") == TRUST

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    status = store.status(now=later)["trust-list"]
    assert status["version"] == 2
    assert 5 * 3600 - 5 <= status["age_seconds"] <= 5 * 3600 + 5


def test_a_copy_altered_on_disk_is_not_used(tmp_path, keys, caplog):
    private, public = keys
    store = BundleStore(tmp_path, public)
    store.accept("rules", sign_bundle("rules", {"vaccination": {"min_days_after_last_dose": 14}}, private, version=1), etag='"r1"')
    assert store.etag("rules") == '"r1"'
    path = tmp_path / "bundles" / "rules.json"
    path.write_bytes(path.read_bytes()[:-3])  # a damaged SD card, or someone editing it
    with caplog.at_level(logging.ERROR, logger="kiosk.sync.bundles"):
        assert store.current("rules") is None
    assert "stored rules bundle is not usable" in caplog.text
    # no ETag is offered for a copy that does not verify, so the next fetch replaces it
    assert store.etag("rules") is None
