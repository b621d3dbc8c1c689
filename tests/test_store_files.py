"""The SQLite store against real files in trouble: missing, damaged, foreign, read-only, locked, on a full disk.

The read-only and full-disk cases mount a small tmpfs (root only; skipped with the reason elsewhere): root ignores
file permissions, so a read-only mount is the one way to make a file unwritable for these tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asl.service import StepFunctions
from asl.store import (
    ActivityRecord,
    Commit,
    ExecutionRecord,
    SQLiteStore,
    StateMachineRecord,
    Store,
    StoreDamaged,
    StoreError,
    StoreUnavailable,
    TokenRecord,
    open_store,
)
from asl.store.base import AliasRecord

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def asl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, in its own process."""
    return subprocess.run([sys.executable, "-m", "asl", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def files(where: Path) -> list[str]:
    return sorted(str(p.relative_to(where)) for p in where.rglob("*"))


def make_store(path: Path, executions: int = 3, input_size: int = 10) -> list[str]:
    """A store with ``executions`` executions of a one-state machine, closed; their ARNs."""
    store = SQLiteStore(path)
    sfn = StepFunctions(store)
    arn = sfn.create_state_machine(name="m", definition=json.dumps(PASS))["stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"x": "y" * input_size}))["executionArn"]
            for i in range(executions)]
    sfn.worker({}).run_until_idle()
    store.close()
    return arns


@contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh directory, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where = Path(tempfile.mkdtemp(prefix="asl-tmpfs-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)  # a test failed with files still open
        where.rmdir()


def remount_read_only(where: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# -- a missing store -----------------------------------------------------------------------------------------
def test_opening_a_missing_store_without_create_makes_nothing(tmp_path: Path) -> None:
    for path in (tmp_path / "store.db", tmp_path / "no" / "such" / "dir" / "store.db"):
        with pytest.raises(StoreError, match=f"{path}: no asl store there"):
            open_store(path, create=False)
        with pytest.raises(StoreError, match="no asl store there"):
            SQLiteStore(path, create=False)
    assert files(tmp_path) == []
    # an empty file (a store another process is about to create) is not one to read either, and stays empty
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreError, match="empty.db: not an asl store yet"):
        open_store(tmp_path / "empty.db", create=False)
    assert files(tmp_path) == ["empty.db"] and (tmp_path / "empty.db").stat().st_size == 0


def test_opening_an_existing_store_without_create_reads_and_writes_it(tmp_path: Path) -> None:
    arns = make_store(tmp_path / "s.db")
    store = open_store(tmp_path / "s.db", create=False)
    assert sorted(e.arn for e in store.list_executions()) == sorted(arns)
    store.put_activity(ActivityRecord("arn:act", "act", NOW))
    assert store.get_activity("arn:act") is not None


# -- damaged and foreign files ---------------------------------------------------------------------------------
def test_a_store_cut_in_half_is_damaged_not_foreign(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    make_store(path, executions=100, input_size=2000)
    data = path.read_bytes()
    assert len(data) > 100_000
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(StoreDamaged, match=f"{path}: the asl store is damaged: .*; it was left unchanged"):
        SQLiteStore(path)
    with pytest.raises(StoreDamaged, match=f"{path}: the asl store is damaged: .*; it was left unchanged"):
        open_store(path, create=False)
    assert path.read_bytes() == before
    r = asl("executions", "list", "--store", str(path))
    assert r.returncode == 2 and "the asl store is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert path.read_bytes() == before


def test_garbage_over_the_pages_of_a_store_is_damage_when_read(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    arns = make_store(path, executions=100, input_size=2000)
    data = bytearray(path.read_bytes())
    page = 4096
    data[page: len(data) - page] = os.urandom(len(data) - 2 * page)  # the header page stays: it is still ours
    path.write_bytes(bytes(data))
    store = SQLiteStore(path)
    with pytest.raises(StoreDamaged, match=f"{path}: the asl store is damaged: .*; it was left unchanged"):
        store.list_executions()
    with pytest.raises(StoreDamaged):
        store.events(arns[-1])
    store.close()
    assert path.read_bytes() == bytes(data)
    for command in (["executions", "list"], ["history", arns[0]], ["executions", "describe", arns[0]]):
        r = asl(*command, "--store", str(path))
        assert r.returncode == 2 and "the asl store is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert path.read_bytes() == bytes(data)


def _empty_database(path: Path, *statements: str) -> bytes:
    c = sqlite3.connect(path, isolation_level=None)
    for s in statements:
        c.execute(s)
    c.close()
    return path.read_bytes()


def test_an_empty_database_of_another_application_is_not_taken_over(tmp_path: Path) -> None:
    cases = {
        "user_version": ["PRAGMA user_version = 5"],
        "application_id": ["PRAGMA application_id = 1234"],
        "dropped_table": ["CREATE TABLE t (x)", "DROP TABLE t"],
        "wal_and_user_version": ["PRAGMA journal_mode = WAL", "PRAGMA user_version = 1"],
    }
    for name, statements in cases.items():
        path = tmp_path / f"{name}.db"
        before = _empty_database(path, *statements)
        with pytest.raises(StoreError, match=f"{path}: not an asl store .*; it was left unchanged"):
            SQLiteStore(path)
        assert path.read_bytes() == before, name
        r = asl("start", str(_definition(tmp_path)), "--store", str(path))
        assert r.returncode == 2 and "not an asl store" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert path.read_bytes() == before, name
    # what a file nobody has written to looks like is taken: zero bytes, or a bare header (WAL switched on, as
    # another asl process creating the store leaves it for a moment)
    (tmp_path / "zero.db").touch()
    _empty_database(tmp_path / "wal.db", "PRAGMA journal_mode = WAL")
    for fresh in ("zero.db", "wal.db"):
        store = SQLiteStore(tmp_path / fresh)
        store.put_activity(ActivityRecord("arn:act", "act", NOW))
        assert store.get_activity("arn:act") is not None
        store.close()


def _definition(where: Path) -> Path:
    path = where / "m.asl.json"
    path.write_text(json.dumps(PASS))
    return path


# -- a store that cannot be written ------------------------------------------------------------------------------
def test_a_read_only_store_serves_reads_and_refuses_writes_clearly() -> None:
    with tmpfs("4m") as where:
        path = where / "s.db"
        arns = make_store(path)
        definition = _definition(where)
        remount_read_only(where)
        store = SQLiteStore(path)  # a writer's open: nothing to create, so it opens
        assert len(store.list_executions()) == 3
        assert [e["type"] for e in store.events(arns[0])][-1] == "ExecutionSucceeded"
        sm = store.list_state_machines()[0]
        for write in (lambda: store.put_activity(ActivityRecord("arn:act", "act", NOW)),
                      lambda: store.set_tags(sm.arn, {"k": "v"}),
                      lambda: store.put_state_machine(sm, replace=True)):
            with pytest.raises(StoreUnavailable, match=f"{path}: cannot write to the asl store: it is read-only"):
                write()
        assert len(store.list_executions()) == 3  # and it still reads
        store.close()
        reader = open_store(path, create=False)
        assert len(reader.list_executions()) == 3
        # the commands: reads work, a write is one error line
        r = asl("executions", "list", "--store", str(path))
        assert r.returncode == 0 and r.stdout.count("SUCCEEDED") == 3, r.stderr
        r = asl("history", "e1", "--store", str(path))
        assert r.returncode == 0 and json.loads(r.stdout)[-1]["type"] == "ExecutionSucceeded", r.stderr
        r = asl("executions", "describe", "e2", "--store", str(path))
        assert r.returncode == 0 and json.loads(r.stdout)["status"] == "SUCCEEDED", r.stderr
        r = asl("start", str(definition), "--store", str(path), "--name", "more")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"error: {path}: cannot write to the asl store: it is read-only"), r.stderr
        assert files(where) == ["m.asl.json", "s.db"]


def test_a_read_only_store_left_with_its_wal_still_reads() -> None:
    """A writer killed before it closed leaves its last commits in the WAL: a read-only mount must not hide them."""
    with tmpfs("4m") as where:
        path = where / "s.db"
        code = ("import json, os, sys; from asl.store import SQLiteStore; from asl.service import StepFunctions\n"
                f"sfn = StepFunctions(SQLiteStore({str(path)!r}))\n"
                f"arn = sfn.create_state_machine(name='m', definition={json.dumps(json.dumps(PASS))})['stateMachineArn']\n"
                "sfn.start_execution(stateMachineArn=arn, name='e0')\n"
                "os._exit(0)\n")
        subprocess.run([sys.executable, "-c", code], check=True)
        assert (where / "s.db-wal").exists()
        remount_read_only(where)
        r = asl("executions", "list", "--store", str(path))
        assert r.returncode == 0 and "RUNNING" in r.stdout, r.stderr


def test_a_full_disk_is_unavailable_reads_still_work_and_writes_work_once_freed() -> None:
    with tmpfs("4m") as where:
        path = where / "s.db"
        store = SQLiteStore(path)
        sfn = StepFunctions(store)
        sm = sfn.create_state_machine(name="m", definition=json.dumps(PASS))["stateMachineArn"]
        first = sfn.start_execution(stateMachineArn=sm, name="first")["executionArn"]
        filler = where / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC
        finally:
            os.close(fd)
        big = json.dumps({"x": "y" * 200_000})
        with pytest.raises(StoreUnavailable, match=f"{path}: cannot write to the asl store: the disk is full .*"
                                                   "nothing was written"):
            sfn.start_execution(stateMachineArn=sm, name="second", input=big)
        # a write bigger than SQLite's page cache fails in the middle of the transaction, and SQLite rolls it
        # back itself: the error is still the full disk (not "cannot rollback - no transaction is active")
        with pytest.raises(StoreUnavailable, match="the disk is full"):
            store.put_state_machine(StateMachineRecord("arn:big", "big", "x" * 5_000_000, "role", "STANDARD", NOW))
        # the store still reads, and nothing of the failed writes is in it
        assert [e.name for e in store.list_executions()] == ["first"]
        assert store.get_state_machine("arn:big") is None
        assert [e["type"] for e in store.events(first)] == ["ExecutionStarted"]
        assert sfn.describe_execution(executionArn=first)["status"] == "RUNNING"
        # another process's view: no transaction was left open, holding the lock
        other = SQLiteStore(path, busy_timeout=1)
        assert [e.name for e in other.list_executions()] == ["first"]
        filler.unlink()
        second = sfn.start_execution(stateMachineArn=sm, name="second", input=big)["executionArn"]
        other.put_activity(ActivityRecord("arn:act", "act", NOW))
        assert sfn.worker({}).run_until_idle() == 2
        assert sfn.describe_execution(executionArn=second)["status"] == "SUCCEEDED"
        store.close()
        other.close()


# -- a locked store: every method says StoreUnavailable, none lets an sqlite3 error out -----------------------------
def _every_store_method(store: Store, execution: ExecutionRecord, started: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    token = TokenRecord("tok", execution.arn, NOW)
    sm = StateMachineRecord("arn:sm", "sm", json.dumps(PASS), "role", "STANDARD", NOW)
    alias = AliasRecord("arn:sm:a", "arn:sm", "a", (("arn:sm:1", 100),), NOW)
    return {
        "put_state_machine": lambda: store.put_state_machine(sm),
        "get_state_machine": lambda: store.get_state_machine("arn:sm"),
        "list_state_machines": lambda: store.list_state_machines(),
        "delete_state_machine": lambda: store.delete_state_machine("arn:sm"),
        "publish_version": lambda: store.publish_version("arn:sm", None, NOW),
        "get_version": lambda: store.get_version("arn:sm:1"),
        "list_versions": lambda: store.list_versions("arn:sm"),
        "delete_version": lambda: store.delete_version("arn:sm:1"),
        "put_alias": lambda: store.put_alias(alias),
        "get_alias": lambda: store.get_alias(alias.arn),
        "list_aliases": lambda: store.list_aliases("arn:sm"),
        "delete_alias": lambda: store.delete_alias(alias.arn),
        "tags": lambda: store.tags("arn:sm"),
        "set_tags": lambda: store.set_tags("arn:sm", {"k": "v"}),
        "put_activity": lambda: store.put_activity(ActivityRecord("arn:act", "act", NOW)),
        "get_activity": lambda: store.get_activity("arn:act"),
        "list_activities": lambda: store.list_activities(),
        "delete_activity": lambda: store.delete_activity("arn:act"),
        "create_execution": lambda: store.create_execution(execution, started),
        "get_execution": lambda: store.get_execution(execution.arn),
        "list_executions": lambda: store.list_executions(),
        "events": lambda: store.events(execution.arn),
        "stop_execution": lambda: store.stop_execution(execution.arn, None, None, NOW),
        "claim": lambda: store.claim("w", NOW, NOW + timedelta(seconds=30), lambda o: False),
        "commit": lambda: store.commit(execution.arn, "w", Commit(events=[], tokens=[token], park=True)),
        "renew": lambda: store.renew([execution.arn], "w", NOW),
        "next_wake": lambda: store.next_wake(),
        "get_token": lambda: store.get_token("tok"),
        "close_token": lambda: store.close_token("tok", "SUCCEEDED", NOW, output="{}"),
        "heartbeat": lambda: store.heartbeat("tok", NOW),
        "take_activity_task": lambda: store.take_activity_task("arn:act", None, NOW),
        "get_map_run": lambda: store.get_map_run("arn:run"),
        "list_map_runs": lambda: store.list_map_runs(execution.arn),
        "update_map_run": lambda: store.update_map_run("arn:run", max_concurrency=3),
        "tokens_of": lambda: store.tokens_of(execution.arn),
        "redrive_execution": lambda: store.redrive_execution(execution.arn, NOW),
    }


WRITES = {"put_state_machine", "delete_state_machine", "publish_version", "delete_version", "put_alias", "delete_alias",
          "set_tags", "put_activity", "delete_activity", "create_execution", "stop_execution", "claim", "commit", "renew",
          "close_token", "heartbeat", "take_activity_task", "update_map_run",
          "redrive_execution"}


def test_every_store_method_of_a_locked_store_raises_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    make_store(path, executions=1)
    store = SQLiteStore(path, busy_timeout=0.1)
    execution = ExecutionRecord("arn:ex", "arn:sm", "ex", "RUNNING", "{}", json.dumps(PASS), "STANDARD", "role", "seed",
                                NOW, wake_at=NOW)
    started = {"id": 1, "previousEventId": 0, "timestamp": NOW, "type": "ExecutionStarted",
               "executionStartedEventDetails": {}}
    calls = _every_store_method(store, execution, started)
    protocol = {n for n, v in vars(Store).items() if callable(v) and not n.startswith("_")}
    assert set(calls) == protocol  # a new Store method gets a line here
    assert store.list_executions()  # this thread's connection is open: the errors come from each method's own SQL
    wrong: dict[str, str] = {}

    def check(name: str, call: Callable[[], Any], expect: str | None) -> None:
        try:
            call()
            if expect is not None:
                wrong[name] = "no error"
        except StoreUnavailable as exc:
            if expect is None or not re.match(f"{re.escape(str(path))}: {expect}", str(exc)):
                wrong[name] = str(exc)
        except Exception as exc:  # what the test is about: anything else is reported by name
            wrong[name] = repr(exc)

    # another process writes: every write waits out the busy timeout and says so; reads go on
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        for name, call in calls.items():
            check(name, call, "cannot write to the asl store: it stayed locked" if name in WRITES else None)
    finally:
        locker.close()
    # another process takes the file for itself (exclusive locking mode holds its lock after the transaction):
    # then reads cannot open either
    store.close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("COMMIT")
    try:
        for name, call in calls.items():
            check(name + " (exclusive)", call, "cannot (read|write to) the asl store: it stayed locked")
    finally:
        locker.close()
    assert wrong == {}
    # and once the lock is gone, the same store object works again
    assert [e.name for e in store.list_executions()] == ["e0"]
    calls["put_activity"]()
    assert store.get_activity("arn:act") is not None


def test_opening_a_locked_store_is_unavailable_not_foreign(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    make_store(path, executions=1)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("COMMIT")
    try:
        with pytest.raises(StoreUnavailable, match=f"{path}: cannot read the asl store: it stayed locked"):
            SQLiteStore(path, busy_timeout=0.1)
        with pytest.raises(StoreUnavailable, match=f"{path}: cannot read the asl store: it stayed locked"):
            SQLiteStore(path, busy_timeout=0.1, create=False)
    finally:
        locker.close()


@contextmanager
def read_only_view(of: Path) -> Iterator[Path]:
    """A read-only bind mount of the folder ``of`` (as docker's ``-v dir:/data:ro``): the same files, written
    through ``of`` and read through the view."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("bind mounts need root and mount(8)")
    view = Path(tempfile.mkdtemp(prefix="asl-ro-view-"))
    r = subprocess.run(["mount", "--bind", str(of), str(view)], capture_output=True, text=True)
    if r.returncode != 0:
        view.rmdir()
        pytest.skip(f"cannot bind mount here: {r.stderr.strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        yield view
    finally:
        if subprocess.run(["umount", str(view)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(view)], capture_output=True)  # a test failed with the file open
        view.rmdir()


def test_a_read_only_view_of_a_store_written_elsewhere_is_never_stale(tmp_path: Path) -> None:
    first = StepFunctions(SQLiteStore(tmp_path / "s.db"))
    sm = first.create_state_machine(name="m", definition=json.dumps(PASS))["stateMachineArn"]
    first.start_execution(stateMachineArn=sm, name="e1")
    first.store.close()  # no writer: no -shm file, so the view reads the file as immutable
    with read_only_view(tmp_path) as view:
        reader = SQLiteStore(view / "s.db", create=False)
        assert [e.name for e in reader.list_executions()] == ["e1"]
        writer = StepFunctions(SQLiteStore(tmp_path / "s.db"))  # a writer comes back, through the writable path
        writer.start_execution(stateMachineArn=sm, name="e2")
        # the commit is in the WAL, which a read-only view cannot read: refused, not the old answer
        with pytest.raises(StoreUnavailable, match="being written through another path"):
            reader.list_executions()
        writer.store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # checkpointed into the main file: read again as it is now
        assert sorted(e.name for e in reader.list_executions()) == ["e1", "e2"]
        reader.close()
