"""Entries carried by hand: `kiosk export`, `kiosk-city import`, and the signed receipt."""

from __future__ import annotations

import json

from kiosk.journal import Journal
from sync import bundles
from city.embedded import start_server
from city.store import CityStore
from sync_helpers import NAMES, fill_journal, kiosk, kiosk_city, load, write_config


def _setup(tmp_path, name="remote-1", db=None):
    store = CityStore(tmp_path / "city", db)
    from city.enroll import enroll_kiosk

    enrollment = enroll_kiosk(store, name, "https://city.example", state_dir=tmp_path / "state", venue="Far village")
    store.close()
    config_path = write_config(enrollment, tmp_path / "kiosk.toml")
    return load(config_path), config_path


def test_export_import_receipt_round_trip(tmp_path, city_db):
    config, config_path = _setup(tmp_path, db=city_db)
    ids = fill_journal(config, 1500)
    out = tmp_path / "usb" / "entries.jsonl"
    exported = kiosk("export", "--config", str(config_path), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "1500 entries written" in exported.stdout
    text = out.read_bytes()
    assert not any(name.encode() in text for name in NAMES)  # identities travel sealed
    with Journal(config.journal_path) as journal:
        assert journal.counts()["undelivered"] == 1500  # not delivered until the city has them
        assert journal.sync_counts()["exported_unconfirmed"] == 1500

    imported = kiosk_city("import", str(out), "--data", str(tmp_path / "city"))
    assert imported.returncode == 0, imported.stderr
    assert "1500 entries, 1500 stored, 0 already present, 0 refused" in imported.stdout
    again = kiosk_city("import", str(out), "--data", str(tmp_path / "city"))
    assert "0 stored, 1500 already present" in again.stdout

    receipt = tmp_path / "usb" / "entries.jsonl.receipt.json"
    applied = kiosk("export", "--config", str(config_path), "--receipt", str(receipt))
    assert applied.returncode == 0, applied.stderr
    assert "1500 entries marked delivered" in applied.stdout and "0 left undelivered" in applied.stdout

    listed = kiosk_city("entries", "--data", str(tmp_path / "city"), "--json", "--identities")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert all(r["identity"]["name"] and r["via"].startswith("import:") for r in rows)


def test_a_forged_or_foreign_receipt_marks_nothing(tmp_path):
    config, config_path = _setup(tmp_path)
    ids = fill_journal(config, 3)
    forger, _ = bundles.generate_signing_key()
    forged = tmp_path / "forged.json"
    forged.write_bytes(bundles.sign_bundle("import-receipt", {"kiosk_id": config.kiosk.id, "ids": ids}, forger, 1))
    result = kiosk("export", "--config", str(config_path), "--receipt", str(forged))
    assert result.returncode == 1 and "signed by key" in result.stderr

    store = CityStore(tmp_path / "city")
    foreign = tmp_path / "foreign.json"
    foreign.write_bytes(store.sign_receipt({"kiosk_id": "someone-else", "ids": ids}))
    store.close()
    result = kiosk("export", "--config", str(config_path), "--receipt", str(foreign))
    assert result.returncode == 1 and "someone-else" in result.stderr
    with Journal(config.journal_path) as journal:
        assert journal.counts()["undelivered"] == 3


def test_a_truncated_export_imports_its_complete_lines_only(tmp_path):
    config, config_path = _setup(tmp_path)
    ids = fill_journal(config, 10)
    out = tmp_path / "entries.jsonl"
    assert kiosk("export", "--config", str(config_path), "--out", str(out)).returncode == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:7]) + lines[7][:40])  # header + 6 entries + half a line
    imported = kiosk_city("import", str(out), "--data", str(tmp_path / "city"))
    assert imported.returncode == 1 and "cut short" in imported.stderr
    receipt = bundles.verify_bundle((tmp_path / "entries.jsonl.receipt.json").read_bytes(),
                                    config.sync.bundle_public_key, "import-receipt")
    assert receipt.content["ids"] == ids[:6]
    assert kiosk("export", "--config", str(config_path), "--receipt", str(tmp_path / "entries.jsonl.receipt.json")).returncode == 0
    with Journal(config.journal_path) as journal:
        assert journal.counts()["undelivered"] == 4


def test_an_export_from_an_unknown_kiosk_is_refused(tmp_path):
    config, config_path = _setup(tmp_path)
    fill_journal(config, 2)
    out = tmp_path / "entries.jsonl"
    kiosk("export", "--config", str(config_path), "--out", str(out))
    result = kiosk_city("import", str(out), "--data", str(tmp_path / "other-city"))
    assert result.returncode == 2 and "not enrolled here" in result.stderr


def test_exported_entries_are_confirmed_by_the_next_online_sync(tmp_path, city_db):
    with start_server(tmp_path / "city", db=city_db) as city:
        enrollment = city.enroll("k1", state_dir=tmp_path / "state")
        config_path = write_config(enrollment, tmp_path / "kiosk.toml")
        config = load(config_path)
        fill_journal(config, 20)
        out = tmp_path / "entries.jsonl"
        assert kiosk("export", "--config", str(config_path), "--out", str(out)).returncode == 0
        assert kiosk_city("import", str(out), "--data", str(tmp_path / "city")).returncode == 0
        synced = kiosk("sync", "--once", "--config", str(config_path))
        assert synced.returncode == 0, synced.stderr
        assert city.store.stats["entries_duplicate"] == 20 and city.store.count() == 20


def test_a_kiosk_without_a_server_still_purges_and_says_what_is_left(tmp_path):
    config, config_path = _setup(tmp_path)
    text = config_path.read_text().replace('url = "https://city.example"', 'url = ""')
    config_path.write_text(text)
    fill_journal(config, 2)
    result = kiosk("sync", "--once", "--config", str(config_path))
    assert result.returncode == 1
    assert "2 left undelivered" in result.stdout and "sync.url is empty" in result.stderr
