"""JSONPath as Step Functions uses it (Jayway semantics), compiled once per definition.

A path starts at one of three roots: ``$`` (the input), ``$$`` (the context object) or ``$name`` (the workflow
variable ``name``). Simple paths (``.name``, ``['name']``, ``[n]``, ``[*]``, ``.*``) are parsed into a tuple of
steps and evaluated with a plain loop; anything else (filters, slices, unions, deep scan, functions) goes to
python-jsonpath, compiled once and cached. As with Jayway, a *definite* path (no wildcard, filter, slice, union
or deep scan) yields one value or fails with :class:`PathNotFound`; an indefinite one yields a list, possibly
empty.

Values are never mutated: :meth:`Path.set` copies only the containers on the way to the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import PathNotFound, PathSyntaxError
from .jsontext import MAX_DEPTH

INPUT, CONTEXT, VARIABLE = "input", "context", "variable"
_WILDCARD = object()  # a step that selects every member of an object or element of an array


_VAR_NAME = re.compile(r"[^\W\d][\w]*", re.UNICODE)
_SIMPLE_NAME = re.compile(r"[^.\[\]()'\"?@,:*\s=<>!&|]+")
_BRACKET = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|(-?\d+)|(\*))\s*\]")


def _jayway_key(step: Any) -> str:
    return "[*]" if step is _WILDCARD else (f"[{step}]" if isinstance(step, int) else f"['{step}']")


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled JSONPath. ``root`` is INPUT, CONTEXT or VARIABLE (then ``variable`` names it)."""

    text: str
    root: str
    variable: str | None
    steps: tuple[Any, ...] | None  # None: evaluated by the fallback engine
    definite: bool
    reference: bool  # only names and indexes: usable as a Reference Path (ResultPath, ItemsPath, ...)
    _fallback: Any = None

    def find(self, doc: Any) -> Any:
        """Evaluate against ``doc`` (the root value already chosen). Definite: the value, or PathNotFound.
        Indefinite: a list of the matches."""
        steps = self.steps
        if steps is None:
            found = self._fallback.findall(doc)
            if self.definite:
                if not found:
                    raise PathNotFound(f"No results for path: {self.text}")
                return found[0]
            return found
        if self.definite:
            cur = doc
            for i, step in enumerate(steps):
                if isinstance(step, str):
                    if isinstance(cur, dict) and step in cur:
                        cur = cur[step]
                        continue
                    where = "$" + "".join(_jayway_key(s) for s in steps[: i + 1])
                    if isinstance(cur, dict):
                        raise PathNotFound(f"No results for path: {where}")
                    raise PathNotFound(f"Missing property in path {where}")
                if isinstance(cur, list) and -len(cur) <= step < len(cur):
                    cur = cur[step]
                    continue
                raise PathNotFound("No results for path: $" + "".join(_jayway_key(s) for s in steps[: i + 1]))
            return cur
        matches = [doc]
        for step in steps:
            nxt: list[Any] = []
            for cur in matches:
                if step is _WILDCARD:
                    if isinstance(cur, dict):
                        nxt.extend(cur.values())
                    elif isinstance(cur, list):
                        nxt.extend(cur)
                elif isinstance(step, str):
                    if isinstance(cur, dict) and step in cur:
                        nxt.append(cur[step])
                elif isinstance(cur, list) and -len(cur) <= step < len(cur):
                    nxt.append(cur[step])
            matches = nxt
        return matches

    def set(self, doc: Any, value: Any) -> Any:
        """Return a copy of ``doc`` with ``value`` written at this Reference Path, creating missing objects on
        the way (as ResultPath does). Raises PathNotFound when a step cannot be applied."""
        steps = self.steps
        assert steps is not None and self.reference
        if not steps:
            return value
        return _set(doc, steps, 0, value)


def _set(cur: Any, steps: tuple[Any, ...], i: int, value: Any) -> Any:
    step = steps[i]
    last = i == len(steps) - 1
    if isinstance(step, str):
        if cur is None:
            cur = {}
        if not isinstance(cur, dict):
            raise PathNotFound("Missing property in path $" + "".join(_jayway_key(s) for s in steps[:i]))
        out = dict(cur)
        out[step] = value if last else _set(cur.get(step), steps, i + 1, value)
        return out
    if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
        raise PathNotFound("Index out of bounds in path $" + "".join(_jayway_key(s) for s in steps[: i + 1]))
    lst = list(cur)
    lst[step] = value if last else _set(cur[step], steps, i + 1, value)
    return lst


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _parse_steps(rest: str) -> tuple[tuple[Any, ...], bool] | None:
    """Parse the part after the root into simple steps; None when the fallback engine is needed."""
    steps: list[Any] = []
    definite = True
    i, n = 0, len(rest)
    while i < n:
        c = rest[i]
        if c == ".":
            if rest.startswith("..", i):
                return None
            if i + 1 < n and rest[i + 1] == "*":
                steps.append(_WILDCARD)
                definite = False
                i += 2
                continue
            if i + 1 < n and rest[i + 1] == "[":  # ".['name']" is accepted by Jayway
                i += 1
                continue
            m = _SIMPLE_NAME.match(rest, i + 1)
            if not m:
                return None
            steps.append(m.group(0))
            i = m.end()
        elif c == "[":
            m = _BRACKET.match(rest, i)
            if not m:
                return None
            if m.group(1) is not None or m.group(2) is not None:
                steps.append(_unescape(m.group(1) if m.group(1) is not None else m.group(2)))
            elif m.group(3) is not None:
                steps.append(int(m.group(3)))
            else:
                steps.append(_WILDCARD)
                definite = False
            i = m.end()
        else:
            return None
    return tuple(steps), definite


_INDEFINITE = re.compile(r"\.\.|\*|\?\(|\[[^\]]*[,:][^\]]*\]")


@lru_cache(maxsize=1)
def _fallback_engine() -> Any:
    import jsonpath as _pj  # here, not at the top: it costs a third of the CLI's start-up, and most paths are simple

    class Environment(_pj.JSONPathEnvironment):
        # python-jsonpath stops a descendant scan ($..x) at 100 levels; values asl takes in nest up to MAX_DEPTH
        max_recursion_depth = MAX_DEPTH + 8

    return Environment()


def _fallback_compile(text: str) -> Any:
    norm = text.replace(".[", "[")
    norm = re.sub(r"\.\.([A-Za-z_][\w-]*)", r"..['\1']", norm)
    try:
        return _fallback_engine().compile(norm)
    except Exception as exc:  # python-jsonpath raises several error types
        raise PathSyntaxError(f"Invalid JSONPath '{text}': {exc}") from None


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Compile a path. Raises :class:`PathSyntaxError`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"A path must start with '$': {text!r}")
    if text.startswith("$$"):
        root, var, rest = CONTEXT, None, text[2:]
    else:
        m = _VAR_NAME.match(text, 1)
        if m:
            root, var, rest = VARIABLE, m.group(0), text[m.end():]
        else:
            root, var, rest = INPUT, None, text[1:]
    parsed = _parse_steps(rest)
    if parsed is not None:
        steps, definite = parsed
        reference = definite
        return Path(text, root, var, steps, definite, reference)
    if rest and rest[0] not in ".[":
        raise PathSyntaxError(f"Invalid JSONPath '{text}'")
    fb = _fallback_compile("$" + rest)
    definite = not _INDEFINITE.search(rest)
    return Path(text, root, var, None, definite, False, fb)


def is_valid_path(text: str) -> bool:
    """True when ``text`` compiles as a path."""
    try:
        compile_path(text)
    except PathSyntaxError:
        return False
    return True
