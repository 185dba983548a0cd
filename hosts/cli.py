"""The ``intercom-connector`` command.

    intercom-connector [--verbose] [--config-dir DIR] COMMAND ...

``run`` prints ``{"data": ...}`` as JSON on stdout; any error is one message on stderr
and the exit status says what kind (docs/errors.md): 0 ok, 2 bad input, 3 connection or
authentication, 4 Intercom refused the request, 5 network or Intercom unavailable.
"""

from __future__ import annotations

import sys

# httpx loads its own command line (httpx._main: click, pygments and rich, about 15 ms)
# whenever those happen to be installed; this process never runs it. Marked absent before
# httpx is first imported, httpx keeps its fallback instead (a process that already
# imported httpx is left as it is).
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import argparse
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from intercom_connector import __version__
from intercom_connector.hosts import options
from intercom_connector.runtime.bulk import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from intercom_connector.runtime.connection import (
    Connection,
    connection_from_env,
    connection_from_mapping,
)
from intercom_connector.runtime.errors import (
    ECHO_LIMIT,
    ConnectionConfigError,
    ConnectorError,
    InputProblem,
    InputValidationError,
    ManifestError,
    cut,
    echoed,
)
from intercom_connector.runtime.listing import RecordStream, freeze_start_up
from intercom_connector.runtime.manifest import ActionSpec, OperationSpec, load_manifest
from intercom_connector.runtime.shim import Connector
from intercom_connector.runtime.syntax import InputFileError, syntax_error_text

EXIT_OK = 0
EXIT_USAGE = 2
#: a service stopped by SIGTERM whose grace period ended with requests still running
EXIT_GRACE_ENDED = 1


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors sent through our one error path (exit 2).

    Every parser takes the global options, so that they may also follow a command
    (``run list_tags --verbose``); given nowhere, the top parser's defaults apply.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="trace HTTP requests on stderr (secrets redacted)",
        )
        self.add_argument(
            "--config-dir",
            metavar="DIR",
            default=argparse.SUPPRESS,
            help="where saved connections live (default: user config)",
        )

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        # argparse repeats a wrong value whole ("invalid choice: '...'"): cut each long one
        message = _LONG_WORD.sub(lambda word: cut(word.group()), message)
        raise SystemExit(_fail(f"{self.prog}: {message}", EXIT_USAGE))


