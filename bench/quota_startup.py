"""Whole-command wall time of ``warmup quota ADDRESS --json``, as a ratio to the bare imports it
cannot avoid (``python -c "import sqlmodel, click, pendulum"``).

Both run from this interpreter's own environment (``sys.executable`` and the ``warmup`` console
script next to it), interleaved in the same run so that machine noise hits both alike, on a
temporary ledger holding one exmail mailbox with ~30 days of history.

    .venv/bin/python bench/quota_startup.py [--runs 15] [--warmups 2]

Goal: median ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bytecache import cached_env, compiled

GOAL = 1.25  # issue #2
GOAL_15 = 1.15  # issue #15
BOX = "sales@corp.example"


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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    args = parser.parse_args()

    python = sys.executable  # the venv's interpreter itself, not a shim that re-resolves it
    script = str(Path(python).parent / "warmup")
    if not os.access(script, os.X_OK):
        print(f"no warmup console script next to {python}; pip install -e . first", file=sys.stderr)
        return 2
    # Bytecode as an installed package has it, for warmup and the baseline's packages alike
    # (bench/bytecode.py): without it the baseline compiled SQLAlchemy from source every run.
    env = cached_env()
    compiled(env, [Path(__file__).resolve().parents[1]])
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        ledger = Path(tmp) / "ledger.db"
        seed(ledger)
        env = {**env, "WARMUP_DB": str(ledger)}
        quota_cmd = [script, "quota", BOX, "--json"]
        base_cmd = [python, "-c", "import sqlmodel, click, pendulum"]
        subprocess.run(quota_cmd, env=env, check=True, stdout=subprocess.DEVNULL)  # it works
        quota_t: list[float] = []
        base_t: list[float] = []
        for i in range(args.warmups + args.runs):
            q, b = timed(quota_cmd, env), timed(base_cmd, env)
            if i >= args.warmups:
                quota_t.append(q)
                base_t.append(b)

    qm, bm = statistics.median(quota_t), statistics.median(base_t)
    ratio = qm / bm
    print(f"python: {python}")
    print(f"runs: {args.runs} each, interleaved, after {args.warmups} warm-ups")
    print(
        f"warmup quota {BOX} --json       median {qm * 1000:7.1f} ms   min {min(quota_t) * 1000:7.1f} ms"
    )
    print(
        f"python -c 'import sqlmodel, click, pendulum'  median {bm * 1000:7.1f} ms   "
        f"min {min(base_t) * 1000:7.1f} ms"
    )
    print(
        f"ratio of medians: {ratio:.2f}  (goal: #2 <= {GOAL}, #15 <= {GOAL_15})  "
        f"{'OK' if ratio <= GOAL_15 else 'OK for #2' if ratio <= GOAL else 'ABOVE GOAL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
