"""A validated memo of each mailbox's policy walk over its past days (table ``timeline_cache``).

A year's report walks every mailbox through every day of the year (:mod:`warmup.policy.timeline`),
which costs far more than reading the rollup. Past days do not change unless their inputs do, so
the report keeps, per mailbox, the walk's days before ``upto`` (yesterday when it was computed:
a bounce synced this morning for a send of yesterday lands on a day the memo never read) and
the walk's state at ``upto``; the next report goes on from there.

This is memoization, not stored state (DESIGN invariant 2): a row is used only while its
``fingerprint`` still matches every input of the walk over the days it covers:

- the mailbox's ``day_stat`` rows before ``upto`` (a late bounce or a back-dated import on a past
  day changes them): summarised *in SQL* at read time by :func:`_row_hash_sql`, and by its
  Python twin :func:`rows_digest` from the very rows the walk used at write time;
- its events (pauses, resumes, back-offs), all of them;
- the policy's content (``repr`` of the parsed spec: every number the walk reads, whatever the
  file or preset is called), the time zone, cap, start day and the provider's limits;
- :data:`CODE_VERSION`, which changes whenever the walk's rules or the payload's layout do.

The rows digest is the row count and the sum of a polynomial hash of each row ``(day, sent,
hard, soft, block, complaint)`` modulo the prime 2^40 - 87: an added or removed row changes the
count, and a changed row leaves the sum unchanged with a chance of about 2^-40 (a second hash
would cost SQLite half as much again per report). It guards against the ledger moving on, not
against an adversary.
Integer arithmetic only, portable between SQLite and PostgreSQL (BIGINT; the backend's
``_sql_day_number`` hook turns a DATE into a day number). A mixin of
:class:`warmup.ledger.Ledger`: :meth:`TimelineMemos.timeline_inputs` reads everything a report's
walk needs in one snapshot, :meth:`TimelineMemos.keep_timelines` stores the new memos.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from warmup.ledger.schema import COUNT_COLUMNS, DAY_STAT, MAILBOX, TIMELINE_CACHE
from warmup.policy.spec import PolicySpec
from warmup.policy.walk import CODE_VERSION as WALK_VERSION
from warmup.policy.walk import MailboxEvent, WalkState

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import numpy as np
    from sqlalchemy.engine import Connection

# bump when the payload layout changes (the walk's own rules are in WALK_VERSION)
CODE_VERSION = f"timeline-cache-3/{WALK_VERSION}"

PRIME = 1_099_511_627_689  # 2^40 - 87: h * BASE + counts stays below 2^63 (a signed BIGINT)
BASE = 4_194_301  # 2^22 - 3, prime
# Counts and days after 1970 are never negative; if one were, SQL's % (truncating) and Python's
# (flooring) would disagree and the memo would only miss, never match wrongly.
EPOCH = dt.date(1970, 1, 1).toordinal()
HEALTH = ("ok", "unjudged", "hold", "step_back", "pause")

# The payload's per-day columns, in blob order, with their (little-endian) types.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("warmup_day", "<i4"),
    ("stage", "u1"),
    ("quota", "<i4"),
    ("health", "u1"),
    ("rate", "<f8"),
    ("complaint_rate", "<f8"),
    ("paused", "u1"),
    ("resumed", "u1"),
    ("closed", "u1"),
    *((c, "<i4") for c in COUNT_COLUMNS),
)


@dataclass
class Memo:
    """A mailbox's walk over the days ``first .. upto - 1``, and its state at ``upto``.

    ``columns`` hold one value per day (numpy arrays, names as in :data:`COLUMNS`): stage as an
    index into ``stages``, health as an index into :data:`HEALTH`, rates NaN when not judged,
    and the day's counts from the rollup.
    """

    upto: dt.date
    first: int  # ordinal of the first day
    stages: list[str]
    state: WalkState
    columns: dict[str, np.ndarray]
    digest: tuple[int, int] = (0, 0)  # rows_digest of the rows before upto, as validated by get


def inputs_digest(
    *,
    address: str,
    timezone: str,
    policy: PolicySpec | str,
    cap: int | None,
    started: dt.date | None,
    provider_ceiling: int | None,
    provider_min_interval: float,
    events: Sequence[MailboxEvent],
) -> str:
    """SHA-256 over every input of a mailbox's walk except its day counts.

    ``policy``: the parsed spec, or its ``repr`` (a caller digesting many mailboxes of one
    policy computes it once): the content the walk reads, not the file's or preset's name.
    """
    text = policy if isinstance(policy, str) else repr(policy)
    parts = [
        CODE_VERSION,
        address,
        timezone,
        text,
        cap,
        started.isoformat() if started else None,
        provider_ceiling,
        provider_min_interval,
        [
            [e.kind, e.at.isoformat(), e.until.isoformat() if e.until else None, e.reason]
            for e in events
        ],
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def rows_digest(rows: Iterable[Sequence[Any]]) -> tuple[int, int]:
    """``(rows, sum of their hashes)`` over ``(day, sent, hard, soft, block, complaint)`` rows:
    the Python twin of :func:`_row_hash_sql`, value for value."""
    n = total = 0
    for day, *counts in rows:
        h = day.toordinal() - EPOCH
        for v in counts:
            h = (h * BASE + v) % PRIME
        n, total = n + 1, total + h
    return n, total


def rows_digest_arrays(ordinals: np.ndarray, counts: np.ndarray) -> tuple[int, int]:
    """:func:`rows_digest` of rows given as day ordinals and a matrix of their counts (one
    column per :data:`COUNT_COLUMNS` entry), vectorised: a cold report digests every rollup row."""
    h = row_hashes(ordinals, counts)
    # each hash is below 2^40: sums of 2^20 of them stay below 2^63
    chunk = 1 << 20
    return len(h), sum(int(h[i : i + chunk].sum()) for i in range(0, len(h), chunk))


def row_hashes(ordinals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each row's hash of :func:`rows_digest` (int64, below 2^40), rows as in
    :func:`rows_digest_arrays`. ``h * BASE + count`` stays below 2^63 as in SQL."""
    import numpy as np

    h = ordinals.astype(np.int64) - EPOCH
    for i in range(counts.shape[1]):
        h = (h * BASE + counts[:, i]) % PRIME
    return h


