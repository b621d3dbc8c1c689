"""The validator: one breaking and one keeping definition per rule, recorded AWS cases, and fuzzing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asl import Severity, validate
from asl.parse import loads

from .conftest import load_case, needs_shared, recorded_cases


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


PASS_END = {"Type": "Pass", "End": True}
TASK = "arn:aws:states:::lambda:invoke"


def errors(defn: Any, **kw: Any) -> list[tuple[str, str]]:
    return [(d.code, d.pointer) for d in validate(defn, **kw) if d.severity is Severity.ERROR]


# (rule id, bad definition, expected (code, pointer) in the errors, good definition)
RULES: list[tuple[str, Any, tuple[str, str], Any]] = [
    ("required-top", {"StartAt": "A"}, ("SCHEMA_VALIDATION_FAILED", ""), machine({"A": PASS_END})),
    ("startat-exists", machine({"A": PASS_END}, start="B"), ("MISSING_TRANSITION_TARGET", "/StartAt"), machine({"A": PASS_END})),
    ("next-exists", machine({"A": {"Type": "Pass", "Next": "Z"}, "B": PASS_END}), ("MISSING_TRANSITION_TARGET", "/States/A/Next"),
     machine({"A": {"Type": "Pass", "Next": "B"}, "B": PASS_END})),
    ("default-exists", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "B"}], "Default": "Z"}, "B": PASS_END}),
     ("MISSING_TRANSITION_TARGET", "/States/C/Default"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "B"}], "Default": "B"}, "B": PASS_END})),
    ("catch-next-exists", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]}}),
     ("MISSING_TRANSITION_TARGET", "/States/T/Catch/0/Next"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}]}, "B": PASS_END})),
    ("unreachable", machine({"A": PASS_END, "B": PASS_END}), ("MISSING_TRANSITION_TARGET", "/States/B"),
     machine({"A": {"Type": "Pass", "Next": "B"}, "B": PASS_END})),
    ("next-or-end", machine({"A": {"Type": "Pass"}}), ("SCHEMA_VALIDATION_FAILED", "/States/A"), machine({"A": PASS_END})),
    ("not-both-next-end", machine({"A": {"Type": "Pass", "Next": "B", "End": True}, "B": PASS_END}), ("SCHEMA_VALIDATION_FAILED", "/States/A"),
     machine({"A": {"Type": "Pass", "Next": "B"}, "B": PASS_END})),
    ("choice-no-end", machine({"C": {"Type": "Choice", "End": True, "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/End"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}]}, "B": PASS_END})),
    ("name-length", machine({"A" * 81: PASS_END}), ("INVALID_STATE_NAME", "/States/" + "A" * 81), machine({"A" * 80: PASS_END})),
    ("name-unique", machine({"P": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "P", "States": {"P": PASS_END}}]}}),
     ("DUPLICATE_STATE_NAME", "/States/P/Branches/0/States/P"),
     machine({"P": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "Q", "States": {"Q": PASS_END}}]}})),
    ("type-enum", machine({"A": {"Type": "Passs", "End": True}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/Type"), machine({"A": PASS_END})),
    ("field-per-type", machine({"A": {"Type": "Pass", "End": True, "Resource": "x"}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/Resource"),
     machine({"A": PASS_END})),
    ("jsonpath-field-in-jsonata", machine({"A": {"Type": "Pass", "End": True, "InputPath": "$.a"}}, QueryLanguage="JSONata"),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/InputPath"), machine({"A": {"Type": "Pass", "End": True, "Output": "{% $states.input.a %}"}}, QueryLanguage="JSONata")),
    ("jsonata-field-in-jsonpath", machine({"A": {"Type": "Pass", "End": True, "Output": {}}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/Output"),
     machine({"A": {"Type": "Pass", "End": True, "OutputPath": "$"}})),
    ("state-jsonpath-under-jsonata", machine({"A": {"Type": "Pass", "End": True, "QueryLanguage": "JSONPath"}}, QueryLanguage="JSONata"),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/QueryLanguage"), machine({"A": {"Type": "Pass", "End": True, "QueryLanguage": "JSONata"}})),
    ("wait-exclusive", machine({"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "2020-01-01T00:00:00Z", "End": True}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/W"), machine({"W": {"Type": "Wait", "Seconds": 1, "End": True}})),
    ("wait-required", machine({"W": {"Type": "Wait", "End": True}}), ("SCHEMA_VALIDATION_FAILED", "/States/W"),
     machine({"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}})),
    ("timeout-exclusive", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T"), machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSecondsPath": "$.t"}})),
    ("heartbeat-lt-timeout", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSeconds": 5, "HeartbeatSeconds": 5}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/HeartbeatSeconds"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSeconds": 5, "HeartbeatSeconds": 4}})),
    ("timeout-positive", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSeconds": 0}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/TimeoutSeconds"), machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "TimeoutSeconds": 1}})),
    ("error-exclusive", machine({"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}), ("SCHEMA_VALIDATION_FAILED", "/States/F"),
     machine({"F": {"Type": "Fail", "ErrorPath": "$.e"}})),
    ("cause-exclusive", machine({"F": {"Type": "Fail", "Cause": "C", "CausePath": "$.c"}}), ("SCHEMA_VALIDATION_FAILED", "/States/F"),
     machine({"F": {"Type": "Fail", "CausePath": "States.Format('{}', $.c)"}})),
    ("parameters-vs-arguments", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Parameters": {}, "Arguments": {}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Arguments"), machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Parameters": {}}})),
    ("states-all-alone", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Retry/0/ErrorEquals"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"]}, {"ErrorEquals": ["States.ALL"]}]}})),
    ("states-all-last", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Retry/0/ErrorEquals"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"]}, {"ErrorEquals": ["States.ALL"]}]}})),
    ("backoff-rate", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Retry/0/BackoffRate"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 1}]}})),
    ("max-attempts-range", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Retry/0/MaxAttempts"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 0}]}})),
    ("jitter-enum", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Retry/0/JitterStrategy"),
     machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "FULL"}]}})),
    ("jsonpath-syntax", machine({"A": {"Type": "Pass", "End": True, "InputPath": "$.a["}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/InputPath"),
     machine({"A": {"Type": "Pass", "End": True, "InputPath": "$.a[0]"}})),
    ("resultpath-reference", machine({"A": {"Type": "Pass", "End": True, "ResultPath": "$.a[*]"}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/ResultPath"),
     machine({"A": {"Type": "Pass", "End": True, "ResultPath": "$.a[0]"}})),
    ("resultpath-no-context", machine({"A": {"Type": "Pass", "End": True, "ResultPath": "$$.a"}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/ResultPath"),
     machine({"A": {"Type": "Pass", "End": True, "ResultPath": "$.a"}})),
    ("template-path", machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "not a path"}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters"), machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "$.x"}}})),
    ("intrinsic-name", machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Nope(1)"}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters"), machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.UUID()"}}})),
    ("intrinsic-arity", machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.MathAdd(1)"}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters"), machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.MathAdd(1, $.a)"}}})),
    ("intrinsic-syntax", machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Format('a', "}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters"), machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Format('a{}', $.b)"}}})),
    ("template-collision", machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "$.a", "x": 1}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/x.$"), machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x.$": "$.a", "y": 1}}})),
    ("jsonata-syntax", machine({"A": {"Type": "Pass", "End": True, "Output": "{% $states.input. %}"}}, QueryLanguage="JSONata"),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Output"), machine({"A": {"Type": "Pass", "End": True, "Output": "{% $states.input %}"}}, QueryLanguage="JSONata")),
    ("jsonata-number-in-jsonpath", machine({"W": {"Type": "Wait", "Seconds": "{% 1 %}", "End": True}}), ("SCHEMA_VALIDATION_FAILED", "/States/W/Seconds"),
     machine({"W": {"Type": "Wait", "Seconds": "{% 1 %}", "End": True}}, QueryLanguage="JSONata")),
    ("choice-one-operator", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsString": True, "Next": "B"}]}, "B": PASS_END})),
    ("choice-operand-type", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": "1", "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/NumericEquals"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "B"}]}, "B": PASS_END})),
    ("choice-variable-jsonpath", machine({"C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/Condition"),
     machine({"C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "B"}]}, "B": PASS_END}, QueryLanguage="JSONata")),
    ("choice-condition-jsonata", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}]}, "B": PASS_END}, QueryLanguage="JSONata"),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/Variable"),
     machine({"C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.x = null %}", "Next": "B"}]}, "B": PASS_END}, QueryLanguage="JSONata")),
    ("choice-nested-next", machine({"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.x", "IsNull": True, "Next": "B"}, "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/Not/Next"),
     machine({"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.x", "IsNull": True}, "Next": "B"}]}, "B": PASS_END})),
    ("choice-and-nonempty", machine({"C": {"Type": "Choice", "Choices": [{"And": [], "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/And"),
     machine({"C": {"Type": "Choice", "Choices": [{"And": [{"Variable": "$.x", "IsNull": False}], "Next": "B"}]}, "B": PASS_END})),
    ("choice-top-next", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True}]}, "B": PASS_END}, start="C"),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}]}, "B": PASS_END})),
    ("choice-timestamp", machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.t", "TimestampEquals": "2020-01-01", "Next": "B"}]}, "B": PASS_END}),
     ("SCHEMA_VALIDATION_FAILED", "/States/C/Choices/0/TimestampEquals"),
     machine({"C": {"Type": "Choice", "Choices": [{"Variable": "$.t", "TimestampEquals": "2020-01-01T00:00:00Z", "Next": "B"}]}, "B": PASS_END})),
    ("wait-timestamp", machine({"W": {"Type": "Wait", "Timestamp": "2016-12-05 21:29:29Z", "End": True}}), ("SCHEMA_VALIDATION_FAILED", "/States/W/Timestamp"),
     machine({"W": {"Type": "Wait", "Timestamp": "2016-12-05T21:29:29Z", "End": True}})),
    ("map-processor-required", machine({"M": {"Type": "Map", "End": True}}), ("SCHEMA_VALIDATION_FAILED", "/States/M"),
     machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-recursive", machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass"}}}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor/States/I"),
     machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-mode-enum", machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {"ProcessorConfig": {"Mode": "FAST"}, "StartAt": "I", "States": {"I": PASS_END}}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor/ProcessorConfig/Mode"),
     machine({"M": {"Type": "Map", "End": True, "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-tolerated-range", machine({"M": {"Type": "Map", "End": True, "ToleratedFailurePercentage": 101, "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/M/ToleratedFailurePercentage"),
     machine({"M": {"Type": "Map", "End": True, "ToleratedFailurePercentage": 100, "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-concurrency-exclusive", machine({"M": {"Type": "Map", "End": True, "MaxConcurrency": 1, "MaxConcurrencyPath": "$.m", "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/M"),
     machine({"M": {"Type": "Map", "End": True, "MaxConcurrencyPath": "$.m", "ItemProcessor": {"StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-batcher-max", machine({"M": {"Type": "Map", "End": True, "ItemBatcher": {}, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": PASS_END}}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/M/ItemBatcher"),
     machine({"M": {"Type": "Map", "End": True, "ItemBatcher": {"MaxItemsPerBatch": 2}, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": PASS_END}}}})),
    ("map-label", machine({"M": {"Type": "Map", "End": True, "Label": "a b", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": PASS_END}}}}),
     ("INVALID_LABEL_NAME", "/States/M/Label"),
     machine({"M": {"Type": "Map", "End": True, "Label": "ab", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": PASS_END}}}})),
    ("parallel-branches-nonempty", machine({"P": {"Type": "Parallel", "End": True, "Branches": []}}), ("SCHEMA_VALIDATION_FAILED", "/States/P/Branches"),
     machine({"P": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "Q", "States": {"Q": PASS_END}}]}})),
    ("parallel-branch-target", machine({"P": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "Q", "States": {"Q": {"Type": "Pass", "Next": "P"}}}]}}),
     ("MISSING_TRANSITION_TARGET", "/States/P/Branches/0/States/Q/Next"),
     machine({"P": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "Q", "States": {"Q": PASS_END}}]}})),
    ("assign-name", machine({"A": {"Type": "Pass", "End": True, "Assign": {"1x": 1}}}), ("SCHEMA_VALIDATION_FAILED", "/States/A/Assign/1x"),
     machine({"A": {"Type": "Pass", "End": True, "Assign": {"x1": 1}}})),
    ("assign-reserved", machine({"A": {"Type": "Pass", "End": True, "Assign": {"states": 1}}}, QueryLanguage="JSONata"),
     ("SCHEMA_VALIDATION_FAILED", "/States/A/Assign/states"), machine({"A": {"Type": "Pass", "End": True, "Assign": {"s": 1}}}, QueryLanguage="JSONata")),
    ("resource-recognised", machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", "End": True}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Resource"), machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem", "End": True}})),
    ("credentials-rolearn", machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Credentials": {}}}),
     ("SCHEMA_VALIDATION_FAILED", "/States/T/Credentials"), machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Credentials": {"RoleArn": "arn:aws:iam::1:role/r"}}})),
    ("end-state", machine({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}), ("MISSING_END_STATE", "/States"),
     machine({"A": {"Type": "Pass", "Next": "B"}, "B": PASS_END})),
    ("top-timeout", machine({"A": PASS_END}, TimeoutSeconds=-1), ("SCHEMA_VALIDATION_FAILED", "/TimeoutSeconds"), machine({"A": PASS_END}, TimeoutSeconds=5)),
    ("top-unknown-field", machine({"A": PASS_END}, Foo=1), ("SCHEMA_VALIDATION_FAILED", "/Foo"), machine({"A": PASS_END}, Comment="x")),
]


@pytest.mark.parametrize("rule,bad,expected,good", RULES, ids=[r[0] for r in RULES])
def test_rule(rule: str, bad: Any, expected: tuple[str, str], good: Any) -> None:
    assert expected in errors(bad), f"{rule}: expected {expected}, got {validate(bad)}"
    assert errors(good) == [], f"{rule}: the keeping definition has errors: {validate(good)}"


def test_express_restrictions() -> None:
    for res, in [("arn:aws:states:::sqs:sendMessage.waitForTaskToken",), ("arn:aws:states:::states:startExecution.sync:2",),
                 ("arn:aws:states:us-east-1:123456789012:activity:a",)]:
        defn = machine({"T": {"Type": "Task", "Resource": res, "End": True}})
        assert errors(defn) == []
        assert ("SCHEMA_VALIDATION_FAILED", "/States/T/Resource") in errors(defn, machine_type="EXPRESS")


def test_warnings() -> None:
    w = validate(machine({"A": {"Type": "Pass", "End": True, "Parameters": {"x": "$.a"}, "Result": {"y": "$.b"}}}))
    codes = {(x.code, x.pointer) for x in w if x.severity is Severity.WARNING}
    assert ("NO_DOLLAR", "/States/A/Parameters/x") in codes
    assert ("PASS_RESULT_IS_STATIC", "/States/A/Result") in codes


def test_states_prefixed_error_names_aws_accepts() -> None:
    """AWS accepts any name in ErrorEquals (its own samples catch States.Http.StatusCode.429, an HTTP Task's error):
    an undocumented States. name is a warning (nothing will raise it), not an error."""
    catch = [{"ErrorEquals": ["States.Http.StatusCode.429", "States.Nope"], "Next": "B"}]
    found = validate(machine({"T": {"Type": "Task", "Resource": TASK, "End": True, "Catch": catch}, "B": PASS_END}))
    assert [(x.severity, x.pointer) for x in found] == [(Severity.WARNING, "/States/T/Catch/0/ErrorEquals/1")]
    assert "never matches" in found[0].message


def test_ten_defects_all_reported() -> None:
    defn = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Next": "Nowhere"},
            "Wait": {"Type": "Wait", "Seconds": 5, "SecondsPath": "$.s", "Next": "Start"},
            "Task": {"Type": "Task", "Resource": TASK, "TimeoutSeconds": 10, "HeartbeatSeconds": 20, "End": True,
                     "Retry": [{"ErrorEquals": ["States.ALL", "X"], "BackoffRate": 0.5}], "Arguments": {}},
            "Choose": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a", "NumericEquals": 1, "Next": "Start"}]},
            "Fail": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
            "Bad": {"Type": "Pass", "Parameters": {"x.$": "$..[[["}, "ResultPath": "$$.x", "Next": "Start"},
        },
    }
    expected = {
        ("MISSING_TRANSITION_TARGET", "/States/Start/Next"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Wait"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Task/HeartbeatSeconds"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Task/Retry/0/ErrorEquals"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Task/Retry/0/BackoffRate"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Task/Arguments"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Choose/Choices/0"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Fail"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Bad/Parameters"),
        ("SCHEMA_VALIDATION_FAILED", "/States/Bad/ResultPath"),
    }
    got = set(errors(defn))
    assert expected <= got, expected - got


def test_malformed_text_has_line_and_column() -> None:
    [diag] = validate('{\n  "StartAt": "A",\n  "States": {,}\n}')
    assert diag.code == "INVALID_JSON_DESCRIPTION" and diag.line == 3 and diag.column == 14


def test_duplicate_keys_reported_at_pointer() -> None:
    result = loads('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "End": true}}}')
    assert [(x.code, x.pointer) for x in result.diagnostics] == [("DUPLICATE_KEY", "/States/A/End")]


def test_empty_and_non_object() -> None:
    assert errors("") == [("MISSING_DESCRIPTION", "")]
    assert errors("[1]") == [("SCHEMA_VALIDATION_FAILED", "")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(
        ["StartAt", "States", "Type", "Next", "End", "Choices", "Branches", "ItemProcessor", "Parameters", "Resource",
         "Retry", "Catch", "ErrorEquals", "Variable", "And", "Not", "QueryLanguage", "Assign", "A", "B"]), kids, max_size=5),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    assert isinstance(validate(value), list)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(validate(text), list)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"]), json_values)
def test_arbitrary_state_fields_never_raise(typ: str, fields: Any) -> None:
    state = {"Type": typ, **fields} if isinstance(fields, dict) else {"Type": typ, "Next": fields}
    assert isinstance(validate({"StartAt": "S", "States": {"S": state}}), list)


EXECUTION_CASES = [p for p in recorded_cases("pure", "lambda", "service", "callback", "activity", "mocked")
                   if isinstance(load_case(p).get("definition"), dict)]


@needs_shared
@pytest.mark.parametrize("path", EXECUTION_CASES, ids=[p.stem[-60:] for p in EXECUTION_CASES])
def test_recorded_definitions_have_no_errors(path: Any) -> None:
    case = load_case(path)
    errs = [str(x) for x in validate(case["definition"], machine_type=case.get("state_machine_type") or "STANDARD")
            if x.severity is Severity.ERROR]
    assert errs == []


REJECTED = [p for p in recorded_cases("definition_error", "validation")
            if load_case(p)["expected"].get("error_code") in ("InvalidDefinition", None)]


@needs_shared
@pytest.mark.parametrize("path", REJECTED, ids=[p.stem[-60:] for p in REJECTED])
def test_recorded_invalid_definitions_are_rejected(path: Any) -> None:
    case = load_case(path)
    req = case.get("request") or {}
    defn = case.get("definition_text") or case.get("definition")
    diags = validate(copy.deepcopy(defn), machine_type=req.get("type") or case.get("state_machine_type") or "STANDARD")
    assert any(x.severity is Severity.ERROR for x in diags), json.dumps(case["expected"])[:300]


def test_distributed_map_reader_batcher_and_writer_rules() -> None:
    """The developer guide's rules for ItemReader, ItemBatcher and ResultWriter beyond their JSON shapes."""
    def errors(**fields: Any) -> list[tuple[str, str]]:
        definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, **fields, "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
        return [(x.location, x.message) for x in validate(definition) if x.severity.name == "ERROR"]

    assert errors(ResultWriter={}) == [("/States/M/ResultWriter", "ResultWriter cannot be empty: give Resource and "
                                                                  "Parameters, WriterConfig, or all three")]
    assert errors(ResultWriter={"Parameters": {"Bucket": "b"}})[0][1].startswith("ResultWriter needs Resource and Parameters")
    assert errors(ResultWriter={"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}}) == []
    assert errors(ResultWriter={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}) == []
    jsonl = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ResultWriter": {"WriterConfig": {
        "Transformation": "COMPACT", "OutputType": "JSONL"}}, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
    assert [(x.severity.name, x.location) for x in validate(jsonl)] == \
        [("WARNING", "/States/M/ResultWriter/WriterConfig/OutputType")]
    assert errors(ItemBatcher={"MaxItemsPerBatch": 2, "MaxItemsPerBatchPath": "$.n"}) == \
        [("/States/M/ItemBatcher", "Use either MaxItemsPerBatch or MaxItemsPerBatchPath, not both")]
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}
    assert errors(ItemReader={**reader, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}}) == \
        [("/States/M/ItemReader/ReaderConfig", "CSVHeaders must be given when CSVHeaderLocation is GIVEN")]
    assert errors(ItemReader={**reader, "ReaderConfig": {"InputType": "JSON", "MaxItems": 100_000_001}}) == \
        [("/States/M/ItemReader/ReaderConfig/MaxItems", "MaxItems must be at most 100000000")]
    assert errors(ItemReader={**reader, "ReaderConfig": {"InputType": "JSON", "MaxItems": 100_000_000}}) == []


def test_an_http_task_without_a_connection_is_a_warning() -> None:
    http = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
            "Parameters": {"ApiEndpoint": "https://example.com", "Method": "GET"}}
    found = validate(machine({"H": http}))
    assert [(x.severity, x.pointer) for x in found] == [(Severity.WARNING, "/States/H/Parameters")]
    http["Parameters"]["Authentication"] = {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/c/1"}  # type: ignore[index]
    assert validate(machine({"H": http})) == []
