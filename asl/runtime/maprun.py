"""A Distributed Map's children as executions of their own, under the durable engine: each child is a STANDARD
execution in the store, with its own history, claimed and run by any worker like any other execution, listed by
``ListExecutions(mapRunArn=...)``; the parent keeps a Map Run record (its children's inputs, MaxConcurrency and
tolerance, which UpdateMapRun may change while it runs) and waits, parked, while its children run.

The parent starts children in order, up to MaxConcurrency running at once, each with a task token of the parent
that the child's end closes (in the same transaction as the child's last event), which wakes the parent. A parent
rebuilt after a restart finds its Map Run and the tokens in the store: the children that ended are not run again,
those running go on, and the rest start as room frees up; its items are not read again (their inputs are in the
Map Run record). Child names and tokens are derived from the Map Run's id and the child's index, so a rebuilt
parent names them as it did.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import BranchEnded, HistoryLimitReached, NoRecovery, Parked, RedriveRestart, StateError
from ..jsontext import dumps
from .branches import _branch_error, _item_value, _spawn, _stop, _Tolerance
from .decisions import tolerated
from .distributed import ChildRun, MapRun, ReaderCall, batch_items, read_items, write_results
from .frame import Frame, StateCtx
from .history import History, ReplayHistory, event_dict
from .journal import ChildStart, MapRunJournal, MapRunState, TokenState
from .scheduler import Aborted, Child

if TYPE_CHECKING:
    from ..model import State
    from .loop import Execution

RUNNING, SUCCEEDED, FAILED, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "ABORTED"


def child_name(run_id: str, index: int) -> str:
    """The name of a Map Run's child: a UUID made from the Map Run's id and the child's index."""
    return str(uuid.uuid5(uuid.UUID(run_id), f"child-{index}"))


def child_definition(ex: Execution, st: State) -> str:
    """A child's state machine: the Map's ItemProcessor on its own, in the parent's query language."""
    processor = st.raw.get("ItemProcessor", st.raw.get("Iterator", {}))
    definition = {"QueryLanguage": ex.machine.query_language,
                  **{k: v for k, v in processor.items() if k != "ProcessorConfig"}}
    return dumps(definition)


def as_journal(ex: Execution) -> MapRunJournal | None:
    """The execution's journal when it can keep Map Runs (the durable engine's), else None."""
    journal = ex.journal
    return journal if journal is not None and hasattr(journal, "start_children") else None  # type: ignore[return-value]


@dataclass
class ChildOutcome:
    """How a child execution ended, as its token says: its DescribeExecution record."""

    index: int
    record: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.record.get("Status") == SUCCEEDED


def _outcome(index: int, token: TokenState) -> ChildOutcome:
    try:
        record = json.loads(token.output or "")
    except ValueError:
        record = {}
    if not isinstance(record, dict):
        record = {}
    if token.status != SUCCEEDED:  # a token timed out or closed without the child's record: a failure
        record.setdefault("Status", FAILED)
        record.setdefault("Error", token.error or "States.Runtime")
        if token.cause is not None:
            record.setdefault("Cause", token.cause)
    return ChildOutcome(index, record)


@dataclass
class Ending:
    """How a Map Run's children ended: the outcomes of those that did (in order), the error the Map Run fails with
    (None: it succeeded, its failures tolerated), and whether the execution's TimeoutSeconds ended it."""

    outcomes: list[ChildOutcome]
    failed: StateError | None
    timed_out: bool = False


