"""``kiosk-city``: the reference city server and its admin commands.

    kiosk-city serve   --data DIR --listen HOST:PORT [--tls-cert PEM --tls-key PEM] [--workers N]
                       [--retention-days N] [--daily-quota N] [--client-timeout SECONDS]
    kiosk-city migrate --data DIR
    kiosk-city enroll  KIOSK_ID --data DIR --url URL [--state DIR] [--simulated] [--venue NAME ...]
    kiosk-city entries --data DIR [--json] [--identities] [--kiosk ID] [--venue V] [--from D] [--to D]
    kiosk-city publish --data DIR [--trust-list FILE] [--revocations FILE] [--rules FILE]
    kiosk-city trace   --data DIR (--entry ID | --document NO | --name NAME [--birth-date D])
                       [--from DATE] [--to DATE] [--minutes N] [--json]
    kiosk-city import  FILE --data DIR [--receipt OUT] [--allow-unknown-kiosk] [--retention-days N]
    kiosk-city kiosks  --data DIR [--json]
    kiosk-city user    add NAME --role admin|tracer|viewer [--password-file F] --data DIR
    kiosk-city user    list | disable NAME | enable NAME | passwd NAME [--password-file F]  --data DIR
    kiosk-city audit   --data DIR [--json] [--limit N] [--action ACTION] [--who NAME]

Every command takes ``--db postgresql://...`` (or ``$KIOSK_CITY_DB``) to keep the database in
PostgreSQL instead of ``DIR/city.db``; the keys stay in ``DIR``. Exit status: 0 success, 1 a
failed operation, 2 bad usage. Errors are one line ``kiosk-city: error: ...`` on stderr. The
data folder holds the city's private keys: keep it on the city's machine, readable by the
server's user only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from sync.printable import json_line, shown

log = logging.getLogger("kiosk.city")

DB_ENV = "KIOSK_CITY_DB"
DEFAULT_RETENTION_DAYS = 21
MASKED_DOCUMENTS = ("--document finds only document numbers read in full: PC-Covid codes show a masked "
                    "number, so find those visitors by --name and --birth-date")


class UsageError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kiosk-city", description="The reference city server and its admin commands.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="log debug messages; show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    def data(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", required=True, type=Path, metavar="DIR",
                       help="the city's data folder (keys, and the SQLite database unless --db; made on first use)")
        p.add_argument("--db", metavar="URL", default=os.environ.get(DB_ENV) or None,
                       help=f"a PostgreSQL database (postgresql://...) instead of DIR/city.db (default ${DB_ENV})")

    def retention(p: argparse.ArgumentParser) -> None:
        p.add_argument("--retention-days", type=float, default=DEFAULT_RETENTION_DAYS, metavar="N",
                       help=f"keep entries this many days, counted from UTC midnight; older ones are removed, "
                            f"and acknowledged but not kept when they arrive late (default "
                            f"{DEFAULT_RETENTION_DAYS}; 0 keeps everything)")

    def span(p: argparse.ArgumentParser, since_default: str, until_default: str) -> None:
        p.add_argument("--from", dest="since", metavar="DATE", help=f"first day (or instant) ({since_default})")
        p.add_argument("--to", dest="until", metavar="DATE", help=f"last day (or instant) ({until_default})")

    p = sub.add_parser("serve", help="serve the sync API")
    data(p)
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8443), metavar="HOST:PORT",
                   help="address to listen on (default 127.0.0.1:8443)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--time-zone", default="Asia/Ho_Chi_Minh", metavar="ZONE",
                   help="the city's time zone: the console shows times and reads dates in it (default Asia/Ho_Chi_Minh)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1); each has its own database connections")
    p.add_argument("--daily-quota", type=int, default=None, metavar="N",
                   help="entries one kiosk may have stored per UTC day; then 429 until midnight "
                        "(default 100000; 0: no quota)")
    p.add_argument("--client-timeout", type=float, default=None, metavar="SECONDS",
                   help="time a client has to send a request's head, and the longest pause "
                        "inside a body, before its connection is closed (default 10)")
    retention(p)

    p = sub.add_parser("migrate", help="upgrade the database to this version's schema (serve does it too)")
    data(p)

    p = sub.add_parser("enroll", help="register a kiosk; print its complete config (TOML)")
    p.add_argument("kiosk_id", metavar="KIOSK_ID")
    data(p)
    p.add_argument("--url", required=True, help="the server's URL as the kiosk will reach it")
    p.add_argument("--state", metavar="DIR", help="the kiosk's state folder (made; the token is written there)")
    p.add_argument("--simulated", action="store_true", help="simulated hardware: replay camera, mock pins, no screen")
    p.add_argument("--venue", action="append", metavar="NAME",
                   help="a venue the kiosk may record entries for; repeat for several (the first is "
                        "written into its config; default: the kiosk id). Entries for others are refused")
    p.add_argument("--token-file", metavar="FILE", help="where to write the kiosk's token (mode 0600)")
    p.add_argument("--ca-file", metavar="PEM", help="the CA the kiosk should pin for this server")

    p = sub.add_parser("entries", help="received entries (identities stay sealed unless --identities)")
    data(p)
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--identities", action="store_true", help="open and show each visitor's identity")
    p.add_argument("--kiosk", metavar="ID", help="only this kiosk's entries")
    p.add_argument("--venue", help="only entries at this venue")
    span(p, "default: the first", "default: the last")

    p = sub.add_parser("publish", help="sign and serve the trust list, revocation list or rules")
    data(p)
    p.add_argument("--trust-list", metavar="FILE", help="JSON trust list (signing certificates)")
    p.add_argument("--revocations", metavar="FILE", help="JSON revocation list")
    p.add_argument("--rules", metavar="FILE", help="JSON rules")

    p = sub.add_parser("trace", help="who was at the same venue as a person, within ± N minutes",
                       epilog=MASKED_DOCUMENTS + ".")
    data(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--entry", metavar="ID", help="the person of this entry")
    who.add_argument("--document", metavar="NUMBER",
                     help="a document number; finds only numbers read in full (PC-Covid masks them)")
    who.add_argument("--name", help="a name (diacritics, case and spacing ignored)")
    p.add_argument("--birth-date", default="", metavar="DATE", help="with --name: YYYY, YYYY-MM or YYYY-MM-DD")
    span(p, "default: 14 days ago", "default: today")
    p.add_argument("--minutes", type=float, default=15.0, help="± minutes around each visit (default 15)")
    p.add_argument("--json", action="store_true", help="one JSON object a line per contact")

    p = sub.add_parser("import", help="store entries carried by hand (kiosk export); write a signed receipt")
    p.add_argument("file", metavar="FILE")
    data(p)
    p.add_argument("--receipt", metavar="OUT", help="where to write the receipt (default FILE.receipt.json)")
    p.add_argument("--allow-unknown-kiosk", action="store_true", help="accept an export from a kiosk not enrolled here")
    retention(p)

    p = sub.add_parser("kiosks", help="enrolled kiosks, last contact and last heartbeat")
    data(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("user", help="console accounts: add, list, disable, enable, passwd")
    users = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    u = users.add_parser("add", help="add an account (asks for the password unless --password-file)")
    u.add_argument("name", metavar="NAME")
    u.add_argument("--role", required=True, choices=("admin", "tracer", "viewer"),
                   help="admin: bundles and the audit log; tracer: the trace page; viewer: kiosks and masked entries")
    u.add_argument("--password-file", metavar="F", help="read the password from the first line of this file")
    data(u)
    u = users.add_parser("list", help="every account, its role and state")
    data(u)
    for action, text in (("disable", "stop an account signing in (its sessions end at once)"),
                         ("enable", "let a disabled account sign in again")):
        u = users.add_parser(action, help=text)
        u.add_argument("name", metavar="NAME")
        data(u)
    u = users.add_parser("passwd", help="set an account's password (its sessions end at once)")
    u.add_argument("name", metavar="NAME")
    u.add_argument("--password-file", metavar="F", help="read the password from the first line of this file")
    data(u)

    from city.console.records import ACTIONS  # the store imports it anyway (its tables' migrations)

    p = sub.add_parser("audit", help="the audit log: sign-ins, traces, publications, account changes")
    data(p)
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--limit", type=int, metavar="N", help="only the N newest events")
    p.add_argument("--action", choices=ACTIONS, help="only events of this kind")
    p.add_argument("--who", metavar="NAME", help="only events of this account (or name typed at a failed sign-in)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return int(COMMANDS[args.command](args) or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        _error(exc, debug)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for the admin
        _error(exc, debug)
        return 1


def _error(exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print("kiosk-city: error: " + shown(" ".join((str(exc) or type(exc).__name__).split())), file=sys.stderr)


def _store(args, *, migrate: bool | str = "auto"):
    from city.store import CityStore, SchemaOutdated

    retention = getattr(args, "retention_days", None)
    if retention is not None and retention < 0:
        raise UsageError("--retention-days must not be negative")
    try:
        return CityStore(args.data, args.db, migrate=migrate, retention_days=retention or None)
    except SchemaOutdated as exc:
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------- commands
def cmd_serve(args) -> int:
    import uvicorn

    from city.app import DAILY_QUOTA, SERVE_ENV
    from city.serving import CLIENT_TIMEOUT, run_workers, server_options

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if (args.daily_quota or 0) < 0 or (args.client_timeout is not None and args.client_timeout <= 0):
        raise UsageError("--daily-quota must not be negative and --client-timeout must be positive")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(args.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--time-zone: unknown time zone {args.time_zone!r}") from None
    store = _store(args, migrate=True)  # pending migrations, once, before any worker starts
    host, port = args.listen
    log.info("city data in %s (%s); seal key %s, bundle key %s", args.data, store.engine.name,
             store.keys.seal_public, store.keys.bundle_public)
    store.close()
    # each worker process builds its own app (and database connections) from these
    os.environ[SERVE_ENV] = json.dumps({"data": str(args.data), "db": args.db,
                                        "retention_days": args.retention_days or None,
                                        "daily_quota": DAILY_QUOTA if args.daily_quota is None else args.daily_quota,
                                        "console": {"time_zone": args.time_zone}})
    scheme = "https" if args.tls_cert else "http"
    log.info("the console: %s://%s:%d/console/", scheme, f"[{host}]" if ":" in host else host, port)
    options = dict(
        factory=True, host=host, port=port, workers=args.workers,
        log_level=args.log_level, access_log=args.log_level == "debug",
        ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key, lifespan="on",
        **server_options(CLIENT_TIMEOUT if args.client_timeout is None else args.client_timeout),
    )
    if args.workers == 1:
        uvicorn.run("city.app:app_from_environment", **options)
    else:  # each worker on a socket of its own (SO_REUSEPORT): the kernel spreads the kiosks
        run_workers(uvicorn.Config("city.app:app_from_environment", **options))
    return 0


def cmd_migrate(args) -> int:
    from city.storage.migrations import latest_version

    store = _store(args, migrate=False)
    try:
        before = store.engine.schema_version()
        from city.storage.base import MigrationContext

        applied = store.engine.migrate(MigrationContext(store.index_sealed))
    finally:
        store.close()
    if applied:
        print(f"migrated the {store.engine.name} database from version {before} to {latest_version()} "
              f"(applied {', '.join(map(str, applied))})")
    else:
        print(f"the {store.engine.name} database is up to date (version {before})")
    return 0


def cmd_enroll(args) -> int:
    from city.enroll import enroll_kiosk

    store = _store(args)
    try:
        enrollment = enroll_kiosk(store, args.kiosk_id, args.url, state_dir=args.state, simulated=args.simulated,
                                  venue=args.venue, token_file=args.token_file, ca_file=args.ca_file)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    print(enrollment.toml(), end="")
    print(f"kiosk-city: enrolled {args.kiosk_id}; token written to {enrollment.token_file}", file=sys.stderr)
    return 0


def _human_entry(row: dict) -> str:
    fields = [row["at"], row["kiosk_id"], row["venue"], row["decision"], row["reason"], row["format"]]
    if "identity" not in row:  # listed without opening identities
        return "\t".join(shown(field) for field in fields + ["(sealed)" if row.get("sealed") else "-"])
    identity = row.get("identity") if isinstance(row.get("identity"), dict) else {}
    who = identity.get("name", "-") if identity else ("(sealed: " + row["identity_error"] + ")" if "identity_error" in row else "-")
    born = identity.get("birth_date", "") if identity else ""
    return "\t".join(shown(field) for field in fields + [who, born])


def _span(args) -> tuple[str | None, str | None]:
    from city.trace import parse_bound

    try:
        return (parse_bound(args.since) if args.since else None,
                parse_bound(args.until, end=True) if args.until else None)
    except ValueError as exc:
        raise UsageError(f"--from/--to: {exc}") from None


def cmd_entries(args) -> int:
    since, until = _span(args)
    store = _store(args)
    opened = 0
    try:
        try:
            for row in store.iter_entries(kiosk_id=args.kiosk, venue=args.venue, since=since, until=until,
                                          identities=args.identities):
                opened += bool(row.get("identity"))
                print(json_line(row) if args.json else _human_entry(row))
        finally:
            if args.identities:  # who listed identities, which, and how many were opened
                _audit(store, "identities", query={"kiosk": args.kiosk, "venue": args.venue, "from": since,
                                                   "to": until}, identities_opened=opened)
    finally:
        store.close()
    return 0


def _records(store):
    from city.console.records import ConsoleRecords

    return ConsoleRecords(store.engine)


def _audit(store, action: str, **detail) -> None:
    """One event in the city's audit log, by whoever runs this command."""
    from city.console.records import cli_actor

    _records(store).audit(cli_actor(), action, "", **detail)


