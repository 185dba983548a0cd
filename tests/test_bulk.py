"""Bulk runs: one action per row, side by side within the rate limit, resumable by journal.

Behaviour is tested here (order, a bad row among good ones, exit status, 429s avoided, a
run killed and started again); how fast it goes is measured in bench/.
"""

from __future__ import annotations

import codecs
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO, TOKEN, LoopbackIntercom, Recorder, body_of, read_terminal, run_cli

from intercom_connector import Connector
from intercom_connector.runtime.bulk import Journal
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.connection import connection_from_mapping
from intercom_connector.sandbox import Faults, Sandbox, ServerHandle

CONNECTION = {"type": "access_token", "access_token": TOKEN}


cli = run_cli


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def sandbox_env(server: ServerHandle) -> dict[str, str]:
    return {"INTERCOM_ACCESS_TOKEN": "sandbox-token", "INTERCOM_BASE_URL": server.url}


def emails_in(sandbox: Sandbox, prefix: str) -> dict[str, int]:
    with sandbox.store.transaction() as db:
        rows = db.execute(
            "SELECT email, COUNT(*) FROM contacts WHERE email LIKE ? GROUP BY email",
            (f"{prefix}%",),
        ).fetchall()
    return dict(rows)


# -- order and concurrency --------------------------------------------------------------


def test_results_come_in_the_rows_order_while_the_calls_run_side_by_side() -> None:
    """After the first call (which learns the rate-limit window), eight calls are held
    until all eight have arrived (they ran side by side), then answered last row first:
    the results still come in the rows' order."""
    arrived: list[int] = []
    lock = threading.Lock()
    everyone = threading.Event()
    turns = {n: threading.Event() for n in range(2, 10)}

    def answer(request: httpx.Request) -> httpx.Response:
        row = int(request.url.path.rsplit("/", 1)[1])
        if row > 1:
            with lock:
                arrived.append(row)
                if len(arrived) == 8:
                    everyone.set()
            assert everyone.wait(10), f"only rows {arrived} arrived side by side"
            if row + 1 in turns:
                assert turns[row + 1].wait(10)
            turns[row].set()  # row N is answered only after row N+1 was
        return httpx.Response(200, json={"type": "contact", "id": str(row)})

    recorder = Recorder()
    recorder.respond("GET", "/contacts/.*", answer)
    rows = [{"contact_id": str(n)} for n in range(1, 10)]
    with Connector(CONNECTION, transport=httpx.MockTransport(recorder)) as intercom:
        results = list(intercom.bulk("get_contact", rows, concurrency=8))
    assert [r["row"] for r in results] == list(range(1, 10))
    assert [r["data"]["id"] for r in results] == [str(n) for n in range(1, 10)]


