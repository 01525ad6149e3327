"""Sends another host stamped a little ahead of this one's clock (team mode, clocks minutes
apart): the gate counts them as sent today, so ``warmup quota``, the batch answer of every
mailbox and a report's today row count them too, within the skew the ledger tolerates
(``CLOCK_SKEW``, the 5 minutes ``record`` accepts ahead as something that happened)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.gatekit import cli
from warmup import api, reports
from warmup.gate import Gate
from warmup.ledger import BounceIn, open_ledger
from warmup.refusals import NotAllowed

BOX = "k@corp.example"
NOW = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC)  # a Tuesday, no CN holiday


def _seed(url: str, stamped: dt.datetime, n: int = 50) -> None:
    ledger = open_ledger(url)
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        api.record_send(ledger, BOX, [f"r{i}@x.example" for i in range(n)], stamped)
    finally:
        ledger.close()


def _answers(url: str, at: dt.datetime) -> tuple[Any, Any, Any]:
    """At ``at``: ``warmup quota``'s answer for the mailbox, the batch answer of every mailbox,
    and the report's today row."""
    ledger = open_ledger(url)
    try:
        (each,) = api.quotas(ledger, ledger.mailboxes(), at)
        return api.quota(ledger, BOX, at), each, reports.daily(ledger, at=at).iloc[-1]
    finally:
        ledger.close()


def test_quota_counts_the_sends_a_clock_ahead_stamped_as_the_gate_does(ledger_url: str):
    """50 sends stamped 4 minutes ahead (the week-1 quota): the gate refuses the 51st, "50 of
    50 sent"; ``warmup quota`` said 0 sent and 50 left (exit 0 under ``--check``), and the
    report's today row 0 sent, until this host's clock caught up."""
    _seed(ledger_url, NOW + dt.timedelta(minutes=4))
    with Gate(BOX) as gate, pytest.raises(NotAllowed, match="50 of 50 sent"):
        gate.reserve("new@x.example", now=NOW)
    one, each, today = _answers(ledger_url, NOW)
    assert (one.sent, one.remaining, one.status) == (50, 0, "exhausted")
    assert (each.sent, each.remaining, each.status) == (50, 0, "exhausted")
    assert (today["date"].date(), today["sent"]) == (NOW.date(), 50)
    check = cli("quota", BOX, "--check", "--at", NOW.isoformat())
    assert check.returncode == 75


def test_a_send_stamped_after_midnight_by_a_clock_ahead_is_tomorrow_s(ledger_url: str):
    """At 23:58, a send stamped 00:02 is tomorrow's: not in today's count, but the last send,
    which the gate paces from (not from today's last at 22:58); ``warmup quota`` says the same."""
    late = NOW.replace(hour=23, minute=58)
    _seed(ledger_url, late + dt.timedelta(minutes=4), n=1)
    ledger = open_ledger(ledger_url)
    try:  # and one sent today, before: the last send is still the later one
        api.record_send(ledger, BOX, ["early@x.example"], late - dt.timedelta(hours=1))
    finally:
        ledger.close()
    with Gate(BOX) as gate, pytest.raises(NotAllowed) as refused:
        gate.reserve("new@x.example", now=late)
    one, each, today = _answers(ledger_url, late)
    gate_says = refused.value.allowance
    assert (gate_says.sent, gate_says.status) == (1, "paced")
    for a in (one, each):
        assert (a.sent, a.status, a.next_send_at) == (1, "paced", gate_says.next_send_at)
    (said,) = json.loads(cli("quota", BOX, "--json", "--at", late.isoformat()).stdout)
    assert (said["sent"], said["status"]) == (1, "paced")
    assert said["next_send_at"] == gate_says.to_dict()["next_send_at"]
    assert (today["date"].date(), today["sent"]) == (late.date(), 1)


def test_quota_as_of_an_instant_leaves_out_the_sends_made_later(ledger_url: str):
    """``--at`` still cuts a day at an instant: sends made more than the skew after it are not
    counted as of it."""
    _seed(ledger_url, NOW + dt.timedelta(minutes=6))
    ledger = open_ledger(ledger_url)
    try:
        assert api.quota(ledger, BOX, NOW).sent == 0
        assert api.quota(ledger, BOX, NOW + dt.timedelta(minutes=6)).sent == 50
    finally:
        ledger.close()


def test_a_bounce_of_a_send_a_clock_ahead_stamped_answers_it(ledger_url: str):
    """The provider refuses a send at once; the sending host's clock ran 4 minutes ahead (within
    CLOCK_SKEW), so its send is stamped 4 minutes after the report's Date. The report answered
    no send ("never mailed"): not counted, the bounce rate understated while the mailbox
    bounced."""
    _seed(ledger_url, NOW + dt.timedelta(minutes=4), n=1)
    ledger = open_ledger(ledger_url)
    try:
        box = ledger.mailbox(BOX)
        report = BounceIn("r0@x.example", "hard", NOW, "dsn-1", status="5.1.1", trusted=False)
        got = ledger.record(box, bounces=[report])
    finally:
        ledger.close()
    assert (got.matched, got.counted) == (1, 1)
