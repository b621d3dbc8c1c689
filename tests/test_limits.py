"""Bounded work on bad input, at every place JSON enters: definitions, execution inputs, task results, callback
outputs, TestState, intrinsic functions and the command line. Each case was a RecursionError, a traceback, a 500 or
gigabytes of memory before; now it is a diagnostic, an API error or a States error."""

from __future__ import annotations

import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import asl
from asl.cli import main
from asl.interpreter import ExecutionOptions, run
from asl.jsontext import MAX_DEPTH
from asl.model import load
from asl.service import ServiceError, StepFunctions
from asl.store import MemoryStore
from asl.teststate import TestStateError, test_state
from asl.validate import MAX_NESTING


def nested_text(depth: int) -> str:
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


def nested_value(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_states(levels: int, kind: str = "Parallel") -> dict[str, Any]:
    block: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    for i in range(levels):
        state: dict[str, Any] = {"Type": kind, "End": True}
        if kind == "Parallel":
            state["Branches"] = [block]
        else:
            state["ItemProcessor"] = block
        block = {"StartAt": f"N{i}", "States": {f"N{i}": state}}
    return block


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


# -- definitions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_text", [True, False])
def test_a_definition_nested_too_deeply_is_one_diagnostic(as_text: bool) -> None:
    definition = nested_states(200)  # 803 levels of JSON
    text = json.dumps(definition)
    diags = asl.validate(text if as_text else definition)
    assert [d.code for d in diags] == ["TOO_DEEPLY_NESTED"]
    assert f"the maximum is {MAX_DEPTH}" in diags[0].message
    if as_text:  # the line and column of the bracket that opens level 257 (no string here holds a bracket)
        level, at = 0, 0
        while level <= MAX_DEPTH:
            level += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[at], 0)
            at += 1
        assert (diags[0].line, diags[0].column) == (1, at)


@pytest.mark.parametrize("kind", ["Parallel", "Map"])
def test_parallel_and_map_nest_up_to_the_limit(kind: str) -> None:
    assert asl.validate(nested_states(MAX_NESTING, kind)) == []
    diags = asl.validate(nested_states(MAX_NESTING + 1, kind))
    assert [d.code for d in diags] == ["TOO_DEEPLY_NESTED"]
    key = "Branches/0" if kind == "Parallel" else "ItemProcessor"
    assert diags[0].pointer == "".join(f"/States/N{i}/{key}" for i in range(MAX_NESTING, 0, -1)) + "/States/N0"


def test_the_deepest_allowed_nesting_validates_and_runs_with_the_deepest_input_in_a_thread() -> None:
    machine = load(nested_states(MAX_NESTING))
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(run(machine, json.dumps(nested_value(MAX_DEPTH)))))
    worker.start()
    worker.join()
    assert results[0].status == "SUCCEEDED"


def test_a_lone_surrogate_in_a_definition_is_a_diagnostic() -> None:
    diags = asl.validate('{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "\\ud800", "End": true}}}')
    assert [d.code for d in diags] == ["INVALID_JSON_DESCRIPTION"]
    assert "lone surrogate" in diags[0].message


def test_duplicate_keys_deep_in_a_definition_are_found_without_recursion() -> None:
    inner = '{"a": 1, "a": 2}'
    text = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "X", "End": True}}})
    text = text.replace('"X"', "[" * 250 + inner + "]" * 250)
    diags = asl.validate(text)
    assert [d.code for d in diags] == ["DUPLICATE_KEY"]
    assert diags[0].pointer == "/States/P/Result" + "/0" * 250 + "/a"


# -- executions ----------------------------------------------------------------------------------------------------
def test_an_input_nested_too_deeply_is_refused_before_the_run() -> None:
    with pytest.raises(ValueError, match="The execution input is nested too deeply: 5000 levels"):
        run(load(PASS), nested_text(5000))


def test_a_value_made_too_deep_inside_an_execution_fails_it_with_states_runtime() -> None:
    # Each turn wraps the state's input in one more object: the value outgrows what Python can walk.
    machine = load({"StartAt": "Wrap", "States": {
        "Wrap": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "p.$": "$"}, "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 5000, "Next": "Wrap"}],
                 "Default": "Done"},
        "Done": {"Type": "Succeed"}}})
    result = run(machine, '{"n": 0}')
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause.startswith("An error occurred while executing the state 'Wrap'")
    assert result.cause.endswith(f"nested too deeply to be processed: more than {MAX_DEPTH} levels of arrays and objects")
    assert result.history[-1]["type"] == "ExecutionFailed"


TASK = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}}


