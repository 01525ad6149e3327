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
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from warmup import api, policies
from warmup.errors import ConfigError, DataError, Unavailable, UsageError
from warmup.ledger import Ledger, MailboxRow, local_day
from warmup.ledger import timeline_cache as tc
from warmup.ledger.schema import BOUNCE_KINDS
from warmup.policy import (
    DayCounts,
    DayVerdict,
    History,
    PolicySpec,
    WalkState,
    walk_timeline,
)
from warmup.policy.walk import lookback
from warmup.providers import get_provider

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    "bounce_rate",
    "complaint_rate",
    "day_bounce_rate",
    "health",
    "status",
]


def mailboxes(ledger: Ledger, addresses: Sequence[str] = ()) -> list[MailboxRow]:
    """The named mailboxes (an unknown one is an error saying how to add it), or all of them."""
    if addresses:
        return [ledger.mailbox(a) for a in addresses]
    return ledger.mailboxes()


def _thresholds(spec: PolicySpec) -> dict[str, Any]:
    h = spec.health
    return {
        "policy": spec.name,
        "window_days": h.window_days,
        "hold_above": h.hold_above,
        "step_back_above": h.step_back_above,
        "pause_above": h.pause_above,
        "stages": [s.name for s in spec.stages],
    }


def daily(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
    *,
    cache: bool = True,
) -> pd.DataFrame:
    """One row per mailbox and local day, from its first active day (or the last ``days``) to today.

    Columns: ``sent``, ``hard``, ``soft``, ``block``, ``complaints``, ``bounced`` (hard + soft +
    block) from the rollup; ``warmup_day``, ``stage``, ``quota``, ``health``, ``status`` and
    ``bounce_rate``/``complaint_rate`` (the trailing window the policy judged the day on; NaN while
    too few sends) from the policy's walk; ``day_bounce_rate`` is that day's bounced / sent.
    ``frame.attrs["thresholds"]`` holds each mailbox's policy thresholds and stage names.

    ``cache``: reuse (and refresh) the ledger's memo of each mailbox's walk over past days
    (:mod:`warmup.ledger.timeline_cache`), valid only while every input of those days is
    unchanged, so the frame is the same with or without it; a repeated report then walks only
    the days since the last one.
    """
    at = at or api.now_utc()
    boxes = mailboxes(ledger, addresses)
    ids = [b.id for b in boxes]
    specs = {ref: policies.resolve(ledger, ref) for ref in {b.policy for b in boxes}}
    texts = {ref: repr(spec) for ref, spec in specs.items()}  # the policy's content, once each
    provs = {b.id: get_provider(b.provider) for b in boxes}
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

    got = ledger.timeline_inputs(
        ids, digest, todays, {m: lookback(specs[by_id[m].policy]) for m in ids}, cache=cache
    )
    evs, inputs, memos, per_box, held = got.events, got.inputs, got.memos, got.rows, got.held
    blocks: list[dict[str, Any]] = []
    writes = []
    for box in boxes:
        spec, rows, memo = specs[box.policy], per_box.get(box.id, []), memos.get(box.id)
        hist = History(
            mailbox=box.address,
            timezone=box.timezone,
            days=tuple(DayCounts(*r) for r in rows),
            events=evs.get(box.id, ()),
            cap=box.cap,
            started=box.started,
            provider_ceiling=provs[box.id].daily_limit,
            memo=memo.state if memo else None,
        )
        line, state = walk_timeline(spec, hist, at, explain=False)
        fresh = _block(line, rows)
        parts = [fresh] if memo is None else [_memo_block(memo), fresh]
        if memo is not None and memo.upto < state.upto:  # walked on from the memo: keep those
            n, total = tc.rows_digest(r for r in rows if memo.upto <= r[0] < state.upto)
            past = (memo.digest[0] + n, memo.digest[1] + total)
            writes.append((box.id, inputs[box.id], past, _memo_of(_join(parts), state)))
        elif (
            memo is None
            and cache
            and len(line) > 1
            and state.last_active is not None
            and (held.get(box.id) is None or held[box.id] <= state.upto)
        ):
            past = tc.rows_digest(r for r in rows if r[0] < state.upto)
            writes.append((box.id, inputs[box.id], past, _memo_of(fresh, state)))
        if days is not None:
            parts = [{k: v[-days:] for k, v in _join(parts).items()}]
        for part in parts:
            part["mailbox"] = np.full(len(part["quota"]), box.address, dtype=object)
        blocks.extend(parts)
    if writes:
        _store_memos(ledger, writes)
    frame = _frame(blocks)
    frame.attrs["thresholds"] = {b.address: _thresholds(specs[b.policy]) for b in boxes}
    frame.attrs["at"] = at.isoformat()
    return frame


