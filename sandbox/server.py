"""The sandbox on a real loopback HTTP server (waitress: keep-alive, threads, no parser of ours)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from intercom_connector.sandbox.app import Environ, SandboxApp, StartResponse
from intercom_connector.sandbox.store import SandboxStateError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the sandbox serves loopback addresses only ({', '.join(LOOPBACK)})")


def _answering_state_errors(app: SandboxApp) -> Callable[[Environ, StartResponse], Any]:
    """Over HTTP, unusable state is a 500 in Intercom's error shape, not a server traceback
    (in-process, the error reaches the caller as it is)."""

    def serve(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except SandboxStateError as error:
            item = {"code": "server_error", "message": str(error)}
            body = {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [item]}
            content = json.dumps(body).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
            start_response("500 Internal Server Error", headers)
            return [content]

    return serve


class ServerHandle:
    """A running loopback server; ``url`` to reach it, ``stop()`` (or ``with``) to end it."""

    def __init__(self, app: SandboxApp, host: str, port: int, threads: int) -> None:
        from waitress.server import create_server

        _check_loopback(host)
        logging.getLogger("waitress").setLevel(logging.CRITICAL)  # faults are on purpose
        self._sockets: dict[int, Any] = {}  # waitress's socket map, closed in its own loop
        self._server: Any = create_server(
            _answering_state_errors(app),
            map=self._sockets,
            host=host,
            port=port,
            threads=threads,
            channel_timeout=30,
            ident="sandbox",
        )
        self.port: int = self._server.effective_port
        self.url = _url(host, self.port)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="sandbox")
        self._thread.start()

    def stop(self) -> None:
        stop_in_loop(self._server, self._sockets, self._thread)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_in_loop(server: Any, sockets: dict[int, Any], thread: threading.Thread | None) -> None:
    """Stop a waitress ``server`` whose loop runs in ``thread`` over the socket map ``sockets``.

    Its sockets are closed by the loop's own thread, woken at once: closed from here, a socket
    could go under the loop's ``select()`` (EBADF in that thread), and the loop would notice
    only at its next timeout (a second). The close is queued and the trigger pulled under the
    trigger's lock: the loop, woken meanwhile by a response, would otherwise run the close
    (the trigger's too) before this thread writes to the trigger."""
    if thread is not None and thread.is_alive():
        from waitress import wasyncore

        trigger = server.trigger
        with trigger.lock:
            trigger.thunks.append(lambda: wasyncore.close_all(sockets))
            trigger._physical_pull()
        thread.join(timeout=5)
    else:
        server.close()
    server.task_dispatcher.shutdown()


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_server(
    app: SandboxApp,
    host: str = "127.0.0.1",
    port: int = 8765,
    threads: int = 8,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (the CLI's ``sandbox serve``); ``ready(url)`` is called once
    the port is bound, so nothing is announced for a server that could not start."""
    from waitress.server import create_server

    _check_loopback(host)
    server: Any = create_server(
        _answering_state_errors(app), host=host, port=port, threads=threads, ident="sandbox"
    )
    try:
        if ready is not None:
            ready(_url(host, server.effective_port))
        server.run()
    finally:
        server.close()
