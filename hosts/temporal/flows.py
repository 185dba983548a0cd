"""A flow run as a Temporal workflow; each step an activity calling the connector as ``run``.

The workflow's input is the flow (its steps, their inputs with their ``{{ references }}``
unresolved), the connection's NAME (never a token: the worker resolves it, worker.py), the
event that started it and, for a retried run, the outputs of the steps that had finished.
Each step's activity resolves its references, runs the action and returns its inputs and
output, so a run's history shows every step's inputs and output (``runs show``).

Retries follow the connector's write safety (``Connector.repeatable``): a read, an update, a
delete or an upsert is retried on a passing failure (network, Intercom unavailable) and when
its worker dies; a create Intercom refuses to repeat (``unique_by``) is sent again with the
time of its first attempt, so it settles on what a lost attempt made; any other create is
attempted once: when its worker died with it in flight, the step fails saying its outcome is
unknown and it is never sent twice. A step that finished is never run again: Temporal keeps
its output, and the workflow goes on from the next step on whichever worker is alive.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ApplicationErrorCategory

#: a worker that stopped answering is given up after this long, its step retried elsewhere
HEARTBEAT = timedelta(seconds=5)
#: a workflow task (deciding what runs next: a few milliseconds) whose worker is silent this
#: long is handed to another: a worker that died in one stalled its run for Temporal's
#: default, 10 s (a bulk run's chunk, most of a rate-limit window)
TASK_TIMEOUT = timedelta(seconds=2)
#: the longest one step may take (a Fetch All of a large workspace included)
STEP_TIMEOUT = timedelta(hours=2)
#: the retries of a repeatable step that fails for a passing reason
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
)
STEP_ACTIVITY = "intercom-flow-step"
FLOW_WORKFLOW = "IntercomFlow"
#: exit status of a step whose failure passes (network, Intercom unavailable): retried
_PASSING = 5


def _error_details(error: BaseException) -> dict[str, Any]:
    exit_code = getattr(error, "exit_code", 1)
    details = {"type": type(error).__name__, "message": str(error), "exit_code": exit_code}
    if getattr(error, "outcome_unknown", False):
        details["outcome_unknown"] = True
    return details


#: the steps' calls, each in a thread of its own while its activity's thread heartbeats
_CALLS = ThreadPoolExecutor(1000, thread_name_prefix="step")  # threads made as needed


def _heartbeating(call: Callable[[], Any]) -> Any:
    """``call()`` in another thread while this activity tells Temporal it is alive."""
    pending = _CALLS.submit(call)
    while True:
        try:
            return pending.result(timeout=1.0)
        except FutureTimeout:
            activity.heartbeat()


@activity.defn(name=STEP_ACTIVITY)
def run_step(request: dict[str, Any]) -> dict[str, Any]:
    """One step: its references resolved against earlier outputs, then the action, through
    the connector of the connection NAME the request carries."""
    from intercom_connector.hosts.flow import Step, _resolved_inputs
    from intercom_connector.hosts.temporal.worker import connector_for
    from intercom_connector.runtime.errors import ConnectorError

    step = Step(request["step"], request["action"], request["inputs"])
    info = activity.info()
    started = time.monotonic()
    inputs: dict[str, Any] = {}
    repeatable = False
    try:
        inputs = _resolved_inputs(step, request["context"])
        connector = connector_for(request.get("connection"))
        repeatable = connector.repeatable(step.action, inputs)
        if info.attempt > 1 and not repeatable:
            raise _unknown(step)
        if info.attempt > 1:  # an earlier attempt's answer was lost
            output = _heartbeating(
                lambda: connector.resend(step.action, inputs, request["first_sent"])
            )
        else:
            output = _heartbeating(lambda: connector.invoke(step.action, inputs))
    except ApplicationError as failure:  # its outcome unknown: said, never sent again
        _failed(step, str(failure))
        raise
    except Exception as error:  # every failure is the step's, reported so
        details = _error_details(error)
        details["inputs"] = inputs
        expected = isinstance(error, ConnectorError)  # else a fault of ours: its traceback
        if expected:
            _failed(step, str(error))
        passing = isinstance(error, ConnectorError) and error.exit_code == _PASSING
        raise ApplicationError(
            str(error),
            details,
            type=details["type"],
            non_retryable=not (repeatable and passing),
            category=ApplicationErrorCategory.BENIGN if expected else _UNSPECIFIED,
        ) from None
    seconds = time.monotonic() - started
    return {"inputs": inputs, "output": output, "seconds": seconds, "attempt": info.attempt}


_UNSPECIFIED = ApplicationErrorCategory.UNSPECIFIED


def _failed(step: Any, why: str) -> None:
    """A step that failed as the connector fails, in one line of the worker's output (the
    SDK, told it is benign, logs no traceback); the run's history keeps the details."""
    info = activity.info()
    print(
        f"step '{step.id}' ({step.action}) of {info.workflow_id}, attempt {info.attempt}, "
        f"failed: {why}",
        file=sys.stderr,
        flush=True,
    )