def _store_memos(ledger: Ledger, writes: list[Any]) -> None:
    """Write the new memos; a ledger this user may only read still gets its report."""
    try:
        ledger.keep_timelines(writes)
    except (ConfigError, Unavailable):
        pass  # a memo is an optimisation: the report is complete without it


_HEALTH = np.array(tc.HEALTH, dtype=object)


def _block(line: list[DayVerdict], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The walk's days as columns, with each day's counts from the rollup rows."""
    by_day = {r[0]: r for r in rows}
    zero = (None, 0, 0, 0, 0, 0)
    counts = [by_day.get(v.date, zero) for v in line]
    nan = float("nan")
    out: dict[str, Any] = {
        "ordinal": np.array([v.date.toordinal() for v in line], dtype=np.int64),
        "warmup_day": np.array([v.day for v in line], dtype=np.int64),
        "stage": np.array([v.stage for v in line], dtype=object),
        "quota": np.array([v.quota for v in line], dtype=np.int64),
        "health": np.array([v.health for v in line], dtype=object),
        "rate": np.array([nan if v.rate is None else v.rate for v in line], dtype=np.float64),
        "complaint_rate": np.array(
            [nan if v.complaint_rate is None else v.complaint_rate for v in line], dtype=np.float64
        ),
        "paused": np.array([v.paused for v in line], dtype=bool),
        "resumed": np.array([v.resumed for v in line], dtype=bool),
    }
    for i, c in enumerate(tc.COUNT_COLUMNS, start=1):
        out[c] = np.array([r[i] for r in counts], dtype=np.int64)
    return out


def _memo_of(block: dict[str, Any], state: WalkState) -> tc.Memo:
    """The past days of a fresh block (all but today) as a memo for the ledger."""
    n = len(block["quota"]) - 1
    stages = list(dict.fromkeys(block["stage"][:n]))
    code = {s: i for i, s in enumerate(stages)}
    health = {h: i for i, h in enumerate(tc.HEALTH)}
    cols = {name: block[name][:n] for name, _ in tc.COLUMNS}
    cols["stage"] = np.array([code[s] for s in block["stage"][:n]], dtype=np.uint8)
    cols["health"] = np.array([health[h] for h in block["health"][:n]], dtype=np.uint8)
    return tc.Memo(state.upto, int(block["ordinal"][0]), stages, state, cols)


def _memo_block(memo: tc.Memo) -> dict[str, Any]:
    """A memo's days as columns (narrower integer types than :func:`_block`'s: concatenating
    them with int64 columns gives int64)."""
    cols = memo.columns
    n = len(cols["quota"])
    out: dict[str, Any] = dict(cols)
    out["ordinal"] = np.arange(memo.first, memo.first + n, dtype=np.int64)
    out["stage"] = np.array(memo.stages, dtype=object)[cols["stage"]]
    out["health"] = _HEALTH[cols["health"]]
    out["paused"] = cols["paused"].view(bool)
    out["resumed"] = cols["resumed"].view(bool)
    return out


def _join(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return (
        parts[0]
        if len(parts) == 1
        else {k: np.concatenate([p[k] for p in parts]) for k in parts[-1]}
    )


def _frame(blocks: list[dict[str, Any]]) -> pd.DataFrame:
    """The report frame from per-mailbox column blocks (vectorised: a year of a thousand
    mailboxes is 365,000 rows)."""
    if not blocks:
        return pd.DataFrame({c: [] for c in DAILY_COLUMNS}, columns=DAILY_COLUMNS).astype(
            {
                "date": "datetime64[ns]",
                "bounce_rate": "float64",
                "complaint_rate": "float64",
                "day_bounce_rate": "float64",
            }
        )
    col = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    bounced = col["hard"] + col["soft"] + col["block"]
    sent = col["sent"]
    with np.errstate(divide="ignore", invalid="ignore"):
        day_rate = np.where(sent > 0, bounced / np.where(sent > 0, sent, 1), np.nan)
    health = col["health"]
    status = np.where((health == "hold") | (health == "step_back"), health, "ok").astype(object)
    status[col["paused"]] = "paused"
    status[col["resumed"]] = "resumed"
    dates = (col["ordinal"] - _EPOCH).astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "mailbox": col["mailbox"],
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
            "bounce_rate": col["rate"],
            "complaint_rate": col["complaint_rate"],
            "day_bounce_rate": day_rate,
            "health": health,
            "status": status,
        },
        columns=DAILY_COLUMNS,
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


def _since(
    ledger: Ledger, boxes: list[MailboxRow], days: int | None, at: dt.datetime | None
) -> dt.date | None:
    if days is None:
        return None
    today = local_day(at or api.now_utc(), boxes[0].timezone if boxes else "UTC")
    return today - dt.timedelta(days=days - 1)


def bounces_by_domain(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox and recipient domain: sends, bounces by kind and the bounce rate, worst first."""
    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    since = _since(ledger, boxes, days, at)
    sends, bounces = ledger.domain_counts(list(names), since)
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
    rows = ledger.bounces_by_kind(list(names), _since(ledger, boxes, days, at))
    frame = pd.DataFrame(
        rows, columns=["mailbox_id", "date", "kind", "status", "counted", "bounces"]
    )
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
    from the text each bounce was recorded with): how many bounces, ``counted`` or not."""
    from warmup.bounces.classify import recorded_reason

    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    reason = functools.lru_cache(maxsize=4096)(recorded_reason)
    rows = [
        (names[m], d, k, reason(k, s, r, g), c, n)
        for m, d, k, s, r, g, c, n in ledger.bounce_texts(
            list(names), _since(ledger, boxes, days, at)
        )
    ]
    frame = pd.DataFrame(rows, columns=["mailbox", "date", "kind", "reason", "counted", "bounces"])
    keys = ["mailbox", "date", "kind", "reason", "counted"]
    out = frame.groupby(keys, as_index=False, sort=True).agg(bounces=("bounces", "sum"))
    out["date"] = pd.to_datetime(out["date"])
    return out


def reasons_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`bounces_by_reason` over its whole period: per mailbox, reason, kind and whether
    counted, most bounces first."""
    keys = ["mailbox", "reason", "kind", "counted"]
    out = frame.groupby(keys, as_index=False).agg(bounces=("bounces", "sum"))
    return out.sort_values(
        ["mailbox", "counted", "bounces", "reason"], ascending=[True, False, False, True]
    ).reset_index(drop=True)


