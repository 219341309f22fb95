"""A copied SD card must not tell who came in (issue 14, item 2).

The re-entry guard has to recognise a person (name and birth year) for a few minutes. A name and
a birth year are few enough to try them all, so a keyed hash of them on the disk, with its key
beside it, is as good as the name. These tests play the attacker with a copy of the state
folder: every file (journal.db, its -wal and -shm, anything else) is searched for the guard's
values, computed with every file as the candidate key, and for the values the running guard
really holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import random
import secrets
import shutil
import sqlite3
import unicodedata

from drivers.camera import Camera, ReplaySource
from kiosk import formats
from kiosk.app import LEGACY_SECRET, build_kiosk
from kiosk.formats.base import VerifyContext
from kiosk.journal import MIGRATIONS, Journal
from kiosk.demo.visitors import Visitor, cccd_text, frames_for, make_person, pc_covid_text

TODAY = dt.date.today()


def disk_bytes(folder) -> bytes:
    """Everything the state folder holds, as one would image it (journal.db, -wal, -shm, ...)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def attacker_keys(name: str, birth_year: str, secret: bytes) -> list[bytes]:
    """What the guard stored for a person under a given key, in every form it could be written."""
    text = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    text = " ".join("".join(c for c in text if not unicodedata.combining(c)).upper().split())
    digest = hmac.new(secret, f"{text}|{birth_year}".encode(), hashlib.sha256).digest()
    return [digest.hex()[:32].encode(), digest.hex()[:32].upper().encode(), digest[:16]]


def people(n: int, seed: int) -> list[Visitor]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            out.append(Visitor("cccd", cccd_text(make_person(rng, TODAY), rng, TODAY), "pass"))
        else:
            out.append(Visitor("pc-covid", pc_covid_text(make_person(rng, TODAY), rng), "pass"))
    return out


def identity_of(text: str):
    credential = formats.verify(text, VerifyContext(now=dt.datetime.now(dt.timezone.utc), trust=None))
    assert credential.identity is not None, credential
    return credential.identity


def test_a_copied_state_folder_does_not_tell_who_came_in(make_config, mock_factory):
    config = make_config(policy={"reentry_minutes": 10.0})
    state = config.journal_path.parent
    visitors = people(12, seed=3)
    again = dataclasses.replace(visitors[0], expect="fail", gap_before=80)  # back at once: refused
    frames = frames_for([*visitors, again], gap_frames=3)
    kiosk = build_kiosk(config, camera=Camera(ReplaySource(frames=frames, realtime=False)),
                        pin_factory=mock_factory)
    try:
        kiosk.run(stop_at_end=True)
        with sqlite3.connect(config.journal_path) as db:
            rows = db.execute("SELECT decision, reason FROM entries ORDER BY seq").fetchall()
        assert [d for d, _ in rows] == ["pass"] * len(visitors) + ["fail"]
        assert rows[-1][1] == "already_entered"  # the guard works

        # the attacker images the card while the kiosk runs (the -wal and -shm files exist now)
        assert config.journal_path.with_name(config.journal_path.name + "-wal").exists()
        image = disk_bytes(state)
        candidates = [p.read_bytes() for p in state.rglob("*") if p.is_file() and p.stat().st_size <= 4096]
        candidates += [c.strip() for c in candidates]
        for visitor in visitors:
            identity = identity_of(visitor.text)
            for secret in candidates:
                for value in attacker_keys(identity.name, identity.birth_date[:4], secret):
                    assert value not in image, f"the state folder tells that this {visitor.label} visitor came in"

        # nor are the values the guard really holds, nor its key, anywhere on the disk
        held = list(kiosk.reentry._admitted)
        assert len(held) == len(visitors)
        for key in held:
            assert key.encode() not in image and bytes.fromhex(key) not in image
        assert kiosk.reentry._secret not in image
        assert kiosk.journal.db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        kiosk.close()
    image = disk_bytes(state)
    for key in held:
        assert key.encode() not in image and bytes.fromhex(key) not in image


def test_a_restart_forgets_the_guard(make_config, mock_factory):
    """Documented (README, config.example.toml): the guard is in memory, so a restart forgets it."""
    config = make_config(policy={"reentry_minutes": 10.0})
    visitor = people(1, seed=4)
    decisions = []
    for _ in range(2):  # two runs of the kiosk, the same person at each
        kiosk = build_kiosk(config, camera=Camera(ReplaySource(frames=frames_for(visitor), realtime=False)),
                            pin_factory=mock_factory, on_outcome=lambda o: decisions.append(o.decision.reason))
        kiosk.run(stop_at_end=True)
        kiosk.close()
    assert decisions == ["checked_in", "checked_in"]


def test_an_old_journal_loses_its_keys_and_the_old_secret_file(tmp_path, monkeypatch, make_config, mock_factory):
    """A kiosk upgraded from a version that stored re-entry keys: the migration drops the column,
    rewrites the file and empties the log, so not one old key is left in any byte; the old key
    file is overwritten and deleted."""
    import kiosk.journal as journal_mod

    old_state = tmp_path / "old"
    old_state.mkdir()
    (old_state / LEGACY_SECRET).write_bytes(secrets.token_bytes(32))
    keys = [secrets.token_hex(16) for _ in range(300)]
    monkeypatch.setattr(journal_mod, "MIGRATIONS", MIGRATIONS[:2])  # the schema before the fix
    old = Journal(old_state / "journal.db")
    for i, key in enumerate(keys):
        entry = old.record(kiosk_id="k", venue="v", at=dt.datetime.now(dt.timezone.utc), clock_synced=True,
                           format="cccd", status="valid", decision="pass", reason="checked_in", kind="identity")
        old.db.execute("UPDATE entries SET person_key = ? WHERE id = ?", [key, entry.id])
        if i == 150:
            old.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # half in the database file, half in the log
    old.db.execute("UPDATE entries SET person_key = NULL WHERE seq <= 100")  # "forgotten" the old way
    state = tmp_path / "state"
    shutil.copytree(old_state, state)  # the card as a power cut leaves it: journal.db, -wal, -shm
    old.close()
    monkeypatch.undo()
    before = disk_bytes(state)
    assert (state / "journal.db-wal").exists()
    assert sum(k.encode() in before for k in keys) == len(keys)  # every key readable, "forgotten" ones too

    config = make_config(kiosk={"state_dir": str(state)})
    kiosk = build_kiosk(config, camera=Camera(ReplaySource(frames=frames_for(people(1, 5)), realtime=False)),
                        pin_factory=mock_factory)
    try:
        assert "003_drop_person_keys" in kiosk.journal.applied_migrations()
        columns = [r[1] for r in kiosk.journal.db.execute("PRAGMA table_info(entries)")]
        assert "person_key" not in columns
        kiosk.run(stop_at_end=True)
        assert kiosk.journal.counts()["total"] == len(keys) + 1  # nothing else lost
        after = disk_bytes(state)
        assert [k for k in keys if k.encode() in after] == []
    finally:
        kiosk.close()
    assert not (state / LEGACY_SECRET).exists()
    after = disk_bytes(state)
    assert [k for k in keys if k.encode() in after] == []
