"""A start that does only what its command needs, from a manifest cache that is never stale.

How long a start takes is measured in bench/ (cold start); here: that the quick schema check
decides exactly as jsonschema does, that the cached manifest is the manifest, that a
changed file is never answered from an old entry, and that ``run`` loads none of what it
does not use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import REPO, TOKEN, LoopbackIntercom, Recorder

from intercom_connector.runtime import cache
from intercom_connector.runtime.manifest import load_manifest, parse_manifest
from intercom_connector.runtime.quick_schema import fits

MANIFEST = load_manifest()


def every_schema() -> list[tuple[str, dict[str, Any]]]:
    """Each input's schema and each operation's whole input schema, as validation uses them
    (each different schema once)."""
    found: list[tuple[str, dict[str, Any]]] = []
    operations = [*MANIFEST.actions.values(), *MANIFEST.data_sources.values()]
    for operation in operations:
        found.append((operation.key, operation.input_schema))
        found += [(f"{operation.key}.{s.key}", s.json_schema()) for s in operation.value_inputs]
    for connection in MANIFEST.connections.values():
        found += [(f"{connection.key}.{s.key}", s.json_schema()) for s in connection.inputs]
    unique = {json.dumps(schema, sort_keys=True): (name, schema) for name, schema in found}
    return list(unique.values())


SCHEMAS = every_schema()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "us", "eu", "GET", "json", "1", "0", "15", "abc", "desc", "user"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["key", "value", "a", "role", "page"]), inner, max_size=3),
    ),
    max_leaves=6,
)


def candidates(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values near what ``schema`` accepts (its own properties filled), and anything else."""
    properties = schema.get("properties")
    if not properties:
        return values
    filled = st.fixed_dictionaries({}, optional={key: values for key in properties})
    return st.one_of(filled, values)


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[name for name, _ in SCHEMAS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_quick_check_decides_as_jsonschema_does(
    name: str, schema: dict[str, Any], data: st.DataObject
) -> None:
    value = data.draw(candidates(schema))
    quick = fits(schema, value)
    if quick is not None:
        assert quick == jsonschema.Draft202012Validator(schema).is_valid(value), (name, value)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "number", "minimum": 1}, float("nan")),  # never below a minimum
        ({"type": "number", "maximum": 1}, float("inf")),
        ({"type": "integer"}, 1.0),  # an integer in Draft 2020-12
        ({"type": "integer"}, True),  # a boolean is not
        ({"type": "number"}, False),
        ({"type": "string", "minLength": 1}, "ü"),
        ({"type": "string", "minLength": 1}, ""),
        ({"pattern": "^[1-9][0-9]*$"}, 12),  # a pattern only constrains text
        ({"pattern": "^[1-9][0-9]*$"}, "012"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, {"a": 1}),
        ({"type": "array", "items": {"type": "string"}}, ["a", None]),
        ({"properties": {"a": {"type": "string"}}, "required": ["a"]}, {}),
        ({"enum": ["asc", "desc"]}, "ASC"),
        # what the manifest's rules across inputs compile to (runtime/input_rules.py)
        ({"const": True}, 1),  # a boolean is not a number
        ({"const": "desc"}, "desc"),
        ({"minItems": 2}, ["a"]),
        ({"not": {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}, {"b": 1}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {}),
        ({"then": {"required": ["b"]}}, {}),  # without "if", "then" is ignored
        ({"allOf": [{"if": {"required": ["a"]}, "else": {"required": ["c"]}}]}, {"b": 1}),
    ],
)
def test_the_quick_check_agrees_on_the_edges(schema: dict[str, Any], value: Any) -> None:
    assert fits(schema, value) == jsonschema.Draft202012Validator(schema).is_valid(value)


