"""``asl run --report FILE.html`` and ``asl test --report DIR``: self-contained HTML pages of the executions (the
console's execution view, with its stylesheet, script and data inside; see :mod:`asl.console.report`), written
for CI artifacts and for looking at a run without a server.

``asl test --report DIR`` writes ``DIR/index.html`` (every test, its verdict and its execution's status) and a
page per test under ``DIR/tests/``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

run_report_option = click.option(
    "--report", "report_path", metavar="FILE.html", type=click.Path(dir_okay=False),
    help="Write a self-contained HTML page of the execution (graph, history, each state's input and output); "
         "it opens offline.")
test_report_option = click.option(
    "--report", "report_dir", metavar="DIR", type=click.Path(file_okay=False),
    help="Write DIR/index.html and a self-contained HTML page per test (graph, history, states; they open offline).")


def _write(path: Path, text: str) -> None:
    """Write a report file; a failure is one error line and exit status 2."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write the report {exc.filename or path}: {exc.strerror or exc}", err=True)
        sys.exit(2)


def write_run_report(path: str, result: Any, definition: str, children: Sequence[dict[str, Any]] = ()) -> None:
    """The page of an execution ``asl run`` ran (an :class:`~asl.runtime.ExecutionResult`), with its Distributed
    Map children."""
    from .console.report import execution_page, run_entries

    executions = run_entries(result.execution_arn, result.status, result.output, result.error, result.cause, definition,
                             result.history, children)
    name = result.execution_arn.rsplit(":", 1)[-1]
    _write(Path(path), execution_page(f"{name} · asl run", executions, result.execution_arn))
    click.echo(f"report: {path}", err=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "test"


def write_test_report(folder: str, results: Sequence[Any], definition_text: Callable[[Any], str] | None = None) -> None:
    """``index.html`` and a page per test of ``results`` (:class:`~asl.testing.SuiteResult`\\ s) under ``folder``."""
    from .console.report import describe, entry, execution_page, index_page, run_entries

    root = Path(folder)
    items: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    used: set[str] = set()
    for suite_result in results:
        suite = suite_result.suite
        text = definition_text(suite) if definition_text is not None else _definition_text(suite)
        for test in suite_result.results:
            label = f"{suite.name} › {test.name}"
            verdict = {"verdict": "passed" if test.passed else "failed", "failures": list(test.failures),
                       "suite": suite.name, "test": test.name}
            result = test.result
            if result is None:  # the test could not run: listed, with its reason, and no page
                items.append({"executionArn": f"test:{suite.name}:{test.name}", "name": label, "status": "FAILED",
                              **verdict})
                continue
            arn = result.execution_arn
            base = _slug(f"{suite.name}-{test.name}")
            file_name, n = f"{base}.html", 1
            while file_name in used:
                n += 1
                file_name = f"{base}-{n}.html"
            used.add(file_name)
            executions = run_entries(arn, result.status, result.output, result.error, result.cause, text, result.history)
            executions[arn] = entry(executions[arn]["describe"], text, executions[arn]["events"], executions[arn]["mapRuns"],
                                    test={"suite": suite.name, "name": test.name, "passed": test.passed,
                                          "failures": list(test.failures)})
            _write(root / "tests" / file_name, execution_page(f"{label} · asl test", executions, arn, home="../index.html"))
            links[arn] = f"tests/{file_name}"
            d = describe(arn, result.status, executions[arn]["events"])
            items.append({**{k: d[k] for k in ("executionArn", "stateMachineArn", "status", "startDate", "stopDate")
                             if k in d}, "name": label, **verdict})
    _write(root / "index.html", index_page("asl test report", items, links))
    click.echo(f"report: {root / 'index.html'} ({len(items)} test(s))", err=True)


def _definition_text(suite: Any) -> str:
    """The definition a suite ran, as JSON text (the model keeps the definition it was compiled from)."""
    import json

    return json.dumps(suite.machine.definition, ensure_ascii=False)


__all__ = ["run_report_option", "test_report_option", "write_run_report", "write_test_report"]
