"""What a kiosk token (or no token at all) must not let anyone do to the city server.

Each test plays the attacker against a real server on 127.0.0.1: in a thread (``start_server``)
where the server's behaviour is the point, in a process of its own where its memory or its file
limit is.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import resource
import socket
import time
import unicodedata
import uuid

import pytest
import requests
from hypothesis import given, settings, strategies as st

from city.cli import main as kiosk_city_main
from city.embedded import start_server
from kiosk.model import Credential, Kind, Status
from sync.seal import seal
from sync.wire import STATUSES, utc_iso

from serving_helpers import free_port, serve, wait_up

VENUES = ["Chợ Bến Thành", "Office B"]


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("city") / "data", daily_quota=0) as server:
        yield server


@pytest.fixture(scope="module")
def kiosk(city, tmp_path_factory):
    return city.enroll("gate-1", state_dir=tmp_path_factory.mktemp("gate-1"), venue=VENUES)


def sealed(seal_key: str, name: str = "NGUYEN VAN AN", birth: str = "1990-05-01", document: str = "001090000001") -> str:
    identity = json.dumps({"name": name, "birth_date": birth, "document": document}, ensure_ascii=False)
    return base64.b64encode(seal(identity.encode(), seal_key)).decode()


def entry(enrollment, **over) -> dict:
    item = {
        "id": str(uuid.uuid4()), "kiosk_id": enrollment.kiosk_id, "venue": VENUES[0],
        "at": utc_iso(dt.datetime.now(dt.timezone.utc)), "clock_synced": True, "format": "cccd",
        "status": "valid", "decision": "pass", "reason": "checked_in", "kind": "identity", "flags": [],
        "identity": sealed(enrollment.seal_public_key), "frame_age_ms": 3.0,
    }
    item.update(over)
    return item


def post(url: str, token: str, body, path: str = "/v1/entries") -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url + path, data=data, timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


def problems(reply: requests.Response) -> list[str]:
    assert reply.status_code == 422, reply.text
    return [refusal["problem"] for refusal in reply.json()["refused"]]


# ---------------------------------------------------------------------------- what a token may post
def test_a_kiosk_posts_only_for_the_venues_it_was_enrolled_for(city, tmp_path, capsys):
    data = str(city.data_dir)
    assert kiosk_city_main(["enroll", "gate-v", "--data", data, "--url", city.url, "--state", str(tmp_path),
                            "--venue", "Hall 1", "--venue", "Hall 2"]) == 0
    assert 'venue = "Hall 1"' in capsys.readouterr().out  # the first venue goes into the kiosk's config
    token = (tmp_path / "city-token").read_text().strip()
    gate = type("E", (), {"kiosk_id": "gate-v", "seal_public_key": city.store.keys.seal_public})

    assert post(city.url, token, {"entries": [entry(gate, venue="Hall 1"), entry(gate, venue="Hall 2")]}).ok
    assert "venue: the kiosk is not enrolled for this venue" in problems(post(city.url, token, {"entries": [entry(gate, venue="Hall 3")]}))

    # re-enrolling replaces the venues (and the token)
    assert kiosk_city_main(["enroll", "gate-v", "--data", data, "--url", city.url, "--state", str(tmp_path),
                            "--venue", "Hall 3"]) == 0
    token = (tmp_path / "city-token").read_text().strip()
    assert post(city.url, token, {"entries": [entry(gate, venue="Hall 3")]}).ok
    assert problems(post(city.url, token, {"entries": [entry(gate, venue="Hall 1")]}))
    # a venue is printable text, like a kiosk id
    assert kiosk_city_main(["enroll", "gate-w", "--data", data, "--url", city.url, "--state", str(tmp_path / "w"),
                            "--venue", "Hall\x1b[2J"]) == 2


def test_an_entry_a_day_ahead_of_the_citys_clock_is_refused_when_the_kiosk_claims_a_synchronised_clock(city, kiosk):
    now = dt.datetime.now(dt.timezone.utc)
    ahead = utc_iso(now + dt.timedelta(hours=25))
    assert "at: more than a day ahead of the city's clock" in problems(post(city.url, kiosk.token, {"entries": [entry(kiosk, at=ahead)]}))
    # an unsynchronised clock can be anywhere: the entry is kept, flagged as such
    assert post(city.url, kiosk.token, {"entries": [entry(kiosk, at=ahead, clock_synced=False, flags=["clock_unsynchronised"])]}).ok
    assert post(city.url, kiosk.token, {"entries": [entry(kiosk, at=utc_iso(now + dt.timedelta(hours=23)))]}).ok


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999-14:00", "2026-01-01T10:00:00"])
def test_times_outside_what_utc_can_hold_or_without_a_zone_are_refused_not_a_500(city, kiosk, at):
    assert any(p.startswith("at:") for p in problems(post(city.url, kiosk.token, {"entries": [entry(kiosk, at=at)]})))


def override_entry(kiosk) -> dict:
    """What the kiosk's loop records when the guard opens the gate by hand (Loop.override)."""
    credential = Credential("guard", Status.VALID, kind=Kind.UNKNOWN)
    return entry(kiosk, format=credential.format, status=credential.status.value, kind=credential.kind.value,
                 decision="pass", reason="guard_override", identity=None)


