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

import base64
import contextlib
import json
import os
import select
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
from . import LAMBDA_UNKNOWN_CAUSE, TaskRequest, sdk_metadata
from .lambda_forks import RUNTIME, ForkedProcess, ForkServer

DEFAULT_TIMEOUT = 3.0  # Lambda's default function timeout, seconds
NODE_RUNTIME = str(Path(__file__).with_name("lambda_runtime.cjs"))


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
    runtime: str = "python"  # or "nodejs": a handler file.js:export (also .mjs, .cjs) run by Node.js
    runtime_id: str = ""  # the Lambda runtime a template names (python3.12, nodejs20.x), for AWS_EXECUTION_ENV
    # the Python that runs it when not the one running asl (a template's Runtime names a newer Python than this one)
    interpreter: str = ""


def _payload(payload: Any) -> Any:
    """The event lambda:invoke sends for its Payload: {} for none (Lambda's empty body), the value a string holds
    when it is JSON text (it is sent as it is), the value itself otherwise."""
    if payload is None:
        return {}
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload


def _qualifier(ref: str) -> str | None:
    """The version or alias a function ARN or name names (``...:function:f:prod``, ``f:3``), if any."""
    name = ref.split(":function:", 1)[1] if ":function:" in ref else ref
    _, sep, qualifier = name.partition(":")
    return qualifier if sep and qualifier and qualifier != "$LATEST" else None


