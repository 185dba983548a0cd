"""Contacts: create, read, update, delete, archive, list, search; their companies and tags."""

from __future__ import annotations

import re
from typing import Any

from intercom_connector.actions import DEFAULT_PER_PAGE, present
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.listing import every_page, nth_page

CONTACT = "/contacts/{contact_id}"


def create_contact(
    client: IntercomClient,
    *,
    role: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    avatar: str | None = None,
    signed_up_at: int | None = None,
    last_seen_at: int | None = None,
    unsubscribed_from_emails: bool | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Any:
    """POST /contacts. Not retried once sent: a second create could duplicate the contact."""
    body = present(
        role=role,
        external_id=external_id,
        email=email,
        phone=phone,
        name=name,
        avatar=avatar,
        signed_up_at=signed_up_at,
        last_seen_at=last_seen_at,
        unsubscribed_from_emails=unsubscribed_from_emails,
        custom_attributes=custom_attributes,
    )
    return client.request("POST", "/contacts", json=body)


def get_contact(client: IntercomClient, *, contact_id: str) -> Any:
    """GET /contacts/{contact_id}."""
    return client.request("GET", CONTACT, path_params={"contact_id": contact_id})


def update_contact(
    client: IntercomClient,
    *,
    contact_id: str,
    role: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    avatar: str | None = None,
    signed_up_at: int | None = None,
    last_seen_at: int | None = None,
    unsubscribed_from_emails: bool | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Any:
    """PUT /contacts/{contact_id} with only the fields given."""
    body = present(
        role=role,
        external_id=external_id,
        email=email,
        phone=phone,
        name=name,
        avatar=avatar,
        signed_up_at=signed_up_at,
        last_seen_at=last_seen_at,
        unsubscribed_from_emails=unsubscribed_from_emails,
        custom_attributes=custom_attributes,
    )
    return client.request("PUT", CONTACT, path_params={"contact_id": contact_id}, json=body)


def delete_contact(client: IntercomClient, *, contact_id: str) -> Any:
    """DELETE /contacts/{contact_id}."""
    return client.request("DELETE", CONTACT, path_params={"contact_id": contact_id})


def archive_contact(client: IntercomClient, *, contact_id: str) -> Any:
    """POST /contacts/{contact_id}/archive (archiving twice is harmless, so retryable)."""
    path = CONTACT + "/archive"
    return client.request("POST", path, path_params={"contact_id": contact_id}, idempotent=True)


def unarchive_contact(client: IntercomClient, *, contact_id: str) -> Any:
    """POST /contacts/{contact_id}/unarchive."""
    path = CONTACT + "/unarchive"
    return client.request("POST", path, path_params={"contact_id": contact_id}, idempotent=True)


def attach_company_to_contact(client: IntercomClient, *, contact_id: str, company_id: str) -> Any:
    """POST /contacts/{contact_id}/companies with the company's Intercom id."""
    return client.request(
        "POST",
        CONTACT + "/companies",
        path_params={"contact_id": contact_id},
        json={"id": company_id},
        idempotent=True,
    )


def detach_company_from_contact(client: IntercomClient, *, contact_id: str, company_id: str) -> Any:
    """DELETE /contacts/{contact_id}/companies/{company_id}."""
    return client.request(
        "DELETE",
        CONTACT + "/companies/{company_id}",
        path_params={"contact_id": contact_id, "company_id": company_id},
    )


def attach_tag_to_contact(client: IntercomClient, *, contact_id: str, tag_id: str) -> Any:
    """POST /contacts/{contact_id}/tags."""
    return client.request(
        "POST",
        CONTACT + "/tags",
        path_params={"contact_id": contact_id},
        json={"id": tag_id},
        idempotent=True,
    )


def detach_tag_from_contact(client: IntercomClient, *, contact_id: str, tag_id: str) -> Any:
    """DELETE /contacts/{contact_id}/tags/{tag_id}."""
    return client.request(
        "DELETE",
        CONTACT + "/tags/{tag_id}",
        path_params={"contact_id": contact_id, "tag_id": tag_id},
    )


# GET /contacts has no order; ascending order is the search endpoint sorted by creation,
# over a query every contact matches (created after 1970-01-01).
_EVERY_CONTACT = {"field": "created_at", "operator": ">", "value": 0}


def list_contacts(
    client: IntercomClient,
    *,
    fetch_all: bool = False,
    page: int | None = None,
    per_page: int | None = None,
    order: str = "desc",
    starting_after: str | None = None,
) -> Any:
    """GET /contacts, following ``starting_after`` cursors (Page N walks N-1 cursors)."""
    size = per_page or DEFAULT_PER_PAGE
    if order == "asc":
        pagination = present(per_page=size, starting_after=starting_after)
        body = {
            "query": _EVERY_CONTACT,
            "pagination": pagination,
            "sort": {"field": "created_at", "order": "ascending"},
        }
        pages = client.paginate_search("/contacts/search", body=body)
    else:
        pages = client.paginate_cursor(
            "/contacts",
            params={"per_page": size},
            starting_after=starting_after,
            read_ahead=fetch_all,
        )
    return every_page(pages) if fetch_all else nth_page(pages, page or 1)


_CONTACT_ID = re.compile(r"^[0-9a-f]{24}$")


def _filters(role: str | None, name: str | None, email: str | None) -> dict[str, Any]:
    fields = present(role=role, name=name, email=email)
    filters = [{"field": key, "operator": "=", "value": value} for key, value in fields.items()]
    return filters[0] if len(filters) == 1 else {"operator": "AND", "value": filters}


def search_contacts(
    client: IntercomClient,
    *,
    role: str | None = None,
    name: str | None = None,
    email: str | None = None,
    json_query: dict[str, Any] | None = None,
    starting_after: str | None = None,
    per_page: int | None = None,
    fetch_all: bool = False,
) -> Any:
    """POST /contacts/search with the cursor in the body.

    JSON Query, when given, replaces the query built from Role/Name/Email (AND); it
    may also be a whole search body with ``query`` and ``sort``.
    """
    if json_query is not None and "query" in json_query:
        body = dict(json_query)
    else:
        body = {"query": json_query if json_query is not None else _filters(role, name, email)}
    pagination = dict(body.get("pagination") or {})
    pagination["per_page"] = per_page or pagination.get("per_page") or DEFAULT_PER_PAGE
    if starting_after:
        pagination["starting_after"] = starting_after
    body["pagination"] = pagination
    pages = client.paginate_search("/contacts/search", body=body)
    return every_page(pages) if fetch_all else next(pages)


def contact_reference(value: str) -> dict[str, str]:
    """Intercom's way to name one contact: by email, by Intercom id, or by external id."""
    if "@" in value:
        return {"email": value}
    if _CONTACT_ID.match(value):
        return {"id": value}
    return {"external_id": value}
