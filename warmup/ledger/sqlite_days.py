"""The ``day_stat`` rollup of many mailboxes read as numpy arrays (:func:`day_table`) for the
quota path's histories: when enough mailboxes without a walk memo have long enough histories
(:func:`warmup.ledger.sqlite_history.as_arrays`), their day sums are computed together
(:func:`array_days`) instead of walked in Python. Imported, as numpy is, only then.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from typing import Any

from warmup.ledger.sqlite_file import qmarks
from warmup.ledger.values import Ask, MailboxRow
from warmup.policy.walk import GROWTH_DAYS, DayCounts

_EPOCH = dt.date(1970, 1, 1).toordinal()


def array_days(
    cur: sqlite3.Cursor,
    asks: Sequence[tuple[MailboxRow, Ask]],
    group: list[int],
    today_of: dict[str, dt.date],
    days: dict[int, list[DayCounts]],
    spans: dict[int, tuple[int, int, int]],
) -> dict[int, Callable[[int], Any]]:
    """The days before today of the mailboxes ``group`` (none with a memo) as arrays: for each,
    a function of the health window's length giving its day sums
    (:class:`_Batch`); and in ``days`` the last of them as
    :class:`DayCounts`, those today's verdict reads (the policy's look-back and the growth
    limit's week)."""
    import numpy as np

    table = day_table(cur, group, max(today_of.values()).isoformat(), spans=spans)
    box, ordinals, matrix = table[:, 0], table[:, 1] + _EPOCH, table[:, 2:]
    cuts = np.flatnonzero(box[1:] != box[:-1]) + 1
    where = {int(box[a]): (a, b) for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(box)])}
    out: dict[int, Callable[[int], Any]] = {}
    members = set(group)
    batch = _Batch()
    for b, ask in asks:
        if b.id not in members or b.id in out:
            continue
        assert ask.memo is not None
        a, z = where.get(b.id, (0, 0))
        today = today_of[b.timezone]
        z = a + int(np.searchsorted(ordinals[a:z], today.toordinal()))  # before its own today
        out[b.id] = partial(batch.sums, batch.add(ordinals[a:z], matrix[a:z], b.started))
        tail = a + int(
            np.searchsorted(ordinals[a:z], today.toordinal() - ask.memo[1] - GROWTH_DAYS - 1)
        )
        fromordinal = dt.date.fromordinal
        days[b.id] = [
            DayCounts(fromordinal(o), *row)
            for o, row in zip(ordinals[tail:z].tolist(), matrix[tail:z].tolist())
        ]
    return out


_DAY_OF = "CAST(julianday({}) - 2440587.5 AS INTEGER)"  # days since 1970-01-01
_DAY = _DAY_OF.format("day")


def day_table(
    cur: sqlite3.Cursor,
    group: Sequence[int],
    before: str | None = None,
    since: str | None = None,
    spans: dict[int, tuple[int, int, int]] | None = None,
) -> Any:
    """The rollup rows of the mailboxes ``group`` (days from ``since`` and before ``before``,
    ISO text, each if given) as an int64 matrix of (mailbox id, days since 1970-01-01, sent,
    hard, soft, block, complaint), by mailbox and day.

    A row per mailbox, each column of its days one text of numbers that numpy parses: the
    driver's cost per value (a Python int, a tuple per row) was most of a cold year's read
    (182,500 rows x 7 for 500 mailboxes). The columns' lists come from one aggregate step each,
    so their values line up row for row. A mailbox with a row for every day from its first to
    its last (most of them: a mailbox sends every day its window opens) is read without its
    days, which its first day and its count imply (the days' column was a quarter of the read's
    cost), where the aggregate is seen to visit each mailbox's rows in the primary key's order
    (:func:`_in_key_order`); the others' days are read and sorted here, whatever order the rows
    came in. ``spans``: :func:`day_spans` of ``group`` with these bounds, if the caller has it."""
    import numpy as np

    if spans is None:
        spans = day_spans(cur, group, before, since)
    dense = [i for i in group if i in spans and spans[i][0] == spans[i][2] - spans[i][1] + 1]
    if not dense or not _in_key_order(cur, dense, before, since):
        dense = []
    kept = set(dense)
    parts = [
        _concatenated(cur, part, before, since, spans if part is dense else None)
        for part in (dense, [i for i in group if i not in kept])
        if part
    ]
    if any(part is None for part in parts):
        # not all integers (SQLite types values, not columns), or rows written between the
        # two statements: as the driver gives them
        return day_rows(cur, group, before, since)
    if not parts:
        return np.empty((0, 7), np.int64)
    table = parts[0] if len(parts) == 1 else np.concatenate(parts)
    key = table[:, 0:2]
    n = len(table)
    if (
        n > 1
        and not (
            (key[1:, 0] > key[:-1, 0]) | ((key[1:, 0] == key[:-1, 0]) & (key[1:, 1] > key[:-1, 1]))
        ).all()
    ):
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
    return table


