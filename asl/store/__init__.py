"""Stores for durable executions: the interface (:mod:`.base`), in memory (:mod:`.memory`) and SQLite
(:mod:`.sqlite`). :func:`open_store` opens the one a path or the ``ASL_STORE`` environment variable names."""

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


def default_path() -> Path:
    """``$ASL_STORE`` if set, else ``.asl/store.db`` under the current directory."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def open_store(path: str | os.PathLike[str] | None = None, create: bool = True) -> Store:
    """The store at ``path`` (``:memory:`` for a MemoryStore), by default :func:`default_path`.

    ``create``: make the file, and its directory, when there is none (what commands that write want). Without
    it a missing file is a :class:`StoreError` naming the path, and nothing is created: for commands that only
    read."""
    if path is not None and str(path) == ":memory:":
        return MemoryStore()
    return SQLiteStore(default_path() if path is None else path, create=create)


__all__ = ["ABORTED", "FAILED", "PENDING", "RUNNING", "SUCCEEDED", "TIMED_OUT", "ActivityRecord", "Commit", "Conflict",
           "Event", "ExecutionRecord", "Finish", "MemoryStore", "SQLiteStore", "StateMachineRecord", "Store", "StoreDamaged", "StoreError",
           "StoreUnavailable",
           "TokenRecord", "default_path", "open_store"]
