"""``warmup quota --json`` for every mailbox of a big ledger (issue #15: ≤ 1 s for 1,000 mailboxes
with 60 days or a year of history each).

    .venv/bin/python bench/quota_all.py [--mailboxes 1000] [--days 60] [--runs 5] [--against DIR]
                                        [--weekdays] [--synced]

The ledger is ``bench/report_scale.py``'s (generated inside SQLite, cached in ``bench/.cache/``;
1,000 exmail mailboxes, 10–45 sends a day each, ~1.2% bounces, every 50th with a spike, a pause
and a resume). The question is asked as of 10:00 Shanghai time on the day after the history ends.
With ``--weekdays``, the same ledger without a send on Saturdays and Sundays (its own cached file):
most business mailboxes' shape, whose idle weekends the walk steps through day by day.

Timed, interleaved, whole commands (the venv's console script and interpreter):

- cold: ``warmup quota --json`` with the ledger's walk memos emptied first (each mailbox walked
  from its first day, as the first question after an upgrade);
- warm: the same command again (memos kept by the previous run, as every later question);
- baseline: ``python -c "import sqlmodel, click, pendulum"``, what any command pays to start.

- synced (with ``--synced``): the same command again after a morning's bounce sync: a child
  process of the same code records, through the ledger's write path, one hard bounce of a send
  of the history's last day (yesterday, as asked) for every third mailbox. A write on a past day
  moves the mailbox's revision; a memo of that day or an earlier one never read it, and is kept
  (the sync itself is not timed; it writes into a copy of the cached ledger, removed after).

- with ``--against DIR`` (a checkout of the code before, e.g. ``git worktree add /tmp/old-quota
  main``): the same cold and warm commands on that code (``PYTHONPATH=DIR``, same venv), in the
  same rounds. That code reads the cached ledger; this code a copy of it (removed after), which
  its first run migrates if its schema is newer: across a migration the code before refuses a
  migrated ledger, so the cached one must be made by the older schema (delete it and run the
  older tree's ``quota_all.py`` once to make it).

Prints the medians (the range of the runs after each), the cold command's CPU (its own and its
shards', the forked processes it walks in), warm ÷ baseline, and per-mailbox cost of the warm
command above the baseline; with ``--against``, each round's cold this ÷ before, wall and CPU.
The walk memos of both codes are the same as long as ``CODE_VERSION`` is. Every timed command
reads its bytecode from a cache of the bench's own (``bench/.cache/pycache``, Python's
``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE`` dropped for them), filled first for both
packages and the interpreter's own and site-packages' modules, as an installed package is
(``pip install`` byte-compiles): with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared machine)
and a venv installed without bytecode (``uv pip install``), every start would otherwise compile
warmup's source and numpy's, click's and pendulum's (measured there: the bare imports 2.4 s of
CPU instead of 0.8 s, numpy's 0.47 s instead of 0.18 s), the cold command and the baseline
alike. The venv itself is not written to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bytecache import cached_env, compiled
from report_scale import START, generate

GOAL_S = 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mailboxes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--against", metavar="DIR", help="a checkout of the code before")
    ap.add_argument("--synced", action="store_true", help="also time it after a bounce sync")
    ap.add_argument("--weekdays", action="store_true", help="no sends on Saturdays and Sundays")
    args = ap.parse_args()
    shape = "_weekdays" if args.weekdays else ""
    path = HERE / ".cache" / f"report_scale_{args.mailboxes}x{args.days}{shape}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, args.mailboxes, args.days, args.weekdays)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s")
    if args.synced:  # the sync writes bounces: into a copy, the cached ledger stays as made
        copy = path.with_name(f"synced_{path.name}")
        shutil.copyfile(path, copy)
        path = copy
    at = dt.datetime.combine(START + dt.timedelta(days=args.days), dt.time(10)).isoformat()
    # with --against, this code's side on a copy of the ledger: the first run migrates it if
    # this code's schema is newer (and the code before would refuse it); the other side on
    # the ledger as made (made by this bench's tree: with a newer schema, by the older one's)
    mine = path.with_name(f"this_{path.name}") if args.against else path
    if mine != path:
        shutil.copyfile(path, mine)
    env = cached_env(WARMUP_DB=str(mine))
    bindir = Path(sys.executable).parent
    quota = [str(bindir / "warmup"), "quota", "--json", "--at", f"{at}+08:00"]
    base = [sys.executable, "-c", "import sqlmodel, click, pendulum"]

    def forget(path: Path) -> None:
        con = sqlite3.connect(path)
        with con:
            con.execute("DELETE FROM walk_memo")
        con.close()

    compiled(env, [HERE.parent, *([Path(args.against)] if args.against else [])])
    old_env = (
        dict(env, WARMUP_DB=str(path), PYTHONPATH=str(Path(args.against).resolve()))
        if args.against
        else None
    )
    cold, warm, bare, old_cold, old_warm = [], [], [], [], []
    cold_cpu: list[float] = []  # CPU of the cold command and its children (the shards)
    old_cold_cpu: list[float] = []
    synced: list[float] = []
    old_synced: list[float] = []
    last_day = (START + dt.timedelta(days=args.days - 1)).isoformat()
    loads = [os.getloadavg()[0]]
    timed(base, env)
    if mine != path:
        timed(quota, env)  # the copy migrated (if this schema is newer) before any round
    for r in range(args.runs):
        forget(mine)
        cold.append(timed(quota, env, cold_cpu))
        warm.append(timed(quota, env))
        if args.synced:
            sync(mine, last_day, 2 * r, env)
            synced.append(timed(quota, env))
        bare.append(timed(base, env))
        if old_env is not None:
            forget(path)
            old_cold.append(timed(quota, old_env, old_cold_cpu))
            old_warm.append(timed(quota, old_env))
            if args.synced:
                sync(path, last_day, 2 * r + 1, old_env)
                old_synced.append(timed(quota, old_env))
        loads.append(os.getloadavg()[0])
    if mine != path:
        mine.unlink()
    if args.synced:
        path.unlink()
    c, w, b = (statistics.median(x) for x in (cold, warm, bare))
    print(
        f"{args.mailboxes} mailboxes x {args.days} days{' (weekdays only)' if shape else ''}, as of {at} Asia/Shanghai, "
        f"{args.runs} interleaved runs, load average {min(loads):.2f}-{max(loads):.2f}"
    )
    if old_env is not None:
        oc, ow = statistics.median(old_cold), statistics.median(old_warm)
        print(f"  cold  before ({args.against})  median {oc:6.2f} s{spread(old_cold)}")
        print(
            f"        CPU                          median "
            f"{statistics.median(old_cold_cpu):6.2f} s{spread(old_cold_cpu)}"
        )
        print(f"  warm  before ({args.against})  median {ow:6.2f} s{spread(old_warm)}")
        if old_synced:
            print(f"  synced before ({args.against}) median {statistics.median(old_synced):6.2f} s")
    print(f"  cold  warmup quota --json     median {c:6.2f} s{spread(cold)}")
    print(
        f"        CPU                          median "
        f"{statistics.median(cold_cpu):6.2f} s{spread(cold_cpu)}"
    )
    if old_env is not None:
        pairs = [(n, o) for n, o in zip(cold, old_cold, strict=True)]
        cpus = [(n, o) for n, o in zip(cold_cpu, old_cold_cpu, strict=True)]
        print(
            f"  cold this / before, each round's pair: wall median "
            f"{statistics.median(n / o for n, o in pairs):.2f}"
            f"{spread([n / o for n, o in pairs])}, CPU median "
            f"{statistics.median(n / o for n, o in cpus):.2f}{spread([n / o for n, o in cpus])}"
        )
    print(f"  warm  warmup quota --json     median {w:6.2f} s{spread(warm)}")
    if synced:
        print(f"  synced (after a bounce sync)  median {statistics.median(synced):6.2f} s")
    print(f"  base  import sqlmodel, click, pendulum  median {b:6.2f} s{spread(bare)}")
    print(
        f"  warm / base = {w / b:.2f}; warm above the base: {(w - b) / args.mailboxes * 1000:.2f}"
        f" ms per mailbox; goal: whole command <= {GOAL_S:.0f} s "
        f"({'met' if w <= GOAL_S and c <= GOAL_S else 'NOT met'})"
    )


def timed(cmd: list[str], env: dict[str, str], cpu: list[float] | None = None) -> float:
    """The wall time of ``cmd``; its CPU (user and system, its children's too) added to
    ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def spread(times: list[float]) -> str:
    """The range of a command's times, for the line of its median."""
    return f" ({min(times):.2f}-{max(times):.2f})"


# One hard bounce of the ``k``-th send of ``day`` of every third mailbox, recorded as a bounce
# sync records them (a transaction per mailbox), by the code on the child's path.
SYNC = """
import datetime as dt, sqlite3, sys
from warmup.ledger import BounceIn, open_ledger
path, day, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(path)
picked = {}
for m, sid, rcpt, at in con.execute(
    "SELECT mailbox_id, id, recipient, at FROM send WHERE day = ? AND mailbox_id % 3 = 0 "
    "ORDER BY mailbox_id, id", (day,)
):
    picked.setdefault(m, []).append((sid, rcpt, at))
con.close()
ledger = open_ledger(f"sqlite:///{path}")
boxes = {b.id: b for b in ledger.mailboxes()}
for m, sends in picked.items():
    sid, rcpt, at = sends[k % len(sends)]
    when = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC) + dt.timedelta(minutes=5)
    ledger.record(boxes[m], bounces=[BounceIn(
        rcpt, "hard", when, f"bench-sync-{k}-{sid}", status="5.1.1", send_id=sid)])
ledger.close()
"""


def sync(path: Path, day: str, k: int, env: dict[str, str]) -> None:
    # run from the ledger's directory: ``-c`` puts the working directory first on the path,
    # and from a checkout it would import that checkout's warmup instead of PYTHONPATH's
    subprocess.run(
        [sys.executable, "-c", SYNC, str(path), day, str(k)], env=env, check=True, cwd=path.parent
    )


if __name__ == "__main__":
    main()