def _read_json(path: str):
    try:
        return json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None


def cmd_publish(args) -> int:
    from city.console.records import cli_actor
    from city.publishing import PublishError, check, publish

    chosen = {"trust-list": args.trust_list, "revocations": args.revocations, "rules": args.rules}
    chosen = {kind: path for kind, path in chosen.items() if path}
    if not chosen:
        raise UsageError("give at least one of --trust-list, --revocations, --rules")
    contents = {kind: _read_json(path) for kind, path in chosen.items()}  # all read before any is published
    for kind, content in contents.items():  # and each checked by the code the kiosks will load it with
        try:
            check(kind, content)
        except PublishError as exc:
            raise UsageError(f"{chosen[kind]}: nothing published, {exc}") from None
    store = _store(args)
    try:
        for kind, content in contents.items():
            try:
                bundle = publish(store, kind, content, actor=cli_actor(), records=_records(store), source=chosen[kind])
            except PublishError as exc:
                raise UsageError(f"{chosen[kind]}: {kind} refused, nothing signed: {exc}") from None
            print(f"published {kind} version {bundle.version} ({len(bundle.raw)} bytes, sha256 {bundle.sha256[:16]})")
    finally:
        store.close()
    return 0


def cmd_trace(args) -> int:
    from city.trace import Person, trace

    today = dt.datetime.now(dt.timezone.utc).date()
    args.until = args.until or today.isoformat()
    args.since = args.since or (today - dt.timedelta(days=14)).isoformat()
    since, until = _span(args)
    if args.minutes < 0:
        raise UsageError("--minutes must not be negative")
    person = None if args.entry else Person(name=args.name or "", birth_date=args.birth_date, document=args.document or "")
    store = _store(args)
    try:
        try:
            result = trace(store, person, since, until, args.minutes, entry_id=args.entry)
        except LookupError as exc:
            raise UsageError(str(exc).strip("'\"")) from None
        asked = {"entry": args.entry} if args.entry else {"document": args.document} if args.document else {
            "name": args.name, **({"birth_date": args.birth_date} if args.birth_date else {})}
        _audit(store, "trace", query={**asked, "from": since, "to": until, "minutes": args.minutes},
               visits=len(result.visits), contacts=len(result.contacts),
               identities_opened=len(result.visits) + len(result.contacts))
    finally:
        store.close()
    if args.json:
        if args.document:
            print(f"kiosk-city: note: {MASKED_DOCUMENTS}", file=sys.stderr)
        for contact in result.contacts:
            print(json_line({**contact.entry, "index_entry": contact.index_entry,
                             "minutes_apart": contact.minutes_apart}))
    else:
        if args.document:
            print(f"note: {MASKED_DOCUMENTS}")
        print(f"{len(result.visits)} visit(s) by the traced person between {since} and {until}:")
        for visit in result.visits:
            print("  " + "\t".join(shown(visit[key]) for key in ("at", "venue", "kiosk_id", "id")))
        print(f"{len(result.contacts)} contact(s) within ±{args.minutes:g} minutes:")
        for contact in result.contacts:
            print(f"  {_human_entry(contact.entry)}\t{contact.minutes_apart:g} min")
    return 0


