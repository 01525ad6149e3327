"""The quota path's history reads on the ``sqlite3`` driver, shared by
:class:`~warmup.ledger.sqlite_reads.SQLiteReads` and the full SQLite backend: a batch of
mailboxes' :class:`~warmup.ledger.values.Snapshot` (:func:`read_histories`, a handful of
statements per 500 mailboxes; the days of many cold mailboxes as arrays, :func:`as_arrays`,
read by :mod:`warmup.ledger.sqlite_days`), which of them have a valid walk memo
(:func:`prepare`), and the memos kept (:func:`keep_memos`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from warmup.ledger.reads import (
    domain_since,
    events_of,
    memo_since,
    memo_valid,
    sibling_stamp,
    snapshot,
)
from warmup.ledger.sqlite_file import CHUNK, parse_day, parse_ts, qmarks, ts
from warmup.ledger.values import (
    Ask,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    day_start,
    event_row,
    local_day,
    made_by,
)
from warmup.policy.walk import DayCounts, WalkState

_COUNTED = "outcome != 'released'"

# Each mailbox's sends today from the day_stat rollup (bumped and given back in each slot's own
# transaction, as the gate counts them), its last send up to the skew's horizon, and the first
# one stamped later today than the cut (then today's rows are counted up to it): as
# history.py's _ALL_TODAY_LAST. Counting today's rows made ``quota`` slower through a busy day.
_TODAY_LAST = (
    "SELECT m.id, (SELECT sent FROM day_stat WHERE mailbox_id = m.id AND day = ?), "
    f"(SELECT at FROM send WHERE mailbox_id = m.id AND at <= ? AND {_COUNTED} "
    "ORDER BY at DESC LIMIT 1), "
    f"(SELECT at FROM send WHERE mailbox_id = m.id AND at > ? AND at < ? AND {_COUNTED} "
    "ORDER BY at LIMIT 1) FROM mailbox m WHERE m.id IN ({marks})"
)


# Mailboxes without a memo in one batch from which their days are read as arrays: numpy's import
# (~0.1 s) costs more than walking a few mailboxes' years in Python.
ARRAYS_FROM = 32
# ... and from this many days each on average: below, numpy's cost per mailbox (~0.3 ms) is more
# than the Python walk saves (1,000 mailboxes x 60 days: 1.03 s with arrays, 0.80 s without;
# x 365 days: 1.86 s against 2.86 s).
ARRAYS_DAYS = 150


def as_arrays(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], cold: list[int], last_day: str
) -> dict[int, tuple[int, int, int]] | None:
    """Whether the mailboxes ``cold`` of ``asks`` (those without a memo to resume from) are
    read as arrays: enough of them, with long enough histories before ``last_day``; if so,
    the :func:`~warmup.ledger.sqlite_days.day_spans` of their days before it (which
    :func:`~warmup.ledger.sqlite_days.day_table` reads them by), else
    None."""
    if len(cold) < ARRAYS_FROM or not all(ask.memo is not None for _, ask in asks):
        return None
    from warmup.ledger.sqlite_days import day_spans  # numpy's part: only for arrays

    spans = day_spans(cur, cold, last_day, None)
    return spans if sum(n for n, _, _ in spans.values()) >= ARRAYS_DAYS * len(cold) else None


def arrays_worth(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], cold: list[int], last_day: str
) -> bool:
    """Whether :func:`as_arrays` reads ``cold`` as arrays, its rows counted only up to what
    that takes: on the index, a year of a thousand mailboxes' 365,000 entries were half of the
    cost (the spans are read again where the days are, in each child's part)."""
    if len(cold) < ARRAYS_FROM or not all(ask.memo is not None for _, ask in asks):
        return False
    need = ARRAYS_DAYS * len(cold)
    got = cur.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM day_stat WHERE mailbox_id IN ({qmarks(len(cold))}) "
        "AND day < ? LIMIT ?)",
        (*cold, last_day, need),
    ).fetchone()[0]
    return bool(got >= need)


