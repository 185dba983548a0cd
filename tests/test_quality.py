"""Lint, format and types, run with the suite so that the one test command checks them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_ruff_check() -> None:
    done = run(str(BIN / "ruff"), "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = run(str(BIN / "ruff"), "format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    # The repository root is the package intercom_connector (pyproject's package-dir), so
    # mypy sees it under that name through a link, wherever the checkout lives.
    cache = REPO / ".mypy_cache"
    link = cache / "package-root" / "intercom_connector"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    done = subprocess.run(
        [str(BIN / "mypy"), "-p", "intercom_connector", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"MYPYPATH": str(link.parent), "PATH": str(BIN)},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


@pytest.mark.parametrize("name", ["utils.py", "helpers.py", "misc.py", "common.py"])
def test_no_grab_bag_modules(name: str) -> None:
    assert not list(REPO.glob(f"*/{name}"))
