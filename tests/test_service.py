"""``mcp --http`` and ``trigger listen`` as services (hosts/service.py): beyond loopback
with bearer tokens, /healthz, limits with their statuses, the JSON request log, the SIGTERM
drain and slow clients cut off. The CLI in a subprocess over loopback sockets."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from service_support import (
    DEADLINE,
    TOKENS,
    WEBHOOK_SECRET,
    call,
    environment,
    intercom,
    listen_args,
    listen_env,
    mcp_args,
    mcp_env,
    notification,
    result_of,
    served,
    signed,
)
from support import REPO, TOKEN

from intercom_connector.hosts import service


def test_beyond_loopback_only_a_bearer_token_gets_in_and_nothing_runs_without_one(
    tmp_path: Path,
) -> None:
    with (
        intercom(tmp_path) as (app, connection),
        served(mcp_args(connection), tmp_path / "err.txt", mcp_env()) as server,
    ):
        health = httpx.get(f"{server.base}/healthz", timeout=DEADLINE)
        assert (health.status_code, health.json()) == (200, {"status": "serving"})
        email = "ada-9f1c@example.com"
        with httpx.Client() as client:
            for token in (None, "wrong-token-0000000000", TOKENS[0][:-1], "x"):
                refused = call(client, server.url, "create_contact", {"email": email}, token)
                assert refused.status_code == 401, token
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert app.requests == 0, "a request without the token reached Intercom"
            # both tokens of the rotation are accepted, one after the other
            made = result_of(
                call(client, server.url, "create_contact", {"email": email}, TOKENS[0])
            )
            got = call(client, server.url, "get_contact", {"contact_id": made["id"]}, TOKENS[1])
            assert result_of(got)["email"] == email
    stderr = server.stderr()
    for secret in (*TOKENS, TOKEN):
        assert secret not in stderr
    assert email not in stderr, "an input's value was logged"
    lines = server.log_lines()
    requests = [line for line in lines if "status" in line]
    # a refused request is logged before its body is read: what it asked is not known
    assert [(r["tool"], r["status"]) for r in requests] == [
        *[(None, 401)] * 4,
        ("create_contact", 200),
        ("get_contact", 200),
    ]
    created = requests[-2]
    assert created["tool"] == "create_contact" and created["client"].startswith("127.0.0.1:")
    assert len(created["intercom_request_ids"]) >= 1 and created["duration_ms"] > 0
    assert all("time" in line for line in lines)
    assert "Plain HTTP beyond loopback" in stderr


def test_the_sdk_client_works_with_a_token_and_names_are_checked_when_given(
    tmp_path: Path,
) -> None:
    """The official client over a session (not stateless); --allowed-host limits the names."""
    args = [a for a in mcp_args(Path("x")) if a != "--stateless"]
    with intercom(tmp_path) as (_, connection):
        args[2] = str(connection)
        with served([*args, "--allowed-host", "mcp.example"], tmp_path / "e.txt", mcp_env()) as s:

            async def scenario() -> None:
                headers = {"Authorization": f"Bearer {TOKENS[1]}", "Host": "mcp.example"}
                with anyio.fail_after(DEADLINE):
                    async with (
                        httpx2.AsyncClient(headers=headers, timeout=DEADLINE) as http,
                        streamable_http_client(s.url, http_client=http) as streams,
                        ClientSession(*streams) as session,
                    ):
                        await session.initialize()
                        tags = await session.call_tool("list_tags", {})
                        assert not tags.is_error and tags.structured_content["type"] == "list"

            anyio.run(scenario)
            hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            auth = {"Authorization": f"Bearer {TOKENS[0]}"}
            other = httpx.post(s.url, json=hello, headers={**auth, "Host": "evil.example"})
            assert other.status_code in (403, 421)


def test_limits_answer_413_503_and_504_and_the_server_keeps_serving(tmp_path: Path) -> None:
    # the held calls must still be running when the third comes, on a loaded machine too
    limits = ["--max-body", "2000", "--request-timeout", "5", "--max-calls", "2"]
    with (
        intercom(tmp_path) as (app, connection),
        served(mcp_args(connection, *limits), tmp_path / "err.txt", mcp_env()) as server,
        httpx.Client() as client,
    ):
        big = call(client, server.url, "create_contact", {"email": "x" * 3000}, TOKENS[0])
        assert big.status_code == 413
        assert app.requests == 0
        # a first answer tells the client Intercom's rate-limit window: until then it sends
        # one request at a time
        assert result_of(call(client, server.url, "list_tags", {}, TOKENS[0]))["type"] == "list"
        assert app.arrived.acquire(timeout=DEADLINE)  # (that one)
        app.gate.clear()  # two calls held at Intercom: the server is at --max-calls
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(lambda: call(httpx.Client(), server.url, "list_tags", {},
                                             TOKENS[0])) for _ in range(2)]  # fmt: skip
            for _ in range(2):
                assert app.arrived.acquire(timeout=DEADLINE)
            busy = call(client, server.url, "list_tags", {}, TOKENS[0])
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
            # Intercom still holds them past --request-timeout: the gateway's 504
            for future in held:
                assert future.result().status_code == 504
                assert "no answer within 5 s" in future.result().text
        app.gate.set()
        assert result_of(call(client, server.url, "list_tags", {}, TOKENS[0]))["type"] == "list"
    statuses = [line["status"] for line in server.log_lines() if "status" in line]
    assert sorted(statuses) == [200, 200, 413, 503, 504, 504]


def test_sigterm_answers_the_20_calls_in_flight_then_exits_0(tmp_path: Path) -> None:
    with intercom(tmp_path) as (app, connection):
        args = mcp_args(connection, "--grace", "30")
        server_cm = served(args, tmp_path / "e.txt", mcp_env(), app.gate)
        with server_cm as server:
            # one answer first: until then the client sends one request at a time
            first = call(httpx.Client(), server.url, "list_tags", {}, TOKENS[0])
            assert result_of(first)["type"] == "list" and app.arrived.acquire(timeout=DEADLINE)
            app.gate.clear()
            with ThreadPoolExecutor(20) as pool:
                calls = [
                    pool.submit(
                        lambda: call(httpx.Client(), server.url, "list_tags", {}, TOKENS[0])
                    )
                    for _ in range(20)
                ]
                for _ in range(20):
                    assert app.arrived.acquire(timeout=DEADLINE), "a call never reached Intercom"
                server.process.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                with pytest.raises(httpx.TransportError):  # no new connection is taken
                    httpx.get(f"{server.base}/healthz", timeout=5)
                app.gate.set()
                answered = [result_of(future.result()) for future in calls]
            assert len(answered) == 20 and all(a["type"] == "list" for a in answered)
            assert server.process.wait(timeout=DEADLINE) == 0, server.stderr()


def test_past_the_grace_period_running_calls_are_answered_504_and_the_exit_is_1(
    tmp_path: Path,
) -> None:
    """SIGTERM with 3 calls that Intercom holds longer than --grace: when the grace period
    ends each is answered 504 (never left without an answer), the server says so in one
    line and exits 1 at once (not when Intercom answers): the drain did not complete."""
    with intercom(tmp_path) as (app, connection):
        args = mcp_args(connection, "--grace", "2")
        with served(args, tmp_path / "e.txt", mcp_env(), app.gate) as server:
            first = call(httpx.Client(), server.url, "list_tags", {}, TOKENS[0])
            assert result_of(first)["type"] == "list" and app.arrived.acquire(timeout=DEADLINE)
            app.gate.clear()  # Intercom holds every call until the end of the test
            with ThreadPoolExecutor(3) as pool:
                calls = [
                    pool.submit(lambda: call(httpx.Client(), server.url, "list_tags", {},
                                             TOKENS[0])) for _ in range(3)
                ]  # fmt: skip
                for _ in range(3):
                    assert app.arrived.acquire(timeout=DEADLINE), "a call never reached Intercom"
                server.process.send_signal(signal.SIGTERM)
                answers = [future.result(timeout=DEADLINE) for future in calls]
                assert [a.status_code for a in answers] == [504] * 3
                assert all("the grace period (2 s) ended" in a.text for a in answers)
                assert server.process.wait(timeout=DEADLINE) == 1, server.stderr()
            assert app.requests == 4  # nothing more went to Intercom
    lines = server.log_lines()
    assert [line["status"] for line in lines if "status" in line] == [200, 504, 504, 504]
    said = [line["message"] for line in lines if line.get("level") == "error"]
    assert said == ["the grace period (2 s) ended with 3 requests running: answered 504"]
    assert "Traceback" not in server.stderr()


def test_healthz_says_stopping_and_new_requests_get_503_once_stopping() -> None:
    async def inner(scope: service.Scope, receive: service.Receive, send: service.Send) -> None:
        raise AssertionError("nothing runs while stopping")

    guarded = service.Service(inner, service.ServiceOptions(), service.RequestLog())

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            guarded.stopping = True
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (503, {"status": "stopping"})
            refused = await client.post("/mcp", json={})
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"

    anyio.run(scenario)


def trickle(port: int, stop: threading.Event, begun: threading.Semaphore) -> float:
    """Send a request's headers one byte a second; how long until the server cut us off."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        for n, byte in enumerate(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
        ):
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            if n == 0:
                begun.release()
            if stop.wait(1.0):
                break
        sock.settimeout(5)
        try:
            while sock.recv(1024):
                pass
        except OSError:
            pass
    return time.monotonic() - started


