"""The reference city server: its HTTP API and the `kiosk-city` commands."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import stat
import time
import uuid

import pytest
import requests

from kiosk.journal import utc_iso
from sync.seal import seal
from city.cli import main as kiosk_city_main
from city.embedded import start_server
from city.trace import normalise_name
from serving_helpers import free_port, serve, wait_up
from sync_helpers import kiosk, kiosk_city


OFFICES = ["Office A", "Office B"]  # the venues the tests' kiosks are enrolled for


@pytest.fixture
def city(tmp_path, city_db):
    with start_server(tmp_path / "city", max_batch_bytes=200_000, db=city_db) as server:
        yield server


def entry(kiosk_id: str, seal_key: str, *, name: str = "NGUYEN VAN AN", birth: str = "1990-05-01",
          document: str = "001090000001", venue: str = "Office A", at: dt.datetime | None = None, **over) -> dict:
    identity = json.dumps({"name": name, "birth_date": birth, "document": document}, ensure_ascii=False).encode()
    import base64

    item = {
        "id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue": venue,
        "at": utc_iso(at or dt.datetime.now(dt.timezone.utc)), "clock_synced": True, "format": "pc-covid",
        "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity", "flags": [],
        "identity": base64.b64encode(seal(identity, seal_key)).decode(), "frame_age_ms": 12.5,
    }
    item.update(over)
    return item


def post(city, token, entries, **kw):
    return requests.post(f"{city.url}/v1/entries", json={"entries": entries, **kw},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


# ---------------------------------------------------------------------------- the API
def test_ingest_is_idempotent_and_acks_what_is_held(city, tmp_path):
    enrolled = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    batch = [entry("k1", enrolled.seal_public_key) for _ in range(5)]
    first = post(city, enrolled.token, batch)
    assert first.status_code == 200
    assert first.json() == {"acked": [e["id"] for e in batch], "stored": 5, "duplicates": 0}
    again = post(city, enrolled.token, batch[2:] + [batch[0]])
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 4
    assert city.store.count() == 5


def test_bad_batches_get_clear_4xx_and_nothing_is_stored(city, tmp_path):
    enrolled = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    other = city.enroll("k2", state_dir=tmp_path / "k2", venue=OFFICES)
    key = enrolled.seal_public_key
    assert post(city, "nope", [entry("k1", key)]).status_code == 401
    assert requests.post(f"{city.url}/v1/entries", json={"entries": []}, timeout=5).status_code == 401

    bad = [entry("k1", key), entry("k1", key, status="great"), dict(entry("k1", key), at="yesterday"),
           entry("k2", key), {"id": "x"}, entry("k1", key, identity="!!")]
    reply = post(city, enrolled.token, bad)
    assert reply.status_code == 422
    refused = {r["index"]: r["problem"] for r in reply.json()["refused"]}
    assert set(refused) == {1, 2, 3, 4, 5}
    assert "status" in refused[1] and "at" in refused[2] and "kiosk_id" in refused[3]
    assert "id: expected a UUID" in refused[4] and "identity" in refused[5]
    assert city.store.count() == 0  # all or nothing

    taken = entry("k2", key)
    assert post(city, other.token, [taken]).status_code == 200
    reply = post(city, enrolled.token, [dict(taken, kiosk_id="k1")])
    assert reply.status_code == 422 and "another kiosk" in reply.json()["refused"][0]["problem"]

    assert post(city, enrolled.token, [entry("k1", key)], kiosk_id="k2").status_code == 403
    huge = requests.post(f"{city.url}/v1/entries", data=b"x" * 300_000, timeout=10,
                         headers={"Authorization": f"Bearer {enrolled.token}", "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    garbage = requests.post(f"{city.url}/v1/entries", data=b"{not json", timeout=10,
                            headers={"Authorization": f"Bearer {enrolled.token}"})
    assert garbage.status_code == 400 and garbage.json()["error"] == "bad_json"


def test_re_enrolling_replaces_the_token(city, tmp_path):
    first = city.enroll("k1", state_dir=tmp_path / "a")
    second = city.enroll("k1", state_dir=tmp_path / "b")
    assert post(city, first.token, []).status_code == 401
    assert post(city, second.token, []).status_code == 200


def test_bundles_are_served_with_etags(city, tmp_path):
    enrolled = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    auth = {"Authorization": f"Bearer {enrolled.token}"}
    assert requests.get(f"{city.url}/v1/bundles/rules", headers=auth, timeout=5).status_code == 404
    city.store.publish("rules", {"a": 1})
    got = requests.get(f"{city.url}/v1/bundles/rules", headers=auth, timeout=5)
    assert got.status_code == 200 and got.headers["ETag"]
    same = requests.get(f"{city.url}/v1/bundles/rules", headers={**auth, "If-None-Match": got.headers["ETag"]}, timeout=5)
    assert same.status_code == 304 and same.content == b""
    assert requests.get(f"{city.url}/v1/bundles/rules", timeout=5).status_code == 401
    assert requests.get(f"{city.url}/v1/bundles/secrets", headers=auth, timeout=5).status_code == 404


# ---------------------------------------------------------------------------- the commands
def test_enroll_prints_a_config_that_check_config_accepts(tmp_path, capsys, city_db):
    code = kiosk_city_main(["enroll", "lab-01", "--data", str(tmp_path / "city"), "--url", "http://127.0.0.1:8443",
                            "--state", str(tmp_path / "state"), "--simulated", "--venue", "Trường Tiểu học Kim Liên"])
    assert code == 0
    config_text = capsys.readouterr().out
    (tmp_path / "kiosk.toml").write_text(config_text)
    checked = kiosk("check-config", str(tmp_path / "kiosk.toml"))
    assert checked.returncode == 0, checked.stderr
    assert 'id = "lab-01"' in config_text and "seal_public_key" in config_text and 'driver = "replay"' in config_text
    token_file = tmp_path / "state" / "city-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert token_file.read_text().strip() not in config_text  # the token lives in its file only
    assert stat.S_IMODE(os.stat(tmp_path / "city" / "keys" / "seal.key").st_mode) == 0o600


def test_entries_keep_identities_sealed_unless_asked(city, tmp_path):
    enrolled = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    batch = [entry("k1", enrolled.seal_public_key, name="Trần Thị Bích Ngọc"), entry("k1", enrolled.seal_public_key),
             entry("k1", enrolled.seal_public_key, identity=None)]
    post(city, enrolled.token, batch)
    listed = kiosk_city("entries", "--data", str(city.data_dir), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == [e["id"] for e in batch]
    assert [r["sealed"] for r in rows] == [True, True, False] and all("identity" not in r for r in rows)
    table = kiosk_city("entries", "--data", str(city.data_dir))
    assert "Trần Thị Bích Ngọc" not in table.stdout and "NGUYEN" not in table.stdout
    assert table.stdout.count("(sealed)") == 2

    opened = kiosk_city("entries", "--data", str(city.data_dir), "--json", "--identities")
    rows = [json.loads(line) for line in opened.stdout.splitlines()]
    assert rows[0]["kiosk_id"] == "k1" and rows[0]["identity"]["name"] == "Trần Thị Bích Ngọc"
    assert rows[2]["identity"] is None
    table = kiosk_city("entries", "--data", str(city.data_dir), "--identities")
    assert "Trần Thị Bích Ngọc" in table.stdout and len(table.stdout.splitlines()) == 3


def test_entries_filter_by_kiosk_venue_and_dates(city, tmp_path, capsys):
    k1 = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    k2 = city.enroll("k2", state_dir=tmp_path / "k2", venue=OFFICES)
    day = dt.datetime(2021, 7, 20, 23, 59, tzinfo=dt.timezone.utc)
    a = entry("k1", k1.seal_public_key, at=day)
    b = entry("k1", k1.seal_public_key, at=day + dt.timedelta(minutes=2), venue="Office B")
    c = entry("k2", k2.seal_public_key, at=day + dt.timedelta(days=2))
    assert post(city, k1.token, [a, b]).status_code == 200 and post(city, k2.token, [c]).status_code == 200
    data = str(city.data_dir)

    def listed(*options: str) -> list[str]:
        assert kiosk_city_main(["entries", "--data", data, "--json", *options]) == 0
        return [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]

    assert listed() == [a["id"], b["id"], c["id"]]
    assert listed("--kiosk", "k2") == [c["id"]]
    assert listed("--venue", "Office B") == [b["id"]]
    assert listed("--from", "2021-07-21") == [b["id"], c["id"]]
    assert listed("--to", "2021-07-20") == [a["id"]]
    assert listed("--from", "2021-07-21", "--to", "2021-07-21", "--kiosk", "k1") == [b["id"]]
    assert kiosk_city_main(["entries", "--data", data, "--from", "soon"]) == 2


def test_publish_signs_each_file_and_refuses_bad_input(tmp_path, capsys, city_db):
    data = str(tmp_path / "city")
    (tmp_path / "trust.json").write_text(json.dumps({"certificates": []}))
    (tmp_path / "bad.json").write_text("{oops")
    assert kiosk_city_main(["publish", "--data", data]) == 2
    assert kiosk_city_main(["publish", "--data", data, "--trust-list", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert kiosk_city_main(["publish", "--data", data, "--rules", str(tmp_path / "trust.json")]) == 2
    assert "certificates: unknown key" in capsys.readouterr().err  # a trust list is not rules
    (tmp_path / "rules.json").write_text(json.dumps({"test": {"max_hours_rat": 12}}))
    assert kiosk_city_main(["publish", "--data", data, "--trust-list", str(tmp_path / "trust.json"),
                            "--rules", str(tmp_path / "rules.json")]) == 0
    assert kiosk_city_main(["publish", "--data", data, "--trust-list", str(tmp_path / "trust.json")]) == 0
    out = capsys.readouterr().out
    assert "published trust-list version 1" in out and "published rules version 1" in out
    assert "published trust-list version 2" in out


def test_trace_finds_who_was_at_the_same_venue_within_the_window(city, tmp_path, capsys):
    enrolled = city.enroll("k1", state_dir=tmp_path / "k1", venue=OFFICES)
    key = enrolled.seal_public_key
    t0 = dt.datetime(2021, 7, 20, 9, 0, tzinfo=dt.timezone.utc)
    minute = dt.timedelta(minutes=1)
    index = entry("k1", key, name="Phạm Minh Đức", birth="1985-03-02", document="001085000777", at=t0)
    close = entry("k1", key, name="LE HOANG LONG", document="1", at=t0 + 14 * minute)
    edge = entry("k1", key, name="DANG THU HA", document="2", at=t0 - 15 * minute)
    late = entry("k1", key, name="VU VAN BA", document="3", at=t0 + 16 * minute)
    elsewhere = entry("k1", key, name="HO THI CAM", document="4", at=t0 + minute, venue="Office B")
    # the same person again (PC-Covid writes the name in upper case without diacritics)
    again = entry("k1", key, name="PHAM MINH DUC", birth="1985", document="", at=t0 + dt.timedelta(days=1))
    met_again = entry("k1", key, name="NGO BAO CHAU", document="5", at=t0 + dt.timedelta(days=1, minutes=3))
    other_day = entry("k1", key, name="TRAN VAN TU", document="6", at=t0 + dt.timedelta(days=5))
    assert post(city, enrolled.token, [index, close, edge, late, elsewhere, again, met_again, other_day]).status_code == 200
    data = str(city.data_dir)

    def traced(*selector: str) -> set[str]:
        assert kiosk_city_main(["trace", "--data", data, *selector, "--from", "2021-07-19", "--to", "2021-07-22",
                                "--minutes", "15", "--json"]) == 0
        return {json.loads(line)["identity"]["name"] for line in capsys.readouterr().out.splitlines()}

    expected = {"LE HOANG LONG", "DANG THU HA", "NGO BAO CHAU"}
    assert traced("--entry", index["id"]) == expected
    assert traced("--name", "pham  minh duc", "--birth-date", "1985-03-02") == expected
    assert traced("--document", "001085000777") == {"LE HOANG LONG", "DANG THU HA"}  # the second visit shows none
    assert traced("--name", "Phạm Minh Đức", "--birth-date", "1990") == set()
    assert kiosk_city_main(["trace", "--data", data, "--entry", index["id"], "--from", "2021-07-19",
                            "--to", "2021-07-20", "--minutes", "15"]) == 0
    text = capsys.readouterr().out
    assert "1 visit(s)" in text and "2 contact(s)" in text
    assert kiosk_city_main(["trace", "--data", data, "--entry", str(uuid.uuid4())]) == 2
    capsys.readouterr()
    assert kiosk_city_main(["trace", "--data", data, "--document", "0010******01"]) == 0
    assert "--document finds only document numbers read in full" in capsys.readouterr().out
    assert kiosk_city_main(["trace", "--help"]) == 0
    assert "finds only numbers read in full" in capsys.readouterr().out


def test_normalised_names_ignore_diacritics_case_and_spacing():
    assert normalise_name("Đặng  Thu Hà") == normalise_name("DANG THU HA") == "DANG THU HA"
    assert normalise_name(" nguyen,van  an ") == normalise_name("Nguyễn Văn An") == "NGUYEN VAN AN"


def test_the_blind_index_stores_hmac_sha256_of_the_normalised_identifiers():
    """Stored index rows must stay readable: each hash is HMAC-SHA256 under the index key of
    kind and parts joined by NUL, cut to HASH_BYTES (a faster way to compute it is the same)."""
    import hashlib
    import hmac

    from city.blind import BlindIndex
    from city.storage.base import HASH_BYTES

    key = bytes(range(32))
    index = BlindIndex(key)
    expected = [hmac.new(key, message.encode(), hashlib.sha256).digest()[:HASH_BYTES] for message in
                ("document\x00001090000001", "name+birth\x00NGUYEN VAN AN\x001990-05-01",
                 "name+year\x00NGUYEN VAN AN\x001990", "name\x00NGUYEN VAN AN")]
    identity = {"name": "Nguyễn Văn An", "birth_date": "1990-05-01", "document": "0010 9000 0001"}
    assert list(index.of_identity(identity)) == expected
    assert list(index.of_identity(dict(identity, name="NGUYEN VAN AN"))) == expected


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    assert kiosk_city_main(["serve", "--data", str(tmp_path), "--listen", "nope"]) == 2
    assert kiosk_city_main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("kiosk-city: error:") == 2


def test_serve_answers_on_the_given_address_and_makes_its_keys(tmp_path, city_db):
    port = free_port()
    proc = serve(tmp_path / "city", port)
    try:
        health = wait_up(port, proc)
        assert health and health["ok"] and health["protocol"] == 1
        assert (tmp_path / "city" / "keys" / "bundle.pub").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_workers_each_accept_on_a_socket_of_their_own(tmp_path):
    """`serve --workers 2`: each worker listens on a socket of its own (SO_REUSEPORT), so kiosks
    connecting at once are spread over both, not all taken by whichever worker woke first."""
    import psutil

    port = free_port()
    proc = serve(tmp_path / "city", port, "--workers", "2")
    kiosks: list[socket.socket] = []
    try:
        wait_up(port, proc)

        def sockets_of(worker: psutil.Process, status: str) -> set[str]:
            return {os.readlink(f"/proc/{worker.pid}/fd/{c.fd}") for c in worker.net_connections("tcp")
                    if c.status == status and c.laddr.port == port}

        workers = [w for w in psutil.Process(proc.pid).children(recursive=True) if sockets_of(w, psutil.CONN_LISTEN)]
        listening = [sockets_of(w, psutil.CONN_LISTEN) for w in workers]
        assert len(workers) == 2 and all(len(each) == 1 for each in listening) and listening[0] != listening[1]
        for _ in range(40):  # kiosks that connect at once, and stay connected
            kiosks.append(socket.create_connection(("127.0.0.1", port)))
        for _ in range(100):
            held = [len(sockets_of(w, psutil.CONN_ESTABLISHED)) for w in workers]
            if sum(held) == 40:
                break
            time.sleep(0.1)
        assert sum(held) == 40 and min(held) > 0, held
    finally:
        for connection in kiosks:
            connection.close()
        proc.terminate()
        proc.wait(timeout=20)


def test_times_are_stored_in_utc_milliseconds_whatever_form_they_come_in():
    from city.store import validate_entry

    sent = {"id": "3f8a4f5e-8b0b-4a5e-9a55-2b7f0c1d2e3f", "kiosk_id": "k1", "venue": "Office", "clock_synced": False,
            "format": "cccd", "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity",
            "flags": [], "identity": None}
    for at in ("2021-07-20T15:30:00+07:00", "2021-07-20T08:30:00Z", "2021-07-20T08:30:00.000Z",
               "2021-07-20T08:30:00.000+00:00", "2021-07-20T08:30:00.000000Z"):
        row, problem = validate_entry(dict(sent, at=at), "k1")
        assert problem is None and row[3] == "2021-07-20T08:30:00.000Z", at
    assert validate_entry(dict(sent, at="2021-07-20T08:30:00.123Z"), "k1")[0][3] == "2021-07-20T08:30:00.123Z"
    for at in ("2021-13-20T08:30:00.000Z", "2021-07-20T08:30:00.000", "0001-01-01T00:00:00+14:00"):
        assert "at: expected" in validate_entry(dict(sent, at=at), "k1")[1], at
    for entry_id in ("3F8A4F5E-8B0B-4A5E-9A55-2B7F0C1D2E3F", "{3f8a4f5e-8b0b-4a5e-9a55-2b7f0c1d2e}",
                     "3f8a4f5e8b0b4a5e9a552b7f0c1d2e3f", "3f8a4f5e-8b0b-4a5e-9a55-2b7f0c1d2e3f\n", 7):
        assert "id: expected a UUID" in validate_entry(dict(sent, id=entry_id), "k1")[1], entry_id
