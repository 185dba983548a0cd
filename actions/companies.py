"""Companies: create-or-update, read, update, delete, list (page numbers, scroll past 10,000)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from intercom_connector.actions import DEFAULT_PER_PAGE, present
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import InputProblem, InputValidationError
from intercom_connector.runtime.listing import every_page

COMPANY = "/companies/{company_id}"
#: Intercom pages through at most 10,000 companies; the scroll API goes beyond.
PAGED_LIMIT = 10_000


def create_company(
    client: IntercomClient,
    *,
    company_id: str | None = None,
    remote_created_at: int | None = None,
    name: str | None = None,
    monthly_spend: int | None = None,
    plan: str | None = None,
    size: int | None = None,
    website: str | None = None,
    industry: str | None = None,
    custom_attributes: dict[str, str] | None = None,
) -> Any:
    """POST /companies: an upsert keyed on Company ID (so retryable when one is given)."""
    body = present(
        company_id=company_id,
        remote_created_at=remote_created_at,
        name=name,
        monthly_spend=monthly_spend,
        plan=plan,
        size=size,
        website=website,
        industry=industry,
        custom_attributes=custom_attributes,
    )
    return client.request("POST", "/companies", json=body, idempotent=company_id is not None)


def update_company(
    client: IntercomClient,
    *,
    company_id: str,
    remote_created_at: int | None = None,
    name: str | None = None,
    monthly_spend: int | None = None,
    plan: str | None = None,
    size: int | None = None,
    website: str | None = None,
    industry: str | None = None,
    custom_attributes: dict[str, str] | None = None,
) -> Any:
    """PUT /companies/{id}: the Intercom id, not the company_id you set."""
    body = present(
        remote_created_at=remote_created_at,
        name=name,
        monthly_spend=monthly_spend,
        plan=plan,
        size=size,
        website=website,
        industry=industry,
        custom_attributes=custom_attributes,
    )
    return client.request("PUT", COMPANY, path_params={"company_id": company_id}, json=body)


def get_company(client: IntercomClient, *, company_id: str) -> Any:
    """GET /companies/{id} (Intercom id)."""
    return client.request("GET", COMPANY, path_params={"company_id": company_id})


def delete_company(client: IntercomClient, *, company_id: str) -> Any:
    """DELETE /companies/{id} (Intercom id)."""
    return client.request("DELETE", COMPANY, path_params={"company_id": company_id})


def _scroll(client: IntercomClient) -> Iterator[dict[str, Any]]:
    """Every company through GET /companies/scroll, until a page comes back empty."""
    params: dict[str, str] = {}
    while True:
        page = client.request("GET", "/companies/scroll", params=params)
        if not page or not page.get("data"):
            return
        yield page
        params = {"scroll_param": page["scroll_param"]}


def _with_next_cursor(page: dict[str, Any], number: int, size: int) -> dict[str, Any]:
    # Intercom pages companies by number; the cursor handed on is the next page's number.
    pages = dict(page.get("pages") or {"type": "pages"})
    total = pages.get("total_pages")
    pages.pop("next", None)
    if isinstance(total, int) and number < total:
        pages["next"] = {"per_page": size, "starting_after": str(number + 1)}
    return {**page, "pages": pages}


def list_companies(
    client: IntercomClient,
    *,
    fetch_all: bool = False,
    page: int | None = None,
    per_page: int | None = None,
    order: str = "desc",
    name: str | None = None,
    company_id: str | None = None,
    tag_id: str | None = None,
    segment_id: str | None = None,
    starting_after: str | None = None,
) -> Any:
    """GET /companies with filters, else POST /companies/list with the order; by page number."""
    size = per_page or DEFAULT_PER_PAGE
    first = int(starting_after) if starting_after else page or 1
    filters = present(name=name, company_id=company_id, tag_id=tag_id, segment_id=segment_id)
    if filters and order != "desc":
        # Only POST /companies/list sorts, and it takes no filters.
        problem = InputProblem("order", "Order", "can only be 'desc' when a filter is given")
        raise InputValidationError("List Companies", [problem])
    if filters:
        pages = client.paginate_pages(
            "GET", "/companies", params={**filters, "per_page": size}, first_page=first
        )
    else:
        pages = client.paginate_pages(
            "POST", "/companies/list", params={"per_page": size, "order": order}, first_page=first
        )
    if not fetch_all:
        return _with_next_cursor(next(pages), first, size)
    head = next(pages)
    if not filters and first == 1 and (head.get("total_count") or 0) > PAGED_LIMIT:
        return every_page(_scroll(client))
    return every_page(_chain(head, pages))


def _chain(head: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield head
    yield from rest
