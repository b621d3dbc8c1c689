"""`asl test`: suites, mocks, expectations with diffs, coverage, JUnit XML, and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest
from click.testing import CliRunner

from asl.cli import main
from asl.model import load
from asl.testing import Coverage, SuiteError, load_suite, run_suite

from .conftest import ROOT

EXAMPLE_SUITES = sorted((ROOT / "examples" / "tests").glob("*.test.json"))
SCHEMA = json.loads((ROOT / "spec" / "test-suite.schema.json").read_text())

CHOICE = {"StartAt": "Route", "States": {
    "Route": {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
        {"Variable": "$.n", "NumericLessThan": 0, "Next": "Negative"}], "Default": "Small"},
    "Big": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "big"},
            "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 60}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Small"}], "End": True},
    "Negative": {"Type": "Fail", "Error": "Negative"},
    "Small": {"Type": "Succeed"}}}


def _suite(tmp_path: Path, tests: list[dict[str, Any]], **extra: Any) -> Path:
    (tmp_path / "route.asl.json").write_text(json.dumps(CHOICE))
    suite = tmp_path / "route.test.json"
    suite.write_text(json.dumps({"stateMachine": "route.asl.json", "tests": tests, **extra}))
    return suite


@pytest.mark.parametrize("suite", EXAMPLE_SUITES, ids=lambda p: p.name)
def test_every_example_suite_passes_and_follows_the_schema(suite: Path) -> None:
    jsonschema.validate(json.loads(suite.read_text()), SCHEMA)
    result = run_suite(load_suite(suite))
    assert result.passed, [r.failures for r in result.results]
    assert result.coverage.percent == 100.0


def test_example_suites_exist_for_each_example() -> None:
    definitions = {p.name.split(".")[0] for p in (ROOT / "examples").glob("*.asl.json")}
    assert {p.name.split(".")[0] for p in EXAMPLE_SUITES} >= definitions  # every example has its suite


def test_a_failing_expectation_gives_a_diff_junit_and_exit_1(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [
        {"name": "small", "input": {"n": 1}, "expect": {"output": {"n": 1}, "path": ["Route", "Small"]}},
        {"name": "wrong output", "input": {"n": 2}, "expect": {"output": {"n": 3}}},
        {"name": "wrong path", "input": {"n": -1}, "expect": {"status": "FAILED", "path": ["Route", "Small"]}}])
    junit = tmp_path / "junit.xml"
    r = CliRunner().invoke(main, ["test", str(suite), "--junit", str(junit)])
    assert r.exit_code == 1, r.output
    assert "PASS small" in r.output and "FAIL wrong output" in r.output and "FAIL wrong path" in r.output
    assert '-  "n": 3' in r.output and '+  "n": 2' in r.output
    assert '-  "Small"' in r.output and '+  "Negative"' in r.output
    assert "1 of 3 tests passed" in r.output
    root = ElementTree.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["small"].find("failure") is None
    failure = cases["wrong output"].find("failure")
    assert failure is not None and failure.get("message") == "output differs:"


def test_coverage_counts_states_choice_rules_retriers_and_catchers(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [{"name": "small", "input": {"n": 1}}])
    cov = tmp_path / "coverage.json"
    r = CliRunner().invoke(main, ["test", str(suite), "--coverage", str(cov), "-v"])
    assert r.exit_code == 0, r.output
    report = json.loads(cov.read_text())
    summary = report["suites"][0]["summary"]
    assert summary["state"] == {"covered": 2, "total": 4}
    assert summary["choice"] == {"covered": 1, "total": 3}
    assert summary["retry"] == {"covered": 0, "total": 1} and summary["catch"] == {"covered": 0, "total": 1}
    assert report["percent"] == pytest.approx(100 * 3 / 9, abs=0.01)
    assert "not covered: /States/Route/Choices/0" in r.output and "not covered: /States/Big/Retry/0" in r.output

    mocks = {"Big": {"0": {"Throw": {"Error": "Busy", "Cause": "x"}}, "1": {"Throw": {"Error": "Down", "Cause": "y"}}}}
    suite = _suite(tmp_path, [{"name": "small", "input": {"n": 1}}, {"name": "big", "input": {"n": 99}, "mocks": mocks},
                              {"name": "negative", "input": {"n": -5}, "expect": {"error": "Negative"}}])
    r = CliRunner().invoke(main, ["test", str(suite), "--coverage", str(cov), "--min-coverage", "100"])
    assert r.exit_code == 0, r.output
    assert json.loads(cov.read_text())["percent"] == 100.0


def test_a_report_that_cannot_be_written_is_named_and_exits_2(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [{"name": "small", "input": {"n": 1}}])
    for flag in ("--junit", "--coverage"):
        r = CliRunner().invoke(main, ["test", str(suite), flag, str(tmp_path / "no" / "such" / "dir.xml")])
        assert r.exit_code == 2 and "cannot write" in r.output and "Traceback" not in r.output


def test_min_coverage_fails_the_run(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [{"name": "small", "input": {"n": 1}}])
    r = CliRunner().invoke(main, ["test", str(suite), "--min-coverage", "80"])
    assert r.exit_code == 1 and "below the minimum 80%" in r.output


@pytest.mark.parametrize(("tests", "extra", "message"), [
    ([], {}, "/tests: a non-empty array"),
    ([{"name": "a"}, {"name": "a"}], {}, "/tests/1/name: the name 'a' is used by an earlier test"),
    ([{"name": "a", "testCase": "T"}], {}, "/tests/0/testCase: the suite has no mockConfig"),
    ([{"name": "a", "expect": {"status": "DONE"}}], {}, "/tests/0/expect/status: 'DONE' is not"),
    ([{"name": "a", "expect": {"outptu": 1}}], {}, "/tests/0/expect: unknown field(s) outptu"),
    ([{"name": "a", "mocks": {"Big": {"0": {"Return": 1}, "5": {"Return": 2}}}}], {}, "/tests/0/mocks/Big"),
    ([{"name": "a", "testCase": "Nope"}], {"mockConfig": {"StateMachines": {"route": {"TestCases": {"T": {}}}}}},
     "no test case 'Nope'"),
    ([{"name": "a"}], {"mockConfig": "missing.json"}, "cannot read the file"),
    ([{"name": "a", "mocks": []}], {}, "/tests/0/mocks: must be an object"),
    ([{"name": "a", "testCase": 5}], {"mockConfig": {"StateMachines": {}}}, "/tests/0/testCase: must be the name"),
])
def test_a_bad_suite_is_named_with_its_pointer_and_exits_2(tmp_path: Path, tests: list[Any], extra: dict[str, Any],
                                                            message: str) -> None:
    suite = _suite(tmp_path, tests, **extra)
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert message in str(info.value)
    r = CliRunner().invoke(main, ["test", str(suite)])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_a_step_functions_local_mock_config_is_a_suite_of_its_test_cases(tmp_path: Path) -> None:
    """One command for a definition and a mock file from Step Functions Local: JUnit and coverage."""
    mock = tmp_path / "MockConfigFile.json"
    mock.write_text(json.dumps({"StateMachines": {"route": {"TestCases": {
        "BigOk": {"Big": "Ok"}, "BigDown": {"Big": "Down"}}}},
        "MockedResponses": {"Ok": {"0": {"Return": {"StatusCode": 200}}},
                            "Down": {"0-3": {"Throw": {"Error": "Busy", "Cause": "x"}}}}}))
    (tmp_path / "route.asl.json").write_text(json.dumps(CHOICE))
    junit, cov = tmp_path / "j.xml", tmp_path / "c.json"
    args = ["test", "--definition", str(tmp_path / "route.asl.json"), "--mock-config", str(mock), "--input", '{"n": 50}',
            "--junit", str(junit), "--coverage", str(cov)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "PASS BigOk" in r.output and "PASS BigDown" in r.output
    assert [c.get("name") for c in ElementTree.parse(junit).getroot().iter("testcase")] == ["BigOk", "BigDown"]
    assert json.loads(cov.read_text())["suites"][0]["summary"]["retry"] == {"covered": 1, "total": 1}
    r = CliRunner().invoke(main, [*args[:-4], "--expect", "BigDown=FAILED"])
    assert r.exit_code == 1 and "FAIL BigDown" in r.output and "expected FAILED, got SUCCEEDED" in r.output


def test_asl_run_takes_a_test_case(tmp_path: Path) -> None:
    mock = tmp_path / "MockConfigFile.json"
    mock.write_text(json.dumps({"StateMachines": {"route": {"TestCases": {"Down": {"Big": "Down"}}}},
                                "MockedResponses": {"Down": {"0": {"Throw": {"Error": "Down", "Cause": "x"}}}}}))
    (tmp_path / "route.asl.json").write_text(json.dumps(CHOICE))
    r = CliRunner().invoke(main, ["run", str(tmp_path / "route.asl.json"), "--input", '{"n": 50}',
                                  "--mock-config", str(mock), "--test-case", "route#Down", "--history"])
    assert r.exit_code == 0, r.output
    assert '"TaskFailed"' in r.output
    r = CliRunner().invoke(main, ["run", str(tmp_path / "route.asl.json"), "--mock-config", str(mock), "--test-case", "Up"])
    assert r.exit_code == 2 and "no test case 'Up'" in r.output


def test_coverage_items_are_found_in_nested_blocks() -> None:
    machine = load({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "D"}],
                                          "Default": "D"}, "D": {"Type": "Succeed"}}}]}}})
    assert Coverage.of(machine).items == {
        "/States/P": "state", "/States/P/Branches/0/States/C": "state", "/States/P/Branches/0/States/C/Choices/0": "choice",
        "/States/P/Branches/0/States/C/Default": "choice", "/States/P/Branches/0/States/D": "state"}


# -- tests that cannot pass for the wrong reason ------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "says"), [
    ("Bigg", "mocks the state 'Bigg', which the state machine does not have"),
    ("Route", "mocks the state 'Route' (/States/Route), a Choice state"),
])
def test_a_mock_the_definition_cannot_use_is_an_error_naming_the_state(tmp_path: Path, state: str, says: str) -> None:
    suite = _suite(tmp_path, [{"name": "t", "input": {"n": 20}, "mocks": {state: {"0": {"Return": {}}}}}])
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert says in str(info.value) and "/tests/0" in str(info.value)
    r = CliRunner().invoke(main, ["test", str(suite)])
    assert r.exit_code == 2 and says in r.output
    config = tmp_path / "mocks.json"
    config.write_text(json.dumps({"StateMachines": {"route": {"TestCases": {"Case": {state: "R"}}}},
                                  "MockedResponses": {"R": {"0": {"Return": {}}}}}))
    r = CliRunner().invoke(main, ["test", "--definition", str(tmp_path / "route.asl.json"), "--mock-config", str(config)])
    assert r.exit_code == 2 and says in r.output, r.output
    r = CliRunner().invoke(main, ["run", str(tmp_path / "route.asl.json"), "--mock-config", str(config),
                                  "--test-case", "Case", "--input", '{"n": 20}'])
    assert r.exit_code == 2 and says in r.output, r.output


def test_expect_can_name_the_error_a_test_case_fails_with(tmp_path: Path) -> None:
    (tmp_path / "route.asl.json").write_text(json.dumps(CHOICE))
    config = tmp_path / "mocks.json"
    config.write_text(json.dumps({"StateMachines": {"route": {"TestCases": {"Boom": {"Big": "Fails"}}}},
                                  "MockedResponses": {"Fails": {"0": {"Throw": {"Error": "Boom", "Cause": "c"}}}}}))
    args = ["test", "--definition", str(tmp_path / "route.asl.json"), "--mock-config", str(config), "--input", '{"n": -5}']
    assert CliRunner().invoke(main, [*args, "--expect", "Boom=FAILED:Negative"]).exit_code == 0
    wrong = CliRunner().invoke(main, [*args, "--expect", "Boom=FAILED:Other"])
    assert wrong.exit_code == 1 and "error: expected 'Other', got 'Negative'" in wrong.output
    for bad_expect in ("Boom=FAILED:", "Boom=SUCCEEDED:Negative"):  # only a failure has an error
        assert CliRunner().invoke(main, [*args, "--expect", bad_expect]).exit_code == 2


def test_an_unmocked_task_that_cannot_run_names_its_state(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [{"name": "big", "input": {"n": 20}, "expect": {"status": "FAILED"}}])
    definition = dict(CHOICE)
    definition["States"] = {**CHOICE["States"], "Big": {k: v for k, v in CHOICE["States"]["Big"].items() if k != "Catch"}}
    definition["States"]["Big"]["Resource"] = "arn:aws:lambda:us-east-1:123456789012:function:big"
    (tmp_path / "route.asl.json").write_text(json.dumps(definition))
    result = run_suite(load_suite(suite))
    cause = result.results[0].result.cause  # type: ignore[union-attr]
    assert "The state 'Big' has no task implementation" in cause


def test_lambda_handlers_are_checked_at_start(tmp_path: Path) -> None:
    definition = tmp_path / "d.asl.json"
    definition.write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    (tmp_path / "h.py").write_text("import os\n\nif os.environ.get('X'):\n    def cond(e, c):\n        return 1\n\n"
                                   "def real(event, context):\n    return event\n")
    for spec, says in ((f"f={tmp_path / 'missing.py'}:h", "missing.py does not exist"),
                       (f"f={tmp_path / 'h.py'}:nope", "defines no 'nope'")):
        r = CliRunner().invoke(main, ["run", str(definition), "--lambda", spec])
        assert r.exit_code == 2 and says in r.output and "--lambda f" in r.output, r.output
    for name in ("real", "cond"):  # defined at the top, or under a condition: found without running the file
        assert CliRunner().invoke(main, ["run", str(definition), "--lambda", f"f={tmp_path / 'h.py'}:{name}"]).exit_code == 0


def test_ids_and_random_numbers_are_the_same_each_run_of_a_test(tmp_path: Path) -> None:
    (tmp_path / "seed.asl.json").write_text(json.dumps({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": True, "Output": {"id": "{% $uuid() %}", "r": "{% $random() %}",
                                                      "name": "{% $states.context.Execution.Name %}"}}}}))
    suite = tmp_path / "seed.test.json"
    suite.write_text(json.dumps({"stateMachine": "seed.asl.json", "tests": [{"name": "a"}, {"name": "b"}]}))
    first, again = (run_suite(load_suite(suite)) for _ in range(2))
    outputs = [[r.result.output_value for r in s.results] for s in (first, again)]  # type: ignore[union-attr]
    assert outputs[0] == outputs[1]  # so an output holding them can be expected
    assert outputs[0][0] != outputs[0][1]  # each test has its own