@pytest.mark.parametrize("command", ["mcp", "listen"])
def test_a_client_trickling_its_headers_is_cut_off_without_holding_the_server(
    command: str, tmp_path: Path
) -> None:
    """100 clients sending their headers one byte a second (some 55 s each) while the
    server takes 2 requests at once: each is cut off after --read-timeout, and, while all
    100 are still connected, the others' requests are answered."""
    limits = ["--read-timeout", "15", "--max-calls", "2"]
    with intercom(tmp_path) as (_, connection):
        if command == "mcp":
            args, env = mcp_args(connection, *limits), mcp_env()
        else:
            args, env = listen_args(*limits), listen_env()
        with served(args, tmp_path / "e.txt", env) as server, httpx.Client() as client:

            def request(n: int) -> int:
                if command == "mcp":
                    return call(client, server.url, "list_tags", {}, TOKENS[0]).status_code
                body = notification(f"notif_meanwhile_{n}")
                return client.post(server.url, content=body, headers=signed(body)).status_code

            stop, begun = threading.Event(), threading.Semaphore(0)
            with ThreadPoolExecutor(100) as pool:
                slow = [pool.submit(trickle, server.port, stop, begun) for _ in range(100)]
                for _ in range(100):
                    assert begun.acquire(timeout=DEADLINE)
                answered = [request(n) for n in range(10)]
                assert not any(future.done() for future in slow), "a slow client was let go"
                assert answered == [200] * 10
                took = [future.result(timeout=DEADLINE) for future in slow]
                stop.set()
            # the headers would take some 55 s; the server cut each well before
            assert all(t < 40 for t in took), took


