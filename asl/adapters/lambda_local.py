"""Local Lambda: Lambda functions run from the user's source tree, each in its own process.

A function is a name (and so an ARN in the execution's account and region) bound to a handler
(``path/to/file.py:handler`` or ``package.module.handler``), a code directory, a timeout and environment
variables. Each invocation runs in a separate Python process running ``asl/adapters/lambda_runtime.py``;
processes stay warm and are reused, one invocation at a time each. They are forked from a fork server (the same file
run with ``--zygote``), started with the first of them, which spares each cold start the start of Python; a function
whose environment sets a variable Python reads at start-up (``PYTHON*``) gets a process started anew. A handler's exception becomes AWS's error
(the exception's type name, and a cause with errorMessage, errorType, requestId and stackTrace); a function that
runs past its timeout, or whose process dies, fails with ``Lambda.Unknown`` as Step Functions reports
Lambda's unhandled errors.

The adapter serves both resource forms: a plain function ARN (the state's effective input is the event, the
function's return value the result) and ``arn:aws:states:::lambda:invoke`` (Parameters ``FunctionName`` and
``Payload``; the result is Lambda's Invoke response with ``Payload`` and ``StatusCode``), including
``.waitForTaskToken``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import TaskFailed, TaskTimeout
from ..processes import pid_alive
from . import LAMBDA_UNKNOWN_CAUSE, TaskRequest, sdk_metadata

DEFAULT_TIMEOUT = 3.0  # Lambda's default function timeout, seconds


@dataclass(frozen=True)
class LambdaFunction:
    """A local Lambda function. ``handler`` is ``file.py:function`` (relative to ``code_dir`` or absolute) or
    ``module.function`` importable from ``code_dir``."""

    name: str
    handler: str
    code_dir: str = "."
    timeout: float = DEFAULT_TIMEOUT
    environment: dict[str, str] = field(default_factory=dict)
    memory: int = 128
    # more folders its imports may come from, after its code directory (for a --lambda file handler, the folder
    # the command started in, as before the file's own folder became its code directory)
    import_path: tuple[str, ...] = ()


@dataclass
class Invocation:
    """One invocation's record: what the handler printed, and how it ended."""

    function: str
    request_id: str
    logs: str
    error: str | None = None


_RUNTIME = str(Path(__file__).with_name("lambda_runtime.py"))
# What Python reads from the environment at start-up: a process forked from the fork server has the server's, so a
# function whose environment sets any of these differently gets a process of its own instead.
_STARTUP_VARIABLES = ("PYTHON",)


class _Forked:
    """A function process forked by the fork server, with the part of ``subprocess.Popen`` the adapter uses. Its
    exit status comes from the server, which is its parent."""

    def __init__(self, server: _ForkServer, pid: int):
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_status(self.pid)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            self.server.wait_exit(self.pid, left)
        return self.returncode  # type: ignore[return-value]  # set by poll()


