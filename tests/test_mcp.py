"""The MCP server, through the official MCP SDK's own client: over stdio (the CLI in a
subprocess), over streamable HTTP on loopback, and in process for the failure paths."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Tool
from support import REPO, TOKEN, Recorder

from intercom_connector import Connector
from intercom_connector.hosts.docs import manifest_json
from intercom_connector.hosts.mcp import Tools, build_server
from intercom_connector.runtime import paging as paging_module
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.sandbox import Sandbox, ServerHandle

MANIFEST = load_manifest()
#: what ``intercom-connector manifest`` exports: the schemas every tool must carry unchanged
EXPORTED = manifest_json(MANIFEST)
#: how a test's MCP server caps a Fetch All (the sandbox holds 50 contacts and 5 companies)
MAX_RECORDS = 20
#: no exchange with a server may take longer than this
DEADLINE = 30


class CountingApp:
    """The sandbox's WSGI app, remembering each request it was sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return self.app(environ, start_response)


@pytest.fixture
def intercom(tmp_path: Path) -> Iterator[tuple[CountingApp, Path]]:
    """A sandbox on loopback accepting only the canary token; a connection file for it."""
    app = CountingApp(Sandbox(":memory:", token=TOKEN).app)
    server = ServerHandle(app, "127.0.0.1", 0, 4)  # type: ignore[arg-type]
    connection = tmp_path / "connection.json"
    connection.write_text(
        json.dumps({"type": "access_token", "access_token": TOKEN, "base_url": server.url})
    )
    connection.chmod(0o600)  # a file holding a token must be private, or it is refused
    yield app, connection
    server.stop()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    return {**env, **extra}


def mcp_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "intercom_connector", "mcp", *args]


