"""The service layer: the Step Functions API operations over a store.

Method names are boto3's (``start_execution``), arguments and results AWS's (``stateMachineArn=…`` in,
``{"executionArn": …, "startDate": …}`` out), so code written against a boto3 ``stepfunctions`` client runs
against :class:`StepFunctions` unchanged, and the CLI and the HTTP endpoint are thin fronts over it. Errors are
:class:`ServiceError` with AWS's error code (``ExecutionDoesNotExist``, ``TaskTimedOut``, ...).

Executions are run by :class:`~asl.durable.Worker`\\ s over the same store, in this process or another.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from .diagnostics import Severity
from .durable import Worker, parent_outcome
from .interpreter import MAX_PAYLOAD, TaskFunction, dumps
from .parse import loads as parse_text
from .store.base import (
    ABORTED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ActivityRecord,
    Conflict,
    ExecutionRecord,
    StateMachineRecord,
    Store,
    TokenRecord,
)
from .validate import validate

T = TypeVar("T")
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


class ServiceError(Exception):
    """An API error: ``code`` is AWS's error name, ``message`` says what is wrong."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 80 or _BAD_NAME.search(name):
        raise ServiceError("InvalidName", f"Invalid Name: '{name}' ({what} name is 1 to 80 characters, without "
                                          "whitespace, brackets, wildcards or the characters \"#%\\^|~`$&,;:/)")
    return name


def _check_arn(arn: Any) -> str:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ServiceError("InvalidArn", f"Invalid Arn: '{arn}'")
    return arn


def _check_json(text: Any, code: str, what: str) -> str:
    if not isinstance(text, str):
        raise ServiceError(code, f"Invalid {what}: expected a JSON text")
    if len(text.encode()) > MAX_PAYLOAD:
        raise ServiceError(code, f"Invalid {what}: larger than {MAX_PAYLOAD} bytes")
    try:
        json.loads(text)
    except ValueError as exc:
        raise ServiceError(code, f"Invalid {what}: {exc}") from None
    return text


