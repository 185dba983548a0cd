"""Conversations: started by a contact, listed, searched, read with their parts, replied
to, managed (close, open, snooze, assign: each change a part, through ``/parts``), tagged,
updated and converted to tickets.

A conversation is open, closed or snoozed (open, with ``snoozed_until``; when that time
passes it opens again, with a ``timer_unsnooze`` part). A reply from the contact reopens a
closed or snoozed one; assigning reopens it too (``assign_and_reopen``). Get Conversation
shows at most the 500 most recent parts, as Intercom does.

Every time is the sandbox clock's (``request.now()``); a search finds only what the
workspace's search index shows yet. Each change makes the webhook notification Intercom
makes: conversation.user.created, conversation.user.replied, conversation.admin.replied,
conversation.admin.noted, conversation.admin.closed, conversation.admin.opened,
conversation.admin.snoozed, conversation.admin.unsnoozed, conversation.admin.assigned,
conversation.read, and ticket.created for a conversation converted to a ticket.
"""

from __future__ import annotations

import json
from typing import Any

from intercom_connector.sandbox import parts, records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    decode_cursor,
    encode_cursor,
    find_contact,
    find_tag,
    paging,
    search_answer,
)
from intercom_connector.sandbox.routes import tickets
from intercom_connector.sandbox.search import CONVERSATIONS
from intercom_connector.sandbox.store import Record, Store, dumps

PAGE_MAX = 150
PAGE_DEFAULT = 20
MAX_PARTS_SHOWN = 500
#: conversation ids are numbers (the description types them so), counted from here
ID_BASE = 100_000_000
MESSAGE_ID_BASE = 400_000_000

route = Routes()


# -- the stored conversation ------------------------------------------------------------


def new_conversation(
    db: Any, contact: Record, body: str, now: int, attached: list[Record] | None = None
) -> Record:
    """A conversation a contact starts with an in-app message (its source)."""
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM conversations") or 0) + 1
    conversation = {
        "type": "conversation",
        "id": str(ID_BASE + seq),
        "title": None,
        "created_at": now,
        "updated_at": now,
        "waiting_since": now,
        "snoozed_until": None,
        "open": True,
        "state": "open",
        "read": False,
        "priority": "none",
        "admin_assignee_id": 0,
        "team_assignee_id": 0,
        "tags": {"type": "tag.list", "tags": []},
        "conversation_rating": None,
        "source": {
            "type": "conversation",
            "id": str(MESSAGE_ID_BASE + seq),
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": parts.as_html(body),
            "author": parts.contact_author(contact),
            "attachments": attached or [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}
            ],
        },
        "teammates": {"type": "admin.list", "teammates": []},
        "custom_attributes": {},
        "first_contact_reply": {"created_at": now, "type": "conversation", "url": None},
        "sla_applied": None,
        "statistics": None,
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False, "data": []},
        "ai_agent_participated": False,
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": []},
    }
    db.execute(
        "INSERT INTO conversations (seq, id, updated_at, body) VALUES (?, ?, ?, ?)",
        (seq, conversation["id"], now, dumps(conversation)),
    )
    return conversation


def save(db: Any, conversation: Record) -> None:
    db.execute(
        "UPDATE conversations SET updated_at = ?, body = ? WHERE id = ?",
        (conversation["updated_at"], dumps(conversation), conversation["id"]),
    )


def _woken(conversation: Record, db: Any, request: Request) -> Record:
    """A snoozed conversation whose time has come is open again, as Intercom reopens it."""
    until = conversation.get("snoozed_until")
    if conversation["state"] == "snoozed" and until is not None and until <= request.now():
        add_part(db, conversation, "timer_unsnooze", parts.OPERATOR, until, state="open")
        save(db, conversation)
        _notify(db, request, "conversation.admin.unsnoozed", conversation)
    return conversation


