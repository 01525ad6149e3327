"""`warmup queue mark`: a person's word on an `unknown` outbox message (the connection broke
after its data began). 'sent': it went, its gate slots count as sends (bounces match them) and
its campaign is done; 'unsent': it is cancelled and its quota slot given back. Each message is
made unknown honestly: the real worker sends it to the TLS sink, which takes the data and drops
the connection before replying."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import cli
from tests.outboxkit import plain, pool_of
from tests.pgkit import session_name, waiting_for_lock
from warmup import Outbox, outbox
from warmup.errors import UsageError
from warmup.instants import now_utc
from warmup.ledger import BounceIn, Ledger, open_ledger
from warmup.ledger.schema import BOUNCE, DAY_STAT, OUTBOX, SEND
from warmup.outbox.worker import Worker

BOX = "a@corp.example"


def _unknown(sink, ledger, n: int = 1, campaign: str = "dec") -> list[int]:  # type: ignore[no-untyped-def]
    """``n`` messages of ``campaign`` (to r0@, r1@, ... example.com) left ``unknown`` by the
    worker: the sink stores each and drops the connection before its reply. One at a time: a
    member whose upload broke is set aside for the rest of the pass."""
    ids = []
    sink.drop_mid_data = True
    for i in range(n):
        mid = Outbox(ledger).add(plain(f"r{i}@example.com"), pool="P", campaign=campaign)
        assert mid is not None
        with Worker(ledger, timeout=2) as worker:
            assert worker.run_once().outcomes == {"unknown": 1}
        ids.append(mid)
    sink.drop_mid_data = False
    assert [ledger.message(i).state for i in ids] == ["unknown"] * n
    return ids


def _unknown_refusing(sink, ledger, rcpt: str, code: int, text: str) -> int:  # type: ignore[no-untyped-def]
    """A message to in@example.com and ``rcpt`` left ``unknown`` by the worker: the sink
    answers ``rcpt``'s RCPT TO with ``code`` ``text``, takes the data for in@example.com and
    drops the connection before its reply."""
    msg = plain("in@example.com")
    del msg["To"]
    msg["To"] = f"in@example.com, {rcpt}"
    mid = Outbox(ledger).add(msg, pool="P", campaign="dec")
    assert mid is not None
    sink.reject_rcpt = {rcpt: (code, text)}
    sink.drop_mid_data = True
    with Worker(ledger, timeout=2) as worker:
        assert worker.run_once().outcomes == {"unknown": 1}
    sink.drop_mid_data, sink.reject_rcpt = False, {}
    return mid


@pytest.fixture
def ledger(sink, ssl_cert_env, password, tmp_path) -> Iterator[Ledger]:  # type: ignore[no-untyped-def]
    """Pool P of one mailbox on the sink (50 a day) in the ledger at ``$WARMUP_DB`` (which a
    fixture before this one sets: ``ledger_url``, each backend), open."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    opened = open_ledger()
    yield opened
    opened.close()


