"""The README's action reference is the `docs` output: a stale copy fails here."""

from __future__ import annotations

import re
from pathlib import Path

from support import REPO, run_cli

from intercom_connector.hosts.docs import GENERATED_BEGIN as BEGIN
from intercom_connector.hosts.docs import GENERATED_END as END
from intercom_connector.hosts.docs import markdown
from intercom_connector.runtime.manifest import load_manifest


def test_readme_reference_is_the_generated_docs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme
    generated = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated == markdown(load_manifest()), (
        "README.md's reference is stale: regenerate it with `intercom-connector docs`"
    )


def test_docs_follow_the_seed_page_shape() -> None:
    text = markdown(load_manifest())
    assert text.index("## Connections") < text.index("## Actions")
    assert "### Archive Contact\n\nArchive an existing Contact (`archive_contact`)\n" in text
    assert "| Fetch All | If true, all pages of results will be fetched. | false |" in text
    assert "| Retry Delay (ms) | The delay in milliseconds between retries." in text
    part = text.split("## Actions", 1)[1].split("## Data sources", 1)[0]
    actions = [line[4:] for line in part.splitlines() if line.startswith("### ")]
    assert actions == sorted(actions, key=str.lower)
    assert len(actions) == len(load_manifest().actions)


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("```", 2)[1]
    commands = [line for line in block.splitlines()[1:] if line.strip()]
    assert len(commands) == 2
    assert commands[1].endswith(".venv/bin/python -m pytest")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def readme_python_names() -> set[str]:
    """Every import path the README gives: ``from X import a, b`` and ``import X`` in its
    code, and every dotted ``intercom_connector.x.y`` in its code and text."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = set(re.findall(r"\bintercom_connector(?:\.[A-Za-z_]\w*)+", readme))
    for module, names in re.findall(r"\bfrom (intercom_connector[\w.]*) import ([\w ,]+)", readme):
        found |= {f"{module}.{name.strip()}" for name in names.split(",")}
    found |= set(re.findall(r"^\s*import (intercom_connector\S*)", readme, re.MULTILINE))
    return found


def test_every_import_path_in_the_readme_works() -> None:
    """A dotted name is imported the way a reader would: ``from a.b import c``."""
    names = readme_python_names()
    assert {"intercom_connector.invoke", "intercom_connector.NotFoundError"} <= names
    broken = []
    for name in sorted(names):
        module, _, attribute = name.rpartition(".")
        statement = f"from {module} import {attribute}" if module else f"import {name}"
        try:
            exec(statement, {})
        except ImportError as error:
            broken.append(f"{statement}: {error}")
    assert not broken, broken


def test_the_readme_says_what_the_first_command_prints_and_that_triggers_exist(
    tmp_path: Path,
) -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    # The designer's trigger slot: this connector has triggers, and the README says so.
    assert load_manifest().triggers
    assert "no triggers yet" not in readme
    # The first command's one line a step is for a terminal; piped, each step's JSON.
    assert "on a terminal it prints one line per step" in readme
    assert "piped or redirected, it prints each step's whole output as JSON instead" in readme
    env = {"INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox")}
    done = run_cli("flow", "run", "examples/onboard-customer.yaml", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# step 1/10 company: create_company\n{")
