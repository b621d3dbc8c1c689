"""Retry and Catch decisions, shared by the runtime and TestState: which Retrier or Catcher matches an error, the
backoff before a retry, Map failure tolerance, and the prefix AWS gives to errors that allow no recovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import jsontext
from ..errors import HeartbeatTimedOut, NoRecovery, StateError
from ..model import Catcher, Retrier, State

if TYPE_CHECKING:
    from .loop import Execution

ABORTABLE = frozenset({"Task", "Wait", "Parallel", "Map"})
"""The states AWS records as aborted (``TaskStateAborted``, ...) when a sibling branch's failure stops them."""

TOO_DEEP = (f"The state's data is nested too deeply to be processed: more than {jsontext.MAX_DEPTH} levels of arrays "
             "and objects")


def runtime_error(state: State, entered: int, err: StateError) -> StateError:
    if err.error in ("States.Runtime", "States.QueryEvaluationError") and err.cause and not err.cause.startswith("An error occurred"):
        return NoRecovery(err.error, f"An error occurred while executing the state '{state.name}' "
                                      f"(entered at the event id #{entered}). {err.cause}")
    return err


def matches(names: tuple[str, ...], err: StateError) -> bool:
    error = err.error or ""
    # "a terminal error that can't be caught by the States.ALL error type" (the developer guide): only its name does
    terminal = error == "States.DataLimitExceeded"
    for n in names:
        if n == error or (not terminal and (n == "States.ALL" or (n == "States.TaskFailed" and error != "States.Timeout"))):
            return True
        if n == "States.HeartbeatTimeout" and isinstance(err, HeartbeatTimedOut):
            return True
    return False


def match_catcher(catchers: tuple[Catcher, ...], err: StateError) -> tuple[int, Catcher] | None:
    """The first Catcher that matches the error, with its index."""
    for i, c in enumerate(catchers):
        if matches(c.error_equals, err):
            return i, c
    return None


def backoff(r: Retrier, attempt: int) -> float:
    """The interval before retry number ``attempt + 1`` (before jitter): IntervalSeconds × BackoffRate^attempt,
    capped by MaxDelaySeconds."""
    delay = r.interval_seconds * (r.backoff_rate ** attempt)
    return delay if r.max_delay_seconds is None else min(delay, r.max_delay_seconds)


def tolerated(failures: int, total: int, tol_count: int | None, tol_pct: float | None) -> bool:
    """Whether a Map's failed iterations stay within ToleratedFailureCount or ToleratedFailurePercentage."""
    return failures == 0 or (tol_count is not None and failures <= tol_count) or \
        (tol_pct is not None and total > 0 and failures * 100 / total <= tol_pct)


def cover(ex: Execution, pointer: str) -> None:
    """Tell the execution's coverage (if any) that the state, rule, Retrier or Catcher at ``pointer`` was used."""
    if ex.opts.coverage is not None:
        ex.opts.coverage.hit(pointer)
