"""Intrinsic functions (``States.Format(...)`` and friends), JSONPath mode only.

:func:`compile_intrinsic` parses the text once into a tree of :class:`Call` nodes, checking names, argument
syntax and arity, so the validator can report problems before a run. :func:`evaluate` runs the tree; every
failure at run time raises :class:`IntrinsicFailure` (the ASL error ``States.IntrinsicFailure``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random as _random
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import jsontext
from .errors import IntrinsicFailure, IntrinsicSyntaxError
from .jsonpath import Path, PathSyntaxError, compile_path

MAX_NESTING = 10


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal argument: a string, number, boolean or null."""

    value: Any


@dataclass(frozen=True, slots=True)
class PathArg:
    """A path argument, evaluated against the input, the context object or a variable."""

    path: Path


@dataclass(frozen=True, slots=True)
class Call:
    """A call of an intrinsic function."""

    name: str
    args: tuple[Literal | PathArg | Call, ...]
    text: str


# name -> (minimum arity, maximum arity or None for unbounded)
ARITY: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}


def looks_like_intrinsic(text: str) -> bool:
    """True when a string is meant as an intrinsic call (starts with ``States.`` and has a parenthesis)."""
    return text.startswith("States.") and "(" in text


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.depth = 0

    def fail(self, msg: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{msg} at position {self.i} of '{self.s}'")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\n\r":
            self.i += 1

    def call(self) -> Call:
        start = self.i
        j = self.s.find("(", self.i)
        if j < 0:
            raise self.fail("Expected '('")
        name = self.s[self.i:j].strip()
        if name not in ARITY:
            raise IntrinsicSyntaxError(f"Unknown intrinsic function '{name}' in '{self.s}'")
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise IntrinsicSyntaxError(f"Intrinsic functions can be nested at most {MAX_NESTING} deep in '{self.s}'")
        self.i = j + 1
        args: list[Literal | PathArg | Call] = []
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == ")":
            self.i += 1
        else:
            while True:
                self.ws()
                args.append(self.arg())
                self.ws()
                if self.i >= len(self.s):
                    raise self.fail("Expected ')'")
                c = self.s[self.i]
                self.i += 1
                if c == ")":
                    break
                if c != ",":
                    raise self.fail(f"Unexpected character '{c}'")
        self.depth -= 1
        lo, hi = ARITY[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise IntrinsicSyntaxError(f"The function '{name}' takes {want} argument(s) but got {len(args)} in '{self.s}'")
        return Call(name, tuple(args), self.s[start:self.i])

    def arg(self) -> Literal | PathArg | Call:
        s, i = self.s, self.i
        if i >= len(s):
            raise self.fail("Expected an argument")
        c = s[i]
        if c == "'":
            return Literal(self.string())
        if c == "$":
            j = i
            depth = 0
            quote = None
            while j < len(s):
                ch = s[j]
                if quote:
                    if ch == "\\":
                        j += 1
                    elif ch == quote:
                        quote = None
                elif ch in "'\"":
                    quote = ch
                elif ch in "[(":
                    depth += 1
                elif ch in "])":
                    if depth == 0:
                        break
                    depth -= 1
                elif ch == "," and depth == 0:
                    break
                j += 1
            text = s[i:j].strip()
            try:
                path = compile_path(text)
            except PathSyntaxError as exc:
                raise IntrinsicSyntaxError(str(exc)) from None
            self.i = j
            return PathArg(path)
        if s.startswith("States.", i):
            return self.call()
        j = i
        while j < len(s) and s[j] not in ",)":
            j += 1
        tok = s[i:j].strip()
        self.i = j
        if tok == "true":
            return Literal(True)
        if tok == "false":
            return Literal(False)
        if tok == "null":
            return Literal(None)
        try:
            num = json.loads(tok)
        except ValueError:
            raise IntrinsicSyntaxError(f"Invalid argument '{tok}' in '{s}'") from None
        if not isinstance(num, int | float) or isinstance(num, bool):
            raise IntrinsicSyntaxError(f"Invalid argument '{tok}' in '{s}'")
        return Literal(num)

    def string(self) -> str:
        s = self.s
        self.i += 1
        out = []
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                if self.i + 1 >= len(s):
                    raise self.fail("Dangling escape character")
                nxt = s[self.i + 1]
                if nxt not in "'{}\\":
                    raise self.fail(f"Invalid escape sequence '\\{nxt}'")
                out.append("\\" + nxt if nxt in "{}" else nxt)  # braces stay escaped for States.Format
                self.i += 2
                continue
            if c == "'":
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise self.fail("Unterminated string")


def compile_intrinsic(text: str) -> Call:
    """Parse an intrinsic function call. Raises :class:`IntrinsicSyntaxError`."""
    p = _Parser(text.strip())
    call = p.call()
    p.ws()
    if p.i != len(p.s):
        raise p.fail("Unexpected text after the function call")
    return call


def _unescape_braces(s: str) -> str:
    return s.replace("\\{", "{").replace("\\}", "}")


Resolve = Callable[[Path], Any]


def _num_text(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return repr(v)
    return json.dumps(v)


def _format_value(v: Any) -> str:
    """Render a value as States.Format does (Java toString style for containers, as observed on AWS)."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _num_text(v)
    if isinstance(v, list):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k}={_format_value(x)}" for k, x in v.items()) + "}"


def _round_half_up(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP)) if x >= 0 else math.floor(x + 0.5)


def _as_int(v: Any, fn: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise IntrinsicFailure(f"The {what} argument of {fn} must be an integer, but was {json.dumps(v)}")
    if isinstance(v, float):
        if not v.is_integer():
            raise IntrinsicFailure(f"The {what} argument of {fn} must be an integer, but was {json.dumps(v)}")
        v = int(v)
    return v


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


class IntrinsicEnv:
    """What intrinsics need from outside: a random source and a UUID source (injected for tests)."""

    def __init__(self, rng: _random.Random | None = None, uuid4: Callable[[], str] | None = None):
        self.rng = rng or _random.Random()
        self.uuid4 = uuid4 or (lambda: str(_uuid.uuid4()))


def evaluate(call: Call, resolve: Resolve, env: IntrinsicEnv) -> Any:
    """Evaluate a compiled call. ``resolve`` evaluates a path argument (raising for a missing value)."""
    args = [evaluate(a, resolve, env) if isinstance(a, Call) else (resolve(a.path) if isinstance(a, PathArg) else a.value)
            for a in call.args]
    fn = _FUNCS[call.name]
    try:
        return fn(call, args, env)
    except IntrinsicFailure:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise IntrinsicFailure(f"Invalid arguments in {call.text}: {exc}") from None


def _format(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    tpl = a[0]
    if not isinstance(tpl, str):
        raise IntrinsicFailure(f"The first argument of States.Format must be a string in {call.text}")
    out: list[str] = []
    k = 1
    i = 0
    while i < len(tpl):
        if tpl.startswith("\\{", i) or tpl.startswith("\\}", i):
            out.append(tpl[i + 1])
            i += 2
        elif tpl.startswith("{}", i):
            if k >= len(a):
                raise IntrinsicFailure(f"Number of arguments in {call.text} does not match the number of placeholders")
            out.append(_format_value(a[k]))
            k += 1
            i += 2
        else:
            out.append(tpl[i])
            i += 1
    if k != len(a):
        raise IntrinsicFailure(f"Number of arguments in {call.text} does not match the number of placeholders")
    return "".join(out)


def _string_to_json(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    s = a[0]
    if not isinstance(s, str):
        raise IntrinsicFailure(f"The argument of States.StringToJson must be a string in {call.text}")
    s = _unescape_braces(s)
    if not s.strip():
        return None
    try:
        return jsontext.loads(s, "The argument of States.StringToJson")
    except jsontext.JsonLimitError as exc:
        raise IntrinsicFailure(exc.message) from None
    except ValueError:
        raise IntrinsicFailure(f"The argument of States.StringToJson is not valid JSON: {s}") from None


def _json_to_string(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    if not isinstance(call.args[0], PathArg):
        raise IntrinsicFailure(f"The argument of States.JsonToString must be a path in {call.text}")
    return _dumps(a[0])


def _need_list(v: Any, fn: str) -> list[Any]:
    if not isinstance(v, list):
        raise IntrinsicFailure(f"The first argument of {fn} must be an array, but was {_dumps(v)}")
    return v


def _partition(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    arr = _need_list(a[0], call.name)
    size = _as_int(a[1], call.name, "second")
    if size <= 0:
        raise IntrinsicFailure(f"The chunk size of States.ArrayPartition must be positive, but was {size}")
    return [arr[i:i + size] for i in range(0, len(arr), size)]


def _contains(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    return any(_equal(x, a[1]) for x in _need_list(a[0], call.name))


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y)


def _range(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    first, last, step = (_as_int(v, call.name, w) for v, w in zip(a, ("first", "second", "third"), strict=True))
    if step == 0:
        raise IntrinsicFailure("The step of States.ArrayRange cannot be 0")
    numbers = range(first, last + (1 if step > 0 else -1), step)
    if len(numbers) > 1000:  # counted before any list is made: ArrayRange(1, 1e8, 1) must cost nothing
        raise IntrinsicFailure(f"States.ArrayRange would create {len(numbers)} elements; the maximum is 1000")
    return list(numbers)


def _get_item(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    arr = _need_list(a[0], call.name)
    idx = _as_int(a[1], call.name, "second")
    if not 0 <= idx < len(arr):
        raise IntrinsicFailure(f"Index {idx} is out of bounds for an array of length {len(arr)} in {call.text}")
    return arr[idx]


def _unique(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    out: list[Any] = []
    for x in _need_list(a[0], call.name):
        if not any(_equal(x, y) for y in out):
            out.append(x)
    return out


def _need_str(v: Any, fn: str, limit: int | None = 10000) -> str:
    if not isinstance(v, str):
        raise IntrinsicFailure(f"The argument of {fn} must be a string, but was {_dumps(v)}")
    if limit is not None and len(v) > limit:
        raise IntrinsicFailure(f"The input of {fn} exceeds the limit of {limit} characters")
    return v


def _b64enc(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    return base64.b64encode(_need_str(a[0], call.name).encode()).decode()


def _b64dec(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    try:
        return base64.b64decode(_need_str(a[0], call.name), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise IntrinsicFailure(f"The argument of States.Base64Decode is not valid Base64: {a[0]}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    data, algo = a
    if algo not in _HASHES:
        raise IntrinsicFailure(f"The hash algorithm '{algo}' is not supported; use one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else _dumps(data)
    _need_str(text, call.name)
    return hashlib.new(_HASHES[algo], text.encode()).hexdigest()


def _merge(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    x, y, deep = a
    if not isinstance(x, dict) or not isinstance(y, dict):
        raise IntrinsicFailure(f"The first two arguments of States.JsonMerge must be objects in {call.text}")
    if deep is not False:
        raise IntrinsicFailure("States.JsonMerge supports only a shallow merge: the third argument must be false")
    return {**x, **y}


def _math_random(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    for v in a:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise IntrinsicFailure(f"The arguments of States.MathRandom must be numbers in {call.text}")
    start, end = int(a[0]), int(a[1])
    if start > end:
        raise IntrinsicFailure(f"The start of States.MathRandom must not exceed its end in {call.text}")
    rng = _random.Random(int(a[2])) if len(a) == 3 else env.rng
    return rng.randint(start, end)


def _math_add(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    for v in a:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise IntrinsicFailure(f"The arguments of States.MathAdd must be numbers in {call.text}")
    return _round_half_up(a[0]) + _round_half_up(a[1])


def _split(call: Call, a: list[Any], env: IntrinsicEnv) -> Any:
    s = _need_str(a[0], call.name, None)
    delims = set(_need_str(a[1], call.name, None))
    out: list[str] = []
    cur: list[str] = []
    for ch in s:
        if ch in delims:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


_FUNCS: dict[str, Callable[[Call, list[Any], IntrinsicEnv], Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": lambda c, a, e: list(a),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": _contains,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda c, a, e: len(_need_list(a[0], c.name)),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": _b64enc,
    "States.Base64Decode": _b64dec,
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _split,
    "States.UUID": lambda c, a, e: e.uuid4(),
}
assert set(_FUNCS) == set(ARITY)
