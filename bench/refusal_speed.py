"""How fast ``warmup report``/``plot`` refuse a typo, against a light command's refusal.

    .venv/bin/python bench/refusal_speed.py [--runs 9] [--before TREE]

Each contender is a whole command run by this interpreter (``-m warmup``) with a tree first on
``PYTHONPATH``, on a ledger of one exmail mailbox, that must exit 64 on a bad ``--at``:

- ``report``/``plot``: ``warmup report --at yesterday``, ``warmup plot --at yesterday``;
- baseline: ``warmup bounces list --since yesterday``, a command that opens the ledger as they
  do (SQLAlchemy) and refuses a bad time, without pandas;
- for reference, ``warmup quota --at yesterday`` (the everyday command, on its lean path);
- with ``--before TREE`` (e.g. ``git worktree add --detach /tmp/old main``): the same two
  report commands from that tree.

Rounds interleave every contender, so the machine's noise hits them alike. Prints each one's
median and range, and each median as a ratio of the baseline's (goal: about 1: a typo is told
as fast as another command that opens the ledger tells one, not after pandas and matplotlib
load).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bytecache import cached_env, compiled

HERE = Path(__file__).resolve().parents[1]
BOX = "sales@corp.example"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 64:
        raise SystemExit(f"{' '.join(cmd[2:])}: exit {proc.returncode}, not 64: {proc.stderr}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--before", type=Path, help="another checkout, timed in the same rounds")
    args = parser.parse_args()
    trees = [HERE] + ([args.before.resolve()] if args.before else [])
    env = cached_env()
    # -m puts the working directory first on sys.path, ahead of PYTHONPATH: run from the
    # repository's root, --before timed this tree again
    env["PYTHONSAFEPATH"] = "1"
    compiled(env, trees)
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        ledger = str(Path(tmp) / "ledger.db")
        base = {**env, "WARMUP_DB": ledger}
        add = [sys.executable, "-m", "warmup", "mailbox", "add", BOX, "--provider", "exmail"]
        subprocess.run(add, env={**base, "PYTHONPATH": str(HERE)}, check=True, capture_output=True)
        bad = ["--at", "yesterday"]
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "bounces (baseline)": (
                ["bounces", "list", "--since", "yesterday"],
                {**base, "PYTHONPATH": str(HERE)},
            ),
            "quota": (["quota", *bad], {**base, "PYTHONPATH": str(HERE)}),
        }
        for name, tree in zip(("this", "before"), trees, strict=False):
            for command in ("report", "plot"):
                runs[f"{command} ({name})"] = ([command, *bad], {**base, "PYTHONPATH": str(tree)})
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i in range(args.runs + 1):  # the first round warms the page cache, not counted
            for name, (cmd, cmd_env) in runs.items():
                took = timed([sys.executable, "-m", "warmup", *cmd], cmd_env)
                if i:
                    times[name].append(took)
    base_median = statistics.median(times["bounces (baseline)"])
    print(f"{args.runs} rounds, interleaved; a bad --at, exit 64 from each")
    for name, got in times.items():
        median = statistics.median(got)
        print(
            f"{name:18} median {median * 1000:7.0f} ms  range {min(got) * 1000:5.0f}-"
            f"{max(got) * 1000:5.0f} ms  / baseline {median / base_median:5.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
