"""Benchmark of local Lambda functions (issue 22): invocations per second of a warm Python and a warm Node.js echo
handler (one JSON line each way over a pipe), and the start-up of a cold one (its first invocation, process start
included).

    python benchmarks/lambda_local.py            # 2,000 warm invocations each, 10 cold starts each
    python benchmarks/lambda_local.py --tiny     # 50 and 2 (CI: proves it works)
    python benchmarks/lambda_local.py --json F   # also write the figures as JSON

The adapter is driven directly (LocalLambda.invoke with a plain function ARN), so the figures are the
invocation's cost, not an execution's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asl.adapters import TaskRequest  # noqa: E402
from asl.adapters.lambda_local import LambdaFunction, LocalLambda  # noqa: E402
from asl.resources import parse_resource  # noqa: E402

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def request(name: str, event: Any) -> TaskRequest:
    return TaskRequest(parse_resource(ARN + name), event, {})


def measure(fn: LambdaFunction, warm: int, cold: int) -> dict[str, Any]:
    starts = []
    for _ in range(cold):  # a new adapter each time: its first invocation starts the function's process
        local = LocalLambda([fn])
        t = time.perf_counter()
        local.invoke(request(fn.name, {"n": 0}))
        starts.append((time.perf_counter() - t) * 1000)
        local.close()
    local = LocalLambda([fn])
    local.invoke(request(fn.name, {"n": 0}))  # warm it
    t = time.perf_counter()
    for i in range(warm):
        assert local.invoke(request(fn.name, {"n": i})) == {"n": i}
    elapsed = time.perf_counter() - t
    local.close()
    return {"runtime": fn.runtime, "warm_per_second": round(warm / elapsed), "warm_ms": round(elapsed / warm * 1000, 3),
            "cold_ms_median": round(statistics.median(starts), 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args(argv)
    warm, cold = (50, 2) if args.tiny else (2000, 10)
    figures: dict[str, Any] = {"warm": warm, "cold": cold, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp)
        (code / "echo.py").write_text("def handler(event, context):\n    return event\n")
        (code / "echo.js").write_text("exports.handler = async (event) => event;\n")
        functions = [LambdaFunction("py", "echo.handler", str(code))]
        if shutil.which("node"):
            functions.append(LambdaFunction("js", "echo.js:handler", str(code), runtime="nodejs"))
        for fn in functions:
            figures["runs"].append(measure(fn, warm, cold))
    for r in figures["runs"]:
        print(f"{r['runtime']:>7}: warm {r['warm_per_second']:,} invocations/s ({r['warm_ms']} ms each), "
              f"cold start {r['cold_ms_median']} ms (median of {cold})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
