"""Parse: JSON text → a JSON value, with diagnostics for malformed text.

The first stage of the pipeline. It never raises on bad input: malformed JSON becomes an
``INVALID_JSON_DESCRIPTION`` diagnostic with line and column, an empty text ``MISSING_DESCRIPTION``, and every
duplicated key in an object a ``DUPLICATE_KEY`` diagnostic at the pointer of the object (the later value wins,
as with AWS's parser, but silently losing one is never what the author meant).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import (
    DUPLICATE_KEY,
    INVALID_JSON_DESCRIPTION,
    MISSING_DESCRIPTION,
    Diagnostic,
    error,
    pointer_join,
)


class _Obj(dict[str, Any]):
    """A dict that remembers which keys occurred more than once in the text."""

    __slots__ = ("dups",)

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__()
        self.dups: list[str] = []
        for k, v in pairs:
            if k in self and k not in self.dups:
                self.dups.append(k)
            self[k] = v


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@dataclass
class ParseResult:
    """What parsing produced: the value (None when the text is unusable) and the diagnostics."""

    value: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    ok: bool = True


def _strip_dups(value: Any, pointer: str, out: list[Diagnostic]) -> Any:
    """Turn ``_Obj`` back into plain dicts, reporting duplicated keys at their pointers."""
    if isinstance(value, dict):
        if isinstance(value, _Obj):
            for k in value.dups:
                out.append(error(DUPLICATE_KEY, pointer_join(pointer, k), f"The key '{k}' appears more than once in this object"))
        return {k: _strip_dups(v, pointer_join(pointer, k), out) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_dups(v, pointer_join(pointer, i), out) for i, v in enumerate(value)]
    return value


def loads(text: str | bytes) -> ParseResult:
    """Parse JSON text. Never raises for bad text; see :class:`ParseResult`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"The definition is not UTF-8 text: {exc.reason} at byte {exc.start}")], False)
    if not text.strip():
        return ParseResult(None, [error(MISSING_DESCRIPTION, "", "Definition must be a valid JSON object, but it is empty")], False)
    try:
        value = json.loads(text, object_pairs_hook=_Obj, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"Malformed JSON: {exc.msg}", exc.lineno, exc.colno)], False)
    except (ValueError, RecursionError) as exc:
        return ParseResult(None, [error(INVALID_JSON_DESCRIPTION, "", f"Malformed JSON: {exc}")], False)
    diags: list[Diagnostic] = []
    value = _strip_dups(value, "", diags)
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
