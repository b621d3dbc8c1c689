"""Where a branch of an execution is: its event cursor and variables (:class:`Frame`), and the context object's
``State`` entry of the state it runs (:class:`StateCtx`)."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..intrinsics import IntrinsicEnv
from ..model import State

if TYPE_CHECKING:
    from .history import History


class Draws:
    """The random numbers and ids of one execution. The root branch draws from the execution's own generator (so an
    execution without branches draws as it always did); every other branch from a generator of its own, seeded with
    the execution's starting state and the branch's path, so a branch draws the same values whatever the branches
    beside it do and in whatever order they run, as when the execution is rebuilt from its history."""

    def __init__(self, rng: random.Random, uuid4: Callable[[], str]):
        self.rng = rng
        self.uuid4 = uuid4
        self.intrinsic_env = IntrinsicEnv(rng, uuid4)
        self._base: str | None = None

    def seed(self, path: str) -> str:
        if self._base is None:  # made on first need: an execution with no branch never pays for it
            self._base = hashlib.sha256(repr(self.rng.getstate()).encode()).hexdigest()[:32]
        return f"{self._base}:{path}"


class Frame:
    """Where a branch of an execution is: the last event id it wrote, the variables it sees, the history it writes
    to (a Distributed Map's children have their own), its path (unique in the execution: the events that started it),
    its random numbers and ids, the JSON text of its last output (reused when the next state enters), and the state
    it is in (for the Aborted event when a sibling's failure stops it).

    A plain class, not a dataclass: a Map makes one per iteration, and the fields most frames never set keep their
    class-level defaults instead of being written in each."""

    map_item: dict[str, Any] | None = None
    carry: tuple[Any, str] | None = None
    out_text: tuple[Any, str] | None = None
    state: State | None = None
    _rng: random.Random | None = None
    _intrinsic_env: IntrinsicEnv | None = None
    _path: str | None = None
    _key: Any = None

    def __init__(self, cursor: int, variables: dict[str, Any], outer: Frame | None = None,
                 map_item: dict[str, Any] | None = None, history: History | None = None, path: str | None = "",
                 draws: Draws | None = None, key: Any = None):
        self.cursor = cursor
        self.variables = variables
        self.outer = outer
        if map_item is not None:
            self.map_item = map_item
        self.history: History = history  # type: ignore[assignment]  # set on every frame the runtime runs
        if path is not None:
            self._path = path
        else:  # a branch of ``outer``: its path is made from it when first needed (most branches never need it)
            self._key = key
        self.draws = draws

    @property
    def path(self) -> str:
        """The branch's path: its parent's, then the key of the events that started it. "" for the execution."""
        if self._path is None:
            assert self.outer is not None
            self._path = f"{self.outer.path}/{self._key}"
        return self._path

    def __repr__(self) -> str:
        return f"Frame(cursor={self.cursor}, path={self.path!r})"

    def child(self, cursor: int, key: Any, variables: dict[str, Any] | None = None) -> Frame:
        """A branch of this one: its own scope chained to this one, its own cursor, and a path under this one's."""
        return Frame(cursor, {} if variables is None else variables, self, None, self.history, None, self.draws, key)

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            assert self.draws is not None
            self._rng = self.draws.rng if not self.path else random.Random(self.draws.seed(self.path))
        return self._rng

    def uuid4(self) -> str:
        if not self.path:
            assert self.draws is not None
            return self.draws.uuid4()
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def intrinsic_env(self) -> IntrinsicEnv:
        if self._intrinsic_env is None:
            assert self.draws is not None
            self._intrinsic_env = self.draws.intrinsic_env if not self.path else IntrinsicEnv(self.rng, self.uuid4)
        return self._intrinsic_env

    def scopes(self) -> list[dict[str, Any]]:
        """The variable scopes this frame can read, innermost first (for JSONata bindings, without copying)."""
        out = []
        f: Frame | None = self
        while f is not None:
            out.append(f.variables)
            f = f.outer
        return out

    def lookup(self, name: str) -> Any:
        f: Frame | None = self
        while f is not None:
            if name in f.variables:
                return f.variables[name]
            f = f.outer
        raise KeyError(name)


class StateCtx(dict[str, Any]):
    """The context object's ``State`` entry for one state run (EnteredTime, Name, RetryCount), carrying the ids of
    the run's StateEntered event and of the event before it, which AWS's error causes and events refer to."""

    def __init__(self, state: State, entered: int, entered_prev: int, entered_time: str):
        super().__init__(EnteredTime=entered_time, Name=state.name)
        self.state = state
        self.entered = entered
        self.entered_prev = entered_prev
        self.token: str | None = None  # $$.Task.Token: the task token of a .waitForTaskToken Task
        self.callback_token: str | None = None  # the token any callback-like Task waits on (activities, .sync too)
