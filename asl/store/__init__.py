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


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """The store at ``path`` (``:memory:`` for a MemoryStore), by default :func:`default_path`."""
    if path is not None and str(path) == ":memory:":
        return MemoryStore()
    return SQLiteStore(default_path() if path is None else path)


__all__ = ["ABORTED", "FAILED", "PENDING", "RUNNING", "SUCCEEDED", "TIMED_OUT", "ActivityRecord", "Commit", "Conflict",
           "Event", "ExecutionRecord", "Finish", "MemoryStore", "SQLiteStore", "StateMachineRecord", "Store", "StoreError", "StoreUnavailable",
           "TokenRecord", "default_path", "open_store"]
