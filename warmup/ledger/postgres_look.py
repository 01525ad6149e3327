"""The worker's look at a pool's members before each message (:meth:`Ledger.pool_look`) on
PostgreSQL, in ONE statement outside any transaction, as on SQLite
(:mod:`warmup.ledger.sqlite_look`): whom the message stays with and every member's history.

Read in a transaction of its own, the look was 9 round trips to the server a message (the
pool's check of the connection, BEGIN, whom it stays with, 5 reads of the histories, COMMIT):
now 2 (the check, the statement). One statement is one snapshot, taken when it starts, so what
any process committed before the look is in it, as in the transaction's. PostgreSQL will not
join parts of different column types with UNION ALL: each part is one column of the statement's
one row, its rows as a JSON array (instants as naive UTC text, as SQLite keeps them), given to
:func:`~warmup.ledger.sqlite_look.look_snapshots` as the SQLite statement's rows are. The same
common case only (:func:`~warmup.ledger.sqlite_look.one_statement`, and None from
:func:`read_look` otherwise): the caller reads the look in a transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from warmup.ledger.sqlite_look import look_snapshots, members_of, one_statement
from warmup.ledger.values import Ask, MailboxRow, Parsed, Snapshot, day_start, made_by
from warmup.policy.eras import ERA_KINDS

_COUNTED = "outcome != 'released'"
# An instant as SQLite's text keeps it (sqlite_file.ts), whatever the session's time zone
_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"

_LAST = (
    "(SELECT mailbox_id FROM send WHERE {column} = ANY(%s) AND mailbox_id = ANY(%s) "
    f"AND {_COUNTED} ORDER BY at DESC LIMIT 1)"
)


def _agg(*columns: str) -> str:
    return f"(SELECT json_agg(json_build_array({', '.join(columns)})) "


_MEMOS = _agg("m.id", "m.rev", "w.upto", "w.rev", "w.inputs", "w.state") + (
    "FROM mailbox m LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id = ANY(%s))"
)
# A member's days before the latest today: from its memo's day less its policy's lookback, all
# of them without a memo (a memo not valid: the look is read in a transaction).
_DAYS = _agg("d.mailbox_id", "d.day", "d.sent", "d.hard", "d.soft", "d.block", "d.complaint") + (
    "FROM unnest(%s::int[], %s::int[]) AS a(id, back) JOIN day_stat d ON d.mailbox_id = a.id "
    "AND d.day < %s AND d.day >= coalesce((SELECT w.upto - a.back FROM walk_memo w "
    "WHERE w.mailbox_id = a.id), '-infinity'::date))"
)
_TODAY_LAST = (
    _agg(
        "m.id",
        "(SELECT sent FROM day_stat WHERE mailbox_id = m.id AND day = %s)",
        _TS.format(
            f"(SELECT at FROM send WHERE mailbox_id = m.id AND at <= %s AND {_COUNTED} "
            "ORDER BY at DESC LIMIT 1)"
        ),
        _TS.format(
            f"(SELECT at FROM send WHERE mailbox_id = m.id AND at > %s AND at < %s AND "
            f"{_COUNTED} ORDER BY at LIMIT 1)"
        ),
    )
    + "FROM mailbox m WHERE m.id = ANY(%s))"
)
_BOUNCES = (
    "(SELECT json_agg(json_build_array(mailbox_id, kind, n)) FROM (SELECT mailbox_id, kind, "
    "count(*) AS n FROM bounce WHERE mailbox_id = ANY(%s) AND day = %s AND at <= %s AND counted "
    "GROUP BY mailbox_id, kind) b)"
)
_EVENTS = _agg(  # every policy or cap change, as history.py's _UP_TO_CUT
    "mailbox_id", "id", "kind", _TS.format("at"), _TS.format("until"), "reason"
) + (
    "FROM event WHERE mailbox_id = ANY(%s) AND (at <= %s OR kind IN ("
    + ", ".join(f"'{k}'" for k in ERA_KINDS)
    + ")))"
)
_DOMAINS_TODAY = _agg("d.mailbox_id", "d.domain", "d.sent") + (  # a recipient-domain cap's rollup
    "FROM unnest(%s::int[], %s::date[]) AS a(id, day) JOIN domain_day d "
    "ON d.mailbox_id = a.id AND d.day = a.day AND d.sent > 0)"
)

_BUILT: dict[tuple[bool, bool, bool, bool, int], str] = {}  # the statement by its shape


def read_look(
    conn: Connection,
    threads: list[str],
    recipients: list[str],
    ids: Sequence[int],
    asks: Sequence[tuple[MailboxRow, Ask]] | None,
    as_of: dt.datetime,
    kept: Parsed | None = None,
) -> tuple[int | None, list[Snapshot] | None] | None:
    """:meth:`warmup.ledger.Ledger.pool_look`'s answer, read by one statement on ``conn`` (in
    autocommit the statement is its own snapshot; else its transaction's); None when it
    cannot be (see the module's docstring): the caller reads it in a transaction. ``kept``: as
    :func:`~warmup.ledger.sqlite_look.look_snapshots` takes it."""
    if not one_statement(asks):
        return None
    ids = list(ids)
    params: list[Any] = []
    for values in (threads, recipients):
        if values and ids:
            params += (list(values), ids)
    lookback, zones, today_of = members_of(asks or (), as_of)
    boxes = list(lookback)
    capped: list[tuple[int, dt.date]] = []
    if asks:
        params.append(boxes)
        params += (boxes, list(lookback.values()), max(today_of.values()))
        for tz, group in zones.items():
            today = today_of[tz]
            made, seen = made_by(as_of, tz)
            tomorrow = day_start(today + dt.timedelta(days=1), tz)
            params += (today, seen, made, tomorrow, group, group, today, made)
        params += (boxes, as_of)
        capped = [(b.id, today_of[b.timezone]) for b, a in asks if a.recipient_caps]
        if capped:
            params += ([i for i, _ in capped], [d for _, d in capped])
    shape = (bool(threads and ids), bool(recipients and ids), bool(boxes), bool(capped), len(zones))
    sql = _BUILT.get(shape)
    if sql is None:
        sql = _BUILT[shape] = _statement(*shape)
    thread, recipient, *parts = conn.exec_driver_sql(sql, tuple(params)).one()
    if thread is not None or recipient is not None:
        return int(thread if thread is not None else recipient), None
    if asks is None:
        return None, None
    snaps = _snapshots(parts, len(zones), asks, as_of, today_of, boxes, bool(capped), kept)
    return None if snaps is None else (None, snaps)


def _statement(threads: bool, recipients: bool, boxes: bool, capped: bool, zones: int) -> str:
    """The look's statement: whom it stays with by ``threads`` and by ``recipients`` (each
    asked or not), then with ``boxes`` the members' memos, days, today and bounces of each of
    their ``zones``, events, and with ``capped`` the rollups of those under a recipient-domain
    cap (as :func:`read_look` gives its parameters)."""
    columns = [
        _LAST.format(column=column) if asked else "NULL::int"
        for column, asked in (("message_id", threads), ("recipient", recipients))
    ]
    if boxes:
        columns += (_MEMOS, _DAYS)
        columns += [_TODAY_LAST, _BOUNCES] * zones
        columns.append(_EVENTS)
        if capped:
            columns.append(_DOMAINS_TODAY)
    return "SELECT " + ", ".join(columns)


def _snapshots(
    parts: list[Any],
    zones: int,
    asks: Sequence[tuple[MailboxRow, Ask]],
    as_of: dt.datetime,
    today_of: dict[str, dt.date],
    boxes: list[int],
    capped: bool,
    kept: Parsed | None = None,
) -> list[Snapshot] | None:
    """The members' snapshots from the statement's JSON ``parts``, each part's rows tagged as
    SQLite's statement tags them (:func:`~warmup.ledger.sqlite_look.look_snapshots`)."""

    def rows_of(tag: int, part: Any) -> list[tuple[Any, ...]]:
        if isinstance(part, str):  # a driver that does not parse json
            part = json.loads(part)
        return [(tag, *r) for r in part or ()]

    rows: list[list[Any]] = [[] for _ in range(7)]
    rows[1] = rows_of(1, parts[0])
    rows[2] = rows_of(2, parts[1])
    for k in range(zones):
        rows[3] += rows_of(3, parts[2 + 2 * k])
        rows[4] += rows_of(4, parts[3 + 2 * k])
    rows[5] = rows_of(5, parts[2 + 2 * zones])
    if capped:
        rows[6] = rows_of(6, parts[3 + 2 * zones])
    # Each part's rows as SQLite gives them: memos' rows padded to 8 columns
    rows[1] = [(*r, None) for r in rows[1]]
    rows[5] = [(*r, None) for r in rows[5]]
    return look_snapshots(rows, asks, as_of, today_of, boxes, kept)
