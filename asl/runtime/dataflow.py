"""Data flow: a state's input through its fields to its output, in either query language. JSONPath: InputPath →
Parameters → work → ResultSelector → Assign → ResultPath → OutputPath; JSONata: Arguments → work → Assign and Output.
Paths, payload templates, intrinsic calls and JSONata expressions are evaluated here against a branch's frame."""

from __future__ import annotations

import contextlib
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import IntrinsicFailure, JsonataEvaluationError, NoRecovery, PathNotFound, StateError
from ..intrinsics import Call
from ..intrinsics import evaluate as eval_intrinsic
from ..jsonata import ENVIRONMENT, FUNCTION_RESULT, UNDEFINED, type_name
from ..jsonpath import CONTEXT, VARIABLE, Path
from ..jsontext import dumps
from ..model import ABSENT, JTemplate, State, Template
from ..validate import JSONATA
from .clock import Clock
from .frame import Frame, StateCtx
from .history import History
from .options import MAX_PAYLOAD


class DataFlow:
    """The data-flow half of an :class:`~asl.runtime.loop.Execution`: evaluation against a frame, and each query
    language's path from a state's input to its output."""

    history: History
    clock: Clock
    context_execution: dict[str, Any]
    context_sm: dict[str, Any]
    inspect: dict[str, Any] | None
    inspect_state: State | None

    def context(self, state_ctx: Mapping[str, Any], frame: Frame | None = None) -> dict[str, Any]:
        ctx: dict[str, Any] = {"Execution": self.context_execution, "StateMachine": self.context_sm, "State": dict(state_ctx)}
        token = getattr(state_ctx, "token", None)
        if token is not None:
            ctx["Task"] = {"Token": token}
        if frame is not None and frame.map_item is not None:
            ctx["Map"] = {"Item": frame.map_item}
        return ctx

    def resolve(self, path: Path, value: Any, frame: Frame, state_ctx: Mapping[str, Any]) -> Any:
        """Evaluate a path against the value, the context object or a variable."""
        if path.root == CONTEXT:
            return path.find(self.context(state_ctx, frame))
        if path.root == VARIABLE:
            assert path.variable is not None
            try:
                root = frame.lookup(path.variable)
            except KeyError:
                raise PathNotFound(f"The variable '${path.variable}' is not defined") from None
            return path.find(root)
        return path.find(value)

    def eval_template(self, tpl: Template, value: Any, frame: Frame, state_ctx: Mapping[str, Any], state: State) -> Any:
        """Evaluate a payload template against ``value``."""
        if tpl.kind == "lit":
            return tpl.entries[0][2]
        if tpl.kind == "arr":
            return [self.eval_template(p, value, frame, state_ctx, state) if kind == "tpl" else p for _, kind, p in tpl.entries]
        out: dict[str, Any] = {}
        for key, kind, payload in tpl.entries:
            if kind == "lit":
                out[key] = payload
            elif kind == "tpl":
                out[key] = self.eval_template(payload, value, frame, state_ctx, state)
            elif kind == "path":
                path, field_name = payload
                try:
                    out[key] = self.resolve(path, value, frame, state_ctx)
                except PathNotFound:
                    raise StateError("States.Runtime", f"The JSONPath '{path.text}' specified for the field '{field_name}' "
                                                       f"could not be found in the input '{dumps(value)}'") from None
            else:
                call, field_name = payload
                out[key] = self.eval_call(call, value, frame, state_ctx)
        return out

    def eval_call(self, call: Call, value: Any, frame: Frame, state_ctx: Mapping[str, Any]) -> Any:
        def res(p: Path) -> Any:
            try:
                return self.resolve(p, value, frame, state_ctx)
            except PathNotFound:
                raise IntrinsicFailure(f"The JSONPath '{p.text}' could not be found in the input '{dumps(value)}'") from None

        try:
            return eval_intrinsic(call, res, frame.intrinsic_env)
        except IntrinsicFailure as exc:
            raise StateError("States.IntrinsicFailure", str(exc)) from None

    def eval_assign(self, assign: Any, value: Any, frame: Frame, state: State, state_ctx: Mapping[str, Any]) -> dict[str, Any]:
        """A JSONPath Assign: a payload template over ``value``."""
        result = self.eval_template(assign, value, frame, state_ctx, state)
        assert isinstance(result, dict)
        return result

    # -- JSONata ------------------------------------------------------------------------------------------------
    def states_binding(self, raw_input: Any, frame: Frame, sctx: StateCtx) -> dict[str, Any]:
        """``$states`` for a JSONata state: its input and the context object (result / errorOutput added later)."""
        return {"input": raw_input, "context": self.context(sctx, frame)}

    def query_error(self, frame: Frame, sctx: StateCtx, location: str | None, message: str,
                    prev: int | None = None) -> StateError:
        """A ``States.QueryEvaluationError`` of this state run, with its EvaluationFailed event recorded."""
        st = sctx.state
        cause = f"An error occurred while executing the state '{st.name}' (entered at the event id #{sctx.entered}). {message}"
        details: dict[str, Any] = {"cause": cause, "error": "States.QueryEvaluationError"}
        if location is not None:
            details["location"] = location
        details["state"] = st.name
        # AWS points the event at the event before StateEntered, except where noted by the caller.
        frame.cursor = frame.history.add("EvaluationFailed", sctx.entered_prev if prev is None else prev,
                                        "evaluationFailedEventDetails", details)
        err = StateError("States.QueryEvaluationError", cause)
        if st.type in ("Map", "Parallel"):
            err.final_event = (st.type + "StateFailed", frame.cursor)
        return err

    def jeval(self, tpl: JTemplate, states: Mapping[str, Any], frame: Frame, sctx: StateCtx) -> Any:
        """Evaluate a JSONata-mode field: literals as they are, every ``{% %}`` string evaluated."""
        kind = tpl.kind
        if kind == "lit":
            return tpl.value
        if kind == "obj":
            return {k: self.jeval(t, states, frame, sctx) for k, t in tpl.value}
        if kind == "arr":
            return [self.jeval(t, states, frame, sctx) for t in tpl.value]
        expr = tpl.value
        env = ENVIRONMENT.get()
        env.now = self.clock.now()
        env.draws = frame  # $random and $uuid draw from this branch's stream
        bindings = ChainMap({"states": states}, *frame.scopes())
        where = f"The JSONata expression '{expr.text}' specified for the field '{tpl.location}'"
        try:
            value = expr.evaluate(bindings)
        except JsonataEvaluationError as exc:
            raise self.query_error(frame, sctx, tpl.location, f"{where} threw an error during evaluation. {exc}") from None
        if value is UNDEFINED:
            raise self.query_error(frame, sctx, tpl.location, f"{where} returned nothing (undefined).")
        if value is FUNCTION_RESULT:
            raise self.query_error(frame, sctx, tpl.location, f"{where} returned an unsupported result type.")
        return value

    def jeval_typed(self, tpl: JTemplate, expected: str, states: Mapping[str, Any], frame: Frame, sctx: StateCtx) -> Any:
        """Evaluate a field whose value must have a JSON type (``array``, ``boolean``, ``string``, ``number``,
        ``integer``)."""
        value = self.jeval(tpl, states, frame, sctx)
        actual = type_name(value)
        ok = actual == expected or (expected == "integer" and actual == "number" and float(value).is_integer())
        if not ok:
            text = tpl.value.text if tpl.kind == "expr" else dumps(tpl.value)
            raise self.query_error(frame, sctx, tpl.location,
                                   f"The JSONata expression '{text}' specified for the field '{tpl.location}' returned an "
                                   f"unexpected result type. Expected '{expected}', but was '{actual}' for value: {dumps(value)}")
        return int(value) if expected == "integer" else value

    def jassign(self, tpl: Any, states: Mapping[str, Any], frame: Frame, sctx: StateCtx) -> dict[str, Any] | None:
        """A JSONata Assign: every right-hand side sees the variables as they were when the state was entered."""
        if tpl is ABSENT:
            return None
        result = self.jeval(tpl, states, frame, sctx)
        assert isinstance(result, dict)
        return result

    def jfinish(self, assign: Any, output: Any, default: Any, states: Mapping[str, Any], frame: Frame,
                sctx: StateCtx) -> tuple[Any, dict[str, Any] | None]:
        """Assign and Output over the same ``$states`` (Assign first); Output, when absent, is ``default``."""
        assigned = self.jassign(assign, states, frame, sctx)
        out = self.jeval(output, states, frame, sctx) if output is not ABSENT else default
        return out, assigned

    def jsonata_io(self, state: State, raw_input: Any, frame: Frame, sctx: StateCtx, work: Callable[[Any], Any],
                   has_result: bool = True) -> tuple[Any, dict[str, Any] | None]:
        """The JSONata data flow: Arguments → work → Assign and Output (both over ``$states.result``)."""
        states = self.states_binding(raw_input, frame, sctx)
        args = self.jeval(state.arguments, states, frame, sctx) if state.arguments is not ABSENT else raw_input
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterArguments"] = args
        result = work(args)
        if insp is not None:
            insp["result"] = result
        if has_result:
            states = {**states, "context": self.context(sctx, frame), "result": result}
        out, assigned = self.jfinish(state.assign, state.output, result if has_result else raw_input, states, frame, sctx)
        frame.out_text = (out, check_size(out, state))
        return out, assigned

    def dataflow(self, state: State, raw_input: Any, frame: Frame, sctx: StateCtx, work: Callable[[Any], Any],
                 has_result: bool = True) -> tuple[Any, dict[str, Any] | None]:
        """Run ``work`` inside the state's data flow, in its query language."""
        if state.query_language == JSONATA:
            return self.jsonata_io(state, raw_input, frame, sctx, work, has_result)
        return self.jsonpath_io(state, raw_input, frame, sctx, work)

    def _select(self, p: Any, value: Any, frame: Frame, state_ctx: Mapping[str, Any]) -> Any:
        """InputPath / OutputPath: absent keeps the value, null gives {}, a path selects."""
        if p is ABSENT:
            return value
        if p is None:
            return {}
        try:
            return self.resolve(p, value, frame, state_ctx)
        except PathNotFound as exc:
            raise StateError("States.Runtime", f"Invalid path '{p.text}' : {exc.detail}") from None

    def inspecting(self, state: State) -> dict[str, Any] | None:
        """Where TestState collects the data-flow steps of ``state``; None when nobody inspects it."""
        return self.inspect if self.inspect is not None and state is self.inspect_state else None

    def input_path(self, state: State, raw_input: Any, frame: Frame, state_ctx: Mapping[str, Any]) -> Any:
        value = self._select(state.input_path, raw_input, frame, state_ctx)
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterInputPath"] = value
        return value

    def output_path(self, state: State, value: Any, frame: Frame, state_ctx: Mapping[str, Any]) -> Any:
        return self._select(state.output_path, value, frame, state_ctx)

    def _set_result(self, path: Path, raw_input: Any, result: Any) -> Any:
        try:
            return path.set(raw_input, result)
        except PathNotFound as exc:
            raise StateError("States.Runtime", f"Invalid path '{path.text}' : {exc.detail}") from None

    def result_path(self, state: State, raw_input: Any, result: Any) -> Any:
        p = state.result_path
        if p is ABSENT:
            return result
        if p is None:
            return raw_input
        return self._set_result(p, raw_input, result)

    def jsonpath_io(self, state: State, raw_input: Any, frame: Frame, state_ctx: dict[str, Any],
                    work: Callable[[Any], Any], assign_on: str = "result") -> tuple[Any, dict[str, Any] | None]:
        """The JSONPath data flow: InputPath → Parameters → work → ResultSelector → Assign → ResultPath → OutputPath."""
        effective = self.input_path(state, raw_input, frame, state_ctx)
        if state.parameters is not ABSENT:
            effective = self.eval_template(state.parameters, effective, frame, state_ctx, state)
        insp = self.inspecting(state)
        if insp is not None:
            insp["afterParameters"] = effective
        result = work(effective)
        if insp is not None:
            insp["result"] = result
        if state.result_selector is not ABSENT:
            result = self.eval_template(state.result_selector, result, frame, state_ctx, state)
        if insp is not None:
            insp["afterResultSelector"] = result
        assigned = None
        if state.assign is not ABSENT:
            assigned = self.eval_assign(state.assign, result if assign_on == "result" else effective, frame, state, state_ctx)
        out = self.result_path(state, raw_input, result)
        if insp is not None:
            insp["afterResultPath"] = out
        out = self.output_path(state, out, frame, state_ctx)
        frame.out_text = (out, check_size(out, state))
        return out, assigned


