"""The persistence operations of :class:`~asl.store.rules.Transaction` in SQL, shared by the SQLite and PostgreSQL
backends: one text of each statement, and a :class:`Dialect` for what differs (placeholders, where the tables are,
how times are kept, row locks).

Statements are written with ``?`` placeholders and ``{t}`` before each table name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .base import (
    PENDING,
    RUNNING,
    ActivityRecord,
    AliasRecord,
    Event,
    ExecutionRecord,
    MapRunRecord,
    StateMachineRecord,
    TokenRecord,
    VersionRecord,
)
from .encoding import dump_events, select_range
from .rules import ExecutionState

# The most events in one row: a commit of more takes several. A page of history decodes the rows it overlaps, so
# this bounds what a page reads past its own events (a Map of 10,000 iterations may commit them all at once).
RUN = 100

EXEC_COLS = ("arn, state_machine_arn, name, status, input, definition, type, role_arn, seed, start, stop, output, "
             "error, cause, wake_at, lease_owner, lease_until, signal, parent_token, test_case, version_arn, alias_arn, "
             "map_run_arn, redrive_count, redrive_date")
TOKEN_COLS = ("token, execution_arn, created, activity_arn, input, status, output, error, cause, heartbeat_at, "
              "started_at, worker_name, closed_at")
MACHINE_COLS = "arn, name, definition, role_arn, type, created, revision"
VERSION_COLS = "arn, state_machine_arn, number, definition, role_arn, type, revision, created, description"
ALIAS_COLS = "arn, state_machine_arn, name, routing, created, description, updated"
MAP_RUN_COLS = ("arn, execution_arn, status, start, max_concurrency, tolerated_failure_count, "
                "tolerated_failure_percentage, inputs, batched, stop, outcomes, results_written, redrive_count, decision")
STATE_COLS = "arn, status, lease_owner, lease_until, wake_at, signal, next_event"
# record fields whose values are times
TIMES = frozenset({"start", "stop", "wake_at", "lease_until", "created", "heartbeat_at", "started_at", "closed_at",
                   "updated", "redrive_date"})


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL databases."""

    placeholder: str  # "?" or "%s"
    tables: str  # what goes before a table name: "" or "schema."
    to_db: Callable[[datetime | None], Any]  # a time as the database keeps it
    from_db: Callable[[Any], datetime | None]
    lock: str  # appended to a SELECT that locks its rows for the transaction
    skip_locked: str  # the same, skipping rows another transaction holds
    no_limit: Any  # LIMIT's value for "no limit"
    row_counts: bool  # a statement's row count is there at once (not pipelined): else use RETURNING
    _texts: dict[str, str] = field(default_factory=dict, compare=False)

    def sql(self, template: str) -> str:
        """A statement in this dialect (made once per template)."""
        text = self._texts.get(template)
        if text is None:
            text = self._texts[template] = template.replace("{t}", self.tables).replace("?", self.placeholder)
        return text


def epoch(d: datetime | None) -> float | None:
    """A time as SQLite keeps it: epoch seconds."""
    return None if d is None else d.timestamp()


def from_epoch(x: Any) -> datetime | None:
    return None if x is None else datetime.fromtimestamp(x, UTC)


SQLITE = Dialect("?", "", epoch, from_epoch, "", "", -1, True)