def test_the_listener_beyond_loopback_takes_each_signed_delivery_once_and_drains(
    tmp_path: Path,
) -> None:
    """A shorter run of bench/service.py's listener load: deliveries from 8 senders at
    once; every delivery answered 2xx is on stdout exactly once; SIGTERM exits 0."""
    out = tmp_path / "out.ndjson"
    with (
        out.open("wb") as stdout,
        served(listen_args(), tmp_path / "e.txt", listen_env(), stdout=stdout) as server,
    ):
        health = httpx.get(f"{server.base}/healthz", timeout=DEADLINE)
        assert health.json() == {"status": "serving"}

        def send(sender: int) -> list[str]:
            answered = []
            with httpx.Client(timeout=DEADLINE) as client:
                for n in range(150):
                    delivery_id = f"notif_{sender}_{n}"
                    body = notification(delivery_id)
                    if client.post(server.url, content=body, headers=signed(body)).is_success:
                        answered.append(delivery_id)
                # a replay of an accepted delivery is answered but not given again
                client.post(server.url, content=body, headers=signed(body))
            return answered

        with ThreadPoolExecutor(8) as pool:
            answered = [i for ids in pool.map(send, range(8)) for i in ids]
        unsigned = httpx.post(server.url, content=notification("x"), timeout=DEADLINE)
        assert unsigned.status_code == 401
        assert server.stop() == 0, server.stderr()
    given = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(answered) == 1200
    assert sorted(given) == sorted(answered), "a delivery answered 2xx is missing or doubled"
    requests = [line for line in server.log_lines() if "status" in line]
    assert sum(r["status"] == 200 for r in requests) == 1208
    assert all(r["tool"] == "intercom_webhook" for r in requests)
    assert WEBHOOK_SECRET not in server.stderr()


def test_the_listener_refuses_an_address_it_cannot_take_in_one_line() -> None:
    args = [*listen_args()[:-2], "--host", "256.1.1.1"]
    result = subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=listen_env(),
        cwd=REPO,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot listen on 256.1.1.1:0: ")
    assert "\n" not in result.stderr.strip()


def test_a_body_sent_too_slowly_is_answered_408(tmp_path: Path) -> None:
    with served(listen_args("--read-timeout", "2"), tmp_path / "e.txt", listen_env()) as server:
        body = notification("notif_slow")
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
            sock.sendall(head.encode() + body[:10])  # the headers at once, then the body stalls
            answer = b""
            while chunk := sock.recv(4096):  # to the end: the answer closes the connection
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"took longer than 2 s to arrive" in answer


def test_a_closed_output_stops_the_listener_without_a_traceback(tmp_path: Path) -> None:
    with served(listen_args(), tmp_path / "e.txt", listen_env(), stdout=subprocess.PIPE) as server:
        assert server.process.stdout is not None
        server.process.stdout.close()  # whoever read the events is gone
        body = notification("notif_lost")
        answer = httpx.post(server.url, content=body, headers=signed(body), timeout=DEADLINE)
        assert answer.status_code == 503  # not 2xx: the event did not go out
        assert server.process.wait(timeout=DEADLINE) == 0
    assert "Traceback" not in server.stderr()
    assert "the output is closed" in server.stderr()


