"""The cases recorded against real AWS: every one passes, or is in conformance/known-failures.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asl.conformance import run_case

from .conftest import RECORDED, ROOT, needs_shared, recorded_cases

LEDGER = json.loads((ROOT / "conformance" / "known-failures.json").read_text())["cases"]
PURE = recorded_cases("pure")
LAMBDA = recorded_cases("lambda")


def _param(p: Path) -> object:
    key = f"{p.parent.name}/{p.name}"
    marks = [pytest.mark.xfail(reason=LEDGER[key], strict=True)] if key in LEDGER else []
    return pytest.param(p, marks=marks, id=p.stem[-70:])


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in PURE])
def test_pure_case(path: Path) -> None:
    verdict = run_case(path)
    assert verdict.passed, "\n".join(verdict.diffs)


@needs_shared
@pytest.mark.parametrize("path", [_param(p) for p in LAMBDA])
def test_lambda_case(path: Path) -> None:
    """Cases whose Lambda functions' sources are in the case, run through the local Lambda emulator."""
    verdict = run_case(path)
    assert verdict.passed, "\n".join(verdict.diffs)


@needs_shared
def test_ledger_names_existing_cases() -> None:
    for key in LEDGER:
        assert (RECORDED / key).is_file(), f"ledger entry for a missing case: {key}"


@needs_shared
def test_jsonpath_mode_pass_rate_at_least_95_percent() -> None:
    jsonpath = [p for p in PURE if "JSONata" not in json.dumps(json.loads(p.read_text())["definition"])]
    failing = [p for p in jsonpath if f"pure/{p.name}" in LEDGER]
    assert len(jsonpath) - len(failing) >= 0.95 * len(jsonpath)
