"""Data attributes: creating a custom one, and changing one (never its type)."""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import InputRefusal
from intercom_connector.runtime.operations import Request, given

#: the types Intercom shows under another name once an attribute exists
_SHOWN_AS = {"datetime": "date"}


def _options(values: list[str] | None) -> list[dict[str, str]] | None:
    return None if values is None else [{"value": value} for value in values]


def create_data_attribute(
    client: IntercomClient,
    *,
    name: str,
    model: str,
    data_type: str,
    description: str | None,
    messenger_writable: bool | None,
    options: list[str] | None,
) -> Request:
    """POST /data_attributes; a list attribute (Data Type options) with its options."""
    body = given(
        name=name,
        model=model,
        data_type=data_type,
        description=description,
        messenger_writable=messenger_writable,
        options=_options(options),
    )
    return Request("POST", "/data_attributes", body=body)


def _kind(attribute: dict[str, Any]) -> str:
    """An attribute's type as Data Type names it: a list of options is text with options."""
    if attribute.get("options"):
        return "options"
    return str(attribute.get("data_type"))


def _current_kind(client: IntercomClient, attribute_id: str) -> str | None:
    """The type of the custom attribute ``attribute_id``, None when it is not listed."""
    listed = client.request("GET", "/data_attributes", params={"include_archived": True})
    for attribute in (listed or {}).get("data") or []:
        if isinstance(attribute, dict) and str(attribute.get("id")) == attribute_id:
            return _kind(attribute)
    return None


def update_data_attribute(
    client: IntercomClient,
    *,
    data_attribute_id: str,
    data_type: str | None,
    description: str | None,
    archived: bool | None,
    messenger_writable: bool | None,
    options: list[str] | None,
) -> Request:
    """PUT /data_attributes/{id}. Intercom keeps an attribute's type for good: a Data Type
    other than the attribute's own is refused after one read to learn it, unchanged."""
    if data_type is not None:
        current = _current_kind(client, data_attribute_id)
        if current is not None and _SHOWN_AS.get(current, current) != _SHOWN_AS.get(
            data_type, data_type
        ):
            # not declarable in the manifest: the attribute's own type is Intercom's answer
            raise InputRefusal(
                "data_type",
                f"cannot change: Intercom keeps a data attribute's type once it is created "
                f"(this one is {current}); create a new attribute for {data_type} values",
            )
    body = given(
        description=description,
        archived=archived,
        messenger_writable=messenger_writable,
        options=_options(options),
    )
    return Request(
        "PUT",
        "/data_attributes/{data_attribute_id}",
        path_params={"data_attribute_id": data_attribute_id},
        body=body,
    )
