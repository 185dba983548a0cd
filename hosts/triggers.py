"""The CLI's trigger commands: ``triggers``, ``trigger poll`` and ``trigger listen``.

- ``trigger poll KEY --state FILE``: one check of a polling trigger (or one every
  ``--every`` seconds). The new events go to stdout as NDJSON, then FILE is written,
  atomically: after the events are out, so that a crash in between gives them again
  rather than losing them. No FILE yet is a first check.
- ``trigger listen KEY --port N``: a webhook trigger's endpoint, ``POST /`` on loopback.
  Each delivery is verified (runtime/triggers.py) and answered 200, 401 (signature) or
  400 (body); an accepted event goes to stdout as one NDJSON line.

With ``--flow FILE`` each event also runs the flow (whose ``trigger:`` is KEY), one event
after the other, each run reported on stderr in one line. A poll keeps in its state only
the events whose flow ran: after a failure, the next check gives the failed event again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from intercom_connector.hosts import options
from intercom_connector.hosts.flow import (
    Flow,
    FlowError,
    StepError,
    check_event,
    load_flow,
    run_flow,
)
from intercom_connector.hosts.login import ENV_CLIENT_SECRET
from intercom_connector.runtime.errors import (
    ConnectorError,
    InputProblem,
    InputValidationError,
    WebhookRefusal,
    echoed,
)
from intercom_connector.runtime.manifest import SECRET_INPUT, TriggerSpec, load_manifest
from intercom_connector.runtime.shim import Connector, validate
from intercom_connector.runtime.triggers import Event, ReplayGuard

LOOPBACK = ("127.0.0.1", "::1", "localhost")
#: the largest delivery accepted (Intercom's are a few kilobytes)
MAX_BODY = 5 * 1024 * 1024
#: a check that fails with this exit status (network, Intercom unavailable or rate
#: limiting) is tried again at the next interval; any other failure stops the loop
RETRY_LATER = 5


@dataclass(frozen=True)
class CliParts:
    """What the trigger commands take from the CLI: its connection options, its
    connection choice and its inputs (cli.py's, so that every command agrees)."""

    connection_options: Callable[[argparse.ArgumentParser], None]
    #: the connection: (args, the flow's own connection or None)
    connection: Callable[[argparse.Namespace, str | None], tuple[Any, Any]]
    inputs: Callable[[argparse.Namespace, str], dict[str, Any]]


def _trigger(key: str, kind: str) -> TriggerSpec:
    triggers = load_manifest().triggers
    trigger = triggers.get(key)
    if trigger is None or trigger.kind != kind:
        known = ", ".join(k for k, t in sorted(triggers.items()) if t.kind == kind)
        problem = f"{echoed(key)} is not a {kind} trigger; they are: {known}"
        raise InputValidationError("intercom-connector", [InputProblem("KEY", "KEY", problem)])
    return trigger


class StateFile:
    """A polling trigger's state in a file: JSON, replaced atomically."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def load(self) -> Any:
        """The state kept, or None before the first check."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror}") from None
        try:
            return orjson.loads(text) if text.strip() else None
        except ValueError:
            raise self._error("is not JSON; delete it to start over") from None

    def save(self, state: Mapping[str, Any]) -> None:
        """Replace the file's content with ``state``: the old one or the new, never half."""
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            raise self._error(f"cannot be written: {exc.strerror}") from None

    def _error(self, problem: str) -> InputValidationError:
        where = f"--state {self.path}"
        return InputValidationError("trigger poll", [InputProblem(where, where, problem)])


class EventHandler:
    """What becomes of each event: a line of NDJSON on stdout, then its flow, if any."""

    def __init__(self, flow: Flow | None, connector: Connector | None) -> None:
        self.flow = flow
        self.connector = connector
        self.failure = 0  # the exit status of the last flow that failed
        self._lock = threading.Lock()

    def show(self, event: Event) -> None:
        with self._lock:
            sys.stdout.buffer.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
            sys.stdout.flush()

    def run_flow(self, event: Event) -> bool:
        """Run the flow for ``event``; False (and the reason on stderr) when it failed."""
        if self.flow is None or self.connector is None:
            return True
        started = time.monotonic()
        where = f"flow {self.flow.name!r}, event {event['id']}"
        try:
            outputs = run_flow(self.flow, self.connector, event=check_event(self.flow, event))
        except (StepError, FlowError) as exc:
            self.failure = exc.exit_code
            print(f"error: {where}: {exc}", file=sys.stderr, flush=True)
            return False
        took = time.monotonic() - started
        print(f"{where}: {len(outputs)} steps ran in {took:.1f} s", file=sys.stderr, flush=True)
        return True

    def handle_all(self, events: Sequence[Event]) -> int:
        """Show and run each event in order, up to a failing flow: how many were handled."""
        for count, event in enumerate(events):
            self.show(event)
            if not self.run_flow(event):
                return count
        return len(events)


