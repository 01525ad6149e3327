"""``next_due_each`` asks each target's indexes for its first queued message and first expiry
(one probe each) instead of grouping every queued message (0.1 s at every slot of a paced pool
with a 50,000-message backlog): the same answers as the GROUP BY it replaced, kept here as the
reference, over a mixed outbox."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import sqlalchemy as sa

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import Ledger, OutboxIn, open_ledger
from warmup.ledger.outbox_holds import applies, holds, target_of
from warmup.ledger.outbox_views import aware_utc
from warmup.ledger.schema import OUTBOX

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def reference(ledger: Ledger, pool_id: int | None = None) -> list[tuple[Any, ...]]:
    """``next_due_each`` as it was: one group per pool (mailbox) and bulk mark, over every
    queued message. Its groups in the order SQLite gave them (mailboxes, then pools, by id; not
    bulk first), which PostgreSQL's hash aggregate left to chance: ties keep it."""
    o = OUTBOX.c
    q = (
        sa.select(
            o.pool_id,
            o.mailbox_id,
            o.bulk,
            sa.func.min(o.next_attempt_at),
            sa.func.min(o.expires_at),
        )
        .where(o.state == "queued")
        .group_by(o.pool_id, o.mailbox_id, o.bulk)
        .order_by(o.pool_id.nulls_first(), o.mailbox_id, o.bulk)
    )
    if pool_id is not None:
        q = q.where(o.pool_id == pool_id)
    first: dict[tuple[Any, Any], tuple[Any, Any, Any]] = {}
    with ledger.read() as conn:
        held = holds(conn)
        for pid, mid, bulk, at, ends in conn.execute(q):
            target = (pid, None if pid is not None else mid)
            at, ends, why = aware_utc(at), aware_utc(ends), None
            hold = held.get(target_of(pid, mid))
            if applies(hold, bool(bulk)) and hold is not None and hold.until > at:
                at, why = hold.until, hold.why
            was = first.get(target, (at, ends, why))
            best = (at, why) if at < was[0] else (was[0], was[2])
            first[target] = (best[0], min(was[1], ends), best[1])
    return [
        (pid, mid, *times) for (pid, mid), times in sorted(first.items(), key=lambda kv: kv[1][:2])
    ]


def _mixed(ledger: Ledger, rng: random.Random) -> tuple[list[int], list[int]]:
    """Five mailboxes, three pools of them, and messages queued to each (some to a mailbox
    itself), bulk or not, due and expiring at scattered minutes (some expired, not yet expired
    by a pass), a few of them no longer queued."""
    boxes = [
        api.add_mailbox(ledger, f"m{i}@corp{i}.example", "exmail", timezone="UTC").id
        for i in range(5)
    ]
    pools = [
        ledger.add_pool(name, [f"m{i}@corp{i}.example" for i in members], None, NOW)[0].id
        for name, members in (("P", (0, 1)), ("Q", (2,)), ("R", (3, 4)))
    ]
    items = []
    for k in range(160):
        pool = rng.choice([*pools, None])
        box = None if pool is not None else rng.choice(boxes[:4])  # m4: none of its own
        at = NOW + rng.randrange(-120, 240) * MINUTE
        items.append(
            OutboxIn(
                message_id=f"<m{k}@corp.example>",
                recipients=(f"r{k}@example.com",),
                data=b"Subject: hi\r\n\r\nhello\r\n",
                not_before=at,
                expires_at=at + rng.randrange(-60, 600) * MINUTE,
                mailbox_id=box,
                pool_id=pool,
                bulk=rng.random() < 0.3,
            )
        )
    ledger.enqueue(items, NOW - dt.timedelta(hours=3))
    gone = rng.sample(range(1, 161), 30)
    with ledger.write() as conn:  # a few sent, cancelled, expired: not queued
        for k, state in enumerate(("sent", "cancelled", "expired")):
            ids = gone[k * 10 : (k + 1) * 10]
            conn.execute(OUTBOX.update().where(OUTBOX.c.id.in_(ids)).values(state=state))
    return boxes, pools


def test_each_targets_first_due_and_expiry_are_the_grouped_reads(ledger_url):  # noqa: F811
    """Holds of every kind (a pool's whole, a pool's but its bulk messages, a mailbox's, one
    past its time), each ending between messages' times, before, among and after them: per
    target the same first time, first expiry, reason and order as the GROUP BY of every queued
    message, for the whole outbox and for each pool."""
    rng = random.Random(36)
    ledger = open_ledger(ledger_url)
    try:
        boxes, pools = _mixed(ledger, rng)
        assert ledger.next_due_each() == reference(ledger)
        for round_ in range(12):
            for pid in pools:
                if rng.random() < 0.7:  # a half-minute apart from every message's time
                    until = NOW + (rng.randrange(-150, 300) * MINUTE) + MINUTE / 2
                    ledger.hold_messages(
                        NOW, NOW, until, f"pool {pid} round {round_}", pool_id=pid,
                        keep_bulk=rng.random() < 0.5,
                    )  # fmt: skip
            for mid in rng.sample(boxes, 2):
                until = NOW + (rng.randrange(-150, 300) * MINUTE) + MINUTE / 2
                ledger.hold_messages(NOW, NOW, until, f"box {mid}", mailbox_id=mid)
            got = ledger.next_due_each()
            assert got == reference(ledger), round_
            assert {(p, m) for p, m, *_ in got} >= {(pid, None) for pid in pools}
            for pid in pools:
                assert ledger.next_due_each(pid) == reference(ledger, pid), (round_, pid)
    finally:
        ledger.close()


def test_a_pool_whose_bulk_messages_go_free_waits_for_its_first_free_one(ledger_url):  # noqa: F811
    """A pool held but for its bulk messages (its overflow channel takes them): due when its
    first bulk message is, if that comes before the hold's end; else at the hold's end, for the
    hold's reason; its first expiry that of any of its messages."""
    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
        pid = ledger.add_pool("P", ["a@corp.example"], None, NOW)[0].id

        def queue(k: int, at: dt.datetime, ends: dt.datetime, bulk: bool) -> None:
            data = b"Subject: hi\r\n\r\nhello\r\n"
            item = OutboxIn(f"<b{k}@x>", (f"r{k}@example.com",), data, at, ends, None, pid,
                            bulk=bulk)  # fmt: skip
            ledger.enqueue([item], NOW)

        queue(1, NOW, NOW + 9 * MINUTE * 60, False)
        queue(2, NOW + 20 * MINUTE, NOW + 2 * MINUTE * 60, True)
        ledger.hold_messages(NOW, NOW, NOW + 30 * MINUTE, "paced", pool_id=pid, keep_bulk=True)
        assert ledger.next_due_each() == [(pid, None, NOW + 20 * MINUTE, NOW + 120 * MINUTE, None)]
        ledger.hold_messages(NOW, NOW, NOW + 10 * MINUTE, "paced", pool_id=pid, keep_bulk=True)
        assert ledger.next_due_each() == [(pid, None, NOW + 10 * MINUTE, NOW + 120 * MINUTE,
                                           "paced")]  # fmt: skip
        assert ledger.next_due_each() == reference(ledger)
    finally:
        ledger.close()
