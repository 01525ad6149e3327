"""A paced pool's steady state: several slots in a row over a backlog, against another tree.

    .venv/bin/python bench/outbox_slots.py --old /tmp/main-tree [--queued 10000 50000]
        [--slots 6] [--rounds 3]

A pool of 2 mailboxes (flat policy, one send an hour each, each member's last send a minute
ago: bench/outbox_backlog.py's "paced" case) and Q messages queued to it, all due, on a
temporary SQLite ledger; a lean TLS sink in its own process takes what goes. One worker runs
pass after pass, its injected clock moved to the next due each time (no sleep): the first pass
holds the backlog, each next one is a slot where both members send one and the rest waits.
Prints, per tree and backlog, the median cost of a slot (slots after the first two), per
message sent, and the outbox rows a slot writes (rows whose state, time, reply or stamp
changed), and the ratio of this tree's slot to the other's. Each tree runs in a process of its
own (its ``warmup`` package first on the path), rounds interleaved.

Goal: a slot's cost does not grow with the backlog (issue: a held backlog was written again at
every slot, 50,000 rows, 0.44 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(tree: str, queued: int, slots: int) -> None:
    sys.path.insert(0, tree)
    import warmup.ledger
    import warmup.outbox.worker

    sys.path.insert(1, str(ROOT / "bench"))
    sys.path.insert(2, str(ROOT))
    import outbox_backlog as ob
    from leansink import LeanSink

    from tests.peers.tls import TestPKI
    from warmup.ledger import open_ledger
    from warmup.outbox.worker import Worker

    assert warmup.ledger.__file__.startswith(tree), warmup.ledger.__file__
    with tempfile.TemporaryDirectory(prefix="warmup-slots-") as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        os.environ.update(SSL_CERT_FILE=str(pki.ca_pem_path), WARMUP_PASSWORD=ob.PASSWORD)
        d = Path(tmp) / "paced"
        d.mkdir()
        logins = "m0@corp0.example,m1@corp1.example"
        with LeanSink(pki, logins, ob.PASSWORD) as sink:
            db, _ = ob.setup(d, "paced", queued, 2, sink.port)
            now = ob.NOW
            ledger = open_ledger(f"sqlite:///{db}")
            con = sqlite3.connect(db)
            look = "SELECT id, state || next_attempt_at || coalesce(last_reply, '') || updated_at"
            out = []
            with Worker(ledger, clock=lambda: now) as worker:
                for _ in range(slots):
                    before = dict(con.execute(f"{look} FROM outbox"))
                    t0 = time.perf_counter()
                    done = worker.run_once()
                    took = time.perf_counter() - t0
                    after = dict(con.execute(f"{look} FROM outbox"))
                    written = sum(before.get(i) != v for i, v in after.items())
                    out.append((took, done.outcomes.get("sent", 0), written))
                    assert done.next_due is not None
                    now = max(done.next_due, now + dt.timedelta(seconds=1))
            ledger.close()
    print(json.dumps(out))


def run(tree: str, queued: int, slots: int) -> list[tuple[float, int, int]]:
    res = subprocess.run(
        [sys.executable, __file__, "--child", tree, str(queued), str(slots)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(x) for x in json.loads(res.stdout.splitlines()[-1])]  # type: ignore[misc]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the tree to compare with (its root)")
    parser.add_argument("--queued", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--slots", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"old": args.old, "new": str(ROOT)}
    for queued in args.queued:
        got: dict[str, list[tuple[float, int, int]]] = {"old": [], "new": []}
        for _ in range(args.rounds):  # interleaved: a busy machine slows both alike
            for name, tree in trees.items():
                got[name].extend(run(tree, queued, args.slots)[2:])  # the steady slots
        slot = {}
        for name, rows in got.items():
            slot[name] = statistics.median(t for t, _, _ in rows)
            sent = statistics.median(s for _, s, _ in rows)
            written = statistics.median(w for _, _, w in rows)
            print(
                f"{name}: {queued:,} queued, 2 members: a slot {1e3 * slot[name]:.1f} ms "
                f"(median of {len(rows)}), {1e3 * slot[name] / max(sent, 1):.1f} ms a message "
                f"sent, {written:,.0f} outbox rows written"
            )
        print(f"    new/old: {slot['new'] / slot['old']:.3f} of a slot's time")


if __name__ == "__main__":
    main()
