"""The pool's revision tag: the worker keeps its copy of a pool while each claim reads the same
tag, and every change to the pool or its members moves the tag in the change's transaction
(SQLite and PostgreSQL), so a copy is never used past a change a claim can see. Workers in
other processes see the same changes the same way."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa

from tests.gatekit import cli, policy_file
from tests.outboxkit import BOXES, driver_pass, members_sink, pool_of, start_driver
from tests.outboxkit import plain as message
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox, api
from warmup.ledger import open_ledger
from warmup.ledger.values import Overflow, PoolNotFound
from warmup.outbox.worker import Worker

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)

# A worker process that keeps its Worker (and its copy of the pools) across passes and stops
# after each message it sends: each line on stdin goes on (the first starts a pass); it prints
# "SENT <log line>" after a message went and "DONE outcome=n,..." when a pass ends.
DRIVER = """
import sys
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def log(line):
    if line.split(" ")[1:2] == ["sent"]:
        print("SENT " + line, flush=True)
        sys.stdin.readline()


ledger = open_ledger()
with Worker(ledger, log=log) as w:
    for line in sys.stdin:
        done = w.run_once()
        print("DONE " + ",".join(f"{k}={v}" for k, v in sorted(done.outcomes.items())), flush=True)
ledger.close()
"""


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 3) as s:
        yield s


def queue(to: str, pool: str = "P", late: int = 0) -> int:
    """Queue a message due ``late`` seconds after T0 (before any pass of a test: due in the
    pass in progress)."""
    ledger = open_ledger()
    try:
        return Outbox(ledger).add(message(to), pool=pool, now=T0 + dt.timedelta(seconds=late))
    finally:
        ledger.close()


def test_every_change_to_a_pool_or_its_members_moves_its_tag_and_a_claim_reads_it(
    ledger_url,  # noqa: F811
):
    ledger = open_ledger(ledger_url)
    try:
        for box in BOXES[:3]:
            api.add_mailbox(ledger, box, "exmail")
        a, b, c = BOXES[:3]
        seen = []

        def tag() -> int:
            seen.append(ledger.pool("P").rev)
            return seen[-1]

        ledger.add_pool("P", [a], None, T0)
        tag()
        ledger.add_pool("P", [a], None, T0)  # nothing changes: the copies stay good
        assert tag() == seen[-2]
        ledger.add_pool("P", [b], None, T0)  # a member added
        tag()
        ledger.add_pool("P", [], False, T0)  # its Reply-To setting
        tag()
        ledger.set_overflow("P", Overflow("127.0.0.1", 2525, "starttls", "esp-user"), T0)
        tag()
        ledger.set_overflow("P", None, T0)
        tag()
        Outbox(ledger).add(message("x@example.com"), pool="P", now=T0)
        claimed = ledger.claim("w", T0)
        assert claimed is not None and claimed.pool_rev == seen[-1]
        ledger.add_pool("Q", [b, c], None, T0)
        q = ledger.pool("Q").rev
        ledger.remove_mailbox(b)  # a member taken out of both its pools
        assert [m.address for m in ledger.pool("P").members] == [a]
        tag()
        assert ledger.pool("Q").rev != q
        assert len(set(seen)) == len(seen) - 1 and 0 not in seen
        Outbox(ledger).add(message("y@example.com"), pool="P", now=T0)
        claimed = ledger.claim("w", T0)
        assert claimed is not None and claimed.pool_rev == seen[-1]
        # A message of no pool reads no tag.
        Outbox(ledger).add(message("z@example.com"), mailbox=a, now=T0)
        claimed = ledger.claim("w", T0)
        assert claimed is not None and claimed.pool_id is None and claimed.pool_rev is None
    finally:
        ledger.close()


def test_a_worker_looks_a_pool_up_once_while_it_does_not_change(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    lookups = []
    real = ledger.pool_by_id

    def counted(pool_id: int):  # type: ignore[no-untyped-def]
        lookups.append(pool_id)
        return real(pool_id)

    ledger.pool_by_id = counted  # type: ignore[method-assign]
    for i in range(4):
        Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0)
    with Worker(ledger, clock=lambda: T0) as worker:
        # One look a pass (at its start, at the backlog), whatever the number of messages.
        assert worker.run_once().outcomes == {"sent": 4}
        assert len(lookups) == 1
        for i in range(4, 7):
            Outbox(ledger).add(message(f"r{i}@example.com"), pool="P", now=T0)
        assert worker.run_once().outcomes == {"sent": 3}
        assert len(lookups) == 2
        assert cli("pool", "add", "P", a, "--no-reply-to").returncode == 0
        Outbox(ledger).add(message("r7@example.com"), pool="P", now=T0)
        assert worker.run_once().outcomes == {"sent": 1}
        assert len(lookups) == 3
    assert sink.messages[-1].message["Reply-To"] is None  # the new setting took effect
    assert {str(m.message["From"]) for m in sink.messages} == {a, b}


def _step(proc: subprocess.Popen[str]) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    assert line.startswith(("SENT ", "DONE ")), (line, proc.communicate()[1] if not line else "")
    return line.strip()


@pytest.mark.slow
def test_two_worker_processes_mid_pass_both_follow_a_change_made_by_a_third(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Workers A and B (processes), each in a pass with its copy of P = {a, b}, each past
    one message; a third process removes a and adds c; then each claims one more message.
    They go from c and b: a worker using its copy would send from a (removed with its
    history, it looked the least used) or fail on it."""
    a, b, c = pool_of(sink.port, tmp_path, n=3, daily=50, name="ALL")
    res = cli("pool", "add", "P", a, b)
    assert res.returncode == 0, res.stderr
    queue("r1@example.com"), queue("r2@example.com")
    workers = [start_driver(DRIVER, tmp_path / "keeper.py") for _ in range(2)]
    try:
        assert f"from {a} to r1@example.com" in _step(workers[0])  # level: by address
        assert f"from {b} to r2@example.com" in _step(workers[1])  # a sent one
        removed = cli("mailbox", "remove", a, "--force")
        assert removed.returncode == 0, removed.stderr
        added = cli("pool", "add", "P", c)
        assert added.returncode == 0, added.stderr
        queue("r3@example.com"), queue("r4@example.com")
        assert f"from {c} to r3@example.com" in _step(workers[0])  # b sent one, c none
        assert f"from {b} to r4@example.com" in _step(workers[1])  # level: by address
        assert [_step(w) for w in workers] == ["DONE sent=2", "DONE sent=2"]
    finally:
        for w in workers:
            out, err = w.communicate(timeout=60)  # closes stdin: the driver ends
            assert w.returncode == 0 and "Traceback" not in err, err
    senders = [(m.rcpt_tos[0], str(m.message["From"])) for m in sink.messages]
    assert senders == [
        ("r1@example.com", a),
        ("r2@example.com", b),
        ("r3@example.com", c),
        ("r4@example.com", b),
    ]


