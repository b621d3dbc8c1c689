"""asl serve end to end: a real boto3 client and the AWS CLI against a server process started by the test."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "tests" / "lambdas" / "handlers.py"
ROLE = "arn:aws:iam::123456789012:role/r"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


class ServerProcess:
    """``asl serve --port 0`` in its own process; ``url`` is read from the line it prints."""

    def __init__(self, tmp: Path, *args: str):
        self.log = tmp / f"serve-{time.monotonic_ns()}.log"
        self.store = tmp / "store.db"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "asl", "serve", "--port", "0", "--store",
                                          str(self.store), *args], stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                                         env={**os.environ, **CREDENTIALS})
        deadline = time.monotonic() + 30
        self.url = ""
        while not self.url:
            text = self.log.read_text()
            if "listening on " in text:
                self.url = text.split("listening on ", 1)[1].split()[0]
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"asl serve did not start: {text}")
            else:
                time.sleep(0.05)

    def client(self) -> Any:
        return boto3.client("stepfunctions", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Start servers with ``servers.append(ServerProcess(tmp_path, ...))``; all are stopped at the end."""
    started: list[ServerProcess] = []
    yield started
    for s in started:
        s.stop(signal.SIGKILL)


def serve(servers: list[ServerProcess], tmp: Path, *args: str) -> ServerProcess:
    s = ServerProcess(tmp, *args)
    servers.append(s)
    return s


def wait_status(sfn: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        d: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def chain(wait: int = 0) -> str:
    states: dict[str, Any] = {"A": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.a", "Next": "W"},
                              "W": {"Type": "Wait", "Seconds": wait, "Next": "B"},
                              "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.n, $.x)"}, "End": True}}
    return json.dumps({"StartAt": "A", "States": states})


def test_a_state_machine_life_with_boto3(servers: list[ServerProcess], tmp_path: Path) -> None:
    sfn = serve(servers, tmp_path).client()
    created = sfn.create_state_machine(name="life", definition=chain(), roleArn=ROLE)
    arn = created["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:life"
    # the same request again is the same state machine; another definition under the name is refused
    assert sfn.create_state_machine(name="life", definition=chain(), roleArn=ROLE)["stateMachineArn"] == arn
    with pytest.raises(ClientError) as exc:
        sfn.create_state_machine(name="life", definition=chain(1), roleArn=ROLE)
    assert exc.value.response["Error"] == {"Code": "StateMachineAlreadyExists",
                                           "Message": f"State Machine Already Exists: '{arn}'"}
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (described["name"], described["type"], described["status"], described["definition"]) == \
        ("life", "STANDARD", "ACTIVE", chain())
    ex = sfn.start_execution(stateMachineArn=arn, name="first", input='{"x": 41}')
    assert ex["executionArn"].endswith(":execution:life:first")
    done = wait_status(sfn, ex["executionArn"])
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"sum": 42})
    # the history: all of it, in pages, reversed, without data
    full = sfn.get_execution_history(executionArn=ex["executionArn"])["events"]
    assert [e["type"] for e in full][:2] == ["ExecutionStarted", "PassStateEntered"]
    assert full[-1]["type"] == "ExecutionSucceeded"
    pages = list(sfn.get_paginator("get_execution_history").paginate(
        executionArn=ex["executionArn"], PaginationConfig={"PageSize": 2}))
    assert len(pages) == (len(full) + 1) // 2
    assert [e for p in pages for e in p["events"]] == full
    rev = sfn.get_execution_history(executionArn=ex["executionArn"], reverseOrder=True)["events"]
    assert [e["id"] for e in rev] == [e["id"] for e in reversed(full)]
    bare = sfn.get_execution_history(executionArn=ex["executionArn"], includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]
    # an update: new executions run it, the finished one keeps the definition it ran
    revision = sfn.update_state_machine(stateMachineArn=arn, definition=chain(0).replace('"n": 1', '"n": 2'))["revisionId"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"] == revision
    assert sfn.describe_state_machine_for_execution(executionArn=ex["executionArn"])["definition"] == chain()
    second = sfn.start_execution(stateMachineArn=arn, input='{"x": 1}')["executionArn"]
    assert json.loads(wait_status(sfn, second)["output"]) == {"sum": 3}
    listed = [e["executionArn"] for p in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn, PaginationConfig={"PageSize": 1}) for e in p["executions"]]
    assert sorted(listed) == sorted([ex["executionArn"], second])
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"] == []
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as exc:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert exc.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_errors_have_aws_names_and_messages(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = serve(servers, tmp_path)
    sfn = server.client()

    def error(call: Any, **kw: Any) -> dict[str, str]:
        with pytest.raises(ClientError) as exc:
            call(**kw)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return dict(exc.value.response["Error"])

    missing = "arn:aws:states:us-east-1:123456789012:execution:none:none"
    assert error(sfn.describe_execution, executionArn=missing) == {
        "Code": "ExecutionDoesNotExist", "Message": f"Execution Does Not Exist: '{missing}'"}
    assert error(sfn.describe_state_machine, stateMachineArn="not_a_valid_arn") == {
        "Code": "InvalidArn", "Message": "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'"}
    bad = error(sfn.create_state_machine, name="bad", definition='{"StartAt": "X", "States": {}}', roleArn=ROLE)
    assert bad["Code"] == "InvalidDefinition" and bad["Message"].startswith("Invalid State Machine Definition: '")
    arn = sfn.create_state_machine(name="ok", definition=chain(), roleArn=ROLE)["stateMachineArn"]
    assert error(sfn.start_execution, stateMachineArn=arn, input="not some json") == {
        "Code": "InvalidExecutionInput",
        "Message": "Invalid State Machine Execution Input: 'Unrecognized token 'not': was expecting (JSON String, "
                   "Number, Array, Object or token 'null', 'true' or 'false')'"}
    assert error(sfn.list_executions, stateMachineArn=arn, maxResults=1001) == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: "
                   "Member must have value less than or equal to 1000"}
    assert error(sfn.start_sync_execution, stateMachineArn=arn) == {
        "Code": "StateMachineTypeNotSupported", "Message": "This operation is not supported by this type of state machine"}
    assert error(sfn.send_task_success, taskToken="nope", output="{}")["Code"] == "TaskDoesNotExist"
    assert error(sfn.list_state_machines, nextToken="garbage") == {"Code": "InvalidToken",
                                                                   "Message": "Invalid Token: 'Invalid token'"}


