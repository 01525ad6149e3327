"""How the outbox drains at the plan's pace: the day each waiting group of messages will have
gone, for ``queue status``'s DONE BY and ``queue add``'s expiry warning.

The projection mirrors the worker, day by day, on each mailbox's own local days:

- every mailbox can send what its plan lets through that day (:func:`warmup.api.mailbox_plan`,
  today: what is left of it), and mailboxes under one domain cap share the cap, as
  :func:`warmup.policy.plan.combine` counts them; a mailbox of that domain whose own policy
  has no cap is not bound by it, but what it sends counts toward it, as the capped ones'
  gates count the domain's every send;
- the waiting messages are taken in the order workers claim them, all pools and mailboxes
  together (``next_attempt_at``, then id): each from its pool's members (or its mailbox),
  from the member with the most left that day. A member of two pools is one mailbox: what
  one pool's messages take of its day the other's cannot (counted once for each pool, a
  shared member made both pools' campaigns look done days early);
- a pool's message to an address a member mailed last goes from that member only, as the
  worker sends a follow-up (:meth:`Ledger.outbox_waiting`'s ``stays``), unless that member
  cannot be planned (then the others, as the worker passes it on). A thread named by the
  message's In-Reply-To/References is not modelled: its Message-IDs are in the message's
  bytes, and reading every waiting message's would cost what the projection must not;
- a message is not taken before its ``next_attempt_at`` (``queue add --not-before``, a
  retry's time) falls on or before that day for the member: a campaign queued for next month
  starts next month, and needs the plan's days from then on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warmup.ledger import Ledger, local_day
from warmup.policy.plan import MailboxPlan, added_on, cap_left, take_turns

if TYPE_CHECKING:
    from warmup.api import Refusal

Target = tuple[str, int]  # ("pool", id) or ("mailbox", id)
# The furthest day a plan looks (~0.1 ms a day): the outbox takes no --not-before more than
# :data:`warmup.outbox.NOT_BEFORE_REACH` ahead, and plans 730 days on from the last one.
REACH = 3653 + 730


@dataclass
class Group:
    """Waiting messages of one campaign and target, due at one time (a row of
    :meth:`Ledger.outbox_waiting`), and the day the projection has them all gone."""

    campaign: str | None
    target: Target
    due: dt.datetime
    last: int
    recipients: int
    expires: dt.datetime
    left: int = 0
    done: dt.date | None = None
    ready: dict[str, dt.date] = field(default_factory=dict)  # member -> first day it may go
    earliest: dt.date = dt.date.min  # no member's first day is before it (in claim order)
    stays: str | None = None  # the member that last mailed its recipient: it sends them


def target_of(row: dict[str, Any]) -> Target:
    """A waiting row's target: its pool, else its mailbox."""
    if row["pool_id"] is not None:
        return ("pool", row["pool_id"])
    return ("mailbox", row["mailbox_id"])


def groups(
    ledger: Ledger,
    blocked: Counter[tuple[str | None, Target]] | None = None,
    expiring: list[Group] | None = None,
) -> list[Group]:
    """Every waiting group, in the order workers claim them, with only what the worker will
    send: not the recipients suppressed since their messages were queued (it leaves them
    out), nor a message whose every recipient is (it cancels it), counted in ``blocked`` per
    campaign and target; nor a group due no sooner than its expiry (its mailboxes' next slot,
    or its 4xx's next try, came after it: it waits until then and expires, taking no slot),
    put in ``expiring``."""
    out = []
    rows = ledger.outbox_waiting()
    names = ledger.mailbox_names() if any(r["stays"] is not None for r in rows) else {}
    # a target the worker holds (warmup.ledger.outbox_holds): none of its messages goes before
    holds = {t: h.until for t, h in ledger.holds().items() if h.bulk} if rows else {}
    for r in rows:
        held = holds.get(target_of(r))
        if held is not None and held > r["next_attempt_at"]:
            r["next_attempt_at"] = held
    for r in sorted(rows, key=lambda r: (r["next_attempt_at"], r["last"])):
        target = target_of(r)
        if blocked is not None and r["blocked"]:
            blocked[r["campaign"], target] += r["blocked"]
        if r["messages"] > r["blocked"]:
            recipients = int(r["recipients"] or 0) - r["suppressed"]
            g = Group(
                r["campaign"],
                target,
                r["next_attempt_at"],
                r["last"],
                recipients,
                r["expires"],
                stays=names.get(r["stays"]),
            )
            if g.due < g.expires:
                out.append(g)
            elif expiring is not None:
                expiring.append(g)
    return out


def members(ledger: Ledger, queue: Sequence[Group]) -> dict[Target, list[str]]:
    """The addresses that may send each target's messages: a pool's members now, or the
    mailbox (none once it, or the pool, is gone)."""
    pools = {p.id: [m.address for m in p.members] for p in ledger.pools()}
    names = ledger.mailbox_names()
    out: dict[Target, list[str]] = {}
    for kind, ident in {g.target for g in queue}:
        found = pools.get(ident) if kind == "pool" else [names[ident]] if ident in names else None
        out[kind, ident] = found or []
    return out


