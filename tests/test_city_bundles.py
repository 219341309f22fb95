"""The kiosk uses what the city publishes: trust list and health rules, verified, last good copy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from kiosk import config as config_mod
from kiosk.app import apply_city_rules, load_trust
from kiosk.cli import main
from kiosk.formats import verify
from kiosk.formats.base import VerifyContext
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.model import Identity, Status
from sync.client import sync_once
from city.embedded import start_server
from sync_helpers import enrolled_config

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def city(tmp_path):
    with start_server(tmp_path / "city") as server:
        yield server


def test_trust_list_and_rules_from_the_city(city, tmp_path):
    issuer = DccIssuer.create(country="VN", valid_from=NOW - dt.timedelta(days=30))
    code = issuer.vaccination(Identity("Trần Thị Mai", "1990-05-06"), NOW.date() - dt.timedelta(days=20))
    config = enrolled_config(city, tmp_path, "k-bundles")
    ctx = lambda trust: VerifyContext(now=dt.datetime.now(dt.timezone.utc), trust=trust)  # noqa: E731
    assert verify(code, ctx(load_trust(config))).status is Status.UNKNOWN_ISSUER

    city.store.publish("trust-list", issuer.trust_list())
    city.store.publish("rules", {"vaccination": {"min_days_after_last_dose": 21}})
    assert sync_once(config).undelivered == 0

    assert verify(code, ctx(load_trust(config))).status is Status.VALID
    assert apply_city_rules(config).policy.vaccination.min_days_after_last_dose == 21
    assert apply_city_rules(config).policy.mode == config.policy.mode  # the venue keeps its mode


def test_invalid_rules_bundle_is_ignored(city, tmp_path, caplog):
    """A copy the sync would refuse today (kept by an older version) is ignored when applied."""
    from sync.bundles import sign_bundle

    config = enrolled_config(city, tmp_path, "k-bundles")
    folder = tmp_path / "state" / "bundles"
    folder.mkdir(parents=True)
    (folder / "rules.json").write_bytes(sign_bundle(
        "rules", {"vaccination": {"min_days_after_last_dose": "soon"}}, city.store.keys.bundle_private, 1))
    assert apply_city_rules(config) == config
    assert "city rules bundle refused" in caplog.text


def test_status_json_reports_bundles_and_counts(city, tmp_path, capsys):
    config = enrolled_config(city, tmp_path, "k-bundles")
    city.store.publish("trust-list", DccIssuer.create().trust_list())
    sync_once(config)
    toml = tmp_path / "kiosk.toml"
    toml.write_text(city.enroll("k-status", state_dir=tmp_path / "state2", simulated=True).toml())
    assert main(["status", "--config", str(toml), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    for key in ("total", "undelivered", "oldest_undelivered", "last_sync", "trust_list_age_hours",
                "clock_synchronised", "disk_alarm", "quarantined", "bundles"):
        assert key in status
    assert status["total"] == 0 and status["undelivered"] == 0


def test_the_city_replaces_a_value_set_and_the_rules_and_verify_follow(city, tmp_path, capsys):
    """Issue 12: value sets are updated at a kiosk by the city's rules bundle."""
    from kiosk.valuesets import VALUESET_DIR

    issuer = DccIssuer.create(country="VN", valid_from=NOW - dt.timedelta(days=30))
    code = issuer.vaccination(Identity("Trần Thị Mai", "1990-05-06"), NOW.date() - dt.timedelta(days=20),
                              product="VN-Nanocovax")
    config = enrolled_config(city, tmp_path, "k-bundles")
    config = dataclasses.replace(config, policy=dataclasses.replace(config.policy, mode="health"))
    products = json.loads((VALUESET_DIR / "vaccine-medicinal-product.json").read_text())
    products["valueSetValues"]["VN-Nanocovax"] = {"display": "Nanocovax", "lang": "en", "active": True,
                                                  "system": "local", "version": ""}
    city.store.publish("trust-list", issuer.trust_list())
    from kiosk.policy import Policy

    def decide() -> str:
        rules = apply_city_rules(config).policy
        credential = verify(code, VerifyContext(now=dt.datetime.now(dt.timezone.utc), trust=load_trust(config)))
        return Policy(rules).decide(credential, now=dt.datetime.now(dt.timezone.utc)).reason

    sync_once(config)
    assert decide() == "product_not_accepted"  # not in the shipped set
    city.store.publish("rules", {"vaccination": {"accepted_products": []},
                                 "valuesets": {"vaccine-medicinal-product": products}})
    sync_once(config)
    rules = apply_city_rules(config).policy
    assert rules.value_sets["vaccine-medicinal-product"].source == "city rules bundle"
    assert rules.value_sets["test-type"].source == "shipped"  # the others stay as shipped
    assert decide() == "vaccinated"


