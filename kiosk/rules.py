"""The health rules of ``health`` mode: what a valid health certificate must show to pass.

A pure function of the credential, the venue's rule numbers (``[policy.vaccination]``,
``[policy.test]``, ``[policy.recovery]``) and the instant, so that every boundary can be tested
without a clock. The policy calls it only for a *valid* credential whose kind is a health kind.

- vaccination: the latest dose completes the series (``dose_number >= series_doses``, so a booster
  counts), its product is accepted (an empty list accepts any), and the days since it lie within
  ``[min_days_after_last_dose, max_days_after_last_dose]``;
- test: negative, of an accepted type (``pcr`` / ``rat``), sampled no more than the type's hours
  ago and not in the future;
- recovery: the days since the first positive test lie within
  ``[min_days_after_positive, max_days_after_positive]``, and today within the certificate's own
  ``valid_from`` / ``valid_until`` when it gives them;
- the disease must be COVID-19.

Days are calendar days in the timezone of ``now``. A card holding several records (a SMART Health
Card may list every dose and test) passes if one of them passes, unless it also holds a positive
test from within the isolation period (``min_days_after_positive``): a current infection outweighs
any vaccination. When nothing passes, the reason is that of the most recent record.
"""

from __future__ import annotations

import datetime as dt

from kiosk.config import PolicySection
from kiosk.model import Credential, Decision, Evidence, Recovery, TestResult, Vaccination

COVID19 = "840539006"  # SNOMED CT
# Sampling "in the future" by less than this is a kiosk clock a little behind the lab's.
FUTURE_SKEW = dt.timedelta(minutes=5)


def _pass(reason: str) -> Decision:
    return Decision("pass", reason)


def _fail(reason: str) -> Decision:
    return Decision("fail", reason)


def _as_aware(instant: dt.datetime) -> dt.datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def check_vaccination(v: Vaccination, rules: PolicySection, now: dt.datetime) -> Decision:
    r = rules.vaccination
    if v.disease != COVID19:
        return _fail("disease_not_covered")
    if r.accepted_products and v.product not in r.accepted_products:
        return _fail("vaccine_not_accepted")
    if v.dose_number < v.series_doses:
        return _fail("vaccination_incomplete")
    days = (now.date() - v.date).days
    if days < r.min_days_after_last_dose:
        return _fail("vaccination_too_recent")
    if days > r.max_days_after_last_dose:
        return _fail("vaccination_too_old")
    return _pass("vaccinated")


def check_test(t: TestResult, rules: PolicySection, now: dt.datetime) -> Decision:
    r = rules.test
    if t.disease != COVID19:
        return _fail("disease_not_covered")
    if t.detected:
        return _fail("test_positive")
    if t.test_type not in r.accepted_types:
        return _fail("test_type_not_accepted")
    sampled = _as_aware(t.sampled_at)
    if sampled > now + FUTURE_SKEW:
        return _fail("test_in_future")
    max_hours = r.max_hours_pcr if t.test_type == "pcr" else r.max_hours_rat
    if now - sampled > dt.timedelta(hours=max_hours):
        return _fail("test_too_old")
    return _pass("tested_negative")


def check_recovery(rec: Recovery, rules: PolicySection, now: dt.datetime) -> Decision:
    r = rules.recovery
    if rec.disease != COVID19:
        return _fail("disease_not_covered")
    today = now.date()
    days = (today - rec.first_positive).days
    if days < r.min_days_after_positive or (rec.valid_from is not None and today < rec.valid_from):
        return _fail("recovery_too_recent")
    if days > r.max_days_after_positive or (rec.valid_until is not None and today > rec.valid_until):
        return _fail("recovery_too_old")
    return _pass("recovered")


def _when(e: Evidence) -> dt.datetime:
    """When the record was made, to find the most recent one."""
    if isinstance(e, TestResult):
        return _as_aware(e.sampled_at)
    day = e.date if isinstance(e, Vaccination) else e.first_positive
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _currently_infected(t: TestResult, rules: PolicySection, now: dt.datetime) -> bool:
    return (
        t.detected
        and t.disease == COVID19
        and now - _as_aware(t.sampled_at) < dt.timedelta(days=rules.recovery.min_days_after_positive)
    )


def evaluate(credential: Credential, rules: PolicySection, now: dt.datetime) -> Decision:
    """``pass`` or ``fail`` with a reason, for a valid credential, by the venue's health rules."""
    if not credential.valid:
        return _fail(credential.status.value)
    if now.tzinfo is None:
        raise ValueError("evaluate: now must be timezone-aware")
    if not credential.evidence:
        return _fail("no_evidence")
    tests = [e for e in credential.evidence if isinstance(e, TestResult)]
    if any(_currently_infected(t, rules, now) for t in tests):
        return _fail("test_positive")
    # only the latest dose counts: it carries the dose number and starts the window
    doses = sorted((e for e in credential.evidence if isinstance(e, Vaccination)), key=lambda v: (v.date, v.dose_number))
    records: list[Evidence] = doses[-1:] + [e for e in credential.evidence if not isinstance(e, Vaccination)]
    decisions = []
    for record in records:
        if isinstance(record, Vaccination):
            decision = check_vaccination(record, rules, now)
        elif isinstance(record, TestResult):
            decision = check_test(record, rules, now)
        else:
            decision = check_recovery(record, rules, now)
        if decision.passed:
            return decision
        decisions.append((_when(record), decision))
    return max(decisions, key=lambda pair: pair[0])[1]
