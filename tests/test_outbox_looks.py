"""The worker looks at every member of a pool together (:mod:`warmup.outbox.looks`): the same
answers as each member's gate previewing alone (a member paused, its cap used, a domain cap
shared, a recipient-domain cap), on both backends, and after changes another process makes
between two looks (a pause lifted, a policy's new version, a cap, a member removed); and a
worker process sends each message from the member the plan allows, following changes made by
another process between its messages."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.gatekit import cli, policy_file, warmup
from tests.outboxkit import BOXES, add_box, midday_zone, pool_of, start_driver
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_outbox_poolrev import DRIVER, _step, queue
from tests.test_outbox_poolrev import sink as sink  # the fixture: the members' TLS sink
from warmup import Gate
from warmup.ledger import open_ledger
from warmup.ledger.values import MailboxNotFound
from warmup.outbox.looks import Looks

RCPTS = (
    ["x@example.com"],
    ["x@other.example"],
    ["x@other.example", "y@other.example", "z@other.example"],
)


def _policies(tmp: Path) -> tuple[Path, Path, Path]:
    flat = policy_file(tmp / "flat.toml", daily=5)
    capped = policy_file(tmp / "capped.toml", daily=5)
    capped.write_text(capped.read_text().replace("\n", "\ndomain_cap = 6\n", 1))
    rdom = policy_file(tmp / "rdom.toml", daily=5)
    rdom.write_text(rdom.read_text() + '\n[recipient_domains]\n"example.com" = 1\n')
    return flat, capped, rdom


class _Statements:
    """What the connections ``ledger``'s pool hands out send to the database while it is used
    as a context: on SQLite each statement (its trace); on PostgreSQL (libpq's trace) each
    statement's text (a Query or Parse: the pool's check of a connection is ``;``) and the
    round trips (each ends with the server's ReadyForQuery). :meth:`take`: those since the
    last."""

    def __init__(self, ledger: Any, tmp_path: Path) -> None:
        self.ledger, self.tmp = ledger, tmp_path
        self.seen: list[str] = []
        self.traced: dict[Any, Path] = {}

    def __enter__(self) -> _Statements:
        sa.event.listen(self.ledger.engine, "checkout", self._checkout)
        # On SQLite the look keeps its pooled connection checked out between looks
        held = getattr(self.ledger, "_look", None)
        if held is not None:
            held[0].driver_connection.set_trace_callback(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.ledger.engine, "checkout", self._checkout)
        for raw in self.traced:
            if not raw.closed:
                raw.pgconn.untrace()

    def _checkout(self, raw: Any, _rec: Any, _proxy: Any) -> None:
        if self.ledger.scheme == "sqlite":
            raw.set_trace_callback(self._note)
        elif raw not in self.traced:
            self.traced[raw] = self.tmp / f"trace{len(self.traced)}"
            self._trace(raw)

    def _note(self, statement: str) -> None:
        self.seen.append(statement)  # the list of now: take() puts a new one in place

    def _trace(self, raw: Any) -> None:
        import psycopg

        raw.pgconn.trace(os.open(self.traced[raw], os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def take(self) -> tuple[list[str], int]:
        """The statements since the last call, and on PostgreSQL the round trips."""
        trips = 0
        for raw, path in self.traced.items():
            if raw.closed:
                continue
            raw.pgconn.untrace()  # flushed
            for line in path.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) < 4:
                    continue
                if parts[0] == "F" and parts[2] in ("Query", "Parse"):
                    self.seen.append(parts[3].split('"')[1 if parts[2] == "Query" else 3])
                elif parts[0] == "B" and parts[2] == "ReadyForQuery":
                    trips += 1
            path.write_text("")
            self._trace(raw)
        seen, self.seen = self.seen, []
        return seen, trips


def _sent(box: str, to: str, minutes_ago: int) -> None:
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat()
    res = cli("record", "send", box, "--to", to, "--at", at)
    assert res.returncode == 0, res.stderr


def test_the_members_looked_at_together_answer_as_each_gate_alone(
    ledger_url,  # noqa: F811
    tmp_path,
):
    a, b, c, d = BOXES
    flat, capped, rdom = _policies(tmp_path)
    for box, policy in ((a, capped), (b, flat), (c, flat), (d, rdom)):
        add_box(box, 1, str(policy), midday_zone())  # minutes back and on: one day
    assert cli("pool", "add", "P", a, b, c, d).returncode == 0
    assert cli("mailbox", "pause", b, "--reason", "review").returncode == 0
    assert cli("mailbox", "set", c, "--cap", "1").returncode == 0
    _sent(c, "s1@else.example", 30)  # its cap used
    _sent(d, "s2@example.com", 20)  # example.com's one a day used
    _sent(a, "s3@else.example", 10)
    _sent(a, "s4@else.example", 5)  # the domain: 4 of its 6 sent today
    ledger = open_ledger(ledger_url)
    gates = [Gate(box, ledger=ledger, settle_after=None) for box in BOXES]
    looks = Looks(ledger)

    def both() -> list[list[tuple[object, str | None]]]:
        now = dt.datetime.now(dt.UTC)  # after the changes made so far
        got = [looks.previews(gates, rcpts, now) for rcpts in RCPTS]
        want = [[g.preview(rcpts, now) for g in gates] for rcpts in RCPTS]
        assert got == want
        return want

    try:
        before = both()
        said = [why or "" for answers in before for _, why in answers]  # a, b, c, d each
        assert said[0] == said[4] == said[7] == ""
        assert said[1].startswith(f"{b} is paused") and said[5] == said[1]
        assert (
            said[2].startswith(f"{c}: today's quota is used (1 of 1 sent)") and said[6] == said[2]
        )
        assert said[3].startswith(f"{d}: recipient-domain cap: at most 1 a day to example.com")
        assert said[8].startswith(f"{a}: only 2 of today's quota left (domain cap 6/day")
        # Changes another process makes between two looks are seen by the next one.
        for change in (
            ("mailbox", "resume", b),
            ("policy", "set", "flat", str(policy_file(tmp_path / "two.toml", daily=2))),
            ("mailbox", "set", a, "--cap", "2"),
        ):
            res = warmup(*change)
            assert res.returncode == 0, res.stderr
            after = both()
            assert after != before, change
            before = after
        res = warmup("mailbox", "remove", d, "--force")
        assert res.returncode == 0, res.stderr
        now = dt.datetime.now(dt.UTC)
        assert looks.previews(gates, RCPTS[0], now) is None  # each gate says it
        with pytest.raises(MailboxNotFound):
            gates[3].preview(RCPTS[0], now)
        assert looks.previews(gates[:3], RCPTS[0], now) == [
            g.preview(RCPTS[0], now) for g in gates[:3]
        ]
    finally:
        for gate in gates:
            gate.close()
        ledger.close()


def test_a_worker_process_follows_changes_made_between_its_messages(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The worker keeps its members' rows and policies between messages; a pause, a cap
    lifted and a policy's new version made by another process between two messages decide
    the next. A cap lifted is what a kept row would miss for good: the member looked used up
    was never offered the message (a cap lowered, the reservation itself refuses)."""
    a, b, c = pool_of(sink.port, tmp_path, n=3, daily=5)
    assert cli("mailbox", "set", c, "--cap", "1").returncode == 0
    for i in range(5):
        queue(f"r{i}@example.com")
    worker = start_driver(DRIVER, tmp_path / "keeper.py")
    try:
        assert f"from {a} to r0@example.com" in _step(worker)  # a and b level: by address
        assert f"from {b} to r1@example.com" in _step(worker)  # a sent one
        assert cli("mailbox", "pause", a, "--reason", "review").returncode == 0
        assert f"from {b} to r2@example.com" in _step(worker)  # b: 4 left, c: 1, a paused
        assert cli("mailbox", "resume", a).returncode == 0
        assert cli("mailbox", "set", c, "--cap", "none").returncode == 0
        assert f"from {c} to r3@example.com" in _step(worker)  # c: 5 left, a: 4
        res = cli("policy", "set", "flat", str(policy_file(tmp_path / "one.toml", daily=1)))
        assert res.returncode == 0, res.stderr
        assert _step(worker) == "DONE sent=4,waiting=1"  # each has sent its one
    finally:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0 and "Traceback" not in err, err
    assert [str(m.message["From"]) for m in sink.messages] == [a, b, b, c]


@contextmanager
def _flat_members(url: str, tmp_path: Path, n: int) -> Iterator[tuple[Any, ...]]:
    """The first ``n`` of BOXES under a flat policy: an open ledger, each one's gate, a
    :class:`Looks`, their rows; the gates and ledger closed after."""
    names = BOXES[:n]
    flat = policy_file(tmp_path / "flat.toml", daily=5)
    for box in names:
        add_box(box, 1, str(flat), midday_zone())
    ledger = open_ledger(url)
    gates = [Gate(box, ledger=ledger, settle_after=None) for box in names]
    try:
        yield ledger, gates, Looks(ledger), [ledger.mailbox(box) for box in names]
    finally:
        for gate in gates:
            gate.close()
        ledger.close()


def test_whom_a_message_stays_with_is_read_with_the_histories_in_one_transaction(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """:meth:`Looks.stays` answers as ``thread_sender`` then ``last_sender`` do, and, once the
    members are kept, reads their histories in the same read transaction: the preview at the
    same instant that follows reads nothing more, and answers as each gate alone."""
    with (
        _flat_members(ledger_url, tmp_path, 3) as (ledger, gates, looks, members),
        _Statements(ledger, tmp_path) as traced,
    ):
        _sent(BOXES[1], "known@example.com", 10)
        ids = [m.id for m in members]
        now = dt.datetime.now(dt.UTC)
        assert looks.stays(members, [], ["known@example.com"], now) == members[1].id
        assert ledger.last_sender(["known@example.com"], ids) == members[1].id
        assert looks.stays(members, [], ["new@example.com"], now) is None
        looks.previews(gates, ["new@example.com"], now)  # the members are kept from here on
        now = dt.datetime.now(dt.UTC)
        traced.take()
        assert looks.stays(members, [], ["new@example.com"], now) is None
        got = looks.previews(gates, ["new@example.com"], now)
        # The stays and every history: one statement, in no transaction, on both backends
        # (test_a_look_is_one_statement_and_sees_what_another_process_sent_before_it)
        statements, _ = traced.take()
        assert not any("BEGIN" in s for s in statements), statements
        assert got == [g.preview(["new@example.com"], now) for g in gates]


def test_histories_read_with_stays_serve_only_a_preview_at_the_same_instant(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A preview at a later instant than :meth:`Looks.stays` read the histories at reads them
    again: a pause committed in between is seen (taken from the earlier read, the paused member
    was offered the message)."""
    with _flat_members(ledger_url, tmp_path, 2) as (_, gates, looks, members):
        looks.previews(gates, ["x@example.com"], dt.datetime.now(dt.UTC))  # both kept
        assert looks.stays(members, [], ["x@example.com"], dt.datetime.now(dt.UTC)) is None
        assert cli("mailbox", "pause", BOXES[0], "--reason", "review").returncode == 0
        now = dt.datetime.now(dt.UTC)
        got = looks.previews(gates, ["x@example.com"], now)
        assert got is not None and got[0][0].status == "paused"
        assert got == [g.preview(["x@example.com"], now) for g in gates]


def test_a_kept_member_removed_before_the_look_leaves_it_to_the_previews(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A member removed after the claim read the pool's tag (its row still listed): the look
    that reads whom the message stays with with the histories does not fail on it (the worker
    took that for the message's pool gone, and cancelled it), and the previews say it."""
    with _flat_members(ledger_url, tmp_path, 2) as (_, gates, looks, members):
        _sent(BOXES[1], "known@example.com", 10)
        looks.previews(gates, ["x@example.com"], dt.datetime.now(dt.UTC))  # both kept
        res = warmup("mailbox", "remove", BOXES[0], "--force")
        assert res.returncode == 0, res.stderr
        now = dt.datetime.now(dt.UTC)
        assert looks.stays(members, [], ["known@example.com"], now) == members[1].id
        assert looks.stays(members, [], ["x@example.com"], now) is None
        assert looks.previews(gates, ["x@example.com"], now) is None  # each gate says it


def test_a_look_is_one_statement_and_sees_what_another_process_sent_before_it(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The worker's look at a pool (whom the message stays with, every member's history) is
    ONE statement, its own snapshot, in no transaction (it was 8 on SQLite: BEGIN, 5 reads,
    COMMIT, a pool of 3 ~1.4x one mailbox a message; on PostgreSQL 9 round trips: the pool's
    check of the connection, BEGIN, whom it stays with, 5 reads, COMMIT; then 2, the check and
    the statement; now 1, the check riding on the statement); a send another process
    committed between two looks is in the second, as each gate alone sees it."""
    with (
        _flat_members(ledger_url, tmp_path, 3) as (ledger, gates, looks, members),
        _Statements(ledger, tmp_path) as traced,
    ):
        rcpts = ["new@example.com"]
        looks.previews(gates, rcpts, dt.datetime.now(dt.UTC))  # the members are kept
        seen = []
        for box in (BOXES[1], BOXES[1], BOXES[2]):
            _sent(box, f"{len(seen)}@else.example", 1)  # another process, between two looks
            now = dt.datetime.now(dt.UTC)
            traced.take()
            assert looks.stays(members, [], rcpts, now) is None
            got = looks.previews(gates, rcpts, now)
            statements, trips = traced.take()
            assert [s for s in statements if s.strip() != ";"] == statements[-1:], statements
            assert "UNION ALL" in statements[-1] or "json_agg" in statements[-1]
            assert trips == (1 if ledger.scheme == "postgresql" else 0), statements
            assert got == [g.preview(rcpts, now) for g in gates]
            seen.append([a.sent for a, _ in got])
        assert seen == [[0, 1, 0], [0, 2, 0], [0, 2, 1]]


def test_the_look_on_sqlite_builds_no_temporary_table_of_the_members(tmp_path):
    """Whom a pool's message stays with names the members ``mailbox_id = ? OR ...``: as
    ``mailbox_id IN (?, ?, ?)`` (more than 2 values) SQLite built a temporary table of the ids
    at every look (``OpenEphemeral``: ~25% of the statement's time for a pool of 3). The
    answers are the same: the thread's sender first, else the recipient's last, else none."""
    import sqlite3

    with (
        _flat_members(os.environ["WARMUP_DB"], tmp_path, 3) as (ledger, gates, looks, members),
        _Statements(ledger, tmp_path) as traced,
    ):
        _sent(BOXES[2], "known@example.com", 10)
        _sent(BOXES[1], "other@example.com", 5)
        looks.previews(gates, ["new@example.com"], dt.datetime.now(dt.UTC))  # the members kept
        now = dt.datetime.now(dt.UTC)
        traced.take()
        assert looks.stays(members, [], ["known@example.com"], now) == members[2].id
        assert looks.stays(members, [], ["new@example.com"], now) is None
        got = looks.previews(gates, ["new@example.com"], now)
        assert got == [g.preview(["new@example.com"], now) for g in gates]
        looks_read = [s for s in traced.take()[0] if "UNION ALL" in s]
        assert len(looks_read) == 2, looks_read
        with sqlite3.connect(os.environ["WARMUP_DB"]) as con:
            for statement in looks_read:
                ops = [row[1] for row in con.execute(f"EXPLAIN {statement}")]
                assert "OpenEphemeral" not in ops, statement


def test_a_worker_process_offers_each_message_to_the_member_others_left_the_most(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Sends another process commits between two messages of a worker process (``warmup
    record send``, a real process) are in the worker's look at the next one: the member
    with the most of its quota left is offered it (a look kept from before would offer it to
    the member the others used up), and no member sends past its quota."""
    a, b = pool_of(sink.port, tmp_path, n=2, daily=4, zone=midday_zone())
    for i in range(4):
        queue(f"r{i}@example.com")
    worker = start_driver(DRIVER, tmp_path / "keeper.py")
    try:
        assert f"from {a} to r0@example.com" in _step(worker)  # level: by address
        _sent(b, "o1@else.example", 1)
        _sent(b, "o2@else.example", 1)  # a: 3 left, b: 2
        assert f"from {a} to r1@example.com" in _step(worker)  # a: 2 left, b: 2
        _sent(a, "o3@else.example", 1)  # a: 1 left, b: 2
        assert f"from {b} to r2@example.com" in _step(worker)  # a: 1, b: 1
        _sent(b, "o4@else.example", 1)  # a: 1, b: used up
        assert f"from {a} to r3@example.com" in _step(worker)
        assert _step(worker) == "DONE sent=4"
    finally:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0 and "Traceback" not in err, err
    assert [str(m.message["From"]) for m in sink.messages] == [a, a, b, a]
    ledger = open_ledger(ledger_url)
    try:
        for box in (a, b):
            got = ledger.history(ledger.mailbox(box), dt.datetime.now(dt.UTC)).history
            assert got.days[-1].sent == 4
    finally:
        ledger.close()


def test_a_look_in_one_statement_answers_as_the_gates_with_past_days_and_memos(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The one statement reads what the transaction did: members with sends on past days
    resumed from the walk memos the first look kept, one paused, one at its cap, one under a
    recipient-domain cap in another time zone, and today's bounce: the same answers as each gate alone, look after
    look, while another process sends between them."""
    a, b, c, d = BOXES
    flat, _, rdom = _policies(tmp_path)
    east = 13 - dt.datetime.now(dt.UTC).hour  # d's zone an hour east of the others': 13:xx
    later = "Etc/UTC" if east == 0 else f"Etc/GMT{-east:+d}"
    for box, policy, zone in ((a, flat, None), (b, flat, None), (c, flat, None), (d, rdom, later)):
        add_box(box, 1, str(policy), zone or midday_zone())
    for box in BOXES:
        for days in (5, 3, 1):
            _sent(box, f"past{days}@else.example", days * 24 * 60)
    assert cli("mailbox", "pause", b, "--reason", "review").returncode == 0
    assert cli("mailbox", "set", c, "--cap", "1").returncode == 0
    _sent(c, "s1@else.example", 30)  # its cap used
    _sent(d, "s2@example.com", 20)  # example.com's one a day used
    _sent(a, "gone@else.example", 15)
    res = cli("record", "bounce", a, "--to", "gone@else.example", "--kind", "soft")
    assert res.returncode == 0, res.stderr
    ledger = open_ledger(ledger_url)
    gates = [Gate(box, ledger=ledger, settle_after=None) for box in BOXES]
    members = [ledger.mailbox(box) for box in BOXES]
    looks = Looks(ledger)
    traced = _Statements(ledger, tmp_path).__enter__()
    try:
        for i, rcpts in enumerate(RCPTS * 2):
            if i:
                _sent(a, f"o{i}@else.example", 1)  # another process, between two looks
            now = dt.datetime.now(dt.UTC)
            traced.take()
            assert looks.stays(members, [], rcpts, now) is None
            got = looks.previews(gates, rcpts, now)
            statements, _ = traced.take()
            if i:  # from the second: every member kept
                assert not any("BEGIN" in s for s in statements), statements  # no transaction
            assert got == [g.preview(rcpts, now) for g in gates]
            assert got is not None and got[0][0].sent == i + 1
        with ledger.engine.connect() as conn:
            memos = conn.exec_driver_sql("SELECT mailbox_id, upto FROM walk_memo").all()
        # a, b and d resumed from their memos (c, its cap set today, walked from its first
        # day): both kinds of member in the one statement
        assert {m for m, _ in memos} >= {members[i].id for i in (0, 1, 3)}, memos
    finally:
        traced.__exit__()
        for gate in gates:
            gate.close()
        ledger.close()


def test_a_pool_larger_than_one_statement_takes_is_looked_at_in_a_transaction(tmp_path):
    """SQLite takes at most 500 SELECTs in one compound statement, and the look has 5 a member:
    a pool of more than ``MOST_MEMBERS`` is read in a transaction, with the same answers as
    each member's gate alone (in one statement it failed: 'too many terms in compound
    SELECT')."""
    from warmup import api
    from warmup.ledger.sqlite_look import MOST_MEMBERS

    flat = policy_file(tmp_path / "flat.toml", daily=5)
    ledger = open_ledger(os.environ["WARMUP_DB"])
    boxes = [f"m{i}@corp.example" for i in range(MOST_MEMBERS + 20)]
    for box in boxes:
        api.add_mailbox(ledger, box, "exmail", policy=str(flat), timezone=midday_zone())
    _sent(boxes[7], "known@example.com", 10)
    _sent(boxes[MOST_MEMBERS + 3], "y@else.example", 5)
    gates = [Gate(box, ledger=ledger, settle_after=None) for box in boxes]
    members = [ledger.mailbox(box) for box in boxes]
    looks = Looks(ledger)
    try:
        for rcpts in (["x@example.com"], ["new@example.com"], ["x@example.com"] * 2):
            now = dt.datetime.now(dt.UTC)
            assert looks.stays(members, [], rcpts, now) is None
            assert looks.previews(gates, rcpts, now) == [g.preview(rcpts, now) for g in gates]
        now = dt.datetime.now(dt.UTC)
        assert looks.stays(members, [], ["known@example.com"], now) == members[7].id
        assert looks.stays(members, [], ["y@else.example"], now) == members[-17].id
    finally:
        for gate in gates:
            gate.close()
        ledger.close()
