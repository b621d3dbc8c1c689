"""The one door for JSON from outside (asl/jsontext.py): depth and Unicode limits, never a RecursionError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asl.jsontext import MAX_DEPTH, JsonLimitError, check_value, dumps, loads


def nested(depth: int) -> str:
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


def test_depth_up_to_the_limit_is_accepted_and_one_more_is_refused() -> None:
    assert loads(nested(MAX_DEPTH)) is not None
    with pytest.raises(JsonLimitError) as err:
        loads(nested(MAX_DEPTH + 1), "The execution input")
    assert err.value.reason == "depth"
    assert err.value.message == (f"The execution input is nested too deeply: {MAX_DEPTH + 1} levels; "
                                 f"the maximum is {MAX_DEPTH}")


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_far_too_deep_text_is_refused_without_a_recursion_error(depth: int) -> None:
    with pytest.raises(JsonLimitError):
        loads(nested(depth))
    with pytest.raises(JsonLimitError):  # bytes too, as a request body arrives
        loads(nested(depth).encode())


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 1000, {"k": "{" * 1000}])
    assert loads(text) == ["[" * 1000, {"k": "{" * 1000}]
    escaped = json.dumps(["\\\"[[[" * 400])  # escaped quotes do not end the string
    assert loads(escaped) == ["\\\"[[[" * 400]


def test_wide_values_are_not_deep() -> None:
    text = json.dumps([{"a": [i]} for i in range(5_000)])
    assert len(loads(text)) == 5_000


@pytest.mark.parametrize("text", ['"\\ud800"', '{"a": "x\\udfffy"}', '{"\\ud800": 1}', '["\\uDBFF"]'])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(JsonLimitError) as err:
        loads(text, "The input")
    assert err.value.reason == "unicode"
    assert "lone surrogate" in err.value.message


def test_a_surrogate_pair_is_one_character() -> None:
    assert loads('"\\ud83d\\ude00"') == "\U0001F600"


def test_bad_syntax_is_a_json_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads("{")
    with pytest.raises(json.JSONDecodeError):  # not hidden by the depth scan
        loads("[" * (MAX_DEPTH - 1) + "}")


def test_check_value_applies_the_same_limits_to_python_values() -> None:
    value: object = {}
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    check_value(value)
    with pytest.raises(JsonLimitError):
        check_value([value])
    with pytest.raises(JsonLimitError):
        check_value({"ok": ["\ud800"]})
    deep: object = 1
    for _ in range(50_000):  # far past Python's recursion limit: the check itself must not recurse
        deep = [deep]
    with pytest.raises(JsonLimitError):
        check_value(deep)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)))
def test_any_shallow_value_round_trips(value: object) -> None:
    assert loads(dumps(value)) == value


def test_an_unterminated_string_hides_the_brackets_after_it_as_the_parser_would() -> None:
    # the brackets are inside the (never closed) string: a syntax error, not nesting
    with pytest.raises(json.JSONDecodeError):
        loads('{"StartAt": "' + "[" * 300)
    # brackets before it count; the scan is linear however many escaped quotes follow (it was quadratic: 22 s for
    # 40,000 of them, with the GIL held)
    with pytest.raises(JsonLimitError):
        loads("[" * (MAX_DEPTH + 1) + '"' + '\\"' * 200_000)


def test_a_definition_with_an_unterminated_string_gets_its_syntax_error() -> None:
    from asl.validate import validate

    [diag] = validate('{"StartAt": "' + "[" * 300)
    assert diag.code == "INVALID_JSON_DESCRIPTION" and diag.line == 1
