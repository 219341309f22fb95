"""The health rules of ``health`` mode: what a valid health certificate must show to pass.

A pure function of the credential, the venue's rule numbers (``[policy.vaccination]``,
``[policy.test]``, ``[policy.recovery]``), the EU value sets (``policy.value_sets``: shipped, or
the city's) and the instant, so that every boundary can be tested without a clock. The policy
calls it only for a *valid* credential that is not an identity code. The rules speak in value-set
codes (kiosk.model: COVID19, NAAT, RAT, NOT_DETECTED, DETECTED; EU medicinal-product codes).

Each rule names the fields it reads (``*_READS``, the model's names; the EU DCC keys in
brackets). A record missing one of them, or holding it empty or unreadable, is refused as
``certificate_incomplete``; a code outside its value set with the reason beside it. Fields no rule
reads (issuing country, issuer, manufacturer, …) never refuse anyone.

- vaccination [tg mp dn sd dt]: COVID-19 (else ``disease_not_covered``); an EU product code in the
  medicinal-product value set (else ``product_not_accepted``) and, when the venue lists products,
  among them (else ``vaccine_not_accepted``); the latest dose completes the series
  (``dose_number >= series_doses``, so a booster counts); the days since it within
  ``[min_days_after_last_dose, max_days_after_last_dose]``;
- test [tg tt tr sc]: COVID-19; a type in the test-type value set and accepted by the venue (else
  ``test_type_not_accepted``); a result in the test-result value set that is "not detected"
  (``test_positive`` for "detected", ``test_result_not_negative`` for anything else); sampled no
  more than the type's hours ago and not in the future;
- recovery [tg fr, and df du when given]: COVID-19; the days since the first positive test within
  ``[min_days_after_positive, max_days_after_positive]``, and today within the certificate's own
  ``valid_from`` / ``valid_until`` when it gives them.

Days are calendar days in the timezone of ``now``. A card holding several records (a SMART Health
Card may list every dose and test) passes if one of them passes, unless it also holds a positive
test from within the isolation period (``min_days_after_positive``): a current infection outweighs
any vaccination. When nothing passes, the reason is that of the most recent record.
"""

from __future__ import annotations

import datetime as dt

from kiosk.config import PolicySection
from kiosk.model import (COVID19, DETECTED, EU_DCC_CODES, NAAT, NOT_DETECTED, RAT, Credential, Decision, Evidence,
                         Recovery, TestResult, Vaccination)

# Sampling "in the future" by less than this is a kiosk clock a little behind the lab's.
FUTURE_SKEW = dt.timedelta(minutes=5)
# what each rule reads: missing, empty or unreadable -> certificate_incomplete
VACCINATION_READS = ("disease", "product", "dose_number", "series_doses", "date")  # tg mp dn sd dt
TEST_READS = ("disease", "test_type", "result", "sampled_at")  # tg tt tr sc
RECOVERY_READS = ("disease", "first_positive")  # tg fr (df du: when given)
INCOMPLETE = "certificate_incomplete"
# the old names of the test types in [policy.test] accepted_types
TEST_TYPE_NAMES = {"pcr": NAAT, "rat": RAT}


def _pass(reason: str) -> Decision:
    return Decision("pass", reason)


def _fail(reason: str) -> Decision:
    return Decision("fail", reason)


def _as_aware(instant: dt.datetime) -> dt.datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def lacks(record: Evidence, fields: tuple[str, ...]) -> bool:
    """Whether the record misses one of ``fields`` (None or an empty text)."""
    return any(getattr(record, name) in (None, "") for name in fields)


def _disease_covered(disease: str, rules: PolicySection) -> bool:
    return disease == COVID19 and disease in rules.value_sets["disease-agent-targeted"]


def check_vaccination(v: Vaccination, rules: PolicySection, now: dt.datetime) -> Decision:
    r = rules.vaccination
    if lacks(v, VACCINATION_READS):
        return _fail(INCOMPLETE)
    if not _disease_covered(v.disease, rules):
        return _fail("disease_not_covered")
    if v.coding == EU_DCC_CODES and v.product not in rules.value_sets["vaccine-medicinal-product"]:
        return _fail("product_not_accepted")
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
    if lacks(t, TEST_READS):
        return _fail(INCOMPLETE)
    if not _disease_covered(t.disease, rules):
        return _fail("disease_not_covered")
    if t.result == DETECTED:
        return _fail("test_positive")
    if t.result != NOT_DETECTED or t.result not in rules.value_sets["test-result"]:
        return _fail("test_result_not_negative")
    accepted = {TEST_TYPE_NAMES.get(name, name) for name in r.accepted_types}
    if t.test_type not in accepted or t.test_type not in rules.value_sets["test-type"]:
        return _fail("test_type_not_accepted")
    sampled = _as_aware(t.sampled_at)
    if sampled > now + FUTURE_SKEW:
        return _fail("test_in_future")
    max_hours = r.max_hours_pcr if t.test_type == NAAT else r.max_hours_rat
    if now - sampled > dt.timedelta(hours=max_hours):
        return _fail("test_too_old")
    return _pass("tested_negative")


def check_recovery(rec: Recovery, rules: PolicySection, now: dt.datetime) -> Decision:
    r = rules.recovery
    if lacks(rec, RECOVERY_READS):
        return _fail(INCOMPLETE)
    if not _disease_covered(rec.disease, rules):
        return _fail("disease_not_covered")
    today = now.date()
    days = (today - rec.first_positive).days
    if days < r.min_days_after_positive or (rec.valid_from is not None and today < rec.valid_from):
        return _fail("recovery_too_recent")
    if days > r.max_days_after_positive or (rec.valid_until is not None and today > rec.valid_until):
        return _fail("recovery_too_old")
    return _pass("recovered")


def _when(e: Evidence) -> dt.datetime:
    """When the record was made, to find the most recent one (a record without a time: never)."""
    if isinstance(e, TestResult):
        return _as_aware(e.sampled_at) if e.sampled_at is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
    day = e.date if isinstance(e, Vaccination) else e.first_positive
    return dt.datetime.combine(day or dt.date.min, dt.time(), dt.UTC)


def _currently_infected(t: TestResult, rules: PolicySection, now: dt.datetime) -> bool:
    return (
        t.detected
        and t.disease == COVID19
        and t.sampled_at is not None
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
    doses = sorted((e for e in credential.evidence if isinstance(e, Vaccination)),
                   key=lambda v: (v.date or dt.date.min, v.dose_number or 0))
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
