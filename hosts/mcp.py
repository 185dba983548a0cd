"""The connector as an MCP server: every action and data source a tool, from the manifest.

    intercom-connector mcp [--connection FILE|NAME] [--sandbox]                 # stdio
    intercom-connector mcp --http [--port N] [--host 127.0.0.1] [...]           # streamable HTTP
    intercom-connector mcp --http --host 0.0.0.0 --token-env VAR [--stateless]  # beyond loopback

Flow builders and agents that call tools over the Model Context Protocol (n8n's MCP Client
Tool, Activepieces, desktop assistants) get one tool per action and one per data source:
name = the key, title = the label, the description with each input's comments, the input
and output JSON Schemas unchanged, and annotations derived from the action's declared
``effect``. A call runs through the shim (runtime/shim.py) on the one connection chosen at
start, so validation, retries, rate limits and redaction are the CLI's. A result is the
action's output (what ``run`` prints under ``data``; a data source's ``{"result": [...]}``)
as structured content and as JSON text; every ConnectorError comes back as an error result
(``isError``) with the CLI's message.

Over HTTP the operations (bearer tokens, /healthz, limits, the request log, the SIGTERM
drain) are hosts/service.py's, shared with ``trigger listen``.

Only hosts/cli.py imports this module, and only for ``mcp``: the SDK is not loaded by
any other command.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import anyio
import mcp_types as types
import orjson
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from intercom_connector import __version__
from intercom_connector.hosts import service
from intercom_connector.hosts.service import ServiceOptions
from intercom_connector.runtime.client import give_up_at, request_ids
from intercom_connector.runtime.errors import (
    ConnectorError,
    ManifestError,
    ResultTooLargeError,
)
from intercom_connector.runtime.manifest import (
    ActionSpec,
    Manifest,
    OperationSpec,
    load_manifest,
)
from intercom_connector.runtime.paging import paginator
from intercom_connector.runtime.shim import Connector

#: The most records one Fetch All hands over in a single tool result. An MCP client holds a
#: result whole (one JSON-RPC message) and passes it to a model whose context holds a few
#: hundred thousand tokens: 10,000 contacts are already some 10 MB of JSON, far past that.
#: Past the limit the call stops reading pages and says to page instead.
MAX_RECORDS = 10_000
#: where streamable HTTP answers, on the chosen loopback host and port
HTTP_PATH = "/mcp"
#: the streamable HTTP port by default: the one after the sandbox's (8765)
DEFAULT_PORT = 8766


def tool_annotations(action: ActionSpec) -> types.ToolAnnotations:
    """What a client may assume of a tool, from the manifest's ``effect`` of its action.

    Reads are read-only; updates, deletes and Raw Request (``any``) may destroy what is
    there; creates only add. Idempotent where a retry cannot duplicate a write
    (``ActionSpec.idempotent``). Every tool reaches Intercom: an open world.
    """
    return types.ToolAnnotations(
        title=action.label,
        read_only_hint=action.effect == "read",
        destructive_hint=action.effect not in ("read", "create"),
        idempotent_hint=action.idempotent,
        open_world_hint=True,
    )


def _read_only(title: str) -> types.ToolAnnotations:
    return types.ToolAnnotations(
        title=title,
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    )


def description(operation: OperationSpec, tools: Collection[str], max_records: int) -> str:
    """The operation's description, then each input with its comments, then its rules."""
    lines = [operation.description, "", "Inputs:"]
    for spec in operation.value_inputs:
        notes = [spec.comments.rstrip(".")] if spec.comments else []
        if spec.options:
            notes.append(f"One of: {', '.join(option.value for option in spec.options)}")
        if spec.data_source and spec.data_source in tools:
            notes.append(f"Choices: the tool {spec.data_source}")
        head = f"- {spec.key} ({spec.label}{', required' if spec.required else ''})"
        lines.append(f"{head}: {'. '.join(notes)}." if notes else head)
    if not operation.value_inputs:
        lines.append("- none")
    for rule in operation.rules:
        labels = ", ".join(operation.input(key).label for key in rule.inputs)
        if rule.type == "at_least_one_of":
            lines.append(f"Give at least one of {labels}.")
        elif rule.type == "at_most_one_of":
            lines.append(f"Give at most one of {labels}.")
    lines += [
        rule.describe(lambda key: operation.input(key).label) for rule in operation.conditions
    ]
    if isinstance(operation, ActionSpec) and operation.kind == "list":
        fetch_all = operation.input("fetch_all").label
        lines.append(
            f"{fetch_all} gives at most {max_records:,} records in one result; page past that."
        )
    return "\n".join(lines)


