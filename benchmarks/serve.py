"""Benchmark of ``asl serve`` beside moto's server: the same boto3 client workload against both, in one run.

    python benchmarks/serve.py                 # 1, 4 and 16 client threads, 10 s each, both servers
    python benchmarks/serve.py --tiny          # 1 and 2 threads, 1 s each, 20 idle connections: proves it works
    python benchmarks/serve.py --no-moto       # asl only
    python benchmarks/serve.py --json F        # also write the figures as JSON

Each client thread has its own boto3 client (keep-alive, as boto3 does by default) and loops StartExecution →
DescribeExecution → GetExecutionHistory on a one-state Pass machine for a fixed time. Printed per thread count:
requests per second (all three operations counted), and p50 and p99 latency of one request as the client sees it.
The client threads run in ``--client-processes`` processes (default 2, threads split evenly), because one
Python process cannot make more than about a thousand boto3 calls a second on its own, which would measure the
client instead of the server. Then the server's resident memory (VmRSS) and thread count, before and with 500
idle kept-alive connections (each has had one request answered, as an SDK's pooled connection has).

Both servers run as subprocesses: ``asl serve`` over a temporary SQLite store, and ``moto_server`` (moto records
the execution and does not run it, unless its ``execute_state_machine`` option is set, which it is not here).
Timings are never pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::123456789012:role/bench"
PASS_MACHINE = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


# -- servers -------------------------------------------------------------------------------------------------------
class Served:
    """A server in a subprocess; ``url`` once it listens, ``pid`` for its memory."""

    def __init__(self, name: str, cmd: list[str], url: str | None, log: Path, cwd: Path):
        self.name = name
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                         env={**os.environ, **CREDENTIALS})
        self.url = url or ""
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start: {log.read_text()}")
            if url is None:
                text = log.read_text()
                if "listening on " in text:
                    self.url = text.split("listening on ", 1)[1].split()[0]
                    break
            elif _answers(url):
                break
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _answers(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_asl(tmp: Path) -> Served:
    definition = tmp / "Bench.asl.json"
    definition.write_text(json.dumps(PASS_MACHINE))
    cmd = [sys.executable, "-m", "asl", "serve", "--port", "0", "--store", str(tmp / "store.db"),
           "--state-machine", f"Bench={definition}"]
    return Served("asl", cmd, None, tmp / "asl.log", ROOT)


def start_moto(tmp: Path) -> Served:
    port = _free_port()
    cmd = [sys.executable, "-m", "moto.server", "-p", str(port)]
    return Served("moto", cmd, f"http://127.0.0.1:{port}", tmp / "moto.log", tmp)


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    # boto3's defaults (keep-alive, a pool of 10 connections), but no retries: an error must show, not hide
    return boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))


def state_machine(url: str) -> str:
    """The benchmark's Pass machine on the server (asl preloads it from a file; moto needs it created)."""
    sfn = client(url)
    for m in sfn.list_state_machines()["stateMachines"]:
        if m["name"] == "Bench":
            return str(m["stateMachineArn"])
    return str(sfn.create_state_machine(name="Bench", definition=json.dumps(PASS_MACHINE), roleArn=ROLE)
               ["stateMachineArn"])


# -- the client workload ---------------------------------------------------------------------------------------------
def _loop(url: str, arn: str, start_at: float, stop_at: float, out: list[float], errors: list[str]) -> None:
    """One client thread: its own boto3 client, the three calls in a loop; latencies of the calls that started
    between ``start_at`` and ``stop_at`` go to ``out`` (seconds)."""
    sfn = client(url)
    sfn.list_state_machines()  # opens the connection before the clock starts
    while time.perf_counter() < start_at:
        time.sleep(0.001)
    calls = (lambda: sfn.start_execution(stateMachineArn=arn, input='{"n": 1}'),
             lambda ex: sfn.describe_execution(executionArn=ex),
             lambda ex: sfn.get_execution_history(executionArn=ex))
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            ex = calls[0]()["executionArn"]
            t1 = time.perf_counter()
            calls[1](ex)
            t2 = time.perf_counter()
            calls[2](ex)
            t3 = time.perf_counter()
            out.extend((t1 - t0, t2 - t1, t3 - t2))
    except Exception as exc:  # reported, not raised: the other threads' figures still count
        errors.append(f"{type(exc).__name__}: {exc}")


