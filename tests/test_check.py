"""`intercom-connector check`, run as a contributor runs it: on this tree it finds nothing; in a
copy of the tree with inconsistencies planted, it names every one of them at once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from support import REPO, SHARED, clean_env, run_cli

from intercom_connector.runtime.manifest import load_manifest

PACKAGE = "intercom_connector"
#: what a copy of the working tree leaves out: environments, caches, build output, and
#: hypothesis's example database (other workers of the suite delete its files meanwhile)
NOT_COPIED = (".venv*", ".git", "__pycache__", "*.egg-info", ".*_cache", "build", ".hypothesis")


def tree_copy(tmp_path: Path) -> Path:
    """A copy of this working tree, importable as the package from ``tmp_path``, with
    ../shared beside it when this tree has it."""
    root = tmp_path / PACKAGE
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*NOT_COPIED))
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED, target_is_directory=True)
    return root


def check_in(root: Path) -> tuple[int, list[str], str]:
    """`python -m intercom_connector check` on the copy at ``root``: exit status, the
    problems printed, stderr."""
    done = run_cli("check", env={"PYTHONPATH": str(root.parent)}, cwd=root.parent)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines(), done.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def give_delete_tag_an_input_its_handler_does_not_take(root: Path) -> None:
    edit(
        root / "connector.yaml",
        "    handler: tags.delete_tag\n    output: tag_deleted\n    inputs:\n",
        "    handler: tags.delete_tag\n    output: tag_deleted\n    inputs:\n"
        "      force: {label: Force, type: boolean}\n",
    )


def test_this_tree_passes_the_check() -> None:
    manifest = load_manifest()
    done = run_cli("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        f"ok: {len(manifest.actions)} actions, {len(manifest.data_sources)} data sources and "
        f"{len(manifest.triggers)} triggers agree"
    )


def test_every_planted_inconsistency_is_named_at_once(tmp_path: Path) -> None:
    root = tree_copy(tmp_path)
    # a handler renamed in code but not in the manifest
    edit(root / "actions" / "tags.py", "def delete_tag(", "def remove_tag(")
    # an input the handler does not take
    give_delete_tag_an_input_its_handler_does_not_take(root)
    # a route the sandbox no longer serves
    edit(
        root / "sandbox" / "routes" / "tags.py", '@route("GET", "/tags")', '@route("GET", "/tagz")'
    )
    # an output schema nothing uses
    (root / "schemas" / "objects" / "orphan.json").write_text('{"type": "object"}')
    # an output schema that is not a JSON Schema
    edit(root / "schemas" / "objects" / "tag.json", '"type": "object"', '"type": "objekt"')
    # a reference left stale
    edit(root / "docs" / "reference.md", "### Archive Contact", "### Archive a Contact")

    status, printed, stderr = check_in(root)

    assert status == 1
    expected = [
        "connector.yaml: actions.delete_tag.handler: actions/tags.py has no delete_tag()",
        "actions/tags.py: remove_tag() is shaped as a handler but no operation names it",
        "connector.yaml: actions.list_tags: the sandbox has no route for GET /tags",
        "schemas/objects/orphan.json: no action or trigger has it as its output",
        "schemas/objects/tag.json: not a valid JSON Schema",
        "docs/reference.md: stale; regenerate it: intercom-connector docs --update",
    ]
    for problem in expected:
        assert any(line.startswith(problem) for line in printed), (problem, printed)
    assert stderr.strip() == f"{len(printed)} problems"
    assert len(printed) == len(expected), printed


def test_a_handler_input_mismatch_is_named(tmp_path: Path) -> None:
    root = tree_copy(tmp_path)
    give_delete_tag_an_input_its_handler_does_not_take(root)
    edit(
        root / "actions" / "tags.py",
        "def delete_tag(client: IntercomClient, *, tag_id: str)",
        "def delete_tag(client: IntercomClient, *, tag_id: str, reason: str)",
    )
    status, printed, _ = check_in(root)
    assert status == 1
    assert printed == [
        "connector.yaml: actions.delete_tag: input 'force' is not a parameter of tags.delete_tag()",
        "connector.yaml: actions.delete_tag: tags.delete_tag() needs 'reason', not an input",
        "docs/reference.md: stale; regenerate it: intercom-connector docs --update "
        "docs/reference.md",  # the new input is not in it yet
    ]


def test_every_broken_entry_of_the_manifest_is_named(tmp_path: Path) -> None:
    """Two broken actions: both are named, not only the first the loader meets."""
    root = tree_copy(tmp_path)
    manifest = root / "connector.yaml"
    edit(manifest, "    output: tag_deleted\n", "    output: tag_deletedd\n")
    edit(manifest, "    data_source: select_ticket_type\n", "    data_source: select_tickettype\n")
    status, printed, _ = check_in(root)
    assert status == 1
    assert any(
        "actions.delete_tag.output: no schema schemas/objects/tag_deletedd" in p for p in printed
    )
    assert any("data_source: no data source 'select_tickettype'" in p for p in printed)


#: the tests a new action must pass with no edit of theirs: every one that iterates the
#: manifest (each of the derived per-action cases of the new action included)
DERIVED = [
    "tests/test_scenarios.py",
    "tests/test_actions.py",
    "tests/test_manifest.py",
    "tests/test_docs.py",
    "tests/test_secrets.py::test_every_action_on_every_path_keeps_the_secrets",
    "tests/test_check.py::test_this_tree_passes_the_check",
    "tests/test_unsendable.py",
    "tests/test_mcp.py::test_stdio_serves_every_tool_against_the_sandbox",
]


def test_adding_a_list_action_touches_only_its_manifest_entry_schema_and_route(
    tmp_path: Path,
) -> None:
    """Issue 22: a list action on a new endpoint of an existing resource is its
    connector.yaml entry, its output schema and its sandbox route (here one the sandbox
    has, /companies/{id}/notes, which no action used), with the reference regenerated:
    the check passes and every test that iterates the manifest passes, the new action's
    derived cases included, with no list in the tests extended."""
    root = tree_copy(tmp_path)
    manifest = root / "connector.yaml"
    text = manifest.read_text(encoding="utf-8")
    start = text.index("\n  list_notes:\n") + 1
    block = text[start : re.compile(r"\n\n  \w+:\n").search(text, start).start() + 1]
    new = block
    for old, replacement in (
        ("  list_notes:", "  list_company_notes:"),
        ("label: List Notes", "label: List Notes of Company"),
        ("resource: contacts", "resource: companies"),
        ('"/contacts/{contact_id}/notes"', '"/companies/{company_id}/notes"'),
        ("      contact_id: {}", "      company_id: {}"),
        ("output: note_list", "output: company_note_list"),
    ):
        assert old in new, old
        new = new.replace(old, replacement)
    edit(manifest, "\ndata_sources:", "\n" + new + "\ndata_sources:")
    schemas = root / "schemas" / "objects"
    shutil.copy(schemas / "note_list.json", schemas / "company_note_list.json")
    env = {"PYTHONPATH": str(tmp_path)}
    regenerated = run_cli("docs", "--update", "docs/reference.md", env=env, cwd=root)
    assert regenerated.returncode == 0, regenerated.stderr

    status, printed, _ = check_in(root)
    assert status == 0, printed
    assert printed[0].startswith(f"ok: {len(load_manifest().actions) + 1} actions")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DERIVED],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=root,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co",
         "tests/test_scenarios.py"],
        capture_output=True, text=True, env=clean_env(env), cwd=root, timeout=300,
    )  # fmt: skip
    assert "test_every_action_runs_on_the_demo_workspace[list_company_notes]" in ran.stdout
