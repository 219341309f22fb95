"""The city console in a real browser: Debian's headless Chromium (driven by Playwright, no
browser download) against a real `kiosk-city serve`, fed by a real `kiosk sync`.

One server and one browser for the module; each test has its own browser context (cookies).
Every page a test opens is also checked for the keyboard: Tab reaches every control, and the
accessibility tree names every control (no unlabelled input).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from city.cli import main as city_main
from city.enroll import enroll_kiosk
from city.store import CityStore
from console_helpers import BROWSER_ARGS, CHROMIUM, PASSWORD, focusable, tab_through, unlabelled_controls
from serving_helpers import free_port, serve, wait_up
from sync_helpers import NAMES, fill_journal, kiosk, load, write_config

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM),
                                reason="Debian's chromium is not installed (install.sh --dev installs it)")

VENUE = "Chợ Bến Thành"
ACCOUNTS = {"ana": "admin", "tuan": "tracer", "vy": "viewer", "khoa": "viewer"}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A `kiosk-city serve` with accounts, one simulated kiosk whose entries came by `kiosk sync`."""
    root = tmp_path_factory.mktemp("console")
    data = root / "city"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (root / "pw").write_text(PASSWORD + "\n")
    for name, role in ACCOUNTS.items():
        assert city_main(["user", "add", name, "--role", role, "--password-file", str(root / "pw"),
                          "--data", str(data)]) == 0
    with CityStore(data) as store:
        enrollment = enroll_kiosk(store, "gate-01", url, state_dir=root / "kiosk", venue=VENUE, simulated=True)
    config_path = write_config(enrollment, root / "kiosk.toml", heartbeat_seconds=10, interval_seconds=1)
    config = load(config_path)
    # the traced visitor (#1) at T, two contacts 4 and 9 minutes later, one an hour later (no contact)
    start = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    for index, minutes in ((1, 0), (2, 4), (3, 9), (4, 60)):
        fill_journal(config, 1, start=index, at=start + dt.timedelta(minutes=minutes))
    log_path = root / "serve.log"
    with open(log_path, "wb") as log:
        server = serve(data, port, log_level="debug", stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, server, log_path)
        synced = kiosk("sync", "--once", "--config", str(config_path))
        assert synced.returncode == 0, synced.stderr
        day = start.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()  # the city's day of the visits
        yield {"url": url, "config": config_path, "log": log_path, "root": root, "data": data, "day": day}
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, city):
    context = browser.new_context(base_url=city["url"], viewport={"width": 1366, "height": 768},
                                  accept_downloads=True)
    yield context.new_page()
    context.close()


def keyboard_ok(page) -> None:
    """Every control reachable with Tab, and named in the accessibility tree."""
    assert unlabelled_controls(page) == [], page.url
    reached = tab_through(page)
    missing = focusable(page) - reached
    assert not missing, (page.url, missing)


def sign_in(page, name: str, password: str = PASSWORD) -> None:
    page.goto("/console/")
    page.get_by_label("Tên tài khoản").fill(name)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_label("Mật khẩu").press("Enter")  # the keyboard, as a person would
    page.wait_for_load_state()


def test_sign_in_a_wrong_password_throttling_and_the_language_switch(page):
    page.goto("/console/")
    keyboard_ok(page)
    sign_in(page, "vy", "not the password")
    assert page.get_by_role("alert").inner_text() == "Sai tên tài khoản hoặc mật khẩu."
    for _ in range(5):
        sign_in(page, "khoa", "not the password")
    sign_in(page, "khoa")  # the right password, too late
    assert "Đăng nhập sai quá nhiều lần. Hãy thử lại sau 15 phút." in page.get_by_role("alert").inner_text()
    sign_in(page, "vy")
    assert page.url.endswith("/console/kiosks")
    row = page.get_by_role("row").filter(has_text="gate-01")
    cells = row.inner_text().split("\t")
    # heard from a moment ago, queue empty, but no trust list published yet: red, and it says why
    assert cells[:3] == ["Sự cố", "gate-01", VENUE] and cells[4] == "0" and cells[-1] == "không có"
    keyboard_ok(page)
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Kiosks"
    page.get_by_role("link", name="Entries").click()  # the choice is remembered
    assert page.get_by_role("heading", level=1).inner_text() == "Entries"


