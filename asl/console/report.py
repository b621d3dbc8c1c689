"""Self-contained execution reports: the console's execution view as one HTML file, with the stylesheet, the script
and the data (DescribeExecution's answer, the definition, the history, the graph's SVG, Map Runs and their
children) inside it, so that it opens from ``file://`` with no server and no network: a CI artifact.

The data has the shapes the Step Functions API answers with (timestamps as epoch seconds), so the page's script
renders it with the same code as the console, only reading it from the page instead of from ``POST /``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..api import encode
from ..api import event_details as _details
from .assets import page

log = logging.getLogger("asl.console")


def graph_svg(definition: str) -> str | None:
    """The graph of a definition (:func:`asl.graph.render_svg`), or None when it cannot be drawn (the report then
    shows everything else)."""
    from ..graph import render_svg

    try:
        return render_svg(json.loads(definition))
    except Exception:  # a report is written whatever the graph's fate; the page says the graph is missing
        log.warning("cannot draw the graph for the report", exc_info=True)
        return None


def machine_arn_of(execution_arn: str) -> str:
    """``arn:…:execution:<machine>:<name>`` → ``arn:…:stateMachine:<machine>``."""
    parts = execution_arn.split(":")
    if len(parts) < 8:
        return execution_arn
    return ":".join(parts[:5] + ["stateMachine", ":".join(parts[6:-1])])


def describe(arn: str, status: str, events: Sequence[Mapping[str, Any]], output: str | None = None,
             error: str | None = None, cause: str | None = None, state_machine_arn: str | None = None,
             map_run_arn: str | None = None) -> dict[str, Any]:
    """DescribeExecution's answer for an execution known by its history (as ``asl run`` ran it)."""
    started = _details(events[0]) if events else {}
    out: dict[str, Any] = {"executionArn": arn, "stateMachineArn": state_machine_arn or machine_arn_of(arn),
                           "name": arn.rsplit(":", 1)[-1], "status": status}
    if events:
        out["startDate"] = events[0]["timestamp"]
        if status != "RUNNING":
            out["stopDate"] = events[-1]["timestamp"]
    if "input" in started:
        out["input"] = started["input"]
    if status == "SUCCEEDED" and output is not None:
        out["output"] = output
    for key, value in (("error", error), ("cause", cause), ("mapRunArn", map_run_arn)):
        if value is not None:
            out[key] = value
    return out


