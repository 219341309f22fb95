"""The console's pages (``/console/...``), server-rendered with Jinja2; no JavaScript.

Every page goes through :meth:`Console.page`, which reads the session, checks the account
(enabled, same generation) and its role, re-signs the cookie (the idle timer) and sets the
security headers. A page's work runs in the threadpool, never on the event loop that serves the
kiosks' uploads. Every POST must carry the session's CSRF token. Trace queries come by POST
only, so no identity is ever in a URL (nor in the access log, which logs URLs).
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from city.console import listing, messages
from city.console.fleet import fleet
from city.console.records import ACTIONS, MAX_NAME, ConsoleRecords, User
from city.console.security import LANG_COOKIE, COOKIE, PAGE_HEADERS, Session, Sessions, Throttle, console_key
from city.console.vietnamese import sort_key
from city.storage.base import EntryFilter
from city.store import CityStore
from sync import bundles
from sync.wire import DECISIONS, parse_iso, utc_iso

log = logging.getLogger("kiosk.city.console")

HERE = Path(__file__).parent
PAGE_SIZE = 50
DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"
MAX_UPLOAD = 8 * 1024 * 1024


@dataclass
class ConsoleSettings:
    time_zone: str = DEFAULT_TIME_ZONE
    idle_seconds: float = 30 * 60
    account_failures: int = 5  # failed sign-ins allowed per account in the window, then it waits
    address_failures: int = 20  # ... and per address (a tracers' office shares one)
    throttle_window: float = 15 * 60


class Refused(Exception):
    """Answer with this response instead of the page (sign-in needed, forbidden, bad CSRF)."""

    def __init__(self, response: Response):
        self.response = response


@dataclass
class Ctx:
    """One request's console state."""

    request: Request
    session: Session
    user: User | None
    lang: str

    def t(self, text: str) -> str:
        return messages.translate(text, self.lang)


def mask(identity: dict | None) -> str:
    """Initials and birth year: enough to tell entries apart, not to know who came."""
    if not identity:
        return "–"
    initials = " ".join(word[0].upper() + "." for word in (identity.get("name") or "").split() if word)
    year = (identity.get("birth_date") or "")[:4]
    return f"{initials} {year}".strip() or "–"


