"""Found attacking the outbox and its inputs (queue add, queue status, run): each test fails on
the code before its fix."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.gatekit import cli, policy_file
from tests.outboxkit import leads, pool_of, queue_csv, template
from tests.outboxkit import plain as _plain
from tests.peers.fixtures import SMTP_PASSWORD
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox, api
from warmup.errors import InvalidField
from warmup.instants import read_instant
from warmup.ledger import local_day, open_ledger

BOX = "a@corp.example"


def test_a_campaign_queued_ahead_of_a_big_one_is_done_before_it(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """'queue status' gave every campaign of a queue the date the whole queue drains: a
    campaign of 3 queued before one of 200, at 50 a day, said it was done in 5 days, though
    the worker sends it first (oldest due first) and it is done today."""
    from warmup.outbox.status import status

    ledger = open_ledger(ledger_url)
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", policy=str(policy))
    at = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)  # early in the mailbox's day
    outbox = Outbox(ledger)
    outbox.add_many(
        [_plain(f"f{i}@example.com") for i in range(3)], mailbox=BOX, campaign="first", now=at
    )
    later = at + dt.timedelta(minutes=1)
    outbox.add_many(
        [_plain(f"s{i}@example.com") for i in range(200)], mailbox=BOX, campaign="second", now=later
    )
    got = status(ledger, at=later)
    finish = {c["campaign"]: c["finish"] for c in got["campaigns"]}
    # 50 a day: the first 3 today; 203 in all on the fifth day (50, 50, 50, 50, 3)
    assert finish == {"first": "2026-11-20", "second": "2026-11-24"}, got
    assert [t["finish"] for t in got["targets"]] == ["2026-11-24"]


def test_a_message_held_for_a_missing_password_goes_at_once_after_mailbox_login(
    sink, ssl_cert_env, tmp_path, empty_keyring
):  # type: ignore[no-untyped-def]
    """'run --once' said "store it with 'warmup mailbox login ADDRESS'"; the user did, ran it
    again, and was told 'nothing was due' and the same advice for 5 more minutes: storing the
    login did not make the held messages due, as 'mailbox set' or 'mailbox resume' do."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    assert queue_csv(leads(tmp_path / "l.csv", 1), template(tmp_path / "t.toml")).returncode == 0
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 78, res.stderr
    assert f"store it with 'warmup mailbox login {a}'" in res.stdout, res.stdout
    assert cli("mailbox", "login", a, stdin=SMTP_PASSWORD + "\n").returncode == 0
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 0, res.stderr
    assert "Done: 1 sent." in res.stdout, res.stdout
    assert [m.rcpt_tos for m in sink.messages] == [("lead0@example.com",)]


