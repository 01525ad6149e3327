"""The walk's days as dense tables: a mailbox's counts in, a report's rows out, and the answers
of a policy that hold for every mailbox. Pure, no I/O; never imports numpy.

- :class:`DaySums`: a mailbox's day counts as per-day lists and prefix sums (its window sums,
  the busiest of the days before each), so that a walk reads any window in O(1)
  (:class:`warmup.policy.summed.SummedWalk`); :func:`day_sums` computes them from the counts, a
  report computes them as numpy arrays itself (:func:`warmup.policy.steady.array_sums`).
- :class:`DayRows`: the days a walk went through, as a report reads them (no object per day).
- :class:`DayTables`: per-day answers that depend only on the policy and the zone (whether the
  window opens, what it fits, a warm-up day's stage), shared by every mailbox of that policy
  (:func:`day_tables`).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warmup.instants import zone
from warmup.policy.calendar import closed
from warmup.policy.inputs import GROWTH_DAYS, DayCounts, by_spec
from warmup.policy.rules import needed

if TYPE_CHECKING:
    from warmup.policy.rules import Walk
    from warmup.policy.spec import PolicySpec


@dataclass
class DaySums:
    """A mailbox's day counts as dense per-day lists from day ``origin`` (an ordinal) on, and the
    sums a walk reads of them; what :meth:`~warmup.policy.summed.SummedWalk.sum_up` derives
    from the counts, or what a caller that holds the counts as arrays computes itself (a
    report, with numpy) so that no :class:`DayCounts` is built for a day the walk does not
    look at.

    ``rows[k]``: the counts of day ``origin + k`` in :class:`DayCounts` field order (``sent``,
    ``hard``, ``soft``, ``block``, ``complaint``); ``sent[k]`` its sends; ``sums[k]``: (sent,
    bounced, complaints) of the days before ``origin + k`` (one more entry than days);
    ``window[k]``: (sent, bounced, complaints) of the health window before day ``origin + k``
    (``window_days`` days, cut at ``origin``) and the busiest of the :data:`GROWTH_DAYS` days
    before it. Days before ``hist.started`` are left out, as the walk leaves them out.

    ``rows`` and ``sums`` are read only on the days the full step walks (a few per mailbox in a
    report): any sequence of int tuples will do, e.g. one that converts a row when asked."""

    origin: int = 0
    rows: Sequence[tuple[int, ...]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    sums: Sequence[tuple[int, int, int]] = field(default_factory=lambda: [(0, 0, 0)])
    window: list[tuple[int, int, int, int]] = field(default_factory=list)
    # The same as numpy arrays, when the caller computed them so (a report): ``sent`` and the
    # window's sent, bounced, complaints and busiest as five int64 arrays by day. With them the
    # last stage is walked a stretch at a time (:mod:`warmup.policy.steady`).
    arrays: tuple[Any, ...] | None = None
    # What walks those stretches (warmup.policy.steady.Stretches), given with the arrays by
    # the caller that computed them: the walk itself never imports numpy.
    stretches: Any = None
    # With the arrays: the indices of the days after an idle gap of some length (the policy's
    # idle rules'), found when first asked for (warmup.policy.summed): (that length, the indices)
    gaps: tuple[int, list[int]] | None = field(default=None, compare=False, repr=False)

    def first_counted(self, before: int) -> int | None:
        """The ordinal of the first day with sends, bounces or complaints before ordinal
        ``before``, if any (:func:`warmup.policy.walk.start`'s first day): the first prefix sum
        that is not zero."""
        n = min(max(before - self.origin, 0), len(self.sums) - 1)
        k = bisect.bisect_left(range(n), True, key=lambda k: any(self.sums[k + 1]))
        return self.origin + k if k < n else None


def day_sums(counts: Mapping[dt.date, DayCounts], window_days: int) -> DaySums:
    """:class:`DaySums` of a walk's counts (pure Python; a report computes them with numpy)."""
    if not counts:
        return DaySums()
    by_ordinal = {d.toordinal(): c for d, c in counts.items()}
    origin = min(by_ordinal)
    rows: list[tuple[int, ...]] = [(0, 0, 0, 0, 0)] * (max(by_ordinal) - origin + 1)
    for o, c in by_ordinal.items():
        rows[o - origin] = (c.sent, c.hard, c.soft, c.block, c.complaint)
    sums = [(0, 0, 0)]
    sent = bounced = complaints = 0
    for n, hard, soft, block, complaint in rows:
        sent, bounced, complaints = sent + n, bounced + hard + soft + block, complaints + complaint
        sums.append((sent, bounced, complaints))
    days = [r[0] for r in rows]
    window = []
    for k in range(len(days)):
        (s1, b1, c1), (s0, b0, c0) = sums[k], sums[k - window_days if k > window_days else 0]
        busiest = max(days[k - GROWTH_DAYS : k]) if k >= GROWTH_DAYS else max(days[:k], default=0)
        window.append((s1 - s0, b1 - b0, c1 - c0, busiest))
    return DaySums(origin, rows, days, sums, window)


DayRow = tuple[int, int, str, int, str, float | None, float | None, bool, bool, bool]


class DayRows:
    """Days of a walk, in order: ``(ordinal, warm-up day, stage, quota, health, rate, complaint
    rate, paused, resumed, closed)`` each, the fields of :class:`~warmup.policy.engine.DayVerdict`
    but the reasons (what a report reads, without an object per day); ``rate``/``complaint
    rate`` are None when the window was not judged.

    Held as :attr:`parts`: lists of such tuples (days walked one by one) and blocks of columns
    (a stretch walked at once by :mod:`warmup.policy.steady`: one numpy array per field, NaN
    for a rate not judged), which a report concatenates without a tuple per day; iterating
    gives every day as a tuple of plain Python values either way."""

    FIELDS = (
        "ordinal",
        "day",
        "stage",
        "quota",
        "health",
        "rate",
        "complaint_rate",
        "paused",
        "resumed",
        "closed",
    )

    def __init__(self) -> None:
        self.parts: list[list[DayRow] | dict[str, Any]] = []
        self._rows: list[DayRow] | None = None  # the last part, when it is a list

    def append(self, row: DayRow) -> None:
        if self._rows is None:
            self._rows = []
            self.parts.append(self._rows)
        self._rows.append(row)

    def add_columns(self, columns: dict[str, Any]) -> None:
        """A stretch of days as one array per field of :attr:`FIELDS`."""
        self.parts.append(columns)
        self._rows = None

    def __len__(self) -> int:
        return sum(len(p) if isinstance(p, list) else len(p["ordinal"]) for p in self.parts)

    def __iter__(self) -> Iterator[DayRow]:
        for part in self.parts:
            if isinstance(part, list):
                yield from part
                continue
            cols = [part[f].tolist() for f in self.FIELDS]
            for k in (5, 6):  # rates: NaN is "not judged"
                cols[k] = [None if r != r else r for r in cols[k]]
            yield from zip(*cols, strict=True)


_MISSING = object()


class DayTables:
    """Per-day answers that depend only on the policy, the zone and the provider's gap, never
    on a mailbox's history: whether the window opens (:func:`closed`), how many sends fit in it
    at a stage's mean gap, the stage of a warm-up day. Filled as asked, shared by every
    mailbox of one policy and zone (:func:`day_tables`): a year's report asks each of them
    365,000 times for a few hundred distinct answers."""

    def __init__(self, spec: PolicySpec, tz: str) -> None:
        self.spec = spec
        self.tz = zone(tz)
        self.shut: dict[int, str | None] = {}
        self.fit: dict[tuple[int, int], int | None] = {}
        self.stage: dict[int, tuple[int, str, int]] = {}
        self.iso: dict[int, str] = {}
        self.needed: dict[int, int] = {}
        # per-day answers as arrays over a range of ordinals (warmup.policy.steady)
        self.vectors: dict[Any, tuple[int, Any]] = {}
        self.spans: dict[int, tuple[int, str, int, int | None, bool]] = {}

    def shut_on(self, o: int) -> str | None:
        got = self.shut.get(o, _MISSING)
        if got is _MISSING:
            spec = self.spec
            day = dt.date.fromordinal(o)
            got = self.shut[o] = closed(spec.window, spec.calendar, day, self.tz)
        return got  # type: ignore[return-value]

    def fit_on(self, o: int, number: int, walk: Walk) -> int | None:
        """:meth:`~warmup.policy.rules.Walk.capacity` (``walk`` of this zone and provider gap)."""
        got = self.fit.get((o, number), _MISSING)
        if got is _MISSING:
            got = walk.capacity(dt.date.fromordinal(o), self.spec.stages[number])
            self.fit[(o, number)] = got
        return got  # type: ignore[return-value]

    def stage_of(self, eff: int) -> tuple[int, str, int]:
        """``(stage number, stage name, volume)`` on the day after ``eff`` qualifying days."""
        got = self.stage.get(eff)
        if got is None:
            number, stage, index = self.spec.stage_at(eff + 1)
            got = self.stage[eff] = (number, stage.name, stage.volume(index))
        return got

    def iso_of(self, o: int) -> str:
        got = self.iso.get(o)
        if got is None:
            got = self.iso[o] = dt.date.fromordinal(o).isoformat()
        return got

    def needed_of(self, could: int) -> int:
        got = self.needed.get(could)
        if got is None:
            got = self.needed[could] = needed(self.spec.qualify, could)
        return got


def day_tables(spec: PolicySpec, tz: str, min_interval: float) -> DayTables:
    """The :class:`DayTables` of a policy, zone and provider gap (one per report's group)."""
    return by_spec(_DAY_TABLES, spec, (tz, min_interval), lambda: DayTables(spec, tz))


_DAY_TABLES: dict[tuple[Any, ...], tuple[PolicySpec, Any]] = {}
