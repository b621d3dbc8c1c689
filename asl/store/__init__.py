"""Stores for durable executions: the interface (:mod:`.base`), its rules written once (:mod:`.rules`), and the
backends that only persist: in memory (:mod:`.memory`), SQLite (:mod:`.sqlite`) and PostgreSQL (:mod:`.postgres`).
:func:`open_store` opens the one a path, a URL or the ``ASL_STORE`` environment variable names."""

from __future__ import annotations

import os
from pathlib import Path

from .base import (
    ABORTED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    ActivityRecord,
    Commit,
    Conflict,
    Event,
    ExecutionRecord,
    Finish,
    StateMachineRecord,
    Store,
    StoreDamaged,
    StoreError,
    StoreUnavailable,
    TokenRecord,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

DEFAULT_PATH = Path(".asl") / "store.db"
ENV_VAR = "ASL_STORE"


def default_path() -> str | Path:
    """``$ASL_STORE`` if set (a path or a ``postgresql://`` URL), else ``.asl/store.db`` under the current
    directory."""
    location = os.environ.get(ENV_VAR)
    if location and is_url(location):
        return location
    return Path(location or DEFAULT_PATH)


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a store location is a PostgreSQL URL (``postgresql://...`` or ``postgres://...``)."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_store(path: str | os.PathLike[str] | None = None, create: bool = True) -> Store:
    """The store at ``path``: a SQLite file, a PostgreSQL database by URL (``postgresql://user@host/db``), or
    ``:memory:`` for a MemoryStore; by default :func:`default_path`.

    ``create``: make the file (and its directory) or the database schema when there is none, what commands that
    write want. Without it a missing store is a :class:`StoreError` naming it, and nothing is created: for
    commands that only read."""
    location = default_path() if path is None else path
    if str(location) == ":memory:":
        return MemoryStore()
    if is_url(location):
        from .postgres import PostgresStore  # psycopg is imported only for a PostgreSQL store

        return PostgresStore(str(location), create=create)
    return SQLiteStore(location, create=create)


__all__ = ["ABORTED", "FAILED", "PENDING", "RUNNING", "SUCCEEDED", "TIMED_OUT", "ActivityRecord", "Commit", "Conflict",
           "Event", "ExecutionRecord", "Finish", "MemoryStore", "SQLiteStore", "StateMachineRecord", "Store", "StoreDamaged", "StoreError",
           "StoreUnavailable",
           "TokenRecord", "default_path", "is_url", "open_store"]
