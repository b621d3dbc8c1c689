"""The web console in a real browser: headless Chromium (Debian's, driven by Playwright) opens the pages of an
in-process ``asl serve``, after their scripts ran, and finds the graph, the statuses and the history; a report
opens from file:// with the network off. Screenshots go to the test's temporary folder.

Without Chromium these tests are skipped, unless it is required (CI, or ASL_REQUIRE_CHROMIUM=1: scripts/test.sh
installs it and sets that), where its absence is a failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from . import browser as chromium
from .consolekit import DEMO, STATES, console_server, create, get, start, wait_done

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium.find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None  # noqa: N806
    if path is None or sync_playwright is None:
        missing = "Chromium (Debian's chromium package)" if path is None else "the playwright package"
        if chromium.required():
            pytest.fail(f"{missing} is required for the console's browser tests (ASL_REQUIRE_CHROMIUM or CI is set)")
        pytest.skip(f"{missing} is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: d.accept())  # Stop and Redrive ask first
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("console-browser")
    with console_server(folder) as (server, sfn):
        machine = create(sfn)
        ok = start(sfn, machine, "first")
        failed = start(sfn, machine, "second", {"items": [5], "ok": False})
        assert wait_done(sfn, ok) == "SUCCEEDED" and wait_done(sfn, failed) == "FAILED"
        yield server, sfn, machine, ok, failed


def ready(pg: Any) -> None:
    pg.wait_for_selector("html[data-ready=true]", timeout=WAIT_MS)


def classes(pg: Any, name: str) -> set[str]:
    return set(pg.get_attribute(f'svg.asl-graph [data-state="{name}"]', "class").split())


def execution_url(server: Any, arn: str) -> str:
    return f"{server.url}/executions/{quote(arn, safe='')}"


def test_an_execution_page_shows_the_graph_coloured_and_the_history(served: Any, page: Any, tmp_path: Path) -> None:
    server, _, _, arn, _ = served
    page.goto(execution_url(server, arn))
    ready(page)
    assert page.locator("svg.asl-graph").count() == 1
    drawn = page.eval_on_selector_all("svg.asl-graph [data-state]", "els => els.map(e => e.getAttribute('data-state'))")
    assert sorted(drawn) == sorted(STATES)
    assert page.text_content("#execution-status") == "SUCCEEDED"
    types = page.eval_on_selector_all("table.history tr.event td.type", "els => els.map(e => e.textContent)")
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded" and "LambdaFunctionFailed" in types
    # what happened to each state
    assert "status-caught" in classes(page, "Bad")
    assert {"status-succeeded", "status-retried"} <= classes(page, "Flaky")
    for name in ("Init", "Both", "Left", "Right", "Each", "Double", "Check", "Done"):
        assert "status-succeeded" in classes(page, name), name
    assert "status-notreached" in classes(page, "Broken")
    taken = page.eval_on_selector_all("svg.asl-graph .edge.edge-taken",
                                      "els => els.map(e => e.dataset.from + '>' + e.dataset.to)")
    assert {"Init>Flaky", "Check>Done", "Bad>Both"} <= set(taken) and "Check>Broken" not in taken
    # a state's input, output, variables and error on click
    page.click('svg.asl-graph [data-state="Bad"]')
    assert page.text_content("#state-name") == "Bad"
    panel = page.text_content("aside.state-panel")
    assert "Nope" in panel and "this task always fails" in panel and "Error (caught)" in panel
    assert '"items"' in panel and '"customer": "Ada"' in panel  # its input, and the variable Init assigned
    page.click('svg.asl-graph [data-state="Flaky"]')
    assert "Error (retried)" in page.text_content("aside.state-panel")
    # an event's details open in the table
    page.click("table.history tr.event[data-id='2']")
    assert '"name": "Init"' in page.text_content("table.history tr.detail")
    page.screenshot(path=str(tmp_path / "execution.png"), full_page=True)
    assert (tmp_path / "execution.png").stat().st_size > 10_000


def test_map_iterations_colour_the_graph_one_at_a_time(served: Any, page: Any) -> None:
    server, _, _, arn, _ = served
    page.goto(execution_url(server, arn) + "?state=Each")
    ready(page)
    assert page.text_content("#state-name") == "Each"
    buttons = page.locator(".iterations button")
    assert buttons.count() == 3
    buttons.nth(1).click()
    assert "iteration 1" in page.text_content(".focus-note")
    page.click('svg.asl-graph [data-state="Double"]')
    panel = page.text_content("aside.state-panel")
    assert '"twice": 4' in panel and "Each[1]" in panel


def test_a_failed_execution_shows_its_error_and_the_failed_state(served: Any, page: Any) -> None:
    server, _, _, _, failed = served
    page.goto(execution_url(server, failed))
    ready(page)
    assert page.text_content("#execution-status") == "FAILED"
    assert "status-failed" in classes(page, "Broken")
    assert "status-notreached" in classes(page, "Done")
    assert "NotOk" in page.text_content("main")
    assert page.locator("table.history tr.event td.type", has_text="ExecutionFailed").count() == 1


def test_from_the_list_to_an_execution(served: Any, page: Any) -> None:
    server, _, machine, arn, _ = served
    page.goto(server.url + "/")
    ready(page)
    assert page.locator("table.machines a", has_text="demo").count() == 1
    assert page.locator("table.executions tbody tr").count() == 2
    page.select_option("select[name=status]", "FAILED")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?status=FAILED")
    ready(page)
    assert page.locator("table.executions tbody tr").count() == 1
    page.goto(server.url + "/?name=fir")
    ready(page)
    page.click("table.executions a:text-is('first')")
    page.wait_for_url("**/executions/**")
    ready(page)
    assert page.text_content("#execution-status") == "SUCCEEDED"
    # and to its state machine, whose page draws the graph and lists its executions
    page.click("header .crumbs a:text-is('demo')")
    ready(page)
    assert page.locator("svg.asl-graph [data-state]").count() == len(STATES)
    assert page.locator("table.executions tbody tr").count() == 2


def test_a_running_execution_updates_live_and_can_be_stopped_and_redriven(served: Any, page: Any) -> None:
    server, sfn, _, _, _ = served
    waiting = create(sfn, "waiting", {"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 3600, "Next": "After"}, "After": {"Type": "Pass", "End": True}}})
    arn = start(sfn, waiting, "long", {})
    page.goto(execution_url(server, arn))
    ready(page)
    page.wait_for_selector('svg.asl-graph [data-state="Nap"].status-running', timeout=WAIT_MS)
    assert page.text_content("#execution-status") == "RUNNING"
    page.click("#stop")
    page.wait_for_selector("#execution-status:text-is('ABORTED')", timeout=WAIT_MS)
    assert "status-aborted" in classes(page, "Nap")
    assert page.locator("table.history td.type", has_text="ExecutionAborted").count() == 1
    page.click("#redrive")
    page.wait_for_selector("#execution-status:text-is('RUNNING')", timeout=WAIT_MS)
    page.wait_for_selector("table.history td.type:text-is('ExecutionRedriven')", timeout=WAIT_MS)
    page.click("#stop")
    page.wait_for_selector("#execution-status:text-is('ABORTED')", timeout=WAIT_MS)
    # a short wait ends by itself while the page polls
    short = create(sfn, "short", {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 2, "Next": "After"},
                                                               "After": {"Type": "Pass", "End": True}}})
    arn = start(sfn, short, "brief", {})
    page.goto(execution_url(server, arn))
    ready(page)
    page.wait_for_selector("#execution-status:text-is('SUCCEEDED')", timeout=WAIT_MS)
    page.wait_for_selector('svg.asl-graph [data-state="After"].status-succeeded', timeout=WAIT_MS)


def test_a_distributed_map_lists_its_children_which_open(served: Any, page: Any) -> None:
    server, sfn, _, _, _ = served
    machine = create(sfn, "fanout", {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}}}}})
    arn = start(sfn, machine, "fan", {"items": ["a", "b", "c"]})
    assert wait_done(sfn, arn) == "SUCCEEDED"
    page.goto(execution_url(server, arn))
    ready(page)
    runs = page.locator("#map-runs .map-run")
    assert runs.count() == 1
    children = runs.locator("table.executions tbody tr a")
    assert children.count() == 3
    children.first.click()
    page.wait_for_url("**/executions/**")
    ready(page)
    assert page.text_content("#execution-status") == "SUCCEEDED"
    assert "status-succeeded" in classes(page, "Work")
    page.wait_for_selector("a.parent-execution-link", timeout=WAIT_MS)


def test_a_nested_execution_is_linked_from_the_state_that_started_it(served: Any, page: Any) -> None:
    server, sfn, _, _, _ = served
    child = create(sfn, "child", {"StartAt": "Inside", "States": {"Inside": {"Type": "Pass", "End": True}}})
    parent = create(sfn, "parent", {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
        "Parameters": {"StateMachineArn": child, "Input": {"from": "parent"}}}}})
    arn = start(sfn, parent, "nest", {})
    assert wait_done(sfn, arn) == "SUCCEEDED"
    page.goto(execution_url(server, arn) + "?state=Call")
    ready(page)
    started = page.locator("aside.state-panel a[href*='/executions/']")
    assert started.count() == 1 and ":execution:child:" in started.text_content()
    started.click()
    page.wait_for_url("**/executions/*child*")
    ready(page)
    assert page.text_content("#execution-status") == "SUCCEEDED" and "status-succeeded" in classes(page, "Inside")


def test_a_report_opens_offline_from_a_file(browser: Any, tmp_path: Path) -> None:
    definition = tmp_path / "demo.asl.json"
    definition.write_text(json.dumps(DEMO))
    handlers = tmp_path / "handlers.py"
    handlers.write_text("from asl.errors import TaskFailed\n"
                        "calls = []\n"
                        "def flaky(value, context):\n"
                        "    calls.append(1)\n"
                        "    if len(calls) == 1:\n"
                        "        raise TaskFailed('Boom', 'first')\n"
                        "    return value\n"
                        "def bad(value, context):\n"
                        "    raise TaskFailed('Nope', 'never')\n")
    report = tmp_path / "report.html"
    from .consolekit import BAD, FLAKY

    done = subprocess.run([sys.executable, "-m", "asl", "run", str(definition), "--input", '{"items": [1, 2], "ok": true}',
                           "--task", f"{FLAKY}={handlers}:flaky", "--task", f"{BAD}={handlers}:bad", "--report", str(report)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    pg = context.new_page()
    pg.goto(report.as_uri())
    ready(pg)
    assert sorted(pg.eval_on_selector_all("svg.asl-graph [data-state]", "els => els.map(e => e.dataset.state)")) == sorted(STATES)
    assert pg.text_content("#execution-status") == "SUCCEEDED"
    assert "status-caught" in classes(pg, "Bad")
    assert pg.locator("table.history td.type:text-is('ExecutionSucceeded')").count() == 1
    pg.click('svg.asl-graph [data-state="Init"]')
    assert '"customer": "Ada"' in pg.text_content("aside.state-panel")
    pg.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    context.close()


NESTED = {"StartAt": "Outer", "States": {
    "Outer": {"Type": "Map", "ItemsPath": "$.rows", "Next": "Done", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
              "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Map", "End": True, "ItemProcessor": {
                  "StartAt": "Check", "States": {
                      "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "Big"}],
                                "Default": "Small"},
                      "Big": {"Type": "Fail", "Error": "TooBig"}, "Small": {"Type": "Succeed"}}}}}}},
    "Caught": {"Type": "Pass", "End": True}, "Done": {"Type": "Succeed"}}}
PARALLEL = {"StartAt": "Both", "States": {
    "Both": {"Type": "Parallel", "Next": "Done", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "Branches": [
        {"StartAt": "Quick", "States": {"Quick": {"Type": "Fail", "Error": "Oops"}}},
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 10, "Next": "Later"},
                                       "Later": {"Type": "Pass", "End": True}}}]},
    "Caught": {"Type": "Pass", "End": True}, "Done": {"Type": "Succeed"}}}


@pytest.mark.parametrize(("definition", "value", "expected", "owners"), [
    # an inner Map's failure fails its iteration of the outer Map, whose Catch catches it: MapStateFailed of the
    # outer Map follows the inner one's, and the inner Map's MapStateAborted is its own
    (NESTED, {"rows": [[1, 2], [3]]}, {"Outer": "caught", "Inner": "failed", "Check": "succeeded", "Big": "failed",
                                       "Small": "succeeded", "Caught": "succeeded", "Done": "notreached"},
     {"MapStateAborted": "Inner", "MapIterationFailed": "Outer"}),
    # a branch fails, the other is stopped in its Wait (its WaitStateAborted follows the Fail state's event)
    (PARALLEL, {}, {"Both": "caught", "Quick": "failed", "Slow": "aborted", "Later": "notreached",
                    "Caught": "succeeded", "Done": "notreached"}, {"WaitStateAborted": "Slow", "ParallelStateFailed": "Both"}),
])
def test_failures_inside_maps_and_parallels_are_given_to_the_right_states(
        browser: Any, tmp_path: Path, definition: dict[str, Any], value: Any, expected: dict[str, str],
        owners: dict[str, str]) -> None:
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(definition))
    done = subprocess.run([sys.executable, "-m", "asl", "run", str(path), "--input", json.dumps(value), "--report",
                           str(tmp_path / "report.html")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pg = browser.new_context(offline=True).new_page()
    pg.goto((tmp_path / "report.html").as_uri())
    ready(pg)
    got = {name: next(c[7:] for c in sorted(classes(pg, name)) if c.startswith("status-")) for name in expected}
    assert got == expected
    rows = pg.eval_on_selector_all("table.history tr.event", "els => els.map(e => [e.children[1].textContent, "
                                                             "e.children[2].firstChild ? e.children[2].firstChild.textContent : ''])")
    for event_type, state in owners.items():
        assert [s for t, s in rows if t == event_type][-1] == state, event_type
    pg.context.close()


def test_a_test_report_lists_the_tests_and_opens_each(browser: Any, tmp_path: Path) -> None:
    """index.html: a summary, a filter by verdict, the tests grouped by suite in suite order; a test's page goes
    Home to index.html."""
    (tmp_path / "hello.asl.json").write_text(json.dumps({"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": True}}}))
    (tmp_path / "zeta.test.json").write_text(json.dumps({"name": "zeta", "stateMachine": "hello.asl.json", "tests": [
        {"name": "passes", "input": {"a": 1}, "expect": {"status": "SUCCEEDED", "output": {"a": 1}}},
        {"name": "fails on purpose", "input": {"a": 1}, "expect": {"output": {"a": 2}}}]}))
    (tmp_path / "alpha.test.json").write_text(json.dumps({"name": "alpha", "stateMachine": "hello.asl.json", "tests": [
        {"name": "also passes", "input": {"b": 1}, "expect": {"output": {"b": 1}}}]}))
    done = subprocess.run([sys.executable, "-m", "asl", "test", "zeta.test.json", "alpha.test.json", "--report",
                           str(tmp_path / "report")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    index = tmp_path / "report" / "index.html"
    context = browser.new_context(offline=True)
    pg = context.new_page()
    pg.goto(index.as_uri())
    ready(pg)
    assert "2 of 3 tests passed" in pg.text_content(".test-summary")
    # grouped by suite, in the order the suites were given (not by start time)
    rows = pg.eval_on_selector_all("table.executions tbody tr", "els => els.map(e => e.className + ':' + "
                                                               "e.querySelector('th, td').textContent)")
    assert rows == ["suite-row:zeta · 1 of 2 passed", "test-row:passes", "test-row:fails on purpose",
                    "suite-row:alpha · 1 of 1 passed", "test-row:also passes"]
    assert pg.locator("table.executions .badge", has_text="failed").count() == 1
    # the filter by verdict
    pg.select_option("select[name=verdict]", "failed")
    pg.click("form.filters button[type=submit]")
    pg.wait_for_function("document.querySelectorAll('table.executions tr.test-row').length === 1")
    ready(pg)
    assert pg.text_content("table.executions tr.test-row td") == "fails on purpose"
    pg.click("table.executions a:has-text('fails on purpose')")
    pg.wait_for_url("**/tests/*.html")
    ready(pg)
    assert "status-succeeded" in classes(pg, "Hello")
    assert "failed" in pg.text_content(".test-result") and '"a": 2' in pg.text_content(".test-result")
    # Home (and the brand) go back to index.html, not to the list inside the test's own page
    assert pg.get_attribute("header .crumbs a:text-is('Home')", "href") == "../index.html"
    pg.click("header .crumbs a:text-is('Home')")
    pg.wait_for_url("**/report/index.html")
    ready(pg)
    assert pg.locator(".test-summary").count() == 1
    context.close()


def test_a_long_history_is_read_whole_from_both_ends(served: Any, page: Any) -> None:
    """Over 1,000 events: the page reads GetExecutionHistory's pages oldest first and newest first at once."""
    server, sfn, _, _, _ = served
    machine = create(sfn, "long", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ResultPath": None, "End": True,
        "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}}}})
    arn = start(sfn, machine, "long", {"items": list(range(600))})
    assert wait_done(sfn, arn) == "SUCCEEDED"
    page.goto(execution_url(server, arn))
    ready(page)
    ids = page.evaluate("window.aslConsole.view.events.map(e => e.id)")
    # started, the Map's entered and started, 6 events an iteration, its succeeded and exited, the execution's end
    assert ids == list(range(1, 3 + 600 * 6 + 3 + 1))
    assert page.text_content("#history .count") == f"{len(ids):,} events"
    assert page.locator("table.history tbody tr.event").count() == 500  # a page of rows at a time
    page.click("#history .pager button[name=last]")
    rows = page.eval_on_selector_all("table.history tbody tr.event", "els => els.map(e => Number(e.dataset.id))")
    assert rows == list(range(3501, len(ids) + 1))
    page.fill("#history .pager input[name=page]", "2")
    page.dispatch_event("#history .pager input[name=page]", "change")
    assert page.text_content("table.history tbody tr.event td.num") == "501"


def test_render_time_is_reported_by_the_page(served: Any, page: Any) -> None:
    """The page exposes its timings (what benchmarks/console_render.py reads); never judged here."""
    server, _, _, arn, _ = served
    started = time.monotonic()
    page.goto(execution_url(server, arn))
    ready(page)
    timings = page.evaluate("window.aslConsole.timings")
    assert timings["events"] > 0 and timings["total"] > 0 and time.monotonic() - started > 0


def test_the_render_benchmark_runs_at_tiny_size(browser: Any, tmp_path: Path) -> None:
    """benchmarks/console_render.py still works (its figures are reported in benchmarks/README.md, not judged)."""
    out = tmp_path / "figures.json"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "console_render.py"), "--tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["status"] == "SUCCEEDED" and figures["events"] > 100
    for view in ("console", "report"):
        assert figures[view]["total"] > 0 and figures[view]["click_state"] >= 0