def find(db: Any, request: Request, conversation_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM conversations WHERE id = ?", conversation_id)
    if found is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return _woken(found, db, request)


def _notify(db: Any, request: Request, topic: str, conversation: Record) -> None:
    """The webhook notification of a change: the conversation as Get Conversation shows it."""
    request.notify(topic, render(db, conversation, with_parts=True))


def _state(conversation: Record, state: str) -> None:
    conversation["state"] = state
    conversation["open"] = state != "closed"
    if state != "snoozed":
        conversation["snoozed_until"] = None


def add_part(
    db: Any, conversation: Record, part_type: str, author: Record, now: int, **change: Any
) -> Record:
    """Record one part; ``change`` may set the state, the part's body and what it assigns."""
    if "state" in change:
        _state(conversation, change.pop("state"))
    body = change.pop("body", None)
    part = parts.new_part(
        db, part_type, author, now, body=parts.as_html(body) if body else None, **change
    )
    part["state"] = conversation["state"]
    conversation["conversation_parts"]["conversation_parts"].append(part)
    conversation["updated_at"] = now
    if author["type"] == "admin":
        teammates = conversation["teammates"]["teammates"]
        if all(mate["id"] != author["id"] for mate in teammates):
            teammates.append({"type": "admin", "id": author["id"]})
    return part


def _current_tags(db: Any, conversation: Record) -> list[Record]:
    """The conversation's tags with their current names (a deleted tag is gone)."""
    shown = []
    for applied in conversation["tags"]["tags"]:
        tag = Store.one(db, "SELECT body FROM tags WHERE id = ?", int(applied["id"]))
        if tag is not None:
            shown.append({**applied, "name": tag["name"]})
    return shown


def render(db: Any, conversation: Record, *, with_parts: bool, plain: bool = False) -> Record:
    """A conversation as Intercom answers: parts only when retrieved (the 500 latest)."""
    shown: Record = json.loads(json.dumps(conversation))
    shown["tags"]["tags"] = _current_tags(db, conversation)
    listed = shown.pop("conversation_parts")["conversation_parts"][-MAX_PARTS_SHOWN:]
    if plain:
        shown["source"]["body"] = parts.as_plain(shown["source"]["body"])
        shown["source"]["subject"] = parts.as_plain(shown["source"]["subject"])
        for part in listed:
            part["body"] = parts.as_plain(part["body"])
    if with_parts:
        shown["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": listed,
            "total_count": len(listed),
        }
    return shown


def search_view(conversation: Record) -> Record:
    """A conversation as the search language sees it."""
    view = dict(conversation)
    view["source"] = {**conversation["source"]}
    view["source"]["body"] = parts.as_plain(conversation["source"]["body"])
    view["contact_ids"] = [c["id"] for c in conversation["contacts"]["contacts"]]
    view["teammate_ids"] = [t["id"] for t in conversation["teammates"]["teammates"]]
    view["tag_ids"] = [t["id"] for t in conversation["tags"]["tags"]]
    view["channel_initiated"] = "conversation"
    view["_record"] = conversation
    return view


def _page(db: Any, found: list[Record], per_page: int, offset: int, plain: bool) -> Record:
    window = found[offset : offset + per_page]
    more = offset + per_page < len(found)
    return {
        "type": "conversation.list",
        "conversations": [render(db, c, with_parts=False, plain=plain) for c in window],
        "total_count": len(found),
        "pages": paging(
            offset // per_page + 1,
            per_page,
            len(found),
            encode_cursor(offset + per_page) if more else None,
        ),
    }


def _offset(cursor: Any) -> int:
    offset = decode_cursor(cursor) if cursor else 0
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor")
    return offset


def _every(db: Any, request: Request) -> list[Record]:
    """Every conversation, the most recently updated first."""
    stored = Store.many(db, "SELECT body FROM conversations ORDER BY updated_at DESC, seq DESC")
    return [_woken(conversation, db, request) for conversation in stored]


# -- routes -----------------------------------------------------------------------------


@route("GET", "/conversations")
def list_conversations(db: Any, request: Request) -> Record:
    per_page = request.integer("per_page", PAGE_DEFAULT, 1, PAGE_MAX)
    offset = _offset(request.arg("starting_after"))
    return _page(db, _every(db, request), per_page, offset, plain=False)


@route("POST", "/conversations")
def create_conversation(db: Any, request: Request) -> Record:
    body = request.json_object()
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("id") or not sender.get("type"):
        raise ApiError(400, "parameter_not_found", "from with a type and an id is required")
    if sender["type"] not in ("user", "lead", "contact"):
        raise ApiError(400, "parameter_invalid", "from.type must be user, lead or contact")
    contact = find_contact(db, str(sender["id"]))
    if sender["type"] != "contact" and contact["role"] != sender["type"]:
        raise ApiError(404, "not_found", "User Not Found")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "parameter_not_found", "body is required", "body")
    attached = parts.attachments(body.get("attachment_urls"))
    conversation = new_conversation(db, contact, text, request.now(), attached)
    _notify(db, request, "conversation.user.created", conversation)
    return {
        "type": "user_message",
        "id": conversation["source"]["id"],
        "created_at": conversation["created_at"],
        "body": conversation["source"]["body"],
        "message_type": "inapp",
        "conversation_id": conversation["id"],
    }


