"""Calendars and sending windows (issue #12): public holidays have quota 0 and are not idle,
windows with several ranges a day and on the calendar's working days only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SH, at
from warmup.errors import ConfigError
from warmup.policy import DayCounts, History, evaluate, load_policy, project, walk_timeline
from warmup.policy.calendar import fits
from warmup.policy.spec import parse_policy

BOX = "a@corp.example"
DEFAULT_TOML = (Path(__file__).parents[1] / "warmup/policy/presets/default.toml").read_text()


def policy(extra: str, idle: str = "") -> dict:
    """The default preset with ``extra`` tables appended (and its [idle] replaced)."""
    text = DEFAULT_TOML
    if idle:
        text = text.split("[idle]")[0] + f"[idle]\n{idle}\n"
    return tomllib.loads(text + "\n" + extra)


CN = '[calendar]\ncountry = "CN"\n'


def quota(run, *args: str, box: str = BOX) -> dict:
    res = run("quota", box, "--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)[0]


def write_sends(path: Path, days: list[tuple[dt.date, int]], box: str = BOX) -> Path:
    lines = ["mailbox,recipient,sent_at,message_id"]
    for day, n in days:
        for i in range(n):
            ts = at(day, 9, i).isoformat()
            lines.append(f"{box},r{day:%m%d}-{i}@example.com,{ts},<{box}-{day}-{i}@x>")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_national_day_has_quota_0_and_the_holiday_week_is_not_idle(run, tmp_path):
    # Idle 5 days starts warm-up over (no step-back: 0 turns it off, and a step-back after 14
    # idle days would come after the restart); the National Day break is 7 days (2026-10-01..07).
    idle = "[idle]\nstep_back_after_days = 0\nrestart_after_days = 5\n\n"
    text = DEFAULT_TOML.split("[idle]")[0] + idle + CN
    (tmp_path / "cn.toml").write_text(text)
    assert (
        run(
            "mailbox", "add", BOX, "--provider", "exmail", "--policy", str(tmp_path / "cn.toml")
        ).exit_code
        == 0
    )
    sends = [(dt.date(2026, 9, d), 50) for d in (28, 29, 30)]
    assert run("import", str(write_sends(tmp_path / "s.csv", sends))).exit_code == 0

    q = quota(run, "--at", "2026-10-01T10:00:00+08:00")
    assert (q["quota"], q["remaining"], q["status"]) == (0, 0, "closed")
    assert "closed: public holiday in CN (National Day): quota 0" in " ".join(q["reasons"])
    # Sunday 4 October is no public holiday, only part of the break: weekends are the user's call
    assert q["next_send_at"] == "2026-10-03T16:00:00+00:00"
    assert run("quota", BOX, "--check", "--at", "2026-10-01T10:00:00+08:00").exit_code == 75

    after = quota(run, "--at", "2026-10-08T10:00:00+08:00")
    assert (after["day"], after["quota"], after["status"]) == (4, 50, "ok")
    assert any(
        "last sent on 2026-09-30: idle 0 days; the 7 days off since" in r for r in after["reasons"]
    )
    # Without the calendar the same week is 7 idle days: warm-up starts over (another mailbox:
    # one moved to it now would have been on the calendar's policy that week)
    (tmp_path / "plain.toml").write_text(text.replace(CN, ""))
    other = "b@corp.example"
    plain_policy = str(tmp_path / "plain.toml")
    res = run("mailbox", "add", other, "--provider", "exmail", "--policy", plain_policy)
    assert res.exit_code == 0, res.output
    assert run("import", str(write_sends(tmp_path / "b.csv", sends, other))).exit_code == 0
    plain = quota(run, "--at", "2026-10-08T10:00:00+08:00", box=other)
    assert plain["day"] == 1 and any("idle 7 days" in r for r in plain["reasons"])


def hist(days: tuple[DayCounts, ...] = ()) -> History:
    return History(mailbox=BOX, timezone=SH, days=days)


def test_working_days_open_on_make_up_saturdays_and_not_on_holidays():
    spec = parse_policy(policy(CN + '[window]\nhours = ["09:00", "18:00"]\nworking_days = true\n'))
    saturday_at_work = evaluate(spec, hist(), at(dt.date(2026, 10, 10), 10))  # 调休
    assert (saturday_at_work.status, saturday_at_work.quota) == ("ok", 50)
    sunday = evaluate(spec, hist(), at(dt.date(2026, 10, 11), 10))
    assert (sunday.status, sunday.quota) == ("closed", 0)
    assert "not a working day in CN (Sunday)" in " ".join(sunday.reasons)
    assert sunday.next_send_at == at(dt.date(2026, 10, 12), 9)
    holiday = evaluate(spec, hist(), at(dt.date(2026, 10, 5), 10))  # a Monday off
    assert holiday.status == "closed" and "public holiday in CN" in " ".join(holiday.reasons)


def test_two_ranges_a_day_pace_across_the_lunch_break():
    spec = parse_policy(policy('[window]\nhours = [["09:00", "12:00"], ["14:00", "18:00"]]\n'))
    monday = dt.date(2026, 11, 16)
    assert evaluate(spec, hist(), at(monday, 11, 59)).status == "ok"
    lunch = evaluate(spec, hist(), at(monday, 12, 30))
    assert (lunch.status, lunch.next_send_at) == ("paced", at(monday, 14))
    evening = evaluate(spec, hist(), at(monday, 18, 0))
    assert (evening.status, evening.next_send_at) == ("paced", at(monday + dt.timedelta(1), 9))


def test_skip_holidays_false_sends_on_holidays():
    spec = parse_policy(policy(CN + "skip_holidays = false\n"))
    a = evaluate(spec, hist(), at(dt.date(2026, 10, 1), 10))
    assert (a.status, a.quota) == ("ok", 50)


@pytest.mark.parametrize(
    ("name", "country"),
    [("exmail", "CN"), ("netease", "CN"), ("aliyun", "CN"), ("gmail", None), ("default", None)],
)
def test_chinese_presets_skip_cn_holidays_by_default(name, country):
    spec = load_policy(name)
    assert spec.calendar.country == country
    assert spec.window.weekdays == tuple(range(7))  # weekends stay the user's choice
    a = evaluate(spec, hist(), at(dt.date(2026, 10, 1), 10))
    assert a.status == ("closed" if country else "ok")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[calendar]\ncountry = "XX"\n', "calendar.country: 'XX' is not a country the holidays"),
        ("[calendar]\nskip_holidays = true\n", "calendar.country: missing"),
        ('[calendar]\ncountry = "CN"\nskip_holidays = "yes"\n', "calendar.skip_holidays"),
        ("[window]\nworking_days = true\n", "window.working_days: needs a calendar"),
        (
            '[window]\nhours = [["09:00", "12:00"], ["11:00", "18:00"]]\n',
            "window.hours[2]: ranges must be in order and not overlap",
        ),
        ('[window]\nhours = [["12:00", "09:00"]]\n', "the end must be after the start"),
        ('[window]\nhours = "9-5"\n', "window.hours: expected ['08:00', '20:00'] or"),
    ],
)
def test_bad_calendars_and_windows_are_refused_naming_the_key(extra, message):
    with pytest.raises(ConfigError) as err:
        parse_policy(policy(extra), "mine")
    assert message in str(err.value)


def test_a_send_on_a_holiday_is_refused_with_the_holiday_as_the_reason(run, ledger_path):
    """The gate's refusal names the closed day and when sending opens, not a used-up quota
    ("today's quota is used (0 of 0 sent)" was what it said)."""
    from warmup import Gate
    from warmup.gate import NotAllowed

    assert run("mailbox", "add", BOX, "--provider", "exmail", "--policy", "exmail").exit_code == 0
    with Gate(BOX) as gate, pytest.raises(NotAllowed) as exc:
        gate.reserve(["lead@example.com"], now=at(dt.date(2026, 10, 1), 10))
    assert exc.value.exit_code == 75 and exc.value.allowance.status == "closed"
    text = str(exc.value)
    assert text.startswith(f"{BOX}: closed: public holiday in CN (National Day)"), text
    assert "next allowed at 2026-10-04 00:00:00 CST" in text and "quota is used" not in text


def test_a_gap_running_past_the_windows_end_waits_for_the_next_opening():
    # The last send at 11:58 with a 5-10 min gap: the gap ends after 12:00, when the window is
    # shut, so the next send is at 14:00 (after lunch), and at 18:00 the next morning's 09:00.
    spec = parse_policy(policy('[window]\nhours = [["09:00", "12:00"], ["14:00", "18:00"]]\n'))
    monday = dt.date(2026, 11, 16)
    for end, opens in ((12, at(monday, 14)), (18, at(monday + dt.timedelta(1), 9))):
        last = at(monday, end - 1, 58)
        h = dataclasses.replace(hist((DayCounts(monday, 10),)), last_send_at=last)
        a = evaluate(spec, h, at(monday, end - 1, 59))
        assert (a.status, a.next_send_at) == ("paced", opens)
        assert f"it opens {opens.in_timezone(SH):%Y-%m-%d %H:%M} CST" in a.reasons[-1]
        # what it promised holds: the mailbox may send then
        assert evaluate(spec, h, a.next_send_at).status == "ok"


def test_a_gap_running_into_a_holiday_waits_for_the_day_after_the_break():
    spec = parse_policy(policy(CN))
    eve = dt.date(2026, 9, 30)
    last = at(eve, 23, 58)
    h = dataclasses.replace(hist((DayCounts(eve, 10),)), last_send_at=last)
    a = evaluate(spec, h, at(eve, 23, 59))
    assert a.status == "paced"
    assert a.next_send_at == at(dt.date(2026, 10, 4), 0)  # 1-3 October are holidays
    assert evaluate(spec, h, a.next_send_at).status == "ok"
    assert evaluate(spec, h, at(dt.date(2026, 10, 1), 0, 10)).status == "closed"


NY = "America/New_York"


def test_a_window_edge_the_clocks_jump_over_is_passed_at_the_jump():
    # 8 March 2026 in New York: 02:00 EST is followed by 03:00 EDT. A window opening at 02:30
    # is open at 03:10 EDT (the wall clock is past 02:30); one closing at 02:30 is shut then.
    # Read with the offset before the jump, 02:30 became 03:30 EDT: half an hour late both ways.
    jump = dt.date(2026, 3, 8)
    ny = History(mailbox=BOX, timezone=NY)
    opens = parse_policy(policy('[window]\nhours = ["02:30", "10:00"]\n'))
    a = evaluate(opens, ny, at(jump, 3, 10, tz=NY))
    assert a.status == "ok", a.reasons
    assert evaluate(opens, ny, at(jump, 1, 59, tz=NY)).next_send_at == at(jump, 3, 0, tz=NY)
    shuts = parse_policy(policy('[window]\nhours = ["00:00", "02:30"]\n'))
    b = evaluate(shuts, ny, at(jump, 3, 10, tz=NY))
    assert (b.status, b.next_send_at) == ("paced", at(jump + dt.timedelta(1), 0, tz=NY))
    # the day's window is its real length: 00:00 EST to the jump, two hours
    assert fits(shuts.window, jump, ZoneInfo(NY), 600) == 12
    # a day without a jump, and the day the clocks go back (01:30 read the first time)
    assert evaluate(opens, ny, at(dt.date(2026, 3, 9), 2, 29, tz=NY)).status == "paced"
    back = parse_policy(policy('[window]\nhours = ["01:30", "10:00"]\n'))
    first = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    assert evaluate(back, ny, first - dt.timedelta(seconds=1)).next_send_at == first


@pytest.mark.parametrize(
    ("tz", "jump", "hours", "before", "clocks"),
    [
        # New York, 14 March 2027: 02:00 EST is followed by 03:00 EDT.
        (NY, dt.date(2027, 3, 14), ["02:00", "03:00"], (1, 0), "02:00 to 03:00"),
        (NY, dt.date(2027, 3, 14), ["02:15", "02:45"], (0, 30), "02:00 to 03:00"),
        # Berlin, 28 March 2027: 02:00 CET is followed by 03:00 CEST.
        ("Europe/Berlin", dt.date(2027, 3, 28), ["02:00", "03:00"], (1, 0), "02:00 to 03:00"),
        # Lord Howe Island, 4 October 2026: 02:00 +1030 is followed by 02:30 +11 (half an hour).
        (
            "Australia/Lord_Howe",
            dt.date(2026, 10, 4),
            ["02:00", "02:30"],
            (1, 45),
            "02:00 to 02:30",
        ),
        # Havana, 14 March 2027: the clocks jump at midnight, 00:00 CST to 01:00 CDT.
        ("America/Havana", dt.date(2027, 3, 14), ["00:00", "01:00"], (0, 0), "00:00 to 01:00"),
    ],
)
def test_a_window_the_clocks_jump_over_whole_is_closed_that_day(tz, jump, hours, before, clocks):
    """Both edges are passed at the jump: the window never opens that day. The day was an open
    one with a quota (``paced`` until the next day, ``ok`` in the plan, idle in the walk): it
    is closed, as a day the window does not open on, in every answer."""
    spec = parse_policy(policy(f'[window]\nhours = ["{hours[0]}", "{hours[1]}"]\n'))
    h = History(mailbox=BOX, timezone=tz)
    h0, m0 = int(hours[0][:2]), int(hours[0][3:])
    next_day = at(jump + dt.timedelta(1), h0, m0, tz=tz)
    for now in (at(jump, *before, tz=tz), at(jump, 12, tz=tz)):
        a = evaluate(spec, h, now)
        assert (a.status, a.quota, a.remaining) == ("closed", 0, 0), a.reasons
        assert a.next_send_at == next_day
        why = next(r for r in a.reasons if r.startswith("closed: "))
        assert why == (
            f"closed: the clocks jump from {clocks} that day, over the whole window "
            f"({hours[0]}-{hours[1]}): quota 0, and the day does not count as idle"
        )
    assert evaluate(spec, h, next_day).status == "ok"  # the promise holds
    assert fits(spec.window, jump, ZoneInfo(tz), 300) == 0
    # the plan from the day before, and the walk past it, say the same of the day
    eve = at(jump - dt.timedelta(1), 12, tz=tz)
    days = {d.date: d for d in project(spec, h, eve, 3)}
    assert (days[jump].status, days[jump].quota, days[jump].planned) == ("closed", 0, 0)
    assert days[jump].notes == (why.split(": quota 0")[0],)
    assert days[jump + dt.timedelta(1)].status == "ok" and days[jump + dt.timedelta(1)].planned
    assert days[jump - dt.timedelta(1)].status == "paced"  # today, its window gone by at noon
    sent = History(mailbox=BOX, timezone=tz, days=(DayCounts(jump - dt.timedelta(1), 4),))
    rows, _ = walk_timeline(spec, sent, next_day, explain=True)
    closed = {r.date: r.closed for r in rows}
    assert closed[jump] and not closed[jump + dt.timedelta(1)]
    # the next day the gap is one day off, not an idle day
    after = evaluate(spec, sent, next_day)
    assert f"last sent on {jump - dt.timedelta(1)}: idle 0 days; the 1 day off since" in " ".join(
        after.reasons
    )


def test_the_days_the_clocks_go_forward_are_found_by_weekly_reads_as_by_daily_ones():
    """:func:`~warmup.policy.calendar.jumps` reads the zone's midnights a week apart: in the zones
    whose clocks changed oddly (Ramadan breaks in Morocco, Egypt and Gaza, Samoa's skipped day,
    Havana's and Santiago's changes at midnight, Lord Howe's half hour, Troll's two hours) it
    finds the days a day-by-day reading finds. (Checked once for every zone of the database,
    2000-2099: the same.)"""
    from warmup.policy.calendar import jumps

    for name in (
        "Africa/Casablanca",
        "Africa/Cairo",
        "Asia/Gaza",
        "Pacific/Apia",
        "America/Havana",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Antarctica/Troll",
        NY,
    ):
        tz = ZoneInfo(name)
        for year in range(2000, 2041):
            day, daily = dt.date(year, 1, 1), set()
            while day.year == year:
                a = dt.datetime.combine(day, dt.time(), tz).utcoffset()
                b = dt.datetime.combine(day + dt.timedelta(1), dt.time(), tz).utcoffset()
                if a is not None and b is not None and b > a:
                    daily.add(day)
                day += dt.timedelta(1)
            assert jumps(tz, year) == daily, (name, year)
    assert dt.date(2011, 12, 30) in jumps(ZoneInfo("Pacific/Apia"), 2011)  # the day Samoa skipped


@pytest.mark.parametrize(
    ("day", "hours", "minutes"),
    [
        # New York's spring-forward day, 14 March 2027: a range the jump cuts keeps the minutes
        # it really has, 01:30 EST to the jump and the jump to 04:00 EDT
        (dt.date(2027, 3, 14), ["01:30", "02:30"], 30),
        (dt.date(2027, 3, 14), ["02:30", "04:00"], 60),
        # its fall-back day, 7 November 2027 (01:00-02:00 read twice): edges are read the first
        # time, so a range inside the repeated hour is open once, not twice; one ending at 02:00
        # (read once, EST) is open while the clock reads 01:00-01:59, both times
        (dt.date(2027, 11, 7), ["01:15", "01:45"], 30),
        (dt.date(2027, 11, 7), ["01:00", "02:00"], 120),
        (dt.date(2027, 11, 8), ["01:00", "02:00"], 60),
    ],
)
def test_a_window_the_clocks_change_in_is_as_long_as_its_real_minutes(day, hours, minutes):
    """What the window fits on a day the clocks change (the plan's and the warm-up's count of
    what the day can deliver) is what the gate lets through: a sender that sends whenever
    ``evaluate`` says ``ok`` and otherwise waits for its ``next_send_at`` gets exactly that
    many sends, each a real 10 minutes after the last."""
    text = DEFAULT_TOML.replace('interval = ["5m", "10m"]', 'interval = ["10m", "10m"]', 1)
    spec = parse_policy(tomllib.loads(f'{text}\n[window]\nhours = ["{hours[0]}", "{hours[1]}"]\n'))
    tz = ZoneInfo(NY)
    assert fits(spec.window, day, tz, 600) == minutes // 10
    h, t, sends = History(mailbox=BOX, timezone=NY), at(day, 0, tz=NY), []
    while t.astimezone(tz).date() == day and len(sends) < 50:
        a = evaluate(spec, h, t)
        if a.status == "ok":
            sends.append(t)
            h = dataclasses.replace(h, days=(DayCounts(day, len(sends)),), last_send_at=t)
            continue
        assert a.status == "paced" and a.next_send_at is not None, a.reasons
        t = a.next_send_at
    assert len(sends) == minutes // 10, [s.astimezone(tz).isoformat() for s in sends]
    assert all(b - a == dt.timedelta(minutes=10) for a, b in zip(sends, sends[1:], strict=False))


@pytest.mark.parametrize("tz", [SH, NY, "Pacific/Chatham"])
def test_a_closed_day_names_the_next_days_opening_at_its_midnight(tz):
    # Weekdays only, all day: on Sunday the window next opens at Monday's local midnight. That
    # instant is inside Monday's window, so next_opening said "open" (None): quota showed no
    # next send and no reason, while Saturday's answer named Monday 00:00.
    spec = parse_policy(policy('[window]\nweekdays = ["mon", "tue", "wed", "thu", "fri"]\n'))
    h = History(mailbox=BOX, timezone=tz)
    monday = at(dt.date(2026, 11, 16), 0, tz=tz)
    for day in (dt.date(2026, 11, 14), dt.date(2026, 11, 15)):
        a = evaluate(spec, h, at(day, 12, tz=tz))
        assert (a.status, a.next_send_at) == ("closed", monday), (day, a.reasons)
        assert any(r.startswith("next sending day opens 2026-11-16 00:00") for r in a.reasons)
    assert evaluate(spec, h, monday).status == "ok"


def test_a_gap_that_outlasts_the_lunch_break_waits_for_the_gap():
    # A 60-90 min interval: the last send at 11:50, the window shut 12:00-13:00. At 12:30 the
    # next send is when the gap is over (after 13:00), not at 13:00 when the window reopens.
    text = DEFAULT_TOML.replace('interval = ["5m", "10m"]', 'interval = ["60m", "90m"]', 1)
    data = tomllib.loads(text + '\n[window]\nhours = [["09:00", "12:00"], ["13:00", "18:00"]]\n')
    spec = parse_policy(data)
    monday = dt.date(2026, 11, 16)
    last = at(monday, 11, 50)
    h = dataclasses.replace(hist((DayCounts(monday, 3),)), last_send_at=last)
    a = evaluate(spec, h, at(monday, 12, 30))
    assert a.status == "paced"
    assert at(monday, 12, 50) <= a.next_send_at <= at(monday, 13, 20)
    assert a.next_send_at > at(monday, 13)  # this mailbox and last send draw a gap over 70 min
    assert evaluate(spec, h, a.next_send_at).status == "ok"
    assert evaluate(spec, h, at(monday, 13)).status == "paced"
    assert "outside the sending window: opens 2026-11-16 13:00 CST" in a.reasons


def test_a_report_over_years_of_idle_days_asks_each_day_once():
    """A mailbox idle for years (or a report --at years ahead): each idle day's verdict counted
    the days off since the last send one by one, so the walk asked the calendar gap**2 / 2
    times (a minute for 6 years, hours for 70)."""
    from warmup.policy.calendar import year_table
    from warmup.policy.engine import timeline_rows

    spec = load_policy("exmail")
    last = dt.date(2026, 3, 2)
    days = (DayCounts(last, 50, 0, 0, 0, 0),)
    now = at(dt.date(2030, 3, 2), 10)
    before = year_table.cache_info()
    rows, _ = timeline_rows(spec, hist(days), now)
    asked = sum(year_table.cache_info()[:2]) - sum(before[:2])
    walked = (now.date() - last).days
    assert len(rows) == walked + 1
    assert asked < 100 * walked, asked


def test_a_year_past_the_announced_holidays_is_said_to_be_an_estimate(run):
    """China announces each year's holidays and make-up working days (调休) in November; for a
    later year the holidays library guesses from fixed rules (no make-up working day at all).
    The plan and the closed days used to show that guess as if it were the schedule."""
    from warmup.policy.calendar import Calendar

    last = Calendar("CN").announced_until()
    assert last is not None and not Calendar("CN").estimated(last)
    assert Calendar("CN").estimated(last + 1) and Calendar("US").announced_until() is None
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    # within the announced year: nothing to say
    res = run("plan", BOX, "--days", "5", "--json", "--at", f"{last}-12-20T09:00")
    assert res.exit_code == 0, res.output
    assert not [n for n in json.loads(res.output)["mailboxes"][0]["notes"] if "estimate" in n]
    res = run("plan", BOX, "--days", "20", "--json", "--at", f"{last}-12-20T09:00")
    data = json.loads(res.output)
    assert data["mailboxes"][0]["notes"] == [
        f"calendar: CN's {last + 1} holidays are the holidays library's estimate (its official "
        f"schedule, with make-up working days, is known up to {last}): holidays and working "
        f"days may differ; upgrade the holidays package once {last + 1}'s is announced"
    ]
    new_year = next(d for d in data["days"] if d["date"] == f"{last + 1}-01-01")
    assert new_year["notes"] == [
        f"closed: public holiday in CN (New Year's Day) (an estimate: CN's {last + 1} "
        f"schedule is not in the holidays library)"
    ]
    text = run("plan", BOX, "--days", "20", "--at", f"{last}-12-20T09:00").output
    assert f"{BOX}: calendar: CN's {last + 1} holidays are the holidays library's estimate" in text
    # a long plan says it once, with the years
    res = run("plan", BOX, "--days", "800", "--json", "--at", f"{last}-12-20T09:00")
    notes = [n for n in json.loads(res.output)["mailboxes"][0]["notes"] if "estimate" in n]
    assert len(notes) == 1 and f"CN's {last + 1}-{last + 3} holidays are" in notes[0], notes


def test_quota_on_an_open_day_of_a_guessed_year_says_the_calendar_is_a_guess(run):
    """Past the announced schedule, a day the library's guess calls an ordinary day may turn out
    a holiday or a bridge day of a break once the State Council publishes the year (2027's was
    not in the holidays library in December 2026): ``quota`` gave it the full quota and said
    nothing, where a closed day and the plan say it is an estimate. On 1 January a CN mailbox
    went on sending through a year its calendar only guessed."""
    from warmup.policy.calendar import Calendar

    last = Calendar("CN").announced_until()
    assert last is not None
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    note = (
        f"calendar: CN's {last + 1} holidays are the holidays library's estimate (its official "
        f"schedule, with make-up working days, is known up to {last}): holidays and working "
        f"days may differ; upgrade the holidays package once {last + 1}'s is announced"
    )
    guessed = quota(run, "--at", f"{last + 1}-01-12T09:00")
    assert guessed["status"] == "ok" and guessed["quota"] > 0, guessed
    assert guessed["reasons"][-1] == note, guessed["reasons"]
    # a closed day of the guessed year says it once, in its own reason
    new_year = quota(run, "--at", f"{last + 1}-01-01T09:00")
    assert new_year["status"] == "closed"
    assert [r for r in new_year["reasons"] if "estimate" in r] == [
        f"closed: public holiday in CN (New Year's Day) (an estimate: CN's {last + 1} schedule "
        f"is not in the holidays library): quota 0, and the day does not count as idle"
    ]
    # within the announced schedule, and with a calendar that neither skips holidays nor
    # keeps to working days, there is nothing to say
    assert not [r for r in quota(run, "--at", f"{last}-12-21T09:00")["reasons"] if "estimate" in r]
    assert run("mailbox", "set", BOX, "--policy", "default").exit_code == 0
    assert not [
        r for r in quota(run, "--at", f"{last + 1}-01-12T09:00")["reasons"] if "estimate" in r
    ]


def test_sends_on_a_closed_day_are_not_called_too_few():
    """A send recorded on a holiday (made by hand, imported, a host with another calendar) sent
    more than the day's nothing, yet the reasons said "too little sent to count toward warm-up
    on 2026-10-01 (1 of 0 sent)". They now say it was a day that could deliver none, which never
    counts; a day that did have a quota still reads "too little"."""
    spec = parse_policy(policy(CN))
    days = (DayCounts(dt.date(2026, 9, 30), 3), DayCounts(dt.date(2026, 10, 1), 1))
    a = evaluate(spec, hist(days), at(dt.date(2026, 10, 2), 10))
    assert not any("of 0 sent" in r for r in a.reasons), a.reasons
    assert (
        "sent on 2026-10-01 (1), a day that could deliver none (closed, paused or the domain "
        "cap used by the other mailboxes): such a day never counts toward warm-up" in a.reasons
    ), a.reasons
    assert any(
        r.startswith("too little sent to count toward warm-up on 2026-09-30 (3 of 50 sent)")
        for r in a.reasons
    ), a.reasons
