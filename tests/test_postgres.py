"""The PostgreSQL store beyond the contract every backend meets (tests/test_store_contract.py): workers in
several processes on one database, a killed worker's executions taken over, wake-ups by NOTIFY, the schema kept
apart from other tables, and errors that name the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from asl.service import StepFunctions
from asl.store import StoreError, StoreUnavailable, open_store
from asl.store.postgres import SCHEMA_VERSION, PostgresStore

from .conftest import ROOT
from .test_durable import CALLBACK, TASK, chain, check_log, machine, wait_for

ASL = [sys.executable, "-c", "from asl.cli import main; main()"]


def asl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASL, *args], capture_output=True, text=True, timeout=60, cwd=kw.pop("cwd", ROOT), **kw)


def test_two_workers_on_many_hosts_share_the_work_and_survive_a_kill(postgres_url: str, tmp_path: Path) -> None:
    """The issue's proof: 40 executions started with `asl start --store postgresql://…`, two `asl worker`
    processes at once, one killed with SIGKILL after 3 s; all 40 succeed with the right output, both workers ran
    tasks, every history's ids are consecutive, and nothing was made on disk from the URL."""
    definition = tmp_path / "five.json"
    definition.write_text(json.dumps(chain(5, 0.2)))
    for i in range(40):
        out = asl("start", str(definition), "--store", postgres_url, "--input", json.dumps({"n": i * 100}),
                  "--name", f"run{i:02d}", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    functions = ROOT / "tests" / "durable_tasks.py"
    logs = [tmp_path / "w0.log", tmp_path / "w1.log"]
    workers = []
    for log in logs:
        log.touch()
        env = {**os.environ, "ASL_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
        workers.append(subprocess.Popen([*ASL, "worker", "--store", postgres_url, "--task", f"{TASK}={functions}:step"],
                                        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    store = open_store(postgres_url, create=False)
    try:
        time.sleep(3)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        sfn = StepFunctions(store)
        wait_for(lambda: not store.list_executions(status="RUNNING"), timeout=60)
        workers[1].terminate()
        _, stderr = workers[1].communicate(timeout=10)
        executions = store.list_executions()
        assert len(executions) == 40 and {e.status for e in executions} == {"SUCCEEDED"}
        for e in executions:
            assert json.loads(e.output or "")["n"] == int(e.name[3:]) * 100 + 5
            check_log(sfn.get_execution_history(executionArn=e.arn, maxResults=1000)["events"])
        done = [sum(line.startswith("done") for line in log.read_text().splitlines()) for log in logs]
        assert all(n > 0 for n in done) and sum(done) >= 200, done
        said = stderr.decode()
        assert "started" in said and "SUCCEEDED" in said  # one line per execution
        assert "taken over from" in said and "(its process is gone)" in said  # what the killed worker held
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five.json", "w0.log", "w1.log"]  # no store file
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM asl.executions").fetchone() == (40,)


def test_a_callback_wakes_an_idle_worker_at_once(postgres_url: str) -> None:
    """An idle worker on PostgreSQL polls only every few seconds (NOTIFIED_POLL); a callback's NOTIFY wakes it."""
    store = PostgresStore(postgres_url)
    try:
        tokens: list[str] = []
        sfn = StepFunctions(store)
        arn = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": CALLBACK, "Parameters": {"token.$": "$$.Task.Token"}, "End": True}}}))["executionArn"]
        worker = sfn.worker({CALLBACK: lambda v, c: tokens.append(v["token"]) or {}}, poll_interval=0.05)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        wait_for(lambda: bool(tokens), timeout=10)
        wait_for(lambda: store.get_execution(arn).wake_at is None, timeout=10)  # type: ignore[union-attr]
        time.sleep(0.3)  # the worker is idle now, waiting up to 2 s
        sent = time.monotonic()
        sfn.send_task_success(taskToken=tokens[0], output='{"ok": true}')
        wait_for(lambda: store.get_execution(arn).status == "SUCCEEDED", timeout=10)  # type: ignore[union-attr]
        assert time.monotonic() - sent < 1.0
        worker.stop()
        thread.join(timeout=5)
        assert not thread.is_alive()
    finally:
        store.close()


def test_the_schema_keeps_to_itself(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.executions (x int)")  # another application's table of the same name
        conn.execute("CREATE SCHEMA theirs")
        conn.execute("CREATE TABLE theirs.t (x int)")
    with pytest.raises(StoreError, match="no asl store there"):
        PostgresStore(postgres_url, create=False)
    store = PostgresStore(postgres_url)
    store.close()
    with pytest.raises(StoreError, match=r"schema theirs: holds tables that are not an asl store \(t\)"):
        PostgresStore(postgres_url, schema="theirs")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.executions").fetchone() == (0,)
        conn.execute("UPDATE asl.meta SET value=%s WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"newer asl \\(store schema version {SCHEMA_VERSION + 1}"):
        PostgresStore(postgres_url)


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://me:secret@/nodb?host={tmp_path}"  # no server listens there
    with pytest.raises(StoreUnavailable) as err:
        PostgresStore(url, connect_timeout=2)
    assert "postgresql://me:***@/nodb" in str(err.value) and "secret" not in str(err.value)
    with pytest.raises(StoreUnavailable) as err:
        PostgresStore(f"postgresql:///nodb?host={tmp_path}&password=secret&sslmode=disable", connect_timeout=2)
    assert "password=***&sslmode=disable" in str(err.value) and "secret" not in str(err.value)
    out = asl("executions", "list", "--store", url)
    assert out.returncode == 2 and "secret" not in out.stderr and "Traceback" not in out.stderr
    assert "cannot" in out.stderr


def test_a_lost_connection_is_an_error_that_passes(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, pool_size=2)
    try:
        sfn = StepFunctions(store)
        sm = machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=current_database() "
                          "AND pid <> pg_backend_pid()")
        failures = 0
        for _ in range(3):  # the pool's dead connections fail once each, then it connects again
            try:
                sfn.start_execution(stateMachineArn=sm)
                break
            except StoreUnavailable as exc:
                assert "terminating connection" in str(exc) and str(exc).startswith(f"{postgres_url}: cannot ")
                failures += 1
        assert failures <= 2 and len(store.list_executions()) == 1
    finally:
        store.close()


def test_a_worker_rides_out_a_database_outage(caplog: pytest.LogCaptureFixture, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away for 3 s while a worker runs executions: the worker logs the trouble once (not a
    line per attempt, no traceback), backs off, and finishes everything when the database is back."""
    import logging

    import tests.durable_tasks as dt

    from .pgcluster import Cluster

    caplog.set_level(logging.INFO, logger="asl.worker")
    cluster = Cluster.start()
    store = None
    try:
        store = PostgresStore(cluster.create_database("outage"), connect_timeout=1)
        sfn = StepFunctions(store)
        sm = machine(sfn, chain(4, 0.1))
        monkeypatch.setenv("ASL_TEST_LOG", str(tmp_path / "effects.log"))
        arns = [sfn.start_execution(stateMachineArn=sm, input='{"n": 0}')["executionArn"] for _ in range(6)]
        worker = sfn.worker({TASK: dt.step}, poll_interval=0.05)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        try:
            wait_for(lambda: any("SUCCEEDED" in r.getMessage() for r in caplog.records), timeout=20)
            cluster.pause()
            time.sleep(3)
            cluster.resume()
            wait_for(lambda: all(store.get_execution(a).status != "RUNNING" for a in arns), timeout=60)  # type: ignore[union-attr]
        finally:
            worker.stop()
            thread.join(timeout=10)
        assert {store.get_execution(a).status for a in arns} == {"SUCCEEDED"}  # type: ignore[union-attr]
        for a in arns:
            check_log(sfn.get_execution_history(executionArn=a)["events"])
        trouble = [r for r in caplog.records if "store error" in r.getMessage()]
        assert 1 <= len(trouble) <= 4, [r.getMessage() for r in trouble]  # one per distinct error, not per attempt
        assert all(r.exc_info is None for r in trouble)
        assert any("works again" in r.getMessage() for r in caplog.records)
    finally:
        if store is not None:
            store.close()
        cluster.stop()


def test_a_hung_worker_on_another_host_loses_its_execution_when_its_lease_expires(postgres_url: str) -> None:
    """No PID can be checked across hosts: a worker that stops renewing (hung, or its host gone) keeps its
    executions until its lease expires; then another worker takes them over, and the hung one's commit, when it
    wakes up, is refused, so the history has each event once."""
    store = PostgresStore(postgres_url)
    try:
        sfn = StepFunctions(store)
        calls: list[str] = []
        release = threading.Event()

        def task(value: Any, context: Any) -> Any:
            calls.append(threading.current_thread().name)
            if len(calls) == 1:
                release.wait(10)  # the first worker hangs in its task
            return {"n": value["n"] + 1}

        arn = sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": TASK, "Next": "U"},
            "U": {"Type": "Task", "Resource": TASK, "End": True}}}), input='{"n": 0}')["executionArn"]
        # run_until_idle renews no lease: the first worker's 1 s lease runs out while it hangs
        hung = sfn.worker({TASK: task}, lease_seconds=1, owner="elsewhere.example:4242:aaaa")
        first = threading.Thread(target=hung.run_until_idle, name="hung")
        first.start()
        wait_for(lambda: len(calls) == 1)
        assert sfn.worker({TASK: task}, owner="here:1:bbbb").run_until_idle() == 0  # its lease still holds
        time.sleep(1.2)
        other = threading.Thread(target=sfn.worker({TASK: task}, owner="here:1:bbbb").run_until_idle, name="other")
        other.start()
        other.join(timeout=20)
        assert store.get_execution(arn).status == "SUCCEEDED"  # type: ignore[union-attr]
        release.set()
        first.join(timeout=20)
        events = sfn.get_execution_history(executionArn=arn)["events"]
        check_log(events)
        assert [e["type"] for e in events].count("LambdaFunctionSucceeded") == 2  # once each, T's rerun included
        assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == {"n": 2}
        assert calls == ["hung", "other", "other"]  # T ran again on the other worker: at least once
    finally:
        release.set()
        store.close()