@route("POST", "/conversations/search")
def search_conversations(db: Any, request: Request) -> Record:
    views = [search_view(conversation) for conversation in _every(db, request)]
    window, answer = search_answer(
        request, views, CONVERSATIONS, "conversation.list", default_sort="updated_at",
        page_max=PAGE_MAX,
    )  # fmt: skip
    shown = [render(db, view["_record"], with_parts=False) for view in window]
    return {**answer, "conversations": shown}


@route("GET", "/conversations/{conversation_id}")
def get_conversation(db: Any, request: Request, conversation_id: str) -> Record:
    plain = request.arg("display_as") == "plaintext"
    return render(db, find(db, request, conversation_id), with_parts=True, plain=plain)


_ATTRIBUTE_TYPES = (str, int)


@route("PUT", "/conversations/{conversation_id}")
def update_conversation(db: Any, request: Request, conversation_id: str) -> Record:
    conversation = find(db, request, conversation_id)
    body = request.json_object()
    now = request.now()
    marked_read = False
    if "read" in body:
        if not isinstance(body["read"], bool):
            raise ApiError(400, "parameter_invalid", "read must be true or false", "read")
        marked_read = body["read"] and not conversation["read"]
        conversation["read"] = body["read"]
    if "title" in body:
        if not isinstance(body["title"], str | type(None)):
            raise ApiError(400, "parameter_invalid", "title must be a string", "title")
        conversation["title"] = body["title"]
    attributes = body.get("custom_attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "custom_attributes must be an object")
    owner = parts.admin_author(parts.find_admin(db, records.OWNER_ID))
    for name, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, _ATTRIBUTE_TYPES):
            message = f"custom attribute {name!r} must be a string or an integer"
            raise ApiError(400, "parameter_invalid", message, "custom_attributes")
        conversation["custom_attributes"][name] = value
        details = {"attribute": {"name": name}, "value": {"name": str(value)}}
        add_part(db, conversation, "conversation_attribute_updated_by_admin", owner, now,
                event_details=details)  # fmt: skip
    conversation["updated_at"] = now
    save(db, conversation)
    if marked_read:
        _notify(db, request, "conversation.read", conversation)
    return render(db, conversation, with_parts=True)


def _latest_of(db: Any, request: Request, contact: Record) -> Record:
    """``last``: the contact's most recently updated conversation."""
    for conversation in _every(db, request):
        if any(c["id"] == contact["id"] for c in conversation["contacts"]["contacts"]):
            return conversation
    raise ApiError(404, "not_found", "Resource Not Found")


