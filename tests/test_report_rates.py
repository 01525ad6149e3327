"""Report bounce rates are rates of the sends they answer: never above 100%, whenever the
bounces arrive."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.gatekit import cli
from warmup import api, reports
from warmup.ledger import open_ledger
from warmup.ledger.values import CLOCK_SKEW
from warmup.reports import days as report_days

BOX = "a@corp.example"
SUNDAY = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
MONDAY = SUNDAY + dt.timedelta(days=1)
AT = MONDAY + dt.timedelta(hours=8)
ONE_MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def late_bounces(ledger_path: Path) -> None:
    """10 sends on a Sunday, all ten bounced hard on the Monday (the next week), on which one
    more was sent."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
    rcpts = [f"r{i}@example.com" for i in range(10)]
    api.record_send(ledger, BOX, rcpts, SUNDAY)
    for r in rcpts:
        recorded = api.record_bounce(ledger, BOX, r, "hard", "5.1.1", MONDAY)
        assert recorded.counted == 1
    api.record_send(ledger, BOX, ["fine@example.com"], MONDAY + dt.timedelta(hours=1))
    ledger.close()


def test_a_week_whose_bounces_arrive_the_week_after_is_not_rated_over_100_percent(
    ledger_path: Path, late_bounces: None
) -> None:
    """The weekly rate divided the week's arrived bounces by the week's sends: Sunday's 10
    bounces landing on Monday made Monday's week 1000% (10 of 1) and Sunday's 0%; a day's rate
    the same. Rates now count bounces on their send's day; ``bounced`` still says what arrived
    that day."""
    ledger = open_ledger(str(ledger_path))
    frame = reports.daily(ledger, at=AT)
    ledger.close()
    days = {
        f"{r.date:%Y-%m-%d}": (r.sent, r.bounced, r.sends_bounced, r.day_bounce_rate)
        for r in frame.itertuples()
    }
    assert days == {"2026-11-22": (10, 0, 10, 1.0), "2026-11-23": (1, 10, 0, 0.0)}
    weekly = reports.weekly(frame)
    got = {
        str(r.week): (r.sent, r.hard, r.sends_bounced, r.bounce_rate) for r in weekly.itertuples()
    }
    assert got == {"2026-11-22": (10, 0, 10, 1.0), "2026-11-29": (1, 10, 0, 0.0)}


def test_report_json_and_plot_rate_a_day_by_its_sends(
    ledger_path: Path, late_bounces: None, tmp_path: Path
) -> None:
    """'warmup report --json' gave Monday day_bounce_rate 10.0; the plot clipped it to 100%."""
    res = cli("report", "--json", "--at", AT.isoformat())
    assert res.returncode == 0, res.stderr
    rows = {r["date"][:10]: r for r in json.loads(res.stdout)}
    assert {
        d: (r["bounced"], r["sends_bounced"], r["day_bounce_rate"]) for d, r in rows.items()
    } == {
        "2026-11-22": (0, 10, 1.0),
        "2026-11-23": (10, 0, 0.0),
    }
    from warmup import plots

    ledger = open_ledger(str(ledger_path))
    fig = plots.figure(reports.daily(ledger, at=AT))
    ledger.close()
    rate = next(
        ln for ax in fig.get_axes() for ln in ax.get_lines() if ln.get_gid() == "day_bounce_rate"
    )
    assert list(rate.get_ydata()) == [100.0, 0.0]


def test_bounces_by_send_day_on_every_backend_and_mailbox(ledger_url: str) -> None:
    """The report's read of bounces by their send's day (arrays, the days as ordinals) on both
    backends: several mailboxes, only counted hard/soft/block bounces up to the report's
    instant, each on its own mailbox's send day; a named mailbox's report has only its own."""
    ledger = open_ledger(ledger_url)
    try:
        other = "b@corp.example"
        for box in (BOX, other):
            api.add_mailbox(ledger, box, "exmail", timezone="Etc/UTC")
        api.record_send(ledger, BOX, ["x@example.com", "y@example.com"], SUNDAY)
        api.record_send(ledger, other, ["z@example.com", "w@example.com"], MONDAY)
        api.record_bounce(ledger, BOX, "x@example.com", "hard", "5.1.1", MONDAY)
        api.record_bounce(ledger, BOX, "y@example.com", "complaint", at=MONDAY)  # no bounce
        api.record_bounce(ledger, other, "z@example.com", "soft", "4.2.2", MONDAY)
        api.record_bounce(ledger, other, "w@example.com", "block", "5.7.1", AT)  # after the cut
        ids = {b.address: b.id for b in ledger.mailboxes()}
        # before AT by more than the clock skew a row made by the cut may be stamped ahead
        cut = AT - CLOCK_SKEW - ONE_MINUTE
        boxes, days, counts = ledger.bounced_by_send_day(list(ids.values()), cut)
        assert [a.dtype.name for a in (boxes, days, counts)] == ["int64"] * 3
        assert sorted(zip(boxes.tolist(), days.tolist(), counts.tolist(), strict=True)) == sorted(
            [(ids[BOX], SUNDAY.date().toordinal(), 1), (ids[other], MONDAY.date().toordinal(), 1)]
        )
        frame = reports.daily(ledger, at=AT)
        got = {
            (r.mailbox, f"{r.date:%Y-%m-%d}"): (r.sent, r.sends_bounced, r.day_bounce_rate)
            for r in frame.itertuples()
        }
        assert got == {
            (BOX, "2026-11-22"): (2, 1, 0.5),
            (BOX, "2026-11-23"): (0, 0, pytest.approx(float("nan"), nan_ok=True)),
            (other, "2026-11-23"): (2, 2, 1.0),
        }
        mine = reports.daily(ledger, [other], at=AT)
        assert mine["sends_bounced"].tolist() == [2]
    finally:
        ledger.close()


