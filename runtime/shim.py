"""The runtime shim: the one way an action runs.

``invoke(action_key, inputs, connection)``:

1. looks the action up in the manifest (loaded once, validated);
2. coerces each input by its declared type ("15" -> 15, "" -> absent);
3. fills defaults and validates against the JSON Schema compiled from the manifest
   (cached per action), collecting every problem into one InputValidationError;
4. builds (or reuses) the IntercomClient for the connection;
5. calls the handler with keyword arguments and returns ``{"data": ...}``.

No HTTP request leaves before step 3 has passed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import httpx
import jsonschema

from intercom_connector.connections.connection import Connection, connection_from_mapping
from intercom_connector.runtime.client import IntercomClient, RetryPolicy
from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    InputProblem,
    InputValidationError,
)
from intercom_connector.runtime.inputs import CoercionProblem, coerce, is_absent, problem_text
from intercom_connector.runtime.listing import RecordStream
from intercom_connector.runtime.manifest import (
    ActionSpec,
    load_manifest,
    resolve_handler,
)


@functools.cache
def _validator(action_key: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_manifest().action(action_key).input_schema)


def validate_inputs(
    action: ActionSpec, inputs: Mapping[str, Any] | None, *, deferred: Collection[str] = ()
) -> dict[str, Any]:
    """Coerced, defaulted, validated inputs for ``action``; every input key present.

    ``deferred`` names inputs whose values are known only later (a flow step's
    references): each must be an input, counts as given, and is not type-checked.
    Raises InputValidationError listing every problem when anything is wrong.
    """
    if inputs is not None and not isinstance(inputs, Mapping):
        what = f"must be a mapping of input keys to values, not {type(inputs).__name__}"
        raise InputValidationError(action.label, [InputProblem("inputs", "inputs", what)])
    given = dict(inputs or {})
    by_key = {spec.key: spec for spec in action.value_inputs}
    problems: list[InputProblem] = []
    for key in [*given, *deferred]:
        if key not in by_key:
            known = ", ".join(by_key) or "none"
            text = f"is not an input of {action.label}; its inputs are: {known}"
            problems.append(InputProblem(key, key, text))
    values: dict[str, Any] = {}
    for key, spec in by_key.items():
        raw = given.get(key)
        if is_absent(raw):
            if spec.has_default:
                values[key] = spec.default
            continue
        try:
            values[key] = coerce(spec.type, raw)
        except CoercionProblem as exc:
            problems.append(InputProblem(key, spec.label, str(exc)))
        except RecursionError:  # JSON text nested thousands deep
            problems.append(InputProblem(key, spec.label, "is nested too deeply"))
    coerced_wrong = {p.key for p in problems}
    for error in _validator(action.key).iter_errors(values):
        if error.validator == "required" and not error.absolute_path:
            for key in error.validator_value:
                if key not in values and key not in coerced_wrong and key not in deferred:
                    problems.append(InputProblem(key, by_key[key].label, "is required"))
            continue
        key = str(error.absolute_path[0])
        problems.append(InputProblem(key, by_key[key].label, problem_text(error, by_key[key].key)))
    checked = {p.key for p in problems}
    for key, value in values.items():  # what the schema let through must still encode as JSON
        if key not in checked and not isinstance(value, str | bool | int):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as exc:
                problems.append(InputProblem(key, by_key[key].label, f"is not JSON data ({exc})"))
    # a group with an input known only later may well be satisfied: not checked here
    problems.extend(_group_problems(action, values, {p.key for p in problems} | set(deferred)))
    if problems:
        # jsonschema reports "required" once per missing input, each naming them all
        raise InputValidationError(action.label, dict.fromkeys(problems))
    return {key: values.get(key) for key in by_key}


def _group_problems(
    action: ActionSpec, values: Mapping[str, Any], wrong: set[str]
) -> list[InputProblem]:
    """The checks across inputs; a group with an input already wrong is skipped (a bad
    JSON Query is not also "give at least one of ...")."""
    problems = []
    at_least_one_of = () if wrong.intersection(action.at_least_one_of) else action.at_least_one_of
    if at_least_one_of and not any(k in values for k in at_least_one_of):
        labels = [action.input(k).label for k in action.at_least_one_of]
        first = action.at_least_one_of[0]
        problems.append(
            InputProblem(
                first,
                " / ".join(labels),
                f"give at least one of {', '.join(labels)}",
            )
        )
    given = [k for k in action.mutually_exclusive if k in values]
    if len(given) > 1 and not wrong.intersection(given):
        labels = [action.input(k).label for k in given]
        problems.append(
            InputProblem(given[0], " / ".join(labels), f"give only one of {', '.join(labels)}")
        )
    return problems


def as_connection(connection: Connection | Mapping[str, Any]) -> Connection:
    """Accept a Connection or the mapping a host stores for one."""
    if isinstance(connection, Connection):
        return connection
    # Never show the value itself: a caller may have passed the token alone.
    if not isinstance(connection, Mapping):
        raise ConnectionConfigError(
            "A connection is a Connection or a mapping of its fields (type, access_token, ...), "
            f"not {type(connection).__name__}"
        )
    if not all(isinstance(key, str) for key in connection):
        raise ConnectionConfigError("A connection's field names must be text")
    return connection_from_mapping(connection)


def find_action(action_key: str) -> ActionSpec:
    """The action ``action_key``; a caller's unknown key is an InputValidationError."""
    actions = load_manifest().actions
    if not isinstance(action_key, str) or action_key not in actions:
        known = ", ".join(sorted(actions))
        shown = repr(action_key) if len(repr(action_key)) <= 60 else repr(action_key)[:57] + "..."
        text = f"{shown} is not an action; the actions are: {known}"
        raise InputValidationError("invoke", [InputProblem("action_key", "action_key", text)])
    return actions[action_key]