def day_spans(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None, since: str | None
) -> dict[int, tuple[int, int, int]]:
    """``{mailbox id: (rows, first day, last day)}`` of the mailboxes ``group`` that have rows
    (days since 1970-01-01), each found on the primary key's index: a count of its entries and
    two seeks per mailbox, not a pass over the rows."""
    where, args = "mailbox_id = m.column1", []
    for test, value in (("day < ?", before), ("day >= ?", since)):
        if value is not None:
            where += f" AND {test}"
            args.append(value)
    of = f"FROM day_stat WHERE {where}"
    rows = cur.execute(
        f"SELECT m.column1, (SELECT count(*) {of}), (SELECT {_DAY_OF.format('min(day)')} {of}), "
        f"(SELECT {_DAY_OF.format('max(day)')} {of}) "
        f"FROM (VALUES {','.join(['(?)'] * len(group))}) m",
        (*args, *args, *args, *group),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows if r[1]}


# the primary key: the table itself since m018 (WITHOUT ROWID), its index before
_BY_KEY = (
    "SEARCH day_stat USING PRIMARY KEY (mailbox_id=?",
    "SEARCH day_stat USING INDEX sqlite_autoindex_day_stat_1 (mailbox_id=?",
)


def _in_key_order(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None, since: str | None
) -> bool:
    """Whether :func:`_concatenated`'s statement for ``group`` visits each mailbox's rows on the
    primary key (mailbox, day) with nothing sorted after: its lists are then in day order."""
    where, args = _day_where(group, before, since)
    plan = cur.execute(f"EXPLAIN QUERY PLAN {_concat_sql(where, False)}", args).fetchall()
    return len(plan) == 1 and str(plan[0][3]).startswith(_BY_KEY)


def _concat_sql(where: str, days: bool) -> str:
    return (
        f"SELECT mailbox_id, count(*), {f'group_concat({_DAY}), ' if days else ''}"
        "group_concat(sent), group_concat(hard), group_concat(soft), group_concat(block), "
        f"group_concat(complaint) FROM day_stat WHERE {where} GROUP BY mailbox_id "
        "ORDER BY mailbox_id"
    )


def _concatenated(
    cur: sqlite3.Cursor,
    group: Sequence[int],
    before: str | None,
    since: str | None,
    spans: dict[int, tuple[int, int, int]] | None,
) -> Any:
    """:func:`day_table`'s matrix of ``group`` from its one aggregate statement; with ``spans``
    (every mailbox of ``group`` in it, its days without a gap), the days not read but numbered
    from each mailbox's first. None if a value is not an integer, or a mailbox's rows are not
    those ``spans`` counted."""
    import numpy as np

    where, args = _day_where(group, before, since)
    groups = cur.execute(_concat_sql(where, spans is None), args).fetchall()
    lengths = [g[1] for g in groups]
    n = sum(lengths)
    table = np.empty((n, 7), np.int64)
    ids = [g[0] for g in groups]
    table[:, 0] = np.repeat(np.array(ids, np.int64), lengths)
    if spans is not None:
        if len(ids) != len(group) or any(
            spans[i][0] != g[1] for i, g in zip(ids, groups, strict=True)
        ):
            return None
        starts = np.zeros(len(groups) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        firsts = np.array([spans[i][1] for i in ids], np.int64)
        table[:, 1] = np.arange(n) - np.repeat(starts[:-1] - firsts, lengths)
    # the table's columns read, from the third of each row on (the day's first if read)
    for k, c in enumerate(range(1 if spans is None else 2, 7)):
        try:
            column = np.fromstring(",".join([g[2 + k] for g in groups]), np.int64, sep=",")
        except ValueError:
            return None
        if len(column) != n:
            return None
        table[:, c] = column
    return table


def day_rows(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None = None, since: str | None = None
) -> Any:
    """:func:`day_table` a row at a time."""
    import numpy as np

    where, args = _day_where(group, before, since)
    raw = cur.execute(
        f"SELECT mailbox_id, {_DAY}, sent, hard, soft, block, complaint FROM day_stat "
        f"WHERE {where} ORDER BY mailbox_id, day",
        args,
    ).fetchall()
    # numpy reads the ints one after the other twice as fast as it takes a list of tuples
    return np.fromiter(chain.from_iterable(raw), np.int64, len(raw) * 7).reshape(len(raw), 7)


def _day_where(
    group: Sequence[int], before: str | None, since: str | None
) -> tuple[str, tuple[Any, ...]]:
    where = [f"mailbox_id IN ({qmarks(len(group))})"]
    args: list[Any] = [*group]
    for test, value in (("day < ?", before), ("day >= ?", since)):
        if value is not None:
            where.append(test)
            args.append(value)
    return " AND ".join(where), tuple(args)


class _Batch:
    """Day sums of many mailboxes, computed together (:func:`warmup.policy.steady.batch_sums`)
    when the first of them is asked for, for every mailbox not done yet with that health
    window's length (usually one for all: every preset's is 7 days)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, Any, dt.date | None]] = []
        self.done: dict[tuple[int, int], Any] = {}

    def add(self, ordinals: Any, counts: Any, started: dt.date | None) -> int:
        self.rows.append((ordinals, counts, started))
        return len(self.rows) - 1

    def sums(self, k: int, window_days: int) -> Any:
        got = self.done.get((k, window_days))
        if got is None:
            from warmup.policy.steady import batch_sums

            todo = [j for j in range(len(self.rows)) if (j, window_days) not in self.done]
            rows = [self.rows[j] for j in todo]
            made = batch_sums(
                [(o, c) for o, c, _ in rows], [s for _, _, s in rows], [window_days] * len(todo)
            )
            self.done.update(((j, window_days), d) for j, d in zip(todo, made, strict=True))
            got = self.done[(k, window_days)]
        return got
