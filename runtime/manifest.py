"""Loading connector.yaml: validated against its meta-schema, shared inputs resolved.

The manifest is the single source of truth for the component, its connections and the
four kinds of things a flow builder shows (as Prismatic's components have them):

- **actions** of kind ``request`` (one call, or a few) or ``list`` (a declared ``paging``
  style; the runtime owns Fetch All, Page, Per Page, the cursor, the envelope);
- **data sources**, the integration UI's dropdowns (``{"result": [{"key", "label"}]}``);
- **triggers**, ``webhook`` or ``polling`` (their contract; the events they give);
- **connections**.

It is loaded once per process (``load_manifest()``); a broken manifest fails here, with
the file, the path and the key named, before anything is built from it.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intercom_connector.runtime import cache
from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.frozen import frozen
from intercom_connector.runtime.input_rules import When
from intercom_connector.runtime.inputs import schema_fragment
from intercom_connector.runtime.quick_schema import schema_errors

if TYPE_CHECKING:
    import jsonschema

PACKAGE = "intercom_connector"

#: the inputs whose meaning the runtime owns for every list action
PAGING_INPUTS = ("fetch_all", "page", "per_page", "starting_after")
#: the input of a data source that caps how many choices it gives
LIMIT_INPUT = "limit"
#: the inputs whose meaning the runtime owns for every polling trigger: what a first check
#: does, how far back a backfill goes, how late a change may show in Intercom's search
POLL_INPUTS = ("start", "backfill_days", "index_lag")
#: ... and for a webhook trigger: the topics it accepts, the secret that verifies a
#: signature (else the OAuth 2.0 connection's), the one workspace it accepts (else any)
WEBHOOK_INPUTS = ("topics", "client_secret", "app_id")
SECRET_INPUT = "client_secret"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: the value of ``InputSpec.default`` when an input has no default
MISSING: Any = _Missing()


@frozen
class Option:
    """One choice of a select input (``base_url``: the API host of a region)."""

    value: str
    label: str
    base_url: str | None = None


@frozen
class InputSpec:
    """One input of an action, data source, trigger or connection, fully resolved."""

    key: str
    label: str
    type: str
    required: bool = False
    default: Any = MISSING
    comments: str = ""
    example: str | None = None
    options: tuple[Option, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    #: the data source whose choices fill this input's dropdown
    data_source: str | None = None
    #: what to tell a person whose value does not match the schema's ``pattern``
    pattern_hint: str | None = None
    schema_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @property
    def secret(self) -> bool:
        """A credential: write-only in a UI, redacted everywhere."""
        return self.type == "password"

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one valid value of this input."""
        schema = schema_fragment(self.type)
        if self.options:
            # a list's options are what each of its items may be
            target = schema["items"] if self.type == "value_list" else schema
            target["enum"] = [option.value for option in self.options]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        schema.update(json.loads(json.dumps(dict(self.schema_extra))))
        schema["title"] = self.label
        if self.comments:
            schema["description"] = self.comments
        if self.has_default:
            schema["default"] = self.default
        return schema


@frozen
class Rule:
    """An action-level rule over several inputs, enforced by the shim and by a form.

    ``at_least_one_of``: one of ``inputs`` must be given; ``at_most_one_of``: no two of
    them may be. An input counts as given when it has a value other than false.
    """

    type: str
    inputs: tuple[str, ...]


