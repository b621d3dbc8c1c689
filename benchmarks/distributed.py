"""Benchmark of a Distributed Map over S3 (issue 19): 100,000 items of a JSONL object in moto's S3 server, batches of
100, children of one Pass state each; wall time and peak memory of the process that runs it.

    python benchmarks/distributed.py            # 100,000 items
    python benchmarks/distributed.py --tiny     # 1,000 items (CI: proves it works)
    python benchmarks/distributed.py --json F   # also write the figures as JSON

Each run is a new process (peak memory is the process's VmHWM): EXPRESS children in memory (``asl run``'s engine),
then STANDARD children, each an execution of its own on the durable store (SQLite, one worker), with MaxConcurrency
1,000 (every child started at once) and 10 (the parent woken as children end, about 100 times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def definition(execution_type: str, concurrency: int = 1000) -> dict[str, Any]:
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "MaxConcurrency": concurrency,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "bench", "Key": "items.jsonl"},
                       "ReaderConfig": {"InputType": "JSONL"}},
        "ItemBatcher": {"MaxItemsPerBatch": 100},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                          "StartAt": "Count", "States": {"Count": {
                              "Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": True}}},
        "ResultSelector": {"batches.$": "States.ArrayLength($)"}}}}


RUNNER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from asl.adapters import Adapters
from asl.adapters.aws import AwsServices
endpoint, mode, definition = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
adapters = Adapters()
AwsServices(endpoint_url=endpoint, region="us-east-1").register_in(adapters)
start = time.perf_counter()
if mode == "EXPRESS":
    from asl.interpreter import ExecutionOptions, run
    from asl.model import load
    r = run(load(definition), "{}", ExecutionOptions(adapters=adapters))
    status, output = r.status, r.output
else:
    import tempfile
    from pathlib import Path
    from asl.service import StepFunctions
    from asl.store import SQLiteStore
    with tempfile.TemporaryDirectory() as tmp:
        sfn = StepFunctions(SQLiteStore(Path(tmp) / "d.db"))
        sm = sfn.create_state_machine(name="dmap", definition=json.dumps(definition))["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        sfn.worker(adapters=adapters).run_until_idle()
        d = sfn.describe_execution(executionArn=arn)
        status, output = d["status"], d.get("output", d.get("cause"))
elapsed = time.perf_counter() - start
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"status": status, "output": output, "seconds": elapsed, "peak_mib": int(hwm) / 1024}))
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args(argv)
    items = 1000 if args.tiny else 100_000
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    figures: dict[str, Any] = {"items": items, "batch": 100, "runs": []}
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        body = "".join(json.dumps({"id": i, "name": f"item-{i}", "score": i % 97}) + "\n" for i in range(items))
        s3.put_object(Bucket="bench", Key="items.jsonl", Body=body.encode())
        for mode, concurrency in (("EXPRESS", 1000), ("STANDARD", 1000), ("STANDARD", 10)):
            with tempfile.TemporaryDirectory():
                out = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT), endpoint, mode,
                                      json.dumps(definition(mode, concurrency))], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            assert result["status"] == "SUCCEEDED", result
            assert json.loads(result["output"]) == {"batches": items // 100}, result["output"]
            figures["runs"].append({"children": mode, "max_concurrency": concurrency,
                                    "seconds": round(result["seconds"], 2), "peak_mib": round(result["peak_mib"], 1)})
    finally:
        server.stop()
    for r in figures["runs"]:
        print(f"Distributed Map over {items:,} JSONL items in moto S3, batches of 100, {r['children']} children, "
              f"MaxConcurrency {r['max_concurrency']}: {r['seconds']} s, peak {r['peak_mib']} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    started = time.perf_counter()
    main()