@pytest.mark.parametrize("concurrency", [2, 5, 24])  # below and above the default (16)
def test_the_server_sees_as_many_requests_at_once_as_concurrency_allows(
    concurrency: int, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """Counted at the server over real sockets: each request is held until ``concurrency``
    are in flight (or all the rows not yet answered are; or a while has passed: on a loaded
    machine 24 first connections take seconds), so fewer side by side never reach it and
    more go past it."""
    state = threading.Condition()
    in_flight = [0]
    peak = [0]
    total, answered = 30, [0]

    def answer(request: httpx.Request) -> httpx.Response:
        with state:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            state.notify_all()
            state.wait_for(
                lambda: in_flight[0] >= min(concurrency, total - answered[0]), timeout=10.0
            )
        time.sleep(0.02)  # still in flight while the others arrive
        with state:
            in_flight[0] -= 1
            answered[0] += 1
            state.notify_all()
        return httpx.Response(200, json={"type": "contact", "id": request.url.path[10:]})

    recorder.respond("GET", "/contacts/.*", answer)
    rows = tmp_path / "rows.csv"
    rows.write_text("contact_id\n" + "".join(f"{n}\n" for n in range(1, total + 1)))
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    done = cli("run", "get_contact", "--each", str(rows), "--concurrency", str(concurrency),
               env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["data"]["id"] for r in lines(done.stdout)] == [str(n) for n in range(1, total + 1)]
    assert peak[0] == concurrency


def test_rows_are_merged_over_the_inputs_given_to_all() -> None:
    recorder = Recorder()
    recorder.on("POST", "/contacts", {"type": "contact", "id": "1"})
    rows = [{"email": "a@example.com"}, {"email": "b@example.com", "role": "lead"}, {"role": ""}]
    with Connector(CONNECTION, transport=httpx.MockTransport(recorder)) as intercom:
        list(intercom.bulk("create_contact", rows, inputs={"role": "user", "name": "Same"}))
    bodies = sorted((body_of(r) for r in recorder.requests), key=lambda b: b.get("email", ""))
    assert [(b.get("email"), b["role"], b["name"]) for b in bodies] == [
        (None, "user", "Same"),  # an empty value leaves the shared one in place
        ("a@example.com", "user", "Same"),
        ("b@example.com", "lead", "Same"),
    ]


# -- bad rows and exit status -------------------------------------------------------------


def test_a_bad_row_is_reported_and_the_others_still_run(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    def create(request: httpx.Request) -> httpx.Response:
        email = body_of(request)["email"]
        if email == "taken@example.com":
            error = {"code": "conflict", "message": "A contact matching those details exists"}
            return httpx.Response(409, json={"type": "error.list", "errors": [error]})
        return httpx.Response(200, json={"type": "contact", "id": email})

    recorder.respond("POST", "/contacts", create)
    rows = "\n".join(
        [
            '{"email": "one@example.com"}',
            '{"email": ""}',
            '{"email": "taken@example.com"}',
            '{"email": "two@example.com", "signed_up_at": "yesterday"}',
            "",
            '{"email": "three@example.com"}',
        ]
    )
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    done = cli("run", "create_contact", "--each", "-", env=env, stdin=rows)
    results = lines(done.stdout)
    assert [r["row"] for r in results] == [1, 2, 3, 4, 5]
    assert results[0]["data"]["id"] == "one@example.com"
    assert results[1]["error"]["exit_code"] == 2 and "Email" in results[1]["error"]["message"]
    assert (
        results[2]["error"]["exit_code"] == 4 and results[2]["error"]["type"] == "IntercomAPIError"
    )
    assert results[3]["error"]["exit_code"] == 2
    assert "Signed Up At" in results[3]["error"]["message"]  # by label, like any bad input
    assert results[4]["data"]["id"] == "three@example.com"
    assert done.returncode == 4  # Intercom's refusal is more serious than a bad row
    sent = sorted(body_of(r)["email"] for r in recorder.requests)
    assert sent == ["one@example.com", "taken@example.com", "three@example.com"]
    assert TOKEN not in done.stdout + done.stderr


def test_csv_rows_and_the_exit_status_of_the_most_serious_failure(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/contacts/ok", {"type": "contact", "id": "ok"})
    failing = {"type": "error.list", "errors": [{"code": "server_error", "message": "down"}]}
    recorder.on("GET", "/contacts/down", failing, status=503)
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({**CONNECTION, "base_url": loopback.url, "max_attempts": 1}))
    connection.chmod(0o600)
    rows = tmp_path / "rows.csv"
    rows.write_text("contact_id\nok\n\ndown\nok\n")
    done = cli("run", "get_contact", "--each", str(rows), "--connection", str(connection), env={})
    results = lines(done.stdout)
    assert [("data" in r, r.get("error", {}).get("exit_code")) for r in results] == [
        (True, None),
        (False, 5),
        (True, None),
    ]
    assert done.returncode == 5


UNREADABLE = {
    # the issue's file: row 2's quote never closes; csv read rows 3-5 into its name
    "csv-unclosed-quote": (
        "q.csv",
        b'email,name\na@example.com,Q1\nb@example.com,"Q2 oops\nc@example.com,Q3\n'
        b"d@example.com,Q4\ne@example.com,Q5\n",
        "row 2 (line 3) opens a quote that is never closed",
    ),
    "csv-text-after-a-quote": (
        "q.csv",
        b'email,name\na@example.com,Q1\nb@example.com,"Q2" oops\nc@example.com,Q3\n',
        "row 2 (line 3) is not CSV text",
    ),
    "csv-more-cells": (
        "q.csv",
        b"email,name\na@example.com,Q1\nb@example.com,Q2,extra\n",
        "row 2 (line 3) has 3 cells, but the header names 2 inputs",
    ),
    "csv-fewer-cells": (
        "q.csv",
        b"email,name\na@example.com,Q1\nQ2\nc@example.com,Q3\n",
        "row 2 (line 3) has 1 cells, but the header names 2 inputs",
    ),
    "csv-not-utf8": (
        "q.csv",
        b"email,name\na@example.com,Q1\nb@example.com,Gr\xfcn\n",
        "line 3 is not UTF-8 text",
    ),
    "ndjson-bad-line": (
        "q.ndjson",
        b'{"email": "a@example.com"}\n\n{"email": "b@example.com"\n{"email": "c@example.com"}\n',
        "row 2 (line 3) is not valid JSON",
    ),
    "ndjson-not-an-object": (
        "q.ndjson",
        b'{"email": "a@example.com"}\n["b@example.com"]\n',
        "row 2 (line 2) is list, not a JSON object",
    ),
    "ndjson-not-utf8": (  # was "not valid JSON (str is not valid UTF-8: surrogates ...)"
        "q.ndjson",
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "name": "Gr\xfcn"}\n',
        "line 2 is not UTF-8 text, nothing was sent: save it as UTF-8",
    ),
    "ndjson-a-key-twice": (  # JSON keeps the last silently: which one was meant?
        "q.ndjson",
        b'{"email": "a@example.com"}\n{"email": "b@example.com","email":"c@example.com"}\n',
        "row 2 (line 2) gives 'email' twice",
    ),
    "ndjson-a-nested-key-twice": (
        "q.ndjson",
        b'{"email": "a@example.com", "custom_attributes": {"plan": "a", "plan" : "b"}}\n',
        "row 1 (line 1) gives 'plan' twice",
    ),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_a_row_that_cannot_be_read_refuses_the_whole_file_before_anything_is_sent(
    case: str, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """No row is merged into another nor skipped: the rows before the bad one are not
    sent either, so the file can be corrected and run whole."""
    recorder.on("POST", "/contacts", {"type": "contact", "id": "1"})
    name, content, said = UNREADABLE[case]
    rows = tmp_path / name
    rows.write_bytes(content)
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    for source, stdin in ((str(rows), None), ("-", content.decode("utf-8", "surrogateescape"))):
        if stdin is not None and "utf8" in case:
            continue  # text mode cannot carry the bad bytes; the file case covers it
        done = cli("run", "create_contact", "--each", source, env=env, stdin=stdin)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert said in done.stderr and "nothing was sent" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("name", "content"), [("rows.csv", "email\n"), ("rows.ndjson", ""), ("rows.ndjson", "\n\n")]
)
def test_a_file_without_rows_says_so_and_sends_nothing(
    name: str, content: str, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """An empty export is no error (exit 0), but never a silent run of nothing."""
    rows = tmp_path / name
    rows.write_text(content)
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    done = cli("run", "create_contact", "--each", str(rows), env=env)
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"note: --each {rows}: no rows, nothing to run\n"
    assert recorder.requests == []


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_ndjson_with_a_byte_order_mark_runs_as_csv_with_one_does(
    line_end: str, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """Some editors start UTF-8 files with a byte order mark: CSV rows ran, NDJSON rows
    were refused as "not valid JSON"."""
    recorder.on("POST", "/contacts", {"type": "contact", "id": "1"})
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    for name, text in (
        ("rows.ndjson", '{"email": "a@example.com"}' + line_end + '{"email": "b@example.com"}'),
        ("rows.csv", "email" + line_end + "a@example.com" + line_end + "b@example.com"),
    ):
        rows = tmp_path / name
        rows.write_bytes(codecs.BOM_UTF8 + (text + line_end).encode())
        done = cli("run", "create_contact", "--each", str(rows), env=env)
        assert done.returncode == 0, done.stderr
        assert [r["row"] for r in lines(done.stdout)] == [1, 2]
    sent = [json.loads(r.content)["email"] for r in recorder.requests]
    assert sorted(sent) == ["a@example.com", "a@example.com", "b@example.com", "b@example.com"]


def test_a_file_that_cannot_be_read_is_refused_in_one_line(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    for path, said in ((tmp_path, "Is a directory"), (tmp_path / "none.csv", "No such file")):
        done = cli("run", "create_contact", "--each", str(path), env=env)
        assert (done.returncode, done.stdout) == (2, "")
        assert said in done.stderr and str(path) in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert recorder.requests == []


def test_a_csv_header_naming_no_input_fails_before_anything_is_sent(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    done = cli("run", "create_contact", "--each", "-", env=env, stdin="emial\nada@example.com\n")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "'emial'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert recorder.requests == []


def test_a_refused_token_stops_the_rows_that_follow(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    refused = {"type": "error.list", "errors": [{"code": "unauthorized", "message": "no"}]}
    recorder.on("GET", "/contacts/.*", refused, status=401)
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    rows = "\n".join(json.dumps({"contact_id": str(n)}) for n in range(200))
    done = cli("run", "get_contact", "--each", "-", "--concurrency", "4", env=env, stdin=rows)
    results = lines(done.stdout)
    assert len(results) == 200 and all(r["error"]["exit_code"] == 3 for r in results)
    assert len(recorder.requests) <= 8  # those already on their way, not 200
    assert done.returncode == 3


# -- the rate limit -------------------------------------------------------------------------


class LimitedIntercom:
    """A server with Intercom's windows on a fake clock that moves only when the client
    waits: LIMIT requests a window, the rest answered 429."""

    LIMIT = 10
    WINDOW = 10.0

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.lock = threading.Lock()
        self.window_end = self.now + self.WINDOW
        self.count = 0
        self.refused = 0
        self.windows_used = 1
        self.in_flight = 0
        self.most_in_flight = 0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def time(self) -> float:
        return self.now

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.002)  # long enough for the calls to overlap
        with self.lock:
            self.in_flight -= 1
            if self.now >= self.window_end:
                self.window_end += self.WINDOW * ((self.now - self.window_end) // self.WINDOW + 1)
                self.count = 0
                self.windows_used += 1
            self.count += 1
            headers = {
                "X-RateLimit-Limit": str(self.LIMIT),
                "X-RateLimit-Remaining": str(max(0, self.LIMIT - self.count)),
                "X-RateLimit-Reset": str(int(self.window_end)),
            }
            if self.count > self.LIMIT:
                self.refused += 1
                body = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}
                return httpx.Response(429, json=body, headers=headers)
        contact = {"type": "contact", "id": request.url.path.rsplit("/", 1)[1]}
        return httpx.Response(200, json=contact, headers=headers)


def test_calls_side_by_side_stay_within_the_window_and_provoke_no_429() -> None:
    server = LimitedIntercom()
    rows = [{"contact_id": str(n)} for n in range(45)]
    with Connector(CONNECTION) as intercom:
        intercom._client = IntercomClient(  # the same client on the server's fake clock
            connection_from_mapping(CONNECTION),
            transport=httpx.MockTransport(server),
            sleep=server.sleep,
            clock=server.time,
            wall_clock=server.time,
        )
        results = list(intercom.bulk("get_contact", rows, concurrency=8))
    assert [r["data"]["id"] for r in results] == [str(n) for n in range(45)]
    assert server.refused == 0
    assert server.windows_used == 5  # 45 calls, 10 a window: every window filled
    assert server.most_in_flight > 1


# -- the journal ---------------------------------------------------------------------------


class Busy:
    """A WSGI app counting the requests it is answering (the sandbox's, around it)."""

    def __init__(self, app: Any) -> None:
        self.app, self.now, self.lock = app, 0, threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self.lock:
            self.now += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.now -= 1

    def wait_idle(self, quiet: float = 0.2, seconds: float = 30) -> None:
        """Until no request has been in progress for ``quiet`` seconds (a loaded machine
        may take long to finish what a killed client had sent)."""
        deadline, idle_since = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            if self.now:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= quiet:
                return
            time.sleep(0.01)
        raise AssertionError(f"the sandbox still had {self.now} requests after {seconds} s")


@pytest.fixture
def slow_sandbox() -> Iterator[tuple[Sandbox, ServerHandle, Busy]]:
    """A sandbox answering after 50 ms, so that a run killed has requests on their way."""
    sandbox = Sandbox(":memory:", seed=False, faults=Faults(latency=0.05))
    busy = Busy(sandbox.app)
    with ServerHandle(busy, "127.0.0.1", 0, threads=8) as server:
        yield sandbox, server, busy


def journal_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_bytes().splitlines()[1:]:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by the kill
    return entries


def names_in(sandbox: Sandbox, prefix: str) -> dict[str, int]:
    with sandbox.store.transaction() as db:
        rows = db.execute(
            "SELECT json_extract(body, '$.name') AS name, COUNT(*) FROM contacts "
            "WHERE name LIKE ? GROUP BY name",
            (f"{prefix}%",),
        ).fetchall()
    return dict(rows)


def kill_row(n: int) -> dict[str, str]:
    """Odd rows are users with an email (Intercom keeps one per email), even rows leads with
    only a name (nothing tells whether a lost create of one was made)."""
    if n % 2:
        return {"email": f"kill-{n}@example.com", "name": f"kill-{n}"}
    return {"role": "lead", "name": f"kill-{n}"}


def test_a_run_killed_and_started_again_never_repeats_a_create(
    slow_sandbox: tuple[Sandbox, ServerHandle, Busy], tmp_path: Path
) -> None:
    sandbox, server, busy = slow_sandbox
    journal = tmp_path / "import.journal"
    rows = tmp_path / "rows.ndjson"
    count = 80
    rows.write_text("".join(json.dumps(kill_row(n)) + "\n" for n in range(1, count + 1)))
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    args = [sys.executable, "-m", "intercom_connector", "run", "create_contact",
            "--each", str(rows), "--journal", str(journal), "--concurrency", "8"]  # fmt: skip
    first = subprocess.Popen(
        args, env={**base, **sandbox_env(server)}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not journal.exists() or sum("result" in e for e in journal_entries(journal)) < 12:
        assert time.monotonic() < deadline and first.poll() is None, "the run did not get going"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    entries = journal_entries(journal)
    finished = {e["row"] for e in entries if "result" in e}
    in_doubt = {e["row"] for e in entries if "sent" in e} - finished
    assert 12 <= len(finished) < count
    assert in_doubt, "the kill left no request on its way"
    busy.wait_idle()  # what the server still had on its way gets done

    again = cli("run", "create_contact", "--each", str(rows), "--journal", str(journal),
                env=sandbox_env(server))  # fmt: skip
    results = lines(again.stdout)
    assert [r["row"] for r in results] == list(range(1, count + 1))
    unknown = {r["row"] for r in results if "error" in r}
    # a lead whose answer was lost is reported unknown, and nothing else: a user's create
    # was sent again and settled by its email
    assert unknown == {n for n in in_doubt if n % 2 == 0}
    for row in unknown:
        error = results[row - 1]["error"]
        assert error["outcome_unknown"] is True and error["exit_code"] == 5
        assert "outcome is unknown" in error["message"]
    stored = emails_in(sandbox, "kill-")
    assert stored == {f"kill-{n}@example.com": 1 for n in range(1, count + 1, 2)}  # each once
    for n in range(1, count + 1, 2):  # every user done, with the contact Intercom holds
        assert results[n - 1]["data"]["email"] == f"kill-{n}@example.com"
    assert set(names_in(sandbox, "kill-").values()) == {1}  # no lead made twice either
    assert again.returncode == (5 if unknown else 0)

    third = cli("run", "create_contact", "--each", str(rows), "--journal", str(journal),
                env=sandbox_env(server))  # fmt: skip
    assert lines(third.stdout) == results  # nothing sent again: the same results
    assert emails_in(sandbox, "kill-") == stored


def test_a_row_waiting_for_the_rate_limit_window_is_not_recorded_as_sent(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """Intercom's window has room for 4 creates, then resets in two minutes: the other rows
    wait. Killed then (kill -9) and started again, the run reports no row "outcome unknown"
    that never left: only a request written to the connection is recorded as sent."""
    received: list[str] = []
    limited = threading.Event()
    limited.set()
    lock = threading.Lock()

    def create(request: httpx.Request) -> httpx.Response:
        with lock:
            received.append(body_of(request)["name"])
            count = len(received)
        headers = {}
        if limited.is_set():
            headers = {
                "X-RateLimit-Limit": "4",
                "X-RateLimit-Remaining": str(max(0, 4 - count)),
                "X-RateLimit-Reset": str(int(time.time()) + 120),
            }
        contact = {"type": "contact", "id": f"c{count}", "name": body_of(request)["name"]}
        return httpx.Response(200, json=contact, headers=headers)

    recorder.respond("POST", "/contacts", create)
    journal = tmp_path / "import.journal"
    rows = tmp_path / "leads.ndjson"  # leads: nothing tells whether a lost create was made
    count = 12
    rows.write_text("".join(json.dumps({"role": "lead", "name": f"lead-{n}"}) + "\n"
                            for n in range(1, count + 1)))  # fmt: skip
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
           "INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}  # fmt: skip
    args = [sys.executable, "-m", "intercom_connector", "run", "create_contact", "--each",
            str(rows), "--journal", str(journal), "--concurrency", "8"]  # fmt: skip
    first = subprocess.Popen(
        args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not journal.exists() or sum("result" in e for e in journal_entries(journal)) < 4:
        assert time.monotonic() < deadline and first.poll() is None, "the run did not get going"
        time.sleep(0.02)
    time.sleep(0.5)  # the other rows reach the window and wait there
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert len(received) == 4, "the rows did not wait for the window"
    entries = journal_entries(journal)
    recorded = {e["row"] for e in entries if "sent" in e}
    left = {int(name.removeprefix("lead-")) for name in received}
    assert recorded == left, "rows that never left were recorded as sent"

    limited.clear()
    again = cli("run", "create_contact", "--each", str(rows), "--journal", str(journal), env=env)
    results = lines(again.stdout)
    assert [r["row"] for r in results] == list(range(1, count + 1))
    assert [r for r in results if "error" in r] == []  # nothing "outcome unknown"
    assert sorted(received) == sorted(f"lead-{n}" for n in range(1, count + 1))  # each once
    assert again.returncode == 0


def test_a_journal_that_cannot_be_written_stops_the_run_in_one_line(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """A read-only folder: refused before any request. A disk that fills up during the run
    (no file may grow past 700 bytes): the run stops in one line naming the journal, exit
    5 (not bad input), no row is sent that the journal could not record, and the run
    started again (space freed) makes every lead once."""
    made: list[str] = []

    def create(request: httpx.Request) -> httpx.Response:
        made.append(body_of(request)["name"])
        return httpx.Response(200, json={"type": "contact", "id": str(len(made))})

    recorder.respond("POST", "/contacts", create)
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    rows = tmp_path / "leads.ndjson"
    count = 30
    rows.write_text("".join(json.dumps({"role": "lead", "name": f"lead-{n}"}) + "\n"
                            for n in range(1, count + 1)))  # fmt: skip
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    journal = folder / "import.journal"
    done = cli("run", "create_contact", "--each", str(rows), "--journal", str(journal),
               env=env, unprivileged=True)  # fmt: skip
    assert (done.returncode, done.stdout) == (5, "")
    assert done.stderr.strip() == f"error: journal {journal}: cannot be written (Permission denied)"
    assert made == []

    journal = tmp_path / "import.journal"
    args = ("run", "create_contact", "--each", str(rows), "--journal", str(journal))
    full = cli(*args, "--concurrency", "4", env=env, file_size_limit=700)
    assert full.returncode == 5, full.stderr
    assert full.stderr.strip() == f"error: journal {journal}: cannot be written (File too large)"
    assert 0 < len(lines(full.stdout)) < count
    recorded = {f"lead-{e['row']}" for e in journal_entries(journal) if "sent" in e}
    # only what it recorded left (a request recorded as it started to be written may still
    # never reach Intercom, cut off as the run stopped: its outcome is unknown, below)
    assert made and set(made) <= recorded

    again = cli(*args, env=env)
    results = lines(again.stdout)
    assert [r["row"] for r in results] == list(range(1, count + 1))
    unknown = set()
    for result in results:
        if "error" in result:  # sent, but its answer could not be recorded: never sent again
            assert result["error"]["outcome_unknown"] is True
            unknown.add(f"lead-{result['row']}")
    assert unknown <= recorded
    assert sorted(made) == sorted(set(made))  # no lead made twice
    every = {f"lead-{n}" for n in range(1, count + 1)}
    assert every - set(made) <= unknown  # each lead made, or reported as unknown


def test_an_empty_journal_is_refused_untouched(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """Not taken for a new journal (its rows would all be sent again): refused in one
    line, exit 2, the file as it was, nothing sent."""
    recorder.on("GET", "/contacts/.*", {"type": "contact", "id": "c"})
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    rows = tmp_path / "rows.csv"
    rows.write_text("contact_id\n1\n")
    journal = tmp_path / "j.journal"
    journal.write_bytes(b"")
    done = cli("run", "get_contact", "--each", str(rows), "--journal", str(journal), env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert f"journal {journal}: is empty" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert journal.read_bytes() == b"" and recorder.requests == []


def two_rows_journaled(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> tuple[tuple[str, ...], dict[str, str], Path]:
    """A two-row Get Contact run with a journal, done: its command, environment, journal."""
    recorder.on("GET", "/contacts/.*", {"type": "contact", "id": "c"})
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    rows = tmp_path / "rows.csv"
    rows.write_text("contact_id\n1\n2\n")
    journal = tmp_path / "j.journal"
    args = ("run", "get_contact", "--each", str(rows), "--journal", str(journal))
    assert cli(*args, env=env).returncode == 0
    return args, env, journal


def test_a_journal_line_cut_short_is_removed_with_a_note(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    args, env, journal = two_rows_journaled(recorder, loopback, tmp_path)
    whole = journal.read_bytes()
    journal.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 12])  # row 2 torn
    again = cli(*args, env=env)
    assert again.returncode == 0 and [r["row"] for r in lines(again.stdout)] == [1, 2]
    assert f"journal {journal}: its last line was cut short" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert journal_entries(journal)[-1]["row"] == 2  # run again, and recorded whole
    # the torn line is gone: the journal reads whole, and a third run sends nothing
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())
    sent = len(recorder.requests)
    third = cli(*args, env=env)
    assert third.returncode == 0 and third.stderr == "" and len(recorder.requests) == sent


def test_a_last_line_whole_but_for_its_newline_is_kept(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    """A kill between a line's last character and its newline leaves a whole record: its
    row is not run again, and the next line starts a line of its own."""
    args, env, journal = two_rows_journaled(recorder, loopback, tmp_path)
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))  # row 2's result, newline cut
    sent = len(recorder.requests)
    again = cli(*args, env=env)
    assert again.returncode == 0 and again.stderr == ""
    assert [r["row"] for r in lines(again.stdout)] == [1, 2]
    assert len(recorder.requests) == sent  # both rows done: re-emitted, not sent
    header = journal.read_bytes().splitlines(keepends=True)[0]
    journal.write_bytes(header.rstrip(b"\n"))  # the header alone, its newline cut
    third = cli(*args, env=env)
    assert third.returncode == 0 and len(recorder.requests) == sent + 2
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())


@pytest.mark.parametrize(
    "damage",
    [b'{"row": 1, "inp\n', b"\n", b"not json\n", b'{"no": "row"}\n', b"[1]\n"],
    ids=["torn", "blank", "text", "no-row", "a-list"],
)
def test_a_journal_line_damaged_before_the_last_refuses_the_journal(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path, damage: bytes
) -> None:
    """Only the last line can be cut short by a kill; a line before it that is not the
    journal's (a damaged disk, a hand edit) may have recorded a row sent or done: running on
    would send it again, so the journal is refused, untouched, naming the line."""
    args, env, journal = two_rows_journaled(recorder, loopback, tmp_path)
    header, *entries = journal.read_bytes().splitlines(keepends=True)
    damaged = header + damage + b"".join(entries)
    journal.write_bytes(damaged)
    sent = len(recorder.requests)
    again = cli(*args, env=env)
    assert (again.returncode, again.stdout) == (2, "")
    assert again.stderr.strip() == (
        f"error: journal {journal}: line 2 is not a line of the journal (damaged, or edited "
        "by hand): delete that line to go on (its row runs again), or use a new journal"
    )
    assert journal.read_bytes() == damaged and len(recorder.requests) == sent


class _Crash(BaseException):
    """The process dies while a request is on its way (nothing catches it)."""


def interrupted_run(
    sandbox: Sandbox, action: str, rows: list[dict[str, Any]], journal: Path, crash_on: str
) -> None:
    """A bulk run that dies while the request of the row ``crash_on`` is on its way."""
    transport = sandbox.transport()

    def deliver(request: httpx.Request) -> httpx.Response:
        response = transport.handle_request(request)
        if crash_on in request.url.path + request.content.decode():
            raise _Crash  # the request was done; its answer is lost with the process
        return response

    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    with (
        Connector(connection, transport=httpx.MockTransport(deliver)) as intercom,
        pytest.raises(_Crash),
    ):
        list(intercom.bulk(action, rows, journal=journal, concurrency=1))


def test_a_lost_answer_is_sent_again_only_when_that_cannot_repeat_a_write(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(":memory:")
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    ids = sandbox.add_contacts(3)

    creates = tmp_path / "creates.journal"
    rows = [{"email": f"lost-{n}@example.com"} for n in range(3)]
    interrupted_run(sandbox, "create_contact", rows, creates, crash_on="lost-1@")
    leads = tmp_path / "leads.journal"
    lead_rows = [{"role": "lead", "name": f"Lead {n}"} for n in range(3)]
    interrupted_run(sandbox, "create_contact", lead_rows, leads, crash_on="Lead 1")
    updates = tmp_path / "updates.journal"
    changes = [{"contact_id": contact_id, "name": "Renamed"} for contact_id in ids]
    interrupted_run(sandbox, "update_contact", changes, updates, crash_on=ids[1])

    upserts = tmp_path / "upserts.journal"
    companies = [{"company_id": "up-1"}, {"company_id": "up-2"}, {"name": "No Key"}]
    interrupted_run(sandbox, "create_company", companies, upserts, crash_on="up-2")
    keyless = tmp_path / "keyless.journal"
    interrupted_run(sandbox, "create_company", companies, keyless, crash_on="No Key")

    with Connector(connection, transport=sandbox.transport()) as intercom:
        created = list(intercom.bulk("create_contact", rows, journal=creates))
        created_leads = list(intercom.bulk("create_contact", lead_rows, journal=leads))
        updated = list(intercom.bulk("update_contact", changes, journal=updates))
        upserted = list(intercom.bulk("create_company", companies, journal=upserts))
        without_key = list(intercom.bulk("create_company", companies, journal=keyless))
    # Intercom keeps one user per email: sent again, its 409 names what the lost one made
    assert all("data" in r for r in created)
    assert emails_in(sandbox, "lost-") == {f"lost-{n}@example.com": 1 for n in range(3)}
    assert ["data" in r for r in created_leads] == [True, False, True]  # a lead: no such key
    assert created_leads[1]["error"]["outcome_unknown"] is True
    assert all("data" in r for r in updated)  # an update may be sent again: same outcome
    assert all("data" in r for r in upserted)  # keyed on its Company ID: an upsert
    assert without_key[2]["error"]["outcome_unknown"] is True  # a create like any other


def test_a_journal_of_another_run_is_refused(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder.on("GET", "/contacts/.*", {"type": "contact", "id": "x"})
    journal = tmp_path / "run.journal"
    with Connector(CONNECTION, transport=httpx.MockTransport(recorder)) as intercom:
        list(intercom.bulk("get_contact", [{"contact_id": "1"}], journal=journal))
        with pytest.raises(Exception, match="was written for get_contact, not get_company"):
            intercom.bulk("get_company", [{"company_id": "1"}], journal=journal)
        changed = list(intercom.bulk("get_contact", [{"contact_id": "2"}], journal=journal))
    assert changed[0]["error"]["exit_code"] == 2
    assert "other inputs" in changed[0]["error"]["message"]
    assert len(recorder.requests) == 1
    not_a_journal = tmp_path / "rows.ndjson"
    not_a_journal.write_text('{"contact_id": "1"}\n')
    with pytest.raises(Exception, match="is not a journal"):
        Journal(not_a_journal, "get_contact")


def test_journal_options_need_each(recorder: Recorder, loopback: LoopbackIntercom) -> None:
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    done = cli("run", "list_tags", "--journal", "x.journal", env=env)
    assert done.returncode == 2 and "--journal goes with --each" in done.stderr
    assert recorder.requests == []


def test_progress_is_drawn_only_on_a_terminal(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/contacts/.*", {"type": "contact", "id": "x"})
    rows = tmp_path / "rows.csv"
    rows.write_text("contact_id\n" + "".join(f"{n}\n" for n in range(30)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env.update({"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url})
    command = [sys.executable, "-m", "intercom_connector", "run", "get_contact",
               "--each", str(rows)]  # fmt: skip
    piped = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    assert piped.returncode == 0 and piped.stderr == ""
    assert len(piped.stdout.splitlines()) == 30
    leader, follower = pty.openpty()
    on_terminal = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=follower, text=True, env=env, cwd=REPO
    )
    os.close(follower)
    shown = read_terminal(leader)
    assert on_terminal.returncode == 0
    assert b"30 rows, 0 failed, in " in shown
    assert on_terminal.stdout.count("\n") == 30 and "rows" not in on_terminal.stdout
