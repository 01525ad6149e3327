"""``warmup quota --json`` for every mailbox (issue #15) reads all histories at once
(:meth:`Ledger.histories`): it must answer exactly what the per-mailbox path answers, and keep
the same walk memos, on SQLite and PostgreSQL.

The ledger mixes what changes the reads: four policies (presets, a stored one with a domain cap,
one capping recipient domains), three time zones, a cap, a late start, a mailbox that never
sent, bounce spikes that hold, step back and pause, a pause and resume by hand, a provider
back-off still in force, today's sends on both sides of ``--at``, late bounces that bump a
mailbox's revision, and walk memos present, stale and absent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ADDED_AT, WORKING_DAYS_POLICY
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import api, shards
from warmup.ledger import BounceIn, Ledger, SendIn, open_ledger
from warmup.ledger.history import Questions
from warmup.ledger.schema import WALK_MEMO

START = dt.date(2026, 8, 4)  # the last question falls on a Saturday
DAYS = 30
CAPPED = (
    WORKING_DAYS_POLICY.replace('name = "working-days"', 'name = "capped"').replace(
        "domain_cap = 120\n", ""
    )
    + '\n[recipient_domains]\n"ex1.example" = 4\n'
)
# address, provider, time zone, policy, cap, start day
BOXES = [
    ("a@corp.example", "exmail", "Asia/Shanghai", None, None, None),
    ("b@corp.example", "exmail", "Asia/Shanghai", "working-days", None, None),
    ("c@corp.example", "gmail", "UTC", "gentle", 40, None),
    ("d@corp.example", "exmail", "America/Los_Angeles", "default", None, START + dt.timedelta(9)),
    ("e@other.example", "exmail", "Asia/Shanghai", "capped", None, None),
    ("f@other.example", "exmail", "UTC", "working-days", None, None),
    ("g@corp.example", "exmail", "Asia/Shanghai", None, None, None),  # never sends
    ("h@corp.example", "m365", "UTC", "default", None, None),
]

# (mailbox, day) -> bounce rate: spikes that pause, step back and hold
SPIKES = {(1, 20): 0.4, (3, 22): 0.3, (3, 23): 0.3, (5, 27): 0.06, (7, 26): 0.045, (2, 28): 0.08}


def instant(day: dt.date, hour: int, tz: str, minute: int = 0) -> dt.datetime:
    from zoneinfo import ZoneInfo

    local = dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(tz))
    return local.astimezone(dt.UTC)


def sends_of(rng: random.Random, n: int, box: int, day: dt.date, tz: str, rate: float) -> list:
    out = []
    nine, mmdd = instant(day, 9, tz, 0), f"{day:%m%d}"  # once a day, not once a send
    for i in range(n):
        at = nine + dt.timedelta(minutes=6 * i)
        rcpt = f"r{box}-{mmdd}-{i}@ex{i % 3}.example"
        bounce = None
        if rng.random() < rate:
            kind = rng.choice(["hard", "soft", "block"] + ["complaint"] * (rate > 0.1))
            bounce = BounceIn(rcpt, kind, at + dt.timedelta(minutes=20), f"b:{box}:{day}:{i}")
        out.append(SendIn(rcpt, at, f"<{box}.{day}.{i}@x>", "import", bounce))
    return out


def build(ledger: Ledger, rng: random.Random) -> list:
    ledger.store_policy("working-days", WORKING_DAYS_POLICY, None, replace=False)
    ledger.store_policy("capped", CAPPED, None, replace=False)
    boxes = []
    for k, (addr, prov, tz, policy, cap, started) in enumerate(BOXES):
        box = api.add_mailbox(
            ledger,
            addr,
            prov,
            timezone=tz,
            policy=policy,
            cap=cap,
            started=started,
            added_at=ADDED_AT,
        )
        boxes.append(box)
        if addr.startswith("g@"):
            continue
        sends = []
        for d in range(DAYS):
            if rng.random() < 0.15:
                continue  # idle days, now and then
            day = START + dt.timedelta(days=d)
            rate = SPIKES.get((k, d), 0.005)
            sends += sends_of(rng, rng.randint(5, 45), k, day, tz, rate)
        ledger.record(box, sends)
    a, e, h = boxes[0], boxes[4], boxes[7]
    api.pause(ledger, a.address, "list check", instant(START + dt.timedelta(14), 11, a.timezone))
    api.resume(ledger, a.address, instant(START + dt.timedelta(16), 8, a.timezone))
    api.pause(ledger, e.address, "by hand", instant(START + dt.timedelta(DAYS - 2), 7, e.timezone))
    until = instant(START + dt.timedelta(DAYS + 3), 0, h.timezone)
    ledger.add_event(
        h, "throttle", instant(START + dt.timedelta(DAYS - 1), 12, "UTC"), "421", until
    )
    return boxes


def memo_rows(ledger: Ledger) -> list[tuple]:
    m = WALK_MEMO.c
    with ledger.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(m.mailbox_id, m.upto, m.rev, m.inputs, m.state).order_by(m.mailbox_id)
            )
        ]


def forget(ledger: Ledger, boxes: list) -> None:
    with ledger.write() as conn:
        conn.execute(WALK_MEMO.delete().where(WALK_MEMO.c.mailbox_id.in_([b.id for b in boxes])))


@pytest.mark.slow
def test_quota_for_all_answers_what_each_mailbox_answers(ledger_url, run):  # noqa: F811
    rng = random.Random(15)
    ledger = open_ledger(ledger_url)
    boxes = build(ledger, rng)
    statuses: set[str] = set()
    with_memo = without = 0
    for step in range(6):
        today = START + dt.timedelta(days=DAYS + step // 2)
        at = instant(today, 10 if step % 2 == 0 else 23, "Asia/Shanghai", 30)
        # Today's sends on both sides of the cut, and a late bounce bumping a revision.
        for k in (0, 2, 4):
            box = boxes[(k + step) % len(boxes)]
            if not box.address.startswith("g@"):
                rate = 0.5 if step == 3 else 0.0
                ledger.record(box, sends_of(rng, 8, 100 + step, today, box.timezone, rate))
        old = START + dt.timedelta(days=5 + step)
        target = boxes[step % 3]
        ledger.record(
            target,
            bounces=[BounceIn(f"r{step % 3}-{old:%m%d}-0@ex0.example", "hard", at, f"l{step}")],
        )
        if step % 2:
            forget(ledger, boxes[step % 4 :: 3])
        expected = [api.quota_for(ledger, box, at).to_dict() for box in boxes]
        kept = memo_rows(ledger)
        forget(ledger, boxes[step % 3 :: 2])  # absent for the batched read; the others present

        asks = [(b, api._ask(api.policy_for(ledger, b), b)[1]) for b in boxes]
        one_by_one = [ledger.history(b, at, **ask._asdict()) for b, ask in asks]
        assert ledger.histories(asks, at) == one_by_one
        # SQLite answers on the driver: Core's batched read (PostgreSQL's) must agree with it.
        assert Questions.histories(ledger, asks, at) == one_by_one
        with_memo += sum(s.history.memo is not None for s in one_by_one)
        without += sum(s.history.memo is None for s in one_by_one)

        res = run("quota", "--json", "--at", at.isoformat())
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == expected
        assert memo_rows(ledger) == kept  # the same memos kept again, in one transaction
        statuses |= {q["status"] for q in expected}
    assert {"paused", "ok", "hold", "closed"} <= statuses, statuses
    assert with_memo > 10 and without > 10, (with_memo, without)


def prepares_numpy(path, at: dt.datetime) -> bool:
    """Whether :meth:`Reads.prepare` of every mailbox of the ledger at ``path`` imports numpy,
    in a process of its own (this one has it already)."""
    import subprocess
    import sys

    code = (
        "import datetime as dt, sys\n"
        "from warmup import api\n"
        "from warmup.ledger import open_reads\n"
        "reads = open_reads(sys.argv[1])\n"
        "specs, good, asks, _ = api._askable(reads, reads.mailboxes())\n"
        "assert 'numpy' not in sys.modules\n"
        "pairs = [(b, ask) for b, (_, ask) in zip(good, asks)]\n"
        "cold = reads.prepare(pairs, dt.datetime.fromisoformat(sys.argv[2]))\n"
        "print('numpy' in sys.modules, cold, len(pairs))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), at.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    got, cold, n = out.split()
    assert int(cold) == (int(n) if got == "True" else 0)  # here all are cold, or none
    return got == "True"


SMALL = """
name = "small"
ceiling = 40
growth_factor = 2.0
qualify = 0.5