def cmd_import(args) -> int:
    from sync.bundles import atomic_write
    from city.imports import ExportFileError, default_receipt_path, import_file, receipt_for
    from sync.progress import progress

    store = _store(args)
    try:
        try:
            size = os.path.getsize(args.file)
        except OSError:
            size = None  # import_file says why
        try:
            with progress(size, "import", unit="B") as bar:
                result = import_file(store, args.file, allow_unknown_kiosk=args.allow_unknown_kiosk, on_bytes=bar.update)
        except ExportFileError as exc:
            raise UsageError(str(exc)) from None
        receipt_path = Path(args.receipt) if args.receipt else default_receipt_path(args.file)
        atomic_write(receipt_path, receipt_for(store, result), mode=0o644)
    finally:
        store.close()
    print(f"export {result.export_id} from {result.kiosk_id}: {result.entries} entries, {result.stored} stored, "
          f"{result.duplicates} already present, {len(result.refused)} refused")
    for refusal in result.refused:
        print(f"  refused entry #{refusal.index} ({refusal.id}): {refusal.problem}", file=sys.stderr)
    if result.truncated:
        print("kiosk-city: warning: the file is cut short; the receipt covers what was stored", file=sys.stderr)
    print(f"receipt: {receipt_path} (on the kiosk: kiosk export --receipt {receipt_path.name})")
    return 1 if result.refused or result.truncated else 0


