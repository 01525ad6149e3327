"""The read commands about one ledger agree with each other: a report's days, its bounces by
reason and kind, and its sends by domain count the same history."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.gatekit import ANY_DAY, cli
from warmup import api, reports
from warmup.ledger import open_ledger

BOX = "a@corp.example"
D0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
AT = D0 + dt.timedelta(days=6)


def test_a_restarted_mailbox_s_bounce_tables_count_the_days_its_report_shows(ledger_url: str):
    """A mailbox marked started (``--started``) after some history: its report begins with
    its walk, on the first sending day from the start day on, and ``report --by-reason`` and the notebook's bounce tables
    (by kind, by domain) counted the bounces and sends before it too, for the same ``--days``:
    47 bounces by reason against 325 in the report's rows, on a re-bound mailbox."""
    ledger = open_ledger(ledger_url)
    try:
        started = (D0 + dt.timedelta(days=2)).date()
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", started=started)
        old = [f"old{i}@old.example" for i in range(3)]
        api.record_send(ledger, BOX, old, D0)  # before the start day: the old binding's
        api.record_bounce(ledger, BOX, old[0], "hard", "5.1.1", D0 + dt.timedelta(hours=1))
        api.record_bounce(ledger, BOX, old[1], "block", "5.7.1", D0 + dt.timedelta(hours=2))
        new = [f"new{i}@new.example" for i in range(4)]
        api.record_send(ledger, BOX, new, D0 + dt.timedelta(days=3))
        api.record_bounce(ledger, BOX, new[0], "soft", "4.2.2", D0 + dt.timedelta(days=3, hours=1))
        for days in (None, 30):
            daily = reports.daily(ledger, days=days, at=AT)
            assert daily["date"].min() == dt.datetime(
                2026, 11, 5
            )  # the first send from the start on
            shown = int(daily[["hard", "soft", "block", "complaints"]].to_numpy().sum())
            assert shown == 1
            kinds = reports.bounces_by_kind(ledger, days=days, at=AT)
            assert kinds[["kind", "bounces"]].values.tolist() == [["soft", 1]]
            by_reason = reports.bounces_by_reason(ledger, days=days, at=AT)
            assert int(by_reason["bounces"].sum()) == shown
            domains = reports.bounces_by_domain(ledger, days=days, at=AT)
            assert domains[["domain", "sends", "soft"]].values.tolist() == [["new.example", 4, 1]]
            assert int(domains["sends"].sum()) == int(daily["sent"].sum())
    finally:
        ledger.close()
    at = ("--at", AT.isoformat())
    rows = json.loads(cli("report", "--days", "30", "--json", *at).stdout)
    reasons = json.loads(cli("report", "--by-reason", "--days", "30", "--json", *at).stdout)
    assert sum(r["hard"] + r["soft"] + r["block"] + r["complaints"] for r in rows) == 1
    assert [(r["kind"], r["bounces"]) for r in reasons] == [("soft", 1)]
    # bounces list is the record: it lists the old binding's bounces all the same
    listed = json.loads(cli("bounces", "list", "--limit", "0", "--json").stdout)
    assert sorted(b["kind"] for b in listed) == ["block", "hard", "soft"]


def test_a_report_s_today_says_the_day_s_word_where_quota_says_exhausted(ledger_url: str):
    """README: a report's status is the day's word, never ``paced`` or ``exhausted``: the
    quota used up today, ``warmup quota`` and the plan's first row say ``exhausted``, the
    report's row for today ``ok``, with the same quota and sends."""
    box = "e@corp.example"
    # asked of today: on a CN holiday the exmail preset's words would be closed
    exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))
    assert cli("mailbox", "add", box, *exmail, "--timezone", "Etc/UTC").returncode == 0
    now = api.now_utc().replace(microsecond=0)  # today, and not ahead of the clock
    to = [a for i in range(50) for a in ("--to", f"r{i}@x.example")]
    assert cli("record", "send", box, *to, "--at", now.isoformat()).returncode == 0
    quota = json.loads(cli("quota", box, "--json").stdout)
    quota = quota[0] if isinstance(quota, list) else quota
    plan = json.loads(cli("plan", box, "--days", "1", "--json").stdout)["days"][0]
    today = json.loads(cli("report", box, "--days", "1", "--json").stdout)[-1]
    assert (quota["status"], plan["status"], today["status"]) == ("exhausted", "exhausted", "ok")
    assert (quota["quota"], quota["sent"]) == (today["quota"], today["sent"]) == (50, 50)


def test_a_bounce_between_the_start_day_and_the_first_send_is_in_the_report_s_rows(
    ledger_url: str,
):
    """A re-bound mailbox's bounce that arrived on its start day, before its first send from
    then on (an old binding's send bouncing late), counted in ``report --by-reason`` and in
    the trailing rate of the report's own rows (2 bounces over 20 sends: 10%), but in no row:
    the rows began on the first sending day. They begin on the first day with a send or a
    bounce the walk counts, so the rows show every bounce their rate counts."""
    ledger = open_ledger(ledger_url)
    try:
        started = (D0 + dt.timedelta(days=2)).date()
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", started=started)
        old = [f"old{i}@old.example" for i in range(3)]
        api.record_send(ledger, BOX, old, D0)  # before the start day
        api.record_bounce(ledger, BOX, old[0], "hard", "5.1.1", D0 + dt.timedelta(days=2))
        new = [f"new{i}@new.example" for i in range(20)]
        api.record_send(ledger, BOX, new, D0 + dt.timedelta(days=3))
        api.record_bounce(ledger, BOX, new[0], "soft", "4.2.2", D0 + dt.timedelta(days=3, hours=1))
        at = D0 + dt.timedelta(days=4)
        for days in (None, 30):
            for cache in (False, True):
                daily = reports.daily(ledger, days=days, at=at, cache=cache)
                assert [d.date() for d in daily["date"]] == [
                    started,
                    started + dt.timedelta(days=1),
                    started + dt.timedelta(days=2),
                ]
                assert daily["hard"].tolist() == [1, 0, 0]
                assert daily["sent"].tolist() == [0, 20, 0]
                shown = int(daily[["hard", "soft", "block"]].to_numpy().sum())
                assert daily["bounce_rate"].iloc[-1] == pytest.approx(shown / 20)
                by_reason = reports.bounces_by_reason(ledger, days=days, at=at)
                assert int(by_reason["bounces"].sum()) == shown == 2
    finally:
        ledger.close()
    when = ("--at", at.isoformat())
    rows = json.loads(cli("report", "--json", *when).stdout)
    reasons = json.loads(cli("report", "--by-reason", "--json", *when).stdout)
    assert sum(r["hard"] + r["soft"] + r["block"] for r in rows) == 2
    assert sum(r["bounces"] for r in reasons) == 2
    # warmup quota walks the same days: its verdict is the report's last row's
    [quota] = json.loads(cli("quota", BOX, "--json", *when).stdout)
    assert (quota["quota"], quota["bounce_rate"]) == (rows[-1]["quota"], rows[-1]["bounce_rate"])
