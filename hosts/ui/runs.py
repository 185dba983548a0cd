"""Flows in the designer: checked, run and saved with the flow runner `flow run` uses.

A flow travels between the page and the server as the mapping its YAML holds
(``{"name", "steps": [{"id", "action", "inputs"}]}``, and ``trigger`` when it has one), so
what the designer saves is exactly what ``intercom-connector flow run`` executes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import yaml

from intercom_connector.hosts.flow import (
    Flow,
    FlowError,
    Step,
    parse_flow,
    run_flow,
    step_input_problems,
)
from intercom_connector.runtime.connection import Connection
from intercom_connector.runtime.errors import ConnectorError, InputValidationError
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.runtime.shim import Connector
from intercom_connector.runtime.syntax import syntax_error_text
from intercom_connector.runtime.yaml_text import load_yaml

#: the steps a value's references read (``{{ steps.<id>.<path> }}``)
_STEP_REFERENCE = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_\-]+)")
_FLOW_KEYS = ("name", "trigger", "steps")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def error_json(error: ConnectorError) -> dict[str, Any]:
    """An error as the page shows it: one message, and each input problem by key and label."""
    entry: dict[str, Any] = {
        "message": str(error),
        "type": type(error).__name__,
        "exit_code": error.exit_code,
    }
    if isinstance(error, InputValidationError):
        entry["problems"] = [
            {"key": p.key, "label": p.label, "problem": p.problem} for p in error.problems
        ]
    return entry


def _flow_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise FlowError("flow", "a flow is a mapping with a list of 'steps'")
    return {key: data[key] for key in _FLOW_KEYS if data.get(key) is not None}


def check(data: Any) -> tuple[Flow, list[dict[str, Any]]]:
    """The flow, and every input problem of every step (by step, key and label)."""
    flow = parse_flow(_flow_data(data), str(data.get("name") or "flow"), check_inputs=False)
    actions = load_manifest().actions
    problems = [
        {"step": step.id, "key": p.key, "label": p.label, "problem": p.problem}
        for step in flow.steps
        for p in step_input_problems(actions[step.action], step.inputs)
    ]
    return flow, problems


class _RunConnector(Connector):
    """The connector a run goes through: it records each step's time and output, and
    answers for the steps before a step run alone with their outputs from an earlier run
    (nothing is sent for them)."""

    def __init__(
        self,
        connection: Connection,
        transport: httpx.BaseTransport | None,
        replayed: Sequence[dict[str, Any] | None] = (),
    ) -> None:
        super().__init__(connection, transport=transport)
        self.replayed = list(replayed)
        self.calls = 0
        #: (seconds, output or None when it failed) of each step really run
        self.records: list[tuple[float, dict[str, Any] | None]] = []

    def invoke(
        self,
        action_key: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        max_records: int | None = None,
    ) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= len(self.replayed):
            return self.replayed[self.calls - 1] or {"data": None}
        started = time.monotonic()
        output = None
        try:
            output = super().invoke(action_key, inputs, max_records=max_records)
            return output
        finally:
            self.records.append((time.monotonic() - started, output))


def run(
    data: Any,
    connection: tuple[Connection, httpx.BaseTransport | None],
    only: str | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the flow (or its step ``only``, after earlier steps' ``outputs`` of a previous
    run); every input is checked first, and nothing is sent while any is wrong.

    Returns ``{"problems": [...]}`` (nothing ran), or ``{"ok", "steps": [...]}`` with each
    step's status (ok, failed, skipped), time, output or error.
    """
    flow, problems = check(data)
    earlier: list[Step] = []
    steps = list(flow.steps)
    if only is not None:
        index = next((i for i, step in enumerate(steps) if step.id == only), None)
        if index is None:
            raise FlowError(flow.name, f"the flow has no step {only!r}")
        earlier, steps = steps[:index], [steps[index]]
        problems = [p for p in problems if p["step"] == only]
        problems += _missing_outputs(steps[0], earlier, outputs or {})
    if problems:
        return {"problems": problems}
    replayed = [(outputs or {}).get(step.id) for step in earlier]
    runner = _RunConnector(*connection, replayed=replayed)
    failure: ConnectorError | None = None
    try:
        with runner:
            run_flow(Flow(flow.name, (*earlier, *steps)), runner)
    except ConnectorError as exc:
        failure = getattr(exc, "cause", exc)
    results = []
    for number, step in enumerate(steps):
        if number < len(runner.records):
            seconds, output = runner.records[number]
            if output is not None:
                results.append(_step_result(step, "ok", seconds=seconds, output=output))
                continue
        elif number > len(runner.records) or failure is None:
            results.append(_step_result(step, "skipped"))
            continue
        else:
            seconds = 0.0  # it failed before a request: a reference without a value
        assert failure is not None
        results.append(_step_result(step, "failed", seconds=seconds, error=error_json(failure)))
        results += [_step_result(later, "skipped") for later in steps[number + 1 :]]
        break
    return {"ok": failure is None, "steps": results}


def _step_result(step: Step, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": step.id, "action": step.action, "status": status, **extra}


def _missing_outputs(
    step: Step, earlier: Sequence[Step], outputs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A step run alone needs the outputs its inputs read: one problem per input lacking one."""
    action = load_manifest().actions[step.action]
    names = {s.id for s in earlier}
    problems = []
    for key, value in step.inputs.items():
        wanted = sorted(
            {ref for text in _texts(value) for ref in _STEP_REFERENCE.findall(text)} & names
        )
        missing = [ref for ref in wanted if ref not in outputs]
        if missing:
            label = action.input(key).label if key in {s.key for s in action.inputs} else key
            text = (
                f"takes the output of step {', '.join(repr(m) for m in missing)}, which has "
                "not run yet: run the flow (or that step) first"
            )
            problems.append({"step": step.id, "key": key, "label": label, "problem": text})
    return problems


def to_yaml(data: Any) -> str:
    """The flow as the YAML file ``intercom-connector flow run`` executes."""
    flow = _flow_data(data)
    steps = []
    for step in flow.get("steps") or []:
        entry = {"id": step.get("id"), "action": step.get("action")}
        if step.get("inputs"):
            entry["inputs"] = dict(step["inputs"])
        steps.append(entry)
    document = {key: value for key, value in flow.items() if key != "steps"}
    document["steps"] = steps
    header = (
        "# A flow designed in `intercom-connector ui`.\n"
        "# Run it with: intercom-connector flow run FILE [--connection NAME|FILE] [--sandbox]\n"
    )
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def from_yaml(text: Any, source: str) -> dict[str, Any]:
    """A flow file (saved here or written by hand), checked as ``flow run`` checks it."""
    if not isinstance(text, str):
        raise FlowError(source, "the flow file's text is missing")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise FlowError(source, syntax_error_text("not valid YAML", exc, text)) from None
    if not isinstance(data, Mapping):
        raise FlowError(source, "a flow is a mapping with a list of 'steps'")
    flow = parse_flow(data, source)
    loaded: dict[str, Any] = {"name": str(data.get("name") or "")}
    if isinstance(data.get("trigger"), Mapping):
        loaded["trigger"] = dict(data["trigger"])
    loaded["steps"] = [
        {"id": step.id, "action": step.action, "inputs": dict(step.inputs)} for step in flow.steps
    ]
    return loaded
