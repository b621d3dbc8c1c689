"""HTTP Tasks (arn:aws:states:::http:invoke) against a local HTTP server: the request as the Task describes it
(method, headers, query parameters, a JSON or form-encoded body, a connection's authorization), the result's shape,
and the errors (States.Http.StatusCode.<code>, States.Http.Socket)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner

from asl.adapters import Adapters
from asl.adapters.http import Connection, HttpInvoke
from asl.cli import main
from asl.interpreter import ExecutionOptions, ExecutionResult, run
from asl.model import load

CONNECTION = "arn:aws:events:us-east-1:123456789012:connection/Shop/81210c42-8af1-456b-9c4a-6ff02fc664ac"


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        Recorder.seen.append({"method": self.command, "path": url.path, "query": parse_qsl(url.query),
                              "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if url.path.startswith("/status/"):
            code = int(url.path.rsplit("/", 1)[1])
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")
            return
        out = json.dumps({"ok": True, "path": url.path}).encode() if url.path != "/text" else b"plain words"
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json" if url.path != "/text" else "text/plain")
        self.send_header("X-Trace", "abc")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def call(parameters: dict[str, Any], connections: dict[str, Connection] | None = None) -> ExecutionResult:
    adapters = Adapters()
    HttpInvoke(connections).register_in(adapters)
    machine = load({"StartAt": "H", "States": {"H": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                                                      "Parameters": parameters, "End": True}}})
    return run(machine, "{}", ExecutionOptions(adapters=adapters))


def test_a_get_with_headers_query_and_a_connection(server: str) -> None:
    shop = Connection("Shop", "API_KEY", api_key_name="x-api-key", api_key_value="secret", query={"tenant": "t1"})
    r = call({"ApiEndpoint": f"{server}/orders", "Method": "GET", "Headers": {"Accept": "application/json"},
              "QueryParameters": {"page": "2"}, "Authentication": {"ConnectionArn": CONNECTION}}, {"Shop": shop})
    assert r.status == "SUCCEEDED", r.cause
    out = r.output_value
    assert (out["StatusCode"], out["StatusText"], out["ResponseBody"]) == (200, "OK", {"ok": True, "path": "/orders"})
    assert out["Headers"]["x-trace"] == ["abc"]
    seen = Recorder.seen[-1]
    assert seen["method"] == "GET" and seen["query"] == [("page", "2"), ("tenant", "t1")]
    assert seen["headers"]["x-api-key"] == "secret" and seen["headers"]["accept"] == "application/json"


def test_bodies_json_and_form_encoded_and_basic_authentication(server: str) -> None:
    basic = Connection("Shop", "BASIC", username="ada", password="pw")
    r = call({"ApiEndpoint": f"{server}/orders", "Method": "POST", "RequestBody": {"id": 7, "tags": ["a", "b"]},
              "InvocationConfig": {"ConnectionArn": CONNECTION}}, {CONNECTION: basic})
    assert r.output_value["StatusCode"] == 201 and r.output_value["StatusText"] == "Created"
    seen = Recorder.seen[-1]
    assert json.loads(seen["body"]) == {"id": 7, "tags": ["a", "b"]} and seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["authorization"] == "Basic " + base64.b64encode(b"ada:pw").decode()
    for array_format, expected in (("BRACKETS", [("tags[]", "a"), ("tags[]", "b")]), ("COMMAS", [("tags", "a,b")]),
                                   ("INDICES", [("tags[0]", "a"), ("tags[1]", "b")]), ("REPEAT", [("tags", "a"), ("tags", "b")])):
        call({"ApiEndpoint": f"{server}/form", "Method": "PUT", "RequestBody": {"id": "7", "tags": ["a", "b"]},
              "Transform": {"RequestBodyEncoding": "URL_ENCODED", "RequestEncodingOptions": {"ArrayFormat": array_format}}})
        seen = Recorder.seen[-1]
        assert parse_qsl(seen["body"]) == [("id", "7"), *expected]
        assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"
    text = call({"ApiEndpoint": f"{server}/text", "Method": "GET"}).output_value
    assert text["ResponseBody"] == "plain words"


def test_http_errors(server: str) -> None:
    r = call({"ApiEndpoint": f"{server}/status/404", "Method": "GET"})
    assert (r.status, r.error, r.cause) == ("FAILED", "States.Http.StatusCode.404", "Not Found")
    r = call({"ApiEndpoint": f"{server}/status/429", "Method": "DELETE"})
    assert r.error == "States.Http.StatusCode.429"
    r = call({"ApiEndpoint": "http://127.0.0.1:9/nothing", "Method": "GET"})
    assert r.error == "States.Http.Socket" and "127.0.0.1:9" in (r.cause or "")


def test_an_http_task_needs_no_configuration_and_takes_connections_from_asl_toml(server: str, tmp_path: Path) -> None:
    definition = tmp_path / "h.asl.json"
    definition.write_text(json.dumps({"StartAt": "H", "States": {"H": {
        "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "OutputPath": "$.ResponseBody", "End": True,
        "Parameters": {"ApiEndpoint": f"{server}/x", "Method": "GET", "Authentication": {"ConnectionArn": CONNECTION}}}}}))
    r = CliRunner().invoke(main, ["run", str(definition)])
    assert r.exit_code == 0 and json.loads(r.output) == {"ok": True, "path": "/x"}, r.output
    assert "authorization" not in Recorder.seen[-1]["headers"]
    (tmp_path / "asl.toml").write_text('[http.connections.Shop]\nauthorization = "OAUTH_CLIENT_CREDENTIALS"\n'
                                       'token = "tok"\nheaders = { X-Team = "orders" }\n')
    r = CliRunner().invoke(main, ["run", str(definition), "--config", str(tmp_path / "asl.toml")])
    assert r.exit_code == 0, r.output
    assert Recorder.seen[-1]["headers"]["authorization"] == "Bearer tok"
    assert Recorder.seen[-1]["headers"]["x-team"] == "orders"
