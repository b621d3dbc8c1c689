"""The store on PostgreSQL (psycopg 3 with psycopg-pool), for workers and ``asl serve`` fronts on many hosts
sharing one database.

The tables live in their own schema (``asl`` unless told otherwise), so a database that holds other tables is
left alone; a schema of that name that is not an asl store, or one written by a newer asl, is refused before
anything is written. Creating and upgrading the schema take an advisory lock, so processes starting together do it
once.

Workers claim due executions with ``FOR UPDATE SKIP LOCKED`` (two workers never wait for the same row), every
commit is fenced by the worker's lease (the rules in :mod:`.rules`), and the statements of a transaction after its
first read are sent together in pipeline mode: a commit is two round trips and one fsync. A transaction that makes
an execution due sends ``NOTIFY``; a thread per process ``LISTEN``s and wakes its idle workers at once, which poll
only as a safety net (a lease that expires sends no notice). Errors of the database or the connection are
:class:`~asl.store.base.StoreUnavailable` (they may pass: the worker backs off and retries) or
:class:`~asl.store.base.StoreError`, naming the database, never a psycopg exception.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import sql as pgsql

from .base import Conflict, StoreError, StoreUnavailable
from .rules import RuleStore, Transaction
from .sql import Dialect, SQLTransaction

SCHEMA_VERSION = 2
DEFAULT_SCHEMA = "asl"
_LOCK_KEY = 0x41534C31  # advisory lock held while the schema is created or upgraded ("ASL1")

_TABLES = """
CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE {s}.state_machines (
    arn text PRIMARY KEY, name text NOT NULL, definition text NOT NULL, role_arn text NOT NULL, type text NOT NULL,
    created timestamptz NOT NULL, revision integer NOT NULL, published integer NOT NULL DEFAULT 0);
CREATE TABLE {s}.executions (
    arn text COLLATE "C" PRIMARY KEY, state_machine_arn text NOT NULL, name text NOT NULL, status text NOT NULL,
    input text NOT NULL, definition text NOT NULL, type text NOT NULL, role_arn text NOT NULL, seed text NOT NULL,
    start timestamptz NOT NULL, stop timestamptz, output text, error text, cause text,
    wake_at timestamptz, lease_owner text, lease_until timestamptz, signal integer NOT NULL DEFAULT 0,
    next_event integer NOT NULL, parent_token text, test_case text, version_arn text, alias_arn text);
CREATE INDEX executions_due ON {s}.executions (wake_at) WHERE status = 'RUNNING';
CREATE INDEX executions_by_machine ON {s}.executions (state_machine_arn, start);
CREATE INDEX executions_by_status ON {s}.executions (status, start);
CREATE TABLE {s}.events (
    execution_arn text NOT NULL, id integer NOT NULL, body text NOT NULL, PRIMARY KEY (execution_arn, id));
CREATE TABLE {s}.task_tokens (
    token text PRIMARY KEY, execution_arn text NOT NULL, created timestamptz NOT NULL, activity_arn text, input text,
    status text NOT NULL, output text, error text, cause text, heartbeat_at timestamptz, started_at timestamptz,
    worker_name text, closed_at timestamptz);
CREATE INDEX task_tokens_by_execution ON {s}.task_tokens (execution_arn, status);
CREATE INDEX task_tokens_by_activity ON {s}.task_tokens (activity_arn, status, started_at, created);
CREATE TABLE {s}.activities (arn text PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL);
CREATE TABLE {s}.versions (
    arn text PRIMARY KEY, state_machine_arn text NOT NULL, number integer NOT NULL, definition text NOT NULL,
    role_arn text NOT NULL, type text NOT NULL, revision integer NOT NULL, created timestamptz NOT NULL,
    description text);
CREATE INDEX versions_by_machine ON {s}.versions (state_machine_arn, number);
CREATE TABLE {s}.aliases (
    arn text PRIMARY KEY, state_machine_arn text NOT NULL, name text NOT NULL, routing text NOT NULL,
    created timestamptz NOT NULL, description text, updated timestamptz);
CREATE TABLE {s}.tags (resource_arn text NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
    PRIMARY KEY (resource_arn, key));
"""

# Version 2: Distributed Map Runs, their child executions marked as such, and redrives.
_TABLES_2 = """
ALTER TABLE {s}.executions ADD COLUMN map_run_arn text;
ALTER TABLE {s}.executions ADD COLUMN redrive_count integer NOT NULL DEFAULT 0;
ALTER TABLE {s}.executions ADD COLUMN redrive_date timestamptz;
CREATE INDEX executions_by_map_run ON {s}.executions (map_run_arn, start);
CREATE TABLE {s}.map_runs (
    arn text COLLATE "C" PRIMARY KEY, execution_arn text NOT NULL, status text NOT NULL, start timestamptz NOT NULL,
    max_concurrency integer NOT NULL, tolerated_failure_count integer,
    tolerated_failure_percentage double precision, inputs text NOT NULL, batched boolean NOT NULL,
    stop timestamptz, outcomes text, results_written integer NOT NULL, redrive_count integer NOT NULL, decision text);