class Tools:
    """The manifest's actions and data sources as MCP tools, called through one Connector."""

    def __init__(
        self,
        connector: Connector,
        manifest: Manifest | None = None,
        *,
        max_records: int = MAX_RECORDS,
        connect_first: str | None = None,
    ) -> None:
        self.connector = connector
        self.manifest = manifest or load_manifest()
        self.max_records = max_records
        #: the answer of every data source when no connection was given (the embedded
        #: sandbox serves the actions only then): choices must be the workspace's own
        self.connect_first = connect_first
        clash = set(self.manifest.actions) & set(self.manifest.data_sources)
        if clash:
            raise ManifestError(f"an action and a data source share the tool names {clash}")
        self.tools = self._tools()

    def _tools(self) -> dict[str, types.Tool]:
        manifest = self.manifest
        names = {*manifest.actions, *manifest.data_sources}
        tools = {}
        for action in manifest.actions.values():
            tools[action.key] = types.Tool(
                name=action.key,
                title=action.label,
                description=description(action, names, self.max_records),
                input_schema=action.input_schema,
                output_schema=manifest.output_schema(action.output),
                annotations=tool_annotations(action),
            )
        for source in manifest.data_sources.values():
            tools[source.key] = types.Tool(
                name=source.key,
                title=source.label,
                description=description(source, names, self.max_records),
                input_schema=source.input_schema,
                output_schema=manifest.output_schema("choices"),
                annotations=_read_only(source.label),
            )
        return tools

    def call(self, name: str, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
        """Run one tool (blocking: the server runs it in a worker thread)."""
        try:
            if name in self.manifest.data_sources:
                if self.connect_first:
                    return error_result(self.connect_first)
                result = self.connector.data_source(name, arguments or {})
            else:
                invoked = self.connector.invoke(name, arguments or {}, max_records=self.max_records)
                result = invoked["data"]
        except ResultTooLargeError as exc:
            return error_result(self._too_large(name, exc.limit))
        except ConnectorError as exc:
            return error_result(str(exc))
        text = orjson.dumps(result).decode()
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=result
        )

    def _too_large(self, name: str, limit: int) -> str:
        action = self.manifest.action(name)
        fetch_all, per_page, after = (
            action.input(key).label for key in ("fetch_all", "per_page", "starting_after")
        )
        assert action.paging is not None  # only a list's Fetch All stops past a limit
        cursor = paginator(action.paging).next_in  # where each page gives the next
        return (
            f"{action.label}: {fetch_all} stopped past {limit:,} records, the most one result "
            f"holds here (an MCP client holds a result whole and a model's context is small): "
            f"turn {fetch_all} off and page with {per_page} and {after} "
            f"(each page gives the next in {cursor})"
        )


