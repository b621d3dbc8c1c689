"""Shared fixtures: where ../shared is, helpers to build small definitions, and a real PostgreSQL server."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .pgcluster import Cluster, ensure_installed, required

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


_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL server for the whole run, started only when a test asks for it.

    Skipped when PostgreSQL is missing and cannot be installed; an error instead in CI (CI or
    ASL_REQUIRE_POSTGRES=1), so that the PostgreSQL tests cannot silently stop running there.
    """
    bindir = ensure_installed()
    if bindir is None:
        reason = ("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH) and cannot be "
                  "installed here (needs root and apt-get)")
        if required():
            pytest.fail(f"{reason}; it is required (CI or ASL_REQUIRE_POSTGRES=1 is set)", pytrace=False)
        pytest.skip(reason)
    cluster = Cluster.start(bindir=bindir)
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database of its own for this test, dropped afterwards."""
    # Named after the test, to find it when looking into the server; 63 bytes is PostgreSQL's limit.
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())
    name = f"t{next(_database_numbers)}_{slug}"[:63]
    yield postgres_cluster.create_database(name)
    # FORCE: a test may leave connections open (a pool it did not close).
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store of each backend: the store contract and the durable engine's tests run on all three."""
    from asl.store import MemoryStore, SQLiteStore

    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SQLiteStore(tmp_path / "store.db")
    else:
        from asl.store.postgres import PostgresStore

        pg = PostgresStore(request.getfixturevalue("postgres_url"), pool_size=4)
        yield pg
        pg.close()
