"""The task of benchmarks/postgres.py's workload (i): sleep 50 ms, as a call to another service would, and note the
call in the side-effect log named by ``BENCH_LOG`` (one line per call, so reruns after a kill can be counted)."""

from __future__ import annotations

import os
import time
from typing import Any


def nap(value: Any, context: Any) -> Any:
    time.sleep(0.05)
    log = os.environ.get("BENCH_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{context['Execution']['Name']} {context['State']['Name']}\n".encode())
        finally:
            os.close(fd)
    return value
