"""Flows in the designer: checked, run and saved with the flow runner `flow run` uses.

A flow travels between the page and the server as the mapping its YAML holds
(``{"name", "steps": [{"id", "action", "inputs"}]}``, and ``trigger`` when it has one), so
what the designer saves is exactly what ``intercom-connector flow run`` executes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import httpx
import yaml

from intercom_connector.hosts.flow import (
    Flow,
    FlowError,
    Step,
    StepError,
    StepResult,
    check_event,
    parse_flow,
    run_flow,
    step_input_problems,
)
from intercom_connector.runtime.connection import Connection
from intercom_connector.runtime.errors import ConnectorError, InputValidationError, NotFoundError
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.runtime.shim import Connector
from intercom_connector.runtime.syntax import syntax_error_text
from intercom_connector.runtime.triggers import event_schema
from intercom_connector.runtime.yaml_text import load_yaml

#: how far back the latest real event of a polling trigger is looked for (a test event)
LATEST_EVENT_DAYS = 7

#: the steps a value's references read (``{{ steps.<id>.<path> }}``)
_STEP_REFERENCE = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_\-]+)")
#: a reference to the event that started the run (``{{ trigger.<path> }}``)
_TRIGGER_REFERENCE = re.compile(r"\{\{\s*trigger[.\s}]")
_FLOW_KEYS = ("name", "connection", "trigger", "steps")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def error_json(error: ConnectorError, step: Step | None = None) -> dict[str, Any]:
    """An error as the page shows it: one message, and each input problem by key and label
    (Intercom's "not found" about one of ``step``'s IDs too, at that input)."""
    entry: dict[str, Any] = {
        "message": str(error),
        "type": type(error).__name__,
        "exit_code": error.exit_code,
    }
    if isinstance(error, InputValidationError):
        entry["problems"] = [
            {"key": p.key, "label": p.label, "problem": p.problem} for p in error.problems
        ]
    elif isinstance(error, NotFoundError) and step is not None:
        key = _not_found_input(error, step)
        if key is not None:
            problem = f"Intercom has no such record on this connection ({error.message})"
            entry["problems"] = [{"key": key, "label": _label(step, key), "problem": problem}]
    return entry


def _not_found_input(error: NotFoundError, step: Step) -> str | None:
    """The one ID input a 404 is about, or None when it cannot be told.

    The message's noun first ("Tag Not Found": Tag ID; Intercom says "User" for a
    contact); else the only ID given; else the only ID not in the request's path (a path
    that was not found reads "User Not Found" or the like, a missing ID sent in the body
    "Resource Not Found")."""
    action = load_manifest().actions[step.action]
    ids = [
        spec for spec in action.value_inputs
        if spec.key in step.inputs and (spec.data_source or spec.key.endswith("_id"))
    ]  # fmt: skip
    words = set(re.findall(r"[a-z]+", error.message.lower())) - {"not", "found", "resource"}
    named = [
        spec for spec in ids
        if words & ({w for w in re.findall(r"[a-z]+", spec.label.lower())} - {"id"}
                    | ({"user", "lead"} if spec.data_source == "select_contact" else set()))
    ]  # fmt: skip
    if len(named) == 1:
        return named[0].key
    if len(ids) == 1:
        return ids[0].key
    in_path = set(re.findall(r"\{(\w+)\}", action.request.path if action.request else ""))
    outside = [spec for spec in ids if spec.key not in in_path]
    return outside[0].key if len(outside) == 1 and not named else None


def _flow_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise FlowError("flow", "a flow is a mapping with a list of 'steps'")
    return {key: data[key] for key in _FLOW_KEYS if data.get(key) not in (None, "")}


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


def run(
    data: Any,
    connection: tuple[Connection, httpx.BaseTransport | None],
    only: str | None = None,
    outputs: Mapping[str, Any] | None = None,
    event: Any = None,
) -> dict[str, Any]:
    """Run the flow, or its step ``only`` alone; every input is checked first, and nothing
    is sent while any is wrong.

    A step run alone sends nothing for the steps before it: the outputs it maps come from
    ``outputs`` (the last run's, by step id), as n8n does; one it maps without an output
    there is a problem at its own input, naming the step to run first. ``event`` is the
    test event of a flow with a trigger; a step that maps the trigger's fields without one
    is refused the same way.

    Returns ``{"problems": [...]}`` (nothing ran), or ``{"ok", "steps": [...]}`` with each
    step's status (ok, failed, skipped), time, output or error.
    """
    flow, problems = check(data)
    steps = list(flow.steps)
    earlier: dict[str, Any] = {}
    if only is not None:
        index = next((i for i, step in enumerate(steps) if step.id == only), None)
        if index is None:
            raise FlowError(flow.name, f"the flow has no step {only!r}")
        given = outputs if isinstance(outputs, Mapping) else {}
        names = {step.id for step in steps[:index]}
        steps = [steps[index]]
        problems = [p for p in problems if p["step"] == only]
        problems += _missing_outputs(steps[0], names, given)
        earlier = {ref: given[ref] for ref in _mapped_steps(steps[0]) & names if ref in given}
    checked = None
    if event in (None, "") or flow.trigger is None:
        problems += [p for step in steps for p in _missing_event(step, flow.trigger is not None)]
    else:
        try:
            checked = check_event(flow, event, "test event")
        except FlowError as exc:  # shown at the trigger's test event editor
            problems += [
                {"step": "trigger", "key": "event", "label": "Test event", "problem": p.problem}
                for p in exc.problems
            ]
    if problems:
        return {"problems": problems}
    results: list[dict[str, Any]] = []

    def record(result: StepResult) -> None:
        if result.status == "ok":
            results.append(
                _step_result(result.step, "ok", seconds=result.seconds, output=result.output)
            )
        elif result.status == "failed" and result.error is not None:
            error = error_json(result.error, result.step)
            results.append(_step_result(result.step, "failed", seconds=result.seconds, error=error))
        else:
            results.append(_step_result(result.step, "skipped"))

    failed = False
    with Connector(connection[0], transport=connection[1]) as connector:
        try:
            run_flow(Flow(flow.name, tuple(steps), flow.trigger), connector, record,
                     event=checked, earlier=earlier)  # fmt: skip
        except StepError:
            failed = True
    return {"ok": not failed, "steps": results}


def _step_result(step: Step, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": step.id, "action": step.action, "status": status, **extra}


def _label(step: Step, key: str) -> str:
    action = load_manifest().actions[step.action]
    return action.input(key).label if key in {s.key for s in action.inputs} else key


def _mapped_steps(step: Step) -> set[str]:
    """The steps whose outputs ``step``'s inputs read."""
    return {ref for text in _texts(step.inputs) for ref in _STEP_REFERENCE.findall(text)}


def _missing_outputs(
    step: Step, earlier: set[str], outputs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A step run alone needs the outputs its inputs read: one problem per input lacking one,
    at that input, naming the step to run first."""
    problems = []
    for key, value in step.inputs.items():
        wanted = sorted({ref for text in _texts(value) for ref in _STEP_REFERENCE.findall(text)})
        missing = [ref for ref in wanted if ref in earlier and ref not in outputs]
        if missing:
            names = " and ".join(repr(m) for m in missing)
            text = (
                f"takes the output of step {names}, which has not run yet: run step {names} "
                "first (its ▶), or run the whole flow"
            )
            problems.append({"step": step.id, "key": key, "label": _label(step, key),
                             "problem": text})  # fmt: skip
    return problems


def _missing_event(step: Step, triggered: bool) -> list[dict[str, Any]]:
    """A step that maps the trigger's fields needs a test event to run in the designer."""
    if not triggered:
        return []
    return [
        {
            "step": step.id,
            "key": key,
            "label": _label(step, key),
            "problem": "takes the trigger's event, and no test event is given: give one at the "
            "trigger (select it, then Get a test event)",
        }
        for key, value in step.inputs.items()
        if any(_TRIGGER_REFERENCE.search(text) for text in _texts(value))
    ]


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
    where = (
        f"the connection it names ({flow['connection']})"
        if flow.get("connection")
        else "INTERCOM_ACCESS_TOKEN, else the embedded sandbox"
    )
    header = (
        "# A flow designed in `intercom-connector ui`.\n"
        f"# Run it with: intercom-connector flow run FILE (on {where};\n"
        "# --connection NAME|FILE or --sandbox runs it elsewhere)\n"
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
    if flow.connection:
        loaded["connection"] = flow.connection
    if isinstance(data.get("trigger"), Mapping):
        loaded["trigger"] = dict(data["trigger"])
    loaded["steps"] = [
        {"id": step.id, "action": step.action, "inputs": dict(step.inputs)} for step in flow.steps
    ]
    return loaded


def test_event(trigger: Any, connector: Connector) -> dict[str, Any]:
    """A test event for a flow's trigger, for the page to show and edit: a polling
    trigger's latest real event on the connection (a change of the last
    ``LATEST_EVENT_DAYS`` days), else a sample made from the trigger's output schema.

    ``{"event", "source": "latest" | "sample", "note"}``.
    """
    if not isinstance(trigger, Mapping) or not isinstance(trigger.get("key"), str):
        raise FlowError("trigger", "a trigger is {key, inputs}")
    spec = load_manifest().triggers.get(trigger["key"])
    if spec is None:
        raise FlowError("trigger", f"{trigger['key']!r} is not a trigger")
    given = trigger.get("inputs")
    inputs: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    if spec.kind == "polling":
        backfill = {**inputs, "start": "backfill", "backfill_days": LATEST_EVENT_DAYS}
        events = connector.poll(spec.key, backfill, None, now=time.time()).events
        if events:
            return {
                "event": dict(events[-1]),
                "source": "latest",
                "note": f"the latest change on this connection ({spec.label})",
            }
    schema = event_schema(load_manifest().output_schema(spec.output))
    event = sample(schema)
    topics = inputs.get("topics")
    options = [o.value for spec_input in spec.inputs for o in spec_input.options
               if spec_input.key == "topics"]  # fmt: skip
    if isinstance(topics, list) and topics and isinstance(topics[0], str):
        event["topic"] = topics[0]
    elif options:
        event["topic"] = str(options[0])
    elif spec.poll is not None:
        event["topic"] = f"{spec.poll.topic}.created"
    event["id"] = f"test-{event['topic']}"
    event["occurred_at"] = int(time.time())
    why = (
        f"no change on this connection in the last {LATEST_EVENT_DAYS} days"
        if spec.kind == "polling"
        else "a webhook's real events reach a listener only"
    )
    return {"event": event, "source": "sample", "note": why}


def sample(schema: Any, name: str = "", depth: int = 0) -> Any:
    """A value of the shape ``schema`` describes: its example, default or first choice
    where it has one; objects with their properties, lists with one item."""
    if not isinstance(schema, Mapping):
        return None
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for group in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in schema.get(group) or [] if b.get("type") != "null"]
        if branches:
            return sample(branches[0], name, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        if depth >= 4:
            return {}
        return {k: sample(v, k, depth + 1) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [] if depth >= 4 else [sample(schema.get("items"), name, depth + 1)]
    if kind == "integer":
        return int(time.time()) if name.endswith("_at") else 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "string":
        return f"{name or 'text'}@example.com" if name == "email" else f"sample {name}".strip()
    return None
