"""Reports and plots over the sample: the figure's data, the CSV, the rollup and the policy agree."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ADDED, ADDED_AT, SH, at
from warmup import api, reports
from warmup.ledger import open_ledger
from warmup.policy import timeline
from warmup.reports import days as report_days

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample.csv"
AT = "2026-11-29T09:00:00+08:00"  # the morning after the sample's last day
BOXES = ("outreach@corp.example", "partners@corp.example", "sales@corp.example")


@pytest.fixture(scope="session")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample imported once per session (on an empty ledger, as a new user would)."""
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    ledger = open_ledger(str(path))
    result = api.import_csv(ledger, SAMPLE)
    ledger.close()
    assert (result.mailboxes, result.events) == (3, 1)
    assert result.sends > 20000 and result.bounces > 100
    return path


@pytest.fixture
def sample(sample_file: Path, ledger_path: Path):
    """A private copy of the sample ledger at ``$WARMUP_DB``, open."""
    shutil.copy(sample_file, ledger_path)
    ledger = open_ledger(str(ledger_path))
    yield ledger
    ledger.close()


@pytest.fixture
def frame(sample) -> pd.DataFrame:
    return reports.daily(sample, at=api.parse_instant(AT))


@pytest.mark.slow
def test_rollup_agrees_with_raw_rows(sample):
    rolled = sample.day_stats()
    raw = sample.raw_day_counts()
    assert 3 * 60 - 16 - 5 < len(rolled) <= 3 * 60 - 16  # 60 days each, less idle and paused
    assert rolled == raw
    assert reports.rollup_mismatches(sample) == []
    # and it keeps agreeing as sends and bounces are recorded one by one
    api.record_send(
        sample, BOXES[2], ["late@example.com", "later@example.com"], at(dt.date(2026, 11, 29), 10)
    )
    recorded = api.record_bounce(
        sample, BOXES[2], "late@example.com", "soft", "4.2.2", at(dt.date(2026, 11, 29), 11)
    )
    assert (recorded.bounces, recorded.matched, recorded.counted) == (1, 1, 1)
    assert reports.rollup_mismatches(sample) == []


@pytest.mark.slow
def test_rollup_mismatch_is_reported(sample):
    [box] = [b for b in sample.mailboxes() if b.id == 1]
    with sample.write() as conn:  # the rollup's internals: a bump with no raw row behind it
        sample._bump(conn, box, dt.date(2026, 10, 1), "sent", 5)
    bad = reports.rollup_mismatches(sample)
    assert len(bad) == 1 and bad[0][0] == (1, dt.date(2026, 10, 1))


def test_daily_frame_shape_and_story(frame):
    assert list(frame.columns) == reports.DAILY_COLUMNS
    assert sorted(frame["mailbox"].unique()) == list(BOXES)
    by = {m: g.reset_index(drop=True) for m, g in frame.groupby("mailbox")}
    sales, outreach, partners = by[BOXES[2]], by[BOXES[0]], by[BOXES[1]]
    assert len(sales) == 61 and sales["date"].iloc[0] == pd.Timestamp("2026-09-30")
    # one ramps cleanly to stable ...
    assert set(sales["status"]) == {"ok"} and sales["stage"].iloc[-1] == "stable"
    # one is paused by its bounce spike, resumed, and ramps again ...
    assert (outreach["status"] == "paused").sum() >= 1
    assert outreach["bounce_rate"].max() > 0.10
    assert outreach["status"].iloc[-1] == "ok" and outreach["quota"].iloc[-1] > 0
    # one goes idle and steps back a stage when it sends again
    stages = [stage for stage, _ in itertools.groupby(partners["stage"])]
    assert stages == ["week 1", "weeks 2-4", "stable", "weeks 2-4", "stable"]
    # the sample follows the policy: never more than the quota of the day
    over = frame[frame["sent"] > frame["quota"]]
    assert over.empty, over
    assert (frame["bounced"] == frame["hard"] + frame["soft"] + frame["block"]).all()


@pytest.mark.slow
def test_each_day_is_what_quota_said_that_morning(sample, frame):
    boxes = {b.address: b for b in sample.mailboxes()}
    checked = 0
    for row in frame.iloc[:-1].itertuples():
        if row.status == "resumed" or row.date == frame["date"].max():
            continue
        box = boxes[row.mailbox]
        morning = api.parse_instant(f"{row.date:%Y-%m-%d}", tz=box.timezone)
        a = api.quota_for(sample, box, morning)
        assert (row.quota, row.stage, row.warmup_day) == (a.quota, a.stage, a.day), row
        assert (row.status == "paused") == (a.status == "paused"), row
        checked += 1
    assert checked > 150


def test_today_row_is_quota_now(sample, frame):
    when = api.parse_instant(AT)
    for box in sample.mailboxes():
        last = frame[frame["mailbox"] == box.address].iloc[-1]
        a = api.quota_for(sample, box, when)
        assert last["date"] == pd.Timestamp("2026-11-29")
        assert (last["quota"], last["stage"], last["warmup_day"]) == (a.quota, a.stage, a.day)


@pytest.mark.slow
def test_days_keeps_the_last_n(sample):
    short = reports.daily(sample, [BOXES[2]], days=10, at=api.parse_instant(AT))
    assert len(short) == 10 and short["date"].iloc[-1] == pd.Timestamp("2026-11-29")


def _axes_of(fig, mailbox: str):
    """The three panels of one mailbox: its row, titled by the sends panel."""
    axes = fig.get_axes()
    i = next(k for k, ax in enumerate(axes) if ax.get_title(loc="left").startswith(mailbox))
    return axes[i : i + 3]


def _nan_equal(a, b) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y) for x, y in zip(a, b)
    )


