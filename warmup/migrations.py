"""Named, appended, recorded schema migrations.

Each migration is a function of a SQLAlchemy ``Connection`` that runs inside the migration
transaction; its name is recorded in ``warmup_migrations`` so it runs once per ledger. Migrations
never change once released: a schema change is a new function appended to ``MIGRATIONS``. The
table definitions below are frozen copies, deliberately not :mod:`warmup.models`, so that an old
ledger is upgraded through exactly the steps it missed. Both SQLite and PostgreSQL run them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = []


class _PrimaryKey(TypedDict):
    """Keyword arguments of an integer surrogate-key ``Column``."""

    primary_key: bool
    autoincrement: bool


def migration(fn: Callable[[Connection], None]) -> Callable[[Connection], None]:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(conn: Connection) -> None:
    md = sa.MetaData()
    pk = _PrimaryKey(primary_key=True, autoincrement=True)
    sa.Table(
        "mailbox", md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("address", sa.String, nullable=False, unique=True),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("timezone", sa.String, nullable=False),
        sa.Column("policy", sa.String, nullable=False),
        sa.Column("cap", sa.Integer),
        sa.Column("started", sa.Date),
        sa.Column("smtp_host", sa.String),
        sa.Column("smtp_port", sa.Integer),
        sa.Column("smtp_security", sa.String),
        sa.Column("imap_host", sa.String),
        sa.Column("imap_port", sa.Integer),
        sa.Column("imap_security", sa.String),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "send", md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
        sa.Column("recipient", sa.String, nullable=False),
        sa.Column("message_id", sa.String),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.UniqueConstraint("mailbox_id", "key", name="uq_send_key"),
        sa.Index("ix_send_mailbox_at", "mailbox_id", "at"),
        sa.Index("ix_send_outcome", "outcome", "at"),
        sa.Index("ix_send_message_id", "message_id"),
        sa.Index("ix_send_recipient", "recipient", "at"),
    )
    sa.Table(
        "bounce", md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
        sa.Column("send_id", sa.Integer),
        sa.Column("recipient", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("status", sa.String),
        sa.Column("reply", sa.String),
        sa.Column("diagnostic", sa.String),
        sa.Column("message_id", sa.String),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.UniqueConstraint("mailbox_id", "key", name="uq_bounce_key"),
        sa.Index("ix_bounce_mailbox_day", "mailbox_id", "day"),
    )
    sa.Table(
        "suppression", md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("address", sa.String, nullable=False, unique=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("reason", sa.String),
        sa.Column("mailbox_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "event", md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.String),
        sa.Index("ix_event_mailbox_at", "mailbox_id", "at"),
    )
    sa.Table(
        "day_stat", md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("sent", sa.Integer, nullable=False, default=0),
        sa.Column("hard", sa.Integer, nullable=False, default=0),
        sa.Column("soft", sa.Integer, nullable=False, default=0),
        sa.Column("block", sa.Integer, nullable=False, default=0),
        sa.Column("complaint", sa.Integer, nullable=False, default=0),
    )
    sa.Table(
        "sync_state", md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("folder", sa.String, primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("last_uid", sa.BigInteger, nullable=False),
    )
    md.create_all(conn)


MIGRATIONS_TABLE = sa.Table(
    "warmup_migrations", sa.MetaData(),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def _has_table(conn: Connection, name: str) -> bool:
    """One catalog query: an Inspector costs more than the rest of ``warmup quota``'s queries."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"
    else:
        sql = "SELECT 1 WHERE to_regclass(:n) IS NOT NULL"
    return conn.execute(sa.text(sql), {"n": name}).first() is not None


def pending(conn: Connection) -> list[str]:
    """Names of the migrations this ledger has not applied yet (all of them for a blank one)."""
    if not _has_table(conn, "warmup_migrations"):
        return [name for name, _ in MIGRATIONS]
    done = set(conn.execute(sa.select(MIGRATIONS_TABLE.c.name)).scalars())
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(conn: Connection) -> list[str]:
    """Apply every pending migration in order, inside the caller's transaction; return their names.

    The caller holds a write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL advisory lock), so two
    processes opening a new ledger at once do not both create it.
    """
    MIGRATIONS_TABLE.create(conn, checkfirst=True)
    todo = pending(conn)
    for name, fn in MIGRATIONS:
        if name in todo:
            fn(conn)
            conn.execute(
                MIGRATIONS_TABLE.insert().values(
                    name=name, applied_at=dt.datetime.now(dt.UTC)
                )
            )
    return todo


@migration
def m002_timeline_cache(conn: Connection) -> None:
    """A memo of each mailbox's policy walk over its past days (``warmup.ledger.timeline_cache``).

    Derived data, never a source of truth: each row is used only while its fingerprint (of the
    day counts, events, policy, settings and code it was computed from) still matches.
    """
    sa.Table(
        "timeline_cache", sa.MetaData(),
        sa.Column("mailbox_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.String, nullable=False),
        sa.Column("upto", sa.Date, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    ).create(conn)
