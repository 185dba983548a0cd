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

A flow may start from a trigger (connector.yaml ``triggers:``)::

    trigger:
      key: new_or_updated_contacts
      inputs: {start: now}

A flow may name the connection it runs on (``connection: work``: a saved connection's name
or a connection file); ``--connection`` or ``--sandbox`` on the command line wins.

A value that is exactly one ``{{ reference }}`` takes the referenced value with its type
(an object stays an object); a reference inside longer text is written into the text.
References: ``steps.<id>.<path>`` (an earlier step's output; list items by index, as in
``steps.list.data.0.id``), ``run.id`` (unique to this run), ``run.started_at``, and in a
flow with a trigger ``trigger.<path>``: the event that started the run (``trigger.id``,
``trigger.topic``, ``trigger.occurred_at``, ``trigger.data.<path>``, the record).

Before the first step runs, the whole flow is checked and every problem reported at once:
its structure, every reference, and every step's inputs (a literal value validated as
``run`` would; a value holding a reference only for being an input of the action, since
its type is known only at run time; required inputs present either way).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intercom_connector.runtime.errors import (
    ConnectorError,
    InputProblem,
    InputValidationError,
    cut,
    echoed,
)
from intercom_connector.runtime.manifest import SECRET_INPUT, ActionSpec, load_manifest
from intercom_connector.runtime.shim import Connector, validate, validate_inputs
from intercom_connector.runtime.syntax import InputFileError, syntax_error_text
from intercom_connector.runtime.triggers import EVENT_FIELDS
from intercom_connector.runtime.yaml_text import load_yaml

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class FlowError(InputValidationError):
    """The flow file itself is wrong (exit status 2, like any bad input); lists every problem.

    ``problem`` is one problem's text (``where`` saying where it is), or the list of them.
    """

    def __init__(
        self, flow: str, problem: str | Sequence[InputProblem], where: str = "flow"
    ) -> None:
        self.action_label = flow
        self.problems = (
            [InputProblem(where, where, problem)] if isinstance(problem, str) else list(problem)
        )
        # Its own message, not InputValidationError's: a flow's problems are not all inputs.
        lines = [p.problem if p.key == "flow" else str(p) for p in self.problems]
        if len(lines) == 1:
            text = f"{flow}: {lines[0]}"
        else:
            text = f"{flow}: {len(lines)} problems:" + "".join(f"\n  - {line}" for line in lines)
        ConnectorError.__init__(self, text)


class StepError(ConnectorError):
    """A step failed; wraps the connector error with the step named.

    ``results`` tells every step's fate: the ones that ran, this one, the skipped ones.
    """

    def __init__(
        self, step: Step, cause: ConnectorError, results: Sequence[StepResult] = ()
    ) -> None:
        self.step = step
        self.cause = cause
        self.results = list(results)
        self.exit_code = cause.exit_code
        super().__init__(f"step '{step.id}' ({step.action}) failed: {cause}")


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class FlowTrigger:
    """What starts a flow: a trigger of the manifest, with its inputs."""

    key: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]
    trigger: FlowTrigger | None = None
    #: the connection it runs on (a saved connection's name or a connection file), unless
    #: the command line names one
    connection: str | None = None


@dataclass(frozen=True)
class StepResult:
    """What became of one step: ``ok`` (with its output), ``failed`` or ``skipped``."""

    step: Step
    status: str
    output: dict[str, Any] | None = None
    error: ConnectorError | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The step's entry in ``flow run --json``: its output, its error, or skipped."""
        if self.output is not None:
            return self.output
        if self.error is not None:
            error = self.error
            return {
                "error": {
                    "type": type(error).__name__,
                    "message": str(error),
                    "exit_code": error.exit_code,
                }
            }
        return {"skipped": True}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _references(value: Any) -> list[str]:
    return [ref for text in _strings(value) for ref in _REFERENCE.findall(text)]


