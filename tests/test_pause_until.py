"""``warmup mailbox pause ADDRESS --until WHEN``: a pause by hand that ends by itself, as a
provider back-off does (the same ``until`` of the event), on every backend, with time passed in."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import ADDED_AT, at, ledger_digest
from tests.gatekit import cli
from tests.outboxkit import plain as message
from tests.outboxkit import pool_of
from warmup import Outbox, api
from warmup.errors import InvalidField
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

pytest_plugins = ["tests.pgkit"]  # fixtures: ledger_url (each backend)

BOX = "a@corp.example"
DAY = dt.date(2026, 11, 16)  # a Monday
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


class Clock:
    def __init__(self, when: dt.datetime) -> None:
        self.at = when

    def __call__(self) -> dt.datetime:
        return self.at


def test_a_pause_until_a_time_holds_the_worker_then_lets_it_send_without_a_resume(
    ledger_url, sink, ssl_cert_env, password, tmp_path
):
    """Through the gate and the worker, against the SMTP sink: paused, nothing goes and the
    message waits for the pause's end; once it has passed, it goes, no resume recorded."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger(ledger_url)
    until = api.pause_end(ledger, a, "3d", now=T0)
    assert until == T0 + dt.timedelta(days=3)
    api.pause(ledger, a, "IP review", at=T0, until=until)
    mid = Outbox(ledger).add(
        message("x@example.com"), pool="P", expires=dt.timedelta(days=7), now=T0
    )
    clock = Clock(T0 + dt.timedelta(minutes=1))
    with Worker(ledger, clock=clock) as worker:
        done = worker.run_once()
        assert done.outcomes == {"waiting": 1}
        ((why, _),) = done.waiting.items()
        assert why.startswith(f"{a} is paused until ") and "IP review" in why, why
        row = ledger.message(mid)  # not written: its pool is held until the pause's end
        assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 0, T0)
        assert [h.until for h in ledger.holds().values()] == [until]
        clock.at = until - dt.timedelta(seconds=1)  # not yet: not due, still paused
        assert worker.run_once().outcomes == {}
        assert api.quota(ledger, a, clock.at).status == "paused" and sink.messages == []
        clock.at = until
        assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("x@example.com",)]
    kinds = [e.kind for e in ledger.events_by_mailbox().get(ledger.mailbox(a).id, [])]
    assert kinds == ["pause"]  # no resume recorded
    ledger.close()


def test_quota_plan_and_list_say_paused_until(ledger_url, run):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", added_at=ADDED_AT)  # Asia/Shanghai
    start = at(DAY, 9)
    until = api.pause_end(ledger, BOX, "2026-11-18", now=start)  # a date: its local midnight
    assert until == at(DAY + dt.timedelta(days=2), 0)
    api.pause(ledger, BOX, "IP review", at=start, until=until)

    q = json.loads(run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat()).output)[0]
    assert (q["status"], q["quota"], q["next_send_at"]) == ("paused", 0, until.isoformat())
    assert (
        "paused until 2026-11-18 00:00 CST (since 2026-11-16 09:00 CST): IP review" in q["reasons"]
    )
    after = json.loads(run("quota", BOX, "--json", "--at", until.isoformat()).output)[0]
    assert (
        after["status"] == "ok"
        and after["quota"] > 0
        and not any(r.startswith("paused") for r in after["reasons"])
    )

    plan = json.loads(run("plan", BOX, "--json", "--days", "4", "--at", q_at(DAY)).output)
    days = plan["days"]
    assert [d["status"] for d in days] == ["paused", "paused", "ok", "ok"]
    assert days[1]["notes"] == ["paused until 2026-11-18 00:00 CST: IP review"]
    assert days[2]["planned"] > 0
    ledger.close()


def q_at(day: dt.date) -> str:
    return at(day, 10).isoformat()


def test_mailbox_list_says_until_when_a_mailbox_is_paused(run):
    """'mailbox list' (real clock): a timed pause with its end, an open-ended one, none."""
    for box in (BOX, "b@corp.example", "c@corp.example"):
        assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "pause", BOX, "--reason", "holiday", "--until", "2030-01-04")
    assert res.exit_code == 0, res.output
    assert res.output == f"Paused {BOX} until 2030-01-04 00:00 CST: holiday\n"
    assert run("mailbox", "pause", "b@corp.example", "--reason", "x").exit_code == 0
    listed = {m["address"]: m for m in json.loads(run("mailbox", "list", "--json").output)}
    assert (listed[BOX]["paused"], listed[BOX]["paused_until"]) == (
        True,
        "2030-01-03T16:00:00+00:00",
    )
    assert (listed["b@corp.example"]["paused"], listed["b@corp.example"]["paused_until"]) == (
        True,
        None,
    )
    assert listed["c@corp.example"]["paused"] is False
    table = run("mailbox", "list").output.splitlines()
    assert table[0].split()[-1] == "PAUSED"
    rows = {line.split()[0]: line for line in table[1:]}
    # Years ahead: with its year ("until 01-04" read as the coming January's).
    assert rows[BOX].endswith("until 2030-01-04 00:00 CST")
    assert rows["b@corp.example"].endswith("until resumed")
    assert rows["c@corp.example"].rstrip().endswith("-")


@pytest.mark.parametrize(
    ("typed", "span"),
    [
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("1d 12h", dt.timedelta(days=1, hours=12)),
        # Seconds and fractions, as every other duration option reads them: '30s' was
        # refused, "not in the future" (no span; read as an instant).
        ("30s", dt.timedelta(seconds=30)),
        ("1.5h", dt.timedelta(minutes=90)),
    ],
)
def test_a_span_from_the_cli_ends_that_long_after_now(run, typed, span):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = dt.datetime.now(dt.UTC)
    res = run("mailbox", "pause", BOX, "--reason", "x", "--until", typed)
    assert res.exit_code == 0, res.output
    after = dt.datetime.now(dt.UTC)
    (m,) = json.loads(run("mailbox", "list", "--json").output)
    end = dt.datetime.fromisoformat(m["paused_until"])
    assert before + span <= end <= after + span


