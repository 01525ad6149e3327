"""The worker's rules with time passed in (never slept through): back-off, expiry, follow-ups
staying with their mailbox, and recovery of a dead worker's claims."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import policy_changes_at
from tests.gatekit import PASSWORD_ENV, cli, policy_file
from tests.outboxkit import accounts, add_box, clear_of_midnight, midday_zone, pool_of
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.zonekit import SHANGHAI, kit_zone
from warmup import Gate, Outbox
from warmup.errors import Unavailable
from warmup.ledger import open_ledger
from warmup.ledger.values import day_start, local_day
from warmup.outbox.worker import HOST, LEASE, PLACE, Worker, backoff

T0 = clear_of_midnight(zone=kit_zone())  # the worker's clock runs on from it, in one day


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def message(to: str, subject: str = "hi") -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("hello")
    return msg


def test_a_4xx_backs_off_then_goes_and_a_message_past_its_expiry_expires(
    sink, ssl_cert_env, password, tmp_path
):
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {
        "late@example.com": (450, "4.2.0 greylisted, try again later"),
        "never@example.com": (450, "4.2.0 greylisted, try again later"),
    }
    ledger = open_ledger()
    box = Outbox(ledger)
    late = box.add(message("late@example.com"), pool="P", now=T0)
    never = box.add(
        message("never@example.com"), pool="P", expires=dt.timedelta(minutes=10), now=T0
    )
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        done = worker.run_once()
        assert done.outcomes == {"deferred": 2}
        row = ledger.message(late)
        assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 1, T0 + backoff(1))
        assert "450" in (row.last_reply or "") and "greylisted" in (row.last_reply or "")
        assert done.next_due == T0 + backoff(1)
        assert worker.run_once().outcomes == {}  # nothing due yet: no attempt
        assert sink.messages == []

        clock.at = T0 + backoff(1) + dt.timedelta(seconds=1)
        sink.reject_rcpt = {"never@example.com": (450, "4.2.0 greylisted, try again later")}
        assert worker.run_once().outcomes == {"sent": 1, "deferred": 1}
        # no try fits before its expiry (the next back-off ends after it): it waits until
        # then, not given up before its time
        row = ledger.message(never)
        assert (row.state, row.next_attempt_at) == ("queued", T0 + dt.timedelta(minutes=10))
        clock.at = T0 + dt.timedelta(minutes=10)
        done = worker.run_once()
    assert done.outcomes == {"expired": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("late@example.com",)]
    assert ledger.message(late).state == "sent"
    gone = ledger.message(never)
    assert (gone.state, gone.attempts) == ("expired", 2)
    assert backoff(2) == 2 * backoff(1)


@pytest.mark.parametrize(
    ("reply", "final"),
    [
        ((552, "5.3.4 Message size exceeds fixed limit"), True),
        ((552, "5.2.3 Message length exceeds administrative limit"), True),
        ((552, "5.2.2 Mailbox full"), False),  # may have room tomorrow: retried
        # Without an enhanced status code, the words: Exim's, and aiosmtpd's (Python's own
        # SMTP servers) past their data_size_limit. Read by the code alone, they were retried
        # every few minutes for 72 hours, the whole message uploaded and a slot used each time.
        ((552, "Message size exceeds maximum permitted"), True),
        ((552, "Error: Too much mail data"), True),
        ((552, "Requested mail action aborted: exceeded storage allocation"), False),
    ],
)
def test_a_message_refused_for_its_size_is_not_retried_until_it_expires(
    sink, ssl_cert_env, password, tmp_path, reply, final
):
    """A 5xx refusal of the message's size is final for this message: retried, it took a slot
    of the quota at each try for 72 hours. It is no bounce of the recipient's either (it was a
    soft one, in the mailbox's bounce rate): the slot is given back, as at MAIL FROM."""
    [box] = pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.data_reply = reply
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("big@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == ({"bounced": 1} if final else {"deferred": 1})
    row = ledger.message(mid)
    assert row.state == ("bounced" if final else "queued") and reply[1] in (row.last_reply or "")
    assert not ledger.suppressed(["big@example.com"])  # the recipient did nothing wrong
    with Gate(box, ledger=ledger) as gate:
        allowance, _ = gate.preview(["x@example.com"], now=T0 + dt.timedelta(minutes=1))
    # a full mailbox is the recipient's soft bounce, its slot spent; a message too big, nobody's
    assert allowance.remaining == (50 if final else 49)


def test_a_message_over_the_servers_size_ends_bounced_without_mail_from(
    pki, ssl_cert_env, password, tmp_path
):
    """Over the SIZE the server's EHLO names, the message is refused before MAIL FROM (it
    would be refused at the end of DATA): final, as that 552 is, but no slot used, no bounce
    counted against the recipient, and not retried as if the server were down."""
    with SmtpSink(
        "ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts(1),
        size_limit=2000,
    ) as big_sink:  # fmt: skip
        [box] = pool_of(big_sink.port, tmp_path, n=1, daily=50)
        ledger = open_ledger()
        msg = message("big@example.com")
        msg.set_content("y" * 5000)
        mid = Outbox(ledger).add(msg, pool="P", now=T0)
        with Worker(ledger, clock=Clock(T0)) as worker:
            assert worker.run_once().outcomes == {"bounced": 1}
        assert big_sink.mail_commands == 0 and big_sink.messages == []
    row = ledger.message(mid)
    assert row.state == "bounced" and "SIZE" in (row.last_reply or "")
    with Gate(box, ledger=ledger) as gate:
        assert gate.preview(["x@example.com"])[0].remaining == 50  # no slot spent


def test_a_follow_up_stays_with_the_member_that_mailed_the_recipient(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    Outbox(ledger).add(message("y@example.com", "other"), pool="P")
    Outbox(ledger).add(message("x@example.com", "first"), pool="P")
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 2}
        Outbox(ledger).add(message("x@example.com", "follow-up"), pool="P")
        Outbox(ledger).add(message("z@example.com", "new"), pool="P")
        assert worker.run_once().outcomes == {"sent": 2}
    sent = {str(m.message["Subject"]): str(m.message["From"]) for m in sink.messages}
    # Both had as much left each time; ties go to the first address, except the follow-up: x
    # was mailed from b.
    assert sent == {"other": a, "first": b, "follow-up": b, "new": a}


def test_a_reply_goes_from_the_member_that_sent_the_message_it_answers(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    outbox = Outbox(ledger)

    def send(to: str, subject: str, **headers: str) -> str:
        msg = message(to, subject)
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        outbox.add(msg, pool="P")
        with Worker(ledger) as worker:
            assert worker.run_once().outcomes == {"sent": 1}
        got = sink.messages[-1].message
        assert str(got["Subject"]) == subject
        return str(got["From"])

    assert send("r1@example.com", "A") == a  # a tie: the first address
    first = str(sink.messages[-1].message["Message-ID"])
    # To another recipient, b having more room left: the thread stays with a.
    assert send("r2@example.com", "re: A", In_Reply_To=first) == a
    assert send("r3@example.com", "unknown", In_Reply_To="<nobody@nowhere.example>") == b
    # Long enough to be folded over several lines.
    several = f"<{'x' * 40}@nowhere.example> {first} <{'y' * 40}@nowhere.example>"
    assert send("r4@example.com", "refs", References=several) == a
    # A message that never was in the outbox (warmup send, the relay, the API): the same.
    with Gate(a, ledger=ledger) as gate:  # its SMTP session closed
        report = gate.send(message("r5@example.com", "direct"))
    direct = str(sink.messages[-1].message["Message-ID"])
    assert report.results["r5@example.com"].outcome == "sent"
    assert send("r6@example.com", "re: direct", In_Reply_To=direct) == a  # b: 1 sent, a: 4
    assert send("r7@example.com", "plain") == b


def test_a_follow_up_its_member_can_never_send_goes_from_another_not_bounced(
    sink, ssl_cert_env, password, tmp_path
):
    """A message to five, one of whom a mailbox capped at 3 a day mailed before, queued to a
    pool whose other member sends 10 a day: 'queue add' took it (a member can send it), but
    the worker kept it to the member its recipient stays with, found that member never sends
    to five in a day, and bounced it untried: a campaign's message lost for good."""
    add_box("a@corp.example", sink.port, str(policy_file(tmp_path / "three.toml", daily=3)))
    add_box("b@corp.example", sink.port, str(policy_file(tmp_path / "ten.toml", daily=10)))
    assert cli("pool", "add", "P", "a@corp.example", "b@corp.example").returncode == 0
    ledger = open_ledger()
    outbox = Outbox(ledger)
    outbox.add(message("r1@example.com", "first"), mailbox="a@corp.example", now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
        five = message("r1@example.com", "to five")
        five["Cc"] = "r2@example.com, r3@example.com, r4@example.com, r5@example.com"
        mid = outbox.add(five, pool="P", now=T0)
        clock.at = T0 + dt.timedelta(minutes=1)
        assert worker.run_once().outcomes == {"sent": 1}
    assert ledger.message(mid).state == "sent"
    got = sink.messages[-1]
    assert (str(got.message["Subject"]), got.mail_from) == ("to five", "b@corp.example")
    assert len(got.rcpt_tos) == 5


def test_a_follow_up_whose_member_cannot_send_at_all_goes_from_another(
    sink, ssl_cert_env, password, tmp_path
):
    """The member a follow-up stays with has its server unreachable (or its login refused, or
    no password): the pool passes any other message on to the next member, but the follow-up
    backed off from that member alone, try after try, until it expired unsent, the pool's
    other member idle all along."""
    from tests.peers.smtp import free_port

    a, b = pool_of(sink.port, tmp_path, n=2, daily=10)
    ledger = open_ledger()
    outbox = Outbox(ledger)
    outbox.add(message("r1@example.com", "first"), mailbox=a, now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    assert cli("mailbox", "set", a, "--smtp-port", str(free_port())).returncode == 0
    mid = outbox.add(message("r1@example.com", "follow-up"), pool="P", now=T0)
    clock.at = T0 + dt.timedelta(minutes=1)
    lines: list[str] = []
    with Worker(ledger, clock=clock, log=lines.append) as worker:
        done = worker.run_once()
    assert (done.outcomes, done.fault_code) == ({"sent": 1}, 0)
    assert f"{a} could not send #{mid}: cannot reach the SMTP server" in lines[0], lines
    assert ledger.message(mid).state == "sent"
    got = sink.messages[-1]
    assert (str(got.message["Subject"]), got.mail_from) == ("follow-up", b)


def test_a_reply_to_a_mailbox_that_left_the_pool_takes_the_usual_choice(
    pki, ssl_cert_env, password, tmp_path
):
    """The gate and the worker read the real time: the members live where it is midday (a
    Shanghai midnight between b's send and the worker's choice gave b its room back)."""
    with SmtpSink(
        "ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts(3)
    ) as sink:
        a, b, c = pool_of(sink.port, tmp_path, n=3, daily=50, zone=midday_zone())
        assert cli("pool", "add", "Q", b, c).returncode == 0
        ledger = open_ledger()
        for box, to, subject in ((a, "r1@example.com", "A"), (b, "r2@example.com", "B")):
            with Gate(box, ledger=ledger) as gate:  # its SMTP session closed
                gate.send(message(to, subject))
        first = str(sink.messages[0].message["Message-ID"])
        reply = message("r3@example.com", "re: A")
        reply["In-Reply-To"] = first
        Outbox(ledger).add(reply, pool="Q")
        with Worker(ledger) as worker:
            assert worker.run_once().outcomes == {"sent": 1}
        assert str(sink.messages[-1].message["From"]) == c  # a is not in Q; c has more room


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_workers_claim_is_queued_again_unless_a_reservation_says_it_may_have_left(
    sink, tmp_path
):
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    box = Outbox(ledger)
    ids = [box.add(message(f"r{i}@example.com"), pool="P", now=T0) for i in range(4)]
    dead = f"{HOST}:{_dead_pid()}:{PLACE}:dead"
    alive = f"{HOST}:{os.getpid()}:{PLACE}:other"
    far = "elsewhere.example:1234:abcd"
    claimed = [ledger.claim(w, T0) for w in (dead, dead, alive, far)]
    assert [c.id for c in claimed if c] == ids
    # The second reached the gate: its slot is reserved (the worker died in the conversation).
    with Gate("a@corp.example", ledger=ledger) as gate:
        assert claimed[1] is not None
        gate.reserve(["r1@example.com"], claimed[1].message_id, now=T0)

    worker = Worker(ledger, clock=Clock(T0 + dt.timedelta(minutes=1)))
    assert sorted(worker.recover(T0 + dt.timedelta(minutes=1))) == ["queued", "unknown"]
    got = {i: ledger.message(i) for i in ids}
    assert got[ids[0]].state == "queued" and "before the message left" in (
        got[ids[0]].last_reply or ""
    )
    assert got[ids[1]].state == "unknown" and "never re-sent" in (got[ids[1]].last_reply or "")
    # A live worker on this host, and a claim from another host within its lease: left alone.
    assert (got[ids[2]].state, got[ids[3]].state) == ("sending", "sending")
    later = T0 + LEASE + dt.timedelta(minutes=1)
    assert worker.recover(later) == ["queued", "queued"]  # both older than the lease now
    worker.close()


def test_a_claim_whose_pid_runs_another_program_now_is_recovered_before_the_lease(sink, tmp_path):
    """A worker's claim named its pid alone: once the worker was gone and the kernel gave that
    pid to another program, the claim looked alive and its message stayed ``sending`` until
    the lease ran out (15 minutes). Its id names its start now, as a reservation does: a live
    pid started at another time is not the worker."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("lead@example.com"), pool="P", now=T0)
    # This test's own pid, with a start it did not have: the pid given again since.
    reused = f"{HOST}:{os.getpid()}:{PLACE}.1:gone"
    assert ledger.claim(reused, T0) is not None
    with Worker(ledger, clock=Clock(T0 + dt.timedelta(minutes=1))) as worker:
        assert worker.id.split(":")[2].startswith(f"{PLACE}.")  # its own start, named
        assert worker.recover(T0 + dt.timedelta(minutes=1)) == ["queued"]
    assert ledger.message(mid).state == "queued"


def test_a_message_whose_claim_another_worker_took_over_is_lost_not_said_unknown(sink, tmp_path):
    """A worker that found a message's fate in its slots (here: another member's reservation
    says it may have left) settles it from them; when another worker had taken its claim over
    meanwhile (past the lease), that settling finds no claim. The worker said and counted it
    "unknown ... ('warmup queue retry N' resends it)", whatever the other worker had made of
    it: a retry that would mail a message that may have left, or a refused one. It is "lost",
    as a reservation that finds its claim gone is, with where to see what became of it."""
    first, _ = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("lead@example.com"), pool="P", now=T0)
    lines: list[str] = []
    later = T0 + LEASE + dt.timedelta(minutes=1)
    with Worker(ledger, clock=Clock(T0), log=lines.append) as slow:
        msg = ledger.claim(slow.id, T0)
        assert msg is not None and msg.id == mid
        with Gate(first, ledger=ledger) as gate:  # the first member's conversation, cut off
            gate.reserve(["lead@example.com"], msg.message_id, now=T0)
        with Worker(ledger, clock=Clock(later)) as other:
            assert other.recover(later) == ["unknown"]  # slow's lease ran out
        assert slow.delivery.deliver(msg) == "lost"
    assert lines == [
        f"{T0.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} lost #{mid} {msg.message_id}: its claim ran past the lease and another "
        f"worker took it over; 'warmup queue show {mid}' says what became of it"
    ], lines
    row = ledger.message(mid)  # as the other worker left it: 'queue show' says so
    assert (row.state, row.claimed_by) == ("unknown", None)
    assert "'warmup queue retry" in (row.last_reply or "")
    assert sink.messages == []
    ledger.close()


def test_a_message_cancelled_while_its_dead_worker_held_it_is_recovered_as_cancelled(
    sink,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """'queue cancel ID' (or --campaign) of a message being sent marks it; its worker died
    before it reached the gate: recovery would queue it again, it is cancelled instead. One
    that had reached the gate stays unknown (it may have left: the truth, not the wish)."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    box = Outbox(ledger)
    ids = [box.add(message(f"r{i}@example.com"), pool="P", now=T0) for i in range(2)]
    dead = f"{HOST}:{_dead_pid()}:{PLACE}:dead"
    claimed = [ledger.claim(dead, T0) for _ in ids]
    with Gate("a@corp.example", ledger=ledger) as gate:
        assert claimed[1] is not None
        gate.reserve(["r1@example.com"], claimed[1].message_id, now=T0)
    for i in ids:
        res = cli("queue", "cancel", str(i))
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("Cancelled 0 messages.\n1 message is being sent now")
    with Worker(ledger, clock=Clock(T0 + dt.timedelta(minutes=1))) as worker:
        assert sorted(worker.recover(T0 + dt.timedelta(minutes=1))) == ["cancelled", "unknown"]
    assert [ledger.message(i).state for i in ids] == ["cancelled", "unknown"]
    assert "cancelled by hand" in (ledger.message(ids[0]).last_reply or "")
    res = cli("queue", "cancel", str(ids[0]))  # a cancelled one: refused as before
    assert res.returncode == 65 and "only a queued message" in res.stderr
    ledger.close()  # on PostgreSQL, its pooled connections left open until collected


def test_an_unknown_message_is_retried_by_hand_under_a_new_message_id(
    sink, ssl_cert_env, password, tmp_path
):
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("r@example.com"), pool="P")
    assert mid is not None
    sink.drop_mid_data = True  # the server has it; the client never hears back
    with Worker(ledger, timeout=2) as worker:
        assert worker.run_once().outcomes == {"unknown": 1}
    first = ledger.message(mid)
    assert first.state == "unknown"
    res = cli("queue", "retry", str(mid))
    assert res.returncode == 0, res.stderr
    again = ledger.message(mid)
    assert again.state == "queued" and again.message_id != first.message_id
    assert again.message_id in res.stdout
    # Of the pool's domain, as the first was: a pool's message has no From until a member
    # sends it, and the new one was '<...@localhost>', a mark of spam to a receiving filter.
    assert again.message_id.endswith("@corp.example>"), again.message_id
    assert first.message_id.endswith("@corp.example>"), first.message_id
    sink.drop_mid_data = False
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    ids = [str(m.message["Message-ID"]) for m in sink.messages]
    assert ids == [first.message_id, again.message_id]
    res = cli("queue", "retry", str(mid))
    assert (
        res.returncode == 65
        and "is sent: only a queued, unknown, expired or cancelled message" in res.stderr
    )


def test_an_outcome_riding_on_a_claim_that_fails_is_still_written(
    sink, ssl_cert_env, password, tmp_path, monkeypatch
):
    """The outcome of a message is written in the next claim's transaction; when that claim
    fails (the ledger busy or gone), the outcome must not go down with it."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    first = Outbox(ledger).add(message("one@example.com"), pool="P", now=T0)
    Outbox(ledger).add(message("two@example.com"), pool="P", now=T0)
    claims = []
    real_claim = ledger.claim

    def claim_then_fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims.append(kwargs.get("settle"))
        if len(claims) == 2:  # the claim carrying the first message's outcome
            raise Unavailable("the ledger went away")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(ledger, "claim", claim_then_fail)
    with Worker(ledger, clock=Clock(T0)) as worker, pytest.raises(Unavailable):
        worker.run_once()
    assert claims[1] is not None and claims[1].message == first
    assert ledger.message(first).state == "sent"  # written alone when the pass ended


# A SIGTERM landing while the main thread is inside Event.wait/clear, holding that event's lock
# (not reentrant): the handler ran Worker.stop on the same thread, which set the event and so
# waited for the lock its own thread held. `warmup run` hung for good (seen in a CI run).
_STOP_WHILE_LOCKED = """
import os, signal, sys
from warmup.ledger import open_ledger
from warmup.ledger.values import day_start, local_day
from warmup.outbox.worker import Worker

worker = Worker(open_ledger(sys.argv[1]))
signal.signal(signal.SIGTERM, lambda *_: worker.stop())
with worker._wake._cond:  # where Event.wait and Event.clear hold it, at the signal's moment
    os.kill(os.getpid(), signal.SIGTERM)
assert worker.stopping
assert worker.wait(30), "stop() did not end the sleep"
print("stopped")
"""


def test_a_sigterm_while_the_worker_holds_its_wake_lock_still_stops_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _STOP_WHILE_LOCKED, str(tmp_path / "l.db")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout) == (0, "stopped\n"), proc.stderr


def test_a_member_that_cannot_be_reached_does_not_stall_its_pool(
    sink, ssl_cert_env, password, tmp_path
):
    """a's SMTP server is down. a has as much left as b and the first address, so it is every
    message's first choice: a failure that says nothing left (unreachable, login refused) must
    pass the message on to b, as a refusal of the plan does, instead of deferring it and every
    other message behind a mailbox that cannot send at all. The worker and 'quota' read the
    real time: the members live where it is midday (after a Shanghai midnight between them,
    'quota' said b had sent none today)."""
    from tests.peers.smtp import free_port

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50, zone=midday_zone())
    assert cli("mailbox", "set", a, "--smtp-port", str(free_port())).returncode == 0
    ledger = open_ledger()
    for i in range(3):
        Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P")
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 3}
    assert [str(m.message["From"]) for m in sink.messages] == [b, b, b]
    quota = json.loads(cli("quota", a, b, "--json").stdout)
    assert {q["mailbox"]: q["sent"] for q in quota} == {a: 0, b: 3}  # a is charged nothing


def test_a_member_whose_server_never_answers_is_waited_for_once_a_pass(
    sink, ssl_cert_env, password, tmp_path, silent_server
):
    """a's server accepts the connection and never greets: each try costs the whole SMTP
    timeout (60 s by default). The pass learns it once and sends the rest from b at once,
    instead of waiting the timeout again for every message."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    assert cli("mailbox", "set", a, "--smtp-port", str(silent_server.port)).returncode == 0
    ledger = open_ledger()
    for i in range(3):
        Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P")
    lines: list[str] = []
    with Worker(ledger, timeout=1.0, log=lines.append) as worker:
        assert worker.run_once().outcomes == {"sent": 3}
    assert [str(m.message["From"]) for m in sink.messages] == [b, b, b]
    tried = [line for line in lines if f"{a} could not send" in line]
    assert len(tried) == 1, lines


def test_a_message_deferred_before_its_turn_counts_no_try(sink, ssl_cert_env, password, tmp_path):
    """The server is down: the first message of the pass meets it (a try, counted), and its
    mailbox is set aside for the rest of the pass, so the messages after it are deferred
    without any server being asked. Each was counted a try all the same, every pass, so a
    message sent at its first real try said TRIES 3. They back off as the tried one does (no
    retry every 5 s), with no try counted; once the server is back, the two sent at their
    first try say 1.

    'mailbox set' makes them due by the wall clock: the worker's starts at this test's start,
    not at the module's T0 (imported up to the whole suite's run earlier, 23 minutes in a CI
    run: by then the wall clock had passed the back-offs the worker's clock had not, nothing
    was released, and nothing was due to the worker). Nor may it move its clock back from
    the last hours of a Shanghai day, as :func:`clear_of_midnight` does: from 13:00 to 16:00
    UTC the release came 3 hours after the worker's clock. The mailbox lives in a zone where
    it is midday now, and the worker's clock is the wall clock."""
    from tests.peers.smtp import free_port

    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)

    [a] = pool_of(sink.port, tmp_path, n=1, daily=50, zone=midday_zone(t0))
    assert cli("mailbox", "set", a, "--smtp-port", str(free_port())).returncode == 0
    ledger = open_ledger()
    ids = [
        Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P", now=t0)
        for i in range(3)
    ]
    clock = Clock(t0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"deferred": 3}
        rows = [ledger.message(i) for i in ids]
        assert [(r.state, r.attempts, r.next_attempt_at) for r in rows] == [
            ("queued", 1, t0 + backoff(1)),
            ("queued", 0, t0 + backoff(1)),
            ("queued", 0, t0 + backoff(1)),
        ]
        clock.at = t0 + backoff(1) + dt.timedelta(seconds=1)
        assert worker.run_once().outcomes == {"deferred": 3}
        assert [ledger.message(i).attempts for i in ids] == [2, 0, 0]
        # the fix ('mailbox set') makes them due at once
        assert cli("mailbox", "set", a, "--smtp-port", str(sink.port)).returncode == 0
        clock.at += dt.timedelta(seconds=1)
        assert worker.run_once().outcomes == {"sent": 3}
        assert [(ledger.message(i).state, ledger.message(i).attempts) for i in ids] == [
            ("sent", 3),
            ("sent", 1),
            ("sent", 1),
        ]


@pytest.mark.parametrize(
    ("fault", "reply"),
    [
        ("reject_mail", (550, "5.7.1 Sender account is disabled")),
        ("data_reply", (421, "4.4.2 smtp.corp.example Error: timeout exceeded")),
    ],
    ids=["MAIL FROM refused", "421 to the end of DATA"],
)
def test_a_member_whose_server_refuses_its_sender_backs_off_instead_of_retrying_every_5s(
    sink, ssl_cert_env, password, pki, tmp_path, fault, reply
):
    """The server refuses MAIL FROM with a 5xx (a disabled account), or ends the session with
    a 421 that is no throttle at the end of DATA (Postfix's timeout, a server going down):
    nothing reached anyone, so the recipients are given back, but the member failed, not the
    message. It passes the messages to the next member, as an unreachable one does; alone,
    the pass tries it once and every message backs off as a try does, instead of coming back
    every 5 s, not a try, each mailing the refusing server again until the messages expire.
    (The 421 did: its 'released' replies were final, and each message went back to the member
    with the most left, its whole data uploaded again, b never used.) Only the message each
    member was tried with counts a try (attempts 1, then 2): those after it, never tried, were
    counted one each pass too."""
    from tests.outboxkit import members_sink

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    with members_sink(pki, 2) as refusing:
        setattr(refusing, fault, reply)
        assert cli("mailbox", "set", a, "--smtp-port", str(refusing.port)).returncode == 0
        ledger = open_ledger()
        ids = [
            Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P", now=T0)
            for i in range(3)
        ]
        clock = Clock(T0)
        lines: list[str] = []
        with Worker(ledger, clock=clock, log=lines.append) as worker:
            assert worker.run_once().outcomes == {"sent": 3}  # a refused: b sent them all
            assert [str(m.message["From"]) for m in sink.messages] == [b, b, b]
            assert refusing.mail_commands == 1  # once a pass, not once a message
            assert len([line for line in lines if f"{a} could not send" in line]) == 1, lines

            assert cli("mailbox", "set", b, "--smtp-port", str(refusing.port)).returncode == 0
            late = [
                Outbox(ledger).add(message(f"y{i}@example.com", f"n{i}"), pool="P", now=T0)
                for i in range(3)
            ]
            refusing.clear()
            done = worker.run_once()
            assert done.outcomes == {"deferred": 3}, lines
            assert refusing.mail_commands == 2  # each member once
            rows = [ledger.message(i) for i in late]
            assert [(r.state, r.attempts, r.next_attempt_at) for r in rows] == [
                ("queued", 1, T0 + backoff(1)),  # tried by a and b
                ("queued", 0, T0 + backoff(1)),  # untried: both set aside before its turn
                ("queued", 0, T0 + backoff(1)),
            ]
            assert all(f"{reply[0]} {reply[1]}" in (r.last_reply or "") for r in rows)
            clock.at = T0 + dt.timedelta(seconds=6)
            assert worker.run_once().outcomes == {}  # backed off: nothing due, nothing mailed
            assert refusing.mail_commands == 2
            clock.at = T0 + backoff(1) + dt.timedelta(seconds=1)
            assert worker.run_once().outcomes == {"deferred": 3}
            assert refusing.mail_commands == 4
            assert [ledger.message(i).attempts for i in late] == [2, 0, 0]
        assert {ledger.message(i).state for i in ids} == {"sent"}
        assert ledger.suppressed([f"y{i}@example.com" for i in range(3)]) == {}


def test_a_sender_refused_for_good_at_mail_from_passes_its_messages_on_and_run_once_says_69(
    sink, ssl_cert_env, pki, tmp_path
):
    """'550 5.7.1 Sender account is disabled' to MAIL FROM: 'warmup send' exits 69 ("a retry
    will be refused too"), but 'run --once' backed the messages off and exited 0, so cron told
    no one until they expired. As for a refused login: the other member sends them, and when
    none can, the messages back off (tried by no one: nothing reached, counted or suppressed,
    no slot kept) and 'run --once' exits 69 with one line saying what to do. Its runs and
    'quota' read the real time: the members live where it is midday."""
    from tests.outboxkit import members_sink

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50, zone=midday_zone())
    with members_sink(pki, 2) as refusing:
        refusing.reject_mail = (550, "5.7.1 Sender account is disabled")
        assert cli("mailbox", "set", a, "--smtp-port", str(refusing.port)).returncode == 0
        ledger = open_ledger()
        first = [Outbox(ledger).add(message(f"x{i}@example.com"), pool="P") for i in range(2)]
        res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
        assert res.returncode == 0, res.stdout + res.stderr  # b could: no fault of the pass
        assert [str(m.message["From"]) for m in sink.messages] == [b, b]
        assert {ledger.message(i).state for i in first} == {"sent"}

        assert cli("mailbox", "set", b, "--smtp-port", str(refusing.port)).returncode == 0
        late = [Outbox(ledger).add(message(f"y{i}@example.com"), pool="P") for i in range(2)]
        res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
        assert refusing.messages == []
    assert res.returncode == 69, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith(
        "Error: 2 messages could go from no mailbox, each refused for a fault to fix: "
    ), res.stderr
    assert "(MAIL FROM: 550 5.7.1 Sender account is disabled)" in res.stderr, res.stderr
    assert "ask the provider why" in res.stderr, res.stderr
    rows = [ledger.message(i) for i in late]
    assert [(r.state, r.attempts, tuple(r.recipients)) for r in rows] == [
        ("queued", 1, ("y0@example.com",)),
        ("queued", 0, ("y1@example.com",)),  # never tried: both members set aside before it
    ]
    assert all(r.next_attempt_at > dt.datetime.now(dt.UTC) for r in rows)
    assert ledger.suppressed(["y0@example.com", "y1@example.com"]) == {}
    quota = json.loads(cli("quota", a, b, "--json").stdout)
    assert {q["mailbox"]: q["sent"] for q in quota} == {a: 0, b: 2}  # no slot kept for a try
    ledger.close()


