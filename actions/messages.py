"""Messages: an admin's message to a contact, in-app, by email or on WhatsApp.

Each kind needs its own fields (Intercom refuses a message without them); the inputs a
kind does not take are refused too, rather than dropped unsaid. Both before sending, by
the rules connector.yaml declares for Send Message.
"""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request


def send_message(
    client: IntercomClient,
    *,
    message_type: str,
    admin_id: str,
    contact_id: str,
    role: str,
    subject: str | None,
    body: str | None,
    email_template: str | None,
    whatsapp_template: str | None,
    whatsapp_components: list[Any] | None,
) -> Request:
    """POST /messages from the admin to the contact, with the fields its kind needs (the
    manifest's rules say which each kind needs and takes)."""
    message: dict[str, Any] = {
        "message_type": message_type,
        "from": {"type": "admin", "id": int(admin_id)},  # the manifest's pattern: digits
        "to": {"type": role, "id": contact_id},
    }
    if message_type == "email":
        message.update(subject=subject, body=body, template=email_template or "plain")
    elif message_type == "in_app":
        message["body"] = body
    else:
        message.update(template=whatsapp_template, components=whatsapp_components or [])
    return Request("POST", "/messages", body=message)
