"""The console over HTTP (FastAPI's TestClient): sessions, CSRF, roles, throttling, headers,
masking, publication, the audit log, and the command line's accounts and audit."""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings

import pytest

from city.app import create_app
from city.cli import main as city_main
from city.console import messages
from city.console.pages import ConsoleSettings
from city.console.records import AccountError
from city.console.vietnamese import matches, sort_key
from city.store import CityStore
from sync import seal
from console_helpers import PASSWORD, add_accounts, csrf_of, here, sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def city(tmp_path, city_db):
    """The console on each engine (SQLite, PostgreSQL)."""
    store = CityStore(tmp_path / "city", city_db, migrate=True)
    app = create_app(store, console=ConsoleSettings(account_failures=3, address_failures=6))
    add_accounts(app.state.console.records)
    yield store, app
    store.close()


DAY = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()  # a day whose entries are all in


def client(app, base_url: str = "http://127.0.0.1") -> TestClient:
    return TestClient(app, base_url=base_url)


def entry(store, kiosk="kiosk-1", venue="Chợ Bến Thành", name="Nguyễn Văn An", born="1990-05-01",
          at=f"{DAY}T03:00:00.000Z", document="001090000001"):
    import uuid

    identity = json.dumps({"name": name, "birth_date": born, "document": document}).encode()
    sealed = seal.seal(identity, store.keys.seal_public)
    import base64

    return {"id": str(uuid.uuid4()), "kiosk_id": kiosk, "venue": venue, "at": at, "clock_synced": True,
            "format": "pc-covid", "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity",
            "flags": [], "identity": base64.b64encode(sealed).decode(), "frame_age_ms": 10}


def test_signing_in_lands_on_the_fleet_and_the_cookie_is_strict(city):
    store, app = city
    web = client(app)
    assert web.get("/console/kiosks", follow_redirects=False).headers["location"] == "/console/"
    signed = sign_in(web, "ana")
    assert signed.status_code == 303 and signed.headers["location"] == "/console/kiosks"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert web.get("/console/kiosks").status_code == 200
    tls = client(app, base_url="https://127.0.0.1")
    assert "Secure" in sign_in(tls, "ana").headers["set-cookie"]