def test_a_member_whose_connection_breaks_during_data_is_set_aside_for_the_pass(
    sink, ssl_cert_env, password, pki, tmp_path
):
    """a's server reads each message, then drops the connection without answering the end of
    DATA (a content filter timing out, a proxy cutting every upload). The message is
    ``unknown`` (it may have left: a person decides), and a is set aside for the rest of the
    pass as an unreachable member is: b sends the others. The pass went on handing messages
    to a (the member with the most left), each one more ``unknown`` waiting for a person:
    two of three here, half of a campaign of thousands."""
    from tests.outboxkit import members_sink

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    with members_sink(pki, 2) as dropping:
        dropping.drop_mid_data = True
        assert cli("mailbox", "set", a, "--smtp-port", str(dropping.port)).returncode == 0
        ledger = open_ledger()
        ids = [
            Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P", now=T0)
            for i in range(4)
        ]
        with Worker(ledger, clock=Clock(T0), timeout=5) as worker:
            assert worker.run_once().outcomes == {"unknown": 1, "sent": 3}
        assert len(dropping.messages) == 1
        assert [str(m.message["From"]) for m in sink.messages] == [b, b, b]
        states = [ledger.message(i).state for i in ids]
        assert states == ["unknown", "sent", "sent", "sent"]


def test_a_throttled_member_is_paused_on_the_workers_clock_and_the_pool_goes_on_without_it(
    sink, ssl_cert_env, password, pki, tmp_path
):
    """a's server throttles (421 rate limited): a is paused from then on, on the worker's
    clock (the gate wrote the pause at the wall clock's time, so a worker whose clock is not
    the wall's, as every test's and any API caller's with a clock of its own, found a
    unpaused and kept mailing the server that asked it to stop). The messages after it go
    from b; the throttled one waits, not a try."""
    from tests.outboxkit import members_sink

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    at = T0 + dt.timedelta(hours=2)
    with members_sink(pki, 2) as throttling:
        throttling.data_reply = (421, "4.7.0 Too many messages, rate limited, try again later")
        assert cli("mailbox", "set", a, "--smtp-port", str(throttling.port)).returncode == 0
        ledger = open_ledger()
        ids = [
            Outbox(ledger).add(message(f"x{i}@example.com", f"m{i}"), pool="P", now=at)
            for i in range(4)
        ]
        with Worker(ledger, clock=Clock(at)) as worker:
            assert worker.run_once().outcomes == {"deferred": 1, "sent": 3}
        assert throttling.mail_commands == 1
        assert [str(m.message["From"]) for m in sink.messages] == [b, b, b]
        first = ledger.message(ids[0])
        assert (first.state, first.attempts) == ("queued", 0)
        quota = json.loads(cli("quota", a, "--json", "--at", at.isoformat()).stdout)
        assert quota[0]["status"] == "paused"


