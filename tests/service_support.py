"""What the tests of the HTTP services share: the CLI serving in a subprocess, its URL as
it announces it, a fake Intercom that counts and can hold requests, and MCP calls over
plain HTTP (a stateless server answers a lone ``tools/call`` with one JSON message)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from support import REPO, TOKEN

from intercom_connector.sandbox import Sandbox, ServerHandle

#: no server may take longer than this to start, answer or stop
DEADLINE = 60
#: bearer tokens: the current one and the one being rotated out
TOKENS = ("current-token-4c1f0e9a7b3d52e8", "previous-token-9d2b7a61f0c3e4b5")
WEBHOOK_SECRET = "listener-secret-5e8a"


class CountingIntercom:
    """The sandbox's WSGI app, counting requests; ``hold`` makes each wait for ``release``."""

    def __init__(self) -> None:
        self.app = Sandbox(":memory:", token=TOKEN).app
        self.requests = 0
        self.arrived = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            self.requests += 1
        self.arrived.release()
        self.gate.wait(DEADLINE)
        if self.delay:
            time.sleep(self.delay)
        return self.app(environ, start_response)


@contextmanager
def intercom(tmp_path: Path, threads: int = 32) -> Iterator[tuple[CountingIntercom, Path]]:
    """A counting sandbox on loopback accepting only the canary token; a connection file."""
    app = CountingIntercom()
    server = ServerHandle(app, "127.0.0.1", 0, threads)  # type: ignore[arg-type]
    connection = tmp_path / "connection.json"
    connection.write_text(
        json.dumps({"type": "access_token", "access_token": TOKEN, "base_url": server.url})
    )
    connection.chmod(0o600)
    try:
        yield app, connection
    finally:
        app.gate.set()
        server.stop()


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


class Served:
    """A CLI service in a subprocess: its process, its URL (at 127.0.0.1) and its stderr."""

    def __init__(self, args: list[str], errlog: Path, env: dict[str, str], **popen: Any) -> None:
        self.errlog = errlog
        with errlog.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "intercom_connector", *args],
                stderr=errors,
                env=env,
                cwd=REPO,
                **popen,
            )
        deadline = time.monotonic() + DEADLINE
        while not (found := re.search(r"http://[\d.:\[\]]+?:(\d+)(/\w*)", self.stderr())):
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, "the server never said where it listens"
            time.sleep(0.05)
        self.port = int(found.group(1))
        self.url = f"http://127.0.0.1:{self.port}{found.group(2)}"
        self.base = f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.errlog.read_text()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)
            raise


@contextmanager
def served(
    args: list[str],
    errlog: Path,
    env: dict[str, str],
    release: threading.Event | None = None,
    **popen: Any,
) -> Iterator[Served]:
    """The service running; at the end ``release`` is set (calls held at Intercom go on,
    also when the test failed) before it is stopped."""
    server = Served(args, errlog, env, **popen)
    try:
        yield server
    finally:
        if release is not None:
            release.set()
        server.stop()


def mcp_args(connection: Path, *extra: str) -> list[str]:
    """``mcp --http`` beyond loopback, stateless, with the tokens of TOKENS_ENV."""
    return [
        "mcp", "--connection", str(connection), "--http", "--port", "0", "--host", "0.0.0.0",
        "--token-env", "MCP_TOKENS", "--stateless", "--log-format", "json", *extra,
    ]  # fmt: skip


def mcp_env() -> dict[str, str]:
    return environment(MCP_TOKENS=",".join(TOKENS))


def call(
    client: httpx.Client, url: str, name: str, arguments: dict[str, Any], token: str | None
) -> httpx.Response:
    """One ``tools/call`` as its own POST (no session: the server is stateless)."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(url, json=message, headers=headers, timeout=DEADLINE)


def result_of(response: httpx.Response) -> Any:
    """The tool's structured result, asserting the call succeeded."""
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError"), result
    return result["structuredContent"]


def notification(notification_id: str, topic: str = "contact.user.created") -> bytes:
    return json.dumps({
        "type": "notification_event", "app_id": "ws1", "id": notification_id, "topic": topic,
        "created_at": int(time.time()), "data": {"type": "notification_event_data",
                                                 "item": {"type": "contact", "id": "c1"}},
    }).encode()  # fmt: skip


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}", "Content-Type": "application/json"}


def listen_args(*extra: str) -> list[str]:
    return [
        "trigger", "listen", "intercom_webhook", "--port", "0", "--host", "0.0.0.0",
        "-i", "topics=contact.user.created", "--log-format", "json", *extra,
    ]  # fmt: skip


def listen_env() -> dict[str, str]:
    return environment(INTERCOM_CLIENT_SECRET=WEBHOOK_SECRET)
