"""How long the client waits, and when it stops: on a fake clock, so no test sleeps.

A 429 waits as ``Retry-After`` (or else ``X-RateLimit-Reset``) says, up to a cap; a spent
window is waited out before the next request; no retry starts once the connection's Max
Retry Time has passed. A person at a terminal is told about a long wait.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import TOKEN, Recorder

from intercom_connector.hosts import cli
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.connection import connection_from_mapping
from intercom_connector.runtime.errors import RateLimitError, ServerError

NOW = 1_700_000_000.0
TAGS = {"type": "list", "data": []}


class FakeTime:
    """One clock for unix time and elapsed time that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


def client_on(recorder: Recorder, clock: FakeTime, **connection: Any) -> IntercomClient:
    settings = {"type": "access_token", "access_token": TOKEN, **connection}
    return IntercomClient(
        connection_from_mapping(settings),
        transport=httpx.MockTransport(recorder),
        sleep=clock.sleep,
        clock=clock.time,
        wall_clock=clock.time,
    )


def limited_then_ok(headers: dict[str, str]) -> Any:
    """A responder: one 429 with ``headers``, then the tags."""
    answers = iter([429, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        if next(answers, 200) == 429:
            body = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}
            return httpx.Response(429, json=body, headers=headers)
        return httpx.Response(200, json=TAGS)

    return answer


def test_a_429_waits_as_long_as_retry_after_says(recorder: Recorder) -> None:
    clock = FakeTime()
    recorder.respond("GET", "/tags", limited_then_ok({"Retry-After": "7"}))
    with client_on(recorder, clock) as client:
        assert client.request("GET", "/tags") == TAGS
    assert clock.sleeps == [7.0]
    assert len(recorder.requests) == 2


def test_a_429_with_both_headers_waits_as_retry_after_says(recorder: Recorder) -> None:
    """Retry-After is the answer's own instruction; the reset time is the window's, and may
    lie further ahead: the wait is Retry-After's (which wait, not how long a test takes)."""
    clock = FakeTime()
    both = {"Retry-After": "7", "X-RateLimit-Reset": str(int(NOW) + 30)}
    recorder.respond("GET", "/tags", limited_then_ok(both))
    with client_on(recorder, clock) as client:
        assert client.request("GET", "/tags") == TAGS
    assert clock.sleeps == [7.0]
    assert len(recorder.requests) == 2


def test_a_429_with_only_the_reset_header_waits_until_the_reset(recorder: Recorder) -> None:
    clock = FakeTime()
    reset = {"X-RateLimit-Reset": str(int(NOW) + 12)}
    recorder.respond("GET", "/tags", limited_then_ok(reset))
    with client_on(recorder, clock) as client:
        assert client.request("GET", "/tags") == TAGS
    assert clock.sleeps == [pytest.approx(12, abs=0.1)]
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "3600"}, {"X-RateLimit-Reset": str(int(NOW) + 3600)}]
)
def test_a_wait_beyond_the_cap_stops_after_one_request(
    headers: dict[str, str], recorder: Recorder
) -> None:
    clock = FakeTime()
    recorder.respond("GET", "/tags", limited_then_ok(headers))
    with client_on(recorder, clock) as client, pytest.raises(RateLimitError) as excinfo:
        client.request("GET", "/tags")
    assert excinfo.value.exit_code == 5
    assert len(recorder.requests) == 1
    assert clock.sleeps == []


def test_a_spent_window_is_waited_out_before_the_next_request(recorder: Recorder) -> None:
    clock = FakeTime()
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 9)}
    recorder.on("GET", "/tags", TAGS, headers=spent)
    with client_on(recorder, clock) as client:
        client.request("GET", "/tags")
        assert clock.sleeps == []
        client.request("GET", "/tags")
    assert clock.sleeps == [pytest.approx(9)]


def test_no_retry_starts_once_max_retry_time_has_passed(recorder: Recorder) -> None:
    clock = FakeTime()

    def slow_failure(request: httpx.Request) -> httpx.Response:
        clock.now += 10  # each attempt takes 10 s to fail
        return httpx.Response(503, json={"type": "error.list", "errors": [{"code": "busy"}]})

    recorder.respond("GET", "/tags", slow_failure)
    # Ten attempts allowed, but only 30 s: the third attempt ends past 30 s.
    with (
        client_on(recorder, clock, max_attempts=10, max_retry_seconds=30) as client,
        pytest.raises(ServerError, match=r"after 3 attempts"),
    ):
        client.request("GET", "/tags")
    assert len(recorder.requests) == 3


