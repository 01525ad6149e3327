"""The figures as a reader meets them, checked through matplotlib's object model (never pixels):
layout of 1 to 12 mailboxes, one bounce-rate scale, quota gaps, over-quota marks, thresholds,
legends outside the data, no clipped text, one colour per bounce kind in every chart."""

from __future__ import annotations

import datetime as dt
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba

from tests.conftest import ADDED_AT, SH, at, ledger_digest
from warmup import api, plots, reports
from warmup.errors import UsageError
from warmup.ledger import open_ledger
from warmup.reports import output as report_output

DAYS = pd.date_range("2026-10-01", periods=20, freq="D")
THRESHOLDS = {
    "policy": "default",
    "window_days": 7,
    "hold_above": 0.03,
    "step_back_above": 0.05,
    "pause_above": 0.10,
    "complaint_hold_above": 0.001,
    "complaint_pause_above": 0.003,
    "stages": ["week 1", "weeks 2-4", "stable"],
}


def box(i: int) -> str:
    return f"box{i:02d}@corp.example"


def mailbox_rows(name: str, rate: float = 0.01, idle=(), over=(), paused=()) -> pd.DataFrame:
    """20 local days of one mailbox: idle days send nothing, ``over`` days send above quota."""
    n = len(DAYS)
    quota = np.array([50] * 7 + [100 + 10 * k for k in range(n - 7)])
    sent = quota - 5
    status = np.array(["ok"] * n, dtype=object)
    for d in idle:
        sent[d] = 0
    for d in over:
        sent[d] = quota[d] + 20
    for d in paused:
        sent[d], quota[d], status[d] = 0, 0, "paused"
    rates = np.full(n, rate)
    rates[0] = np.nan
    return pd.DataFrame(
        {
            "mailbox": name,
            "date": DAYS,
            "warmup_day": np.arange(1, n + 1),
            "stage": ["week 1"] * 7 + ["weeks 2-4"] * (n - 7),
            "quota": quota,
            "sent": sent,
            "hard": 0,
            "soft": 0,
            "block": 0,
            "complaints": 0,
            "bounced": 0,
            "sends_bounced": 0,
            "bounce_rate": rates,
            "complaint_rate": np.full(n, 0.002),
            "day_bounce_rate": rates,
            "health": "ok",
            "status": status,
        },
        columns=reports.DAILY_COLUMNS,
    )


def frame_of(*parts: pd.DataFrame) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["thresholds"] = {m: dict(THRESHOLDS) for m in frame["mailbox"].unique()}
    frame.attrs["at"] = "2026-10-20T01:00:00+00:00"
    return frame


