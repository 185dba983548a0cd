"""The Python API a host embeds: a caller's mistake is a ConnectorError, never a raw crash."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import TOKEN

import intercom_connector
from intercom_connector import Connector, invoke
from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    ConnectorError,
    InputValidationError,
)
from intercom_connector.sandbox import Sandbox

SANDBOX = Sandbox(":memory:", token=TOKEN)
CONNECTION = {"type": "access_token", "access_token": TOKEN, "base_url": SANDBOX.base_url}
ACTION_KEYS = sorted(intercom_connector.load_manifest().actions)


def test_an_unknown_action_is_a_callers_mistake_listing_the_actions() -> None:
    with pytest.raises(InputValidationError) as excinfo:
        invoke("nope", {}, CONNECTION, transport=SANDBOX.transport())
    message = str(excinfo.value)
    assert message.startswith("invoke: 1 input is not valid:\n  - action_key: 'nope' is not an")
    assert f"the actions are: {', '.join(ACTION_KEYS)}" in message
    assert "please report" not in message


def test_no_connection_is_a_connection_error() -> None:
    with pytest.raises(ConnectionConfigError, match="Connect first: no connection"):
        invoke("list_tags", {}, None)  # type: ignore[arg-type]


def test_a_token_given_as_the_connection_is_refused_without_showing_it() -> None:
    with pytest.raises(ConnectionConfigError) as excinfo:
        Connector(TOKEN)  # type: ignore[arg-type]
    assert "a mapping of its fields" in str(excinfo.value)
    assert TOKEN not in str(excinfo.value) + repr(excinfo.value)


def test_a_connection_with_field_names_that_are_not_text() -> None:
    with pytest.raises(ConnectionConfigError, match="field names must be text"):
        invoke("list_tags", {}, {1: 2})  # type: ignore[dict-item]


@pytest.mark.parametrize("inputs", [[1, 2], "contact_id=1", 7])
def test_inputs_that_are_not_a_mapping(inputs: Any) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        invoke("list_tags", inputs, CONNECTION, transport=SANDBOX.transport())
    assert str(excinfo.value).startswith("List Tags: 1 input is not valid:\n  - inputs: must be a")
    assert f"not {type(inputs).__name__}" in str(excinfo.value)


# -- junk at every parameter: only ConnectorError comes out -----------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.builds(object),
    st.sampled_from(["", "us", "eu", "access_token", "oauth2", "http://127.0.0.1:1"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=2),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)
connection_fields = st.sampled_from(
    ["type", "access_token", "region", "base_url", "api_version", "client_id", "client_secret",
     "max_attempts", "max_retry_seconds", "name"]
)  # fmt: skip
connections = st.one_of(
    junk,
    st.dictionaries(connection_fields, junk, max_size=4),
    st.builds(lambda extra: {**CONNECTION, **extra}, st.dictionaries(connection_fields, junk)),
)
ACTIONS = intercom_connector.load_manifest().actions


def inputs_for(action_key: Any) -> st.SearchStrategy[Any]:
    action = ACTIONS.get(action_key) if isinstance(action_key, str) else None
    keys = [spec.key for spec in action.value_inputs] if action else []
    keys = keys or ["contact_id", "email"]
    named = st.dictionaries(st.sampled_from(keys), junk, max_size=len(keys))
    return st.one_of(junk, named, st.builds(lambda a, b: {**a, **b}, named, junk_mapping))


junk_mapping = st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), junk, max_size=2)
fast = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@fast
@given(connection=connections)
def test_any_connection_works_or_gives_a_connector_error(connection: Any) -> None:
    try:
        with Connector(connection, transport=SANDBOX.transport()) as connector:
            connector.invoke("list_tags", {})
    except ConnectorError as error:
        assert TOKEN not in str(error) + repr(error)


@fast
@given(action_key=st.one_of(st.sampled_from(ACTION_KEYS), junk), data=st.data())
def test_any_action_and_inputs_work_or_give_a_connector_error(
    action_key: Any, data: st.DataObject
) -> None:
    inputs = data.draw(inputs_for(action_key))
    try:
        invoke(action_key, inputs, CONNECTION, transport=SANDBOX.transport())
    except ConnectorError as error:
        assert TOKEN not in str(error) + repr(error)
    try:
        with Connector(CONNECTION, transport=SANDBOX.transport()) as connector:
            list(connector.stream(action_key, inputs))
    except ConnectorError:
        pass


CODE_INPUTS = [
    (action.key, spec.key)
    for action in ACTIONS.values()
    for spec in action.value_inputs
    if spec.type == "code"
]


def valid_base(action_key: str) -> dict[str, Any]:
    """Inputs that pass validation, so that the junk under test is what decides."""
    if action_key == "raw_request":
        return {"url": "/tags", "method": "POST"}
    action = ACTIONS[action_key]
    given = [spec for spec in action.value_inputs if spec.required and not spec.has_default]
    for rule in action.rules:  # one of a rule's inputs, the first with an example
        if rule.type == "at_least_one_of":
            given += [next(s for s in map(action.input, rule.inputs) if s.example)]
    return {spec.key: spec.example or "x" for spec in given}


@pytest.mark.parametrize(("action_key", "input_key"), CODE_INPUTS)
def test_a_json_input_holding_what_json_cannot_carry(action_key: str, input_key: str) -> None:
    @settings(fast, max_examples=60)
    @given(value=junk)
    def check(value: Any) -> None:
        inputs = {**valid_base(action_key), input_key: value}
        with contextlib.suppress(ConnectorError):
            invoke(action_key, inputs, CONNECTION, transport=SANDBOX.transport())

    check()
    with pytest.raises(InputValidationError) as excinfo:
        invoke(action_key, {**valid_base(action_key), input_key: {"a": b"\x00"}}, CONNECTION)
    label = ACTIONS[action_key].input(input_key).label
    assert [str(p).split(": ")[0] for p in excinfo.value.problems] == [f"{label} ({input_key})"]


def test_a_json_query_that_is_not_json_data_is_named() -> None:
    query = {"field": "tags", "operator": "IN", "value": {"a", "b"}}
    with pytest.raises(InputValidationError) as excinfo:
        invoke("search_contacts", {"json_query": query}, CONNECTION)
    assert str(excinfo.value) == (
        "Search Contacts: 1 input is not valid:\n  - JSON Query (json_query): "
        "is not JSON data (Object of type set is not JSON serializable)"
    )


def test_json_text_nested_too_deeply_is_a_bad_input() -> None:
    with pytest.raises(InputValidationError) as excinfo:
        invoke("search_contacts", {"json_query": "[" * 100_000}, CONNECTION)
    nested = "is nested too deeply (more than 64 levels of lists or objects)"
    assert str(excinfo.value).endswith(f"  - JSON Query (json_query): {nested}")