def _reference_problems(value: Any, earlier: set[str], triggered: bool = False) -> list[str]:
    """What is wrong with the references in one input's value (an unclosed ``{{`` too);
    ``triggered``: the flow starts from a trigger, so ``trigger.<path>`` names its event."""
    problems = []
    for text in _strings(value):
        if "{{" in _REFERENCE.sub("", text):
            problems.append(
                f"{text!r} has a '{{{{' that does not open a reference such as "
                "'{{ steps.<id>.<path> }}' (an unclosed '{{' is not sent as text)"
            )
    for reference in _references(value):
        head, _, rest = reference.partition(".")
        if head == "run" and rest in ("id", "started_at"):
            continue
        if head == "trigger" and triggered and rest.split(".", 1)[0] in EVENT_FIELDS:
            continue
        if head != "steps" or rest.split(".", 1)[0] not in earlier:
            known = ", ".join(sorted(earlier)) or "none"
            event = ", trigger.<path> (" + ", ".join(EVENT_FIELDS) + ")" if triggered else ""
            problems.append(
                f"'{{{{ {cut(reference)} }}}}' must name run.id, run.started_at{event} or an "
                f"earlier step as steps.<id>.<path>; earlier steps: {known}"
            )
    return problems


def step_input_problems(action: ActionSpec, inputs: Mapping[str, Any]) -> list[InputProblem]:
    """A step's inputs checked before anything runs; a value holding a reference only for
    being an input (its type is known at run time), every other value as ``run`` does."""
    later = [key for key, value in inputs.items() if any("{{" in s for s in _strings(value))]
    literal = {key: value for key, value in inputs.items() if key not in later}
    try:
        validate_inputs(action, literal, deferred=later)
    except InputValidationError as exc:
        return exc.problems
    return []


