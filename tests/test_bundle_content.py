"""Issue 14, item 1: a signed bundle the kiosk cannot use never replaces the one it can.

Every bundle is read by the code that will use it (sync.content) before it replaces the last
good copy; the revocation list is read by one loader whatever its form; `kiosk-city publish`
refuses what the kiosks would refuse, with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from city.cli import main as city_main
from city.embedded import start_server
from kiosk.app import apply_city_rules, load_trust
from kiosk.formats import verify
from kiosk.formats.base import VerifyContext
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.model import Identity, Status
from sync.client import sync_once
from sync.content import check_content
from sync.errors import BundleError, TrustError
from sync.trust import TrustStore
from sync_helpers import enrolled_config

NOW = dt.datetime.now(dt.timezone.utc)
UCI = "URN:UVCI:01:VN:REVOKEDBYCITY1"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def city(tmp_path):
    with start_server(tmp_path / "city") as server:
        yield server


def test_one_loader_reads_both_forms_of_a_revocation_list():
    inner = {"UCI": [_hash(UCI)]}
    a, b = TrustStore(), TrustStore()
    assert a.add_revocation_document({"dcc_revocations": inner}) == 1
    assert b.add_revocation_document(inner) == 1
    assert a.dcc_revoked == b.dcc_revoked


def test_one_bad_hash_adds_nothing():
    store = TrustStore()
    with pytest.raises(TrustError, match=r"UCI\[1\]"):
        store.add_revocation_document({"UCI": [_hash("a"), "not a hash"]})
    assert store.dcc_revoked == set()


def test_revocations_in_the_file_form_reach_a_kiosk_and_revoke(city, tmp_path):
    issuer = DccIssuer.create(country="VN", valid_from=NOW - dt.timedelta(days=30))
    code = issuer.vaccination(Identity("Trần Thị Mai", "1990-05-06"), NOW.date() - dt.timedelta(days=20), uci=UCI)
    config = enrolled_config(city, tmp_path, "k-content")
    city.store.publish("trust-list", issuer.trust_list())
    city.store.publish("revocations", {"dcc_revocations": {"UCI": [_hash(UCI)]}})  # a trust.revocations file
    sync_once(config)
    trust = load_trust(config)  # the old main: "unknown revocation kind 'dcc_revocations'"
    assert verify(code, VerifyContext(now=dt.datetime.now(dt.timezone.utc), trust=trust)).status is Status.REVOKED


@pytest.mark.parametrize("kind, good, bad", [
    ("revocations", {"UCI": [_hash("someone")]}, {"UCI": [_hash("someone else"), "zz-not-a-hash"]}),
    ("revocations", {"UCI": [_hash("someone")]}, {"dcc_revocations": {"PASSPORT": [_hash("x")]}}),
    ("rules", {"vaccination": {"min_days_after_last_dose": 21}}, {"vaccination": {"min_days_after_last_dose": "soon"}}),
    ("rules", {"test": {"max_hours_pcr": 48}}, {"recovery": {"min_days_after_positive": 200, "max_days_after_positive": 100}}),
    ("trust-list", None, {"dscs": [{"rawData": "bm90IGEgY2VydGlmaWNhdGU="}]}),
])
def test_a_bundle_the_kiosk_cannot_use_is_refused_and_the_last_good_copy_kept(city, tmp_path, caplog, kind, good, bad):
    config = enrolled_config(city, tmp_path, "k-content")
    if good is None:
        good = DccIssuer.create().trust_list()
    city.store.publish(kind, good)  # the store signs what it is given: a careless or hostile city
    sync_once(config)
    held = (tmp_path / "state" / "bundles" / f"{kind}.json").read_bytes()
    city.store.publish(kind, bad)
    sync_once(config)
    assert f"{kind} bundle from" in caplog.text and "REFUSED" in caplog.text
    assert (tmp_path / "state" / "bundles" / f"{kind}.json").read_bytes() == held
    load_trust(config)  # the kiosk still starts
    if kind == "rules":
        assert apply_city_rules(config) != config  # still the good rules
    if kind == "revocations":
        assert load_trust(config).dcc_revoked  # still the good list


def test_publish_refuses_what_kiosks_would_refuse_with_the_reason(tmp_path, capsys):
    data = tmp_path / "city"
    bad = tmp_path / "revocations.json"
    bad.write_text(json.dumps({"dcc_revocations": {"UCI": [_hash("a"), "zz-nope!"]}}))
    assert city_main(["publish", "--data", str(data), "--revocations", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing published" in err and "UCI[1]" in err and "neither hex nor base64" in err

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"vaccination": {"min_days_after_last_dos": 21}}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"dcc_revocations": {"UCI": [_hash("a")]}}))
    # one bad file among several: none is published
    assert city_main(["publish", "--data", str(data), "--revocations", str(good), "--rules", str(rules)]) == 2
    assert "vaccination.min_days_after_last_dos: unknown key" in capsys.readouterr().err
    from city.store import CityStore

    store = CityStore(data)
    try:
        assert store.bundle("revocations") is None and store.bundle("rules") is None
    finally:
        store.close()
    assert city_main(["publish", "--data", str(data), "--revocations", str(good)]) == 0
    assert "published revocations version 1" in capsys.readouterr().out


def test_check_content_names_the_kind_and_the_problem():
    with pytest.raises(BundleError, match="rules content cannot be used: test.accepted_types"):
        check_content("rules", {"test": {"accepted_types": ["pcr", "smell"]}})
    check_content("rules", {"test": {"accepted_types": ["pcr"]}})
