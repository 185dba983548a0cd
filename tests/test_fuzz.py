"""Fuzzed inputs for every action: a clear InputValidationError or a proper request, never a
crash, and never a request built from invalid input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intercom_connector import Connector
from intercom_connector.runtime.errors import ConnectorError, InputValidationError
from intercom_connector.runtime.manifest import ActionSpec, load_manifest
from intercom_connector.runtime.shim import validate_inputs

ACTIONS = list(load_manifest().actions.values())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "../admins",
            "a/b?c#d",
            "..",
            "%2F",
            "true",
            "15",
            "1e3",
            "2024-01-01T00:00:00Z",
            "{}",
            "[]",
            '{"a": [1, {"b": null}]}',
            "ü\u0000\U0001f600",
            "x" * 20_000,
        ]
    ),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def inputs_for(action: ActionSpec) -> st.SearchStrategy[dict[str, Any]]:
    keys = [spec.key for spec in action.value_inputs]
    known = (
        st.dictionaries(st.sampled_from(keys), junk, max_size=len(keys)) if keys else st.just({})
    )
    unknown = st.dictionaries(st.text(min_size=1, max_size=10), junk, max_size=1)
    return st.one_of(known, st.builds(lambda a, b: {**a, **b}, known, unknown))


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"type": "list", "data": [], "pages": {}})


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.key)
def test_fuzzed_inputs(action: ActionSpec) -> None:
    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(inputs=inputs_for(action))
    def check(inputs: dict[str, Any]) -> None:
        sent: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return answer(request)

        connection = {"type": "access_token", "access_token": "fuzz"}
        with Connector(connection, transport=httpx.MockTransport(record)) as connector:
            try:
                connector.invoke(action.key, inputs)
            except InputValidationError as error:
                assert str(error).startswith(action.label) or "Raw Request" in str(error)
                if action.key != "raw_request":  # its cross-input checks run in its handler
                    assert sent == []
                return
            except ConnectorError:
                pass
        # a request went out: its inputs must have been valid ...
        validate_inputs(action, inputs)
        # ... and no ID escaped its path segment
        for request in sent:
            segments = request.url.raw_path.decode().split("?")[0].split("/")
            assert ".." not in segments and "." not in segments
            assert request.url.host == "api.intercom.io"

    check()