def parse_flow(data: Any, source: str, *, check_inputs: bool = True) -> Flow:
    """Check a flow's structure, references and (unless ``check_inputs`` is false: a host
    that shows each step's problems at its inputs) inputs, before anything runs.

    Raises FlowError listing every problem of the whole flow.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
        raise FlowError(source, "a flow is a mapping with a list of 'steps'")
    actions = load_manifest().actions
    steps: list[Step] = []
    problems: list[InputProblem] = []

    def problem(where: str, text: str) -> None:
        problems.append(InputProblem(where, where, text))

    trigger = _flow_trigger(data.get("trigger"), problem) if "trigger" in data else None
    connection = data.get("connection")
    if connection is not None and (not isinstance(connection, str) or not connection.strip()):
        problem("connection", "names the connection it runs on: a saved connection or a file")
        connection = None

    for number, raw in enumerate(data["steps"], start=1):
        if not isinstance(raw, Mapping):
            problem(f"step {number}", "each step is a mapping with id, action and inputs")
            continue
        step_id = str(raw.get("id") or f"step{number}")
        where = f"step '{cut(step_id)}'"
        unknown = sorted(map(str, set(raw) - {"id", "action", "inputs"}))
        if unknown:
            problem(where, f"unknown keys {unknown}; a step has id, action, inputs")
        if not _STEP_ID.match(step_id) or any(s.id == step_id for s in steps):
            problem(where, "needs a unique id of letters, digits, _ or -")
        action = raw.get("action")
        spec = actions.get(action) if isinstance(action, str) else None
        if spec is None:
            problem(where, f"{echoed(action)} is not an action")
        else:
            where = f"step '{cut(step_id)}' ({action})"
        inputs = raw.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            problem(where, "'inputs' must be a mapping of input keys to values")
            inputs, spec = {}, None
        earlier = {s.id for s in steps}
        for key, value in inputs.items():
            for text in _reference_problems(value, earlier, "trigger" in data):
                label = spec.input(key).label if spec and key in _keys(spec) else str(key)
                problem(where, str(InputProblem(str(key), label, text)))
        if spec is not None and check_inputs:
            for found in step_input_problems(spec, inputs):
                problem(where, str(found))
        steps.append(Step(step_id, str(action), inputs))
    if problems:
        raise FlowError(source, problems)
    return Flow(str(data.get("name") or source), tuple(steps), trigger, connection)


def _flow_trigger(raw: Any, problem: Callable[[str, str], None]) -> FlowTrigger | None:
    """The flow's ``trigger: {key, inputs}``, its inputs checked as the trigger's."""
    where = "trigger"
    triggers = load_manifest().triggers
    if not isinstance(raw, Mapping) or set(raw) - {"key", "inputs"}:
        problem(where, "is a mapping with key (a trigger) and inputs")
        return None
    key = raw.get("key")
    spec = triggers.get(key) if isinstance(key, str) else None
    if spec is None:
        known = ", ".join(sorted(triggers))
        problem(where, f"{key!r} is not a trigger; the triggers are: {known}")
        return None
    inputs = raw.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        problem(where, "'inputs' must be a mapping of input keys to values")
        return None
    where = f"trigger ({spec.key})"
    if SECRET_INPUT in inputs and any(s.key == SECRET_INPUT for s in spec.inputs):
        label = spec.input(SECRET_INPUT).label
        problem(
            where,
            f"{label} ({SECRET_INPUT}): keep it out of flow files; it comes from "
            "INTERCOM_CLIENT_SECRET or the OAuth 2.0 connection",
        )
    try:
        validate(spec, inputs)
    except InputValidationError as exc:
        for found in exc.problems:
            problem(where, str(found))
    return FlowTrigger(spec.key, dict(inputs))


def flow_event(flow: Flow, event: Any, source: str = "--event") -> dict[str, Any] | None:
    """The event ``flow run`` starts ``flow`` from (None: it has no trigger, and no event
    was given); FlowError when one is missing, not wanted, or not an event."""
    if event is None or event == "":
        if flow.trigger is None:
            return None
        problem = (
            f"starts from the trigger {flow.trigger.key}: give its event with {source} "
            "FILE|-, or run it with trigger poll or trigger listen --flow"
        )
        raise FlowError(flow.name, problem, source)
    return check_event(flow, event, source)


def check_event(flow: Flow, event: Any, source: str = "--event") -> dict[str, Any]:
    """The event a run of ``flow`` starts from, checked: ``{"id", "topic", "occurred_at",
    "data"}`` as its trigger gives it."""
    if flow.trigger is None:
        raise FlowError(flow.name, "has no trigger: it runs without an event", source)
    if not isinstance(event, Mapping):
        raise FlowError(
            flow.name, "an event is a JSON object {id, topic, occurred_at, data}", source
        )
    wrong = [
        name
        for name, ok in (
            ("id", isinstance(event.get("id"), str)),
            ("topic", isinstance(event.get("topic"), str)),
            ("occurred_at", type(event.get("occurred_at")) is int),
            ("data", isinstance(event.get("data"), Mapping)),
        )
        if not ok
    ]
    if wrong:
        shape = "{id, topic, occurred_at, data}"
        raise FlowError(
            flow.name, f"the event has no valid {', '.join(wrong)}: it is {shape}", source
        )
    return dict(event)


def _keys(action: ActionSpec) -> set[str]:
    return {spec.key for spec in action.value_inputs}


def load_flow(path: str | Path) -> Flow:
    """Read and check a flow file."""
    text = ""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = load_yaml(text)
    except OSError as exc:
        message = f"cannot read flow file {path}: {exc.strerror}"
        raise InputFileError(str(path), "flow", message) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        message = f"flow file {syntax_error_text(str(path), exc, text)}"
        raise InputFileError(str(path), "flow", message) from None
    return parse_flow(data, str(path))


class _NoValue(Exception):
    """A reference whose path has no value in this run's outputs."""


def _lookup(context: Mapping[str, Any], reference: str) -> Any:
    value: Any = context
    walked: list[str] = []
    for part in reference.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise _NoValue(
                f"'{{{{ {reference} }}}}' has no value: {'.'.join(walked)} has no {part!r}"
            )
        walked.append(part)
    return value


def _resolve(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return _lookup(context, whole.group(1))
        return _REFERENCE.sub(lambda m: str(_lookup(context, m.group(1))), value)
    if isinstance(value, Mapping):
        return {key: _resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context) for item in value]
    return value


def _resolved_inputs(step: Step, context: Mapping[str, Any]) -> dict[str, Any]:
    """The step's inputs with every reference replaced; InputValidationError naming each
    input whose reference has no value in this run."""
    resolved, problems = {}, []
    for key, value in step.inputs.items():
        try:
            resolved[key] = _resolve(value, context)
        except _NoValue as exc:
            action = load_manifest().actions[step.action]
            label = action.input(key).label if key in _keys(action) else key
            problems.append(InputProblem(key, label, str(exc)))
    if problems:
        raise InputValidationError(load_manifest().actions[step.action].label, problems)
    return resolved