@pytest.mark.slow
def test_figure_plots_the_report_numbers(frame):
    fig = reports.figure(frame)
    assert len(fig.get_axes()) == 3 * 3
    assert "Mailbox warm-up, 2026-09-30 to 2026-11-29" in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for mailbox, rows in frame.groupby("mailbox"):
        sends, rates, stages = _axes_of(fig, mailbox)
        assert "sends vs quota" in sends.get_title(loc="left")
        assert "bounce rate" in rates.get_title(loc="left")
        assert "stage" in stages.get_title(loc="left")
        assert sends.get_ylabel() and rates.get_ylabel() and stages.get_ylabel()
        # one collection of a bar a day (plots._day_bars): each bar's top is the day's sends
        bars = next(c for c in sends.collections if c.get_gid() == "sent")
        assert [float(p.vertices[1, 1]) for p in bars.get_paths()] == list(rows["sent"])
        quota = next(ln for ln in sends.get_lines() if ln.get_gid() == "quota")
        active = (rows["sent"] > 0) | rows["status"].isin(["paused", "resumed", "closed"])
        active.iloc[-1] = True  # today
        assert _nan_equal(list(quota.get_ydata()), list(rows["quota"].where(active)))
        assert quota.get_drawstyle() == "steps-mid"
        rate = next(ln for ln in rates.get_lines() if ln.get_gid() == "bounce_rate")
        assert _nan_equal(list(rate.get_ydata()), list(rows["bounce_rate"] * 100))
        levels = {
            ln.get_gid(): ln.get_ydata()[0]
            for ln in rates.get_lines()
            if ln.get_gid() in ("hold_above", "step_back_above", "pause_above")
        }
        assert levels == {"hold_above": 3.0, "step_back_above": 5.0, "pause_above": 10.0}
        assert rates.get_ylim() == _axes_of(fig, BOXES[0])[1].get_ylim()
        bands = {p.get_gid() for p in stages.patches if (p.get_gid() or "").startswith("stage:")}
        assert bands == {f"stage:{s}" for s in rows["stage"]}
        assert {f"stage: {s}" for s in rows["stage"]} <= set(legend)
        paused = [p for p in sends.patches if p.get_gid() == "paused"]
        assert len(paused) == (rows["status"] == "paused").sum()
    # partners@ sent nothing from 30 October to 14 November: no quota drawn over the gap
    quota = next(ln for ln in _axes_of(fig, BOXES[1])[0].get_lines() if ln.get_gid() == "quota")
    assert sum(math.isnan(v) for v in quota.get_ydata()) == 16
    assert "paused" in legend and "sent" in legend


@pytest.mark.slow
def test_plot_command_writes_the_file(sample, run, tmp_path, monkeypatch):
    out = tmp_path / "trend.png"
    res = run("plot", "--out", str(out), "--at", AT)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out.resolve())
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.chdir(tmp_path)
    res = run("plot", BOXES[0], "--days", "30", "--at", AT)
    path = Path(res.output.strip().splitlines()[-1])
    assert res.exit_code == 0 and path.parent == tmp_path.resolve() and path.suffix == ".png"
    assert path.stat().st_size > 10_000
    svg = run("plot", BOXES[1], "--out", str(tmp_path / "t.svg"), "--at", AT)
    assert svg.exit_code == 0 and (tmp_path / "t.svg").read_text().lstrip().startswith("<?xml")
    bad = run("plot", "--out", str(tmp_path / "t.gif"), "--at", AT)
    assert bad.exit_code == 64 and ".png, .svg or .pdf" in bad.output


@pytest.mark.slow
def test_report_csv_is_the_frame(sample, frame, run):
    res = run("report", "--format", "csv", "--at", AT)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert len(rows) == len(frame)
    assert list(rows[0]) == reports.DAILY_COLUMNS
    for got, want in zip(rows, frame.itertuples()):
        assert got["mailbox"] == want.mailbox and got["date"] == f"{want.date:%Y-%m-%d}"
        for c in ("quota", "sent", "hard", "soft", "block", "complaints", "warmup_day"):
            assert int(got[c]) == getattr(want, c)
        rate = float(got["bounce_rate"]) if got["bounce_rate"] else math.nan
        assert _nan_equal([rate], [want.bounce_rate])
        assert (got["stage"], got["status"]) == (want.stage, want.status)
    js = run("report", BOXES[2], "--format", "json", "--at", AT, "--days", "3")
    assert [r["sent"] for r in __import__("json").loads(js.output)] == list(
        frame[frame["mailbox"] == BOXES[2]]["sent"].iloc[-3:]
    )


def test_report_table(sample, run):
    res = run("report", BOXES[0], "--at", AT, "--days", "40")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split()[:6] == ["MAILBOX", "DATE", "DAY", "STAGE", "QUOTA", "SENT"]
    assert len(lines) == 41
    assert sum(line.endswith("paused") for line in lines) >= 1


def test_report_without_mailboxes_and_unknown_mailbox(run):
    assert run("db", "migrate").exit_code == 0  # an empty ledger
    assert "No mailboxes yet" in run("report").output
    res = run("plot")
    # it said "no mailbox has any history in this period", as if another --days would help
    assert res.exit_code == 65
    assert res.output == (
        "Error: nothing to plot: the ledger has no mailboxes yet; add one with "
        "'warmup mailbox add ADDRESS --provider exmail'\n"
    )
    res = run("report", "ghost@corp.example")
    assert res.exit_code == 64 and "not found" in res.output


def test_resumed_day_carries_the_post_resume_quota(ledger_path):
    ledger = open_ledger()
    box = api.add_mailbox(ledger, "r@corp.example", "exmail", timezone=SH)
    d0 = dt.date(2026, 11, 2)
    for k in range(5):
        api.record_send(
            ledger,
            box.address,
            [f"x{k}-{i}@example.com" for i in range(30)],
            at(d0 + dt.timedelta(days=k), 9),
        )
    api.pause(ledger, box.address, "list review", at=at(d0 + dt.timedelta(days=4), 18))
    api.resume(ledger, box.address, at=at(d0 + dt.timedelta(days=6), 10))
    frame = reports.daily(ledger, at=at(d0 + dt.timedelta(days=8), 9))
    status = dict(zip(frame["date"].dt.date, frame["status"]))
    quota = dict(zip(frame["date"].dt.date, frame["quota"]))
    assert status[d0 + dt.timedelta(days=4)] == "ok"  # the pause came in the evening
    assert (status[d0 + dt.timedelta(days=5)], quota[d0 + dt.timedelta(days=5)]) == ("paused", 0)
    assert status[d0 + dt.timedelta(days=6)] == "resumed"
    assert (
        quota[d0 + dt.timedelta(days=6)]
        == api.quota_for(ledger, box, at(d0 + dt.timedelta(days=6), 10, 1)).quota
        > 0
    )
    ledger.close()


