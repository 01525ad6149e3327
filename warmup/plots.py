"""The figures of ``warmup plot``/``report``/``demo`` and of the report notebook (matplotlib).

Every figure is built without pyplot (no GUI, no global state) from the frames of
:mod:`warmup.reports`, with the conventions a reader relies on when charts sit side by side:

- one colour per bounce kind everywhere (:data:`KIND_COLOURS`; a reason takes its kind's colour);
- mailboxes as rows of small multiples sharing one time axis, and one y scale per quantity
  (a bounce rate is read against the same scale for every mailbox);
- legends outside the axes, so they never sit over the data; no text outside the figure;
- days are local days of the mailbox, dates are dates.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from warmup.bounces.reasons import REASON_KIND
from warmup.plotcheck import MAX_MAILBOXES as MAX_MAILBOXES
from warmup.plotcheck import check_count

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The one palette of bounce kinds: every chart of a kind or a reason takes its colour from here.
KIND_COLOURS: dict[str, str] = {
    "hard": "#b2182b",
    "soft": "#ef8a62",
    "block": "#7b3294",
    "complaint": "#1b7837",
}
STAGE_COLOURS = ["#fde9b6", "#cfe8c4", "#c9dcf0", "#e4d4ef", "#f6d0c4"]
MAILBOX_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
MAILBOX_STYLES = ["-", "--", "-.", ":"]
PAUSE_COLOUR = "#d62728"
OVER_COLOUR = "#d62728"
SENT_COLOUR = "#4c72b0"
RATE_COLOUR = "#c44e52"
_HALF = pd.Timedelta(hours=12)
# Threshold keys of ``frame.attrs["thresholds"]``: label, colour, line style.
Thresholds = tuple[tuple[str, str, str, Any], ...]
BOUNCE_THRESHOLDS: Thresholds = (
    ("hold_above", "hold", "#dd8452", "--"),
    ("step_back_above", "step back", "#b35806", "-."),
    ("pause_above", "pause", PAUSE_COLOUR, ":"),
)
COMPLAINT_THRESHOLDS: Thresholds = (
    ("complaint_hold_above", "hold", "#dd8452", "--"),
    ("complaint_pause_above", "pause", PAUSE_COLOUR, ":"),
)


def kind_colour(kind: str) -> str:
    """The colour of a bounce kind (grey for one outside the palette)."""
    return KIND_COLOURS.get(kind, "#999999")


def reason_colour(reason: str, kind: str | None = None) -> str:
    """A reason's colour: its kind's, so a reason and its kind read alike in every chart."""
    return kind_colour(kind or REASON_KIND.get(reason, "soft"))


def in_warmup(rows: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """The days a mailbox was in warm-up: it sent, or the policy kept it from sending (paused,
    resumed, closed), or the day is the last one (today, still open). Other days are idle."""
    status = rows["status"].to_numpy()
    kept = np.isin(status, ("paused", "resumed", "closed"))
    last = np.zeros(len(rows), dtype=bool)
    last[-1:] = True
    return np.asarray((rows["sent"].to_numpy() > 0) | kept | last)


def plain(text: object) -> str:
    """``text`` as matplotlib draws it letter for letter: every ``$`` escaped. A pair of them is
    otherwise typeset as math, so names from the ledger (a mailbox ``a$^^$b@corp.example``, a
    stage of a stored policy, a recipient domain) were drawn as formulas or, not being valid
    ones, failed the whole plot with a traceback of matplotlib's parser."""
    return str(text).replace("$", r"\$")


def _say_none(ax: Axes, text: str) -> None:
    """An axes with nothing to draw says so, without the meaningless ticks of empty data."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, gid="none")


def _legend_outside(ax: Axes, **kw: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8, **kw)


def _date_axis(ax: Axes, span: tuple[Any, Any] | None = None) -> None:
    """Concise date ticks; with ``span``, ticks fixed once for that range (every axes sharing
    this x axis shares them: date locators recomputed per axes make a 36-axes figure slow)."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FixedLocator

    # minticks=3: a span of 3 to 4 days is ticked by day (the default 5 asks for hours, finds
    # no hourly interval under 8 ticks, warns on stderr and ticks at noon and midnight)
    locator: Any = mdates.AutoDateLocator(minticks=3, maxticks=8)
    formatter = mdates.ConciseDateFormatter(locator)
    if span is not None:
        lo, hi = (mdates.date2num(t) for t in span)
        locator = FixedLocator([t for t in locator.tick_values(*span) if lo <= t <= hi])
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


