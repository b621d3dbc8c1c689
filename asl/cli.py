"""The ``asl`` command line: a thin front over the library.

Exit codes follow one rule everywhere: 0 success, 1 the thing checked or run failed (invalid definition, failed
execution), 2 bad usage or an unreadable file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .cli_common import call as _call
from .cli_common import service as _service
from .cli_common import store_errors as _store_errors
from .cli_common import store_option
from .cli_report import run_report_option, test_report_option, write_run_report, write_test_report
from .diagnostics import Severity
from .parse import load_file
from .validate import validate as _validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="asl-runtime", prog_name="asl")
def main() -> None:
    """Validate and run Amazon States Language (AWS Step Functions) state machines locally."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Human-readable lines, or one JSON document with every file's diagnostics.")
@click.option("--type", "machine_type", type=click.Choice(["STANDARD", "EXPRESS"]), default="STANDARD",
              show_default=True, help="The state machine type to validate for.")
@click.option("--no-warnings", is_flag=True, help="Report only ERROR diagnostics.")
def validate(files: tuple[str, ...], fmt: str, machine_type: str, no_warnings: bool) -> None:
    """Validate definition FILES, reporting every problem with its location.

    Text output is one line per problem: FILE:POINTER: SEVERITY CODE: MESSAGE. Exit 0 when every file is valid
    (warnings allowed), 1 when any has an ERROR, 2 when a file cannot be read.
    """
    results: list[dict[str, Any]] = []
    status = 0
    for path in files:
        try:
            parsed = load_file(path)
        except OSError as exc:
            click.echo(f"{path}: cannot read file: {exc.strerror or exc}", err=True)
            status = 2
            continue
        diags = list(parsed.diagnostics)
        if parsed.ok:
            # parse diagnostics (duplicate keys) first, then the validator's
            diags = list(parsed.diagnostics) + [x for x in _validate(parsed.value, machine_type=machine_type)]
        if no_warnings:
            diags = [x for x in diags if x.severity is Severity.ERROR]
        valid = not any(x.severity is Severity.ERROR for x in diags)
        if not valid and status == 0:
            status = 1
        results.append({"file": path, "valid": valid, "diagnostics": [x.to_dict() for x in diags]})
        if fmt == "text":
            for x in diags:
                click.echo(f"{path}:{x.location}: {x.severity.value} {x.code}: {x.message}")
            if valid:
                click.echo(f"{path}: valid" + (f" ({len(diags)} warning(s))" if diags else ""))
    if fmt == "json":
        click.echo(json.dumps({"files": results}, indent=2, ensure_ascii=False))
    sys.exit(status)


def lambda_options(f: Any) -> Any:
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="Project configuration (default: asl.toml in the current directory, if present).")(f)
    f = click.option("--aws-endpoint", "aws_endpoint", metavar="URL",
                     help="Send AWS service integrations (SQS, SNS, DynamoDB, EventBridge, aws-sdk:*) through boto3 "
                          "to this endpoint (e.g. a moto server or LocalStack).")(f)
    f = click.option("--template", "template_path", type=click.Path(dir_okay=False),
                     help="A SAM or CloudFormation template: its Lambda functions run locally (and asl run and asl serve "
                          "take its state machines).")(f)
    return click.option("--lambda", "lambdas", multiple=True, metavar="NAME=HANDLER[,timeout=S]",
                        help="Run Lambda function NAME locally from HANDLER (path/file.py:function, module.function, "
                             "or path/file.js:export for Node.js), for its ARN and for lambda:invoke; repeatable.")(f)


