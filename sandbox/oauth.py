"""Intercom's OAuth side, for the sandbox, built on authlib's server components.

``GET /oauth`` is the consent page: the sandbox's person always approves (unless the
request carries ``sandbox_deny=1``) and redirects to the app's redirect URI with a code
and the state. ``POST /auth/eagle/token`` exchanges the code, as Intercom does, from a
form with ``code``, ``client_id`` and ``client_secret``, and answers with the token in
``token`` (Intercom's field; ``access_token`` carries it too). Tokens do not expire.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant

from intercom_connector.sandbox.store import Store

AUTHORIZE_PATH = "/oauth"
TOKEN_PATH = "/auth/eagle/token"
#: the OAuth app every sandbox knows: client id -> client secret (which also signs the
#: sandbox's webhooks)
SANDBOX_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENTS = {SANDBOX_CLIENT_ID: "sandbox-client-secret"}
CODE_TTL = 600


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = dict(data)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> Any:
        return {key: [value] for key, value in self._data.items()}


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        args: dict[str, str],
        form: dict[str, str],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args, self._form = args, form
        self.payload = _Payload({**args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered Intercom app. Any https or loopback redirect URI is accepted."""

    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self.secret = client_id, secret

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return "http://127.0.0.1/callback"

    def get_allowed_scope(self, scope: str) -> str:
        return ""  # Intercom's permissions are set on the app, not asked for in the URL

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")
        return parts.scheme == "https" or loopback

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret.encode(), self.secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class _Code:
    def __init__(self, code: str, client_id: str, redirect_uri: str, issued: float) -> None:
        self.code, self.client_id, self.redirect_uri, self.issued = (
            code,
            client_id,
            redirect_uri,
            issued,
        )

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return ""

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> float:
        return self.issued


class _User:
    id = "991267001"

    def get_user_id(self) -> str:
        return self.id


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]

    def __init__(self, request: Any, server: IntercomOAuthServer) -> None:
        super().__init__(request, server)
        self.codes = server.codes

    def save_authorization_code(self, code: str, request: Any) -> None:
        client_id = request.client.get_client_id()
        redirect = request.payload.redirect_uri or ""
        self.codes[code] = _Code(code, client_id, redirect, time.time())

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        found = self.codes.get(code)
        if (
            found
            and found.client_id == client.get_client_id()
            and time.time() - found.issued < CODE_TTL
        ):
            return found
        return None

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        self.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> _User:
        return _User()


class IntercomOAuthServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server, bound to WSGI and the sandbox's store."""

    def __init__(self, store: Store, clients: Mapping[str, str]) -> None:
        super().__init__(scopes_supported=None)
        self.store = store
        self.clients = dict(clients)
        self.codes: dict[str, _Code] = {}
        self.register_grant(_CodeGrant)
        self.register_token_generator("default", self._token)

    def _token(
        self, grant_type: str, client: Any, user: Any = None, scope: Any = None,
        expires_in: Any = None, include_refresh_token: bool = True,
    ) -> dict[str, str]:  # fmt: skip
        return {"token_type": "Bearer", "access_token": "sbx_" + secrets.token_urlsafe(24)}

    def query_client(self, client_id: str) -> _Client | None:
        secret = self.clients.get(client_id)
        return _Client(client_id, secret) if secret is not None else None

    def save_token(self, token: Mapping[str, Any], request: Any) -> None:
        with self.store.transaction() as db:
            Store.set_meta(db, f"oauth_token:{token['access_token']}", "1")

    def create_oauth2_request(self, request: Any) -> _Request:
        return request  # type: ignore[no-any-return]

    def handle_response(
        self, status: int, body: Any, headers: Any
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if isinstance(body, dict) and "access_token" in body:
            body = {**body, "token": body["access_token"]}  # Intercom's field
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


def issued(store: Store, token: str) -> bool:
    """Whether ``token`` was issued by the sandbox's token endpoint."""
    with store.transaction() as db:
        return Store.meta(db, f"oauth_token:{token}") is not None


def handle(
    server: IntercomOAuthServer, environ: dict[str, Any], body: bytes
) -> tuple[int, Any, list[tuple[str, str]]]:
    """Answer ``/oauth`` or ``/auth/eagle/token``: (status, JSON body or None, headers)."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if "CONTENT_TYPE" in environ:
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    # authlib checks the transport; the sandbox only ever listens on loopback or in-process.
    uri = "https://sandbox.intercom.invalid" + path
    if path == TOKEN_PATH and method == "POST":
        form.setdefault("grant_type", "authorization_code")  # Intercom's form has none
        request = _Request(method, uri, headers, args, form)
        return server.create_token_response(request)  # type: ignore[no-any-return]
    if path == AUTHORIZE_PATH and method == "GET":
        args.setdefault("response_type", "code")  # Intercom's URL has none
        request = _Request(method, uri, headers, args, {})
        user = None if args.get("sandbox_deny") == "1" else _User()
        try:
            grant = server.get_consent_grant(request, end_user=user)
        except Exception as error:  # authlib's OAuth2Error: no redirect to a bad client
            description = getattr(error, "description", str(error))
            return 400, {"error": getattr(error, "error", "invalid_request"),
                         "error_description": description}, []  # fmt: skip
        return server.create_authorization_response(request, grant_user=user, grant=grant)  # type: ignore[no-any-return]
    return 404, {"error": "not_found"}, []


def to_bytes(body: Any) -> bytes:
    """An authlib answer body as bytes: JSON for an object, as is for text."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()
