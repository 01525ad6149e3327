"""The worker's look at a pool's members before each message (:meth:`Ledger.pool_look`) on the
``sqlite3`` driver, in ONE statement outside any transaction: whom the message stays with and
every member's history, as :func:`~warmup.ledger.sqlite_history.read_histories` reads them.

Read in a transaction of its own, the look was 8 of a pool's ~28 statements a message (BEGIN,
whom it stays with, 5 reads of the histories, COMMIT) against one mailbox's ~19: a pool of 3
cost ~1.4x one mailbox. One statement is one snapshot, taken when it starts, so what any
process committed before the look is in it, as it was in the transaction's: the parts are
joined with UNION ALL, each row tagged with its part, and the days' first day (which the
members' walk memos decide) is bounded in SQL from the memos in the same statement.

Only the common case is read so: every member with a policy whose walk can resume from a memo,
none under a domain cap (its siblings' stamps and days), the members' memos valid, no more
than :data:`MOST_MEMBERS` of them, and no send of today stamped after the cut (then today's
rows are counted up to it). Otherwise :func:`read_look` says so (None) and the caller reads
the look as before, in a transaction.
The worker asks about its now as a :class:`~warmup.ledger.Live` instant: the cut of today is
then the end of the local day, as the gate counts it (:func:`~warmup.ledger.values.made_by`).
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from warmup.ledger.reads import events_of, memo_since, memo_valid, snapshot
from warmup.ledger.sqlite_file import parse_day, parse_ts, qmarks, ts
from warmup.ledger.sqlite_history import ARRAYS_FROM
from warmup.ledger.values import (
    Ask,
    Live,
    MailboxRow,
    Parsed,
    Snapshot,
    day_start,
    event_row,
    local_day,
    plain,
    seen_by,
)
from warmup.policy.walk import DayCounts, WalkState

_COUNTED = "outcome != 'released'"
_NULLS = ", NULL" * 5

# Whom a message stays with: the member that last sent one of the Message-IDs its thread names,
# and the one that last mailed one of its recipients (sqlite_history._LAST_OF). The members are
# named ``mailbox_id = ? OR ...`` (:func:`_among`): ``mailbox_id IN (?, ?, ?)``, a filter on
# the rows the recipient's index finds, built a temporary table of the ids at every look (more
# than 2 values), the one left in the statement: ~25% of its time for a pool of 3.
_LAST = (
    "(SELECT mailbox_id FROM send WHERE {column} IN ({values}) AND {among} "
    f"AND {_COUNTED} ORDER BY at DESC LIMIT 1)"
)
# Each part's rows, 8 columns: the part's tag, then its own (NULLs after). Each part of a
# member's history is asked of one member (``= ?``), the parts joined by UNION ALL: asked of all
# of them at once (``IN (?, ?, ?)``), each part built a temporary table of the ids, a b-tree
# opened and closed at every look (~20-26k instructions a part for a pool of 3).
_MEMO = (
    "SELECT 1, m.id, m.rev, w.upto, w.rev, w.inputs, w.state, NULL FROM mailbox m "
    "LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id = ?"
)
# A member's days before the latest today: from its memo's day less its policy's lookback, all
# of them without a memo (a memo not valid: the look is read in a transaction).
_DAYS = (
    "SELECT 2, mailbox_id, day, sent, hard, soft, block, complaint FROM day_stat "
    "WHERE mailbox_id = ? AND day < ? AND day >= coalesce((SELECT date(upto, ?) "
    "FROM walk_memo WHERE mailbox_id = ?), '')"
)
_TODAY_LAST = (
    "SELECT 3, m.id, (SELECT sent FROM day_stat WHERE mailbox_id = m.id AND day = ?), "
    f"(SELECT at FROM send WHERE mailbox_id = m.id AND at <= ? AND {_COUNTED} "
    "ORDER BY at DESC LIMIT 1), "
    f"(SELECT at FROM send WHERE mailbox_id = m.id AND at > ? AND at < ? AND {_COUNTED} "
    "ORDER BY at LIMIT 1), NULL, NULL, NULL FROM mailbox m WHERE m.id = ?"
)
# Asked live (the worker's look), today counts to the end of the local day: no send of today
# is stamped after that cut (the instant before the next day's start, as stored to the
# microsecond), so the look of the sends after it is left out (~21k instructions a look of a
# pool of 3, a tenth of its statement).
_TODAY_LAST_LIVE = (
    "SELECT 3, m.id, (SELECT sent FROM day_stat WHERE mailbox_id = m.id AND day = ?), "
    f"(SELECT at FROM send WHERE mailbox_id = m.id AND at <= ? AND {_COUNTED} "
    "ORDER BY at DESC LIMIT 1), NULL, NULL, NULL, NULL FROM mailbox m WHERE m.id = ?"
)
_BOUNCES = (
    "SELECT 4, mailbox_id, kind, count(*), NULL, NULL, NULL, NULL FROM bounce "
    "WHERE mailbox_id = ? AND day = ? AND at <= ? AND counted = 1 GROUP BY kind"
)
_EVENTS = (  # every policy or cap change, as history.py's _UP_TO_CUT
    "SELECT 5, mailbox_id, id, kind, at, until, reason, NULL FROM event "
    "WHERE mailbox_id = ? AND (at <= ? OR kind IN ('policy', 'cap'))"
)
_DOMAINS_TODAY = (  # a recipient-domain cap's rollup (sqlite_history._DOMAINS_TODAY)
    "SELECT 6, mailbox_id, domain, sent, NULL, NULL, NULL, NULL FROM domain_day "
    "WHERE mailbox_id = ? AND day = ? AND sent > 0"
)

_BUILT: dict[tuple[Any, ...], str] = {}  # the statement by its shape
# The most members one statement reads: SQLite takes at most 500 SELECTs in a compound one
# (SQLITE_MAX_COMPOUND_SELECT), and it has 5 a member and one more a member under a
# recipient-domain cap. A larger pool's look is read in a transaction.
MOST_MEMBERS = 80


def one_statement(asks: Sequence[tuple[MailboxRow, Ask]] | None) -> bool:
    """Whether :func:`read_look` can read the histories of ``asks`` (None: none wanted)."""
    return asks is None or not any(a.domain_cap for _, a in asks)


def read_look(
    cur: sqlite3.Cursor,
    threads: list[str],
    recipients: list[str],
    ids: Sequence[int],
    asks: Sequence[tuple[MailboxRow, Ask]] | None,
    as_of: dt.datetime,
    kept: Parsed | None = None,
) -> tuple[int | None, list[Snapshot] | None] | None:
    """:meth:`warmup.ledger.Ledger.pool_look`'s answer, read by one statement on ``cur`` (in
    no transaction: the statement is its own snapshot); None when it cannot be (see the
    module's docstring): the caller reads it in a transaction. ``kept``: as
    :func:`look_snapshots` takes it."""
    if not one_statement(asks) or asks is not None and len(asks) > MOST_MEMBERS:
        return None
    # The worker asks as of a Live instant: its own arithmetic is Python's (its day, its text,
    # its sum with the skew were ~40% of the look's own work); the same instant, plain, here
    live, as_of = isinstance(as_of, Live), plain(as_of)
    ids = list(ids)
    params: list[Any] = []
    for values in (threads, recipients):
        if values and ids:
            params += values
            params += ids
    lookback, zones, today_of = members_of(asks or (), as_of)
    boxes = list(lookback)
    capped = 0
    if asks:
        cut = ts(as_of)
        params += boxes
        last_day = max(today_of.values()).isoformat()
        for i, n in lookback.items():
            params += (i, last_day, f"-{n} days", i)
        each = []  # each member with its zone's today and the bounds of its last, next send
        seen = ts(seen_by(as_of))
        for tz, group in zones.items():
            today, end, tomorrow = day_bounds(tz, today_of[tz])
            # made_by's (made, seen) as stored: the texts order as the instants
            bounds = (today, seen, end if live else min(seen, end), tomorrow)
            each += [(i, bounds) for i in group]
        for i, bounds in each:
            params += (bounds[0], bounds[1], i) if live else (*bounds, i)
        for i, (today, _, made_at, _) in each:
            params += (i, today, made_at)
        for i in boxes:
            params += (i, cut)
        for b, a in asks:
            if a.recipient_caps:
                params += (b.id, today_of[b.timezone].isoformat())
                capped += 1
    shape = (
        len(threads) if ids else 0,
        len(recipients) if ids else 0,
        len(ids),
        len(boxes),
        capped,
        live,
    )
    sql = _BUILT.get(shape)
    if sql is None:
        if len(_BUILT) > 256:
            _BUILT.clear()
        sql = _BUILT[shape] = _statement(shape)
    rows: list[list[Any]] = [[] for _ in range(7)]
    for r in cur.execute(sql, params):
        rows[r[0]].append(r)
    ((_, thread, recipient, *_),) = rows[0]
    if thread is not None or recipient is not None:
        return int(thread if thread is not None else recipient), None
    if asks is None:
        return None, None
    snaps = look_snapshots(rows, asks, as_of, today_of, boxes, kept)
    return None if snaps is None else (None, snaps)


def _statement(shape: tuple[int, ...]) -> str:
    """The look's statement for its ``shape``: the numbers of thread Message-IDs, recipients,
    members (for whom it stays with), members asked, members under a recipient-domain cap,
    and whether it is asked live."""
    threads, recipients, ids, boxes, capped, live = shape
    stays = [
        _LAST.format(column=column, values=qmarks(n), among=_among(ids)) if n else "NULL"
        for column, n in (("message_id", threads), ("recipient", recipients))
    ]
    parts = [f"SELECT 0, {stays[0]}, {stays[1]}{_NULLS}"]
    for each in (_MEMO, _DAYS, _TODAY_LAST_LIVE if live else _TODAY_LAST, _BOUNCES, _EVENTS):
        parts += [each] * boxes
    parts += [_DOMAINS_TODAY] * capped
    return " UNION ALL ".join(parts)


def _among(n: int) -> str:
    """The condition that a send's ``mailbox_id`` is one of ``n`` members (as many parameters),
    without a temporary table: ``=`` terms joined by OR, up to :data:`MOST_MEMBERS` (SQLite
    nests an expression at most 1,000 deep); an IN list past them (a first look at a larger
    pool: once, until its members are kept)."""
    if n > MOST_MEMBERS:
        return f"mailbox_id IN ({qmarks(n)})"
    return "(" + " OR ".join(["mailbox_id = ?"] * n) + ")"


@functools.lru_cache(maxsize=64)
def day_bounds(tz: str, today: dt.date) -> tuple[str, str, str]:
    """Zone ``tz``'s local day ``today`` as the look asks about it, as stored: the day, its last
    instant (:func:`~warmup.ledger.values.made_by`'s end of today) and the next day's start.
    The same for every look of the day: worked out at each, they were ~6% of its Python."""
    tomorrow = day_start(today + dt.timedelta(days=1), tz)
    return today.isoformat(), ts(tomorrow - dt.timedelta(microseconds=1)), ts(tomorrow)


def members_of(
    asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
) -> tuple[dict[int, int], dict[str, list[int]], dict[str, dt.date]]:
    """What the one statement asks of ``asks``' members (each once, in order): each one's
    lookback in days (its memo's, 0 without one), the members by time zone, and each zone's
    local day at ``as_of``. Shared with :mod:`warmup.ledger.postgres_look`."""
    lookback: dict[int, int] = {}
    zones: dict[str, list[int]] = {}
    for b, a in asks:
        if b.id not in lookback:
            lookback[b.id] = a.memo[1] if a.memo else 0
            zones.setdefault(b.timezone, []).append(b.id)
    return lookback, zones, {tz: local_day(as_of, tz) for tz in zones}


def look_snapshots(
    rows: list[list[Any]],
    asks: Sequence[tuple[MailboxRow, Ask]],
    as_of: dt.datetime,
    today_of: dict[str, dt.date],
    boxes: list[int],
    kept: Parsed | None = None,
) -> list[Snapshot] | None:
    """The members' snapshots from the statement's ``rows`` by part, as
    :func:`~warmup.ledger.sqlite_history.read_histories` builds them; None when the rows say
    the look must be read in a transaction (a member without a valid memo, or removed, or a
    send of today stamped after the cut).

    ``kept``: what the last looks built, by member. A member whose rows, read afresh by this
    statement, equal those its kept snapshot was built from (for the same row and ask objects,
    on the same local day, the same back-offs running at the cut: all a snapshot is made of)
    gets that snapshot again, not parsed anew: of a pool's members before each message, only
    the one that sent (or that another process wrote to) has new rows."""
    # as stored (microseconds, UTC): the instant itself when it is a plain one in UTC already
    if type(as_of) is dt.datetime and as_of.tzinfo is dt.UTC:
        cut_at: dt.datetime | None = as_of
    else:
        cut_at = parse_ts(ts(as_of))
    assert cut_at is not None
    mine: dict[int, list[Any]] = {i: [] for i in boxes}
    for part in rows[1:]:
        for r in part:
            mine[r[1]].append(r)
    out: list[Snapshot] = []
    arrays = 0
    for b, ask in asks:
        own, today = mine[b.id], today_of[b.timezone]
        running = tuple(
            r[5] is not None and _after(r[5], cut_at)
            for r in own
            if r[0] == 5 and r[3] == "throttle"
        )
        k = None if kept is None else kept.get(b.id)
        if k is None or not (
            k[0] is b and k[1] is ask and k[2] == today and k[4] == running and k[3] == own
        ):
            got = _member(b, ask, own, today, cut_at)
            if got is None:
                return None
            k = (b, ask, today, own, running, *got)
            if kept is not None:
                kept[b.id] = k
        out.append(k[5])
        arrays += k[6] == dt.date.min
    if arrays >= ARRAYS_FROM:
        return None  # read as arrays (History.sums)
    return out


def _after(at: Any, cut_at: dt.datetime) -> bool:
    """Whether the instant ``at`` as the statement gives it is after ``cut_at``."""
    when = parse_ts(at)
    return when is not None and when > cut_at


def _member(
    b: MailboxRow, ask: Ask, own: list[Any], today: dt.date, cut_at: dt.datetime
) -> tuple[Snapshot, dt.date] | None:
    """The snapshot of member ``b`` from its rows ``own`` (every part's, tagged) and the first
    day its history holds; None when the look must be read in a transaction (as
    :func:`look_snapshots` says)."""
    memo = today_row = None
    days: list[Any] = []
    kinds: dict[str, int] = {}
    rows5: list[Any] = []
    per_domain: dict[str, int] = {}
    for r in own:
        tag = r[0]
        if tag == 1:
            memo = r
        elif tag == 2:
            days.append(r)
        elif tag == 3:
            today_row = r
        elif tag == 4:
            kinds[r[2]] = r[3]
        elif tag == 5:
            rows5.append(r)
        else:
            per_domain[r[2]] = r[3]
    if memo is None:  # removed: the transaction's read says so
        return None
    _, _, rev, upto, memo_rev, inputs, text, _ = memo
    day = parse_day(upto)
    valid = memo_valid(ask, day, memo_rev, rev, inputs, today)
    state = WalkState.from_json(text) if valid else None
    if day is not None and (state is None or state.upto != day):
        return None  # its days were read from the memo's: all of them are wanted
    since = memo_since(state, ask)
    date, counts = dt.date.fromisoformat, DayCounts
    held = [counts(date(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in sorted(days, key=_day)]
    today_sent: tuple[int, dt.datetime | None] = (0, None)
    if today_row is not None:
        _, _, n, at, later, *_ = today_row
        if later is not None:  # sends stamped after the cut today: counted up to it
            return None
        today_sent = (n or 0, parse_ts(at))
    events = [
        event_row(mailbox_id, id_, kind, at, until, reason)
        for _, mailbox_id, id_, kind, at, until, reason, _ in sorted(rows5, key=_event_order)
    ]
    snap = snapshot(
        b,
        ask,
        today,
        rev,
        state,
        [d for d in held if since <= d.day < today],
        today_sent,
        kinds,
        events_of(events, state, b.timezone, cut_at),
        None,
        per_domain if ask.recipient_caps else {},
    )
    return snap, since


def _day(r: Any) -> Any:
    return r[2]


def _event_order(r: Any) -> tuple[Any, Any]:
    return (r[4] or "", r[2])
