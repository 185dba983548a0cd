"""Every command the README shows runs as written: each `intercom-connector` line of its sh
blocks is run for real, in README order, in a shell, against the sandbox, and exits 0.

The commands run with no Intercom credentials (so `run` and `flow run` use the embedded
sandbox), a fresh sandbox folder and config folder, and a sandbox served on a free loopback
port standing in for `sandbox serve` on 127.0.0.1:8765. Lines that cannot run unattended
are listed below with the reason and the test that exercises them instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import REPO

from intercom_connector.sandbox import DEFAULT_TOKEN, Sandbox, serve

#: commands that set the environment up: the one this suite runs in did them already
SETUP = {
    "python3 -m venv .venv": "the suite runs in that virtualenv",
    ".venv/bin/pip install -q -e .": "the suite runs on that install",
    ".venv/bin/pip install -q -e '.[test]'": "the suite runs on that install",
    ".venv/bin/pip install .": "the suite runs on an install of it",
    ".venv/bin/python -m pytest": "this is that suite",
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
    "intercom-connector mcp --connection work --http":
        "serves until interrupted; test_mcp.py runs it and connects over streamable HTTP",
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


def sh_lines(readme: str) -> list[str]:
    """Each command line of the README's sh blocks (continuations joined, comments cut)."""
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", readme, re.MULTILINE | re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = without_comment(line).strip()
            if command:
                lines.append(command)
    return lines


def commands(readme: str) -> list[str]:
    """The commands to run: each `&&` part that is an intercom-connector command, in order.
    Every other part must be declared above, so nothing is skipped silently."""
    runnable = []
    for line in sh_lines(readme):
        for part in (piece.strip() for piece in line.split(" && ")):
            if part in SETUP or part in UNATTENDED:
                continue
            assert "intercom-connector" in part, f"README line not run and not declared: {part}"
            runnable.append(part)
    return runnable


def test_the_declared_exceptions_are_still_in_the_readme() -> None:
    lines = " \n".join(sh_lines((REPO / "README.md").read_text(encoding="utf-8")))
    for declared in (*SETUP, *UNATTENDED, *REWRITTEN):
        assert declared in lines, f"declared here but gone from the README: {declared}"


def test_every_readme_command_runs(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    to_run = commands(readme)
    assert any("raw_request -i url=/admins" in command for command in to_run)
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
