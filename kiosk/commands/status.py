"""Journal counts (total, undelivered, oldest undelivered), last sync, trust-list age, clock state,
the city's bundles and the EU value sets in force (shipped, or from the city's rules bundle)."""

from __future__ import annotations

import json

from kiosk.commands._common import add_config_argument, load_config


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def collect(config) -> dict:
    """The status as a dict (what `kiosk status` prints; no personal data)."""
    import datetime as dt

    from kiosk.app import apply_city_rules, city_bundles
    from kiosk.clock import open_clock
    from kiosk.journal import Journal
    from sync.health import last_scan
    from sync.retention import disk_state

    status: dict = {"kiosk_id": config.kiosk.id, "venue": config.kiosk.venue}
    with Journal(config.journal_path) as journal:
        status.update(journal.counts())
        status.update(journal.sync_counts())
        status["last_sync"] = journal.get_meta("last_sync")
        status["last_scan"] = last_scan(journal)
        trust_age = journal.meta_age_seconds("trust_updated_at", dt.datetime.now(dt.timezone.utc))
    status["trust_list_age_hours"] = None if trust_age is None else round(trust_age / 3600, 2)
    bundles = city_bundles(config)
    status["bundles"] = bundles.status() if bundles is not None else {}
    status["value_sets"] = value_sets_in_force(apply_city_rules(config).policy.value_sets,
                                               status["bundles"].get("rules", {}).get("issued_at"))
    status["clock_synchronised"] = open_clock(config.kiosk).synchronised()
    disk = disk_state(config.journal_path, config.journal.disk_alarm_percent)
    status["disk_used_percent"] = disk.used_percent
    status["disk_alarm"] = disk.alarm
    return status


def value_sets_in_force(value_sets, rules_issued_at: str | None) -> dict[str, dict]:
    """Each EU value set the rules use: its ``id``, ``date``, ``codes`` and ``source``, with the
    shipped EU ``release`` or the city's rules bundle's ``issued_at``."""
    sets = {}
    for described in value_sets.describe():
        name = described.pop("name")
        if described["source"] == "shipped":
            described["release"] = value_sets.version
        else:
            described["issued_at"] = rules_issued_at
        sets[name] = described
    return sets


def _value_set_lines(sets: dict[str, dict]) -> list[str]:
    """One line per source: ``shipped, EU release 60ea3d8 (2023-07-12): test-type 2021-04-27, ...``."""
    by_source: dict[str, list[str]] = {}
    for name, described in sets.items():
        source = (f"shipped, EU release {described['release']}" if described["source"] == "shipped"
                  else f"{described['source']} issued {described.get('issued_at') or '?'}")
        by_source.setdefault(source, []).append(f"{name} {described['date']}")
    return [f"{source}: {', '.join(names)}" for source, names in by_source.items()]


def run(args) -> int:
    config = load_config(args)
    status = collect(config)
    if args.json:
        print(json.dumps(status))
        return 0
    width = max(len(k) for k in status)
    for key, value in status.items():
        if key == "value_sets":
            lines = _value_set_lines(value) or ["-"]
            print(f"{key:<{width}}  " + f"\n{'':<{width}}  ".join(lines))
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v.get('age_seconds') if isinstance(v, dict) else v}" for k, v in value.items()) or "-"
        print(f"{key:<{width}}  {'-' if value is None else value}")
    return 0