@pytest.fixture
def on_pg(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh PostgreSQL ledger at ``$WARMUP_DB``."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    return pg_url


def _dsn(ledger, mid: int | None) -> Any:  # type: ignore[no-untyped-def]
    """A hard bounce of r0@example.com read over IMAP, naming message ``mid``'s Message-ID
    (as a provider's DSN returns it; None: naming none, matched by its time), recorded: what
    the ledger made of it."""
    dsn = BounceIn(
        "r0@example.com",
        "hard",
        now_utc(),
        key="dsn:1",
        status="5.1.1",
        message_id=ledger.message(mid).message_id if mid is not None else None,
        source="imap",
        trusted=False,
    )
    return ledger.record(ledger.mailbox(BOX), bounces=[dsn])


def _slots(ledger, mid: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The outcomes of message ``mid``'s gate slots."""
    got = ledger.gate_outcomes(ledger.message(mid).message_id)
    return [outcome for outcome, _ in got.values()]


def _rows(ledger) -> dict[str, list[Any]]:  # type: ignore[no-untyped-def]
    """The tables a mark writes, every row: to show a refused mark changed nothing."""
    with ledger.read() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in (OUTBOX, SEND, BOUNCE, DAY_STAT)
        }


def _left() -> int:
    res = cli("quota", BOX, "--json")
    assert res.returncode == 0, res.stderr
    return int(json.loads(res.stdout)[0]["remaining"])


def _campaign(name: str = "dec") -> dict[str, Any]:
    res = cli("queue", "status", "--json")
    assert res.returncode == 0, res.stderr
    return next(c for c in json.loads(res.stdout)["campaigns"] if c["campaign"] == name)


def test_a_message_marked_sent_is_done_and_a_later_bounce_answers_it(ledger_url, ledger, sink):
    (mid,) = _unknown(sink, ledger)
    left = _left()
    assert _campaign()["finished"] is False
    said = cli("queue", "status").stdout
    assert f"'warmup queue mark {mid} sent' (or unsent) records whether it went." in said
    res = cli("queue", "mark", str(mid), "sent")
    assert (res.returncode, res.stdout, res.stderr) == (0, f"Marked message {mid} sent.\n", "")
    row = ledger.message(mid)
    assert (row.state, row.last_reply) == (
        "sent",
        "marked sent by hand: it reached its recipients",
    )
    assert _slots(ledger, mid) == ["sent"]
    assert _left() == left  # an unknown slot counted already
    assert _campaign()["finished"] is True
    assert "waits for a person" not in cli("queue", "status").stdout
    # the DSN read later: it answers the send, and counts in the bounce rate
    got = _dsn(ledger, mid)
    assert (got.matched, got.counted) == (1, 1)
    res = cli("queue", "mark", str(mid), "sent")  # decided: not again
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: message {mid} is sent: only an unknown message is marked; it went: "
        f"nothing to decide\n"
    )


def test_a_bounce_recorded_before_the_mark_stays_and_the_message_is_sent(ledger_url, ledger, sink):
    """The DSN came before the person looked: it stays (counted), and the message is `sent`,
    as the worker leaves a message the server took and a DSN later refused; 'unsent' is
    refused, the DSN naming its Message-ID says it left."""
    (mid,) = _unknown(sink, ledger)
    assert _dsn(ledger, mid).counted == 1
    before = _rows(ledger)
    res = cli("queue", "mark", str(mid), "unsent")
    assert (res.returncode, res.stdout) == (65, "")
    assert res.stderr == (
        f"Error: message {mid} went: a bounce from r0@example.com names it; mark it sent "
        f"('warmup queue mark {mid} sent')\n"
    )
    assert _rows(ledger) == before
    assert cli("queue", "mark", str(mid), "sent").returncode == 0
    assert ledger.message(mid).state == "sent"
    (b,) = ledger.bounces(ledger.mailbox(BOX))
    assert b["counted"] and b["send_id"] is not None


def test_a_bounce_matched_by_its_time_alone_no_longer_counts_once_marked_unsent(
    ledger_url, ledger, sink
):
    """A bounce naming no Message-ID was matched to the unknown send by its time (the latest
    to its recipient): once the message is said never to have gone, it answers no send of
    the mailbox, as when the gate gives a slot back (DESIGN invariant 8): uncounted, and its
    address no longer suppressed on its word."""
    (mid,) = _unknown(sink, ledger)
    got = _dsn(ledger, None)
    assert (got.matched, got.counted) == (1, 1)
    assert ledger.suppressed(["r0@example.com"])
    res = cli("queue", "mark", str(mid), "unsent")
    assert res.returncode == 0, res.stderr
    (b,) = ledger.bounces(ledger.mailbox(BOX))
    assert (b["counted"], b["send_id"]) == (False, None)
    assert ledger.suppressed(["r0@example.com"]) == {}


def test_a_message_marked_unsent_is_cancelled_and_gives_its_slot_back(ledger_url, ledger, sink):
    (mid,) = _unknown(sink, ledger)
    left = _left()
    res = cli("queue", "mark", str(mid), "unsent")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == f"Marked message {mid} unsent (cancelled).\n"
    assert ledger.message(mid).state == "cancelled"
    assert _slots(ledger, mid) == ["released"]
    assert _left() == left + 1
    assert _campaign()["finished"] is True
    # a DSN for it now answers nothing: the mailbox never sent it
    got = _dsn(ledger, mid)
    assert (got.matched, got.counted) == (0, 0)
    # never tried again by itself; 'queue retry' still sends it
    assert cli("queue", "retry", str(mid)).returncode == 0
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 1}


