"""What the ``asl`` commands that work on a store share: the ``--store`` option, opening the service over it, and
printing results and API errors the same way everywhere."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

STORE_HELP = ("The store: a SQLite file, or a PostgreSQL database as postgresql://user@host/db (default: $ASL_STORE, "
               "else .asl/store.db in the current directory).")


def service(store_path: str | None, create: bool = True, **options: Any) -> Any:
    """The service over the store at ``store_path`` (``options`` go to StepFunctions); a store that cannot be
    used exits 2 saying why. Commands that only read pass ``create=False``: a missing store is then such an error,
    and no file or directory is made."""
    from .config import ConfigError, load_config
    from .service import StepFunctions
    from .store import StoreError, open_store

    try:
        if store_path is None:  # neither --store nor $ASL_STORE: asl.toml's [store], if it names one
            store_path = load_config().store
        return StepFunctions(open_store(store_path, create=create), **options)
    except (StoreError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@contextmanager
def store_errors() -> Iterator[None]:
    """A store that fails during a command (a full disk, a read-only or damaged file, a lock held too long) ends
    it as one that cannot be opened does: an ``error:`` line naming the file, exit 2."""
    from .store import StoreError

    try:
        yield
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def show(value: Any) -> None:
    from datetime import datetime

    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    click.echo(json.dumps(value, indent=1, ensure_ascii=False, default=default))


def call(fn: Any, **kw: Any) -> Any:
    """Call a service operation; an API error is printed as AWS names it, exit 1; a store that fails, as
    :func:`store_errors` says, exit 2."""
    from .service import ServiceError

    with store_errors():
        try:
            return fn(**kw)
        except ServiceError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            sys.exit(1)


def execution_arn(sfn: Any, ref: str) -> str:
    """An execution ARN, or the name of one execution in the store."""
    if ref.startswith("arn:"):
        return ref
    with store_errors():
        found = [e.arn for e in sfn.store.list_executions() if e.name == ref]
    if len(found) != 1:
        click.echo(f"error: {'no' if not found else 'more than one'} execution named '{ref}'; give its ARN", err=True)
        sys.exit(1)
    return found[0]


store_option = click.option("--store", "store_path", envvar="ASL_STORE", type=click.Path(dir_okay=False), help=STORE_HELP)
