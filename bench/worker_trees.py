"""The worker's cost a message in two trees, rounds interleaved: statements (exact) and CPU.

    .venv/bin/python bench/worker_trees.py --old /tmp/main-tree [--rounds 4] [--statements]

Each round runs ``outbox_bench.py worker --rounds 3`` for one mailbox (``--n 300``) and a pool
of 3 (``--n 200 --pool 3``) in each tree, each in its own process (the trees' order flipped
every round), and prints the worker's CPU a message, its ratio to the ``Gate.send`` loop of
the same run, this tree ÷ the old one paired by round, and a pool of 3 ÷ one mailbox.
``--statements``: instead, the SQL statements of one ``run_once`` over 200 messages in each
tree (a trace callback on every sqlite3 connection, BEGIN/COMMIT included), by text: exact,
whatever the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = {"one": ["--n", "300"], "pool3": ["--n", "200", "--pool", "3"]}

# The child of --statements: the bench's worker round, counted by a trace of each connection.
COUNT = r"""
import collections, os, re, sqlite3, sys, tempfile
from pathlib import Path
sys.path.insert(0, os.getcwd()); sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
seen, on, connect = collections.Counter(), [False], sqlite3.connect
def norm(s):
    s = re.sub(r"'[^']*'", "?", s); s = re.sub(r"\b\d+(\.\d+)?\b", "?", s)
    return re.sub(r"\s+", " ", re.sub(r"(\?\s*,\s*)+\?", "?", s)).strip()[:110]
def traced(*a, **k):
    c = connect(*a, **k); c.set_trace_callback(lambda s: on[0] and seen.update([norm(s)])); return c
sqlite3.connect = traced
import outbox_bench as ob
from leansink import LeanSink
members, n = int(sys.argv[1]), 200
pki, flat = ob.setup(Path(tempfile.mkdtemp(prefix="warmup-bench-")))
from warmup import Outbox, api, open_ledger
from warmup.instants import now_utc
from warmup.outbox.worker import Worker
ledger = open_ledger()
users = [ob.USER] + [f"m{k}@corp.example" for k in range(1, members)]
with LeanSink(pki, ",".join(users), ob.PASSWORD) as sink:
    for u in users:
        api.add_mailbox(ledger, u, "exmail", policy=str(flat), smtp_host="127.0.0.1",
                        smtp_port=sink.port)
    pool = ledger.add_pool("bench", users, None, now_utc())[0] if members > 1 else None
    os.environ["WARMUP_PASSWORD"] = ob.PASSWORD
    for off, count in ((10**6, False), (2 * 10**6, True)):
        out = Outbox(ledger)
        for i in range(n):
            target = {"pool": pool.name} if pool else {"mailbox": ob.USER}
            out.add(ob.message(off + i), **target)
        on[0] = count
        with Worker(ledger) as w:
            assert w.run_once().outcomes.get("sent") == n
        on[0] = False
print(sum(seen.values()))
for k, v in seen.most_common():
    print(v, k)
"""


def _cpu(tree: Path, args: list[str]) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "bench/outbox_bench.py", "worker", "--rounds", "3", *args]
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True).stdout
    m = re.search(r"CPU per message: worker ([\d.]+) ms .*Gate.send loop ([\d.]+) ms", out)
    assert m is not None, out
    return float(m.group(1)), float(m.group(2))


def _statements(tree: Path, members: int) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-c", COUNT, str(members)]
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True).stdout.split("\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, required=True, help="the other tree (e.g. main's)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--statements", action="store_true")
    a = ap.parse_args()
    trees = {"old": a.old.resolve(), "this": HERE.parent}
    if a.statements:
        for members, what in ((1, "one mailbox"), (3, "a pool of 3")):
            for name, tree in trees.items():
                lines = _statements(tree, members)
                print(f"{name}, {what}: {lines[0]} statements ({int(lines[0]) / 200:.2f} a msg)")
                for line in lines[1:]:
                    if line and int(line.split()[0]) >= 20:
                        print(f"    {line}")
        return
    got: dict[tuple[str, str], list[tuple[float, float]]] = {
        (t, c): [] for t in trees for c in CONFIGS
    }
    for r in range(a.rounds):
        for config, args in CONFIGS.items():
            for name in list(trees)[:: 1 if r % 2 == 0 else -1]:
                w, g = _cpu(trees[name], args)
                got[(name, config)].append((w, g))
                load = os.getloadavg()[0]
                print(f"round {r} {config:5} {name:4} worker {w:.3f} ms, gate {g:.3f} ms, "
                      f"ratio {w / g:.2f} (load {load:.1f})", flush=True)  # fmt: skip
    for config in CONFIGS:
        for name in trees:
            ws = [w for w, _ in got[(name, config)]]
            rs = [w / g for w, g in got[(name, config)]]
            print(f"{config:5} {name:4} worker CPU a message {statistics.median(ws):.3f} ms; "
                  f"÷ Gate.send loop {statistics.median(rs):.2f}")  # fmt: skip
        pairs = [n[0] / o[0] for n, o in zip(got[("this", config)], got[("old", config)])]
        print(f"{config:5} this ÷ old, paired by round: {statistics.median(pairs):.3f} "
              f"({', '.join(f'{x:.2f}' for x in pairs)})")  # fmt: skip
    for name in trees:
        pool, one = (statistics.median(w for w, _ in got[(name, c)]) for c in ("pool3", "one"))
        print(f"{name}: a pool of 3 ÷ one mailbox, worker CPU a message: {pool / one:.2f}")


if __name__ == "__main__":
    main()
