"""The sandbox on a real loopback HTTP server (waitress: keep-alive, threads, no parser of ours)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from intercom_connector.sandbox.app import SandboxApp

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the sandbox serves loopback addresses only ({', '.join(LOOPBACK)})")


class ServerHandle:
    """A running loopback server; ``url`` to reach it, ``stop()`` (or ``with``) to end it."""

    def __init__(self, app: SandboxApp, host: str, port: int, threads: int) -> None:
        from waitress.server import create_server

        _check_loopback(host)
        logging.getLogger("waitress").setLevel(logging.CRITICAL)  # faults are on purpose
        self._server: Any = create_server(
            app, host=host, port=port, threads=threads, channel_timeout=30, ident="sandbox"
        )
        self.port: int = self._server.effective_port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="sandbox")
        self._thread.start()

    def stop(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_server(
    app: SandboxApp, host: str = "127.0.0.1", port: int = 8765, threads: int = 8
) -> None:
    """Serve until interrupted (the CLI's ``sandbox serve``)."""
    from waitress.server import create_server

    _check_loopback(host)
    server: Any = create_server(app, host=host, port=port, threads=threads, ident="sandbox")
    try:
        server.run()
    finally:
        server.close()
