"""The OAuth 2.0 connection: Intercom's authorization-code flow, with authlib.

A host integration UI (or ``intercom-connector connect oauth2``) does two things:

1. ``start_authorization(...)``: the URL to send the person to, with the client id, a
   fresh unguessable ``state`` and the redirect URI;
2. ``complete_authorization(pending, callback_url, client_secret)``: checks the ``state``,
   exchanges the code at Intercom's token URL with the client id and secret, reads the
   token from Intercom's answer (its field ``token``), and returns a ``Connection``.

A wrong state, a denied consent, an invalid code or a bad client secret each raise a
clear ConnectionConfigError or AuthenticationError, never a traceback, and never with
the secret or the token in the message.
"""

from __future__ import annotations

import html
import secrets
import sys
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from intercom_connector.runtime.connection import (
    Connection,
    Secret,
    check_secret_url,
    connection_from_mapping,
    field_label,
)
from intercom_connector.runtime.errors import (
    AuthenticationError,
    ConnectionConfigError,
    TransportError,
)
from intercom_connector.runtime.manifest import load_manifest


def _oauth2_client_class() -> Any:
    # authlib's httpx integration warns, when imported, that it will move to the "httpx2"
    # package; httpx is what this project uses, and the integration works with it. Importing
    # authlib.deprecate installs an "always" filter for authlib's warnings in front of any
    # filter set before it, so it is imported first and ours goes in front of it.
    with warnings.catch_warnings():
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        from authlib.integrations.httpx_client import OAuth2Client
    return OAuth2Client


def intercom_endpoints() -> tuple[str, str]:
    """Intercom's authorize and token URLs, from the manifest's oauth2 connection."""
    oauth = load_manifest().connections["oauth2"].oauth2 or {}
    return oauth["authorize_url"], oauth["token_url"]


@dataclass(frozen=True, repr=False)
class PendingAuthorization:
    """What must be remembered between sending the person off and the callback."""

    url: str
    state: str
    client_id: str
    redirect_uri: str
    token_url: str

    def __repr__(self) -> str:
        return (
            f"PendingAuthorization(client_id={self.client_id!r}, "
            f"redirect_uri={self.redirect_uri!r})"
        )


def start_authorization(
    client_id: str,
    redirect_uri: str,
    *,
    authorize_url: str | None = None,
    token_url: str | None = None,
) -> PendingAuthorization:
    """The authorization URL for Intercom, with a fresh ``state`` (256 random bits)."""
    if not client_id:
        raise ConnectionConfigError(
            f"The OAuth 2.0 connection needs its {field_label('client_id', 'oauth2')}"
        )
    default_authorize, default_token = intercom_endpoints()
    # the code comes back to the redirect URI and the client secret goes to the token URL:
    # both refused before the browser is involved when they could travel in clear text
    authorize_url = str(check_secret_url(authorize_url or default_authorize, "authorize_url"))
    token_url = str(check_secret_url(token_url or default_token, "token_url"))
    check_secret_url(redirect_uri, "redirect_uri")
    state = secrets.token_urlsafe(32)
    with _oauth2_client_class()(client_id=client_id, redirect_uri=redirect_uri) as client:
        url, _ = client.create_authorization_url(authorize_url, state=state)
    return PendingAuthorization(
        url=url,
        state=state,
        client_id=client_id,
        redirect_uri=redirect_uri,
        token_url=token_url,
    )


def _callback_params(callback_url: str) -> dict[str, str]:
    query = urlsplit(callback_url).query if "?" in callback_url else callback_url
    return {key: values[0] for key, values in parse_qs(query).items()}