def test_not_before_a_time_of_day_already_past_is_tomorrows(tmp_path: Path) -> None:
    """'queue add --not-before 09:00' (the help's own example) typed in the evening was this
    morning's 09:00: already past, the messages went at once instead of the next morning."""
    now = dt.datetime.now(dt.UTC)
    ahead = (13 - now.hour) % 24  # a zone where it is about 13:00 now
    ahead = ahead - 24 if ahead > 14 else ahead
    zone = f"Etc/GMT{-ahead:+d}" if ahead else "Etc/GMT"
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", zone).returncode == 0
    tpl = template(tmp_path / "t.toml")
    for typed in ("09:00", "17:00"):  # past, and still ahead today
        res = cli("queue", "add", "--mailbox", BOX, "--campaign", f"c{typed[:2]}",
                  "--not-before", typed, "--csv", str(leads(tmp_path / f"{typed[:2]}.csv", 1)),
                  "--template", str(tpl))  # fmt: skip
        assert res.returncode == 0, res.stderr
    got = {
        m["campaign"]: m["not_before"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    today = local_day(now, zone)
    local = dt.timezone(dt.timedelta(hours=ahead))
    morning = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(9), local)
    evening = dt.datetime.combine(today, dt.time(17), local)
    assert {c: dt.datetime.fromisoformat(t) for c, t in got.items()} == {
        "c09": morning,
        "c17": evening,
    }


def test_a_column_a_template_cannot_name_is_said_so_not_missing(tmp_path: Path) -> None:
    """A CRM's 'first-name' column, used as {{ first-name }}, was refused as "'first' is
    undefined ...; add the column": the column is there; Jinja2 reads first - name."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    csv = tmp_path / "l.csv"
    csv.write_text("email,first-name,company.name\nx@example.com,Ann,Co\n", encoding="utf-8")
    for use, undefined, column, name in (
        ("{{ first-name }}", "first", "first-name", "first_name"),
        ("{{ company.name }}", "company", "company.name", "company_name"),
    ):
        tpl = template(tmp_path / "t.toml", f'subject = "Hi {use}"\ntext = "x"\n')
        res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
        assert res.returncode == 65, res.stderr
        assert res.stderr == (
            f"Error: {csv}: line 2: '{undefined}' is undefined in "
            f"template {tpl}; column '{column}' is not a name a template can use: rename it "
            f"{name} in the CSV and the template (nothing of the file was queued)\n"
        ), res.stderr
    assert json.loads(cli("queue", "list", "--json").stdout) == []


def test_a_crm_column_the_template_names_as_a_name_is_said_to_be_there(tmp_path: Path) -> None:
    """A CRM's export ('First Name', 'Company'), its columns used as {{ first_name }} and
    {{ company }}, was refused "'first_name' is undefined ...; add the column or fix the
    template": the column is there, under a name a template cannot write, or other capitals."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    csv = tmp_path / "l.csv"
    csv.write_text("Email,First Name,Company\nx@example.com,Ann,Co\n", encoding="utf-8")
    for use, undefined, fix in (
        (
            "{{ first_name }}",
            "first_name",
            "column 'First Name' is not a name a template can use: rename it first_name in the "
            "CSV, as the template calls it",
        ),
        (
            "{{ company }}",
            "company",
            "the CSV's column is 'Company' (a name's capitals count): write {{ Company }} in "
            "the template, or rename the column company",
        ),
        ("{{ nothing }}", "nothing", "add the column or fix the template"),
    ):
        tpl = template(tmp_path / "t.toml", f'subject = "Hi {use}"\ntext = "x"\n')
        res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
        assert (res.returncode, res.stderr) == (
            65,
            f"Error: {csv}: line 2: '{undefined}' is undefined in template {tpl}; {fix} "
            f"(nothing of the file was queued)\n",
        )
    assert json.loads(cli("queue", "list", "--json").stdout) == []


def test_bulk_to_a_mailbox_is_refused_it_has_no_overflow_channel(tmp_path: Path) -> None:
    """'queue add --mailbox A --bulk' (and 'send A --queue --bulk') was taken without a word:
    only a pool has an overflow channel, so the messages never took one, and the user believed
    them bound for the ESP once the quota was used."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    before = cli("queue", "list", "--json").stdout
    res = cli("queue", "add", "--mailbox", BOX, "--bulk", "--csv",
              str(leads(tmp_path / "l.csv", 1)), "--template", str(template(tmp_path / "t.toml")))  # fmt: skip
    assert (res.returncode, res.stderr) == (
        64,
        "Error: --bulk: only a pool has an overflow channel; queue bulk messages to a pool "
        "(--pool NAME), or leave out --bulk\n",
    )
    assert cli("queue", "list", "--json").stdout == before
    res = cli("send", BOX, "--queue", "--bulk", "--", "true")
    assert res.returncode == 64, res.stderr
    assert "only a pool has an overflow channel" in res.stderr
    with pytest.raises(InvalidField, match="^bulk: only a pool has an overflow channel"):
        Outbox(open_ledger()).add(_plain("x@example.com"), mailbox=BOX, bulk=True)


def test_queue_add_says_when_the_plan_cannot_send_the_messages_before_they_expire(
    tmp_path: Path,
) -> None:
    """100,000 rows queued with the default --expires 72h to a pool sending 100 a day: queued
    without a word, 'queue status' said done in half a year, and three days later 99,700
    messages expired unsent. queue add now says so when the plan's finish is past the expiry."""
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", "Etc/UTC",
               "--policy", str(policy)).returncode == 0  # fmt: skip
    tpl = str(template(tmp_path / "t.toml"))
    res = cli("queue", "add", "--mailbox", BOX, "--expires", "2d", "--campaign", "big",
              "--csv", str(leads(tmp_path / "a.csv", 300)), "--template", tpl)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"Queued 300 messages to mailbox {BOX} (campaign big).\n"
    finish = json.loads(cli("queue", "status", "--json").stdout)["targets"][0]["finish"]
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%d")
    assert res.stderr.startswith(
        f"Warning: at the plan's pace mailbox {BOX} sends what is queued to it by {finish}, "
        f"after these messages expire ({ends} "
    ), res.stderr
    assert res.stderr.endswith(
        "): those not sent by then expire unsent; give a longer --expires (at most 365d), or "
        "queue fewer\n"
    ), res.stderr
    # a few more that the plan sends in time: nothing to say
    res = cli("queue", "add", "--mailbox", BOX, "--expires", "300d", "--campaign", "small",
              "--csv", str(leads(tmp_path / "b.csv", 2, start=1000)), "--template", tpl)  # fmt: skip
    assert (res.returncode, res.stderr) == (0, ""), res.stderr


def test_queue_status_says_a_campaign_expires_before_the_plan_is_done_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'queue status' gave a campaign of 300 at 50 a day, queued to expire in 2 days, DONE BY
    in 6 days: a day it never reaches, its messages expired by then."""
    from warmup.outbox.status import status

    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "l.db"))
    ledger = open_ledger()
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", policy=str(policy))
    at = dt.datetime.now(dt.UTC)  # 'queue status' asks at its own now: a flat 50 any hour
    day = at.date()
    outbox = Outbox(ledger)
    msgs = [_plain(f"s{i}@example.com") for i in range(300)]
    outbox.add_many(msgs, mailbox=BOX, campaign="short", now=at, expires=dt.timedelta(days=2))
    outbox.add(
        _plain("x@example.com"), mailbox=BOX, campaign="long", now=at, expires=dt.timedelta(days=30)
    )
    got = {c["campaign"]: c for c in status(ledger, at=at)["campaigns"]}
    short, long = got["short"], got["long"]
    ends = at + dt.timedelta(days=2)
    # 300 at 50 a day: the sixth day, 4 days after they expire; the one behind them the seventh
    assert (short["finish"], short["expires"]) == (
        str(day + dt.timedelta(days=5)),
        ends.isoformat(),
    )
    assert short["expires_first"] is True
    assert (long["finish"], long["expires_first"]) == (str(day + dt.timedelta(days=6)), False)
    from warmup.outbox.view import snapshot  # the live view of 'warmup run' says so too

    shown = {c["campaign"]: c["finish"] for c in snapshot(ledger, at)["campaigns"]}
    assert shown == {"short": f"expires {ends.date()}", "long": long["finish"]}
    ledger.close()
    table = cli("queue", "status").stdout.splitlines()
    assert table[2].split() == [
        "short",
        "0",
        "300",
        "0",
        "0",
        "0",
        "0",
        "expires",
        str(ends.date()),
    ]


def test_queue_status_says_the_expiry_on_the_mailboxes_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'expires DATE' was the UTC date of the expiry beside DONE BY days that are the
    mailboxes' own: a day early or late for a mailbox far from UTC."""
    from warmup.outbox.status import status
    from warmup.outbox.view import snapshot

    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "l.db"))
    ledger = open_ledger()
    at = dt.datetime.now(dt.UTC)
    # a zone whose date at the expiry is not UTC's: UTC+14 after 10:00 UTC, else UTC-12
    zone = "Etc/GMT-14" if at.hour >= 10 else "Etc/GMT+12"
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    api.add_mailbox(ledger, BOX, "exmail", timezone=zone, policy=str(policy))
    msgs = [_plain(f"s{i}@example.com") for i in range(300)]
    Outbox(ledger).add_many(
        msgs, mailbox=BOX, campaign="short", now=at, expires=dt.timedelta(days=2)
    )
    local = (at + dt.timedelta(days=2)).astimezone(ZoneInfo(zone)).date()
    assert local != (at + dt.timedelta(days=2)).date()
    (short,) = status(ledger, at=at)["campaigns"]
    assert short["expires_first"] is True
    shown = {c["campaign"]: c["finish"] for c in snapshot(ledger, at)["campaigns"]}
    assert shown == {"short": f"expires {local}"}
    ledger.close()
    res = cli("queue", "status")
    assert res.stdout.splitlines()[1].split()[-2:] == ["expires", str(local)], res