class SQLTransaction:
    """The operations of :class:`~asl.store.rules.Transaction` on a DB-API connection (``sqlite3`` or psycopg)."""

    def __init__(self, conn: Any, dialect: Dialect):
        self.c = conn
        self.d = dialect

    def _run(self, template: str, args: Sequence[Any] = ()) -> Any:
        return self.c.execute(self.d.sql(template), args)

    def _one(self, template: str, args: Sequence[Any]) -> Any:
        return self._run(template, args).fetchone()

    def _all(self, template: str, args: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = self._run(template, args).fetchall()
        return rows

    def _changed(self, template: str, args: Sequence[Any]) -> bool:
        """Run an INSERT or DELETE; whether it changed a row. A pipelined statement has no row count until its
        results arrive, so there it returns its rows instead (RETURNING, which SQLite has only from 3.35)."""
        if self.d.row_counts:
            return bool(self._run(template, args).rowcount > 0)
        return bool(self._all(template + " RETURNING 1", args))

    def _many(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.c.cursor().executemany(self.d.sql(template), rows)

    def _time(self, x: Any) -> datetime:
        return self.d.from_db(x) or datetime.now(UTC)

    # -- rows to records ------------------------------------------------------------------------------------------
    def _execution(self, r: Sequence[Any]) -> ExecutionRecord:
        f = self.d.from_db
        return ExecutionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], self._time(r[9]), f(r[10]), r[11],
                               r[12], r[13], f(r[14]), r[15], f(r[16]), r[17], r[18], r[19], r[20], r[21], r[22],
                               r[23], f(r[24]))

    def _map_run(self, r: Sequence[Any]) -> MapRunRecord:
        return MapRunRecord(r[0], r[1], r[2], self._time(r[3]), r[4], r[5], r[6], r[7], bool(r[8]), self.d.from_db(r[9]),
                            r[10], r[11], r[12], r[13])

    def _token(self, r: Sequence[Any]) -> TokenRecord:
        f = self.d.from_db
        return TokenRecord(r[0], r[1], self._time(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], f(r[9]), f(r[10]), r[11],
                           f(r[12]))

    def _machine(self, r: Sequence[Any]) -> StateMachineRecord:
        return StateMachineRecord(r[0], r[1], r[2], r[3], r[4], self._time(r[5]), r[6])

    def _version(self, r: Sequence[Any]) -> VersionRecord:
        return VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], self._time(r[7]), r[8])

    def _alias(self, r: Sequence[Any]) -> AliasRecord:
        routing = tuple((str(a), int(w)) for a, w in json.loads(r[3]))
        return AliasRecord(r[0], r[1], r[2], routing, self._time(r[4]), r[5], self.d.from_db(r[6]))

    def _state(self, r: Sequence[Any]) -> ExecutionState:
        return ExecutionState(r[0], r[1], r[2], self.d.from_db(r[3]), self.d.from_db(r[4]), r[5], r[6])

    def _assignments(self, fields: dict[str, Any]) -> tuple[str, list[Any]]:
        """``col=?, ...`` and the values for an UPDATE of record fields (names are the code's, never input)."""
        return ", ".join(f"{k}=?" for k in fields), [self.d.to_db(v) if k in TIMES else v for k, v in fields.items()]

    # -- reads --------------------------------------------------------------------------------------------------
    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        r = self._one(f"SELECT {MACHINE_COLS} FROM {{t}}state_machines WHERE arn=?", (arn,))
        return None if r is None else self._machine(r)

    def list_state_machines(self) -> list[StateMachineRecord]:
        return [self._machine(r) for r in self._all(f"SELECT {MACHINE_COLS} FROM {{t}}state_machines ORDER BY created")]

    def get_version(self, arn: str) -> VersionRecord | None:
        r = self._one(f"SELECT {VERSION_COLS} FROM {{t}}versions WHERE arn=?", (arn,))
        return None if r is None else self._version(r)

    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        return [self._version(r) for r in self._all(f"SELECT {VERSION_COLS} FROM {{t}}versions "
                                                    "WHERE state_machine_arn=? ORDER BY number DESC", (sm_arn,))]

    def get_alias(self, arn: str) -> AliasRecord | None:
        r = self._one(f"SELECT {ALIAS_COLS} FROM {{t}}aliases WHERE arn=?", (arn,))
        return None if r is None else self._alias(r)

    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        return [self._alias(r) for r in self._all(f"SELECT {ALIAS_COLS} FROM {{t}}aliases WHERE state_machine_arn=? "
                                                  "ORDER BY created", (sm_arn,))]

    def tags(self, arn: str) -> dict[str, str]:
        return {k: v for k, v in self._all("SELECT key, value FROM {t}tags WHERE resource_arn=? ORDER BY key", (arn,))}

    def get_activity(self, arn: str) -> ActivityRecord | None:
        r = self._one("SELECT arn, name, created FROM {t}activities WHERE arn=?", (arn,))
        return None if r is None else ActivityRecord(r[0], r[1], self._time(r[2]))

    def list_activities(self) -> list[ActivityRecord]:
        rows = self._all("SELECT arn, name, created FROM {t}activities ORDER BY created")
        return [ActivityRecord(a, n, self._time(c)) for a, n, c in rows]

    def get_execution(self, arn: str) -> ExecutionRecord | None:
        r = self._one(f"SELECT {EXEC_COLS} FROM {{t}}executions WHERE arn=?", (arn,))
        return None if r is None else self._execution(r)

    def list_executions(self, state_machine_arn: str | None, status: str | None,
                        map_run_arn: str | None = None) -> list[ExecutionRecord]:
        where, args = [], []
        for column, value in (("state_machine_arn", state_machine_arn), ("status", status), ("map_run_arn", map_run_arn)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        sql = f"SELECT {EXEC_COLS} FROM {{t}}executions" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._execution(r) for r in self._all(sql + " ORDER BY start DESC, arn", args)]

    def get_map_run(self, arn: str, inputs: bool = True) -> MapRunRecord | None:
        cols = MAP_RUN_COLS if inputs else MAP_RUN_COLS.replace(" inputs,", " '' AS inputs,")
        r = self._one(f"SELECT {cols} FROM {{t}}map_runs WHERE arn=?", (arn,))
        return None if r is None else self._map_run(r)

    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        return [self._map_run(r) for r in self._all(f"SELECT {MAP_RUN_COLS} FROM {{t}}map_runs WHERE execution_arn=? "
                                                    "ORDER BY start DESC, arn", (execution_arn,))]

    def tokens_of(self, execution_arn: str, outputs: bool = True) -> list[TokenRecord]:
        cols = TOKEN_COLS if outputs else TOKEN_COLS.replace(" input,", " NULL AS input,").replace(" output,", " NULL AS output,")
        return [self._token(r) for r in self._all(f"SELECT {cols} FROM {{t}}task_tokens WHERE execution_arn=?",
                                                  (execution_arn,))]

    def events(self, arn: str, after_id: int | None, limit: int | None, reverse: bool) -> list[Event]:
        # A row holds the run of events from its id on, so the rows that overlap the range are: forwards, the one
        # holding event after_id + 1 (the last to start at or before it) and those after it; backwards, those that
        # start before after_id. Each row has an event in the range, so limit rows are the most it can take.
        where = "execution_arn=?"
        args: list[Any] = [arn]
        if reverse and after_id is not None:
            where += " AND id < ?"
            args.append(after_id)
        elif after_id is not None:
            where += " AND id >= coalesce((SELECT max(id) FROM {t}events WHERE execution_arn=? AND id <= ?), 0)"
            args += [arn, after_id + 1]
        cursor = self._run(f"SELECT body FROM {{t}}events WHERE {where} ORDER BY id {'DESC' if reverse else ''} "
                           "LIMIT ?", (*args, self.d.no_limit if limit is None else limit))
        try:
            return select_range((body for (body,) in cursor), after_id, limit, reverse)
        finally:
            cursor.close()  # ends the statement (and with SQLite, its read transaction) at once

    def next_wake(self) -> datetime | None:
        r = self._one("SELECT min(CASE WHEN lease_until IS NULL OR lease_until < wake_at THEN wake_at "
                      "ELSE lease_until END) FROM {t}executions WHERE status=? AND wake_at IS NOT NULL", (RUNNING,))
        return None if r is None else self.d.from_db(r[0])

    def get_token(self, token: str) -> TokenRecord | None:
        r = self._one(f"SELECT {TOKEN_COLS} FROM {{t}}task_tokens WHERE token=?", (token,))
        return None if r is None else self._token(r)

    # -- locks --------------------------------------------------------------------------------------------------
    def lock_execution(self, arn: str) -> ExecutionState | None:
        r = self._one(f"SELECT {STATE_COLS} FROM {{t}}executions WHERE arn=?{self.d.lock}", (arn,))
        return None if r is None else self._state(r)

    def lock_token(self, token: str) -> TokenRecord | None:
        r = self._one(f"SELECT {TOKEN_COLS} FROM {{t}}task_tokens WHERE token=?{self.d.lock}", (token,))
        return None if r is None else self._token(r)

    def due_executions(self, now: datetime, limit: int, leased: bool) -> list[ExecutionState]:
        if leased:
            sql = (f"SELECT {STATE_COLS} FROM {{t}}executions WHERE status=? AND wake_at<=? AND lease_until>=? "
                   "ORDER BY wake_at LIMIT ?")
        else:
            sql = (f"SELECT {STATE_COLS} FROM {{t}}executions WHERE status=? AND wake_at<=? "
                   f"AND (lease_until IS NULL OR lease_until<?) ORDER BY wake_at LIMIT ?{self.d.skip_locked}")
        t = self.d.to_db(now)
        return [self._state(r) for r in self._all(sql, (RUNNING, t, t, limit))]

    def lock_state_machine(self, arn: str) -> StateMachineRecord | None:
        r = self._one(f"SELECT {MACHINE_COLS} FROM {{t}}state_machines WHERE arn=?{self.d.lock}", (arn,))
        return None if r is None else self._machine(r)

    def oldest_unstarted_task(self, activity_arn: str) -> TokenRecord | None:
        r = self._one(f"SELECT {TOKEN_COLS} FROM {{t}}task_tokens WHERE activity_arn=? AND status=? "
                      "AND started_at IS NULL ORDER BY created LIMIT 1", (activity_arn, PENDING))
        return None if r is None else self._token(r)

    # -- writes -------------------------------------------------------------------------------------------------
    def insert_state_machine(self, sm: StateMachineRecord) -> bool:
        return self._changed(f"INSERT INTO {{t}}state_machines ({MACHINE_COLS}) VALUES (?,?,?,?,?,?,?) "
                             "ON CONFLICT (arn) DO NOTHING",
                             (sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, self.d.to_db(sm.created),
                              sm.revision))

    def save_state_machine(self, sm: StateMachineRecord) -> None:
        # an update keeps the count of versions published
        self._run(f"INSERT INTO {{t}}state_machines ({MACHINE_COLS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT (arn) DO UPDATE "
                  "SET name=excluded.name, definition=excluded.definition, role_arn=excluded.role_arn, "
                  "type=excluded.type, created=excluded.created, revision=excluded.revision",
                  (sm.arn, sm.name, sm.definition, sm.role_arn, sm.type, self.d.to_db(sm.created), sm.revision))

    def delete_state_machine(self, arn: str) -> bool:
        return self._changed("DELETE FROM {t}state_machines WHERE arn=?", (arn,))

    def published_count(self, sm_arn: str) -> int:
        r = self._one("SELECT published FROM {t}state_machines WHERE arn=?", (sm_arn,))
        return 0 if r is None else int(r[0])

    def set_published_count(self, sm_arn: str, count: int) -> None:
        self._run("UPDATE {t}state_machines SET published=? WHERE arn=?", (count, sm_arn))

    def insert_version(self, v: VersionRecord) -> None:
        self._run(f"INSERT INTO {{t}}versions ({VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
                  (v.arn, v.state_machine_arn, v.number, v.definition, v.role_arn, v.type, v.revision,
                   self.d.to_db(v.created), v.description))

    def delete_version(self, arn: str) -> bool:
        return self._changed("DELETE FROM {t}versions WHERE arn=?", (arn,))

    def _alias_row(self, a: AliasRecord) -> tuple[Any, ...]:
        return (a.arn, a.state_machine_arn, a.name, json.dumps([list(r) for r in a.routing]), self.d.to_db(a.created),
                a.description, self.d.to_db(a.updated))

    def insert_alias(self, a: AliasRecord) -> bool:
        return self._changed(f"INSERT INTO {{t}}aliases ({ALIAS_COLS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT (arn) DO NOTHING",
                             self._alias_row(a))

    def save_alias(self, a: AliasRecord) -> None:
        self._run(f"INSERT INTO {{t}}aliases ({ALIAS_COLS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT (arn) DO UPDATE SET "
                  "state_machine_arn=excluded.state_machine_arn, name=excluded.name, routing=excluded.routing, "
                  "created=excluded.created, description=excluded.description, updated=excluded.updated",
                  self._alias_row(a))

    def delete_alias(self, arn: str) -> bool:
        return self._changed("DELETE FROM {t}aliases WHERE arn=?", (arn,))

    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str]) -> None:
        self._many("INSERT INTO {t}tags VALUES (?,?,?) ON CONFLICT (resource_arn, key) DO UPDATE SET value=excluded.value",
                   [(arn, k, v) for k, v in add.items()])
        self._many("DELETE FROM {t}tags WHERE resource_arn=? AND key=?", [(arn, k) for k in remove])

    def delete_tags(self, arn: str) -> None:
        self._run("DELETE FROM {t}tags WHERE resource_arn=?", (arn,))

    def insert_activity(self, activity: ActivityRecord) -> None:
        self._run("INSERT INTO {t}activities VALUES (?,?,?) ON CONFLICT (arn) DO NOTHING",
                  (activity.arn, activity.name, self.d.to_db(activity.created)))

    def delete_activity(self, arn: str) -> bool:
        return self._changed("DELETE FROM {t}activities WHERE arn=?", (arn,))

    def insert_execution(self, e: ExecutionRecord, next_event: int) -> bool:
        t = self.d.to_db
        return self._changed(
            f"INSERT INTO {{t}}executions ({EXEC_COLS}, next_event) VALUES ({','.join('?' * 26)}) "
            "ON CONFLICT (arn) DO NOTHING",
            (e.arn, e.state_machine_arn, e.name, e.status, e.input, e.definition, e.type, e.role_arn, e.seed,
             t(e.start), t(e.stop), e.output, e.error, e.cause, t(e.wake_at), e.lease_owner, t(e.lease_until),
             e.signal, e.parent_token, e.test_case, e.version_arn, e.alias_arn, e.map_run_arn, e.redrive_count,
             t(e.redrive_date), next_event))

    def append_events(self, arn: str, events: Sequence[Event]) -> None:
        rows = [(arn, events[i]["id"], dump_events(events[i:i + RUN])) for i in range(0, len(events), RUN)]
        if len(rows) == 1:
            self._run("INSERT INTO {t}events VALUES (?,?,?)", rows[0])
        else:
            self._many("INSERT INTO {t}events VALUES (?,?,?)", rows)

    def update_execution(self, arn: str, **fields: Any) -> None:
        sets, args = self._assignments(fields)
        self._run(f"UPDATE {{t}}executions SET {sets} WHERE arn=?", (*args, arn))

    def extend_leases(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        self._many("UPDATE {t}executions SET lease_until=? WHERE arn=? AND lease_owner=?",
                   [(self.d.to_db(lease_until), a, owner) for a in arns])

    def insert_tokens(self, tokens: Sequence[TokenRecord]) -> None:
        t = self.d.to_db
        self._many(f"INSERT INTO {{t}}task_tokens ({TOKEN_COLS}) VALUES ({','.join('?' * 13)}) "
                   "ON CONFLICT (token) DO NOTHING",
                   [(k.token, k.execution_arn, t(k.created), k.activity_arn, k.input, k.status, k.output, k.error,
                     k.cause, t(k.heartbeat_at), t(k.started_at), k.worker_name, t(k.closed_at)) for k in tokens])

    def update_token(self, token: str, **fields: Any) -> None:
        sets, args = self._assignments(fields)
        self._run(f"UPDATE {{t}}task_tokens SET {sets} WHERE token=?", (*args, token))

    def save_map_run(self, m: MapRunRecord) -> None:
        t = self.d.to_db
        # an update leaves what UpdateMapRun changes (the limits), the start and the (large) inputs as they are
        self._run(f"INSERT INTO {{t}}map_runs ({MAP_RUN_COLS}) VALUES ({','.join('?' * 14)}) ON CONFLICT (arn) DO UPDATE "
                  "SET status=excluded.status, stop=excluded.stop, outcomes=excluded.outcomes, "
                  "results_written=excluded.results_written, redrive_count=excluded.redrive_count, "
                  "decision=excluded.decision",
                  (m.arn, m.execution_arn, m.status, t(m.start), m.max_concurrency, m.tolerated_failure_count,
                   m.tolerated_failure_percentage, m.inputs, m.batched, t(m.stop), m.outcomes, m.results_written,
                   m.redrive_count, m.decision))

    def update_map_run(self, arn: str, **fields: Any) -> None:
        sets, args = self._assignments(fields)
        self._run(f"UPDATE {{t}}map_runs SET {sets} WHERE arn=?", (*args, arn))

    def close_pending_tokens(self, execution_arn: str, status: str, now: datetime) -> None:
        self._run("UPDATE {t}task_tokens SET status=?, closed_at=? WHERE execution_arn=? AND status=?",
                  (status, self.d.to_db(now), execution_arn, PENDING))

    def notify_due(self) -> None:
        """An execution became due (the PostgreSQL backend tells waiting workers; SQLite has no one to tell)."""
