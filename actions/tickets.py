"""Tickets and ticket types."""

from __future__ import annotations

from typing import Any

from intercom_connector.actions import present
from intercom_connector.actions.contacts import contact_reference
from intercom_connector.runtime.client import IntercomClient

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
    company_id: str | None = None,
    ticket_attributes: dict[str, Any] | None = None,
) -> Any:
    """POST /tickets with ``ticket_attributes`` (snake_case) and one contact."""
    attributes = {
        _DEFAULT_ATTRIBUTES.get(key, key): value for key, value in (ticket_attributes or {}).items()
    }
    body = present(
        ticket_type_id=ticket_type_id,
        contacts=[contact_reference(contact_id)],
        company_id=company_id,
        ticket_attributes=attributes or None,
    )
    return client.request("POST", "/tickets", json=body)


def get_ticket(client: IntercomClient, *, ticket_id: str) -> Any:
    """GET /tickets/{ticket_id}: the internal id, not the Inbox number such as #12345."""
    return client.request("GET", "/tickets/{ticket_id}", path_params={"ticket_id": ticket_id})


def list_ticket_types(client: IntercomClient) -> Any:
    """GET /ticket_types (not paginated)."""
    return client.request("GET", "/ticket_types")
