"""The ``asl`` command line: a thin front over the library.

Exit codes follow one rule everywhere: 0 success, 1 the thing checked or run failed (invalid definition, failed
execution), 2 bad usage or an unreadable file.
"""

from __future__ import annotations

import json
import sys
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
