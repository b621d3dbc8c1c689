"""JSONata evaluations that run long go on in a process with a memory limit.

The engine bounds the size of each intermediate value, the steps and the time, but not the total it allocates: an
expression such as ``[1..100000].[1..100000]`` makes arrays that are each within the bounds and together take
gigabytes (13 GB in ten seconds, measured). Memory grows only while an evaluation runs, so a quick evaluation cannot
take much of it: :meth:`asl.jsonata.Expression.evaluate` gives the engine a short time first (every ordinary
expression finishes in it), and only an evaluation that runs past it is done again here, in a warm child process
whose resident memory the parent watches while it waits: past the limit the child is killed and the evaluation is a
JSONata error; the parent and its other executions go on. (An address-space limit does not work: the engine reserves
1 GB of address space when it loads and commits it as it goes.)

The child asks its parent for ``$random()`` and ``$uuid()`` values, so an execution's random stream and ids are the
same whichever way its expression was evaluated. Protocol: one JSON line each way per message.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import select
import subprocess
import sys
import threading
import time
from typing import Any

from . import jsonata
from .jsontext import dumps

_SLOTS = threading.BoundedSemaphore(2)  # children evaluating at once: each may use its whole memory limit
_IDLE: list[_Child] = []
_IDLE_LOCK = threading.Lock()
_GRACE = 5.0  # seconds the parent waits past the evaluation's own timeout before it kills a child
_WATCH = 0.01  # how often the parent looks at a child's memory: at 1.6 GB/s, 16 MB past the limit at most
_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Child:
    """One warm child process."""

    def __init__(self, memory_limit: int):
        self.memory_limit = memory_limit
        self.proc = subprocess.Popen([sys.executable, "-m", "asl.jsonata_sandbox"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, encoding="utf-8", bufsize=1)

    def ask(self, request: dict[str, Any], env: jsonata.Environment) -> dict[str, Any]:
        """Send one evaluation and serve the child's calls for random numbers and ids until it answers. Raises
        MemoryError when the child went past its memory limit, TimeoutError when it did not answer in time, and
        ChildProcessError when it died otherwise or said something that is not the protocol."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise ChildProcessError(f"it cannot be sent the expression: {exc}") from None
        deadline = time.monotonic() + env.timeout + _GRACE
        ceiling = self.resident() + self.memory_limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not select.select([self.proc.stdout], [], [], min(left, _WATCH))[0]:
                if self.resident() > ceiling:
                    raise MemoryError
                continue
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait()
                raise ChildProcessError(f"it ended with exit status {code}")
            try:
                message = json.loads(line)
                call = message.get("call")
            except (ValueError, AttributeError):
                raise ChildProcessError(f"it answered something that is not the protocol: {line[:100]!r}") from None
            if call is None:
                return message
            value: Any = jsonata._random() if call == "random" else jsonata._uuid()
            self.proc.stdin.write(dumps({"value": value}) + "\n")
            self.proc.stdin.flush()

    def resident(self) -> int:
        """The child's resident memory in bytes (0 once it is gone)."""
        try:
            with open(f"/proc/{self.proc.pid}/statm", encoding="ascii") as fh:
                return int(fh.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()


def evaluate(expression: jsonata.Expression, bindings: dict[str, Any], input: Any,  # noqa: A002 - JSONata's word
             env: jsonata.Environment) -> Any:
    """Evaluate in a child process limited to ``env.memory_limit`` bytes; the same results and errors as
    :meth:`asl.jsonata.Expression.evaluate`."""
    assert env.memory_limit is not None
    request: dict[str, Any] = {
        "text": expression.text, "aws": expression.aws, "bindings": bindings, "timeout": env.timeout,
        "max_depth": env.max_depth, "max_array_length": env.max_array_length,
        "max_string_length": env.max_string_length, "max_steps": env.max_steps,
        "now": None if env.now is None else env.now.isoformat()}
    if input is not jsonata.UNDEFINED:
        request["input"] = input
    with _SLOTS:
        try:
            child = _take(env.memory_limit)
        except OSError as exc:
            raise jsonata.JsonataEvaluationError(
                "U1001", f"The evaluation ran past {env.first_try:g} s and the process that goes on with it cannot "
                         f"be started: {exc}") from None
        try:
            answer = child.ask(request, env)
        except MemoryError:
            child.close()
            mib = env.memory_limit // (1024 * 1024)
            raise jsonata.JsonataEvaluationError("U1001", f"The evaluation needed more than {mib} MiB of memory") from None
        except ChildProcessError as exc:
            child.close()
            raise jsonata.JsonataEvaluationError("U1001", f"The process evaluating the expression failed: {exc}") from None
        except TimeoutError:
            child.close()
            raise jsonata.JsonataEvaluationError(
                "D1012", f"Evaluation timeout after {int(env.timeout * 1000)} milliseconds. Check for infinite loop") from None
        except BaseException:
            child.close()
            raise
        with _IDLE_LOCK:
            _IDLE.append(child)
    if "error" in answer:
        raise jsonata.JsonataEvaluationError(answer["error"].get("code"), answer["error"]["message"])
    if answer.get("undefined"):
        return jsonata.UNDEFINED
    if answer.get("function"):
        return jsonata.FUNCTION_RESULT
    return answer["value"]


def _take(memory_limit: int) -> _Child:
    with _IDLE_LOCK:
        while _IDLE:
            child = _IDLE.pop()
            if child.proc.poll() is None and child.memory_limit == memory_limit:
                return child
            child.close()
    return _Child(memory_limit)


# -- the child ----------------------------------------------------------------------------------------------------
class _ParentRandom(random.Random):
    """``random()`` answered by the parent, from the execution's own generator."""

    def random(self) -> float:
        return float(_call("random"))


def _call(name: str) -> Any:
    sys.stdout.write(json.dumps({"call": name}) + "\n")
    sys.stdout.flush()
    return json.loads(sys.stdin.readline())["value"]


def _serve_one(request: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    now = request.get("now")
    env = jsonata.Environment(rng=_ParentRandom(), uuid4=lambda: str(_call("uuid")),
                              now=None if now is None else datetime.fromisoformat(now), timeout=request["timeout"],
                              max_depth=request["max_depth"], max_array_length=request["max_array_length"],
                              max_string_length=request["max_string_length"], max_steps=request["max_steps"],
                              memory_limit=None)
    token = jsonata.ENVIRONMENT.set(env)
    try:
        value = jsonata.compile_expression(request["text"], request["aws"]).evaluate(
            request["bindings"], request.get("input", jsonata.UNDEFINED))
    except jsonata.JsonataEvaluationError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    except MemoryError:
        return {"error": {"code": "U1001", "message": "The evaluation ran out of memory"}}
    finally:
        jsonata.ENVIRONMENT.reset(token)
    if value is jsonata.UNDEFINED:
        return {"undefined": True}
    if value is jsonata.FUNCTION_RESULT:
        return {"function": True}
    return {"value": value}


# A result bigger than this is refused here rather than sent: the parent would hold it twice while reading it, and
# a state's payload is at most 256 KiB anyway (the same string bound, 4 MiB, four times over)
MAX_ANSWER = 16 * 1024 * 1024


def main() -> None:
    # the protocol is UTF-8 whatever the locale or PYTHONIOENCODING say: the parent writes and reads it so
    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8")
    jsonata.compile_expression("1").evaluate({})  # load the engine now: the parent measures from here
    for line in sys.stdin:
        answer = _serve_one(json.loads(line))
        try:
            text = dumps(answer)
            if len(text) > MAX_ANSWER:
                text = dumps({"error": {"code": "U1001", "message": f"The result is larger than "
                                                                    f"{MAX_ANSWER // (1024 * 1024)} MiB"}})
        except (MemoryError, RecursionError, ValueError) as exc:
            text = dumps({"error": {"code": "U1001", "message": f"The result cannot be returned: {type(exc).__name__}"}})
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
