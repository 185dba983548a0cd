"""An offline Intercom: a stateful emulator of the part of Intercom's REST API (2.16) the
connector uses, so that every action can be tried, and tested, with no Intercom account.

It runs two ways from the same code: in-process, as an httpx transport (no socket), and
as a real HTTP server on loopback. State lives in SQLite in a data directory, so separate
processes see each other's writes. It imports nothing of the connector's client,
handlers or manifest: it is written from Intercom's API description.

    sandbox = Sandbox()                    # the default data dir, seeded on first use
    client = httpx.Client(transport=sandbox.transport(), base_url=sandbox.base_url)
    with serve(sandbox) as server:         # or over real HTTP
        httpx.get(f"{server.url}/tags", headers={"Authorization": f"Bearer {sandbox.token}"})
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from intercom_connector.sandbox.app import DroppedConnection, Faults, SandboxApp
from intercom_connector.sandbox.seed import prepare_workspace, seed_workspace
from intercom_connector.sandbox.server import ServerHandle, run_server
from intercom_connector.sandbox.store import SandboxStateError, Store

DEFAULT_TOKEN = "sandbox-token"
ENV_DIR = "INTERCOM_SANDBOX_DIR"
MEMORY = ":memory:"

__all__ = [
    "DEFAULT_TOKEN",
    "Faults",
    "Sandbox",
    "SandboxStateError",
    "ServerHandle",
    "default_data_dir",
    "serve",
]


def default_data_dir() -> Path:
    """$INTERCOM_SANDBOX_DIR, else the user's data dir (XDG) / intercom-connector/sandbox."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "intercom-connector" / "sandbox"


def _database(data_dir: str | os.PathLike[str] | None) -> str:
    if str(data_dir) == MEMORY:
        return MEMORY
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return str(folder / "sandbox.sqlite3")


class _InProcessTransport(httpx.WSGITransport):
    """The app without a socket; a fault-mode drop surfaces as httpx's own network error."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except DroppedConnection:
            raise httpx.RemoteProtocolError(
                "sandbox dropped the connection", request=request
            ) from None


class Sandbox:
    """One sandbox workspace: its data, its token, its limits and faults.

    SandboxStateError when its folder cannot be made or its database cannot be used;
    ``Sandbox.rebuilt`` makes a new database in place of a corrupt one.
    """

    base_url = "https://sandbox.intercom.invalid"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        rate_limit: int | None = None,
        rate_window: float = 10.0,
        faults: Faults | None = None,
        seed: bool = True,
        oauth_clients: Mapping[str, str] | None = None,
    ) -> None:
        self.store = Store(_database(data_dir))
        self.token = token
        self.app = SandboxApp(
            self.store,
            token=token,
            rate_limit=rate_limit,
            rate_window=rate_window,
            faults=faults,
            oauth_clients=oauth_clients,
        )
        prepare_workspace(self.store, demo=seed)

    @property
    def data_path(self) -> str:
        return self.store.path

    def reset(self, *, seed: bool = True) -> None:
        """Back to the demo workspace (or to an empty one, which stays empty)."""
        self.store.clear()
        seed_workspace(self.store, demo=seed)

    @classmethod
    def rebuilt(
        cls, data_dir: str | os.PathLike[str] | None = None, *, seed: bool = True
    ) -> Sandbox:
        """``sandbox reset``: the workspace in ``data_dir`` reset; a database found corrupt,
        when opened or while cleared, is deleted and made anew (a reset drops its data)."""
        try:
            sandbox = cls(data_dir, seed=False)
        except SandboxStateError as error:
            if not error.corrupt:
                raise
        else:
            try:
                sandbox.reset(seed=seed)
                return sandbox
            except SandboxStateError as error:
                sandbox.close()
                if not error.corrupt:
                    raise
        Store.delete(_database(data_dir))
        sandbox = cls(data_dir, seed=False)
        sandbox.reset(seed=seed)
        return sandbox

    def add_contacts(self, count: int, *, role: str = "user", prefix: str = "bulk") -> list[str]:
        """Create ``count`` contacts at once (tests, benchmarks); returns their ids in order."""
        from intercom_connector.sandbox import records

        ids = []
        now = int(time.time())
        with self.store.transaction() as db:
            start = db.execute("SELECT COALESCE(MAX(seq), 0) FROM contacts").fetchone()[0]
            for number in range(start + 1, start + count + 1):
                contact_id = hashlib.sha1(f"{prefix}-{number}".encode()).hexdigest()[:24]
                fields = {
                    "role": role,
                    "email": f"{prefix}-{number}@example.com",
                    "name": f"{prefix.capitalize()} Contact {number}",
                }
                if role == "user":
                    fields["external_id"] = f"{prefix}-{number}"
                records.save_contact(db, records.new_contact(contact_id, fields, now))
                ids.append(contact_id)
        return ids

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that answers in-process, with no socket."""
        return _InProcessTransport(app=self.app)

    def close(self) -> None:
        self.store.close()


def serve(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, threads: int = 8
) -> ServerHandle:
    """Serve ``sandbox`` on loopback in a background thread (port 0 picks a free one)."""
    return ServerHandle(sandbox.app, host, port, threads)


def serve_forever(
    sandbox: Sandbox,
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``sandbox`` on loopback until interrupted; ``ready(url)`` once it listens."""
    run_server(sandbox.app, host, port, ready=ready)
