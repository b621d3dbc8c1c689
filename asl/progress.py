"""Progress in the terminal: an execution's history events as one line each, while they are recorded (``asl run``)
or read from a store (``asl executions watch``).

:class:`Progress` is fed events one at a time (AWS's event dicts, or the runtime's raw entries through
:meth:`Progress.listener`) and writes a line for each state entered and exited (its status and duration), each
failure, retry, caught error and wait, and a summary at the end. Parallel branches and Map iterations are indented
and prefixed with where they run (``P[1]``, ``Map[3]/Inner[0]``): the history is flat, so each event's branch is
found through its ``previousEventId`` (and the events AWS links to another branch's event, such as aborts, through
the states still open). Colour is for terminals only (not ``TERM=dumb``), and ``NO_COLOR`` turns it off.

Nothing here runs unless progress is asked for: ``asl run`` gives the execution a listener only then.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from .api import event_details as _details

ENDS = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT",
        "ExecutionAborted": "ABORTED"}
_STATE_EVENT = re.compile(r"(Pass|Task|Choice|Wait|Succeed|Fail|Parallel|Map)State(Entered|Exited|Started|Succeeded|"
                          r"Failed|Aborted)")
# events after which a failed attempt of a Task runs again (a Retry; a Map's or Parallel's is its Started event)
_ATTEMPTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
_WAITING = {"TaskSubmitted": "submitted, waiting for its callback or job", "ActivityScheduled": "waiting for an activity worker"}

_CODES = {"ok": "32", "fail": "31", "warn": "33", "dim": "2", "bold": "1", "name": "1", "scope": "36"}
_UNICODE = {"enter": "▶", "ok": "✔", "fail": "✖", "retry": "↻", "wait": "⏸", "info": "·", "more": "…"}
_ASCII = {"enter": ">", "ok": "+", "fail": "x", "retry": "~", "wait": "=", "info": "-", "more": "..."}


def colour_wanted(stream: TextIO) -> bool:
    """Colour for a terminal, unless ``NO_COLOR`` is set (to anything but the empty string, no-color.org) or the
    terminal is a dumb one (``TERM=dumb``: Emacs's shell, some CI logs), which shows escape codes as text."""
    return isatty(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for anything that cannot tell, e.g. a closed stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def for_run(stream: TextIO, quiet: bool, verbose: bool, virtual: bool) -> Progress | None:
    """The progress of ``asl run`` on ``stream`` (standard error): shown on a terminal, or anywhere with ``verbose``
    (which adds each state's input and output); never with ``quiet``. None when it is not shown."""
    if quiet or not (verbose or isatty(stream)):
        return None
    return Progress(stream, colour=colour_wanted(stream), verbose=verbose, virtual=virtual)


def duration(seconds: float) -> str:
    """``0.012s``, ``12.345s``, ``2m05.0s``, ``3h04m``."""
    if seconds < 60:
        return f"{seconds:.3f}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)}h{int(rest // 60):02d}m"


def _when(value: Any) -> datetime | None:
    """An event's timestamp: a datetime (the runtime, the service) or ISO text (JSON read back); None otherwise."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


@dataclass(eq=False)
class _Run:
    """A state entered and not exited yet (or a Map or Parallel whose branches still run)."""

    name: str
    type: str
    entered: datetime | None
    scope: str  # where it runs: "" at the top, "P[1]" in a Parallel's second branch ...
    parent: _Run | None
    open: bool = True  # entered, not exited or aborted yet
    branches: int = 0  # a Parallel: the branches started
    failure: tuple[str, str] | None = None  # (error, cause) of the last failed attempt, until it is retried
    failed_at: datetime | None = None
    retries: int = 0
    starts: int = 0  # a Map's or Parallel's Started events: a second one is a Retry
    map_run_failed: bool = False  # a Distributed Map whose Map Run failed
    redriven: bool = False  # unfinished when the execution ended, and redriven: its next event runs it again


class Progress:
    """Renders an execution's history events as lines on ``out``, one call of :meth:`event` per event, oldest
    first. ``verbose`` adds each state's input and output (cut at ``width`` characters); ``virtual`` says the
    times are the virtual clock's (the summary then adds the real time it took). :attr:`status` is the execution's
    status once its end event came."""

    def __init__(self, out: TextIO, *, colour: bool = False, verbose: bool = False, virtual: bool = False,
                 width: int = 80):
        self.out: TextIO | None = out
        self.colour = colour
        self.verbose = verbose
        self.virtual = virtual
        self.width = width
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.sym = _UNICODE if encoding.startswith("utf") else _ASCII
        self.status: str | None = None
        self._ctx: dict[int, tuple[_Run | None, str]] = {}  # each event's state and scope, for the events after it
        self._open: list[_Run] = []  # states entered and not exited, in the order they were entered
        self._unfinished: list[_Run] = []  # the states still open when the execution ended (a redrive runs them again)
        self._start: datetime | None = None
        self._ts: datetime | None = None  # the time of the event being rendered
        self._real_start = time.monotonic()
        self._counts = {"states": 0, "retries": 0, "caught": 0}

    # -- feeding -----------------------------------------------------------------------------------------------
    def listener(self, entry: Any) -> None:
        """For ``ExecutionOptions.listener``: a raw history entry as the runtime records it."""
        from .runtime.history import event_dict

        self.event(event_dict(entry))

    def event(self, ev: dict[str, Any]) -> None:
        """Render one event (no line, one, or, at the end, the summary). Never raises for a strange event: progress
        must not break what it shows."""
        if self.out is None:
            return
        try:
            self._event(ev)
        except (KeyError, TypeError, ValueError, AttributeError):  # an event of a shape not foreseen: shown as is
            self._line("", "info", str(ev.get("type", "?")), "")

    def _event(self, ev: dict[str, Any]) -> None:
        etype = str(ev["type"])
        eid, prev = int(ev["id"]), int(ev.get("previousEventId") or 0)
        ts = _when(ev.get("timestamp"))
        if self._start is None:
            self._start = ts
        self._ts = ts
        run, scope = self._ctx.get(prev, (None, ""))
        if run is not None and run.redriven:  # the first event after the redrive: its state runs again
            self._again(run, ts)
        state = _STATE_EVENT.fullmatch(etype)
        if state and state[2] == "Entered":
            run, scope = self._entered(ev, state[1], ts, run, scope, prev)
        elif state and state[2] == "Exited":
            run, scope = self._exited(ev, state[1], ts, run)
        elif state:
            run, scope = self._state_event(ev, state[1], state[2], ts, run)
        elif etype.startswith("MapIteration"):
            run, scope = self._iteration(ev, etype[len("MapIteration"):], ts, run, scope)
        elif etype in ENDS:
            self._end(ev, etype, ts)
            self._unfinished, self._open = self._open, []
        elif etype == "ExecutionRedriven":
            run, scope = self._redriven(ev)
        else:
            self._inside(ev, etype, ts, run, scope)
        self._ctx[eid] = (run, scope)

    # -- states ------------------------------------------------------------------------------------------------
    def _find(self, at: _Run | None, stype: str, name: str | None = None, failed: bool = True) -> _Run | None:
        """The state an event without a name of its own is about (Map/Parallel events, aborts): the nearest open
        state of type ``stype`` (named ``name``; with ``failed`` False, one not failed yet) up from the state of the
        event before, else the latest entered such state (AWS links these events to other branches' events)."""

        def fits(r: _Run) -> bool:
            return r.open and r.type == stype and (name is None or r.name == name) and (failed or r.failure is None)

        r = at
        while r is not None:
            if fits(r):
                return r
            r = r.parent
        return next((r for r in reversed(self._open) if fits(r)), None)

    def _close(self, run: _Run) -> None:
        run.open = False
        if run in self._open:
            self._open.remove(run)

    def _entered(self, ev: dict[str, Any], stype: str, ts: datetime | None, at: _Run | None, scope: str,
                 prev: int) -> tuple[_Run | None, str]:
        d = _details(ev)
        name = str(d.get("name", "?"))
        if at is not None and at.type == "Parallel" and scope == at.scope and prev in self._ctx:
            # a Parallel's state, not inside one of its branches yet: the first state of its next branch
            scope = self._join(at.scope, f"{at.name}[{at.branches}]")
            at.branches += 1
        run = _Run(name, stype, ts, scope, at)
        self._counts["states"] += 1
        kind, what = {"Wait": ("wait", "Wait: waiting"), "Fail": ("fail", "Fail")}.get(stype, ("enter", stype))
        self._line(run.scope, kind, name, what, d.get("input"), "in")
        if stype == "Fail":  # it ends its branch here: what follows is its parent's
            return at, scope
        self._open.append(run)
        return run, scope

    def _exited(self, ev: dict[str, Any], stype: str, ts: datetime | None,
                at: _Run | None) -> tuple[_Run | None, str]:
        d = _details(ev)
        name = str(d.get("name", "?"))
        run = self._find(at, stype, name)
        if run is None:  # a state entered before what we saw (a redriven one): no duration
            self._line(at.scope if at else "", "ok", name, "exited", d.get("output"), "out")
            return at, at.scope if at else ""
        self._close(run)
        took = duration((ts - run.entered).total_seconds()) if ts and run.entered else ""
        notes = [f"{run.retries} retr{'y' if run.retries == 1 else 'ies'}"] if run.retries else []
        if run.failure is not None:
            self._counts["caught"] += 1
            what = "caught " + (run.failure[0] or "its error")
            self._line(run.scope, "warn", name, "  ".join([what, took, *notes]), d.get("output"), "out")
        else:
            what = ("waited " + took) if run.type == "Wait" else took
            self._line(run.scope, "ok", name, "  ".join([what, *notes]), d.get("output"), "out")
        return run.parent, run.scope

    def _state_event(self, ev: dict[str, Any], stype: str, what: str, ts: datetime | None,
                     at: _Run | None) -> tuple[_Run | None, str]:
        """A Map's or Parallel's Started, Succeeded or Failed event, or any state's Aborted event."""
        run = self._find(at, stype, failed=what != "Failed")
        if run is None:
            return at, at.scope if at else ""
        if what == "Started":
            if run.starts:  # started again: a Retry (AWS records no MapStateFailed for the attempt that failed)
                if run.failure is None:
                    run.failure = ("", "")
                self._retry(run, ts)
            run.starts += 1
        elif what == "Failed":
            d = _details(ev)
            run.failure, run.failed_at = (str(d.get("error") or ""), str(d.get("cause") or "")), ts
            # AWS's MapStateFailed and ParallelStateFailed usually have no error: a Catch's output or the
            # execution's end has it
            if d.get("error") or run.map_run_failed:  # a Map Run's failure: the line before says so
                what = "failed"
            else:
                what = "a branch failed" if stype == "Parallel" else "an iteration failed"
            self._line(run.scope, "fail", run.name, what + self._why(d))
        elif what == "Aborted":
            self._close(run)
            self._line(run.scope, "fail", run.name, "aborted")
            return run.parent, run.scope
        return run, run.scope

    def _iteration(self, ev: dict[str, Any], what: str, ts: datetime | None, at: _Run | None,
                   scope: str) -> tuple[_Run | None, str]:
        """A Map iteration's event: its states run in the scope ``Map[index]`` under the Map's."""
        d = _details(ev)
        run = self._find(at, "Map", str(d.get("name", "")))
        if run is None:
            return at, scope
        inner = self._join(run.scope, f"{run.name}[{d.get('index', '?')}]")
        if what == "Started":
            return run, inner
        if what in ("Failed", "Aborted"):
            run.failed_at = ts  # when the Map is retried, its delay counts from here
            self._line(inner, "fail", "", f"iteration {what.lower()}")
        return run, run.scope

    def _redriven(self, ev: dict[str, Any]) -> tuple[_Run | None, str]:
        """ExecutionRedriven: the execution runs again from the top-level state its attempt did not finish (the
        events after this one are that state's; the states in its branches that did not finish are over)."""
        self.status = None  # the execution runs again after the end of its earlier attempt
        again = [r for r in self._unfinished if r.parent is None]
        for r in self._unfinished:
            if r.parent is not None:
                r.open = False
        for r in again:
            r.redriven = True
        self._open, self._unfinished = again, []
        self._line("", "retry", "", f"redriven (redrive {_details(ev).get('redriveCount', '?')})")
        return (again[-1] if again else None), ""

    def _again(self, run: _Run, ts: datetime | None) -> None:
        """A state that was unfinished when the execution ended runs again after its redrive: not a retry."""
        run.redriven, run.failure, run.failed_at, run.branches, run.starts = False, None, None, 0, 0
        run.map_run_failed = False
        run.entered = ts
        self._line(run.scope, "enter", run.name, f"{run.type}  runs again (redriven)")

    def _retry(self, run: _Run, ts: datetime | None) -> None:
        """A state that failed runs again: its Retry."""
        assert run.failure is not None
        run.retries += 1
        self._counts["retries"] += 1
        after = f" after {duration((ts - run.failed_at).total_seconds())}" if ts and run.failed_at else ""
        why = f" ({run.failure[0]})" if run.failure[0] else ""
        self._line(run.scope, "retry", run.name, f"retry {run.retries}{after}{why}")
        run.failure, run.failed_at, run.branches, run.map_run_failed = None, None, 0, False

    def _inside(self, ev: dict[str, Any], etype: str, ts: datetime | None, run: _Run | None, scope: str) -> None:
        """An event within a state (a task's failure, a retry, a wait), a Map Run's, or the execution's start."""
        name = run.name if run is not None else ""
        d = _details(ev)
        if etype.startswith("MapRun") and etype.endswith(("Failed", "TimedOut", "Aborted")):
            # its error and cause when the event has them (AWS's MapRunFailed for a tolerated failure threshold
            # exceeded has none: the Map state's failure, a Catch or the execution's end carries it)
            if run is not None and etype == "MapRunFailed":
                run.map_run_failed = True
            said = f"Map Run {etype[6:].lower().replace('timedout', 'timed out')}"
            self._line(scope, "fail", name, said + self._why(d))
        elif etype.endswith(("Failed", "TimedOut")):
            error = str(d.get("error", etype))
            cause = d.get("cause")
            if run is not None:
                run.failure, run.failed_at = (error, str(cause or "")), ts
            self._line(scope, "fail", name, error + (f": {self._cause(cause)}" if cause else ""))
        elif etype in _ATTEMPTS and run is not None and run.failure is not None:
            self._retry(run, ts)
        elif etype in _WAITING:
            self._line(scope, "wait", name, _WAITING[etype])
        elif etype in ("MapRunStarted", "MapRunSucceeded", "MapRunRedriven"):
            self._line(scope, "info", name, f"Map Run {etype[6:].lower()} {d.get('mapRunArn', '')}".rstrip())
        elif etype == "ExecutionStarted":
            self._line("", "enter", "", "execution started", d.get("input"), "in")

    def _end(self, ev: dict[str, Any], etype: str, ts: datetime | None) -> None:
        self.status = ENDS[etype]
        d = _details(ev)
        took = duration((ts - self._start).total_seconds()) if ts and self._start else "?"
        if self.virtual:
            took += f" of virtual time, {duration(time.monotonic() - self._real_start)} real"
        c = self._counts
        parts = [f"{c['states']} state{'s' if c['states'] != 1 else ''}"]
        parts += [f"{c['retries']} retr{'y' if c['retries'] == 1 else 'ies'}"] if c["retries"] else []
        parts += [f"{c['caught']} caught error{'s' if c['caught'] != 1 else ''}"] if c["caught"] else []
        text = f"{self.status} in {took} ({', '.join(parts)})"
        if self.status == "SUCCEEDED":
            self._line("", "ok", "", text, d.get("output"), "out", bold=True)
            return
        self._line("", "fail", "", text + self._why(d), bold=True)

    def ended(self, status: str) -> None:
        """The execution ended as ``status`` without an end event shown: say so, as the summary would."""
        self.status = status
        self._line("", "ok" if status == "SUCCEEDED" else "fail", "", status, bold=True)

    # -- lines -------------------------------------------------------------------------------------------------
    @staticmethod
    def _join(scope: str, part: str) -> str:
        return f"{scope}/{part}" if scope else part

    def _why(self, d: Mapping[str, Any]) -> str:
        """``: error: cause`` of an event's details that have an error (``: cause`` with a cause alone), else ""."""
        error, cause = d.get("error"), d.get("cause")
        text = ": ".join([str(error)] * bool(error) + [self._cause(cause)] * bool(cause))
        return f": {text}" if text else ""

    def _cause(self, cause: Any) -> str:
        """A cause, cut to one line: a Lambda function's JSON cause by its errorMessage."""
        text = str(cause)
        if text.startswith("{"):
            try:
                message = json.loads(text).get("errorMessage")
            except (ValueError, AttributeError):
                message = None
            if isinstance(message, str):
                text = message
        return self._cut(text)

    def _cut(self, text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= self.width else text[: self.width] + self.sym["more"]

    def _paint(self, text: str, kind: str) -> str:
        code = _CODES.get(kind)
        return f"\033[{code}m{text}\033[0m" if self.colour and code and text else text

    def _line(self, scope: str, kind: str, name: str, detail: str, data: Any = None, label: str = "",
              bold: bool = False) -> None:
        """One line: the time since the start, the branch (indented by depth), a symbol, the state, the detail, and
        with ``verbose`` the state's input or output (``data``)."""
        depth = scope.count("[") if scope else 0
        symbol = self.sym["ok" if kind == "warn" else kind] if kind in self.sym or kind == "warn" else self.sym["info"]
        head = self._paint(symbol, "warn" if kind in ("warn", "retry", "wait") else kind)
        text = self._paint(detail, "bold") if bold else detail
        if name:
            parts = [f"{head} {self._paint(name, 'name')}"] + ([text] if text else [])
        else:
            parts = [f"{head} {text}" if text else head]
        if self.verbose and data is not None:
            parts.append(self._paint(f"{label or 'out'}={self._cut(str(data))}", "dim"))
        where = (self._paint(scope, "scope") + " ") if scope else ""
        elapsed = ""
        if self._ts is not None and self._start is not None:
            elapsed = "+" + duration(max(0.0, (self._ts - self._start).total_seconds()))
        self._write(f"{self._paint(f'{elapsed:>10}', 'dim')} {'  ' * depth}{where}{'  '.join(parts)}")

    def _write(self, line: str) -> None:
        out = self.out
        if out is None:
            return
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed pipe or stream: progress stops, the execution goes on
            self.out = None


def watch(page: Callable[[str | None], dict[str, Any]], status: Callable[[], str], progress: Progress,
          interval: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> str:
    """Follow one execution until it ends, rendering its events on ``progress`` as they arrive; its final status.

    ``page(token)`` is GetExecutionHistory from ``token`` (None: from the start), ``status()`` DescribeExecution's
    status. Once caught up, the last page is read again from the token that led to it every ``interval`` seconds
    (events already shown are skipped), so a poll costs one page however long the history is. An execution that
    ends without an end event in its history (which should not happen) ends the watch with its status line too.
    """
    token: str | None = None
    seen = 0
    ended = False  # DescribeExecution said it ended: one more read, then stop
    while True:
        got = page(token)
        for ev in got.get("events", []):
            if int(ev["id"]) > seen:
                seen = int(ev["id"])
                progress.event(ev)
        if got.get("nextToken"):
            token = got["nextToken"]
            continue
        if progress.status is not None:
            return progress.status
        if ended:
            final = status()
            progress.ended(final)
            return final
        if status() != "RUNNING":
            ended = True
            continue
        sleep(interval)
