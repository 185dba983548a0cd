"""Requests that cannot be sent as given are refused as bad input: exit 2, never retried.

An ID too long for a URL, a header HTTP cannot carry: the request never leaves, so it is
neither a network failure (exit 5) nor a traceback (exit 1), and the error names the input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support import REPO, TOKEN, LoopbackIntercom, Recorder

from intercom_connector import Connector
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.connection import connection_from_mapping
from intercom_connector.runtime.errors import InputRefusal, InputValidationError
from intercom_connector.runtime.manifest import ActionSpec, load_manifest

LONG_ID = "a" * 70_000
#: the long id of an input whose pattern takes numbers only (a conversation's or an
#: article's id)
LONG_NUMBER = "9" * 70_000
#: IDs that go in a JSON body, where no URL limit applies: sent whole, Intercom judges them
IN_THE_BODY = {
    ("attach_company_to_contact", "company_id"),
    ("attach_tag_to_company", "company_id"),
    ("attach_tag_to_contact", "tag_id"),
    ("attach_tag_to_conversation", "tag_id"),
    ("convert_conversation_to_ticket", "ticket_state_id"),
    ("convert_conversation_to_ticket", "ticket_type_id"),
    ("create_article", "author_id"),
    ("create_article", "collection_id"),
    ("create_company", "company_id"),
    ("create_company_note", "admin_id"),
    ("create_contact", "external_id"),
    ("create_note", "admin_id"),
    ("create_ticket", "company_id"),
    ("create_ticket", "contact_id"),
    ("create_ticket", "ticket_type_id"),
    ("detach_tag_from_company", "company_id"),
    ("merge_contacts", "lead_contact_id"),
    ("merge_contacts", "user_contact_id"),
    ("reply_to_conversation", "contact_id"),
    ("reply_to_ticket", "contact_id"),
    ("send_message", "admin_id"),
    ("send_message", "contact_id"),
    ("submit_event", "contact_id"),
    ("submit_event", "user_id"),
    ("update_article", "author_id"),
    ("update_article", "collection_id"),
    ("update_contact", "external_id"),
    ("update_tag", "tag_id"),
    ("update_ticket", "ticket_state_id"),
}
#: what a handler needs beyond the required inputs and the manifest's rules: who replies ...
REPLIES = ("reply_to_conversation", "reply_to_ticket")
#: ... and a message's text
HANDLER_NEEDS = {"send_message": {"body": "Hi"}}


def cli(
    *args: str, server: LoopbackIntercom, stdin: str | None = None, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env.update({"INTERCOM_ACCESS_TOKEN": token, "INTERCOM_BASE_URL": server.url})
    return subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=60, cwd=REPO,
    )  # fmt: skip


def id_inputs() -> list[tuple[str, str]]:
    return [
        (action.key, spec.key)
        for action in load_manifest().actions.values()
        for spec in action.value_inputs
        if spec.key.endswith("_id")
    ]


def inputs_with(action: ActionSpec, key: str, value: str) -> dict[str, Any]:
    """Every required input with a short valid value (and one of each at-least-one-of
    rule), and ``key`` set to ``value``."""
    inputs: dict[str, Any] = {
        spec.key: spec.example or "x"
        for spec in action.value_inputs
        if spec.required and not spec.has_default
    }
    if action.key in REPLIES:
        inputs.update({"reply_as": "contact"} if key == "contact_id" else {"admin_id": "1"})
    inputs.update(HANDLER_NEEDS.get(action.key, {}))
    inputs[key] = value
    for rule in action.rules:
        if rule.type == "at_least_one_of" and not set(rule.inputs) & set(inputs):
            first = action.input(rule.inputs[0])
            inputs[first.key] = first.example or "x"
    return inputs


def long_id(action_key: str, key: str) -> str | None:
    """A 70,000-character id the input's own pattern takes; None when its pattern bounds
    its length (an admin's id is a number Intercom keeps as an integer)."""
    pattern = load_manifest().action(action_key).input(key).json_schema().get("pattern")
    fitting = [v for v in (LONG_ID, LONG_NUMBER) if pattern is None or re.search(pattern, v)]
    return fitting[0] if fitting else None


BOUNDED = [case for case in id_inputs() if long_id(*case) is None]
IN_A_URL = [case for case in id_inputs() if case not in IN_THE_BODY and case not in BOUNDED]
#: per case: the CLI's run, and how many requests reached the server
Runs = dict[tuple[str, str], tuple[subprocess.CompletedProcess[str], int]]


@pytest.fixture(scope="module")
def long_id_runs() -> Iterator[Runs]:
    """Each ID input that goes in a URL, 70,000 characters long, through the real CLI.

    The runs go side by side to one loopback server; each has its own token, so the
    requests that reached the server are counted per run.
    """
    recorder = Recorder()
    for method in ("GET", "POST", "PUT", "DELETE"):
        recorder.on(method, ".*", {"type": "answer"})
    server = LoopbackIntercom(recorder)
    actions = load_manifest().actions

    def run(number: int) -> subprocess.CompletedProcess[str]:
        action_key, key = IN_A_URL[number]
        value = long_id(action_key, key)
        assert value is not None
        stdin = json.dumps(inputs_with(actions[action_key], key, value))
        token = f"{TOKEN}-{number}"
        return cli("run", action_key, "--inputs", "-", server=server, stdin=stdin, token=token)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = list(pool.map(run, range(len(IN_A_URL))))
    finally:
        server.close()
    sent = [r.headers["Authorization"].removeprefix(f"Bearer {TOKEN}-") for r in recorder.requests]
    yield {case: (done[n], sent.count(str(n))) for n, case in enumerate(IN_A_URL)}


def test_every_id_input_is_covered() -> None:
    cases = id_inputs()
    assert ("get_contact", "contact_id") in cases and ("list_companies", "segment_id") in cases
    assert set(cases) >= IN_THE_BODY


@pytest.mark.parametrize(("action_key", "key"), IN_A_URL)
def test_an_id_too_long_for_a_url_is_a_bad_input_named_by_label(
    action_key: str, key: str, long_id_runs: Runs
) -> None:
    done, requests_sent = long_id_runs[action_key, key]
    label = load_manifest().action(action_key).input(key).label
    assert done.returncode == 2, done.stderr
    problem = f"{label} ({key}): is too long to send in a URL (70,000 characters)"
    assert done.stderr.count(problem) == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 2, done.stderr
    assert LONG_ID[:100] not in done.stderr and LONG_NUMBER[:100] not in done.stderr
    assert requests_sent == 0
    assert done.stdout == ""


@pytest.mark.parametrize(("action_key", "key"), sorted(set(IN_THE_BODY) - set(BOUNDED)))
def test_a_long_id_that_goes_in_the_body_is_sent_whole(
    action_key: str, key: str, recorder: Recorder, connector: Connector
) -> None:
    for method in ("POST", "PUT"):
        recorder.on(method, ".*", {"type": "answer"})
    recorder.on("GET", ".*", {"type": "tag", "name": "VIP"})  # what a handler looks up first
    action = load_manifest().action(action_key)
    value = long_id(action_key, key)
    assert value is not None
    connector.invoke(action_key, inputs_with(action, key, value))
    assert recorder.last.method in ("POST", "PUT")
    assert value in recorder.last.content.decode()
    assert all(value not in str(request.url) for request in recorder.requests)


@pytest.mark.parametrize(("action_key", "key"), BOUNDED)
def test_an_id_whose_pattern_bounds_it_is_refused_by_that_pattern(
    action_key: str, key: str, recorder: Recorder, connector: Connector
) -> None:
    action = load_manifest().action(action_key)
    spec = action.input(key)
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke(action_key, inputs_with(action, key, LONG_NUMBER))
    assert [str(p) for p in excinfo.value.problems] == [
        f"{spec.label} ({key}): {spec.pattern_hint}; got '{LONG_NUMBER[:56]}..."
    ]
    assert recorder.requests == []


def test_a_long_query_value_names_its_parameter(recorder: Recorder) -> None:
    connection = connection_from_mapping({"type": "access_token", "access_token": TOKEN})
    with (
        IntercomClient(connection, transport=httpx.MockTransport(recorder)) as client,
        pytest.raises(InputRefusal) as excinfo,
    ):
        client.request("GET", "/companies", params={"per_page": 5, "segment_id": LONG_ID})
    assert excinfo.value.key == "segment_id"
    assert excinfo.value.problem == "is too long to send in a URL (70,000 characters)"
    assert recorder.requests == []


def test_a_header_with_a_line_break_is_refused_unsent_through_the_cli(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    recorder.on("GET", "/admins", {"type": "admin.list", "admins": []})
    inputs = {"url": "/admins", "method": "GET", "headers": {"X-A": "b\r\nEvil: 1"}}
    done = cli("run", "raw_request", "--inputs", "-", server=loopback, stdin=json.dumps(inputs))
    assert done.returncode == 2, done.stderr
    assert "Header (headers): the value of 'X-A' must be one line" in done.stderr
    assert "Evil" not in done.stderr and "Traceback" not in done.stderr
    assert recorder.requests == []


class RecordedSleep(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-A": "b\r\nEvil: 1"}, "could not be written as an HTTP request"),  # by h11
        ({"X A": "b"}, "could not be written as an HTTP request"),
        ({"X-A": "ünï"}, "a header value is not plain ASCII text"),  # by httpx
    ],
)
def test_a_request_the_client_cannot_write_is_not_retried_nor_a_network_failure(
    headers: dict[str, str], problem: str, recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    # Over real HTTP: the in-memory transport would not check the headers at all.
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    connection = connection_from_mapping(
        {"type": "access_token", "access_token": TOKEN, "base_url": loopback.url}
    )
    sleep = RecordedSleep()
    with (
        IntercomClient(connection, sleep=sleep) as client,
        pytest.raises(InputRefusal, match=problem) as excinfo,
    ):
        client.send("GET", "/tags", headers=headers)
    assert excinfo.value.exit_code == 2
    assert "Evil" not in str(excinfo.value)
    assert sleep == []  # no backoff: a second attempt would fail the same way
    assert recorder.requests == []
