"""A pool of 3 ÷ one mailbox in the worker, by instructions a message (valgrind), whatever the load.

    .venv/bin/python bench/pool_instructions.py [--old /tmp/main-tree] [--n 100]

On this shared machine the worker's CPU a message moves by 20-30% between runs, and a pool's
÷ one mailbox's by as much within one process (``pool_ratio.py``), too much to tell a goal of
1.3 from 1.4. Instructions do not depend on the load: one process (its tree's warmup and bench
helpers) holds one ledger with a mailbox of its own and a pool of 3 others, all flat, on one
lean TLS sink (its own process, not counted), and runs under callgrind with instrumentation off;
after warming both paths it queues ``n`` messages to the mailbox, and only around the
``Worker.run_once`` that drains them is instrumentation on (``callgrind_control``), the count
dumped; then the same for ``n`` messages to the pool. Needs valgrind; ~1-3 min a tree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(n: int) -> None:
    """Under callgrind, in the tree that is the working directory: warm, then for each target
    queue ``n``, say READY, wait, drain, say DONE, wait."""
    from pool_ratio import one_and_a_pool  # this script's own folder: the same set-up

    with one_and_a_pool() as (queue, drain):
        for k, target in enumerate(("one", "pool3")):  # warm both paths
            queue((k + 1) * 10**6, target, 20)
            drain(20)
        for k, target in enumerate(("one", "pool3")):
            queue((k + 3) * 10**6, target, n)
            print("READY", flush=True)
            sys.stdin.readline()
            drain(n)
            print("DONE", flush=True)
            sys.stdin.readline()


def _measure(tree: Path, n: int, out: Path) -> dict[str, int]:
    """Instructions of each target's drain of ``n`` in ``tree``."""
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    cmd += [sys.executable, str(Path(__file__).resolve()), "--child", "--n", str(n)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.Popen(
        cmd, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    got: dict[str, int] = {}

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(proc.pid)], check=True, capture_output=True)

    for name in ("one", "pool3"):
        assert proc.stdout.readline().strip() == "READY"
        control("-z")
        control("-i", "on")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "DONE"
        control("-i", "off")
        control(f"--dump={name}")
        proc.stdin.write("go\n")
        proc.stdin.flush()
    proc.wait(timeout=600)
    assert proc.returncode == 0
    for dump in out.parent.glob(f"{out.name}.*"):
        text = dump.read_text(errors="replace")
        part = re.search(r"^desc: Trigger: dump (\S+)$", text, re.M)
        total = re.search(r"^totals: (\d+)$", text, re.M)
        if part is not None and total is not None:
            got[part.group(1)] = int(total.group(1))
    assert set(got) == {"one", "pool3"}, got
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, help="another tree (e.g. main's), measured alongside")
    ap.add_argument("--n", type=int, default=100, help="messages a drain")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.n)
        return
    trees = {"this": HERE.parent}
    if a.old is not None:
        trees = {"old": a.old.resolve(), "this": HERE.parent}
    tmp = Path(tempfile.mkdtemp(prefix="warmup-cg-"))
    got = {name: _measure(tree, a.n, tmp / f"cg-{name}") for name, tree in trees.items()}
    for name, counts in got.items():
        one, pool = counts["one"] / a.n, counts["pool3"] / a.n
        print(f"{name}: instructions a message, one mailbox {one / 1e6:.3f} M, a pool of 3 "
              f"{pool / 1e6:.3f} M: a pool of 3 ÷ one mailbox {pool / one:.3f}")  # fmt: skip
    if a.old is not None:
        for key, what in (("one", "one mailbox"), ("pool3", "a pool of 3")):
            print(f"{what}: this ÷ old {got['this'][key] / got['old'][key]:.3f}")


if __name__ == "__main__":
    main()
