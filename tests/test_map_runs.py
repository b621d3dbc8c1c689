"""A Distributed Map under the durable engine: its STANDARD children are executions of their own, and its Map Run
is a record the API reads (DescribeMapRun, ListMapRuns, UpdateMapRun, ListExecutions by mapRunArn), on every store
backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asl.service import ServiceError, StepFunctions
from asl.store.base import Store

from .test_durable import TASK, WorkerProcess, check_log, kill_env, lines, wait_for

__all__ = ["kill_env"]  # the fixture, used by name


def distributed(states: dict[str, Any], start: str, **fields: Any) -> dict[str, Any]:
    """A definition whose one state is a Distributed Map of STANDARD children running ``states``."""
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "Label": "Run", **fields, "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": start, "States": states}}}}


PASS_ON = {"P": {"Type": "Pass", "Parameters": {"v.$": "$.x"}, "End": True}}
# a child that parks on a Wait (the worker sleeps in place for none of it: inline_wait=0)
WAITS = {"W": {"Type": "Wait", "Seconds": 1, "Next": "P"}, **PASS_ON}
FAILS_ON_ODD = {"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "F"},
                                                       {"Variable": "$.x", "NumericEquals": 3, "Next": "F"}],
                      "Default": "P"},
                "F": {"Type": "Fail", "Error": "Odd", "Cause": "an odd item"}, **PASS_ON}


def start(sfn: StepFunctions, definition: dict[str, Any], data: Any, name: str = "m") -> str:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition))["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=arn, input=json.dumps(data))["executionArn"])


def the_map_run(sfn: StepFunctions, execution: str) -> dict[str, Any]:
    runs = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    assert len(runs) == 1
    return sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])


def children(sfn: StepFunctions, map_run: str, status: str | None = None) -> list[dict[str, Any]]:
    return list(sfn.list_executions(mapRunArn=map_run, maxResults=1000,
                                    **({"statusFilter": status} if status else {}))["executions"])


def test_children_are_executions_with_histories_and_the_map_run_counts_them(store: Store) -> None:
    sfn = StepFunctions(store)
    echo = {"P": {"Type": "Pass", "End": True}}
    ex = start(sfn, distributed(echo, "P", ItemBatcher={"MaxItemsPerBatch": 2},
                                ItemSelector={"x.$": "$$.Map.Item.Value.n"}),
               [{"n": i} for i in range(5)])
    sfn.worker(inline_wait=0).run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == [{"Items": [{"x": 0}, {"x": 1}]}, {"Items": [{"x": 2}, {"x": 3}]},
                                       {"Items": [{"x": 4}]}]
    run = the_map_run(sfn, ex)
    assert run["status"] == "SUCCEEDED" and run["executionArn"] == ex and run["stopDate"] >= run["startDate"]
    assert run["mapRunArn"].startswith("arn:aws:states:us-east-1:123456789012:mapRun:m/Run:")
    assert run["itemCounts"]["succeeded"] == run["itemCounts"]["total"] == 5
    assert run["executionCounts"]["succeeded"] == run["executionCounts"]["total"] == 3
    kids = children(sfn, run["mapRunArn"])
    assert sorted(k["itemCount"] for k in kids) == [1, 2, 2]
    seen: list[int] = []
    for kid in kids:
        assert kid["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:m/Run"
        assert kid["executionArn"].startswith("arn:aws:states:us-east-1:123456789012:execution:m/Run:")
        assert kid["mapRunArn"] == run["mapRunArn"] and kid["status"] == "SUCCEEDED"
        child = sfn.describe_execution(executionArn=kid["executionArn"])
        assert child["mapRunArn"] == run["mapRunArn"]
        seen += [item["x"] for item in json.loads(child["input"])["Items"]]
        events = sfn.get_execution_history(executionArn=kid["executionArn"])["events"]
        assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                               "ExecutionSucceeded"]
    assert sorted(seen) == [0, 1, 2, 3, 4]  # each item in one batch, after ItemSelector
    parent = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert parent == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded",
                      "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    # the parent's own state machine lists only the parent
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=d["stateMachineArn"])["executions"]] == [ex]


def test_children_outputs_come_in_item_order(store: Store) -> None:
    sfn = StepFunctions(store)
    ex = start(sfn, distributed(PASS_ON, "P", MaxConcurrency=3), [{"x": i} for i in range(10)])
    sfn.worker(inline_wait=0).run_until_idle()
    assert json.loads(sfn.describe_execution(executionArn=ex)["output"]) == [{"v": i} for i in range(10)]


def test_max_concurrency_holds_children_back_and_update_map_run_lets_more_run(store: Store) -> None:
    sfn = StepFunctions(store)
    ex = start(sfn, distributed(WAITS, "W", MaxConcurrency=2), [{"x": i} for i in range(5)])
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()  # the parent starts two children, which park on their Wait
    run = the_map_run(sfn, ex)
    assert run["status"] == "RUNNING" and run["maxConcurrency"] == 2
    assert (run["executionCounts"]["running"], run["executionCounts"]["pending"]) == (2, 3)
    assert len(children(sfn, run["mapRunArn"], "RUNNING")) == 2
    sfn.update_map_run(mapRunArn=run["mapRunArn"], maxConcurrency=10, toleratedFailureCount=1)
    worker.run_until_idle()  # woken, the parent starts the other three
    run = the_map_run(sfn, ex)
    assert (run["maxConcurrency"], run["toleratedFailureCount"]) == (10, 1)
    assert (run["executionCounts"]["running"], run["executionCounts"]["pending"]) == (5, 0)
    worker.run_until_idle(timeout=20)
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"
    with pytest.raises(ServiceError) as info:
        sfn.update_map_run(mapRunArn=run["mapRunArn"], maxConcurrency=1)
    assert info.value.code == "ValidationException" and "CANNOT_UPDATE_COMPLETED_MAP_RUN" in info.value.message


def test_failed_children_within_tolerance_and_past_it(store: Store) -> None:
    sfn = StepFunctions(store)
    tolerated = start(sfn, distributed(FAILS_ON_ODD, "C", ToleratedFailureCount=2), [{"x": i} for i in range(4)])
    exceeded = start(sfn, distributed(FAILS_ON_ODD, "C", ToleratedFailurePercentage=25), [{"x": i} for i in range(4)],
                     name="m2")
    plain = start(sfn, distributed(FAILS_ON_ODD, "C"), [{"x": i} for i in range(4)], name="m3")
    sfn.worker(inline_wait=0).run_until_idle()
    d = sfn.describe_execution(executionArn=tolerated)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == [{"v": 0}, None, {"v": 2}, None]
    run = the_map_run(sfn, tolerated)
    assert (run["status"], run["executionCounts"]["failed"], run["executionCounts"]["succeeded"]) == ("SUCCEEDED", 2, 2)
    d = sfn.describe_execution(executionArn=exceeded)
    assert (d["status"], d["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert the_map_run(sfn, exceeded)["status"] == "FAILED"
    d = sfn.describe_execution(executionArn=plain)  # no tolerance: the child's own error fails the Map
    assert (d["status"], d["error"], d["cause"]) == ("FAILED", "Odd", "an odd item")
    types = [e["type"] for e in sfn.get_execution_history(executionArn=plain)["events"]]
    assert types[-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_a_failed_map_run_aborts_the_children_still_running(store: Store) -> None:
    sfn = StepFunctions(store)
    states = {"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 0, "Next": "F"}], "Default": "W"},
              "F": {"Type": "Fail", "Error": "Zero"}, **WAITS}
    ex = start(sfn, distributed(states, "C"), [{"x": i} for i in range(3)])
    sfn.worker(inline_wait=0).run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
    run = the_map_run(sfn, ex)
    assert run["status"] == "FAILED"
    assert sorted(k["status"] for k in children(sfn, run["mapRunArn"])) == ["ABORTED", "ABORTED", "FAILED"]


def test_stopping_the_parent_aborts_its_map_run_and_children(store: Store) -> None:
    sfn = StepFunctions(store)
    ex = start(sfn, distributed(WAITS, "W", MaxConcurrency=2), [{"x": i} for i in range(4)])
    sfn.worker(inline_wait=0).run_until_idle()
    sfn.stop_execution(executionArn=ex, error="Enough")
    run = the_map_run(sfn, ex)
    assert run["status"] == "ABORTED" and "stopDate" in run
    assert [k["status"] for k in children(sfn, run["mapRunArn"])] == ["ABORTED", "ABORTED"]
    assert (run["executionCounts"]["aborted"], run["executionCounts"]["pending"]) == (2, 2)


def test_map_run_errors(store: Store) -> None:
    sfn = StepFunctions(store)
    with pytest.raises(ServiceError) as info:
        sfn.describe_map_run(mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:m/Run:x")
    assert info.value.code == "ResourceNotFound"
    with pytest.raises(ServiceError) as info:
        sfn.describe_map_run(mapRunArn="arn:aws:states:us-east-1:123456789012:execution:m:x")
    assert info.value.code == "InvalidArn"
    with pytest.raises(ServiceError) as info:
        sfn.list_map_runs(executionArn="arn:aws:states:us-east-1:123456789012:execution:m:x")
    assert info.value.code == "ExecutionDoesNotExist"
    with pytest.raises(ServiceError) as info:
        sfn.list_executions(mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:m/Run:x")
    assert info.value.code == "ResourceNotFound"


def test_express_children_run_in_the_parent_and_their_map_run_is_kept(store: Store) -> None:
    sfn = StepFunctions(store)
    definition = distributed(FAILS_ON_ODD, "C", ToleratedFailureCount=5)
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    ex = start(sfn, definition, [{"x": i} for i in range(3)])
    sfn.worker(inline_wait=0).run_until_idle()
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"
    run = the_map_run(sfn, ex)
    assert (run["status"], run["executionCounts"]["succeeded"], run["executionCounts"]["failed"]) == ("SUCCEEDED", 2, 1)
    assert children(sfn, run["mapRunArn"]) == []  # AWS keeps no Express child as an execution either


# -- a worker killed during a Map Run -----------------------------------------------------------------------------
def test_a_worker_killed_during_a_map_run_of_200_children_resumes_without_rerunning_finished_ones(
        kill_env: tuple[StepFunctions, WorkerProcess, Path]) -> None:
    sfn, wp, log = kill_env
    task = {"T": {"Type": "Task", "Resource": TASK, "End": True}}
    ex = start(sfn, distributed(task, "T", ItemSelector={"i.$": "$$.Map.Item.Index", "sleep": 0.005}),
               list(range(200)))
    wp.start()
    wait_for(lambda: sum(line.startswith("done") for line in lines(log)) >= 60, timeout=120)
    wp.kill()
    run = the_map_run(sfn, ex)
    assert run["status"] == "RUNNING"
    finished = {json.loads(sfn.describe_execution(executionArn=k["executionArn"])["input"])["i"]
                for k in children(sfn, run["mapRunArn"], "SUCCEEDED")}
    assert len(finished) >= 50
    wp.start()
    wait_for(lambda: sfn.describe_execution(executionArn=ex)["status"] != "RUNNING", timeout=180)
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == [{"i": i, "sleep": 0.005, "n": 1} for i in range(200)]
    starts = [lines(log).count(f"start T#{i}") for i in range(200)]
    assert all(starts[i] == 1 for i in finished)  # ended before the kill: never run again
    assert sum(starts) <= 204  # at most the tasks in flight at the kill (asl worker runs 4 at once) ran twice
    run = the_map_run(sfn, ex)
    assert run["status"] == "SUCCEEDED" and run["executionCounts"]["succeeded"] == 200
    kids = children(sfn, run["mapRunArn"])
    assert len(kids) == 200 and len({k["name"] for k in kids}) == 200  # no child started twice
    events = sfn.get_execution_history(executionArn=ex)["events"]
    check_log(events)
    assert [e["type"] for e in events].count("MapRunStarted") == 1


# -- through boto3 against asl serve --------------------------------------------------------------------------------
def test_map_run_operations_answer_boto3_against_the_server(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from asl.server import Server
    from asl.store import SQLiteStore

    server = Server(StepFunctions(SQLiteStore(tmp_path / "store.db")), port=0, workers=1)
    server.start()
    try:
        host, port = server.httpd.server_address[:2]
        sfn = boto3.client("stepfunctions", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
        arn = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r",
                                       definition=json.dumps(distributed(PASS_ON, "P", MaxConcurrency=4)))["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps([{"x": i} for i in range(6)]))["executionArn"]
        wait_for(lambda: sfn.describe_execution(executionArn=ex)["status"] != "RUNNING", timeout=30)
        assert json.loads(sfn.describe_execution(executionArn=ex)["output"]) == [{"v": i} for i in range(6)]
        runs = sfn.list_map_runs(executionArn=ex)["mapRuns"]
        assert len(runs) == 1 and runs[0]["stateMachineArn"] == arn + "/Run"
        run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
        assert run["status"] == "SUCCEEDED" and run["maxConcurrency"] == 4
        assert run["itemCounts"]["succeeded"] == run["executionCounts"]["total"] == 6
        paginator = sfn.get_paginator("list_executions")
        kids = [e for page in paginator.paginate(mapRunArn=run["mapRunArn"], PaginationConfig={"PageSize": 4})
                for e in page["executions"]]
        assert len(kids) == 6 and {k["itemCount"] for k in kids} == {1}
        child = sfn.describe_execution(executionArn=kids[0]["executionArn"])
        assert child["mapRunArn"] == run["mapRunArn"] and child["status"] == "SUCCEEDED"
        with pytest.raises(ClientError) as info:
            sfn.update_map_run(mapRunArn=run["mapRunArn"], maxConcurrency=2)
        assert info.value.response["Error"]["Code"] == "ValidationException"
    finally:
        server.stop()


def test_the_cli_lists_describes_and_updates_map_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asl.cli import main
    from asl.store import SQLiteStore

    where = str(tmp_path / "store.db")
    sfn = StepFunctions(SQLiteStore(where))
    ex = start(sfn, distributed(WAITS, "W", MaxConcurrency=1), [{"x": i} for i in range(3)], name="cli")
    sfn.worker(inline_wait=0).run_until_idle()
    run = the_map_run(sfn, ex)["mapRunArn"]
    cli = CliRunner()
    listed = cli.invoke(main, ["map-runs", "list", ex.rpartition(":")[2], "--store", where])
    assert listed.exit_code == 0 and listed.output == f"RUNNING    0/3 children ended, 0 failed  {run}\n"
    updated = cli.invoke(main, ["map-runs", "update", run, "--max-concurrency", "3", "--store", where])
    assert updated.exit_code == 0, updated.output
    assert json.loads(cli.invoke(main, ["map-runs", "describe", run, "--store", where]).output)["maxConcurrency"] == 3
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    listed = cli.invoke(main, ["executions", "list", "--map-run", run, "--store", where])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 3
    assert all(line.startswith("SUCCEEDED") and ":execution:cli/Run:" in line for line in listed.output.splitlines())
    missing = cli.invoke(main, ["executions", "list", "--map-run", run + "x", "--store", where])
    assert missing.exit_code == 1 and "ResourceNotFound" in missing.output


def test_asl_run_writes_the_child_histories_on_request(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asl.cli import main

    definition = tmp_path / "dm.asl.json"
    definition.write_text(json.dumps(distributed(FAILS_ON_ODD, "C", ToleratedFailureCount=1)))
    told = CliRunner().invoke(main, ["run", str(definition), "--input", json.dumps([{"x": i} for i in range(3)]),
                                     "--history"])
    assert told.exit_code == 0 and "3 Distributed Map child execution(s) have histories of their own" in told.output
    folder = tmp_path / "children"
    written = CliRunner().invoke(main, ["run", str(definition), "--input", json.dumps([{"x": i} for i in range(3)]),
                                        "--child-histories", str(folder)])
    assert written.exit_code == 0, written.output
    files = sorted(folder.glob("*/*.json"))
    assert len(files) == 3
    children = [json.loads(f.read_text()) for f in files]
    assert sorted(c["status"] for c in children) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    for child in children:
        types = [e["type"] for e in child["history"]]
        assert types[0] == "ExecutionStarted" and types[-1] in ("ExecutionSucceeded", "ExecutionFailed")
        assert [e["id"] for e in child["history"]] == list(range(1, len(types) + 1))
        assert child["executionArn"].endswith(":execution:StateMachine/Run:" + child["name"])
    failed = next(c for c in children if c["status"] == "FAILED")
    assert failed["history"][-1]["executionFailedEventDetails"] == {"error": "Odd", "cause": "an odd item"}


def test_a_map_run_stopped_by_a_failing_sibling_branch_is_aborted_with_its_children(store: Store) -> None:
    sfn = StepFunctions(store)
    inner = distributed(WAITS, "W")["States"]["M"]
    inner.pop("End")
    definition = {"StartAt": "Par", "States": {"Par": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "M", "States": {"M": {**inner, "End": True}}},
        {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 0, "Next": "Boom"},
                                        "Boom": {"Type": "Fail", "Error": "Boom"}}}]}}}
    ex = start(sfn, definition, [{"x": i} for i in range(3)])
    sfn.worker(inline_wait=0).run_until_idle()
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["error"]) == ("FAILED", "Boom")
    run = the_map_run(sfn, ex)
    assert run["status"] == "ABORTED"
    assert [k["status"] for k in children(sfn, run["mapRunArn"])] == ["ABORTED"] * 3
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert types.index("MapRunStarted") < types.index("MapRunAborted") < types.index("MapStateAborted")


# -- a rebuilt parent decides as it did (found in review) ---------------------------------------------------------------
BOOM_ON_1 = {"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "F"}], "Default": "W"},
             "W": {"Type": "Wait", "Seconds": 30, "End": True},
             "F": {"Type": "Fail", "Error": "Boom", "Cause": "item 1 failed"}}


def test_a_caught_map_run_failure_is_rebuilt_with_the_error_it_had(store: Store) -> None:
    sfn = StepFunctions(store)
    m = distributed(BOOM_ON_1, "C")["States"]["M"]
    m.pop("End")
    definition = {"StartAt": "M", "States": {
        "M": {**m, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}], "Next": "After"},
        "After": {"Type": "Pass", "Next": "Park"},
        "Park": {"Type": "Wait", "Seconds": 1, "End": True}}}  # the parent parks, and is rebuilt after it
    ex = start(sfn, definition, [{"x": 0}, {"x": 1}])
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"Error": "Boom", "Cause": "item 1 failed"}  # not the aborted sibling's cause
    run = the_map_run(sfn, ex)
    assert run["status"] == "FAILED" and len(children(sfn, run["mapRunArn"])) == 2


def test_a_map_run_aborted_by_a_sibling_starts_no_children_when_rebuilt(store: Store) -> None:
    sfn = StepFunctions(store)
    m = distributed(WAITS, "W", MaxConcurrency=1, ToleratedFailurePercentage=100)["States"]["M"]
    definition = {"StartAt": "Par", "States": {
        "Par": {"Type": "Parallel", "Next": "Park", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Park"}],
                "Branches": [{"StartAt": "M", "States": {"M": m}},
                             {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "Next": "F"},
                                                         "F": {"Type": "Fail", "Error": "Sibling"}}}]},
        "Park": {"Type": "Wait", "Seconds": 1, "End": True}}}
    ex = start(sfn, definition, [{"x": i} for i in range(4)])
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"
    run = the_map_run(sfn, ex)
    assert run["status"] == "ABORTED"
    assert [k["status"] for k in children(sfn, run["mapRunArn"])] == ["ABORTED"]  # MaxConcurrency 1: one started


def test_a_writer_after_a_failed_map_run_with_unfinished_children(store: Store) -> None:
    sfn = StepFunctions(store)
    fails_on_2 = {**BOOM_ON_1, "C": {**BOOM_ON_1["C"], "Choices": [{"Variable": "$.x", "NumericEquals": 2, "Next": "F"}]}}
    m = distributed(fails_on_2, "C", ResultWriter={"WriterConfig": {"Transformation": "COMPACT"}})["States"]["M"]
    m.pop("End")
    definition = {"StartAt": "M", "States": {
        "M": {**m, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "Next": "Caught"},
        "Caught": {"Type": "Pass", "End": True}}}
    ex = start(sfn, definition, [{"x": i} for i in range(3)])
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["Error"] == "Boom"
    assert the_map_run(sfn, ex)["status"] == "FAILED"


def test_the_executions_timeout_ends_a_map_run_whose_children_run(store: Store) -> None:
    sfn = StepFunctions(store)
    definition = {**distributed(BOOM_ON_1, "C"), "TimeoutSeconds": 1}
    ex = start(sfn, definition, [{"x": 0}, {"x": 2}])
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["error"]) == ("TIMED_OUT", "States.Timeout")
    assert (d["stopDate"] - d["startDate"]).total_seconds() < 10  # not the children's 30 s Wait
    run = the_map_run(sfn, ex)
    assert run["status"] == "ABORTED"
    assert [k["status"] for k in children(sfn, run["mapRunArn"])] == ["ABORTED", "ABORTED"]
    assert [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]][-2:] == \
        ["MapRunAborted", "ExecutionTimedOut"]


def test_a_failed_parent_aborts_the_map_runs_of_its_children_too(store: Store) -> None:
    sfn = StepFunctions(store)
    inner = distributed(WAITS, "W")["States"]["M"]
    outer_child = {"I": {**inner, "Label": "Inner"}}
    definition = distributed({**outer_child}, "I")
    definition["States"]["M"]["ItemProcessor"]["States"] = {
        "Choose": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 0, "Next": "Fail"}],
                   "Default": "I"},
        "Fail": {"Type": "Fail", "Error": "Zero"},
        "I": {**inner, "Label": "Inner", "ItemsPath": "$.list"}}
    definition["States"]["M"]["ItemProcessor"]["StartAt"] = "Choose"
    ex = start(sfn, definition, [{"x": 0, "list": []}, {"x": 1, "list": [{"x": 5}, {"x": 6}]}])
    sfn.worker(inline_wait=0).run_until_idle(timeout=20)
    assert sfn.describe_execution(executionArn=ex)["status"] == "FAILED"
    everything = sfn.store.list_executions()
    assert not [e.arn for e in everything if e.status == "RUNNING"]  # grandchildren too
    inner_runs = [r for e in everything for r in sfn.store.list_map_runs(e.arn) if "/Inner:" in r.arn]
    assert [r.status for r in inner_runs] == ["ABORTED"]


def test_update_map_run_is_not_undone_by_the_parents_end_and_is_checked(store: Store) -> None:
    sfn = StepFunctions(store)
    ex = start(sfn, distributed(WAITS, "W", MaxConcurrency=1), [{"x": i} for i in range(2)])
    worker = sfn.worker(inline_wait=0)
    worker.run_until_idle()
    arn = the_map_run(sfn, ex)["mapRunArn"]
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):  # as boto3 refuses it
        sfn.update_map_run(mapRunArn=arn, maxConcurrency=-1)
    with pytest.raises(ServiceError) as info:  # as the service refuses it
        sfn.call("UpdateMapRun", {"mapRunArn": arn, "toleratedFailurePercentage": 101})
    assert info.value.code == "ValidationException"
    sfn.update_map_run(mapRunArn=arn, maxConcurrency=7, toleratedFailureCount=3)
    worker.run_until_idle(timeout=20)
    run = the_map_run(sfn, ex)
    assert (run["status"], run["maxConcurrency"], run["toleratedFailureCount"]) == ("SUCCEEDED", 7, 3)
    stop = run["stopDate"]
    worker.run_until_idle()
    assert the_map_run(sfn, ex)["stopDate"] == stop


def test_express_children_in_batches_count_their_items(store: Store) -> None:
    sfn = StepFunctions(store)
    definition = distributed({"P": {"Type": "Pass", "End": True}}, "P", ItemBatcher={"MaxItemsPerBatch": 4})
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    ex = start(sfn, definition, list(range(10)))
    sfn.worker(inline_wait=0).run_until_idle()
    run = the_map_run(sfn, ex)
    assert (run["itemCounts"]["succeeded"], run["itemCounts"]["total"]) == (10, 10)
    assert (run["executionCounts"]["succeeded"], run["executionCounts"]["total"]) == (3, 3)