def _mailbox_names(frame: pd.DataFrame) -> list[str]:
    names = list(dict.fromkeys(frame["mailbox"]))
    # a frame has a row for every mailbox's today, history or not: none means no mailbox
    check_count(len(names))
    return names


def figure(frame: pd.DataFrame) -> Figure:
    """The ramp of each mailbox of a :func:`warmup.reports.daily` frame: one row per mailbox
    (1 to 12), all on one time axis, three panels per row.

    Sends: daily sends (bars) against the policy's quota (step line, drawn only over days in
    warm-up: idle days break it), days sent over quota marked. Bounce rate: the trailing rate the
    policy judged (line) and each day's own rate (dots) against its thresholds, on one scale
    shared by every mailbox. Stage: stage bands and the warm-up day (one scale). Paused days are
    hatched red. The legend (stages included) sits below the panels.
    """
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, MaxNLocator

    names = _mailbox_names(frame)
    thresholds = frame.attrs.get("thresholds", {})
    n = len(names)
    fig = _new_figure((15.0, 1.9 + 2.3 * n))
    grid = fig.add_gridspec(n, 3, width_ratios=[1.25, 1.0, 0.8])
    first: Any = None
    rates_first: Any = None
    stages_first: Any = None
    stage_order: list[str] = []
    for th in thresholds.values():
        stage_order.extend(th.get("stages", []))
    stage_order.extend(frame["stage"])
    stage_colour = {
        s: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, s in enumerate(dict.fromkeys(stage_order))
    }
    all_axes = []
    for row, name in enumerate(names):
        rows = frame[frame["mailbox"] == name]
        sends = fig.add_subplot(grid[row, 0], sharex=first)
        first = first or sends
        rates = fig.add_subplot(grid[row, 1], sharex=first, sharey=rates_first)
        rates_first = rates_first or rates
        stages = fig.add_subplot(grid[row, 2], sharex=first, sharey=stages_first)
        stages_first = stages_first or stages
        th = thresholds.get(name, {})
        _draw_sends(sends, name, rows)
        _draw_rates(rates, rows, th)
        _draw_stages(stages, rows, stage_colour)
        for ax in (sends, rates, stages):
            _draw_pauses(ax, rows)
            ax.grid(axis="y", alpha=0.3)
            if row < n - 1:
                ax.tick_params(labelbottom=False)
        all_axes.append((sends, rates, stages))
    dates = frame["date"]
    span = (dates.min() - _HALF, dates.max() + _HALF)
    first.set_xlim(*span)
    _date_axis(first, span)
    rate_lines = [ln for _, r, _ in all_axes for ln in r.get_lines()]
    peak = max(
        [float(np.nanmax(ln.get_ydata())) for ln in rate_lines if np.isfinite(ln.get_ydata()).any()]
        + [0.0]
    )
    rates_first.set_ylim(0, min(max(peak, 1.0), 100.0) * 1.15)
    stages_first.set_ylim(0, max(1, int(frame["warmup_day"].max())) * 1.15)
    stages_first.yaxis.set_major_locator(MaxNLocator(integer=True))  # no day 0.2
    if dates.nunique() < 3:  # a day or two: one tick a day, not hours of the day
        first.xaxis.set_major_locator(FixedLocator(mdates.date2num(sorted(dates.unique()))))
        first.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))

    handles: list[Any] = [
        Patch(color=SENT_COLOUR, label="sent"),
        Line2D([], [], color="black", linewidth=1.6, label="quota (days in warm-up)"),
    ]
    if (frame["sent"] > frame["quota"]).any():
        handles.append(
            Line2D([], [], color=OVER_COLOUR, marker="v", linestyle="none", label="sent over quota")
        )
    if (frame["status"] == "paused").any():
        handles.append(Patch(facecolor="none", edgecolor=PAUSE_COLOUR, hatch="///", label="paused"))
    if (frame["status"] == "resumed").any():
        handles.append(Line2D([], [], color=PAUSE_COLOUR, linestyle="--", label="resumed"))
    # Mailboxes on policies of different health windows: the legend names them all (each
    # panel's title says its own), never the first mailbox's as if it were everyone's.
    windows = sorted({thresholds.get(m, {}).get("window_days", 7) for m in names})
    span_text = " or ".join(str(w) for w in windows)
    handles.append(
        Line2D(
            [], [], color=RATE_COLOUR, marker=".", label=f"bounce rate, trailing {span_text} days"
        )
    )
    handles.append(
        Line2D(
            [], [], color=RATE_COLOUR, alpha=0.35, marker="o", ls="none", label="that day's rate"
        )
    )
    seen = {
        (ln.get_gid(), ln.get_label())
        for _, r, _ in all_axes
        for ln in r.get_lines()
        if ln.get_gid()
    }
    for key, _, colour, style in BOUNCE_THRESHOLDS:
        for gid, text in sorted(seen):
            if gid == key:
                handles.append(Line2D([], [], color=colour, linestyle=style, label=text))
    used = dict.fromkeys(frame["stage"])
    handles.extend(Patch(color=stage_colour[s], label=f"stage: {plain(s)}") for s in used)
    handles.append(Line2D([], [], color="#333333", label="warm-up day"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)), fontsize=8)
    fig.suptitle(
        f"Mailbox warm-up, {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d} (local days), "
        f"as of {frame.attrs.get('at', '')[:16].replace('T', ' ')} UTC\n"
        "quota, stage and bounce rate as the policy saw each day",
        fontsize=11,
        fontweight="bold",
    )
    return fig


