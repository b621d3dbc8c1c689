"""Test suites for state machines: mocked responses, expectations, coverage and JUnit XML.

A suite file (``spec/test-suite.schema.json``) names a definition, optionally a Step Functions Local mock
configuration, and its tests::

    {"stateMachine": "orders.asl.json", "mockConfig": "MockConfigFile.json",
     "tests": [{"name": "happy path", "testCase": "HappyPath", "input": {...},
                "expect": {"status": "SUCCEEDED", "output": {...}, "path": ["Validate", "Ship"]}}]}

Each test runs on a virtual clock (Wait and Retry cost no time). Its mocks are the mock configuration's test
case (``testCase``), with ``mocks`` (state name → a mocked response's name or body) laid over them. A test
passes when every expectation it states holds: ``status`` (SUCCEEDED unless said), ``output`` (JSON equality),
``error``, ``cause``, and ``path``, the names of the states entered in order.

Coverage counts, per definition, the states entered, the Choice rules (and Defaults) taken, the Retriers that
retried and the Catchers that caught, each known by its JSON pointer.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from . import jsontext
from .diagnostics import DefinitionError
from .errors import SuiteError
from .mocks import (
    MockConfig,
    MockConfigError,
    MockedResponse,
    TestCaseMocks,
    load_mock_config,
    parse_mock_config,
    parse_mocked_response,
)
from .model import Block, StateMachine, load
from .runtime import ExecutionOptions, ExecutionResult, run

_ENTERED = "StateEntered"


# -- coverage ------------------------------------------------------------------------------------------------------
@dataclass
class Coverage:
    """What a set of executions exercised in one definition. ``items`` maps each coverable JSON pointer to its
    kind (state, choice, retry, catch); ``hits`` counts how often each was used."""

    items: dict[str, str]
    hits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, machine: StateMachine) -> Coverage:
        items: dict[str, str] = {}

        def block(b: Block) -> None:
            for st in b.states.values():
                items[st.pointer] = "state"
                for i, _ in enumerate(st.retry):
                    items[f"{st.pointer}/Retry/{i}"] = "retry"
                for i, _ in enumerate(st.catch):
                    items[f"{st.pointer}/Catch/{i}"] = "catch"
                for rule in st.choices:
                    items[rule.pointer] = "choice"
                if st.type == "Choice" and st.default is not None:
                    items[f"{st.pointer}/Default"] = "choice"
                for br in st.branches:
                    block(br)
                if st.processor is not None:
                    block(st.processor)

        block(machine.top)
        return cls(items)

    def hit(self, pointer: str) -> None:
        """Called by the interpreter for each state, rule, Retrier and Catcher it uses."""
        self.hits[pointer] = self.hits.get(pointer, 0) + 1

    def summary(self) -> dict[str, tuple[int, int]]:
        """Per kind (and ``total``): (covered, coverable)."""
        out: dict[str, tuple[int, int]] = {}
        for kind in ("state", "choice", "retry", "catch"):
            ptrs = [p for p, k in self.items.items() if k == kind]
            out[kind] = (sum(1 for p in ptrs if p in self.hits), len(ptrs))
        out["total"] = (sum(c for c, _ in out.values()), sum(n for _, n in out.values()))
        return out

    @property
    def percent(self) -> float:
        covered, total = self.summary()["total"]
        return 100.0 if total == 0 else 100.0 * covered / total

    def missed(self) -> list[str]:
        return [p for p in self.items if p not in self.hits]

    def to_dict(self) -> dict[str, Any]:
        s = self.summary()
        return {"percent": round(self.percent, 2),
                "summary": {k: {"covered": c, "total": n} for k, (c, n) in s.items()},
                "items": [{"pointer": p, "kind": k, "hits": self.hits.get(p, 0)} for p, k in self.items.items()]}


# -- suites --------------------------------------------------------------------------------------------------------
@dataclass
class Expectation:
    status: str = "SUCCEEDED"
    output: Any = None
    has_output: bool = False
    error: str | None = None
    cause: str | None = None
    path: list[str] | None = None


@dataclass
class TestSpec:
    """One test of a suite."""

    __test__ = False

    name: str
    input_text: str
    mocks: TestCaseMocks | None
    expect: Expectation
    pointer: str


@dataclass
class Suite:
    """A loaded suite: the compiled definition and its tests."""

    file: str
    name: str
    machine: StateMachine
    state_machine_name: str
    tests: list[TestSpec]


@dataclass
class TestResult:
    """The outcome of one test: ``failures`` is empty when it passed."""

    __test__ = False

    name: str
    failures: list[str]
    seconds: float
    result: ExecutionResult | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteResult:
    suite: Suite
    results: list[TestResult]
    coverage: Coverage

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _read_json(path: Path, what: str) -> Any:
    try:
        return jsontext.loads(path.read_text(encoding="utf-8"), f"The {what}")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except jsontext.JsonLimitError as exc:
        raise SuiteError(f"{path}: {exc.message}") from None
    except ValueError as exc:
        raise SuiteError(f"{path}: the {what} is not valid JSON: {exc}") from None


def _load_machine(path: Path) -> StateMachine:
    raw = _read_json(path, "definition")
    try:
        return load(raw)
    except DefinitionError as exc:
        lines = "\n".join(f"  {d}" for d in exc.diagnostics if d.severity.value == "ERROR")
        raise SuiteError(f"{path}: invalid definition:\n{lines}") from None


def _suite_machine(base: Path, ref: str, where: str) -> tuple[StateMachine, str | None]:
    """The suite's state machine: a definition file, or a SAM/CloudFormation template's (``template.yaml`` when it
    has one, ``template.yaml#LogicalId`` otherwise), with its substitutions applied; and the template's name for it."""
    file, sep, logical_id = ref.partition("#")
    if not sep and not file.endswith((".yaml", ".yml", ".template")):
        return _load_machine(base / file), None
    from .errors import ConfigError
    from .sam import load_template

    try:
        name, text, _ = load_template(base / file).state_machine(logical_id or None)
    except ConfigError as exc:
        raise SuiteError(f"{where}:/stateMachine: {exc}") from None
    try:
        return load(text), name
    except DefinitionError as exc:
        lines = "\n".join(f"  {d}" for d in exc.diagnostics if d.severity.value == "ERROR")
        raise SuiteError(f"{base / file}#{name}: invalid definition:\n{lines}") from None


def load_suite(path: str | Path) -> Suite:
    """Read a suite file, its definition and its mock configuration; every problem is a :class:`SuiteError`
    naming the file and the JSON pointer."""
    p = Path(path)
    raw = _read_json(p, "suite")
    where = str(p)
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: a suite is a JSON object with stateMachine and tests")
    sm_ref = raw.get("stateMachine")
    if not isinstance(sm_ref, str):
        raise SuiteError(f"{where}:/stateMachine: the path of the definition (a string) is required")
    machine, template_name = _suite_machine(p.parent, sm_ref, where)
    config: MockConfig | None = None
    mc = raw.get("mockConfig")
    try:
        if isinstance(mc, str):
            config = load_mock_config(p.parent / mc)
        elif isinstance(mc, dict):
            config = parse_mock_config(mc, f"{where}:/mockConfig")
        elif mc is not None:
            raise SuiteError(f"{where}:/mockConfig: a file path or an inline mock configuration object")
    except MockConfigError as exc:
        raise SuiteError(str(exc)) from None
    name = raw.get("stateMachineName")
    if name is None:
        name = next(iter(config.state_machines)) if config is not None and len(config.state_machines) == 1 \
            else template_name or Path(sm_ref).name.split(".")[0]
    if not isinstance(name, str):
        raise SuiteError(f"{where}:/stateMachineName: must be a string")
    tests_raw = raw.get("tests")
    if not isinstance(tests_raw, list) or not tests_raw:
        raise SuiteError(f"{where}:/tests: a non-empty array of tests is required")
    tests = [_test_spec(t, f"/tests/{i}", where, name, config) for i, t in enumerate(tests_raw)]
    for t in tests:
        _check_mocks(t, machine, where)
    seen: set[str] = set()
    for t in tests:
        if t.name in seen:
            raise SuiteError(f"{where}:{t.pointer}/name: the name '{t.name}' is used by an earlier test")
        seen.add(t.name)
    return Suite(where, str(raw.get("name") or p.stem), machine, name, tests)


def _test_spec(t: Any, ptr: str, where: str, sm_name: str, config: MockConfig | None) -> TestSpec:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
        raise SuiteError(f"{where}:{ptr}: a test is an object with a name (string)")
    unknown = sorted(t.keys() - {"name", "input", "testCase", "mocks", "expect", "description"})
    if unknown:
        raise SuiteError(f"{where}:{ptr}: unknown field(s) {', '.join(unknown)}")
    responses: dict[str, MockedResponse] = {}
    case = t.get("testCase")
    if case is not None and not isinstance(case, str):
        raise SuiteError(f"{where}:{ptr}/testCase: must be the name of a test case (a string)")
    if not isinstance(t.get("mocks", {}), dict):
        raise SuiteError(f"{where}:{ptr}/mocks: must be an object of Task state names and mocked responses")
    if case is not None:
        if config is None:
            raise SuiteError(f"{where}:{ptr}/testCase: the suite has no mockConfig to take test case '{case}' from")
        try:
            responses.update(config.test_case(sm_name, case).responses)
        except KeyError as exc:
            raise SuiteError(f"{where}:{ptr}/testCase: {exc.args[0]}") from None
    for state, m in (t.get("mocks") or {}).items():
        mp = f"{ptr}/mocks/{state}"
        if isinstance(m, str):
            if config is None or m not in config.responses:
                raise SuiteError(f"{where}:{mp}: no mocked response named '{m}' in the suite's mockConfig")
            responses[state] = config.responses[m]
        else:
            problems: list[tuple[str, str]] = []
            responses[state] = parse_mocked_response(state, m, mp, problems)
            if problems:
                raise SuiteError(f"{where}: invalid mocks:\n" + "\n".join(f"  {a}: {b}" for a, b in problems))
    exp_raw = t.get("expect") or {}
    if not isinstance(exp_raw, dict):
        raise SuiteError(f"{where}:{ptr}/expect: must be an object")
    unknown = sorted(exp_raw.keys() - {"status", "output", "error", "cause", "path"})
    if unknown:
        raise SuiteError(f"{where}:{ptr}/expect: unknown field(s) {', '.join(unknown)}")
    status = exp_raw.get("status", "FAILED" if "error" in exp_raw or "cause" in exp_raw else "SUCCEEDED")
    if status not in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"):
        raise SuiteError(f"{where}:{ptr}/expect/status: '{status}' is not SUCCEEDED, FAILED, TIMED_OUT or ABORTED")
    path = exp_raw.get("path")
    if path is not None and not (isinstance(path, list) and all(isinstance(x, str) for x in path)):
        raise SuiteError(f"{where}:{ptr}/expect/path: must be an array of state names")
    expect = Expectation(status, exp_raw.get("output"), "output" in exp_raw, exp_raw.get("error"), exp_raw.get("cause"), path)
    mocks = TestCaseMocks(sm_name, case or t["name"], responses) if responses else None
    return TestSpec(t["name"], json.dumps(t.get("input", {})), mocks, expect, ptr)


def suite_from_mock_config(definition: str | Path, mock_config: str | Path, state_machine_name: str | None = None,
                           input_text: str = "{}", expect: Mapping[str, str] | None = None) -> Suite:
    """A suite with one test per test case of a Step Functions Local mock configuration: each expects
    SUCCEEDED unless ``expect`` gives the test case another status."""
    machine = _load_machine(Path(definition))
    try:
        config = load_mock_config(mock_config)
    except MockConfigError as exc:
        raise SuiteError(str(exc)) from None
    if state_machine_name is None:
        if len(config.state_machines) != 1:
            raise SuiteError(f"{mock_config}: the mock configuration has {len(config.state_machines)} state machines "
                             f"({', '.join(config.state_machines)}); say which with --state-machine-name")
        state_machine_name = next(iter(config.state_machines))
    if state_machine_name not in config.state_machines:
        raise SuiteError(f"{mock_config}: no state machine '{state_machine_name}' (it has: {', '.join(config.state_machines)})")
    expect = dict(expect or {})
    unknown = sorted(set(expect) - set(config.state_machines[state_machine_name]))
    if unknown:
        raise SuiteError(f"{mock_config}: no test case {', '.join(unknown)} for '{state_machine_name}'")
    tests = [TestSpec(tc, input_text, config.test_case(state_machine_name, tc), _expectation(expect.get(tc, "SUCCEEDED")),
                      f"/StateMachines/{state_machine_name}/TestCases/{tc}")
             for tc in config.state_machines[state_machine_name]]
    for t in tests:
        _check_mocks(t, machine, str(mock_config))
    return Suite(str(mock_config), state_machine_name, machine, state_machine_name, tests)


def _expectation(want: str) -> Expectation:
    """``STATUS`` or ``STATUS:ERROR`` (asl test --expect): the status, and the error it must end with."""
    status, _, error = want.partition(":")
    return Expectation(status, error=error or None)


def _check_mocks(test: TestSpec, machine: StateMachine, where: str) -> None:
    problems = [] if test.mocks is None else test.mocks.problems(machine)
    if problems:
        raise SuiteError(f"{where}:{test.pointer}: " + "; ".join(problems))


def state_path(history: Iterable[dict[str, Any]]) -> list[str]:
    """The names of the states an execution entered, in order, nested states included."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith(_ENTERED)]


def _diff(label: str, want: Any, got: Any) -> str:
    a = json.dumps(want, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    body = "\n".join("    " + line for line in difflib.unified_diff(a, b, "expected", "actual", lineterm="", n=2))
    return f"{label} differs:\n{body}"


def check(expect: Expectation, result: ExecutionResult) -> list[str]:
    """What of ``expect`` does not hold for ``result`` (empty when all of it does)."""
    failures: list[str] = []
    if result.status != expect.status:
        detail = f" ({result.error}: {result.cause})" if result.error else ""
        failures.append(f"status: expected {expect.status}, got {result.status}{detail}")
    if expect.has_output and result.status == "SUCCEEDED" and result.output_value != expect.output:
        failures.append(_diff("output", expect.output, result.output_value))
    for k in ("error", "cause"):
        want = getattr(expect, k)
        if want is not None and getattr(result, k) != want:
            failures.append(f"{k}: expected {want!r}, got {getattr(result, k)!r}")
    if expect.path is not None:
        got = state_path(result.history)
        if got != expect.path:
            failures.append(_diff("path", expect.path, got))
    return failures


def run_suite(suite: Suite, options: Mapping[str, Any] | None = None) -> SuiteResult:
    """Run every test of a suite; ``options`` are extra ExecutionOptions fields (``adapters``, ``tasks``)."""
    coverage = Coverage.of(suite.machine)
    results = []
    for t in suite.tests:
        start = time.perf_counter()
        try:
            result, failures = run_test(suite.machine, suite.state_machine_name, t, coverage=coverage, **dict(options or {}))
        except Exception as exc:  # an internal error fails this test with its reason; the others still run
            results.append(TestResult(t.name, [f"internal error: {type(exc).__name__}: {exc}"], time.perf_counter() - start))
            continue
        results.append(TestResult(t.name, failures, time.perf_counter() - start, result))
    return SuiteResult(suite, results, coverage)


def _seeded(label: str) -> dict[str, Any]:
    """Random numbers and UUIDs ($random, $uuid, States.UUID, the execution's name and Map Run ids) seeded from the
    test's name: a test gives the same values every run, so an output that holds them can be expected."""
    digest = hashlib.sha256(label.encode()).digest()
    rng, ids = random.Random(int.from_bytes(digest[:16], "big")), random.Random(int.from_bytes(digest[16:], "big"))
    return {"rng": rng, "uuid4": lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4))}


