"""The real ``intercom-connector`` command, in a subprocess, over loopback HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import TOKEN, LoopbackIntercom, Recorder, body_of, run_cli

from intercom_connector.connections.saved import SavedConnections
from intercom_connector.runtime.inputs import TYPE_HINTS, coerce, schema_fragment
from intercom_connector.runtime.manifest import load_manifest

CONTACT = {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0", "email": "ada@example.com"}


cli = run_cli  # the installed console script, run the way a person would


def token_env(server: LoopbackIntercom) -> dict[str, str]:
    return {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": server.url}


def test_run_prints_the_result_as_json(recorder: Recorder, loopback: LoopbackIntercom) -> None:
    recorder.on("POST", "/contacts", CONTACT)
    args = ["run", "create_contact", "--input", "email=ada@example.com"]
    done = cli(*args, "-i", "signed_up_at=1700000000", env=token_env(loopback))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"data": CONTACT}
    assert body_of(recorder.last) == {
        "email": "ada@example.com",
        "signed_up_at": 1700000000,
        "unsubscribed_from_emails": False,
    }
    assert recorder.last.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in done.stdout + done.stderr


def test_inputs_from_a_file_and_stdin(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("POST", "/tags", {"type": "tag", "id": "5", "name": "VIP"})
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"name": "VIP"}')
    assert (
        cli("run", "create_tag", "--inputs", str(inputs), env=token_env(loopback)).returncode == 0
    )
    done = cli("run", "create_tag", "--inputs", "-", env=token_env(loopback), stdin="name: Gold\n")
    assert done.returncode == 0, done.stderr
    assert [body_of(r) for r in recorder.requests] == [{"name": "VIP"}, {"name": "Gold"}]


def test_connection_from_a_file(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    path = tmp_path / "connection.yaml"
    lines = [f"access_token: {TOKEN}", f"base_url: {loopback.url}", "api_version: '2.15'"]
    path.write_text("type: access_token\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)
    done = cli("run", "list_tags", "--connection", str(path))
    assert done.returncode == 0, done.stderr
    assert recorder.last.headers["Intercom-Version"] == "2.15"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "get_contact"], "Contact ID (contact_id): is required"),
        (["run", "get_contact", "-i", "contact_id"], "expected KEY=VALUE"),
        (["run", "list_contacts", "-i", "per_page=lots"], "expected a whole number, got 'lots'"),
        (["run", "get_contcat"], "'get_contcat' is not an action"),
        (["run", "list_tags", "--inputs", "/nonexistent.json"], "cannot read inputs file"),
        (["describe", "nope"], "'nope' is not an action"),
        (["run"], "the following arguments are required: ACTION"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    args: list[str], message: str, recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    done = cli(*args, env=token_env(loopback))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["run", "get_contcat"], "  - ACTION: 'get_contcat' is not an action; the actions are: "),
        (["run", "list_tags", "--inputs", "/nonexistent.json"], "error: cannot read inputs file"),
    ],
)
def test_messages_name_a_thing_once(args: list[str], line: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert line in done.stderr
    assert "(ACTION)" not in done.stderr and "(--inputs)" not in done.stderr


def test_api_refusal_exits_4(recorder: Recorder, loopback: LoopbackIntercom) -> None:
    body = {"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]}
    recorder.on("GET", "/contacts/nobody", body, status=404)
    done = cli("run", "get_contact", "-i", "contact_id=nobody", env=token_env(loopback))
    assert done.returncode == 4
    expected = "error: Intercom answered 404 not_found on GET /contacts/nobody: User Not Found\n"
    assert done.stderr == expected
    assert done.stdout == ""


def test_bad_token_exits_3(recorder: Recorder, loopback: LoopbackIntercom) -> None:
    body = {
        "type": "error.list",
        "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}],
    }
    recorder.on("GET", "/tags", body, status=401)
    done = cli("run", "list_tags", env=token_env(loopback))
    assert done.returncode == 3
    assert "401 unauthorized" in done.stderr and TOKEN not in done.stderr


def test_bad_connection_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({"type": "access_token", "access_token": TOKEN, "region": "mars"}))
    path.chmod(0o600)
    done = cli("run", "list_tags", "--connection", str(path))
    assert done.returncode == 3
    assert "Region (region): must be one of us, eu, au; got 'mars'" in done.stderr
    assert TOKEN not in done.stderr


def test_network_failure_exits_5() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": f"http://127.0.0.1:{port}"}
    done = cli("run", "list_tags", env=env)
    assert done.returncode == 5
    assert "No answer from Intercom for GET /tags (ConnectError) after 4 attempts" in done.stderr


def test_verbose_traces_requests_with_the_token_redacted(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    done = cli("--verbose", "run", "list_tags", env=token_env(loopback))
    assert done.returncode == 0
    assert f"-> GET {loopback.url}/tags" in done.stderr
    assert "'authorization': 'Bearer ********'" in done.stderr
    assert "<- 200 GET /tags" in done.stderr
    assert TOKEN not in done.stderr + done.stdout


def test_actions_lists_every_key_and_label() -> None:
    done = cli("actions")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == len(load_manifest().actions)
    assert any(line.split(None, 1) == ["get_ticket", "Retrieve a ticket"] for line in lines)
    listed = json.loads(cli("actions", "--json").stdout)
    assert {a["key"]: a["label"] for a in listed}["get_ticket"] == "Retrieve a ticket"


def test_describe_shows_inputs_types_defaults_and_comments() -> None:
    done = cli("describe", "raw_request")
    assert done.returncode == 0
    out = done.stdout
    assert out.startswith("Raw Request (raw_request)\nSend a raw request to Intercom\n")
    assert "  url  [string, required]  URL" in out
    assert "  response_type  [select, optional, default json]  Response Type" in out
    assert "      one of: json, text, binary" in out
    assert "  max_retry_count  [integer, optional, default 0]  Max Retry Count" in out


def test_describe_shows_how_to_write_each_input_and_the_output_fields() -> None:
    out = cli("describe", "create_contact").stdout
    assert (
        "  signed_up_at  [timestamp, optional]  Signed Up At\n"
        "      The time specified for when a contact signed up\n"
        "      unix seconds, or an ISO-8601 date-time (UTC unless it has an offset), "
        "e.g. 2024-03-01T09:00:00Z\n"
    ) in out
    assert "  email  [string, optional]  Email\n      Email of the contact\n      e.g. ada@" in out
    assert '\nOutput: {"data": Contact}, whose fields are:\n  type ' in out
    fields = out.split("whose fields are:\n")[1].splitlines()
    assert fields[1].split(None, 2)[:2] == ["id", "string"]
    assert any(line.split()[:2] == ["external_id", "string|null"] for line in fields)
    raw = cli("describe", "raw_request").stdout
    assert "  headers  [key_value_list, optional]  Header\n" in raw
    assert (
        "      a JSON object of text values, or a JSON list of {key, value}, "
        'e.g. {"X-Trace-Id": "abc123"}\n'
    ) in raw
    assert (
        "  data  [code, optional]  Data\n" in raw and 'JSON, e.g. {"name": "Ada Lovelace"}' in raw
    )
    listed = cli("describe", "list_contacts").stdout.split("whose fields are:\n")[1]
    assert [line.split()[0] for line in listed.splitlines()] == [
        "type", "data", "total_count", "pages"
    ]  # fmt: skip
    assert listed.splitlines()[1].split()[1:4] == ["array", "of", "object"]


@pytest.mark.parametrize("type_name", sorted(TYPE_HINTS))
def test_each_type_hints_example_is_a_valid_value_of_its_type(type_name: str) -> None:
    example = TYPE_HINTS[type_name][1] or "true"
    value = coerce(type_name, example)
    jsonschema.validate(value, schema_fragment(type_name))


def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"intercom-connector {version('intercom-connector')}\n"


def test_global_options_may_follow_the_command(
    recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    config = tmp_path / "config"
    fields = {"type": "access_token", "access_token": TOKEN, "base_url": loopback.url}
    SavedConnections(config).save("work", fields)
    listed = cli("connections", "list", "--config-dir", str(config))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[:2] == ["work", "access_token"]
    done = cli("run", "list_tags", "-c", "work", "--config-dir", str(config), "--verbose")
    assert done.returncode == 0, done.stderr
    assert f"-> GET {loopback.url}/tags" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    quiet = cli("--verbose", "run", "list_tags", "-c", "work", "--config-dir", str(config))
    assert f"-> GET {loopback.url}/tags" in quiet.stderr  # before the command, as always


def test_manifest_is_json_with_input_schemas() -> None:
    manifest: dict[str, Any] = json.loads(cli("manifest").stdout)
    actions = {a["key"]: a for a in manifest["actions"]}
    assert len(actions) == len(load_manifest().actions)
    per_page = next(i for i in actions["list_companies"]["inputs"] if i["key"] == "per_page")
    assert per_page["schema"]["maximum"] == 50 and per_page["schema"]["type"] == "integer"
    assert actions["get_contact"]["output_schema"]["title"]
    assert [c["key"] for c in manifest["connections"]] == ["oauth2", "access_token"]


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("intercom-connector")
    done = subprocess.run([str(script), "actions"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == cli("actions").stdout
