"""Time: the clock an execution reads and sleeps on. :class:`VirtualClock` (the default) makes Wait and Retry
delays cost no real time; :class:`RealClock` really sleeps; :class:`DurableClock` serves executions rebuilt from
their history (the time of the latest event). Task callables sleep on their execution's clock with :func:`sleep`."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .. import wallclock
from ..errors import Parked


class Clock(Protocol):
    """The source of time. ``sleep`` may advance virtual time instead of waiting."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class VirtualClock:
    """A clock that moves only when slept on: Wait and Retry cost no real time."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class RealClock:
    """Wall-clock time; ``sleep`` really sleeps."""

    real = True

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DurableClock:
    """The clock of a durable execution. ``now()`` is the time of the execution's latest history event, so every
    value an expression reads from the clock is the same when the execution is rebuilt from its history; new
    events take the wall-clock time. ``sleep`` waits relative to the latest event: while replaying it returns at
    once, live it sleeps in place up to ``inline_wait`` seconds and parks the execution for longer waits, so a
    Wait keeps its original wake-up time across a restart."""

    real = True

    def __init__(self, start: datetime, inline_wait: float = 1.0, before_sleep: Callable[[], None] | None = None):
        self.t = start
        self.inline_wait = inline_wait
        self.replaying: Callable[[], bool] = lambda: False
        self.before_sleep = before_sleep  # commits what is pending: nothing finished is lost to a kill in the sleep

    def now(self) -> datetime:
        return self.t

    def wall(self) -> datetime:
        return max(wallclock.now(), self.t)

    def sleep(self, seconds: float) -> None:
        target = self.t + timedelta(seconds=seconds)
        if not self.replaying():
            wait = (target - wallclock.now()).total_seconds()
            if wait > self.inline_wait:
                raise Parked(target)
            if wait > 0:
                if self.before_sleep is not None:
                    self.before_sleep()
                time.sleep(wait)
        self.t = max(self.t, target)


CLOCK: contextvars.ContextVar[Clock] = contextvars.ContextVar("asl_clock")


def sleep(seconds: float) -> None:
    """Sleep on the running execution's clock: a task callable that calls this takes ``seconds`` of (virtual or
    real) time, which counts against its Task's TimeoutSeconds. Outside an execution, sleeps for real."""
    clock = CLOCK.get(None)
    if clock is None:
        time.sleep(seconds)
    else:
        clock.sleep(seconds)


_LAST_ISO: tuple[datetime | None, str] = (None, "")


def iso(ts: datetime) -> str:
    """AWS's ISO-8601 form: milliseconds and ``Z``."""
    global _LAST_ISO
    last = _LAST_ISO
    if last[0] == ts:  # consecutive states on a virtual clock enter at the same instant
        return last[1]
    text = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    _LAST_ISO = (ts, text)
    return text
