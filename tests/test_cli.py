"""The command line, end to end through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from asl.cli import main

from .conftest import ROOT


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "B", "States": {"A": {"Type": "Pass", "End": True}}}))
    r = CliRunner().invoke(main, ["validate", str(good)])
    assert r.exit_code == 0 and "valid" in r.output
    r = CliRunner().invoke(main, ["validate", str(good), str(bad), "--format", "json"])
    assert r.exit_code == 1
    files = json.loads(r.output)["files"]
    assert files[1]["diagnostics"][0]["pointer"] == "/StartAt"
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "cannot read" in r.output


def test_run_example_with_python_task() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:greet"
    r = CliRunner().invoke(main, ["run", str(ROOT / "examples/greeting.asl.json"), "--task",
                                  f"{arn}={ROOT / 'examples/greeting_tasks.py'}:greet", "--input", '{"people": ["Ada"]}'])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"count": 1, "greetings": ["Hello, Ada (#1)!"]}


def test_run_jsonata_example_from_readme() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:price"
    data = {"customer": "Ada", "lines": [{"sku": "apple", "qty": 12}, {"sku": "coffee", "qty": 2}]}
    r = CliRunner().invoke(main, ["run", str(ROOT / "examples/basket.jsonata.asl.json"), "--task",
                                  f"{arn}={ROOT / 'examples/basket_tasks.py'}:price", "--input", json.dumps(data)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["bulk"], out["total"], out["shipping"], out["due"]) == (["apple"], 20.6, 4.95, "25.55 EUR")
    assert [line["amount"] for line in out["lines"]] == [4.8, 15.8]


def test_run_failure_and_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "fail.json"
    f.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}}))
    r = CliRunner().invoke(main, ["run", str(f)])
    assert r.exit_code == 1 and "E" in r.output
    r = CliRunner().invoke(main, ["run", str(f), "--input", "{nope"])
    assert r.exit_code == 2 and "not valid JSON" in r.output


def test_conformance_report(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["conformance", str(ROOT / "conformance" / "data-flow"), "--report", str(report)])
    assert r.exit_code == 0, r.output
    cases = json.loads(report.read_text())["cases"]
    assert cases and all(c["verdict"] == "passed" and c["history"] for c in cases)
