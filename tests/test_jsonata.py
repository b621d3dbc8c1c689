"""JSONata: the adapter (asl.jsonata) and JSONata states in the interpreter."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from asl.diagnostics import JSONATA_NOT_ON_AWS, UNDEFINED_VARIABLE, VARIABLE_SHADOWED
from asl.interpreter import ExecutionOptions, VirtualClock, run
from asl.jsonata import (
    ENVIRONMENT,
    FUNCTION_RESULT,
    UNDEFINED,
    Environment,
    JsonataEvaluationError,
    JsonataSyntaxError,
    compile_expression,
)
from asl.model import load
from asl.validate import validate


def ev(text: str, bindings: dict[str, Any] | None = None, env: Environment | None = None) -> Any:
    token = ENVIRONMENT.set(env or Environment())
    try:
        return compile_expression(text).evaluate(bindings or {})
    finally:
        ENVIRONMENT.reset(token)


# -- the adapter ------------------------------------------------------------------------------------------------
def test_undefined_null_and_functions_are_told_apart() -> None:
    assert ev("{% $states.input.x %}", {"states": {"input": {"x": None}}}) is None
    assert ev("{% $states.input.x %}", {"states": {"input": {}}}) is UNDEFINED
    assert ev("{% function($a){$a} %}") is FUNCTION_RESULT
    assert ev("{% {'a': $nothing, 'b': 1} %}") == {"b": 1}


def test_step_functions_functions() -> None:
    assert ev("{% $partition([1,2,3,4,5], 2) %}") == [[1, 2], [3, 4], [5]]
    assert ev("{% $range(0, 10, 2) %}") == [0, 2, 4, 6, 8, 10]
    assert ev("{% $range(5, 1, -2) %}") == [5, 3, 1]
    assert ev("{% $hash('abc', 'SHA-256') %}") == hashlib.sha256(b"abc").hexdigest()
    assert ev("{% $hash('abc', 'MD5') %}") == hashlib.md5(b"abc").hexdigest()  # noqa: S324 - what AWS offers
    assert ev("{% $parse('{\"a\": [1, 2]}') %}") == {"a": [1, 2]}
    seeded = ev("{% $random(42) %}")
    assert seeded == ev("{% $random(42) %}") and 0 <= seeded < 1
    env = Environment(rng=random.Random(7), uuid4=lambda: "00000000-0000-4000-8000-000000000001")
    assert ev("{% $uuid() %}", env=env) == "00000000-0000-4000-8000-000000000001"
    assert ev("{% $random() %}", env=Environment(rng=random.Random(7))) == random.Random(7).random()


@pytest.mark.parametrize("text,code", [
    ("{% $eval('1 + 1') %}", "T1006"),
    ("{% $partition([1], 0) %}", "D3001"),
    ("{% $hash('a', 'SHA-3') %}", "D3001"),
    ("{% $parse('{not json') %}", "D3001"),
    ("{% $range(0, 5000) %}", "D3001"),
    ("{% $nope() %}", "T1006"),
])
def test_refused_and_failing_calls(text: str, code: str) -> None:
    with pytest.raises(JsonataEvaluationError) as info:
        ev(text)
    assert info.value.code == code


def test_runaway_expressions_are_bounded() -> None:
    start = time.monotonic()
    with pytest.raises(JsonataEvaluationError) as info:
        ev("{% ($f := function($n){$f($n + 1)}; $f(0)) %}", env=Environment(timeout=0.5))
    assert info.value.code in ("D1011", "D1012", "U1006")  # the time, or the step budget, runs out first
    assert time.monotonic() - start < 5


_PEAK = """
import re, resource, sys
from asl import jsonata_sandbox
from asl.jsonata import JsonataEvaluationError, compile_expression
try:
    compile_expression(sys.argv[1]).evaluate({})
    print("no error")
except JsonataEvaluationError as exc:
    print(exc.code)
# children killed (and waited for) count in RUSAGE_CHILDREN; those kept warm for the next evaluation do not yet
alive = [int(re.search(r"VmHWM:\\s+(\\d+)", open(f"/proc/{c.proc.pid}/status").read()).group(1))
         for c in jsonata_sandbox._IDLE]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
      max([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, *alive]) // 1024)