def test_timeline_of_a_mailbox_without_history_is_today():
    from warmup.policy import History, load_policy

    line = timeline(load_policy("default"), History("n@corp.example", SH), api.parse_instant(AT))
    assert [(v.date, v.day, v.quota, v.status) for v in line] == [
        (dt.date(2026, 11, 29), 1, 50, "ok")
    ]


@pytest.mark.slow
def test_domain_kind_and_suppression_frames(sample):
    when = api.parse_instant(AT)
    dom = reports.bounces_by_domain(sample, at=when)
    worst = dom[dom["mailbox"] == BOXES[0]].iloc[0]
    assert worst["domain"] == "old-list.example" and worst["bounce_rate"] > 0.2
    totals = {
        c: sum(r[i] for r in sample.day_stats())
        for i, c in enumerate(("sent", "hard", "soft", "block", "complaint"), start=2)
    }
    suppressed = len(sample.suppressions())
    assert int(dom["sends"].sum()) == totals["sent"]
    assert {c: int(dom[c].sum()) for c in ("hard", "soft", "block", "complaint")} == {
        c: totals[c] for c in ("hard", "soft", "block", "complaint")
    }
    kinds = reports.bounces_by_kind(sample, at=when)
    # Every bounce of the sample answers its send (the import links them): all counted, so the
    # listing's total is the rollup's.
    assert kinds["counted"].all()
    assert int(kinds["bounces"].sum()) == sum(
        totals[c] for c in ("hard", "soft", "block", "complaint")
    )
    assert set(kinds[kinds["kind"] == "hard"]["status"]) == {"5.1.1"}
    supp = reports.suppressions(sample)
    assert int(supp["total"].iloc[-1]) == suppressed == totals["hard"] + totals["complaint"]
    recent = reports.bounces_by_kind(sample, [BOXES[2]], days=7, at=when)
    assert recent["date"].min() >= pd.Timestamp("2026-11-23")
    # A bounce that answers no send of the mailbox is listed (not counted) by kind, and left out
    # of the by-domain rates (issue #10 item 1).
    stray = api.record_bounce(
        sample, BOXES[2], "who@nowhere.example", "soft", "4.2.2", when - dt.timedelta(hours=1)
    )
    assert (stray.bounces, stray.matched, stray.counted) == (1, 0, 0)
    pd.testing.assert_frame_equal(reports.bounces_by_domain(sample, at=when), dom)
    listed = reports.bounces_by_kind(sample, at=when)
    assert len(listed) == len(kinds) + 1
    assert listed[~listed["counted"]][["mailbox", "kind", "bounces"]].values.tolist() == [
        [BOXES[2], "soft", 1]
    ]


def test_demo_words_its_days_as_report_does_and_its_header_as_its_table(run, tmp_path):
    """The demo's table said ``hold`` for the day the simulated operator resumed the mailbox,
    where ``warmup report`` of the same ledger says ``resumed`` (one status vocabulary), and
    its header promised "two paused days" above one ``paused`` row."""
    res = run("demo", "--no-plot")
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.output.splitlines() if line[:3] == "202"]
    shown = [r[-1] for r in rows[:40]]
    assert shown.count("paused") == 1 and shown[shown.index("paused") + 1] == "resumed"
    assert "resumed by hand the morning after a day paused whole" in res.output

    from warmup.demo import simulate
    from warmup.ledger import open_ledger

    now = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)
    db = tmp_path / "demo.db"
    ledger = open_ledger(str(db))
    _, log = simulate(ledger, 40, now=now)
    ledger.close()
    res = run("--db", str(db), "report", "--json", "--at", now.isoformat())
    assert res.exit_code == 0, res.output
    said = {row["date"]: row["status"] for row in json.loads(res.output)}
    assert {d.isoformat(): status for d, _, _, status in log} == {
        d: s for d, s in said.items() if d < "2026-12-04"
    }
    statuses = [status for _, _, _, status in log]
    assert statuses.count("paused") == 1 and statuses.count("resumed") == 1
    assert statuses.index("resumed") == statuses.index("paused") + 1


def test_the_demos_spike_falls_on_days_that_send_when_its_days_are_a_holiday(tmp_path):
    """Run on 1 March 2027 (Shanghai), the demo's spike days 17-18 were Spring Festival's,
    closed on exmail's calendar: nothing was sent, nothing bounced, and the ramp never held,
    stepped back or paused, while the demo said it did. The spike goes to the next days that
    send, and the story is told whatever the date. Here on 25 October 2026, whose days 17-18
    are National Day's (the ledger takes no record ahead of the real clock)."""
    from warmup.demo import simulate
    from warmup.ledger import open_ledger

    now = dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC)  # days 17-18: 1-2 October
    ledger = open_ledger(str(tmp_path / "demo.db"))
    try:
        _, log = simulate(ledger, 40, now=now)
    finally:
        ledger.close()
    statuses = [status for _, _, _, status in log]
    assert statuses[16:18] == ["closed", "closed"]
    spiked = [bounced for _, allowance, bounced, _ in log if bounced > allowance.remaining / 10]
    assert len(spiked) == 2, log
    assert statuses.count("paused") == 1 and statuses.count("resumed") == 1
    assert statuses.index("resumed") == statuses.index("paused") + 1


