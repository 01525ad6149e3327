"""Report frames (pandas) and figures (matplotlib) for the CLI's ``report``/``plot`` and notebooks.

Numbers come from SQL aggregates (:mod:`warmup.ledger.reports_sql`: the ``day_stat`` rollup and
``GROUP BY`` queries), never from every send row. Quota, stage, health and status per past day come
from the policy engine's own day-by-day walk (:func:`warmup.policy.timeline`), so a report cannot
disagree with what ``warmup quota`` said that day.

This module imports pandas and matplotlib; nothing on the ``warmup quota``/``warmup send`` path
imports it (the CLI imports it inside the report commands).
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from warmup import api, policies
from warmup.errors import ConfigError, InvalidField, Unavailable, UnwritableField
from warmup.ledger import Ledger, MailboxRow, local_day
from warmup.ledger import timeline_cache as tc
from warmup.ledger.reads import EARLIEST_ZONE
from warmup.ledger.schema import BOUNCE_KINDS
from warmup.ledger.values import day_start, utc
from warmup.plotcheck import PLOT_SUFFIXES as PLOT_SUFFIXES
from warmup.plotcheck import WHERE, check_plot_path
from warmup.plotcheck import plot_folder as plot_folder
from warmup.plots import figure, wide_text
from warmup.policy import (
    DayCounts,
    History,
    PolicySpec,
    WalkState,
)
from warmup.policy.engine import timeline_checkpoint_steps
from warmup.policy.steady import batch_sums
from warmup.policy.walk import DayRows, drive_all, lookback
from warmup.providers import get_provider

DAILY_COLUMNS = [
    "mailbox",
    "date",
    "warmup_day",
    "stage",
    "quota",
    "sent",
    "hard",
    "soft",
    "block",
    "complaints",
    "bounced",
    "sends_bounced",
    "bounce_rate",
    "complaint_rate",
    "day_bounce_rate",
    "health",
    "status",
]


def mailboxes(ledger: Ledger, addresses: Sequence[str] = ()) -> list[MailboxRow]:
    """The named mailboxes, each once (an unknown one is an error saying how to add it), or all
    of them."""
    if addresses:
        return api.named_mailboxes(ledger, addresses)
    return ledger.mailboxes()


def _thresholds(spec: PolicySpec) -> dict[str, Any]:
    h = spec.health
    return {
        "policy": spec.name,
        "window_days": h.window_days,
        "hold_above": h.hold_above,
        "step_back_above": h.step_back_above,
        "pause_above": h.pause_above,
        "complaint_hold_above": h.complaint_hold_above,
        "complaint_pause_above": h.complaint_pause_above,
        "stages": [s.name for s in spec.stages],
    }


def daily(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
    *,
    cache: bool = True,
    boxes: Sequence[MailboxRow] | None = None,
) -> pd.DataFrame:
    """One row per mailbox and local day, from its first day with sends or bounces (from its
    start day on, as its walk counts them; or the last ``days``) to today.

    Columns: ``sent``, ``hard``, ``soft``, ``block``, ``complaints``, ``bounced`` (hard + soft +
    block: the bounces that arrived that day) from the rollup; ``sends_bounced``, how many of
    that day's sends bounced, whenever the bounce arrived; ``warmup_day``, ``stage``, ``quota``,
    ``health``, ``status`` and ``bounce_rate``/``complaint_rate`` (the trailing window the
    policy judged the day on, bounces on the day they arrived; NaN while too few sends) from the
    policy's walk; ``day_bounce_rate`` is that day's sends_bounced / sent (never above 1).
    ``frame.attrs["thresholds"]`` holds each mailbox's policy thresholds and stage names.

    ``cache``: reuse (and refresh) the ledger's memo of each mailbox's walk over past days
    (:mod:`warmup.ledger.timeline_cache`), valid only while every input of those days is
    unchanged, so the frame is the same with or without it; a repeated report then walks only
    the days since the last one.

    ``boxes``: the mailboxes' rows, when the caller has them (``addresses`` is then unused).
    """
    # the cycle collector held off, as for ``warmup quota``: a cold year's walks, memos and
    # columns of 1,000 mailboxes made it go through them all again and again, for no cycle
    with api.collector_paused():
        return _daily(ledger, addresses, days, at, cache, boxes)


def _daily(
    ledger: Ledger,
    addresses: Sequence[str],
    days: int | None,
    at: dt.datetime | None,
    cache: bool,
    boxes: Sequence[MailboxRow] | None,
) -> pd.DataFrame:
    _check_days(days)
    at = at or api.now_utc()
    boxes = mailboxes(ledger, addresses) if boxes is None else list(boxes)
    ids = [b.id for b in boxes]
    specs: dict[str, PolicySpec] = {}
    for b in boxes:  # a policy that cannot be used: the error names the mailbox and the fix
        if b.policy not in specs:
            specs[b.policy] = policies.policy_for(ledger, b)
    texts = {ref: repr(spec) for ref, spec in specs.items()}  # the policy's content, once each
    provs = {b.id: get_provider(b.provider, of=b.address) for b in boxes}
    todays = {b.id: local_day(at, b.timezone) for b in boxes}
    by_id = {b.id: b for b in boxes}

    def digest(mailbox_id: int, events: tuple[Any, ...]) -> str:
        b = by_id[mailbox_id]
        return tc.inputs_digest(
            address=b.address,
            timezone=b.timezone,
            policy=texts[b.policy],
            cap=b.cap,
            started=b.started,
            provider_ceiling=provs[b.id].daily_limit,
            provider_min_interval=provs[b.id].min_interval,
            events=events,
        )

    # today counts only what happened by ``at``, as ``warmup quota`` at it does
    starts = {b.id: day_start(todays[b.id], b.timezone) for b in boxes}
    # under a domain cap now or in an earlier policy (warmup.policy.eras): read what the
    # domain's other mailboxes sent, keep memos of days over everywhere only
    capped = {b.id for b in boxes if specs[b.policy].domain_cap is not None}
    capped |= policies.capped_before(ledger, [b.id for b in boxes])
    got = ledger.timeline_inputs(
        ids,
        digest,
        todays,
        {m: lookback(specs[by_id[m].policy]) for m in ids},
        cache=cache,
        cut=(utc(at), starts),
        capped={b.id: b.address for b in boxes if b.id in capped},
    )
    evs, inputs, memos, per_box, held = got.events, got.inputs, got.memos, got.rows, got.held
    rows_of = [per_box.get(b.id, _NO_ROWS) for b in boxes]
    # Mailboxes with more rollup rows than a few take their day sums as arrays, all in one pass
    many = [k for k, rows in enumerate(rows_of) if len(rows[0]) > _FEW_DAYS]
    sums = dict(
        zip(
            many,
            batch_sums(
                [rows_of[k] for k in many],
                [boxes[k].started for k in many],
                [specs[boxes[k].policy].health.window_days for k in many],
            ),
            strict=True,
        )
    )
    # every mailbox's walk at once, the stretches they reach at the same point walked together
    # (drive_all: one numpy pass for many mailboxes' stretches, as ``warmup quota`` walks them)
    steps = []
    for k, box in enumerate(boxes):
        spec, memo = specs[box.policy], memos.get(box.id)
        hist = History(
            mailbox=box.address,
            timezone=box.timezone,
            days=() if k in sums else _day_counts(*rows_of[k]),
            events=evs.get(box.id, ()),
            cap=box.cap,
            started=box.started,
            provider_ceiling=provs[box.id].daily_limit,
            provider_min_interval=provs[box.id].min_interval,  # in the memo's digest too
            memo=memo.state if memo else None,
            domain_days=got.domain_days.get(box.id, {}),
        )
        hist = policies.with_eras(ledger, hist)  # each day under the policy then
        # the memo kept is of yesterday: a write on yesterday (a bounce synced this morning)
        # leaves it valid, where one of today's start was dropped by it
        yesterday = todays[box.id] - dt.timedelta(days=1)
        steps.append(timeline_checkpoint_steps(spec, hist, at, sums.get(k), checkpoint=yesterday))
    out = _Columns()
    walked = []
    for box, (line, _, state) in zip(boxes, drive_all(steps), strict=True):
        memo = memos.get(box.id)
        first = out.size
        if memo is not None:
            out.add_memo(memo)
        for part in line.parts:
            out.add(part)
        walked.append((first, out.size, len(line), state))
    col = out.columns([(a, z) for a, z, _, _ in walked], rows_of)
    col["sends_bounced"] = _sends_bounced(col, ids, *ledger.bounced_by_send_day(ids, at))
    writes = []
    if cache:
        writes = _new_memos(boxes, memos, held, inputs, got.revs, walked, col)
        # under a domain cap, only days over in every zone (EARLIEST_ZONE): the others' sends
        # on a day not over in theirs move no rev, and a report --at ahead walks such days
        if capped:
            last = ledger.real_today(EARLIEST_ZONE)
            writes = [w for w in writes if w[0] not in capped or w[3].upto <= last]
    if writes:
        _store_memos(ledger, writes)
    if days is not None:  # each mailbox's last days only
        ends = np.array([z for _, z, _, _ in walked], dtype=np.int64)
        keep = ends[col["box"]] - np.arange(len(col["box"])) <= days
        col = {name: v[keep] for name, v in col.items()}
    frame = _frame(col, [b.address for b in boxes])
    frame.attrs["thresholds"] = {b.address: _thresholds(specs[b.policy]) for b in boxes}
    frame.attrs["at"] = at.isoformat()
    return frame


def _sends_bounced(
    col: dict[str, np.ndarray],
    ids: list[int],
    box_ids: np.ndarray,
    ordinals: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Each day's ``sends_bounced`` (the report's days: ``col``'s ``box``, a place in ``ids``,
    and ``ordinal``) from the bounces by their send's day
    (:meth:`~warmup.ledger.Ledger.bounced_by_send_day`); a day the report has not, none."""
    key = col["box"] * _KEY + col["ordinal"]  # increasing: mailboxes in turn, days in order
    out = np.zeros(len(key), dtype=np.int64)
    if not len(box_ids) or not len(key):
        return out
    known = np.array(ids, dtype=np.int64)
    order = np.argsort(known)
    place = order[np.minimum(np.searchsorted(known, box_ids, sorter=order), len(known) - 1)]
    mine = known[place] == box_ids
    wanted = place[mine] * _KEY + ordinals[mine]
    at = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
    hit = key[at] == wanted
    out[at[hit]] = counts[mine][hit]
    return out


