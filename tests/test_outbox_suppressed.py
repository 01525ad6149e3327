"""Queued messages whose recipients were suppressed after they were queued (by hand, a hard
bounce a sync read): 'queue status', 'queue list' and 'queue show' say what the worker will do
with them (leave those recipients out; cancel a message that has none left), and the finish
dates leave them out."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage
from pathlib import Path

from tests.gatekit import cli, policy_file
from tests.outboxkit import plain, pool_of
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox, api
from warmup.ledger import open_ledger
from warmup.outbox.view import render, snapshot
from warmup.outbox.worker import Worker

BOX = "a@corp.example"
AT = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)  # early in a UTC mailbox's day


def _day(n: int) -> str:
    return (AT.date() + dt.timedelta(days=n)).isoformat()


def _to_two(a: str, b: str) -> EmailMessage:
    msg = plain(a)
    msg["Cc"] = b
    return msg


def test_queue_status_leaves_out_what_was_suppressed_after_it_was_queued(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """50 a day. Campaign dec: 100 messages, then 60 of their recipients suppressed, and two
    messages to two recipients (one of them with both suppressed). Campaign next, queued after
    it: 40 messages. The worker cancels the 60 (and the one to two) and leaves out the other's
    suppressed recipient, but status counted every one as still to send: dec done the day after
    tomorrow instead of today, next the day after instead of tomorrow, and nothing said why."""
    from warmup.outbox.status import status

    ledger = open_ledger(ledger_url)
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", policy=str(policy))
    outbox = Outbox(ledger)
    outbox.add_many(
        [plain(f"d{i}@example.com") for i in range(100)], mailbox=BOX, campaign="dec", now=AT
    )
    outbox.add_many(
        [_to_two("x1@example.com", "y1@example.com"), _to_two("x2@example.com", "y2@example.com")],
        mailbox=BOX,
        campaign="dec",
        now=AT,
    )
    outbox.add_many(
        [plain(f"n{i}@example.com") for i in range(40)], mailbox=BOX, campaign="next", now=AT
    )
    gone = [f"d{i}@example.com" for i in range(60)] + ["x1@example.com", "y1@example.com"]
    ledger.suppress([*gone, "x2@example.com"], "manual", "asked", AT)
    got = status(ledger, at=AT)
    dec, nxt = got["campaigns"]
    # dec: 40 + 1 recipients today; next: 9 today, 31 tomorrow
    assert (dec["finish"], nxt["finish"]) == (_day(0), _day(1)), got
    assert (dec["campaign"], dec["queued"], dec["suppressed"]) == ("dec", 102, 61)
    assert (nxt["suppressed"], dec["finished"]) == (0, False)
    assert got["targets"] == [
        {"target": f"mailbox {BOX}", "recipients": 81, "finish": _day(1), "suppressed": 61}
    ]
    ledger.close()


def test_a_campaign_whose_every_queued_recipient_is_suppressed_says_so_and_the_worker_agrees(
    sink, ssl_cert_env, password, tmp_path
):
    """Two messages of campaign dec, then both recipients suppressed ('warmup suppress add'):
    'queue status' said 2 queued and a date to be done by, 'queue list' when each was due. The
    worker cancels them when it comes to them: they are said not to be sent, and the
    campaign is done once it has."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        ids = [
            Outbox(ledger).add(plain(f"r{i}@example.com"), pool="P", campaign="dec")
            for i in range(2)
        ]
        keep = Outbox(ledger).add(_to_two("k@example.com", "r0@example.com"), pool="P")
    finally:
        ledger.close()
    for i in range(2):
        res = cli("suppress", "add", f"r{i}@example.com", "--reason", "asked")
        assert res.returncode == 0, res.stderr

    res = cli("queue", "status")
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("dec"))
    assert row.split()[-3:] == ["none", "to", "send"], res.stdout
    assert (
        "Campaign dec: 2 queued messages will not be sent: each has only suppressed "
        "recipients, and the worker cancels them when it comes to them (left out of DONE BY; "
        "'warmup suppress remove ADDRESS' first to send one)." in res.stdout
    ), res.stdout
    data = json.loads(cli("queue", "status", "--json").stdout)
    dec = next(c for c in data["campaigns"] if c["campaign"] == "dec")
    assert (dec["queued"], dec["suppressed"], dec["finish"], dec["finished"]) == (2, 2, None, False)

    listed = {m["id"]: m for m in json.loads(cli("queue", "list", "--json").stdout)}
    for mid, name in zip(ids, ("r0@example.com", "r1@example.com"), strict=True):
        assert (listed[mid]["suppressed"], listed[mid]["due"]) == ([name], None)
    assert listed[keep]["suppressed"] == ["r0@example.com"] and listed[keep]["due"] is not None
    table = cli("queue", "list").stdout
    assert sum("never: suppressed" in line for line in table.splitlines()) == 2, table
    shown = cli("queue", "show", str(ids[0])).stdout
    assert "suppressed: r0@example.com (not sent to)" in shown, shown
    assert "due: never: every recipient is suppressed; the worker cancels it" in shown, shown
    assert "due: never" not in cli("queue", "show", str(keep)).stdout

    ledger = open_ledger()
    try:  # the live view of 'warmup run', as 'queue status' says it
        snap = snapshot(ledger, api.now_utc(), pool="P")
    finally:
        ledger.close()
    assert {c["campaign"]: c["finish"] for c in snap["campaigns"]}["dec"] == "none to send"

    res = cli("run", "--once")  # what status said: both cancelled, the other goes to k only
    assert res.returncode == 0, res.stderr
    assert [m.rcpt_tos for m in sink.messages] == [("k@example.com",)]
    data = json.loads(cli("queue", "status", "--json").stdout)
    dec = next(c for c in data["campaigns"] if c["campaign"] == "dec")
    assert (dec["cancelled"], dec["suppressed"], dec["finished"]) == (2, 0, True)
    row = next(line for line in cli("queue", "status").stdout.splitlines() if "dec" in line)
    assert row.endswith("done"), row


