"""The runtime shim: the one way an action or a data source runs.

``invoke(action_key, inputs, connection)``:

1. looks the action up in the manifest (loaded once, validated);
2. coerces each input by its declared type ("15" -> 15, "" -> absent);
3. fills defaults and validates against the JSON Schema compiled from the manifest
   (cached per operation), and checks the action-level rules, collecting every problem
   into one InputValidationError;
4. builds (or reuses) the IntercomClient for the connection;
5. runs the operation by its kind (runtime/operations.py): the handler or the
   manifest's ``request:`` says which request; the runtime sends it, or pages it for a
   list, or turns its records into choices for a data source; returns ``{"data": ...}``
   (a data source: ``{"result": [...]}``).

No HTTP request leaves before step 3 has passed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx

from intercom_connector.runtime.bulk import DEFAULT_CONCURRENCY, Journal, Result, run_rows
from intercom_connector.runtime.client import IntercomClient, RetryPolicy
from intercom_connector.runtime.connection import (
    TOKEN_FIELD,
    Connection,
    Secret,
    connection_from_mapping,
    field_label,
)
from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    ConnectorError,
    InputProblem,
    InputRefusal,
    InputValidationError,
    ResultTooLargeError,
    cut,
    echoed,
)
from intercom_connector.runtime.input_rules import is_given
from intercom_connector.runtime.inputs import CoercionProblem, coerce, is_absent, problem_text
from intercom_connector.runtime.listing import RecordStream
from intercom_connector.runtime.manifest import (
    LIMIT_INPUT,
    SECRET_INPUT,
    ActionSpec,
    OperationSpec,
    Paging,
    TriggerSpec,
    load_manifest,
    resolve_handler,
)
from intercom_connector.runtime.operations import (
    Request,
    choices,
    from_template,
    run_list,
    send,
)
from intercom_connector.runtime.quick_schema import schema_errors

if TYPE_CHECKING:
    from intercom_connector.runtime import triggers
    from intercom_connector.runtime.paging import PagingValues


class Validated(NamedTuple):
    """An operation's inputs after validation: every key present, and which were given."""

    values: dict[str, Any]
    given: frozenset[str]


def validate(
    operation: OperationSpec, inputs: Mapping[str, Any] | None, *, deferred: Collection[str] = ()
) -> Validated:
    """Coerced, defaulted, validated inputs for ``operation``.

    ``deferred`` names inputs whose value is known only later (a flow's reference): they
    count as given, and their type is checked when they have a value.

    ``deferred`` names inputs whose values are known only later (a flow step's
    references): each must be an input, counts as given, and is not type-checked.
    Raises InputValidationError listing every problem when anything is wrong.
    """
    if inputs is not None and not isinstance(inputs, Mapping):
        what = f"must be a mapping of input keys to values, not {type(inputs).__name__}"
        raise InputValidationError(operation.label, [InputProblem("inputs", "inputs", what)])
    given = dict(inputs or {})
    by_key = {spec.key: spec for spec in operation.value_inputs}
    problems: list[InputProblem] = []
    for key in [*given, *deferred]:
        if key not in by_key:
            known = ", ".join(by_key) or "none"
            text = f"is not an input of {operation.label}; its inputs are: {known}"
            shown = cut(str(key))  # a key a person typed, perhaps a whole value
            problems.append(InputProblem(shown, shown, text))
    values: dict[str, Any] = {}
    for key, spec in by_key.items():
        raw = given.get(key)
        if is_absent(raw):
            if spec.has_default:
                values[key] = spec.default
            continue
        try:
            values[key] = coerce(spec.type, raw)
        except CoercionProblem as exc:
            problems.append(InputProblem(key, spec.label, str(exc)))
    named = {key for key in given if key in by_key and not is_absent(given[key])}
    coerced_wrong = {p.key for p in problems}
    for error in schema_errors(operation.input_schema, values, lambda: operation.validator):
        if error.schema_path and error.schema_path[0] == "allOf":
            continue  # a rule across inputs: _rule_problems says which, by label
        if error.validator == "required" and not error.absolute_path:
            for key in error.validator_value:
                if key not in values and key not in coerced_wrong and key not in deferred:
                    problems.append(InputProblem(key, by_key[key].label, "is required"))
            continue
        spec = by_key[str(error.absolute_path[0])]
        problems.append(InputProblem(spec.key, spec.label, problem_text(error, spec.pattern_hint)))
    checked = {p.key for p in problems}
    for key, value in values.items():  # what the schema let through must still encode as JSON
        if key not in checked and not isinstance(value, str | bool | int):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as exc:
                problems.append(InputProblem(key, by_key[key].label, f"is not JSON data ({exc})"))
    # a rule with an input known only later may well be satisfied: not checked here
    problems.extend(_rule_problems(operation, values, {p.key for p in problems} | set(deferred)))
    if problems:
        # jsonschema reports "required" once per missing input, each naming them all
        raise InputValidationError(operation.label, dict.fromkeys(problems))
    return Validated({key: values.get(key) for key in by_key}, frozenset(named))


