"""A mailbox added after one was removed. SQLite gave the removed one's id (the newest) to the
next one (before m015, ``mailbox`` and ``pool`` had no AUTOINCREMENT): what is kept by mailbox
id and ``rev`` (a worker's gates, a gate's kept rows, walk memos) took the new mailbox for the
removed one, and the outbox's record of the removed one's messages read as the new one's. Since
m015 no mailbox or pool id is given twice (nor past ``db copy``); a new mailbox's ``rev`` still
starts where no earlier one's can stand, and the worker still checks a kept gate is its
mailbox's."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from tests.gatekit import cli, policy_file
from tests.outboxkit import BOXES, add_box, driver_pass, leads, pool_of, start_driver, template
from tests.outboxkit import plain as message
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from warmup import Gate, Outbox, api
from warmup.ledger import mailbox_store, open_ledger
from warmup.ledger.values import MailboxNotFound
from warmup.outbox.worker import Worker

# A worker process keeping its Worker (its gates) across passes: each line on stdin runs a
# pass; it prints each log line ("LOG ...") and "DONE outcome=n,..." when the pass ends.
DRIVER = """
import sys
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

ledger = open_ledger()
with Worker(ledger, log=lambda line: print("LOG " + line, flush=True)) as w:
    for line in sys.stdin:
        done = w.run_once()
        print("DONE " + ",".join(f"{k}={v}" for k, v in sorted(done.outcomes.items())), flush=True)
ledger.close()
"""


@pytest.fixture
def other_sink(pki):  # type: ignore[no-untyped-def]
    """The new mailbox's own server: a message through it went with the new one's settings."""
    with SmtpSink(
        "ssl", user=BOXES[3], password=SMTP_PASSWORD, pki=pki, accounts={BOXES[3]: SMTP_PASSWORD}
    ) as s:
        yield s


def queue(to: str, pool: str | None = None, mailbox: str | None = None, late: int = 0) -> int:
    """Queue a message due ``late`` seconds from a second ago (due in a pass in progress)."""
    ledger = open_ledger()
    try:
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=late - 1)
        return Outbox(ledger).add(message(to), pool=pool, mailbox=mailbox, now=now)
    finally:
        ledger.close()


def test_a_running_worker_sends_as_the_new_mailbox_that_took_a_removed_ones_id(
    sink, other_sink, ssl_cert_env, tmp_path
):
    """A worker process keeps a gate of b (pool P = {a, b}); `mailbox remove b`, `mailbox add d`
    (b's id, its own server), d added to P, a message queued to P and one to d alone: both go
    from d through d's server, in the worker's next pass, and nothing crashes."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    policy = str(tmp_path / "flat.toml")
    ledger = open_ledger()
    old_id = ledger.mailbox(b).id
    queue("r0@example.com", mailbox=b)
    queue("r1@example.com", mailbox=a)
    queue("r4@example.com", mailbox=a)
    proc = start_driver(DRIVER, tmp_path / "keeper.py")
    try:
        assert driver_pass(proc)[-1] == "DONE sent=3"  # the worker now keeps gates of a and b
        res = cli("mailbox", "remove", b, "--force")
        assert res.returncode == 0, res.stderr
        d = BOXES[3]
        add_box(d, other_sink.port, policy)
        assert ledger.mailbox(d).id > old_id  # never b's id again (m015)
        res = cli("pool", "add", "P", d)
        assert res.returncode == 0, res.stderr
        queue("r3@example.com", mailbox=d)  # first: the worker's gate of id 2 is b's
        queue("r2@example.com", pool="P")  # a sent two, d one: d
        lines = driver_pass(proc)
        assert lines[-1] == "DONE sent=2", lines
    finally:
        out, err = proc.communicate(timeout=60)  # closes stdin: the driver ends
        assert proc.returncode == 0 and "Traceback" not in err, err
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
        "r0@example.com",
        "r1@example.com",
        "r4@example.com",
    ]
    got = sorted((m.rcpt_tos[0], str(m.message["From"])) for m in other_sink.messages)
    assert got == [("r2@example.com", d), ("r3@example.com", d)]
    assert {m.state for m in ledger.messages()} == {"sent"}
    # d's history holds d's sends only (b's went with it).
    assert api.quota_for(ledger, ledger.mailbox(d), dt.datetime.now(dt.UTC)).sent == 2
    ledger.close()


