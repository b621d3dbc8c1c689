"""The file under :class:`~asl.store.sqlite.SQLiteStore`: what a file is (fresh, an asl store, another
application's database, a damaged store) and what SQLite's errors mean to the store's users.

No ``sqlite3`` exception leaves the store: :func:`reads` and :func:`writes` wrap its methods and turn each into a
:class:`~asl.store.base.StoreError` naming the file, :class:`~asl.store.base.StoreUnavailable` for conditions that
may pass and :class:`~asl.store.base.StoreDamaged` for a file SQLite finds corrupt.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from .base import StoreDamaged, StoreError, StoreUnavailable

APPLICATION_ID = 0x41534C31  # "ASL1": marks the file as an asl store
MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

# SQLite's primary result codes for conditions that may pass, with what they mean to someone using the store.
_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY: "it stayed locked by another connection for longer than the busy timeout ({timeout:g} s)",
    sqlite3.SQLITE_LOCKED: "it stayed locked by another connection for longer than the busy timeout ({timeout:g} s)",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "it is read-only",
    sqlite3.SQLITE_IOERR: "an I/O error",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_PERM: "permission denied",
    sqlite3.SQLITE_NOMEM: "out of memory",
    sqlite3.SQLITE_PROTOCOL: "a file locking error",
}
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


@dataclass(frozen=True)
class Header:
    """What a database says of itself, read through SQLite (so pages still in the WAL count)."""

    application_id: int
    user_version: int
    schema_version: int
    page_count: int
    freelist_count: int
    encoding: str
    tables: int

    @property
    def fresh(self) -> bool:
        """Nothing was ever put in it, so it may become a store: zero bytes, or the bare header that switching an
        empty file to WAL leaves (as another asl process creating the store does for a moment). Another
        application's empty database shows its hand in the header: an application id or a user version, a
        schema changed (tables made and dropped), pages past the first, a text encoding other than UTF-8."""
        return (self.tables == 0 and self.application_id == 0 and self.user_version == 0 and self.schema_version == 0
                and self.page_count <= 1 and self.freelist_count == 0 and self.encoding == "UTF-8")

    def marks(self) -> str:
        """What shows that a database with no tables is someone's, for messages."""
        marks = [f"{what} {value}" for what, value in (("application id", self.application_id),
                                                        ("user version", self.user_version),
                                                        ("schema version", self.schema_version)) if value]
        if self.page_count > 1:
            marks.append(f"{self.page_count} pages")
        if self.encoding != "UTF-8":
            marks.append(f"encoding {self.encoding}")
        return ", ".join(marks)


def read_header(c: sqlite3.Connection) -> Header:
    """The header of the database ``c`` is connected to (call it within one transaction: a consistent view)."""
    def pragma(name: str) -> Any:
        return c.execute(f"PRAGMA {name}").fetchone()[0]

    return Header(pragma("application_id"), pragma("user_version"), pragma("schema_version"), pragma("page_count"),
                  pragma("freelist_count"), pragma("encoding"), c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])


def primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error (None for errors of the Python module, such as a closed
    connection)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def failure(path: Path, exc: sqlite3.Error, write: bool, busy_timeout: float) -> StoreError:
    """The StoreError for an error of SQLite while reading or writing the store at ``path``."""
    code = primary_code(exc)
    if code in _DAMAGED:
        return StoreDamaged(f"{path}: the asl store is damaged: {exc}; it was left unchanged")
    if code is not None and code in _UNAVAILABLE:
        reason = _UNAVAILABLE[code].format(timeout=busy_timeout)
        if write:  # the transaction rolled back, or never began
            return StoreUnavailable(f"{path}: cannot write to the asl store: {reason} ({exc}); nothing was written")
        return StoreUnavailable(f"{path}: cannot read the asl store: {reason} ({exc})")
    return StoreError(f"{path}: cannot use the asl store: {exc}")


def unopenable(path: Path, exc: sqlite3.Error, busy_timeout: float) -> StoreError:
    """The StoreError for a file SQLite could not open or read the header of. A file SQLite finds corrupt is
    told apart by its first bytes: an asl store (its application id is there) is damaged; a file that is not
    SQLite, or another application's database, is not an asl store."""
    if primary_code(exc) not in _DAMAGED:
        if primary_code(exc) == sqlite3.SQLITE_CANTOPEN and not os.access(path.parent, os.W_OK):
            if not path.exists():
                return StoreUnavailable(f"{path}: cannot make the asl store: its directory is not writable ({exc})")
            return StoreUnavailable(f"{failure(path, exc, False, busy_timeout)}: SQLite needs to make "
                                    f"{path.name}-shm beside it to read a store, and its directory is not writable")
        return failure(path, exc, False, busy_timeout)
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as os_exc:
        return StoreUnavailable(f"{path}: cannot read the asl store: {os_exc.strerror or os_exc}")
    if not head.startswith(MAGIC):
        return StoreError(f"{path}: not an asl store (not a SQLite database: {exc}); it was left unchanged")
    if len(head) < 72:
        return StoreDamaged(f"{path}: a damaged SQLite database, cut short at {len(head)} bytes; it was left unchanged")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id == APPLICATION_ID:
        return StoreDamaged(f"{path}: the asl store is damaged: {exc}; it was left unchanged")
    if app_id == 0:  # no mark in the main file: a store whose pages were all still in its WAL, or anyone's
        return StoreDamaged(f"{path}: a damaged SQLite database ({exc}), whether an asl store or not; "
                            "it was left unchanged")
    return StoreError(f"{path}: not an asl store (a damaged SQLite database of another application: {exc}); "
                      "it was left unchanged")


def read_only_filesystem(path: Path) -> bool:
    """Whether the file system that holds ``path`` is mounted read-only (then nobody writes the file, and SQLite
    may read it as immutable, with no -shm file beside it)."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


P = ParamSpec("P")
R = TypeVar("R")


def _guard(write: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except sqlite3.Error as exc:
                store: Any = args[0]
                raise failure(store.path, exc, write, store.busy_timeout) from exc

        return guarded

    return decorate


reads = _guard(write=False)
"""Decorate a store method that only reads: an SQLite error leaves it as the StoreError it means."""

writes = _guard(write=True)
"""Decorate a store method that writes (in one transaction, rolled back on failure), likewise."""
