"""asl: an in-process, AWS-faithful interpreter and validator for the Amazon States Language.

The pipeline, one module (or package) per stage::

    parse → validate → model → interpreter → history → adapters → service → CLI

Public API::

    asl.validate(definition)  -> list[Diagnostic]
    asl.load(definition)      -> StateMachine (raises DefinitionError with every diagnostic)
"""

from __future__ import annotations

from .diagnostics import DefinitionError, Diagnostic, Severity
from .validate import validate

__all__ = ["DefinitionError", "Diagnostic", "Severity", "validate"]
__version__ = "0.1.0"
