"""Issue 12: EU DCCs are verified as leniently as the EU's own conformance data, and the rules
decide on the fields they need.

Every certificate here is made with the project's test issuer (kiosk.demo.issuing.dcc) from payloads
written below, shaped as real early issuers shaped them: partial birth dates, empty optional
strings, the 1.0.0 field shapes. Properly signed, they are ``valid`` with their schema problems
listed; the health rules refuse those that lack what the rules need, each with its reason.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.cli import main
from kiosk.config import PolicySection, VaccinationRules
from kiosk.formats import dcc_schema
from kiosk.formats.base import VerifyContext
from kiosk.formats.eu_dcc import FORMAT
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.model import Kind, Status
from kiosk.policy import SCHEMA_FLAG, Policy
from kiosk.reasons import MESSAGES
from kiosk.valuesets import NAMES, VALUESET_DIR, shipped
from sync.trust import TrustStore

UTC = dt.timezone.utc
NOW = dt.datetime(2022, 6, 1, 12, tzinfo=UTC)
ISSUED = NOW - dt.timedelta(days=10)
ISSUER = DccIssuer.create(alg="ES256", country="AT")
TRUST = TrustStore()
TRUST.add_dsc(ISSUER.dsc_der)
HEALTH = PolicySection(mode="health", accept_formats=("eu-dcc",))

# A vaccination as schema 1.0.0 shaped it (dn/sd 1-9, "dt" a date, "is" and "ci" required)
V100 = {
    "ver": "1.0.0",
    "nam": {"fn": "Müller", "fnt": "MUELLER", "gn": "Lena", "gnt": "LENA"},
    "dob": "1988-03-14",
    "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": 2, "sd": 2,
           "dt": "2022-04-20", "co": "AT", "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:QUIRK1#A"}],
}
T130 = {
    "ver": "1.3.0",
    "nam": {"fn": "Müller", "fnt": "MUELLER", "gn": "Lena", "gnt": "LENA"},
    "dob": "1988-03-14",
    "t": [{"tg": "840539006", "tt": "LP6464-4", "nm": "PCR", "sc": "2022-06-01T06:00:00Z", "tr": "260415000",
           "tc": "Test centre", "co": "AT", "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:QUIRK2#B"}],
}
R130 = {
    "ver": "1.3.0",
    "nam": {"fn": "Müller", "fnt": "MUELLER"},
    "dob": "1988-03-14",
    "r": [{"tg": "840539006", "fr": "2022-03-01", "df": "2022-03-12", "du": "2022-08-28", "co": "AT",
           "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:QUIRK3#C"}],
}


def changed(base: dict, **changes) -> dict:
    """A copy of ``base`` with top-level or entry fields changed (``entry__dn=0``); None removes."""
    dcc = copy.deepcopy(base)
    key = next(k for k in ("v", "t", "r") if k in dcc)
    for name, value in changes.items():
        target, field = (dcc[key][0], name[len("entry__"):]) if name.startswith("entry__") else (dcc, name)
        if "." in field:
            outer, field = field.split(".")
            target = target[outer]
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    return dcc


def verify(dcc: object):
    return FORMAT.verify(ISSUER.sign_dcc(dcc, iat=ISSUED), VerifyContext(now=NOW, trust=TRUST))


def decide(dcc: object, rules: PolicySection = HEALTH):
    credential = verify(dcc)
    return credential, Policy(rules).decide(credential, now=NOW)


def strings_in(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return set()


# --- the schemas shipped --------------------------------------------------------------------


def test_every_published_schema_version_ships_with_its_licence() -> None:
    assert dcc_schema.shipped_versions() == ("1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1", "1.3.2", "1.3.3")
    assert "Apache License" in (dcc_schema.SCHEMA_DIR / "LICENSE").read_text()
    for version in dcc_schema.shipped_versions():
        schema = dcc_schema.load_schema(version)
        assert version in schema["$comment"] or version == "1.0.0"
        assert schema["$schema"].endswith("2020-12/schema")


def test_the_schemas_use_no_keyword_the_fast_check_could_read_otherwise() -> None:
    """fastjsonschema generates draft 2019 code; these are the only keywords the schemas use,
    all of which mean the same in draft 2019 and 2020-12 (no prefixItems, $dynamicRef, …)."""
    allowed = {"$schema", "$id", "$comment", "$defs", "$ref", "title", "description", "examples", "type",
               "properties", "required", "items", "minItems", "maxItems", "pattern", "format", "maxLength",
               "minimum", "maximum", "oneOf", "anyOf", "valueset-uri"}

    def keywords(node: object, in_properties: bool = False) -> set[str]:
        if isinstance(node, dict):
            found = set() if in_properties else set(node)
            for key, value in node.items():
                found |= keywords(value, key in ("properties", "$defs") and not in_properties)
            return found
        if isinstance(node, list):
            return set().union(*(keywords(v) for v in node)) if node else set()
        return set()

    for version in dcc_schema.shipped_versions():
        assert keywords(dcc_schema.load_schema(version)) <= allowed, version


@pytest.mark.parametrize("ver, used", [("1.3.0", "1.3.0"), ("1.0.0", "1.0.0"), ("1.2.9", "1.2.1"), ("1.4.0", "1.3.3"),
                                        ("0.9.0", "1.0.0"), ("", "1.3.3"), (130, "1.3.3")])
def test_a_payload_is_checked_against_the_schema_of_its_version(ver: object, used: str) -> None:
    assert dcc_schema.schema_version_for(ver) == used


# --- early-schema quirks: valid, with their problems listed ---------------------------------

QUIRKS = {
    # partial birth dates: 1.0.0 wanted a full date (1.3 allows them)
    "birth year only (1.0.0)": (changed(V100, dob="1988"), "$.dob"),
    "birth year and month (1.0.0)": (changed(V100, dob="1988-03"), "$.dob"),
    # empty strings where real 1.0.x issuers left fields empty
    "empty country": (changed(V100, entry__co=""), "$.v[0].co"),
    "empty standardised given name": (changed(V100, **{"nam": {"fn": "MÜLLER", "fnt": "MUELLER", "gn": "", "gnt": ""}}),
                                       None),
    "family name in capitals, nothing transliterated": (changed(V100, nam={"fn": "MÜLLER", "fnt": ""}), None),
    "empty test centre and issuer": (changed(T130, entry__tc="", entry__is=""), None),
    # the 1.0.0 shapes
    "a vaccination date with a time": (changed(V100, entry__dt="2022-04-20T00:00:00"), "$.v[0].dt"),
    "no issuer (is)": (changed(V100, entry__is=None), "$.v[0]"),
    "no UCI (ci)": (changed(V100, entry__ci=None), "$.v[0]"),
    "a test sample time without offset": (changed(T130, entry__sc="2022-06-01T06:00:00"), "$.t[0].sc"),
    "a test with the early test-result text": (changed(T130, entry__tr="260415000", entry__tc=None), None),
    "ver missing": (changed(V100, ver=None), "$"),
    "an extra unknown field": (changed(V100, entry__xx="whatever"), None),
}


@pytest.mark.parametrize("name", QUIRKS)
def test_quirky_certificates_are_valid_with_their_schema_problems_listed(name: str) -> None:
    dcc, path = QUIRKS[name]
    credential = verify(dcc)
    assert credential.status is Status.VALID, credential.detail
    if path is not None:
        assert any(p.path == path for p in credential.schema_problems), credential.schema_problems
    for problem in credential.schema_problems:  # never a value from the certificate
        words = f"{problem.path} {problem.message}"
        assert not any(len(s) > 2 and s in words for s in strings_in(dcc) - {"ver", "nam", "dob", "v", "t", "r"}), words


@pytest.mark.parametrize("dob", ["\uff11\uff19\uff19\uff11-04-30", "\u0661\u0669\u0669\u0661", "30.04.1991"])
@pytest.mark.parametrize("base", [V100, T130])
def test_a_birth_date_in_other_digits_is_reported_and_never_taken_as_one(base: dict, dob: str) -> None:
    """Full-width or Arabic-Indic digits are no birth date (JSON Schema patterns are ECMA-262,
    where \\d is [0-9]): a problem is listed, and the identity carries no birth date."""
    credential = verify(changed(base, dob=dob))
    assert credential.status is Status.VALID
    assert any(p.path == "$.dob" for p in credential.schema_problems)
    assert credential.identity is not None and credential.identity.birth_date == ""


@pytest.mark.parametrize("dcc", [V100, T130, R130])
def test_the_clean_payloads_have_no_problems(dcc: dict) -> None:
    credential = verify(dcc)
    assert credential.status is Status.VALID and credential.schema_problems == ()
    assert credential.schema_version == dcc["ver"]


def test_a_quirky_vaccination_still_passes_the_rules_when_it_has_what_they_read() -> None:
    dcc = changed(V100, dob="1988", entry__co="", entry__is="", entry__ci=None, entry__ma=None, entry__vp=None)
    credential, decision = decide(dcc)
    assert credential.status is Status.VALID and len(credential.schema_problems) >= 3
    assert (decision.decision, decision.reason) == ("pass", "vaccinated")
    assert f"{SCHEMA_FLAG}:{len(credential.schema_problems)}" in decision.flags  # counted for the journal


def test_several_entry_kinds_are_reported_even_where_the_schema_allows_them() -> None:
    dcc = changed(V100, ver="1.2.1")
    dcc["t"] = copy.deepcopy(T130["t"])
    credential = verify(dcc)
    assert credential.status is Status.VALID
    assert dcc_schema.ONE_ENTRY_KIND in credential.schema_problems


def test_no_name_and_no_entries_is_still_a_valid_signature() -> None:
    credential, decision = decide({"ver": "1.0.0", "nam": {}})
    assert credential.status is Status.VALID and credential.identity is None and credential.kind is Kind.UNKNOWN
    assert {p.message for p in credential.schema_problems} >= {"required property fnt is missing"}
    assert (decision.decision, decision.reason) == ("fail", "no_evidence")


# --- the rules decide on what they need ------------------------------------------------------

REFUSALS = {
    "no product": (changed(V100, entry__mp=None), "certificate_incomplete"),
    "empty product": (changed(V100, entry__mp=""), "certificate_incomplete"),
    "a 0 for the doses in the series": (changed(V100, entry__sd=0), "certificate_incomplete"),
    "no dose number": (changed(V100, entry__dn=None), "certificate_incomplete"),
    "a vaccination date that is no date": (changed(V100, entry__dt="20/04/2022"), "certificate_incomplete"),
    "a vaccination date that does not exist": (changed(V100, entry__dt="2022-02-30"), "certificate_incomplete"),
    "no disease": (changed(V100, entry__tg=""), "certificate_incomplete"),
    "another disease": (changed(V100, entry__tg="6142004"), "disease_not_covered"),
    "a product outside the value set": (changed(V100, entry__mp="EU/1/99/9999"), "product_not_accepted"),
    "an empty test result": (changed(T130, entry__tr=""), "certificate_incomplete"),
    "a test result outside the value set": (changed(T130, entry__tr="1240581000000104"), "test_result_not_negative"),
    "a detected test result": (changed(T130, entry__tr="260373001"), "test_positive"),
    "a test type outside the value set": (changed(T130, entry__tt="LP0000-0"), "test_type_not_accepted"),
    "no sample time": (changed(T130, entry__sc=None), "certificate_incomplete"),
    "a sample time that is no time": (changed(T130, entry__sc="yesterday"), "certificate_incomplete"),
    "no first positive test": (changed(R130, entry__fr=""), "certificate_incomplete"),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_the_rules_refuse_what_lacks_a_field_they_read_each_with_its_reason(name: str) -> None:
    dcc, reason = REFUSALS[name]
    credential, decision = decide(dcc)
    assert credential.status is Status.VALID, credential.detail  # technically fine, always
    assert (decision.decision, decision.reason) == ("fail", reason)
    assert reason in MESSAGES and MESSAGES[reason].vi and MESSAGES[reason].en


@pytest.mark.parametrize("dcc", [changed(V100, entry__co="", entry__is="", entry__ma=""), changed(T130, entry__ma="0000"),
                                 changed(R130, entry__df=None, entry__du=None, entry__co=None)])
def test_fields_no_rule_reads_refuse_no_one(dcc: dict) -> None:
    _, decision = decide(dcc)
    assert decision.passed, decision.reason


def test_checkin_mode_admits_a_valid_certificate_the_rules_would_refuse() -> None:
    _, decision = decide(changed(V100, entry__mp=None), PolicySection(mode="checkin"))
    assert decision.passed


def test_a_venue_product_list_and_the_value_set_are_two_checks() -> None:
    only_spikevax = dataclasses.replace(HEALTH, vaccination=VaccinationRules(accepted_products=("EU/1/20/1507",)))
    assert decide(V100, only_spikevax)[1].reason == "vaccine_not_accepted"
    anything = dataclasses.replace(HEALTH, vaccination=VaccinationRules(accepted_products=()))
    assert decide(changed(V100, entry__mp="EU/1/99/9999"), anything)[1].reason == "product_not_accepted"


def test_a_city_value_set_admits_a_product_the_shipped_one_lacks() -> None:
    nanocovax = json.loads((VALUESET_DIR / "vaccine-medicinal-product.json").read_text())
    nanocovax["valueSetValues"]["VN-Nanocovax"] = {"display": "Nanocovax", "lang": "en", "active": True,
                                                    "system": "local", "version": ""}
    rules = dataclasses.replace(HEALTH, vaccination=VaccinationRules(accepted_products=()),
                                value_sets=shipped().replaced({"vaccine-medicinal-product": nanocovax}))
    dcc = changed(V100, entry__mp="VN-Nanocovax")
    assert decide(dcc)[1].reason == "product_not_accepted"
    assert decide(dcc, rules)[1].reason == "vaccinated"


def test_value_sets_ship_with_their_version_and_date() -> None:
    value_sets = shipped()
    assert set(NAMES) == set(value_sets.sets)
    assert value_sets.version == "60ea3d8 (2023-07-12)"
    for description in value_sets.describe():
        assert description["id"] and description["date"][:2] == "20" and description["codes"] > 0
    assert value_sets.display("vaccine-medicinal-product", "EU/1/20/1528") == "Comirnaty"
    with pytest.raises(ValueError, match="valuesets.test-type"):
        value_sets.replaced({"test-type": {"valueSetValues": {"X": "no display object"}}})
    with pytest.raises(ValueError, match="unknown value set"):
        value_sets.replaced({"colours": {"valueSetValues": {"X": {"display": "x"}}}})


# --- COSE header rules ------------------------------------------------------------------------


def _sign(issuer: DccIssuer, protected: dict, unprotected: dict) -> str:
    import base45
    import zlib

    payload = cbor2.dumps({1: "AT", 6: int(ISSUED.timestamp()), -260: {1: V100}})
    protected_raw = cbor2.dumps(protected) if protected else b""
    signature = issuer.raw_signature(cbor2.dumps(["Signature1", protected_raw, b"", payload]))
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected_raw, unprotected, payload, signature]))
    return "HC1:" + base45.b45encode(zlib.compress(cose)).decode()


def _status(text: str, issuer: DccIssuer = ISSUER):
    store = TrustStore()
    store.add_dsc(issuer.dsc_der)
    return FORMAT.verify(text, VerifyContext(now=NOW, trust=store))


def test_alg_comes_from_the_protected_header_only() -> None:
    kid = ISSUER.kid
    assert _status(_sign(ISSUER, {1: -7, 4: kid}, {1: -37})).status is Status.VALID  # the protected one wins
    refused = _status(_sign(ISSUER, {4: kid}, {1: -7}))  # the protected header holds no alg
    assert refused.status is Status.INVALID_SIGNATURE and "protected header" in refused.detail
    # a protected header holding nothing at all: both from the unprotected one (EU case CO20)
    assert _status(_sign(ISSUER, {}, {1: -7, 4: kid})).status is Status.VALID


@pytest.mark.parametrize("alg", [-35, -36, -37])  # ES384, ES512, PS256 named for a P-256 key
def test_an_algorithm_that_does_not_fit_the_key_is_an_invalid_signature(alg: int) -> None:
    credential = _status(_sign(ISSUER, {1: alg, 4: ISSUER.kid}, {}))
    assert credential.status is Status.INVALID_SIGNATURE and "does not fit" in credential.detail


def test_es256_named_for_a_p384_key_is_an_invalid_signature() -> None:
    p384 = DccIssuer.create(alg="ES384")
    assert _status(_sign(p384, {1: -35, 4: p384.kid}, {}), p384).status is Status.VALID
    assert _status(_sign(p384, {1: -7, 4: p384.kid}, {}), p384).status is Status.INVALID_SIGNATURE


# --- kiosk verify --json -----------------------------------------------------------------------


def test_verify_json_lists_schema_problems_and_display_names(tmp_path, capsys) -> None:
    dsc = ISSUER.write_dsc(tmp_path / "dsc.pem")
    text = ISSUER.sign_dcc(changed(V100, dob="1988", entry__co=""), iat=ISSUED)
    assert main(["verify", "--dsc", str(dsc), "--at", NOW.isoformat(), "--json", text]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["status"], out["schema_version"]) == ("valid", "1.0.0")
    assert {"path": "$.dob", "message": "does not match the pattern (19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}"} in out["schema_problems"]
    assert "MUELLER" not in json.dumps(out["schema_problems"]) and "1988" not in json.dumps(out["schema_problems"])
    codes = {c["path"]: c for c in out["codes"]}
    assert codes["$.v[0].mp"] == {"path": "$.v[0].mp", "value_set": "vaccine-medicinal-product",
                                  "code": "EU/1/20/1528", "display": "Comirnaty"}
    assert codes["$.v[0].tg"]["display"] == "COVID-19"


# --- nothing a certificate holds raises, or leaks into a problem --------------------------------

MARK = "Zq"
marked = st.text(max_size=6).map(lambda s: MARK + s)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats() | marked | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(marked | st.sampled_from(["tg", "dn", "v", "t"]), inner, max_size=3),
    max_leaves=12,
)
FIELDS = ["ver", "dob", "nam", "v", "t", "r", "entry", "fnt", "gnt", "tg", "mp", "dn", "sd", "dt", "sc", "tr", "tt",
          "fr", "df", "du", "co", "is", "ci"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([V100, T130, R130]), st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=3))
def test_hypothesis_payloads_never_raise_and_problems_never_quote_them(base: dict, edits: list) -> None:
    dcc = copy.deepcopy(base)
    key = next(k for k in ("v", "t", "r") if k in dcc)
    for field, value in edits:
        if field in ("ver", "dob", "nam", "v", "t", "r"):
            dcc[field] = value
        elif field in ("fnt", "gnt") and isinstance(dcc.get("nam"), dict):
            dcc["nam"][field] = value
        elif field == "entry" and isinstance(dcc.get(key), list):
            dcc[key] = [value]
        elif isinstance(dcc.get(key), list) and dcc[key] and isinstance(dcc[key][0], dict):
            dcc[key][0][field] = value
    credential, decision = decide(dcc)
    assert credential.status in (Status.VALID, Status.MALFORMED), credential.detail
    assert decision.decision in ("pass", "fail") and decision.reason in MESSAGES
    for problem in credential.schema_problems:
        assert MARK not in problem.path + problem.message
    # the fast check and the reference validator agree on whether the payload conforms
    version = dcc_schema.schema_version_for(dcc.get("ver") if isinstance(dcc, dict) else None)
    try:
        dcc_schema._fast(version)(dcc)
        fast_ok = True
    except Exception:
        fast_ok = False
    try:
        full_ok = not list(dcc_schema._full(version).iter_errors(dcc))
    except Exception:
        full_ok = False
    assert fast_ok == full_ok


def test_the_journal_counts_the_schema_problems_in_the_entry_flags(make_config, mock_factory) -> None:
    import sqlite3

    from drivers.camera import Camera, ReplaySource
    from kiosk.app import build_kiosk
    from kiosk.clock import FixedClock

    config = make_config(policy={"mode": "health", "reentry_minutes": 0.0}, gate={"open_seconds": 0.2})
    kiosk = build_kiosk(config, camera=Camera(ReplaySource(frames=[], realtime=False)), pin_factory=mock_factory,
                        clock=FixedClock(NOW, advance=False))
    kiosk.trust.add_dsc(ISSUER.dsc_der)
    try:
        quirky = kiosk.decide(ISSUER.sign_dcc(changed(V100, dob="1988", entry__co=""), iat=ISSUED))
        clean = kiosk.decide(ISSUER.sign_dcc(T130, iat=ISSUED))
    finally:
        kiosk.close()
    assert (quirky.status, quirky.decision.reason, clean.decision.reason) == ("valid", "vaccinated", "tested_negative")
    with sqlite3.connect(config.journal_path) as db:
        rows = db.execute("SELECT reason, flags FROM entries ORDER BY rowid").fetchall()
    assert rows == [("vaccinated", f"{SCHEMA_FLAG}:3"), ("tested_negative", "")]


def test_a_kiosk_compiles_every_schema_check_before_its_first_visitor() -> None:
    from kiosk import formats

    dcc_schema._fast.cache_clear()
    formats.prepare()
    assert dcc_schema._fast.cache_info().currsize == len(dcc_schema.shipped_versions())