# -- the notice on a terminal ---------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """Undo what the CLI's logging set-up does to the process-wide loggers."""
    names = ("intercom_connector", "intercom_connector.http", "httpx")
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).handlers[:]) for name in names
    }
    yield
    for name, (level, handlers) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "12"}, {"X-RateLimit-Reset": str(int(NOW) + 12)}],
)
def test_a_rate_limit_wait_is_announced_on_a_terminal(
    headers: dict[str, str],
    recorder: Recorder,
    cli_logging: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli._configure_logging(verbose=False)
    recorder.respond("GET", "/tags", limited_then_ok(headers))
    with client_on(recorder, FakeTime()) as client:
        client.request("GET", "/tags")
    assert stderr.getvalue() == "waiting 12 s for Intercom's rate-limit window...\n"


def test_a_spent_window_is_announced_on_a_terminal(
    recorder: Recorder, cli_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli._configure_logging(verbose=False)
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 12)}
    recorder.on("GET", "/tags", TAGS, headers=spent)
    with client_on(recorder, FakeTime()) as client:
        client.request("GET", "/tags")
        client.request("GET", "/tags")
    assert stderr.getvalue() == "waiting 12 s for Intercom's rate-limit window...\n"


def test_no_notice_when_stderr_is_not_a_terminal(
    recorder: Recorder, cli_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli._configure_logging(verbose=False)
    recorder.respond("GET", "/tags", limited_then_ok({"Retry-After": "12"}))
    clock = FakeTime()
    with client_on(recorder, clock) as client:
        client.request("GET", "/tags")
    assert clock.sleeps == [12.0]  # it did wait
    assert stderr.getvalue() == ""


def test_short_waits_are_not_announced(
    recorder: Recorder, cli_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli._configure_logging(verbose=False)
    recorder.respond("GET", "/tags", limited_then_ok({"Retry-After": "0"}))
    with client_on(recorder, FakeTime()) as client:
        client.request("GET", "/tags")
    assert stderr.getvalue() == ""


def test_a_window_shared_with_other_workers_keeps_their_room_even_from_an_old_report(
    recorder: Recorder,
) -> None:
    """A worker of a bulk run on Temporal leaves room for the other workers' requests it
    cannot see. Its latest report (10 left) is older than a round trip: the other workers
    may have spent those 10, so it waits for the next window rather than probe the spent
    one (each probe would be a 429). Alone, the same report lets the request go."""
    reset = int(NOW) + 10
    remaining = iter([10, 9, 499])

    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 0.02  # the round trip
        headers = {
            "X-RateLimit-Limit": "500",
            "X-RateLimit-Remaining": str(next(remaining)),
            "X-RateLimit-Reset": str(reset if clock.now < reset else reset + 10),
        }
        return httpx.Response(200, json=TAGS, headers=headers)

    recorder.respond("GET", "/tags", answer)
    clock = FakeTime()
    with client_on(recorder, clock) as alone:
        alone.request("GET", "/tags")
        clock.now += 1.0  # idle a while: the report is old
        alone.request("GET", "/tags")
    assert clock.sleeps == []  # alone, what it saw left is its own
    clock, remaining = FakeTime(), iter([10, 499])
    with client_on(recorder, clock) as shared:
        shared.leave_room(10)
        shared.request("GET", "/tags")
        clock.now += 1.0
        shared.request("GET", "/tags")
    assert clock.sleeps == [pytest.approx(reset - (NOW + 1.02))]  # the window waited out


def test_workers_sharing_a_window_provoke_no_429(caplog: pytest.LogCaptureFixture) -> None:
    """Two workers' clients (as two processes would have), four calls side by side each,
    over a workspace allowing 40 requests a 1-second window: every call succeeds and no
    request is answered 429, each leaving room for the other's requests in flight."""
    import threading

    from intercom_connector.runtime.shim import Connector
    from intercom_connector.sandbox import Sandbox, serve

    caplog.set_level(logging.DEBUG, logger="intercom_connector.http")
    sandbox = Sandbox(":memory:", rate_limit=40, rate_window=1.0)
    with serve(sandbox) as server:
        settings = {"type": "access_token", "access_token": "sandbox-token", "base_url": server.url}
        workers = [Connector(settings) for _ in range(2)]
        for worker in workers:
            worker.client.leave_room(2 * 8)  # the run's eight calls in flight, twice

        def calls(worker: Connector) -> None:
            for _ in range(25):
                worker.invoke("list_tags")

        threads = [threading.Thread(target=calls, args=(w,)) for w in workers for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for worker in workers:
            worker.close()
    answers = [r.getMessage().split()[1] for r in caplog.records if r.getMessage()[:2] == "<-"]
    assert len(answers) == 200 and set(answers) == {"200"}, sorted(set(answers))
