"""Tickets: creating, converting, updating, searching and replying (the rest are requests
declared in connector.yaml)."""

from __future__ import annotations

from typing import Any

from intercom_connector.actions.contacts import contact_reference
from intercom_connector.actions.conversations import reply_author
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given
from intercom_connector.runtime.search_query import search_body

#: the seed's names for the default attributes -> Intercom's keys
_DEFAULT_ATTRIBUTES = {
    "default_title": "_default_title_",
    "default_description": "_default_description_",
}


def _attributes(ticket_attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    """Ticket Attributes with the default title and description under Intercom's keys."""
    attributes = {
        _DEFAULT_ATTRIBUTES.get(key, key): value for key, value in (ticket_attributes or {}).items()
    }
    return attributes or None


def create_ticket(
    client: IntercomClient,
    *,
    ticket_type_id: str,
    contact_id: str,
    company_id: str | None,
    ticket_attributes: dict[str, Any] | None,
) -> Request:
    """POST /tickets with ``ticket_attributes`` (snake_case) and one contact."""
    body = given(
        ticket_type_id=ticket_type_id,
        contacts=[contact_reference(contact_id)],
        company_id=company_id,
        ticket_attributes=_attributes(ticket_attributes),
    )
    return Request("POST", "/tickets", body=body)


def convert_conversation_to_ticket(
    client: IntercomClient,
    *,
    conversation_id: str,
    ticket_type_id: str,
    ticket_state_id: str | None,
    ticket_attributes: dict[str, Any] | None,
) -> Request:
    """POST /conversations/{id}/convert (Intercom calls the attributes ``attributes``)."""
    body = given(
        ticket_type_id=ticket_type_id,
        ticket_state_id=ticket_state_id,
        attributes=_attributes(ticket_attributes),
    )
    return Request(
        "POST",
        "/conversations/{conversation_id}/convert",
        path_params={"conversation_id": conversation_id},
        body=body,
    )


def update_ticket(
    client: IntercomClient,
    *,
    ticket_id: str,
    ticket_attributes: dict[str, Any] | None,
    ticket_state_id: str | None,
    open: bool | None,
    is_shared: bool | None,
    snoozed_until: int | None,
    assignee_id: str | None,
    team_id: str | None,
    unassign: bool,
    admin_id: str | None,
) -> Request:
    """PUT /tickets/{id}: only what was given; an admin or a team is one assignee."""
    assignee = assignee_id or team_id or ("0" if unassign else None)
    body = given(
        ticket_attributes=_attributes(ticket_attributes),
        ticket_state_id=ticket_state_id,
        open=open,
        is_shared=is_shared,
        snoozed_until=snoozed_until,
        assignee_id=assignee,
        # the one admin id Intercom's description types as a number
        admin_id=int(admin_id) if admin_id is not None else None,
    )
    return Request("PUT", "/tickets/{ticket_id}", path_params={"ticket_id": ticket_id}, body=body)


def search_tickets(client: IntercomClient, *, json_query: dict[str, Any]) -> Request:
    """POST /tickets/search; the runtime puts the cursor and page size in the body."""
    return Request("POST", "/tickets/search", body=search_body(json_query), idempotent=True)


def reply_to_ticket(
    client: IntercomClient,
    *,
    ticket_id: str,
    reply_as: str,
    message_type: str,
    body: str,
    admin_id: str | None,
    contact_id: str | None,
    attachment_urls: list[str] | None,
) -> Request:
    """POST /tickets/{id}/reply; Intercom answers with the part the reply added."""
    reply = reply_author(reply_as, message_type, admin_id, contact_id)
    reply.update(given(body=body, attachment_urls=attachment_urls))
    return Request(
        "POST", "/tickets/{ticket_id}/reply", path_params={"ticket_id": ticket_id}, body=reply
    )
