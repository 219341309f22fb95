"""Screenshots of every console page at 1366x768, in Vietnamese and English (for the README).

    .venv/bin/python docs/screenshots/take.py          # writes docs/screenshots/console-*.png

A made-up city in a temporary folder: eight kiosks at five venues (healthy, to watch, in
trouble), a day of entries, accounts of each role, a published rules bundle and a trace; then
Debian's headless Chromium (as the tests drive it) signs in and photographs each page.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from console_helpers import PASSWORD, chromium  # noqa: E402

from city.embedded import start_server  # noqa: E402
from city.console.records import ConsoleRecords  # noqa: E402
from city.publishing import publish  # noqa: E402
from sync import seal  # noqa: E402
from sync.wire import utc_iso  # noqa: E402

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Hoàng", "Thu", "Ngọc", "Đức", "Thanh"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Khánh", "Linh", "Long", "Mai", "Nam", "Phúc", "Quân",
         "Sơn", "Trang", "Tuấn", "Vy", "Yến"]
KIOSKS = {  # id -> (venue, how its last heartbeat looks)
    "ben-thanh-01": ("Chợ Bến Thành", "ok"), "ben-thanh-02": ("Chợ Bến Thành", "ok"),
    "mien-dong-01": ("Bến xe Miền Đông", "disk"), "mien-dong-02": ("Bến xe Miền Đông", "ok"),
    "cho-ray-01": ("Bệnh viện Chợ Rẫy", "silent"), "nha-van-hoa-01": ("Nhà văn hóa Thanh Niên", "clock"),
    "dam-sen-01": ("Công viên Đầm Sen", "ok"), "dam-sen-02": ("Công viên Đầm Sen", "queue"),
}


def heartbeat(kiosk_id: str, state: str, now: dt.datetime) -> dict:
    beat = {"kiosk_id": kiosk_id, "at": utc_iso(now), "version": "0.1.0", "queue_depth": 0,
            "oldest_undelivered": None, "quarantined": 0, "total": 1200, "clock": {"synchronised": True},
            "disk": {"used_percent": 41.0, "alarm": False}, "temperature_c": 52.0,
            "bundles": {"trust-list": {"version": 3, "age_seconds": 3600}, "revocations": {"version": 2},
                        "rules": {"version": 1}}}
    if state == "disk":
        beat["disk"] = {"used_percent": 93.5, "alarm": True}
    if state == "clock":
        beat["clock"] = {"synchronised": False}
        beat["temperature_c"] = 73.0
    if state == "queue":
        beat["queue_depth"] = 412
        beat["oldest_undelivered"] = utc_iso(now - dt.timedelta(hours=2))
    return beat


def build(server, now: dt.datetime) -> str:
    store = server.store
    rng = random.Random(11)
    for kiosk_id, (venue, _) in KIOSKS.items():
        store.enroll(kiosk_id, [venue])
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=10)
    traced = {"name": "Trần Thị Bích Ngọc", "birth_date": "1987-03-14", "document": "079187004512"}
    for kiosk_id, (venue, _) in KIOSKS.items():
        batch = []
        for _ in range(rng.randint(40, 90)):
            at = start + dt.timedelta(minutes=rng.gauss(300, 140) % 600)
            person = {"name": f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                      "birth_date": f"{rng.randint(1950, 2008)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                      "document": f"0{rng.randint(10, 99)}{rng.randint(10**8, 10**9 - 1)}"}
            batch.append(entry(store, kiosk_id, venue, at, person, rng))
        if kiosk_id == "ben-thanh-01":
            batch.append(entry(store, kiosk_id, venue, start + dt.timedelta(hours=5), traced, rng, decision="pass"))
        store.ingest(batch, kiosk_id)
        state = KIOSKS[kiosk_id][1]
        if state != "silent":
            store.record_heartbeat(kiosk_id, heartbeat(kiosk_id, state, now))
    records = ConsoleRecords(store.engine)
    for name, role in (("lan", "admin"), ("minh", "tracer"), ("hoa", "viewer")):
        records.add_user(name, role, PASSWORD)
        records.audit("cli:root", "user-add", name=name, role=role)
    publish(store, "rules", {"vaccination": {"min_days_after_last_dose": 14}}, actor="lan", records=records)
    publish(store, "rules", {"vaccination": {"min_days_after_last_dose": 14, "max_days_after_last_dose": 270}},
            actor="lan", records=records)
    return (start + dt.timedelta(hours=5)).date().isoformat()


def entry(store, kiosk_id, venue, at, person, rng, decision=None) -> dict:
    decision = decision or ("pass" if rng.random() > 0.08 else "fail")
    sealed = seal.seal(json.dumps(person, ensure_ascii=False).encode(), store.keys.seal_public)
    return {"id": str(uuid.uuid4()), "kiosk_id": kiosk_id, "venue": venue, "at": utc_iso(at), "clock_synced": True,
            "format": rng.choice(["pc-covid", "pc-covid", "cccd", "eu-dcc"]),
            "status": "valid" if decision == "pass" else "expired", "decision": decision,
            "reason": "checked_in" if decision == "pass" else "expired", "kind": "identity", "flags": [],
            "identity": base64.b64encode(sealed).decode(), "frame_age_ms": 40}


def main() -> int:
    now = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory() as folder, start_server(Path(folder) / "city") as server, chromium() as browser:
        day = build(server, now)
        for lang in ("vi", "en"):
            pages = {}
            for account, shots in (("minh", ("trace",)), ("lan", ("kiosks", "entries", "bundles", "audit"))):
                page = browser.new_page()
                page.goto(f"{server.url}/console/lang/{lang}?next=/console/")
                if not pages:
                    page.screenshot(path=HERE / f"console-signin-{lang}.png")
                    pages["signin"] = True
                page.fill("#name", account)
                page.fill("#password", PASSWORD)
                page.press("#password", "Enter")
                page.wait_for_load_state()
                for shot in shots:
                    if shot == "trace":
                        page.goto(f"{server.url}/console/trace")
                        page.fill("#name", "tran thi bich ngoc")
                        page.fill("#birth_date", "1987")
                        page.fill("#minutes", "30")
                        page.click("button[value=page]")
                        page.wait_for_load_state()
                    elif shot == "entries":
                        page.goto(f"{server.url}/console/entries?from={day}&to={day}&venue=Chợ Bến Thành")
                    else:
                        page.goto(f"{server.url}/console/{shot}")
                    page.screenshot(path=HERE / f"console-{shot}-{lang}.png")
                page.close()
                browser.clear_cookies()
                page = browser.new_page()
                page.goto(f"{server.url}/console/lang/{lang}?next=/console/")
                page.close()
    print("\n".join(sorted(str(p.relative_to(HERE.parents[1])) for p in HERE.glob("console-*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
