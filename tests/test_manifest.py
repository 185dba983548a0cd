"""connector.yaml: complete, strict, true to the seed page, and in agreement with the code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any

import jsonschema
import pytest
import yaml
from support import REPO, SEED_PATH

import intercom_connector.actions
from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.manifest import (
    LIMIT_INPUT,
    ActionSpec,
    load_manifest,
    parse_manifest,
    resolve_handler,
)

MANIFEST = load_manifest()
ACTIONS = list(MANIFEST.actions.values())

#: the stable action keys (docs/development.md): the seed page's actions
DESIGN_KEYS = [
    "archive_contact",
    "attach_company_to_contact",
    "attach_tag_to_contact",
    "create_company",
    "create_contact",
    "create_tag",
    "create_ticket",
    "delete_company",
    "delete_contact",
    "delete_tag",
    "detach_company_from_contact",
    "detach_tag_from_contact",
    "get_company",
    "get_contact",
    "list_companies",
    "list_contacts",
    "list_tags",
    "list_ticket_types",
    "raw_request",
    "get_ticket",
    "search_contacts",
    "unarchive_contact",
    "update_company",
    "update_contact",
    "update_tag",
]

#: where connector.yaml departs from the seed page on purpose, and why
DEVIATIONS = {
    ("list_contacts", "per_page"): "Intercom lists up to 150 contacts a page; the seed copied 50",
    ("update_company", "name"): "the seed's 'Name of the contact' is a copy error",
    ("update_contact", "unsubscribed_from_emails"): "a default false would re-subscribe contacts",
    ("list_companies", "per_page"): "the seed's 'Default is 15' is the manifest's default",
}
#: inputs beyond the seed page (custom attributes; paging on search)
EXTRAS = {
    ("create_contact", "custom_attributes"),
    ("update_contact", "custom_attributes"),
    ("create_company", "custom_attributes"),
    ("update_company", "custom_attributes"),
    ("search_contacts", "per_page"),
    ("search_contacts", "fetch_all"),
}


def by_id(action: Any) -> str:
    return str(action.key)


SEED_ACTIONS = [MANIFEST.action(key) for key in DESIGN_KEYS]


def test_every_design_action_exists() -> None:
    assert set(DESIGN_KEYS) <= set(MANIFEST.actions)


def test_both_connection_types_with_region_version_and_base_url() -> None:
    assert sorted(MANIFEST.connections) == ["access_token", "oauth2"]
    for connection in MANIFEST.connections.values():
        specs = {spec.key: spec for spec in connection.inputs}
        shared = ["region", "api_version", "base_url", "max_attempts", "max_retry_seconds"]
        assert list(specs)[-5:] == shared
        region = specs["region"]
        assert (region.default, [o.value for o in region.options]) == ("us", ["us", "eu", "au"])
        assert specs["api_version"].default == "2.16"
        assert (specs["max_attempts"].default, specs["max_attempts"].maximum) == (4, 10)
    oauth = MANIFEST.connections["oauth2"]
    assert [s.label for s in oauth.inputs[:2]] == ["Client ID", "Client Secret"]
    assert oauth.inputs[1].type == "password"
    assert MANIFEST.connections["access_token"].inputs[0].type == "password"


OPERATIONS = [*ACTIONS, *MANIFEST.data_sources.values()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=by_id)
def test_handler_parameters_are_exactly_the_inputs(operation: Any) -> None:
    handler = resolve_handler(operation)
    if handler is None:
        return  # a declared request or a data source from an action: checked below
    assert handler.__name__ == operation.key
    parameters = list(inspect.signature(handler).parameters.values())
    assert parameters[0].name == "client"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])
    assert all(p.default is inspect.Parameter.empty for p in parameters[1:])
    own = getattr(operation, "handler_inputs", operation.value_inputs)
    expected = [spec.key for spec in own if spec.key != LIMIT_INPUT]
    assert [p.name for p in parameters[1:]] == expected


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.request], ids=by_id)
def test_a_declared_request_sends_every_input(action: ActionSpec) -> None:
    template = action.request
    assert template is not None
    used = {*template.path_inputs, *template.query.values(), *(template.body or {}).values()}
    assert used == {spec.key for spec in action.handler_inputs}


def test_every_handler_is_declared() -> None:
    declared = {operation.handler for operation in OPERATIONS if operation.handler}
    found = set()
    for module_info in pkgutil.iter_modules(intercom_connector.actions.__path__):
        module = importlib.import_module(f"intercom_connector.actions.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            if list(inspect.signature(function).parameters)[:1] == ["client"]:
                found.add(f"{module_info.name}.{name}")
    assert found == declared


@pytest.mark.parametrize("action", ACTIONS, ids=by_id)
def test_inputs_are_described_for_a_person(action: ActionSpec) -> None:
    assert action.label and action.description
    for spec in action.value_inputs:
        assert spec.label and spec.comments, spec.key
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.key)


@pytest.mark.parametrize("action", ACTIONS, ids=by_id)
def test_defaults_are_valid_for_their_input(action: ActionSpec) -> None:
    for spec in action.value_inputs:
        if spec.has_default:
            jsonschema.validate(spec.default, spec.json_schema())
            assert not isinstance(spec.default, str) or spec.type in ("select", "string")


@pytest.mark.parametrize("action", ACTIONS, ids=by_id)
def test_output_schema_is_a_valid_schema(action: ActionSpec) -> None:
    schema = MANIFEST.output_schema(action.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"


def test_widget_types_a_flow_builder_can_render() -> None:
    types = {
        (action.key, spec.key): spec.type for action in ACTIONS for spec in action.value_inputs
    }
    assert types["raw_request", "method"] == "select"
    assert types["raw_request", "response_type"] == "select"
    assert types["list_contacts", "order"] == "select"
    assert types["create_contact", "role"] == "select"
    for key in ("query_params", "headers", "form_data"):
        assert types["raw_request", key] == "key_value_list"
    for action_key, key in [
        ("raw_request", "data"),
        ("search_contacts", "json_query"),
        ("create_ticket", "ticket_attributes"),
    ]:
        assert types[action_key, key] == "code"
    for key in ("retry_on_all_errors", "use_exponential_backoff"):
        assert types["raw_request", key] == "boolean"
    assert types["list_companies", "fetch_all"] == "boolean"
    for action_key, key, bounded_above in [
        ("list_companies", "page", False),
        ("create_company", "size", False),
        ("list_companies", "per_page", True),
        ("raw_request", "max_retry_count", True),
        ("raw_request", "retry_delay_ms", True),
        ("raw_request", "timeout", True),
    ]:
        spec = MANIFEST.action(action_key).input(key)
        assert spec.type == "integer" and spec.minimum is not None, (action_key, key)
        assert (spec.maximum is not None) == bounded_above, (action_key, key)
    for action_key, key in [
        ("create_company", "remote_created_at"),
        ("create_contact", "signed_up_at"),
        ("update_contact", "last_seen_at"),
    ]:
        assert types[action_key, key] == "timestamp"


# -- strictness of the meta-schema --------------------------------------------------

MANIFEST_TEXT = (REPO / "connector.yaml").read_text(encoding="utf-8")


def mutated(edit: str, replacement: str) -> str:
    assert edit in MANIFEST_TEXT
    return MANIFEST_TEXT.replace(edit, replacement, 1)


def test_a_misspelt_key_fails_with_file_path_and_key() -> None:
    text = mutated(
        "  get_contact:\n    label: Get Contact\n",
        "  get_contact:\n    label: Get Contact\n    lable: typo\n",
    )
    with pytest.raises(ManifestError) as excinfo:
        parse_manifest(text)
    message = str(excinfo.value)
    assert "connector.yaml" in message
    assert "at actions.get_contact: Additional properties are not allowed ('lable'" in message


def test_a_default_that_does_not_fit_its_type_fails() -> None:
    text = mutated("    default: false\n", "    default: 'false'\n")
    with pytest.raises(ManifestError, match=r"fetch_all: the default 'false' of 'fetch_all'"):
        parse_manifest(text)


def test_an_unknown_input_type_fails() -> None:
    with pytest.raises(ManifestError, match=r"at inputs\.contact_id\.type: 'strnig' is not one of"):
        parse_manifest(mutated("    type: string\n", "    type: strnig\n"))


def test_an_action_input_with_no_definition_fails() -> None:
    text = mutated("      contact_id: {}\n", "      contact_idd: {}\n")
    with pytest.raises(ManifestError, match="'contact_idd' is not a shared input"):
        parse_manifest(text)


def test_a_missing_output_schema_fails() -> None:
    with pytest.raises(ManifestError, match=r"no schema schemas/objects/tag_lisst\.json"):
        parse_manifest(mutated("output: tag_list", "output: tag_lisst"))


def test_the_manifest_file_is_plain_yaml() -> None:
    assert isinstance(yaml.safe_load(MANIFEST_TEXT), dict)


# -- agreement with the seed product page --------------------------------------------


def seed_rows(label: str, part: str) -> list[str]:
    """The table rows of the seed page's section ``label`` under ``part`` (Connections/Actions)."""
    if not SEED_PATH.is_file():
        pytest.skip(f"the seed page {SEED_PATH} is absent (../shared): nothing to compare with")
    lines = [line.strip() for line in SEED_PATH.read_text(encoding="utf-8").splitlines()]
    start = lines.index(label, lines.index(part))
    header = lines.index("Input Comments Default", start)
    rows = []
    for row in lines[header + 1 :]:
        if not row:
            break
        rows.append(row)
    return rows