def test_a_member_with_no_password_holds_its_messages_without_trying_until_it_has_one(
    sink, ssl_cert_env, tmp_path, empty_keyring
):
    """A configuration fault (no password stored, no OAuth login, no preset) is not a try that
    failed: waiting does not fix it and counting it would expire the message for nothing. The
    message is held, says what to fix, and goes by itself once it is fixed."""
    from warmup.outbox.worker import HOLD

    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    queued = Outbox(ledger).add(message("x@example.com"), pool="P", now=T0)
    clock = Clock(T0)
    lines: list[str] = []
    with Worker(ledger, clock=clock, log=lines.append) as worker:
        done = worker.run_once()
        assert done.outcomes == {"waiting": 1}
        ((why, n),) = done.waiting.items()
        assert n == 1 and f"store it with 'warmup mailbox login {a}'" in why, why
        row = ledger.message(queued)
        assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 0, T0 + HOLD)
        assert f"no password for {a}" in (row.last_reply or "")
        assert any(f"held #{queued}" in line for line in lines), lines

        clock.at = T0 + dt.timedelta(hours=71)  # long past any back-off: still no try
        assert worker.run_once().outcomes == {"waiting": 1}
        assert ledger.message(queued).attempts == 0

        assert cli("mailbox", "login", a, stdin=SMTP_PASSWORD + "\n").returncode == 0  # the fix
        clock.at += HOLD
        assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("x@example.com",)]


