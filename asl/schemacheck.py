"""A yes/no JSON Schema (draft 2020-12) check for the keywords the definition schema uses.

Importing ``jsonschema`` takes about half of ``asl run``'s start-up, and a valid definition needs no error messages.
:func:`compile_check` turns a schema into a predicate that answers only "valid?"; the validator asks ``jsonschema``
for the errors (their paths and messages) only when the answer is no. A schema holding a keyword this module does
not know is refused (:class:`UnsupportedSchema`), so a check never answers yes where ``jsonschema`` would say no:
``tests/test_schemacheck.py`` holds both to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import UnsupportedSchema

Check = Callable[[Any], bool]

# Keywords that never change whether an instance is valid
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
                          "errorMessage", "deprecated", "readOnly", "writeOnly"})


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):  # JSON Schema's numbers exclude booleans, which Python counts as ints
        return False
    if name == "number":
        return isinstance(value, int | float)
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise UnsupportedSchema(f"unknown type {name!r}")


def equal(a: Any, b: Any) -> bool:
    """JSON equality as JSON Schema has it for ``enum`` and ``const``: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


def compile_check(schema: Any) -> Check:
    """The predicate "``instance`` is valid under ``schema``". ``$ref`` may point only inside the schema."""
    root = schema
    refs: dict[str, Check] = {}

    def ref(pointer: str) -> Check:
        if pointer not in refs:
            if not pointer.startswith("#/"):
                raise UnsupportedSchema(f"$ref {pointer!r} does not point inside the schema")
            target = root
            for part in pointer[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            refs[pointer] = lambda v: False  # replaced below; a schema may refer to itself
            check = build(target)
            refs[pointer] = check
        return lambda v: refs[pointer](v)

    def build(s: Any) -> Check:
        if s is True:
            return lambda v: True
        if s is False:
            return lambda v: False
        if not isinstance(s, Mapping):
            raise UnsupportedSchema(f"a schema must be an object or a boolean, not {s!r}")
        checks = [keyword(s, k, x) for k, x in s.items() if k not in _ANNOTATIONS and k not in ("then", "else")]
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def keyword(s: Mapping[str, Any], k: str, x: Any) -> Check:
        if k == "$ref":
            return ref(x)
        if k == "type":
            names = x if isinstance(x, list) else [x]
            for n in names:
                _is_type(None, n)  # refuses an unknown type name now, not on first use
            return lambda v: any(_is_type(v, n) for n in names)
        if k == "enum":
            return lambda v: any(equal(v, e) for e in x)
        if k == "const":
            return lambda v: equal(v, x)
        if k == "required":
            return lambda v: not isinstance(v, dict) or all(f in v for f in x)
        if k == "properties":
            props = {name: build(sub) for name, sub in x.items()}
            return lambda v: not isinstance(v, dict) or all(c(v[n]) for n, c in props.items() if n in v)
        if k == "additionalProperties":
            if "patternProperties" in s:
                raise UnsupportedSchema("additionalProperties beside patternProperties")
            known = frozenset(s.get("properties", ()))
            extra = build(x)
            return lambda v: not isinstance(v, dict) or all(extra(v[n]) for n in v if n not in known)
        if k == "items":
            if "prefixItems" in s:
                raise UnsupportedSchema("items beside prefixItems")
            item = build(x)
            return lambda v: not isinstance(v, list) or all(item(i) for i in v)
        if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            bound = x
            test: Callable[[Any], bool] = {"minimum": lambda n: n >= bound, "maximum": lambda n: n <= bound,
                                           "exclusiveMinimum": lambda n: n > bound,
                                           "exclusiveMaximum": lambda n: n < bound}[k]
            return lambda v: not _is_type(v, "number") or test(v)
        if k in ("minLength", "maxLength"):
            return (lambda v: not isinstance(v, str) or len(v) >= x) if k == "minLength" else \
                (lambda v: not isinstance(v, str) or len(v) <= x)
        if k in ("minItems", "maxItems"):
            return (lambda v: not isinstance(v, list) or len(v) >= x) if k == "minItems" else \
                (lambda v: not isinstance(v, list) or len(v) <= x)
        if k in ("minProperties", "maxProperties"):
            return (lambda v: not isinstance(v, dict) or len(v) >= x) if k == "minProperties" else \
                (lambda v: not isinstance(v, dict) or len(v) <= x)
        if k == "pattern":
            rx = re.compile(x)
            return lambda v: not isinstance(v, str) or rx.search(v) is not None
        if k in ("anyOf", "allOf", "oneOf"):
            subs = [build(sub) for sub in x]
            if k == "anyOf":
                return lambda v: any(c(v) for c in subs)
            if k == "allOf":
                return lambda v: all(c(v) for c in subs)
            return lambda v: sum(1 for c in subs if c(v)) == 1
        if k == "not":
            inner = build(x)
            return lambda v: not inner(v)
        if k == "if":
            cond = build(x)
            then = build(s.get("then", True))
            other = build(s.get("else", True))
            return lambda v: then(v) if cond(v) else other(v)
        raise UnsupportedSchema(f"the keyword {k!r} is not implemented")

    return build(schema)


__all__ = ["Check", "UnsupportedSchema", "compile_check", "equal"]