def test_a_form_without_its_csrf_token_is_refused(city):
    _, app = city
    web = client(app)
    web.get("/console/")
    refused = web.post("/console/", data={"name": "ana", "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403
    sign_in(web, "tuan")
    for token in ("", "forged"):
        answer = web.post("/console/trace", data={"csrf": token, "by": "name", "name": "x", "from": "2026-12-01",
                                                 "to": "2026-12-05", "minutes": "15"})
        assert answer.status_code == 403
    other = client(app)  # another browser's token is not this session's
    stolen = csrf_of(other.get("/console/").text)
    answer = web.post("/console/signout", data={"csrf": stolen}, follow_redirects=False)
    assert answer.status_code == 403


def test_a_session_ends_after_30_idle_minutes_and_on_a_password_change(city):
    _, app = city
    console = app.state.console
    web = client(app)
    sign_in(web, "vy")
    assert web.get("/console/entries").status_code == 200
    console.sessions.clock = lambda: time.time() + 29 * 60
    assert web.get("/console/entries", follow_redirects=False).status_code == 200  # re-signed: timer restarts
    console.sessions.clock = lambda: time.time() + 31 * 60
    assert web.get("/console/entries", follow_redirects=False).headers["location"] == "/console/"
    console.sessions.clock = time.time
    sign_in(web, "vy")
    console.records.set_password("vy", "another long password")
    assert web.get("/console/entries", follow_redirects=False).status_code == 303
    sign_in(web, "ana")
    console.records.set_disabled("ana", True)
    assert web.get("/console/kiosks", follow_redirects=False).status_code == 303
    assert sign_in(web, "ana").status_code == 401


def test_sign_in_is_throttled_per_account_and_per_address(city):
    _, app = city
    web = client(app)
    for _ in range(3):
        assert sign_in(web, "tuan", "wrong password!").status_code == 401
    blocked = sign_in(web, "tuan")  # even the right password waits now
    assert blocked.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in blocked.text and "15 phút" in blocked.text
    assert sign_in(web, "ana").status_code == 303  # another account from the same address still may
    for name in ("x1", "x2", "x3"):
        sign_in(web, name, "wrong password!")
    assert sign_in(web, "vy").status_code == 429  # six failures from this address
    records = app.state.console.records
    failed = records.events(actions=("sign-in-failed",))
    assert len(failed) == 8 and {e.detail["reason"] for e in failed} == {"wrong name or password", "throttled"}


def test_the_workers_of_one_city_count_the_same_failed_sign_ins(city):
    """`serve --workers N`: each worker has its own app and store; a guesser spreading attempts
    over them is throttled after the same number as on one."""
    store, app = city
    other_store = CityStore(store.data_dir, None if store.engine.name == "sqlite" else store.engine.url)
    try:
        other = create_app(other_store, console=ConsoleSettings(account_failures=3, address_failures=6))
        webs = [client(app), client(other)]
        for attempt in range(3):
            assert sign_in(webs[attempt % 2], "tuan", "wrong password!").status_code == 401
        assert sign_in(webs[1], "tuan").status_code == 429
        assert sign_in(webs[0], "tuan").status_code == 429
    finally:
        other_store.close()


def test_roles_open_their_pages_only(city):
    _, app = city
    allowed = {"ana": {"kiosks", "entries", "bundles", "audit"}, "tuan": {"kiosks", "entries", "trace"},
               "vy": {"kiosks", "entries"}}
    for name, pages in allowed.items():
        web = client(app)
        sign_in(web, name)
        for page in ("kiosks", "entries", "trace", "bundles", "audit"):
            answer = web.get(f"/console/{page}", follow_redirects=False)
            assert answer.status_code == (200 if page in pages else 403), (name, page)
            assert ('href="/console/' + page + '"' in answer.text) == (page in pages)


def test_the_kiosk_token_and_the_console_session_do_not_open_each_other(city, tmp_path):
    store, app = city
    token = store.enroll("kiosk-1")
    web = client(app)
    kiosk_door = web.get("/console/kiosks", headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
    assert kiosk_door.status_code == 303 and kiosk_door.headers["location"] == "/console/"
    sign_in(web, "ana")
    assert web.post("/v1/heartbeat", json={"kiosk_id": "kiosk-1"}).status_code == 401
    assert web.get("/v1/bundles/rules").status_code == 401


def test_pages_carry_the_security_headers(city):
    _, app = city
    web = client(app)
    sign_in(web, "tuan")
    for path in ("/console/", "/console/kiosks", "/console/entries", "/console/trace"):
        headers = web.get(path).headers
        assert "script-src" not in headers["content-security-policy"]
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert web.get("/console/static/console.css").status_code == 200


def test_entries_are_masked_for_every_role_and_filtered(city):
    store, app = city
    store.enroll("kiosk-1", ["Chợ Bến Thành"])
    store.ingest([entry(store), entry(store, name="Trần Thị Bích Ngọc", born="1985-02-03", at=f"{DAY}T04:10:00.000Z")],
                 "kiosk-1")
    for name in ("ana", "tuan", "vy"):
        web = client(app)
        sign_in(web, name)
        page = web.get(f"/console/entries?from={DAY}&to={DAY}&venue=Chợ Bến Thành").text
        assert "N. V. A. 1990" in page and "T. T. B. N. 1985" in page
        assert "Nguyễn" not in page and "Bích" not in page and "001090000001" not in page
    assert "<svg" in page and "10:00 – 1" in page and "11:00 – 1" in page  # 03:00 and 04:10 UTC, +07:00
    assert "N. V. A." not in web.get("/console/entries?from=2020-01-01&to=2020-01-01").text


def test_a_trace_by_post_shows_contacts_and_is_audited_with_its_query(city, caplog):
    store, app = city
    store.enroll("kiosk-1", ["Chợ Bến Thành"])
    store.ingest([entry(store), entry(store, name="LE HOANG LONG", born="1977", at=f"{DAY}T03:05:00.000Z",
                                      document="001077000002"),
                  entry(store, name="Phạm Minh Đức", born="1999", at=f"{DAY}T05:00:00.000Z")], "kiosk-1")
    web = client(app)
    sign_in(web, "tuan")
    form = {"by": "name", "name": "nguyen van an", "birth_date": "1990", "from": DAY, "to": DAY, "minutes": "15"}
    page = web.post("/console/trace", data={**form, "csrf": csrf_of(web.get("/console/trace").text)})
    assert page.status_code == 200 and "LE HOANG LONG" in page.text and "Phạm Minh Đức" not in page.text
    csv_text = web.post("/console/trace", data={**form, "view": "csv", "csrf": csrf_of(page.text)}).content.decode("utf-8-sig")
    rows = [line.split(",") for line in csv_text.strip().splitlines()]
    assert rows[0][0] == "contact_at" and len(rows) == 2 and rows[1][3] == "LE HOANG LONG" and rows[1][6] == "5"
    traces = app.state.console.records.events(actions=("trace",))
    assert len(traces) == 2 and traces[0].actor == "tuan"
    assert traces[0].detail["query"]["name"] == "nguyen van an" and traces[0].detail["identities_opened"] == 2
    assert all("nguyen" not in r.getMessage().lower() for r in caplog.records)


def test_an_admin_publishes_a_bundle_and_a_broken_one_is_refused_with_the_reason(city):
    store, app = city
    web = client(app)
    sign_in(web, "ana")
    token = csrf_of(web.get("/console/bundles").text)
    good = web.post("/console/bundles", data={"csrf": token, "kind": "rules"},
                    files={"file": ("rules.json", b'{"vaccination": {"min_days_after_last_dose": 14}}', "application/json")})
    assert good.status_code == 200 and "phiên bản 1" in good.text.lower()
    bad = web.post("/console/bundles", data={"csrf": token, "kind": "rules"},
                   files={"file": ("rules.json", b'{"mode": ', "application/json")})
    assert bad.status_code == 422 and "not valid JSON" in bad.text
    refused = web.post("/console/bundles", data={"csrf": token, "kind": "rules"},
                       files={"file": ("rules.json", b'{"vaccination": {"min_days_after_last_dose": "fourteen"}}')})
    assert refused.status_code == 422  # what a kiosk would refuse, refused here with the reason
    assert "kiosks would refuse it" in refused.text and "expected an integer" in refused.text
    assert store.bundle("rules") is not None
    events = app.state.console.records.events()
    assert [e.action for e in events[:3]] == ["publish-refused", "publish-refused", "publish"]
    assert events[2].actor == "ana" and events[2].detail["version"] == 1


def test_the_audit_log_cannot_be_rewritten(city):
    store, app = city
    records = app.state.console.records
    records.audit("ana", "sign-in", "127.0.0.1")
    statements = ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"]
    if store.engine.name == "postgresql":
        statements.append("TRUNCATE audit")
    for sql in statements:
        with pytest.raises(Exception, match="append-only"):
            store.engine.execute(sql)
    assert [e.actor for e in records.events()] == ["ana"]


def test_the_audit_page_filters_by_what_and_who_and_its_pages_keep_the_filter(city):
    import re

    _, app = city
    records = app.state.console.records
    for i in range(120):  # tuan: 60 events, 40 of them traces; vy: 60
        records.audit("tuan" if i % 2 else "vy", "trace" if i % 3 else "sign-in-failed", "10.0.0.1")
    web = client(app)
    sign_in(web, "ana")
    rows = lambda html: re.findall(r'<tr class="action-([a-z-]+)"><td>\d+</td><td>[^<]*</td><td>([^<]*)</td>', html)  # noqa: E731
    older = lambda html: re.search(r'href="/console/audit\?([^"]+)"', html)  # noqa: E731
    failed = web.get("/console/audit", params={"action": "sign-in-failed"}).text
    assert len(rows(failed)) == 40 and {action for action, _ in rows(failed)} == {"sign-in-failed"}
    assert 'value="sign-in-failed" selected' in failed and older(failed) is None
    both = web.get("/console/audit", params={"action": "trace", "who": "tuan"}).text
    assert len(rows(both)) == 40 and set(rows(both)) == {("trace", "tuan")} and older(both) is None
    tuan = web.get("/console/audit", params={"who": "tuan"}).text
    assert len(rows(tuan)) == 50 and {who for _, who in rows(tuan)} == {"tuan"}
    link = older(tuan)
    assert link and "who=tuan" in link.group(1)
    rest = web.get("/console/audit?" + link.group(1).replace("&amp;", "&")).text
    assert len(rows(rest)) == 10 and {who for _, who in rows(rest)} == {"tuan"}
    assert web.get("/console/audit", params={"action": "drop table"}).status_code == 200  # unknown: no filter


def test_accounts_refuse_bad_names_roles_and_short_passwords(city):
    records = city[1].state.console.records
    for name, role, password in (("", "admin", PASSWORD), ("a b", "admin", PASSWORD), ("x", "root", PASSWORD),
                                 ("x", "admin", "short")):
        with pytest.raises(AccountError):
            records.add_user(name, role, password)
    records.add_user("x", "admin", PASSWORD)
    with pytest.raises(AccountError, match="exists"):
        records.add_user("x", "viewer", PASSWORD)
    assert records.authenticate("x", PASSWORD).role == "admin" and records.authenticate("x", "nope") is None
    assert records.authenticate("nobody", PASSWORD) is None


def test_the_command_line_manages_accounts_and_prints_the_audit_log(tmp_path, capsys, city_db):
    data = str(tmp_path / "city")
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\n")
    assert city_main(["user", "add", "lan", "--role", "tracer", "--password-file", str(password), "--data", data]) == 0
    assert city_main(["user", "add", "lan", "--role", "tracer", "--password-file", str(password), "--data", data]) == 2
    assert city_main(["user", "disable", "lan", "--data", data]) == 0
    assert city_main(["user", "passwd", "nobody", "--password-file", str(password), "--data", data]) == 2
    capsys.readouterr()
    assert city_main(["user", "list", "--data", data]) == 0
    assert capsys.readouterr().out.split("\t")[:3] == ["lan", "tracer", "disabled"]
    assert city_main(["trace", "--data", data, "--document", "079123456789"]) == 0
    assert city_main(["entries", "--data", data]) == 0  # sealed: nothing to record
    assert city_main(["entries", "--data", data, "--identities"]) == 0
    capsys.readouterr()
    assert city_main(["audit", "--data", data, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in events] == ["user-add", "user-disable", "trace", "identities"]
    assert events[3]["detail"]["identities_opened"] == 0
    assert events[2]["detail"]["query"]["document"] == "079123456789" and events[2]["actor"].startswith("cli:")
    assert city_main(["audit", "--data", data, "--json", "--action", "trace"]) == 0
    assert [json.loads(line)["action"] for line in capsys.readouterr().out.splitlines()] == ["trace"]
    assert city_main(["audit", "--data", data, "--json", "--who", "nobody"]) == 0
    assert capsys.readouterr().out == ""


def test_every_template_string_has_its_vietnamese():
    import re

    templates = (here().parent / "city" / "console" / "templates").glob("*.html")
    used = set()
    for path in templates:
        text = path.read_text()
        used |= set(re.findall(r't\("([^"]+)"\)', text)) | set(re.findall(r"t\('([^']+)'\)", text))
        used |= set(re.findall(r'\("[a-z]+", "([A-Z][A-Za-z ]+)"\)', text))
    missing = sorted(s for s in used if s not in messages.VI)
    assert not missing, missing


def test_vietnamese_dictionary_order_and_search_without_diacritics():
    names = ["Đặng Thu Hà", "Dương Văn Bình", "Ân", "An", "Ăn", "Bảo", "ba", "Zô", "Ơn", "Ôn", "On", "Ưng", "Uyên"]
    assert sorted(names, key=sort_key) == ["An", "Ăn", "Ân", "ba", "Bảo", "Dương Văn Bình",
                                           "Đặng Thu Hà", "On", "Ôn", "Ơn", "Uyên", "Ưng", "Zô"]
    assert sorted(["má", "mà", "ma", "mạ", "mả", "mã"], key=sort_key) == ["ma", "mà", "mả", "mã", "má", "mạ"]
    assert matches("nguyen van an", "Nguyễn Văn  An") and matches("DANG", "Đặng Thu Hà")
    assert not matches("nguyen van anh", "Nguyễn Văn An")


def test_a_page_at_work_never_holds_up_the_kiosks_uploads(tmp_path, monkeypatch):
    """A page's work (a trace, the fleet's counts, a password's hash) runs in the threadpool: here
    the fleet page is held half-way, and the same server still answers the kiosks' API."""
    import threading

    import httpx

    from city.console import listing
    from city.console.records import ConsoleRecords
    from city.embedded import start_server

    entered, release = threading.Event(), threading.Event()
    real = listing.kiosk_venues

    def held(store):
        entered.set()
        release.wait(60)
        return real(store)

    monkeypatch.setattr(listing, "kiosk_venues", held)
    with start_server(tmp_path / "city") as server:
        add_accounts(ConsoleRecords(server.store.engine))
        answers = []
        with httpx.Client(base_url=server.url, timeout=90) as web:
            assert sign_in(web, "vy").status_code == 303
            page = threading.Thread(target=lambda: answers.append(web.get("/console/kiosks")))
            page.start()
            try:
                assert entered.wait(30), "the fleet page never started"
                health = httpx.get(server.url + "/v1/health", timeout=10)  # times out if the loop is held
                assert health.status_code == 200 and health.json()["ok"]
                assert not answers  # the page is still at work
            finally:
                release.set()
                page.join(60)
        assert answers and answers[0].status_code == 200