def _new_memos(
    boxes: list[MailboxRow],
    memos: dict[int, tc.Memo],
    held: dict[int, dt.date],
    inputs: dict[int, str],
    revs: dict[int, int],
    walked: list[tuple[int, int, int, WalkState | None]],
    col: dict[str, np.ndarray],
) -> list[tuple[int, str, int, tc.Memo]]:
    """The memos to store, each of yesterday (the walk's state at its start, the days before
    it) and at the mailbox's ``rev`` the walk read: a mailbox walked on from its memo keeps the
    days it added; one walked from its first day keeps them all (unless a newer memo is held)."""
    todo = []
    for k, (box, (_, _, n, state)) in enumerate(zip(boxes, walked, strict=True)):
        memo = memos.get(box.id)
        if state is None:  # no active day before yesterday: nothing worth keeping
            continue
        if (memo is not None and memo.upto < state.upto) or (  # walked on from the memo
            memo is None
            and n > 1
            and state.last_active is not None
            and (held.get(box.id) is None or held[box.id] <= state.upto)
        ):
            todo.append(k)
    if not todo:
        return []
    typed = _memo_columns(col)
    writes = []
    for k in todo:
        a, z, _, state = walked[k]
        assert state is not None
        box = boxes[k]
        z = a + int(np.searchsorted(col["ordinal"][a:z], state.upto.toordinal()))  # before it
        cols = {name: v[a:z] for name, v in typed.items() if name != "stage"}
        codes, stage = np.unique(typed["stage"][a:z], return_inverse=True)
        cols["stage"] = stage.astype(np.uint8)
        stages = [typed["stage names"][c] for c in codes.tolist()]
        memo = tc.Memo(state.upto, int(col["ordinal"][a]), stages, state, cols)
        writes.append((box.id, inputs[box.id], revs[box.id], memo))
    return writes


