"""Issue 14, item 6: the age a kiosk shows is that of the content the city signed.

An unsigned 304 from a responder on a plain-http path used to reset the age, so a frozen
revocation list looked fresh; and a bundle issued in year 2999 was accepted.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading

import pytest

from city.embedded import start_server
from kiosk import config as config_mod
from kiosk.commands.status import collect
from kiosk.demo.issuing.dcc import DccIssuer
from kiosk.journal import Journal
from sync.bundles import generate_signing_key, sign_bundle
from sync.client import Uploader
from sync_helpers import bare_config

TRUST = DccIssuer.create().trust_list()


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Responder:
    """Serves one signed trust list with an ETag, then 304 to every If-None-Match: what a stale
    cache or an attacker on the path can do without the city's key."""

    def __init__(self, envelope: bytes):
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests += 1
                if not self.path.endswith("/trust-list"):
                    self._send(404, b'{"error": "not_published"}')
                elif self.headers.get("If-None-Match") == '"v1"':
                    self._send(304, b"")
                else:
                    self._send(200, envelope, etag='"v1"')

            def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def keys():
    return generate_signing_key()


def _config(tmp_path, url: str, public: str):
    return bare_config(tmp_path, "k-fresh", url=url, bundle_public_key=public)


def _fetch(config) -> dict:
    with Journal(config.journal_path) as journal:
        uploader = Uploader(config, journal)
        try:
            return uploader.fetch_bundles()
        finally:
            uploader.close()


def test_a_304_changes_no_age(tmp_path, keys):
    private, public = keys
    issued = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    responder = Responder(sign_bundle("trust-list", TRUST, private, version=1, issued_at=_iso(issued)))
    try:
        config = _config(tmp_path, responder.url, public)
        assert _fetch(config)["trust-list"] == "version 1"
        assert _fetch(config)["trust-list"] == "current"  # the unsigned 304
    finally:
        responder.close()
    status = collect(config)
    age = status["bundles"]["trust-list"]["age_seconds"]
    assert 3 * 86400 - 60 <= age <= 3 * 86400 + 60  # the old main: a few seconds, as if fresh
    assert 72 - 0.1 <= status["trust_list_age_hours"] <= 72 + 0.1  # what the status bar shows too


def test_a_bundle_issued_in_the_future_is_refused(tmp_path, keys, caplog):
    private, public = keys
    responder = Responder(sign_bundle("trust-list", TRUST, private, version=1, issued_at="2999-01-01T00:00:00Z"))
    try:
        config = _config(tmp_path, responder.url, public)
        assert _fetch(config)["trust-list"] == "refused"
    finally:
        responder.close()
    assert "REFUSED" in caplog.text and "in the future" in caplog.text
    assert not (tmp_path / "state" / "bundles" / "trust-list.json").exists()


def test_a_little_skew_is_tolerated(tmp_path, keys):
    private, public = keys
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2)
    responder = Responder(sign_bundle("trust-list", TRUST, private, version=1, issued_at=_iso(ahead)))
    try:
        assert _fetch(_config(tmp_path, responder.url, public))["trust-list"] == "version 1"
    finally:
        responder.close()


def test_the_city_signs_a_day_old_bundle_again(tmp_path):
    """The city's half: what it serves is never more than a day old, so an old age means trouble."""
    with start_server(tmp_path / "city") as city:
        old = _iso(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
        city.store.engine.put_bundle(
            "trust-list",
            lambda version: (sign_bundle("trust-list", TRUST, city.store.keys.bundle_private, version, old), '"old"'),
            old)
        config = config_mod.parse(city.enroll("k-resign", state_dir=tmp_path / "state").config, base=tmp_path)[0]
        assert _fetch(config)["trust-list"] == "version 2"  # the same content, signed again
        age = collect(config)["bundles"]["trust-list"]["age_seconds"]
        assert age < 600
        assert _fetch(config)["trust-list"] == "current"  # and not again until it is a day old