@frozen
class RequestTemplate:
    """A request that is a plain mapping of inputs, declared instead of a handler.

    ``path`` placeholders are input keys (percent-encoded when sent); ``query`` and
    ``body`` map a field sent to the input that gives it (an input left empty is not
    sent). ``idempotent_if`` names an input that makes the call an upsert when given.
    ``unique_by`` (inputs, unless, read): a create Intercom refuses to repeat for the same
    value of one of those inputs (a 409 naming the record that has it), so a create whose
    answer was lost can be settled (runtime/client.py, ``IntercomClient.create``).
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] | None = None
    idempotent: bool | None = None
    idempotent_if: str | None = None
    unique_by: tuple[str, ...] = ()
    unique_unless: Mapping[str, str] = field(default_factory=dict)
    unique_read: str | None = None

    @property
    def path_inputs(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))


@frozen
class Overflow:
    """Where a numbered list continues past the records it pages through by number:
    Intercom pages ``applies_to`` up to ``after`` records, its scroll API ``path`` beyond."""

    after: int
    path: str
    applies_to: str


@frozen
class Paging:
    """How a list pages: its style (a paginator of runtime/paging/, by name) and the facts
    of this list: the answer's field holding the records, and

    ``split_by`` (a search only): the records' creation-time field by which a Fetch All is
    split into ranges fetched side by side (runtime/paging/search_ranges.py); a Fetch All
    with no sort given asks for one by that field, oldest first;
    ``overflow`` (a numbered list only): where a Fetch All goes on past Intercom's limit.
    """

    style: str
    records: str = "data"
    split_by: str | None = None
    overflow: Overflow | None = None


def _at(inputs: tuple[InputSpec, ...], key: str) -> InputSpec:
    for spec in inputs:
        if spec.key == key:
            return spec
    raise KeyError(key)


@frozen
class OperationSpec:
    """What actions, data sources and triggers share: inputs, a handler or a request."""

    key: str
    label: str
    description: str
    inputs: tuple[InputSpec, ...]
    handler: str | None
    request: RequestTemplate | None
    rules: tuple[Rule, ...]
    #: what it acts on (a key of the manifest's resources): the palette group a UI shows it in
    resource: str | None = None
    #: rules across inputs: required, not taken or one value when others have a value
    #: (the manifest's ``when:``; runtime/input_rules.py)
    conditions: tuple[When, ...] = ()

    @property
    def value_inputs(self) -> tuple[InputSpec, ...]:
        """The inputs given to the operation: all but the connection."""
        return tuple(spec for spec in self.inputs if spec.type != "connection")

    def input(self, key: str) -> InputSpec:
        return _at(self.inputs, key)

    @functools.cached_property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of this operation's whole input object (connection excluded),
        its rules across inputs as ``if``/``then``."""
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {spec.key: spec.json_schema() for spec in self.value_inputs},
            "required": [spec.key for spec in self.value_inputs if spec.required],
            "additionalProperties": False,
        }
        if self.conditions:
            booleans = {spec.key for spec in self.value_inputs if spec.type == "boolean"}
            schema["allOf"] = [rule.schema(booleans) for rule in self.conditions]
        return schema

    @functools.cached_property
    def validator(self) -> jsonschema.Draft202012Validator:
        """The compiled validator of ``input_schema``, built once per operation (and only
        for inputs the quick check finds wrong: runtime/quick_schema.py)."""
        import jsonschema

        return jsonschema.Draft202012Validator(self.input_schema)


@frozen
class ActionSpec(OperationSpec):
    """One action: what the flow builder shows and what the shim runs."""

    kind: str = "request"
    effect: str = "read"
    output: str = ""
    paging: Paging | None = None

    @property
    def idempotent(self) -> bool:
        """True when running it twice does what running it once does (a retry cannot
        duplicate a write): reads, updates and deletes, and creates that are upserts."""
        if self.effect in ("read", "update", "delete"):
            return True
        template = self.request
        return bool(template and template.idempotent)  # an upsert only when its key is given: no

    @property
    def handler_inputs(self) -> tuple[InputSpec, ...]:
        """The inputs the handler receives: a list's paging inputs are the runtime's."""
        if self.kind != "list":
            return self.value_inputs
        return tuple(spec for spec in self.value_inputs if spec.key not in PAGING_INPUTS)