def _memo_columns(col: dict[str, np.ndarray]) -> dict[str, Any]:
    """The report's columns as a memo's (:data:`warmup.ledger.timeline_cache.COLUMNS`), for
    every mailbox at once: a memo's are slices of them. Stages coded by their place in
    ``"stage names"``; health by its place in ``tc.HEALTH`` (as ``col`` has it)."""
    out: dict[str, Any] = {
        name: np.ascontiguousarray(col[name], dtype=kind)
        for name, kind in tc.COLUMNS
        if name not in ("stage", "health")
    }
    out["stage"], names = pd.factorize(col["stage"])
    out["stage names"] = list(names)
    out["health"] = col["health"]
    return out


def _store_memos(ledger: Ledger, writes: list[Any]) -> None:
    """Write the new memos; a ledger this user may only read still gets its report."""
    try:
        ledger.keep_timelines(writes)
    except (ConfigError, Unavailable):
        pass  # a memo is an optimisation: the report is complete without it


_HEALTH = np.array(tc.HEALTH, dtype=object)
# a day's status by its health (code), before pauses, resumes and closed days
_STATUS = np.array([h if h in ("hold", "step_back") else "ok" for h in tc.HEALTH], dtype=object)


# Up to this many rollup rows (a warm report's days since its memos) the walk sums them in
# Python: numpy's cost per call made a warm report of 1,000 mailboxes 0.5 s slower.
_FEW_DAYS = 64