def run_async(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(DEADLINE):
            await scenario()

    anyio.run(bounded)


class Transcript:
    """Every result a client received, to search for secrets afterwards."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.seen: list[str] = []

    async def tools(self) -> list[Tool]:
        listed = await self.session.list_tools()
        self.seen.append(listed.model_dump_json())
        return listed.tools

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self.session.call_tool(name, arguments)
        self.seen.append(result.model_dump_json())
        return result


def text_of(result: CallToolResult) -> str:
    (content,) = result.content
    assert content.type == "text"
    return content.text


def check_listing(tools: list[Tool]) -> None:
    """One tool per action and per data source, carrying the manifest's own schemas."""
    by_name = {tool.name: tool for tool in tools}
    assert len(by_name) == len(tools)
    assert set(by_name) == {*MANIFEST.actions, *MANIFEST.data_sources}
    for entry in [*EXPORTED["actions"], *EXPORTED["data_sources"]]:
        tool = by_name[entry["key"]]
        assert tool.title == entry["label"]
        assert tool.input_schema == entry["input_schema"]
        assert tool.output_schema == entry["output_schema"]
        assert tool.description and tool.description.startswith(entry["description"])
        for spec in entry["inputs"]:
            if spec["type"] != "connection":
                assert f"- {spec['key']} ({spec['label']}" in tool.description
                assert spec["comments"].rstrip(".") in tool.description
        hints = tool.annotations
        assert hints is not None and hints.open_world_hint is True
        effect = entry.get("effect", "read")  # a data source only reads
        assert hints.read_only_hint is (effect == "read")
        assert hints.destructive_hint is (effect in ("update", "delete", "any"))
        assert hints.idempotent_hint is entry.get("idempotent", True)
    # what these mean for a client deciding whether to ask before a call
    assert by_name["get_contact"].annotations.read_only_hint is True  # type: ignore[union-attr]
    delete = by_name["delete_contact"].annotations
    assert delete and delete.destructive_hint and delete.idempotent_hint
    create = by_name["create_contact"].annotations
    assert create and not create.destructive_hint and not create.idempotent_hint
    raw = by_name["raw_request"].annotations
    assert raw and raw.destructive_hint and not raw.idempotent_hint
    assert "Choices: the tool select_contact" in (by_name["get_contact"].description or "")


async def exercise(session: ClientSession, app: CountingApp) -> list[str]:
    """What every transport must do against the sandbox; returns every result received."""
    await session.initialize()
    client = Transcript(session)
    check_listing(await client.tools())

    email = f"mcp-{uuid.uuid4().hex[:8]}@example.com"
    created = await client.call("create_contact", {"email": email, "name": "Ada Lovelace"})
    assert not created.is_error, text_of(created)
    contact = created.structured_content
    assert (contact["type"], contact["email"], contact["name"]) == (
        "contact",
        email,
        "Ada Lovelace",
    )
    assert json.loads(text_of(created)) == contact  # the same result as JSON text
    got = await client.call("get_contact", {"contact_id": contact["id"]})
    assert not got.is_error, text_of(got)
    assert (got.structured_content["id"], got.structured_content["email"]) == (contact["id"], email)
    choices = await client.call("select_contact", {"limit": 100})
    assert contact["id"] in {choice["key"] for choice in choices.structured_content["result"]}

    sent = len(app.requests)
    bad = await client.call("create_contact", {"signed_up_at": "next tuesday", "colour": "red"})
    assert bad.is_error
    assert "Signed Up At (signed_up_at)" in text_of(bad) and "colour" in text_of(bad)
    assert bad.structured_content is None
    assert len(app.requests) == sent, "a bad input sent a request"

    missing = await client.call("get_contact", {"contact_id": "0" * 24})
    assert missing.is_error
    assert text_of(missing).startswith("Intercom answered 404 not_found on GET /contacts/")
    assert "\n" not in text_of(missing)

    sent = len(app.requests)
    too_many = await client.call("list_contacts", {"fetch_all": True, "per_page": 5})
    assert too_many.is_error
    message = text_of(too_many)
    assert "\n" not in message and f"past {MAX_RECORDS} records" in message
    assert "turn Fetch All off and page with Per Page and Starting After" in message
    pages = [path for _, path in app.requests[sent:] if path == "/contacts"]
    assert 0 < len(pages) < 10, "it read on past the limit (the 50 contacts are 10 pages)"

    every = await client.call("list_companies", {"fetch_all": True, "per_page": 2})
    assert not every.is_error, text_of(every)
    companies = every.structured_content
    assert len(companies["data"]) == companies["total_count"] == 5
    return client.seen


def test_stdio_serves_every_tool_against_the_sandbox(
    intercom: tuple[CountingApp, Path], tmp_path: Path
) -> None:
    app, connection = intercom
    params = StdioServerParameters(
        command=sys.executable,
        args=mcp_command("--connection", str(connection), "--max-records", str(MAX_RECORDS))[1:],
        env=clean_env(),
        cwd=REPO,
    )
    errlog = tmp_path / "stderr.txt"
    seen: list[str] = []

    async def scenario() -> None:
        with errlog.open("w") as errors:
            async with stdio_client(params, errlog=errors) as streams, ClientSession(*streams) as s:
                seen.extend(await exercise(s, app))

    run_async(scenario)
    stderr = errlog.read_text()
    assert "MCP server on stdio" in stderr and "sandbox" not in stderr
    for text in [*seen, stderr]:
        assert TOKEN not in text


@contextmanager
def http_server(args: list[str], env: dict[str, str], errlog: Path) -> Iterator[str]:
    """The CLI serving MCP over HTTP on a free loopback port; its URL, as it announces it."""
    with errlog.open("w") as errors:
        process = subprocess.Popen(
            mcp_command("--http", "--port", "0", *args), stderr=errors, env=env, cwd=REPO
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while not (found := re.search(r"http://127\.0\.0\.1:\d+/mcp", errlog.read_text())):
            assert process.poll() is None, errlog.read_text()
            assert time.monotonic() < deadline, "the server never said where it listens"
            time.sleep(0.05)
        yield found.group(0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_streamable_http_serves_every_tool_on_loopback(
    intercom: tuple[CountingApp, Path], tmp_path: Path
) -> None:
    app, connection = intercom
    errlog = tmp_path / "stderr.txt"
    args = ["--connection", str(connection), "--max-records", str(MAX_RECORDS)]
    seen: list[str] = []
    with http_server(args, clean_env(), errlog) as url:

        async def scenario() -> None:
            async with (
                streamable_http_client(url) as streams,
                ClientSession(*streams) as session,
            ):
                seen.extend(await exercise(session, app))

        run_async(scenario)
        # A page the user opens elsewhere cannot reach it through another name (DNS rebinding).
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        foreign = httpx.post(url, json=hello, headers={"Host": "intercom.example"}, timeout=10)
        assert foreign.status_code in (403, 421)
    stderr = errlog.read_text()
    assert "streamable HTTP" in stderr and "Ctrl-C stops it" in stderr
    for text in [*seen, stderr]:
        assert TOKEN not in text


def test_with_nothing_configured_it_serves_the_embedded_sandbox_and_keeps_stdout_clean(
    tmp_path: Path,
) -> None:
    """The connection rule of ``run`` (but data sources say Connect first, docs/actions.md);
    with --verbose tracing, stdout still holds only MCP."""
    errlog = tmp_path / "stderr.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "intercom_connector", "--verbose", "mcp"],
        env=clean_env(INTERCOM_SANDBOX_DIR=str(tmp_path / "sandbox")),
        cwd=REPO,
    )
    strays: list[Any] = []

    async def note_strays(message: Any) -> None:
        if isinstance(message, Exception):
            strays.append(message)  # a line on stdout that is not an MCP message

    async def scenario() -> None:
        with errlog.open("w") as errors:
            async with (
                stdio_client(params, errlog=errors) as streams,
                ClientSession(*streams, message_handler=note_strays) as session,
            ):
                await session.initialize()
                tags = await session.call_tool("list_tags", {})
                assert not tags.is_error and tags.structured_content["type"] == "list"
                # a data source answers from a connection given, never from the sandbox
                # it fell back to: its choices would pass for the workspace's
                choices = await session.call_tool("select_tag", {})
                assert choices.is_error and text_of(choices).startswith("Connect first: ")

    run_async(scenario)
    assert not strays
    stderr = errlog.read_text()
    assert "using the embedded sandbox" in stderr
    assert "GET" in stderr and "/tags" in stderr  # the --verbose trace went to stderr


def test_the_sdk_loads_only_for_the_mcp_command() -> None:
    probe = (
        "import sys\n"
        "from intercom_connector.hosts.cli import main\n"
        "code = main(['actions', '--json'])\n"
        "print('mcp' in sys.modules, code, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.stderr.strip() == "False 0"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--http", "--host", "0.0.0.0"], "--host 0.0.0.0 listens beyond loopback"),
        (["--port", "8766"], "mcp: --port is for HTTP: add --http"),
        (["--stateless", "--host", "::1"], "mcp: --host and --stateless are for HTTP"),
        (
            ["--http", "--host", "0.0.0.0", "--token-env", "NO_SUCH_VARIABLE"],
            "--token-env NO_SUCH_VARIABLE: the environment variable NO_SUCH_VARIABLE is not set",
        ),
        (
            ["--http", "--host", "0.0.0.0", "--token-env", "MCP_BLANK"],
            "--token-env MCP_BLANK: the environment variable MCP_BLANK holds no token",
        ),
        (
            ["--http", "--host", "0.0.0.0", "--token-env", "MCP_ONE_SHORT"],
            "--token-env MCP_ONE_SHORT: 1 of its 2 tokens are shorter than 16 characters",
        ),
        (
            ["--http", "--host", "0.0.0.0", "--token-env", "MCP_SHORT"],
            "--token-env MCP_SHORT: its token is shorter than 16 characters",
        ),
        (
            ["--http", "--grace", "0"],
            "expected a number of seconds above 0 and at most 31,536,000 (a year), got '0'",
        ),
        (["--http", "--max-calls", "0"], "expected a whole number of at least 1, got '0'"),
        (["--max-records", "0"], "expected a whole number of at least 1, got '0'"),
        (["--http", "--port", "70000"], "expected a TCP port (0: any free one) from 0 to 65535"),
    ],
)
def test_bad_command_lines_are_refused(args: list[str], expected: str) -> None:
    done = subprocess.run(
        mcp_command(*args),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={
            **clean_env(),
            "MCP_BLANK": " , ,",
            "MCP_ONE_SHORT": f"{'a' * 32}, short",
            "MCP_SHORT": "a" * 15,
        },
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert expected in done.stderr and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("error: ") and "Traceback" not in done.stderr


# -- in process: Intercom's failures, and the Fetch All limit, page by page ----------------


def in_process(recorder: Recorder, scenario: Callable[[Client], Awaitable[None]]) -> None:
    """``scenario`` with the SDK's client on the server, Intercom answering by ``recorder``."""
    fast = RetryPolicy(backoff_base=0.0, backoff_cap=0.0)
    connection = {"type": "access_token", "access_token": TOKEN}
    with Connector(connection, transport=httpx.MockTransport(recorder), retry=fast) as connector:
        server = build_server(Tools(connector, max_records=3))

        async def connected() -> None:
            async with Client(server) as client:
                await scenario(client)

        run_async(connected)


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error.list", "errors": [{"code": code, "message": message}]}


def test_refusals_rate_limits_and_network_failures_are_one_line_error_results(
    recorder: Recorder,
) -> None:
    recorder.on("GET", "/contacts/[^/]+", error("unauthorized", "Access Token Invalid"), status=401)
    limited = error("rate_limit_exceeded", "Exceeded rate limit")
    recorder.on("GET", "/tags", limited, status=429, headers={"Retry-After": "3600"})

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder.respond("GET", "/ticket_types", unreachable)
    texts: list[str] = []

    async def scenario(client: Client) -> None:
        for name, arguments, expected in [
            ("get_contact", {"contact_id": "1"}, "Intercom answered 401 unauthorized"),
            ("list_tags", {}, "Intercom answered 429 rate_limit_exceeded"),
            ("list_ticket_types", {}, "No answer from Intercom for GET /ticket_types"),
        ]:
            result = await client.call_tool(name, arguments)
            assert result.is_error and expected in text_of(result), text_of(result)
            assert "\n" not in text_of(result)
            texts.append(result.model_dump_json())
        with pytest.raises(MCPError, match="'get_contacts' is not a tool"):
            await client.call_tool("get_contacts", {})

    in_process(recorder, scenario)
    for text in texts:
        assert TOKEN not in text
    assert len(recorder.requests) >= 3
    for request in recorder.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"  # it did authenticate


def test_a_fetch_all_past_the_limit_stops_reading_pages(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two contacts; the server takes 3 records: the second page is the last read,
    even by a Fetch All reading pages ahead (as it does over a slow round trip)."""
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("starting_after") or 0)
        contacts = [{"type": "contact", "id": f"c{number * 2 + i}"} for i in range(2)]
        pages: dict[str, Any] = {"type": "pages", "page": number + 1, "per_page": 2}
        if number < 9:
            pages["next"] = {"per_page": 2, "starting_after": str(number + 1)}
        return httpx.Response(
            200, json={"type": "list", "data": contacts, "total_count": 20, "pages": pages}
        )

    recorder.respond("GET", "/contacts", page)
    results: list[CallToolResult] = []

    async def scenario(client: Client) -> None:
        results.append(await client.call_tool("list_contacts", {"fetch_all": True}))
        results.append(await client.call_tool("list_contacts", {"per_page": 2}))

    in_process(recorder, scenario)
    refused, one_page = results
    assert refused.is_error
    assert text_of(refused).startswith("List Contacts: Fetch All stopped past 3 records")
    assert not one_page.is_error and [c["id"] for c in one_page.structured_content["data"]] == [
        "c0",
        "c1",
    ]
    assert len(recorder.requests) == 2 + 1  # two pages for the Fetch All, one for the page


def test_past_the_limit_a_list_paged_by_link_names_the_link_as_its_cursor(
    connector: Connector,
) -> None:
    """Data events link to their next page: pages.next itself, not pages.next.starting_after."""
    tools = Tools(connector)
    lists = [action for action in tools.manifest.actions.values() if action.paging]
    linked = [action.key for action in lists if action.paging and action.paging.style == "link"]
    assert linked
    for action in lists:
        cursor = "pages.next" if action.key in linked else "pages.next.starting_after"
        assert tools._too_large(action.key, 3).endswith(f"(each page gives the next in {cursor})")


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            mcp_command("--sandbox", "--http", "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env=clean_env(INTERCOM_SANDBOX_DIR=str(tmp_path)),
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 3
    assert done.stderr.strip() == (
        f"error: cannot serve MCP on 127.0.0.1:{port}: Address already in use; "
        "choose another port with --port (0: any free one)"
    )


def test_ctrl_c_stops_the_stdio_server_while_its_client_keeps_stdin_open(tmp_path: Path) -> None:
    """A person runs ``mcp`` in a terminal, talks to it, and presses Ctrl-C: stdin (the
    terminal) stays open, and the server must still stop, without a traceback."""
    import pty
    import signal

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        mcp_command("--sandbox"), stdin=follower, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=REPO, env=clean_env(INTERCOM_SANDBOX_DIR=str(tmp_path)),
    )  # fmt: skip
    os.close(follower)
    try:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "terminal", "version": "1"}}}  # fmt: skip
        os.write(leader, json.dumps(hello).encode() + b"\n")
        assert process.stdout is not None
        import selectors

        with selectors.DefaultSelector() as ready:
            ready.register(process.stdout, selectors.EVENT_READ)
            assert ready.select(timeout=DEADLINE), "no answer to initialize"
        answer = json.loads(process.stdout.readline())  # it serves: the session is open
        assert answer["id"] == 1 and "serverInfo" in answer["result"]
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        os.close(leader)
    assert process.returncode == 130
    assert errors.decode().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in errors.decode() and "Fatal" not in errors.decode()
