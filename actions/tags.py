"""Tags: deleting one, tagging and untagging companies (the rest are requests declared in
connector.yaml)."""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import IntercomAPIError
from intercom_connector.runtime.operations import Request


def delete_tag(client: IntercomClient, *, tag_id: str) -> Any:
    """DELETE /tags/{tag_id}. Intercom answers with an empty body; say what was deleted."""
    client.request("DELETE", "/tags/{tag_id}", path_params={"tag_id": tag_id})
    return {"id": tag_id, "deleted": True}


def _tag_name(client: IntercomClient, tag_id: str) -> str:
    """The name of tag ``tag_id``: Intercom tags and untags companies by tag name."""
    tag = client.request("GET", "/tags/{tag_id}", path_params={"tag_id": tag_id})
    name = tag.get("name") if isinstance(tag, dict) else None
    if not isinstance(name, str) or not name:
        raise IntercomAPIError(
            200, "unexpected_answer", "the tag came back without a name", method="GET",
            path=f"/tags/{tag_id}",
        )  # fmt: skip
    return name


def attach_tag_to_company(client: IntercomClient, *, company_id: str, tag_id: str) -> Request:
    """POST /tags with the tag's name and the company to tag."""
    body = {"name": _tag_name(client, tag_id), "companies": [{"id": company_id}]}
    return Request("POST", "/tags", body=body, idempotent=True)


def detach_tag_from_company(client: IntercomClient, *, company_id: str, tag_id: str) -> Request:
    """POST /tags with the tag's name and the company to untag."""
    body = {"name": _tag_name(client, tag_id), "companies": [{"id": company_id, "untag": True}]}
    return Request("POST", "/tags", body=body, idempotent=True)