def _day_counts(ordinals: np.ndarray, counts: np.ndarray) -> tuple[DayCounts, ...]:
    """Rollup rows (day ordinals, count matrix) as the walk's :class:`DayCounts`."""
    fromordinal = dt.date.fromordinal
    return tuple(
        DayCounts(fromordinal(o), *row)
        for o, row in zip(ordinals.tolist(), counts.tolist(), strict=True)
    )


_NO_ROWS = (np.zeros(0, dtype=np.int64), np.zeros((0, len(tc.COUNT_COLUMNS)), dtype=np.int64))


# The walk's fields as the report's columns (dtype; name where it differs)
_DTYPES = {
    "ordinal": np.int64,
    "day": np.int64,
    "stage": object,
    "quota": np.int64,
    "health": object,
    "rate": np.float64,
    "complaint_rate": np.float64,
    "paused": bool,
    "resumed": bool,
    "closed": bool,
}
_NAMES = {"day": "warmup_day"}


class _Columns:
    """The report's days, every mailbox's in turn, gathered as the walk gives them (memos'
    columns, stretches' arrays, lists of day tuples) and joined once per column."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, Any]] = []  # (where it starts, its columns or tuples)
        self.tuples: list[Any] = []  # the days walked one by one, of every mailbox
        self.size = 0

    def add_memo(self, memo: tc.Memo) -> None:
        self._add(_memo_block(memo), len(memo.columns["quota"]))

    def add(self, part: list[Any] | dict[str, Any]) -> None:
        if isinstance(part, list):
            self._add((len(self.tuples), len(self.tuples) + len(part)), len(part))
            self.tuples.extend(part)
        else:
            self._add({_NAMES.get(f, f): v for f, v in part.items()}, len(part["ordinal"]))

    def _add(self, part: Any, n: int) -> None:
        self.parts.append((self.size, part))
        self.size += n

    def columns(
        self, ranges: list[tuple[int, int]], rows_of: list[tuple[np.ndarray, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """One array per column, and ``box``: each day's mailbox, by its place in ``ranges``
        (where each mailbox's days are). The counts of days walked here come from the
        mailbox's rollup rows (``rows_of``: day ordinals, count matrix), a memo's from it."""
        by_field = list(zip(*self.tuples, strict=True)) or [()] * len(DayRows.FIELDS)
        listed = {  # None (a rate not judged) becomes NaN
            f: np.array(v, dtype=_DTYPES[f]) for f, v in zip(DayRows.FIELDS, by_field, strict=True)
        }
        out = {}
        for f in DayRows.FIELDS:
            name = _NAMES.get(f, f)
            if f == "health":
                continue
            pieces = [
                listed[f][p[0] : p[1]] if isinstance(p, tuple) else p[name] for _, p in self.parts
            ]
            out[name] = np.concatenate([np.zeros(0, dtype=_DTYPES[f]), *pieces], dtype=_DTYPES[f])
        n = self.size
        out["health"] = self._health(listed["health"], n)
        counts = np.zeros((n, len(tc.COUNT_COLUMNS)), dtype=np.int64)
        fresh = np.ones(n, dtype=bool)  # days not from a memo
        for at, p in self.parts:
            if isinstance(p, dict) and "sent" in p:  # a memo's days, with their counts
                m = len(p["sent"])
                for i, c in enumerate(tc.COUNT_COLUMNS):
                    counts[at : at + m, i] = p[c]
                fresh[at : at + m] = False
        sizes = np.array([z - a for a, z in ranges], dtype=np.int64)
        box = out["box"] = np.repeat(np.arange(len(ranges)), sizes)
        ordinal = out["ordinal"]
        same = box[1:] == box[:-1]
        if not (ordinal[1:][same] - ordinal[:-1][same] == 1).all():
            raise AssertionError("the walk skipped a day")
        # each rollup row goes to its mailbox's day, if the walk has that day
        lengths = [len(o) for o, _ in rows_of]
        if sum(lengths) and n:
            key = box * _KEY + ordinal  # increasing: mailboxes in turn, days in order
            rows = np.concatenate([o for o, _ in rows_of])
            wanted = np.repeat(np.arange(len(rows_of)), lengths) * _KEY + rows
            at = np.minimum(np.searchsorted(key, wanted), n - 1)
            hit = (key[at] == wanted) & fresh[at]
            counts[at[hit]] = np.concatenate([c for _, c in rows_of])[hit]
        for i, c in enumerate(tc.COUNT_COLUMNS):
            out[c] = counts[:, i]
        return out

    def _health(self, listed: np.ndarray, n: int) -> np.ndarray:
        """Each day's health as its place in ``tc.HEALTH``: a memo's days have it so; the
        walked days' words (``listed``: those walked one by one) are coded in one pass."""
        codes = np.zeros(n, dtype=np.uint8)
        walked = np.ones(n, dtype=bool)
        words = []
        for at, p in self.parts:
            if isinstance(p, tuple):
                words.append(listed[p[0] : p[1]])
            elif "sent" in p:  # a memo's days
                m = len(p["health"])
                codes[at : at + m] = p["health"]
                walked[at : at + m] = False
            else:
                words.append(p["health"])
        if words:
            found, uniques = pd.factorize(np.concatenate(words, dtype=object))
            places = np.array([tc.HEALTH.index(h) for h in uniques], dtype=np.uint8)
            codes[walked] = places[found]
        return codes


_KEY = 1 << 23  # above every day ordinal (year 9999: 3,652,059)


def _memo_block(memo: tc.Memo) -> dict[str, Any]:
    """A memo's days as columns (narrower integer types than the walk's: :class:`_Columns`
    joins them as int64)."""
    cols = memo.columns
    n = len(cols["quota"])
    out: dict[str, Any] = dict(cols)
    out["ordinal"] = np.arange(memo.first, memo.first + n, dtype=np.int64)
    out["stage"] = np.array(memo.stages, dtype=object)[cols["stage"]]
    out["paused"] = cols["paused"].view(bool)
    out["resumed"] = cols["resumed"].view(bool)
    out["closed"] = cols["closed"].view(bool)
    return out


def _frame(col: dict[str, Any], addresses: list[str]) -> pd.DataFrame:
    """The report frame from the columns of every mailbox's days (vectorised: a year of a
    thousand mailboxes is 365,000 rows); ``addresses`` by the place ``col["box"]`` gives."""
    if not len(col["box"]):
        return pd.DataFrame({c: [] for c in DAILY_COLUMNS}, columns=DAILY_COLUMNS).astype(
            {
                "date": "datetime64[ns]",
                "bounce_rate": "float64",
                "complaint_rate": "float64",
                "day_bounce_rate": "float64",
            }
        )
    bounced = col["hard"] + col["soft"] + col["block"]
    sent = col["sent"]
    sends_bounced = col["sends_bounced"]
    day_rate = sends_bounced / np.where(sent > 0, sent, np.nan)
    health = _HEALTH[col["health"]]
    status = _STATUS[col["health"]]
    status[col["closed"]] = "closed"  # DayVerdict.status's order: resumed, paused, closed, health
    status[col["paused"]] = "paused"
    status[col["resumed"]] = "resumed"
    dates = (col["ordinal"] - _EPOCH).astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "mailbox": np.array(addresses, dtype=object)[col["box"]],
            "date": dates,
            "warmup_day": col["warmup_day"],
            "stage": col["stage"],
            "quota": col["quota"],
            "sent": sent,
            "hard": col["hard"],
            "soft": col["soft"],
            "block": col["block"],
            "complaints": col["complaint"],
            "bounced": bounced,
            "sends_bounced": sends_bounced,
            "bounce_rate": col["rate"],
            "complaint_rate": col["complaint_rate"],
            "day_bounce_rate": day_rate,
            "health": health,
            "status": status,
        },
        columns=DAILY_COLUMNS,
        copy=False,  # the columns are the frame's alone: stacking them cost a warm year 0.1 s
    )


