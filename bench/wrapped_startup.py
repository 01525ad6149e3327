"""Whole-command cost of ``warmup send ADDRESS -- true`` with ``WARMUP_PASSWORD`` set (a
wrapped command, as a script's crontab line runs one), this tree against another checkout
(``--old``), rounds interleaved: the command started itself over (a second interpreter start)
to keep the password out of /proc/PID/environ, where the first one blanked it already.

    .venv/bin/python bench/wrapped_startup.py --old /tmp/old [--runs 20] [--warmups 2]

Lines: ``new`` and ``old`` with the password exported; ``nopw`` this tree without it (no
secret, nothing blanked nor re-executed: the floor); ``base`` ``python -c "import sqlmodel,
click, pendulum"``. Printed: medians, each ratio to ``base``, and new ÷ old (wall and CPU).
Bytecode from the bench's own cache (bench/bytecache.py), each tree run as ``python -m warmup``
from its root, a ledger of its own each. The command sends nothing, so no server is contacted
(the mailbox points at a closed loopback port).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bytecache import cached_env, compiled
from rounds import rounds, show

BOX = "sales@corp.example"
HERE = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmups", type=int, default=2)
    args = parser.parse_args()
    py = sys.executable
    trees = {"new": HERE, "old": args.old.resolve()}
    compiled(cached_env(), list(trees.values()))
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        d = Path(tmp)
        base = {k: v for k, v in cached_env().items() if not k.startswith(("SMTP_", "WARMUP_"))}
        envs: dict[str, dict[str, str]] = {}
        for name, tree in trees.items():
            envs[name] = {**base, "WARMUP_DB": str(d / f"{name}.db"), "WARMUP_PASSWORD": "pw"}
            add = ["mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1"]
            add += ["--smtp-port", "9"]
            subprocess.run(
                [py, "-m", "warmup", *add],
                env=envs[name],
                cwd=tree,
                check=True,
                capture_output=True,
            )
        envs["nopw"] = {k: v for k, v in envs["new"].items() if k != "WARMUP_PASSWORD"}
        envs["base"] = base
        wrapped = ["send", BOX, "--", "true"]
        cmds = {name: [py, "-m", "warmup", *wrapped] for name in ("new", "old", "nopw")}
        cmds["base"] = [py, "-c", "import sqlmodel, click, pendulum"]
        cwd = {**trees, "nopw": HERE, "base": HERE}
        wall, cpu = rounds(cmds, envs, cwd, args.runs, args.warmups)
    print(f"python: {py}; load: {os.getloadavg()[0]:.1f}")
    print(f"runs: {args.runs} each, interleaved, after {args.warmups} warm-ups")
    show(wall, cpu)
    for what, times in (("wall", wall), ("CPU", cpu)):
        new, old = statistics.median(times["new"]), statistics.median(times["old"])
        print(f"new ÷ old ({what}): {new / old:.2f} ({new * 1000:.1f} / {old * 1000:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
