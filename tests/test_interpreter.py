"""The interpreter: data flow, Retry and Catch on the virtual clock, tasks, history ids, and the project's cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from asl.conformance import case_files, run_case
from asl.interpreter import ExecutionOptions, RealClock, TaskFailed, VirtualClock, run, sleep
from asl.model import load

from .conftest import ROOT

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def execute(defn: dict[str, Any], inp: Any = None, **opts: Any) -> Any:
    clock = opts.pop("clock", VirtualClock(T0))
    return run(load(defn), None if inp is None else json.dumps(inp), ExecutionOptions(clock=clock, **opts))


ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def test_retry_backoff_on_virtual_clock_then_catch() -> None:
    calls: list[datetime] = []
    clock = VirtualClock(T0)

    def flaky(event: Any, ctx: Any) -> Any:
        calls.append(clock.now())
        raise TaskFailed("Flaky", "try again")

    defn = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": ARN, "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3,
                                                          "MaxAttempts": 3, "MaxDelaySeconds": 10}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "H"}], "End": True},
        "H": {"Type": "Pass", "End": True}}}
    r = execute(defn, {"a": 1}, tasks={ARN: flaky}, clock=clock)
    assert r.status == "SUCCEEDED"
    assert r.output_value == {"a": 1, "err": {"Error": "Flaky", "Cause": "try again"}}
    # waits of 2, 6 and min(18, 10) seconds, and no real time spent
    assert [(c - T0).total_seconds() for c in calls] == [0, 2, 8, 18]
    types = [e["type"] for e in r.history]
    assert types.count("LambdaFunctionFailed") == 4 and types[-3:] == ["PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_retry_counters_per_retrier() -> None:
    errors = iter(["A", "B", "A", "A"])
    seen = []

    def fn(event: Any, ctx: Any) -> Any:
        seen.append(ctx["State"]["RetryCount"])
        raise TaskFailed(next(errors))

    defn = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "End": True, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2}, {"ErrorEquals": ["B"], "MaxAttempts": 1}]}}}
    r = execute(defn, tasks={ARN: fn})
    assert (r.status, r.error) == ("FAILED", "A")
    assert seen == [0, 1, 2, 3]


def test_task_exception_becomes_error_and_runtime_is_not_caught() -> None:
    def boom(event: Any, ctx: Any) -> Any:
        raise ValueError("bad value")

    defn = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "End": True,
                                             "Catch": [{"ErrorEquals": ["ValueError"], "Next": "H"}]}, "H": {"Type": "Pass", "End": True}}}
    assert execute(defn, tasks={ARN: boom}).output_value == {"Error": "ValueError", "Cause": "bad value"}
    defn2 = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "End": True, "OutputPath": "$.nope",
                                              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}, "H": {"Type": "Pass", "End": True}}}
    r = execute(defn2, tasks={ARN: lambda e, c: {"x": 1}})
    assert (r.status, r.error) == ("FAILED", "States.Runtime")
    assert [e["type"] for e in r.history][-1] == "ExecutionFailed"


def test_history_ids_and_previous_ids() -> None:
    defn = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "M"}, "M": {"Type": "Map", "End": True,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}}}
    r = execute(defn, [1, 2])
    got = [(e["id"], e["previousEventId"], e["type"]) for e in r.history]
    assert got == [(1, 0, "ExecutionStarted"), (2, 0, "PassStateEntered"), (3, 2, "PassStateExited"),
                   (4, 3, "MapStateEntered"), (5, 4, "MapStateStarted"), (6, 5, "MapIterationStarted"),
                   (7, 6, "PassStateEntered"), (8, 7, "PassStateExited"), (9, 8, "MapIterationSucceeded"),
                   (10, 8, "MapIterationStarted"), (11, 10, "PassStateEntered"), (12, 11, "PassStateExited"),
                   (13, 12, "MapIterationSucceeded"), (14, 13, "MapStateSucceeded"), (15, 13, "MapStateExited"),
                   (16, 15, "ExecutionSucceeded")]


def slow(value: Any, ctx: Any) -> Any:
    sleep(value["takes"])
    return {"done": value["takes"]}


SERVICE = "arn:aws:states:::lambda:invoke"


def test_task_timeout_on_virtual_time_with_path_and_retry() -> None:
    defn = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": SERVICE, "TimeoutSecondsPath": "$.limit", "Parameters": {"takes.$": "$.takes"},
        "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1}], "End": True}}}
    r = execute(defn, {"limit": 5, "takes": 10}, tasks={SERVICE: slow})
    assert (r.status, r.error, r.cause) == ("FAILED", "States.Timeout", None)
    types = [e["type"] for e in r.history]
    assert types.count("TaskTimedOut") == 2 and types[-1] == "ExecutionFailed"
    scheduled = next(e for e in r.history if e["type"] == "TaskScheduled")
    assert scheduled["taskScheduledEventDetails"]["timeoutInSeconds"] == 5
    timed_out = next(e for e in r.history if e["type"] == "TaskTimedOut")
    assert timed_out["taskTimedOutEventDetails"] == {"error": "States.Timeout", "resource": "invoke", "resourceType": "lambda"}
    ok = execute(defn, {"limit": 5, "takes": 3}, tasks={SERVICE: slow})
    assert ok.output_value == {"done": 3}


def test_task_timeout_is_not_task_failed_and_lambda_events() -> None:
    defn = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": ARN, "TimeoutSeconds": 1, "End": True,
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"}, {"ErrorEquals": ["States.Timeout"], "Next": "Right"}]},
        "Wrong": {"Type": "Fail", "Error": "Wrong"}, "Right": {"Type": "Succeed"}}}
    r = execute(defn, {"takes": 2}, tasks={ARN: slow})
    assert r.status == "SUCCEEDED" and r.output_value["Error"] == "States.Timeout"
    assert any(e["type"] == "LambdaFunctionTimedOut" for e in r.history)


def test_task_timeout_on_real_clock_abandons_the_callable() -> None:
    defn = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "TimeoutSeconds": 1, "End": True}}}
    r = execute(defn, {"takes": 30}, tasks={ARN: slow}, clock=RealClock())
    assert r.error == "States.Timeout"
    fast = execute(defn, {"takes": 0}, tasks={ARN: slow}, clock=RealClock())
    assert fast.output_value == {"done": 0}


def test_bad_timeout_values() -> None:
    defn = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "TimeoutSecondsPath": "$.t", "End": True}}}
    r = execute(defn, {"t": "soon"}, tasks={ARN: slow})
    assert r.error == "States.Runtime" and "not a valid integer" in (r.cause or "")
    r = execute(defn, {"t": 0}, tasks={ARN: slow})
    assert r.error == "States.Runtime" and "positive integer" in (r.cause or "")
    jsonata = {"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": ARN, "TimeoutSeconds": "{% $states.input.t %}", "End": True}}}
    r = execute(jsonata, {"t": "x"}, tasks={ARN: slow})
    assert r.error == "States.QueryEvaluationError" and "Expected 'integer', but was 'string'" in (r.cause or "")


def test_wait_and_execution_timeout() -> None:
    defn = {"StartAt": "W", "TimeoutSeconds": 10, "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    r = execute(defn)
    assert (r.status, r.error) == ("TIMED_OUT", "States.Timeout")
    assert r.history[-1]["type"] == "ExecutionTimedOut"


def test_input_values_are_not_mutated() -> None:
    inp = {"a": {"b": 1}}
    defn = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "ResultPath": "$.a.c", "End": True}}}
    m = load(defn)
    r = run(m, json.dumps(inp))
    assert r.output_value == {"a": {"b": 1, "c": 2}}
    r2 = run(m, json.dumps(inp))
    assert r2.output_value == r.output_value


OWN_CASES = list(case_files([ROOT / "conformance"]))


@pytest.mark.parametrize("path", OWN_CASES, ids=[str(p.relative_to(ROOT)) for p in OWN_CASES])
def test_own_conformance_case(path: Path) -> None:
    v = run_case(path)
    assert v.skipped or v.passed, "\n".join(v.diffs)


def test_own_cases_exist() -> None:
    assert sum(1 for p in OWN_CASES if not run_case(p).skipped) >= 15


def test_the_runner_compares_what_a_recording_marks_as_skipped(tmp_path: Path) -> None:
    """A recording's skip_snapshot_verify_paths name what LocalStack got wrong, not what AWS varies in: a cause
    that differs fails the case even when the recording lists ``$..cause``; only the SDK's metadata is blanked,
    and its presence still counts."""
    def case(expected: dict[str, Any], definition: dict[str, Any]) -> Path:
        path = tmp_path / f"case{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps({"definition": definition, "input": {}, "expected": expected,
                                    "skip_snapshot_verify_paths": ["$..cause", "$..Cause", "$..SdkHttpMetadata"]}))
        return path

    fail = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "ours"}}}
    assert not run_case(case({"status": "FAILED", "error": "E", "cause": "AWS's"}, fail)).passed
    assert run_case(case({"status": "FAILED", "error": "E", "cause": "ours"}, fail)).passed
    metadata = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"SdkHttpMetadata": {"Date": "now"}},
                                                 "End": True}}}
    assert run_case(case({"status": "SUCCEEDED", "output": {"SdkHttpMetadata": {"Date": "then"}}}, metadata)).passed
    assert not run_case(case({"status": "SUCCEEDED", "output": {}}, metadata)).passed
    # the history is compared event by event, details and all (timestamps aside)
    passing = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    good = run_case(case({"status": "SUCCEEDED", "output": {}}, passing))
    recorded = [{**e, "timestamp": "timestamp"} for e in good.result.history]  # type: ignore[union-attr]
    path = case({"status": "SUCCEEDED", "output": {}}, passing)
    path.write_text(json.dumps({**json.loads(path.read_text()), "history": recorded}))
    assert run_case(path).passed
    recorded[2]["stateExitedEventDetails"] = {**recorded[2]["stateExitedEventDetails"], "output": '{"x":1}'}
    path.write_text(json.dumps({**json.loads(path.read_text()), "history": recorded}))
    verdict = run_case(path)
    assert not verdict.passed and "history event 3 (PassStateExited) differs at /stateExitedEventDetails/output" in verdict.diffs[0]


def test_history_texts_follow_a_task_that_changes_its_input_in_place() -> None:
    """The output text a state reuses from its size check must never be stale: a callable that mutates the value
    it was given and returns it shows its change in TaskStateExited and in the next state's input."""
    def stamp(value: Any, context: Any) -> Any:
        value["stamped"] = True
        return value

    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:stamp", "Next": "Q"},
        "Q": {"Type": "Pass", "End": True}}}
    r = run(load(definition), '{"a": 1}', ExecutionOptions(tasks={"arn:aws:lambda:us-east-1:123456789012:function:stamp": stamp}))
    texts = [(e["type"], (e.get("stateEnteredEventDetails") or e.get("stateExitedEventDetails") or {}).get("input")
              or (e.get("stateExitedEventDetails") or {}).get("output")) for e in r.history]
    assert ("TaskStateExited", '{"a":1,"stamped":true}') in texts
    assert ("PassStateEntered", '{"a":1,"stamped":true}') in texts
    assert json.loads(r.output or "") == {"a": 1, "stamped": True}