def entry(described: Mapping[str, Any], definition: str, events: Sequence[Mapping[str, Any]],
          map_runs: Sequence[Mapping[str, Any]] = (), test: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One execution of a report: its description, definition, history, graph, Map Runs and (asl test) the test
    it ran for."""
    out: dict[str, Any] = {"describe": dict(described), "definition": definition, "events": list(events),
                           "graph": graph_svg(definition), "mapRuns": list(map_runs)}
    if test is not None:
        out["test"] = dict(test)
    return out


def _processor(definition: Mapping[str, Any], state: str) -> dict[str, Any] | None:
    """The ItemProcessor of the Map state ``state`` (anywhere in the definition), as a state machine of its own."""
    query_language = definition.get("QueryLanguage")
    stack: list[Mapping[str, Any]] = [definition]
    while stack:
        blk = stack.pop()
        states = blk.get("States")
        if not isinstance(states, Mapping):
            continue
        for name, st in states.items():
            if not isinstance(st, Mapping):
                continue
            inner = st.get("ItemProcessor") or st.get("Iterator")
            if st.get("Type") == "Map" and isinstance(inner, Mapping):
                if name == state:
                    out = {k: v for k, v in inner.items() if k != "ProcessorConfig"}
                    if query_language and "QueryLanguage" not in out:
                        out["QueryLanguage"] = st.get("QueryLanguage", query_language)
                    return out
                stack.append(inner)
            for branch in st.get("Branches") or [] if st.get("Type") == "Parallel" else []:
                if isinstance(branch, Mapping):
                    stack.append(branch)
    return None


def _map_run_states(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The Map state of each Map Run an execution started: MapRunStarted follows MapStateEntered on its chain."""
    by_id = {e["id"]: e for e in events}
    out: dict[str, str] = {}
    for e in events:
        if e["type"] not in ("MapRunStarted", "MapRunRedriven"):
            continue
        prev = by_id.get(e.get("previousEventId"))
        while prev is not None and prev["type"] != "MapStateEntered":
            prev = by_id.get(prev.get("previousEventId"))
        if prev is not None:
            out[_details(e).get("mapRunArn", "")] = _details(prev).get("name", "")
    return out


def run_entries(arn: str, status: str, output: str | None, error: str | None, cause: str | None, definition: str,
                history: Sequence[Mapping[str, Any]], children: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The report data of an execution run in-process (``asl run``) and of its Distributed Map children (each
    ``{"mapRunArn", "executionArn", "name", "status", "history"}``), keyed by execution ARN."""
    from ..mapruns import map_run_machine_arn

    events = encode(list(history))
    executions: dict[str, Any] = {}
    pending: list[tuple[str, str, Sequence[Mapping[str, Any]], dict[str, Any]]] = [(arn, definition, events, {})]
    child_list = [encode(dict(c)) for c in children]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for child in child_list:
        by_run.setdefault(child["mapRunArn"], []).append(child)
    described = describe(arn, status, events, output, error, cause)
    while pending:
        ex_arn, text, ex_events, desc = pending.pop()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {}
        runs = []
        for run_arn, state in _map_run_states(ex_events).items():
            kids = by_run.get(run_arn, [])
            processor = _processor(parsed, state) if isinstance(parsed, Mapping) else None
            child_text = json.dumps(processor if processor is not None else {}, ensure_ascii=False)
            items = []
            for kid in kids:
                kid_events = kid["history"]
                last = kid_events[-1] if kid_events else {}
                kid_desc = describe(kid["executionArn"], kid["status"], kid_events,
                                    _details(last).get("output"), _details(last).get("error"), _details(last).get("cause"),
                                    map_run_machine_arn(run_arn), run_arn)
                items.append({k: kid_desc[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate",
                                                         "stopDate") if k in kid_desc})
                pending.append((kid["executionArn"], child_text, kid_events, kid_desc))
            counts: dict[str, int] = {"total": len(kids)}
            for kid in kids:
                key = {"SUCCEEDED": "succeeded", "FAILED": "failed", "ABORTED": "aborted", "TIMED_OUT": "timedOut"}.get(
                    kid["status"], "running")
                counts[key] = counts.get(key, 0) + 1
            ends = [e for e in ex_events if e["type"] in ("MapRunSucceeded", "MapRunFailed", "MapRunAborted")]
            run_status = "SUCCEEDED" if not counts.get("failed") and not counts.get("aborted") else "FAILED"
            if ends:
                run_status = {"MapRunSucceeded": "SUCCEEDED", "MapRunFailed": "FAILED", "MapRunAborted": "ABORTED"}[ends[-1]["type"]]
            starts = [k["startDate"] for k in items if "startDate" in k]
            stops = [k["stopDate"] for k in items if "stopDate" in k]
            run_desc: dict[str, Any] = {"mapRunArn": run_arn, "executionArn": ex_arn, "status": run_status,
                                        "executionCounts": counts}
            if starts:
                run_desc["startDate"] = min(starts)
            if stops:
                run_desc["stopDate"] = max(stops)
            runs.append({"describe": run_desc, "children": items})
        executions[ex_arn] = entry(desc or described, text, ex_events, runs)
    return executions


def listing(executions: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ListExecutions' items for the executions of a report (its list view)."""
    out = []
    for ex in executions.values():
        d = ex["describe"]
        out.append({k: d[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate")
                    if k in d})
    return out


def execution_page(title: str, executions: Mapping[str, Any], arn: str, home: str | None = None) -> str:
    """A self-contained page showing the execution ``arn``; the others in ``executions`` (its Map Run children)
    are a click away in the same page. ``home``: where its Home link goes (a test's page: ``../index.html``),
    else to the list of the executions in the page."""
    data: dict[str, Any] = {"title": title, "executions": dict(executions), "list": listing(executions)}
    if home is not None:
        data["home"] = home
    return page(title, {"source": "embedded", "view": "execution", "arn": arn}, data, inline=True)


def index_page(title: str, items: Sequence[Mapping[str, Any]], links: Mapping[str, str]) -> str:
    """A self-contained page listing executions (``items``: ListExecutions' shape, with ``verdict``, ``failures``,
    ``suite`` and ``test`` for a test, in suite order: the page groups them so, under a summary) that link to their own pages (``links``: execution ARN → relative URL)."""
    data = {"title": title, "executions": {}, "list": list(items), "links": dict(links)}
    return page(title, {"source": "embedded", "view": "list", "query": {}}, data, inline=True)


__all__ = ["describe", "entry", "execution_page", "graph_svg", "index_page", "listing", "machine_arn_of", "run_entries"]
