"""Whole-command wall time of ``warmup quota ADDRESS --json``, as a ratio to the bare imports it
cannot avoid (``python -c "import sqlmodel, click, pendulum"``).

Both run from this interpreter (``sys.executable``), ``warmup`` as ``python -m warmup`` from the
tree's root, interleaved in the same run so that machine noise hits both alike, on a temporary
ledger holding one exmail mailbox (China's calendar) with ~30 days of history. With ``--old
TREE`` (e.g. ``git worktree add --detach /tmp/old main``) the same command from that checkout
joins each round, on a ledger it seeded itself, for a before/after. The holidays library's
answers are kept in the run's own cache folder (``XDG_CACHE_HOME``), filled by the first run.

    .venv/bin/python bench/quota_startup.py [--runs 15] [--warmups 2] [--old /tmp/old]

Goal: median ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bytecache import cached_env, compiled
from rounds import rounds, show

GOAL = 1.25  # issue #2
GOAL_15 = 1.15  # issue #15
BOX = "sales@corp.example"
HERE = Path(__file__).resolve().parents[1]


def seed(path: Path, days: int = 30) -> None:
    """One exmail mailbox that sent (roughly) its full quota on each of the last ``days`` days."""
    import pendulum

    from warmup import api, open_ledger
    from warmup.ledger import BounceIn, SendIn

    ledger = open_ledger(str(path))
    box = api.add_mailbox(ledger, BOX, "exmail")
    today = pendulum.now("Asia/Shanghai").start_of("day")
    for k in range(days, 0, -1):
        morning = today.subtract(days=k).add(hours=9)
        quota = api.quota_for(ledger, box, morning).remaining
        sends = []
        for i in range(quota):
            at = morning.add(seconds=i * 90)
            rcpt = f"lead{k:02d}-{i:03d}@example.com"
            bounce = (
                BounceIn(rcpt, "soft", at.add(minutes=5), f"bench:{k}:{i}", status="4.2.2")
                if i % 97 == 0
                else None
            )
            sends.append(SendIn(rcpt, at, f"<{k}-{i}@corp.example>", "bench", bounce))
        ledger.record(box, sends=sends)
    ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--old", type=Path, help="another checkout to time in the same rounds")
    args = parser.parse_args()

    python = sys.executable  # the venv's interpreter itself, not a shim that re-resolves it
    trees = {"new": HERE, **({"old": args.old.resolve()} if args.old else {})}
    # Bytecode as an installed package has it, for warmup and the baseline's packages alike
    # (bench/bytecache.py): without it the baseline compiled SQLAlchemy from source every run.
    env = cached_env()
    compiled(env, list(trees.values()))
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        env = {**env, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        envs: dict[str, dict[str, str]] = {"base": env}
        for name, tree in trees.items():
            ledger = Path(tmp) / f"{name}.db"
            # each tree seeds its own ledger (its own schema), with this very function
            seeding = f"import sys; sys.path.insert(0, {str(HERE / 'bench')!r}); "
            seeding += f"from quota_startup import seed; seed({str(ledger)!r})"
            subprocess.run([python, "-c", seeding], env=env, cwd=tree, check=True)
            envs[name] = {**env, "WARMUP_DB": str(ledger)}
        cmds = {name: [python, "-m", "warmup", "quota", BOX, "--json"] for name in trees}
        cmds["base"] = [python, "-c", "import sqlmodel, click, pendulum"]
        cwd = {**trees, "base": HERE}
        for name in trees:  # it works (and keeps the calendar's answers)
            subprocess.run(
                cmds[name], env=envs[name], cwd=cwd[name], check=True, stdout=subprocess.DEVNULL
            )
        wall, cpu = rounds(cmds, envs, cwd, args.runs, args.warmups)

    print(f"python: {python}; load: {os.getloadavg()[0]:.1f}")
    print(f"runs: {args.runs} each, interleaved, after {args.warmups} warm-ups")
    show(wall, cpu)
    ratio = statistics.median(wall["new"]) / statistics.median(wall["base"])
    print(
        f"ratio of medians (new): {ratio:.2f}  (goal: #2 <= {GOAL}, #15 <= {GOAL_15})  "
        f"{'OK' if ratio <= GOAL_15 else 'OK for #2' if ratio <= GOAL else 'ABOVE GOAL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
