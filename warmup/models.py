"""SQLModel tables of the ledger.

Times are stored as naive UTC. Every row that feeds a daily count also carries ``day``: the local
calendar day in the mailbox's time zone, computed once at write time, so that per-day aggregation
is a plain ``GROUP BY day`` in SQL (see :mod:`warmup.ledger`).

The schema is created and evolved by :mod:`warmup.migrations`; ``tests/test_migrations.py`` checks
that the migrated schema and these classes agree.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel


class Mailbox(SQLModel, table=True):
    __tablename__ = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True)
    provider: str
    timezone: str
    policy: str = "default"
    cap: int | None = None
    started: dt.date | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    created_at: dt.datetime


class Send(SQLModel, table=True):
    """One recipient of one message: the unit of quota.

    ``outcome`` is ``reserved`` while the SMTP conversation runs, then ``sent``, ``soft``, ``hard``,
    ``block`` or ``unknown``; ``released`` marks a reservation given back before anything left
    (it does not count). ``key`` makes recording idempotent (Message-ID + recipient).
    """

    __tablename__ = "send"

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id")
    recipient: str
    message_id: str | None = None
    at: dt.datetime
    day: dt.date
    outcome: str = "sent"
    settled_at: dt.datetime | None = None
    source: str = "record"
    key: str


class Bounce(SQLModel, table=True):
    """A bounce or complaint. ``send_id`` links it to the send it answers, when it was matched."""

    __tablename__ = "bounce"

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id")
    send_id: int | None = None
    recipient: str
    kind: str
    status: str | None = None
    reply: str | None = None
    diagnostic: str | None = None
    message_id: str | None = None
    at: dt.datetime
    day: dt.date
    source: str = "record"
    key: str


class Suppression(SQLModel, table=True):
    """An address never to be mailed again by any mailbox of this ledger."""

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True)
    kind: str
    reason: str | None = None
    mailbox_id: int | None = None
    created_at: dt.datetime


class Event(SQLModel, table=True):
    """Manual pauses, resumes and provider throttling back-offs (``until`` set)."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id")
    kind: str
    at: dt.datetime
    until: dt.datetime | None = None
    reason: str | None = None


class DayStat(SQLModel, table=True):
    """Per-mailbox, per-local-day counts, kept in the same transaction as every send and bounce."""

    __tablename__ = "day_stat"

    mailbox_id: int = Field(foreign_key="mailbox.id", primary_key=True)
    day: dt.date = Field(primary_key=True)
    sent: int = 0
    hard: int = 0
    soft: int = 0
    block: int = 0
    complaint: int = 0


class SyncState(SQLModel, table=True):
    """Where IMAP bounce sync stopped, per mailbox and folder."""

    __tablename__ = "sync_state"

    mailbox_id: int = Field(foreign_key="mailbox.id", primary_key=True)
    folder: str = Field(primary_key=True)
    uidvalidity: int
    last_uid: int = 0
