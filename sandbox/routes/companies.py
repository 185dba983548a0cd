"""Companies: create-or-update by ``company_id``, read, update, delete, list by page
number (filtered or sorted), the scroll API, and the contacts attached to one."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes, find_company, new_id, paging
from intercom_connector.sandbox.routes.data_attributes import check_custom_attributes
from intercom_connector.sandbox.segment_rules import company_segments
from intercom_connector.sandbox.store import Record, Store

COMPANY_PAGE_MAX = 60
COMPANY_PAGED_LIMIT = 10_000
SCROLL_TTL = 60.0

route = Routes()


_COMPANY_FIELDS = {
    "company_id": str, "name": str, "plan": str, "website": str, "industry": str,
    "size": int, "monthly_spend": int, "remote_created_at": int,
    "update_last_request_at": bool, "custom_attributes": dict,
}  # fmt: skip


def _company_changes(body: Record, allowed: set[str]) -> Record:
    changes: Record = {}
    for key, value in body.items():
        kind = _COMPANY_FIELDS.get(key)
        if kind is None or key not in allowed:
            continue
        wrong_type = value is not None and not isinstance(value, kind)
        if wrong_type or (isinstance(value, bool) and kind is int):
            raise ApiError(400, "bad_request", f"bad '{key}' parameter", key)
        changes[key] = value
    attributes = changes.get("custom_attributes") or {}
    if any(not isinstance(v, str) for v in attributes.values()):
        raise ApiError(400, "bad_request", "custom_attributes values must be strings")
    if not 0 <= (changes.get("monthly_spend") or 0) <= 2**31 - 1:
        raise ApiError(400, "bad_request", "bad 'monthly_spend' parameter", "monthly_spend")
    return changes


@route("POST", "/companies")
def create_or_update_company(db: Any, request: Request) -> Record:
    changes = _company_changes(request.json_object(), set(_COMPANY_FIELDS))
    check_custom_attributes(db, "company", changes)
    now = int(time.time())
    key = changes.get("company_id")
    existing = key and Store.one(db, "SELECT body FROM companies WHERE company_id = ?", key)
    if existing:
        company = records.apply_company_changes(existing, changes, now)
    else:
        company = records.new_company(new_id("company"), changes, now)
    records.save_company(db, company)
    return records.render_company(db, company)


@route("GET", "/companies/{company_id}")
def get_company(db: Any, request: Request, company_id: str) -> Record:
    return records.render_company(db, find_company(db, company_id))


@route("PUT", "/companies/{company_id}")
def update_company(db: Any, request: Request, company_id: str) -> Record:
    company = find_company(db, company_id)
    allowed = set(_COMPANY_FIELDS) - {"company_id", "update_last_request_at"}
    changes = _company_changes(request.json_object(), allowed)
    check_custom_attributes(db, "company", changes)
    company = records.apply_company_changes(company, changes, int(time.time()))
    records.save_company(db, company)
    return records.render_company(db, company)


@route("DELETE", "/companies/{company_id}")
def delete_company(db: Any, request: Request, company_id: str) -> Record:
    find_company(db, company_id)
    db.execute("DELETE FROM companies WHERE id = ?", (company_id,))
    db.execute("DELETE FROM contact_companies WHERE company_id = ?", (company_id,))
    db.execute("DELETE FROM company_tags WHERE company_id = ?", (company_id,))
    return {"id": company_id, "object": "company", "deleted": True}


def _company_page(
    db: Any, where: str, args: tuple[Any, ...], request: Request, order: str
) -> Record:
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 15, 1, COMPANY_PAGE_MAX)
    total = Store.scalar(db, f"SELECT COUNT(*) FROM companies c WHERE {where}", *args)
    if page * per_page > COMPANY_PAGED_LIMIT + per_page:
        raise ApiError(400, "parameter_invalid", "use the scroll API beyond 10,000 companies")
    direction = "DESC" if order == "desc" else "ASC"
    companies = Store.many(
        db,
        f"SELECT body FROM companies c WHERE {where} ORDER BY seq {direction} LIMIT ? OFFSET ?",
        *args, per_page, (page - 1) * per_page,
    )  # fmt: skip
    return {
        "type": "list",
        "data": [records.render_company(db, company) for company in companies],
        "total_count": total,
        "pages": paging(page, per_page, total, None),
    }


def _segment_members(db: Any, segment_id: str) -> str:
    """The ids of the companies a company segment holds, as a JSON list (none: unknown)."""
    rules = [holds for segment, holds in company_segments(db) if segment["id"] == segment_id]
    companies = Store.many(db, "SELECT body FROM companies") if rules else []
    return json.dumps([c["id"] for c in companies if any(holds(c) for holds in rules)])


@route("GET", "/companies")
def retrieve_companies(db: Any, request: Request) -> Record:
    clauses, args = ["1 = 1"], []
    for name, clause in (
        ("name", "c.name = ?"),
        ("company_id", "c.company_id = ?"),
        ("tag_id", "c.id IN (SELECT company_id FROM company_tags WHERE tag_id = ?)"),
        ("segment_id", "c.id IN (SELECT value FROM json_each(?))"),
    ):
        value = request.arg(name)
        if value:
            clauses.append(clause)
            args.append(_segment_members(db, value) if name == "segment_id" else value)
    result = _company_page(db, " AND ".join(clauses), tuple(args), request, "desc")
    if not result["data"] and (request.arg("name") or request.arg("company_id")):
        raise ApiError(404, "company_not_found", "Company Not Found")
    return result


@route("POST", "/companies/list")
def list_companies(db: Any, request: Request) -> Record:
    order = request.arg("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "parameter_invalid", "order must be asc or desc", "order")
    return _company_page(db, "1 = 1", (), request, order)


@route("GET", "/companies/scroll")
def scroll_companies(db: Any, request: Request) -> Record:
    now = time.time()
    state = json.loads(Store.meta(db, "scroll") or "null")
    if state and now - state["used"] > SCROLL_TTL:
        state = None
    given = request.arg("scroll_param")
    if given:
        if not state or state["param"] != given:
            raise ApiError(400, "scroll_parameter_invalid", "scroll_param is expired or unknown")
        after = state["after"]
    else:
        if state and not state.get("done"):
            raise ApiError(400, "scroll_exists", "a scroll is already open for this app")
        after = 2**62
    rows = db.execute(
        "SELECT seq, body FROM companies WHERE seq < ? ORDER BY seq DESC LIMIT 50", (after,)
    ).fetchall()
    param = str(uuid.uuid4())
    done = not rows
    Store.set_meta(db, "scroll", json.dumps(
        {"param": param, "after": rows[-1][0] if rows else after, "used": now, "done": done}
    ))  # fmt: skip
    total = Store.scalar(db, "SELECT COUNT(*) FROM companies")
    return {
        "type": "list",
        "data": [records.render_company(db, json.loads(body)) for _, body in rows],
        "pages": None,
        "total_count": total,
        "scroll_param": param,
    }


@route("GET", "/companies/{company_id}/contacts")
def contacts_of_company(db: Any, request: Request, company_id: str) -> Record:
    find_company(db, company_id)
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 50, 1, COMPANY_PAGE_MAX)
    where = "FROM contacts c JOIN contact_companies cc ON cc.contact_id = c.id"
    total = Store.scalar(db, f"SELECT COUNT(*) {where} WHERE cc.company_id = ?", company_id)
    contacts = Store.many(
        db, f"SELECT c.body {where} WHERE cc.company_id = ? ORDER BY c.seq LIMIT ? OFFSET ?",
        company_id, per_page, (page - 1) * per_page,
    )  # fmt: skip
    return {
        "type": "list",
        "data": records.render_contacts(db, contacts),
        "total_count": total,
        "pages": paging(page, per_page, total, None),
    }
