"""RedriveExecution: a FAILED, ABORTED or TIMED_OUT execution goes on from the state it did not finish, with the
same ARN and input; what succeeded before is not run again; a Distributed Map there reruns only the children that
did not succeed. On every store backend, through the service (and the CLI)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asl.service import ServiceError, StepFunctions
from asl.store.base import Store

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


class Flaky:
    """A task that fails the first ``fails`` calls for each item it is given (``{"x": n}``), counting its calls."""

    def __init__(self, fails: int = 1, only_odd: bool = False):
        self.fails, self.only_odd = fails, only_odd
        self.calls: Counter[Any] = Counter()

    def __call__(self, value: Any, context: Any) -> Any:
        key = value.get("x") if isinstance(value, dict) else None
        self.calls[key] += 1
        if (not self.only_odd or (key or 0) % 2) and self.calls[key] <= self.fails:
            raise RuntimeError(f"attempt {self.calls[key]} fails")
        return {"done": key, "redrives": context["Execution"].get("RedriveCount")}


def machine(sfn: StepFunctions, definition: dict[str, Any], name: str = "m") -> str:
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition))["stateMachineArn"])


def types(sfn: StepFunctions, arn: str) -> list[str]:
    return [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]


COUNTED = {"StartAt": "First", "States": {
    "First": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:first", "Next": "T"},
    "T": {"Type": "Task", "Resource": FN, "Next": "C"},
    "C": {"Type": "Pass", "Parameters": {"count.$": "$$.Execution.RedriveCount", "result.$": "$"}, "End": True}}}


def test_a_failed_execution_goes_on_from_the_state_that_failed(store: Store) -> None:
    first: Counter[str] = Counter()
    flaky = Flaky()

    def once(value: Any, context: Any) -> Any:
        first["calls"] += 1
        return value

    sfn = StepFunctions(store, tasks={FN: flaky, "arn:aws:lambda:us-east-1:123456789012:function:first": once})
    ex = sfn.start_execution(stateMachineArn=machine(sfn, COUNTED), input='{"x": 7}')["executionArn"]
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["redriveStatus"], d["redriveCount"]) == ("FAILED", "REDRIVABLE", 0)
    assert "redriveStatusReason" not in d
    redriven = sfn.redrive_execution(executionArn=ex)
    assert set(redriven) == {"redriveDate"}
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    worker.run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED" and d["executionArn"] == ex
    assert json.loads(d["output"]) == {"count": 1, "result": {"done": 7, "redrives": 1}}
    assert (d["redriveCount"], d["redriveDate"]) == (1, redriven["redriveDate"])
    assert (d["redriveStatus"], d["redriveStatusReason"]) == ("NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven")
    assert first["calls"] == 1 and flaky.calls[7] == 2  # what succeeded is not run again; the failed Task is
    events = sfn.get_execution_history(executionArn=ex)["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    t = [e["type"] for e in events]
    at = t.index("ExecutionRedriven")
    assert t[at - 2:at + 5] == ["LambdaFunctionFailed", "ExecutionFailed", "ExecutionRedriven", "LambdaFunctionScheduled",
                                "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited"]
    assert events[at]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert events[at]["previousEventId"] == events[at - 1]["id"] and events[at + 1]["previousEventId"] == events[at]["id"]
    sm = d["stateMachineArn"]
    assert [e["redriveCount"] for e in sfn.list_executions(stateMachineArn=sm, redriveFilter="REDRIVEN")["executions"]] == [1]
    assert sfn.list_executions(stateMachineArn=sm, redriveFilter="NOT_REDRIVEN")["executions"] == []


def test_an_execution_redriven_twice_counts_its_redrives(store: Store) -> None:
    flaky = Flaky(fails=2)
    sfn = StepFunctions(store, tasks={FN: flaky, "arn:aws:lambda:us-east-1:123456789012:function:first": lambda v, c: v})
    ex = sfn.start_execution(stateMachineArn=machine(sfn, COUNTED), input='{"x": 1}')["executionArn"]
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()
    for _ in range(2):
        assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
        sfn.redrive_execution(executionArn=ex)
        worker.run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["count"] == 2 and d["redriveCount"] == 2
    assert types(sfn, ex).count("ExecutionRedriven") == 2 and flaky.calls[1] == 3


def test_an_aborted_execution_runs_its_unfinished_state_again(store: Store) -> None:
    sfn = StepFunctions(store)
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "P"},
        "P": {"Type": "Parallel", "Next": "B", "Branches": [
            {"StartAt": "W1", "States": {"W1": {"Type": "Wait", "Seconds": 1, "End": True}}},
            {"StartAt": "W2", "States": {"W2": {"Type": "Wait", "Seconds": 1, "End": True}}}]},
        "B": {"Type": "Pass", "End": True}}}
    ex = sfn.start_execution(stateMachineArn=machine(sfn, definition), input="{}")["executionArn"]
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()  # both branches park on their Waits
    sfn.stop_execution(executionArn=ex, error="Enough")
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["redriveStatus"]) == ("ABORTED", "REDRIVABLE")
    sfn.redrive_execution(executionArn=ex)
    worker.run_until_idle(timeout=20)
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == [{"a": 1}, {"a": 1}]
    t = types(sfn, ex)
    at = t.index("ExecutionRedriven")
    assert t[at - 1] == "ExecutionAborted" and t[at + 1] == "ParallelStateStarted"  # the whole Parallel runs again
    assert t.count("PassStateEntered") == 2 and t.count("WaitStateExited") == 2


def test_what_cannot_be_redriven(store: Store) -> None:
    sfn = StepFunctions(store)
    ok = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    waits = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}}, name="w"))
    sfn.worker(inline_wait=0).run_until_idle()
    for arn, status in ((ok["executionArn"], "SUCCEEDED"), (waits["executionArn"], "RUNNING")):
        with pytest.raises(ServiceError) as info:
            sfn.redrive_execution(executionArn=arn)
        assert info.value.code == "ExecutionNotRedrivable" and f"Execution is {status} and cannot be redriven" in info.value.message
    with pytest.raises(ServiceError) as info:
        sfn.redrive_execution(executionArn=ok["executionArn"] + "x")
    assert info.value.code == "ExecutionDoesNotExist"
    with pytest.raises(ServiceError) as info:
        sfn.redrive_execution(executionArn="arn:aws:states:us-east-1:123456789012:stateMachine:m")
    assert info.value.code == "InvalidArn"


DISTRIBUTED = {"StartAt": "M", "States": {
    "M": {"Type": "Map", "Label": "Run", "Next": "Done",
          "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "T",
                            "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}}},
    "Done": {"Type": "Pass", "End": True}}}


def test_a_redriven_map_run_reruns_only_the_children_that_did_not_succeed(store: Store) -> None:
    flaky = Flaky(only_odd=True)
    sfn = StepFunctions(store, tasks={FN: flaky})
    ex = sfn.start_execution(stateMachineArn=machine(sfn, DISTRIBUTED),
                             input=json.dumps([{"x": i} for i in range(6)]))["executionArn"]
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
    run = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    before = sfn.describe_map_run(mapRunArn=run)
    assert before["status"] == "FAILED" and before["executionCounts"]["succeeded"] >= 1
    kids = sfn.list_executions(mapRunArn=run)["executions"]
    failed = [k for k in kids if k["status"] != "SUCCEEDED"]
    with pytest.raises(ServiceError) as info:  # a child is redriven through its parent
        sfn.redrive_execution(executionArn=failed[0]["executionArn"])
    assert info.value.code == "ExecutionNotRedrivable"
    assert sfn.describe_execution(executionArn=failed[0]["executionArn"])["redriveStatus"] == "REDRIVABLE_BY_MAP_RUN"
    calls = sum(flaky.calls.values())
    sfn.redrive_execution(executionArn=ex)
    worker.run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED"
    assert [o["done"] for o in json.loads(d["output"])] == list(range(6))
    assert sum(flaky.calls.values()) == calls + len(failed)  # only the children that did not succeed ran again
    after = sfn.describe_map_run(mapRunArn=run)
    assert (after["status"], after["redriveCount"], after["executionCounts"]["succeeded"]) == ("SUCCEEDED", 1, 6)
    redriven = {k["executionArn"]: k["redriveCount"] for k in sfn.list_executions(mapRunArn=run)["executions"]}
    assert {a for a, n in redriven.items() if n} == {k["executionArn"] for k in failed if k["status"] == "FAILED"}
    t = types(sfn, ex)
    assert t[t.index("ExecutionRedriven"):t.index("MapRunSucceeded") + 1] == [
        "ExecutionRedriven", "MapStateStarted", "MapRunRedriven", "MapRunSucceeded"]
    details = sfn.get_execution_history(executionArn=ex)["events"][t.index("MapRunRedriven")]["mapRunRedrivenEventDetails"]
    assert details == {"mapRunArn": run, "redriveCount": 1}
    child = next(a for a, n in redriven.items() if n)
    ct = types(sfn, child)
    assert ct[ct.index("ExecutionRedriven") - 1] == "ExecutionFailed" and ct[-1] == "ExecutionSucceeded"


def test_the_cli_redrives(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asl.cli import main
    from asl.store import SQLiteStore

    where = str(tmp_path / "store.db")
    sfn = StepFunctions(SQLiteStore(where))
    # the Parallel fails on the first attempt; redriven, it runs again and its branch sees RedriveCount 1
    branch = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$$.Execution.RedriveCount", "NumericEquals": 0, "Next": "F"}],
              "Default": "P"},
        "F": {"Type": "Fail", "Error": "First"}, "P": {"Type": "Pass", "End": True}}}
    definition = {"StartAt": "Par", "States": {"Par": {"Type": "Parallel", "Branches": [branch], "End": True}}}
    ex = sfn.start_execution(stateMachineArn=machine(sfn, definition), name="once")["executionArn"]
    sfn.worker(inline_wait=0).run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
    result = CliRunner().invoke(main, ["redrive", "once", "--store", where])
    assert result.exit_code == 0 and "redriveDate" in json.loads(result.output)
    sfn.worker(inline_wait=0).run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"
    again = CliRunner().invoke(main, ["redrive", "once", "--store", where])
    assert again.exit_code == 1 and "ExecutionNotRedrivable" in again.output


def test_redrive_execution_through_boto3_against_the_server(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from asl.server import Server
    from asl.store import SQLiteStore

    flaky = Flaky()
    server = Server(StepFunctions(SQLiteStore(tmp_path / "store.db"), tasks={FN: flaky}), port=0, workers=1)
    server.start()
    try:
        host, port = server.httpd.server_address[:2]
        sfn = boto3.client("stepfunctions", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
        definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}}
        arn = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r",
                                       definition=json.dumps(definition))["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, input='{"x": 3}')["executionArn"]

        def ended() -> str:
            import time

            for _ in range(300):
                status = str(sfn.describe_execution(executionArn=ex)["status"])
                if status != "RUNNING":
                    return status
                time.sleep(0.05)
            raise AssertionError("still RUNNING")

        assert ended() == "FAILED"
        assert "redriveDate" in sfn.redrive_execution(executionArn=ex)
        assert ended() == "SUCCEEDED"
        d = sfn.describe_execution(executionArn=ex)
        assert json.loads(d["output"]) == {"done": 3, "redrives": 1} and d["redriveCount"] == 1
        with pytest.raises(ClientError) as info:
            sfn.redrive_execution(executionArn=ex)
        assert info.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    finally:
        server.stop()


def fail_then_redrive(sfn: StepFunctions, ex: str) -> dict[str, Any]:
    """Run the execution until it fails, redrive it, run it until it succeeds: its DescribeExecution."""
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle(timeout=20)
    assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=ex)
    worker.run_until_idle(timeout=20)
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED"
    return dict(d)


def task_branch(name: str, x: int) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: {"Type": "Task", "Resource": FN, "Parameters": {"x": x}, "End": True}}}


def test_a_redriven_parallel_reruns_only_the_branches_that_did_not_succeed(store: Store) -> None:
    flaky = Flaky(only_odd=True)
    sfn = StepFunctions(store, tasks={FN: flaky})
    late = task_branch("B", 1)  # fails once the other two have succeeded
    late["States"] = {"Later": {"Type": "Wait", "Seconds": 1, "Next": "B"}, **late["States"]}
    late["StartAt"] = "Later"
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        task_branch("A", 0), late, task_branch("C", 2)]}}}
    ex = sfn.start_execution(stateMachineArn=machine(sfn, definition))["executionArn"]
    d = fail_then_redrive(sfn, ex)
    assert [r["done"] for r in json.loads(d["output"])] == [0, 1, 2]
    assert (flaky.calls[0], flaky.calls[1], flaky.calls[2]) == (1, 2, 1)  # only the failed branch ran again
    t = types(sfn, ex)
    after = t[t.index("ExecutionRedriven"):]
    assert after[1] == "ParallelStateStarted" and after.count("TaskStateEntered") == 1
    assert after.count("WaitStateEntered") == 1  # the failed branch runs again from its start


@pytest.mark.parametrize("concurrency", [1, 0])
def test_a_redriven_inline_map_reruns_only_the_iterations_that_did_not_succeed(store: Store, concurrency: int) -> None:
    flaky = Flaky(only_odd=True)
    sfn = StepFunctions(store, tasks={FN: flaky})
    processor = {"StartAt": "C", "States": {  # item 1 fails, once the others have run (at once) or before them
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "Later"}], "Default": "T"},
        "Later": {"Type": "Wait", "Seconds": 1, "Next": "T"},
        "T": {"Type": "Task", "Resource": FN, "End": True}}}
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "MaxConcurrency": concurrency,
                                                   "ItemProcessor": processor}}}
    items = [0, 1, 2, 4, 6]
    ex = sfn.start_execution(stateMachineArn=machine(sfn, definition),
                             input=json.dumps([{"x": i} for i in items]))["executionArn"]
    d = fail_then_redrive(sfn, ex)
    assert [r["done"] for r in json.loads(d["output"])] == items
    assert dict(flaky.calls) == {0: 1, 1: 2, 2: 1, 4: 1, 6: 1}  # each item that succeeded ran once
    t = types(sfn, ex)
    rerun = [e["mapIterationStartedEventDetails"]["index"]
             for e in sfn.get_execution_history(executionArn=ex)["events"][t.index("ExecutionRedriven"):]
             if e["type"] == "MapIterationStarted"]
    assert rerun == ([1, 2, 3, 4] if concurrency == 1 else [1])  # in turn, those after the failure had not run


def test_rebuilding_a_branch_stopped_while_its_task_ran_does_not_run_the_task_again(store: Store) -> None:
    """Branch C's task was in flight when B failed: the history records C's TaskStateAborted, not its outcome. The
    rebuild after the redrive must wait for that stop, not call C's task again; then C runs once more (it did not
    succeed), A does not."""
    flaky = Flaky(only_odd=True)
    sfn = StepFunctions(store, tasks={FN: flaky})
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        task_branch("A", 0), task_branch("B", 1), task_branch("C", 2)]}}}
    ex = sfn.start_execution(stateMachineArn=machine(sfn, definition))["executionArn"]
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()
    t = types(sfn, ex)
    if t.count("LambdaFunctionStarted") != 3 or t.count("LambdaFunctionSucceeded") != 1:
        pytest.skip("C's task did not start before B failed in this run")  # the case this test is about
    time.sleep(0.2)  # C's call, stopped, still ran in its thread
    sfn.redrive_execution(executionArn=ex)
    worker.run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"
    assert (flaky.calls[0], flaky.calls[1], flaky.calls[2]) == (1, 2, 2)