def run_test(machine: StateMachine, state_machine_name: str, spec: TestSpec, **options: Any) -> tuple[ExecutionResult, list[str]]:
    """Run one test with its mocks on a virtual clock: the result, and what of its expectations did not hold.
    ``options`` are extra ExecutionOptions fields."""
    options = {**_seeded(f"{state_machine_name}/{spec.name}"), **options}
    opts = ExecutionOptions(state_machine_name=state_machine_name, mocks=spec.mocks.start() if spec.mocks else None,
                            **options)
    result = run(machine, spec.input_text, opts)
    return result, check(spec.expect, result)


# -- reports -------------------------------------------------------------------------------------------------------
def junit_xml(results: list[SuiteResult]) -> str:
    """The results as JUnit XML: one testsuite per suite, one testcase per test."""
    root = ElementTree.Element("testsuites", tests=str(sum(len(s.results) for s in results)),
                               failures=str(sum(1 for s in results for r in s.results if not r.passed)))
    for s in results:
        el = ElementTree.SubElement(root, "testsuite", name=s.suite.name, file=s.suite.file,
                                    tests=str(len(s.results)), failures=str(sum(1 for r in s.results if not r.passed)),
                                    errors="0", skipped="0", time=f"{sum(r.seconds for r in s.results):.6f}")
        props = ElementTree.SubElement(el, "properties")
        ElementTree.SubElement(props, "property", name="coverage", value=f"{s.coverage.percent:.2f}")
        for r in s.results:
            case = ElementTree.SubElement(el, "testcase", name=r.name, classname=s.suite.name, time=f"{r.seconds:.6f}")
            if not r.passed:
                failure = ElementTree.SubElement(case, "failure", message=r.failures[0].splitlines()[0])
                failure.text = "\n".join(r.failures)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def coverage_report(results: list[SuiteResult]) -> dict[str, Any]:
    """Coverage per suite and overall, as JSON."""
    covered = sum(s.coverage.summary()["total"][0] for s in results)
    total = sum(s.coverage.summary()["total"][1] for s in results)
    return {"percent": round(100.0 if total == 0 else 100.0 * covered / total, 2), "covered": covered, "total": total,
            "suites": [{"suite": s.suite.file, **s.coverage.to_dict()} for s in results]}


def summary_lines(results: list[SuiteResult], verbose: bool = False) -> Iterator[str]:
    """The human-readable summary: each test's verdict, each failure's diff, coverage per suite."""
    for s in results:
        yield f"{s.suite.file} (state machine {s.suite.state_machine_name})"
        for r in s.results:
            yield f"  {'PASS' if r.passed else 'FAIL'} {r.name}"
            for f in r.failures:
                yield from ("    " + line for line in f.splitlines())
        c = s.coverage.summary()
        yield ("  coverage {:.1f}%: states {}/{}, choice rules {}/{}, retriers {}/{}, catchers {}/{}".format(
            s.coverage.percent, *c["state"], *c["choice"], *c["retry"], *c["catch"]))
        if verbose:
            yield from (f"    not covered: {p}" for p in s.coverage.missed())
    passed = sum(1 for s in results for r in s.results if r.passed)
    total = sum(len(s.results) for s in results)
    yield f"{passed} of {total} tests passed"
