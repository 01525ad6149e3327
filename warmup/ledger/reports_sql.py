"""Aggregates for reports and notebooks (:mod:`warmup.reports` turns them into frames).

Every question here is answered by ``GROUP BY`` in SQL or by the ``day_stat`` rollup, so a report
over a year of a thousand mailboxes reads O(mailboxes x days) rows, never every send. Rows come
back as plain tuples and days as ``datetime.date``. :meth:`ReportQueries.raw_day_counts` is the
deliberately slow twin of :meth:`~ReportQueries.day_stats`: the same numbers straight from the raw
``send`` and ``bounce`` rows, for checking that the rollup agrees with them.

A mixin of :class:`warmup.ledger.Ledger`: the few expressions that differ between SQLite and
PostgreSQL come from the backend's hooks (``_sql_domain``, ``_sql_utc_day``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from warmup.ledger.reads import NOT_IN_BOUNCE_RATE, rate_counts
from warmup.ledger.schema import (
    BOUNCE,
    COUNT_COLUMNS,
    COUNTED,
    DAY_STAT,
    DOMAIN_DAY,
    EVENT,
    SEND,
    SUPPRESSION,
    SUPPRESSION_REMOVAL,
)
from warmup.ledger.values import event_row, seen_by
from warmup.policy.walk import MailboxEvent

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import numpy as np
    from sqlalchemy.engine import Connection

DayRow = tuple[int, dt.date, int, int, int, int, int]  # mailbox_id, day, sent, hard, ..., complaint


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _mismatches(
    rolled: Mapping[Any, tuple[Any, ...]], raw: Mapping[Any, tuple[Any, ...]], zero: tuple[int, ...]
) -> list[tuple[Any, ...]]:
    """``(key, rollup, raw)`` where a rollup's row and the raw rows' count differ."""
    return [
        (k, rolled.get(k), raw.get(k))
        for k in sorted(set(rolled) | set(raw))
        if rolled.get(k, zero) != raw.get(k, zero)
    ]


def _ids(column: Any, ids: Sequence[int] | None) -> Any:
    return sa.true() if ids is None else column.in_(list(ids))


_A_DAY = dt.timedelta(days=1)


def _since(column: Any, since: dt.date | None, until: dt.date | None = None) -> Any:
    """The local days from ``since`` to ``until``, both included (None: no bound)."""
    return sa.and_(
        sa.true() if since is None else column >= since,
        sa.true() if until is None else column <= until,
    )


def _upto(column: Any, cut: dt.datetime | None) -> Any:
    """Made by the instant ``cut`` (a report as of an instant: None, no bound): stamped up to
    CLOCK_SKEW after it, as the report's today row and ``warmup quota`` count (a host's clock
    a little ahead stamps what it sends so; :func:`~warmup.ledger.values.made_by`)."""
    return sa.true() if cut is None else column <= seen_by(cut)


class ReportQueries:
    """Report aggregates over the ledger (see the module docstring)."""

    if TYPE_CHECKING:

        def read(self) -> AbstractContextManager[Connection]: ...
        def _sql_domain(self, column: Any) -> Any: ...
        def _sql_utc_day(self, column: Any) -> Any: ...
        def _sql_day_number(self, column: Any) -> Any: ...
        def _int_array(self, conn: Connection, stmt: Any) -> Any: ...

    def day_stats(
        self, mailbox_ids: Sequence[int] | None = None, until: dt.date | None = None
    ) -> list[DayRow]:
        """``(mailbox_id, day, sent, hard, soft, block, complaint)`` from the rollup, in order."""
        with self.read() as conn:
            return _day_stats(conn, mailbox_ids, until)

    def raw_day_counts(self, mailbox_ids: Sequence[int] | None = None) -> list[DayRow]:
        """The rollup's numbers recomputed by ``GROUP BY mailbox, day`` over the raw rows."""
        with self.read() as conn:
            return _raw_day_counts(conn, mailbox_ids)

    def rollup_mismatches(
        self,
        mailbox_ids: Sequence[int] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Rows where ``day_stat`` and the raw rows disagree: ``(key, rollup, raw)``, the key
        ``(mailbox_id, day)``; then where ``domain_day`` and the sends disagree, the key
        ``(mailbox_id, day, domain)``; [] when sound."""
        d, domain = DOMAIN_DAY.c, self._sql_domain(SEND.c.recipient)
        with self.read() as conn:
            rolled = {(r[0], r[1]): r[2:] for r in _day_stats(conn, mailbox_ids, None)}
            raw = {(r[0], r[1]): r[2:] for r in _raw_day_counts(conn, mailbox_ids)}
            by_domain = conn.execute(
                sa.select(d.mailbox_id, d.day, d.domain, d.sent).where(
                    _ids(d.mailbox_id, mailbox_ids), d.sent != 0
                )
            )
            rolled_domains = {(m, day, dom): (n,) for m, day, dom, n in by_domain}
            sends = conn.execute(
                sa.select(SEND.c.mailbox_id, SEND.c.day, domain, sa.func.count())
                .where(_ids(SEND.c.mailbox_id, mailbox_ids), SEND.c.outcome != "released")
                .group_by(SEND.c.mailbox_id, SEND.c.day, domain)
            )
            raw_domains = {(m, day, dom): (n,) for m, day, dom, n in sends}
        return _mismatches(rolled, raw, (0,) * len(COUNT_COLUMNS)) + _mismatches(
            rolled_domains, raw_domains, (0,)
        )

    def events_by_mailbox(
        self,
        mailbox_ids: Sequence[int] | None = None,
    ) -> dict[int, tuple[MailboxEvent, ...]]:
        """Pauses, resumes and back-offs per mailbox, in time order."""
        with self.read() as conn:
            return _events(conn, mailbox_ids)

    def domain_counts(
        self,
        mailbox_ids: Sequence[int],
        since: dt.date | None = None,
        until: dt.date | None = None,
        cut: dt.datetime | None = None,
    ) -> tuple[list[tuple[int, str, int]], list[tuple[int, str, str, int]]]:
        """Per mailbox and recipient domain from local day ``since`` to ``until`` (and up to the
        instant ``cut``, if given), from one snapshot: ``(mailbox_id, domain, sends)`` and
        ``(mailbox_id, domain, kind, counted bounces)`` of those sends (a bounce in the period
        answering a send before it would rate a domain over 100%).

        The sends are counted from ``domain_day`` (kept with every write, per mailbox, local
        day and domain), and only the day of ``cut`` (``until``) from the send rows, up to
        the cut: counting every send of the period, row by row, cost 1.9 s for 60 days of
        300 mailboxes, and a report from the start read every send of the ledger."""
        sent: dict[tuple[int, str], int] = {}
        with self.read() as conn:
            whole = until if cut is None or until is None else until - _A_DAY
            if cut is None or until is not None:  # else every day from the rows, up to the cut
                d = DOMAIN_DAY.c
                rolled = conn.execute(
                    sa.select(d.mailbox_id, d.domain, sa.func.sum(d.sent))
                    .where(_ids(d.mailbox_id, mailbox_ids), _since(d.day, since, whole))
                    .group_by(d.mailbox_id, d.domain)
                )
                sent.update(((m, dom), int(n)) for m, dom, n in rolled)
            if cut is not None:
                domain = self._sql_domain(SEND.c.recipient).label("domain")
                first = since if until is None else until if since is None else max(since, until)
                # the index of sends per mailbox and instant read from the day before ``first``
                # (no zone's day starts before it in UTC), not from each mailbox's first send
                after = (
                    sa.true()
                    if first is None
                    else SEND.c.at >= dt.datetime.combine(first, dt.time(), dt.UTC) - _A_DAY
                )
                rows = conn.execute(
                    sa.select(SEND.c.mailbox_id, domain, sa.func.count())
                    .where(
                        COUNTED,
                        _ids(SEND.c.mailbox_id, mailbox_ids),
                        _since(SEND.c.day, first, until),
                        after,
                        _upto(SEND.c.at, cut),
                    )
                    .group_by(SEND.c.mailbox_id, domain)
                )
                for m, dom, n in rows:
                    sent[m, dom] = sent.get((m, dom), 0) + n
            out_sends = [(m, dom, n) for (m, dom), n in sent.items() if n]
            bdomain = self._sql_domain(BOUNCE.c.recipient).label("domain")
            bounces = conn.execute(
                sa.select(BOUNCE.c.mailbox_id, bdomain, BOUNCE.c.kind, sa.func.count())
                .select_from(BOUNCE.join(SEND, SEND.c.id == BOUNCE.c.send_id))
                .where(
                    BOUNCE.c.counted,
                    SEND.c.outcome != "released",
                    _ids(BOUNCE.c.mailbox_id, mailbox_ids),
                    _since(SEND.c.day, since, until),
                    _upto(BOUNCE.c.at, cut),
                )
                .group_by(BOUNCE.c.mailbox_id, bdomain, BOUNCE.c.kind)
            )
            counted = rate_counts(bounces).items()  # a kind this version lacks: as rated
            return out_sends, [(m, d, k, n) for (m, d), by in counted for k, n in by.items()]

    def bounced_by_send_day(
        self, mailbox_ids: Sequence[int], cut: dt.datetime | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The counted hard, soft and block bounces (up to the instant ``cut``) by the day of
        the send each answers, whenever it arrived, so a day's (or week's) rate is of its own
        sends: the rollup counts a bounce on its own day, and a Sunday's bounces arriving on
        Monday rated Monday over 100%. Three int64 arrays, a row per mailbox and send day:
        mailbox ids, day ordinals, bounces (reports only: numpy). The days come as integers and
        numpy takes the driver's rows in one call: a date parsed and a SQLAlchemy row per
        group were a tenth of a cold year's report (100,000 groups). The send's day is read
        from the bounce (``bounce.send_day``): a join to ``send`` was an index lookup per
        bounce, the largest read of a year's report. Counted in numpy, each bounce read as one
        integer (its mailbox and send day packed): SQLite's ``GROUP BY`` sorted the 120,000
        bounces of a year in a temporary B-tree, twice the cost of reading them."""
        import numpy as np

        b = BOUNCE.c
        day = self._sql_day_number(b.send_day) + _EPOCH
        key = sa.cast(b.mailbox_id, sa.BigInteger) * _PACK + day  # BIGINT: no int4 overflow
        stmt = sa.select(key).where(
            b.counted,
            b.kind.not_in(NOT_IN_BOUNCE_RATE),  # one this version lacks: in (rate_kind)
            b.send_day.is_not(None),  # a counted bounce answers a send: always
            _ids(b.mailbox_id, mailbox_ids),
            _upto(b.at, cut),
        )
        with self.read() as conn:
            keys = self._int_array(conn, stmt)
        keys, counts = np.unique(keys, return_counts=True)
        return keys // _PACK, keys % _PACK, counts.astype(np.int64)

    def bounces_by_kind(
        self,
        mailbox_ids: Sequence[int] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        cut: dt.datetime | None = None,
    ) -> list[tuple[int, dt.date, str, str, bool, int]]:
        """``(mailbox_id, local day, kind, status, counted, bounces)``; status '' when unknown
        (up to the instant ``cut``, if given)."""
        status = sa.func.coalesce(BOUNCE.c.status, "").label("status")
        b = BOUNCE.c
        stmt = (
            sa.select(b.mailbox_id, b.day, b.kind, status, b.counted, sa.func.count())
            .where(
                _ids(b.mailbox_id, mailbox_ids),
                _since(b.day, since, until),
                _upto(b.at, cut),
            )
            .group_by(b.mailbox_id, b.day, b.kind, status, b.counted)
            .order_by(b.mailbox_id, b.day)
        )
        with self.read() as conn:
            return [(m, _day(d), k, s, bool(c), n) for m, d, k, s, c, n in conn.execute(stmt)]

    def bounce_texts(
        self,
        mailbox_ids: Sequence[int] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        cut: dt.datetime | None = None,
    ) -> list[tuple[int, dt.date, str, str, str, str, bool, bool, int]]:
        """``(mailbox_id, local day, kind, status, reply, diagnostic, counted, matched,
        bounces)``: bounces grouped by the text they were recorded with ('' when none), so that
        each distinct text is classified once (:func:`warmup.reports.bounces_by_reason`);
        ``matched``: it answers a send of the mailbox (one not counted may still be: a delay
        warning, or a second bounce of a send)."""
        b = BOUNCE.c
        texts = [sa.func.coalesce(c, "").label(c.name) for c in (b.status, b.reply, b.diagnostic)]
        matched = b.send_id.is_not(None).label("matched")
        stmt = (
            sa.select(b.mailbox_id, b.day, b.kind, *texts, b.counted, matched, sa.func.count())
            .where(_ids(b.mailbox_id, mailbox_ids), _since(b.day, since, until), _upto(b.at, cut))
            .group_by(b.mailbox_id, b.day, b.kind, *texts, b.counted, matched)
            .order_by(b.mailbox_id, b.day)
        )
        with self.read() as conn:
            return [
                (r[0], _day(r[1]), r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8])
                for r in conn.execute(stmt)
            ]

    def suppression_spans(
        self,
    ) -> list[tuple[dt.datetime, dt.datetime | None, str, int | None]]:
        """``(suppressed at, taken back at or None, kind, mailbox id)``: each time an address
        was on the do-not-mail list, those still on it (None) and those a person took back
        (``warmup suppress remove``), oldest first. The caller groups them by the local day of
        the mailbox that caused each (the list is one row per suppressed address, far smaller
        than the sends). A removal made before m029 kept no time of its suppression: not
        listed. Taken back "before" it was made (the two hosts' clocks): at its making."""
        s, r = SUPPRESSION.c, SUPPRESSION_REMOVAL.c
        current = sa.select(s.created_at, sa.null(), s.kind, s.mailbox_id)
        removed = sa.select(r.suppressed_at, r.removed_at, r.kind, r.mailbox_id).where(
            r.suppressed_at.is_not(None)
        )
        with self.read() as conn:
            rows = [tuple(x) for q in (current, removed) for x in conn.execute(q)]
        return sorted(
            ((t, None if u is None else max(t, u), k, m) for t, u, k, m in rows),
            key=lambda x: x[0],
        )


