"""The uploader against the real city server on 127.0.0.1 (sometimes behind the fault proxy)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import threading
from collections import namedtuple
from contextlib import contextmanager

import pytest

from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.journal import Journal, utc_iso
from sync import bundles, retention
from sync.client import RETRY_AFTER_CAP_SECONDS, Uploader, backoff_delay, parse_retry_after
from sync.errors import TransientError
from sync.health import cpu_temperature
from city.embedded import start_server
from sync_helpers import NAMES, fill_journal, kiosk, load, write_config
from sync_proxy import FaultProxy


@pytest.fixture
def city(tmp_path, city_db):
    with start_server(tmp_path / "city", db=city_db) as server:
        yield server


def _kiosk(city, tmp_path, url=None, name="gate-1", **sync):
    enrollment = city.enroll(name, state_dir=tmp_path / "state", venue="Office A")
    sync = {"timeout_seconds": 2.0, "max_backoff_seconds": 1.0, **sync}
    return load(write_config(enrollment, tmp_path / "kiosk.toml", url=url, **sync))


def _upload(config, **kw):
    journal = Journal(config.journal_path)
    return journal, Uploader(config, journal, rng=random.Random(1), **kw)


def _record_bad(config, count):
    """Entries the city refuses by name (an unknown status), as a kiosk of another version might send."""
    with Journal(config.journal_path) as journal:
        return [journal.record(kiosk_id=config.kiosk.id, venue="Office A", at=dt.datetime.now(dt.timezone.utc),
                               clock_synced=True, format="pc-covid", status="not-a-status", decision="pass",
                               reason="x", kind="identity").id for _ in range(count)]


@contextmanager
def _through_proxy(city, tmp_path, rates: dict, entries: int, sync: dict | None = None, **proxy_options):
    """A kiosk with ``entries`` queued that reaches the city through the fault proxy: (proxy, config)."""
    proxy = FaultProxy(int(city.url.rsplit(":", 1)[1]), rates, **proxy_options)
    try:
        config = _kiosk(city, tmp_path, url=proxy.url, **(sync or {}))
        fill_journal(config, entries)
        yield proxy, config
    finally:
        proxy.stop()


def _record_waits(uploader, proxy) -> list[float]:
    """The uploader's waits, recorded instead of slept: the network heals after the first; the
    second (the interval after a delivered pass) stops the uploader."""
    waits: list[float] = []

    def wait(seconds):
        waits.append(seconds)
        proxy.rates = {}
        if len(waits) > 1:
            uploader.stop.set()
        return uploader.stop.is_set()

    uploader.wait = wait
    return waits


def test_once_delivers_in_batches_and_marks_exactly_the_acked(city, tmp_path):
    config = _kiosk(city, tmp_path, batch_size=100)
    ids = fill_journal(config, 250)
    journal, uploader = _upload(config)
    with journal:
        assert uploader.run(once=True) == 0
        assert journal.counts()["undelivered"] == 0
        assert journal.get_meta("last_sync")
    assert uploader.delivered_total == 250
    assert city.store.stats["batches"] == 3
    assert sorted(row["id"] for row in city.entries()) == sorted(ids)


def test_an_entry_the_city_names_as_invalid_is_quarantined_and_the_rest_delivered(city, tmp_path, caplog):
    config = _kiosk(city, tmp_path, batch_size=50)
    good = fill_journal(config, 40)
    (bad,) = _record_bad(config, 1)
    good += fill_journal(config, 40, start=40)
    journal, uploader = _upload(config)
    with journal, caplog.at_level(logging.ERROR, logger="kiosk.sync"):
        assert uploader.run(once=True) == 1  # left undelivered: kept, never dropped
        quarantined = journal.quarantined()
        assert [row["id"] for row in quarantined] == [bad]
        assert "status" in quarantined[0]["quarantine_reason"]
        batches = city.store.stats["batches"]
        assert uploader.run(once=True) == 1  # not re-sent as it is
        assert city.store.stats["batches"] == batches
        assert journal.sync_counts()["quarantined"] == 1
    assert f"entry {bad} quarantined" in caplog.text
    assert sorted(row["id"] for row in city.entries()) == sorted(good)

    result = kiosk("sync", "--once", "--config", config.source)
    assert result.returncode == 1
    assert "1 left undelivered (1 quarantined)" in result.stdout
    assert bad in result.stderr


def test_an_entry_refused_without_a_name_is_found_by_halving(tmp_path):
    # the server's size cap refuses any request with the oversized entry, without naming it
    with start_server(tmp_path / "city", max_batch_bytes=6000) as city:
        config = _kiosk(city, tmp_path, batch_size=8)
        ids = fill_journal(config, 8)
        with Journal(config.journal_path) as journal:
            journal.db.execute("UPDATE entries SET venue = ? WHERE id = ?", ["x" * 7000, ids[5]])
        journal, uploader = _upload(config)
        with journal:
            assert uploader.run(once=True) == 1
            assert [row["id"] for row in journal.quarantined()] == [ids[5]]
            assert "413" in journal.quarantined()[0]["quarantine_reason"]
        assert sorted(row["id"] for row in city.entries()) == sorted(ids[:5] + ids[6:])


def test_a_server_refusing_everything_quarantines_nothing(tmp_path, caplog):
    with start_server(tmp_path / "city", max_batch_bytes=100) as city:
        config = _kiosk(city, tmp_path, batch_size=4)
        fill_journal(config, 6)
        _assert_a_pass_refused_wholly_quarantines_nothing(config, 6, caplog)


def _assert_a_pass_refused_wholly_quarantines_nothing(config, entries: int, caplog) -> None:
    """PROTOCOL.md: a server refusing everything it is sent is at fault, not the entries."""
    journal, uploader = _upload(config)
    with journal, caplog.at_level(logging.ERROR, logger="kiosk.sync"):
        assert uploader.run(once=True) == entries
        assert journal.sync_counts()["quarantined"] == 0
    assert "refuses every entry" in caplog.text and "quarantined:" not in caplog.text


def test_a_refused_token_is_reported_and_read_again(city, tmp_path, caplog):
    config = _kiosk(city, tmp_path)
    fill_journal(config, 5)
    token_path = tmp_path / "state" / "city-token"
    token = token_path.read_text()
    token_path.write_text("wrong-token\n")
    journal, uploader = _upload(config)
    with journal, caplog.at_level(logging.ERROR, logger="kiosk.sync"):
        assert uploader.run(once=True) == 5
        assert "refused the kiosk's token" in caplog.text
        assert "refused the kiosk's token" in journal.get_meta("last_sync_error")
        token_path.write_text(token)
        assert uploader.run(once=True) == 0


def test_retry_after_and_backoff_with_full_jitter():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412470.0) == pytest.approx(20.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    rng = random.Random(3)
    delays = [backoff_delay(attempt, 60.0, rng) for attempt in range(1, 12) for _ in range(50)]
    assert all(0 <= d <= 60.0 for d in delays)
    assert max(backoff_delay(1, 60.0, rng) for _ in range(200)) <= 2.0  # base 1 s * 2**1
    assert len({round(d, 3) for d in delays}) > 400  # jittered, not lock-step
    assert all(backoff_delay(1, 1.0, rng, retry_after=7.0) >= 7.0 for _ in range(20))


def test_503_with_retry_after_is_waited_out(city, tmp_path):
    with _through_proxy(city, tmp_path, {"unavailable": 1.0}, 3, retry_after=9) as (proxy, config):
        journal, uploader = _upload(config)
        waits = _record_waits(uploader, proxy)
        with journal:
            assert uploader.run(once=True) == 0
    assert waits and waits[0] >= 9.0
    assert proxy.counts["unavailable"] == 1


def test_the_running_uploader_waits_out_a_retry_after_of_a_day_for_an_hour_at_most(city, tmp_path):
    with _through_proxy(city, tmp_path, {"unavailable": 1.0}, 3, retry_after=86400,
                        unavailable_status=429) as (proxy, config):
        journal, uploader = _upload(config)
        waits = _record_waits(uploader, proxy)  # the quota is over after the first wait
        with journal:
            assert uploader.run() == 0
    assert waits[0] == RETRY_AFTER_CAP_SECONDS == 3600  # not the day the server named
    assert proxy.counts["unavailable"] == 1


def test_a_server_refusing_entries_for_now_still_gets_heartbeats_and_gives_bundles(city, tmp_path):
    # a used-up daily quota answers 429 until midnight: the kiosk must still report and stay fresh
    with _through_proxy(city, tmp_path, {"unavailable": 1.0}, 3, retry_after=86400,
                        unavailable_status=429) as (proxy, config):
        journal, uploader = _upload(config)
        seen_at_first_wait = []
        waits = _record_waits(uploader, proxy)
        recorded = uploader.wait

        def wait(seconds):
            if not waits:
                seen_at_first_wait.append([row["heartbeat"] for row in city.store.kiosks()])
            return recorded(seconds)

        uploader.wait = wait
        fetched = []
        fetch = uploader.fetch_bundles
        uploader.fetch_bundles = lambda: fetched.append(proxy.counts["unavailable"]) or fetch()
        with journal:
            assert uploader.run() == 0
    assert proxy.counts["unavailable"] == 1
    (beats,) = seen_at_first_wait
    assert len(beats) == 1 and beats[0] and beats[0]["queue_depth"] == 3  # sent while the entries wait
    assert fetched[0] == 1  # bundles asked for after the refusal, before the entries went through


def test_once_stops_on_a_retry_after_of_hours_keeping_everything_queued(city, tmp_path):
    with _through_proxy(city, tmp_path, {"unavailable": 1.0}, 3, retry_after=7200,
                        unavailable_status=429) as (proxy, config):
        asked = dt.datetime.now(dt.timezone.utc)
        result = kiosk("sync", "--once", "--config", config.source, timeout=60)  # not 2 hours asleep
        with Journal(config.journal_path) as journal:
            assert journal.counts()["undelivered"] == 3 and journal.sync_counts()["quarantined"] == 0
    assert result.returncode == 1, result.stderr  # as for any retryable failure
    assert proxy.counts["unavailable"] == 1  # asked once, not again
    line = re.fullmatch(r"0 delivered, 3 left undelivered; the city server asked to come back at "
                        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \(in (?:2 h 0|1 h 59) min\)\n", result.stdout)
    assert line, result.stdout
    back = dt.datetime.strptime(line[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    assert dt.timedelta(hours=2, seconds=-1) <= back - asked <= dt.timedelta(hours=2, minutes=1)  # printed to the second


def test_a_reply_slower_than_the_timeout_marks_nothing_and_the_repeat_is_not_stored_twice(city, tmp_path):
    with _through_proxy(city, tmp_path, {"slow": 1.0}, 20, {"timeout_seconds": 0.5},
                        slow_seconds=1.5) as (proxy, config):
        journal, uploader = _upload(config)
        with journal:
            with pytest.raises(TransientError, match="no reply within 0.5 s"):
                uploader.deliver()
            assert journal.counts()["undelivered"] == 20
            assert city.store.count() == 20  # the server did store them
            proxy.rates = {}
            assert uploader.run(once=True) == 0
    assert city.store.count() == 20
    assert city.store.stats["entries_duplicate"] == 20


def test_bundles_are_fetched_with_etags_and_a_forged_one_is_refused(city, tmp_path, caplog):
    config = _kiosk(city, tmp_path)
    journal, uploader = _upload(config)
    with journal:
        assert uploader.fetch_bundles() == {k: "not published" for k in bundles.KINDS}
        city.store.publish("trust-list", {"certificates": []})
        city.store.publish("rules", {"vaccination": {"min_days_after_last_dose": 14}})
        assert journal.get_meta("trust_updated_at") is None
        assert uploader.fetch_bundles()["trust-list"] == "version 1"
        assert journal.get_meta("trust_updated_at")  # what `kiosk status` reports the age from
        assert uploader.fetch_bundles() == {"trust-list": "current", "revocations": "not published", "rules": "current"}
        second = {"certificates": [DccIssuer.create().trust_entry()]}
        city.store.publish("trust-list", second)
        assert uploader.fetch_bundles()["trust-list"] == "version 2"

        forger, _ = bundles.generate_signing_key()
        forged = bundles.sign_bundle("trust-list", {"certificates": [{"kid": "evil"}]}, forger, version=9)
        city.store.engine.execute("UPDATE bundles SET envelope = ?, etag = '\"forged\"' WHERE kind = 'trust-list'", [forged])
        with caplog.at_level(logging.ERROR):
            assert uploader.fetch_bundles()["trust-list"] == "refused"
        assert "trust-list bundle from" in caplog.text and "REFUSED" in caplog.text
        assert uploader.bundles.content("trust-list") == second
        assert uploader.bundles.status()["trust-list"]["version"] == 2


def test_the_heartbeat_reports_health_and_no_identity(city, tmp_path):
    config = _kiosk(city, tmp_path)
    fill_journal(config, 12)
    journal, uploader = _upload(config)
    with journal:
        uploader.send_heartbeat()
    (kiosk_row,) = city.store.kiosks()
    beat = kiosk_row["heartbeat"]
    assert beat["queue_depth"] == 12 and beat["oldest_undelivered"] and beat["last_scan"]
    assert {"synchronised", "source"} <= set(beat["clock"])
    assert {"used_percent", "free_bytes", "alarm", "journal_bytes"} <= set(beat["disk"])
    assert "temperature_c" in beat and "bundles" in beat
    text = json.dumps(beat, ensure_ascii=False)
    assert not any(name.split()[0] in text for name in NAMES)


def test_cpu_temperature_reads_the_cpu_zone(tmp_path):
    for i, (kind, milli) in enumerate((("gpu-thermal", "41000"), ("cpu-thermal", "52312"))):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    assert cpu_temperature(str(tmp_path)) == pytest.approx(52.312)
    assert cpu_temperature(str(tmp_path / "none")) is None


def test_retention_purges_only_delivered_entries_past_the_period(city, tmp_path):
    config = _kiosk(city, tmp_path)
    old_delivered = fill_journal(config, 5)
    old_undelivered = fill_journal(config, 3, start=5, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60))
    recent = fill_journal(config, 4, start=8)
    now = dt.datetime.now(dt.timezone.utc)
    with Journal(config.journal_path) as journal:
        journal.mark_delivered(old_delivered, utc_iso(now - dt.timedelta(days=15)))
        journal.mark_delivered(recent, utc_iso(now - dt.timedelta(days=13)))
        assert retention.purge(journal, 14, now) == 5
        assert journal.has_ids(old_delivered) == set()
        assert journal.has_ids(old_undelivered + recent) == set(old_undelivered + recent)
        assert retention.purge(journal, 1, now) == 4
        counts = journal.counts()
        assert (counts["total"], counts["undelivered"]) == (3, 3)


def test_the_disk_alarm_fires_past_the_threshold(tmp_path, monkeypatch, caplog):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(retention.shutil, "disk_usage", lambda _path: usage(1000, 950, 50))
    state = retention.disk_state(tmp_path / "journal.db", 90.0)
    assert state.alarm and state.used_percent == 95.0
    with caplog.at_level(logging.ERROR):
        retention.check_disk(tmp_path / "journal.db", 90.0)
    assert "DISK ALARM" in caplog.text
    monkeypatch.setattr(retention.shutil, "disk_usage", lambda _path: usage(1000, 500, 500))
    assert not retention.disk_state(tmp_path / "journal.db", 90.0).alarm


def test_sync_stops_promptly_on_request(city, tmp_path):
    config = _kiosk(city, tmp_path, interval_seconds=3600.0)
    fill_journal(config, 3)
    stop = threading.Event()
    journal, uploader = _upload(config, stop=stop)
    with journal:
        thread = threading.Thread(target=uploader.run)
        thread.start()
        for _ in range(200):
            if not journal.counts()["undelivered"]:
                break
            stop.wait(0.05)
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_a_422_naming_every_entry_quarantines_nothing(city, tmp_path, caplog):
    """Issue 14, item 4: the old uploader quarantined the whole journal (1 638/1 638)."""
    config = _kiosk(city, tmp_path, batch_size=10)
    _record_bad(config, 35)
    _assert_a_pass_refused_wholly_quarantines_nothing(config, 35, caplog)


def test_refused_entries_ahead_of_good_ones_are_quarantined_and_do_not_block_them(city, tmp_path):
    config = _kiosk(city, tmp_path, batch_size=10)
    bad = _record_bad(config, 25)  # three batches the server refuses wholly, then good ones
    good = fill_journal(config, 15)
    journal, uploader = _upload(config)
    with journal:
        assert uploader.run(once=True) == 25
        assert sorted(row["id"] for row in journal.quarantined(limit=100)) == sorted(bad)
    assert sorted(row["id"] for row in city.entries()) == sorted(good)