def test_a_task_result_with_a_reference_cycle_fails_the_task() -> None:
    """Values from user code are encoded with the cycle check; the fast encoder is only for values read from JSON."""
    def cyclic(value: Any, context: Any) -> Any:
        loop: dict[str, Any] = {}
        loop["self"] = loop
        return loop

    arn = "arn:aws:lambda:us-east-1:123456789012:function:cyclic"
    r = execute({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn, "End": True}}}, {}, tasks={arn: cyclic})
    assert (r.status, r.error) == ("FAILED", "States.Runtime")
    assert "not JSON: Circular reference detected" in (r.cause or "")


@pytest.mark.parametrize("size", [60_000, 70_000, 300_000])
def test_a_pass_state_without_fields_checks_the_payload_limit(size: int) -> None:
    """A field-less Pass takes the fast path (its output is its input) only while its text cannot be over the
    limit; a larger one goes through the size check, so a value over 256 KiB still fails the state."""
    defn = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}}}
    r = execute(defn, {"x": "é" * size})  # 2 bytes a character in UTF-8
    if 2 * size > 262144:
        assert (r.status, r.error) == ("FAILED", "States.DataLimitExceeded")
        assert r.cause == "The state/task 'P' returned a result with a size exceeding the maximum number of bytes service limit."
    else:
        assert r.status == "SUCCEEDED" and r.output_value == {"x": "é" * size}
        assert [e["type"] for e in r.history] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                                   "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]


