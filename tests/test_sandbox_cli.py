"""The sandbox's state through the real CLI: unusable folders, corrupt databases, and
`sandbox reset` rebuilding one; `sandbox serve` announcing only a server that listens."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from support import REPO, run_cli

from intercom_connector.sandbox import Sandbox, SandboxStateError, serve

FLOW = "name: Tags\nsteps:\n  - id: tags\n    action: list_tags\n"


def cli(*args: str, sandbox_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command with no Intercom credentials: the embedded sandbox."""
    env = {"INTERCOM_SANDBOX_DIR": str(sandbox_dir)} if sandbox_dir is not None else None
    return run_cli(*args, env=env)


def assert_one_line_error(done: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def corrupt_database(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sandbox.sqlite3").write_bytes(os.urandom(8192))


def commands_on(folder: Path, flow: Path) -> list[tuple[list[str], Path | None]]:
    """Every command that opens the sandbox's state: by environment or by --data-dir."""
    return [
        (["run", "list_tags"], folder),
        (["flow", "run", str(flow)], folder),
        (["sandbox", "serve", "--port", "0", "--data-dir", str(folder)], None),
        (["sandbox", "reset", "--data-dir", str(folder)], None),
    ]


@pytest.mark.parametrize("kind", ["under a file", "a file in its place"])
def test_a_folder_that_cannot_be_made_is_one_line_exit_3(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    folder = blocker / "sandbox" if kind == "under a file" else blocker
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    for args, sandbox_dir in commands_on(folder, flow):
        line = assert_one_line_error(cli(*args, sandbox_dir=sandbox_dir), 3)
        assert f"cannot create the sandbox folder {folder}" in line, (args, line)


def test_a_corrupt_database_names_the_reset_and_the_reset_rebuilds_it(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    corrupt_database(folder)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    for args, sandbox_dir in commands_on(folder, flow)[:3]:
        line = assert_one_line_error(cli(*args, sandbox_dir=sandbox_dir), 3)
        assert f"the sandbox database {folder / 'sandbox.sqlite3'} is corrupt" in line
        reset = "sandbox reset" if sandbox_dir else f"sandbox reset --data-dir {folder}"
        assert f"run `intercom-connector {reset}` to start a new one" in line, line

    done = cli("sandbox", "reset", sandbox_dir=folder)
    assert done.returncode == 0, done.stderr
    tags = cli("run", "list_tags", sandbox_dir=folder)
    assert tags.returncode == 0, tags.stderr
    assert len(json.loads(tags.stdout)["data"]["data"]) == 5  # the demo workspace again


def test_a_database_corrupt_past_its_header_is_found_in_use_and_reset(tmp_path: Path) -> None:
    """Opening reads only the first pages: the rest is found corrupt by a request, or by
    the reset itself, which must then make a new database rather than fail."""
    sandbox = Sandbox(tmp_path)
    sandbox.add_contacts(2_000)
    sandbox.close()
    database = tmp_path / "sandbox.sqlite3"
    size = database.stat().st_size
    with database.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(os.urandom(size - size // 2))
    everyone = ("run", "list_contacts", "-i", "fetch_all=true")
    line = assert_one_line_error(cli(*everyone, sandbox_dir=tmp_path), 3)
    assert "is corrupt" in line and "run `intercom-connector sandbox reset`" in line

    done = cli("sandbox", "reset", sandbox_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = cli(*everyone, sandbox_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["data"]["data"]) == 50


def test_a_database_corrupted_while_in_use(tmp_path: Path) -> None:
    """In-process the caller gets the sandbox's error; over HTTP, a 500 in Intercom's shape."""
    sandbox = Sandbox(tmp_path)
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    client = httpx.Client(transport=sandbox.transport(), base_url=sandbox.base_url)
    assert client.get("/tags", headers=headers).status_code == 200
    for path in tmp_path.glob("sandbox.sqlite3*"):
        path.write_bytes(os.urandom(path.stat().st_size))
    with pytest.raises(SandboxStateError, match="is corrupt") as raised:
        client.get("/tags", headers=headers)
    assert raised.value.corrupt
    with serve(sandbox) as server:
        answer = httpx.get(f"{server.url}/tags", headers=headers, timeout=10)
    assert answer.status_code == 500
    (error,) = answer.json()["errors"]
    assert error["code"] == "server_error" and "is corrupt" in error["message"]


def test_serve_on_a_busy_port_prints_the_error_only(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("sandbox", "serve", "--port", str(port), "--data-dir", str(tmp_path))
    line = assert_one_line_error(done, 3)
    assert line.startswith(f"error: cannot serve the sandbox on 127.0.0.1:{port}: ")
    assert "Intercom sandbox on" not in done.stderr


def test_serve_announces_the_port_it_listens_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    command = [sys.executable, "-m", "intercom_connector", "sandbox", "serve",
               "--port", "0", "--data-dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert server.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(server.stderr.readline()), daemon=True).start()
        banner = lines.get(timeout=30)
        assert banner.startswith("Intercom sandbox on http://127.0.0.1:"), banner
        url = banner.split()[3]
        assert not url.endswith(":0")  # the port it got, not the one asked for
        me = httpx.get(f"{url}/me", headers={"Authorization": "Bearer sandbox-token"}, timeout=10)
        assert me.status_code == 200 and me.json()["type"] == "admin"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_emptied_sandbox_stays_empty(tmp_path: Path) -> None:
    done = cli("sandbox", "reset", "--empty", sandbox_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    for action in ("list_tags", "list_contacts", "list_ticket_types"):
        listed = cli("run", action, sandbox_dir=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["data"]["data"] == [], action


def test_a_served_sandbox_stops_at_once_and_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping a sandbox served in a thread (every test's, a bench's) ends its loop at once,
    not at the loop's next one-second timeout, and never under a socket in use by it (an
    EBADF in the server's thread): forty starts and stops, each after a request."""
    import statistics
    import time

    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    sandbox = Sandbox(":memory:")
    stops = []
    for _ in range(40):
        server = serve(sandbox)
        answer = httpx.get(f"{server.url}/me", headers={"Authorization": "Bearer sandbox-token"})
        assert answer.status_code == 200
        began = time.monotonic()
        server.stop()
        stops.append(time.monotonic() - began)
        assert not server._thread.is_alive()
    assert failures == []
    # the loop's timeout is a second: a stop that waits for it takes half a second, median
    assert statistics.median(stops) < 0.25, sorted(stops)