def rendered(fig):
    """Lay the figure out and draw it (Agg, off screen): extents are then those of the PNG."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
        fig.canvas.draw()  # once: the checks only read it
    return fig.canvas.get_renderer()


def assert_no_clipped_text(fig) -> None:
    """Every text drawn lies inside the figure (a clipped label would stick out of it): titles,
    axis labels, the tick labels drawn (those within the view), legends and free texts."""
    renderer = rendered(fig)
    inside = fig.bbox.padded(1)

    def check(ext, what) -> None:
        assert inside.x0 <= ext.x0 and ext.x1 <= inside.x1, what
        assert inside.y0 <= ext.y0 and ext.y1 <= inside.y1, what

    for ax in fig.axes:
        check(ax.get_tightbbox(renderer), ax.get_title(loc="left"))
        for text in ax.texts:  # a label clipped by its axes ("eek 1") pokes out of them
            check_in = ax.get_window_extent(renderer).padded(1)
            ext = text.get_window_extent(renderer)
            assert check_in.x0 <= ext.x0 and ext.x1 <= check_in.x1, text.get_text()
        for text in [*ax.texts, ax.title, ax._left_title, ax.xaxis.label, ax.yaxis.label]:
            if text.get_visible() and text.get_text().strip():
                check(text.get_window_extent(renderer), text.get_text())
    texts = [*fig.texts, *(t for leg in legends_of(fig) for t in leg.get_texts())]
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for text in texts:
        check(text.get_window_extent(renderer), text.get_text())


def legends_of(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


def assert_legends_outside_the_axes(fig) -> None:
    renderer = rendered(fig)
    legends = legends_of(fig)
    assert legends
    for legend in legends:
        ext = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= ext.x0 and ext.x1 <= fig.bbox.x1 + 1
        for ax in fig.axes:
            assert not ext.overlaps(ax.get_window_extent(renderer)), ax.get_title(loc="left")


def panels(fig, name: str):
    axes = fig.get_axes()
    i = next(k for k, ax in enumerate(axes) if ax.get_title(loc="left").startswith(name))
    return axes[i : i + 3]


def line(ax, gid: str):
    return next(ln for ln in ax.get_lines() if ln.get_gid() == gid)


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 12])  # one mailbox, and the most a figure takes
def test_mailboxes_are_rows_of_small_multiples_on_one_time_axis(n):
    fig = reports.figure(frame_of(*(mailbox_rows(box(i)) for i in range(n))))
    axes = fig.get_axes()
    assert len(axes) == 3 * n
    rendered(fig)
    rows = [axes[3 * r : 3 * r + 3] for r in range(n)]
    for r, row in enumerate(rows):
        assert row[0].get_title(loc="left").startswith(box(r))
        tops = {round(ax.get_position().y1, 4) for ax in row}
        assert len(tops) == 1  # one row per mailbox
        if r:
            assert row[0].get_position().y1 < rows[r - 1][0].get_position().y1
    for col in range(3):  # one column per panel, aligned
        assert len({round(row[col].get_position().x0, 4) for row in rows}) == 1
    for ax in axes:
        assert ax.get_shared_x_axes().joined(ax, axes[0])
        assert ax.get_xlim() == axes[0].get_xlim()
    bottom = {ax for ax in rows[-1]}
    for ax in axes:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        assert bool(labels) == (ax in bottom)
    assert fig.get_size_inches()[1] < 2.5 * n + 2.5  # legible, not a page per mailbox
    assert_no_clipped_text(fig)
    assert_legends_outside_the_axes(fig)


def test_more_than_twelve_mailboxes_is_a_usage_error():
    with pytest.raises(UsageError, match="at most 12"):
        reports.figure(frame_of(*(mailbox_rows(box(i)) for i in range(13))))


def test_bounce_rates_share_one_scale_with_the_thresholds_at_their_level():
    fig = reports.figure(frame_of(mailbox_rows(box(0), rate=0.16), mailbox_rows(box(1), 0.002)))
    rates = [panels(fig, box(i))[1] for i in range(2)]
    assert rates[0].get_ylim() == rates[1].get_ylim()
    assert rates[0].get_ylim()[0] == 0 and rates[0].get_ylim()[1] >= 16
    for ax in rates:
        levels = {
            g: line(ax, g).get_ydata()[0] for g in ("hold_above", "step_back_above", "pause_above")
        }
        assert levels == {"hold_above": 3.0, "step_back_above": 5.0, "pause_above": 10.0}
        assert set(line(ax, "pause_above").get_xdata()) == {0, 1}  # across the whole panel


def test_quota_line_breaks_over_idle_days():
    idle = (9, 10, 11)
    rows = mailbox_rows(box(0), idle=idle, paused=(4,))
    fig = reports.figure(frame_of(rows))
    quota = line(panels(fig, box(0))[0], "quota")
    assert quota.get_drawstyle() == "steps-mid"
    y = list(quota.get_ydata())
    assert [i for i, v in enumerate(y) if math.isnan(v)] == list(idle)
    assert [v for i, v in enumerate(y) if i not in idle] == [
        q for i, q in enumerate(rows["quota"]) if i not in idle
    ]  # the paused day (quota 0) is part of the warm-up: drawn
    today_idle = mailbox_rows(box(1), idle=(19,))
    last = line(panels(reports.figure(frame_of(today_idle)), box(1))[0], "quota")
    assert not math.isnan(last.get_ydata()[-1])  # today is open, not idle


def test_days_sent_over_quota_are_marked_and_in_the_legend():
    over = (3, 12)
    rows = mailbox_rows(box(0), over=over)
    fig = reports.figure(frame_of(rows, mailbox_rows(box(1))))
    marks = line(panels(fig, box(0))[0], "over_quota")
    assert [pd.Timestamp(x) for x in marks.get_xdata()] == [DAYS[d] for d in over]
    assert list(marks.get_ydata()) == [rows["sent"][d] for d in over]
    assert marks.get_marker() == "v" and marks.get_linestyle() == "None"
    assert len(line(panels(fig, box(1))[0], "over_quota").get_xdata()) == 0
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "sent over quota" in texts
    assert {"stage: week 1", "stage: weeks 2-4"} <= set(texts)  # stages named, never clipped
    plain = reports.figure(frame_of(mailbox_rows(box(1))))
    assert "sent over quota" not in [t.get_text() for t in plain.legends[0].get_texts()]


def test_trends_draw_bounce_and_complaint_thresholds_outside_legends():
    frame = frame_of(mailbox_rows(box(0), rate=0.04), mailbox_rows(box(1)))
    fig = plots.trends_figure(frame)
    bounce, complaint = fig.get_axes()
    assert {
        ln.get_gid(): ln.get_ydata()[0] for ln in complaint.get_lines() if "above" in ln.get_gid()
    } == {
        "complaint_hold_above": pytest.approx(0.1),
        "complaint_pause_above": pytest.approx(0.3),
    }
    assert {
        ln.get_gid(): ln.get_ydata()[0] for ln in bounce.get_lines() if "above" in ln.get_gid()
    } == {
        "hold_above": 3.0,
        "step_back_above": 5.0,
        "pause_above": 10.0,
    }
    assert complaint.get_ylim()[0] == 0 and complaint.get_ylim()[1] > 0.3  # the lines show
    colours = {ln.get_gid(): ln.get_color() for ln in bounce.get_lines()}
    assert colours[f"mailbox:{box(0)}"] != colours[f"mailbox:{box(1)}"]
    assert all(ax.get_legend()._bbox_to_anchor is not None for ax in (bounce, complaint))


def test_quota_ahead_is_one_row_per_mailbox_from_zero():
    plan = pd.DataFrame(
        {
            "mailbox": [box(i) for i in range(3) for _ in range(5)],
            "date": list(DAYS[:5]) * 3,
            "quota": [300] * 15,
        }
    )
    fig = plots.ahead_figure(plan)
    axes = fig.get_axes()
    assert len(axes) == 3
    lines = [ax.get_lines()[0] for ax in axes]
    assert [list(ln.get_ydata()) for ln in lines] == [[300] * 5] * 3
    assert len({(ln.get_color(), ln.get_linestyle()) for ln in lines}) == 3
    for ax in axes:
        assert ax.get_ylim()[0] == 0 and ax.get_ylim() == axes[0].get_ylim()
        assert ax.get_ylim()[1] > 300


def _face(patch) -> tuple[float, ...]:
    return tuple(patch.get_facecolor())


def kind_frames():
    """Small frames of each kind chart: by domain, by kind, reasons, suppressions."""
    by_domain = pd.DataFrame(
        {
            "mailbox": box(0),
            "domain": ["a.example", "b.example"],
            "sends": [100, 100],
            "hard": [3, 1],
            "soft": [2, 2],
            "block": [1, 0],
            "complaint": [0, 1],
            "bounce_rate": [0.06, 0.03],
        }
    )
    by_kind = pd.DataFrame(
        {
            "mailbox": box(0),
            "date": pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-09", "2026-10-09"]),
            "kind": ["hard", "soft", "block", "complaint"],
            "status": ["5.1.1", "4.2.2", "5.7.1", ""],
            "counted": True,
            "bounces": [4, 4, 1, 1],
        }
    )
    summary = pd.DataFrame(
        {
            "mailbox": box(0),
            "reason": ["userunknown", "mailboxfull", "blocked", "feedback"],
            "kind": ["hard", "soft", "block", "complaint"],
            "counted": True,
            "bounces": [4, 4, 1, 1],
        }
    )
    supp = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-10-01", "2026-10-02"]),
            "kind": ["hard", "complaint"],
            "added": [3, 1],
        }
    )
    supp["total"] = supp["added"].cumsum()
    return by_domain, by_kind, summary, supp


def test_each_bounce_kind_has_one_colour_in_every_chart():
    by_domain, by_kind, summary, supp = kind_frames()
    kinds = plots.kinds_figure(by_domain, by_kind)
    left, right = kinds.get_axes()
    seen: dict[str, set[tuple[float, ...]]] = {k: set() for k in plots.KIND_COLOURS}
    for ax in (left, right):
        for p in ax.patches:
            kind = p.get_gid().removeprefix("kind:")
            seen[kind].add(_face(p))
    for kind, colour in plots.KIND_COLOURS.items():
        assert seen[kind] == {to_rgba(colour)}, kind
    bars = plots.reasons_figure(summary).get_axes()[0]
    labels = [t.get_text() for t in bars.get_yticklabels()]
    for label, patch in zip(labels, bars.patches, strict=True):
        kind = summary.set_index("reason").loc[label, "kind"]
        assert _face(patch) == to_rgba(plots.KIND_COLOURS[kind]), label
    grown = plots.suppressions_figure(supp).get_axes()[0]
    for kind in ("hard", "complaint"):
        assert to_rgba(line(grown, f"kind:{kind}").get_color()) == to_rgba(plots.KIND_COLOURS[kind])


@pytest.mark.slow
def test_notebook_charts_keep_their_text_inside_and_legends_off_the_data():
    by_domain, by_kind, summary, supp = kind_frames()
    frame = frame_of(mailbox_rows(box(0), rate=0.04), mailbox_rows(box(1)))
    plan = frame[["mailbox", "date", "quota"]]
    for fig in (
        plots.kinds_figure(by_domain, by_kind),
        plots.reasons_figure(summary),
        plots.suppressions_figure(supp),
        plots.trends_figure(frame),
        plots.ahead_figure(plan),
    ):
        assert_no_clipped_text(fig)
        if legends_of(fig):
            assert_legends_outside_the_axes(fig)


def test_weekly_table_prints_dates_as_dates():
    weekly = reports.weekly(frame_of(mailbox_rows(box(0))))
    assert all(type(w) is dt.date and w.weekday() == 6 for w in weekly["week"])
    assert weekly["sent"].sum() == mailbox_rows(box(0))["sent"].sum()
    text = weekly.to_string() + weekly.to_html()
    assert "2026-10-04" in text and "00:00:00" not in text


def test_suppressions_fall_on_the_local_day_of_their_mailbox(ledger_path):
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, "sales@corp.example", "exmail", timezone=SH)
    day = dt.date(2026, 10, 4)
    # 01:30 in Shanghai is the evening before in UTC: the suppression belongs to 4 October.
    api.record_send(ledger, "sales@corp.example", ["gone@example.com"], at(day, 0, 30))
    api.record_bounce(
        ledger, "sales@corp.example", "gone@example.com", "hard", "5.1.1", at(day, 1, 30)
    )
    supp = reports.suppressions(ledger)
    assert supp[["date", "kind", "added", "total"]].values.tolist() == [
        [pd.Timestamp("2026-10-04"), "hard", 1, 1]
    ]
    fig = plots.suppressions_figure(supp)
    assert "local day" in fig.get_axes()[0].get_title(loc="left")
    ledger.close()


def test_plot_of_more_than_twelve_mailboxes_says_to_name_them(run, ledger_path):
    ledger = open_ledger(str(ledger_path))
    for i in range(13):
        api.add_mailbox(ledger, box(i), "exmail", timezone=SH)
    ledger.close()
    before = ledger_digest(ledger_path)
    res = run("plot", "--out", str(ledger_path.parent / "all.png"))
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        "Error: 13 mailboxes: a figure shows at most 12 legibly; "
        "name up to 12 of them (warmup plot ADDRESS ...)"
    ]
    assert ledger_digest(ledger_path) == before and not (ledger_path.parent / "all.png").exists()


def test_plot_to_a_folder_that_does_not_exist_is_one_line(run, ledger_path):
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH)
    ledger.close()
    before = ledger_digest(ledger_path)
    out = ledger_path.parent / "no" / "such" / "folder" / "trend.png"
    res = run("plot", "--out", str(out))
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        f"Error: --out {out}: cannot write it (No such file or directory); give a file in a "
        f"folder that exists and you may write to"
    ]
    assert ledger_digest(ledger_path) == before


def test_a_single_day_draws_a_point_without_a_date_locator_warning():
    """``days = 1`` in the notebook (or a ledger whose suppressions all fell on one day):
    the trends and suppressions figures drew a line of one point, which shows nothing, and
    matplotlib warned "AutoDateLocator was unable to pick an appropriate interval" into the
    reader's report."""
    import warnings

    one = frame_of(mailbox_rows(box(1)).iloc[[5]])
    supp = pd.DataFrame(
        {"date": [pd.Timestamp("2026-10-04")], "kind": ["hard"], "added": [3], "total": [3]}
    )
    for fig in (plots.trends_figure(one), plots.suppressions_figure(supp)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            FigureCanvasAgg(fig).draw()
        data = ("mailbox:", "kind:", "total")
        lines = [
            ln
            for ax in fig.get_axes()
            for ln in ax.get_lines()
            if (ln.get_gid() or "").startswith(data)
        ]
        assert lines and all(ln.get_marker() == "o" for ln in lines)
        for ax in fig.get_axes():
            lo, hi = ax.get_xlim()
            assert hi - lo == pytest.approx(1.0)  # the day, half a day either side


def test_a_plan_of_one_day_ahead_draws_without_a_date_locator_warning():
    """``plots.ahead_figure(reports.ahead(ledger, boxes, 1))``: the quota ahead of one day
    left matplotlib a date range of zero width, and it warned "AutoDateLocator was unable to
    pick an appropriate interval" (the trends and suppressions figures had been fixed)."""
    import warnings

    ahead = pd.DataFrame(
        {
            "mailbox": [box(1), box(2)],
            "date": [pd.Timestamp("2026-10-04")] * 2,
            "warmup_day": [3, 9],
            "stage": ["week 1", "weeks 2-4"],
            "quota": [50, 120],
            "cumulative": [50, 120],
        }
    )
    fig = plots.ahead_figure(ahead)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FigureCanvasAgg(fig).draw()
    for ax in fig.get_axes():
        lo, hi = ax.get_xlim()
        assert hi - lo == pytest.approx(1.0)  # the day, half a day either side


@pytest.mark.parametrize("slash", ["", "/"])
def test_plot_to_a_folder_writes_the_default_name_in_it(run, ledger_path, tmp_path, slash):
    """``--out DIR/`` (or an existing DIR) was refused with click's "is a directory" (64): the
    folder is where the user wants the figure, under the name it would have had."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH, added_at=ADDED_AT)
    ledger.close()
    folder = tmp_path / "figures"
    folder.mkdir()
    res = run("plot", "--out", f"{folder}{slash}", "--at", "2026-11-20T12:00:00+08:00")
    assert res.exit_code == 0, res.output
    written = folder / "warmup-plot-20261120.png"
    assert res.output.strip().splitlines() == [str(written.resolve())]
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["no-such-folder/", "trend.png/"])
def test_plot_to_a_folder_name_that_is_no_folder_is_one_line(run, ledger_path, tmp_path, name):
    """``--out trend.png/`` wrote trend.png: the slash said a folder was meant."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH)
    ledger.close()
    before = ledger_digest(ledger_path)
    out = f"{tmp_path}/{name}"
    res = run("plot", "--out", out)
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        f"Error: --out {out}: no such folder (No such file or directory); give a folder that "
        f"exists, or a file name"
    ]
    assert ledger_digest(ledger_path) == before and list(tmp_path.iterdir()) == [ledger_path]