def test_run_once_sends_a_message_left_with_others_after_a_suppressed_recipient(
    sink, ssl_cert_env, tmp_path, password
):  # type: ignore[no-untyped-def]
    """A message to two recipients, one suppressed after it was queued: 'run --once' dropped
    that one and put the message back due a moment later, after the pass's start, so the pass
    ended ('Done: 1 queued') and the other recipient waited for the next cron run."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    msg = _plain("ok@example.com")
    msg.replace_header("To", "ok@example.com, gone@example.com")
    Outbox(open_ledger()).add(msg, pool="P")
    assert cli("suppress", "add", "gone@example.com", "--reason", "asked").returncode == 0
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 0, res.stderr
    assert "Done: 1 queued, 1 sent." in res.stdout, res.stdout  # put back, then sent
    assert [m.rcpt_tos for m in sink.messages] == [("ok@example.com",)]
    assert json.loads(cli("queue", "list", "--json").stdout)[0]["state"] == "sent"


def test_not_before_9am_is_the_mailboxs_day_and_a_bare_9_is_refused(tmp_path: Path) -> None:
    """'--not-before 9am' (or 9:30pm, T09:00) was read on this machine's date, a day off in a
    mailbox's zone across midnight from it, and '--not-before 9' as the 9th of the month."""
    now = dt.datetime.now(dt.UTC)
    # a zone whose date is not this machine's (UTC), at a time the typed one is still ahead
    zone, typed, at = (
        ("Etc/GMT-14", "9am", dt.time(9))
        if now.hour >= 10
        else ("Etc/GMT+12", "9:30pm", dt.time(21, 30))
    )
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", zone).returncode == 0
    tpl, csv = str(template(tmp_path / "t.toml")), str(leads(tmp_path / "l.csv", 1))
    res = cli(
        "queue", "add", "--mailbox", BOX, "--not-before", typed, "--csv", csv, "--template", tpl
    )
    assert res.returncode == 0, res.stderr
    local = now.astimezone(ZoneInfo(zone))
    want = dt.datetime.combine(local.date(), at, ZoneInfo(zone))
    want += dt.timedelta(days=1) if want < local else dt.timedelta()
    (got,) = json.loads(cli("queue", "list", "--json").stdout)
    assert dt.datetime.fromisoformat(got["not_before"]) == want
    for bare in ("9", "21"):
        res = cli(
            "queue", "add", "--mailbox", BOX, "--not-before", bare, "--csv", csv, "--template", tpl
        )
        assert (res.returncode, res.stderr) == (
            64,
            f"Error: --not-before: '{bare}' could be a day of the month or an hour; write the "
            f"time ({int(bare):02d}:00) or the date ({now:%Y-%m}-{int(bare):02d})\n",
        )


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("13pm", "an hour with am or pm is 1 to 12"),
        ("0am", "an hour with am or pm is 1 to 12"),
        ("0pm", "an hour with am or pm is 1 to 12"),
        ("12:60", "minutes take two digits, 00 to 59"),
        ("24:00", "an hour is 00 to 23, midnight 00:00"),
        ("9:30:60", "seconds take two digits, 00 to 59"),
        ("-1", None),
    ],
)
def test_not_before_a_time_no_clock_shows_is_refused_with_the_forms_that_are(
    tmp_path: Path, typed: str, why: str | None
) -> None:
    """pendulum read '--not-before 13pm' as 13:00, '0am' as 00:00, '0pm' as noon and '-1' as
    some day of its own: each queued the campaign at a time the user never wrote."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    tpl, csv = str(template(tmp_path / "t.toml")), str(leads(tmp_path / "l.csv", 1))
    before = cli("queue", "list", "--json").stdout
    res = cli(
        "queue", "add", "--mailbox", BOX, "--not-before", typed, "--csv", csv, "--template", tpl
    )
    said = (
        f"'{typed}' is not a date or time; write a time (09:00) or a date (2026-11-29)"
        if why is None
        else f"'{typed}' is not a time of day ({why}); write 00:00 to 23:59 (21:30) or 1 to 12 "
        "with am or pm (9:30pm)"
    )
    assert (res.returncode, res.stdout, res.stderr) == (64, "", f"Error: --not-before: {said}\n")
    assert cli("queue", "list", "--json").stdout == before  # nothing queued
    for fine in ("12am", "12pm", "9:30 p.m.", "00:00", "23:59:59"):
        assert read_instant(fine, ("Asia/Shanghai",), "not_before").zone == "Asia/Shanghai"


def test_a_pool_named_in_another_case_is_pointed_at_not_to_be_created_again(
    tmp_path: Path,
) -> None:
    """'queue add --pool outreach' with pool 'Outreach' said "create it with 'warmup pool add
    outreach ADDRESS...'": a second pool, a case apart, its queue sent by no 'run --pool'."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "Outreach", BOX).returncode == 0
    tpl, csv = str(template(tmp_path / "t.toml")), str(leads(tmp_path / "l.csv", 1))
    res = cli("queue", "add", "--pool", "outreach", "--csv", csv, "--template", tpl)
    assert (res.returncode, res.stderr) == (
        64,
        "Error: pool 'outreach' not found; pool names are case-sensitive: did you mean "
        "'Outreach'?\n",
    )
    res = cli("queue", "add", "--pool", "other", "--csv", csv, "--template", tpl)
    assert res.stderr.endswith("create it with 'warmup pool add other ADDRESS...'\n")