@settings(max_examples=30, deadline=None)
@given(status=st.sampled_from(sorted(STATUSES)), decision=st.sampled_from(["pass", "fail"]))
def test_a_pass_is_accepted_only_for_a_valid_credential(city, kiosk, status, decision):
    reply = post(city.url, kiosk.token, {"entries": [entry(kiosk, status=status, decision=decision, reason=status)]})
    if decision == "pass" and status != "valid":
        assert f"decision: pass is impossible for a {status} credential" in problems(reply)
    else:
        assert reply.status_code == 200, reply.text


def test_the_guards_override_is_accepted(city, kiosk):
    assert post(city.url, kiosk.token, {"entries": [override_entry(kiosk)]}).ok


@pytest.mark.parametrize("identity", [
    "!!not base64!!",
    base64.b64encode(b"x" * 48).decode(),  # no longer than a sealed box's overhead: holds nothing
    base64.b64encode(b"x" * 4097).decode(),  # longer than any identity
    " " + base64.b64encode(b"x" * 100).decode(),
    base64.b64encode(b"x" * 100).decode().rstrip("=") + "\n",
    12345,
    {"name": "NGUYEN VAN AN"},  # an identity in the clear
])
def test_identities_that_are_not_sealed_boxes_are_refused(city, kiosk, identity):
    assert any(p.startswith("identity:") for p in problems(post(city.url, kiosk.token, {"entries": [entry(kiosk, identity=identity)]})))


def test_a_kiosk_over_its_daily_quota_is_told_when_to_come_back(tmp_path):
    with start_server(tmp_path / "city", daily_quota=5) as server:
        noisy = server.enroll("noisy", state_dir=tmp_path / "noisy")
        quiet = server.enroll("quiet", state_dir=tmp_path / "quiet")
        first = [entry(noisy, venue="noisy") for _ in range(3)]
        assert post(server.url, noisy.token, {"entries": first}).ok
        assert post(server.url, noisy.token, {"entries": [entry(noisy, venue="noisy") for _ in range(3)]}).ok
        refused = post(server.url, noisy.token, {"entries": [entry(noisy, venue="noisy")]})
        assert refused.status_code == 429 and refused.json()["error"] == "over_quota"
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 86400 and refused.json()["retry_after"] == retry
        assert post(server.url, quiet.token, {"entries": [entry(quiet, venue="quiet")]}).ok  # the others go on
        assert server.store.count() == 7


# ---------------------------------------------------------------------------- never a 500 from input
@pytest.mark.parametrize("path, depth", [("/v1/entries", 100_000), ("/v1/heartbeat", 6_000)])  # a heartbeat is <= 64 KiB
def test_deeply_nested_json_is_a_400(city, kiosk, path, depth):
    for body in (b"[" * depth + b"]" * depth, b'{"entries":' + b"[" * depth + b"]" * depth + b"}",
                 b'{"a":' * depth + b"1" + b"}" * depth):
        reply = post(city.url, kiosk.token, body, path)
        assert reply.status_code == 400, (path, reply.status_code, reply.text[:200])


