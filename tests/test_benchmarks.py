"""The benchmark still runs (tiny sizes, once). Timings are reported, never judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import ROOT


def tiny(script: str, out: Path) -> Any:
    """Run ``benchmarks/<script> --tiny`` and read the figures it wrote."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    figures = tiny("run.py", tmp_path / "figures.json")
    measured = {r["workload"]: r for r in figures["results"] if "moto_per_s" in r}
    assert set(measured) == {"a", "b", "c"}
    durable = {r["workload"]: r for r in figures["results"] if "moto_per_s" not in r}
    assert set(durable) == {"d1", "d2", "d3"}
    # the durable engine made the same transitions as the in-memory run of the same workload
    assert durable["d1"]["transitions"] == measured["a"]["transitions"]
    assert durable["d2"]["transitions"] == measured["b"]["transitions"]
    for r in measured.values():
        # both engines ran the same workload to the end: the same number of state transitions
        assert r["transitions"] == r["moto_transitions"] > 0
        assert r["asl_per_s"] > 0 and r["asl_history_read_per_s"] > 0 and r["moto_per_s"] > 0
    assert figures["cold_start_ms"] > 0 and figures["peak_memory_mib"]["mib"] > 0
    assert figures["lambda_map"]["wall_s"] > 0 and figures["callback_parallels"]["per_s"] > 0


def test_serve_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    figures = tiny("serve.py", tmp_path / "serve.json")
    assert [r["server"] for r in figures["results"]] == ["asl", "moto"]
    for r in figures["results"]:
        assert [row["threads"] for row in r["load"]] == [1, 2]
        # every call of the workload was answered, by both servers
        assert all(row["requests"] > 0 and row["errors"] == 0 for row in r["load"])
        assert r["idle"]["rss_mib"] > 0
    # asl keeps idle connections open (moto's server closes each after its answer)
    assert figures["results"][0]["idle"]["still_open"] == figures["results"][0]["idle"]["connections"]


def test_postgres_benchmark_runs_at_tiny_size(tmp_path: Path, postgres_cluster: Any) -> None:
    """benchmarks/postgres.py starts its own server; postgres_cluster only makes sure PostgreSQL is installed."""
    figures = tiny("postgres.py", tmp_path / "pg.json")
    assert [r["workload"] for r in figures["durable"]] == ["d1", "d3"]
    assert all(r["sqlite_per_s"] > 0 and r["postgres_per_s"] > 0 for r in figures["durable"])
    assert [r["workers"] for r in figures["throughput"]] == [1, 2]
    for row in [*figures["throughput"], figures["kills"]]:
        assert row["lost"] == 0 and row["bad_histories"] == 0 and row["task_reruns"] >= 0
    # a tiny run may end before its first kill: the kill tests of tests/test_durable.py kill for sure
    assert figures["kills"]["workers"] == 2 and "kills" in figures["kills"]


def test_distributed_map_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    figures = tiny("distributed.py", tmp_path / "dmap.json")
    assert figures["items"] == 1000 and [r["children"] for r in figures["runs"]] == ["EXPRESS", "STANDARD", "STANDARD"]
    assert all(r["seconds"] > 0 and r["peak_mib"] > 0 for r in figures["runs"])


def test_local_lambda_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    figures = tiny("lambda_local.py", tmp_path / "lambda.json")
    assert figures["warm"] == 50 and figures["runs"][0]["runtime"] == "python"
    assert all(r["warm_per_second"] > 0 and r["cold_ms_median"] > 0 for r in figures["runs"])
