"""The durable engine: runs executions kept in a :class:`~asl.store.base.Store` so that they survive the death of
their process.

The history is the durable state. A worker claims a due execution (a lease in the store), rebuilds it by running
the interpreter over its recorded history (recorded task outcomes are taken from the history, not run again),
and carries on live from the end of the history. Events are committed in one transaction before each side effect
leaves the process (a task called, a task token handed out) and when the execution parks or ends; events of pure
transitions in between are batched into that commit. A Wait or Retry delay longer than ``inline_wait`` and a
callback park the execution: the worker releases it with a wake-up time (None for "when a callback arrives").

Delivery is at least once: a task that was running when its worker died runs again when the execution resumes;
nothing whose outcome was committed runs again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from . import wallclock
from .diagnostics import DefinitionError
from .errors import Fenced, Parked, ReplayMismatch
from .model import StateMachine, load
from .processes import pid_alive
from .runtime import DurableClock, Execution, ExecutionOptions, ExecutionResult, TaskFunction
from .runtime.history import ReplayHistory
from .runtime.journal import HEARTBEAT_TIMED_OUT, TIMED_OUT_TOKEN, ChildStart, MapRunState, TokenState
from .store.base import (
    ABORTED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Commit,
    ExecutionRecord,
    Finish,
    MapRunRecord,
    Store,
    StoreError,
    TokenRecord,
)

log = logging.getLogger("asl.worker")

# How often an idle worker looks for due executions on a store that announces them (PostgreSQL's NOTIFY): only to
# find leases that expired, as a dead worker on another host leaves them.
NOTIFIED_POLL = 2.0

@functools.lru_cache(maxsize=256)
def _compiled(definition: str) -> StateMachine:
    """Definitions are validated and compiled once per process, not once per resumed execution."""
    return load(definition)


def owner_dead(owner: str) -> bool:
    """Whether the worker that holds a lease is known to be gone: same host and its process no longer exists.
    Leases of workers on other hosts are taken over only when they expire."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    return not pid_alive(int(pid_text))


def claimed(rec: ExecutionRecord, events: list[dict[str, Any]]) -> str:
    """What the worker log says of an execution it claimed: ``started`` (a new one), ``woken after event N`` (it
    was parked: its timer fired or a callback came), ``redriven after event N``, or ``resumed after event N (taken
    over)`` (its worker died or hung; the store's line before it names that worker)."""
    if len(events) <= 1:
        return "started"
    last = events[-1]
    if last["type"] == "ExecutionRedriven":
        return f"redriven after event {last['id']}"
    if rec.taken_over_from is not None:
        return f"resumed after event {last['id']} (taken over)"
    return f"woken after event {last['id']}"


def ended(result: ExecutionResult, rec: ExecutionRecord, stop: datetime) -> str:
    """What the worker log says of an execution that ended: ``finished SUCCEEDED 1.234s after its startDate``, or
    ``failed FAILED 2.000s after its startDate: Error: cause`` (TIMED_OUT likewise), the cause cut to one short line.
    The time is DescribeExecution's, from startDate (when StartExecution accepted it, which may be before a worker
    took it) to stopDate; a redriven execution's adds the time since its redrive."""
    took = f"{max(0.0, (stop - rec.start).total_seconds()):.3f}s after its startDate"
    if rec.redrive_date is not None:
        took += f" ({max(0.0, (stop - rec.redrive_date).total_seconds()):.3f}s after its redrive)"
    if result.status == SUCCEEDED:
        return f"finished {result.status} {took}"
    return f"failed {result.status} {took}{reason(result.error, result.cause)}"


def reason(error: str | None, cause: str | None) -> str:
    """``: Error: cause`` for a log line, the cause cut to one short line ("" without an error)."""
    if error is None:
        return ""
    text = " ".join((cause or "").split())
    return f": {error}" + (f": {text[:120]}{'...' if len(text) > 120 else ''}" if text else "")


def dropped(store: Store, arn: str) -> str:
    """What the worker log says of an execution it was running when another hand ended it or took it (its next
    commit was refused): aborted (by StopExecution, or by its Map Run), taken over by another worker, or ended."""
    now = store.get_execution(arn)
    if now is None:
        return "deleted while it ran; dropped"
    if now.status == ABORTED:
        run = store.get_map_run(now.map_run_arn, inputs=False) if now.map_run_arn else None
        by = "its Map Run" if run is not None and run.status != RUNNING else "StopExecution"
        return f"aborted by {by} while it ran{reason(now.error, now.cause)}; dropped"
    if now.status == RUNNING:
        return f"taken over by another worker ({now.lease_owner or 'none now'}); dropped"
    return f"ended {now.status} elsewhere while it ran; dropped"


