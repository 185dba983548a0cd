"""What the manifest looks like to the outside: JSON for a flow-builder UI, Markdown docs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from intercom_connector.runtime.errors import ConnectorError
from intercom_connector.runtime.input_rules import When
from intercom_connector.runtime.manifest import (
    ActionSpec,
    InputSpec,
    Manifest,
    OperationSpec,
    TriggerSpec,
)
from intercom_connector.runtime.triggers import event_schema


def _input_json(spec: InputSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": spec.key,
        "label": spec.label,
        "type": spec.type,
        "required": spec.required,
        "comments": spec.comments,
    }
    if spec.has_default:
        entry["default"] = spec.default
    if spec.example is not None:
        entry["example"] = spec.example
    if spec.options:
        entry["options"] = [{"value": o.value, "label": o.label} for o in spec.options]
    if spec.unit:
        entry["unit"] = spec.unit
    if spec.data_source:
        entry["data_source"] = spec.data_source
    if spec.secret:
        entry["secret"] = True
    if spec.type != "connection":
        entry["schema"] = spec.json_schema()
    return entry


def _operation_json(operation: OperationSpec) -> dict[str, Any]:
    return {
        "key": operation.key,
        "label": operation.label,
        "description": operation.description,
        "resource": operation.resource,
        "inputs": [_input_json(spec) for spec in operation.inputs],
        "input_schema": operation.input_schema,
        # What a form enforces across inputs; an input counts as given unless empty or false.
        "rules": [
            *({"type": rule.type, "inputs": list(rule.inputs)} for rule in operation.rules),
            *(_when(rule, operation) for rule in operation.conditions),
        ],
    }


def _action_json(manifest: Manifest, action: ActionSpec) -> dict[str, Any]:
    entry = {**_operation_json(action), "kind": action.kind, "effect": action.effect}
    entry["idempotent"] = action.idempotent
    if action.paging is not None:
        entry["paging"] = {"style": action.paging.style, "records": action.paging.records}
        if action.paging.split_by:
            entry["paging"]["split_by"] = action.paging.split_by
        overflow = action.paging.overflow
        if overflow:
            entry["paging"]["overflow"] = {
                "after": overflow.after,
                "path": overflow.path,
                "applies_to": overflow.applies_to,
            }
    entry["output_schema"] = manifest.output_schema(action.output)
    return entry


def _when(rule: When, operation: OperationSpec) -> dict[str, Any]:
    """A rule across inputs as a form shows it: its parts, and its sentence."""
    entry: dict[str, Any] = {"type": "when", "inputs": list(rule.inputs)}
    parts = {
        "if": {key: list(values) for key, values in rule.values.items()},
        "if_given": list(rule.given),
        "require": list(rule.require),
        "forbid": list(rule.forbid),
        "must_be": dict(rule.must_be),
    }
    entry.update({name: value for name, value in parts.items() if value})
    entry["text"] = rule.describe(lambda key: operation.input(key).label)
    return entry


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    """The whole manifest for a flow-builder UI: every kind, inputs with their JSON Schemas,
    data sources, rules, paging and output schemas."""
    return {
        "key": manifest.key,
        "label": manifest.label,
        "description": manifest.description,
        "documentation": manifest.documentation,
        # a palette's groups, in order; each operation names its own as "resource"
        "resources": [{"key": key, "label": label} for key, label in manifest.resources.items()],
        "connections": [
            {
                "key": conn.key,
                "label": conn.label,
                "type_label": conn.type_label,
                "description": conn.description,
                "kind": conn.kind,
                **({"oauth2": dict(conn.oauth2)} if conn.oauth2 else {}),
                "inputs": [_input_json(spec) for spec in conn.inputs],
            }
            for conn in manifest.connections.values()
        ],
        "actions": [_action_json(manifest, action) for action in manifest.actions.values()],
        "data_sources": [
            {**_operation_json(source), "output_schema": manifest.output_schema("choices")}
            for source in manifest.data_sources.values()
        ],
        "triggers": [_trigger_json(manifest, trigger) for trigger in manifest.triggers.values()],
    }


def _trigger_json(manifest: Manifest, trigger: TriggerSpec) -> dict[str, Any]:
    entry = {**_operation_json(trigger), "kind": trigger.kind}
    if trigger.poll is not None:
        entry["poll"] = {"timestamp": trigger.poll.timestamp, "topic": trigger.poll.topic}
    # what one event looks like: {id, topic, occurred_at, data}, data the record
    entry["output_schema"] = event_schema(manifest.output_schema(trigger.output))
    return entry


def default_text(spec: InputSpec) -> str:
    """A default as a person reads it: false, desc, 0; empty when there is none."""
    if not spec.has_default:
        return ""
    return spec.default if isinstance(spec.default, str) else json.dumps(spec.default)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(inputs: Iterable[InputSpec]) -> list[str]:
    rows = ["| Input | Comments | Default |", "| --- | --- | --- |"]
    for spec in inputs:
        comments = "" if spec.type == "connection" else spec.comments
        if spec.data_source:
            comments += f" (dropdown: data source `{spec.data_source}`)"
        rows.append(f"| {_cell(spec.label)} | {_cell(comments)} | {_cell(default_text(spec))} |")
    return rows


def _escaped(text: str) -> str:
    """Plain text as Markdown shows it: _default_title_ keeps its underscores."""
    return re.sub(r"([\\`*_\[\]<])", r"\\\1", text)


def _section(operation: OperationSpec, kind: str = "") -> list[str]:
    what = f"`{operation.key}`, {kind}" if kind else f"`{operation.key}`"
    # a description's first line says what it does; the lines after it, how it behaves
    summary, _, notes = operation.description.partition("\n")
    return [
        f"### {operation.label}",
        "",
        f"{summary} ({what})",
        "",
        *([_escaped(notes), ""] if notes else []),
        *_table(operation.inputs),
        "",
    ]


def markdown(manifest: Manifest) -> str:
    """The product page, in the seed's shape: connections, then each action's input table."""
    lines = [f"{manifest.description}", "", "## Connections", ""]
    for conn in manifest.connections.values():
        lines += [f"### {conn.label}", "", f"{conn.description} (`{conn.key}`)", ""]
        lines += [*_table(conn.inputs), ""]
    lines += ["## Actions", ""]
    for action in sorted(manifest.actions.values(), key=lambda a: a.label.lower()):
        lines += _section(action)
    lines += ["## Data sources", ""]
    for source in sorted(manifest.data_sources.values(), key=lambda a: a.label.lower()):
        lines += _section(source)
    lines += ["## Triggers", ""]
    for trigger in sorted(manifest.triggers.values(), key=lambda a: a.label.lower()):
        lines += _section(trigger, f"{trigger.kind} trigger")
    return "\n".join(lines).rstrip() + "\n"


GENERATED_BEGIN = "<!-- BEGIN GENERATED: intercom-connector docs -->\n"
GENERATED_END = "<!-- END GENERATED -->"


def replace_generated(path: Path, text: str) -> None:
    """Put ``text`` between the generated-part markers of ``path``."""
    document = path.read_text(encoding="utf-8")
    if GENERATED_BEGIN not in document or GENERATED_END not in document:
        raise ConnectorError(f"{path} has no generated-part markers")
    head, rest = document.split(GENERATED_BEGIN, 1)
    tail = rest.split(GENERATED_END, 1)[1]
    path.write_text(head + GENERATED_BEGIN + text + GENERATED_END + tail, encoding="utf-8")
