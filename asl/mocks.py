"""Mocked service responses in the Step Functions Local mock configuration format (``MockConfigFile.json``).

The format, as AWS documents it for Step Functions Local::

    {"StateMachines":   {"<state machine name>": {"TestCases": {"<test case>": {"<Task state>": "<mocked response>"}}}},
     "MockedResponses": {"<mocked response>": {"0": {"Return": ...}, "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}}

A test case maps Task state names to mocked responses; a Task not listed calls its resource as usual. A mocked
response maps zero-based invocation numbers (``"0"``) or inclusive ranges (``"1-3"``) to exactly one of
``Return`` (the service's response: the task's result) or ``Throw`` (an error and a cause). Invocations are
counted per state within one execution, retries included; the keys must cover 0, 1, 2, ... without gaps or
overlaps, and an invocation past the last one fails the execution.

:func:`load_mock_config` checks a whole file and reports every problem with its JSON pointer; a
:class:`MockConfig` then gives the :class:`TestCaseMocks` of one test case, and each execution counts its own
invocations in a fresh :class:`Mocks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import jsontext
from .diagnostics import pointer_join
from .errors import MockConfigError

if TYPE_CHECKING:
    from .model import Block, State, StateMachine

_RANGE = re.compile(r"(0|[1-9]\d*)(?:-(0|[1-9]\d*))?")


@dataclass(frozen=True, slots=True)
class MockedResult:
    """What one invocation gets: ``value`` (a Return) or ``error``/``cause`` (a Throw)."""

    value: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def throws(self) -> bool:
        return self.error is not None


@dataclass(frozen=True, slots=True)
class MockedResponse:
    """A named mocked response: the result of each invocation, by number."""

    name: str
    ranges: tuple[tuple[int, int, MockedResult], ...]

    @property
    def invocations(self) -> int:
        """How many invocations it answers."""
        return self.ranges[-1][1] + 1 if self.ranges else 0

    def at(self, invocation: int) -> MockedResult | None:
        """The result of the given (zero-based) invocation, or None past the last one."""
        for lo, hi, result in self.ranges:
            if lo <= invocation <= hi:
                return result
        return None


@dataclass(frozen=True)
class TestCaseMocks:
    """The mocked responses of one test case, by Task state name."""

    __test__ = False  # not a pytest test class, despite the name

    state_machine: str
    test_case: str
    responses: Mapping[str, MockedResponse]

    def start(self) -> Mocks:
        """Fresh invocation counters for one execution."""
        return Mocks(self)

    def problems(self, machine: StateMachine) -> list[str]:
        """What in these mocks the definition cannot use, each naming the state: a state it does not have, or one
        that is not a Task (or a Distributed Map with an ItemReader, whose mocked response gives the items). A mock
        nothing uses would let a test pass for the wrong reason."""
        states = all_states(machine)
        out = []
        for name in self.responses:
            st = states.get(name)
            if st is None:
                out.append(f"the test case '{self.test_case}' mocks the state '{name}', which the state machine does not "
                           "have")
            elif st.type != "Task" and not (st.type == "Map" and st.reader is not None):
                out.append(f"the test case '{self.test_case}' mocks the state '{name}' ({st.pointer}), a {st.type} "
                           "state: only Task states (and Distributed Maps with an ItemReader) take mocked responses")
        return out


def all_states(machine: StateMachine) -> dict[str, State]:
    """Every state of a definition by name, those inside Parallel branches and Map processors too."""
    found: dict[str, State] = {}

    def block(b: Block) -> None:
        for st in b.states.values():
            found.setdefault(st.name, st)
            for br in st.branches:
                block(br)
            if st.processor is not None:
                block(st.processor)

    block(machine.top)
    return found


@dataclass
class Mocks:
    """The mocks one execution uses, with its invocation counts per state."""

    case: TestCaseMocks
    counts: dict[str, int] = field(default_factory=dict)

    def mocks(self, state_name: str) -> bool:
        """True when the state's Task is mocked in this test case."""
        return state_name in self.case.responses

    def take(self, state_name: str) -> MockedResult | None:
        """The result of the state's next invocation (counting it), or None when the mocked response has no
        entry for it."""
        n = self.counts.get(state_name, 0)
        self.counts[state_name] = n + 1
        return self.case.responses[state_name].at(n)


@dataclass(frozen=True)
class MockConfig:
    """A checked mock configuration."""

    state_machines: Mapping[str, Mapping[str, Mapping[str, str]]]  # name → test case → state → response name
    responses: Mapping[str, MockedResponse]
    source: str = "<mock config>"

    def test_case(self, state_machine: str, test_case: str) -> TestCaseMocks:
        """The mocks of ``test_case`` for ``state_machine``; KeyError with a message naming what exists."""
        cases = self.state_machines.get(state_machine)
        if cases is None:
            known = ", ".join(sorted(self.state_machines)) or "none"
            raise KeyError(f"{self.source}: no state machine '{state_machine}' in the mock configuration "
                           f"(it has: {known})")
        mapping = cases.get(test_case)
        if mapping is None:
            known = ", ".join(sorted(cases)) or "none"
            raise KeyError(f"{self.source}: state machine '{state_machine}' has no test case '{test_case}' "
                           f"(it has: {known})")
        return TestCaseMocks(state_machine, test_case, {state: self.responses[name] for state, name in mapping.items()})


