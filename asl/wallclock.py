"""The time of day the durable engine, the store's rules and the service read: the system's UTC time, plus an offset
that tests may move forward (:func:`advance_to`) so that parked executions come due at once, a virtual clock for the
durable engine (``Worker(virtual_time=True)``). The offset belongs to the process: a store shared with workers in
other processes must not be used with virtual time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_lock = threading.Lock()


def now() -> datetime:
    """The current time (UTC), virtual time included."""
    return datetime.now(UTC) + _offset


def advance_to(when: datetime) -> None:
    """Move the time forward to ``when`` (never backward)."""
    global _offset
    with _lock:
        gap = when - now()
        if gap > timedelta(0):
            _offset += gap


def offset() -> timedelta:
    """How far virtual time is ahead of the system's."""
    return _offset


def reset() -> None:
    """Back to the system's time (a test that moved it forward puts it back)."""
    global _offset
    with _lock:
        _offset = timedelta(0)
