"""The ledger's tables as SQLModel classes, for users' scripts and notebooks.

    from sqlmodel import Session, select
    from warmup.models import Mailbox, Send

    with Session(open_ledger().engine) as session:
        session.exec(select(Send).where(Send.outcome == "sent")).all()

Derived from :mod:`warmup.ledger.schema`, the one definition of the tables: each class has a field
per column of its table, with the column's own type, key and nullability, so the two cannot drift.
warmup itself never uses these (building pydantic classes costs ~25 ms at import, a fifth of what
``warmup quota`` adds to its floor); it runs Core statements on the schema's tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from warmup.ledger import schema

_PYTHON = {
    sa.Integer: int,
    sa.BigInteger: int,
    sa.String: str,
    sa.Text: str,
    sa.Date: dt.date,
    sa.Boolean: bool,
    sa.LargeBinary: bytes,
}


def _python_type(column: sa.Column[Any]) -> type:
    for sql_type, py in _PYTHON.items():
        if isinstance(column.type, sql_type):
            return py
    return dt.datetime  # UTCDateTime


def _model(name: str, table: sa.Table, doc: str) -> type[SQLModel]:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {
        "__tablename__": table.name,
        "__doc__": doc,
        "__module__": __name__,
    }
    for column in table.columns:
        py = _python_type(column)
        optional = column.nullable or (column.primary_key and column.autoincrement is True)
        annotations[column.name] = py | None if optional else py
        namespace[column.name] = Field(default=None if optional else ..., sa_column=column._copy())
    namespace["__annotations__"] = annotations
    return type(name, (SQLModel,), namespace, table=True)


Mailbox = _model("Mailbox", schema.MAILBOX, "A gated mailbox and its settings.")
Send = _model(
    "Send",
    schema.SEND,
    """One recipient of one message: the unit of quota.

``outcome`` is ``reserved`` while the SMTP conversation runs, then ``sent``, ``soft``, ``hard``,
``block`` or ``unknown``; ``released`` marks a reservation given back before anything left (it
does not count; ``release_reason`` ``size``: the server refused the message's size, so the same
message never goes to this recipient). ``key`` makes recording idempotent (Message-ID +
recipient).""",
)
Bounce = _model(
    "Bounce",
    schema.BOUNCE,
    """A bounce or complaint. ``send_id`` links it to the
send it answers, when it was matched; ``counted`` says whether it is in the mailbox's rates.""",
)
Suppression = _model(
    "Suppression",
    schema.SUPPRESSION,
    "An address never to be mailed again by any mailbox of this ledger.",
)
SuppressionRemoval = _model(
    "SuppressionRemoval",
    schema.SUPPRESSION_REMOVAL,
    """A suppression a person took back (``warmup suppress remove``): the address, when, the
``kind`` and ``reason`` of the suppression it ended, and ``last_send_id``, the ledger's highest
send id then (the sends it sets aside; NULL for a removal made before it was kept); its
``suppressed_at`` and ``mailbox_id`` (NULL for a removal made before they were kept).""",
)
Event = _model(
    "Event",
    schema.EVENT,
    "Manual pauses, resumes and provider throttling back-offs (``until`` set).",
)
DayStat = _model(
    "DayStat",
    schema.DAY_STAT,
    """Per-mailbox, per-local-day counts, kept in the
same transaction as every send and counted bounce.""",
)
DomainDay = _model(
    "DomainDay",
    schema.DOMAIN_DAY,
    """Per-mailbox, per-local-day sends per recipient domain, kept in the same transaction as
every send (recipient-domain caps count today's from it).""",
)
SyncState = _model(
    "SyncState", schema.SYNC_STATE, "Where IMAP bounce sync stopped, per mailbox and folder."
)

Pool = _model("Pool", schema.POOL, "A pool of mailboxes a queued message may go out from.")
PoolMember = _model("PoolMember", schema.POOL_MEMBER, "A mailbox of a pool.")
OutboxMessage = _model(
    "OutboxMessage",
    schema.OUTBOX,
    """A queued message (``warmup queue add``): the whole message, its envelope
recipients, where it goes out from and its ``state``: ``queued``, ``sending``, ``sent``, ``bounced``,
``unknown`` (it may have left: never re-sent automatically), ``expired`` or ``cancelled``.""",
)
Setting = _model("Setting", schema.SETTING, "A setting of the ledger's users (``warmup notify``).")

__all__ = [
    "Bounce",
    "DayStat",
    "DomainDay",
    "Event",
    "Mailbox",
    "OutboxMessage",
    "Pool",
    "PoolMember",
    "Send",
    "Setting",
    "Suppression",
    "SuppressionRemoval",
    "SyncState",
]
