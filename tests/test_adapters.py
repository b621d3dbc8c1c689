"""Adapters: the registry, and local Lambda emulation in separate processes."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asl.adapters import Adapters, TaskRequest
from asl.adapters.lambda_local import LambdaFunction, LocalLambda
from asl.interpreter import ExecutionOptions, ExecutionResult, run
from asl.model import load

HERE = Path(__file__).resolve().parent / "lambdas"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.fixture
def local() -> Iterator[LocalLambda]:
    fns = [LambdaFunction(n, f"handlers.{n}", str(HERE), timeout=2) for n in
           ("echo", "count", "fail", "custom", "crash", "chatty", "approve")]
    fns += [LambdaFunction("slow", "handlers.slow", str(HERE), timeout=1),
            LambdaFunction("describe", "handlers.py:describe", str(HERE), timeout=5, environment={"GREETING": "hi"})]
    lam = LocalLambda(fns)
    yield lam
    lam.close()


def execute(local: LocalLambda, state: dict[str, Any], data: Any = None) -> ExecutionResult:
    adapters = Adapters()
    local.register_in(adapters)
    machine = load({"StartAt": "T", "States": {"T": {"Type": "Task", "End": True, **state}}})
    return run(machine, json.dumps(data if data is not None else {}), ExecutionOptions(adapters=adapters))


def test_registry_matches_patterns_and_later_registrations_win() -> None:
    class Fixed:
        def __init__(self, v: Any):
            self.v = v

        def invoke(self, request: TaskRequest) -> Any:
            return self.v

    a = Adapters()
    a.register("arn:aws:states:::sqs:*", Fixed(1))
    a.register("arn:aws:states:::sqs:sendMessage", Fixed(2))
    assert a.resolve("arn:aws:states:::sqs:sendMessage").v == 2  # type: ignore[union-attr]
    assert a.resolve("arn:aws:states:::sqs:deleteMessage").v == 1  # type: ignore[union-attr]
    assert a.resolve("arn:aws:states:::sns:publish") is None
    machine = load({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}})
    assert run(machine, "{}", ExecutionOptions(adapters=a)).output == "2"
    # a callable for the exact ARN comes first
    assert run(machine, "{}", ExecutionOptions(adapters=a, tasks={"arn:aws:states:::sqs:sendMessage": lambda v, c: 3})).output == "3"


def test_plain_arn_passes_the_input_and_returns_the_result(local: LocalLambda) -> None:
    r = execute(local, {"Resource": ARN + "echo"}, {"order": 7})
    assert r.status == "SUCCEEDED" and r.output_value == {"order": 7}
    assert [e["type"] for e in r.history][2:5] == ["LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]


def test_lambda_invoke_returns_the_invoke_response(local: LocalLambda) -> None:
    r = execute(local, {"Resource": INVOKE, "Parameters": {"FunctionName": ARN + "echo", "Payload": {"a": 1}}})
    out = r.output_value
    assert out["Payload"] == {"a": 1} and out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST"
    assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200 and out["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"] == "8"


def test_an_exception_becomes_the_error_with_lambdas_cause(local: LocalLambda) -> None:
    r = execute(local, {"Resource": ARN + "fail"}, {"order": 7})
    assert (r.status, r.error) == ("FAILED", "ValueError")
    cause = json.loads(r.cause or "")
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "bad order 7" and cause["errorType"] == "ValueError"
    assert cause["stackTrace"][0].startswith('  File "/var/task/handlers.py", line ')
    assert ", " in r.cause  # plain ARNs pass Lambda's own JSON through; lambda:invoke re-serialises it compactly
    r = execute(local, {"Resource": INVOKE, "Parameters": {"FunctionName": "custom"}})
    assert (r.error, json.loads(r.cause or "")["errorMessage"]) == ("OutOfStock", "no apples")
    assert '", "' not in (r.cause or "")


def test_unknown_function_is_resource_not_found(local: LocalLambda) -> None:
    r = execute(local, {"Resource": INVOKE, "Parameters": {"FunctionName": "nope"}})
    assert r.error == "Lambda.ResourceNotFoundException"
    assert (r.cause or "").startswith("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST (Service: AWSLambda")


def test_function_timeout_and_crash_are_named_by_lambdas_error_type(local: LocalLambda) -> None:
    """Lambda's answer carries an errorType for both (Sandbox.Timedout, Runtime.ExitError), which names the Task's
    error; the cause is that answer."""
    r = execute(local, {"Resource": ARN + "slow"}, {"sleep": 5})
    cause = json.loads(r.cause or "")
    assert r.error == "Sandbox.Timedout" and cause["errorType"] == "Sandbox.Timedout"
    assert cause["errorMessage"].startswith("RequestId: ") and cause["errorMessage"].endswith(
        " Error: Task timed out after 1.00 seconds")
    r = execute(local, {"Resource": ARN + "crash"})
    assert r.error == "Runtime.ExitError" and "Runtime exited with error: exit status 3" in (r.cause or "")
    assert execute(local, {"Resource": ARN + "echo"}, {"after": "crash"}).status == "SUCCEEDED"


def test_task_timeout_shorter_than_the_functions_is_states_timeout(local: LocalLambda) -> None:
    r = execute(local, {"Resource": INVOKE, "Parameters": {"FunctionName": "slow", "Payload": {"sleep": 0.2}}, "TimeoutSeconds": 5})
    assert r.status == "SUCCEEDED" and r.output_value["Payload"] == "late"
    lam = LocalLambda([LambdaFunction("slow", "handlers.slow", str(HERE), timeout=30)])
    try:
        r = execute(lam, {"Resource": INVOKE, "Parameters": {"FunctionName": "slow", "Payload": {"sleep": 10}}, "TimeoutSeconds": 1})
    finally:
        lam.close()
    assert (r.status, r.error) == ("FAILED", "States.Timeout")
    assert [e["type"] for e in r.history][-2:] == ["TaskTimedOut", "ExecutionFailed"]


def test_warm_processes_are_reused(local: LocalLambda) -> None:
    first = execute(local, {"Resource": ARN + "count"}).output_value
    second = execute(local, {"Resource": ARN + "count"}).output_value
    assert second == {"calls": first["calls"] + 1, "pid": first["pid"]}


def test_function_processes_are_forked_from_one_server_as_if_started_anew(tmp_path: Path) -> None:
    """Processes come from the fork server, with the function's environment, directory, arguments and import path;
    a function whose environment sets a variable Python reads at start-up gets a process started anew."""
    fns = [LambdaFunction("a", "handlers.process", str(HERE), environment={"GREETING": "hi"},
                          import_path=(str(tmp_path),)),
           LambdaFunction("b", "handlers.process", str(HERE), environment={"PYTHONOPTIMIZE": "1"}),
           LambdaFunction("tz", "handlers.process", str(HERE), environment={"TZ": "Asia/Tokyo"})]
    lam = LocalLambda(fns)
    try:
        a = execute(lam, {"Resource": ARN + "a"}).output_value
        assert lam._server is not None and a["ppid"] == lam._server.proc.pid  # forked by the server
        assert a["cwd"] == str(HERE) and a["env"] == "hi" and a["task_root"] == str(HERE) and a["optimize"] == 0
        assert a["argv"] == ["handlers.process", str(HERE)]
        adapters_dir = str(Path(__file__).resolve().parents[1] / "asl" / "adapters")
        assert adapters_dir not in a["path"] and a["path"][:2] == [str(HERE), str(tmp_path)]
        b = execute(lam, {"Resource": ARN + "b"}).output_value
        assert b["ppid"] == os.getpid() and b["optimize"] == 1  # started by this process, with -O's effect
        tz = execute(lam, {"Resource": ARN + "tz"}).output_value
        assert tz["ppid"] == lam._server.proc.pid and tz["zone"] == "JST"  # forked, with the C library's TZ read again
    finally:
        lam.close()


def test_processes_orphaned_by_the_fork_servers_end_are_retired(local: LocalLambda) -> None:
    first = execute(local, {"Resource": ARN + "count"}).output_value
    assert local._server is not None
    local._server.proc.kill()
    local._server.proc.wait()
    second = execute(local, {"Resource": ARN + "count"}).output_value
    assert second["calls"] == 1 and second["pid"] != first["pid"]  # a new process (its exit status is knowable)
    r = execute(local, {"Resource": ARN + "crash"})
    assert r.error == "Runtime.ExitError" and "Runtime exited with error: exit status 3" in (r.cause or "")


SUBREAPER = """
import ctypes, sys
sys.path.insert(0, sys.argv[1])
from asl.adapters.lambda_local import LambdaFunction, LocalLambda
from tests.test_adapters import ARN, HERE, execute
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(77)
lam = LocalLambda([LambdaFunction("echo", "handlers.echo", str(HERE))])
assert execute(lam, {"Resource": ARN + "echo"}, {"a": 1}).output_value == {"a": 1}
lam._server.proc.kill()
lam._server.proc.wait()
lam.close()  # the warm process, orphaned, is now this process's child: its end is seen by waitpid
print("closed")
"""


def test_closing_after_the_fork_servers_end_when_this_process_reaps_orphans() -> None:
    """As PID 1 in a container (or a subreaper), the orphaned processes become this process's: close() must not wait
    for them forever."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", SUBREAPER, str(root)], capture_output=True, text=True, timeout=60)
    if done.returncode == 77:
        pytest.skip("no PR_SET_CHILD_SUBREAPER here")
    assert done.returncode == 0 and done.stdout.strip() == "closed", done.stderr


