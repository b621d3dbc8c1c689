"""TestState: run one state with an input, optional mock, variables and context, and answer as AWS's TestState
API answers (status, output, error, cause, nextState, inspectionData).

The state is a single state's definition, or a whole state machine with ``stateName`` naming the state to test.
It runs once through the interpreter's own handlers on a virtual clock: no retry happens. When an error matches a
Retrier that still has attempts left (counting ``stateConfiguration.retrierRetryCount`` attempts made already),
the status is RETRIABLE with the Retrier's index and the interval it would wait; when a Catcher matches, it is
CAUGHT_ERROR with the Catcher's output and Next; otherwise FAILED.

``inspectionData`` (DEBUG and TRACE) holds the value after each data-flow step, as AWS shows them for the state's
type and query language; values are JSON texts, numbers stay numbers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from . import jsontext
from .diagnostics import DefinitionError
from .errors import BranchEnded, StateError, TestStateError
from .mocks import MockedResponse, MockedResult, TestCaseMocks
from .model import ABSENT, Block, State, StateMachine, load
from .runtime import HANDLERS, ExecutionOptions, VirtualClock, iso
from .runtime import Execution as _Execution
from .runtime.branches import map_items
from .runtime.decisions import backoff, match_catcher, matches, tolerated
from .runtime.frame import Frame, StateCtx
from .validate import JSONATA

SINGLE_STATE_NAME = "StateName"  # the name a lone state runs under (recorded: $states.context.State.Name)
INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
_NOT_MOCKABLE = ("Pass", "Fail", "Succeed", "Choice", "Wait")


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Inspected(_Execution):
    """An execution that records each data-flow step and may answer ``$$`` with a given context object."""

    def __init__(self, machine: StateMachine, input_text: str, opts: ExecutionOptions, context: Any):
        super().__init__(machine, input_text, opts)
        self.inspect = {}
        self.given_context = context

    def context(self, state_ctx: Mapping[str, Any], frame: Frame | None = None) -> dict[str, Any]:
        if self.given_context is not None:
            return dict(self.given_context)
        return super().context(state_ctx, frame)


def _find_state(block: Block, name: str) -> State | None:
    for st in block.states.values():
        if st.name == name:
            return st
        for sub in (*st.branches, *([st.processor] if st.processor else [])):
            found = _find_state(sub, name)
            if found is not None:
                return found
    return None


def _wrap(state_def: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A lone state as a state machine that validates: its transition targets become Succeed states."""
    raw = dict(state_def)
    targets = {raw.get("Next"), raw.get("Default"), *(c.get("Next") for c in raw.get("Catch", []) if isinstance(c, dict)),
               *(c.get("Next") for c in raw.get("Choices", []) if isinstance(c, dict))}
    states: dict[str, Any] = {SINGLE_STATE_NAME: raw}
    for t in targets:
        if isinstance(t, str) and t != SINGLE_STATE_NAME:
            states[t] = {"Type": "Succeed"}
    return {"StartAt": SINGLE_STATE_NAME, "States": states}, SINGLE_STATE_NAME


def _json_arg(text: Any, what: str) -> Any:
    if text is None:
        return None
    code = {"input": "InvalidExecutionInput", "definition": "InvalidDefinition"}.get(what, "ValidationException")
    try:
        if not isinstance(text, str):
            jsontext.check_value(text, f"The {what}")
            return text
        return jsontext.loads(text, f"The {what}")
    except jsontext.JsonLimitError as exc:
        raise TestStateError(code, exc.message) from None
    except ValueError:
        raise TestStateError(code, f"The {what} is not valid JSON") from None


