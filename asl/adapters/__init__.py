"""Resource adapters: how a Task reaches what its ``Resource`` names.

An adapter is one small protocol, :class:`Adapter` (``invoke(request) -> result``), registered in an
:class:`Adapters` registry under resource ARN patterns (``fnmatch`` style, e.g.
``arn:aws:states:::lambda:invoke*``). The interpreter asks the registry for the adapter of each Task's resource;
a callable registered for the exact ARN in ``ExecutionOptions.tasks`` takes precedence. To fail a task, an
adapter raises :class:`~asl.interpreter.TaskFailed` with the AWS error name and cause.

Registering your own::

    class Echo:
        def invoke(self, request: TaskRequest) -> Any:
            return {"echo": request.parameters}

    adapters = Adapters()
    adapters.register("arn:aws:states:::my-service:*", Echo())
    run(machine, input_text, ExecutionOptions(adapters=adapters))
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..resources import Resource


@dataclass(frozen=True)
class TaskRequest:
    """What a Task asks of its resource: the parsed ARN, the effective parameters (after Parameters or
    Arguments), the context object, the Task's TimeoutSeconds, and where the execution runs."""

    resource: Resource
    parameters: Any
    context: Mapping[str, Any]
    timeout: float | None = None
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"
    task_token: str | None = None  # the token a callback or .sync task waits on (durable engine)


# Step Functions' cause for a Lambda error without an errorType (timeouts, crashed runtimes, unhandled payloads).
LAMBDA_UNKNOWN_CAUSE = "The cause could not be determined because Lambda did not return an error type. Returned payload: {}"


def sdk_metadata(headers: Mapping[str, str], status: int, request_id: str) -> dict[str, Any]:
    """The ``SdkHttpMetadata`` and ``SdkResponseMetadata`` that optimized integrations add to a response."""
    return {"SdkHttpMetadata": {"AllHttpHeaders": {k: [v] for k, v in headers.items()}, "HttpHeaders": dict(headers),
                                "HttpStatusCode": status},
            "SdkResponseMetadata": {"RequestId": request_id}}


class Adapter(Protocol):
    """Runs a Task's request and returns the task's result (JSON-compatible), or raises TaskFailed."""

    def invoke(self, request: TaskRequest) -> Any: ...


class Adapters:
    """A registry of adapters by resource ARN pattern. Later registrations win over earlier ones."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, re.Pattern[str], Adapter]] = []

    def register(self, pattern: str, adapter: Adapter) -> None:
        """Use ``adapter`` for resources matching ``pattern`` (``*`` and ``?`` wildcards, fnmatch style)."""
        self._entries.append((pattern, re.compile(fnmatch.translate(pattern)), adapter))

    def resolve(self, arn: str) -> Adapter | None:
        for _, rx, adapter in reversed(self._entries):
            if rx.match(arn):
                return adapter
        return None

    def copy(self) -> Adapters:
        """A new registry with the same entries (registering into it leaves this one unchanged)."""
        other = Adapters()
        other._entries = list(self._entries)
        return other

    def patterns(self) -> list[str]:
        return [p for p, _, _ in self._entries]

    def close(self) -> None:
        """Release what adapters hold (processes, clients)."""
        for _, _, adapter in self._entries:
            close: Callable[[], None] | None = getattr(adapter, "close", None)
            if close is not None:
                close()


__all__ = ["LAMBDA_UNKNOWN_CAUSE", "Adapter", "Adapters", "TaskRequest", "sdk_metadata"]
