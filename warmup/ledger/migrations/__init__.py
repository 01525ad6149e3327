"""Named, appended, recorded schema migrations: the frozen history of :mod:`.schema`.

Each migration is a function of a SQLAlchemy ``Connection`` that runs inside the migration
transaction; its name is recorded in ``warmup_migrations`` so it runs once per ledger. Migrations
never change once released: a schema change is a new function appended to the open volume
(:mod:`.m015_onward`; :mod:`.m001_to_m014` is closed), declared as :mod:`.registry` says, and
:mod:`warmup.ledger.schema` is updated to the result. The table definitions in the volumes are
frozen copies, deliberately not the current schema, so that an old ledger is upgraded through
exactly the steps it missed. Every statement in them is portable SQL that both SQLite and
PostgreSQL run; what has no common form (m015: SQLite's table rebuild, PostgreSQL's sequences)
is a step of the backend's (:class:`Backend`), as frozen as the migration that calls it.
``tests/test_schema.py`` upgrades a ledger made by the first release, with rows in every table,
and checks that the result is the current schema with every row kept.

This package applies them (:func:`migrate`, :func:`pending`) and records them in
``warmup_migrations``; the names the ledger's backends use (:class:`Backend`, :data:`NOTES`,
:func:`names`) are given here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# The volumes register their migrations as they are imported: in this order.
from warmup.ledger.migrations import m001_to_m014, m015_onward  # noqa: F401
from warmup.ledger.migrations.registry import (
    MIGRATIONS,
    NOTES,
    Backend,
    BackendMigration,
    Migration,
    names,
)
from warmup.ledger.reads import newer_refusal

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "NOTES",
    "Backend",
    "BackendMigration",
    "Migration",
    "migrate",
    "names",
    "pending",
]

MIGRATIONS_TABLE = sa.Table(
    "warmup_migrations",
    sa.MetaData(),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def pending(
    conn: Connection, has_table: Callable[[Connection, str], bool], where: str = "this ledger"
) -> list[str]:
    """Names of the migrations this ledger has not applied yet (all of them for a blank one);
    ``where`` names it when it is refused."""
    if not has_table(conn, "warmup_migrations"):
        return names()
    return left(set(conn.execute(sa.select(MIGRATIONS_TABLE.c.name)).scalars()), where)


def left(done: set[str], where: str = "this ledger") -> list[str]:
    """:func:`pending` of a ledger that applied the migrations ``done``."""
    refusal = newer_refusal(done, where)
    if refusal is not None:
        raise refusal
    return [name for name in names() if name not in done]


def migrate(
    conn: Connection,
    has_table: Callable[[Connection, str], bool],
    backend: Backend,
    upto: str | None = None,
) -> list[str]:
    """Apply every pending migration in order (through ``upto`` when given: tests build old
    ledgers with it), inside the caller's transaction; return their names.

    The caller holds a write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL advisory lock), so two
    processes opening a new ledger at once do not both create it.
    """
    MIGRATIONS_TABLE.create(conn, checkfirst=True)
    todo = pending(conn, has_table)
    applied = []
    for name, fn in MIGRATIONS:
        if name in todo:
            fn(conn, backend)
            conn.execute(
                MIGRATIONS_TABLE.insert().values(name=name, applied_at=dt.datetime.now(dt.UTC))
            )
            applied.append(name)
        if name == upto:
            break
    return applied