def test_a_second_pool_a_case_apart_is_refused_and_an_older_pair_still_works(
    ledger_url: str,  # noqa: F811
) -> None:
    """'pool add Sales' then 'pool add sales' made two pools, and every later command naming
    one was a guess (mailbox addresses are one in any case). Now the second is refused, exit
    65, naming the pool there is, nothing written; a pair an older warmup made is kept, and
    each is still named exactly."""
    from warmup.ledger.schema import POOL

    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "Sales", BOX).returncode == 0
    before = cli("pool", "list", "--json").stdout
    for name in ("sales", "SALES"):
        res = cli("pool", "add", name, BOX)
        assert (res.returncode, res.stdout, res.stderr) == (
            65,
            "",
            "Error: pool 'Sales' exists already (pool names differ by more than case); add to "
            "it with 'warmup pool add Sales ADDRESS...', or choose another name\n",
        )
    assert cli("pool", "list", "--json").stdout == before
    res = cli("pool", "add", "Sales", BOX)  # the pool itself, in its own case: extended
    assert (res.returncode, res.stdout) == (0, f"Pool Sales: 1 mailbox (0 new): {BOX}.\n")
    assert cli("pool", "add", "other", BOX).returncode == 0
    ledger = open_ledger(ledger_url)
    try:  # as an older warmup let it be made
        with ledger.write() as conn:
            conn.execute(POOL.update().where(POOL.c.name == "other").values(name="sales"))
    finally:
        ledger.close()
    listed = json.loads(cli("pool", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["Sales", "sales"]
    for name in ("Sales", "sales"):
        res = cli("pool", "add", name, BOX)
        assert (res.returncode, res.stdout) == (0, f"Pool {name}: 1 mailbox (0 new): {BOX}.\n")
        assert cli("pool", "show", name).returncode == 0
    assert cli("pool", "add", "SALES", BOX).returncode == 65


def test_a_pools_reply_to_setting_changed_by_pool_add_is_said(ledger_url: str) -> None:  # noqa: F811
    """'pool add P BOX --no-reply-to' on a pool whose messages set Reply-To changed that
    setting without a word (the line said only the members), where 'pool overflow' says
    what it set. Now a line says what changed and what it was; nothing when it is as it was."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "P", BOX).returncode == 0
    members = f"Pool P: 1 mailbox (0 new): {BOX}.\n"
    res = cli("pool", "add", "P", BOX, "--no-reply-to")
    assert (res.returncode, res.stdout) == (
        0,
        members + "Pool P: Reply-To is no longer set to the sending member (it was).\n",
    )
    assert json.loads(cli("pool", "show", "P", "--json").stdout)["reply_to"] is False
    for again in (["--no-reply-to"], []):  # as it is: nothing more said
        res = cli("pool", "add", "P", BOX, *again)
        assert (res.returncode, res.stdout) == (0, members)
    res = cli("pool", "add", "P", BOX, "--reply-to")
    assert (res.returncode, res.stdout) == (
        0,
        members + "Pool P: Reply-To is now set to the sending member (it was not).\n",
    )
    res = cli("pool", "add", "Q", BOX, "--no-reply-to")  # a new pool: as asked, nothing changed
    assert (res.returncode, res.stdout) == (0, f"Pool Q: 1 mailbox (1 new): {BOX}.\n")


def test_an_overflow_login_without_a_keyring_takes_its_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a server without a keyring, 'pool overflow P --user api' could not be configured at
    all (exit 78), though the worker reads the password from WARMUP_OVERFLOW_PASSWORD; and the
    error told to use WARMUP_PASSWORD or --password-command, which the channel never reads."""
    monkeypatch.delenv("WARMUP_OVERFLOW_PASSWORD", raising=False)
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "P", BOX).returncode == 0
    args = ["pool", "overflow", "P", "--host", "127.0.0.1", "--security", "none", "--port", "2525"]
    res = cli(*args, "--user", "api", stdin="s3cret\n")  # the tests' keyring: none
    assert res.returncode == 78, res.stderr
    assert res.stderr == (
        "Error: no system keyring is available on this machine; nothing stored: set "
        "WARMUP_OVERFLOW_PASSWORD in the environment of 'warmup run' (and of this command, "
        "which then stores nothing)\n"
    )
    assert json.loads(cli("pool", "list", "--json").stdout)[0]["overflow"] is None
    res = cli(*args, "--user", "api", env={"WARMUP_OVERFLOW_PASSWORD": "s3cret"})
    assert (res.returncode, res.stdout) == (
        0,
        "Pool P: overflow channel 127.0.0.1:2525 (none, user api); password from "
        "WARMUP_OVERFLOW_PASSWORD, nothing stored.\n",
    ), res.stderr
    assert "s3cret" not in res.stdout + res.stderr


@pytest.mark.parametrize("secret", ["p\u00e4sswort-7c1", "api-7c1\r", "api\n7c1"])
def test_an_overflow_password_no_login_can_send_is_refused_when_given(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WARMUP_OVERFLOW_PASSWORD that the login cannot send (smtplib encodes every AUTH
    mechanism's answer as ASCII; a line break, a CRLF file's CR, is refused in every password)
    configured the channel
    ('password from WARMUP_OVERFLOW_PASSWORD, nothing stored', exit 0), and failed only at
    the first bulk message past every member's quota, hours later, under 'warmup run'. Now
    one line naming the variable, never its value, exit 78 (as 'mailbox login' and the
    keyring path refuse one), and no channel."""
    monkeypatch.delenv("WARMUP_OVERFLOW_PASSWORD", raising=False)
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "P", BOX).returncode == 0
    args = ["pool", "overflow", "P", "--host", "127.0.0.1", "--security", "none", "--port", "2525"]
    res = cli(*args, "--user", "api", env={"WARMUP_OVERFLOW_PASSWORD": secret})
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr.startswith("Error: the password from WARMUP_OVERFLOW_PASSWORD holds ")
    assert res.stderr.count("\n") == 1 and "7c1" not in res.stderr, res.stderr
    assert json.loads(cli("pool", "list", "--json").stdout)[0]["overflow"] is None


def _rows(path: str) -> list[str]:
    """Every row of the SQLite ledger at ``path``, as SQL."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("secret", ["p\u00e4sswort-7c1", "api-7c1\r", "api\n7c1"])
def test_run_refuses_an_overflow_password_no_login_can_send_at_start(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'warmup run' read WARMUP_OVERFLOW_PASSWORD only when a bulk message took the overflow
    channel: past every member's quota, possibly hours into the run, a password its login can
    never send (not ASCII, a CRLF file's CR) was found then. Now a run whose pools have a
    channel that logs in checks it at start: one line naming the variable, never its value,
    exit 78, nothing claimed or written. A run of a pool without a channel is not stopped
    by it, and the channel's password read at send time is refused alike."""
    from warmup.errors import ConfigError
    from warmup.outbox import overflow

    monkeypatch.delenv("WARMUP_OVERFLOW_PASSWORD", raising=False)
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    assert cli("mailbox", "add", "b@corp.example", "--provider", "exmail").returncode == 0
    assert cli("pool", "add", "P", BOX).returncode == 0
    assert cli("pool", "add", "Q", "b@corp.example").returncode == 0
    args = ["pool", "overflow", "P", "--host", "127.0.0.1", "--security", "none", "--port", "2525"]
    res = cli(*args, "--user", "api", env={"WARMUP_OVERFLOW_PASSWORD": "api-7c1"})
    assert res.returncode == 0, res.stderr
    tpl, csv = template(tmp_path / "t.toml"), leads(tmp_path / "l.csv", 2)
    assert queue_csv(csv, tpl, "--bulk").returncode == 0
    before = _rows(os.environ["WARMUP_DB"])
    for run in (["run", "--once", "--no-sync"], ["run", "--once", "--no-sync", "--pool", "P"]):
        res = cli(*run, env={"WARMUP_OVERFLOW_PASSWORD": secret})
        assert (res.returncode, res.stdout) == (78, ""), (res.stdout, res.stderr)
        assert res.stderr.startswith("Error: the password from WARMUP_OVERFLOW_PASSWORD holds ")
        assert res.stderr.count("\n") == 1 and "7c1" not in res.stderr, res.stderr
        assert _rows(os.environ["WARMUP_DB"]) == before
    res = cli("run", "--once", "--no-sync", "--pool", "Q", env={"WARMUP_OVERFLOW_PASSWORD": secret})
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    monkeypatch.setenv("WARMUP_OVERFLOW_PASSWORD", secret)
    with pytest.raises(ConfigError, match="^the password from WARMUP_OVERFLOW_PASSWORD holds "):
        overflow.password("P")


def test_queue_list_cut_short_suggests_only_the_filters_not_given() -> None:
    """'queue list --state queued' cut at --limit said "--campaign and --state narrow them":
    --state was given already."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    outbox = Outbox(open_ledger())
    outbox.add_many([_plain(f"r{i}@example.com") for i in range(3)], mailbox=BOX, campaign="c")
    tail = {
        (): "--campaign and --state narrow them.",
        ("--state", "queued"): "--campaign narrows them.",
        ("--campaign", "c"): "--state narrows them.",
        ("--campaign", "c", "--state", "queued"): "--limit 0 shows all.",
    }
    for args, says in tail.items():
        res = cli("queue", "list", "--limit", "1", *args)
        assert (
            res.stderr
            == "Showing the first 1 message (oldest first) of 3; "
            + (says if says.startswith("--limit") else f"--limit 0 shows all, {says}")
            + "\n"
        ), res.stderr


def test_queue_status_leaves_out_a_member_whose_tries_were_all_cancelled(tmp_path: Path) -> None:
    """A message tried by a mailbox (a 4xx: queued again, its sender noted), then cancelled
    with the mailbox's removal: 'queue status' listed "#1" with every count 0 (JSON too)."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    msg = tmp_path / "m.eml"
    msg.write_text("To: lead@example.com\nSubject: hi\n\nhello\n")
    res = cli("queue", "add", "--mailbox", BOX, "--campaign", "c", "--eml", str(msg))
    assert res.returncode == 0, res.stderr
    ledger = open_ledger()
    now = dt.datetime.now(dt.UTC)
    claimed = ledger.claim("w", now)
    assert claimed is not None
    box = ledger.mailbox(BOX)
    assert ledger.settle_message(
        claimed.id,
        "w",
        "queued",
        now,
        reply="451 try again later",
        sent_by=box.id,
        next_attempt_at=now + dt.timedelta(minutes=10),
        attempt=True,
    )
    assert cli("mailbox", "remove", BOX, "--force").returncode == 0
    data = json.loads(cli("queue", "status", "--json").stdout)
    assert [c["cancelled"] for c in data["campaigns"]] == [1]
    assert data["mailboxes"] == []
    text = cli("queue", "status").stdout
    assert "MAILBOX" not in text and "#" not in text, text


def test_a_bare_number_no_hour_or_no_day_is_not_suggested_as_one(tmp_path: Path) -> None:
    """'--not-before 45' was told to write the time 45:00 or the date 2026-12-45, '27' the
    time 27:00, '0' the date 2026-12-00: each refused again when typed as told."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    eml = tmp_path / "m.eml"
    eml.write_text("From: a@example.com\nTo: x@example.org\nSubject: hi\n\nbody\n")
    month = f"{dt.datetime.now(dt.UTC):%Y-%m}"
    for bare, want in (
        ("45", "write a time (09:00) or a date (2026-11-29)"),
        ("27", f"write the date ({month}-27), or a time (09:00)"),
        ("0", "write the time (00:00), or a date (2026-11-29)"),
    ):
        res = cli("queue", "add", "--mailbox", BOX, "--not-before", bare, "--eml", str(eml))
        assert (res.returncode, res.stderr) == (
            64,
            f"Error: --not-before: '{bare}' is not a date or time; {want}\n",
        ), bare
    assert json.loads(cli("queue", "list", "--json").stdout) == []


@pytest.mark.parametrize("target", ["mailbox", "pool"])
def test_a_message_sent_before_it_was_queued_says_so_not_that_a_worker_stopped(
    sink,
    ssl_cert_env,
    tmp_path,
    password,
    ledger_url,  # noqa: F811
    target,
):  # type: ignore[no-untyped-def]
    """An .eml sent with 'warmup send', then queued as it is (its Message-ID kept): the worker
    rightly sent it no second time, but wrote "worker HOST:PID:... stopped after the message
    was sent" as its reply, counted a try, and logged the same: no worker had stopped, and
    nothing said the message had gone before it was queued, nor how."""
    a, _ = pool_of(sink.port, tmp_path, n=2, daily=50)
    eml = tmp_path / "offer.eml"
    eml.write_text(
        f"From: {a}\nTo: lead@example.com\nSubject: offer\nMessage-ID: <offer-1@corp.example>\n"
        "\nhello\n",
        encoding="utf-8",
    )
    assert cli("send", a, "--eml", str(eml)).returncode == 0
    where = ("--mailbox", a) if target == "mailbox" else ("--pool", "P")
    assert cli("queue", "add", *where, "--eml", str(eml)).returncode == 0
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 1  # the send's, not again
    why = (
        "not sent again: its Message-ID <offer-1@corp.example> had reached its recipients "
        "before this try (another 'warmup send', message or mailbox sent it); queue a message "
        "with a new Message-ID to send it again"
    )
    assert f"sent #1 <offer-1@corp.example>: {why}\n" in res.stdout, res.stdout
    assert "stopped" not in res.stdout
    (row,) = json.loads(cli("queue", "list", "--json").stdout)
    assert (row["state"], row["last_reply"], row["attempts"]) == ("sent", why, 0)


@pytest.mark.parametrize(
    ("csv_file", "tpl_file", "said"),
    [
        ("/dev/zero", None, "Error: /dev/zero: larger than 100 MB; split it into several files"),
        (
            None,
            "/dev/zero",
            "Error: template /dev/zero: larger than 1 MB; a template is a subject and a body or "
            "two: give its TOML file",
        ),
    ],
)
def test_queue_add_reads_no_further_than_it_takes_of_a_file_without_end(
    tmp_path: Path, csv_file: str | None, tpl_file: str | None, said: str
) -> None:
    """'queue add --csv /dev/zero' (or --template), a binary file named by mistake, was read
    whole into memory: the kernel killed warmup, or its neighbours; --eml, 'import' and
    'suppress add --from' stop reading past their limit. A process of its own, its memory held to
    1.5 GB: before the fix it died of MemoryError with a traceback."""
    import os
    import resource
    import subprocess
    import sys

    from tests.conftest import ledger_digest

    db = tmp_path / "ledger.db"
    env = {**os.environ, "WARMUP_DB": str(db)}
    assert (
        cli("mailbox", "add", BOX, "--provider", "exmail", env={"WARMUP_DB": str(db)}).returncode
        == 0
    )
    rows = leads(tmp_path / "leads.csv", 1)
    tpl = template(tmp_path / "t.toml")
    before = ledger_digest(db)

    def small_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    proc = subprocess.run(
        [sys.executable, "-m", "warmup", "queue", "add", "--mailbox", BOX,
         "--csv", csv_file or str(rows), "--template", tpl_file or str(tpl)],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
        preexec_fn=small_memory, timeout=120, check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (65, "", said + "\n")
    assert ledger_digest(db) == before


def test_the_worker_s_line_for_a_message_to_many_recipients_names_ten_and_counts_the_rest(
    sink, ssl_cert_env, tmp_path, password
):  # type: ignore[no-untyped-def]
    """A message to 10,000 recipients (a mailbox allowed 20,000 a day) went, and 'run' said
    so in one line of some 200 KB listing every one of them, as it did of those it left out
    as suppressed: a journal cuts such a line, a terminal scrolls for pages. The line names
    ten and counts the rest ('queue show' lists them all); here 40, 15 of them suppressed."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    rcpts = [f"r{i}@example.com" for i in range(40)]
    msg = _plain(rcpts[0])
    msg.replace_header("To", ", ".join(rcpts))
    Outbox(open_ledger()).add(msg, pool="P")
    gone = [f"r{i}@example.com" for i in range(25, 40)]
    res = cli("suppress", "add", *gone, "--reason", "asked")
    assert res.returncode == 0, res.stderr

    res = cli("run", "--once", "--no-sync")

    assert res.returncode == 0, res.stderr
    [dropped] = [line for line in res.stdout.splitlines() if " suppressed #1: " in line]
    assert dropped.endswith(": " + ", ".join(gone[:10]) + " and 5 more"), dropped
    [sent] = [line for line in res.stdout.splitlines() if " sent #1 " in line]
    assert f" to {', '.join(rcpts[:10])} and 15 more: " in sent, sent
    assert len(sent) < 1000, sent
    assert [len(m.rcpt_tos) for m in sink.messages] == [25]


def test_queue_add_to_a_pool_paused_until_resumed_says_so_not_to_queue_fewer(
    tmp_path: Path,
) -> None:
    """Both members of the pool paused by hand: 'queue add' warned that the pool sends what
    is queued "not within 2 years", and to give a longer --expires or queue fewer; neither
    helps, resuming one does. It says so; one member resumed, nothing to say."""
    pool_of(2525, tmp_path, n=2, daily=50)
    for box, why in (("a@corp.example", "holiday"), ("b@corp.example", "audit")):
        assert cli("mailbox", "pause", box, "--reason", why).returncode == 0
    tpl = str(template(tmp_path / "t.toml"))

    res = queue_csv(leads(tmp_path / "a.csv", 3), Path(tpl))

    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 3 messages to pool P.\n"
    [line] = res.stderr.splitlines()
    assert line.startswith(
        "Warning: pool P sends nothing until a person lets one of its mailboxes send again "
        "(a@corp.example is paused since "
    ), line
    assert "holiday" in line and "audit" in line and "2 years" not in line, line
    assert " UTC unless that is done before" in line, line
    assert cli("mailbox", "resume", "b@corp.example").returncode == 0
    res = queue_csv(leads(tmp_path / "b.csv", 3, start=3), Path(tpl))
    assert (res.returncode, res.stderr) == (0, ""), res.stderr


def test_queue_add_to_a_mailbox_paused_until_resumed_names_it_not_its_mailboxes(
    tmp_path: Path,
) -> None:
    """The same warning for one mailbox said "mailbox a@corp.example sends nothing until a
    person lets one of its mailboxes send again": a mailbox has no mailboxes."""
    box = "a@corp.example"
    assert cli("mailbox", "add", box, "--provider", "exmail").returncode == 0
    assert cli("mailbox", "pause", box, "--reason", "holiday").returncode == 0
    eml = tmp_path / "m.eml"
    eml.write_text(f"To: lead@example.com\nFrom: {box}\nSubject: hi\n\nhello\n")

    res = cli("queue", "add", "--mailbox", box, "--eml", str(eml))

    assert res.returncode == 0, res.stderr
    [line] = res.stderr.splitlines()
    assert line.startswith(
        f"Warning: mailbox {box} sends nothing until a person lets it send again ({box} is "
        "paused since "
    ), line


def test_recipients_as_any_iterable_are_queued_not_taken_for_the_message(tmp_path: Path) -> None:
    """``Outbox.add(msg, recipients=df["email"])`` (a pandas column), a generator or a dict's
    keys: the pair was taken for the message itself, refused as "message 1: expected an
    email.message.EmailMessage, bytes or text, not tuple", blaming a message that was fine.
    Any iterable of addresses is the envelope; a number is refused naming the recipients."""
    import pandas as pd

    from warmup.errors import WrongType

    ledger = open_ledger(str(tmp_path / "l.db"))
    api.add_mailbox(ledger, BOX, "exmail")
    outbox = Outbox(ledger)
    given = [
        pd.Series(["series@example.com"]),
        (r for r in ["gen@example.com"]),
        {"keys@example.com": 1}.keys(),
    ]
    for rcpts in given:
        assert outbox.add(_plain("header@example.com"), mailbox=BOX, recipients=rcpts)
    with ledger.read() as conn:
        got = conn.exec_driver_sql("SELECT recipients FROM outbox ORDER BY id").scalars().all()
    assert got == ["series@example.com", "gen@example.com", "keys@example.com"]
    wrong: Any = 5
    with pytest.raises(WrongType, match="^recipients: expected a list of addresses, got int$"):
        outbox.add(_plain("header@example.com"), mailbox=BOX, recipients=wrong)


def test_an_empty_list_of_recipients_is_named_as_the_fault_not_the_message_s_to(
    tmp_path: Path,
) -> None:
    """``Outbox.add(msg, recipients=[])`` was refused (good) as "no recipient (no To, Cc or
    Bcc ...)" of a message that has a To: the fault is the empty list, which Gate.send calls "no
    recipients". It says so and how to use the message's own; nothing is queued."""
    from tests.conftest import ledger_digest
    from warmup.errors import DataError

    path = tmp_path / "l.db"
    ledger = open_ledger(str(path))
    api.add_mailbox(ledger, BOX, "exmail")
    outbox = Outbox(ledger)
    before = ledger_digest(path)
    said = (
        "no recipients: an empty list of recipients was given; give at least one, or omit "
        "them to send to the message's To, Cc and Bcc"
    )
    with pytest.raises(DataError) as err:
        outbox.add(_plain("lead@example.com"), mailbox=BOX, recipients=[])
    assert str(err.value) == f"message 1: {said}"
    with pytest.raises(DataError) as err:
        outbox.add_many([_plain("a@example.com"), (_plain("b@example.com"), [])], mailbox=BOX)
    assert str(err.value) == f"message 2: {said}"
    assert ledger_digest(path) == before
    no_to = _plain("x@example.com")
    del no_to["To"]
    with pytest.raises(DataError, match=r"^message 1: no recipient \(no To, Cc or Bcc"):
        outbox.add(no_to, mailbox=BOX)  # the message's own fault, as before
    assert outbox.add(_plain("lead@example.com"), mailbox=BOX)  # recipients omitted: its To


@pytest.mark.parametrize(
    ("reader", "said"),
    [
        (
            "queue",
            "recipient {cell!r} holds 2 addresses; put one recipient per row (a row for each)",
        ),
        (
            "suppress",
            "address {cell!r} holds 2 addresses; put one address per line (a line for each)",
        ),
    ],
)
def test_a_csv_cell_holding_two_named_addresses_is_said_to_hold_two(
    tmp_path: Path, ledger_path: Path, reader: str, said: str
) -> None:
    """An email cell ``A <a@x.example>, B <b@x.example>`` (a To line copied from a mail client)
    was "malformed recipient ...: expected name@domain.tld" in 'queue add --csv' and 'suppress
    add --from': both addresses are well formed, the cell holds two. Said as 'warmup import'
    says it (its reader shares the words); nothing is kept."""
    from tests.conftest import ledger_digest

    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    cell = "A <a@x.example>, B <b@x.example>"
    csv = tmp_path / "leads.csv"
    csv.write_text(f'email,name,company\nc@x.example,C,Co\n"{cell}",A,Co\n', encoding="utf-8")
    before = ledger_digest(ledger_path)
    if reader == "queue":
        tpl = template(tmp_path / "t.toml")
        res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    else:
        res = cli("suppress", "add", "--from", str(csv), "--reason", "unsubscribed")
    assert (res.returncode, res.stderr) == (65, f"Error: {csv}: line 3: {said.format(cell=cell)}\n")
    assert ledger_digest(ledger_path) == before


def test_follow_ups_wait_in_the_projection_for_the_member_that_mailed_their_leads(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """Pool of A and B at 10 a day; A mailed r0-r9 today. Ten follow-ups to them in campaign
    'fu': 'queue status' said DONE BY today, B having room, but the worker sends each from A,
    the member that last mailed its lead, and A's day is used: they go tomorrow. A new lead's
    message still goes from B today."""
    from warmup.outbox.status import status

    ledger = open_ledger(ledger_url)
    policy = policy_file(tmp_path / "flat.toml", daily=10)
    a, b = "a@corp.example", "b@corp.example"
    for box in (a, b):
        api.add_mailbox(ledger, box, "exmail", timezone="Etc/UTC", policy=str(policy))
    at = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    ledger.add_pool("P", [a, b], None, at)
    leads = [f"r{i}@example.com" for i in range(10)]
    api.record_send(ledger, a, leads, at=at - dt.timedelta(hours=1))
    outbox = Outbox(ledger)
    outbox.add_many([_plain(r) for r in leads], pool="P", campaign="fu", now=at)
    outbox.add_many([_plain("new@example.com")], pool="P", campaign="new", now=at)

    got = status(ledger, at=at)

    finish = {c["campaign"]: c["finish"] for c in got["campaigns"]}
    assert finish == {"fu": "2026-11-21", "new": "2026-11-20"}, got
    assert [t["finish"] for t in got["targets"]] == ["2026-11-21"]
    ledger.close()


def test_an_eml_file_given_twice_is_refused_not_queued_twice(tmp_path: Path, monkeypatch) -> None:
    """'queue add --eml offer.eml --eml offer.eml' (or './offer.eml' beside 'offer.eml', a
    glob and a name): a message without a Message-ID was queued twice, and its lead mailed
    twice, exit 0. The same file named twice is refused as one Message-ID given twice is
    (65), nothing queued."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    eml = tmp_path / "offer.eml"
    eml.write_text(f"From: {BOX}\nTo: lead@example.com\nSubject: s\n\nhi\n")
    other = tmp_path / "other.eml"
    other.write_text(f"From: {BOX}\nTo: lead2@example.com\nSubject: s\n\nhi\n")
    monkeypatch.chdir(tmp_path)
    before = cli("queue", "list", "--json").stdout
    for again, said in ((str(eml), ""), ("./offer.eml", f" (as {eml})")):
        res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml), "--eml", "other.eml",
                  "--eml", again)  # fmt: skip
        assert (res.returncode, res.stdout) == (65, ""), res.stderr
        assert res.stderr == f"Error: {again}: given twice{said}; queue it once\n"
        assert cli("queue", "list", "--json").stdout == before
    res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml), "--eml", str(other))
    assert res.returncode == 0 and res.stdout == f"Queued 2 messages to mailbox {BOX}.\n"