@pytest.mark.parametrize(
    "tail", ["", ".png", "/", "/trend.png"], ids=["bare", "png", "slash", "in"]
)
def test_plot_to_a_name_too_long_for_the_system_is_one_line(run, ledger_path, tmp_path, tail):
    """A file name over 255 bytes (a variable that expanded to a page): Path.is_dir() raised
    ENAMETOOLONG, a traceback and exit 1, where a missing folder is one line and 64."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH)
    ledger.close()
    before = ledger_digest(ledger_path)
    res = run("plot", "--out", f"{tmp_path}/{'a' * 256}{tail}")
    assert res.exit_code == 64, res.output
    [line] = res.output.strip().splitlines()
    assert line.startswith(f"Error: --out {tmp_path}/aaa"), line
    assert line.endswith(
        ": cannot use it (File name too long); give a file in a folder that exists and you may "
        "write to"
    ), line
    assert ledger_digest(ledger_path) == before and list(tmp_path.iterdir()) == [ledger_path]


def test_the_legend_names_every_health_window_of_the_mailboxes_plotted():
    """Mailboxes on policies judging bounces over different windows: the legend said the first
    mailbox's ("trailing 14 days") of every mailbox's line, the 7-day one's too."""
    frame = frame_of(mailbox_rows(box(0)), mailbox_rows(box(1)))
    frame.attrs["thresholds"][box(0)]["window_days"] = 14
    frame.attrs["thresholds"][box(1)]["window_days"] = 7
    texts = [t.get_text() for t in reports.figure(frame).legends[0].get_texts()]
    assert "bounce rate, trailing 7 or 14 days" in texts
    one = frame_of(mailbox_rows(box(1)))
    one.attrs["thresholds"][box(1)]["window_days"] = 14
    texts = [t.get_text() for t in reports.figure(one).legends[0].get_texts()]
    assert "bounce rate, trailing 14 days" in texts


