"""The service layer in process: recorded AWS API errors, versions, aliases, tags, pagination and request checks."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from asl.conformance import normalizer
from asl.service import ServiceError, StepFunctions
from asl.store import MemoryStore, SQLiteStore, Store
from asl.store.sqlite import _SCHEMA
from tests.conftest import needs_shared, recorded_cases
from tests.test_recorded import _param

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = json.loads((ROOT / "conformance" / "api-fixtures.json").read_text())["cases"]
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
PASS2 = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "End": True}}})
API_ERRORS = [p for p in recorded_cases("api_error", "definition_error") if json.loads(p.read_text()).get("operation")]


def _set_up(sfn: StepFunctions, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        params = {k: {"<definition>": PASS, "<definition2>": PASS2}.get(v, v) if isinstance(v, str) else v
                  for k, v in step["params"].items()}
        sfn.call(step["operation"], params)


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in API_ERRORS])
def test_recorded_api_error(path: Path) -> None:
    """The error AWS answered a request with: its name, and its message after the recording's normalisation."""
    case = json.loads(path.read_text())
    sfn = StepFunctions(MemoryStore(), account="111111111111")
    _set_up(sfn, FIXTURES.get(path.name, []))
    operation = "".join(w.capitalize() for w in case["operation"].split("_"))
    with pytest.raises(ServiceError) as info:
        sfn.call(operation, case["request"])
    exp = case["expected"]
    assert info.value.code == exp["error_code"]
    if exp["error_message"].startswith("Error=ValueError"):
        return  # LocalStack's own wording for a Map Label it refuses (the code is what AWS answered)
    norm = normalizer(path)
    assert norm is not None
    got = norm.snapshot_normalize({"message": info.value.message}, case.get("snapshot_transformers") or [],
                                  key="exception")["message"]
    assert got == exp["error_message"]


# botocore refuses a None where the API reads a JSON null as an absent member, so those are not errors here
CLIENT_CHECKED = [p for p in recorded_cases("client_param_validation") if "NoneType" not in p.read_text()]


@needs_shared
@pytest.mark.parametrize("path", CLIENT_CHECKED, ids=lambda p: p.stem[-50:])
def test_requests_botocore_refuses_are_refused_here_too(path: Path) -> None:
    """botocore checks these before sending; a client that does not (curl, another SDK) gets ValidationException."""
    case = json.loads(path.read_text())
    sfn = StepFunctions(MemoryStore(), account="111111111111")
    operation = "".join(w.capitalize() for w in case["operation"].split("_"))
    with pytest.raises(ServiceError) as info:
        sfn.call(operation, case["request"])
    assert info.value.code in ("ValidationException", "SerializationException")


@needs_shared
@pytest.mark.parametrize("path", recorded_cases("validation"), ids=lambda p: p.stem[-50:])
def test_recorded_validate_state_machine_definition(path: Path) -> None:
    case = json.loads(path.read_text())
    got = StepFunctions(MemoryStore()).call("ValidateStateMachineDefinition", case["request"])
    exp = case["expected"]
    assert (got["result"], got["truncated"]) == (exp["result"], exp["truncated"])
    assert [d["code"] for d in got["diagnostics"]] == [d["code"] for d in exp["diagnostics"]]


def test_request_checks_collect_every_problem() -> None:
    sfn = StepFunctions(MemoryStore())
    with pytest.raises(ServiceError) as info:
        sfn.call("CreateStateMachine", {"name": "", "type": "BIG"})
    assert info.value.code == "ValidationException"
    assert info.value.message == (
        "4 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member must have length "
        "greater than or equal to 1; Value null at 'definition' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; Value 'BIG' at 'type' failed "
        "to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]")
    with pytest.raises(ServiceError) as info:  # a sensitive member's value is not repeated back
        sfn.call("StartExecution", {"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m", "input": "x" * 262145})
    assert info.value.message.startswith("1 validation error detected: Value at 'input' failed")
    with pytest.raises(ServiceError) as info:
        sfn.call("ListStateMachines", {"maxResults": True})
    assert info.value.code == "SerializationException"
    with pytest.raises(ServiceError) as info:
        sfn.call("DescribeMapRun", {"mapRunArn": "arn:aws:states:us-east-1:1:mapRun:m/l:x"})
    assert info.value.code == "ResourceNotFound" and "mapRun:m/l:x" in info.value.message