def error_result(message: str) -> types.CallToolResult:
    """A tool's failure as the model sees it: the one message, flagged as an error."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def build_server(tools: Tools) -> Server[Any]:
    """The low-level MCP server answering ``tools/list`` and ``tools/call`` from ``tools``;
    over HTTP, a call stops sending to Intercom when the service answers it 504."""
    listing = list(tools.tools.values())

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listing)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in tools.tools:
            known = ", ".join(sorted(tools.tools))
            message = f"{params.name!r} is not a tool; the tools are: {known}"
            raise MCPError(code=types.INVALID_PARAMS, message=message)
        call = functools.partial(tools.call, params.name, params.arguments)
        request = getattr(ctx, "request", None)  # over HTTP: the Starlette request
        if request is not None:
            state = request.scope.setdefault("state", {})
            gathered = state.setdefault(service.REQUEST_IDS, [])
            # the service's own deadline: timed here, the call would start later under load
            # and could send a next page after its 504
            late = state.get(service.GIVE_UP_AT)
            call = functools.partial(_served, gathered, late, call)
        # abandoned when cancelled (the grace period over): the thread, waiting on Intercom,
        # must not keep the server from stopping
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    manifest = tools.manifest
    return Server(
        "intercom-connector",
        version=__version__,
        title=manifest.label,
        description=manifest.description,
        instructions=_instructions(tools),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _served(
    gathered: list[str], late: float | None, call: Callable[[], types.CallToolResult]
) -> types.CallToolResult:
    """A call served over HTTP: the request log names Intercom's answers to it, and once
    the service has answered 504 (``late``) it sends Intercom nothing more."""
    ids, stop = request_ids.set(gathered), give_up_at.set(late)
    try:
        return call()
    finally:
        give_up_at.reset(stop)
        request_ids.reset(ids)


def describe(body: bytes) -> str | None:
    """What an MCP request asks, for the request log: the tool called, or the method."""
    try:
        message = orjson.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None
    params = message.get("params")
    if message["method"] == "tools/call" and isinstance(params, dict):
        name = params.get("name")
        return name if isinstance(name, str) and name.isidentifier() else "tools/call"
    return str(message["method"])


def _instructions(tools: Tools) -> str:
    return (
        f"{tools.manifest.description}. One tool per action (create_*, get_*, list_*, "
        "update_*, delete_*, ...) and one per data source (select_*: the choices of an ID "
        "input). A result is what Intercom answered, in the shape of the tool's output "
        "schema. A list gives one page, and the next page's cursor in "
        "pages.next.starting_after (a list paged by link, such as list_events, gives the "
        "link itself in pages.next), to pass as starting_after; fetch_all gives every page, "
        f"up to {tools.max_records:,} records. An error result names each wrong input by "
        "its label, with its key in brackets."
    )


def serve(
    connector: Connector,
    *,
    http: ServiceOptions | None = None,
    stateless: bool = False,
    allowed_hosts: Sequence[str] = (),
    max_records: int = MAX_RECORDS,
    connect_first: str | None = None,
) -> int:
    """Serve every tool over stdio, or over streamable HTTP with ``http``'s options, until
    stopped (stdin closed, or Ctrl-C; SIGTERM or Ctrl-C over HTTP, drained); with
    ``connect_first``, every data source answers that error (no connection given).
    Returns how many calls were still running when the grace period ended (answered 504;
    their threads may still wait on Intercom)."""
    tools = Tools(connector, max_records=max_records, connect_first=connect_first)
    server = build_server(tools)
    count = len(tools.tools)
    if http is None:
        _note(f"Intercom MCP server on stdio: {count} tools; it stops when stdin closes.")
        _serve_stdio(server)
        return 0
    sock = service.bind(http.host, http.port, "serve MCP")
    log = service.RequestLog(http.log_format)
    url = service.url_of(sock, HTTP_PATH)
    how = "stateless" if stateless else "sessions"
    auth = f"{len(http.tokens)} bearer token(s)" if http.tokens else "no token (loopback)"
    log.note(
        f"Intercom MCP server on {url} (streamable HTTP, {how}, {auth}): {count} tools. "
        "Ctrl-C stops it; SIGTERM drains it."
    )
    if not service.is_loopback(http.host):
        log.note("Plain HTTP beyond loopback: put a reverse proxy with TLS in front of it.")
    app = server.streamable_http_app(
        streamable_http_path=HTTP_PATH,
        stateless_http=stateless,
        # one JSON answer per call: its status says how the call ended (a 504 included)
        json_response=True,
        max_request_body_size=http.max_body,
        transport_security=transport_security(http.host, allowed_hosts),
        host=http.host,
    )
    served = _posts_only(app) if stateless else app
    cut = service.serve(served, sock, http, log, describe=describe)
    if cut:
        service.grace_ended(log, http, cut)
    return cut


def _posts_only(app: service.App) -> service.App:
    """A stateless server's app answering GET (the stream of the server's own messages)
    405, as MCP allows a server that offers none: no message of a stateless server can
    reach a stream opened by another request, so the SDK's would stay open, empty, holding
    a connection, a load balancer's slot and the SIGTERM drain, until the client left."""

    async def posts_only(
        scope: service.Scope, receive: service.Receive, send: service.Send
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == HTTP_PATH:
            message = "this stateless server offers no stream: POST each request"
            await service.respond(send, 405, {"error": message}, headers=[(b"allow", b"POST")])
            return
        await app(scope, receive, send)

    return posts_only


def transport_security(host: str, allowed_hosts: Sequence[str]) -> TransportSecuritySettings:
    """The Host and Origin headers accepted (DNS rebinding: a web page the user opens cannot
    reach the server through a name of its own).

    On loopback: the loopback names, and ``allowed_hosts``. Beyond loopback the tokens keep
    strangers out; ``allowed_hosts`` (the names a load balancer forwards), when given, are
    then the only ones accepted.
    """
    loopback = service.is_loopback(host)
    if not loopback and not allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = ["127.0.0.1", "localhost", "[::1]"] if loopback else []
    names += [
        f"[{name}]" if name.count(":") > 1 and "[" not in name else name for name in allowed_hosts
    ]
    # a name given with its port (options.host_name) is accepted with that port alone
    hosts = list(
        dict.fromkeys(
            name if _has_port(name) else f"{name}{port}" for name in names for port in ("", ":*")
        )
    )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")],
    )


