"""Progress in the terminal (issue 21, part 4): ``asl run`` shows the states as they run on a terminal (or with
--verbose) and never changes its standard output; ``asl executions watch`` follows an execution in a store until it
ends; the worker logs each execution started, parked, woken, finished or failed."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from asl.cli import main
from asl.durable import Worker
from asl.model import load
from asl.progress import Progress, watch
from asl.runtime import Execution, ExecutionOptions, VirtualClock
from asl.runtime.history import History, ObservedHistory
from asl.service import StepFunctions
from asl.store import SQLiteStore

from .conftest import ROOT

FLAKY = "arn:aws:lambda:us-east-1:123456789012:function:flaky"
BAD = "arn:aws:lambda:us-east-1:123456789012:function:bad"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# A Parallel (a Task retried once, a Task whose error is caught), a Wait, a Map of two iterations
MACHINE = {"StartAt": "P", "States": {
    "P": {"Type": "Parallel", "Next": "W", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": FLAKY, "End": True,
                                          "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2}]}}},
        {"StartAt": "B", "States": {
            "B": {"Type": "Task", "Resource": BAD, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": True},
            "C": {"Type": "Pass", "Result": "caught", "End": True}}}]},
    "W": {"Type": "Wait", "Seconds": 10, "Next": "M"},
    "M": {"Type": "Map", "ItemsPath": "$[0].items", "End": True,
          "ItemProcessor": {"StartAt": "Double", "States": {"Double": {"Type": "Pass", "End": True}}}}}}
TASKS = '''
calls = []
def flaky(event, context):
    calls.append(1)
    if len(calls) == 1:
        raise RuntimeError("first time")
    return {"items": [1, 2]}
def bad(event, context):
    raise ValueError("nope")
'''
OUTPUT = [1, 2]  # the Map over the first branch's items


@pytest.fixture
def machine(tmp_path: Path) -> list[str]:
    """``asl run`` arguments for MACHINE with its task functions."""
    definition = tmp_path / "m.asl.json"
    definition.write_text(json.dumps(MACHINE))
    tasks = tmp_path / "progress_tasks.py"
    tasks.write_text(TASKS)
    return ["run", str(definition), "--task", f"{FLAKY}={tasks}:flaky", "--task", f"{BAD}={tasks}:bad"]


def plain(text: str) -> list[str]:
    return [ANSI.sub("", x) for x in text.splitlines()]


# -- asl run ---------------------------------------------------------------------------------------------------
def test_run_shows_progress_with_verbose_only_when_not_a_terminal(machine: list[str]) -> None:
    quiet = CliRunner().invoke(main, machine)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""  # not a terminal: nothing
    assert json.loads(quiet.stdout) == OUTPUT
    verbose = CliRunner().invoke(main, [*machine, "--verbose"])
    assert verbose.exit_code == 0, verbose.output
    assert verbose.stdout == quiet.stdout  # the output JSON, exactly as without progress
    lines = plain(verbose.stderr)
    assert "\x1b[" not in verbose.stderr  # no colour where there is no terminal
    expected = [
        r"^ +\+0\.000s ▶ P  Parallel  in=\{\}$",
        r"^ +\+0\.000s   P\[0\] ▶ A  Task  in=\{\}$",
        r"^ +\+0\.000s   P\[1\] ▶ B  Task",
        r"^ +\+0\.000s   P\[0\] ✖ A  RuntimeError: first time$",
        r"^ +\+0\.000s   P\[1\] ✖ B  ValueError: nope$",
        r"^ +\+0\.000s   P\[1\] ✔ B  caught ValueError  0\.000s  out=",
        r"^ +\+0\.000s   P\[1\] ▶ C  Pass",
        r"^ +\+2\.000s   P\[0\] ↻ A  retry 1 after 2\.000s \(RuntimeError\)$",
        r"^ +\+2\.000s   P\[0\] ✔ A  2\.000s  1 retry  out=\{\"items\":\[1,2\]\}$",
        r"^ +\+2\.000s ✔ P  2\.000s  out=",
        r"^ +\+2\.000s ⏸ W  Wait: waiting",
        r"^ +\+12\.000s ✔ W  waited 10\.000s",
        r"^ +\+12\.000s   M\[0\] ▶ Double  Pass  in=1$",
        r"^ +\+12\.000s   M\[1\] ✔ Double  0\.000s  out=2$",
        r"^ +\+12\.000s ✔ M  0\.000s  out=\[1,2\]$",
        r"^ +\+12\.000s ✔ SUCCEEDED in 12\.000s of virtual time, [0-9.]+s real \(8 states, 1 retry, 1 caught error\)",
    ]
    at = 0
    for pattern in expected:  # each in order, other lines between them allowed
        found = next((i for i in range(at, len(lines)) if re.search(pattern, lines[i])), None)
        assert found is not None, f"{pattern} not found after line {at} in:\n" + "\n".join(lines)
        at = found + 1


def test_run_failure_ends_with_the_status_line_and_keeps_its_error_lines(tmp_path: Path) -> None:
    f = tmp_path / "fail.json"
    f.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "it\nbroke"}}}))
    r = CliRunner().invoke(main, ["run", str(f), "-v"])
    assert r.exit_code == 1 and r.stdout == ""
    lines = plain(r.stderr)
    assert re.fullmatch(r" +\+0\.000s ✖ F  Fail  in=\{\}", lines[1]), lines
    assert re.fullmatch(r" +\+0\.000s ✖ FAILED in 0\.000s of virtual time, [0-9.]+s real \(1 state\): Boom: it broke",
                        lines[2]), lines
    assert lines[3:] == ["FAILED: error: Boom", "cause: it", "broke"]  # as without progress
    assert CliRunner().invoke(main, ["run", str(f), "-q", "-v"]).exit_code == 2  # one or the other


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``asl ARGS`` with standard error on a pseudo-terminal (standard output a pipe): (status, stdout,
    what the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "asl", *args], stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal closed, the process is gone
                break
            if not chunk:
                break
            shown += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    out = p.stdout.read().decode() if p.stdout else ""
    status = p.wait(timeout=30)
    return status, out, shown.decode("utf-8", errors="replace").replace("\r\n", "\n")


def test_a_terminal_shows_progress_in_colour_and_no_color_turns_the_colour_off(machine: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONIOENCODING="utf-8", PYTHONPATH=str(ROOT))
    status, out, shown = run_on_a_terminal(machine, env)
    assert status == 0, shown
    assert json.loads(out) == OUTPUT  # standard output is not the terminal: the JSON alone
    assert "\x1b[32m✔\x1b[0m \x1b[1mA\x1b[0m" in shown  # a state that succeeded: a green tick, its name in bold
    assert "\x1b[31m✖\x1b[0m" in shown and "\x1b[33m↻\x1b[0m" in shown  # a failure in red, a retry in yellow
    assert any(x.strip().startswith("+12.000s ✔ SUCCEEDED in 12.000s") for x in plain(shown))
    assert "in=" not in shown  # inputs and outputs only with --verbose

    status, out, shown = run_on_a_terminal(machine, {**env, "NO_COLOR": "1"})
    assert status == 0 and json.loads(out) == OUTPUT
    assert "\x1b[" not in shown
    assert "  P[0] ↻ A  retry 1 after 2.000s (RuntimeError)" in shown

    status, out, shown = run_on_a_terminal([*machine, "--quiet"], env)
    assert status == 0 and json.loads(out) == OUTPUT and shown == ""


def rendered(definition: dict[str, Any], input_value: Any) -> list[str]:
    """The progress lines of a run of ``definition``, through ExecutionOptions.listener, times left out."""
    out = io.StringIO()
    progress = Progress(out)  # no encoding: ASCII symbols
    options = ExecutionOptions(clock=VirtualClock(), listener=progress.listener)
    Execution(load(json.dumps(definition)), json.dumps(input_value), options).run()
    return [x.split(" ", 1)[1].strip() if x.startswith("+") else x for x in
            (line.lstrip() for line in out.getvalue().splitlines())]


def test_nested_branches_their_failures_and_aborts_are_placed_where_they_happened() -> None:
    inner = {"Type": "Map", "ItemsPath": "$.ys", "End": True, "ItemProcessor": {"StartAt": "X", "States": {
        "X": {"Type": "Pass", "Next": "Y"}, "Y": {"Type": "Fail", "Error": "Inner", "Cause": "bad"}}}}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "End": True,
                                          "ItemProcessor": {"StartAt": "N", "States": {"N": inner}}}}},
        {"StartAt": "S", "States": {"S": {"Type": "Wait", "Seconds": 5, "End": True}}}]}}}
    lines = rendered(definition, {"xs": [{"ys": [1]}]})
    assert lines == [
        "> execution started",
        "> P  Parallel",
        "P[0] > M  Map",
        "P[0]/M[0] > N  Map",
        "P[0]/M[0]/N[0] > X  Pass",
        "P[0]/M[0]/N[0] + X  0.000s",
        "P[0]/M[0]/N[0] x Y  Fail",
        "P[0]/M[0]/N[0] x iteration failed",
        "P[0]/M[0] x N  an iteration failed",
        "P[0]/M[0] x iteration failed",
        "P[0]/M[0] x N  aborted",
        "P[0] x M  an iteration failed",
        "P[1] = S  Wait: waiting",
        "P[0] x M  aborted",
        "P[1] x S  aborted",  # a sibling branch's state, though AWS links its event to the failed branch's
        "x P  a branch failed",
        "x FAILED in 0.000s (6 states): Inner: bad",
    ]


def test_a_map_retried_then_caught() -> None:
    definition = {"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemsPath": "$.xs", "Next": "Done",
              "Retry": [{"ErrorEquals": ["Inner"], "MaxAttempts": 1, "IntervalSeconds": 3}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
              "ItemProcessor": {"StartAt": "Y", "States": {"Y": {"Type": "Fail", "Error": "Inner"}}}},
        "Done": {"Type": "Succeed"}}}
    lines = rendered(definition, {"xs": [1]})
    assert lines[3:] == [
        "M[0] x iteration failed",
        "~ M  retry 1 after 3.000s",  # AWS records no MapStateFailed for the attempt retried: its second start
        "M[0] x Y  Fail",
        "M[0] x iteration failed",
        "x M  an iteration failed",
        "+ M  caught its error  3.000s  1 retry",
        "> Done  Succeed",
        "+ Done  0.000s",
        "+ SUCCEEDED in 3.000s (4 states, 1 retry, 1 caught error)",
    ]


def test_no_listener_records_a_plain_history_and_a_listener_sees_every_event() -> None:
    machine = load(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                                          "B": {"Type": "Wait", "Seconds": 3, "End": True}}}))
    plain_run = Execution(machine, None, ExecutionOptions(clock=VirtualClock()))
    assert type(plain_run.history) is History  # progress off: nothing more per event
    seen: list[Any] = []
    observed = Execution(machine, None, ExecutionOptions(clock=VirtualClock(), listener=seen.append))
    assert isinstance(observed.history, ObservedHistory)
    result = observed.run()
    assert result.status == "SUCCEEDED"
    assert seen == list(result.log) and len(seen) == 6


def test_progress_survives_a_closed_stream() -> None:
    out = io.StringIO()
    p = Progress(out)
    out.close()
    p.event({"id": 1, "previousEventId": 0, "timestamp": datetime.now(UTC), "type": "ExecutionStarted"})
    p.event({"id": 2, "previousEventId": 1, "timestamp": datetime.now(UTC), "type": "ExecutionSucceeded"})
    assert p.status is None and p.out is None  # it stopped writing; the execution was not disturbed


# -- asl executions watch --------------------------------------------------------------------------------------
def test_watch_reads_each_event_once_across_pages_while_the_history_grows() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    names = [f"S{i}" for i in range(5)]
    events: list[dict[str, Any]] = [{"id": 1, "previousEventId": 0, "timestamp": t0, "type": "ExecutionStarted"}]
    for i, name in enumerate(names):
        for kind, key in (("Entered", "input"), ("Exited", "output")):
            eid = len(events) + 1
            events.append({"id": eid, "previousEventId": eid - 1, "timestamp": t0 + timedelta(seconds=i),
                           "type": f"PassState{kind}", f"state{kind}EventDetails": {"name": name, key: "{}"}})
    events.append({"id": len(events) + 1, "previousEventId": len(events), "timestamp": t0 + timedelta(seconds=5),
                   "type": "ExecutionSucceeded"})
    visible = [2]  # how many events the "store" holds: grows by three each poll
    reads: list[str | None] = []

    def page(token: str | None) -> dict[str, Any]:  # GetExecutionHistory with pages of 4
        reads.append(token)
        start = 0 if token is None else int(token)
        got = events[start:min(start + 4, visible[0])]
        more = start + 4 < visible[0]
        return {"events": got, **({"nextToken": str(start + 4)} if more else {})}

    def grow(_: float) -> None:
        visible[0] = min(len(events), visible[0] + 3)

    out = io.StringIO()
    assert watch(page, lambda: "RUNNING", Progress(out), interval=0, sleep=grow) == "SUCCEEDED"
    lines = out.getvalue().splitlines()
    assert [x.split()[2] for x in lines[1:-1]] == [n for n in names for _ in (0, 1)]  # each state entered, exited
    assert lines[-1].strip() == "+5.000s + SUCCEEDED in 5.000s (5 states)"  # a StringIO has no encoding: ASCII symbols
    assert max(reads.count(t) for t in set(reads)) > 1  # the last page was read again, not the whole history
    assert None in reads and reads[-1] != None  # noqa: E711 - once caught up past page 1, from a token


def wait_line(p: subprocess.Popen[str], timeout: float = 60) -> str:
    """The next line the process writes (fails after ``timeout`` seconds)."""
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    assert ready, "no line came"
    return p.stdout.readline()


def asl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "asl", *args]


@pytest.mark.parametrize("fail", [False, True])
def test_watch_follows_an_execution_a_worker_runs_meanwhile(tmp_path: Path, fail: bool) -> None:
    store = tmp_path / "store.db"
    definition = tmp_path / "w.asl.json"
    end = {"Type": "Fail", "Error": "Boom", "Cause": "it broke"} if fail else {"Type": "Succeed"}
    definition.write_text(json.dumps({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "E"}, "E": end}}))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)}
    start = subprocess.run(asl_cmd("start", str(definition), "--store", str(store), "--name", "e1"),
                           capture_output=True, text=True, env=env, timeout=60)
    assert start.returncode == 0, start.stderr
    with subprocess.Popen(asl_cmd("executions", "watch", "e1", "--store", str(store), "--interval", "0.05"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as w:
        assert wait_line(w).strip() == "+0.000s ▶ execution started"  # it waits: nothing ran yet
        assert w.poll() is None
        worker = subprocess.run(asl_cmd("worker", "--store", str(store), "--until-idle", "--inline-wait", "5"),
                                capture_output=True, text=True, env=env, timeout=60)
        assert worker.returncode == 0, worker.stderr
        out, err = w.communicate(timeout=60)
    lines = [x.strip() for x in out.splitlines()]
    assert re.fullmatch(r"\+[0-9.]+s ⏸ W  Wait: waiting", lines[0]), out
    assert re.fullmatch(r"\+[0-9.]+s ✔ W  waited 1\.[0-9]+s", lines[1]), out
    if fail:
        assert w.returncode == 1, err
        assert re.fullmatch(r"\+[0-9.]+s ✖ FAILED in [0-9.]+s \(2 states\): Boom: it broke", lines[-1]), out
    else:
        assert w.returncode == 0, err
        assert re.fullmatch(r"\+[0-9.]+s ✔ SUCCEEDED in [0-9.]+s \(2 states\)", lines[-1]), out
    said = worker.stderr
    assert re.search(r"asl\.worker arn:aws:states:[^ ]+:execution:w:e1: started\n", said), said
    ending = ("failed FAILED [0-9.]+s after its startDate: Boom: it broke" if fail else
              "finished SUCCEEDED [0-9.]+s after its startDate")
    assert re.search(rf"asl\.worker arn:aws:states:[^ ]+:execution:w:e1: {ending}\n", said), said
    # once ended, watch prints the whole history and the status at once
    again = subprocess.run(asl_cmd("executions", "watch", "e1", "--store", str(store)), capture_output=True,
                           text=True, env=env, timeout=60)
    assert again.returncode == w.returncode and again.stdout.splitlines()[1:] == out.splitlines()


def test_watch_stops_cleanly_on_ctrl_c_and_says_so(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    definition = tmp_path / "w.asl.json"
    definition.write_text(json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)}
    subprocess.run(asl_cmd("start", str(definition), "--store", str(store), "--name", "e1"), check=True,
                   capture_output=True, env=env, timeout=60)
    with subprocess.Popen(asl_cmd("executions", "watch", "e1", "--store", str(store)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as w:
        wait_line(w)
        w.send_signal(signal.SIGINT)
        _, err = w.communicate(timeout=30)
    assert w.returncode == 130
    assert "Traceback" not in err and "stopped watching" in err and "(it goes on)" in err


def test_watch_of_no_such_execution_is_an_error(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    SQLiteStore(store).close()
    r = CliRunner().invoke(main, ["executions", "watch", "nope", "--store", str(store)])
    assert r.exit_code == 1 and "no execution named 'nope'" in r.stderr


# -- the worker's log ------------------------------------------------------------------------------------------
def worker_lines(caplog: pytest.LogCaptureFixture, arn: str) -> list[str]:
    return [r.getMessage().removeprefix(f"{arn}: ") for r in caplog.records
            if r.name == "asl.worker" and r.getMessage().startswith(arn)]


def test_worker_logs_started_parked_woken_and_finished(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    sm = sfn.create_state_machine(name="w", definition=json.dumps({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "F"}, "F": {"Type": "Fail", "Error": "Boom", "Cause": "a\nb"}}}),
        roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e1")["executionArn"]
    with caplog.at_level(logging.INFO, logger="asl.worker"):
        Worker(sfn.store, inline_wait=0.1, poll_interval=0.05).run_until_idle(timeout=30)
    said = worker_lines(caplog, arn)
    assert len(said) == 4, said
    assert said[0] == "started"
    assert re.fullmatch(r"parked until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", said[1])
    assert said[2] == "woken after event 2"
    assert re.fullmatch(r"failed FAILED 1\.\d{3}s after its startDate: Boom: a b", said[3])


def test_worker_logs_an_execution_it_took_over_as_resumed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    sm = sfn.create_state_machine(name="w", definition=json.dumps({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "S"}, "S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e1")["executionArn"]
    Worker(sfn.store, inline_wait=0.1).run_until_idle()  # started, then parked for a second
    time.sleep(1.1)
    gone = f"{socket.gethostname()}:99999999:dead"  # a worker of this host whose process no longer exists
    now = datetime.now(UTC)
    assert sfn.store.claim(gone, now, now + timedelta(seconds=60), lambda o: False) is not None  # then it died
    with caplog.at_level(logging.INFO, logger="asl.worker"):
        Worker(sfn.store, inline_wait=0.1).run_until_idle()
    said = worker_lines(caplog, arn)
    assert said[0] == f"taken over from {gone} (its process is gone)", said
    assert said[1] == "resumed after event 2 (taken over)"
    assert re.fullmatch(r"finished SUCCEEDED 1\.\d{3}s after its startDate", said[2])


# -- found by a new-user trial ---------------------------------------------------------------------------------
CRASH = "arn:aws:lambda:us-east-1:123456789012:function:crash"
ROLE = "arn:aws:iam::123456789012:role/r"


def history_lines(sfn: StepFunctions, arn: str) -> list[str]:
    """``asl executions watch``'s lines for a finished execution, times left out (ASCII symbols)."""
    out = io.StringIO()
    progress = Progress(out)
    for ev in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
        progress.event(ev)
    return [x.strip().split(" ", 1)[1] for x in out.getvalue().splitlines()]


