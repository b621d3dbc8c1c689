"""The interpreter loop: :class:`Execution` runs a compiled state machine, state by state, and records its history.

One explicit loop (:meth:`Execution.run_block`) moves through a ``States`` block; each state type has a handler
(:data:`HANDLERS`) that takes the state's input and returns its output and the name of the next state (None at
the end). Parallel branches and Map iterations run the same loop on their own block. Errors are
:class:`~asl.errors.StateError` values carrying the ASL error name and AWS's cause text; the loop applies Retry
and Catch.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from .. import jsontext
from ..errors import BranchEnded, HistoryLimitReached, NoRecovery, RedriveRestart, StateError
from ..jsonata import ENVIRONMENT, Environment
from ..jsontext import dumps
from ..model import ABSENT, Block, Catcher, State, StateMachine
from ..validate import JSONATA
from .branches import map_state, parallel_state
from .clock import CLOCK, DurableClock, iso
from .dataflow import DataFlow
from .decisions import ABORTABLE, TOO_DEEP, backoff, cover, match_catcher, matches, runtime_error
from .frame import Draws, Frame, StateCtx
from .history import History, ObservedHistory, ReplayHistory
from .options import MAX_PAYLOAD, ExecutionOptions, ExecutionResult
from .scheduler import Aborted, Scheduler
from .states import Outcome, choice_state, fail_state, pass_state, succeed_state, wait_state
from .tasks import task_state

_ENTERED = {t: (t + "StateEntered") for t in ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")}
_EXITED = {t: (t + "StateExited") for t in ("Pass", "Task", "Choice", "Wait", "Succeed", "Parallel", "Map")}


class Execution(DataFlow):
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
            self.history: History = ReplayHistory(self.clock, o.recorded)
        elif o.listener is not None:
            self.history = ObservedHistory(self.clock, o.listener)
        else:
            self.history = History(self.clock)
        if o.machine_type == "EXPRESS":
            self.history.limit = None  # AWS keeps no history of an Express execution, so none bounds it
        self.start_time = self.clock.now()
        self.draws = Draws(o.rng, o.uuid4)
        self.intrinsic_env = self.draws.intrinsic_env
        self.scheduler = self._new_scheduler()
        # the top-level state running, its input and (while a redrive lies ahead in the replay) the random state
        # before it: a redriven execution runs the state its earlier attempt did not finish again from there
        self._top: tuple[State, Any, Any] | None = None
        # what the top-level Parallel or Map an attempt ended in gave from the branches that succeeded, by state name;
        # and (the state run again after a redrive, those results) for that state to take (asl.runtime.branches)
        self.redrive_memo: dict[str, dict[int, Any]] = {}
        self.redrive_carry: tuple[State, dict[int, Any]] | None = None
        self.spawn_context = contextvars.copy_context()  # replaced by run(), with the execution's clock and environment
        self.context_execution = {"Id": self.exec_arn, "Input": self.input, "StartTime": iso(self.start_time),
                                  "Name": name, "RoleArn": self.role_arn}
        if not o.sync:
            self.context_execution["RedriveCount"] = 0
        self.context_sm = {"Id": self.sm_arn, "Name": sm_name}
        self.deadline = (self.start_time + timedelta(seconds=machine.timeout_seconds)) if machine.timeout_seconds else None

    def _new_scheduler(self) -> Scheduler:
        scheduler = Scheduler(self.clock)
        if isinstance(self.history, ReplayHistory):  # each branch takes its own recorded events, in turn
            self.history.branch = scheduler.branch_key
            self.history.turn = scheduler.wait_turn
            self.history.taken = scheduler.taken
        return scheduler

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self) -> ExecutionResult:
        """Run to the end and return the result. Never raises for a failing execution."""
        h = self.history
        h.add("ExecutionStarted", 0, "executionStartedEventDetails",
              {"input": self.input_text, "inputDetails": {"truncated": False}, "roleArn": self.role_arn})
        frame = Frame(0, {}, history=h, draws=self.draws)
        with self.bound():
            return self._run_top(frame)

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """This execution's clock, randomness and ids, as the JSONata functions and ``sleep`` find them."""
        token = ENVIRONMENT.set(Environment(self.opts.rng, self.opts.uuid4, self.clock.now()))
        self.spawn_context = contextvars.copy_context()  # what the branches this execution spawns start from
        clock_token = CLOCK.set(self.clock)
        try:
            yield
        finally:
            CLOCK.reset(clock_token)
            ENVIRONMENT.reset(token)

    def _run_top(self, frame: Frame) -> ExecutionResult:
        resume: tuple[State, Any] | None = None
        while True:
            try:
                return self._attempt(frame, resume)
            except RedriveRestart:
                resume = self._redriven(frame)

    def _redriven(self, frame: Frame) -> tuple[State, Any]:
        """The rebuild reached the end of an attempt that was redriven: take its end and ExecutionRedriven events,
        and run the top-level state it did not finish again, with the input it had (and, so that its ids and random
        numbers are the same as they were, the random state before it), on a fresh scheduler (the attempt's
        branches are dropped). RedriveCount and RedriveTime in the context object; a TimeoutSeconds counts again
        from the redrive."""
        h = self.history
        assert isinstance(h, ReplayHistory) and self._top is not None
        ev = h.redriven()
        frame.cursor = int(ev["id"])
        details = ev.get("executionRedrivenEventDetails") or {}
        self.context_execution["RedriveCount"] = int(details.get("redriveCount", 1))
        self.context_execution["RedriveTime"] = iso(ev["timestamp"])
        if self.machine.timeout_seconds:
            self.deadline = ev["timestamp"] + timedelta(seconds=self.machine.timeout_seconds)
        self.scheduler = self._new_scheduler()
        state, value, random_state = self._top
        if random_state is not None:
            self.draws.rng.setstate(random_state)
        self.redrive_carry = (state, self.redrive_memo.pop(state.name, {}))
        self.redrive_memo.clear()
        return state, value

    def _run_top_block(self, value: Any, frame: Frame, resume: tuple[State, Any] | None) -> Any:
        """The top-level block, remembering the state running; with ``resume``, from that state (run again after a
        redrive, without a new StateEntered event)."""
        h = self.history
        states = self.machine.top.states
        name: str | None = self.machine.top.start_at
        again = None
        if resume is not None:
            again, value = resume
            name = again.name
        while name is not None:
            if self.deadline is not None:
                self._check_deadline()
            state = states[name]
            pending = isinstance(h, ReplayHistory) and bool(h.redrives)
            self._top = (state, value, self.draws.rng.getstate() if pending else None)
            value, name = self._run_state(state, value, frame, frame.cursor if state is again else None)
            again = None
        return value

    def _attempt(self, frame: Frame, resume: tuple[State, Any] | None) -> ExecutionResult:
        h = self.history
        try:
            output = self._run_top_block(self.input, frame, resume)
        except BranchEnded as end:
            return self._fail(end.err, frame.cursor, "ExecutionFailed", "FAILED")
        except StateError as err:
            if err.error == "States.Timeout" and self.deadline is not None and self.clock.now() >= self.deadline:
                return self._fail(err, frame.cursor, "ExecutionTimedOut", "TIMED_OUT")
            return self._fail(err, frame.cursor, "ExecutionFailed", "FAILED")
        except RecursionError:  # the states catch their own; this is the last net (an Assign, a Choice rule, ...)
            return self._fail(StateError("States.Runtime", TOO_DEEP), frame.cursor, "ExecutionFailed", "FAILED")
        except HistoryLimitReached:  # event 25,000 is the execution's end, and a failure
            limit = StateError(HistoryLimitReached.ERROR, HistoryLimitReached.CAUSE)
            return self._fail(limit, len(h.events), "ExecutionFailed", "FAILED")
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

    def run_block(self, block: Block, value: Any, frame: Frame) -> Any:
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

    def _run_state(self, state: State, raw_input: Any, frame: Frame, again: int | None = None) -> tuple[Any, str | None]:
        """Run one state: its StateEntered event (``again``: the id of the event after which a redriven state runs
        again, without one), its handler, its StateExited event; its output and the next state's name."""
        h = frame.history
        entered_prev = frame.cursor
        carry, frame.carry, frame.out_text = frame.carry, None, None
        text = carry[1] if carry is not None and carry[0] is raw_input else dumps(raw_input)
        if again is None:
            entered = h.add(_ENTERED[state.type], frame.cursor, "stateEnteredEventDetails", (state.name, text))
        else:
            entered = again
        frame.cursor = entered
        if self.opts.coverage is not None:
            cover(self, state.pointer)
        if state.passthrough and self.inspect is None and len(text) * 4 <= MAX_PAYLOAD:
            # Nothing to evaluate: the output is the input, whose text was just recorded (and is under the payload
            # limit whatever its UTF-8 length, as in check_size)
            frame.carry = (raw_input, text)
            frame.cursor = h.add(_EXITED[state.type], entered, "stateExitedEventDetails", (state.name, text))
            return raw_input, state.next
        ctx_state = StateCtx(state, entered, entered_prev, iso(self.clock.now()))
        frame.state = state
        try:
            output, nxt, assigned = self._attempts(state, raw_input, frame, ctx_state)
        except Aborted as stop:  # a sibling branch failed: this state ends here, as AWS records it
            if state.type in ABORTABLE:
                frame.cursor = h.add(state.type + "StateAborted", stop.prev)
            raise
        except StateError as err:  # the branch ends in this state: its parent may record it as aborted
            if err.failed_in is None:
                err.failed_in = state.type
            raise
        self._assign(state, frame, assigned)
        if state.type in _EXITED:
            sized = frame.out_text
            try:
                text = sized[1] if sized is not None and sized[0] is output else dumps(output)
            except RecursionError:
                raise runtime_error(state, entered, NoRecovery("States.Runtime", TOO_DEEP)) from None
            frame.carry = (output, text)
            details: Any = (state.name, text)
            if assigned:
                details = {"name": state.name, "output": text, "outputDetails": {"truncated": False},
                           "assignedVariables": {k: dumps(v) for k, v in assigned.items()},
                           "assignedVariablesDetails": {"truncated": False}}
            frame.cursor = h.add(_EXITED[state.type], frame.cursor, "stateExitedEventDetails", details)
        return output, nxt

    def _attempts(self, state: State, raw_input: Any, frame: Frame, ctx_state: StateCtx) -> Outcome:
        """Run the state's handler, again after each Retry delay, and through its Catcher when one matches."""
        handler = HANDLERS[state.type]
        retry_counts: list[int] | None = None  # made on the first error: most states never fail
        while True:
            try:
                return handler(self, state, raw_input, frame, ctx_state)
            except RecursionError:  # a value made inside the execution nests too deeply for Python to walk
                raise runtime_error(state, ctx_state.entered, NoRecovery("States.Runtime", TOO_DEEP)) from None
            except StateError as err:
                if not err.catchable or isinstance(err, NoRecovery):
                    if err.final_event is not None:  # a Map or Parallel that fails this way still ends with it
                        frame.cursor = frame.history.add(err.final_event[0], err.final_event[1])
                        err.final_event = None
                    raise runtime_error(state, ctx_state.entered, err) from None
                if retry_counts is None:
                    retry_counts = [0] * len(state.retry)
                delay = self._retry_delay(state, err, retry_counts, frame)
                if delay is None and err.final_event is not None:
                    frame.cursor = frame.history.add(err.final_event[0], err.final_event[1])
                if delay is not None:
                    self.scheduler.sleep(delay)
                    self._check_deadline()
                    if state.type == "Task":
                        ctx_state["RetryCount"] = sum(retry_counts)
                    continue
                caught = match_catcher(state.catch, err)
                if caught is None:
                    raise
                index, catcher = caught
                frame.out_text = None  # what the failed attempt encoded is not this output
                cover(self, f"{state.pointer}/Catch/{index}")
                output, assigned = self._apply_catcher(state, catcher, raw_input, err, frame, ctx_state)
                return output, catcher.next, assigned

    def _assign(self, state: State, frame: Frame, assigned: dict[str, Any] | None) -> None:
        """Variables take their new values when the state ends, all at once (the right-hand sides saw the old ones)."""
        if assigned:
            if len(dumps(assigned).encode()) > MAX_PAYLOAD:
                raise NoRecovery("States.DataLimitExceeded", f"The state '{state.name}' assigned variables with a size "
                                                              "exceeding the maximum number of bytes service limit.")
            frame.variables.update(assigned)

    def _retry_delay(self, state: State, err: StateError, counts: list[int], frame: Frame) -> float | None:
        for i, r in enumerate(state.retry):
            if matches(r.error_equals, err):
                if counts[i] >= r.max_attempts:
                    return None
                delay = backoff(r, counts[i])
                if r.jitter == "FULL":
                    delay = frame.rng.uniform(0, delay)
                counts[i] += 1
                cover(self, f"{state.pointer}/Retry/{i}")
                return delay
        return None

    def _apply_catcher(self, state: State, c: Catcher, raw_input: Any, err: StateError, frame: Frame,
                       sctx: Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        error_output: dict[str, Any] = {"Error": err.error}
        if err.cause is not None:
            error_output["Cause"] = err.cause
        if state.query_language == JSONATA:
            assert isinstance(sctx, StateCtx)
            states = {**self.states_binding(raw_input, frame, sctx), "errorOutput": error_output}
            return self.jfinish(c.assign, c.output, error_output, states, frame, sctx)
        assigned = None
        if c.assign is not ABSENT:
            assigned = self.eval_assign(c.assign, error_output, frame, state, sctx)
        if c.result_path is ABSENT:
            return error_output, assigned
        if c.result_path is None:
            return raw_input, assigned
        return self._set_result(c.result_path, raw_input, error_output), assigned



HANDLERS: dict[str, Callable[[Execution, State, Any, Frame, StateCtx], Outcome]] = {
    "Pass": pass_state, "Succeed": succeed_state, "Fail": fail_state, "Wait": wait_state, "Choice": choice_state, "Task": task_state,
    "Parallel": parallel_state, "Map": map_state,
}


def run(machine: StateMachine, input_text: str | None = None, options: ExecutionOptions | None = None) -> ExecutionResult:
    """Run a compiled state machine to its end."""
    return Execution(machine, input_text, options).run()
