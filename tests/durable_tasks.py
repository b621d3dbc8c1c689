"""Task functions for the kill-and-restart tests: each appends a line to the side-effect log named by
``ASL_TEST_LOG`` (fsync'd, so a line written before a kill survives it) and can be told to linger."""

from __future__ import annotations

import os
import time
from typing import Any


def _log(line: str) -> None:
    fd = os.open(os.environ["ASL_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def step(value: Any, context: Any) -> Any:
    """Log "start NAME", sleep ``value["sleep"]`` seconds (default 0), log "done NAME", return value + 1."""
    name = context["State"]["Name"]
    if isinstance(value, dict) and "i" in value:
        name += f"#{value['i']}"
    _log(f"start {name}")
    time.sleep(float(value.get("sleep", 0)) if isinstance(value, dict) else 0)
    _log(f"done {name}")
    return {**value, "n": value.get("n", 0) + 1} if isinstance(value, dict) else value


def hand_out(value: Any, context: Any) -> Any:
    """The request of a .waitForTaskToken task: log the token."""
    _log(f"token {value['token']}")
    return {"sent": True}


def fail_first(value: Any, context: Any) -> Any:
    """Log "start NAME RETRY" and fail the first attempt (RetryCount 0) with "Flaky"; succeed after."""
    retry = context["State"].get("RetryCount", 0)
    _log(f"start {context['State']['Name']} {retry}")
    if retry == 0:
        raise RuntimeError("first attempt fails")
    return value
