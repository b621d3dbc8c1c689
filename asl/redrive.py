"""RedriveExecution: restart a STANDARD execution that did not succeed from the state it did not finish, with the
same ARN, definition and input (the redrive itself is an ExecutionRedriven event the store appends; the durable
engine, rebuilding the execution, runs that state again from there: see :mod:`asl.runtime.loop`).

What AWS documents and asl follows: only FAILED, ABORTED and TIMED_OUT executions of STANDARD state machines, up to
14 days after they stopped, with fewer than 24,999 events; a Distributed Map's child executions are redriven by
redriving their parent (their redrive status is REDRIVABLE_BY_MAP_RUN), which reruns the children that did not
succeed. The context object gets ``Execution.RedriveCount`` and ``RedriveTime``; the state machine's TimeoutSeconds
counts again from the redrive.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import wallclock
from .apiargs import check_kind
from .errors import ServiceError
from .runtime.history import MAX_EVENTS
from .store.base import ABORTED, FAILED, RUNNING, TIMED_OUT, ExecutionRecord, Store

REDRIVABLE_FOR = timedelta(days=14)
UNSUCCESSFUL = (FAILED, ABORTED, TIMED_OUT)


def redrive_status(ex: ExecutionRecord, now: datetime) -> tuple[str, str | None]:
    """DescribeExecution's redriveStatus and redriveStatusReason."""
    if ex.status == RUNNING:
        return "NOT_REDRIVABLE", None
    if ex.status not in UNSUCCESSFUL:
        return "NOT_REDRIVABLE", f"Execution is {ex.status} and cannot be redriven"
    if ex.type != "STANDARD":
        return "NOT_REDRIVABLE", "Executions of EXPRESS state machines cannot be redriven"
    if ex.map_run_arn is not None:
        return "REDRIVABLE_BY_MAP_RUN", None
    if ex.stop is not None and now - ex.stop > REDRIVABLE_FOR:
        return "NOT_REDRIVABLE", "Execution stopped more than 14 days ago and cannot be redriven"
    return "REDRIVABLE", None


def redrive_fields(ex: ExecutionRecord, now: datetime) -> dict[str, Any]:
    """The redrive members of DescribeExecution."""
    status, reason = redrive_status(ex, now)
    out: dict[str, Any] = {"redriveCount": ex.redrive_count}
    if ex.redrive_date is not None:
        out["redriveDate"] = ex.redrive_date
    out["redriveStatus"] = status
    if reason is not None:
        out["redriveStatusReason"] = reason
    return out


class RedriveOperations:
    """RedriveExecution: a part of :class:`~asl.service.StepFunctions`."""

    store: Store

    def redrive_execution(self, executionArn: str, clientToken: str | None = None,  # noqa: N803 - AWS's names
                          **_: Any) -> dict[str, Any]:
        arn = check_kind(executionArn, "execution")
        ex = self.store.get_execution(arn)
        if ex is None:
            raise ServiceError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        now = wallclock.now()
        status, reason = redrive_status(ex, now)
        if status == "REDRIVABLE_BY_MAP_RUN":
            reason = f"Execution is a child execution of the Map Run {ex.map_run_arn}: redrive its parent execution"
        if status != "REDRIVABLE":
            raise ServiceError("ExecutionNotRedrivable", f"Execution Not Redrivable: '{arn}': "
                                                         f"{reason or f'Execution is {ex.status} and cannot be redriven'}")
        last = self.store.events(arn, limit=1, reverse=True)
        if last and int(last[0]["id"]) >= MAX_EVENTS - 1:
            raise ServiceError("ExecutionNotRedrivable", f"Execution Not Redrivable: '{arn}': its history has "
                                                         f"{last[0]['id']} events (a redrive needs fewer than 24999)")
        after = self.store.redrive_execution(arn, now)
        if after is None or after.status != RUNNING or after.redrive_count != ex.redrive_count + 1:
            raise ServiceError("ExecutionNotRedrivable", f"Execution Not Redrivable: '{arn}': it changed meanwhile "
                                                         f"(now {after.status if after else 'gone'})")
        return {"redriveDate": after.redrive_date or now}
