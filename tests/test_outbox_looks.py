"""The worker looks at every member of a pool together (:mod:`warmup.outbox.looks`): the same
answers as each member's gate previewing alone (a member paused, its cap used, a domain cap
shared, a recipient-domain cap), on both backends, and after changes another process makes
between two looks (a pause lifted, a policy's new version, a cap, a member removed); and a
worker process sends each message from the member the plan allows, following changes made by
another process between its messages."""

from __future__ import annotations

import datetime as dt
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
    with _flat_members(ledger_url, tmp_path, 3) as (ledger, gates, looks, members):
        _sent(BOXES[1], "known@example.com", 10)
        begun: list[object] = []
        sa.event.listen(ledger.engine, "begin", begun.append)
        ids = [m.id for m in members]
        now = dt.datetime.now(dt.UTC)
        assert looks.stays(members, [], ["known@example.com"], now) == members[1].id
        assert ledger.last_sender(["known@example.com"], ids) == members[1].id
        assert looks.stays(members, [], ["new@example.com"], now) is None
        looks.previews(gates, ["new@example.com"], now)  # the members are kept from here on
        now = dt.datetime.now(dt.UTC)
        del begun[:]
        assert looks.stays(members, [], ["new@example.com"], now) is None
        got = looks.previews(gates, ["new@example.com"], now)
        assert len(begun) == 1  # the stays and every history: one read transaction
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
