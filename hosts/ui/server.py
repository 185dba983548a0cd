"""The designer's HTTP side: a small WSGI app on waitress, on loopback only.

Security, as notebook servers do it:

- it listens on 127.0.0.1 or ::1, never on another address;
- every ``/api/`` call carries the per-run token (``X-Designer-Token`` header; a GET may
  give it as ``?token=``); a state-changing call (POST, DELETE) must use the header, which
  no other site's page can set without a CORS preflight -- and no CORS header is ever sent;
- the Host header must name this server (127.0.0.1:PORT, localhost:PORT or [::1]:PORT),
  so a DNS-rebinding page cannot reach it under its own name; an ``Origin`` or
  ``Sec-Fetch-Site`` that says another site is refused too;
- the page, its scripts and styles come from here only (Content-Security-Policy), and it
  sends no Referer (the page's URL holds the token).

The OAuth 2.0 callback is the one route without the token: Intercom's redirect cannot carry
it; the unguessable ``state`` of a login started with the token authenticates it.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson

from intercom_connector.hosts.docs import manifest_json
from intercom_connector.hosts.ui import cluster, runs
from intercom_connector.hosts.ui.designer import CALLBACK_PATH, Designer
from intercom_connector.runtime.errors import ConnectorError
from intercom_connector.runtime.manifest import load_manifest

log = logging.getLogger("intercom_connector.ui")

TOKEN_HEADER = "X-Designer-Token"
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
#: the largest request body accepted (a flow with its outputs, a YAML file)
MAX_BODY = 20 * 1024 * 1024
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|html|svg)$")
_CONTENT_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
}
_SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
#: exit status of an error -> the HTTP status the page gets
_STATUS = {2: "400 Bad Request", 3: "409 Conflict", 4: "502 Bad Gateway", 5: "504 Gateway Timeout"}

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class Refused(Exception):
    """A request this server does not serve: (HTTP status, reason for a person)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _static(name: str) -> bytes:
    return resources.files("intercom_connector.hosts.ui").joinpath("static", name).read_bytes()