def _one_member_broken(sink, tmp_path, ledger_path, break_it) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Pool P of members a and b, pool Q of a alone; ``break_it(ledger, conn, a)`` makes a's
    configuration unusable. One message to each pool, one pass: b sends P's, Q's is held (not
    cancelled, not tried). ``(a, Q's message's last reply)``."""
    import sqlite3

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    assert cli("pool", "add", "Q", a).returncode == 0
    ledger = open_ledger()
    with sqlite3.connect(ledger_path) as conn:
        break_it(ledger, conn, a)
    conn.close()
    outbox = Outbox(ledger)
    pooled = outbox.add(message("x@example.com"), pool="P", now=T0)
    alone = outbox.add(message("y@example.com"), pool="Q", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        done = worker.run_once()
    assert done.outcomes == {"sent": 1, "waiting": 1}, done
    assert [str(m.message["From"]) for m in sink.messages] == [b]
    assert ledger.message(pooled).state == "sent"
    held = ledger.message(alone)
    assert (held.state, held.attempts) == ("queued", 0)
    return a, held.last_reply or ""


def test_a_member_whose_provider_preset_is_missing_is_a_fault_of_its_own_not_a_cancel(
    sink, ssl_cert_env, password, tmp_path, ledger_path
):
    """A ledger shared with a newer warmup may name a provider this one does not ship. That is
    a configuration fault of that member: the pool's other member sends, and a message only it
    could send is held (not cancelled, not tried) until the preset is there."""

    def newer(ledger, conn, a):  # type: ignore[no-untyped-def]
        conn.execute("UPDATE mailbox SET provider = 'newer' WHERE address = ?", (a,))

    a, reply = _one_member_broken(sink, tmp_path, ledger_path, newer)
    assert f"{a}: mailbox '{a}' is stored with provider 'newer'" in reply


def test_a_member_on_a_stored_policy_refused_today_is_skipped_with_its_reason(
    sink, ssl_cert_env, password, tmp_path, ledger_path
):
    """A policy an older warmup stored (a day of 0) that today's checks refuse is a fault of
    its members only: the pool's other member sends, a message only that member could send is
    held with the reason (mailbox, policy, fault, fix), and the worker goes on."""

    def refused(ledger, conn, a):  # type: ignore[no-untyped-def]
        old = policy_file(tmp_path / "old.toml", daily=50).read_text()
        # unchecked, as an older warmup stored it
        ledger.store_policy("old", old.replace("daily = 50", "daily = 0"), None, replace=False)
        conn.execute("UPDATE mailbox SET policy = 'old' WHERE address = ?", (a,))

    a, reply = _one_member_broken(sink, tmp_path, ledger_path, refused)
    assert f"{a}: mailbox {a}: policy old (version 1): " in reply, reply
    assert "'warmup policy set old FILE'" in reply


def test_an_8bit_body_goes_quoted_printable_to_a_server_without_8bitmime(
    sink, ssl_cert_env, password, tmp_path
):
    # RFC 6152: no 8-bit data to a server that did not offer 8BITMIME (it went as it was queued).
    pool_of(sink.port, tmp_path, n=1, daily=5)
    sink.eightbitmime = False
    ledger = open_ledger()
    msg = message("lead@example.com", subject="季度报告")
    msg.set_content("您好，\n这是本季度的报告。\n")
    Outbox(ledger).add(msg, pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    [got] = sink.messages
    assert got.raw.isascii()
    assert got.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert got.message.get_content() == "您好，\r\n这是本季度的报告。\r\n"
    assert got.message["Subject"] == "季度报告"


def test_a_member_removed_while_the_worker_runs_is_no_longer_chosen_and_stops_nothing(
    sink, ssl_cert_env, password, tmp_path
):
    """`mailbox remove` of a pool member while `warmup run` runs: the worker kept the pool's
    members of its first look for good, asked the removed mailbox's quota and died with a
    traceback (MailboxNotFound), leaving its claim `sending`."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    Outbox(ledger).add(message("r0@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
        res = cli("mailbox", "remove", b, "--force")
        assert res.returncode == 0, res.stderr
        for i in range(1, 4):
            Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0)
        assert worker.run_once().outcomes == {"sent": 3}
    assert [str(m.message["From"]) for m in sink.messages] == [a] * 4
    assert {m.state for m in ledger.messages()} == {"sent"}