def prepare(cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int:
    """How many of ``asks`` have no valid walk memo (see :meth:`warmup.ledger.Ledger.prepare`);
    and if :func:`read_histories` will read them as arrays, numpy and the walk's stretches
    imported now: forked children that each read a part of them then share the import instead
    of paying it each (~0.1 s). Only the memos' keys are read."""
    today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
    last_day = max(today_of.values(), default=dt.date.min).isoformat()
    count, arrays = 0, False
    for k in range(0, len(asks), CHUNK):
        part = asks[k : k + CHUNK]
        ids = [b.id for b, _ in part]
        found = {
            r[0]: r
            for r in cur.execute(
                "SELECT m.id, m.rev, w.upto, w.rev, w.inputs FROM mailbox m LEFT JOIN walk_memo w "
                f"ON w.mailbox_id = m.id WHERE m.id IN ({qmarks(len(ids))})",
                ids,
            )
        }
        cold = []
        for b, ask in part:
            row = found.get(b.id)
            if row is None:
                continue  # histories() will say it is gone
            stamp = None
            if ask.domain_cap:
                domain = f"%@{b.address.rsplit('@', 1)[1]}"
                stamp = sibling_stamp(cur.execute(SIBLINGS, (domain, b.id)).fetchall())
            _, rev, upto, memo_rev, inputs = row
            if not memo_valid(
                ask, parse_day(upto), memo_rev, rev, inputs, today_of[b.timezone], stamp
            ):
                cold.append(b.id)
        count += len(cold)
        arrays = arrays or arrays_worth(cur, part, cold, last_day)
    if arrays:
        import numpy  # noqa: F401

        import warmup.policy.steady  # noqa: F401
    return count


def read_histories(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
) -> list[Snapshot]:
    """:meth:`warmup.ledger.Ledger.history` of each mailbox of ``asks`` (with what its policy
    asks), a handful of statements per 500 mailboxes, in the transaction ``cur`` is in."""
    out: list[Snapshot] = []
    for k in range(0, len(asks), CHUNK):
        out.extend(_histories(cur, asks[k : k + CHUNK], as_of))
    return out


def _histories(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
) -> list[Snapshot]:
    cut = ts(as_of)
    today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
    zones: dict[str, list[int]] = {}
    for b, _ in asks:
        zones.setdefault(b.timezone, []).append(b.id)
    ids = list({b.id: None for b, _ in asks})
    found = {
        r[0]: r
        for r in cur.execute(
            "SELECT m.id, m.rev, w.upto, w.rev, w.inputs, w.state FROM mailbox m "
            f"LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id IN ({qmarks(len(ids))})",
            ids,
        )
    }
    revs: dict[int, int] = {}
    states: dict[int, WalkState | None] = {}
    since: dict[int, dt.date] = {}
    stamps: dict[int, str] = {}
    for b, ask in asks:
        if ask.domain_cap and b.id not in stamps:
            stamps[b.id] = sibling_stamp(
                cur.execute(SIBLINGS, (f"%@{b.address.rsplit('@', 1)[1]}", b.id)).fetchall()
            )
    for b, ask in asks:
        row = found.get(b.id)
        if row is None:
            raise MailboxNotFound(b.address)
        _, rev, upto, memo_rev, inputs, text = row
        valid = memo_valid(
            ask, parse_day(upto), memo_rev, rev, inputs, today_of[b.timezone], stamps.get(b.id)
        )
        state = WalkState.from_json(text) if valid else None
        revs[b.id], states[b.id] = rev, state
        since[b.id] = memo_since(state, ask)
    days: dict[int, list[DayCounts]] = {i: [] for i in ids}
    last_day = max(today_of.values()).isoformat()
    cold = [i for i in ids if since[i] == dt.date.min]
    # Many mailboxes without a memo (the first question after an upgrade or a policy edit):
    # their days as arrays, walked a stretch at a time in numpy (History.sums).
    sums: dict[int, Callable[[int], Any]] = {}
    spans = as_arrays(cur, asks, cold, last_day)
    if spans is not None:
        from warmup.ledger.sqlite_days import array_days

        sums = array_days(cur, asks, cold, today_of, days, spans)
        cold = []
    for group in ([i for i in ids if since[i] != dt.date.min], cold):
        if not group:
            continue
        first = min(since[i] for i in group).isoformat()
        # a year of a thousand mailboxes without memos is 365,000 rows: one lookup per column
        date, counts = dt.date.fromisoformat, DayCounts
        for r in cur.execute(
            "SELECT mailbox_id, day, sent, hard, soft, block, complaint FROM day_stat "
            f"WHERE mailbox_id IN ({qmarks(len(group))}) AND day < ? AND day >= ? "
            "ORDER BY mailbox_id, day",
            (*group, last_day, first),
        ):
            days[r[0]].append(counts(date(r[1]), r[2], r[3], r[4], r[5], r[6]))
    today_sent: dict[int, tuple[int, dt.datetime | None]] = {}
    kinds: dict[int, dict[str, int]] = {i: {} for i in ids}
    recounted: set[int] = set()
    for tz, group in zones.items():
        today = today_of[tz]
        marks = qmarks(len(group))
        start = ts(day_start(today, tz))
        made, seen = made_by(as_of, tz)  # rows a clock a little ahead stamped: made
        tomorrow = ts(day_start(today + dt.timedelta(days=1), tz))
        recount = []
        for mailbox_id, n, at, later in cur.execute(
            _TODAY_LAST.format(marks=marks),
            (today.isoformat(), ts(seen), ts(made), tomorrow, *group),
        ):
            if later is not None:  # sends stamped after the cut today: counted up to it
                n = 0
                recount.append(mailbox_id)
            today_sent[mailbox_id] = (n or 0, parse_ts(at))
        if recount:
            for mailbox_id, n in cur.execute(
                f"SELECT mailbox_id, count(*) FROM send WHERE mailbox_id IN "
                f"({qmarks(len(recount))}) AND at >= ? AND at <= ? AND {_COUNTED} "
                "GROUP BY mailbox_id",
                (*recount, start, ts(made)),
            ):
                today_sent[mailbox_id] = (n, today_sent[mailbox_id][1])
            recounted.update(recount)
        for mailbox_id, kind, n in cur.execute(
            f"SELECT mailbox_id, kind, count(*) FROM bounce WHERE mailbox_id IN ({marks}) "
            "AND day = ? AND at <= ? AND counted = 1 GROUP BY mailbox_id, kind",
            (*group, today.isoformat(), ts(made)),
        ):
            kinds[mailbox_id][kind] = n
    events: dict[int, list[Any]] = {i: [] for i in ids}
    for mailbox_id, id_, kind, at, until, reason in cur.execute(
        "SELECT mailbox_id, id, kind, at, until, reason FROM event "
        f"WHERE mailbox_id IN ({qmarks(len(ids))}) AND (at <= ? OR kind IN ('policy', 'cap')) "
        "ORDER BY mailbox_id, at, id",  # every policy or cap change, as history.py's _UP_TO_CUT
        (*ids, cut),
    ):
        events[mailbox_id].append(event_row(mailbox_id, id_, kind, at, until, reason))
    domain_sent: dict[tuple[str, dt.datetime], int] = {}
    out = []
    cut_at = parse_ts(cut)
    assert cut_at is not None
    for b, ask in asks:
        tz, state = b.timezone, states[b.id]
        today = today_of[tz]
        start_at = day_start(today, tz)
        dsent, ddays = None, None
        if ask.domain_cap:
            key = (b.address.rsplit("@", 1)[1], start_at)
            if key not in domain_sent:
                domain_sent[key] = domain_sent_today(cur, b, today, made_by(as_of, tz)[0])
            dsent = domain_sent[key]
            ddays = {
                dt.date.fromisoformat(d): n
                for d, n in cur.execute(
                    DOMAIN_DAYS,
                    (f"%@{key[0]}", b.id, since_of(state), today.isoformat()),
                )
            }
        per_domain: dict[str, int] = {}
        if ask.recipient_caps and b.id not in recounted:  # the rollup's (see _TODAY_LAST)
            per_domain = dict(cur.execute(_DOMAINS_TODAY, (b.id, today.isoformat())).fetchall())
        elif ask.recipient_caps:  # sends stamped after the cut today: the rows up to it
            per_domain = dict(
                cur.execute(
                    "SELECT lower(substr(recipient, instr(recipient, '@') + 1)) AS d, count(*) "
                    f"FROM send WHERE mailbox_id = ? AND at >= ? AND at <= ? AND {_COUNTED} "
                    "GROUP BY d",
                    (b.id, ts(start_at), ts(made_by(as_of, tz)[0])),
                ).fetchall()
            )
        box_days = [d for d in days[b.id] if since[b.id] <= d.day < today]
        out.append(
            snapshot(
                b,
                ask,
                today,
                revs[b.id],
                state,
                box_days,
                today_sent.get(b.id, (0, None)),
                kinds[b.id],
                events_of(events[b.id], state, tz, cut_at),
                dsent,
                per_domain,
                sums.get(b.id),
                ddays,
                stamps.get(b.id),
            )
        )
    return out


# The mailbox among some with the latest counted send to one of some recipients (or of one of
# some Message-IDs): OutboxStore.last_sender / thread_sender, on the driver for the worker's look
# at a pool before each message (read_stays).
_LAST_OF = (
    "SELECT mailbox_id FROM send WHERE {column} IN ({values}) AND mailbox_id IN ({ids}) "
    f"AND {_COUNTED} ORDER BY at DESC LIMIT 1"
)


def read_stays(
    cur: sqlite3.Cursor, threads: list[str], recipients: list[str], ids: Sequence[int]
) -> int | None:
    """The mailbox among ``ids`` that last sent one of the Message-IDs ``threads``, else the
    one that last mailed one of ``recipients``, else None (see
    :meth:`warmup.ledger.Ledger.pool_look`)."""
    for column, values in (("message_id", threads), ("recipient", recipients)):
        if values and ids:
            sql = _LAST_OF.format(column=column, values=qmarks(len(values)), ids=qmarks(len(ids)))
            row = cur.execute(sql, (*values, *ids)).fetchone()
            if row is not None:
                return int(row[0])
    return None


# What the other mailboxes of a domain sent on each day from a day to before another (the days
# a walk under a domain cap closes: History.domain_days).
DOMAIN_DAYS = (
    "SELECT day, sum(sent) FROM day_stat WHERE mailbox_id IN (SELECT id FROM mailbox "
    "WHERE address LIKE ?) AND mailbox_id != ? AND day >= ? AND day < ? AND sent > 0 "
    "GROUP BY day"
)


# A mailbox's sends of a day per recipient domain (recipient-domain caps), from the domain_day
# rollup (bumped with each send, as day_stat); those given back leave a 0.
_DOMAINS_TODAY = "SELECT domain, sent FROM domain_day WHERE mailbox_id = ? AND day = ? AND sent > 0"

# Today's sends of a domain's mailboxes (a domain cap), as the rows stamped from the asking
# mailbox's local midnight up to :cut give them: from the day_stat rollup when every mailbox of
# the domain keeps its zone (their local day is its day) and none has a counted send stamped
# after :after and before :before (where the rows and the rollup's day part: after the cut,
# today; or from tomorrow on, for the gate's count with no end); else counting the rows. Counting
# them read every send of the domain's day: the gate and quota slowed down through a busy day.
_DOMAIN_IDS = "(SELECT id FROM mailbox WHERE address LIKE :domain)"
DOMAIN_SENT = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM mailbox WHERE address LIKE :domain "
    f"AND timezone != :tz) OR EXISTS (SELECT 1 FROM send WHERE mailbox_id IN {_DOMAIN_IDS} "
    f"AND at > :after AND at < :before AND {_COUNTED}) "
    f"THEN (SELECT count(*) FROM send WHERE mailbox_id IN {_DOMAIN_IDS} AND at >= :start "
    f"AND at <= :cut AND {_COUNTED}) "
    f"ELSE (SELECT coalesce(sum(sent), 0) FROM day_stat WHERE mailbox_id IN {_DOMAIN_IDS} "
    "AND day = :today) END"
)
_NO_END = "9999-12-31 23:59:59.999999"


