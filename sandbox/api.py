"""What every route of the sandbox shares: the request, Intercom's error answer, the route
registry, paging and cursors, and the lookups routes use to find each other's objects."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from intercom_connector.sandbox.search import Fields, SearchError, compile_query, sort_key
from intercom_connector.sandbox.store import Record, Store
from intercom_connector.sandbox.workspace import Workspace


class ApiError(Exception):
    """An answer in Intercom's ``error.list`` shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    #: scheme and host the request came to, for the links an answer gives
    root: str = ""
    #: the workspace's clock, timezone and search index
    workspace: Workspace = field(default_factory=Workspace)
    #: the webhook notifications (topic, object) the request's changes make, sent once
    #: its transaction is committed
    notifications: list[tuple[str, Record]] = field(default_factory=list)

    def now(self) -> int:
        """The workspace's clock, in unix seconds: the time every change is stamped with."""
        return self.workspace.now()

    def notify(self, topic: str, item: Record) -> None:
        """Note a webhook notification of ``topic`` about ``item`` (as rendered)."""
        self.notifications.append((topic, item))

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "parameter_invalid", f"{name} must be an integer", name) from None
        if not low <= value <= high:
            message = f"{name} must be between {low} and {high}"
            raise ApiError(400, "parameter_invalid", message, name)
        return value

    def boolean(self, name: str) -> bool:
        raw = (self.arg(name) or "false").lower()
        if raw not in ("true", "false"):
            raise ApiError(400, "parameter_invalid", f"{name} must be true or false", name)
        return raw == "true"

    def json_object(self) -> Record:
        """The JSON body, which must be an object (none: an empty one)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "parameter_invalid", "the body must be a JSON object")
        return self.body


@dataclass(frozen=True)
class Answer:
    """A success other than 200 OK, such as 202 Accepted with no body."""

    status: int
    body: Any = None


Handler = Callable[..., Any]
Route = tuple[str, re.Pattern[str], Handler]


class Routes:
    """One resource's routes: ``@route("GET", "/contacts/{contact_id}")`` registers a
    handler, called as ``handler(db, request, contact_id=...)`` in a transaction."""

    def __init__(self) -> None:
        self.table: list[Route] = []

    def __call__(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            compiled = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
            self.table.append((method, compiled, function))
            return function

        return register


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor") from None


def paging(page: int, per_page: int, total: int, next_cursor: str | None) -> Record:
    """A list answer's ``pages`` object."""
    pages: Record = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(total / per_page)),
    }
    if next_cursor:
        pages["next"] = {"per_page": per_page, "starting_after": next_cursor}
    return pages


def id_number(text: str) -> int:
    """A numeric id's value; -1 (found nowhere) for anything else, or too long to be one."""
    return int(text) if text.isdigit() and len(text) <= 18 else -1


def new_id(kind: str) -> str:
    return hashlib.sha1(f"{kind}-{uuid.uuid4()}".encode()).hexdigest()[:24]


# -- the objects routes refer to by id, with Intercom's answer when there is none ----------


def find_contact(db: Any, contact_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM contacts WHERE id = ?", contact_id)
    if found is None:
        raise ApiError(404, "not_found", "User Not Found")
    return found


def find_company(db: Any, company_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM companies WHERE id = ?", company_id)
    if found is None:
        raise ApiError(404, "company_not_found", "Company Not Found")
    return found


def find_tag(db: Any, tag_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM tags WHERE id = ?", id_number(tag_id))
    if found is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return found


def search_answer(
    request: Request,
    views: list[Record],
    fields: Fields,
    list_type: str,
    *,
    default_sort: str = "created_at",
    page_max: int = 150,
) -> tuple[list[Record], Record]:
    """A search of ``views`` (each a record as the search sees it, on ``fields``) for a
    search endpoint other than contacts': the page's views, and the answer around them
    (its records to fill). Only what the workspace's search index shows yet is found;
    dates compare by day in the workspace's timezone. Records with the same sort value keep
    the order of ``views``."""
    body = request.json_object()
    if "query" not in body:
        raise ApiError(400, "parameter_not_found", "query is required", "query")
    sort: Record = body["sort"] if isinstance(body.get("sort"), dict) else {}
    order = sort.get("order", "descending")
    if order not in ("ascending", "descending"):
        message = f"Invalid sort order '{order}'. Must be one of: ascending, descending"
        raise ApiError(400, "invalid_sort_order", message)
    try:
        matches = compile_query(body["query"], fields=fields, zone=request.workspace.clock.zone)
        key = sort_key(sort.get("field", default_sort), fields)
    except SearchError as error:
        raise ApiError(400, error.code, error.message) from None
    pagination: Record = body["pagination"] if isinstance(body.get("pagination"), dict) else {}
    per_page = pagination.get("per_page", 20)
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= page_max:
        raise ApiError(400, "parameter_invalid", f"per_page must be between 1 and {page_max}")
    cursor = pagination.get("starting_after")
    offset = decode_cursor(cursor) if cursor else 0
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor")
    found = [view for view in views if request.workspace.searchable(view) and matches(view)]
    # sorted() keeps ties in the order of ``views``; no value sorts last whatever the order
    present = sorted((v for v in found if not key(v)[0]), key=key, reverse=order == "descending")
    ordered = present + [v for v in found if key(v)[0]]
    window = ordered[offset : offset + per_page]
    more = offset + per_page < len(ordered)
    next_cursor = encode_cursor(offset + per_page) if more else None
    answer = {
        "type": list_type,
        "total_count": len(ordered),
        "pages": paging(offset // per_page + 1, per_page, len(ordered), next_cursor),
    }
    return window, answer