def test_a_member_added_while_the_worker_runs_takes_its_share(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=1, name="Q")
    assert cli("pool", "add", "P", a).returncode == 0
    ledger = open_ledger()
    Outbox(ledger).add(message("r0@example.com"), pool="P", now=T0)
    with Worker(ledger, pool="P", clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"sent": 1}  # a's quota for today is used
        res = cli("pool", "add", "P", b)
        assert res.returncode == 0, res.stderr
        Outbox(ledger).add(message("r1@example.com"), pool="P", now=T0)
        assert worker.run_once().outcomes == {"sent": 1}
    assert [str(m.message["From"]) for m in sink.messages] == [a, b]


def test_a_message_that_left_is_not_sent_again_from_another_member_when_its_settle_fails(
    sink, ssl_cert_env, password, tmp_path, monkeypatch
):
    """The server took the message from a; writing the outcome then failed (the ledger busy
    past its timeout: Unavailable). The worker took that for "a could not send" and gave the
    message to b, which sent it again: the gate's one-send-per-Message-ID is per mailbox."""
    from warmup.ledger.sqlite_gate import SQLiteGate

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    sink.reject_rcpt = {"gone@example.com": (550, "5.1.1 user unknown")}  # settled at once
    ledger = open_ledger()
    msg = message("ok@example.com")
    msg["Cc"] = "gone@example.com"
    mid = Outbox(ledger).add(msg, pool="P", now=T0)
    real_settle = SQLiteGate.settle
    failed = []

    def settle_once_busy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not failed:
            failed.append(self.box.address)
            raise Unavailable("ledger l.db is unavailable: database is locked")
        return real_settle(self, *args, **kwargs)

    monkeypatch.setattr(SQLiteGate, "settle", settle_once_busy)
    with Worker(ledger, clock=Clock(T0)) as worker:
        done = worker.run_once()
    assert failed == [a]
    assert [m.rcpt_tos for m in sink.messages] == [("ok@example.com",)]  # once, from a
    # What the server said is held by the gate and written once the ledger takes it (it was
    # "unknown", for a person to decide, though the reply was known): the hard bounce counts.
    assert done.outcomes == {"sent": 1}
    row = ledger.message(mid)
    assert row.state == "sent"
    assert list(ledger.suppressed(["gone@example.com"])) == ["gone@example.com"]
    with Worker(ledger, clock=Clock(T0 + dt.timedelta(hours=1))) as worker:
        worker.run_once()
    assert len(sink.messages) == 1


def test_an_expired_message_retried_by_hand_goes_only_to_whom_it_has_not_reached(
    sink, ssl_cert_env, password, tmp_path
):
    """r1 took the message, r2 deferred it past its expiry at once. The expired row still
    named both, and 'queue retry' (an expired message keeps its Message-ID) queued it to both
    again: from a member other than the one that mailed r1 (b mailed r1 since), the gate,
    which refuses a Message-ID twice only per mailbox, let r1 have it a second time."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    sink.reject_rcpt = {"r2@example.com": (450, "4.2.0 greylisted, try again later")}
    ledger = open_ledger()
    msg = message("r1@example.com", "offer")
    msg["Cc"] = "r2@example.com"
    mid = Outbox(ledger).add(msg, pool="P", expires=dt.timedelta(minutes=3), now=T0)
    assert mid is not None
    with Worker(ledger, clock=Clock(T0)) as worker:
        # r1 has it; r2's next try (after 5 min) is past its expiry: it expires at its expiry
        assert worker.run_once().outcomes == {"deferred": 1}
    with Worker(ledger, clock=Clock(T0 + dt.timedelta(minutes=3))) as worker:
        assert worker.run_once().outcomes == {"expired": 1}
    row = ledger.message(mid)
    assert (row.state, row.recipients) == ("expired", ("r2@example.com",))
    with Gate(b, ledger=ledger) as gate:
        gate.send(message("r1@example.com", "other"))  # b mailed r1 last

    sink.reject_rcpt = {}
    res = cli("queue", "retry", str(mid))
    assert res.returncode == 0, res.stderr
    lines: list[str] = []
    with Worker(ledger, log=lines.append) as worker:
        assert worker.run_once().outcomes == {"sent": 1}, lines
    offers = [m.rcpt_tos for m in sink.messages if str(m.message["Subject"]) == "offer"]
    assert offers == [("r1@example.com",), ("r2@example.com",)]


def test_a_campaign_queued_again_skips_a_message_that_expired_after_reaching_some(
    sink, ssl_cert_env, password, tmp_path
):
    """r1 took the message, r2 deferred it past its expiry. The campaign's script, run again,
    queued it anew, as if an expired message had never left: r1 had it twice."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"r2@example.com": (450, "4.2.0 greylisted, try again later")}
    ledger = open_ledger()

    def offer() -> EmailMessage:
        msg = message("r1@example.com", "offer")
        msg["Cc"] = "r2@example.com"
        return msg

    three_min = dt.timedelta(minutes=3)
    mid = Outbox(ledger).add(offer(), pool="P", campaign="dec", expires=three_min, now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"deferred": 1}  # until its expiry
    with Worker(ledger, clock=Clock(T0 + three_min)) as worker:
        assert worker.run_once().outcomes == {"expired": 1}
    assert ledger.message(mid).recipients == ("r2@example.com",)
    sink.reject_rcpt = {}
    later = T0 + dt.timedelta(hours=1)
    assert Outbox(ledger).add(offer(), pool="P", campaign="dec", now=later) == mid
    with Worker(ledger, clock=Clock(later)) as worker:
        worker.run_once()
    offers = [m.rcpt_tos for m in sink.messages if str(m.message["Subject"]) == "offer"]
    assert offers == [("r1@example.com",)]  # once; r2 is for 'queue retry' to decide


def test_a_message_some_member_has_sent_already_is_not_sent_again_from_another(
    sink, ssl_cert_env, password, tmp_path
):
    """A script sent a message through 'warmup send' from a, then (after a timeout, say)
    queued the same message, Message-ID and all, to the pool. b was chosen (it mailed the
    recipient last) and sent it again: the gate refuses a Message-ID twice per mailbox only."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    offer = message("r@example.com", "offer")
    offer["From"] = a
    offer["Message-ID"] = "<offer-1@corp.example>"
    with Gate(a, ledger=ledger) as gate:
        gate.send(offer)
    with Gate(b, ledger=ledger) as gate:
        gate.send(message("r@example.com", "other"))  # b mailed r last
    del offer["From"]
    mid = Outbox(ledger).add(offer, pool="P")
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    offers = [str(m.message["From"]) for m in sink.messages if str(m.message["Subject"]) == "offer"]
    assert offers == [a]
    row = ledger.message(mid)
    assert (row.state, row.sent_by) == ("sent", ledger.mailbox(a).id)


def test_a_message_another_mailbox_has_sent_is_not_sent_again_by_a_pool_of_one(
    sink, ssl_cert_env, password, tmp_path
):
    """As above, to a pool of one member, or to that member itself: the look at the message's
    slots in every mailbox was made only for a pool of several (a mailbox's own gate refuses
    a Message-ID it sent), so the message went out a second time from a, with the same
    Message-ID, to a recipient b had mailed it already."""
    add_box("a@corp.example", sink.port, str(policy_file(tmp_path / "p.toml", daily=10)))
    add_box("b@corp.example", sink.port, str(policy_file(tmp_path / "p.toml", daily=10)))
    assert cli("pool", "add", "P", "a@corp.example").returncode == 0
    ledger = open_ledger()
    ids = []
    for n, target in enumerate(({"pool": "P"}, {"mailbox": "a@corp.example"})):
        offer = message("r@example.com", "offer")
        offer["From"] = "b@corp.example"
        offer["Message-ID"] = f"<offer-{n}@corp.example>"
        with Gate("b@corp.example", ledger=ledger) as gate:
            gate.send(offer)
        del offer["From"]
        ids.append(Outbox(ledger).add(offer, **target))
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 2}
    assert [m.mail_from for m in sink.messages] == ["b@corp.example"] * 2
    for mid in ids:
        row = ledger.message(mid)
        assert (row.state, row.attempts) == ("sent", 0)
        assert "had reached its recipients before this try" in (row.last_reply or "")


def test_a_claim_says_whether_any_slot_names_its_message(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """The worker asks the slots whether a message went out before only when its claim says
    some slot names its Message-ID (one read a message fewer). The flag must be the message's:
    in the claim's RETURNING the outbox's columns are written bare, and a bare message_id in
    the subquery would be any slot's own."""
    add_box("a@corp.example", sink.port, str(policy_file(tmp_path / "p.toml", daily=10)))
    ledger = open_ledger(ledger_url)
    with Gate("a@corp.example", ledger=ledger) as gate:  # a slot of another Message-ID
        gate.send(message("first@example.com", "first"))
    sent = message("r@example.com", "sent before")
    sent["Message-ID"] = "<sent-before@corp.example>"
    with Gate("a@corp.example", ledger=ledger) as gate:
        gate.send(sent)
    fresh = message("r@example.com", "fresh")
    fresh["Message-ID"] = "<fresh@corp.example>"
    outbox = Outbox(ledger)
    ids = [outbox.add(fresh, mailbox="a@corp.example")]
    del sent["From"]
    ids.append(outbox.add(sent, mailbox="a@corp.example"))
    now = dt.datetime.now(dt.UTC)
    claimed = [ledger.claim("w", now), ledger.claim("w", now)]
    assert [(c.id, c.has_slots) for c in claimed if c is not None] == [
        (ids[0], False),
        (ids[1], True),
    ]