def fingerprint(inputs: str, upto: dt.date, rows: tuple[int, int]) -> str:
    return hashlib.sha256(f"{inputs}|{upto.isoformat()}|{rows}".encode()).hexdigest()


def _row_hash_sql(day_number: Any) -> Any:
    """The row hash of :func:`rows_digest` as a SQL expression, for ``sum()``."""
    b, p = (sa.literal_column(str(x), sa.BigInteger) for x in (BASE, PRIME))
    h: sa.ColumnElement[int] = sa.cast(day_number, sa.BigInteger)
    for c in COUNT_COLUMNS:
        h = (h * b + DAY_STAT.c[c]) % p
    return h


@dataclass
class TimelineInputs:
    """What a report's walk over some mailboxes reads, from one snapshot of the ledger."""

    events: dict[int, tuple[MailboxEvent, ...]]
    inputs: dict[int, str]  # inputs_digest per mailbox
    memos: dict[int, Memo]  # valid memos (upto on or before the mailbox's today)
    # rollup rows (day ordinals, count matrix; see ``reports_sql._day_stat_arrays``): all of
    # them, or since the memo's window; a mailbox without rows has no entry
    rows: dict[int, tuple[np.ndarray, np.ndarray]]
    held: dict[int, dt.date]  # upto of memos held but not valid, for mailboxes without one
    # under a domain cap (the ``capped`` asked about): what the other mailboxes of the domain
    # sent on each day from the memo's day (all days without one) to before today
    # (:attr:`warmup.policy.walk.History.domain_days`)
    domain_days: dict[int, dict[dt.date, int]] = field(default_factory=dict)


