"""The names the README documents as ``asl.interpreter``, kept importable: the runtime itself is the
:mod:`asl.runtime` package, and errors are in :mod:`asl.errors`."""

from __future__ import annotations

from .errors import StateError, TaskFailed, TaskTimeout
from .runtime import (
    HANDLERS,
    MAX_PAYLOAD,
    Clock,
    DurableClock,
    Execution,
    ExecutionOptions,
    ExecutionResult,
    RealClock,
    TaskFunction,
    VirtualClock,
    iso,
    run,
    sleep,
)

_HANDLERS = HANDLERS  # the same dict: what replaces a handler here replaces it in the runtime (tests do)

__all__ = ["MAX_PAYLOAD", "Clock", "DurableClock", "Execution", "ExecutionOptions", "ExecutionResult", "RealClock",
           "StateError", "TaskFailed", "TaskFunction", "TaskTimeout", "VirtualClock", "iso", "run", "sleep"]
