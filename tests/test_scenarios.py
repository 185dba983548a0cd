"""Every action of the manifest, run on the sandbox's demo workspace with the inputs
tests/scenarios.py derives for it: it succeeds, its output fits its output schema, and
(with the official spec at hand) each request and answer on the way conforms to it.

The cases come from the manifest: an action added to connector.yaml is run here with no
list to extend; only an action whose inputs cannot be derived needs a scenario entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from scenarios import ID_SOURCES, SCENARIOS, Workspace, inputs_for, scenario
from support import HttpxOpenAPIRequest, HttpxOpenAPIResponse, RecordingTransport

from intercom_connector import Connector
from intercom_connector.runtime.manifest import ActionSpec, load_manifest
from intercom_connector.sandbox import Sandbox

MANIFEST = load_manifest()
ACTIONS = list(MANIFEST.actions.values())


def by_key(action: ActionSpec) -> str:
    return action.key


@pytest.fixture
def recording() -> Iterator[tuple[Connector, RecordingTransport]]:
    """A connector on a fresh demo workspace, keeping every exchange."""
    sandbox = Sandbox(":memory:")
    transport = RecordingTransport(sandbox.transport())
    connection = {"type": "access_token", "access_token": sandbox.token}
    with Connector({**connection, "base_url": sandbox.base_url}, transport=transport) as c:
        yield c, transport


@pytest.mark.parametrize("action", ACTIONS, ids=by_key)
def test_every_action_runs_on_the_demo_workspace(
    action: ActionSpec, recording: tuple[Connector, RecordingTransport]
) -> None:
    connector, transport = recording
    inputs = inputs_for(action, Workspace(connector))
    transport.exchanges.clear()  # what the action itself sends, not the look-ups before it

    result = connector.invoke(action.key, inputs)

    assert transport.exchanges, "it sent nothing"
    jsonschema.validate(result["data"], MANIFEST.output_schema(action.output))


@pytest.mark.spec
@pytest.mark.parametrize("action", ACTIONS, ids=by_key)
def test_every_action_speaks_intercom_as_the_official_spec_says(
    action: ActionSpec,
    recording: tuple[Connector, RecordingTransport],
    openapi: Any,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    connector, transport = recording
    inputs = inputs_for(action, Workspace(connector))
    transport.exchanges.clear()
    connector.invoke(action.key, inputs)
    for request, response in transport.exchanges:
        if action.key != "raw_request":  # its request is the caller's
            assert_conforms(request)
        errors = list(
            openapi.iter_response_errors(
                HttpxOpenAPIRequest(request), HttpxOpenAPIResponse(response)
            )
        )
        assert not errors, f"{request.method} {request.url}: {[str(e) for e in errors]}"


def test_scenarios_name_actions_and_inputs_of_the_manifest() -> None:
    for key, inputs in SCENARIOS.items():
        action = MANIFEST.action(key)
        unknown = set(inputs) - {spec.key for spec in action.value_inputs}
        assert not unknown, f"SCENARIOS[{key!r}] names inputs it does not have: {unknown}"
        assert scenario(action) == inputs
    for input_key, (action_key, inputs) in ID_SOURCES.items():
        action = MANIFEST.action(action_key)
        assert set(inputs) <= {spec.key for spec in action.value_inputs}, input_key


def test_an_action_with_nothing_to_derive_from_says_where_its_scenario_goes() -> None:
    action = MANIFEST.action("create_tag")
    nameless = dataclasses.replace(action.input("name"), type="number", example=None)
    strange = dataclasses.replace(action, key="strange", inputs=(nameless,))
    with pytest.raises(AssertionError, match=r"give its action an entry in tests/scenarios\.py"):
        scenario(strange)
