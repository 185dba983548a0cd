"""Flow runs on a cluster: ``flow run --temporal``, and the history (``runs``, ``runs show``,
``runs retry``).

A run's workflow id says where it came from: ``flow-<name>-<random>`` for ``flow run``,
``<deployment>:<trigger>:<event id>`` for a deployment's event (so that an event seen twice
starts one run), ``<id>-retry-<random>`` for a retry. Its memo names the flow, the deployment
and the connection: names only, never a secret.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intercom_connector.hosts.flow import Flow, Step, StepError, StepResult
from intercom_connector.hosts.temporal.cluster import Cluster, cluster_of, connect, run_sync
from intercom_connector.hosts.temporal.flows import FLOW_WORKFLOW, TASK_TIMEOUT
from intercom_connector.runtime.errors import (
    ConnectorError,
    InputProblem,
    InputValidationError,
)
from intercom_connector.runtime.manifest import SECRET_INPUT, load_manifest

if TYPE_CHECKING:
    from temporalio.client import (
        Client,
        WorkflowExecution,
        WorkflowExecutionDescription,
        WorkflowHandle,
    )

REDACTED = "********"
_SECRET_KEY = re.compile(r"secret|token|password", re.IGNORECASE)


class RunError(ConnectorError):
    """A step's error as a worker reported it: its message and exit status."""

    def __init__(self, details: Mapping[str, Any]) -> None:
        self.exit_code = int(details.get("exit_code") or 1)
        self.outcome_unknown = bool(details.get("outcome_unknown"))
        super().__init__(str(details.get("message") or "failed"))


class RunNotFound(InputValidationError):
    def __init__(self, run_id: str, problem: str = "no run has this id") -> None:
        super().__init__("runs", [InputProblem("ID", run_id, problem)])