def test_a_pool_removed_mid_pass_and_another_made_with_its_id_is_not_taken_for_the_old_one(
    sink, ssl_cert_env, password, tmp_path
):
    """Before m015 SQLite gave the id of a removed pool (the newest) to the next one: a tag
    counting the changes of each pool would start again where the worker's copy of the removed
    one may stand (since m015 the new pool gets a new id; the worker must still send from it). Mid-pass (a pass starts with a fresh look at each pool with due messages): once
    P's message went from a and one of pool ALL from b, P is removed with a message still
    queued to it, Q = {c} made with P's id, a message queued to Q; the worker, whose copy
    says P = {a, b}, must send it from c."""
    a, b, c = pool_of(sink.port, tmp_path, n=3, daily=50, name="ALL")
    assert cli("pool", "add", "P", a, b).returncode == 0
    ledger = open_ledger()
    old = ledger.pool("P")
    queue("r0@example.com", late=-2)
    queue("r1@example.com", pool="ALL", late=-1)
    left = queue("r9@example.com", late=86400)
    sent, ids = [], []

    def log(line: str) -> None:
        if line.split(" ")[1:2] == ["sent"]:
            sent.append(line)
        if len(sent) != 2 or ids:
            return
        res = cli("pool", "remove", "P", "--force")  # none of its messages is being sent
        assert res.returncode == 0, res.stderr
        res = cli("pool", "add", "Q", c)
        assert res.returncode == 0, res.stderr
        ids.append(ledger.pool("Q").id)
        queue("r2@example.com", pool="Q")

    with Worker(ledger, log=log) as worker:
        assert worker.run_once().outcomes == {"sent": 3}  # r9 is not due yet
    assert len(ids) == 1 and ids[0] > old.id  # never P's id again (m015)
    row = ledger.message(left)  # as before the tags: cancelled, saying why
    assert (row.state, row.last_reply) == ("cancelled", "pool P removed")
    assert [str(m.message["From"]) for m in sink.messages] == [a, b, c]
    ledger.close()