def test_a_claims_look_at_the_slots_seeks_its_message_id_in_their_index(ledger_url):  # noqa: F811
    """The claim's look at the slots (whether any names its message) must seek the message's
    Message-ID in ``ix_send_message_id``, not read the index through: SQLite searched no index
    by a column of the updated row compared in RETURNING, and every claim read every slot's
    entry (the worker's CPU a message grew with the ledger's sends)."""
    ledger = open_ledger(ledger_url)
    seen: list[tuple[str, object]] = []
    sa.event.listen(
        ledger.engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, params, *_: seen.append((sql, params)),
    )
    assert ledger.claim("w", dt.datetime.now(dt.UTC)) is None
    [(sql, params)] = [(s, p) for s, p in seen if "has_slots" in s]
    with ledger.engine.begin() as conn:
        if ledger.scheme == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # no rows: a scan otherwise
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
            slots = plan[plan.index("ix_send_message_id on send slot") :]
            assert "Index Cond: (message_id = (outbox.message_id)" in slots, plan
        else:
            plan = "\n".join(
                r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "USING INDEX ix_send_message_id (message_id=?)" in plan, plan
    ledger.close()


def test_run_with_its_standard_output_closed_still_sends(sink, ssl_cert_env, password, tmp_path):
    """A supervisor or a cron line ('>&-') may start the worker without a standard output:
    asking whether it was a terminal raised AttributeError on None, and nothing was sent."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("r@example.com"), pool="P")
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" -m warmup run --once --no-sync >&-', sys.executable],
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ledger.message(mid).state == "sent"
    assert [m.rcpt_tos for m in sink.messages] == [("r@example.com",)]


def test_a_member_whose_password_was_fixed_while_the_worker_runs_sends_again(
    sink, ssl_cert_env, tmp_path, monkeypatch
):
    """The server refused the member's password (535); the user stored the right one. The
    running worker kept the refused password for good and every later try failed the same
    way until it was restarted."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    monkeypatch.setenv("WARMUP_PASSWORD", "not-the-password")
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("r@example.com"), pool="P", now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"deferred": 1}
        assert "535" in (ledger.message(mid).last_reply or "")
        monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)  # the fix
        clock.at = T0 + backoff(1) + dt.timedelta(seconds=1)
        assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("r@example.com",)]


def test_a_policy_lowered_while_the_worker_runs_holds_its_next_message(
    sink, ssl_cert_env, password, tmp_path
):
    """'mailbox set --policy' while 'warmup run' runs: the worker's gate kept the policy it
    read when it opened, and its reservations sent past the new, lower quota (its previews,
    which read the mailbox again, agreed with the new one).

    'mailbox set' dates the change by the wall clock, which may be in the next Shanghai day of
    the worker's (T0 is up to 3 hours back): it is dated at the worker's clock."""
    from tests.gatekit import policy_file

    (a,) = pool_of(sink.port, tmp_path, n=1, daily=5)
    ledger = open_ledger()
    Outbox(ledger).add(message("r0@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
        lower = policy_file(tmp_path / "lower.toml", daily=1)
        res = cli("mailbox", "set", a, "--policy", str(lower))
        assert res.returncode == 0, res.stderr
        policy_changes_at(ledger, T0)
        later = Outbox(ledger).add(message("r1@example.com"), pool="P", now=T0)
        assert later is not None
        assert worker.run_once().outcomes == {"waiting": 1}  # today's 1 is used
    assert [m.rcpt_tos for m in sink.messages] == [("r0@example.com",)]
    assert ledger.message(later).state == "queued"


def test_a_fault_every_member_shares_is_said_once(sink, ssl_cert_env, tmp_path, monkeypatch):
    """No keyring on the machine and no WARMUP_PASSWORD: each member fails with the same
    words, and 'run --once' said them once per member, joined by '; '."""
    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("r@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        done = worker.run_once()
    ((why, n),) = done.waiting.items()
    assert n == 1 and "WARMUP_PASSWORD" in why
    assert why.count("WARMUP_PASSWORD") == 1, why
    assert ledger.message(mid).last_reply == why


def test_the_worker_keeps_its_gate_and_session_while_nothing_changed(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
    monkeypatch,
):
    """The gate is replaced only when the mailbox or its policy changed: the pool's row of a
    member and the gate's must compare equal on both backends, or every message would open a
    new gate and a new SMTP session."""
    monkeypatch.setenv("WARMUP_DB", ledger_url)
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        assert ledger.pool("P").members == (ledger.mailbox(a),)
        for i in range(3):
            Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0)
        with Worker(ledger, clock=Clock(T0)) as worker:
            assert worker.run_once().outcomes == {"sent": 3}
        assert sink.connections == 1
    finally:
        ledger.close()


def count_claims(ledger) -> list:  # type: ignore[no-untyped-def]
    """Every claim's result from now on (None: nothing was due), as the worker asks them."""
    claims = []
    claim = ledger.claim

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        got = claim(*args, **kwargs)
        claims.append(got)
        return got

    ledger.claim = counted
    return claims


@pytest.mark.parametrize("paced", [False, True], ids=["quota used", "paced"])
def test_a_backlog_no_member_can_send_is_put_back_at_once_not_claimed_message_by_message(
    paced,
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """Thousands queued to a pool whose members have used today's quota (or wait for their
    next slot): each pass claimed every due message, asked every member and put it back, one
    by one (~10 ms a message: bench/outbox_backlog.py). Now the pass holds the pool until the
    members' first next slot in one row (the messages are not written: m035), as the one-by-one
    path would have put each back, and one whose expiry comes first waits until its expiry, as
    it would have (expired at once, it was given up before its time)."""
    from warmup.ledger import SendIn

    boxes = pool_of(sink.port, tmp_path, n=2, daily=1000 if paced else 2, interval="1h")
    ledger = open_ledger(ledger_url)
    for k, address in enumerate(boxes):  # b sent a little later: a's slot is the first
        ledger.record(
            ledger.mailbox(address),
            sends=[
                SendIn(f"old{k}-{i}@example.com", T0 - dt.timedelta(seconds=3 - k - i))
                for i in range(1 if paced else 2)
            ],
        )
    outbox = Outbox(ledger)
    ids = [outbox.add(message(f"r{i}@example.com"), pool="P", now=T0) for i in range(30)]
    # It expires before the members' next slot: half an hour on, or half the time left to
    # local midnight when that comes first (T0 is the wall clock: near midnight the quota's
    # next slot is minutes away)
    zone = kit_zone()  # the members'
    midnight = day_start(local_day(T0, zone) + dt.timedelta(days=1), zone)
    expires = min(dt.timedelta(minutes=30), (midnight - T0) / 2)
    short = outbox.add(message("short@example.com"), pool="P", now=T0, expires=expires)
    claims = count_claims(ledger)
    with Worker(ledger, clock=Clock(T0)) as worker:
        done = worker.run_once()
    assert done.outcomes == {"waiting": 31}
    assert sum(c is not None for c in claims) == 0  # not one message claimed
    a = ledger.mailbox(boxes[0])
    if paced:  # a's next slot: an hour after its last send
        until = T0 - dt.timedelta(seconds=3) + dt.timedelta(hours=1)
    else:  # tomorrow, local
        until = day_start(local_day(T0, a.timezone) + dt.timedelta(days=1), a.timezone)
    rows = [ledger.message(i) for i in ids if i is not None]
    assert {(r.state, r.next_attempt_at, r.attempts, r.updated_at) for r in rows} == {
        ("queued", T0, 0, T0)
    }
    [(target, hold)] = ledger.holds().items()
    assert (target, hold.until, hold.bulk) == (("pool", ledger.pool("P").id), until, True)
    assert "quota is used" in hold.why or paced
    assert short is not None
    assert ledger.message(short).state == "queued"
    with Worker(ledger, clock=Clock(T0 + expires - dt.timedelta(seconds=1))) as worker:
        assert worker.run_once().outcomes == {}  # held: nothing claimed, nothing written
    with Worker(ledger, clock=Clock(T0 + expires)) as worker:
        assert worker.run_once().outcomes == {"expired": 1}
    assert ledger.message(short).state == "expired"
    assert sink.messages == []
    ledger.close()


def test_a_backlog_goes_from_the_member_that_can_send_when_another_has_used_its_quota(
    sink, ssl_cert_env, password, tmp_path
):
    """The pass puts a pool's backlog back at once only when no member can send: with one
    member's quota used and the other's not, every message still goes, from the other."""
    from warmup.ledger import SendIn

    a, b = pool_of(sink.port, tmp_path, n=2, daily=3)
    ledger = open_ledger()
    ledger.record(ledger.mailbox(a), sends=[SendIn(f"old{i}@example.com", T0) for i in range(3)])
    for i in range(3):
        Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"sent": 3}
    assert {str(m.message["From"]) for m in sink.messages} == {b}


def test_a_paced_pool_sends_at_its_slots_and_puts_the_rest_back_at_once(
    sink, ssl_cert_env, password, tmp_path
):
    """The pass after a paced pool's slot: each member sends one message and the pool cannot
    send again for an hour; the rest of the backlog went back one claim at a time. Now the
    first message that has to wait puts the others back with it."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=1000, interval="1h")
    ledger = open_ledger()
    ids = [Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0) for i in range(30)]
    claims = count_claims(ledger)
    with Worker(ledger, clock=Clock(T0)) as worker:
        done = worker.run_once()
    assert done.outcomes == {"sent": 2, "waiting": 28}
    assert sum(c is not None for c in claims) == 3  # two sent, the first to wait
    assert sorted(str(m.message["From"]) for m in sink.messages) == sorted([a, b])
    rows = [ledger.message(i) for i in ids if i is not None]
    # the pool held until its next slot (one row), the 27 others not written; the one that
    # waited was put back by its own claim
    assert {r.next_attempt_at for r in rows if r.state == "queued"} == {
        T0,
        T0 + dt.timedelta(hours=1),
    }
    assert sum(r.next_attempt_at != T0 for r in rows if r.state == "queued") == 1
    assert [h.until for h in ledger.holds().values()] == [T0 + dt.timedelta(hours=1)]


def test_tries_count_every_try_made_the_one_that_went_included(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """TRIES in 'queue list' is the tries made: a message sent at its first try shows 1, not
    0 (it counted only the failed ones, so a sent, bounced or unknown message looked never
    tried); a 4xx then a 250 is 2; a dead worker's message that reached the gate is 1. A wait
    for the plan's slot is no try."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {
        "late@example.com": (450, "4.2.0 greylisted, try again later"),
        "gone@example.com": (550, "5.1.1 no such user"),
    }
    ledger = open_ledger()
    box = Outbox(ledger)
    ids = {
        to: box.add(message(f"{to}@example.com"), pool="P", now=T0)
        for to in ("first", "late", "gone")
    }
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"sent": 1, "deferred": 1, "bounced": 1}
        sink.reject_rcpt = {"gone@example.com": (550, "5.1.1 no such user")}
        clock.at = T0 + backoff(1) + dt.timedelta(seconds=1)
        assert worker.run_once().outcomes == {"sent": 1}
    got = {to: (ledger.message(i).state, ledger.message(i).attempts) for to, i in ids.items()}
    assert got == {"first": ("sent", 1), "late": ("sent", 2), "gone": ("bounced", 1)}
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert sorted(m["attempts"] for m in listed) == [1, 1, 2]

    # A dead worker's claims: one that reached the gate made a try, one that did not made none.
    died = [box.add(message(f"d{i}@example.com"), pool="P", now=T0) for i in range(2)]
    dead = f"{HOST}:{_dead_pid()}:{PLACE}:dead"
    claimed = [ledger.claim(dead, clock.at) for _ in died]
    assert [c.id for c in claimed if c] == died
    with Gate("a@corp.example", ledger=ledger) as gate:
        gate.reserve(["d1@example.com"], claimed[1].message_id, now=clock.at)  # type: ignore[union-attr]
    with Worker(ledger, clock=clock) as worker:
        assert sorted(worker.recover(clock.at)) == ["queued", "unknown"]
    assert [(ledger.message(i).state, ledger.message(i).attempts) for i in died] == [
        ("queued", 0),
        ("unknown", 1),
    ]
    ledger.close()


