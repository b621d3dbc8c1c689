"""The pytest plugin: the ``asl`` fixture, and suite files collected as test items."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

MACHINE = {"StartAt": "Save", "States": {
    "Save": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Parameters": {"TableName": "t"},
             "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "Next": "Duplicate"}], "End": True},
    "Duplicate": {"Type": "Fail", "Error": "DuplicateOrder"}}}


def test_the_asl_fixture_runs_with_mocks(pytester: pytest.Pytester) -> None:
    pytester.makefile(".asl.json", orders=json.dumps(MACHINE))
    pytester.makepyfile(test_orders="""
        def test_duplicate(asl):
            throw = {"0": {"Throw": {"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "exists"}}}
            r = asl.run("orders.asl.json", {"id": 1}, mocks={"Save": throw})
            assert (r.status, r.error) == ("FAILED", "DuplicateOrder")
            assert asl.path(r) == ["Save", "Duplicate"]

        def test_saved(asl):
            r = asl.run("orders.asl.json", mocks={"Save": {"0": {"Return": {}}}})
            assert r.output == "{}"
            assert asl.coverage  # the fixture adds up coverage per definition

        def test_a_wrong_expectation_fails(asl):
            r = asl.run("orders.asl.json", mocks={"Save": {"0": {"Return": {}}}})
            assert r.status == "FAILED"
    """)
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=2, failed=1)


def test_suite_files_become_test_items(pytester: pytest.Pytester) -> None:
    pytester.makefile(".asl.json", orders=json.dumps(MACHINE))
    suite = {"stateMachine": "orders.asl.json", "tests": [
        {"name": "saved", "mocks": {"Save": {"0": {"Return": {}}}}, "expect": {"output": {}}},
        {"name": "wrongly expected", "mocks": {"Save": {"0": {"Return": {"a": 1}}}}, "expect": {"output": {"a": 2}}}]}
    pytester.makefile(".test.json", orders=json.dumps(suite))
    pytester.makefile(".test.json", unrelated=json.dumps({"not": "a suite"}))
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*output differs:*", '*-  "a": 2*', '*+  "a": 1*'])


def test_a_broken_suite_is_a_collection_error_naming_the_problem(pytester: pytest.Pytester) -> None:
    pytester.makefile(".test.json", broken=json.dumps({"stateMachine": "missing.asl.json", "tests": [{"name": "x"}]}))
    result = pytester.runpytest("-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*missing.asl.json: cannot read the definition*"])