def domain_sent_today(
    cur: sqlite3.Cursor, box: MailboxRow, today: dt.date, cut: dt.datetime | None
) -> int:
    """The sends of every mailbox of ``box``'s domain stamped from ``box``'s local midnight
    starting ``today`` up to ``cut`` (None: with no end, as the gate counts them)."""
    tz = box.timezone
    tomorrow = day_start(today + dt.timedelta(days=1), tz)
    if cut is None:  # the rows from tomorrow on are the rollup's difference
        after, before, end = ts(tomorrow - dt.timedelta(microseconds=1)), _NO_END, _NO_END
    else:
        after, before, end = ts(cut), ts(tomorrow), ts(cut)
    args = {
        "domain": f"%@{box.address.rsplit('@', 1)[1]}",
        "tz": tz,
        "after": after,
        "before": before,
        "start": ts(day_start(today, tz)),
        "cut": end,
        "today": today.isoformat(),
    }
    return int(cur.execute(DOMAIN_SENT, args).fetchone()[0])


# The other mailboxes of a domain with their revisions, in id order (reads.sibling_stamp).
SIBLINGS = "SELECT id, rev FROM mailbox WHERE address LIKE ? AND id != ? ORDER BY id"


def since_of(state: WalkState | None) -> str:
    return domain_since(state).isoformat()


