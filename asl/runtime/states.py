"""The handlers of the states that do not run tasks or branches: Pass, Succeed, Fail, Wait and Choice. A handler
takes the state's input and returns its output, the next state's name (None at the end) and the variables it
assigns."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import BranchEnded, NoRecovery, PathNotFound, StateError
from ..intrinsics import Call
from ..jsonpath import Path
from ..jsontext import dumps
from ..model import ABSENT, Rule, State
from ..validate import JSONATA, is_timestamp
from .dataflow import is_number
from .decisions import cover
from .frame import Frame, StateCtx

if TYPE_CHECKING:
    from .loop import Execution

Outcome = tuple[Any, "str | None", "dict[str, Any] | None"]


# -- handlers ---------------------------------------------------------------------------------------------------
def pass_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    out, assigned = ex.dataflow(st, raw, frame, sctx, lambda eff: st.result if st.result is not ABSENT else eff,
                                has_result=False)
    return out, st.next, assigned


def succeed_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        out, _ = ex.jsonata_io(st, raw, frame, sctx, lambda eff: eff, has_result=False)
        return out, None, None
    eff = ex.input_path(st, raw, frame, sctx)
    return ex.output_path(st, eff, frame, sctx), None, None


def fail_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        states = ex.states_binding(raw, frame, sctx)
        out = []
        for name in ("Error", "Cause"):
            tpl = st.fields.get(name)
            out.append(None if tpl is None else ex.jeval_typed(tpl, "string", states, frame, sctx))
        raise BranchEnded(StateError(out[0], out[1]))

    def text(field_name: str, literal: Any, path: Any) -> str | None:
        if path is ABSENT:
            return literal if isinstance(literal, str) else None
        if isinstance(path, Call):
            v = ex.eval_call(path, raw, frame, sctx)
        else:
            try:
                v = ex.resolve(path, raw, frame, sctx)
            except PathNotFound:
                raise NoRecovery("States.Runtime", f"The JSONPath '{path.text}' specified for the field '{field_name}' "
                                                    f"could not be found in the input '{dumps(raw)}'") from None
        return v if isinstance(v, str) else dumps(v)

    error = text("ErrorPath", st.raw.get("Error"), st.error_path)
    cause = text("CausePath", st.raw.get("Cause"), st.cause_path)
    raise BranchEnded(StateError(error, cause))


def _parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def wait_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        return _wait_jsonata(ex, st, raw, frame, sctx)
    eff = ex.input_path(st, raw, frame, sctx)
    r = st.raw
    seconds: float
    if "Seconds" in r:
        seconds = r["Seconds"]
    elif "Timestamp" in r:
        seconds = (_parse_ts(r["Timestamp"]) - ex.clock.now()).total_seconds()
    elif "SecondsPath" in r:
        p = st.fields["SecondsPath"]
        try:
            v = ex.resolve(p, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The SecondsPath parameter does not reference an input value: {p.text}") from None
        if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not v.is_integer()):
            raise StateError("States.Runtime", f"The SecondsPath parameter cannot be parsed as a long value: {p.text} == {dumps(v)}")
        if v < 0:
            raise StateError("States.Runtime", f"The SecondsPath parameter references a negative value: {p.text} == {dumps(v)}")
        seconds = v
    else:
        p = st.fields["TimestampPath"]
        try:
            v = ex.resolve(p, eff, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"The TimestampPath parameter does not reference an input value: {p.text}") from None
        if not isinstance(v, str) or not is_timestamp(v):
            shown = v if isinstance(v, str) else dumps(v)
            raise StateError("States.Runtime", "The TimestampPath parameter does not reference a valid ISO-8601 extended "
                                               f"offset date-time format string: {p.text} == {shown}")
        seconds = (_parse_ts(v) - ex.clock.now()).total_seconds()
    assigned = ex.eval_assign(st.assign, eff, frame, st, sctx) if st.assign is not ABSENT else None
    _sleep(ex, seconds)
    return ex.output_path(st, eff, frame, sctx), st.next, assigned


def _sleep(ex: Execution, seconds: float) -> None:
    if seconds >= 2**31:
        raise StateError("States.Runtime", "Wait state delay is too long.")
    if seconds > 0:
        if ex.deadline is not None and ex.clock.now() + timedelta(seconds=seconds) >= ex.deadline:
            ex.scheduler.sleep((ex.deadline - ex.clock.now()).total_seconds())
            raise StateError("States.Timeout", None)
        ex.scheduler.sleep(seconds)


def _wait_jsonata(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    states = ex.states_binding(raw, frame, sctx)
    seconds: float = 0
    if "Seconds" in st.fields:
        v = ex.jeval_typed(st.fields["Seconds"], "integer", states, frame, sctx)
        if v < 0:
            raise ex.query_error(frame, sctx, "Seconds", f"The Seconds field must be a non-negative integer, but was: {v}",
                                 prev=sctx.entered)
        seconds = v
    elif "Timestamp" in st.fields:
        v = ex.jeval(st.fields["Timestamp"], states, frame, sctx)
        if not isinstance(v, str) or not is_timestamp(v):
            shown = v if isinstance(v, str) else dumps(v)
            raise ex.query_error(frame, sctx, "Timestamp", "The Timestamp field cannot be parsed as an ISO-8601 extended "
                                                           f"offset date-time format string: {shown}", prev=sctx.entered)
        seconds = (_parse_ts(v) - ex.clock.now()).total_seconds()
    _sleep(ex, seconds)
    out, assigned = ex.jfinish(st.assign, st.output, raw, states, frame, sctx)
    return out, st.next, assigned


# Choice ---------------------------------------------------------------------------------------------------------
def _string_matches(value: str, pattern: str) -> bool:
    import re

    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.DOTALL) is not None


def _compare(op: str, a: Any, b: Any) -> bool:
    base = op[:-4] if op.endswith("Path") and not op.startswith("Is") else op
    if base.startswith("String"):
        if not (isinstance(a, str) and isinstance(b, str)):
            return False
        if base == "StringMatches":
            return _string_matches(a, b)
    elif base.startswith("Numeric"):
        if not (is_number(a) and is_number(b)):
            return False
    elif base.startswith("Boolean"):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    elif base.startswith("Timestamp"):
        if not (isinstance(a, str) and isinstance(b, str) and is_timestamp(a) and is_timestamp(b)):
            return False
        a, b = _parse_ts(a), _parse_ts(b)
    kind = base.removeprefix("String").removeprefix("Numeric").removeprefix("Timestamp")
    return {"Equals": a == b, "LessThan": a < b, "GreaterThan": a > b,
            "LessThanEquals": a <= b, "GreaterThanEquals": a >= b}[kind]


def _eval_rule(ex: Execution, rule: Rule, value: Any, frame: Frame, sctx: dict[str, Any]) -> bool:
    op = rule.op
    if op == "And":
        return all(_eval_rule(ex, r, value, frame, sctx) for r in rule.operand)
    if op == "Or":
        return any(_eval_rule(ex, r, value, frame, sctx) for r in rule.operand)
    if op == "Not":
        return not _eval_rule(ex, rule.operand[0], value, frame, sctx)
    assert rule.variable is not None
    try:
        v = ex.resolve(rule.variable, value, frame, sctx)
        present = True
    except PathNotFound:
        present, v = False, None
    if op == "IsPresent":
        return present == rule.operand
    if not present:
        raise StateError("States.Runtime", f"Invalid path '{rule.variable.text}': The choice state's condition path "
                                           f"references an invalid value.")
    if op.startswith("Is"):
        t = {"IsNull": v is None, "IsNumeric": is_number(v), "IsString": isinstance(v, str),
             "IsBoolean": isinstance(v, bool), "IsTimestamp": isinstance(v, str) and is_timestamp(v)}[op]
        return t == rule.operand
    operand = rule.operand
    if isinstance(operand, Path):
        try:
            operand = ex.resolve(operand, value, frame, sctx)
        except PathNotFound:
            raise StateError("States.Runtime", f"Invalid path '{operand.text}': The choice state's condition path "
                                               f"references an invalid value.") from None
    return _compare(op, v, operand)


def choice_state(ex: Execution, st: State, raw: Any, frame: Frame, sctx: StateCtx) -> Outcome:
    if st.query_language == JSONATA:
        states = ex.states_binding(raw, frame, sctx)
        for rule in st.choices:
            if ex.jeval_typed(rule.condition, "boolean", states, frame, sctx):
                cover(ex, rule.pointer)
                out, assigned = ex.jfinish(rule.assign, rule.output, raw, states, frame, sctx)
                return out, rule.next, assigned
        if st.default is None:
            raise StateError("States.NoChoiceMatched", "No Matches!")
        cover(ex, st.pointer + "/Default")
        out, assigned = ex.jfinish(st.assign, st.output, raw, states, frame, sctx)
        return out, st.default, assigned
    eff = ex.input_path(st, raw, frame, sctx)
    for rule in st.choices:
        if _eval_rule(ex, rule, eff, frame, sctx):
            cover(ex, rule.pointer)
            assigned = ex.eval_assign(rule.assign, eff, frame, st, sctx) if rule.assign is not ABSENT else None
            return ex.output_path(st, eff, frame, sctx), rule.next, assigned
    if st.default is None:
        raise StateError("States.NoChoiceMatched", "No Matches!")
    cover(ex, st.pointer + "/Default")
    assigned = ex.eval_assign(st.assign, eff, frame, st, sctx) if st.assign is not ABSENT else None
    return ex.output_path(st, eff, frame, sctx), st.default, assigned