def rng_for(seed: str) -> tuple[random.Random, Callable[[], str]]:
    """The random numbers and UUIDs of an execution, the same each time it is rebuilt."""
    rng = random.Random(seed)

    def uuid4() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    return rng, uuid4


def sync_description(rec: ExecutionRecord, status: str, stop: datetime, output: str | None, error: str | None,
                     cause: str | None) -> dict[str, Any]:
    """What a parent's ``states:startExecution.sync`` task gets when this execution ends: DescribeExecution's
    response as the Step Functions integration shapes it (Input and Output as JSON text; ``.sync:2`` parses them)."""
    out: dict[str, Any] = {"ExecutionArn": rec.arn, "Input": rec.input, "InputDetails": {"Included": True}, "Name": rec.name}
    if output is not None:
        out["Output"] = output
        out["OutputDetails"] = {"Included": True}
    if error is not None:
        out["Error"] = error
    if cause is not None:
        out["Cause"] = cause
    out.update({"RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
                "RedriveStatusReason": f"Execution is {status} and cannot be redriven",
                "StartDate": int(rec.start.timestamp() * 1000), "StateMachineArn": rec.state_machine_arn, "Status": status,
                "StopDate": int(stop.timestamp() * 1000)})
    return out


def parent_outcome(rec: ExecutionRecord, status: str, stop: datetime, output: str | None, error: str | None,
                   cause: str | None) -> tuple[str, str, str | None, str | None, str | None]:
    """How a child execution's end closes its parent's token: success with the description, or the parent task
    fails with States.TaskFailed and the description as its cause. A Map Run's child gives its description in
    either case, with its own error and cause (its parent's Map Run reads them)."""
    description = sync_description(rec, status, stop, output, error, cause)
    if rec.map_run_arn is not None:  # without its input, which the Map Run has
        del description["Input"], description["InputDetails"]
        text = json.dumps(description, separators=(",", ":"))
        return (rec.parent_token or "", SUCCEEDED if status == SUCCEEDED else FAILED, text, error, cause)
    text = json.dumps(description, separators=(",", ":"))
    if status == SUCCEEDED:
        return (rec.parent_token or "", SUCCEEDED, text, None, None)
    return (rec.parent_token or "", FAILED, None, "States.TaskFailed", text)


def abort_map_runs(store: Store, execution_arn: str, now: datetime) -> None:
    """An execution that ended (stopped, failed inside asl) ends its Map Runs still running ABORTED, and aborts their
    children still running, and theirs in turn: each child in a step of its own (a child before its parent, the
    store's lock order)."""
    for run in store.list_map_runs(execution_arn):
        if run.status != RUNNING:
            continue
        store.update_map_run(run.arn, status=ABORTED, stop=now)
        for child in store.list_executions(status=RUNNING, map_run_arn=run.arn):
            store.stop_execution(child.arn, None, None, now)
            log.info("%s: aborted by its Map Run (aborted: %s ended)", child.arn, execution_arn)
            abort_map_runs(store, child.arn, now)


class _Backoff:
    """A worker's response to errors between executions: wait twice as long after each failure in a row (up to
    ``cap`` seconds), log each distinct error once per run of failures (a traceback only for errors that are not the
    store's), and say when the store works again."""

    def __init__(self, first: float, cap: float = 30.0):
        self.first = first
        self.cap = cap
        self.failures = 0
        self.seen: set[str] = set()

    def failed(self, exc: Exception) -> float:
        self.failures += 1
        key = f"{type(exc).__name__}: {exc}"
        if key not in self.seen:
            self.seen.add(key)
            if isinstance(exc, StoreError):
                log.error("store error, retrying with backoff: %s", exc)
            else:
                log.exception("worker error, retrying with backoff: %s", key)
        return min(self.cap, self.first * 2 ** (self.failures - 1))

    def recovered(self) -> None:
        if self.failures:
            log.info("the store works again after %d failed attempt(s)", self.failures)
            self.failures = 0
            self.seen.clear()


def _token_state(t: TokenRecord) -> TokenState:
    return TokenState(t.status, t.output, t.error, t.cause, t.heartbeat_at, t.started_at, t.worker_name)