def test_pagination_tokens(store: Store) -> None:
    sfn = StepFunctions(store)
    for i in range(5):
        sfn.create_state_machine(name=f"m{i}", definition=PASS)
    seen, token = [], None
    while True:
        page = sfn.call("ListStateMachines", {"maxResults": 2, **({"nextToken": token} if token else {})})
        seen += [m["name"] for m in page["stateMachines"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == [f"m{i}" for i in range(5)]
    first = sfn.list_state_machines(maxResults=2)["nextToken"]
    with pytest.raises(ServiceError) as info:  # a token of another listing
        sfn.list_activities(nextToken=first)
    assert info.value.code == "InvalidToken"


def test_versions_are_numbered_never_reused_and_idempotent(store: Store) -> None:
    sfn = StepFunctions(store)
    arn = sfn.create_state_machine(name="m", definition=PASS, publish=True)["stateMachineArn"]
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == arn + ":1"  # same revision
    other = PASS.replace('"End"', '"Comment": "2", "End"')
    rev = sfn.update_state_machine(stateMachineArn=arn, definition=other)["revisionId"]
    with pytest.raises(ServiceError) as info:
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="stale")
    assert info.value.code == "ConflictException"
    assert sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=rev)["stateMachineVersionArn"] == arn + ":2"
    sfn.delete_state_machine_version(stateMachineVersionArn=arn + ":2")
    sfn.update_state_machine(stateMachineArn=arn, definition=PASS)
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == arn + ":3"
    assert sfn.describe_state_machine(stateMachineArn=arn + ":1")["definition"] == PASS
    with pytest.raises(ServiceError) as info:
        sfn.describe_state_machine(stateMachineArn=arn + ":2")
    assert info.value.code == "StateMachineDoesNotExist"
    sfn.delete_state_machine(stateMachineArn=arn)
    assert store.get_version(arn + ":1") is None and store.list_versions(arn) == []


def test_an_alias_routes_by_weight_and_executions_record_it(store: Store) -> None:
    sfn = StepFunctions(store)
    arn = sfn.create_state_machine(name="m", definition=PASS, publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=PASS.replace('"End"', '"Result": 2, "End"'), publish=True)
    alias = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": arn + ":1", "weight": 50}, {"stateMachineVersionArn": arn + ":2", "weight": 50}])
    again = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": arn + ":1", "weight": 50}, {"stateMachineVersionArn": arn + ":2", "weight": 50}])
    assert again == alias  # the same request is the same alias
    versions = set()
    for _ in range(40):
        ex = sfn.start_execution(stateMachineArn=alias["stateMachineAliasArn"])["executionArn"]
        d = sfn.describe_execution(executionArn=ex)
        assert d["stateMachineAliasArn"] == alias["stateMachineAliasArn"]
        versions.add(d["stateMachineVersionArn"])
    assert versions == {arn + ":1", arn + ":2"}
    listed = sfn.list_executions(stateMachineArn=arn + ":1")["executions"]
    assert listed and all(e["stateMachineVersionArn"] == arn + ":1" for e in listed)
    assert sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"][0]["stateMachineAliasArn"] == \
        alias["stateMachineAliasArn"]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias["stateMachineAliasArn"])
    with pytest.raises(ServiceError) as info:
        sfn.describe_state_machine_alias(stateMachineAliasArn=alias["stateMachineAliasArn"])
    assert info.value.code == "ResourceNotFound"


def test_tags(store: Store) -> None:
    sfn = StepFunctions(store)
    arn = sfn.create_state_machine(name="m", definition=PASS, tags=[{"key": "a", "value": "1"}])["stateMachineArn"]
    act = sfn.create_activity(name="act", tags=[{"key": "b", "value": "2"}])["activityArn"]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "9"}, {"key": "c", "value": "3"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "9"}, {"key": "c", "value": "3"}]
    sfn.untag_resource(resourceArn=arn, tagKeys=["a", "zz"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "c", "value": "3"}]
    assert sfn.list_tags_for_resource(resourceArn=act)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(ServiceError) as info:
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": ""} for i in range(50)])
    assert info.value.code == "TooManyTags"
    sfn.delete_state_machine(stateMachineArn=arn)
    sfn.create_state_machine(name="m", definition=PASS)
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == []  # tags went with the state machine


