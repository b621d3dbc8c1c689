"""Conformance: run case files (the format of ../shared/aws-recorded, documented in conformance/README.md) and
compare each result with what the case expects.

A case is compared on status, output, error and cause, and, when it records a history, on the sequence of
history event types. Cases recorded with snapshot placeholders (``snapshot_transformers``) are compared through
the ``normalize.py`` that ships beside the recordings, found by walking up from the case file.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from . import jsontext
from .adapters import Adapters
from .adapters.lambda_local import LambdaFunction, LocalLambda
from .diagnostics import DefinitionError
from .model import load
from .runtime import ExecutionOptions, ExecutionResult, VirtualClock, iso, run


@dataclass
class Verdict:
    """The outcome of one case: ``passed``, the differences, and the actual result."""

    file: str
    passed: bool
    skipped: str | None = None
    diffs: list[str] = field(default_factory=list)
    result: ExecutionResult | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"file": self.file, "verdict": "skipped" if self.skipped else ("passed" if self.passed else "failed"),
                "reason": self.skipped, "diffs": self.diffs,
                "status": r.status if r else None, "output": r.output if r else None,
                "error": r.error if r else None, "cause": r.cause if r else None,
                "history": _json_history(r.history) if r else None}


def _json_history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "timestamp": iso(e["timestamp"]) if isinstance(e["timestamp"], datetime) else e["timestamp"]} for e in events]


def case_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every ``*.json`` case under the given files and folders, sorted."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*.json") if not x.name.endswith(".schema.json"))
        else:
            yield p


def _find_normalize(case_path: Path) -> ModuleType | None:
    for parent in case_path.resolve().parents:
        candidate = parent / "normalize.py"
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("_asl_recorded_normalize", candidate)
            if spec and spec.loader:
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
                return mod
    return None


_NORMALIZE_CACHE: dict[Path, ModuleType | None] = {}


def normalizer(case_path: Path) -> ModuleType | None:
    """The ``normalize.py`` that ships beside recorded cases (found by walking up from the case), loaded once
    per folder; None when there is none."""
    key = case_path.resolve().parent
    if key not in _NORMALIZE_CACHE:
        _NORMALIZE_CACHE[key] = _find_normalize(case_path)
    return _NORMALIZE_CACHE[key]


def options_for(case: dict[str, Any]) -> ExecutionOptions:
    """Execution options carrying the case's account, region, names and ARNs."""
    ctx = case.get("context") or {}
    return ExecutionOptions(
        account=ctx.get("account", "123456789012"), region=ctx.get("region", "us-east-1"),
        partition=ctx.get("partition", "aws"), state_machine_name=ctx.get("state_machine_name", "StateMachine"),
        execution_name=ctx.get("execution_name"), state_machine_arn=ctx.get("state_machine_arn"),
        execution_arn=ctx.get("execution_arn"), role_arn=ctx.get("role_arn"),
        machine_type=case.get("state_machine_type") or "STANDARD", sync=case.get("execution_kind") == "sync",
        clock=VirtualClock(datetime(2024, 1, 1, tzinfo=UTC)))


@dataclass
class Fixture:
    """What a case needs from outside the interpreter, set up by the caller (the recordings do not carry it):
    ``adapters`` reach the case's resources; ``bindings`` maps each placeholder text in the case's input to
    the actual value that stands for it (a queue URL, a topic ARN), put into the input before the run and
    turned back into the placeholder in the result before comparing; ``transformers`` are extra normalisation
    steps (``normalize.py``'s kinds) for what the recording's own utility transformers did."""

    adapters: Adapters | None = None
    bindings: dict[str, str] = field(default_factory=dict)
    transformers: list[dict[str, Any]] = field(default_factory=list)