def _refuse_secret_argument(args: argparse.Namespace, trigger: TriggerSpec) -> None:
    for pair in args.input or []:
        if pair.partition("=")[0].strip() == SECRET_INPUT:
            label = trigger.input(SECRET_INPUT).label
            problem = (
                f"is never taken from the command line, where other users can read it: "
                f"set {ENV_CLIENT_SECRET}, or use an OAuth 2.0 connection"
            )
            raise InputValidationError(trigger.label, [InputProblem(SECRET_INPUT, label, problem)])


def _flow_for(path: str | None, trigger: TriggerSpec) -> Flow | None:
    if path is None:
        return None
    flow = load_flow(path)
    if flow.trigger is None or flow.trigger.key != trigger.key:
        started_by = flow.trigger.key if flow.trigger else "nothing"
        problem = f"starts from {started_by}, not from {trigger.key}: give it trigger: {{key: ...}}"
        raise FlowError(flow.name, problem, "trigger")
    return flow


def _trigger_inputs(
    args: argparse.Namespace, parts: CliParts, trigger: TriggerSpec, flow: Flow | None
) -> dict[str, Any]:
    """The flow's trigger inputs, then the command line's (which win)."""
    _refuse_secret_argument(args, trigger)
    given = parts.inputs(args, trigger.label)
    return {**(flow.trigger.inputs if flow and flow.trigger else {}), **given}


# -- trigger poll ------------------------------------------------------------------------


def poll_loop(
    check: Callable[[], int],
    every: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    checks: int | None = None,
) -> int:
    """Run ``check`` every ``every`` seconds (``checks`` times, or until interrupted).

    A check that fails for a passing reason (network, Intercom unavailable or rate
    limiting) is reported and tried again at the next interval, the state unchanged; any
    other failure stops the loop with its exit status.
    """
    status, done = 0, 0
    while checks is None or done < checks:
        try:
            status = check()
        except ConnectorError as exc:
            if exc.exit_code != RETRY_LATER:
                raise
            print(f"error: {exc} (nothing kept; next check in {every:g} s)", file=sys.stderr)
        done += 1
        if checks is None or done < checks:
            sleep(every)
    return status


def cmd_trigger_poll(args: argparse.Namespace, parts: CliParts) -> int:
    trigger = _trigger(args.key, "polling")
    flow = _flow_for(args.flow, trigger)
    inputs = _trigger_inputs(args, parts, trigger, flow)
    state = StateFile(args.state)
    connection, transport = parts.connection(args, flow.connection if flow else None)
    with Connector(connection, transport=transport) as connector:
        handler = EventHandler(flow, connector)

        def check() -> int:
            polled = connector.poll(trigger.key, inputs, state.load())
            handled = handler.handle_all(polled.events)
            state.save(polled.state_after(handled))
            return handler.failure if handled < len(polled.events) else 0

        if args.every is None:
            return check()
        return poll_loop(check, args.every)


# -- trigger listen -----------------------------------------------------------------------


