"""The docs hold together: the reference page is the `docs` output (a stale copy fails here),
the README stays a short front door, every relative link and every import path they give
works."""

from __future__ import annotations

import os
import re
from pathlib import Path

from support import DOC_PAGES, REPO, run_cli

from intercom_connector.hosts.docs import GENERATED_BEGIN as BEGIN
from intercom_connector.hosts.docs import GENERATED_END as END
from intercom_connector.hosts.docs import markdown
from intercom_connector.runtime.manifest import load_manifest

REFERENCE = REPO / "docs" / "reference.md"
#: the README is a front door; the guide lives in docs/
README_MAX_LINES = 250


def test_reference_page_is_the_generated_docs() -> None:
    page = REFERENCE.read_text(encoding="utf-8")
    assert BEGIN in page and END in page
    generated = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated == markdown(load_manifest()), (
        "docs/reference.md is stale: regenerate it with "
        "`intercom-connector docs --update docs/reference.md`"
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


def test_readme_stays_a_short_front_door() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, more than {README_MAX_LINES}: "
        "move the guide's text into its page in docs/"
    )


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """The fragments GitHub gives a page's headings: lower case, punctuation dropped,
    spaces as hyphens, a repeated one numbered -1, -2, ..."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        numbered, count = slug, 0
        while numbered in found:
            count += 1
            numbered = f"{slug}-{count}"
        found.add(numbered)
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: not this repository's
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.name}")
    return broken


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert len(DOC_PAGES) > 10, "the guide's pages are in docs/"
    broken = {
        str(page.relative_to(REPO)): broken_links(page) for page in DOC_PAGES if broken_links(page)
    }
    assert not broken, broken


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Some `code` here: yes\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#some-code-here-yes) [ok](#page) [web](https://x.example)\n"
        "[gone](gone.md) [no heading](other.md#nothing) `[in code](gone.md)`\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#nothing: no heading #nothing in other.md",
    ]


def doc_python_names() -> set[str]:
    """Every import path the docs give: ``from X import a, b`` and ``import X`` in their
    code, and every dotted ``intercom_connector.x.y`` in their code and text."""
    found: set[str] = set()
    for page in DOC_PAGES:
        text = page.read_text(encoding="utf-8")
        found |= set(re.findall(r"\bintercom_connector(?:\.[A-Za-z_]\w*)+", text))
        for module, names in re.findall(
            r"\bfrom (intercom_connector[\w.]*) import ([\w ,]+)", text
        ):
            found |= {f"{module}.{name.strip()}" for name in names.split(",")}
        found |= set(re.findall(r"^\s*import (intercom_connector\S*)", text, re.MULTILINE))
    return found


def test_every_import_path_in_the_docs_works() -> None:
    """A dotted name is imported the way a reader would: ``from a.b import c``."""
    names = doc_python_names()
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
    docs = " ".join(" ".join(p.read_text(encoding="utf-8").split()) for p in DOC_PAGES)
    # The designer's trigger slot: this connector has triggers, and the docs say so.
    assert load_manifest().triggers
    assert "no triggers yet" not in docs
    # The first command's one line a step is for a terminal; piped, each step's JSON.
    assert "on a terminal it prints one line per step" in readme
    assert "piped or redirected, it prints each step's whole output as JSON instead" in readme
    env = {"INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox")}
    done = run_cli("flow", "run", "examples/onboard-customer.yaml", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# step 1/10 company: create_company\n{")


def test_every_docs_page_the_code_cites_exists() -> None:
    """Code comments cite pages of the repository's docs/ folder: each cited page is there."""
    cited: dict[str, set[str]] = {}
    skipped = {".venv", ".cache", "build", "node_modules", ".git", ".mypy_cache", "__pycache__"}
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in skipped]
        for name in files:
            path = Path(folder, name)
            if path.suffix not in {".py", ".js", ".css", ".html", ".yaml"}:
                continue
            for page in re.findall(r"\bdocs/([\w-]+\.md)", path.read_text(encoding="utf-8")):
                cited.setdefault(page, set()).add(str(path.relative_to(REPO)))
    assert cited, "the code cites its docs"
    docs = REPO / "docs"
    missing = {page: sorted(by) for page, by in cited.items() if not (docs / page).is_file()}
    assert not missing, missing