def complete_authorization(
    pending: PendingAuthorization,
    callback_url: str,
    client_secret: str | Secret,
    *,
    region: str | None = None,
    base_url: str | None = None,
    api_version: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Connection:
    """Finish the flow from the URL Intercom redirected to (or just its query string)."""
    params = _callback_params(callback_url)
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise ConnectionConfigError(
            f"Intercom did not authorize the app ({params['error']}): {reason}. "
            "Start again and approve the app on Intercom's page."
        )
    if not secrets.compare_digest(params.get("state", "").encode(), pending.state.encode()):
        raise ConnectionConfigError(
            "The authorization answer's state does not match the one sent: it may not come "
            "from this login (a forged or stale callback). Start the login again."
        )
    code = params.get("code")
    if not code:
        raise ConnectionConfigError("The authorization answer has no code. Start the login again.")
    secret = client_secret.reveal() if isinstance(client_secret, Secret) else client_secret
    token = exchange_code(pending, code, secret, transport=transport)
    return connection_from_mapping(
        {
            "type": "oauth2",
            "client_id": pending.client_id,
            "client_secret": secret,
            "access_token": token,
            "region": region,
            "base_url": base_url,
            "api_version": api_version,
        }
    )


def exchange_code(
    pending: PendingAuthorization,
    code: str,
    client_secret: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """POST the code with the client id and secret to the token URL; the token Intercom gives."""
    check_secret_url(pending.token_url, "token_url")  # where the secret goes, checked there
    oauth_error = _oauth_error_class()
    client = _oauth2_client_class()(
        client_id=pending.client_id,
        client_secret=client_secret,
        redirect_uri=pending.redirect_uri,
        token_endpoint_auth_method="client_secret_post",
        transport=transport,
        timeout=30.0,
    )
    try:
        with client:
            answer = client.fetch_token(pending.token_url, code=code)
    except oauth_error as exc:
        description = getattr(exc, "description", None) or getattr(exc, "error", "refused")
        raise AuthenticationError(
            400,
            getattr(exc, "error", None),
            f"Intercom refused the authorization code or the client credentials: {description}. "
            f"Check the {field_label('client_id', 'oauth2')} and "
            f"{field_label('client_secret', 'oauth2')}, and start the login again (a code is "
            "valid once, for a few minutes).",
            method="POST",
            path=urlsplit(pending.token_url).path,
        ) from None
    except httpx.HTTPStatusError as exc:
        raise AuthenticationError(
            exc.response.status_code,
            None,
            "Intercom's token endpoint failed; try the login again later.",
            method="POST",
            path=urlsplit(pending.token_url).path,
        ) from None
    except httpx.TransportError as exc:
        raise TransportError(
            f"No answer from Intercom's token endpoint ({type(exc).__name__})"
        ) from None
    token = answer.get("token") or answer.get("access_token")
    if not token:
        raise AuthenticationError(
            200,
            None,
            "Intercom's token answer holds no token",
            method="POST",
            path=pending.token_url,
        )
    return str(token)


def _oauth_error_class() -> type[Exception]:
    from authlib.integrations.base_client import OAuthError

    return OAuthError  # type: ignore[no-any-return]


class CallbackListener:
    """A one-shot HTTP listener on 127.0.0.1 that receives the authorization redirect.

    The browser's request is held open until ``finish`` says how the login ended, so that
    the page it shows tells the truth: saved, or why not.
    """

    def __init__(
        self, port: int = 0, path: str = "/callback", answer_within: float = 120.0
    ) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        listener = self
        self.callback_url: str | None = None
        self._received = threading.Event()
        self._answer: tuple[bool, str] | None = None
        self._answered = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != path:
                    self.send_error(404)
                    return
                if listener._received.is_set():
                    ok, text = False, "This login has already received its answer."
                else:
                    listener.callback_url = f"http://127.0.0.1:{listener.port}{self.path}"
                    listener._received.set()
                    listener._answered.wait(answer_within)
                    ok, text = listener._answer or (False, "The login did not finish.")
                denied = "error" in _callback_params(self.path)
                page = _callback_page(ok, text, denied)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the query carries the code: keep it out of the terminal

        class Server(HTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):  # not a closed tab
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str:
        """The URL the browser was redirected to; ConnectionConfigError after ``timeout``."""
        if not self._received.wait(timeout):
            raise ConnectionConfigError(
                f"No authorization arrived at {self.redirect_uri} within {timeout:.0f} s"
            )
        assert self.callback_url is not None
        return self.callback_url

    def finish(self, ok: bool, message: str) -> None:
        """Answer the browser: the login succeeded, or the one-line reason it did not."""
        if self._answer is None:
            self._answer = (ok, message)
        self._answered.set()

    def close(self) -> None:
        self.finish(False, "The login stopped before it finished.")
        self._server.shutdown()
        self._server.server_close()


def _callback_page(ok: bool, message: str, denied: bool) -> bytes:
    title = "Intercom connection saved" if ok else "The Intercom connection was not made"
    if denied and not ok:
        title = "Intercom denied the authorization"
    after = (
        "You can close this tab."
        if ok
        else "Nothing was saved. See the terminal, then start the login again."
    )
    return (
        '<!doctype html><meta charset="utf-8"><title>Intercom connection</title>'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p><p>{after}</p>"
    ).encode()