# Families with CJK glyphs, drawn from (after the default font) when the machine has them: stage
# and policy names may be Chinese, and matplotlib's default font (DejaVu Sans) has none.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "SimHei",
)


_GLYPH_WARNING = r"Glyph \d+ .* missing from font"


def _wide_family() -> list[str]:
    """matplotlib's font family, then each installed CJK family of :data:`CJK_FONTS`."""
    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [*mpl.rcParams["font.family"], *(f for f in CJK_FONTS if f in installed)]


@contextlib.contextmanager
def wide_text() -> Iterator[None]:
    """Build and save figures inside this: text falls back to an installed CJK font, and a
    glyph no installed font has is drawn as a box without a warning (matplotlib printed one
    per character on stderr, with the source line that saved the figure)."""
    import matplotlib as mpl

    with warnings.catch_warnings(), mpl.rc_context({"font.family": _wide_family()}):
        warnings.filterwarnings("ignore", _GLYPH_WARNING, UserWarning)
        yield


def allow_wide_text() -> None:
    """:func:`wide_text` for the rest of a session (a notebook's, whose figures are drawn
    when displayed): changes matplotlib's font family and the warnings filter for good."""
    import matplotlib as mpl

    mpl.rcParams["font.family"] = _wide_family()
    warnings.filterwarnings("ignore", _GLYPH_WARNING, UserWarning)


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def _draw_sends(ax: Axes, name: str, rows: pd.DataFrame) -> None:
    x = rows["date"]
    _day_bars(ax, x, rows["sent"])
    kept = in_warmup(rows)
    quota = rows["quota"].astype("float64").where(kept)
    ax.step(x, quota, where="mid", color="black", linewidth=1.6, label="quota", gid="quota")
    # A day in warm-up between idle days (or the only day) is a step of one point, which the
    # line does not draw: a one-day history showed its bars and no quota at all. A dash marks it.
    before, after = np.r_[False, kept[:-1]], np.r_[kept[1:], False]
    lone = kept & ~before & ~after
    ax.plot(
        x[lone],
        quota[lone],
        linestyle="none",
        marker="_",
        markersize=14,
        markeredgewidth=1.6,
        color="black",
        gid="quota_lone",
    )
    over = rows[rows["sent"] > rows["quota"]]
    ax.plot(
        over["date"],
        over["sent"],
        linestyle="none",
        marker="v",
        markersize=7,
        color=OVER_COLOUR,
        label="sent over quota",
        gid="over_quota",
    )
    ax.set_title(f"{plain(name)}: daily sends vs quota", loc="left", fontsize=10)
    ax.set_ylabel("recipients / day")
    ax.set_ylim(0, max(1, int(rows[["sent", "quota"]].max().max())) * 1.15)


