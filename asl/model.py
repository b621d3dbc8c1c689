"""Model: a validated definition compiled into immutable, typed objects.

Every path, template, intrinsic call and Choice rule is compiled here, once per definition, so the interpreter
never parses text on its hot path. Every node keeps its JSON pointer into the definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .diagnostics import DefinitionError, Severity, pointer_join
from .intrinsics import Call, compile_intrinsic, looks_like_intrinsic
from .jsonata import Expression, compile_expression
from .jsonpath import Path, compile_path
from .resources import Resource, parse_resource
from .validate import JSONATA, JSONPATH, is_jsonata, validate


class _Absent:
    """Marks a field that is not in the definition (different from a field that is null)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled JSONPath payload template. ``entries``: (output key, kind, payload) with kind one of
    ``lit`` (a literal JSON value), ``path`` (a Path), ``fn`` (an intrinsic Call), ``obj``/``arr`` (nested)."""

    kind: str  # "obj" | "arr" | "lit"
    entries: tuple[tuple[Any, str, Any], ...]
    pointer: str


def compile_template(value: Any, pointer: str) -> Template:
    """Compile a payload template (Parameters, ResultSelector, ItemSelector, JSONPath Assign, ...)."""
    if isinstance(value, dict):
        entries: list[tuple[Any, str, Any]] = []
        for k, v in value.items():
            p = pointer_join(pointer, k)
            if k.endswith(".$") and isinstance(v, str):
                if looks_like_intrinsic(v):
                    entries.append((k[:-2], "fn", (compile_intrinsic(v), k)))
                else:
                    entries.append((k[:-2], "path", (compile_path(v), k)))
            elif isinstance(v, dict | list):
                entries.append((k, "tpl", compile_template(v, p)))
            else:
                entries.append((k, "lit", v))
        return Template("obj", tuple(entries), pointer)
    if isinstance(value, list):
        return Template("arr", tuple((i, "tpl" if isinstance(v, dict | list) else "lit",
                                      compile_template(v, pointer_join(pointer, i)) if isinstance(v, dict | list) else v)
                                     for i, v in enumerate(value)), pointer)
    return Template("lit", ((None, "lit", value),), pointer)


@dataclass(frozen=True, slots=True)
class JTemplate:
    """A compiled JSONata-mode field value. ``kind``: ``expr`` (value: an Expression), ``obj`` (value: tuple of
    (key, JTemplate)), ``arr`` (value: tuple of JTemplate) or ``lit`` (value: the JSON value, holding no expression).
    ``location`` is the field as AWS names it in error causes, such as ``Output/result``."""

    kind: str
    value: Any
    location: str


def compile_jtemplate(value: Any, location: str) -> JTemplate:
    """Compile a JSONata-capable field: ``{% %}`` strings anywhere inside it become compiled expressions."""
    if is_jsonata(value):
        return JTemplate("expr", compile_expression(value), location)
    if isinstance(value, dict):
        entries = tuple((k, compile_jtemplate(v, f"{location}/{k}")) for k, v in value.items())
        if all(t.kind == "lit" for _, t in entries):
            return JTemplate("lit", value, location)
        return JTemplate("obj", entries, location)
    if isinstance(value, list):
        items = tuple(compile_jtemplate(v, f"{location}/{i}") for i, v in enumerate(value))
        if all(t.kind == "lit" for t in items):
            return JTemplate("lit", value, location)
        return JTemplate("arr", items, location)
    return JTemplate("lit", value, location)


@dataclass(frozen=True, slots=True)
class Retrier:
    """One entry of a Retry array, with AWS's defaults filled in."""

    error_equals: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    jitter: str = "NONE"


