"""Benchmarks: this project and moto side by side, on the same workloads, in one run.

    python benchmarks/run.py            # full sizes, medians of 5 runs (ours: 40, durable: 20)
    python benchmarks/run.py --tiny     # tiny sizes, one run: proves the benchmark works (CI)
    python benchmarks/run.py --json F   # also write the figures as JSON

Workloads (issue 9): (a) a chain of 100 Pass states; (b) an inline Map over 1,000 items, each a Pass; (c) a
mix of Choice, Task, Retry and Catch; (e) cold start of ``asl run``; (f) peak memory of an inline Map over
100,000 items; (d) (a), (b) and a chain of Tasks on the durable engine (SQLite, synchronous=FULL). Issue 18: (g) a
Map at MaxConcurrency 10 of 100 local Lambda calls of 100 ms on the real clock (wall time); (h) 1,000 executions of a
Parallel with two callback branches through the durable store (executions per second). Figures are state transitions per second
(StateEntered events per second of wall time), medians over the runs, with the ratio to moto.
moto runs its own interpreter under ``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``;
its Task calls DynamoDB PutItem on a moto table (moto cannot run a Python callable as a Task).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asl.interpreter import ExecutionOptions, TaskFailed, run  # noqa: E402
from asl.model import load  # noqa: E402

TASK_ARN = "arn:aws:states:::dynamodb:putItem"


# -- workloads -----------------------------------------------------------------------------------------------------
def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


def inline_map() -> dict[str, Any]:
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}


def big_map(n: int) -> dict[str, Any]:
    """An inline Map over ``n`` items generated inside the machine (an input that large would exceed the
    256 KiB payload limit), returning only the count."""
    return {"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
        "Type": "Map", "Items": f"{{% [1..{n}] %}}", "Output": "{% $count($states.result) %}", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}


def mix(rounds: int) -> dict[str, Any]:
    """``rounds`` times: a Choice, a Task that fails once then succeeds (Retry), a Task that fails (Catch)."""
    states: dict[str, Any] = {}
    for i in range(rounds):
        nxt = f"C{i + 1}" if i + 1 < rounds else "Done"
        states[f"C{i}"] = {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": f"T{i}"}],
                           "Default": "Done"}
        states[f"T{i}"] = {"Type": "Task", "Resource": TASK_ARN, "ResultPath": None,
                           "Parameters": {"TableName": "bench", "Item": {"id": {"S.$": "$$.State.Name"}}},
                           "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}], "Next": f"F{i}"}
        states[f"F{i}"] = {"Type": "Task", "Resource": TASK_ARN, "ResultPath": None,
                           "Parameters": {"TableName": "missing-table", "Item": {"id": {"S": "x"}}},
                           "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"R{i}"}], "End": True}
        states[f"R{i}"] = {"Type": "Pass", "Parameters": {"go": True}, "Next": nxt}
    states["Done"] = {"Type": "Succeed"}
    return {"StartAt": "C0", "States": states}


def _our_task() -> Callable[[Any, Any], Any]:
    """The same task for our interpreter: the first call of each state fails with Flaky, a missing table fails."""
    seen: set[str] = set()

    def put_item(value: Any, ctx: Any) -> Any:
        if value["TableName"] != "bench":
            raise TaskFailed("DynamoDB.ResourceNotFoundException", "Requested resource not found")
        name = ctx["State"]["Name"]
        if name not in seen:
            seen.add(name)
            raise TaskFailed("Flaky", "first attempt")
        return {}

    return put_item


def transitions(history: list[dict[str, Any]]) -> int:
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


# -- runners -------------------------------------------------------------------------------------------------------
def run_ours(definition: dict[str, Any], data: Any, tasks: dict[str, Any] | None = None,
             read_history: bool = False) -> tuple[float, int]:
    """One execution in memory with its history recorded. The history is kept compact and made into AWS's event
    dicts when first read; ``read_history`` times that reading too."""
    machine = load(definition)
    text = json.dumps(data)
    start = time.perf_counter()
    result = run(machine, text, ExecutionOptions(tasks=tasks or {}))
    if read_history:
        result.history  # noqa: B018 - reading it is what is timed
    elapsed = time.perf_counter() - start
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return elapsed, transitions(result.history)


class Durable:
    """The durable engine over one store, kept across runs as a long-lived worker's store would be: by default
    SQLite (WAL, synchronous=FULL: every commit is on disk before the next side effect) in a temporary directory;
    ``store`` another (benchmarks/postgres.py passes a PostgreSQL one)."""

    def __init__(self, store: Any = None) -> None:
        import tempfile

        from asl.service import StepFunctions
        from asl.store import SQLiteStore

        self.tmp = tempfile.TemporaryDirectory()
        self.sfn = StepFunctions(store or SQLiteStore(Path(self.tmp.name) / "bench.db", synchronous="FULL"))
        self.machines: dict[str, str] = {}

    def run(self, definition: dict[str, Any], data: Any, tasks: dict[str, Any] | None = None) -> tuple[float, int]:
        """One execution, timed from StartExecution until a worker has run it to the end."""
        text = json.dumps(definition)
        sm = self.machines.get(text)
        if sm is None:
            sm = self.sfn.create_state_machine(name=f"bench{len(self.machines)}", definition=text)["stateMachineArn"]
            self.machines[text] = sm
        worker = self.sfn.worker(tasks or {})
        start = time.perf_counter()
        arn = self.sfn.start_execution(stateMachineArn=sm, input=json.dumps(data))["executionArn"]
        worker.run_until_idle()
        elapsed = time.perf_counter() - start
        status = self.sfn.describe_execution(executionArn=arn)["status"]
        assert status == "SUCCEEDED", status
        return elapsed, transitions(self.sfn.store.events(arn))

    def close(self) -> None:
        self.sfn.store.close()
        self.tmp.cleanup()


def task_chain(n: int) -> dict[str, Any]:
    """n Task states in a row: each is a side effect, so each costs one durable commit."""
    states = {f"T{i}": {"Type": "Task", "Resource": TASK_ARN, "Parameters": {"i": i},
                        **({"Next": f"T{i + 1}"} if i < n - 1 else {"End": True})} for i in range(n)}
    return {"StartAt": "T0", "States": states}


class Moto:
    """moto's Step Functions, executing state machines in-process."""

    def __init__(self) -> None:
        import boto3
        from moto import mock_aws

        self.mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self.mock.start()
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        self.count = 0

    def run(self, definition: dict[str, Any], data: Any) -> tuple[float, int]:
        self.count += 1
        arn = self.sfn.create_state_machine(name=f"bench{self.count}", definition=json.dumps(definition),
                                            roleArn="arn:aws:iam::123456789012:role/bench")["stateMachineArn"]
        start = time.perf_counter()
        ex = self.sfn.start_execution(stateMachineArn=arn, input=json.dumps(data))["executionArn"]
        while (d := self.sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
            time.sleep(0.0005)
        elapsed = time.perf_counter() - start
        if d["status"] != "SUCCEEDED":
            raise RuntimeError(f"moto: {d['status']} {d.get('error')} {d.get('cause')}")
        events = self.sfn.get_execution_history(executionArn=ex, maxResults=1000)
        history = list(events["events"])
        while "nextToken" in events:
            events = self.sfn.get_execution_history(executionArn=ex, maxResults=1000, nextToken=events["nextToken"])
            history.extend(events["events"])
        return elapsed, transitions(history)

    def close(self) -> None:
        self.mock.stop()


def median_rate(fn: Callable[[], tuple[float, int]], runs: int) -> tuple[float, int]:
    samples = [fn() for _ in range(runs)]
    return statistics.median(n / t for t, n in samples), samples[0][1]


# -- branches at once (issue 18) -------------------------------------------------------------------------------------
LAMBDA_SOURCE = "import time\n\ndef handler(event, context):\n    time.sleep(0.1)\n    return event\n"


def lambda_map(items: int) -> tuple[float, int]:
    """(g): a Map, MaxConcurrency 10, of ``items`` local Lambda calls that each sleep 100 ms, on the real clock: the
    wall time of the execution (the processes are started on the first wave, as a cold Lambda would be)."""
    from asl.adapters import Adapters
    from asl.adapters.lambda_local import LambdaFunction, LocalLambda
    from asl.runtime import RealClock

    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 10, "End": True, "ItemProcessor": {
        "StartAt": "L", "States": {"L": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                         "Parameters": {"FunctionName": "sleepy", "Payload.$": "$"},
                                         "ResultSelector": {"v.$": "$.Payload"}, "End": True}}}}}}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sleepy.py").write_text(LAMBDA_SOURCE)
        local = LocalLambda([LambdaFunction("sleepy", "sleepy.py:handler", tmp, timeout=30)])
        adapters = Adapters()
        local.register_in(adapters)
        try:
            machine = load(definition)
            start = time.perf_counter()
            result = run(machine, json.dumps(list(range(items))), ExecutionOptions(clock=RealClock(), adapters=adapters))
            elapsed = time.perf_counter() - start
        finally:
            local.close()
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return elapsed, items