def _day_bars(ax: Axes, x: pd.Series, height: pd.Series) -> None:
    """Each day's sends as a bar 0.8 of a day wide, all of them one artist (gid ``sent``).

    ``ax.bar`` made a patch per day, each added and then drawn on its own: a plot of ten years
    (3,650 days) took some 20 s, one asked ``--at`` decades ahead of the first send (every
    day since it a bar) 95 s and 420 MB. The same rectangles in one collection draw alike."""
    import matplotlib.dates as mdates
    from matplotlib.collections import PolyCollection

    left = np.asarray(mdates.date2num(x), dtype="float64") - 0.4
    top = np.asarray(height, dtype="float64")
    verts = np.zeros((len(left), 4, 2))
    verts[:, 0, 0] = verts[:, 1, 0] = left
    verts[:, 2, 0] = verts[:, 3, 0] = left + 0.8
    verts[:, 1, 1] = verts[:, 2, 1] = top
    bars = PolyCollection(
        list(verts), facecolors=SENT_COLOUR, edgecolors="none", label="sent", gid="sent"
    )
    ax.add_collection(bars, autolim=False)
    if len(left):
        ax.update_datalim([(left.min(), 0.0), (left.max() + 0.8, float(np.nanmax(top)))])
    ax.xaxis_date()


def _draw_rates(ax: Axes, rows: pd.DataFrame, th: dict[str, Any]) -> None:
    x = rows["date"]
    window = th.get("window_days", 7)
    ax.plot(
        x,
        rows["bounce_rate"] * 100,
        color=RATE_COLOUR,
        linewidth=1.8,
        marker=".",
        label=f"{window}-day bounce rate",
        gid="bounce_rate",
    )
    ax.plot(
        x,
        rows["day_bounce_rate"] * 100,
        linestyle="none",
        marker="o",
        markersize=3,
        color=RATE_COLOUR,
        alpha=0.35,
        label="that day's rate",
        gid="day_bounce_rate",
    )
    _thresholds(ax, th, BOUNCE_THRESHOLDS)
    ax.set_title(f"bounce rate (trailing {window} days) vs thresholds", loc="left", fontsize=10)
    ax.set_ylabel("% of sends")


def _thresholds(ax: Axes, th: dict[str, Any], which: Thresholds) -> None:
    for key, label, colour, style in which:
        if key in th:
            ax.axhline(
                th[key] * 100,
                color=colour,
                linestyle=style,
                linewidth=1.2,
                label=f"{label} above {th[key] * 100:g}%",
                gid=key,
            )


def _draw_stages(ax: Axes, rows: pd.DataFrame, colours: dict[str, str]) -> None:
    x = rows["date"]
    dates, names = list(x), list(rows["stage"])
    start, prev = 0, None  # start is read only once a run (prev) has begun
    for i, stage in enumerate([*names, None]):
        if stage != prev:
            if prev is not None:
                ax.axvspan(
                    dates[start] - _HALF,
                    dates[i - 1] + _HALF,
                    color=colours.get(prev, "#dddddd"),
                    gid=f"stage:{prev}",
                )
            start, prev = i, stage
    ax.plot(
        x,
        rows["warmup_day"],
        color="#333333",
        linewidth=1.4,
        label="warm-up day",
        gid="warmup_day",
        **_lone(len(rows)),
    )
    ax.set_ylabel("warm-up day")
    ax.set_title("stage and warm-up day", loc="left", fontsize=10)


def _draw_pauses(ax: Axes, rows: pd.DataFrame) -> None:
    x = rows["date"]
    for day in x[rows["status"] == "paused"]:
        ax.axvspan(
            day - _HALF,
            day + _HALF,
            facecolor="none",
            edgecolor=PAUSE_COLOUR,
            hatch="///",
            linewidth=0,
            gid="paused",
        )
    for day in x[rows["status"] == "resumed"]:
        ax.axvline(day - _HALF, color=PAUSE_COLOUR, linewidth=1, linestyle="--", gid="resumed")


