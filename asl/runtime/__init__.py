"""The runtime: runs a compiled state machine and records its history. The package shows the stages of a run:

- :mod:`.loop`: the interpreter loop (:class:`Execution`, :func:`run`), Retry and Catch applied per state;
- :mod:`.frame`: where a branch is (its event cursor and variables) and the context object's ``State``;
- :mod:`.clock`: virtual, real and durable time, and :func:`sleep` for task callables;
- :mod:`.history`: the event log, and its replay when a durable execution is rebuilt;
- :mod:`.dataflow`: JSONPath and JSONata data flow from a state's input to its output;
- :mod:`.decisions`: which Retrier or Catcher matches, backoff, tolerated failures (shared with TestState);
- :mod:`.states`, :mod:`.branches`, :mod:`.tasks`: the state handlers;
- :mod:`.journal` and :mod:`.options`: what a durable engine and a caller give an execution, and what it returns.

Errors are in :mod:`asl.errors`.
"""

from __future__ import annotations

from ..errors import TaskFailed, TaskTimeout
from .clock import Clock, DurableClock, RealClock, VirtualClock, iso, sleep
from .loop import HANDLERS, Execution, run
from .options import MAX_PAYLOAD, ExecutionOptions, ExecutionResult, TaskFunction

__all__ = ["HANDLERS", "MAX_PAYLOAD", "Clock", "DurableClock", "Execution", "ExecutionOptions", "ExecutionResult",
           "RealClock", "TaskFailed", "TaskFunction", "TaskTimeout", "VirtualClock", "iso", "run", "sleep"]
