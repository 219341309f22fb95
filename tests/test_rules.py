"""The health rules at each boundary, read from the config's numbers rather than repeated here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from kiosk import model, reasons, rules
from kiosk import config
from kiosk.config import PolicySection, RecoveryRules, VaccinationRules
from kiosk.model import Credential, Identity, Kind, Recovery, Status, Vaccination
from kiosk.policy import Policy

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
HEALTH = PolicySection(mode="health")
V, T, R = HEALTH.vaccination, HEALTH.test, HEALTH.recovery
COMIRNATY = "EU/1/20/1528"


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def vax(days: int, dose: int = 2, series: int = 2, product: str = COMIRNATY, disease: str = rules.COVID19) -> Vaccination:
    return Vaccination(date=days_ago(days), dose_number=dose, series_doses=series, product=product, disease=disease)


def lab(age: dt.timedelta, detected: bool = False, test_type: str = model.NAAT, disease: str = rules.COVID19) -> model.TestResult:
    result = model.DETECTED if detected else model.NOT_DETECTED
    return model.TestResult(sampled_at=NOW - age, result=result, test_type=test_type, disease=disease)


def cred(*evidence, status: Status = Status.VALID) -> Credential:
    kind = Kind.VACCINATION if evidence and isinstance(evidence[0], Vaccination) else Kind.TEST
    return Credential("eu-dcc", status, kind=kind, identity=Identity("A B", "1990"), evidence=evidence)


def reason(*evidence, policy: PolicySection = HEALTH, now: dt.datetime = NOW) -> str:
    decision = rules.evaluate(cred(*evidence), policy, now)
    assert decision.decision == ("pass" if decision.reason in ("vaccinated", "tested_negative", "recovered") else "fail")
    return decision.reason


# --------------------------------------------------------------------------- vaccination


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (V.min_days_after_last_dose - 1, "vaccination_too_recent"),
        (V.min_days_after_last_dose, "vaccinated"),
        (V.max_days_after_last_dose, "vaccinated"),
        (V.max_days_after_last_dose + 1, "vaccination_too_old"),
    ],
)
def test_days_since_last_dose(days, expected):
    assert reason(vax(days)) == expected


@pytest.mark.parametrize(
    ("dose", "series", "expected"),
    [(1, 2, "vaccination_incomplete"), (2, 2, "vaccinated"), (3, 2, "vaccinated"), (1, 1, "vaccinated"), (2, 3, "vaccination_incomplete")],
)
def test_complete_series(dose, series, expected):
    assert reason(vax(30, dose, series)) == expected


def test_accepted_products():
    assert reason(vax(30, product="EU/1/99/0000")) == "vaccine_not_accepted"
    assert reason(vax(30, product="207")) == "vaccinated"  # a CVX code from a SMART Health Card
    any_product = dataclasses.replace(HEALTH, vaccination=VaccinationRules(accepted_products=()))
    assert reason(vax(30, product="EU/1/99/0000"), policy=any_product) == "vaccinated"


def test_configured_window_is_used():
    narrow = dataclasses.replace(HEALTH, vaccination=VaccinationRules(min_days_after_last_dose=7, max_days_after_last_dose=30))
    assert reason(vax(6), policy=narrow) == "vaccination_too_recent"
    assert reason(vax(7), policy=narrow) == "vaccinated"
    assert reason(vax(31), policy=narrow) == "vaccination_too_old"


def test_days_are_counted_in_the_timezone_of_now():
    hanoi = dt.timezone(dt.timedelta(hours=7))
    last_dose = dt.date(2024, 6, 1)
    morning = dt.datetime.combine(last_dose + dt.timedelta(days=V.min_days_after_last_dose), dt.time(1, 0), hanoi)
    decision = rules.evaluate(cred(Vaccination(last_dose, 2, 2, COMIRNATY)), HEALTH, morning)
    assert decision.reason == "vaccinated"  # still the day before in UTC, already day N in Hanoi


def test_other_disease():
    assert reason(vax(30, disease="12345")) == "disease_not_covered"


# --------------------------------------------------------------------------- test


@pytest.mark.parametrize(
    ("test_type", "max_hours"),
    [(model.NAAT, T.max_hours_pcr), (model.RAT, T.max_hours_rat)],
)
def test_hours_since_sampling(test_type, max_hours):
    assert reason(lab(dt.timedelta(hours=max_hours), test_type=test_type)) == "tested_negative"
    assert reason(lab(dt.timedelta(hours=max_hours, seconds=1), test_type=test_type)) == "test_too_old"


def test_positive_test_refused():
    assert reason(lab(dt.timedelta(hours=1), detected=True)) == "test_positive"
    assert reason(lab(dt.timedelta(days=400), detected=True)) == "test_positive"


def test_test_types():
    assert reason(lab(dt.timedelta(hours=1), test_type="antibody")) == "test_type_not_accepted"
    for name in ("LP6464-4", "pcr"):  # the value-set code, or its old name
        pcr_only = dataclasses.replace(HEALTH, test=config.TestRules(accepted_types=(name,)))
        assert reason(lab(dt.timedelta(hours=1), test_type=model.RAT), policy=pcr_only) == "test_type_not_accepted"
        assert reason(lab(dt.timedelta(hours=1), test_type=model.NAAT), policy=pcr_only) == "tested_negative"


def test_sample_time_in_the_future():
    assert reason(lab(-rules.FUTURE_SKEW - dt.timedelta(seconds=1))) == "test_in_future"
    assert reason(lab(-rules.FUTURE_SKEW)) == "tested_negative"  # a kiosk clock slightly behind


def test_test_for_other_disease():
    assert reason(lab(dt.timedelta(hours=1), disease="12345")) == "disease_not_covered"


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (R.min_days_after_positive - 1, "recovery_too_recent"),
        (R.min_days_after_positive, "recovered"),
        (R.max_days_after_positive, "recovered"),
        (R.max_days_after_positive + 1, "recovery_too_old"),
    ],
)
def test_days_since_positive(days, expected):
    assert reason(Recovery(first_positive=days_ago(days))) == expected


def test_certificate_validity_dates():
    first = days_ago(R.min_days_after_positive + 10)
    assert reason(Recovery(first, valid_from=TODAY, valid_until=TODAY)) == "recovered"
    assert reason(Recovery(first, valid_from=TODAY + dt.timedelta(days=1))) == "recovery_too_recent"
    assert reason(Recovery(first, valid_until=TODAY - dt.timedelta(days=1))) == "recovery_too_old"


def test_configured_recovery_window():
    short = dataclasses.replace(HEALTH, recovery=RecoveryRules(min_days_after_positive=0, max_days_after_positive=5))
    assert reason(Recovery(TODAY), policy=short) == "recovered"
    assert reason(Recovery(days_ago(6)), policy=short) == "recovery_too_old"


# --------------------------------------------------------------------------- whole credentials


def test_refused_status_is_the_reason():
    decision = rules.evaluate(cred(vax(30), status=Status.REVOKED), HEALTH, NOW)
    assert (decision.decision, decision.reason) == ("fail", "revoked")


def test_no_evidence():
    assert rules.evaluate(cred(), HEALTH, NOW).reason == "no_evidence"


def test_naive_now_is_a_programming_error():
    with pytest.raises(ValueError):
        rules.evaluate(cred(vax(30)), HEALTH, NOW.replace(tzinfo=None))


def test_only_the_latest_dose_counts():
    # a SMART Health Card lists every dose: 1 and 2 long ago, a booster within the window
    history = (vax(800, 1), vax(770, 2), vax(60, 3, product="207"))
    assert reason(*history) == "vaccinated"
    assert reason(vax(800, 1), vax(770, 2)) == "vaccination_too_old"
    assert reason(vax(60, 3, product="207"), vax(800, 1), vax(770, 2)) == "vaccinated"  # any order


def test_current_infection_outweighs_vaccination():
    recent_positive = lab(dt.timedelta(days=R.min_days_after_positive - 1), detected=True)
    assert reason(vax(60), recent_positive) == "test_positive"
    old_positive = lab(dt.timedelta(days=R.min_days_after_positive + 1), detected=True)
    assert reason(vax(60), old_positive) == "vaccinated"


def test_one_passing_record_is_enough():
    assert reason(vax(V.max_days_after_last_dose + 10), lab(dt.timedelta(hours=2))) == "tested_negative"


def test_when_nothing_passes_the_latest_record_explains():
    assert reason(vax(V.max_days_after_last_dose + 10), lab(dt.timedelta(hours=T.max_hours_pcr + 1))) == "test_too_old"
    assert reason(vax(5), lab(dt.timedelta(days=30))) == "vaccination_too_recent"


def test_health_mode_policy_uses_the_rules():
    policy = Policy(HEALTH)
    assert policy.decide(cred(vax(30)), now=NOW).reason == "vaccinated"
    assert policy.decide(cred(vax(5)), now=NOW).reason == "vaccination_too_recent"
    identity = Credential("cccd", Status.VALID, kind=Kind.IDENTITY, identity=Identity("A B", "1990"))
    assert policy.decide(identity, now=NOW).reason == "health_certificate_required"


def test_every_reason_has_both_messages():
    source = Path(rules.__file__).read_text()
    codes = set(re.findall(r'_(?:pass|fail)\("([a-z_]+)"\)', source))
    assert {"vaccinated", "tested_negative", "recovered", "test_in_future"} <= codes
    for code in codes:
        message = reasons.MESSAGES[code]
        assert message.vi and message.en