def test_the_quick_check_leaves_what_it_does_not_know_to_jsonschema() -> None:
    assert fits({"type": "string", "format": "email"}, "x") is None  # another keyword
    assert fits({"enum": [1, 2]}, True) is None  # enum of numbers: jsonschema's equality
    assert fits({"type": "string"}, b"bytes") is None  # not JSON data
    # "items" after "prefixItems" holds for the rest only; oneOf, a const of a number and
    # references are jsonschema's (allOf, anyOf, not, if/then/else and a const of text or a
    # boolean are decided here: a rule across inputs compiles to them)
    assert fits({"prefixItems": [{"type": "integer"}], "items": {"type": "string"}}, [1]) is None
    for keyword, sub in [
        ("oneOf", [{"type": "string"}]),
        ("anyOf", []),
        ("const", 1),
        ("propertyNames", {"pattern": "^x"}),
        ("$ref", "#/$defs/x"),
    ]:
        assert fits({keyword: sub}, "x") is None, keyword


def test_the_cached_manifest_is_the_manifest() -> None:
    text = (REPO / "connector.yaml").read_text(encoding="utf-8")
    assert load_manifest() == parse_manifest(text)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, bool]]:
    places = [(tmp_path / "beside-the-code", False), (tmp_path / "user", True)]
    monkeypatch.setattr(cache, "folders", lambda: places)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return places


def test_a_changed_source_is_never_answered_from_an_old_entry(
    folders: list[tuple[Path, bool]],
) -> None:
    builds: list[bytes] = []

    def build(text: bytes) -> Any:
        builds.append(text)
        return {"label": text.decode()}

    assert cache.remembered("m", [b"one"], lambda: build(b"one")) == {"label": "one"}
    assert cache.remembered("m", [b"one"], lambda: build(b"one")) == {"label": "one"}
    assert cache.remembered("m", [b"two"], lambda: build(b"two")) == {"label": "two"}
    assert cache.remembered("m", [b"one", b""], lambda: build(b"one+")) == {"label": "one+"}
    assert builds == [b"one", b"two", b"one+"]  # the second call was the only one remembered


def test_an_entry_cut_short_is_built_again(folders: list[tuple[Path, bool]]) -> None:
    cache.remembered("m", [b"x"], lambda: {"n": 1})
    (entry,) = folders[0][0].glob("m-*.json")
    entry.write_bytes(entry.read_bytes()[:5])
    assert cache.remembered("m", [b"x"], lambda: {"n": 2}) == {"n": 2}


def test_what_json_cannot_carry_exactly_is_not_kept(folders: list[tuple[Path, bool]]) -> None:
    cache.remembered("m", [b"x"], lambda: {1: "a number key"})
    assert not list(folders[0][0].glob("m-*.json"))