def test_a_campaign_is_marked_at_once_and_a_campaign_without_unknown_ones_says_so(
    ledger_url, ledger, sink
):
    ids = _unknown(sink, ledger, n=2)
    other = Outbox(ledger).add(plain("q@example.com"), pool="P", campaign="dec")  # queued
    said = cli("queue", "status").stdout
    assert "'warmup queue mark --campaign dec sent' (or unsent) records whether they went" in said
    res = cli("queue", "mark", "--campaign", "dec", "sent")
    assert (res.returncode, res.stdout, res.stderr) == (0, "Marked 2 messages sent.\n", "")
    assert [ledger.message(i).state for i in ids] == ["sent", "sent"]
    assert ledger.message(other).state == "queued"  # type: ignore[arg-type]
    res = cli("queue", "mark", "--campaign", "dec", "unsent")
    assert (res.returncode, res.stdout, res.stderr) == (0, "No unknown messages.\n", "")
    assert [_slots(ledger, i) for i in ids] == [["sent"], ["sent"]]


def test_recipients_deferred_in_the_same_try_go_again_when_it_is_marked_sent(
    ledger_url, ledger, sink
):
    """A 4xx for one recipient, then the connection broke under the data: the worker leaves
    it unknown. Marked sent, the deferred recipient is queued again (as the worker does once
    the others went), under the same Message-ID; it then goes to them alone."""
    mid = _unknown_refusing(sink, ledger, "later@example.com", 450, "4.2.0 greylisted, try later")
    res = cli("queue", "mark", str(mid), "sent")
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        f"Marked message {mid} sent.\nMessage {mid} is queued again for later@example.com: "
        f"a 4xx deferred them in that try.\n"
    )
    row = ledger.message(mid)
    assert (row.state, row.recipients) == ("queued", ("later@example.com",))
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    assert [m.rcpt_tos for m in sink.messages][-1] == ("later@example.com",)
    assert str(sink.messages[-1].message["Message-ID"]) == row.message_id


def test_a_recipient_refused_for_the_message_s_size_is_not_queued_again_when_marked_sent(
    ledger_url, ledger, sink
):
    """A 552 5.3.4 (the message too big) for one recipient, then the connection broke under the
    data: unknown. Marked sent, that recipient was queued again as if a 4xx had deferred it,
    and the same message was refused again at every try, a slot spent each time, until it
    expired. The worker holds such a refusal final (the message is done for them, the
    recipient not suppressed): so does the mark, and the message is sent. Refused at RCPT TO,
    the recipient's slot is released (no bounce says why): the worker leaves it out of the
    unknown message, whose fate concerns the others alone."""
    mid = _unknown_refusing(sink, ledger, "big@example.com", 552, "5.3.4 Message size too big")
    res = cli("queue", "mark", str(mid), "sent")
    assert (res.returncode, res.stdout) == (0, f"Marked message {mid} sent.\n"), res.stderr
    row = ledger.message(mid)
    assert (row.state, row.recipients) == ("sent", ("in@example.com",))
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {}
    assert cli("suppress", "list", "--json").stdout.strip() == "[]"


def _killed_at(ledger, sink, hook: str, drop_mid_data: bool = False) -> int:  # type: ignore[no-untyped-def]
    """A message to in@example.com and big@example.com, whose RCPT TO the sink refuses for the
    message's size, through a ``warmup run`` killed (SIGKILL) at its first call of ``hook``
    (``drop_mid_data``: the sink drops the connection under the data)."""
    from tests import test_crash_points as crash
    from tests.gatekit import PASSWORD_ENV

    mid = Outbox(ledger).add(plain("in@example.com, big@example.com"), pool="P", campaign="dec")
    assert mid is not None
    sink.reject_rcpt = {"big@example.com": (552, "5.3.4 Message size too big")}
    sink.drop_mid_data = drop_mid_data
    killed = crash.hooked("SIGKILL", hook, 1, "run", "--once", "--no-sync", "--timeout", "2",
                          env=PASSWORD_ENV)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    sink.drop_mid_data, sink.reject_rcpt = False, {}
    return mid


