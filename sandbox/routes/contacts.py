"""Contacts: create, read, update, delete, archive, list by cursor, search, the companies
and tags attached to them (attach, detach, list), finding a user by external id, merging a
lead into a user, and blocking."""

from __future__ import annotations

import json
import math
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    decode_cursor,
    encode_cursor,
    find_company,
    find_contact,
    find_tag,
    new_id,
    paging,
)
from intercom_connector.sandbox.routes.data_attributes import check_custom_attributes
from intercom_connector.sandbox.search import SearchError, compile_query, sort_key
from intercom_connector.sandbox.segment_rules import with_segment_ids
from intercom_connector.sandbox.store import Record, Store

CONTACT_PAGE_MAX = 150

route = Routes()


_CONTACT_FIELDS = {
    "role": str, "external_id": str, "email": str, "phone": str, "name": str, "avatar": str,
    "signed_up_at": int, "last_seen_at": int, "owner_id": str,
    "unsubscribed_from_emails": bool, "custom_attributes": dict, "email_verified": bool,
}  # fmt: skip


def _contact_changes(body: Record) -> Record:
    changes: Record = {}
    for key, value in body.items():
        kind = _CONTACT_FIELDS.get(key)
        if kind is None:
            continue  # Intercom ignores fields it does not know
        if (value is not None and not isinstance(value, kind)) or (
            isinstance(value, bool) and kind is int
        ):
            raise ApiError(400, "parameter_invalid", f"{key} must be a {kind.__name__}", key)
        changes[key] = value
    if changes.get("role") not in (None, "user", "lead"):
        raise ApiError(400, "parameter_invalid", "role must be user or lead", "role")
    if changes.get("email"):
        changes["email"] = changes["email"].strip().lower()
    return changes


def _conflict(db: Any, changes: Record, own_id: str | None = None) -> None:
    for column in ("email", "external_id"):
        value = changes.get(column)
        if not value:
            continue
        sql = f"SELECT id FROM contacts WHERE {column} = ? AND id != ?"
        if column == "email":
            sql += " AND role = ?"
            existing = Store.scalar(db, sql, value, own_id or "", changes.get("role") or "user")
        else:
            existing = Store.scalar(db, sql, value, own_id or "")
        if existing:
            raise ApiError(
                409,
                "conflict",
                f"A contact matching those details already exists with id={existing}",
            )


@route("POST", "/contacts")
def create_contact(db: Any, request: Request) -> Record:
    changes = _contact_changes(request.json_object())
    if not any(changes.get(key) for key in ("email", "external_id", "role")):
        raise ApiError(400, "parameter_not_found", "email, external_id or role is required")
    changes.setdefault("role", "user")
    check_custom_attributes(db, "contact", changes)
    _conflict(db, changes)
    contact = records.new_contact(new_id("contact"), changes, request.now())
    records.save_contact(db, contact)
    shown = records.render_contact(db, contact)
    request.notify(f"contact.{contact['role']}.created", shown)
    return shown


@route("GET", "/contacts/{contact_id}")
def get_contact(db: Any, request: Request, contact_id: str) -> Record:
    return records.render_contact(db, find_contact(db, contact_id))


@route("PUT", "/contacts/{contact_id}")
def update_contact(db: Any, request: Request, contact_id: str) -> Record:
    contact = find_contact(db, contact_id)
    changes = _contact_changes(request.json_object())
    if "email_verified" in changes and "email" not in changes:
        raise ApiError(400, "parameter_invalid", "email_verified needs email", "email_verified")
    check_custom_attributes(db, "contact", changes)
    _conflict(db, {**changes, "role": changes.get("role", contact["role"])}, contact_id)
    contact = records.apply_contact_changes(contact, changes, request.now())
    records.save_contact(db, contact)
    shown = records.render_contact(db, contact)
    request.notify(f"contact.{contact['role']}.updated", shown)
    return shown


