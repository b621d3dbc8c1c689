"""The rules of a store, written once: what each :class:`~asl.store.base.Store` operation means, over a backend
that only persists.

A backend (:mod:`.memory`, :mod:`.sqlite`, :mod:`.postgres`) subclasses :class:`RuleStore` and gives it two
things: :meth:`RuleStore.transaction`, one atomic step in which the rules read and write through a
:class:`Transaction` of small persistence operations, and :meth:`RuleStore.reading`, the same operations for reads
outside a transaction. Which event an aborted execution gets, that a commit is fenced by its lease, how a park
meets a callback that came meanwhile, that an execution's end closes its tokens and wakes the parent that waits
for it, when a lease may be taken over: all of that is here, so every backend behaves the same, and the same
contract tests (``tests/test_store_contract.py``) run on each.

Locks: a transaction that writes an execution locks its row (:meth:`Transaction.lock_execution`) before the rows
of its tokens, and a child execution before its parent, so two transactions never wait for each other in a
circle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from .. import wallclock
from .base import (
    ABORTED,
    CLOSED,
    FAILED,
    PENDING,
    RUNNING,
    TIMED_OUT,
    ActivityRecord,
    AliasRecord,
    Commit,
    Conflict,
    Event,
    ExecutionRecord,
    MapRunRecord,
    ParentClose,
    StateMachineRecord,
    TokenRecord,
    VersionRecord,
)

worker_log = logging.getLogger("asl.worker")

# How many due executions a claim looks at: enough to step past the ones live workers hold.
CLAIM_BATCH = 64


@dataclass(frozen=True)
class ExecutionState:
    """The fields of an execution the rules decide on, without its input and definition (which can be large)."""

    arn: str
    status: str
    lease_owner: str | None
    lease_until: datetime | None
    wake_at: datetime | None
    signal: int
    next_event: int  # the id the next event of its history takes


class Transaction(Protocol):
    """What a backend does inside one atomic step (and, for reads, outside one). Operations only read or write
    records as told; none decides anything."""

    # -- reads --------------------------------------------------------------------------------------------------
    def get_state_machine(self, arn: str) -> StateMachineRecord | None: ...
    def list_state_machines(self) -> list[StateMachineRecord]:
        """Oldest first."""
    def get_version(self, arn: str) -> VersionRecord | None: ...
    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        """Newest first."""
    def get_alias(self, arn: str) -> AliasRecord | None: ...
    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        """Oldest first."""
    def tags(self, arn: str) -> dict[str, str]: ...
    def get_activity(self, arn: str) -> ActivityRecord | None: ...
    def list_activities(self) -> list[ActivityRecord]:
        """Oldest first."""
    def get_execution(self, arn: str) -> ExecutionRecord | None: ...
    def list_executions(self, state_machine_arn: str | None, status: str | None,
                        map_run_arn: str | None = None) -> list[ExecutionRecord]:
        """Newest first, then by ARN."""
    def get_map_run(self, arn: str, inputs: bool = True) -> MapRunRecord | None: ...
    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """Newest first, then by ARN."""
    def tokens_of(self, execution_arn: str, outputs: bool = True) -> list[TokenRecord]: ...
    def events(self, arn: str, after_id: int | None, limit: int | None, reverse: bool) -> list[Event]:
        """As :meth:`asl.store.base.Store.events` (``limit`` is not negative)."""
    def next_wake(self) -> datetime | None:
        """The earliest time a RUNNING execution may be claimed: its ``wake_at``, or the end of its lease when
        that is later (an execution a live worker runs is not due for the others)."""
    def get_token(self, token: str) -> TokenRecord | None: ...

    # -- locks for a transaction that writes ------------------------------------------------------------------
    def lock_execution(self, arn: str) -> ExecutionState | None:
        """The execution's state, its row locked until the transaction ends."""
    def lock_token(self, token: str) -> TokenRecord | None:
        """The token, its row locked until the transaction ends."""
    def due_executions(self, now: datetime, limit: int, leased: bool) -> list[ExecutionState]:
        """RUNNING executions with ``wake_at <= now``, earliest first: without ``leased``, those whose lease is
        free or expired, locked (rows another transaction holds skipped rather than waited for); with it, those
        leased until after ``now``, not locked."""
    def lock_state_machine(self, arn: str) -> StateMachineRecord | None:
        """The state machine, its row locked until the transaction ends."""
    def oldest_unstarted_task(self, activity_arn: str) -> TokenRecord | None:
        """The oldest PENDING, unstarted token of an activity (not locked)."""

    # -- writes -------------------------------------------------------------------------------------------------
    def insert_state_machine(self, sm: StateMachineRecord) -> bool:
        """Insert unless one with its ARN exists (then False, and nothing written)."""
    def save_state_machine(self, sm: StateMachineRecord) -> None:
        """Insert or overwrite; an overwrite keeps the count of versions published."""
    def delete_state_machine(self, arn: str) -> bool:
        """Delete the row (and its count of versions published)."""
    def published_count(self, sm_arn: str) -> int: ...
    def set_published_count(self, sm_arn: str, count: int) -> None: ...
    def insert_version(self, version: VersionRecord) -> None: ...
    def delete_version(self, arn: str) -> bool: ...
    def insert_alias(self, alias: AliasRecord) -> bool:
        """Insert unless one with its ARN exists (then False)."""
    def save_alias(self, alias: AliasRecord) -> None:
        """Insert or overwrite."""
    def delete_alias(self, arn: str) -> bool: ...
    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str]) -> None: ...
    def delete_tags(self, arn: str) -> None: ...
    def insert_activity(self, activity: ActivityRecord) -> None:
        """Insert unless one with its ARN exists (then nothing changes)."""
    def delete_activity(self, arn: str) -> bool: ...
    def insert_execution(self, execution: ExecutionRecord, next_event: int) -> bool:
        """Insert unless one with its ARN exists (then False, and nothing written)."""
    def append_events(self, arn: str, events: Sequence[Event]) -> None:
        """Add consecutive events after the last one."""
    def update_execution(self, arn: str, **fields: Any) -> None:
        """Set fields of the execution: names of :class:`~asl.store.base.ExecutionRecord` and ``next_event``."""
    def extend_leases(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        """Set ``lease_until`` of those of ``arns`` that ``owner`` leases."""
    def insert_tokens(self, tokens: Sequence[TokenRecord]) -> None:
        """Insert, leaving any that exist as they are."""
    def update_token(self, token: str, **fields: Any) -> None:
        """Set fields of the token: names of :class:`~asl.store.base.TokenRecord`."""
    def update_map_run(self, arn: str, **fields: Any) -> None:
        """Set fields of the Map Run: names of :class:`~asl.store.base.MapRunRecord`."""
    def save_map_run(self, run: MapRunRecord) -> None:
        """Insert; or update how it stands (status, stop, outcomes, results written, redrive count, decision), not
        its limits, start or inputs."""
    def close_pending_tokens(self, execution_arn: str, status: str, now: datetime) -> None:
        """Give every PENDING token of the execution ``status``, closed at ``now``."""
    def notify_due(self) -> None:
        """Tell idle workers, when the transaction commits, that an execution became due or has a new wake-up
        time (backends whose workers only poll do nothing)."""


class RuleStore:
    """A :class:`~asl.store.base.Store` whose rules are all here; a subclass supplies :meth:`transaction` and
    :meth:`reading`."""

    def transaction(self, lease_only: bool = False) -> AbstractContextManager[Transaction]:
        """One atomic step: all of it is written or none. ``lease_only``: it writes nothing but leases, which the
        backend may commit without waiting for the disk (a lost lease only frees its execution for any worker)."""
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[Transaction]:
        """Reads outside a transaction."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the store holds: SQLite closes this thread's connection (the next call opens another);
        PostgreSQL closes its pool, after which the store is not used again."""

    # -- state machines and activities ----------------------------------------------------------------------
    def put_state_machine(self, sm: StateMachineRecord, replace: bool = False) -> None:
        with self.transaction() as tx:
            if replace:
                tx.save_state_machine(sm)
            elif not tx.insert_state_machine(sm):  # one statement: two creates at once cannot both win
                raise Conflict(sm.arn)

    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        with self.reading() as tx:
            return tx.get_state_machine(arn)

    def list_state_machines(self) -> list[StateMachineRecord]:
        with self.reading() as tx:
            return tx.list_state_machines()

    def delete_state_machine(self, arn: str) -> bool:
        with self.transaction() as tx:
            for version in tx.list_versions(arn):
                tx.delete_tags(version.arn)
                tx.delete_version(version.arn)
            for alias in tx.list_aliases(arn):
                tx.delete_tags(alias.arn)
                tx.delete_alias(alias.arn)
            tx.delete_tags(arn)
            return tx.delete_state_machine(arn)

    # -- versions, aliases and tags --------------------------------------------------------------------------
    def publish_version(self, sm_arn: str, description: str | None, now: datetime) -> VersionRecord | None:
        with self.transaction() as tx:
            sm = tx.lock_state_machine(sm_arn)  # publishers of one state machine take turns
            if sm is None:
                return None
            newest = next(iter(tx.list_versions(sm_arn)), None)
            if newest is not None and newest.revision == sm.revision:
                return newest  # publishing the same revision again is no new version
            number = tx.published_count(sm_arn) + 1  # numbers are never reused, even after deletes
            version = VersionRecord(f"{sm_arn}:{number}", sm_arn, number, sm.definition, sm.role_arn, sm.type,
                                    sm.revision, now, description)
            tx.set_published_count(sm_arn, number)
            tx.insert_version(version)
            return version

    def get_version(self, arn: str) -> VersionRecord | None:
        with self.reading() as tx:
            return tx.get_version(arn)

    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        with self.reading() as tx:
            return tx.list_versions(sm_arn)

    def delete_version(self, arn: str) -> bool:
        with self.transaction() as tx:
            tx.delete_tags(arn)
            return tx.delete_version(arn)

    def put_alias(self, alias: AliasRecord, replace: bool = False) -> None:
        with self.transaction() as tx:
            if replace:
                tx.save_alias(alias)
            elif not tx.insert_alias(alias):
                raise Conflict(alias.arn)

    def get_alias(self, arn: str) -> AliasRecord | None:
        with self.reading() as tx:
            return tx.get_alias(arn)

    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        with self.reading() as tx:
            return tx.list_aliases(sm_arn)

    def delete_alias(self, arn: str) -> bool:
        with self.transaction() as tx:
            tx.delete_tags(arn)
            return tx.delete_alias(arn)

    def tags(self, arn: str) -> dict[str, str]:
        with self.reading() as tx:
            return tx.tags(arn)

    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str] = ()) -> None:
        with self.transaction() as tx:
            tx.set_tags(arn, add, remove)

    def put_activity(self, activity: ActivityRecord) -> None:
        with self.transaction() as tx:
            tx.insert_activity(activity)  # CreateActivity is idempotent: the first one stays

    def get_activity(self, arn: str) -> ActivityRecord | None:
        with self.reading() as tx:
            return tx.get_activity(arn)

    def list_activities(self) -> list[ActivityRecord]:
        with self.reading() as tx:
            return tx.list_activities()

    def delete_activity(self, arn: str) -> bool:
        with self.transaction() as tx:
            tx.delete_tags(arn)
            return tx.delete_activity(arn)

    # -- executions --------------------------------------------------------------------------------------------
    def create_execution(self, execution: ExecutionRecord, started: Event) -> None:
        with self.transaction() as tx:
            if not tx.insert_execution(execution, started["id"] + 1):
                raise Conflict(execution.arn)
            tx.append_events(execution.arn, [started])
            tx.notify_due()

    def get_execution(self, arn: str) -> ExecutionRecord | None:
        with self.reading() as tx:
            return tx.get_execution(arn)

    def list_executions(self, state_machine_arn: str | None = None, status: str | None = None,
                        map_run_arn: str | None = None) -> list[ExecutionRecord]:
        with self.reading() as tx:
            return tx.list_executions(state_machine_arn, status, map_run_arn)

    def events(self, arn: str, after_id: int | None = None, limit: int | None = None,
               reverse: bool = False) -> list[Event]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        with self.reading() as tx:
            return tx.events(arn, after_id, limit, reverse)

    def stop_execution(self, arn: str, error: str | None, cause: str | None, now: datetime,
                       close_parent: ParentClose | None = None) -> ExecutionRecord | None:
        with self.transaction() as tx:
            state = tx.lock_execution(arn)
            if state is None:
                return None
            if state.status == RUNNING:
                eid = state.next_event
                details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
                tx.append_events(arn, [{"id": eid, "previousEventId": eid - 1, "timestamp": now,
                                        "type": "ExecutionAborted", "executionAbortedEventDetails": details}])
                tx.update_execution(arn, status=ABORTED, stop=now, error=error, cause=cause, wake_at=None,
                                    lease_owner=None, lease_until=None, next_event=eid + 1)
                tx.close_pending_tokens(arn, ABORTED, now)
                self._close_parent(tx, close_parent, now)
            return tx.get_execution(arn)

    def redrive_execution(self, arn: str, now: datetime, reopen_token: str | None = None) -> ExecutionRecord | None:
        with self.transaction() as tx:
            state = tx.lock_execution(arn)
            if state is None:
                return None
            if state.status in (FAILED, ABORTED, TIMED_OUT):
                before = tx.get_execution(arn)
                assert before is not None
                count = before.redrive_count + 1
                eid = state.next_event
                tx.append_events(arn, [{"id": eid, "previousEventId": eid - 1, "timestamp": now,
                                        "type": "ExecutionRedriven",
                                        "executionRedrivenEventDetails": {"redriveCount": count}}])
                tx.update_execution(arn, status=RUNNING, stop=None, output=None, error=None, cause=None, wake_at=now,
                                    lease_owner=None, lease_until=None, next_event=eid + 1, redrive_count=count,
                                    redrive_date=now)
                if reopen_token is not None and self._lock_token(tx, reopen_token) is not None:  # child, then parent
                    tx.update_token(reopen_token, status=PENDING, output=None, error=None, cause=None, closed_at=None)
                tx.notify_due()
            return tx.get_execution(arn)

    # -- Map Runs ----------------------------------------------------------------------------------------------
    def get_map_run(self, arn: str, inputs: bool = True) -> MapRunRecord | None:
        with self.reading() as tx:
            return tx.get_map_run(arn, inputs)

    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        with self.reading() as tx:
            return tx.list_map_runs(execution_arn)

    def update_map_run(self, arn: str, **fields: Any) -> MapRunRecord | None:
        with self.transaction() as tx:
            seen = tx.get_map_run(arn)
            if seen is None:
                return None
            tx.lock_execution(seen.execution_arn)  # its execution writes it too: the execution's lock comes first
            before = tx.get_map_run(arn)
            if before is not None and before.status == RUNNING:
                tx.update_map_run(arn, **fields)
                self._wake(tx, before.execution_arn, wallclock.now())
            return before

    def tokens_of(self, execution_arn: str, outputs: bool = True) -> list[TokenRecord]:
        with self.reading() as tx:
            return tx.tokens_of(execution_arn, outputs)

    # -- workers -----------------------------------------------------------------------------------------------
    def claim(self, owner: str, now: datetime, lease_until: datetime,
              owner_dead: Callable[[str], bool]) -> ExecutionRecord | None:
        with self.transaction(lease_only=True) as tx:
            for state in tx.due_executions(now, 1, leased=False):  # the earliest one no live lease holds
                return self._take(tx, state, owner, lease_until, "its lease expired")
            # leases held by workers this host can tell are gone (their process ended) are taken over at once
            for state in tx.due_executions(now, CLAIM_BATCH, leased=True):
                if state.lease_owner != owner and owner_dead(state.lease_owner or ""):
                    locked = tx.lock_execution(state.arn)
                    if locked is not None and locked.status == RUNNING and locked.lease_owner == state.lease_owner:
                        return self._take(tx, locked, owner, lease_until, "its process is gone")
        return None

    @staticmethod
    def _take(tx: Transaction, state: ExecutionState, owner: str, lease_until: datetime,
              why: str) -> ExecutionRecord | None:
        tx.update_execution(state.arn, lease_owner=owner, lease_until=lease_until)
        rec = tx.get_execution(state.arn)
        if state.lease_owner is not None and state.lease_owner != owner:
            # a worker that parks or ends an execution gives its lease back: this one's died or hung
            worker_log.info("%s: taken over from %s (%s)", state.arn, state.lease_owner, why)
            if rec is not None:
                rec = replace(rec, taken_over_from=state.lease_owner)
        return rec

    def commit(self, arn: str, owner: str, commit: Commit) -> bool:
        with self.transaction() as tx:
            state = tx.lock_execution(arn)
            if state is None or state.status != RUNNING or state.lease_owner != owner:
                return False  # fenced: stopped, ended, or taken over by another worker
            next_event = state.next_event
            if commit.events:
                if commit.events[0]["id"] != next_event:
                    raise Conflict(f"{arn}: the commit's first event is {commit.events[0]['id']}, the history's "
                                   f"next is {next_event}")
                tx.append_events(arn, commit.events)
                next_event = commit.events[-1]["id"] + 1
            if commit.tokens:
                tx.insert_tokens(commit.tokens)
            for run in commit.map_runs:
                tx.save_map_run(run)
            for child, started in commit.children:  # new rows: no lock to wait for, whatever the lock order
                if tx.insert_execution(child, started["id"] + 1):
                    tx.append_events(child.arn, [started])
            if commit.children:
                tx.notify_due()
            f = commit.finish
            if f is not None:
                tx.update_execution(arn, status=f.status, stop=f.stop, output=f.output, error=f.error, cause=f.cause,
                                    wake_at=None, lease_owner=None, lease_until=None, next_event=next_event)
                tx.close_pending_tokens(arn, CLOSED, f.stop)
                self._close_parent(tx, commit.close_parent, f.stop)
            elif commit.park:
                # A callback that arrived since the claim (the signal moved on) makes the execution due at once.
                wake = commit.wake_at if state.signal == commit.seen_signal else wallclock.now()
                tx.update_execution(arn, wake_at=wake, lease_owner=None, lease_until=None, next_event=next_event)
                if wake is not None:
                    tx.notify_due()
            else:
                tx.update_execution(arn, lease_until=commit.lease_until, next_event=next_event)
        return True

    def renew(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None:
        if arns:
            with self.transaction(lease_only=True) as tx:
                tx.extend_leases(arns, owner, lease_until)

    def next_wake(self) -> datetime | None:
        with self.reading() as tx:
            return tx.next_wake()

    # -- task tokens -------------------------------------------------------------------------------------------
    def get_token(self, token: str) -> TokenRecord | None:
        with self.reading() as tx:
            return tx.get_token(token)

    def close_token(self, token: str, status: str, now: datetime, output: str | None = None, error: str | None = None,
                    cause: str | None = None) -> TokenRecord | None:
        with self.transaction() as tx:
            before = self._lock_token(tx, token)
            if before is not None and before.status == PENDING:
                tx.update_token(token, status=status, output=output, error=error, cause=cause, closed_at=now)
                self._wake(tx, before.execution_arn, now)
            return before

    def heartbeat(self, token: str, now: datetime) -> TokenRecord | None:
        with self.transaction() as tx:
            before = tx.lock_token(token)
            if before is not None and before.status == PENDING:
                tx.update_token(token, heartbeat_at=now)
            return before

    def take_activity_task(self, activity_arn: str, worker_name: str | None, now: datetime) -> TokenRecord | None:
        while True:
            with self.transaction() as tx:  # one candidate a transaction: it locks one execution, never two
                seen = tx.oldest_unstarted_task(activity_arn)
                if seen is None:
                    return None
                task = self._lock_token(tx, seen.token)
                if task is not None and task.status == PENDING and task.started_at is None:
                    tx.update_token(task.token, started_at=now, worker_name=worker_name)
                    self._wake(tx, task.execution_arn, now)
                    return task
            # another poller took it, or it closed, while this one waited for the lock: the next oldest

    # -- shared steps ------------------------------------------------------------------------------------------
    @staticmethod
    def _lock_token(tx: Transaction, token: str) -> TokenRecord | None:
        """Lock a token after its execution (the lock order: an execution, then its tokens)."""
        seen = tx.get_token(token)
        if seen is None:
            return None
        tx.lock_execution(seen.execution_arn)
        return tx.lock_token(token)

    def _close_parent(self, tx: Transaction, close: ParentClose | None, now: datetime) -> None:
        """Close the token of the parent task that waits for an execution that just ended, and wake the parent."""
        if close is None:
            return
        token, status, output, error, cause = close
        parent = self._lock_token(tx, token)
        if parent is not None and parent.status == PENDING:
            tx.update_token(token, status=status, output=output, error=error, cause=cause, closed_at=now)
            self._wake(tx, parent.execution_arn, now)

    @staticmethod
    def _wake(tx: Transaction, arn: str, now: datetime) -> None:
        """Make a RUNNING execution due now, and count the signal so a worker parking it meanwhile sees it."""
        state = tx.lock_execution(arn)
        if state is not None and state.status == RUNNING:
            wake = now if state.wake_at is None else min(state.wake_at, now)
            tx.update_execution(arn, wake_at=wake, signal=state.signal + 1)
            tx.notify_due()