@pytest.mark.slow
def test_demo_ends_with_the_path_of_its_plot_and_leaves_nothing_in_the_working_directory(
    run, tmp_path, monkeypatch
):
    import tempfile

    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    res = run("demo", "--days", "20")
    assert res.exit_code == 0, res.output
    last = Path(res.output.rstrip("\n").splitlines()[-1])
    assert last == scratch / f"warmup-{os.getuid()}" / "warmup-demo.png"
    assert last.read_bytes()[:4] == b"\x89PNG"
    assert list(work.iterdir()) == []  # it wrote ./warmup-demo.png (issue #16)
    chosen = tmp_path / "mine.png"
    res = run("demo", "--days", "5", "--plot", str(chosen))
    assert res.exit_code == 0 and res.output.rstrip().endswith(str(chosen))
    assert chosen.read_bytes()[:4] == b"\x89PNG"
    res = run("demo", "--days", "5", "--no-plot")
    assert res.exit_code == 0 and "plotted to" not in res.output
    assert sorted(p.name for p in scratch.iterdir() if not p.name.startswith("warmup-demo-")) == [
        f"warmup-{os.getuid()}"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("plant", ["link", "folder-link", "open-folder"])
def test_demo_never_plots_through_a_name_another_user_planted_in_the_temporary_directory(
    run, tmp_path, monkeypatch, plant
):
    """The plot went to $TMPDIR/warmup-demo.png, a name any user of the host could plant first:
    a link there to root's ~/.bashrc had 'sudo warmup demo' replace it with a PNG. It goes to
    a folder only its user can write, or a fresh one when that name is planted too."""
    import tempfile

    scratch, victim = tmp_path / "tmp", tmp_path / "victim"
    scratch.mkdir()
    victim.mkdir()
    (victim / ".bashrc").write_text("alias ll='ls -l'\n")
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    (scratch / "warmup-demo.png").symlink_to(victim / ".bashrc")
    own = scratch / f"warmup-{os.getuid()}"
    if plant == "folder-link":
        own.symlink_to(victim)
        (victim / "warmup-demo.png").symlink_to(victim / ".bashrc")
    elif plant == "open-folder":
        own.mkdir()
        own.chmod(0o777)
        (own / "warmup-demo.png").symlink_to(victim / ".bashrc")
    res = run("demo", "--days", "5")
    assert res.exit_code == 0, res.output
    assert (victim / ".bashrc").read_text() == "alias ll='ls -l'\n"
    last = Path(res.output.rstrip("\n").splitlines()[-1])
    assert last.read_bytes()[:4] == b"\x89PNG"
    assert victim not in last.resolve().parents


def test_bounces_by_reason_agree_with_the_kinds_and_the_cli_shows_them(sample, run):
    """Issue #14: the report shows bounces by reason (derived from the text each bounce was
    recorded with; one reason per distinct text)."""
    at = api.parse_instant(AT)
    by_reason = reports.bounces_by_reason(sample, at=at)
    by_kind = reports.bounces_by_kind(sample, at=at)
    assert by_reason.groupby("kind")["bounces"].sum().to_dict() == (
        by_kind.groupby("kind")["bounces"].sum().to_dict()
    )
    pairs = set(by_reason[["kind", "reason"]].itertuples(index=False, name=None))
    assert pairs == {
        ("hard", "userunknown"),  # 5.1.1
        ("soft", "mailboxfull"),  # 4.2.2
        ("block", "blocked"),  # 5.7.1
        ("complaint", "feedback"),
    }
    res = run("report", "--by-reason", "--json", "--at", AT)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["mailbox"] for r in rows} == set(BOXES)
    assert sum(r["bounces"] for r in rows) == int(by_kind["bounces"].sum())
    table = run("report", "--by-reason", "--at", AT).stdout.splitlines()
    assert table[0].split() == ["MAILBOX", "REASON", "KIND", "BOUNCES", "COUNTED"]
    listed = json.loads(run("bounces", "list", "--json").stdout)
    assert {r["reason"] for r in listed} <= {"userunknown", "mailboxfull", "blocked", "feedback"}


def test_a_recorded_reason_never_contradicts_the_recorded_kind():
    from warmup.bounces.classify import recorded_reason

    assert recorded_reason("hard", "5.1.1", "550", "user unknown") == "userunknown"
    assert recorded_reason("block", "5.7.1", "550", "listed at spamhaus, spam") == "spamdetected"
    # the kept text says "full" (soft), the bounce was recorded hard: the text does not say why
    assert recorded_reason("hard", "", "", "mailbox full") == "undefined"
    assert recorded_reason("hard", "", "", "") == "undefined"
    assert recorded_reason("complaint", "", "", "") == "feedback"


def test_a_long_history_is_reported_as_the_walk_says(tmp_path: Path):
    """More rollup rows than ``report_days._FEW_DAYS`` take the report's numpy sums (issue #15):
    every day's quota, stage, warm-up day, health and rate is the policy walk's, uncached, cold
    and warm, with idle days, bounces and sends before the day the mailbox was marked started."""
    from warmup import policies
    from warmup.policy import walk_timeline
    from warmup.providers import get_provider

    ledger = open_ledger(str(tmp_path / "long.db"))
    d0 = dt.date(2026, 6, 1)
    days = report_days._FEW_DAYS + 40
    box = api.add_mailbox(
        ledger, "long@corp.example", "exmail", timezone=SH, started=d0 + dt.timedelta(days=9)
    )
    for k in range(days):
        if k % 17 == 16:
            continue  # an idle day now and then
        day = d0 + dt.timedelta(days=k)
        sent = [f"r{k}-{i}@example.com" for i in range(12 + (k * 7) % 25)]
        api.record_send(ledger, box.address, sent, at(day, 9))
        if k % 5 == 0:
            api.record_bounce(ledger, box.address, sent[0], "hard", at=at(day, 11))
    now = at(d0 + dt.timedelta(days=days), 9)
    box = ledger.mailbox(box.address)
    prov = get_provider(box.provider)
    hist = ledger.history(
        box,
        now,
        provider_ceiling=prov.daily_limit,
        provider_min_interval=prov.min_interval,
    ).history
    expected, _ = walk_timeline(policies.resolve(ledger, box.policy), hist, now, explain=False)
    walked = [v for v in expected if v.date >= d0 + dt.timedelta(days=9)]
    assert len(walked) > report_days._FEW_DAYS
    for cache in (False, True, True):  # uncached, cold (memos written), warm (from the memo)
        frame = reports.daily(ledger, at=now, cache=cache)
        got = frame[frame["date"] >= pd.Timestamp(walked[0].date)]
        assert got["quota"].tolist() == [v.quota for v in walked]
        assert got["stage"].tolist() == [v.stage for v in walked]
        assert got["warmup_day"].tolist() == [v.day for v in walked]
        assert got["health"].tolist() == [v.health for v in walked]
        rates = [math.nan if v.rate is None else v.rate for v in walked]
        assert got["bounce_rate"].tolist() == pytest.approx(rates, nan_ok=True)
    ledger.close()