FANFAIL = {"StartAt": "Fan", "States": {"Fan": {
    "Type": "Map", "ItemsPath": "$.items", "Next": "After",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Explode"}],
                  "Default": "Work"},
        "Explode": {"Type": "Fail", "Error": "Boom"}, "Work": {"Type": "Pass", "End": True}}}},
    "After": {"Type": "Pass", "End": True}}}


def test_a_failed_distributed_map_shows_its_map_run_and_error_and_its_children_link_only_to_pages(
        served: Any, page: Any) -> None:
    server, sfn, _, _, _ = served
    machine = create(sfn, "fanfail", FANFAIL)
    arn = start(sfn, machine, "fanfail-1", {"items": [{"n": 1}, {"n": 2, "bad": True}]})
    assert wait_done(sfn, arn) == "FAILED"
    page.goto(execution_url(server, arn) + "?state=Fan")
    ready(page)
    # the Map Run line: its id, a link (not the text of a URL)
    line = page.locator("aside.state-panel p", has_text="Map Run:")
    run_id = page.text_content("#map-runs .map-run h3").split(" · ")[1].split()[0]
    assert line.text_content() == "Map Run: " + run_id
    assert line.locator("a").text_content() == run_id
    # no empty error headings; the execution's error (its ExecutionFailed is no event of the state's)
    headings = page.eval_on_selector_all("aside.state-panel .state-error", "els => els.map(e => [e.querySelector('h3')"
                                         ".textContent, e.querySelector('.kv').children.length])")
    assert headings and all(n > 0 for _, n in headings), headings
    assert not any(h.startswith("Error · ExecutionFailed") or "MapStateFailed" in h for h, _ in headings), headings
    error = sfn.describe_execution(executionArn=arn)["error"]
    assert [h for h, _ in headings] == ["The execution's error, after this state · ExecutionFailed · event 7"]
    assert error in page.text_content("aside.state-panel .state-error")
    rows = page.eval_on_selector_all("table.history tr.event", "els => els.map(e => [e.children[1].textContent, "
                                                               "e.children[2].textContent])")
    assert [s for t, s in rows if t == "ExecutionFailed"] == [""]
    page.click("aside.state-panel button:has-text('Show its events in the history')")
    shown = page.eval_on_selector_all("table.history tr.event td.type", "els => els.map(e => e.textContent)")
    assert "MapStateFailed" in shown and "ExecutionFailed" not in shown
    # a child: its crumbs and summary go to the parent's state machine, execution and Map Run, never to a 404
    page.click("#map-runs table.executions tbody tr a >> nth=0")
    page.wait_for_url("**/executions/**")
    ready(page)
    page.wait_for_selector("a.parent-execution-link", timeout=WAIT_MS)
    crumbs = page.eval_on_selector_all("header .crumbs a", "els => els.map(e => e.textContent)")
    assert crumbs[:3] == ["Home", "fanfail", "fanfail-1"] and crumbs[3].startswith("Map Run ")
    hrefs = page.eval_on_selector_all("header a, main section.panel:first-of-type a", "els => els.map(e => e.href)")
    assert len(hrefs) >= 5
    for href in hrefs:
        assert get(href.split("#")[0])[0] == 200, href
    assert not any("%2F" in h and "/state-machines/" in h for h in hrefs), hrefs
    page.click("header .crumbs a.map-run-link")
    page.wait_for_url("**/executions/*fanfail-1*")
    ready(page)
    assert page.locator("#map-runs .map-run.wanted").count() == 1


