"""The official JSONata test suite (../shared/jsonata-test-suite), run through our adapter (asl.jsonata).

The suite tests the JSONata language, so it runs in the adapter's plain profile (``aws=False``): Step Functions
removes ``$eval``, which nine suite cases use; that refusal has its own tests in test_jsonata.py. Cases that do
not pass are listed with a reason in conformance/jsonata-known-failures.json and run as strict xfails.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from asl.jsonata import (
    ENVIRONMENT,
    FUNCTION_RESULT,
    UNDEFINED,
    Environment,
    JsonataEvaluationError,
    JsonataSyntaxError,
    compile_expression,
)

from .conftest import ROOT

SUITE = ROOT.parent / "shared" / "jsonata-test-suite"
LEDGER = json.loads((ROOT / "conformance" / "jsonata-known-failures.json").read_text())["cases"]


def _cases() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if not SUITE.is_dir():
        return out
    for f in sorted((SUITE / "groups").glob("*/*.json")):
        data = json.loads(f.read_text())
        items = data if isinstance(data, list) else [data]
        for i, case in enumerate(items):
            cid = f"{f.parent.name}/{f.stem}" + (f"[{i}]" if isinstance(data, list) else "")
            case["_dir"] = f.parent
            out.append((cid, case))
    return out


CASES = _cases()


def _same(a: Any, b: Any, unordered: bool = False) -> bool:
    """Deep equality with JSON number semantics (1 == 1.0), as the suite's JavaScript runner compares."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=1e-15)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        if unordered:
            rest = list(b)
            for x in a:
                hit = next((i for i, y in enumerate(rest) if _same(x, y)), None)
                if hit is None:
                    return False
                rest.pop(hit)
            return True
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def run_suite_case(case: dict[str, Any]) -> tuple[bool, str]:
    """Run one suite case through the adapter; (passed, what happened)."""
    expr_text = case.get("expr")
    if expr_text is None:
        expr_text = (case["_dir"] / case["expr-file"]).read_text()
    if "data" in case:
        data = case["data"]
    elif case.get("dataset") is not None:
        data = json.loads((SUITE / "datasets" / f"{case['dataset']}.json").read_text())
    else:
        data = UNDEFINED
    want_code = case.get("code") or (case.get("error") or {}).get("code")
    env = Environment(timeout=case["timelimit"] / 1000 if "timelimit" in case else 10.0,
                      max_depth=case.get("depth", 1000),
                      # the plain language: ASL's size and step bounds are ours, not JSONata's (a case ranges over 1e7)
                      max_array_length=None, max_string_length=None, max_steps=None, memory_limit=None)
    token = ENVIRONMENT.set(env)
    try:
        expr = compile_expression(expr_text, aws=False)
        got = expr.evaluate(case.get("bindings") or {}, data)
    except (JsonataSyntaxError, JsonataEvaluationError) as exc:
        if want_code is not None:
            return exc.code == want_code, f"error {exc.code}: {exc}"
        return False, f"unexpected error {exc.code}: {exc}"
    finally:
        ENVIRONMENT.reset(token)
    if want_code is not None:
        return False, f"expected error {want_code}, got {got!r}"
    if case.get("undefinedResult"):
        return got is UNDEFINED, f"expected undefined, got {got!r}"
    if got is UNDEFINED or got is FUNCTION_RESULT:
        return False, f"expected {case.get('result')!r}, got {got!r}"
    return _same(got, case.get("result"), bool(case.get("unordered"))), f"expected {case.get('result')!r}, got {got!r}"


@pytest.mark.skipif(not CASES, reason="../shared/jsonata-test-suite is not present")
@pytest.mark.parametrize("cid,case", CASES, ids=[c for c, _ in CASES])
def test_suite_case(cid: str, case: dict[str, Any]) -> None:
    passed, what = run_suite_case(case)
    if cid in LEDGER:
        assert not passed, f"{cid} passes now: remove it from conformance/jsonata-known-failures.json"
        pytest.xfail(LEDGER[cid])
    assert passed, what


@pytest.mark.skipif(not CASES, reason="../shared/jsonata-test-suite is not present")
def test_suite_pass_rate() -> None:
    """The issue's bar: at least 99.5% of the official suite passes."""
    assert len(CASES) >= 1600
    assert 1 - len(LEDGER) / len(CASES) >= 0.995
    assert set(LEDGER) <= {c for c, _ in CASES}, "the ledger names cases that do not exist"
