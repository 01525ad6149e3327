"""Races between processes on one outbox (SQLite and PostgreSQL).

A worker still alive after its claim's lease ran out never sends the message twice. Worker A
claims the message; its first pool member cannot log in, so it gives its slot back and A moves
on to the second member. There A stops (its log line is the pause point) while worker B, whose
clock is past A's lease (time is an input: no sleeping), recovers the message (nothing of it
reached a server: queued again), claims it and sends it from the first member. Then A goes on:
its reservation at the second member is fenced on its claim, which is no longer A's, so it
sends nothing.

Workers sharing a host name on different machines never take each other's live claims; a pool
removed while messages are queued to it never leaves them pointing at nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import pool_of
from tests.peers.fixtures import SMTP_PASSWORD
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from warmup import Outbox
from warmup.ledger import Ledger, open_ledger

# A worker process: its clock is the wall clock moved by argv[1] minutes; with argv[2] "pause"
# it prints PAUSED and waits for a line on stdin when a member could not send (between that
# member's released slot and the next member's reservation).
DRIVER = """
import datetime as dt, sys
from warmup.instants import now_utc
from warmup.ledger import Ledger, open_ledger
from warmup.outbox.worker import Worker

offset = dt.timedelta(minutes=float(sys.argv[1]))
pause = sys.argv[2] == "pause"


def log(line):
    print(line, flush=True)
    if pause and " could not send #" in line:
        print("PAUSED", flush=True)
        sys.stdin.readline()


ledger = open_ledger()
with Worker(ledger, clock=lambda: now_utc() + offset, log=log) as w:
    done = w.run_once()