@pytest.mark.slow
def test_many_mailboxes_in_one_report_are_each_as_alone(tmp_path: Path):
    """A report of several mailboxes walks and assembles them together (their day sums in one
    numpy pass, their days joined once, their memos cut from the joined columns; issue #15):
    each mailbox's rows are what a report of it alone gives, with policies of different health
    windows, a start day, a pause, idle days, short and empty histories; uncached, cold, warm
    a day later, and cut to the last days."""
    from tests.conftest import WORKING_DAYS_POLICY
    from tests.test_timeline_cache import _memos

    policy = tmp_path / "three.toml"
    policy.write_text(WORKING_DAYS_POLICY.replace("window_days = 7", "window_days = 3"))
    ledger = open_ledger(str(tmp_path / "many.db"))
    d0 = dt.date(2026, 6, 1)
    last = d0 + dt.timedelta(days=report_days._FEW_DAYS + 50)
    plans = {  # address: (policy, first day, days, started)
        "long@corp.example": ("exmail", 0, report_days._FEW_DAYS + 50, d0 + dt.timedelta(days=9)),
        "three@corp.example": (str(policy), 3, report_days._FEW_DAYS + 40, None),
        "short@corp.example": ("default", 90, 20, None),
        "empty@corp.example": ("gentle", 0, 0, None),
    }
    for k, (address, (pol, first, n, started)) in enumerate(plans.items()):
        api.add_mailbox(ledger, address, "exmail", timezone=SH, policy=pol, started=started)
        for j in range(first, first + n):
            if (j + k) % 13 == 12:
                continue  # idle now and then
            day = d0 + dt.timedelta(days=j)
            sent = [f"r{j}-{i}@example.com" for i in range(5 + (j * (k + 3)) % 30)]
            api.record_send(ledger, address, sent, at(day, 9))
            if (j + k) % 4 == 0:
                api.record_bounce(ledger, address, sent[0], "soft", at=at(day, 11))
    api.pause(ledger, "three@corp.example", "list review", at=at(d0 + dt.timedelta(days=50), 18))
    api.resume(ledger, "three@corp.example", at=at(d0 + dt.timedelta(days=54), 10))

    def alone(now: dt.datetime, days: int | None = None) -> pd.DataFrame:
        each = [reports.daily(ledger, [a], days, now, cache=False) for a in sorted(plans)]
        return pd.concat(each, ignore_index=True)

    now = at(last, 9)
    expected = alone(now)
    assert set(expected["mailbox"]) == set(plans)
    assert (expected["quota"] > 0).any() and (expected["status"] == "paused").any()
    for cache in (False, True):  # uncached; cold (every memo written)
        pd.testing.assert_frame_equal(reports.daily(ledger, at=now, cache=cache), expected)
    walked = {a for a, p in plans.items() if p[2]}
    assert set(_memos(ledger)) == walked  # each memo's digest is its own rows'
    later = at(last + dt.timedelta(days=1), 9)
    for address in plans:
        api.record_send(ledger, address, ["late@example.com"], at(last, 15))
    pd.testing.assert_frame_equal(reports.daily(ledger, at=later), alone(later))  # warm
    # of yesterday; "empty" has its first send yesterday: no active day before it, no memo
    yesterday = later.date() - dt.timedelta(days=1)
    assert {a: m.upto for a, m in _memos(ledger).items()} == dict.fromkeys(walked, yesterday)
    pd.testing.assert_frame_equal(reports.daily(ledger, at=later, days=30), alone(later, 30))
    ledger.close()


@pytest.mark.parametrize("days", [20, report_days._FEW_DAYS + 30])
def test_a_closed_day_is_reported_closed_as_quota_and_plan_say(tmp_path: Path, days: int):
    """A day the window does not open (a CN public holiday on exmail's policy, a day before the
    mailbox's start) is ``closed`` in the report as in ``warmup quota`` and ``warmup plan``
    (README: one status vocabulary), uncached, cold and warm, on the one-by-one walk and on the
    numpy sums; the report said ``ok`` with quota 0."""
    from warmup import policies
    from warmup.policy import walk_timeline
    from warmup.providers import get_provider

    ledger = open_ledger(str(tmp_path / "closed.db"))
    end = dt.date(2026, 10, 12)  # after National Day (October 1-7 2026)
    d0 = end - dt.timedelta(days=days)
    box = api.add_mailbox(
        ledger, "hol@corp.example", "exmail", timezone=SH, started=d0 + dt.timedelta(days=2)
    )
    spec = policies.resolve(ledger, box.policy)
    for k in range(days):
        day = d0 + dt.timedelta(days=k)
        if k >= 2 and not (dt.date(2026, 10, 1) <= day <= dt.date(2026, 10, 7)):
            api.record_send(
                ledger, box.address, [f"r{k}-{i}@example.com" for i in range(40)], at(day, 9)
            )
    now = at(end, 9)
    box = ledger.mailbox(box.address)
    prov = get_provider(box.provider)
    hist = ledger.history(
        box, now, provider_ceiling=prov.daily_limit, provider_min_interval=prov.min_interval
    ).history
    walked, _ = walk_timeline(spec, hist, now, explain=False)
    expected = {v.date: v.status for v in walked}
    assert expected[dt.date(2026, 10, 1)] == "closed"
    for cache in (False, True, True):  # uncached, cold (memos written), warm (from the memo)
        frame = reports.daily(ledger, at=now, cache=cache)
        got = dict(zip(frame["date"].dt.date, frame["status"], strict=True))
        assert got == {d: s for d, s in expected.items() if d in got}
        assert [got[dt.date(2026, 10, d)] for d in range(1, 4)] == ["closed"] * 3
    ledger.close()


