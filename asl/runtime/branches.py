"""Parallel and Map states: branches and iterations run the interpreter loop on their own block and frame; a
Distributed Map runs each item as a child run with its own history and records a Map Run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BranchEnded, NoRecovery, PathNotFound, StateError
from ..jsontext import dumps
from ..model import ABSENT, State
from ..validate import JSONATA
from .dataflow import number_field
from .decisions import tolerated
from .frame import Frame, StateCtx
from .history import History
from .states import Outcome

if TYPE_CHECKING:
    from .loop import Execution

# Parallel and Map ----------------------------------------------------------------------------------------------------
def parallel_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    h = ex.history

    def work(eff: Any) -> Any:
        frame.cursor = h.add("ParallelStateStarted", frame.cursor)
        start = frame.cursor
        results = []
        last = start
        for branch in st.branches:
            sub = Frame(start, {}, frame)
            try:
                results.append(ex.run_block(branch, eff, sub))
            except (BranchEnded, StateError) as exc:
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
    h = ex.history
    proc = st.processor
    assert proc is not None
    distributed = st.raw.get("ItemProcessor", st.raw.get("Iterator", {})).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    if "ItemReader" in st.raw or "ResultWriter" in st.raw:
        raise StateError("States.Runtime", "ItemReader and ResultWriter (S3) are not supported yet by asl")

    def work(eff: Any) -> Any:
        items = map_items(ex, st, eff, frame, sctx)
        number_field(ex, st, "MaxConcurrency", eff, frame, sctx, "integer")
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
            return _distributed(ex, st, items, eff, frame, sctx, tol_count, tol_pct)
        results: list[Any] = []
        failures = 0
        prev = frame.cursor
        for index, item in enumerate(items):
            it_frame = Frame(prev, {}, frame, None)
            value = _item_value(ex, st, eff, index, item, frame, sctx)
            started = h.add("MapIterationStarted", prev, "mapIterationStartedEventDetails", {"index": index, "name": st.name})
            it_frame.cursor = started
            try:
                results.append(ex.run_block(proc, value, it_frame))
            except (BranchEnded, StateError) as exc:
                err = _branch_error(exc)
                h.add("MapIterationFailed", it_frame.cursor, "mapIterationFailedEventDetails", {"index": index, "name": st.name})
                failures += 1
                results.append(None)
                if not tolerated(failures, len(items), tol_count, tol_pct):
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


def _distributed(ex: Execution, st: State, items: list[Any], eff: Any, frame: Frame, sctx: StateCtx,
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
        ex.history = History(ex.clock)  # a child execution's own history
        try:
            # A child execution of a Distributed Map does not see the parent's variables.
            results.append(ex.run_block(proc, value, Frame(0, {})))
        except (BranchEnded, StateError) as exc:
            err = _branch_error(exc)
            failures += 1
            last_err = err
            results.append(None)
        finally:
            ex.history = parent_history
    if not tolerated(failures, len(items), tol_count, tol_pct):
        assert last_err is not None
        frame.cursor = h.add("MapRunFailed", frame.cursor, "mapRunFailedEventDetails", {})
        failed = StateError("States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded") \
            if (tol_count is not None or tol_pct is not None) else StateError(last_err.error, last_err.cause)
        failed.final_event = ("MapStateFailed", frame.cursor)
        raise failed
    frame.cursor = h.add("MapRunSucceeded", frame.cursor)
    h.add("MapStateSucceeded", frame.cursor)
    return results
