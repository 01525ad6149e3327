"""The migrations from m015 on: ids never given twice and the rollup in key order (the
backend's steps, :class:`~warmup.ledger.migrations.registry.Backend`), the bounces' and
sends' later columns, and the corrections of rows counted wrongly before (m021, m023, m024).
The open volume of the frozen history (:mod:`warmup.ledger.migrations`): a new migration is
appended at its end.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.migrations.registry import (
    NOTES,
    Backend,
    PrimaryKey,
    backend_migration,
    migration,
)

# m015: where the ids of mailboxes and pools outlive their rows (frozen): no foreign key, so
# that removing a mailbox or pool keeps the record of its messages.
_M015_KEPT_IDS = {
    "mailbox": ("outbox.mailbox_id", "outbox.sent_by", "suppression.mailbox_id"),
    "pool": ("outbox.pool_id",),
}


def _m015_tables(md: sa.MetaData) -> list[sa.Table]:
    """``mailbox`` and ``pool`` as m014 left them, with AUTOINCREMENT, named ``*_m015``."""
    pk = PrimaryKey(primary_key=True, autoincrement=True)
    return [
        sa.Table(
            "mailbox_m015",
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
            sa.Column("rev", sa.Integer, nullable=False, server_default="0"),
            sa.Column("auth", sa.String),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "pool_m015",
            md,
            sa.Column("id", sa.Integer, **pk),
            sa.Column("name", sa.String, nullable=False, unique=True),
            sa.Column("reply_to", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("overflow_host", sa.String),
            sa.Column("overflow_port", sa.Integer),
            sa.Column("overflow_security", sa.String),
            sa.Column("overflow_user", sa.String),
            sa.Column("rev", sa.BigInteger, nullable=False, server_default="0"),
            sqlite_autoincrement=True,
        ),
    ]


def _m015_highest(conn: Connection, table: str) -> int:
    """The highest id of ``table`` still named anywhere: its rows' and the kept ones'."""
    parts = [f"SELECT max(id) AS i FROM {table}"] + [
        f"SELECT max({col.split('.')[1]}) FROM {col.split('.')[0]}" for col in _M015_KEPT_IDS[table]
    ]
    union = " UNION ALL ".join(parts)
    return int(
        conn.exec_driver_sql(f"SELECT coalesce(max(i), 0) FROM ({union}) AS ids").scalar_one()
    )


@backend_migration
def m015_ids_never_reused(conn: Connection, backend: Backend) -> None:
    """A mailbox or pool id is never given twice. SQLite gave the id of a removed mailbox or
    pool (the newest) to the next one, which was then shown the removed one's messages (the
    outbox keeps them by id) as its own, and in a campaign skipped the recipients the removed
    one had mailed; ``db copy`` to PostgreSQL moved the id sequence only past the copied rows.

    SQLite: ``mailbox`` and ``pool`` (a row per mailbox or pool: small) are rebuilt with
    AUTOINCREMENT, every row, key and constraint kept (the tables that refer to them do so by
    name; foreign keys are off in the migrations' transaction and checked before it commits);
    PostgreSQL: the serial sequences, which never go back, are moved past the kept ids. Either
    way the next id is above every id a row of the ledger still names.
    """
    for table in _m015_tables(sa.MetaData()):
        name = table.name.removesuffix("_m015")
        backend.never_reuse_ids(conn, table, name, _m015_highest(conn, name))


@migration
def m016_bounce_returned_original(conn: Connection) -> None:
    """What the original a report returns says of itself (From, Date), and why a report answers
    no send although one fits by recipient and time: anyone can write a report naming an
    address the mailbox mails, and one whose returned original is another's, or dated away
    from the send, was counted and suppressed the address. NULL for the bounces recorded
    before: their reports' originals were not kept (they stay as they were matched)."""
    for column in ("original_from", "original_date", "unverified"):
        conn.exec_driver_sql(f"ALTER TABLE bounce ADD COLUMN {column} VARCHAR")


@migration
def m017_bounce_report(conn: Connection) -> None:
    """Which report a bounce read from a mailbox came from, and whether its recipient was
    redacted. A forged report listing 800 recipients the mailbox mailed counted a hard bounce
    for each (a real one is about one message: RFC 3464); a feedback loop's complaint whose
    recipient is redacted (RFC 6590) matched nothing. NULL for the bounces recorded before:
    judged as they were."""
    conn.exec_driver_sql("ALTER TABLE bounce ADD COLUMN report VARCHAR")
    conn.exec_driver_sql("ALTER TABLE bounce ADD COLUMN redacted BOOLEAN")
    conn.exec_driver_sql(
        "CREATE INDEX ix_bounce_report ON bounce (mailbox_id, report) WHERE report IS NOT NULL"
    )


@backend_migration
def m018_day_stat_in_key_order(conn: Connection, backend: Backend) -> None:
    """The rollup stored in its key's order (mailbox, day). A ledger adds each mailbox's day
    row as that day begins: in a rowid table a mailbox's year lay on a page per few rows, and
    the cold ``warmup quota`` of every mailbox (each one's every day, through the key's
    index, then the table) read 365,000 rows each from a page of its own; a table WITHOUT
    ROWID (SQLite) holds them in the key's order, a mailbox's year on a few pages, and has no
    second index to keep. Every row kept; PostgreSQL's table is left as it is."""
    md = sa.MetaData()
    sa.Table("mailbox", md, sa.Column("id", sa.Integer, primary_key=True))  # for the key only
    table = sa.Table(
        "day_stat_m018",
        md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        *(
            sa.Column(c, sa.Integer, nullable=False)
            for c in ("sent", "hard", "soft", "block", "complaint")
        ),
        sqlite_with_rowid=False,
    )
    backend.rows_in_key_order(conn, table, "day_stat")


@migration
def m019_bounce_send_day(conn: Connection) -> None:
    """The day of the send each bounce answers, kept on the bounce (NULL when it answers
    none): a report rates a day's sends by the bounces that answer them, and joining each
    counted bounce to its send to read the send's day was the largest read of a year's report
    (an index lookup per bounce). Filled from ``send.day`` for every bounce linked before."""
    conn.exec_driver_sql("ALTER TABLE bounce ADD COLUMN send_day DATE")
    conn.exec_driver_sql(
        "UPDATE bounce SET send_day = (SELECT day FROM send WHERE send.id = bounce.send_id)"
        " WHERE send_id IS NOT NULL"
    )


@migration
def m020_outbox_content_key(conn: Connection) -> None:
    """Each queued message's content key (``warmup.outbox.content``), indexed where there is
    one: a script run again into a campaign queued every message it sent without a
    Message-ID of its own a second time, mailing the campaign's leads twice. NULL for the
    messages queued before (their keys are not computed here: a campaign's re-run queues
    again what was queued before the upgrade) and for a template's rows."""
    conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN content_key VARCHAR")
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_content ON outbox (content_key) WHERE content_key IS NOT NULL"
    )