def test_bounces_by_send_day_of_a_mailbox_with_a_large_id(ledger_url: str) -> None:
    """The read packs a mailbox's id and a send day into one integer: a mailbox numbered in
    the millions (PostgreSQL's 4-byte integer would overflow) gets its own bounces, each send
    day's counted together, and a mailbox numbered next to it none of them."""
    import sqlalchemy as sa

    ledger = open_ledger(ledger_url)
    try:
        big, near = "big@corp.example", "near@corp.example"
        for box, number in ((big, 3_000_000), (near, 3_000_001)):
            api.add_mailbox(ledger, box, "exmail", timezone="Etc/UTC")
            with ledger.write() as conn:
                conn.execute(
                    sa.text("UPDATE mailbox SET id = :n WHERE address = :a"),
                    {"n": number, "a": box},
                )
        rcpts = [f"r{i}@example.com" for i in range(3)]
        api.record_send(ledger, big, rcpts, SUNDAY)
        api.record_send(ledger, big, ["m@example.com"], MONDAY)
        api.record_send(ledger, near, ["n@example.com"], MONDAY)
        for r in rcpts:
            api.record_bounce(ledger, big, r, "hard", "5.1.1", MONDAY)
        api.record_bounce(ledger, big, "m@example.com", "soft", "4.2.2", MONDAY)
        boxes, days, counts = ledger.bounced_by_send_day([3_000_000, 3_000_001], AT)
        assert sorted(zip(boxes.tolist(), days.tolist(), counts.tolist(), strict=True)) == [
            (3_000_000, SUNDAY.date().toordinal(), 3),
            (3_000_000, MONDAY.date().toordinal(), 1),
        ]
    finally:
        ledger.close()


def test_a_report_leaves_the_cycle_collector_as_it_found_it(ledger_path: Path) -> None:
    """The frame is built with the cycle collector held off (api.collector_paused: a cold
    year's report of 1,000 mailboxes started it ~250 times, each going through every object of
    the walks for no cycle); after it, and after a report that failed, the collector runs
    again, and one held off by the caller stays off."""
    import gc
    import sys

    from warmup.ledger import MailboxNotFound

    ledger = open_ledger(str(ledger_path))
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        api.record_send(ledger, BOX, ["x@example.com"], SUNDAY)
        seen = []

        def cb(phase: str, info: object) -> None:
            """A collection started inside the report's work (not the one daily() may start
            as it lets the collector run again on its way out)."""
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename == report_days.__file__:
                    if frame.f_code.co_name != "daily":
                        seen.append(frame.f_code.co_name)
                    return
                frame = frame.f_back

        gc.callbacks.append(cb)
        try:
            gc.collect()
            seen.clear()
            assert len(reports.daily(ledger, at=AT)) == 2
            assert seen == [] and gc.isenabled()
            with pytest.raises(MailboxNotFound):
                reports.daily(ledger, ["nobody@corp.example"], at=AT)
            assert gc.isenabled()
            gc.disable()
            try:
                reports.daily(ledger, at=AT)
                assert not gc.isenabled()
            finally:
                gc.enable()
        finally:
            gc.callbacks.remove(cb)
    finally:
        ledger.close()


def test_a_column_of_integers_is_read_whole_or_not_at_all(ledger_url: str) -> None:
    """The backends' read of a column of integers as one array (SQLite: one ``group_concat``
    text) gives every value in the statement's order, and a NULL among them is an error,
    never a value left out (the text would skip it)."""
    import sqlalchemy as sa

    ledger = open_ledger(ledger_url)
    try:

        def values(*xs: int | None) -> sa.Select[tuple[int]]:
            rows = sa.union_all(*(sa.select(sa.literal(x, sa.BigInteger).label("x")) for x in xs))
            return sa.select(rows.subquery().c.x)

        with ledger.read() as conn:
            assert ledger._int_array(conn, values(3, 2**40 + 1, -7)).tolist() == [3, 2**40 + 1, -7]
            assert ledger._int_array(conn, values(5).where(sa.false())).tolist() == []
            with pytest.raises(TypeError):
                ledger._int_array(conn, values(1, None, 3))
    finally:
        ledger.close()
