"""Honest plans (issue #12): ``warmup plan`` plans what the gate lets through, and says why."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
from pathlib import Path

from tests.conftest import ADDED, SH, at
from warmup.policy import DayCounts, History, evaluate, project
from warmup.policy.spec import parse_policy

BOX = "a@corp.example"
TODAY = dt.date(2026, 11, 16)  # a Monday
DEFAULT_TOML = (Path(__file__).parents[1] / "warmup/policy/presets/default.toml").read_text()
MORNING = '[window]\nhours = ["09:00", "12:00"]\n'


def test_a_three_hour_window_at_5_to_10_minutes_plans_at_most_36(run, tmp_path):
    (tmp_path / "morning.toml").write_text(DEFAULT_TOML + "\n" + MORNING)
    policy = str(tmp_path / "morning.toml")
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", policy).exit_code
        == 0
    )
    res = run("plan", BOX, "--days", "3", "--json", "--at", at(TODAY, 8).isoformat())
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    first = data["days"][0]
    assert first["quota"] == 50 and first["planned"] <= 36
    assert first["planned"] == 24  # 180 minutes at 7.5 minutes on average
    assert first["notes"] == [
        "the rest of today's window (09:00-12:00) fits about 24 sends at 7.5 min on average "
        "(random 5-10 min) between sends: 24 of the 50 left"
    ]
    assert data["days"][1]["notes"][0].startswith("the window (09:00-12:00) fits about 24 sends")
    text = run("plan", BOX, "--days", "2", "--at", at(TODAY, 8).isoformat()).output
    assert "PLANNED" in text and "fits about 24 sends" in text


def hist() -> History:
    return History(mailbox=BOX, timezone=SH)


def spec_with(extra: str, top: str = ""):
    """The default preset with top-level keys ``top`` and tables ``extra``."""
    return parse_policy(tomllib.loads(top + DEFAULT_TOML + "\n" + extra), "mine")


def gate_day(spec, h: History, day: dt.date) -> int:
    """What the gate lets through on ``day`` to a sender that sends the moment it may."""
    t, sent = at(day, 0), 0
    end = at(day + dt.timedelta(days=1), 0)
    while t < end:
        a = evaluate(spec, h, t)
        if a.status in ("ok", "hold", "step_back") and a.remaining > 0:
            counts = {c.day: c for c in h.days}
            c = counts.get(day, DayCounts(day))
            counts[day] = c._replace(sent=c.sent + 1)
            h = dataclasses.replace(h, days=tuple(counts.values()), last_send_at=t)
            sent += 1
        elif a.status == "paced" and a.next_send_at is not None and a.next_send_at > t:
            t = a.next_send_at
        else:
            break
    return sent


def test_the_plan_is_what_the_gate_lets_through_within_a_few():
    spec = spec_with('[window]\nhours = [["09:00", "12:00"], ["14:00", "16:00"]]\n')
    planned = project(spec, hist(), at(TODAY, 0), 1)[0].planned
    real = gate_day(spec, hist(), TODAY)
    assert planned == 40  # 300 minutes at 7.5
    assert abs(real - planned) <= 4, (real, planned)  # the gaps are random, the plan their mean


def test_the_domain_cap_and_closed_days_lower_the_plan():
    spec = spec_with('[calendar]\ncountry = "CN"\n', top="domain_cap = 30\n")
    plan = project(spec, hist(), at(dt.date(2026, 9, 30), 8), 3)
    assert [(d.date.isoformat(), d.quota, d.planned, d.status) for d in plan] == [
        ("2026-09-30", 50, 30, "ok"),
        ("2026-10-01", 0, 0, "closed"),
        ("2026-10-02", 0, 0, "closed"),
    ]
    assert plan[0].notes == (
        "domain cap 30/day, shared by the domain's mailboxes: at most 30 more today",
    )
    assert plan[1].notes == ("closed: public holiday in CN (National Day)",)


def test_a_day_already_over_its_quota_says_so_where_planned_is_above_quota():
    """Sends recorded past the quota (imported, or before the cap was lowered): today's row
    showed PLANNED 4 against QUOTA 3 with no word on why."""
    over = dataclasses.replace(
        hist(), cap=3, days=(DayCounts(TODAY, sent=4),), last_send_at=at(TODAY, 9)
    )
    [today] = project(spec_with(""), over, at(TODAY, 10), 1)
    assert (today.quota, today.planned) == (3, 4)
    assert today.notes == ("sent 4 of 3 today: nothing more goes out today",)
    exact = dataclasses.replace(over, days=(DayCounts(TODAY, sent=3),))
    assert project(spec_with(""), exact, at(TODAY, 10), 1)[0].notes == (  # nothing over
        "3 recipients sent already today: in PLANNED, not in CUMULATIVE (what goes out from now on)",
    )


def test_plan_notes_say_recipient_domain_caps_may_lower_a_day(run, tmp_path):
    extra = '[recipient_domains]\ndefault = 30\n"qq.com" = 2\n'
    (tmp_path / "rd.toml").write_text(DEFAULT_TOML + "\n" + extra)
    run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(tmp_path / "rd.toml"))
    data = json.loads(run("plan", BOX, "--days", "1", "--json").output)
    (notes,) = [m["notes"] for m in data["mailboxes"]]
    assert any("may lower what a day delivers" in n and "qq.com 2/day" in n for n in notes)


def test_a_mailbox_started_ahead_sends_nothing_until_then_and_its_plan_counts_day_1_once():
    """``mailbox add --started`` a future day (a mailbox planned ahead): it was allowed day 1's
    quota every day before, and the plan showed day 1 twice (today's planned sends, before
    the start, did not count). Before the start the mailbox is closed (quota 0, saying so,
    next send on the start day); the plan starts on that day, with day 1 once."""
    spec = spec_with("")
    start = TODAY + dt.timedelta(days=2)
    h = dataclasses.replace(hist(), started=start)
    a = evaluate(spec, h, at(TODAY, 10))
    assert (a.status, a.quota, a.remaining) == ("closed", 0, 0)
    assert f"not started until {start}" in " ".join(a.reasons)
    assert a.next_send_at == at(start, 0)
    plan = project(spec, h, at(TODAY, 10), 5)
    assert [(d.date, d.day, d.quota, d.planned, d.status) for d in plan] == [
        (TODAY, 1, 0, 0, "closed"),
        (TODAY + dt.timedelta(days=1), 1, 0, 0, "closed"),
        (start, 1, 50, 50, "ok"),
        (start + dt.timedelta(days=1), 2, 50, 50, "ok"),
        (start + dt.timedelta(days=2), 3, 50, 50, "ok"),
    ]
    assert plan[1].notes == (f"closed: not started until {start}",)


def test_todays_row_says_why_it_is_paused_or_closed_as_the_days_after_do():
    """Today's row of a paused or closed mailbox carried no note while every later day said
    'paused: ...' or 'closed: ...': the first row, the one a user reads, did not say why."""
    from warmup.policy import load_policy
    from warmup.policy.walk import MailboxEvent

    exmail = load_policy("exmail")
    national_day = project(exmail, hist(), at(dt.date(2026, 10, 1), 10), 2)
    assert [(d.status, d.notes) for d in national_day] == [
        ("closed", ("closed: public holiday in CN (National Day)",)),
    ] * 2
    paused = dataclasses.replace(
        hist(), events=(MailboxEvent("pause", at(TODAY, 8), reason="list review"),)
    )
    assert [(d.status, d.notes) for d in project(exmail, paused, at(TODAY, 10), 2)] == [
        ("paused", ("paused: list review",)),
    ] * 2
    # a bounce-rate pause (12% over the last week): its reason, today as tomorrow
    days = tuple(DayCounts(TODAY - dt.timedelta(days=k), sent=50, hard=6) for k in range(1, 8))
    health = project(exmail, dataclasses.replace(hist(), days=days), at(TODAY, 10), 2)
    assert [d.status for d in health] == ["paused", "paused"]
    assert health[0].notes == health[1].notes and health[0].notes[0].startswith("paused: ")
    assert "bounce rate" in health[0].notes[0]


def test_plan_table_of_a_mailbox_started_ahead_says_why_today_is_closed(run):
    assert (
        run(
            "mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--started", "2026-11-18"
        ).exit_code
        == 0
    )
    res = run("plan", BOX, "--days", "3", "--at", at(TODAY, 10).isoformat())
    assert res.exit_code == 0, res.output
    rows = res.output.splitlines()[1:]
    assert rows[0].startswith("2026-11-16") and rows[0].endswith(
        "closed: not started until 2026-11-18"
    )
    assert rows[2].startswith("2026-11-18") and " ok " in rows[2]


def test_a_window_that_fits_one_send_says_send_not_sends(run, tmp_path):
    (tmp_path / "short.toml").write_text(DEFAULT_TOML + '\n[window]\nhours = ["09:00", "09:05"]\n')
    policy = str(tmp_path / "short.toml")
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", policy).exit_code
        == 0
    )
    res = run("plan", BOX, "--days", "2", "--json", "--at", at(TODAY, 8).isoformat())
    assert res.exit_code == 0, res.output
    days = json.loads(res.output)["days"]
    assert days[0]["planned"] == 1
    assert days[0]["notes"][0].startswith(
        "the rest of today's window (09:00-09:05) fits about 1 send at"
    )
    assert days[1]["notes"][0].startswith("the window (09:00-09:05) fits about 1 send at")


def test_todays_status_in_the_plan_is_the_one_quota_gives_now():
    """Five sends, all bounced, on a new mailbox: too few to judge (``warmup quota``: ok), but
    the plan judged today with the sends it still planned (5 bounces in 50: 10%) and said
    "step_back" for today at the same instant. The next day, after those sends, it may."""
    spec = spec_with("")
    yesterday = TODAY - dt.timedelta(days=1)
    bounced = (DayCounts(yesterday, sent=5, hard=5),)
    for now in (at(yesterday, 23), at(TODAY, 12)):  # the day of the bounces, the day after
        h = dataclasses.replace(hist(), days=bounced, last_send_at=at(yesterday, 10))
        allowance = evaluate(spec, h, now)
        days = project(spec, h, now, 2)
        assert allowance.status == days[0].status == "ok"
        assert (days[0].quota, days[0].day) == (allowance.quota, allowance.day)
    # once the 50 planned for today have gone: 5 bounces in 55 sends (9.1%) steps back
    assert days[1].status == "step_back"


def test_todays_row_says_paced_or_exhausted_as_quota_does_now():
    """One vocabulary (README): a mailbox that just sent (the next slot minutes away) or sent
    its whole quota was ``paced``/``exhausted`` in ``warmup quota`` but ``ok`` in the plan's
    row for the same instant."""
    spec = spec_with("")
    now = at(TODAY, 10)
    cases = [
        (DayCounts(TODAY, sent=1), "paced"),  # 5-10 minutes between sends
        (DayCounts(TODAY, sent=50), "exhausted"),  # day 1's quota: 50
    ]
    for today, status in cases:
        h = dataclasses.replace(hist(), days=(today,), last_send_at=now - dt.timedelta(minutes=1))
        allowance = evaluate(spec, h, now)
        first, second = project(spec, h, now, 2)
        assert allowance.status == first.status == status
        assert second.status == "ok"  # a day ahead is judged whole: its health


def test_plan_and_quota_say_the_same_word_on_the_command_line(run):
    """The CLI's rows: ``warmup quota --json`` and ``warmup plan --json`` at one instant."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    sent_at = at(TODAY, 9).isoformat()
    assert run("record", "send", BOX, "--to", "x@example.com", "--at", sent_at).exit_code == 0
    when = at(TODAY, 9, 2).isoformat()
    quota = json.loads(run("quota", BOX, "--json", "--at", when).output)
    plan = json.loads(run("plan", BOX, "--days", "1", "--json", "--at", when).output)
    assert quota[0]["status"] == plan["days"][0]["status"] == "paced"


