"""How a migration is declared: :func:`migration` and :func:`backend_migration` append a
function to :data:`MIGRATIONS`, the ordered history that :func:`warmup.ledger.migrations.migrate`
applies; :class:`Backend` is what a migration asks of the ledger's backend where SQL both
databases run has no common form; :data:`NOTES` is what a migration wants the user to know.

    @migration
    def m029_something(conn: Connection) -> None: ...

The history itself is in the volumes beside this module, imported in order by the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

Migration = Callable[[Connection], None]


class Backend(Protocol):
    """What a migration cannot say in SQL both databases run, said by the ledger's backend."""

    def never_reuse_ids(self, conn: Connection, table: sa.Table, name: str, above: int) -> None:
        """Make table ``name`` never give an id twice, its next one above ``above``; ``table``
        restates its columns under another name (SQLite rebuilds it as that, with
        AUTOINCREMENT, and gives it ``name``)."""

    def rows_in_key_order(self, conn: Connection, table: sa.Table, name: str) -> None:
        """Keep the rows of table ``name`` stored in its primary key's order; ``table``
        restates it under another name (SQLite rebuilds it as that, WITHOUT ROWID, and gives
        it ``name``; PostgreSQL has no such layout)."""

    def sql_domain(self, column: Any) -> Any:
        """The part of an address ``column`` after its first '@', lower-cased, in the
        backend's SQL (SQLite has no ``strpos``, PostgreSQL no ``instr``)."""


BackendMigration = Callable[[Connection, Backend], None]
MIGRATIONS: list[tuple[str, BackendMigration]] = []


class PrimaryKey(TypedDict):
    """Keyword arguments of an integer surrogate-key ``Column``."""

    primary_key: bool
    autoincrement: bool


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, lambda conn, _backend: fn(conn)))
    return fn


def backend_migration(fn: BackendMigration) -> BackendMigration:
    """A migration with a step of the backend's (:class:`Backend`)."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def names() -> list[str]:
    return [name for name, _ in MIGRATIONS]


# What a migration wants the user to know (e.g. a policy file it stored): open_ledger hands
# these to the CLI, which prints them once.
NOTES: list[str] = []
