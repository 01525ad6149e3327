"""What waits in the outbox, as ``queue status`` groups it (``Ledger.outbox_waiting``): read from
the two partial indexes of the waiting messages alone (m038), and the same groups as the one
GROUP BY of every waiting row it replaces, on random ledgers of both backends."""

from __future__ import annotations

import datetime as dt
import random
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_scale_plans import _plan, _statements
from warmup import Outbox, api
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.ledger.schema import OUTBOX, POOL_MEMBER, SEND, SUPPRESSION

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
BOXES = [f"m{i}@corp{i}.example" for i in range(4)]


def _ledger(url: str) -> tuple[Ledger, dict[str, int]]:
    ledger = open_ledger(url)
    ids = {b: api.add_mailbox(ledger, b, "exmail", timezone="UTC").id for b in BOXES}
    ledger.add_pool("P", BOXES[:2], reply_to=None, now=NOW)
    ledger.add_pool("Q", BOXES[1:3], reply_to=None, now=NOW)
    return ledger, ids


def _add(ledger: Ledger, to: list[str], **where: str) -> None:
    msg = EmailMessage()
    msg["From"] = where.get("mailbox", BOXES[0])
    msg["To"] = ", ".join(to)
    msg["Subject"] = "hello"
    msg.set_content("Hello.\n")
    Outbox(ledger).add(msg, campaign="dec", now=NOW, **where)


def test_what_waits_is_grouped_from_the_waiting_messages_indexes_alone(ledger_url):  # noqa: F811
    """``queue status`` grouped the waiting messages by reading every row of the outbox from the
    table (PostgreSQL: a parallel scan of 870 MB, the sent history and each message's bytes,
    for 200,000 waiting among 670,000). The messages to one address are grouped from
    ``ix_outbox_waiting`` alone, those to several from ``ix_outbox_waiting_several``, and
    the latter's addresses read from the rows found by an index of their state. On SQLite too
    (it read each waiting row from the table: no statistics, it takes an index whose first
    column is the state, so the two start with it)."""
    ledger, _ = _ledger(ledger_url)
    _add(ledger, ["lead@example.com"], pool="P")
    _add(ledger, ["a@example.com", "b@example.com"], mailbox=BOXES[3])
    seen = [s for s in _statements(ledger, ledger.outbox_waiting) if "outbox" in s[0]]
    assert len(seen) == 2, seen  # the groups, then the addresses of the messages to several
    groups, several = (_plan(ledger, s) for s in seen)
    if ledger.scheme == "postgresql":
        assert "Index Only Scan using ix_outbox_waiting on outbox" in groups, groups
        assert "ix_outbox_waiting_several" in groups, groups  # a test's few rows: a bitmap
        assert "ix_outbox_waiting_several" in several, several
        assert "Seq Scan on outbox" not in groups + several
    else:  # SQLite: the state's first in both, or it took ix_outbox_due and read the rows
        assert "SEARCH outbox USING COVERING INDEX ix_outbox_waiting (state=?)" in groups, groups
        assert "COVERING INDEX ix_outbox_waiting_several (state=?)" in groups, groups
        assert "SCAN outbox" not in groups + several, groups + several
    ledger.close()


def test_a_message_to_many_addresses_is_queued_and_counted(ledger_url):  # noqa: F811
    """A message to 300 addresses (over 6,000 characters of them): PostgreSQL refuses an index
    entry over 2,704 bytes, so the list of a message to several is in no index of the waiting
    messages; it is queued, and counted with its suppressed recipients, as before."""
    ledger, _ = _ledger(ledger_url)
    many = [f"lead-with-a-long-name-{i}@some-company.example" for i in range(300)]
    _add(ledger, many, mailbox=BOXES[3])
    ledger.suppress(many[:2], "manual", "test", at=NOW)
    (group,) = ledger.outbox_waiting()
    assert (group["messages"], group["recipients"], group["suppressed"]) == (1, 300, 2)
    assert group["blocked"] == 0
    ledger.close()