@dataclass(frozen=True, slots=True)
class Catcher:
    """One entry of a Catch array."""

    error_equals: tuple[str, ...]
    next: str
    result_path: Any  # Path, None (discard) or ABSENT (default "$")
    assign: Any  # Template (JSONPath), JTemplate (JSONata) or ABSENT
    output: Any  # JTemplate or ABSENT (JSONata only)


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled JSONPath Choice Rule: a boolean combinator or a data test."""

    op: str  # "And" | "Or" | "Not" | a comparison operator
    variable: Path | None = None
    operand: Any = None  # literal, Path (for *Path operators) or tuple[Rule, ...] for And/Or/Not
    next: str | None = None
    assign: Any = ABSENT
    output: Any = ABSENT  # JSONata rules: JTemplate
    condition: Any = ABSENT  # JSONata rules: JTemplate
    pointer: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    """A ``StartAt``/``States`` block: the whole machine, a Parallel branch or a Map processor."""

    start_at: str
    states: Mapping[str, State]
    pointer: str
    # Whether a branch running this block can wait (a Task, a Wait, a Retry delay, or a branch of its own that can):
    # only such branches run beside each other; the others run to their end at once, one after another.
    may_block: bool = False


@dataclass(frozen=True, slots=True)
class ItemBatcher:
    """A Distributed Map's ItemBatcher, compiled: each limit a number, a ``…Path`` (JSONPath) or an expression
    (JSONata), ABSENT when not given; ``batch_input`` a payload template (JSONPath) or a JTemplate (JSONata)."""

    max_items: Any = ABSENT
    max_items_path: Any = ABSENT
    max_bytes: Any = ABSENT
    max_bytes_path: Any = ABSENT
    batch_input: Any = ABSENT


def _compile_batcher(raw: Mapping[str, Any], ptr: str, ql: str) -> ItemBatcher:
    if ql == JSONATA:
        return ItemBatcher(max_items=_opt_j(raw, "MaxItemsPerBatch"), max_bytes=_opt_j(raw, "MaxInputBytesPerBatch"),
                           batch_input=_opt_j(raw, "BatchInput"))
    return ItemBatcher(max_items=raw.get("MaxItemsPerBatch", ABSENT), max_items_path=_opt_path(raw, "MaxItemsPerBatchPath"),
                       max_bytes=raw.get("MaxInputBytesPerBatch", ABSENT),
                       max_bytes_path=_opt_path(raw, "MaxInputBytesPerBatchPath"),
                       batch_input=compile_template(raw["BatchInput"], pointer_join(ptr, "BatchInput"))
                       if "BatchInput" in raw else ABSENT)


@dataclass(frozen=True, slots=True)
class ItemReader:
    """A Distributed Map's ItemReader, compiled: the S3 resource, its Parameters (JSONPath payload template) or
    Arguments (JSONata), the ReaderConfig as written, and MaxItems as a number, a path or an expression."""

    resource: str
    parameters: Any = ABSENT
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    max_items: Any = ABSENT
    max_items_path: Any = ABSENT


def _compile_reader(raw: Mapping[str, Any], ptr: str, ql: str) -> ItemReader:
    given = raw.get("ReaderConfig")
    config: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if ql == JSONATA:
        return ItemReader(raw["Resource"], _opt_j(raw, "Arguments"), MappingProxyType(dict(config)),
                          _opt_j(config, "MaxItems"))
    params = compile_template(raw["Parameters"], pointer_join(ptr, "Parameters")) if "Parameters" in raw else ABSENT
    return ItemReader(raw["Resource"], params, MappingProxyType(dict(config)), config.get("MaxItems", ABSENT),
                      _opt_path(config, "MaxItemsPath"))


@dataclass(frozen=True, slots=True)
class ResultWriter:
    """A Distributed Map's ResultWriter, compiled: the S3 resource and its Parameters (JSONPath payload template) or
    Arguments (JSONata), both absent when only WriterConfig shapes the state's result; WriterConfig as written."""

    resource: str | None = None
    parameters: Any = ABSENT
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def _compile_writer(raw: Mapping[str, Any], ptr: str, ql: str) -> ResultWriter:
    given = raw.get("WriterConfig")
    config = MappingProxyType(dict(given) if isinstance(given, dict) else {})
    if ql == JSONATA:
        return ResultWriter(raw.get("Resource"), _opt_j(raw, "Arguments"), config)
    params = compile_template(raw["Parameters"], pointer_join(ptr, "Parameters")) if "Parameters" in raw else ABSENT
    return ResultWriter(raw.get("Resource"), params, config)


