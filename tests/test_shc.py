"""SMART Health Cards: own-key cards of every status, the specification's examples, robustness."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk import formats
from kiosk.errors import TrustError
from kiosk.formats.base import VerifyContext
from kiosk.formats.shc import FORMAT, assemble_chunks, jws_to_numeric, numeric_to_jws
from kiosk.demo.issuing.shc import Dose, LabTest, ShcTestIssuer, b64url, chunk, deflate_raw, vaccinated
from kiosk import model
from kiosk.model import Identity, Kind, Status, Vaccination
from kiosk.shc_issuers import add_shc_issuer, load_issuer, parse_crl
from sync.trust import TrustStore

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "shc"
SPEC_ISS = "https://spec.smarthealth.cards/examples/issuer"
SPEC_AT = dt.datetime(2023, 7, 1, tzinfo=dt.UTC)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(days=30)
PERSON = Identity("Nguyen Van An", "1990-05-01")


@pytest.fixture(scope="module")
def issuer() -> ShcTestIssuer:
    return ShcTestIssuer("https://issuer.example/shc")


@pytest.fixture
def trust(issuer: ShcTestIssuer, tmp_path: Path) -> TrustStore:
    issuer.publish(tmp_path)
    store = TrustStore()
    add_shc_issuer(store, issuer.iss, tmp_path)
    return store


def check(text: str, trust: TrustStore, now: dt.datetime = NOW):
    return FORMAT.verify(text, VerifyContext(now=now, trust=trust))


def card(issuer: ShcTestIssuer, **kw) -> str:
    kw.setdefault("nbf", ISSUED)
    return vaccinated(issuer, PERSON, dt.date(2024, 3, 1), **kw)


def mangle_jws(text: str, part: int, position: float) -> str:
    """Change one character in the middle of a JWS part, keeping it base64url."""
    parts = numeric_to_jws(text[5:]).split(".")
    s = parts[part]
    i = int(len(s) * position)
    parts[part] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1 :]
    return jws_to_numeric(".".join(parts))


# --------------------------------------------------------------------------- own keys: valid


def test_valid_vaccination_card(issuer, trust):
    credential = check(card(issuer), trust)
    assert credential.status is Status.VALID, credential.detail
    assert credential.format == "shc" and credential.kind is Kind.VACCINATION
    assert credential.issuer == issuer.iss
    assert credential.identity == Identity("Nguyen Van An", "1990-05-01", "")
    assert [(v.dose_number, v.series_doses, v.product, v.date) for v in credential.evidence] == [
        (1, 2, "208", dt.date(2024, 2, 2)),
        (2, 2, "208", dt.date(2024, 3, 1)),
    ]


def test_dose_numbers_follow_dates_not_bundle_order(issuer, trust):
    doses = [Dose(dt.date(2022, 1, 1), "207"), Dose(dt.date(2021, 6, 1), "212"), Dose(dt.date(2021, 9, 1), "207")]
    credential = check(issuer.card(PERSON, doses=doses, nbf=ISSUED), trust)
    assert [(v.date, v.dose_number, v.series_doses) for v in credential.evidence] == [
        (dt.date(2021, 6, 1), 1, 1),  # Janssen: a single-dose series
        (dt.date(2021, 9, 1), 2, 2),
        (dt.date(2022, 1, 1), 3, 2),
    ]


def test_lab_results_become_test_evidence(issuer, trust):
    tests = [
        LabTest(NOW - dt.timedelta(hours=5), detected=False, loinc="94500-6"),
        LabTest(NOW - dt.timedelta(hours=2), detected=True, loinc="94558-4"),
    ]
    credential = check(issuer.card(PERSON, tests=tests, nbf=ISSUED), trust)
    assert credential.status is Status.VALID and credential.kind is Kind.TEST
    assert credential.evidence == (
        model.TestResult(NOW - dt.timedelta(hours=5), result=model.NOT_DETECTED, test_type=model.NAAT),
        model.TestResult(NOW - dt.timedelta(hours=2), result=model.DETECTED, test_type=model.RAT),
    )


def test_other_lab_results_are_not_evidence(issuer, trust):
    payload = issuer.payload(PERSON, tests=[LabTest(NOW, loinc="718-7")], nbf=ISSUED)  # haemoglobin
    credential = check(jws_to_numeric(issuer.sign(payload)), trust)
    assert credential.status is Status.VALID and credential.kind is Kind.UNKNOWN and credential.evidence == ()


def test_registry_routes_shc_text(issuer, trust):
    credential = formats.verify(card(issuer), VerifyContext(now=NOW, trust=trust))
    assert credential.format == "shc" and credential.status is Status.VALID


# --------------------------------------------------------------------------- own keys: refusals


def test_untrusted_issuer(issuer):
    credential = check(card(issuer), TrustStore())
    assert credential.status is Status.UNKNOWN_ISSUER
    assert credential.issuer == issuer.iss


def test_unknown_kid_of_a_trusted_issuer(issuer, trust):
    other = ShcTestIssuer(issuer.iss)  # same URL, a key the issuer never published
    assert check(card(other), trust).status is Status.UNKNOWN_ISSUER


def test_forged_with_the_issuers_kid(issuer, trust):
    forger = ShcTestIssuer(issuer.iss)
    payload = forger.payload(PERSON, doses=[Dose(dt.date(2024, 1, 1))] * 2, nbf=ISSUED)
    text = jws_to_numeric(forger.sign(payload, {"zip": "DEF", "alg": "ES256", "kid": issuer.kid}))
    assert check(text, trust).status is Status.INVALID_SIGNATURE


def test_tampered_signature(issuer, trust):
    assert check(mangle_jws(card(issuer), 2, 0.5), trust).status is Status.INVALID_SIGNATURE


def test_payload_swapped_under_a_signature(issuer, trust):
    genuine = numeric_to_jws(card(issuer)[5:]).split(".")
    forged = numeric_to_jws(issuer.card(PERSON, doses=[Dose(dt.date(2024, 1, 1))] * 3, nbf=ISSUED)[5:]).split(".")
    text = jws_to_numeric(".".join([genuine[0], forged[1], genuine[2]]))
    assert check(text, trust).status is Status.INVALID_SIGNATURE


def test_not_yet_valid_beyond_the_skew_allowance(issuer, trust):
    assert check(card(issuer, nbf=NOW + dt.timedelta(minutes=10)), trust).status is Status.NOT_YET_VALID
    assert check(card(issuer, nbf=NOW + dt.timedelta(minutes=2)), trust).status is Status.VALID


def test_expired(issuer, trust):
    assert check(card(issuer, exp=NOW - dt.timedelta(seconds=1)), trust).status is Status.EXPIRED
    assert check(card(issuer, exp=NOW + dt.timedelta(days=1)), trust).status is Status.VALID


def test_revoked_by_rid(tmp_path):
    issuer = ShcTestIssuer("https://revoking.example")
    issuer.revoke("r-all")
    issuer.revoke("r-until", before=dt.datetime(2024, 4, 1, tzinfo=dt.UTC))
    issuer.publish(tmp_path)
    store = TrustStore()
    add_shc_issuer(store, issuer.iss, tmp_path)
    assert check(card(issuer, rid="r-all"), store).status is Status.REVOKED
    # rid.timestamp: only cards issued (nbf) before the timestamp are revoked
    assert check(card(issuer, rid="r-until", nbf=dt.datetime(2024, 3, 31, tzinfo=dt.UTC)), store).status is Status.REVOKED
    assert check(card(issuer, rid="r-until", nbf=dt.datetime(2024, 4, 2, tzinfo=dt.UTC)), store).status is Status.VALID
    assert check(card(issuer, rid="other"), store).status is Status.VALID
    assert check(card(issuer), store).status is Status.VALID


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ({"zip": "DEF", "alg": "ES384", "kid": "k"}, Status.UNSUPPORTED),
        ({"zip": "DEF", "alg": "none", "kid": "k"}, Status.UNSUPPORTED),
        ({"alg": "ES256", "kid": "k"}, Status.MALFORMED),
        ({"zip": "DEF", "alg": "ES256"}, Status.MALFORMED),
    ],
)
def test_bad_headers(issuer, trust, header, status):
    header = {**header, **({"kid": issuer.kid} if header.get("kid") else {})}
    payload = issuer.payload(PERSON, doses=[Dose(dt.date(2024, 1, 1))], nbf=ISSUED)
    assert check(jws_to_numeric(issuer.sign(payload, header)), trust).status is status


def test_uncompressed_payload_refused(issuer, trust):
    payload = issuer.payload(PERSON, doses=[Dose(dt.date(2024, 1, 1))], nbf=ISSUED)
    assert check(jws_to_numeric(issuer.sign(payload, compress=False)), trust).status is Status.MALFORMED


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda p: p.pop("nbf"), Status.MALFORMED),
        (lambda p: p.update(nbf="yesterday"), Status.MALFORMED),
        (lambda p: p.update(exp="tomorrow"), Status.MALFORMED),
        (lambda p: p.pop("iss"), Status.MALFORMED),
        (lambda p: p.pop("vc"), Status.MALFORMED),
        (lambda p: p["vc"].update(type=["https://example.org#other"]), Status.UNSUPPORTED),
        (lambda p: p["vc"]["credentialSubject"].pop("fhirBundle"), Status.MALFORMED),
        (lambda p: p["vc"]["credentialSubject"]["fhirBundle"]["entry"][1]["resource"].update(occurrenceDateTime="2021"), Status.MALFORMED),
        (lambda p: p["vc"].update(rid=12), Status.MALFORMED),
    ],
)
def test_signed_but_malformed_payloads(issuer, trust, change, status):
    payload = issuer.payload(PERSON, doses=[Dose(dt.date(2024, 1, 1))], nbf=ISSUED)
    change(payload)
    assert check(jws_to_numeric(issuer.sign(payload)), trust).status is status


@pytest.mark.parametrize(
    "text",
    [
        "shc:/",
        "shc:/123",  # odd number of digits
        "shc:/7899",  # 78 is beyond 'z'
        "shc:/56abc",
        "shc:/5676",  # not header.payload.signature
        "shc:/1/2/3/45",
        jws_to_numeric("e30.e30.e30"),  # "{}" everywhere
        jws_to_numeric("abc.def"),  # two parts
    ],
)
def test_malformed_texts(text):
    assert check(text, TrustStore()).status is Status.MALFORMED


def test_deflate_bomb_is_refused_quickly(issuer, trust):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"0," * (512 * 1024)
    bomb = compressor.compress(b"[") + b"".join(compressor.compress(block) for _ in range(200))  # 200 MB of JSON
    bomb += compressor.flush()
    header = b64url(json.dumps({"zip": "DEF", "alg": "ES256", "kid": issuer.kid}).encode())
    text = jws_to_numeric(f"{header}.{b64url(bomb)}.{b64url(bytes(64))}")
    if len(text) > formats.MAX_QR_TEXT:  # the registry refuses it unread; the plug-in must too
        assert formats.verify(text, VerifyContext(now=NOW, trust=trust)).status is Status.MALFORMED
    start = time.perf_counter()
    credential = check(text, trust)
    elapsed = time.perf_counter() - start
    assert credential.status is Status.MALFORMED and "expands" in credential.detail
    print(f"bomb of {len(bomb)} compressed bytes refused in {elapsed * 1000:.1f} ms")


def test_small_bomb_within_a_qr_code(issuer, trust):
    bomb = deflate_raw(b" " * (2 * 1024 * 1024))  # 2 MB: about the most that fits in one QR code
    header = b64url(json.dumps({"zip": "DEF", "alg": "ES256", "kid": issuer.kid}).encode())
    text = jws_to_numeric(f"{header}.{b64url(bomb)}.{b64url(bytes(64))}")
    assert len(text) < formats.MAX_QR_TEXT
    credential = formats.verify(text, VerifyContext(now=NOW, trust=trust))
    assert credential.status is Status.MALFORMED and "expands" in credential.detail


def test_deeply_nested_json_refused(issuer, trust):
    payload = json.dumps({"iss": issuer.iss, "nbf": 1, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode()
    credential = check(jws_to_numeric(issuer.sign(payload)), trust)
    assert credential.status is Status.MALFORMED and "nested" in credential.detail
    very_deep = b"[" * 100_000 + b"]" * 100_000
    assert check(jws_to_numeric(issuer.sign(very_deep)), trust).status is Status.MALFORMED


# --------------------------------------------------------------------------- chunks


def test_single_chunk_is_refused_as_incomplete(issuer, trust):
    parts = chunk(card(issuer), 3)
    credential = check(parts[1], trust)
    assert credential.status is Status.MALFORMED and "part 2 of 3" in credential.detail


def test_assemble_chunks(issuer, trust):
    whole = card(issuer)
    parts = chunk(whole, 3)
    shuffled = parts[:]
    random.Random(4).shuffle(shuffled)
    assert assemble_chunks(shuffled) == whole
    assert assemble_chunks(parts + [parts[0]]) == whole  # the same chunk read twice
    assert check(assemble_chunks(shuffled), trust).status is Status.VALID
    assert assemble_chunks(parts[:2]) is None
    assert assemble_chunks([parts[0], parts[1], parts[1][:-2]]) is None
    assert assemble_chunks([parts[0], "shc:/2/4/00", parts[2]]) is None
    assert assemble_chunks([parts[0], whole]) is None
    assert assemble_chunks([]) is None


def test_lookalike_digits_in_a_chunk_header_or_the_birth_date(issuer, trust):
    """ASCII digits only: Python's \\d and int() take full-width digits too."""
    whole = card(issuer)
    parts = chunk(whole, 3)
    full_width = parts[1].replace("shc:/2/3/", "shc:/\uff12/\uff13/", 1)
    assert full_width != parts[1]
    assert assemble_chunks([parts[0], full_width, parts[2]]) is None
    assert check(full_width, trust).status is Status.MALFORMED
    odd = Identity(PERSON.name, "\uff11\uff19\uff19\uff10-05-01")
    credential = check(vaccinated(issuer, odd, dt.date(2024, 3, 1), nbf=ISSUED), trust)
    assert credential.status is Status.VALID and credential.identity.birth_date == ""