def _recovered_and_marked_sent(ledger, sink, mid: int) -> None:  # type: ignore[no-untyped-def]
    """Recovered by the next worker, message ``mid`` is unknown with both recipients; marked
    sent, it is sent, and nothing goes again."""
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"recovered unknown": 1}
    row = ledger.message(mid)
    assert (row.state, row.recipients) == ("unknown", ("in@example.com", "big@example.com"))
    res = cli("queue", "mark", str(mid), "sent")
    assert (res.returncode, res.stdout) == (0, f"Marked message {mid} sent.\n"), res.stderr
    assert ledger.message(mid).state == "sent"
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {}
    assert sink.mail_commands == 1


def test_a_recovered_unknown_message_marked_sent_leaves_out_whom_its_size_was_refused(
    ledger_url, ledger, sink
):
    """As above, but the worker was killed (SIGKILL) once the gate had settled the try, before
    it wrote the message's state: recovered by the next worker, the message is unknown with
    both recipients (the live worker leaves out the one refused for its size; the recovery
    cannot tell from the slots). Marked sent, the released slot read "nothing left, retry":
    the message was queued again for that recipient, refused again. The slot says why it was
    released: the message is sent, and nothing goes again."""
    mid = _killed_at(ledger, sink, "_too_big_is_final", drop_mid_data=True)
    _recovered_and_marked_sent(ledger, sink, mid)


def test_a_worker_killed_before_any_settlement_leaves_every_recipient_to_the_person(
    ledger_url, ledger, sink
):
    """The worker killed (SIGKILL) in the SMTP conversation, once the server had answered (it
    took the message for in@, refused big@ for its size at RCPT TO) but before the gate
    settled anything: no reply was recorded, both slots ``reserved``. Recovered, the message
    is unknown with both recipients; marked sent, both count as sent and nothing goes again.
    Kept so on purpose: a refusal never recorded cannot be told from a delivery, and sending
    again to a recipient who may have the message is what warmup never does (DESIGN invariant
    9); counted sent errs on the side of the quota, and this message would be refused for its
    size again anyway."""
    mid = _killed_at(ledger, sink, "delivered")
    assert [m.rcpt_tos for m in sink.messages] == [("in@example.com",)]
    assert _slots(ledger, mid) == ["reserved", "reserved"]  # nothing of the replies recorded
    _recovered_and_marked_sent(ledger, sink, mid)
    assert _slots(ledger, mid) == ["sent", "sent"]


def test_bad_marks_are_refused_in_one_line_and_change_nothing(ledger_url, ledger, sink):
    (mid,) = _unknown(sink, ledger)
    queued = Outbox(ledger).add(plain("q@example.com"), pool="P", campaign="dec")
    expired = Outbox(ledger).add(plain("x@example.com"), pool="P", campaign="old")
    assert ledger.expire_messages(now_utc() + dt.timedelta(days=4)) == 2  # queued's too
    queued = Outbox(ledger).add(plain("q2@example.com"), pool="P", campaign="new")
    before = _rows(ledger)
    missing = cli("queue", "show", "999")
    nosuch = cli("queue", "list", "--campaign", "NOSUCH")
    assert (missing.returncode, nosuch.returncode) == (64, 64)
    cases = [
        (
            [str(queued), "sent"],
            65,
            f"Error: message {queued} is queued: only an unknown message is marked; it has "
            f"not been sent yet; 'warmup queue cancel {queued}' cancels it\n",
        ),
        (
            [str(expired), "unsent"],
            65,
            f"Error: message {expired} is expired: only an unknown message is marked; it "
            f"never left: nothing to decide ('warmup queue retry {expired}' queues it "
            f"again)\n",
        ),
        (["999", "sent"], 64, missing.stderr),
        (["--campaign", "NOSUCH", "sent"], 64, nosuch.stderr),
        (
            [str(mid), "--campaign", "dec", "sent"],
            64,
            f"Error: give a message ID or --campaign NAME, not both: 'warmup queue mark "
            f"{mid} sent' marks that message, 'warmup queue mark --campaign dec sent' "
            f"every unknown message of the campaign\n",
        ),
        (
            [str(mid)],
            64,
            "Error: say 'sent' (it went) or 'unsent' (it did not, and is not to be sent) "
            "after the message ID or --campaign NAME: 'warmup queue mark 42 sent'\n",
        ),
        (
            [str(mid), "maybe"],
            64,
            "Error: say 'sent' (it went) or 'unsent' (it did not, and is not to be sent) "
            "after the message ID or --campaign NAME: 'warmup queue mark 42 sent'\n",
        ),
        (
            ["sent"],
            64,
            "Error: give a message ID or --campaign NAME: 'warmup queue mark 42 sent'\n",
        ),
        (
            ["x1", "sent"],
            64,
            "Error: Invalid value for 'ID': 'x1': expected a number, as 'warmup queue list' "
            "shows (see 'cli queue mark --help')\n",
        ),
        (  # Arabic-Indic digits: int() reads them, and a person reading 42 would not
            ["\u0664\u0662", "sent"],
            64,
            "Error: Invalid value for 'ID': '\u0664\u0662': digits must be 0-9: write '42' "
            "(see 'cli queue mark --help')\n",
        ),
    ]
    for args, code, err in cases:
        res = cli("queue", "mark", *args)
        assert (res.returncode, res.stdout, res.stderr) == (code, "", err), args
        assert "Traceback" not in res.stderr
    assert _rows(ledger) == before