def _day_stats(
    conn: Connection, mailbox_ids: Sequence[int] | None, until: dt.date | None
) -> list[DayRow]:
    if mailbox_ids is not None and not mailbox_ids:
        return []
    d = DAY_STAT.c
    # A plain text statement: SQLAlchemy's per-row type processing would cost more than the
    # query over a year of a thousand mailboxes; days are parsed once each below.
    stmt = (
        sa.select(sa.text("mailbox_id, day, sent, hard, soft, block, complaint"))
        .select_from(DAY_STAT)
        .where(_ids(d.mailbox_id, mailbox_ids), sa.true() if until is None else d.day <= until)
        .order_by(d.mailbox_id, d.day)
    )
    result = conn.execute(stmt)
    # The driver's own rows, in one fetch: a cold report reads every row of the rollup, and
    # building SQLAlchemy rows (or fetching one by one) cost more than the query itself.
    raw = result.cursor.fetchall() if result.cursor is not None else result.all()
    result.close()
    parse: dict[Any, dt.date] = {}  # a year of days repeats across mailboxes: parse each once
    out = []
    for m, day, *n in raw:
        parsed = parse.get(day)
        if parsed is None:
            parsed = parse[day] = _day(day)
        out.append((m, parsed, *n))
    return out  # one count per COUNT_COLUMNS entry