def _template(path: str | None) -> Any:
    """The SAM or CloudFormation template --template names (None without one); a problem exits 2 naming it."""
    if path is None:
        return None
    from .config import ConfigError
    from .sam import load_template

    try:
        return load_template(path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _adapters(config_path: str | None, lambdas: tuple[str, ...], aws_endpoint: str | None = None,
              template_path: str | None = None) -> Any:
    """The adapters asl.toml, --template and --lambda/--aws-endpoint configure; a configuration error exits 2 with
    its place."""
    from .config import ConfigError, lambda_flag, load_config

    try:
        cfg = load_config(config_path)
        template = _template(template_path)
        if template is not None:
            cfg.functions.extend(template.functions())
        cfg.functions.extend(lambda_flag(x) for x in lambdas)
        if aws_endpoint is not None:
            cfg.aws, cfg.aws_endpoint_url = True, aws_endpoint
        cfg.echo = sys.stderr  # handlers' output shows on standard error, prefixed with the function name
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return cfg.adapters()


def _load_callable(spec: str) -> Any:
    """``path/to/file.py:function`` or ``package.module:function`` → the function."""
    import importlib
    import importlib.util

    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise click.BadParameter(f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got '{spec}'")
    try:
        if target.endswith(".py"):
            s = importlib.util.spec_from_file_location(Path(target).stem, target)
            if s is None or s.loader is None:
                raise click.BadParameter(f"cannot load '{target}'")
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        else:
            mod = importlib.import_module(target)
        return getattr(mod, attr)
    except (OSError, ImportError, AttributeError, SyntaxError) as exc:
        raise click.BadParameter(f"cannot load '{spec}': {exc}") from None


@main.command()
@click.argument("definition", type=click.Path(dir_okay=False), required=False)
@click.option("--state-machine", "state_machine", metavar="LOGICAL_ID",
              help="With --template: the state machine to run (default: the template's only one).")
@click.option("--input", "input_text", help="The execution input as JSON text (default {}).")
@click.option("--input-file", type=click.Path(dir_okay=False), help="Read the execution input from a file.")
@click.option("--task", "tasks", multiple=True, metavar="ARN=FILE.py:FUNCTION",
              help="Run a Python function for a Task resource ARN; repeatable. The function gets (input, context).")
@click.option("--name", help="The execution name (default: a UUID).")
@click.option("--history", is_flag=True, help="Print the execution history (JSON) to standard error.")
@click.option("--child-histories", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the history of each Distributed Map child to DIR/<map run id>/<child name>.json.")
@click.option("--real-time", is_flag=True, help="Really sleep in Wait and Retry (default: a virtual clock).")
@click.option("--mock-config", type=click.Path(dir_okay=False),
              help="A Step Functions Local mock configuration; with --test-case, its mocked responses answer the Tasks it names.")
@click.option("--test-case", metavar="[STATE_MACHINE#]TEST_CASE",
              help="The mock configuration's test case (the state machine defaults to the only one, else the file name).")
@click.option("-q", "--quiet", is_flag=True, help="Show no progress, even on a terminal.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show progress even when standard error is not a terminal, with each state's input and output.")
@run_report_option
@lambda_options
def run(definition: str, input_text: str | None, input_file: str | None, tasks: tuple[str, ...], name: str | None,
        history: bool, child_histories: str | None, real_time: bool, mock_config: str | None, test_case: str | None,
        lambdas: tuple[str, ...], template_path: str | None, config_path: str | None, aws_endpoint: str | None,
        state_machine: str | None, quiet: bool = False, verbose: bool = False, report_path: str | None = None) -> None:
    """Run a state machine DEFINITION (or the one of a --template) locally and print its output.

    On success the output JSON is printed and the exit status is 0. When the execution fails, the error and
    cause are printed to standard error and the exit status is 1. Bad usage, an unreadable file or an invalid
    definition exit 2. On a terminal, the states are shown on standard error as they run (--quiet: not).
    """
    from .diagnostics import DefinitionError
    from .model import load
    from .progress import for_run
    from .runtime import ExecutionOptions, RealClock, VirtualClock
    from .runtime import run as run_machine

    if input_text is not None and input_file is not None:
        raise click.UsageError("use either --input or --input-file, not both")
    if quiet and verbose:
        raise click.UsageError("use either --quiet or --verbose, not both")
    if (definition is None) == (template_path is None):
        raise click.UsageError("give a DEFINITION file, or --template (with --state-machine when it has several)")
    machine_name, machine_type = "StateMachine", "STANDARD"
    try:
        if definition is not None:
            text = Path(definition).read_text(encoding="utf-8")
        else:
            machine_name, text, machine_type = _template_machine(template_path, state_machine)
            definition = f"{template_path}#{machine_name}"
        if input_file is not None:
            input_text = Path(input_file).read_text(encoding="utf-8")
    except OSError as exc:
        click.echo(f"cannot read file: {exc.filename}: {exc.strerror}", err=True)
        sys.exit(2)
    if input_text is not None:
        _check_input(input_text, "--input-file" if input_file is not None else "--input")
    registered = _tasks(tasks)
    try:
        machine = load(text)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            click.echo(f"{definition}:{d.location}: {d.severity.value} {d.code}: {d.message}", err=True)
        sys.exit(2)
    mocks = _mocks(mock_config, test_case, definition)
    _check_mocked(mocks, machine)
    adapters = _adapters(config_path, lambdas, aws_endpoint, template_path)
    progress = for_run(sys.stderr, quiet, verbose, virtual=not real_time)  # None: no listener, no cost per event
    opts = ExecutionOptions(execution_name=name, tasks=registered, clock=RealClock() if real_time else VirtualClock(),
                            adapters=adapters, mocks=mocks.start() if mocks else None,
                            state_machine_name=mocks.state_machine if mocks else machine_name, machine_type=machine_type,
                            child_histories=[] if child_histories is not None or history or report_path else None,
                            listener=progress.listener if progress is not None else None)
    try:
        result = run_machine(machine, input_text, opts)
    finally:
        if adapters is not None:
            adapters.close()
    if history:
        from .conformance import _json_history

        click.echo(json.dumps(_json_history(result.history), indent=1, ensure_ascii=False), err=True)
    if report_path:
        write_run_report(report_path, result, text, opts.child_histories or [])
    _child_histories(opts.child_histories or [] if history or child_histories is not None else [], child_histories)
    if result.status == "SUCCEEDED":
        click.echo(result.output)
        sys.exit(0)
    click.echo(f"{result.status}: error: {result.error}", err=True)
    click.echo(f"cause: {result.cause}", err=True)
    sys.exit(1)


def _child_histories(children: list[dict[str, Any]], folder: str | None) -> None:
    """Write each Distributed Map child's history to its file under ``folder``; without one (``--history``), say how
    many there are and how to get them."""
    from .conformance import _json_history

    if not children:
        return
    if folder is None:
        click.echo(f"({len(children)} Distributed Map child execution(s) have histories of their own: "
                   "--child-histories DIR writes them)", err=True)
        return
    try:
        for child in children:
            path = Path(folder) / child["mapRunArn"].rpartition(":")[2] / f"{child['name']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({**child, "history": _json_history(child["history"])}, indent=1,
                                       ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write the child histories: {exc.filename}: {exc.strerror}", err=True)
        sys.exit(2)
    click.echo(f"{len(children)} Distributed Map child history(ies) written to {folder}", err=True)


def _template_machine(template_path: str | None, logical_id: str | None) -> tuple[str, str, str]:
    """(name, definition text, type) of a template's state machine; a problem exits 2 naming it."""
    from .config import ConfigError

    try:
        return _template(template_path).state_machine(logical_id)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _check_input(text: str, option: str) -> None:
    """An execution input given on the command line: JSON within asl's limits, else a usage error (exit 2)."""
    from .jsontext import JsonLimitError, loads

    try:
        loads(text, "The input")
    except JsonLimitError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None
    except ValueError as exc:
        raise click.BadParameter(f"the input is not valid JSON: {exc}", param_hint=option) from None


def _mocks(mock_config: str | None, test_case: str | None, definition: str) -> Any:
    """The TestCaseMocks --mock-config and --test-case select; a bad file or name exits 2 saying why."""
    if (mock_config is None) != (test_case is None):
        raise click.UsageError("--mock-config and --test-case go together")
    if mock_config is None or test_case is None:
        return None
    cfg = _mock_config(mock_config)
    machine, sep, case = test_case.rpartition("#")
    if not sep:
        machine = next(iter(cfg.state_machines)) if len(cfg.state_machines) == 1 else Path(definition).name.split(".")[0]
    try:
        return cfg.test_case(machine, case)
    except KeyError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        sys.exit(2)


def _check_mocked(mocks: Any, machine: Any) -> None:
    """A test case that mocks what the definition cannot use exits 2 naming the state."""
    for problem in mocks.problems(machine) if mocks is not None else []:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


def _mock_config(path: str) -> Any:
    """The mock configuration at ``path``; a bad file exits 2 with every problem and its place."""
    from .mocks import MockConfigError, load_mock_config

    try:
        return load_mock_config(path)
    except MockConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.command("test")
@click.argument("suites", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--definition", type=click.Path(dir_okay=False),
              help="With --mock-config: run every test case of a Step Functions Local mock configuration against this definition.")
@click.option("--mock-config", type=click.Path(dir_okay=False), help="A Step Functions Local mock configuration (MockConfigFile.json).")
@click.option("--state-machine-name", help="With --mock-config: the state machine of the mock configuration to test.")
@click.option("--input", "input_text", default="{}", show_default=True, help="With --mock-config: the execution input (JSON).")
@click.option("--expect", "expects", multiple=True, metavar="TESTCASE=STATUS[:ERROR]",
              help="With --mock-config: the status a test case should end with (default SUCCEEDED), and with "
                   "FAILED:ERROR the error; repeatable.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write the results as JUnit XML.")
@click.option("--coverage", "coverage_path", type=click.Path(dir_okay=False), help="Write coverage (JSON): states, Choice rules, Retriers, Catchers.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), help="Fail (exit 1) when overall coverage is below this percentage.")
@click.option("-v", "--verbose", is_flag=True, help="List what was not covered.")
@test_report_option
@lambda_options
def test_command(suites: tuple[str, ...], definition: str | None, mock_config: str | None, state_machine_name: str | None,
                 input_text: str, expects: tuple[str, ...], junit_path: str | None, coverage_path: str | None,
                 min_coverage: float | None, verbose: bool, lambdas: tuple[str, ...], template_path: str | None,
                 config_path: str | None, aws_endpoint: str | None, report_dir: str | None = None) -> None:
    """Run test SUITES (spec/test-suite.schema.json) on a virtual clock, with mocked responses.

    Prints each test's verdict with a diff for each failure and the coverage of each definition. Exit 0 when
    every test passes (and coverage is at least --min-coverage), 1 when not, 2 for bad usage or a suite that
    cannot be loaded. `asl test --definition D --mock-config M` runs every test case of a Step Functions Local
    mock configuration instead.
    """
    from .testing import (
        SuiteError,
        coverage_report,
        junit_xml,
        load_suite,
        run_suite,
        suite_from_mock_config,
        summary_lines,
    )

    if not suites and not (definition and mock_config):
        raise click.UsageError("give suite files, or --definition and --mock-config")
    if bool(definition) != bool(mock_config):
        raise click.UsageError("--definition and --mock-config go together")
    expect: dict[str, str] = {}
    for e in expects:
        case, sep, want = e.partition("=")
        wanted, colon, error = want.partition(":")
        if not sep or wanted not in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED") or (colon and not error) or \
                (colon and wanted != "FAILED"):
            raise click.BadParameter(f"expected TESTCASE=SUCCEEDED|FAILED|TIMED_OUT|ABORTED, or TESTCASE=FAILED:ERROR, "
                                     f"got '{e}'", param_hint="--expect")
        expect[case] = want
    _check_input(input_text, "--input")
    try:
        loaded = [load_suite(s) for s in suites]
        if definition and mock_config:
            loaded.append(suite_from_mock_config(definition, mock_config, state_machine_name, input_text, expect))
    except SuiteError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    adapters = _adapters(config_path, lambdas, aws_endpoint, template_path)
    try:
        results = [run_suite(s, {"adapters": adapters}) for s in loaded]
    finally:
        if adapters is not None:
            adapters.close()
    for line in summary_lines(results, verbose):
        click.echo(line)
    report = coverage_report(results)
    for out_path, text in ((junit_path, lambda: junit_xml(results)), (coverage_path, lambda: json.dumps(report, indent=2) + "\n")):
        if out_path:
            try:
                Path(out_path).write_text(text(), encoding="utf-8")
            except OSError as exc:
                click.echo(f"cannot write {out_path}: {exc.strerror or exc}", err=True)
                sys.exit(2)
    if report_dir:
        write_test_report(report_dir, results)
    status = 0 if all(r.passed for r in results) else 1
    if min_coverage is not None and report["percent"] < min_coverage:
        click.echo(f"coverage {report['percent']:.1f}% is below the minimum {min_coverage:g}%", err=True)
        status = 1
    sys.exit(status)


@main.command("test-state")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--input", "input_text", default="{}", show_default=True, help="The state's input (JSON).")
@click.option("--state-name", help="With a whole state machine: the state to test.")
@click.option("--inspection-level", type=click.Choice(["INFO", "DEBUG", "TRACE"]), default="INFO", show_default=True)
@click.option("--mock-result", help="Mock the Task (or Map/Parallel) with this result (JSON).")
@click.option("--mock-error", metavar="ERROR[:CAUSE]", help="Mock the Task failing with this error and cause.")
@click.option("--variables", help="Variables the state sees (a JSON object).")
@click.option("--context", "context_text", help="The context object ($$) the state sees (JSON).")
@click.option("--retrier-retry-count", type=click.IntRange(0), help="Attempts already made (for RETRIABLE).")
def test_state_command(definition: str, input_text: str, state_name: str | None, inspection_level: str,
                       mock_result: str | None, mock_error: str | None, variables: str | None, context_text: str | None,
                       retrier_retry_count: int | None) -> None:
    """Run one state as AWS's TestState API does and print its response (JSON).

    Exit 0 when the request is valid (whatever the state's status), 2 when TestState would refuse it.
    """
    from .teststate import TestStateError, test_state

    try:
        text = Path(definition).read_text(encoding="utf-8")
    except OSError as exc:
        click.echo(f"cannot read file: {exc.filename}: {exc.strerror}", err=True)
        sys.exit(2)
    mock: dict[str, Any] | None = None
    if mock_result is not None and mock_error is not None:
        raise click.UsageError("use either --mock-result or --mock-error, not both")
    if mock_result is not None:
        mock = {"result": mock_result}
    elif mock_error is not None:
        error, _, cause = mock_error.partition(":")
        mock = {"errorOutput": {"error": error, **({"cause": cause} if cause else {})}}
    config = {"retrierRetryCount": retrier_retry_count} if retrier_retry_count is not None else None
    try:
        response = test_state(text, input_text, state_name=state_name, inspection_level=inspection_level, mock=mock,
                              variables=variables, context=context_text, state_configuration=config)
    except TestStateError as exc:
        click.echo(f"{exc.code}: {exc.message}", err=True)
        sys.exit(2)
    click.echo(json.dumps(response, indent=2, ensure_ascii=False))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--report", type=click.Path(dir_okay=False), help="Write a JSON report with every case's result.")
def conformance(paths: tuple[str, ...], report: str | None) -> None:
    """Run conformance case files and folders (the format of conformance/README.md) and compare results.

    Exit 0 when every case passes, 1 otherwise.
    """
    from .conformance import case_files, run_case

    verdicts = [run_case(p) for p in case_files(paths)]
    ran = [v for v in verdicts if not v.skipped]
    failed = [v for v in ran if not v.passed]
    for v in failed:
        click.echo(f"FAIL {v.file}")
        for diff in v.diffs:
            click.echo(f"    {diff}")
    click.echo(f"{len(ran) - len(failed)} passed, {len(failed)} failed, {len(verdicts) - len(ran)} skipped")
    if report:
        with open(report, "w", encoding="utf-8") as fh:
            json.dump({"cases": [v.to_dict() for v in verdicts]}, fh, indent=1, ensure_ascii=False)
    sys.exit(1 if failed else 0)


# -- the durable engine ----------------------------------------------------------------------------------------
def _tasks(specs: tuple[str, ...]) -> dict[str, Any]:
    registered = {}
    for t in specs:
        arn, sep, spec = t.partition("=")
        if not sep:
            raise click.BadParameter(f"expected ARN=FILE.py:FUNCTION, got '{t}'", param_hint="--task")
        registered[arn] = _load_callable(spec)
    return registered




@main.command()
@store_option
@click.option("--task", "tasks", multiple=True, metavar="ARN=FILE.py:FUNCTION",
              help="Run a Python function for a Task resource ARN; repeatable. The function gets (input, context).")
@click.option("--until-idle", is_flag=True, help="Exit when no execution is due, instead of running until interrupted.")
@click.option("--inline-wait", type=float, default=1.0, show_default=True,
              help="Longest Wait/Retry delay slept in place; longer ones park the execution in the store.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Executions run at once (one thread each), so a long task does not hold up the others.")
@click.option("--lease-seconds", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="How long a claim on an execution holds unless renewed (every third of it while the worker lives): "
                   "a worker on another host that dies leaves its executions to the others after this long.")
@lambda_options
def worker(store_path: str | None, tasks: tuple[str, ...], until_idle: bool, inline_wait: float, concurrency: int,
           lease_seconds: float, lambdas: tuple[str, ...], template_path: str | None, config_path: str | None,
           aws_endpoint: str | None) -> None:
    """Run the executions in the store: started ones, and parked ones when their timer fires or a callback comes.

    Stop it at any moment (even with kill -9): a worker started again resumes every unfinished execution from
    the end of its history. A task that was running when the worker died runs again.
    """
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # psycopg's pool warns at each attempt to reconnect to a database that is away; the worker says it once
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    import threading

    sfn = _service(store_path)
    registered = _tasks(tasks)
    adapters = _adapters(config_path, lambdas, aws_endpoint, template_path)
    w = sfn.worker(registered, inline_wait=inline_wait, adapters=adapters, lease_seconds=lease_seconds)
    if until_idle:
        try:
            with _store_errors():  # an error inside an execution fails that execution; this is the store's
                click.echo(f"{w.run_until_idle()} run(s)")
        finally:
            if adapters is not None:
                adapters.close()
        return
    click.echo(f"asl worker {w.owner}: store {sfn.store.path if hasattr(sfn.store, 'path') else ':memory:'}", err=True)
    others = [sfn.worker(registered, inline_wait=inline_wait, owner=f"{w.owner}-{i}", adapters=adapters,
                         lease_seconds=lease_seconds)
              for i in range(1, concurrency)]
    threads = [threading.Thread(target=o.run_forever, name=f"asl-worker-{i}", daemon=True) for i, o in enumerate(others, 1)]
    for t in threads:
        t.start()
    try:
        w.run_forever()
    except KeyboardInterrupt:
        for o in [w, *others]:
            o.stop()
    finally:
        if adapters is not None:
            adapters.close()


@main.command()
@click.argument("machine")
@store_option
@click.option("--input", "input_text", help="The execution input as JSON text (default {}).")
@click.option("--input-file", type=click.Path(dir_okay=False),
              help="Read the execution input from a file (for one too long for a command line).")
@click.option("--name", help="The execution name (default: a UUID).")
@click.option("--state-machine-name", help="Register the definition under this name (default: the file name up to its first dot).")
@click.option("--type", "machine_type", type=click.Choice(["STANDARD", "EXPRESS"]), default="STANDARD", show_default=True)
def start(machine: str, store_path: str | None, input_text: str | None, input_file: str | None, name: str | None,
          state_machine_name: str | None, machine_type: str) -> None:
    """Start an execution of MACHINE (a state machine ARN, or a definition file, registered or updated in the
    store under its name) and print its ARN. A worker (``asl worker``) runs it."""
    if input_text is not None and input_file is not None:
        raise click.UsageError("use either --input or --input-file, not both")
    if input_file is not None:
        input_text = _read_input(input_file)
    sfn = _service(store_path)
    with _store_errors():
        sm_arn = machine if machine.startswith("arn:") else _register(sfn, machine, state_machine_name, machine_type)
        out = _call(sfn.start_execution, stateMachineArn=sm_arn, name=name, input=input_text)
    click.echo(out["executionArn"])


def _read_input(path: str) -> str:
    """The text of an ``--input-file``. It is read up to one byte past the largest input an execution takes, so a
    huge file (or /dev/zero) costs no more memory and the service refuses it for its size, as it would the same
    ``--input``. An unreadable file, or one that is not UTF-8, exits 2."""
    from .runtime.options import MAX_PAYLOAD

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PAYLOAD + 1)
    except OSError as exc:
        click.echo(f"cannot read file: {path}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    if len(data) > MAX_PAYLOAD:
        return data.decode("utf-8", errors="replace")  # too long either way: a character cut at the end is moot
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        click.echo(f"cannot read file: {path}: not UTF-8 text ({exc.reason} at byte {exc.start})", err=True)
        sys.exit(2)


def _register(sfn: Any, path: str, name: str | None, machine_type: str) -> str:
    """Create the state machine of a definition file (named ``name``, else the file name up to its first dot), or
    update it when the file changed; its ARN. An unreadable file exits 2, an invalid definition 1."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"cannot read file: {path}: {getattr(exc, 'strerror', None) or exc}", err=True)
        sys.exit(2)
    return _register_text(sfn, name or Path(path).name.split(".")[0], text, machine_type)


def _register_text(sfn: Any, sm_name: str, text: str, machine_type: str) -> str:
    """Create (or update, when its definition changed) the state machine ``sm_name``; its ARN."""
    sm_arn: str = sfn._arn("stateMachine", sm_name)
    existing = sfn.store.get_state_machine(sm_arn)
    if existing is None:
        _call(sfn.create_state_machine, name=sm_name, definition=text, type=machine_type)
    elif existing.definition != text:
        _call(sfn.update_state_machine, stateMachineArn=sm_arn, definition=text)
    return sm_arn


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8083, show_default=True,
              help="The port to listen on (0: any free port; the address is printed).")
@click.option("--state-machine", "machines", multiple=True, metavar="[NAME=]FILE",
              help="Create (or update) a STANDARD state machine from a definition file at start; repeatable.")
@click.option("--express-state-machine", "express", multiple=True, metavar="[NAME=]FILE",
              help="The same for an EXPRESS state machine.")
@click.option("--mock-config", envvar="SFN_MOCK_CONFIG", type=click.Path(dir_okay=False),
              help="A Step Functions Local mock configuration: StartExecution of <stateMachineArn>#<TestCase> runs "
                   "that test case (default: $SFN_MOCK_CONFIG).")
@click.option("--account", default="123456789012", show_default=True, envvar="AWS_ACCOUNT_ID", help="The account id in ARNs.")
@click.option("--region", default="us-east-1", show_default=True, help="The region in ARNs.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker threads running executions.")
@click.option("--task", "tasks", multiple=True, metavar="ARN=FILE.py:FUNCTION",
              help="Run a Python function for a Task resource ARN; repeatable. The function gets (input, context).")
@click.option("--idle-timeout", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds a connection may wait for its next request before it is closed.")
@click.option("--request-timeout", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
              help="Seconds for a request to arrive whole once it has begun, and for its answer to be sent.")
@lambda_options
def serve(store_path: str | None, host: str, port: int, machines: tuple[str, ...], express: tuple[str, ...],
          mock_config: str | None, account: str, region: str, workers: int, tasks: tuple[str, ...],
          idle_timeout: float, request_timeout: float, lambdas: tuple[str, ...], template_path: str | None,
          config_path: str | None, aws_endpoint: str | None) -> None:
    """Serve the Step Functions API (awsJson1_0) for boto3, the AWS CLI and other SDKs, and run the executions.

    Point a client at it with an endpoint URL (aws --endpoint-url http://127.0.0.1:8083 stepfunctions ...).
    State lives in the store: stop the server at any moment and start it again, and unfinished executions resume.
    StartSyncExecution and TestState need the SDK's host prefix off: AWS_DISABLE_HOST_PREFIX_INJECTION=true.
    """
    import logging
    import signal
    import threading

    from .server import Server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # psycopg's pool warns at each attempt to reconnect to a database that is away; the worker says it once
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    mocks = _mock_config(mock_config) if mock_config is not None else None
    sfn = _service(store_path, account=account, region=region, tasks=_tasks(tasks),
                   adapters=_adapters(config_path, lambdas, aws_endpoint, template_path), mock_config=mocks)
    with _store_errors():
        for specs, machine_type in ((machines, "STANDARD"), (express, "EXPRESS")):
            for spec in specs:
                name, sep, path = spec.rpartition("=")
                _register(sfn, path, name if sep else None, machine_type)
        template = _template(template_path)
        for logical_id in template.state_machine_ids() if template is not None else []:
            _register_text(sfn, *_template_machine(template_path, logical_id))
    try:
        server = Server(sfn, host, port, workers=workers, idle_timeout=idle_timeout, request_timeout=request_timeout)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    where = getattr(sfn.store, "path", ":memory:")
    click.echo(f"asl serve: listening on {server.url} (store {where}, {workers} worker(s))", err=True)
    done.wait()
    click.echo("asl serve: shutting down", err=True)
    server.stop()


# Commands kept in modules of their own (this one is long enough), registered on the group here.
from .cli_executions import executions, history, map_runs, redrive, stop, task  # noqa: E402 - after the group
from .cli_graph import graph as _graph  # noqa: E402
from .cli_progress import watch as _watch  # noqa: E402

for _command in (executions, map_runs, history, stop, redrive, task, _graph):
    main.add_command(_command)
executions.add_command(_watch)
