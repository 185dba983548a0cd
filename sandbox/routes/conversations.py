"""Conversations: a contact starts one, teammates and the contact reply, and the search.

A conversation is stored as Intercom returns it, its parts (the messages after the first)
included; every reply moves its ``updated_at``. Each change makes the webhook notification
Intercom makes: conversation.user.created, conversation.admin.replied,
conversation.user.replied.
"""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_contact,
    search_answer,
)
from intercom_connector.sandbox.store import Record, Store, dumps

route = Routes()

#: the fields a conversation search takes, by type
SEARCH_FIELDS = {
    "id": "string",
    "created_at": "date",
    "updated_at": "date",
    "waiting_since": "date",
    "state": "string",
    "open": "boolean",
    "read": "boolean",
    "priority": "string",
    "source.author.id": "string",
    "source.body": "string",
    "contact_ids": "membership",
}
#: a conversation's ids count from here, as numbers in text
FIRST_ID = 1_000


def find_conversation(db: Any, conversation_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM conversations WHERE id = ?", conversation_id)
    if found is None:
        raise ApiError(404, "conversation_not_found", "Conversation not found")
    return found


def _save(db: Any, conversation: Record) -> None:
    db.execute(
        "INSERT OR REPLACE INTO conversations (seq, id, body) VALUES "
        "((SELECT seq FROM conversations WHERE id = ?), ?, ?)",
        (conversation["id"], conversation["id"], dumps(conversation)),
    )


def _author(kind: str, record: Record) -> Record:
    return {
        "type": kind,
        "id": record["id"],
        "name": record.get("name"),
        "email": record.get("email") or "",
    }


def _body(request: Request) -> str:
    body = request.json_object().get("body")
    if not isinstance(body, str) or not body.strip():
        raise ApiError(400, "parameter_invalid", "body is required", "body")
    return body


@route("POST", "/conversations")
def create_conversation(db: Any, request: Request) -> Record:
    sender = request.json_object().get("from")
    if not isinstance(sender, dict) or sender.get("type") not in ("user", "lead", "contact"):
        raise ApiError(400, "parameter_invalid", "from must be a contact: {type, id}", "from")
    contact = find_contact(db, str(sender.get("id")))
    text, now = _body(request), request.now()
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM conversations") or 0) + 1
    conversation_id = str(FIRST_ID + seq)
    message_id = f"{conversation_id}01"
    conversation: Record = {
        "type": "conversation",
        "id": conversation_id,
        "title": None,
        "created_at": now,
        "updated_at": now,
        "waiting_since": now,
        "snoozed_until": None,
        "open": True,
        "state": "open",
        "read": False,
        "priority": "none",
        "tags": {"type": "tag.list", "tags": []},
        "source": {
            "type": "conversation",
            "id": message_id,
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": f"<p>{text}</p>",
            "author": _author(contact["role"], contact),
            "attachments": [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}
            ],
        },
        "teammates": {"type": "admin.list", "admins": []},
        "custom_attributes": {},
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": [],
            "total_count": 0,
        },
    }
    _save(db, conversation)
    request.notify("conversation.user.created", conversation)
    return {
        "type": "user_message",
        "id": message_id,
        "created_at": now,
        "body": text,
        "message_type": "inapp",
        "conversation_id": conversation_id,
    }


@route("GET", "/conversations/{conversation_id}")
def get_conversation(db: Any, request: Request, conversation_id: str) -> Record:
    return find_conversation(db, conversation_id)


@route("POST", "/conversations/{conversation_id}/reply")
def reply(db: Any, request: Request, conversation_id: str) -> Record:
    conversation = find_conversation(db, conversation_id)
    body = request.json_object()
    if body.get("message_type") != "comment":
        raise ApiError(400, "parameter_invalid", "message_type must be comment", "message_type")
    if body.get("type") == "admin":
        admin = Store.one(db, "SELECT body FROM admins WHERE id = ?", str(body.get("admin_id")))
        if admin is None:
            raise ApiError(404, "admin_not_found", "Admin not found")
        author, topic = _author("admin", admin), "conversation.admin.replied"
    elif body.get("type") == "user":
        contact = find_contact(db, str(body.get("intercom_user_id")))
        author, topic = _author(contact["role"], contact), "conversation.user.replied"
    else:
        raise ApiError(400, "parameter_invalid", "type must be admin or user", "type")
    text, now = _body(request), request.now()
    parts = conversation["conversation_parts"]
    parts["conversation_parts"].append(
        {
            "type": "conversation_part",
            "id": f"{conversation_id}{len(parts['conversation_parts']) + 2:02d}",
            "part_type": "comment",
            "body": f"<p>{text}</p>",
            "created_at": now,
            "updated_at": now,
            "notified_at": now,
            "author": author,
            "attachments": [],
            "redacted": False,
        }
    )
    parts["total_count"] = len(parts["conversation_parts"])
    conversation["updated_at"] = now
    conversation["waiting_since"] = None if author["type"] == "admin" else now
    conversation["read"] = author["type"] == "admin"
    _save(db, conversation)
    request.notify(topic, conversation)
    return conversation


def _search_view(conversation: Record) -> Record:
    view = dict(conversation)
    view["contact_ids"] = [c["id"] for c in conversation["contacts"]["contacts"]]
    return view


@route("POST", "/conversations/search")
def search_conversations(db: Any, request: Request) -> Record:
    views = [_search_view(c) for c in Store.many(db, "SELECT body FROM conversations ORDER BY seq")]
    window, answer = search_answer(
        request, views, "conversations", "conversation.list", SEARCH_FIELDS
    )
    answer["conversations"] = [
        {k: v for k, v in view.items() if k not in ("contact_ids", "conversation_parts")}
        for view in window
    ]
    return answer
