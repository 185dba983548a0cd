"""The CLI's trigger commands: ``triggers``, ``trigger poll`` and ``trigger listen``.

- ``trigger poll KEY --state FILE``: one check of a polling trigger (or one every
  ``--every`` seconds). The new events go to stdout as NDJSON, then FILE is written,
  atomically: after the events are out, so that a crash in between gives them again
  rather than losing them. No FILE yet is a first check.
- ``trigger listen KEY --port N``: a webhook trigger's endpoint, ``POST /`` (on loopback
  unless ``--host`` says otherwise: signatures guard it). Each delivery is verified
  (runtime/triggers.py) and answered 401 (signature), 400 (body), 200 once its event is
  out (printed; with a flow, its flow started; with ``--deployment``, its run started on
  Temporal) or 503 when it will not be (past ``--max-events``, stopping, its flow not
  starting soon): Intercom sends it again. ``Intake`` is the one place that decides;
  ``/healthz``, the SIGTERM drain, the JSON request log and the limits are
  hosts/service.py's, as for ``mcp --http``.

With ``--flow FILE`` each event also runs the flow (whose ``trigger:`` is KEY), one event
after the other, each run reported on stderr in one line. A poll keeps in its state only
the events whose flow ran: after a failure, the next check gives the failed event again,
up to FLOW_ATTEMPTS failed runs; then the event is set aside in the dead-letter file
(DeadLetters) and the later events go on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from intercom_connector.hosts import options, service
from intercom_connector.hosts.flow import (
    Flow,
    FlowError,
    StepError,
    check_event,
    load_flow,
    run_flow,
)
from intercom_connector.hosts.login import ENV_CLIENT_SECRET
from intercom_connector.runtime.bulk import error_json
from intercom_connector.runtime.errors import (
    BAD_PATH_ERRNOS,
    ConnectorError,
    InputProblem,
    InputValidationError,
    StorageError,
    WebhookRefusal,
    echoed,
)
from intercom_connector.runtime.manifest import SECRET_INPUT, TriggerSpec, load_manifest
from intercom_connector.runtime.shim import Connector, validate
from intercom_connector.runtime.triggers import Delivery, Event, ReplayGuard, read_state

#: the listener's limits by default: Intercom's deliveries are a few kilobytes and are
#: answered at once (the flows run after the answer)
LISTEN_SERVICE = service.ServiceOptions(max_body=5 * 1024 * 1024, request_timeout=30.0)
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
    """A polling trigger's state in a file: JSON, replaced atomically.

    A file that is there but holds no state this command wrote (empty, not UTF-8, not
    JSON) is refused, untouched: taking it for a first check would skip every change
    since the last good state. One that cannot be written is StorageError (exit 5).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.where = f"--state {self.path}"

    def load(self) -> Any:
        """The state kept, or None before the first check (no file yet)."""
        try:
            # a device or a pipe is no state (and /dev/zero would be read forever)
            if not stat.S_ISREG(self.path.stat().st_mode):
                raise self._error("is not a regular file; give a file's path")
            content = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror}") from None
        if not content.strip():
            raise self._error("is empty; delete it to start over")
        try:
            kept = orjson.loads(content)
        except ValueError as exc:
            kind = "UTF-8 text" if "UTF-8" in str(exc) else "JSON"
            raise self._error(f"is not {kind}; delete it to start over") from None
        if kept is None or kept == {}:  # no state this command writes: never a first check
            raise self._error(
                f"holds {content.strip().decode()}, no state; delete it to start over"
            )
        return kept

    def check(self, trigger: TriggerSpec) -> None:
        """Raise, in one line naming the file, when the state kept is not one ``trigger``
        wrote (another trigger's, no cursor, ...); nothing is asked before."""
        kept = self.load()
        try:
            read_state(trigger, kept)
        except InputValidationError as exc:
            problem = exc.problems[0].problem if exc.problems else str(exc)
            advice = (
                "give each trigger a state file of its own"
                if problem.startswith("was written by")
                else "delete it to start over"
            )
            raise self._error(f"{problem}; {advice}") from None

    def check_writable(self) -> None:
        """Raise now, before any request, when the state could not be saved."""
        check_writable(self.path, self.where, self._error)

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
            raise StorageError.of(self.where, "cannot be written", exc) from None

    def _error(self, problem: str) -> InputValidationError:
        return _file_error(self.where, problem)


def _file_error(where: str, problem: str) -> InputValidationError:
    """Bad input naming a file option (``--state FILE``), in one line."""
    error = InputValidationError("trigger poll", [InputProblem(where, where, problem)])
    error.args = (f"{where}: {problem}",)  # one line: the file is the only input
    return error