def callback_parallels(executions: int) -> tuple[float, int]:
    """(h): ``executions`` executions of a Parallel with two ``.waitForTaskToken`` branches on the durable store
    (SQLite FULL), started, run until every one has sent both tokens and parked, every token answered with
    SendTaskSuccess, and run to the end: the time of all that, and how many executions."""
    from asl.service import StepFunctions
    from asl.store import SQLiteStore

    tokens: list[str] = []
    callback = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"

    def send(value: Any, context: Any) -> Any:
        tokens.append(value["token"])
        return {"MessageId": "m"}

    ask = {"Type": "Task", "Resource": callback, "Parameters": {"token.$": "$$.Task.Token"}, "End": True}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": ask}}, {"StartAt": "B", "States": {"B": ask}}]}}}
    with tempfile.TemporaryDirectory() as tmp:
        sfn = StepFunctions(SQLiteStore(Path(tmp) / "h.db", synchronous="FULL"))
        sm = sfn.create_state_machine(name="approvals", definition=json.dumps(definition))["stateMachineArn"]
        worker = sfn.worker({callback: send})
        start = time.perf_counter()
        arns = [sfn.start_execution(stateMachineArn=sm)["executionArn"] for _ in range(executions)]
        worker.run_until_idle()
        for token in tokens:
            sfn.send_task_success(taskToken=token, output='{"ok": true}')
        worker.run_until_idle()
        elapsed = time.perf_counter() - start
        assert len(tokens) == 2 * executions
        done = sum(sfn.describe_execution(executionArn=a)["status"] == "SUCCEEDED" for a in arns)
        assert done == executions, done
    return elapsed, executions


