"""Tags: deleting one (the rest are requests declared in connector.yaml)."""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient


def delete_tag(client: IntercomClient, *, tag_id: str) -> Any:
    """DELETE /tags/{tag_id}. Intercom answers with an empty body; say what was deleted."""
    client.request("DELETE", "/tags/{tag_id}", path_params={"tag_id": tag_id})
    return {"id": tag_id, "deleted": True}
