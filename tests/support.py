"""Test support shared by every layer: a recording MockTransport, spec adapters, paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SPEC_PATH = SHARED / "intercom-openapi" / "api.intercom.io.yaml"
SEED_PATH = SHARED / "seed" / "intercom-connector-doc.txt"
#: a token no real workspace has; tests assert it never shows up in any output
TOKEN = "canary-token-7f3a9c1e5b2d4"
#: the documentation a reader meets: the README, then the guide's pages in docs/
DOC_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """A MockTransport handler: answers by route, remembers every request sent."""

    routes: list[tuple[str, re.Pattern[str], Responder]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` (a regex on the raw path) with ``body`` as JSON."""
        content = b"" if body is None else json.dumps(body).encode()

        def respond(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, content=content, headers=headers or {})

        self.respond(method, path, respond)

    def respond(self, method: str, path: str, responder: Responder) -> None:
        self.routes.insert(0, (method, re.compile(f"^{path}$"), responder))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raw_path = request.url.raw_path.decode().split("?")[0]
        for method, pattern, responder in self.routes:
            if method == request.method and pattern.match(raw_path):
                return responder(request)
        return httpx.Response(
            404, json={"type": "error.list", "errors": [{"code": "not_found", "message": "?"}]}
        )

    @property
    def last(self) -> httpx.Request:
        assert self.requests, "no request was sent"
        return self.requests[-1]


def body_of(request: httpx.Request) -> Any:
    """The JSON body a request carried."""
    return json.loads(request.content) if request.content else None


def query_of(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


# -- the official OpenAPI description ------------------------------------------------


class HttpxOpenAPIRequest:
    """openapi-core's Request protocol over an httpx.Request, matched to the spec's server."""

    def __init__(self, request: httpx.Request, server: str = "https://api.intercom.io") -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.request = request
        self.server = server
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return self.server

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return self.request.headers.get("Content-Type", "application/json")


class HttpxOpenAPIResponse:
    """openapi-core's Response protocol over an httpx.Response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def data(self) -> bytes:
        return self.response.content

    @property
    def content_type(self) -> str:
        return self.response.headers.get("Content-Type", "application/json")

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.response.headers)


class LoopbackIntercom:
    """A real HTTP server on 127.0.0.1 that answers through a Recorder (for CLI tests)."""

    def __init__(self, recorder: Recorder) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command,
                    f"{outer.url}{self.path}",
                    headers=list(self.headers.items()),
                    content=content,
                )
                response = recorder(request)
                response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RecordingTransport(httpx.BaseTransport):
    """Wraps a transport and keeps every (request, response) pair that went through it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response


# -- the command line, as a person runs it ------------------------------------------------


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any INTERCOM_* setting, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    return {**base, **(extra or {})}


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
    stderr: int | None = None,
    file_size_limit: int | None = None,
    unprivileged: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m intercom_connector ARGS`` in a subprocess: output captured as text, the
    environment this process's without INTERCOM_* but for ``env``; ``stderr`` another
    target for the error stream (a terminal's, say). ``file_size_limit``: no file it
    writes grows past that many bytes (a write past it fails, as on a full disk);
    ``unprivileged``: even as root, file permissions hold for it (a read-only folder)."""
    prefix = without_overrides() if unprivileged else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "intercom_connector", *args],
        preexec_fn=None if file_size_limit is None else lambda: limit_files(file_size_limit),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr,
        text=True,
        env=clean_env(env),
        input=stdin,
        timeout=timeout,
        cwd=cwd or REPO,
    )


def limit_files(size: int) -> None:
    """In a child process: files it writes cannot grow past ``size`` bytes (EFBIG)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def without_overrides() -> list[str]:
    """A command prefix under which file permissions hold even for root (which may write
    in any folder otherwise): it drops the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    import shutil

    if shutil.which("setpriv") is None:
        import pytest

        pytest.skip("running as root, and no setpriv to drop the right to write anywhere")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def read_terminal(leader: int) -> bytes:
    """All a pseudo-terminal's other end was sent, until it closed (``leader`` closed too)."""
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed: Linux reports it as EIO
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return shown
