"""The Map Run operations of the Step Functions API (DescribeMapRun, ListMapRuns, UpdateMapRun) and what the
execution operations say of a Distributed Map's children, over the store's Map Run records.

A Map Run's counts come from its children: under the durable engine they are executions (``map_run_arn`` set), so
their statuses are the executions'; a child not started yet is pending. Children run inside their parent's process
(EXPRESS children) are not kept as executions: their Map Run records how each ended once it has ended.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .apiargs import check_kind, paged, put
from .durable import abort_map_runs
from .errors import ServiceError
from .runtime.maprun import child_name
from .store.base import ABORTED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT, ExecutionRecord, MapRunRecord, Store

_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total", "resultsWritten",
           "failuresNotRedrivable", "pendingRedrive")
_COUNTED = {RUNNING: "running", SUCCEEDED: "succeeded", FAILED: "failed", TIMED_OUT: "timedOut", ABORTED: "aborted"}


def map_run_machine_arn(map_run_arn: str) -> str:
    """The state machine ARN of a Map Run's children: ``…:stateMachine:<parent's name>/<label>``."""
    head, _, rest = map_run_arn.partition(":mapRun:")
    return f"{head}:stateMachine:{rest.rpartition(':')[0]}"


def _sizes(run: MapRunRecord) -> list[int]:
    """How many items each child takes: one, or its batch's."""
    lines = run.inputs.split("\n") if run.inputs else []
    if not run.batched:
        return [1] * len(lines)
    return [len(i.get("Items", [])) if isinstance(i := json.loads(line), dict) else 1 for line in lines]


def _child_statuses(store: Store, run: MapRunRecord) -> tuple[list[str | None], dict[str, ExecutionRecord]]:
    """Each child's status (None: not started), in order, and the child executions by name."""
    if run.outcomes is not None:  # each a status, or [status, items] for a batch
        return [o[0] if isinstance(o, list) else o for o in json.loads(run.outcomes)], {}
    children = {e.name: e for e in store.list_executions(map_run_arn=run.arn)}
    run_id = run.arn.rpartition(":")[2]
    count = run.inputs.count("\n") + 1 if run.inputs else 0
    return [children[n].status if (n := child_name(run_id, i)) in children else None for i in range(count)], children


def map_run_counts(store: Store, run: MapRunRecord) -> tuple[dict[str, int], dict[str, int]]:
    """DescribeMapRun's itemCounts and executionCounts."""
    statuses, _ = _child_statuses(store, run)
    sizes = _sizes(run) if run.outcomes is None else \
        [o[1] if isinstance(o, list) else 1 for o in json.loads(run.outcomes)]
    items = dict.fromkeys(_COUNTS, 0)
    executions = dict.fromkeys(_COUNTS, 0)
    for index, status in enumerate(statuses):
        key = "pending" if status is None else _COUNTED.get(status, "running")
        size = sizes[index] if index < len(sizes) else 1
        items[key] += size
        executions[key] += 1
        items["total"] += size
        executions["total"] += 1
        if index < run.results_written:
            items["resultsWritten"] += size
            executions["resultsWritten"] += 1
    return items, executions


