"""The embedded durable store: one SQLite file (standard library ``sqlite3``, WAL).

Design and measurements: ``docs/design.md`` (Store) and ``../shared/reference/durable-store.md``. Every commit is
one ``BEGIN IMMEDIATE`` transaction, so workers in several processes on one file see each other's writes in
order; ``synchronous=FULL`` by default (durable against power loss), ``NORMAL`` on request (durable against a
process crash, about twice as fast).

A file that is not an asl store (another application's database, even an empty one, a file that is not SQLite,
a newer schema) is refused with :class:`~asl.store.base.StoreError` and never written to; an asl store that SQLite
finds corrupt is :class:`~asl.store.base.StoreDamaged`. No ``sqlite3`` exception leaves a method: a condition that
may pass (locked past the busy timeout, disk full, read-only, I/O error) is
:class:`~asl.store.base.StoreUnavailable`, anything else :class:`~asl.store.base.StoreError`, each naming the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import (
    StoreError,
    StoreUnavailable,
)
from .rules import RuleStore, Transaction
from .sql import SQLITE, SQLTransaction
from .sqlfile import (
    APPLICATION_ID,
    Header,
    failure,
    primary_code,
    read_header,
    read_only_filesystem,
    reads,
    unopenable,
    writes,
)

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE state_machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, role_arn TEXT NOT NULL,
    type TEXT NOT NULL, created REAL NOT NULL, revision INTEGER NOT NULL);
CREATE TABLE executions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    input TEXT NOT NULL, definition TEXT NOT NULL, type TEXT NOT NULL, role_arn TEXT NOT NULL, seed TEXT NOT NULL,
    start REAL NOT NULL, stop REAL, output TEXT, error TEXT, cause TEXT,
    wake_at REAL, lease_owner TEXT, lease_until REAL, signal INTEGER NOT NULL DEFAULT 0,
    next_event INTEGER NOT NULL, parent_token TEXT);
CREATE INDEX executions_due ON executions(status, wake_at);
CREATE INDEX executions_by_machine ON executions(state_machine_arn, start);
CREATE TABLE events (
    execution_arn TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (execution_arn, id)) WITHOUT ROWID;
CREATE TABLE task_tokens (
    token TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, created REAL NOT NULL, activity_arn TEXT, input TEXT,
    status TEXT NOT NULL, output TEXT, error TEXT, cause TEXT, heartbeat_at REAL, started_at REAL,
    worker_name TEXT, closed_at REAL);
CREATE INDEX task_tokens_by_execution ON task_tokens(execution_arn, status);
CREATE INDEX task_tokens_by_activity ON task_tokens(activity_arn, status, started_at, created);
CREATE TABLE activities (arn TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL);
"""

# Version 2: mocked test cases and versions on executions, state machine versions, aliases and tags. A version 1
# file is brought up to date in place when opened (one transaction: it is either done or not at all).
_SCHEMA_2 = """
ALTER TABLE executions ADD COLUMN test_case TEXT;
ALTER TABLE executions ADD COLUMN version_arn TEXT;
ALTER TABLE executions ADD COLUMN alias_arn TEXT;
ALTER TABLE state_machines ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
CREATE TABLE versions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, number INTEGER NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, type TEXT NOT NULL, revision INTEGER NOT NULL, created REAL NOT NULL, description TEXT);
CREATE INDEX versions_by_machine ON versions(state_machine_arn, number);
CREATE TABLE aliases (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL, routing TEXT NOT NULL,
    created REAL NOT NULL, description TEXT, updated REAL);
CREATE TABLE tags (
    resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)) WITHOUT ROWID;
"""


# Version 3: a row of `events` may hold the run of events one commit wrote, as a JSON array whose first event has
# the row's id (one row instead of one per event: the inserts were a third of a commit). Rows written before hold one
# event object each and read the same, so the upgrade only sets the version.

