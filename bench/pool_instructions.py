"""A pool of 3 ÷ one mailbox in the worker, by instructions a message (valgrind), whatever the load.

    .venv/bin/python bench/pool_instructions.py [--old /tmp/main-tree] [--n 100] [--modes flat,paced]

On this shared machine the worker's CPU a message moves by 20-30% between runs, and a pool's
÷ one mailbox's by as much within one process (``pool_ratio.py``), too much to tell a goal of
1.3 from 1.4. Instructions do not depend on the load: one process (its tree's warmup and bench
helpers) holds one ledger with a mailbox of its own and a pool of 3 others, all flat, on one
lean TLS sink (its own process, not counted), and runs under callgrind with instrumentation off;
after warming both paths it queues ``n`` messages to the mailbox, and only around the
``Worker.run_once`` that drains them is instrumentation on (``callgrind_control``), the count
dumped; then the same for ``n`` messages to the pool. Needs valgrind; ~1-3 min a tree.

Two modes, each in a process of its own: ``flat`` as above, and ``paced``, the mailboxes with a
real preset's gap between sends (``pool_ratio.py --paced``: a drain is one pass a slot, the
worker's clock a fake one moved to each pass's next message due, no real wait); each mode's
one mailbox, pool of 3 and ratio are printed, for every tree. A paced process is one pass a
message: ~5 min of CPU under callgrind at ``--n 200`` (a flat one ~1 min).
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


def child(n: int, paced: bool) -> None:
    """Under callgrind, in the tree that is the working directory: warm, then for each target
    queue ``n``, say READY, wait, drain, say DONE, wait."""
    from pool_ratio import one_and_a_pool  # this script's own folder: the same set-up

    with one_and_a_pool(paced) as (queue, drain):
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


def _measure(tree: Path, n: int, out: Path, paced: bool) -> dict[str, int]:
    """Instructions of each target's drain of ``n`` in ``tree``."""
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    cmd += [sys.executable, str(Path(__file__).resolve()), "--child", "--n", str(n)]
    cmd += ["--paced"] * paced
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
    ap.add_argument("--modes", default="flat,paced", help="flat, paced or both (flat,paced)")
    ap.add_argument("--paced", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.n, a.paced)
        return
    modes = a.modes.split(",")
    assert modes and set(modes) <= {"flat", "paced"}, a.modes
    trees = {"this": HERE.parent}
    if a.old is not None:
        trees = {"old": a.old.resolve(), "this": HERE.parent}
    tmp = Path(tempfile.mkdtemp(prefix="warmup-cg-"))
    got = {
        (mode, name): _measure(tree, a.n, tmp / f"cg-{mode}-{name}", mode == "paced")
        for mode in modes
        for name, tree in trees.items()
    }
    for (mode, name), counts in got.items():
        one, pool = counts["one"] / a.n, counts["pool3"] / a.n
        print(f"{mode:5} {name}: instructions a message, one mailbox {one / 1e6:.3f} M, a pool "
              f"of 3 {pool / 1e6:.3f} M: a pool of 3 ÷ one mailbox {pool / one:.3f}")  # fmt: skip
    if a.old is not None:
        for mode in modes:
            for key, what in (("one", "one mailbox"), ("pool3", "a pool of 3")):
                ratio = got[mode, "this"][key] / got[mode, "old"][key]
                print(f"{mode:5} {what}: this ÷ old {ratio:.3f}")


if __name__ == "__main__":
    main()
