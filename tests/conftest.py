"""Shared fixtures: a recording MockTransport, the official spec, a canary token; and how the
suite runs side by side (pytest-xdist, options in pyproject.toml; docs/development.md).

The rules every test follows to be parallel-safe (the suite runs in several worker processes):

- Each test file runs whole in one worker, in file order (``--dist loadfile``), so a
  module-scoped fixture (a served sandbox, a browser) is built once, and tests of one file may
  share it. Different files may run at the same time in different workers.
- Heavy servers (a Temporal server, an n8n, a browser) are module- or session-scoped fixtures,
  never started per test without need. A session fixture is per worker (each worker is its own
  process): it is started lazily by the first test that asks for it, so tests that share one
  server belong in one file (or few), and it must not assume it is alone on the machine.
  (xdist_group marks are not used: ``--dist loadgroup`` silently stops grouping on pytest 9.2,
  pytest-xdist issue 1386.)
- Ports: bind port 0 and read the port the server reports (or the URL it announces); never a
  fixed port, never a "free port" probed first and bound later (another worker may take it).
- Files: only under ``tmp_path``/``tmp_path_factory`` (per worker); never in the repository
  (but build/, per file) or the user's folders (config, cache, data: give the subprocess
  ``XDG_*`` or ``--config-dir``).
- Environment: never change ``os.environ`` for other tests; pass ``env=`` to subprocesses or
  use ``monkeypatch.setenv``. (``private_cache`` below sets one variable for the whole worker.)
- Timing: wait on conditions (a line printed, a port answering, a count reached) with generous
  deadlines, never on a sleep of a guessed length; never assert wall-clock speed: the other
  workers load the same cores.
- A file that takes much longer than the others goes into ``START_FIRST`` below, so that it
  does not start last and leave the other workers idle at the end. A file of many slow,
  independent tests (no module fixture, no order) may go into ``PER_TEST``: its tests are
  then spread over the workers one by one.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from spec_corrections import check_exploded_filters, corrected
from support import SPEC_PATH, TOKEN, HttpxOpenAPIRequest, LoopbackIntercom, Recorder

from intercom_connector import Connector
from intercom_connector.runtime.client import RetryPolicy

#: The slowest files (``--durations=0``, summed per file), started first so that the run does
#: not end waiting on one of them; the others follow in file order, then PER_TEST's.
START_FIRST: tuple[str, ...] = (
    "test_temporal_kill.py",
    "test_temporal_bulk.py",
    "test_temporal_deployments.py",
    "test_e2e.py",
    "test_search_ranges.py",
    "test_connections.py",
    "test_ui_browser.py",
    "test_operations.py",
    "test_unsendable.py",
    "test_mcp.py",
    "test_trigger_cli.py",
    "test_secrets.py",
    "test_readme_examples.py",
    "test_quality.py",
    "test_packaging.py",
    "",  # the other files, in their order
)
#: Files of many slow tests that share nothing (no module- or session-scoped state of their
#: own, no order): their tests are handed out one by one, last, to fill the workers' gaps.
PER_TEST: tuple[str, ...] = ("test_fuzz.py", "test_startup.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first (xdist hands out the work in this order), PER_TEST's last;
    the test order within a file is kept."""
    rank = {name: place for place, name in enumerate(START_FIRST)}
    rank.update({name: len(START_FIRST) for name in PER_TEST})
    items.sort(key=lambda item: rank.get(item.path.name, rank[""]))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, except that the tests of PER_TEST's files go one by one."""
    if config.getoption("dist") != "loadfile":
        return None  # another --dist given on the command line: xdist's own
    from xdist.scheduler import LoadFileScheduling

    class FileOrTestScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path.rsplit("/", 1)[-1] in PER_TEST else path

    return FileOrTestScheduling(config, log)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per core (most tests wait on a subprocess or a socket, not
    the CPU), at least 2 and at most 8; PYTEST_XDIST_AUTO_NUM_WORKERS overrides it."""
    if env := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(env)
    return min(8, max(2, 2 * len(os.sched_getaffinity(0))))


# a real Temporal server, workers and `sandbox serve` for the Temporal tests
pytest_plugins = ["temporal_support"]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user cache folder of every process the suite starts (runtime/cache.py): a fresh
    one, so that the suite neither reads nor leaves entries in the real one."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def connection() -> dict[str, str]:
    return {"type": "access_token", "access_token": TOKEN}


@pytest.fixture
def connector(recorder: Recorder, connection: dict[str, str]) -> Iterator[Connector]:
    fast = RetryPolicy(backoff_base=0.0, backoff_cap=0.0)
    with Connector(connection, transport=httpx.MockTransport(recorder), retry=fast) as c:
        yield c


@pytest.fixture(scope="session")
def openapi(spec_document: dict[str, Any]) -> Any:
    """The official Intercom OpenAPI description (v2.16) for openapi-core, with the
    corrections of tests/spec_corrections.py (each says why)."""
    from openapi_core import Config, OpenAPI

    spec = corrected(_without_impossible_formats(spec_document))
    # The description itself trips openapi-spec-validator on operations we never call
    # (an unresolved path parameter under /export): check requests, not the document.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _without_impossible_formats(document: dict[str, Any]) -> dict[str, Any]:
    """The description, with the one constraint no real request can meet taken out: it
    calls a contact id (24 hex characters, its own example's too) a ``uuid``."""
    schemas = dict(document["components"]["schemas"])
    create = copy.deepcopy(schemas["create_conversation_request"])
    sender = create["properties"]["from"]["properties"]["id"]
    assert sender.pop("format") == "uuid" and sender["minLength"] == 24
    schemas["create_conversation_request"] = create
    return {**document, "components": {**document["components"], "schemas": schemas}}


@pytest.fixture
def assert_conforms(openapi: Any, spec_document: dict[str, Any]) -> Callable[[httpx.Request], None]:
    """Asserts that a request the connector sent is valid for the official spec."""

    def check(request: httpx.Request) -> None:
        errors = list(openapi.iter_request_errors(HttpxOpenAPIRequest(request)))
        details = [
            f"{type(e).__name__}: {e}; causes: {[str(c) for c in getattr(e, 'schema_errors', [])]}"
            f" {getattr(e, '__cause__', '')}"
            for e in errors
        ]
        assert not errors, f"{request.method} {request.url} breaks the spec: {details}"
        check_exploded_filters(request, spec_document)

    return check


@pytest.fixture
def loopback(recorder: Recorder) -> Iterator[LoopbackIntercom]:
    """A real HTTP server on 127.0.0.1 answering through ``recorder``."""
    server = LoopbackIntercom(recorder)
    yield server
    server.close()


@pytest.fixture(scope="session")
def spec_document() -> dict[str, Any]:
    """The official description as plain data, or a skip saying why not."""
    if not SPEC_PATH.is_file():
        pytest.skip(f"the official spec {SPEC_PATH} is absent (it lives in ../shared)")
    with SPEC_PATH.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return document
