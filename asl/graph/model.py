"""A definition as a graph to draw: blocks of states (the machine, a Parallel branch, a Map processor), each state a
node, each transition an edge (Next, a Choice rule, Default, Catch), Parallel and Map states as nodes holding
blocks.

Built from the definition's JSON (a validated definition draws exactly; an invalid one still draws what it can:
a Next to a missing state is left out, never an error).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Choice comparison operators, by the suffix of the spec's comparator names.
_OPERATORS = {"Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=", "GreaterThanEquals": ">="}
_TYPE_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "a number", "IsString": "a string",
               "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


@dataclass
class Edge:
    """A transition drawn from ``source`` to ``target`` (state names); ``kind`` is next, choice, default or catch."""

    source: str
    target: str
    kind: str
    label: str = ""


@dataclass
class Node:
    """A state (or the start/end marker, ``type`` "Start"/"End"); ``blocks`` are a Parallel's branches or a Map's
    item processor."""

    name: str
    type: str
    pointer: str
    detail: str = ""
    retry: str = ""
    catch: bool = False
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Block:
    """States that run in one scope, in definition order, with their transitions."""

    nodes: list[Node]
    edges: list[Edge]
    start: str


START, END = "\x00start", "\x00end"


def _jsonata(text: Any) -> str:
    s = str(text).strip()
    return s[2:-2].strip() if s.startswith("{%") and s.endswith("%}") else s


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def rule_words(rule: Mapping[str, Any]) -> str:
    """A Choice rule in words: ``$.type == "buy"``, ``$.n >= $.limit``, ``not ($.x is present)``, ``a and b``."""
    if "Condition" in rule:
        return _jsonata(rule["Condition"])
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if isinstance(rule.get(combinator), list):
            parts = [rule_words(r) if isinstance(r, Mapping) else "?" for r in rule[combinator]]
            return joiner.join(f"({p})" if (" and " in p or " or " in p) else p for p in parts)
    if isinstance(rule.get("Not"), Mapping):
        return f"not ({rule_words(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        if key in _TYPE_TESTS:
            return f"{variable} is {'' if value is True else 'not '}{_TYPE_TESTS[key]}"
        if key.startswith("StringMatches"):
            return f"{variable} matches {_literal(value)}"
        for suffix in sorted(_OPERATORS, key=len, reverse=True):
            if key.endswith(suffix + "Path"):
                return f"{variable} {_OPERATORS[suffix]} {value}"
            if key.endswith(suffix):
                return f"{variable} {_OPERATORS[suffix]} {_literal(value)}"
    return variable


def _retry_words(retriers: Any) -> str:
    if not isinstance(retriers, list) or not retriers:
        return ""
    parts = []
    for r in retriers:
        if isinstance(r, Mapping):
            errors = ", ".join(str(e) for e in r.get("ErrorEquals") or [])
            parts.append(f"{errors} ×{r.get('MaxAttempts', 3)}")
    return "retry " + "; ".join(parts)


def _detail(state: Mapping[str, Any]) -> str:
    """A short second line: a Task's resource, a Wait's time."""
    kind = state.get("Type")
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        if resource.startswith("arn:aws:states:::"):
            return resource[len("arn:aws:states:::"):]
        return resource.rsplit(":", 1)[-1] if resource.startswith("arn:") else resource
    if kind == "Wait":
        for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath"):
            if key in state:
                value = state[key]
                return f"{value} s" if key == "Seconds" and not isinstance(value, str) else f"{key} {value}"
    return ""


def _distributed(state: Mapping[str, Any], processor: Mapping[str, Any]) -> str:
    """A Distributed Map's mode and what it reads and writes, in a few words; "" for an inline Map."""
    config = processor.get("ProcessorConfig")
    if not isinstance(config, Mapping) or config.get("Mode") != "DISTRIBUTED":
        return ""
    words = ["distributed" + (f" ({config['ExecutionType'].lower()})" if isinstance(config.get("ExecutionType"), str) else "")]
    reader = state.get("ItemReader")
    if isinstance(reader, Mapping):
        resource = str(reader.get("Resource", ""))
        words.append("reads " + resource.removeprefix("arn:aws:states:::"))
    if isinstance(state.get("ItemBatcher"), Mapping):
        words.append("batched")
    if isinstance(state.get("ResultWriter"), Mapping):
        words.append("writes results")
    return ", ".join(words)