def test_nan_and_numbers_too_long_to_read_are_400(city, kiosk):
    assert post(city.url, kiosk.token, b'{"queue_depth": NaN}', "/v1/heartbeat").status_code == 400
    assert post(city.url, kiosk.token, b'{"queue_depth": ' + b"9" * 5000 + b"}", "/v1/heartbeat").status_code == 400


# ---------------------------------------------------------------------------- a server in its own process
def _limit_files(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    return apply


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``kiosk-city serve`` in a process limited to 256 open files, clients given 2 s to speak."""
    data = tmp_path_factory.mktemp("served") / "city"
    state = tmp_path_factory.mktemp("served-kiosk")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert kiosk_city_main(["enroll", "k", "--data", str(data), "--url", url, "--state", str(state)]) == 0
    log = data.parent / "serve.log"
    proc = serve(data, port, "--client-timeout", "2", stderr=log.open("wb"), preexec_fn=_limit_files(256))
    try:
        wait_up(port, proc, log)
        yield url, (state / "city-token").read_text().strip(), proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    logged = log.read_text()
    assert "Traceback" not in logged and "ERROR" not in logged, logged[-3000:]  # no crash, no EMFILE


def peak_memory(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_16_mib_of_empty_objects_is_refused_before_it_is_parsed(served):
    url, token, proc = served
    before = peak_memory(proc.pid)
    body = b'{"entries":[' + b",".join([b"{}"] * ((16 * 1024 * 1024 - 16) // 3)) + b"]}"
    assert len(body) <= 16 * 1024 * 1024
    reply = post(url, token, body)
    assert reply.status_code == 413 and reply.json()["error"] == "too_complex"
    grown = peak_memory(proc.pid) - before
    assert grown < 120 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"


def raw_request(url: str, head: bytes, body_chunks=()) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end: what we want
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
        return reply


def test_the_size_limit_holds_before_parsing_and_while_streaming(served):
    url, token, proc = served
    auth = f"Authorization: Bearer {token}\r\n".encode()
    declared = raw_request(url, b"POST /v1/entries HTTP/1.1\r\nHost: x\r\n" + auth +
                           b"Content-Length: 17000000\r\nConnection: close\r\n\r\n")
    assert declared.startswith(b"HTTP/1.1 413")  # answered from the header, nothing sent
    before = peak_memory(proc.pid)
    mib = b"1" * (1024 * 1024)
    streamed = raw_request(url, b"POST /v1/entries HTTP/1.1\r\nHost: x\r\n" + auth +
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                           (b"100000\r\n" + mib + b"\r\n" for _ in range(64)))
    assert streamed.startswith(b"HTTP/1.1 413")
    assert peak_memory(proc.pid) - before < 60 * 1024 * 1024  # 64 MiB sent, at most the limit read


def test_idle_sockets_without_a_token_do_not_starve_health_at_a_256_file_limit(served):
    url, _token, proc = served
    host, port = url.removeprefix("http://").split(":")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection((host, int(port)), timeout=10))
        health = requests.get(url + "/v1/health", timeout=60)
        assert health.status_code == 200 and health.json()["ok"]
        # and the idle ones are closed by the server (2 s to send a request head)
        idle[-1].settimeout(30)
        assert idle[-1].recv(1) == b""
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_client_trickling_its_request_is_cut_off(served):
    url, token, _proc = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:  # a head a byte at a time
        sent, closed = 0, False
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            time.sleep(0.05)
        if not closed:
            sock.settimeout(30)
            closed = sock.recv(1) == b""
        assert closed and sent < 200
    with socket.create_connection((host, int(port)), timeout=30) as sock:  # a body that stops
        sock.sendall(f"POST /v1/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Length: 100\r\n\r\n{{".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        assert not reply.startswith(b"HTTP/1.1 5")


# ---------------------------------------------------------------------------- what reaches the admin's terminal
HOSTILE = "\x1b[2J\x1b]0;owned\x07\u202eevil\x9b31m\x7f\r\n"


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in strings(item)]


def _terminal_safe(text: str) -> bool:
    return all(c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in text)


def test_text_from_kiosks_is_escaped_in_entries_kiosks_and_trace(tmp_path, capsys):
    with start_server(tmp_path / "city") as server:
        gate = server.enroll("gate-x", state_dir=tmp_path / "gate", venue="Hall")
        rows = [entry(gate, venue="Hall", reason="checked_in" + HOSTILE, format="cccd" + HOSTILE,
                      kind="identity" + HOSTILE, flags=["f" + HOSTILE.replace("\r\n", "")],
                      identity=sealed(gate.seal_public_key, name="EVIL" + HOSTILE, document="D1" + HOSTILE)),
                entry(gate, venue="Hall", identity=sealed(gate.seal_public_key, name="BYSTANDER"))]
        assert post(server.url, gate.token, {"entries": rows}).ok
        assert post(server.url, gate.token, {"queue_depth": HOSTILE, "disk": {"used_percent": HOSTILE}, "x": HOSTILE},
                    "/v1/heartbeat").ok
        data = str(server.data_dir)
        for argv in (["entries", "--data", data, "--identities"], ["entries", "--data", data, "--json", "--identities"],
                     ["kiosks", "--data", data], ["kiosks", "--data", data, "--json"],
                     ["trace", "--data", data, "--name", "BYSTANDER"], ["trace", "--data", data, "--name", "BYSTANDER", "--json"],
                     ["trace", "--data", data, "--entry", rows[0]["id"]]):
            assert kiosk_city_main(argv) == 0, argv
            out = capsys.readouterr().out
            assert out.strip() and _terminal_safe(out), (argv, out)
            if "--json" in argv:  # escaped, not lost
                assert any(HOSTILE in text for line in out.splitlines() for text in strings(json.loads(line)))
            elif argv[0] == "entries" or "BYSTANDER" in argv:  # the hostile entry is listed, escaped
                assert "\\x1b[2J" in out and "\\u202e" in out


ODD_HEARTBEATS = [
    {"disk": "full"}, {"disk": None, "queue_depth": {"a": [1, 2]}}, {"disk": {"used_percent": "99%"}, "queue_depth": -1},
    {"disk": {"used_percent": 1e308}, "queue_depth": True}, {"disk": [1, 2, 3]}, {"queue_depth": 10 ** 300},
    {}, {"nested": [[[[[[[[[[{}]]]]]]]]]]},
]


def test_odd_heartbeats_never_break_the_kiosk_listing(tmp_path, capsys):
    with start_server(tmp_path / "city") as server:
        for number, beat in enumerate(ODD_HEARTBEATS):
            gate = server.enroll(f"gate-{number:02d}", state_dir=tmp_path / str(number))
            assert post(server.url, gate.token, beat, "/v1/heartbeat").ok
        gate = server.enroll("gate-array", state_dir=tmp_path / "array")
        assert post(server.url, gate.token, [1, 2], "/v1/heartbeat").status_code == 400
        data = str(server.data_dir)
        assert kiosk_city_main(["kiosks", "--data", data]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == len(ODD_HEARTBEATS) + 1
        assert all("\tqueue " in line and "\tdisk " in line for line in lines)
        assert kiosk_city_main(["kiosks", "--data", data, "--json"]) == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [k["heartbeat"] for k in listed[:len(ODD_HEARTBEATS)]] == ODD_HEARTBEATS


def test_venues_quota_and_forbidden_pairs_hold_on_both_engines(city_db, tmp_path):
    with start_server(tmp_path / "city", db=city_db, daily_quota=3) as server:
        gate = server.enroll("gate-e", state_dir=tmp_path / "gate", venue=["Hall A", "Hall B"])
        assert "venue: the kiosk is not enrolled for this venue" in problems(
            post(server.url, gate.token, {"entries": [entry(gate, venue="Hall C")]}))
        assert any("pass is impossible" in p for p in problems(
            post(server.url, gate.token, {"entries": [entry(gate, venue="Hall A", status="revoked", reason="revoked")]})))
        assert post(server.url, gate.token, {"entries": [entry(gate, venue="Hall A"), entry(gate, venue="Hall B"),
                                                         entry(gate, venue="Hall B")]}).ok
        over = post(server.url, gate.token, {"entries": [entry(gate, venue="Hall A")]})
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert server.store.count() == 3