class StepFunctions:
    """The Step Functions API over ``store``, for one account and region."""

    def __init__(self, store: Store, account: str = "123456789012", region: str = "us-east-1", partition: str = "aws",
                 activity_poll_seconds: float = 60.0):
        self.store = store
        self.account = account
        self.region = region
        self.partition = partition
        self.activity_poll_seconds = activity_poll_seconds

    def _arn(self, kind: str, *parts: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:{kind}:" + ":".join(parts)

    def worker(self, tasks: Mapping[str, TaskFunction] | None = None, adapters: Any = None, **kw: Any) -> Worker:
        """A worker that runs this service's executions (see :class:`~asl.durable.Worker`), with nested
        executions (``states:startExecution``) started in this service."""
        from .adapters import Adapters
        from .adapters.states import ChildExecutions

        registry = adapters.copy() if adapters is not None else Adapters()
        ChildExecutions(self).register_in(registry)
        return Worker(self.store, tasks, adapters=registry, **kw)

    # -- state machines ----------------------------------------------------------------------------------------
    def _check_definition(self, definition: Any, machine_type: str) -> str:
        if not isinstance(definition, str):
            raise ServiceError("InvalidDefinition", "Invalid State Machine Definition: the definition must be a JSON text")
        # parse and validate, not model.load: load stops at a duplicate key, and this reports every problem
        parsed = parse_text(definition)
        diags = list(parsed.diagnostics)
        if parsed.ok:
            diags += validate(parsed.value, machine_type=machine_type)
        errors = [d for d in diags if d.severity is Severity.ERROR]
        if errors:
            text = ", ".join(f"{d.code} at {d.location}: {d.message}" for d in errors)
            raise ServiceError("InvalidDefinition", f"Invalid State Machine Definition: '{text}'")
        return definition

    @staticmethod
    def _lookup(arn: Any, get: Callable[[str], T | None], missing: str) -> T:
        """The record an ARN names: InvalidArn for something that is not an ARN, ``missing`` (AWS's
        ``…DoesNotExist`` code; its message splits the name into words) when there is none."""
        rec = get(_check_arn(arn))
        if rec is None:
            raise ServiceError(missing, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", missing) + f": '{arn}'")
        return rec

    def _machine(self, arn: Any) -> StateMachineRecord:
        return self._lookup(arn, self.store.get_state_machine, "StateMachineDoesNotExist")

    def create_state_machine(self, name: str, definition: str, roleArn: str | None = None,  # noqa: N803 - AWS's names
                             type: str = "STANDARD", **_: Any) -> dict[str, Any]:
        _check_name(name, "a state machine")
        if type not in ("STANDARD", "EXPRESS"):
            raise ServiceError("ValidationException", f"Value '{type}' at 'type' failed to satisfy constraint: "
                                                      "Member must satisfy enum value set: [STANDARD, EXPRESS]")
        self._check_definition(definition, type)
        role = roleArn or f"arn:{self.partition}:iam::{self.account}:role/StepFunctionsRole"
        arn = self._arn("stateMachine", name)
        rec = StateMachineRecord(arn, name, definition, role, type, datetime.now(UTC))
        try:
            self.store.put_state_machine(rec)
        except Conflict:
            old = self.store.get_state_machine(arn)
            if old is None or (old.definition, old.role_arn, old.type) != (definition, role, type):
                raise ServiceError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'") from None
            rec = old
        return {"stateMachineArn": arn, "creationDate": rec.created}

    def test_state(self, definition: str, input: str | None = None, stateName: str | None = None,  # noqa: A002, N803
                   inspectionLevel: str = "INFO", mock: dict[str, Any] | None = None, variables: str | None = None,  # noqa: N803
                   context: str | None = None, stateConfiguration: dict[str, Any] | None = None,  # noqa: N803
                   roleArn: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        """TestState: run one state (asl.teststate) under this service's account and region."""
        from .interpreter import ExecutionOptions, VirtualClock
        from .teststate import TestStateError, test_state

        opts = ExecutionOptions(account=self.account, region=self.region, partition=self.partition,
                                machine_type="EXPRESS", sync=True, clock=VirtualClock())
        try:
            return test_state(definition, input, state_name=stateName, inspection_level=inspectionLevel, mock=mock,
                              variables=variables, context=context, state_configuration=stateConfiguration,
                              role_arn=roleArn, options=opts)
        except TestStateError as exc:
            raise ServiceError(exc.code, exc.message) from None

    def describe_state_machine(self, stateMachineArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        sm = self._machine(stateMachineArn)
        return {"stateMachineArn": sm.arn, "name": sm.name, "status": "ACTIVE", "definition": sm.definition,
                "roleArn": sm.role_arn, "type": sm.type, "creationDate": sm.created,
                "loggingConfiguration": {"level": "OFF", "includeExecutionData": False}}

    def list_state_machines(self, **_: Any) -> dict[str, Any]:
        return {"stateMachines": [{"stateMachineArn": sm.arn, "name": sm.name, "type": sm.type, "creationDate": sm.created}
                                  for sm in self.store.list_state_machines()]}

    def update_state_machine(self, stateMachineArn: str, definition: str | None = None,  # noqa: N803
                             roleArn: str | None = None, **_: Any) -> dict[str, Any]:
        sm = self._machine(stateMachineArn)
        if definition is None and roleArn is None:
            raise ServiceError("MissingRequiredParameter", "Either the definition or the roleArn must be given")
        if definition is not None:
            self._check_definition(definition, sm.type)
        now = datetime.now(UTC)
        new = StateMachineRecord(sm.arn, sm.name, definition or sm.definition, roleArn or sm.role_arn, sm.type, sm.created,
                                 sm.revision + 1)
        self.store.put_state_machine(new, replace=True)
        return {"updateDate": now}

    def delete_state_machine(self, stateMachineArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.store.delete_state_machine(_check_arn(stateMachineArn))
        return {}

    # -- executions --------------------------------------------------------------------------------------------
    def start_execution(self, stateMachineArn: str, name: str | None = None, input: str | None = None,  # noqa: N803
                        _parent_token: str | None = None, **_: Any) -> dict[str, Any]:
        """StartExecution. ``_parent_token`` (not an AWS parameter) links a child started by a parent's
        ``states:startExecution.sync`` task: its end closes that token."""
        sm = self._machine(stateMachineArn)
        name = _check_name(name, "an execution") if name is not None else str(uuid.uuid4())
        text = "{}" if input is None else _check_json(input, "InvalidExecutionInput", "execution input")
        arn = self._arn("execution", sm.name, name)
        now = datetime.now(UTC)
        rec = ExecutionRecord(arn, sm.arn, name, RUNNING, text, sm.definition, sm.type, sm.role_arn, secrets.token_hex(16),
                              now, wake_at=now, parent_token=_parent_token)
        started = {"id": 1, "previousEventId": 0, "timestamp": now, "type": "ExecutionStarted",
                   "executionStartedEventDetails": {"input": text, "inputDetails": {"truncated": False},
                                                    "roleArn": sm.role_arn}}
        try:
            self.store.create_execution(rec, started)
        except Conflict:
            old = self.store.get_execution(arn)
            # AWS: the same name and input while it runs is the same request, answered again
            if old is not None and old.status == RUNNING and old.input == text:
                return {"executionArn": arn, "startDate": old.start}
            raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'") from None
        return {"executionArn": arn, "startDate": now}

    def _execution(self, arn: Any) -> ExecutionRecord:
        return self._lookup(arn, self.store.get_execution, "ExecutionDoesNotExist")

    def describe_execution(self, executionArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        ex = self._execution(executionArn)
        out: dict[str, Any] = {"executionArn": ex.arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name,
                               "status": ex.status, "startDate": ex.start, "input": ex.input,
                               "inputDetails": {"included": True}}
        if ex.stop is not None:
            out["stopDate"] = ex.stop
        if ex.status == SUCCEEDED:
            out["output"] = ex.output
            out["outputDetails"] = {"included": True}
        if ex.error is not None:
            out["error"] = ex.error
        if ex.cause is not None:
            out["cause"] = ex.cause
        out["redriveCount"] = 0
        out["redriveStatus"] = "NOT_REDRIVABLE"
        return out

    def list_executions(self, stateMachineArn: str, statusFilter: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        sm = self._machine(stateMachineArn)
        items = []
        for ex in self.store.list_executions(sm.arn, statusFilter):
            item: dict[str, Any] = {"executionArn": ex.arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name,
                                    "status": ex.status, "startDate": ex.start}
            if ex.stop is not None:
                item["stopDate"] = ex.stop
            items.append(item)
        return {"executions": items}

    def get_execution_history(self, executionArn: str, reverseOrder: bool = False,  # noqa: N803
                              includeExecutionData: bool = True, maxResults: int = 0, nextToken: str | None = None,  # noqa: N803
                              **_: Any) -> dict[str, Any]:
        ex = self._execution(executionArn)
        events = self.store.events(ex.arn)
        if reverseOrder:
            events.reverse()
        start = 0
        if nextToken is not None:
            if not nextToken.isdigit():
                raise ServiceError("InvalidToken", f"Invalid Token: '{nextToken}'")
            start = int(nextToken)
        size = maxResults if maxResults and maxResults > 0 else 1000
        page = events[start:start + size]
        if not includeExecutionData:
            page = [_strip_data(e) for e in page]
        out: dict[str, Any] = {"events": page}
        if start + size < len(events):
            out["nextToken"] = str(start + size)
        return out

    def stop_execution(self, executionArn: str, error: str | None = None, cause: str | None = None,  # noqa: N803
                       **_: Any) -> dict[str, Any]:
        before = self._execution(executionArn)
        now = datetime.now(UTC)
        # a parent's .sync task fails with the child's abort, in the same store step as the abort
        parent = parent_outcome(before, ABORTED, now, None, error, cause) if before.parent_token else None
        ex = self.store.stop_execution(executionArn, error, cause, now, parent)
        assert ex is not None
        return {"stopDate": ex.stop or now}

    # -- callbacks ---------------------------------------------------------------------------------------------
    @staticmethod
    def _on_token(token: Any, act: Callable[[str, datetime], TokenRecord | None]) -> dict[str, Any]:
        """Apply ``act`` (a store operation on a pending token) and map what the token was to AWS's errors."""
        if not isinstance(token, str) or not 1 <= len(token) <= 2048:
            raise ServiceError("InvalidToken", f"Invalid Token: '{token}'")
        before = act(token, datetime.now(UTC))
        if before is None:
            raise ServiceError("TaskDoesNotExist", f"Task Does Not Exist: '{token}'")
        if before.status != PENDING:
            raise ServiceError("TaskTimedOut", f"Task Timed Out: '{token}'")
        return {}

    def send_task_success(self, taskToken: str, output: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        text = _check_json(output, "InvalidOutput", "output")
        return self._on_token(taskToken, lambda t, now: self.store.close_token(t, SUCCEEDED, now, output=text))

    def send_task_failure(self, taskToken: str, error: str | None = None, cause: str | None = None,  # noqa: N803
                          **_: Any) -> dict[str, Any]:
        if error is not None and len(error) > 256:
            raise ServiceError("ValidationException", "error: longer than 256 characters")
        if cause is not None and len(cause) > 32768:
            raise ServiceError("ValidationException", "cause: longer than 32768 characters")
        return self._on_token(taskToken, lambda t, now: self.store.close_token(t, FAILED, now, error=error, cause=cause))

    def send_task_heartbeat(self, taskToken: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        return self._on_token(taskToken, self.store.heartbeat)

    # -- activities ------------------------------------------------------------------------------------------
    def create_activity(self, name: str, **_: Any) -> dict[str, Any]:
        _check_name(name, "an activity")
        arn = self._arn("activity", name)
        self.store.put_activity(ActivityRecord(arn, name, datetime.now(UTC)))
        act = self.store.get_activity(arn)
        assert act is not None
        return {"activityArn": arn, "creationDate": act.created}

    def _activity(self, arn: Any) -> ActivityRecord:
        return self._lookup(arn, self.store.get_activity, "ActivityDoesNotExist")

    def describe_activity(self, activityArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        act = self._activity(activityArn)
        return {"activityArn": act.arn, "name": act.name, "creationDate": act.created}

    def list_activities(self, **_: Any) -> dict[str, Any]:
        return {"activities": [{"activityArn": a.arn, "name": a.name, "creationDate": a.created}
                               for a in self.store.list_activities()]}

    def delete_activity(self, activityArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.store.delete_activity(_check_arn(activityArn))
        return {}

    def get_activity_task(self, activityArn: str, workerName: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        """Long-polls up to ``activity_poll_seconds`` (AWS: 60 s); ``{}`` when no task came."""
        act = self._activity(activityArn)
        end = time.monotonic() + self.activity_poll_seconds
        while True:
            tok = self.store.take_activity_task(act.arn, workerName, datetime.now(UTC))
            if tok is not None:
                return {"taskToken": tok.token, "input": tok.input}
            if time.monotonic() >= end:
                return {}
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def _strip_data(ev: dict[str, Any]) -> dict[str, Any]:
    """An event without its input/output payloads (includeExecutionData=false)."""
    out = dict(ev)
    for k, v in ev.items():
        if k.endswith("EventDetails") and isinstance(v, dict):
            out[k] = {dk: dv for dk, dv in v.items() if dk not in ("input", "output", "parameters")}
    return out


def run_activity_worker(service: StepFunctions, activity_arn: str, handler: Any, worker_name: str | None = None,
                        max_tasks: int | None = None) -> int:
    """A small activity worker: poll ``activity_arn``, call ``handler(input)`` for each task and report its result
    (SendTaskSuccess) or exception (SendTaskFailure: error is the exception's class name, cause its message).
    Stops after ``max_tasks`` tasks, or when a poll returns nothing if ``max_tasks`` is 0. Returns the count."""
    done = 0
    while max_tasks is None or done < max_tasks:
        task = service.get_activity_task(activityArn=activity_arn, workerName=worker_name)
        if not task:
            if max_tasks == 0:
                return done
            continue
        try:
            result = handler(json.loads(task["input"]))
        except Exception as exc:  # the worker reports the task's failure instead of dying
            service.send_task_failure(taskToken=task["taskToken"], error=type(exc).__name__, cause=str(exc))
        else:
            service.send_task_success(taskToken=task["taskToken"], output=dumps(result))
        done += 1
    return done


__all__ = ["ServiceError", "StepFunctions", "run_activity_worker"]
