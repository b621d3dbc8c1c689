"""The event log of an execution, and its replay when a durable execution is rebuilt from what a store recorded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import HistoryLimitReached, RedriveRestart, ReplayMismatch
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


# AWS keeps at most 25,000 events of a Standard execution: the 25,000th may only be its end.
MAX_EVENTS = 25_000
ENDS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})


class History:
    """The event log of one execution. Each event is kept as a tuple (id, previousEventId, timestamp, type, details
    key, details) until it is read (:func:`event_dict`): building AWS's nested dicts for every event cost more than
    the rest of a Pass state, and most histories are read rarely, if ever. A StateEntered or StateExited event without
    assigned variables keeps its details as (state name, JSON text)."""

    def __init__(self, clock: Clock):
        self.events: list[Any] = []
        self.clock = clock
        self.limit: int | None = MAX_EVENTS  # None for an Express execution, whose history AWS does not keep

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        eid = len(self.events) + 1
        if self.limit is not None and eid >= self.limit and etype not in ENDS:
            raise HistoryLimitReached(eid)
        self.events.append((eid, prev, self.clock.now(), etype, details_key, details))
        return eid


class ObservedHistory(History):
    """A :class:`History` that tells ``listener`` of each event as it is recorded (``ExecutionOptions.listener``):
    the raw entry, which :func:`event_dict` reads. Only an execution given a listener pays for the call."""

    def __init__(self, clock: Clock, listener: Callable[[Any], None]):
        super().__init__(clock)
        self.listener = listener

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        eid = super().add(etype, prev, details_key, details)
        self.listener(self.events[-1])
        return eid


BRANCH = "branch"
"""The key beside a durable event that names the branch that wrote it (absent for the execution's own branch). The
store keeps it so a rebuilt execution can give each branch its own events; the API does not show it."""


class ReplayHistory(History):
    """The history of a durable execution, rebuilt from what the store recorded. ``add`` gives each branch its own
    recorded events, in their order, and in the order of the whole history: a branch whose next recorded event comes
    after another branch's waits (``turn``) until that one is taken, so the rebuilt execution interleaves exactly as
    the recorded one did. Once every recorded event is taken, new events get wall-clock times and the next ids.

    ``branch()`` names the branch calling (the scheduler knows which greenlet runs); ``turn(index)`` waits until the
    ``index``-th recorded event is next (or, with the length of the history, until all are taken)."""

    def __init__(self, clock: DurableClock, recorded: Sequence[dict[str, Any]]):
        super().__init__(clock)
        self.dclock = clock
        self.recorded = recorded
        self.flushed = len(recorded)
        self.next = 0  # the index of the next recorded event to take
        self.of_branch: dict[str, deque[int]] = {}
        for i, ev in enumerate(recorded):
            self.of_branch.setdefault(ev.get(BRANCH, ""), deque()).append(i)
        self.new_branches: dict[int, str] = {}  # the branch of each new event that is not the execution's own
        self.branch: Callable[[], str] = lambda: ""
        self.turn: Callable[[int], None] | None = None
        self.taken: Callable[[int], None] = lambda index: None  # told when the index-th event is next
        clock.replaying = self.replaying
        # Where earlier attempts ended before a redrive: the index of each end event (ExecutionFailed, -Aborted or
        # -TimedOut) that ExecutionRedriven follows. The attempt's unfinished state runs again from there.
        self.redrives = deque(i for i in range(len(recorded) - 1)
                              if recorded[i]["type"] in ENDS and recorded[i + 1]["type"] == "ExecutionRedriven")

    def _redrive_pending(self, index: int | None) -> bool:
        """Whether a branch whose next recorded event is ``index`` (None: it has none left) has reached the end of an
        attempt that was redriven: the replay is not past that end, and the branch is at it or has nothing before."""
        if not self.redrives:
            return False
        end = self.redrives[0]
        return self.next <= end and (index is None or index >= end)

    def redriven(self) -> dict[str, Any]:
        """Take the end of the attempt and its ExecutionRedriven event (the rebuilt execution goes on after them);
        the ExecutionRedriven event."""
        end = self.redrives.popleft()
        # the attempt's events the rebuild did not take (the rest of the state it ended in), its end, the redrive:
        # all of them are the history's, and none is taken again
        self.events.extend(self.recorded[self.next:end + 2])
        for left in self.of_branch.values():  # what the attempt's branches did not take is dropped with it
            while left and left[0] < end + 2:
                left.popleft()
        self.next = end + 2
        self.dclock.t = self.recorded[end + 1]["timestamp"]
        self.taken(self.next)
        return dict(self.recorded[end + 1])

    def replaying(self) -> bool:
        return self.next < len(self.recorded)

    def peek(self) -> dict[str, Any] | None:
        """The calling branch's next recorded event, if it has one left."""
        left = self.of_branch.get(self.branch())
        if self._redrive_pending(left[0] if left else None):
            raise RedriveRestart
        return self.recorded[left[0]] if left else None

    def _wait(self, index: int) -> None:
        if self.turn is None:
            raise ReplayMismatch(f"event {self.next + 1}: the history records a branch that the rebuilt execution does "
                                 "not run")
        self.turn(index)

    def add(self, etype: str, prev: int, details_key: str | None = None, details: Any = None) -> int:
        branch = self.branch()
        left = self.of_branch.get(branch)
        if self._redrive_pending(left[0] if left else None):
            raise RedriveRestart  # the attempt ended here (its failure, an abort, a time-out): the redrive goes on
        if left:
            index = left[0]
            while index != self.next:
                self._wait(index)
            ev = self.recorded[index]
            if ev["type"] != etype:
                raise ReplayMismatch(f"event {index + 1}: the history records {ev['type']}, the rebuilt execution made {etype}")
            left.popleft()
            self.next += 1
            self.events.append(ev)
            self.dclock.t = ev["timestamp"]
            self.taken(self.next)
            return int(ev["id"])
        while self.next < len(self.recorded):  # this branch is past its history: new events follow all recorded ones
            self._wait(len(self.recorded))
        n = len(self.events)
        if self.limit is not None and n + 1 >= self.limit and etype not in ENDS:
            raise HistoryLimitReached(n + 1)
        ts = self.dclock.wall()
        self.dclock.t = ts
        self.events.append((n + 1, prev, ts, etype, details_key, details))
        if branch:
            self.new_branches[n + 1] = branch
        return n + 1

    def pending(self) -> list[dict[str, Any]]:
        """Events recorded since the last flush (the journal marks them flushed after committing), each with the
        branch that wrote it."""
        out = []
        for e in self.events[self.flushed:]:
            ev = event_dict(e)
            branch = self.new_branches.get(ev["id"])
            if branch:
                ev = {**ev, BRANCH: branch}
            out.append(ev)
        return out
