"""A pytest plugin (registered by installing asl): test state machines inside your own pytest suites.

Two ways in:

- the ``asl`` fixture runs a definition with mocks on a virtual clock and returns the result::

      def test_duplicate_order(asl):
          r = asl.run("orders.asl.json", {"orderId": "o-1"},
                      mocks={"SaveOrder": {"0": {"Throw": {"Error": "DynamoDB.ConditionalCheckFailedException",
                                                           "Cause": "exists"}}}})
          assert r.status == "FAILED" and r.error == "DuplicateOrder"
          assert asl.path(r) == ["ValidateOrder", "SaveOrder", "Duplicate"]

- suite files (``*.test.json`` with a ``stateMachine``, see ``spec/test-suite.schema.json``) among the paths
  pytest collects become one test item per test, failing with the same diffs as ``asl test``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from . import jsontext
from .mocks import (
    MockConfig,
    MockConfigError,
    MockedResponse,
    TestCaseMocks,
    load_mock_config,
    parse_mocked_response,
)
from .model import StateMachine, load
from .runtime import ExecutionOptions, ExecutionResult, run
from .testing import Coverage, SuiteError, TestSpec, load_suite, run_test, state_path


class AslTester:
    """What the ``asl`` fixture gives: :meth:`run` executions with mocks, and the coverage they add up to."""

    def __init__(self) -> None:
        self._machines: dict[str, StateMachine] = {}
        self.coverage: dict[str, Coverage] = {}

    def _machine(self, definition: str | Path | Mapping[str, Any]) -> tuple[str, StateMachine]:
        if isinstance(definition, Mapping):
            key = json.dumps(definition, sort_keys=True)
            if key not in self._machines:
                self._machines[key] = load(dict(definition))
            return key, self._machines[key]
        key = str(Path(definition).resolve())
        if key not in self._machines:
            self._machines[key] = load(Path(definition).read_text(encoding="utf-8"))
        return key, self._machines[key]

    def run(self, definition: str | Path | Mapping[str, Any], input: Any = None, *,  # noqa: A002 - AWS's word
            mocks: Mapping[str, Any] | None = None, mock_config: str | Path | MockConfig | None = None,
            test_case: str | None = None, state_machine_name: str | None = None, **options: Any) -> ExecutionResult:
        """Run ``definition`` (a path or a definition object) with ``input`` on a virtual clock.

        ``mock_config`` and ``test_case`` pick a Step Functions Local test case; ``mocks`` maps Task state names
        to mocked responses (``{"0": {"Return": ...}}``) laid over it. Other keywords are ExecutionOptions
        fields (``tasks``, ``adapters``, ``execution_name`` ...). Bad mocks raise ValueError naming the problem.
        """
        key, machine = self._machine(definition)
        name = state_machine_name or (Path(str(definition)).name.split(".")[0] if not isinstance(definition, Mapping)
                                      else "StateMachine")
        responses: dict[str, MockedResponse] = {}
        if mock_config is not None:
            cfg = mock_config if isinstance(mock_config, MockConfig) else load_mock_config(mock_config)
            if state_machine_name is None and len(cfg.state_machines) == 1:
                name = next(iter(cfg.state_machines))
            if test_case is not None:
                responses.update(cfg.test_case(name, test_case).responses)
        for state, body in (mocks or {}).items():
            problems: list[tuple[str, str]] = []
            responses[state] = parse_mocked_response(state, body, f"/mocks/{state}", problems)
            if problems:
                raise MockConfigError("mocks", problems)
        coverage = self.coverage.setdefault(key, Coverage.of(machine))
        opts = ExecutionOptions(state_machine_name=name, coverage=coverage, **options)
        if responses:
            opts.mocks = TestCaseMocks(name, test_case or "inline", responses).start()
        return run(machine, json.dumps({} if input is None else input), opts)

    @staticmethod
    def path(result: ExecutionResult) -> list[str]:
        """The names of the states the execution entered, in order."""
        return state_path(result.history)


@pytest.fixture
def asl() -> AslTester:
    """Run state machines with mocks on a virtual clock (see :class:`AslTester`)."""
    return AslTester()


class SuiteFailure(Exception):
    """A suite test whose expectations did not hold."""


class SuiteFile(pytest.File):
    """A ``*.test.json`` suite: one item per test."""

    def collect(self) -> Iterator[SuiteItem]:
        try:
            suite = load_suite(self.path)
        except SuiteError as exc:
            raise self.CollectError(str(exc)) from None
        for spec in suite.tests:
            yield SuiteItem.from_parent(self, name=spec.name, spec=spec, machine=suite.machine,
                                        state_machine_name=suite.state_machine_name)


class SuiteItem(pytest.Item):
    def __init__(self, *, spec: TestSpec, machine: StateMachine, state_machine_name: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.machine = machine
        self.state_machine_name = state_machine_name

    def runtest(self) -> None:
        _, failures = run_test(self.machine, self.state_machine_name, self.spec)
        if failures:
            raise SuiteFailure("\n".join(failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SuiteFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.name}"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> SuiteFile | None:
    """Collect ``*.test.json`` files that are asl suites (they have a ``stateMachine``)."""
    if not file_path.name.endswith(".test.json"):
        return None
    try:
        raw = jsontext.loads(file_path.read_text(encoding="utf-8"), "The suite")
    except (OSError, ValueError):  # the suite file's own item reports it when it is run
        return None
    if not isinstance(raw, dict) or "stateMachine" not in raw:
        return None
    return SuiteFile.from_parent(parent, path=file_path)