class Connector:
    """Runs actions for one connection, reusing one IntercomClient across calls.

    >>> with Connector({"type": "access_token", "access_token": "..."}) as intercom:
    ...     intercom.invoke("get_contact", {"contact_id": "6657a1b2c3d4e5f6a7b8c9d0"})
    """

    def __init__(
        self,
        connection: Connection | Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
    ) -> None:
        self.connection = as_connection(connection)
        self._client_options: dict[str, Any] = {
            "transport": transport,
            "retry": retry,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
        }
        self._client: IntercomClient | None = None

    @property
    def client(self) -> IntercomClient:
        """The shared client, built on first use (so bad inputs never build one)."""
        if self._client is None:
            self._client = IntercomClient(self.connection, **self._client_options)
        return self._client

    def _call(self, action_key: str, inputs: Mapping[str, Any] | None) -> Any:
        action = find_action(action_key)
        values = validate_inputs(action, inputs)
        handler = resolve_handler(action)
        return handler(self.client, **values)

    def invoke(self, action_key: str, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one action; returns ``{"data": ...}``, JSON-serialisable."""
        data = self._call(action_key, inputs)
        if isinstance(data, RecordStream):
            data = data.envelope()
        return {"data": data}

    def stream(self, action_key: str, inputs: Mapping[str, Any] | None = None) -> Iterable[Any]:
        """Run one action; its records, to iterate as they arrive.

        A Fetch All gives a ``RecordStream`` (page after page, never holding them all;
        ``pages_read`` and ``records_read`` count what came); another list action the
        records of its page; any other action its one result.
        """
        data = self._call(action_key, inputs)
        if isinstance(data, RecordStream):
            return data
        listed = isinstance(data, dict) and data.get("type") == "list"
        if listed and isinstance(data.get("data"), list):
            return list(data["data"])
        return [data]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connector({self.connection!r})"


def invoke(
    action_key: str,
    inputs: Mapping[str, Any] | None,
    connection: Connection | Mapping[str, Any],
    *,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Run one action once: validate ``inputs``, call Intercom, return ``{"data": ...}``.

    For many calls on one connection, a ``Connector`` reuses its HTTP connections.
    """
    with Connector(connection, transport=transport) as connector:
        return connector.invoke(action_key, inputs)