class Console:
    def __init__(self, store: CityStore, settings: ConsoleSettings):
        self.store = store
        self.settings = settings
        self.records = ConsoleRecords(store.engine)
        self.tz = ZoneInfo(settings.time_zone)
        self.sessions = Sessions(console_key(store.data_dir), settings.idle_seconds)
        self.throttles = (Throttle(self.records, "account", settings.account_failures, settings.throttle_window),
                          Throttle(self.records, "address", settings.address_failures, settings.throttle_window))
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
        self.env.filters["local"] = self.local
        self.router = APIRouter(prefix="/console")
        self._routes()

    def mount(self, app: Any) -> None:
        """Serve the pages and their stylesheet from ``app`` (the kiosk API's app)."""
        app.include_router(self.router)
        app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

        @app.get("/console", include_in_schema=False)
        async def bare() -> Response:
            return RedirectResponse("/console/", status_code=308)

    # ------------------------------------------------------------------ helpers
    def local(self, at: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if not at:
            return "–"
        try:
            return parse_iso(at).astimezone(self.tz).strftime(fmt)
        except (ValueError, TypeError):
            return at

    def day_bound(self, text: str, end: bool = False) -> str:
        """A day in the city's time zone -> its first instant (``end``: the next day's) in UTC."""
        day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end else 0)
        return utc_iso(dt.datetime.combine(day, dt.time(), self.tz))

    def today(self) -> dt.date:
        return dt.datetime.now(self.tz).date()

    def ctx(self, request: Request, page: str | None, *, signed_in: bool = True) -> Ctx:
        session = self.sessions.load(request.cookies.get(COOKIE))
        user = None
        if session is not None and session.user:
            user = self.records.user(session.user)
            if user is None or user.disabled or user.generation != session.generation:
                user, session = None, None
        lang = request.cookies.get(LANG_COOKIE)
        lang = lang if lang in messages.LANGUAGES else messages.DEFAULT
        ctx = Ctx(request, session or self.sessions.new(), user, lang)
        if signed_in and user is None:
            raise Refused(self.finish(ctx, RedirectResponse("/console/", status_code=303)))
        if page and user is not None and not user.can(page):
            raise Refused(self.render(ctx, "refused.html", {"page": page}, status=403))
        return ctx

    def check_csrf(self, ctx: Ctx, form: Any) -> None:
        sent = form.get("csrf") if form is not None else None
        if not isinstance(sent, str) or not hmac.compare_digest(sent, ctx.session.csrf):
            raise Refused(self.render(ctx, "refused.html", {"page": "csrf"}, status=403))

    def finish(self, ctx: Ctx, response: Response) -> Response:
        """Re-sign the session (the idle timer starts again) and set the security headers."""
        secure = ctx.request.url.scheme == "https"
        response.set_cookie(COOKIE, self.sessions.dump(ctx.session), httponly=True, samesite="strict",
                            secure=secure, path="/console")
        response.headers.update(PAGE_HEADERS)
        return response

    def render(self, ctx: Ctx, template: str, values: dict, status: int = 200) -> Response:
        html = self.env.get_template(template).render(
            t=ctx.t, lang=ctx.lang, user=ctx.user, csrf=ctx.session.csrf, path=ctx.request.url.path,
            time_zone=self.settings.time_zone, **values)
        return self.finish(ctx, HTMLResponse(html, status_code=status))

    def address(self, request: Request) -> str:
        return request.client.host if request.client else ""

    # ------------------------------------------------------------------ routes
    def _routes(self) -> None:
        router = self.router

        def page(method: str, path: str, name: str | None, signed_in: bool = True):
            def register(handler: Callable):
                def answer(ctx: Ctx, form: Any) -> Response:
                    try:
                        if method == "POST":
                            self.check_csrf(ctx, form)
                            return handler(ctx, form)
                        return handler(ctx)
                    except Refused as refused:
                        return refused.response

                async def endpoint(request: Request):
                    # the session's account, then the page, in the threadpool: they read the
                    # database (a trace, the kiosks' counts) or hash a password, and the event
                    # loop must go on serving the kiosks' uploads meanwhile. The form is read
                    # (on the loop) only once the session may post.
                    try:
                        ctx = await run_in_threadpool(self.ctx, request, name, signed_in=signed_in)
                    except Refused as refused:
                        return refused.response
                    form = await request.form(max_part_size=MAX_UPLOAD) if method == "POST" else None
                    return await run_in_threadpool(answer, ctx, form)

                router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
                return handler

            return register

        @page("GET", "/", None, signed_in=False)
        def sign_in_form(ctx: Ctx):
            if ctx.user is not None:
                return self.finish(ctx, RedirectResponse("/console/kiosks", status_code=303))
            return self.render(ctx, "signin.html", {})

        @page("POST", "/", None, signed_in=False)
        def sign_in(ctx: Ctx, form):
            name = str(form.get("name") or "").strip()[:64]
            password = str(form.get("password") or "")
            address = self.address(ctx.request)
            keys = (name.casefold(), address)
            wait = max(throttle.wait_seconds(key) for throttle, key in zip(self.throttles, keys))
            if wait > 0:
                self.records.audit(name or "-", "sign-in-failed", address, reason="throttled")
                minutes = max(1, round(wait / 60))
                return self.render(ctx, "signin.html", {"error": "throttled", "minutes": minutes, "name": name},
                                   status=429)
            user = self.records.authenticate(name, password)
            if user is None:
                for throttle, key in zip(self.throttles, keys):
                    throttle.fail(key)
                self.records.audit(name or "-", "sign-in-failed", address, reason="wrong name or password")
                return self.render(ctx, "signin.html", {"error": "wrong", "name": name}, status=401)
            self.throttles[0].clear(keys[0])
            self.records.audit(user.name, "sign-in", address, role=user.role)
            ctx.session = self.sessions.new(user.name, user.generation)  # a new session: a new CSRF token
            return self.finish(ctx, RedirectResponse("/console/kiosks", status_code=303))

        @page("POST", "/signout", None)
        def sign_out(ctx: Ctx, form):
            self.records.audit(ctx.user.name, "sign-out", self.address(ctx.request))
            ctx.session = self.sessions.new()
            return self.finish(ctx, RedirectResponse("/console/", status_code=303))

        @page("GET", "/lang/{code}", None, signed_in=False)
        def language(ctx: Ctx):
            code = ctx.request.path_params["code"]
            back = ctx.request.query_params.get("next", "/console/")
            if not back.startswith("/console/") or "//" in back:
                back = "/console/"
            response = self.finish(ctx, RedirectResponse(back, status_code=303))
            if code in messages.LANGUAGES:
                response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="strict",
                                    path="/console")
            return response

        @page("GET", "/kiosks", "kiosks")
        def kiosks(ctx: Ctx):
            venue = ctx.request.query_params.get("venue", "")
            venues = listing.kiosk_venues(self.store)
            shown_venues = {k: ", ".join(sorted(v, key=sort_key)) for k, v in venues.items()}
            judged = fleet(self.store.kiosks(), shown_venues, dt.datetime.now(dt.timezone.utc))
            shown = [k for k in judged if not venue or venue in venues.get(k.id, ())]
            counts = {level: sum(1 for k in judged if k.level == level) for level in ("bad", "warn", "ok")}
            return self.render(ctx, "kiosks.html", {
                "kiosks": shown, "venue": venue, "venues": all_venues(venues),
                "counts": counts, "refresh": 30})

        @page("GET", "/entries", "entries")
        def entries(ctx: Ctx):
            return self.render(ctx, "entries.html", self.entries_page(ctx))

        @page("GET", "/trace", "trace")
        def trace_form(ctx: Ctx):
            return self.render(ctx, "trace.html", {"query": self.default_query(), "result": None})

        @page("POST", "/trace", "trace")
        def trace_run(ctx: Ctx, form):
            return self.trace_page(ctx, form)

        @page("GET", "/bundles", "bundles")
        def bundles_page(ctx: Ctx):
            return self.render(ctx, "bundles.html", self.bundles_values())

        @page("POST", "/bundles", "bundles")
        def bundles_publish(ctx: Ctx, form):
            return self.publish(ctx, form)

        @page("GET", "/audit", "audit")
        def audit(ctx: Ctx):
            params = ctx.request.query_params
            before = params.get("before", "")
            action = params.get("action", "")
            action = action if action in ACTIONS else ""
            who = params.get("who", "").strip()[:MAX_NAME]
            events = self.records.events(limit=PAGE_SIZE + 1, before=int(before) if before.isdigit() else None,
                                         actions=(action,) if action else (), actor=who or None)
            more = len(events) > PAGE_SIZE
            events = events[:PAGE_SIZE]
            filters = {k: v for k, v in (("action", action), ("who", who)) if v}
            older = urlencode({**filters, "before": events[-1].seq}) if more and events else None
            return self.render(ctx, "audit.html", {
                "events": events, "older": older, "detail": audit_detail, "actions": ACTIONS,
                "action": action, "who": who})

    # ------------------------------------------------------------------ entries
    def entries_page(self, ctx: Ctx) -> dict:
        params = ctx.request.query_params
        today = self.today().isoformat()
        chosen = {key: params.get(key, "").strip() for key in ("venue", "kiosk", "decision", "format")}
        start, end = params.get("from", "") or today, params.get("to", "") or today
        error = None
        try:
            since, until = self.day_bound(start), self.day_bound(end, end=True)
        except ValueError:
            error, start, end = "bad-date", today, today
            since, until = self.day_bound(today), self.day_bound(today, end=True)
        where = EntryFilter(since=since, until=until, venue=chosen["venue"] or None, kiosk_id=chosen["kiosk"] or None)
        page_no = max(1, int(params["page"])) if params.get("page", "").isdigit() else 1
        rows, more = listing.page_of_entries(self.store, where, decision=chosen["decision"] or None,
                                             format=chosen["format"] or None, offset=(page_no - 1) * PAGE_SIZE,
                                             limit=PAGE_SIZE)
        for row in rows:
            row["who"] = mask(row.get("identity"))
            row.pop("identity", None)  # never handed to the template
        query = {"from": start, "to": end, **{k: v for k, v in chosen.items() if v}}
        venues = listing.kiosk_venues(self.store)
        chart = None
        if chosen["venue"]:
            day_since, day_until = self.day_bound(start), self.day_bound(start, end=True)
            times = listing.times_at_venue(self.store, chosen["venue"], day_since, day_until)
            chart = hourly_chart([parse_iso(at).astimezone(self.tz).hour for at in times])
        return {
            "rows": rows, "page": page_no, "more": more, "query": query, "chosen": chosen, "start": start, "end": end,
            "error": error, "chart": chart, "decisions": DECISIONS, "formats": listing.formats(self.store, since, until),
            "venues": all_venues(venues), "kiosks": sorted((k["id"] for k in self.store.kiosks()), key=sort_key),
            "link": lambda **change: "/console/entries?" + urlencode({**query, **change}),
        }

    # ------------------------------------------------------------------ trace
    def default_query(self) -> dict:
        today = self.today()
        return {"by": "name", "name": "", "birth_date": "", "document": "", "entry": "",
                "from": (today - dt.timedelta(days=14)).isoformat(), "to": today.isoformat(), "minutes": "15"}

    def trace_page(self, ctx: Ctx, form: Any) -> Response:
        from city.trace import Person, trace

        query = {key: str(form.get(key) or "").strip() for key in self.default_query()}
        view = str(form.get("view") or "page")
        error = None
        try:
            since, until = self.day_bound(query["from"]), self.day_bound(query["to"], end=True)
            minutes = float(query["minutes"])
            if not 0 <= minutes <= 24 * 60:
                raise ValueError
        except ValueError:
            since = until = None
            minutes = 0.0
            error = "bad-range"
        by = query["by"] if query["by"] in ("name", "document", "entry") else "name"
        if error is None and not query[by]:
            error = "missing-" + by
        if error:
            return self.render(ctx, "trace.html", {"query": query, "result": None, "error": error}, status=400)
        person = None if by == "entry" else Person(
            name=query["name"] if by == "name" else "", birth_date=query["birth_date"] if by == "name" else "",
            document=query["document"] if by == "document" else "")
        try:
            result = trace(self.store, person, since, until, minutes, entry_id=query["entry"] if by == "entry" else None)
        except LookupError:
            return self.render(ctx, "trace.html", {"query": query, "result": None, "error": "no-entry"}, status=404)
        opened = len(result.visits) + len(result.contacts)
        asked = {"by": by, by: query[by], "from": query["from"], "to": query["to"], "minutes": minutes}
        if by == "name" and query["birth_date"]:
            asked["birth_date"] = query["birth_date"]
        self.records.audit(ctx.user.name, "trace", self.address(ctx.request), query=asked, view=view,
                           visits=len(result.visits), contacts=len(result.contacts), identities_opened=opened)
        venue_of = {visit["id"]: visit["venue"] for visit in result.visits}
        if view == "csv":
            return self.finish(ctx, Response(trace_csv(result, self.local), media_type="text/csv; charset=utf-8",
                                             headers={"Content-Disposition": 'attachment; filename="trace.csv"'}))
        return self.render(ctx, "trace_print.html" if view == "print" else "trace.html",
                           {"query": query, "result": result, "venue_of": venue_of, "minutes": minutes})

    # ------------------------------------------------------------------ bundles
    def bundles_values(self, **extra: Any) -> dict:
        current = {}
        for kind in bundles.KINDS:
            found = self.store.bundle(kind)
            if found is not None:
                held = bundles.verify_bundle(found[0], self.store.keys.bundle_public, kind)
                current[kind] = {"version": held.version, "issued_at": held.issued_at, "sha256": held.sha256}
        history = self.records.events(actions=("publish",), limit=100)
        running = []
        for kiosk in sorted(self.store.kiosks(), key=lambda k: sort_key(k["id"])):
            held = (kiosk.get("heartbeat") or {}).get("bundles") or {}
            running.append({"id": kiosk["id"], "last_seen": kiosk["last_seen"],
                            "versions": {kind: (held.get(kind) or {}).get("version") for kind in bundles.KINDS}})
        return {"kinds": bundles.KINDS, "current": current, "history": history, "running": running, **extra}

    def publish(self, ctx: Ctx, form: Any) -> Response:
        from city.publishing import PublishError, publish_bytes

        kind = str(form.get("kind") or "")
        upload = form.get("file")
        raw = b""
        if upload is not None and hasattr(upload, "file"):
            raw = upload.file.read(MAX_UPLOAD + 1)
        try:
            bundle = publish_bytes(self.store, kind, raw, actor=ctx.user.name, address=self.address(ctx.request),
                                   records=self.records)
        except PublishError as exc:
            return self.render(ctx, "bundles.html", self.bundles_values(refused=str(exc), kind=kind), status=422)
        return self.render(ctx, "bundles.html", self.bundles_values(published=bundle, kind=kind))