print("DONE " + ",".join(sorted(done.outcomes)), flush=True)
ledger.close()
"""


def _driver(tmp: Path, minutes: int, mode: str) -> subprocess.Popen[str]:
    script = tmp / "driver.py"
    script.write_text(DRIVER, encoding="utf-8")
    import os

    return subprocess.Popen(
        [sys.executable, str(script), str(minutes), mode],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_worker_past_its_lease_never_sends_a_message_another_worker_took_over(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    first, second = pool_of(sink.port, tmp_path, n=2, daily=50)
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Subject"] = "once"
    msg.set_content("hello")
    ledger = open_ledger()
    try:
        (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
        message_id = ledger.message(mid).message_id
    finally:
        ledger.close()

    sink.password = "not-the-password"  # A's first member (the sink's own user) cannot log in
    a = _driver(tmp_path, 0, "pause")
    seen = []
    assert a.stdout is not None and a.stdin is not None
    for line in a.stdout:
        seen.append(line)
        if line.strip() == "PAUSED":
            break
    else:
        pytest.fail(f"worker A never paused: {''.join(seen)} {a.stderr.read() if a.stderr else ''}")
    assert f"{first} could not send #{mid}" in "".join(seen)

    sink.password = SMTP_PASSWORD  # the first member works again, for B
    b = _driver(tmp_path, 20, "go")  # 20 minutes later by its clock: A's lease has run out
    b_out, b_err = b.communicate(timeout=120)
    assert b.returncode == 0, b_err
    assert f"sent #{mid}" in b_out, b_out

    a_out, a_err = a.communicate("\n", timeout=120)
    assert a.returncode == 0, a_err
    assert "Traceback" not in a_err
    assert f"sent #{mid}" not in a_out, a_out
    assert f"lost #{mid}" in a_out, a_out

    sink.wait_for_messages(1)
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert arrived == {message_id: 1}
    assert [str(m.message["From"]) for m in sink.messages] == [first]
    (row,) = json.loads(cli("queue", "list", "--json").stdout)
    assert row["state"] == "sent"
    # The second member reserved nothing: no slot of it counts against its quota.
    ledger = open_ledger()
    try:
        slots = ledger.gate_outcomes(message_id)
        assert slots == {"lead@example.com": ("sent", ledger.mailbox(first).id)}
        assert ledger.mailbox(second) is not None
    finally:
        ledger.close()


def _claimed_by_w1(tmp_path: Path, to: str) -> tuple[Ledger, int, Any, dt.datetime]:
    """Pool P of a@corp.example (a flat policy), a message to ``to`` queued in it and claimed by
    worker "w1" now: the open ledger, the message's id, the claim and now."""
    from tests.gatekit import policy_file
    from warmup.instants import now_utc

    policy = policy_file(tmp_path / "flat.toml", daily=50, interval="0s")
    res = cli("mailbox", "add", "a@corp.example", "--provider", "exmail", "--policy", str(policy))
    assert res.returncode == 0, res.stderr
    res = cli("pool", "add", "P", "a@corp.example")
    assert res.returncode == 0, res.stderr
    msg = EmailMessage()
    msg["To"] = to
    msg.set_content("hello")
    ledger = open_ledger()
    (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
    now = now_utc()
    claimed = ledger.claim("w1", now)
    assert claimed is not None and claimed.id == mid
    return ledger, mid, claimed, now


def test_a_reservation_for_a_claim_no_longer_held_reserves_nothing(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The fence itself, on each backend: the claim's worker, state or message must match."""
    from warmup import Gate
    from warmup.ledger import Claim, ClaimLost

    ledger, mid, claimed, now = _claimed_by_w1(tmp_path, "lead@example.com")
    try:
        with Gate("a@corp.example", ledger=ledger) as gate:
            for claim in (Claim(mid, "w2"), Claim(mid + 1, "w1")):
                with pytest.raises(ClaimLost):
                    gate.reserve(["lead@example.com"], claimed.message_id, now, claim=claim)
            assert ledger.gate_outcomes(claimed.message_id) == {}
            ok = gate.reserve(["lead@example.com"], claimed.message_id, now, claim=Claim(mid, "w1"))
            ok.settle("released", now=now)
            assert ledger.recover(mid, "w1", now) == "queued"  # the claim is gone now
            with pytest.raises(ClaimLost):
                gate.reserve(["lead@example.com"], claimed.message_id, now, claim=Claim(mid, "w1"))
            outcomes = ledger.gate_outcomes(claimed.message_id)
            assert {r: o for r, (o, _) in outcomes.items()} == {"lead@example.com": "released"}
    finally:
        ledger.close()


def test_a_claim_of_a_worker_elsewhere_with_the_same_host_name_waits_for_its_lease(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Containers with host networking share a host name: a worker there, whose pid means
    nothing here (no such process on this machine), still holds its claim until its lease
    ends; `warmup run` here neither recovers nor sends the message."""
    from tests import forkcli
    from warmup.instants import now_utc
    from warmup.outbox.worker import HOST, LEASE

    pool_of(sink.port, tmp_path, n=1, daily=50)
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg.set_content("hello")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is no process here, as another machine's worker's would be
    elsewhere = f"{HOST}:{dead.pid}:0123456789ab:5eed5eed5eed5eed"
    ledger = open_ledger()
    try:
        (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
        claimed = ledger.claim(elsewhere, now_utc())
        assert claimed is not None and claimed.id == mid
    finally:
        ledger.close()

    import os

    env = {**os.environ, **PASSWORD_ENV}
    run = subprocess.run(
        [*forkcli.command(), "run", "--once", "--no-sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "recovered" not in run.stdout, run.stdout
    assert sink.messages == []
    ledger = open_ledger()
    try:
        row = ledger.message(mid)
        assert (row.state, row.claimed_by) == ("sending", elsewhere)
        # Past its lease the claim is abandoned whoever holds it: recovered, then sent.
        late = ledger.claims()
        assert late == [(mid, elsewhere, late[0][2])]
        from warmup.outbox.worker import Worker

        with Worker(ledger, clock=lambda: now_utc() + LEASE + LEASE) as worker:
            assert worker.recover(now_utc() + LEASE + LEASE) == ["queued"]
    finally:
        ledger.close()


def _campaign_pool(tmp_path):  # type: ignore[no-untyped-def]
    from tests.gatekit import policy_file

    policy = policy_file(tmp_path / "flat.toml", daily=50, interval="0s")
    res = cli("mailbox", "add", "a@corp.example", "--provider", "exmail", "--policy", str(policy))
    assert res.returncode == 0, res.stderr
    res = cli("pool", "add", "P", "a@corp.example")
    assert res.returncode == 0, res.stderr


def test_queueing_to_a_pool_or_mailbox_removed_after_it_was_looked_up_queues_nothing(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """What a queueing finds when a removal committed between its look-up of the target and
    its write: the check is made in the writing transaction."""
    from warmup.errors import DataError
    from warmup.instants import now_utc
    from warmup.ledger import OutboxIn

    _campaign_pool(tmp_path)
    ledger = open_ledger()
    try:
        pool = ledger.pool("P")
        box = ledger.mailbox("a@corp.example")
        now = now_utc()
        assert ledger.remove_pool("P", force=False, now=now) == 0
        item = OutboxIn("<1@corp.example>", ("x@example.com",), b"hi", now, now, pool_id=pool.id)
        with pytest.raises(DataError, match="the pool these messages are queued to was removed"):
            ledger.enqueue([item], now)
        assert ledger.remove_mailbox("a@corp.example") == 0
        item = OutboxIn("<2@corp.example>", ("x@example.com",), b"hi", now, now, mailbox_id=box.id)
        with pytest.raises(DataError, match="the mailbox these messages are queued to was"):
            ledger.enqueue([item], now)
        assert ledger.messages() == []
    finally:
        ledger.close()


def test_pool_remove_while_queue_add_to_it_waits_leaves_no_message_pointing_at_nothing(
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """Real processes on PostgreSQL: `queue add` has looked its pool up and waits in its
    writing transaction (on the campaign's lock, which this test holds) while `pool remove`
    runs; then it goes on, and must find the pool gone."""
    import os

    from tests import forkcli
    from tests.outboxkit import leads, template

    monkeypatch.setenv("WARMUP_DB", pg_url)
    _campaign_pool(tmp_path)
    csv, tpl = leads(tmp_path / "leads.csv", 3), template(tmp_path / "t.toml")
    ledger = open_ledger()
    try:
        pid = ledger.pool("P").id
        with ledger.write() as conn:  # the campaign's lock, as another queueing would hold it
            ledger._lock_name(conn, f"campaign {('dec', None, pid)!r}")
            add = subprocess.Popen(
                [*forkcli.command(), "queue", "add", "--pool", "P", "--campaign", "dec"]
                + ["--csv", str(csv), "--template", str(tpl)],
                env=dict(os.environ, PGAPPNAME=f"race-{os.getpid()}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            waiting = _waiting(ledger, add, "'advisory'")  # until queue add waits on the lock
            assert waiting == 1, add.communicate()
            removed = cli("pool", "remove", "P")
            assert removed.returncode == 0, removed.stderr
        out, err = add.communicate(timeout=60)
        assert add.returncode == 65, (out, err)
        assert "the pool these messages are queued to was removed meanwhile" in err
        assert "Traceback" not in err
        assert ledger.messages() == []
    finally:
        ledger.close()


RESERVE = """
import sys
from warmup import Gate
from warmup.ledger import Claim, ClaimLost, open_ledger

ledger = open_ledger()
mid, worker, message_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with Gate("a@corp.example", ledger=ledger) as gate:
    try:
        res = gate.reserve(["lead@example.com"], message_id, claim=Claim(mid, worker))
    except ClaimLost:
        print("LOST", flush=True)
    else:
        res.settle("released")
        print("RESERVED", flush=True)
ledger.close()
"""


def test_a_fenced_reservation_waits_for_a_recovery_in_progress_and_then_finds_its_claim_gone(
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """PostgreSQL, two processes: a recovery holds the message's row (as Ledger.recover does,
    FOR UPDATE) and has written it back to the queue, not yet committed; a reservation fenced on
    the old claim must wait for it, not read the claim as it was, and then reserve nothing."""
    import os

    from warmup.instants import now_utc
    from warmup.ledger.schema import OUTBOX

    monkeypatch.setenv("WARMUP_DB", pg_url)
    _campaign_pool(tmp_path)
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg.set_content("hello")
    ledger = open_ledger()
    try:
        (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
        claimed = ledger.claim("w-a", now_utc())
        assert claimed is not None and claimed.id == mid
        script = tmp_path / "reserve.py"
        script.write_text(RESERVE, encoding="utf-8")
        with ledger.write() as conn:
            conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.id == mid).with_for_update())
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == mid)
                .values(state="queued", claimed_by=None, claimed_at=None)
            )
            proc = subprocess.Popen(
                [sys.executable, str(script), str(mid), "w-a", claimed.message_id],
                env=dict(os.environ, PGAPPNAME=f"race-{os.getpid()}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            waiting = _waiting(
                ledger, proc, "'transactionid', 'tuple'"
            )  # until it waits on the row
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert waiting >= 1, out
        assert out.strip() == "LOST"
        assert ledger.gate_outcomes(claimed.message_id) == {}
    finally:
        ledger.close()


RECOVER = """
import sys
from warmup.instants import now_utc
from warmup.ledger import Ledger, open_ledger

ledger = open_ledger()
print(ledger.recover(int(sys.argv[1]), sys.argv[2], now_utc()), flush=True)
ledger.close()
"""


def test_a_recovery_waits_for_a_fenced_reservation_in_progress_and_then_sees_its_slot(
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """PostgreSQL, two processes, the other order: a reservation fenced on the claim holds the
    message's row (FOR SHARE) with its slot written, not yet committed; a recovery must wait
    for it and then find the slot (the message may leave: ``unknown``), never queue it again."""
    import datetime as dt
    import os

    from warmup.instants import now_utc
    from warmup.ledger.schema import OUTBOX, SEND

    monkeypatch.setenv("WARMUP_DB", pg_url)
    _campaign_pool(tmp_path)
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg.set_content("hello")
    ledger = open_ledger()
    try:
        (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
        now = now_utc()
        claimed = ledger.claim("w-a", now)
        assert claimed is not None and claimed.id == mid
        box = ledger.mailbox("a@corp.example")
        script = tmp_path / "recover.py"
        script.write_text(RECOVER, encoding="utf-8")
        with ledger.write() as conn:  # what the gate's reservation holds until its COMMIT
            conn.execute(
                sa.select(OUTBOX.c.id).where(OUTBOX.c.id == mid).with_for_update(read=True)
            )
            conn.execute(
                SEND.insert().values(
                    mailbox_id=box.id,
                    recipient="lead@example.com",
                    message_id=claimed.message_id,
                    at=now,
                    day=dt.date.today(),
                    outcome="reserved",
                    source="gate",
                    key=f"{claimed.message_id}|lead@example.com",
                )
            )
            proc = subprocess.Popen(
                [sys.executable, str(script), str(mid), "w-a"],
                env=dict(os.environ, PGAPPNAME=f"race-{os.getpid()}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            waiting = _waiting(
                ledger, proc, "'transactionid', 'tuple'"
            )  # until it waits on the row
            assert waiting >= 1, proc.communicate()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "unknown"
        assert ledger.message(mid).state == "unknown"
    finally:
        ledger.close()


def _waiting(ledger: Ledger, proc: subprocess.Popen[str], locktypes: str) -> int:
    """How many locks of these types the test's own process (``PGAPPNAME`` ``race-<pid>``:
    other tests share the server) waits on, polled until it waits or has ended."""
    waiting = 0
    for _ in range(6000):
        with ledger.read() as watch:
            waiting = watch.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE NOT l.granted AND l.locktype IN ({locktypes}) "
                    "AND a.application_name = :app"
                ),
                {"app": f"race-{os.getpid()}"},
            ).scalar_one()
        if waiting or proc.poll() is not None:
            break
        time.sleep(0.01)  # polling another process's state, not letting time pass
    return int(waiting)


def settled_too_big(tmp_path: Path, outcome: str) -> tuple[Ledger, int, dt.datetime]:
    """A message to in@example.com and big@example.com claimed by worker "w1", whose try the
    gate settled (in@ sent; big@'s server refused its size, 552 5.3.4, settled ``outcome``:
    ``soft`` as an earlier gate recorded such a refusal, ``released`` as it does now), and
    whose state w1 never wrote: the open ledger, the message's id and the try's time."""
    from warmup import Gate
    from warmup.ledger import Claim
    from warmup.smtp import RcptResult

    ledger, mid, claimed, now = _claimed_by_w1(tmp_path, "in@example.com, big@example.com")
    big = RcptResult("big@example.com", outcome, 552, "5.3.4 Message size too big")
    with Gate("a@corp.example", ledger=ledger) as gate:
        got = gate.reserve(["in@example.com", big.recipient], claimed.message_id, now,
                           claim=Claim(mid, "w1"))  # fmt: skip
        got.settle({"in@example.com": "sent", big.recipient: big}, now=now)
    return ledger, mid, now


def recovers_sent(ledger: Ledger, mid: int, now: dt.datetime) -> None:
    """The next worker, w1 past its lease, recovers message ``mid`` ``sent`` (to both, as the
    worker would have written it: the refusal of its size is final), not queued again."""
    from warmup.outbox.worker import LEASE, Worker

    later = now + LEASE + LEASE  # w1 is past its lease: gone
    with Worker(ledger, clock=lambda: later) as worker:
        assert worker.recover(later) == ["sent"]
    row = ledger.message(mid)
    assert (row.state, row.recipients) == ("sent", ("in@example.com", "big@example.com"))


@pytest.mark.parametrize("outcome", ["soft", "released"])
def test_a_dead_workers_message_refused_for_its_size_is_not_queued_again(
    ledger_url,  # noqa: F811
    tmp_path,
    outcome,
):
    """A worker settled a try (one recipient sent, one refused 552 5.3.4: the message too big)
    and died before writing the message's state: recovered from the gate's slots, the refused
    recipient was queued again as if a 4xx had deferred them, and the same message was refused
    at every try, a slot spent each time, until it expired. Final, as the worker and 'queue
    mark sent' hold it: the message is sent. Released (no bounce: the gate's settlement of a
    refusal at RCPT TO), the slot says why (its ``release_reason``)."""
    ledger, mid, now = settled_too_big(tmp_path, outcome)
    try:
        recovers_sent(ledger, mid, now)
    finally:
        ledger.close()


def test_a_slot_taken_again_after_another_members_try_is_the_latest_try(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Pool P of a and b. a's try gave its slot back (released: MAIL FROM refused, say), b's
    was deferred (a 4xx: soft), then a tried again, and the connection broke under the data
    (unknown: it may have left). a's try took its released slot again, which kept its id,
    older than b's: read as the latest try, b's soft slot said "deferred", and the worker's
    recovery queued the message again (as did 'queue mark sent' for the recipient), to be
    sent once more by b (DESIGN invariant 9: never twice). Each try has a slot of its own."""
    from tests.gatekit import policy_file
    from warmup import Gate
    from warmup.instants import now_utc
    from warmup.ledger import Claim
    from warmup.smtp import RcptResult

    policy = policy_file(tmp_path / "flat.toml", daily=50, interval="0s")
    for box in ("a@corp.example", "b@corp.example"):
        res = cli("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy))
        assert res.returncode == 0, res.stderr
    assert cli("pool", "add", "P", "a@corp.example", "b@corp.example").returncode == 0
    msg = EmailMessage()
    msg["To"] = "x@example.com"
    msg.set_content("hello")
    ledger = open_ledger()
    try:
        (mid,) = Outbox(ledger).add_many([(msg, None)], pool="P").ids
        now = now_utc()
        claimed = ledger.claim("w1", now)
        assert claimed is not None and claimed.id == mid
        claim, rcpt = Claim(mid, "w1"), ["x@example.com"]
        later = RcptResult("x@example.com", "soft", 450, "4.2.0 greylisted, try again later")
        with Gate("a@corp.example", ledger=ledger) as a, Gate("b@corp.example", ledger=ledger) as b:
            a.reserve(rcpt, claimed.message_id, now, claim=claim).settle("released", now=now)
            b.reserve(rcpt, claimed.message_id, now, claim=claim).settle(
                {"x@example.com": later}, now=now
            )
            a.reserve(rcpt, claimed.message_id, now, claim=claim).settle("unknown", now=now)
        assert ledger.gate_outcomes(claimed.message_id)["x@example.com"][0] == "unknown"
        assert ledger.recover(mid, "w1", now) == "unknown"
    finally:
        ledger.close()
