"""How long the console takes to show a big execution in a real browser (headless Chromium through Playwright).

The execution: a definition of 500 states (a chain of 491 Pass states, then an inline Map whose iterations run
8 Pass states) whose history has 25,000 events (AWS's limit), run on the durable engine into a SQLite store and served by ``asl serve`` (the in-process Server). Measured, each the median
of ``--runs`` page loads:

- ``console``: open ``/executions/<arn>`` until the page is drawn (its script sets ``data-ready``): the page's own
  timings (``firstPaint``: the execution, its graph and summary drawn, uncoloured, while the history loads;
  ``data``: the API calls, 25 pages of GetExecutionHistory among them, and the graph's SVG; ``analyze``: statuses
  from the history; ``render``: the graph coloured, the table's first 500 rows, the panels; ``total``: from the
  start of the navigation) and the document's own load as the browser's navigation timing sees it;
- ``report``: the same view from a ``--report``-style page on disk (file://, offline), and the file's size;
- ``click_state``: selecting the Map's inner state (1,334 visits), and ``history_last_page``: going to the history
  table's last page (500 rows a page).

    python benchmarks/console_render.py [--runs 5] [--json FILE] [--tiny]

Timings are reported, never judged in the tests (``--tiny`` runs it small, once, to prove it works).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asl.console.report import execution_page, run_entries  # noqa: E402
from asl.server import Server  # noqa: E402
from asl.service import StepFunctions  # noqa: E402
from asl.store import open_store  # noqa: E402
from tests.browser import find_chromium  # noqa: E402

INNER = 8


def definition(states: int) -> dict[str, Any]:
    """A chain of ``states - INNER - 1`` Pass states, then a Map whose processor is INNER Pass states."""
    chain = states - INNER - 1
    top: dict[str, Any] = {}
    for i in range(chain):
        top[f"Step{i:03d}"] = {"Type": "Pass", "Next": f"Step{i + 1:03d}" if i + 1 < chain else "Fan"}
    inner = {f"Inner{j}": {"Type": "Pass", **({"Next": f"Inner{j + 1}"} if j + 1 < INNER else {"End": True})}
             for j in range(INNER)}
    top["Fan"] = {"Type": "Map", "ItemsPath": "$.items", "ResultPath": None, "End": True,
                  "ItemProcessor": {"StartAt": "Inner0", "States": inner}}
    return {"StartAt": "Step000" if chain else "Fan", "States": top}


def items_for(states: int, events: int) -> int:
    """Map items that make the history ``events`` long at most: 1 + 2 per chained state + 6 + (2 + 2 * INNER) each."""
    fixed = 1 + 2 * (states - INNER - 1) + 5
    return max(1, (events - fixed) // (2 + 2 * INNER))


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--tiny", action="store_true", help="a small execution, one run (the tests use it)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the console's page here")
    args = parser.parse_args()
    states, target, runs = (30, 300, 1) if args.tiny else (500, 25_000, args.runs)
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium: install Debian's chromium package", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    defn = definition(states)
    n_items = items_for(states, target)
    figures: dict[str, Any] = {"states": states, "items": n_items}
    with tempfile.TemporaryDirectory() as tmp:
        sfn = StepFunctions(open_store(str(Path(tmp) / "store.db"), create=True))
        machine = sfn.create_state_machine(name="big", definition=json.dumps(defn),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        started = time.perf_counter()
        arn = sfn.start_execution(stateMachineArn=machine, name="big", input=json.dumps({"items": list(range(n_items))}))["executionArn"]
        sfn.worker().run_until_idle()
        figures["run_seconds"] = round(time.perf_counter() - started, 2)
        described = sfn.describe_execution(executionArn=arn)
        count = 0
        token = None
        while True:
            page_ = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
            count += len(page_["events"])
            token = page_.get("nextToken")
            if not token:
                break
        figures["events"] = count
        figures["status"] = described["status"]
        # the same execution as a report page
        from asl.model import load
        from asl.runtime import ExecutionOptions, run

        result = run(load(json.dumps(defn)), json.dumps({"items": list(range(n_items))}), ExecutionOptions())
        report = Path(tmp) / "report.html"
        report.write_text(execution_page("big", run_entries(result.execution_arn, result.status, result.output, None,
                                                            None, json.dumps(defn), result.history), result.execution_arn))
        figures["report_mib"] = round(report.stat().st_size / 2**20, 2)
        server = Server(sfn, port=0, workers=1)
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True)
                figures["console"] = measure(browser, f"{server.url}/executions/{quote(arn, safe='')}", runs, False,
                                             args.screenshot)
                figures["report"] = measure(browser, report.as_uri(), runs, True, None)
                browser.close()
        finally:
            server.stop()
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def measure(browser: Any, url: str, runs: int, offline: bool, screenshot: Path | None) -> dict[str, Any]:
    """Medians over ``runs`` fresh page loads (a new context each: nothing cached between them)."""
    samples: dict[str, list[float]] = {}
    for i in range(runs):
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, offline=offline)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("html[data-ready=true]", timeout=120_000)
        timings = page.evaluate("window.aslConsole.timings")
        nav = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                            " return {domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()")
        for key in ("firstPaint", "data", "analyze", "render", "total"):
            samples.setdefault(key, []).append(timings[key])
        samples.setdefault("domContentLoaded", []).append(nav["domContentLoaded"])
        # a click on the Map's inner state: its visits, the variables on entry
        t = page.evaluate("(() => { const t = performance.now();"
                          " document.querySelector('svg.asl-graph [data-state=\"Inner3\"]').dispatchEvent("
                          "new MouseEvent('click', {bubbles: true})); return performance.now() - t; })()")
        samples.setdefault("click_state", []).append(t)
        t = page.evaluate("(() => { const b = document.querySelector('#history .pager button[name=last]');"
                          " if (!b) return 0; const t = performance.now(); b.click();"
                          " document.body.offsetHeight; return performance.now() - t; })()")
        samples.setdefault("history_last_page", []).append(t)
        if screenshot is not None and i == 0:
            page.screenshot(path=str(screenshot))
        context.close()
    return {k: median(v) for k, v in samples.items()}


if __name__ == "__main__":
    sys.exit(main())
