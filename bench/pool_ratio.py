"""A pool of 3 ÷ one mailbox, the worker's CPU a message, measured side by side in one process.

    .venv/bin/python bench/pool_ratio.py [--old /tmp/main-tree] [--rounds 8] [--n 100] [--paced]

``worker_trees.py`` runs one mailbox and a pool of 3 in separate processes tens of seconds
apart; on this shared machine their CPU a message moves by 20-30% between runs, so its ratio
(the goal: a pool of 3 <= 1.3x one mailbox) moved by 0.2-0.3 for the same code. Here one
process holds one ledger with a mailbox of its own and a pool of 3 others, all flat (no
pacing, a quota no run reaches), on one lean TLS sink (bench/leansink.py), and drains ``n``
messages queued to the mailbox then ``n`` to the pool (the order flipped every round), each by
a fresh ``Worker.run_once``: the two CPU figures of a round are seconds apart, under the same
load, and their ratio is taken round by round. ``--old TREE``: the same in that tree too (this
script is run there with PYTHONPATH set to it), the trees' processes interleaved, and the
ratio of each tree printed with this tree's ÷ the old one's.

``--paced``: the mailboxes keep a real preset's gap between sends (exmail's stable stage,
random 1-2 min, :data:`PACED_STAGE`), the quota still one no run reaches. A paced mailbox sends
one message a slot, so a drain is what ``warmup run`` does: a pass (``Worker.run_once``) sends
what may go, the next message meets the gap and is held until the next slot, and the worker
waits until ``Pass.next_due``; here the worker's ``clock`` is a fake one that jumps there
instead of waiting (:class:`FakeClock`: time is an input, the bench waits no real minutes).
The clock starts at 00:30 of the mailboxes' next local day (Asia/Shanghai), and a drain that
might not end that day starts at 00:30 of the next one: no drain crosses a local midnight.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACED_PRESET, PACED_STAGE = "exmail", "stable"  # whose gap between sends --paced keeps
ZONE = "Asia/Shanghai"  # the bench mailboxes' (exmail's) zone: local days begin here


class FakeClock:
    """The worker's clock in a paced drain: ``now`` until moved, never backwards."""

    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now

    def move_to(self, at: dt.datetime) -> None:
        self.now = max(self.now, at)


def _paced_policy(path: Path, daily: int) -> Path:
    """A one-stage policy at ``daily`` (no run reaches it) with the gap of
    :data:`PACED_PRESET`'s stage :data:`PACED_STAGE`, read from the preset itself."""
    import tomllib

    import warmup.policy

    preset = Path(warmup.policy.__file__).parent / "presets" / f"{PACED_PRESET}.toml"
    stages = tomllib.loads(preset.read_text())["stage"]
    lo, hi = next(s["interval"] for s in stages if s["name"] == PACED_STAGE)
    path.write_text(
        f'name = "paced"\nceiling = {daily}\ngrowth_factor = 2.0\n\n[[stage]]\n'
        f'name = "paced"\ndays = 0\ndaily = {daily}\ninterval = ["{lo}", "{hi}"]\n'
    )
    return path


def _local_start(after: dt.datetime) -> dt.datetime:
    """00:30 (Asia/Shanghai) of the first local day that begins after ``after``, in UTC."""
    from zoneinfo import ZoneInfo

    local = after.astimezone(ZoneInfo(ZONE))
    day = local.date() + dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(0, 30), tzinfo=ZoneInfo(ZONE))
    return start.astimezone(dt.UTC)


