"""Full listings against the ledger's size: this tree and another, interleaved, at two sizes.

    .venv/bin/python bench/listings.py --old TREE --ledger SMALL --ledger BIG [--rounds 3]
        [--only NAME ...]

Each ``--ledger`` is a SQLite path or a PostgreSQL URL (e.g. two of ``bench/big_team.py
generate --outbox 100000 --days 60`` and ``--outbox 200000 --days 120``, and their ``warmup db
copy``). For every round, ledger and command, each tree runs the command in a process of its
own (``python -m warmup``, the same interpreter, the tree on ``PYTHONPATH``), the two trees one
after the other; this process stays small (it imports no warmup, hashes outputs in pieces: a child's
``ru_maxrss`` starts from its parent's at the fork) and reads each child's own rusage with
``os.wait4``: wall, CPU (user + system) and peak RSS. The trees' outputs are hashed
and compared (``queue list`` names due times to the minute: a round that straddles a minute may
differ there, and says so). Prints each command's medians per tree and ledger, and new/old.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

COMMANDS = {
    "queue list --limit 0": ["queue", "list", "--limit", "0"],
    "queue list --limit 0 --json": ["queue", "list", "--limit", "0", "--json"],
    "report": ["report"],
    "report --json": ["report", "--json"],
    "queue status": ["queue", "status"],
}


def run(root: Path, db: str, args: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, SHA-256 of stdout) of ``warmup ARGS`` of tree ``root``."""
    env = {**os.environ, "WARMUP_DB": db, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-m", "warmup", *args],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        assert p.stderr is not None
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in (0, 75):
            sys.exit(f"{root} {args}: exit {p.returncode}: {err.decode()[-300:]}")
        out.seek(0)
        # in pieces: the JSON of 200,000 messages read whole grew this process to 172 MiB, and
        # every child forked after it starts from that peak (exec keeps ru_maxrss)
        digest = hashlib.file_digest(out, "sha256").hexdigest()[:12]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, type=Path, help="the other tree (e.g. main's)")
    ap.add_argument("--ledger", action="append", required=True, help="SQLite path or URL")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": ROOT}
    cmds = {k: v for k, v in COMMANDS.items() if not args.only or k in args.only}
    got: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for r in range(args.rounds):
        for db in args.ledger:
            for name, cmd in cmds.items():
                digests = {}
                for tree, root in trees.items():  # interleaved, command by command
                    wall, cpu, rss, digests[tree] = run(root, db, cmd)
                    got.setdefault((name, db, tree), []).append((wall, cpu, rss))
                if digests["old"] != digests["new"]:
                    print(f"round {r} {name} on {db}: outputs differ {digests}", flush=True)
    print(f"load {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds, peak RSS the largest")
    for name in cmds:
        for db in args.ledger:
            line = f"{name:28} {Path(db).name if '://' not in db else db.rsplit('/', 1)[1]:10}"
            med = {}
            for tree in trees:
                runs = got[name, db, tree]
                med[tree] = (
                    statistics.median(w for w, _, _ in runs),
                    statistics.median(c for _, c, _ in runs),
                    max(m for _, _, m in runs),
                )
                w, c, m = med[tree]
                line += f"  {tree}: wall {w:6.2f} s CPU {c:6.2f} s RSS {m:5.0f} MiB"
            line += (
                f"  new/old: wall {med['new'][0] / med['old'][0]:.2f} CPU "
                f"{med['new'][1] / med['old'][1]:.2f} RSS {med['new'][2] / med['old'][2]:.2f}"
            )
            print(line, flush=True)


if __name__ == "__main__":
    main()
