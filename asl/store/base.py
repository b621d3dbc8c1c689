"""The store interface: what the durable engine and the service keep, and the records they keep it in.

A store holds state machines, executions, each execution's history (the event log, which is also its durable
state), pending task tokens (callbacks and activity tasks) and activities. Every method is one atomic step, so
the same engine and service run on any implementation: :class:`~asl.store.memory.MemoryStore` for tests and
embedding, :class:`~asl.store.sqlite.SQLiteStore` for executions that outlive their process.

Times are UTC ``datetime`` objects. History events are dicts in the interpreter's form (``id``,
``previousEventId``, ``timestamp``, ``type`` and one ``…EventDetails`` entry).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..errors import Conflict as Conflict
from ..errors import StoreDamaged as StoreDamaged
from ..errors import StoreError as StoreError
from ..errors import StoreUnavailable as StoreUnavailable

Event = dict[str, Any]

# Execution statuses, as DescribeExecution reports them.
RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"
# Task token statuses: a token is PENDING until closed by SendTask*, a timeout or the end of its execution.
PENDING = "PENDING"
CLOSED = "CLOSED"  # a token still pending when its execution ended


@dataclass(frozen=True)
class StateMachineRecord:
    """A state machine as CreateStateMachine registered it."""

    arn: str
    name: str
    definition: str
    role_arn: str
    type: str
    created: datetime
    revision: int = 1


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution. ``definition`` is the text it started with (later updates of its state machine do not change
    a running execution); ``seed`` makes its ids and random numbers the same when it is rebuilt from history.
    ``wake_at`` is when a worker should next run it (None: parked until a callback wakes it); ``signal`` counts
    callbacks, so a worker that parks it can tell whether one arrived meanwhile."""

    arn: str
    state_machine_arn: str
    name: str
    status: str
    input: str
    definition: str
    type: str
    role_arn: str
    seed: str
    start: datetime
    stop: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    wake_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    signal: int = 0
    parent_token: str | None = None  # a parent's .sync task waiting for this execution to end
    test_case: str | None = None  # the mock configuration's test case it runs (``<stateMachineArn>#<TestCase>``)
    version_arn: str | None = None  # started through a version ARN, or an alias that routed to one
    alias_arn: str | None = None  # started through an alias ARN
    map_run_arn: str | None = None  # a child execution of this Distributed Map Run
    redrive_count: int = 0  # RedriveExecution: how many times it was redriven, and when last
    redrive_date: datetime | None = None
    # claim only: the worker whose lease the claim took over (it died or hung), None when it was free (new, parked)
    taken_over_from: str | None = None


@dataclass(frozen=True)
class MapRunRecord:
    """A Distributed Map's Map Run. ``inputs`` holds its children's inputs as JSON Lines (each child execution takes
    one, in order; with ItemBatcher each is a batch ``{"Items": [...]}``), kept so that a resumed
    parent starts the children not started yet without reading its items again. Its children are the executions
    whose ``map_run_arn`` is its ARN; ``outcomes`` (JSON text, one status a child) is for children run inside the
    parent's process (EXPRESS), which are not kept as executions."""

    arn: str
    execution_arn: str
    status: str
    start: datetime
    max_concurrency: int
    tolerated_failure_count: int | None  # None: not given
    tolerated_failure_percentage: float | None
    inputs: str
    batched: bool = False
    stop: datetime | None = None
    outcomes: str | None = None
    results_written: int = 0
    redrive_count: int = 0
    decision: str | None = None  # JSON: how it ended (children that had, the error), kept before any was stopped


@dataclass(frozen=True)
class TokenRecord:
    """A pending or closed task token: a ``.waitForTaskToken`` callback, or an activity task when
    ``activity_arn`` is set (``input`` is then what GetActivityTask hands out)."""

    token: str
    execution_arn: str
    created: datetime
    activity_arn: str | None = None
    input: str | None = None
    status: str = PENDING
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    worker_name: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class ActivityRecord:
    arn: str
    name: str
    created: datetime


@dataclass(frozen=True)
class VersionRecord:
    """A published state machine version: an immutable copy of one revision, numbered from 1."""

    arn: str
    state_machine_arn: str
    number: int
    definition: str
    role_arn: str
    type: str
    revision: int
    created: datetime
    description: str | None = None


