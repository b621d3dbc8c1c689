"""Branches that run at once: one cooperative scheduler per execution.

Parallel branches and Map iterations that can block (a Task, a Wait, a Retry delay) run as greenlets: each runs
the ordinary, synchronous interpreter loop on its own stack and hands control back to the scheduler's hub only where
it would wait: for a task callable (run on a shared, bounded thread pool), a timer (Wait, a Retry delay, a task's
timeout on the real clock), a turn (after TaskScheduled, as AWS interleaves branches) or its children (a Parallel or
Map inside it). Everything else, the whole of an execution with no such branch and every branch that cannot block,
runs directly on the caller's stack with no scheduling at all: the hub is made only when the first branch is spawned.

On the virtual clock the run is deterministic: the hub resumes branches in the order they became ready, advances the
clock to the earliest timer, and applies task completions in the order of their virtual completion times (a task
takes the time it spends in :func:`asl.runtime.sleep`), waiting for every task in flight before applying any, so
thread timing never shows in the history. On the real clock completions are applied as they come, as on AWS.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from greenlet import getcurrent, greenlet

from .. import wallclock
from ..errors import Parked, ReplayMismatch, TaskTimeout
from .clock import CLOCK, Clock, DurableClock

if TYPE_CHECKING:  # concurrent.futures (and the logging it pulls in) is imported only once a task runs beside others
    from concurrent.futures import Future

# Threads that run task callables at once, for every execution in the process. A local cap only: on the virtual
# clock the results never depend on it.
TASK_THREADS = int(os.environ.get("ASL_TASK_THREADS", "64"))


class _TaskPool:
    """A bounded pool of daemon threads, made as tasks need them. Not ThreadPoolExecutor: its threads are joined when
    the interpreter exits, so a task callable whose branch was stopped (a sibling failed; AWS ends the execution
    there) would keep ``asl run`` from exiting until it returned."""

    def __init__(self, size: int):
        self.size = size
        self.tasks: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads = 0
        self.idle = 0  # threads waiting for a task and not yet promised one

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        with self.lock:
            if self.idle:
                self.idle -= 1
            elif self.threads < self.size:
                self.threads += 1
                threading.Thread(target=self._work, name=f"asl-task-{self.threads}", daemon=True).start()
            self.tasks.put((future, fn, args))  # at the cap, it waits for the next thread that is done
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self.tasks.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # handed to the branch waiting for it
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args  # a finished task's values are not kept alive by an idle thread
            with self.lock:
                self.idle += 1


_POOL: _TaskPool | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> _TaskPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = _TaskPool(TASK_THREADS)
        return _POOL


class Aborted(BaseException):  # noqa: N818 - control flow, like GreenletExit: not an error of the branch
    """Thrown into a branch that is still running when a sibling failed and nothing caught it: the branch writes the
    Aborted events of the states it is in and ends. ``prev`` is the id of the event that made its parent fail."""

    def __init__(self, prev: int):
        super().__init__(prev)
        self.prev = prev


class TaskClock:
    """The clock a task callable sees while it runs beside other branches: on the virtual clock its sleeps add up to
    the task's own duration (from the time it started), without moving the execution's clock."""

    def __init__(self, start: datetime, real: bool):
        self.start = start
        self.elapsed = 0.0
        self.real = real

    def now(self) -> datetime:
        return datetime.now(self.start.tzinfo) if self.real else self.start + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            if self.real:
                time.sleep(seconds)
            self.elapsed += seconds


# Plain classes with slots, not dataclasses: making these four took 6 ms of every `asl run`'s start-up.
class Child:
    """A spawned branch: its greenlet, and how it ended (``result``, or ``error``)."""

    __slots__ = ("glet", "done", "ended", "result", "error", "group")

    def __init__(self, glet: greenlet):
        self.glet = glet
        self.done = False
        self.ended = 0  # when done: its place among the branches that ended (in the scheduler's order)
        self.result: Any = None
        self.error: BaseException | None = None
        self.group: _Group | None = None


class _Group:
    """Children a branch waits for: it is resumed once when any of them ends."""

    __slots__ = ("waiter", "woken")

    def __init__(self, waiter: greenlet):
        self.waiter = waiter
        self.woken = False


class _Timer:
    """A branch sleeping until ``when``; timers due at the same time fire in the order they were set (``seq``)."""

    __slots__ = ("when", "seq", "glet", "error", "call")

    def __init__(self, when: datetime, seq: int, glet: greenlet, error: BaseException | None = None,
                 call: _Call | None = None):
        self.when = when
        self.seq = seq
        self.glet = glet
        self.error = error  # what the branch is resumed with: nothing (a sleep), or an exception (a task's timeout)
        self.call = call

    def __lt__(self, other: _Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class _Call:
    """A task callable running on the pool for a suspended branch."""

    __slots__ = ("glet", "seq", "start", "timeout", "clock", "future", "settled")

    def __init__(self, glet: greenlet, seq: int, start: datetime, timeout: float | None, clock: TaskClock):
        self.glet = glet
        self.seq = seq
        self.start = start
        self.timeout = timeout
        self.clock = clock
        self.future: Future[Any] | None = None
        self.settled = False  # resumed already (done, or timed out on the real clock)


class Scheduler:
    """The cooperative scheduler of one execution. ``clock`` is the execution's clock; ``enabled`` False keeps every
    branch on the caller's stack, one after another.

    On a :class:`~asl.runtime.clock.DurableClock` (an execution of the durable engine) the hub also rebuilds: while
    the history is being replayed, timers are due at once and each branch waits its turn for its recorded events
    (:meth:`wait_turn`); live, a wait no longer than the clock's ``inline_wait`` is slept in place (after committing
    what is pending), and when every branch waits for longer, or for a callback, the whole execution parks
    (:class:`~asl.errors.Parked`, raised out of :meth:`~asl.runtime.loop.Execution.run`) until its earliest timer."""

    def __init__(self, clock: Clock, enabled: bool = True):
        self.clock = clock
        self.real = bool(getattr(clock, "real", False))
        self.durable = isinstance(clock, DurableClock)
        self.enabled = enabled
        self.keys: dict[greenlet, str] = {}  # the path of each spawned branch (its key in a durable history)
        self.turns: dict[int, list[greenlet]] = {}  # branches waiting for the replay to reach a recorded event
        self.callbacks: set[greenlet] = set()  # branches waiting for a callback with no time limit
        self.hub: greenlet | None = None
        self.ready: deque[tuple[greenlet, Any, BaseException | None]] = deque()
        self.timers: list[_Timer] = []
        self.calls: dict[int, _Call] = {}
        self.completed: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self.live = 0  # spawned branches that have not ended
        self._seq = itertools.count()

    # -- what branches call ----------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether other branches are alive: then waiting goes through the hub instead of blocking the caller."""
        return self.live > 0

    def spawn(self, fn: Callable[[], Any], context: contextvars.Context, key: str = "") -> Child:
        """Start ``fn`` as a branch (run in ``context``); it runs when the caller next waits. ``key`` names it in a
        durable history."""
        hub = self._hub()
        child = Child(greenlet(None, parent=hub))
        self.keys[child.glet] = key

        def run(*_: Any) -> None:  # started by the hub with switch(None)
            if child.done:  # stopped before it started (see abort)
                return
            try:
                child.result = fn()
            except (Exception, Aborted) as exc:  # handed to the parent with wait_any; GreenletExit passes through
                child.error = exc
            finally:
                self.live -= 1
                child.done = True
                child.ended = next(self._seq)
                group = child.group
                if group is not None and not group.woken and not group.waiter.dead:
                    group.woken = True
                    self.ready.append((group.waiter, None, None))

        child.glet.run = run
        child.glet.gr_context = context
        self.live += 1
        self.ready.append((child.glet, None, None))
        return child

    def wait_any(self, children: Iterable[Child]) -> list[Child]:
        """Wait until at least one of ``children`` has ended; those that have, in the order given."""
        pending = list(children)
        done = [c for c in pending if c.done]
        if done:
            return done
        group = _Group(getcurrent())
        for c in pending:
            c.group = group
        self._block()
        return [c for c in pending if c.done]

    def abort(self, child: Child, prev: int) -> None:
        """Stop a branch that has not ended: :class:`Aborted` is raised where it waits, and it runs to its end (writing
        its Aborted events) before this returns."""
        if child.done:
            return
        g = child.glet
        if not g:  # spawned but never started: nothing of it is in the history. Not thrown into: a greenlet that
            # has not started passes what is thrown to its parent, the hub. It ends at once when the hub starts it.
            self.live -= 1
            child.done = True
            child.error = Aborted(prev)
            child.ended = next(self._seq)
            return
        g.parent = getcurrent()  # when it ends, control comes back here rather than to the hub
        try:
            g.throw(Aborted(prev))
        finally:
            if not g.dead:
                g.parent = self._hub()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the execution's clock; other branches run meanwhile."""
        if not self.active:
            self.clock.sleep(seconds)
            return
        heapq.heappush(self.timers, _Timer(self.clock.now() + timedelta(seconds=seconds), next(self._seq), getcurrent()))
        self._block()

    def wait_callback(self, until: datetime | None) -> None:
        """A durable branch waits for its task token: until ``until`` (a timeout or heartbeat to check), or, with
        None, for as long as the execution runs (a callback reaches it only when the execution, parked, is run again)."""
        me = getcurrent()
        if until is None:
            self.callbacks.add(me)
            try:
                self._block()
            finally:
                self.callbacks.discard(me)
            return
        heapq.heappush(self.timers, _Timer(until, next(self._seq), me))
        self._block()

    def branch_key(self) -> str:
        """The key of the branch running now ("" for the execution's own, and branches run on its stack)."""
        return self.keys.get(getcurrent(), "")

    def wait_turn(self, index: int) -> None:
        """Rebuilding: wait until the replay reaches the ``index``-th recorded event."""
        if not self.active:
            raise ReplayMismatch(f"event {index + 1}: the history records it for a branch that the rebuilt execution "
                                 "does not run")
        self.turns.setdefault(index, []).append(getcurrent())
        self._block()

    def taken(self, index: int) -> None:
        """The replay reached the ``index``-th recorded event: the branches waiting for it go on."""
        for g in self.turns.pop(index, ()):
            self.ready.append((g, None, None))

    def pause(self) -> None:
        """Let the other ready branches run first (AWS schedules branches' tasks before it starts them)."""
        if self.active:
            self.ready.append((getcurrent(), None, None))
            self._block()

    def call(self, fn: Callable[..., Any], value: Any, ctx: Any, timeout: float | None) -> Any:
        """Run a task callable, ``fn(value, ctx)``, on the pool while the other branches go on (callers with no
        other branch alive call it themselves, on their own thread); TaskTimeout is raised here when it runs past
        ``timeout`` seconds."""
        start = self.clock.now()
        task_clock = TaskClock(start, self.real)
        context = contextvars.copy_context()
        context.run(CLOCK.set, task_clock)
        rec = _Call(getcurrent(), next(self._seq), start, timeout, task_clock)
        self.calls[rec.seq] = rec
        rec.future = _pool().submit(context.run, fn, value, ctx)
        if self.real:  # on the virtual clock the hub waits for the futures themselves
            rec.future.add_done_callback(lambda _: self.completed.put(rec))
        if timeout is not None and self.real:
            heapq.heappush(self.timers, _Timer(start + timedelta(seconds=timeout), next(self._seq), rec.glet,
                                               TaskTimeout(), rec))
        return self._block()

    # -- the hub ---------------------------------------------------------------------------------------------------
    def _hub(self) -> greenlet:
        if self.hub is None or self.hub.dead:
            self.hub = greenlet(self._loop, parent=getcurrent())
        return self.hub

    def _block(self) -> Any:
        """Hand control to the hub until something resumes this branch with a value (or raises in it)."""
        return self._hub().switch()

    def _loop(self) -> None:
        while True:
            if self.ready:
                g, value, error = self.ready.popleft()
                if g.dead:
                    continue
                if error is not None:
                    g.throw(error)
                else:
                    g.switch(value)
                continue
            if not self._advance():
                raise RuntimeError("every branch of the execution is waiting and nothing can wake one: a bug in asl")

    def _advance(self) -> bool:
        """Nothing is ready: wake the next branch, by a task completion or a timer. False when nothing can."""
        calls = [c for c in self.calls.values() if not c.settled and not c.glet.dead]
        if not self.real:
            return self._advance_virtual(calls)
        timer = self._next_timer()
        if self.durable and not calls:
            return self._advance_durable(timer)
        if not calls and timer is None:
            return False
        now = wallclock.now() if self.durable else self.clock.now()
        wait = None if timer is None else max(0.0, (timer.when - now).total_seconds())
        try:
            rec = self.completed.get(timeout=wait)
        except queue.Empty:
            assert timer is not None
            heapq.heappop(self.timers)
            self._fire(timer)
            return True
        self._settle(rec)
        return True

    def _advance_durable(self, timer: _Timer | None) -> bool:
        """A durable execution with no task in flight: while replaying, the next timer is due at once (what followed
        it is in the history); live, it is slept in place when it is near, and otherwise (or when every branch waits
        for a callback) the execution parks until its earliest timer."""
        clock = self.clock
        assert isinstance(clock, DurableClock)
        if clock.replaying():
            if timer is None:
                if self.turns:
                    raise ReplayMismatch("the rebuilt execution waits for events its history does not give it")
                return False
            heapq.heappop(self.timers)
            self._fire(timer)
            return True
        if timer is None:
            if self.callbacks:
                raise Parked(None)
            return False
        wait = (timer.when - wallclock.now()).total_seconds()
        if wait > clock.inline_wait:
            raise Parked(timer.when)
        if wait > 0:
            if clock.before_sleep is not None:
                clock.before_sleep()
            time.sleep(wait)
        heapq.heappop(self.timers)
        self._fire(timer)
        return True

    def _advance_virtual(self, calls: list[_Call]) -> bool:
        """What happens next on the virtual clock: the earliest of the timers and of the finished tasks (by virtual
        time, then by the order they began), once no task still running could come before it (a task that began at
        time t finishes at t or later), and with it everything else due at that same time, so that branches whose
        tasks end together all see it before any of them runs on (as AWS records simultaneous timeouts). Thread
        timing never changes the order, only how long we wait."""
        applied: datetime | None = None
        while True:
            item = self._next_due(calls)
            if item is None or (applied is not None and item[0] != applied):
                return applied is not None
            when, thing = item
            if when > self.clock.now():
                self.clock.sleep((when - self.clock.now()).total_seconds())
            if isinstance(thing, _Timer):
                heapq.heappop(self.timers)
                self._fire(thing)
            else:
                self._settle(thing)
                calls.remove(thing)
            applied = when

    def _next_due(self, calls: list[_Call]) -> tuple[datetime, _Timer | _Call] | None:
        """The earliest timer or finished task, waiting for tasks still running that could come before it."""
        while True:
            candidates: list[tuple[datetime, int, _Timer | _Call]] = [
                (self._finish_time(c), c.seq, c) for c in calls if c.future is not None and c.future.done()]
            timer = self._next_timer()
            if timer is not None:
                candidates.append((timer.when, timer.seq, timer))
            best = min(candidates, key=lambda x: (x[0], x[1])) if candidates else None
            earlier = [c.future for c in calls if c.future is not None and not c.future.done()
                       and (best is None or (c.start, c.seq) < (best[0], best[1]))]
            if not earlier:
                return None if best is None else (best[0], best[2])
            from concurrent.futures import FIRST_COMPLETED, wait

            wait(earlier, return_when=FIRST_COMPLETED)

    @staticmethod
    def _finish_time(c: _Call) -> datetime:
        elapsed = c.clock.elapsed
        if c.timeout is not None and elapsed > c.timeout:
            elapsed = c.timeout
        return c.start + timedelta(seconds=elapsed)

    def _next_timer(self) -> _Timer | None:
        while self.timers and (self.timers[0].glet.dead or (self.timers[0].call is not None and self.timers[0].call.settled)):
            heapq.heappop(self.timers)
        return self.timers[0] if self.timers else None

    def _fire(self, timer: _Timer) -> None:
        if timer.call is not None:  # a task's timeout on the real clock: its result, if it comes, is dropped
            timer.call.settled = True
            self.calls.pop(timer.call.seq, None)
        self.ready.append((timer.glet, None, timer.error))

    def _settle(self, rec: _Call) -> None:
        if rec.settled or rec.glet.dead:
            self.calls.pop(rec.seq, None)
            return
        rec.settled = True
        self.calls.pop(rec.seq, None)
        assert rec.future is not None
        if not self.real and rec.timeout is not None and rec.clock.elapsed > rec.timeout:
            self.ready.append((rec.glet, None, TaskTimeout()))
            return
        error = rec.future.exception()
        self.ready.append((rec.glet, None if error is not None else rec.future.result(), error))


__all__ = ["TASK_THREADS", "Aborted", "Child", "Scheduler", "TaskClock"]
