"""The web console's routes in asl serve (no browser: what the server answers) and the reports' pages.

The browser tests (tests/test_console_browser.py) check what the pages show."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from asl.console.assets import asset, page
from asl.console.report import run_entries

from .consolekit import DEMO, STATES, console_server, create, get, start, wait_done

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("console")
    with console_server(folder) as (server, sfn):
        machine = create(sfn)
        arn = start(sfn, machine, "first")
        assert wait_done(sfn, arn) == "SUCCEEDED"
        yield server.url, machine, arn


def config_of(body: bytes) -> dict[str, Any]:
    found = re.search(rb'<script type="application/json" id="asl-config">(.*?)</script>', body)
    assert found is not None
    value: dict[str, Any] = json.loads(found.group(1))
    return value


def test_the_pages_are_html_shells_that_name_their_view(served: Any) -> None:
    url, machine, arn = served
    status, headers, body = get(url + "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert config_of(body) == {"source": "api", "view": "list", "query": {}}
    assert headers["cache-control"] == "no-store" and "script-src 'self'" in headers["content-security-policy"]
    status, _, body = get(url + "/?" + "&".join(["status=FAILED", "name=fir", "page=2", "stateMachine=" + quote(machine)]))
    assert status == 200
    assert config_of(body)["query"] == {"status": "FAILED", "name": "fir", "page": 2, "stateMachine": machine}
    status, _, body = get(url + "/state-machines/" + quote(machine, safe=""))
    assert status == 200 and config_of(body) == {"source": "api", "view": "stateMachine", "arn": machine, "query": {}}
    # an ARN in the path works percent-encoded or not
    for path in (quote(arn, safe=""), arn):
        status, _, body = get(url + "/executions/" + path + "?state=Bad")
        assert status == 200 and config_of(body) == {"source": "api", "view": "execution", "arn": arn,
                                                     "query": {"state": "Bad"}}
    assert b"/static/console.js?v=" in body and b"/static/console.css?v=" in body
    # the API is still POST /
    assert get(url + "/", method="HEAD")[0] == 200


def test_the_graph_of_a_state_machine_and_of_an_execution(served: Any) -> None:
    url, machine, arn = served
    for path in ("/state-machines/" + quote(machine, safe=""), "/executions/" + quote(arn, safe="")):
        status, headers, body = get(url + path + "/graph.svg")
        assert status == 200 and headers["content-type"].startswith("image/svg+xml")
        svg = body.decode()
        assert svg.startswith("<svg") and 'class="asl-graph"' in svg
        for name in STATES:
            assert f'data-state="{name}"' in svg
        # revalidated by its ETag
        etag = headers["etag"]
        assert headers["cache-control"] == "no-cache"
        status, headers, body = get(url + path + "/graph.svg", {"If-None-Match": etag})
        assert (status, body, headers["etag"]) == (304, b"", etag)


def test_static_files_have_etags_and_are_cached_by_version(served: Any) -> None:
    url, _, _ = served
    js = asset("console.js")
    assert js is not None
    status, headers, body = get(url + "/static/console.js")
    assert status == 200 and body == js.body and headers["content-type"].startswith("text/javascript")
    assert headers["etag"] == js.etag and headers["cache-control"] == "no-cache"
    status, headers, _ = get(url + f"/static/console.js?v={js.version}")
    assert status == 200 and headers["cache-control"] == "public, max-age=31536000, immutable"
    status, headers, body = get(url + "/static/console.css", {"If-None-Match": f'"x", {headers["etag"]}'})
    assert status == 200  # the stylesheet's ETag is not the script's
    css = asset("console.css")
    assert css is not None
    status, headers, body = get(url + "/static/console.css", {"If-None-Match": css.etag})
    assert (status, body) == (304, b"")
    status, headers, body = get(url + "/static/console.css", method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(css.body))


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/executions/arn:aws:states:us-east-1:123456789012:execution:demo:nobody", 404, "Execution Does Not Exist"),
    ("/state-machines/arn:aws:states:us-east-1:123456789012:stateMachine:nothing", 404, "State Machine Does Not Exist"),
    ("/executions/not-an-arn", 400, "Invalid Arn"),
    ("/state-machines/arn:aws:states:us-east-1:123456789012:execution:demo:first", 400, "Resource type not valid"),
    ("/executions/arn:aws:states:us-east-1:123456789012:execution:demo:nobody/graph.svg", 404, "Execution Does Not Exist"),
    ("/executions/%ff%fe", 400, "not UTF-8"),
    ("/?status=SLEEPING", 400, "status must be one of"),
    ("/?page=0", 400, "page must be a whole number"),
    ("/?page=two", 400, "page must be a whole number"),
    ("/?color=red", 400, "Unknown query parameter &#x27;color&#x27;"),
    ("/?status=FAILED&status=RUNNING", 400, "given 2 times"),
    ("/?name=" + "x" * 81, 400, "at most 80 characters"),
    ("/?stateMachine=demo", 400, "must be a state machine ARN"),
    ("/?stateMachine=arn:aws:states:us-east-1:123456789012:stateMachine:nothing", 404, "State Machine Does Not Exist"),
    ("/static/nothing.js", 404, "no static file"),
    ("/static/../server.py", 404, "no static file"),
    ("/elsewhere", 404, "Nothing is served at /elsewhere"),
    ("/executions/", 404, "names no ARN"),
])
def test_bad_urls_get_a_clear_page_not_a_traceback(served: Any, path: str, status: int, words: str) -> None:
    url, _, _ = served
    got, headers, body = get(url + path)
    text = body.decode()
    assert got == status and headers["content-type"] == "text/html; charset=utf-8"
    assert words in text and "Traceback" not in text and "<script" not in text


def test_a_get_with_a_body_is_read_and_the_connection_stays_usable(served: Any) -> None:
    import http.client

    url, _, _ = served
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/", body=b"ignored", headers={"Content-Length": "7"})
    first = conn.getresponse()
    assert first.status == 200
    first.read()
    conn.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                                                   "Content-Type": "application/x-amz-json-1.0"})
    second = conn.getresponse()
    assert second.status == 200 and json.loads(second.read())["stateMachines"]
    conn.close()


def test_the_page_escapes_data_that_would_end_its_script_block() -> None:
    html = page("t", {"view": "list"}, {"text": "</script><script>alert(1)</script><!--"}, inline=True)
    data = html.split('id="asl-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and json.loads(data) == {"text": "</script><script>alert(1)</script><!--"}


def test_report_data_has_the_api_shapes() -> None:
    from asl.model import load
    from asl.runtime import ExecutionOptions, run

    from .consolekit import tasks

    text = json.dumps(DEMO)
    result = run(load(text), json.dumps({"items": [1, 2], "ok": False}), ExecutionOptions(tasks=tasks()))
    assert result.status == "FAILED"
    data = run_entries(result.execution_arn, result.status, result.output, result.error, result.cause, text, result.history)
    ex = data[result.execution_arn]
    assert ex["describe"]["status"] == "FAILED" and ex["describe"]["error"] == "NotOk"
    assert ex["describe"]["stateMachineArn"].endswith(":stateMachine:StateMachine")
    assert isinstance(ex["describe"]["startDate"], float) and isinstance(ex["events"][0]["timestamp"], float)
    assert ex["events"][-1]["type"] == "ExecutionFailed" and 'data-state="Broken"' in ex["graph"]


def test_asl_run_report_writes_one_self_contained_page(tmp_path: Path) -> None:
    definition = tmp_path / "demo.asl.json"
    definition.write_text(json.dumps({"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": True}}}))
    report = tmp_path / "out" / "run.html"
    done = subprocess.run([sys.executable, "-m", "asl", "run", str(definition), "--input", '{"who": "Ada"}',
                           "--report", str(report)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"who": "Ada"} and f"report: {report}" in done.stderr
    html = report.read_text()
    assert "<link" not in html.replace('<link rel="icon" href="data:,">', "") and 'src="' not in html
    config = json.loads(html.split('id="asl-config">', 1)[1].split("</script>", 1)[0])
    assert config["source"] == "embedded" and config["view"] == "execution"
    data = json.loads(html.split('id="asl-data">', 1)[1].split("</script>", 1)[0])
    assert data["executions"][config["arn"]]["events"][-1]["type"] == "ExecutionSucceeded"
    # a report that cannot be written is an error (exit 2), not a traceback
    (tmp_path / "file").write_text("")
    done = subprocess.run([sys.executable, "-m", "asl", "run", str(definition), "--report", str(tmp_path / "file" / "x.html")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "error: cannot write the report" in done.stderr and "Traceback" not in done.stderr


def test_the_static_files_are_package_data() -> None:
    """A non-editable install has them: pyproject's package data names them."""
    text = (ROOT / "pyproject.toml").read_text()
    assert '"console/static/*.css", "console/static/*.js"' in text
    for name in ("console.js", "console.css"):
        assert asset(name) is not None