# m021 (frozen): the ARF feedback types that are no complaint, as m021 found them stored: a
# synced report's diagnostic is its Feedback-Type as written, then ": " and its text.
_M021_TYPES = ("auth-failure", "not-spam")
_M021_NOTICE = (
    "kind = 'complaint' AND source = 'imap' AND ("
    + " OR ".join(
        f"lower(diagnostic) IN ('{t}', '{t}:') OR lower(diagnostic) LIKE '{t}: %'"
        for t in _M021_TYPES
    )
    + ")"
)
_M021_CHUNK = 500  # ids or addresses per statement


def _m021_chunks(items: list[Any]) -> list[list[Any]]:
    return [items[k : k + _M021_CHUNK] for k in range(0, len(items), _M021_CHUNK)]


def _m021_in(sql: str) -> sa.TextClause:
    """``sql`` whose ``:ids`` is a list (``IN :ids``)."""
    return sa.text(sql).bindparams(sa.bindparam("ids", expanding=True))


def _m021_lift(conn: Connection, sid: int, address: str) -> int:
    """Suppression ``sid`` of ``address`` was made by a report m021 made a notice: lifted (1)
    unless another bounce of the address vouches for it (a hard bounce or complaint that
    answers a send, or one a person recorded), which it then becomes: as that bounce would
    have made it (its kind, reason, mailbox and instant), so that what lifts that bounce's
    suppression (``Matching._unanswer``) finds it."""
    voucher = conn.execute(
        sa.text(
            "SELECT mailbox_id, kind, status, at FROM bounce WHERE recipient = :a"
            " AND kind IN ('hard', 'complaint') AND (send_id IS NOT NULL OR source <> 'imap')"
            " ORDER BY id LIMIT 1"
        ),
        {"a": address},
    ).first()
    if voucher is None:
        conn.execute(sa.text("DELETE FROM suppression WHERE id = :s"), {"s": sid})
        return 1
    conn.execute(
        sa.text(
            "UPDATE suppression SET kind = :k, reason = :r, mailbox_id = :m, created_at = :at"
            " WHERE id = :s"
        ),
        {
            "k": voucher.kind,
            "r": f"{voucher.kind} bounce {voucher.status or ''}".strip(),
            "m": voucher.mailbox_id,
            "at": voucher.at,
            "s": sid,
        },
    )
    return 0