@dataclass(frozen=True, slots=True)
class State:
    """One state, compiled. Fields that a state type does not have stay ABSENT."""

    name: str
    type: str
    pointer: str
    query_language: str
    raw: Mapping[str, Any]
    next: str | None = None
    end: bool = False
    input_path: Any = ABSENT
    output_path: Any = ABSENT
    parameters: Any = ABSENT
    result_selector: Any = ABSENT
    result_path: Any = ABSENT
    result: Any = ABSENT
    assign: Any = ABSENT
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    resource: Resource | None = None
    choices: tuple[Rule, ...] = ()
    default: str | None = None
    branches: tuple[Block, ...] = ()
    processor: Block | None = None
    items_path: Any = ABSENT
    item_selector: Any = ABSENT
    error_path: Any = ABSENT  # Path or Call
    cause_path: Any = ABSENT
    # JSONPath: the compiled *Path fields; JSONata: the fields that take expressions (TimeoutSeconds, Seconds, ...)
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    arguments: Any = ABSENT  # JSONata: JTemplate
    output: Any = ABSENT  # JSONata: JTemplate
    items: Any = ABSENT  # JSONata Map: JTemplate
    batcher: ItemBatcher | None = None  # a Distributed Map's ItemBatcher
    reader: ItemReader | None = None  # a Distributed Map's ItemReader
    writer: ResultWriter | None = None  # a Distributed Map's ResultWriter
    # A Pass or Succeed state with no data-flow field: its output is its input, unchanged (the interpreter's fast path)
    passthrough: bool = False


@dataclass(frozen=True, slots=True)
class StateMachine:
    """A compiled state machine definition."""

    definition: Mapping[str, Any]
    top: Block
    query_language: str
    timeout_seconds: int | None
    comment: str | None


_PATH_FIELDS = ("TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "MaxConcurrencyPath",
                "ToleratedFailureCountPath", "ToleratedFailurePercentagePath")


def _opt_path(raw: Mapping[str, Any], key: str) -> Any:
    if key not in raw:
        return ABSENT
    v = raw[key]
    return None if v is None else compile_path(v)


def _path_or_call(v: Any) -> Any:
    if not isinstance(v, str):
        return ABSENT
    return compile_intrinsic(v) if looks_like_intrinsic(v) else compile_path(v)


_JSONATA_FIELDS = ("TimeoutSeconds", "HeartbeatSeconds", "Seconds", "Timestamp", "MaxConcurrency",
                   "ToleratedFailureCount", "ToleratedFailurePercentage", "Error", "Cause")


# Every field by which a Pass or Succeed state can make its output differ from its input, in either query language
_DATA_FLOW_FIELDS = ("InputPath", "Parameters", "Result", "ResultPath", "OutputPath", "Assign", "Output", "Arguments")


def _compile_assign(raw: Mapping[str, Any], ptr: str, ql: str) -> Any:
    if "Assign" not in raw:
        return ABSENT
    return compile_template(raw["Assign"], pointer_join(ptr, "Assign")) if ql == JSONPATH else compile_jtemplate(raw["Assign"], "Assign")


def _opt_j(raw: Mapping[str, Any], key: str) -> Any:
    return compile_jtemplate(raw[key], key) if key in raw else ABSENT


