"""The venue's policy: from a verified credential to ``pass`` or ``fail`` with a reason.

Order of the checks, each a refusal that ends the decision:
1. the credential's technical status (a bad code is refused with its status as the reason);
2. the venue accepts its format;
3. the clock: while it is not synchronised, refuse or admit-and-flag, as configured;
4. the mode: ``checkin`` admits any well-formed identity or valid health certificate;
   ``health`` requires a health certificate and applies the rules (kiosk.rules);
5. the re-entry guard: the same person admitted within N minutes is refused
   (one screenshot must not pass a queue of friends). It lives in memory only
   (:class:`ReentryGuard`): nothing on the disk can tell whether a given person came in.

Every decision carries flags for the journal: ``clock_unsynchronised`` while the clock is not
synchronised, ``schema_problems:N`` when the credential departs from its official schema in N
ways (reported, never a refusal: kiosk.formats.dcc_schema).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import threading
import unicodedata
from collections.abc import Callable

from kiosk.config import PolicySection
from kiosk.model import Credential, Decision, Identity, Kind, Status

CLOCK_FLAG = "clock_unsynchronised"
SCHEMA_FLAG = "schema_problems"

# (person_key, since) -> was that person admitted at or after `since`?
AdmittedSince = Callable[[str, dt.datetime], bool]


class Policy:
    def __init__(self, rules: PolicySection, admitted_since: AdmittedSince | None = None):
        self.rules = rules
        self.admitted_since = admitted_since

    def decide(
        self,
        credential: Credential,
        *,
        now: dt.datetime,
        clock_synchronised: bool = True,
        person_key: str | None = None,
    ) -> Decision:
        flags = (() if clock_synchronised else (CLOCK_FLAG,)) + credential_flags(credential)
        if credential.status is not Status.VALID:
            return Decision("fail", credential.status.value, flags)
        if credential.format not in self.rules.accept_formats:
            return Decision("fail", "format_not_accepted", flags)
        if not clock_synchronised and self.rules.unsynchronised_clock == "refuse":
            return Decision("fail", CLOCK_FLAG, flags)
        decision = self._by_mode(credential, now)
        if not decision.passed:
            return Decision(decision.decision, decision.reason, flags)
        if person_key and self.rules.reentry_minutes > 0 and self.admitted_since is not None:
            since = now - dt.timedelta(minutes=self.rules.reentry_minutes)
            if self.admitted_since(person_key, since):
                return Decision("fail", "already_entered", flags)
        return Decision("pass", decision.reason, flags)

    def _by_mode(self, credential: Credential, now: dt.datetime) -> Decision:
        if self.rules.mode == "checkin":
            return Decision("pass", "checked_in")
        if credential.kind is Kind.IDENTITY:
            return Decision("fail", "health_certificate_required")
        from zoneinfo import ZoneInfo

        from kiosk.rules import evaluate

        return evaluate(credential, self.rules, now.astimezone(ZoneInfo(self.rules.timezone)))


def credential_flags(credential: Credential) -> tuple[str, ...]:
    """What the journal notes about the credential itself: how many schema problems it has
    (``schema_problems:3``; the problems themselves are for ``kiosk verify --json``)."""
    count = len(credential.schema_problems)
    return (f"{SCHEMA_FLAG}:{count}",) if count else ()


def _normalise(text: str) -> str:
    """Upper case without diacritics or extra spaces: 'Nguyễn  Văn A' == 'NGUYEN VAN A'."""
    text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.upper().split())


def person_key(identity: Identity, secret: bytes) -> str:
    """A keyed hash naming one person across formats (name + birth year), for the re-entry guard."""
    material = f"{_normalise(identity.name)}|{identity.birth_date[:4]}".encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()[:32]


class ReentryGuard:
    """Who was admitted within the re-entry window, held in this process's memory only.

    A name and a birth year are few enough to try them all (a dictionary of names times 80 birth
    years), so any keyed hash of them that sits on the disk beside its key tells who came in. Here
    neither touches the disk: the keys are HMACs under a secret made at start and kept only in
    memory (so the memory holds no names either), and each is forgotten once the window has
    passed. A restart forgets everyone: a visitor admitted just before it is admitted once more.
    """

    def __init__(self) -> None:
        self._secret = os.urandom(32)
        self._admitted: dict[str, dt.datetime] = {}  # key -> last admission
        self._lock = threading.Lock()

    def key(self, identity: Identity) -> str:
        return person_key(identity, self._secret)

    def admitted(self, key: str, at: dt.datetime) -> None:
        with self._lock:
            self._admitted[key] = max(at, self._admitted.get(key, at))

    def admitted_since(self, key: str, since: dt.datetime) -> bool:
        """Was this person admitted at or after ``since``? (what :class:`Policy` asks)"""
        with self._lock:
            last = self._admitted.get(key)
        return last is not None and last >= since

    def forget(self, before: dt.datetime) -> int:
        """Drop everyone last admitted before ``before``; how many were dropped."""
        with self._lock:
            old = [key for key, at in self._admitted.items() if at < before]
            for key in old:
                del self._admitted[key]
        return len(old)

    def __len__(self) -> int:
        return len(self._admitted)
