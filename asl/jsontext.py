"""Compact JSON text, as AWS writes payloads in history events and outputs, made fast.

``json.dumps`` (and ``JSONEncoder.encode``) build a new encoder on every call, which costs more than encoding a
small value; the interpreter and the store encode a value or two per state, so they share one C encoder built once.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any

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


__all__ = ["dumps", "dumps_checked"]