def _start(*args: str, app: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if app is not None:
        env["PGAPPNAME"] = app
    return subprocess.Popen(
        [*forkcli.command(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_two_marks_at_once_change_the_message_once(ledger_url, ledger, sink):
    """Two people (processes) mark one message at the same time, one 'sent', one 'unsent':
    one wins, the other is told what it became; its slot is settled once (counted once, or
    given back once)."""
    (mid,) = _unknown(sink, ledger)
    left = _left()
    procs = {w: _start("queue", "mark", str(mid), w) for w in ("sent", "unsent")}
    done = {w: (p.wait(timeout=120), *p.communicate()) for w, p in procs.items()}
    codes = sorted(code for code, _, _ in done.values())
    assert codes == [0, 65], done
    won = next(w for w, (code, _, _) in done.items() if code == 0)
    state = {"sent": "sent", "unsent": "cancelled"}[won]
    lost = done["unsent" if won == "sent" else "sent"]
    assert lost[2] == (
        f"Error: message {mid} is {state}: only an unknown message is marked; "
        + (
            "it went: nothing to decide\n"
            if state == "sent"
            else "it is not to be sent: "
            f"nothing to decide ('warmup queue retry {mid}' queues it again)\n"
        )
    ), done
    assert ledger.message(mid).state == state
    assert _slots(ledger, mid) == ["sent" if won == "sent" else "released"]
    assert _left() == left + (won == "unsent")


@pytest.mark.parametrize("verb", ["mark", "retry"])
def test_a_mark_or_retry_waiting_behind_another_mark_changes_nothing(on_pg, ledger, sink, verb):
    """PostgreSQL: another host's mark holds the message's row (its transaction not committed
    yet) when this command reads it, still unknown. Once that one commits, this one finds the
    message no longer unknown (65) and changes nothing: 'queue retry' read the state, then wrote
    its own regardless, and queued a message marked sent again under a new Message-ID."""
    (mid,) = _unknown(sink, ledger)
    first = ledger.message(mid)
    app = session_name("mark")
    with ledger.write() as conn:  # the other host's mark, as far as its first statement
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id == mid, OUTBOX.c.state == "unknown")
            .values(state="sent", last_reply="marked sent by hand: it reached its recipients")
        )
        args = (
            ("queue", "mark", str(mid), "unsent")
            if verb == "mark"
            else ("queue", "retry", str(mid))
        )
        proc = _start(*args, app=app)
        while not waiting_for_lock(on_pg, app):  # it waits for this one: commit
            assert proc.poll() is None, proc.communicate()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out) == (65, ""), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    row = ledger.message(mid)
    assert (row.state, row.message_id) == ("sent", first.message_id)
    assert _slots(ledger, mid) == ["unknown"]  # the other mark's to settle, not this one's


def test_the_library_refuses_both_or_neither_of_a_message_and_a_campaign(ledger_path):
    ledger = open_ledger()
    try:
        for kwargs in ({}, {"message": 1, "campaign": "dec"}):
            with pytest.raises(UsageError) as exc:
                outbox.mark(ledger, True, **kwargs)  # type: ignore[arg-type]
            assert str(exc.value) == "give exactly one of message and campaign"
    finally:
        ledger.close()
