"""The designer's Deploy and Runs (docs/flows.md): the flow on the canvas deployed to a
Temporal cluster, and the runs of deployed flows, step by step.

The cluster is the one the page's settings name (kept in the browser), else
``$INTERCOM_TEMPORAL_ADDRESS``; namespace and task queue are the CLI's defaults unless the
page gives others. Everything goes through the same functions as ``deploy``, ``deployments``,
``runs`` and ``runs show`` (hosts/temporal/), so a flow deployed here is the flow ``deploy``
would deploy, and a run shows the same steps (secrets redacted) as ``runs show``. A
deployment carries the connection's NAME (the saved connection the designer runs on, else
the workers' ``INTERCOM_*`` settings), never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from intercom_connector.hosts.temporal.cluster import (
    DEFAULT_NAMESPACE,
    DEFAULT_TASK_QUEUE,
    ENV_ADDRESS,
    Cluster,
    cluster_of,
)
from intercom_connector.hosts.ui import runs
from intercom_connector.runtime.errors import InputProblem, InputValidationError

Route = Callable[[dict[str, Any], Any], Any]

DEFAULT_EVERY = 60.0


def routes() -> dict[tuple[str, str], Route]:
    """The API routes Deploy and Runs add to the designer's server."""
    return {
        ("GET", "/api/temporal"): lambda env, body: settings(),
        ("POST", "/api/temporal/deploy"): lambda env, body: deploy(body),
        ("POST", "/api/temporal/deployments"): lambda env, body: deployments(body),
        ("POST", "/api/temporal/runs"): lambda env, body: list_runs(body),
        ("POST", "/api/temporal/run"): lambda env, body: show_run(body),
    }


def settings() -> dict[str, Any]:
    """What the page offers before its own settings say otherwise."""
    return {
        "address": os.environ.get(ENV_ADDRESS, ""),
        "namespace": DEFAULT_NAMESPACE,
        "task_queue": DEFAULT_TASK_QUEUE,
    }


def _cluster(body: Mapping[str, Any], command: str) -> Cluster:
    from intercom_connector.hosts.temporal.commands import require_temporal

    given = argparse.Namespace(
        temporal=str(body.get("address") or ""),
        namespace=str(body.get("namespace") or DEFAULT_NAMESPACE),
        task_queue=str(body.get("task_queue") or DEFAULT_TASK_QUEUE),
    )
    try:
        cluster = cluster_of(given, command)
    except InputValidationError as exc:  # said as the page says it: its Temporal cluster field
        problems = [
            InputProblem("address", "Temporal cluster", p.problem.replace(" --temporal ", " "))
            for p in exc.problems
        ]
        raise InputValidationError(command, problems) from None
    require_temporal(command)
    return cluster


def _on(cluster: Cluster, work: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from intercom_connector.hosts.temporal.cluster import connect

    async def go() -> Any:
        return await work(await connect(cluster))

    return asyncio.run(go())


def deploy(body: Mapping[str, Any]) -> dict[str, Any]:
    """Deploy the page's flow; what was deployed, and how it runs."""
    from intercom_connector.hosts.flow import FlowError
    from intercom_connector.hosts.temporal import deployments as deployed

    cluster = _cluster(body, "deploy")
    flow, problems = runs.check(body.get("flow"))
    if problems:
        first = problems[0]
        raise FlowError(flow.name, f"step {first['step']}: {first['label']}: {first['problem']}")
    deployed.deployable(flow)
    name = str(body.get("name") or "").strip() or deployed.name_from(flow.name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        problem = "letters, digits, '_', '-' or '.' (100 at most)"
        raise InputValidationError("deploy", [InputProblem("name", "name", problem)])
    every = _every(body.get("every"))
    connection = str(body.get("connection") or "") or None
    how = _on(
        cluster,
        lambda client: deployed.deploy(
            client, cluster, name=name, flow=flow, connection=connection, every=every
        ),
    )
    assert flow.trigger is not None  # deployable said so
    return {"name": name, "flow": flow.name, "trigger": flow.trigger.key, "how": how}


def _every(value: Any) -> float:
    if value in (None, ""):
        return DEFAULT_EVERY
    try:
        every = float(value)
    except (TypeError, ValueError):
        every = 0.0
    if not 1 <= every <= 86_400:
        problem = f"seconds between checks, from 1 to 86400, not {value!r}"
        raise InputValidationError("deploy", [InputProblem("every", "every", problem)])
    return every


def deployments(body: Mapping[str, Any]) -> dict[str, Any]:
    from intercom_connector.hosts.temporal import deployments as deployed

    cluster = _cluster(body, "deployments")
    return {"deployments": _on(cluster, deployed.list_deployments)}


def list_runs(body: Mapping[str, Any]) -> dict[str, Any]:
    """The runs of deployed flows (of one deployment when the page names it), newest first."""
    from intercom_connector.hosts.temporal import runs as cluster_runs

    cluster = _cluster(body, "runs")
    deployment = str(body.get("deployment") or "") or None
    found = _on(
        cluster,
        lambda client: cluster_runs.list_runs(
            client, deployment=deployment, failed=bool(body.get("failed")), limit=100
        ),
    )
    return {"runs": found}


def show_run(body: Mapping[str, Any]) -> dict[str, Any]:
    """One run, each step's inputs and output (secrets redacted) or its error."""
    from intercom_connector.hosts.temporal import runs as cluster_runs

    cluster = _cluster(body, "runs show")
    run_id = str(body.get("id") or "")
    return dict(_on(cluster, lambda client: cluster_runs.show_run(client, run_id)))
