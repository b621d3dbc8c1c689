"""The durable worker stays alive and makes progress: what it finished is committed before it sleeps in place, an
error inside one execution fails that execution (not the worker), and store errors are retried with backoff."""

from __future__ import annotations

import json
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

from .test_durable import TASK, WorkerProcess, check_log, finished, lines, machine, types, wait_for

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
    import time

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
    import time

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