def test_the_user_folder_is_private_and_read_only_when_it_stays_so(
    folders: list[tuple[Path, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # nothing beside the code, then
    cache.remembered("m", [b"x"], lambda: {"n": 1})
    user = folders[1][0]
    (entry,) = user.glob("m-*.json")
    assert not folders[0][0].exists() or not any(folders[0][0].iterdir())
    assert user.stat().st_mode & 0o777 == 0o700
    assert cache.remembered("m", [b"x"], lambda: {"n": 2}) == {"n": 1}
    entry.chmod(0o666)  # anyone may have changed it: not trusted
    assert cache.remembered("m", [b"x"], lambda: {"n": 3}) == {"n": 3}


#: what a command that runs a request action never loads, and what each would cost it
NOT_FOR_A_RUN = {
    "yaml": "a connection file's reader",
    "jsonschema": "the full schema check (the quick one decides a run's inputs)",
    "authlib": "OAuth login",
    "intercom_connector.hosts.login": "the login commands",
    "intercom_connector.runtime.paging": "the paginators (list actions, data sources)",
    "asyncio": "an event loop (Temporal, the servers)",
    "temporalio": "the Temporal SDK (--temporal)",
    "uvicorn": "the HTTP servers (mcp --http, ui, trigger serve)",
    "starlette": "the HTTP servers",
    "mcp": "the MCP SDK",
    "selenium": "a test tool",
    # httpcore imports trio whenever it is installed (selenium brings it): the CLI's own
    # process marks it absent (hosts/cli.py main)
    "trio": "trio's event loop, about 50 ms",
}


#: the console script's start (hosts/cli.py main, reading sys.argv), telling at its exit
#: which modules it loaded, and which of the package's classes compiled a dataclass's
#: methods at import (runtime/frozen.py's records compile none)
LOADED_AT_EXIT = """
import atexit, dataclasses, json, sys
def loaded():
    ours = [m for n, m in list(sys.modules.items()) if m and n.startswith("intercom_connector.")]
    compiled = [f"{kind.__module__}.{kind.__name__}" for module in ours
                for kind in vars(module).values()
                if dataclasses.is_dataclass(kind) and kind.__module__ == module.__name__
                and kind.__init__.__code__.co_filename == "<string>"]
    modules = [name for name, module in sys.modules.items() if module]
    print(json.dumps({"modules": modules, "compiled": compiled}), file=sys.stderr)
atexit.register(loaded)
from intercom_connector.hosts.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize(
    ("command", "needed", "records_all_frozen"),
    [
        (["run", "get_contact", "-i", "contact_id=abc"], set(), True),
        # the whole parser (every command's options, the login commands among them); a
        # flow is YAML, checked against the whole manifest (its paging styles too)
        (
            ["flow", "run", "one-contact.yaml"],
            {"yaml", "intercom_connector.hosts.login", "intercom_connector.runtime.paging"},
            False,  # (the flow, trigger and service records are dataclasses still)
        ),
    ],
    ids=["run", "flow-run"],
)
def test_a_command_loads_only_what_it_needs(
    command: list[str],
    needed: set[str],
    records_all_frozen: bool,
    recorder: Recorder,
    loopback: LoopbackIntercom,
    tmp_path: Path,
) -> None:
    assert importlib.util.find_spec("trio") is not None, "the test extras install trio"
    recorder.on("GET", "/contacts/abc", {"type": "contact", "id": "abc"})
    flow = "steps:\n  - {id: contact, action: get_contact, inputs: {contact_id: abc}}\n"
    (tmp_path / "one-contact.yaml").write_text(flow, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env.update({"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url})
    started = [sys.executable, "-c", LOADED_AT_EXIT, *command]
    for _ in range(2):  # the first start may build the cache; the second reads it
        done = subprocess.run(started, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0 and '"id": "abc"' in done.stdout, done.stderr
    report = json.loads(done.stderr.splitlines()[-1])
    loaded = set(report["modules"]) - needed
    assert {k: v for k, v in NOT_FOR_A_RUN.items() if k in loaded} == {}
    # (the request went through httpx's transport, which would have loaded trio)
    assert {"intercom_connector.runtime.manifest", "httpcore"} <= loaded
    if records_all_frozen:
        assert report["compiled"] == []  # about 0.6 ms a class, at every start


def test_a_caller_of_main_keeps_its_trio() -> None:
    """Only the command's own process (``main()`` reading sys.argv) marks trio absent."""
    code = """
import contextlib, io, sys
from intercom_connector.hosts.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["data-sources", "--json"])
import trio
print(trio.__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.stdout.split() == ["trio"], done.stderr


def test_what_the_cli_freezes_at_start_up_leaves_fetch_all_its_own_freezing() -> None:
    """The CLI keeps the collector off what it imported; a Fetch All then still sets each
    page's records aside as they arrive (the collector would rescan them), and gives
    everything back at the end."""
    code = """
import gc
from intercom_connector.runtime.listing import RecordStream, freeze_start_up
freeze_start_up()
at_start = gc.get_freeze_count()
seen = []
def pages():
    for n in range(3):
        seen.append(gc.get_freeze_count())
        yield {"data": [{"id": f"{n}-{i}"} for i in range(1000)]}
envelope = RecordStream(pages()).envelope()
print(at_start > 0, seen[2] > seen[1] > seen[0] > 0, gc.get_freeze_count(), len(envelope["data"]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.stdout.split() == ["True", "True", "0", "3000"], done.stderr
