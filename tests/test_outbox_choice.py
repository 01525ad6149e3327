"""Which member of a pool sends each message, over a whole run: pinned, on both backends.

The worker offers a message to the member the plan leaves the most of today (then the one that
sent the least, then by address), unless its thread or a recipient stays with one; a member
paced, paused or used up is passed over until it may send again. However the members' previews
are computed (together, kept between messages), the order of senders over a run with members
at different levels must be this one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.gatekit import cli, policy_file
from tests.outboxkit import BOXES, add_box, members_sink, midday_zone
from tests.outboxkit import plain as message
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

STEP = dt.timedelta(seconds=10)  # the worker's clock moves on this much after each message sent


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 4) as s:
        yield s


def _policy(tmp: Path, name: str, daily: int, interval: str = "0s") -> str:
    path = policy_file(tmp / f"{name}.toml", daily=daily, interval=interval)
    path.write_text(path.read_text().replace('name = "flat"', f'name = "{name}"'))
    return str(path)


def _sent(box: str, to: str, at: dt.datetime) -> None:
    res = cli("record", "send", box, "--to", to, "--at", at.isoformat())
    assert res.returncode == 0, res.stderr


def test_the_members_a_run_sends_from_are_those_the_plan_allows_in_order(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """a: 5 a day, 2 sent before the run; b: 5, none sent; c: 6 a day, 1 sent, capped at 5,
    paced 25 s between sends (the clock moves 10 s a message: it skips two, then may send
    again); d: 5 a day, paused, resumed by another process mid-run. A message to a recipient
    b mailed stays with b. Each level, the pacing gap's end, a resume and a used-up quota
    decide the next sender in turn."""
    zone = midday_zone()
    a, b, c, d = BOXES
    for box, policy in (
        (a, _policy(tmp_path, "five", 5)),
        (b, _policy(tmp_path, "five", 5)),
        (c, _policy(tmp_path, "paced", 6, "25s")),
        (d, _policy(tmp_path, "five", 5)),
    ):
        add_box(box, sink.port, policy, zone)
    assert cli("mailbox", "set", c, "--cap", "5").returncode == 0
    assert cli("mailbox", "pause", d, "--reason", "review").returncode == 0
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    _sent(a, "p1@else.example", t0 - dt.timedelta(minutes=9))
    _sent(a, "p2@else.example", t0 - dt.timedelta(minutes=8))
    _sent(c, "p3@else.example", t0 - dt.timedelta(minutes=7))
    assert cli("pool", "add", "P", a, b, c, d).returncode == 0
    ledger = open_ledger()
    rcpts = [f"r{i}@example.com" for i in range(18)]
    rcpts[7] = rcpts[0]  # the first goes from b: this one stays with b
    for to in rcpts:
        Outbox(ledger).add(message(to), pool="P", now=t0)
    clock = [t0]
    sent: list[str] = []

    def note(line: str) -> None:
        if line.split(" ")[1:2] == ["sent"]:
            sent.append(line)
            clock[0] += STEP
            if len(sent) == 6:  # another process lifts d's pause between two messages
                assert cli("mailbox", "resume", d).returncode == 0

    try:
        with Worker(ledger, clock=lambda: clock[0], note=note) as worker:
            done = worker.run_once()
    finally:
        ledger.close()
    senders = [str(m.message["From"]) for m in sink.messages]
    assert [m.rcpt_tos[0] for m in sink.messages] == rcpts[: len(senders)]
    short = {a: "a", b: "b", c: "c", d: "d"}
    # b 5 left, then level with c (by address); c, the least sent, paced until 25 s on; a, b;
    # c again; d resumed (5 left); r0's b; d, d; a, c, d level (by address); ...; r17 waits
    assert "".join(short[s] for s in senders) == "bbcabcdbddacdabcd"
    assert done.outcomes == {"sent": len(senders), "waiting": len(rcpts) - len(senders)}