def test_a_message_queued_mid_pass_to_the_new_mailbox_goes_from_it_not_the_removed_one(
    sink, other_sink, ssl_cert_env, password, tmp_path
):
    """Mid-pass (no fresh look at the start of a pass): once b sent r0, b is removed, d added
    with b's id and its own server, and a message queued to d alone; the worker, whose gate for
    that id is b's, must send it from d through d's server, not as b through b's."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    policy = str(tmp_path / "flat.toml")
    ledger = open_ledger()
    old_id = ledger.mailbox(b).id
    queue("r0@example.com", mailbox=b, late=-2)
    queue("r9@example.com", mailbox=a, late=-1)  # its claim writes r0's "sent"
    d = BOXES[3]
    ids, sent = [], []

    def log(line: str) -> None:
        if line.split(" ")[1:2] == ["sent"]:
            sent.append(line)
        if len(sent) != 2 or ids:
            return
        res = cli("mailbox", "remove", b, "--force")
        assert res.returncode == 0, res.stderr
        add_box(d, other_sink.port, policy)
        ids.append(ledger.mailbox(d).id)
        # due a minute before now, so before the pass began however long its two sends took
        # (due a second ago, it missed the pass under a loaded CI's slow sends: 2 sent, not 3)
        queue("r1@example.com", mailbox=d, late=-60)

    with Worker(ledger, log=log) as worker:
        assert worker.run_once().outcomes == {"sent": 3}
    assert len(ids) == 1 and ids[0] > old_id  # never b's id again (m015)
    assert [str(m.message["From"]) for m in sink.messages] == [b, a]
    assert [(m.rcpt_tos[0], str(m.message["From"])) for m in other_sink.messages] == [
        ("r1@example.com", d)
    ]
    ledger.close()


def test_a_gate_of_a_removed_mailbox_does_not_reserve_for_the_one_with_its_id(
    sink, ssl_cert_env, password, tmp_path, monkeypatch
):
    """Gate(b) kept open across `mailbox remove b` and `mailbox add d` (b's id): its next
    reservation must not be taken in d's name (b's rows, b's policy, a slot in d's history).
    (Removed once its unsettled slot is past the in-flight window, as a dead sender's is.)"""
    monkeypatch.setattr(mailbox_store, "IN_FLIGHT", dt.timedelta(0))
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    gate = Gate(b, ledger=ledger)
    gate.send(message("r0@example.com").as_bytes(), ["r0@example.com"])  # its rows kept
    assert ledger.remove_mailbox(b, force=True) == 0
    add_box(BOXES[3], sink.port)
    d = ledger.mailbox(BOXES[3])
    assert d.id > gate.box.id  # never b's id again (m015)
    with pytest.raises(MailboxNotFound):
        gate.reserve(["r1@example.com"])
    gate.close()
    assert api.quota_for(ledger, d, dt.datetime.now(dt.UTC)).sent == 0
    ledger.close()


def test_a_new_mailbox_starts_at_a_rev_no_earlier_one_with_its_id_had_and_rev_still_moves(
    ledger_url,  # noqa: F811
):
    ledger = open_ledger(ledger_url)
    try:
        revs = []
        for box in BOXES:
            api.add_mailbox(ledger, box, "exmail")
            revs.append(ledger.mailbox_rev(box)[1])
        assert 0 not in revs and len(set(revs)) == len(revs)
        ledger.update_mailbox(BOXES[0], cap=10)  # rev moves on a change, as before
        assert ledger.mailbox_rev(BOXES[0])[1] == revs[0] + 1
        last = BOXES[-1]
        ledger.remove_mailbox(last)
        api.add_mailbox(ledger, last, "exmail")
        assert ledger.mailbox_rev(last)[1] not in revs
    finally:
        ledger.close()


# -- what a removed mailbox or pool leaves behind: its outbox rows ---------------------------
# `mailbox remove` and `pool remove` keep the record of their messages (sent, cancelled...) by
# id. A mailbox or pool added later must never be given that id: it would be shown those
# messages as its own and skip, in a campaign, the recipients the removed one mailed.


def _queue_and_send(run, url: str, tmp_path, target: list[str], by: str) -> None:  # type: ignore[no-untyped-def]
    """Queue two CSV rows (campaign c) to ``target`` and settle both as sent by ``by``."""
    res = run(
        "queue", "add", *target, "--campaign", "c", "--csv", str(leads(tmp_path / "l.csv", 2)),
        "--template", str(template(tmp_path / "t.toml")),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ledger = open_ledger(url)
    try:
        now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        by_id = ledger.mailbox(by).id
        for _ in range(2):
            row = ledger.claim("w", now)
            assert row is not None
            ledger.settle_message(row.id, "w", "sent", now, sent_by=by_id)
    finally:
        ledger.close()


def _requeue(run, tmp_path, target: list[str]):  # type: ignore[no-untyped-def]
    return run(
        "queue", "add", *target, "--campaign", "c", "--csv", str(tmp_path / "l.csv"),
        "--template", str(tmp_path / "t.toml"),
    )  # fmt: skip


def test_a_mailbox_added_after_a_removal_is_not_shown_nor_denied_the_removed_ones_messages(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
):
    """b (the newest) sent campaign c to two leads; `mailbox remove b --force`; `mailbox add
    d`: `queue list`/`queue status` must not call b's messages d's, and queueing campaign c to
    d must queue both leads (d never mailed them)."""
    for box in BOXES[:2]:
        assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    b, d = BOXES[1], BOXES[3]
    _queue_and_send(run, ledger_url, tmp_path, ["--mailbox", b], by=b)
    assert run("mailbox", "remove", b, "--force").exit_code == 0
    assert run("mailbox", "add", d, "--provider", "exmail").exit_code == 0

    listed = json.loads(run("queue", "list", "--json").stdout)
    assert [(m["mailbox"], m["sent_by"], m["state"]) for m in listed] == [(None, None, "sent")] * 2
    status = json.loads(run("queue", "status", "--json").stdout)
    assert d not in [m["mailbox"] for m in status["mailboxes"]], status
    res = _requeue(run, tmp_path, ["--mailbox", d])
    assert res.exit_code == 0, res.output
    assert res.output == f"Queued 2 messages to mailbox {d} (campaign c).\n"


def test_a_pool_added_after_a_removal_is_not_shown_nor_denied_the_removed_ones_messages(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
):
    """The same for pools: pool Q, added after `pool remove P --force` (the newest pool), is
    neither shown P's messages nor refused the leads P mailed in campaign c."""
    a = BOXES[0]
    assert run("mailbox", "add", a, "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "O", a).exit_code == 0  # an older pool: P is not the only one
    assert run("pool", "add", "P", a).exit_code == 0
    _queue_and_send(run, ledger_url, tmp_path, ["--pool", "P"], by=a)
    assert run("pool", "remove", "P", "--force").exit_code == 0
    assert run("pool", "add", "Q", a).exit_code == 0

    listed = json.loads(run("queue", "list", "--json").stdout)
    assert [(m["pool"], m["sent_by"]) for m in listed] == [(None, a)] * 2
    res = _requeue(run, tmp_path, ["--pool", "Q"])
    assert res.exit_code == 0, res.output
    assert res.output == "Queued 2 messages to pool Q (campaign c).\n"


@pytest.mark.parametrize("direction", ["to-postgresql", "to-sqlite"])
def test_a_copied_ledger_never_gives_a_new_mailbox_an_id_its_messages_name(
    run,
    tmp_path,
    pg_url,  # noqa: F811
    direction,
):
    """`db copy` of a ledger whose newest mailbox was removed (its messages kept): the copy's
    next mailbox must not take the id those messages name (the id sequence was moved only past
    the mailboxes copied)."""
    lite = f"sqlite:///{tmp_path / 'copy.db'}"
    src, dst = (lite, pg_url) if direction == "to-postgresql" else (pg_url, lite)
    b, d = BOXES[1], BOXES[3]
    for box in BOXES[:2]:
        assert run("--db", src, "mailbox", "add", box, "--provider", "exmail").exit_code == 0
    res = run("--db", src, "queue", "add", "--mailbox", b, "--eml", str(_eml(tmp_path)))
    assert res.exit_code == 0, res.output
    assert run("--db", src, "mailbox", "remove", b, "--force").exit_code == 0
    res = run("--db", src, "db", "copy", "--to", dst)
    assert res.exit_code == 0, res.output
    assert run("--db", dst, "mailbox", "add", d, "--provider", "exmail").exit_code == 0
    listed = json.loads(run("--db", dst, "queue", "list", "--json").stdout)
    assert [(m["mailbox"], m["state"]) for m in listed] == [(None, "cancelled")]


def _eml(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "m.eml"
    path.write_bytes(message("r@example.com").as_bytes())
    return path


def test_a_gate_of_a_removed_mailbox_never_settles_another_mailboxs_slot(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
    monkeypatch,
):
    """b's gate holds a slot (r3) and a "sent" written with its next transaction (r1) when
    `mailbox remove b` deletes both; a's gate then reserves r2 and r4. SQLite gave them the
    send ids b's slots had: b's settlements (r3 released, r1 sent at close) landed on a's
    slots, a's own hard bounces were then refused as settled, and r2 went uncounted. (The
    removal is let through as it is once the slots are past the in-flight window, as a dead
    sender's are: within it, it is refused.)"""
    monkeypatch.setattr(mailbox_store, "IN_FLIGHT", dt.timedelta(0))
    policy = policy_file(tmp_path / "flat.toml")
    a, b = BOXES[:2]
    for box in (a, b):
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy))
        assert res.exit_code == 0, res.output
    ledger = open_ledger(ledger_url)
    # b's "sent" waits for its close, not for its settler thread (half a second idle on a
    # slow machine wrote it before the removal, and the test proved nothing)
    gate_b = Gate(b, ledger=ledger, settle_after=None)
    gate_a = Gate(a, ledger=ledger)
    try:
        held = gate_b.reserve(["r3@example.com"])
        gate_b.reserve(["r1@example.com"]).settle("sent")  # written with b's next transaction
        assert gate_b._db.pending
        assert ledger.remove_mailbox(b, force=True) == 0
        mine = [gate_a.reserve([f"r{n}@example.com"]) for n in (2, 4)]
        held.settle("released")
        gate_b.close()
        for res in mine:
            res.settle("hard")
        with ledger.read() as conn:
            got = conn.execute(
                sa.text("SELECT recipient, outcome FROM send ORDER BY recipient")
            ).all()
        assert [tuple(r) for r in got] == [("r2@example.com", "hard"), ("r4@example.com", "hard")]
        assert ledger.rollup_mismatches() == []
        assert api.quota_for(ledger, ledger.mailbox(a), dt.datetime.now(dt.UTC)).sent == 2
    finally:
        gate_a.close()
        gate_b.close()
        ledger.close()
