"""Where a branch of an execution is: its event cursor and variables (:class:`Frame`), and the context object's
``State`` entry of the state it runs (:class:`StateCtx`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import State


@dataclass
class Frame:
    """Where a thread of execution is: the last event id it wrote and the variables it sees."""

    cursor: int
    variables: dict[str, Any]
    outer: Frame | None = None
    map_item: dict[str, Any] | None = None

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