def test_durations_carry_into_the_next_unit(browser: Any, tmp_path: Path) -> None:
    """The history's elapsed times (a report of a made-up history): a rounded value carries into the next unit."""
    from asl.console.report import describe, entry, execution_page

    t0 = 1_700_000_000.0
    offsets = [0, 0.9996, 9.9996, 59.999, 119.96, 179.77, 3599.6, 7199.6]
    events: list[dict[str, Any]] = [{"id": 1, "previousEventId": 0, "timestamp": t0, "type": "ExecutionStarted",
                                     "executionStartedEventDetails": {"input": "{}"}}]
    for i, offset in enumerate(offsets[1:-1], start=2):
        kind = "PassStateEntered" if i % 2 == 0 else "PassStateExited"
        events.append({"id": i, "previousEventId": i - 1, "timestamp": t0 + offset, "type": kind,
                       "stateEnteredEventDetails" if i % 2 == 0 else "stateExitedEventDetails": {"name": "P", "input": "{}", "output": "{}"}})
    events.append({"id": len(events) + 1, "previousEventId": len(events), "timestamp": t0 + offsets[-1],
                   "type": "ExecutionSucceeded", "executionSucceededEventDetails": {"output": "{}"}})
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:durations"
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    path = tmp_path / "durations.html"
    path.write_text(execution_page("durations", {arn: entry(describe(arn, "SUCCEEDED", events), definition, events)}, arn))
    pg = browser.new_context(offline=True).new_page()
    pg.goto(path.as_uri())
    ready(pg)
    elapsed = pg.eval_on_selector_all("table.history tr.event td:nth-child(4)", "els => els.map(e => e.textContent)")
    assert elapsed == ["+0 ms", "+1.000 s", "+10.0 s", "+60.0 s", "+2 min 0 s", "+3 min 0 s", "+60 min 0 s", "+2 h 0 min"]
    pg.context.close()


