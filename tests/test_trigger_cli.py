"""The trigger commands and triggered flows, through the real CLI in a subprocess and over
loopback HTTP: ``trigger poll`` with its state file, ``trigger listen``, ``flow run --event``."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO, TOKEN, LoopbackIntercom, Recorder, body_of, clean_env, run_cli

from intercom_connector.hosts.triggers import poll_loop
from intercom_connector.runtime.errors import InputValidationError, TransportError

NOW = int(time.time())
SECRET = "whsec-canary-5e1f0c"


environment = clean_env


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return run_cli(*args, env=env, stdin=stdin)


@pytest.fixture
def intercom(loopback: LoopbackIntercom) -> dict[str, str]:
    return {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}


def contact(record_id: str, updated_at: int) -> dict[str, Any]:
    return {"type": "contact", "id": record_id, "created_at": updated_at - 86400 * 3,
            "updated_at": updated_at, "email": f"{record_id}@example.com"}  # fmt: skip


def search_page(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "list", "data": records, "total_count": len(records), "pages": {}}


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


FLOW = """\
name: Tag a changed contact
trigger:
  key: new_or_updated_contacts
  inputs: {index_lag: 60}
steps:
  - id: tag
    action: attach_tag_to_contact
    inputs:
      contact_id: "{{ trigger.data.id }}"
      tag_id: "7"
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- trigger poll ------------------------------------------------------------------------


def test_poll_prints_the_new_events_then_keeps_the_state(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    recorder.on(
        "POST", "/contacts/search", search_page([contact("b", NOW + 2), contact("a", NOW + 1)])
    )
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert done.returncode == 0, done.stderr
    events = lines(done.stdout)
    assert [(e["data"]["id"], e["occurred_at"]) for e in events] == [("a", NOW + 1), ("b", NOW + 2)]
    kept = json.loads(state.read_text())
    assert kept["cursor"] == NOW + 2 and ["b", NOW + 2] in kept["seen"]
    again = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert again.returncode == 0 and again.stdout == ""  # nothing new: nothing repeated
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left


def test_a_first_poll_has_no_state_file_yet(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    recorder.on("POST", "/contacts/search", search_page([contact("a", NOW - 100)]))
    state = tmp_path / "state.json"
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # from now: nothing given
    assert json.loads(state.read_text())["seen"] == [["a", NOW - 100]]


def test_events_are_out_before_the_state_is_written(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """The disk fills up as the new state is written (no file may grow past 16 bytes):
    the events are out, the failure is one line naming the file (exit 5, not bad input),
    the old state is whole, and the next check gives the events again."""
    state = tmp_path / "state.json"
    text = json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []})
    state.write_text(text)
    recorder.on("POST", "/contacts/search", search_page([contact("a", NOW + 1)]))
    args = ("trigger", "poll", "new_or_updated_contacts", "--state", str(state))
    done = run_cli(*args, env=intercom, file_size_limit=16)
    assert done.returncode == 5, done.stderr
    assert [e["data"]["id"] for e in lines(done.stdout)] == ["a"]  # printed all the same
    assert done.stderr.strip() == f"error: --state {state}: cannot be written (File too large)"
    assert state.read_text() == text and [p.name for p in tmp_path.iterdir()] == ["state.json"]
    again = cli(*args, env=intercom)
    assert [e["data"]["id"] for e in lines(again.stdout)] == ["a"]  # given again, not lost


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is empty"),
        (b"\n", "is empty"),
        (b'{"trigger": "new_or_updated_contacts", "cursor": 1\xff}', "is not UTF-8 text"),
        (b"{half", "is not JSON"),
        # JSON, but nothing this command writes: these were taken for a first check
        (b"null\n", "holds null, no state"),
        (b"{}\n", "holds {}, no state"),
        # and these were two lines naming an input "state", not the file
        (b"[]", "must be the JSON object an earlier poll gave"),
        (b'{"trigger": "new_or_updated_contacts"}', "has no cursor (unix seconds)"),
    ],
)
def test_a_state_file_that_holds_no_state_is_refused_untouched(
    content: bytes, said: str, tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """Not taken for a first check (which would skip every change since the last good
    state), nor a traceback: one line, exit 2, the file as it was, nothing asked."""
    state = tmp_path / "state.json"
    state.write_bytes(content)
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: --state {state}: {said}; delete it to start over\n"
    assert state.read_bytes() == content
    assert recorder.requests == []


@pytest.mark.parametrize("path", ["/dev/null", "folder"])
def test_a_state_that_is_not_a_regular_file_is_refused_before_it_is_read(
    path: str, tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """A device is no state: /dev/zero was read until memory ran out (the process killed;
    /dev/null, harmless to try, shows the same path), and a folder was 'cannot be read':
    one line, exit 2, nothing asked."""
    state = Path(path) if path.startswith("/") else tmp_path
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr.strip() == f"error: --state {state}: is not a regular file; give a file's path"
    )
    assert recorder.requests == []


def test_the_dead_letter_file_cannot_be_the_state_file(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """An event set aside in the state file was lost when the state was replaced after the
    check: the same file (by any spelling of its path) is refused before any request."""
    state = tmp_path / "s.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    flow = write(tmp_path, FLOW)
    for spelling in (str(state), str(tmp_path / "." / "s.json")):
        done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state),
                   "--flow", flow, "--dead-letter", spelling, env=intercom)  # fmt: skip
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.strip() == (
            f"error: --dead-letter {spelling}: is the --state file; give the dead letters a "
            "file of their own"
        )
    assert recorder.requests == []


