"""JSON text in and out: where JSON enters asl it is bounded, and where it leaves it is compact and fast.

In: :func:`loads` is the one door for JSON that comes from outside (a definition, an execution input, a request
body, a task's result, a callback's output, ``States.StringToJson``). Besides the syntax it refuses what the rest of
asl cannot hold safely, with :class:`JsonLimitError`: nesting deeper than :data:`MAX_DEPTH` (Python walks values
recursively, and a value nested a thousand deep overflows the interpreter's stack) and strings with a lone UTF-16
surrogate (``"\\ud800"`` is legal JSON text but no Unicode string, so it cannot be stored or sent as UTF-8).
:func:`check_value` applies the same rules to a value that Python code made.

Out: ``json.dumps`` (and ``JSONEncoder.encode``) build a new encoder on every call, which costs more than encoding a
small value; the interpreter and the store encode a value or two per state, so they share one C encoder built once.
"""

from __future__ import annotations

import json
import json.encoder
import re
from typing import Any

from .errors import JsonLimitError

MAX_DEPTH = 256
"""How deeply arrays and objects may nest in any JSON value asl takes in (the value itself is level 1)."""


# A lone surrogate can only come from a \uD800-\uDFFF escape or from a Python string that holds one already.
_MAYBE_SURROGATE = re.compile(r"\\[uU][dD][89a-fA-F]|[\ud800-\udfff]")
# A string, or an unterminated one to the end of the text (as the parser sees it: then only the brackets before it
# count, and the scan stays linear; retrying from every later quote made it quadratic).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def loads(text: str | bytes, what: str = "The JSON text", **options: Any) -> Any:
    """Parse JSON text that came from outside. Raises :class:`json.JSONDecodeError` (a ValueError) for bad syntax
    and :class:`JsonLimitError` for nesting deeper than :data:`MAX_DEPTH` or a lone surrogate; ``what`` names the
    text in the message ("The execution input", ...). Never raises RecursionError, however deep the text.
    ``options`` go to :func:`json.loads` (``object_pairs_hook``, ``parse_constant``)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "surrogatepass")  # as json.loads does; a surrogate is refused below
    check_depth(text, what)
    value = json.loads(text, **options)
    if _MAYBE_SURROGATE.search(text):
        check_value(value, what, depth_checked=True)
    return value


def check_depth(text: str, what: str = "The JSON text") -> None:
    """Raise :class:`JsonLimitError` when JSON text nests deeper than :data:`MAX_DEPTH` (for text asl did not
    parse itself, such as a task result it encoded)."""
    # Only a text with more than MAX_DEPTH openers can nest that deep: most texts skip the scan.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        depth = _text_depth(text)
        if depth > MAX_DEPTH:
            raise _too_deep(what, depth)


def check_value(value: Any, what: str = "The value", depth_checked: bool = False) -> None:
    """Apply :func:`loads`'s limits to a value made by Python code (a task callable's result): raises
    :class:`JsonLimitError`. Iterative, so it never overflows the stack itself."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, level = stack.pop()
        if isinstance(v, str):
            _check_text(v, what)
        elif isinstance(v, dict | list):
            if level > MAX_DEPTH and not depth_checked:
                raise _too_deep(what, None)
            if isinstance(v, dict):
                for k, item in v.items():
                    if isinstance(k, str):
                        _check_text(k, what)
                    stack.append((item, level + 1))
            else:
                stack.extend((item, level + 1) for item in v)


def _check_text(s: str, what: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonLimitError("unicode", f"{what} holds a string that is not valid Unicode: a lone surrogate "
                                        f"('\\u{ord(s[exc.start]):04x}') at character {exc.start}") from None


def _too_deep(what: str, depth: int | None) -> JsonLimitError:
    found = f"{depth} levels" if depth is not None else f"more than {MAX_DEPTH} levels"
    return JsonLimitError("depth", f"{what} is nested too deeply: {found}; the maximum is {MAX_DEPTH}")


def _text_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text; brackets inside strings do not count. Only the
    nesting matters here: a malformed text gets its syntax error from the parser afterwards."""
    depth = deepest = 0
    for ch in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def too_deep_at(text: str) -> int:
    """The index of the first character of ``text`` that opens a level deeper than :data:`MAX_DEPTH` (-1 if none):
    where to point a reader to. A plain scan, for the error path only."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif ch in "]}":
            depth -= 1
    return -1


# Checks for reference cycles: for values user code made (a task callable's result)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# Every other value came from JSON text and so holds no cycle: no check (which is what makes sharing one safe)
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
_ENCODE = _C_MAKE_ENCODER and _C_MAKE_ENCODER(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
                                              False, False, True)


def dumps(value: Any) -> str:
    """Compact JSON. Not for values straight from user code, which may hold a cycle: :func:`dumps_checked` is."""
    if _ENCODE is None:  # a Python without the json C accelerator
        return _ENCODER.encode(value)
    return "".join(_ENCODE(value, 0))


def dumps_checked(value: Any) -> str:
    """:func:`dumps` for any Python value: a reference cycle is a ValueError, as in :func:`json.dumps`."""
    return _ENCODER.encode(value)


__all__ = ["MAX_DEPTH", "JsonLimitError", "check_depth", "check_value", "dumps", "dumps_checked", "loads",
           "too_deep_at"]
