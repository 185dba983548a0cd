"""A canary token and a canary client secret never appear in any output, log, error or repr."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenarios import Workspace, inputs_for, running_order, scenario
from support import REPO, run_cli

from intercom_connector import Connector
from intercom_connector.runtime.errors import ConnectorError
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.sandbox import Sandbox, ServerHandle, serve

CANARY_TOKEN = "canary-tok-9d8e7f6a5b4c3d2e1f"
CANARY_SECRET = "canary-sec-1a2b3c4d5e6f7a8b9c"
CANARIES = (CANARY_TOKEN, CANARY_SECRET)


@pytest.fixture(scope="module")
def served() -> Iterator[ServerHandle]:
    sandbox = Sandbox(":memory:", token=CANARY_TOKEN, oauth_clients={"canary-app": CANARY_SECRET})
    with serve(sandbox) as server:
        yield server


def assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_action_on_every_path_keeps_the_secrets(
    served: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"type": "oauth2", "client_id": "canary-app", "client_secret": CANARY_SECRET,
            "access_token": CANARY_TOKEN, "base_url": served.url}  # fmt: skip
    down = {**good, "base_url": f"http://127.0.0.1:{closed_port()}"}
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with Connector(good) as intercom:
            messages += [repr(intercom), repr(intercom.client), repr(intercom.connection)]
            workspace = Workspace(intercom)
            for action in running_order(load_manifest().actions.values()):
                inputs = inputs_for(action, workspace)  # on the success path, each one
                messages.append(repr(intercom.invoke(action.key, inputs)))
                # failure paths: unknown ids (404) and invalid inputs (no request)
                for broken in ({k: "missing" for k in scenario(action)}, {"nope": "x"}):
                    try:
                        intercom.invoke(action.key, broken)
                    except ConnectorError as error:
                        messages += [str(error), repr(error)]
        for connection in ({**good, "access_token": "wrong-token"}, down):
            with Connector(connection) as failing:
                for action, inputs in (
                    ("list_tags", {}),
                    ("create_contact", {"email": "c@example.com"}),
                    ("raw_request", {"url": "/me", "method": "GET"}),
                ):
                    try:
                        failing.invoke(action, inputs)
                    except ConnectorError as error:
                        messages += [str(error), repr(error), repr(error.__dict__)]
    assert any("401 unauthorized" in m for m in messages)
    assert any("No answer from Intercom" in m for m in messages)
    assert any("-> GET" in r.getMessage() for r in caplog.records)
    assert_clean(*messages, caplog.text, *(repr(r.__dict__) for r in caplog.records))


def cli(config: Path, *args: str, env: dict[str, str], stdin: str = "") -> str:
    done = run_cli(
        "--verbose", "--config-dir", str(config), *args, stdin=stdin, env=env, timeout=120
    )
    return done.stdout + done.stderr


def test_every_cli_command_keeps_the_secrets(served: ServerHandle, tmp_path: Path) -> None:
    config = tmp_path / "config"
    token_env = {"INTERCOM_ACCESS_TOKEN": CANARY_TOKEN, "INTERCOM_BASE_URL": served.url}
    bad_env = {"INTERCOM_ACCESS_TOKEN": CANARY_TOKEN + "x", "INTERCOM_BASE_URL": served.url}
    down_env = {**token_env, "INTERCOM_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    flow = REPO / "examples" / "onboard-customer.yaml"
    outputs = [
        cli(config, "run", "list_tags", env=token_env),
        cli(config, "run", "create_contact", "-i", "email=cli@example.com", env=token_env),
        cli(config, "run", "get_contact", "-i", "contact_id=missing", env=token_env),
        cli(config, "run", "list_tags", env=bad_env),
        cli(config, "run", "list_tags", env=down_env),
        cli(config, "run", "list_tags", "-i", "bogus=1", env=token_env),
        cli(config, "flow", "run", str(flow), env=token_env),
        cli(
            config,
            "connect",
            "access-token",
            "--name",
            "t",
            "--base-url",
            served.url,
            env={},
            stdin=CANARY_TOKEN + "\n",
        ),
        cli(config, "connections", "list", env={}),
        cli(config, "connections", "show", "t", env={}),
        cli(config, "connections", "test", "t", env={}),
        cli(config, "run", "list_tags", "--connection", "t", env={}),
        cli(
            config,
            "connect",
            "oauth2",
            "--client-id",
            "canary-app",
            "--base-url",
            served.url,
            "--timeout",
            "1",
            "--no-browser",
            env={"INTERCOM_CLIENT_SECRET": CANARY_SECRET},
        ),
        cli(config, "connections", "remove", "t", env={}),
        cli(config, "actions", env=token_env),
        cli(config, "describe", "raw_request", env=token_env),
        cli(config, "manifest", env=token_env),
        cli(config, "docs", env=token_env),
    ]
    assert '"type": "list"' in outputs[0] and '"type": "list"' in outputs[11]
    assert "401 unauthorized" in outputs[3]
    assert "No answer from Intercom" in outputs[4]
    assert '"access_token": "********"' in outputs[9]
    assert "No authorization arrived" in outputs[12]
    assert_clean(*outputs)


def test_sandbox_serve_does_not_print_a_given_token(tmp_path: Path) -> None:
    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "sandbox", "serve", "--port", str(port),
         "--token", CANARY_TOKEN, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert server.stderr is not None
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(server.stderr.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=30)
    server.terminate()
    out, err = server.communicate(timeout=10)
    assert first_line and "Intercom sandbox on http://127.0.0.1" in first_line[0]
    assert_clean(first_line[0], out, err)


def private(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(0o600)
    return path


# Each: the file (a canary in it, next to a syntax error), the command using it, the exit
# status, and where the error is.
MALFORMED = {
    "connection YAML": (
        "connection.yaml", f"type: access_token\naccess_token: {CANARY_TOKEN}: x\n",
        ["run", "list_tags", "-c", "{file}"], 3, "line 2, column 44",
    ),
    "connection JSON": (
        "connection.json",
        f'{{"type": "access_token", "access_token": "{CANARY_TOKEN}"\n "region": "eu"}}',
        ["run", "list_tags", "-c", "{file}"], 3, "line 2, column 2",
    ),
    "connection YAML alias": (
        "connection.yml", f"access_token: *{CANARY_TOKEN}\n",
        ["run", "list_tags", "-c", "{file}"], 3, "line 1, column 15",
    ),
    "connection YAML tag": (
        "connection.yml",
        f"type: oauth2\nclient_id: app\nclient_secret: !{CANARY_SECRET} x\n",
        ["run", "list_tags", "-c", "{file}"], 3, "line 3, column 16",
    ),
    "connection not UTF-8": (
        "connection.yaml", f"access_token: {CANARY_TOKEN}".encode() + b"\xff\n",
        ["run", "list_tags", "-c", "{file}"], 3, "line 1, column 44",
    ),
    "inputs file": (
        "inputs.json", f'{{"name": "{CANARY_TOKEN}" "email": "a@example.com"}}',
        ["run", "create_tag", "--inputs", "{file}"], 2, "line 1, column 42",
    ),
    "flow file": (
        "flow.yaml",
        "steps:\n  - id: tag\n    action: create_tag\n"
        f"    inputs: {{name: {CANARY_SECRET}: x}}\n",
        ["flow", "run", "{file}"], 2, "line 4, column 49",
    ),
    "saved connections": (
        "config/connections.json",
        f'{{"t": {{"type": "access_token", "access_token": "{CANARY_TOKEN}" "region": "eu"}}}}',
        ["run", "list_tags", "-c", "t"], 3, "line 1, column 80",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_is_one_line_without_its_secrets(case: str, tmp_path: Path) -> None:
    name, content, args, status, where = MALFORMED[case]
    path = private(tmp_path / name, content)
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "--config-dir", str(tmp_path / "config"),
         *(arg.format(file=path) for arg in args)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{path}: {where}: " in done.stderr
    assert_clean(done.stdout, done.stderr)


def test_inputs_from_standard_input_with_a_syntax_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "run", "create_tag", "--inputs", "-"],
        input=f"name: {CANARY_TOKEN}: x\n", capture_output=True, text=True, timeout=120,
        cwd=REPO, env={k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
    )  # fmt: skip
    assert done.returncode == 2
    expected = "inputs file (standard input): line 1, column 36: mapping values are not allowed"
    assert done.stderr == f"error: {expected} here\n"
    assert_clean(done.stderr)