@contextmanager
def one_and_a_pool(
    paced: bool = False,
) -> Iterator[tuple[Callable[[int, str, int], None], Callable[[int], None]]]:
    """In the tree that is the working directory (its own bench helpers, its own warmup): one
    ledger with a mailbox of its own and a pool of 3 others, all flat (``paced``: with a real
    preset's gap between sends), on one lean TLS sink. Gives ``queue(offset, target, n)``
    (``n`` messages to ``"one"`` or ``"pool3"``) and ``drain(n)``, which must send the ``n``
    queued: a fresh ``Worker.run_once``; ``paced``: a fresh worker on a :class:`FakeClock`,
    its passes run one after the other, the clock moved to each pass's ``next_due``."""
    tree = Path.cwd().resolve()
    sys.path.insert(0, str(tree / "bench"))
    import outbox_bench as ob
    from leansink import LeanSink

    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    pki, policy = ob.setup(tmp)
    if paced:
        policy = _paced_policy(tmp / "paced.toml", ob.FLAT)
    import warmup
    from warmup import Outbox, api, open_ledger

    assert Path(warmup.__file__).resolve().is_relative_to(tree), warmup.__file__
    from warmup.instants import now_utc
    from warmup.outbox.worker import Worker

    ledger = open_ledger()
    alone, members = ob.USER, [f"p{k}@corp.example" for k in range(3)]
    clock = FakeClock(_local_start(now_utc() + dt.timedelta(hours=1)))
    longest = dt.timedelta(0)  # the longest a paced drain took: what the next one may take
    with LeanSink(pki, ",".join([alone, *members]), ob.PASSWORD) as sink:
        for user in (alone, *members):
            api.add_mailbox(
                ledger,
                user,
                "exmail",
                policy=str(policy),
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
            )
            assert ledger.mailbox(user).timezone == ZONE, ledger.mailbox(user).timezone
        pool = ledger.add_pool("bench", members, None, now_utc())[0]
        os.environ["WARMUP_PASSWORD"] = ob.PASSWORD
        targets = {"one": {"mailbox": alone}, "pool3": {"pool": pool.name}}

        def queue(offset: int, target: str, n: int) -> None:
            out = Outbox(ledger)
            if paced and _local_start(clock() + 2 * longest) > _local_start(clock()):
                clock.move_to(_local_start(clock()))  # it might cross midnight: a new day
            now = clock() if paced else None
            for i in range(n):
                out.add(ob.message(offset + i), now=now, **targets[target])

        def drain(n: int) -> None:
            if not paced:
                with Worker(ledger) as worker:
                    done = worker.run_once()
                assert done.outcomes.get("sent") == n, done.outcomes
                return
            nonlocal longest
            began, sent = clock(), 0
            with Worker(ledger, clock=clock) as worker:
                while sent < n:
                    done = worker.run_once()
                    sent += done.outcomes.get("sent", 0)
                    assert set(done.outcomes) <= {"sent", "waiting"}, done.outcomes
                    if sent < n:
                        assert done.next_due is not None, done
                        # as Worker.run waits: until the next message is due, at least 0.05 s
                        clock.move_to(max(done.next_due, clock() + dt.timedelta(seconds=0.05)))
            assert sent == n, (sent, n)
            assert _local_start(began) == _local_start(clock()), "a drain crossed midnight"
            longest = max(longest, clock() - began)

        yield queue, drain
    ledger.close()


def child(rounds: int, n: int, paced: bool = False) -> None:
    """Run the rounds in this process, on the tree it runs in (its working directory: its
    own bench helpers, its own warmup); print one line a round."""
    with one_and_a_pool(paced) as (queue, run):

        def drain(offset: int, target: str) -> float:
            queue(offset, target, n)
            cpu = time.process_time()
            run(n)
            return (time.process_time() - cpu) / n * 1e3

        drain(10**6, "one"), drain(2 * 10**6, "pool3")  # warm both paths
        for r in range(rounds):
            base = (r + 3) * 10**6
            if r % 2 == 0:
                a, p = drain(base, "one"), drain(base + n, "pool3")
            else:
                p, a = drain(base + n, "pool3"), drain(base, "one")
            print(f"{a:.4f} {p:.4f} {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, help="another tree (e.g. main's) to run the same in")
    ap.add_argument("--rounds", type=int, default=8, help="rounds a process")
    ap.add_argument("--n", type=int, default=100, help="messages a drain")
    ap.add_argument("--runs", type=int, default=2, help="processes a tree (interleaved)")
    ap.add_argument("--paced", action="store_true", help="mailboxes with exmail's gap")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.rounds, a.n, a.paced)
        return
    trees = {"this": HERE.parent}
    if a.old is not None:
        trees = {"old": a.old.resolve(), "this": HERE.parent}
    got: dict[str, list[tuple[float, float]]] = {t: [] for t in trees}
    for run in range(a.runs):
        for name in list(trees)[:: 1 if run % 2 == 0 else -1]:
            tree = trees[name]
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
            cmd += ["--rounds", str(a.rounds), "--n", str(a.n)] + ["--paced"] * a.paced
            env = dict(os.environ, PYTHONPATH=str(tree))
            res = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            for line in res.stdout.split("\n"):
                if line:
                    one, pool, load = map(float, line.split())
                    got[name].append((one, pool))
                    print(f"run {run} {name:4} one {one:.3f} ms, pool of 3 {pool:.3f} ms, "
                          f"ratio {pool / one:.2f} (load {load})", flush=True)  # fmt: skip
    for name, pairs in got.items():
        ratios = [p / o for o, p in pairs]
        one = statistics.median(o for o, _ in pairs)
        pool = statistics.median(p for _, p in pairs)
        q = statistics.quantiles(ratios, n=4)
        print(f"{name}: worker CPU a message, one mailbox {one:.3f} ms, a pool of 3 {pool:.3f} ms;"
              f" a pool of 3 ÷ one mailbox by round: median {statistics.median(ratios):.2f} "
              f"(quartiles {q[0]:.2f}-{q[2]:.2f}, {sum(r <= 1.3 for r in ratios)} of "
              f"{len(ratios)} rounds <= 1.3)")  # fmt: skip
    if a.old is not None:
        for k, what in ((0, "one mailbox"), (1, "a pool of 3")):
            old = statistics.median(x[k] for x in got["old"])
            new = statistics.median(x[k] for x in got["this"])
            print(f"{what}: this ÷ old, medians {new / old:.3f}")


if __name__ == "__main__":
    main()
