"""Data events: submitting one for a contact, listing a contact's, and their summaries.

A contact is named one way of three: Intercom's id, your user id (its External ID), or
email; the manifest's rules ask for exactly one.
"""

from __future__ import annotations

import time
from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given


def submit_event(
    client: IntercomClient,
    *,
    event_name: str,
    created_at: int | None,
    contact_id: str | None,
    user_id: str | None,
    email: str | None,
    metadata: dict[str, Any] | None,
) -> Any:
    """POST /events. Intercom answers 202 with no body: the result is the event submitted."""
    event = given(
        event_name=event_name,
        created_at=int(time.time()) if created_at is None else created_at,
        id=contact_id,
        user_id=user_id,
        email=email,
        metadata=metadata,
    )
    # Intercom ignores an event it has by contact, name and created_at (fixed above).
    client.request("POST", "/events", json=event, idempotent=True)
    return {"type": "event", **event}


def _events_of(contact_id: str | None, user_id: str | None, email: str | None) -> Request:
    who = given(intercom_user_id=contact_id, user_id=user_id, email=email)
    return Request(
        "GET", "/events", query={"type": "user", **who}, inputs={"intercom_user_id": "contact_id"}
    )


def list_events(
    client: IntercomClient, *, contact_id: str | None, user_id: str | None, email: str | None
) -> Request:
    """GET /events of one contact; the runtime follows the link in pages.next."""
    return _events_of(contact_id, user_id, email)


def list_event_summaries(
    client: IntercomClient, *, contact_id: str | None, user_id: str | None, email: str | None
) -> Request:
    """GET /events with the summary flag (POST /events/summaries would create summaries)."""
    request = _events_of(contact_id, user_id, email)
    return Request(
        "GET", request.path, query={**request.query, "summary": True}, inputs=request.inputs
    )
