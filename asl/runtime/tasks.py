"""Task states: the data flow around a task, invoking its callable or adapter under TimeoutSeconds, callbacks and
activities (which park a durable execution until a task token is answered), mocked responses, and outcomes taken
from a recorded history when an execution is rebuilt."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import jsontext, wallclock
from ..errors import HeartbeatTimedOut, Parked, StateError, TaskFailed, TaskTimeout
from ..jsontext import dumps, dumps_checked
from ..model import State
from ..resources import SYNC, SYNC2, WAIT_FOR_TASK_TOKEN, Resource
from ..validate import JSONATA
from .dataflow import number_field
from .frame import Frame, StateCtx
from .history import ReplayHistory
from .journal import HEARTBEAT_TIMED_OUT
from .options import MAX_PAYLOAD, TaskFunction
from .states import Outcome

if TYPE_CHECKING:
    from .loop import Execution

# Task -------------------------------------------------------------------------------------------------------------
def _task_credentials(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> dict[str, Any]:
    """``{"roleArn": ...}`` from the state's ``Credentials``, evaluated against its input (JSONPath) or ``$states``
    (JSONata)."""
    tpl = st.fields["Credentials"]
    if st.query_language == JSONATA:
        value = ex.jeval(tpl, ex.states_binding(raw, frame, sctx), frame, sctx)
    else:
        value = ex.eval_template(tpl, ex.input_path(st, raw, frame, sctx), frame, sctx, st)
    role = value.get("RoleArn") if isinstance(value, dict) else None
    if not isinstance(role, str):
        raise StateError("States.Runtime", f"The Credentials field's RoleArn must be a string, but was: {dumps(role)}")
    return {"roleArn": role}


_TASK_LIMITS = ("TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath")


def task_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    res = st.resource
    assert res is not None
    sctx.setdefault("RetryCount", 0)
    h = frame.history

    timeout = heartbeat = None
    if any(k in st.raw for k in _TASK_LIMITS):  # most Tasks have none: skip reading the input twice
        state_input = ex.input_path(st, raw, frame, sctx) if st.query_language != JSONATA else raw
        timeout = number_field(ex, st, "TimeoutSeconds", state_input, frame, sctx, "integer")
        heartbeat = number_field(ex, st, "HeartbeatSeconds", state_input, frame, sctx, "integer")
    for name, value in (("TimeoutSeconds", timeout), ("HeartbeatSeconds", heartbeat)):
        if value is not None and value <= 0:
            message = f"The {name} value must be a positive integer, but was: {value}"
            if st.query_language == JSONATA:
                raise ex.query_error(frame, sctx, name, message)
            raise StateError("States.Runtime", message)
    limits = {k: v for k, v in (("timeoutInSeconds", timeout), ("heartbeatInSeconds", heartbeat)) if v is not None}
    if "Credentials" in st.fields:  # the role the task assumes, as the scheduled event records it
        limits["taskCredentials"] = _task_credentials(ex, st, raw, frame, sctx)

    mocked = ex.opts.mocks is not None and ex.opts.mocks.mocks(st.name)
    callback = not mocked and ex.journal is not None and (
        res.pattern == WAIT_FOR_TASK_TOKEN or res.kind == "activity" or (res.service_name == "states" and res.pattern in (SYNC, SYNC2)))
    if callback or res.pattern == WAIT_FOR_TASK_TOKEN:
        sctx.callback_token = frame.uuid4()  # a new token per attempt, made before Parameters/Arguments read it
        sctx.token = sctx.callback_token if res.pattern == WAIT_FOR_TASK_TOKEN else None

    def work(eff: Any) -> Any:
        lam = res.kind == "lambda"
        if res.kind == "activity" and callback:
            return _await_callback(ex, st, eff, frame, sctx, timeout, heartbeat, limits, "", "")
        if res.kind == "activity" and mocked:
            return _mocked_activity(ex, st, eff, frame, limits)
        if lam:
            frame.cursor = h.add("LambdaFunctionScheduled", frame.cursor, "lambdaFunctionScheduledEventDetails",
                                 {"resource": res.arn, "input": dumps(eff), "inputDetails": {"truncated": False},
                                  **{k: v for k, v in limits.items() if k != "heartbeatInSeconds"}})
            if ex.scheduler.live:  # beside other branches: AWS schedules each branch's task before it starts them
                ex.scheduler.pause()
            frame.cursor = h.add("LambdaFunctionStarted", frame.cursor)
        else:
            rtype, rname = _split_resource(res.arn, res.service_name, res.action)
            frame.cursor = h.add("TaskScheduled", frame.cursor, "taskScheduledEventDetails",
                                 {"resourceType": rtype, "resource": rname, "region": ex.opts.region, "parameters": dumps(eff),
                                  **limits})
            if ex.scheduler.live:
                ex.scheduler.pause()
            frame.cursor = h.add("TaskStarted", frame.cursor, "taskStartedEventDetails", {"resourceType": rtype, "resource": rname})
        if callback:
            return _await_callback(ex, st, eff, frame, sctx, timeout, heartbeat, limits, rtype, rname)
        recorded = _recorded_outcome(ex, frame)
        if recorded is None:
            _await_recorded_abort(ex, frame)
        if recorded is not None:  # rebuilding from history: the task ran already, take its recorded outcome
            if mocked:
                ex.opts.mocks.take(st.name)  # it was one invocation of its mocked response: count it again
            return _replay_outcome(ex, frame, recorded)
        fn: TaskFunction | None
        if mocked:
            fn = _mocked_function(ex, st)
            if res.pattern == WAIT_FOR_TASK_TOKEN:  # the request "was sent"; the mocked result is the callback's
                frame.cursor = h.add("TaskSubmitted", frame.cursor, "taskSubmittedEventDetails",
                                     {"resourceType": rtype, "resource": rname})
        else:
            fn = _task_function(ex, res, timeout)
            if res.pattern == WAIT_FOR_TASK_TOKEN:  # an in-process run: no store to take the callback
                return _callback_without_store(ex, st, fn, eff, frame, sctx, timeout, heartbeat, rtype, rname)
        if ex.journal is not None:
            ex.journal.flush()  # the task is a side effect: what led to it is committed first
        try:
            context = ex.context(sctx, frame)
            if ex.scheduler.live:  # other branches run meanwhile: the task goes to the pool
                outcome = _run_task(st, fn, lambda f: ex.scheduler.call(f, eff, context, timeout))
            else:
                outcome = _run_task(st, fn, lambda f: _call_task(ex, f, eff, context, timeout))
        except TaskTimeout:
            if lam:
                frame.cursor = h.add("LambdaFunctionTimedOut", frame.cursor, "lambdaFunctionTimedOutEventDetails",
                                     {"error": "States.Timeout"})
            else:
                frame.cursor = h.add("TaskTimedOut", frame.cursor, "taskTimedOutEventDetails",
                                     {"error": "States.Timeout", "resource": rname, "resourceType": rtype})
            raise StateError("States.Timeout", None) from None
        if isinstance(outcome, StateError):
            raise _task_failed(ex, frame, outcome, None if lam else (rtype, rname))
        result, text = outcome
        if lam:
            frame.cursor = h.add("LambdaFunctionSucceeded", frame.cursor, "lambdaFunctionSucceededEventDetails",
                                 {"output": text, "outputDetails": {"truncated": False}})
        else:
            frame.cursor = h.add("TaskSucceeded", frame.cursor, "taskSucceededEventDetails",
                                 {"resourceType": rtype, "resource": rname, "output": text,
                                  "outputDetails": {"truncated": False}})
        return result

    out, assigned = ex.dataflow(st, raw, frame, sctx, work)
    return out, st.next, assigned


def _run_task(st: State, fn: TaskFunction | None, call: Callable[[TaskFunction], Any]) -> tuple[Any, str] | StateError:
    """Run a Task's callable through ``call``: the result and its JSON text, or the error the task failed with (a
    TaskFailed, any other exception named by its class, or a result too large). TaskTimeout passes through."""
    res = st.resource
    assert res is not None
    try:
        if fn is None:
            raise TaskFailed("States.TaskFailed", f"The state '{st.name}' has no task implementation: nothing is "
                                                  f"registered for its resource '{res.arn}' (give --task, --lambda or a mock)")
        result = call(fn)
    except (TaskTimeout, StateError):  # StateError: the interpreter's own (a mocked response that has run out)
        raise
    except TaskFailed as exc:
        return StateError(exc.error, exc.cause)
    except Exception as exc:  # a task's own exception is the task's error, as with Lambda
        return StateError(type(exc).__name__, str(exc))
    text = _result_text(st, result)
    return text if isinstance(text, StateError) else (result, text)


def _task_failed(ex: Execution, frame: Frame, err: StateError, resource: tuple[str, str] | None) -> StateError:
    """Record a failed task (TaskFailed with its resourceType and resource, or LambdaFunctionFailed for a plain
    Lambda ARN when ``resource`` is None) and return the error to raise."""
    details = {k: v for k, v in (("error", err.error), ("cause", err.cause)) if v is not None}
    if resource is None:
        frame.cursor = frame.history.add("LambdaFunctionFailed", frame.cursor, "lambdaFunctionFailedEventDetails", details)
    else:
        frame.cursor = frame.history.add("TaskFailed", frame.cursor, "taskFailedEventDetails",
                                      {"resourceType": resource[0], "resource": resource[1], **details})
    return err


def _result_text(st: State, result: Any) -> str | StateError:
    """A task result as JSON text, or the error a result that is not JSON or too large gives."""
    try:
        text = dumps_checked(result)
        size = len(text.encode())
        jsontext.check_depth(text, "The task result")
    except RecursionError:
        raise StateError("States.Runtime", f"The task returned a value nested too deeply: more than "
                                           f"{jsontext.MAX_DEPTH} levels of arrays and objects") from None
    except UnicodeEncodeError as exc:
        raise StateError("States.Runtime", "The task returned a string that is not valid Unicode: a lone surrogate "
                                           f"('\\u{ord(exc.object[exc.start]):04x}')") from None
    except jsontext.JsonLimitError as exc:
        raise StateError("States.Runtime", exc.message) from None
    except (TypeError, ValueError) as exc:
        raise StateError("States.Runtime", f"The task returned a value that is not JSON: {exc}") from None
    if size > MAX_PAYLOAD:
        # AWS names the task: a plain Lambda function by its ARN, an integration by its service (lambda, sqs ...)
        res = st.resource
        task = res.arn if res is not None and res.kind == "lambda" else \
            res.service_name if res is not None and res.kind in ("service", "sdk") and res.service_name else st.name
        return StateError("States.DataLimitExceeded", f"The state/task '{task}' returned a result with a size "
                                                     "exceeding the maximum number of bytes service limit.")
    return text


# The events that end a task, and what each means: (kind, details key).
TASK_ENDS = {
    "TaskSucceeded": ("ok", "taskSucceededEventDetails"), "LambdaFunctionSucceeded": ("ok", "lambdaFunctionSucceededEventDetails"),
    "ActivitySucceeded": ("ok", "activitySucceededEventDetails"),
    "TaskFailed": ("failed", "taskFailedEventDetails"), "LambdaFunctionFailed": ("failed", "lambdaFunctionFailedEventDetails"),
    "ActivityFailed": ("failed", "activityFailedEventDetails"),
    "TaskTimedOut": ("timeout", "taskTimedOutEventDetails"), "LambdaFunctionTimedOut": ("timeout", "lambdaFunctionTimedOutEventDetails"),
    "ActivityTimedOut": ("timeout", "activityTimedOutEventDetails"),
}


def _recorded_outcome(ex: Execution, frame: Frame) -> dict[str, Any] | None:
    """The recorded event that ended the task being rebuilt, if the history has it."""
    h = frame.history
    if isinstance(h, ReplayHistory):
        ev = h.peek()
        if ev is not None and ev["type"] in TASK_ENDS:
            return ev
    return None


def _await_recorded_abort(ex: Execution, frame: Frame) -> None:
    """Rebuilding a branch that was stopped while its task ran (a sibling failed): the history records the branch's
    Aborted event, not the task's outcome. The task must not run again: the branch waits until the rebuild stops it
    (the scheduler throws Aborted into it, which writes that event)."""
    h = frame.history
    ahead = h.peek() if isinstance(h, ReplayHistory) else None
    if ahead is None or ahead["type"] in TASK_ENDS or not ahead["type"].endswith("Aborted") or not ex.scheduler.live:
        return
    while True:
        ex.scheduler.wait_callback(None)


def _replay_outcome(ex: Execution, frame: Frame, ev: dict[str, Any], token: str | None = None) -> Any:
    """Re-enter a recorded task outcome: the result it returned, or the error it raised."""
    kind, key = TASK_ENDS[ev["type"]]
    frame.cursor = frame.history.add(ev["type"], frame.cursor)
    d = ev.get(key, {})
    if kind == "ok":
        return json.loads(d["output"])
    if kind == "timeout":
        if token is not None and ex.journal is not None:
            tok = ex.journal.token(token)
            if tok is not None and tok.status == HEARTBEAT_TIMED_OUT:
                raise HeartbeatTimedOut
        raise StateError("States.Timeout", d.get("cause"))
    raise StateError(d.get("error"), d.get("cause"))


def _mocked_result(ex: Execution, st: State) -> Any:
    """The next mocked result of a Task: its Return, or its Throw raised as TaskFailed."""
    mocks = ex.opts.mocks
    result = mocks.take(st.name)
    if result is None:
        n = mocks.counts[st.name] - 1
        raise StateError("States.Runtime", f"The mocked response '{mocks.case.responses[st.name].name}' of the state "
                                           f"'{st.name}' (test case '{mocks.case.test_case}') has no entry for invocation {n}")
    if result.throws:
        raise TaskFailed(result.error, result.cause)
    return result.value


def _mocked_function(ex: Execution, st: State) -> TaskFunction:
    """The mocked Task's callable. Its response is taken now, in the branch, not when the callable runs: branches
    running at once take invocation numbers in the scheduler's order, which does not depend on thread timing."""
    try:
        result = _mocked_result(ex, st)
    except (StateError, TaskFailed) as exc:
        error: Exception = exc

        def fail(value: Any, context: Mapping[str, Any]) -> Any:
            raise error

        return fail

    def call(value: Any, context: Mapping[str, Any]) -> Any:
        return result

    return call