#: a run of text in an argparse message longer than an error repeats of a value
_LONG_WORD = re.compile(rf"\S{{{ECHO_LIMIT + 1},}}")


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(value, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _read_structured(
    path: str, what: str, error: Callable[[str], ConnectorError] = ConnectionConfigError
) -> Any:
    """JSON or YAML from a file, or from stdin when ``path`` is ``-``."""
    import yaml

    from intercom_connector.runtime.yaml_text import load_yaml

    source = f"{what} (standard input)" if path == "-" else f"{what} {path}"
    text = ""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return load_yaml(text)  # YAML is a superset of JSON
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(syntax_error_text(source, exc, text)) from None


def _inputs(args: argparse.Namespace, action_label: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {}

    def bad_inputs(problem: str) -> InputValidationError:
        return InputFileError(action_label, "--inputs", problem)

    if args.inputs:
        loaded = _read_structured(args.inputs, "inputs file", bad_inputs)
        if not isinstance(loaded, Mapping):
            raise bad_inputs("--inputs must hold a JSON object of inputs")
        inputs.update(loaded)
    given: set[str] = set()  # -i KEY=... may override the file's KEY, not another -i
    for pair in args.input or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            problem = InputProblem(
                key or pair, "--input", f"expected KEY=VALUE, got {echoed(pair)}"
            )
            raise InputValidationError(action_label, [problem])
        key = key.strip()
        if key in given:
            problem = InputProblem(
                key, "--input", "is given twice; give each input once (which one was meant?)"
            )
            raise InputValidationError(action_label, [problem])
        given.add(key)
        inputs[key] = value
    return inputs


def _connection(
    args: argparse.Namespace, flow_connection: str | None = None
) -> tuple[Connection, Any]:
    """The connection to use, and the in-process transport when it is the sandbox.

    ``--sandbox`` wins; then ``--connection`` (a file, else a saved connection's name);
    then the one the flow file names (``flow_connection``); then the environment; with no
    Intercom setting at all, the embedded sandbox.
    """
    if args.sandbox:
        return _sandbox_connection(quiet=True)
    return resolve_connection(args.connection or flow_connection, args.config_dir)


def resolve_connection(name: str | None, config_dir: str | None) -> tuple[Connection, Any]:
    """``--connection NAME`` (a file, else a saved connection's name); without one the
    environment's settings; with no Intercom setting at all, the embedded sandbox. A
    Temporal worker resolves a workflow's connection name with it, as ``run`` does."""
    if name:
        from intercom_connector.connections.saved import (
            SavedConnections,
            file_or_saved_connection,
        )

        saved = SavedConnections(config_dir)
        return file_or_saved_connection(name, saved), None
    from_env = connection_from_env(os.environ)
    if from_env is not None:
        return from_env, None
    return _sandbox_connection(quiet=False)


def _sandbox_connection(*, quiet: bool) -> tuple[Connection, Any]:
    from intercom_connector.sandbox import Sandbox  # only when used: keeps start-up small

    sandbox = Sandbox()  # $INTERCOM_SANDBOX_DIR, else the user's data directory
    if not quiet:
        print(
            "note: no Intercom credentials given (--connection or INTERCOM_ACCESS_TOKEN): "
            "using the embedded sandbox",
            file=sys.stderr,
        )
    connection = connection_from_mapping(
        {"type": "access_token", "access_token": sandbox.token, "base_url": sandbox.base_url}
    )
    return connection, sandbox.transport()


def _action(key: str) -> ActionSpec:
    manifest = load_manifest()
    if key not in manifest.actions:
        known = ", ".join(sorted(manifest.actions))
        raise InputValidationError(
            "intercom-connector",
            [
                InputProblem(
                    "ACTION", "ACTION", f"{echoed(key)} is not an action; the actions are: {known}"
                )
            ],
        )
    return manifest.actions[key]


def cmd_run(args: argparse.Namespace) -> int:
    action = _action(args.action)
    inputs = _inputs(args, action.label)
    if args.temporal is not None:
        from intercom_connector.hosts.temporal.bulk import run_each_on_temporal

        return run_each_on_temporal(args, action, inputs)
    connection, transport = _connection(args)
    with Connector(connection, transport=transport) as connector:
        if args.each is not None:
            from intercom_connector.hosts.each import run_each

            return run_each(
                connector,
                action,
                args.each,
                inputs,
                journal=args.journal,
                concurrency=args.concurrency,
            )
        if args.output == "ndjson":
            _write_ndjson(connector.stream(action.key, inputs))
            return EXIT_OK
        result = connector.invoke(action.key, inputs)
    _print_json(result, sys.stdout)
    return EXIT_OK


def _write_ndjson(records: Iterable[Any]) -> None:
    """One JSON record per line as they arrive; progress on stderr only when it is a TTY.

    A page's lines go out in one write: stdout may be unbuffered (``PYTHONUNBUFFERED``, as
    container images often set it), and a write per record would be a system call each.
    """
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    write = sys.stdout.buffer.write
    batches = records.batches() if isinstance(records, RecordStream) else [list(records)]
    count = 0
    for batch in batches:
        write(
            b"".join([orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE) for record in batch])
        )
        count += len(batch)
        if progress is not None:
            progress.update(count, getattr(records, "pages_read", 1))
    sys.stdout.flush()
    if progress is not None:
        progress.finish()


class Progress:
    """``12,345 records, 83 pages, 2,100/s`` redrawn in place, at most 10 times a second."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.shown = 0.0
        self.count = self.pages = 0

    def update(self, count: int, pages: int) -> None:
        self.count, self.pages = count, pages
        now = time.monotonic()
        if now - self.shown >= 0.1:
            self.shown = now
            rate = count / max(now - self.started, 1e-6)
            self.out.write(f"\r{count:,} records, {pages:,} pages, {rate:,.0f}/s ")
            self.out.flush()

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(f"\r{self.count:,} records, {self.pages:,} pages in {elapsed:.1f} s\n")
        self.out.flush()


def cmd_flow_run(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.flow import (
        StepError,
        StepLines,
        StepResult,
        flow_event,
        load_flow,
        run_flow,
    )

    flow = load_flow(args.file)
    event = None
    if args.event:

        def bad_event(problem: str) -> InputValidationError:
            return InputValidationError(flow.name, [InputProblem("--event", "--event", problem)])

        event = _read_structured(args.event, "event file", bad_event)
        if event is None:  # not "give --event": it was given, and held nothing
            where = "standard input" if args.event == "-" else f"event file {args.event}"
            raise bad_event(f"the event ({where}) is empty: give one event as JSON or YAML")
    event = flow_event(flow, event)
    if args.no_wait and args.temporal is None:
        raise InputValidationError(
            flow.name, [InputProblem("--no-wait", "--no-wait", "goes with --temporal")]
        )
    total = len(flow.steps)
    # A person at a terminal reads one line per step; JSON is for --json and for pipes.
    lines = StepLines(flow, sys.stdout.encoding) if sys.stdout.isatty() and not args.json else None

    def show(result: StepResult) -> None:
        if lines is not None:
            print(lines.line(result), flush=True)
        elif not args.json and result.output is not None:
            number = flow.steps.index(result.step) + 1
            print(f"# step {number}/{total} {result.step.id}: {result.step.action}", flush=True)
            _print_json(result.output, sys.stdout)
            sys.stdout.flush()

    try:
        if args.temporal is not None:
            from intercom_connector.hosts.temporal.commands import require_temporal

            require_temporal("flow run")
            from intercom_connector.hosts.temporal.runs import run_flow_on_cluster

            on_cluster = run_flow_on_cluster(args, flow, event, show)
            if on_cluster is None:  # --no-wait: its id was printed
                return EXIT_OK
            outputs = on_cluster
        else:
            connection, transport = _connection(args, flow.connection)
            with Connector(connection, transport=transport) as connector:
                outputs = run_flow(flow, connector, show, event=event)
    except StepError as exc:  # what ran, what failed, what was skipped; then the error
        if args.json:
            _print_json({r.step.id: r.as_json() for r in exc.results}, sys.stdout)
        elif lines is not None:
            print(lines.summary(), flush=True)
        raise
    if args.json:
        _print_json(outputs, sys.stdout)
    elif lines is not None:
        print(lines.summary(), flush=True)
    return EXIT_OK


#: a data source asked without any connection (the one rule of CLI, Python API, MCP and
#: designer, docs/actions.md "Data sources"): never the embedded sandbox's choices, which would look
#: like the workspace's
CONNECT_FIRST = (
    "Connect first: a data source lists a workspace's own choices, and no connection is "
    "given (--connection, INTERCOM_ACCESS_TOKEN); give --sandbox to list the embedded "
    "sandbox's choices"
)


def _implicit_sandbox(args: argparse.Namespace, transport: Any) -> bool:
    """True when ``_connection`` fell back to the embedded sandbox for want of any other."""
    return transport is not None and not args.sandbox


def cmd_data_source(args: argparse.Namespace) -> int:
    source = load_manifest().data_sources.get(args.key)
    inputs = _inputs(args, source.label if source else args.key)
    if not args.sandbox and not args.connection and connection_from_env(os.environ) is None:
        raise ConnectionConfigError(CONNECT_FIRST)
    connection, transport = _connection(args)
    with Connector(connection, transport=transport) as connector:
        result = connector.data_source(args.key, inputs)
    _print_json(result, sys.stdout)
    return EXIT_OK


def cmd_data_sources(args: argparse.Namespace) -> int:
    return _list_entries(load_manifest().data_sources.values(), args.json)


def _list_entries(entries: Iterable[OperationSpec], as_json: bool) -> int:
    """Keys and labels of manifest entries: a table by key, or JSON in manifest order."""
    if as_json:
        _print_json([{"key": e.key, "label": e.label} for e in entries], sys.stdout)
        return EXIT_OK
    width = max(len(e.key) for e in entries)
    for entry in sorted(entries, key=lambda e: e.key):
        print(f"{entry.key:<{width}}  {entry.label}")
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace) -> int:
    http_only = ["--host", "--port", "--token-env", "--allowed-host", "--stateless"]
    given = [args.host, args.port, args.token_env, args.allowed_host, args.stateless or None]
    if not args.http and any(value is not None for value in given):
        named = " and ".join(o for o, v in zip(http_only, given, strict=True) if v is not None)
        verb = "are" if " and " in named else "is"
        return _fail(f"mcp: {named} {verb} for HTTP: add --http", EXIT_USAGE)
    from intercom_connector.hosts import service
    from intercom_connector.hosts.mcp import DEFAULT_PORT, MAX_RECORDS, serve  # the SDK only here

    http = None
    if args.http:
        host = args.host or "127.0.0.1"
        if not service.is_loopback(host) and not args.token_env:
            return _fail(
                f"mcp: --host {host} listens beyond loopback, where anyone could call the tools: "
                "give --token-env VAR, the environment variable holding the bearer tokens",
                EXIT_USAGE,
            )
        try:
            tokens = service.tokens_from_env(args.token_env) if args.token_env else ()
        except ValueError as exc:
            return _fail(f"mcp: {exc}", EXIT_USAGE)
        port = DEFAULT_PORT if args.port is None else args.port
        http = service.service_options(args, host, port, tokens)
    connection, transport = _connection(args)
    with Connector(connection, transport=transport) as connector:
        cut = serve(
            connector,
            http=http,
            stateless=args.stateless,
            allowed_hosts=args.allowed_host or (),
            max_records=args.max_records or MAX_RECORDS,
            connect_first=CONNECT_FIRST if _implicit_sandbox(args, transport) else None,
        )
        if cut:  # answered 504, their threads still wait on Intercom: end now, not then
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_GRACE_ENDED)
    return EXIT_OK


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from intercom_connector.sandbox import DEFAULT_TOKEN, Sandbox, serve_forever

    try:
        sandbox = Sandbox(
            args.data_dir,
            token=args.token or DEFAULT_TOKEN,
            rate_limit=args.rate_limit,
            webhook_url=args.webhook_url,
        )
    except ValueError as exc:  # a webhook URL that is not on loopback
        raise InputValidationError(
            "sandbox serve", [InputProblem("--webhook-url", "--webhook-url", str(exc))]
        ) from None
    shown = "the token given with --token" if args.token else repr(DEFAULT_TOKEN)
    hooks = f"; webhooks to {args.webhook_url}" if args.webhook_url else ""

    def announce(url: str) -> None:  # only once the port is ours
        print(
            f"Intercom sandbox on {url} (data: {sandbox.data_path}{hooks}); "
            f"authenticate with Bearer {shown}. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )

    try:
        serve_forever(sandbox, args.host, args.port, ready=announce)
    except OSError as exc:
        raise options.cannot_listen("serve the sandbox", args.host, args.port, exc) from None
    return EXIT_OK


def cmd_sandbox_reset(args: argparse.Namespace) -> int:
    from intercom_connector.sandbox import Sandbox

    sandbox = Sandbox.rebuilt(args.data_dir, seed=not args.empty)  # even a corrupt one
    state = "empty" if args.empty else "the demo workspace"
    print(f"sandbox reset to {state} ({sandbox.data_path})", file=sys.stderr)
    return EXIT_OK


def _sandbox_state_errors() -> tuple[type[Exception], ...]:
    """The sandbox's own error, once the sandbox is loaded (it is imported only when used)."""
    sandbox = sys.modules.get("intercom_connector.sandbox")
    return (sandbox.SandboxStateError,) if sandbox is not None else ()


def _sandbox_state_message(error: Exception, args: argparse.Namespace) -> str:
    if not getattr(error, "corrupt", False):
        return str(error)
    folder = f" --data-dir {args.data_dir}" if getattr(args, "data_dir", None) else ""
    return f"{error}; run `intercom-connector sandbox reset{folder}` to start a new one"


def cmd_actions(args: argparse.Namespace) -> int:
    return _list_entries(load_manifest().actions.values(), args.json)


def _described(key: str) -> tuple[OperationSpec, str, str]:
    """The action, data source or trigger ``key``, its output's schema name, and the
    output's shape around that schema's ``{title}``."""
    manifest = load_manifest()
    if key in manifest.data_sources:
        return manifest.data_sources[key], "choices", '{{"result": {title}}}'
    if key in manifest.triggers:
        trigger = manifest.triggers[key]
        shape = (
            f"each event ({trigger.kind} trigger) {{{{id, topic, occurred_at, data: {{title}}}}}}"
        )
        return trigger, trigger.output, shape
    action = _action(key)  # unknown: the actions are listed, the commonest thing described
    return action, action.output, '{{"data": {title}}}'


def cmd_describe(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.docs import default_text
    from intercom_connector.runtime.inputs import TYPE_HINTS

    action, output, shape = _described(args.action)
    print(f"{action.label} ({action.key})")
    print(action.description)
    print()
    for spec in action.value_inputs:
        flags = "required" if spec.required else "optional"
        default = default_text(spec)
        line = f"  {spec.key}  [{spec.type}, {flags}"
        line += f", default {default}]" if default else "]"
        print(f"{line}  {spec.label}")
        if spec.options:
            print(f"      one of: {', '.join(o.value for o in spec.options)}")
        if spec.comments:
            print(f"      {spec.comments}")
        hint, example = TYPE_HINTS.get(spec.type, ("", ""))
        example = spec.example or example
        if example and example in spec.comments:
            example = ""  # the comment already shows one
        usage = [hint] if hint else []
        if example:
            usage.append(f"e.g. {example}")
        if usage:
            print(f"      {', '.join(usage)}")
    schema = load_manifest().output_schema(output)
    fields = {
        name: (_json_type(field), field) for name, field in schema.get("properties", {}).items()
    }
    print()
    shown = shape.format(title=schema.get("title", output))
    print(f"Output: {shown}, whose fields are:")
    name_width = max((len(name) for name in fields), default=0)
    type_width = max((len(kind) for kind, _ in fields.values()), default=0)
    for name, (kind, field) in fields.items():
        about = " ".join(str(field.get("description", "")).split())
        about = about if len(about) <= 70 else about[:67] + "..."
        print(f"  {name:<{name_width}}  {kind:<{type_width}}  {about}".rstrip())
    return EXIT_OK


def _json_type(schema: Mapping[str, Any]) -> str:
    """``string``, ``string|null``, ``array of object``: one output field's JSON type."""
    kinds = schema.get("type")
    if kinds is None:
        alternatives = schema.get("anyOf") or schema.get("oneOf") or []
        kinds = [_json_type(alternative) for alternative in alternatives] or ["any"]
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    text = "any" if "any" in names else "|".join(names)
    items = schema.get("items")
    if text == "array" and isinstance(items, Mapping) and "type" in items:
        text = f"array of {_json_type(items)}"
    return text


def cmd_manifest(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.docs import manifest_json

    _print_json(manifest_json(load_manifest()), sys.stdout)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.check import problems, summary

    found = problems()
    for problem in found:
        print(problem)
    if found:
        print(f"{len(found)} problem{'s' if len(found) > 1 else ''}", file=sys.stderr)
        return ManifestError.exit_code  # the connector itself is inconsistent
    print(summary(load_manifest()))
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.docs import markdown, replace_generated

    text = markdown(load_manifest())
    if args.update:
        replace_generated(Path(args.update), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.ui import serve  # only when used: keeps start-up small

    return serve(args)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connection",
        "-c",
        metavar="FILE|NAME",
        help="a connection file (JSON or YAML) or the name of a saved connection",
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="use the embedded sandbox, whatever is configured"
    )


def _top_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The top parser, and the subparsers' action to add commands to."""
    parser = _Parser(
        prog="intercom-connector",
        description="Run Intercom connector actions, and describe the connector.",
    )
    parser.set_defaults(verbose=False, config_dir=None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    return parser, commands


def _add_run_command(commands: Any) -> None:
    run = commands.add_parser("run", help="run one action and print its result as JSON")
    run.add_argument("action", metavar="ACTION", help="action key, e.g. get_contact")
    run.add_argument("--input", "-i", action="append", metavar="KEY=VALUE", help="one input")
    run.add_argument("--inputs", metavar="FILE", help="inputs as a JSON/YAML object; - for stdin")
    _connection_options(run)
    run.add_argument(
        "--output",
        choices=["json", "ndjson"],
        default="json",
        help='json: {"data": ...} (default); ndjson: one record per line, streamed',
    )
    run.add_argument(
        "--each",
        metavar="FILE",
        help="run once per row of FILE (NDJSON or CSV; - for stdin), results as NDJSON",
    )
    run.add_argument(
        "--journal", metavar="FILE", help="with --each: record each row, to resume a run"
    )
    run.add_argument(
        "--concurrency",
        type=options.whole(1, MAX_CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"with --each: calls side by side at most (default {DEFAULT_CONCURRENCY}; "
        "with --temporal, in the whole run, over every worker)",
    )
    from intercom_connector.hosts.temporal.cluster import add_cluster_options

    add_cluster_options(run, optional=True)
    run.set_defaults(handler=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from intercom_connector.hosts.login import add_login_commands
    from intercom_connector.hosts.service import ServiceOptions, add_service_options
    from intercom_connector.hosts.temporal.cluster import add_cluster_options
    from intercom_connector.hosts.temporal.commands import add_temporal_commands
    from intercom_connector.hosts.triggers import CliParts, add_trigger_commands

    parser, commands = _top_parser()
    _add_run_command(commands)

    flow = commands.add_parser("flow", help="run a local flow of steps (YAML)")
    flow_commands = flow.add_subparsers(
        dest="flow_command", metavar="COMMAND", parser_class=_Parser
    )
    flow_commands.required = True
    flow_run = flow_commands.add_parser("run", help="run a flow file, printing each step's output")
    flow_run.add_argument(
        "file", metavar="FILE", help="the flow, e.g. examples/onboard-customer.yaml"
    )
    _connection_options(flow_run)
    flow_run.add_argument(
        "--event", metavar="FILE", help="the event a flow with a trigger starts from; - for stdin"
    )
    flow_run.add_argument(
        "--json", action="store_true", help="print all outputs as one JSON object at the end"
    )
    add_cluster_options(flow_run, optional=True)
    flow_run.add_argument(
        "--no-wait", action="store_true", help="with --temporal: print the run's id, do not wait"
    )
    flow_run.set_defaults(handler=cmd_flow_run)

    data_source = commands.add_parser(
        "data-source", help="a data source's choices (a dropdown) as JSON"
    )
    data_source.add_argument("key", metavar="KEY", help="data source key, e.g. select_tag")
    data_source.add_argument(
        "--input", "-i", action="append", metavar="KEY=VALUE", help="one input"
    )
    data_source.add_argument("--inputs", metavar="FILE", help="inputs as JSON/YAML; - for stdin")
    _connection_options(data_source)
    data_source.set_defaults(handler=cmd_data_source)
    data_sources = commands.add_parser("data-sources", help="list the data sources")
    data_sources.add_argument("--json", action="store_true", help="as JSON")
    data_sources.set_defaults(handler=cmd_data_sources)

    add_login_commands(commands)
    add_trigger_commands(commands, CliParts(_connection_options, _connection, _inputs))
    add_temporal_commands(commands)

    mcp = commands.add_parser(
        "mcp", help="serve every action and data source as MCP tools (stdio, or HTTP)"
    )
    _connection_options(mcp)
    mcp.add_argument("--http", action="store_true", help="serve over streamable HTTP, not stdio")
    mcp.add_argument(
        "--port", type=options.port, help="HTTP port (default 8766; 0 picks a free one)"
    )
    mcp.add_argument(
        "--host",
        metavar="ADDR",
        help="HTTP address (default 127.0.0.1); beyond loopback it needs --token-env",
    )
    mcp.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the bearer tokens accepted (comma-separated)",
    )
    mcp.add_argument(
        "--allowed-host",
        action="append",
        type=options.host_name,
        metavar="NAME",
        help="a Host name accepted, with :PORT for that port alone, such as one a load "
        "balancer forwards (repeatable)",
    )
    mcp.add_argument(
        "--stateless",
        action="store_true",
        help="no MCP sessions: each request stands alone (replicas behind a load balancer)",
    )
    add_service_options(mcp, ServiceOptions())
    mcp.add_argument(
        "--max-records",
        type=options.positive,
        metavar="N",
        help="most records one result holds when it fetches every page (default 10,000)",
    )
    mcp.set_defaults(handler=cmd_mcp)

    sandbox = commands.add_parser("sandbox", help="the local Intercom sandbox")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", metavar="COMMAND", parser_class=_Parser
    )
    sandbox_commands.required = True
    serve = sandbox_commands.add_parser("serve", help="serve the sandbox over HTTP on loopback")
    serve.add_argument("--port", type=options.port, default=8765, help="TCP port (default 8765)")
    serve.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1", "localhost"])
    serve.add_argument("--token", help="the access token it accepts (default: sandbox-token)")
    serve.add_argument(
        "--rate-limit", type=options.positive, help="requests allowed per 10 s window"
    )
    serve.add_argument(
        "--webhook-url",
        metavar="ENDPOINT",
        type=options.secret_url,
        help="deliver each change's webhook notification there (a loopback URL), signed",
    )
    serve.add_argument(
        "--data-dir", help="state directory (default: $INTERCOM_SANDBOX_DIR or user data)"
    )
    serve.set_defaults(handler=cmd_sandbox_serve)
    reset = sandbox_commands.add_parser("reset", help="restore the seeded demo workspace")
    reset.add_argument(
        "--data-dir", help="state directory (default: $INTERCOM_SANDBOX_DIR or user data)"
    )
    reset.add_argument("--empty", action="store_true", help="leave the workspace empty")
    reset.set_defaults(handler=cmd_sandbox_reset)

    ui = commands.add_parser(
        "ui", help="the integration designer in a browser: connections, a flow canvas, runs"
    )
    ui.add_argument(
        "--port", type=options.port, default=8760, help="TCP port (default 8760; 0: any)"
    )
    ui.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1"])
    ui.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    ui.set_defaults(handler=cmd_ui)

    actions = commands.add_parser("actions", help="list the actions: key and label")
    actions.add_argument("--json", action="store_true", help="as JSON")
    actions.set_defaults(handler=cmd_actions)

    describe = commands.add_parser(
        "describe", help="an action's, data source's or trigger's inputs, types and output"
    )
    describe.add_argument("action", metavar="KEY", help="e.g. create_contact, select_tag")
    describe.set_defaults(handler=cmd_describe)

    commands.add_parser("manifest", help="the manifest as JSON for a flow-builder UI").set_defaults(
        handler=cmd_manifest
    )
    docs = commands.add_parser("docs", help="the action reference as Markdown")
    docs.add_argument(
        "--update", metavar="FILE", help="rewrite the generated part of FILE (docs/reference.md)"
    )
    docs.set_defaults(handler=cmd_docs)
    _add_check_command(commands)
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("intercom_connector")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our own trace says more, redacted
    if not verbose and sys.stderr.isatty():
        # A person is watching: say why a rate-limit wait is quiet ("waiting 12 s ...").
        logging.getLogger("intercom_connector.http").setLevel(logging.INFO)


def _command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (its first word after the global options), if plain."""
    words = iter(argv)
    for word in words:
        if word == "--config-dir":
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif word not in ("--verbose",) and not word.startswith("--config-dir="):
            return None  # --help, --version, or a mistake: the whole parser answers
    return None


def _add_check_command(commands: Any) -> None:
    commands.add_parser(
        "check",
        help="check that the manifest agrees with the handlers, output schemas, sandbox "
        "routes and docs; prints every problem",
    ).set_defaults(handler=cmd_check)


#: commands that build their own parser only: ``run`` is what a flow engine starts for every
#: step (not every command's modules), ``check`` must answer when the manifest is broken
#: (the whole parser reads it)
_OWN_PARSER = {"run": _add_run_command, "check": _add_check_command}


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names: its own for those of ``_OWN_PARSER``,
    otherwise the whole parser."""
    add_command = _OWN_PARSER.get(_command_word(argv) or "")
    if add_command is None:
        return build_parser()
    parser, commands = _top_parser()
    add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    if argv is None and "httpcore" not in sys.modules:
        # httpcore (httpx's transport, loaded by the first request) imports trio whenever
        # it is installed (selenium, for one, brings it), for its locks under trio: about
        # 50 ms, more than the rest of a `run`. No command runs trio (async work runs on
        # asyncio), so this process, the command's own, marks it absent and httpcore keeps
        # its fallback. A caller of main(argv) keeps its trio.
        sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    code = _main(argv)
    if argv is None and "temporalio" in sys.modules:
        # The Temporal SDK's native (Rust) threads can crash the interpreter's own shutdown
        # (seen as SIGSEGV, or "PyGILState_Release" and an abort, after the command's last
        # word): everything is said, so the process leaves at once with its own status.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):  # a reader gone: nothing more to say
                stream.flush()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    freeze_start_up()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser_for(argv)
    args = parser.parse_args(argv)
    if getattr(args, "each", None) is None and getattr(args, "journal", None) is not None:
        parser.error("--journal goes with --each")
    if getattr(args, "each", None) == "-" and getattr(args, "inputs", None) == "-":
        parser.error("--each - and --inputs - cannot both read standard input")
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConnectorError as exc:
        return _fail(str(exc), exc.exit_code)
    except _sandbox_state_errors() as exc:  # its folder or database cannot be used
        return _fail(_sandbox_state_message(exc, args), ConnectionConfigError.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return EXIT_OK
