"""Interpreter: runs a compiled :class:`~asl.model.StateMachine` and records its execution history.

One explicit loop (:meth:`Execution._run_block`) moves through a ``States`` block; each state type has a handler
that takes the state's input and returns its output and the name of the next state (None at the end). Parallel
branches and Map iterations run the same loop on their own block. Errors are :class:`StateError` values carrying
the ASL error name and AWS's cause text; the loop applies Retry and Catch.

Time, sleeping, ids and randomness come from an injected :class:`Clock` and ``random.Random``: on the default
:class:`VirtualClock`, Wait and Retry delays cost no real time.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import random
import threading
import time
import uuid
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from . import jsontext
from .intrinsics import Call, IntrinsicEnv, IntrinsicFailure
from .intrinsics import evaluate as eval_intrinsic
from .jsonata import ENVIRONMENT, FUNCTION_RESULT, UNDEFINED, Environment, JsonataEvaluationError, type_name
from .jsonpath import CONTEXT, VARIABLE, Path, PathNotFound
from .jsontext import dumps, dumps_checked
from .model import ABSENT, Block, Catcher, JTemplate, Retrier, Rule, State, StateMachine, Template
from .resources import SYNC, SYNC2, WAIT_FOR_TASK_TOKEN, Resource
from .validate import JSONATA, is_timestamp

MAX_PAYLOAD = 262144


# -- time -----------------------------------------------------------------------------------------------------
class Clock(Protocol):
    """The source of time. ``sleep`` may advance virtual time instead of waiting."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class VirtualClock:
    """A clock that moves only when slept on: Wait and Retry cost no real time."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class RealClock:
    """Wall-clock time; ``sleep`` really sleeps."""

    real = True

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Parked(BaseException):  # noqa: N818 - not an error: the execution stops here and resumes later
    """Raised through the interpreter when a durable execution must wait longer than its worker should hold it
    (a long Wait or Retry delay, a callback): the worker commits and releases the execution, and runs it again,
    rebuilt from its history, at ``wake_at`` (None: when a callback arrives)."""

    def __init__(self, wake_at: datetime | None):
        super().__init__(wake_at)
        self.wake_at = wake_at


class DurableClock:
    """The clock of a durable execution. ``now()`` is the time of the execution's latest history event, so every
    value an expression reads from the clock is the same when the execution is rebuilt from its history; new
    events take the wall-clock time. ``sleep`` waits relative to the latest event: while replaying it returns at
    once, live it sleeps in place up to ``inline_wait`` seconds and parks the execution for longer waits, so a
    Wait keeps its original wake-up time across a restart."""

    real = True

    def __init__(self, start: datetime, inline_wait: float = 1.0, before_sleep: Callable[[], None] | None = None):
        self.t = start
        self.inline_wait = inline_wait
        self.replaying: Callable[[], bool] = lambda: False
        self.before_sleep = before_sleep  # commits what is pending: nothing finished is lost to a kill in the sleep

    def now(self) -> datetime:
        return self.t

    def wall(self) -> datetime:
        return max(datetime.now(UTC), self.t)

    def sleep(self, seconds: float) -> None:
        target = self.t + timedelta(seconds=seconds)
        if not self.replaying():
            wait = (target - datetime.now(UTC)).total_seconds()
            if wait > self.inline_wait:
                raise Parked(target)
            if wait > 0:
                if self.before_sleep is not None:
                    self.before_sleep()
                time.sleep(wait)
        self.t = max(self.t, target)


@dataclass(frozen=True)
class TokenState:
    """What the journal knows of a task token: its status (PENDING until closed), the outcome, the time of the
    last heartbeat, and for an activity task when and by whom it was taken."""

    status: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    worker_name: str | None = None


TIMED_OUT_TOKEN, HEARTBEAT_TIMED_OUT = "TIMED_OUT", "HEARTBEAT_TIMED_OUT"  # statuses of an expired token


class Journal(Protocol):
    """The durable engine's side of a running execution (see :mod:`asl.durable`)."""

    def flush(self) -> None:
        """Commit every event and token recorded so far, before a side effect leaves the process."""

    def register_token(self, token: str, activity_arn: str | None, input_text: str | None) -> None:
        """Record a task token (committed with the next flush); with ``activity_arn`` it is an activity task."""

    def token(self, token: str) -> TokenState | None: ...

    def expire_token(self, token: str, missed_heartbeat: bool) -> bool:
        """Close a PENDING token as timed out (TIMED_OUT, or HEARTBEAT_TIMED_OUT); False if a callback closed it
        first."""


_CLOCK: contextvars.ContextVar[Clock] = contextvars.ContextVar("asl_clock")


def sleep(seconds: float) -> None:
    """Sleep on the running execution's clock: a task callable that calls this takes ``seconds`` of (virtual or
    real) time, which counts against its Task's TimeoutSeconds. Outside an execution, sleeps for real."""
    clock = _CLOCK.get(None)
    if clock is None:
        time.sleep(seconds)
    else:
        clock.sleep(seconds)


_LAST_ISO: tuple[datetime | None, str] = (None, "")


def iso(ts: datetime) -> str:
    """AWS's ISO-8601 form: milliseconds and ``Z``."""
    global _LAST_ISO
    last = _LAST_ISO
    if last[0] == ts:  # consecutive states on a virtual clock enter at the same instant
        return last[1]
    text = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    _LAST_ISO = (ts, text)
    return text


# -- errors ---------------------------------------------------------------------------------------------------
class StateError(Exception):
    """A state failed with an ASL error name and cause. ``States.Runtime`` is never retried or caught."""

    def __init__(self, error: str | None, cause: str | None = None):
        super().__init__(error, cause)
        self.error = error
        self.cause = cause
        # An event a Parallel or Map state writes only when this error is final (not retried), and its parent id.
        self.final_event: tuple[str, int] | None = None

    @property
    def catchable(self) -> bool:
        return self.error != "States.Runtime"


class HeartbeatTimedOut(StateError):
    """States.Timeout from a missed heartbeat: AWS reports it as States.Timeout (recorded), and a Retrier or
    Catcher naming States.HeartbeatTimeout matches it too."""

    def __init__(self) -> None:
        super().__init__("States.Timeout", None)


class TaskFailed(Exception):
    """Raised by a task callable to fail its Task with an error name and cause (as a Lambda error would)."""

    def __init__(self, error: str, cause: str | None = None):
        super().__init__(error, cause)
        self.error = error
        self.cause = cause


class _BranchEnded(Exception):
    """A Fail state ended a branch, an iteration or the execution."""

    def __init__(self, err: StateError):
        self.err = err


# -- tasks ----------------------------------------------------------------------------------------------------
TaskFunction = Callable[[Any, Mapping[str, Any]], Any]


@dataclass
class ExecutionOptions:
    """Identity and services of one execution. Defaults match Step Functions Local's test account."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    state_machine_name: str = "StateMachine"
    execution_name: str | None = None
    machine_type: str = "STANDARD"  # or EXPRESS: ``express:`` execution ARNs
    sync: bool = False  # started by StartSyncExecution (EXPRESS): the context object has no RedriveCount
    state_machine_arn: str | None = None
    execution_arn: str | None = None
    role_arn: str | None = None
    clock: Clock = field(default_factory=VirtualClock)
    # seeded with 128 bits from the OS: random.Random() reads 2.5 KB, which cost a tenth of a 100-state run
    rng: random.Random = field(default_factory=lambda: random.Random(int.from_bytes(os.urandom(16), "big")))
    uuid4: Callable[[], str] = field(default_factory=lambda: (lambda: str(uuid.uuid4())))
    tasks: Mapping[str, TaskFunction] = field(default_factory=dict)
    adapters: Any = None  # an asl.adapters.Adapters registry: resources without a callable in ``tasks``
    journal: Journal | None = None  # durable executions only (asl.durable)
    recorded: Sequence[dict[str, Any]] | None = None  # the history to rebuild the execution from
    mocks: Any = None  # an asl.mocks.Mocks: mocked Task responses of a test case, counted for this execution
    coverage: Any = None  # an object with hit(pointer): told of each state, Choice rule, Retrier and Catcher used


@dataclass
class ExecutionResult:
    """What an execution ended with. ``output`` is the output's JSON text (SUCCEEDED only); ``history`` its events."""

    status: str
    output: str | None
    error: str | None
    cause: str | None
    log: Sequence[Any] = field(repr=False)  # the history as recorded (see _History); read it as ``history``
    execution_arn: str

    @functools.cached_property
    def history(self) -> list[dict[str, Any]]:
        """The execution history: AWS's events, as dicts, oldest first (made on first read)."""
        return [event_dict(e) for e in self.log]

    @property
    def output_value(self) -> Any:
        return None if self.output is None else json.loads(self.output)


def event_dict(entry: Any) -> dict[str, Any]:
    """A history entry as AWS's event: ``id``, ``previousEventId``, ``timestamp``, ``type`` and its details."""
    if isinstance(entry, dict):  # an event read back from a store
        return entry
    eid, prev, ts, etype, key, details = entry
    ev: dict[str, Any] = {"id": eid, "previousEventId": prev, "timestamp": ts, "type": etype}
    if key is not None:
        if details is None:
            details = {}
        elif isinstance(details, tuple):  # (state name, JSON text) of a StateEntered or StateExited event
            if key == "stateEnteredEventDetails":
                details = {"name": details[0], "input": details[1], "inputDetails": {"truncated": False}}
            else:
                details = {"name": details[0], "output": details[1], "outputDetails": {"truncated": False}}
        ev[key] = details
    return ev


