"""JSONata behind a thin adapter of our own (engine: jlens, chosen in ../shared/reference/expression-engines.md).

Expressions are the text between ``{%`` and ``%}``; each distinct text is compiled once. Evaluation is bounded in
time and depth, tells an undefined result apart from ``null``, and adds the functions Step Functions adds
(``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid``, ``$parse``) while refusing ``$eval`` as AWS does.

Functions that need the execution's randomness or ids read them from :data:`ENVIRONMENT`, a context variable the
interpreter sets, so compiled expressions can be shared by every execution and thread.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from . import jsontext
from .errors import JsonataEvaluationError, JsonataSyntaxError


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()
"""The result of an expression that returned nothing (JSONata's ``undefined``), as opposed to ``null``."""


class FunctionResult:
    """The result of an expression whose value is a function: not representable in JSON."""


FUNCTION_RESULT = FunctionResult()


@dataclass
class Environment:
    """What the Step Functions functions draw on during one evaluation: randomness, ids, the clock, limits."""

    rng: random.Random = field(default_factory=random.Random)
    uuid4: Callable[[], str] = field(default_factory=lambda: (lambda: str(uuid.uuid4())))
    # Where $random and $uuid draw from when set: an object with ``rng`` and ``uuid4()`` (the runtime sets the branch
    # evaluating, so each branch of an execution has its own stream); else ``rng`` and ``uuid4`` above.
    draws: Any = None
    now: datetime | None = None
    timeout: float = 10.0
    max_depth: int = 1000
    # Bounds on the size of every intermediate value (without them [1..1e7].[1..100] reached 2.26 GB) and on the
    # work: an array of 131,072 items is as many as a 256 KiB payload can hold (two bytes an item at least), a string
    # of 4 MiB sixteen times a payload, and 2,000,000 steps twenty steps an item for 100,000 items. The engine has no
    # bound on the total it allocates: see "JSONata limits" in docs/design.md for what is left.
    max_array_length: int | None = 131_072
    max_string_length: int | None = 4 * 1024 * 1024
    max_steps: int | None = 2_000_000
    # What an evaluation that runs past ``first_try`` seconds in this process may allocate: it goes on in a child
    # process (asl.jsonata_sandbox) that is stopped past this many bytes. None: no child, the whole time here.
    memory_limit: int | None = 512 * 1024 * 1024
    # Ordinary expressions finish well within this (a $map over 10,000 objects takes about 10 ms); memory grows by
    # 1.6 GB a second at most, so an evaluation cut off here took under 200 MB (measured: 188 MB).
    first_try: float = 0.05


ENVIRONMENT: contextvars.ContextVar[Environment] = contextvars.ContextVar("asl_jsonata_environment")
_DEFAULT_ENV = Environment()


def _env() -> Environment:
    return ENVIRONMENT.get(_DEFAULT_ENV)


def strip_delimiters(text: str) -> str:
    """``{% expr %}`` → ``expr``."""
    return text[2:-2]


# -- Step Functions' functions ---------------------------------------------------------------------------------
class _HostError(Exception):
    """Raised by our functions with a JSONata-style code, reported like an engine error."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _partition(array: Any, size: Any) -> Any:
    if not isinstance(size, int | float) or isinstance(size, bool) or size <= 0 or float(size) != int(size):
        raise _HostError("D3001", "Invalid partition size: must be a positive integer")
    if not isinstance(array, list):
        array = [array]
    n = int(size)
    return [array[i:i + n] for i in range(0, len(array), n)]


def _range(start: Any, end: Any, step: Any = None) -> Any:
    nums = [start, end] + ([] if step is None else [step])
    if any(isinstance(v, bool) or not isinstance(v, int | float) or float(v) != int(v) for v in nums):
        raise _HostError("D3001", "Invalid range arguments: start, end and step must be integers")
    s = 1 if step is None else int(step)
    if s == 0:
        raise _HostError("D3001", "Invalid range step: must not be zero")
    a, b = int(start), int(end)
    numbers = range(a, b + (1 if s > 0 else -1), s)
    if len(numbers) > 1000:  # counted before any list is made
        raise _HostError("D3001", "The range must not produce more than 1000 items")
    return list(numbers)


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any) -> Any:
    if algorithm not in _HASHES:
        raise _HostError("D3001", f"Unsupported hash algorithm: {algorithm}. Supported: {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _random(seed: Any = None) -> Any:
    if seed is None:
        return _rng(_env()).random()
    return random.Random(seed if isinstance(seed, int | float | str) else json.dumps(seed)).random()


def _uuid() -> Any:
    env = _env()
    return env.draws.uuid4() if env.draws is not None else env.uuid4()


def _rng(env: Environment) -> random.Random:
    rng: random.Random = env.draws.rng if env.draws is not None else env.rng
    return rng


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        raise _HostError("D3001", "The argument of $parse must be a JSON string")
    try:
        return jsontext.loads(text, "The argument of $parse")
    except jsontext.JsonLimitError as exc:
        raise _HostError("D3001", exc.message) from None
    except ValueError as exc:
        raise _HostError("D3001", f"The argument of $parse is not valid JSON: {exc}") from None


def _eval(*_: Any) -> Any:
    # AWS removes $eval; calling it fails as any call of something that is not a function does.
    raise _HostError("T1006", "Attempted to invoke a non-function")


_FUNCTIONS: tuple[tuple[str, Callable[..., Any], str], ...] = (
    ("partition", _partition, "<x-n:a>"),
    ("range", _range, "<nnn?:a>"),
    ("hash", _hash, "<x-s:s>"),
    ("random", _random, "<x?:n>"),
    ("uuid", _uuid, "<:s>"),
    ("parse", _parse, "<s-:x>"),
    ("eval", _eval, "<x*:x>"),
)

_NAME = re.compile(r"\$([^\W\d]\w*)")


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled JSONata expression. ``text`` is the expression as AWS quotes it in error causes (trimmed);
    ``names`` are the variable names it may read (a superset: ``$x`` anywhere in the source)."""

    text: str
    engine: Any
    names: frozenset[str]

    aws: bool = True

    def evaluate(self, bindings: Mapping[str, Any], input: Any = UNDEFINED) -> Any:  # noqa: A002 - JSONata's word
        """Evaluate with the given variable bindings (``states`` among them) and, optionally, an input document
        (ASL gives none: ``$`` at the top is undefined). Returns the value, :data:`UNDEFINED`, or
        :data:`FUNCTION_RESULT`; raises :class:`JsonataEvaluationError`.

        Bounded in time, steps, depth and the size of each value (:class:`Environment`); an evaluation that runs
        past ``first_try`` seconds is done again in a child process with a memory limit."""
        env = _env()
        scoped = {k: bindings[k] for k in self.names if k in bindings}
        if env.memory_limit is None or env.timeout <= env.first_try:
            return self._evaluate(scoped, input, env, env.timeout)
        # the first try may have drawn random numbers (and ids from them): the second starts from the same state
        rng = _rng(env)
        rng_state = rng.getstate() if "random" in self.names or "uuid" in self.names else None
        if env.first_try > 0:
            try:
                return self._evaluate(scoped, input, env, env.first_try)
            except JsonataEvaluationError as exc:
                if exc.code != "D1012":  # not the time running out
                    raise
        if rng_state is not None:
            rng.setstate(rng_state)
        from . import jsonata_sandbox

        return jsonata_sandbox.evaluate(self, scoped, input, env)

    def _evaluate(self, scoped: dict[str, Any], input: Any, env: Environment, timeout: float) -> Any:  # noqa: A002
        kw: dict[str, Any] = {"timeout": timeout, "max_depth": env.max_depth,
                              "max_array_length": env.max_array_length, "max_string_length": env.max_string_length,
                              "max_steps": env.max_steps}
        if env.now is not None:
            kw["now"] = env.now
        try:
            doc = None if input is UNDEFINED else _jlens().Document(input)
            run = self.engine.evaluate if doc is None else self.engine.evaluate_document
            value = run(doc, scoped, **kw)
            if value is not None:
                return value
            # evaluate() merges null, undefined and functions; ask again in the forms that tell them apart.
            probe = _type_probe(self.text, self.aws)
            kind = (probe.evaluate if doc is None else probe.evaluate_document)(doc, scoped, **kw)
            if kind == "null":
                return None
            if kind == "function":
                return FUNCTION_RESULT
            return UNDEFINED
        except _jlens().JlensError as exc:
            raise JsonataEvaluationError(getattr(exc, "code", None), str(exc)) from None
        except _HostError as exc:
            raise JsonataEvaluationError(exc.code, exc.message) from None
        except UnicodeEncodeError as exc:  # a lone UTF-16 surrogate (JSON allows "\ud800") cannot reach the engine
            raise JsonataEvaluationError("D3140", f"The data holds a character that is not valid Unicode: {exc.reason}") from None
        except RecursionError:
            raise JsonataEvaluationError("U1001", "Stack overflow error: Check for non-terminating recursive function") from None


def _jlens() -> Any:
    """The engine's module, imported on first use: most definitions hold no JSONata, and a CLI run should not pay
    for loading it."""
    import jlens

    return jlens


def _engine(body: str, aws: bool) -> Any:
    eng = _jlens().Expression(body)
    if aws:
        for name, fn, sig in _FUNCTIONS:
            eng.register_function(name, fn, sig)
    return eng


@lru_cache(maxsize=1024)
def _type_probe(text: str, aws: bool) -> Any:
    return _engine(f"$type(({text}\n))", aws)


@lru_cache(maxsize=4096)
def compile_expression(text: str, aws: bool = True) -> Expression:
    """Compile a ``{% %}`` string (or a bare expression). Raises :class:`JsonataSyntaxError`.

    ``aws`` (the default) gives the language as Step Functions has it: its extra functions, and no ``$eval``.
    ``aws=False`` gives plain JSONata, as the official test suite expects it."""
    body = strip_delimiters(text) if text.startswith("{%") and text.endswith("%}") else text
    body = body.strip()
    if not body:
        raise JsonataSyntaxError("The expression is empty")
    try:
        eng = _engine(body, aws)
    except UnicodeEncodeError as exc:
        raise JsonataSyntaxError(f"The expression holds a character that is not valid Unicode: {exc.reason}") from None
    except _jlens().JlensError as exc:
        code = getattr(exc, "code", None)
        pos = getattr(exc, "position", None)
        where = f" at position {pos}" if pos is not None else ""
        raise JsonataSyntaxError(f"{code + ': ' if code else ''}{exc}{where}", code, pos) from None
    return Expression(body, eng, frozenset(_NAME.findall(body)), aws)


def type_name(value: Any) -> str:
    """The JSON type name AWS uses in its cause texts."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