def cmd_kiosks(args) -> int:
    store = _store(args)
    try:
        kiosks = store.kiosks()
    finally:
        store.close()
    for kiosk in kiosks:
        print(json_line(kiosk) if args.json else _human_kiosk(kiosk))
    return 0


def _number(value) -> str:
    """A heartbeat's number as shown, or '-' for anything else a kiosk may have sent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e15:
        return "-"
    return f"{value:g}"


def _human_kiosk(kiosk: dict) -> str:
    beat = kiosk["heartbeat"] if isinstance(kiosk["heartbeat"], dict) else {}
    disk = beat.get("disk") if isinstance(beat.get("disk"), dict) else {}
    return (f"{shown(kiosk['id'])}\tentries {kiosk['entries']}\tlast seen {shown(kiosk['last_seen'] or 'never')}"
            f"\tqueue {_number(beat.get('queue_depth'))}\tdisk {_number(disk.get('used_percent'))}%")


def _password(args, name: str) -> str:
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text().splitlines()
        except FileNotFoundError:
            raise UsageError(f"{args.password_file}: no such file") from None
        return lines[0] if lines else ""
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password: give --password-file")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def cmd_user(args) -> int:
    from city.console.records import AccountError, cli_actor

    store = _store(args)
    records = _records(store)
    try:
        try:
            if args.action == "list":
                for user in records.users():
                    state = "disabled" if user.disabled else "enabled"
                    print(f"{user.name}\t{user.role}\t{state}\tcreated {user.created_at}\tchanged {user.changed_at}")
                return 0
            if args.action == "add":
                user = records.add_user(args.name, args.role, _password(args, args.name))
                records.audit(cli_actor(), "user-add", "", name=user.name, role=user.role)
                print(f"added {user.name} ({user.role})")
            elif args.action == "passwd":
                records.set_password(args.name, _password(args, args.name))
                records.audit(cli_actor(), "user-passwd", "", name=args.name)
                print(f"password of {args.name} changed; its sessions have ended")
            else:
                records.set_disabled(args.name, args.action == "disable")
                records.audit(cli_actor(), f"user-{args.action}", "", name=args.name)
                print(f"{args.name} {args.action}d")
        except AccountError as exc:
            raise UsageError(str(exc)) from None
    finally:
        store.close()
    return 0


def cmd_audit(args) -> int:
    store = _store(args)
    try:
        events = _records(store).events(limit=args.limit, actions=(args.action,) if args.action else (),
                                        actor=args.who)
    finally:
        store.close()
    for event in reversed(events):  # oldest first, as a log reads
        if args.json:
            print(json_line(event.to_json()))
        else:
            detail = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(event.detail.items()))
            print("\t".join(shown(text) for text in (event.at, event.actor, event.action, event.address or "-", detail)))
    return 0


COMMANDS = {
    "serve": cmd_serve, "migrate": cmd_migrate, "enroll": cmd_enroll, "entries": cmd_entries, "publish": cmd_publish,
    "trace": cmd_trace, "import": cmd_import, "kiosks": cmd_kiosks, "user": cmd_user, "audit": cmd_audit,
}


if __name__ == "__main__":
    sys.exit(main())