def check_writable(
    path: Path, where: str, bad_input: Callable[[str], InputValidationError]
) -> None:
    """Raise, before any request, when a file could not be written beside ``path``: bad
    input for a folder that is not there, StorageError (exit 5) for one that cannot be
    written (read-only, no permission, full)."""
    folder = path.parent
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in BAD_PATH_ERRNOS:
            raise bad_input(f"cannot be written in {folder} ({exc.strerror})") from None
        raise StorageError.of(where, "cannot be written", exc) from None


class EventHandler:
    """What becomes of each event: a line of NDJSON on stdout, then its flow, if any."""

    def __init__(
        self,
        flow: Flow | None,
        connector: Connector | None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.flow = flow
        self.connector = connector
        self.note = note or (lambda text: print(text, file=sys.stderr, flush=True))
        self.failure = 0  # the exit status of the last flow that failed
        self.error: StepError | FlowError | None = None  # why the last flow run failed
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
        self.error = None
        try:
            outputs = run_flow(self.flow, self.connector, event=check_event(self.flow, event))
        except (StepError, FlowError) as exc:
            self.failure, self.error = exc.exit_code, exc
            self.note(f"error: {where}: {exc}")
            return False
        took = time.monotonic() - started
        self.note(f"{where}: {len(outputs)} steps ran in {took:.1f} s")
        return True

    def handle_all(
        self, events: Sequence[Event], failed: dict[str, int], dead: DeadLetters | None
    ) -> int:
        """Show and run each event in order: how many were handled, up to a failing flow.

        ``failed`` counts the earlier failed runs of each event id (updated here). A flow
        failing for a passing reason (exit 5: network, Intercom unavailable) is tried again
        at the next check, uncounted. Another failure is counted; at FLOW_ATTEMPTS the event
        is set aside in ``dead`` and the next events go on.
        """
        for count, event in enumerate(events):
            self.show(event)
            if self.run_flow(event):
                failed.pop(event["id"], None)
                continue
            if dead is None or self.failure == RETRY_LATER:
                return count
            attempts = failed.get(event["id"], 0) + 1
            if attempts < FLOW_ATTEMPTS:
                failed[event["id"]] = attempts
                return count
            dead.add(event, self.error, attempts)
            failed.pop(event["id"], None)
        return len(events)


class DeadLetters:
    """The events whose flow kept failing, set aside: an NDJSON file, one line each
    (``{"trigger", "flow", "event", "error": {"type", "message", "exit_code"},
    "attempts", "at"}``), appended, private to its owner (the events hold records)."""

    def __init__(self, path: Path, trigger: str, flow: Flow) -> None:
        self.path = path
        self.where = f"--dead-letter {path}"
        self.trigger = trigger
        self.flow = flow

    def check_writable(self) -> None:
        """Raise now, before any request, when an event could not be set aside."""
        if not self.path.exists():
            check_writable(self.path, self.where, self._error)
            return
        try:
            with open(self.path, "ab"):
                pass
        except OSError as exc:
            if exc.errno in BAD_PATH_ERRNOS:
                raise self._error(f"cannot be written ({exc.strerror})") from None
            raise StorageError.of(self.where, "cannot be written", exc) from None

    def add(self, event: Event, error: ConnectorError | None, attempts: int) -> None:
        entry = {
            "trigger": self.trigger,
            "flow": self.flow.name,
            "event": event,
            "error": error_json(error) if error is not None else None,
            "attempts": attempts,
            "at": int(time.time()),
        }
        line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise StorageError.of(self.where, "cannot be written", exc) from None
        print(
            f"error: event {event['id']} set aside in {self.path} after {attempts} failed "
            f"runs of flow {self.flow.name!r}; the next events go on",
            file=sys.stderr,
            flush=True,
        )

    def _error(self, problem: str) -> InputValidationError:
        return _file_error(self.where, problem)


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

#: how many times a polled event's flow may fail (not for a passing reason) before the
#: event is set aside in the dead-letter file and the next events go on
FLOW_ATTEMPTS = 3
#: the state's key counting the failed runs of the events not handled yet (the CLI's own)
FAILED_RUNS = "failed_runs"


def dead_letter_path(state: str) -> str:
    """The dead-letter file beside a state file: ``x.state.json`` -> ``x.state.dead.ndjson``."""
    path = Path(state)
    return str(path.with_name(f"{path.stem if path.suffix == '.json' else path.name}.dead.ndjson"))


def _failed_runs(state: StateFile, kept: Any) -> dict[str, int]:
    counts = kept.get(FAILED_RUNS, {}) if isinstance(kept, dict) else {}
    valid = isinstance(counts, dict) and all(
        isinstance(k, str) and type(v) is int for k, v in counts.items()
    )
    if not valid:
        raise state._error(f"has a {FAILED_RUNS} that is not {{event id: count}}")
    return dict(counts)


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
    other failure stops the loop with its exit status, a file that cannot be written too
    (StorageError, exit 5: checked again, its events would be given again and again).
    """
    status, done = 0, 0
    while checks is None or done < checks:
        try:
            status = check()
        except ConnectorError as exc:
            if exc.exit_code != RETRY_LATER or isinstance(exc, StorageError):
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
    state.check(trigger)  # a state that cannot be used stops the poll before any request
    state.check_writable()
    dead = None
    if flow is not None:
        dead = DeadLetters(
            Path(args.dead_letter or dead_letter_path(args.state)), trigger.key, flow
        )
        if os.path.realpath(dead.path) == os.path.realpath(state.path):
            # the state, replaced whole at each check, would take the events set aside with it
            raise _file_error(
                dead.where, "is the --state file; give the dead letters a file of their own"
            )
        dead.check_writable()
    elif args.dead_letter:
        raise _file_error(f"--dead-letter {args.dead_letter}", "goes with --flow")
    connection, transport = parts.connection(args, flow.connection if flow else None)
    with Connector(connection, transport=transport) as connector:
        handler = EventHandler(flow, connector)

        def check() -> int:
            kept = state.load()
            failed = _failed_runs(state, kept)
            polled = connector.poll(trigger.key, inputs, kept)
            handler.failure = 0
            handled = handler.handle_all(polled.events, failed, dead)
            after = polled.state_after(handled)
            state.save({**after, FAILED_RUNS: failed} if failed else after)
            return handler.failure

        if args.every is None:
            return check()
        return poll_loop(check, args.every)


# -- trigger listen -----------------------------------------------------------------------

#: how long a delivery waits for its flow to start (earlier events' flows running) before
#: it is answered 503, so that Intercom sends it again later
FLOW_START_WAIT = 4.0


class _Ticket:
    """One accepted event waiting for its flow: started by the flow's thread, or given
    up by the delivery's (which then answers 503) or by ``Intake.stop``; never both."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self._lock = threading.Lock()
        self._state = "waiting"
        self.settled = threading.Event()  # printed as its flow starts, lost, or given up
        self.lost = False  # started, but it could not be printed: the output is closed

    def start(self) -> bool:
        """Its flow may start now: False when it was given up first."""
        return self._leave("started")

    def give_up(self) -> None:
        """Its delivery answers 503, unless its flow started first."""
        if self._leave("given up"):
            self.settled.set()

    def out(self) -> bool:
        """Whether its event is out (its flow started and it was printed); once asked,
        a ticket still waiting is given up."""
        self.give_up()
        if self._state != "started":
            return False
        self.settled.wait()  # the flow's thread is printing it
        return not self.lost

    def _leave(self, state: str) -> bool:
        with self._lock:
            if self._state != "waiting":
                return False
            self._state = state
            return True


class Intake:
    """When a delivery may be answered 2xx: once each of its events is durably out, and
    never for an event that will not be.

    Intercom does not send again what was answered 2xx, so a 2xx promises that the
    event was printed to stdout and flushed, or, with a flow, that its flow started
    (printed too, as it starts). Past ``limit`` events (``--max-events``), while stopping,
    or when the flow does not start within FLOW_START_WAIT, the answer is 503 and the
    delivery's notification id is forgotten by the replay guard, so that Intercom's next
    attempt is taken. Deliveries are verified and admitted one at a time (the replay
    guard's and stdout's order); flows run one after the other in the thread calling
    ``run_flows``. A closed stdout (its reader gone) stops it: that delivery is answered
    503 too. This is the one place that decides a delivery's answer; hosts/service.py
    serves it (the HTTP limits, /healthz and the SIGTERM drain are the service's).
    """

    def __init__(
        self,
        handler: EventHandler,
        limit: int | None,
        *,
        flows: bool,
        wait: float = FLOW_START_WAIT,
        hand_out: Callable[[Sequence[Event]], None] | None = None,
    ) -> None:
        self.handler = handler
        self._flows = flows
        # where events go before they are printed (a Temporal start: hosts/temporal/listen.py);
        # its WebhookRefusal (503) takes the events back
        self._hand_out = hand_out
        self._wait = wait
        self._lock = threading.Lock()  # one delivery admitted at a time
        self._left = limit  # events that may still be admitted (None: no limit)
        self._stopping = threading.Event()
        self._tickets: queue.Queue[_Ticket] = queue.Queue()
        self.handled = 0  # events out (printed; with flows, their flow started)
        self.done = threading.Event()  # the limit is reached and every event is out

    def deliver(self, receive: Callable[[], Delivery], forget: Callable[[str], None]) -> bool:
        """Admit the delivery ``receive`` verifies (WebhookRefusal passes through): True
        once its events are durably out (answer 2xx), False when they will not be (503).
        ``forget(id)`` makes the replay guard forget an event not taken."""
        note = self.handler.note
        with self._lock:
            if self._stopping.is_set():
                return False
            delivery = receive()
            events = delivery.events
            if not events:
                note(delivery.note)
                return True
            if self._left is not None and self._left < len(events):
                for event in events:
                    forget(event["id"])
                note(f"{delivery.note}; answered 503: past --max-events")
                return False
            if self._left is not None:
                self._left -= len(events)
            if not self._flows:
                try:
                    if self._hand_out is not None:
                        self._hand_out(events)
                    for event in events:
                        self.handler.show(event)
                except (WebhookRefusal, OSError) as error:
                    if self._left is not None:
                        self._left += len(events)
                    for event in events:
                        forget(event["id"])
                    if isinstance(error, WebhookRefusal):
                        raise
                    closed = True
                else:
                    self._count(len(events))
                    return True
            else:
                closed = False
                tickets = [_Ticket(event) for event in events]
                for ticket in tickets:
                    self._tickets.put(ticket)
        if closed:
            self.output_closed()
            return False
        deadline = time.monotonic() + self._wait
        for ticket in tickets:
            ticket.settled.wait(max(0.0, deadline - time.monotonic()))
        given_up = [ticket for ticket in tickets if not ticket.out()]
        if not given_up:
            return True
        with self._lock:
            if self._left is not None:
                self._left += len(given_up)
        for ticket in given_up:
            forget(ticket.event["id"])
            if not ticket.lost:
                note(
                    f"{ticket.event['id']} answered 503: its flow did not start within "
                    f"{self._wait:g} s (earlier flows still running), or the listener is "
                    "stopping"
                )
        return False

    def output_closed(self) -> None:
        """stdout's reader is gone: nothing more can go out, so stop (answering 503)."""
        self.handler.note("error: the output is closed; stopping")
        self.stop()

    def _count(self, events: int) -> None:
        self.handled += events
        if self._left == 0 and self._tickets.empty():
            self._stopping.set()
            self.done.set()

    def run_flows(self) -> None:
        """Run each admitted event's flow, one after the other, until the limit is reached
        (or forever), or until ``stop``. Each event is printed as its flow starts."""
        while not self._stopping.is_set():
            try:
                ticket = self._tickets.get(timeout=0.2)
            except queue.Empty:
                continue
            if not ticket.start():
                continue  # its delivery gave up waiting: answered 503
            try:
                self.handler.show(ticket.event)
            except OSError:
                ticket.lost = True
                ticket.settled.set()
                self.output_closed()
                return
            with self._lock:
                self._count(1)
            ticket.settled.set()
            self.handler.run_flow(ticket.event)

    def wait(self) -> None:
        """Until the limit is reached (or forever, without one), or until ``stop``."""
        while not self._stopping.wait(0.2):
            pass

    def stop(self) -> None:
        """Answer 503 from now on, and give up the events whose flow has not started."""
        self._stopping.set()
        with self._lock:
            self._left = 0
        while True:
            try:
                self._tickets.get_nowait().give_up()
            except queue.Empty:
                break


def cmd_trigger_listen(args: argparse.Namespace, parts: CliParts) -> int:
    trigger = _trigger(args.key, "webhook")
    flow = _flow_for(args.flow, trigger)
    starter = _run_starter(args, trigger)  # runs started on Temporal, not here
    inputs = _trigger_inputs(args, parts, trigger, flow)
    if starter is not None:
        inputs = {**starter.trigger_inputs, **inputs}
    if not inputs.get(SECRET_INPUT) and os.environ.get(ENV_CLIENT_SECRET):
        inputs[SECRET_INPUT] = os.environ[ENV_CLIENT_SECRET]
    needs_connection = flow is not None or args.connection or args.sandbox
    connection, transport = (
        parts.connection(args, flow.connection if flow else None)
        if needs_connection
        else (None, None)
    )
    settings = service.service_options(args, args.host, args.port)
    log = service.RequestLog(settings.log_format)
    with Connector(connection, transport=transport) as connector:
        connector.webhook_secret(trigger.key, inputs)  # no secret, or bad inputs: stop now
        handler = EventHandler(flow, connector, note=log.note)
        seen = ReplayGuard()
        intake = Intake(
            handler,
            args.max_events,
            flows=flow is not None,
            hand_out=starter.start if starter is not None else None,
        )

        def deliver(scope: service.Scope, body: bytes) -> tuple[int, dict[str, Any]]:
            if scope["path"] != "/":
                return 404, {"status": 404, "message": "deliveries go to POST /"}
            if scope["method"] != "POST":
                return 405, {"status": 405, "message": "deliveries are POST /"}
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

            def receive() -> Delivery:
                guard = seen if starter is None else None  # Temporal refuses a repeated id
                return connector.receive_webhook(trigger.key, headers, body, inputs, seen=guard)

            try:
                taken = intake.deliver(receive, seen.discard)
            except WebhookRefusal as refusal:
                log.note(f"refused ({refusal.status}): {refusal}")
                return refusal.status, {"status": refusal.status, "message": str(refusal)}
            if taken:
                return 200, {"status": 200, "message": "ok"}
            return 503, {"status": 503, "message": "not taken now: send it again later"}

        sock = service.bind(settings.host, settings.port, "listen")
        running: list[service.Running] = []

        def work() -> None:
            """The flows (or the wait for --max-events); then the service stops."""
            if flow is not None:
                intake.run_flows()
            else:
                intake.wait()
            running[0].stop()

        worker = threading.Thread(target=work, daemon=True)

        def started(serving: service.Running) -> None:
            running.append(serving)
            worker.start()

        cut = 0
        try:
            topics = ", ".join(validate(trigger, inputs).values["topics"])
            log.note(
                f"{trigger.label}: listening on {service.url_of(sock)} for {topics}. "
                "Ctrl-C stops it; SIGTERM drains it."
            )
            cut = service.serve(
                service.json_app(deliver, workers=settings.max_calls),
                sock,
                settings,
                log,
                describe=lambda body: trigger.key,
                started=started,
            )
        finally:
            intake.stop()  # the events whose flow has not started are not taken (503)
            if starter is not None:
                starter.close()
        worker.join(settings.grace)  # the flow running finishes, within the grace period
        if cut:
            service.grace_ended(log, settings, cut)
        if worker.is_alive():
            log.note("the grace period ended before the running flow finished", level="error")
        if cut or worker.is_alive():
            return handler.failure or 1
        return handler.failure


def _run_starter(args: argparse.Namespace, trigger: TriggerSpec) -> Any:
    """With ``--temporal``: what starts each event's run on the cluster, for the deployment
    ``--deployment`` names (hosts/temporal/listen.py); else None."""
    if args.temporal is None and args.deployment is None:
        return None
    if args.temporal is None or args.deployment is None or args.flow is not None:
        problem = "--temporal and --deployment NAME go together, without --flow"
        raise InputValidationError(
            "trigger listen", [InputProblem("--deployment", "--deployment", problem)]
        )
    from intercom_connector.hosts.temporal.cluster import cluster_of
    from intercom_connector.hosts.temporal.commands import require_temporal

    cluster = cluster_of(args, "trigger listen")
    require_temporal("trigger listen")
    from intercom_connector.hosts.temporal.listen import RunStarter

    return RunStarter(cluster, args.deployment, trigger.key)


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
    listen = kinds.add_parser("listen", help="receive a webhook trigger's deliveries over HTTP")
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
    poll.add_argument(
        "--dead-letter",
        metavar="FILE",
        help=f"with --flow: where an event whose flow failed {FLOW_ATTEMPTS} times is set aside "
        "(NDJSON; default: beside --state, NAME.dead.ndjson)",
    )
    poll.set_defaults(handler=lambda args: cmd_trigger_poll(args, parts))
    listen.add_argument("--port", type=options.port, required=True, help="TCP port (0: a free one)")
    listen.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1; signatures guard any address)",
    )
    listen.add_argument(
        "--max-events",
        type=options.positive,
        metavar="N",
        help="stop after N accepted events (and their flows)",
    )
    from intercom_connector.hosts.temporal.cluster import add_cluster_options

    add_cluster_options(listen, optional=True)
    listen.add_argument(
        "--deployment",
        metavar="NAME",
        help="with --temporal: start this webhook deployment's run for each delivery",
    )
    service.add_service_options(listen, LISTEN_SERVICE)
    listen.set_defaults(handler=lambda args: cmd_trigger_listen(args, parts))
