"""What the console's tests share: a definition that visits every kind of status (a Task retried, one whose
failure is caught, a Parallel, an inline Map, a Choice, a Fail state not reached), its Python tasks, and an
in-process ``asl serve`` (the :class:`~asl.server.Server` class) over a SQLite store."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asl.errors import TaskFailed
from asl.server import Server
from asl.service import StepFunctions
from asl.store import open_store

ROLE = "arn:aws:iam::123456789012:role/r"
FLAKY = "arn:aws:lambda:us-east-1:123456789012:function:flaky"
BAD = "arn:aws:lambda:us-east-1:123456789012:function:bad"

DEMO: dict[str, Any] = {
    "Comment": "Every status the console colours",
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Assign": {"customer": "Ada"}, "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": FLAKY, "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1,
                                                                 "BackoffRate": 1, "MaxAttempts": 2}], "Next": "Bad"},
        "Bad": {"Type": "Task", "Resource": BAD, "ResultPath": "$.err",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Both", "ResultPath": "$.err"}], "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
            {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.each", "Next": "Check",
                 "ItemProcessor": {"StartAt": "Double", "States": {
                     "Double": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": True}}}},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
                  "Default": "Broken"},
        "Broken": {"Type": "Fail", "Error": "NotOk", "Cause": "ok was not true"},
        "Done": {"Type": "Succeed"},
    },
}
STATES = ["Init", "Flaky", "Bad", "Both", "Left", "Right", "Each", "Double", "Check", "Broken", "Done"]


class FlakyTask:
    """Fails with Boom the first time each execution calls it; its retry succeeds."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, value: Any, context: Any) -> Any:
        execution = context["Execution"]["Id"]
        if execution not in self.seen:
            self.seen.add(execution)
            raise TaskFailed("Boom", "the first attempt fails")
        return value


def bad(value: Any, context: Any) -> Any:
    raise TaskFailed("Nope", "this task always fails")


def tasks() -> dict[str, Any]:
    return {FLAKY: FlakyTask(), BAD: bad}


@contextmanager
def console_server(folder: Path, workers: int = 2) -> Iterator[tuple[Server, StepFunctions]]:
    """``asl serve`` in this process on a free port, over a SQLite store in ``folder``."""
    sfn = StepFunctions(open_store(str(folder / "store.db"), create=True), tasks=tasks())
    server = Server(sfn, port=0, workers=workers, worker_options={"inline_wait": 2.0})
    server.start()
    try:
        yield server, sfn
    finally:
        server.stop()


def create(sfn: StepFunctions, name: str = "demo", definition: dict[str, Any] | None = None) -> str:
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition or DEMO), roleArn=ROLE)["stateMachineArn"])


def start(sfn: StepFunctions, machine: str, name: str, value: Any = None) -> str:
    body = value if value is not None else {"items": [1, 2, 3], "ok": True}
    return str(sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(body))["executionArn"])


def wait_done(sfn: StepFunctions, arn: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A GET (or HEAD): status, headers (lower-case names) and body, whatever the status."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
