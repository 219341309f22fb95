"""The venue's policy in checkin mode, the clock rule, format acceptance and the re-entry guard."""

from __future__ import annotations

import dataclasses
import datetime as dt

from kiosk.config import PolicySection
from kiosk.model import Credential, Identity, Kind, Status
from kiosk.policy import Policy, ReentryGuard, person_key

NOW = dt.datetime(2026, 11, 29, 8, tzinfo=dt.timezone.utc)
ID = Credential("cccd", Status.VALID, Kind.IDENTITY, Identity("Nguyễn Văn An", "1990-01-01"))


def decide(cred, rules=PolicySection(), **kw):
    return Policy(rules, **{k: v for k, v in kw.items() if k == "admitted_since"}).decide(
        cred, now=NOW, **{k: v for k, v in kw.items() if k != "admitted_since"})


def test_checkin_admits_identity_codes():
    assert decide(ID) == decide(dataclasses.replace(ID, format="pc-covid"))
    assert decide(ID).decision == "pass" and decide(ID).reason == "checked_in"


def test_every_bad_status_is_its_own_reason():
    for status in Status:
        if status is not Status.VALID:
            d = decide(dataclasses.replace(ID, status=status))
            assert (d.decision, d.reason) == ("fail", status.value)


def test_format_not_accepted():
    rules = PolicySection(accept_formats=("eu-dcc", "shc"))
    assert decide(ID, rules).reason == "format_not_accepted"


def test_health_mode_wants_a_health_certificate():
    rules = PolicySection(mode="health")
    assert decide(ID, rules).reason == "health_certificate_required"


def test_unsynchronised_clock_flag_or_refuse():
    flagged = decide(ID, clock_synchronised=False)
    assert flagged.decision == "pass" and flagged.flags == ("clock_unsynchronised",)
    refused = decide(ID, PolicySection(unsynchronised_clock="refuse"), clock_synchronised=False)
    assert (refused.decision, refused.reason) == ("fail", "clock_unsynchronised")


def test_reentry_guard_window():
    asked = []

    def admitted_since(key, since):
        asked.append((key, since))
        return True

    d = decide(ID, admitted_since=admitted_since, person_key="k")
    assert (d.decision, d.reason) == ("fail", "already_entered")
    assert asked == [("k", NOW - dt.timedelta(minutes=10))]
    off = decide(ID, PolicySection(reentry_minutes=0.0), admitted_since=admitted_since, person_key="k")
    assert off.decision == "pass"


def test_person_key_matches_across_formats_and_is_keyed():
    secret = b"k" * 32
    a = person_key(Identity("Nguyễn Văn An", "1990-01-01"), secret)
    b = person_key(Identity("NGUYEN VAN AN", "1990"), secret)
    assert a == b
    assert person_key(Identity("NGUYEN VAN AN", "1991"), secret) != a
    assert person_key(Identity("Nguyễn Văn An", "1990-01-01"), b"other secret") != a
    assert "NGUYEN" not in a


def test_reentry_guard_remembers_within_the_window_and_forgets():
    guard = ReentryGuard()
    key = guard.key(Identity("Nguyễn Văn An", "1990-01-01"))
    assert key == guard.key(Identity("NGUYEN VAN AN", "1990"))
    assert ReentryGuard().key(Identity("NGUYEN VAN AN", "1990")) != key  # a new key each start
    assert not guard.admitted_since(key, NOW - dt.timedelta(minutes=10))
    guard.admitted(key, NOW)
    assert guard.admitted_since(key, NOW - dt.timedelta(minutes=10))
    assert not guard.admitted_since(key, NOW + dt.timedelta(seconds=1))
    assert guard.forget(before=NOW) == 0 and len(guard) == 1
    assert guard.forget(before=NOW + dt.timedelta(seconds=1)) == 1 and len(guard) == 0
    assert not guard.admitted_since(key, NOW - dt.timedelta(minutes=10))


def test_health_mode_counts_days_in_the_venue_time_zone():
    from kiosk.model import Vaccination

    dose = Vaccination(date=dt.date(2026, 11, 16), dose_number=2, series_doses=2, product="EU/1/20/1528")
    cred = Credential("eu-dcc", Status.VALID, Kind.VACCINATION, Identity("A", "1990"), evidence=(dose,))
    evening_utc = dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc)  # already 30 Nov in Hanoi
    hanoi = Policy(PolicySection(mode="health")).decide(cred, now=evening_utc)
    utc = Policy(PolicySection(mode="health", timezone="UTC")).decide(cred, now=evening_utc)
    assert (hanoi.decision, hanoi.reason) == ("pass", "vaccinated")
    assert (utc.decision, utc.reason) == ("fail", "vaccination_too_recent")