def test_the_graph_fits_whole_in_fit_mode_and_scrolls_at_actual_size(served: Any, page: Any) -> None:
    server, sfn, _, _, _ = served
    chain = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(30)}
    chain["S30"] = {"Type": "Pass", "End": True}
    machine = create(sfn, "tall", {"StartAt": "S0", "States": chain})
    arn = start(sfn, machine, "tall-1", {})
    assert wait_done(sfn, arn) == "SUCCEEDED"
    page.goto(execution_url(server, arn))
    ready(page)
    measure = ("() => { const box = document.querySelector('.graph'), svg = box.querySelector('svg');"
               " const b = box.getBoundingClientRect(), s = svg.getBoundingClientRect();"
               " return {fit: box.classList.contains('fit'), sh: box.scrollHeight, ch: box.clientHeight, sw: box.scrollWidth,"
               " cw: box.clientWidth, top: s.top - b.top, bottom: b.bottom - s.bottom, left: s.left - b.left,"
               " right: b.right - s.right, overflow: getComputedStyle(box).overflowY}; }")
    fit = page.evaluate(measure)
    assert fit["fit"] and fit["sh"] <= fit["ch"] + 1 and fit["sw"] <= fit["cw"] + 1, fit
    assert min(fit["top"], fit["bottom"], fit["left"], fit["right"]) >= 0, fit  # the end node is in the box
    page.click(".graph-tools button:has-text('Actual size')")
    actual = page.evaluate(measure)
    assert not actual["fit"] and actual["sh"] > actual["ch"] and actual["overflow"] == "auto", actual


