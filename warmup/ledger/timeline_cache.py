"""A validated memo of each mailbox's policy walk over its past days (table ``timeline_cache``).

A year's report walks every mailbox through every day of the year (:mod:`warmup.policy.timeline`),
which costs far more than reading the rollup. Past days do not change unless their inputs do, so
the report keeps, per mailbox, the walk's days before ``upto`` (yesterday when it was computed:
a bounce synced this morning for a send of yesterday lands on a day the memo never read) and
the walk's state at ``upto``; the next report goes on from there.

This is memoization, not stored state (DESIGN invariant 2): a row is used only while

- its ``rev`` is the mailbox's: the mailbox's rollup rows before ``upto`` are those it was
  computed from. Every write on a day before the writer's today (a late bounce, a back-dated
  import, a bounce re-linked to another send, an event) moves the mailbox's ``rev`` in its own
  transaction, as the walk memo of ``warmup quota`` relies on (:meth:`Records._touch`; the
  gates, imports and rollup rebuilds move it too); a write on ``upto`` or later, which the memo
  never read, carries the memo to the new ``rev``. A memo is therefore kept only of a day
  before the wall clock's yesterday (``upto`` before today, as the walk memo): a write on a day
  it covers is always on a past day by then. A report ``--at`` ahead of today keeps none;
- its ``fingerprint`` still matches every other input of the walk over the days it covers:
  its events (pauses, resumes, back-offs), all of them; the policy's content (``repr`` of the
  parsed spec: every number the walk reads, whatever the file or preset is called), the time
  zone, cap, start day and the provider's limits; :data:`CODE_VERSION`, which changes whenever
  the walk's rules or the payload's layout do.

A mixin of
:class:`warmup.ledger.Ledger`: :meth:`TimelineMemos.timeline_inputs` reads everything a report's
walk needs in one snapshot, :meth:`TimelineMemos.keep_timelines` stores the new memos.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
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
CODE_VERSION = f"timeline-cache-4/{WALK_VERSION}"

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


def fingerprint(inputs: str, upto: dt.date) -> str:
    return hashlib.sha256(f"{inputs}|{upto.isoformat()}".encode()).hexdigest()


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
    revs: dict[int, int]  # each mailbox's rev in this snapshot: new memos are kept with it
    # under a domain cap (the ``capped`` asked about): what the other mailboxes of the domain
    # sent on each day from the memo's day (all days without one) to before today
    # (:attr:`warmup.policy.walk.History.domain_days`)
    domain_days: dict[int, dict[dt.date, int]] = field(default_factory=dict)


def _cut_rows(
    conn: Connection,
    rows: dict[int, tuple[np.ndarray, np.ndarray]],
    todays: Mapping[int, dt.date],
    spans: Mapping[int, tuple[dt.datetime, dt.datetime, dt.datetime]],
) -> None:
    """Replace each mailbox's rollup row of its today in ``rows`` by its counts in its span
    (``spans``: the UTC start of its today, the instant up to which today counts:
    :func:`~warmup.ledger.values.made_by`, and the start of its tomorrow; the statements
    ``warmup quota`` counts today with: the rollup's sends unless some were stamped after the
    instant today), and drop later days."""
    import numpy as np

    from warmup.ledger.history import _ALL_KINDS, _ALL_TODAY, _ALL_TODAY_LAST, _CHUNK
    from warmup.ledger.reads import COUNT_COLUMNS, rate_kind

    by_span: dict[tuple[dt.datetime, dt.datetime, dt.datetime, dt.date], list[int]] = {}
    for m, (start, made, tomorrow) in spans.items():
        by_span.setdefault((start, made, tomorrow, todays[m]), []).append(m)
    counts: dict[int, list[int]] = {m: [0] * len(COUNT_COLUMNS) for m in spans}
    for (start, made, tomorrow, today), group in by_span.items():
        for k in range(0, len(group), _CHUNK):  # within the driver's limit of parameters
            ids = group[k : k + _CHUNK]
            params = {"ids": ids, "start": start, "cut": made, "today": today}
            later = {**params, "seen": made, "tomorrow": tomorrow}
            recount = []
            for m, n, _, after in conn.execute(_ALL_TODAY_LAST, later):
                if after is None:
                    counts[m][0] = int(n or 0)
                else:  # sends stamped after the instant today: the rows up to it
                    recount.append(m)
            if recount:
                for m, n in conn.execute(_ALL_TODAY, {**params, "ids": recount}):
                    counts[m][0] = int(n)
            for m, kind, n in conn.execute(_ALL_KINDS, params):
                column = rate_kind(kind)  # a kind this version lacks: counted, as by quota
                if column is not None:
                    counts[m][COUNT_COLUMNS.index(column)] += int(n)
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
        def real_today(self, tz: str) -> dt.date: ...
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
        cut: Mapping[int, tuple[dt.datetime, dt.datetime, dt.datetime]] | None = None,
        capped: Mapping[int, str] | None = None,
    ) -> TimelineInputs:
        """Events, inputs digests (``digest(mailbox_id, events)``), valid memos and the rollup
        rows each mailbox's walk needs (from the memo's ``upto`` minus its lookback, or all).

        ``cut``: ``{mailbox_id: (UTC start of its today, instant, UTC start of its tomorrow)}``:
        each mailbox's row of its
        today counts only what was made by the instant (as ``warmup quota`` at it counts:
        :func:`~warmup.ledger.values.made_by`), and no later day is kept, so a report as of an
        instant in the past does not show the sends and bounces that came after it.

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
            revs = dict(
                conn.execute(
                    sa.select(MAILBOX.c.id, MAILBOX.c.rev).where(MAILBOX.c.id.in_(list(ids)))
                ).all()
            )
            memos = self._valid(conn, inputs, revs) if cache else {}
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
                _cut_rows(conn, rows, todays, cut)
            held: dict[int, dt.date] = {}
            if cache and misses:
                c = TIMELINE_CACHE.c
                held = dict(
                    conn.execute(
                        sa.select(c.mailbox_id, c.upto).where(c.mailbox_id.in_(misses))
                    ).all()
                )
        return TimelineInputs(events, inputs, memos, rows, held, revs, domain_days)

    def _valid(
        self, conn: Connection, inputs: Mapping[int, str], revs: Mapping[int, int]
    ) -> dict[int, Memo]:
        """The memos still valid for these mailboxes (``{mailbox_id: inputs_digest}``, their
        ``rev`` in this snapshot), by id: kept at the mailbox's ``rev``, for these inputs."""
        if not inputs:
            return {}
        c = TIMELINE_CACHE.c
        held = conn.execute(
            sa.select(c.mailbox_id, c.fingerprint, c.upto, c.rev).where(
                c.mailbox_id.in_(list(inputs))
            )
        ).all()
        valid = [
            m
            for m, stored, upto, rev in held
            if rev == revs.get(m) and fingerprint(inputs[m], upto) == stored
        ]
        if not valid:
            return {}
        return {
            m: decode(payload)
            for m, payload in conn.execute(
                sa.select(c.mailbox_id, c.payload).where(c.mailbox_id.in_(valid))
            )
        }

    def keep_timelines(self, entries: Sequence[tuple[int, str, int, Memo]]) -> int:
        """Store memos: ``(mailbox_id, inputs_digest, rev, memo)`` each, ``rev`` the mailbox's
        in the snapshot the walk read (:attr:`TimelineInputs.revs`), replacing older ones; how
        many were stored.

        A memo is kept only while that ``rev`` is still the mailbox's (a write on a past day
        since then may be one the walk did not see) and only of a day before the wall clock's
        today in the mailbox's zone (see the module docstring).
        """
        if not entries:
            return 0
        m = MAILBOX.c
        with self.write() as conn:
            now = {
                i: (rev, tz)
                for i, rev, tz in conn.execute(
                    sa.select(m.id, m.rev, m.timezone).where(m.id.in_([e[0] for e in entries]))
                )
            }
            todays: dict[str, dt.date] = {}
            values = []
            for mailbox_id, inputs, rev, memo in entries:
                current = now.get(mailbox_id)
                if current is None or current[0] != rev:
                    continue
                tz = current[1]
                if tz not in todays:
                    todays[tz] = self.real_today(tz)
                if memo.upto >= todays[tz]:
                    continue
                values.append(
                    {
                        "mailbox_id": mailbox_id,
                        "upto": memo.upto,
                        "rev": rev,
                        "payload": encode(memo),
                        "fingerprint": fingerprint(inputs, memo.upto),
                    }
                )
            if values:
                stmt = self._insert(TIMELINE_CACHE)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[TIMELINE_CACHE.c.mailbox_id],
                    set_={k: stmt.excluded[k] for k in ("fingerprint", "upto", "payload", "rev")},
                )
                conn.execute(stmt, values)
        return len(values)

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