def _followed(spec, h: History, plan) -> list[tuple]:
    """Follow ``plan`` (each day's planned sends into the history) and ask evaluate() each
    morning: ``(date, day, stage, quota)`` per day, as the plan's rows give them."""
    seen = []
    for i, p in enumerate(plan):
        if i:
            a = evaluate(spec, h, at(p.date, 0, 1))
            seen.append((p.date, a.day, a.stage, 0 if a.status == "paused" else a.quota))
        others = tuple(c for c in h.days if c.day != p.date)
        known = [c for c in h.days if c.day == p.date]  # today's bounces stay
        sent = (known[0] if known else DayCounts(p.date))._replace(sent=p.planned)
        h = dataclasses.replace(h, days=(*others, sent))
    return seen


def test_the_plan_after_a_resume_today_is_what_quota_says_each_morning():
    # A health pause (10 of 50 bounced) resumed this morning: the resume steps back a stage.
    # Tomorrow's quota replays today as a past day (the resume applied once the day is over),
    # and the plan used to count today's sends as progress the replay does not: it said day 2
    # where quota then says day 1, and was a day ahead for the rest of the warm-up.
    from warmup.policy import MailboxEvent, load_policy

    spec = load_policy("default")
    d = dt.date(2026, 5, 29)
    h = History(
        mailbox=BOX,
        timezone=SH,
        days=(
            DayCounts(d - dt.timedelta(days=7), 50, hard=10),
            *(DayCounts(d - dt.timedelta(days=k), 150) for k in (3, 2, 1)),
            DayCounts(d, 3),
        ),
        events=(
            MailboxEvent("pause", at(d - dt.timedelta(days=2), 11), None, "list review"),
            MailboxEvent("resume", at(d, 8), None, "fixed"),
        ),
    )
    plan = project(spec, h, at(d, 10), 10)
    assert [(p.date, p.day, p.stage, p.quota) for p in plan[1:]] == _followed(spec, h, plan)
    assert plan[1].day == 1


