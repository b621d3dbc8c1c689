"""The durable engine's side of a running execution: the journal the runtime commits through, and what it knows
of a task token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class TokenState:
    """What the journal knows of a task token: its status (PENDING until closed), the outcome, the time of the
    last heartbeat, and for an activity task when and by whom it was taken."""

    status: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    worker_name: str | None = None


TIMED_OUT_TOKEN, HEARTBEAT_TIMED_OUT = "TIMED_OUT", "HEARTBEAT_TIMED_OUT"  # statuses of an expired token


class Journal(Protocol):
    """The durable engine's side of a running execution (see :mod:`asl.durable`)."""

    def flush(self) -> None:
        """Commit every event and token recorded so far, before a side effect leaves the process."""

    def register_token(self, token: str, activity_arn: str | None, input_text: str | None) -> None:
        """Record a task token (committed with the next flush); with ``activity_arn`` it is an activity task."""

    def token(self, token: str) -> TokenState | None: ...

    def expire_token(self, token: str, missed_heartbeat: bool) -> bool:
        """Close a PENDING token as timed out (TIMED_OUT, or HEARTBEAT_TIMED_OUT); False if a callback closed it
        first."""


@dataclass(frozen=True)
class MapRunState:
    """A Distributed Map's Map Run as the journal keeps it (the fields of the store's Map Run record): the
    children's inputs (``inputs``, JSON Lines: a child's input a line), its limits, and how it ended."""

    arn: str
    execution_arn: str
    status: str
    start: datetime
    max_concurrency: int
    tolerated_failure_count: int | None  # None: not given
    tolerated_failure_percentage: float | None
    inputs: str
    batched: bool = False
    stop: datetime | None = None
    outcomes: str | None = None
    results_written: int = 0
    redrive_count: int = 0
    decision: str | None = None  # JSON: how it ended (children that had, the error), kept before any was stopped


@dataclass(frozen=True)
class ChildStart:
    """A child execution of a Map Run to start: its end closes ``token``, a token of the parent."""

    arn: str
    name: str
    state_machine_arn: str
    definition: str
    type: str
    input: str
    token: str
    map_run_arn: str


class MapRunJournal(Protocol):
    """What a journal adds for Distributed Maps whose children are executions of their own. ``secret``: a value
    of the execution nobody outside sees (its children's tokens are made from it)."""

    secret: str

    def map_run(self, arn: str, inputs: bool = True) -> MapRunState | None:
        """The Map Run as stored (with ``inputs`` False, its ``inputs`` left empty: they can be large)."""

    def save_map_run(self, run: MapRunState) -> None:
        """Write the Map Run with the next commit (inserted, or overwritten whole)."""

    def start_children(self, children: list[ChildStart]) -> None:
        """Start these child executions, and register their tokens, with the next commit."""

    def tokens_of_execution(self, outputs: bool = True) -> dict[str, TokenState]:
        """Every token of this execution (one read, however many there are); without ``outputs``, their statuses,
        errors and causes only."""

    def stop_children(self, children: list[ChildStart], error: str, cause: str) -> None:
        """Abort these child executions now (each closes its token)."""

    def redrive_children(self, children: list[ChildStart], attempt: int) -> None:
        """Redrive these child executions now, each with its token open again, unless it was redriven ``attempt``
        times already or cannot be (it runs, or succeeded)."""