# Stored only while the mailbox is at the revision the memo was computed at, and only over an
# older memo or one of other inputs or another revision.
_KEEP_MEMO = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) "
    "SELECT ?, ?, ?, ?, ? WHERE (SELECT rev FROM mailbox WHERE id = ?) = ? "
    "ON CONFLICT (mailbox_id) DO UPDATE SET upto = excluded.upto, rev = excluded.rev, "
    "inputs = excluded.inputs, state = excluded.state "
    "WHERE walk_memo.rev != excluded.rev OR walk_memo.inputs != excluded.inputs "
    "OR walk_memo.upto < excluded.upto"
)


def keep_memos(
    cur: sqlite3.Cursor,
    memos: Sequence[tuple[MailboxRow, WalkState, str, int]],
) -> int:
    """Store each ``(box, state, inputs, rev)`` as the mailbox's walk memo where it may be (see
    :meth:`warmup.ledger.Ledger.keep_memos`), in the write transaction ``cur`` is in; how many
    were stored."""
    stored = 0
    for box, state, inputs, rev in memos:
        cur.execute(
            _KEEP_MEMO,
            (box.id, state.upto.isoformat(), rev, inputs, state.to_json(), box.id, rev),
        )
        stored += max(cur.rowcount, 0)
    return stored


def due_memos(
    memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]],
    real_today: Callable[[str], dt.date],
) -> list[tuple[MailboxRow, WalkState, str, int]]:
    """The memos that may be kept: those before yesterday by this host's clock."""
    return [
        (box, state, inputs, rev)
        for box, state, inputs, rev in memos
        if state is not None and state.upto < real_today(box.timezone)
    ]