def _mocked_activity(ex: Execution, st: State, eff: Any, frame: Frame, limits: dict[str, Any]) -> Any:
    """An activity answered by a mocked response, with an activity's events."""
    h = frame.history
    assert st.resource is not None
    frame.cursor = h.add("ActivityScheduled", frame.cursor, "activityScheduledEventDetails",
                         {"resource": st.resource.arn, "input": dumps(eff), "inputDetails": {"truncated": False}, **limits})
    frame.cursor = h.add("ActivityStarted", frame.cursor, "activityStartedEventDetails", {})
    try:
        value = _mocked_result(ex, st)
    except TaskFailed as exc:
        details = {k: v for k, v in (("error", exc.error), ("cause", exc.cause)) if v is not None}
        frame.cursor = h.add("ActivityFailed", frame.cursor, "activityFailedEventDetails", details)
        raise StateError(exc.error, exc.cause) from None
    text = _result_text(st, value)
    if isinstance(text, StateError):
        raise text
    frame.cursor = h.add("ActivitySucceeded", frame.cursor, "activitySucceededEventDetails",
                         {"output": text, "outputDetails": {"truncated": False}})
    return value


def _await_callback(ex: Execution, st: State, eff: Any, frame: Frame, sctx: StateCtx, timeout: int | None,
                    heartbeat: int | None, limits: dict[str, Any], rtype: str, rname: str) -> Any:
    """A task that completes by callback: ``.waitForTaskToken`` (the request is sent, then the execution waits
    for SendTaskSuccess/Failure) or an activity (GetActivityTask hands the input to a worker). The token is
    committed before the request leaves; the execution parks until the token is closed or times out, and the
    worker that resumes it finds the outcome in the journal."""
    h = frame.history
    journal = ex.journal
    assert journal is not None and sctx.callback_token is not None
    token = sctx.callback_token
    res = st.resource
    assert res is not None
    activity = res.kind == "activity"
    if activity:
        frame.cursor = h.add("ActivityScheduled", frame.cursor, "activityScheduledEventDetails",
                             {"resource": res.arn, "input": dumps(eff), "inputDetails": {"truncated": False}, **limits})
        journal.register_token(token, res.arn, dumps(eff))
    else:
        journal.register_token(token, None, None)
    timeout_from = ex.clock.now()  # TaskStarted (callbacks) or ActivityScheduled
    heartbeat_from: datetime | None = None if activity else timeout_from
    ended = {"TaskSubmitted", *TASK_ENDS}
    if not activity:
        ahead = h.peek() if isinstance(h, ReplayHistory) else None
        if ahead is None or ahead["type"] not in ended:  # the request was not sent, or not known to be: send it
            journal.flush()
            outcome = _run_task(st, _task_function(ex, res, timeout, token), lambda f: f(eff, ex.context(sctx, frame)))
            if isinstance(outcome, StateError):  # the request failed: the task fails, as when AWS's call fails
                raise _task_failed(ex, frame, outcome, (rtype, rname))
            frame.cursor = h.add("TaskSubmitted", frame.cursor, "taskSubmittedEventDetails",
                                 {"resourceType": rtype, "resource": rname, "output": outcome[1], "outputDetails": {"truncated": False}})
        elif ahead["type"] == "TaskSubmitted":
            frame.cursor = h.add("TaskSubmitted", frame.cursor)
    prefix = "Activity" if activity else "Task"
    while True:
        ahead = h.peek() if isinstance(h, ReplayHistory) else None
        if ahead is not None:
            if ahead["type"] == "ActivityStarted":
                frame.cursor = h.add("ActivityStarted", frame.cursor)
                heartbeat_from = ex.clock.now()
                continue
            _await_recorded_abort(ex, frame)
            return _replay_outcome(ex, frame, ahead, token)
        tok = journal.token(token)
        if tok is None:
            raise StateError("States.Runtime", f"The task token of the state '{st.name}' is missing from the store")
        if activity and heartbeat_from is None and tok.started_at is not None:
            details = {"workerName": tok.worker_name} if tok.worker_name else {}
            frame.cursor = h.add("ActivityStarted", frame.cursor, "activityStartedEventDetails", details)
            heartbeat_from = ex.clock.now()
            continue
        if tok.status == "SUCCEEDED":
            assert tok.output is not None
            output = tok.output
            if res.pattern == SYNC2:  # a child execution's Input and Output as JSON, not as JSON text
                desc = json.loads(output)
                for k in ("Input", "Output"):
                    if isinstance(desc.get(k), str):
                        desc[k] = json.loads(desc[k])
                output = dumps(desc)
            d: dict[str, Any] = {"output": output, "outputDetails": {"truncated": False}}
            if not activity:
                d = {"resourceType": rtype, "resource": rname, **d}
            frame.cursor = h.add(prefix + "Succeeded", frame.cursor, prefix.lower() + "SucceededEventDetails", d)
            return json.loads(output)
        if tok.status == "FAILED":
            d = {k: v for k, v in (("error", tok.error), ("cause", tok.cause)) if v is not None}
            if not activity:
                d = {"resourceType": rtype, "resource": rname, **d}
            frame.cursor = h.add(prefix + "Failed", frame.cursor, prefix.lower() + "FailedEventDetails", d)
            raise StateError(tok.error, tok.cause)
        timeout_at = heartbeat_at = None
        if timeout is not None:
            timeout_at = timeout_from + timedelta(seconds=timeout)
        if heartbeat is not None and heartbeat_from is not None:
            heartbeat_at = max(heartbeat_from, tok.heartbeat_at or heartbeat_from) + timedelta(seconds=heartbeat)
        due = [t for t in (timeout_at, heartbeat_at) if t is not None]
        wake = min(due) if due else None
        if wake is not None and wallclock.now() >= wake:
            missed_heartbeat = heartbeat_at is not None and (timeout_at is None or heartbeat_at < timeout_at)
            if not journal.expire_token(token, missed_heartbeat):
                continue  # a callback closed it first
            d = {"error": "States.Timeout"}
            if not activity:
                d = {**d, "resource": rname, "resourceType": rtype}
            frame.cursor = h.add(prefix + "TimedOut", frame.cursor, prefix.lower() + "TimedOutEventDetails", d)
            raise HeartbeatTimedOut if missed_heartbeat else StateError("States.Timeout", None)
        if not ex.scheduler.live:
            raise Parked(wake)
        ex.scheduler.wait_callback(wake)  # the other branches go on; the execution parks when they all wait


