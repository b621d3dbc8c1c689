"""Parallel branches and Map iterations that run at once: overlapping time, the thread pool, MaxConcurrency,
determinism on the virtual clock, per-branch random streams, and AWS's Aborted events when a branch fails."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from asl.model import load
from asl.runtime import ExecutionOptions, RealClock, VirtualClock, run, sleep

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def execute(definition: dict[str, Any], value: Any = None, tasks: Any = None, **opts: Any) -> Any:
    opts.setdefault("clock", VirtualClock(T0))
    return run(load(definition), json.dumps(value if value is not None else {}),
               ExecutionOptions(tasks={ARN: tasks} if tasks is not None else {}, **opts))


def task_map(concurrency: int, **extra: Any) -> dict[str, Any]:
    return {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": concurrency, "End": True, **extra,
            "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "End": True}}}}}}


def times(result: Any) -> float:
    return float((result.history[-1]["timestamp"] - result.history[0]["timestamp"]).total_seconds())


def test_two_waits_in_parallel_branches_overlap_on_the_virtual_clock() -> None:
    waits = [{"StartAt": f"W{i}", "States": {f"W{i}": {"Type": "Wait", "Seconds": 10, "End": True}}} for i in range(2)]
    r = execute({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": waits, "End": True}}})
    assert r.status == "SUCCEEDED" and times(r) == 10.0  # one after another they took 20 s
    types = [e["type"] for e in r.history]
    assert types.index("WaitStateExited") > types.index("WaitStateEntered") + 1  # both entered before either left


def test_retry_delays_in_branches_overlap() -> None:
    def flaky(value: Any, context: Any) -> Any:
        if context["State"]["RetryCount"] == 0:
            raise RuntimeError("once")
        return value

    def retrying(i: int) -> dict[str, Any]:
        return {"StartAt": f"T{i}", "States": {f"T{i}": {"Type": "Task", "Resource": ARN, "End": True, "Retry": [
            {"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 30, "MaxAttempts": 1}]}}}

    r = execute({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [retrying(i) for i in range(3)],
                                                  "End": True}}}, tasks=flaky)
    assert r.status == "SUCCEEDED" and times(r) == 30.0


def test_map_iterations_run_at_once_up_to_max_concurrency() -> None:
    # every call waits at a barrier of 10: run one after another, or fewer than 10 at once, they would break it
    barrier = threading.Barrier(10, timeout=30)
    running, most = [0], [0]
    lock = threading.Lock()

    def meet(value: Any, context: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        barrier.wait()
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return value * 2

    r = execute(task_map(10), list(range(20)), meet, clock=RealClock())
    assert r.status == "SUCCEEDED" and json.loads(r.output) == [2 * i for i in range(20)]
    assert most[0] == 10


def test_a_map_waits_only_as_long_as_its_longest_wave_on_the_virtual_clock() -> None:
    def slow(value: Any, context: Any) -> Any:
        sleep(0.5)  # half a second of the execution's clock
        return value

    r = execute(task_map(10), list(range(20)), slow)
    assert r.status == "SUCCEEDED" and times(r) == 1.0  # two waves of ten
    r = execute(task_map(0), list(range(100)), slow)  # 0: AWS's inline limit, 40 at once
    assert times(r) == 1.5


def test_the_same_input_gives_the_same_history_whatever_the_thread_timing() -> None:
    def jittery(value: Any, context: Any) -> Any:
        time.sleep(random.random() * 0.01)  # real time, which must not show
        sleep(value % 3)  # virtual time, which does
        if value == 7:
            raise RuntimeError("seven")
        return value

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 4, "End": True, "ItemProcessor": {
            "StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": ARN, "End": True,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "U"}]},
                "U": {"Type": "Pass", "Parameters": {"u.$": "States.UUID()", "r.$": "States.MathRandom(0, 1000)"},
                      "End": True}}}}}},
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "Next": "T2"},
                                    "T2": {"Type": "Task", "Resource": ARN, "InputPath": "$[0]", "End": True}}}]}}}
    digests = set()
    for _ in range(4):
        r = execute(definition, list(range(10)), jittery, rng=random.Random(1), uuid4=lambda: "fixed",
                    execution_name="e")
        assert r.status == "SUCCEEDED"
        digests.add(hashlib.sha256(json.dumps(r.history, default=str).encode()).hexdigest())
    assert len(digests) == 1


def test_each_branch_draws_its_own_random_stream() -> None:
    def wait_then_draw(i: int) -> dict[str, Any]:
        return {"StartAt": f"W{i}", "States": {
            f"W{i}": {"Type": "Wait", "Seconds": 1, "Next": f"D{i}"},
            f"D{i}": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% [$random(), $uuid()] %}", "End": True}}}

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [wait_then_draw(i) for i in range(2)],
                                                   "End": True}}}
    first = json.loads(execute(definition, rng=random.Random(5)).output)
    again = json.loads(execute(definition, rng=random.Random(5)).output)
    assert first == again and first[0] != first[1]
    other = json.loads(execute(definition, rng=random.Random(6)).output)
    assert other != first


def test_a_failed_iteration_aborts_the_ones_still_running_as_aws_records_it() -> None:
    def work(value: Any, context: Any) -> Any:
        sleep(1 if value == 0 else 10)
        if value == 0:
            raise RuntimeError("zero")
        return value

    r = execute(task_map(0), [0, 1, 2], work)
    assert (r.status, r.error) == ("FAILED", "RuntimeError")
    events = [(e["type"], e.get("mapIterationFailedEventDetails", e.get("mapIterationAbortedEventDetails", {})).get("index"))
              for e in r.history]
    tail = events[events.index(("LambdaFunctionFailed", None)):]
    assert tail == [("LambdaFunctionFailed", None), ("MapIterationFailed", 0), ("TaskStateAborted", None),
                    ("MapIterationAborted", 1), ("TaskStateAborted", None), ("MapIterationAborted", 2),
                    ("TaskStateAborted", None), ("MapStateFailed", None), ("ExecutionFailed", None)]
    failed = next(e["id"] for e in r.history if e["type"] == "LambdaFunctionFailed")
    assert all(e["previousEventId"] == failed for e in r.history if e["type"].endswith("Aborted"))
    assert times(r) == 1.0  # the others did not run their 10 s


def test_tolerated_failures_are_counted_across_iterations_that_run_at_once() -> None:
    def odd_fails(value: Any, context: Any) -> Any:
        if value % 2:
            raise RuntimeError("odd")
        return value

    r = execute(task_map(5, ToleratedFailureCount=5), list(range(10)), odd_fails)
    assert r.status == "SUCCEEDED"
    assert json.loads(r.output) == [0, None, 2, None, 4, None, 6, None, 8, None]
    r = execute(task_map(5, ToleratedFailureCount=4), list(range(10)), odd_fails)
    assert (r.status, r.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_a_failing_parallel_branch_stops_the_others_and_a_catcher_takes_the_error() -> None:
    def fails_fast(value: Any, context: Any) -> Any:
        raise RuntimeError("first")

    slow = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    fast = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN, "End": True}}}
    r = execute({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [slow, fast], "Next": "Done",
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}}, tasks=fails_fast)
    assert r.status == "SUCCEEDED" and json.loads(r.output)["error"]["Error"] == "RuntimeError"
    types = [e["type"] for e in r.history]
    assert types[types.index("LambdaFunctionFailed") + 1:types.index("ParallelStateExited")] == [
        "TaskStateAborted", "WaitStateAborted", "ParallelStateFailed"]
    assert times(r) == 0.0  # the 60 s Wait was stopped


def index_of(e: dict[str, Any]) -> Any:
    details = next((v for k, v in e.items() if k.startswith("mapIteration")), {})
    return details.get("index")


def waiting_map(concurrency: int, **extra: Any) -> dict[str, Any]:
    """Iterations that wait 1 s; the item 1 then fails."""
    return {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": concurrency, "Next": "Done", **extra,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
            "ItemProcessor": {"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 1, "Next": "C"},
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "F"}],
                      "Default": "OK"},
                "F": {"Type": "Fail", "Error": "Bad"}, "OK": {"Type": "Pass", "End": True}}}},
            "Done": {"Type": "Pass", "End": True}}}


def test_an_iteration_that_ended_as_another_failed_is_recorded_as_succeeded() -> None:
    r = execute(waiting_map(0), [0, 1, 2])  # all three end their Wait at 1 s; the item 1 fails
    marks = [(e["type"], index_of(e)) for e in r.history if e["type"].startswith("MapIteration")]
    assert ("MapIterationSucceeded", 0) in marks and ("MapIterationFailed", 1) in marks
    assert not any(kind == "MapIterationAborted" and index in (0, 2) for kind, index in marks if
                   ("MapIterationSucceeded", index) in marks)
    for e in r.history:  # an iteration records its success as it ends, right after its last state
        if e["type"] == "MapIterationSucceeded":
            before = next(x for x in r.history if x["id"] == e["previousEventId"])
            assert before["type"] == "PassStateExited" and e["id"] == before["id"] + 1


def test_an_iteration_stopped_before_it_started_is_aborted_and_the_catcher_runs() -> None:
    r = execute(waiting_map(2), [0, 1, 2])  # the item 2 starts as the item 0 ends, when the item 1 fails
    assert r.status == "SUCCEEDED" and json.loads(r.output)["Error"] == "Bad"
    marks = [(e["type"], index_of(e)) for e in r.history if e["type"].startswith("MapIteration")]
    assert marks[-2:] == [("MapIterationFailed", 1), ("MapIterationAborted", 2)]
    started_2 = next(e["id"] for e in r.history if (e["type"], index_of(e)) == ("MapIterationStarted", 2))
    assert not any(e["previousEventId"] == started_2 for e in r.history)  # nothing of it ran


def test_a_map_that_fails_itself_stops_the_iterations_still_running() -> None:
    definition = {"StartAt": "M", "QueryLanguage": "JSONata", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 2, "ItemSelector": "{% {'v': $states.context.Map.Item.Value.w + 0} %}",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}], "Next": "After",
        "ItemProcessor": {"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": "{% $states.input.v %}", "Next": "P"}, "P": {"Type": "Pass", "End": True}}}},
        "After": {"Type": "Wait", "Seconds": 100, "End": True}}}
    r = execute(definition, [{"w": 1}, {"w": 50}, {"w": "x"}])  # the third item's ItemSelector fails at 1 s
    types = [e["type"] for e in r.history]
    assert r.status == "SUCCEEDED" and types.count("PassStateEntered") == 1  # the 50 s iteration never went on
    failed = types.index("EvaluationFailed")
    assert types[failed:failed + 4] == ["EvaluationFailed", "MapIterationAborted", "WaitStateAborted", "MapStateFailed"]


STOPPED_TASK = """
import time
def slow(value, context):
    time.sleep(60)
    return value