# -- process-level measurements --------------------------------------------------------------------------------------
def cold_start(runs: int) -> float:
    """Median wall time of ``asl run`` on a small definition, in a new process each time."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "small.json"
        f.write_text(json.dumps(chain(3)))
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "asl", "run", str(f)], check=True, capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


PEAK_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from asl.interpreter import run
from asl.model import load
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from run import big_map
n = int(sys.argv[2])
r = run(load(big_map(n)), "{}")
assert r.status == "SUCCEEDED" and r.output == str(n), (r.status, r.error, r.cause)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would count the parent's memory at fork time
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_memory(items: int) -> float:
    """Peak resident memory (MiB) of a process running an inline Map over ``items`` items."""
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(ROOT), str(items)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # VmHWM is in KiB


# -- main ------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes and one run (CI: proves it works)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args(argv)
    runs = 1 if args.tiny else args.runs
    n_chain, n_map, n_rounds, n_peak = (10, 20, 2, 1000) if args.tiny else (100, 1000, 10, 100_000)

    workloads = [
        ("a", f"chain of {n_chain} Pass states", chain(n_chain), {}),
        ("b", f"inline Map over {n_map} items", inline_map(), {"items": list(range(n_map))}),
        ("c", f"Choice, Task, Retry and Catch × {n_rounds}", mix(n_rounds), {"go": True}),
    ]
    moto = Moto()
    figures: dict[str, Any] = {"tiny": args.tiny, "runs": runs, "results": []}
    try:
        for key, title, definition, data in workloads:
            # ours take about a millisecond a run, where one GC pause or scheduler hiccup on a busy VM halves a
            # sample: many more samples make the median steady (moto's runs are long enough for `runs`)
            ours, n = median_rate(lambda d=definition, x=data: run_ours(d, x, {TASK_ARN: _our_task()}),
                                  runs if args.tiny else runs * 8)
            read, _ = median_rate(lambda d=definition, x=data: run_ours(d, x, {TASK_ARN: _our_task()}, True),
                                  runs if args.tiny else runs * 8)
            theirs, m = median_rate(lambda d=definition, x=data: moto.run(d, x), runs)
            figures["results"].append({"workload": key, "title": title, "transitions": n, "moto_transitions": m,
                                       "asl_per_s": round(ours), "asl_history_read_per_s": round(read),
                                       "moto_per_s": round(theirs), "ratio": round(ours / theirs, 1)})
    finally:
        moto.close()
    # (d): the durable engine has no moto counterpart (moto keeps nothing across a restart)
    durable = [("d1", "(a) on the durable store (SQLite FULL)", chain(n_chain), {}),
               ("d2", "(b) on the durable store (SQLite FULL)", inline_map(), {"items": list(range(n_map))}),
               ("d3", f"{n_chain} Tasks on the durable store", task_chain(n_chain), {})]
    store = Durable()
    try:
        for key, title, definition, data in durable:
            # a durable run is a few milliseconds, two of them fsyncs whose time varies a lot on a VM: more samples
            rate, n = median_rate(lambda d=definition, x=data: store.run(d, x, {TASK_ARN: lambda v, c: v}),
                                  runs if args.tiny else runs * 4)
            figures["results"].append({"workload": key, "title": title, "transitions": n, "asl_per_s": round(rate)})
    finally:
        store.close()
    g_items, h_executions = (20, 10) if args.tiny else (100, 1000)
    g_times = [lambda_map(g_items)[0] for _ in range(1 if args.tiny else 3)]
    figures["lambda_map"] = {"items": g_items, "wall_s": round(statistics.median(g_times), 2)}
    h_time, _ = callback_parallels(h_executions)
    figures["callback_parallels"] = {"executions": h_executions, "per_s": round(h_executions / h_time, 1)}
    figures["cold_start_ms"] = round(cold_start(runs if args.tiny else 5) * 1000)
    figures["peak_memory_mib"] = {"items": n_peak, "mib": round(peak_memory(n_peak), 1)}

    print(f"{'':3}{'workload':44}{'asl /s':>12}{'+ history read':>16}{'moto /s':>12}{'ratio':>8}")
    for r in figures["results"]:
        if "moto_per_s" in r:
            print(f"({r['workload']}) {r['title']:42}{r['asl_per_s']:>12,}{r['asl_history_read_per_s']:>16,}"
                  f"{r['moto_per_s']:>12,}{r['ratio']:>7}x")
        else:
            print(f"({r['workload']}) {r['title']:42}{r['asl_per_s']:>12,}{'':>16}{'n/a':>12}")
    print(f"(e) cold start of asl run: {figures['cold_start_ms']} ms")
    print(f"(g) Map, MaxConcurrency 10, of {g_items} local Lambda calls of 100 ms, real clock: "
          f"{figures['lambda_map']['wall_s']} s wall")
    print(f"(h) {h_executions} Parallels of two callback branches through the durable store: "
          f"{figures['callback_parallels']['per_s']} executions/s")
    print(f"(f) peak memory, inline Map over {n_peak:,} items: {figures['peak_memory_mib']['mib']} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    main()
