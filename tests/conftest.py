"""Shared fixtures: where ../shared is, and helpers to build small definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
RECORDED = SHARED / "aws-recorded"


def recorded_cases(*folders: str) -> list[Path]:
    """The recorded case files in the given folders (empty when ../shared is absent)."""
    out: list[Path] = []
    for f in folders:
        out.extend(sorted((RECORDED / f).glob("*.json")))
    return out


def load_case(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


needs_shared = pytest.mark.skipif(not RECORDED.is_dir(), reason="../shared/aws-recorded is not present")
