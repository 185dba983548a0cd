"""Data derived from the package's own files, kept between runs under their content hash.

Every ``intercom-connector`` start needs the manifest parsed from YAML and checked against
its meta-schema; importing PyYAML and jsonschema and doing that costs more than the rest of
a ``run get_contact``. ``remembered`` keeps the result as JSON under the SHA-256 of every
file it was derived from, so a changed file can never be answered from an old entry: its
hash names another entry, which does not exist yet.

Where: beside the code, in the package's ``__pycache__`` folder, as Python keeps its own
compiled bytecode there. Whoever can write that folder can already change the code, so
trusting what is read from it adds no way in; it is written on first use wherever the
package is writable (a virtual environment, a working copy) and Python may write bytecode
there (not under ``PYTHONDONTWRITEBYTECODE``). Otherwise (a read-only system package or
container image) it is kept in the user's cache folder,
``$XDG_CACHE_HOME/intercom-connector`` (else ``~/.cache/intercom-connector``), made private
to its owner; a folder or file there that others could have written is never read. Building
it into the wheel instead would need PyYAML and jsonschema at build time, and would not
cover a working copy whose manifest changes between runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: how many entries of one name a folder keeps (a working copy whose manifest changes)
KEEP = 8


def _user_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "intercom-connector"


def _private(path: Path) -> bool:
    """Ours, and writable by nobody else: safe to read what it holds."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def folders() -> list[tuple[Path, bool]]:
    """Where entries are looked for and written, in order, each with whether what is read
    there must first be checked as private (the user's folder)."""
    return [(PACKAGE_ROOT / "__pycache__", False), (_user_folder(), True)]


def _writable(folder: Path, checked: bool) -> bool:
    # beside the code only where Python itself would write its bytecode
    return checked or not sys.dont_write_bytecode


def _read(file: Path, checked: bool, key: str) -> Any:
    if checked and not (_private(file.parent) and _private(file)):
        return None
    try:
        entry = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None  # absent, or cut short by a crash: built again
    if not isinstance(entry, dict) or entry.get("sha256") != key:
        return None
    return entry.get("data")


def _write(folder: Path, checked: bool, name: str, key: str, data: Any) -> bool:
    try:
        folder.mkdir(mode=0o700 if checked else 0o777, parents=True, exist_ok=True)
        if checked and not _private(folder):
            return False
        handle, temporary = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(orjson.dumps({"sha256": key, "data": data}))
        os.replace(temporary, folder / f"{name}-{key}.json")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    _prune(folder, name)
    return True


def _prune(folder: Path, name: str) -> None:
    entries = sorted(folder.glob(f"{name}-*.json"), key=_mtime, reverse=True)
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def round_trips(data: Any) -> bool:
    """True when ``data`` comes back from JSON exactly as it is (no dates, no number keys)."""
    try:
        return bool(orjson.loads(orjson.dumps(data)) == data)
    except (TypeError, orjson.JSONEncodeError):
        return False


def remembered(name: str, sources: Iterable[bytes], build: Callable[[], Any]) -> Any:
    """``build()``, or what it gave for these exact ``sources`` in an earlier run.

    ``build`` must be a function of ``sources`` alone. What it gives is kept only when
    JSON carries it exactly; a folder that cannot be written is skipped silently.
    """
    digest = hashlib.sha256()
    for source in sources:
        digest.update(hashlib.sha256(source).digest())
    key = digest.hexdigest()
    places = folders()
    for folder, checked in places:
        found = _read(folder / f"{name}-{key}.json", checked, key)
        if found is not None:
            return found
    data = build()
    if round_trips(data):
        for folder, checked in places:
            if _writable(folder, checked) and _write(folder, checked, name, key, data):
                break
    return data
