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
