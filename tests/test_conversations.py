"""Conversations and tickets through the shim: the requests Intercom's rules call for, and
the inputs refused before anything is sent (tests/test_actions.py has one case per action;
these are the variants and the refusals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from support import Recorder, body_of

from intercom_connector import Connector
from intercom_connector.runtime.errors import InputValidationError, ServerError

CONVERSATION_ID = "215469875645312"
ADMIN_ID = "991267593"
CONTACT_ID = "6657a1b2c3d4e5f6a7b8c9d0"
CONVERSATION = {"type": "conversation", "id": CONVERSATION_ID}
TICKET = {"type": "ticket", "id": "494"}


def refused(connector: Connector, recorder: Recorder, action: str, inputs: dict[str, Any]) -> str:
    """The message of an InputValidationError, after asserting nothing was sent."""
    with pytest.raises(InputValidationError) as caught:
        connector.invoke(action, inputs)
    assert recorder.requests == []
    return str(caught.value)


# -- replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "author"),
    [
        (CONTACT_ID, {"intercom_user_id": CONTACT_ID}),
        ("ada@example.com", {"email": "ada@example.com"}),
        ("crm-42", {"user_id": "crm-42"}),
    ],
)
def test_a_contact_replies_to_their_last_conversation(
    contact: str,
    author: dict[str, str],
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    recorder.on("POST", "/conversations/last/reply", CONVERSATION)
    inputs = {"conversation_id": "last", "reply_as": "contact", "contact_id": contact}
    connector.invoke("reply_to_conversation", {**inputs, "body": "Thanks!"})
    sent = body_of(recorder.last)
    assert sent == {"message_type": "comment", "type": "user", **author, "body": "Thanks!"}
    assert_conforms(recorder.last)


def test_an_admin_cannot_reply_to_last(recorder: Recorder, connector: Connector) -> None:
    inputs = {"conversation_id": "last", "admin_id": ADMIN_ID, "body": "Hi"}
    message = refused(connector, recorder, "reply_to_conversation", inputs)
    assert "Reply As (reply_as): must be contact when Conversation ID is last" in (message)


@pytest.mark.parametrize("action", ["reply_to_conversation", "reply_to_ticket"])
@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            {},
            "Admin ID (admin_id): is required when Reply As is admin: Intercom records who replied",
        ),
        (
            {"reply_as": "contact"},
            "Contact ID (contact_id): is required when Reply As is contact",
        ),
        (
            {"reply_as": "contact", "contact_id": CONTACT_ID, "message_type": "note"},
            "Message Type (message_type): must be comment when Reply As is contact: notes are for "
            "teammates",
        ),
        (
            {"admin_id": ADMIN_ID, "contact_id": CONTACT_ID},
            "give only one of Admin ID, Contact ID",
        ),
    ],
)
def test_a_reply_names_who_replies(
    action: str,
    inputs: dict[str, Any],
    expected: str,
    recorder: Recorder,
    connector: Connector,
) -> None:
    target = {"conversation_id": CONVERSATION_ID} if "conversation" in action else {}
    target = target or {"ticket_id": "494"}
    message = refused(connector, recorder, action, {**target, **inputs, "body": "Hello"})
    assert expected in message


def test_a_contact_replies_to_a_ticket_by_email(
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    recorder.on("POST", "/tickets/494/reply", {"type": "ticket_part", "id": "7"})
    inputs = {"ticket_id": "494", "reply_as": "contact", "contact_id": "ada@example.com"}
    connector.invoke("reply_to_ticket", {**inputs, "body": "Still broken"})
    sent = body_of(recorder.last)
    assert sent == {
        "message_type": "comment",
        "type": "user",
        "email": "ada@example.com",
        "body": "Still broken",
    }
    assert_conforms(recorder.last)


# -- state changes through /parts --------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "part"),
    [
        ({"assignee_id": "991267594"}, {"type": "admin", "assignee_id": "991267594"}),
        ({"team_id": "814"}, {"type": "team", "assignee_id": "814"}),
        ({"unassign": "true"}, {"type": "admin", "assignee_id": "0"}),
    ],
)
def test_assign_to_an_admin_a_team_or_nobody(
    inputs: dict[str, Any],
    part: dict[str, str],
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    recorder.on("POST", f"/conversations/{CONVERSATION_ID}/parts", CONVERSATION)
    base = {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID}
    connector.invoke("assign_conversation", {**base, **inputs})
    assert body_of(recorder.last) == {"message_type": "assignment", "admin_id": ADMIN_ID, **part}
    assert_conforms(recorder.last)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({}, "give at least one of Assignee ID, Team ID, Unassign"),
        ({"assignee_id": "991267594", "team_id": "814"}, "give only one of Assignee ID, Team ID"),
    ],
)
def test_assign_takes_exactly_one_assignee(
    inputs: dict[str, Any], expected: str, recorder: Recorder, connector: Connector
) -> None:
    base = {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID}
    assert expected in refused(connector, recorder, "assign_conversation", {**base, **inputs})


@pytest.mark.parametrize(
    "action", ["assign_conversation", "close_conversation", "open_conversation"]
)
def test_every_state_change_needs_the_acting_admin(
    action: str, recorder: Recorder, connector: Connector
) -> None:
    inputs = {"conversation_id": CONVERSATION_ID, "unassign": True}
    if action != "assign_conversation":
        inputs.pop("unassign")
    assert "Admin ID (admin_id): is required" in refused(connector, recorder, action, inputs)


def test_snoozing_needs_a_time(recorder: Recorder, connector: Connector) -> None:
    inputs = {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID}
    message = refused(connector, recorder, "snooze_conversation", inputs)
    assert "Snoozed Until (snoozed_until): is required" in message


def test_a_conversation_id_is_a_number(recorder: Recorder, connector: Connector) -> None:
    message = refused(connector, recorder, "get_conversation", {"conversation_id": "../admins"})
    assert "Conversation ID (conversation_id): must be a conversation's id, a number" in message


def test_a_conversation_is_started_by_a_contact_id(
    recorder: Recorder, connector: Connector
) -> None:
    inputs = {"contact_id": "ada@example.com", "body": "Hello"}
    message = refused(connector, recorder, "create_conversation", inputs)
    assert "Contact ID (contact_id): must be the contact's Intercom id (24 characters)" in message


def test_a_state_change_without_a_message_is_retried(
    recorder: Recorder, connector: Connector
) -> None:
    answers = iter([503, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json=CONVERSATION)

    recorder.respond("POST", f"/conversations/{CONVERSATION_ID}/parts", flaky)
    inputs = {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID}
    assert connector.invoke("close_conversation", inputs) == {"data": CONVERSATION}
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("action", "path", "inputs"),
    [
        ("close_conversation", f"/conversations/{CONVERSATION_ID}/parts", {"body": "Bye"}),
        ("reply_to_conversation", f"/conversations/{CONVERSATION_ID}/reply", {"body": "Hi"}),
    ],
)
def test_a_message_is_never_sent_twice(
    action: str, path: str, inputs: dict[str, Any], recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", path, {"type": "error.list", "errors": []}, status=503)
    base = {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID}
    with pytest.raises(ServerError, match="its outcome is unknown"):
        connector.invoke(action, {**base, **inputs})
    assert len(recorder.requests) == 1


# -- search -------------------------------------------------------------------------------


def group(operator: str, *items: Any) -> dict[str, Any]:
    return {"operator": operator, "value": list(items)}


OPEN = {"field": "open", "operator": "=", "value": True}


@pytest.mark.parametrize("action", ["search_contacts", "search_conversations", "search_tickets"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            group("AND", group("OR", group("AND", OPEN))),
            "at query.value[0].value[0]: groups nest 3 levels deep; Intercom allows at most 2",
        ),
        (
            group("OR", *[OPEN] * 16),
            "at query: an OR group holds 16 filters; Intercom allows at most 15 a group",
        ),
        (group("AND", OPEN, ["open"]), "at query.value[1]: expected a filter or a group"),
        ({"value": True}, "at query: a filter needs a field and an operator"),
    ],
)
def test_a_search_beyond_intercoms_limits_is_refused(
    action: str, query: dict[str, Any], expected: str, recorder: Recorder, connector: Connector
) -> None:
    message = refused(connector, recorder, action, {"json_query": query})
    assert f"JSON Query (json_query): {expected}" in message


@pytest.mark.parametrize(
    ("action", "path", "records"),
    [
        ("search_conversations", "/conversations/search", "conversations"),
        ("search_tickets", "/tickets/search", "tickets"),
    ],
)
def test_a_search_at_intercoms_limits_is_sent_and_pages_by_body(
    action: str,
    path: str,
    records: str,
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    query = group("AND", group("OR", *[OPEN] * 15), group("OR", *[OPEN] * 15))
    pages = iter(
        [
            {"type": "x.list", records: [{"id": "1"}], "pages": {"next": {"starting_after": "c1"}}},
            {"type": "x.list", records: [{"id": "2"}], "pages": {}},
        ]
    )
    recorder.respond("POST", path, lambda request: httpx.Response(200, json=next(pages)))

    result = connector.invoke(action, {"json_query": query, "fetch_all": True, "per_page": 150})

    assert [record["id"] for record in result["data"][records]] == ["1", "2"]
    first, second = (body_of(request) for request in recorder.requests)
    # given no sort, Fetch All asks for one (docs/actions.md)
    sort = {"field": "created_at", "order": "ascending"}
    assert first == {"query": query, "pagination": {"per_page": 150}, "sort": sort}
    assert second["pagination"] == {"per_page": 150, "starting_after": "c1"}
    for request in recorder.requests:
        assert_conforms(request)


# -- tickets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "assignee"),
    [({"team_id": "814"}, "814"), ({"unassign": True}, "0")],
)
def test_a_ticket_is_assigned_to_a_team_or_nobody(
    inputs: dict[str, Any],
    assignee: str,
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    recorder.on("PUT", "/tickets/494", TICKET)
    connector.invoke("update_ticket", {"ticket_id": "494", "admin_id": ADMIN_ID, **inputs})
    assert body_of(recorder.last) == {"assignee_id": assignee, "admin_id": int(ADMIN_ID)}
    assert_conforms(recorder.last)


def test_assigning_a_ticket_needs_the_acting_admin(
    recorder: Recorder, connector: Connector
) -> None:
    inputs = {"ticket_id": "494", "assignee_id": "991267594"}
    message = refused(connector, recorder, "update_ticket", inputs)
    assert "Admin ID (admin_id): is required when Assignee ID is given" in message


def test_closing_a_ticket_sends_open_false(recorder: Recorder, connector: Connector) -> None:
    recorder.on("PUT", "/tickets/494", TICKET)
    connector.invoke("update_ticket", {"ticket_id": "494", "open": "false"})
    assert body_of(recorder.last) == {"open": False}