def is_number(v: Any) -> bool:
    """A JSON number (Python counts booleans as ints)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_size(value: Any, state: State) -> str:
    """The value's JSON text; States.DataLimitExceeded when it is over the payload limit."""
    text = dumps(value)
    # a text of n characters is at most 4n bytes in UTF-8: encode only when it could be over
    if len(text) * 4 > MAX_PAYLOAD and len(text.encode()) > MAX_PAYLOAD:
        raise NoRecovery("States.DataLimitExceeded", f"The state/task '{state.name}' returned a result with a size "
                                                      "exceeding the maximum number of bytes service limit.")
    return text


def number_field(ex: DataFlow, st: State, name: str, eff: Any, frame: Frame, sctx: StateCtx, kind: str) -> Any:
    """A numeric setting (Map concurrency and tolerance, Task timeouts) given as a number, a ``…Path`` (JSONPath,
    read from ``eff``) or an expression (JSONata, over ``$states.input`` = ``eff``); None when absent."""
    if st.query_language == JSONATA:
        tpl = st.fields.get(name)
        if tpl is None:
            return None
        states = ex.states_binding(eff, frame, sctx)
        return ex.jeval_typed(tpl, "integer" if kind == "integer" else "number", states, frame, sctx)
    if name in st.raw:
        return st.raw[name]
    p = st.fields.get(name + "Path")
    if p is None:
        return None
    try:
        v = ex.resolve(p, eff, frame, sctx)
    except PathNotFound:
        raise StateError("States.Runtime", f"The {name}Path field references a value that does not exist: {p.text}") from None
    if isinstance(v, str):  # AWS parses numeric strings ("1"), as Java's Integer/Double.parseDouble would
        with contextlib.suppress(ValueError):
            v = float(v) if kind == "float" else int(v.strip())
    ok = is_number(v) and (kind == "float" or float(v).is_integer())
    if not ok:
        shown = v if isinstance(v, str) else dumps(v)
        raise StateError("States.Runtime", f"The {name}Path field refers to value \"{shown}\" which is not a valid {kind}: {p.text}")
    return v if kind == "float" else int(v)