def test_a_state_that_cannot_be_written_stops_the_poll_before_any_request(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    state = folder / "state.json"
    args = ("trigger", "poll", "new_or_updated_contacts", "--state", str(state))
    done = run_cli(*args, env=intercom, unprivileged=True)
    assert (done.returncode, done.stdout) == (5, "")
    assert done.stderr.strip() == f"error: --state {state}: cannot be written (Permission denied)"
    assert recorder.requests == []
    missing = cli("trigger", "poll", "new_or_updated_contacts", "--state",
                  str(tmp_path / "none" / "s.json"), env=intercom)  # fmt: skip
    assert missing.returncode == 2 and "No such file or directory" in missing.stderr
    assert recorder.requests == []


def test_a_rate_limited_poll_leaves_the_state_file_as_it_was(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    state = tmp_path / "state.json"
    text = json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": [["x", NOW]]})
    state.write_text(text)
    limited = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "x"}]}
    recorder.on("POST", "/contacts/search", limited, status=429, headers={"Retry-After": "0"})
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert done.returncode == 5 and "429 rate_limit_exceeded" in done.stderr
    assert done.stdout == "" and state.read_text() == text


def test_a_state_file_of_another_trigger_is_refused(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_companies", "cursor": NOW}))
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert done.returncode == 2 and done.stderr == (
        f"error: --state {state}: was written by 'new_or_updated_companies', not by "
        "'new_or_updated_contacts'; give each trigger a state file of its own\n"
    )
    assert recorder.requests == []
    state.write_text("{half")
    broken = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert broken.returncode == 2 and "is not JSON; delete it to start over" in broken.stderr


def test_poll_runs_the_flow_for_each_event_and_keeps_only_what_ran(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    changed = [contact("ok", NOW + 1), contact("gone", NOW + 2), contact("later", NOW + 3)]
    recorder.on("POST", "/contacts/search", search_page(changed))
    recorder.on("POST", "/contacts/ok/tags", {"type": "tag", "id": "7"})
    missing = {"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]}
    recorder.on("POST", "/contacts/gone/tags", missing, status=404)
    flow = write(tmp_path, FLOW)
    done = cli(
        "trigger", "poll", "new_or_updated_contacts", "--state", str(state), "--flow", flow,
        env=intercom,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert [e["data"]["id"] for e in lines(done.stdout)] == ["ok", "gone"]  # stopped there
    assert "flow 'Tag a changed contact', event contact:ok:" in done.stderr
    assert "step 'tag' (attach_tag_to_contact) failed: Intercom answered 404" in done.stderr
    tagged = [r.url.path for r in recorder.requests if r.url.path.endswith("/tags")]
    assert tagged == ["/contacts/ok/tags", "/contacts/gone/tags"]
    assert json.loads(state.read_text())["seen"] == [["ok", NOW + 1]]  # the failed one comes again
    assert body_of(recorder.requests[0])["query"]["field"] == "updated_at"


def test_an_event_whose_flow_keeps_failing_is_set_aside_and_the_next_ones_go_on(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """With --every: the failing event is tried at three checks (the later one waits),
    then set aside in the dead-letter file beside the state, with its error, reported on
    stderr; the later event's flow runs and the loop goes on."""
    state = tmp_path / "contacts.state.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    recorder.on("POST", "/contacts/search", search_page([contact("gone", NOW + 1),
                                                         contact("later", NOW + 2)]))  # fmt: skip
    missing = {"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]}
    recorder.on("POST", "/contacts/gone/tags", missing, status=404)
    recorder.on("POST", "/contacts/later/tags", {"type": "tag", "id": "7"})
    flow = write(tmp_path, FLOW)
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "trigger", "poll", "new_or_updated_contacts",
         "--state", str(state), "--flow", flow, "--every", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(intercom),
        cwd=REPO,
    )  # fmt: skip
    tagged = lambda: [r.url.path for r in recorder.requests if r.url.path.endswith("/tags")]  # noqa: E731
    try:
        deadline = time.monotonic() + 60
        while "/contacts/later/tags" not in tagged():
            assert time.monotonic() < deadline and process.poll() is None, tagged()
            time.sleep(0.05)
        time.sleep(0.5)  # another check or two: nothing more is run
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert tagged() == ["/contacts/gone/tags"] * 3 + ["/contacts/later/tags"]
    dead = tmp_path / "contacts.state.dead.ndjson"
    (entry,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert entry["event"]["id"] == f"contact:gone:{NOW + 1}" and entry["attempts"] == 3
    assert entry["flow"] == "Tag a changed contact"
    assert entry["trigger"] == "new_or_updated_contacts"
    assert entry["error"]["exit_code"] == 4 and "User Not Found" in entry["error"]["message"]
    assert (dead.stat().st_mode & 0o777) == 0o600
    assert f"event contact:gone:{NOW + 1} set aside in {dead} after 3 failed runs" in err
    assert [e["data"]["id"] for e in lines(out)] == ["gone", "gone", "gone", "later"]
    kept = json.loads(state.read_text())
    assert sorted(pair[0] for pair in kept["seen"]) == ["gone", "later"]
    assert "failed_runs" not in kept


def test_a_passing_failure_is_not_counted_and_the_dead_letter_file_is_checked_first(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    state = tmp_path / "s.json"
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    recorder.on("POST", "/contacts/search", search_page([contact("busy", NOW + 1)]))
    limited = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "x"}]}
    recorder.on("POST", "/contacts/busy/tags", limited, status=429, headers={"Retry-After": "0"})
    flow = write(tmp_path, FLOW)
    dead = tmp_path / "dead.ndjson"
    args = ("trigger", "poll", "new_or_updated_contacts", "--state", str(state), "--flow", flow,
            "--dead-letter", str(dead))  # fmt: skip
    for _ in range(3):  # rate limited: tried again at every check, never set aside
        assert cli(*args, env=intercom).returncode == 5
    assert not dead.exists() and "failed_runs" not in json.loads(state.read_text())
    recorder.requests.clear()
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    blocked = run_cli(*args[:-1], str(folder / "dead.ndjson"), env=intercom, unprivileged=True)
    assert (blocked.returncode, blocked.stdout) == (5, "")
    assert blocked.stderr.strip() == (
        f"error: --dead-letter {folder / 'dead.ndjson'}: cannot be written (Permission denied)"
    )
    assert recorder.requests == []


def test_poll_and_listen_refuse_the_other_kind_and_flows_of_another_trigger(
    tmp_path: Path, intercom: dict[str, str]
) -> None:
    done = cli("trigger", "poll", "intercom_webhook", "--state", str(tmp_path / "s"), env=intercom)
    assert (
        done.returncode == 2
        and "is not a polling trigger; they are: new_conversations" in done.stderr
    )
    listen = cli("trigger", "listen", "new_or_updated_contacts", "--port", "0", env=intercom)
    assert (
        listen.returncode == 2
        and "is not a webhook trigger; they are: intercom_webhook" in listen.stderr
    )
    flow = write(tmp_path, FLOW)
    other = cli(
        "trigger", "poll", "new_or_updated_companies", "--state", str(tmp_path / "s"),
        "--flow", flow, env=intercom,
    )  # fmt: skip
    assert other.returncode == 2
    assert "starts from new_or_updated_contacts, not from new_or_updated_companies" in other.stderr


def test_the_poll_loop_tries_a_passing_failure_again_and_stops_on_another() -> None:
    slept: list[float] = []
    outcomes: list[Any] = [TransportError("no answer"), 0, 0]

    def check() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return int(outcome)

    assert poll_loop(check, 30, sleep=slept.append, checks=3) == 0
    assert slept == [30, 30] and outcomes == []

    def broken() -> int:
        raise InputValidationError("x", [])

    with pytest.raises(InputValidationError):
        poll_loop(broken, 30, sleep=slept.append, checks=3)
    assert slept == [30, 30]  # stopped at once


def test_every_must_be_a_positive_number_of_seconds(tmp_path: Path) -> None:
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", "s", "--every", "0")
    assert done.returncode == 2 and "expected a number of seconds above 0" in done.stderr


# -- trigger listen -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def notification(notification_id: str, topic: str = "contact.user.created") -> bytes:
    return json.dumps({
        "type": "notification_event", "app_id": "ws1", "id": notification_id, "topic": topic,
        "created_at": NOW, "data": {"type": "notification_event_data",
                                    "item": {"type": "contact", "id": "c1"}},
    }).encode()  # fmt: skip


def signature(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.post(url, content=body, headers=headers, timeout=5)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the listener is still starting


def start_listener(port: int, events: int = 1) -> subprocess.Popen[str]:
    """``trigger listen`` for ``events`` accepted contact.user.created events on ``port``."""
    return subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "trigger", "listen", "intercom_webhook",
         "--port", str(port), "-i", "topics=contact.user.created", "--max-events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment({"INTERCOM_CLIENT_SECRET": SECRET}), cwd=REPO,
    )  # fmt: skip


def test_listen_answers_each_delivery_and_prints_the_accepted_ones() -> None:
    port = free_port()
    process = start_listener(port)
    try:
        url = f"http://127.0.0.1:{port}/"
        good = notification("notif_1")
        assert post(url, good, {}).status_code == 401  # unsigned
        assert post(url, good, signature(good, "not-the-secret")).status_code == 401
        assert post(url, good.replace(b"c1", b"c2"), signature(good)).status_code == 401
        assert post(url, b"{oops", signature(b"{oops")).status_code == 400
        other = notification("notif_0", "company.created")
        assert post(url, other, signature(other)).status_code == 200  # answered, dropped
        assert post(url, good, signature(good)).status_code == 200
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [e["id"] for e in lines(out)] == ["notif_1"]
    assert err.count("refused (401)") == 3 and err.count("refused (400)") == 1
    assert "notif_0 dropped: topic company.created is not accepted" in err
    assert SECRET not in out + err


def listen(*extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """A listener subprocess for contact.user.created, and its URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "trigger", "listen", "intercom_webhook",
         "--port", str(port), "-i", "topics=contact.user.created", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment({"INTERCOM_CLIENT_SECRET": SECRET, **(env or {})}), cwd=REPO,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    ping = notification("notif_ping", "ping")
    assert post(url, ping, signature(ping)).status_code == 200  # up
    return process, url


def delivery(n: int) -> bytes:
    return notification(f"notif_{n}").replace(b'"c1"', f'"c{n}"'.encode())


def deliver_at_once(url: str, numbers: list[int]) -> dict[int, int | None]:
    """Each delivery posted from its own thread, all at once: its status (None: the
    connection was refused or dropped, as by a listener that stopped)."""
    ready = threading.Barrier(len(numbers))

    def send(n: int) -> int | None:
        body = delivery(n)
        with httpx.Client(timeout=30) as client:
            # each connection open and served first, so that on a loaded machine the
            # deliveries still arrive together, not after the listener took its last one
            client.get(httpx.URL(url).copy_with(path="/healthz", query=None))
            ready.wait(timeout=30)
            try:
                return client.post(url, content=body, headers=signature(body)).status_code
            except httpx.TransportError:
                return None

    with ThreadPoolExecutor(len(numbers)) as pool:
        return dict(zip(numbers, pool.map(send, numbers), strict=True))


def taken_at_once(process: subprocess.Popen[str], url: str, count: int) -> tuple[set[int], str]:
    """``count`` deliveries at once to the listener, which then stops: those answered 2xx,
    and its stdout. Every other was answered 503 (or found it gone)."""
    try:
        answers = deliver_at_once(url, list(range(1, count + 1)))
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    taken = {n for n, status in answers.items() if status is not None and status < 300}
    assert all(status in (503, None) for n, status in answers.items() if n not in taken)
    assert 503 in answers.values(), answers
    return taken, out


def test_listen_answers_2xx_only_for_the_events_it_printed_and_503_past_max_events() -> None:
    """Ten deliveries at once to a listener that takes three: exactly the three it printed
    are answered 2xx; the others 503, so Intercom sends them again."""
    process, url = listen("--max-events", "3")
    taken, out = taken_at_once(process, url, 10)
    assert len(taken) == 3
    assert sorted(e["id"] for e in lines(out)) == sorted(f"notif_{n}" for n in taken)


FETCH_FLOW = """\
name: Fetch the new contact
trigger:
  key: intercom_webhook
  inputs: {topics: [contact.user.created]}
steps:
  - id: fetch
    action: get_contact
    inputs: {contact_id: "{{ trigger.data.id }}"}
"""


def test_listen_with_a_flow_answers_2xx_only_once_the_flow_started(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """Six deliveries at once, two taken: the deliveries answered 2xx are exactly those
    whose flow ran (and that were printed)."""
    recorder.respond(
        "GET",
        "/contacts/.*",
        lambda r: httpx.Response(200, json={"type": "contact", "id": r.url.path.rsplit("/", 1)[1]}),
    )
    flow = write(tmp_path, FETCH_FLOW)
    process, url = listen("--flow", flow, "--max-events", "2", env=intercom)
    taken, out = taken_at_once(process, url, 6)
    assert len(taken) == 2
    assert {e["id"] for e in lines(out)} == {f"notif_{n}" for n in taken}
    assert {r.url.path for r in recorder.requests} == {f"/contacts/c{n}" for n in taken}


def test_a_delivery_whose_flow_cannot_start_soon_is_answered_503_and_taken_when_sent_again(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    """The first event's flow takes longer than a delivery waits for its own to start: the
    second delivery is answered 503, and when Intercom sends it again it is taken (not
    dropped as a repeat) and its flow runs."""
    slow = threading.Event()

    def fetch(request: httpx.Request) -> httpx.Response:
        contact_id = request.url.path.rsplit("/", 1)[1]
        if contact_id == "c1":
            slow.wait(30)
        return httpx.Response(200, json={"type": "contact", "id": contact_id})

    recorder.respond("GET", "/contacts/.*", fetch)
    flow = write(tmp_path, FETCH_FLOW)
    process, url = listen("--flow", flow, "--max-events", "2", env=intercom)
    try:
        first, second = delivery(1), delivery(2)
        assert post(url, first, signature(first)).status_code == 200  # its flow started
        assert post(url, second, signature(second)).status_code == 503  # c1's flow still runs
        slow.set()
        assert post(url, second, signature(second)).status_code == 200  # sent again: taken
        out, err = process.communicate(timeout=30)
    finally:
        slow.set()
        process.kill()
    assert process.returncode == 0, err
    assert [e["id"] for e in lines(out)] == ["notif_1", "notif_2"]
    assert [r.url.path for r in recorder.requests] == ["/contacts/c1", "/contacts/c2"]
    assert "notif_2 answered 503" in err


def test_listen_never_takes_the_secret_from_the_command_line() -> None:
    done = cli("trigger", "listen", "intercom_webhook", "--port", "0",
               "-i", "topics=ping", "-i", f"client_secret={SECRET}")  # fmt: skip
    assert done.returncode == 2 and "set INTERCOM_CLIENT_SECRET" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_listen_without_any_secret_stops_before_listening() -> None:
    done = cli("trigger", "listen", "intercom_webhook", "--port", "0",
               "-i", "topics=contact.user.created")  # fmt: skip
    assert done.returncode == 3 and "verifies each delivery with your Intercom app" in done.stderr
    assert "listening" not in done.stderr


# -- flows that start from a trigger ---------------------------------------------------------


EVENT = {"id": "contact:c9:1", "topic": "contact.updated", "occurred_at": NOW,
         "data": {"type": "contact", "id": "c9"}}  # fmt: skip


def test_flow_run_with_an_event_fills_the_trigger_references(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    recorder.on("POST", "/contacts/c9/tags", {"type": "tag", "id": "7"})
    flow = write(tmp_path, FLOW)
    done = cli("flow", "run", flow, "--event", "-", "--json", env=intercom, stdin=json.dumps(EVENT))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tag"]["data"]["id"] == "7"
    assert body_of(recorder.last) == {"id": "7"}


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (None, "starts from the trigger new_or_updated_contacts: give its event with --event"),
        ({"id": "x", "topic": "t", "data": {}}, "the event has no valid occurred_at"),
        ("[1]", "an event is a JSON object"),
    ],
    ids=["missing", "no-occurred-at", "not-object"],
)
def test_a_triggered_flow_needs_a_proper_event(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str], event: Any, problem: str
) -> None:
    flow = write(tmp_path, FLOW)
    args = ["flow", "run", flow]
    if event is not None:
        args += [
            "--event",
            write(tmp_path, event if isinstance(event, str) else json.dumps(event), "event.json"),
        ]
    done = cli(*args, env=intercom)
    assert done.returncode == 2 and problem in done.stderr
    assert recorder.requests == []


def test_a_flow_with_a_wrong_trigger_is_refused_before_anything_runs(
    tmp_path: Path, recorder: Recorder, intercom: dict[str, str]
) -> None:
    wrong = FLOW.replace("inputs: {index_lag: 60}", "inputs: {index_lag: soon, client_secret: x}")
    wrong += '  - id: more\n    action: create_tag\n    inputs: {name: "{{ trigger.payload }}"}\n'
    done = cli(
        "flow", "run", write(tmp_path, wrong), "--event", "-", env=intercom, stdin=json.dumps(EVENT)
    )
    assert done.returncode == 2, done.stderr
    assert (
        "trigger (new_or_updated_contacts): Index Lag (index_lag): expected a whole number"
        in done.stderr
    )
    assert "client_secret: is not an input of New or Updated Contact" in done.stderr
    assert "'{{ trigger.payload }}' must name run.id, run.started_at, trigger.<path>" in done.stderr
    assert recorder.requests == []
    untriggered = FLOW.split("steps:")[0].split("trigger:")[0] + "steps:" + FLOW.split("steps:")[1]
    plain = cli("flow", "run", write(tmp_path, untriggered), env=intercom)
    assert (
        plain.returncode == 2
        and "'{{ trigger.data.id }}' must name run.id, run.started_at or" in plain.stderr
    )


def test_a_webhook_flow_keeps_the_client_secret_out_of_its_file(tmp_path: Path) -> None:
    flow = (
        "trigger:\n  key: intercom_webhook\n"
        f"  inputs: {{topics: [ticket.created], client_secret: {SECRET}}}\n"
        "steps:\n  - id: get\n    action: get_ticket\n"
        '    inputs: {ticket_id: "{{ trigger.data.id }}"}\n'
    )
    done = cli("flow", "run", write(tmp_path, flow), "--event", "-", stdin=json.dumps(EVENT))
    assert done.returncode == 2
    assert "Client Secret (client_secret): keep it out of flow files" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_sender_that_hangs_up_leaves_no_traceback() -> None:
    port = free_port()
    process = start_listener(port)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert post(url, b"{}", {}).status_code == 401  # it listens
        for _ in range(3):  # a body cut short by a reset, as a sender that gave up
            with socket.create_connection(("127.0.0.1", port), timeout=10) as hang_up:
                hang_up.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                hang_up.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        good = notification("notif_1")
        assert post(url, good, signature(good)).status_code == 200  # it still serves
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [e["id"] for e in lines(out)] == ["notif_1"]
    assert "Traceback" not in err and "Error" not in err, err


def test_the_listener_remembers_what_it_received_a_repeat_is_not_run_again() -> None:
    port = free_port()
    process = start_listener(port, events=2)
    try:
        url = f"http://127.0.0.1:{port}/"
        first, second = notification("notif_1"), notification("notif_2")
        for body in (first, first, second):  # Intercom sends notif_1 again (a retry)
            assert post(url, body, signature(body)).status_code == 200
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [e["id"] for e in lines(out)] == ["notif_1", "notif_2"]
    assert "notif_1 dropped: already received" in err
