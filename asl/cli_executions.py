"""The ``asl`` commands about executions in a store: ``executions list/describe`` (and ``watch``, in
cli_progress), ``map-runs``, ``history``, ``stop``, ``redrive`` and ``task success/failure/heartbeat``: thin fronts
over the service's operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click

from .cli_common import call as _call
from .cli_common import execution_arn as _execution_arn
from .cli_common import service as _service
from .cli_common import show as _show
from .cli_common import store_errors as _store_errors
from .cli_common import store_option


@click.group()
def executions() -> None:
    """List and describe the executions in the store."""


@executions.command("list")
@store_option
@click.option("--status", type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]))
@click.option("--map-run", "map_run", metavar="MAP_RUN_ARN", help="The child executions of this Distributed Map Run.")
def executions_list(store_path: str | None, status: str | None, map_run: str | None) -> None:
    """One line per execution, newest first: status, start time, ARN."""
    sfn = _service(store_path, create=False)
    if map_run is not None:
        _call(sfn.describe_map_run, mapRunArn=map_run)  # says so when there is no such Map Run
    with _store_errors():
        for e in sfn.store.list_executions(status=status, map_run_arn=map_run):
            click.echo(f"{e.status:<10} {e.start.isoformat(timespec='seconds')} {e.arn}")


@click.group("map-runs")
def map_runs() -> None:
    """The Map Runs of Distributed Map states: list, describe, update."""


@map_runs.command("list")
@click.argument("execution")
@store_option
def map_runs_list(execution: str, store_path: str | None) -> None:
    """One line per Map Run of EXECUTION (its ARN or name), newest first: status, counts of children, ARN."""
    sfn = _service(store_path, create=False)
    for run in _call(sfn.list_map_runs, executionArn=_execution_arn(sfn, execution), maxResults=1000)["mapRuns"]:
        d = _call(sfn.describe_map_run, mapRunArn=run["mapRunArn"])
        counts = d["executionCounts"]
        done = counts["succeeded"] + counts["failed"] + counts["timedOut"] + counts["aborted"]
        click.echo(f"{d['status']:<10} {done}/{counts['total']} children ended, {counts['failed']} failed  {d['mapRunArn']}")


@map_runs.command("describe")
@click.argument("map_run")
@store_option
def map_runs_describe(map_run: str, store_path: str | None) -> None:
    """DescribeMapRun of MAP_RUN (its ARN), as JSON."""
    _show(_call(_service(store_path, create=False).describe_map_run, mapRunArn=map_run))


@map_runs.command("update")
@click.argument("map_run")
@store_option
@click.option("--max-concurrency", type=click.IntRange(min=0), help="Children at once (0: as many as allowed).")
@click.option("--tolerated-failure-count", type=click.IntRange(min=0))
@click.option("--tolerated-failure-percentage", type=click.FloatRange(0, 100))
def map_runs_update(map_run: str, store_path: str | None, max_concurrency: int | None,
                    tolerated_failure_count: int | None, tolerated_failure_percentage: float | None) -> None:
    """UpdateMapRun: change a running Map Run's MaxConcurrency or tolerated failures."""
    _call(_service(store_path, create=False).update_map_run, mapRunArn=map_run, maxConcurrency=max_concurrency,
          toleratedFailureCount=tolerated_failure_count, toleratedFailurePercentage=tolerated_failure_percentage)


@executions.command("describe")
@click.argument("execution")
@store_option
def executions_describe(execution: str, store_path: str | None) -> None:
    """DescribeExecution of EXECUTION (its ARN or name), as JSON."""
    sfn = _service(store_path, create=False)
    with _store_errors():
        _show(_call(sfn.describe_execution, executionArn=_execution_arn(sfn, execution)))