def test_the_default_plot_name_is_the_mailboxes_local_day(run, ledger_path, tmp_path):
    """At 07:00 in Shanghai (23:00 UTC the day before) the figure's last day is the local day,
    but its default name took the UTC date: yesterday's name on today's plot."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH, added_at=ADDED_AT)
    ledger.close()
    res = run("plot", "--out", str(tmp_path), "--at", "2026-11-21T07:00:00+08:00", "--json")
    assert res.exit_code == 0, res.output
    written = tmp_path / "warmup-plot-20261121.png"
    assert json.loads(res.output)["path"] == str(written.resolve())
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("suffix", "head"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml")])
def test_plot_to_a_pipe_writes_the_whole_figure_into_it(run, ledger_path, tmp_path, suffix, head):
    """``--out FIFO`` (a viewer reading it; ``/dev/stdout`` into a pipe is the same) failed after
    all its work with "cannot write it (File or stream is not seekable.)", 64: the PNG writer
    seeks back in what it writes. The figure is drawn whole, then written into the pipe."""
    import os

    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH, added_at=ADDED_AT)
    ledger.close()
    fifo = tmp_path / f"viewer{suffix}"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        res = run("plot", "--out", str(fifo), "--at", "2026-11-20T12:00:00+08:00")
        got, _ = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines() == [str(fifo.resolve())]
    assert got.startswith(head)
    assert got.rstrip().endswith(b"IEND\xaeB`\x82" if suffix == ".png" else b"</svg>")


# A plot writer caught between its temporary file and the rename: it makes and writes the
# temporary file as a plot does, says where, then waits to be killed (or told to go).
_WRITER = """
import sys
from pathlib import Path
from warmup.reports import output

