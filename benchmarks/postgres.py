"""Benchmarks of the PostgreSQL store (issue 20), beside SQLite in the same run.

    python benchmarks/postgres.py           # full sizes
    python benchmarks/postgres.py --tiny    # tiny sizes (CI: proves it works)
    python benchmarks/postgres.py --json F  # also write the figures as JSON

It starts its own throwaway PostgreSQL server (tests/pgcluster.py: initdb in a temporary folder, a Unix socket,
fsync on). Workloads:

(d1) the chain of 100 Pass states and (d3) 100 Tasks on the durable store, SQLite (FULL) beside PostgreSQL:
     transitions per second, one execution at a time, in this process.
(i)  2,000 executions of 5 Tasks that each sleep 50 ms (I/O bound), run by 1, 2 and 4 ``asl worker`` processes
     (4 threads each) on one PostgreSQL database: executions per second from the workers' start to the last end,
     and the speed-up over one worker.
(j)  (i) with 4 workers, one of them killed with SIGKILL every 3 s (and started again, so 4 run): executions per
     second beside (i)'s, and the checks: none lost (all SUCCEEDED), none with a duplicated or missing event
     (each history has exactly the events of a run without kills, ids 1..n), and how many task calls ran again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import TASK_ARN, Durable, chain, median_rate, task_chain  # noqa: E402

from asl.interpreter import ExecutionOptions, run  # noqa: E402
from asl.model import load  # noqa: E402
from asl.service import StepFunctions  # noqa: E402
from asl.store import SQLiteStore  # noqa: E402
from asl.store.postgres import PostgresStore  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

NAP = "arn:aws:lambda:us-east-1:123456789012:function:nap"
KILL_EVERY = 3.0


def five_naps() -> dict[str, Any]:
    states = {f"T{i}": {"Type": "Task", "Resource": NAP, **({"Next": f"T{i + 1}"} if i < 4 else {"End": True})}
              for i in range(5)}
    return {"StartAt": "T0", "States": states}


def durable_side_by_side(url: str, runs: int, n: int) -> list[dict[str, Any]]:
    """(d1) and (d3) on SQLite and on PostgreSQL, alternating so both see the same machine state."""
    out = []
    for key, definition in (("d1", chain(n)), ("d3", task_chain(n))):
        rates: dict[str, list[float]] = {"sqlite": [], "postgres": []}
        with tempfile.TemporaryDirectory() as tmp:
            stores = {"sqlite": Durable(SQLiteStore(Path(tmp) / "d.db", synchronous="FULL")),
                      "postgres": Durable(PostgresStore(url, schema=f"bench_{key}"))}
            try:
                for _ in range(runs):
                    for name, durable in stores.items():
                        rate, transitions = median_rate(
                            lambda d=durable, m=definition: d.run(m, {}, {TASK_ARN: lambda v, c: v}), 1)
                        rates[name].append(rate)
            finally:
                for durable in stores.values():
                    durable.close()
        row = {"workload": key, "transitions": transitions}
        row.update({f"{name}_per_s": round(statistics.median(r)) for name, r in rates.items()})
        out.append(row)
    return out


class Workers:
    """``asl worker`` processes on one database, each logging its task calls to one shared file."""

    def __init__(self, url: str, log: Path, concurrency: int):
        self.args = [sys.executable, "-c", "from asl.cli import main; main()", "worker", "--store", url,
                     "--concurrency", str(concurrency), "--task", f"{NAP}={ROOT / 'benchmarks' / 'pg_tasks.py'}:nap"]
        self.env = {**os.environ, "BENCH_LOG": str(log), "PYTHONPATH": str(ROOT)}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def kill_one(self, rnd: random.Random) -> None:
        alive = [p for p in self.procs if p.poll() is None]
        victim = rnd.choice(alive)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.start()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def throughput(cluster: Cluster, name: str, executions: int, workers: int, concurrency: int,
               kill_every: float | None = None) -> dict[str, Any]:
    """(i) or, with ``kill_every`` seconds, (j): start ``executions`` executions, then the workers; the time until the last ends."""
    url = cluster.create_database(name)
    store = PostgresStore(url)
    sfn = StepFunctions(store)
    sm = sfn.create_state_machine(name="naps", definition=json.dumps(five_naps()))["stateMachineArn"]
    for i in range(executions):
        sfn.start_execution(stateMachineArn=sm, name=f"e{i}", input=json.dumps({"i": i}))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.log"
        log.touch()
        pool = Workers(url, log, concurrency)
        rnd = random.Random(20)
        start = time.perf_counter()
        for _ in range(workers):
            pool.start()
        next_kill = start + (kill_every or 0)
        killed = 0
        try:
            while store.list_executions(status="RUNNING"):
                time.sleep(0.05)
                if kill_every and time.perf_counter() >= next_kill:
                    pool.kill_one(rnd)
                    killed += 1
                    next_kill += kill_every
            elapsed = time.perf_counter() - start
        finally:
            pool.stop()
        calls = len(log.read_text().splitlines())
    row = {"workers": workers, "executions": executions, "seconds": round(elapsed, 2),
           "per_s": round(executions / elapsed, 1), "task_calls": calls, "task_reruns": calls - 5 * executions}
    row.update(check(store, executions))
    if kill_every:
        row["kills"] = killed
    store.close()
    return row


def check(store: PostgresStore, executions: int) -> dict[str, Any]:
    """Lost executions (not SUCCEEDED) and histories that are not exactly a kill-free run's events."""
    # the history of the same execution run in memory, without kills
    expected = [e["type"] for e in run(load(five_naps()), "{}", ExecutionOptions(tasks={NAP: lambda v, c: v})).history]
    records = store.list_executions()
    lost = executions - sum(r.status == "SUCCEEDED" for r in records)
    bad = 0
    for r in records:
        events = store.events(r.arn)
        if [e["type"] for e in events] != expected or [e["id"] for e in events] != list(range(1, len(events) + 1)):
            bad += 1
    return {"lost": lost, "bad_histories": bad}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (CI: proves it works)")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    ap.add_argument("--executions", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4, help="threads per worker process")
    args = ap.parse_args(argv)
    executions = 12 if args.tiny else args.executions
    worker_counts = (1, 2) if args.tiny else (1, 2, 4)
    cluster = Cluster.start()
    figures: dict[str, Any] = {"tiny": args.tiny}
    try:
        figures["durable"] = durable_side_by_side(cluster.create_database("durable"), 1 if args.tiny else 15,
                                                  10 if args.tiny else 100)
        figures["throughput"] = [throughput(cluster, f"i{n}", executions, n, args.concurrency) for n in worker_counts]
        figures["kills"] = throughput(cluster, "j", executions, worker_counts[-1], args.concurrency,
                                      kill_every=0.3 if args.tiny else KILL_EVERY)
    finally:
        cluster.stop()
    one = figures["throughput"][0]["per_s"]
    for row in figures["throughput"]:
        row["speedup"] = round(row["per_s"] / one, 2)
    print(f"{'':5}{'workload':40}{'SQLite /s':>12}{'PostgreSQL /s':>15}")
    for row in figures["durable"]:
        title = "chain of Pass states" if row["workload"] == "d1" else "chain of Tasks"
        print(f"({row['workload']}) {title:40}{row['sqlite_per_s']:>12,}{row['postgres_per_s']:>15,}")
    for row in figures["throughput"]:
        print(f"(i) {executions} executions of 5 x 50 ms Tasks, {row['workers']} worker(s): {row['per_s']} executions/s "
              f"({row['speedup']}x), lost {row['lost']}, bad histories {row['bad_histories']}")
    k = figures["kills"]
    print(f"(j) the same, {k['workers']} workers, one SIGKILLed every few seconds ({k['kills']} kills): {k['per_s']} "
          f"executions/s ({round(k['per_s'] / figures['throughput'][-1]['per_s'] * 100)}% of (i)), lost {k['lost']}, "
          f"bad histories {k['bad_histories']}, task calls run again {k['task_reruns']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
