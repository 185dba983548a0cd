"""Reliability against the sandbox's fault mode over loopback, and streaming Fetch All."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from support import Recorder, read_terminal, run_cli

from intercom_connector import Connector
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.runtime.errors import ConnectorError, RateLimitError
from intercom_connector.sandbox import Faults, Sandbox, ServerHandle, serve

FAULTS = Faults(
    error_rate=0.10,
    rate_limit_rate=0.05,
    drop_rate=0.02,
    latency=(0.0, 0.003),
    seed=11,
    retry_after=0,  # a 429 that says "retry now", so the tests do not sleep
)
PATIENT = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_cap=0.05)


def connection(server: ServerHandle, token: str = "sandbox-token") -> dict[str, str]:
    return {"type": "access_token", "access_token": token, "base_url": server.url}


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[Sandbox, ServerHandle]]:
    sandbox = Sandbox(":memory:", seed=False, faults=FAULTS)
    sandbox.add_contacts(5_000)
    with serve(sandbox) as server:
        yield sandbox, server


def test_fetch_all_under_faults_returns_every_contact_once(
    faulty: tuple[Sandbox, ServerHandle],
) -> None:
    sandbox, server = faulty
    with Connector(connection(server), retry=PATIENT) as intercom:
        result = intercom.invoke("list_contacts", {"fetch_all": True, "per_page": 50})
    ids = [c["id"] for c in result["data"]["data"]]
    assert len(ids) == 5_000 and len(set(ids)) == 5_000
    with sandbox.store.transaction() as db:
        stored = {row[0] for row in db.execute("SELECT id FROM contacts")}
    assert set(ids) == stored


def test_writes_under_faults_never_duplicate_and_always_say_what_happened(
    faulty: tuple[Sandbox, ServerHandle],
) -> None:
    sandbox, server = faulty
    outcomes: dict[str, int] = {"ok": 0, "error": 0}
    with Connector(connection(server), retry=PATIENT) as intercom:
        for number in range(250):
            email = f"faulty-{number}@example.com"
            try:
                contact = intercom.invoke("create_contact", {"email": email})["data"]
                intercom.invoke("update_contact", {"contact_id": contact["id"], "name": "Updated"})
                outcomes["ok"] += 1
            except ConnectorError as error:
                # a lost answer to a create is settled (Intercom keeps one user per email:
                # sent again, its 409 names the contact made) or reported as unknown
                assert "Intercom answered" in str(error) or "outcome is unknown" in str(error)
                outcomes["error"] += 1
    with sandbox.store.transaction() as db:
        rows = db.execute(
            "SELECT email, COUNT(*) FROM contacts WHERE email LIKE 'faulty-%' GROUP BY email"
        ).fetchall()
    assert all(count == 1 for _, count in rows)  # no duplicate record
    assert outcomes["ok"] >= 150  # most succeed; the rest failed loudly
    assert outcomes["ok"] + outcomes["error"] == 250


def test_a_rate_limited_loop_never_surfaces_a_429_and_keeps_to_the_limit() -> None:
    calls = 2_000

    def loop(sandbox: Sandbox) -> float:
        with serve(sandbox) as server, Connector(connection(server)) as intercom:
            started = time.monotonic()
            try:
                for _ in range(calls):
                    intercom.invoke("list_tags")
            except RateLimitError as error:  # pragma: no cover - the assertion below explains
                pytest.fail(f"a RateLimitError reached the caller: {error}")
            return time.monotonic() - started

    unlimited = loop(Sandbox(":memory:"))  # what the calls take here, without waiting
    elapsed = loop(Sandbox(":memory:", rate_limit=400, rate_window=1.0))
    # 400 a second in windows aligned to the clock: 2,000 calls span 5 windows, the first
    # of them partly gone already, so the limit itself imposes between 3 and 4 seconds of
    # waiting, on top of what the calls take (a loaded machine stretches that part only).
    assert 3.0 <= elapsed <= 4.0 * 1.25 + unlimited


def test_fetch_all_streams_records_before_the_last_page_is_asked_for(
    recorder: Recorder, connector: Connector
) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("starting_after") or 0)
        pages = {"type": "pages", "per_page": 2}
        if number < 9:
            pages["next"] = {"per_page": 2, "starting_after": str(number + 1)}
        data = [{"id": f"{number}-a"}, {"id": f"{number}-b"}]
        return httpx.Response(200, json={"type": "list", "data": data, "pages": pages})

    recorder.respond("GET", "/contacts", page)
    records = iter(connector.stream("list_contacts", {"fetch_all": True, "per_page": 2}))
    assert next(records)["id"] == "0-a"
    assert len(recorder.requests) <= 2  # the first page, and at most one fetched ahead
    assert len(list(records)) == 19


def cli_ndjson(server: ServerHandle, stderr: int | None) -> subprocess.CompletedProcess[str]:
    env = {"INTERCOM_ACCESS_TOKEN": "sandbox-token", "INTERCOM_BASE_URL": server.url}
    return run_cli(
        "run", "list_contacts", "-i", "fetch_all=true", "-i", "per_page=150",
        "--output", "ndjson", env=env, timeout=120, stderr=stderr,
    )  # fmt: skip


def test_ndjson_output_and_progress_only_on_a_terminal() -> None:
    sandbox = Sandbox(":memory:", seed=False)
    sandbox.add_contacts(1_000)
    with serve(sandbox) as server:
        piped = cli_ndjson(server, None)
        assert piped.returncode == 0, piped.stderr
        lines = piped.stdout.splitlines()
        assert len(lines) == 1_000 and len({json.loads(line)["id"] for line in lines}) == 1_000
        assert piped.stderr == ""  # stderr is not a terminal: no progress display
        leader, follower = pty.openpty()
        on_terminal = cli_ndjson(server, follower)
        os.close(follower)
        shown = read_terminal(leader)
    assert on_terminal.returncode == 0
    assert b"1,000 records, 7 pages in" in shown
    assert on_terminal.stdout.count("\n") == 1_000 and "records" not in on_terminal.stdout