def test_a_redriven_state_runs_again_and_is_not_a_retry(tmp_path: Path) -> None:
    """After ExecutionRedriven the state that failed runs again (AWS records no new StateEntered): that is the
    redrive, not a Retry (the trial saw ``~ Crash  retry 1 after 2m53.6s (ValueError)`` and "2 retries")."""
    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    calls: list[Any] = []

    def crash(event: Any, context: Any) -> Any:
        calls.append(event)
        if len(calls) < 3:
            raise ValueError("bad")
        return event

    definitions = {
        "task": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Crash"},
                                            "Crash": {"Type": "Task", "Resource": CRASH, "End": True}}},
        "par": {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}},
            {"StartAt": "Y", "States": {"Y": {"Type": "Task", "Resource": CRASH, "End": True}}}]}}}}
    lines = {}
    for name, definition in definitions.items():
        calls.clear()
        sm = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm, name="e1", input="{}")["executionArn"]
        worker = Worker(sfn.store, {CRASH: crash})
        worker.run_until_idle()
        sfn.redrive_execution(executionArn=arn)
        worker.run_until_idle()
        lines[name] = history_lines(sfn, arn)
    assert lines["task"][6:] == [
        "~ redriven (redrive 1)",
        "> Crash  Task  runs again (redriven)",
        "x Crash  ValueError: bad",
        "x FAILED in " + lines["task"][-1].split(" in ", 1)[1].split(" (")[0] + " (2 states): ValueError: bad",
    ]
    assert "retr" not in "\n".join(lines["task"])
    par = lines["par"]
    at = par.index("~ redriven (redrive 1)")
    assert par[at + 1] == "> P  Parallel  runs again (redriven)", par
    assert "retr" not in "\n".join(par)
    assert par[-1].endswith("(4 states): ValueError: bad"), par


