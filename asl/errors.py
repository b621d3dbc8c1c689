"""Every error asl raises, in one tree. This module imports nothing else of asl, so every stage can raise and catch
these without importing the stage that defines the rest of its machinery (the adapters no longer import the
runtime for ``TaskFailed``, nor does nested execution import the service for ``ServiceError``).

``AslError`` is the root. Below it, by stage:

- input: :class:`JsonLimitError`, :class:`DefinitionError`, :class:`PathSyntaxError`, :class:`IntrinsicSyntaxError`,
  :class:`JsonataSyntaxError`, :class:`UnsupportedSchema`, :class:`ConfigError`, :class:`MockConfigError`,
  :class:`SuiteError`;
- evaluation: :class:`PathNotFound`, :class:`IntrinsicFailure`, :class:`JsonataEvaluationError`;
- execution: :class:`StateError` (an ASL error name and AWS's cause; :class:`HeartbeatTimedOut`,
  :class:`NoRecovery`), :class:`TaskFailed` and :class:`TaskTimeout` (raised by task callables and adapters),
  :class:`BranchEnded` (a Fail state), :class:`ReplayMismatch`;
- store and service: :class:`StoreError` (:class:`StoreUnavailable`, :class:`StoreDamaged`), :class:`Conflict`,
  :class:`ServiceError`, :class:`RequestError`, :class:`TestStateError`.

:class:`Parked` and :class:`Fenced` are control flow, not errors: they derive from ``BaseException`` so that no
``except Exception`` swallows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class AslError(Exception):
    """The root of asl's errors."""


# -- input ----------------------------------------------------------------------------------------------------------
class JsonLimitError(AslError, ValueError):
    """JSON that is well formed but outside what asl accepts: nested deeper than the limit, or holding a string that
    is not valid Unicode. ``reason`` says which ("depth" or "unicode"); the message says where."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class DefinitionError(AslError, ValueError):
    """Raised by :func:`asl.load` when a definition has ERROR diagnostics; carries all of them."""

    def __init__(self, diagnostics: list[Any]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if getattr(d.severity, "value", d.severity) == "ERROR"]
        super().__init__("Invalid State Machine Definition: " + ", ".join(f"'{d.code}: {d.message} at {d.location}'" for d in errors))


class PathSyntaxError(AslError, ValueError):
    """The text is not a valid JSONPath."""


class IntrinsicSyntaxError(AslError, ValueError):
    """The text is not a well-formed intrinsic function call (or names an unknown function)."""


class JsonataSyntaxError(AslError, ValueError):
    """The expression does not parse. ``code`` is JSONata's error code (e.g. S0201)."""

    def __init__(self, message: str, code: str | None = None, position: int | None = None):
        super().__init__(message)
        self.code = code
        self.position = position


class UnsupportedSchema(AslError, ValueError):
    """The schema uses a keyword (or a form of one) that :func:`asl.schemacheck.compile_check` does not implement."""


class ConfigError(AslError):
    """The configuration is wrong: ``where`` names the file and key, the message says what is wrong."""


class MockConfigError(AslError, ValueError):
    """A mock configuration that cannot be used; ``problems`` lists each as ``(JSON pointer, message)``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p or '/'}: {m}" for p, m in problems)
        super().__init__(f"{source}: invalid mock configuration:\n{lines}")


class SuiteError(AslError, ValueError):
    """A suite file that cannot be run: what is wrong and where (file and JSON pointer)."""


# -- evaluation -----------------------------------------------------------------------------------------------------
class PathNotFound(AslError, LookupError):
    """A definite path selected nothing. ``detail`` is Jayway's wording, which AWS repeats in causes."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class IntrinsicFailure(AslError):
    """An intrinsic function failed at run time (``States.IntrinsicFailure``)."""


class JsonataEvaluationError(AslError):
    """Evaluation failed. ``code`` is JSONata's error code (T1006, D3001, ...) and ``message`` its text."""

    def __init__(self, code: str | None, message: str):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message


