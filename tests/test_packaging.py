"""The wheel: one import package, manifest and schemas inside, same behaviour as editable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build/ would leave stale files for the next build.
    # Left out too: what other workers of the suite write meanwhile (caches, hypothesis's
    # example database), whose files may vanish while being copied.
    source = tmp_path_factory.mktemp("source") / "repo"
    ignore = shutil.ignore_patterns(
        ".venv*", "build", "*.egg-info", ".git", "*_cache", "__pycache__", ".hypothesis"
    )
    shutil.copytree(REPO, source, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (path,) = out.glob("intercom_connector-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return target


def test_wheel_installs_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"intercom_connector", wheel.name.split("-py3")[0] + ".dist-info"}


def test_wheel_carries_manifest_schemas_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "intercom_connector/connector.yaml",
        "intercom_connector/py.typed",
        "intercom_connector/schemas/connector.schema.json",
        "intercom_connector/schemas/objects/contact.json",
        "intercom_connector/actions/contacts.py",
        "intercom_connector/runtime/shim.py",
        "intercom_connector/runtime/connection.py",
        "intercom_connector/hosts/cli.py",
        "intercom_connector/sandbox/__init__.py",
        "intercom_connector/hosts/ui/static/index.html",
        "intercom_connector/hosts/ui/static/app.js",
    ):
        assert needed in names
    assert not any(name.startswith("intercom_connector/tests/") for name in names)
    assert not any(name.startswith("intercom_connector/bench/") for name in names)
    assert "intercom_connector/setup.py" not in names


def test_every_folder_of_code_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    not_shipped = {"tests", "bench", "build", "examples"}
    for module in REPO.rglob("*.py"):
        relative = module.relative_to(REPO)
        if (
            relative.parts[0] in not_shipped
            or relative.parts[0].startswith(".")
            or len(relative.parts) == 1
        ):
            continue
        assert f"intercom_connector/{relative.as_posix()}" in names, relative


def test_wheel_carries_every_module(wheel: Path) -> None:
    """A package folder missing from pyproject's list would be left out silently."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        f"intercom_connector/{path.relative_to(REPO).as_posix()}"
        for folder in ("actions", "connections", "runtime", "sandbox")
        for path in (REPO / folder).rglob("*.py")
    }
    assert modules - names == set()


def run_installed(site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, cwd="/"
    )


def test_wheel_install_behaves_like_the_editable_one(installed: Path) -> None:
    where = run_installed(
        installed, "-c", "import intercom_connector; print(intercom_connector.__file__)"
    )
    assert where.stdout.strip() == str(installed / "intercom_connector" / "__init__.py")
    for command in (["actions"], ["manifest"], ["describe", "create_ticket"], ["docs"]):
        from_wheel = run_installed(installed, "-m", "intercom_connector", *command)
        from_editable = run_installed(None, "-m", "intercom_connector", *command)
        assert from_wheel.returncode == 0, from_wheel.stderr
        assert from_wheel.stdout == from_editable.stdout