class _History:
    """The event log of one execution. Each event is kept as a tuple (id, previousEventId, timestamp, type, details
    key, details) until it is read (:func:`event_dict`): building AWS's nested dicts for every event cost more than
    the rest of a Pass state, and most histories are read rarely, if ever. A StateEntered or StateExited event without
    assigned variables keeps its details as (state name, JSON text)."""

    def __init__(self, clock: Clock):
        self.events: list[Any] = []
        self.clock = clock

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        eid = len(self.events) + 1
        self.events.append((eid, prev, self.clock.now(), etype, details_key, details))
        return eid


class ReplayMismatch(Exception):
    """Rebuilding an execution from its history took a different path than the history records."""


class _ReplayHistory(_History):
    """The history of a durable execution: ``add`` first walks the recorded events (checking that the rebuilt
    execution takes the same path and taking their ids and times), then records new ones with wall-clock time."""

    def __init__(self, clock: DurableClock, recorded: Sequence[dict[str, Any]]):
        super().__init__(clock)
        self.dclock = clock
        self.recorded = recorded
        self.flushed = len(recorded)
        clock.replaying = self.replaying

    def replaying(self) -> bool:
        return len(self.events) < len(self.recorded)

    def peek(self) -> dict[str, Any] | None:
        """The next recorded event, if the execution has not caught up with its history yet."""
        return self.recorded[len(self.events)] if len(self.events) < len(self.recorded) else None

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        n = len(self.events)
        if n < len(self.recorded):
            ev = self.recorded[n]
            if ev["type"] != etype:
                raise ReplayMismatch(f"event {n + 1}: the history records {ev['type']}, the rebuilt execution made {etype}")
            self.events.append(ev)
            self.dclock.t = ev["timestamp"]
            return n + 1
        ts = self.dclock.wall()
        self.dclock.t = ts
        self.events.append((n + 1, prev, ts, etype, details_key, details))
        return n + 1

    def pending(self) -> list[dict[str, Any]]:
        """Events recorded since the last flush (the journal marks them flushed after committing)."""
        return [event_dict(e) for e in self.events[self.flushed:]]


@dataclass
class _Frame:
    """Where a thread of execution is: the last event id it wrote and the variables it sees."""

    cursor: int
    variables: dict[str, Any]
    outer: _Frame | None = None
    map_item: dict[str, Any] | None = None

    def scopes(self) -> list[dict[str, Any]]:
        """The variable scopes this frame can read, innermost first (for JSONata bindings, without copying)."""
        out = []
        f: _Frame | None = self
        while f is not None:
            out.append(f.variables)
            f = f.outer
        return out

    def lookup(self, name: str) -> Any:
        f: _Frame | None = self
        while f is not None:
            if name in f.variables:
                return f.variables[name]
            f = f.outer
        raise KeyError(name)


class _StateCtx(dict[str, Any]):
    """The context object's ``State`` entry for one state run (EnteredTime, Name, RetryCount), carrying the ids of
    the run's StateEntered event and of the event before it, which AWS's error causes and events refer to."""

    def __init__(self, state: State, entered: int, entered_prev: int, entered_time: str):
        super().__init__(EnteredTime=entered_time, Name=state.name)
        self.state = state
        self.entered = entered
        self.entered_prev = entered_prev
        self.token: str | None = None  # $$.Task.Token: the task token of a .waitForTaskToken Task
        self.callback_token: str | None = None  # the token any callback-like Task waits on (activities, .sync too)