# Version 4: Distributed Map Runs, their child executions marked as such, and redrives.
_SCHEMA_4 = """
ALTER TABLE executions ADD COLUMN map_run_arn TEXT;
ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN redrive_date REAL;
CREATE INDEX executions_by_map_run ON executions(map_run_arn, start);
CREATE TABLE map_runs (
    arn TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, status TEXT NOT NULL, start REAL NOT NULL,
    max_concurrency INTEGER NOT NULL, tolerated_failure_count INTEGER,
    tolerated_failure_percentage REAL, inputs TEXT NOT NULL, batched INTEGER NOT NULL, stop REAL,
    outcomes TEXT, results_written INTEGER NOT NULL, redrive_count INTEGER NOT NULL, decision TEXT);
CREATE INDEX map_runs_by_execution ON map_runs(execution_arn, start);
"""


class SQLiteStore(RuleStore):
    """A :class:`~asl.store.base.Store` in one SQLite file, created on first use (unless ``create`` is false: then
    a missing file is a :class:`StoreError` and nothing is created, for commands that only read).

    Each thread gets its own connection; one store object may be shared by a worker's threads. A store on a
    read-only file (or file system) serves reads, and every write is :class:`StoreUnavailable`.
    """

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "FULL", busy_timeout: float = 30.0,
                 create: bool = True):
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.create = create
        self._uri = self.path.absolute().as_uri()
        # read as immutable (no -shm file, no locks): only on a read-only file system, where nobody can write it
        self._immutable = False
        self._local = threading.local()
        self._open()

    # -- connections and schema ---------------------------------------------------------------------------
    def _connect(self, create: bool = False) -> sqlite3.Connection:
        """A new connection to the file; it is created only with ``create`` (a URI with mode=rw never makes a
        file, so a store deleted under a running worker is an error instead of an empty new file)."""
        mode = "ro&immutable=1" if self._immutable else "rwc" if create else "rw"
        return sqlite3.connect(f"{self._uri}?mode={mode}", uri=True, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)

    @writes
    def _open(self) -> None:
        """Check what the file is, make it a store if it is fresh (and ``create``), and bring an older store's
        schema up to date. Anything but an asl store this asl can read is refused before a byte is written."""
        p = self.path
        if p.is_dir():
            raise StoreError(f"{p}: is a directory, not an asl store file")
        if not self.create and not p.exists():
            raise StoreError(f"{p}: no asl store there (no such file)")
        if self.create:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"{p}: cannot make the directory of the asl store: {exc.strerror or exc}") from None
        header = self._probe()
        if header.fresh:
            if not self.create:
                raise StoreError(f"{p}: not an asl store yet (an empty file); it was left unchanged")
            with self._tx() as c:
                header = read_header(c)
                if header.fresh:  # nobody made it meanwhile
                    for statement in (_SCHEMA + _SCHEMA_2 + _SCHEMA_4).split(";"):
                        if statement.strip():
                            c.execute(statement)
                    c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    return
        if header.application_id != APPLICATION_ID:
            what = "a SQLite database of another application" if header.tables else \
                f"an empty SQLite database of another application: {header.marks()}"
            raise StoreError(f"{p}: not an asl store ({what}); it was left unchanged")
        if header.user_version > SCHEMA_VERSION:
            raise StoreError(f"{p}: written by a newer asl (store schema version {header.user_version}; this asl reads "
                             f"up to {SCHEMA_VERSION}); it was left unchanged")
        if header.user_version < SCHEMA_VERSION:
            with self._tx() as c:
                current = c.execute("PRAGMA user_version").fetchone()[0]  # another process may have upgraded it
                if current == 1:
                    for statement in _SCHEMA_2.split(";"):
                        if statement.strip():
                            c.execute(statement)
                if 1 <= current < 4:  # 2 → 3 changes no table
                    for statement in _SCHEMA_4.split(";"):
                        if statement.strip():
                            c.execute(statement)
                if current < SCHEMA_VERSION:
                    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _probe(self) -> Header:
        """Read the file's header on a bare connection, in one read transaction (a consistent view while another
        process may be creating the store). Bare: setting WAL on a foreign file would modify it."""

        def read() -> Header:
            probe = self._connect(create=self.create)
            try:
                probe.execute("BEGIN")
                header = read_header(probe)
                probe.execute("COMMIT")
                return header
            finally:
                probe.close()

        try:
            return read()
        except sqlite3.Error as exc:
            # A store in WAL mode needs a -shm file beside it, which a read-only file system cannot take. With no
            # WAL file left either, the main file is the whole store and nobody can change it: read it as such.
            wal = Path(f"{self.path}-wal")
            if not (primary_code(exc) == sqlite3.SQLITE_CANTOPEN and read_only_filesystem(self.path)
                    and (not wal.exists() or wal.stat().st_size == 0)):
                raise unopenable(self.path, exc, self.busy_timeout) from exc
        self._immutable = True
        try:
            return read()
        except sqlite3.Error as exc:
            raise unopenable(self.path, exc, self.busy_timeout) from exc

    def _file_state(self) -> tuple[int, int, int]:
        """What tells that the main file changed: its inode, size and modification time."""
        st = self.path.stat()
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _immutable_conn(self) -> sqlite3.Connection | None:
        """This thread's connection to a store read as immutable, if it still reads the file as it is. SQLite
        trusts an immutable file never to change; on a read-only mount of a folder that is written through another
        mount it can, so the connection is made again when the file changed, and a store whose WAL holds commits
        (which an immutable reader cannot see) is refused until they are checkpointed."""
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreUnavailable(f"{self.path}: the asl store is being written through another path (its WAL holds "
                                   "commits this read-only mount cannot read); read it where it is written")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "file_state", None) != self._file_state():
            conn.close()
            conn = self._local.conn = None
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = (self._immutable_conn() if self._immutable
                                           else getattr(self._local, "conn", None))
        if conn is None:
            if self._immutable:
                self._local.file_state = self._file_state()
            conn = self._connect()
            try:
                if not self._immutable:
                    self._use_wal(conn)
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode (it stays so). Switching needs the file to itself and SQLite reports a busy
        file at once rather than waiting, so while other processes open a new store too, try again until the
        busy timeout. A read-only file stays as it is: it still serves reads."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if primary_code(exc) == sqlite3.SQLITE_READONLY:
                    return
                if primary_code(exc) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @reads
    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def _discard(self, c: sqlite3.Connection) -> None:
        """Close this thread's connection ``c`` after a failure left it in doubt; the next call opens another."""
        if getattr(self._local, "conn", None) is c:
            self._local.conn = None
        with contextlib.suppress(sqlite3.Error):  # closing discards the transaction all the same
            c.close()

    @contextmanager
    def _tx(self, lease_only: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue instead of deadlocking. A failure
        anywhere, COMMIT included, rolls it all back: nothing of it is written.

        ``lease_only``: the transaction writes nothing but leases, which need not survive a power loss (a lost
        lease only frees its execution for any worker, which is what a dead worker's lease comes to anyway), so
        it commits without waiting for the disk. The WAL is written in order, so the next synced commit makes it
        durable too."""
        c = self._conn()
        relax = lease_only and self.synchronous == "FULL"
        if relax:
            c.execute("PRAGMA synchronous=NORMAL")
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                self._rollback(c)
                raise
        finally:
            if relax and getattr(self._local, "conn", None) is c:
                c.execute("PRAGMA synchronous=FULL")

    def _rollback(self, c: sqlite3.Connection) -> None:
        """Roll back the failed transaction on ``c``. SQLite may have rolled it back itself already (it does on a
        full disk, an I/O error or out of memory); when the ROLLBACK fails too, closing the connection discards
        the transaction (uncommitted changes never reach the file), and the caller's error stands."""
        if not c.in_transaction:
            return
        try:
            c.execute("ROLLBACK")
        except sqlite3.Error:
            self._discard(c)

    @contextmanager
    def transaction(self, lease_only: bool = False) -> Iterator[Transaction]:
        try:
            with self._tx(lease_only) as c:
                yield SQLTransaction(c, SQLITE)
        except sqlite3.Error as exc:
            raise failure(self.path, exc, True, self.busy_timeout) from exc
        except UnicodeEncodeError as exc:  # a lone surrogate, which no UTF-8 text can hold
            raise StoreError(f"{self.path}: cannot store text that is not valid Unicode ({exc.reason} at position "
                             f"{exc.start}); nothing was written") from exc

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        try:
            yield SQLTransaction(self._conn(), SQLITE)
        except sqlite3.Error as exc:
            raise failure(self.path, exc, False, self.busy_timeout) from exc