def _unknown(step: Any) -> ApplicationError:
    message = (
        f"an earlier attempt of this step was sent, but its worker stopped before the answer "
        f"came: its outcome is unknown, so {step.action} was not sent again. Check in Intercom "
        "whether it was done, then retry the run (runs retry ID) or leave it"
    )
    details = {
        "type": "OutcomeUnknown",
        "message": message,
        "exit_code": _PASSING,
        "outcome_unknown": True,
    }
    return ApplicationError(
        message,
        details,
        type="OutcomeUnknown",
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


@workflow.defn(name=FLOW_WORKFLOW)
class FlowWorkflow:
    """A flow's run: its steps in order, each an activity; the results of every step."""

    def __init__(self) -> None:
        self._results: list[dict[str, Any]] = []

    @workflow.query
    def progress(self) -> list[dict[str, Any]]:
        """The steps ended so far: id, action, status, output or error, seconds."""
        return self._results

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        flow = request["flow"]
        resume = request.get("resume") or {}
        outputs: dict[str, Any] = dict(resume.get("outputs") or {})
        run = resume.get("run") or {
            "id": f"{workflow.random().getrandbits(32):08x}",
            "started_at": int(workflow.now().timestamp()),
        }
        context: dict[str, Any] = {"steps": outputs, "run": run}
        if request.get("event") is not None:
            context["trigger"] = request["event"]
        steps = flow["steps"]
        for number, step in enumerate(steps):
            entry = {"id": step["id"], "action": step["action"]}
            if step["id"] in outputs:  # finished in the run this one retries
                self._results.append(
                    {**entry, "status": "ok", "output": outputs[step["id"]], "seconds": 0.0}
                )
                continue
            first_sent = workflow.now().timestamp()
            try:
                done = await workflow.execute_activity(
                    STEP_ACTIVITY,
                    {
                        "step": step["id"],
                        "action": step["action"],
                        "inputs": step["inputs"],
                        "context": context,
                        "connection": request.get("connection"),
                        "first_sent": first_sent,
                    },
                    start_to_close_timeout=STEP_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError as failure:
                error = _failure_details(failure)
                seconds = workflow.now().timestamp() - first_sent
                self._results.append(
                    {**entry, "status": "failed", "error": error, "seconds": seconds}
                )
                for later in steps[number + 1 :]:
                    self._results.append(
                        {"id": later["id"], "action": later["action"], "status": "skipped"}
                    )
                raise ApplicationError(
                    f"step '{step['id']}' ({step['action']}) failed: {error['message']}",
                    {"results": self._results, "outputs": outputs, "run": run},
                    type="StepFailed",
                    non_retryable=True,
                ) from None
            outputs[step["id"]] = done["output"]
            self._results.append(
                {
                    **entry,
                    "status": "ok",
                    "inputs": done["inputs"],
                    "output": done["output"],
                    "seconds": done["seconds"],
                    "attempt": done.get("attempt", 1),
                }
            )
        return {"name": flow.get("name"), "results": self._results, "outputs": outputs}


def _failure_details(failure: ActivityError) -> dict[str, Any]:
    """What a failed step's activity said: its error's type, message, exit status."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.details:
        found = cause.details[0]
        if isinstance(found, Mapping):
            return dict(found)
    message = str(cause) if cause is not None else str(failure)
    return {"type": type(cause).__name__, "message": message, "exit_code": _PASSING}


WORKFLOWS = [FlowWorkflow]
ACTIVITIES = [run_step]
