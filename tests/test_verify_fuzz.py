"""No QR code a visitor can make crashes or slows verification: property tests and a zlib bomb.

Every input must come back as a Credential with a contract status, never an exception (the
registry would turn one into ``malformed`` with an "internal error" detail, which these tests
treat as a failure: it would hide a bug).
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
import zlib

import base45
import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk import formats
from kiosk.formats.base import MAX_DECOMPRESSED, MAX_QR_TEXT, VerifyContext
from kiosk.formats.base import Refused
from kiosk.formats.eu_dcc import FORMAT, inflate
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.model import Identity, Status
from sync.trust import TrustStore

UTC = dt.timezone.utc
NOW = dt.datetime(2022, 6, 1, 12, tzinfo=UTC)
ISSUED = NOW - dt.timedelta(days=10)
PERSON = Identity("An Tran", "1980-02-03")
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

ISSUER = DccIssuer.create(alg="ES256")
RSA_ISSUER = DccIssuer.create(alg="PS256")
TRUST = TrustStore()
TRUST.add_dsc(ISSUER.dsc_der)
TRUST.add_dsc(RSA_ISSUER.dsc_der)
CTX = VerifyContext(now=NOW, trust=TRUST)
VALID = [
    ISSUER.vaccination(PERSON, dt.date(2022, 5, 1), iat=ISSUED),
    ISSUER.test(PERSON, NOW - dt.timedelta(hours=5), iat=ISSUED, kid_in="unprotected"),
    RSA_ISSUER.recovery(PERSON, dt.date(2022, 3, 1), iat=ISSUED, cwt_tag=True),
]
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def judged(text: str):
    credential = formats.verify(text, CTX)
    assert not credential.detail.startswith("internal error"), credential.detail
    return credential


def test_the_fixtures_are_valid() -> None:
    for text in VALID:
        assert judged(text).status is Status.VALID


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    judged(text)


@FUZZ
@given(st.text(alphabet=BASE45_ALPHABET, max_size=600))
def test_arbitrary_hc1_text(body: str) -> None:
    assert judged("HC1:" + body).status is not Status.VALID


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_qr_text(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(4, len(text) - 1))
    action = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
    char = data.draw(st.sampled_from(BASE45_ALPHABET))
    mutated = {
        "replace": text[:position] + char + text[position + 1 :],
        "delete": text[:position] + text[position + 1 :],
        "insert": text[:position] + char + text[position:],
        "truncate": text[:position],
    }[action]
    credential = judged(mutated)
    if credential.status is Status.VALID:
        # only a change that leaves the signed content as it was may verify: deflate ignores the
        # padding bits of its last byte and zlib what follows its checksum, so a changed character
        # there still reads as the same COSE message (read here by the base45 package and zlib)
        assert signed_content(mutated) == signed_content(text)


def signed_content(text: str) -> bytes:
    return zlib.decompressobj().decompress(base45.b45decode(text[4:]))


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_cose_bytes(text: str, data: st.DataObject) -> None:
    cose = zlib.decompress(base45.b45decode(text[4:]))
    message = cbor2.loads(cose)
    while isinstance(message, cbor2.CBORTag):
        message = message.value
    payload = message[2]
    start = cose.find(payload)
    index = data.draw(st.integers(0, len(cose) - 1))
    mask = data.draw(st.integers(1, 255))
    mutated = cose[:index] + bytes([cose[index] ^ mask]) + cose[index + 1 :]
    credential = judged("HC1:" + base45.b45encode(zlib.compress(mutated)).decode())
    if start <= index < start + len(payload):  # signed bytes changed
        assert credential.status is not Status.VALID


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30) | st.binary(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(-300, 10), inner, max_size=4),
    max_leaves=25,
)


@FUZZ
@given(cbor_values)
def test_signed_arbitrary_dcc_content(dcc: object) -> None:
    """A validly signed certificate whose content is anything: the schema checks must hold."""
    judged(ISSUER.sign_dcc(dcc, iat=ISSUED))


@FUZZ
@given(st.sampled_from(["v", "t", "r"]), st.sampled_from(["ver", "nam", "dob", "fnt", "entry", "dn", "sd", "dt", "sc", "fr", "df", "du", "ci", "co", "tt"]), cbor_values)
def test_signed_dcc_with_one_field_replaced(kind: str, field: str, value: object) -> None:
    dcc = {"ver": "1.3.0", "nam": {"fn": "Tran", "fnt": "TRAN"}, "dob": "1980-02-03"}
    entry = {"tg": "840539006", "co": "VN", "is": "MoH", "ci": "URN:UVCI:01:VN:1",
             "v": {"vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": 1, "sd": 2, "dt": "2022-05-01"},
             "t": {"tt": "LP6464-4", "sc": "2022-06-01T08:00:00Z", "tr": "260415000"},
             "r": {"fr": "2022-03-01", "df": "2022-03-12", "du": "2022-08-28"}}
    fields = {**{k: v for k, v in entry.items() if len(k) == 2}, **entry[kind]}
    if field in ("ver", "nam", "dob"):
        dcc[field] = value
    elif field == "fnt":
        dcc["nam"]["fnt"] = value
    elif field == "entry":
        fields = value
    else:
        fields[field] = value
    dcc[kind] = [fields]
    judged(ISSUER.sign_dcc(dcc, iat=ISSUED))


@FUZZ
@given(cbor_values)
def test_signed_arbitrary_cwt_claims(claims: object) -> None:
    judged(ISSUER.sign_dcc(None, claims=claims if isinstance(claims, dict) else {-260: claims}))


# --- the zlib bomb ------------------------------------------------------------------------

BOMB_BYTES = 300 * 2**20  # 300 MB of zeros


@pytest.fixture(scope="module")
def bomb() -> bytes:
    packer = zlib.compressobj(9)
    chunk = bytes(2**20)
    parts = [packer.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))]
    parts.append(packer.flush())
    return b"".join(parts)


def _peak_growth(action) -> tuple[object, int]:
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - baseline


def test_a_300_mb_zlib_bomb_is_refused_without_inflating_it(bomb: bytes) -> None:
    assert len(bomb) < BOMB_BYTES / 500  # it really is a bomb: over 500:1

    def attempt() -> Refused:
        with pytest.raises(Refused) as caught:
            inflate(bomb)
        return caught.value

    refusal, growth = _peak_growth(attempt)
    assert refusal.status is Status.MALFORMED
    assert "larger than" in refusal.detail
    assert growth < 4 * 2**20, f"memory grew by {growth} bytes"
    assert growth < 4 * MAX_DECOMPRESSED + 2**20


def test_the_bomb_as_a_qr_text_is_malformed(bomb: bytes) -> None:
    text = "HC1:" + base45.b45encode(bomb).decode()
    credential, growth = _peak_growth(lambda: FORMAT.verify(text, CTX))
    assert credential.status is Status.MALFORMED
    assert growth < 4 * 2**20


def test_the_largest_bomb_a_qr_code_can_hold_is_malformed() -> None:
    """About 5 KB of zlib that fits a QR code and expands to megabytes, through the registry."""
    packer = zlib.compressobj(9)
    body = packer.compress(bytes(5 * 2**20)) + packer.flush()
    text = "HC1:" + base45.b45encode(body).decode()
    assert len(text) <= MAX_QR_TEXT
    credential, growth = _peak_growth(lambda: judged(text))
    assert credential.status is Status.MALFORMED
    assert growth < 4 * 2**20


@FUZZ
@given(st.binary(max_size=600) | st.text(alphabet=BASE45_ALPHABET + "abc\n\u00e9", max_size=60))
def test_the_fast_base45_decoder_answers_as_the_base45_package(data: bytes | str) -> None:
    from kiosk.formats.eu_dcc import b45decode

    text = base45.b45encode(data).decode() if isinstance(data, bytes) else data
    try:
        expected: bytes | None = base45.b45decode(text)
    except ValueError:
        expected = None
    try:
        got: bytes | None = b45decode(text)
    except ValueError:
        got = None
    assert got == expected