CREATE INDEX map_runs_by_execution ON {s}.map_runs (execution_arn, start);
"""

# SQLSTATE classes of errors that may pass: connection trouble (08), too many connections and the like (53),
# an operator or crash shutdown (57), a deadlock or serialization failure (40), a lock not available (55P03).
_TRANSIENT = ("08", "53", "57", "40", "55P03")


def redacted(url: str) -> str:
    """The URL without its password (in the user part or as a ``password=`` parameter), for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


# A pooled connection unused for this long is checked (one round trip) before it is handed out: after a database
# restart the pool's idle connections are dead, and each would otherwise fail one call. Busy ones are not checked.
_CHECK_AFTER_IDLE = 2.0


_returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()


def _mark_used(conn: psycopg.Connection[Any]) -> None:
    """When a connection went back to the pool (or was made)."""
    _returned[conn] = time.monotonic()


def _check_if_idle(conn: psycopg.Connection[Any]) -> None:
    if time.monotonic() - _returned.get(conn, 0.0) > _CHECK_AFTER_IDLE:
        psycopg_pool.ConnectionPool.check_connection(conn)


def _utc(x: Any) -> datetime | None:
    return None if x is None else x.astimezone(UTC)


class PostgresStore(RuleStore):
    """A :class:`~asl.store.base.Store` in a PostgreSQL database.

    ``url``: a libpq URL (``postgresql://user:password@host:5432/db``, or ``postgresql:///db?host=/run/postgresql``
    for a Unix socket). ``schema``: where the tables go. ``create``: make the schema when there is none (commands
    that only read pass False: then a database without the schema is a :class:`StoreError`). ``pool_size``: the
    most connections this process holds (one per thread that uses the store at once).
    """

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA, create: bool = True, pool_size: int = 16,
                 connect_timeout: float = 10.0):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError(f"schema must be a lower-case SQL name, not {schema!r}")
        self.url = url
        self.path = redacted(url)  # what messages and `asl worker` show for this store
        self.schema = schema
        self.create = create
        self.channel = f"{schema}_due"
        self.connect_timeout = connect_timeout
        self.dialect = Dialect("%s", f"{schema}.", lambda d: d, _utc, " FOR UPDATE", " FOR UPDATE SKIP LOCKED", None,
                               False)
        self._listener: threading.Thread | None = None
        self._heard = 0
        self._heard_changed = threading.Condition()
        self._closed = False
        with self._errors(write=True):
            with self._connect() as conn:
                self._open(conn)
            self._pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                url, min_size=1, max_size=pool_size, kwargs=self._connect_args(), configure=self._configure,
                check=_check_if_idle, reset=_mark_used, timeout=connect_timeout + 20, open=True,
                name=f"asl-{schema}")

    # -- connections and schema ---------------------------------------------------------------------------
    def _connect_args(self) -> dict[str, Any]:
        return {"autocommit": True, "connect_timeout": max(1, round(self.connect_timeout))}

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        # Times in UTC; and no one waits forever: a lock held by a stalled client, or a stalled client's open
        # transaction, ends in an error that may pass (StoreUnavailable), as SQLite's busy timeout does.
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET lock_timeout = '30s'")
        conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        _mark_used(conn)

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, **self._connect_args())
        self._configure(conn)
        return conn

    def _open(self, conn: psycopg.Connection[Any]) -> None:
        """Check what the schema is, make it if there is none (and ``create``), refuse anything else."""
        s = pgsql.Identifier(self.schema)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname=%s", (self.schema,)).fetchone()
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname=%s",
                                                 (self.schema,)).fetchall()]
            where = f"{self.path}: schema {self.schema}"
            if not tables:
                if not self.create:
                    raise StoreError(f"{where}: no asl store there")
                if not exists:
                    conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(s))
                for statement in (_TABLES + _TABLES_2).split(";"):
                    if statement.strip():
                        conn.execute(pgsql.SQL(statement.replace("{s}", "{}")).format(s))
                conn.execute(pgsql.SQL("INSERT INTO {}.meta VALUES ('schema_version', %s)").format(s),
                             (str(SCHEMA_VERSION),))
                return
            if "meta" not in tables:
                raise StoreError(f"{where}: holds tables that are not an asl store ({', '.join(sorted(tables)[:5])}); "
                                 "it was left unchanged (choose another schema)")
            row = conn.execute(pgsql.SQL("SELECT value FROM {}.meta WHERE key='schema_version'").format(s)).fetchone()
            version = int(row[0]) if row is not None and str(row[0]).isdigit() else 0
            if version > SCHEMA_VERSION:
                raise StoreError(f"{where}: written by a newer asl (store schema version {version}; this asl reads up "
                                 f"to {SCHEMA_VERSION}); it was left unchanged")
            if version < 1:
                raise StoreError(f"{where}: not an asl store (no schema version); it was left unchanged")
            if version < 2:  # brought up to date in place, under the advisory lock, in this transaction
                for statement in _TABLES_2.split(";"):
                    if statement.strip():
                        conn.execute(pgsql.SQL(statement.replace("{s}", "{}")).format(s))
                conn.execute(pgsql.SQL("UPDATE {}.meta SET value=%s WHERE key='schema_version'").format(s),
                             (str(SCHEMA_VERSION),))

    @contextmanager
    def _errors(self, write: bool) -> Iterator[None]:
        """psycopg's errors as the store's, naming the database."""
        try:
            yield
        except psycopg.errors.UniqueViolation as exc:  # two creates of one record at once: the later one lost
            raise Conflict(f"{self.path}: {exc.diag.message_detail or exc}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate, which no UTF-8 text can hold
            raise StoreError(f"{self.path}: cannot store text that is not valid Unicode ({exc.reason} at "
                             f"position {exc.start}); nothing was written") from exc
        except psycopg_pool.PoolTimeout as exc:
            raise StoreUnavailable(f"{self.path}: cannot reach the asl store: no database connection within "
                                   f"{self.connect_timeout + 20:g} s ({exc})") from exc
        except psycopg.Error as exc:
            state = exc.sqlstate or ""
            what = "write to" if write else "read"
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if isinstance(exc, psycopg.DataError) and "0x00" in detail:
                detail = "PostgreSQL text cannot hold the character U+0000 (NUL)"
            if isinstance(exc, psycopg.OperationalError) or state.startswith(_TRANSIENT):
                tail = "; nothing was written" if write else ""
                raise StoreUnavailable(f"{self.path}: cannot {what} the asl store: {detail}{tail}") from exc
            raise StoreError(f"{self.path}: cannot use the asl store: {detail}") from exc

    @contextmanager
    def transaction(self, lease_only: bool = False) -> Iterator[Transaction]:
        # In pipeline mode statements are sent without waiting for their results: BEGIN goes out with the
        # transaction's first read (the fence), and the writes after it with the COMMIT, so a commit is two round
        # trips. (psycopg's transaction() would wait for BEGIN and for COMMIT on their own.)
        with self._errors(write=True), self._pool.connection() as conn:
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    if lease_only:  # a lease need not wait for the disk: a lost one only frees its execution
                        conn.execute("SET LOCAL synchronous_commit = off")
                    yield _PostgresTx(conn, self.dialect, self.channel)
                    conn.execute("COMMIT")
            except BaseException:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        with self._errors(write=False), self._pool.connection() as conn:
            yield _PostgresTx(conn, self.dialect, self.channel)

    def close(self) -> None:
        """Close the pool, and stop listening (within a second)."""
        with self._heard_changed:
            self._closed = True
            self._heard_changed.notify_all()
        self._pool.close()

    # -- waking idle workers ------------------------------------------------------------------------------------
    notifies = True  # idle workers are told when an execution becomes due: they need not poll often

    def due_count(self) -> int:
        """How many due notices this process has heard so far: read it before looking for due executions, and pass
        it to :meth:`wait_for_due`, so a notice that comes in between is not missed."""
        self._ensure_listener()
        return self._heard

    def wait_for_due(self, timeout: float, seen: int) -> bool:
        """Wait up to ``timeout`` seconds until a notice that an execution became due has been heard after ``seen``
        (:meth:`due_count`); True if one was."""
        self._ensure_listener()
        with self._heard_changed:
            return self._heard_changed.wait_for(lambda: self._heard != seen or self._closed, timeout)

    def _ensure_listener(self) -> None:
        with self._heard_changed:
            if self._listener is None and not self._closed:
                self._listener = threading.Thread(target=self._listen, name=f"asl-listen-{self.schema}", daemon=True)
                self._listener.start()

    def _listen(self) -> None:
        """LISTEN on a connection of its own and count the notices; a lost connection is made again with backoff
        (meanwhile the workers' own polls still find due executions)."""
        delay = 0.5
        while not self._closed:
            try:
                with self._connect() as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self.channel)))
                    delay = 0.5
                    while not self._closed:
                        for _ in conn.notifies(timeout=1.0):  # each notice wakes the workers as it comes
                            with self._heard_changed:
                                self._heard += 1
                                self._heard_changed.notify_all()
            except psycopg.Error:
                time.sleep(delay)
                delay = min(30.0, delay * 2)


class _PostgresTx(SQLTransaction):
    def __init__(self, conn: psycopg.Connection[Any], dialect: Dialect, channel: str):
        super().__init__(conn, dialect)
        self.channel = channel

    def notify_due(self) -> None:
        # delivered when the transaction commits, once per channel and payload however often it is sent
        self._run("SELECT pg_notify(?, '')", (self.channel,))
