"""The process a local Lambda function runs in (started by :mod:`asl.adapters.lambda_local`).

It loads the handler once and then serves invocations, one JSON line in on standard input, one JSON line out on
the original standard output, which is kept for this protocol only (anything the handler writes to file
descriptor 1 goes to standard error instead). What the handler prints through ``sys.stdout``/``sys.stderr`` is
captured per invocation and returned with the result, as Lambda sends it to CloudWatch Logs.

Run with ``--zygote FD`` it is instead a fork server: a process that has started Python and imported this file once,
and forks a function process for each request on the Unix socket FD (``asl.adapters.lambda_local`` sends the
function's arguments, environment, working directory and import path, with its standard input, output and error as
file descriptors). A fork takes a few milliseconds where starting Python takes 30-45 ms of CPU, which is what ten
functions starting at once in a Map waited for. It reports each function process's exit status on the socket.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
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


class CognitoIdentity:
    """``context.identity``: set only for calls from the AWS Mobile SDK, so its fields are None."""

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class ClientContext:
    """``context.client_context``: the invocation's ClientContext (base64 JSON), as the Python runtime gives it."""

    def __init__(self, raw: dict[str, Any]):
        self.client = raw.get("client")
        self.custom = raw.get("custom")
        self.env = raw.get("env")


def _client_context(text: Any) -> ClientContext | None:
    if not isinstance(text, str):
        return None
    try:
        raw = json.loads(base64.b64decode(text))
    except ValueError:
        return None
    return ClientContext(raw) if isinstance(raw, dict) else None


class LambdaContext:
    """The handler's ``context`` argument, with the attributes of the AWS Lambda Python runtime (whose
    ``memory_limit_in_mb`` is a string, as the environment gives it)."""

    def __init__(self, meta: dict[str, Any]):
        self.function_name: str = meta["function_name"]
        self.function_version: str = meta.get("function_version", "$LATEST")
        self.invoked_function_arn: str = meta["invoked_function_arn"]
        self.memory_limit_in_mb: str = str(meta.get("memory", 128))
        self.aws_request_id: str = meta["request_id"]
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = CognitoIdentity()
        self.client_context = _client_context(meta.get("client_context"))
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
        mod = importlib.import_module(module.replace("/", "."))  # pkg/mod.handler, as Lambda's runtime reads it
    return getattr(mod, attr)


def _marshal(value: Any) -> Any:
    """What the Lambda runtime's encoder makes of values json cannot write: a Decimal (DynamoDB's numbers) is a
    number."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _init_error(exc: BaseException, spec: str, code_dir: str) -> dict[str, Any]:
    """The error of a handler that could not be loaded, as the Lambda Python runtime reports it: the module cannot
    be imported, its code is not Python, the handler is missing, or the module raised while it ran."""
    module = Path(spec.rpartition(":")[0]).stem if ":" in spec else spec.rpartition(".")[0]
    attr = spec.rpartition(":")[2] if ":" in spec else spec.rpartition(".")[2]
    if isinstance(exc, SyntaxError):
        return {"errorMessage": f"Syntax error in module '{module}': {exc}", "errorType": "Runtime.UserCodeSyntaxError",
                "requestId": "", "stackTrace": [f'  File "/var/task/{Path(exc.filename or module).name}" Line {exc.lineno}\n'
                                                 f"    {(exc.text or '').strip()}\n"]}
    if isinstance(exc, AttributeError) and getattr(exc, "name", None) == attr:
        return {"errorMessage": f"Handler '{attr}' missing on module '{module}'", "errorType": "Runtime.HandlerNotFound",
                "requestId": "", "stackTrace": []}
    if isinstance(exc, ImportError | OSError):
        return {"errorMessage": f"Unable to import module '{module}': {exc}", "errorType": "Runtime.ImportModuleError",
                "requestId": "", "stackTrace": []}
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "",
            "stackTrace": _stack(exc.__traceback__, code_dir)}


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
    init_error: dict[str, Any] | None = None
    try:
        handler = load_handler(handler_spec, code_dir)
    except BaseException as exc:  # reported on each invocation, as Lambda reports an init error
        init_error = _init_error(exc, handler_spec, code_dir)
    for line in sys.stdin:
        req = json.loads(line)
        out: dict[str, Any] = {}
        logs = io.StringIO()
        if init_error is not None:
            out["error"] = dict(init_error)
        else:
            ctx = LambdaContext(req["context"])
            try:
                with contextlib.redirect_stdout(logs), contextlib.redirect_stderr(logs):
                    result = handler(json.loads(req["event"]), ctx)
                if isinstance(result, bytes | bytearray):
                    out["payload"] = bytes(result).decode("utf-8")
                else:
                    try:
                        out["payload"] = json.dumps(result, default=_marshal)
                    except (TypeError, ValueError) as exc:
                        out["error"] = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError",
                                        "requestId": ctx.aws_request_id, "stackTrace": []}
            except Exception as exc:  # the function's error, reported in Lambda's shape
                out["error"] = _error(exc, ctx.aws_request_id, code_dir)
        out["logs"] = logs.getvalue()
        proto.write(json.dumps(out) + "\n")
        proto.flush()


# -- the fork server ----------------------------------------------------------------------------------------------
def zygote(sock_fd: int) -> None:
    """Fork a function process for each request on the socket; report each one's exit status; end when the socket
    closes (the adapter closed it, or its process ended)."""
    import select
    import signal
    import socket

    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a SIGCHLD makes select return
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the adapter's process, which closes the socket
    while True:
        ready, _, _ = select.select([sock_fd, wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 512):
                    pass
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                sock.send(json.dumps({"exited": pid, "status": os.waitstatus_to_exitcode(status)}).encode())
        if sock_fd in ready:
            try:
                message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
            except OSError:
                return
            if not message:
                return
            request = json.loads(message)
            pid = os.fork()
            if pid == 0:
                _forked(request, fds, [sock.fileno(), wake_r, wake_w])
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"id": request["id"], "pid": pid}).encode())


def _forked(request: dict[str, Any], fds: list[int], server_fds: list[int]) -> None:
    """In a forked function process: become what ``python lambda_runtime.py HANDLER CODE_DIR`` would have been
    with the request's environment, working directory and import path, run, and exit (never return)."""
    import signal

    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in server_fds:
            os.close(fd)
        for target, fd in enumerate(fds):  # standard input, output and error
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # TZ, as the C library reads it: time.localtime, strftime("%Z")
        sys.path[1:1] = request["path"]  # where PYTHONPATH's entries go, after the script's folder
        sys.argv = request["argv"]
        main()
    except SystemExit as exc:  # as the interpreter ends on it: a message is printed, and is status 1
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:  # as the interpreter ends on it: the traceback, then death by SIGINT
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        _exit(code)


def _exit(code: int) -> None:
    """End a forked function process as the interpreter ends: join the threads that are not daemons, run the atexit
    functions, flush the standard streams; a negative code is death by that signal."""
    import atexit
    import signal
    import threading

    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter calls to join them at exit
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        zygote(int(sys.argv[2]))
    else:
        main()
