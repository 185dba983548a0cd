"""Tickets: creating one (the rest are requests declared in connector.yaml)."""

from __future__ import annotations

from typing import Any

from intercom_connector.actions.contacts import contact_reference
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given

#: the seed's names for the default attributes -> Intercom's keys
_DEFAULT_ATTRIBUTES = {
    "default_title": "_default_title_",
    "default_description": "_default_description_",
}


def create_ticket(
    client: IntercomClient,
    *,
    ticket_type_id: str,
    contact_id: str,
    company_id: str | None,
    ticket_attributes: dict[str, Any] | None,
) -> Request:
    """POST /tickets with ``ticket_attributes`` (snake_case) and one contact."""
    attributes = {
        _DEFAULT_ATTRIBUTES.get(key, key): value for key, value in (ticket_attributes or {}).items()
    }
    body = given(
        ticket_type_id=ticket_type_id,
        contacts=[contact_reference(contact_id)],
        company_id=company_id,
        ticket_attributes=attributes or None,
    )
    return Request("POST", "/tickets", body=body)