class _StoreJournal:
    """The interpreter's :class:`~asl.interpreter.Journal` over a store, for one claimed execution."""

    def __init__(self, worker: Worker, record: ExecutionRecord):
        self.worker = worker
        self.store = worker.store
        self.record = record
        self.history: ReplayHistory | None = None
        self.tokens: list[TokenRecord] = []
        self.map_runs: dict[str, MapRunState] = {}  # Map Runs to write with the next commit
        self.secret = record.seed  # Map Run children's tokens are made from it
        self.children: list[tuple[ExecutionRecord, dict[str, Any]]] = []  # child executions to start with it
        self.thread = threading.get_ident()  # the worker's thread: the only one that writes the history

    def _commit(self, **kw: Any) -> None:
        h = self.history
        assert h is not None
        events = h.pending()
        runs = [MapRunRecord(**{f.name: getattr(r, f.name) for f in fields(MapRunState)}) for r in self.map_runs.values()]
        c = Commit(events=events, tokens=self.tokens, seen_signal=self.record.signal, map_runs=runs,
                   children=self.children, **kw)
        if not self.store.commit(self.record.arn, self.worker.owner, c):
            raise Fenced
        h.flushed = max(h.flushed, len(h.events))  # while replaying, fewer events than the history holds are taken
        self.tokens = []
        self.map_runs = {}
        self.children = []

    def flush(self) -> None:
        self._commit(lease_until=self.worker.lease_deadline())

    def flush_pending(self) -> None:
        """Commit what is recorded but not committed yet, if anything: before the worker sleeps in place (a short
        Wait or Retry delay), so a task's outcome is never lost to a kill during the sleep and run again."""
        if threading.get_ident() != self.thread:
            # a task callable sleeping on the execution's clock (asl.sleep) in its own thread, perhaps abandoned
            # after its timeout while the worker goes on: it must not commit the worker's events
            return
        h = self.history
        if h is not None and (self.tokens or self.map_runs or h.flushed < len(h.events)):
            self.flush()

    def park(self, wake_at: datetime | None) -> None:
        self._commit(park=True, wake_at=wake_at)

    def finish(self, result: ExecutionResult, stop: datetime) -> None:
        rec = self.record
        parent = None
        if rec.parent_token:
            parent = parent_outcome(rec, result.status, stop, result.output, result.error, result.cause)
        self._commit(finish=Finish(result.status, stop, result.output, result.error, result.cause), close_parent=parent)

    # -- Map Runs (asl.runtime.maprun) --------------------------------------------------------------------------
    def map_run(self, arn: str, inputs: bool = True) -> MapRunState | None:
        pending = self.map_runs.get(arn)
        if pending is not None:
            return pending
        rec = self.store.get_map_run(arn, inputs)
        return None if rec is None else MapRunState(**{f.name: getattr(rec, f.name) for f in fields(MapRunState)})

    def save_map_run(self, run: MapRunState) -> None:
        self.map_runs[run.arn] = run

    def start_children(self, children: list[ChildStart]) -> None:
        rec = self.record
        now = wallclock.now()
        for c in children:
            self.tokens.append(TokenRecord(c.token, rec.arn, now))
            seed = hashlib.sha256(f"{rec.seed}:{c.arn}".encode()).hexdigest()[:32]
            child = ExecutionRecord(c.arn, c.state_machine_arn, c.name, RUNNING, c.input, c.definition, c.type,
                                    rec.role_arn, seed, now, wake_at=now, parent_token=c.token, map_run_arn=c.map_run_arn)
            started = {"id": 1, "previousEventId": 0, "timestamp": now, "type": "ExecutionStarted",
                       "executionStartedEventDetails": {"input": c.input, "inputDetails": {"truncated": False},
                                                        "roleArn": rec.role_arn}}
            self.children.append((child, started))

    def tokens_of_execution(self, outputs: bool = True) -> dict[str, TokenState]:
        return {t.token: _token_state(t) for t in self.store.tokens_of(self.record.arn, outputs)}

    def stop_children(self, children: list[ChildStart], error: str, cause: str) -> None:
        now = wallclock.now()
        for c in children:
            rec = self.store.get_execution(c.arn)
            if rec is not None and rec.status == RUNNING:
                self.store.stop_execution(c.arn, error, cause, now, parent_outcome(rec, ABORTED, now, None, error, cause))
                log.info("%s: aborted by its Map Run%s", c.arn, reason(error, cause))
                abort_map_runs(self.store, c.arn, now)

    def redrive_children(self, children: list[ChildStart], attempt: int) -> None:
        now = wallclock.now()
        for c in children:
            rec = self.store.get_execution(c.arn)
            if rec is not None and rec.status not in (RUNNING, SUCCEEDED) and rec.redrive_count < attempt:
                self.store.redrive_execution(c.arn, now, reopen_token=c.token)

    def register_token(self, token: str, activity_arn: str | None, input_text: str | None) -> None:
        if self.store.get_token(token) is None:  # rebuilt executions register the same token again
            self.tokens.append(TokenRecord(token, self.record.arn, wallclock.now(), activity_arn, input_text))

    def token(self, token: str) -> TokenState | None:
        t = self.store.get_token(token)
        if t is None:
            pending = next((x for x in self.tokens if x.token == token), None)
            return None if pending is None else TokenState(PENDING)
        return _token_state(t)

    def expire_token(self, token: str, missed_heartbeat: bool) -> bool:
        status = HEARTBEAT_TIMED_OUT if missed_heartbeat else TIMED_OUT_TOKEN
        before = self.store.close_token(token, status, wallclock.now())
        return before is not None and before.status == PENDING


