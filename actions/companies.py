"""Companies: the list, by filters or in order (page numbers; scroll past 10,000)."""

from __future__ import annotations

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given


def list_companies(
    client: IntercomClient,
    *,
    order: str,
    name: str | None,
    company_id: str | None,
    tag_id: str | None,
    segment_id: str | None,
) -> Request:
    """GET /companies with filters, else POST /companies/list with the order."""
    # Only POST /companies/list sorts, and it takes no filters (the manifest's rule keeps
    # Order at desc with a filter).
    filters = given(name=name, company_id=company_id, tag_id=tag_id, segment_id=segment_id)
    if filters:
        return Request("GET", "/companies", query=filters)
    # past 10,000 companies, the manifest's paging overflow goes on with the scroll API
    return Request("POST", "/companies/list", query={"order": order}, idempotent=True)