def test_a_call_answered_504_sends_nothing_more_to_intercom(tmp_path: Path) -> None:
    """A Fetch All of one contact a page whose first page Intercom holds past
    --request-timeout: the client gets its 504, and once Intercom answers, the call sends
    no next page (it would read every page, for nobody)."""
    with (
        intercom(tmp_path) as (app, connection),
        served(
            mcp_args(connection, "--request-timeout", "2"), tmp_path / "e.txt", mcp_env()
        ) as server,
        httpx.Client() as client,
    ):
        app.gate.clear()
        arguments = {"fetch_all": True, "per_page": 1}
        late = call(client, server.url, "list_contacts", arguments, TOKENS[0])
        assert late.status_code == 504
        assert app.requests == 1
        app.gate.set()  # the first page comes now: the call goes on, alone
        time.sleep(2)
        assert app.requests == 1, "pages were asked for after the 504"
        # the same call with time enough reads several pages: the one above stopped
        assert len(result_of(call(client, server.url, "list_contacts", arguments, TOKENS[0]))[
            "data"]) > 1  # fmt: skip
        assert app.requests > 2


def test_allowed_hosts_take_a_port_or_any_and_loopback_refuses_other_names(
    tmp_path: Path,
) -> None:
    """On loopback without a token: the Host and Origin checks (DNS rebinding); an
    ``--allowed-host`` name alone accepts any port, a name with a port that port only."""
    names = ["--allowed-host", "lb.example", "--allowed-host", "proxy.example:8443"]
    with intercom(tmp_path) as (app, connection):
        args = [
            "mcp", "--connection", str(connection), "--http", "--port", "0", "--stateless",
            *names,
        ]  # fmt: skip
        with served(args, tmp_path / "e.txt", environment()) as server, httpx.Client() as client:

            def status(**headers: str) -> int:
                message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                accept = {"Accept": "application/json, text/event-stream"}
                return client.post(
                    server.url, json=message, headers={**accept, **headers}
                ).status_code

            accepted = ["127.0.0.1", f"localhost:{server.port}", "lb.example", "lb.example:443",
                        "proxy.example:8443"]  # fmt: skip
            for host in accepted:
                assert status(Host=host) == 200, host
            for host in ["evil.example", "evil.example:8443", "proxy.example", "proxy.example:9"]:
                assert status(Host=host) == 421, host
            assert status(Origin="https://proxy.example:8443", Host="proxy.example:8443") == 200
            assert status(Origin="http://evil.example") == 403
            assert app.requests == 0


def test_stateless_replicas_answer_requests_alternating_and_sessions_do_not(
    tmp_path: Path,
) -> None:
    """One client's requests alternate between two replicas, as a load balancer sends them:
    with --stateless each stands alone; without it, a session unknown to the replica
    answering is MCP's 404 (the client starts a new session)."""
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "balanced", "version": "1"}}}  # fmt: skip
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    headers = {"Accept": "application/json, text/event-stream",
               "Authorization": f"Bearer {TOKENS[0]}"}  # fmt: skip
    with intercom(tmp_path) as (_, connection):
        for stateless in (True, False):
            args = mcp_args(connection) if stateless else mcp_args(connection)[:-3]
            assert ("--stateless" in args) is stateless
            with (
                served(args, tmp_path / "a.txt", mcp_env()) as one,
                served(args, tmp_path / "b.txt", mcp_env()) as two,
                httpx.Client(headers=headers, timeout=DEADLINE) as client,
            ):
                urls = [one.url, two.url]
                started = client.post(urls[0], json=initialize)
                assert started.status_code == 200
                session = started.headers.get("mcp-session-id")
                assert (session is None) is stateless
                if session:
                    client.headers["mcp-session-id"] = session
                client.headers["mcp-protocol-version"] = "2025-06-18"
                answers = [client.post(urls[1], json=initialized)]
                for n in range(4):
                    arguments = {"email": f"balanced-{stateless:d}-{n}@example.com"}
                    answers.append(
                        call(client, urls[n % 2], "create_contact", arguments, TOKENS[0])
                    )
                if stateless:
                    # no stream of the server's own messages to open: one would only hold
                    # a connection (and the SIGTERM drain) open for nothing
                    stream = client.get(urls[0], headers={"Accept": "text/event-stream"})
                    assert (stream.status_code, stream.headers["Allow"]) == (405, "POST")
                    assert [a.status_code for a in answers] == [202, 200, 200, 200, 200]
                    emails = [result_of(a)["email"] for a in answers[1:]]
                    assert emails == [f"balanced-1-{n}@example.com" for n in range(4)]
                else:
                    assert [a.status_code for a in answers] == [404, 200, 404, 200, 404]
                    assert answers[0].json()["error"]["message"] == "Session not found"
