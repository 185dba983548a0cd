"""The shim: coercion, defaults, validation with every problem named, nothing sent on error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support import Recorder, body_of, query_of

from intercom_connector import Connector, invoke
from intercom_connector.runtime import paging, shim
from intercom_connector.runtime.errors import InputValidationError, ResultTooLargeError

CONTACT_ID = "6657a1b2c3d4e5f6a7b8c9d0"


def problems_of(excinfo: pytest.ExceptionInfo[InputValidationError]) -> dict[str, str]:
    return {p.key: p.problem for p in excinfo.value.problems}


def test_bad_inputs_are_all_reported_by_label_and_nothing_is_sent(
    recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke(
            "create_company",
            {
                "size": "a dozen",
                "monthly_spend": -5,
                "remote_created_at": "last tuesday",
                "custom_attributes": '{"region": 7}',
                "colour": "red",
            },
        )
    message = str(excinfo.value)
    assert message.startswith("Create Company: 5 inputs are not valid:")
    assert "Size (size): expected a whole number, got 'a dozen'" in message
    assert "Monthly Spend (monthly_spend): must be at least 0; got -5" in message
    assert "Remote Created At (remote_created_at): expected unix seconds or an ISO-8601" in message
    assert "Custom Attributes (custom_attributes): at region: expected text, got 7" in message
    assert "\n  - colour: is not an input of Create Company" in message
    assert recorder.requests == []


def test_missing_required_input_is_named(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("get_contact", {"contact_id": ""})
    assert problems_of(excinfo) == {"contact_id": "is required"}
    assert (
        str(excinfo.value)
        == "Get Contact: 1 input is not valid:\n  - Contact ID (contact_id): is required"
    )
    assert recorder.requests == []


def test_each_missing_input_is_named_once(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("attach_tag_to_contact", {})
    assert str(excinfo.value) == (
        "Attach Tag to Contact: 2 inputs are not valid:\n"
        "  - Contact ID (contact_id): is required\n"
        "  - Tag ID (tag_id): is required"
    )
    assert recorder.requests == []


def test_select_and_bounds(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("list_contacts", {"order": "sideways", "per_page": 151, "page": 0})
    assert problems_of(excinfo) == {
        "order": "must be one of desc, asc; got 'sideways'",
        "per_page": "must be at most 150; got 151",
        "page": "must be at least 1; got 0",
    }
    assert recorder.requests == []


def test_invalid_json_code_input(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("search_contacts", {"json_query": "{field: email"})
    assert problems_of(excinfo)["json_query"].startswith("is not valid JSON (")
    assert recorder.requests == []


def test_a_bad_json_query_is_not_also_a_missing_one(
    recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("search_contacts", {"json_query": "{field"})
    assert list(problems_of(excinfo)) == ["json_query"]
    assert "give at least one of" not in str(excinfo.value)
    assert recorder.requests == []


def test_at_least_one_of(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError, match="give at least one of Role, External ID, Email"):
        connector.invoke("create_contact", {"name": "Nobody"})
    assert recorder.requests == []


def test_mutually_exclusive(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError, match="give only one of Page, Starting After"):
        connector.invoke("list_contacts", {"page": 2, "starting_after": "abc"})
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("given", "sent"),
    [("true", True), ("FALSE", False), ("1", True), ("no", False), (True, True)],
)
def test_boolean_coercion(
    given: object, sent: bool, recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/contacts", {"type": "contact", "id": CONTACT_ID})
    connector.invoke(
        "create_contact", {"email": "a@example.com", "unsubscribed_from_emails": given}
    )
    assert body_of(recorder.last)["unsubscribed_from_emails"] is sent


def test_defaults_fill_absent_and_empty_inputs(recorder: Recorder, connector: Connector) -> None:
    recorder.on("POST", "/companies/list", {"type": "list", "data": [], "pages": {}})
    connector.invoke("list_companies", {"order": "", "fetch_all": None})
    assert query_of(recorder.last) == {"page": ["1"], "per_page": ["15"], "order": ["desc"]}


def test_unknown_action_names_the_known_ones() -> None:
    with pytest.raises(
        InputValidationError, match="'get_contcat' is not an action; the actions are: "
    ):
        invoke("get_contcat", {}, {"type": "access_token", "access_token": "x"})


def test_inputs_may_come_typed_from_an_earlier_step(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/tags", {"type": "tag", "id": "7", "name": "7"})
    connector.invoke("update_tag", {"tag_id": 7, "name": 7})
    assert body_of(recorder.last) == {"id": "7", "name": "7"}


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "yesterday", [1]])
def test_timestamps_that_are_not_times(
    value: object, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError, match=r"Signed Up At \(signed_up_at\): expected"):
        connector.invoke("create_contact", {"email": "a@example.com", "signed_up_at": value})
    assert recorder.requests == []


def test_max_records_caps_a_fetch_all_without_reading_on(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three pages of two contacts: a cap of 6 takes them all; 3 stops at the second page."""
    # A round trip slowed by a loaded machine would start the read-ahead (one page on its
    # way beyond the cap): this is about the cap alone
    monkeypatch.setattr(paging, "READ_AHEAD_AFTER", float("inf"))

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("starting_after") or 0)
        pages: dict[str, object] = {"type": "pages", "per_page": 2}
        if number < 2:
            pages["next"] = {"per_page": 2, "starting_after": str(number + 1)}
        data = [{"type": "contact", "id": f"c{number}-{i}"} for i in range(2)]
        return httpx.Response(200, json={"type": "list", "data": data, "pages": pages})

    recorder.respond("GET", "/contacts", page)
    whole = connector.invoke("list_contacts", {"fetch_all": True}, max_records=6)
    assert whole["data"]["total_count"] == 6
    assert len(recorder.requests) == 3
    with pytest.raises(ResultTooLargeError) as excinfo:
        connector.invoke("list_contacts", {"fetch_all": True}, max_records=3)
    assert excinfo.value.exit_code == 2
    assert str(excinfo.value) == (  # the action and the input as the manifest names them
        "List Contacts: Fetch All gives more than 3 records: page through them instead"
    )
    assert len(recorder.requests) == 3 + 2


def test_threads_calling_a_new_connector_at_once_share_one_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One connection pool and one rate-limit window for every thread (an MCP server's
    calls), also when the first calls come together: the client is built once."""
    built: list[object] = []

    class SlowToBuild(shim.IntercomClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)  # the window in which another thread could build its own
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(shim, "IntercomClient", SlowToBuild)
    together = threading.Barrier(8)

    def client() -> object:
        together.wait(timeout=30)
        return connector.client

    with (
        Connector({"type": "access_token", "access_token": "t"}) as connector,
        ThreadPoolExecutor(8) as pool,
    ):
        clients = list(pool.map(lambda _: client(), range(8)))
    assert len(built) == 1 and all(c is built[0] for c in clients)