def _day_stat_arrays(
    conn: Connection, mailbox_ids: Sequence[int], day_number: Any, since: dt.date | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The rollup rows of these mailboxes (from ``since`` on, if given) as arrays, by mailbox:
    the days' ordinals and a matrix of their counts (one column per ``COUNT_COLUMNS`` entry),
    both int64, in day order. ``day_number``: the backend's SQL for a date column as days since
    1970-01-01 (``Ledger._sql_day_number``).

    A cold report reads every row of the rollup: the days come as integers (no date parsed in
    Python) and numpy takes the driver's rows of integers in one call, without a Python object
    per row (reports only)."""
    import numpy as np

    if not mailbox_ids:
        return {}
    d = DAY_STAT.c
    where = (_ids(d.mailbox_id, mailbox_ids), _since(d.day, since))
    # how many rows each mailbox has, then the rows without the mailbox's id, in the same
    # order, in the same transaction (one snapshot): a column fewer for the driver to convert
    sizes = conn.execute(
        sa.select(d.mailbox_id, sa.func.count())
        .where(*where)
        .group_by(d.mailbox_id)
        .order_by(d.mailbox_id)
    ).all()
    if not sizes:
        return {}
    stmt = (
        sa.select(day_number(d.day), *(d[c] for c in COUNT_COLUMNS))
        .where(*where)
        .order_by(d.mailbox_id, d.day)
    )
    result = conn.execute(stmt)
    # The driver's own rows, in one fetch: SQLAlchemy's rows cost more than the query itself.
    raw = result.cursor.fetchall() if result.cursor is not None else result.all()
    result.close()
    width = 1 + len(COUNT_COLUMNS)
    if len(raw) != sum(n for _, n in sizes):
        raise AssertionError("the rollup changed between two statements of one snapshot")
    # numpy reads the ints one after the other twice as fast as it takes a list of tuples
    table = np.fromiter(chain.from_iterable(raw), np.int64, len(raw) * width).reshape(-1, width)
    ordinals, matrix = table[:, 0] + _EPOCH, table[:, 1:]
    out, at = {}, 0
    for m, n in sizes:
        out[int(m)] = (ordinals[at : at + n], matrix[at : at + n])
        at += n
    return out


_EPOCH = dt.date(1970, 1, 1).toordinal()
# a mailbox id and a day ordinal as one integer: mailbox_id * _PACK + ordinal (above every day
# ordinal: year 9999 is 3,652,059)
_PACK = 1 << 23
# the count columns in the order sqlite_days.day_table gives them
_SQLITE_COLUMNS = ("sent", "hard", "soft", "block", "complaint")


def _int_rows(conn: Connection, stmt: Any) -> np.ndarray:
    """The integers of a one-column statement as one int64 array, a row at a time (numpy takes
    the driver's rows in one call)."""
    import numpy as np

    result = conn.execute(stmt)
    raw = result.cursor.fetchall() if result.cursor is not None else result.all()
    result.close()
    return np.fromiter(chain.from_iterable(raw), np.int64, len(raw))


def _sqlite_int_array(conn: Connection, stmt: Any) -> np.ndarray:
    """:func:`_int_rows` on SQLite: the column as one ``group_concat`` text that numpy parses
    (120,000 rows: a Python int per row was half the read); a row at a time if a value is not
    an integer (a NULL, which the text would leave out)."""
    import numpy as np

    inner = stmt.subquery()
    (value,) = inner.c
    n, text = conn.execute(sa.select(sa.func.count(), sa.func.group_concat(value))).one()
    if not n:
        return np.zeros(0, np.int64)
    try:
        out = np.fromstring(text or "", np.int64, sep=",")
    except ValueError:
        out = None
    return out if out is not None and len(out) == n else _int_rows(conn, stmt)


def _sqlite_day_arrays(
    conn: Connection, mailbox_ids: Sequence[int], since: dt.date | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`_day_stat_arrays` on SQLite: each mailbox's columns as texts of numbers
    (:func:`warmup.ledger.sqlite_days.day_table`), read on the connection's own driver cursor,
    in its transaction: a Python int per value and a tuple per row were most of a cold report's
    read of a year."""
    import numpy as np

    from warmup.ledger.sqlite_days import day_table
    from warmup.ledger.sqlite_file import CHUNK

    if not mailbox_ids:
        return {}
    assert tuple(COUNT_COLUMNS) == _SQLITE_COLUMNS  # the order day_table gives them in
    ids = sorted(set(mailbox_ids))
    cur: Any = conn.connection.cursor()  # the sqlite3 driver's
    try:
        parts = [
            day_table(cur, ids[k : k + CHUNK], since=None if since is None else since.isoformat())
            for k in range(0, len(ids), CHUNK)
        ]
    finally:
        cur.close()
    table = np.concatenate(parts)
    box, ordinals, matrix = table[:, 0], table[:, 1] + _EPOCH, table[:, 2:]
    cuts = (np.flatnonzero(box[1:] != box[:-1]) + 1).tolist()
    return {
        int(box[a]): (ordinals[a:z], matrix[a:z])
        for a, z in zip([0, *cuts], [*cuts, len(box)], strict=True)
        if z > a
    }


def _raw_day_counts(conn: Connection, mailbox_ids: Sequence[int] | None) -> list[DayRow]:
    counts: dict[tuple[int, dt.date], dict[str, int]] = {}
    sends = (
        sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count())
        .where(SEND.c.outcome != "released", _ids(SEND.c.mailbox_id, mailbox_ids))
        .group_by(SEND.c.mailbox_id, SEND.c.day)
    )
    for m, d, n in conn.execute(sends):
        counts.setdefault((m, _day(d)), {})["sent"] = n
    bounces = (
        sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, sa.func.count())
        .where(BOUNCE.c.counted, _ids(BOUNCE.c.mailbox_id, mailbox_ids))
        .group_by(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
    )
    for (m, d), by_kind in rate_counts(conn.execute(bounces)).items():  # a kind this version
        counts.setdefault((m, _day(d)), {}).update(by_kind)  # lacks too, as the rollup counts
    return [
        (m, d, *(v.get(c, 0) for c in COUNT_COLUMNS))  # type: ignore[misc]
        for (m, d), v in sorted(counts.items())
    ]


def _events(
    conn: Connection,
    mailbox_ids: Sequence[int] | None,
) -> dict[int, tuple[MailboxEvent, ...]]:
    out: dict[int, list[MailboxEvent]] = {}
    e = EVENT.c
    text = sa.String  # the times as stored, read by event_row: one left unreadable is named
    stmt = (
        sa.select(
            e.mailbox_id, e.id, e.kind, sa.type_coerce(e.at, text), sa.type_coerce(e.until, text)
        )
        .add_columns(e.reason)
        .where(_ids(e.mailbox_id, mailbox_ids))
        .order_by(e.mailbox_id, e.at, e.id)
    )
    for row in conn.execute(stmt):
        m, _, kind, at, until, reason = event_row(*row)
        out.setdefault(m, []).append(MailboxEvent(kind, at, until, reason or ""))
    return {k: tuple(v) for k, v in out.items()}
