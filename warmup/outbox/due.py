"""When a queued message can really go, and why it waits: the later of its own time (its retry
after a 4xx, a hold, its ``--not-before``) and the earliest moment any mailbox of its pool (or
its own mailbox) may send by the plan now (a pause's or throttle's end, the next day once the
quota is used, the window's opening, the pacing gap).

``warmup run`` ("Next message due at ...", "Waiting: ...") and ``queue list`` (NEXT) both ask
here: a message deferred for 5 s by a 421 that paused every member until 14:40 was said due at
14:10:45, and the reason shown was the old reply ("cannot reach the SMTP server") of a mailbox
paused since. A message that can go only at or after its expiry is not "due" then: it waits
until its expiry and expires (:attr:`Due.expires` when no other can go). The plan is read as :func:`warmup.api.quotas_each` reads it, ``now`` passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from warmup.ledger import Ledger, OutboxRow
from warmup.ledger.values import MailboxRow, day_start, local_day
from warmup.policy import Allowance

LOOK_AGAIN = dt.timedelta(minutes=15)  # a mailbox paused until resumed: the worker looks again


@dataclass(frozen=True)
class Due:
    """When a message (the outbox's next, or one target's) can go, and why it waits until
    then (None: nothing said; its last reply was empty). ``held``: not before a person resumes
    a mailbox (each of its mailboxes paused without an end): ``at`` is only when the worker
    looks again."""

    at: dt.datetime
    why: str | None
    held: bool = False
    # No queued message can go before its expiry (its mailboxes may send it only after then,
    # or no try of a 4xx fits before it): ``at`` is when the first of them expires.
    expires: bool = False


@dataclass(frozen=True)
class Members:
    """When the first of a target's mailboxes may send by the plan (``at``; None: one can
    now), and, when none can now, what each says (``why``) and whether all are held until a
    person acts (``held``: a pause without an end)."""

    at: dt.datetime | None
    why: str | None = None
    held: bool = False


def next_slot(
    status: str, next_send_at: dt.datetime | None, box: MailboxRow, now: dt.datetime
) -> dt.datetime:
    """When the plan may let ``box`` send again: its next slot, else (quota used) the next
    local day, else (paused, ...) a look again later."""
    if next_send_at is not None and next_send_at > now:
        return next_send_at
    if status == "exhausted" or next_send_at is None and status != "paused":
        return day_start(local_day(now, box.timezone) + dt.timedelta(days=1), box.timezone)
    return now + LOOK_AGAIN


def members_ready(boxes: list[tuple[MailboxRow, Allowance]], now: dt.datetime) -> Members | None:
    """:class:`Members` of the mailboxes and their allowances at ``now`` (None: none given)."""
    from warmup.refusals import refusal

    if not boxes:
        return None
    if any(a.can_send for _, a in boxes):
        return Members(None)  # the message's own time holds, not "now", whenever asked
    waits = [next_slot(a.status, a.next_send_at, box, now) for box, a in boxes]
    held = all(a.status == "paused" and a.next_send_at is None for _, a in boxes)
    why = "; ".join(refusal(a, 1, box.timezone) for box, a in boxes)[:500]
    return Members(min(waits), why, held)


def target_ready(
    ledger: Ledger, pool_id: int | None, mailbox_id: int | None, now: dt.datetime
) -> Members | None:
    """:func:`members_ready` of pool ``pool_id``'s members (or mailbox ``mailbox_id``); None
    when that cannot be told: the pool or mailbox gone, a member's policy unknown here, or a
    pool with an overflow channel (its bulk messages may go through it whatever the members'
    plans say)."""
    from warmup import api
    from warmup.errors import WarmupError

    try:
        if pool_id is not None:
            pool = ledger.pool_by_id(pool_id)
            if pool.overflow is not None:
                return None
            boxes = list(pool.members)
        elif mailbox_id is not None:
            address = ledger.mailbox_names().get(mailbox_id)
            if address is None:
                return None
            boxes = [ledger.mailbox(address)]
        else:
            return None
        answers, refusals = api.quotas_each(ledger, boxes, now)
    except WarmupError:
        return None
    if refusals:  # the worker tells what is wrong with it when it tries
        return None
    return members_ready(answers, now)


def when(retry: dt.datetime, why: str | None, members: Members | None) -> Due:
    """When a message due at ``retry`` (``why``: :func:`own_why`) can go, given its
    ``members``."""
    if members is None or members.at is None or (members.at <= retry and not members.held):
        return Due(retry, why)
    return Due(max(retry, members.at), members.why, members.held)


def next_due(ledger: Ledger, pool_id: int | None, now: dt.datetime) -> Due | None:
    """When the first queued message (of pool ``pool_id``; None: any) can go, and why it
    waits; None when nothing is queued. One that goes by itself comes before one held until a
    mailbox is resumed, whatever their times (the held one's is only a look again); either
    comes before one that waits until its expiry. When every one waits until its expiry, the
    first expiry (:attr:`Due.expires`): the worker's pass then expires it, and a time after
    it ("due at" its mailboxes' next slot, or at its expiry itself) said it would go."""
    best: Due | None = None
    for pid, mid, retry, ends, held in ledger.next_due_each(pool_id):  # earliest first
        if best is not None and not best.held and not best.expires and retry >= best.at:
            break  # it goes at its own time or later: never before the best one
        members = target_ready(ledger, pid, mid, now)
        due = when(retry, held, members)  # held: why its pool (mailbox) is held, if it is
        if not due.held and due.at >= ends:  # its first message expires first: another may not
            going = max(now, members.at if members is not None and members.at else now)
            first = ledger.next_due(pid, mid, going_from=going)
            if first is not None:
                due = when(first.next_attempt_at, own_why(first), members)
            else:
                due = Due(ends, due.why, expires=True)
        if best is None or (due.expires, due.held, due.at) < (best.expires, best.held, best.at):
            if due.why is None:  # its message's own reason: read only for the one shown
                first = ledger.next_due(pid, mid)
                due = Due(due.at, own_why(first) if first else None, due.held, due.expires)
            best = due
    return best


def own_why(row: OutboxRow) -> str | None:
    """Why queued message ``row`` waits until its own time: its not-before time while that is its
    time (queued with one, or queued again by hand before it), else its last reply (a 4xx's, or
    the plan's that held it: a gap, a quota). Not the last reply alone: a message queued again
    by hand keeps "cancelled: queued again by hand" as its last reply, which holds nothing."""
    if row.next_attempt_at <= row.not_before:
        return f"message {row.id} waits for its not-before time"
    return row.last_reply
