"""``warmup queue status``: per campaign and per sending mailbox, what was sent, what waits, what
failed, and when each campaign should be done by the plan.

The finish date comes from the mailboxes' plans (:mod:`warmup.outbox.drain`: what the gate
will let through each day at the current ramp, the outbox taken in the order workers claim it,
all campaigns and pools together, each message from its member with the most left, or the
member that last mailed its recipient, never before its ``next_attempt_at``): the first day by which every recipient still queued to a
target (pool or mailbox) will have gone. A campaign's date is the latest of its targets'. Nor
is a campaign (or target) done before the first day its last waiting message may go (``queue
add --not-before``, a retry's time) on which the plan lets its mailboxes send. What the
worker will not send (recipients suppressed since they were queued; a message due no sooner
than its expiry, which waits until then and expires) counts for neither; a campaign whose
every waiting message is due no sooner than its expiry expires first (``expires_first``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from warmup.instants import now_utc
from warmup.ledger import Ledger
from warmup.ledger.schema import OUTBOX_STATES
from warmup.outbox import drain

if TYPE_CHECKING:
    from warmup.api import Refusal
    from warmup.ledger.values import MailboxRow

WAITING = ("queued", "sending")
FAILED = ("bounced", "expired")


def nothing_to_send(campaign: dict[str, Any]) -> str | None:
    """What campaign ``campaign`` (a row of :func:`status`'s ``campaigns``) waits for when
    none of its waiting messages will be sent (a message whose every recipient is suppressed
    is cancelled when the worker comes to it), and it is not done: ``N unknown`` (a person
    decides whether they went), else ``none to send``; None when it is done or has messages
    to send. Said first by 'queue status' and 'warmup run''s live view alike (the view said
    "none to send", or "done", where 'queue status' said "1 unknown")."""
    if campaign["finished"]:
        return None
    if sum(campaign[s] for s in WAITING) > campaign["suppressed"]:
        return None
    return f"{campaign['unknown']} unknown" if campaign["unknown"] else "none to send"


def status(
    ledger: Ledger, at: dt.datetime | None = None, pool: str | None = None
) -> dict[str, Any]:
    """``{"campaigns": [...], "mailboxes": [...], "overflow": [...], "targets": [...]}`` (see
    the module docstring); states counted in messages, ``recipients`` in envelope recipients.
    A campaign's ``sent`` counts every channel, ``sent_overflow`` the overflow channels' share;
    ``overflow`` gives each pool's overflow channel's sends (``mailboxes``: the members').
    ``suppressed`` (a campaign's, a target's): its waiting messages whose every recipient was
    suppressed since they were queued, which the worker cancels; the finish dates leave them
    out, and the suppressed recipients of the others, as the worker does.
    ``pool``: only the messages queued to that pool (as ``warmup run --pool`` sends)."""
    return status_each(ledger, at, pool)[0]


def status_each(
    ledger: Ledger, at: dt.datetime | None = None, pool: str | None = None
) -> tuple[dict[str, Any], list[Refusal]]:
    """:func:`status`, and a :class:`~warmup.api.Refusal` for each mailbox left out of the
    finish dates: one whose policy or provider preset this warmup does not know (the worker
    does not send from it either)."""
    from warmup import api

    at = at or api.live_now()  # today counted as the gate counts it
    names = ledger.mailbox_names()
    pools = {p.id: p for p in ledger.pools()}
    only = ledger.pool(pool).id if pool is not None else None
    campaigns: dict[str | None, Counter[str]] = {}
    senders: dict[int, Counter[str]] = {}
    overflow: dict[int, Counter[str]] = {}
    waiting: Counter[tuple[str, int]] = Counter()
    targets_of: dict[str | None, set[tuple[str, int]]] = {}
    # per campaign and target, the latest time its waiting messages may go (--not-before)
    due: dict[tuple[str | None, tuple[str, int]], dt.datetime] = {}
    for row in ledger.outbox_counts():
        if only is not None and row["pool_id"] != only:
            continue
        state, n = row["state"], int(row["messages"])
        campaigns.setdefault(row["campaign"], Counter())[state] += n
        if row["sent_by"] is not None and state not in WAITING:
            senders.setdefault(row["sent_by"], Counter())[state] += n
        if row["sent_via"] == "overflow" and state not in WAITING:
            overflow.setdefault(row["pool_id"], Counter())[state] += n
            campaigns[row["campaign"]]["sent_overflow"] += n if state == "sent" else 0
    # what the worker will send: a message whose every recipient was suppressed after it was
    # queued is not (the worker cancels it), nor are such recipients of the others
    blocked: Counter[tuple[str | None, tuple[str, int]]] = Counter()
    expiring: list[drain.Group] = []  # due no sooner than their expiry: they expire unsent
    queue = drain.groups(ledger, blocked, expiring)
    if only is not None:
        expiring = [g for g in expiring if g.target == ("pool", only)]
    for g in queue:
        if only is not None and g.target != ("pool", only):
            continue
        waiting[g.target] += g.recipients
        targets_of.setdefault(g.campaign, set()).add(g.target)
        if g.due > at:
            key = (g.campaign, g.target)
            due[key] = max(due.get(key, g.due), g.due)
    unsent: Counter[str | None] = Counter()  # per campaign, its messages that will not be sent
    unsent_to: Counter[tuple[str, int]] = Counter()  # and per target
    for (name, target), n in blocked.items():
        if only is None or target == ("pool", only):
            unsent[name] += n
            unsent_to[target] += n
    plan: dict[tuple[str, int], dt.date | None] = {}  # the plan's finish, from now on
    # the plan's finish of each campaign's share of a target's queue, from now on
    plan_of: dict[tuple[str | None, tuple[str, int]], dt.date | None] = {}
    expiry: dict[tuple[str | None, tuple[str, int]], dt.datetime] = {}
    starts: dict[tuple[tuple[str, int], dt.datetime], dt.date | None] = {}

    def not_before(
        target: tuple[str, int], members: list[str], when: dt.datetime | None
    ) -> dt.date | None:
        """The first day from ``when`` on that the plan lets ``members`` send (a message
        queued --not-before that day is not sent before it); None: not within the horizon."""
        if when is None:
            # no later than any finish (``at``'s UTC date would be a day late west of UTC)
            return dt.date.min
        if not members:
            return None
        if (target, when) not in starts:
            starts[target, when] = api.volume_date(ledger, members, 1, when)[0]
        return starts[target, when]

    members_of: dict[tuple[str, int], list[str]] = {}
    zones = {m.address: m.timezone for p in pools.values() for m in p.members}  # + mailboxes
    every: dict[str, MailboxRow] = {}
    labels: dict[tuple[str, int], str] = {}
    for target in {g.target for g in (*queue, *expiring)} | set(waiting):
        kind, ident = target
        if kind == "pool" and ident in pools:
            label, members = f"pool {pools[ident].name}", [m.address for m in pools[ident].members]
        else:
            address = names.get(ident)
            label, members = f"mailbox {address or '#' + str(ident)}", [address] if address else []
            if address and address not in zones:
                if not every:  # every mailbox at once: one statement a mailbox, 300 on a team's
                    every.update((b.address, b) for b in ledger.mailboxes())
                zones[address] = (every.get(address) or ledger.mailbox(address)).timezone
        members_of[target], labels[target] = members, label
    members_of, refusals = drain.senders(ledger, members_of)
    # every target's queue, shared members and all: 'queue status --pool' too
    drain.drain(ledger, queue, members_of, at)
    for g in queue:
        key = (g.campaign, g.target)
        expiry[key] = max(expiry.get(key, g.expires), g.expires)
        plan[g.target] = _last(plan.get(g.target, dt.date.min), g.done)
        plan_of[key] = _last(plan_of.get(key, dt.date.min), g.done)
    if only is not None:
        expiry = {k: e for k, e in expiry.items() if k[1] == ("pool", only)}
    ending: dict[tuple[str | None, tuple[str, int]], dt.datetime] = {}
    for g in expiring:
        key = (g.campaign, g.target)
        ending[key] = max(ending.get(key, g.expires), g.expires)
    targets = []
    for target, recipients in sorted(waiting.items()):
        members = members_of[target]
        latest = max((d for (_, t), d in due.items() if t == target), default=None)
        day = _last(plan.get(target), not_before(target, members, latest))
        targets.append(
            {
                "target": labels[target],
                "recipients": recipients,
                "finish": day.isoformat() if day else None,
                "suppressed": unsent_to[target],  # messages it will not send (not counted)
            }
        )
    out_campaigns = []
    for name in sorted(campaigns, key=lambda c: (c is None, c or "")):
        c = campaigns[name]
        days = [
            _last(
                plan_of.get((name, t), plan.get(t)),
                not_before(t, members_of.get(t, []), due.get((name, t))),
            )
            for t in targets_of.get(name, ())
        ]
        done = None if not days or None in days else max(d for d in days if d is not None)
        expiries = [(t, e) for (n, t), e in (*expiry.items(), *ending.items()) if n == name]
        ends = max((e for _, e in expiries), default=None)
        # the day it falls on for the mailboxes, as DONE BY's days are theirs (not UTC's)
        ends_day = max(
            (_local_date(e, members_of.get(t, []), zones) for t, e in expiries), default=None
        )
        # the plan sends its last message after a day by which every one has expired; or
        # each of its waiting messages waits until its expiry (its mailboxes' next slot, or
        # its 4xx's next try, is after it), when the plan's day may be today
        late = any(
            day is None or day > _local_date(expiry[name, t], members_of.get(t, []), zones)
            for t, day in zip(targets_of.get(name, ()), days, strict=True)
            if (name, t) in expiry
        ) or (not targets_of.get(name) and any(n == name for n, _ in ending))
        out_campaigns.append(
            {
                "campaign": name,
                **{s: c[s] for s in OUTBOX_STATES},
                "sent_overflow": c["sent_overflow"],
                "failed": sum(c[s] for s in FAILED),
                "total": sum(c[s] for s in OUTBOX_STATES),
                "finish": done.isoformat() if done else None,
                # an unknown message waits for a person to decide whether it went: not done;
                # nor is one the worker has yet to cancel (every recipient suppressed)
                "finished": not any(c[s] for s in (*WAITING, "unknown")),
                # its waiting messages whose every recipient is suppressed: never sent (the
                # worker cancels them when it comes to them), left out of ``finish``
                "suppressed": unsent[name],
                "expires": ends.isoformat() if ends else None,  # its last waiting message's
                "expires_day": ends_day.isoformat() if ends_day else None,  # the mailboxes' day
                "expires_first": late,  # its waiting messages expire before the plan sends them
            }
        )
    out_senders = [
        {
            "mailbox": names.get(m, f"#{m}"),
            **{s: c[s] for s in OUTBOX_STATES if s not in WAITING},
            "failed": sum(c[s] for s in FAILED),
        }
        for m, c in sorted(senders.items(), key=lambda kv: names.get(kv[0], ""))
        # a member whose tries were all cancelled (a 4xx, then 'queue cancel' or the mailbox
        # removed): a row of zeros, "#4" once it is gone
        if any(c[s] for s in OUTBOX_STATES if s not in (*WAITING, "cancelled"))
    ]
    pool_names = {p: pools[p].name if p in pools else f"#{p}" for p in overflow}
    out_overflow = [
        {"pool": pool_names[p], **{s: c[s] for s in ("sent", "bounced", "unknown", "expired")}}
        for p, c in sorted(overflow.items(), key=lambda kv: pool_names[kv[0]])
    ]
    return {
        "campaigns": out_campaigns,
        "mailboxes": out_senders,
        "overflow": out_overflow,
        "targets": targets,
    }, refusals


def target_finish(
    ledger: Ledger,
    *,
    mailbox: str | None = None,
    pool: str | None = None,
    at: dt.datetime | None = None,
    upto: dt.datetime | None = None,
) -> tuple[str, dt.date | None, bool]:
    """The target (``pool``, else ``mailbox``) as 'queue status' names it, the first day by
    which the plan will have sent everything waiting for it (None: not within the plan's
    horizon, or no mailbox to send it; :attr:`datetime.date.min` when nothing waits, a worker
    or a person having taken it meanwhile), and whether that leaves out a mailbox of the target
    whose policy or provider preset this warmup does not know (so the day is not known).
    ``upto``: only what is due by then, which workers claim before messages due then (a
    message queued --not-before next year delays none queued for today)."""
    at = at or now_utc()
    if pool is not None:
        found = ledger.pool(pool)
        label, target = f"pool {found.name}", ("pool", found.id)
    else:
        box = ledger.mailbox(str(mailbox))
        label, target = f"mailbox {box.address}", ("mailbox", box.id)
    queue = drain.groups(ledger)
    mine = [g for g in queue if g.target == target and (upto is None or g.due <= upto)]
    if not mine:  # all sent or cancelled already: done, not "not within 2 years"
        return label, dt.date.min, False
    everyone = drain.members(ledger, queue)
    members, _ = drain.senders(ledger, everyone)
    drain.drain(ledger, queue, members, at)
    day: dt.date | None = dt.date.min
    for g in mine:
        day = _last(day, g.done)
    return label, day, members[target] != everyone[target]


def _local_date(at: dt.datetime, members: list[str], zones: dict[str, str]) -> dt.date:
    """The day ``at`` falls on for the target's mailboxes (the latest of their days)."""
    from warmup.ledger.values import local_day

    days = [local_day(at, zones[m]) for m in members if m in zones]
    return max(days) if days else at.date()


def _last(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    """The later of two days; None (not within the plan's horizon) if either is."""
    return None if a is None or b is None else max(a, b)