def test_a_viewer_is_refused_the_trace_page_and_shown_no_identity(page, city):
    sign_in(page, "vy")
    assert page.get_by_role("link", name="Truy vết").count() == 0
    response = page.goto("/console/trace")
    assert response.status == 403 and "Không được phép" in page.content()
    page.goto("/console/entries")
    page.get_by_label("Từ").fill(city["day"])
    page.get_by_label("Đến").fill(city["day"])
    page.get_by_label("Địa điểm").select_option(VENUE)
    page.get_by_role("button", name="Xem").click()
    text = page.locator("main").inner_text()
    assert "N. V. A." in text or "T. T. B. N." in text
    for number in range(1, 5):
        assert f"{number:05d}" not in text.replace(" 0.", "")  # no name: names end in their number
    for name in NAMES:
        assert name.split()[0] not in text
    assert page.locator("svg[role=img]").count() == 1
    keyboard_ok(page)


def test_a_tracer_sees_the_contacts_the_csv_matches_and_the_audit_log_lists_it(page, browser, city):
    sign_in(page, "tuan")
    page.get_by_role("link", name="Truy vết").click()
    keyboard_ok(page)
    page.get_by_label("Họ và tên").fill("tran thi bich ngoc 00001")  # no diacritics, any case
    page.get_by_label("Ngày sinh (YYYY, YYYY-MM hoặc YYYY-MM-DD)").fill("1951")
    page.get_by_role("button", name="Truy vết").click()
    assert page.url.endswith("/console/trace")  # POST: no identity in the URL
    visits = page.get_by_role("heading", name="Lượt đến: 1")
    assert visits.count() == 1
    table = page.locator("table.contacts tbody tr")
    shown = sorted((row.locator("td").nth(0).inner_text(), row.locator("td").nth(5).inner_text())
                   for row in table.all())
    assert shown == [("LE HOANG LONG 00002", "4"), ("Phạm Minh Đức 00003", "9")]
    keyboard_ok(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Tải danh sách tiếp xúc (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert sorted((r["name"], r["minutes_apart"]) for r in rows) == shown
    assert {r["venue"] for r in rows} == {VENUE}
    page.get_by_role("button", name="Bản để in").click()
    assert page.get_by_role("heading", name="Truy vết tiếp xúc").count() == 1
    log = city["log"].read_text()
    assert "POST /console/trace" in log and "00001" not in log and "bich" not in log.lower()

    admin = browser.new_context(base_url=city["url"]).new_page()
    sign_in(admin, "ana")
    admin.get_by_role("link", name="Nhật ký kiểm tra").click()
    trace_row = admin.locator("tr.action-trace").first
    cells = trace_row.locator("td").all_inner_texts()
    assert cells[2:4] == ["tuan", "truy vết"] and cells[5] == "3"  # who, what, identities opened
    assert "name: tran thi bich ngoc 00001" in cells[6] and "birth_date: 1951" in cells[6]
    keyboard_ok(admin)
    admin.context.close()


def test_an_admin_publishes_rules_that_the_running_kiosk_reports(page, city, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"vaccination": {"min_days_after_last_dose": 21}}))
    syncing = subprocess.Popen([sys.executable, "-m", "kiosk", "sync", "--config", str(city["config"])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sign_in(page, "ana")
        page.get_by_role("link", name="Gói dữ liệu").click()
        keyboard_ok(page)
        page.get_by_label("Gói dữ liệu").select_option("rules")
        page.get_by_label("Tệp JSON").set_input_files(str(rules))
        page.get_by_role("button", name="Kiểm tra và phát hành").click()
        status = page.get_by_role("status").inner_text()
        assert "Đã phát hành rules phiên bản 1" in status or "phiên bản 1" in status
        rules.write_text("{not json")
        page.get_by_label("Tệp JSON").set_input_files(str(rules))
        page.get_by_role("button", name="Kiểm tra và phát hành").click()
        assert "not valid JSON" in page.get_by_role("alert").inner_text()
        deadline = time.monotonic() + 40
        while True:  # the kiosk's next heartbeat (every 10 s) carries the version it now holds
            page.goto("/console/bundles")
            row = page.get_by_role("row").filter(has_text="gate-01")
            if row.locator("td").nth(2).inner_text() == "1":
                break
            assert time.monotonic() < deadline, row.inner_text()
            time.sleep(1)
    finally:
        syncing.terminate()
        syncing.wait(timeout=20)
