"""A local flow runner: steps of actions, each able to use earlier steps' outputs.

A flow file (YAML)::

    name: Onboard a customer
    steps:
      - id: contact
        action: create_contact
        inputs:
          email: "ada+{{ run.id }}@example.com"
      - id: tag_contact
        action: attach_tag_to_contact
        inputs:
          contact_id: "{{ steps.contact.data.id }}"
          tag_id: "{{ steps.tag.data.id }}"

A value that is exactly one ``{{ reference }}`` takes the referenced value with its type
(an object stays an object); a reference inside longer text is written into the text.
References: ``steps.<id>.<path>`` (an earlier step's output; list items by index, as in
``steps.list.data.0.id``), ``run.id`` (unique to this run) and ``run.started_at``.
Every reference is checked before the first step runs; an error names its step.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intercom_connector.runtime.errors import ConnectorError, InputProblem, InputValidationError
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.runtime.shim import Connector
from intercom_connector.runtime.syntax import InputFileError, syntax_error_text

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class FlowError(InputValidationError):
    """The flow file itself is wrong (exit status 2, like any bad input)."""

    def __init__(self, flow: str, problem: str, where: str = "flow") -> None:
        super().__init__(flow, [InputProblem(where, where, problem)])


class StepError(ConnectorError):
    """A step failed; wraps the connector error with the step named."""

    def __init__(self, step: Step, cause: ConnectorError) -> None:
        self.step = step
        self.cause = cause
        self.exit_code = cause.exit_code
        super().__init__(f"step '{step.id}' ({step.action}) failed: {cause}")


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]


def _references(value: Any) -> list[str]:
    if isinstance(value, str):
        return _REFERENCE.findall(value)
    if isinstance(value, Mapping):
        return [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def parse_flow(data: Any, source: str) -> Flow:
    """Check a flow's structure and every reference, before anything runs."""
    if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
        raise FlowError(source, "a flow is a mapping with a list of 'steps'")
    actions = load_manifest().actions
    steps: list[Step] = []
    for number, raw in enumerate(data["steps"], start=1):
        where = f"step {number}"
        if not isinstance(raw, Mapping):
            raise FlowError(source, "each step is a mapping with id, action and inputs", where)
        unknown = sorted(set(raw) - {"id", "action", "inputs"})
        if unknown:
            raise FlowError(source, f"unknown keys {unknown}; a step has id, action, inputs", where)
        step_id = str(raw.get("id") or f"step{number}")
        where = f"step '{step_id}'"
        if not _STEP_ID.match(step_id) or any(s.id == step_id for s in steps):
            raise FlowError(source, "needs a unique id of letters, digits, _ or -", where)
        action = raw.get("action")
        if action not in actions:
            raise FlowError(source, f"{action!r} is not an action", where)
        inputs = raw.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise FlowError(source, "'inputs' must be a mapping of input keys to values", where)
        earlier = {s.id for s in steps}
        for reference in _references(inputs):
            head, _, rest = reference.partition(".")
            if head == "run" and rest in ("id", "started_at"):
                continue
            target = rest.split(".", 1)[0]
            if head != "steps" or target not in earlier:
                known = ", ".join(sorted(earlier)) or "none"
                problem = (
                    f"'{{{{ {reference} }}}}' must name run.id, run.started_at or an earlier "
                    f"step as steps.<id>.<path>; earlier steps: {known}"
                )
                raise FlowError(source, problem, where)
        steps.append(Step(step_id, str(action), inputs))
    return Flow(str(data.get("name") or source), tuple(steps))


def load_flow(path: str | Path) -> Flow:
    """Read and check a flow file."""
    text = ""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        message = f"cannot read flow file {path}: {exc.strerror}"
        raise InputFileError(str(path), "flow", message) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        message = f"flow file {syntax_error_text(str(path), exc, text)}"
        raise InputFileError(str(path), "flow", message) from None
    return parse_flow(data, str(path))


def _lookup(context: Mapping[str, Any], reference: str, step: Step) -> Any:
    value: Any = context
    walked = []
    for part in reference.split("."):
        walked.append(part)
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise FlowError(
                step.id,
                f"'{reference}' has no value at '{'.'.join(walked)}'",
                f"step '{step.id}'",
            )
    return value


def _resolve(value: Any, context: Mapping[str, Any], step: Step) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return _lookup(context, whole.group(1), step)
        return _REFERENCE.sub(lambda m: str(_lookup(context, m.group(1), step)), value)
    if isinstance(value, Mapping):
        return {key: _resolve(item, context, step) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context, step) for item in value]
    return value


def run_flow(
    flow: Flow,
    connector: Connector,
    on_step: Callable[[int, Step, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every step in order; returns each step's output by step id."""
    outputs: dict[str, Any] = {}
    context = {
        "steps": outputs,
        "run": {"id": secrets.token_hex(4), "started_at": int(time.time())},
    }
    for number, step in enumerate(flow.steps, start=1):
        inputs = _resolve(dict(step.inputs), context, step)
        try:
            result = connector.invoke(step.action, inputs)
        except ConnectorError as exc:
            raise StepError(step, exc) from exc
        outputs[step.id] = result
        if on_step is not None:
            on_step(number, step, result)
    return outputs