def split_row(row: str, labels: list[str]) -> tuple[str, str]:
    label = max((lbl for lbl in labels if row == lbl or row.startswith(lbl + " ")), key=len)
    return label, row[len(label) :].strip()


@pytest.mark.parametrize("action", SEED_ACTIONS, ids=by_id)
def test_action_matches_the_seed_page(action: ActionSpec) -> None:
    rows = seed_rows(action.label, "Actions")
    specs = {spec.label: spec for spec in action.inputs}
    seen = []
    for row in rows:
        label, rest = split_row(row, list(specs))
        spec = specs[label]
        seen.append(spec.key)
        if (action.key, spec.key) in DEVIATIONS or spec.type == "connection":
            continue
        default = "" if not spec.has_default else str(spec.default).lower()
        expected = f"{spec.comments} {default}".strip()
        assert rest == expected, f"{action.key}.{spec.key}"
    ours = [s.key for s in action.inputs if (action.key, s.key) not in EXTRAS]
    assert seen == ours, "inputs missing, added or out of the seed's order"


def test_seed_descriptions_match() -> None:
    if not SEED_PATH.is_file():
        pytest.skip(f"the seed page {SEED_PATH} is absent (../shared): nothing to compare with")
    seed = SEED_PATH.read_text(encoding="utf-8")
    for action in SEED_ACTIONS:
        # its first line; the lines after it are notes on how the action behaves
        summary = action.description.split("\n", 1)[0]
        assert f"\n{action.label}\n\n{summary}\n" in seed, action.key


def test_connections_match_the_seed_page() -> None:
    for connection in MANIFEST.connections.values():
        rows = seed_rows(connection.label, "Connections")
        assert rows == [f"{s.label} {s.comments}" for s in connection.inputs[: len(rows)]]


def test_no_label_is_written_in_python() -> None:
    """Messages name connection fields and inputs by the manifest's labels: a label in a
    Python string would stay behind when connector.yaml renames the field. (Labels of one
    word, such as Email or Page, are ordinary words in messages too; those of two or more
    are checked.)"""
    import ast

    manifest = load_manifest()
    labels = {s.label for kind in manifest.connections.values() for s in kind.inputs}
    for entries in (manifest.actions, manifest.data_sources, manifest.triggers):
        labels |= {s.label for entry in entries.values() for s in entry.inputs if " " in s.label}
    found = []
    for folder in ("runtime", "connections", "hosts", "actions"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            }
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docstrings):  # fmt: skip
                    found += [f"{path.name}: {label}" for label in labels if label in node.value]
    assert found == []
