"""Data events: submitted for a contact (202, no body; a repeat is ignored), listed for
90 days newest first and paged by link, and summarised by name over all time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from intercom_connector.sandbox.api import (
    Answer,
    ApiError,
    Request,
    Routes,
    decode_cursor,
    encode_cursor,
    find_contact,
)
from intercom_connector.sandbox.store import Record, Store, dumps

#: Intercom lists a contact's events of the last 90 days only
LISTED_DAYS = 90
EVENT_PAGE_MAX = 150
#: the metadata keys Intercom keeps of an event; further ones are ignored
METADATA_KEYS = 10
#: how a contact is named: the events API's word -> the column it is looked up by
_WHO = {"intercom_user_id": "id", "user_id": "external_id", "email": "email"}

route = Routes()


def _contact_by(db: Any, column: str, value: Any) -> Record:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "parameter_invalid", f"{column} must be a string")
    if column == "id":
        return find_contact(db, value)
    if column == "email":
        value = value.strip().lower()
    found = Store.one(
        db, f"SELECT body FROM contacts WHERE {column} = ? ORDER BY seq LIMIT 1", value
    )
    if found is None:
        raise ApiError(404, "not_found", "User Not Found")
    return found


def _metadata(value: Any) -> Record:
    """Text, numbers, and links or amounts (objects of text and numbers); the first 10."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "parameter_invalid", "metadata must be an object", "metadata")

    def plain(item: Any) -> bool:
        return isinstance(item, str | int | float) and not isinstance(item, bool)

    for key, item in value.items():
        nested = isinstance(item, dict) and all(plain(v) for v in item.values())
        if not (plain(item) or nested):
            message = f"metadata {key!r} must be text, a number, a link or an amount"
            raise ApiError(400, "parameter_invalid", message, "metadata")
    return dict(list(value.items())[:METADATA_KEYS])


def record_event(db: Any, contact: Record, name: str, created_at: int, metadata: Record) -> None:
    """Store an event; one with the same contact, name and time is a repeat, ignored."""
    event = {"event_name": name, "created_at": created_at, "metadata": metadata}
    db.execute(
        "INSERT OR IGNORE INTO events (contact_id, name, created_at, body) VALUES (?, ?, ?, ?)",
        (contact["id"], name, created_at, dumps(event)),
    )


@route("POST", "/events")
def submit_event(db: Any, request: Request) -> Answer:
    body = request.json_object()
    name, created_at = body.get("event_name"), body.get("created_at")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "parameter_not_found", "event_name is required", "event_name")
    if isinstance(created_at, bool) or not isinstance(created_at, int):
        raise ApiError(400, "parameter_invalid", "created_at must be a unix timestamp")
    named = [key for key in ("id", "user_id", "email") if body.get(key) is not None]
    if not named:
        raise ApiError(400, "parameter_not_found", "id, user_id or email is required")
    column = {"id": "id", "user_id": "external_id", "email": "email"}[named[0]]
    contact = _contact_by(db, column, body[named[0]])
    record_event(db, contact, name.strip(), created_at, _metadata(body.get("metadata")))
    return Answer(202)


def _shown(contact: Record, event: Record) -> Record:
    shown: Record = {
        "type": "event",
        "event_name": event["event_name"],
        "created_at": event["created_at"],
        "intercom_user_id": contact["id"],
    }
    if contact.get("external_id"):
        shown["user_id"] = contact["external_id"]
    if contact.get("email"):
        shown["email"] = contact["email"]
    if event.get("metadata"):
        shown["metadata"] = event["metadata"]
    return shown


def _iso(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _about(contact: Record) -> Record:
    """The head of every answer of GET /events: the description's ``data_event_summary``
    (``event.summary``, whom it is about), for a summary and for a listing alike."""
    head: Record = {"type": "event.summary", "intercom_user_id": contact["id"]}
    if contact.get("external_id"):
        head["user_id"] = contact["external_id"]
    if contact.get("email"):
        head["email"] = contact["email"]
    return head


def _summary(db: Any, contact: Record) -> Record:
    rows = db.execute(
        "SELECT name, MIN(created_at), MAX(created_at), COUNT(*) FROM events "
        "WHERE contact_id = ? GROUP BY name ORDER BY name",
        (contact["id"],),
    ).fetchall()
    summary = _about(contact)
    summary["events"] = [
        {"name": name, "first": _iso(first), "last": _iso(last), "count": count}
        for name, first, last, count in rows
    ]
    return summary


@route("GET", "/events")
def list_events(db: Any, request: Request) -> Record:
    kind = request.arg("type")
    if kind is None:
        raise ApiError(400, "parameter_not_found", "type is required", "type")
    if kind != "user":
        raise ApiError(400, "parameter_invalid", "type must be user", "type")
    named = [key for key in _WHO if request.arg(key)]
    if len(named) != 1:
        message = "give one of intercom_user_id, user_id or email"
        raise ApiError(400, "parameter_invalid", message)
    who = named[0]
    contact = _contact_by(db, _WHO[who], request.arg(who))
    if request.boolean("summary"):
        return _summary(db, contact)
    per_page = request.integer("per_page", 50, 1, EVENT_PAGE_MAX)
    since = request.now() - LISTED_DAYS * 86400
    rows = db.execute(
        "SELECT seq, body FROM events WHERE contact_id = ? AND created_at >= ? "
        "ORDER BY created_at DESC, seq DESC",
        (contact["id"], since),
    ).fetchall()
    ordered = [(seq, json.loads(body)) for seq, body in rows]
    start = 0
    before = request.arg("before")
    if before:  # the last event of the page before
        last = decode_cursor(before)
        seqs = [seq for seq, _ in ordered]
        if last not in seqs:
            raise ApiError(400, "parameter_invalid", "before is not a valid cursor", "before")
        start = seqs.index(last) + 1
    window = ordered[start : start + per_page]
    answer = _about(contact)  # the description's operation answers event.summary here too
    answer["events"] = [_shown(contact, event) for _, event in window]
    answer["pages"] = {}
    if start + per_page < len(ordered):
        query = {"type": "user", who: request.arg(who), "per_page": per_page,
                 "before": encode_cursor(window[-1][0])}  # fmt: skip
        answer["pages"]["next"] = f"{request.root}/events?{urlencode(query)}"
    return answer
