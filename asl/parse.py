"""Parse: JSON text → a JSON value, with diagnostics for malformed text.

The first stage of the pipeline. It never raises on bad input: malformed JSON becomes an
``INVALID_JSON_DESCRIPTION`` diagnostic with line and column, an empty text ``MISSING_DESCRIPTION``, and every
duplicated key in an object a ``DUPLICATE_KEY`` diagnostic at the pointer of the object (the later value wins,
as with AWS's parser, but silently losing one is never what the author meant).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsontext
from .diagnostics import (
    DUPLICATE_KEY,
    INVALID_JSON_DESCRIPTION,
    MISSING_DESCRIPTION,
    TOO_DEEPLY_NESTED,
    Diagnostic,
    error,
    pointer_join,
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@dataclass
class ParseResult:
    """What parsing produced: the value (None when the text is unusable) and the diagnostics."""

    value: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    ok: bool = True


def _duplicates(value: Any, repeated: dict[int, list[str]], out: list[Diagnostic]) -> None:
    """Report the keys each object in ``repeated`` (by identity) had more than once, at the object's pointer. One
    iterative walk, made only when some object had a repeated key."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        v, pointer = stack.pop()
        if isinstance(v, dict):
            for k in repeated.get(id(v), ()):
                out.append(error(DUPLICATE_KEY, pointer_join(pointer, k), f"The key '{k}' appears more than once in this object"))
            stack.extend((item, pointer_join(pointer, k)) for k, item in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((item, pointer_join(pointer, i)) for i, item in reversed(list(enumerate(v))))


def _position(text: str, index: int) -> tuple[int | None, int | None]:
    """Line and column (from 1) of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def loads(text: str | bytes) -> ParseResult:
    """Parse JSON text. Never raises for bad text; see :class:`ParseResult`. Nesting deeper than
    :data:`asl.jsontext.MAX_DEPTH` is a ``TOO_DEEPLY_NESTED`` diagnostic and a string that is not valid Unicode an
    ``INVALID_JSON_DESCRIPTION``: nothing after this stage meets a value it cannot walk."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"The definition is not UTF-8 text: {exc.reason} at byte {exc.start}")], False)
    if not text.strip():
        return ParseResult(None, [error(MISSING_DESCRIPTION, "", "Definition must be a valid JSON object, but it is empty")], False)
    repeated: dict[int, list[str]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            counts = Counter(k for k, _ in pairs)
            repeated[id(obj)] = [k for k, n in counts.items() if n > 1]
        return obj

    try:
        value = jsontext.loads(text, "The definition", object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"Malformed JSON: {exc.msg}", exc.lineno, exc.colno)], False)
    except jsontext.JsonLimitError as exc:
        if exc.reason == "depth":
            at = jsontext.too_deep_at(text)
            line, column = _position(text, at) if at >= 0 else (None, None)
            return ParseResult(None, [error(TOO_DEEPLY_NESTED, "", exc.message, line, column)], False)
        return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", exc.message)], False)
    except ValueError as exc:
        return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"Malformed JSON: {exc}")], False)
    diags: list[Diagnostic] = []
    if repeated:
        _duplicates(value, repeated, diags)
    return ParseResult(value, diags, True)


def jackson_message(text: str) -> str:
    """Why ``text`` is not JSON, in the words of the Jackson parser AWS's API front end uses (its messages reach
    clients in InvalidExecutionInput and InvalidOutput errors). Covers the common cases: an empty text, a bare
    word and a single-quoted key; anything else gets Python's description."""
    stripped = text.lstrip()
    if not stripped:
        return "Invalid execution input."
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", stripped)
    if m and m.group() not in ("true", "false", "null"):
        return (f"Unrecognized token '{m.group()}': was expecting (JSON String, Number, Array, Object or token "
                "'null', 'true' or 'false')")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Expecting property name enclosed in double quotes") and exc.pos < len(text):
            ch = text[exc.pos]
            return f"Unexpected character ('{ch}' (code {ord(ch)})): was expecting double-quote to start field name"
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    except ValueError as exc:
        return str(exc)
    return "Invalid JSON"


def load_file(path: str | Path) -> ParseResult:
    """Read and parse a file. An unreadable file raises ``OSError`` (the CLI reports it and exits 2)."""
    return loads(Path(path).read_bytes())
