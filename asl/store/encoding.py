"""How the SQL backends keep history events and times: an event as JSON text with its timestamp in epoch
seconds, and a run of events one commit wrote as one JSON array (one row instead of one per event)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ..jsontext import dumps
from .base import Event


def ts(d: datetime | None) -> float | None:
    """A time as stored: epoch seconds."""
    return None if d is None else d.timestamp()


def dt(x: float | None) -> datetime | None:
    """A stored time as a UTC datetime."""
    return None if x is None else datetime.fromtimestamp(x, UTC)


def epoch(ev: Event) -> Event:
    """The event as stored: its timestamp in epoch seconds."""
    when = ev["timestamp"]
    return {**ev, "timestamp": when.timestamp()} if isinstance(when, datetime) else ev


def dump_event(ev: Event) -> str:
    return dumps(epoch(ev))


def dump_events(events: Sequence[Event]) -> str:
    """A run of consecutive events as one JSON array (schema 3)."""
    return dumps([epoch(ev) for ev in events])


def load_events(text: str) -> list[Event]:
    """The events of one row: a run of them (an array) or one (an object, as rows before schema 3 hold)."""
    loaded = json.loads(text)
    events: list[Event] = loaded if isinstance(loaded, list) else [loaded]
    for ev in events:
        ev["timestamp"] = datetime.fromtimestamp(ev["timestamp"], UTC)
    return events


def select_range(bodies: Iterable[str], after_id: int | None, limit: int | None, reverse: bool) -> list[Event]:
    """The events of a history range from the rows that overlap it (each a run of events or one event, in the
    range's order), reading no row past the range's end."""
    out: list[Event] = []
    for body in bodies:
        run = load_events(body)
        if reverse:
            run.reverse()
        out += run if after_id is None else [ev for ev in run if (ev["id"] < after_id if reverse else ev["id"] > after_id)]
        if limit is not None and len(out) >= limit:
            break
    return out if limit is None else out[:limit]