_EPOCH = dt.date(1970, 1, 1).toordinal()


def standing(
    ledger: Ledger, addresses: Sequence[str] = (), at: dt.datetime | None = None
) -> pd.DataFrame:
    """Where each mailbox stands at ``at``: ``warmup quota``'s answer, with its reasons."""
    at = at or api.now_utc()
    rows = []
    for box in mailboxes(ledger, addresses):
        a = api.quota_for(ledger, box, at)
        rows.append(
            {
                "mailbox": a.mailbox,
                "stage": a.stage,
                "warmup_day": a.day,
                "quota": a.quota,
                "sent": a.sent,
                "remaining": a.remaining,
                "status": a.status,
                "bounce_rate": a.bounce_rate,
                "reasons": "; ".join(a.reasons),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "mailbox",
            "stage",
            "warmup_day",
            "quota",
            "sent",
            "remaining",
            "status",
            "bounce_rate",
            "reasons",
        ],
    )


def _check_days(days: int | None) -> int | None:
    """``days`` as the reports read it: None (the whole history) or a whole number from 1. A
    notebook passes it as given (papermill ``-p days 0``): 0 took the whole history in
    :func:`daily` and none in the bounce tables, a negative number dropped the first days."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise InvalidField(
            "days",
            "{field} {value!r}: expected a whole number of local days, 1 or more "
            "(None: the whole history)",
            value=days,
        )
    return days


def _windows(
    boxes: list[MailboxRow], days: int | None, at: dt.datetime | None
) -> list[tuple[list[int], dt.date | None, dt.date]]:
    """The mailboxes grouped by their window of local days, each in its own zone as
    :func:`daily`'s rows are: from the first of the last ``days`` (None: from the start) to the
    day of ``at`` (default now), and never before the mailbox's start day (``--started``), where
    its walk, so :func:`daily`, begins: the bounce tables count the days the report shows. One
    group when they share a zone, as they mostly do."""
    days = _check_days(days)
    at = at or api.now_utc()
    groups: dict[tuple[dt.date | None, dt.date], list[int]] = {}
    for b in boxes:
        today = local_day(at, b.timezone)
        since = None if days is None else today - dt.timedelta(days=days - 1)
        if b.started is not None:  # a start day still ahead: today's row is the report's only
            start = min(b.started, today)
            since = start if since is None else max(since, start)
        groups.setdefault((since, today), []).append(b.id)
    return [(ids, since, until) for (since, until), ids in groups.items()]


def bounces_by_domain(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox and recipient domain: the period's sends, their counted bounces by kind and
    their bounce rate (never above 100%), worst first."""
    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    sends: list[tuple[int, str, int]] = []
    bounces: list[tuple[int, str, str, int]] = []
    for ids, since, until in _windows(boxes, days, at):
        got = ledger.domain_counts(ids, since, until, at)
        sends += got[0]
        bounces += got[1]
    frame = pd.DataFrame(sends, columns=["mailbox_id", "domain", "sends"])
    kinds = pd.DataFrame(bounces, columns=["mailbox_id", "domain", "kind", "n"]).pivot_table(
        index=["mailbox_id", "domain"], columns="kind", values="n", aggfunc="sum", fill_value=0
    )
    kinds = kinds.reindex(columns=list(BOUNCE_KINDS), fill_value=0).reset_index()
    frame = frame.merge(kinds, on=["mailbox_id", "domain"], how="outer").fillna(0)
    for c in ("sends", *BOUNCE_KINDS):
        frame[c] = frame[c].astype("int64")
    frame.insert(0, "mailbox", frame.pop("mailbox_id").map(names))
    frame["bounce_rate"] = (frame.hard + frame.soft + frame.block) / frame.sends.where(
        frame.sends > 0
    )
    return frame.sort_values(
        ["mailbox", "bounce_rate", "sends"], ascending=[True, False, False]
    ).reset_index(drop=True)


