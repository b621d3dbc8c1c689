"""The examples run as the README runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

ASL = [sys.executable, "-c", "from asl.cli import main; main()"]


def asl(*args: str, cwd: Path = ROOT, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


def test_fanout_jsonata_example() -> None:
    r = asl("run", "examples/fanout.jsonata.asl.json", "--lambda", "thumbnail=examples/fanout_lambdas.py:thumbnail",
            "--input", json.dumps({"images": ["cat.png", "dog.jpg", "notes.txt"], "size": 64}))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"made": 2, "bytes": 1038, "failed": ["notes.txt"]}


def test_orders_example_with_dynamodb_and_sqs() -> None:
    pytest.importorskip("moto.server")
    r = subprocess.run([sys.executable, "examples/orders_demo.py"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert '{"orderId":"A-1001","total":20.0,"messageId":' in r.stdout
    assert "FAILED: error: DuplicateOrder" in r.stderr
    assert '"total": {"N": "20.0"}' in r.stdout
    assert 'SQS message: {"orderId":"A-1001","lines":[{"sku":"apple","qty":12},{"sku":"coffee","qty":2}],"total":20.0}' in r.stdout
    assert r.stderr.count("[validate-order] order A-1001: 2 line(s), total 20.0") == 2


def test_ratings_example_reads_batches_and_writes_back_to_s3() -> None:
    pytest.importorskip("moto.server")
    r = subprocess.run([sys.executable, "examples/ratings_demo.py"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert '"ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": "results/' in r.stdout
    assert ('SUCCEEDED_0.json: [{"movies":10,"first":"movie-0","average":30},{"movies":10,"first":"movie-10",'
            '"average":70},{"movies":5,"first":"movie-20","average":100}]') in r.stdout


def test_approval_example_round_trip_between_two_processes(tmp_path: Path) -> None:
    env = {**os.environ, "ASL_STORE": str(tmp_path / "store.db")}
    worker = subprocess.Popen([*ASL, "worker", "--lambda", f"request-approval={ROOT / 'examples/approval_tasks.py'}:request_approval"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        r = asl("start", "examples/approval.asl.json", "--name", "order-42", "--input", '{"order": "42", "amount": 120}', env=env)
        assert r.returncode == 0 and r.stdout.strip().endswith(":execution:approval:order-42"), r.stderr
        token = None
        assert worker.stderr is not None
        end = time.monotonic() + 30
        while token is None and time.monotonic() < end:
            line = worker.stderr.readline()
            m = re.search(r"asl task success (\S+)", line)
            token = m.group(1) if m else None
        assert token, "the worker did not print the approval request"
        assert asl("task", "success", token, "--output", '{"approved": true, "by": "ada"}', env=env).returncode == 0
        status = ""
        while time.monotonic() < end:
            d = json.loads(asl("executions", "describe", "order-42", env=env).stdout)
            status = d["status"]
            if status != "RUNNING":
                break
            time.sleep(0.2)
        assert status == "SUCCEEDED"
        assert json.loads(d["output"]) == {"order": "42", "status": "placed", "approvedBy": "ada"}
        again = asl("task", "success", token, "--output", "{}", env=env)
        assert again.returncode == 1 and "TaskTimedOut" in again.stderr
    finally:
        worker.terminate()
        worker.wait()