def _raw(url: str, method: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_bad_requests_get_aws_style_errors_never_a_traceback(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = serve(servers, tmp_path)
    target = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}
    assert _raw(server.url, "POST", b"{}", target) == (200, {"stateMachines": []})
    status, body = _raw(server.url, "POST", b"{not json", target)
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = _raw(server.url, "POST", b"[1]", target)
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = _raw(server.url, "POST", b'{"maxResults": "ten"}', target)
    assert (status, body["__type"]) == (400, "SerializationException") and "maxResults" in body["message"]
    status, body = _raw(server.url, "POST", b"{}", {**target, "X-Amz-Target": "AWSStepFunctions.DoSomething"})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = _raw(server.url, "POST", b"{}", {"Content-Type": "application/x-amz-json-1.0"})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = _raw(server.url, "POST", b"{}", {**target, "X-Amz-Target": "AWSStepFunctions.StartExecution"})
    assert (status, body) == (400, {"__type": "ValidationException", "message": "1 validation error detected: Value null "
                                    "at 'stateMachineArn' failed to satisfy constraint: Member must not be null"})
    status, body = _raw(server.url, "POST", b"x" * (9 * 1024 * 1024), target)
    assert (status, body["__type"]) == (413, "RequestEntityTooLarge")
    status, body = _raw(server.url, "PUT", b"", {})
    assert status == 405
    # the server is still up and says nothing about a traceback
    assert _raw(server.url, "POST", b"{}", target)[0] == 200
    assert "Traceback" not in server.output()


def test_the_aws_cli_creates_and_runs_a_state_machine(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = serve(servers, tmp_path)
    definition = tmp_path / "hello.asl.json"
    definition.write_text(chain())

    def aws(*args: str) -> Any:
        done = subprocess.run([str(Path(sys.executable).parent / "aws"), "--endpoint-url", server.url, "--output",
                               "json", "stepfunctions", *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **CREDENTIALS, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"})
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    arn = aws("create-state-machine", "--name", "Hello", "--definition", f"file://{definition}",
              "--role-arn", ROLE)["stateMachineArn"]
    ex = aws("start-execution", "--state-machine-arn", arn, "--input", '{"x": 1}')["executionArn"]
    deadline = time.monotonic() + 30
    while (d := aws("describe-execution", "--execution-arn", ex))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (d["status"], json.loads(d["output"])) == ("SUCCEEDED", {"sum": 2})
    events = aws("get-execution-history", "--execution-arn", ex, "--max-items", "3")["events"]
    assert len(events) == 3 and events[0]["type"] == "ExecutionStarted"
    express = aws("create-state-machine", "--name", "HelloExpress", "--definition", f"file://{definition}",
                  "--role-arn", ROLE, "--type", "EXPRESS")["stateMachineArn"]
    sync = aws("start-sync-execution", "--state-machine-arn", express, "--input", '{"x": 2}')
    assert (sync["status"], json.loads(sync["output"])) == ("SUCCEEDED", {"sum": 3})
    assert aws("validate-state-machine-definition", "--definition", "{}")["result"] == "FAIL"


def test_a_task_token_completed_from_a_second_process(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, "--lambda", f"notify={HANDLERS}:echo")
    sfn = server.client()
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}}, "End": True}}}
    arn = sfn.create_state_machine(name="approve", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    token = None
    deadline = time.monotonic() + 30
    while token is None and time.monotonic() < deadline:
        for ev in sfn.get_execution_history(executionArn=ex)["events"]:
            if ev["type"] == "TaskScheduled":
                token = json.loads(ev["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]
        time.sleep(0.05)
    assert token is not None
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    code = ("import boto3, sys; from botocore.config import Config; "
            "c = boto3.client('stepfunctions', endpoint_url=sys.argv[1], config=Config(retries={'max_attempts': 1})); "
            "c.send_task_success(taskToken=sys.argv[2], output='{\"approved\": true}')")
    subprocess.run([sys.executable, "-c", code, server.url, token], check=True, timeout=60,
                   env={**os.environ, **CREDENTIALS})
    done = wait_status(sfn, ex)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"approved": True})
    with pytest.raises(ClientError) as exc:  # a closed token
        sfn.send_task_success(taskToken=token, output="{}")
    assert exc.value.response["Error"]["Code"] == "TaskTimedOut"


def test_an_activity_worker(servers: list[ServerProcess], tmp_path: Path) -> None:
    sfn = serve(servers, tmp_path).client()
    activity = sfn.create_activity(name="review")["activityArn"]
    assert sfn.describe_activity(activityArn=activity)["name"] == "review"
    definition = {"StartAt": "Review", "States": {"Review": {"Type": "Task", "Resource": activity, "End": True}}}
    arn = sfn.create_state_machine(name="reviewed", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input='{"doc": 7}')["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="w1")
    assert json.loads(task["input"]) == {"doc": 7}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"ok": 7}')
    done = wait_status(sfn, ex)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"ok": 7})
    started = [e for e in sfn.get_execution_history(executionArn=ex)["events"] if e["type"] == "ActivityStarted"]
    assert started[0]["activityStartedEventDetails"]["workerName"] == "w1"
    assert [a["name"] for a in sfn.list_activities()["activities"]] == ["review"]
    sfn.delete_activity(activityArn=activity)
    assert sfn.list_activities()["activities"] == []