def _m021_next_complaints(
    conn: Connection, sends: list[int], also: str = ""
) -> set[tuple[int, Any]]:
    """Of each send of ``sends`` that no counted complaint answers now, its first complaint
    (meeting the SQL condition ``also``, if any) counted; the (mailbox id, day) of those."""
    days: set[tuple[int, Any]] = set()
    for part in _m021_chunks(sends):
        nexts = conn.execute(
            _m021_in(
                "SELECT id, mailbox_id, day FROM bounce WHERE id IN (SELECT min(id) FROM bounce"
                f" WHERE kind = 'complaint' AND send_id IN :ids{also} GROUP BY send_id"
                " HAVING sum(CASE WHEN counted THEN 1 ELSE 0 END) = 0)"
            ),
            {"ids": part},
        ).all()
        if nexts:
            conn.execute(
                _m021_in("UPDATE bounce SET counted = :yes WHERE id IN :ids"),
                {"yes": True, "ids": [r.id for r in nexts]},
            )
        days |= {(r.mailbox_id, r.day) for r in nexts}
    return days


def _m021_recount(conn: Connection, days: set[tuple[int, Any]]) -> None:
    """The complaint counts of ``days`` (mailbox id, day) in ``day_stat`` recounted from the
    counted complaints; each of their mailboxes' ``rev`` moved, its walk memos of a later day
    than its first one changed dropped (those of that day or earlier carried, as
    ``Records._touch`` does) and its report memos (``timeline_cache``) dropped."""
    run = conn.execute
    for mid, day in sorted(days):
        at = {"m": mid, "d": day}
        run(
            sa.text(
                "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint)"
                " SELECT :m, :d, 0, 0, 0, 0, 0 WHERE NOT EXISTS"
                " (SELECT 1 FROM day_stat WHERE mailbox_id = :m AND day = :d)"
            ),
            at,
        )
        run(
            sa.text(
                "UPDATE day_stat SET complaint = (SELECT count(*) FROM bounce"
                " WHERE mailbox_id = :m AND day = :d AND kind = 'complaint' AND counted)"
                " WHERE mailbox_id = :m AND day = :d"
            ),
            at,
        )
    first: dict[int, Any] = {}
    for mid, day in days:
        first[mid] = min(first.get(mid, day), day)
    for mid, day in sorted(first.items()):
        at = {"m": mid, "d": day}
        run(sa.text("UPDATE mailbox SET rev = rev + 1 WHERE id = :m"), at)
        run(
            sa.text(
                "UPDATE walk_memo SET rev = rev + 1 WHERE mailbox_id = :m AND upto <= :d"
                " AND rev = (SELECT rev FROM mailbox WHERE id = :m) - 1"
            ),
            at,
        )
        run(sa.text("DELETE FROM walk_memo WHERE mailbox_id = :m AND upto > :d"), at)
        run(sa.text("DELETE FROM timeline_cache WHERE mailbox_id = :m"), at)


