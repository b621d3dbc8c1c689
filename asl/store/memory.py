"""An in-memory store: the same interface as the SQLite store, for tests and for embedding without durability."""

from __future__ import annotations

import copy
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

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
    TokenRecord,
    VersionRecord,
)


def _event_id(ev: Event) -> int:
    eid: int = ev["id"]
    return eid


class MemoryStore:
    """A :class:`~asl.store.base.Store` in dictionaries, guarded by one lock. Nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._machines: dict[str, StateMachineRecord] = {}
        self._activities: dict[str, ActivityRecord] = {}
        self._executions: dict[str, ExecutionRecord] = {}
        self._events: dict[str, list[Event]] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._versions: dict[str, VersionRecord] = {}
        self._published: dict[str, int] = {}  # state machine ARN → versions ever published
        self._aliases: dict[str, AliasRecord] = {}
        self._tags: dict[str, dict[str, str]] = {}

    # -- state machines and activities ----------------------------------------------------------------------
    def put_state_machine(self, sm: StateMachineRecord, replace: bool = False) -> None:
        with self._lock:
            if not replace and sm.arn in self._machines:
                raise Conflict(sm.arn)
            self._machines[sm.arn] = sm

    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        return self._machines.get(arn)

    def list_state_machines(self) -> list[StateMachineRecord]:
        with self._lock:
            return sorted(self._machines.values(), key=lambda m: m.created)

    def delete_state_machine(self, arn: str) -> bool:
        with self._lock:
            for kind in (self._versions, self._aliases):
                for k in [k for k, v in kind.items() if v.state_machine_arn == arn]:
                    del kind[k]
            self._published.pop(arn, None)
            self._tags.pop(arn, None)
            return self._machines.pop(arn, None) is not None

    # -- versions, aliases and tags --------------------------------------------------------------------------
    def publish_version(self, sm_arn: str, description: str | None, now: datetime) -> VersionRecord | None:
        with self._lock:
            sm = self._machines.get(sm_arn)
            if sm is None:
                return None
            newest = next(iter(self.list_versions(sm_arn)), None)
            if newest is not None and newest.revision == sm.revision:
                return newest
            n = self._published.get(sm_arn, 0) + 1
            self._published[sm_arn] = n
            v = VersionRecord(f"{sm_arn}:{n}", sm_arn, n, sm.definition, sm.role_arn, sm.type, sm.revision, now, description)
            self._versions[v.arn] = v
            return v

    def get_version(self, arn: str) -> VersionRecord | None:
        return self._versions.get(arn)

    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        with self._lock:
            return sorted((v for v in self._versions.values() if v.state_machine_arn == sm_arn), key=lambda v: -v.number)

    def delete_version(self, arn: str) -> bool:
        with self._lock:
            self._tags.pop(arn, None)
            return self._versions.pop(arn, None) is not None

    def put_alias(self, alias: AliasRecord, replace: bool = False) -> None:
        with self._lock:
            if not replace and alias.arn in self._aliases:
                raise Conflict(alias.arn)
            self._aliases[alias.arn] = alias

    def get_alias(self, arn: str) -> AliasRecord | None:
        return self._aliases.get(arn)

    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        with self._lock:
            return sorted((a for a in self._aliases.values() if a.state_machine_arn == sm_arn), key=lambda a: a.created)

    def delete_alias(self, arn: str) -> bool:
        with self._lock:
            self._tags.pop(arn, None)
            return self._aliases.pop(arn, None) is not None

    def tags(self, arn: str) -> dict[str, str]:
        with self._lock:
            return dict(self._tags.get(arn, {}))

    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str] = ()) -> None:
        with self._lock:
            tags = self._tags.setdefault(arn, {})
            tags.update(add)
            for k in remove:
                tags.pop(k, None)

    def put_activity(self, activity: ActivityRecord) -> None:
        with self._lock:
            self._activities.setdefault(activity.arn, activity)

    def get_activity(self, arn: str) -> ActivityRecord | None:
        return self._activities.get(arn)

    def list_activities(self) -> list[ActivityRecord]:
        with self._lock:
            return sorted(self._activities.values(), key=lambda a: a.created)

    def delete_activity(self, arn: str) -> bool:
        with self._lock:
            self._tags.pop(arn, None)
            return self._activities.pop(arn, None) is not None

    # -- executions --------------------------------------------------------------------------------------------
    def create_execution(self, execution: ExecutionRecord, started: Event) -> None:
        with self._lock:
            if execution.arn in self._executions:
                raise Conflict(execution.arn)
            self._executions[execution.arn] = execution
            self._events[execution.arn] = [dict(started)]

    def get_execution(self, arn: str) -> ExecutionRecord | None:
        return self._executions.get(arn)

    def list_executions(self, state_machine_arn: str | None = None, status: str | None = None) -> list[ExecutionRecord]:
        with self._lock:
            out = [e for e in self._executions.values()
                   if (state_machine_arn is None or e.state_machine_arn == state_machine_arn)
                   and (status is None or e.status == status)]
        return sorted(out, key=lambda e: (-e.start.timestamp(), e.arn))

    def events(self, arn: str, after_id: int | None = None, limit: int | None = None,
               reverse: bool = False) -> list[Event]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        with self._lock:
            log = self._events.get(arn, [])
            if reverse:
                end = len(log) if after_id is None else bisect_left(log, after_id, key=_event_id)
                part = log[end - min(end, limit) if limit is not None else 0:end][::-1]
            else:
                start = 0 if after_id is None else bisect_right(log, after_id, key=_event_id)
                part = log[start:None if limit is None else start + limit]
            # copies: callers (the interpreter replaying) must not change the log
            return copy.deepcopy(part)

    def stop_execution(self, arn: str, error: str | None, cause: str | None, now: datetime,
                       close_parent: ParentClose | None = None) -> ExecutionRecord | None:
        with self._lock:
            e = self._executions.get(arn)
            if e is None:
                return None
            if e.status == RUNNING:
                log = self._events[arn]
                details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
                eid = len(log) + 1
                log.append({"id": eid, "previousEventId": eid - 1, "timestamp": now, "type": "ExecutionAborted",
                            "executionAbortedEventDetails": details})
                e = self._executions[arn] = replace(e, status=ABORTED, stop=now, error=error, cause=cause, wake_at=None,
                                                    lease_owner=None, lease_until=None)
                self._close_all(arn, ABORTED, now)
                self._close_parent(close_parent, now)
            return e

    def _close_parent(self, close: ParentClose | None, now: datetime) -> None:
        """Close the token of the parent task that waits for an execution that just ended, and wake the parent."""
        if close is None:
            return
        token, status, output, error, cause = close
        parent = self._tokens.get(token)
        if parent is not None and parent.status == PENDING:
            self._tokens[token] = replace(parent, status=status, output=output, error=error, cause=cause, closed_at=now)
            self._wake(parent.execution_arn, now)

    def _close_all(self, arn: str, status: str, now: datetime) -> None:
        for t, tok in list(self._tokens.items()):
            if tok.execution_arn == arn and tok.status == PENDING:
                self._tokens[t] = replace(tok, status=status, closed_at=now)

    # -- workers -----------------------------------------------------------------------------------------------
    def claim(self, owner: str, now: datetime, lease_until: datetime, owner_dead: Callable[[str], bool]) -> ExecutionRecord | None:
        with self._lock:
            due = sorted((e for e in self._executions.values()
                          if e.status == RUNNING and e.wake_at is not None and e.wake_at <= now), key=lambda e: e.wake_at or now)
            for e in due:
                if (e.lease_owner is None or e.lease_until is None or e.lease_until < now
                        or (e.lease_owner != owner and owner_dead(e.lease_owner))):
                    e = self._executions[e.arn] = replace(e, lease_owner=owner, lease_until=lease_until)
                    return e
        return None

    def commit(self, arn: str, owner: str, commit: Commit) -> bool:
        with self._lock:
            e = self._executions.get(arn)
            if e is None or e.status != RUNNING or e.lease_owner != owner:
                return False
            log = self._events[arn]
            ids = {ev["id"] for ev in log}
            if any(ev["id"] in ids for ev in commit.events):
                raise Conflict(f"{arn}: event ids already written")
            log.extend(dict(ev) for ev in commit.events)
            for tok in commit.tokens:
                self._tokens.setdefault(tok.token, tok)
            f = commit.finish
            if f is not None:
                self._executions[arn] = replace(e, status=f.status, stop=f.stop, output=f.output, error=f.error,
                                                cause=f.cause, wake_at=None, lease_owner=None, lease_until=None)
                self._close_all(arn, CLOSED, f.stop)
                self._close_parent(commit.close_parent, f.stop)
            elif commit.park:
                wake = commit.wake_at if e.signal == commit.seen_signal else datetime.now(UTC)
                self._executions[arn] = replace(e, wake_at=wake, lease_owner=None, lease_until=None)
            else:
                self._executions[arn] = replace(e, lease_until=commit.lease_until)
            return True

    def renew(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        with self._lock:
            for a in arns:
                e = self._executions.get(a)
                if e is not None and e.lease_owner == owner:
                    self._executions[a] = replace(e, lease_until=lease_until)

    def next_wake(self) -> datetime | None:
        with self._lock:
            wakes = [e.wake_at for e in self._executions.values() if e.status == RUNNING and e.wake_at is not None]
        return min(wakes) if wakes else None

    # -- task tokens -------------------------------------------------------------------------------------------
    def get_token(self, token: str) -> TokenRecord | None:
        return self._tokens.get(token)

    def _wake(self, arn: str, now: datetime) -> None:
        e = self._executions.get(arn)
        if e is not None and e.status == RUNNING:
            wake = now if e.wake_at is None else min(e.wake_at, now)
            self._executions[arn] = replace(e, wake_at=wake, signal=e.signal + 1)

    def close_token(self, token: str, status: str, now: datetime, output: str | None = None, error: str | None = None,
                    cause: str | None = None) -> TokenRecord | None:
        with self._lock:
            before = self._tokens.get(token)
            if before is not None and before.status == PENDING:
                self._tokens[token] = replace(before, status=status, output=output, error=error, cause=cause, closed_at=now)
                self._wake(before.execution_arn, now)
            return before

    def heartbeat(self, token: str, now: datetime) -> TokenRecord | None:
        with self._lock:
            before = self._tokens.get(token)
            if before is not None and before.status == PENDING:
                self._tokens[token] = replace(before, heartbeat_at=now)
            return before

    def take_activity_task(self, activity_arn: str, worker_name: str | None, now: datetime) -> TokenRecord | None:
        with self._lock:
            waiting = [t for t in self._tokens.values()
                       if t.activity_arn == activity_arn and t.status == PENDING and t.started_at is None]
            if not waiting:
                return None
            tok = min(waiting, key=lambda t: t.created)
            self._tokens[tok.token] = replace(tok, started_at=now, worker_name=worker_name)
            self._wake(tok.execution_arn, now)
            return tok
