"""What the manifest looks like to the outside: JSON for a flow-builder UI, Markdown docs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from intercom_connector.runtime.errors import ConnectorError
from intercom_connector.runtime.manifest import ActionSpec, InputSpec, Manifest


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
    if spec.type != "connection":
        entry["schema"] = spec.json_schema()
    return entry


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    """The whole manifest for a flow-builder UI: inputs with their JSON Schemas, outputs."""
    return {
        "key": manifest.key,
        "label": manifest.label,
        "description": manifest.description,
        "documentation": manifest.documentation,
        "connections": [
            {
                "key": conn.key,
                "label": conn.label,
                "description": conn.description,
                "kind": conn.kind,
                **({"oauth2": dict(conn.oauth2)} if conn.oauth2 else {}),
                "inputs": [_input_json(spec) for spec in conn.inputs],
            }
            for conn in manifest.connections.values()
        ],
        "actions": [
            {
                "key": action.key,
                "label": action.label,
                "description": action.description,
                "inputs": [_input_json(spec) for spec in action.inputs],
                "input_schema": action.input_schema,
                "output_schema": manifest.output_schema(action.output),
            }
            for action in manifest.actions.values()
        ],
    }


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
        rows.append(f"| {_cell(spec.label)} | {_cell(comments)} | {_cell(default_text(spec))} |")
    return rows


def _action_section(action: ActionSpec) -> list[str]:
    return [
        f"### {action.label}",
        "",
        f"{action.description} (`{action.key}`)",
        "",
        *_table(action.inputs),
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
        lines += _action_section(action)
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
