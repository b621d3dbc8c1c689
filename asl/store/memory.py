"""An in-memory store: the same rules as the SQLite and PostgreSQL stores, for tests and for embedding without
durability. A transaction holds one lock; nothing survives the process."""

from __future__ import annotations

import copy
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
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
from .rules import ExecutionState, RuleStore, Transaction


def _event_id(ev: Event) -> int:
    eid: int = ev["id"]
    return eid


class MemoryStore(RuleStore):
    """A :class:`~asl.store.base.Store` in dictionaries, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._data = _Tables()

    @contextmanager
    def transaction(self, lease_only: bool = False) -> Iterator[Transaction]:
        # Records are immutable, so a failed transaction could leave a half-made change only in these tables:
        # the rules raise before they write (Conflict) or never fail midway, which the contract tests hold to.
        with self._lock:
            yield self._data

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        with self._lock:
            yield self._data


class _Tables:
    """The tables, and the persistence operations of :class:`~asl.store.rules.Transaction` on them."""

    def __init__(self) -> None:
        self.machines: dict[str, StateMachineRecord] = {}
        self.published: dict[str, int] = {}  # state machine ARN → versions ever published
        self.versions: dict[str, VersionRecord] = {}
        self.aliases: dict[str, AliasRecord] = {}
        self.tag_sets: dict[str, dict[str, str]] = {}
        self.activities: dict[str, ActivityRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self.logs: dict[str, list[Event]] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.map_runs: dict[str, MapRunRecord] = {}

    # -- reads --------------------------------------------------------------------------------------------------
    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        return self.machines.get(arn)

    def list_state_machines(self) -> list[StateMachineRecord]:
        return sorted(self.machines.values(), key=lambda m: m.created)

    def get_version(self, arn: str) -> VersionRecord | None:
        return self.versions.get(arn)

    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        return sorted((v for v in self.versions.values() if v.state_machine_arn == sm_arn), key=lambda v: -v.number)

    def get_alias(self, arn: str) -> AliasRecord | None:
        return self.aliases.get(arn)

    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        return sorted((a for a in self.aliases.values() if a.state_machine_arn == sm_arn), key=lambda a: a.created)

    def tags(self, arn: str) -> dict[str, str]:
        return dict(sorted(self.tag_sets.get(arn, {}).items()))

    def get_activity(self, arn: str) -> ActivityRecord | None:
        return self.activities.get(arn)

    def list_activities(self) -> list[ActivityRecord]:
        return sorted(self.activities.values(), key=lambda a: a.created)

    def get_execution(self, arn: str) -> ExecutionRecord | None:
        return self.executions.get(arn)

    def list_executions(self, state_machine_arn: str | None, status: str | None,
                        map_run_arn: str | None = None) -> list[ExecutionRecord]:
        found = [e for e in self.executions.values()
                 if (state_machine_arn is None or e.state_machine_arn == state_machine_arn)
                 and (status is None or e.status == status) and (map_run_arn is None or e.map_run_arn == map_run_arn)]
        return sorted(found, key=lambda e: (-e.start.timestamp(), e.arn))

    def get_map_run(self, arn: str, inputs: bool = True) -> MapRunRecord | None:
        run = self.map_runs.get(arn)
        return run if run is None or inputs else replace(run, inputs="")

    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        found = [r for r in self.map_runs.values() if r.execution_arn == execution_arn]
        return sorted(found, key=lambda r: (-r.start.timestamp(), r.arn))

    def tokens_of(self, execution_arn: str, outputs: bool = True) -> list[TokenRecord]:
        found = [t for t in self.tokens.values() if t.execution_arn == execution_arn]
        return found if outputs else [replace(t, input=None, output=None) for t in found]

    def events(self, arn: str, after_id: int | None, limit: int | None, reverse: bool) -> list[Event]:
        log = self.logs.get(arn, [])
        if reverse:
            end = len(log) if after_id is None else bisect_left(log, after_id, key=_event_id)
            part = log[end - min(end, limit) if limit is not None else 0:end][::-1]
        else:
            start = 0 if after_id is None else bisect_right(log, after_id, key=_event_id)
            part = log[start:None if limit is None else start + limit]
        return copy.deepcopy(part)  # copies: callers (the interpreter replaying) must not change the log

    def next_wake(self) -> datetime | None:
        wakes = [e.wake_at if e.lease_until is None or e.lease_until < e.wake_at else e.lease_until
                 for e in self.executions.values() if e.status == RUNNING and e.wake_at is not None]
        return min(wakes) if wakes else None

    def get_token(self, token: str) -> TokenRecord | None:
        return self.tokens.get(token)

    # -- locks (the store's one lock is already held) ------------------------------------------------------------
    def _state(self, e: ExecutionRecord) -> ExecutionState:
        return ExecutionState(e.arn, e.status, e.lease_owner, e.lease_until, e.wake_at, e.signal,
                              len(self.logs[e.arn]) + 1)

    def lock_execution(self, arn: str) -> ExecutionState | None:
        e = self.executions.get(arn)
        return None if e is None else self._state(e)

    def lock_token(self, token: str) -> TokenRecord | None:
        return self.tokens.get(token)

    def due_executions(self, now: datetime, limit: int, leased: bool) -> list[ExecutionState]:
        due = sorted((e for e in self.executions.values()
                      if e.status == RUNNING and e.wake_at is not None and e.wake_at <= now
                      and (e.lease_until is not None and e.lease_until >= now) == leased),
                     key=lambda e: e.wake_at or now)
        return [self._state(e) for e in due[:limit]]

    def lock_state_machine(self, arn: str) -> StateMachineRecord | None:
        return self.machines.get(arn)

    def oldest_unstarted_task(self, activity_arn: str) -> TokenRecord | None:
        waiting = [t for t in self.tokens.values()
                   if t.activity_arn == activity_arn and t.status == PENDING and t.started_at is None]
        return min(waiting, key=lambda t: t.created) if waiting else None

    # -- writes -------------------------------------------------------------------------------------------------
    def insert_state_machine(self, sm: StateMachineRecord) -> bool:
        if sm.arn in self.machines:
            return False
        self.machines[sm.arn] = sm
        return True

    def save_state_machine(self, sm: StateMachineRecord) -> None:
        self.machines[sm.arn] = sm

    def delete_state_machine(self, arn: str) -> bool:
        self.published.pop(arn, None)
        return self.machines.pop(arn, None) is not None

    def published_count(self, sm_arn: str) -> int:
        return self.published.get(sm_arn, 0)

    def set_published_count(self, sm_arn: str, count: int) -> None:
        self.published[sm_arn] = count

    def insert_version(self, version: VersionRecord) -> None:
        self.versions[version.arn] = version

    def delete_version(self, arn: str) -> bool:
        return self.versions.pop(arn, None) is not None

    def insert_alias(self, alias: AliasRecord) -> bool:
        if alias.arn in self.aliases:
            return False
        self.aliases[alias.arn] = alias
        return True

    def save_alias(self, alias: AliasRecord) -> None:
        self.aliases[alias.arn] = alias

    def delete_alias(self, arn: str) -> bool:
        return self.aliases.pop(arn, None) is not None

    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str]) -> None:
        tags = self.tag_sets.setdefault(arn, {})
        tags.update(add)
        for key in remove:
            tags.pop(key, None)

    def delete_tags(self, arn: str) -> None:
        self.tag_sets.pop(arn, None)

    def insert_activity(self, activity: ActivityRecord) -> None:
        self.activities.setdefault(activity.arn, activity)

    def delete_activity(self, arn: str) -> bool:
        return self.activities.pop(arn, None) is not None

    def insert_execution(self, execution: ExecutionRecord, next_event: int) -> bool:
        if execution.arn in self.executions:
            return False
        self.executions[execution.arn] = execution
        self.logs[execution.arn] = []
        return True

    def append_events(self, arn: str, events: Sequence[Event]) -> None:
        self.logs[arn].extend(dict(ev) for ev in events)

    def update_execution(self, arn: str, **fields: Any) -> None:
        fields.pop("next_event", None)  # the log's length says it
        self.executions[arn] = replace(self.executions[arn], **fields)

    def extend_leases(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        for arn in arns:
            e = self.executions.get(arn)
            if e is not None and e.lease_owner == owner:
                self.executions[arn] = replace(e, lease_until=lease_until)

    def insert_tokens(self, tokens: Sequence[TokenRecord]) -> None:
        for tok in tokens:
            self.tokens.setdefault(tok.token, tok)

    def update_token(self, token: str, **fields: Any) -> None:
        self.tokens[token] = replace(self.tokens[token], **fields)

    def update_map_run(self, arn: str, **fields: Any) -> None:
        self.map_runs[arn] = replace(self.map_runs[arn], **fields)

    def save_map_run(self, run: MapRunRecord) -> None:
        old = self.map_runs.get(run.arn)
        if old is not None:  # the limits (UpdateMapRun's), the start and the inputs stay as they are
            run = replace(run, max_concurrency=old.max_concurrency, tolerated_failure_count=old.tolerated_failure_count,
                          tolerated_failure_percentage=old.tolerated_failure_percentage, start=old.start,
                          inputs=old.inputs, batched=old.batched)
        self.map_runs[run.arn] = run

    def close_pending_tokens(self, execution_arn: str, status: str, now: datetime) -> None:
        for key, tok in list(self.tokens.items()):
            if tok.execution_arn == execution_arn and tok.status == PENDING:
                self.tokens[key] = replace(tok, status=status, closed_at=now)

    def notify_due(self) -> None:
        """Workers of a MemoryStore poll it."""
