"""Deployments: a flow that runs on its trigger, on the cluster, until undeployed.

A deployment NAME is a long-running workflow ``deployment:NAME`` holding what it runs (the
flow, its trigger's inputs, the connection's NAME) and, for a polling trigger, the trigger's
state (cursor and seen set): in Temporal, not in a file. A polling deployment also has a
Temporal Schedule ``deployment:NAME:poll`` that starts a check every ``--every`` seconds
(never two at once). A check reads the state, polls Intercom, starts one flow run per event
with the workflow id ``NAME:<trigger>:<event id>`` (the event id is the change's topic,
record and time), then hands the new state back. A check that stops half way is repeated:
the events it had started refuse a second start, so each change runs once. A webhook
deployment is served by ``trigger listen KEY --temporal --deployment NAME`` (any number of
replicas): each verified delivery starts the run ``NAME:<notification id>``; the listener
answers 2xx only once Temporal has it. A run that fails is a failed run (``runs --failed``),
retryable; it never holds back the events after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

if TYPE_CHECKING:
    from temporalio.client import Client

    from intercom_connector.hosts.flow import Flow
    from intercom_connector.hosts.temporal.cluster import Cluster

DEPLOYMENT_WORKFLOW = "IntercomDeployment"
POLL_WORKFLOW = "IntercomPoll"
POLL_ACTIVITY = "intercom-deployment-check"
#: state changes a deployment's workflow takes before it continues as new (a short history)
_CHANGES_PER_RUN = 500


def deployment_id(name: str) -> str:
    return f"deployment:{name}"


def name_from(title: str) -> str:
    """A deployment name made from a flow's name (what `deploy` and the designer take when
    none is given)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", title).strip("-.")[:100] or "flow"


def deployable(flow: Flow) -> str:
    """The kind of the trigger ``flow`` is deployed on (``polling`` or ``webhook``); a
    FlowError when it has none."""
    from intercom_connector.hosts.flow import FlowError
    from intercom_connector.runtime.manifest import load_manifest

    if flow.trigger is None:
        raise FlowError(flow.name, "has no trigger: a deployment runs a flow on its trigger")
    return load_manifest().triggers[flow.trigger.key].kind


def how_it_runs(kind: str, trigger: str, name: str, every: float) -> str:
    """What makes a new deployment run: its schedule, or the listener to serve."""
    if kind == "polling":
        return f"checked every {every:g} s"
    return (
        f"serve it with: intercom-connector trigger listen {trigger} --temporal --deployment {name}"
    )


def schedule_id(name: str) -> str:
    return f"deployment:{name}:poll"


def event_run_id(name: str, trigger: str, event_id: str) -> str:
    """The workflow id of the run an event starts: the same event, the same id."""
    return f"{name}:{trigger}:{event_id}"


@workflow.defn(name=DEPLOYMENT_WORKFLOW)
class DeploymentWorkflow:
    """A deployment: what it runs, and a polling trigger's state, until ``undeploy``."""

    def __init__(self) -> None:
        self._spec: dict[str, Any] = {}
        self._state: Any = None
        self._changes = 0
        self._stopped = False

    @workflow.run
    async def run(self, spec: dict[str, Any]) -> None:
        self._spec = {key: value for key, value in spec.items() if key != "state"}
        if self._state is None:
            self._state = spec.get("state")
        await workflow.wait_condition(lambda: self._stopped or self._changes >= _CHANGES_PER_RUN)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._stopped:
            workflow.continue_as_new({**self._spec, "state": self._state}, memo=workflow.memo())

    @workflow.signal
    def advance(self, state: Any) -> None:
        """A check handled its events: keep the trigger's state after them."""
        self._state = state
        self._changes += 1

    @workflow.signal
    def undeploy(self) -> None:
        self._stopped = True

    @workflow.query
    def describe(self) -> dict[str, Any]:
        return {**self._spec, "state": self._state}