def senders(
    ledger: Ledger, members: dict[Target, list[str]]
) -> tuple[dict[Target, list[str]], list[Refusal]]:
    """``members`` without the mailboxes whose policy or provider preset this warmup does not
    know (stored by a newer one in a shared ledger), and a :class:`~warmup.api.Refusal` for
    each of those: the worker sends a pool's messages from its other members, and the plan of
    one such mailbox would otherwise fail every projection of the outbox."""
    from warmup import api

    everyone = sorted({m for ms in members.values() for m in ms})
    _, good, refusals = api.askable(ledger, api.named_mailboxes(ledger, everyone))
    if not refusals:
        return members, []
    usable = {b.address for b in good}
    return {t: [m for m in ms if m in usable] for t, ms in members.items()}, refusals


def drain(
    ledger: Ledger,
    queue: Sequence[Group],
    members: dict[Target, list[str]],
    at: dt.datetime,
) -> None:
    """Set each group's ``done``: the day its last recipient goes at the plan's pace (None:
    not within the plan's horizon, or no member to send it). ``members``: each target's
    mailboxes that can be planned (:func:`senders`)."""
    from warmup import api

    need: dict[str, int] = {}
    latest: dict[str, dt.datetime] = {}
    for g in queue:
        for m in members.get(g.target, []):
            need[m] = need.get(m, 0) + g.recipients
            latest[m] = max(latest.get(m, g.due), g.due)
    if not need:
        return
    boxes = {b.address: b for b in api.named_mailboxes(ledger, sorted(need))}
    zones = {m: b.timezone for m, b in boxes.items()}
    # every history read at once: one by one, 101 mailboxes took 1.3 s (bench/big_team.py)
    planned = api.mailbox_planner(ledger, list(boxes.values()), at)

    def wait(m: str) -> int:
        """Days until the last of ``m``'s messages may go (--not-before)."""
        return max(0, (local_day(latest[m], zones[m]) - local_day(at, zones[m])).days)

    def reach(m: str) -> int:
        """How far ``m``'s plan looks: the horizon from its last message's day, so that a
        --not-before 2.5 years ahead is planned (it was "not within 2 years", after expiry, of
        a mailbox long warmed up by then)."""
        return min(REACH, api.VOLUME_HORIZON + wait(m))

    def plan(m: str, whole: bool) -> MailboxPlan:
        if whole:
            return planned(boxes[m], reach(m), None)
        first = planned(boxes[m], api.VOLUME_HORIZON, need[m])
        # A mailbox whose messages may go only later (--not-before) needs its days up to
        # then as well as the days it needs to send them all.
        if first.days and wait(m) >= len(first.days):
            return planned(boxes[m], min(reach(m), wait(m) + len(first.days) + 1), None)
        return first

    plans = {m: plan(m, False) for m in need}
    _run(queue, members, plans, zones, at)
    short = {
        m
        for g in queue
        if g.done is None
        for m in members.get(g.target, [])
        if len(plans[m].days) < reach(m)
    }
    if short:  # a plan cut where its mailbox alone would be done, its capacity partly unused
        plans.update({m: plan(m, True) for m in short})
        _run(queue, members, plans, zones, at)


def _run(
    queue: Sequence[Group],
    members: dict[Target, list[str]],
    plans: dict[str, MailboxPlan],
    zones: dict[str, str],
    at: dt.datetime,
) -> None:
    """One day-by-day pass of the projection (see the module docstring)."""
    live = [p for p in plans.values() if p.days]
    if not live:
        return
    for g in queue:
        g.left, g.done = g.recipients, None
        able = [m for m in members.get(g.target, []) if m in plans]
        if g.stays in able:  # a follow-up waits for its member, though others have room
            able = [g.stays]
        g.ready = {m: dt.date.min if g.due <= at else local_day(g.due, zones[m]) for m in able}
        # the earliest of its days in any zone: never decreasing in claim order
        g.earliest = (
            dt.date.min if g.due <= at else min(local_day(g.due, z) for z in set(zones.values()))
        )
    capped: dict[str, list[MailboxPlan]] = {}
    for p in live:
        if p.domain_cap is not None:
            capped.setdefault(p.domain, []).append(p)
    # every mailbox of a capped domain, its own policy capped or not: the gate of a capped one
    # counts the domain's every send
    counted = {p.mailbox: p.domain for p in live if p.domain in capped}
    pending = [g for g in queue if g.left > 0 and g.ready]
    for g in queue:
        if g.left <= 0:
            g.done = dt.date.min
    day = min(p.days[0].date for p in live)
    last = max(p.days[-1].date for p in live)
    while pending and day <= last:
        room = {p.mailbox: added_on(p, day) for p in live}
        shared = {
            domain: cap_left([p for p in live if p.domain == domain], day) for domain in capped
        }
        cap_of = {p.mailbox: p.domain for p in live if p.domain_cap is not None}
        for g in pending:
            if not any(room.values()):
                break
            if g.earliest > day:
                break  # claimed in due order: none after it may go yet either
            ready = [m for m, d in g.ready.items() if d <= day]
            g.left -= take_turns(g.left, ready, room, shared, cap_of, counted)
            if g.left <= 0:
                g.done = day
        pending = [g for g in pending if g.left > 0]
        day += dt.timedelta(days=1)
