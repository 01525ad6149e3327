"""A ``[window]`` whose hours the clocks jump over on a spring-forward day (02:00-03:00 in New
York on 14 March 2027): that day is closed in every answer — ``warmup plan``, ``warmup quota``,
the gate and the worker — as a day the window does not open on. They said ``ok`` with a quota
(plan) and ``paced`` (quota, the gate), and the day counted as idle."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.gatekit import add_box, cli, policy_file
from tests.outboxkit import plain
from tests.peers.fixtures import SMTP_USER
from tests.peers.smtp import free_port
from warmup import Gate, NotAllowed, Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

BOX = SMTP_USER
NY = "America/New_York"
JUMP = dt.date(2027, 3, 14)  # 02:00 EST is followed by 03:00 EDT
WHY = "the clocks jump from 02:00 to 03:00 that day, over the whole window (02:00-03:00)"
BEFORE = dt.datetime(2027, 3, 14, 5, 30, tzinfo=dt.UTC)  # 00:30 EST, before the window
OPENS = dt.datetime(2027, 3, 15, 6, 0, tzinfo=dt.UTC)  # 02:00 EDT the next day


def night_policy(tmp_path: Path) -> Path:
    """A flat quota of 5 (no pacing), sent between 02:00 and 03:00 local time."""
    path = policy_file(tmp_path / "night.toml", daily=5)
    path.write_text(path.read_text() + '\n[window]\nhours = ["02:00", "03:00"]\n')
    return path


def add_night_box(tmp_path: Path, port: int | None = None) -> None:
    add_box(
        port or free_port(),
        "--timezone",
        NY,
        "--policy",
        str(night_policy(tmp_path)),
        imap_port=free_port(),
    )


def test_plan_shows_the_day_the_clocks_skip_the_window_closed(tmp_path):
    add_night_box(tmp_path)
    res = cli("plan", BOX, "--days", "3", "--json", "--at", "2027-03-13T12:00")
    assert res.returncode == 0, res.stderr
    days = {d["date"]: d for d in json.loads(res.stdout)["days"]}
    day = days["2027-03-14"]
    assert (day["status"], day["quota"], day["planned"]) == ("closed", 0, 0), day
    assert day["notes"] == [f"closed: {WHY}"]
    nxt = days["2027-03-15"]
    assert (nxt["status"], nxt["quota"], nxt["planned"]) == ("ok", 5, 5), nxt
    text = cli("plan", BOX, "--days", "3", "--at", "2027-03-13T12:00").stdout
    assert WHY in text, text


def test_quota_on_the_day_the_clocks_skip_the_window_says_closed(tmp_path):
    add_night_box(tmp_path)
    res = cli("quota", BOX, "--json", "--at", "2027-03-14T00:30")
    assert res.returncode == 0, res.stderr
    [q] = json.loads(res.stdout)
    assert (q["status"], q["quota"], q["remaining"]) == ("closed", 0, 0), q
    assert q["next_send_at"] == OPENS.isoformat()
    assert f"closed: {WHY}: quota 0, and the day does not count as idle" in q["reasons"]
    check = cli("quota", BOX, "--check", "--at", "2027-03-14T00:30")
    assert check.returncode == 75, (check.stdout, check.stderr)
    # the next day's window opens as announced
    [after] = json.loads(cli("quota", BOX, "--json", "--at", "2027-03-15T02:00").stdout)
    assert (after["status"], after["remaining"]) == ("ok", 5), after


def test_the_gate_and_the_worker_keep_the_day_closed(
    sink, ssl_cert_env, password, tmp_path
) -> None:
    """The gate refuses with the closed day's words (exit 75); the worker sends nothing that
    day and holds the message for the next day's window, when it goes."""
    add_night_box(tmp_path, sink.port)
    with Gate(BOX) as gate, pytest.raises(NotAllowed) as refused:
        gate.reserve(["a@example.com"], now=BEFORE)
    assert (refused.value.allowance.status, refused.value.exit_code) == ("closed", 75)
    assert str(refused.value) == f"{BOX}: closed: {WHY}; next allowed at 2027-03-15 02:00:00 EDT"
    assert cli("pool", "add", "P", BOX).returncode == 0
    ledger = open_ledger()
    clock = [BEFORE]
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", now=BEFORE)
        assert mid is not None
        with Worker(ledger, clock=lambda: clock[0]) as worker:
            assert "sent" not in worker.run_once().outcomes
            # held for the next day's window: its pool's hold (one row, m035), not the message
            assert ledger.message(mid).state == "queued"
            [hold] = ledger.holds().values()
            assert hold.until == OPENS, hold
            clock[0] = OPENS
            assert worker.run_once().outcomes == {"sent": 1}
    finally:
        ledger.close()
    assert [m.rcpt_tos for m in sink.messages] == [("r@example.com",)]