# --------------------------------------------------------------------------- issuer loading


def test_crl_parsing():
    revoked = parse_crl({"kid": "k", "method": "rid", "ctr": 2, "rids": ["a", "b.100", "c.50", "c.70", "a.10"]}, "k")
    assert revoked == {"a": None, "b": 100.0, "c": 70.0}
    with pytest.raises(TrustError):
        parse_crl({"kid": "other", "rids": []}, "k")
    with pytest.raises(TrustError):
        parse_crl({"kid": "k", "rids": ["a.notatime"]}, "k")
    with pytest.raises(TrustError):
        parse_crl({"kid": "k"}, "k")


def test_issuer_folder_problems(tmp_path, issuer):
    with pytest.raises(TrustError, match="not found"):
        load_issuer(issuer.iss, tmp_path)
    (tmp_path / ".well-known").mkdir()
    (tmp_path / ".well-known" / "jwks.json").write_text("{not json")
    with pytest.raises(TrustError, match="JSON"):
        load_issuer(issuer.iss, tmp_path)
    bad_point = {**issuer.jwk(), "y": issuer.jwk()["x"]}
    (tmp_path / ".well-known" / "jwks.json").write_text(json.dumps({"keys": [bad_point]}))
    with pytest.raises(TrustError):
        load_issuer(issuer.iss, tmp_path)
    rsa = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
    (tmp_path / ".well-known" / "jwks.json").write_text(json.dumps({"keys": [rsa]}))
    with pytest.raises(TrustError, match="P-256"):
        load_issuer(issuer.iss, tmp_path)
    with pytest.raises(TrustError, match="URL"):
        add_shc_issuer(TrustStore(), "issuer.example", tmp_path)


