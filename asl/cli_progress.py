"""``asl executions watch``: follow one execution in the store until it ends (registered on the ``executions``
group by :mod:`asl.cli`; the lines are :mod:`asl.progress`'s)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .cli_common import call as _call
from .cli_common import execution_arn as _execution_arn
from .cli_common import service as _service
from .cli_common import store_errors as _store_errors
from .cli_common import store_option

PAGE = 100  # events a poll reads at most, once caught up: it reads the last page again


@click.command("watch")
@click.argument("execution")
@store_option
@click.option("--interval", type=click.FloatRange(0.01, 60), default=0.5, show_default=True,
              help="Seconds between reads of the history while nothing new has come.")
@click.option("-v", "--verbose", is_flag=True, help="Show each state's input and output too.")
def watch(execution: str, store_path: str | None, interval: float, verbose: bool) -> None:
    """Follow EXECUTION (its ARN or name) until it ends: its history's events, as they arrive, as lines (states
    entered and exited, failures, retries, waits, and the final status).

    Exit 0 when it SUCCEEDED, 1 when it FAILED, TIMED_OUT or ABORTED (or it does not exist), 130 on Ctrl-C.
    Colour when standard output is a terminal, unless NO_COLOR is set or TERM is dumb.
    """
    from .progress import Progress, colour_wanted
    from .progress import watch as follow

    sfn = _service(store_path, create=False)
    arn = _execution_arn(sfn, execution)
    out = sys.stdout
    progress = Progress(out, colour=colour_wanted(out), verbose=verbose)

    def page(token: str | None) -> dict[str, Any]:
        more = {"nextToken": token} if token else {}
        result: dict[str, Any] = _call(sfn.get_execution_history, executionArn=arn, maxResults=PAGE, **more)
        return result

    def status() -> str:
        return str(_call(sfn.describe_execution, executionArn=arn)["status"])

    try:
        with _store_errors():
            final = follow(page, status, progress, interval)
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching {arn} (it goes on)", err=True)
        sys.exit(130)
    sys.exit(0 if final == "SUCCEEDED" else 1)

