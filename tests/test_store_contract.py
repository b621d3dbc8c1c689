"""The store contract: the same tests on every backend (memory, SQLite, PostgreSQL), through the ``store`` fixture
of conftest.py. They hold the rules of :mod:`asl.store.rules` (fencing, parking against a signal, what an end or a
stop closes, version numbers, activity tasks) to each backend's persistence."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asl.store import (
    ABORTED,
    PENDING,
    RUNNING,
    ActivityRecord,
    Commit,
    Conflict,
    ExecutionRecord,
    Finish,
    MemoryStore,
    StateMachineRecord,
    Store,
    TokenRecord,
)
from asl.store.base import CLOSED, AliasRecord, MapRunRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SM = "arn:aws:states:us-east-1:1:stateMachine:m"


def execution(n: int = 1, **kw: Any) -> ExecutionRecord:
    fields: dict[str, Any] = {"arn": f"arn:aws:states:us-east-1:1:execution:m:e{n}", "state_machine_arn": SM,
                              "name": f"e{n}", "status": RUNNING, "input": "{}", "definition": "{}", "type": "STANDARD",
                              "role_arn": "arn:aws:iam::1:role/r", "seed": "s", "start": T0 + timedelta(seconds=n),
                              "wake_at": T0}
    fields.update(kw)
    return ExecutionRecord(**fields)


def event(eid: int, kind: str = "PassStateEntered", when: datetime = T0) -> dict[str, Any]:
    return {"id": eid, "previousEventId": eid - 1, "timestamp": when, "type": kind,
            "stateEnteredEventDetails": {"name": f"S{eid}"}}


def started(store: Store, n: int = 1, **kw: Any) -> ExecutionRecord:
    rec = execution(n, **kw)
    store.create_execution(rec, {"id": 1, "previousEventId": 0, "timestamp": rec.start, "type": "ExecutionStarted",
                                 "executionStartedEventDetails": {"input": "{}"}})
    return rec


def claim(store: Store, owner: str = "w", now: datetime = T0, dead: tuple[str, ...] = ()) -> ExecutionRecord | None:
    return store.claim(owner, now, now + timedelta(seconds=30), lambda o: o in dead)


def token(execution_arn: str, name: str = "tok", **kw: Any) -> TokenRecord:
    return TokenRecord(name, execution_arn, T0, **kw)


def drain_in_threads(take: Callable[[int], str | None], threads: int) -> list[str]:
    """Call ``take(i)`` in each of ``threads`` threads at once until it gives None; everything they took."""
    taken: list[str] = []
    lock = threading.Lock()

    def drain(i: int) -> None:
        while (got := take(i)) is not None:
            with lock:
                taken.append(got)

    run_in_threads(drain, threads)
    return taken


def run_in_threads(fn: Callable[[int], None], threads: int) -> None:
    started_threads = [threading.Thread(target=fn, args=(i,)) for i in range(threads)]
    for t in started_threads:
        t.start()
    for t in started_threads:
        t.join()


def test_an_execution_is_created_once_with_its_first_event(store: Store) -> None:
    rec = started(store)
    with pytest.raises(Conflict):
        started(store)
    got = store.get_execution(rec.arn)
    assert got == rec
    assert [e["type"] for e in store.events(rec.arn)] == ["ExecutionStarted"]
    assert store.events(rec.arn)[0]["timestamp"] == rec.start
    assert store.get_execution("arn:no:such") is None


def test_list_executions_newest_first_with_filters(store: Store) -> None:
    for n in (1, 2, 3):
        started(store, n, state_machine_arn=SM if n != 2 else SM + "x")
    assert [e.name for e in store.list_executions()] == ["e3", "e2", "e1"]
    assert [e.name for e in store.list_executions(state_machine_arn=SM)] == ["e3", "e1"]
    assert [e.name for e in store.list_executions(status="SUCCEEDED")] == []


def test_claim_takes_due_executions_and_respects_live_leases(store: Store) -> None:
    started(store, 1, wake_at=T0)
    started(store, 2, wake_at=T0 + timedelta(seconds=60))
    got = claim(store, "a")
    assert got is not None and got.name == "e1" and got.lease_owner == "a"
    assert claim(store, "b") is None  # e1 is leased to a live worker; e2 is not due yet
    assert claim(store, "b", dead=("a",)) is not None  # a is gone: taken over
    assert claim(store, "c", now=T0 + timedelta(seconds=31)) is not None  # b's lease expired
    # c leases e1 until T0+61: it is not due for anyone else before that, so idle workers do not spin on it
    assert store.next_wake() == T0 + timedelta(seconds=60)


def test_free_executions_are_claimed_past_many_that_live_workers_hold(store: Store) -> None:
    for n in range(1, 71):
        started(store, n)
    for _ in range(64):
        assert claim(store, "busy") is not None
    free = [claim(store, "other") for _ in range(6)]
    assert all(f is not None for f in free) and claim(store, "other") is None
    assert len({f.arn for f in free if f is not None}) == 6
    assert claim(store, "other", dead=("busy",)) is not None  # and a dead worker's are taken over


def test_creates_at_once_make_one_record_and_the_rest_conflict(store: Store) -> None:
    """Two StartExecutions (or CreateStateMachines, CreateActivities, publishes) of one name at the same moment:
    one wins, the others are Conflict (or, for an activity, the first one stays), never a store error."""
    outcomes: list[str] = []
    lock = threading.Lock()
    sm = StateMachineRecord(SM, "m", "{}", "arn:aws:iam::1:role/r", "STANDARD", T0)

    def attempt(i: int, what: str) -> None:
        try:
            if what == "execution":
                started(store, 1, input=f'{{"i":{i}}}')
            elif what == "machine":
                store.put_state_machine(sm)
            elif what == "activity":
                store.put_activity(ActivityRecord("arn:act", f"a{i}", T0))
            else:
                store.publish_version(SM, f"v{i}", T0)
            result = "ok"
        except Conflict:
            result = "conflict"
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            result = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    for what in ("execution", "machine", "activity", "publish"):
        outcomes.clear()
        run_in_threads(functools.partial(attempt, what=what), 8)
        if what in ("execution", "machine"):
            assert sorted(outcomes) == ["conflict"] * 7 + ["ok"], (what, outcomes)
        else:
            assert outcomes == ["ok"] * 8, (what, outcomes)
    assert len(store.list_executions()) == 1 and len(store.list_activities()) == 1
    assert [v.number for v in store.list_versions(SM)] == [1]  # the same revision published once


def test_activity_pollers_at_once_each_get_their_own_task(store: Store) -> None:
    act = "arn:aws:states:us-east-1:1:activity:a"
    for n in range(1, 5):
        rec = started(store, n)
        first = claim(store)
        assert first is not None
        tokens = [TokenRecord(f"t{n}-{i}", rec.arn, T0 + timedelta(seconds=i), act, "{}") for i in range(10)]
        assert store.commit(rec.arn, "w", Commit(tokens=tokens, park=True, wake_at=None, seen_signal=first.signal))
    taken = drain_in_threads(lambda i: getattr(store.take_activity_task(act, f"p{i}", T0), "token", None), 8)
    assert sorted(taken) == sorted(f"t{n}-{i}" for n in range(1, 5) for i in range(10))


def test_claims_at_once_never_take_the_same_execution(store: Store) -> None:
    arns = {started(store, n).arn for n in range(1, 61)}
    taken = drain_in_threads(lambda i: getattr(claim(store, f"w{i}"), "arn", None), 6)
    assert sorted(taken) == sorted(arns)  # each once


def test_text_that_is_not_unicode_is_a_store_error(store: Store) -> None:
    from asl.store import StoreError

    rec = started(store)
    assert claim(store) is not None
    assert store.commit(rec.arn, "w", Commit(tokens=[token(rec.arn)], lease_until=T0))
    if not isinstance(store, MemoryStore):  # a MemoryStore keeps Python strings as they are
        with pytest.raises(StoreError, match="not valid Unicode"):
            store.close_token("tok", "FAILED", T0, error="E", cause="bad \ud800 text")
        assert store.get_token("tok").status == PENDING  # type: ignore[union-attr]


def test_commit_is_fenced_by_the_lease(store: Store) -> None:
    rec = started(store)
    assert claim(store, "a") is not None
    assert claim(store, "b", dead=("a",)) is not None
    assert not store.commit(rec.arn, "a", Commit(events=[event(2)], lease_until=T0))  # a was fenced out
    assert [e["id"] for e in store.events(rec.arn)] == [1]
    assert store.commit(rec.arn, "b", Commit(events=[event(2), event(3)], lease_until=T0 + timedelta(seconds=60)))
    assert [e["id"] for e in store.events(rec.arn)] == [1, 2, 3]
    assert store.get_execution(rec.arn).lease_until == T0 + timedelta(seconds=60)  # type: ignore[union-attr]


def test_a_commit_that_does_not_follow_the_history_writes_nothing(store: Store) -> None:
    rec = started(store)
    assert claim(store) is not None
    with pytest.raises(Conflict):
        store.commit(rec.arn, "w", Commit(events=[event(3)], tokens=[token(rec.arn)], lease_until=T0))
    assert [e["id"] for e in store.events(rec.arn)] == [1]
    assert store.get_token("tok") is None


def test_park_until_a_time_or_a_callback_and_a_callback_that_came_meanwhile(store: Store) -> None:
    rec = started(store)
    first = claim(store)
    assert first is not None
    later = T0 + timedelta(seconds=100)
    assert store.commit(rec.arn, "w", Commit(events=[event(2)], park=True, wake_at=later, seen_signal=first.signal))
    parked = store.get_execution(rec.arn)
    assert parked is not None and (parked.wake_at, parked.lease_owner) == (later, None)
    assert claim(store) is None and store.next_wake() == later
    # parked for a callback: a token closed while the worker still held the execution makes it due at once
    again = claim(store, now=later)
    assert again is not None
    assert store.commit(rec.arn, "w", Commit(events=[event(3)], tokens=[token(rec.arn)], lease_until=later))
    assert store.close_token("tok", "SUCCEEDED", later, output='{"ok":1}') is not None
    assert store.commit(rec.arn, "w", Commit(park=True, wake_at=None, seen_signal=again.signal))
    woken = store.get_execution(rec.arn)
    assert woken is not None and woken.wake_at is not None and woken.signal == again.signal + 1


def test_a_callback_wakes_a_parked_execution(store: Store) -> None:
    rec = started(store)
    first = claim(store)
    assert first is not None
    assert store.commit(rec.arn, "w", Commit(tokens=[token(rec.arn)], park=True, wake_at=None, seen_signal=first.signal))
    assert store.next_wake() is None and claim(store) is None
    before = store.close_token("tok", "FAILED", T0 + timedelta(seconds=5), error="E", cause="C")
    assert before is not None and before.status == PENDING
    assert store.next_wake() == T0 + timedelta(seconds=5)
    tok = store.get_token("tok")
    assert tok is not None and (tok.status, tok.error, tok.cause, tok.closed_at) == \
        ("FAILED", "E", "C", T0 + timedelta(seconds=5))
    again = store.close_token("tok", "SUCCEEDED", T0 + timedelta(seconds=6))  # already closed: unchanged
    assert again is not None and again.status == "FAILED"
    assert store.get_token("tok").status == "FAILED"  # type: ignore[union-attr]
    assert store.close_token("nope", "SUCCEEDED", T0) is None


def test_the_end_closes_the_executions_tokens_and_the_parents_task(store: Store) -> None:
    parent = started(store, 1)
    assert claim(store) is not None
    assert store.commit(parent.arn, "w", Commit(tokens=[token(parent.arn, "parent-task")], park=True, wake_at=None))
    child = started(store, 2, parent_token="parent-task")
    assert claim(store, "v") is not None
    assert store.commit(child.arn, "v", Commit(tokens=[token(child.arn, "child-cb")], lease_until=T0))
    end = T0 + timedelta(seconds=9)
    done = Commit(events=[event(2, "ExecutionSucceeded", end)], finish=Finish("SUCCEEDED", end, output='{"r":1}'),
                  close_parent=("parent-task", "SUCCEEDED", '{"Output":"x"}', None, None))
    assert store.commit(child.arn, "v", done)
    kid = store.get_execution(child.arn)
    assert kid is not None and (kid.status, kid.stop, kid.output, kid.lease_owner, kid.wake_at) == \
        ("SUCCEEDED", end, '{"r":1}', None, None)
    assert store.get_token("child-cb").status == CLOSED  # type: ignore[union-attr]
    parent_task = store.get_token("parent-task")
    assert parent_task is not None and (parent_task.status, parent_task.output) == ("SUCCEEDED", '{"Output":"x"}')
    assert store.get_execution(parent.arn).wake_at == end  # type: ignore[union-attr]
    assert not store.commit(child.arn, "v", Commit(lease_until=end))  # ended: nothing more is written


def test_stop_aborts_with_the_next_event_closes_tokens_and_fences(store: Store) -> None:
    rec = started(store)
    assert claim(store) is not None
    assert store.commit(rec.arn, "w", Commit(events=[event(2)], tokens=[token(rec.arn)], lease_until=T0))
    now = T0 + timedelta(seconds=3)
    stopped = store.stop_execution(rec.arn, "Stop", "by the test", now)
    assert stopped is not None and (stopped.status, stopped.stop, stopped.error, stopped.cause) == \
        (ABORTED, now, "Stop", "by the test")
    last = store.events(rec.arn)[-1]
    assert (last["id"], last["previousEventId"], last["type"], last["executionAbortedEventDetails"]) == \
        (3, 2, "ExecutionAborted", {"error": "Stop", "cause": "by the test"})
    assert store.get_token("tok").status == ABORTED  # type: ignore[union-attr]
    assert not store.commit(rec.arn, "w", Commit(events=[event(3)], lease_until=T0))
    assert store.stop_execution(rec.arn, None, None, now) == stopped  # ended: unchanged
    assert len(store.events(rec.arn)) == 3
    assert store.stop_execution("arn:no:such", None, None, now) is None


def test_renew_extends_only_the_owners_leases(store: Store) -> None:
    a, b = started(store, 1), started(store, 2)
    assert claim(store, "x") is not None and claim(store, "y") is not None
    store.renew([a.arn, b.arn], "x", T0 + timedelta(hours=1))
    leases = {e.name: (e.lease_owner, e.lease_until) for e in store.list_executions()}
    assert leases["e1"] == ("x", T0 + timedelta(hours=1))
    assert leases["e2"] == ("y", T0 + timedelta(seconds=30))
    store.renew([], "x", T0)


def test_heartbeats_and_activity_tasks(store: Store) -> None:
    rec = started(store)
    first = claim(store)
    assert first is not None
    act = "arn:aws:states:us-east-1:1:activity:a"
    store.put_activity(ActivityRecord(act, "a", T0))
    store.put_activity(ActivityRecord(act, "other", T0 + timedelta(seconds=1)))  # idempotent: the first stays
    assert store.get_activity(act) == ActivityRecord(act, "a", T0)
    tasks = [TokenRecord("t2", rec.arn, T0 + timedelta(seconds=2), act, '{"n":2}'),
             TokenRecord("t1", rec.arn, T0 + timedelta(seconds=1), act, '{"n":1}')]
    assert store.commit(rec.arn, "w", Commit(tokens=tasks, park=True, wake_at=None, seen_signal=first.signal))
    got = store.take_activity_task(act, "worker-1", T0 + timedelta(seconds=5))
    assert got is not None and (got.token, got.input) == ("t1", '{"n":1}')  # the oldest first
    assert store.get_token("t1").worker_name == "worker-1"  # type: ignore[union-attr]
    assert store.next_wake() == T0 + timedelta(seconds=5)  # its execution records ActivityStarted
    nxt = store.take_activity_task(act, None, T0 + timedelta(seconds=6))
    assert nxt is not None and nxt.token == "t2"
    assert store.take_activity_task(act, None, T0) is None
    assert store.heartbeat("t1", T0 + timedelta(seconds=7)) is not None
    assert store.get_token("t1").heartbeat_at == T0 + timedelta(seconds=7)  # type: ignore[union-attr]
    store.close_token("t1", "SUCCEEDED", T0 + timedelta(seconds=8))
    assert store.heartbeat("t1", T0 + timedelta(seconds=9)).status == "SUCCEEDED"  # type: ignore[union-attr]
    assert store.get_token("t1").heartbeat_at == T0 + timedelta(seconds=7)  # type: ignore[union-attr]
    assert store.heartbeat("nope", T0) is None
    assert [a.arn for a in store.list_activities()] == [act]
    store.set_tags(act, {"k": "v"})
    assert store.delete_activity(act) and not store.delete_activity(act)
    assert store.tags(act) == {}


def test_state_machines_versions_aliases_and_tags(store: Store) -> None:
    sm = StateMachineRecord(SM, "m", '{"v":1}', "arn:aws:iam::1:role/r", "STANDARD", T0)
    store.put_state_machine(sm)
    with pytest.raises(Conflict):
        store.put_state_machine(sm)
    v1 = store.publish_version(SM, "first", T0)
    assert v1 is not None and (v1.arn, v1.number, v1.definition, v1.description) == (f"{SM}:1", 1, '{"v":1}', "first")
    assert store.publish_version(SM, "again", T0) == v1  # the same revision: no new version
    store.put_state_machine(StateMachineRecord(SM, "m", '{"v":2}', sm.role_arn, "STANDARD", T0, revision=2), replace=True)
    v2 = store.publish_version(SM, None, T0)
    assert v2 is not None and v2.number == 2 and v2.revision == 2
    assert store.delete_version(v2.arn) and not store.delete_version(v2.arn)
    store.put_state_machine(StateMachineRecord(SM, "m", '{"v":3}', sm.role_arn, "STANDARD", T0, revision=3), replace=True)
    v3 = store.publish_version(SM, None, T0)
    assert v3 is not None and v3.number == 3  # numbers are never reused
    assert [v.number for v in store.list_versions(SM)] == [3, 1]
    alias = AliasRecord(f"{SM}:live", SM, "live", ((v1.arn, 60), (v3.arn, 40)), T0, "d")
    store.put_alias(alias)
    with pytest.raises(Conflict):
        store.put_alias(alias)
    store.put_alias(AliasRecord(alias.arn, SM, "live", ((v3.arn, 100),), T0, "d", T0), replace=True)
    assert store.get_alias(alias.arn).routing == ((v3.arn, 100),)  # type: ignore[union-attr]
    store.set_tags(SM, {"a": "1", "b": "2"})
    store.set_tags(SM, {"b": "3"}, remove=["a"])
    store.set_tags(v3.arn, {"x": "y"})
    assert store.tags(SM) == {"b": "3"}
    assert [m.arn for m in store.list_state_machines()] == [SM]
    assert store.delete_state_machine(SM)
    assert (store.get_state_machine(SM), store.list_versions(SM), store.list_aliases(SM), store.tags(SM),
            store.tags(v3.arn)) == (None, [], [], {}, {})
    assert not store.delete_state_machine(SM)
    store.put_state_machine(sm)  # made again, its versions start from 1
    assert store.publish_version(SM, None, T0).number == 1  # type: ignore[union-attr]


def test_events_keep_their_fields_and_times(store: Store) -> None:
    rec = started(store)
    assert claim(store) is not None
    when = datetime(2026, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    ev = {"id": 2, "previousEventId": 1, "timestamp": when, "type": "TaskScheduled",
          "taskScheduledEventDetails": {"resource": "r", "parameters": '{"é": "ü\\u2028"}', "region": "us-east-1"}}
    assert store.commit(rec.arn, "w", Commit(events=[ev], lease_until=T0))
    assert store.events(rec.arn)[1] == ev
    with pytest.raises(ValueError):
        store.events(rec.arn, limit=-1)


# -- Map Runs and redrives -------------------------------------------------------------------------------------------
def map_run(execution_arn: str, **kw: Any) -> MapRunRecord:
    fields: dict[str, Any] = {"arn": "arn:aws:states:us-east-1:1:mapRun:m/L:r1", "execution_arn": execution_arn,
                              "status": RUNNING, "start": T0, "max_concurrency": 2, "tolerated_failure_count": None,
                              "tolerated_failure_percentage": 5.5, "inputs": '{"a":1}\n[2]', "batched": True}
    fields.update(kw)
    return MapRunRecord(**fields)


def test_a_commit_writes_map_runs_and_starts_children_with_their_tokens(store: Store) -> None:
    parent = started(store)
    assert claim(store) is not None
    run = map_run(parent.arn)
    child = execution(2, state_machine_arn=SM + "/L", map_run_arn=run.arn, parent_token="c1")
    first = {"id": 1, "previousEventId": 0, "timestamp": T0, "type": "ExecutionStarted",
             "executionStartedEventDetails": {"input": "{}"}}
    assert store.commit(parent.arn, "w", Commit(events=[event(2)], tokens=[token(parent.arn, "c1")], map_runs=[run],
                                                children=[(child, first)], lease_until=T0 + timedelta(seconds=30)))
    assert store.get_map_run(run.arn) == run
    assert store.get_map_run(run.arn, inputs=False) == MapRunRecord(**{**run.__dict__, "inputs": ""})
    assert store.list_map_runs(parent.arn) == [run] and store.list_map_runs(child.arn) == []
    assert [e.arn for e in store.list_executions(map_run_arn=run.arn)] == [child.arn]
    assert [e["type"] for e in store.events(child.arn)] == ["ExecutionStarted"]
    assert store.get_execution(child.arn) == child  # due at once, for any worker
    # a commit that starts a child that exists (a parent rebuilt after a crash) leaves it as it is
    assert store.commit(parent.arn, "w", Commit(children=[(replace(child, input="changed"), first)],
                                                lease_until=T0 + timedelta(seconds=30)))
    assert store.get_execution(child.arn) == child
    full, bare = store.tokens_of(parent.arn), store.tokens_of(parent.arn, outputs=False)
    assert [t.token for t in full] == [t.token for t in bare] == ["c1"]
    # UpdateMapRun's step changes a running Map Run and wakes its execution; an ended one stays as it is
    store.commit(parent.arn, "w", Commit(park=True, wake_at=None, seen_signal=0))
    before = store.update_map_run(run.arn, max_concurrency=9)
    assert before == run and store.get_map_run(run.arn).max_concurrency == 9  # type: ignore[union-attr]
    assert store.get_execution(parent.arn).wake_at is not None  # type: ignore[union-attr]
    assert store.update_map_run("arn:nope", max_concurrency=1) is None


def test_a_redrive_appends_execution_redriven_and_reopens_a_childs_token(store: Store) -> None:
    parent = started(store)
    child = started(store, 2, parent_token="c1", map_run_arn="arn:aws:states:us-east-1:1:mapRun:m/L:r1")
    assert store.redrive_execution(child.arn, T0) == store.get_execution(child.arn)  # RUNNING: unchanged
    assert claim(store) is not None
    store.commit(parent.arn, "w", Commit(tokens=[token(parent.arn, "c1")], park=True, seen_signal=0))
    store.close_token("c1", "FAILED", T0, error="E", cause="C")
    store.stop_execution(child.arn, "E", "C", T0)
    when = T0 + timedelta(minutes=1)
    after = store.redrive_execution(child.arn, when, reopen_token="c1")
    assert after is not None and (after.status, after.redrive_count, after.redrive_date) == (RUNNING, 1, when)
    assert (after.stop, after.error, after.cause, after.wake_at) == (None, None, None, when)
    last = store.events(child.arn)[-2:]
    assert [e["type"] for e in last] == ["ExecutionAborted", "ExecutionRedriven"]
    assert last[1]["executionRedrivenEventDetails"] == {"redriveCount": 1} and last[1]["previousEventId"] == last[0]["id"]
    tok = store.get_token("c1")
    assert tok is not None and (tok.status, tok.error, tok.closed_at) == (PENDING, None, None)
    assert store.redrive_execution("arn:nope", T0) is None
