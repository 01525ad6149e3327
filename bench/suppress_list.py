"""``warmup suppress add --from FILE`` of a long list on a SQLite ledger: wall time, peak memory,
and how long a gate's reservations on the same ledger wait meanwhile, this tree against another
(``--tree``: e.g. a detached worktree of the code before a change), rounds interleaved.

    .venv/bin/python bench/suppress_list.py --tree /tmp/base [--sizes 100000,1000000]
        [--rounds 2]

A size's list must stay under the command's 100 MB (3,500,000 lines is 90 MB). Each size has its list (``lead{i}@example{i % 97}.com`` in a shuffled order, one line in 50 a
repeat of an earlier address in capitals) and a ledger made once: one exmail mailbox on a flat
policy (no pacing, a quota no run reaches) and 1% of the list suppressed already. Each run
copies that ledger, starts a prober (a process of its own: the gate of this tree, whose code
neither contender changes) reserving a slot every 20 ms, as a sender would, then runs the
command as a whole process (the venv's console script, the tree first on ``PYTHONPATH``) and
stops the prober. Printed per size and contender: medians of wall and CPU seconds, the largest
peak RSS (``getrusage(RUSAGE_CHILDREN)`` in a wrapper), and of the reservations made while the
command ran the longest wait and the number that failed (the busy timeout, 30 s, passed: what
``warmup send`` reports as exit 75); then this tree's ratios to the other's.

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


def make_ledger(path: Path, tmp: Path, distinct: list[str]) -> None:
    """The ledger each run copies: the mailbox the prober reserves for, 1% of the list
    suppressed already."""
    from tests.gatekit import policy_file
    from warmup import api, open_ledger

    policy_file(tmp / "flat.toml", daily=1_000_000)
    ledger = open_ledger(str(path))
    try:
        api.add_mailbox(ledger, USER, "exmail", policy=str(tmp / "flat.toml"))
        ledger.suppress(distinct[::100], "hard", "550 5.1.1 user unknown")
    finally:
        ledger.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


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


def one_run(tree: Path, template: Path, listed: Path, tmp: Path, tag: str) -> dict[str, float]:
    db = tmp / f"{tag}.db"
    shutil.copy(template, db)
    stop, out = tmp / f"{tag}.stop", tmp / f"{tag}.probe"
    env = {**os.environ, "WARMUP_DB": str(db), "PYTHONPATH": str(ROOT)}
    prober = subprocess.Popen(
        [sys.executable, __file__, "_probe", str(db), str(stop), str(out)], env=env
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
    for extra in ("", "-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    return {
        "wall": wall,
        "rss": rss,
        "cpu": cpu,
        "max_wait": max((w for w, _ in during), default=0.0),
        "failed": sum(f for _, f in during),
        "probes": len(during),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_probe":
        probe(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True, help="the other source tree")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    try:
        os.environ["WARMUP_PASSWORD"] = PASSWORD
        contenders = {"this tree": ROOT, "other": args.tree.resolve()}
        for tree in contenders.values():
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(tree / "warmup")], check=True
            )
        print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} interleaved rounds")
        for size in (int(s) for s in args.sizes.split(",")):
            listed = tmp / f"list{size}.txt"
            distinct = write_list(listed, size)
            template = tmp / f"ledger{size}.db"
            make_ledger(template, tmp, distinct)
            del distinct
            results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
            for r in range(args.rounds):
                names = list(contenders)[:: 1 if r % 2 == 0 else -1]
                for name in names:
                    results[name].append(
                        one_run(contenders[name], template, listed, tmp, f"{size}-{r}-{len(name)}")
                    )
            print(f"  {size:,} lines ({listed.stat().st_size / 1e6:.0f} MB):")
            summary = {}
            for name, runs in results.items():
                s = {
                    "wall": statistics.median(x["wall"] for x in runs),
                    "cpu": statistics.median(x["cpu"] for x in runs),
                    "rss": max(x["rss"] for x in runs),
                    "max_wait": max(x["max_wait"] for x in runs),
                    "failed": sum(x["failed"] for x in runs),
                    "probes": sum(x["probes"] for x in runs),
                }
                summary[name] = s
                print(
                    f"    {name:>9}: wall {s['wall']:6.2f} s, CPU {s['cpu']:6.2f} s, peak "
                    f"{s['rss']:6.0f} MiB; reservations meanwhile: longest wait "
                    f"{s['max_wait']:6.2f} s, {s['failed']} of {s['probes']} failed"
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
