"""Lambda handlers for tests/test_adapters.py, run by the local Lambda emulator in their own processes."""

from __future__ import annotations

import os
import time
from typing import Any

CALLS = 0


def echo(event: Any, context: Any) -> Any:
    return event


def count(event: Any, context: Any) -> Any:
    """Module state survives between invocations of a warm process."""
    global CALLS
    CALLS += 1
    return {"calls": CALLS, "pid": os.getpid()}


def fail(event: Any, context: Any) -> Any:
    raise ValueError(f"bad order {event.get('order')}")


class OutOfStock(Exception):
    pass


def custom(event: Any, context: Any) -> Any:
    raise OutOfStock("no apples")


def slow(event: Any, context: Any) -> Any:
    time.sleep(event.get("sleep", 10))
    return "late"


def crash(event: Any, context: Any) -> Any:
    os._exit(3)


def chatty(event: Any, context: Any) -> Any:
    print("processing", event["order"])
    return {"ok": True}


def describe(event: Any, context: Any) -> Any:
    return {"name": context.function_name, "arn": context.invoked_function_arn, "request": context.aws_request_id,
            "left": context.get_remaining_time_in_millis(), "env": os.environ.get("GREETING"),
            "region": os.environ.get("AWS_REGION")}


def approve(event: Any, context: Any) -> Any:
    """A callback target: answers its task token through the store, from this process."""
    from asl.service import StepFunctions
    from asl.store import SQLiteStore

    StepFunctions(SQLiteStore(os.environ["ASL_STORE"])).send_task_success(
        taskToken=event["token"], output='{"approved": true}')
    return {"queued": True}


def process(event: Any, context: Any) -> Any:
    """How this function's process was started, and what it sees."""
    import sys

    return {"ppid": os.getppid(), "pid": os.getpid(), "cwd": os.getcwd(), "env": os.environ.get("GREETING"),
            "argv": sys.argv[1:], "optimize": sys.flags.optimize, "path": sys.path,
            "task_root": os.environ.get("LAMBDA_TASK_ROOT"), "zone": time.strftime("%Z")}


def money(event: Any, context: Any) -> Any:
    """DynamoDB gives numbers as Decimal: Lambda's runtime writes them as numbers."""
    from decimal import Decimal

    return {"price": Decimal("1.50"), "count": Decimal("3")}


def what(event: Any, context: Any) -> Any:
    """The event as the function got it, and what Lambda's runtime gives a function."""
    print("looked at", type(event).__name__)
    cc = context.client_context
    return {"event": event, "type": type(event).__name__, "memory": context.memory_limit_in_mb,
            "version": context.function_version, "arn": context.invoked_function_arn,
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client": None if cc is None else cc.custom, "stream": context.log_stream_name,
            "env": {k: os.environ.get(k) for k in ("_HANDLER", "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME",
                                                   "AWS_LAMBDA_INITIALIZATION_TYPE", "TZ", "LAMBDA_RUNTIME_DIR")}}