def suppressions(ledger: Ledger) -> pd.DataFrame:
    """New suppressions per UTC day and kind, with the running total of the do-not-mail list."""
    rows = ledger.suppressions_by_day()
    frame = pd.DataFrame(rows, columns=["date", "kind", "added"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["total"] = frame["added"].cumsum()
    return frame


def rollup_mismatches(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Where the ``day_stat`` rollup disagrees with the raw rows ([] when it is sound)."""
    return ledger.rollup_mismatches()


def to_text(frame: pd.DataFrame, fmt: str) -> str:
    """The daily frame as ``csv`` or ``json`` (records; dates ISO; rates as fractions)."""
    out = frame.copy()
    if "date" in out:
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    if fmt == "csv":
        return str(out.to_csv(index=False))
    return str(out.to_json(orient="records", indent=2))


STAGE_COLOURS = ["#fde9b6", "#cfe8c4", "#c9dcf0", "#e4d4ef", "#f6d0c4"]
PAUSE_COLOUR = "#d62728"


def figure(frame: pd.DataFrame, columns: int = 3) -> Figure:
    """Small multiples with a shared time axis, three panels per mailbox.

    Panel 1: daily sends (bars) against the policy's quota (step line). Panel 2: the trailing
    bounce rate the policy judged (line) against its hold, step-back and pause thresholds, with
    each day's own rate as dots. Panel 3: stage bands (shaded, labelled) and the warm-up day.
    Paused days are hatched red in every panel. The figure is drawn without pyplot (no GUI, no
    global state): save it with ``fig.savefig`` or display it in a notebook.
    """
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(frame["mailbox"]))
    if not names:
        raise DataError("nothing to plot: no mailbox has any history in this period")
    thresholds = frame.attrs.get("thresholds", {})
    ncols = max(1, min(columns, len(names)))
    nblocks = -(-len(names) // ncols)
    fig = Figure(figsize=(max(9.0, 6.4 * ncols), 7.6 * nblocks + 0.4), layout="constrained")
    grid = fig.add_gridspec(3 * nblocks, ncols, height_ratios=[3.0, 2.0, 1.3] * nblocks)
    first: Any = None
    for k, name in enumerate(names):
        rows = frame[frame["mailbox"] == name]
        r0, col = 3 * (k // ncols), k % ncols
        axes = [fig.add_subplot(grid[r0 + i, col], sharex=first) for i in range(3)]
        first = first or axes[0]
        _draw_mailbox(axes, name, rows, thresholds.get(name, {}))
        for ax in axes:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    dates = frame["date"]
    fig.suptitle(
        f"Mailbox warm-up, {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d} "
        f"(local days)\nas of {frame.attrs.get('at', '')[:16].replace('T', ' ')} UTC; "
        f"quota, stage and bounce rate as the policy saw each day",
        fontsize=12,
        fontweight="bold",
    )
    return fig


def _draw_mailbox(axes: list[Any], name: str, rows: pd.DataFrame, th: dict[str, Any]) -> None:
    import matplotlib.dates as mdates

    sends, rates, stages = axes
    x = rows["date"]
    paused = rows["status"] == "paused"
    sends.bar(x, rows["sent"], width=0.8, color="#4c72b0", label="sent", gid="sent")
    sends.step(
        x, rows["quota"], where="mid", color="black", linewidth=1.6, label="quota", gid="quota"
    )
    sends.set_title(f"{name}: daily sends vs quota", loc="left", fontsize=11)
    sends.set_ylabel("recipients / day")
    sends.set_ylim(0, max(1, int(rows[["sent", "quota"]].max().max())) * 1.15)

    window = th.get("window_days", 7)
    pct = rows["bounce_rate"] * 100
    rates.plot(
        x,
        pct,
        color="#c44e52",
        linewidth=1.8,
        marker=".",
        label=f"{window}-day bounce rate",
        gid="bounce_rate",
    )
    rates.plot(
        x,
        rows["day_bounce_rate"] * 100,
        linestyle="none",
        marker="o",
        markersize=3,
        color="#c44e52",
        alpha=0.35,
        label="that day's rate",
        gid="day_bounce_rate",
    )
    top = 0.0
    for key, label, colour, style in (
        ("hold_above", "hold", "#dd8452", "--"),
        ("step_back_above", "step back", "#b35806", "-."),
        ("pause_above", "pause", PAUSE_COLOUR, ":"),
    ):
        if key in th:
            rates.axhline(
                th[key] * 100,
                color=colour,
                linestyle=style,
                linewidth=1.2,
                label=f"{label} above {th[key]:.0%}",
                gid=key,
            )
            top = max(top, th[key] * 100)
    daily_pct = rows["day_bounce_rate"] * 100
    peak = max(
        float(pct.max()) if pct.notna().any() else 0.0,
        min(float(daily_pct.max()) if daily_pct.notna().any() else 0.0, 100.0),
    )
    rates.set_ylim(0, max(top, peak) * 1.2 or 1)
    rates.set_title(
        f"bounce rate (trailing {window} days, as the policy judged it) vs thresholds",
        loc="left",
        fontsize=11,
    )
    rates.set_ylabel("bounces (% of sends)")

    order = th.get("stages") or list(dict.fromkeys(rows["stage"]))
    stage_colour = {s: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, s in enumerate(order)}
    half = pd.Timedelta(hours=12)
    run_start, prev = 0, None  # run_start is read only once a run (prev) has begun
    dates, names = list(x), list(rows["stage"])
    for i, stage in enumerate([*names, None]):
        if stage != prev:
            if prev is not None:
                lo, hi = dates[run_start] - half, dates[i - 1] + half
                stages.axvspan(lo, hi, color=stage_colour.get(prev, "#dddddd"), gid=f"stage:{prev}")
                stages.text(
                    lo + (hi - lo) / 2,
                    0.93,
                    prev,
                    transform=stages.get_xaxis_transform(),
                    ha="center",
                    va="top",
                    fontsize=9,
                    clip_on=True,
                )
            run_start, prev = i, stage
    stages.plot(
        x, rows["warmup_day"], color="#333333", linewidth=1.4, label="warm-up day", gid="warmup_day"
    )
    stages.set_ylim(0, max(1, int(rows["warmup_day"].max())) * 1.45)
    stages.set_ylabel("warm-up day")
    stages.set_title("stage bands and warm-up day (active days)", loc="left", fontsize=11)

    for ax in axes:
        for day in x[paused]:
            ax.axvspan(
                day - half,
                day + half,
                facecolor="none",
                edgecolor=PAUSE_COLOUR,
                hatch="///",
                linewidth=0,
                gid="paused",
            )
        for day in x[rows["status"] == "resumed"]:
            ax.axvline(day - half, color=PAUSE_COLOUR, linewidth=1, linestyle="--", gid="resumed")
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlim(x.min() - half, x.max() + half)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    from matplotlib.patches import Patch

    handles, labels = sends.get_legend_handles_labels()
    if paused.any():
        handles.append(Patch(facecolor="none", edgecolor=PAUSE_COLOUR, hatch="///"))
        labels.append("paused")
    sends.legend(handles, labels, loc="best", fontsize=8, framealpha=0.9)
    rates.legend(loc="best", fontsize=8, framealpha=0.9, ncols=2)
    stages.legend(loc="lower right", fontsize=8, framealpha=0.9)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)


def plot(frame: pd.DataFrame, out: str | Path, columns: int = 3) -> Path:
    """Draw :func:`figure` and write it (PNG, SVG or PDF by the suffix); the path written."""
    path = Path(out)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--out {out}: expected a .png, .svg or .pdf file name")
    figure(frame, columns).savefig(path, dpi=110)
    return path