def _client_process(url: str, arn: str, threads: int, start_at: float, stop_at: float, queue: Any) -> None:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    workers = [threading.Thread(target=_loop, args=(url, arn, start_at, stop_at, latencies[i], errors))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put(([x for lat in latencies for x in lat], errors))


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, arn: str, threads: int, seconds: float, processes: int, pid: int) -> dict[str, Any]:
    """``threads`` client threads spread over up to ``processes`` processes for ``seconds``: requests/s, p50, p99,
    and the server's CPU time per request (user and system, all its threads: the workers' part included)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    split = [threads // processes + (1 if i < threads % processes else 0) for i in range(min(processes, threads))]
    # perf_counter is CLOCK_MONOTONIC on Linux, the same clock in every process
    start_at = time.perf_counter() + 4.0  # time for the processes to import boto3 and connect
    stop_at = start_at + seconds
    procs = [ctx.Process(target=_client_process, args=(url, arn, n, start_at, stop_at, queue)) for n in split]
    for p in procs:
        p.start()
    while time.perf_counter() < start_at:
        time.sleep(0.001)
    cpu_start = _cpu_seconds(pid)
    while time.perf_counter() < stop_at:
        time.sleep(0.01)
    cpu = _cpu_seconds(pid) - cpu_start
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, errs in results for e in errs]
    if not latencies:
        raise RuntimeError(f"no request completed: {errors[:3]}")
    return {"threads": threads, "requests": len(latencies), "requests_per_s": round(len(latencies) / seconds),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
            "server_cpu_ms_per_request": round(cpu * 1000 / len(latencies), 3), "errors": len(errors), "first_error": errors[0] if errors else None}


# -- memory with idle connections --------------------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


def idle_memory(url: str, pid: int, connections: int, settle: float) -> dict[str, Any]:
    """The server's RSS (MiB) and threads before and with ``connections`` idle kept-alive connections, each after
    one answered request (a ListStateMachines, as an SDK's pooled connection would have made): 1 s after the last
    one opened, and again ``settle`` seconds later (a server may let threads go that the burst of opening made)."""
    host, port = url.rsplit("//", 1)[1].split(":")
    body = b"{}"
    request = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n"
               f"X-Amz-Target: AWSStepFunctions.ListStateMachines\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    time.sleep(1.0)  # let the load test's connections close and their threads end
    before = _status(pid)
    socks: list[socket.socket] = []
    try:
        for _ in range(connections):
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(request)
            _read_response(s)
            socks.append(s)
        time.sleep(1.0)
        during = _status(pid)
        time.sleep(settle)
        settled = _status(pid)
        alive = sum(1 for s in socks if _still_open(s))
    finally:
        for s in socks:
            s.close()
    return {"connections": connections, "still_open": alive, "rss_before_mib": round(before["VmRSS"] / 1024, 1),
            "rss_mib": round(during["VmRSS"] / 1024, 1), "threads_before": before["Threads"],
            "threads": during["Threads"], "settle_s": settle, "rss_settled_mib": round(settled["VmRSS"] / 1024, 1),
            "threads_settled": settled["Threads"]}


def _read_response(s: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += s.recv(65536)


def _still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) != b""  # any byte would be a surprise, but it is still open
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


# -- main ------------------------------------------------------------------------------------------------------------
def measure(server: Served, thread_counts: list[int], seconds: float, processes: int, idle: int,
            settle: float) -> dict[str, Any]:
    arn = state_machine(server.url)
    out: dict[str, Any] = {"server": server.name, "load": []}
    for n in thread_counts:
        row = load(server.url, arn, n, seconds, processes, server.pid)
        out["load"].append(row)
        print(f"  {server.name:5} {n:3} threads: {row['requests_per_s']:>6,} requests/s  p50 {row['p50_ms']:7.2f} ms  "
              f"p99 {row['p99_ms']:7.2f} ms  server CPU {row['server_cpu_ms_per_request']:.2f} ms/request" + (f"  ({row['errors']} errors: {row['first_error']})" if row["errors"] else ""),
              flush=True)
    out["idle"] = idle_memory(server.url, server.pid, idle, settle)
    m = out["idle"]
    print(f"  {server.name:5} RSS {m['rss_before_mib']} MiB, {m['threads_before']} threads; with {idle} idle connections: "
          f"{m['rss_mib']} MiB, {m['threads']} threads after 1 s, {m['rss_settled_mib']} MiB, {m['threads_settled']} "
          f"threads after {1 + settle:g} s ({m['still_open']} still open)", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="1 and 2 threads for 1 s, 20 idle connections (proves it works)")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long each thread count runs")
    ap.add_argument("--threads", default="1,4,16", help="client thread counts, comma separated")
    ap.add_argument("--client-processes", type=int, default=2, help="processes the client threads are spread over")
    ap.add_argument("--idle", type=int, default=500, help="idle kept-alive connections for the memory figure")
    ap.add_argument("--settle", type=float, default=12.0, help="seconds before the second memory reading")
    ap.add_argument("--no-moto", action="store_true", help="measure asl only")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args(argv)
    counts = [1, 2] if args.tiny else [int(x) for x in args.threads.split(",")]
    seconds = 1.0 if args.tiny else args.seconds
    idle = 20 if args.tiny else args.idle
    settle = 0.5 if args.tiny else args.settle
    figures: dict[str, Any] = {"tiny": args.tiny, "seconds": seconds, "client_processes": args.client_processes,
                               "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        for start in ((start_asl,) if args.no_moto else (start_asl, start_moto)):
            server = start(Path(tmp))
            try:
                figures["results"].append(measure(server, counts, seconds, args.client_processes, idle, settle))
            finally:
                server.stop()
    if not args.no_moto:
        ours, theirs = figures["results"]
        print("ratio asl/moto, requests/s: " + ", ".join(
            f"{a['threads']} threads {a['requests_per_s'] / max(b['requests_per_s'], 1):.2f}x"
            for a, b in zip(ours["load"], theirs["load"], strict=True)))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