def test_status_says_which_value_sets_are_in_force_and_where_they_come_from(city, tmp_path, capsys):
    """Issue 12: `kiosk status` names each EU value set in force: shipped (with the EU release),
    or from the city's rules bundle (with when the city signed it)."""
    from kiosk.valuesets import NAMES, VALUESET_DIR, shipped

    toml = tmp_path / "kiosk.toml"
    toml.write_text(city.enroll("k-sets", state_dir=tmp_path / "state", simulated=True).toml())

    def status(*options: str) -> str:
        assert main(["status", "--config", str(toml), *options]) == 0
        return capsys.readouterr().out

    release = shipped().version  # "60ea3d8 (2023-07-12)", MANIFEST.json's
    sets = json.loads(status("--json"))["value_sets"]
    assert list(sets) == list(NAMES)
    assert sets["test-type"] == {"id": "covid-19-lab-test-type", "date": "2021-04-27", "codes": 2,
                                 "source": "shipped", "release": release}
    (line,) = [line for line in status().splitlines() if line.startswith("value_sets ")]
    assert line.endswith(f"  shipped, EU release {release}: disease-agent-targeted 2021-04-27, vaccine-prophylaxis "
                         "2023-01-25, vaccine-medicinal-product 2022-11-30, vaccine-mah-manf 2022-01-26, test-type "
                         "2021-04-27, test-result 2021-04-27, test-manf 2021-07-01")

    products = json.loads((VALUESET_DIR / "vaccine-medicinal-product.json").read_text())
    products["valueSetDate"] = "2026-11-30"
    products["valueSetValues"]["VN-Nanocovax"] = {"display": "Nanocovax", "lang": "en", "active": True,
                                                  "system": "local", "version": ""}
    city.store.publish("rules", {"valuesets": {"vaccine-medicinal-product": products}})
    sync_once(config_mod.load(toml))
    report = json.loads(status("--json"))
    issued = report["bundles"]["rules"]["issued_at"]
    assert issued
    assert report["value_sets"]["vaccine-medicinal-product"] == {
        "id": "vaccines-covid-19-names", "date": "2026-11-30", "codes": len(products["valueSetValues"]),
        "source": "city rules bundle", "issued_at": issued}
    assert report["value_sets"]["test-type"]["source"] == "shipped"  # the others stay as shipped
    lines = status().splitlines()
    assert f"city rules bundle issued {issued}: vaccine-medicinal-product 2026-11-30" in [line.strip() for line in lines]
    assert any(line.startswith("value_sets") and f"shipped, EU release {release}: " in line
               and "vaccine-medicinal-product" not in line for line in lines)


def test_a_rules_bundle_with_a_broken_value_set_is_refused_whole(city, tmp_path, caplog):
    config = enrolled_config(city, tmp_path, "k-bundles")
    city.store.publish("rules", {"vaccination": {"min_days_after_last_dose": 21},
                                 "valuesets": {"test-type": {"valueSetValues": {"LP6464-4": "no display"}}}})
    sync_once(config)
    assert apply_city_rules(config) == config
