"""The trigger commands and triggered flows, through the real CLI in a subprocess and over
loopback HTTP: ``trigger poll`` with its state file, ``trigger listen``, ``flow run --event``."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from designer_support import Stderr
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
    # A state file whose new version cannot be written next to it (the temporary file's
    # name would pass the file system's 255 bytes): whoever runs the test, root included.
    state = tmp_path / ("s" * 245 + ".json")
    state.write_text(json.dumps({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": []}))
    recorder.on("POST", "/contacts/search", search_page([contact("a", NOW + 1)]))
    done = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert done.returncode == 2
    assert [e["data"]["id"] for e in lines(done.stdout)] == ["a"]  # printed all the same
    assert f"--state {state}: cannot be written" in done.stderr
    again = cli("trigger", "poll", "new_or_updated_contacts", "--state", str(state), env=intercom)
    assert [e["data"]["id"] for e in lines(again.stdout)] == ["a"]  # given again, not lost


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
    assert done.returncode == 2 and "was written by 'new_or_updated_companies'" in done.stderr
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


def notification(notification_id: str, topic: str = "contact.user.created") -> bytes:
    return json.dumps({
        "type": "notification_event", "app_id": "ws1", "id": notification_id, "topic": topic,
        "created_at": NOW, "data": {"type": "notification_event_data",
                                    "item": {"type": "contact", "id": "c1"}},
    }).encode()  # fmt: skip


def signature(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=5)


def test_listen_answers_each_delivery_and_prints_the_accepted_ones() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "trigger", "listen", "intercom_webhook",
         "--port", "0", "-i", "topics=contact.user.created", "--max-events", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment({"INTERCOM_CLIENT_SECRET": SECRET}), cwd=REPO,
    )  # fmt: skip
    stderr = Stderr(process)
    try:
        url = stderr.url(r"listening on (http://127\.0\.0\.1:\d+/) ")
        good = notification("notif_1")
        assert post(url, good, {}).status_code == 401  # unsigned
        assert post(url, good, signature(good, "not-the-secret")).status_code == 401
        assert post(url, good.replace(b"c1", b"c2"), signature(good)).status_code == 401
        assert post(url, b"{oops", signature(b"{oops")).status_code == 400
        other = notification("notif_0", "company.created")
        assert post(url, other, signature(other)).status_code == 200  # answered, dropped
        assert post(url, good, signature(good)).status_code == 200
        err = stderr.text(seconds=30)
        assert process.stdout is not None
        out = process.stdout.read()
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [e["id"] for e in lines(out)] == ["notif_1"]
    assert err.count("refused (401)") == 3 and err.count("refused (400)") == 1
    assert "notif_0 dropped: topic company.created is not accepted" in err
    assert SECRET not in out + err


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
