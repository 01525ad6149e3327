"""The migrations of the first releases, m001 to m014: the ledger's tables, and the columns and
indexes they grew. A closed volume of the frozen history (:mod:`warmup.ledger.migrations`):
nothing is appended here, a new migration goes to :mod:`.m015_onward`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.migrations.registry import NOTES, PrimaryKey, migration


@migration
def m001_initial(conn: Connection) -> None:
    md = sa.MetaData()
    pk = PrimaryKey(primary_key=True, autoincrement=True)
    sa.Table(
        "mailbox",
        md,
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
        "send",
        md,
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
        "bounce",
        md,
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
        "suppression",
        md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("address", sa.String, nullable=False, unique=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("reason", sa.String),
        sa.Column("mailbox_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "event",
        md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.String),
        sa.Index("ix_event_mailbox_at", "mailbox_id", "at"),
    )
    sa.Table(
        "day_stat",
        md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("sent", sa.Integer, nullable=False, default=0),
        sa.Column("hard", sa.Integer, nullable=False, default=0),
        sa.Column("soft", sa.Integer, nullable=False, default=0),
        sa.Column("block", sa.Integer, nullable=False, default=0),
        sa.Column("complaint", sa.Integer, nullable=False, default=0),
    )
    sa.Table(
        "sync_state",
        md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("folder", sa.String, primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("last_uid", sa.BigInteger, nullable=False),
    )
    md.create_all(conn)


@migration
def m002_timeline_cache(conn: Connection) -> None:
    """A memo of each mailbox's policy walk over its past days, for reports."""
    sa.Table(
        "timeline_cache",
        sa.MetaData(),
        sa.Column("mailbox_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.String, nullable=False),
        sa.Column("upto", sa.Date, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    ).create(conn)


@migration
def m003_counted_bounces_and_walk_memo(conn: Connection) -> None:
    """Only bounces that answer a send of their mailbox count, once per send; walk memos.

    - ``bounce.counted``: true for the first bounce (and, apart, the first complaint) matched to
      a send of the same mailbox; unmatched bounces are kept and listed but never counted. The
      rollup's bounce columns are recomputed from the counted bounces.
    - ``mailbox.rev`` and ``walk_memo``: the policy walk's state kept per mailbox, valid while the
      revision it was computed at is current.
    - ``ix_send_reserved`` (the reserved slots only) replaces ``ix_send_outcome``: the expiry
      read every row of the mailbox through ``ix_send_mailbox_at``.
    - ``timeline_cache`` is emptied: its states were computed by the older walk.
    """
    run = conn.exec_driver_sql
    run("ALTER TABLE mailbox ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")
    run("ALTER TABLE bounce ADD COLUMN counted BOOLEAN NOT NULL DEFAULT FALSE")
    run("CREATE INDEX ix_bounce_send ON bounce (send_id)")
    run("DROP INDEX ix_send_outcome")
    run("CREATE INDEX ix_send_reserved ON send (mailbox_id, at) WHERE outcome = 'reserved'")
    run(
        "UPDATE bounce SET counted = (send_id IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM send WHERE send.id = bounce.send_id"
        "             AND send.mailbox_id = bounce.mailbox_id)"
        " AND id = (SELECT min(b2.id) FROM bounce b2 WHERE b2.send_id = bounce.send_id"
        "           AND (b2.kind = 'complaint') = (bounce.kind = 'complaint')))"
    )
    counts = ", ".join(
        f"{kind} = (SELECT count(*) FROM bounce b WHERE b.mailbox_id = day_stat.mailbox_id"
        f" AND b.day = day_stat.day AND b.kind = '{kind}' AND b.counted)"
        for kind in ("hard", "soft", "block", "complaint")
    )
    run(f"UPDATE day_stat SET {counts}")
    md = sa.MetaData()
    sa.Table("mailbox", md, sa.Column("id", sa.Integer, primary_key=True))  # for the key only
    sa.Table(
        "walk_memo",
        md,
        sa.Column("mailbox_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("upto", sa.Date, nullable=False),
        sa.Column("rev", sa.Integer, nullable=False),
        sa.Column("inputs", sa.String, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"]),
    ).create(conn)
    run("DELETE FROM timeline_cache")


_PRESETS = ("default", "gentle")  # the built-in presets when m004 was written (frozen)


@migration
def m004_policies_in_the_ledger(conn: Connection) -> None:
    """Policies live in the ledger: a ``policy`` table, and mailboxes that named a policy *file*
    refer to a stored copy of it by name instead.

    A relative path worked only from the directory it was typed in, and a path on one host of a
    team does not exist on another. Each file is read once, stored under its file name (without
    ``.toml``; ``-2``, ``-3`` ... when taken) and the mailbox refers to that name; a file that
    cannot be read is left as it was and said so.
    """
    import pathlib

    md = sa.MetaData()
    table = sa.Table(
        "policy",
        md,
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    table.create(conn)
    refs = conn.exec_driver_sql("SELECT DISTINCT policy FROM mailbox").scalars().all()
    taken = set(_PRESETS)
    now = dt.datetime.now(dt.UTC)
    for ref in refs:
        if ref in _PRESETS:
            continue
        path = pathlib.Path(ref).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            NOTES.append(
                f"policy file {ref} of some mailboxes cannot be read ({exc}); store it "
                f"with 'warmup policy add NAME FILE' and 'warmup mailbox set ADDRESS "
                f"--policy NAME'"
            )
            continue
        base = path.stem or "policy"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        conn.execute(
            table.insert().values(
                name=name, version=1, text=text, source=str(path.resolve()), created_at=now
            )
        )
        conn.execute(
            sa.text("UPDATE mailbox SET policy = :name, rev = rev + 1 WHERE policy = :ref"),
            {"name": name, "ref": ref},
        )
        NOTES.append(
            f"stored policy file {ref} in the ledger as policy {name!r}; its "
            f"mailboxes now use it by name (change it with 'warmup policy set')"
        )


@migration
def m005_throttle_index(conn: Connection) -> None:
    """An index of the back-offs (throttle events) by their end: a reservation looks for the ones
    still in force, and without it read every event of the mailbox (its cost grew with history)."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_event_throttle ON event (mailbox_id, until) WHERE kind = 'throttle'"
    )


@migration
def m006_outbox_and_pools(conn: Connection) -> None:
    """The durable outbox (``warmup queue``, ``warmup run``) and mailbox pools."""
    md = sa.MetaData()
    pk = PrimaryKey(primary_key=True, autoincrement=True)
    sa.Table("mailbox", md, sa.Column("id", sa.Integer, primary_key=True))  # for the key only
    sa.Table(
        "pool",
        md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("reply_to", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "pool_member",
        md,
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pool.id"), primary_key=True),
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
    )
    sa.Table(
        "outbox",
        md,
        sa.Column("id", sa.Integer, **pk),
        sa.Column("message_id", sa.String, nullable=False, unique=True),
        sa.Column("mailbox_id", sa.Integer),
        sa.Column("pool_id", sa.Integer),
        sa.Column("sent_by", sa.Integer),
        sa.Column("campaign", sa.String),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_reply", sa.String),
        sa.Column("claimed_by", sa.String),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_outbox_due", "state", "next_attempt_at"),
        sa.Index("ix_outbox_campaign", "campaign", "state"),
    )
    for name in ("pool", "pool_member", "outbox"):
        md.tables[name].create(conn)


@migration
def m007_settings(conn: Connection) -> None:
    """Settings kept in the ledger (``warmup notify set``: where notifications go)."""
    sa.Table(
        "setting",
        sa.MetaData(),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ).create(conn)


@migration
def m008_outbox_tally(conn: Connection) -> None:
    """Each queued message's recipient count and an index that covers ``queue status``: it read
    every row of the outbox (4.9 s for a million messages)."""
    conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN rcpt_count INTEGER NOT NULL DEFAULT 1")
    conn.exec_driver_sql(
        "UPDATE outbox SET rcpt_count = "
        "length(recipients) - length(replace(recipients, ',', '')) + 1"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_tally ON outbox "
        "(campaign, state, pool_id, mailbox_id, sent_by, rcpt_count)"
    )


@migration
def m009_overflow_channel(conn: Connection) -> None:
    """A pool's overflow channel (an ESP relay for bulk messages once the members' quota is
    used), the outbox's bulk mark and the channel a message went by; ``queue status`` counts
    overflow sends apart, so the tally index covers ``sent_via`` too."""
    for column, kind in (
        ("overflow_host", "VARCHAR"),
        ("overflow_port", "INTEGER"),
        ("overflow_security", "VARCHAR"),
        ("overflow_user", "VARCHAR"),
    ):
        conn.exec_driver_sql(f"ALTER TABLE pool ADD COLUMN {column} {kind}")
    conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN bulk BOOLEAN NOT NULL DEFAULT FALSE")
    conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN sent_via VARCHAR")
    conn.exec_driver_sql("DROP INDEX ix_outbox_tally")
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_tally ON outbox "
        "(campaign, state, pool_id, mailbox_id, sent_by, sent_via, rcpt_count)"
    )


@migration
def m011_mailbox_auth(conn: Connection) -> None:
    """How a mailbox logs in (password or OAuth); NULL keeps its provider's default."""
    conn.exec_driver_sql("ALTER TABLE mailbox ADD COLUMN auth VARCHAR")


@migration
def m012_bounce_original_recipient(conn: Connection) -> None:
    """A bounce's original recipient (RFC 3464 Original-Recipient, when an alias forwarded the
    message): a report read before its send was recorded could be linked later only under its
    final recipient, an address the mailbox never mailed. NULL for the bounces recorded before:
    their reports' original recipients were not kept."""
    conn.exec_driver_sql("ALTER TABLE bounce ADD COLUMN original_recipient VARCHAR")


@migration
def m013_send_message_id_partial(conn: Connection) -> None:
    """``ix_send_message_id`` indexes only the sends with a Message-ID: every lookup on it
    names one (``message_id = ...`` / ``IN (...)``, which both backends know to exclude NULL),
    and the sends recorded or imported without one (most rows of a sending log) each cost an
    entry in it for nothing, about a tenth of an import's SQLite time."""
    run = conn.exec_driver_sql
    run("DROP INDEX ix_send_message_id")
    run("CREATE INDEX ix_send_message_id ON send (message_id) WHERE message_id IS NOT NULL")


@migration
def m014_pool_rev(conn: Connection) -> None:
    """A pool's revision tag, moved by every change to the pool or its members: the worker
    looked the pool up for every message (about a twentieth of its CPU per message), as
    nothing told it when a copy was stale. The pools of an older ledger start at 0."""
    conn.exec_driver_sql("ALTER TABLE pool ADD COLUMN rev BIGINT NOT NULL DEFAULT 0")
