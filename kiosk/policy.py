"""The venue's policy: from a verified credential to ``pass`` or ``fail`` with a reason.

Order of the checks, each a refusal that ends the decision:
1. the credential's technical status (a bad code is refused with its status as the reason);
2. the venue accepts its format;
3. the clock: while it is not synchronised, refuse or admit-and-flag, as configured;
4. the mode: ``checkin`` admits any well-formed identity or valid health certificate;
   ``health`` requires a health certificate and applies the rules (kiosk.rules);
5. the re-entry guard: the same person admitted within N minutes is refused
   (one screenshot must not pass a queue of friends).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

from kiosk.config import PolicySection
from kiosk.model import Credential, Decision, Identity, Kind, Status

CLOCK_FLAG = "clock_unsynchronised"

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
        flags = () if clock_synchronised else (CLOCK_FLAG,)
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
        if credential.kind in (Kind.IDENTITY, Kind.UNKNOWN):
            return Decision("fail", "health_certificate_required")
        from zoneinfo import ZoneInfo

        from kiosk.rules import evaluate

        return evaluate(credential, self.rules, now.astimezone(ZoneInfo(self.rules.timezone)))


def _normalise(text: str) -> str:
    """Upper case without diacritics or extra spaces: 'Nguyễn  Văn A' == 'NGUYEN VAN A'."""
    text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.upper().split())


def person_key(identity: Identity, secret: bytes) -> str:
    """A keyed hash naming one person across formats (name + birth year), for the re-entry guard.

    Keyed with a per-kiosk secret so that the journal's keys cannot be matched against a list of
    names without the secret; the journal drops them once the guard no longer needs them.
    """
    material = f"{_normalise(identity.name)}|{identity.birth_date[:4]}".encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()[:32]


def load_secret(path: Path) -> bytes:
    """The kiosk's person-key secret, made on first use, readable by the service user only."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
        return secret
