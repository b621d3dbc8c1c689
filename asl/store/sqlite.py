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
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..jsontext import dumps
from .base import (
    ABORTED,
    CLOSED,
    PENDING,
    RUNNING,
    ActivityRecord,
    AliasRecord,
    Commit,
    Conflict,
    Event,
    ExecutionRecord,
    ParentClose,
    StateMachineRecord,
    StoreError,
    StoreUnavailable,
    TokenRecord,
    VersionRecord,
)
from .sqlfile import (
    APPLICATION_ID,
    Header,
    primary_code,
    read_header,
    read_only_filesystem,
    reads,
    unopenable,
    writes,
)

SCHEMA_VERSION = 3

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

# The most events in one row: a commit of more takes several. A page of history decodes the rows it overlaps, so
# this bounds what a page reads past its own events (a Map of 10,000 iterations may commit them all at once).
_RUN = 100


def _ts(d: datetime | None) -> float | None:
    return None if d is None else d.timestamp()


def _dt(x: float | None) -> datetime | None:
    return None if x is None else datetime.fromtimestamp(x, UTC)


def _epoch(ev: Event) -> Event:
    """The event as stored: its timestamp in epoch seconds."""
    ts = ev["timestamp"]
    return {**ev, "timestamp": ts.timestamp()} if isinstance(ts, datetime) else ev


def _dump_event(ev: Event) -> str:
    return dumps(_epoch(ev))


def _dump_events(events: Sequence[Event]) -> str:
    """A run of consecutive events as one JSON array (schema 3)."""
    return dumps([_epoch(ev) for ev in events])


def _load_events(text: str) -> list[Event]:
    """The events of one row: a run of them (an array) or one (an object, as rows before schema 3 hold)."""
    loaded = json.loads(text)
    events: list[Event] = loaded if isinstance(loaded, list) else [loaded]
    for ev in events:
        ev["timestamp"] = datetime.fromtimestamp(ev["timestamp"], UTC)
    return events


_EXEC_COLS = ("arn, state_machine_arn, name, status, input, definition, type, role_arn, seed, start, stop, output, "
              "error, cause, wake_at, lease_owner, lease_until, signal, parent_token, test_case, version_arn, alias_arn")
_TOKEN_COLS = ("token, execution_arn, created, activity_arn, input, status, output, error, cause, heartbeat_at, "
               "started_at, worker_name, closed_at")


def _execution(row: sqlite3.Row | tuple[Any, ...]) -> ExecutionRecord:
    r = list(row)
    return ExecutionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], _dt(r[9]) or datetime.now(UTC),
                           _dt(r[10]), r[11], r[12], r[13], _dt(r[14]), r[15], _dt(r[16]), r[17], r[18], r[19], r[20], r[21])


def _token(row: tuple[Any, ...]) -> TokenRecord:
    r = list(row)
    return TokenRecord(r[0], r[1], _dt(r[2]) or datetime.now(UTC), r[3], r[4], r[5], r[6], r[7], r[8], _dt(r[9]),
                       _dt(r[10]), r[11], _dt(r[12]))