def test_mocked_test_case_counts_invocations_across_a_resume(store: Store) -> None:
    """A mocked execution that parks (a Retry backoff) and is rebuilt from its history by another worker takes the
    next invocation's response, not the first one again."""
    from asl.mocks import parse_mock_config

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 1, "BackoffRate": 1, "MaxAttempts": 3}], "End": True}}}
    mocks = parse_mock_config({
        "StateMachines": {"m": {"TestCases": {"Flaky": {"T": "R"}}}},
        "MockedResponses": {"R": {"0-1": {"Throw": {"Error": "Busy", "Cause": "later"}}, "2": {"Return": {"n": 3}}}}})
    sfn = StepFunctions(store, mock_config=mocks)
    arn = sfn.create_state_machine(name="m", definition=json.dumps(definition))["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn + "#Flaky")["executionArn"]
    runs, deadline = 0, time.monotonic() + 20
    while sfn.describe_execution(executionArn=ex)["status"] == "RUNNING" and time.monotonic() < deadline:
        # a fresh worker for each run: every resume rebuilds the execution from its history
        if sfn.worker(inline_wait=0).run_one():
            runs += 1
        else:
            time.sleep(0.05)
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], json.loads(d["output"])) == ("SUCCEEDED", {"n": 3})
    assert runs == 3  # parked twice by the backoff


def test_a_schema_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA)
    conn.execute("PRAGMA application_id = 1095978033")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO state_machines VALUES ('arn:aws:states:us-east-1:1:stateMachine:m', 'm', ?, 'r', "
                 "'STANDARD', 0, 1)", (PASS,))
    conn.commit()
    conn.close()
    sfn = StepFunctions(SQLiteStore(path), account="1")
    assert sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:1:stateMachine:m")["definition"] == PASS
    v = sfn.publish_state_machine_version(stateMachineArn="arn:aws:states:us-east-1:1:stateMachine:m")
    assert v["stateMachineVersionArn"].endswith(":m:1")
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4
    assert sfn.store.list_map_runs("arn:aws:states:us-east-1:1:execution:m:x") == []  # schema 4: map_runs


def test_a_schema_2_store_keeps_its_one_event_rows_and_adds_runs(tmp_path: Path) -> None:
    """Schema 3 stores a commit's events as one row (a JSON array); a schema 2 file's rows (one event object each)
    are read as they are, beside the new ones, and the upgrade changes no row."""
    path = tmp_path / "v2.db"
    sfn = StepFunctions(SQLiteStore(path))
    sm = sfn.create_state_machine(name="m", definition=json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Next": "P"}, "P": {"Type": "Pass", "End": True}}}))
    ex = sfn.start_execution(stateMachineArn=sm["stateMachineArn"])["executionArn"]
    sfn.worker(inline_wait=0).run_one()  # commits up to the Wait and parks
    sfn.store.close()
    # Make it a schema 2 file: each event its own row, as schema 2 wrote them
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT body FROM events WHERE execution_arn=? ORDER BY id", (ex,)).fetchall()
    assert [b[0][0] for b in rows] == ["[", "["]  # ExecutionStarted, then the worker's run of events
    events = [e for (b,) in rows for e in (json.loads(b) if b.startswith("[") else [json.loads(b)])]
    conn.execute("DELETE FROM events WHERE execution_arn=?", (ex,))
    conn.executemany("INSERT INTO events VALUES (?,?,?)", [(ex, e["id"], json.dumps(e)) for e in events])
    conn.executescript("DROP TABLE map_runs; DROP INDEX executions_by_map_run; "  # what schema 4 added
                       "ALTER TABLE executions DROP COLUMN map_run_arn; ALTER TABLE executions DROP COLUMN redrive_count; "
                       "ALTER TABLE executions DROP COLUMN redrive_date")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    sfn = StepFunctions(SQLiteStore(path))
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4
    assert [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]] == \
        ["ExecutionStarted", "WaitStateEntered"]
    time.sleep(1.1)  # the Wait is over
    sfn.worker(inline_wait=0).run_until_idle(timeout=10)
    history = sfn.get_execution_history(executionArn=ex)["events"]
    assert [e["id"] for e in history] == list(range(1, 7))
    assert [e["type"] for e in history][-3:] == ["PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"


# -- a boto3-shaped client --------------------------------------------------------------------------------------------
def test_the_python_client_checks_calls_as_boto3_does() -> None:
    from botocore.exceptions import ClientError, ParamValidationError

    from asl.api import model
    from asl.clientshape import OPERATIONS

    assert set(OPERATIONS) == set(model().operation_names)  # the list the methods are wrapped by is the model's
    sfn = StepFunctions(MemoryStore())
    with pytest.raises(ParamValidationError) as bad:  # was: an execution started with input {}
        sfn.start_execution(Input="{}", Nmae="x")  # type: ignore[call-arg]
    assert 'Unknown parameter in input: "Nmae"' in str(bad.value) and 'Missing required parameter in input: ' \
        '"stateMachineArn"' in str(bad.value)
    with pytest.raises(ParamValidationError):
        sfn.list_executions(stateMachineArn=SM, maxResults="ten")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sfn.describe_execution("arn:aws:states:us-east-1:1:execution:m:x")  # type: ignore[misc]
    with pytest.raises(ClientError) as err:  # was: []
        sfn.list_executions(stateMachineArn=SM, statusFilter="DONE")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.operation_name == "ListExecutions"
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist) as missing:
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:m:x")
    assert isinstance(missing.value, ServiceError) and isinstance(missing.value, ClientError)
    assert missing.value.code == "ExecutionDoesNotExist" and str(missing.value).startswith("ExecutionDoesNotExist: ")
    # a local state machine needs no role; over the wire, as on AWS, roleArn is required
    arn = sfn.create_state_machine(name="m", definition=PASS)["stateMachineArn"]
    with pytest.raises(ServiceError) as wire:
        sfn.call("CreateStateMachine", {"name": "n", "definition": PASS})
    assert wire.value.code == "ValidationException" and "roleArn" in wire.value.message
    assert sfn.call("DescribeStateMachine", {"stateMachineArn": arn, "unknownMember": 1})["name"] == "m"