def parse_mocked_response(name: str, raw: Any, ptr: str, problems: list[tuple[str, str]]) -> MockedResponse:
    """Check one mocked response (``{"0": {"Return": ...}, "1-2": {"Throw": ...}}``); problems are appended."""
    if not isinstance(raw, dict) or not raw:
        problems.append((ptr, "a mocked response must be a non-empty object of invocation numbers or ranges"))
        return MockedResponse(name, ())
    ranges: list[tuple[int, int, MockedResult]] = []
    for key, entry in raw.items():
        p = pointer_join(ptr, key)
        m = _RANGE.fullmatch(key)
        if m is None:
            problems.append((p, f"'{key}' is not an invocation number or range such as \"0\" or \"1-3\""))
            continue
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            problems.append((p, f"the range '{key}' ends before it starts"))
            continue
        result = _parse_result(entry, p, problems)
        if result is not None:
            ranges.append((lo, hi, result))
    ranges.sort(key=lambda r: r[0])
    expected = 0
    for lo, hi, _ in ranges:
        if lo != expected:
            what = "overlaps" if lo < expected else "leaves a gap before"
            problems.append((ptr, f"invocation keys must cover 0, 1, 2, ... in order: the entry starting at {lo} "
                                  f"{what} invocation {expected}"))
            break
        expected = hi + 1
    return MockedResponse(name, tuple(ranges))


def _parse_result(entry: Any, ptr: str, problems: list[tuple[str, str]]) -> MockedResult | None:
    if not isinstance(entry, dict) or len(entry.keys() & {"Return", "Throw"}) != 1:
        problems.append((ptr, "each invocation needs exactly one of Return or Throw"))
        return None
    extra = sorted(entry.keys() - {"Return", "Throw"})
    if extra:
        problems.append((ptr, f"unknown field(s) {', '.join(extra)}; an invocation has Return or Throw"))
        return None
    if "Return" in entry:
        return MockedResult(value=entry["Return"])
    throw = entry["Throw"]
    p = pointer_join(ptr, "Throw")
    if not isinstance(throw, dict):
        problems.append((p, "Throw must be an object with Error and Cause"))
        return None
    bad = [k for k in ("Error", "Cause") if not isinstance(throw.get(k), str)]
    if bad:
        problems.append((p, f"Throw needs {' and '.join(bad)} as string{'s' if len(bad) > 1 else ''}"))
        return None
    return MockedResult(error=throw["Error"], cause=throw["Cause"])


def parse_mock_config(raw: Any, source: str = "<mock config>") -> MockConfig:
    """Check a mock configuration given as a decoded JSON value; raises :class:`MockConfigError` with every
    problem found."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, dict):
        raise MockConfigError(source, [("", "a mock configuration is a JSON object with StateMachines and MockedResponses")])
    extra = sorted(raw.keys() - {"StateMachines", "MockedResponses"})
    if extra:
        problems.append(("", f"unknown top-level field(s): {', '.join(extra)}"))
    raw_responses = raw.get("MockedResponses", {})
    responses: dict[str, MockedResponse] = {}
    if not isinstance(raw_responses, dict):
        problems.append(("/MockedResponses", "MockedResponses must be an object"))
    else:
        for name, body in raw_responses.items():
            responses[name] = parse_mocked_response(name, body, pointer_join("/MockedResponses", name), problems)
    machines: dict[str, dict[str, dict[str, str]]] = {}
    raw_machines = raw.get("StateMachines")
    if not isinstance(raw_machines, dict):
        problems.append(("/StateMachines", "StateMachines is required and must be an object"))
        raw_machines = {}
    for sm, body in raw_machines.items():
        p = pointer_join("/StateMachines", sm)
        cases = body.get("TestCases") if isinstance(body, dict) else None
        if not isinstance(cases, dict):
            problems.append((p, "a state machine needs TestCases, an object of test cases"))
            continue
        machines[sm] = {}
        for tc, mapping in cases.items():
            tp = pointer_join(p, "TestCases", tc)
            if not isinstance(mapping, dict):
                problems.append((tp, "a test case maps Task state names to mocked response names"))
                continue
            for state, response in mapping.items():
                if not isinstance(response, str):
                    problems.append((pointer_join(tp, state), "the mocked response must be named by a string"))
                elif response not in responses and isinstance(raw_responses, dict):
                    problems.append((pointer_join(tp, state), f"no mocked response named '{response}' in MockedResponses"))
            machines[sm][tc] = {s: r for s, r in mapping.items() if isinstance(r, str)}
    if problems:
        raise MockConfigError(source, problems)
    return MockConfig(machines, responses, source)


def load_mock_config(path: str | Path) -> MockConfig:
    """Read and check a mock configuration file."""
    p = Path(path)
    try:
        raw = jsontext.loads(p.read_text(encoding="utf-8"), "The mock configuration")
    except OSError as exc:
        raise MockConfigError(str(p), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    except jsontext.JsonLimitError as exc:
        raise MockConfigError(str(p), [("", exc.message)]) from None
    except ValueError as exc:
        raise MockConfigError(str(p), [("", f"not valid JSON: {exc}")]) from None
    return parse_mock_config(raw, str(p))