def _credentials(raw: Mapping[str, Any], ptr: str, ql: str) -> dict[str, Any]:
    """A Task's ``Credentials`` (the role it assumes: ``RoleArn``, or ``RoleArn.$`` / a JSONata expression), compiled
    as a payload template under the key "Credentials"; nothing when it has none."""
    value = raw.get("Credentials") if raw.get("Type") == "Task" else None
    if not isinstance(value, Mapping):
        return {}
    if ql == JSONATA:
        return {"Credentials": compile_jtemplate(value, "Credentials")}
    return {"Credentials": compile_template(value, pointer_join(ptr, "Credentials"))}


def _compile_rule(raw: Mapping[str, Any], ptr: str, ql: str) -> Rule:
    if ql == JSONATA:
        return Rule("Condition", next=raw.get("Next"), assign=_compile_assign(raw, ptr, ql), output=_opt_j(raw, "Output"),
                    condition=_opt_j(raw, "Condition"), pointer=ptr)
    nxt = raw.get("Next")
    assign = compile_template(raw["Assign"], pointer_join(ptr, "Assign")) if "Assign" in raw else ABSENT
    for op in ("And", "Or"):
        if op in raw:
            subs = tuple(_compile_rule(r, pointer_join(ptr, op, i), ql) for i, r in enumerate(raw[op]))
            return Rule(op, operand=subs, next=nxt, assign=assign, pointer=ptr)
    if "Not" in raw:
        return Rule("Not", operand=(_compile_rule(raw["Not"], pointer_join(ptr, "Not"), ql),), next=nxt, assign=assign, pointer=ptr)
    from .validate import COMPARISONS

    op = next(k for k in raw if k in COMPARISONS)
    operand = raw[op]
    if op.endswith("Path"):
        operand = compile_path(operand)
    return Rule(op, variable=compile_path(raw["Variable"]), operand=operand, next=nxt, assign=assign, pointer=ptr)