@workflow.defn(name=POLL_WORKFLOW)
class PollWorkflow:
    """One check of a polling deployment (its Schedule starts one every interval)."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> int:
        started: int = await workflow.execute_activity(
            POLL_ACTIVITY,
            request,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30)),
        )
        return started


@activity.defn(name=POLL_ACTIVITY)
async def check_deployment(request: dict[str, Any]) -> int:
    """Poll the deployment's trigger from its state; start a run per event; keep the state
    after them. Returns how many runs it started (events already run count not)."""
    from intercom_connector.hosts.temporal.cluster import Cluster
    from intercom_connector.hosts.temporal.worker import connector_for

    client = activity.client()
    info = activity.info()
    name = request["deployment"]
    handle = client.get_workflow_handle(deployment_id(name))
    spec = await handle.query("describe")
    trigger = spec["flow"]["trigger"]
    connector = connector_for(spec.get("connection"))
    polled = await asyncio.to_thread(
        connector.poll, trigger["key"], trigger["inputs"], spec["state"]
    )
    cluster = Cluster("", info.namespace, info.task_queue)
    started = 0
    for event in polled.events:
        started += await start_event_run(client, cluster, spec, name, event)
        activity.heartbeat()
    await handle.signal("advance", polled.state_after(len(polled.events)))
    return started


async def start_event_run(
    client: Client,
    cluster: Cluster,
    spec: Mapping[str, Any],
    deployment: str,
    event: Mapping[str, Any],
) -> bool:
    """Start the run of deployment ``spec`` for ``event``; False when that event has its run
    already (a check that overlapped or was retried, a repeated or shared delivery)."""
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from intercom_connector.hosts.temporal.cluster import Cluster
    from intercom_connector.hosts.temporal.runs import start_run

    request = {
        "flow": spec["flow"],
        "connection": spec.get("connection"),
        "event": dict(event),
        "deployment": deployment,
    }
    key = spec["flow"]["trigger"]["key"]
    queue = spec.get("task_queue") or cluster.task_queue
    where = Cluster(cluster.address, cluster.namespace, queue)
    try:
        await start_run(client, where, request, event_run_id(deployment, key, event["id"]))
    except WorkflowAlreadyStartedError:
        return False
    return True


async def deployment_spec(client: Client, name: str) -> dict[str, Any]:
    """What deployment ``name`` runs (read from its history, no worker needed);
    InputValidationError when there is no such deployment running."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    from intercom_connector.hosts.temporal.runs import run_input

    handle = client.get_workflow_handle(deployment_id(name))
    try:
        described = await handle.describe()
    except RPCError:
        described = None
    if described is None or described.status != WorkflowExecutionStatus.RUNNING:
        raise _no_deployment(name)
    return await run_input(client, handle)


def _no_deployment(name: str) -> Exception:
    from intercom_connector.runtime.errors import InputProblem, InputValidationError

    problem = "is not deployed (see `deployments`)"
    return InputValidationError("deployment", [InputProblem("NAME", name, problem)])


async def deploy(
    client: Client,
    cluster: Cluster,
    *,
    name: str,
    flow: Flow,
    connection: str | None,
    every: float,
) -> str:
    """Start deployment ``name`` of ``flow``; for a polling trigger also its Schedule.
    What makes it run (``how_it_runs``), for the one who deployed it."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleIntervalSpec,
        SchedulePolicy,
        ScheduleSpec,
    )
    from temporalio.common import (
        WorkflowIDConflictPolicy,
        WorkflowIDReusePolicy,
    )
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from intercom_connector.hosts.temporal.runs import flow_json
    from intercom_connector.runtime.errors import InputProblem, InputValidationError

    kind = deployable(flow)
    as_json = flow_json(flow)
    trigger = as_json["trigger"]
    spec: dict[str, Any] = {"name": name, "flow": as_json, "connection": connection}
    spec["kind"] = kind
    spec["task_queue"] = cluster.task_queue  # its runs go there, whoever starts them
    if kind == "polling":
        spec["every"] = every
    try:
        await client.start_workflow(
            DEPLOYMENT_WORKFLOW,
            spec,
            id=deployment_id(name),
            task_queue=cluster.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={
                "flow": as_json["name"],
                "trigger": trigger["key"],
                "connection": connection,
                "every": every if kind == "polling" else None,
            },
        )
    except WorkflowAlreadyStartedError:
        problem = "is deployed already: undeploy it first, or give another --name"
        raise InputValidationError("deploy", [InputProblem("--name", name, problem)]) from None
    how = how_it_runs(kind, trigger["key"], name, every)
    if kind != "polling":
        return how
    from temporalio.client import ScheduleOverlapPolicy

    await client.create_schedule(
        schedule_id(name),
        Schedule(
            action=ScheduleActionStartWorkflow(
                POLL_WORKFLOW,
                {"deployment": name},
                id=f"deployment:{name}:check",
                task_queue=cluster.task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
        trigger_immediately=True,
    )
    return how


async def undeploy(client: Client, name: str) -> None:
    from temporalio.service import RPCError

    await deployment_spec(client, name)  # it exists, running
    with contextlib.suppress(RPCError):  # a webhook deployment has no schedule
        await client.get_schedule_handle(schedule_id(name)).delete()
    await client.get_workflow_handle(deployment_id(name)).signal("undeploy")


async def list_deployments(client: Client) -> list[dict[str, Any]]:
    """Every running deployment: name, flow, trigger, connection, last run, failures."""
    query = f'WorkflowType="{DEPLOYMENT_WORKFLOW}" AND ExecutionStatus="Running"'
    found = []
    async for execution in client.list_workflows(query):
        memo = await execution.memo()
        name = execution.id.removeprefix("deployment:")
        runs = f'WorkflowType="IntercomFlow" AND WorkflowId STARTS_WITH "{name}:"'
        last = None
        async for run in client.list_workflows(runs, limit=1):
            last = run.start_time.isoformat(timespec="seconds")
        failures = (await client.count_workflows(runs + ' AND ExecutionStatus="Failed"')).count
        found.append(
            {
                "name": name,
                "flow": memo.get("flow"),
                "trigger": memo.get("trigger"),
                "every": memo.get("every"),
                "connection": memo.get("connection"),
                "last_run": last,
                "failures": failures,
            }
        )
    return sorted(found, key=lambda d: str(d["name"]))


WORKFLOWS = [DeploymentWorkflow, PollWorkflow]
ACTIVITIES = [check_deployment]