@dataclass(frozen=True)
class AliasRecord:
    """A state machine alias: ``routing`` is ((version ARN, weight), ...), weights summing to 100."""

    arn: str
    state_machine_arn: str
    name: str
    routing: tuple[tuple[str, int], ...]
    created: datetime
    description: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class Finish:
    """How an execution ended: written with its last event."""

    status: str
    stop: datetime
    output: str | None = None
    error: str | None = None
    cause: str | None = None


# How an execution's end closes the token of the parent task that waits for it (``states:startExecution.sync``):
# (token, status, output, error, cause).
ParentClose = tuple[str, str, str | None, str | None, str | None]


@dataclass
class Commit:
    """What a worker writes in one transaction: new events and tokens, then one of renew the lease (keep running),
    park (release the execution until ``wake_at``, or until a callback when None) or finish."""

    events: Sequence[Event] = ()
    tokens: Sequence[TokenRecord] = ()
    lease_until: datetime | None = None
    park: bool = False
    wake_at: datetime | None = None
    seen_signal: int = 0
    finish: Finish | None = None
    # with ``finish``: close the parent's token (status, output, error, cause) in the same transaction
    close_parent: ParentClose | None = None
    # Map Runs to write (inserted, or overwritten whole), and child executions to start with their first event,
    # in the same transaction as the tokens that wait for them
    map_runs: Sequence[MapRunRecord] = ()
    children: Sequence[tuple[ExecutionRecord, Event]] = ()