@pytest.mark.parametrize(("result", "cause"), [
    (nested_value(MAX_DEPTH + 1), f"The task result is nested too deeply: {MAX_DEPTH + 1} levels"),
    (nested_value(5000), "The task returned a value nested too deeply"),
    ({"s": "\ud800"}, "The task returned a string that is not valid Unicode: a lone surrogate ('\\ud800')"),
])
def test_a_task_result_outside_the_limits_fails_the_task_with_states_runtime(result: Any, cause: str) -> None:
    opts = ExecutionOptions(tasks={"arn:aws:states:::lambda:invoke": lambda value, ctx: result})
    out = run(load(TASK), "{}", opts)
    assert (out.status, out.error) == ("FAILED", "States.Runtime")
    assert cause in (out.cause or "")


def intrinsic(expression: str, value: Any) -> Any:
    machine = load({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}}})
    return run(machine, json.dumps({"x": value}))


def test_string_to_json_of_a_text_nested_too_deeply_is_an_intrinsic_failure() -> None:
    out = intrinsic("States.StringToJson($.x)", nested_text(5000))
    assert (out.status, out.error) == ("FAILED", "States.IntrinsicFailure")
    assert out.cause == f"The argument of States.StringToJson is nested too deeply: 5000 levels; the maximum is {MAX_DEPTH}"
    out = intrinsic("States.StringToJson($.x)", '"\\ud800"')
    assert (out.status, out.error) == ("FAILED", "States.IntrinsicFailure")