@route("POST", "/conversations/{conversation_id}/reply")
def reply(db: Any, request: Request, conversation_id: str) -> Record:
    body = request.json_object()
    message_type, author, contact = parts.reply_from(db, body)
    if conversation_id == "last":
        if contact is None:
            raise ApiError(400, "parameter_invalid", "only a contact can reply to last")
        conversation = _latest_of(db, request, contact)
    else:
        conversation = find(db, request, conversation_id)
    now = request.now()
    attached = parts.attachments(body.get("attachment_urls"))
    if contact is not None:
        reopens = conversation["state"] != "open"
        part_type = "open" if reopens else "comment"  # Intercom records a reopening reply
        add_part(db, conversation, part_type, author, now, state="open", body=body["body"],
                attachments=attached)  # fmt: skip
        conversation["waiting_since"] = conversation["waiting_since"] or now
        conversation["read"] = False
        topic = "conversation.user.replied"
    else:
        add_part(db, conversation, message_type, author, now, body=body["body"],
                attachments=attached)  # fmt: skip
        if message_type == "comment":
            conversation["waiting_since"] = None
        topic = (
            "conversation.admin.replied"
            if message_type == "comment"
            else "conversation.admin.noted"
        )
    save(db, conversation)
    _notify(db, request, topic, conversation)
    return render(db, conversation, with_parts=True)


def _assignee(db: Any, kind: Any, assignee_id: Any) -> Record | None:
    """Who an assignment names (None: nobody); 404 when there is no such admin or team."""
    if kind not in ("admin", "team"):
        raise ApiError(400, "parameter_invalid", "type must be admin or team", "type")
    if str(assignee_id) == "0":
        return None
    if kind == "admin":
        parts.find_admin(db, assignee_id, "assignee_not_found")
    elif Store.one(db, "SELECT body FROM teams WHERE id = ?", str(assignee_id)) is None:
        raise ApiError(404, "assignee_not_found", "Assignee not found")
    return {"type": kind, "id": str(assignee_id)}


@route("POST", "/conversations/{conversation_id}/parts")
def manage(db: Any, request: Request, conversation_id: str) -> Record:
    body = request.json_object()
    conversation = find(db, request, conversation_id)
    message_type = body.get("message_type")
    if not body.get("admin_id"):
        raise ApiError(400, "parameter_not_found", "admin_id is required", "admin_id")
    admin = parts.admin_author(parts.find_admin(db, body["admin_id"]))
    now = request.now()
    state = conversation["state"]
    topic: str | None = None
    if message_type == "close":
        if state != "closed" or body.get("body"):
            add_part(db, conversation, "close", admin, now, state="closed", body=body.get("body"))
            topic = "conversation.admin.closed"
    elif message_type == "open":
        if state != "open":
            add_part(db, conversation, "open", admin, now, state="open")
            topic = "conversation.admin.opened"
    elif message_type == "snoozed":
        until = body.get("snoozed_until")
        if isinstance(until, bool) or not isinstance(until, int):
            message = "snoozed_until is required, a unix timestamp"
            raise ApiError(400, "parameter_invalid", message, "snoozed_until")
        add_part(db, conversation, "snoozed", admin, now, state="snoozed")
        conversation["snoozed_until"] = until
        topic = "conversation.admin.snoozed"
    elif message_type == "assignment":
        if "assignee_id" not in body:
            raise ApiError(400, "parameter_not_found", "assignee_id is required", "assignee_id")
        assigned = _assignee(db, body.get("type"), body["assignee_id"])
        field = "team_assignee_id" if body["type"] == "team" else "admin_assignee_id"
        conversation[field] = int(assigned["id"]) if assigned else 0
        part_type = "assignment" if state == "open" else "assign_and_reopen"
        add_part(db, conversation, part_type, admin, now, state="open", body=body.get("body"),
                assigned_to=assigned or {"type": "nobody_admin", "id": None})  # fmt: skip
        topic = "conversation.admin.assigned"
    else:
        message = "message_type must be close, open, snoozed or assignment"
        raise ApiError(400, "parameter_invalid", message, "message_type")
    save(db, conversation)
    if topic is not None:
        _notify(db, request, topic, conversation)
    return render(db, conversation, with_parts=True)