@route("DELETE", "/contacts/{contact_id}")
def delete_contact(db: Any, request: Request, contact_id: str) -> Record:
    contact = find_contact(db, contact_id)
    db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
    db.execute("DELETE FROM contact_companies WHERE contact_id = ?", (contact_id,))
    db.execute("DELETE FROM contact_tags WHERE contact_id = ?", (contact_id,))
    for table in ("notes", "events", "contact_subscriptions"):
        db.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))
    gone = {"type": "contact", "id": contact_id, "external_id": contact.get("external_id")}
    request.notify("contact.deleted", gone)  # *.deleted topics carry the identifying fields
    return {**gone, "deleted": True}


def _set_archived(db: Any, contact_id: str, archived: bool) -> Record:
    contact = find_contact(db, contact_id)
    contact["archived"] = archived
    records.save_contact(db, contact)
    return {"type": "contact", "id": contact_id, "external_id": contact.get("external_id"),
            "archived": archived}  # fmt: skip


@route("POST", "/contacts/{contact_id}/archive")
def archive_contact(db: Any, request: Request, contact_id: str) -> Record:
    return _set_archived(db, contact_id, True)


@route("POST", "/contacts/{contact_id}/unarchive")
def unarchive_contact(db: Any, request: Request, contact_id: str) -> Record:
    return _set_archived(db, contact_id, False)


