"""The sandbox as a WSGI application: Intercom's REST API (2.16), the part the connector uses.

Written from Intercom's API description, not from the connector's client: it imports
nothing of the connector, so a mistake in one cannot be mirrored in the other.
Everything Intercom does around a request is here too: Bearer auth (401 ``unauthorized``),
``X-RateLimit-*`` headers and 429 ``rate_limit_exceeded``, ``error.list`` bodies, the
``Intercom-Version`` header, and an optional fault mode for reliability tests.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from intercom_connector.sandbox import oauth, records
from intercom_connector.sandbox.api import Answer, ApiError, Request, Route
from intercom_connector.sandbox.routes import (
    admins,
    articles,
    companies,
    contacts,
    conversations,
    data_attributes,
    events,
    messages,
    notes,
    segments,
    subscriptions,
    tags,
    teams,
    tickets,
)
from intercom_connector.sandbox.store import Record, Store
from intercom_connector.sandbox.webhooks import WebhookSender, notification
from intercom_connector.sandbox.workspace import Workspace

VERSIONS = {f"1.{n}" for n in range(5)} | {f"2.{n}" for n in range(17)}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]


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


#: every route, literal ones (/companies/scroll) before templated ones (/companies/{id})
ROUTES: list[Route] = sorted(
    [
        *admins.route.table,
        *companies.route.table,
        *contacts.route.table,
        *conversations.route.table,
        *data_attributes.route.table,
        *segments.route.table,
        *tags.route.table,
        *teams.route.table,
        *tickets.route.table,
        *notes.route.table,
        *events.route.table,
        *articles.route.table,
        *messages.route.table,
        *subscriptions.route.table,
    ],
    key=lambda route: route[1].groups,
)


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
        workspace: Workspace | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.workspace = workspace or Workspace()
        #: where the changes' webhook notifications go, when an endpoint is registered
        self.webhooks: WebhookSender | None = None
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
            self._notify(request)
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
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        root = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        return Request(environ["REQUEST_METHOD"], path, query, body, root, self.workspace)

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

    def _notify(self, request: Request) -> None:
        """Send the webhook notifications of a committed request's changes."""
        if self.webhooks is not None and request.notifications:
            now = request.now()
            self.webhooks.send(
                [
                    notification(records.WORKSPACE_ID, t, item, now)
                    for t, item in request.notifications
                ]
            )

    def _dispatch(self, request: Request) -> tuple[int, Any]:
        for method, pattern, handler in ROUTES:
            match = pattern.match(request.path)
            if match and method == request.method:
                with self.store.transaction() as db:
                    result = handler(db, request, **match.groupdict())
                if isinstance(result, Answer):
                    return result.status, result.body
                return 200, result
        raise ApiError(404, "not_found", f"{request.method} {request.path} is not an API route")


class _RateLimited(ApiError):
    def __init__(self, headers: list[tuple[str, str]], limit: int) -> None:
        super().__init__(
            429, "rate_limit_exceeded", f"Exceeded rate limit of {limit} in 10_seconds"
        )
        self.headers = headers


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def rate_limit_headers(error: ApiError) -> list[tuple[str, str]]:
    return error.headers if isinstance(error, _RateLimited) else []


def _dropped(start_response: StartResponse) -> Iterable[bytes]:
    """Promise a body, send a byte of it, then fail: the server closes the connection."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])

    def body() -> Iterable[bytes]:
        yield b"{"
        raise DroppedConnection("sandbox fault mode: connection dropped")

    return body()
