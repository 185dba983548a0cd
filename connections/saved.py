"""Saved connections: one JSON file in the user's config directory, readable by its owner only.

``~/.config/intercom-connector/connections.json`` (``$XDG_CONFIG_HOME`` respected, or
``--config-dir``). The file holds tokens and client secrets, so it is created with mode
0600 in a 0700 directory, and a file that others can read is refused until it is fixed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from intercom_connector.runtime.connection import (
    Connection,
    connection_from_file,
    connection_from_mapping,
    require_private_file,
)
from intercom_connector.runtime.errors import ConnectionConfigError, StorageError, cut, echoed
from intercom_connector.runtime.syntax import syntax_error_text

FILE_NAME = "connections.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: a --connection value that names a file rather than a saved connection
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def default_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "intercom-connector"


def check_name(name: str) -> None:
    """Refuse a name no connection can be saved under (ask before anything is authorized)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConnectionConfigError(
            f"Connection name {echoed(name)} must be letters, digits, '.', '_' or '-'"
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

    def _require_private_dir(self) -> None:
        """Refuse a folder where someone else could plant or swap the connections file."""
        info = self.dir.stat()
        if info.st_uid != os.geteuid():
            raise ConnectionConfigError(
                f"config folder {self.dir} belongs to another user (uid {info.st_uid}): "
                "keep saved connections in a folder of your own (--config-dir DIR)"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o022:
            raise ConnectionConfigError(
                f"config folder {self.dir} can be written by others (mode {mode:04o}); "
                f"fix it with: chmod 700 {self.dir}"
            )

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            return self._read_file()
        except OSError as exc:  # a name too long, a folder that is a file, no permission
            where = f"saved connections in {cut(str(self.dir))}"
            raise ConnectionConfigError(f"{where}: cannot be read ({exc.strerror})") from None

    def _read_file(self) -> dict[str, dict[str, Any]]:
        if not self.dir.exists():
            return {}
        self._require_private_dir()
        if not self.path.exists():
            return {}
        require_private_file(self.path, "saved connections file")
        text = ""
        try:
            text = self.path.read_text(encoding="utf-8")
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            message = syntax_error_text(f"saved connections file {self.path}", exc, text)
            raise ConnectionConfigError(message) from None
        if not isinstance(data, dict):
            raise ConnectionConfigError(f"{self.path} must hold an object of connections")
        return data

    def _write(self, data: Mapping[str, Any]) -> None:
        """Replace the file with ``data`` (the old or the new, never half); StorageError
        naming it when it cannot be written (a full disk, a read-only folder)."""
        try:
            self._replace(data)
        except OSError as exc:
            where = f"saved connections file {self.path}"
            raise StorageError.of(where, "cannot be written", exc) from None

    def _replace(self, data: Mapping[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._require_private_dir()
        # a fresh name, created exclusively and never through a link (mkstemp: O_EXCL,
        # O_NOFOLLOW, mode 0600), then renamed: a crash never leaves half a file
        descriptor, temporary = tempfile.mkstemp(
            prefix=".connections-", suffix=".tmp", dir=self.dir
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def names(self) -> dict[str, dict[str, Any]]:
        """Every saved connection, by name (fields as saved)."""
        return self._read()

    def fields(self, name: str) -> dict[str, Any]:
        saved = self._read()
        if name not in saved:
            known = ", ".join(sorted(saved)) or "none saved yet"
            raise ConnectionConfigError(f"No saved connection named {echoed(name)} ({known})")
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
            raise ConnectionConfigError(f"No saved connection named {echoed(name)}")
        del saved[name]
        self._write(saved)


def file_or_saved_connection(value: str, saved: SavedConnections) -> Connection:
    """``--connection``'s value: a connection file, else the name of a saved connection."""
    path = Path(value)
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError:  # a name too long to be a file's
        is_file = is_dir = False
    if is_file:
        return connection_from_file(path)
    if "/" in value or os.sep in value or value.endswith(_FILE_SUFFIXES):
        state = "is a folder, not a file" if is_dir else "does not exist"
        raise ConnectionConfigError(f"connection file {cut(value)} {state}")
    names = saved.names()
    if value not in names:
        known = ", ".join(sorted(names)) or "none saved yet"
        raise ConnectionConfigError(
            f"{echoed(value)} is neither a connection file nor a saved connection "
            f"(saved connections: {known})"
        )
    return connection_from_mapping(names[value])