def test_a_member_removed_mid_pass_is_not_offered_the_next_message(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """`mailbox remove b` commits between two claims of one pass (a pass starts with a fresh
    look at the pool): the next claim reads the moved tag, and the message goes from a."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    for i in range(4):
        queue(f"r{i}@example.com")
    ledger = open_ledger()
    removed = []

    def log(line: str) -> None:
        if line.split(" ")[1:2] == ["sent"] and not removed:
            res = cli("mailbox", "remove", b, "--force")  # a sent one: b looks the least used
            assert res.returncode == 0, res.stderr
            removed.append(b)

    with Worker(ledger, log=log) as worker:
        assert worker.run_once().outcomes == {"sent": 4}
    assert [str(m.message["From"]) for m in sink.messages] == [a] * 4
    assert {m.state for m in ledger.messages()} == {"sent"}
    ledger.close()


# A `warmup run --pool P` as a process of its own that keeps its Worker across passes: each
# line on stdin runs one pass; it prints each log line as "LOG ..." and "DONE ..." after a pass.
POOL_DRIVER = """
import sys
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

ledger = open_ledger()
with Worker(ledger, pool="P", log=lambda line: print("LOG " + line, flush=True)) as w:
    for line in sys.stdin:
        done = w.run_once()
        print("DONE " + ",".join(f"{k}={v}" for k, v in sorted(done.outcomes.items())), flush=True)
ledger.close()
"""


def test_a_worker_of_one_pool_follows_it_when_it_is_removed_and_made_again(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """`warmup run --pool P` kept the id P had when it started: once P was removed and made
    again (a new id), the worker never sent the new P's messages, and said nothing is queued.
    Now it looks P up by name each pass: one line when P is gone, one when it is back, and
    the new P's messages go."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    queue("r0@example.com")
    proc = start_driver(POOL_DRIVER, tmp_path / "pool_keeper.py")
    try:
        assert driver_pass(proc, cut_stamps=True)[-1] == "DONE sent=1"
        res = cli("pool", "remove", "P", "--force")
        assert res.returncode == 0, res.stderr
        assert driver_pass(proc, cut_stamps=True) == [
            "pool P was removed: nothing to send until 'warmup pool add P ADDRESS...' makes "
            "it again",
            "DONE",
        ]
        assert driver_pass(proc, cut_stamps=True) == ["DONE"]  # said once
        res = cli("pool", "add", "P", a)
        assert res.returncode == 0, res.stderr
        queue("r1@example.com"), queue("r2@example.com")
        got = driver_pass(proc, cut_stamps=True)
        assert got[0] == "pool P exists again: sending its messages", got
        assert got[-1] == "DONE sent=2", got
    finally:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "Traceback" not in err, err
    assert [m.rcpt_tos for m in sink.messages] == [
        ("r0@example.com",),
        ("r1@example.com",),
        ("r2@example.com",),
    ]


def test_a_pool_read_by_id_is_one_statement_and_the_pool_read_by_name(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The worker reads a pool by id up to three times a pass of a paced pool (the pass's look,
    the hold after its slot's message, the next message due); it took three statements (the
    name, the row, the members: ~1 ms of CPU on SQLite), now one, which reads the pool's tag
    and its members at one moment. The same pool as by name: its members by address, its
    overflow channel, its tag; a pool left without members; none by an unknown id."""
    ledger = open_ledger(ledger_url)
    flat = str(policy_file(tmp_path / "flat.toml"))
    try:
        for box in ("c@corp.example", "a@corp.example", "b@corp.example", "x@corp.example"):
            api.add_mailbox(ledger, box, "exmail", policy=flat)
        made = ledger.add_pool(
            "P", ["c@corp.example", "a@corp.example", "b@corp.example"], None, T0
        )
        pid = made[0].id
        ledger.set_overflow("P", Overflow("127.0.0.1", 2525, "none", "esp"), T0)
        statements: list[str] = []

        def seen(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            statements.append(statement)

        sa.event.listen(ledger.engine, "before_cursor_execute", seen)
        try:
            got = ledger.pool_by_id(pid)
        finally:
            sa.event.remove(ledger.engine, "before_cursor_execute", seen)
        assert [s for s in statements if "pool" in s] == [statements[-1]], statements
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
        assert got == ledger.pool("P")
        assert [m.address for m in got.members] == [
            "a@corp.example",
            "b@corp.example",
            "c@corp.example",
        ]
        assert [m.id for m in got.members] == [ledger.mailbox(m.address).id for m in got.members]
        assert got.members == tuple(ledger.mailbox(m.address) for m in got.members)
        assert got.overflow == Overflow("127.0.0.1", 2525, "none", "esp")
        assert (got.id, got.name, got.reply_to) == (pid, "P", True)
        ledger.remove_members("P", ["a@corp.example", "b@corp.example", "c@corp.example"], True)
        empty = ledger.pool_by_id(pid)
        assert empty.members == () and empty == ledger.pool("P") and empty.rev != got.rev
        with pytest.raises(PoolNotFound):
            ledger.pool_by_id(pid + 1000)
    finally:
        ledger.close()
