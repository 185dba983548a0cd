"""What conversations and tickets share: their parts (every message and every change is a
part, as Intercom records it), who wrote a part, the HTML Intercom keeps a message as,
attachments, and who a reply is from."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlparse

from intercom_connector.sandbox.api import ApiError, find_contact
from intercom_connector.sandbox.store import Record, Store

MAX_ATTACHMENTS = 10
_TAG = re.compile(r"<[^>]+>")
#: tags that end a line of text (the rest, <b> or <a>, are inline)
_BREAK = re.compile(r"<(br|/p|/div|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}
#: who Intercom shows for what happens on its own (a snooze running out)
OPERATOR: Record = {"type": "bot", "id": "991267000", "name": "Operator"}


def next_part_id(db: Any) -> str:
    """Part ids are one sequence across conversations and tickets, as Intercom's are."""
    number = int(Store.meta(db, "last_part_id") or 0) + 1
    Store.set_meta(db, "last_part_id", str(number))
    return str(number)


def as_html(text: str) -> str:
    """A message as Intercom keeps it: text becomes a paragraph; HTML stays as written."""
    return text if text.lstrip().startswith("<") else f"<p>{html.escape(text)}</p>"


def as_plain(text: str | None) -> str | None:
    """A message as ``display_as=plaintext`` shows it."""
    if text is None:
        return None
    lines = html.unescape(_TAG.sub("", _BREAK.sub("\n", text))).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def find_admin(db: Any, admin_id: Any, code: str = "admin_not_found") -> Record:
    found = Store.one(db, "SELECT body FROM admins WHERE id = ?", str(admin_id))
    if found is None:
        message = "Assignee not found" if code == "assignee_not_found" else "Admin not found"
        raise ApiError(404, code, message)
    return found


def admin_author(admin: Record) -> Record:
    return {"type": "admin", "id": admin["id"], "name": admin["name"], "email": admin["email"]}


def contact_author(contact: Record) -> Record:
    """A contact as the author of a part: its role is its type."""
    author = {"type": contact["role"], "id": contact["id"], "name": contact.get("name")}
    if contact.get("email"):
        author["email"] = contact["email"]
    return author


def attachments(urls: Any) -> list[Record]:
    """Attachment URLs as a part shows them; at most 10 web addresses."""
    if urls is None:
        return []
    if not isinstance(urls, list) or len(urls) > MAX_ATTACHMENTS:
        message = f"attachment_urls must be a list of at most {MAX_ATTACHMENTS} URLs"
        raise ApiError(400, "parameter_invalid", message, "attachment_urls")
    shown = []
    for url in urls:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ApiError(400, "parameter_invalid", f"{url!r} is not a URL", "attachment_urls")
        name = parsed.path.rsplit("/", 1)[-1] or "attachment"
        extension = name.rsplit(".", 1)[-1].lower()
        content_type = _IMAGE_TYPES.get(extension, "application/octet-stream")
        shown.append({"type": "upload", "name": name, "url": url, "content_type": content_type})
    return shown


def new_part(
    db: Any, part_type: str, author: Record, now: int, *, body: str | None = None, **extra: Any
) -> Record:
    """One part of a conversation (``extra``: assigned_to, attachments, event_details...;
    the description's nullable-by-reference fields are left out rather than null)."""
    return {
        "type": "conversation_part",
        "id": next_part_id(db),
        "part_type": part_type,
        "body": body,
        "created_at": now,
        "updated_at": now,
        "notified_at": now,
        "author": author,
        "attachments": [],
        "external_id": None,
        "redacted": False,
        **extra,
    }


def contact_by(db: Any, reference: Record) -> Record:
    """The contact a reply names: by ``intercom_user_id``, ``email`` or ``user_id``."""
    keys = [key for key in ("intercom_user_id", "email", "user_id") if reference.get(key)]
    if len(keys) != 1:
        message = "a contact reply names its contact by one of intercom_user_id, email, user_id"
        raise ApiError(400, "parameter_invalid", message)
    (key,) = keys
    value = str(reference[key]).strip()
    if key == "intercom_user_id":
        return find_contact(db, value)
    column, value = ("email", value.lower()) if key == "email" else ("external_id", value)
    found = Store.one(db, f"SELECT body FROM contacts WHERE {column} = ? ORDER BY seq", value)
    if found is None:
        raise ApiError(404, "not_found", "User Not Found")
    return found


def reply_from(db: Any, body: Record) -> tuple[str, Record, Record | None]:
    """Who a reply is from: its part type, its author, and the contact when a contact
    replies. Refuses what Intercom refuses: no admin, a note from a contact, no body."""
    message_type, sender = body.get("message_type"), body.get("type")
    if sender == "admin":
        if message_type not in ("comment", "note"):
            raise ApiError(400, "parameter_invalid", "message_type must be comment or note")
        if not body.get("admin_id"):
            raise ApiError(400, "parameter_not_found", "admin_id is required", "admin_id")
        author, contact = admin_author(find_admin(db, body["admin_id"])), None
    elif sender == "user":
        if message_type != "comment":
            raise ApiError(400, "parameter_invalid", "a contact reply is a comment")
        contact = contact_by(db, body)
        author = contact_author(contact)
    else:
        raise ApiError(400, "parameter_invalid", "type must be admin or user", "type")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "parameter_not_found", "body is required", "body")
    return message_type, author, contact
