"""The architecture holds: imports go one way, and labels live only in the manifest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO

from intercom_connector.runtime.manifest import InputSpec, load_manifest

#: package -> layer; a module imports only from its own package or from lower layers
LAYERS = {"runtime": 0, "connections": 1, "actions": 1, "sandbox": 1, "hosts": 2}
#: what is not the connector's installed code, or stands apart (the sandbox imports nothing
#: of the connector: tests/test_sandbox_independence.py)
APART = {"tests", "bench", "build", "examples", "sandbox"}


def package_modules() -> list[Path]:
    return [
        path
        for path in sorted(REPO.rglob("*.py"))
        if not path.relative_to(REPO).parts[0].startswith(".")
        and path.relative_to(REPO).parts[0] not in APART
        and path.name != "setup.py"
    ]


def imported(path: Path) -> set[str]:
    """The intercom_connector packages ``path`` imports (first part after the prefix)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "intercom_connector" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_go_one_way(path: Path) -> None:
    relative = path.relative_to(REPO)
    own = relative.parts[0] if len(relative.parts) > 1 else None
    if own is None:
        return  # the package's own __init__ / __main__: the public API, the entry point
    level = LAYERS[own]
    for package in imported(path) - {own}:
        assert package in LAYERS, f"{relative} imports intercom_connector.{package}"
        assert LAYERS[package] < level, (
            f"{relative} (layer {own}) imports {package}: imports go hosts -> "
            "connections/actions -> runtime, never back"
        )


def test_every_package_has_a_layer() -> None:
    folders = {p.relative_to(REPO).parts[0] for p in package_modules() if p.parent != REPO}
    assert folders == set(LAYERS) - APART


def manifest_labels() -> set[str]:
    manifest = load_manifest()
    specs: list[InputSpec] = []
    labels = set()
    for operation in [
        *manifest.actions.values(),
        *manifest.data_sources.values(),
        *manifest.triggers.values(),
        *manifest.connections.values(),
    ]:
        labels.add(operation.label)
        specs += operation.inputs
    for spec in specs:
        labels.add(spec.label)
        # an option whose label is its value (GET, json) is a value, not a label
        labels.update(o.label for o in spec.options if o.label != o.value)
    return labels


def test_labels_are_written_only_in_the_manifest() -> None:
    labels = manifest_labels()
    found = []
    # (the sandbox is left out: its strings are Intercom's data, such as the labels of
    # Intercom's own data attributes, which may equal ours)
    for path in package_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported = {
            id(element)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(getattr(t, "id", None) == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List)
            for element in node.value.elts
        }
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text in labels and id(node) not in exported:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {text!r}")
    assert not found, "labels written in Python (take them from the manifest): " + ", ".join(found)