class Worker:
    """Runs the due executions of a store, one at a time per thread.

    ``tasks`` maps Task resource ARNs to Python callables, as for :func:`asl.interpreter.run`, and ``adapters``
    (an :class:`asl.adapters.Adapters`) serves the other resources. ``lease_seconds``
    is how long a claim holds without renewal (a background thread renews it while a task runs);
    ``inline_wait`` is the longest Wait or Retry delay slept in place rather than parked.
    """

    def __init__(self, store: Store, tasks: Mapping[str, TaskFunction] | None = None, *, lease_seconds: float = 30.0,
                 inline_wait: float = 1.0, poll_interval: float = 0.2, owner: str | None = None, adapters: Any = None,
                 mock_config: Any = None, virtual_time: bool = False):
        self.store = store
        # on virtual time (tests) every Wait, Retry delay and timeout parks, and run_until_idle moves the time of day
        # forward to the next wake-up instead of waiting for it (asl.wallclock: for the whole process)
        self.virtual_time = virtual_time
        if virtual_time:
            inline_wait = 0.0
        self.tasks = dict(tasks or {})
        self.adapters = adapters  # an asl.adapters.Adapters registry for resources without a callable
        self.mock_config = mock_config  # an asl.mocks.MockConfig: executions started as <arn>#<TestCase>
        self.lease_seconds = lease_seconds
        self.inline_wait = inline_wait
        self.poll_interval = poll_interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._current: str | None = None
        self._stop = threading.Event()

    def lease_deadline(self) -> datetime:
        return wallclock.now() + timedelta(seconds=self.lease_seconds)

    # -- running ---------------------------------------------------------------------------------------------
    def run_one(self) -> bool:
        """Claim one due execution and run it until it ends or parks. False when none was due."""
        rec = self.store.claim(self.owner, wallclock.now(), self.lease_deadline(), owner_dead)
        if rec is None:
            return False
        self._current = rec.arn
        try:
            self._run(rec)
        finally:
            self._current = None
        return True

    def _run(self, rec: ExecutionRecord) -> None:
        journal = _StoreJournal(self, rec)
        try:
            machine = _compiled(rec.definition)
        except DefinitionError as exc:  # cannot happen for definitions the service accepted; never crash the worker
            self._fail(rec, "States.Runtime", f"The definition cannot be loaded: {exc}")
            return
        mocks = None
        if rec.test_case is not None:
            try:
                if self.mock_config is None:
                    raise KeyError("this worker has no mock configuration")
                mocks = self.mock_config.test_case(rec.state_machine_arn.split(":")[6], rec.test_case).start()
            except KeyError as exc:
                self._fail(rec, "States.Runtime", f"The mocked test case '{rec.test_case}' is not available: {exc.args[0]}")
                return
        events = self.store.events(rec.arn)
        log.info("%s: %s", rec.arn, claimed(rec, events))
        rng, uuid4 = rng_for(rec.seed)
        clock = DurableClock(rec.start, self.inline_wait, before_sleep=journal.flush_pending)
        parts = rec.arn.split(":")
        opts = ExecutionOptions(account=parts[4], region=parts[3], partition=parts[1], execution_name=rec.name,
                                machine_type=rec.type, state_machine_arn=rec.state_machine_arn, execution_arn=rec.arn,
                                role_arn=rec.role_arn, clock=clock, rng=rng, uuid4=uuid4, tasks=self.tasks,
                                adapters=self.adapters, journal=journal, recorded=events, mocks=mocks)
        ex = Execution(machine, rec.input, opts)
        assert isinstance(ex.history, ReplayHistory)
        journal.history = ex.history
        try:
            try:
                result = ex.run()
            except Parked as p:
                journal.park(p.wake_at)
                log.info("%s: parked until %s", rec.arn,
                         "a callback" if p.wake_at is None else p.wake_at.isoformat(timespec="milliseconds"))
                return
            journal.finish(result, clock.now())
            log.info("%s: %s", rec.arn, ended(result, rec, clock.now()))
        except Fenced:
            log.info("%s: %s", rec.arn, dropped(self.store, rec.arn))
        except ReplayMismatch as exc:
            log.error("%s: cannot be rebuilt from its history: %s", rec.arn, exc)
            self._fail(rec, "States.Runtime", f"The execution cannot be rebuilt from its history: {exc}")
        except StoreError:
            raise  # the store's trouble, not the execution's: the worker backs off and the execution is run again
        except Exception as exc:  # a bug in asl must end this execution, not the worker, nor leave it RUNNING
            log.exception("%s: failed inside asl", rec.arn)
            self._fail(rec, "States.Runtime", f"An internal error stopped the execution: {type(exc).__name__}: {exc}")

    def _fail(self, rec: ExecutionRecord, error: str, cause: str) -> None:
        now = wallclock.now()
        events = self.store.events(rec.arn)
        last = events[-1]["id"] if events else 0
        ev = {"id": last + 1, "previousEventId": last, "timestamp": now, "type": "ExecutionFailed",
              "executionFailedEventDetails": {"error": error, "cause": cause}}
        parent = parent_outcome(rec, FAILED, now, None, error, cause) if rec.parent_token else None
        if self.store.commit(rec.arn, self.owner, Commit(events=[ev], finish=Finish(FAILED, now, None, error, cause),
                                                         close_parent=parent)):
            abort_map_runs(self.store, rec.arn, now)

    def run_until_idle(self, timeout: float | None = None) -> int:
        """Run executions until none is due. With ``timeout``, keep polling for up to that many seconds while
        executions are still running (waiting on a timer or a callback from another thread or process); without
        it, return as soon as nothing is due now. On virtual time, the time of day moves forward to the next wake-up
        of a parked execution instead (an hour's Wait takes no time). Returns how many runs it made."""
        runs = 0
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self._due_count()
            if self.run_one():
                runs += 1
                continue
            if self.virtual_time:
                wake = self.store.next_wake()
                if wake is not None and wake > wallclock.now():
                    wallclock.advance_to(wake)
                    continue
            if end is None or not self.store.list_executions(status=RUNNING):
                return runs
            left = end - time.monotonic()
            if left <= 0:
                return runs
            self._wait_for_due(min(left, self._idle_delay()), seen)

    def run_forever(self) -> None:
        """Run due executions until :meth:`stop` is called, renewing the lease of the one running. A store that
        cannot be used (full disk, locked, read-only) or any other error between executions never ends the
        worker: it backs off exponentially, logs each distinct error once, and goes on when the store is usable."""
        renewer = threading.Thread(target=self._renew_loop, name="asl-lease", daemon=True)
        renewer.start()
        trouble = _Backoff(self.poll_interval)
        while not self._stop.is_set():
            seen = self._due_count()
            try:
                if self.run_one():
                    trouble.recovered()
                    continue
                delay = self._idle_delay()
                trouble.recovered()
            except Exception as exc:  # whatever it is, the worker must go on
                self._stop.wait(trouble.failed(exc))
                continue
            self._wait_for_due(delay, seen)

    def _idle_delay(self) -> float:
        """How long to wait before looking for due executions again: the poll interval, or less if a parked
        execution wakes sooner. A store that tells its workers when an execution becomes due (PostgreSQL) is
        polled only every ``NOTIFIED_POLL`` seconds, to find leases that expired (which nobody announces)."""
        poll = max(self.poll_interval, NOTIFIED_POLL) if getattr(self.store, "notifies", False) else self.poll_interval
        wake = self.store.next_wake()
        if wake is None:
            return poll
        return min(poll, max(0.0, (wake - wallclock.now()).total_seconds()))

    def _due_count(self) -> int:
        """How many due notices the store has heard (0 for a store that does not send them)."""
        count = getattr(self.store, "due_count", None)
        return 0 if count is None else int(count())

    def _wait_for_due(self, delay: float, seen: int) -> None:
        """Wait ``delay`` seconds, or less when stopped or (on a store that sends them) when a notice that an
        execution became due arrives after ``seen``."""
        wait = getattr(self.store, "wait_for_due", None)
        if wait is None:
            self._stop.wait(delay)
            return
        end = time.monotonic() + delay
        # in slices, so stop() is seen within half a second
        while not self._stop.is_set() and (left := end - time.monotonic()) > 0:
            if wait(min(left, 0.5), seen):
                return

    def stop(self) -> None:
        self._stop.set()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            current = self._current
            if current is not None:
                with contextlib.suppress(Exception):
                    self.store.renew([current], self.owner, self.lease_deadline())
