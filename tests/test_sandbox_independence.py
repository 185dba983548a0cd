"""The sandbox is written from Intercom's API description, not from the connector's client:
it imports nothing of the client, handlers, connections or manifest."""

from __future__ import annotations

import ast

from support import REPO

FORBIDDEN = (
    "intercom_connector.runtime",
    "intercom_connector.actions",
    "intercom_connector.connections",
)


def test_the_sandbox_imports_nothing_of_the_connector() -> None:
    files = sorted((REPO / "sandbox").rglob("*.py"))
    assert len(files) >= 6 and (REPO / "sandbox" / "routes" / "contacts.py") in files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path} imports {name}"
                assert "connector.yaml" not in ast.unparse(node)
        assert "connector.yaml" not in path.read_text(encoding="utf-8"), path.name