def trends_figure(frame: pd.DataFrame) -> Figure:
    """Bounce and complaint rates (the trailing windows the policy judged) of every mailbox, one
    line each, against the policy's thresholds (each distinct threshold once)."""
    names = _mailbox_names(frame)
    fig = _new_figure((11.0, 6.5))
    bounce, complaint = fig.subplots(2, 1, sharex=True)
    for i, name in enumerate(names):
        rows = frame[frame["mailbox"] == name]
        style = _mailbox_style(i)
        style |= _lone(len(rows))
        bounce.plot(
            rows["date"],
            rows["bounce_rate"] * 100,
            label=plain(name),
            gid=f"mailbox:{name}",
            **style,
        )
        complaint.plot(
            rows["date"],
            rows["complaint_rate"] * 100,
            label=plain(name),
            gid=f"mailbox:{name}",
            **style,
        )
    drawn: set[tuple[str, float]] = set()
    for th in frame.attrs.get("thresholds", {}).values():
        for ax, which in ((bounce, BOUNCE_THRESHOLDS), (complaint, COMPLAINT_THRESHOLDS)):
            fresh = {k: th[k] for k, *_ in which if k in th and (k, th[k]) not in drawn}
            _thresholds(ax, fresh, which)
            drawn.update((k, th[k]) for k, *_ in which if k in th)
    for ax, title in (
        (bounce, "Bounce rate, trailing window"),
        (complaint, "Complaint rate, trailing window"),
    ):
        # a mailbox too new to be judged has only NaN: no peak (nanmax would warn)
        lines = [np.asarray(ln.get_ydata(), dtype=float) for ln in ax.get_lines()]
        peak = max([float(np.nanmax(y)) for y in lines if np.isfinite(y).any()] + [0.0])
        ax.set_ylim(0, max(peak, 1e-9) * 1.15)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("% of sends")
        ax.grid(axis="y", alpha=0.3)
        _day_span(ax, frame["date"])
        _date_axis(ax)
        _legend_outside(ax)
    return fig


def _lone(points: int) -> dict[str, Any]:
    """A marker for a line of one point (one day), which a line alone does not show."""
    return {"marker": "o", "markersize": 4} if points == 1 else {}


def _day_span(ax: Axes, dates: pd.Series) -> None:
    """Half a day either side of the days drawn: a single day is a range the date ticks can
    divide (alone, matplotlib warned "AutoDateLocator was unable to pick an appropriate
    interval" into the notebook's report)."""
    if not dates.empty:
        ax.set_xlim(dates.min() - _HALF, dates.max() + _HALF)


def _mailbox_style(i: int) -> dict[str, Any]:
    return {
        "color": MAILBOX_COLOURS[i % len(MAILBOX_COLOURS)],
        "linestyle": MAILBOX_STYLES[i % len(MAILBOX_STYLES)],
        "linewidth": 1.6,
    }