def test_history_is_made_when_read_and_matches_the_log() -> None:
    defn = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Assign": {"v": 1}, "Next": "Q"}, "Q": {"Type": "Pass", "End": True}}}
    r = execute(defn, {"a": 1})
    assert r.history is r.history  # made once
    entered, exited = r.history[1], r.history[2]
    assert entered == {"id": 2, "previousEventId": 0, "timestamp": T0, "type": "PassStateEntered",
                       "stateEnteredEventDetails": {"name": "P", "input": '{"a":1}', "inputDetails": {"truncated": False}}}
    assert exited["stateExitedEventDetails"] == {"name": "P", "output": '{"a":1}', "outputDetails": {"truncated": False},
                                                 "assignedVariables": {"v": "1"}, "assignedVariablesDetails": {"truncated": False}}
    assert r.history[4]["stateExitedEventDetails"] == {"name": "Q", "output": '{"a":1}', "outputDetails": {"truncated": False}}


def test_a_task_with_credentials_records_the_role_it_assumes() -> None:
    """TaskScheduled / LambdaFunctionScheduled carry ``taskCredentials`` (the API's TaskCredentials) with the
    RoleArn the state gives, literal, by path, or by JSONata expression."""
    def handler(value: Any, context: Any) -> Any:
        return value

    role = "arn:aws:iam::111111111111:role/trusted"
    for ql, credentials in (("JSONPath", {"RoleArn": role}), ("JSONPath", {"RoleArn.$": "$.role"}),
                            ("JSONata", {"RoleArn": "{% $states.input.role %}"})):
        for resource, event in (("arn:aws:lambda:us-east-1:111111111111:function:f", "lambdaFunctionScheduledEventDetails"),
                                ("arn:aws:states:::lambda:invoke", "taskScheduledEventDetails")):
            machine = load({"QueryLanguage": ql, "StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": resource, "Credentials": credentials, "End": True}}})
            r = run(machine, json.dumps({"role": role}), ExecutionOptions(tasks={resource: handler}))
            assert r.status == "SUCCEEDED", (ql, resource, r.cause)
            scheduled = next(e for e in r.history if event in e)
            assert scheduled[event]["taskCredentials"] == {"roleArn": role}, (ql, resource)
    machine = load({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                                     "Credentials": {"RoleArn.$": "$.missing"}, "End": True}}})
    r = run(machine, "{}", ExecutionOptions(tasks={"arn:aws:states:::lambda:invoke": handler}))
    assert r.status == "FAILED" and r.error == "States.Runtime"


