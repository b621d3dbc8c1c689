"""The Task handler for examples/greeting.asl.json: a plain Python function registered with --task."""

from __future__ import annotations

from typing import Any


def greet(event: dict[str, Any], context: Any) -> str:
    """Return a greeting for one person."""
    return f"Hello, {event['name']} (#{event['position'] + 1})!"