# -- execution ------------------------------------------------------------------------------------------------------
class StateError(AslError):
    """A state failed with an ASL error name and cause. ``States.Runtime`` is never retried or caught."""

    def __init__(self, error: str | None, cause: str | None = None):
        super().__init__(error, cause)
        self.error = error
        self.cause = cause
        # An event a Parallel or Map state writes only when this error is final (not retried), and its parent id.
        self.final_event: tuple[str, int] | None = None
        # The type of the state the error ended its branch in (set where it leaves that state), for the Aborted
        # event the branch's parent writes for it
        self.failed_in: str | None = None

    @property
    def catchable(self) -> bool:
        return self.error != "States.Runtime"


class HeartbeatTimedOut(StateError):
    """States.Timeout from a missed heartbeat: AWS reports it as States.Timeout (recorded), and a Retrier or
    Catcher naming States.HeartbeatTimeout matches it too."""

    def __init__(self) -> None:
        super().__init__("States.Timeout", None)


class NoRecovery(StateError):
    """An error that ends the execution without Retry or Catch."""


class HistoryLimitReached(AslError):
    """The history holds 24,999 events and the next is not the execution's end: AWS fails the execution there, with
    ExecutionFailed as event 25,000. Not a StateError, so no state handles it on the way to the top."""

    ERROR = "States.Runtime"
    CAUSE = "The execution reached the maximum number of history events (25000)."


class TaskFailed(AslError):
    """Raised by a task callable to fail its Task with an error name and cause (as a Lambda error would)."""

    def __init__(self, error: str, cause: str | None = None):
        super().__init__(error, cause)
        self.error = error
        self.cause = cause


class TaskTimeout(AslError):  # noqa: N818 - named for what it reports, like TaskFailed
    """A task ran past its Task's TimeoutSeconds. Raised by the runtime's own timer, or by an adapter that enforces
    the timeout itself (e.g. a task running in another process, whose time a virtual clock cannot see)."""


class BranchEnded(AslError):
    """A Fail state ended a branch, an iteration or the execution."""

    def __init__(self, err: StateError):
        self.err = err


class ReplayMismatch(AslError):
    """Rebuilding an execution from its history took a different path than the history records."""


class Parked(BaseException):  # noqa: N818 - not an error: the execution stops here and resumes later
    """Raised through the runtime when a durable execution must wait longer than its worker should hold it (a long
    Wait or Retry delay, a callback): the worker commits and releases the execution, and runs it again, rebuilt from
    its history, at ``wake_at`` (None: when a callback arrives)."""

    def __init__(self, wake_at: datetime | None):
        super().__init__(wake_at)
        self.wake_at = wake_at


class RedriveRestart(BaseException):  # noqa: N818 - control flow: the rebuild reached a redrive
    """Raised through the runtime while a redriven execution is rebuilt, when the replay reaches the point where the
    attempt before the redrive ended (its failure, abort or time-out, then ExecutionRedriven): the top-level state
    that did not finish runs again from there."""


class Fenced(BaseException):  # noqa: N818 - control flow: the worker lost the execution
    """The store refused a commit: the execution was stopped or another worker took it over."""


# -- store and service ----------------------------------------------------------------------------------------------
class StoreError(AslError):
    """The store cannot be used: no file (when not to be created), another application's file, a damaged store
    (:class:`StoreDamaged`), a schema newer than this asl, or a condition that may pass (:class:`StoreUnavailable`).
    The message names the file and the reason."""


class StoreUnavailable(StoreError):
    """The store cannot be used right now: the disk is full, the database stayed locked past the busy timeout, the
    file is read-only, or an I/O error. The operation wrote nothing; it may succeed later (a worker backs off and
    tries again)."""


class StoreDamaged(StoreError):
    """The store file is damaged: SQLite found it corrupt (a file cut short, or garbage over its pages). Nothing
    was written to it; it needs restoring from a copy."""


class Conflict(AslError):
    """A record with this key exists already."""


class ServiceError(AslError):
    """An API error: ``code`` is AWS's error name, ``message`` says what is wrong."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RequestError(AslError):
    """A request the API refuses before the operation runs: ``code`` is AWS's error name."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TestStateError(AslError):
    """A request TestState refuses: ``code`` is AWS's error (InvalidDefinition, ValidationException ...)."""

    __test__ = False

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