def test_a_failed_map_run_shows_the_errors_its_events_carry_not_event_names() -> None:
    """A Distributed Map whose Map Run exceeded its tolerated failures (the trial's history): AWS's MapRunFailed and
    MapStateFailed carry no error, the execution's end does; no ``Map Run failed: MapRunFailed``, no "an iteration
    failed" (no iteration is the cause); an error a MapRunFailed has (a reader's) is shown."""
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    events: list[dict[str, Any]] = [
        {"type": "ExecutionStarted", "executionStartedEventDetails": {"input": "{}"}},
        {"type": "MapStateEntered", "stateEnteredEventDetails": {"name": "Fan", "input": "{}"}},
        {"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": 3}},
        {"type": "MapRunStarted", "mapRunStartedEventDetails": {"mapRunArn": "arn:mr"}},
        {"type": "MapRunFailed", "mapRunFailedEventDetails": {}},
        {"type": "MapStateFailed"},
        {"type": "ExecutionFailed", "executionFailedEventDetails": {
            "error": "States.ExceedToleratedFailureThreshold",
            "cause": "The specified tolerated failure threshold was exceeded"}}]
    for i, ev in enumerate(events):
        ev.update(id=i + 1, previousEventId=i, timestamp=t0)

    def shown(evs: list[dict[str, Any]]) -> list[str]:
        out = io.StringIO()
        progress = Progress(out)
        for ev in evs:
            progress.event(ev)
        return [x.strip().split(" ", 1)[1] for x in out.getvalue().splitlines()]

    assert shown(events)[3:] == [
        "x Fan  Map Run failed",
        "x Fan  failed",
        "x FAILED in 0.000s (1 state): States.ExceedToleratedFailureThreshold: The specified tolerated failure "
        "threshold was exceeded"]
    events[4]["mapRunFailedEventDetails"] = {"error": "States.ItemReaderFailed", "cause": "no such key"}
    assert shown(events)[3] == "x Fan  Map Run failed: States.ItemReaderFailed: no such key"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_colour_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from asl.progress import colour_wanted

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert colour_wanted(_Terminal())
    assert not colour_wanted(io.StringIO())  # not a terminal
    monkeypatch.setenv("TERM", "dumb")  # Emacs's shell, some CI consoles: escape codes would show as text
    assert not colour_wanted(_Terminal())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(_Terminal())