def test_a_long_pause_in_the_plan_shows_the_stage_quota_will_show():
    # Paused by hand with no resume: the plan's rows stay paused, and their warm-up day and
    # stage are what quota says each morning: idle 14 days steps back a stage, 30 starts over.
    from warmup.policy import MailboxEvent, load_policy

    spec = load_policy("default")
    d = TODAY
    h = History(
        mailbox=BOX,
        timezone=SH,
        days=tuple(DayCounts(d - dt.timedelta(days=k), 100) for k in range(12, 0, -1)),
        events=(MailboxEvent("pause", at(d, 8), None, "holiday season"),),
    )
    plan = project(spec, h, at(d, 10), 40)
    assert {p.status for p in plan} == {"paused"}
    assert [(p.date, p.day, p.stage, p.quota) for p in plan[1:]] == _followed(spec, h, plan)
    assert plan[-1].day == 1 and plan[15].stage == "week 1"


def test_the_plan_counts_today_as_tomorrows_quota_will_despite_bounces_today():
    # Today's 4 bounces in 4 sends put the window including today above 5% (a step back now),
    # but tomorrow's quota judges today on the days before it, as every past day: today counts
    # (and its bounces hold the ramp from tomorrow on, in the plan as in quota).
    from warmup.policy import load_policy

    spec = load_policy("default")
    h = History(
        mailbox=BOX,
        timezone=SH,
        days=(DayCounts(TODAY - dt.timedelta(days=1), 50), DayCounts(TODAY, 4, hard=4)),
    )
    plan = project(spec, h, at(TODAY, 10), 5)
    assert plan[0].status == evaluate(spec, h, at(TODAY, 10)).status == "step_back"
    assert [(p.date, p.day, p.stage, p.quota) for p in plan[1:]] == _followed(spec, h, plan)
    assert plan[1].day == 3


