"""What the integration designer does, apart from HTTP: connections (saved, checked against
Intercom's ``/me``, authorized with OAuth 2.0), data sources, and the embedded sandbox.

Every method takes and returns plain JSON-able data; secrets come in (a form's fields) but
never go out: a saved connection is described by its non-secret fields and the names of
the secrets it holds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from intercom_connector.connections.oauth2 import (
    PendingAuthorization,
    complete_authorization,
    start_authorization,
)
from intercom_connector.connections.saved import SavedConnections, check_name
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.connection import (
    Connection,
    Secret,
    check_base_url,
    connection_from_mapping,
)
from intercom_connector.runtime.errors import ConnectionConfigError, ConnectorError
from intercom_connector.runtime.shim import Connector

#: how long a started OAuth 2.0 login waits for Intercom's redirect
LOGIN_TTL = 15 * 60
#: where the browser comes back to from Intercom's consent page (no token: the state
#: authenticates it)
CALLBACK_PATH = "/oauth/callback"


@dataclass
class _Login:
    """An OAuth 2.0 login between the consent page and the callback."""

    name: str
    fields: dict[str, Any]
    client_secret: Secret
    pending: PendingAuthorization
    started: float
    status: str = "pending"
    message: str = ""


def _public(connection: Connection) -> tuple[dict[str, Any], list[str]]:
    """A connection's fields a browser may see, and the names of the secrets it holds."""
    shown: dict[str, Any] = {}
    held: list[str] = []
    for key, value in connection.values.items():
        if isinstance(value, Secret):
            held.append(key)
        elif value is not None:
            shown[key] = value
    return shown, held


def _fields(kind: Any, fields: Any) -> dict[str, Any]:
    """A form's connection fields as the mapping a connection is read from."""
    if not isinstance(fields, Mapping):
        raise ConnectionConfigError("A connection's fields must be an object of field values")
    return {**{k: v for k, v in fields.items() if k != "type"}, "type": kind}