def _callback_without_store(ex: Execution, st: State, fn: TaskFunction | None, eff: Any, frame: Frame, sctx: StateCtx,
                            timeout: int | None, heartbeat: int | None, rtype: str, rname: str) -> Any:
    """A ``.waitForTaskToken`` task in an in-process run (``asl run``, ``run()``: no store). The request is sent and
    TaskSubmitted written, as on AWS; then the task waits for its token, which nothing can send back to such a run,
    so it ends as an unanswered task does on AWS: States.Timeout once its TimeoutSeconds or HeartbeatSeconds have
    passed on the execution's clock. With neither, it would wait as long as the execution may run: it fails at once
    instead, saying why (mock it, or run it with a store where SendTaskSuccess can reach it)."""
    h = frame.history
    context = ex.context(sctx, frame)
    if ex.scheduler.live:
        outcome = _run_task(st, fn, lambda f: ex.scheduler.call(f, eff, context, timeout))
    else:
        outcome = _run_task(st, fn, lambda f: _call_task(ex, f, eff, context, timeout))
    if isinstance(outcome, StateError):
        raise _task_failed(ex, frame, outcome, (rtype, rname))
    frame.cursor = h.add("TaskSubmitted", frame.cursor, "taskSubmittedEventDetails",
                         {"resourceType": rtype, "resource": rname, "output": outcome[1], "outputDetails": {"truncated": False}})
    limits = [s for s in (heartbeat, timeout) if s is not None]
    if not limits:
        raise StateError("States.Runtime", f"The state '{st.name}' waits for its task token (.waitForTaskToken) and has no "
                         "TimeoutSeconds or HeartbeatSeconds, and nothing can send the token back to an in-process run: "
                         "mock the state, or run the execution with a store (asl start and asl worker, or asl serve) "
                         "and answer it with SendTaskSuccess")
    ex.scheduler.sleep(float(min(limits)))
    frame.cursor = h.add("TaskTimedOut", frame.cursor, "taskTimedOutEventDetails",
                         {"error": "States.Timeout", "resource": rname, "resourceType": rtype})
    if heartbeat is not None and (timeout is None or heartbeat < timeout):
        raise HeartbeatTimedOut
    raise StateError("States.Timeout", None)


