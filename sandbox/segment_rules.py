"""Segments are rules, as in Intercom: a segment holds the contacts (or the companies) its
rule matches now, so what it holds follows every change to them. A contact segment's rule
is a query of the search language; a company segment's rule compares one field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from intercom_connector.sandbox.search import Predicate, compile_query, value_of
from intercom_connector.sandbox.store import Record

CompanyRule = Callable[[Record], bool]


def contact_segments(db: Any) -> list[tuple[Record, Predicate]]:
    """Each contact segment with the test of its rule (on a contact's search view)."""
    rows = db.execute("SELECT body, rule FROM segments WHERE model = 'contact' ORDER BY rowid")
    return [(json.loads(body), compile_query(json.loads(rule))) for body, rule in rows]


def company_segments(db: Any) -> list[tuple[Record, CompanyRule]]:
    """Each company segment with the test of its rule (on a stored company)."""
    rows = db.execute("SELECT body, rule FROM segments WHERE model = 'company' ORDER BY rowid")
    return [(json.loads(body), _company_rule(json.loads(rule))) for body, rule in rows]


def _company_rule(rule: Record) -> CompanyRule:
    field, operator, expected = rule["field"], rule["operator"], rule["value"]

    def holds(company: Record) -> bool:
        actual = value_of(company, field)
        if operator == ">":
            number = isinstance(actual, int | float) and not isinstance(actual, bool)
            return number and actual > expected
        return bool(actual == expected)

    return holds


def with_segment_ids(db: Any, views: list[Record]) -> list[Record]:
    """The views with the ids of the segments holding each (``segment_id`` in a search)."""
    segments = contact_segments(db)
    for view in views:
        view["segment_ids"] = [segment["id"] for segment, holds in segments if holds(view)]
    return views