def flow_request(
    flow: Flow,
    *,
    connection: str | None,
    event: Mapping[str, Any] | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:
    """The workflow input of a run of ``flow``: steps, connection NAME, event."""
    return {
        "flow": flow_json(flow),
        "connection": connection,
        "event": dict(event) if event is not None else None,
        "deployment": deployment,
    }


def flow_json(flow: Flow) -> dict[str, Any]:
    trigger = None
    if flow.trigger is not None:
        trigger = {"key": flow.trigger.key, "inputs": dict(flow.trigger.inputs)}
    return {
        "name": flow.name,
        "steps": [{"id": s.id, "action": s.action, "inputs": dict(s.inputs)} for s in flow.steps],
        "trigger": trigger,
    }


def connection_name(
    args: argparse.Namespace, command: str, flow_connection: str | None = None
) -> str | None:
    """``--connection`` (else the one the flow names) as the NAME a workflow may carry; a
    file or --sandbox refused, since a file's token would enter the run's history."""
    if getattr(args, "sandbox", False):
        problem = "a run on Temporal uses the workers' connection: name one with --connection"
        raise InputValidationError(command, [InputProblem("--sandbox", "--sandbox", problem)])
    name = getattr(args, "connection", None) or flow_connection
    if name and (Path(name).exists() or "/" in name or name.endswith((".json", ".yaml", ".yml"))):
        problem = (
            "on Temporal, name a saved connection of the workers (a file's token would be "
            "written into the run's history); save it with `connections add` on each worker"
        )
        raise InputValidationError(command, [InputProblem("--connection", name, problem)])
    return name or None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "flow"


async def start_run(
    client: Client,
    cluster: Cluster,
    request: Mapping[str, Any],
    workflow_id: str,
) -> WorkflowHandle[Any, Any]:
    """Start one flow run; WorkflowAlreadyStartedError when that id ever ran (so an event
    seen twice runs once)."""
    from temporalio.common import WorkflowIDReusePolicy

    flow = request["flow"]
    return await client.start_workflow(
        FLOW_WORKFLOW,
        dict(request),
        id=workflow_id,
        task_queue=cluster.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_timeout=TASK_TIMEOUT,
        memo={
            "flow": flow["name"],
            "deployment": request.get("deployment"),
            "connection": request.get("connection"),
            "steps": len(flow["steps"]),
        },
    )


def _results(flow: Flow, entries: Sequence[Mapping[str, Any]]) -> list[StepResult]:
    """A run's step entries as ``flow run`` shows them."""
    steps = {step.id: step for step in flow.steps}
    results = []
    for entry in entries:
        step = steps.get(entry["id"]) or Step(entry["id"], entry["action"], {})
        error = RunError(entry["error"]) if entry.get("error") else None
        results.append(
            StepResult(
                step,
                entry["status"],
                output=entry.get("output"),
                error=error,
                seconds=float(entry.get("seconds") or 0.0),
            )
        )
    return results


def _failure_details(error: BaseException) -> dict[str, Any] | None:
    """The details a failed run's workflow gave (its steps' results), if any."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    cause = error.cause if isinstance(error, WorkflowFailureError) else None
    if isinstance(cause, ApplicationError) and cause.details:
        found = cause.details[0]
        if isinstance(found, Mapping):
            return dict(found)
    return None


def run_flow_on_cluster(
    args: argparse.Namespace,
    flow: Flow,
    event: Mapping[str, Any] | None,
    show: Callable[[StepResult], None],
) -> dict[str, Any] | None:
    """``flow run --temporal``: start the run, wait for it and show each step as the
    in-process run does (None, after printing the run id, with ``--no-wait``)."""
    cluster = cluster_of(args, "flow run")
    connection = connection_name(args, "flow run", flow.connection)
    request = flow_request(flow, connection=connection, event=event)
    workflow_id = f"flow-{_slug(flow.name)}-{secrets.token_hex(4)}"

    async def go() -> dict[str, Any] | None:
        from temporalio.client import WorkflowFailureError

        client = await connect(cluster)
        handle = await start_run(client, cluster, request, workflow_id)
        if args.no_wait:
            print(handle.id, flush=True)
            return None
        try:
            outcome = await handle.result()
        except WorkflowFailureError as failure:
            details = _failure_details(failure)
            if details is None:
                raise RunError({"message": f"run {handle.id} failed: {failure.cause}"}) from None
            raise_step_error(flow, details["results"])
        for result in _results(flow, outcome["results"]):
            show(result)
        return dict(outcome["outputs"])

    return run_sync(go)


def raise_step_error(flow: Flow, entries: Sequence[Mapping[str, Any]]) -> None:
    """Show nothing; raise the StepError ``flow run`` raises for the same failure."""
    results = _results(flow, entries)
    failed = next(r for r in results if r.status == "failed")
    assert failed.error is not None
    raise StepError(failed.step, failed.error, results)


# -- history --------------------------------------------------------------------------------


def redact(value: Any, secret_keys: frozenset[str] = frozenset()) -> Any:
    """``value`` with every secret (an input the manifest marks secret, or a key that
    names a token, secret or password) replaced by ``********``."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if key in secret_keys or _SECRET_KEY.search(str(key))
            else redact(item, secret_keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, secret_keys) for item in value]
    return value


def _secret_inputs(action: str) -> frozenset[str]:
    spec = load_manifest().actions.get(action)
    keys = {SECRET_INPUT}
    if spec is not None:
        keys.update(i.key for i in spec.value_inputs if i.secret)
    return frozenset(keys)


async def _memo(execution: Any) -> dict[str, Any]:
    """A run's memo; ``(encrypted)`` names without the key that sealed it."""
    try:
        return dict(await execution.memo())
    except KeyError:  # sealed (INTERCOM_TEMPORAL_KEY), and no key here
        return {"flow": "(encrypted)"}


async def _summary(client: Client, execution: WorkflowExecution) -> dict[str, Any]:
    memo = await _memo(execution)
    status = execution.status.name.lower() if execution.status is not None else "unknown"
    started = execution.start_time
    closed = execution.close_time
    entry: dict[str, Any] = {
        "id": execution.id,
        "status": status,
        "flow": memo.get("flow"),
        "deployment": memo.get("deployment"),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((closed - started).total_seconds(), 3) if closed else None,
    }
    if status == "failed" and memo.get("flow") != "(encrypted)":
        failed = await _failed_step(client.get_workflow_handle(execution.id))
        if failed is not None:
            entry["failed_step"] = failed["id"]
            entry["error"] = _one_line(failed["error"].get("message", ""))
    return entry


