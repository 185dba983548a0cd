"""Rules across inputs are declared in the manifest, not refused in handlers.

The manifest's ``when:`` rules are checked by the shim (one line per input, by label),
compiled into the input JSON Schema as ``if``/``then`` (the same verdict, for any host that
validates with JSON Schema), checked by the meta-schema, and exported for the designer and
MCP clients. A handler that refuses a combination of inputs fails the scan below.
"""

from __future__ import annotations

import ast
import itertools
import json
from typing import Any

import jsonschema
import pytest
from support import REPO, TOKEN, Recorder

from intercom_connector import Connector
from intercom_connector.hosts.docs import manifest_json
from intercom_connector.hosts.mcp import description
from intercom_connector.runtime.errors import InputValidationError, ManifestError
from intercom_connector.runtime.manifest import load_manifest, parse_manifest
from intercom_connector.runtime.quick_schema import fits

MANIFEST = load_manifest()
RULED = [op for op in MANIFEST.actions.values() if op.conditions]
TEXT = (REPO / "connector.yaml").read_text(encoding="utf-8")


# -- no handler refuses a combination of inputs -------------------------------------------


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def combination_refusals(tree: ast.AST, source: str) -> list[str]:
    """The raises in ``tree``'s functions that depend on two or more of the function's
    parameters (the inputs), through its conditions or the values built from them; a raise
    whose lines say ``not declarable`` (and why) is one the manifest could not say."""
    lines = source.splitlines()
    found = []
    for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        found += _refusals_of(function, lines)
    return found


def _refusals_of(function: ast.FunctionDef, lines: list[str]) -> list[str]:
    params = {a.arg for a in function.args.args + function.args.kwonlyargs} - {"client"}
    taint: dict[str, set[str]] = {name: {name} for name in params}
    found = []

    def inputs_of(node: ast.AST) -> set[str]:
        return {p for name in _names(node) for p in taint.get(name, set())}

    def visit(node: ast.AST, conditions: list[ast.AST]) -> None:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in _names(target):
                    taint[name] = taint.get(name, set()) | inputs_of(node.value or target)
        if isinstance(node, ast.For | ast.comprehension):
            for name in _names(node.target):
                taint[name] = taint.get(name, set()) | inputs_of(node.iter)
        if isinstance(node, ast.Raise) and node.exc is not None:
            depends = set().union(*(inputs_of(c) for c in conditions), inputs_of(node.exc))
            text = " ".join(lines[node.lineno - 3 : node.lineno + 1])
            if len(depends) >= 2 and "not declarable" not in text:
                found.append(f"{function.name}:{node.lineno} on {sorted(depends)}")
        inner = [*conditions, node.test] if isinstance(node, ast.If | ast.While) else conditions
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    for statement in function.body:
        visit(statement, [])
    return found