def ahead_figure(ahead: pd.DataFrame) -> Figure:
    """Each mailbox's quota ahead from its plan (:func:`warmup.reports.ahead`): one row per
    mailbox, one time axis, one y scale from 0, so equal ramps stay visible and comparable."""
    names = _mailbox_names(ahead)
    fig = _new_figure((11.0, 1.2 + 1.9 * len(names)))
    axes = fig.subplots(len(names), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        rows = ahead[ahead["mailbox"] == name]
        ax.step(
            rows["date"],
            rows["quota"],
            where="mid",
            marker="o",
            markersize=3,
            label=plain(name),
            gid=f"mailbox:{name}",
            **_mailbox_style(i),
        )
        ax.set_title(f"{plain(name)}: quota ahead", loc="left", fontsize=10)
        ax.set_ylabel("recipients / day")
        ax.grid(axis="y", alpha=0.3)
        _date_axis(ax)
    _day_span(axes[0], ahead["date"])  # shared: a plan of one day is a range the ticks divide
    axes[0].set_ylim(0, max(1, int(ahead["quota"].max())) * 1.15)
    fig.suptitle(
        "Quota ahead if each mailbox sends its full quota healthily (the plan)", fontsize=11
    )
    return fig


def kinds_figure(by_domain: pd.DataFrame, by_kind: pd.DataFrame) -> Figure:
    """Bounces by recipient domain and kind (left) and per local week by kind (right), stacked,
    in the kinds' colours, with one legend for both."""
    from matplotlib.patches import Patch

    kinds = list(KIND_COLOURS)
    fig = _new_figure((12.0, 4.5))
    left, right = fig.subplots(1, 2)
    domains = by_domain.groupby("domain")[kinds].sum()
    domains = domains.loc[domains.sum(axis=1).sort_values().index]
    base = np.zeros(len(domains))
    for kind in kinds:
        left.barh(
            [plain(d) for d in domains.index],
            domains[kind],
            left=base,
            color=kind_colour(kind),
            gid=f"kind:{kind}",
        )
        base = base + domains[kind].to_numpy()
    left.set_title("Bounces by recipient domain and kind", loc="left", fontsize=10)
    left.set_xlabel("bounces")
    if not by_kind.empty:
        weeks = (
            (
                by_kind.set_index("date")
                .groupby("kind")["bounces"]
                .resample("W-SUN")
                .sum()
                .unstack(0)
            )
            .reindex(columns=kinds, fill_value=0)
            .fillna(0)
        )
        labels = [f"{d:%m-%d}" for d in weeks.index]
        base = np.zeros(len(weeks))
        for kind in kinds:
            right.bar(labels, weeks[kind], bottom=base, color=kind_colour(kind), gid=f"kind:{kind}")
            base = base + weeks[kind].to_numpy()
    right.set_title("Bounces per local week by kind", loc="left", fontsize=10)
    right.set_xlabel("week ending")
    right.set_ylabel("bounces")
    fig.legend(
        handles=[Patch(color=kind_colour(k), label=k) for k in kinds],
        loc="outside right upper",
        fontsize=8,
    )
    return fig


def reasons_figure(summary: pd.DataFrame) -> Figure:
    """Counted bounces per reason over the period (:func:`warmup.reports.reasons_summary`), each
    bar in its kind's colour."""
    from matplotlib.patches import Patch

    counted = summary[summary["counted"]]
    totals = counted.groupby(["reason", "kind"], as_index=False).agg(bounces=("bounces", "sum"))
    totals = totals.sort_values(["bounces", "reason"]).reset_index(drop=True)
    dup = totals["reason"].duplicated(keep=False)
    labels = [
        plain(f"{r} ({k})" if d else r)
        for r, k, d in zip(totals.reason, totals.kind, dup, strict=True)
    ]
    fig = _new_figure((10.0, 0.4 * len(totals) + 1.6))
    ax = fig.subplots()
    ax.set_title("Bounces by reason (colour: kind)", loc="left", fontsize=10)
    if totals.empty:  # none, or only reports that count for nothing (unmatched, repeats)
        left = int(summary["bounces"].sum())
        _say_none(
            ax, "No counted bounces in this period" + (f" ({left} not counted)" if left else "")
        )
        return fig
    ax.barh(
        labels,
        totals["bounces"],
        color=[reason_colour(r, k) for r, k in zip(totals.reason, totals.kind, strict=True)],
        gid="reasons",
    )
    ax.set_xlabel("bounces in the period")
    shown = list(dict.fromkeys(totals["kind"]))
    fig.legend(
        handles=[Patch(color=kind_colour(k), label=k) for k in KIND_COLOURS if k in shown],
        loc="outside right upper",
        fontsize=8,
    )
    return fig


def suppressions_figure(supp: pd.DataFrame) -> Figure:
    """The do-not-mail list over time (:func:`warmup.reports.suppressions`): how many addresses
    of each kind were on it at the end of each local day, in the kinds' colours, and the total;
    an address taken back leaves it on its day, not from the days before."""
    fig = _new_figure((11.0, 3.8))
    ax = fig.subplots()
    if not supp.empty:
        change = supp["added"] - supp["removed"] if "removed" in supp else supp["added"]
        for kind, g in change.groupby(supp["kind"]):
            ax.step(
                supp.loc[g.index, "date"],
                g.cumsum(),
                where="post",
                color=kind_colour(str(kind)),
                label=str(kind),
                gid=f"kind:{kind}",
                **_lone(len(g)),
            )
        total = change.groupby(supp["date"]).sum().cumsum()
        # Wide and light, under the kinds: where one kind is all of it, both stay visible.
        ax.step(
            total.index,
            total.to_numpy(),
            where="post",
            color="#999999",
            linewidth=4,
            alpha=0.5,
            zorder=1,
            label="total",
            gid="total",
            **_lone(len(total)),
        )
        _legend_outside(ax)
        _day_span(ax, supp["date"])
    ax.set_title("Suppressed recipients (on the list, by local day)", loc="left", fontsize=10)
    if supp.empty:  # not an empty axis dated 1 January 1970
        _say_none(ax, "No suppressed recipients")
        return fig
    _date_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("addresses")
    ax.grid(axis="y", alpha=0.3)
    return fig