def test_the_worker_leaves_out_what_status_leaves_out(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """What status calls not to be sent is what the worker does not send: the counts it gave
    before the pass are the pass's cancellations."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger(ledger_url)
    try:
        outbox = Outbox(ledger)
        outbox.add_many([plain(f"r{i}@example.com") for i in range(6)], pool="P", campaign="c")
        ledger.suppress([f"r{i}@example.com" for i in range(0, 6, 2)], "hard", "550 5.1.1")
        from warmup.outbox.status import status

        said = status(ledger)["campaigns"][0]["suppressed"]
        with Worker(ledger) as worker:
            done = worker.run_once()
    finally:
        ledger.close()
    assert said == 3 and done.outcomes == {"cancelled": 3, "sent": 3}
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
        "r1@example.com",
        "r3@example.com",
        "r5@example.com",
    ]


def test_the_live_view_says_a_campaigns_unknown_messages_as_queue_status_does(
    pki, ssl_cert_env, password, tmp_path
):
    """Campaign dec: its first message 'unknown' (the connection dropped under its data), its
    other queued to a recipient suppressed since. Nothing of it will be sent, and a person must
    decide whether the first went: 'queue status' says "1 unknown", the live view said "none to
    send"; with the other cancelled, the view said "done" where 'queue status' still said
    "1 unknown"."""
    from tests.outboxkit import members_sink

    with members_sink(pki, 1) as dropping:
        dropping.drop_mid_data = True
        pool_of(dropping.port, tmp_path, n=1, daily=50)
        ledger = open_ledger()
        try:
            first, other = (
                Outbox(ledger).add(plain(f"r{i}@example.com"), pool="P", campaign="dec")
                for i in range(2)
            )
            with Worker(ledger, timeout=5) as worker:
                worker.run_once()
            assert (ledger.message(first).state, ledger.message(other).state) == (
                "unknown",
                "queued",
            )
        finally:
            ledger.close()
    assert cli("suppress", "add", "r1@example.com", "--reason", "asked").returncode == 0

    def both() -> tuple[str, str]:
        row = next(x for x in cli("queue", "status").stdout.splitlines() if x.startswith("dec"))
        ledger = open_ledger()
        try:
            snap = snapshot(ledger, api.now_utc(), pool="P")
        finally:
            ledger.close()
        (dec,) = [c for c in snap["campaigns"] if c["campaign"] == "dec"]
        shown = next(x for x in render(snap) if x.startswith("dec"))
        assert shown.endswith(dec["finish"]), shown
        return row, dec["finish"]

    row, finish = both()
    assert row.endswith("1 unknown") and finish == "1 unknown", (row, finish)
    assert cli("queue", "cancel", str(other)).returncode == 0
    row, finish = both()
    assert row.endswith("1 unknown") and finish == "1 unknown", (row, finish)
