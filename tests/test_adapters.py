"""Adapters: the registry, and local Lambda emulation in separate processes."""

from __future__ import annotations

import json
import os
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


def test_function_timeout_and_crash_are_lambda_unknown(local: LocalLambda) -> None:
    r = execute(local, {"Resource": ARN + "slow"}, {"sleep": 5})
    assert r.error == "Lambda.Unknown" and "Task timed out after 1.00 seconds" in (r.cause or "")
    assert (r.cause or "").startswith("The cause could not be determined because Lambda did not return an error type.")
    r = execute(local, {"Resource": ARN + "crash"})
    assert r.error == "Lambda.Unknown" and "Runtime exited with error: exit status 3" in (r.cause or "")
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
    assert r.error == "Lambda.Unknown" and "Runtime exited with error: exit status 3" in (r.cause or "")


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