class ChildExecutions:
    """The children of one Map Run, run as executions: :meth:`run` returns when they have all ended, or when the
    Map Run fails (its tolerance exceeded) or the execution times out (the children still running are aborted);
    :meth:`replay` gives an ended Map Run's outcome as it was decided. The decision (which children had ended, and the
    error) is kept with the Map Run before any child is stopped, so a rebuilt parent decides the same whatever the
    children's tokens say by then."""

    def __init__(self, ex: Execution, st: State, journal: MapRunJournal, run: MapRunState, run_id: str, label: str):
        self.ex, self.st, self.journal, self.run_id = ex, st, journal, run_id
        self.state = run
        self.inputs: list[str] = run.inputs.split("\n") if run.inputs else []  # each child's input, JSON text
        self.definition = child_definition(ex, st)
        o = ex.opts
        machine = f"{ex.context_sm['Name']}/{label}"
        self.machine_arn = f"arn:{o.partition}:states:{o.region}:{o.account}:stateMachine:{machine}"
        self.execution_prefix = f"arn:{o.partition}:states:{o.region}:{o.account}:execution:{machine}:"
        self.ended: dict[int, TokenState] = {}  # a child's token once closed (without its output: read at the end)
        self.started = 0
        # tokens are made from the execution's own seed, which nobody outside sees: not from the Map Run's ARN
        self.secret = journal.secret
        self._tokens: list[str] = []

    def token(self, index: int) -> str:
        while len(self._tokens) <= index:
            self._tokens.append(str(uuid.uuid5(uuid.UUID(self.run_id), f"token-{len(self._tokens)}-{self.secret}")))
        return self._tokens[index]

    def child(self, index: int) -> ChildStart:
        name = child_name(self.run_id, index)
        return ChildStart(self.execution_prefix + name, name, self.machine_arn, self.definition, "STANDARD",
                          self.inputs[index], self.token(index), self.state.arn)

    def _count_started(self, tokens: dict[str, TokenState]) -> None:
        total = len(self.inputs)
        while self.started < total and self.token(self.started) in tokens:  # started before a restart
            self.started += 1

    def redrive(self, attempt: int) -> None:
        """The Map Run is redriven (its ``attempt``-th redrive): the children that ended without succeeding are
        redriven (each resumes from the state it did not finish, and its token is open again); the others keep
        their results. Done again when the parent is rebuilt: a child redriven for this attempt already is not."""
        self.ex.journal.flush()  # type: ignore[union-attr]  # MapRunRedriven and the record, before the children
        tokens = self.journal.tokens_of_execution(outputs=False)
        again = [self.child(index) for index in range(len(self.inputs))
                 if (token := tokens.get(self.token(index))) is not None and token.status not in ("PENDING", SUCCEEDED)]
        if again:
            self.journal.redrive_children(again, attempt)

    def run(self) -> Ending:
        """Run the children to their end (or the Map Run's)."""
        total = len(self.inputs)
        tokens = self.journal.tokens_of_execution(outputs=False)
        self._count_started(tokens)
        while True:
            stored = self.journal.map_run(self.state.arn, inputs=False)
            if stored is not None:  # UpdateMapRun may have changed its limits
                self.state = replace(self.state, max_concurrency=stored.max_concurrency,
                                     tolerated_failure_count=stored.tolerated_failure_count,
                                     tolerated_failure_percentage=stored.tolerated_failure_percentage)
            for index in range(self.started):
                if index not in self.ended:
                    token = tokens.get(self.token(index))
                    if token is not None and token.status != "PENDING":
                        self.ended[index] = token
            if self._timed_out():
                return self._end(None, timed_out=True)
            failed = self._failure(total)
            if failed is not None or len(self.ended) == total:
                return self._end(failed)
            limit = self.state.max_concurrency or total
            room = min(total - self.started, limit - (self.started - len(self.ended)))
            if room > 0:
                children = [self.child(i) for i in range(self.started, self.started + room)]
                self.journal.start_children(children)
                self.ex.journal.flush()  # type: ignore[union-attr]  # the children start: a side effect
                self.started += room
            try:
                self._wait()
            except Aborted:  # the Map's own branch is stopped (a sibling failed): so are its children
                self._decide(ABORTED, {"aborted": True})
                self._stop_running("States.Aborted", "The parent execution's Map Run was aborted")
                raise
            tokens = self.journal.tokens_of_execution(outputs=False)

    def replay(self, decision: dict[str, Any]) -> Ending:
        """An ended Map Run, rebuilt: its outcome as it was decided. Children are neither started nor stopped, but
        a stop that a crash cut short is finished."""
        tokens = self.journal.tokens_of_execution(outputs=False)
        self._count_started(tokens)
        if decision.get("aborted"):
            while True:  # the rebuild gets to the stop that ended it (a sibling branch's failure)
                self._wait()
        for index in decision.get("ended", []):
            token = tokens.get(self.token(index))
            self.ended[index] = token if token is not None else TokenState(FAILED, error="States.Runtime")
        error = decision.get("error")
        if error is not None or decision.get("timeout"):
            self._stop_running(error or "States.Timeout", "The Map Run failed, and stopped the child executions "
                                                         "still running")
        failed = None if error is None else StateError(error, decision.get("cause"))
        return Ending(self._outcomes(), failed, bool(decision.get("timeout")))

    def _timed_out(self) -> bool:
        """Whether the execution's TimeoutSeconds has passed (looked at live only: a rebuild decides as recorded)."""
        deadline = self.ex.deadline
        h = self.ex.history
        return deadline is not None and not (isinstance(h, ReplayHistory) and h.replaying()) and _wall(self.ex) >= deadline

    def _decide(self, status: str, decision: dict[str, Any]) -> None:
        """Keep how the Map Run ended with it, with the next commit."""
        self.state = replace(self.state, status=status, stop=self.state.stop or _wall(self.ex),
                             decision=dumps({"ended": sorted(self.ended), **decision}))
        self.journal.save_map_run(self.state)

    def _end(self, failed: StateError | None, timed_out: bool = False) -> Ending:
        if failed is None and not timed_out:
            self._decide(SUCCEEDED, {})
        else:
            self._decide(ABORTED if timed_out else FAILED, {"timeout": True} if timed_out else
                         {"error": failed.error if failed else None, "cause": failed.cause if failed else None})
            self.ex.journal.flush()  # type: ignore[union-attr]  # the decision is kept before any child is stopped
            self._stop_running(failed.error if failed and failed.error else "States.Timeout",
                               "The Map Run failed, and stopped the child executions still running")
        return Ending(self._outcomes(), failed, timed_out)

    def _wait(self) -> None:
        """Wait for a child to end: the parent parks (its workers go on with other executions) and is run again
        when a child's end closes its token, UpdateMapRun changes its limits, or its TimeoutSeconds passes."""
        h = self.ex.history
        wake = None if isinstance(h, ReplayHistory) and h.replaying() else self.ex.deadline
        if not self.ex.scheduler.live:
            raise Parked(wake)
        self.ex.scheduler.wait_callback(wake)

    def _failure(self, total: int) -> StateError | None:
        failures = sorted(i for i, token in self.ended.items() if token.status != SUCCEEDED)
        if not failures:
            return None
        if tolerated(len(failures), total, self.state.tolerated_failure_count, self.state.tolerated_failure_percentage):
            return None
        if self.state.tolerated_failure_count is not None or self.state.tolerated_failure_percentage is not None:
            return StateError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
        first = self.ended[failures[0]]
        return StateError(first.error or "States.Runtime", first.cause)

    def _stop_running(self, error: str, cause: str) -> None:
        running = [self.child(i) for i in range(self.started) if i not in self.ended]
        if running:
            self.journal.stop_children(running, error, cause)

    def _outcomes(self) -> list[ChildOutcome]:
        """The ended children's records, read once (with their outputs) as the Map Run ends."""
        tokens = self.journal.tokens_of_execution(outputs=True)
        return [_outcome(index, tokens.get(self.token(index), self.ended[index])) for index in sorted(self.ended)]