def build_block(states_parent: Mapping[str, Any], pointer: str, top: bool = False) -> Block:
    """The block of the ``States`` in ``states_parent`` (a definition, a branch or a Map's processor) at
    ``pointer``; ``top`` adds the start and end markers."""
    states = states_parent.get("States")
    states = states if isinstance(states, Mapping) else {}
    start = str(states_parent.get("StartAt", ""))
    nodes: list[Node] = []
    edges: list[Edge] = []
    if top:
        nodes.append(Node(START, "Start", pointer))
        if start in states:
            edges.append(Edge(START, start, "next"))
    ends = False
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        ptr = f"{pointer}/States/{_escape(name)}"
        kind = str(state.get("Type", "?"))
        node = Node(name, kind, ptr, _detail(state), _retry_words(state.get("Retry")), bool(state.get("Catch")))
        if kind == "Parallel" and isinstance(state.get("Branches"), list):
            node.blocks = [build_block(b, f"{ptr}/Branches/{i}") for i, b in enumerate(state["Branches"])
                           if isinstance(b, Mapping)]
        elif kind == "Map":
            key = "ItemProcessor" if isinstance(state.get("ItemProcessor"), Mapping) else "Iterator"
            if isinstance(state.get(key), Mapping):
                node.blocks = [build_block(state[key], f"{ptr}/{key}")]
                node.detail = _distributed(state, state[key])
        nodes.append(node)
        edges.extend(_transitions(name, state, states))
        if state.get("End") is True or kind in ("Succeed", "Fail"):
            ends = True
            if top:
                edges.append(Edge(name, END, "next"))
    if top and ends:
        nodes.append(Node(END, "End", pointer))
    return Block(nodes, _merged(edges), START if top else start)


_KIND_ORDER = ("next", "choice", "default", "catch")


def _merged(edges: list[Edge]) -> list[Edge]:
    """One edge per source and target (a rule and the Default, or two Catchers, to the same state would be drawn on
    top of each other): the first kind of next, choice, default, catch, with the labels joined."""
    by_pair: dict[tuple[str, str], list[Edge]] = {}
    for e in edges:
        by_pair.setdefault((e.source, e.target), []).append(e)
    out = []
    for (source, target), group in by_pair.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        kind = min((e.kind for e in group), key=_KIND_ORDER.index)
        labels = [e.label for e in group if e.label]
        out.append(Edge(source, target, kind, " / ".join(labels)))
    return out


def _transitions(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[Edge]:
    edges: list[Edge] = []
    if isinstance(state.get("Next"), str) and state["Next"] in states:
        edges.append(Edge(name, state["Next"], "next"))
    by_target: dict[str, list[str]] = {}
    for rule in state.get("Choices") or [] if isinstance(state.get("Choices"), list) else []:
        if isinstance(rule, Mapping) and rule.get("Next") in states:
            by_target.setdefault(str(rule["Next"]), []).append(rule_words(rule))
    edges.extend(Edge(name, target, "choice", " or ".join(words)) for target, words in by_target.items())
    if isinstance(state.get("Default"), str) and state["Default"] in states:
        edges.append(Edge(name, state["Default"], "default", "Default"))
    for catcher in state.get("Catch") or [] if isinstance(state.get("Catch"), list) else []:
        if isinstance(catcher, Mapping) and catcher.get("Next") in states:
            errors = ", ".join(str(e) for e in catcher.get("ErrorEquals") or [])
            edges.append(Edge(name, str(catcher["Next"]), "catch", f"catch {errors}"))
    return edges


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def build_graph(definition: Mapping[str, Any]) -> Block:
    """The top-level block of a definition, with start and end markers."""
    return build_block(definition, "", top=True)
