"""TestState: one state with a mock, variables and context, answered as AWS's TestState API answers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from asl.adapters import Adapters
from asl.conformance import case_lambdas, normalizer
from asl.interpreter import ExecutionOptions, VirtualClock
from asl.teststate import TestStateError, test_state

from .conftest import RECORDED, needs_shared, recorded_cases
from .test_recorded import _param

CASES = recorded_cases("test_state")
ERROR_CASES = recorded_cases("test_state_error")


def _decode(v: Any) -> Any:
    if isinstance(v, str) and v.startswith("{"):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _request(case: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = case["request"]
    return test_state(case["definition"], r.get("input"), state_name=r.get("stateName"),
                      inspection_level=r.get("inspectionLevel", "INFO"), mock=r.get("mock"), variables=r.get("variables"),
                      context=r.get("context"), state_configuration=r.get("stateConfiguration"), role_arn=r.get("roleArn"),
                      **extra)


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in CASES])
def test_recorded_test_state_case(path: Path) -> None:
    case = json.loads(path.read_text())
    norm = normalizer(path)
    assert norm is not None
    account = (case["request"].get("roleArn") or "arn:aws:iam::111111111111:role/r").split(":")[4] or "111111111111"
    opts = ExecutionOptions(machine_type="EXPRESS", sync=True, clock=VirtualClock(), account=account)
    with tempfile.TemporaryDirectory() as tmp:
        local = case_lambdas(case, Path(tmp))
        if local is not None:
            opts.adapters = Adapters()
            local.register_in(opts.adapters)
        try:
            got = _request(case, options=opts)
        finally:
            if local is not None:
                local.close()
    exp = case["expected"]
    result = norm.normalize_result(case, {"status": got["status"], "output": got.get("output"),
                                          "error": got.get("error"), "cause": got.get("cause")})
    assert (result["status"], result["error"], result["cause"]) == (exp["status"], exp.get("error"), exp.get("cause"))
    assert result["output"] == exp.get("output")
    assert got.get("nextState") == exp.get("nextState")
    if "inspectionData" in exp or "inspectionData" in got:
        data = norm.snapshot_normalize({k: _decode(v) for k, v in got.get("inspectionData", {}).items()},
                                       case.get("snapshot_transformers") or [], key="response")
        assert data == exp.get("inspectionData")


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in ERROR_CASES])
def test_recorded_test_state_error_case(path: Path) -> None:
    case = json.loads(path.read_text())
    r = dict(case["request"])
    with pytest.raises(TestStateError) as info:
        test_state(r["definition"], r.get("input"), state_name=r.get("stateName"),
                   inspection_level=r.get("inspectionLevel", "INFO"), mock=r.get("mock"), context=r.get("context"))
    assert (info.value.code, info.value.message) == (case["expected"]["error_code"], case["expected"]["error_message"])


def test_a_pass_state_with_debug_inspection() -> None:
    got = test_state({"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$.b"}, "ResultPath": "$.r", "End": True},
                     '{"a": {"b": 1}}', inspection_level="DEBUG")
    # ResultPath places the result into the state's raw input, not into what InputPath selected
    assert got["status"] == "SUCCEEDED" and json.loads(got["output"]) == {"a": {"b": 1}, "r": {"x": 1}}
    assert {k: json.loads(v) for k, v in got["inspectionData"].items()} == {
        "input": {"a": {"b": 1}}, "afterInputPath": {"b": 1}, "afterParameters": {"x": 1},
        "afterResultSelector": {"x": 1}, "afterResultPath": {"a": {"b": 1}, "r": {"x": 1}}}


def test_a_retrier_with_attempts_left_is_retriable_and_then_the_catcher_takes_it() -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
             "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 3}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle", "ResultPath": "$.err"}], "Next": "Done"}
    mock = {"errorOutput": {"error": "Busy", "cause": "later"}}
    got = test_state(state, "{}", mock=mock, inspection_level="DEBUG", state_configuration={"retrierRetryCount": 1})
    assert got["status"] == "RETRIABLE"
    assert got["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 6}
    got = test_state(state, "{}", mock=mock, inspection_level="DEBUG", state_configuration={"retrierRetryCount": 2})
    assert (got["status"], got["nextState"]) == ("CAUGHT_ERROR", "Handle")
    assert json.loads(got["output"]) == {"err": {"Error": "Busy", "Cause": "later"}}
    assert got["inspectionData"]["errorDetails"] == {"retryIndex": 0, "catchIndex": 0}
    got = test_state(state, "{}", mock={"result": '{"Payload": 1}'})
    assert (got["status"], got["nextState"], json.loads(got["output"])) == ("SUCCEEDED", "Done", {"Payload": 1})
    assert "inspectionData" not in got


def test_a_state_of_a_machine_by_name_with_variables() -> None:
    machine = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": "{% $greeting & ' ' & $states.input.name %}", "Next": "B"},
        "B": {"Type": "Succeed"}}}
    got = test_state(machine, '{"name": "Ada"}', state_name="A", variables='{"greeting": "Hello"}')
    assert (got["status"], json.loads(got["output"]), got["nextState"]) == ("SUCCEEDED", "Hello Ada", "B")


@pytest.mark.parametrize(("kwargs", "code", "message"), [
    ({"definition": {"Type": "Pass", "End": True}, "mock": {"result": "1"}}, "ValidationException",
     "State type 'Pass' is not supported when a mock is specified"),
    ({"definition": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True},
      "mock": {"result": "1", "errorOutput": {"error": "E"}}}, "ValidationException",
     "A test mock should have only one of the following fields: [result, errorOutput]."),
    ({"definition": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True},
      "mock": {"result": "{nope"}}, "ValidationException", "Mocked result must be valid JSON"),
    ({"definition": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}]},
      "mock": {"result": "[1, 2]"}}, "ValidationException",
     "Mocked result must contain the same number of items as number of Parallel branches."),
    ({"definition": {"Type": "Pass", "Next": 5}}, "InvalidDefinition", "Invalid State Machine Definition"),
    ({"definition": {"Type": "Pass", "End": True}, "variables": "[1]"}, "ValidationException",
     "The variables must be a JSON object"),
    ({"definition": {"Type": "Pass", "End": True}, "context": "5"}, "ValidationException", "The context must be a JSON object"),
    ({"definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, "state_name": "Z"},
     "ValidationException", "The state 'Z' is not in the definition"),
])
def test_requests_aws_refuses(kwargs: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(TestStateError) as info:
        test_state(kwargs.pop("definition"), "{}", **kwargs)
    assert info.value.code == code and message in info.value.message


def test_recorded_cases_are_present_when_shared_is() -> None:
    if RECORDED.is_dir():
        assert len(CASES) >= 60 and len(ERROR_CASES) >= 10


def test_the_cli_and_the_service_front(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asl.cli import main
    from asl.service import ServiceError, StepFunctions
    from asl.store import MemoryStore

    f = tmp_path / "task.json"
    f.write_text(json.dumps({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
                             "Retry": [{"ErrorEquals": ["Busy"]}], "End": True}))
    r = CliRunner().invoke(main, ["test-state", str(f), "--mock-error", "Busy:later", "--inspection-level", "DEBUG"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "RETRIABLE" and out["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 1}
    r = CliRunner().invoke(main, ["test-state", str(f), "--mock-result", "{bad"])
    assert r.exit_code == 2 and "ValidationException: Mocked result must be valid JSON" in r.output
    sfn = StepFunctions(MemoryStore())
    got = sfn.test_state(definition=f.read_text(), input="{}", mock={"result": '{"ok": true}'})
    assert got == {"status": "SUCCEEDED", "output": '{"ok": true}'}
    with pytest.raises(ServiceError) as info:
        sfn.test_state(definition='{"Type": "Pass", "End": true}', mock={"result": "1"})
    assert info.value.code == "ValidationException"