def _cut_rows(
    conn: Connection,
    rows: dict[int, tuple[np.ndarray, np.ndarray]],
    todays: Mapping[int, dt.date],
    instant: dt.datetime,
    starts: Mapping[int, dt.datetime],
) -> None:
    """Replace each mailbox's rollup row of its today in ``rows`` by its counts up to
    ``instant`` (the statements ``warmup quota`` counts today with), and drop later days."""
    import numpy as np

    from warmup.ledger.history import _ALL_KINDS, _ALL_TODAY, _CHUNK
    from warmup.ledger.reads import COUNT_COLUMNS

    by_start: dict[tuple[dt.datetime, dt.date], list[int]] = {}
    for m, start in starts.items():
        by_start.setdefault((start, todays[m]), []).append(m)
    counts: dict[int, list[int]] = {m: [0] * len(COUNT_COLUMNS) for m in starts}
    for (start, today), group in by_start.items():
        for k in range(0, len(group), _CHUNK):  # within the driver's limit of parameters
            ids = group[k : k + _CHUNK]
            params = {"ids": ids, "start": start, "cut": instant, "today": today}
            for m, n, _ in conn.execute(_ALL_TODAY, params):
                counts[m][0] = int(n)
            for m, kind, n in conn.execute(_ALL_KINDS, params):
                counts[m][COUNT_COLUMNS.index(kind)] = int(n)
    for m, day_counts in counts.items():
        day = todays[m].toordinal()
        ordinals, matrix = rows.get(
            m, (np.zeros(0, np.int64), np.zeros((0, len(COUNT_COLUMNS)), np.int64))
        )
        keep = ordinals < day
        ordinals, matrix = ordinals[keep], matrix[keep]
        if any(day_counts):
            ordinals = np.append(ordinals, np.int64(day))
            matrix = np.vstack([matrix, np.array([day_counts], dtype=np.int64)])
        if len(ordinals):
            rows[m] = (ordinals, matrix)
        else:
            rows.pop(m, None)