def test_start_sync_execution_and_test_state(servers: list[ServerProcess], tmp_path: Path) -> None:
    sfn = serve(servers, tmp_path).client()
    arn = sfn.create_state_machine(name="quick", definition=chain(), roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    r = sfn.start_sync_execution(stateMachineArn=arn, name="one", input='{"x": 9}')
    assert (r["status"], json.loads(r["output"]), r["name"]) == ("SUCCEEDED", {"sum": 10}, "one")
    assert r["executionArn"].startswith("arn:aws:states:us-east-1:123456789012:express:quick:one:")
    failing = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "bad"}}})
    arn2 = sfn.create_state_machine(name="fails", definition=failing, roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    r = sfn.start_sync_execution(stateMachineArn=arn2)
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "Oops", "bad") and "output" not in r
    t = sfn.test_state(definition=json.dumps({"Type": "Pass", "Parameters": {"a.$": "$.b"}, "End": True}),
                       input='{"b": 3}', roleArn=ROLE, inspectionLevel="DEBUG")
    assert (t["status"], json.loads(t["output"])) == ("SUCCEEDED", {"a": 3})
    assert json.loads(t["inspectionData"]["afterParameters"]) == {"a": 3}


def test_mocked_test_cases_and_preloaded_state_machines(servers: list[ServerProcess], tmp_path: Path) -> None:
    definition = {"StartAt": "Charge", "States": {"Charge": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "charge"},
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 1}], "OutputPath": "$.Payload", "End": True}}}
    (tmp_path / "Payments.asl.json").write_text(json.dumps(definition))
    (tmp_path / "mocks.json").write_text(json.dumps({
        "StateMachines": {"Payments": {"TestCases": {"Happy": {"Charge": "Ok"}, "Flaky": {"Charge": "BusyThenOk"}}}},
        "MockedResponses": {"Ok": {"0": {"Return": {"StatusCode": 200, "Payload": {"paid": True}}}},
                            "BusyThenOk": {"0-1": {"Throw": {"Error": "Busy", "Cause": "try later"}},
                                           "2": {"Return": {"StatusCode": 200, "Payload": {"paid": "late"}}}}}}))
    server = serve(servers, tmp_path, "--state-machine", str(tmp_path / "Payments.asl.json"),
                   "--express-state-machine", f"PaymentsNow={tmp_path / 'Payments.asl.json'}",
                   "--mock-config", str(tmp_path / "mocks.json"))
    sfn = server.client()
    names = {m["name"]: m["type"] for m in sfn.list_state_machines()["stateMachines"]}
    assert names == {"Payments": "STANDARD", "PaymentsNow": "EXPRESS"}
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Payments"
    happy = sfn.start_execution(stateMachineArn=arn + "#Happy", name="h")["executionArn"]
    assert happy == "arn:aws:states:us-east-1:123456789012:execution:Payments:h"  # no suffix
    assert json.loads(wait_status(sfn, happy)["output"]) == {"paid": True}
    flaky = sfn.start_execution(stateMachineArn=arn + "#Flaky")["executionArn"]
    assert json.loads(wait_status(sfn, flaky)["output"]) == {"paid": "late"}
    failed = [e for e in sfn.get_execution_history(executionArn=flaky)["events"] if e["type"] == "TaskFailed"]
    assert len(failed) == 2
    with pytest.raises(ClientError) as exc:
        sfn.start_execution(stateMachineArn=arn + "#Nope")
    assert exc.value.response["Error"]["Code"] == "InvalidArn" and "Nope" in exc.value.response["Error"]["Message"]