def _headers(body: str, executed: str | None, tail: str | None) -> dict[str, str]:
    headers = {"Connection": "keep-alive", "Content-Length": str(len(body.encode())), "Content-Type": "application/json",
               "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    if executed is not None:
        headers["X-Amz-Executed-Version"] = executed
    if tail is not None:
        headers["X-Amz-Log-Result"] = tail
    headers.update({"x-amzn-Remapped-Content-Length": "0", "x-amzn-RequestId": str(uuid.uuid4()),
                    "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"})
    return headers


def _log_tail(outcome: _Outcome) -> str:
    """LogType Tail's LogResult: the invocation's log as Lambda writes it (START, what the function printed, END,
    REPORT), its last 4 KB, base64."""
    fn = outcome.function
    millis = (time.monotonic() - outcome.started) * 1000
    version = "$LATEST"
    text = (f"START RequestId: {outcome.request_id} Version: {version}\n{outcome.logs}"
            f"END RequestId: {outcome.request_id}\n"
            f"REPORT RequestId: {outcome.request_id}\tDuration: {millis:.2f} ms\tBilled Duration: {max(1, round(millis))} ms"
            f"\tMemory Size: {fn.memory if fn else 128} MB\tMax Memory Used: {fn.memory if fn else 128} MB\t\n")
    return base64.b64encode(text.encode()[-4096:]).decode()


@dataclass
class _Outcome:
    """One invocation's answer: the function's payload (JSON text), or its error (Lambda's error object)."""

    name: str
    request_id: str
    logs: str
    error: dict[str, Any] | None
    function: LambdaFunction | None
    started: float
    payload: str | None = None

    @property
    def text(self) -> str:
        """The response body as Lambda sends it: the payload, or the error object."""
        if self.error is not None:
            return json.dumps(self.error, separators=(",", ":"))
        return self.payload or "null"

    def value(self, compact: bool) -> Any:
        """The task's result, or its error raised: named by the error's errorType, the error object the cause."""
        if self.error is not None:
            cause = json.dumps(self.error, separators=(",", ":")) if compact else json.dumps(self.error)
            raise TaskFailed(self.error.get("errorType") or "Lambda.Unknown", cause)
        text = self.payload or "null"
        try:
            return json.loads(text)
        except ValueError:
            raise TaskFailed("Lambda.Unknown", LAMBDA_UNKNOWN_CAUSE.format(text)) from None


@dataclass
class Invocation:
    """One invocation's record: what the handler printed, and how it ended."""

    function: str
    request_id: str
    logs: str
    error: str | None = None


def _sdk_path() -> str:
    """The folder this Python imports boto3 from ("" without it): another Python running a function gets boto3 from
    there, as Lambda's Python runtimes include it (its dependencies are pure Python, found in the same folder)."""
    import importlib.util

    spec = importlib.util.find_spec("boto3")
    return str(Path(spec.origin).parent.parent) if spec is not None and spec.origin else ""


class _Process:
    """One function process: forked by the fork server, or started anew (``subprocess.Popen``)."""

    def __init__(self, fn: LambdaFunction, region: str, account: str, server: ForkServer | None = None,
                 endpoint_url: str | None = None):
        code_dir = str(Path(fn.code_dir).resolve())
        stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + uuid.uuid4().hex
        # the endpoint asl sends AWS service calls to: the function's AWS SDK calls go there too (AWS_ENDPOINT_URL,
        # read by boto3 and the AWS SDK for JavaScript v3), so both see the same tables, queues and buckets
        endpoint = {"AWS_ENDPOINT_URL": endpoint_url} if endpoint_url else {}
        # what Lambda sets in a function's environment (the function's own variables win, as on Lambda)
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
               "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}", "AWS_LAMBDA_LOG_STREAM_NAME": stream,
               "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "_HANDLER": fn.handler, "LAMBDA_RUNTIME_DIR": "/var/runtime",
               "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime_id}" if fn.runtime_id else
               f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
               "TZ": ":UTC", "LAMBDA_TASK_ROOT": code_dir, **endpoint, **fn.environment, "PYTHONUNBUFFERED": "1"}
        import_path = list(fn.import_path)
        self.proc: subprocess.Popen[bytes] | ForkedProcess
        if fn.runtime == "nodejs":  # Lambda's Node.js runtime, emulated by a script node runs (no fork server)
            env.pop("PYTHONUNBUFFERED")
            env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{fn.runtime_id or 'nodejs'}"
            popen = subprocess.Popen(["node", NODE_RUNTIME, fn.handler, code_dir], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=None, env=env, cwd=code_dir)
            assert popen.stdin is not None and popen.stdout is not None
            self.proc, self.stdin, self.stdout = popen, popen.stdin, popen.stdout
            return
        env["PYTHONPATH"] = os.pathsep.join(x for x in (*import_path, env.get("PYTHONPATH", "")) if x)
        argv = [RUNTIME, fn.handler, code_dir]
        python = sys.executable
        if fn.interpreter:  # another Python (not forked): with this one's AWS SDK, as Lambda's runtimes have boto3
            python = fn.interpreter
            env["PYTHONPATH"] = os.pathsep.join(x for x in (env["PYTHONPATH"], _sdk_path()) if x)
        elif server and server.usable_for(env, import_path):
            forked = server.spawn(argv, env, code_dir, import_path)
            if forked is not None:
                self.proc, self.stdin, self.stdout = forked
                return
        # The runtime file is run as a script: it needs only the standard library, and importing the asl package
        # first cost 60 ms a process (ten functions starting at once in a Map waited for each other's imports)
        popen = subprocess.Popen([python, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
                                 env=env, cwd=code_dir)
        assert popen.stdin is not None and popen.stdout is not None
        self.proc, self.stdin, self.stdout = popen, popen.stdin, popen.stdout

    def usable(self) -> bool:
        """Whether it can take the next invocation."""
        return self.proc.usable() if isinstance(self.proc, ForkedProcess) else self.proc.poll() is None

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
        self.proc.kill()
        if isinstance(self.proc, ForkedProcess):
            self.proc.wait(5)  # SIGKILL ends it at once; the bound is for a process this one cannot see end
        else:
            self.proc.wait()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def exit_status(self) -> int | None:
        """How it ended (waiting up to a second for it to end): None when that cannot be known."""
        if isinstance(self.proc, ForkedProcess):
            return self.proc.returncode if self.proc.wait(1) else None
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
        # where the fallback sends AWS service calls (a moto server, LocalStack): the functions' SDK calls go there too
        self.endpoint_url: str | None = getattr(fallback, "endpoint_url", None)
        self._idle: dict[str, list[_Process]] = {}
        self._lock = threading.Lock()
        self._server: ForkServer | None = None  # started with the first function process
        self._busy: set[_Process] = set()  # processes running an invocation now
        self._forking = hasattr(os, "fork") and hasattr(socket, "send_fds")
        self.invocations: list[Invocation] = []
        self._events: list[threading.Thread] = []  # Event invocations running on their own
        for f in functions or []:
            self.add(f)

    def add(self, fn: LambdaFunction) -> None:
        self.functions[fn.name] = fn

    def register_in(self, adapters: Any) -> None:
        adapters.register("arn:*:lambda:*:*:function:*", self)
        adapters.register("arn:*:states:::lambda:invoke", self)
        adapters.register("arn:*:states:::lambda:invoke.waitForTaskToken", self)
        adapters.register("arn:*:states:::aws-sdk:lambda:invoke", self)

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
        qualifier = params.get("Qualifier") if res.kind != "lambda" else None
        qualifier = qualifier or _qualifier(ref)
        if res.kind == "lambda":  # the plain ARN: the state's input is the event, the function's result the task's
            outcome = self._run(name, request, request.parameters, qualifier)
            return outcome.value(compact=False)
        event = _payload(params.get("Payload"))
        kind = params.get("InvocationType", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise TaskFailed("Lambda.InvalidParameterValueException",
                             f"1 validation error detected: Value '{kind}' at 'invocationType' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
        if kind != "RequestResponse":  # Event runs the function on its own, DryRun not at all: nothing comes back
            if name not in self.functions:
                self._run(name, request, event, qualifier)  # Function not found, as Lambda answers it
            if kind == "Event":
                thread = threading.Thread(target=self._run_quietly, args=(name, request, event, qualifier), daemon=True)
                with self._lock:
                    self._events = [t for t in self._events if t.is_alive()] + [thread]
                thread.start()
            status = 202 if kind == "Event" else 204
            return {"Payload": "", **sdk_metadata(_headers("", None, None), status, str(uuid.uuid4())), "StatusCode": status}
        outcome = self._run(name, request, event, qualifier)
        sdk = res.kind == "sdk"
        if outcome.error is not None and not sdk:
            outcome.value(compact=True)  # raises the function's error as the task's
        tail = _log_tail(outcome) if params.get("LogType") == "Tail" else None
        executed = qualifier if qualifier and qualifier.isdigit() else "$LATEST"
        if sdk:  # the AWS SDK integration: Lambda's response as it is (Payload as text, FunctionError), no failure
            out: dict[str, Any] = {"ExecutedVersion": executed}
            if outcome.error is not None:
                out["FunctionError"] = "Unhandled"
            if tail is not None:
                out["LogResult"] = tail
            out.update({"Payload": outcome.text, "StatusCode": 200})
            return out
        headers = _headers(outcome.text, executed, tail)
        out = {"ExecutedVersion": executed}
        if tail is not None:
            out["LogResult"] = tail
        out.update({"Payload": outcome.value(compact=True), **sdk_metadata(headers, 200, headers["x-amzn-RequestId"]),
                    "StatusCode": 200})
        return out

    def _run_quietly(self, name: str, request: TaskRequest, event: Any, qualifier: str | None) -> None:
        with contextlib.suppress(Exception):  # an Event invocation's outcome goes nowhere (its logs are echoed)
            self._run(name, request, event, qualifier)

    def _run(self, name: str, request: TaskRequest, event: Any, qualifier: str | None = None) -> _Outcome:
        """Invoke a function: what its runtime answered (its payload, or its error), with its logs."""
        fn = self.functions.get(name)
        arn = f"arn:{request.partition}:lambda:{request.region}:{request.account}:function:{name}"
        if fn is None:
            raise TaskFailed("Lambda.ResourceNotFoundException",
                             f"Function not found: {arn}:{qualifier or '$LATEST'} (Service: AWSLambda; Status Code: 404; "
                             f"Error Code: ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)")
        request_id = str(uuid.uuid4())
        meta = {"function_name": name, "invoked_function_arn": f"{arn}:{qualifier}" if qualifier else arn,
                "function_version": qualifier if qualifier and qualifier.isdigit() else "$LATEST",
                "request_id": request_id, "timeout": fn.timeout, "memory": fn.memory}
        client_context = request.parameters.get("ClientContext") if isinstance(request.parameters, dict) else None
        if isinstance(client_context, str):
            meta["client_context"] = client_context
        proc = self._take(fn, request)
        # The Task's TimeoutSeconds may end the wait before the function's own timeout does.
        task_limit = request.timeout if request.timeout is not None and request.timeout < fn.timeout else None
        self._taken(proc)
        started = time.monotonic()
        try:
            answer = proc.call({"event": json.dumps(event), "context": meta}, task_limit or fn.timeout)
        except TimeoutError:
            if task_limit is not None:
                self.invocations.append(Invocation(name, request_id, "", "task timeout"))
                raise TaskTimeout from None
            self.invocations.append(Invocation(name, request_id, "", "timeout"))
            # Lambda's answer for a function that ran past its timeout (its errorType names the Task's error)
            return _Outcome(name, request_id, "", {"errorType": "Sandbox.Timedout", "errorMessage": (
                f"RequestId: {request_id} Error: Task timed out after {fn.timeout:.2f} seconds")}, fn, started)
        finally:
            self._released(proc)
        if answer is None:  # the process died
            status = proc.exit_status()
            proc.kill()
            message = (f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}" if status is not None
                       else f"RequestId: {request_id} Error: Runtime exited without providing a reason")
            self.invocations.append(Invocation(name, request_id, "", "crashed"))
            return _Outcome(name, request_id, "", {"errorType": "Runtime.ExitError", "errorMessage": message}, fn, started)
        self._give_back(name, proc)
        logs = answer.get("logs", "")
        if self.echo is not None and logs:
            self.echo.write("".join(f"[{name}] {line}\n" for line in logs.splitlines()))
            self.echo.flush()
        error = answer.get("error")
        self.invocations.append(Invocation(name, request_id, logs, None if error is None else error.get("errorType")))
        if error is not None and error.get("requestId"):  # Python's runtime reports it; Node.js's error has none
            error["requestId"] = request_id
        return _Outcome(name, request_id, logs, error, fn, started, answer.get("payload"))

    def _take(self, fn: LambdaFunction, request: TaskRequest) -> _Process:
        with self._lock:
            idle = self._idle.setdefault(fn.name, [])
            while idle:
                p = idle.pop()
                if p.usable():
                    return p
                p.kill()  # ended, or orphaned by the fork server's end: retired
            server = self._fork_server()
        return _Process(fn, request.region, request.account, server, self.endpoint_url)

    def _taken(self, proc: _Process) -> None:
        with self._lock:
            self._busy.add(proc)

    def _released(self, proc: _Process) -> None:
        with self._lock:
            self._busy.discard(proc)

    def _fork_server(self) -> ForkServer | None:
        """The fork server (under ``_lock``): started when first needed, and again if it ended; None where the
        platform cannot fork or the server cannot start (then each process starts Python itself)."""
        if self._forking and (self._server is None or self._server.dead):
            if self._server is not None:
                self._server.close()
            try:
                self._server = ForkServer()
            except OSError:
                self._forking, self._server = False, None
        return self._server

    def _give_back(self, name: str, proc: _Process) -> None:
        with self._lock:
            self._idle.setdefault(name, []).append(proc)

    def close(self) -> None:
        """Stop the warm processes, and those still running an invocation (one whose execution has ended, its branch
        stopped by a sibling's failure, must not keep running, nor keep this process from exiting). Event
        invocations get up to their functions' timeout to end first."""
        with self._lock:
            events = list(self._events)
        limit = max((f.timeout for f in self.functions.values()), default=0.0)
        for thread in events:
            thread.join(limit)
        with self._lock:
            procs = [p for ps in self._idle.values() for p in ps] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for p in procs:
            with contextlib.suppress(OSError):
                p.stdin.close()
            p.kill()
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()
