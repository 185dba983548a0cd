"""The sandbox as a WSGI application: Intercom's REST API (2.16), the part the connector uses.

Written from Intercom's API description, not from the connector's client: it imports
nothing of the connector, so a mistake in one cannot be mirrored in the other.
Everything Intercom does around a request is here too: Bearer auth (401 ``unauthorized``),
``X-RateLimit-*`` headers and 429 ``rate_limit_exceeded``, ``error.list`` bodies, the
``Intercom-Version`` header, and an optional fault mode for reliability tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from intercom_connector.sandbox import oauth, records
from intercom_connector.sandbox.search import SearchError, compile_query, sort_key
from intercom_connector.sandbox.store import Record, Store, dumps

VERSIONS = {f"1.{n}" for n in range(5)} | {f"2.{n}" for n in range(17)}
CONTACT_PAGE_MAX = 150
COMPANY_PAGE_MAX = 60
COMPANY_PAGED_LIMIT = 10_000
SCROLL_TTL = 60.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]


class ApiError(Exception):
    """An answer in Intercom's ``error.list`` shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class DroppedConnection(Exception):
    """Fault mode: the connection goes away without a complete answer."""


@dataclass
class Faults:
    """What fraction of authenticated requests misbehave, and how."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    #: of the drops, the fraction that happen after the request was processed
    drop_after_processing: float = 0.5
    latency: float | tuple[float, float] = 0.0
    seed: int | None = None
    #: the Retry-After (whole seconds) of a fault-mode 429
    retry_after: int = 1


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any

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


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


def _route(method: str, pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        compiled = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        _ROUTES.append((method, compiled, function))
        return function

    return register


_ROUTES: list[Route] = []


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor") from None


def _pages(page: int, per_page: int, total: int, next_cursor: str | None) -> Record:
    pages: Record = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(total / per_page)),
    }
    if next_cursor:
        pages["next"] = {"per_page": per_page, "starting_after": next_cursor}
    return pages


class SandboxApp:
    """The WSGI callable. One instance serves many threads; state lives in the Store."""

    def __init__(
        self,
        store: Store,
        *,
        token: str,
        rate_limit: int | None = None,
        rate_window: float = 10.0,
        faults: Faults | None = None,
        oauth_clients: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.oauth_server = oauth.IntercomOAuthServer(store, oauth_clients or oauth.DEFAULT_CLIENTS)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._window_start = 0.0
        self._window_count = 0

    # -- the WSGI entry point -----------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        headers = [("X-Request-Id", request_id)]
        if environ.get("PATH_INFO") in (oauth.AUTHORIZE_PATH, oauth.TOKEN_PATH):
            return self._oauth(environ, start_response, headers)
        try:
            request = self._request(environ)
            self._authenticate(environ)
            headers += self._rate_headers()
            self._inject_faults(before=True)
            status, body = self._dispatch(request)
            self._inject_faults(before=False)
        except DroppedConnection:
            return _dropped(start_response)
        except ApiError as error:
            headers += rate_limit_headers(error)
            status = error.status
            item: Record = {"code": error.code, "message": error.message}
            if error.field:
                item["field"] = error.field
            body = {"type": "error.list", "request_id": request_id, "errors": [item]}
        content = b"" if body is None else json.dumps(body).encode()
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [content]

    def _oauth(
        self, environ: Environ, start_response: StartResponse, headers: list[tuple[str, str]]
    ) -> Iterable[bytes]:
        status, body, extra = oauth.handle(self.oauth_server, environ, _read_body(environ))
        content = oauth.to_bytes(body)
        headers = [*headers, *extra, ("Content-Length", str(len(content)))]
        if content and not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [content]

    def _request(self, environ: Environ) -> Request:
        raw = _read_body(environ)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(400, "parameter_invalid", "the body is not valid JSON") from None
        path = environ.get("PATH_INFO", "/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return Request(environ["REQUEST_METHOD"], path, query, body)

    def _authenticate(self, environ: Environ) -> None:
        given = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = given.partition(" ")
        known = secrets.compare_digest(token.encode(), self.token.encode()) or (
            token.startswith("sbx_") and oauth.issued(self.store, token)
        )
        if scheme != "Bearer" or not known:
            raise ApiError(401, "unauthorized", "Access Token Invalid")
        version = environ.get("HTTP_INTERCOM_VERSION")
        if version is not None and version not in VERSIONS:
            raise ApiError(
                400, "intercom_version_invalid", f"Intercom-Version {version!r} is invalid"
            )

    def _rate_headers(self) -> list[tuple[str, str]]:
        with self._lock:
            now = time.time()
            if now - self._window_start >= self.rate_window:
                self._window_start = now - (now % self.rate_window)
                self._window_count = 0
            limit = self.rate_limit if self.rate_limit is not None else 10_000
            self._window_count += 1
            remaining = max(0, limit - self._window_count)
            reset = math.ceil(self._window_start + self.rate_window)
            headers = [
                ("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(reset)),
            ]
            if self.rate_limit is not None and self._window_count > limit:
                retry_after = max(1, math.ceil(reset - now))
                raise _RateLimited([*headers, ("Retry-After", str(retry_after))], limit)
        return headers

    def _inject_faults(self, *, before: bool) -> None:
        faults = self.faults
        with self._lock:
            draw = self._random.random()
            second = self._random.random()
            latency = (
                self._random.uniform(*faults.latency)
                if isinstance(faults.latency, tuple)
                else faults.latency
            )
        if before and latency:
            time.sleep(latency)
        drop_now = second < faults.drop_after_processing
        if draw < faults.drop_rate:
            if before != drop_now:
                raise DroppedConnection()
            return
        if not before:
            return
        draw -= faults.drop_rate
        if draw < faults.error_rate:
            status = 500 if second < 0.5 else 503
            raise ApiError(status, "server_error" if status == 500 else "service_unavailable",
                           "Sandbox fault mode: the server failed")  # fmt: skip
        draw -= faults.error_rate
        if draw < faults.rate_limit_rate:
            headers = [("Retry-After", str(faults.retry_after))]
            raise _RateLimited(headers, self.rate_limit or 10_000)

    def _dispatch(self, request: Request) -> tuple[int, Any]:
        # Literal routes (/companies/scroll) before templated ones (/companies/{id}).
        for method, pattern, handler in sorted(_ROUTES, key=lambda route: route[1].groups):
            match = pattern.match(request.path)
            if match and method == request.method:
                with self.store.transaction() as db:
                    return 200, handler(self, db, request, **match.groupdict())
        raise ApiError(404, "not_found", f"{request.method} {request.path} is not an API route")

    # -- shared lookups ------------------------------------------------------------------

    def contact(self, db: Any, contact_id: str) -> Record:
        found = Store.one(db, "SELECT body FROM contacts WHERE id = ?", contact_id)
        if found is None:
            raise ApiError(404, "not_found", "User Not Found")
        return found

    def company(self, db: Any, company_id: str) -> Record:
        found = Store.one(db, "SELECT body FROM companies WHERE id = ?", company_id)
        if found is None:
            raise ApiError(404, "company_not_found", "Company Not Found")
        return found

    def tag(self, db: Any, tag_id: str) -> Record:
        found = Store.one(db, "SELECT body FROM tags WHERE id = ?", _tag_number(tag_id))
        if found is None:
            raise ApiError(404, "not_found", "Resource Not Found")
        return found


class _RateLimited(ApiError):
    def __init__(self, headers: list[tuple[str, str]], limit: int) -> None:
        super().__init__(
            429, "rate_limit_exceeded", f"Exceeded rate limit of {limit} in 10_seconds"
        )
        self.headers = headers


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _tag_number(tag_id: str) -> int:
    return int(tag_id) if tag_id.isdigit() else -1


def _new_id(kind: str) -> str:
    return hashlib.sha1(f"{kind}-{uuid.uuid4()}".encode()).hexdigest()[:24]


def _body(request: Request) -> Record:
    if request.body is None:
        return {}
    if not isinstance(request.body, dict):
        raise ApiError(400, "parameter_invalid", "the body must be a JSON object")
    return request.body


# -- contacts ---------------------------------------------------------------------------

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


def _check_custom_attributes(db: Any, model: str, changes: Record) -> None:
    """Intercom sets only custom attributes the workspace has (GET /data_attributes)."""
    given = changes.get("custom_attributes") or {}
    if not given:
        return
    known = {
        name for (name,) in db.execute("SELECT name FROM data_attributes WHERE model = ?", (model,))
    }
    for name in given:
        if name not in known:
            raise ApiError(400, "parameter_invalid", f"Custom attribute '{name}' does not exist")


def save_contact(db: Any, contact: Record) -> None:
    db.execute(
        "INSERT OR REPLACE INTO contacts (seq, id, email, external_id, role, archived, body) "
        "VALUES ((SELECT seq FROM contacts WHERE id = ?), ?, ?, ?, ?, ?, ?)",
        (
            contact["id"],
            contact["id"],
            contact.get("email") or None,
            contact.get("external_id"),
            contact["role"],
            int(contact.get("archived", False)),
            dumps(contact),
        ),
    )


@_route("POST", "/contacts")
def create_contact(app: SandboxApp, db: Any, request: Request) -> Record:
    changes = _contact_changes(_body(request))
    if not any(changes.get(key) for key in ("email", "external_id", "role")):
        raise ApiError(400, "parameter_not_found", "email, external_id or role is required")
    changes.setdefault("role", "user")
    _check_custom_attributes(db, "contact", changes)
    _conflict(db, changes)
    contact = records.new_contact(_new_id("contact"), changes, int(time.time()))
    save_contact(db, contact)
    return records.render_contact(db, contact)


@_route("GET", "/contacts/{contact_id}")
def get_contact(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    return records.render_contact(db, app.contact(db, contact_id))


@_route("PUT", "/contacts/{contact_id}")
def update_contact(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    contact = app.contact(db, contact_id)
    changes = _contact_changes(_body(request))
    if "email_verified" in changes and "email" not in changes:
        raise ApiError(400, "parameter_invalid", "email_verified needs email", "email_verified")
    _check_custom_attributes(db, "contact", changes)
    _conflict(db, {**changes, "role": changes.get("role", contact["role"])}, contact_id)
    contact = records.apply_contact_changes(contact, changes, int(time.time()))
    save_contact(db, contact)
    return records.render_contact(db, contact)


@_route("DELETE", "/contacts/{contact_id}")
def delete_contact(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    contact = app.contact(db, contact_id)
    db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
    db.execute("DELETE FROM contact_companies WHERE contact_id = ?", (contact_id,))
    db.execute("DELETE FROM contact_tags WHERE contact_id = ?", (contact_id,))
    return {"type": "contact", "id": contact_id, "external_id": contact.get("external_id"),
            "deleted": True}  # fmt: skip


def _set_archived(app: SandboxApp, db: Any, contact_id: str, archived: bool) -> Record:
    contact = app.contact(db, contact_id)
    contact["archived"] = archived
    save_contact(db, contact)
    return {"type": "contact", "id": contact_id, "external_id": contact.get("external_id"),
            "archived": archived}  # fmt: skip


@_route("POST", "/contacts/{contact_id}/archive")
def archive_contact(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    return _set_archived(app, db, contact_id, True)


@_route("POST", "/contacts/{contact_id}/unarchive")
def unarchive_contact(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    return _set_archived(app, db, contact_id, False)


@_route("GET", "/contacts")
def list_contacts(app: SandboxApp, db: Any, request: Request) -> Record:
    per_page = request.integer("per_page", 50, 1, CONTACT_PAGE_MAX)
    cursor = request.arg("starting_after")
    after = _decode_cursor(cursor) if cursor else None
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
    next_cursor = _encode_cursor(rows[-1][0]) if more and rows else None
    return {
        "type": "list",
        "data": contacts,
        "total_count": total,
        "pages": _pages(before // per_page + 1, per_page, total, next_cursor),
    }


@_route("POST", "/contacts/search")
def search_contacts(app: SandboxApp, db: Any, request: Request) -> Record:
    body = _body(request)
    if "query" not in body:
        raise ApiError(400, "parameter_not_found", "query is required", "query")
    try:
        matches = compile_query(body["query"])
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
    offset = _decode_cursor(cursor) if cursor else 0
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "parameter_invalid", "starting_after is not a valid cursor")
    views = records.search_views(db)
    found = [view for view in views if matches(view)]
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
        "pages": _pages(
            offset // per_page + 1,
            per_page,
            len(ordered),
            _encode_cursor(offset + per_page) if more else None,
        ),
    }


@_route("POST", "/contacts/{contact_id}/companies")
def attach_company(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    company_id = _body(request).get("id")
    app.contact(db, contact_id)
    if not company_id:
        raise ApiError(400, "parameter_not_found", "company not specified")
    company = app.company(db, str(company_id))
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


@_route("DELETE", "/contacts/{contact_id}/companies/{company_id}")
def detach_company(
    app: SandboxApp, db: Any, request: Request, contact_id: str, company_id: str
) -> Record:
    app.contact(db, contact_id)
    company = app.company(db, company_id)
    db.execute(
        "DELETE FROM contact_companies WHERE contact_id = ? AND company_id = ?",
        (contact_id, company_id),
    )
    return records.render_company(db, company)


@_route("POST", "/contacts/{contact_id}/tags")
def attach_tag(app: SandboxApp, db: Any, request: Request, contact_id: str) -> Record:
    tag_id = _body(request).get("id")
    app.contact(db, contact_id)
    if not tag_id:
        raise ApiError(400, "parameter_not_found", "tag not specified")
    tag = app.tag(db, str(tag_id))
    now = int(time.time())
    db.execute(
        "INSERT OR IGNORE INTO contact_tags (contact_id, tag_id, applied_at) VALUES (?, ?, ?)",
        (contact_id, tag["id"], now),
    )
    applied = Store.scalar(
        db, "SELECT applied_at FROM contact_tags WHERE contact_id = ? AND tag_id = ?",
        contact_id, tag["id"],
    )  # fmt: skip
    return records.applied_tag(tag, applied)


@_route("DELETE", "/contacts/{contact_id}/tags/{tag_id}")
def detach_tag(app: SandboxApp, db: Any, request: Request, contact_id: str, tag_id: str) -> Record:
    app.contact(db, contact_id)
    tag = app.tag(db, tag_id)
    db.execute(
        "DELETE FROM contact_tags WHERE contact_id = ? AND tag_id = ?", (contact_id, tag["id"])
    )
    return records.applied_tag(tag, None)


# -- companies --------------------------------------------------------------------------

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


def save_company(db: Any, company: Record) -> None:
    db.execute(
        "INSERT OR REPLACE INTO companies (seq, id, company_id, name, body) VALUES "
        "((SELECT seq FROM companies WHERE id = ?), ?, ?, ?, ?)",
        (company["id"], company["id"], company["company_id"], company.get("name"), dumps(company)),
    )


@_route("POST", "/companies")
def create_or_update_company(app: SandboxApp, db: Any, request: Request) -> Record:
    changes = _company_changes(_body(request), set(_COMPANY_FIELDS))
    _check_custom_attributes(db, "company", changes)
    now = int(time.time())
    key = changes.get("company_id")
    existing = key and Store.one(db, "SELECT body FROM companies WHERE company_id = ?", key)
    if existing:
        company = records.apply_company_changes(existing, changes, now)
    else:
        company = records.new_company(_new_id("company"), changes, now)
    save_company(db, company)
    return records.render_company(db, company)


@_route("GET", "/companies/{company_id}")
def get_company(app: SandboxApp, db: Any, request: Request, company_id: str) -> Record:
    return records.render_company(db, app.company(db, company_id))


@_route("PUT", "/companies/{company_id}")
def update_company(app: SandboxApp, db: Any, request: Request, company_id: str) -> Record:
    company = app.company(db, company_id)
    allowed = set(_COMPANY_FIELDS) - {"company_id", "update_last_request_at"}
    changes = _company_changes(_body(request), allowed)
    _check_custom_attributes(db, "company", changes)
    company = records.apply_company_changes(company, changes, int(time.time()))
    save_company(db, company)
    return records.render_company(db, company)


@_route("DELETE", "/companies/{company_id}")
def delete_company(app: SandboxApp, db: Any, request: Request, company_id: str) -> Record:
    app.company(db, company_id)
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
        "pages": _pages(page, per_page, total, None),
    }


@_route("GET", "/companies")
def retrieve_companies(app: SandboxApp, db: Any, request: Request) -> Record:
    clauses, args = ["1 = 1"], []
    for name, clause in (
        ("name", "c.name = ?"),
        ("company_id", "c.company_id = ?"),
        ("tag_id", "c.id IN (SELECT company_id FROM company_tags WHERE tag_id = ?)"),
        ("segment_id", "0 = 1 AND ? IS NOT NULL"),  # the sandbox has no segments
    ):
        value = request.arg(name)
        if value:
            clauses.append(clause)
            args.append(value)
    result = _company_page(db, " AND ".join(clauses), tuple(args), request, "desc")
    if not result["data"] and (request.arg("name") or request.arg("company_id")):
        raise ApiError(404, "company_not_found", "Company Not Found")
    return result


@_route("POST", "/companies/list")
def list_companies(app: SandboxApp, db: Any, request: Request) -> Record:
    order = request.arg("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "parameter_invalid", "order must be asc or desc", "order")
    return _company_page(db, "1 = 1", (), request, order)


@_route("GET", "/companies/scroll")
def scroll_companies(app: SandboxApp, db: Any, request: Request) -> Record:
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


# -- tags -------------------------------------------------------------------------------


@_route("POST", "/tags")
def create_or_update_tag(app: SandboxApp, db: Any, request: Request) -> Record:
    body = _body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "parameter_invalid", "name is required", "name")
    tag_id = body.get("id")
    if tag_id is not None:
        tag = app.tag(db, str(tag_id))
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
        contact = app.contact(db, str(user.get("id")))
        db.execute(
            "INSERT OR IGNORE INTO contact_tags (contact_id, tag_id, applied_at) VALUES (?, ?, ?)",
            (contact["id"], tag["id"], int(time.time())),
        )
    for item in body.get("companies") or []:
        company = (
            app.company(db, str(item["id"]))
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


@_route("GET", "/tags")
def list_tags(app: SandboxApp, db: Any, request: Request) -> Record:
    tags = Store.many(db, "SELECT body FROM tags ORDER BY id")
    return {"type": "list", "data": [records.applied_tag(tag, None) for tag in tags]}


@_route("DELETE", "/tags/{tag_id}")
def delete_tag(app: SandboxApp, db: Any, request: Request, tag_id: str) -> None:
    tag = app.tag(db, tag_id)
    db.execute("DELETE FROM tags WHERE id = ?", (int(tag["id"]),))
    db.execute("DELETE FROM contact_tags WHERE tag_id = ?", (tag["id"],))
    db.execute("DELETE FROM company_tags WHERE tag_id = ?", (tag["id"],))
    return None


# -- tickets ----------------------------------------------------------------------------


@_route("GET", "/ticket_types")
def list_ticket_types(app: SandboxApp, db: Any, request: Request) -> Record:
    return {"type": "list", "data": Store.many(db, "SELECT body FROM ticket_types ORDER BY id")}


def _ticket_contact(app: SandboxApp, db: Any, contacts: Any) -> Record:
    if not isinstance(contacts, list) or len(contacts) != 1 or not isinstance(contacts[0], dict):
        raise ApiError(
            400, "parameter_invalid", "contacts must hold exactly one contact", "contacts"
        )
    (ref,) = contacts
    if set(ref) not in ({"id"}, {"external_id"}, {"email"}):
        raise ApiError(400, "parameter_invalid", "a contact is one of id, external_id or email")
    if "id" in ref:
        return app.contact(db, str(ref["id"]))
    column = "external_id" if "external_id" in ref else "email"
    value = str(ref[column]).strip()
    if column == "email":
        value = value.lower()
    found = Store.one(
        db, f"SELECT body FROM contacts WHERE {column} = ? ORDER BY seq LIMIT 1", value
    )
    if found is not None:
        return found
    if column == "external_id":
        raise ApiError(404, "not_found", "User Not Found")
    contact = records.new_contact(
        _new_id("contact"), {"email": value, "role": "user"}, int(time.time())
    )
    save_contact(db, contact)  # an email with no contact creates one, as Intercom does
    return contact


@_route("POST", "/tickets")
def create_ticket(app: SandboxApp, db: Any, request: Request) -> Record:
    body = _body(request)
    type_id = body.get("ticket_type_id")
    if not isinstance(type_id, str):
        raise ApiError(
            400, "parameter_invalid", "ticket_type_id must be a string", "ticket_type_id"
        )
    ticket_type = Store.one(db, "SELECT body FROM ticket_types WHERE id = ?", type_id)
    if ticket_type is None:
        raise ApiError(404, "ticket_type_not_found", "Ticket type not found")
    contact = _ticket_contact(app, db, body.get("contacts"))
    company_id = body.get("company_id")
    if company_id is not None:
        app.company(db, str(company_id))
    attributes = body.get("ticket_attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
    records.check_ticket_attributes(ticket_type, attributes, ApiError)
    now = int(body.get("created_at") or time.time())
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM tickets") or 0) + 1
    ticket = records.new_ticket(str(1000 + seq), str(seq), ticket_type, contact, attributes, now)
    db.execute(
        "INSERT INTO tickets (seq, id, body) VALUES (?, ?, ?)", (seq, ticket["id"], dumps(ticket))
    )
    return ticket


@_route("GET", "/tickets/{ticket_id}")
def get_ticket(app: SandboxApp, db: Any, request: Request, ticket_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM tickets WHERE id = ?", ticket_id)
    if found is None:
        raise ApiError(404, "ticket_not_found", "Ticket not found")
    return found


# -- data attributes ----------------------------------------------------------------------

_MODELS = ("contact", "company")
_DATA_TYPES = ("string", "integer", "float", "boolean", "date", "datetime", "options")


def _model_data(model: str) -> str:
    return "people data" if model == "contact" else "company data"


def _attribute_name_ok(name: str) -> bool:
    return all(ch.isalnum() or ch in " _-" or unicodedata.category(ch) == "Sc" for ch in name)


def _options(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, "parameter_invalid", "Options isn't an array", "options")
    values = [item.get("value") if isinstance(item, dict) else None for item in value]
    if any(not isinstance(v, str) or not v for v in values):
        raise ApiError(400, "parameter_invalid", "each option needs a text value", "options")
    if len(values) < 2:
        message = "You must have at least two options on a list type data attribute"
        raise ApiError(400, "parameter_invalid", message, "options")
    return [str(v) for v in values]


@_route("GET", "/data_attributes")
def list_data_attributes(app: SandboxApp, db: Any, request: Request) -> Record:
    model = request.arg("model")
    if model == "conversation":
        message = (
            "model=conversation is no longer supported. Use GET /conversations/attributes instead"
        )
        raise ApiError(422, "parameter_invalid", message, "model")
    if model is not None and model not in _MODELS:
        raise ApiError(400, "parameter_invalid", "model must be contact or company", "model")
    archived = request.boolean("include_archived")
    shown = []
    for each in [model] if model else _MODELS:
        custom = Store.many(
            db, "SELECT body FROM data_attributes WHERE model = ? ORDER BY id", each
        )
        shown += records.standard_attributes(each)
        shown += [attribute for attribute in custom if archived or not attribute["archived"]]
    return {"type": "list", "data": shown}


@_route("POST", "/data_attributes")
def create_data_attribute(app: SandboxApp, db: Any, request: Request) -> Record:
    body = _body(request)
    name, model, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if model not in _MODELS:
        message = "The Data Attribute model field must be either contact or company"
        raise ApiError(400, "parameter_invalid", message, "model")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "parameter_not_found", "name is required", "name")
    if not _attribute_name_ok(name):
        message = (
            "Your name for this attribute must only contain alphanumeric characters, "
            "currency symbols, and hyphens"
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    asked = _model_data(model)
    standard = {a["name"].lower() for a in records.standard_attributes(model)}
    if name.lower() in standard:
        message = (
            f"'{name.capitalize()}' is one of our standard attributes for your {asked}. "
            f"To save this as new {asked}, use a different name."
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    clash = Store.scalar(db, "SELECT model FROM data_attributes WHERE name = ?", name)
    if clash:
        message = (
            f"You already have '{name}' in your {_model_data(clash)}. "
            f"To save this as new {asked}, use a different name."
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    if data_type not in _DATA_TYPES:
        raise ApiError(400, "parameter_invalid", "Data Type isn't an option", "data_type")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise ApiError(400, "parameter_invalid", "description must be text", "description")
    fields: Record = {
        "name": name,
        "model": model,
        "data_type": {"options": "string", "datetime": "date"}.get(data_type, data_type),
        "description": description,
        "messenger_writable": body.get("messenger_writable") is True,
    }
    if data_type == "options":
        fields["options"] = _options(body.get("options"))
    return records.insert_data_attribute(db, fields, int(time.time()))


@_route("PUT", "/data_attributes/{data_attribute_id}")
def update_data_attribute(
    app: SandboxApp, db: Any, request: Request, data_attribute_id: str
) -> Record:
    number = int(data_attribute_id) if data_attribute_id.isdigit() else -1
    found = Store.one(db, "SELECT body FROM data_attributes WHERE id = ?", number)
    if found is None:
        message = "We couldn't find that data attribute to update"
        raise ApiError(404, "field_not_found", message)
    body = _body(request)
    for key in ("archived", "messenger_writable"):
        if key in body:
            if not isinstance(body[key], bool):
                raise ApiError(400, "parameter_invalid", f"{key} must be true or false", key)
            found[key] = body[key]
    if "description" in body:
        if not isinstance(body["description"], str):
            raise ApiError(400, "parameter_invalid", "description must be text", "description")
        found["description"] = body["description"]
    if "options" in body:
        if found["data_type"] != "string":
            message = "Options can only be managed on list attributes"
            raise ApiError(400, "parameter_invalid", message, "options")
        found["options"] = _options(body["options"])
    found["updated_at"] = int(time.time())
    records.save_data_attribute(db, found)
    return found


# -- admins ------------------------------------------------------------------------------


def _admin(db: Any, admin_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM admins WHERE id = ?", admin_id)
    if found is None:
        raise ApiError(404, "admin_not_found", "Admin not found")
    return found


@_route("GET", "/me")
def me(app: SandboxApp, db: Any, request: Request) -> Record:
    return records.render_me(_admin(db, records.OWNER_ID), [])


@_route("GET", "/admins")
def list_admins(app: SandboxApp, db: Any, request: Request) -> Record:
    avatar = request.boolean("display_avatar")
    admins = Store.many(db, "SELECT body FROM admins ORDER BY id")
    return {
        "type": "admin.list",
        "admins": [records.render_admin(admin, [], avatar=avatar) for admin in admins],
    }


def rate_limit_headers(error: ApiError) -> list[tuple[str, str]]:
    return error.headers if isinstance(error, _RateLimited) else []


def _dropped(start_response: StartResponse) -> Iterable[bytes]:
    """Promise a body, send a byte of it, then fail: the server closes the connection."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])

    def body() -> Iterable[bytes]:
        yield b"{"
        raise DroppedConnection("sandbox fault mode: connection dropped")

    return body()
