"""Diagnostics: problems found in a definition, as data.

A diagnostic is a code, a severity, a location (a JSON pointer into the definition) and a message. Codes are
AWS's ValidateStateMachineDefinition codes where AWS has one (``SCHEMA_VALIDATION_FAILED``,
``MISSING_TRANSITION_TARGET``, ``DUPLICATE_STATE_NAME``, ...); the few we add follow the same style.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import DefinitionError as DefinitionError  # raised with diagnostics; defined with all errors


class Severity(StrEnum):
    """How bad a problem is. Only ERRORs make a definition invalid."""

    ERROR = "ERROR"
    WARNING = "WARNING"


# AWS's documented codes (ValidateStateMachineDefinition).
INVALID_JSON_DESCRIPTION = "INVALID_JSON_DESCRIPTION"
MISSING_DESCRIPTION = "MISSING_DESCRIPTION"
SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
INVALID_RESOURCE = "INVALID_RESOURCE"
MISSING_END_STATE = "MISSING_END_STATE"
DUPLICATE_STATE_NAME = "DUPLICATE_STATE_NAME"
INVALID_STATE_NAME = "INVALID_STATE_NAME"
DUPLICATE_LABEL_NAME = "DUPLICATE_LABEL_NAME"
INVALID_LABEL_NAME = "INVALID_LABEL_NAME"
MISSING_TRANSITION_TARGET = "MISSING_TRANSITION_TARGET"
TOO_DEEPLY_NESTED = "TOO_DEEPLY_NESTED"
NO_DOLLAR = "NO_DOLLAR"
NO_PATH = "NO_PATH"
PASS_RESULT_IS_STATIC = "PASS_RESULT_IS_STATIC"
# A code of our own, where AWS has no check.
DUPLICATE_KEY = "DUPLICATE_KEY"
# Ours (WARNINGs): variables that no state in scope assigns, and inner assignments that shadow an outer variable.
UNDEFINED_VARIABLE = "UNDEFINED_VARIABLE"
JSONATA_NOT_ON_AWS = "JSONATA_NOT_ON_AWS"  # a JSONata 2.1+ operator; AWS runs JSONata 2.0.6
VARIABLE_SHADOWED = "VARIABLE_SHADOWED"


def pointer_join(base: str, *tokens: str | int) -> str:
    """Append reference tokens to a JSON pointer, escaping ``~`` and ``/`` as RFC 6901 requires."""
    out = base
    for tok in tokens:
        out += "/" + str(tok).replace("~", "~0").replace("/", "~1")
    return out


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a definition.

    ``pointer`` is an RFC 6901 JSON pointer into the definition ("" is the whole document). ``line`` and
    ``column`` are set (1-based) when the problem is in the JSON text itself.
    """

    code: str
    severity: Severity
    pointer: str
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def location(self) -> str:
        """The location as AWS prints it: the pointer, with ``/`` for the root."""
        if self.line is not None:
            return f"line {self.line}, column {self.column}"
        return self.pointer or "/"

    def to_dict(self) -> dict[str, object]:
        """The diagnostic as a JSON-ready object (the shape of ``asl validate --format json``)."""
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "location": self.location,
            "pointer": self.pointer,
            "message": self.message,
        }
        if self.line is not None:
            out["line"] = self.line
            out["column"] = self.column
        return out

    def __str__(self) -> str:
        return f"{self.location}: {self.code}: {self.message}"


def error(code: str, pointer: str, message: str, line: int | None = None, column: int | None = None) -> Diagnostic:
    """Shorthand for an ERROR diagnostic."""
    return Diagnostic(code, Severity.ERROR, pointer, message, line, column)


def warning(code: str, pointer: str, message: str) -> Diagnostic:
    """Shorthand for a WARNING diagnostic."""
    return Diagnostic(code, Severity.WARNING, pointer, message)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True when any diagnostic is an ERROR."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