def validate_inputs(
    action: ActionSpec, inputs: Mapping[str, Any] | None, *, deferred: Collection[str] = ()
) -> dict[str, Any]:
    """Coerced, defaulted, validated inputs for ``action``; every input key present."""
    return validate(action, inputs, deferred=deferred).values


def _rule_problems(
    operation: OperationSpec, values: Mapping[str, Any], wrong: set[str]
) -> list[InputProblem]:
    """The action-level rules; a rule with an input already wrong is skipped (a bad JSON
    Query is not also "give at least one of ...")."""
    problems = []
    for rule in operation.rules:
        if wrong & set(rule.inputs):
            continue
        present = [key for key in rule.inputs if is_given(values.get(key))]
        labels = [operation.input(key).label for key in rule.inputs]
        if rule.type == "at_least_one_of" and not present:
            text = f"give at least one of {', '.join(labels)}"
            problems.append(InputProblem(rule.inputs[0], " / ".join(labels), text))
        elif rule.type == "at_most_one_of" and len(present) > 1:
            shown = [operation.input(key).label for key in present]
            text = f"give only one of {', '.join(shown)}"
            problems.append(InputProblem(present[0], " / ".join(shown), text))

    def label(key: str) -> str:
        return operation.input(key).label

    for when in operation.conditions:
        if not wrong & set(when.inputs):
            for key, text in when.problems(values, label):
                problems.append(InputProblem(key, label(key), text))
    return problems


def _labelled(operation: OperationSpec, refusal: InputRefusal) -> InputValidationError:
    """A refusal (by key) as the user sees every input problem: by label."""
    labels = {spec.key: spec.label for spec in operation.inputs}
    problem = refusal.problem.format_map(labels)
    if refusal.key not in labels:
        return InputValidationError(operation.label, [InputProblem("request", "request", problem)])
    key = refusal.key
    return InputValidationError(operation.label, [InputProblem(key, labels[key], problem)])


@contextmanager
def _naming_refusals(operation: OperationSpec) -> Iterator[None]:
    """Refusals raised by key (by a handler or the client) named by the inputs' labels."""
    try:
        yield
    except InputRefusal as refusal:
        raise _labelled(operation, refusal) from None


def as_connection(connection: Connection | Mapping[str, Any] | None) -> Connection:
    """Accept a Connection or the mapping a host stores for one."""
    if isinstance(connection, Connection):
        return connection
    # Never show the value itself: a caller may have passed the token alone.
    if connection is None:
        raise ConnectionConfigError(
            f"Connect first: no connection is configured (an {field_label(TOKEN_FIELD)} or an "
            "authorized OAuth 2.0 connection)."
        )
    if not isinstance(connection, Mapping):
        raise ConnectionConfigError(
            "A connection is a Connection or a mapping of its fields (type, access_token, ...), "
            f"not {type(connection).__name__}"
        )
    if not all(isinstance(key, str) for key in connection):
        raise ConnectionConfigError("A connection's field names must be text")
    return connection_from_mapping(connection)