class Designer:
    """The state behind one ``intercom-connector ui``: saved connections, logins, sandbox."""

    def __init__(self, config_dir: str | None = None, sandbox_dir: str | None = None) -> None:
        self.saved = SavedConnections(config_dir)
        self._config_dir = config_dir
        self._sandbox_dir = sandbox_dir
        self._sandbox: Any = None
        self._logins: dict[str, _Login] = {}
        self._lock = threading.Lock()

    # -- which connection a call runs on --------------------------------------------------

    def sandbox(self) -> Any:
        """The embedded sandbox, opened on first use (the CLI's: $INTERCOM_SANDBOX_DIR, else
        the user's data directory)."""
        with self._lock:
            if self._sandbox is None:
                from intercom_connector.sandbox import Sandbox

                self._sandbox = Sandbox(self._sandbox_dir)
            return self._sandbox

    def connection(self, name: Any) -> tuple[Connection, httpx.BaseTransport | None]:
        """The saved connection ``name``; no name: the embedded sandbox, in-process."""
        if not name:
            sandbox = self.sandbox()
            fields = {"type": "access_token", "access_token": sandbox.token}
            connection = connection_from_mapping({**fields, "base_url": sandbox.base_url})
            return connection, sandbox.transport()
        if not isinstance(name, str):
            raise ConnectionConfigError("A connection is chosen by its name")
        return self.saved.get(name), None

    def connector(self, name: Any) -> Connector:
        connection, transport = self.connection(name)
        return Connector(connection, transport=transport)

    # -- saved connections ------------------------------------------------------------------

    def connections(self) -> dict[str, Any]:
        """Every saved connection, secrets left out; one that cannot be read says why."""
        listed = []
        for name, stored in sorted(self.saved.names().items()):
            try:
                connection = connection_from_mapping(stored)
            except ConnectorError as exc:
                listed.append({"name": name, "type": stored.get("type"), "problem": str(exc)})
                continue
            listed.append(self._summary(name, connection))
        return {"connections": listed}

    @staticmethod
    def _summary(name: str, connection: Connection) -> dict[str, Any]:
        shown, held = _public(connection)
        return {
            "name": name,
            "type": connection.kind,
            "region": connection.get("region"),
            "api_base": connection.api_base,
            "fields": shown,
            "secrets": held,
        }

    @staticmethod
    def workspace(
        connection: Connection, transport: httpx.BaseTransport | None = None
    ) -> dict[str, Any]:
        """Who the connection is, as Intercom's ``/me`` says: workspace, region, admin."""
        with IntercomClient(connection, transport=transport) as client:
            me: Any = client.request("GET", "/me")
        me = me if isinstance(me, Mapping) else {}
        app = me.get("app") if isinstance(me.get("app"), Mapping) else {}
        return {
            "name": app.get("name"),
            "id_code": app.get("id_code"),
            "region": app.get("region"),
            "admin": me.get("name"),
            "email": me.get("email"),
            "api_base": connection.api_base,
        }

    def check(self, kind: Any, fields: Any) -> dict[str, Any]:
        """An Access Token connection's fields, tried against ``/me`` before saving."""
        connection = connection_from_mapping(_fields(kind, fields))
        return {"workspace": self.workspace(connection)}

    def save(self, name: Any, kind: Any, fields: Any) -> dict[str, Any]:
        """Check the fields against ``/me``, then save them under ``name``."""
        self._free_name(name)
        mapping = _fields(kind, fields)
        connection = connection_from_mapping(mapping)
        workspace = self.workspace(connection)
        self.saved.save(name, connection.fields(reveal=True))
        return {"connection": self._summary(name, connection), "workspace": workspace}

    def test(self, name: Any) -> dict[str, Any]:
        """A saved connection (or the embedded sandbox) tried against ``/me``."""
        connection, transport = self.connection(name)
        return {"workspace": self.workspace(connection, transport)}

    def remove(self, name: Any) -> dict[str, Any]:
        self.saved.remove(str(name))
        return {"removed": name}

    def _free_name(self, name: Any) -> None:
        check_name(name)
        if name in self.saved.names():
            raise ConnectionConfigError(
                f"A connection named {name!r} exists already: remove it first, or choose "
                "another name"
            )

    # -- OAuth 2.0 -----------------------------------------------------------------------

    def start_login(self, name: Any, fields: Any, origin: str) -> dict[str, Any]:
        """Where to send the person to authorize the app; the callback comes back to
        ``origin`` (this server, as the browser reaches it)."""
        self._free_name(name)
        mapping = _fields("oauth2", fields)
        connection = connection_from_mapping(mapping)  # every field checked, by label
        base = connection.get("base_url")
        authorize_url = token_url = None
        if base:  # another host, such as `sandbox serve`: its consent page and token URL
            base = check_base_url(base)
            authorize_url, token_url = f"{base}/oauth", f"{base}/auth/eagle/token"
        secret = connection.get("client_secret")
        pending = start_authorization(
            str(connection.get("client_id")),
            origin + CALLBACK_PATH,
            authorize_url=authorize_url,
            token_url=token_url,
        )
        shown, _ = _public(connection)
        login = _Login(name, shown, secret, pending, time.monotonic())
        login_id = secrets.token_urlsafe(16)
        with self._lock:
            self._forget_stale_logins()
            self._logins[login_id] = login
        return {"url": pending.url, "login": login_id, "redirect_uri": pending.redirect_uri}

    def login_status(self, login_id: Any) -> dict[str, Any]:
        with self._lock:
            login = self._logins.get(str(login_id))
        if login is None:
            raise ConnectionConfigError("No such login: it ended or expired; start again")
        return {"status": login.status, "message": login.message, "name": login.name}

    def finish_login(self, query: str, callback_url: str) -> tuple[bool, str]:
        """Intercom's redirect: exchange the code, check ``/me``, save. (saved, message)."""
        state = parse_qs(query).get("state", [""])[0]
        with self._lock:
            self._forget_stale_logins()
            found = [
                (key, login)
                for key, login in self._logins.items()
                if login.status == "pending"
                and secrets.compare_digest(login.pending.state.encode(), state.encode())
            ]
        if not found:
            return False, (
                "This authorization does not match a login started here (it may be stale, "
                "already used, or forged). Start the connection again from the designer."
            )
        _, login = found[0]
        try:
            connection = complete_authorization(
                login.pending,
                callback_url,
                login.client_secret,
                region=login.fields.get("region"),
                base_url=login.fields.get("base_url"),
                api_version=login.fields.get("api_version"),
            )
            fields = {**login.fields, **connection.fields(reveal=True)}
            workspace = self.workspace(connection_from_mapping(fields))
            self._free_name(login.name)
            self.saved.save(login.name, fields)
        except ConnectorError as exc:
            login.status, login.message = "failed", str(exc)
            return False, login.message
        where = f"workspace {workspace['name']!r} (region {workspace['region']})"
        login.status, login.message = "saved", f"Connection {login.name!r} saved: {where}."
        return True, login.message

    def _forget_stale_logins(self) -> None:
        now = time.monotonic()
        for key in [k for k, v in self._logins.items() if now - v.started > LOGIN_TTL]:
            del self._logins[key]

    # -- data sources ---------------------------------------------------------------------

    def data_source(self, key: Any, connection: Any, inputs: Any) -> dict[str, Any]:
        """A dropdown's choices on the chosen connection: a saved one's name, or "" for the
        embedded sandbox, which the page shows as chosen. None (no choice made) is "Connect
        first", never the sandbox's choices looking like a workspace's (docs/actions.md "Data
        sources": the rule of the CLI, the Python API and MCP too)."""
        if connection is None:
            raise ConnectionConfigError(
                "Connect first: choose the connection whose choices to list (or the embedded "
                "sandbox)"
            )
        with self.connector(connection) as connector:
            return connector.data_source(key, inputs if isinstance(inputs, Mapping) else {})

    def test_event(self, trigger: Any, connection: Any) -> dict[str, Any]:
        """A test event for the flow's trigger, on the chosen connection."""
        from intercom_connector.hosts.ui.runs import test_event

        with self.connector(connection) as connector:
            return test_event(trigger, connector)

    def info(self, origin: str) -> dict[str, Any]:
        """What the page needs besides the manifest: the OAuth 2.0 callback, and the
        ``--config-dir`` a command must give to find this designer's saved connections."""
        # absolute: the suggested command runs where the file was saved, not where `ui` started
        config_dir = str(Path(self._config_dir).resolve()) if self._config_dir else None
        return {"redirect_uri": origin + CALLBACK_PATH, "config_dir": config_dir}