def test_state(definition: str | Mapping[str, Any], input: str | None = None, *,  # noqa: A002 - AWS's name
               state_name: str | None = None, inspection_level: str = "INFO", mock: Mapping[str, Any] | None = None,
               variables: str | Mapping[str, Any] | None = None, context: str | Mapping[str, Any] | None = None,
               state_configuration: Mapping[str, Any] | None = None, role_arn: str | None = None,
               options: ExecutionOptions | None = None) -> dict[str, Any]:
    """Run one state as the TestState API does; returns its response (``output`` as JSON text). Raises
    :class:`TestStateError` for a request AWS would refuse."""
    if inspection_level not in INSPECTION_LEVELS:
        raise TestStateError("ValidationException", f"inspectionLevel must be one of {', '.join(INSPECTION_LEVELS)}")
    raw = _json_arg(definition, "definition") if isinstance(definition, str) else dict(definition)
    if not isinstance(raw, dict):
        raise TestStateError("InvalidDefinition", "The definition must be a JSON object")
    if state_name is None:
        if "States" in raw:
            raise TestStateError("InvalidDefinition", "A state machine definition needs stateName: the state to test")
        raw, state_name = _wrap(raw)
    try:
        machine = load(raw)
    except DefinitionError as exc:
        raise TestStateError("InvalidDefinition", str(exc)) from None
    state = _find_state(machine.top, state_name)
    if state is None:
        raise TestStateError("ValidationException", f"The state '{state_name}' is not in the definition")
    value = _json_arg(input if input is not None else "{}", "input")
    ctx_obj = _json_arg(context, "context") if context is not None else None
    var_obj = _json_arg(variables, "variables") if variables is not None else {}
    for what, given in (("context", ctx_obj), ("variables", var_obj)):
        if given is not None and not isinstance(given, dict):
            raise TestStateError("ValidationException", f"The {what} must be a JSON object")
    config = dict(state_configuration or {})
    mocked = _check_mock(state, mock, ctx_obj, config)
    opts = options or ExecutionOptions(machine_type="EXPRESS", sync=True, clock=VirtualClock())
    if role_arn:
        opts.role_arn = role_arn
    if opts.execution_arn is None:  # TestState runs as an EXPRESS execution named arn:…:express:<machine>:<name>
        sm = opts.state_machine_name
        opts.execution_name = opts.execution_name or opts.uuid4()
        opts.execution_arn = f"arn:{opts.partition}:states:{opts.region}:{opts.account}:express:{sm}:{opts.execution_name}"
    if mocked is not None and state.type == "Task":
        opts.mocks = TestCaseMocks("TestState", "mock", {state.name: MockedResponse("mock", ((0, 0, mocked),))}).start()
    ex = _Inspected(machine, json.dumps(value), opts, ctx_obj)
    ex.inspect_state = state
    frame = Frame(0, dict(var_obj), history=ex.history, draws=ex.draws)
    sctx = StateCtx(state, 0, 0, iso(ex.clock.now()))
    if state.type == "Task":  # the context object's State.RetryCount: the attempts already made
        sctx["RetryCount"] = int(config.get("retrierRetryCount", 0))
    response: dict[str, Any] = {}
    details: dict[str, Any] = {}
    with ex.bound():
        _run(ex, state, value, frame, sctx, mocked, config, response, details)
    if inspection_level != "INFO":
        response["inspectionData"] = _inspection(ex, state, value, frame, sctx, details, mocked is not None)
    return {k: v for k, v in response.items() if v is not None}


def _run(ex: _Inspected, state: State, value: Any, frame: Frame, sctx: StateCtx, mocked: MockedResult | None,
         config: Mapping[str, Any], response: dict[str, Any], details: dict[str, Any]) -> None:
    try:
        if mocked is not None and state.type in ("Map", "Parallel"):
            output, nxt, _ = _mocked_container(ex, state, value, frame, sctx, mocked, config)
        else:
            output, nxt, _ = HANDLERS[state.type](ex, state, value, frame, sctx)
        response.update(status="SUCCEEDED", output=_text(output))
        if nxt is not None:
            response["nextState"] = nxt
    except StateError as err:
        response.update(_on_error(ex, state, value, err, frame, sctx, config, details))
    except BranchEnded as ended:  # a Fail state
        response.update(status="FAILED", error=ended.err.error, cause=ended.err.cause)


def _check_mock(state: State, mock: Mapping[str, Any] | None, context: Any, config: Mapping[str, Any]) -> MockedResult | None:
    """The mock as a result, after AWS's checks on it (messages as AWS words them)."""
    if isinstance(context, dict) and "Task" in context and not (state.resource is not None and state.resource.pattern):
        raise TestStateError("ValidationException", "Invalid Context object provided: Context object contains 'Task' "
                             "when state is not a Task state with a '.sync' or '.waitForTaskToken' service integration pattern")
    if mock is None:
        if config.get("mapIterationFailureCount") is not None:
            raise TestStateError("ValidationException",
                                 "TestState does not support MapIterationFailureCount when a mock is not specified.")
        return None
    if state.type in _NOT_MOCKABLE:
        raise TestStateError("ValidationException", f"State type '{state.type}' is not supported when a mock is specified")
    if ("result" in mock) == ("errorOutput" in mock):
        raise TestStateError("ValidationException", "A test mock should have only one of the following fields: [result, errorOutput].")
    if "errorOutput" in mock:
        eo = mock["errorOutput"] or {}
        if not isinstance(eo.get("error"), str):
            raise TestStateError("ValidationException", "The mock's errorOutput needs an error")
        return MockedResult(error=eo["error"], cause=eo.get("cause"))
    try:
        result = mock["result"]
        if isinstance(result, str):
            result = jsontext.loads(result, "The mocked result")
        else:
            jsontext.check_value(result, "The mocked result")
    except jsontext.JsonLimitError as exc:
        raise TestStateError("ValidationException", exc.message) from None
    except ValueError:
        raise TestStateError("ValidationException", "Mocked result must be valid JSON") from None
    if state.type == "Map" and "ResultWriter" not in state.raw and not isinstance(result, list):
        raise TestStateError("ValidationException", "Mocked result must be an array.")
    if state.type == "Map" and "ResultWriter" in state.raw and not isinstance(result, dict):
        raise TestStateError("ValidationException", "Mocked result must be a JSON object.")
    if state.type == "Parallel" and not (isinstance(result, list) and len(result) == len(state.branches)):
        raise TestStateError("ValidationException",
                             "Mocked result must contain the same number of items as number of Parallel branches.")
    return MockedResult(value=result)