@migration
def m021_feedback_notices(conn: Connection) -> None:
    """The ARF reports recorded as complaints that are none (RFC 6591 ``auth-failure``, RFC
    6430 ``not-spam``) are notices: a ledger kept counting them in its complaint rate (which
    pauses a mailbox at a fraction of a percent) and kept their recipients suppressed after
    the sync learnt to record them as kind ``notice``.

    Each becomes a notice, uncounted; a send whose counted complaint it was counts its next
    complaint, if any (as had it been read as a notice); the complaint counts of their days in
    ``day_stat`` are recounted; each mailbox's ``rev`` moves and its walk memos of a later day
    than the first one changed are dropped (those of that day or earlier never read it:
    carried, as ``Records._touch`` does), its report memos (``timeline_cache``) dropped; and
    the suppression a report made (its address, mailbox and instant) is lifted unless another
    bounce of the address vouches for it, as ``Matching._unanswer`` lifts one, or else becomes
    that bounce's (:func:`_m021_lift`). A suppression made otherwise (by hand, the worker's, a
    hard bounce's or a complaint's) is another row: kept as it is."""
    run = conn.execute
    rows = run(
        sa.text(f"SELECT id, mailbox_id, send_id, day, counted FROM bounce WHERE {_M021_NOTICE}")
    ).all()
    if not rows:
        return
    run(
        sa.text(f"UPDATE bounce SET kind = 'notice', counted = :no WHERE {_M021_NOTICE}"),
        {"no": False},
    )
    days = {(r.mailbox_id, r.day) for r in rows if r.counted}
    sends = sorted({r.send_id for r in rows if r.counted and r.send_id is not None})
    _m021_recount(conn, days | _m021_next_complaints(conn, sends))
    made: set[tuple[int, str]] = set()
    for part in _m021_chunks([r.id for r in rows]):
        made |= {
            (sid, address)
            for sid, address in run(
                _m021_in(
                    "SELECT s.id, s.address FROM suppression s JOIN bounce n"
                    " ON n.recipient = s.address AND n.mailbox_id = s.mailbox_id"
                    " AND n.at = s.created_at WHERE n.id IN :ids AND s.kind = 'complaint'"
                ),
                {"ids": part},
            )
        }
    lifted = sum(_m021_lift(conn, sid, address) for sid, address in sorted(made))
    NOTES.append(
        f"{len(rows)} feedback report{'s' if len(rows) != 1 else ''} recorded as complaints "
        f"(ARF auth-failure, not-spam) are now notices: no longer in the complaint rate"
        + (
            f"; lifted the {lifted} suppression{'s' if lifted != 1 else ''} only they made"
            if lifted
            else ""
        )
    )


@migration
def m022_timeline_cache_rev(conn: Connection) -> None:
    """The report's memos are valid while the mailbox's ``rev`` is the one they were computed
    at (as the walk memo's), no longer while a hash of every rollup row before them matches:
    that hash, summed in SQL over a year of 1,000 mailboxes, was a fifth of a warm report.
    The memos kept before are dropped (a report rebuilds them)."""
    conn.exec_driver_sql("DELETE FROM timeline_cache")
    conn.exec_driver_sql("ALTER TABLE timeline_cache ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")


# m023 (frozen): a mail client's unsubscribe request, as the parser writes its diagnostic
_M023_OPT_OUT = "kind = 'complaint' AND substr(diagnostic, 1, 12) = 'unsubscribe:'"


@migration
def m023_unsubscribe_requests_uncounted(conn: Connection) -> None:
    """A mail client's unsubscribe request (recorded as a complaint, its diagnostic
    "unsubscribe: ...") no longer counts in the complaint rate: nothing in it but a From header
    says who wrote it, and one in a lead's name paused a mailbox. A ledger that counted some is
    corrected: each is uncounted; a send whose counted complaint it was counts its next
    complaint that is no such request, if any; and their days' complaint counts, the mailboxes'
    ``rev`` and memos as m021 leaves them (:func:`_m021_recount`). The suppressions they made
    stay: the request still stops the mailing."""
    run = conn.execute
    rows = run(
        sa.text(f"SELECT mailbox_id, send_id, day FROM bounce WHERE counted AND {_M023_OPT_OUT}")
    ).all()
    if not rows:
        return
    run(sa.text(f"UPDATE bounce SET counted = :no WHERE {_M023_OPT_OUT}"), {"no": False})
    days = {(r.mailbox_id, r.day) for r in rows}
    sends = sorted({r.send_id for r in rows if r.send_id is not None})
    also = " AND substr(coalesce(diagnostic, ''), 1, 12) <> 'unsubscribe:'"
    _m021_recount(conn, days | _m021_next_complaints(conn, sends, also))
    NOTES.append(
        f"{len(rows)} unsubscribe request{'s' if len(rows) != 1 else ''} of a mail client "
        f"recorded as complaints no longer count in the complaint rate (their addresses stay "
        f"suppressed)"
    )