class TimelineMemos:
    """The report's memo table (see the module docstring)."""

    if TYPE_CHECKING:

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self) -> AbstractContextManager[Connection]: ...
        def _sql_day_number(self, column: Any) -> Any: ...
        def _rollup_arrays(
            self, conn: Connection, mailbox_ids: Sequence[int], since: dt.date | None = None
        ) -> dict[int, tuple[Any, Any]]: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def events_by_mailbox(
            self,
            mailbox_ids: Sequence[int] | None = None,
        ) -> dict[int, tuple[MailboxEvent, ...]]: ...

    def timeline_inputs(
        self,
        ids: Sequence[int],
        digest: Callable[[int, tuple[MailboxEvent, ...]], str],
        todays: Mapping[int, dt.date],
        lookbacks: Mapping[int, int],
        cache: bool = True,
        cut: tuple[dt.datetime, Mapping[int, dt.datetime]] | None = None,
        capped: Mapping[int, str] | None = None,
    ) -> TimelineInputs:
        """Events, inputs digests (``digest(mailbox_id, events)``), valid memos and the rollup
        rows each mailbox's walk needs (from the memo's ``upto`` minus its lookback, or all).

        ``cut``: ``(instant, {mailbox_id: UTC start of its today})``: each mailbox's row of its
        today counts only what happened by the instant (as ``warmup quota`` at it counts), and
        no later day is kept, so a report as of an instant in the past does not show the sends
        and bounces that came after it.

        ``capped``: ``{mailbox_id: address}`` of the mailboxes whose policy caps their domain:
        their walk reads what the domain's other mailboxes sent (:attr:`TimelineInputs.domain_days`),
        so their memos are valid only while those mailboxes' revisions hold too (any write on
        one of their past days moves them)."""
        from warmup.ledger.reports_sql import _events

        capped = capped or {}
        with self.read() as conn:
            events = _events(conn, ids)
            inputs = {m: digest(m, events.get(m, ())) for m in ids}
            for m, address in capped.items():
                inputs[m] = hashlib.sha256(
                    f"{inputs[m]}|{_siblings_stamp(conn, m, address)}".encode()
                ).hexdigest()
            memos = self._valid(conn, inputs) if cache else {}
            memos = {m: memo for m, memo in memos.items() if memo.upto <= todays[m]}
            domain_days = {
                m: _sibling_days(
                    conn,
                    m,
                    address,
                    memos[m].upto if m in memos else dt.date.min,
                    todays[m],
                )
                for m, address in capped.items()
            }
            misses = [m for m in ids if m not in memos]
            rows = self._rollup_arrays(conn, misses)
            since = {m: memo.upto - dt.timedelta(days=lookbacks[m]) for m, memo in memos.items()}
            if since:
                recent = self._rollup_arrays(conn, list(since), min(since.values()))
                for m, (ordinals, counts) in recent.items():
                    keep = ordinals >= since[m].toordinal()
                    rows[m] = (ordinals[keep], counts[keep])
            if cut is not None:
                _cut_rows(conn, rows, todays, *cut)
            held: dict[int, dt.date] = {}
            if cache and misses:
                c = TIMELINE_CACHE.c
                held = dict(
                    conn.execute(
                        sa.select(c.mailbox_id, c.upto).where(c.mailbox_id.in_(misses))
                    ).all()
                )
        return TimelineInputs(events, inputs, memos, rows, held, domain_days)

    def _valid(self, conn: Connection, inputs: Mapping[int, str]) -> dict[int, Memo]:
        """The memos still valid for these mailboxes (``{mailbox_id: inputs_digest}``), by id.

        Validity is decided here, in the reader's transaction: the digest of the mailbox's current
        rows before the memo's ``upto`` is computed in SQL and must give the stored fingerprint.
        One aggregate per distinct ``upto`` (usually one: the day of the last report), scanning
        the rollup's primary key range by range; a join on the memo table made SQLite build a
        temporary index on every call.
        """
        if not inputs:
            return {}
        c, d = TIMELINE_CACHE, DAY_STAT.c
        held = conn.execute(
            sa.select(c.c.mailbox_id, c.c.fingerprint, c.c.upto).where(
                c.c.mailbox_id.in_(list(inputs))
            )
        ).all()
        by_upto: dict[dt.date, list[int]] = {}
        for m, _, upto in held:
            by_upto.setdefault(upto, []).append(m)
        h = _row_hash_sql(self._sql_day_number(d.day))
        digests: dict[int, tuple[int, int]] = {}
        for upto, ids in by_upto.items():
            stmt = (
                sa.select(d.mailbox_id, sa.func.count(), sa.func.sum(h))
                .where(d.mailbox_id.in_(ids), d.day < upto)
                .group_by(d.mailbox_id)
            )
            digests.update((m, (int(n), int(total))) for m, n, total in conn.execute(stmt))
        valid = [
            m
            for m, stored, upto in held
            if fingerprint(inputs[m], upto, digests.get(m, (0, 0))) == stored
        ]
        if not valid:
            return {}
        out = {}
        for m, payload in conn.execute(
            sa.select(c.c.mailbox_id, c.c.payload).where(c.c.mailbox_id.in_(valid))
        ):
            out[m] = memo = decode(payload)
            memo.digest = digests.get(m, (0, 0))
        return out

    def keep_timelines(self, entries: Sequence[tuple[int, str, tuple[int, int], Memo]]) -> None:
        """Store memos: ``(mailbox_id, inputs_digest, rows digest, memo)`` each, replacing older
        ones.

        The rows digest is :func:`rows_digest` of the rows before ``memo.upto`` *that the walk
        was computed from* (read in the same snapshot as anything else it used; digests add up,
        so a memo extended by a few days adds theirs to the digest :meth:`timeline_inputs`
        validated). It is not re-read here, so the fingerprint can only match rows equal to the
        ones the memo was computed from, even if the ledger moved on meanwhile.
        """
        if not entries:
            return
        values = [
            {
                "mailbox_id": mailbox_id,
                "upto": memo.upto,
                "payload": encode(memo),
                "fingerprint": fingerprint(inputs, memo.upto, past),
            }
            for mailbox_id, inputs, past, memo in entries
        ]
        stmt = self._insert(TIMELINE_CACHE)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TIMELINE_CACHE.c.mailbox_id],
            set_={k: stmt.excluded[k] for k in ("fingerprint", "upto", "payload")},
        )
        with self.write() as conn:
            conn.execute(stmt, values)

    def clear_timelines(self) -> None:
        """Forget every memo (the next report walks every mailbox from its first day)."""
        with self.write() as conn:
            conn.execute(TIMELINE_CACHE.delete())