def bounces_by_kind(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox, local day, bounce kind and enhanced status: how many bounces."""
    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    rows = [
        row
        for ids, since, until in _windows(boxes, days, at)
        for row in ledger.bounces_by_kind(ids, since, until, at)
    ]
    frame = pd.DataFrame(
        rows, columns=["mailbox_id", "date", "kind", "status", "counted", "bounces"]
    ).astype({"counted": bool, "bounces": np.int64})  # typed even when empty: frame[counted]
    frame.insert(0, "mailbox", frame.pop("mailbox_id").map(names))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def bounces_by_reason(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox, local day, kind and reason (:func:`warmup.bounces.reasons.recorded_reason`,
    from the text each bounce was recorded with): how many bounces, ``counted`` or not,
    ``matched`` to a send of the mailbox or not."""
    from warmup.bounces.classify import recorded_reason

    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    reason = functools.lru_cache(maxsize=4096)(recorded_reason)
    rows = [
        (names[m], d, k, reason(k, s, r, g), c, x, n)
        for ids, since, until in _windows(boxes, days, at)
        for m, d, k, s, r, g, c, x, n in ledger.bounce_texts(ids, since, until, at)
    ]
    keys = ["mailbox", "date", "kind", "reason", "counted", "matched"]
    frame = pd.DataFrame(rows, columns=[*keys, "bounces"])
    out = frame.groupby(keys, as_index=False, sort=True).agg(bounces=("bounces", "sum"))
    out["date"] = pd.to_datetime(out["date"])
    return out


def reasons_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`bounces_by_reason` over its whole period: per mailbox, reason, kind, whether
    counted and whether matched to a send, most bounces first."""
    keys = ["mailbox", "reason", "kind", "counted", "matched"]
    out = frame.groupby(keys, as_index=False).agg(bounces=("bounces", "sum"))
    return out.sort_values(
        ["mailbox", "counted", "bounces", "reason", "matched"],
        ascending=[True, False, False, True, False],
    ).reset_index(drop=True)


def suppressions(
    ledger: Ledger, timezone: str = "UTC", at: dt.datetime | None = None
) -> pd.DataFrame:
    """New suppressions per local day and kind, with the running total of the do-not-mail list.

    A suppression's day is the local day of the mailbox whose bounce or complaint caused it (as
    every other report); one with no mailbox (added by hand) falls on its day in ``timezone``.
    ``at``: as of this instant (those added after it are left out; default: all).
    """
    zones = {b.id: b.timezone for b in ledger.mailboxes()}
    rows = [
        (local_day(t, zones.get(m, timezone) if m is not None else timezone), k)
        for t, k, m in ledger.suppression_times()
        if at is None or t <= at
    ]
    frame = pd.DataFrame(rows, columns=["date", "kind"])
    frame = frame.groupby(["date", "kind"], as_index=False, sort=True).size()
    frame = frame.rename(columns={"size": "added"})
    frame["date"] = pd.to_datetime(frame["date"])
    frame["total"] = frame["added"].cumsum()
    return frame


def weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """The daily frame summed per mailbox and local week (Monday to Sunday), with the week's
    bounce rate: of the week's sends, the share that bounced (``sends_bounced``, whenever the
    bounce arrived; ``hard``, ``soft`` and ``block`` are the bounces that arrived in the week);
    ``week`` is the week's last day, a date (no time of day)."""
    cols = ["sent", "hard", "soft", "block", "complaints", "sends_bounced"]
    out = frame.set_index("date").groupby("mailbox")[cols].resample("W-SUN").sum().reset_index()
    out.insert(1, "week", out.pop("date").dt.date)
    out["bounce_rate"] = out.sends_bounced / out.sent.where(out.sent > 0)
    return out


