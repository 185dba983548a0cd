"""Tags: create-or-update by name, rename by id, delete, list."""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient


def create_tag(client: IntercomClient, *, name: str) -> Any:
    """POST /tags {name}: Intercom returns the existing tag of that name, so retryable."""
    return client.request("POST", "/tags", json={"name": name}, idempotent=True)


def update_tag(client: IntercomClient, *, tag_id: str, name: str) -> Any:
    """POST /tags {id, name}: Intercom has no PUT /tags; the id selects the tag to rename."""
    return client.request("POST", "/tags", json={"id": tag_id, "name": name}, idempotent=True)


def delete_tag(client: IntercomClient, *, tag_id: str) -> Any:
    """DELETE /tags/{tag_id}. Intercom answers with an empty body; say what was deleted."""
    client.request("DELETE", "/tags/{tag_id}", path_params={"tag_id": tag_id})
    return {"id": tag_id, "deleted": True}


def list_tags(client: IntercomClient) -> Any:
    """GET /tags (not paginated)."""
    return client.request("GET", "/tags")
