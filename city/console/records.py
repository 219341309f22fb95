"""The console's own records in the city's database: accounts, and the append-only audit log.

The audit log answers "who opened whose identity, when, and why" (13/2023/NĐ-CP): every sign-in
and failed sign-in, every trace (who, when, the query, how many identities it opened), every
publication and every account change, whether done through the console or ``kiosk-city``.
SQLite triggers refuse any UPDATE or DELETE on it, so not even a bug in this program can rewrite
history; only someone with the database file and a shell can.

Passwords are hashed with argon2id (argon2-cffi's defaults); a session names the account's
*generation* (a digest of its hash and state), so changing a password or disabling an account
ends its sessions at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from city.storage.migrations import Migration, register
from sync.wire import utc_iso

if TYPE_CHECKING:
    from city.storage.base import Engine

ROLES = ("admin", "tracer", "viewer")
MIN_PASSWORD = 10
MAX_NAME = 64

SQLITE = """
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_action ON audit(action, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS console_users (
    name text PRIMARY KEY,
    role text NOT NULL,
    password_hash text NOT NULL,
    disabled integer NOT NULL DEFAULT 0,
    created_at text NOT NULL,
    changed_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at text NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    address text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_action ON audit(action, seq);
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
DROP TRIGGER IF EXISTS audit_append_only ON audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""

register(Migration(4, "console accounts and audit log", SQLITE, POSTGRES))

# failed sign-ins by key (an account, an address: hashed), shared by every `serve` worker, so
# `--workers N` does not give a guesser N times the attempts; rows older than the window go
_FAILURES = """
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key {text} NOT NULL,
    at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_key ON sign_in_failures (key, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_at ON sign_in_failures (at);
"""
register(Migration(7, "console sign-in failures shared by the workers", _FAILURES.format(text="TEXT", real="REAL"),
                   _FAILURES.format(text="text", real="double precision")))

# what the audit log records; the console's audit page and `kiosk-city audit` name them so
ACTIONS = ("sign-in", "sign-in-failed", "sign-out", "trace", "identities", "publish", "publish-refused",
           "user-add", "user-disable", "user-enable", "user-passwd")

_hasher = PasswordHasher()


# verified against when the account does not exist, so a wrong name costs as long as a wrong password
@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the name is unknown (same time as a known one); made on
    first use, not at import: every `kiosk-city` command imports this module (a trace's start-up)."""
    return _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A refused account change (bad name, role or password; unknown account)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool
    created_at: str
    changed_at: str
    generation: str  # changes with the password and the disabled flag: sessions name it

    def can(self, page: str) -> bool:
        return page not in PAGE_ROLES or self.role in PAGE_ROLES[page]


# pages open to some roles only; every other page is open to every signed-in account
PAGE_ROLES = {"trace": ("tracer",), "bundles": ("admin",), "audit": ("admin",)}


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: str
    actor: str
    action: str
    address: str
    detail: dict

    def to_json(self) -> dict:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "address": self.address, "detail": self.detail}


def now_iso() -> str:
    return utc_iso(dt.datetime.now(dt.timezone.utc))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")


def cli_actor() -> str:
    """Who ran a ``kiosk-city`` command, for the audit log."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


class ConsoleRecords:
    """Accounts and the audit log, in the city's database (through its storage engine)."""

    def __init__(self, engine: "Engine"):
        self.engine = engine

    # ------------------------------------------------------------------ accounts
    def add_user(self, name: str, role: str, password: str) -> User:
        if not name or len(name) > MAX_NAME or not all(c.isalnum() or c in "._-@" for c in name):
            raise AccountError(f"an account name is 1 to {MAX_NAME} letters, digits or . _ - @")
        if role not in ROLES:
            raise AccountError(f"a role is one of {', '.join(ROLES)}")
        check_password(password)
        at = now_iso()
        with self.engine.transaction() as tx:
            if tx.query("SELECT 1 FROM console_users WHERE name = ?", [name]):
                raise AccountError(f"an account {name!r} exists already")
            tx.execute("INSERT INTO console_users (name, role, password_hash, created_at, changed_at) VALUES (?, ?, ?, ?, ?)",
                       [name, role, _hasher.hash(password), at, at])
        user = self.user(name)
        assert user is not None
        return user

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        self._change(name, "password_hash = ?", _hasher.hash(password))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._change(name, "disabled = ?", int(disabled))

    def _change(self, name: str, assignment: str, value: Any) -> None:
        changed = self.engine.execute(f"UPDATE console_users SET {assignment}, changed_at = ? WHERE name = ?",
                                      [value, now_iso(), name])
        if changed == 0:
            raise AccountError(f"no account {name!r}")

    def user(self, name: str) -> User | None:
        row = self._user_row(name)
        return _user(row) if row else None

    def users(self) -> list[User]:
        return [_user(row) for row in self.engine.query(f"SELECT {_USER_COLUMNS} FROM console_users ORDER BY name")]

    def authenticate(self, name: str, password: str) -> User | None:
        """The account, if enabled and the password is right; None otherwise (same time either way)."""
        row = self._user_row(name)
        try:
            _hasher.verify(row[2] if row else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row[3]:
            return None
        return _user(row)

    def _user_row(self, name: str) -> tuple | None:
        rows = self.engine.query(f"SELECT {_USER_COLUMNS} FROM console_users WHERE name = ?", [name])
        return rows[0] if rows else None

    # ------------------------------------------------------------------ sign-in failures
    def failures(self, key: str, since: float, limit: int) -> list[float]:
        """The latest ``limit`` failure times (UNIX seconds) of ``key`` after ``since``, newest first."""
        rows = self.engine.query(f"SELECT at FROM sign_in_failures WHERE key = ? AND at > ? ORDER BY at DESC "
                                 f"LIMIT {int(limit)}", [_failure_key(key), since])
        return [row[0] for row in rows]

    def add_failure(self, key: str, at: float, forget_before: float) -> None:
        """Record a failure of ``key``; forget every failure from before ``forget_before``."""
        with self.engine.transaction() as tx:
            tx.execute("DELETE FROM sign_in_failures WHERE at <= ?", [forget_before])
            tx.execute("INSERT INTO sign_in_failures (key, at) VALUES (?, ?)", [_failure_key(key), at])

    def clear_failures(self, key: str) -> None:
        self.engine.execute("DELETE FROM sign_in_failures WHERE key = ?", [_failure_key(key)])

    # ------------------------------------------------------------------ audit log
    def audit(self, actor: str, action: str, address: str = "", **detail: Any) -> None:
        """Append one event (committed before this returns)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        self.engine.execute("INSERT INTO audit (at, actor, action, address, detail) VALUES (?, ?, ?, ?, ?)",
                            [now_iso(), actor, action, address, json.dumps(detail, ensure_ascii=False, sort_keys=True)])

    def events(self, *, limit: int | None = None, before: int | None = None,
               actions: tuple[str, ...] = (), actor: str | None = None) -> list[AuditEvent]:
        """Events newest first; ``before`` a sequence number (paging); ``actions`` and ``actor``
        (the account, or the name typed at a failed sign-in) filters."""
        where, params = [], []
        if before is not None:
            where.append("seq < ?")
            params.append(before)
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if actions:
            where.append(f"action IN ({','.join('?' * len(actions))})")
            params.extend(actions)
        sql = "SELECT seq, at, actor, action, address, detail FROM audit"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.engine.query(sql, params)
        return [AuditEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]


_USER_COLUMNS = "name, role, password_hash, disabled, created_at, changed_at"


def _failure_key(key: str) -> str:
    """A throttle's key as stored: hashed (the table need not say who tried, from where)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _user(row: tuple) -> User:
    generation = hashlib.sha256(f"{row[2]}|{row[3]}|{row[1]}".encode()).hexdigest()[:16]
    return User(name=row[0], role=row[1], disabled=bool(row[3]), created_at=row[4], changed_at=row[5],
                generation=generation)