def rollup_mismatches(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Where the ``day_stat`` rollup disagrees with the raw rows ([] when it is sound)."""
    return ledger.rollup_mismatches()


# What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_text(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (a mailbox ``=cmd|...@x.example``,
    a stored policy's stage name), with an apostrophe before it, as OWASP advises against CSV
    injection: the spreadsheet shows the text; anything else as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_text(frame: pd.DataFrame, fmt: str) -> str:
    """The daily frame as ``csv`` or ``json`` (records; dates ISO; rates as fractions), ending
    in a newline. In CSV, a text cell starting with ``=``, ``+``, ``-`` or ``@`` gets a leading
    apostrophe (a spreadsheet would run it as a formula), and a truth value is ``true`` or
    ``false`` (as in JSON, not Python's ``True``); JSON keeps the text as it is."""
    return "".join(iter_text(frame, fmt))


def iter_text(frame: pd.DataFrame, fmt: str, rows: int = 5_000) -> Iterator[str]:
    """:func:`to_text` in pieces of ``rows`` rows, for a caller that writes them as they come:
    a year of 1,000 mailboxes (365,000 rows) as one JSON text took 1.7 GB at its peak (a dict
    per row, then the whole text), three times what the report itself needs."""
    if fmt == "json" and frame.empty:
        yield "[]\n"
        return
    # without its attrs (each mailbox's thresholds): pandas deep-copies them at every step,
    # once per piece, which took longer than writing the rows
    frame = frame.copy(deep=False)  # the same columns, not copied
    frame.attrs = {}
    for k, start in enumerate(range(0, max(len(frame), 1), rows)):
        out = frame.iloc[start : start + rows].copy()
        if "date" in out:
            out["date"] = out["date"].dt.strftime("%Y-%m-%d")
        if fmt == "csv":
            for column in out.columns:
                if pd.api.types.is_bool_dtype(out[column]):  # true/false, as --json writes them
                    out[column] = out[column].map({True: "true", False: "false"})
                elif not pd.api.types.is_numeric_dtype(out[column]):
                    out[column] = out[column].map(_spreadsheet_text)
            yield str(out.to_csv(index=False, header=k == 0))
            continue
        # A line of text like every other output (the shell's prompt does not follow a bare
        # "]"), laid out and with text as written, as print_json writes it, and rates exact
        # (pandas' to_json rounds floats to 10 digits, writes "key":value and escapes non-ASCII
        # text). Each piece is the list's items of its rows, without the list's brackets.
        records = out.astype(object).where(out.notna(), None).to_dict(orient="records")
        text = json.dumps(records, indent=2, ensure_ascii=False, default=_json_value)
        yield ("[\n" if k == 0 else ",\n") + text[2:-2]
    if fmt == "json":
        yield "\n]\n"


def _json_value(value: Any) -> Any:
    """A numpy scalar left in an object column, as the Python number or bool it holds."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def ahead(
    ledger: Ledger, addresses: Sequence[str] = (), days: int = 14, at: dt.datetime | None = None
) -> pd.DataFrame:
    """Each mailbox's plan for the next ``days`` local days (``warmup plan``): date, warm-up day,
    stage, quota and the cumulative recipients, one row per mailbox and day."""
    at = at or api.now_utc()
    rows = [
        {
            "mailbox": box.address,
            "date": p.date,
            "warmup_day": p.day,
            "stage": p.stage,
            "quota": p.quota,
            "cumulative": p.cumulative,
        }
        for box in mailboxes(ledger, addresses)
        for p in api.plan(ledger, box.address, days, at)
    ]
    cols = ["mailbox", "date", "warmup_day", "stage", "quota", "cumulative"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


# A file that cannot take the bytes, wherever it is: no folder would help (exit 74, not 64).
_WRITE_FAILED = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


def plot(frame: pd.DataFrame, out: str | Path, field: str = "out") -> Path:
    """Draw :func:`warmup.plots.figure` and write it (PNG, SVG or PDF by the suffix); the path
    written. ``field`` names ``out`` in errors (the option it came from)."""
    path = check_plot_path(out, field)
    try:
        with wide_text():
            _save_whole(figure(frame), path)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno in _WRITE_FAILED:
            raise UnwritableField(
                field, "{field} {out}: cannot write it ({why})", out=out, why=why
            ) from None
        raise InvalidField(
            field, "{field} {out}: cannot write it ({why}); " + WHERE, out=out, why=why
        ) from None
    return path


def _save_whole(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` whole or not at all.

    A regular file (or a new name) is written beside itself under a temporary name and renamed
    over it: a disk filling up midway leaves the plot that was there as it was (matplotlib wrote
    in place, leaving the head of the new one: a corrupt file where the old plot was), and no
    temporary file. A link to a file replaces the file it points to, keeping the link. Anything
    else (a device, a pipe), or a file in a folder that takes no new name, is written in place.
    A temporary file a plot killed midway left (SIGKILL, a power cut) is removed by the next
    plot of the same file (:func:`_clear_stale`).
    """
    target = path.resolve()
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    kind = path.suffix.lower().lstrip(".")
    if mode is not None and not stat.S_ISREG(mode):
        fig.savefig(path, dpi=110, format=kind)
        return
    _clear_stale(target)
    try:
        fd, temp = _temp_beside(target)
    except OSError as exc:
        if mode is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        fig.savefig(path, dpi=110, format=kind)  # a file you may write in a folder you may not
        return
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=110, format=kind)
            f.flush()  # a full disk fails here, before the rename, as the close did
            if mode is not None:
                os.chmod(temp, stat.S_IMODE(mode))
            # Renamed while still open: closed first, its lock dropped, another plot starting
            # then took it for a killed plot's and removed it (the rename failed).
            os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# The temporary names _temp_beside gives: ".trend.png.1a2b3c4d.tmp" beside trend.png.
_TEMP_TAIL = re.compile(r"\.[0-9a-f]{8}\.tmp")


def _temp_beside(target: Path) -> tuple[int, Path]:
    """A new file beside ``target`` (``.NAME.XXXXXXXX.tmp``, mode 0o666 less the umask, as the
    file written in place had), open for writing and locked (``flock``) for as long as this
    process holds it: a lock the kernel drops however the process ends, so that a file left
    unlocked is one whose writer is gone (:func:`_clear_stale`)."""
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            import fcntl
        except ImportError:  # no flock (Windows): nothing is cleared either
            return fd, temp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: written all the same, never cleared
            return fd, temp
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        # Another plot may have found it unlocked, between the open and the lock, and removed
        # it as stale: then it is no longer this name's file, and another is made.
        if _same_file(temp, os.fstat(fd)):
            return fd, temp
        os.close(fd)


def _same_file(path: Path, held: os.stat_result) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _clear_stale(target: Path) -> None:
    """Remove the temporary files of ``target`` (:func:`_temp_beside`'s names, no other) that
    no process holds any more: a plot killed between writing and renaming left one beside the
    plot, hidden, the size of a plot, at every kill. One still locked is another plot being
    written now, and is left to it. Never fails: what cannot be cleared is left."""
    try:
        import fcntl
    except ImportError:
        return
    prefix = f".{target.name}"
    try:
        names = [
            e.name
            for e in os.scandir(target.parent)
            if e.name.startswith(prefix) and _TEMP_TAIL.fullmatch(e.name, len(prefix))
        ]
    except OSError:
        return
    for name in names:
        path = target.with_name(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            held = os.fstat(fd)
            if not stat.S_ISREG(held.st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: being written
            if _same_file(path, held):
                path.unlink()
        except OSError:
            continue
        finally:
            os.close(fd)
