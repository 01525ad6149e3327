"""The ledger's tables as SQLModel classes (see :mod:`warmup.ledger.models`), for scripts and
notebooks: ``from warmup.models import Mailbox, Send``."""

from warmup.ledger.models import (
    Bounce,
    DayStat,
    Event,
    Mailbox,
    OutboxMessage,
    Pool,
    PoolMember,
    Send,
    Suppression,
    SuppressionRemoval,
    SyncState,
)

__all__ = [
    "Bounce",
    "DayStat",
    "Event",
    "Mailbox",
    "OutboxMessage",
    "Pool",
    "PoolMember",
    "Send",
    "Suppression",
    "SuppressionRemoval",
    "SyncState",
]
