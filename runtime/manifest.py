"""Loading connector.yaml: validated against its meta-schema, shared inputs resolved.

The manifest is the single source of truth for the component, its connections and every
action. It is loaded once per process (``load_manifest()``); a broken manifest fails
here, with the file, the path and the key named, before anything is built from it.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.inputs import schema_fragment

PACKAGE = "intercom_connector"
#: libyaml's loader when PyYAML was built with it (7x faster: every CLI start reads the
#: manifest), the pure-Python one otherwise; both are safe loaders.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: the value of ``InputSpec.default`` when an input has no default
MISSING: Any = _Missing()


@dataclass(frozen=True)
class Option:
    """One choice of a select input."""

    value: str
    label: str


@dataclass(frozen=True)
class InputSpec:
    """One input of an action or connection, fully resolved."""

    key: str
    label: str
    type: str
    required: bool = False
    default: Any = MISSING
    comments: str = ""
    example: str | None = None
    options: tuple[Option, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    schema_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @property
    def secret(self) -> bool:
        return self.type == "password"

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one valid value of this input."""
        schema = schema_fragment(self.type)
        if self.options:
            schema["enum"] = [option.value for option in self.options]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        schema.update(json.loads(json.dumps(dict(self.schema_extra))))
        schema["title"] = self.label
        if self.comments:
            schema["description"] = self.comments
        if self.has_default:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class ActionSpec:
    """One action: what the flow builder shows and what the shim runs."""

    key: str
    label: str
    description: str
    handler: str
    output: str
    inputs: tuple[InputSpec, ...]
    at_least_one_of: tuple[str, ...] = ()
    mutually_exclusive: tuple[str, ...] = ()

    @property
    def value_inputs(self) -> tuple[InputSpec, ...]:
        """The inputs a handler receives: all but the connection."""
        return tuple(spec for spec in self.inputs if spec.type != "connection")

    def input(self, key: str) -> InputSpec:
        for spec in self.inputs:
            if spec.key == key:
                return spec
        raise KeyError(key)

    @functools.cached_property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of this action's whole input object (connection excluded)."""
        return {
            "type": "object",
            "properties": {spec.key: spec.json_schema() for spec in self.value_inputs},
            "required": [spec.key for spec in self.value_inputs if spec.required],
            "additionalProperties": False,
        }


@dataclass(frozen=True)
class ConnectionSpec:
    """One connection type, as the integration UI configures it."""

    key: str
    label: str
    description: str
    kind: str
    inputs: tuple[InputSpec, ...]
    oauth2: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Manifest:
    """The whole loaded manifest."""

    key: str
    label: str
    description: str
    documentation: str | None
    connections: Mapping[str, ConnectionSpec]
    actions: Mapping[str, ActionSpec]
    source: str

    def action(self, key: str) -> ActionSpec:
        """The action named ``key``; ManifestError (listing the keys) when there is none."""
        try:
            return self.actions[key]
        except KeyError:
            known = ", ".join(sorted(self.actions))
            raise ManifestError(f"unknown action {key!r}; the actions are: {known}") from None

    def output_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema (schemas/objects/NAME.json) of an action's output data."""
        return _object_schemas()[name]


def _package_file(*parts: str) -> Path:
    return Path(str(resources.files(PACKAGE).joinpath(*parts)))