class Connector:
    """Runs actions, data sources and triggers for one connection, reusing one IntercomClient.

    >>> with Connector({"type": "access_token", "access_token": "..."}) as intercom:
    ...     intercom.invoke("get_contact", {"contact_id": "6657a1b2c3d4e5f6a7b8c9d0"})
    """

    def __init__(
        self,
        connection: Connection | Mapping[str, Any] | None,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
    ) -> None:
        # No connection yet (a dropdown before the integration is configured) is reported
        # when a call needs one, after its inputs were checked: "connect first".
        self._connection = as_connection(connection) if connection is not None else None
        self._client_options: dict[str, Any] = {
            "transport": transport,
            "retry": retry,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
        }
        self._client: IntercomClient | None = None
        self._building = threading.Lock()

    @property
    def connection(self) -> Connection:
        """The connection; ConnectionConfigError ("connect first") when there is none."""
        return as_connection(self._connection)

    @property
    def client(self) -> IntercomClient:
        """The shared client, built on first use (so bad inputs never build one): once,
        when threads call at once too (one connection pool, one rate-limit window)."""
        if self._client is None:
            with self._building:
                if self._client is None:
                    self._client = IntercomClient(self.connection, **self._client_options)
        return self._client

    def _request(self, operation: OperationSpec, values: Mapping[str, Any]) -> Any:
        """What the handler (or the manifest's request) makes of ``values``."""
        handler = resolve_handler(operation)
        if handler is None:
            assert operation.request is not None
            return from_template(operation.request, values)
        return handler(self.client, **values)

    def _call(
        self, action_key: str, inputs: Mapping[str, Any] | None, since: float | None = None
    ) -> Any:
        action = _known(action_key, "actions")
        checked = validate(action, inputs)
        values = {spec.key: checked.values[spec.key] for spec in action.handler_inputs}
        with _naming_refusals(action):
            made = self._request(action, values)
            if action.kind == "list":
                assert isinstance(made, Request)
                return run_list(self.client, action, made, _paging_values(action, checked))
            return send(self.client, made, since) if isinstance(made, Request) else made

    def invoke(
        self,
        action_key: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        max_records: int | None = None,
    ) -> dict[str, Any]:
        """Run one action; returns ``{"data": ...}``, JSON-serialisable.

        ``max_records`` caps a Fetch All: past it, ResultTooLargeError, and no page more
        is read.
        """
        return self._invoke(action_key, inputs, max_records)

    def resend(
        self, action_key: str, inputs: Mapping[str, Any] | None, since: float
    ) -> dict[str, Any]:
        """Run again an action an earlier attempt sent at ``since`` (unix time), its answer
        lost. Only for a ``repeatable`` one: a create Intercom refuses to repeat then
        settles on what that attempt made (``IntercomClient.create``)."""
        return self._invoke(action_key, inputs, since=since)

    def _invoke(
        self,
        action_key: str,
        inputs: Mapping[str, Any] | None,
        max_records: int | None = None,
        since: float | None = None,
    ) -> dict[str, Any]:
        data = self._call(action_key, inputs, since)
        if isinstance(data, RecordStream):
            action = _known(action_key, "actions")
            with _naming_refusals(action):
                try:
                    data = data.envelope(max_records)
                except ResultTooLargeError as exc:  # named as the person set it
                    what = f"{action.label}: {action.input('fetch_all').label}"
                    raise ResultTooLargeError(exc.limit, what) from None
        return {"data": data}

    def stream(self, action_key: str, inputs: Mapping[str, Any] | None = None) -> Iterable[Any]:
        """Run one action; its records, to iterate as they arrive.

        A Fetch All gives a ``RecordStream`` (page after page, never holding them all;
        ``pages_read`` and ``records_read`` count what came); another list action the
        records of its page; any other action its one result.
        """
        action = _known(action_key, "actions")
        data = self._call(action_key, inputs)
        if isinstance(data, RecordStream):
            return data
        records = action.paging.records if action.paging else "data"
        listed = isinstance(data, dict) and data.get("type") == "list"
        if listed and isinstance(data.get(records), list):
            return list(data[records])
        return [data]

    def bulk(
        self,
        action_key: str,
        rows: Iterable[Mapping[str, Any] | ConnectorError],
        *,
        inputs: Mapping[str, Any] | None = None,
        journal: str | os.PathLike[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> Iterator[Result]:
        """Run one action once per row of inputs; each row's result, in the rows' order.

        A result is ``{"row": N, "data": ...}`` or ``{"row": N, "error": {"type",
        "message", "exit_code"}}`` (rows count from 1); a bad row does not stop the others.
        ``inputs`` are given to every row (a row's own values win). Up to ``concurrency``
        calls run side by side, as many as Intercom's rate-limit window has room for.
        ``journal`` names a file that makes the run resumable: started again with it, a
        run skips the rows already done and never repeats a create whose answer was lost
        (runtime/bulk.py). A row may also be a ``ConnectorError`` (a line of a file that
        could not be read): it is that row's result.
        """
        action: ActionSpec = _known(action_key, "actions")
        self.client  # noqa: B018 - the one client, built before the rows share it
        opened = Journal(journal, action.key) if journal is not None else None

        def check(given: Mapping[str, Any]) -> None:
            validate(action, given)

        def repeatable(given: Mapping[str, Any]) -> bool:
            return self.repeatable(action.key, given)

        def call(given: Mapping[str, Any], since: float | None) -> Any:
            return self._invoke(action.key, given, since=since)["data"]

        def results() -> Iterator[Result]:
            try:
                yield from run_rows(
                    rows,
                    check=check,
                    call=call,
                    inputs=inputs,
                    concurrency=concurrency,
                    journal=opened,
                    repeatable=repeatable,
                )
            finally:
                if opened is not None:
                    opened.close()

        return results()

    def repeatable(self, action_key: str, inputs: Mapping[str, Any] | None = None) -> bool:
        """True when sending this call again cannot make a second write: a read, an update,
        a delete, an upsert given its key, or a create Intercom refuses to repeat for the
        same unique value (``unique_by``: run it again with ``resend``)."""
        action: ActionSpec = _known(action_key, "actions")
        # an upsert (idempotent_if) is repeatable only with its key, a create Intercom
        # refuses to repeat (unique_by) only with a unique value; a handler's action by
        # its declared effect
        template = action.request
        if template is None or (template.idempotent_if is None and not template.unique_by):
            return action.idempotent
        try:
            values = validate(action, inputs).values
        except ConnectorError:
            return False
        made = from_template(template, values)
        return bool(made.idempotent) or made.unique_read is not None

    def data_source(self, key: str, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A dropdown's choices: ``{"result": [{"key": ..., "label": ...}, ...]}``."""
        source = _known(key, "data_sources")
        checked = validate(source, inputs)
        values = {k: v for k, v in checked.values.items() if k != LIMIT_INPUT}
        paging: Paging | None = source.paging
        maximum = None
        if source.source is not None:
            action = load_manifest().action(source.source)
            paging = action.paging or Paging("none")
            wanted = {target: values[own] for target, own in source.source_inputs.items()}
            values = validate(action, wanted).values
            values = {spec.key: values[spec.key] for spec in action.handler_inputs}
            made = self._request(action, values)
            if action.kind == "list":
                most = action.input("per_page").maximum
                maximum = int(most) if most is not None else None
        else:
            made = self._request(source, values)
        assert isinstance(made, Request) and paging is not None
        limit = checked.values[LIMIT_INPUT]
        with _naming_refusals(source):
            return choices(self.client, source, made, paging, limit, maximum)

    def poll(
        self,
        trigger_key: str,
        inputs: Mapping[str, Any] | None = None,
        state: Any = None,
        *,
        now: float | None = None,
    ) -> triggers.Polled:
        """A polling trigger's check: ``events, state = intercom.poll(key, inputs, state)``.

        ``state`` is what the previous check gave (None or {} the first time); keep the new
        one once the events are handled. Events come in order of change, each change once.
        An error raises before anything is returned, so the state kept stays as it was.
        ``now`` (unix seconds, default the clock's) places a first check's start.
        """
        trigger = _trigger(trigger_key, "polling")
        values = validate(trigger, inputs).values
        moment = time.time() if now is None else now
        from intercom_connector.runtime import triggers  # only a trigger's work needs it

        return triggers.poll(self.client, trigger, values, state, now=moment)

    def receive_webhook(
        self,
        trigger_key: str,
        headers: Mapping[str, str],
        body: bytes,
        inputs: Mapping[str, Any] | None = None,
        *,
        seen: triggers.ReplayGuard | None = None,
    ) -> triggers.Delivery:
        """One delivery to a webhook trigger (the raw body, as it came): its events, or
        WebhookRefusal whose ``status`` (401, 400) is the answer to give. ``seen``, kept by
        the host across deliveries, drops a repeated one."""
        trigger = _trigger(trigger_key, "webhook")
        values = validate(trigger, inputs).values
        from intercom_connector.runtime import triggers

        return triggers.receive(
            headers,
            body,
            secret=self._webhook_secret(trigger, values),
            topics=values["topics"],
            app_id=values.get("app_id"),
            seen=seen,
        )

    def webhook_secret(self, trigger_key: str, inputs: Mapping[str, Any] | None = None) -> str:
        """The client secret a webhook trigger verifies signatures with: its input, else the
        OAuth 2.0 connection's; ConnectionConfigError when there is neither."""
        trigger = _trigger(trigger_key, "webhook")
        return self._webhook_secret(trigger, validate(trigger, inputs).values)

    def _webhook_secret(self, trigger: TriggerSpec, values: Mapping[str, Any]) -> str:
        given = values.get(SECRET_INPUT)
        if given:
            return str(given)
        held = self._connection.get(SECRET_INPUT) if self._connection else None
        if isinstance(held, Secret) and held:
            return held.reveal()
        label = trigger.input(SECRET_INPUT).label
        raise ConnectionConfigError(
            f"{trigger.label} verifies each delivery with your Intercom app's client secret: "
            f"give it as {label}, or use an OAuth 2.0 connection, which holds it"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connector({self._connection!r})"


#: how a caller's unknown key is named, by the manifest's section: the call, its parameter,
#: one entry and the section
_UNKNOWN = {
    "actions": ("invoke", "action_key", "an action", "actions"),
    "data_sources": ("data_source", "key", "a data source", "data sources"),
    "triggers": ("trigger", "trigger_key", "a trigger", "triggers"),
}


def _known(key: Any, kind: str) -> Any:
    """The manifest entry ``key`` of ``kind``; a caller's unknown key is an
    InputValidationError listing the known ones."""
    entries: Mapping[str, Any] = getattr(load_manifest(), kind)
    if isinstance(key, str) and key in entries:
        return entries[key]
    call, name, what, section = _UNKNOWN[kind]
    known = ", ".join(sorted(entries))
    problem = f"{echoed(key)} is not {what}; the {section} are: {known}"
    raise InputValidationError(call, [InputProblem(name, name, problem)])


def _trigger(key: Any, kind: str) -> TriggerSpec:
    """The trigger ``key``, which must be of ``kind`` (webhook, polling)."""
    trigger: TriggerSpec = _known(key, "triggers")
    if trigger.kind != kind:
        problem = f"{key!r} is a {trigger.kind} trigger, not a {kind} one"
        raise InputValidationError("trigger", [InputProblem("trigger_key", "trigger_key", problem)])
    return trigger


def _paging_values(action: ActionSpec, checked: Validated) -> PagingValues:
    from intercom_connector.runtime.paging import PagingValues  # a list's, loaded with it

    values = checked.values
    per_page = action.input("per_page")
    return PagingValues(
        fetch_all=bool(values.get("fetch_all")),
        page=values.get("page"),
        per_page=values["per_page"] if "per_page" in checked.given else None,
        starting_after=values.get("starting_after"),
        default_per_page=per_page.default if per_page.has_default else None,
    )


def invoke(
    action_key: str,
    inputs: Mapping[str, Any] | None,
    connection: Connection | Mapping[str, Any] | None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Run one action once: validate ``inputs``, call Intercom, return ``{"data": ...}``.

    For many calls on one connection, a ``Connector`` reuses its HTTP connections.
    """
    with Connector(connection, transport=transport) as connector:
        return connector.invoke(action_key, inputs)


def data_source(
    key: str,
    inputs: Mapping[str, Any] | None,
    connection: Connection | Mapping[str, Any] | None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """A data source's choices once: ``{"result": [{"key", "label"}, ...]}``."""
    with Connector(connection, transport=transport) as connector:
        return connector.data_source(key, inputs)


def poll(
    trigger_key: str,
    connection: Connection | Mapping[str, Any] | None,
    inputs: Mapping[str, Any] | None,
    state: Any,
    *,
    transport: httpx.BaseTransport | None = None,
) -> triggers.Polled:
    """A polling trigger's check once: ``events, new_state = poll(key, connection, inputs,
    state)``. See ``Connector.poll``."""
    with Connector(connection, transport=transport) as connector:
        return connector.poll(trigger_key, inputs, state)


def receive_webhook(
    trigger_key: str,
    headers: Mapping[str, str],
    body: bytes,
    inputs: Mapping[str, Any] | None,
    connection: Connection | Mapping[str, Any] | None = None,
    *,
    seen: triggers.ReplayGuard | None = None,
) -> triggers.Delivery:
    """One delivery to a webhook trigger, from a host's own HTTP endpoint: its events, or
    WebhookRefusal (``status`` 401 or 400). See ``Connector.receive_webhook``."""
    with Connector(connection) as connector:
        return connector.receive_webhook(trigger_key, headers, body, inputs, seen=seen)
