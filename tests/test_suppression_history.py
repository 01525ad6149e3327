"""The do-not-mail list's past (``reports.suppressions``, the notebook's "Suppression growth"):
each day's total is the list's size as it was that day, whatever was taken back since."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tests.conftest import at
from tests.outboxkit import midday_zone
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import plots, reports
from warmup.ledger import local_day, open_ledger

BOX = "sales@corp.example"


def _hard_bounced(run, recipient: str, day: dt.date) -> None:
    """``recipient`` mailed on ``day`` and bounced hard (suppressed) that evening, by the CLI."""
    sent = run("record", "send", BOX, "--to", recipient, "--at", f"{day}T09:00")
    assert sent.exit_code == 0, sent.output
    bounced = run("record", "bounce", BOX, "--to", recipient, "--kind", "hard",
                  "--status", "5.1.1", "--at", f"{day}T21:00")  # fmt: skip
    assert bounced.exit_code == 0, bounced.output


def test_an_address_taken_back_still_counts_on_the_days_it_was_suppressed(
    ledger_url,  # noqa: F811
    run,
):
    """The chart was built from the suppressions left: ``suppress remove`` deleted the row, and
    the address vanished from every past day (the list of two shown as one, the day it was
    suppressed showing nothing). It counts until the day it was taken back, and leaves then."""
    # The removal is dated by the CLI's clock, read after the test's: in a zone where it is
    # midday now, both read one day (in Shanghai, a run a second before its midnight did not).
    now = dt.datetime.now(dt.UTC)
    zone = midday_zone(now)
    today = local_day(now, zone)
    first, second = today - dt.timedelta(days=9), today - dt.timedelta(days=5)
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--timezone", zone).exit_code == 0
    _hard_bounced(run, "gone@example.com", first)
    _hard_bounced(run, "full@example.com", second)
    res = run("suppress", "remove", "gone@example.com")  # now: today in Shanghai
    assert res.exit_code == 0, res.output
    assert run("suppress", "list", "--json").output.count('"address"') == 1

    ledger = open_ledger(ledger_url)
    try:
        supp = reports.suppressions(ledger)
        # the list's size at the end of each day it changed: 1, 2, then 1
        assert supp.drop_duplicates("date", keep="last")["total"].tolist() == [1, 2, 1]
        days = [pd.Timestamp(d) for d in (first, second, today)]
        assert supp[["date", "kind", "added", "removed", "total"]].values.tolist() == [
            [days[0], "hard", 1, 0, 1],
            [days[1], "hard", 1, 0, 2],
            [days[2], "hard", 0, 1, 1],
        ]
        # as of the day before the removal, the list was two addresses
        before = reports.suppressions(ledger, at=at(today - dt.timedelta(days=1), 12, tz=zone))
        assert before[["removed", "total"]].values.tolist() == [[0, 1], [0, 2]]
        (ax,) = plots.suppressions_figure(supp).get_axes()
        drawn = {ln.get_gid(): list(ln.get_ydata()) for ln in ax.get_lines()}
        assert drawn == {"kind:hard": [1, 2, 1], "total": [1, 2, 1]}
    finally:
        ledger.close()


def test_a_removal_dated_before_its_suppression_leaves_the_list_when_it_was_made(ledger_url):  # noqa: F811
    """``removed_at`` is the operator's host's clock, ``created_at`` the bouncing host's: a
    removal stamped before its suppression counts neither day below zero."""
    ledger = open_ledger(ledger_url)
    try:
        day = dt.date(2026, 10, 4)
        ledger.suppress(["x@example.com"], "manual", "asked", at(day, 12, tz="UTC"))
        assert ledger.unsuppress("x@example.com", at=at(day - dt.timedelta(days=1), 12, tz="UTC"))
        supp = reports.suppressions(ledger)
        assert supp["total"].tolist() == [0]
        assert supp[["date", "added", "removed", "total"]].values.tolist() == [
            [pd.Timestamp(day), 1, 1, 0]
        ]
    finally:
        ledger.close()