"""


@pytest.mark.parametrize(("text", "code"), [
    ("{% [1..1e7].[1..100] %}", "U1001"),  # was 2.26 GB: the range is over the array bound
    ("{% $count([1..100000].[1..100000]) %}", "U1001"),  # each array within the bound, together 240 GB: the child's limit
    ("{% $pad('', 50000000) %}", "D2016"),
    ("{% $join([1..100000].$pad('', 100), '') %}", "U1001"),  # 10 MB: over the string bound
])
def test_expressions_cannot_take_the_memory_of_the_process(text: str, code: str) -> None:
    out = subprocess.run([sys.executable, "-c", _PEAK, text], capture_output=True, text=True, timeout=120, check=True)
    error, own_mib, child_mib = out.stdout.split()
    assert error == code
    assert int(own_mib) < 400, f"{text} took {own_mib} MiB in the process"
    assert int(child_mib) < 700, f"{text} took {child_mib} MiB in the child"


def test_a_long_evaluation_in_the_child_draws_the_same_random_numbers_and_ids() -> None:
    # No time for a first try here: the child evaluates it and asks this process for $random and $uuid.
    from asl import jsonata_sandbox

    text = "{% ($n := $count([1..100].[1..100000]); [$random(), $uuid(), $n, $random()]) %}"
    results = []
    for limit in (None, 512 * 1024 * 1024):
        rng = random.Random(7)
        env = Environment(rng=rng, uuid4=lambda rng=rng: str(rng.getrandbits(128)), memory_limit=limit, first_try=0)
        results.append(ev(text, env=env))
        results.append(rng.random())  # the stream goes on from the same place
    assert jsonata_sandbox._IDLE, "the second evaluation ran in a child"
    assert results[0] == results[2] and results[1] == results[3]
    assert results[0][2] == 100


@pytest.mark.parametrize("text", ["{% %}", "{% 1 + %}", "{% '\ud800' %}"])
def test_syntax_errors_are_data(text: str) -> None:
    with pytest.raises(JsonataSyntaxError):
        compile_expression(text)


def test_now_follows_the_injected_clock() -> None:
    env = Environment(now=datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert ev("{% $now() %}", env=env).startswith("2030-05-06T07:08:09")


# -- JSONata states -----------------------------------------------------------------------------------------------
def run_def(definition: dict[str, Any], data: Any = None, **kw: Any) -> Any:
    opts = ExecutionOptions(clock=VirtualClock(datetime(2024, 1, 1, tzinfo=UTC)), **kw)
    return run(load(definition), json.dumps({} if data is None else data), opts)


def test_task_arguments_result_output_and_context() -> None:
    seen: list[Any] = []

    def double(value: Any, ctx: Any) -> Any:
        seen.append(value)
        return {"n": value["n"] * 2}

    arn = "arn:aws:lambda:us-east-1:123456789012:function:double"
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": arn, "Arguments": {"n": "{% $states.input.v %}"},
        "Output": {"got": "{% $states.result.n %}", "state": "{% $states.context.State.Name %}"}, "End": True}}},
        {"v": 4}, tasks={arn: double})
    assert r.status == "SUCCEEDED", r.cause
    assert seen == [{"n": 4}]
    assert r.output_value == {"got": 8, "state": "T"}
    scheduled = next(e for e in r.history if e["type"] == "LambdaFunctionScheduled")
    assert json.loads(scheduled["lambdaFunctionScheduledEventDetails"]["input"]) == {"n": 4}


def test_map_items_item_selector_and_numbers() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
        "Type": "Map", "Items": "{% $states.input.xs %}", "MaxConcurrency": "{% 2 %}",
        "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}", "v": "{% $states.context.Map.Item.Value %}"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input.i * 10 + $states.input.v %}", "End": True}}},
        "Output": "{% $sum($states.result) %}", "End": True}}}, {"xs": [1, 2, 3]})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value == (0 + 1) + (10 + 2) + (20 + 3)


def test_wait_seconds_expression_runs_on_virtual_time() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "W", "States": {"W": {
        "Type": "Wait", "Seconds": "{% $states.input.s %}", "Output": "{% $now() %}", "End": True}}}, {"s": 3600})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value.startswith("2024-01-01T01:00:00")


def test_wait_negative_seconds_is_a_query_error() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "W", "States": {"W": {
        "Type": "Wait", "Seconds": "{% -1 %}", "End": True}}})
    assert r.error == "States.QueryEvaluationError"
    assert "Seconds" in (r.cause or "")


def test_fail_error_and_cause_expressions() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "F", "States": {"F": {
        "Type": "Fail", "Error": "{% 'E.' & $states.input.code %}", "Cause": "{% $string($states.input) %}"}}}, {"code": "X"})
    assert (r.status, r.error, r.cause) == ("FAILED", "E.X", '{"code":"X"}')


def test_query_error_is_caught_and_recorded() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Arguments": "{% $missing %}", "End": True,
              "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}],
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H"}]},
        "H": {"Type": "Pass", "End": True}}})
    assert r.status == "SUCCEEDED"
    assert r.output_value["Error"] == "States.QueryEvaluationError"
    assert "'$missing' specified for the field 'Arguments' returned nothing" in r.output_value["Cause"]
    failed = next(e for e in r.history if e["type"] == "EvaluationFailed")
    assert failed["evaluationFailedEventDetails"]["location"] == "Arguments"


def test_eval_is_refused_in_a_state() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "Output": {"x": "{% $eval('1') %}"}, "End": True}}})
    assert r.error == "States.QueryEvaluationError"
    assert r.cause is not None and r.cause.endswith("threw an error during evaluation. T1006: Attempted to invoke a non-function")


def test_choice_condition_must_be_boolean() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n %}", "Next": "E"}], "Default": "E"},
        "E": {"Type": "Succeed"}}}, {"n": 1})
    assert r.error == "States.QueryEvaluationError"
    assert "Expected 'boolean', but was 'number' for value: 1" in (r.cause or "")


def test_assigned_variables_in_history_and_size_limit() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
        "Type": "Pass", "Assign": {"x": "{% [1, 2] %}"}, "End": True}}})
    exited = next(e for e in r.history if e["type"] == "PassStateExited")
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"x": "[1,2]"}
    big = run_def({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
        "Type": "Pass", "Assign": {"x": "{% $pad('', 300000, 'x') %}"}, "End": True}}})
    assert big.error == "States.DataLimitExceeded"


def test_distributed_map_does_not_see_outer_variables() -> None:
    r = run_def({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "M"},
        "M": {"Type": "Map", "Items": [1], "End": True, "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $exists($outer) %}", "End": True}}}}}})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value == [False]


# -- validation of variables ----------------------------------------------------------------------------------------
def _codes(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(x.code, x.pointer) for x in validate(definition)]


def test_validator_warns_on_unassigned_references() -> None:
    d = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
        "Type": "Pass", "Output": {"a": "{% $nope %}", "b": "{% ($y := 1; $y) %}", "c": "{% $map([1], function($v){$v}) %}"},
        "End": True}}}
    assert _codes(d) == [(UNDEFINED_VARIABLE, "/States/A/Output/a")]
    keep = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
                                        "B": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": True}}}
    assert _codes(keep) == []
    broken = {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"x.$": "$x", "f.$": "States.Format('{}', $z)"},
                                               "End": True}}}
    assert _codes(broken) == [(UNDEFINED_VARIABLE, "/States/B/Parameters/x.$"), (UNDEFINED_VARIABLE, "/States/B/Parameters/f.$")]


def test_validator_warns_when_an_inner_scope_shadows_an_outer_variable() -> None:
    d = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "P"},
        "P": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "In", "States": {"In": {"Type": "Pass", "Assign": {"x": 2, "y": 3}, "End": True}}}]}}}
    assert _codes(d) == [(VARIABLE_SHADOWED, "/States/P/Branches/0/States/In/Assign/x")]


def test_validator_warns_on_jsonata_operators_aws_lacks() -> None:
    d = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
        "Type": "Pass", "Output": {"a": "{% $states.input.x ?? 1 %}", "b": "{% $states.input.x ?: 2 %}",
                                   "c": "{% $states.input.x ? 'a ?? b' : 3 %}"}, "End": True}}}
    assert _codes(d) == [(JSONATA_NOT_ON_AWS, "/States/A/Output/a"), (JSONATA_NOT_ON_AWS, "/States/A/Output/b")]


def child_env(**kw: Any) -> Environment:
    """An environment whose evaluations all go to the child process."""
    return Environment(first_try=0, **kw)


def test_the_child_speaks_utf8_whatever_the_locale() -> None:
    script = ("from asl.jsonata import Environment, ENVIRONMENT, compile_expression\n"
              "ENVIRONMENT.set(Environment(first_try=0))\n"
              "print(ascii(compile_expression(\"{% $length('日本') + $count([1..10]) & $uppercase('é') %}\").evaluate({})))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONIOENCODING": "latin-1"}, encoding="utf-8")
    assert out.stdout.strip() == ascii("12É")


def test_a_child_that_cannot_run_is_not_called_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from asl import jsonata_sandbox

    monkeypatch.setattr(jsonata_sandbox, "_IDLE", [])
    monkeypatch.setattr(sys, "executable", "/bin/false")  # an embedded interpreter, a frozen app: no Python to run
    with pytest.raises(JsonataEvaluationError) as err:
        ev("{% 1 + 1 %}", env=child_env())
    assert "memory" not in err.value.message and "failed" in err.value.message


def test_an_answer_too_large_to_send_back_is_an_error() -> None:
    with pytest.raises(JsonataEvaluationError) as err:
        ev("{% [1..10].$pad('', 2000000, 'x') %}", env=child_env())  # 20 MB of strings
    assert err.value.message == "The result is larger than 16 MiB"