def _reference(ledger: Ledger) -> list[dict[str, Any]]:
    """The groups as the one GROUP BY of every waiting row made them (before m038)."""
    o = OUTBOX.c
    box = sa.case((o.pool_id.is_(None), o.mailbox_id), else_=sa.null())
    last = (
        sa.select(SEND.c.mailbox_id)
        .join(POOL_MEMBER, POOL_MEMBER.c.mailbox_id == SEND.c.mailbox_id)
        .where(
            POOL_MEMBER.c.pool_id == o.pool_id,
            SEND.c.recipient == o.recipients,
            SEND.c.outcome != "released",
        )
        .order_by(SEND.c.at.desc())
        .limit(1)
        .scalar_subquery()
    )
    stays = sa.case(
        (sa.and_(o.pool_id.is_not(None), o.rcpt_count == 1), last), else_=sa.null()
    ).label("stays")
    waiting = o.state.in_(("queued", "sending"))
    gone = sa.and_(o.rcpt_count == 1, sa.exists().where(SUPPRESSION.c.address == o.recipients))
    q = (
        sa.select(
            o.campaign,
            o.pool_id,
            box.label("mailbox_id"),
            o.next_attempt_at,
            stays,
            sa.func.max(o.id).label("last"),
            sa.func.count().label("messages"),
            sa.func.sum(o.rcpt_count).label("recipients"),
            sa.func.max(o.expires_at).label("expires"),
            sa.func.sum(sa.case((gone, 1), else_=0)).label("blocked"),
        )
        .where(waiting)
        .group_by(o.campaign, o.pool_id, box, o.next_attempt_at, stays)
    )
    with ledger.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["blocked"] = r["suppressed"] = int(r["blocked"] or 0)
        several = sa.select(o.campaign, o.pool_id, box, o.next_attempt_at, stays, o.recipients)
        suppressed = set(conn.execute(sa.select(SUPPRESSION.c.address)).scalars())
        groups = {tuple(r[k] for k in list(r)[:5]): r for r in rows}
        for *key, rcpts in conn.execute(several.where(waiting, o.rcpt_count > 1)):
            n = sum(a in suppressed for a in rcpts.split(","))
            if n:
                groups[tuple(key)]["suppressed"] += n
                groups[tuple(key)]["blocked"] += n == len(rcpts.split(","))
    return rows


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(row[k]) for k in sorted(row))


def test_the_groups_are_those_of_one_group_by_of_every_waiting_row(ledger_url):  # noqa: F811
    """On random outboxes (messages to one, two or three addresses, of every state, to pools
    and to mailboxes, some due later, some recipients mailed before by a member or by a
    mailbox outside the pool, some suppressed): the groups, their counts, their last
    message, expiry, member and suppressed recipients are exactly those of the old
    statement."""
    ledger, ids = _ledger(ledger_url)
    pools = {p.name: p.id for p in ledger.pools()}
    leads = [f"lead{i}@example{i % 3}.com" for i in range(12)]
    states = ["queued", "queued", "queued", "sending", "sent", "bounced", "cancelled", "unknown"]
    for seed in range(6):
        rng = random.Random(seed)
        with ledger.write() as conn:
            conn.execute(OUTBOX.delete())
            rows = []
            for i in range(60):
                to = rng.sample(leads, rng.choice([1, 1, 1, 1, 2, 3]))
                pool = rng.choice([pools["P"], pools["Q"], None])
                at = NOW + dt.timedelta(minutes=rng.choice([0, 0, 5, 30]))
                rows.append(
                    {
                        "message_id": f"<s{seed}-{i}@corp.example>",
                        "mailbox_id": None if pool is not None else rng.choice(list(ids.values())),
                        "pool_id": pool,
                        "campaign": rng.choice(["a", "b", None]),
                        "recipients": ",".join(to),
                        "rcpt_count": len(to),
                        "data": b"x",
                        "state": rng.choice(states),
                        "not_before": NOW,
                        "next_attempt_at": at,
                        "expires_at": at + dt.timedelta(days=rng.choice([1, 2])),
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
            conn.execute(OUTBOX.insert(), rows)
        for box in rng.sample(BOXES, 2):
            sent = [
                SendIn(a, NOW - dt.timedelta(days=seed + 1, minutes=k))
                for k, a in enumerate(rng.sample(leads, 3))
            ]
            ledger.record(ledger.mailbox(box), sends=sent)
        ledger.suppress(rng.sample(leads, 2), "manual", "test", at=NOW)
        got, want = ledger.outbox_waiting(), _reference(ledger)
        assert sorted(map(_key, got)) == sorted(map(_key, want)), seed
        assert any(r["stays"] is not None for r in got)
        assert any(r["suppressed"] for r in got)
    ledger.close()