def _has_port(name: str) -> bool:
    """Whether a Host name (``name``, ``name:port``, ``[v6]``, ``[v6]:port``) gives a port."""
    return name.rpartition("]")[2].count(":") == 1 if "[" in name else ":" in name


def _serve_stdio(server: Server[Any]) -> None:
    """MCP over this process's stdin and stdout until stdin closes or Ctrl-C.

    The SDK points file descriptor 1 at stderr while it serves: stray output cannot
    corrupt the protocol's stream. Its own stdin reader waits for a line in a worker
    thread that no cancellation ends, so Ctrl-C waited for the next line; stdin is read
    here by a daemon thread instead, whose lines are awaited where Ctrl-C cancels.
    """

    async def main() -> None:
        async with StdinLines() as lines, stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


class StdinLines:
    """Standard input's lines (UTF-8) for the SDK's stdio transport, read by a daemon
    thread: waiting for the next line can be cancelled, and a thread still blocked on
    stdin never keeps the process from ending."""

    def __init__(self, source: Any = None) -> None:
        # A reader of its own on stdin's descriptor: sys.stdin's, held by a thread blocked in
        # it, could not be closed at exit (a fatal error of the interpreter).
        self._source = source if source is not None else os.fdopen(os.dup(0), "rb")
        self._send, self._receive = anyio.create_memory_object_stream[str](1)
        self._portal: anyio.from_thread.BlockingPortal | None = None

    async def __aenter__(self) -> StdinLines:
        self._portal = anyio.from_thread.BlockingPortal()
        await self._portal.__aenter__()
        threading.Thread(target=self._read, name="mcp-stdin", daemon=True).start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._portal is not None
        await self._portal.stop(cancel_remaining=True)  # a line read later is dropped
        self._receive.close()

    def _read(self) -> None:
        portal = self._portal
        assert portal is not None
        try:
            for raw in iter(self._source.readline, b""):
                portal.call(self._send.send, raw.decode("utf-8", errors="replace"))
        except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return  # the server stopped (Ctrl-C) or stdin failed: nothing more to hand on
        with contextlib.suppress(RuntimeError):
            portal.call(self._send.aclose)  # end of input: the server stops

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