def new_map_run(ex: Execution, arn: str, inputs: list[Any], batched: bool, limit: int,
                tolerated_failures: tuple[int | None, float | None], start: datetime) -> MapRunState:
    """A Map Run's record as it starts."""
    count, pct = tolerated_failures
    return MapRunState(arn, ex.opts.execution_arn or "", RUNNING, start, limit, count, pct,
                       "\n".join(dumps(i) for i in inputs), batched)


def children_are_executions(ex: Execution, st: State) -> MapRunJournal | None:
    """The journal to run a Distributed Map's children as executions with: under the durable engine, for STANDARD
    children, when no mocked test case runs (its mocked responses are counted within one execution)."""
    config = st.raw.get("ItemProcessor", st.raw.get("Iterator", {})).get("ProcessorConfig", {})
    if config.get("ExecutionType", "STANDARD") != "STANDARD" or ex.opts.mocks is not None:
        return None
    return as_journal(ex)


# -- the Distributed Map state ---------------------------------------------------------------------------------------
DISTRIBUTED_LIMIT = 10_000  # child executions of a Distributed Map at once


def distributed_map(ex: Execution, st: State, items: list[Any], eff: Any, frame: Frame, sctx: StateCtx,
                    tolerated_failures: tuple[int | None, float | None], concurrency: int | None,
                    reading: ReaderCall | None) -> Any:
    """A Distributed Map: each item (or batch of items) runs as a child with its own history (and no access to the
    parent's variables), up to MaxConcurrency at once; the parent records the Map Run. With ``reading``, the items
    are read (ItemReader) once the Map Run has started. The result is the children's outputs in order, or with a
    ResultWriter what it makes of them.

    Under the durable engine STANDARD children are executions of their own (:class:`ChildExecutions`); otherwise
    (``asl run``, tests, EXPRESS children) each child runs inside the parent's process, as a branch with a history of
    its own."""
    h = frame.history
    o = ex.opts
    label = st.raw.get("Label") or frame.uuid4()
    run_id = frame.uuid4()
    run_arn = f"arn:{o.partition}:states:{o.region}:{o.account}:mapRun:{ex.context_sm['Name']}/{label}:{run_id}"
    limit = min(concurrency or DISTRIBUTED_LIMIT, DISTRIBUTED_LIMIT)
    journal = children_are_executions(ex, st)
    stored = None if journal is None else journal.map_run(run_arn)
    attempt = _attempt(h, stored)
    if attempt == 0:
        frame.cursor = h.add("MapRunStarted", frame.cursor, "mapRunStartedEventDetails", {"mapRunArn": run_arn})
    else:  # the execution was redriven in this Map Run: its children that did not succeed run again
        frame.cursor = h.add("MapRunRedriven", frame.cursor, "mapRunRedrivenEventDetails",
                             {"mapRunArn": run_arn, "redriveCount": attempt})
    if stored is not None and stored.redrive_count > attempt and isinstance(h, ReplayHistory) and h.redrives:
        # rebuilding an attempt that ended in this Map Run, which a later redrive took up: go on from there
        raise RedriveRestart
    inputs: list[Any] | None = None
    if stored is None:  # a resumed Map Run has its children's inputs: its items are not read again
        # the items' own random stream: a resumed parent that skips this draws the same values after it
        where = frame if journal is None else frame.child(frame.cursor, f"{frame.cursor}:items")
        try:
            if reading is not None:
                items = read_items(ex, st, reading, eff, where, sctx)
            if st.batcher is not None:  # each child takes a batch of items (after ItemSelector) as its input
                values = [_item_value(ex, st, eff, i, item, where, sctx) for i, item in enumerate(items)]
                inputs = batch_items(ex, st, st.batcher, values, eff, where, sctx)
            elif journal is not None:  # kept in the Map Run record
                inputs = [_item_value(ex, st, eff, i, item, where, sctx) for i, item in enumerate(items)]
        except StateError as err:
            _map_run_failed(h, frame, err)  # the Map Run fails, saying why
            raise
    if journal is not None:
        run = stored or new_map_run(ex, run_arn, inputs or [], st.batcher is not None, limit, tolerated_failures,
                                    _wall(ex))
        final = stored is not None and stored.status != RUNNING and stored.redrive_count == attempt
        if stored is None:
            journal.save_map_run(run)  # committed with the first children
        elif attempt > run.redrive_count:
            run = replace(run, status=RUNNING, stop=None, redrive_count=attempt, decision=None)
            journal.save_map_run(run)
        runner = ChildExecutions(ex, st, journal, run, run_id, label)
        with _aborting(h, frame):
            if final:  # rebuilding a Map Run that ended: as it was decided then
                ending = runner.replay(json.loads(run.decision or "{}"))
            else:
                if attempt:
                    runner.redrive(attempt)
                ending = runner.run()
        if ending.timed_out:  # the execution's TimeoutSeconds passed while its children ran
            frame.cursor = h.add("MapRunAborted", frame.cursor)
            if ex.deadline is not None:
                ex.clock.sleep(max(0.0, (ex.deadline - ex.clock.now()).total_seconds()))
            raise StateError("States.Timeout", None)
        failed = ending.failed
        children = [ChildRun(json.loads(runner.inputs[c.index]), c.record.get("Name") or child_name(run_id, c.index),
                             start=_millis(c.record.get("StartDate")), stop=_millis(c.record.get("StopDate")))
                    for c in ending.outcomes]
        # one entry a child that ended, errors keyed by its place among them (the writer's records)
        results = [json.loads(c.record.get("Output", "null")) if c.succeeded else None for c in ending.outcomes]
        errors = {place: StateError(c.record.get("Error") or "States.Runtime", c.record.get("Cause"))
                  for place, c in enumerate(ending.outcomes) if not c.succeeded}
        record: MapRunState | None = None if final else runner.state
    else:
        started = _wall(ex)
        with _aborting(h, frame):
            children, results, errors = _in_process(ex, st, items, inputs, eff, frame, sctx, limit)
        if ex.opts.child_histories is not None:
            _keep_histories(ex, run_arn, label, children, results, errors)
        failed = None
        tolerance = _Tolerance(len(children), *tolerated_failures)
        for index in sorted(errors):
            failed = tolerance.fail(errors[index]) or failed
        record = None
        journal = as_journal(ex)
        if journal is not None:  # a durable parent keeps the Map Run of children it ran itself, with how each ended
            # each child's status, and with ItemBatcher how many items it had: [status, items]
            statuses: list[Any] = [FAILED if i in errors else SUCCEEDED for i in range(len(children))]
            if inputs is not None and st.batcher is not None:
                statuses = [[s, len(b.get("Items", [])) if isinstance(b, dict) else 1] for s, b in zip(statuses, inputs,
                                                                                                      strict=False)]
            ended = dumps(statuses)
            record = replace(new_map_run(ex, run_arn, [], st.batcher is not None, limit, tolerated_failures, started),
                             outcomes=ended)
    output: Any = results
    written = 0
    if st.writer is not None:
        report = MapRun(run_arn, label, run_id, children, results, errors)
        try:
            output = write_results(ex, st, st.writer, eff, frame, sctx, report, write=record is not None or
                                   journal is None)
            written = len(children) if st.writer.resource is not None else 0
        except StateError as err:
            if failed is None:
                _end_record(ex, journal, record, FAILED, written)
                _map_run_failed(h, frame, err)
                raise
    _end_record(ex, journal, record, SUCCEEDED if failed is None else FAILED, written)
    if failed is not None:
        frame.cursor = h.add("MapRunFailed", frame.cursor, "mapRunFailedEventDetails", {})
        failed.final_event = ("MapStateFailed", frame.cursor)
        raise failed
    frame.cursor = h.add("MapRunSucceeded", frame.cursor)
    h.add("MapStateSucceeded", frame.cursor)
    return output