def test_a_running_worker_says_once_why_its_queue_waits_and_when_it_resumes(
    sink, ssl_cert_env, password, tmp_path
):
    """'warmup run' (not --once) said nothing at all while every member's quota was used, nor
    when the queue ran dry: a log under systemd was silent for a day, as a hung worker's is.
    Now one line says why the rest waits and when the next is due, one line says nothing is
    queued; each once, not once a pass."""
    pool_of(sink.port, tmp_path, n=1, daily=1)
    ledger = open_ledger()
    box = Outbox(ledger)
    for i in range(3):
        box.add(message(f"r{i}@example.com"), pool="P", campaign="c", now=T0)
    lines: list[str] = []
    clock = Clock(T0)
    passes = []

    def sleep(seconds: float) -> None:
        passes.append(seconds)
        clock.at += dt.timedelta(seconds=min(seconds, 60))
        if len(passes) == 3:
            worker.stop()

    with Worker(ledger, clock=clock, log=lines.append, sleep=sleep) as worker:
        worker.run()
    tomorrow = day_start(local_day(T0, kit_zone()) + dt.timedelta(days=1), kit_zone())
    waiting = [line for line in lines if " waiting: " in line]
    assert len(waiting) == 1, lines
    assert "2 messages" in waiting[0] and "today's quota is used (1 of 1 sent)" in waiting[0]
    assert waiting[0].endswith(f"next message due at {tomorrow:%Y-%m-%dT%H:%M:%SZ}."), waiting

    res = cli("queue", "cancel", "--campaign", "c")
    assert res.returncode == 0, res.stderr
    lines.clear()
    passes.clear()
    with Worker(ledger, clock=clock, log=lines.append, sleep=sleep) as worker:
        worker.run()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "nothing is queued: waiting for new messages (SIGTERM or Ctrl-C stops)."
    ]

    # Started on a queue an earlier worker held: it says when the next is due, once.
    box.add(message("later@example.com"), pool="P", campaign="d", now=clock.at)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"waiting": 1}
    lines.clear()
    passes.clear()
    with Worker(ledger, clock=clock, log=lines.append, sleep=sleep) as worker:
        worker.run()
    assert len(lines) == 1, lines
    assert (
        lines[0]
        .split(" ", 1)[1]
        .startswith("waiting: 1 message: a@corp.example: today's quota is used")
    )
    assert lines[0].endswith(f"; next message due at {tomorrow:%Y-%m-%dT%H:%M:%SZ}.")


