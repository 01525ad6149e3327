"""The ledger's tables as SQLAlchemy Core, for the code that runs SQL.

The same tables are described as SQLModel classes in :mod:`warmup.models` (for users and
notebooks); building those pydantic classes costs ~23 ms at import, a fifth of what
``warmup quota`` adds to its floor, so the ledger uses these plain tables instead.
``tests/test_migrations.py`` checks both descriptions and the migrated schema agree. Datetime
columns use SQLModel's own ``UTCDateTime``: aware UTC in, aware UTC out, on every backend.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.sql.sqltypes import UTCDateTime

METADATA = sa.MetaData()


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


MAILBOX = sa.Table(
    "mailbox", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
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
    _ts("created_at"),
)
SEND = sa.Table(
    "send", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("recipient", sa.String, nullable=False),
    sa.Column("message_id", sa.String),
    _ts("at"),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),
    _ts("settled_at", nullable=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("key", sa.String, nullable=False),
)
BOUNCE = sa.Table(
    "bounce", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("send_id", sa.Integer),
    sa.Column("recipient", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("status", sa.String),
    sa.Column("reply", sa.String),
    sa.Column("diagnostic", sa.String),
    sa.Column("message_id", sa.String),
    _ts("at"),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("key", sa.String, nullable=False),
)
SUPPRESSION = sa.Table(
    "suppression", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("address", sa.String, nullable=False, unique=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    sa.Column("mailbox_id", sa.Integer),
    _ts("created_at"),
)
EVENT = sa.Table(
    "event", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    _ts("at"),
    _ts("until", nullable=True),
    sa.Column("reason", sa.String),
)
DAY_STAT = sa.Table(
    "day_stat", METADATA,
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("sent", sa.Integer, nullable=False),
    sa.Column("hard", sa.Integer, nullable=False),
    sa.Column("soft", sa.Integer, nullable=False),
    sa.Column("block", sa.Integer, nullable=False),
    sa.Column("complaint", sa.Integer, nullable=False),
)
SYNC_STATE = sa.Table(
    "sync_state", METADATA,
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    sa.Column("folder", sa.String, primary_key=True),
    sa.Column("uidvalidity", sa.Integer, nullable=False),
    sa.Column("last_uid", sa.Integer, nullable=False),
)