@click.command()
@click.argument("execution")
@store_option
@click.option("--max-items", type=click.IntRange(min=1), help="Print the first N events only (default: all of them).")
@click.option("--reverse", "--reverse-order", "reverse", is_flag=True, help="Newest event first.")
def history(execution: str, store_path: str | None, max_items: int | None, reverse: bool) -> None:
    """The execution history of EXECUTION (its ARN or name), as a JSON array of events: the whole of it, read
    from the store a page (GetExecutionHistory's largest, 1,000 events) at a time."""
    sfn = _service(store_path, create=False)
    with _store_errors():
        _show_events(_history_pages(sfn, _execution_arn(sfn, execution), max_items, reverse))


def _history_pages(sfn: Any, arn: str, max_items: int | None, reverse: bool) -> Iterator[list[dict[str, Any]]]:
    """The pages of GetExecutionHistory of ``arn``, up to ``max_items`` events in all."""
    token: str | None = None
    left = max_items
    while left is None or left > 0:
        size = 1000 if left is None else min(left, 1000)
        page = _call(sfn.get_execution_history, executionArn=arn, reverseOrder=reverse, maxResults=size,
                     **({"nextToken": token} if token else {}))
        yield page["events"]
        if left is not None:
            left -= len(page["events"])
        token = page.get("nextToken")
        if token is None:
            return


def _show_events(pages: Iterator[list[dict[str, Any]]]) -> None:
    """Print the events of ``pages`` as one JSON array, as :func:`_show` prints a list, a page at a time (a long
    history is never all in memory). Nothing is printed before the first page is read, so an error (no such
    execution) leaves standard output empty."""
    from datetime import datetime

    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    first = True
    for page in pages:
        for ev in page:
            text = json.dumps(ev, indent=1, ensure_ascii=False, default=default).replace("\n", "\n ")
            click.echo(("[\n " if first else ",\n ") + text, nl=False)
            first = False
    click.echo("[]" if first else "\n]")


@click.command()
@click.argument("execution")
@store_option
@click.option("--error", help="The error code of the abort.")
@click.option("--cause", help="A description of the abort.")
def stop(execution: str, store_path: str | None, error: str | None, cause: str | None) -> None:
    """Stop (abort) EXECUTION (its ARN or name)."""
    sfn = _service(store_path, create=False)  # they act on what exists: a typo must not make a store
    _show(_call(sfn.stop_execution, executionArn=_execution_arn(sfn, execution), error=error, cause=cause))


@click.command()
@click.argument("execution")
@store_option
def redrive(execution: str, store_path: str | None) -> None:
    """Redrive EXECUTION (its ARN or name): a FAILED, ABORTED or TIMED_OUT execution goes on from the state it did
    not finish (a worker runs it); a Distributed Map there reruns only its children that did not succeed."""
    sfn = _service(store_path, create=False)
    _show(_call(sfn.redrive_execution, executionArn=_execution_arn(sfn, execution)))


@click.group()
def task() -> None:
    """Complete a task that waits for a callback (.waitForTaskToken or an activity) by its task token."""


@task.command("success")
@click.argument("token")
@click.option("--output", default="{}", show_default=True, help="The task's result, JSON text.")
@store_option
def task_success(token: str, output: str, store_path: str | None) -> None:
    """SendTaskSuccess: the task succeeds with OUTPUT."""
    sfn = _service(store_path, create=False)  # they act on what exists: a typo must not make a store
    _call(sfn.send_task_success, taskToken=token, output=output)


@task.command("failure")
@click.argument("token")
@click.option("--error", help="The error code of the failure.")
@click.option("--cause", help="A description of the failure.")
@store_option
def task_failure(token: str, error: str | None, cause: str | None, store_path: str | None) -> None:
    """SendTaskFailure: the task fails with ERROR and CAUSE."""
    sfn = _service(store_path, create=False)  # they act on what exists: a typo must not make a store
    _call(sfn.send_task_failure, taskToken=token, error=error, cause=cause)


@task.command("heartbeat")
@click.argument("token")
@store_option
def task_heartbeat(token: str, store_path: str | None) -> None:
    """SendTaskHeartbeat: the task is still making progress (resets its HeartbeatSeconds clock)."""
    sfn = _service(store_path, create=False)  # they act on what exists: a typo must not make a store
    _call(sfn.send_task_heartbeat, taskToken=token)