_ENTERED = {t: (t + "StateEntered") for t in ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")}
_EXITED = {t: (t + "StateExited") for t in ("Pass", "Task", "Choice", "Wait", "Succeed", "Parallel", "Map")}


class Execution:
    """One run of a state machine. Create it, call :meth:`run`, read the :class:`ExecutionResult`."""

    inspect: dict[str, Any] | None = None  # TestState: the value after each data-flow step of inspect_state
    inspect_state: State | None = None

    def __init__(self, machine: StateMachine, input_text: str | None = None, options: ExecutionOptions | None = None):
        self.machine = machine
        self.opts = options or ExecutionOptions()
        o = self.opts
        self.input_text = "{}" if input_text is None else input_text
        self.input = jsontext.loads(self.input_text, "The execution input")
        name = o.execution_name or o.uuid4()
        self.sm_arn = o.state_machine_arn or f"arn:{o.partition}:states:{o.region}:{o.account}:stateMachine:{o.state_machine_name}"
        sm_name = self.sm_arn.rsplit(":", 1)[-1]
        express = o.machine_type == "EXPRESS"
        arn = o.execution_arn
        if express and (arn is None or ":express:" not in arn):
            # EXPRESS executions are named arn:…:express:<state machine>:<execution name>:<uuid>
            arn = f"arn:{o.partition}:states:{o.region}:{o.account}:express:{sm_name}:{name}:{o.uuid4()}"
        self.exec_arn = arn or f"arn:{o.partition}:states:{o.region}:{o.account}:execution:{sm_name}:{name}"
        if o.execution_name is None:
            name = self.exec_arn.split(":")[7] if ":express:" in self.exec_arn else self.exec_arn.rsplit(":", 1)[-1]
        self.role_arn = o.role_arn or f"arn:{o.partition}:iam::{o.account}:role/StepFunctionsRole"
        self.clock = o.clock
        self.journal = o.journal
        if o.recorded is not None:
            assert isinstance(self.clock, DurableClock), "rebuilding from a history needs a DurableClock"
            self.history: _History = _ReplayHistory(self.clock, o.recorded)
        else:
            self.history = _History(self.clock)
        self.start_time = self.clock.now()
        self.intrinsic_env = IntrinsicEnv(o.rng, o.uuid4)
        self.context_execution = {"Id": self.exec_arn, "Input": self.input, "StartTime": iso(self.start_time),
                                  "Name": name, "RoleArn": self.role_arn}
        if not o.sync:
            self.context_execution["RedriveCount"] = 0
        self.context_sm = {"Id": self.sm_arn, "Name": sm_name}
        self.deadline = (self.start_time + timedelta(seconds=machine.timeout_seconds)) if machine.timeout_seconds else None
        # The JSON text of a state's output, made once for its size check and reused for its StateExited event and
        # the next state's StateEntered. Kept by identity, and only across steps that run no user code (a task
        # callable could change a value in place), so the text is always that of the value.
        self._out_text: tuple[Any, str] | None = None
        self._carry: tuple[Any, str] | None = None

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self) -> ExecutionResult:
        """Run to the end and return the result. Never raises for a failing execution."""
        h = self.history
        h.add("ExecutionStarted", 0, "executionStartedEventDetails",
              {"input": self.input_text, "inputDetails": {"truncated": False}, "roleArn": self.role_arn})
        frame = _Frame(0, {})
        with self.bound():
            return self._run_top(frame)

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """This execution's clock, randomness and ids, as the JSONata functions and ``sleep`` find them."""
        token = ENVIRONMENT.set(Environment(self.opts.rng, self.opts.uuid4, self.clock.now()))
        clock_token = _CLOCK.set(self.clock)
        try:
            yield
        finally:
            _CLOCK.reset(clock_token)
            ENVIRONMENT.reset(token)

    def _run_top(self, frame: _Frame) -> ExecutionResult:
        h = self.history
        try:
            output = self._run_block(self.machine.top, self.input, frame)
        except _BranchEnded as end:
            return self._fail(end.err, frame.cursor, "ExecutionFailed", "FAILED")
        except StateError as err:
            if err.error == "States.Timeout" and self.deadline is not None and self.clock.now() >= self.deadline:
                return self._fail(err, frame.cursor, "ExecutionTimedOut", "TIMED_OUT")
            return self._fail(err, frame.cursor, "ExecutionFailed", "FAILED")
        except RecursionError:  # the states catch their own; this is the last net (an Assign, a Choice rule, ...)
            return self._fail(StateError("States.Runtime", _TOO_DEEP), frame.cursor, "ExecutionFailed", "FAILED")
        text = dumps(output)
        h.add("ExecutionSucceeded", frame.cursor, "executionSucceededEventDetails",
              {"output": text, "outputDetails": {"truncated": False}})
        return ExecutionResult("SUCCEEDED", text, None, None, self._history_out(), self.exec_arn)

    def _fail(self, err: StateError, prev: int, etype: str, status: str) -> ExecutionResult:
        details = {k: v for k, v in (("error", err.error), ("cause", err.cause)) if v is not None}
        key = "executionFailedEventDetails" if etype == "ExecutionFailed" else "executionTimedOutEventDetails"
        self.history.add(etype, prev, key, details)
        return ExecutionResult(status, None, err.error, err.cause, self._history_out(), self.exec_arn)

    def _history_out(self) -> list[Any]:
        return self.history.events  # the execution is over: its history no longer changes

    def _run_block(self, block: Block, value: Any, frame: _Frame) -> Any:
        """The interpreter loop: enter a state, run its handler, follow Next until a state ends the block."""
        name: str | None = block.start_at
        states = block.states
        while name is not None:
            if self.deadline is not None:
                self._check_deadline()
            value, name = self._run_state(states[name], value, frame)
        return value

    def _check_deadline(self) -> None:
        if self.deadline is not None and self.clock.now() >= self.deadline:
            raise StateError("States.Timeout", None)

    def _run_state(self, state: State, raw_input: Any, frame: _Frame) -> tuple[Any, str | None]:
        h = self.history
        entered_prev = frame.cursor
        carry, self._carry, self._out_text = self._carry, None, None
        text = carry[1] if carry is not None and carry[0] is raw_input else dumps(raw_input)
        entered = h.add(_ENTERED[state.type], frame.cursor, "stateEnteredEventDetails", (state.name, text))
        frame.cursor = entered
        if self.opts.coverage is not None:
            _cover(self, state.pointer)
        if state.passthrough and self.inspect is None and len(text) * 4 <= MAX_PAYLOAD:
            # Nothing to evaluate: the output is the input, whose text was just recorded (and is under the payload
            # limit whatever its UTF-8 length, as in _check_size)
            self._carry = (raw_input, text)
            frame.cursor = h.add(_EXITED[state.type], entered, "stateExitedEventDetails", (state.name, text))
            return raw_input, state.next
        ctx_state = _StateCtx(state, entered, entered_prev, iso(self.clock.now()))
        handler = _HANDLERS[state.type]
        retry_counts: list[int] | None = None  # made on the first error: most states never fail
        while True:
            try:
                output, nxt, assigned = handler(self, state, raw_input, frame, ctx_state)
                break
            except RecursionError:  # a value made inside the execution nests too deeply for Python to walk
                raise _runtime(state, entered, _NoRecovery("States.Runtime", _TOO_DEEP)) from None
            except StateError as err:
                if not err.catchable or isinstance(err, _NoRecovery):
                    raise _runtime(state, entered, err) from None
                if retry_counts is None:
                    retry_counts = [0] * len(state.retry)
                delay = self._retry_delay(state, err, retry_counts)
                if delay is None and err.final_event is not None:
                    frame.cursor = h.add(err.final_event[0], err.final_event[1])
                if delay is not None:
                    self.clock.sleep(delay)
                    self._check_deadline()
                    if state.type == "Task":
                        ctx_state["RetryCount"] = sum(retry_counts)
                    continue
                caught = _match_catcher(state.catch, err)
                if caught is None:
                    raise
                index, catcher = caught
                self._out_text = None  # what the failed attempt encoded is not this output
                _cover(self, f"{state.pointer}/Catch/{index}")
                output, assigned = self._apply_catcher(state, catcher, raw_input, err, frame, ctx_state)
                nxt = catcher.next
                break
        self._assign(state, frame, assigned)
        if state.type in _EXITED:
            sized = self._out_text
            try:
                text = sized[1] if sized is not None and sized[0] is output else dumps(output)
            except RecursionError:
                raise _runtime(state, entered, _NoRecovery("States.Runtime", _TOO_DEEP)) from None
            self._carry = (output, text)
            details: Any = (state.name, text)
            if assigned:
                details = {"name": state.name, "output": text, "outputDetails": {"truncated": False},
                           "assignedVariables": {k: dumps(v) for k, v in assigned.items()},
                           "assignedVariablesDetails": {"truncated": False}}
            frame.cursor = h.add(_EXITED[state.type], frame.cursor, "stateExitedEventDetails", details)
        return output, nxt

    def _assign(self, state: State, frame: _Frame, assigned: dict[str, Any] | None) -> None:
        """Variables take their new values when the state ends, all at once (the right-hand sides saw the old ones)."""
        if assigned:
            if len(dumps(assigned).encode()) > MAX_PAYLOAD:
                raise _NoRecovery("States.DataLimitExceeded", f"The state '{state.name}' assigned variables with a size "
                                                              "exceeding the maximum number of bytes service limit.")
            frame.variables.update(assigned)

    def _retry_delay(self, state: State, err: StateError, counts: list[int]) -> float | None:
        for i, r in enumerate(state.retry):
            if _matches(r.error_equals, err):
                if counts[i] >= r.max_attempts:
                    return None
                delay = _backoff(r, counts[i])
                if r.jitter == "FULL":
                    delay = self.opts.rng.uniform(0, delay)
                counts[i] += 1
                _cover(self, f"{state.pointer}/Retry/{i}")
                return delay
        return None

    def _apply_catcher(self, state: State, c: Catcher, raw_input: Any, err: StateError, frame: _Frame,
                       sctx: Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        error_output: dict[str, Any] = {"Error": err.error}
        if err.cause is not None:
            error_output["Cause"] = err.cause
        if state.query_language == JSONATA:
            assert isinstance(sctx, _StateCtx)
            states = {**self.states_binding(raw_input, frame, sctx), "errorOutput": error_output}
            return self.jfinish(c.assign, c.output, error_output, states, frame, sctx)
        assigned = None
        if c.assign is not ABSENT:
            assigned = self._eval_assign(c.assign, error_output, frame, state, sctx)
        if c.result_path is ABSENT:
            return error_output, assigned
        if c.result_path is None:
            return raw_input, assigned
        return self._set_result(c.result_path, raw_input, error_output), assigned

    # -- evaluation helpers ------------------------------------------------------------------------------------
    def context(self, state_ctx: Mapping[str, Any], frame: _Frame | None = None) -> dict[str, Any]:
        ctx: dict[str, Any] = {"Execution": self.context_execution, "StateMachine": self.context_sm, "State": dict(state_ctx)}
        token = getattr(state_ctx, "token", None)
        if token is not None:
            ctx["Task"] = {"Token": token}
        if frame is not None and frame.map_item is not None:
            ctx["Map"] = {"Item": frame.map_item}
        return ctx

    def resolve(self, path: Path, value: Any, frame: _Frame, state_ctx: Mapping[str, Any]) -> Any:
        """Evaluate a path against the value, the context object or a variable."""
        if path.root == CONTEXT:
            return path.find(self.context(state_ctx, frame))
        if path.root == VARIABLE:
            assert path.variable is not None
            try:
                root = frame.lookup(path.variable)
            except KeyError:
                raise PathNotFound(f"The variable '${path.variable}' is not defined") from None
            return path.find(root)
        return path.find(value)

    def eval_template(self, tpl: Template, value: Any, frame: _Frame, state_ctx: Mapping[str, Any], state: State) -> Any:
        """Evaluate a payload template against ``value``."""
        if tpl.kind == "lit":
            return tpl.entries[0][2]
        if tpl.kind == "arr":
            return [self.eval_template(p, value, frame, state_ctx, state) if kind == "tpl" else p for _, kind, p in tpl.entries]
        out: dict[str, Any] = {}
        for key, kind, payload in tpl.entries:
            if kind == "lit":
                out[key] = payload
            elif kind == "tpl":
                out[key] = self.eval_template(payload, value, frame, state_ctx, state)
            elif kind == "path":
                path, field_name = payload
                try:
                    out[key] = self.resolve(path, value, frame, state_ctx)
                except PathNotFound:
                    raise StateError("States.Runtime", f"The JSONPath '{path.text}' specified for the field '{field_name}' "
                                                       f"could not be found in the input '{dumps(value)}'") from None
            else:
                call, field_name = payload
                out[key] = self.eval_call(call, value, frame, state_ctx)
        return out

    def eval_call(self, call: Call, value: Any, frame: _Frame, state_ctx: Mapping[str, Any]) -> Any:
        def res(p: Path) -> Any:
            try:
                return self.resolve(p, value, frame, state_ctx)
            except PathNotFound:
                raise IntrinsicFailure(f"The JSONPath '{p.text}' could not be found in the input '{dumps(value)}'") from None

        try:
            return eval_intrinsic(call, res, self.intrinsic_env)
        except IntrinsicFailure as exc:
            raise StateError("States.IntrinsicFailure", str(exc)) from None

    def _eval_assign(self, assign: Any, value: Any, frame: _Frame, state: State, state_ctx: Mapping[str, Any]) -> dict[str, Any]:
        """A JSONPath Assign: a payload template over ``value``."""
        result = self.eval_template(assign, value, frame, state_ctx, state)
        assert isinstance(result, dict)
        return result

    # -- JSONata ------------------------------------------------------------------------------------------------
    def states_binding(self, raw_input: Any, frame: _Frame, sctx: _StateCtx) -> dict[str, Any]:
        """``$states`` for a JSONata state: its input and the context object (result / errorOutput added later)."""
        return {"input": raw_input, "context": self.context(sctx, frame)}

    def query_error(self, frame: _Frame, sctx: _StateCtx, location: str | None, message: str,
                    prev: int | None = None) -> StateError:
        """A ``States.QueryEvaluationError`` of this state run, with its EvaluationFailed event recorded."""
        st = sctx.state
        cause = f"An error occurred while executing the state '{st.name}' (entered at the event id #{sctx.entered}). {message}"
        details: dict[str, Any] = {"cause": cause, "error": "States.QueryEvaluationError"}
        if location is not None:
            details["location"] = location
        details["state"] = st.name
        # AWS points the event at the event before StateEntered, except where noted by the caller.
        frame.cursor = self.history.add("EvaluationFailed", sctx.entered_prev if prev is None else prev,
                                        "evaluationFailedEventDetails", details)
        err = StateError("States.QueryEvaluationError", cause)
        if st.type in ("Map", "Parallel"):
            err.final_event = (st.type + "StateFailed", frame.cursor)
        return err

    def jeval(self, tpl: JTemplate, states: Mapping[str, Any], frame: _Frame, sctx: _StateCtx) -> Any:
        """Evaluate a JSONata-mode field: literals as they are, every ``{% %}`` string evaluated."""
        kind = tpl.kind
        if kind == "lit":
            return tpl.value
        if kind == "obj":
            return {k: self.jeval(t, states, frame, sctx) for k, t in tpl.value}
        if kind == "arr":
            return [self.jeval(t, states, frame, sctx) for t in tpl.value]
        expr = tpl.value
        ENVIRONMENT.get().now = self.clock.now()
        bindings = ChainMap({"states": states}, *frame.scopes())
        where = f"The JSONata expression '{expr.text}' specified for the field '{tpl.location}'"
        try:
            value = expr.evaluate(bindings)
        except JsonataEvaluationError as exc:
            raise self.query_error(frame, sctx, tpl.location, f"{where} threw an error during evaluation. {exc}") from None
        if value is UNDEFINED:
            raise self.query_error(frame, sctx, tpl.location, f"{where} returned nothing (undefined).")
        if value is FUNCTION_RESULT:
            raise self.query_error(frame, sctx, tpl.location, f"{where} returned an unsupported result type.")
        return value

    def jeval_typed(self, tpl: JTemplate, expected: str, states: Mapping[str, Any], frame: _Frame, sctx: _StateCtx) -> Any:
        """Evaluate a field whose value must have a JSON type (``array``, ``boolean``, ``string``, ``number``,
        ``integer``)."""
        value = self.jeval(tpl, states, frame, sctx)
        actual = type_name(value)
        ok = actual == expected or (expected == "integer" and actual == "number" and float(value).is_integer())
        if not ok:
            text = tpl.value.text if tpl.kind == "expr" else dumps(tpl.value)
            raise self.query_error(frame, sctx, tpl.location,
                                   f"The JSONata expression '{text}' specified for the field '{tpl.location}' returned an "
                                   f"unexpected result type. Expected '{expected}', but was '{actual}' for value: {dumps(value)}")
        return int(value) if expected == "integer" else value

    def jassign(self, tpl: Any, states: Mapping[str, Any], frame: _Frame, sctx: _StateCtx) -> dict[str, Any] | None:
        """A JSONata Assign: every right-hand side sees the variables as they were when the state was entered."""
        if tpl is ABSENT:
            return None
        result = self.jeval(tpl, states, frame, sctx)
        assert isinstance(result, dict)
        return result

    def jfinish(self, assign: Any, output: Any, default: Any, states: Mapping[str, Any], frame: _Frame,
                sctx: _StateCtx) -> tuple[Any, dict[str, Any] | None]:
        """Assign and Output over the same ``$states`` (Assign first); Output, when absent, is ``default``."""
        assigned = self.jassign(assign, states, frame, sctx)
        out = self.jeval(output, states, frame, sctx) if output is not ABSENT else default
        return out, assigned

    def jsonata_io(self, state: State, raw_input: Any, frame: _Frame, sctx: _StateCtx, work: Callable[[Any], Any],
                   has_result: bool = True) -> tuple[Any, dict[str, Any] | None]:
        """The JSONata data flow: Arguments → work → Assign and Output (both over ``$states.result``)."""
        states = self.states_binding(raw_input, frame, sctx)
        args = self.jeval(state.arguments, states, frame, sctx) if state.arguments is not ABSENT else raw_input
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterArguments"] = args
        result = work(args)
        if insp is not None:
            insp["result"] = result
        if has_result:
            states = {**states, "context": self.context(sctx, frame), "result": result}
        out, assigned = self.jfinish(state.assign, state.output, result if has_result else raw_input, states, frame, sctx)
        self._out_text = (out, _check_size(out, state))
        return out, assigned

    def dataflow(self, state: State, raw_input: Any, frame: _Frame, sctx: _StateCtx, work: Callable[[Any], Any],
                 has_result: bool = True) -> tuple[Any, dict[str, Any] | None]:
        """Run ``work`` inside the state's data flow, in its query language."""
        if state.query_language == JSONATA:
            return self.jsonata_io(state, raw_input, frame, sctx, work, has_result)
        return self.jsonpath_io(state, raw_input, frame, sctx, work)

    def _select(self, p: Any, value: Any, frame: _Frame, state_ctx: Mapping[str, Any]) -> Any:
        """InputPath / OutputPath: absent keeps the value, null gives {}, a path selects."""
        if p is ABSENT:
            return value
        if p is None:
            return {}
        try:
            return self.resolve(p, value, frame, state_ctx)
        except PathNotFound as exc:
            raise StateError("States.Runtime", f"Invalid path '{p.text}' : {exc.detail}") from None

    def inspecting(self, state: State) -> dict[str, Any] | None:
        """Where TestState collects the data-flow steps of ``state``; None when nobody inspects it."""
        return self.inspect if self.inspect is not None and state is self.inspect_state else None

    def input_path(self, state: State, raw_input: Any, frame: _Frame, state_ctx: Mapping[str, Any]) -> Any:
        value = self._select(state.input_path, raw_input, frame, state_ctx)
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterInputPath"] = value
        return value

    def output_path(self, state: State, value: Any, frame: _Frame, state_ctx: Mapping[str, Any]) -> Any:
        return self._select(state.output_path, value, frame, state_ctx)

    def _set_result(self, path: Path, raw_input: Any, result: Any) -> Any:
        try:
            return path.set(raw_input, result)
        except PathNotFound as exc:
            raise StateError("States.Runtime", f"Invalid path '{path.text}' : {exc.detail}") from None

    def result_path(self, state: State, raw_input: Any, result: Any) -> Any:
        p = state.result_path
        if p is ABSENT:
            return result
        if p is None:
            return raw_input
        return self._set_result(p, raw_input, result)

    def jsonpath_io(self, state: State, raw_input: Any, frame: _Frame, state_ctx: dict[str, Any],
                    work: Callable[[Any], Any], assign_on: str = "result") -> tuple[Any, dict[str, Any] | None]:
        """The JSONPath data flow: InputPath → Parameters → work → ResultSelector → Assign → ResultPath → OutputPath."""
        effective = self.input_path(state, raw_input, frame, state_ctx)
        if state.parameters is not ABSENT:
            effective = self.eval_template(state.parameters, effective, frame, state_ctx, state)
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterParameters"] = effective
        result = work(effective)
        if insp is not None:
            insp["result"] = result
        if state.result_selector is not ABSENT:
            result = self.eval_template(state.result_selector, result, frame, state_ctx, state)
        if insp is not None:
            insp["afterResultSelector"] = result
        assigned = None
        if state.assign is not ABSENT:
            assigned = self._eval_assign(state.assign, result if assign_on == "result" else effective, frame, state, state_ctx)
        out = self.result_path(state, raw_input, result)
        if insp is not None:
            insp["afterResultPath"] = out
        out = self.output_path(state, out, frame, state_ctx)
        self._out_text = (out, _check_size(out, state))
        return out, assigned


class _NoRecovery(StateError):
    """An error that ends the execution without Retry or Catch."""


_TOO_DEEP = (f"The state's data is nested too deeply to be processed: more than {jsontext.MAX_DEPTH} levels of arrays "
             "and objects")


def _runtime(state: State, entered: int, err: StateError) -> StateError:
    if err.error in ("States.Runtime", "States.QueryEvaluationError") and err.cause and not err.cause.startswith("An error occurred"):
        return _NoRecovery(err.error, f"An error occurred while executing the state '{state.name}' "
                                      f"(entered at the event id #{entered}). {err.cause}")
    return err


def _matches(names: tuple[str, ...], err: StateError) -> bool:
    error = err.error or ""
    for n in names:
        if n == error or n == "States.ALL" or (n == "States.TaskFailed" and error != "States.Timeout"):
            return True
        if n == "States.HeartbeatTimeout" and isinstance(err, HeartbeatTimedOut):
            return True
    return False


def _match_catcher(catchers: tuple[Catcher, ...], err: StateError) -> tuple[int, Catcher] | None:
    """The first Catcher that matches the error, with its index."""
    for i, c in enumerate(catchers):
        if _matches(c.error_equals, err):
            return i, c
    return None


def _backoff(r: Retrier, attempt: int) -> float:
    """The interval before retry number ``attempt + 1`` (before jitter): IntervalSeconds × BackoffRate^attempt,
    capped by MaxDelaySeconds."""
    delay = r.interval_seconds * (r.backoff_rate ** attempt)
    return delay if r.max_delay_seconds is None else min(delay, r.max_delay_seconds)


def _tolerated(failures: int, total: int, tol_count: int | None, tol_pct: float | None) -> bool:
    """Whether a Map's failed iterations stay within ToleratedFailureCount or ToleratedFailurePercentage."""
    return failures == 0 or (tol_count is not None and failures <= tol_count) or \
        (tol_pct is not None and total > 0 and failures * 100 / total <= tol_pct)


def _check_size(value: Any, state: State) -> str:
    """The value's JSON text; States.DataLimitExceeded when it is over the payload limit."""
    text = dumps(value)
    # a text of n characters is at most 4n bytes in UTF-8: encode only when it could be over
    if len(text) * 4 > MAX_PAYLOAD and len(text.encode()) > MAX_PAYLOAD:
        raise _NoRecovery("States.DataLimitExceeded", f"The state/task '{state.name}' returned a result with a size "
                                                      "exceeding the maximum number of bytes service limit.")
    return text


Outcome = tuple[Any, "str | None", "dict[str, Any] | None"]


# -- handlers ---------------------------------------------------------------------------------------------------
def _pass(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    out, assigned = ex.dataflow(st, raw, frame, sctx, lambda eff: st.result if st.result is not ABSENT else eff,
                                has_result=False)
    return out, st.next, assigned


def _succeed(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        out, _ = ex.jsonata_io(st, raw, frame, sctx, lambda eff: eff, has_result=False)
        return out, None, None
    eff = ex.input_path(st, raw, frame, sctx)
    return ex.output_path(st, eff, frame, sctx), None, None


def _fail(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        states = ex.states_binding(raw, frame, sctx)
        out = []
        for name in ("Error", "Cause"):
            tpl = st.fields.get(name)
            out.append(None if tpl is None else ex.jeval_typed(tpl, "string", states, frame, sctx))
        raise _BranchEnded(StateError(out[0], out[1]))

    def text(field_name: str, literal: Any, path: Any) -> str | None:
        if path is ABSENT:
            return literal if isinstance(literal, str) else None
        if isinstance(path, Call):
            v = ex.eval_call(path, raw, frame, sctx)
        else:
            try:
                v = ex.resolve(path, raw, frame, sctx)
            except PathNotFound:
                raise _NoRecovery("States.Runtime", f"The JSONPath '{path.text}' specified for the field '{field_name}' "
                                                    f"could not be found in the input '{dumps(raw)}'") from None
        return v if isinstance(v, str) else dumps(v)

    error = text("ErrorPath", st.raw.get("Error"), st.error_path)
    cause = text("CausePath", st.raw.get("Cause"), st.cause_path)
    raise _BranchEnded(StateError(error, cause))


def _parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _wait(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        return _wait_jsonata(ex, st, raw, frame, sctx)
    eff = ex.input_path(st, raw, frame, sctx)
    r = st.raw
    seconds: float
    if "Seconds" in r:
        seconds = r["Seconds"]
    elif "Timestamp" in r:
        seconds = (_parse_ts(r["Timestamp"]) - ex.clock.now()).total_seconds()
    elif "SecondsPath" in r:
        p = st.fields["SecondsPath"]
        try:
            v = ex.resolve(p, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The SecondsPath parameter does not reference an input value: {p.text}") from None
        if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not v.is_integer()):
            raise StateError("States.Runtime", f"The SecondsPath parameter cannot be parsed as a long value: {p.text} == {dumps(v)}")
        if v < 0:
            raise StateError("States.Runtime", f"The SecondsPath parameter references a negative value: {p.text} == {dumps(v)}")
        seconds = v
    else:
        p = st.fields["TimestampPath"]
        try:
            v = ex.resolve(p, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The TimestampPath parameter does not reference an input value: {p.text}") from None
        if not isinstance(v, str) or not is_timestamp(v):
            shown = v if isinstance(v, str) else dumps(v)
            raise StateError("States.Runtime", "The TimestampPath parameter does not reference a valid ISO-8601 extended "
                                               f"offset date-time format string: {p.text} == {shown}")
        seconds = (_parse_ts(v) - ex.clock.now()).total_seconds()
    assigned = ex._eval_assign(st.assign, eff, frame, st, sctx) if st.assign is not ABSENT else None
    _sleep(ex, seconds)
    return ex.output_path(st, eff, frame, sctx), st.next, assigned


def _sleep(ex: Execution, seconds: float) -> None:
    if seconds >= 2**31:
        raise StateError("States.Runtime", "Wait state delay is too long.")
    if seconds > 0:
        if ex.deadline is not None and ex.clock.now() + timedelta(seconds=seconds) >= ex.deadline:
            ex.clock.sleep((ex.deadline - ex.clock.now()).total_seconds())
            raise StateError("States.Timeout", None)
        ex.clock.sleep(seconds)


def _wait_jsonata(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    states = ex.states_binding(raw, frame, sctx)
    seconds: float = 0
    if "Seconds" in st.fields:
        v = ex.jeval_typed(st.fields["Seconds"], "integer", states, frame, sctx)
        if v < 0:
            raise ex.query_error(frame, sctx, "Seconds", f"The Seconds field must be a non-negative integer, but was: {v}",
                                 prev=sctx.entered)
        seconds = v
    elif "Timestamp" in st.fields:
        v = ex.jeval(st.fields["Timestamp"], states, frame, sctx)
        if not isinstance(v, str) or not is_timestamp(v):
            shown = v if isinstance(v, str) else dumps(v)
            raise ex.query_error(frame, sctx, "Timestamp", "The Timestamp field cannot be parsed as an ISO-8601 extended "
                                                           f"offset date-time format string: {shown}", prev=sctx.entered)
        seconds = (_parse_ts(v) - ex.clock.now()).total_seconds()
    _sleep(ex, seconds)
    out, assigned = ex.jfinish(st.assign, st.output, raw, states, frame, sctx)
    return out, st.next, assigned


# Choice ---------------------------------------------------------------------------------------------------------
def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _string_matches(value: str, pattern: str) -> bool:
    import re

    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.DOTALL) is not None


def _compare(op: str, a: Any, b: Any) -> bool:
    base = op[:-4] if op.endswith("Path") and not op.startswith("Is") else op
    if base.startswith("String"):
        if not (isinstance(a, str) and isinstance(b, str)):
            return False
        if base == "StringMatches":
            return _string_matches(a, b)
    elif base.startswith("Numeric"):
        if not (_num(a) and _num(b)):
            return False
    elif base.startswith("Boolean"):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    elif base.startswith("Timestamp"):
        if not (isinstance(a, str) and isinstance(b, str) and is_timestamp(a) and is_timestamp(b)):
            return False
        a, b = _parse_ts(a), _parse_ts(b)
    kind = base.removeprefix("String").removeprefix("Numeric").removeprefix("Timestamp")
    return {"Equals": a == b, "LessThan": a < b, "GreaterThan": a > b,
            "LessThanEquals": a <= b, "GreaterThanEquals": a >= b}[kind]


def _eval_rule(ex: Execution, rule: Rule, value: Any, frame: _Frame, sctx: dict[str, Any]) -> bool:
    op = rule.op
    if op == "And":
        return all(_eval_rule(ex, r, value, frame, sctx) for r in rule.operand)
    if op == "Or":
        return any(_eval_rule(ex, r, value, frame, sctx) for r in rule.operand)
    if op == "Not":
        return not _eval_rule(ex, rule.operand[0], value, frame, sctx)
    assert rule.variable is not None
    try:
        v = ex.resolve(rule.variable, value, frame, sctx)
        present = True
    except PathNotFound:
        present, v = False, None
    if op == "IsPresent":
        return present == rule.operand
    if not present:
        raise StateError("States.Runtime", f"Invalid path '{rule.variable.text}': The choice state's condition path "
                                           f"references an invalid value.")
    if op.startswith("Is"):
        t = {"IsNull": v is None, "IsNumeric": _num(v), "IsString": isinstance(v, str),
             "IsBoolean": isinstance(v, bool), "IsTimestamp": isinstance(v, str) and is_timestamp(v)}[op]
        return t == rule.operand
    operand = rule.operand
    if isinstance(operand, Path):
        try:
            operand = ex.resolve(operand, value, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"Invalid path '{operand.text}': The choice state's condition path "
                                               f"references an invalid value.") from None
    return _compare(op, v, operand)


def _cover(ex: Execution, pointer: str) -> None:
    """Tell the execution's coverage (if any) that the state, rule, Retrier or Catcher at ``pointer`` was used."""
    if ex.opts.coverage is not None:
        ex.opts.coverage.hit(pointer)


def _choice(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        states = ex.states_binding(raw, frame, sctx)
        for rule in st.choices:
            if ex.jeval_typed(rule.condition, "boolean", states, frame, sctx):
                _cover(ex, rule.pointer)
                out, assigned = ex.jfinish(rule.assign, rule.output, raw, states, frame, sctx)
                return out, rule.next, assigned
        if st.default is None:
            raise StateError("States.NoChoiceMatched", "No Matches!")
        _cover(ex, st.pointer + "/Default")
        out, assigned = ex.jfinish(st.assign, st.output, raw, states, frame, sctx)
        return out, st.default, assigned
    eff = ex.input_path(st, raw, frame, sctx)
    for rule in st.choices:
        if _eval_rule(ex, rule, eff, frame, sctx):
            _cover(ex, rule.pointer)
            assigned = ex._eval_assign(rule.assign, eff, frame, st, sctx) if rule.assign is not ABSENT else None
            return ex.output_path(st, eff, frame, sctx), rule.next, assigned
    if st.default is None:
        raise StateError("States.NoChoiceMatched", "No Matches!")
    _cover(ex, st.pointer + "/Default")
    assigned = ex._eval_assign(st.assign, eff, frame, st, sctx) if st.assign is not ABSENT else None
    return ex.output_path(st, eff, frame, sctx), st.default, assigned


# Task -------------------------------------------------------------------------------------------------------------
_TASK_LIMITS = ("TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath")


def _task(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    res = st.resource
    assert res is not None
    sctx.setdefault("RetryCount", 0)
    h = ex.history

    timeout = heartbeat = None
    if any(k in st.raw for k in _TASK_LIMITS):  # most Tasks have none: skip reading the input twice
        state_input = ex.input_path(st, raw, frame, sctx) if st.query_language != JSONATA else raw
        timeout = _number_field(ex, st, "TimeoutSeconds", state_input, frame, sctx, "integer")
        heartbeat = _number_field(ex, st, "HeartbeatSeconds", state_input, frame, sctx, "integer")
    for name, value in (("TimeoutSeconds", timeout), ("HeartbeatSeconds", heartbeat)):
        if value is not None and value <= 0:
            message = f"The {name} value must be a positive integer, but was: {value}"
            if st.query_language == JSONATA:
                raise ex.query_error(frame, sctx, name, message)
            raise StateError("States.Runtime", message)
    limits = {k: v for k, v in (("timeoutInSeconds", timeout), ("heartbeatInSeconds", heartbeat)) if v is not None}

    mocked = ex.opts.mocks is not None and ex.opts.mocks.mocks(st.name)
    callback = not mocked and ex.journal is not None and (
        res.pattern == WAIT_FOR_TASK_TOKEN or res.kind == "activity" or (res.service_name == "states" and res.pattern in (SYNC, SYNC2)))
    if callback or res.pattern == WAIT_FOR_TASK_TOKEN:
        sctx.callback_token = ex.opts.uuid4()  # a new token per attempt, made before Parameters/Arguments read it
        sctx.token = sctx.callback_token if res.pattern == WAIT_FOR_TASK_TOKEN else None

    def work(eff: Any) -> Any:
        lam = res.kind == "lambda"
        if res.kind == "activity" and callback:
            return _await_callback(ex, st, eff, frame, sctx, timeout, heartbeat, limits, "", "")
        if res.kind == "activity" and mocked:
            return _mocked_activity(ex, st, eff, frame, limits)
        if lam:
            frame.cursor = h.add("LambdaFunctionScheduled", frame.cursor, "lambdaFunctionScheduledEventDetails",
                                 {"resource": res.arn, "input": dumps(eff), "inputDetails": {"truncated": False},
                                  **({"timeoutInSeconds": timeout} if timeout is not None else {})})
            frame.cursor = h.add("LambdaFunctionStarted", frame.cursor)
        else:
            rtype, rname = _split_resource(res.arn, res.service_name, res.action)
            frame.cursor = h.add("TaskScheduled", frame.cursor, "taskScheduledEventDetails",
                                 {"resourceType": rtype, "resource": rname, "region": ex.opts.region, "parameters": dumps(eff),
                                  **limits})
            frame.cursor = h.add("TaskStarted", frame.cursor, "taskStartedEventDetails", {"resourceType": rtype, "resource": rname})
        if callback:
            return _await_callback(ex, st, eff, frame, sctx, timeout, heartbeat, limits, rtype, rname)
        recorded = _recorded_outcome(ex)
        if recorded is not None:  # rebuilding from history: the task ran already, take its recorded outcome
            if mocked:
                ex.opts.mocks.take(st.name)  # it was one invocation of its mocked response: count it again
            return _replay_outcome(ex, frame, recorded)
        fn: TaskFunction | None
        if mocked:
            fn = _mocked_function(ex, st)
            if res.pattern == WAIT_FOR_TASK_TOKEN:  # the request "was sent"; the mocked result is the callback's
                frame.cursor = h.add("TaskSubmitted", frame.cursor, "taskSubmittedEventDetails",
                                     {"resourceType": rtype, "resource": rname})
        else:
            fn = _task_function(ex, res, timeout)
        if ex.journal is not None:
            ex.journal.flush()  # the task is a side effect: what led to it is committed first
        try:
            outcome = _run_task(st, fn, lambda f: _call_task(ex, f, eff, ex.context(sctx, frame), timeout))
        except TaskTimeout:
            if lam:
                frame.cursor = h.add("LambdaFunctionTimedOut", frame.cursor, "lambdaFunctionTimedOutEventDetails",
                                     {"error": "States.Timeout"})
            else:
                frame.cursor = h.add("TaskTimedOut", frame.cursor, "taskTimedOutEventDetails",
                                     {"error": "States.Timeout", "resource": rname, "resourceType": rtype})
            raise StateError("States.Timeout", None) from None
        if isinstance(outcome, StateError):
            raise _task_failed(ex, frame, outcome, None if lam else (rtype, rname))
        result, text = outcome
        if lam:
            frame.cursor = h.add("LambdaFunctionSucceeded", frame.cursor, "lambdaFunctionSucceededEventDetails",
                                 {"output": text, "outputDetails": {"truncated": False}})
        else:
            frame.cursor = h.add("TaskSucceeded", frame.cursor, "taskSucceededEventDetails",
                                 {"resourceType": rtype, "resource": rname, "output": text,
                                  "outputDetails": {"truncated": False}})
        return result

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


def _run_task(st: State, fn: TaskFunction | None, call: Callable[[TaskFunction], Any]) -> tuple[Any, str] | StateError:
    """Run a Task's callable through ``call``: the result and its JSON text, or the error the task failed with (a
    TaskFailed, any other exception named by its class, or a result too large). TaskTimeout passes through."""
    res = st.resource
    assert res is not None
    try:
        if fn is None:
            raise TaskFailed("States.TaskFailed", f"No task implementation is registered for the resource '{res.arn}'")
        result = call(fn)
    except (TaskTimeout, StateError):  # StateError: the interpreter's own (a mocked response that has run out)
        raise
    except TaskFailed as exc:
        return StateError(exc.error, exc.cause)
    except Exception as exc:  # a task's own exception is the task's error, as with Lambda
        return StateError(type(exc).__name__, str(exc))
    text = _result_text(st, result)
    return text if isinstance(text, StateError) else (result, text)


def _task_failed(ex: Execution, frame: _Frame, err: StateError, resource: tuple[str, str] | None) -> StateError:
    """Record a failed task (TaskFailed with its resourceType and resource, or LambdaFunctionFailed for a plain
    Lambda ARN when ``resource`` is None) and return the error to raise."""
    details = {k: v for k, v in (("error", err.error), ("cause", err.cause)) if v is not None}
    if resource is None:
        frame.cursor = ex.history.add("LambdaFunctionFailed", frame.cursor, "lambdaFunctionFailedEventDetails", details)
    else:
        frame.cursor = ex.history.add("TaskFailed", frame.cursor, "taskFailedEventDetails",
                                      {"resourceType": resource[0], "resource": resource[1], **details})
    return err


def _result_text(st: State, result: Any) -> str | StateError:
    """A task result as JSON text, or the error a result that is not JSON or too large gives."""
    try:
        text = dumps_checked(result)
        size = len(text.encode())
        jsontext.check_depth(text, "The task result")
    except RecursionError:
        raise StateError("States.Runtime", f"The task returned a value nested too deeply: more than "
                                           f"{jsontext.MAX_DEPTH} levels of arrays and objects") from None
    except UnicodeEncodeError as exc:
        raise StateError("States.Runtime", "The task returned a string that is not valid Unicode: a lone surrogate "
                                           f"('\\u{ord(exc.object[exc.start]):04x}')") from None
    except jsontext.JsonLimitError as exc:
        raise StateError("States.Runtime", exc.message) from None
    except (TypeError, ValueError) as exc:
        raise StateError("States.Runtime", f"The task returned a value that is not JSON: {exc}") from None
    if size > MAX_PAYLOAD:
        return StateError("States.DataLimitExceeded", f"The state/task '{st.name}' returned a result with a size "
                                                     "exceeding the maximum number of bytes service limit.")
    return text


# The events that end a task, and what each means: (kind, details key).
_TASK_ENDS = {
    "TaskSucceeded": ("ok", "taskSucceededEventDetails"), "LambdaFunctionSucceeded": ("ok", "lambdaFunctionSucceededEventDetails"),
    "ActivitySucceeded": ("ok", "activitySucceededEventDetails"),
    "TaskFailed": ("failed", "taskFailedEventDetails"), "LambdaFunctionFailed": ("failed", "lambdaFunctionFailedEventDetails"),
    "ActivityFailed": ("failed", "activityFailedEventDetails"),
    "TaskTimedOut": ("timeout", "taskTimedOutEventDetails"), "LambdaFunctionTimedOut": ("timeout", "lambdaFunctionTimedOutEventDetails"),
    "ActivityTimedOut": ("timeout", "activityTimedOutEventDetails"),
}


def _recorded_outcome(ex: Execution) -> dict[str, Any] | None:
    """The recorded event that ended the task being rebuilt, if the history has it."""
    h = ex.history
    if isinstance(h, _ReplayHistory):
        ev = h.peek()
        if ev is not None and ev["type"] in _TASK_ENDS:
            return ev
    return None


def _replay_outcome(ex: Execution, frame: _Frame, ev: dict[str, Any], token: str | None = None) -> Any:
    """Re-enter a recorded task outcome: the result it returned, or the error it raised."""
    kind, key = _TASK_ENDS[ev["type"]]
    frame.cursor = ex.history.add(ev["type"], frame.cursor)
    d = ev.get(key, {})
    if kind == "ok":
        return json.loads(d["output"])
    if kind == "timeout":
        if token is not None and ex.journal is not None:
            tok = ex.journal.token(token)
            if tok is not None and tok.status == HEARTBEAT_TIMED_OUT:
                raise HeartbeatTimedOut
        raise StateError("States.Timeout", d.get("cause"))
    raise StateError(d.get("error"), d.get("cause"))


def _mocked_result(ex: Execution, st: State) -> Any:
    """The next mocked result of a Task: its Return, or its Throw raised as TaskFailed."""
    mocks = ex.opts.mocks
    result = mocks.take(st.name)
    if result is None:
        n = mocks.counts[st.name] - 1
        raise StateError("States.Runtime", f"The mocked response '{mocks.case.responses[st.name].name}' of the state "
                                           f"'{st.name}' (test case '{mocks.case.test_case}') has no entry for invocation {n}")
    if result.throws:
        raise TaskFailed(result.error, result.cause)
    return result.value


def _mocked_function(ex: Execution, st: State) -> TaskFunction:
    def call(value: Any, context: Mapping[str, Any]) -> Any:
        return _mocked_result(ex, st)

    return call


def _mocked_activity(ex: Execution, st: State, eff: Any, frame: _Frame, limits: dict[str, Any]) -> Any:
    """An activity answered by a mocked response, with an activity's events."""
    h = ex.history
    assert st.resource is not None
    frame.cursor = h.add("ActivityScheduled", frame.cursor, "activityScheduledEventDetails",
                         {"resource": st.resource.arn, "input": dumps(eff), "inputDetails": {"truncated": False}, **limits})
    frame.cursor = h.add("ActivityStarted", frame.cursor, "activityStartedEventDetails", {})
    try:
        value = _mocked_result(ex, st)
    except TaskFailed as exc:
        details = {k: v for k, v in (("error", exc.error), ("cause", exc.cause)) if v is not None}
        frame.cursor = h.add("ActivityFailed", frame.cursor, "activityFailedEventDetails", details)
        raise StateError(exc.error, exc.cause) from None
    text = _result_text(st, value)
    if isinstance(text, StateError):
        raise text
    frame.cursor = h.add("ActivitySucceeded", frame.cursor, "activitySucceededEventDetails",
                         {"output": text, "outputDetails": {"truncated": False}})
    return value


def _await_callback(ex: Execution, st: State, eff: Any, frame: _Frame, sctx: _StateCtx, timeout: int | None,
                    heartbeat: int | None, limits: dict[str, Any], rtype: str, rname: str) -> Any:
    """A task that completes by callback: ``.waitForTaskToken`` (the request is sent, then the execution waits
    for SendTaskSuccess/Failure) or an activity (GetActivityTask hands the input to a worker). The token is
    committed before the request leaves; the execution parks until the token is closed or times out, and the
    worker that resumes it finds the outcome in the journal."""
    h = ex.history
    journal = ex.journal
    assert journal is not None and sctx.callback_token is not None
    token = sctx.callback_token
    res = st.resource
    assert res is not None
    activity = res.kind == "activity"
    if activity:
        frame.cursor = h.add("ActivityScheduled", frame.cursor, "activityScheduledEventDetails",
                             {"resource": res.arn, "input": dumps(eff), "inputDetails": {"truncated": False}, **limits})
        journal.register_token(token, res.arn, dumps(eff))
    else:
        journal.register_token(token, None, None)
    timeout_from = ex.clock.now()  # TaskStarted (callbacks) or ActivityScheduled
    heartbeat_from: datetime | None = None if activity else timeout_from
    ended = {"TaskSubmitted", *_TASK_ENDS}
    if not activity:
        ahead = h.peek() if isinstance(h, _ReplayHistory) else None
        if ahead is None or ahead["type"] not in ended:  # the request was not sent, or not known to be: send it
            journal.flush()
            outcome = _run_task(st, _task_function(ex, res, timeout, token), lambda f: f(eff, ex.context(sctx, frame)))
            if isinstance(outcome, StateError):  # the request failed: the task fails, as when AWS's call fails
                raise _task_failed(ex, frame, outcome, (rtype, rname))
            frame.cursor = h.add("TaskSubmitted", frame.cursor, "taskSubmittedEventDetails",
                                 {"resourceType": rtype, "resource": rname, "output": outcome[1], "outputDetails": {"truncated": False}})
        elif ahead["type"] == "TaskSubmitted":
            frame.cursor = h.add("TaskSubmitted", frame.cursor)
    prefix = "Activity" if activity else "Task"
    while True:
        ahead = h.peek() if isinstance(h, _ReplayHistory) else None
        if ahead is not None:
            if ahead["type"] == "ActivityStarted":
                frame.cursor = h.add("ActivityStarted", frame.cursor)
                heartbeat_from = ex.clock.now()
                continue
            return _replay_outcome(ex, frame, ahead, token)
        tok = journal.token(token)
        if tok is None:
            raise StateError("States.Runtime", f"The task token of the state '{st.name}' is missing from the store")
        if activity and heartbeat_from is None and tok.started_at is not None:
            details = {"workerName": tok.worker_name} if tok.worker_name else {}
            frame.cursor = h.add("ActivityStarted", frame.cursor, "activityStartedEventDetails", details)
            heartbeat_from = ex.clock.now()
            continue
        if tok.status == "SUCCEEDED":
            assert tok.output is not None
            output = tok.output
            if res.pattern == SYNC2:  # a child execution's Input and Output as JSON, not as JSON text
                desc = json.loads(output)
                for k in ("Input", "Output"):
                    if isinstance(desc.get(k), str):
                        desc[k] = json.loads(desc[k])
                output = dumps(desc)
            d: dict[str, Any] = {"output": output, "outputDetails": {"truncated": False}}
            if not activity:
                d = {"resourceType": rtype, "resource": rname, **d}
            frame.cursor = h.add(prefix + "Succeeded", frame.cursor, prefix.lower() + "SucceededEventDetails", d)
            return json.loads(output)
        if tok.status == "FAILED":
            d = {k: v for k, v in (("error", tok.error), ("cause", tok.cause)) if v is not None}
            if not activity:
                d = {"resourceType": rtype, "resource": rname, **d}
            frame.cursor = h.add(prefix + "Failed", frame.cursor, prefix.lower() + "FailedEventDetails", d)
            raise StateError(tok.error, tok.cause)
        timeout_at = heartbeat_at = None
        if timeout is not None:
            timeout_at = timeout_from + timedelta(seconds=timeout)
        if heartbeat is not None and heartbeat_from is not None:
            heartbeat_at = max(heartbeat_from, tok.heartbeat_at or heartbeat_from) + timedelta(seconds=heartbeat)
        due = [t for t in (timeout_at, heartbeat_at) if t is not None]
        wake = min(due) if due else None
        if wake is not None and datetime.now(UTC) >= wake:
            missed_heartbeat = heartbeat_at is not None and (timeout_at is None or heartbeat_at < timeout_at)
            if not journal.expire_token(token, missed_heartbeat):
                continue  # a callback closed it first
            d = {"error": "States.Timeout"}
            if not activity:
                d = {**d, "resource": rname, "resourceType": rtype}
            frame.cursor = h.add(prefix + "TimedOut", frame.cursor, prefix.lower() + "TimedOutEventDetails", d)
            raise HeartbeatTimedOut if missed_heartbeat else StateError("States.Timeout", None)
        raise Parked(wake)


def _task_function(ex: Execution, res: Resource, timeout: int | None, token: str | None = None) -> TaskFunction | None:
    """The callable that runs a Task's resource: one registered for its exact ARN, else its adapter's."""
    fn = ex.opts.tasks.get(res.arn)
    if fn is not None or ex.opts.adapters is None:
        return fn
    adapter = ex.opts.adapters.resolve(res.arn)
    if adapter is None:
        return None
    from .adapters import TaskRequest

    o = ex.opts

    def call(value: Any, context: Mapping[str, Any]) -> Any:
        return adapter.invoke(TaskRequest(res, value, context, timeout, o.region, o.account, o.partition, token))

    return call


class TaskTimeout(Exception):  # noqa: N818 - named for what it reports, like TaskFailed
    """A task ran past its Task's TimeoutSeconds. Raised by the interpreter's own timer, or by an adapter that
    enforces the timeout itself (e.g. a task running in another process, whose time a virtual clock cannot see)."""



def _call_task(ex: Execution, fn: TaskFunction, value: Any, ctx: dict[str, Any], timeout: int | None) -> Any:
    """Call a task callable under its TimeoutSeconds. On a virtual clock the callable takes the time it sleeps
    through :func:`sleep`; on a real clock it runs in a worker thread that is abandoned (its result discarded)
    when the timeout passes, as AWS abandons a task it has timed out."""
    start = ex.clock.now()
    if timeout is None:
        return fn(value, ctx)
    if getattr(ex.clock, "real", False):
        box: dict[str, Any] = {}
        run_ctx = contextvars.copy_context()

        def target() -> None:
            try:
                box["result"] = run_ctx.run(fn, value, ctx)
            except BaseException as exc:  # handed to the interpreter thread below
                box["error"] = exc

        worker = threading.Thread(target=target, name="asl-task", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise TaskTimeout
        if "error" in box:
            raise box["error"]
        result = box["result"]
    else:
        result = fn(value, ctx)
    if (ex.clock.now() - start).total_seconds() > timeout:
        raise TaskTimeout
    return result


def _split_resource(arn: str, service: str, action: str) -> tuple[str, str]:
    if service:
        return service, action
    parts = arn.split(":")
    return (parts[2] if len(parts) > 2 else arn), (":".join(parts[5:]) if len(parts) > 5 else arn)


# Parallel and Map ----------------------------------------------------------------------------------------------------
def _parallel(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    h = ex.history

    def work(eff: Any) -> Any:
        frame.cursor = h.add("ParallelStateStarted", frame.cursor)
        start = frame.cursor
        results = []
        last = start
        for branch in st.branches:
            sub = _Frame(start, {}, frame)
            try:
                results.append(ex._run_block(branch, eff, sub))
            except (_BranchEnded, StateError) as exc:
                err = _branch_error(exc)
                failed = StateError(err.error, err.cause)
                failed.final_event = ("ParallelStateFailed", sub.cursor)
                frame.cursor = sub.cursor
                raise failed from None
            last = max(last, sub.cursor)
        h.add("ParallelStateSucceeded", last)
        frame.cursor = last
        return results

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


def _branch_error(exc: _BranchEnded | StateError) -> StateError:
    """The error that ended a Parallel branch or a Map iteration. Errors that allow no recovery (States.Runtime,
    data limits) end the execution at once, so they are re-raised as they are."""
    err = exc.err if isinstance(exc, _BranchEnded) else exc
    if isinstance(err, _NoRecovery) or not err.catchable:
        raise err
    return err


def _number_field(ex: Execution, st: State, name: str, eff: Any, frame: _Frame, sctx: _StateCtx, kind: str) -> Any:
    """A numeric setting (Map concurrency and tolerance, Task timeouts) given as a number, a ``…Path`` (JSONPath,
    read from ``eff``) or an expression (JSONata, over ``$states.input`` = ``eff``); None when absent."""
    if st.query_language == JSONATA:
        tpl = st.fields.get(name)
        if tpl is None:
            return None
        states = ex.states_binding(eff, frame, sctx)
        return ex.jeval_typed(tpl, "integer" if kind == "integer" else "number", states, frame, sctx)
    if name in st.raw:
        return st.raw[name]
    p = st.fields.get(name + "Path")
    if p is None:
        return None
    try:
        v = ex.resolve(p, eff, frame, sctx)
    except PathNotFound:
        raise StateError("States.Runtime", f"The {name}Path field references a value that does not exist: {p.text}") from None
    if isinstance(v, str):  # AWS parses numeric strings ("1"), as Java's Integer/Double.parseDouble would
        with contextlib.suppress(ValueError):
            v = float(v) if kind == "float" else int(v.strip())
    ok = _num(v) and (kind == "float" or float(v).is_integer())
    if not ok:
        shown = v if isinstance(v, str) else dumps(v)
        raise StateError("States.Runtime", f"The {name}Path field refers to value \"{shown}\" which is not a valid {kind}: {p.text}")
    return v if kind == "float" else int(v)


def _map_items(ex: Execution, st: State, eff: Any, frame: _Frame, sctx: _StateCtx) -> list[Any]:
    """The array a Map iterates: ItemsPath (JSONPath) or Items (JSONata), by default the (effective) input."""
    if st.query_language == JSONATA:
        if st.items is not ABSENT:
            states = ex.states_binding(eff, frame, sctx)
            items = ex.jeval_typed(st.items, "array", states, frame, sctx)
            assert isinstance(items, list)
            return items
        if not isinstance(eff, list):
            raise ex.query_error(frame, sctx, None, f"Map state input must be an array but was: {dumps(eff)}")
        return eff
    items = eff
    if st.items_path is not ABSENT and st.items_path is not None:
        try:
            items = ex.resolve(st.items_path, eff, frame, sctx)
        except PathNotFound as exc:
            raise StateError("States.Runtime", f"Invalid path '{st.items_path.text}' : {exc.detail}") from None
    if not isinstance(items, list):
        where = st.items_path.text if st.items_path not in (ABSENT, None) else "$"
        if where.startswith("$$"):  # AWS names a context path with one "$" here (recorded)
            where = where[1:]
        raise StateError("States.Runtime", f"Reference path \"{where}\" must point to array.")
    insp = ex.inspecting(st)
    if insp is not None:
        insp["afterItemsPath"] = items
    return items


def _item_value(ex: Execution, st: State, eff: Any, index: int, item: Any, frame: _Frame, sctx: _StateCtx) -> Any:
    """An iteration's input: the item, or the ItemSelector evaluated in the Map's scope with ``Map.Item`` in the
    context object (built only then: most Maps have no ItemSelector)."""
    if st.item_selector is ABSENT:
        return item
    saved = frame.map_item
    frame.map_item = {"Index": index, "Value": item}
    try:
        if st.query_language == JSONATA:
            return ex.jeval(st.item_selector, ex.states_binding(eff, frame, sctx), frame, sctx)
        return ex.eval_template(st.item_selector, eff, frame, sctx, st)
    finally:
        frame.map_item = saved


def _map(ex: Execution, st: State, raw: Any, frame: _Frame, sctx: _StateCtx) -> Outcome:
    h = ex.history
    proc = st.processor
    assert proc is not None
    distributed = st.raw.get("ItemProcessor", st.raw.get("Iterator", {})).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    if "ItemReader" in st.raw or "ResultWriter" in st.raw:
        raise StateError("States.Runtime", "ItemReader and ResultWriter (S3) are not supported yet by asl")

    def work(eff: Any) -> Any:
        items = _map_items(ex, st, eff, frame, sctx)
        _number_field(ex, st, "MaxConcurrency", eff, frame, sctx, "integer")
        frame.cursor = h.add("MapStateStarted", frame.cursor, "mapStateStartedEventDetails", {"length": len(items)})
        tol_count = _number_field(ex, st, "ToleratedFailureCount", eff, frame, sctx, "integer")
        tol_pct = _number_field(ex, st, "ToleratedFailurePercentage", eff, frame, sctx, "float")
        bad = None
        if tol_count is not None and tol_count < 0:
            bad = "ToleratedFailureCount", "ToleratedFailureCount cannot be negative."
        if tol_pct is not None and not 0 <= tol_pct <= 100:
            bad = "ToleratedFailurePercentage", "ToleratedFailurePercentage must be between 0 and 100."
        if bad is not None:
            if st.query_language == JSONATA:
                raise ex.query_error(frame, sctx, bad[0], bad[1])
            raise StateError("States.Runtime", bad[1])
        if distributed:
            return _distributed(ex, st, items, eff, frame, sctx, tol_count, tol_pct)
        results: list[Any] = []
        failures = 0
        prev = frame.cursor
        for index, item in enumerate(items):
            it_frame = _Frame(prev, {}, frame, None)
            value = _item_value(ex, st, eff, index, item, frame, sctx)
            started = h.add("MapIterationStarted", prev, "mapIterationStartedEventDetails", {"index": index, "name": st.name})
            it_frame.cursor = started
            try:
                results.append(ex._run_block(proc, value, it_frame))
            except (_BranchEnded, StateError) as exc:
                err = _branch_error(exc)
                h.add("MapIterationFailed", it_frame.cursor, "mapIterationFailedEventDetails", {"index": index, "name": st.name})
                failures += 1
                results.append(None)
                if not _tolerated(failures, len(items), tol_count, tol_pct):
                    if tol_count is not None or tol_pct is not None:
                        failed = StateError("States.ExceedToleratedFailureThreshold",
                                            "The specified tolerated failure threshold was exceeded")
                    else:
                        failed = StateError(err.error, err.cause)
                    failed.final_event = ("MapStateFailed", len(h.events))
                    frame.cursor = len(h.events)
                    raise failed from None
                prev = it_frame.cursor
                continue
            h.add("MapIterationSucceeded", it_frame.cursor, "mapIterationSucceededEventDetails", {"index": index, "name": st.name})
            prev = it_frame.cursor
        last = len(h.events)
        h.add("MapStateSucceeded", last)
        frame.cursor = last
        return results

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


def _distributed(ex: Execution, st: State, items: list[Any], eff: Any, frame: _Frame, sctx: _StateCtx,
                 tol_count: Any, tol_pct: Any) -> list[Any]:
    """A Distributed Map: each item runs as a child run with its own history; the parent records the Map Run."""
    h = ex.history
    proc = st.processor
    assert proc is not None
    o = ex.opts
    label = st.raw.get("Label") or ex.opts.uuid4()
    run_arn = f"arn:{o.partition}:states:{o.region}:{o.account}:mapRun:{ex.context_sm['Name']}/{label}:{ex.opts.uuid4()}"
    frame.cursor = h.add("MapRunStarted", frame.cursor, "mapRunStartedEventDetails", {"mapRunArn": run_arn})
    results: list[Any] = []
    failures = 0
    last_err: StateError | None = None
    parent_history = ex.history
    for index, item in enumerate(items):
        value = _item_value(ex, st, eff, index, item, frame, sctx)
        ex.history = _History(ex.clock)  # a child execution's own history
        try:
            # A child execution of a Distributed Map does not see the parent's variables.
            results.append(ex._run_block(proc, value, _Frame(0, {})))
        except (_BranchEnded, StateError) as exc:
            err = _branch_error(exc)
            failures += 1
            last_err = err
            results.append(None)
        finally:
            ex.history = parent_history
    if not _tolerated(failures, len(items), tol_count, tol_pct):
        assert last_err is not None
        frame.cursor = h.add("MapRunFailed", frame.cursor, "mapRunFailedEventDetails", {})
        failed = StateError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded") \
            if (tol_count is not None or tol_pct is not None) else StateError(last_err.error, last_err.cause)
        failed.final_event = ("MapStateFailed", frame.cursor)
        raise failed
    frame.cursor = h.add("MapRunSucceeded", frame.cursor)
    h.add("MapStateSucceeded", frame.cursor)
    return results


_HANDLERS: dict[str, Callable[[Execution, State, Any, _Frame, _StateCtx], Outcome]] = {
    "Pass": _pass, "Succeed": _succeed, "Fail": _fail, "Wait": _wait, "Choice": _choice, "Task": _task,
    "Parallel": _parallel, "Map": _map,
}


def run(machine: StateMachine, input_text: str | None = None, options: ExecutionOptions | None = None) -> ExecutionResult:
    """Run a compiled state machine to its end."""
    return Execution(machine, input_text, options).run()
