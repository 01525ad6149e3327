"""The gate's per-message path before and after a change, each tree in its own processes, rounds
interleaved (the machine's drift falls on both alike): what naming a reservation's holder costs.

For each backend (SQLite on a temporary file, PostgreSQL in a fresh schema on
``$WARMUP_TEST_PG``) and each tree, a round opens a ledger with one mailbox (a flat quota no
round reaches, no pacing) where ``LIVE`` other processes of this host hold a reservation each
(``sleep``; written as the tree's own gate would write them), then:

- ``steady``: ``Gate.reserve`` + ``settle("sent")`` of N messages on one gate: µs a message
  (wall clock, and ``cpu``: this process's CPU time, less swayed by a loaded machine);
- ``first``: a fresh gate's first reservation (its expiry is due: it looks for dead holders),
  as each ``warmup send`` process makes one: µs, median of M.

    .venv/bin/python bench/gate_holders.py --trees /work/main . [-n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIVE = 8
BOX = "a@corp.example"


def one(tree: str, backend: str, n: int, firsts: int) -> dict[str, float]:
    """A round in this process, on ``tree``'s code."""
    sys.path.insert(0, tree)
    sys.path.insert(1, str(HERE.parent))  # tests.gatekit, tests.pgkit
    from tests.gatekit import policy_file
    from warmup import Gate, api, open_ledger

    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'ledger.db'}"
    else:
        from tests.pgkit import PgSchema

        schema = PgSchema("bench")
        url = schema.url
    os.environ["WARMUP_DB"] = url
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(LIVE)]
    try:
        ledger = open_ledger(url)
        api.add_mailbox(
            ledger, BOX, "exmail", policy=str(policy_file(tmp / "flat.toml", daily=10**6))
        )
        ledger.close()
        # the live holders' reservations, each in a child of its own pid's making: a sleeper's
        # pid is written where the tree names a holder (nothing where it does not)
        ledger = open_ledger(url)
        with Gate(BOX, ledger=ledger) as gate:
            for i in range(LIVE):
                gate.reserve([f"live{i}@example.com"], f"<live{i}@x>")
        with ledger.write() as conn:
            cols = {r[0] for r in conn.exec_driver_sql(_COLUMNS[backend]).all()}
            if "holder_pid" in cols:
                from warmup.ledger import holders

                for i, p in enumerate(sleepers):
                    with open(f"/proc/{p.pid}/stat", "rb") as f:
                        ticks = f.read().rsplit(b")", 1)[1].split()[19].decode()
                    start = f"{holders.PLACE}.{ticks}"
                    conn.exec_driver_sql(
                        f"UPDATE send SET holder_pid = {p.pid}, holder_start = '{start}' "
                        f"WHERE recipient = 'live{i}@example.com'"
                    )
        ledger.close()
        with Gate(BOX) as gate:
            gate.reserve(["warm@example.com"]).settle("sent")
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                gate.reserve([f"s{i}@example.com"]).settle("sent")
            steady = (time.perf_counter() - t0) / n * 1e6
            steady_cpu = (time.process_time() - c0) / n * 1e6
        first, first_cpu = [], []
        for i in range(firsts):
            with Gate(BOX) as gate:
                t0, c0 = time.perf_counter(), time.process_time()
                slot = gate.reserve([f"f{i}@example.com"])
                first.append((time.perf_counter() - t0) * 1e6)
                first_cpu.append((time.process_time() - c0) * 1e6)
                slot.settle("sent")
        return {
            "steady": steady,
            "steady cpu": steady_cpu,
            "first": statistics.median(first),
            "first cpu": statistics.median(first_cpu),
        }
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        if schema is not None:
            schema.drop()


_COLUMNS = {
    "sqlite": "SELECT name FROM pragma_table_info('send')",
    "postgresql": "SELECT column_name FROM information_schema.columns WHERE table_name = 'send' "
    "AND table_schema = current_schema()",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", nargs=2, help="before and after (required)")
    ap.add_argument("-n", type=int, default=2000, help="steady messages a round")
    ap.add_argument("--firsts", type=int, default=30, help="fresh gates a round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # tree backend: a round, as JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.n, args.firsts)))
        return
    if not args.trees:
        ap.error("--trees BEFORE AFTER is required")
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, load average {load}, {LIVE} live holders")
    trees = [str(Path(t).resolve()) for t in args.trees]
    for backend in args.backends:
        got: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
        for _ in range(args.rounds):
            for t in trees:  # interleaved
                out = subprocess.run(
                    [sys.executable, __file__, "--one", t, backend, "-n", str(args.n),
                     "--firsts", str(args.firsts)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                got[t].append(json.loads(out.stdout.strip().splitlines()[-1]))
        for what in ("steady", "steady cpu", "first", "first cpu"):
            before, after = (statistics.median(r[what] for r in got[t]) for t in trees)
            print(
                f"{backend:10} {what:10} before {before:8.1f} µs  after {after:8.1f} µs  "
                f"after/before {after / before:.3f}  (rounds after: "
                f"{', '.join(f'{r[what]:.0f}' for r in got[trees[1]])})"
            )


if __name__ == "__main__":
    main()
