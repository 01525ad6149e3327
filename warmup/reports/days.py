"""The daily frame (:func:`daily`): one row per mailbox and local day, the rollup's counts
beside the policy's own day-by-day walk (quota, stage, health, status), its walks resumed from
the ledger's memos (:mod:`warmup.ledger.timeline_cache`) and their columns joined in numpy.
Also the mailboxes a report covers (:func:`mailboxes`) and the ``days`` it reads
(:func:`check_days`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from warmup import api, policies
from warmup.errors import ConfigError, InvalidField, Unavailable
from warmup.ledger import Ledger, MailboxRow, local_day
from warmup.ledger import timeline_cache as tc
from warmup.ledger.reads import EARLIEST_ZONE
from warmup.ledger.values import day_start, made_by
from warmup.policy import DayCounts, History, PolicySpec, WalkState
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
    check_days(days)
    at = at or api.live_now()  # today counted as the gate counts it (warmup.ledger.Live)
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

    # today counts only what was made by ``at``, as ``warmup quota`` at it does
    spans = {
        b.id: (
            day_start(todays[b.id], b.timezone),
            made_by(at, b.timezone)[0],
            day_start(todays[b.id] + dt.timedelta(days=1), b.timezone),
        )
        for b in boxes
    }
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
        cut=spans,
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


def check_days(days: int | None) -> int | None:
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
