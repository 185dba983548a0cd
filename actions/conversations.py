"""Conversations: search, starting one, replies, and the state changes of ``/parts``.

Intercom changes a conversation's state (close, open, snooze, assign) through one
endpoint, ``POST /conversations/{id}/parts``, with a ``message_type`` and the acting
admin; each change is recorded as a part of the conversation. The rest are requests
declared in connector.yaml.
"""

from __future__ import annotations

from typing import Any

from intercom_connector.actions.contacts import contact_reference
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given
from intercom_connector.runtime.search_query import search_body

#: how a contact reply names its author, by the way contact_reference names a contact
_REPLY_AUTHOR = {"id": "intercom_user_id", "email": "email", "external_id": "user_id"}


def reply_author(
    reply_as: str, message_type: str, admin_id: str | None, contact_id: str | None
) -> dict[str, Any]:
    """Who replies, as a conversation or ticket reply names them (the manifest's rules
    give an admin reply its Admin ID, a contact's its Contact ID and a comment)."""
    if reply_as == "admin":
        return {"message_type": message_type, "type": "admin", "admin_id": admin_id}
    assert contact_id is not None
    author = {_REPLY_AUTHOR[kind]: value for kind, value in contact_reference(contact_id).items()}
    return {"message_type": "comment", "type": "user", **author}


def search_conversations(client: IntercomClient, *, json_query: dict[str, Any]) -> Request:
    """POST /conversations/search; the runtime puts the cursor and page size in the body."""
    return Request("POST", "/conversations/search", body=search_body(json_query), idempotent=True)


def create_conversation(
    client: IntercomClient,
    *,
    contact_id: str,
    role: str,
    body: str,
    attachment_urls: list[str] | None,
) -> Request:
    """POST /conversations: a message from the contact."""
    sender = {"type": role, "id": contact_id}
    message = {"from": sender, **given(body=body, attachment_urls=attachment_urls)}
    return Request("POST", "/conversations", body=message)


def reply_to_conversation(
    client: IntercomClient,
    *,
    conversation_id: str,
    reply_as: str,
    message_type: str,
    body: str,
    admin_id: str | None,
    contact_id: str | None,
    attachment_urls: list[str] | None,
) -> Request:
    """POST /conversations/{id}/reply; ``last`` (a contact's latest) only for a contact."""
    reply = reply_author(reply_as, message_type, admin_id, contact_id)
    reply.update(given(body=body, attachment_urls=attachment_urls))
    return Request(
        "POST",
        "/conversations/{conversation_id}/reply",
        path_params={"conversation_id": conversation_id},
        body=reply,
    )


def _part(conversation_id: str, part: dict[str, Any]) -> Request:
    """A state change: POST /conversations/{id}/parts. Repeating one without a message
    ends in the same state, so only a change that leaves a message is not retried."""
    return Request(
        "POST",
        "/conversations/{conversation_id}/parts",
        path_params={"conversation_id": conversation_id},
        body=part,
        idempotent="body" not in part,
    )


def assign_conversation(
    client: IntercomClient,
    *,
    conversation_id: str,
    admin_id: str,
    assignee_id: str | None,
    team_id: str | None,
    unassign: bool,
    body: str | None,
) -> Request:
    """Assign to an admin or a team (assignee 0 is nobody)."""
    # The manifest's rules leave exactly one of the three.
    kind, assignee = ("team", team_id) if team_id else ("admin", "0" if unassign else assignee_id)
    part = {"message_type": "assignment", "type": kind, "admin_id": admin_id}
    return _part(conversation_id, {**part, "assignee_id": assignee, **given(body=body)})


def close_conversation(
    client: IntercomClient, *, conversation_id: str, admin_id: str, body: str | None
) -> Request:
    """Close, with an optional last message."""
    part = {"message_type": "close", "type": "admin", "admin_id": admin_id}
    return _part(conversation_id, {**part, **given(body=body)})


def open_conversation(client: IntercomClient, *, conversation_id: str, admin_id: str) -> Request:
    """Open a closed or snoozed conversation."""
    return _part(conversation_id, {"message_type": "open", "admin_id": admin_id})


def snooze_conversation(
    client: IntercomClient, *, conversation_id: str, admin_id: str, snoozed_until: int
) -> Request:
    """Snooze until a time, when Intercom opens it again."""
    part = {"message_type": "snoozed", "admin_id": admin_id, "snoozed_until": snoozed_until}
    return _part(conversation_id, part)