def test_report_says_closed_before_a_mailbox_starts(run):
    assert (
        run(
            "mailbox", "add", *ADDED, BOXES[2], "--provider", "exmail", "--started", "2026-12-05"
        ).exit_code
        == 0
    )
    res = run("report", BOXES[2], "--json", "--at", "2026-12-01T10:00:00+08:00")
    assert res.exit_code == 0, res.output
    [row] = json.loads(res.output)
    assert (row["date"], row["quota"], row["status"]) == ("2026-12-01", 0, "closed")
    quota = json.loads(run("quota", BOXES[2], "--json", "--at", "2026-12-01T10:00:00+08:00").output)
    assert quota[0]["status"] == "closed"


def test_frames_of_a_mailbox_without_bounces_or_judged_days_filter_and_draw_cleanly(ledger_path):
    """A new mailbox: the by-kind frame is typed when empty (selecting by ``counted`` kept no
    column, and the notebook's grouping by kind failed with KeyError), and the trends figure of
    rates never judged warns nothing ('All-NaN slice encountered')."""
    import warnings

    from warmup import plots

    ledger = open_ledger()
    api.add_mailbox(ledger, "new@corp.example", "exmail", timezone=SH)
    when = api.parse_instant(AT)
    by_kind = reports.bounces_by_kind(ledger, at=when)
    assert by_kind.empty and by_kind["counted"].dtype == bool
    counted = by_kind[by_kind["counted"]]
    assert list(counted.columns) == list(by_kind.columns)
    assert counted.groupby(["kind", "status"])["bounces"].sum().empty
    daily = reports.daily(ledger, at=when)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.trends_figure(daily)
    ledger.close()


@pytest.mark.parametrize("days", [0, -3, 2.5, True, "7"])
def test_a_number_of_days_that_is_not_one_or_more_is_refused(ledger_path, days):
    """A notebook passes ``days`` as given: 0 made the daily frame the whole history while the
    bounce tables were empty, -3 silently dropped the first three days."""
    from warmup.errors import InvalidField

    ledger = open_ledger()
    box = api.add_mailbox(ledger, "d@corp.example", "exmail", timezone=SH)
    for k in range(5):
        api.record_send(ledger, box.address, [f"r{k}@example.com"], at(dt.date(2026, 11, 20 + k)))
    when = api.parse_instant(AT)
    for report in (reports.daily, reports.bounces_by_domain, reports.bounces_by_kind):
        with pytest.raises(InvalidField, match=r"^days .*: expected a whole number of local days"):
            report(ledger, days=days, at=when)
    assert len(reports.daily(ledger, days=3, at=when)) == 3
    ledger.close()


def test_bounce_tables_cover_each_mailboxs_own_days_up_to_at(run, ledger_path):
    """The bounce tables read each mailbox's last N local days in its own zone, as the daily
    rows do, and nothing after the day of --at. They took the first mailbox's zone for all (a
    mailbox 25 hours behind lost its today: 'No bounces in this period' under a daily row
    showing the bounce) and had no end (a report as of November 1 counted November 30's)."""
    ledger = open_ledger()
    api.add_mailbox(
        ledger, "a@corp.example", "gmail", timezone="Pacific/Kiritimati", added_at=ADDED_AT
    )  # UTC+14
    api.add_mailbox(
        ledger, "b@corp.example", "gmail", timezone="Pacific/Pago_Pago", added_at=ADDED_AT
    )  # UTC-11
    sent = dt.datetime(2026, 11, 30, 11, tzinfo=dt.UTC)  # b's November 30, 00:00
    api.record_send(ledger, "b@corp.example", ["x@gone.example"], sent)
    api.record_bounce(
        ledger, "b@corp.example", "x@gone.example", "hard", "5.1.1", sent + dt.timedelta(minutes=30)
    )
    ledger.close()
    now = "2026-11-30T12:00:00Z"  # a's December 1, b's November 30
    daily = json.loads(run("report", "--days", "1", "--at", now, "--json").output)
    assert [(r["mailbox"], r["date"], r["hard"]) for r in daily] == [
        ("a@corp.example", "2026-12-01", 0),
        ("b@corp.example", "2026-11-30", 1),
    ]
    res = run("report", "--by-reason", "--days", "1", "--at", now, "--json")
    assert [(r["mailbox"], r["reason"], r["bounces"]) for r in json.loads(res.output)] == [
        ("b@corp.example", "userunknown", 1)
    ]
    when = api.parse_instant(now)
    ledger = open_ledger()
    assert reports.bounces_by_domain(ledger, days=1, at=when)[
        ["mailbox", "sends", "hard"]
    ].values.tolist() == [["b@corp.example", 1, 1]]
    assert reports.bounces_by_kind(ledger, days=1, at=when)["bounces"].tolist() == [1]
    before = api.parse_instant("2026-11-01T12:00:00Z")
    for days in (None, 3):
        assert reports.bounces_by_reason(ledger, days=days, at=before).empty
        assert reports.bounces_by_kind(ledger, days=days, at=before).empty
        assert reports.bounces_by_domain(ledger, days=days, at=before).empty
    ledger.close()
    res = run("report", "--by-reason", "--at", "2026-11-01T12:00:00Z")
    assert res.exit_code == 0 and res.output == "No bounces in this period.\n"


