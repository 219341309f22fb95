"""EU DCC verification with our own keys: every status, every header variant, the trust list.

Each test signs a certificate with a test issuer (kiosk.demo.issuing.dcc) and checks what the
kiosk makes of it at a fixed instant, so nothing depends on today's date.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib

import base45
import cbor2
import pytest

from kiosk.errors import TrustError
from kiosk.formats.base import VerifyContext
from kiosk.formats.eu_dcc import FORMAT
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.model import EU_DCC_CODES, NAAT, RAT, Kind, Recovery, Status, Vaccination
from kiosk.model import TestResult as DccTestResult
from kiosk.model import Identity
from sync.trust import TrustStore, load_dsc, load_trust_list, parse_dsc, walk_certificate

UTC = dt.timezone.utc
NOW = dt.datetime(2022, 6, 1, 12, 0, tzinfo=UTC)
ISSUED = NOW - dt.timedelta(days=30)
PERSON = Identity("Thị Mai Nguyễn", "1991-04-30")


@pytest.fixture(scope="module")
def es() -> DccIssuer:
    return DccIssuer.create(alg="ES256", country="VN")


@pytest.fixture(scope="module")
def ps() -> DccIssuer:
    return DccIssuer.create(alg="PS256", country="VN")


def trusting(*issuers: DccIssuer) -> TrustStore:
    store = TrustStore()
    for issuer in issuers:
        store.add_dsc(issuer.dsc_der, country=issuer.country)
    return store


def check(text: str, store: TrustStore, now: dt.datetime = NOW):
    return FORMAT.verify(text, VerifyContext(now=now, trust=store))


def vaccination(issuer: DccIssuer, **options) -> str:
    return issuer.vaccination(PERSON, dt.date(2022, 4, 1), iat=options.pop("iat", ISSUED), **options)


def cose_of(text: str) -> cbor2.CBORTag:
    return cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))


def rewrap(message: object, compress: bool = True) -> str:
    raw = cbor2.dumps(message)
    return "HC1:" + base45.b45encode(zlib.compress(raw) if compress else raw).decode()


# --- valid certificates -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "PS256", "ES384"])
def test_a_vaccination_signed_with_each_algorithm_is_valid(alg: str, es: DccIssuer, ps: DccIssuer) -> None:
    issuer = {"ES256": es, "PS256": ps}.get(alg) or DccIssuer.create(alg=alg)
    credential = check(vaccination(issuer, dose=2, doses=2, product="EU/1/21/1529"), trusting(issuer))
    assert credential.status is Status.VALID, credential.detail
    assert credential.format == "eu-dcc"
    assert credential.kind is Kind.VACCINATION
    assert credential.issuer == "VN"
    assert credential.identity == Identity("Thị Mai Nguyễn", "1991-04-30", "")
    assert credential.evidence == (
        Vaccination(dt.date(2022, 4, 1), 2, 2, "EU/1/21/1529", "840539006", "VN", EU_DCC_CODES),
    )
    assert credential.schema_version == "1.3.0" and credential.schema_problems == ()


@pytest.mark.parametrize("test_type, loinc_kind, detected", [("pcr", NAAT, False), ("rat", RAT, True)])
def test_a_test_certificate_maps_type_and_result(es: DccIssuer, test_type: str, loinc_kind: str, detected: bool) -> None:
    sampled = NOW - dt.timedelta(hours=20)
    credential = check(es.test(PERSON, sampled, test_type=test_type, detected=detected, iat=ISSUED), trusting(es))
    assert credential.status is Status.VALID, credential.detail
    assert credential.kind is Kind.TEST
    (result,) = credential.evidence
    assert isinstance(result, DccTestResult)
    assert result.sampled_at == sampled.replace(microsecond=0)
    assert result.test_type == loinc_kind
    assert result.detected is detected


def test_a_recovery_certificate_carries_its_dates(ps: DccIssuer) -> None:
    text = ps.recovery(PERSON, dt.date(2022, 3, 1), dt.date(2022, 3, 12), dt.date(2022, 8, 28), iat=ISSUED)
    credential = check(text, trusting(ps))
    assert credential.status is Status.VALID, credential.detail
    assert credential.kind is Kind.RECOVERY
    assert credential.evidence == (Recovery(dt.date(2022, 3, 1), dt.date(2022, 3, 12), dt.date(2022, 8, 28), "840539006", "VN"),)


def test_kid_in_the_unprotected_header_is_accepted(es: DccIssuer) -> None:
    text = vaccination(es, kid_in="unprotected")
    assert 4 not in cbor2.loads(cose_of(text).value[0])
    assert check(text, trusting(es)).status is Status.VALID


def test_the_protected_kid_wins_over_a_wrong_unprotected_one(es: DccIssuer, ps: DccIssuer) -> None:
    message = cose_of(vaccination(es))
    protected, _, payload, signature = message.value
    tampered = rewrap(cbor2.CBORTag(18, [protected, {4: ps.kid}, payload, signature]))
    assert check(tampered, trusting(es, ps)).status is Status.VALID


def test_a_wrong_protected_kid_is_not_rescued_by_the_unprotected_one(es: DccIssuer) -> None:
    message = cose_of(vaccination(es, kid_in="unprotected"))
    _, unprotected, payload, signature = message.value
    wrong = cbor2.dumps({1: -7, 4: b"\x00" * 8})
    # re-sign so that only the key id is wrong, not the signature
    to_sign = cbor2.dumps(["Signature1", wrong, b"", payload])
    text = rewrap(cbor2.CBORTag(18, [wrong, unprotected, payload, es.raw_signature(to_sign)]))
    assert check(text, trusting(es)).status is Status.UNKNOWN_ISSUER


def test_the_cwt_tag_around_the_cose_tag_is_accepted(es: DccIssuer) -> None:
    text = vaccination(es, cwt_tag=True)
    assert cose_of(text).tag == 61
    assert check(text, trusting(es)).status is Status.VALID


def test_an_untagged_cose_message_is_accepted(es: DccIssuer) -> None:
    text = rewrap(cose_of(vaccination(es)).value)
    assert check(text, trusting(es)).status is Status.VALID


def test_names_fall_back_to_the_transliterated_fields(es: DccIssuer) -> None:
    dcc = {"ver": "1.3.0", "nam": {"fnt": "NGUYEN", "gnt": "THI<MAI"}, "dob": "1991",
           "r": [{"tg": "840539006", "fr": "2022-03-01", "df": "2022-03-12", "du": "2022-08-28",
                  "co": "VN", "is": "MoH", "ci": "URN:UVCI:01:VN:X"}]}
    credential = check(es.sign_dcc(dcc, iat=ISSUED), trusting(es))
    assert credential.status is Status.VALID, credential.detail
    assert credential.identity == Identity("THI<MAI NGUYEN", "1991", "")


# --- time ---------------------------------------------------------------------------------


def test_expired_after_exp_and_still_valid_at_exp(es: DccIssuer) -> None:
    exp = NOW - dt.timedelta(seconds=1)
    store = trusting(es)
    assert check(vaccination(es, exp=exp), store).status is Status.EXPIRED
    assert check(vaccination(es, exp=exp), store, now=exp).status is Status.VALID


def test_iat_ahead_of_a_clock_that_is_behind_is_tolerated(es: DccIssuer) -> None:
    # a Pi restarts from its last saved time after a power cut: fresh certificates look "future"
    credential = check(vaccination(es, iat=NOW + dt.timedelta(days=6)), trusting(es))
    assert credential.status is Status.VALID


def test_not_yet_valid_before_the_dsc_validity() -> None:
    issuer = DccIssuer.create(valid_from=NOW + dt.timedelta(days=1))
    credential = check(vaccination(issuer, iat=NOW + dt.timedelta(days=2)), trusting(issuer))
    assert credential.status is Status.NOT_YET_VALID and "DSC" in credential.detail


def test_a_dsc_past_its_validity_makes_the_certificate_expired() -> None:
    issuer = DccIssuer.create(valid_from=dt.datetime(2021, 1, 1, tzinfo=UTC), valid_days=100)
    credential = check(vaccination(issuer, exp=NOW + dt.timedelta(days=100)), trusting(issuer))
    assert credential.status is Status.EXPIRED
    assert "DSC" in credential.detail


# --- issuers, signatures, key usage -------------------------------------------------------


def test_an_untrusted_signer_is_an_unknown_issuer(es: DccIssuer, ps: DccIssuer) -> None:
    assert check(vaccination(es), trusting(ps)).status is Status.UNKNOWN_ISSUER
    assert check(vaccination(es), TrustStore()).status is Status.UNKNOWN_ISSUER
    assert check(vaccination(es, kid_in="none"), trusting(es)).status is Status.UNKNOWN_ISSUER


def test_a_tampered_signature_is_invalid(es: DccIssuer) -> None:
    protected, unprotected, payload, signature = cose_of(vaccination(es)).value
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    text = rewrap(cbor2.CBORTag(18, [protected, unprotected, payload, flipped]))
    assert check(text, trusting(es)).status is Status.INVALID_SIGNATURE


def test_a_tampered_payload_is_invalid(ps: DccIssuer) -> None:
    protected, unprotected, payload, signature = cose_of(vaccination(ps)).value
    claims = cbor2.loads(payload)
    claims[-260][1]["v"][0]["dn"] = 3
    text = rewrap(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    assert check(text, trusting(ps)).status is Status.INVALID_SIGNATURE


def test_another_key_under_the_same_kid_is_invalid(es: DccIssuer) -> None:
    impostor = DccIssuer.create()
    store = TrustStore()
    store.add_dsc(impostor.dsc_der, kid=es.kid)
    assert check(vaccination(es), store).status is Status.INVALID_SIGNATURE


def test_a_key_id_shared_by_two_dscs_tries_both(es: DccIssuer) -> None:
    other = DccIssuer.create()
    store = TrustStore()
    store.add_dsc(other.dsc_der, kid=es.kid)
    store.add_dsc(es.dsc_der)
    assert len(store.dscs_for(es.kid)) == 2
    assert check(vaccination(es), store).status is Status.VALID


@pytest.mark.parametrize(
    "eku, allowed, refused",
    [
        (["test"], "test", "vaccination"),
        (["vaccination"], "vaccination", "recovery"),
        (["recovery"], "recovery", "test"),
        (["1.3.6.1.4.1.0.1847.2021.1.1"], "test", "recovery"),  # the older OID arc
        (["test", "recovery"], "recovery", "vaccination"),
    ],
)
def test_extended_key_usage_limits_the_certificate_types(eku: list[str], allowed: str, refused: str) -> None:
    issuer = DccIssuer.create(eku=eku)
    store = trusting(issuer)
    make = {
        "test": lambda: issuer.test(PERSON, NOW - dt.timedelta(hours=3), iat=ISSUED),
        "vaccination": lambda: vaccination(issuer),
        "recovery": lambda: issuer.recovery(PERSON, dt.date(2022, 3, 1), iat=ISSUED),
    }
    assert check(make[allowed](), store).status is Status.VALID
    refusal = check(make[refused](), store)
    assert refusal.status is Status.WRONG_KEY_USAGE
    assert refused in refusal.detail


def test_a_dsc_whose_ekus_name_no_certificate_type_signs_none() -> None:
    """The DCC specification: an EKU present limits the DSC to the types it lists; listing only
    other purposes (here e-mail protection), it may sign no health certificate at all."""
    issuer = DccIssuer.create(eku=["1.3.6.1.5.5.7.3.4"])
    store = trusting(issuer)
    for text in (vaccination(issuer), issuer.test(PERSON, NOW - dt.timedelta(hours=3), iat=ISSUED),
                 issuer.recovery(PERSON, dt.date(2022, 3, 1), iat=ISSUED)):
        refusal = check(text, store)
        assert refusal.status is Status.WRONG_KEY_USAGE, refusal.detail
        assert "no certificate type" in refusal.detail


def test_a_dsc_with_both_oid_spellings_and_others_signs_the_listed_types() -> None:
    issuer = DccIssuer.create(eku=["1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.0.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.3"])
    store = trusting(issuer)
    assert check(vaccination(issuer), store).status is Status.VALID
    assert check(issuer.recovery(PERSON, dt.date(2022, 3, 1), iat=ISSUED), store).status is Status.VALID
    assert check(issuer.test(PERSON, NOW - dt.timedelta(hours=3), iat=ISSUED), store).status is Status.WRONG_KEY_USAGE


@pytest.mark.parametrize("quirk, usage", [("encoded-default", ["test"]), ("empty-eku", None)])
def test_dscs_that_strict_parsers_refuse_still_load_and_verify(quirk: str, usage: list[str] | None) -> None:
    from cryptography import x509

    issuer = DccIssuer.create(eku=usage, der_quirk=quirk)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(issuer.dsc_der).extensions  # what the fallback is for
    store = trusting(issuer)
    test = issuer.test(PERSON, NOW - dt.timedelta(hours=3), iat=ISSUED)
    assert check(test, store).status is Status.VALID
    expected = Status.WRONG_KEY_USAGE if usage else Status.VALID
    assert check(vaccination(issuer), store).status is expected


def test_the_der_walk_reads_what_cryptography_reads() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    # 2060 needs GeneralizedTime, the start UTCTime: both encodings are read
    issuer = DccIssuer.create(alg="PS256", eku=["vaccination", "recovery"], valid_days=365 * 39)
    cert = x509.load_der_x509_certificate(issuer.dsc_der)
    fields = walk_certificate(issuer.dsc_der)
    assert fields.spki == cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (fields.not_before, fields.not_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert fields.eku == ["1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.3"]


# --- broken codes -------------------------------------------------------------------------


def test_an_uncompressed_payload_is_refused(es: DccIssuer) -> None:
    credential = check(vaccination(es, compress=False), trusting(es))
    assert credential.status is Status.MALFORMED
    assert "compress" in credential.detail


def test_bad_base45_is_malformed(es: DccIssuer) -> None:
    text = vaccination(es)
    for broken in (text[:-1], text[:20] + "a" + text[21:], "HC1:" + "::::"):
        assert check(broken, trusting(es)).status is Status.MALFORMED


def test_a_truncated_zlib_stream_is_malformed(es: DccIssuer) -> None:
    raw = zlib.compress(cbor2.dumps(cose_of(vaccination(es))))[:-10]
    credential = check("HC1:" + base45.b45encode(raw).decode(), trusting(es))
    assert credential.status is Status.MALFORMED


def test_other_prefixes_are_not_this_format() -> None:
    assert not FORMAT.recognises("HC2:NCF")
    assert not FORMAT.recognises("shc:/56")
    assert FORMAT.recognises("HC1:NCF")


def _dcc(**changes) -> dict:
    dcc = {"ver": "1.3.0", "nam": {"fn": "Nguyen", "fnt": "NGUYEN", "gn": "Mai", "gnt": "MAI"}, "dob": "1991-04-30",
           "v": [{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": 2,
                  "sd": 2, "dt": "2022-04-01", "co": "VN", "is": "MoH", "ci": "URN:UVCI:01:VN:ABC"}]}
    for key, value in changes.items():
        if value is None:
            dcc.pop(key)
        else:
            dcc[key] = value
    return dcc


def _entry(**changes) -> list:
    entry = dict(_dcc()["v"][0])
    for key, value in changes.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    return [entry]


@pytest.mark.parametrize(
    "dcc, words",
    [
        (_dcc(v=["not an entry"]), "not an entry"),
        (_dcc(v="not a list"), "not a list of entries"),
        (_dcc(v=_entry()[0]), "not a list of entries"),
        ("a string", "not a map"),
    ],
)
def test_content_that_cannot_be_read_is_malformed_with_a_clear_detail(es: DccIssuer, dcc: object, words: str) -> None:
    """Malformed is what cannot be read; fields that break the schema are reported instead
    (tests/test_dcc_schema.py)."""
    credential = check(es.sign_dcc(dcc, iat=ISSUED), trusting(es))
    assert credential.status is Status.MALFORMED
    assert words in credential.detail
    assert "Nguyen" not in credential.detail and "1991" not in credential.detail  # no personal data


@pytest.mark.parametrize(
    "claims, words",
    [
        ({1: "VN", 4: 1700000000}, "no health certificate"),
        ({-260: {2: {}}}, "no health certificate"),
        ({-260: {1: _dcc()}, 4: "tomorrow"}, "exp"),
        ({-260: {1: _dcc()}, 6: 10**30}, "iat"),
    ],
)
def test_broken_cwt_claims_are_malformed(es: DccIssuer, claims: dict, words: str) -> None:
    credential = check(es.sign_dcc(None, claims=claims), trusting(es))
    assert credential.status is Status.MALFORMED
    assert words in credential.detail


def test_a_broken_cose_structure_is_malformed(es: DccIssuer) -> None:
    protected, unprotected, payload, signature = cose_of(vaccination(es)).value
    for message in (0, [protected, unprotected, payload], cbor2.CBORTag(19, [protected, unprotected, payload, signature]),
                    [protected, [], payload, signature], [protected, unprotected, "text", signature]):
        assert check(rewrap(message), trusting(es)).status is Status.MALFORMED


def test_a_cyclic_cbor_reference_is_malformed_not_a_crash(es: DccIssuer) -> None:
    # tag 28 marks a shareable value, tag 29 refers back to it: a list that contains itself
    payload = bytes.fromhex("d81c81d81d00")
    protected = cbor2.dumps({1: -7, 4: es.kid})
    signature = es.raw_signature(cbor2.dumps(["Signature1", protected, b"", payload]))
    credential = check(rewrap(cbor2.CBORTag(18, [protected, {}, payload, signature])), trusting(es))
    assert credential.status is Status.MALFORMED


# --- revocation ---------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


UCI = "URN:UVCI:01:VN:REVOKEDTEST1"


@pytest.mark.parametrize("kind", ["UCI", "COUNTRYCODEUCI", "SIGNATURE"])
@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_revocation_by_each_hash_kind(kind: str, alg: str, es: DccIssuer, ps: DccIssuer) -> None:
    issuer = es if alg == "ES256" else ps
    text = vaccination(issuer, uci=UCI)
    signature = cose_of(text).value[3]
    # the EU scheme: for ECDSA only r (the first half of r||s) is hashed, for RSA all of it
    signed_part = signature[:32] if alg == "ES256" else signature
    digest = {"UCI": _sha(UCI.encode()), "COUNTRYCODEUCI": _sha(b"VN" + UCI.encode()), "SIGNATURE": _sha(signed_part)}[kind]
    store = trusting(issuer)
    assert check(text, store).status is Status.VALID
    store.add_revocation_document({kind: [digest]})
    assert check(text, store).status is Status.REVOKED
    # other certificates by the same issuer stay valid
    assert check(vaccination(issuer, uci=UCI + "2"), store).status is Status.VALID


def test_an_ecdsa_signature_hash_ignores_s(es: DccIssuer) -> None:
    """Anyone can turn (r, s) into (r, n - s) without the key; the revocation must still hold."""
    text = vaccination(es, uci=UCI)
    protected, unprotected, payload, signature = cose_of(text).value
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order
    s = int.from_bytes(signature[32:], "big")
    twin = rewrap(cbor2.CBORTag(18, [protected, unprotected, payload, signature[:32] + (n - s).to_bytes(32, "big")]))
    store = trusting(es)
    assert check(twin, store).status is Status.VALID
    store.add_revocation_document({"SIGNATURE": [base64.b64encode(hashlib.sha256(signature[:32]).digest()).decode()]})
    assert check(twin, store).status is Status.REVOKED


def test_revoked_is_reported_before_expired(es: DccIssuer) -> None:
    text = vaccination(es, uci=UCI, exp=NOW - dt.timedelta(days=1))
    store = trusting(es)
    store.add_revocation_document({"UCI": [_sha(UCI.encode())]})
    assert check(text, store).status is Status.REVOKED


# --- trust list files ---------------------------------------------------------------------


def test_own_trust_list_format_with_revocations(tmp_path, es: DccIssuer) -> None:
    path = es.write_trust_list(tmp_path / "trust.json", revocations={"UCI": [_sha(UCI.encode())]})
    store = load_trust_list(path)
    assert store.dscs_for(es.kid)[0].country == "VN"
    assert check(vaccination(es), store).status is Status.VALID
    assert check(vaccination(es, uci=UCI), store).status is Status.REVOKED


def test_the_eu_gateway_list_and_national_list_shapes(tmp_path, es: DccIssuer, ps: DccIssuer) -> None:
    csca = {"kid": "AAAAAAAAAAA=", "country": "VN", "certificateType": "CSCA",
            "rawData": base64.b64encode(es.csca_der).decode()}
    gateway = [dict(es.trust_entry(), thumbprint="00", signature="00", timestamp="2022-01-01T00:00:00Z"),
               ps.trust_entry(), csca]
    (tmp_path / "gateway.json").write_text(json.dumps(gateway))
    (tmp_path / "national.json").write_text(json.dumps({"certificates": gateway}))
    for name in ("gateway.json", "national.json"):
        store = load_trust_list(tmp_path / name)
        assert set(store.dscs) == {es.kid, ps.kid}  # the CSCA entry is not a signer
        assert check(vaccination(ps), store).status is Status.VALID


def test_a_trust_list_kid_other_than_the_hash_is_honoured(tmp_path, es: DccIssuer) -> None:
    entry = dict(es.trust_entry(), kid=base64.b64encode(b"12345678").decode())
    (tmp_path / "t.json").write_text(json.dumps({"dscs": [entry]}))
    store = load_trust_list(tmp_path / "t.json")
    assert list(store.dscs) == [b"12345678"]
    assert check(vaccination(es), store).status is Status.UNKNOWN_ISSUER


def test_a_broken_entry_is_skipped_but_a_list_of_only_broken_ones_is_an_error(tmp_path, es: DccIssuer) -> None:
    bad = {"country": "XX", "rawData": base64.b64encode(b"not a certificate").decode()}
    (tmp_path / "mixed.json").write_text(json.dumps([bad, es.trust_entry()]))
    assert es.kid in load_trust_list(tmp_path / "mixed.json").dscs
    (tmp_path / "bad.json").write_text(json.dumps([bad]))
    with pytest.raises(TrustError, match="bad.json"):
        load_trust_list(tmp_path / "bad.json")
    (tmp_path / "notjson.json").write_text("{")
    with pytest.raises(TrustError, match="not JSON"):
        load_trust_list(tmp_path / "notjson.json")
    with pytest.raises(TrustError, match="cannot read"):
        load_trust_list(tmp_path / "missing.json")


@pytest.mark.parametrize("pem", [True, False])
def test_load_dsc_from_pem_or_der_under_its_eu_kid(tmp_path, ps: DccIssuer, pem: bool) -> None:
    store = load_dsc(ps.write_dsc(tmp_path / "dsc.crt", pem=pem))
    assert list(store.dscs) == [hashlib.sha256(ps.dsc_der).digest()[:8]]
    assert check(vaccination(ps), store).status is Status.VALID


def test_a_file_that_is_no_certificate_is_a_trust_error(tmp_path) -> None:
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustError):
        load_dsc(tmp_path / "junk.pem")
    with pytest.raises(TrustError):
        parse_dsc(b"\x30\x03\x02\x01\x00")


def test_revocation_file_rejects_unknown_kinds_and_short_hashes(tmp_path) -> None:
    store = TrustStore()
    with pytest.raises(TrustError, match="unknown revocation kind"):
        store.add_revocation_document({"NAME": ["00" * 16]})
    with pytest.raises(TrustError, match="16 bytes"):
        store.add_revocation_document({"UCI": ["0011"]})
    (tmp_path / "rev.json").write_text(json.dumps({"dcc_revocations": {"UCI": ["ab" * 32]}}))
    assert store.add_revocations(tmp_path / "rev.json") == 1
    assert store.dcc_revoked == {bytes.fromhex("ab" * 16)}


def test_trust_store_still_constructs_empty() -> None:
    store = TrustStore()
    assert store.dscs == {} and store.shc_issuers == {} and store.dcc_revoked == set()


def test_bytes_after_the_cose_message_are_malformed(es: DccIssuer) -> None:
    raw = cbor2.dumps(cose_of(vaccination(es))) + b"\x00"
    credential = check("HC1:" + base45.b45encode(zlib.compress(raw)).decode(), trusting(es))
    assert credential.status is Status.MALFORMED
    assert "after its end" in credential.detail


def test_the_logged_issuer_is_only_ever_a_country_code(es: DccIssuer) -> None:
    dcc = _dcc()
    claims = {1: "Nguyen Thi Mai\nforged log line", 6: int(ISSUED.timestamp()), -260: {1: dcc}}
    assert check(es.sign_dcc(None, claims=claims), trusting(es)).issuer == "VN"
    dcc["v"][0]["co"] = "not a country"
    claims[1] = 42
    assert check(es.sign_dcc(None, claims=claims), trusting(es)).issuer == ""