def test_a_task_token_nothing_can_answer_in_process() -> None:
    """``asl run`` / ``run()`` have no store to take a callback: a .waitForTaskToken task sends its request
    (TaskSubmitted, as on AWS), then times out on the execution's clock as an unanswered task does on AWS, or, with no
    TimeoutSeconds/HeartbeatSeconds, fails at once saying why, never succeeding with the request's own response."""
    resource = "arn:aws:states:::lambda:invoke.waitForTaskToken"
    sent: list[Any] = []

    def send(value: Any, context: Any) -> Any:
        sent.append(value)
        return {"StatusCode": 200}

    def machine(**task: Any) -> Any:
        return load({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": resource, "Parameters": {"FunctionName": "f", "Payload": {"t.$": "$$.Task.Token"}},
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}], "End": True, **task},
            "TimedOut": {"Type": "Pass", "End": True}}})

    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    r = run(machine(TimeoutSeconds=600), "{}", ExecutionOptions(tasks={resource: send}, clock=clock))
    types = [e["type"] for e in r.history]
    assert r.status == "SUCCEEDED" and types[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskTimedOut"]
    assert clock.now() == datetime(2026, 1, 1, 0, 10, tzinfo=UTC) and len(sent) == 1 and sent[0]["Payload"]["t"]
    r = run(machine(HeartbeatSeconds=60, TimeoutSeconds=600), "{}", ExecutionOptions(tasks={resource: send}))
    assert r.status == "SUCCEEDED" and "TaskTimedOut" in [e["type"] for e in r.history]
    r = run(machine(), "{}", ExecutionOptions(tasks={resource: send}))
    assert r.status == "FAILED" and r.error == "States.Runtime" and "waits for its task token" in (r.cause or "")
    assert "TaskSubmitted" in [e["type"] for e in r.history]
