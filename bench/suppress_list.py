"""``warmup suppress add --from FILE`` of a long list on a SQLite ledger (or, with ``--pg``, a
PostgreSQL one): wall time, peak memory, and how long a gate's reservations on the same ledger
wait meanwhile, this tree against another (``--tree``: e.g. a detached worktree of the code
before a change), rounds interleaved.

    .venv/bin/python bench/suppress_list.py --tree /tmp/base [--sizes 100000,1000000]
        [--rounds 2] [--pg [URL]]

``--pg``: on the PostgreSQL server at URL (default ``$WARMUP_TEST_PG``, the test server), each
run in a fresh schema of its own (dropped afterwards) holding the ledger described below. The
CPU printed is the client's; the server's is not counted.

A size's list must stay under the command's 100 MB (3,500,000 lines is 90 MB). Each size has its list (``lead{i}@example{i % 97}.com`` in a shuffled order, one line in 50 a
repeat of an earlier address in capitals) and a ledger made once: one exmail mailbox on a flat
policy (no pacing, a quota no run reaches) and 1% of the list suppressed already. Each run
copies that ledger, starts a prober (a process of its own: the gate of this tree, whose code
neither contender changes) reserving a slot every 20 ms, as a sender would, then runs the
command as a whole process (the venv's console script, the tree first on ``PYTHONPATH``) and
stops the prober. Printed per size and contender: medians of wall and CPU seconds, the largest
peak RSS (``getrusage(RUSAGE_CHILDREN)`` in a wrapper), and of the reservations made while the
command ran the longest wait (and the 99th percentile: what is left of the longest once one
stall of the machine is set aside) and the number that failed (the busy timeout, 30 s, passed: what
``warmup send`` reports as exit 75; on PostgreSQL the lock timeout, as long); then this tree's
ratios to the other's. Each run's suppressions are counted afterwards: both trees must keep the
list's every distinct address.

``warmup send --dry-run`` is not probed: it only reads, and a WAL ledger's readers never wait for
its writer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from outbox_bench import _child

USER, PASSWORD = "a@corp.example", "bench-pass"
PROBE_EVERY = 0.02  # seconds between a prober's reservations


def write_list(path: Path, size: int) -> list[str]:
    """A list of ``size`` lines (one in 50 a repeat, in capitals); its distinct addresses."""
    order = list(range(size - size // 50))
    random.Random(size).shuffle(order)
    distinct = [f"lead{i}@example{i % 97}.com" for i in order]
    with path.open("w", encoding="utf-8") as f:
        for n, address in enumerate(distinct):
            f.write(f"{address}\n")
            if n % 49 == 48:
                f.write(f"{distinct[n // 2].upper()}\n")
    return distinct


def make_ledger(db: str, tmp: Path, distinct: list[str]) -> None:
    """The ledger each run copies (SQLite) or starts from (a PostgreSQL URL): the mailbox the
    prober reserves for, 1% of the list suppressed already."""
    from tests.gatekit import policy_file
    from warmup import api, open_ledger

    policy_file(tmp / "flat.toml", daily=1_000_000)
    ledger = open_ledger(db)
    try:
        api.add_mailbox(ledger, USER, "exmail", policy=str(tmp / "flat.toml"))
        ledger.suppress(distinct[::100], "hard", "550 5.1.1 user unknown")
    finally:
        ledger.close()
    if "://" not in db:
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()


def suppressed(db: str) -> int:
    """How many suppressions the ledger at ``db`` holds."""
    from warmup import open_ledger

    ledger = open_ledger(db)
    try:
        return ledger.suppression_count()
    finally:
        ledger.close()


def probe(db: str, stop: str, out: str) -> None:
    """The prober (``suppress_list.py _probe DB STOPFILE OUT``): a reservation every
    :data:`PROBE_EVERY` until ``STOPFILE`` exists; ``(start, wait, failed)`` of each to OUT."""
    os.environ["WARMUP_DB"] = db
    from warmup import Gate
    from warmup.errors import WarmupError

    waits: list[tuple[float, float, bool]] = []
    with Gate(USER, password=PASSWORD) as gate:
        gate.reserve(["warm@example.net"])
        Path(out).write_text("ready")
        i = 0
        while not os.path.exists(stop):
            i += 1
            start = time.time()
            try:
                gate.reserve([f"probe{i}@example.net"])
                failed = False
            except WarmupError:
                failed = True
            waits.append((start, time.time() - start, failed))
            time.sleep(PROBE_EVERY)
    Path(out).write_text(json.dumps(waits))


def one_run(
    tree: Path, ledger: Ledger, listed: Path, tmp: Path, tag: str, distinct: int
) -> dict[str, float]:
    db, drop = ledger.start(tag)
    try:
        return _measured(tree, db, listed, tmp, tag, distinct)
    finally:
        drop()


def _measured(
    tree: Path, db: str, listed: Path, tmp: Path, tag: str, distinct: int
) -> dict[str, float]:
    stop, out = tmp / f"{tag}.stop", tmp / f"{tag}.probe"
    env = {**os.environ, "WARMUP_DB": db, "PYTHONPATH": str(ROOT)}
    prober = subprocess.Popen(
        [sys.executable, __file__, "_probe", db, str(stop), str(out)], env=env
    )
    while not (out.exists() and out.read_text() == "ready"):
        if prober.poll() is not None:
            raise SystemExit("the prober failed")
        time.sleep(0.05)
    env["PYTHONPATH"] = str(tree)
    warmup = str(Path(sys.executable).parent / "warmup")
    began = time.time()
    wall, rss, cpu = _child(
        [warmup, "suppress", "add", "--from", str(listed), "--reason", "bench"], env
    )
    ended = time.time()
    stop.write_text("")
    prober.wait(timeout=120)
    during = [(w, f) for s, w, f in json.loads(out.read_text()) if s + w >= began and s <= ended]
    kept = suppressed(db)
    if kept != distinct:
        raise SystemExit(f"{tree}: {kept} suppressions kept, not the list's {distinct}")
    return {
        "wall": wall,
        "rss": rss,
        "cpu": cpu,
        "max_wait": max((w for w, _ in during), default=0.0),
        "p99_wait": _p99([w for w, _ in during]),
        "failed": sum(f for _, f in during),
        "probes": len(during),
    }


def _p99(waits: list[float]) -> float:
    return statistics.quantiles(waits, n=100)[98] if len(waits) > 1 else sum(waits)


class Ledger:
    """Where a size's runs start from: a SQLite file each run copies, or (``server``: a
    PostgreSQL URL) a fresh schema each run builds."""

    def __init__(self, tmp: Path, size: int, distinct: list[str], server: str | None) -> None:
        self.tmp, self.server, self.distinct = tmp, server, distinct
        self.template = tmp / f"ledger{size}.db"
        if server is None:
            make_ledger(str(self.template), tmp, distinct)

    def start(self, tag: str) -> tuple[str, Callable[[], None]]:
        """The ledger of run ``tag`` (its URL or path), and what removes it."""
        if self.server is None:
            db = self.tmp / f"{tag}.db"
            shutil.copy(self.template, db)

            def unlink() -> None:
                for extra in ("", "-wal", "-shm"):
                    Path(f"{db}{extra}").unlink(missing_ok=True)

            return str(db), unlink
        os.environ["WARMUP_TEST_PG"] = self.server
        from tests.pgkit import PgSchema

        schema = PgSchema("bench")
        try:
            make_ledger(schema.url, self.tmp, self.distinct)
        except BaseException:
            schema.drop()
            raise
        return schema.url, schema.drop


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_probe":
        probe(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True, help="the other source tree")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--pg",
        nargs="?",
        const=os.environ.get("WARMUP_TEST_PG", ""),
        metavar="URL",
        help="on this PostgreSQL server (default $WARMUP_TEST_PG), a schema per run",
    )
    args = ap.parse_args()
    if args.pg == "":
        ap.error("--pg: give the server's URL, or set $WARMUP_TEST_PG")
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    try:
        os.environ["WARMUP_PASSWORD"] = PASSWORD
        contenders = {"this tree": ROOT, "other": args.tree.resolve()}
        for tree in contenders.values():
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(tree / "warmup")], check=True
            )
        where = "SQLite" if args.pg is None else "PostgreSQL"
        print(f"{where}; load average {os.getloadavg()[0]:.2f}; {args.rounds} interleaved rounds")
        for size in (int(s) for s in args.sizes.split(",")):
            listed = tmp / f"list{size}.txt"
            distinct = write_list(listed, size)
            ledger = Ledger(tmp, size, distinct, args.pg)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
            for r in range(args.rounds):
                names = list(contenders)[:: 1 if r % 2 == 0 else -1]
                for name in names:
                    results[name].append(
                        one_run(
                            contenders[name],
                            ledger,
                            listed,
                            tmp,
                            f"{size}-{r}-{len(name)}",
                            len(distinct),
                        )
                    )
            print(f"  {size:,} lines ({listed.stat().st_size / 1e6:.0f} MB):")
            summary = {}
            for name, runs in results.items():
                s = {
                    "wall": statistics.median(x["wall"] for x in runs),
                    "cpu": statistics.median(x["cpu"] for x in runs),
                    "rss": max(x["rss"] for x in runs),
                    "max_wait": max(x["max_wait"] for x in runs),
                    "p99_wait": max(x["p99_wait"] for x in runs),
                    "failed": sum(x["failed"] for x in runs),
                    "probes": sum(x["probes"] for x in runs),
                }
                summary[name] = s
                print(
                    f"    {name:>9}: wall {s['wall']:6.2f} s, CPU {s['cpu']:6.2f} s, peak "
                    f"{s['rss']:6.0f} MiB; reservations meanwhile: longest wait "
                    f"{s['max_wait']:6.2f} s (99th percentile {s['p99_wait']:5.2f} s), "
                    f"{s['failed']} of {s['probes']} failed"
                )
            ours, other = summary["this tree"], summary["other"]
            print(
                f"    ratio this/other: wall {ours['wall'] / other['wall']:.3f}, peak RSS "
                f"{ours['rss'] / other['rss']:.3f}, longest wait "
                f"{ours['max_wait'] / max(other['max_wait'], 1e-9):.3f}"
            )
            print(f"    load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