def test_report_json_is_a_line_of_text_with_the_policys_words_as_written(run, tmp_path):
    """'report --json' ended without a newline (the prompt followed the closing bracket) and
    wrote a stage named '第一周' as \\u7b2c\\u4e00\\u5468, unlike every other --json."""
    toml = (REPO / "warmup/policy/presets/default.toml").read_text()
    (tmp_path / "cn.toml").write_text(toml.replace('name = "week 1"', 'name = "第一周"', 1))
    add = run(
        "mailbox",
        "add",
        *ADDED,
        BOXES[2],
        "--provider",
        "exmail",
        "--policy",
        str(tmp_path / "cn.toml"),
    )
    assert add.exit_code == 0, add.output
    for args in (("--json",), ("--by-reason", "--json"), ("--format", "csv")):
        res = run("report", *args, "--at", AT)
        assert res.exit_code == 0 and res.output.endswith("\n"), args
    res = run("report", "--json", "--at", AT)
    assert '"stage": "第一周"' in res.output
    assert json.loads(res.output)[0]["stage"] == "第一周"


def test_suppressions_as_of_an_instant_leave_out_the_later_ones(sample):
    """The notebook's "Suppression growth" ran to the ledger's last suppression whatever its
    ``at``: a report as of October showed November's do-not-mail list."""
    when = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    early = reports.suppressions(sample, at=when)
    times = [t for t, _, _, _ in sample.suppression_spans()]
    assert 0 < int(early["total"].iloc[-1]) == sum(t <= when for t in times) < len(times)
    assert early["date"].max() <= pd.Timestamp("2026-10-20")
    assert int(reports.suppressions(sample)["total"].iloc[-1]) == len(times)


def test_no_bounces_by_reason_in_json_is_an_empty_list_on_one_line(run):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    res = run("report", "--by-reason", "--json")
    assert res.exit_code == 0, res.output
    assert res.output == "[]\n" and json.loads(res.output) == []


PACED_BY_PROVIDER = """
name = "unpaced"
ceiling = 3000
growth_factor = 100

[[stage]]
name = "start"
days = 3
daily = 2000
interval = "0s"

[[stage]]
name = "stable"
days = 0
daily = 3000
interval = "0s"

[window]
hours = ["09:00", "09:30"]

[health]
window_days = 7
min_sample = 20
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10
"""


def test_the_report_paces_a_window_by_the_providers_per_minute_limit_as_quota_does(
    run, tmp_path, ledger_path
):
    """A Microsoft 365 mailbox (30 a minute: a send every 2 s) under a policy without a gap
    of its own and a 30-minute window: the window fits 900 sends, so a day that sent 500 sent
    more than half of what it could and counts. 'warmup quota' said so (day 4, stage stable);
    the report's walk left the provider's gap out, judged the window unpaced (2,000 could go)
    and the days short: day 1 on the same ledger."""
    policy = tmp_path / "unpaced.toml"
    policy.write_text(PACED_BY_PROVIDER)
    box = "ops@corp.example"
    res = run(
        "mailbox", "add", box, "--provider", "m365", "--timezone", SH, "--policy", str(policy)
    )
    assert res.exit_code == 0, res.output
    first = dt.date(2026, 11, 9)
    lines = ["mailbox,recipient,sent_at"]
    for k in range(3):
        start = at(first + dt.timedelta(days=k), 9)
        lines += [f"{box},r{k}-{i}@example.com,{(start + dt.timedelta(seconds=2 * i)).isoformat()}" for i in range(500)]  # fmt: skip
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    assert run("import", str(log)).exit_code == 0
    now = at(first + dt.timedelta(days=3), 10)
    res = run("quota", box, "--json", "--at", now.isoformat())
    assert res.exit_code == 0, res.output
    asked = json.loads(res.output)[0]
    assert (asked["day"], asked["stage"]) == (4, "stable"), asked
    ledger = open_ledger(str(ledger_path))
    try:
        for cache in (False, True, True):
            got = reports.daily(ledger, [box], at=now, cache=cache)
            assert int(got["warmup_day"].iloc[-1]) == 4, got.tail(2)
    finally:
        ledger.close()


def test_bounces_list_cut_by_its_limit_says_so_and_how_to_see_all(sample, run):
    """The default --limit 1000 showed the newest 1,000 of 1,023 bounces with nothing saying
    there were more: a cut list on stderr, the way 'suppress list' says it, none when whole."""
    total = len(json.loads(run("bounces", "list", "--json", "--limit", "0").stdout))
    assert total > 5
    cut = run("bounces", "list", "--limit", "5")
    assert cut.exit_code == 0
    assert len(cut.stdout.splitlines()) == 1 + 5
    assert cut.stderr == (
        "Showing the newest 5; there are more: --limit 0 shows all, "
        "--since, --kind or ADDRESS narrows them.\n"
    )
    as_json = run("bounces", "list", "--limit", "5", "--json")
    assert len(json.loads(as_json.stdout)) == 5 and "there are more" in as_json.stderr
    for whole in (run("bounces", "list", "--limit", str(total)), run("bounces", "list")):
        assert whole.exit_code == 0 and whole.stderr == ""
        assert len(whole.stdout.splitlines()) == 1 + total


