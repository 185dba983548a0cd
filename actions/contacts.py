"""Contacts: listing in ascending order, search, the contact dropdown, contact references."""

from __future__ import annotations

import re
from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given
from intercom_connector.runtime.search_query import equal_to, search_body

# GET /contacts has no order; ascending order is the search endpoint sorted by creation,
# over a query every contact matches (created after 1970-01-01).
_EVERY_CONTACT = {"field": "created_at", "operator": ">", "value": 0}


def list_contacts(client: IntercomClient, *, order: str) -> Request:
    """GET /contacts by cursor (Page N walks N-1 cursors); ascending order is a search."""
    if order == "asc":
        sort = {"field": "created_at", "order": "ascending"}
        body = {"query": _EVERY_CONTACT, "sort": sort}
        return Request("POST", "/contacts/search", body=body, idempotent=True, paging="search")
    return Request("GET", "/contacts")


def search_contacts(
    client: IntercomClient,
    *,
    role: str | None,
    name: str | None,
    email: str | None,
    json_query: dict[str, Any] | None,
) -> Request:
    """POST /contacts/search; the runtime puts the cursor and page size in the body.

    JSON Query, when given, replaces the query built from Role/Name/Email (AND); it
    may also be a whole search body with ``query`` and ``sort``.
    """
    if json_query is not None:
        body = search_body(json_query)
    else:
        body = {"query": equal_to(given(role=role, name=name, email=email))}
    return Request("POST", "/contacts/search", body=body, idempotent=True)


def select_contact(client: IntercomClient, *, query: str | None) -> Request:
    """Contacts whose name or email contains ``query``; without one, the latest updated."""
    if not query:
        body: dict[str, Any] = {"query": _EVERY_CONTACT}
        body["sort"] = {"field": "updated_at", "order": "descending"}
    else:
        matches = [{"field": key, "operator": "~", "value": query} for key in ("name", "email")]
        body = {"query": {"operator": "OR", "value": matches}}
    return Request("POST", "/contacts/search", body=body, idempotent=True)


_CONTACT_ID = re.compile(r"^[0-9a-f]{24}$")


def contact_reference(value: str) -> dict[str, str]:
    """Intercom's way to name one contact: by email, by Intercom id, or by external id."""
    if "@" in value:
        return {"email": value}
    if _CONTACT_ID.match(value):
        return {"id": value}
    return {"external_id": value}
