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


def style_comparisons(tree: ast.AST, styles: set[str]) -> list[int]:
    """The lines comparing something with a paging style's name (``== "search"``,
    ``in ("cursor", "link")``), or choosing by one (``case "link":``)."""

    def names(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return {v for element in node.elts for v in names(element)}
        return set()

    def about_paging(*sides: ast.AST) -> bool:
        return any("style" in ast.unparse(side) or "paging" in ast.unparse(side) for side in sides)

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if about_paging(*sides) and any(names(side) & styles for side in sides):
                lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and about_styles(node, styles):
            lines.append(node.lineno)
        elif isinstance(node, ast.Match) and about_paging(node.subject):
            values = [p for case in node.cases for p in ast.walk(case.pattern)]
            found = [p for p in values if isinstance(p, ast.MatchValue)]
            lines += [p.lineno for p in found if names(p.value) & styles]
    return lines


def about_styles(node: ast.Dict, styles: set[str]) -> bool:
    """A mapping keyed by every style's name: a table that switches on the style."""
    keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return len(keys & styles) >= 3


def test_paging_styles_are_compared_only_in_their_module() -> None:
    """A style is its paginator (runtime/paging/): what it knows is asked of the class, so
    a new style is one class and one name, and no other file needs to learn it."""
    from intercom_connector.runtime.paging import PAGINATORS

    styles = set(PAGINATORS)
    found = []
    for path in package_modules():
        if path.relative_to(REPO).parts[:2] == ("runtime", "paging"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(REPO)}:{line}" for line in style_comparisons(tree, styles)]
    assert not found, "paging styles compared outside runtime/paging/: " + ", ".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'if action.paging.style == "link":\n    pass',
        'linked = request.paging in ("cursor", "search")',
        'if "page_number" != spec.paging.style:\n    pass',
        'match paging.style:\n    case "scroll":\n        pass',
        'WALKS = {"cursor": 1, "search": 2, "page_number": 3}',
    ],
)
def test_the_style_check_sees_each_way_of_comparing(code: str) -> None:
    assert style_comparisons(ast.parse(code), {"cursor", "search", "page_number", "scroll", "link"})