def _attempt(h: History, stored: MapRunState | None) -> int:
    """Which attempt of a Map Run this is: 0 for its start, n for its n-th redrive. Rebuilding, the history says
    (MapRunStarted or MapRunRedriven); live, a Map Run that ended is being redriven."""
    if isinstance(h, ReplayHistory):
        ahead = h.peek()
        if ahead is not None and ahead["type"] in ("MapRunStarted", "MapRunRedriven"):
            return int((ahead.get("mapRunRedrivenEventDetails") or {}).get("redriveCount", 0))
    if stored is not None and stored.status != RUNNING:
        return stored.redrive_count + 1
    return stored.redrive_count if stored is not None else 0


@contextlib.contextmanager
def _aborting(h: History, frame: Frame) -> Iterator[None]:
    """A Map Run whose Map state is stopped (a sibling branch failed) ends with MapRunAborted, after its children
    were stopped (and before the state's MapStateAborted)."""
    try:
        yield
    except Aborted:
        frame.cursor = h.add("MapRunAborted", frame.cursor)
        raise


def _keep_histories(ex: Execution, run_arn: str, label: str, children: list[ChildRun], results: list[Any],
                    errors: dict[int, StateError]) -> None:
    """Hand the histories of children run inside the parent to whoever asked for them (``asl run``), as their
    executions' histories: ExecutionStarted, the child's events, its end."""
    o = ex.opts
    assert o.child_histories is not None
    prefix = f"arn:{o.partition}:states:{o.region}:{o.account}:execution:{ex.context_sm['Name']}/{label}:"
    for index, child in enumerate(children):
        inner = [] if child.frame is None else [event_dict(e) for e in child.frame.history.events]
        start = inner[0]["timestamp"] if inner else ex.clock.now()
        events = [{"id": 1, "previousEventId": 0, "timestamp": start, "type": "ExecutionStarted",
                   "executionStartedEventDetails": {"input": dumps(child.input), "inputDetails": {"truncated": False},
                                                    "roleArn": ex.role_arn}}]
        events += [{**e, "id": e["id"] + 1, "previousEventId": e["previousEventId"] + 1} for e in inner]
        end = {"id": len(events) + 1, "previousEventId": len(events), "timestamp": events[-1]["timestamp"]}
        err = errors.get(index)
        if err is None:
            end.update(type="ExecutionSucceeded", executionSucceededEventDetails={
                "output": dumps(results[index]), "outputDetails": {"truncated": False}})
        else:
            end.update(type="ExecutionFailed", executionFailedEventDetails={
                k: v for k, v in (("error", err.error), ("cause", err.cause)) if v is not None})
        events.append(end)
        o.child_histories.append({"mapRunArn": run_arn, "executionArn": prefix + child.name, "name": child.name,
                                  "status": SUCCEEDED if err is None else FAILED, "history": events})