class Store(Protocol):
    """The store interface. Each method is atomic; ``False``/``None`` results mean "no such record" or "not
    allowed now" as documented per method, never a partial write."""

    # -- state machines and activities ----------------------------------------------------------------------
    def put_state_machine(self, sm: StateMachineRecord, replace: bool = False) -> None:
        """Insert, or with ``replace`` overwrite; :class:`Conflict` if it exists and ``replace`` is false."""

    def get_state_machine(self, arn: str) -> StateMachineRecord | None: ...

    def list_state_machines(self) -> list[StateMachineRecord]: ...

    def delete_state_machine(self, arn: str) -> bool:
        """Delete a state machine with its versions, aliases and tags (its executions stay)."""

    # -- versions, aliases and tags --------------------------------------------------------------------------
    def publish_version(self, sm_arn: str, description: str | None, now: datetime) -> VersionRecord | None:
        """Publish the state machine's current revision as its next version, numbered after every version it
        ever had (numbers are never reused). Idempotent: when the newest version has the current revision, that
        version is returned unchanged. None when there is no such state machine."""

    def get_version(self, arn: str) -> VersionRecord | None: ...

    def list_versions(self, sm_arn: str) -> list[VersionRecord]:
        """Newest first."""

    def delete_version(self, arn: str) -> bool: ...

    def put_alias(self, alias: AliasRecord, replace: bool = False) -> None:
        """Insert, or with ``replace`` overwrite; :class:`Conflict` if it exists and ``replace`` is false."""

    def get_alias(self, arn: str) -> AliasRecord | None: ...

    def list_aliases(self, sm_arn: str) -> list[AliasRecord]:
        """Oldest first."""

    def delete_alias(self, arn: str) -> bool: ...

    def tags(self, arn: str) -> dict[str, str]:
        """The tags of a state machine or activity."""

    def set_tags(self, arn: str, add: dict[str, str], remove: Sequence[str] = ()) -> None:
        """Add (or overwrite) and remove tags, in one step."""

    def put_activity(self, activity: ActivityRecord) -> None: ...

    def get_activity(self, arn: str) -> ActivityRecord | None: ...

    def list_activities(self) -> list[ActivityRecord]: ...

    def delete_activity(self, arn: str) -> bool:
        """Delete an activity with its tags."""

    # -- executions --------------------------------------------------------------------------------------------
    def create_execution(self, execution: ExecutionRecord, started: Event) -> None:
        """Insert a RUNNING execution with its first event; :class:`Conflict` if the ARN exists."""

    def get_execution(self, arn: str) -> ExecutionRecord | None: ...

    def list_executions(self, state_machine_arn: str | None = None, status: str | None = None,
                        map_run_arn: str | None = None) -> list[ExecutionRecord]:
        """Newest first; with ``map_run_arn``, that Map Run's child executions."""

    def events(self, arn: str, after_id: int | None = None, limit: int | None = None,
               reverse: bool = False) -> list[Event]:
        """The history, oldest first (newest first with ``reverse``), or a range of it: the events after
        ``after_id`` in that order (ids above it, or below it with ``reverse``), at most ``limit`` of them. Reads
        only what the range needs, so a page of a long history costs a page."""

    def stop_execution(self, arn: str, error: str | None, cause: str | None, now: datetime,
                       close_parent: ParentClose | None = None) -> ExecutionRecord | None:
        """Abort a RUNNING execution: status ABORTED, an ExecutionAborted event, its pending tokens closed, and
        ``close_parent`` applied, all in one step. A worker still running it finds out at its next commit. None if
        it does not exist; unchanged if it ended."""

    # -- Map Runs ----------------------------------------------------------------------------------------------
    def get_map_run(self, arn: str, inputs: bool = True) -> MapRunRecord | None:
        """The Map Run; with ``inputs`` False its ``inputs`` are left out (""), which a large Map Run's reader of its
        limits or status need not read."""

    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """The Map Runs an execution started, newest first."""

    def update_map_run(self, arn: str, **fields: Any) -> MapRunRecord | None:
        """Change fields of a RUNNING Map Run (UpdateMapRun: ``max_concurrency`` and the tolerances, or its end) and
        wake its execution, which reads them. Returns the record as it was before (None: no such Map Run);
        unchanged if it has ended."""

    def tokens_of(self, execution_arn: str, outputs: bool = True) -> list[TokenRecord]:
        """Every task token of an execution, pending and closed; without ``outputs``, their ``output`` and
        ``input`` are left out (None)."""

    def redrive_execution(self, arn: str, now: datetime, reopen_token: str | None = None) -> ExecutionRecord | None:
        """RedriveExecution: a FAILED, ABORTED or TIMED_OUT execution gets an ExecutionRedriven event and RUNNING
        again, due now, its redrive count one more, all in one step; with ``reopen_token`` (a Map Run's child) its
        parent's token that its end closed is PENDING again, in the same step. None if it does not exist; unchanged
        if it has another status (the caller tells by the status of the record returned)."""

    # -- workers -----------------------------------------------------------------------------------------------
    def claim(self, owner: str, now: datetime, lease_until: datetime, owner_dead: Callable[[str], bool]) -> ExecutionRecord | None:
        """Lease one RUNNING execution that is due (``wake_at <= now``) and not leased to a live worker (a lease
        that expired, or whose owner ``owner_dead`` says is gone, is taken over)."""

    def commit(self, arn: str, owner: str, commit: Commit) -> bool:
        """Write a worker's commit if ``owner`` still holds the execution's lease and it is RUNNING; False (and
        nothing written) otherwise, e.g. after StopExecution or a lease takeover."""

    def renew(self, arns: Sequence[str], owner: str, lease_until: datetime) -> None: ...

    def next_wake(self) -> datetime | None:
        """The earliest ``wake_at`` of a RUNNING execution."""

    # -- task tokens -------------------------------------------------------------------------------------------
    def get_token(self, token: str) -> TokenRecord | None: ...

    def close_token(self, token: str, status: str, now: datetime, output: str | None = None, error: str | None = None,
                    cause: str | None = None) -> TokenRecord | None:
        """Close a PENDING token (SUCCEEDED, FAILED, TIMED_OUT) and wake its execution. Returns the token as it
        was before, so the caller can tell a missing token (None) from one already closed (status not PENDING)."""

    def heartbeat(self, token: str, now: datetime) -> TokenRecord | None:
        """Record a heartbeat on a PENDING token; returns the token as it was, like :meth:`close_token`."""

    def take_activity_task(self, activity_arn: str, worker_name: str | None, now: datetime) -> TokenRecord | None:
        """Hand the oldest unstarted task of an activity to a worker, and wake its execution (which records
        ActivityStarted)."""