def test_a_restart_in_the_middle_of_an_execution(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = serve(servers, tmp_path)
    sfn = server.client()
    arn = sfn.create_state_machine(name="slow", definition=chain(3), roleArn=ROLE)["stateMachineArn"]
    crashed = sfn.start_execution(stateMachineArn=arn, name="crashed", input='{"x": 1}')["executionArn"]
    deadline = time.monotonic() + 30
    while not any(e["type"] == "WaitStateEntered" for e in sfn.get_execution_history(executionArn=crashed)["events"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert server.stop(signal.SIGKILL) != 0  # a crash in the middle of the Wait
    server = serve(servers, tmp_path)
    sfn = server.client()
    assert sfn.describe_execution(executionArn=crashed)["status"] == "RUNNING"
    accepted = sfn.start_execution(stateMachineArn=arn, name="accepted", input='{"x": 2}')["executionArn"]
    assert server.stop(signal.SIGTERM) == 0  # a clean shutdown with executions in flight
    assert "shutting down" in server.output()
    server = serve(servers, tmp_path)
    sfn = server.client()
    for ex, total in ((crashed, 2), (accepted, 3)):
        done = wait_status(sfn, ex)
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"sum": total})
        events = sfn.get_execution_history(executionArn=ex)["events"]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events].count("WaitStateEntered") == 1
    # the restarts did not cut the Wait short (test_durable checks that a resumed Wait keeps its wake-up time)
    events = sfn.get_execution_history(executionArn=crashed)["events"]
    entered = next(e["timestamp"] for e in events if e["type"] == "WaitStateEntered")
    exited = next(e["timestamp"] for e in events if e["type"] == "WaitStateExited")
    assert (exited - entered).total_seconds() >= 3