def run_case(path: Path, fixture: Fixture | None = None) -> Verdict:
    """Run one case file and judge it; ``fixture`` supplies the resources a service case needs."""
    try:
        case = jsontext.loads(path.read_text(), "The case file")
    except (OSError, ValueError) as exc:
        return Verdict(str(path), False, diffs=[f"unreadable case file: {exc}"])
    if not isinstance(case, dict) or not isinstance(case.get("definition"), dict) or "status" not in (case.get("expected") or {}):
        return Verdict(str(path), False, skipped="not an execution case")
    try:
        machine = load(case["definition"], machine_type=case.get("state_machine_type") or "STANDARD")
    except DefinitionError as exc:
        return Verdict(str(path), False, diffs=[f"definition rejected: {exc}"])
    opts = options_for(case)
    if isinstance(case.get("mock_config"), dict):  # a Step Functions Local mock configuration and its test case
        from .mocks import MockConfigError, parse_mock_config

        try:
            config = parse_mock_config(case["mock_config"], f"{path}:/mock_config")
            machines = list(config.state_machines)
            opts.mocks = config.test_case(machines[0] if len(machines) == 1 else opts.state_machine_name,
                                          str(case.get("mock_test_case"))).start()
        except (MockConfigError, KeyError) as exc:
            return Verdict(str(path), False, diffs=[f"mock configuration: {exc}"])
    fixture = fixture or Fixture()
    input_text = case.get("input_text")
    for placeholder, actual in fixture.bindings.items():
        input_text = input_text.replace(placeholder, actual) if input_text is not None else None
    with tempfile.TemporaryDirectory(prefix="asl-case-") as tmp:
        local = case_lambdas(case, Path(tmp))
        if fixture.adapters is not None:
            opts.adapters = fixture.adapters.copy()
        if local is not None:
            opts.adapters = opts.adapters or Adapters()
            local.register_in(opts.adapters)
        try:
            result = run(machine, input_text, opts)
            diffs = compare(case, result, path, fixture)
        except Exception as exc:  # a crash is a failed verdict with its reason, never a traceback for the user
            return Verdict(str(path), False, diffs=[f"internal error: {type(exc).__name__}: {exc}"])
        finally:
            if local is not None:
                local.close()
    return Verdict(str(path), not diffs, diffs=diffs, result=result)


def case_lambdas(case: dict[str, Any], workdir: Path) -> LocalLambda | None:
    """The case's ``lambda_functions`` (ARN → name, handler ``module.function``, source, envvars, timeout) as
    local Lambda functions, each in its own code directory under ``workdir``; None when it has none."""
    functions = case.get("lambda_functions") or {}
    if not functions:
        return None
    local = LocalLambda()
    for i, (arn, spec) in enumerate(sorted(functions.items())):
        module, _, _ = str(spec.get("handler", "handler.handler")).rpartition(".")
        code = workdir / f"fn{i}"
        code.mkdir()
        (code / f"{module.replace('.', '/')}.py").write_text(spec.get("source", ""), encoding="utf-8")
        local.add(LambdaFunction(spec.get("name") or LocalLambda.function_name(arn), spec.get("handler", "handler.handler"),
                                 str(code), float(spec.get("timeout") or 3), dict(spec.get("envvars") or {})))
    return local


# What a recording's values really vary in beyond ids, dates and request ids (which its transformers replace):
# the HTTP headers and request metadata AWS's SDK adds to a service's response (the recordings' README says to
# leave them out). Their presence is still compared; nothing else a recording marks as "skip" is dropped, since
# those marks name what LocalStack got wrong, not what AWS varies in.
VARYING_KEYS = frozenset({"SdkHttpMetadata", "SdkResponseMetadata"})


# A mocked case was recorded with the real service; a mock answers with exactly its configured response, which
# cannot hold what only the real call adds (the SDK's metadata, the function version that ran).
MOCKED_AWAY_KEYS = VARYING_KEYS | {"ExecutedVersion"}