@route("POST", "/conversations/{conversation_id}/tags")
def attach_tag(db: Any, request: Request, conversation_id: str) -> Record:
    body = request.json_object()
    conversation = find(db, request, conversation_id)
    for key in ("id", "admin_id"):
        if not body.get(key):
            raise ApiError(400, "parameter_not_found", f"{key} is required", key)
    admin = parts.find_admin(db, body["admin_id"])
    tag = _tag(db, str(body["id"]))
    applied = conversation["tags"]["tags"]
    current = next((t for t in applied if t["id"] == tag["id"]), None)
    if current is None:
        current = {"type": "tag", "id": tag["id"], "name": tag["name"],
                   "applied_at": request.now(),
                   "applied_by": {"type": "admin", "id": admin["id"]}}  # fmt: skip
        applied.append(current)
        save(db, conversation)
    return {**current, "name": tag["name"]}


@route("DELETE", "/conversations/{conversation_id}/tags/{tag_id}")
def detach_tag(db: Any, request: Request, conversation_id: str, tag_id: str) -> Record:
    body = request.json_object()
    conversation = find(db, request, conversation_id)
    if not body.get("admin_id"):
        raise ApiError(400, "parameter_not_found", "admin_id is required", "admin_id")
    parts.find_admin(db, body["admin_id"])
    tag = _tag(db, tag_id)
    applied = conversation["tags"]["tags"]
    current = next((t for t in applied if t["id"] == tag["id"]), None)
    if current is None:
        raise ApiError(404, "tag_not_found", "Tag not found")
    applied.remove(current)
    save(db, conversation)
    return {**current, "name": tag["name"]}


def _tag(db: Any, tag_id: str) -> Record:
    try:
        return find_tag(db, tag_id)
    except ApiError:
        raise ApiError(404, "tag_not_found", "Tag not found") from None


@route("POST", "/conversations/{conversation_id}/convert")
def convert_to_ticket(db: Any, request: Request, conversation_id: str) -> Record:
    body = request.json_object()
    conversation = find(db, request, conversation_id)
    linked = conversation["linked_objects"]
    if any(item["type"] == "ticket" for item in linked["data"]):
        message = "the conversation has been converted to a ticket already"
        raise ApiError(400, "parameter_invalid", message)
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "attributes must be an object", "attributes")
    if "_default_title_" not in attributes:  # the ticket takes the conversation's words
        text = conversation["title"] or parts.as_plain(conversation["source"]["body"]) or ""
        attributes = {"_default_title_": text[:80], **attributes}
    contact = find_contact(db, conversation["contacts"]["contacts"][0]["id"])
    ticket = tickets.open_ticket(
        db,
        body.get("ticket_type_id"),
        contact,
        attributes,
        request.now(),
        state_id=body.get("ticket_state_id"),
        customer_only=True,
    )
    first = dict(conversation["source"])
    tickets.add_part(db, ticket, "comment", first["author"], ticket["created_at"],
                     body=first["body"])  # fmt: skip
    ticket["linked_objects"] = {"type": "list", "total_count": 1, "has_more": False,
                                "data": [{"type": "conversation", "id": conversation["id"],
                                          "category": None}]}  # fmt: skip
    tickets.save(db, ticket)
    linked["data"].append({"type": "ticket", "id": ticket["id"], "category": ticket["category"]})
    linked["total_count"] = len(linked["data"])
    save(db, conversation)
    request.notify("ticket.created", ticket)
    return ticket