class MapRunOperations:
    """DescribeMapRun, ListMapRuns and UpdateMapRun: a part of :class:`~asl.service.StepFunctions`."""

    store: Store

    def _map_run(self, arn: Any) -> MapRunRecord:
        run = self.store.get_map_run(check_kind(arn, "mapRun"))
        if run is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return run

    def describe_map_run(self, mapRunArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - AWS's names
        run = self._map_run(mapRunArn)
        items, executions = map_run_counts(self.store, run)
        out: dict[str, Any] = {"mapRunArn": run.arn, "executionArn": run.execution_arn, "status": run.status,
                               "startDate": run.start}
        put(out, stopDate=run.stop)
        out.update({"maxConcurrency": run.max_concurrency,
                    "toleratedFailurePercentage": float(run.tolerated_failure_percentage or 0.0),
                    "toleratedFailureCount": int(run.tolerated_failure_count or 0), "itemCounts": items,
                    "executionCounts": executions, "redriveCount": run.redrive_count})
        return out

    def list_map_runs(self, executionArn: str, maxResults: int = 0, nextToken: str | None = None,  # noqa: N803
                      **_: Any) -> dict[str, Any]:
        arn = check_kind(executionArn, "execution")
        if self.store.get_execution(arn) is None:
            raise ServiceError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        items = []
        for run in self.store.list_map_runs(arn):
            item = {"executionArn": run.execution_arn, "mapRunArn": run.arn,
                    "stateMachineArn": map_run_machine_arn(run.arn), "startDate": run.start}
            put(item, stopDate=run.stop)
            items.append(item)
        return paged("mapRuns", items, "mapRuns:" + arn, maxResults, nextToken)

    def update_map_run(self, mapRunArn: str, maxConcurrency: int | None = None,  # noqa: N803
                       toleratedFailurePercentage: float | None = None, toleratedFailureCount: int | None = None,  # noqa: N803
                       **_: Any) -> dict[str, Any]:
        """UpdateMapRun: a running Map Run's MaxConcurrency (0: as many as allowed) and tolerances; its parent is
        woken to apply them."""
        run = self._map_run(mapRunArn)
        for name, value, low, high in (("maxConcurrency", maxConcurrency, 0, None),
                                       ("toleratedFailureCount", toleratedFailureCount, 0, None),
                                       ("toleratedFailurePercentage", toleratedFailurePercentage, 0, 100)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < low
                                      or (high is not None and value > high)):
                bound = f"greater than or equal to {low}" + ("" if high is None else f" and less than or equal to {high}")
                raise ServiceError("ValidationException", f"1 validation error detected: Value '{value}' at '{name}' "
                                                          f"failed to satisfy constraint: Member must have value {bound}")
        if maxConcurrency is None and toleratedFailurePercentage is None and toleratedFailureCount is None:
            raise ServiceError("ValidationException", "At least one of maxConcurrency, toleratedFailurePercentage "
                                                      "or toleratedFailureCount must be given")
        fields: dict[str, Any] = {}
        if maxConcurrency is not None:
            fields["max_concurrency"] = min(maxConcurrency or 10_000, 10_000)
        if toleratedFailurePercentage is not None:
            fields["tolerated_failure_percentage"] = float(toleratedFailurePercentage)
        if toleratedFailureCount is not None:
            fields["tolerated_failure_count"] = toleratedFailureCount
        before = self.store.update_map_run(run.arn, **fields)
        if before is None or before.status != RUNNING:
            raise ServiceError("ValidationException", f"Map Run {run.arn} has ended ({run.status}) and cannot be "
                                                      "updated (CANNOT_UPDATE_COMPLETED_MAP_RUN)")
        return {}

    # -- what the execution operations say of Map Runs ---------------------------------------------------------
    def _map_run_children(self, map_run_arn: Any, status: str | None) -> list[dict[str, Any]]:
        """ListExecutions' items for a Map Run's children, newest first."""
        run = self._map_run(map_run_arn)
        sizes = _sizes(run)
        run_id = run.arn.rpartition(":")[2]
        index_of = {child_name(run_id, i): i for i in range(len(sizes))}
        items = []
        for ex in self.store.list_executions(status=status, map_run_arn=run.arn):
            item: dict[str, Any] = {"executionArn": ex.arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name,
                                    "status": ex.status, "startDate": ex.start}
            put(item, stopDate=ex.stop)
            item.update({"mapRunArn": run.arn, "itemCount": sizes[index_of[ex.name]] if ex.name in index_of else 1,
                         "redriveCount": ex.redrive_count})
            put(item, redriveDate=ex.redrive_date)
            items.append(item)
        return items

    def _abort_map_runs(self, execution_arn: str, now: datetime) -> None:
        """An aborted execution's Map Runs still running end ABORTED, and so do their children, and theirs."""
        abort_map_runs(self.store, execution_arn, now)
