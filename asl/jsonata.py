"""JSONata behind a thin adapter of our own (engine: jlens, chosen in ../shared/reference/expression-engines.md).

Expressions are the text between ``{%`` and ``%}``; each distinct text is compiled once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jlens


class JsonataSyntaxError(ValueError):
    """The expression does not parse. ``code`` is JSONata's error code (e.g. S0201)."""

    def __init__(self, message: str, code: str | None = None, position: int | None = None):
        super().__init__(message)
        self.code = code
        self.position = position


def strip_delimiters(text: str) -> str:
    """``{% expr %}`` → ``expr``."""
    return text[2:-2]


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Any:
    """Compile a ``{% %}`` string (or a bare expression). Raises :class:`JsonataSyntaxError`."""
    body = strip_delimiters(text) if text.startswith("{%") and text.endswith("%}") else text
    if not body.strip():
        raise JsonataSyntaxError("The expression is empty")
    try:
        return jlens.Expression(body)
    except jlens.JlensError as exc:
        code = getattr(exc, "code", None)
        pos = getattr(exc, "position", None)
        where = f" at position {pos}" if pos is not None else ""
        raise JsonataSyntaxError(f"{code + ': ' if code else ''}{exc}{where}", code, pos) from None
