"""The event log of an execution, and its replay when a durable execution is rebuilt from what a store recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ReplayMismatch
from .clock import Clock, DurableClock


def event_dict(entry: Any) -> dict[str, Any]:
    """A history entry as AWS's event: ``id``, ``previousEventId``, ``timestamp``, ``type`` and its details."""
    if isinstance(entry, dict):  # an event read back from a store
        return entry
    eid, prev, ts, etype, key, details = entry
    ev: dict[str, Any] = {"id": eid, "previousEventId": prev, "timestamp": ts, "type": etype}
    if key is not None:
        if details is None:
            details = {}
        elif isinstance(details, tuple):  # (state name, JSON text) of a StateEntered or StateExited event
            if key == "stateEnteredEventDetails":
                details = {"name": details[0], "input": details[1], "inputDetails": {"truncated": False}}
            else:
                details = {"name": details[0], "output": details[1], "outputDetails": {"truncated": False}}
        ev[key] = details
    return ev


class History:
    """The event log of one execution. Each event is kept as a tuple (id, previousEventId, timestamp, type, details
    key, details) until it is read (:func:`event_dict`): building AWS's nested dicts for every event cost more than
    the rest of a Pass state, and most histories are read rarely, if ever. A StateEntered or StateExited event without
    assigned variables keeps its details as (state name, JSON text)."""

    def __init__(self, clock: Clock):
        self.events: list[Any] = []
        self.clock = clock

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        eid = len(self.events) + 1
        self.events.append((eid, prev, self.clock.now(), etype, details_key, details))
        return eid


class ReplayHistory(History):
    """The history of a durable execution: ``add`` first walks the recorded events (checking that the rebuilt
    execution takes the same path and taking their ids and times), then records new ones with wall-clock time."""

    def __init__(self, clock: DurableClock, recorded: Sequence[dict[str, Any]]):
        super().__init__(clock)
        self.dclock = clock
        self.recorded = recorded
        self.flushed = len(recorded)
        clock.replaying = self.replaying

    def replaying(self) -> bool:
        return len(self.events) < len(self.recorded)

    def peek(self) -> dict[str, Any] | None:
        """The next recorded event, if the execution has not caught up with its history yet."""
        return self.recorded[len(self.events)] if len(self.events) < len(self.recorded) else None

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        n = len(self.events)
        if n < len(self.recorded):
            ev = self.recorded[n]
            if ev["type"] != etype:
                raise ReplayMismatch(f"event {n + 1}: the history records {ev['type']}, the rebuilt execution made {etype}")
            self.events.append(ev)
            self.dclock.t = ev["timestamp"]
            return n + 1
        ts = self.dclock.wall()
        self.dclock.t = ts
        self.events.append((n + 1, prev, ts, etype, details_key, details))
        return n + 1

    def pending(self) -> list[dict[str, Any]]:
        """Events recorded since the last flush (the journal marks them flushed after committing)."""
        return [event_dict(e) for e in self.events[self.flushed:]]
