"""Messages: an admin's message to a contact, in-app, by email or on WhatsApp.

Each kind needs its own fields (Intercom refuses a message without them); the inputs a
kind does not take are refused too, rather than dropped unsaid. Both before sending.
"""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import InputRefusal
from intercom_connector.runtime.operations import Request

#: the inputs each kind of message needs
_NEEDS = {
    "in_app": ("body",),
    "email": ("subject", "body"),
    "whatsapp": ("whatsapp_template",),
}
#: the inputs each kind of message takes
_TAKES = {
    "in_app": {"body"},
    "email": {"subject", "body", "email_template"},
    "whatsapp": {"whatsapp_template", "whatsapp_components"},
}


def _missing(keys: list[str], message_type: str) -> InputRefusal:
    text = f"is required when {{message_type}} is {message_type}"
    others = ", ".join(f"{{{key}}}" for key in keys[1:])
    if others:
        text += f", and so {'is' if len(keys) == 2 else 'are'} {others}"
    return InputRefusal(keys[0], text)


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
    """POST /messages from the admin to the contact, with the fields its kind needs."""
    values = {
        "subject": subject,
        "body": body,
        "email_template": email_template,
        "whatsapp_template": whatsapp_template,
        "whatsapp_components": whatsapp_components,
    }
    missing = [key for key in _NEEDS[message_type] if values[key] is None]
    if missing:
        raise _missing(missing, message_type)
    for key, value in values.items():
        if value is not None and key not in _TAKES[message_type]:
            raise InputRefusal(key, f"is not sent when {{message_type}} is {message_type}")
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
