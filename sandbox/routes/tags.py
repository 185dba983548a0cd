"""Tags: create-or-update by name (tagging contacts and companies), list, delete."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_company,
    find_contact,
    find_tag,
)
from intercom_connector.sandbox.store import Record, Store, dumps

route = Routes()


@route("POST", "/tags")
def create_or_update_tag(db: Any, request: Request) -> Record:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "parameter_invalid", "name is required", "name")
    tag_id = body.get("id")
    if tag_id is not None:
        tag = find_tag(db, str(tag_id))
        clash = Store.scalar(db, "SELECT id FROM tags WHERE name = ? AND id != ?", name, tag["id"])
        if clash:
            raise ApiError(400, "parameter_invalid", f"a tag named {name!r} already exists")
        tag["name"] = name
        db.execute(
            "UPDATE tags SET name = ?, body = ? WHERE id = ?", (name, dumps(tag), int(tag["id"]))
        )
    else:
        existing = Store.one(db, "SELECT body FROM tags WHERE name = ?", name)
        tag = existing or records.insert_tag(db, name)
    for user in body.get("users") or []:
        contact = find_contact(db, str(user.get("id")))
        db.execute(
            "INSERT OR IGNORE INTO contact_tags (contact_id, tag_id, applied_at) VALUES (?, ?, ?)",
            (contact["id"], tag["id"], request.now()),
        )
    for item in body.get("companies") or []:
        company = (
            find_company(db, str(item["id"]))
            if item.get("id")
            else Store.one(
                db, "SELECT body FROM companies WHERE company_id = ?", item.get("company_id")
            )
        )
        if company is None:
            raise ApiError(404, "company_not_found", "Company Not Found")
        if item.get("untag"):
            db.execute(
                "DELETE FROM company_tags WHERE company_id = ? AND tag_id = ?",
                (company["id"], tag["id"]),
            )
        else:
            db.execute(
                "INSERT OR IGNORE INTO company_tags (company_id, tag_id) VALUES (?, ?)",
                (company["id"], tag["id"]),
            )
    return {"type": "tag", "id": tag["id"], "name": tag["name"]}


@route("GET", "/tags")
def list_tags(db: Any, request: Request) -> Record:
    tags = Store.many(db, "SELECT body FROM tags ORDER BY id")
    return {"type": "list", "data": [records.applied_tag(tag, None) for tag in tags]}


@route("GET", "/tags/{tag_id}")
def get_tag(db: Any, request: Request, tag_id: str) -> Record:
    tag = find_tag(db, tag_id)
    return {"type": "tag", "id": tag["id"], "name": tag["name"]}


@route("DELETE", "/tags/{tag_id}")
def delete_tag(db: Any, request: Request, tag_id: str) -> None:
    tag = find_tag(db, tag_id)
    db.execute("DELETE FROM tags WHERE id = ?", (int(tag["id"]),))
    db.execute("DELETE FROM contact_tags WHERE tag_id = ?", (tag["id"],))
    db.execute("DELETE FROM company_tags WHERE tag_id = ?", (tag["id"],))
    return None
