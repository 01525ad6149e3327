"""The ledger's schema: the one definition of its tables (SQLAlchemy Core).

Everything else is derived from here: the backends' statements, :mod:`warmup.ledger.models` (the
same tables as SQLModel classes, for users' scripts and notebooks), the copy's table order. The
migrations (:mod:`warmup.ledger.migrations`) are the frozen history that brings a ledger made by
any earlier release to this schema; ``tests/test_schema.py`` checks that a migrated ledger, on
SQLite and on PostgreSQL, has exactly these tables, columns, SQL types, keys and indexes.

Instants are aware UTC (:class:`UTCDateTime`: ``timestamptz`` on PostgreSQL, UTC text on
SQLite); ``day`` columns are the local calendar day in the mailbox's zone, computed once at write
time, so per-day questions are a plain ``GROUP BY day``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

# Defined where the quota path reads them without SQLAlchemy.
from warmup.ledger.reads import BOUNCE_KINDS as BOUNCE_KINDS
from warmup.ledger.reads import COUNT_COLUMNS as COUNT_COLUMNS
from warmup.ledger.reads import DELAYED as DELAYED
from warmup.ledger.reads import NOTICE as NOTICE
from warmup.ledger.reads import RECORDED_KINDS as RECORDED_KINDS
from warmup.ledger.reads import UNCOUNTED_KINDS as UNCOUNTED_KINDS
from warmup.ledger.values import DERIVE_KEY
from warmup.ledger.values import OUTBOX_STATES as OUTBOX_STATES

METADATA = sa.MetaData()
# A partial index's condition is kept in its ``info["where"]`` (the migrations create it, and
# tests/test_schema.py holds the two equal), not as ``sqlite_where``/``postgresql_where``:
# SQLAlchemy checks a dialect's keyword by importing that dialect, and PostgreSQL's imports
# asyncpg's module and asyncio with it (35-55 ms) in every command that loads this module, on
# SQLite too. Nothing creates tables from this metadata.


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware instants in, aware UTC out, on every backend; a naive one is refused.

    The contract of SQLModel's ``UTCDateTime``, defined here so that the hot path (``warmup
    quota``, ``warmup send``) never imports SQLModel, which imports pydantic: a quarter of the
    command's start-up. The models users import (:mod:`warmup.ledger.models`) use it too.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        if isinstance(value, dt.timedelta):
            return sa.Interval()
        return self

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware one")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:  # SQLite keeps UTC text without an offset
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


MAILBOX = sa.Table(
    "mailbox",
    METADATA,
    _id(),
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
    # Bumped by every write that changes a day before the writer's today (a late bounce, an
    # import, a back-dated record, a settings change): a walk memo is valid only at the revision
    # it was computed at (see WALK_MEMO).
    sa.Column("rev", sa.Integer, nullable=False, server_default="0"),
    # How it logs in: password | oauth (NULL: its provider's default). Secrets live in the keyring.
    sa.Column("auth", sa.String),
)

SEND = sa.Table(
    "send",
    METADATA,
    _id(),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("recipient", sa.String, nullable=False),
    sa.Column("message_id", sa.String),
    _ts("at"),
    sa.Column("day", sa.Date, nullable=False),
    # reserved (the SMTP conversation runs) -> sent | soft | hard | block | unknown; released: a
    # slot given back before anything left (not counted). Every other outcome counts.
    sa.Column("outcome", sa.String, nullable=False),
    _ts("settled_at", nullable=True),
    sa.Column("source", sa.String, nullable=False),
    # Message-ID|recipient (or @instant|recipient): recording is idempotent on it.
    sa.Column("key", sa.String, nullable=False),
    # The process that reserved it (the gate's; NULL for a recorded send and one reserved before
    # holders were kept): a reservation of a process gone from this host is settled at once, not
    # at the expiry (warmup.ledger.holders).
    sa.Column("holder_host", sa.String),
    sa.Column("holder_pid", sa.Integer),
    sa.Column("holder_start", sa.String),
    # Why a released slot was given back, when that decides what follows (NULL otherwise):
    # "size", the server refused the message's size, so the same message never goes to this
    # recipient (warmup.ledger.outbox_fate.finally_refused). Cleared when the slot is taken again.
    sa.Column("release_reason", sa.String),
    sa.UniqueConstraint("mailbox_id", "key", name="uq_send_key"),
    sa.Index("ix_send_mailbox_at", "mailbox_id", "at"),
    # Only the slots still reserved (a handful): what the gate's expiry looks for, without
    # walking the mailbox's whole history.
    sa.Index(
        "ix_send_reserved",
        "mailbox_id",
        "at",
        info={"where": "outcome = 'reserved'"},
    ),
    # Only the sends with a Message-ID (every lookup names one): a log imported without them
    # would fill it with NULLs.
    sa.Index(
        "ix_send_message_id",
        "message_id",
        info={"where": "message_id IS NOT NULL"},
    ),
    sa.Index("ix_send_recipient", "recipient", "at"),
)

# The sends that count against a quota: every outcome but a slot given back before anything left.
COUNTED = SEND.c.outcome != "released"

BOUNCE = sa.Table(
    "bounce",
    METADATA,
    _id(),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("send_id", sa.Integer),  # the send it answers, when matched
    sa.Column("recipient", sa.String, nullable=False),
    # RECORDED_KINDS (UNCOUNTED_KINDS, delayed and notice: never counted)
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("status", sa.String),
    sa.Column("reply", sa.String),
    sa.Column("diagnostic", sa.String),
    sa.Column("message_id", sa.String),
    _ts("at"),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("key", sa.String, nullable=False),
    # In the rates (and the day_stat rollup) only when it answers a send of this mailbox, and
    # only the first bounce (or complaint) of that send: see DESIGN invariant 8.
    sa.Column("counted", sa.Boolean, nullable=False, server_default=sa.false()),
    # The address the original was sent to when the report names a forwarded-to one as the
    # failed recipient (RFC 3464 Original-Recipient), as the report said it: a report read
    # before its send was recorded is linked later under it (``Ledger.match_late``).
    sa.Column("original_recipient", sa.String),
    # What the original the report returns says of itself (its From, its Date as ISO 8601 UTC),
    # as the report said it, and why the report answers no send although one to its recipient
    # fits by time (the original is another's, or dated away from it): see ``Matching._match``.
    sa.Column("original_from", sa.String),
    sa.Column("original_date", sa.String),
    sa.Column("unverified", sa.String),
    # Which report a bounce read from a mailbox came from (its Message-ID, else a digest of
    # it): one report is about one message (RFC 3464), so its recipients count only for the
    # sends of one message (``Matching._other_message``). True ``redacted``: a complaint whose
    # recipient the feedback loop redacted (RFC 6590), matched by Message-ID alone. NULL for
    # the bounces recorded before (judged as they were).
    sa.Column("report", sa.String),
    sa.Column("redacted", sa.Boolean),
    # The day of the send it answers (``send.day``), NULL when it answers none: set with every
    # write of ``send_id`` (and with a mailbox's days when its zone changes), so a report rates
    # each day's sends by their bounces from this table alone: the join to ``send`` was an
    # index lookup per bounce, the largest read of a year's report.
    sa.Column("send_day", sa.Date),
    sa.UniqueConstraint("mailbox_id", "key", name="uq_bounce_key"),
    sa.Index("ix_bounce_mailbox_day", "mailbox_id", "day"),
    sa.Index("ix_bounce_send", "send_id"),
    # Only the bounces read from a mailbox: the other bounces of one report, found per bounce.
    sa.Index("ix_bounce_report", "mailbox_id", "report", info={"where": "report IS NOT NULL"}),
)

SUPPRESSION = sa.Table(
    "suppression",
    METADATA,
    _id(),
    sa.Column("address", sa.String, nullable=False, unique=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    sa.Column("mailbox_id", sa.Integer),
    _ts("created_at"),
)

# Each suppression a person took back (``warmup suppress remove``): the address, when, and the
# kind and reason of the suppression it ended. A soft streak (``Ledger.soft_bounced_sends``)
# counts only the sends after an address's latest removal, so that the old streak which got it
# suppressed does not list it, or suppress it, again. The gate never reads it.
SUPPRESSION_REMOVAL = sa.Table(
    "suppression_removal",
    METADATA,
    _id(),
    sa.Column("address", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    _ts("removed_at"),
    # The ledger's highest send id when it was made: the sends it sets aside are those up to
    # it, whichever host's clock stamped them (``removed_at`` is the operator's host's, a
    # send's ``at`` its sender's). Never above the highest send id present (``remove_mailbox``
    # lowers it), so that SQLite, which gives max(id) + 1, never gives a later send an id at or
    # below it. NULL: a removal made before m026, judged by ``removed_at``.
    sa.Column("last_send_id", sa.Integer),
    # When the suppression it ended was made, and the mailbox whose bounce made it: the list's
    # size on a past day counts the addresses taken back since (``warmup.reports.suppressions``).
    # NULL: a removal made before m029 (when it was suppressed is not known).
    _ts("suppressed_at", nullable=True),
    sa.Column("mailbox_id", sa.Integer),
    sa.Index("ix_suppression_removal_address", "address", "removed_at"),
)

EVENT = sa.Table(
    "event",
    METADATA,
    _id(),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # pause | resume | throttle
    _ts("at"),
    _ts("until", nullable=True),
    sa.Column("reason", sa.String),
    sa.Index("ix_event_mailbox_at", "mailbox_id", "at"),
    # The back-offs still in force, found without reading the mailbox's every event.
    sa.Index(
        "ix_event_throttle",
        "mailbox_id",
        "until",
        info={"where": "kind = 'throttle'"},
    ),
)

# Per mailbox and local day: sends (every outcome but released) and counted bounces by kind,
# bumped in the same transaction as each send and bounce. SQLite stores the rows in the key's
# order (WITHOUT ROWID, m018): a mailbox's days are read together, written a day at a time.
DAY_STAT = sa.Table(
    "day_stat",
    METADATA,
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *(sa.Column(c, sa.Integer, nullable=False) for c in COUNT_COLUMNS),
    sqlite_with_rowid=False,
)

# Per mailbox, local day and recipient domain (the part of the address after its first '@',
# lower-cased in SQL: ``_sql_domain``): sends, every outcome but released, bumped in the same
# transaction as each send and given back with each released slot, as ``day_stat``'s ``sent``.
# What recipient-domain caps count today without reading today's rows (m030).
DOMAIN_DAY = sa.Table(
    "domain_day",
    METADATA,
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("sent", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

SYNC_STATE = sa.Table(
    "sync_state",
    METADATA,
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    sa.Column("folder", sa.String, primary_key=True),
    # IMAP UIDVALIDITY and UIDs are unsigned 32-bit: above PostgreSQL's INTEGER.
    sa.Column("uidvalidity", sa.BigInteger, nullable=False),
    sa.Column("last_uid", sa.BigInteger, nullable=False),
)

# Policies stored in the ledger (``warmup policy add/set``), referred to by name from
# ``mailbox.policy`` (built-in presets are not stored). Every ``set`` adds a version; the newest
# is in force. In the ledger rather than as file paths so that every host of a team and every
# working directory read the same policy.
POLICY = sa.Table(
    "policy",
    METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("source", sa.String),  # where the text was read from, for people
    _ts("created_at"),
)

# Derived data, never a source of truth (DESIGN invariant 2); emptied rather than copied.
# The policy walk's state at the start of ``upto`` (warmup.policy.walk.WalkState, as JSON), valid
# while the mailbox's ``rev`` and the walk's ``inputs`` digest are those it was computed at. A
# write on ``upto`` or later (never read by it) carries it to the new ``rev`` (Records._touch).
WALK_MEMO = sa.Table(
    "walk_memo",
    METADATA,
    sa.Column(
        "mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("upto", sa.Date, nullable=False),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("inputs", sa.String, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)

# A report's memo of every past day of a mailbox's walk (warmup.ledger.timeline_cache), valid
# while ``rev`` is the mailbox's (carried as the walk memo's is, by Records._touch).
TIMELINE_CACHE = sa.Table(
    "timeline_cache",
    METADATA,
    sa.Column("mailbox_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fingerprint", sa.String, nullable=False),
    sa.Column("upto", sa.Date, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("rev", sa.Integer, nullable=False, server_default="0"),
)

# Mailbox pools: a message queued to a pool goes out from whichever member the plan allows
# soonest. ``reply_to``: the worker sets Reply-To to the sending member (as it does From).
POOL = sa.Table(
    "pool",
    METADATA,
    _id(),
    sa.Column("name", sa.String, nullable=False, unique=True),
    sa.Column("reply_to", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at"),
    # The overflow channel (an ESP relay) for bulk messages once the members' quota is used;
    # NULL host: none. Its password is in the keyring, never here.
    sa.Column("overflow_host", sa.String),
    sa.Column("overflow_port", sa.Integer),
    sa.Column("overflow_security", sa.String),
    sa.Column("overflow_user", sa.String),
    # A tag given a new random value by every change to the pool, its members (added, or taken
    # out by 'mailbox remove') or its settings, in the change's transaction: a worker keeps its
    # copy of the pool while the claim of each message reads the same tag. Random, not a
    # count: SQLite gives a removed pool's id to the next pool, whose count would start again.
    sa.Column("rev", sa.BigInteger, nullable=False, server_default="0"),
)

POOL_MEMBER = sa.Table(
    "pool_member",
    METADATA,
    sa.Column("pool_id", sa.Integer, sa.ForeignKey("pool.id"), primary_key=True),
    sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
)


# The durable outbox: one row per queued message, the whole RFC 5322 message and its envelope.
# queued -> sending (claimed by one worker: ``claimed_by``/``claimed_at``) -> sent | bounced |
# unknown (it may have left: never re-sent automatically) | queued again (4xx, not allowed yet);
# queued -> expired | cancelled. A message goes to ``mailbox_id`` or to a member of ``pool_id``;
# ``sent_by`` is the member that took it. No foreign keys on the mailbox columns: removing a
# mailbox cancels its queued messages and keeps the record of the others.
OUTBOX = sa.Table(
    "outbox",
    METADATA,
    _id(),
    sa.Column("message_id", sa.String, nullable=False, unique=True),
    sa.Column("mailbox_id", sa.Integer),
    sa.Column("pool_id", sa.Integer),
    sa.Column("sent_by", sa.Integer),
    sa.Column("campaign", sa.String),
    # Envelope recipients still to deliver, normalized, comma-separated (an address has no comma).
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _ts("not_before"),
    _ts("next_attempt_at"),
    _ts("expires_at"),
    sa.Column("last_reply", sa.String),
    sa.Column("claimed_by", sa.String),
    _ts("claimed_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # How many envelope recipients are left (the tally of ``recipients``), so that ``queue
    # status`` counts from the index below alone instead of reading every row.
    sa.Column("rcpt_count", sa.Integer, nullable=False, server_default="1"),
    # A bulk message may go through its pool's overflow channel; ``sent_via`` says a message
    # went (or is going) that way: 'overflow' (NULL: a member, through the gate).
    sa.Column("bulk", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sent_via", sa.String),
    # A message's content key (``warmup.outbox.content``): a script run again queues the same
    # messages, which its campaign has already (NULL: a template's row, whose recipient is its
    # key, and the messages queued before m020).
    sa.Column("content_key", sa.String),
    # Until when a message a recipient's server deferred (a 4xx) backs off (NULL: it does not;
    # it waits for the plan, or for a member's fault to be fixed): a change to its mailboxes
    # that makes their waiting messages due at once (``release_waiting``) leaves it waiting (m034).
    _ts("backoff_until", nullable=True),
    # The exit code of the fault a person must fix (78 configuration, 77 login, 69 sender
    # refused for good) for which a message waits until ``next_attempt_at``: every member of
    # its pool (or its mailbox) failed for one at its last try (NULL: it waits for no fault).
    # Written by every settlement, so it never outlives the wait it came with (m041).
    sa.Column("fault", sa.Integer),
    # The due messages in the claim's order: their time, then their id (m040: PostgreSQL
    # orders equal keys by the row's place, and sorted a backlog queued at once every claim).
    sa.Index("ix_outbox_due", "state", "next_attempt_at", "id"),
    sa.Index("ix_outbox_campaign", "campaign", "state"),
    # Every column ``queue status``'s tally reads (``Ledger.outbox_counts``), so that the index
    # answers it alone (m032: ``next_attempt_at``).
    sa.Index(
        "ix_outbox_tally",
        "campaign",
        "state",
        "pool_id",
        "mailbox_id",
        "sent_by",
        "sent_via",
        "rcpt_count",
        "next_attempt_at",
    ),
    sa.Index("ix_outbox_content", "content_key", info={"where": "content_key IS NOT NULL"}),
    # A pool's due messages (the worker's hold of a pool none of whose members can send, a
    # --pool worker's claims): by ix_outbox_due, every pool's (m033).
    sa.Index("ix_outbox_pool_due", "pool_id", "state", "next_attempt_at", "id"),
    # A mailbox's own due messages (not a pool's): the claim of a worker serving every target
    # asks each one not held for its first due message (m035), not every due message in turn.
    sa.Index(
        "ix_outbox_box_due",
        "mailbox_id",
        "state",
        "next_attempt_at",
        "id",
        info={"where": "pool_id IS NULL"},
    ),
    # The queued messages by expiry: a worker's pass expires those past it, and the next due
    # message asks each pool (mailbox) for its first one, by one probe each (m036).
    sa.Index("ix_outbox_expiry", "state", "expires_at"),
    sa.Index("ix_outbox_pool_expiry", "pool_id", "state", "expires_at"),
    sa.Index(
        "ix_outbox_box_expiry",
        "mailbox_id",
        "state",
        "expires_at",
        info={"where": "pool_id IS NULL"},
    ),
    # What waits, as ``queue status`` groups it (``Ledger.outbox_waiting``), answered by these
    # two alone (m038): the messages to one address, with it (the suppression and the member
    # that last mailed it are looked up by it), and the few to several, without their list
    # (a list of many addresses is over PostgreSQL's limit of an index entry, 2,704 bytes; one
    # address is 254 characters at most). Without them every row of the outbox was read from
    # the table, its message's bytes and the long sent history with it. The state first:
    # SQLite, which keeps no statistics, takes an index that starts with it for a condition
    # on it (before, ix_outbox_due, and each waiting row from the table).
    sa.Index(
        "ix_outbox_waiting",
        "state",
        "campaign",
        "pool_id",
        "mailbox_id",
        "next_attempt_at",
        "recipients",
        "id",
        "expires_at",
        "rcpt_count",
        info={"where": "(state = 'queued' OR state = 'sending') AND rcpt_count = 1"},
    ),
    sa.Index(
        "ix_outbox_waiting_several",
        "state",
        "campaign",
        "pool_id",
        "mailbox_id",
        "next_attempt_at",
        "id",
        "expires_at",
        "rcpt_count",
        info={"where": "(state = 'queued' OR state = 'sending') AND rcpt_count <> 1"},
    ),
    # A pool's bulk messages (m039): the claims of a pool held but for them (its overflow
    # channel may take them), its next due and its count of what waits find them without
    # reading past its other messages. The condition in the claim's own words
    # (``outbox_holds.BULK``): SQLite takes a partial index only for the same terms.
    sa.Index(
        "ix_outbox_pool_bulk",
        "pool_id",
        "state",
        "next_attempt_at",
        "id",
        info={"where": "bulk = true"},
    ),
    # The messages held for a fault (m041): ``run --once`` that sent nothing asks for them,
    # reading these few, not every message waiting for a later time.
    sa.Index(
        "ix_outbox_fault",
        "state",
        "next_attempt_at",
        info={"where": "fault IS NOT NULL"},
    ),
)

# One hold per target (m035): none of pool ``target``'s members (``kind`` 'pool'), or mailbox
# ``target`` itself ('mailbox': the messages queued to it, not to a pool), may send before
# ``held_until``, as the plan said at ``set_at`` (``why``). Its due messages are not claimed
# before then (``bulk`` False: its bulk ones still are, its pool's overflow channel may take
# them); their rows are not written (``warmup.ledger.outbox_holds``). A hold past its time
# holds nothing; one a change may end sooner is deleted by it (``release_waiting``).
OUTBOX_HOLD = sa.Table(
    "outbox_hold",
    METADATA,
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("target", sa.Integer, primary_key=True),
    _ts("held_until"),
    sa.Column("why", sa.String, nullable=False),
    sa.Column("bulk", sa.Boolean, nullable=False),
    _ts("set_at"),
)

# The ids of mailboxes and pools outlive their rows in these columns (no foreign key: removing a
# mailbox or pool keeps the record of its messages), so neither table ever gives an id twice, or
# the next mailbox or pool would be shown those messages as its own and skip, in a campaign, the
# recipients they went to: AUTOINCREMENT on SQLite (m015), a serial sequence on PostgreSQL, both
# moved past these ids by ``warmup db copy``.
KEPT_IDS: dict[str, tuple[sa.Column[Any], ...]] = {
    "mailbox": (
        OUTBOX.c.mailbox_id,
        OUTBOX.c.sent_by,
        SUPPRESSION.c.mailbox_id,
        SUPPRESSION_REMOVAL.c.mailbox_id,
    ),
    "pool": (OUTBOX.c.pool_id,),
}

# Settings of the ledger's users, one value per key (``notify.webhook``, ``notify.command``:
# ``warmup notify set``). A value is plain text; the CLI masks what may carry a token.
SETTING = sa.Table(
    "setting",
    METADATA,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _ts("updated_at"),
)

MIGRATIONS = sa.Table(
    "warmup_migrations",
    METADATA,
    sa.Column("name", sa.String, primary_key=True),
    _ts("applied_at"),
)

# Source tables in dependency order (each after the tables its foreign keys name), and the
# derived ones: what ``warmup db copy`` copies, and what it empties.
DATA_TABLES = (
    POLICY,
    MAILBOX,
    SEND,
    BOUNCE,
    SUPPRESSION,
    SUPPRESSION_REMOVAL,
    EVENT,
    DAY_STAT,
    DOMAIN_DAY,
    SYNC_STATE,
    POOL,
    POOL_MEMBER,
    OUTBOX,
    SETTING,
)
DERIVED_TABLES = (WALK_MEMO, TIMELINE_CACHE, OUTBOX_HOLD)


def content(table: sa.Table) -> sa.Select[Any]:
    """``table``'s rows that are content: all but the key for derived Message-IDs every ledger
    holds from its making (m031), so a ledger holding only that is as empty as a new one (a
    copy's target; a new file a failed command leaves)."""
    rows = sa.select(table)  # by name: also of the table reflected from an older ledger
    return rows.where(table.c.key != DERIVE_KEY) if table.name == SETTING.name else rows