def test_worker_durations_say_they_count_from_the_start_date(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The time in ``finished``/``failed`` is DescribeExecution's startDate to stopDate (StartExecution accepted it
    before a worker took it): the line says so, and a redriven execution's adds the time since its redrive."""
    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    calls: list[Any] = []

    def crash(event: Any, context: Any) -> Any:
        calls.append(event)
        if len(calls) == 1:
            raise ValueError("bad")
        return event

    sm = sfn.create_state_machine(name="w", definition=json.dumps({"StartAt": "C", "States": {
        "C": {"Type": "Task", "Resource": CRASH, "End": True}}}), roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e1", input="{}")["executionArn"]
    time.sleep(0.3)  # accepted, not taken yet
    with caplog.at_level(logging.INFO, logger="asl.worker"):
        Worker(sfn.store, {CRASH: crash}).run_until_idle()
        sfn.redrive_execution(executionArn=arn)
        Worker(sfn.store, {CRASH: crash}).run_until_idle()
    said = worker_lines(caplog, arn)
    first = re.fullmatch(r"failed FAILED (\d+\.\d{3})s after its startDate: ValueError: bad", said[1])
    assert first and float(first[1]) >= 0.3, said
    assert re.fullmatch(r"finished SUCCEEDED \d+\.\d{3}s after its startDate \(0\.\d{3}s after its redrive\)",
                        said[3]), said
    d = sfn.describe_execution(executionArn=arn)
    took = float(re.findall(r"(\d+\.\d{3})s after its startDate", said[3])[0])
    assert abs(took - (d["stopDate"] - d["startDate"]).total_seconds()) < 0.002


def test_worker_log_says_when_an_execution_is_stopped_while_parked(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """StopExecution of a parked execution: no worker sees it again, so the service that stopped it logs it (in
    ``asl serve``'s log, beside the worker's lines)."""
    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    sm = sfn.create_state_machine(name="w", definition=json.dumps({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "End": True}}}), roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e1")["executionArn"]
    with caplog.at_level(logging.INFO, logger="asl.worker"):
        Worker(sfn.store, inline_wait=0.1).run_until_idle()
        sfn.stop_execution(executionArn=arn, error="Halt", cause="by\nhand")
        sfn.stop_execution(executionArn=arn)  # stopped already: nothing more
    said = worker_lines(caplog, arn)
    assert said[0] == "started" and said[1].startswith("parked until ")
    assert said[2:] == ["aborted by StopExecution: Halt: by hand"], said


def test_worker_log_says_a_map_run_child_was_aborted_by_its_map_run(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A Distributed Map child still running when its Map Run fails is aborted by the Map Run: its worker's line
    said "stopped or taken over by another worker", which reads like a lease problem."""
    import threading

    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    released = threading.Event()

    def crash(event: Any, context: Any) -> Any:
        if event == 0:
            raise ValueError("bad item")
        released.wait(30)  # until its Map Run has failed
        return event

    sm = sfn.create_state_machine(name="d", definition=json.dumps({"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "End": True, "ToleratedFailureCount": 0, "MaxConcurrency": 2,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "C",
                          "States": {"C": {"Type": "Task", "Resource": CRASH, "End": True}}}}}}),
        roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, name="e1", input="[0, 1]")["executionArn"]
    workers = [Worker(sfn.store, {CRASH: crash}, inline_wait=0.1, poll_interval=0.02) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="asl.worker"):
        threads = [threading.Thread(target=w.run_until_idle, kwargs={"timeout": 30}) for w in workers]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        released.set()
        for t in threads:
            t.join(60)
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    lines = [r.getMessage() for r in caplog.records if r.name == "asl.worker"]
    child = [x for x in lines if "stopped the child executions" in x]
    assert len(child) == 2, lines
    why = "States.ExceedToleratedFailureThreshold: The Map Run failed, and stopped the child executions still running"
    assert child[0].endswith(f": aborted by its Map Run: {why}"), child
    assert child[1].endswith(f": aborted by its Map Run while it ran: {why}; dropped"), child
    assert not any("taken over" in x for x in lines), lines
