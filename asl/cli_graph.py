"""``asl graph``: a definition drawn as SVG, a standalone HTML page, or Graphviz DOT."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .diagnostics import Severity
from .graph import render_dot, render_html, render_svg
from .parse import load_file
from .validate import validate

_FORMATS = {".svg": "svg", ".html": "html", ".htm": "html", ".dot": "dot", ".gv": "dot"}


@click.command("graph")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: standard output).")
@click.option("--format", "fmt", type=click.Choice(["svg", "html", "dot"]),
              help="svg (default), html (the graph with each state's definition on click) or dot; "
                   "by default taken from the output file's extension.")
def graph(definition: str, output: str | None, fmt: str | None) -> None:
    """Draw DEFINITION: states shaped and coloured by type, Choice rules in words on their edges, Default and
    Catch edges dashed, Retry on its state, Parallel branches and Map processors as nested boxes.

    The SVG is laid out here (nothing to install); its states carry data-state attributes and type-* classes.
    Exit 1 when the definition is invalid (its problems are listed), 2 when it cannot be read.
    """
    try:
        parsed = load_file(definition)
    except OSError as exc:
        click.echo(f"{definition}: cannot read file: {exc.strerror or exc}", err=True)
        sys.exit(2)
    problems = list(parsed.diagnostics) if not parsed.ok else list(validate(parsed.value))
    errors = [d for d in problems if d.severity is Severity.ERROR]
    if errors or not parsed.ok:
        for d in errors or problems:
            click.echo(f"{definition}:{d.location}: {d.severity.value} {d.code}: {d.message}", err=True)
        sys.exit(1)
    if output is not None and fmt is None and Path(output).suffix.lower() not in _FORMATS:
        click.echo(f"{output}: cannot tell the format from the extension '{Path(output).suffix}': name the file "
                   ".svg, .html or .dot, or give --format", err=True)
        sys.exit(2)
    chosen = fmt or (_FORMATS[Path(output).suffix.lower()] if output else "svg")
    title = Path(definition).name
    text = {"svg": render_svg, "dot": render_dot}.get(chosen)
    rendered = text(parsed.value) if text else render_html(parsed.value, title=title)
    if output is None:
        click.echo(rendered, nl=False)
        return
    try:
        Path(output).write_text(rendered, encoding="utf-8")
    except OSError as exc:
        click.echo(f"{output}: cannot write file: {exc.strerror or exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote {output} ({chosen})", err=True)
