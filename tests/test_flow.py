"""``flow run``: the whole flow checked before any step runs, and what a person sees."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, TOKEN, LoopbackIntercom, Recorder, run_cli

from intercom_connector import Connector
from intercom_connector.hosts.flow import (
    StepError,
    StepLines,
    made_or_found,
    parse_flow,
    run_flow,
)
from intercom_connector.sandbox import Sandbox

cli = run_cli


@pytest.fixture
def intercom(recorder: Recorder, loopback: LoopbackIntercom) -> dict[str, str]:
    """The environment of a CLI run against a loopback Intercom that records every request."""
    return {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return str(path)


BROKEN_FLOW = """\
steps:
  - id: contact
    action: create_contact
    inputs:
      name: Ada
      signed_up_at: last tuesday
      colour: red
  - id: tag
    action: create_tag
    inputs:
      name: "VIP {{ steps.contact.data.name"
  - id: attach
    action: attach_tag_to_contact
    inputs:
      contact_id: "{{ steps.contact.data.id }}"
      tag: "{{ steps.tag.data.id }}"
  - id: listing
    action: list_contacts
    inputs:
      per_page: many
      fetch_all: "{{ steps.later.data }}"
"""


def test_every_problem_of_the_flow_is_reported_before_anything_runs(
    recorder: Recorder, intercom: dict[str, str], tmp_path: Path
) -> None:
    done = cli("flow", "run", write(tmp_path, BROKEN_FLOW), env=intercom)
    assert done.returncode == 2
    assert recorder.requests == []
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: {tmp_path / 'flow.yaml'}: 8 problems:"
    assert lines[1:] == [
        "  - step 'contact' (create_contact): colour: is not an input of Create Contact; "
        "its inputs are: role, external_id, email, phone, name, avatar, signed_up_at, "
        "last_seen_at, unsubscribed_from_emails, custom_attributes",
        "  - step 'contact' (create_contact): Signed Up At (signed_up_at): expected unix "
        "seconds or an ISO-8601 date-time, got 'last tuesday'",
        "  - step 'contact' (create_contact): Role / External ID / Email (role): give at "
        "least one of Role, External ID, Email",
        "  - step 'tag' (create_tag): Name (name): 'VIP {{ steps.contact.data.name' has a '{{' "
        "that does not open a reference such as '{{ steps.<id>.<path> }}' (an unclosed '{{' "
        "is not sent as text)",
        "  - step 'attach' (attach_tag_to_contact): tag: is not an input of Attach Tag to "
        "Contact; its inputs are: contact_id, tag_id",
        "  - step 'attach' (attach_tag_to_contact): Tag ID (tag_id): is required",
        "  - step 'listing' (list_contacts): Fetch All (fetch_all): '{{ steps.later.data }}' "
        "must name run.id, run.started_at or an earlier step as steps.<id>.<path>; earlier "
        "steps: attach, contact, tag",
        "  - step 'listing' (list_contacts): Per Page (per_page): expected a whole number, "
        "got 'many'",
    ]


def test_one_problem_is_one_line_naming_its_step_once(tmp_path: Path) -> None:
    flow = "steps:\n  - id: nope\n    action: frobnicate\n"
    done = cli("flow", "run", write(tmp_path, flow), env=sandbox_env(tmp_path))
    assert done.returncode == 2
    assert (
        done.stderr
        == f"error: {tmp_path / 'flow.yaml'}: step 'nope': 'frobnicate' is not an action\n"
    )


def test_an_unclosed_reference_is_refused_not_sent_as_text(
    recorder: Recorder, intercom: dict[str, str], tmp_path: Path
) -> None:
    flow = "steps:\n  - id: tag\n    action: create_tag\n    inputs: {name: '{{ run.id }'}\n"
    done = cli("flow", "run", write(tmp_path, flow), env=intercom)
    assert done.returncode == 2
    assert "Name (name): '{{ run.id }' has a '{{' that does not open a reference" in done.stderr
    assert recorder.requests == []


def test_a_referenced_input_counts_as_given_and_is_typed_at_run_time() -> None:
    flow = parse_flow(
        {
            "steps": [
                {"id": "tag", "action": "create_tag", "inputs": {"name": "VIP"}},
                {"id": "contact", "action": "create_contact", "inputs": {"email": "a@b.example"}},
                {
                    "id": "found",
                    "action": "search_contacts",  # needs one of Role, Name, Email, JSON Query
                    "inputs": {"email": "{{ steps.contact.data.email }}"},
                },
                {
                    "id": "attach",
                    "action": "attach_tag_to_contact",  # both required inputs by reference
                    "inputs": {
                        "contact_id": "{{ steps.contact.data.id }}",
                        "tag_id": "{{ steps.tag.data.id }}",
                    },
                },
            ]
        },
        "flow.yaml",
    )
    sandbox = Sandbox(":memory:")
    connection = {"type": "access_token", "access_token": sandbox.token}
    with Connector(connection, transport=sandbox.transport()) as connector:
        outputs = run_flow(flow, connector)
    assert outputs["found"]["data"]["data"][0]["id"] == outputs["contact"]["data"]["id"]
    assert outputs["attach"]["data"]["id"] == outputs["tag"]["data"]["id"]


def test_a_reference_with_no_value_names_the_input(tmp_path: Path) -> None:
    flow = (
        "steps:\n"
        "  - id: tag\n    action: create_tag\n    inputs: {name: first}\n"
        "  - id: again\n    action: update_tag\n"
        "    inputs: {tag_id: '{{ steps.tag.data.id }}', name: '{{ steps.tag.data.nmae }}'}\n"
    )
    done = cli("flow", "run", write(tmp_path, flow), "--sandbox", env=sandbox_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.endswith(
        "error: step 'again' (update_tag) failed: Update Tag: 1 input is not valid:\n"
        "  - Name (name): '{{ steps.tag.data.nmae }}' has no value: steps.tag.data has no "
        "'nmae'\n"
    )


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    return {"INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox")}


FAILING_FLOW = """\
steps:
  - id: tag
    action: create_tag
    inputs: {name: ok}
  - id: broken
    action: get_contact
    inputs: {contact_id: does-not-exist}
  - id: later
    action: get_contact
    inputs: {contact_id: "{{ steps.broken.data.id }}"}