def test_versions_aliases_and_tags_over_http(servers: list[ServerProcess], tmp_path: Path) -> None:
    sfn = serve(servers, tmp_path).client()
    created = sfn.create_state_machine(name="v", definition=chain(), roleArn=ROLE, publish=True,
                                       versionDescription="first", tags=[{"key": "team", "value": "a"}])
    v1 = created["stateMachineVersionArn"]
    assert v1 == created["stateMachineArn"] + ":1"
    sfn.update_state_machine(stateMachineArn=created["stateMachineArn"], definition=chain().replace('"n": 1', '"n": 5'))
    v2 = sfn.publish_state_machine_version(stateMachineArn=created["stateMachineArn"])["stateMachineVersionArn"]
    assert v2.endswith(":2")
    assert [v["stateMachineVersionArn"] for v in
            sfn.list_state_machine_versions(stateMachineArn=created["stateMachineArn"])["stateMachineVersions"]] == [v2, v1]
    assert sfn.describe_state_machine(stateMachineArn=v1)["description"] == "first"
    alias = sfn.create_state_machine_alias(name="prod", routingConfiguration=[
        {"stateMachineVersionArn": v1, "weight": 100}])["stateMachineAliasArn"]
    ex = sfn.start_execution(stateMachineArn=alias, input='{"x": 0}')["executionArn"]
    done = wait_status(sfn, ex)
    assert json.loads(done["output"]) == {"sum": 1}
    assert (done["stateMachineVersionArn"], done["stateMachineAliasArn"]) == (v1, alias)
    with pytest.raises(ClientError) as exc:
        sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    assert exc.value.response["Error"]["Code"] == "ConflictException"
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[
        {"stateMachineVersionArn": v2, "weight": 100}])
    assert json.loads(wait_status(sfn, sfn.start_execution(stateMachineArn=alias, input='{"x": 0}')["executionArn"])
                      ["output"]) == {"sum": 5}
    sfn.tag_resource(resourceArn=created["stateMachineArn"], tags=[{"key": "env", "value": "test"}])
    sfn.untag_resource(resourceArn=created["stateMachineArn"], tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=created["stateMachineArn"])["tags"] == [{"key": "env", "value": "test"}]


def test_serve_refuses_bad_start_up_input_with_a_clear_error(servers: list[ServerProcess], tmp_path: Path) -> None:
    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "asl", "serve", "--port", "0", "--store", str(tmp_path / "s.db"),
                               *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)

    missing = start("--state-machine", str(tmp_path / "nope.asl.json"))
    assert missing.returncode == 2 and "cannot read file" in missing.stderr and "nope.asl.json" in missing.stderr
    (tmp_path / "bad.asl.json").write_text('{"StartAt": "X", "States": {}}')
    bad = start("--state-machine", str(tmp_path / "bad.asl.json"))
    assert bad.returncode == 1 and "InvalidDefinition" in bad.stderr and "MISSING_TRANSITION_TARGET" in bad.stderr
    (tmp_path / "mocks.json").write_text('{"StateMachines": {"m": {"TestCases": {"c": {"S": "Nope"}}}}}')
    mocks = start("--mock-config", str(tmp_path / "mocks.json"))
    assert mocks.returncode == 2 and "mocks.json" in mocks.stderr
    running = serve(servers, tmp_path)
    busy = start("--port", running.url.rsplit(":", 1)[1])
    assert busy.returncode == 2 and "cannot listen" in busy.stderr
    for r in (missing, bad, mocks, busy):
        assert "Traceback" not in r.stderr