def _compile_state(name: str, raw: Mapping[str, Any], ptr: str, top_ql: str) -> State:
    ql = raw.get("QueryLanguage", top_ql)
    typ = raw["Type"]
    kw: dict[str, Any] = {}
    if ql == JSONPATH:
        kw["input_path"] = _opt_path(raw, "InputPath")
        kw["output_path"] = _opt_path(raw, "OutputPath")
        kw["result_path"] = _opt_path(raw, "ResultPath")
        for key, attr in (("Parameters", "parameters"), ("ResultSelector", "result_selector"), ("ItemSelector", "item_selector")):
            if key in raw:
                kw[attr] = compile_template(raw[key], pointer_join(ptr, key))
        if typ == "Map" and "Parameters" in raw and "ItemSelector" not in raw:
            kw["item_selector"], kw["parameters"] = kw["parameters"], ABSENT
        kw["items_path"] = _opt_path(raw, "ItemsPath")
        kw["error_path"] = _path_or_call(raw.get("ErrorPath"))
        kw["cause_path"] = _path_or_call(raw.get("CausePath"))
        kw["fields"] = MappingProxyType({f: compile_path(raw[f]) for f in _PATH_FIELDS if isinstance(raw.get(f), str)}
                                        | _credentials(raw, ptr, ql))
    else:
        kw["arguments"] = _opt_j(raw, "Arguments")
        kw["output"] = _opt_j(raw, "Output")
        kw["items"] = _opt_j(raw, "Items")
        kw["item_selector"] = _opt_j(raw, "ItemSelector")
        kw["fields"] = MappingProxyType({f: compile_jtemplate(raw[f], f) for f in _JSONATA_FIELDS if f in raw}
                                        | _credentials(raw, ptr, ql))
    if "Result" in raw:
        kw["result"] = raw["Result"]
    kw["assign"] = _compile_assign(raw, ptr, ql)
    kw["retry"] = tuple(Retrier(tuple(r["ErrorEquals"]), r.get("IntervalSeconds", 1), r.get("MaxAttempts", 3),
                                float(r.get("BackoffRate", 2.0)), r.get("MaxDelaySeconds"), r.get("JitterStrategy", "NONE"))
                        for r in raw.get("Retry", ()))
    kw["catch"] = tuple(Catcher(tuple(c["ErrorEquals"]), c["Next"], _opt_path(c, "ResultPath") if ql == JSONPATH else ABSENT,
                                _compile_assign(c, pointer_join(ptr, "Catch", i), ql), _opt_j(c, "Output") if ql == JSONATA else ABSENT)
                        for i, c in enumerate(raw.get("Catch", ())))
    if typ == "Task" and isinstance(raw.get("Resource"), str):
        kw["resource"] = parse_resource(raw["Resource"])
    if typ == "Choice":
        kw["choices"] = tuple(_compile_rule(r, pointer_join(ptr, "Choices", i), ql) for i, r in enumerate(raw["Choices"]))
        kw["default"] = raw.get("Default")
    if typ == "Parallel":
        kw["branches"] = tuple(_compile_block(b, pointer_join(ptr, "Branches", i), top_ql) for i, b in enumerate(raw["Branches"]))
    if typ == "Map":
        key = "ItemProcessor" if "ItemProcessor" in raw else "Iterator"
        kw["processor"] = _compile_block(raw[key], pointer_join(ptr, key), top_ql)
        if isinstance(raw.get("ItemReader"), dict):
            kw["reader"] = _compile_reader(raw["ItemReader"], pointer_join(ptr, "ItemReader"), ql)
        if isinstance(raw.get("ResultWriter"), dict):
            kw["writer"] = _compile_writer(raw["ResultWriter"], pointer_join(ptr, "ResultWriter"), ql)
        if isinstance(raw.get("ItemBatcher"), dict):
            kw["batcher"] = _compile_batcher(raw["ItemBatcher"], pointer_join(ptr, "ItemBatcher"), ql)
    kw["passthrough"] = typ in ("Pass", "Succeed") and not any(f in raw for f in _DATA_FLOW_FIELDS)
    return State(name=name, type=typ, pointer=ptr, query_language=ql, raw=MappingProxyType(dict(raw)),
                 next=raw.get("Next"), end=raw.get("End") is True, **kw)


def _compile_block(raw: Mapping[str, Any], ptr: str, top_ql: str) -> Block:
    states = {n: _compile_state(n, s, pointer_join(ptr, "States", n), top_ql) for n, s in raw["States"].items()}
    return Block(raw["StartAt"], MappingProxyType(states), ptr, any(_may_block(s) for s in states.values()))


def _may_block(st: State) -> bool:
    if st.type in ("Task", "Wait") or st.retry:
        return True
    inner = st.branches + ((st.processor,) if st.processor is not None else ())
    return any(b.may_block for b in inner)


def load(definition: Any, *, machine_type: str = "STANDARD") -> StateMachine:
    """Validate and compile a definition (JSON text, bytes or a decoded object).

    Raises :class:`DefinitionError` carrying every diagnostic when the definition has ERRORs.
    """
    import json

    if isinstance(definition, str | bytes):
        from .parse import loads

        parsed = loads(definition)
        if not parsed.ok or any(x.severity is Severity.ERROR for x in parsed.diagnostics):
            raise DefinitionError(parsed.diagnostics)
        definition = parsed.value
    diags = validate(definition, machine_type=machine_type)
    if any(x.severity is Severity.ERROR for x in diags):
        raise DefinitionError(diags)
    ql = definition.get("QueryLanguage", JSONPATH)
    frozen = json.loads(json.dumps(definition))  # our own copy: the caller may mutate theirs
    return StateMachine(frozen, _compile_block(frozen, "", ql), ql, definition.get("TimeoutSeconds"), definition.get("Comment"))


__all__ = ["ABSENT", "Block", "Call", "Catcher", "Expression", "JTemplate", "Path", "Retrier", "Rule", "State", "StateMachine", "Template", "load"]