class Listener:
    """A webhook trigger's endpoint on loopback: ``POST /``, one delivery per request."""

    def __init__(
        self,
        host: str,
        port: int,
        accept: Callable[[Mapping[str, str], bytes], list[Event]],
    ) -> None:
        listener = self
        self.events: queue.Queue[Event] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/":
                    self._answer(404, "deliveries go to POST /")
                    return
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    self._answer(411, "a delivery needs a Content-Length")
                    return
                if int(length) > MAX_BODY:
                    self._answer(413, "the delivery is too large")
                    return
                body = self.rfile.read(int(length))
                try:
                    events = accept(dict(self.headers.items()), body)
                except WebhookRefusal as refusal:
                    print(f"refused ({refusal.status}): {refusal}", file=sys.stderr, flush=True)
                    self._answer(refusal.status, str(refusal))
                    return
                self._answer(200, "ok")  # before the events: the last one may stop the listener
                for event in events:
                    listener.events.put(event)

            def do_GET(self) -> None:
                self._answer(405, "deliveries are POST /")

            def _answer(self, status: int, text: str) -> None:
                content = orjson.dumps({"status": status, "message": text})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # each delivery is reported by what became of it

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                if isinstance(sys.exc_info()[1], ConnectionError):
                    return  # the sender hung up (a broken pipe, a reset): it sends again
                super().handle_error(request, client_address)

        self._server = Server((host, port), Handler)
        self.port: int = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def cmd_trigger_listen(args: argparse.Namespace, parts: CliParts) -> int:
    trigger = _trigger(args.key, "webhook")
    flow = _flow_for(args.flow, trigger)
    inputs = _trigger_inputs(args, parts, trigger, flow)
    if not inputs.get(SECRET_INPUT) and os.environ.get(ENV_CLIENT_SECRET):
        inputs[SECRET_INPUT] = os.environ[ENV_CLIENT_SECRET]
    needs_connection = flow is not None or args.connection or args.sandbox
    connection, transport = (
        parts.connection(args, flow.connection if flow else None)
        if needs_connection
        else (None, None)
    )
    with Connector(connection, transport=transport) as connector:
        connector.webhook_secret(trigger.key, inputs)  # no secret, or bad inputs: stop now
        handler = EventHandler(flow, connector)
        seen = ReplayGuard()
        lock = threading.Lock()

        def accept(headers: Mapping[str, str], body: bytes) -> list[Event]:
            with lock:  # one delivery at a time: the replay guard and stdout's order
                delivery = connector.receive_webhook(trigger.key, headers, body, inputs, seen=seen)
                for event in delivery.events:
                    handler.show(event)
                if not delivery.events:
                    print(delivery.note, file=sys.stderr, flush=True)
                return delivery.events

        try:
            listener = Listener(args.host, args.port, accept)
        except OSError as exc:
            raise options.cannot_listen("listen", args.host, args.port, exc) from None
        try:
            topics = ", ".join(validate(trigger, inputs).values["topics"])
            print(
                f"{trigger.label}: listening on {listener.url} for {topics}. Ctrl-C stops it.",
                file=sys.stderr,
                flush=True,
            )
            handled = 0
            while args.max_events is None or handled < args.max_events:
                try:
                    event = listener.events.get(timeout=0.2)
                except queue.Empty:
                    continue
                handler.run_flow(event)
                handled += 1
        finally:
            listener.close()
        return handler.failure


# -- registration ---------------------------------------------------------------------------


def cmd_triggers(args: argparse.Namespace) -> int:
    triggers = load_manifest().triggers.values()
    if args.json:
        listed = [{"key": t.key, "kind": t.kind, "label": t.label} for t in triggers]
        sys.stdout.write(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    width = max(len(t.key) for t in triggers)
    for trigger in sorted(triggers, key=lambda t: t.key):
        print(f"{trigger.key:<{width}}  {trigger.kind:<7}  {trigger.label}")
    return 0


def add_trigger_commands(commands: Any, parts: CliParts) -> None:
    """Register ``triggers`` and ``trigger poll|listen`` on the CLI's subcommands."""
    listing = commands.add_parser("triggers", help="list the triggers: key, kind and label")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=cmd_triggers)

    trigger = commands.add_parser("trigger", help="run a trigger: poll, or listen for webhooks")
    kinds = trigger.add_subparsers(
        dest="trigger_command", metavar="COMMAND", parser_class=type(trigger)
    )
    kinds.required = True

    poll = kinds.add_parser("poll", help="check a polling trigger; new events as NDJSON")
    listen = kinds.add_parser("listen", help="receive a webhook trigger's deliveries on loopback")
    for parser, kind in ((poll, "polling"), (listen, "webhook")):
        example = next(k for k, t in load_manifest().triggers.items() if t.kind == kind)
        parser.add_argument("key", metavar="KEY", help=f"{kind} trigger key, e.g. {example}")
        parser.add_argument("--input", "-i", action="append", metavar="KEY=VALUE", help="one input")
        parser.add_argument("--inputs", metavar="FILE", help="inputs as JSON/YAML; - for stdin")
        parts.connection_options(parser)
        parser.add_argument("--flow", metavar="FILE", help="run this flow for each event")
    poll.add_argument(
        "--state", required=True, metavar="FILE", help="where the trigger remembers what it gave"
    )
    poll.add_argument(
        "--every",
        type=options.seconds,
        metavar="SECONDS",
        help="check again every SECONDS, until Ctrl-C",
    )
    poll.set_defaults(handler=lambda args: cmd_trigger_poll(args, parts))
    listen.add_argument("--port", type=options.port, required=True, help="TCP port (0: a free one)")
    listen.add_argument("--host", default="127.0.0.1", choices=list(LOOPBACK))
    listen.add_argument(
        "--max-events",
        type=options.positive,
        metavar="N",
        help="stop after N accepted events (and their flows)",
    )
    listen.set_defaults(handler=lambda args: cmd_trigger_listen(args, parts))
