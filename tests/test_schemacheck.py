"""The quick schema check answers exactly as jsonschema does, on every definition we have and on mutations of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asl.schemacheck import UnsupportedSchema, compile_check, equal
from asl.validate import SCHEMA_FILE

from .conftest import RECORDED, ROOT

SCHEMA = json.loads(SCHEMA_FILE.read_text())
CHECK = compile_check(SCHEMA)
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)


def _definitions() -> list[Any]:
    """Every definition in the recorded cases (when ../shared is here), our own cases and the examples."""
    out: list[Any] = []
    files = [*ROOT.joinpath("conformance").rglob("*.json"), *ROOT.joinpath("examples").rglob("*.json")]
    if RECORDED.is_dir():
        files += RECORDED.rglob("*.json")
    for f in sorted(files):
        try:
            doc = json.loads(f.read_text())
        except ValueError:
            continue
        d = doc.get("definition") if isinstance(doc, dict) else None
        if isinstance(d, str):
            try:
                d = json.loads(d)
            except ValueError:
                continue
        if isinstance(d, dict):
            out.append(d)
        elif isinstance(doc, dict) and "States" in doc:
            out.append(doc)
    return out


DEFINITIONS = _definitions()


def test_the_corpus_is_large_and_mixed() -> None:
    assert len(DEFINITIONS) >= 20
    verdicts = {REFERENCE.is_valid(d) for d in DEFINITIONS}
    assert verdicts == {True, False} or not RECORDED.is_dir()


@pytest.mark.parametrize("index", range(len(DEFINITIONS)))
def test_same_answer_as_jsonschema_on_every_definition(index: int) -> None:
    d = DEFINITIONS[index]
    assert CHECK(d) == REFERENCE.is_valid(d)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


REPLACEMENTS = [None, True, False, 0, -1, 1.5, 100000, "", "x", "$.a", "{% 1 %}", [], ["x"], {}, {"Type": "Pass"},
                "Pass", "Task", "Map", "JSONata", "JSONPath", "DISTRIBUTED", "INLINE", 1e300, 2.0]


@settings(max_examples=600, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0), st.sampled_from(REPLACEMENTS), st.booleans())
def test_same_answer_on_mutated_definitions(which: int, where: int, new: Any, delete: bool) -> None:
    """Replace or delete one value anywhere in a real definition: both checks still agree."""
    d = copy.deepcopy(DEFINITIONS[which % len(DEFINITIONS)])
    paths = [p for p in _paths(d) if p]
    if paths:
        path = paths[where % len(paths)]
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(new)
    assert CHECK(d) == REFERENCE.is_valid(d)


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert equal(1, 1.0) and not equal(True, 1) and not equal([0], [False]) and equal({"a": [1]}, {"a": [1.0]})
    assert not equal({"a": 1}, {"b": 1}) and not equal([1], {"0": 1})


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(UnsupportedSchema, match="'dependentRequired'"):
        compile_check({"dependentRequired": {"a": ["b"]}})
    with pytest.raises(UnsupportedSchema, match="inside the schema"):
        compile_check({"$ref": "https://example.com/s.json"})


def test_keywords_on_small_schemas() -> None:
    s = {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "additionalProperties": False}},
         "$ref": "#/$defs/node"}
    assert compile_check(s)({"next": {"next": {}}}) and not compile_check(s)({"next": {"other": 1}})
    cases: list[tuple[dict[str, Any], Any, bool]] = [
        ({"type": "integer"}, 2.0, True), ({"type": "integer"}, True, False), ({"type": ["string", "null"]}, None, True),
        ({"minimum": 1}, 0, False), ({"minimum": 1}, "0", True), ({"exclusiveMaximum": 1}, 1, False),
        ({"minLength": 1}, "", False), ({"minItems": 1}, [], False), ({"minProperties": 1}, {}, False),
        ({"pattern": "^a"}, "ba", False), ({"const": 1}, True, False), ({"enum": [1, "a"]}, "a", True),
        ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1, False), ({"not": {"type": "null"}}, None, False),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}, {"a": 1}, False),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}, {"c": 1}, True),
        ({"then": {"required": ["b"]}}, {}, True), ({"allOf": [True, {"type": "object"}]}, [], False),
    ]
    for schema, value, valid in cases:
        assert compile_check(schema)(value) is valid, (schema, value)
        assert jsonschema.Draft202012Validator(schema).is_valid(value) is valid, (schema, value)


def test_the_validator_imports_jsonschema_only_for_an_invalid_definition(tmp_path: Path) -> None:
    import subprocess
    import sys

    probe = ("import sys, asl; asl.validate({'StartAt': 'A', 'States': {'A': {'Type': 'Pass', 'End': True}}}); "
             "print('jsonschema' in sys.modules); asl.validate({'StartAt': 'A'}); print('jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "True"]