def _blank_varying(value: Any, dropped: frozenset[str] = frozenset()) -> Any:
    """``value`` with the values of :data:`VARYING_KEYS` replaced by a marker, their keys kept, and the keys in
    ``dropped`` left out."""
    if isinstance(value, dict):
        return {k: ("<varies>" if k in VARYING_KEYS else _blank_varying(v, dropped))
                for k, v in value.items() if k not in dropped}
    if isinstance(value, list):
        return [_blank_varying(v, dropped) for v in value]
    if isinstance(value, str) and value.startswith("{") and any(k in value for k in VARYING_KEYS):
        try:
            return json.dumps(_blank_varying(json.loads(value), dropped), separators=(",", ":"))
        except ValueError:
            return value
    return value


_JSON_TEXT_KEYS = frozenset({"input", "output", "parameters", "result"})


def _decoded(value: Any) -> Any:
    """``value`` with the JSON texts of events decoded: the recordings keep some decoded (objects, and scalars such as
    ``"1"``) and some not."""
    if isinstance(value, dict):
        return {k: _decoded(_parsed(v) if k in _JSON_TEXT_KEYS else v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _without_added_redrive_count(want: Any, got: Any) -> Any:
    """``got`` without a ``RedriveCount`` of 0 where ``want`` has none: AWS added it to the context object's
    Execution after some of the recordings were made (newer ones have it), a difference of AWS's version."""
    if isinstance(want, dict) and isinstance(got, dict):
        return {k: _without_added_redrive_count(want.get(k), v) for k, v in got.items()
                if not (k == "RedriveCount" and v == 0 and "RedriveCount" not in want and "StartTime" in want)}
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [_without_added_redrive_count(a, b) for a, b in zip(want, got, strict=True)]
    return got


def _comparable(event: dict[str, Any], dropped: frozenset[str], harness_input: bool) -> dict[str, Any]:
    out = _decoded(_blank_varying({**event, "timestamp": None}, dropped))
    started = out.get("executionStartedEventDetails")
    if isinstance(started, dict):  # the role the test harness made for the run, and the input it gave
        out["executionStartedEventDetails"] = {**started, "roleArn": "<role>",
                                               **({"input": "<harness>"} if harness_input else {})}
    submitted = out.get("taskSubmittedEventDetails")
    if dropped and isinstance(submitted, dict):  # a mock stands for the service's answer to the request too
        out["taskSubmittedEventDetails"] = {k: v for k, v in submitted.items() if k not in ("output", "outputDetails")}
    return out


def _same_instant_runs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with runs of one type in a row (concurrent branches' timeouts, starts) put in the order of the
    events they follow: AWS orders such simultaneous events differently from run to run."""
    out = list(events)
    i = 0
    while i < len(out):
        j = i
        while j + 1 < len(out) and out[j + 1].get("type") == out[i].get("type"):
            j += 1
        if j > i:
            run = sorted(out[i:j + 1], key=lambda e: e.get("previousEventId") or 0)
            out[i:j + 1] = [{**e, "id": None} for e in run]
        i = j + 1
    return out


def _event_diffs(expected: list[dict[str, Any]], got: list[dict[str, Any]], dropped: frozenset[str],
                 harness_input: bool = False) -> list[str]:
    """The first event whose details differ (timestamps and the harness's role aside; JSON texts compared as
    values). ``harness_input``: the execution's input names resources the test made for the run, so the
    ExecutionStarted input is the harness's own, not compared."""
    wants = _same_instant_runs([_comparable(e, dropped, harness_input) for e in expected])
    haves = _same_instant_runs([_comparable(e, dropped, harness_input) for e in got])
    for i, (w, g) in enumerate(zip(wants, haves, strict=False)):
        g = _without_added_redrive_count(w, g)
        if "id" not in expected[i]:  # a case written by hand names only the fields it checks
            g = {k: v for k, v in g.items() if k in w}
        if w.get("type") == "MapStateExited" and i >= 2 and str(wants[i - 2].get("type", "")).startswith("MapRun"):
            # after a Map Run, AWS points MapStateExited at MapRunStarted or MapRunSucceeded, varying run to run
            w = {k: v for k, v in w.items() if k != "previousEventId"}
            g = {k: v for k, v in g.items() if k != "previousEventId"}
        if w != g:
            where, expected_value, got_value = _first_difference(w, g, "")
            return [f"history event {expected[i].get('id')} ({w.get('type')}) differs at {where}: expected "
                    f"{json.dumps(expected_value)[:300]}, got {json.dumps(got_value)[:300]}"]
    return []


_MISSING = "<missing>"


def _first_difference(want: Any, got: Any, path: str) -> tuple[str, Any, Any]:
    """The path of the first place two JSON values differ, and the values there."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in list(want) + [k for k in got if k not in want]:
            if want.get(key, _MISSING) != got.get(key, _MISSING):
                return _first_difference(want.get(key, _MISSING), got.get(key, _MISSING), f"{path}/{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}/{i}")
    return path or "/", want, got


def _unbind(value: Any, bindings: dict[str, str]) -> Any:
    """``value`` with each bound actual value turned back into its placeholder."""
    if not bindings or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(value)
    for placeholder, actual in bindings.items():
        text = text.replace(actual, placeholder)
    return text if isinstance(value, str) else json.loads(text)


def compare(case: dict[str, Any], result: ExecutionResult, path: Path, fixture: Fixture | None = None) -> list[str]:
    """The differences between a result and what the case expects (empty when it passes)."""
    fixture = fixture or Fixture()
    history = _unbind(_json_history(result.history), fixture.bindings)
    actual = {"status": result.status, "output": _unbind(result.output, fixture.bindings),
              "error": result.error, "cause": _unbind(result.cause, fixture.bindings), "history": history}
    if fixture.transformers:
        tfs = list(case.get("snapshot_transformers") or [])
        at = next((i for i, t in enumerate(tfs) if t.get("kind") == "regex" and t.get("pattern") == "111111111111"), len(tfs))
        case = {**case, "snapshot_transformers": tfs[:at] + fixture.transformers + tfs[at:]}
    exp = case["expected"]
    diffs: list[str] = []
    norm = normalizer(path) if case.get("snapshot_transformers") else None
    if norm is not None:
        got = norm.normalize_result(case, actual)
    else:
        got = {"status": result.status, "output": result.output_value, "error": result.error, "cause": result.cause}
    dropped = MOCKED_AWAY_KEYS if case.get("mock_config") else frozenset()
    want_output = _blank_varying(exp.get("output"), dropped)
    got_output = _blank_varying(got["output"], dropped)
    if got["status"] != exp.get("status"):
        diffs.append(f"status: expected {exp.get('status')}, got {got['status']}")
    if exp.get("status") == "SUCCEEDED" and not exp.get("output_undecodable") and got_output != want_output:
        diffs.append(f"output: expected {json.dumps(want_output)[:300]}, got {json.dumps(got_output)[:300]}")
    if exp.get("status") != "SUCCEEDED":
        for k in ("error", "cause"):
            if _blank_varying(exp.get(k) or None, dropped) != _blank_varying(got.get(k) or None, dropped):
                diffs.append(f"{k}: expected {json.dumps(exp.get(k))[:300]}, got {json.dumps(got.get(k))[:300]}")
    expected_history = case.get("history")
    if expected_history:
        # the recordings keep an event's keys in alphabetical order, which is what their normaliser sorts the events
        # of Parallel branches by: ours go through it in the same form
        history = [dict(sorted(e.items())) for e in history]
        got_events = norm.normalize_history(case, history) if norm is not None else history
        want = [e.get("type") for e in expected_history]
        got = [e.get("type") for e in got_events]
        if case.get("history_parallel_events_normalised"):
            events = [dict(e) for e in got_events if e.get("type") != "ParallelStateSucceeded"]
            if norm is not None:
                norm._normalise_parallel_events(events)
            got = [e.get("type") for e in events]
        if want != got:
            diffs.append(f"history event types differ: expected {want}, got {got}")
        elif not case.get("history_parallel_events_normalised"):
            diffs.extend(_event_diffs(expected_history, got_events, dropped, fixture.adapters is not None))
    return diffs