def audit_detail(event: Any) -> str:
    """An event's details as ``key: value`` pairs (a trace's query flattened), for people."""
    parts = []
    for key, value in sorted(event.detail.items()):
        if key == "identities_opened":
            continue  # a column of its own
        if isinstance(value, dict):
            parts.extend(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
        elif value not in (None, ""):
            parts.append(f"{key}: {value if not isinstance(value, (list, bool)) else json.dumps(value)}")
    return " · ".join(parts)


def all_venues(venues: dict[str, list[str]]) -> list[str]:
    return sorted({venue for names in venues.values() for venue in names}, key=sort_key)


def hourly_chart(hours: list[int]) -> dict:
    """Entries per hour of one day, laid out for the SVG in ``entries.html`` (drawn by the server)."""
    counts = [0] * 24
    for hour in hours:
        counts[hour] += 1
    top = max(counts) or 1
    height, width = 160, 24
    bars = [{"hour": h, "count": c, "x": 40 + h * width, "height": round(c / top * height),
             "y": 10 + height - round(c / top * height)} for h, c in enumerate(counts)]
    return {"bars": bars, "top": top, "total": sum(counts), "height": height, "width": width, "base": 10 + height}


def trace_csv(result: Any, local: Callable[[str], str]) -> bytes:
    """The contacts as CSV (UTF-8 with a BOM, so a spreadsheet shows the diacritics)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["contact_at", "venue", "kiosk_id", "name", "birth_date", "document", "minutes_apart",
                     "traced_visit_entry", "contact_entry"])
    for contact in result.contacts:
        entry, identity = contact.entry, contact.entry.get("identity") or {}
        writer.writerow([local(entry["at"]), entry["venue"], entry["kiosk_id"], identity.get("name", ""),
                         identity.get("birth_date", ""), identity.get("document", ""), f"{contact.minutes_apart:g}",
                         contact.index_entry, entry["id"]])
    return ("\ufeff" + out.getvalue()).encode()