class _ForkServer:
    """``lambda_runtime.py --zygote``: one Python process that forks function processes on request, so that ten
    functions starting at once take milliseconds instead of each starting Python (a Map of 10 cold functions
    answering one invocation each, medians of 7: 279-299 ms spawned, 97-103 ms forked, the server's own start
    included). Requests go one at a time on a SOCK_SEQPACKET socket; a reader
    thread takes the server's answers (a pid) and its notices (a process's exit status)."""

    def __init__(self) -> None:
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([sys.executable, _RUNTIME, "--zygote", str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=None, env=self.env, cwd="/")
        finally:
            theirs.close()
        self.lock = threading.Lock()  # one request at a time: its answer is the next pid the reader sees
        self.answers: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self.exits: dict[int, int] = {}
        self.changed = threading.Condition()
        self.dead = False
        threading.Thread(target=self._read, name="asl-lambda-forks", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self.sock.recv(4096)
            except OSError:
                message = b""
            if not message:
                break
            notice = json.loads(message)
            if "exited" in notice:
                with self.changed:
                    self.exits[notice["exited"]] = notice["status"]
                    self.changed.notify_all()
            else:
                self.answers.put(notice)
        with self.changed:
            self.dead = True
            self.changed.notify_all()
        self.answers.put(None)

    def usable_for(self, env: dict[str, str], import_path: list[str]) -> bool:
        """Whether a process forked from the server starts as one spawned with ``env`` would: the same start-up
        variables, and a PYTHONPATH that is the server's with ``import_path`` in front (absolute paths only: relative
        ones depend on the directory Python starts in)."""
        if self.dead:
            return False
        for key in env.keys() | self.env.keys():
            if key.startswith(_STARTUP_VARIABLES) and key != "PYTHONPATH" and env.get(key) != self.env.get(key):
                return False
        base = self.env.get("PYTHONPATH", "")
        return (all(os.path.isabs(p) for p in [*import_path, *filter(None, base.split(os.pathsep))])
                and env.get("PYTHONPATH", "") == os.pathsep.join(x for x in (*import_path, base) if x))

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, import_path: list[str]
              ) -> tuple[_Forked, IO[bytes], IO[bytes]] | None:
        """Fork a function process: its handle, standard input and output. None when the server cannot (it ended,
        or the request is too large for the socket): the caller starts the process itself."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd, "path": import_path}).encode()
        try:
            with self.lock:
                # standard error is this process's file descriptor 2, as a spawned process would inherit it
                socket.send_fds(self.sock, [request], [in_r, out_w, 2])
                answer = self.answers.get(timeout=30)
        except (OSError, queue.Empty):
            answer = None
        finally:
            os.close(in_r)
            os.close(out_w)
        if answer is None:
            os.close(in_w)
            os.close(out_r)
            return None
        return _Forked(self, answer["pid"]), os.fdopen(in_w, "wb"), os.fdopen(out_r, "rb")

    def exit_status(self, pid: int) -> int | None:
        with self.changed:
            status = self.exits.pop(pid, None)
            if status is None and self.dead and not pid_alive(pid):
                return -signal.SIGKILL  # the server ended before it could say: the process was reaped elsewhere
            return status

    def wait_exit(self, pid: int, timeout: float | None) -> None:
        with self.changed:
            if pid not in self.exits:
                self.changed.wait(0.05 if self.dead else timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Process:
    def __init__(self, fn: LambdaFunction, region: str, account: str, server: _ForkServer | None = None):
        code_dir = str(Path(fn.code_dir).resolve())
        env = {**os.environ, **fn.environment, "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_REGION": region,
               "AWS_DEFAULT_REGION": region, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
               "LAMBDA_TASK_ROOT": code_dir, "PYTHONUNBUFFERED": "1"}
        import_path = list(fn.import_path)
        env["PYTHONPATH"] = os.pathsep.join(x for x in (*import_path, env.get("PYTHONPATH", "")) if x)
        argv = [_RUNTIME, fn.handler, code_dir]
        forked = server.spawn(argv, env, code_dir, import_path) if server and server.usable_for(env, import_path) else None
        if forked is not None:
            self.proc: subprocess.Popen[bytes] | _Forked = forked[0]
            self.stdin, self.stdout = forked[1], forked[2]
            return
        # The runtime file is run as a script: it needs only the standard library, and importing the asl package
        # first cost 60 ms a process (ten functions starting at once in a Map waited for each other's imports)
        popen = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
                                 env=env, cwd=code_dir)
        assert popen.stdin is not None and popen.stdout is not None
        self.proc = popen
        self.stdin = popen.stdin
        self.stdout = popen.stdout

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one invocation and wait for its answer; None when the process died or the timeout passed (the
        process is then killed)."""
        try:
            self.stdin.write((json.dumps(request) + "\n").encode())
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        ready, _, _ = select.select([self.stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise TimeoutError
        line = self.stdout.readline()
        if not line:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def exit_status(self) -> int | None:
        try:
            return self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None


class LocalLambda:
    """The adapter: emulated functions by name. Register it for ``arn:aws:lambda:*`` and
    ``arn:aws:states:::lambda:invoke*`` (see :meth:`register_in`)."""

    def __init__(self, functions: list[LambdaFunction] | None = None, fallback: Any = None, echo: IO[str] | None = None):
        self.functions: dict[str, LambdaFunction] = {}
        self.echo = echo  # where to copy what handlers print, line by line, prefixed with the function name
        self.fallback = fallback  # an adapter for functions not emulated here (e.g. AwsServices: a real endpoint)
        self._idle: dict[str, list[_Process]] = {}
        self._lock = threading.Lock()
        self._server: _ForkServer | None = None  # started with the first function process
        self._forking = hasattr(os, "fork") and hasattr(socket, "send_fds")
        self.invocations: list[Invocation] = []
        for f in functions or []:
            self.add(f)

    def add(self, fn: LambdaFunction) -> None:
        self.functions[fn.name] = fn

    def register_in(self, adapters: Any) -> None:
        adapters.register("arn:*:lambda:*:*:function:*", self)
        adapters.register("arn:*:states:::lambda:invoke", self)
        adapters.register("arn:*:states:::lambda:invoke.waitForTaskToken", self)

    # -- invoking --------------------------------------------------------------------------------------------
    @staticmethod
    def function_name(ref: str) -> str:
        """A function's name from its name, ARN or partial ARN (``123456789012:function:f``), without qualifier."""
        if ":function:" in ref:
            ref = ref.split(":function:", 1)[1]
        return ref.split(":", 1)[0]

    def invoke(self, request: TaskRequest) -> Any:
        res = request.resource
        params = request.parameters if isinstance(request.parameters, dict) else {}
        ref = res.arn if res.kind == "lambda" else params.get("FunctionName")
        if not isinstance(ref, str):
            raise TaskFailed("Lambda.InvalidParameterValueException", "FunctionName is required")
        name = self.function_name(ref)
        if self.fallback is not None and name not in self.functions:
            return self.fallback.invoke(request)
        if res.kind == "lambda":
            return self._run(name, request, request.parameters, compact=False)[1]
        body, payload = self._run(name, request, params.get("Payload"), compact=True)
        request_id = str(uuid.uuid4())
        headers = {"Connection": "keep-alive", "Content-Length": str(len(body)), "Content-Type": "application/json",
                   "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()), "X-Amz-Executed-Version": "$LATEST",
                   "x-amzn-Remapped-Content-Length": "0", "x-amzn-RequestId": request_id,
                   "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"}
        return {"ExecutedVersion": "$LATEST", "Payload": payload, **sdk_metadata(headers, 200, request_id), "StatusCode": 200}

    def _run(self, name: str, request: TaskRequest, event: Any, compact: bool) -> tuple[str, Any]:
        """Invoke a function; returns its response payload as Lambda sends it (JSON text) and decoded."""
        fn = self.functions.get(name)
        arn = f"arn:{request.partition}:lambda:{request.region}:{request.account}:function:{name}"
        if fn is None:
            raise TaskFailed("Lambda.ResourceNotFoundException",
                             f"Function not found: {arn}:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: "
                             f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)")
        request_id = str(uuid.uuid4())
        meta = {"function_name": name, "invoked_function_arn": arn, "request_id": request_id, "timeout": fn.timeout,
                "memory": fn.memory}
        proc = self._take(fn, request)
        # The Task's TimeoutSeconds may end the wait before the function's own timeout does.
        task_limit = request.timeout if request.timeout is not None and request.timeout < fn.timeout else None
        try:
            answer = proc.call({"event": json.dumps(event), "context": meta}, task_limit or fn.timeout)
        except TimeoutError:
            if task_limit is not None:
                self.invocations.append(Invocation(name, request_id, "", "task timeout"))
                raise TaskTimeout from None
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            message = f"{stamp} {request_id} Task timed out after {fn.timeout:.2f} seconds"
            self.invocations.append(Invocation(name, request_id, "", "timeout"))
            raise TaskFailed("Lambda.Unknown", LAMBDA_UNKNOWN_CAUSE.format(json.dumps({"errorMessage": message}, separators=(",", ":")))) from None
        if answer is None:  # the process died
            status = proc.exit_status()
            proc.kill()
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
            self.invocations.append(Invocation(name, request_id, "", "crashed"))
            raise TaskFailed("Lambda.Unknown", LAMBDA_UNKNOWN_CAUSE.format(
                json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}, separators=(",", ":"))))
        self._give_back(name, proc)
        logs = answer.get("logs", "")
        if self.echo is not None and logs:
            self.echo.write("".join(f"[{name}] {line}\n" for line in logs.splitlines()))
            self.echo.flush()
        error = answer.get("error")
        self.invocations.append(Invocation(name, request_id, logs, None if error is None else error.get("errorType")))
        if error is not None:
            error["requestId"] = request_id
            cause = json.dumps(error, separators=(",", ":")) if compact else json.dumps(error)
            raise TaskFailed(error.get("errorType") or "Lambda.Unknown", cause)
        text: str = answer["payload"]
        try:
            return text, json.loads(text)
        except ValueError:
            raise TaskFailed("Lambda.Unknown", LAMBDA_UNKNOWN_CAUSE.format(text)) from None

    def _take(self, fn: LambdaFunction, request: TaskRequest) -> _Process:
        with self._lock:
            idle = self._idle.setdefault(fn.name, [])
            while idle:
                p = idle.pop()
                if p.proc.poll() is None:
                    return p
            server = self._fork_server()
        return _Process(fn, request.region, request.account, server)

    def _fork_server(self) -> _ForkServer | None:
        """The fork server (under ``_lock``): started when first needed, and again if it ended; None where the
        platform cannot fork or the server cannot start (then each process starts Python itself)."""
        if self._forking and (self._server is None or self._server.dead):
            if self._server is not None:
                self._server.close()
            try:
                self._server = _ForkServer()
            except OSError:
                self._forking, self._server = False, None
        return self._server

    def _give_back(self, name: str, proc: _Process) -> None:
        with self._lock:
            self._idle.setdefault(name, []).append(proc)

    def close(self) -> None:
        """Stop the warm processes."""
        with self._lock:
            procs = [p for ps in self._idle.values() for p in ps]
            self._idle.clear()
        for p in procs:
            with contextlib.suppress(OSError):
                p.stdin.close()
            p.kill()
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()