@frozen
class DataSourceSpec(OperationSpec):
    """A dropdown: choices ``{"key", "label"}`` read from a list action or a handler.

    ``source`` names the action whose records become choices (``source_inputs`` fills its
    inputs from this data source's); otherwise ``handler`` returns the request to page.
    """

    source: str | None = None
    source_inputs: Mapping[str, str] = field(default_factory=dict)
    paging: Paging | None = None
    key_field: str = "id"
    label_field: str = "name"
    detail_field: str | None = None


@frozen
class PollSpec:
    """What a polling trigger reads (runtime/triggers.py does the rest).

    ``method``/``path``: the request whose records are the changes, paged by ``paging``;
    ``timestamp``: the record's field a change is known by (updated_at, created_at);
    ``topic``: what the records are (an event's topic is ``TOPIC.created`` or
    ``TOPIC.updated``); ``sorted``: the search sorts by ``timestamp`` when asked;
    ``query``: search filters, a record field -> an input key.
    """

    method: str
    path: str
    paging: Paging
    timestamp: str
    topic: str
    sorted: bool = False
    query: Mapping[str, str] = field(default_factory=dict)


@frozen
class TriggerSpec(OperationSpec):
    """What starts a flow: a ``webhook`` delivery or a ``polling`` check (``poll``).

    ``output`` names the schema of an event's ``data`` (the record); the event around it
    is the runtime's, the same for every trigger.
    """

    kind: str = "polling"
    output: str = ""
    poll: PollSpec | None = None


@frozen
class ConnectionSpec:
    """One connection type, as the integration UI configures it."""

    key: str
    label: str
    type_label: str  # what a tab or a list calls this type: "OAuth 2.0", "Access Token"
    description: str
    kind: str
    inputs: tuple[InputSpec, ...]
    oauth2: Mapping[str, str] | None = None

    def input(self, key: str) -> InputSpec:
        return _at(self.inputs, key)


@frozen
class Manifest:
    """The whole loaded manifest."""

    key: str
    label: str
    description: str
    documentation: str | None
    connections: Mapping[str, ConnectionSpec]
    actions: Mapping[str, ActionSpec]
    data_sources: Mapping[str, DataSourceSpec]
    triggers: Mapping[str, TriggerSpec]
    source: str
    #: resource key -> label, in the manifest's order (a palette's groups)
    resources: Mapping[str, str] = field(default_factory=dict)

    def action(self, key: str) -> ActionSpec:
        """The action named ``key``; ManifestError (listing the keys) when there is none."""
        action: ActionSpec = _named(self.actions, key, "action")
        return action

    def trigger(self, key: str) -> TriggerSpec:
        """The trigger named ``key``; ManifestError (listing the keys) when there is none."""
        trigger: TriggerSpec = _named(self.triggers, key, "trigger")
        return trigger

    def data_source(self, key: str) -> DataSourceSpec:
        """The data source named ``key``; ManifestError (listing the keys) when there is none."""
        source: DataSourceSpec = _named(self.data_sources, key, "data source")
        return source

    def output_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema (schemas/objects/NAME.json) of an action's output data."""
        return _object_schemas()[name]