def test_tables_align_headers_like_values_and_say_retried_and_filter_by_iteration(served: Any, page: Any) -> None:
    server, _, _, arn, _ = served
    page.goto(execution_url(server, arn))
    ready(page)
    aligned = ("() => Array.from(document.querySelectorAll('table.grid')).map(t => { const ths = t.querySelectorAll('thead th');"
               " const row = t.querySelector('tbody tr:not(.suite-row)'); if (!row) return [];"
               " return Array.from(row.children).map((td, i) => [ths[i].textContent, getComputedStyle(ths[i]).textAlign,"
               " getComputedStyle(td).textAlign]); })")
    for table in page.evaluate(aligned):
        for name, head, value in table:
            assert head.replace("start", "left") == value.replace("start", "left"), (name, head, value)
    # the States table says retried where the graph does
    assert "status-retried" in classes(page, "Flaky")
    assert page.locator("table.states tr[data-state=Flaky] .badge", has_text="retried").count() == 1
    # the history filter finds an iteration as it is shown
    page.fill("#history input[type=search]", "Each[1]")
    states = page.eval_on_selector_all("table.history tr.event td:nth-child(3)", "els => els.map(e => e.textContent)")
    assert states and all("Each[1]" in s for s in states), states
    page.goto(server.url + "/")
    ready(page)
    for table in page.evaluate(aligned):
        for name, head, value in table:
            assert head.replace("start", "left") == value.replace("start", "left"), (name, head, value)
