"""``intercom-connector check``: does the manifest agree with the code and files around it?

As Home Assistant's hassfest does for an integration, it reads connector.yaml and checks it
against what it names and what names it, and reports every problem at once (a contributor
fixes them in one go): the manifest itself (its meta-schema, each entry's rules), the
handlers in actions/ (each named one exists and takes exactly its action's inputs; no
function is left unnamed), the output schemas in schemas/objects/ (each valid, each used),
the sandbox (a route for every request an action, data source or trigger makes) and the
docs (the generated reference is current). docs/ is checked only in a working copy.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

from intercom_connector.runtime.cache import PACKAGE_ROOT
from intercom_connector.runtime.manifest import (
    LIMIT_INPUT,
    PACKAGE,
    ActionSpec,
    DataSourceSpec,
    InputSpec,
    Manifest,
    OperationSpec,
    manifest_problems,
    parse_manifest,
)

#: where an action's handler names the request it makes: Request("POST", "/tags", ...) or
#: client.request("GET", f"/tags/{tag_id}", ...)
_NAMED_REQUEST = re.compile(r"""["'](GET|POST|PUT|PATCH|DELETE)["'],\s*f?["'](/[^"']*)["']""")
#: a handler's parameter that is not an input: the client it sends with
_CLIENT = "client"


def problems() -> list[str]:
    """Every disagreement between connector.yaml and the tree around it, one line each."""
    root = PACKAGE_ROOT
    text = (root / "connector.yaml").read_text(encoding="utf-8")
    found = manifest_problems(text)
    if found:
        return found  # the rest reads the manifest: fix it first
    manifest = parse_manifest(text)
    found += _handler_problems(manifest)
    found += _schema_problems(manifest, root / "schemas" / "objects")
    found += _route_problems(manifest)
    if (root / "docs").is_dir():  # a working copy, not an installed wheel
        found += _docs_problems(manifest, root / "docs" / "reference.md")
    return found


def _operations(manifest: Manifest) -> Iterator[tuple[str, OperationSpec]]:
    for kind, entries in (
        ("actions", manifest.actions),
        ("data_sources", manifest.data_sources),
        ("triggers", manifest.triggers),
    ):
        for spec in entries.values():
            yield f"connector.yaml: {kind}.{spec.key}", spec


def _handler_problems(manifest: Manifest) -> list[str]:
    found = []
    named: set[tuple[str, str]] = set()
    for where, operation in _operations(manifest):
        if operation.handler is None:
            continue
        module_name, _, function_name = operation.handler.partition(".")
        named.add((module_name, function_name))
        try:
            module = importlib.import_module(f"{PACKAGE}.actions.{module_name}")
        except ImportError:
            found.append(f"{where}.handler: no module actions/{module_name}.py")
            continue
        function = getattr(module, function_name, None)
        if not callable(function):
            found.append(f"{where}.handler: actions/{module_name}.py has no {function_name}()")
            continue
        given = {spec.key for spec in _handler_inputs(operation)}
        parameters = inspect.signature(function).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue  # takes whatever it is given
        taken = {name for name in parameters if name != _CLIENT}
        for key in sorted(given - taken):
            found.append(f"{where}: input {key!r} is not a parameter of {operation.handler}()")
        for name in sorted(taken - given):
            if parameters[name].default is inspect.Parameter.empty:
                found.append(f"{where}: {operation.handler}() needs {name!r}, not an input")
    actions = importlib.import_module(f"{PACKAGE}.actions")
    for info in pkgutil.iter_modules(actions.__path__):
        module = importlib.import_module(f"{PACKAGE}.actions.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            own = function.__module__ == module.__name__ and not name.startswith("_")
            shaped = next(iter(inspect.signature(function).parameters), None) == _CLIENT
            if own and shaped and (info.name, name) not in named:
                found.append(
                    f"actions/{info.name}.py: {name}() is shaped as a handler but no "
                    "operation names it (name it in connector.yaml, or make it private: _name)"
                )
    return found


def _handler_inputs(operation: OperationSpec) -> tuple[InputSpec, ...]:
    """What runtime/shim.py gives a handler: a list's paging inputs and a data source's
    Limit are the runtime's."""
    if isinstance(operation, ActionSpec):
        return operation.handler_inputs
    if isinstance(operation, DataSourceSpec):
        return tuple(spec for spec in operation.value_inputs if spec.key != LIMIT_INPUT)
    return operation.value_inputs


def _schema_problems(manifest: Manifest, folder: Path) -> list[str]:
    import jsonschema

    found = []
    used = {"choices"}  # every data source's output
    used.update(action.output for action in manifest.actions.values())
    used.update(trigger.output for trigger in manifest.triggers.values())
    for path in sorted(folder.glob("*.json")):
        where = f"schemas/objects/{path.name}"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except ValueError as error:
            found.append(f"{where}: not JSON: {error}")
        except jsonschema.SchemaError as error:
            found.append(f"{where}: not a valid JSON Schema: {error.message}")
        if path.stem not in used:
            found.append(f"{where}: no action or trigger has it as its output")
    return found


def _requests(operation: OperationSpec) -> list[tuple[str, str]]:
    """The (method, path) pairs an operation sends: its declared request, a trigger's poll,
    or what its handler's code names."""
    if operation.request is not None:
        return [(operation.request.method, operation.request.path)]
    poll = getattr(operation, "poll", None)
    if poll is not None:
        return [(poll.method, poll.path)]
    if operation.handler is None:
        return []
    module_name, _, function_name = operation.handler.partition(".")
    try:
        module = importlib.import_module(f"{PACKAGE}.actions.{module_name}")
    except ImportError:
        return []  # a problem of its own (_handler_problems)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        return []
    source = inspect.getsource(handler)
    # and the module's own helpers it calls (a state change's _part(...))
    for name, helper in inspect.getmembers(module, inspect.isfunction):
        if name != function_name and re.search(rf"\b{name}\(", source):
            source += inspect.getsource(helper)
    return _NAMED_REQUEST.findall(source)


def _route_problems(manifest: Manifest) -> list[str]:
    from intercom_connector.sandbox.app import ROUTES

    found = []
    for where, operation in _operations(manifest):
        for method, path in _requests(operation):
            sample = re.sub(r"\{[^}]*\}", "1", path)
            if not any(m == method and pattern.match(sample) for m, pattern, _ in ROUTES):
                found.append(f"{where}: the sandbox has no route for {method} {path}")
    return found


def _docs_problems(manifest: Manifest, reference: Path) -> list[str]:
    from intercom_connector.hosts.docs import GENERATED_BEGIN, GENERATED_END, markdown

    where = "docs/reference.md"
    if not reference.is_file():
        return [f"{where}: missing (intercom-connector docs --update {where} fills it)"]
    page = reference.read_text(encoding="utf-8")
    if GENERATED_BEGIN not in page or GENERATED_END not in page:
        return [f"{where}: has no generated-part markers"]
    if page.split(GENERATED_BEGIN, 1)[1].split(GENERATED_END, 1)[0] != markdown(manifest):
        return [f"{where}: stale; regenerate it: intercom-connector docs --update {where}"]
    return []


def summary(manifest: Manifest) -> str:
    """What a clean check covered."""
    return (
        f"ok: {len(manifest.actions)} actions, {len(manifest.data_sources)} data sources and "
        f"{len(manifest.triggers)} triggers agree with their handlers, output schemas, "
        "sandbox routes and docs"
    )
