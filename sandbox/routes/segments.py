"""Segments: the contacts or companies a segment's rule holds now (see segment_rules), and
the segments holding one contact or one company."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes, find_company, find_contact
from intercom_connector.sandbox.segment_rules import company_segments, contact_segments
from intercom_connector.sandbox.store import Record, Store

route = Routes()


def _counts(db: Any) -> dict[str, int]:
    """How many contacts (unarchived) or companies each segment holds."""
    counts = {}
    views = records.search_views(db)
    for segment, holds in contact_segments(db):
        counts[segment["id"]] = sum(1 for view in views if holds(view))
    companies = Store.many(db, "SELECT body FROM companies")
    for segment, holds_company in company_segments(db):
        counts[segment["id"]] = sum(1 for company in companies if holds_company(company))
    return counts


@route("GET", "/segments")
def list_segments(db: Any, request: Request) -> Record:
    segments = Store.many(db, "SELECT body FROM segments ORDER BY rowid")
    if request.boolean("include_count"):
        counts = _counts(db)
        segments = [{**segment, "count": counts[segment["id"]]} for segment in segments]
    return {"type": "segment.list", "segments": segments}


@route("GET", "/segments/{segment_id}")
def get_segment(db: Any, request: Request, segment_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM segments WHERE id = ?", segment_id)
    if found is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return found


@route("GET", "/contacts/{contact_id}/segments")
def segments_of_contact(db: Any, request: Request, contact_id: str) -> Record:
    view = records.search_view(db, find_contact(db, contact_id))
    held = [segment for segment, holds in contact_segments(db) if holds(view)]
    return {"type": "list", "data": held}


@route("GET", "/companies/{company_id}/segments")
def segments_of_company(db: Any, request: Request, company_id: str) -> Record:
    company = find_company(db, company_id)
    held = [segment for segment, holds in company_segments(db) if holds(company)]
    return {"type": "list", "data": held}