def test_array_range_is_counted_before_it_is_built() -> None:
    tracemalloc.start()
    try:
        out = intrinsic("States.ArrayRange(1, 100000000, 1)", None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (out.status, out.error) == ("FAILED", "States.IntrinsicFailure")
    assert out.cause == "States.ArrayRange would create 100000000 elements; the maximum is 1000"
    assert peak < 20 * 1024 * 1024  # was 3.85 GB


def test_jsonata_range_and_parse_are_bounded_too() -> None:
    def jsonata(expression: str) -> Any:
        machine = load({"QueryLanguage": "JSONata", "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "Output": expression, "End": True}}})
        return run(machine, json.dumps({"deep": nested_text(5000)}))

    tracemalloc.start()
    try:
        out = jsonata("{% $range(1, 100000000) %}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (out.status, out.error) == ("FAILED", "States.QueryEvaluationError") and peak < 20 * 1024 * 1024
    out = jsonata("{% $parse($states.input.deep) %}")
    assert (out.status, out.error) == ("FAILED", "States.QueryEvaluationError")
    assert "nested too deeply: 5000 levels" in (out.cause or "")


# -- the service ---------------------------------------------------------------------------------------------------
@pytest.fixture
def sfn() -> StepFunctions:
    service = StepFunctions(MemoryStore())
    service.create_state_machine(name="m", definition=json.dumps(PASS), roleArn="arn:aws:iam::123456789012:role/r")
    return service


@pytest.mark.parametrize(("text", "message"), [
    (nested_text(1000), "Invalid State Machine Execution Input: 'The JSON text is nested too deeply: 1000 levels; "
                        f"the maximum is {MAX_DEPTH}'"),
    ('{"a": "\\ud800"}', "Invalid State Machine Execution Input: 'The JSON text holds a string that is not valid "
                         "Unicode: a lone surrogate ('\\ud800') at character 0'"),
])
def test_start_execution_refuses_inputs_outside_the_limits(sfn: StepFunctions, text: str, message: str) -> None:
    arn = sfn._arn("stateMachine", "m")
    with pytest.raises(ServiceError) as err:
        sfn.call("StartExecution", {"stateMachineArn": arn, "input": text})
    assert (err.value.code, err.value.message) == ("InvalidExecutionInput", message)
    assert sfn.store.list_executions() == []


def test_send_task_success_refuses_an_output_nested_too_deeply(sfn: StepFunctions) -> None:
    with pytest.raises(ServiceError) as err:
        sfn.send_task_success(taskToken="t", output=nested_text(1000))
    assert err.value.code == "InvalidOutput" and "nested too deeply" in err.value.message


@pytest.mark.parametrize(("field", "code"), [("input", "InvalidExecutionInput"), ("variables", "ValidationException"),
                                             ("context", "ValidationException"), ("definition", "InvalidDefinition")])
def test_test_state_refuses_json_nested_too_deeply(field: str, code: str) -> None:
    request: dict[str, Any] = {"definition": json.dumps({"Type": "Pass", "End": True}), "input": "{}"}
    request[field] = "{\"a\": " + nested_text(1000) + "}"
    with pytest.raises(TestStateError) as err:
        test_state(request.pop("definition"), **{k: v for k, v in request.items()})
    assert err.value.code == code and "nested too deeply" in err.value.message


def test_test_state_refuses_a_deep_mocked_result() -> None:
    task = json.dumps({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True})
    with pytest.raises(TestStateError) as err:
        test_state(task, "{}", mock={"result": nested_text(1000)})
    assert err.value.code == "ValidationException" and "nested too deeply" in err.value.message


# -- the command line ----------------------------------------------------------------------------------------------
def test_the_cli_reports_deep_files_without_a_traceback(tmp_path: Path) -> None:
    machine = tmp_path / "pass.json"
    machine.write_text(json.dumps(PASS))
    deep_input = tmp_path / "input.json"
    deep_input.write_text(nested_text(5000))
    deep_machine = tmp_path / "deep.asl.json"
    deep_machine.write_text(json.dumps(nested_states(200)))
    runs = [(CliRunner().invoke(main, ["run", str(machine), "--input-file", str(deep_input)]), 2, "nested too deeply: 5000 levels"),
            (CliRunner().invoke(main, ["validate", str(deep_machine)]), 1, "TOO_DEEPLY_NESTED"),
            (CliRunner().invoke(main, ["run", str(deep_machine)]), 2, "TOO_DEEPLY_NESTED")]
    for r, status, text in runs:
        assert r.exit_code == status and text in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception


@pytest.mark.parametrize(("operation", "request_body"), [
    ("CreateStateMachine", {"name": "a\ud800", "definition": json.dumps(PASS), "roleArn": "arn:aws:iam::123456789012:role/r"}),
    ("CreateActivity", {"name": "ok", "tags": [{"key": "k", "value": "\udfff"}]}),
    ("StartExecution", {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m", "name": "\ud800"}),
    ("StartExecution", {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                        "input": '{"a": "\ud800"}'}),  # the character itself, not its escape
])
def test_a_lone_surrogate_in_any_request_string_is_a_serialization_error(sfn: StepFunctions, operation: str,
                                                                         request_body: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as err:
        sfn.call(operation, request_body)
    assert err.value.code == "SerializationException" and "lone surrogate" in err.value.message


def test_deep_mock_configurations_suites_and_config_files_are_errors_not_tracebacks(tmp_path: Path) -> None:
    machine = tmp_path / "pass.json"
    machine.write_text(json.dumps(PASS))
    deep = tmp_path / "deep.json"
    deep.write_text(nested_text(5000))
    toml = tmp_path / "asl.toml"
    toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    for args in (["run", str(machine), "--mock-config", str(deep), "--test-case", "x"],
                 ["test", "--definition", str(machine), "--mock-config", str(deep)],
                 ["test", str(deep)],
                 ["run", str(machine), "--config", str(toml)]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert "nested too deeply" in r.output, (args, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)


def _loop(iterations: int) -> dict[str, Any]:
    """1 + 2 + 4 events an iteration + 5: a history of 4 * iterations + 8 events."""
    return {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": iterations, "Next": "P"}],
              "Default": "Done"},
        "P": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "C"},
        "Done": {"Type": "Succeed"}}}


def test_the_history_holds_25000_events_and_the_last_may_only_be_the_end() -> None:
    """AWS: at 24,999 events the execution waits for the next; if event 25,000 is ExecutionSucceeded it succeeds,
    otherwise ExecutionFailed is event 25,000 (the developer guide's 'Avoid reaching the history quota')."""
    from asl.interpreter import ExecutionOptions, run
    from asl.model import load

    exact = run(load(_loop(6248)), '{"n": 0}')  # 4 * 6248 + 8 = 25,000 events
    assert exact.status == "SUCCEEDED" and len(exact.history) == 25_000
    over = run(load(_loop(6249)), '{"n": 0}')
    assert (over.status, over.error, over.cause) == \
        ("FAILED", "States.Runtime", "The execution reached the maximum number of history events (25000).")
    assert len(over.history) == 25_000 and over.history[-1]["type"] == "ExecutionFailed"
    assert over.history[-1]["previousEventId"] == 24_999
    express = run(load(_loop(6249)), '{"n": 0}', ExecutionOptions(machine_type="EXPRESS"))
    assert express.status == "SUCCEEDED"  # AWS keeps no history of an Express execution


def test_the_durable_engine_keeps_the_history_limit() -> None:
    from asl.service import StepFunctions
    from asl.store import MemoryStore

    sfn = StepFunctions(MemoryStore())
    sm = sfn.create_state_machine(name="loop", definition=json.dumps(_loop(6249)))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, input='{"n": 0}')["executionArn"]
    sfn.worker().run_until_idle()
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert len(sfn.store.events(arn)) == 25_000