@pytest.mark.parametrize(
    ("when", "says", "code"),
    [
        # Read fine but out of bounds: 65, as '--at 1999-12-31' is (they were 64).
        ("2020-01-01", "is not in the future", 65),
        ("2026-01-01T09:00:00+08:00", "is not in the future", 65),
        ("0d", "is not in the future", 65),
        ("1999-12-31", "out of range: expected a time between 2000-01-01 and 2100-01-01", 65),
        ("2200-01-01", "out of range: expected a time between 2000-01-01 and 2100-01-01", 65),
        ("100000d", "is after 2100-01-01", 65),
        # Unreadable: 64.
        ("next tuesday", "is neither a span (3d, 12h, 90m, 30s, 1w) nor an ISO 8601 date", 64),
        ("3 days", "is neither a span", 64),
        ("-3d", "is neither a span", 64),
        ("3/1/2027", "could be day/month or month/day", 64),
    ],
)
def test_an_until_out_of_bounds_is_65_and_one_unreadable_64(run, ledger_path, when, says, code):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("mailbox", "pause", BOX, "--reason", "x", "--until", when)
    assert res.exit_code == code, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: --until: "), res.output
    assert says in res.output and "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("when", ["1999-12-31", "2200-01-01", "2026-13-01"])
def test_until_and_at_exit_alike_for_one_time(run, when):
    """The same time out of bounds was 64 for ``pause --until`` and 65 for ``quota --at``: a
    script could not tell bad data from a bad command line by which option carried it."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    paused = run("mailbox", "pause", BOX, "--reason", "x", "--until", when)
    asked = run("quota", BOX, "--at", when)
    assert paused.exit_code == asked.exit_code == (64 if "-13-" in when else 65), (
        paused.output + asked.output
    )


def test_the_library_refuses_an_end_before_the_pause_begins(ledger_url):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    with pytest.raises(InvalidField, match="until: .* is not after the pause begins"):
        api.pause(ledger, BOX, "x", at=at(DAY, 9), until=at(DAY, 9))
    assert ledger.events_by_mailbox() == {}
    ledger.close()


def test_timed_and_open_ended_pauses_and_resumes_combine(ledger_url):
    """The last pause by hand decides (a timed one ends an open-ended one before it, and an
    open-ended one after a timed one stays); a resume ends a timed pause early."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")

    def status(hour: int, day: dt.date = DAY) -> str:
        return api.quota(ledger, BOX, at(day, hour)).status

    api.pause(ledger, BOX, "open", at=at(DAY, 8))
    api.pause(ledger, BOX, "timed", at=at(DAY, 9), until=at(DAY, 12))
    assert [status(h) for h in (8, 10, 12)] == ["paused", "paused", "ok"]
    api.pause(ledger, BOX, "timed again", at=at(DAY, 13), until=at(DAY, 20))
    api.resume(ledger, BOX, at=at(DAY, 14))
    assert [status(h) for h in (13, 14, 15)] == ["paused", "ok", "ok"]
    api.pause(ledger, BOX, "timed 3", at=at(DAY, 16), until=at(DAY, 18))
    api.pause(ledger, BOX, "open again", at=at(DAY, 17))
    assert [status(h) for h in (16, 19, 23)] == ["paused", "paused", "paused"]
    assert status(10, DAY + dt.timedelta(days=3)) == "paused"
    ledger.close()


def test_the_notification_of_a_timed_pause_carries_its_end(ledger_url, tmp_path):
    out = tmp_path / "events.jsonl"
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    assert cli("notify", "set", "--command", f"sh -c 'cat >> {out}'").returncode == 0
    api.pause(ledger, BOX, "IP review", at=at(DAY, 9), until=at(DAY, 12))
    ledger.close()
    (body,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (body["event"], body["cause"], body["until"]) == (
        "paused",
        "manual",
        "2026-11-16T04:00:00Z",
    )


def test_a_timed_pause_inside_a_longer_throttle_says_the_throttle_s_end(ledger_url):
    """A provider back-off until 18:00 and a pause by hand until 12:00: the mailbox sends at
    18:00, not at 12:00. 'quota' said "paused until 12:00" (NEXT SEND 12:00, and a worker woke
    then to find it still paused): the pause in force was the one by hand, whatever the
    back-off's end. Whichever ends later is the one that holds the mailbox."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    throttled = at(DAY, 18)
    ledger.add_event(ledger.mailbox(BOX), "throttle", at(DAY, 8), "421 HL:REP", throttled)
    api.pause(ledger, BOX, "IP review", at=at(DAY, 9), until=at(DAY, 12))
    a = api.quota(ledger, BOX, at(DAY, 10))
    assert (a.status, a.next_send_at) == ("paused", throttled)
    assert any(r.startswith("paused until 2026-11-16 18:00 CST") for r in a.reasons), a.reasons
    later = api.quota(ledger, BOX, at(DAY, 13))
    assert (later.status, later.next_send_at) == ("paused", throttled)
    assert api.quota(ledger, BOX, throttled).status == "ok"
    # an open-ended pause by hand still outlasts any back-off
    api.pause(ledger, BOX, "open", at=at(DAY, 19))
    ledger.add_event(ledger.mailbox(BOX), "throttle", at(DAY, 20), "421", at(DAY, 22))
    assert api.quota(ledger, BOX, at(DAY, 21)).next_send_at is None
    ledger.close()