"""


def test_json_on_a_failing_step_still_tells_what_ran_failed_and_was_skipped(
    tmp_path: Path,
) -> None:
    done = cli(
        "flow", "run", write(tmp_path, FAILING_FLOW), "--sandbox", "--json",
        env=sandbox_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 4
    printed = json.loads(done.stdout)
    assert list(printed) == ["tag", "broken", "later"]
    assert printed["tag"]["data"]["name"] == "ok"
    error = printed["broken"]["error"]
    assert (error["type"], error["exit_code"]) == ("NotFoundError", 4)
    assert error["message"].startswith("Intercom answered 404 not_found on GET /contacts/does-")
    assert printed["later"] == {"skipped": True}
    assert "error: step 'broken' (get_contact) failed: Intercom answered 404" in done.stderr


# -- on a terminal: one line per step and a summary --------------------------------------


def test_what_a_step_made_or_found_is_read_off_any_output() -> None:
    contact = {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0", "email": "ada@example.com"}
    assert made_or_found({"data": contact}) == "contact 6657a1b2c3d4e5f6a7b8c9d0 ada@example.com"
    assert made_or_found({"data": {"type": "tag", "id": "7", "name": "VIP"}}) == "tag 7 VIP"
    page = {"type": "list", "data": [contact] * 15, "total_count": 51}
    assert made_or_found({"data": page}) == "15 of 51 records"
    assert made_or_found({"data": {"type": "list", "data": [contact]}}) == "1 record"
    assert made_or_found({"data": {"id": "7", "deleted": True}}) == "7 deleted"
    assert made_or_found({"data": {"status": 204, "headers": {}, "data": None}}) == "status 204"
    assert made_or_found({"data": {"type": "company", "name": "x" * 60}}) == (
        "company " + "x" * 37 + "..."
    )


def fake_clock(*readings: float) -> Iterator[float]:
    return iter(readings)


def test_step_lines_say_status_what_and_time(tmp_path: Path) -> None:
    flow = parse_flow(
        {
            "steps": [
                {"id": "tag", "action": "create_tag", "inputs": {"name": "Newcomer"}},
                {"id": "tags", "action": "list_tags"},
                {"id": "broken", "action": "get_contact", "inputs": {"contact_id": "nobody"}},
                {"id": "later", "action": "list_tags"},
            ]
        },
        "flow.yaml",
    )
    lines = StepLines(flow, "utf-8")
    shown: list[str] = []
    readings = fake_clock(0.0, 0.032, 1.0, 2.5, 3.0, 3.004)
    sandbox = Sandbox(":memory:")
    connection = {"type": "access_token", "access_token": sandbox.token}
    with (
        Connector(connection, transport=sandbox.transport()) as connector,
        pytest.raises(StepError) as excinfo,
    ):
        run_flow(flow, connector, lambda r: shown.append(lines.line(r)), clock=readings.__next__)
    tag_id = excinfo.value.results[0].output["data"]["id"]  # type: ignore[index]
    assert shown == [
        f"✓ tag     create_tag   tag {tag_id} Newcomer  32 ms",
        "✓ tags    list_tags    6 records  1.5 s",
        "✗ broken  get_contact  failed  4 ms",
        "- later   list_tags    skipped",
    ]
    assert lines.summary() == "2 steps ran, 1 failed, 1 skipped in 1.5 s"
    plain = StepLines(flow, "ascii")  # a terminal that cannot show the marks
    assert plain.line(excinfo.value.results[2]) == "x broken  get_contact  failed  4 ms"


def read_terminal(fd: int, process: subprocess.Popen[bytes], limit: float = 60) -> str:
    """Everything written to a pseudo-terminal until the process ends (bounded in time)."""
    chunks, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed: the process is done writing
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_flow_run_on_a_terminal_shows_one_line_per_step_and_a_summary(tmp_path: Path) -> None:
    main, other = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "flow", "run",
         "examples/onboard-customer.yaml"],
        stdout=other, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO,
        env={**env, **sandbox_env(tmp_path), "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    os.close(other)
    try:
        screen = read_terminal(main, process)
    finally:
        os.close(main)
    assert process.returncode == 0
    lines = screen.splitlines()
    assert len(lines) == 11, screen  # one screen: a line per step and the summary
    assert lines[0].startswith("✓ company         create_company             company ")
    assert lines[0].endswith(" Acme Anvils  " + lines[0].rsplit("  ", 1)[1])
    assert lines[1].split()[:4] == ["✓", "contact", "create_contact", "contact"]
    assert "@acme.example" in lines[1]
    assert lines[6].split()[:4] == ["✓", "all_contacts", "list_contacts", "51"]
    assert all(line.rsplit("  ", 1)[1].endswith((" ms", " s")) for line in lines[:10])
    assert lines[10].startswith("10 steps ran in ")
    assert "{" not in screen  # no JSON on a terminal without --json