def test_no_handler_refuses_a_combination_of_inputs() -> None:
    found = []
    for path in sorted((REPO / "actions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        found += [
            f"actions/{path.name} {hit}" for hit in combination_refusals(ast.parse(source), source)
        ]
    assert not found, (
        "a handler refuses a combination of inputs: declare it in connector.yaml (when:) "
        "so forms, MCP and the docs show it: " + "; ".join(found)
    )


@pytest.mark.parametrize(
    "code",
    [
        # a refusal of one input that depends on another
        "def f(client, *, a, b):\n    if a == 'x' and b is None:\n        raise E('b')",
        "def f(client, *, a, b):\n    if a == 'x':\n"
        "        if b is None:\n            raise E('b')",
        # through a value built from the inputs
        "def f(client, *, kind, body, subject):\n    values = {'body': body, 'subject': subject}\n"
        "    for key, value in values.items():\n"
        "        if value is not None and key not in TAKES[kind]:\n            raise E(key)",
    ],
)
def test_the_scan_sees_a_combination_refused(code: str) -> None:
    assert combination_refusals(ast.parse(code), code)


def test_the_scan_leaves_a_refusal_of_one_input() -> None:
    code = "def f(client, *, url):\n    target = parse(url)\n"
    code += "    if not target:\n        raise E('url')"
    assert not combination_refusals(ast.parse(code), code)


# -- the shim's check and the compiled schema agree ----------------------------------------


def samples(operation: Any) -> list[dict[str, Any]]:
    """Every combination of: each input a rule names absent or given (its options, a text,
    true for a boolean), the others left as validation leaves them (their defaults)."""
    choices = []
    keys = []
    for key in dict.fromkeys(k for rule in operation.conditions for k in rule.inputs):
        spec = operation.input(key)
        keys.append(key)
        if spec.options:
            values: list[Any] = [o.value for o in spec.options]
        elif spec.type == "boolean":
            values = [True, False]
        elif spec.type in ("value_list", "key_value_list", "code"):
            values = [["v1", "v2"]] if spec.type == "value_list" else [{"k": "v"}]
        else:
            values = ["last" if key == "conversation_id" else "x"]
        if not spec.has_default:
            values.append(None)
        choices.append(values)
    found = []
    for combination in itertools.islice(itertools.product(*choices), 4096):
        found.append({k: v for k, v in zip(keys, combination, strict=True) if v is not None})
    return found


@pytest.mark.parametrize("operation", RULED, ids=lambda op: op.key)
def test_the_input_schema_refuses_what_the_rules_refuse(operation: Any) -> None:
    schema = operation.input_schema
    rules_only = {"allOf": schema["allOf"]}
    validator = jsonschema.Draft202012Validator(rules_only)
    defaults = {s.key: s.default for s in operation.value_inputs if s.has_default}
    checked = 0
    for sample in samples(operation):
        values = {**defaults, **sample}
        broken = [p for rule in operation.conditions for p in rule.problems(values, lambda k: k)]
        assert validator.is_valid(values) == (not broken), (values, broken)
        assert fits(rules_only, values) in (None, not broken), values  # the quick check too
        checked += 1
    assert checked > 1


# -- what a user sees --------------------------------------------------------------------


@pytest.fixture
def connector(recorder: Recorder) -> Connector:
    import httpx

    return Connector({"type": "access_token", "access_token": TOKEN},
                     transport=httpx.MockTransport(recorder))  # fmt: skip


@pytest.mark.parametrize(
    ("action", "inputs", "expected"),
    [
        ("send_message", {"message_type": "email", "body": "Hi"},
         "Subject (subject): is required when Message Type is email"),
        ("send_message", {"message_type": "whatsapp"},
         "WhatsApp Template (whatsapp_template): is required when Message Type is whatsapp"),
        ("send_message", {"message_type": "in_app", "body": "Hi", "subject": "S"},
         "Subject (subject): is not sent when Message Type is in_app"),
        ("list_companies", {"tag_id": "7", "order": "asc"},
         "Order (order): must be desc when Tag ID is given: only the unfiltered list is sorted"),
        ("create_data_attribute", {"name": "n", "model": "contact", "data_type": "string",
                                   "options": ["a", "b"]},
         "Options (options): is not sent when Data Type is string"),
        ("create_data_attribute", {"name": "n", "model": "contact", "data_type": "options"},
         "Options (options): is required when Data Type is options"),
        ("raw_request", {"url": "/x", "method": "POST", "file_data_file_names": {"a": "b"}},
         "File Data (file_data): is required when File Data File Names is given"),
        ("update_ticket", {"ticket_id": "1", "unassign": True},
         "Admin ID (admin_id): is required when Unassign is given"),
    ],
)  # fmt: skip
def test_a_broken_rule_is_one_line_by_label_and_nothing_is_sent(
    connector: Connector, recorder: Recorder, action: str, inputs: dict[str, Any], expected: str
) -> None:
    base = {"admin_id": "991267001", "contact_id": "6657a1b2c3d4e5f6a7b8c9d0"}
    base = {k: v for k, v in base.items() if action == "send_message"}
    with pytest.raises(InputValidationError) as caught:
        connector.invoke(action, {**base, **inputs})
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"  - {expected}"), lines
    assert recorder.requests == []


def test_the_export_and_mcp_show_the_rules() -> None:
    exported = {a["key"]: a for a in manifest_json(MANIFEST)["actions"]}
    rules = [r for r in exported["send_message"]["rules"] if r["type"] == "when"]
    assert rules[1] == {
        "type": "when",
        "inputs": ["message_type", "subject", "body", "whatsapp_template", "whatsapp_components"],
        "if": {"message_type": ["email"]},
        "require": ["subject", "body"],
        "forbid": ["whatsapp_template", "whatsapp_components"],
        "text": "When Message Type is email: Subject and Body are required; WhatsApp Template "
        "or WhatsApp Template Components are not sent.",
    }
    assert exported["send_message"]["input_schema"]["allOf"][1]["then"]["allOf"][0] == {
        "required": ["subject"]
    }
    text = json.dumps(exported["list_companies"]["rules"])
    assert "When Name, Company ID, Tag ID or Segment ID is given: Order must be desc" in text
    told = description(MANIFEST.action("reply_to_conversation"), (), 1000)
    assert "When Reply As is admin: Admin ID is required (Intercom records who replied)." in told


def test_the_meta_schema_and_the_loader_check_a_rule() -> None:
    first = "    when:\n      - if: {message_type: in_app}\n"
    assert TEXT.count(first) == 1
    for bad, message in [
        ("      - if: {message_type: email}\n", "when"),  # no effect
        ("      - require: [subject]\n", "when"),  # no condition
        ("      - if: {message_type: fax}\n        require: [subject]\n",
         "message_type has no option 'fax'"),
        ("      - if: {message_type: email}\n        require: [subjekt]\n",
         "names unknown inputs \\['subjekt'\\]"),
    ]:  # fmt: skip
        text = TEXT.replace(first, "    when:\n" + bad + first.split("\n", 1)[1], 1)
        with pytest.raises(ManifestError, match=message):
            parse_manifest(text)