class SQLiteStore:
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
                    for statement in (_SCHEMA + _SCHEMA_2).split(";"):
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
                if current < SCHEMA_VERSION:  # 2 → 3 changes no table
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

    def _one(self, sql: str, args: Sequence[Any]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn().execute(sql, args).fetchone()
        return row

    # -- state machines and activities ----------------------------------------------------------------------
    @writes
    def put_state_machine(self, sm: StateMachineRecord, replace: bool = False) -> None:
        with self._tx() as c:
            if not replace and c.execute("SELECT 1 FROM state_machines WHERE arn=?", (sm.arn,)).fetchone():
                raise Conflict(sm.arn)
            # an update keeps the count of versions published
            c.execute("INSERT INTO state_machines (arn, name, definition, role_arn, type, created, revision) "
                      "VALUES (?,?,?,?,?,?,?) ON CONFLICT(arn) DO UPDATE SET name=excluded.name, "
                      "definition=excluded.definition, role_arn=excluded.role_arn, type=excluded.type, "
                      "created=excluded.created, revision=excluded.revision",
                      (sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, _ts(sm.created), sm.revision))

    @reads
    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        r = self._one("SELECT arn, name, definition, role_arn, type, created, revision FROM state_machines WHERE arn=?",
                      (arn,))
        return None if r is None else StateMachineRecord(r[0], r[1], r[2], r[3], r[4], _dt(r[5]) or datetime.now(UTC), r[6])

    @reads
    def list_state_machines(self) -> list[StateMachineRecord]:
        rows = self._conn().execute("SELECT arn FROM state_machines ORDER BY created").fetchall()
        return [sm for (arn,) in rows if (sm := self.get_state_machine(arn)) is not None]

    @writes
    def delete_state_machine(self, arn: str) -> bool:
        with self._tx() as c:
            for table in ("versions", "aliases"):
                c.execute(f"DELETE FROM tags WHERE resource_arn IN (SELECT arn FROM {table} WHERE state_machine_arn=?)",
                          (arn,))
                c.execute(f"DELETE FROM {table} WHERE state_machine_arn=?", (arn,))
            c.execute("DELETE FROM tags WHERE resource_arn=?", (arn,))
            return c.execute("DELETE FROM state_machines WHERE arn=?", (arn,)).rowcount > 0

    # -- versions, aliases and tags --------------------------------------------------------------------------
    _VERSION_COLS = "arn, state_machine_arn, number, definition, role_arn, type, revision, created, description"

    @staticmethod
    def _version(r: Sequence[Any]) -> VersionRecord:
        return VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _dt(r[7]) or datetime.now(UTC), r[8])

    @writes
    def publish_version(self, sm_arn: str, description: str | None, now: datetime) -> VersionRecord | None:
        with self._tx() as c:
            sm = c.execute("SELECT definition, role_arn, type, revision, published FROM state_machines WHERE arn=?",
                           (sm_arn,)).fetchone()
            if sm is None:
                return None
            newest = c.execute(f"SELECT {self._VERSION_COLS} FROM versions WHERE state_machine_arn=? "
                               "ORDER BY number DESC LIMIT 1", (sm_arn,)).fetchone()
            if newest is not None and newest[6] == sm[3]:
                return self._version(newest)
            n = sm[4] + 1
            v = VersionRecord(f"{sm_arn}:{n}", sm_arn, n, sm[0], sm[1], sm[2], sm[3], now, description)
            c.execute("UPDATE state_machines SET published=? WHERE arn=?", (n, sm_arn))
            c.execute(f"INSERT INTO versions ({self._VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
                      (v.arn, sm_arn, n, v.definition, v.role_arn, v.type, v.revision, _ts(now), description))
            return v

    @reads
    def get_version(self, arn: str) -> VersionRecord | None:
        r = self._one(f"SELECT {self._VERSION_COLS} FROM versions WHERE arn=?", (arn,))
        return None if r is None else self._version(r)

    @reads
    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        rows = self._conn().execute(f"SELECT {self._VERSION_COLS} FROM versions WHERE state_machine_arn=? "
                                    "ORDER BY number DESC", (sm_arn,)).fetchall()
        return [self._version(r) for r in rows]

    @writes
    def delete_version(self, arn: str) -> bool:
        with self._tx() as c:
            c.execute("DELETE FROM tags WHERE resource_arn=?", (arn,))
            return c.execute("DELETE FROM versions WHERE arn=?", (arn,)).rowcount > 0

    _ALIAS_COLS = "arn, state_machine_arn, name, routing, created, description, updated"

    @staticmethod
    def _alias(r: Sequence[Any]) -> AliasRecord:
        routing = tuple((str(a), int(w)) for a, w in json.loads(r[3]))
        return AliasRecord(r[0], r[1], r[2], routing, _dt(r[4]) or datetime.now(UTC), r[5], _dt(r[6]))

    @writes
    def put_alias(self, alias: AliasRecord, replace: bool = False) -> None:
        a = alias
        with self._tx() as c:
            if not replace and c.execute("SELECT 1 FROM aliases WHERE arn=?", (a.arn,)).fetchone():
                raise Conflict(a.arn)
            c.execute(f"INSERT OR REPLACE INTO aliases ({self._ALIAS_COLS}) VALUES (?,?,?,?,?,?,?)",
                      (a.arn, a.state_machine_arn, a.name, json.dumps([list(r) for r in a.routing]), _ts(a.created),
                       a.description, _ts(a.updated)))

    @reads
    def get_alias(self, arn: str) -> AliasRecord | None:
        r = self._one(f"SELECT {self._ALIAS_COLS} FROM aliases WHERE arn=?", (arn,))
        return None if r is None else self._alias(r)

    @reads
    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        rows = self._conn().execute(f"SELECT {self._ALIAS_COLS} FROM aliases WHERE state_machine_arn=? ORDER BY created",
                                    (sm_arn,)).fetchall()
        return [self._alias(r) for r in rows]

    @writes
    def delete_alias(self, arn: str) -> bool:
        with self._tx() as c:
            c.execute("DELETE FROM tags WHERE resource_arn=?", (arn,))
            return c.execute("DELETE FROM aliases WHERE arn=?", (arn,)).rowcount > 0

    @reads
    def tags(self, arn: str) -> dict[str, str]:
        rows = self._conn().execute("SELECT key, value FROM tags WHERE resource_arn=? ORDER BY key", (arn,)).fetchall()
        return {k: v for k, v in rows}

    @writes
    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str] = ()) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO tags VALUES (?,?,?)", [(arn, k, v) for k, v in add.items()])
            c.executemany("DELETE FROM tags WHERE resource_arn=? AND key=?", [(arn, k) for k in remove])

    @writes
    def put_activity(self, activity: ActivityRecord) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO activities VALUES (?,?,?)", (activity.arn, activity.name, _ts(activity.created)))

    @reads
    def get_activity(self, arn: str) -> ActivityRecord | None:
        r = self._one("SELECT arn, name, created FROM activities WHERE arn=?", (arn,))
        return None if r is None else ActivityRecord(r[0], r[1], _dt(r[2]) or datetime.now(UTC))

    @reads
    def list_activities(self) -> list[ActivityRecord]:
        rows = self._conn().execute("SELECT arn, name, created FROM activities ORDER BY created").fetchall()
        return [ActivityRecord(a, n, _dt(c) or datetime.now(UTC)) for a, n, c in rows]

    @writes
    def delete_activity(self, arn: str) -> bool:
        with self._tx() as c:
            c.execute("DELETE FROM tags WHERE resource_arn=?", (arn,))
            return c.execute("DELETE FROM activities WHERE arn=?", (arn,)).rowcount > 0

    # -- executions --------------------------------------------------------------------------------------------
    @writes
    def create_execution(self, execution: ExecutionRecord, started: Event) -> None:
        e = execution
        with self._tx() as c:
            if c.execute("SELECT 1 FROM executions WHERE arn=?", (e.arn,)).fetchone():
                raise Conflict(e.arn)
            c.execute(f"INSERT INTO executions ({_EXEC_COLS}, next_event) VALUES ({','.join('?' * 23)})",
                      (e.arn, e.state_machine_arn, e.name, e.status, e.input, e.definition, e.type, e.role_arn, e.seed,
                       _ts(e.start), _ts(e.stop), e.output, e.error, e.cause, _ts(e.wake_at), e.lease_owner,
                       _ts(e.lease_until), e.signal, e.parent_token, e.test_case, e.version_arn, e.alias_arn,
                       started["id"] + 1))
            c.execute("INSERT INTO events VALUES (?,?,?)", (e.arn, started["id"], _dump_event(started)))

    @reads
    def get_execution(self, arn: str) -> ExecutionRecord | None:
        r = self._one(f"SELECT {_EXEC_COLS} FROM executions WHERE arn=?", (arn,))
        return None if r is None else _execution(r)

    @reads
    def list_executions(self, state_machine_arn: str | None = None, status: str | None = None) -> list[ExecutionRecord]:
        where, args = [], []
        if state_machine_arn is not None:
            where.append("state_machine_arn=?")
            args.append(state_machine_arn)
        if status is not None:
            where.append("status=?")
            args.append(status)
        sql = f"SELECT {_EXEC_COLS} FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        return [_execution(r) for r in self._conn().execute(sql + " ORDER BY start DESC, arn", args).fetchall()]

    @reads
    def events(self, arn: str, after_id: int | None = None, limit: int | None = None,
               reverse: bool = False) -> list[Event]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        # A row holds the run of events from its id on, so the rows that overlap the range are: forwards, the one
        # holding event after_id + 1 (the last to start at or before it) and those after it; backwards, those that
        # start before after_id. Each row has an event in the range, so limit rows are the most it can take.
        where = "execution_arn=?"
        args: list[Any] = [arn]
        if reverse and after_id is not None:
            where += " AND id < ?"
            args.append(after_id)
        elif after_id is not None:
            where += " AND id >= coalesce((SELECT max(id) FROM events WHERE execution_arn=? AND id <= ?), 0)"
            args += [arn, after_id + 1]
        rows = -1 if limit is None else limit
        cursor = self._conn().execute(f"SELECT body FROM events WHERE {where} ORDER BY id {'DESC' if reverse else ''} "
                                      "LIMIT ?", (*args, rows))
        out: list[Event] = []
        try:
            # row by row, stopping when the range is full: the rows past it are never read
            for (body,) in cursor:
                run = _load_events(body)
                if reverse:
                    run.reverse()
                out += run if after_id is None else [ev for ev in run if (ev["id"] < after_id if reverse else ev["id"] > after_id)]
                if limit is not None and len(out) >= limit:
                    break
        finally:
            cursor.close()  # ends the statement, and with it the read transaction, at once
        return out if limit is None else out[:limit]

    @writes
    def stop_execution(self, arn: str, error: str | None, cause: str | None, now: datetime,
                       close_parent: ParentClose | None = None) -> ExecutionRecord | None:
        with self._tx() as c:
            r = c.execute("SELECT status, next_event FROM executions WHERE arn=?", (arn,)).fetchone()
            if r is None:
                return None
            if r[0] == RUNNING:
                eid = r[1]
                details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
                ev = {"id": eid, "previousEventId": eid - 1, "timestamp": now, "type": "ExecutionAborted",
                      "executionAbortedEventDetails": details}
                c.execute("INSERT INTO events VALUES (?,?,?)", (arn, eid, _dump_event(ev)))
                c.execute("UPDATE executions SET status=?, stop=?, error=?, cause=?, wake_at=NULL, lease_owner=NULL, "
                          "lease_until=NULL, next_event=? WHERE arn=?", (ABORTED, _ts(now), error, cause, eid + 1, arn))
                c.execute("UPDATE task_tokens SET status=?, closed_at=? WHERE execution_arn=? AND status=?",
                          (ABORTED, _ts(now), arn, PENDING))
                self._close_parent(c, close_parent, now)
        return self.get_execution(arn)

    # -- workers -----------------------------------------------------------------------------------------------
    @writes
    def claim(self, owner: str, now: datetime, lease_until: datetime, owner_dead: Callable[[str], bool]) -> ExecutionRecord | None:
        t = _ts(now)
        with self._tx(lease_only=True) as c:
            rows = c.execute("SELECT arn, lease_owner, lease_until FROM executions WHERE status=? AND wake_at<=? "
                             "ORDER BY wake_at LIMIT 64", (RUNNING, t)).fetchall()
            for arn, lease_owner, until in rows:
                if lease_owner is None or until is None or until < t or (lease_owner != owner and owner_dead(lease_owner)):
                    c.execute("UPDATE executions SET lease_owner=?, lease_until=? WHERE arn=?", (owner, _ts(lease_until), arn))
                    r = c.execute(f"SELECT {_EXEC_COLS} FROM executions WHERE arn=?", (arn,)).fetchone()
                    return _execution(r)
        return None

    @writes
    def commit(self, arn: str, owner: str, commit: Commit) -> bool:
        with self._tx() as c:
            r = c.execute("SELECT status, lease_owner, next_event, signal FROM executions WHERE arn=?", (arn,)).fetchone()
            if r is None or r[0] != RUNNING or r[1] != owner:
                return False
            next_event = r[2]
            if commit.events:
                c.executemany("INSERT INTO events VALUES (?,?,?)",
                              [(arn, commit.events[i]["id"], _dump_events(commit.events[i:i + _RUN]))
                               for i in range(0, len(commit.events), _RUN)])
                next_event = commit.events[-1]["id"] + 1
            for tok in commit.tokens:
                c.execute(f"INSERT OR IGNORE INTO task_tokens ({_TOKEN_COLS}) VALUES ({','.join('?' * 13)})",
                          (tok.token, tok.execution_arn, _ts(tok.created), tok.activity_arn, tok.input, tok.status,
                           tok.output, tok.error, tok.cause, _ts(tok.heartbeat_at), _ts(tok.started_at), tok.worker_name,
                           _ts(tok.closed_at)))
            f = commit.finish
            if f is not None:
                c.execute("UPDATE executions SET status=?, stop=?, output=?, error=?, cause=?, wake_at=NULL, "
                          "lease_owner=NULL, lease_until=NULL, next_event=? WHERE arn=?",
                          (f.status, _ts(f.stop), f.output, f.error, f.cause, next_event, arn))
                c.execute("UPDATE task_tokens SET status=?, closed_at=? WHERE execution_arn=? AND status=?",
                          (CLOSED, _ts(f.stop), arn, PENDING))
                self._close_parent(c, commit.close_parent, f.stop)
            elif commit.park:
                # A callback that arrived since the claim (signal moved on) makes the execution due at once.
                wake = commit.wake_at if r[3] == commit.seen_signal else datetime.now(UTC)
                c.execute("UPDATE executions SET wake_at=?, lease_owner=NULL, lease_until=NULL, next_event=? WHERE arn=?",
                          (_ts(wake), next_event, arn))
            else:
                c.execute("UPDATE executions SET lease_until=?, next_event=? WHERE arn=?",
                          (_ts(commit.lease_until), next_event, arn))
        return True

    @writes
    def renew(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        if not arns:
            return
        with self._tx(lease_only=True) as c:
            c.executemany("UPDATE executions SET lease_until=? WHERE arn=? AND lease_owner=?",
                          [(_ts(lease_until), a, owner) for a in arns])

    @reads
    def next_wake(self) -> datetime | None:
        r = self._one("SELECT min(wake_at) FROM executions WHERE status=?", (RUNNING,))
        return None if r is None else _dt(r[0])

    # -- task tokens -------------------------------------------------------------------------------------------
    @reads
    def get_token(self, token: str) -> TokenRecord | None:
        r = self._one(f"SELECT {_TOKEN_COLS} FROM task_tokens WHERE token=?", (token,))
        return None if r is None else _token(r)

    def _close_parent(self, c: sqlite3.Connection, close: ParentClose | None, now: datetime) -> None:
        """Close the token of the parent task that waits for an execution that just ended, and wake the parent."""
        if close is None:
            return
        token, status, output, error, cause = close
        parent = c.execute("SELECT execution_arn FROM task_tokens WHERE token=? AND status=?", (token, PENDING)).fetchone()
        if parent is not None:
            c.execute("UPDATE task_tokens SET status=?, output=?, error=?, cause=?, closed_at=? WHERE token=?",
                      (status, output, error, cause, _ts(now), token))
            self._wake(c, parent[0], now)

    def _wake(self, c: sqlite3.Connection, arn: str, now: datetime) -> None:
        c.execute("UPDATE executions SET wake_at=min(coalesce(wake_at, ?), ?), signal=signal+1 WHERE arn=? AND status=?",
                  (_ts(now), _ts(now), arn, RUNNING))

    def _update_pending(self, token: str, sql: str, args: tuple[Any, ...], now: datetime, wake: bool) -> TokenRecord | None:
        """Apply ``sql`` (its last parameter is the token) to a PENDING token; return the token as it was."""
        with self._tx() as c:
            r = c.execute(f"SELECT {_TOKEN_COLS} FROM task_tokens WHERE token=?", (token,)).fetchone()
            if r is None:
                return None
            before = _token(r)
            if before.status == PENDING:
                c.execute(sql, (*args, token))
                if wake:
                    self._wake(c, before.execution_arn, now)
            return before

    @writes
    def close_token(self, token: str, status: str, now: datetime, output: str | None = None, error: str | None = None,
                    cause: str | None = None) -> TokenRecord | None:
        return self._update_pending(token, "UPDATE task_tokens SET status=?, output=?, error=?, cause=?, closed_at=? WHERE token=?",
                                    (status, output, error, cause, _ts(now)), now, wake=True)

    @writes
    def heartbeat(self, token: str, now: datetime) -> TokenRecord | None:
        return self._update_pending(token, "UPDATE task_tokens SET heartbeat_at=? WHERE token=?", (_ts(now),), now, wake=False)

    @writes
    def take_activity_task(self, activity_arn: str, worker_name: str | None, now: datetime) -> TokenRecord | None:
        with self._tx() as c:
            r = c.execute(f"SELECT {_TOKEN_COLS} FROM task_tokens WHERE activity_arn=? AND status=? AND started_at IS NULL "
                          "ORDER BY created LIMIT 1", (activity_arn, PENDING)).fetchone()
            if r is None:
                return None
            tok = _token(r)
            c.execute("UPDATE task_tokens SET started_at=?, worker_name=? WHERE token=?", (_ts(now), worker_name, tok.token))
            self._wake(c, tok.execution_arn, now)
            return tok