# m024 (frozen): a policy event's reason as warmup.policy.eras wrote it before it said "was"
_M024_REASON = re.compile(
    r"policy ([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?: version ([1-9][0-9]{0,9}))?"
)


@migration
def m024_policy_events_say_what_was_in_force(conn: Connection) -> None:
    """Each ``policy`` event (``policy set`` on a mailbox's policy, ``mailbox set --policy``)
    says which policy the mailbox followed until then, so that the walk judges the days before
    it under that one (:mod:`warmup.policy.eras`): a new version re-judged every past day, and
    raising week 1's volume sent a mailbox on day 11 back to day 1. For the events written
    before, it is the policy the mailbox's previous event named; for its first, the version
    before when the event was a ``policy set`` (stamped with the new version's own instant), and
    unknown otherwise (a move by ``mailbox set --policy``: those days stay judged under the one
    after). The mailboxes whose events change have their ``rev`` moved and their walk and
    report memos dropped."""
    run = conn.execute
    events = run(
        sa.text(
            "SELECT id, mailbox_id, at, reason FROM event WHERE kind = 'policy'"
            " ORDER BY mailbox_id, at, id"
        )
    ).all()
    if not events:
        return
    created = {
        (r.name, r.version): r.created_at
        for r in run(sa.text("SELECT name, version, created_at FROM policy"))
    }
    last: dict[int, str | None] = {}  # mailbox -> what its last policy event named
    changed: set[int] = set()
    for e in events:
        m = _M024_REASON.fullmatch(e.reason or "")
        if m is None:  # "(was ...)" said already, or a policy named by its file's path
            last[e.mailbox_id] = None
            continue
        name, version = m.group(1), m.group(2)
        was = last.get(e.mailbox_id)
        first_set = (  # its first event, a 'policy set': stamped with the version's instant
            e.mailbox_id not in last
            and version is not None
            and int(version) > 1
            and created.get((name, int(version))) == e.at
        )
        if first_set:
            was = f"{name} version {int(version) - 1}"
        last[e.mailbox_id] = name if version is None else f"{name} version {version}"
        if was is not None:
            run(
                sa.text("UPDATE event SET reason = :r WHERE id = :i"),
                {"r": f"{e.reason} (was {was})", "i": e.id},
            )
            changed.add(e.mailbox_id)
    for mid in sorted(changed):
        run(sa.text("UPDATE mailbox SET rev = rev + 1 WHERE id = :m"), {"m": mid})
        run(sa.text("DELETE FROM walk_memo WHERE mailbox_id = :m"), {"m": mid})
        run(sa.text("DELETE FROM timeline_cache WHERE mailbox_id = :m"), {"m": mid})
    if changed:
        NOTES.append(
            f"the policy changes of {len(changed)} mailbox{'es' if len(changed) != 1 else ''} "
            f"now judge the days before them under the policy in force then, not the new one"
        )


