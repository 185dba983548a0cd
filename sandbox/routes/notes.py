"""Notes: what admins write on a contact or a company, newest first."""

from __future__ import annotations

import json
import time
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_company,
    find_contact,
    id_number,
    paging,
)
from intercom_connector.sandbox.store import Record, Store, dumps

NOTE_PAGE_MAX = 150

route = Routes()


def _author(db: Any, admin_id: Any) -> Record:
    """The admin writing a note: the one named, or the one the token belongs to."""
    if admin_id is not None and not isinstance(admin_id, str):
        raise ApiError(400, "parameter_invalid", "admin_id must be a string", "admin_id")
    wanted = admin_id or records.OWNER_ID
    admin = Store.one(db, "SELECT body FROM admins WHERE id = ?", wanted)
    if admin is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return records.render_admin(admin, records.team_ids(db, admin["id"]))


def add_note(db: Any, body: Any, *, contact_id: str | None = None,
             company_id: str | None = None, now: int | None = None) -> Record:  # fmt: skip
    """A note on a contact or a company, written by ``body["admin_id"]`` (or the owner)."""
    if not isinstance(body, dict):
        raise ApiError(400, "parameter_invalid", "the body must be a JSON object")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "parameter_not_found", "body is required", "body")
    author = _author(db, body.get("admin_id"))
    cursor = db.execute(
        "INSERT INTO notes (contact_id, company_id, body) VALUES (?, ?, '{}')",
        (contact_id, company_id),
    )
    note: Record = {
        "type": "note",
        "id": str(cursor.lastrowid),
        "created_at": now if now is not None else int(time.time()),
        "contact": {"type": "contact", "id": contact_id} if contact_id else None,
        "company": {"type": "company", "id": company_id} if company_id else None,
        "author": author,
        "body": text,
    }
    db.execute("UPDATE notes SET body = ? WHERE id = ?", (dumps(note), cursor.lastrowid))
    return note


def _notes_page(db: Any, request: Request, column: str, owner_id: str) -> Record:
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 50, 1, NOTE_PAGE_MAX)
    total = Store.scalar(db, f"SELECT COUNT(*) FROM notes WHERE {column} = ?", owner_id)
    rows = db.execute(
        f"SELECT body FROM notes WHERE {column} = ? ORDER BY id DESC LIMIT ? OFFSET ?",
        (owner_id, per_page, (page - 1) * per_page),
    ).fetchall()
    return {
        "type": "list",
        "data": [json.loads(body) for (body,) in rows],
        "total_count": total,
        "pages": paging(page, per_page, total, None),
    }


@route("POST", "/contacts/{contact_id}/notes")
def create_contact_note(db: Any, request: Request, contact_id: str) -> Record:
    contact = find_contact(db, contact_id)
    return add_note(db, request.json_object(), contact_id=contact["id"], now=request.now())


@route("GET", "/contacts/{contact_id}/notes")
def notes_of_contact(db: Any, request: Request, contact_id: str) -> Record:
    find_contact(db, contact_id)
    return _notes_page(db, request, "contact_id", contact_id)


@route("POST", "/companies/{company_id}/notes")
def create_company_note(db: Any, request: Request, company_id: str) -> Record:
    company = find_company(db, company_id)
    return add_note(db, request.json_object(), company_id=company["id"], now=request.now())


@route("GET", "/companies/{company_id}/notes")
def notes_of_company(db: Any, request: Request, company_id: str) -> Record:
    find_company(db, company_id)
    return _notes_page(db, request, "company_id", company_id)


@route("GET", "/notes/{note_id}")
def get_note(db: Any, request: Request, note_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM notes WHERE id = ?", id_number(note_id))
    if found is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return found