fd, temp = output._temp_beside(Path(sys.argv[1]))
import os
os.write(fd, b"half a plot")
print(temp, flush=True)
sys.stdin.read()
"""


def _writer(out) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_a_temporary_file_a_killed_plot_left_is_removed_by_the_next(run, ledger_path, tmp_path):
    """A plot killed (SIGKILL) between writing its temporary file and renaming it left
    ``.trend.png.XXXXXXXX.tmp`` beside the plot, hidden, at every kill. The next plot of the
    same file removes its own kind of leftovers, never one a plot still writes, nor any other
    file."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH, added_at=ADDED_AT)
    ledger.close()
    folder = tmp_path / "figures"
    folder.mkdir()
    out = folder / "trend.png"
    killed, left = _writer(out)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)  # closes its pipes too: left open, a later test warned
    live, held = _writer(out)
    others = [
        folder / ".trend.png.notes.tmp",
        folder / ".trend.png.0a1b2c3d.tmp.bak",
        folder / ".other.png.0a1b2c3d.tmp",
        folder / "trend.png.0a1b2c3d.tmp",
    ]
    for other in others:
        other.write_text("someone else's")
    try:
        assert left.exists() and left.name.startswith(".trend.png.")
        res = run("plot", "--out", str(out), "--at", "2026-11-20T12:00:00+08:00")
        assert res.exit_code == 0, res.output
        assert not left.exists()
        assert sorted(folder.iterdir()) == sorted([out, held, *others])
        assert held.read_bytes() == b"half a plot"  # still being written: left to its writer
    finally:
        live.communicate("", timeout=60)
    assert live.returncode == 0
    res = run("plot", "--out", str(out), "--at", "2026-11-20T12:00:00+08:00")
    assert res.exit_code == 0, res.output
    assert sorted(folder.iterdir()) == sorted([out, *others])  # its writer ended without it
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_one_day_history_and_a_lone_day_between_idle_days_show_their_quota():
    """A step line of one point draws nothing: a mailbox's first day (``warmup plot`` of a new
    mailbox, or one whose only history is a bounce) showed no quota and no warm-up day, on an
    axis ticked in hours with warm-up days of 0.2; a day in warm-up between idle days lost its
    quota the same way. Such a day's quota is a dash, the lone warm-up day a dot, one tick a day."""
    import matplotlib.dates as mdates

    one = mailbox_rows(box(0)).iloc[:1]
    fig = reports.figure(frame_of(one))
    sends, _, stages = panels(fig, box(0))
    lone = line(sends, "quota_lone")
    assert list(lone.get_ydata()) == [50.0] and lone.get_marker() == "_"
    assert line(stages, "warmup_day").get_marker() == "o"
    ticks = [t for t in stages.get_yticks() if 0 <= t <= stages.get_ylim()[1]]
    assert ticks == [0, 1]
    assert list(sends.get_xticks()) == [mdates.date2num(DAYS[0])]
    rendered(fig)
    # days 0-3 and 5 idle, day 4 sent alone, then days 6-19 in a row: day 4 alone is a dash
    rows = mailbox_rows(box(1), idle=(0, 1, 2, 3, 5))
    lone = line(panels(reports.figure(frame_of(rows)), box(1))[0], "quota_lone")
    assert list(lone.get_ydata()) == [float(rows["quota"][4])]


