"""The sandbox's state: one SQLite database (standard library sqlite3) in a data directory.

Records are kept as JSON next to the few columns that are looked up or ordered by, so a
page of 150 contacts out of 100,000 is an indexed query. Separate processes using the
same directory see each other's writes (WAL mode, a busy timeout); within one process a
lock serialises access, which keeps every request a consistent transaction.

A folder that cannot be made or a database that cannot be used raises SandboxStateError
(the sandbox's own exception: it imports nothing of the connector), never sqlite3's.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT,
    external_id TEXT,
    role TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (email);
CREATE INDEX IF NOT EXISTS contacts_external_id ON contacts (external_id);
CREATE TABLE IF NOT EXISTS companies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    company_id TEXT NOT NULL UNIQUE,
    name TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_companies (
    contact_id TEXT NOT NULL, company_id TEXT NOT NULL, PRIMARY KEY (contact_id, company_id)
);
CREATE INDEX IF NOT EXISTS contact_companies_company ON contact_companies (company_id);
CREATE TABLE IF NOT EXISTS contact_tags (
    contact_id TEXT NOT NULL, tag_id TEXT NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX IF NOT EXISTS contact_tags_tag ON contact_tags (tag_id);
CREATE TABLE IF NOT EXISTS company_tags (
    company_id TEXT NOT NULL, tag_id TEXT NOT NULL, PRIMARY KEY (company_id, tag_id)
);
CREATE TABLE IF NOT EXISTS ticket_types (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS data_attributes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (model, name)
);
CREATE TABLE IF NOT EXISTS admins (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,  -- contact or company: what the rule selects
    rule TEXT NOT NULL,   -- which ones it holds, evaluated on demand
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ticket_states (
    id TEXT PRIMARY KEY, ticket_type_ids TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL  -- with its parts and tags
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, contact_id TEXT, company_id TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_contact ON notes (contact_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (contact_id, name, created_at)
);
CREATE TABLE IF NOT EXISTS collections (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT, updated_at INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscription_types (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contact_subscriptions (
    contact_id TEXT NOT NULL, subscription_type_id TEXT NOT NULL,
    PRIMARY KEY (contact_id, subscription_type_id)
);
"""
_TABLES = (
    "contacts",
    "companies",
    "tags",
    "contact_companies",
    "contact_tags",
    "company_tags",
    "ticket_types",
    "tickets",
    "data_attributes",
    "admins",
    "teams",
    "segments",
    "ticket_states",
    "conversations",
    "notes",
    "events",
    "collections",
    "articles",
    "messages",
    "subscription_types",
    "contact_subscriptions",
    "meta",
)
#: what SQLite says when the file is not (or no longer) a usable database
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
#: failures of the file or the disk, not of a statement: the state cannot be used
_UNUSABLE = (*_CORRUPT, "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_FULL",
             "SQLITE_PERM")  # fmt: skip


class SandboxStateError(Exception):
    """The sandbox's state cannot be used: its folder cannot be made, or its database
    cannot be opened or is corrupt (``corrupt``: deleting it and starting again helps)."""

    def __init__(self, message: str, *, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


def _state_error(path: str, error: sqlite3.Error) -> SandboxStateError:
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(_CORRUPT):
        return SandboxStateError(f"the sandbox database {path} is corrupt ({error})", corrupt=True)
    return SandboxStateError(f"cannot use the sandbox database {path}: {error}")


def _unusable(error: sqlite3.Error) -> bool:
    return str(getattr(error, "sqlite_errorname", "")).startswith(_UNUSABLE)


class Store:
    """Tables of JSON records with the columns the API looks them up by."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        if path != ":memory:":
            folder = Path(path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                exists = isinstance(error, FileExistsError)
                reason = "a file is in its place" if exists else error.strerror or str(error)
                raise SandboxStateError(
                    f"cannot create the sandbox folder {folder}: {reason}"
                ) from None
        self._db = self._open()

    @staticmethod
    def delete(path: str) -> None:
        """Remove the database at ``path`` and its journals (a corrupt one, say)."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
        except sqlite3.Error as error:
            raise _state_error(self.path, error) from None
        try:
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            db.close()
            raise _state_error(self.path, error) from None
        return db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (one API request)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if not _unusable(error):
                    raise  # a mistake in a statement: a bug of the sandbox's, not the file's
                raise _state_error(self.path, error) from None

    def clear(self) -> None:
        with self.transaction() as db:
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence")

    # -- small typed helpers ------------------------------------------------------------

    @staticmethod
    def one(db: sqlite3.Connection, sql: str, *args: Any) -> Record | None:
        row = db.execute(sql, args).fetchone()
        return None if row is None else json.loads(row[0])

    @staticmethod
    def many(db: sqlite3.Connection, sql: str, *args: Any) -> list[Record]:
        return [json.loads(row[0]) for row in db.execute(sql, args)]

    @staticmethod
    def scalar(db: sqlite3.Connection, sql: str, *args: Any) -> Any:
        row = db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def dumps(record: Record) -> str:
    return json.dumps(record, separators=(",", ":"))