class DesignerApp:
    """The WSGI application: the page, its static files, the JSON API, the OAuth callback."""

    def __init__(self, designer: Designer, token: str | None = None) -> None:
        self.designer = designer
        self.token = token or secrets.token_urlsafe(32)
        self.hosts: frozenset[str] = frozenset()
        self._routes: dict[tuple[str, str], Callable[[Environ, Any], Any]] = {
            ("GET", "/api/info"): lambda env, body: designer.info(_origin(env)),
            ("GET", "/api/manifest"): lambda env, body: manifest_json(load_manifest()),
            ("GET", "/api/connections"): lambda env, body: designer.connections(),
            ("POST", "/api/connections/check"): lambda env, body: designer.check(
                body.get("type"), body.get("fields")
            ),
            ("POST", "/api/connections"): lambda env, body: designer.save(
                body.get("name"), body.get("type"), body.get("fields")
            ),
            ("POST", "/api/connections/test"): lambda env, body: designer.test(body.get("name")),
            ("POST", "/api/connections/remove"): lambda env, body: designer.remove(
                body.get("name")
            ),
            ("POST", "/api/oauth/start"): lambda env, body: designer.start_login(
                body.get("name"), body.get("fields"), _origin(env)
            ),
            ("GET", "/api/oauth/status"): lambda env, body: designer.login_status(
                _query(env).get("login")
            ),
            ("POST", "/api/data-source"): lambda env, body: designer.data_source(
                body.get("key"), body.get("connection"), body.get("inputs")
            ),
            ("POST", "/api/flow/run"): lambda env, body: runs.run(
                body.get("flow"),
                designer.connection(body.get("connection")),
                only=body.get("step"),
                outputs=body.get("outputs"),
                event=body.get("event"),
            ),
            ("POST", "/api/trigger/event"): lambda env, body: designer.test_event(
                body.get("trigger"), body.get("connection")
            ),
            ("POST", "/api/flow/yaml"): lambda env, body: {"yaml": runs.to_yaml(body)},
            ("POST", "/api/flow/load"): lambda env, body: {
                "flow": runs.from_yaml(body.get("yaml"), str(body.get("file") or "flow"))
            },
        }
        self._routes.update(cluster.routes())  # Deploy and Runs (hosts/ui/cluster.py)

    def listening_on(self, port: int) -> None:
        """The Host headers accepted: this server's own names, with its port."""
        self.hosts = frozenset(f"{host}:{port}" for host in ("127.0.0.1", "localhost", "[::1]"))

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        try:
            self._check_host(environ)
            if path.startswith("/api/"):
                return self._api(environ, start_response, method, path)
            if method != "GET":
                raise Refused("405 Method Not Allowed", "only GET is served here")
            if path == "/":
                return _send(start_response, "200 OK", _static("index.html"), "html")
            if path.startswith("/static/"):
                name = path.removeprefix("/static/")
                if not _STATIC_NAME.match(name):
                    raise Refused("404 Not Found", "no such file")
                try:
                    content = _static(name)
                except (FileNotFoundError, IsADirectoryError):
                    raise Refused("404 Not Found", "no such file") from None
                return _send(start_response, "200 OK", content, name.rsplit(".", 1)[1])
            if path == CALLBACK_PATH:
                return self._callback(environ, start_response)
            raise Refused("404 Not Found", "no such page")
        except Refused as refused:
            if path.startswith("/api/"):
                return _json(start_response, refused.status, {"error": {"message": str(refused)}})
            page = f"<!doctype html><title>Refused</title><p>{html.escape(str(refused))}</p>"
            return _send(start_response, refused.status, page.encode(), "html")

    def _check_host(self, environ: Environ) -> None:
        host = environ.get("HTTP_HOST", "")
        if host not in self.hosts:
            raise Refused(
                "403 Forbidden",
                f"Host {host!r} is not this server: open it as 127.0.0.1, localhost or [::1] "
                "with its port",
            )

    def _check_token(self, environ: Environ, method: str) -> None:
        given = environ.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"), "")
        if not given and method == "GET":
            given = _query(environ).get("token", "")
        if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
            raise Refused(
                "403 Forbidden",
                "This call needs the designer's token: open the URL intercom-connector ui printed",
            )
        site = environ.get("HTTP_SEC_FETCH_SITE")
        origin = environ.get("HTTP_ORIGIN")
        if site in ("cross-site", "same-site") or (
            origin is not None and origin not in {f"http://{h}" for h in self.hosts}
        ):
            raise Refused("403 Forbidden", "Calls from another site are refused")

    def _api(
        self, environ: Environ, start_response: StartResponse, method: str, path: str
    ) -> Iterable[bytes]:
        if method not in ("GET", "POST"):
            raise Refused("405 Method Not Allowed", f"{method} is not served")
        self._check_token(environ, method)
        route = self._routes.get((method, path))
        if route is None:
            raise Refused("404 Not Found", f"no API {method} {path}")
        body: Any = {}
        if method == "POST":
            body = _read_json(environ)
        try:
            answer = route(environ, body)
        except ConnectorError as exc:
            status = _STATUS.get(exc.exit_code, "500 Internal Server Error")
            return _json(start_response, status, {"error": runs.error_json(exc)})
        except Exception:
            log.exception("the designer failed on %s %s", method, path)
            raise Refused(
                "500 Internal Server Error",
                "The designer failed on this request (a bug: the terminal has the details)",
            ) from None
        return _json(start_response, "200 OK", answer)

    def _callback(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        callback_url = f"{_origin(environ)}{CALLBACK_PATH}?{query}"
        saved, message = self.designer.finish_login(query, callback_url)
        page = _static("callback.html").decode()
        page = page.replace("{{ status }}", "saved" if saved else "failed")
        page = page.replace("{{ title }}", "Connected" if saved else "Not connected")
        page = page.replace("{{ message }}", html.escape(message))
        return _send(start_response, "200 OK", page.encode(), "html")


def _origin(environ: Environ) -> str:
    return f"http://{environ.get('HTTP_HOST', '')}"


def _query(environ: Environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _read_json(environ: Environ) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise Refused("413 Content Too Large", "the request is too large")
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise Refused("400 Bad Request", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("400 Bad Request", "the request body must be a JSON object")
    return body


def _send(start_response: StartResponse, status: str, content: bytes, kind: str) -> Iterable[bytes]:
    headers = [
        ("Content-Type", _CONTENT_TYPES[kind]),
        ("Content-Length", str(len(content))),
        *_SECURITY_HEADERS,
    ]
    start_response(status, headers)
    return [content]


def _json(start_response: StartResponse, status: str, value: Any) -> Iterable[bytes]:
    content = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(content))),
        *_SECURITY_HEADERS,
    ]
    start_response(status, headers)
    return [content]


class DesignerServer:
    """The designer served on loopback in a background thread (``url`` to open it,
    ``stop()`` or ``with`` to end it); ``port=0`` picks a free port."""

    def __init__(
        self,
        designer: Designer,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        from waitress.server import create_server

        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the designer serves loopback only ({', '.join(LOOPBACK_HOSTS)})")
        logging.getLogger("waitress").setLevel(logging.ERROR)
        self.app = DesignerApp(designer, token)
        self._sockets: dict[int, Any] = {}  # waitress's socket map, closed in its own loop
        self._server: Any = create_server(
            self.app,
            map=self._sockets,
            host=host,
            port=port,
            threads=8,
            ident="intercom-connector-ui",
        )
        self.port: int = self._server.effective_port
        self.app.listening_on(self.port)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}"
        self.url = f"{self.base_url}/?token={self.app.token}"
        self._thread: threading.Thread | None = None

    def start(self) -> DesignerServer:
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="ui")
        self._thread.start()
        return self

    def run(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.run()

    def stop(self) -> None:
        from intercom_connector.sandbox.server import stop_in_loop

        stop_in_loop(self._server, self._sockets, self._thread)

    def __enter__(self) -> DesignerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