# Another plot of the same file, as it starts: it clears the temporary files no process holds
# (here again and again, so that it meets the other plot's file at every moment of its life).
_CLEARER = """
import sys
from pathlib import Path
from warmup.reports import output

target = Path(sys.argv[1]).resolve()
print("clearing", flush=True)
while True:
    output._clear_stale(target)
"""


class _TinyFigure:
    """What _save_whole asks of a figure, at a fraction of a real one's cost: the race below
    needs hundreds of writes."""

    def savefig(self, f, dpi, format):
        f.write(b"\x89PNG\r\n\x1a\n a plot")


def test_a_plot_between_its_write_and_its_rename_is_not_cleared_by_another(tmp_path):
    """The temporary file was closed (its lock dropped) before it was renamed over the plot:
    another plot of the same file starting then found it unlocked, took it for a killed plot's
    and removed it, and this plot failed with FileNotFoundError at the rename (3% of writes
    with a second plot starting all the time). It stays locked until it is the plot."""
    out = tmp_path / "trend.png"
    clearer = subprocess.Popen(
        [sys.executable, "-c", _CLEARER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert clearer.stdout is not None
        assert clearer.stdout.readline().strip() == "clearing"
        fig = _TinyFigure()
        for i in range(600):
            try:
                report_output._save_whole(fig, out)
            except FileNotFoundError as exc:
                pytest.fail(f"write {i + 1}: the plot's own temporary file was removed: {exc}")
            assert out.read_bytes() == b"\x89PNG\r\n\x1a\n a plot"
    finally:
        clearer.kill()
        clearer.communicate(timeout=60)  # and its pipe closed, not left to the collector
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trend.png"]


@pytest.mark.parametrize("ndays", [3, 4, 5, 11])
def test_a_few_days_draw_with_one_tick_a_day_and_no_matplotlib_warning(ndays):
    """Four days of history (or a --days 3 that spans two zones' dates) made AutoDateLocator
    give up, warn on stderr ('unable to pick an appropriate interval') and tick every 12 hours:
    noon labels on a chart of whole days. Every tick is a midnight, and nothing is warned."""
    import warnings

    import matplotlib.dates as mdates

    rows = mailbox_rows(box(0)).iloc[:ndays].copy()
    rows["bounce_rate"] = 0.01
    by_kind = kind_frames()[1].iloc[: min(ndays, 4)].copy()
    by_kind["date"] = DAYS[: len(by_kind)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # a pipe an earlier test of this worker left to the garbage collector is no warning of
        # the plot's (the CI showed one collected here, made an error, then "ignored")
        warnings.simplefilter("default", ResourceWarning)
        figs = [plots.figure(frame_of(rows)), plots.kinds_figure(kind_frames()[0], by_kind)]
        for fig in figs:
            rendered(fig)
    trend, kinds = figs
    for ax in (trend.get_axes()[0], kinds.get_axes()[1]):  # the date axes
        days = [mdates.num2date(t) for t in ax.xaxis.get_majorticklocs()]
        assert days and all((d.hour, d.minute) == (0, 0) for d in days), (ndays, days)


def test_charts_with_nothing_to_draw_say_so_instead_of_empty_axes():
    """A fresh ledger's suppression chart was an empty axis dated 1970-01-01 00:00 to 24:00; a
    mailbox whose only bounces count for nothing (unmatched) got an empty reasons chart with
    ticks at -0.04..0.04 and an empty legend box. Each now says there is nothing, without ticks."""
    import matplotlib.dates as mdates

    _, _, summary, supp = kind_frames()
    uncounted = summary.iloc[:1].assign(counted=False)
    empty_supp = supp.iloc[:0]
    for fig, said in (
        (plots.reasons_figure(uncounted), "No counted bounces in this period (4 not counted)"),
        (plots.reasons_figure(summary.iloc[:0]), "No counted bounces in this period"),
        (plots.suppressions_figure(empty_supp), "No suppressed recipients"),
    ):
        rendered(fig)
        (ax,) = fig.get_axes()
        assert [t.get_text() for t in ax.texts if t.get_gid() == "none"] == [said]
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
        assert fig.legends == [] and ax.get_legend() is None
    # with something to draw, the charts are as before
    bars = plots.reasons_figure(summary).get_axes()[0]
    assert len(bars.patches) == 4 and not bars.texts
    grown = plots.suppressions_figure(supp).get_axes()[0]
    assert mdates.num2date(grown.get_xlim()[0]).year == 2026


def test_plot_to_an_empty_out_is_a_usage_error_not_the_current_folder(
    run, ledger_path, tmp_path, monkeypatch
):
    """``--out "$OUT"`` with OUT unset wrote warmup-plot-DATE.png into the current folder and
    exited 0 (an empty name read as "no --out"); it is exit 64 saying what to give."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, box(0), "exmail", timezone=SH)
    ledger.close()
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    res = run("plot", "--out", "")
    assert res.exit_code == 64
    assert res.output == (
        "Error: --out is empty; give a .png, .svg or .pdf file name, or a folder\n"
    )
    assert list(here.iterdir()) == []


def test_a_decade_of_daily_sends_is_one_artist_with_a_bar_per_day():
    """ax.bar made a patch per day, each added and drawn on its own: 'warmup plot' of ten years
    took some 20 s, and one asked --at decades past the first send 95 s and 420 MB. The bars
    are one collection now: the same rectangles (0.8 of a day wide, at each day's sends)."""
    import matplotlib.dates as mdates

    rows = mailbox_rows(box(0))
    days = pd.date_range("2020-01-01", periods=3650, freq="D")
    rows = pd.concat([rows.iloc[[0]]] * len(days), ignore_index=True)
    rows["date"], rows["warmup_day"] = days, np.arange(1, len(days) + 1)
    rows["sent"] = np.arange(len(days)) % 97
    sends = panels(reports.figure(frame_of(rows)), box(0))[0]
    assert len(sends.patches) == 0  # no artist per day
    [bars] = [c for c in sends.collections if c.get_gid() == "sent"]
    paths = bars.get_paths()
    assert len(paths) == len(days)
    for i in (0, 1, 1234, len(days) - 1):
        (x0, y0), (x1, y1) = paths[i].vertices.min(axis=0), paths[i].vertices.max(axis=0)
        centre = mdates.date2num(days[i])
        assert (x0, x1) == pytest.approx((centre - 0.4, centre + 0.4))
        assert (y0, y1) == (0, rows["sent"][i])


DOLLARS = "a$^^$b@corp.example"  # a valid address; between its dollars, no valid formula


def test_names_with_dollar_signs_are_drawn_as_written_not_as_math():
    """A pair of ``$`` makes matplotlib typeset what lies between as a formula: names from the
    ledger are text, drawn letter for letter (this pair failed the figure with a parser's
    traceback: ``warmup plot`` of such a mailbox exit 1)."""
    rows = mailbox_rows(DOLLARS)
    rows["stage"] = "$x_{$"
    frame = frame_of(rows)
    by_domain, by_kind, summary, _ = kind_frames()
    by_domain["domain"] = ["$^^$.example", "b.example"]
    summary["reason"] = ["$^^$", "mailboxfull", "blocked", "feedback"]
    figs = [
        plots.figure(frame),
        plots.trends_figure(frame),
        plots.ahead_figure(frame[["mailbox", "date", "quota"]]),
        plots.kinds_figure(by_domain, by_kind),
        plots.reasons_figure(summary),
    ]
    drawn: list[str] = []
    for fig in figs:
        renderer = rendered(fig)
        texts = [*fig.texts, *(t for leg in legends_of(fig) for t in leg.get_texts())]
        for ax in fig.axes:
            texts += [ax._left_title, *ax.get_yticklabels()]
        for text in texts:
            text.get_window_extent(renderer)  # typesets it, as saving does
            shown, math = text._preprocess_math(text.get_text())
            assert not math, shown
            drawn.append(shown)
    assert f"{DOLLARS}: daily sends vs quota" in drawn
    assert f"{DOLLARS}: quota ahead" in drawn and DOLLARS in drawn  # title, trends legend
    assert "stage: $x_{$" in drawn
    assert "$^^$.example" in drawn and "$^^$" in drawn  # domain and reason labels


def test_plot_of_a_mailbox_named_with_dollar_signs_writes_the_plot(run, ledger_path, tmp_path):
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, DOLLARS, "exmail", timezone=SH)
    ledger.close()
    out = tmp_path / "dollars.png"
    res = run("plot", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out) and out.stat().st_size > 0