def _task_function(ex: Execution, res: Resource, timeout: int | None, token: str | None = None) -> TaskFunction | None:
    """The callable that runs a Task's resource: one registered for its exact ARN, else its adapter's."""
    fn = ex.opts.tasks.get(res.arn)
    if fn is not None:
        return fn
    adapter = None if ex.opts.adapters is None else ex.opts.adapters.resolve(res.arn)
    if adapter is None and res.service_name == "http" and res.action == "invoke":  # needs no configuration
        from ..adapters.http import HttpInvoke

        adapter = HttpInvoke()
    if adapter is None and res.service_name == "apigateway" and res.action in ("invoke", "invoke.waitForTaskToken"):
        from ..adapters.apigateway import ApiGatewayInvoke

        adapter = ApiGatewayInvoke()  # needs no configuration either; asl.toml's [apigateway] registers one
    if adapter is None:
        return None
    from ..adapters import TaskRequest

    o = ex.opts

    def call(value: Any, context: Mapping[str, Any]) -> Any:
        return adapter.invoke(TaskRequest(res, value, context, timeout, o.region, o.account, o.partition, token))

    return call




def _call_task(ex: Execution, fn: TaskFunction, value: Any, ctx: dict[str, Any], timeout: int | None) -> Any:
    """Call a task callable under its TimeoutSeconds. On a virtual clock the callable takes the time it sleeps
    through :func:`sleep`; on a real clock it runs in a worker thread that is abandoned (its result discarded)
    when the timeout passes, as AWS abandons a task it has timed out."""
    start = ex.clock.now()
    if timeout is None:
        return fn(value, ctx)
    if getattr(ex.clock, "real", False):
        box: dict[str, Any] = {}
        run_ctx = contextvars.copy_context()

        def target() -> None:
            try:
                box["result"] = run_ctx.run(fn, value, ctx)
            except BaseException as exc:  # handed to the interpreter thread below
                box["error"] = exc

        worker = threading.Thread(target=target, name="asl-task", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise TaskTimeout
        if "error" in box:
            raise box["error"]
        result = box["result"]
    else:
        result = fn(value, ctx)
    if (ex.clock.now() - start).total_seconds() > timeout:
        raise TaskTimeout
    return result


def _split_resource(arn: str, service: str, action: str) -> tuple[str, str]:
    if service:
        return service, action
    parts = arn.split(":")
    return (parts[2] if len(parts) > 2 else arn), (":".join(parts[5:]) if len(parts) > 5 else arn)
