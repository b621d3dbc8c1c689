"""The Step Functions API's wire shapes: operation names, request checking and response encoding.

The shapes come from botocore's ``stepfunctions`` model (shipped with boto3, so the same model the clients are
built from): a request is checked against its operation's input shape the way the AWS front end checks it,
before the service sees it, and every problem is reported in AWS's format, for example::

    1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint:
    Member must have value less than or equal to 1000

Responses are JSON with timestamps as epoch seconds (awsJson1_0).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import RequestError

TARGET_PREFIX = "AWSStepFunctions."


@functools.lru_cache(maxsize=1)
def model() -> Any:
    """botocore's stepfunctions service model (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("stepfunctions")


@functools.lru_cache(maxsize=1)
def operation_names() -> frozenset[str]:
    return frozenset(model().operation_names)


def method_name(operation: str) -> str:
    """``StartExecution`` → ``start_execution`` (boto3's method names, the service's)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation).lower()


def _java_pattern(pattern: str) -> re.Pattern[str]:
    # the model's patterns are Java regular expressions; \p{ASCII} is the one construct Python lacks
    return re.compile(pattern.replace(r"\p{ASCII}", r"[\x00-\x7f]"))


_patterns = functools.lru_cache(maxsize=64)(_java_pattern)

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "timestamp": (int, float, str), "structure": (dict,), "list": (list,), "map": (dict,),
    "blob": (str,),
}
_TYPE_WORDS = {"string": "a string", "boolean": "a boolean", "integer": "an integer", "long": "an integer",
               "float": "a number", "double": "a number", "timestamp": "a timestamp", "structure": "an object",
               "list": "a list", "map": "an object", "blob": "a string"}


def check_request(operation: str, params: Any) -> None:
    """Check a request body against the operation's input shape. A member of the wrong JSON type is a
    ``SerializationException`` (the body cannot be read as the operation's input); constraint violations
    (required, length, range, enum, pattern) are collected into one ``ValidationException``."""
    if operation not in operation_names():
        raise RequestError("UnknownOperationException", f"Unknown operation: '{operation}'")
    if not isinstance(params, dict):
        raise RequestError("SerializationException", "The request body must be a JSON object")
    problems: list[str] = []
    _check(model().operation_model(operation).input_shape, params, "", problems, top=True)
    if problems:
        n = len(problems)
        raise RequestError("ValidationException",
                           f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems))


def _shown(shape: Any, value: Any) -> str:
    """How a value appears in a constraint message: quoted, or not at all for a sensitive member."""
    if shape.metadata.get("sensitive"):
        return "Value"
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, list):  # Java's toString of the list, as AWS shows it
        value = "[" + ", ".join(f"{shape.member.name}(" + ", ".join(f"{k}={x}" for k, x in v.items()) + ")"
                                if isinstance(v, dict) else str(v) for v in value) + "]"
    return f"Value '{value}'"


def _check(shape: Any, value: Any, where: str, problems: list[str], top: bool = False) -> None:
    kind = shape.type_name
    if not _has_type(kind, value):
        raise RequestError("SerializationException",
                           f"'{where or 'the request'}' must be {_TYPE_WORDS.get(kind, kind)}, not {_json_type(value)}")
    meta = shape.metadata
    if kind == "structure":
        for name, member in shape.members.items():
            path = name if top else f"{where}.{name}"
            if value.get(name) is None:
                if name in shape.required_members:
                    problems.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
                continue
            _check(member, value[name], path, problems)
        return
    if kind in ("string", "list", "map", "blob"):
        _bounds(shape, value, len(value), "length", where, problems)
    if kind in ("integer", "long", "float", "double"):
        _bounds(shape, value, value, "value", where, problems)
    if kind == "string":
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: no Unicode string, so it cannot be stored or sent
            raise RequestError("SerializationException", f"'{where or 'the request'}' holds a string that is not valid "
                                                         f"Unicode: a lone surrogate at character {exc.start}") from None
        if shape.enum and value not in shape.enum:
            problems.append(f"{_shown(shape, value)} at '{where}' failed to satisfy constraint: Member must satisfy "
                            f"enum value set: [{', '.join(shape.enum)}]")
        if "pattern" in meta and not _patterns(meta["pattern"]).fullmatch(value):
            problems.append(f"{_shown(shape, value)} at '{where}' failed to satisfy constraint: Member must satisfy "
                            f"regular expression pattern: {meta['pattern']}")
    elif kind == "list":
        for i, item in enumerate(value, 1):
            if item is None:
                problems.append(f"Value null at '{where}.{i}.member' failed to satisfy constraint: Member must not be null")
            else:
                _check(shape.member, item, f"{where}.{i}.member", problems)
    elif kind == "map":
        for k, v in value.items():
            _check(shape.value, v, f"{where}.{k}", problems)


def _bounds(shape: Any, value: Any, measure: Any, what: str, where: str, problems: list[str]) -> None:
    """The model's min/max on a length or a value."""
    meta = shape.metadata
    for key, ok, words in (("min", lambda m: measure >= m, "greater than or equal to"),
                           ("max", lambda m: measure <= m, "less than or equal to")):
        if key in meta and not ok(meta[key]):
            problems.append(f"{_shown(shape, value)} at '{where}' failed to satisfy constraint: Member must have "
                            f"{what} {words} {meta[key]}")


def _has_type(kind: str, value: Any) -> bool:
    if kind in ("integer", "long", "float", "double") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(kind, (object,)))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def encode(value: Any) -> Any:
    """A service result made JSON-ready: datetimes become epoch seconds, as awsJson1_0 sends them."""
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


__all__ = ["TARGET_PREFIX", "RequestError", "check_request", "encode", "method_name", "model", "operation_names"]


def event_details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A history event's details (its one ``...EventDetails`` member, as GetExecutionHistory gives it), or {}."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}
