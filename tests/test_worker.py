"""The durable worker stays alive and makes progress: what it finished is committed before it sleeps in place, an
error inside one execution fails that execution (not the worker), and store errors are retried with backoff."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import asl.interpreter
from asl.cli import main
from asl.durable import Worker
from asl.service import StepFunctions
from asl.store import MemoryStore, SQLiteStore

from .conftest import ROOT
from .test_durable import (  # noqa: F401 - kill_env is a fixture
    TASK,
    WorkerProcess,
    check_log,
    finished,
    kill_at_random,
    kill_env,
    lines,
    machine,
    types,
    wait_for,
)

FLAKY = "arn:aws:lambda:us-east-1:123456789012:function:flaky"


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[tuple[StepFunctions, WorkerProcess, Path]]:
    path, log = tmp_path / "store.db", tmp_path / "effects.log"
    log.touch()
    worker = WorkerProcess(path, log, inline_wait=8.0, tasks={FLAKY: "fail_first"})
    yield StepFunctions(SQLiteStore(path)), worker, log
    worker.stop()


def test_a_task_is_committed_before_the_worker_sleeps_in_a_wait(durable: tuple[StepFunctions, WorkerProcess, Path]) -> None:
    sfn, worker, log = durable
    arn = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": TASK, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 6, "Next": "B"},  # under --inline-wait: slept in place, not parked
        "B": {"Type": "Task", "Resource": TASK, "End": True}}}), input='{"n": 0}')["executionArn"]
    worker.start()
    wait_for(lambda: "done A" in lines(log))
    # The Wait's 6 s have begun; what led to it is in the store already (it used to be committed only with B)
    wait_for(lambda: "WaitStateEntered" in types(sfn, arn), timeout=4)
    assert "LambdaFunctionSucceeded" in types(sfn, arn)
    worker.kill()  # in the sleep
    worker.start()
    wait_for(lambda: finished(sfn, arn))
    assert lines(log).count("start A") == 1 and lines(log).count("done B") == 1
    events = sfn.get_execution_history(executionArn=arn)["events"]
    check_log(events)
    assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == {"n": 2}


def test_a_failed_attempt_is_committed_before_the_retry_delay(durable: tuple[StepFunctions, WorkerProcess, Path]) -> None:
    sfn, worker, log = durable
    arn = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "F", "States": {
        "F": {"Type": "Task", "Resource": FLAKY, "End": True,
              "Retry": [{"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 6, "MaxAttempts": 1}]}}}))["executionArn"]
    worker.start()
    wait_for(lambda: "start F 0" in lines(log))
    wait_for(lambda: "LambdaFunctionFailed" in types(sfn, arn), timeout=4)  # committed before the 6 s delay
    worker.kill()  # in the delay
    worker.start()
    wait_for(lambda: finished(sfn, arn))
    assert lines(log) == ["start F 0", "start F 1"]  # the first attempt did not run again
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}  # a Result: not the fast path


def broken_pass(*_: Any) -> Any:
    raise RuntimeError("a bug in a state handler")


def test_an_internal_error_fails_that_execution_not_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    sfn = StepFunctions(MemoryStore())
    bad = sfn.start_execution(stateMachineArn=machine(sfn, PASS, "bad"))["executionArn"]
    monkeypatch.setitem(asl.interpreter._HANDLERS, "Pass", broken_pass)  # stands for any bug inside asl
    good = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "S", "States": {"S": {"Type": "Succeed"}}},
                                                       "good"))["executionArn"]
    assert Worker(sfn.store).run_until_idle() == 2
    failed = sfn.describe_execution(executionArn=bad)
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")
    assert failed["cause"] == "An internal error stopped the execution: RuntimeError: a bug in a state handler"
    assert sfn.describe_execution(executionArn=good)["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=bad)["events"]
    check_log(history)
    assert history[-1]["type"] == "ExecutionFailed"


def test_worker_until_idle_never_crashes_on_one_execution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store.db"
    definition = tmp_path / "pass.asl.json"
    definition.write_text(json.dumps(PASS))
    r = CliRunner().invoke(main, ["start", str(definition), "--store", str(store)])
    assert r.exit_code == 0, r.output
    monkeypatch.setitem(asl.interpreter._HANDLERS, "Pass", broken_pass)
    r = CliRunner().invoke(main, ["worker", "--store", str(store), "--until-idle"])
    assert r.exit_code == 0 and "1 run(s)" in r.output, r.output
    [execution] = StepFunctions(SQLiteStore(store)).store.list_executions()
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_a_store_locked_too_long_is_retried_with_backoff_and_logged_once(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3
    import threading

    path = tmp_path / "store.db"
    sfn = StepFunctions(SQLiteStore(path))
    arn = sfn.start_execution(stateMachineArn=machine(sfn, PASS))["executionArn"]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    worker = Worker(SQLiteStore(path, busy_timeout=0.05), poll_interval=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    with caplog.at_level("INFO", logger="asl.worker"):
        thread.start()
        time.sleep(1.5)  # the worker keeps failing: 0.05, 0.1, 0.2, 0.4, 0.8 s apart
        assert thread.is_alive() and not finished(sfn, arn)
        holder.execute("ROLLBACK")  # the lock is released: the worker goes on by itself
        wait_for(lambda: finished(sfn, arn), timeout=30)
        worker.stop()
        thread.join(10)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "database is locked" in errors[0].getMessage()
    assert errors[0].exc_info is None  # one line, not a traceback
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_a_worker_on_a_full_disk_recovers_by_itself_when_space_returns(tmp_path: Path) -> None:

    from .test_store_files import tmpfs

    with tmpfs("8m") as where:
        path, log = where / "store.db", tmp_path / "effects.log"
        log.touch()
        sfn = StepFunctions(SQLiteStore(path))
        big = {"Type": "Pass", "Result": "x" * 20_000}  # every state's output takes room in the store
        sm = machine(sfn, {"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": TASK, "Next": "B"}, "B": {**big, "Next": "C"}, "C": {**big, "End": True}}})
        arns = [sfn.start_execution(stateMachineArn=sm, input='{"n": 0}')["executionArn"] for _ in range(5)]
        filler = where / "filler"
        with open(filler, "wb") as fh:  # the disk is full: every write of the store fails
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
            except OSError as exc:
                assert exc.errno == 28  # ENOSPC
        worker = WorkerProcess(path, log, inline_wait=1.0)
        worker.args += ["--concurrency", "1"]
        stderr = tmp_path / "worker.err"
        with open(stderr, "wb") as err:
            worker.start(stderr=err)
            try:
                time.sleep(3)  # failing all along, backing off
                assert worker.proc.poll() is None, stderr.read_text()
                assert not any(finished(sfn, a) for a in arns)
                filler.unlink()  # space returns
                try:
                    wait_for(lambda: all(finished(sfn, a) for a in arns), timeout=60)
                except AssertionError:
                    raise AssertionError(stderr.read_text()[-3000:]) from None
            finally:
                worker.stop()
        for arn in arns:
            assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
            check_log(sfn.get_execution_history(executionArn=arn)["events"])
        output = stderr.read_text()
        errors = [line for line in output.splitlines() if "store error" in line]
        assert 1 <= len(errors) <= 3, output  # one line per distinct error, not one per attempt
        assert "disk is full" in errors[0] and "Traceback" not in output
        assert "works again" in output


def test_a_task_abandoned_at_its_timeout_never_commits_the_workers_events(tmp_path: Path) -> None:
    # The task sleeps on the execution's clock (asl.sleep) in its own thread and goes on after its timeout; its
    # sleeps must not commit what the worker records meanwhile (they did, from two threads at once: UNIQUE failed)
    def poll(value: Any, context: Any) -> Any:
        while True:
            asl.interpreter.sleep(0.001)

    path = tmp_path / "store.db"
    sfn = StepFunctions(SQLiteStore(path))
    sm = machine(sfn, {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": TASK, "TimeoutSeconds": 1, "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "M"}]},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": None, "Next": "W",
              "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "Result": 1, "End": True}}}},
        "W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    arns = [sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": list(range(3000))}))["executionArn"]
            for _ in range(3)]
    Worker(SQLiteStore(path), {TASK: poll}, inline_wait=5).run_until_idle()
    for arn in arns:
        assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
        check_log(sfn.get_execution_history(executionArn=arn)["events"])


# -- branches that run at once, durably ------------------------------------------------------------------------------
def branch_per_step(i: int) -> dict[str, Any]:
    return {"StartAt": f"A{i}", "States": {
        f"A{i}": {"Type": "Task", "Resource": TASK, "Parameters": {"sleep": 0.2, "n.$": "$.n"}, "Next": f"W{i}"},
        f"W{i}": {"Type": "Wait", "Seconds": 1, "Next": f"B{i}"},  # longer than --inline-wait 0.5: the execution parks
        f"B{i}": {"Type": "Task", "Resource": TASK, "Parameters": {"sleep": 0.2, "n.$": "$.n"}, "End": True}}}


CONCURRENT = {"StartAt": "P", "States": {
    "P": {"Type": "Parallel", "Branches": [branch_per_step(i) for i in range(3)], "ResultPath": "$.branches", "Next": "M"},
    "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "ResultPath": "$.mapped", "End": True,
          "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": TASK, "End": True}}}}}}


def test_branches_run_at_once_under_the_worker_and_resume_from_a_park(tmp_path: Path) -> None:
    import os

    os.environ.setdefault("ASL_TEST_LOG", str(tmp_path / "log"))
    import tests.durable_tasks as dt

    sfn = StepFunctions(SQLiteStore(tmp_path / "store.db"))
    value = {"n": 0, "items": [{"i": i, "sleep": 0.2} for i in range(6)]}
    arn = sfn.start_execution(stateMachineArn=machine(sfn, CONCURRENT), input=json.dumps(value))["executionArn"]
    worker = Worker(SQLiteStore(tmp_path / "store.db"), {TASK: dt.step}, inline_wait=0.5)
    assert worker.run_until_idle(timeout=60) >= 2  # it parked for the Waits and was run again
    out = json.loads(sfn.describe_execution(executionArn=arn)["output"])
    assert out["branches"] == [{"sleep": 0.2, "n": 2}] * 3 and [x["i"] for x in out["mapped"]] == list(range(6))
    events = sfn.get_execution_history(executionArn=arn)["events"]
    check_log(events)
    entered = [e["id"] for e in events if e["type"] == "WaitStateEntered"]
    exited = [e["id"] for e in events if e["type"] == "WaitStateExited"]
    assert max(entered) < min(exited)  # the three Waits overlapped
    assert all("branch" not in e for e in events)  # the store's branch keys are not shown


def test_kill_at_random_moments_during_branches_that_run_at_once(
        kill_env: tuple[StepFunctions, WorkerProcess, Path]) -> None:  # noqa: F811 - the fixture, by its name
    import random

    sfn, wp, log = kill_env
    value = {"n": 0, "items": [{"i": i, "sleep": 0.2} for i in range(6)]}
    arn = sfn.start_execution(stateMachineArn=machine(sfn, CONCURRENT), input=json.dumps(value))["executionArn"]
    kill_at_random(wp, random.Random(11), 6, 0.2, 0.9)
    wait_for(lambda: finished(sfn, arn), timeout=60)
    out = json.loads(sfn.describe_execution(executionArn=arn)["output"])
    assert out["branches"] == [{"sleep": 0.2, "n": 2}] * 3 and [x["i"] for x in out["mapped"]] == list(range(6))
    events = sfn.get_execution_history(executionArn=arn)["events"]
    check_log(events)
    kinds = [e["type"] for e in events]
    assert kinds.count("LambdaFunctionSucceeded") == 12 and kinds.count("LambdaFunctionScheduled") == 12
    done = [x for x in lines(log) if x.startswith("done")]
    names = [f"A{i}" for i in range(3)] + [f"B{i}" for i in range(3)] + [f"T#{i}" for i in range(6)]
    for name in names:
        assert done.count(f"done {name}") >= 1
    # a task whose outcome was committed never ran again: at most the tasks in flight at each kill ran twice
    assert sum(x.startswith("start") for x in lines(log)) <= 12 + 6 * 3


def test_a_parallel_of_three_callbacks_sends_every_token_before_any_answer(tmp_path: Path) -> None:
    """As on AWS: each branch sends its request at once; answered with asl task success, the execution finishes."""
    from .test_cli_store import asl

    log = tmp_path / "effects.log"
    log.touch()
    store = tmp_path / "store.db"
    ask = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
           "Parameters": {"token.$": "$$.Task.Token"}, "End": True}
    definition = tmp_path / "approvals.asl.json"
    definition.write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": f"Ask{i}", "States": {f"Ask{i}": ask}} for i in range(3)]}}}))
    env = {**__import__("os").environ, "ASL_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
    started = asl("start", str(definition), "--store", str(store), env=env)
    assert started.returncode == 0, started.stderr
    callback = f"arn:aws:states:::sqs:sendMessage.waitForTaskToken={ROOT / 'tests' / 'durable_tasks.py'}:hand_out"
    run = asl("worker", "--store", str(store), "--until-idle", "--task", callback, env=env)
    assert run.returncode == 0, run.stderr
    tokens = [x.split()[1] for x in lines(log) if x.startswith("token ")]
    assert len(set(tokens)) == 3  # all three requests went out before any was answered
    for i, token in enumerate(tokens):
        answered = asl("task", "success", token, "--output", json.dumps({"approved": i}), "--store", str(store))
        assert answered.returncode == 0, answered.stderr
    run = asl("worker", "--store", str(store), "--until-idle", "--task", callback, env=env)
    assert run.returncode == 0, run.stderr
    arn = started.stdout.strip()
    described = StepFunctions(SQLiteStore(store)).describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert sorted(x["approved"] for x in json.loads(described["output"])) == [0, 1, 2]