[[stage]]
name = "first"
days = 3
daily = 6
interval = ["1m", "2m"]

[[stage]]
name = "ramp"
days = 6
daily = [8, 16]
interval = ["1m", "2m"]

[[stage]]
name = "stable"
days = 0
daily = 20
interval = ["30s", "1m"]

[health]
window_days = 5
min_sample = 10
hold_above = 0.05
step_back_above = 0.08
pause_above = 0.15
complaint_hold_above = 0.001
complaint_pause_above = 0.003
"""


@pytest.mark.slow
def test_a_batch_without_memos_is_walked_as_arrays_with_the_same_answers(tmp_path, run):
    """Enough mailboxes without a memo (the first ``warmup quota`` after an upgrade), with long
    enough histories, read their days as arrays and walk the stretches of their last stage in numpy (``History.sums``): the
    answers and the memos kept are those of the per-mailbox path, day for day, through holds,
    step-backs, idle gaps, a pause and resume by hand, caps, late starts and two policies with
    health windows of different lengths; some mailboxes send every day (their days implied by
    the first and the count, not read)."""
    from warmup.ledger import sqlite_days, sqlite_history

    rng = random.Random(1115)
    ledger = open_ledger(str(tmp_path / "l.db"))
    ledger.store_policy("small", SMALL, None, replace=False)
    start, days = dt.date(2026, 5, 1), 170
    boxes = []
    for k in range(sqlite_history.ARRAYS_FROM + 4):
        tz = ("Asia/Shanghai", "UTC", "America/Los_Angeles")[k % 3]
        box = api.add_mailbox(
            ledger,
            f"m{k}@corp{k % 5}.example",
            "exmail",
            timezone=tz,
            policy="small" if k % 4 else None,
            cap=15 if k % 7 == 3 else None,
            started=start + dt.timedelta(days=40) if k % 9 == 4 else None,
        )
        boxes.append(box)
        sends = []
        for d in range(days):
            idle = rng.random() < (0.5 if 60 <= d < 80 and k % 6 == 1 else 0.05)
            if idle and k % 8 != 2:
                continue  # idle days; a long gap for some; none for some (a row every day)
            rate = 0.3 if rng.random() < 0.02 else 0.01
            n = rng.randint(6, 18) if k % 4 else rng.randint(20, 40)
            sends += sends_of(rng, n, k, start + dt.timedelta(days=d), tz, rate)
        ledger.record(box, sends)
    p = boxes[5]
    api.pause(ledger, p.address, "list check", instant(start + dt.timedelta(100), 11, p.timezone))
    api.resume(ledger, p.address, instant(start + dt.timedelta(103), 8, p.timezone))
    at = instant(start + dt.timedelta(days=days), 15, "Asia/Shanghai")

    forget(ledger, boxes)
    one_by_one = []
    for box in boxes:
        one_by_one.append(api.quota_for(ledger, box, at).to_dict())
    kept = memo_rows(ledger)
    forget(ledger, boxes)
    asks = [(b, api._ask(api.policy_for(ledger, b), b)[1]) for b in boxes]
    snaps = ledger.histories(asks, at)
    assert all(s.history.sums is not None for s in snaps)  # the arrays path, for every one
    assert max(len(s.history.days) for s in snaps) < days // 4  # only the last days as objects
    # Before forking children that read parts of such a batch, the parent imports numpy once
    # for all of them (Reads.prepare); not for a batch whose memos are kept (below).
    assert prepares_numpy(tmp_path / "l.db", at)
    con = sqlite3.connect(tmp_path / "l.db")  # some read without their days (a row every day)
    spans = sqlite_days.day_spans(con.cursor(), [b.id for b in boxes], at.date().isoformat(), None)
    con.close()
    assert 0 < sum(n == last - first + 1 for n, first, last in spans.values()) < len(boxes)

    res = run("--db", str(tmp_path / "l.db"), "quota", "--json", "--at", at.isoformat())
    assert res.exit_code == 0, res.output
    by_box = {q["mailbox"]: q for q in json.loads(res.output)}
    assert by_box == {q["mailbox"]: q for q in one_by_one}
    assert memo_rows(ledger) == kept
    assert not prepares_numpy(tmp_path / "l.db", at)
    assert {q["stage"] for q in one_by_one} >= {"stable"}
    assert {q["status"] for q in one_by_one} & {"hold", "paused", "exhausted"}, one_by_one


@pytest.mark.alone  # forks: see tests/conftest.py
def test_quota_for_all_in_forked_parts_answers_the_same(ledger_url):  # noqa: F811
    """``warmup quota`` for many mailboxes without memos splits them across the cores
    (``fork_from``): each part read and walked in a child of its own, on its own connection.
    The same answers (the JSON) and the same memos kept as in one process (which answers once
    the memos are kept), on the quota path's reader (SQLite: the driver-level one) and on the
    full backend."""
    from warmup.ledger import open_reads
    from warmup.shards import shard_count

    if shard_count(len(BOXES), 1) < 2:
        pytest.skip("one core: nothing is forked")
    ledger = open_ledger(ledger_url)
    boxes = build(ledger, random.Random(16))
    at = instant(START + dt.timedelta(days=DAYS), 10, "Asia/Shanghai", 30)
    forget(ledger, boxes)
    whole, refused = api.quotas_each(ledger, boxes, at)
    assert refused == []
    expected = [a.to_dict() for _, a in whole]
    kept = memo_rows(ledger)
    assert len(kept) >= len(boxes) - 1  # all but the mailbox that never sent
    for reads in (open_reads(ledger_url), ledger):
        for memos in (False, True):
            if not memos:
                forget(ledger, boxes)
            # what decides: the mailboxes without a valid memo (the one that never sent has
            # none either way)
            pairs = [(b, api._ask(api.policy_for(ledger, b), b)[1]) for b in boxes]
            assert reads.prepare(pairs, at) == (1 if memos else len(boxes))
            got, refused = api.quotas_each(reads, boxes, at, fork_from=1)
            assert refused == []
            assert [a.to_dict() for _, a in got] == expected
            assert [b for b, _ in got] == boxes
            assert memo_rows(ledger) == kept  # kept by the parent, as one process keeps them
        # ... and the children answered (no part was done again here because one failed)
        specs, good, _ = api.askable(reads, boxes)
        pairs = [(b, api._ask(specs[b.policy], b)[1]) for b in good]
        first = pairs[: len(pairs) // 2]

        def here(part, first=first, reads=reads, specs=specs):
            assert part == first, "a child's part was done in the parent"
            return api._answers(reads, specs, at, part)

        there = functools.partial(api._answers_reopened, reads, specs, at)
        answers = shards.in_shards(pairs, 2, here, there)
        assert [a.to_dict() for a, *_ in answers] == expected


@pytest.mark.alone  # forks: see tests/conftest.py
def test_a_forked_part_that_cannot_open_the_ledger_is_done_in_the_parent(tmp_path):
    """A child opens the ledger anew (it must never use its parent's connection): when that
    fails (here the file was renamed after the parent opened it), the parent answers its part
    on its own connection; the answers are the same."""
    from warmup.errors import ConfigError
    from warmup.ledger import open_reads
    from warmup.shards import shard_count

    if shard_count(len(BOXES), 1) < 2:
        pytest.skip("one core: nothing is forked")
    path = tmp_path / "l.db"
    ledger = open_ledger(str(path))
    boxes = build(ledger, random.Random(17))
    ledger.close()
    at = instant(START + dt.timedelta(days=DAYS), 10, "Asia/Shanghai", 30)
    reads = open_reads(str(path))
    expected = [a.to_dict() for _, a in api.quotas_each(reads, boxes, at)[0]]
    path.rename(tmp_path / "moved.db")
    with pytest.raises(ConfigError):
        reads.reopen()  # what each child does first
    got, refused = api.quotas_each(reads, boxes, at, fork_from=1)
    assert refused == [] and [a.to_dict() for _, a in got] == expected


def test_a_child_reopens_a_ledger_named_by_a_relative_path(tmp_path):
    """``sqlite:///l.db`` keeps its path relative: the child's read-only reopen must still find
    the file (else every part would be done again in the parent)."""
    import subprocess
    import sys

    ledger = open_ledger(str(tmp_path / "l.db"))
    api.add_mailbox(ledger, "a@corp.example", "exmail")
    ledger.close()
    code = (
        "from warmup.ledger import open_reads\n"
        "reads = open_reads('sqlite:///l.db')\n"
        "print(type(reads).__name__, [b.address for b in reads.reopen().mailboxes()])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "SQLiteReads ['a@corp.example']", out.stderr


@pytest.mark.parametrize("short", [1, 0])
def test_prepare_s_count_of_rows_decides_as_the_spans_do(tmp_path, short):
    """Reads.prepare counts a batch's rows only up to what reading it as arrays takes: the
    same decision as the spans the read itself goes by, on either side of the line (a mailbox
    of others' rows, days at and after the last one read, not counted)."""
    from warmup.ledger import sqlite_history

    ledger = open_ledger(str(tmp_path / "l.db"))
    ledger.close()
    con = sqlite3.connect(tmp_path / "l.db")  # foreign keys off: rows without their mailbox
    cold = list(range(1, sqlite_history.ARRAYS_FROM + 1))
    need = sqlite_history.ARRAYS_DAYS * len(cold)
    first = dt.date(2025, 1, 1)
    rows = [(1 + k % len(cold), first + dt.timedelta(days=k // len(cold))) for k in range(need)]
    rows = rows[: need - short]
    rows += [(len(cold) + 1, first), (1, dt.date(2026, 1, 1)), (2, dt.date(2026, 2, 1))]
    with con:
        con.executemany(
            "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
            "VALUES (?, ?, 1, 0, 0, 0, 0)",
            [(i, d.isoformat()) for i, d in rows],
        )
    asks = [(None, dataclasses.make_dataclass("Ask", ["memo"])((7, 7))) for _ in cold]
    cur = con.cursor()
    worth = sqlite_history.arrays_worth(cur, asks, cold, "2026-01-01")
    assert worth == (sqlite_history.as_arrays(cur, asks, cold, "2026-01-01") is not None)
    assert worth == (short == 0)
    con.close()


def test_a_batch_is_walked_with_the_cycle_collector_held_off(tmp_path, monkeypatch):
    """The walks of a batch run without Python's cycle collector (each collection went through
    all of their objects again), and it runs after them as it did before: on if it was on, off
    if the caller had turned it off."""
    import gc

    ledger = open_ledger(str(tmp_path / "l.db"))
    boxes = [api.add_mailbox(ledger, f"m{k}@corp.example", "exmail") for k in range(2)]
    seen = []
    walked = api._answers

    def answers(*args, **kwargs):
        seen.append(gc.isenabled())
        return walked(*args, **kwargs)

    monkeypatch.setattr(api, "_answers", answers)
    at = dt.datetime(2026, 6, 1, 2, tzinfo=dt.UTC)
    assert gc.isenabled()
    try:
        got, _ = api.quotas_each(ledger, boxes, at)
        assert [a.mailbox for _, a in got] == [b.address for b in boxes]
        assert seen == [False] and gc.isenabled()
        gc.disable()
        api.quotas_each(ledger, boxes, at)
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()
        ledger.close()


def _blas_run(tmp_path: Path, blas: str | None) -> tuple[bool, int, int]:
    """``warmup quota --json`` for every mailbox of a ledger whose days are read as arrays,
    run by ``warmup.cli.main`` in a process of its own (``OPENBLAS_NUM_THREADS`` as given, no
    other BLAS setting): whether numpy was loaded, how many threads the process had after it,
    and how many answers it printed."""
    import subprocess
    import sys

    from warmup.ledger import sqlite_history

    path = tmp_path / "l.db"
    if not path.exists():
        ledger = open_ledger(str(path))
        boxes = [
            api.add_mailbox(ledger, f"m{k}@corp.example", "exmail", added_at=ADDED_AT)
            for k in range(sqlite_history.ARRAYS_FROM + 2)
        ]
        ledger.close()
        first, days = dt.date(2026, 1, 1), sqlite_history.ARRAYS_DAYS + 20
        con = sqlite3.connect(path)
        with con:  # the rollup's rows, which the arrays are read from
            con.executemany(
                "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
                "VALUES (?, ?, ?, 0, 0, 0, 0)",
                [
                    (b.id, (first + dt.timedelta(days=d)).isoformat(), 30 + (d + b.id) % 9)
                    for b in boxes
                    for d in range(days)
                ],
            )
        con.close()
    con = sqlite3.connect(path)
    with con:  # without their memos, as the first question after an upgrade
        con.execute("DELETE FROM walk_memo")
    con.close()
    at = dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC).isoformat()
    code = (
        "import os, sys\n"
        "from warmup.cli import main\n"
        "sys.argv = ['warmup', '--db', sys.argv[1], 'quota', '--json', '--at', sys.argv[2]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('numpy' in sys.modules, len(os.listdir('/proc/self/task')), file=sys.stderr)\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if blas is not None:
        env["OPENBLAS_NUM_THREADS"] = blas
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), at],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    loaded, threads = out.stderr.split()
    return loaded == "True", int(threads), len(json.loads(out.stdout))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="threads counted in /proc")
def test_quota_for_many_starts_no_blas_threads(tmp_path):
    """``warmup quota`` for many mailboxes without memos loads numpy, whose BLAS (OpenBLAS in
    numpy's wheels) started a thread per core as it loaded (~45 ms of a cold command's CPU,
    for no matrix ever multiplied): the command's process has none; a user's own
    ``OPENBLAS_NUM_THREADS`` is kept."""
    from warmup.ledger import sqlite_history

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: OpenBLAS starts no thread anyway")
    n = sqlite_history.ARRAYS_FROM + 2
    assert _blas_run(tmp_path, None) == (True, 1, n)
    assert _blas_run(tmp_path, "2") == (True, 2, n)