def run_flow(
    flow: Flow,
    connector: Connector,
    on_step: Callable[[StepResult], None] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    event: Mapping[str, Any] | None = None,
    earlier: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every step in order; returns each step's output by step id.

    ``event``: what started this run, for a flow with a trigger (``{{ trigger.<path> }}``).
    ``earlier``: outputs of steps not in ``flow`` (a step run alone reads them, by step id).

    ``on_step`` hears of every step as it ends: the ones that ran, the one that failed and
    the ones skipped after it. A failure raises StepError, whose ``results`` hold them all.
    """
    outputs: dict[str, Any] = dict(earlier or {})
    context = {
        "steps": outputs,
        "run": {"id": secrets.token_hex(4), "started_at": int(time.time())},
    }
    if event is not None:
        context["trigger"] = dict(event)
    results: list[StepResult] = []

    def record(result: StepResult) -> None:
        results.append(result)
        if on_step is not None:
            on_step(result)

    for number, step in enumerate(flow.steps):
        started = clock()
        try:
            output = connector.invoke(step.action, _resolved_inputs(step, context))
        except ConnectorError as exc:
            record(StepResult(step, "failed", error=exc, seconds=clock() - started))
            for later in flow.steps[number + 1 :]:
                record(StepResult(later, "skipped"))
            raise StepError(step, exc, results) from exc
        outputs[step.id] = output
        record(StepResult(step, "ok", output=output, seconds=clock() - started))
    return outputs


def made_or_found(output: Any) -> str:
    """What a step made or found, read generically off its output: type, id, email or
    name (``contact 6657... ada@example.com``), or how many records a list holds."""
    data = output.get("data") if isinstance(output, Mapping) else None
    if not isinstance(data, Mapping):
        return ""
    records = data.get("data")
    if isinstance(records, list):
        total = data.get("total_count")
        count = len(records)
        shown = f"{count} of {total}" if isinstance(total, int) and total > count else str(count)
        return f"{shown} record{'' if count == 1 else 's'}"
    parts = [data.get("type"), data.get("id"), data.get("email") or data.get("name")]
    if data.get("deleted") is True:
        parts.append("deleted")
    if isinstance(data.get("status"), int):  # a raw request's answer
        parts.append(f"status {data['status']}")
    words = [" ".join(str(part).split()) for part in parts if part not in (None, "")]
    return " ".join(word if len(word) <= 40 else word[:37] + "..." for word in words)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


class StepLines:
    """``flow run`` on a terminal: one line per step as it ends, then a summary."""

    def __init__(self, flow: Flow, encoding: str | None) -> None:
        self.id_width = max((len(step.id) for step in flow.steps), default=0)
        self.action_width = max((len(step.action) for step in flow.steps), default=0)
        self.results: list[StepResult] = []
        try:
            "✓✗".encode(encoding or "ascii")
            self.marks = {"ok": "✓", "failed": "✗", "skipped": "-"}
        except (UnicodeEncodeError, LookupError):
            self.marks = {"ok": "+", "failed": "x", "skipped": "-"}

    def line(self, result: StepResult) -> str:
        """``✓ contact  create_contact  contact 6657... ada@example.com  32 ms``"""
        self.results.append(result)
        fields = [
            f"{self.marks[result.status]} {result.step.id:<{self.id_width}}",
            f"{result.step.action:<{self.action_width}}",
        ]
        if result.status == "ok":
            fields += [made_or_found(result.output), _duration(result.seconds)]
        elif result.status == "failed":
            fields += ["failed", _duration(result.seconds)]
        else:
            fields.append("skipped")
        line = "  ".join(field for field in fields if field)
        # a terminal that cannot show the marks may not show a name's accents either
        return line.encode("ascii", "replace").decode() if self.marks["ok"] == "+" else line

    def summary(self) -> str:
        """``6 steps ran in 0.4 s``, or what ran, failed and was skipped."""
        results = self.results
        ran = sum(1 for r in results if r.status == "ok")
        failed = sum(1 for r in results if r.status == "failed")
        skipped = sum(1 for r in results if r.status == "skipped")
        took = f"in {_duration(sum(r.seconds for r in results))}"
        text = f"{ran} step{'' if ran == 1 else 's'} ran"
        if failed:
            text += f", {failed} failed"
        if skipped:
            text += f", {skipped} skipped"
        return f"{text} {took}"
