"""The ``asl`` command line: a thin front over the library.

Exit codes follow one rule everywhere: 0 success, 1 the thing checked or run failed (invalid definition, failed
execution), 2 bad usage or an unreadable file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .diagnostics import Severity
from .parse import load_file
from .validate import validate as _validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="asl-runtime", prog_name="asl")
def main() -> None:
    """Validate and run Amazon States Language (AWS Step Functions) state machines locally."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Human-readable lines, or one JSON document with every file's diagnostics.")
@click.option("--type", "machine_type", type=click.Choice(["STANDARD", "EXPRESS"]), default="STANDARD",
              show_default=True, help="The state machine type to validate for.")
@click.option("--no-warnings", is_flag=True, help="Report only ERROR diagnostics.")
def validate(files: tuple[str, ...], fmt: str, machine_type: str, no_warnings: bool) -> None:
    """Validate definition FILES, reporting every problem with its location.

    Text output is one line per problem: FILE:POINTER: SEVERITY CODE: MESSAGE. Exit 0 when every file is valid
    (warnings allowed), 1 when any has an ERROR, 2 when a file cannot be read.
    """
    results: list[dict[str, Any]] = []
    status = 0
    for path in files:
        try:
            parsed = load_file(path)
        except OSError as exc:
            click.echo(f"{path}: cannot read file: {exc.strerror or exc}", err=True)
            status = 2
            continue
        diags = list(parsed.diagnostics)
        if parsed.ok:
            # parse diagnostics (duplicate keys) first, then the validator's
            diags = list(parsed.diagnostics) + [x for x in _validate(parsed.value, machine_type=machine_type)]
        if no_warnings:
            diags = [x for x in diags if x.severity is Severity.ERROR]
        valid = not any(x.severity is Severity.ERROR for x in diags)
        if not valid and status == 0:
            status = 1
        results.append({"file": path, "valid": valid, "diagnostics": [x.to_dict() for x in diags]})
        if fmt == "text":
            for x in diags:
                click.echo(f"{path}:{x.location}: {x.severity.value} {x.code}: {x.message}")
            if valid:
                click.echo(f"{path}: valid" + (f" ({len(diags)} warning(s))" if diags else ""))
    if fmt == "json":
        click.echo(json.dumps({"files": results}, indent=2, ensure_ascii=False))
    sys.exit(status)


def _load_callable(spec: str) -> Any:
    """``path/to/file.py:function`` or ``package.module:function`` → the function."""
    import importlib
    import importlib.util

    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise click.BadParameter(f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got '{spec}'")
    try:
        if target.endswith(".py"):
            s = importlib.util.spec_from_file_location(Path(target).stem, target)
            if s is None or s.loader is None:
                raise click.BadParameter(f"cannot load '{target}'")
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        else:
            mod = importlib.import_module(target)
        return getattr(mod, attr)
    except (OSError, ImportError, AttributeError, SyntaxError) as exc:
        raise click.BadParameter(f"cannot load '{spec}': {exc}") from None


@main.command()
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--input", "input_text", help="The execution input as JSON text (default {}).")
@click.option("--input-file", type=click.Path(dir_okay=False), help="Read the execution input from a file.")
@click.option("--task", "tasks", multiple=True, metavar="ARN=FILE.py:FUNCTION",
              help="Run a Python function for a Task resource ARN; repeatable. The function gets (input, context).")
@click.option("--name", help="The execution name (default: a UUID).")
@click.option("--history", is_flag=True, help="Print the execution history (JSON) to standard error.")
@click.option("--real-time", is_flag=True, help="Really sleep in Wait and Retry (default: a virtual clock).")
def run(definition: str, input_text: str | None, input_file: str | None, tasks: tuple[str, ...], name: str | None,
        history: bool, real_time: bool) -> None:
    """Run a state machine DEFINITION locally and print its output.

    On success the output JSON is printed and the exit status is 0. When the execution fails, the error and
    cause are printed to standard error and the exit status is 1. Bad usage, an unreadable file or an invalid
    definition exit 2.
    """
    from .diagnostics import DefinitionError
    from .interpreter import ExecutionOptions, RealClock, VirtualClock
    from .interpreter import run as run_machine
    from .model import load

    if input_text is not None and input_file is not None:
        raise click.UsageError("use either --input or --input-file, not both")
    try:
        text = Path(definition).read_text(encoding="utf-8")
        if input_file is not None:
            input_text = Path(input_file).read_text(encoding="utf-8")
    except OSError as exc:
        click.echo(f"cannot read file: {exc.filename}: {exc.strerror}", err=True)
        sys.exit(2)
    if input_text is not None:
        try:
            json.loads(input_text)
        except ValueError as exc:
            raise click.BadParameter(f"the input is not valid JSON: {exc}", param_hint="--input") from None
    registered = {}
    for t in tasks:
        arn, sep, spec = t.partition("=")
        if not sep:
            raise click.BadParameter(f"expected ARN=FILE.py:FUNCTION, got '{t}'", param_hint="--task")
        registered[arn] = _load_callable(spec)
    try:
        machine = load(text)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            click.echo(f"{definition}:{d.location}: {d.severity.value} {d.code}: {d.message}", err=True)
        sys.exit(2)
    opts = ExecutionOptions(execution_name=name, tasks=registered, clock=RealClock() if real_time else VirtualClock())
    result = run_machine(machine, input_text, opts)
    if history:
        from .conformance import _json_history

        click.echo(json.dumps(_json_history(result.history), indent=1, ensure_ascii=False), err=True)
    if result.status == "SUCCEEDED":
        click.echo(result.output)
        sys.exit(0)
    click.echo(f"{result.status}: error: {result.error}", err=True)
    click.echo(f"cause: {result.cause}", err=True)
    sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--report", type=click.Path(dir_okay=False), help="Write a JSON report with every case's result.")
def conformance(paths: tuple[str, ...], report: str | None) -> None:
    """Run conformance case files and folders (the format of conformance/README.md) and compare results.

    Exit 0 when every case passes, 1 otherwise.
    """
    from .conformance import case_files, run_case

    verdicts = [run_case(p) for p in case_files(paths)]
    ran = [v for v in verdicts if not v.skipped]
    failed = [v for v in ran if not v.passed]
    for v in failed:
        click.echo(f"FAIL {v.file}")
        for diff in v.diffs:
            click.echo(f"    {diff}")
    click.echo(f"{len(ran) - len(failed)} passed, {len(failed)} failed, {len(verdicts) - len(ran)} skipped")
    if report:
        with open(report, "w", encoding="utf-8") as fh:
            json.dump({"cases": [v.to_dict() for v in verdicts]}, fh, indent=1, ensure_ascii=False)
    sys.exit(1 if failed else 0)
