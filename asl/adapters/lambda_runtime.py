"""The process a local Lambda function runs in (started by :mod:`asl.adapters.lambda_local`).

It loads the handler once and then serves invocations, one JSON line in on standard input, one JSON line out on
the original standard output, which is kept for this protocol only (anything the handler writes to file
descriptor 1 goes to standard error instead). What the handler prints through ``sys.stdout``/``sys.stderr`` is
captured per invocation and returned with the result, as Lambda sends it to CloudWatch Logs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

TASK_ROOT = "/var/task"  # where Lambda puts a function's code: stack traces name files under it


class LambdaContext:
    """The handler's ``context`` argument, with the attributes of the AWS Lambda Python runtime."""

    def __init__(self, meta: dict[str, Any]):
        self.function_name: str = meta["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = meta["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(meta.get("memory", 128))
        self.aws_request_id: str = meta["request_id"]
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = "local"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + float(meta["timeout"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(spec: str, code_dir: str) -> Any:
    """``file.py:function`` (relative to the code directory or absolute) or ``module.function``."""
    sys.path.insert(0, code_dir)
    if ":" in spec:
        target, _, attr = spec.rpartition(":")
        path = Path(target) if Path(target).is_absolute() else Path(code_dir) / target
        s = importlib.util.spec_from_file_location(path.stem, path)
        if s is None or s.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(s)
        sys.modules[path.stem] = mod
        s.loader.exec_module(mod)
    else:
        module, _, attr = spec.rpartition(".")
        mod = importlib.import_module(module)
    return getattr(mod, attr)


def _stack(tb: Any, code_dir: str) -> list[str]:
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
    root = os.path.realpath(code_dir)
    for f in frames:
        real = os.path.realpath(f.filename)
        if real.startswith(root + os.sep):
            f.filename = TASK_ROOT + real[len(root):]
    return traceback.format_list(frames)


def _error(exc: BaseException, request_id: str, code_dir: str) -> dict[str, Any]:
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id,
            "stackTrace": _stack(exc.__traceback__, code_dir)}


def main() -> None:
    handler_spec, code_dir = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # run as a script: asl's own modules
    # are not the function's
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray writes to fd 1 must not corrupt the protocol
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", line_buffering=True)
    init_error = None
    try:
        handler = load_handler(handler_spec, code_dir)
    except BaseException as exc:  # reported on each invocation, as Lambda reports an init error
        init_error = exc
    for line in sys.stdin:
        req = json.loads(line)
        out: dict[str, Any] = {}
        logs = io.StringIO()
        if init_error is not None:
            out["error"] = {"errorMessage": f"Unable to import module: {init_error}", "errorType": "Runtime.ImportModuleError",
                            "requestId": req["context"]["request_id"], "stackTrace": []}
        else:
            ctx = LambdaContext(req["context"])
            try:
                with contextlib.redirect_stdout(logs), contextlib.redirect_stderr(logs):
                    result = handler(json.loads(req["event"]), ctx)
                if isinstance(result, bytes | bytearray):
                    out["payload"] = bytes(result).decode("utf-8")
                else:
                    try:
                        out["payload"] = json.dumps(result)
                    except (TypeError, ValueError) as exc:
                        out["error"] = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError",
                                        "requestId": ctx.aws_request_id, "stackTrace": []}
            except Exception as exc:  # the function's error, reported in Lambda's shape
                out["error"] = _error(exc, ctx.aws_request_id, code_dir)
        out["logs"] = logs.getvalue()
        proto.write(json.dumps(out) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