def _wall(ex: Execution) -> datetime:
    """The time now for a Map Run record: the wall clock's under the durable engine (whose ``now`` stays at the
    latest event while an execution is rebuilt), the execution's clock's otherwise."""
    wall = getattr(ex.clock, "wall", None)
    return wall() if wall is not None else ex.clock.now()


def _millis(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if isinstance(value, int | float) else None


def _end_record(ex: Execution, journal: MapRunJournal | None, record: MapRunState | None, status: str,
                written: int) -> None:
    """The Map Run record's end, written with the parent's next commit."""
    if journal is not None and record is not None:
        journal.save_map_run(replace(record, status=status, stop=record.stop or _wall(ex), results_written=written))


def _in_process(ex: Execution, st: State, items: list[Any], inputs: list[Any] | None, eff: Any, frame: Frame,
                sctx: StateCtx, limit: int) -> tuple[list[ChildRun], list[Any], dict[int, StateError]]:
    """The children run inside the parent's process, each a branch with a history of its own, up to ``limit`` at
    once (when they can wait): their runs, results and errors."""
    h = frame.history
    proc = st.processor
    assert proc is not None
    count = len(items if inputs is None else inputs)
    at_once = limit > 1 and ex.scheduler.enabled and proc.may_block and count > 1
    children: list[ChildRun] = []
    results: list[Any] = [None] * count
    errors: dict[int, StateError] = {}
    config = st.raw.get("ItemProcessor", st.raw.get("Iterator", {})).get("ProcessorConfig", {})
    express_children = config.get("ExecutionType") == "EXPRESS"

    def child_run(index: int) -> Child | None:
        value = _item_value(ex, st, eff, index, items[index], frame, sctx) if inputs is None else inputs[index]
        sub = Frame(0, {}, None, None, History(ex.clock), f"{frame.path}/{frame.cursor}#{index}", frame.draws)
        if express_children:
            sub.history.limit = None  # AWS keeps no history of an Express child, so none bounds it
        children.append(ChildRun(value, frame.uuid4(), sub))
        if at_once:
            return _spawn(ex, proc, value, sub)
        try:
            results[index] = ex.run_block(proc, value, sub)
        except (BranchEnded, StateError, HistoryLimitReached) as exc:
            errors[index] = _child_error(exc)
        return None

    running: dict[int, Child] = {}
    try:
        for index in range(count):
            child = child_run(index)
            if child is None:
                continue
            running[index] = child
            while len(running) >= limit or (index == count - 1 and running):
                _collect_children(ex, running, results, errors)
    except StateError as exc:  # the Map itself failed (its ItemSelector): the children still running stop first
        if not isinstance(exc, NoRecovery):
            for child in running.values():
                _stop(ex, History(ex.clock), child, len(h.events))  # their events go to their own histories
        raise
    return children, results, errors
def _child_error(exc: BaseException) -> StateError:
    """How a Distributed Map child failed: its own error, or its history's limit (which fails that child, not the
    parent: each child is an execution with a history of its own)."""
    if isinstance(exc, HistoryLimitReached):
        return StateError(HistoryLimitReached.ERROR, HistoryLimitReached.CAUSE)
    assert isinstance(exc, BranchEnded | StateError)
    return _branch_error(exc)


def _map_run_failed(h: History, frame: Frame, err: StateError) -> None:
    """A failure of the Map Run itself (its reader, its batcher, its writer): MapRunFailed with the error and cause,
    then the state's MapStateFailed."""
    frame.cursor = h.add("MapRunFailed", frame.cursor, "mapRunFailedEventDetails", {"error": err.error, "cause": err.cause})
    err.final_event = ("MapStateFailed", frame.cursor)


def _collect_children(ex: Execution, running: dict[int, Child], results: list[Any], errors: dict[int, StateError]) -> None:
    """Wait for some of a Distributed Map's running children to end, and take their results."""
    try:
        ex.scheduler.wait_any(list(running.values()))
    except Aborted as stop:
        for child in running.values():
            _stop(ex, History(ex.clock), child, stop.prev)  # their events go to their own histories
        raise
    for index in sorted(i for i, c in running.items() if c.done):
        child = running.pop(index)
        if child.error is None:
            results[index] = child.result
        else:
            if not isinstance(child.error, BranchEnded | StateError | HistoryLimitReached):
                raise child.error
            errors[index] = _child_error(child.error)