def test_trailing_slash_in_trusted_url(issuer, tmp_path):
    issuer.publish(tmp_path)
    store = TrustStore()
    add_shc_issuer(store, issuer.iss + "/", tmp_path)
    assert check(card(issuer), store).status is Status.VALID


# --------------------------------------------------------------------------- the specification's examples

needs_examples = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"SMART Health Card examples not found at {TESTDATA}")


def spec_text(n: int, part: int = 0) -> str:
    return (TESTDATA / f"example-{n:02d}-f-qr-code-numeric-value-{part}.txt").read_text().strip()


@pytest.fixture
def spec_trust() -> TrustStore:
    store = TrustStore()
    add_shc_issuer(store, SPEC_ISS, TESTDATA / "issuer")
    return store


@needs_examples
@pytest.mark.parametrize(("n", "status"), [(0, Status.VALID), (1, Status.VALID), (3, Status.REVOKED)])
def test_spec_examples(spec_trust, n, status):
    credential = check(spec_text(n), spec_trust, SPEC_AT)
    assert credential.status is status, credential.detail
    assert credential.issuer == SPEC_ISS


@needs_examples
def test_spec_example_contents(spec_trust):
    credential = check(spec_text(0), spec_trust, SPEC_AT)
    expected = json.loads((TESTDATA / "example-00-b-jws-payload-expanded.json").read_text())
    entries = expected["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    immunizations = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Immunization"]
    assert [(v.date.isoformat(), v.product) for v in credential.evidence] == [
        (r["occurrenceDateTime"], r["vaccineCode"]["coding"][0]["code"]) for r in immunizations
    ]
    patient = entries[0]["resource"]
    assert credential.identity.name == " ".join(patient["name"][0]["given"] + [patient["name"][0]["family"]])
    assert credential.identity.birth_date == patient["birthDate"]
    assert all(isinstance(v, Vaccination) for v in credential.evidence)


