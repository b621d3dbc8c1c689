"""What an execution is given (:class:`ExecutionOptions`) and what it ends with (:class:`ExecutionResult`)."""

from __future__ import annotations

import functools
import json
import os
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, VirtualClock
from .history import event_dict
from .journal import Journal

MAX_PAYLOAD = 262144


# -- tasks ----------------------------------------------------------------------------------------------------
TaskFunction = Callable[[Any, Mapping[str, Any]], Any]


@dataclass
class ExecutionOptions:
    """Identity and services of one execution. Defaults match Step Functions Local's test account."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    state_machine_name: str = "StateMachine"
    execution_name: str | None = None
    machine_type: str = "STANDARD"  # or EXPRESS: ``express:`` execution ARNs
    sync: bool = False  # started by StartSyncExecution (EXPRESS): the context object has no RedriveCount
    state_machine_arn: str | None = None
    execution_arn: str | None = None
    role_arn: str | None = None
    clock: Clock = field(default_factory=VirtualClock)
    # seeded with 128 bits from the OS: random.Random() reads 2.5 KB, which cost a tenth of a 100-state run
    rng: random.Random = field(default_factory=lambda: random.Random(int.from_bytes(os.urandom(16), "big")))
    uuid4: Callable[[], str] = field(default_factory=lambda: (lambda: str(uuid.uuid4())))
    tasks: Mapping[str, TaskFunction] = field(default_factory=dict)
    adapters: Any = None  # an asl.adapters.Adapters registry: resources without a callable in ``tasks``
    journal: Journal | None = None  # durable executions only (asl.durable)
    recorded: Sequence[dict[str, Any]] | None = None  # the history to rebuild the execution from
    mocks: Any = None  # an asl.mocks.Mocks: mocked Task responses of a test case, counted for this execution
    coverage: Any = None  # an object with hit(pointer): told of each state, Choice rule, Retrier and Catcher used
    # a list to receive the histories of Distributed Map children run inside this execution (not executions of their
    # own): one dict each, {"mapRunArn", "executionArn", "name", "status", "history"}
    child_histories: list[dict[str, Any]] | None = None
    # told of each event of the execution's history as it is recorded (the raw entry: read it with event_dict), e.g.
    # asl.progress showing the states as they run; None (the default) costs nothing per event
    listener: Callable[[Any], None] | None = None


@dataclass
class ExecutionResult:
    """What an execution ended with. ``output`` is the output's JSON text (SUCCEEDED only); ``history`` its events."""

    status: str
    output: str | None
    error: str | None
    cause: str | None
    log: Sequence[Any] = field(repr=False)  # the history as recorded (see History); read it as ``history``
    execution_arn: str

    @functools.cached_property
    def history(self) -> list[dict[str, Any]]:
        """The execution history: AWS's events, as dicts, oldest first (made on first read)."""
        return [event_dict(e) for e in self.log]

    @property
    def output_value(self) -> Any:
        return None if self.output is None else json.loads(self.output)
