"""Messages: an admin's outbound message to one contact, in-app, by email or on WhatsApp,
with the fields Intercom requires of each kind."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes, find_contact
from intercom_connector.sandbox.store import Record, Store, dumps

#: the kind a request names -> how an answer names it (the description's answers say
#: inapp; they list no WhatsApp kind, so whatsapp stays as asked)
_SHOWN = {"in_app": "inapp", "email": "email", "whatsapp": "whatsapp"}
TEMPLATES = ("plain", "personal")

route = Routes()


def _sender(db: Any, sender: Any) -> Record:
    if not isinstance(sender, dict) or sender.get("type") != "admin":
        raise ApiError(400, "parameter_invalid", "from must be an admin", "from")
    admin_id = sender.get("id")
    if isinstance(admin_id, bool) or not isinstance(admin_id, int):
        raise ApiError(400, "parameter_invalid", "from.id must be an integer", "from")
    admin = Store.one(db, "SELECT body FROM admins WHERE id = ?", str(admin_id))
    if admin is None:
        raise ApiError(404, "admin_not_found", "Admin not found")
    return records.render_admin(admin, records.team_ids(db, admin["id"]))


def _recipient(db: Any, to: Any) -> Record:
    """The contact ``to`` names; its role must be the contact's, as Intercom finds it."""
    if not isinstance(to, dict) or to.get("type") not in ("user", "lead"):
        raise ApiError(400, "parameter_invalid", "to must be a user or a lead", "to")
    contact = find_contact(db, str(to.get("id")))
    if contact["role"] != to["type"]:
        raise ApiError(404, "not_found", "User Not Found")
    return contact


def _required_text(body: Record, key: str, status: int, code: str, message: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(status, code, message, key)
    return value


@route("POST", "/messages")
def create_message(db: Any, request: Request) -> Record:
    body = request.json_object()
    kind = body.get("message_type")
    if kind not in _SHOWN:
        text = "message_type must be in_app, email or whatsapp"
        raise ApiError(400, "parameter_invalid", text, "message_type")
    owner = _sender(db, body.get("from"))
    contact = _recipient(db, body.get("to"))
    message: Record = {"type": "admin_message", "created_at": request.now()}
    if kind == "email":
        message["subject"] = _required_text(
            body, "subject", 422, "parameter_not_found", "No subject supplied for email message"
        )
        if body.get("template") not in TEMPLATES:
            text = "template must be plain or personal"
            raise ApiError(400, "parameter_invalid", text, "template")
    if kind == "whatsapp":
        template = _required_text(
            body, "template", 400, "parameter_not_found", "template is required"
        )
        if not isinstance(body.get("components"), list):
            raise ApiError(400, "parameter_invalid", "components must be a list", "components")
        message["body"] = ""  # the text is the template's, kept by WhatsApp
        message["template"] = template
    else:
        message["body"] = _required_text(body, "body", 400, "parameter_invalid", "Body is required")
    message.update(message_type=_SHOWN[kind], owner=owner)
    cursor = db.execute("INSERT INTO messages (body) VALUES ('{}')", ())
    message["id"] = str(cursor.lastrowid)
    stored = {**message, "to": {"type": contact["role"], "id": contact["id"]}}
    db.execute("UPDATE messages SET body = ? WHERE id = ?", (dumps(stored), cursor.lastrowid))
    return message