def test_qualify_1_counts_a_day_that_sent_all_the_gate_let_through():
    """``qualify = 1`` with a three-hour window: the window fits 24 sends at the mean gap
    (7.5 min), but the gate's random 5-10 min gaps let only 23 through on some days. Those
    days were "too little sent to count toward warm-up (23 of 24 sent)", so a mailbox that
    sent every send it was allowed fell behind its plan, day after day."""
    spec = spec_with(MORNING, top="qualify = 1\n")
    h = hist()
    start = TODAY
    sent = []
    for k in range(12):
        day = start + dt.timedelta(days=k)
        n = gate_day(spec, h, day)
        counts = {c.day: c for c in h.days}
        counts[day] = DayCounts(day, sent=n)
        h = dataclasses.replace(h, days=tuple(counts.values()), last_send_at=at(day, 11, 59))
        sent.append(n)
    assert min(sent) < 24 < max(sent) + 1  # some days the random gaps fit fewer than 24
    a = evaluate(spec, h, at(start + dt.timedelta(days=12), 0, 1))
    assert a.day == 13, a.reasons
    assert not [r for r in a.reasons if "too little sent" in r]
    # one short of what the slowest gaps still fit (18 at 10 min) does not count
    short = dataclasses.replace(hist(), days=(DayCounts(start, sent=17),))
    b = evaluate(spec, short, at(start + dt.timedelta(days=1), 0, 1))
    assert b.day == 1 and any("(17 of 24 sent)" in r for r in b.reasons), b.reasons
    enough = dataclasses.replace(hist(), days=(DayCounts(start, sent=18),))
    assert evaluate(spec, enough, at(start + dt.timedelta(days=1), 0, 1)).day == 2