@needs_examples
def test_spec_example_jws_matches_qr(spec_trust):
    assert numeric_to_jws(spec_text(0)[5:]) == (TESTDATA / "example-00-d-jws.txt").read_text().strip()


@needs_examples
@pytest.mark.parametrize(("part", "position"), [(2, 0.5), (2, 0.1), (1, 0.5), (1, 0.9), (1, 0.2)])
def test_spec_example_tampered(spec_trust, part, position):
    status = check(mangle_jws(spec_text(0), part, position), spec_trust, SPEC_AT).status
    assert status in (Status.INVALID_SIGNATURE, Status.MALFORMED)
    if part == 2:
        assert status is Status.INVALID_SIGNATURE


@needs_examples
def test_spec_example_untrusted():
    assert check(spec_text(0), TrustStore(), SPEC_AT).status is Status.UNKNOWN_ISSUER


@needs_examples
def test_spec_example_02_in_three_chunks(spec_trust):
    chunks = [spec_text(2, part) for part in range(3)]
    for text in chunks:
        credential = check(text, spec_trust, SPEC_AT)
        assert credential.status is Status.MALFORMED and "of 3" in credential.detail
    joined = assemble_chunks(reversed(chunks))
    assert joined is not None
    assert numeric_to_jws(joined[5:]) == (TESTDATA / "example-02-d-jws.txt").read_text().strip()
    assert check(joined, spec_trust, SPEC_AT).status is Status.VALID