def test_report_json_rates_are_exact_and_laid_out_as_every_other_json(sample, run):
    """``--format`` promises exact rates in csv and json; pandas' to_json rounded them to 10
    digits (0.0049321825 where CSV said 0.004932182490752158) and wrote ``"key":value`` where
    every other --json writes ``"key": value``."""
    frame = reports.daily(sample, at=api.parse_instant(AT))
    res = run("report", "--json", "--at", AT)
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert len(rows) == len(frame)
    for row, day in zip(rows, frame.itertuples(), strict=True):
        for column in ("bounce_rate", "complaint_rate", "day_bounce_rate"):
            value = getattr(day, column)
            assert row[column] == (None if value != value else value), (column, row)
    rated = [r for r in rows if r["bounce_rate"] not in (None, 0.0)]
    assert any(len(repr(r["bounce_rate"])) > 12 for r in rated)  # not cut to 10 digits
    assert res.stdout.startswith('[\n  {\n    "mailbox": "outreach@corp.example",\n')
    assert res.stdout.endswith("}\n]\n")
    by_reason = run("report", "--by-reason", "--json", "--at", AT).stdout
    assert '"counted": true' in by_reason and '"bounces": ' in by_reason


def test_bounces_by_domain_rate_the_periods_sends_never_over_100_percent(ledger_path):
    """A bounce arriving in the period for a send made before it was counted against the
    period's sends: one send to a domain and two bounces read 200% in the notebook's table."""
    ledger = open_ledger()
    box = api.add_mailbox(ledger, "d@corp.example", "exmail", timezone=SH)
    early, late = at(dt.date(2026, 11, 20)), at(dt.date(2026, 11, 28))
    api.record_send(ledger, box.address, ["x@a.example"], early)
    api.record_send(ledger, box.address, ["y@a.example", "z@b.example"], late)
    for rcpt, kind in (("x@a.example", "hard"), ("y@a.example", "soft")):
        api.record_bounce(ledger, box.address, rcpt, kind, None, late + dt.timedelta(hours=1))
    when = api.parse_instant(AT)
    cols = ["domain", "sends", "hard", "soft", "bounce_rate"]
    dom = reports.bounces_by_domain(ledger, days=3, at=when)[cols].values.tolist()
    assert dom == [["a.example", 1, 0, 1, 1.0], ["b.example", 1, 0, 0, 0.0]]
    whole = reports.bounces_by_domain(ledger, at=when)[cols].values.tolist()
    assert whole == [["a.example", 2, 1, 1, 1.0], ["b.example", 1, 0, 0, 0.0]]
    ledger.close()


def _big_daily(n: int) -> pd.DataFrame:
    """A frame shaped as :func:`reports.daily`'s, ``n`` rows, with gaps, text to escape in CSV
    and text JSON keeps as it is."""
    import numpy as np

    frame = pd.DataFrame({c: np.arange(n) % 7 for c in reports.DAILY_COLUMNS})
    frame["mailbox"] = [f"box{i % 100}@corp.example" for i in range(n)]
    frame.loc[1, "mailbox"] = "=cmd|x@corp.example"
    frame["date"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n) % 365, unit="D")
    frame["stage"] = ["第一周" if i % 2 else "week 1" for i in range(n)]
    frame["health"] = "ok"
    frame["status"] = "ok"
    frame["bounce_rate"] = np.where(np.arange(n) % 3 == 0, np.nan, 1 / 3)
    return frame


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("n", [0, 1, 7, 10])
def test_report_text_in_pieces_is_the_text_whole(fmt: str, n: int):
    """--json and --format csv are written a few thousand rows at a time; the text is the same,
    byte for byte, however the rows fall into pieces (one, several, the last one short)."""
    frame = _big_daily(max(n, 2)).iloc[:n]
    whole = "".join(reports.iter_text(frame, fmt, rows=max(n, 1)))
    for rows in (1, 3, 5):
        assert "".join(reports.iter_text(frame, fmt, rows=rows)) == whole
    if fmt == "json":
        assert json.loads(whole) == json.loads(reports.to_text(frame, fmt))
        assert whole == ("[]\n" if n == 0 else whole) and whole.endswith("\n")
        if n > 1:
            assert whole.startswith('[\n  {\n    "mailbox": "box0@corp.example",')
            assert "第一周" in whole and '"=cmd|x@corp.example"' in whole
    else:
        lines = whole.splitlines()
        assert lines[0] == ",".join(reports.DAILY_COLUMNS) and len(lines) == n + 1
        if n > 1:
            assert lines[2].startswith("'=cmd|x@corp.example,")


def test_report_json_of_many_rows_takes_memory_of_a_piece_not_of_the_whole():
    """A year of 1,000 mailboxes as --json peaked at 1.7 GB (a dict per row, then the whole
    text at once): ten times the frame. Written a piece at a time, it takes about one piece's."""
    import tracemalloc

    frame = _big_daily(80_000)
    size = int(frame.memory_usage(deep=True).sum())
    tracemalloc.start()
    try:
        written = 0
        for piece in reports.iter_text(frame, "json"):
            written += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written > size  # the text is larger than the frame...
    assert peak < size  # ...and never held whole


@pytest.mark.parametrize("plant", [None, "file"])
def test_demo_without_a_plot_makes_no_folder_for_one(run, tmp_path, monkeypatch, plant):
    """--no-plot made $TMPDIR/warmup-UID all the same, and a fresh mkdtemp folder at every
    run when that name was taken, left behind empty: no plot, no folder."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    own = scratch / f"warmup-{os.getuid()}"
    if plant == "file":
        own.write_text("someone else's\n")
    for _ in range(2):
        res = run("demo", "--days", "3", "--no-plot")
        assert res.exit_code == 0 and "plotted to" not in res.output, res.output
    assert sorted(p.name for p in scratch.iterdir()) == ([own.name] if plant else [])


def test_demo_without_owners_and_modes_plots_to_one_folder_not_a_new_one_each_run(
    tmp_path, monkeypatch
):
    """Where the platform has no uid (Windows: a folder's mode bits say nothing of who may
    write it; its temporary directory is the user's own) every demo left a new mkdtemp folder,
    the one it made counted as anyone's."""
    import tempfile

    from warmup.cli import demo

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delattr(os, "getuid")
    first = demo._own_temp()
    first.chmod(0o777)  # as Windows reports a folder's mode
    assert demo._own_temp() == first == tmp_path / "warmup"
    assert [p.name for p in tmp_path.iterdir()] == ["warmup"]