def test_a_volume_across_mailboxes_of_one_capped_domain_counts_the_cap_once(run, tmp_path):
    """Two mailboxes of corp.example under a domain cap of 120 a day: each plan counts its
    mailbox alone (120 a day once past week 1), and ``--volume`` added them up, 240 a day,
    although the gate lets the domain send 120: 3000 recipients "reached" on day 17 that the
    domain could only reach on day 27."""
    (tmp_path / "capped.toml").write_text(
        DEFAULT_TOML.replace('name = "default"', 'name = "capped"\ndomain_cap = 120')
    )
    boxes = ("a@corp.example", "b@corp.example")
    for box in boxes:
        policy = str(tmp_path / "capped.toml")
        assert (
            run("mailbox", "add", *ADDED, box, "--provider", "exmail", "--policy", policy).exit_code
            == 0
        )
    res = run("plan", *boxes, "--volume", "3000", "--json", "--at", at(TODAY, 8).isoformat())
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    planned: dict[str, list[int]] = {}
    for d in data["days"]:
        planned.setdefault(d["date"], []).append(d["planned"])
    total, reached = 0, None
    for date, both in sorted(planned.items()):
        total += min(sum(both), 120)
        if total >= 3000:
            reached = date
            break
    assert reached is not None and data["volume"]["date"] == reached
    assert data["volume"]["days"] == 27  # 7 days of 2 x 50, then 120 a day
    # a mailbox of another domain is not held by corp.example's cap
    assert (
        run(
            "mailbox",
            "add",
            *ADDED,
            "c@other.example",
            "--provider",
            "exmail",
            "--policy",
            "capped",
        ).exit_code
        == 0
    )
    res = run(
        "plan",
        *boxes,
        "c@other.example",
        "--volume",
        "3000",
        "--json",
        "--at",
        at(TODAY, 8).isoformat(),
    )
    assert json.loads(res.output)["volume"]["days"] < 27


def test_today_row_says_planned_counts_todays_sends_and_cumulative_does_not(run):
    """A mailbox that had sent 1 today showed PLANNED 50 and CUMULATIVE 49 with no word on why:
    PLANNED is the whole day, CUMULATIVE (what --volume counts) only what goes out from now."""
    spec = parse_policy(tomllib.loads(DEFAULT_TOML), "default")
    h = dataclasses.replace(hist(), days=(DayCounts(TODAY, sent=1),), last_send_at=at(TODAY, 9))
    today = project(spec, h, at(TODAY, 10), 2)[0]
    assert (today.planned, today.cumulative) == (50, 49)
    assert today.notes == (
        "1 recipient sent already today: in PLANNED, not in CUMULATIVE (what goes out from now on)",
    )
    nothing_yet = project(spec, hist(), at(TODAY, 10), 2)[0]
    assert (nothing_yet.planned, nothing_yet.cumulative, nothing_yet.notes) == (50, 50, ())
    help_text = " ".join(run("plan", "--help").output.split())
    assert "today's includes what was already sent today" in help_text
    assert "CUMULATIVE adds up what goes out from now on" in help_text