def _named(entries: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return entries[key]
    except (KeyError, TypeError):
        known = ", ".join(sorted(entries))
        raise ManifestError(f"unknown {what} {key!r}; the {what}s are: {known}") from None


def _package_file(*parts: str) -> Path:
    return cache.PACKAGE_ROOT.joinpath(*parts)


def _where(path: Iterator[Any] | list[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


@functools.cache
def _meta_schema() -> dict[str, Any]:
    path = _package_file("schemas", "connector.schema.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _object_schema_names() -> frozenset[str]:
    # what a start needs to check an action's output: that its schema exists, not its text
    return frozenset(path.stem for path in _package_file("schemas", "objects").glob("*.json"))


@functools.cache
def _object_schemas() -> dict[str, dict[str, Any]]:
    folder = _package_file("schemas", "objects")
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def _option(raw: Any) -> Option:
    if isinstance(raw, str):
        return Option(value=raw, label=raw)
    return Option(raw["value"], raw["label"], raw.get("base_url"))


def _resolve_input(
    key: str, entry: Mapping[str, Any], shared: Mapping[str, Mapping[str, Any]], where: str
) -> InputSpec:
    base_key = entry.get("use", key)
    if "use" in entry and base_key not in shared:
        raise ManifestError(f"{where}: 'use' names {base_key!r}, which is not a shared input")
    merged = {**shared.get(base_key, {}), **{k: v for k, v in entry.items() if k != "use"}}
    for needed in ("label", "type"):
        if needed not in merged:
            raise ManifestError(
                f"{where}: {key!r} is not a shared input, so it needs its own {needed!r}"
            )
    options = tuple(_option(o) for o in merged.get("options", ()))
    if merged["type"] == "select" and not options:
        raise ManifestError(f"{where}: a select input needs 'options'")
    spec = InputSpec(
        key=key,
        label=merged["label"],
        type=merged["type"],
        required=merged.get("required", False),
        default=merged.get("default", MISSING),
        comments=" ".join(str(merged.get("comments", "")).split()),
        example=merged.get("example"),
        options=options,
        minimum=merged.get("minimum"),
        maximum=merged.get("maximum"),
        unit=merged.get("unit"),
        data_source=merged.get("data_source"),
        pattern_hint=merged.get("pattern_hint"),
        schema_extra=merged.get("schema", {}),
    )
    if spec.has_default:
        problems = schema_errors(spec.json_schema(), spec.default)
        if problems:
            raise ManifestError(
                f"{where}: the default {spec.default!r} of {key!r} does not fit its type "
                f"{spec.type!r}: {problems[0].message}"
            )
    return spec


def _resolve_inputs(
    entries: Mapping[str, Mapping[str, Any]],
    shared: Mapping[str, Mapping[str, Any]],
    where: str,
) -> tuple[InputSpec, ...]:
    return tuple(
        _resolve_input(key, entry, shared, f"{where}.{key}") for key, entry in entries.items()
    )


def _request(
    raw: Mapping[str, Any] | None, inputs: tuple[InputSpec, ...]
) -> RequestTemplate | None:
    if raw is None:
        return None
    path_inputs = _PLACEHOLDER.findall(raw["path"])
    unique = raw.get("unique_by") or {}
    query = dict(raw.get("query") or {})
    body = raw.get("body")
    if body == "inputs":
        # every value input not sent in the path or the query, under its own key
        taken = {*path_inputs, *query.values(), *PAGING_INPUTS}
        body = {s.key: s.key for s in inputs if s.type != "connection" and s.key not in taken}
    return RequestTemplate(
        method=raw["method"],
        path=raw["path"],
        query=query,
        body=dict(body) if body is not None else None,
        idempotent=raw.get("idempotent"),
        idempotent_if=raw.get("idempotent_if"),
        unique_by=tuple(unique.get("inputs", ())),
        unique_unless=dict(unique.get("unless") or {}),
        unique_read=unique.get("read"),
    )


def _rules(entry: Mapping[str, Any], inputs: tuple[InputSpec, ...], kind: str) -> tuple[Rule, ...]:
    rules = [Rule("at_most_one_of", tuple(group)) for group in entry.get("at_most_one_of", ())]
    if "at_least_one_of" in entry:
        rules.insert(0, Rule("at_least_one_of", tuple(entry["at_least_one_of"])))
    if kind == "list":
        # The runtime's one rule for every list: a page is chosen by Page or by a cursor,
        # and Fetch All reads every page (from the cursor on, when one is given).
        keys = {spec.key for spec in inputs}
        for pair in (("page", "starting_after"), ("fetch_all", "page")):
            if set(pair) <= keys:
                rules.append(Rule("at_most_one_of", pair))
    return tuple(rules)


def _check_operation(
    operation: OperationSpec, where: str, kinds: Mapping[str, Mapping[str, Any]]
) -> None:
    connections = [spec.key for spec in operation.inputs if spec.type == "connection"]
    if connections != ["connection"]:
        raise ManifestError(f"{where}: needs exactly one input 'connection' of type connection")
    keys = {spec.key for spec in operation.inputs}
    for rule in operation.rules:
        unknown = [key for key in rule.inputs if key not in keys]
        if unknown:
            raise ManifestError(f"{where}.{rule.type}: names unknown inputs {unknown}")
    for index, when in enumerate(operation.conditions):
        _check_when(when, operation, f"{where}.when[{index}]")
    for spec in operation.inputs:
        if spec.data_source and spec.data_source not in kinds["data_sources"]:
            raise ManifestError(
                f"{where}.inputs.{spec.key}.data_source: no data source {spec.data_source!r}"
            )
    template = operation.request
    if template is not None:
        used = {*template.path_inputs, *template.query.values(), *(template.body or {}).values()}
        if template.idempotent_if:
            used.add(template.idempotent_if)
        used.update(template.unique_by, template.unique_unless)
        unknown = sorted(used - keys)
        if unknown:
            raise ManifestError(f"{where}.request: names unknown inputs {unknown}")


def _check_when(when: When, operation: OperationSpec, where: str) -> None:
    """A rule across inputs names inputs the operation has, and values they can take."""
    keys = {spec.key for spec in operation.value_inputs}
    unknown = [key for key in when.inputs if key not in keys]
    if unknown:
        raise ManifestError(f"{where}: names unknown inputs {unknown}")
    for key, values in [*when.values.items(), *((k, (v,)) for k, v in when.must_be.items())]:
        options = {option.value for option in operation.input(key).options}
        wrong = [value for value in values if options and value not in options]
        if wrong:
            raise ManifestError(f"{where}: {key} has no option {wrong[0]!r}")


def _check_action(action: ActionSpec, where: str, kinds: Mapping[str, Any]) -> None:
    _check_operation(action, where, kinds)
    if (action.handler is None) == (action.request is None):
        raise ManifestError(f"{where}: needs either a 'handler' or a 'request', not both")
    if action.output not in _object_schema_names():
        raise ManifestError(
            f"{where}.output: no schema schemas/objects/{action.output}.json for {action.output!r}"
        )
    keys = {spec.key for spec in action.inputs}
    paging = action.paging
    if paging is not None and paging.split_by and not _style(paging.style).searches:
        raise ManifestError(f"{where}.paging.split_by: only a search is split into ranges")
    if paging is not None and paging.overflow and not _style(paging.style).overflows:
        raise ManifestError(f"{where}.paging.overflow: only a numbered list goes on elsewhere")
    if action.kind == "list":
        missing = [key for key in ("fetch_all", "per_page", "starting_after") if key not in keys]
        if missing:
            raise ManifestError(f"{where}: a list action needs the paging inputs {missing}")
    elif keys & set(PAGING_INPUTS):
        raise ManifestError(
            f"{where}: paging inputs {sorted(keys & set(PAGING_INPUTS))} need 'kind: list'"
        )


def _check_data_source(
    source: DataSourceSpec,
    where: str,
    kinds: Mapping[str, Any],
    actions: Mapping[str, ActionSpec],
) -> None:
    _check_operation(source, where, kinds)
    if source.source is not None:
        if source.source not in actions:
            raise ManifestError(f"{where}.from: no action {source.source!r}")
        target = {spec.key for spec in actions[source.source].value_inputs}
        unknown = sorted(set(source.source_inputs) - target)
        if unknown:
            raise ManifestError(f"{where}.with: {source.source} has no inputs {unknown}")
    if LIMIT_INPUT not in {spec.key for spec in source.inputs}:
        raise ManifestError(f"{where}: a data source needs the input {LIMIT_INPUT!r}")


def _paging(raw: Mapping[str, Any] | None, where: str) -> Paging | None:
    if not raw:
        return None
    overflow = raw.get("overflow")
    paging = Paging(
        raw["style"],
        raw.get("records", "data"),
        raw.get("split_by"),
        Overflow(overflow["after"], overflow["path"], overflow["applies_to"]) if overflow else None,
    )
    _style(paging.style, f"{where}.paging")
    return paging


def _style(name: str, where: str = "paging") -> Any:
    """The paginator class a paging style's name names (runtime/paging/); ManifestError
    when there is none."""
    # imported when first needed: paging builds on the client, which loading a manifest
    # must not need
    from intercom_connector.runtime.paging import PAGINATORS

    style = PAGINATORS.get(name)
    if style is None:
        raise ManifestError(
            f"{where}.style: {name!r} is not a paging style ({', '.join(PAGINATORS)})"
        )
    return style


def _with_style_inputs(
    entries: Mapping[str, Mapping[str, Any]], paging: Mapping[str, Any] | None, where: str
) -> Mapping[str, Mapping[str, Any]]:
    """A list's input entries with what its paging style says of its paging inputs (the
    per-page maximum, the shape of Starting After) under the entry's own overrides."""
    if not paging:
        return entries
    facts = _style(paging["style"], f"{where}.paging").inputs
    return {key: {**facts.get(key, {}), **entry} for key, entry in entries.items()}


def _poll(raw: Mapping[str, Any] | None, where: str) -> PollSpec | None:
    if raw is None:
        return None
    paging = _paging(raw["paging"], f"{where}.poll")
    assert paging is not None
    return PollSpec(
        method=raw["request"]["method"],
        path=raw["request"]["path"],
        paging=paging,
        timestamp=raw["field"],
        topic=raw["topic"],
        sorted=raw.get("sorted", False),
        query=dict(raw.get("query") or {}),
    )


def _check_trigger(trigger: TriggerSpec, where: str, kinds: Mapping[str, Any]) -> None:
    _check_operation(trigger, where, kinds)
    if trigger.output not in _object_schemas():
        raise ManifestError(
            f"{where}.output: no schema schemas/objects/{trigger.output}.json "
            f"for {trigger.output!r}"
        )
    keys = {spec.key for spec in trigger.inputs}
    needed = POLL_INPUTS if trigger.kind == "polling" else WEBHOOK_INPUTS
    missing = [key for key in needed if key not in keys]
    if missing:
        raise ManifestError(f"{where}: a {trigger.kind} trigger needs the inputs {missing}")
    poll = trigger.poll
    if poll is None:
        return
    search = _style(poll.paging.style).searches
    if (poll.query or poll.sorted) and not search:
        raise ManifestError(f"{where}.poll: query and sorted need a search (paging style search)")
    if search != (poll.method == "POST"):
        raise ManifestError(f"{where}.poll: a search is a POST, any other listing a GET")
    unknown = sorted(set(poll.query.values()) - keys)
    if unknown:
        raise ManifestError(f"{where}.poll.query: names unknown inputs {unknown}")


def parse_manifest(text: str, source: str = "connector.yaml") -> Manifest:
    """Validate and resolve a manifest given as YAML text."""
    return _resolve(_validated(text, source), source)


def _validated(text: str, source: str) -> Any:
    """The manifest's YAML as data, checked against schemas/connector.schema.json."""
    import jsonschema
    import yaml

    from intercom_connector.runtime.yaml_text import FAST_LOADER, load_yaml

    try:
        raw = load_yaml(text, FAST_LOADER)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from None
    errors = sorted(
        jsonschema.Draft202012Validator(_meta_schema()).iter_errors(raw),
        key=lambda error: list(error.absolute_path),
    )
    if errors:
        lines = "\n".join(f"  - at {_where(list(e.absolute_path))}: {e.message}" for e in errors)
        raise ManifestError(f"{source} does not match schemas/connector.schema.json:\n{lines}")
    return raw


class _Built(Mapping[str, Any]):
    """Entries of the manifest built into specs on first use (a start that runs one action
    builds that one); the data was checked whole when it was cached (``load_manifest``)."""

    __slots__ = ("_build", "_built", "_raw")

    def __init__(self, raw: Mapping[str, Any], build: Callable[[str, Any], Any]) -> None:
        self._raw = raw
        self._build = build
        self._built: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        try:
            return self._built[key]
        except KeyError:
            entry = self._raw[key]  # KeyError for an unknown key, as a dict's
        spec = self._built[key] = self._build(key, entry)  # two threads: the same spec twice
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _resolve(raw: Any, source: str, *, check: bool = True) -> Manifest:
    """The checked manifest data resolved: shared inputs merged, every entry checked.

    ``check=False``: data that was resolved and checked whole before (the cache of
    ``load_manifest``); each entry is built when first used.
    """
    for key, entry in raw["inputs"].items():
        if entry.get("use"):
            raise ManifestError(f"{source}: inputs.{key}: a shared input cannot 'use' another")
    resources = {key: entry["label"] for key, entry in (raw.get("resources") or {}).items()}
    kinds = {
        "actions": raw["actions"],
        "data_sources": raw.get("data_sources") or {},
        "triggers": raw.get("triggers") or {},
    }

    def common(kind: str, key: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        where = f"{source}: {kind}.{key}"
        entries = _with_style_inputs(entry["inputs"], entry.get("paging"), where)
        inputs = _resolve_inputs(entries, raw["inputs"], f"{where}.inputs")
        resource = entry.get("resource")
        if resource is not None and resource not in resources:
            known = ", ".join(resources) or "none declared"
            raise ManifestError(
                f"{source}: {kind}.{key}.resource: {resource!r} is not in resources ({known})"
            )
        return {
            "key": key,
            "label": entry["label"],
            "description": entry["description"],
            "inputs": inputs,
            "handler": entry.get("handler"),
            "request": _request(entry.get("request"), inputs),
            "rules": _rules(entry, inputs, entry.get("kind", "request")),
            "resource": resource,
            "conditions": tuple(When.parse(rule) for rule in entry.get("when", ())),
        }

    def action(key: str, entry: Mapping[str, Any]) -> ActionSpec:
        return ActionSpec(
            **common("actions", key, entry),
            kind=entry["kind"],
            effect=entry["effect"],
            output=entry["output"],
            paging=_paging(entry.get("paging"), f"{source}: actions.{key}"),
        )

    def data_source(key: str, entry: Mapping[str, Any]) -> DataSourceSpec:
        result = entry["result"]
        return DataSourceSpec(
            **common("data_sources", key, entry),
            source=entry.get("from"),
            source_inputs=dict(entry.get("with") or {}),
            paging=_paging(entry.get("paging"), f"{source}: data_sources.{key}"),
            key_field=result["key"],
            label_field=result["label"],
            detail_field=result.get("detail"),
        )

    def trigger(key: str, entry: Mapping[str, Any]) -> TriggerSpec:
        return TriggerSpec(
            **common("triggers", key, entry),
            kind=entry["kind"],
            output=entry["output"],
            poll=_poll(entry.get("poll"), f"{source}: triggers.{key}"),
        )

    actions: Mapping[str, ActionSpec]
    data_sources: Mapping[str, DataSourceSpec]
    triggers: Mapping[str, TriggerSpec]
    if check:
        actions = {key: action(key, entry) for key, entry in kinds["actions"].items()}
        for key, spec in actions.items():
            _check_action(spec, f"{source}: actions.{key}", kinds)
        data_sources = {key: data_source(key, e) for key, e in kinds["data_sources"].items()}
        for key, source_spec in data_sources.items():
            _check_data_source(source_spec, f"{source}: data_sources.{key}", kinds, actions)
        triggers = {key: trigger(key, entry) for key, entry in kinds["triggers"].items()}
        for key, trigger_spec in triggers.items():
            _check_trigger(trigger_spec, f"{source}: triggers.{key}", kinds)
    else:
        actions = _Built(kinds["actions"], action)
        data_sources = _Built(kinds["data_sources"], data_source)
        triggers = _Built(kinds["triggers"], trigger)
    connections = {
        key: ConnectionSpec(
            key=key,
            label=entry["label"],
            type_label=entry["type_label"],
            description=entry["description"],
            kind=entry["kind"],
            inputs=_resolve_inputs(
                entry["inputs"], raw["connection_inputs"], f"{source}: connections.{key}.inputs"
            ),
            oauth2=entry.get("oauth2"),
        )
        for key, entry in raw["connections"].items()
    }
    return Manifest(
        key=raw["key"],
        label=raw["label"],
        description=raw["description"],
        documentation=raw.get("documentation"),
        connections=connections,
        actions=actions,
        data_sources=data_sources,
        triggers=triggers,
        source=source,
        resources=resources,
    )


@functools.cache
def load_manifest() -> Manifest:
    """The packaged connector.yaml, loaded and validated once per process.

    Its YAML, once checked against the meta-schema and every entry built and checked, is
    kept by content hash (runtime/cache.py): a start reads that instead of importing PyYAML
    and jsonschema, and builds each action, data source or trigger when first used.
    """
    text = _package_file("connector.yaml").read_bytes()
    sources = [text, _package_file("schemas", "connector.schema.json").read_bytes()]
    sources.append(Path(__file__).read_bytes())  # the code that checks it
    sources.append("\n".join(sorted(_object_schema_names())).encode())  # outputs it names

    def checked() -> Any:
        raw = _validated(text.decode("utf-8"), "connector.yaml")
        _resolve(raw, "connector.yaml")  # built and checked whole: only checked data is kept
        return raw

    raw = cache.remembered("manifest", sources, checked)
    return _resolve(raw, "connector.yaml", check=False)


def resolve_handler(operation: OperationSpec) -> Callable[..., Any] | None:
    """The handler function an operation binds to (``module.function`` under actions/),
    or None for one declared as a request."""
    if operation.handler is None:
        return None
    module_name, _, function_name = operation.handler.partition(".")
    module = importlib.import_module(f"{PACKAGE}.actions.{module_name}")
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise ManifestError(
            f"connector.yaml: {operation.key}.handler: {operation.handler!r} is not a function "
            f"in actions/{module_name}.py"
        )
    return handler  # type: ignore[no-any-return]


def manifest_problems(text: str, source: str = "connector.yaml") -> list[str]:
    """Every problem of a manifest given as YAML text, not only the first (what
    ``intercom-connector check`` prints): its meta-schema errors, else each entry's own, so
    that one broken action does not hide the next."""
    try:
        raw = _validated(text, source)
        manifest = _resolve(raw, source, check=False)
    except ManifestError as error:
        head, *lines = str(error).splitlines()
        return [f"{head.rstrip(':')}: {line.strip(' -')}" for line in lines] or [head]
    kinds = {
        "actions": raw["actions"],
        "data_sources": raw.get("data_sources") or {},
        "triggers": raw.get("triggers") or {},
    }
    problems = []
    checks: list[tuple[str, Mapping[str, Any], Callable[[Any, str], None]]] = [
        ("actions", manifest.actions, lambda spec, where: _check_action(spec, where, kinds)),
        (
            "data_sources",
            manifest.data_sources,
            lambda spec, where: _check_data_source(spec, where, kinds, manifest.actions),
        ),
        ("triggers", manifest.triggers, lambda spec, where: _check_trigger(spec, where, kinds)),
    ]
    for kind, entries, check in checks:
        for key in entries:
            try:
                check(entries[key], f"{source}: {kind}.{key}")
            except ManifestError as error:
                problems.append(str(error))
    return problems
