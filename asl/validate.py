"""Validate: a parsed definition → every problem in it, each at its JSON pointer.

Two passes over the same document, both collecting rather than stopping at the first problem:

1. the structural JSON Schema in ``spec/asl-definition.schema.json`` (types, required and allowed fields per
   state type, ranges);
2. semantic checks that a schema cannot express: transitions and reachability, unique names, fields per
   QueryLanguage, mutually exclusive fields, Retry/Catch rules, JSONPath and Reference Path syntax, intrinsic
   functions, JSONata syntax, Choice rules, Map and Parallel rules (recursively), timestamps and variable names.

The semantic pass never trusts the shape of the document: anything the schema already reported is skipped, so
arbitrary JSON gets diagnostics and never an exception.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, TypeGuard

from . import diagnostics as d
from . import jsontext
from .diagnostics import Diagnostic, error, pointer_join, warning
from .intrinsics import IntrinsicSyntaxError, compile_intrinsic, looks_like_intrinsic
from .jsonpath import CONTEXT, VARIABLE, PathSyntaxError, compile_path
from .parse import loads
from .resources import SYNC, SYNC2, WAIT_FOR_TASK_TOKEN, is_recognised, parse_resource
from .schemacheck import Check, UnsupportedSchema, compile_check

if TYPE_CHECKING:
    import jsonschema

SCHEMA_FILE = FsPath(__file__).parent / "schemas" / "asl-definition.schema.json"

JSONPATH, JSONATA = "JSONPath", "JSONata"
# Fields that exist only in one query language ([SPEC] Document History, Nov 2024).
JSONPATH_ONLY = frozenset({
    "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Result", "ItemsPath",
    "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "TimeoutSecondsPath",
    "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
})
JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})
# Fields that hold a JSONata expression (or a number) in a JSONata state, and only a number in a JSONPath one.
EXPRESSION_NUMBERS = ("TimeoutSeconds", "HeartbeatSeconds", "Seconds", "MaxConcurrency", "ToleratedFailureCount",
                      "ToleratedFailurePercentage")
PREDEFINED_ERRORS = frozenset({
    "States.ALL", "States.HeartbeatTimeout", "States.Timeout", "States.TaskFailed", "States.Permissions",
    "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.QueryEvaluationError",
    "States.BranchFailed", "States.NoChoiceMatched", "States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed", "States.ResultWriterFailed", "States.DataLimitExceeded", "States.Runtime",
    "States.Http.Socket",
})
# the errors of an HTTP Task whose endpoint answered with a status code that is not 2xx
_HTTP_STATUS_ERROR = re.compile(r"States\.Http\.StatusCode\.\d{3}")
COMPARISONS: dict[str, str] = {
    **{f"String{op}": "string" for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    "StringMatches": "string",
    **{f"Numeric{op}": "number" for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    "BooleanEquals": "boolean",
    **{f"Timestamp{op}": "timestamp" for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    **{f"Is{t}": "boolean" for t in ("Null", "Present", "Numeric", "String", "Boolean", "Timestamp")},
}
for _op in [k for k in COMPARISONS if not k.startswith("Is") and k != "StringMatches"]:
    COMPARISONS[_op + "Path"] = "path"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_NAME = 80
MAX_LABEL = 40
LABEL_FORBIDDEN = set(" \t\n\r<>{}[]?*\"#%\\^|~`$&,;:/")


def is_jsonata(value: Any) -> TypeGuard[str]:
    """True for a string that is a JSONata expression: ``{%`` ... ``%}`` with nothing outside."""
    return isinstance(value, str) and len(value) >= 4 and value.startswith("{%") and value.endswith("%}")


def is_timestamp(value: str) -> bool:
    """True for an RFC 3339 timestamp with an uppercase T and Z or a numeric offset, as AWS accepts."""
    if not RFC3339.match(value):
        return False
    from datetime import datetime

    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def _schema() -> Any:
    return json.loads(SCHEMA_FILE.read_text())


@lru_cache(maxsize=1)
def _schema_check() -> Check | None:
    try:
        return compile_check(_schema())
    except UnsupportedSchema:  # the schema grew a keyword the quick check lacks: ask jsonschema every time
        return None


@lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # only for a definition that fails the quick check: importing it is slow

    return jsonschema.Draft202012Validator(_schema())


def _type_name(schema_type: Any) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
             "object": "an object", "array": "an array", "null": "null"}
    if isinstance(schema_type, list):
        return " or ".join(names.get(str(t), str(t)) for t in schema_type)
    return names.get(schema_type, str(schema_type))


def _schema_errors(doc: Any) -> Iterator[Diagnostic]:
    check = _schema_check()
    if check is not None and check(doc):
        return
    for err in _schema_validator().iter_errors(doc):
        yield from _translate(err)


def _translate(err: jsonschema.ValidationError) -> Iterator[Diagnostic]:
    ptr = "".join(pointer_join("", p) for p in err.absolute_path)
    field = str(err.absolute_path[-1]) if err.absolute_path else ""
    code = d.SCHEMA_VALIDATION_FAILED
    custom = err.schema.get("errorMessage") if isinstance(err.schema, dict) else None
    v = err.validator
    if custom and v in ("anyOf", "minItems", "type", "minimum", "maximum", "items"):
        yield error(code, ptr, custom)
    elif v == "required":
        missing = [f for f in err.validator_value if isinstance(err.instance, dict) and f not in err.instance]
        yield error(code, ptr, f"These fields are required: [{', '.join(missing)}]")
    elif v == "additionalProperties":
        allowed = err.schema.get("properties", {})
        where = f"{err.instance.get('Type')} states" if isinstance(err.instance.get("Type"), str) and "Type" in allowed else "this object"
        for key in err.instance:
            if key not in allowed:
                yield error(code, pointer_join(ptr, key), f"The field '{key}' is not supported in {where}")
    elif v == "enum":
        vals = ", ".join(str(x) for x in err.validator_value)
        yield error(code, ptr, f"The field '{field}' should have one of these values: [{vals}]")
    elif v == "type":
        yield error(code, ptr, f"The field '{field}' must be {_type_name(err.validator_value)}")
    elif v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        yield error(code, ptr, f"The field '{field}' must be {word} {err.validator_value}")
    elif v == "minItems":
        yield error(code, ptr, f"Value cannot be empty: '{field}' needs at least {err.validator_value} item(s)")
    elif v == "minProperties":
        yield error(code, ptr, f"Value cannot be empty: '{field}' needs at least one state")
    elif v == "minLength":
        yield error(code, ptr, f"The field '{field}' cannot be empty")
    elif v == "anyOf":
        yield error(code, ptr, f"The field '{field}' has an invalid value: {json.dumps(err.instance)[:100]}")
    else:
        yield error(code, ptr, err.message)


class _Checker:
    """The semantic pass. One instance per definition; ``out`` collects diagnostics."""

    def __init__(self, machine_type: str):
        self.out: list[Diagnostic] = []
        self.machine_type = machine_type
        self.seen_names: dict[str, str] = {}
        self.top_ql = JSONPATH
        # Variable scopes: one per States block; a block's parent is the block around it (None for the top and
        # for Distributed Map processors, which do not see the parent's variables).
        self.scope_parent: dict[int, int | None] = {}
        self.scope_stack: list[int] = []
        self.assignments: list[tuple[int, str, str]] = []  # (scope, variable name, pointer)
        self.references: list[tuple[int, str, str]] = []  # (scope, variable name, pointer)
        self.new_root_scope = False

    # -- helpers -------------------------------------------------------------------------------------------
    def err(self, ptr: str, msg: str, code: str = d.SCHEMA_VALIDATION_FAILED) -> None:
        self.out.append(error(code, ptr, msg))

    def warn(self, code: str, ptr: str, msg: str) -> None:
        self.out.append(warning(code, ptr, msg))

    def path(self, value: Any, ptr: str, field: str, *, reference: bool = False, result_path: bool = False,
             allow_intrinsic: bool = False) -> None:
        if not isinstance(value, str):
            return
        if allow_intrinsic and looks_like_intrinsic(value):
            self.intrinsic(value, ptr, field)
            return
        try:
            p = compile_path(value)
        except PathSyntaxError as exc:
            self.err(ptr, f"The value for the field '{field}' must be a valid JSONPath: {exc}")
            return
        if p.root == VARIABLE:
            self.reference([p.variable], ptr)
        if reference and not p.reference:
            self.err(ptr, f"The value for the field '{field}' must be a valid Reference Path (only names and indexes, "
                          f"selecting a single node): {value}")
        if result_path and p.root == CONTEXT:
            self.err(ptr, f"The value for the field '{field}' cannot refer to the context object: {value}")
        if result_path and p.root == VARIABLE:
            self.err(ptr, f"The value for the field '{field}' cannot refer to a variable: {value}")

    def intrinsic(self, value: str, ptr: str, field: str, at: str | None = None) -> None:
        """Check an intrinsic function call; a syntax error is reported at ``at`` (a payload template's field is
        reported at the template, as AWS does) in AWS's words, which do not say what is wrong with the call."""
        try:
            compile_intrinsic(value)
        except IntrinsicSyntaxError:
            self.err(at or ptr, f"The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call")
            return
        self.reference(_VAR_REF.findall(_QUOTED.sub("''", value)), ptr)

    def jsonata(self, value: str, ptr: str, field: str) -> None:
        from .jsonata import JsonataSyntaxError, compile_expression

        try:
            compile_expression(value)
        except JsonataSyntaxError as exc:
            self.err(ptr, f"The JSONata expression in the field '{field}' is not valid: {exc}")
            return
        body = _COMMENT.sub(" ", _QUOTED.sub("''", value))  # code only: no string literals or comments
        for op, name in (("??", "coalescing"), ("?:", "default (elvis)")):
            if op in body:
                self.warn(d.JSONATA_NOT_ON_AWS, ptr, f"The JSONata {name} operator '{op}' (JSONata 2.1) is not available "
                                                     "on AWS Step Functions, which runs JSONata 2.0.6")
        self.reference(_jsonata_variables(body), ptr)

    def jsonata_tree(self, value: Any, ptr: str, field: str) -> None:
        """Check every ``{% %}`` string inside a JSONata-capable value."""
        if isinstance(value, str):
            if is_jsonata(value):
                self.jsonata(value, ptr, field)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.jsonata_tree(v, pointer_join(ptr, k), field)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.jsonata_tree(v, pointer_join(ptr, i), field)

    def template(self, value: Any, ptr: str, field: str) -> None:
        """A JSONPath payload template: ``.$`` keys must hold a path or an intrinsic call."""
        if isinstance(value, list):
            for i, v in enumerate(value):
                self.template(v, pointer_join(ptr, i), field)
            return
        if not isinstance(value, dict):
            return
        renamed: set[str] = set()
        for k, v in value.items():
            p = pointer_join(ptr, k)
            if k.endswith(".$"):
                base = k[:-2]
                if base in renamed or base in value:
                    self.err(p, f"The field '{k}' collides with the field '{base}' after '.$' is removed")
                renamed.add(base)
                if not isinstance(v, str):
                    self.err(p, f"The value for the field '{k}' must be a string holding a JSONPath or an intrinsic function call")
                elif looks_like_intrinsic(v):
                    self.intrinsic(v, p, k, at=ptr)
                else:
                    try:
                        compiled = compile_path(v)
                    except PathSyntaxError:  # AWS points at the object holding the field
                        self.err(ptr, f"The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call")
                    else:
                        if compiled.root == VARIABLE:
                            self.reference([compiled.variable], p)
            else:
                if isinstance(v, str) and (v == "$" or v.startswith(("$.", "$$.", "$[")) or looks_like_intrinsic(v)):
                    self.warn(d.NO_DOLLAR, p, f"The value of the field '{k}' looks like a JSONPath or an intrinsic function, "
                                              f"but the field name does not end with '.$', so it is used literally")
                self.template(v, p, field)

    def assign(self, value: Any, ptr: str, ql: str) -> None:
        if not isinstance(value, dict):
            return
        for k, _v in value.items():
            name = k[:-2] if ql == JSONPATH and k.endswith(".$") else k
            p = pointer_join(ptr, k)
            if not _is_identifier(name) or len(name) > MAX_NAME:
                self.err(p, f"The variable name '{name}' is not valid: it must be an identifier of at most {MAX_NAME} characters")
            elif name == "states":
                self.err(p, "The variable name 'states' is reserved")
            elif self.scope_stack:
                self.assignments.append((self.scope_stack[-1], name, p))
        if ql == JSONPATH:
            self.template(value, ptr, "Assign")
        else:
            self.jsonata_tree(value, ptr, "Assign")

    # -- structure -------------------------------------------------------------------------------------------
    def machine(self, doc: dict[str, Any]) -> None:
        ql = doc.get("QueryLanguage")
        self.top_ql = ql if ql in (JSONPATH, JSONATA) else JSONPATH
        self.block(doc, "")

    def block(self, blk: Any, ptr: str) -> None:
        if not isinstance(blk, dict):
            return
        scope = len(self.scope_parent)
        self.scope_parent[scope] = None if (self.new_root_scope or not self.scope_stack) else self.scope_stack[-1]
        self.new_root_scope = False
        self.scope_stack.append(scope)
        try:
            self._block(blk, ptr)
        finally:
            self.scope_stack.pop()

    def reference(self, names: Any, ptr: str) -> None:
        if self.scope_stack:
            self.references.extend((self.scope_stack[-1], n, ptr) for n in names if n != "states")

    def scopes(self) -> None:
        """Variables across scopes, checked once the whole definition is read (an inner block may come first).
        WARNINGs only: AWS accepts both cases below (a recorded definition assigns the same name inside a Parallel
        branch and in the Parallel's Catch), and an unassigned variable fails only when it is read."""
        names: dict[int, set[str]] = {}
        for scope, name, _ in self.assignments:
            names.setdefault(scope, set()).add(name)

        def outer_scopes(scope: int) -> list[int]:
            out = []
            parent = self.scope_parent.get(scope)
            while parent is not None:
                out.append(parent)
                parent = self.scope_parent.get(parent)
            return out

        for scope, name, ptr in self.assignments:
            if any(name in names.get(o, ()) for o in outer_scopes(scope)):
                self.warn(d.VARIABLE_SHADOWED, ptr, f"The variable '{name}' is also assigned in an outer scope: inside a "
                                                    "Parallel branch or Map iteration this makes a variable of its own, "
                                                    "and the outer one keeps its value")
        for scope, name, ptr in self.references:
            if not any(name in names.get(s, ()) for s in [scope, *outer_scopes(scope)]):
                self.warn(d.UNDEFINED_VARIABLE, ptr, f"The variable '${name}' is not assigned by any state in this scope "
                                                     "or an outer one; reading it fails the execution")

    def _block(self, blk: dict[str, Any], ptr: str) -> None:
        states = blk.get("States")
        start = blk.get("StartAt")
        if not isinstance(states, dict):
            return
        if isinstance(start, str) and start not in states:
            self.err(pointer_join(ptr, "StartAt"), f"Missing 'Next' target: {start}", d.MISSING_TRANSITION_TARGET)
        for name, state in states.items():
            sp = pointer_join(ptr, "States", name)
            self.state_name(name, sp)
            if isinstance(state, dict):
                self.state(name, state, sp, states)
        # Reachability, within this States block.
        reached: set[str] = set()
        todo = [start] if isinstance(start, str) and start in states else []
        while todo:
            n = todo.pop()
            if n in reached:
                continue
            reached.add(n)
            todo.extend(t for t in _targets(states[n]) if t in states and t not in reached)
        if todo == [] and (isinstance(start, str) and start in states):
            for name in states:
                if name not in reached:
                    self.err(pointer_join(ptr, "States", name), f'State "{name}" is not reachable.', d.MISSING_TRANSITION_TARGET)
        if states and not any(_can_end(s) for s in states.values()):
            self.err(pointer_join(ptr, "States"), "No state in this block ends it: at least one state needs \"End\": true, "
                                                  "or must be a Succeed or Fail state", d.MISSING_END_STATE)

    def state_name(self, name: str, ptr: str) -> None:
        if not name or len(name) > MAX_NAME:
            self.err(ptr, f"The state name '{name[:90]}' must be 1 to {MAX_NAME} characters long", d.INVALID_STATE_NAME)
        elif any(unicodedata.category(c) == "Cc" for c in name):
            self.err(ptr, f"The state name {json.dumps(name)} contains a control character", d.INVALID_STATE_NAME)
        if name in self.seen_names:
            self.err(ptr, f"Duplicate State name: {name} (also at {self.seen_names[name]})", d.DUPLICATE_STATE_NAME)
        else:
            self.seen_names[name] = ptr

    def state(self, name: str, st: dict[str, Any], ptr: str, siblings: dict[str, Any]) -> None:
        typ = st.get("Type")
        own_ql = st.get("QueryLanguage")
        if self.top_ql == JSONATA and own_ql == JSONPATH:
            self.err(pointer_join(ptr, "QueryLanguage"),
                     "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")
        ql = own_ql if own_ql in (JSONPATH, JSONATA) else self.top_ql
        # Fields of the other query language.
        for field in st:
            if ql == JSONATA and field in JSONPATH_ONLY:
                self.err(pointer_join(ptr, field), f"The field '{field}' is not supported in a JSONata state; "
                                                   f"use {_jsonata_equivalent(field)} instead")
            elif ql == JSONPATH and field in JSONATA_ONLY:
                self.err(pointer_join(ptr, field), f"The field '{field}' is only supported in a JSONata state: "
                                                   "set \"QueryLanguage\": \"JSONata\" on the state or the state machine")
        for field in EXPRESSION_NUMBERS:
            if ql == JSONPATH and is_jsonata(st.get(field)):
                self.err(pointer_join(ptr, field), f"The field '{field}' can hold a JSONata expression only in a JSONata state")
        # Transitions.
        if typ in ("Pass", "Task", "Wait", "Parallel", "Map"):
            has_next, end = "Next" in st, st.get("End")
            if has_next and end is True:
                self.err(ptr, "Only one of 'Next' or 'End' can be set")
            elif not has_next and end is not True:
                self.err(ptr, "A state of type " + typ + " needs either 'Next' or \"End\": true")
        self.target(st.get("Next"), pointer_join(ptr, "Next"), siblings)
        # Paths and templates common to several types.
        if ql == JSONPATH:
            for f in ("InputPath", "OutputPath"):
                self.path(st.get(f), pointer_join(ptr, f), f)
            self.path(st.get("ResultPath"), pointer_join(ptr, "ResultPath"), "ResultPath", reference=True, result_path=True)
            for f in ("Parameters", "ResultSelector"):
                if f in st:
                    self.template(st[f], pointer_join(ptr, f), f)
        else:
            for f in ("Arguments", "Output"):
                if f in st:
                    self.jsonata_tree(st[f], pointer_join(ptr, f), f)
            for f in EXPRESSION_NUMBERS:
                if is_jsonata(st.get(f)):
                    self.jsonata(st[f], pointer_join(ptr, f), f)
        if "Assign" in st:
            self.assign(st["Assign"], pointer_join(ptr, "Assign"), ql)
        retry, catch = _list(st.get("Retry")), _list(st.get("Catch"))
        for i, r in enumerate(retry):
            self.retrier(r, pointer_join(ptr, "Retry", i), i, len(retry))
        for i, c in enumerate(catch):
            self.catcher(c, pointer_join(ptr, "Catch", i), i, len(catch), siblings, ql)
        check = getattr(self, "state_" + typ.lower(), None) if isinstance(typ, str) else None
        if check is not None and isinstance(typ, str) and typ in ("Pass", "Task", "Choice", "Wait", "Fail", "Parallel", "Map"):
            check(st, ptr, siblings, ql)

    def target(self, name: Any, ptr: str, siblings: dict[str, Any]) -> None:
        if isinstance(name, str) and name not in siblings:
            self.err(ptr, f"Missing 'Next' target: {name}", d.MISSING_TRANSITION_TARGET)

    def exclusive(self, st: dict[str, Any], ptr: str, fields: tuple[str, ...], required: bool = False) -> None:
        present = [f for f in fields if f in st]
        if len(present) > 1:
            self.err(ptr, f"Only one of these fields can be set: [{', '.join(present)}]")
        elif required and not present:
            self.err(ptr, f"Exactly one of these fields is required: [{', '.join(fields)}]")

    # -- per state type ---------------------------------------------------------------------------------------
    def state_pass(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        if "Result" in st and _has_path_like(st["Result"]):
            self.warn(d.PASS_RESULT_IS_STATIC, pointer_join(ptr, "Result"),
                      "The Result of a Pass state is static: values that look like paths are not evaluated (use Parameters)")

    def state_task(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        self.exclusive(st, ptr, ("TimeoutSeconds", "TimeoutSecondsPath"))
        self.exclusive(st, ptr, ("HeartbeatSeconds", "HeartbeatSecondsPath"))
        for f in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
            self.path(st.get(f), pointer_join(ptr, f), f, reference=True)
        t: Any = st.get("TimeoutSeconds")
        h: Any = st.get("HeartbeatSeconds")
        if _is_int(t) and _is_int(h) and h >= t:
            self.err(pointer_join(ptr, "HeartbeatSeconds"), "HeartbeatSeconds must be smaller than TimeoutSeconds")
        if ql == JSONPATH and "Parameters" in st and "Arguments" in st:
            self.err(ptr, "Only one of these fields can be set: [Parameters, Arguments]")
        cred = st.get("Credentials")
        if isinstance(cred, dict):
            if "RoleArn" not in cred and "RoleArn.$" not in cred:
                self.err(pointer_join(ptr, "Credentials"), "The field 'RoleArn' is required but was missing")
            if "RoleArn.$" in cred:
                self.path(cred["RoleArn.$"], pointer_join(ptr, "Credentials", "RoleArn.$"), "RoleArn.$", allow_intrinsic=True)
        res = st.get("Resource")
        if not isinstance(res, str):
            return
        rp = pointer_join(ptr, "Resource")
        if ql == JSONATA and is_jsonata(res):
            self.jsonata(res, rp, "Resource")
            return
        r = parse_resource(res)
        if not is_recognised(r):
            # AWS reports this as SCHEMA_VALIDATION_FAILED (recorded: definition_error/…test_invalid_integration…),
            # although INVALID_RESOURCE is among the documented codes
            self.err(rp, f"The resource provided {res} is not recognized. The value is not a valid resource ARN, or the "
                         "resource is not available in this region.")
        if r.service_name == "http" and r.action == "invoke":
            args = st.get("Arguments" if ql == JSONATA else "Parameters")
            if isinstance(args, dict) and not {"Authentication", "InvocationConfig"} & set(args):
                # AWS documents the connection as required; asl runs the call without one (nothing to authorize)
                self.warn(d.SCHEMA_VALIDATION_FAILED, pointer_join(ptr, "Arguments" if ql == JSONATA else "Parameters"),
                          "An HTTP Task needs a connection (Authentication.ConnectionArn): AWS requires one")
        if self.machine_type == "EXPRESS":
            if r.pattern in (SYNC, SYNC2):
                self.err(rp, "Express state machine does not support '.sync' service integration ")
            elif r.pattern == WAIT_FOR_TASK_TOKEN:
                self.err(rp, "Express state machine does not support '.waitForTaskToken' service integration ")
            elif r.kind == "activity":
                self.err(rp, "Express state machine does not support Activity ARN")

    def state_choice(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        self.target(st.get("Default"), pointer_join(ptr, "Default"), siblings)
        choices = st.get("Choices")
        if not isinstance(choices, list):
            return
        for i, rule in enumerate(choices):
            rp = pointer_join(ptr, "Choices", i)
            if not isinstance(rule, dict):
                continue
            if "Next" not in rule:
                self.err(rp, "These fields are required: [Next]")
            elif not isinstance(rule["Next"], str):
                self.err(pointer_join(rp, "Next"), "The field 'Next' must be a string")
            else:
                self.target(rule["Next"], pointer_join(rp, "Next"), siblings)
            if "Assign" in rule:
                self.assign(rule["Assign"], pointer_join(rp, "Assign"), ql)
            if ql == JSONATA:
                self.jsonata_rule(rule, rp)
            else:
                self.rule(rule, rp, top=True)

    def jsonata_rule(self, rule: dict[str, Any], ptr: str) -> None:
        allowed = {"Condition", "Next", "Assign", "Output", "Comment"}
        for k in rule:
            if k not in allowed:
                self.err(pointer_join(ptr, k), f"The field '{k}' is not supported in a JSONata Choice Rule "
                                               f"(allowed: {', '.join(sorted(allowed))})")
        if "Condition" not in rule:
            self.err(ptr, "These fields are required: [Condition]")
        else:
            cond = rule["Condition"]
            if is_jsonata(cond):
                self.jsonata(cond, pointer_join(ptr, "Condition"), "Condition")
            elif not isinstance(cond, bool):
                self.err(pointer_join(ptr, "Condition"), "The field 'Condition' must be a boolean or a JSONata expression")
        if "Output" in rule:
            self.jsonata_tree(rule["Output"], pointer_join(ptr, "Output"), "Output")

    def rule(self, rule: Any, ptr: str, top: bool) -> None:
        if not isinstance(rule, dict):
            self.err(ptr, "A Choice Rule must be an object")
            return
        if not top:
            for k in ("Next", "Assign"):
                if k in rule:
                    self.err(pointer_join(ptr, k), f"The field '{k}' is only allowed in a top-level Choice Rule")
        if "Condition" in rule:
            self.err(pointer_join(ptr, "Condition"), "The field 'Condition' is only supported in a JSONata state; "
                                                     "use 'Variable' and a comparison operator")
        bools = [k for k in ("And", "Or", "Not") if k in rule]
        ops = [k for k in rule if k in COMPARISONS]
        unknown = [k for k in rule if k not in COMPARISONS and k not in ("And", "Or", "Not", "Variable", "Next", "Assign",
                                                                        "Comment", "Condition")]
        for k in unknown:
            self.err(pointer_join(ptr, k), f"The field '{k}' is not a supported Choice Rule field or comparison operator")
        if bools:
            if len(bools) > 1 or ops or "Variable" in rule:
                self.err(ptr, "A Choice Rule must have exactly one of: a comparison (Variable and one operator), And, Or, Not")
            for k in bools:
                v = rule[k]
                if k == "Not":
                    self.rule(v, pointer_join(ptr, k), top=False)
                elif not isinstance(v, list) or not v:
                    self.err(pointer_join(ptr, k), f"The field '{k}' must be a non-empty array of Choice Rules")
                else:
                    for i, sub in enumerate(v):
                        self.rule(sub, pointer_join(ptr, k, i), top=False)
            return
        if "Variable" not in rule:
            self.err(ptr, "A Choice Rule needs 'Variable' and a comparison operator (or And, Or, Not)")
        else:
            var = rule["Variable"]
            if not isinstance(var, str):
                self.err(pointer_join(ptr, "Variable"), "The field 'Variable' must be a string holding a JSONPath")
            else:
                self.path(var, pointer_join(ptr, "Variable"), "Variable")
        if len(ops) != 1:
            if not ops:
                self.err(ptr, "A Choice Rule needs exactly one comparison operator, and has none")
            else:
                self.err(ptr, f"A Choice Rule needs exactly one comparison operator, and has {len(ops)}: [{', '.join(ops)}]")
        for op in ops:
            self.operand(op, rule[op], pointer_join(ptr, op))

    def operand(self, op: str, value: Any, ptr: str) -> None:
        kind = COMPARISONS[op]
        ok = {
            "string": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "timestamp": isinstance(value, str),
            "path": isinstance(value, str),
        }[kind]
        if not ok:
            want = {"timestamp": "a timestamp string", "path": "a JSONPath string", "number": "a number",
                    "string": "a string", "boolean": "a boolean"}[kind]
            self.err(ptr, f"The operator '{op}' needs {want}, not {json.dumps(value)[:60]}")
            return
        if kind == "path":
            self.path(value, ptr, op)
        elif kind == "timestamp" and not is_timestamp(value):
            self.err(ptr, "String does not match RFC3339 timestamp")
        elif op == "StringMatches" and _bad_escape(value):
            self.err(ptr, "StringMatches: a backslash may only escape '*' or '\\'")

    def state_wait(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        self.exclusive(st, ptr, ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"), required=True)
        for f in ("SecondsPath", "TimestampPath"):
            self.path(st.get(f), pointer_join(ptr, f), f, reference=True)
        ts = st.get("Timestamp")
        if isinstance(ts, str):
            if ql == JSONATA and is_jsonata(ts):
                self.jsonata(ts, pointer_join(ptr, "Timestamp"), "Timestamp")
            elif not is_timestamp(ts):
                self.err(pointer_join(ptr, "Timestamp"), "String does not match RFC3339 timestamp")

    def state_fail(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        self.exclusive(st, ptr, ("Error", "ErrorPath"))
        self.exclusive(st, ptr, ("Cause", "CausePath"))
        for f in ("ErrorPath", "CausePath"):
            self.path(st.get(f), pointer_join(ptr, f), f, allow_intrinsic=True)
        for f in ("Error", "Cause"):
            v = st.get(f)
            if ql == JSONATA and is_jsonata(v):
                self.jsonata(v, pointer_join(ptr, f), f)
            elif ql == JSONPATH and isinstance(v, str) and (v.startswith("$.") or v == "$"):
                self.warn(d.NO_PATH, pointer_join(ptr, f), f"The value of '{f}' looks like a JSONPath but is used literally; "
                                                           f"use '{f}Path' to read it from the input")

    def state_parallel(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        branches = st.get("Branches")
        if isinstance(branches, list):
            for i, b in enumerate(branches):
                self.block(b, pointer_join(ptr, "Branches", i))

    def state_map(self, st: dict[str, Any], ptr: str, siblings: dict[str, Any], ql: str) -> None:
        self.exclusive(st, ptr, ("ItemProcessor", "Iterator"), required=True)
        self.exclusive(st, ptr, ("ItemSelector", "Parameters"))
        self.exclusive(st, ptr, ("MaxConcurrency", "MaxConcurrencyPath"))
        self.exclusive(st, ptr, ("ToleratedFailureCount", "ToleratedFailureCountPath"))
        self.exclusive(st, ptr, ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"))
        for f in ("ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"):
            self.path(st.get(f), pointer_join(ptr, f), f, reference=True)
        if ql == JSONPATH:
            if "ItemSelector" in st:
                self.template(st["ItemSelector"], pointer_join(ptr, "ItemSelector"), "ItemSelector")
        else:
            for f in ("Items", "ItemSelector"):
                if f in st:
                    self.jsonata_tree(st[f], pointer_join(ptr, f), f)
        proc = st.get("ItemProcessor", st.get("Iterator"))
        key = "ItemProcessor" if "ItemProcessor" in st else "Iterator"
        mode = "INLINE"
        if isinstance(proc, dict):
            cfg = proc.get("ProcessorConfig")
            if isinstance(cfg, dict) and cfg.get("Mode") == "DISTRIBUTED":
                mode = "DISTRIBUTED"
            self.new_root_scope = mode == "DISTRIBUTED"
            self.block(proc, pointer_join(ptr, key))
        label = st.get("Label")
        if isinstance(label, str):
            lp = pointer_join(ptr, "Label")
            if not label:
                self.err(lp, "Label cannot be empty", d.INVALID_LABEL_NAME)
            elif len(label) > MAX_LABEL:
                self.err(lp, f"Label cannot exceed {MAX_LABEL} characters", d.INVALID_LABEL_NAME)
            else:
                bad = next((c for c in label if c in LABEL_FORBIDDEN or unicodedata.category(c) == "Cc"), None)
                if bad is not None:
                    self.err(lp, f"Label contains invalid character: {bad!r}", d.INVALID_LABEL_NAME)
            if mode != "DISTRIBUTED":
                self.warn(d.SCHEMA_VALIDATION_FAILED, lp, "Label is used only by a Map state in DISTRIBUTED mode")
        batcher = st.get("ItemBatcher")
        if isinstance(batcher, dict) and not any(k in batcher for k in ("MaxItemsPerBatch", "MaxItemsPerBatchPath",
                                                                         "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")):
            self.err(pointer_join(ptr, "ItemBatcher"), "ItemBatcher needs at least one of MaxItemsPerBatch, "
                                                       "MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath")
        self.distributed_io(st, ptr)
        for f in ("ItemReader", "ItemBatcher", "ResultWriter"):
            if f in st and mode != "DISTRIBUTED":
                self.err(pointer_join(ptr, f), f"The field '{f}' is supported only by a Map state in DISTRIBUTED mode")

    def distributed_io(self, st: dict[str, Any], ptr: str) -> None:
        """What the developer guide requires of ItemReader, ItemBatcher and ResultWriter beyond their shapes."""
        batcher = st.get("ItemBatcher")
        if isinstance(batcher, dict):
            for name in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
                if name in batcher and f"{name}Path" in batcher:
                    self.err(pointer_join(ptr, "ItemBatcher"), f"Use either {name} or {name}Path, not both")
        reader = st.get("ItemReader")
        config = reader.get("ReaderConfig") if isinstance(reader, dict) else None
        if isinstance(config, dict):
            rp = pointer_join(ptr, "ItemReader", "ReaderConfig")
            if "MaxItems" in config and "MaxItemsPath" in config:
                self.err(rp, "Use either MaxItems or MaxItemsPath, not both")
            items = config.get("MaxItems")
            if isinstance(items, int) and not isinstance(items, bool) and items > 100_000_000:
                self.err(pointer_join(rp, "MaxItems"), "MaxItems must be at most 100000000")
            if config.get("CSVHeaderLocation") == "GIVEN" and not config.get("CSVHeaders"):
                self.err(rp, "CSVHeaders must be given when CSVHeaderLocation is GIVEN")
        writer = st.get("ResultWriter")
        if isinstance(writer, dict):
            wp = pointer_join(ptr, "ResultWriter")
            has_target = "Parameters" in writer or "Arguments" in writer
            if not writer:
                self.err(wp, "ResultWriter cannot be empty: give Resource and Parameters, WriterConfig, or all three")
            elif ("Resource" in writer) != has_target:
                self.err(wp, "ResultWriter needs Resource and Parameters (Arguments in JSONata) together")
            elif "Resource" not in writer and "WriterConfig" not in writer:
                self.err(wp, "ResultWriter needs Resource and Parameters, or WriterConfig")
            config = writer.get("WriterConfig")
            if "Resource" not in writer and isinstance(config, dict) and config.get("OutputType") == "JSONL":
                self.warn(d.SCHEMA_VALIDATION_FAILED, pointer_join(wp, "WriterConfig", "OutputType"),
                          "OutputType JSONL shapes only files written to S3; the state's result is a JSON array")

    # -- errors ---------------------------------------------------------------------------------------------
    def error_equals(self, names: Any, ptr: str, index: int, count: int, what: str) -> None:
        if not isinstance(names, list):
            return
        for j, n in enumerate(names):
            if not isinstance(n, str):
                continue
            # AWS accepts any name here (its samples catch States.Http.StatusCode.429, an HTTP Task's error): a
            # States.-prefixed name it does not document is only worth a warning, as no error will ever carry it
            if n.startswith("States.") and n not in PREDEFINED_ERRORS and not _HTTP_STATUS_ERROR.fullmatch(n):
                self.warn(d.SCHEMA_VALIDATION_FAILED, pointer_join(ptr, "ErrorEquals", j),
                          f"'{n}' is not an error name Step Functions raises (names starting with 'States.' are its own); "
                          "this Retrier or Catcher never matches it")
            if n == "States.ALL":
                if len(names) > 1:
                    self.err(pointer_join(ptr, "ErrorEquals"), f"States.ALL must appear alone in ErrorEquals of a {what}")
                if index != count - 1:
                    self.err(pointer_join(ptr, "ErrorEquals"), f"A {what} with States.ALL must be the last one")

    def retrier(self, r: Any, ptr: str, index: int, count: int) -> None:
        if isinstance(r, dict):
            self.error_equals(r.get("ErrorEquals"), ptr, index, count, "Retrier")

    def catcher(self, c: Any, ptr: str, index: int, count: int, siblings: dict[str, Any], ql: str) -> None:
        if not isinstance(c, dict):
            return
        self.error_equals(c.get("ErrorEquals"), ptr, index, count, "Catcher")
        self.target(c.get("Next"), pointer_join(ptr, "Next"), siblings)
        if ql == JSONPATH:
            self.path(c.get("ResultPath"), pointer_join(ptr, "ResultPath"), "ResultPath", reference=True, result_path=True)
            if "Output" in c:
                self.err(pointer_join(ptr, "Output"), "The field 'Output' is only supported in a JSONata state")
        else:
            if "ResultPath" in c:
                self.err(pointer_join(ptr, "ResultPath"), "The field 'ResultPath' is not supported in a JSONata state; use Output instead")
            if "Output" in c:
                self.jsonata_tree(c["Output"], pointer_join(ptr, "Output"), "Output")
        if "Assign" in c:
            self.assign(c["Assign"], pointer_join(ptr, "Assign"), ql)


def _jsonata_equivalent(field: str) -> str:
    return {"Parameters": "Arguments", "ResultSelector": "Output", "ResultPath": "Output or Assign",
            "InputPath": "$states.input in an expression", "OutputPath": "Output", "Result": "Output",
            "ItemsPath": "Items"}.get(field, f"'{field.removesuffix('Path')}' with a JSONata expression")


def _targets(st: Any) -> list[str]:
    if not isinstance(st, dict):
        return []
    out = []
    for key in ("Next", "Default"):
        if isinstance(st.get(key), str):
            out.append(st[key])
    for group in ("Choices", "Catch"):
        items = st.get(group)
        if isinstance(items, list):
            out.extend(x["Next"] for x in items if isinstance(x, dict) and isinstance(x.get("Next"), str))
    return out


def _can_end(st: Any) -> bool:
    return isinstance(st, dict) and (st.get("End") is True or st.get("Type") in ("Succeed", "Fail"))


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_identifier(name: str) -> bool:
    return bool(name) and name.isidentifier()


def _bad_escape(pattern: str) -> bool:
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in "*\\":
                return True
            i += 2
        else:
            i += 1
    return False


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_VAR_REF = re.compile(r"(?<![\w$])\$([^\W\d]\w*)(?!\w)")
_BOUND = re.compile(r"\$([^\W\d]\w*)\s*:=")
_PARAMS = re.compile(r"(?:function|λ)\s*\(([^)]*)\)")


def _jsonata_variables(body: str) -> set[str]:
    """The workflow variables a JSONata expression may read, given its code without string literals and comments:
    ``$name`` not called as a function and not bound inside the expression (by ``:=`` or as a function
    parameter). A regex pass: it may miss, never over-report names bound in the expression."""
    bound = set(_BOUND.findall(body))
    for params in _PARAMS.findall(body):
        bound.update(_VAR_REF.findall(params))
    refs = set()
    for m in _VAR_REF.finditer(body):
        rest = body[m.end():].lstrip()
        if not rest.startswith("(") and m.group(1) not in bound:
            refs.add(m.group(1))
    return refs


def _has_path_like(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(("$.", "$$.")) or looks_like_intrinsic(value)
    if isinstance(value, dict):
        return any(k.endswith(".$") or _has_path_like(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_path_like(v) for v in value)
    return False


def validate(definition: Any, *, machine_type: str = "STANDARD") -> list[Diagnostic]:
    """Return every diagnostic for a definition (JSON text, bytes, or an already decoded object).

    Never raises for bad input. An empty list, or only WARNINGs, means the definition is valid.
    ``machine_type`` is STANDARD or EXPRESS (EXPRESS forbids ``.sync``, ``.waitForTaskToken`` and activities).
    """
    diags: list[Diagnostic] = []
    parsed_here = isinstance(definition, str | bytes)
    if isinstance(definition, str | bytes):
        parsed = loads(definition)
        diags.extend(parsed.diagnostics)
        if not parsed.ok:
            return diags
        definition = parsed.value
    if not isinstance(definition, dict):
        diags.append(error(d.SCHEMA_VALIDATION_FAILED, "", "Definition must be a valid JSON object"))
        return diags
    too_deep = _too_deep(definition, parsed_here)
    if too_deep is not None:  # nothing below walks it safely: this is the one problem reported
        return diags + [too_deep]
    try:
        diags.extend(_schema_errors(definition))
        checker = _Checker(machine_type)
        checker.machine(definition)
        checker.scopes()
        diags.extend(checker.out)
    except RecursionError:
        diags.append(error(d.TOO_DEEPLY_NESTED, "", "The definition is nested too deeply to be checked"))
    return _dedupe(diags)


MAX_NESTING = 20
"""How deeply Parallel and Map states may nest in one definition (a state inside a Parallel branch is at level 1).
The checks, the model and the interpreter walk nested blocks recursively: past this they could overflow Python's
stack, so a deeper definition is one TOO_DEEPLY_NESTED diagnostic instead."""


def _too_deep(definition: dict[str, Any], parsed: bool) -> Diagnostic | None:
    """TOO_DEEPLY_NESTED for a decoded definition nested deeper than :data:`asl.jsontext.MAX_DEPTH` (text is checked
    by the parser) or with Parallel and Map states nested deeper than :data:`MAX_NESTING`, at the first state past
    the limit. One iterative walk, which tolerates any shape: the schema reports what is malformed. ``parsed``: the
    definition came from text through the parser, which applied the JSON limits already."""
    if not parsed:
        try:
            jsontext.check_value(definition, "The definition")
        except jsontext.JsonLimitError as exc:
            return error(d.TOO_DEEPLY_NESTED if exc.reason == "depth" else d.INVALID_JSON_DESCRIPTION, "", exc.message)
    blocks: list[tuple[Any, str, int]] = [(definition, "", 0)]
    while blocks:
        block, pointer, level = blocks.pop()
        states = block.get("States") if isinstance(block, dict) else None
        if not isinstance(states, dict):
            continue
        for name, st in states.items():
            if not isinstance(st, dict):
                continue
            at = pointer_join(pointer_join(pointer, "States"), name)
            inner: list[tuple[Any, str]] = []
            if st.get("Type") == "Parallel" and isinstance(st.get("Branches"), list):
                inner = [(b, pointer_join(pointer_join(at, "Branches"), i)) for i, b in enumerate(st["Branches"])]
            elif st.get("Type") == "Map":
                key = "ItemProcessor" if "ItemProcessor" in st else "Iterator"
                inner = [(st.get(key), pointer_join(at, key))]
            if inner and level + 1 > MAX_NESTING:
                return error(d.TOO_DEEPLY_NESTED, at, f"Parallel and Map states are nested more than {MAX_NESTING} levels "
                                                      f"deep here; the maximum is {MAX_NESTING}")
            blocks.extend((b, p, level + 1) for b, p in inner)
    return None


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for x in diags:
        key = (x.code, x.pointer, x.message)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out
