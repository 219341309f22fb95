"""What a bundle holds, read and checked by the one piece of code that will use it.

Both sides run this module: the kiosk before a fetched bundle may replace its last good copy
(:meth:`sync.bundles.BundleStore.accept`) and when it loads one, and ``kiosk-city publish``
before it signs one, so the city refuses exactly what its kiosks would refuse, with the reason.

- ``trust-list``: :meth:`sync.trust.TrustStore.add_trust_document` (the kiosk's format, the EU
  gateway's list, a national ``{"certificates": [...]}``); every DSC parsed.
- ``revocations``: :meth:`sync.trust.TrustStore.add_revocation_document`, which takes both forms
  (``{"dcc_revocations": {...}}`` as a ``trust.revocations`` file has it, or the inner object).
- ``rules``: :func:`read_rules`, the tables below, with the limits and cross-checks the kiosk's
  config file gets for ``[policy.vaccination]``, ``[policy.test]`` and ``[policy.recovery]``
  (:mod:`sync.schema` walks both), and optional EU value sets (:mod:`sync.valuesets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.errors import BundleError, TrustError
from sync.schema import build, opt
from sync.valuesets import read_value_sets

__all__ = [
    "VaccinationRules", "TestRules", "RecoveryRules", "RuleTables", "RULE_SECTIONS",
    "rule_problems", "read_rules", "check_content",
]


@dataclass(frozen=True)
class VaccinationRules:
    min_days_after_last_dose: int = opt(14, min=0, max=3650)
    max_days_after_last_dose: int = opt(365, min=1, max=3650)
    # codes of the EU medicinal-product value set (mp) and CVX codes accepted; empty = any
    accepted_products: tuple[str, ...] = (
        "EU/1/20/1528",  # Comirnaty (Pfizer-BioNTech)
        "EU/1/20/1507",  # Spikevax (Moderna)
        "EU/1/21/1529",  # Vaxzevria (AstraZeneca)
        "EU/1/20/1525",  # Janssen
        "EU/1/21/1618",  # Nuvaxovid
        "BBIBP-CorV",  # Sinopharm (WHO EUL)
        "CoronaVac",  # Sinovac (WHO EUL)
        "Covishield",
        "Sputnik-V",
        "Abdala",
        "Hayat-Vax",
        "207", "208", "210", "211", "212", "213", "217", "218", "219", "221", "225", "228", "229", "300", "301", "302", "510", "511",
    )


@dataclass(frozen=True)
class TestRules:
    max_hours_pcr: int = opt(72, min=1, max=720)
    max_hours_rat: int = opt(24, min=1, max=720)
    # test-type value-set codes: LP6464-4 = nucleic acid amplification (PCR), LP217198-3 = rapid
    # antigen; "pcr" and "rat" are accepted as their old names
    accepted_types: tuple[str, ...] = opt(("LP6464-4", "LP217198-3"), choices=("LP6464-4", "LP217198-3", "pcr", "rat"))


@dataclass(frozen=True)
class RecoveryRules:
    min_days_after_positive: int = opt(11, min=0, max=3650)
    max_days_after_positive: int = opt(180, min=1, max=3650)


@dataclass(frozen=True)
class RuleTables:
    """The content of a rules bundle: any of the three tables, keys as in ``[policy.*]``."""

    vaccination: VaccinationRules = opt(factory=VaccinationRules)
    test: TestRules = opt(factory=TestRules)
    recovery: RecoveryRules = opt(factory=RecoveryRules)


RULE_SECTIONS = ("vaccination", "test", "recovery")


def rule_problems(rules: Any, prefix: str = "") -> list[str]:
    """What the limits of single keys cannot say: each window's lower end below its upper end."""
    problems = []
    if rules.vaccination.min_days_after_last_dose >= rules.vaccination.max_days_after_last_dose:
        problems.append(f"{prefix}vaccination.min_days_after_last_dose: must be below max_days_after_last_dose")
    if rules.recovery.min_days_after_positive >= rules.recovery.max_days_after_positive:
        problems.append(f"{prefix}recovery.min_days_after_positive: must be below max_days_after_positive")
    return problems


def read_rules(content: Any) -> dict[str, Any]:
    """The tables a rules bundle gives, by section name (only those it holds), and its EU value
    sets under ``"valuesets"`` ({name: :class:`sync.valuesets.ValueSet`}) if it has any;
    TrustError with every problem, each with its key path, when it does not validate as the
    config (or a value set) would."""
    if not isinstance(content, dict):
        raise TrustError("rules: expected an object with vaccination, test and/or recovery tables")
    problems: list[str] = []
    tables = build(RuleTables, {k: v for k, v in content.items() if k != "valuesets"}, "", Path.cwd(), problems)
    if not problems:
        problems = rule_problems(tables)
    sections: dict[str, Any] = {name: getattr(tables, name) for name in RULE_SECTIONS if name in content}
    if "valuesets" in content:
        try:
            sections["valuesets"] = read_value_sets(content["valuesets"])
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise TrustError("; ".join(problems))
    return sections


def check_content(kind: str, content: Any) -> None:
    """Raise :class:`BundleError` with the reason if a kiosk could not use ``content`` as a
    ``kind`` bundle: read by the same code the kiosk loads it with."""
    from sync.trust import TrustStore

    readers = {
        "trust-list": lambda: TrustStore().add_trust_document(content),
        "revocations": lambda: TrustStore().add_revocation_document(content),
        "rules": lambda: read_rules(content),
    }
    if kind not in readers:
        raise BundleError(f"bundle refused: unknown kind {kind!r}")
    try:
        readers[kind]()
    except TrustError as exc:
        raise BundleError(f"the {kind} content cannot be used: {exc}") from None