@route("GET", "/contacts")
def list_contacts(db: Any, request: Request) -> Record:
    per_page = request.integer("per_page", 50, 1, CONTACT_PAGE_MAX)
    cursor = request.arg("starting_after")
    after = decode_cursor(cursor) if cursor else None
    if after is not None and not isinstance(after, int):
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor")
    total = Store.scalar(db, "SELECT COUNT(*) FROM contacts WHERE archived = 0")
    bound = after if after is not None else 2**62
    rows = db.execute(
        "SELECT seq, body FROM contacts WHERE archived = 0 AND seq < ? ORDER BY seq DESC LIMIT ?",
        (bound, per_page + 1),
    ).fetchall()
    before = Store.scalar(
        db, "SELECT COUNT(*) FROM contacts WHERE archived = 0 AND seq >= ?", bound
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    contacts = records.render_contacts(db, [json.loads(body) for _, body in rows])
    next_cursor = encode_cursor(rows[-1][0]) if more and rows else None
    return {
        "type": "list",
        "data": contacts,
        "total_count": total,
        "pages": paging(before // per_page + 1, per_page, total, next_cursor),
    }


@route("POST", "/contacts/search")
def search_contacts(db: Any, request: Request) -> Record:
    body = request.json_object()
    if "query" not in body:
        raise ApiError(400, "parameter_not_found", "query is required", "query")
    try:
        matches = compile_query(body["query"], zone=request.workspace.clock.zone)
        sort = body.get("sort") or {}
        field = sort.get("field", "created_at") if isinstance(sort, dict) else "created_at"
        key = sort_key(field)
    except SearchError as error:
        raise ApiError(400, error.code, error.message) from None
    order = sort.get("order", "descending") if isinstance(sort, dict) else "descending"
    if order not in ("ascending", "descending"):
        message = f"Invalid sort order '{order}'. Must be one of: ascending, descending"
        raise ApiError(400, "invalid_sort_order", message)
    pagination = body.get("pagination") or {}
    per_page = pagination.get("per_page", 50) if isinstance(pagination, dict) else 50
    if not isinstance(per_page, int) or not 1 <= per_page <= CONTACT_PAGE_MAX:
        raise ApiError(400, "parameter_invalid", "per_page must be between 1 and 150")
    cursor = pagination.get("starting_after") if isinstance(pagination, dict) else None
    offset = decode_cursor(cursor) if cursor else 0
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor")
    views = records.search_views(db)
    if "segment_id" in json.dumps(body["query"]):
        with_segment_ids(db, views)  # only then: a segment's rule is a search of its own
    found = [view for view in views if request.workspace.searchable(view) and matches(view)]
    present = sorted((v for v in found if key(v)[0] is False), key=key)
    if order == "descending":
        present.reverse()
    ordered = present + [v for v in found if key(v)[0] is True]
    window = ordered[offset : offset + per_page]
    more = offset + per_page < len(ordered)
    contacts = records.render_contacts(db, [view["_record"] for view in window])
    return {
        "type": "list",
        "data": contacts,
        "total_count": len(ordered),
        "pages": paging(
            offset // per_page + 1,
            per_page,
            len(ordered),
            encode_cursor(offset + per_page) if more else None,
        ),
    }


@route("POST", "/contacts/{contact_id}/companies")
def attach_company(db: Any, request: Request, contact_id: str) -> Record:
    company_id = request.json_object().get("id")
    find_contact(db, contact_id)
    if not company_id:
        raise ApiError(400, "parameter_not_found", "company not specified")
    company = find_company(db, str(company_id))
    count = Store.scalar(
        db, "SELECT COUNT(*) FROM contact_companies WHERE contact_id = ?", contact_id
    )
    if count >= 1000:
        message = "Contact has reached the maximum of 1000 company associations"
        raise ApiError(400, "contact_company_limit_exceeded", message)
    db.execute(
        "INSERT OR IGNORE INTO contact_companies (contact_id, company_id) VALUES (?, ?)",
        (contact_id, company["id"]),
    )
    return records.render_company(db, company)


@route("DELETE", "/contacts/{contact_id}/companies/{company_id}")
def detach_company(db: Any, request: Request, contact_id: str, company_id: str) -> Record:
    find_contact(db, contact_id)
    company = find_company(db, company_id)
    db.execute(
        "DELETE FROM contact_companies WHERE contact_id = ? AND company_id = ?",
        (contact_id, company_id),
    )
    return records.render_company(db, company)


@route("POST", "/contacts/{contact_id}/tags")
def attach_tag(db: Any, request: Request, contact_id: str) -> Record:
    tag_id = request.json_object().get("id")
    find_contact(db, contact_id)
    if not tag_id:
        raise ApiError(400, "parameter_not_found", "tag not specified")
    tag = find_tag(db, str(tag_id))
    now = request.now()
    db.execute(
        "INSERT OR IGNORE INTO contact_tags (contact_id, tag_id, applied_at) VALUES (?, ?, ?)",
        (contact_id, tag["id"], now),
    )
    applied = Store.scalar(
        db, "SELECT applied_at FROM contact_tags WHERE contact_id = ? AND tag_id = ?",
        contact_id, tag["id"],
    )  # fmt: skip
    return records.applied_tag(tag, applied)


@route("DELETE", "/contacts/{contact_id}/tags/{tag_id}")
def detach_tag(db: Any, request: Request, contact_id: str, tag_id: str) -> Record:
    find_contact(db, contact_id)
    tag = find_tag(db, tag_id)
    db.execute(
        "DELETE FROM contact_tags WHERE contact_id = ? AND tag_id = ?", (contact_id, tag["id"])
    )
    return records.applied_tag(tag, None)


@route("GET", "/contacts/{contact_id}/tags")
def tags_of_contact(db: Any, request: Request, contact_id: str) -> Record:
    find_contact(db, contact_id)
    rows = db.execute(
        "SELECT t.body, ct.applied_at FROM contact_tags ct "
        "JOIN tags t ON CAST(t.id AS TEXT) = ct.tag_id "
        "WHERE ct.contact_id = ? ORDER BY ct.applied_at, t.id",
        (contact_id,),
    ).fetchall()
    return {"type": "list", "data": [records.applied_tag(json.loads(b), at) for b, at in rows]}


@route("GET", "/contacts/{contact_id}/companies")
def companies_of_contact(db: Any, request: Request, contact_id: str) -> Record:
    find_contact(db, contact_id)
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 50, 1, CONTACT_PAGE_MAX)
    where = "FROM companies c JOIN contact_companies cc ON cc.company_id = c.id"
    total = Store.scalar(db, f"SELECT COUNT(*) {where} WHERE cc.contact_id = ?", contact_id)
    companies = Store.many(
        db, f"SELECT c.body {where} WHERE cc.contact_id = ? ORDER BY c.seq LIMIT ? OFFSET ?",
        contact_id, per_page, (page - 1) * per_page,
    )  # fmt: skip
    total_pages = max(1, math.ceil(total / per_page))
    following = (
        f"{request.root}/contacts/{contact_id}/companies?page={page + 1}&per_page={per_page}"
    )
    return {
        "type": "list",
        "data": [records.render_company(db, company) for company in companies],
        "total_count": total,
        "pages": {
            "type": "pages",
            "next": following if page < total_pages else None,
            "page": page,
            "per_page": per_page,
            "total_pages": total_pages,
        },
    }


@route("GET", "/contacts/find_by_external_id/{external_id}")
def find_by_external_id(db: Any, request: Request, external_id: str) -> Record:
    found = Store.one(
        db, "SELECT body FROM contacts WHERE external_id = ? AND role = 'user'", external_id
    )
    if found is None:
        raise ApiError(404, "not_found", "User Not Found")
    return records.render_contact(db, found)


def _duplicates(lead: Record, user: Record) -> bool:
    return any(lead.get(key) and lead.get(key) == user.get(key) for key in ("email", "phone"))


#: what a merge gives the user of the lead's: tags, companies, choices, notes, events
_MOVED = (
    "INSERT OR IGNORE INTO contact_tags (contact_id, tag_id, applied_at) "
    "SELECT ?1, tag_id, applied_at FROM contact_tags WHERE contact_id = ?2",
    "INSERT OR IGNORE INTO contact_companies (contact_id, company_id) "
    "SELECT ?1, company_id FROM contact_companies WHERE contact_id = ?2",
    "INSERT OR IGNORE INTO contact_subscriptions (contact_id, subscription_type_id) "
    "SELECT ?1, subscription_type_id FROM contact_subscriptions WHERE contact_id = ?2",
    "UPDATE notes SET contact_id = ?1 WHERE contact_id = ?2",
    "UPDATE OR IGNORE events SET contact_id = ?1 WHERE contact_id = ?2",
)


@route("POST", "/contacts/merge")
def merge_contacts(db: Any, request: Request) -> Record:
    body = request.json_object()
    for key in ("from", "into"):
        if not isinstance(body.get(key), str):
            raise ApiError(400, "parameter_not_found", f"{key} is required", key)
    lead, user = find_contact(db, body["from"]), find_contact(db, body["into"])
    if lead["role"] != "lead" or user["role"] != "user":
        message = "only a lead (from) can be merged into a user (into)"
        raise ApiError(400, "invalid_merge", message)
    if body.get("skip_duplicate_validation") is not True and not _duplicates(lead, user):
        message = (
            "Contacts can only be merged when they are duplicates (matching email or phone). "
            "Pass skip_duplicate_validation=true to override"
        )
        raise ApiError(400, "invalid_merge", message)
    for sql in _MOVED:
        db.execute(sql, (user["id"], lead["id"]))
    for table in ("contact_tags", "contact_companies", "contact_subscriptions", "events"):
        db.execute(f"DELETE FROM {table} WHERE contact_id = ?", (lead["id"],))
    missing = {k: v for k, v in lead.items() if k in _CONTACT_FIELDS and v and not user.get(k)}
    missing.pop("role", None)
    merged = records.apply_contact_changes(user, missing, request.now())
    records.save_contact(db, merged)
    db.execute("DELETE FROM contacts WHERE id = ?", (lead["id"],))
    shown = records.render_contact(db, merged)
    request.notify("contact.user.updated", shown)
    return shown


@route("POST", "/contacts/{contact_id}/block")
def block_contact(db: Any, request: Request, contact_id: str) -> Record:
    contact = find_contact(db, contact_id)
    contact["blocked"] = True
    records.save_contact(db, contact)
    return {"type": "contact", "id": contact_id, "external_id": contact.get("external_id"),
            "blocked": True}  # fmt: skip
