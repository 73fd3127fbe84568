"""A PostgreSQL database of a run's own: the loopback deployment's tests, the fault and load runs
and the benchmarks each create one beside the server they are given and drop it afterwards, so
they never touch a database someone else uses and never leave one behind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

__all__ = ["scratch_database"]


@contextmanager
def scratch_database(server_url: str, prefix: str, *, keep: bool = False,
                     say: Callable[[str], None] = print) -> Iterator[str]:
    """Create a database named `prefix_<random>` on the server `server_url` points at (any of its
    databases; the maintenance database `postgres` is used to create and drop) and yield its URL.
    Afterwards it is dropped WITH (FORCE), so connections a killed process left open do not keep
    it; with `keep` it stays and its name is said, to explore plans afterwards."""
    base = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                say(f"kept database {name}")
            else:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
