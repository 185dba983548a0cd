"""End to end over loopback, every part a real process: ``sandbox serve --webhook-url`` ->
``trigger listen --flow`` -> the flow's steps run against the served sandbox; then the same
steps started by ``trigger poll``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO

TOKEN = "e2e-trigger-token"
APP_SECRET = "sandbox-client-secret"  # the sandbox app's: it signs the sandbox's deliveries
STEPS = """\
steps:
  - id: tag
    action: create_tag
    inputs: {name: Welcomed}
  - id: welcome
    action: attach_tag_to_contact
    inputs:
      contact_id: "{{ trigger.data.id }}"
      tag_id: "{{ steps.tag.data.id }}"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(sandbox_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env.update({"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": sandbox_url})
    return env


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip


def wait_for(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"{process.args} did not start: {process.communicate()[1]}")
            time.sleep(0.05)


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def served(tmp_path: Path, ports: tuple[int, int]) -> Iterator[str]:
    """`sandbox serve` delivering its webhooks to the listener's port."""
    sandbox_port, listener_port = ports
    process = start(
        "sandbox", "serve", "--port", str(sandbox_port), "--token", TOKEN,
        "--data-dir", str(tmp_path / "sandbox"),
        "--webhook-url", f"http://127.0.0.1:{listener_port}/",
        env=environment(""),
    )  # fmt: skip
    url = f"http://127.0.0.1:{sandbox_port}"
    wait_for(f"{url}/me", process)
    yield url
    process.terminate()
    process.wait(timeout=10)


def api(url: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.request(method, f"{url}{path}", json=body, headers=headers, timeout=10)
    assert answer.is_success, answer.text
    return answer.json()


def tags_of(url: str, contact_id: str) -> list[str]:
    return [tag["name"] for tag in api(url, "GET", f"/contacts/{contact_id}/tags")["data"]]


def test_a_webhook_and_a_poll_start_the_flow_against_the_served_sandbox(
    tmp_path: Path, served: str, ports: tuple[int, int]
) -> None:
    env = environment(served)
    listener_port = ports[1]
    webhook_flow = tmp_path / "welcome-webhook.yaml"
    webhook_flow.write_text(
        "name: Welcome\ntrigger:\n  key: intercom_webhook\n"
        "  inputs: {topics: [contact.user.created]}\n" + STEPS
    )
    listener = start(
        "trigger", "listen", "intercom_webhook", "--port", str(listener_port),
        "--flow", str(webhook_flow), "--max-events", "1",
        env={**env, "INTERCOM_CLIENT_SECRET": APP_SECRET},
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{listener_port}/", listener)
        ada = api(served, "POST", "/contacts", {"email": "ada@example.com", "role": "user"})
        out, err = listener.communicate(timeout=60)
    finally:
        listener.kill()
    assert listener.returncode == 0, err
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert (event["topic"], event["data"]["id"]) == ("contact.user.created", ada["id"])
    assert event["id"].startswith("notif_")
    assert "flow 'Welcome', event notif_" in err and "2 steps ran" in err
    assert tags_of(served, ada["id"]) == ["Welcomed"]

    poll_flow = tmp_path / "welcome-poll.yaml"
    poll_flow.write_text(
        "name: Welcome\ntrigger:\n  key: new_or_updated_contacts\n  inputs: {start: now}\n" + STEPS
    )
    state = tmp_path / "contacts.state.json"
    poll = ["trigger", "poll", "new_or_updated_contacts", "--state", str(state),
            "--flow", str(poll_flow)]  # fmt: skip
    first = cli(*poll, env=env)
    assert first.returncode == 0 and first.stdout == "", first.stderr  # from now: nothing
    bob = api(served, "POST", "/contacts", {"email": "bob@example.com", "role": "user"})
    second = cli(*poll, env=env)
    assert second.returncode == 0, second.stderr
    (event,) = [json.loads(line) for line in second.stdout.splitlines()]
    assert (event["topic"], event["data"]["id"]) == ("contact.created", bob["id"])
    assert tags_of(served, bob["id"]) == ["Welcomed"]
    kept = json.loads(state.read_text())
    assert (
        kept["trigger"] == "new_or_updated_contacts"
        and [bob["id"], event["occurred_at"]] in kept["seen"]
    )