@needs_examples
def test_spec_example_not_yet_valid_before_issue(spec_trust):
    assert check(spec_text(0), spec_trust, dt.datetime(2023, 6, 1, tzinfo=dt.UTC)).status is Status.NOT_YET_VALID


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_shc_text_without_a_trusted_signature_never_passes(trust, tail):
    credential = FORMAT.verify("shc:/" + tail, VerifyContext(now=NOW, trust=trust))
    assert credential.status is not Status.VALID  # no signature from a trusted issuer: never a pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_cards_never_pass_as_changed(issuer, trust, data):
    original = card(issuer)
    jws = numeric_to_jws(original[5:])
    i = data.draw(st.integers(0, len(jws) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFabcdef0123456789-_.="))
    mutated_jws = jws[:i] + replacement + jws[i + 1 :]
    credential = check(jws_to_numeric(mutated_jws), trust)
    if credential.status is Status.VALID:
        # only a change the signature cannot see (padding bits of the last base64 character)
        assert credential == check(original, trust)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_arbitrary_signed_payload_bytes(issuer, trust, payload):
    for compressed in (True, False):
        text = jws_to_numeric(issuer.sign(payload, compress=compressed))
        assert check(text, trust).status is not Status.VALID


def test_zlib_header_instead_of_raw_deflate(issuer, trust):
    body = zlib.compress(json.dumps(issuer.payload(PERSON, nbf=ISSUED)).encode())
    header = b64url(json.dumps({"zip": "DEF", "alg": "ES256", "kid": issuer.kid}).encode())
    assert check(jws_to_numeric(f"{header}.{b64url(body)}.{b64url(bytes(64))}"), trust).status is Status.MALFORMED