@migration
def m025_suppression_removals(conn: Connection) -> None:
    """The suppressions a person took back (``warmup suppress remove``), remembered: a removal
    left no record, so the soft streak that had an address suppressed (``suppress soft``)
    listed it again at once, and the next ``bounces sync --suppress-soft`` suppressed it again.
    A ledger's earlier removals are not known: none is made up."""
    sa.Table(
        "suppression_removal",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("address", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("reason", sa.String),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_suppression_removal_address", "address", "removed_at"),
    ).create(conn)


@migration
def m026_removals_mark_the_last_send(conn: Connection) -> None:
    """A removal keeps the ledger's highest send id at the time (``last_send_id``): the sends
    it sets aside were those made before ``removed_at``, the operator's host's clock compared
    with each sender's, so a sending host whose clock ran ahead had the sends made before a
    removal counted after it (and the next sync suppressed again the address a person had just
    taken back), one whose clock ran behind had sends made after it set aside. The removals
    made before keep NULL and are judged by ``removed_at`` as they were: which sends a ledger
    held at one is not known, and none is made up."""
    conn.exec_driver_sql("ALTER TABLE suppression_removal ADD COLUMN last_send_id INTEGER")


@migration
def m027_send_holder(conn: Connection) -> None:
    """A slot names the process that reserved it (host name, pid, and its boot, PID namespace
    and start time: :mod:`warmup.ledger.holders`), so that a reservation of a process gone from
    this host (SIGKILL, the OOM killer) is settled at once rather than 15 minutes later. The
    slots reserved before keep NULL: who held them is not known, and they wait for the expiry
    as before."""
    run = conn.exec_driver_sql
    run("ALTER TABLE send ADD COLUMN holder_host VARCHAR")
    run("ALTER TABLE send ADD COLUMN holder_pid INTEGER")
    run("ALTER TABLE send ADD COLUMN holder_start VARCHAR")


@migration
def m028_send_release_reason(conn: Connection) -> None:
    """A released slot says why when it matters: ``size`` when the server refused the
    message's size (552 5.3.4 at RCPT TO, at MAIL FROM or at the end of DATA), which the same
    message meets again at every try. ``released`` alone reads "nothing left, try again", and a
    worker killed between the gate's settlement and its own had its message recovered and sent
    again to that recipient, refused again. The slots released before keep NULL: why is not
    known, and none is made up."""
    conn.exec_driver_sql("ALTER TABLE send ADD COLUMN release_reason VARCHAR")


@migration
def m029_removals_keep_their_suppression(conn: Connection) -> None:
    """A removal keeps when the suppression it ended was made (``suppressed_at``) and the
    mailbox whose bounce made it (``mailbox_id``): the suppression's row is deleted, so the
    suppression report, built from the rows left, had every address taken back vanish from
    the days it was on the list, and understated the list's past size. The removals made
    before keep NULL: when their address was suppressed is not known, and none is made up
    (the report leaves them out, as it did)."""
    stamp = sa.DateTime(timezone=True).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE suppression_removal ADD COLUMN suppressed_at {stamp}")
    conn.exec_driver_sql("ALTER TABLE suppression_removal ADD COLUMN mailbox_id INTEGER")


@backend_migration
def m030_domain_day(conn: Connection, backend: Backend) -> None:
    """Each mailbox's sends per local day and recipient domain (``domain_day``), kept as
    ``day_stat`` keeps its days: a policy capping recipient domains counted the day's send rows
    at every reservation and every ``warmup quota``, each slower with every send of a busy day.
    Filled from the sends (every outcome but released), each domain as the caps read it."""
    md = sa.MetaData()
    sa.Table("mailbox", md, sa.Column("id", sa.Integer, primary_key=True))  # for the key only
    table = sa.Table(
        "domain_day",
        md,
        sa.Column("mailbox_id", sa.Integer, sa.ForeignKey("mailbox.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("domain", sa.String, primary_key=True),
        sa.Column("sent", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    table.create(conn)
    send = sa.table(
        "send",
        sa.column("mailbox_id"),
        sa.column("day"),
        sa.column("recipient"),
        sa.column("outcome"),
    )
    domain = backend.sql_domain(send.c.recipient)
    rows = (
        sa.select(send.c.mailbox_id, send.c.day, domain, sa.func.count())
        .where(send.c.outcome != "released")
        .group_by(send.c.mailbox_id, send.c.day, domain)
    )
    conn.execute(table.insert().from_select(["mailbox_id", "day", "domain", "sent"], rows))


@migration
def m031_message_id_key(conn: Connection) -> None:
    """The ledger's key for the Message-IDs warmup derives of a message's bytes (``setting``
    ``derive.message_id_key``: 32 random bytes and when they were made), made with the ledger or
    on its upgrade. Made on the first message without a Message-ID instead, a message refused as
    bad input (a line over 998 octets, a corrupt page met) still left the ledger changed."""
    import datetime as dt
    import secrets

    from warmup.ledger.schema import UTCDateTime

    setting = sa.table(
        "setting", sa.column("key"), sa.column("value"), sa.column("updated_at", UTCDateTime())
    )
    key = "derive.message_id_key"
    if conn.execute(sa.select(setting.c.key).where(setting.c.key == key)).first() is None:
        made = dt.datetime.now(dt.UTC)
        # A ledger without sends holds no message of an unkeyed ID to retry: its key is dated
        # 2000, so that no derived message looks for one (outgoing.message_id_for).
        value_made = (
            made
            if conn.exec_driver_sql("SELECT 1 FROM send LIMIT 1").first()
            else (dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
        value = f"{secrets.token_bytes(32).hex()} {value_made.isoformat()}"
        conn.execute(setting.insert().values(key=key, value=value, updated_at=made))


@migration
def m032_outbox_tally_covers_due(conn: Connection) -> None:
    """``ix_outbox_tally`` holds ``next_attempt_at`` too: ``queue status`` tallies the outbox
    with each group's latest one, and without it every row of the outbox was read from the table
    (1.4 s for a million messages, most of them sent long ago) where the index alone answers
    (0.17 s)."""
    conn.exec_driver_sql("DROP INDEX ix_outbox_tally")
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_tally ON outbox "
        "(campaign, state, pool_id, mailbox_id, sent_by, sent_via, rcpt_count, next_attempt_at)"
    )


@migration
def m033_outbox_pool_due(conn: Connection) -> None:
    """An index of each pool's messages by state and due time: the worker puts back a pool's
    due messages when none of its members can send, every pass of a paced pool, and found them
    by the index of every pool's due messages (0.44 s a pool in a backlog of 300,000)."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_pool_due ON outbox (pool_id, state, next_attempt_at)"
    )


@migration
def m034_outbox_backoff_until(conn: Connection) -> None:
    """``outbox.backoff_until``: until when a message a recipient's server deferred (a 4xx)
    backs off. A change that makes a mailbox's waiting messages due at once ('mailbox set',
    'policy set', 'mailbox resume', a new pool member) made these due too: a teammate's policy
    tweak had a greylisting server asked again at once, each try a slot of the quota (a pool
    spent 81 slots on 36 messages while its policy was changed under a 451)."""
    kind = sa.DateTime(timezone=True).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE outbox ADD COLUMN backoff_until {kind}")


@migration
def m035_outbox_hold(conn: Connection) -> None:
    """One hold per target (``outbox_hold``): the worker held a pool none of whose members
    could send by writing each of its due messages, and a paced pool's backlog was written
    again at every slot (50,000 rows, 0.44 s a slot on SQLite). With the index of each
    mailbox's own due messages, a worker's claim asks each target not held for its first due
    message instead of reading past a held target's. Messages held the old way keep their
    time: nothing to convert."""
    from warmup.ledger.schema import UTCDateTime

    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_box_due ON outbox (mailbox_id, state, next_attempt_at) "
        "WHERE pool_id IS NULL"
    )
    md = sa.MetaData()
    sa.Table(
        "outbox_hold",
        md,
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("target", sa.Integer, primary_key=True),
        sa.Column("held_until", UTCDateTime(), nullable=False),
        sa.Column("why", sa.String, nullable=False),
        sa.Column("bulk", sa.Boolean, nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
    ).create(conn)


@migration
def m036_outbox_expiry(conn: Connection) -> None:
    """Indexes of the queued messages by expiry: every worker pass expires those past their
    time, and read every queued row from the table to find them (0.02 s a pass in a backlog of
    50,000); the next message due (``next_due_each``) read each target's first expiry the same
    way. Now the pass finds the expired ones by ``ix_outbox_expiry``, and each pool (mailbox)
    its first expiry by one probe of its own index."""
    conn.exec_driver_sql("CREATE INDEX ix_outbox_expiry ON outbox (state, expires_at)")
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_pool_expiry ON outbox (pool_id, state, expires_at)"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_box_expiry ON outbox (mailbox_id, state, expires_at) "
        "WHERE pool_id IS NULL"
    )


@migration
def m037_outbox_backoffs_kept(conn: Connection) -> None:
    """``backoff_until`` of the messages a warmup before m034 left backing off after a
    recipient's 4xx: m034 added the column empty, so a ledger upgraded while a greylisting
    server's back-off was in force had those messages made due at once by the first change to
    the plan after the upgrade ('mailbox set', 'policy set', 'mailbox resume'), each try
    refused again and a slot of the quota, as m034 was written to stop. Such a message is
    queued, was tried, its next try still ahead, and its last reply names a recipient's
    ``soft`` outcome (the worker's words since the outbox began: ``RCPT: soft 451 ...``); its
    back-off ends at that next try, as the worker writes it now. A message held the old way (a
    pool none of whose members could send) was held only once due, its reply the hold's."""
    import datetime as dt

    from warmup.ledger.schema import UTCDateTime

    outbox = sa.table(
        "outbox",
        sa.column("state"),
        sa.column("attempts"),
        sa.column("last_reply"),
        sa.column("next_attempt_at", UTCDateTime()),
        sa.column("backoff_until", UTCDateTime()),
    )
    conn.execute(
        outbox.update()
        .where(
            outbox.c.state == "queued",
            outbox.c.attempts > 0,
            outbox.c.backoff_until.is_(None),
            outbox.c.next_attempt_at > dt.datetime.now(dt.UTC),
            outbox.c.last_reply.like("%: soft %"),
        )
        .values(backoff_until=outbox.c.next_attempt_at)
    )


@migration
def m038_outbox_waiting(conn: Connection) -> None:
    """Indexes of the waiting messages (queued or sending) that hold every column ``queue
    status`` groups them by and counts: it read every row of the outbox from the table
    (PostgreSQL: a parallel scan of 870 MB for 200,000 waiting among 670,000), the sent history
    and each message's bytes with it. A message to one address is indexed with it (its
    suppression and the member that last mailed it are looked up by it); one to several without
    its list, which may be longer than PostgreSQL takes in an index entry. The state first, so
    that SQLite (no statistics) takes them for the waiting rows rather than ``ix_outbox_due``
    and the rows themselves."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_waiting ON outbox (state, campaign, pool_id, mailbox_id, "
        "next_attempt_at, recipients, id, expires_at, rcpt_count) "
        "WHERE (state = 'queued' OR state = 'sending') AND rcpt_count = 1"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_waiting_several ON outbox (state, campaign, pool_id, "
        "mailbox_id, next_attempt_at, id, expires_at, rcpt_count) "
        "WHERE (state = 'queued' OR state = 'sending') AND rcpt_count <> 1"
    )


@migration
def m039_outbox_pool_bulk(conn: Connection) -> None:
    """An index of each pool's bulk messages, by state and time: a pool with an overflow
    channel held but for its bulk messages had its claims look for its first due bulk one
    along every due message of the pool (``ix_outbox_pool_due``), each read from the table
    for its bulk mark, and its next due grouped its queued messages by that mark (a paced
    pool of 50,000: ~0.2 s a slot on SQLite). Partial, the bulk ones alone (their condition
    in the same words as the claim's, which SQLite needs to take it); ``id`` last, so that
    PostgreSQL reads them in the claim's order."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_pool_bulk ON outbox (pool_id, state, next_attempt_at, id) "
        "WHERE bulk = true"
    )


@migration
def m040_outbox_due_by_id(conn: Connection) -> None:
    """The indexes of the due messages end in the id, the claim's order after the due time: a
    backlog queued at once is due at one instant, and PostgreSQL orders an index's equal keys
    by where the row lies, not by id, so each claim read every due message of the backlog and
    sorted them (20-35 ms a claim at 10,000 queued, four claims a slot of a paced pool). SQLite
    orders equal keys by the rowid, the id: there the id is one more column, as it is in the
    schema both share."""
    for name, columns, where in (
        ("ix_outbox_due", "state, next_attempt_at, id", ""),
        ("ix_outbox_pool_due", "pool_id, state, next_attempt_at, id", ""),
        ("ix_outbox_box_due", "mailbox_id, state, next_attempt_at, id", " WHERE pool_id IS NULL"),
    ):
        conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql(f"CREATE INDEX {name} ON outbox ({columns}){where}")


@migration
def m041_outbox_fault(conn: Connection) -> None:
    """``outbox.fault``: the exit code of the fault a person must fix (a password missing or
    refused, a policy unknown here, the sender refused for good) for which a message waits
    until its next try, and the index of such messages. ``run --once`` exited with the fault's
    code on the pass that hit it, then 0, "nothing was due", on every pass of the wait: a cron
    job's alert fired once in five runs. Now a pass that sends nothing finds the wait in the
    messages themselves (75). A wait in force at the upgrade is not known as a fault's: it
    ends as before, and the next try writes what it finds."""
    conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN fault INTEGER")
    conn.exec_driver_sql(
        "CREATE INDEX ix_outbox_fault ON outbox (state, next_attempt_at) WHERE fault IS NOT NULL"
    )
