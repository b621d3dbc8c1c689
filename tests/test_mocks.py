"""The Step Functions Local mock configuration format: checking it, and Tasks answered by it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asl.interpreter import ExecutionOptions, ExecutionResult, run
from asl.mocks import MockConfigError, load_mock_config, parse_mock_config
from asl.model import load

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:f"


def _config(responses: dict[str, Any], states: dict[str, str] | None = None) -> Any:
    return parse_mock_config({"StateMachines": {"M": {"TestCases": {"T": states or {"Call": "R"}}}},
                              "MockedResponses": responses})


def _run(definition: dict[str, Any], responses: dict[str, Any], states: dict[str, str] | None = None,
         **opts: Any) -> ExecutionResult:
    mocks = _config(responses, states).test_case("M", "T").start()
    return run(load(definition), "{}", ExecutionOptions(mocks=mocks, **opts))


def _task(extra: dict[str, Any] | None = None, resource: str = LAMBDA) -> dict[str, Any]:
    return {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": resource, "End": True, **(extra or {})}}}


def test_every_problem_is_reported_with_its_pointer() -> None:
    with pytest.raises(MockConfigError) as info:
        parse_mock_config({
            "StateMachines": {"M": {"TestCases": {"T": {"A": "Missing", "B": "Gap"}}}, "N": {}},
            "MockedResponses": {
                "Gap": {"0": {"Return": 1}, "2": {"Return": 2}},
                "Both": {"0": {"Return": 1, "Throw": {"Error": "E", "Cause": "C"}}},
                "NoCause": {"0": {"Throw": {"Error": "E"}}},
                "BadKey": {"first": {"Return": 1}},
                "Backwards": {"3-1": {"Return": 1}},
                "Overlap": {"0-2": {"Return": 1}, "1": {"Return": 2}},
            }})
    problems = dict(info.value.problems)
    assert "gap before invocation 1" in problems["/MockedResponses/Gap"]
    assert "exactly one of Return or Throw" in problems["/MockedResponses/Both/0"]
    assert problems["/MockedResponses/NoCause/0/Throw"] == "Throw needs Cause as string"
    assert "'first' is not an invocation number" in problems["/MockedResponses/BadKey/first"]
    assert "ends before it starts" in problems["/MockedResponses/Backwards/3-1"]
    assert "overlaps invocation 3" in problems["/MockedResponses/Overlap"]
    assert "no mocked response named 'Missing'" in problems["/StateMachines/M/TestCases/T/A"]
    assert "needs TestCases" in problems["/StateMachines/N"]
    assert "/MockedResponses/Gap" in str(info.value)


def test_a_file_that_is_not_json_is_named(tmp_path: Any) -> None:
    bad = tmp_path / "MockConfigFile.json"
    bad.write_text("{not json")
    with pytest.raises(MockConfigError, match="(?s)MockConfigFile.json.*not valid JSON"):
        load_mock_config(bad)
    with pytest.raises(MockConfigError, match="cannot read"):
        load_mock_config(tmp_path / "missing.json")


def test_unknown_state_machine_or_test_case_says_what_exists() -> None:
    cfg = _config({"R": {"0": {"Return": 1}}})
    with pytest.raises(KeyError, match="no state machine 'X'.*it has: M"):
        cfg.test_case("X", "T")
    with pytest.raises(KeyError, match="no test case 'Nope'.*it has: T"):
        cfg.test_case("M", "Nope")


def test_ranges_and_retries_count_invocations() -> None:
    definition = _task({"Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 5, "IntervalSeconds": 1}]})
    responses = {"R": {"0-2": {"Throw": {"Error": "Busy", "Cause": "later"}}, "3": {"Return": {"ok": True}}}}
    r = _run(definition, responses)
    assert (r.status, r.output_value) == ("SUCCEEDED", {"ok": True})
    assert [e["type"] for e in r.history].count("LambdaFunctionFailed") == 3


def test_an_invocation_past_the_last_entry_fails_the_execution() -> None:
    definition = _task({"Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 5, "IntervalSeconds": 1}]})
    r = _run(definition, {"R": {"0-1": {"Throw": {"Error": "Busy", "Cause": "later"}}}})
    assert r.status == "FAILED" and r.error == "States.Runtime"
    assert "'R' of the state 'Call' (test case 'T') has no entry for invocation 2" in (r.cause or "")


def test_a_throw_is_caught_like_the_service_error() -> None:
    definition = _task({"Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "Next": "Dup"}]},
                       "arn:aws:states:::dynamodb:putItem")
    definition["States"]["Call"].pop("End")
    definition["States"]["Call"]["Next"] = "Dup"
    definition["States"]["Dup"] = {"Type": "Pass", "End": True}
    r = _run(definition, {"R": {"0": {"Throw": {"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "exists"}}}})
    assert r.output_value == {"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "exists"}
    failed = next(e for e in r.history if e["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"]["resourceType"] == "dynamodb"


def test_states_not_in_the_test_case_call_their_resource() -> None:
    definition = {"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": LAMBDA, "ResultPath": "$.a", "Next": "Real"},
        "Real": {"Type": "Task", "Resource": LAMBDA, "ResultPath": "$.b", "End": True}}}
    r = _run(definition, {"R": {"0": {"Return": "mocked"}}}, tasks={LAMBDA: lambda v, c: "real"})
    assert r.output_value == {"a": "mocked", "b": "real"}


def test_wait_for_task_token_takes_the_mock_as_the_callback_result() -> None:
    r = _run(_task(resource="arn:aws:states:::sqs:sendMessage.waitForTaskToken"), {"R": {"0": {"Return": {"approved": True}}}})
    assert r.output_value == {"approved": True}
    assert [e["type"] for e in r.history][2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]


def test_an_activity_answered_by_a_mock_has_activity_events() -> None:
    r = _run(_task(resource="arn:aws:states:us-east-1:123456789012:activity:review"),
             {"R": {"0": {"Throw": {"Error": "Refused", "Cause": "no"}}}})
    assert (r.error, r.cause) == ("Refused", "no")
    assert [e["type"] for e in r.history][2:5] == ["ActivityScheduled", "ActivityStarted", "ActivityFailed"]


def test_counts_are_per_execution_and_per_state() -> None:
    definition = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": LAMBDA, "End": True}}}}}}
    cfg = _config({"R": {"0": {"Return": "a"}, "1-2": {"Return": "b"}}}).test_case("M", "T")
    machine = load(definition)
    for _ in range(2):  # a second execution starts again at invocation 0
        r = run(machine, json.dumps([1, 2, 3]), ExecutionOptions(mocks=cfg.start()))
        assert r.output_value == ["a", "b", "b"]


def test_a_mocked_distributed_map_takes_its_items_from_the_mock_and_writes_nothing() -> None:
    """No S3 in a test: a mocked response for a Distributed Map state with an ItemReader gives the items the reader
    would read (MaxItems still applies), and its ResultWriter writes nothing but gives the same kind of result."""
    definition = {"StartAt": "Map", "States": {"Map": {
        "Type": "Map", "End": True,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k.csv"},
                       "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 3}},
        "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}
    rows = [{"id": str(i)} for i in range(5)]
    r = _run(definition, {"R": {"0": {"Return": rows}}}, {"Map": "R"})
    assert r.status == "SUCCEEDED", r.cause
    assert r.output_value == [{"Items": rows[:2]}, {"Items": rows[2:3]}]
    definition["States"]["Map"]["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                                                   "Parameters": {"Bucket": "out", "Prefix": "runs"}}
    r = _run(definition, {"R": {"0": {"Return": rows}}}, {"Map": "R"})
    details = r.output_value["ResultWriterDetails"]
    assert details["Bucket"] == "out" and details["Key"].startswith("runs/") and details["Key"].endswith("/manifest.json")
    r = _run(definition, {"R": {"0": {"Throw": {"Error": "States.ItemReaderFailed", "Cause": "no such key"}}}}, {"Map": "R"})
    assert (r.error, r.cause) == ("States.ItemReaderFailed", "no such key")


def test_mocking_a_map_without_an_item_reader_is_an_error_not_ignored() -> None:
    definition = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
    r = _run(definition, {"R": {"0": {"Return": [1]}}}, {"Map": "R"})
    assert r.error == "States.Runtime" and "mocks the Map state 'Map', which has no ItemReader" in (r.cause or "")