def test_paginators_as_boto3s() -> None:
    from botocore.exceptions import OperationNotPageableError

    sfn = StepFunctions(MemoryStore())
    arn = sfn.create_state_machine(name="m", definition=PASS)["stateMachineArn"]
    started = {sfn.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(5)}
    pages = list(sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, PaginationConfig={"PageSize": 2}))
    assert [len(p["executions"]) for p in pages] == [2, 2, 1]
    assert {e["executionArn"] for p in pages for e in p["executions"]} == started
    capped = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn,
                                                           PaginationConfig={"PageSize": 2, "MaxItems": 3})
    assert sum(len(p["executions"]) for p in capped) == 3
    assert sfn.can_paginate("get_execution_history") and sfn.can_paginate("list_map_runs")
    assert not sfn.can_paginate("start_execution")
    with pytest.raises(OperationNotPageableError):
        sfn.get_paginator("start_execution")


def test_a_worker_takes_local_lambda_functions_as_asl_worker_does() -> None:
    handlers = Path(__file__).parent / "lambdas" / "handlers.py"
    sfn = StepFunctions(MemoryStore())
    definition = {"StartAt": "L", "States": {"L": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload", "End": True,
        "Parameters": {"FunctionName": "echo", "Payload.$": "$"}}}}
    arn = sfn.create_state_machine(name="m", definition=json.dumps(definition))["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input='{"hello": "world"}')["executionArn"]
    worker = sfn.worker(lambdas={"echo": f"{handlers}:echo"})
    try:
        worker.run_until_idle()
    finally:
        worker.adapters.close()
    d = sfn.describe_execution(executionArn=ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"hello": "world"}
    with pytest.raises(TypeError):
        sfn.worker(lambdas=[f"echo={handlers}:echo"], adapters=object())


def test_a_test_case_that_mocks_what_the_definition_cannot_use_is_refused_at_start() -> None:
    from asl.mocks import parse_mock_config

    config = parse_mock_config({"StateMachines": {"m": {"TestCases": {"Bad": {"P": "R"}, "Gone": {"Nope": "R"}}}},
                                "MockedResponses": {"R": {"0": {"Return": {}}}}})
    sfn = StepFunctions(MemoryStore(), mock_config=config)
    arn = sfn.create_state_machine(name="m", definition=PASS)["stateMachineArn"]
    for case, says in (("Bad", "a Pass state"), ("Gone", "does not have")):
        with pytest.raises(ServiceError) as info:
            sfn.start_execution(stateMachineArn=f"{arn}#{case}")
        assert info.value.code == "InvalidArn" and says in info.value.message


def test_a_paginators_full_result() -> None:
    sfn = StepFunctions(MemoryStore())
    arn = sfn.create_state_machine(name="m", definition=PASS)["stateMachineArn"]
    for _ in range(3):
        sfn.start_execution(stateMachineArn=arn)
    full = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn,
                                                         PaginationConfig={"PageSize": 2}).build_full_result()
    assert len(full["executions"]) == 3