def test_handler_output_is_captured_and_context_is_lambdas(local: LocalLambda) -> None:
    execute(local, {"Resource": ARN + "chatty"}, {"order": 42})
    assert local.invocations[-1].function == "chatty" and local.invocations[-1].logs == "processing 42\n"
    out = execute(local, {"Resource": ARN + "describe"}).output_value
    assert out["name"] == "describe" and out["arn"] == ARN + "describe" and out["env"] == "hi"
    assert 0 < out["left"] <= 5000 and out["region"] == "us-east-1" and len(out["request"]) == 36


def test_wait_for_task_token_through_lambda_invoke(tmp_path: Path, local: LocalLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function gets the token and answers it from its own process through the SQLite store."""
    from asl.service import StepFunctions
    from asl.store import SQLiteStore

    store = tmp_path / "s.db"
    monkeypatch.setenv("ASL_STORE", str(store))
    sfn = StepFunctions(SQLiteStore(store))
    sm = sfn.create_state_machine(name="m", definition=json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": INVOKE + ".waitForTaskToken",
        "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}}, "End": True}}}))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    adapters = Adapters()
    local.register_in(adapters)
    w = sfn.worker(adapters=adapters)
    w.run_until_idle(timeout=10)
    d = sfn.describe_execution(executionArn=arn)
    assert (d["status"], json.loads(d["output"])) == ("SUCCEEDED", {"approved": True})
    types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    assert types[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]


def test_stack_traces_are_the_same_whichever_directory_the_command_started_in(tmp_path: Path) -> None:
    # The same --lambda flag, from the handler's folder, the project root and a folder elsewhere: the cause (its
    # stack trace names /var/task/<file>) is the same each time.
    definition = tmp_path / "m.asl.json"
    definition.write_text(json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN + "fail", "End": True}}}))
    handler = Path(__file__).parent / "lambdas" / "handlers.py"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    causes = []
    for cwd in (handler.parent, Path(__file__).parent.parent, elsewhere):
        flag = f"fail={os.path.relpath(handler, cwd)}:fail"
        out = subprocess.run([sys.executable, "-m", "asl", "run", str(definition), "--input", '{"order": 7}', "--lambda", flag],
                             cwd=cwd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out.stderr
        cause = json.loads(next(line for line in out.stderr.splitlines() if line.startswith("cause: "))[7:])
        causes.append({**cause, "requestId": None})  # the only value that varies
    assert causes[0] == causes[1] == causes[2]
    assert causes[0]["stackTrace"][0].startswith('  File "/var/task/handlers.py", line ')


def test_a_handler_file_still_imports_the_project_modules_from_where_the_command_started(tmp_path: Path) -> None:
    (tmp_path / "common.py").write_text("GREETING = 'hi'\n")
    (tmp_path / "fns").mkdir()
    (tmp_path / "fns" / "h.py").write_text("import common\n\ndef main(event, context):\n    return common.GREETING\n")
    definition = tmp_path / "m.asl.json"
    definition.write_text(json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN + "f", "End": True}}}))
    out = subprocess.run([sys.executable, "-m", "asl", "run", str(definition), "--lambda", "f=fns/h.py:main"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, '"hi"'), out.stderr


# -- Lambda's Invoke API, as documented (and recorded against AWS in LocalStack's snapshots) -----------------------
@pytest.fixture
def lam() -> Iterator[LocalLambda]:
    fns = [LambdaFunction(n, f"handlers.{n}", str(HERE), timeout=2) for n in ("what", "money", "echo", "fail")]
    fns += [LambdaFunction("broken", "broken_init.handler", str(HERE)),
            LambdaFunction("nohandler", "handlers.nothere", str(HERE))]
    out = LocalLambda(fns)
    yield out
    out.close()


def invoke(lam: LocalLambda, params: dict[str, Any], resource: str = INVOKE) -> ExecutionResult:
    return execute(lam, {"Resource": resource, "Parameters": params})


def test_lambda_invoke_payloads_as_lambda_gets_them(lam: LocalLambda) -> None:
    for payload, event in ((None, {}), ("{\"x\": 1}", {"x": 1}), ("[]", []), ("0", 0), ("\"Hello\"", "Hello"),
                           ("not json", "not json"), ([1, 2], [1, 2]), (True, True), ({"a": {}}, {"a": {}})):
        params: dict[str, Any] = {"FunctionName": "what"} if payload is None else {"FunctionName": "what", "Payload": payload}
        r = invoke(lam, params)
        assert r.output_value["Payload"]["event"] == event, payload


def test_decimal_results_and_the_context_and_environment_of_lambdas_python_runtime(lam: LocalLambda) -> None:
    assert execute(lam, {"Resource": ARN + "money"}).output_value == {"price": 1.5, "count": 3}
    cc = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    out = invoke(lam, {"FunctionName": "what", "ClientContext": cc}).output_value["Payload"]
    assert out["memory"] == "128" and out["identity"] == [None, None] and out["client"] == {"tenant": "t1"}
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", out["stream"])
    assert out["env"] == {"_HANDLER": "handlers.what", "AWS_EXECUTION_ENV": f"AWS_Lambda_python3.{sys.version_info.minor}",
                          "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/what", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                          "TZ": ":UTC", "LAMBDA_RUNTIME_DIR": "/var/runtime"}


def test_invocation_types_log_tail_and_qualifiers(lam: LocalLambda) -> None:
    for kind, status in (("Event", 202), ("DryRun", 204)):
        out = invoke(lam, {"FunctionName": "echo", "InvocationType": kind, "Payload": {}}).output_value
        assert (out["StatusCode"], out["Payload"], out["SdkHttpMetadata"]["HttpStatusCode"]) == (status, "", status)
        assert "ExecutedVersion" not in out
    bad = invoke(lam, {"FunctionName": "echo", "InvocationType": "Sometimes"})
    assert bad.error == "Lambda.InvalidParameterValueException"
    out = invoke(lam, {"FunctionName": "what", "LogType": "Tail", "Payload": {}}).output_value
    log = base64.b64decode(out["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "looked at dict\n" in log and "\nEND RequestId: " in log
    assert "\nREPORT RequestId: " in log and out["SdkHttpMetadata"]["HttpHeaders"]["X-Amz-Log-Result"] == out["LogResult"]
    out = invoke(lam, {"FunctionName": "what", "Qualifier": "prod", "Payload": {}}).output_value
    assert out["Payload"]["arn"] == ARN + "what:prod" and out["ExecutedVersion"] == "$LATEST"
    out = invoke(lam, {"FunctionName": ARN + "what:3", "Payload": {}}).output_value
    assert (out["Payload"]["arn"], out["Payload"]["version"], out["ExecutedVersion"]) == (ARN + "what:3", "3", "3")


def test_the_aws_sdk_lambda_integration_reports_without_failing(lam: LocalLambda) -> None:
    sdk = "arn:aws:states:::aws-sdk:lambda:invoke"
    ok = invoke(lam, {"FunctionName": "echo", "Payload": {"a": 1}}, sdk).output_value
    assert ok == {"ExecutedVersion": "$LATEST", "Payload": '{"a": 1}', "StatusCode": 200}
    failed = invoke(lam, {"FunctionName": "fail", "Payload": {}}, sdk)
    assert failed.status == "SUCCEEDED" and failed.output_value["FunctionError"] == "Unhandled"
    assert json.loads(failed.output_value["Payload"])["errorType"] == "ValueError"


def test_a_result_over_256_kib_names_the_task_as_aws_does(lam: LocalLambda) -> None:
    big = {"x": "y" * 300_000}
    r = execute(lam, {"Resource": ARN + "echo"}, big)
    assert (r.error, r.cause) == ("States.DataLimitExceeded", f"The state/task '{ARN}echo' returned a result with a "
                                  "size exceeding the maximum number of bytes service limit.")
    r = execute(lam, {"Resource": INVOKE, "Parameters": {"FunctionName": "echo", "Payload.$": "$"}}, big)
    assert r.cause == ("The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes "
                       "service limit.")


def test_handlers_that_cannot_load_report_as_lambdas_python_runtime(lam: LocalLambda) -> None:
    r = execute(lam, {"Resource": ARN + "broken"})
    cause = json.loads(r.cause or "")
    assert (r.error, cause["errorMessage"], cause["requestId"]) == ("RuntimeError", "init boom", "")
    r = execute(lam, {"Resource": ARN + "nohandler"})
    assert r.error == "Runtime.HandlerNotFound"
    assert json.loads(r.cause or "")["errorMessage"] == "Handler 'nothere' missing on module 'handlers'"