def _siblings(mailbox_id: int, address: str) -> Any:
    m = MAILBOX.c
    return sa.and_(m.address.like(f"%@{address.rsplit('@', 1)[1]}"), m.id != mailbox_id)


def _siblings_stamp(conn: Connection, mailbox_id: int, address: str) -> str:
    """The other mailboxes of ``address``'s domain and their revisions: a send counted on a
    past day of one of them moves its ``rev`` (``Records._touch``)."""
    m = MAILBOX.c
    rows = conn.execute(
        sa.select(m.id, m.rev).where(_siblings(mailbox_id, address)).order_by(m.id)
    ).all()
    return json.dumps([[int(i), int(r)] for i, r in rows])


def _sibling_days(
    conn: Connection, mailbox_id: int, address: str, since: dt.date, today: dt.date
) -> dict[dt.date, int]:
    """What the other mailboxes of ``address``'s domain sent each day from ``since`` to before
    ``today``."""
    d = DAY_STAT.c
    stmt = (
        sa.select(d.day, sa.func.sum(d.sent))
        .where(
            d.mailbox_id.in_(sa.select(MAILBOX.c.id).where(_siblings(mailbox_id, address))),
            d.day >= since,
            d.day < today,
            d.sent > 0,
        )
        .group_by(d.day)
    )
    return {day: int(n) for day, n in conn.execute(stmt)}


def encode(memo: Memo) -> str:
    """JSON text: the header, and the columns as one zlib-compressed, base64 blob."""
    import numpy as np  # reports only: never on the gate's or quota's path

    blob = b"".join(
        np.ascontiguousarray(memo.columns[name], dtype=kind).tobytes() for name, kind in COLUMNS
    )
    head = json.dumps(
        {
            "version": CODE_VERSION,
            "upto": memo.upto.isoformat(),
            "first": memo.first,
            "days": len(memo.columns["quota"]),
            "stages": memo.stages,
        }
    )
    # the state's own JSON text and the base64 blob (no character JSON escapes) spliced in: a
    # cold report encodes a thousand memos
    data = base64.b64encode(zlib.compress(blob, 1)).decode()
    return f'{head[:-1]}, "state": {memo.state.to_json()}, "data": "{data}"}}'


def decode(text: str) -> Memo:
    import numpy as np

    head = json.loads(text)
    blob, n, at = zlib.decompress(base64.b64decode(head["data"])), head["days"], 0
    columns = {}
    for name, kind in COLUMNS:
        size = np.dtype(kind).itemsize * n
        columns[name] = np.frombuffer(blob, dtype=kind, count=n, offset=at)
        at += size
    state = WalkState.from_dict(head["state"])
    return Memo(dt.date.fromisoformat(head["upto"]), head["first"], head["stages"], state, columns)