def fail(value, context):
    raise RuntimeError("at once")
"""


def test_a_task_of_a_stopped_branch_does_not_keep_asl_run_from_exiting(tmp_path: Any) -> None:
    import subprocess
    import sys

    (tmp_path / "tasks.py").write_text(STOPPED_TASK)
    branch = lambda name: {"StartAt": name, "States": {name: {"Type": "Task", "Resource": ARN + name, "End": True}}}  # noqa: E731
    (tmp_path / "m.json").write_text(json.dumps({"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "End": True, "Branches": [branch("slow"), branch("fail")]}}}))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "asl", "run", str(tmp_path / "m.json"), "--real-time",
                           "--task", f"{ARN}slow={tmp_path / 'tasks.py'}:slow",
                           "--task", f"{ARN}fail={tmp_path / 'tasks.py'}:fail"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "RuntimeError" in done.stderr
    assert time.monotonic() - start < 30  # not the 60 s the stopped task sleeps


def test_a_map_that_runs_no_task_stays_on_the_callers_stack() -> None:
    from asl.runtime.scheduler import Scheduler

    made = []
    original = Scheduler.spawn

    def spy(self: Any, *args: Any) -> Any:
        made.append(1)
        return original(self, *args)

    Scheduler.spawn = spy  # type: ignore[method-assign]
    try:
        r = execute({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}, list(range(100)))
    finally:
        Scheduler.spawn = original  # type: ignore[method-assign]
    assert r.status == "SUCCEEDED" and made == []


@pytest.mark.parametrize("clock", [VirtualClock(T0), RealClock()])
def test_task_timeouts_run_per_branch(clock: Any) -> None:
    def hang(value: Any, context: Any) -> Any:
        if value == 1:
            if isinstance(clock, RealClock):
                time.sleep(3)
            else:
                sleep(3)
        return value

    definition = task_map(0)
    definition["States"]["M"]["ItemProcessor"]["States"]["T"]["TimeoutSeconds"] = 1
    definition["States"]["M"]["ItemProcessor"]["States"]["T"]["Catch"] = [
        {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Late"}]
    definition["States"]["M"]["ItemProcessor"]["States"]["Late"] = {"Type": "Pass", "Result": "late", "End": True}
    r = execute(definition, [0, 1, 2], hang, clock=clock)
    assert r.status == "SUCCEEDED" and json.loads(r.output) == [0, "late", 2]
