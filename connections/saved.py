"""Saved connections: one JSON file in the user's config directory, readable by its owner only.

``~/.config/intercom-connector/connections.json`` (``$XDG_CONFIG_HOME`` respected, or
``--config-dir``). The file holds tokens and client secrets, so it is created with mode
0600 in a 0700 directory, and a file that others can read is refused until it is fixed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from intercom_connector.runtime.connection import Connection, connection_from_mapping
from intercom_connector.runtime.errors import ConnectionConfigError

FILE_NAME = "connections.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def default_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "intercom-connector"


def check_name(name: str) -> None:
    """Refuse a name no connection can be saved under (ask before anything is authorized)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConnectionConfigError(
            f"Connection name {name!r} must be letters, digits, '.', '_' or '-'"
        )


def redacted(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A connection's saved fields with its secrets (the manifest's ``secret`` inputs)
    shown as asterisks."""
    return connection_from_mapping(fields).fields()


class SavedConnections:
    """The connections file: names -> connection fields."""

    def __init__(self, config_dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(config_dir) if config_dir else default_config_dir()
        self.path = self.dir / FILE_NAME

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise ConnectionConfigError(
                f"{self.path} holds secrets but others may read it (mode {mode:04o}); "
                f"fix it with: chmod 600 {self.path}"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConnectionConfigError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConnectionConfigError(f"{self.path} must hold an object of connections")
        return data

    def _write(self, data: Mapping[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)  # atomic: a crash never leaves half a file

    def names(self) -> dict[str, dict[str, Any]]:
        """Every saved connection, by name (fields as saved)."""
        return self._read()

    def fields(self, name: str) -> dict[str, Any]:
        saved = self._read()
        if name not in saved:
            known = ", ".join(sorted(saved)) or "none saved yet"
            raise ConnectionConfigError(f"No saved connection named {name!r} ({known})")
        return saved[name]

    def get(self, name: str) -> Connection:
        return connection_from_mapping(self.fields(name))

    def save(self, name: str, fields: Mapping[str, Any]) -> None:
        check_name(name)
        connection_from_mapping(fields)  # refuse to save what could not be used
        saved = self._read()
        saved[name] = {k: v for k, v in fields.items() if v not in (None, "")}
        self._write(saved)

    def remove(self, name: str) -> None:
        saved = self._read()
        if name not in saved:
            raise ConnectionConfigError(f"No saved connection named {name!r}")
        del saved[name]
        self._write(saved)