def _mocked_container(ex: _Inspected, state: State, value: Any, frame: Frame, sctx: StateCtx, mocked: MockedResult,
                      config: Mapping[str, Any]) -> tuple[Any, str | None, Any]:
    """A Map or Parallel whose iterations or branches are mocked: the mock is the result of the whole."""
    def work(eff: Any) -> Any:
        if state.type == "Map":
            if "ItemReader" not in state.raw:  # the reader's items are stateConfiguration.mapItemReaderData
                map_items(ex, state, eff, frame, sctx)  # ItemsPath/Items still apply; the mock replaces the iterations
            if ex.inspect is not None:
                ex.inspect["_items"] = True
        if mocked.throws:
            raise StateError(mocked.error, mocked.cause)
        if state.type == "Map":
            failures = int(config.get("mapIterationFailureCount") or 0)
            count = _field(state, "ToleratedFailureCount")
            pct = _field(state, "ToleratedFailurePercentage")
            items = len(mocked.value) if isinstance(mocked.value, list) else 0
            if failures > items:
                raise TestStateError("ValidationException",
                                     "Map iteration failure count must be less than or equal to the number of Map iterations")
            if not tolerated(failures, items, count, pct):
                raise StateError("States.ExceedToleratedFailureThreshold",
                                 "The specified tolerated failure threshold was exceeded")
        return mocked.value

    out, assigned = ex.dataflow(state, value, frame, sctx, work)
    return out, state.next, assigned


def _field(state: State, name: str) -> Any:
    v = state.raw.get(name)
    return v if isinstance(v, int | float) else None


def _on_error(ex: _Inspected, state: State, value: Any, err: StateError, frame: Frame, sctx: StateCtx,
              config: Mapping[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"error": err.error, "cause": err.cause}
    if err.catchable:
        done = int(config.get("retrierRetryCount", 0))
        for i, r in enumerate(state.retry):
            if matches(r.error_equals, err):
                details["retryIndex"] = i
                if done < r.max_attempts:
                    delay = backoff(r, done)
                    details["retryBackoffIntervalSeconds"] = int(delay) if float(delay).is_integer() else delay
                    return {**out, "status": "RETRIABLE"}
                break
        caught = match_catcher(state.catch, err)
        if caught is not None:
            details["catchIndex"], c = caught
            output, _ = ex._apply_catcher(state, c, value, err, frame, sctx)
            return {**out, "status": "CAUGHT_ERROR", "output": _text(output), "nextState": c.next}
    return {**out, "status": "FAILED"}


def _inspection(ex: _Inspected, state: State, value: Any, frame: Frame, sctx: StateCtx, details: dict[str, Any],
                mocked: bool) -> dict[str, Any]:
    """The inspection data AWS shows for this state's type and query language."""
    seen = ex.inspect or {}
    if "afterInputPath" not in seen and state.query_language != JSONATA:
        with contextlib.suppress(StateError):  # states that stop before their data flow (Fail) show their InputPath
            seen["afterInputPath"] = ex._select(state.input_path, value, frame, sctx)
    data: dict[str, Any] = {"input": _text(value)}
    jsonata = state.query_language == JSONATA
    if jsonata:
        keys: tuple[str, ...] = ("afterArguments",) if state.type == "Task" else ()
        if state.type == "Task":
            keys += ("result",)
    elif state.type in ("Choice", "Fail", "Wait", "Succeed"):
        keys = ("afterInputPath",)
    elif state.type == "Pass" and state.result is not ABSENT:
        keys = ("result", "afterResultSelector", "afterResultPath")
    elif state.type == "Parallel" and mocked:
        keys = ("afterResultSelector", "afterResultPath")
    elif state.type == "Map":
        keys = ("afterInputPath", "afterItemsPath", "afterResultSelector", "afterResultPath")
    elif state.type == "Pass":
        keys = ("afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath")
    else:
        keys = ("afterInputPath", "afterParameters", "result", "afterResultSelector", "afterResultPath")
    for k in keys:
        if k in seen:
            data[k] = _text(seen[k])
    if state.type == "Map" and ("_items" in seen or "afterItemsPath" in seen):  # shown once the items were read
        mc = state.raw.get("MaxConcurrency", 0)
        data["maxConcurrency"] = mc if isinstance(mc, int) else 0
        for name, key in (("ToleratedFailureCount", "toleratedFailureCount"),
                          ("ToleratedFailurePercentage", "toleratedFailurePercentage")):
            if _field(state, name) is not None:
                data[key] = state.raw[name]
    if details:
        data["errorDetails"] = details
    return data


test_state.__test__ = False  # type: ignore[attr-defined]  # AWS's name, not a pytest test
