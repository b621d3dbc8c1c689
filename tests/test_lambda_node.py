"""Node.js Lambda handlers run as Lambda's Node.js runtime runs them: CommonJS and ES modules, async handlers and
callbacks, the context object, console output captured, errors named by the error's name, warm processes,
timeouts, and handlers checked at start."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from asl.adapters.lambda_local import LambdaFunction, LocalLambda
from asl.cli import main

from .test_adapters import execute

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
HERE = Path(__file__).resolve().parent / "lambdas"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def local() -> Iterator[LocalLambda]:
    fns = [LambdaFunction(n, f"handlers.js:{n}", str(HERE), timeout=2, runtime="nodejs", environment={"GREETING": "hi"})
           for n in ("echo", "count", "callback", "fail", "nothing")]
    fns += [LambdaFunction("slow", "handlers.js:slow", str(HERE), timeout=1, runtime="nodejs"),
            LambdaFunction("esm", "esm_handler.mjs:handler", str(HERE), runtime="nodejs")]
    lam = LocalLambda(fns, echo=io.StringIO())
    yield lam
    lam.close()


def test_an_async_commonjs_handler_gets_the_event_and_lambdas_context(local: LocalLambda) -> None:
    r = execute(local, {"Resource": ARN + "echo"}, {"a": 1})
    assert r.status == "SUCCEEDED", r.cause
    out = r.output_value
    assert out["event"] == {"a": 1} and out["functionName"] == "echo" and out["memory"] == "128"
    assert out["arn"] == ARN + "echo" and out["remaining"] is True and out["env"] == "hi"
    assert len(out["requestId"]) == 36
    assert "[echo] event for echo" in local.echo.getvalue()  # type: ignore[union-attr]
    assert local.invocations[-1].logs == "event for echo\n"


def test_an_es_module_and_a_callback_handler(local: LocalLambda) -> None:
    r = execute(local, {"Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
                        "Parameters": {"FunctionName": "esm", "Payload": {"n": 21}}})
    assert r.output_value == {"esm": True, "doubled": 42}
    assert execute(local, {"Resource": ARN + "callback"}, [1]).output_value == {"viaCallback": [1]}
    assert execute(local, {"Resource": ARN + "nothing"}).output == "null"  # undefined comes back as null


def test_an_error_is_named_by_its_name_with_the_runtimes_cause(local: LocalLambda) -> None:
    r = execute(local, {"Resource": ARN + "fail"})
    assert (r.status, r.error) == ("FAILED", "OrderError")
    cause = json.loads(r.cause or "")
    assert (cause["errorType"], cause["errorMessage"]) == ("OrderError", "out of stock")
    assert cause["trace"][0] == "OrderError: out of stock"
    assert any("/var/task/handlers.js" in line for line in cause["trace"])
    assert not any("lambda_runtime.cjs" in line for line in cause["trace"])


def test_warm_processes_are_reused_and_a_timeout_is_lambdas(local: LocalLambda) -> None:
    first = execute(local, {"Resource": ARN + "count"}).output_value
    second = execute(local, {"Resource": ARN + "count"}).output_value
    assert (second["calls"], second["pid"]) == (first["calls"] + 1, first["pid"])
    r = execute(local, {"Resource": ARN + "slow"})
    assert r.error == "Sandbox.Timedout" and "Task timed out after 1.00 seconds" in (r.cause or "")


def test_node_handlers_are_checked_at_start_and_run_from_the_command_line(tmp_path: Path) -> None:
    definition = tmp_path / "d.asl.json"
    definition.write_text(json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN + "f",
                                                                       "End": True}}}))
    ok = CliRunner().invoke(main, ["run", str(definition), "--input", '{"n": 2}',
                                   "--lambda", f"f={HERE / 'esm_handler.mjs'}:handler"])
    assert ok.exit_code == 0 and json.loads(ok.output) == {"esm": True, "doubled": 4}, ok.output
    for spec, says in ((f"f={tmp_path / 'nope.js'}:handler", "nope.js does not exist"),
                       (f"f={HERE / 'handlers.js'}:missing", "exports no 'missing'")):
        bad = CliRunner().invoke(main, ["run", str(definition), "--lambda", spec])
        assert bad.exit_code == 2 and says in bad.output, bad.output


def test_modules_that_cannot_load_report_as_lambdas_nodejs_runtime(tmp_path: Path) -> None:
    (tmp_path / "syntax.js").write_text("exports.handler = async () => { return 1 +; };\n")
    (tmp_path / "boot.js").write_text("class BootError extends Error { constructor(m) { super(m); this.name = 'BootError'; } }\n"
                                      "throw new BootError('config missing');\nexports.handler = async () => 1;\n")
    local = LocalLambda([LambdaFunction("syntax", "syntax.js:handler", str(tmp_path), runtime="nodejs"),
                         LambdaFunction("boot", "boot.js:handler", str(tmp_path), runtime="nodejs")])
    try:
        assert execute(local, {"Resource": ARN + "syntax"}).error == "Runtime.UserCodeSyntaxError"
        r = execute(local, {"Resource": ARN + "boot"})
        assert r.error == "BootError" and json.loads(r.cause or "")["errorMessage"] == "config missing"
    finally:
        local.close()