def _where(path: Iterator[Any] | list[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


@functools.cache
def _meta_schema() -> dict[str, Any]:
    path = _package_file("schemas", "connector.schema.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _object_schemas() -> dict[str, dict[str, Any]]:
    folder = _package_file("schemas", "objects")
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def _resolve_input(
    key: str, entry: Mapping[str, Any], shared: Mapping[str, Mapping[str, Any]], where: str
) -> InputSpec:
    base_key = entry.get("use", key)
    if "use" in entry and base_key not in shared:
        raise ManifestError(f"{where}: 'use' names {base_key!r}, which is not a shared input")
    merged = {**shared.get(base_key, {}), **{k: v for k, v in entry.items() if k != "use"}}
    for needed in ("label", "type"):
        if needed not in merged:
            raise ManifestError(
                f"{where}: {key!r} is not a shared input, so it needs its own {needed!r}"
            )
    options = tuple(
        Option(value=o, label=o) if isinstance(o, str) else Option(o["value"], o["label"])
        for o in merged.get("options", ())
    )
    if merged["type"] == "select" and not options:
        raise ManifestError(f"{where}: a select input needs 'options'")
    spec = InputSpec(
        key=key,
        label=merged["label"],
        type=merged["type"],
        required=merged.get("required", False),
        default=merged.get("default", MISSING),
        comments=" ".join(str(merged.get("comments", "")).split()),
        example=merged.get("example"),
        options=options,
        minimum=merged.get("minimum"),
        maximum=merged.get("maximum"),
        unit=merged.get("unit"),
        schema_extra=merged.get("schema", {}),
    )
    if spec.has_default:
        validator = jsonschema.Draft202012Validator(spec.json_schema())
        problems = list(validator.iter_errors(spec.default))
        if problems:
            raise ManifestError(
                f"{where}: the default {spec.default!r} of {key!r} does not fit its type "
                f"{spec.type!r}: {problems[0].message}"
            )
    return spec


def _resolve_inputs(
    entries: Mapping[str, Mapping[str, Any]],
    shared: Mapping[str, Mapping[str, Any]],
    where: str,
) -> tuple[InputSpec, ...]:
    return tuple(
        _resolve_input(key, entry, shared, f"{where}.{key}") for key, entry in entries.items()
    )


def _check_action(action: ActionSpec, source: str, objects: Mapping[str, Any]) -> None:
    where = f"{source}: actions.{action.key}"
    connections = [spec.key for spec in action.inputs if spec.type == "connection"]
    if connections != ["connection"]:
        raise ManifestError(f"{where}: needs exactly one input 'connection' of type connection")
    keys = {spec.key for spec in action.inputs}
    for group in ("at_least_one_of", "mutually_exclusive"):
        unknown = [key for key in getattr(action, group) if key not in keys]
        if unknown:
            raise ManifestError(f"{where}.{group}: names unknown inputs {unknown}")
    if action.output not in objects:
        raise ManifestError(
            f"{where}.output: no schema schemas/objects/{action.output}.json for {action.output!r}"
        )


def parse_manifest(text: str, source: str = "connector.yaml") -> Manifest:
    """Validate and resolve a manifest given as YAML text."""
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from None
    errors = sorted(
        jsonschema.Draft202012Validator(_meta_schema()).iter_errors(raw),
        key=lambda error: list(error.absolute_path),
    )
    if errors:
        lines = "\n".join(f"  - at {_where(list(e.absolute_path))}: {e.message}" for e in errors)
        raise ManifestError(f"{source} does not match schemas/connector.schema.json:\n{lines}")
    for key, entry in raw["inputs"].items():
        if entry.get("use"):
            raise ManifestError(f"{source}: inputs.{key}: a shared input cannot 'use' another")
    objects = _object_schemas()
    actions: dict[str, ActionSpec] = {}
    for key, entry in raw["actions"].items():
        action = ActionSpec(
            key=key,
            label=entry["label"],
            description=entry["description"],
            handler=entry["handler"],
            output=entry["output"],
            inputs=_resolve_inputs(
                entry["inputs"], raw["inputs"], f"{source}: actions.{key}.inputs"
            ),
            at_least_one_of=tuple(entry.get("at_least_one_of", ())),
            mutually_exclusive=tuple(entry.get("mutually_exclusive", ())),
        )
        _check_action(action, source, objects)
        actions[key] = action
    connections = {
        key: ConnectionSpec(
            key=key,
            label=entry["label"],
            description=entry["description"],
            kind=entry["kind"],
            inputs=_resolve_inputs(
                entry["inputs"], raw["connection_inputs"], f"{source}: connections.{key}.inputs"
            ),
            oauth2=entry.get("oauth2"),
        )
        for key, entry in raw["connections"].items()
    }
    return Manifest(
        key=raw["key"],
        label=raw["label"],
        description=raw["description"],
        documentation=raw.get("documentation"),
        connections=connections,
        actions=actions,
        source=source,
    )


@functools.cache
def load_manifest() -> Manifest:
    """The packaged connector.yaml, loaded and validated once per process."""
    path = _package_file("connector.yaml")
    return parse_manifest(path.read_text(encoding="utf-8"), source="connector.yaml")


def resolve_handler(action: ActionSpec) -> Callable[..., Any]:
    """The handler function an action binds to (``module.function`` under actions/)."""
    module_name, _, function_name = action.handler.partition(".")
    module = importlib.import_module(f"{PACKAGE}.actions.{module_name}")
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise ManifestError(
            f"connector.yaml: actions.{action.key}.handler: {action.handler!r} is not a function "
            f"in actions/{module_name}.py"
        )
    return handler  # type: ignore[no-any-return]