async def _failed_step(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    details = await _closed_details(handle)
    for entry in (details or {}).get("results", []):
        if entry.get("status") == "failed":
            return dict(entry)
    return None


async def _closed_details(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    """A closed run's outcome: its result, or its failure's details."""
    from temporalio.client import WorkflowFailureError

    try:
        return dict(await handle.result(follow_runs=False))
    except WorkflowFailureError as failure:
        return _failure_details(failure)


def _one_line(text: str, width: int = 120) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3] + "..."


async def list_runs(
    client: Client, *, deployment: str | None, failed: bool, limit: int
) -> list[dict[str, Any]]:
    query = f'WorkflowType="{FLOW_WORKFLOW}"'
    if failed:
        query += ' AND ExecutionStatus="Failed"'
    found: list[dict[str, Any]] = []
    async for execution in client.list_workflows(query):
        if deployment is not None and (await _memo(execution)).get("deployment") != deployment:
            continue
        found.append(await _summary(client, execution))
        if len(found) >= limit:
            break
    return found


async def _described(
    client: Client, run_id: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription, str]:
    """A run's handle, description and status (``failed``, ``completed``, ``running``...)."""
    from temporalio.service import RPCError

    handle = client.get_workflow_handle(run_id)
    try:
        described = await handle.describe()
    except RPCError:
        raise RunNotFound(run_id) from None
    status = described.status.name.lower() if described.status is not None else "unknown"
    return handle, described, status


async def show_run(client: Client, run_id: str) -> dict[str, Any]:
    """A run's steps: each one's inputs and output (secrets redacted), or its error."""
    handle, described, status = await _described(client, run_id)
    if status == "running":
        steps = await handle.query("progress")
    else:
        steps = ((await _closed_details(handle)) or {}).get("results", [])
    shown = []
    for entry in steps:
        keys = _secret_inputs(entry.get("action", ""))
        shown.append(redact(dict(entry), keys))
    memo = await _memo(described)
    return {
        "id": run_id,
        "status": status,
        "flow": memo.get("flow"),
        "deployment": memo.get("deployment"),
        "connection": memo.get("connection"),
        "started": described.start_time.isoformat(timespec="seconds"),
        "steps": shown,
    }


async def retry_run(client: Client, cluster: Cluster, run_id: str) -> WorkflowHandle[Any, Any]:
    """A failed run started again from its failed step: the steps that finished keep
    their outputs (they are not sent again)."""
    handle, _, status = await _described(client, run_id)
    if status != "failed":
        raise RunNotFound(run_id, f"is {status}: only a failed run is retried")
    details = await _closed_details(handle) or {}
    request = await run_input(client, handle)
    request["resume"] = {"outputs": details.get("outputs") or {}, "run": details.get("run")}
    base = run_id.split("-retry-")[0]
    return await start_run(client, cluster, request, f"{base}-retry-{secrets.token_hex(3)}")


async def run_input(client: Client, handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The input a run was started with, read back from its history."""
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_started_event_attributes"):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            values = await client.data_converter.decode(payloads)
            return dict(values[0])
    raise RunNotFound(handle.id, "its history has no input")


# -- commands ---------------------------------------------------------------------------------


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    cells = [[str(row.get(c) if row.get(c) is not None else "-") for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def cmd_runs(args: argparse.Namespace) -> int:
    import orjson

    cluster = cluster_of(args, "runs")

    async def go() -> int:
        client = await connect(cluster)
        if args.runs_command == "show":
            shown = await show_run(client, args.id)
            sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        if args.runs_command == "retry":
            handle = await retry_run(client, cluster, args.id)
            if args.no_wait:
                print(handle.id)
                return 0
            print(f"retrying as {handle.id}", file=sys.stderr, flush=True)
            details = await _closed_details(handle)
            status = (await handle.describe()).status
            print(handle.id)
            return 0 if status is not None and status.name == "COMPLETED" else _exit(details)
        runs = await list_runs(
            client, deployment=args.deployment, failed=args.failed, limit=args.limit
        )
        if args.json:
            sys.stdout.write(orjson.dumps(runs, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            for run in runs:
                run["started"] = datetime.fromisoformat(run["started"]).strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
            print_table(
                runs,
                ["id", "status", "started", "seconds", "deployment", "failed_step", "error"],
            )
        return 0

    return run_sync(go)


def _exit(details: Mapping[str, Any] | None) -> int:
    for entry in (details or {}).get("results", []):
        if entry.get("status") == "failed":
            message = entry["error"].get("message", "")
            print(
                f"error: step '{entry['id']}' ({entry['action']}) failed: {message}",
                file=sys.stderr,
            )
            return int(entry["error"].get("exit_code") or 1)
    return 1
