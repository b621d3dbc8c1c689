"""The interpreter: data flow, Retry and Catch on the virtual clock, tasks, history ids, and the project's cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from asl.conformance import case_files, run_case
from asl.interpreter import ExecutionOptions, TaskFailed, VirtualClock, run
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
