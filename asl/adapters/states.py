"""Nested executions: ``arn:aws:states:::states:startExecution`` starts a child execution in the same store,
run by the same workers.

- Request-response (no suffix): the result is StartExecution's response.
- ``.sync`` and ``.sync:2``: the parent's task waits (parked, durably) until the child ends, then gets its
  DescribeExecution shape (``Input``/``Output`` as JSON text for ``.sync``, as JSON for ``.sync:2``); a child that
  fails, times out or is aborted fails the task with ``States.TaskFailed`` and that shape as the cause.
- ``.waitForTaskToken``: the child is started and the parent waits for its token, which the caller passes in
  the child's input and someone answers with SendTaskSuccess/Failure.

Needs the durable engine (a :class:`~asl.service.StepFunctions` over a store).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ServiceError, TaskFailed
from . import TaskRequest


class ChildExecutions:
    """The adapter for ``states:startExecution*`` over a :class:`~asl.service.StepFunctions` service."""

    def __init__(self, service: Any):
        self.service = service

    def register_in(self, adapters: Any) -> None:
        adapters.register("arn:*:states:::states:startExecution*", self)

    def invoke(self, request: TaskRequest) -> Any:
        params = request.parameters if isinstance(request.parameters, dict) else {}
        child_input = params.get("Input")
        if child_input is not None and not isinstance(child_input, str):
            child_input = json.dumps(child_input, separators=(",", ":"))
        sync = request.resource.pattern in (".sync", ".sync:2")
        try:
            started = self.service.start_execution(stateMachineArn=params.get("StateMachineArn"), name=params.get("Name"),
                                                   input=child_input, _parent_token=request.task_token if sync else None)
        except ServiceError as exc:
            code = exc.code if exc.code.endswith("Exception") else exc.code + "Exception"
            raise TaskFailed(f"StepFunctions.{code}", f"{exc.message} (Service: AWSStepFunctions; Status Code: 400; "
                                                      f"Error Code: {exc.code}; Proxy: null)") from None
        return {"ExecutionArn": started["executionArn"],
                "StartDate": started["startDate"].isoformat(timespec="milliseconds").replace("+00:00", "Z")}
