"""Parallel and Map states: branches and iterations run the interpreter loop on their own block and frame; a
Distributed Map runs each item as a child run with its own history and records a Map Run.

Branches that can wait (their block has a Task, a Wait or a Retry delay) run at once on the execution's scheduler:
all of a Parallel's, and up to MaxConcurrency of a Map's iterations (at most 40, AWS's limit for an inline Map; 0
means that limit). The others run to their end one after another on the caller's stack, which is also how they look
on AWS. When a branch fails and nothing catches it, the state stops the branches still running and records, as AWS
does, ``*StateAborted`` for the state each was in (the failed branch's too) and ``MapIterationAborted`` for each
iteration stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import BranchEnded, NoRecovery, PathNotFound, RedriveRestart, StateError
from ..jsonata import ENVIRONMENT, Environment
from ..jsontext import dumps
from ..model import ABSENT, Block, State
from ..validate import JSONATA
from .dataflow import number_field
from .decisions import ABORTABLE, tolerated
from .distributed import ReaderCall, max_items
from .frame import Frame, StateCtx
from .history import History, ReplayHistory
from .scheduler import Aborted, Child
from .states import Outcome

if TYPE_CHECKING:
    from .loop import Execution

INLINE_MAP_LIMIT = 40  # iterations of an inline Map that run at once on AWS, whatever MaxConcurrency says


# -- running branches -------------------------------------------------------------------------------------------------
def _spawn(ex: Execution, block: Block, value: Any, sub: Frame, then: Callable[[], None] | None = None) -> Child:
    """Start a branch on the scheduler: the block on its own frame, in a context of its own (the execution's clock,
    and a JSONata environment whose clock and stream each branch sets for itself). ``then`` runs in the branch when
    the block has ended well (a Map iteration records its success there, as it ends)."""
    context = ex.spawn_context.copy()
    env = context.run(ENVIRONMENT.get)
    context.run(ENVIRONMENT.set, Environment(env.rng, env.uuid4, env.now))

    def branch() -> Any:
        result = ex.run_block(block, value, sub)
        if then is not None:
            then()
        return result

    return ex.scheduler.spawn(branch, context, sub.path)


def _at_once(ex: Execution, blocks: list[Block]) -> bool:
    """Whether these branches run beside each other: when more than one can wait, on a scheduler that may."""
    return ex.scheduler.enabled and sum(1 for b in blocks if b.may_block) > 0 and len(blocks) > 1


def _aborted_state(h: History, err: BaseException, prev: int) -> None:
    """The Aborted event of the state an error ended its branch in (AWS writes it when the branch's parent fails)."""
    failed_in = getattr(err, "failed_in", None)
    if failed_in in ABORTABLE:
        h.add(failed_in + "StateAborted", prev)


def _stop(ex: Execution, h: History, child: Child, prev: int) -> None:
    """Stop a sibling of a failed branch: a running one writes its own Aborted events; one that ended with an
    error of its own is recorded as aborted in the state it failed in."""
    if not child.done:
        ex.scheduler.abort(child, prev)
    elif child.error is not None and not isinstance(child.error, Aborted):
        _aborted_state(h, child.error, prev)


# -- redrives --------------------------------------------------------------------------------------------------------
# A redriven execution reruns only the branches of a Parallel, and the iterations of an inline Map, that did not
# succeed (AWS's documented behaviour): while an execution is rebuilt towards a redrive, a top-level Parallel or Map
# that fails or is cut short remembers what its branches that succeeded gave, and when it runs again after the redrive
# it takes those results instead of running them.
def _remember(ex: Execution, st: State, frame: Frame, succeeded: dict[int, Any]) -> None:
    h = ex.history
    if not frame.path and isinstance(h, ReplayHistory) and h.redrives:
        ex.redrive_memo[st.name] = succeeded


def _carried(ex: Execution, st: State, frame: Frame) -> dict[int, Any]:
    """The results a top-level Parallel or Map run again after a redrive takes from its earlier attempt."""
    carried = ex.redrive_carry
    if frame.path or carried is None or carried[0] is not st:
        return {}
    ex.redrive_carry = None
    return carried[1]


# -- Parallel ---------------------------------------------------------------------------------------------------------
def parallel_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    h = frame.history
    carried = _carried(ex, st, frame)

    def work(eff: Any) -> Any:
        frame.cursor = h.add("ParallelStateStarted", frame.cursor)
        start = frame.cursor
        subs = [frame.child(start, f"{start}.{i}") for i in range(len(st.branches))]
        if _at_once(ex, [b for i, b in enumerate(st.branches) if i not in carried]):
            results, last = _parallel_at_once(ex, st, eff, frame, subs, carried)
        else:
            results, last = [], start
            for i, (branch, sub) in enumerate(zip(st.branches, subs, strict=True)):
                if i in carried:
                    results.append(carried[i])
                    continue
                try:
                    results.append(ex.run_block(branch, eff, sub))
                except (BranchEnded, StateError) as exc:
                    _remember(ex, st, frame, dict(enumerate(results)))
                    raise _parallel_failed(h, frame, exc, sub.cursor, []) from None
                except RedriveRestart:
                    _remember(ex, st, frame, dict(enumerate(results)))
                    raise
                last = max(last, sub.cursor)
        h.add("ParallelStateSucceeded", last)
        frame.cursor = last
        return results

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


def _parallel_at_once(ex: Execution, st: State, eff: Any, frame: Frame, subs: list[Frame],
                      carried: dict[int, Any]) -> tuple[list[Any], int]:
    """All branches of a Parallel at once (but those whose ``carried`` results an earlier attempt gave); its results
    in branch order, and the id its success event follows."""
    children = {i: _spawn(ex, branch, eff, sub) for i, (branch, sub) in enumerate(zip(st.branches, subs, strict=True))
                if i not in carried}
    pending = sorted(children)
    results: list[Any] = [carried.get(i) for i in range(len(st.branches))]
    succeeded = dict(carried)
    last = frame.cursor
    while pending:
        try:
            ex.scheduler.wait_any([children[i] for i in pending])
        except Aborted as stop:  # this Parallel's own branch is stopped: so are all of its branches
            for i in pending:
                _stop(ex, frame.history, children[i], stop.prev)
            raise
        except RedriveRestart:
            _remember(ex, st, frame, succeeded)
            raise
        for i in [i for i in pending if children[i].done]:
            pending.remove(i)
            error = children[i].error
            if error is None:
                results[i] = succeeded[i] = children[i].result
                last = max(last, subs[i].cursor)
                continue
            if not isinstance(error, BranchEnded | StateError):
                if isinstance(error, RedriveRestart):
                    _remember(ex, st, frame, succeeded)
                raise error  # not the branch's failure (the store's, a rebuild's): the execution's, as on one branch
            others = [children[j] for j in pending]
            _remember(ex, st, frame, succeeded)
            raise _parallel_failed(frame.history, frame, error, subs[i].cursor, others, ex) from None
    return results, last


def _parallel_failed(h: History, frame: Frame, exc: BranchEnded | StateError, fail_cursor: int, others: list[Child],
                     ex: Execution | None = None) -> StateError:
    """A branch ended the Parallel with an error: the failed state's Aborted event, the other branches stopped, and
    the error the Parallel state fails with (ParallelStateFailed written when no Retrier takes it)."""
    err = _branch_error(exc)
    _aborted_state(h, err, fail_cursor)
    for child in others:
        assert ex is not None
        _stop(ex, h, child, fail_cursor)
    failed = StateError(err.error, err.cause)
    failed.final_event = ("ParallelStateFailed", fail_cursor)
    frame.cursor = fail_cursor
    return failed


def _branch_error(exc: BranchEnded | StateError) -> StateError:
    """The error that ended a Parallel branch or a Map iteration. Errors that allow no recovery (States.Runtime,
    data limits) end the execution at once, so they are re-raised as they are."""
    err = exc.err if isinstance(exc, BranchEnded) else exc
    if isinstance(err, NoRecovery) or not err.catchable:
        raise err
    return err



def map_items(ex: Execution, st: State, eff: Any, frame: Frame, sctx: StateCtx) -> list[Any]:
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


def _item_value(ex: Execution, st: State, eff: Any, index: int, item: Any, frame: Frame, sctx: StateCtx) -> Any:
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


def map_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    h = frame.history
    proc = st.processor
    assert proc is not None
    distributed = st.raw.get("ItemProcessor", st.raw.get("Iterator", {})).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"

    def work(eff: Any) -> Any:
        # An ItemReader's items are read once the Map Run has started (ItemsPath is not applied to them), and AWS
        # reports their length as 0; its MaxItems is checked to be a number before.
        if st.reader is None and ex.opts.mocks is not None and ex.opts.mocks.mocks(st.name):
            raise StateError("States.Runtime", f"The test case mocks the Map state '{st.name}', which has no ItemReader: "
                                               "a Map's mocked response gives the items its ItemReader reads")
        reading = None if st.reader is None else ReaderCall(st.reader, max_items(ex, st, st.reader, eff, frame, sctx))
        items = map_items(ex, st, eff, frame, sctx) if reading is None else []
        concurrency = number_field(ex, st, "MaxConcurrency", eff, frame, sctx, "integer")
        frame.cursor = h.add("MapStateStarted", frame.cursor, "mapStateStartedEventDetails", {"length": len(items)})
        tol_count = number_field(ex, st, "ToleratedFailureCount", eff, frame, sctx, "integer")
        tol_pct = number_field(ex, st, "ToleratedFailurePercentage", eff, frame, sctx, "float")
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
            from .maprun import distributed_map

            return distributed_map(ex, st, items, eff, frame, sctx, (tol_count, tol_pct), concurrency, reading)
        tolerance = _Tolerance(len(items), tol_count, tol_pct)
        limit = min(concurrency or INLINE_MAP_LIMIT, INLINE_MAP_LIMIT)
        carried = _carried(ex, st, frame)
        if limit > 1 and ex.scheduler.enabled and proc.may_block and len(items) - len(carried) > 1:
            return _Iterations(ex, st, items, eff, frame, sctx, tolerance, limit, carried).run()
        return _map_in_turn(ex, st, items, eff, frame, sctx, tolerance, carried)

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


class _Tolerance:
    """ToleratedFailureCount and ToleratedFailurePercentage over a Map's iterations, and the error it fails with."""

    def __init__(self, total: int, count: int | None, pct: float | None):
        self.total, self.count, self.pct = total, count, pct
        self.failures = 0

    def fail(self, err: StateError) -> StateError | None:
        """Count a failed iteration; the error the Map fails with, or None while the failures are tolerated."""
        self.failures += 1
        if tolerated(self.failures, self.total, self.count, self.pct):
            return None
        if self.count is not None or self.pct is not None:
            return StateError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
        return StateError(err.error, err.cause)


_ITERATION_DETAILS = {t: t[0].lower() + t[1:] + "EventDetails" for t in (
    "MapIterationStarted", "MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted")}


def _iteration(h: History, etype: str, prev: int, index: int, st: State) -> int:
    return h.add(etype, prev, _ITERATION_DETAILS[etype], {"index": index, "name": st.name})


def _map_in_turn(ex: Execution, st: State, items: list[Any], eff: Any, frame: Frame, sctx: StateCtx,
                 tolerance: _Tolerance, carried: dict[int, Any]) -> list[Any]:
    """An inline Map's iterations one after another (MaxConcurrency 1, or iterations that cannot wait), but those
    whose ``carried`` results an earlier attempt gave (a redrive)."""
    h = frame.history
    proc = st.processor
    assert proc is not None
    results: list[Any] = []
    succeeded = dict(carried)
    prev = frame.cursor
    name = st.name
    for index, item in enumerate(items):
        if index in carried:
            results.append(carried[index])
            continue
        value = item if st.item_selector is ABSENT else _item_value(ex, st, eff, index, item, frame, sctx)
        started = h.add("MapIterationStarted", prev, "mapIterationStartedEventDetails", {"index": index, "name": name})
        sub = frame.child(started, started)
        try:
            results.append(ex.run_block(proc, value, sub))
        except (BranchEnded, StateError) as exc:
            err = _branch_error(exc)
            _iteration(h, "MapIterationFailed", sub.cursor, index, st)
            results.append(None)
            failed = tolerance.fail(err)
            if failed is not None:
                _remember(ex, st, frame, succeeded)
                _aborted_state(h, err, sub.cursor)
                # AWS's MapStateFailed follows from what failed the iteration, as MapIterationFailed does
                failed.final_event = ("MapStateFailed", sub.cursor)
                frame.cursor = sub.cursor
                raise failed from None
            prev = sub.cursor
            continue
        except Aborted as stop:  # this Map's branch is stopped while an iteration waits
            _iteration(h, "MapIterationAborted", stop.prev, index, st)
            raise
        except RedriveRestart:
            _remember(ex, st, frame, succeeded)
            raise
        succeeded[index] = results[-1]
        h.add("MapIterationSucceeded", sub.cursor, "mapIterationSucceededEventDetails", {"index": index, "name": name})
        prev = sub.cursor
    last = len(h.events)
    h.add("MapStateSucceeded", last)
    frame.cursor = last
    return results


class _Iterations:
    """An inline Map's iterations at once: up to ``limit`` running, the next started as one ends. An iteration writes
    its MapIterationSucceeded itself as it ends; the Map, when it wakes, handles those that ended in the order they
    did: the next iterations start, and a failure is recorded and decides the Map (iterations that ended well before
    it was handled are not aborted)."""

    def __init__(self, ex: Execution, st: State, items: list[Any], eff: Any, frame: Frame, sctx: StateCtx,
                 tolerance: _Tolerance, limit: int, carried: dict[int, Any]):
        self.ex, self.st, self.items, self.eff, self.frame, self.sctx = ex, st, items, eff, frame, sctx
        self.tolerance, self.limit = tolerance, limit
        self.h = frame.history
        self.results: list[Any] = [carried.get(i) for i in range(len(items))]
        self.carried = carried  # results an earlier attempt gave (a redrive): those iterations do not run again
        self.ok = dict(carried)  # the iterations that succeeded, with their results
        self.running: dict[int, tuple[Child, Frame]] = {}
        self.succeeded: dict[int, int] = {}  # the MapIterationSucceeded event of each iteration that wrote it
        self.next = 0
        self.last = frame.cursor  # the latest MapIterationSucceeded/Failed: MapStateSucceeded follows it

    def start(self, prev: int) -> None:
        while self.next < len(self.items) and self.next in self.carried:
            self.next += 1
        if self.next >= len(self.items):
            return
        index = self.next
        self.next += 1
        value = _item_value(self.ex, self.st, self.eff, index, self.items[index], self.frame, self.sctx)
        started = _iteration(self.h, "MapIterationStarted", prev, index, self.st)
        sub = self.frame.child(started, started)
        assert self.st.processor is not None

        def succeeded() -> None:
            self.succeeded[index] = _iteration(self.h, "MapIterationSucceeded", sub.cursor, index, self.st)

        self.running[index] = (_spawn(self.ex, self.st.processor, value, sub, succeeded), sub)

    def run(self) -> list[Any]:
        try:
            return self._run()
        except StateError as err:  # the Map itself failed (its ItemSelector): the iterations still open stop first
            if self.running and not isinstance(err, NoRecovery):
                self.stop(len(self.h.events))
            _remember(self.ex, self.st, self.frame, self.ok)
            raise
        except RedriveRestart:
            _remember(self.ex, self.st, self.frame, self.ok)
            raise

    def _run(self) -> list[Any]:
        while self.next < len(self.items) and len(self.running) < self.limit:
            self.start(self.frame.cursor)
        while self.running:
            try:
                self.ex.scheduler.wait_any([child for child, _ in self.running.values()])
            except Aborted as stop:  # this Map's own branch is stopped: so is every iteration still running
                self.stop(stop.prev)
                raise
            ended = [(child.ended, i) for i, (child, _) in self.running.items() if child.done]
            for _, index in sorted(ended):
                self.finished(index)
        self.h.add("MapStateSucceeded", self.last)
        self.frame.cursor = self.last
        return self.results

    def finished(self, index: int) -> None:
        child, sub = self.running.pop(index)
        if child.error is None:
            self.results[index] = self.ok[index] = child.result
            self.last = max(self.last, self.succeeded.pop(index))
        else:
            if not isinstance(child.error, BranchEnded | StateError):
                raise child.error  # not the iteration's failure (the store's, a rebuild's): the execution's
            err = _branch_error(child.error)
            failed = self.tolerance.fail(err)
            if failed is not None:  # the Map fails: the failed iteration first, then every other one still open
                fail_cursor = sub.cursor
                _iteration(self.h, "MapIterationFailed", fail_cursor, index, self.st)
                _aborted_state(self.h, err, fail_cursor)
                self.stop(fail_cursor)
                failed.final_event = ("MapStateFailed", fail_cursor)
                self.frame.cursor = fail_cursor
                raise failed from None
            self.last = max(self.last, _iteration(self.h, "MapIterationFailed", sub.cursor, index, self.st))
        if self.next < len(self.items):
            self.start(sub.cursor)

    def stop(self, prev: int) -> None:
        for index in sorted(self.running):
            child, _ = self.running.pop(index)
            if child.done and child.error is None:  # it ended well, and wrote so, before the failure was handled
                continue
            _iteration(self.h, "MapIterationAborted", prev, index, self.st)
            _stop(self.ex, self.h, child, prev)