def test_a_running_workers_waiting_line_counts_every_message_queued_for_what_it_serves(
    sink, ssl_cert_env, password, tmp_path
):
    """The line 'warmup run' says when its queue waits gave the messages this pass held and
    met alone: none of those an earlier pass (or worker) held, nor those queued for later
    (--not-before), nor another target's. Its pool's quota used, two held by an earlier
    worker, three for tomorrow, one more added meanwhile: 6 wait for it, as 'queue list' says;
    a worker serving every target counts a mailbox's own message too; one count a line."""
    pool_of(sink.port, tmp_path, n=1, daily=1)
    ledger = open_ledger()
    box = Outbox(ledger)
    for i in range(3):
        box.add(message(f"r{i}@example.com"), pool="P", campaign="c", now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock, pool="P") as worker:  # one sent, two held
        assert worker.run_once().outcomes == {"sent": 1, "waiting": 2}
    later = T0 + dt.timedelta(days=1)
    for i in range(3):
        box.add(message(f"t{i}@example.com"), pool="P", campaign="d", not_before=later, now=T0)
    box.add(message("new@example.com"), pool="P", campaign="e", now=T0)
    add_box("solo@corp.example", sink.port)
    box.add(message("own@example.com"), mailbox="solo@corp.example", not_before=later, now=T0)
    statements: list[str] = []

    def statement(conn, cursor, sql, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(sql)

    passes: list[float] = []

    def sleep(seconds: float) -> None:
        passes.append(seconds)
        clock.at += dt.timedelta(seconds=min(seconds, 60))
        if len(passes) == 3:
            worker.stop()

    for pool, n in (("P", 6), (None, 7)):
        lines: list[str] = []
        passes.clear()
        statements.clear()
        sa.event.listen(ledger.engine, "before_cursor_execute", statement)
        try:
            with Worker(ledger, clock=clock, pool=pool, log=lines.append, sleep=sleep) as worker:
                worker.run()
        finally:
            sa.event.remove(ledger.engine, "before_cursor_execute", statement)
        waiting = [line for line in lines if " waiting: " in line]
        assert len(waiting) == 1, lines
        said = waiting[0].split(" ", 1)[1]
        assert said.startswith(f"waiting: {n} messages: a@corp.example: today's quota is used"), (
            said
        )
        counts = [s for s in statements if "count(*)" in s and "FROM outbox" in s]
        assert len(counts) == 1, counts
    queued = json.loads(cli("queue", "list", "--state", "queued", "--json").stdout)
    assert len(queued) == 7


def test_run_once_with_nothing_due_still_says_why_the_queue_waits(
    sink,
    ssl_cert_env,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """'run --once' (cron) said why the rest waits only in the pass that held it; every later
    run said 'nothing was due' and a time, no reason, until the next day. The reason is on
    the next due message: it is said as well."""
    pool_of(sink.port, tmp_path, n=1, daily=1)
    ledger = open_ledger()
    for i in range(3):
        Outbox(ledger).add(message(f"r{i}@example.com"), pool="P")
    ledger.close()
    first = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert first.returncode == 0, first.stderr
    assert "Done: 1 sent, 2 waiting." in first.stdout
    again = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr
    # but for the line a clock moved from the PostgreSQL server's says (scripts/clock-sweep)
    lines = [ln for ln in again.stdout.splitlines() if "the ledger server's" not in ln]
    assert lines[0] == "Done: nothing was due."
    assert lines[1].startswith("Waiting: a@corp.example: today's quota is used (1 of 1 sent)")
    assert lines[2].startswith("Next message due at ")


def test_a_pool_left_without_mailboxes_is_a_fault_run_once_reports(sink, tmp_path, ledger_path):
    """Its last member removed ('mailbox remove --force'), a pool's messages waited with
    'the pool has no mailbox' and 'run --once' exited 0: cron told no one, nothing said what
    to do, and the messages expired unsent. No wait fixes it: exit 78 and the fix, in one line."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    queued = Outbox(ledger).add(message("x@example.com"), pool="P")
    assert cli("mailbox", "remove", a, "--force").returncode == 0
    why = "pool P has no mailbox; add one with 'warmup pool add P ADDRESS'"
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 78, res.stderr
    assert res.stderr == (
        f"Error: 1 message could go from no mailbox, each refused for a fault to fix: {why}\n"
    )
    assert f"Waiting (1): {why}" in res.stdout
    row = ledger.message(queued)
    assert (row.state, row.attempts, row.last_reply) == ("queued", 0, why)
    ledger.close()


def test_run_called_in_process_gives_the_callers_signal_handlers_back(run, ledger_path):
    """``warmup run`` invoked in-process (CliRunner, a script calling the command) left its
    SIGTERM/SIGINT handler installed after returning: a later Ctrl-C or SIGTERM to the caller
    went to a handler stopping a worker long closed, and the caller never stopped. Off the main
    thread it failed outright (Python lets only the main thread set a handler)."""
    import signal
    import threading

    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0

    def mine(signum: int, frame: object) -> None:  # the caller's own
        pass

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, mine)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        res = run("run", "--once", "--no-sync", "--no-view")
        assert res.exit_code == 0, res.output
        assert "Nothing is queued." in res.output
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        got: list[object] = []
        thread = threading.Thread(target=lambda: got.append(run("run", "--once", "--no-sync")))
        thread.start()
        thread.join(timeout=120)
        (res,) = got
        assert res.exit_code == 0 and "Nothing is queued." in res.output, res.output
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_530_after_the_server_took_some_recipients_is_77_and_goes_on_to_the_others(
    pki, ssl_cert_env, tmp_path
):
    """A member's server takes one recipient and wants a login for the other (530); with
    PIPELINING and CHUNKING the data went with the envelope, so the one taken has it. The gate
    settled both, then the worker recovered the message as a stopped worker's: queued again
    to the other (right), but 'run --once' exited 0 saying "worker ... stopped before the
    message left", so cron told no one of the missing login. Now: 77, the 530 said, and the
    message waits (a try, backed off) for the other alone."""
    with SmtpSink(
        "ssl",
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        pki=pki,
        accounts=accounts(1),
        pipelining=True,
        chunking=True,
    ) as sink:
        pool_of(sink.port, tmp_path, n=1, daily=5)
        sink.reject_rcpt = {"out@example.net": (530, "5.7.0 Authentication required")}
        ledger = open_ledger()
        mid = Outbox(ledger).add(
            b"To: in@corp.example, out@example.net\nSubject: s\n\nhi\n", pool="P"
        )
        res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
        assert [m.rcpt_tos for m in sink.messages] == [("in@corp.example",)]
    assert res.returncode == 77, res.stdout + res.stderr
    assert "wants a login before RCPT TO (530" in res.stderr, res.stderr
    row = ledger.message(mid)
    assert (row.state, tuple(row.recipients), row.attempts) == (
        "queued",
        ("out@example.net",),
        1,
    ), row.last_reply
    assert "wants a login before RCPT TO (530" in (row.last_reply or ""), row.last_reply
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)


@pytest.mark.parametrize("how", ["environment", "keyring"])
def test_a_message_held_for_a_missing_password_goes_at_the_next_pass_once_there_is_one(
    sink, ssl_cert_env, tmp_path, empty_keyring, monkeypatch, how
):
    """Held for a missing password (no WARMUP_PASSWORD, nothing in the keyring), a message
    waited out the whole 5-minute hold after the password came: the next 'run --once' (cron,
    WARMUP_PASSWORD now set) or the running worker's next pass (the keyring filled by other
    means than 'mailbox login') said "nothing due" and the old advice. Each pass now looks
    again for the passwords its held messages wait for."""
    from warmup import credentials
    from warmup.outbox.worker import HOLD

    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    queued = Outbox(ledger).add(message("x@example.com"), pool="P", now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"waiting": 1}
        assert ledger.message(queued).next_attempt_at == T0 + HOLD
        clock.at = T0 + dt.timedelta(minutes=1)
        assert worker.run_once().outcomes == {}  # nothing new: not due, not looked at
        if how == "keyring":  # the running worker's next pass finds it
            credentials.store_password(a, SMTP_PASSWORD)
            clock.at += dt.timedelta(seconds=10)
            assert worker.run_once().outcomes == {"sent": 1}
    if how == "environment":  # the next 'run --once', a new process with the password
        monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
        with Worker(ledger, clock=Clock(T0 + dt.timedelta(minutes=2))) as worker:
            assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("x@example.com",)]
    assert ledger.message(queued).state == "sent"
    ledger.close()


def test_the_tests_clock_starts_clear_of_the_pools_midnight() -> None:
    """T0 near Shanghai's midnight moves 3 hours back, elsewhere stays (to the second)."""
    late = dt.datetime(2026, 12, 3, 15, 58, 30, 7, tzinfo=dt.UTC)  # 23:58:30 in Shanghai
    assert clear_of_midnight(late) == dt.datetime(2026, 12, 3, 12, 58, 30, tzinfo=dt.UTC)
    early = dt.datetime(2026, 12, 3, 16, 0, 1, tzinfo=dt.UTC)  # 00:00:01, the next day
    assert clear_of_midnight(early) == early
    assert local_day(clear_of_midnight(late) + dt.timedelta(hours=2), SHANGHAI) == local_day(
        late, SHANGHAI
    )


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 12, 7, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 7, 11, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 7, 12, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 7, 15, 59, 57, tzinfo=dt.UTC),  # Shanghai's midnight 3 s on
        dt.datetime(2026, 12, 7, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 14, 6, 59, 0, tzinfo=dt.UTC),  # New York's change to summer time
    ],
)
def test_the_tests_midday_zone_keeps_a_real_clock_test_in_one_day(now: dt.datetime) -> None:
    """The zone is midday at ``now``: a test that reads the real clock for up to 11 hours
    from there (or started its worker's clock up to 3 hours before it, as clear_of_midnight
    does) reads one local day, at any hour it runs, a Shanghai or UTC midnight included."""
    zone = midday_zone(now)
    assert now.astimezone(ZoneInfo(zone)).hour == 12
    days = {local_day(now + dt.timedelta(hours=h), zone) for h in (-3.5, 0, 11)}
    assert days == {local_day(now, zone)}


def test_a_message_cancelled_after_a_4xx_is_queued_again_by_retry_and_goes(
    sink, ssl_cert_env, password, tmp_path
):
    """A message deferred by a 4xx waits queued: 'queue cancel' ends it. 'queue retry' of it
    said "only an unknown or expired message is retried by hand" (65), and nothing said how
    to queue it again: it never left, so it goes again as an expired one does, with its
    Message-ID and its tries from 0."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"late@example.com": (450, "4.2.0 greylisted, try again later")}
    ledger = open_ledger()
    mid = Outbox(ledger).add(message("late@example.com"), pool="P", now=T0)
    assert mid is not None
    with Worker(ledger, clock=Clock(T0)) as worker:
        assert worker.run_once().outcomes == {"deferred": 1}
    assert ledger.message(mid).state == "queued"
    res = cli("queue", "cancel", str(mid))
    assert (res.returncode, res.stdout) == (0, "Cancelled 1 message.\n"), res.stderr
    assert ledger.message(mid).state == "cancelled"
    res = cli("queue", "retry", str(mid))
    assert res.returncode == 0, res.stderr
    row = ledger.message(mid)
    assert res.stdout == f"Queued message {mid} again as {row.message_id}.\n"
    assert (row.state, row.attempts) == ("queued", 0)
    sink.reject_rcpt = {}
    with Worker(ledger, clock=Clock(row.next_attempt_at + dt.timedelta(seconds=1))) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages] == [("late@example.com",)]


def test_a_worker_stops_between_passes_once_a_newer_warmup_has_upgraded_its_ledger(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A host upgraded first runs the newer warmup's migrations while this worker runs (a
    team's rolling upgrade): every command of this version is refused on that ledger (78),
    but the worker, which looked only when it started, went on writing as this version does.
    A worker of the version before m030 did so: its sends never reached domain_day, the
    rollup the newer one's recipient-domain caps read, which then let a domain be mailed past
    its cap. It now stops at its next pass, the message it has not claimed still queued."""
    from warmup.errors import ConfigError
    from warmup.ledger.migrations import MIGRATIONS_TABLE

    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    outbox = Outbox(ledger)
    outbox.add(message("r1@example.com", "first"), pool="P", now=T0)
    clock = Clock(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
        later = outbox.add(message("r2@example.com", "second"), pool="P", now=T0)
        with ledger.write() as conn:  # the newer warmup's upgrade, from another host
            conn.execute(
                MIGRATIONS_TABLE.insert().values(name="m999_of_a_newer_warmup", applied_at=T0)
            )
        clock.at = T0 + dt.timedelta(minutes=1)
        with pytest.raises(ConfigError, match=r"upgraded by a newer warmup \(migration m999_"):
            worker.run_once()
    assert ledger.message(later).state == "queued"
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first"]


def test_a_pass_upgraded_under_by_a_newer_warmup_queues_its_message_again_and_stops(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """The newer warmup's upgrade lands after a pass began (its look at the schema passed):
    the member's gate finds it at the message's reservation (its look a minute on). Taken
    for a fault of that member's configuration, the message would have been held and the
    pass gone on with the next; it is queued again (nothing of it reserved) and the worker
    stops, 78, as it does at the start of a pass."""
    from warmup.errors import NewerLedger
    from warmup.ledger.migrations import MIGRATIONS_TABLE

    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    outbox = Outbox(ledger)
    outbox.add(message("r1@example.com", "first"), pool="P", now=T0)

    class Upgraded(Clock):
        """The first read of the pass (after its look at the schema) meets the upgrade."""

        armed = False

        def __call__(self) -> dt.datetime:
            if self.armed:
                self.armed = False
                other = open_ledger(ledger_url)  # another host's
                try:
                    with other.write() as conn:
                        conn.execute(
                            MIGRATIONS_TABLE.insert().values(
                                name="m999_of_a_newer_warmup", applied_at=self.at
                            )
                        )
                finally:
                    other.close()
            return self.at

    clock = Upgraded(T0)
    with Worker(ledger, clock=clock) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
        later = outbox.add(message("r2@example.com", "second"), pool="P", now=T0)
        clock.at, clock.armed = T0 + dt.timedelta(minutes=2), True
        with pytest.raises(NewerLedger, match=r"upgraded by a newer warmup \(migration m999_"):
            worker.run_once()
    assert ledger.message(later).state == "queued"
    assert ledger.fault_holds(T0 + dt.timedelta(minutes=2), None) == []  # no member's fault
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first"]
