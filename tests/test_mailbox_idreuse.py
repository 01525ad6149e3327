"""A removed mailbox's id given to the next one: SQLite reuses the highest INTEGER PRIMARY KEY
once its row is gone (``mailbox`` has no AUTOINCREMENT). What is kept by mailbox id and ``rev``
(a worker's gates, a gate's kept rows, walk memos) must not take the new mailbox for the
removed one: a new mailbox's ``rev`` starts where no earlier one's can stand, and the worker
checks a kept gate is still its mailbox's."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from email.message import EmailMessage

import pytest

from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import BOXES, add_box, pool_of
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Gate, Outbox, api
from warmup.ledger import open_ledger
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


def message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "hi"
    msg.set_content("hello")
    return msg


def queue(to: str, pool: str | None = None, mailbox: str | None = None, late: int = 0) -> int:
    """Queue a message due ``late`` seconds from a second ago (due in a pass in progress)."""
    ledger = open_ledger()
    try:
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=late - 1)
        return Outbox(ledger).add(message(to), pool=pool, mailbox=mailbox, now=now)
    finally:
        ledger.close()


def _pass(proc: subprocess.Popen[str]) -> list[str]:
    """Run one pass of the driver; its log lines, the DONE line last."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=60)[1]
        lines.append(line.strip())
        if line.startswith("DONE "):
            return lines


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
    script = tmp_path / "keeper.py"
    script.write_text(DRIVER, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _pass(proc)[-1] == "DONE sent=3"  # the worker now keeps gates of a and b
        res = cli("mailbox", "remove", b, "--force")
        assert res.returncode == 0, res.stderr
        d = BOXES[3]
        add_box(d, other_sink.port, policy)
        assert ledger.mailbox(d).id == old_id  # the case at hand (SQLite)
        res = cli("pool", "add", "P", d)
        assert res.returncode == 0, res.stderr
        queue("r3@example.com", mailbox=d)  # first: the worker's gate of id 2 is b's
        queue("r2@example.com", pool="P")  # a sent two, d one: d
        lines = _pass(proc)
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
        queue("r1@example.com", mailbox=d)

    with Worker(ledger, log=log) as worker:
        assert worker.run_once().outcomes == {"sent": 3}
    assert ids == [old_id]  # the case at hand (SQLite)
    assert [str(m.message["From"]) for m in sink.messages] == [b, a]
    assert [(m.rcpt_tos[0], str(m.message["From"])) for m in other_sink.messages] == [
        ("r1@example.com", d)
    ]
    ledger.close()


def test_a_gate_of_a_removed_mailbox_does_not_reserve_for_the_one_with_its_id(
    sink, ssl_cert_env, password, tmp_path
):
    """Gate(b) kept open across `mailbox remove b` and `mailbox add d` (b's id): its next
    reservation must not be taken in d's name (b's rows, b's policy, a slot in d's history)."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    gate = Gate(b, ledger=ledger)
    gate.send(message("r0@example.com").as_bytes(), ["r0@example.com"])  # its rows kept
    assert ledger.remove_mailbox(b, force=True) == 0
    add_box(BOXES[3], sink.port)
    d = ledger.mailbox(BOXES[3])
    assert d.id == gate.box.id  # the case at hand (SQLite)
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
