"""What looking for soft streaks costs on a ledger of 200,000 sends: the query `suppress soft` runs
(``Ledger.soft_bounced_sends``, every mailbox) against the one `bounces sync ADDRESS` runs after
its sync (the same, for the one mailbox), two trees compared.

    .venv/bin/python bench/soft_streaks.py --base ../softsync-base [--sends 200000] [--rounds 5]
        [--url postgresql+psycopg://...]

The ledger is filled once by ``warmup import`` of a log like ``import_speed.py``'s: 20 exmail
mailboxes over 60 days, 50,000 recipients mailed four times each by one mailbox, 2% of them
answered every time by a mailbox-full soft bounce (1,000 streaks, 50 a mailbox), 3% by a
throttle (soft, no streak: candidates the query must read and drop), 1.2% of sends by a hard
bounce. ``--url`` names a PostgreSQL database or schema to fill instead of a SQLite file (it
must be empty). Each round times the query in a fresh process of each tree (``PYTHONPATH``),
alternating which goes first; prints medians and ranges.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
WARMUP = HERE / ".venv" / "bin" / "warmup"
sys.path.insert(0, str(HERE / "bench"))

from import_speed import write_log

BOXES = 20  # as write_log's
RECIPIENTS = 50_000

TIMED = """
import sys, time
from warmup.ledger import open_ledger
ledger = open_ledger(sys.argv[1])
one = sys.argv[2] == "one"
box = ledger.mailbox("box0@corp.example")
ledger.soft_bounced_sends(3, box.id) if one else ledger.soft_bounced_sends(3)  # warm
t = time.perf_counter()
rows = ledger.soft_bounced_sends(3, box.id) if one else ledger.soft_bounced_sends(3)
print(f"{time.perf_counter() - t:.4f} {len(rows)}")
"""


def send(i: int, at: dt.datetime) -> tuple[str, list[str]]:
    """Row ``i``'s recipient (mailed by one mailbox, every ``RECIPIENTS`` rows) and bounce."""
    j = i % RECIPIENTS  # RECIPIENTS % BOXES == 0: each recipient mailed by one mailbox
    later = (at + dt.timedelta(minutes=5)).isoformat()
    k = j // BOXES  # the recipient's rank among its mailbox's
    if k % 50 == 0:
        bounce = ["soft", "452 4.2.2 mailbox full", later]
    elif k % 33 == 0:
        bounce = ["soft", "451 4.7.1 try again later", later]
    elif i % 83 == 0:
        bounce = ["hard", "5.1.1", later]
    else:
        bounce = ["", "", ""]
    return f"lead{j}@example{j % 97}.com", bounce


def timed(tree: Path, url: str, which: str) -> tuple[float, int]:
    # PYTHONSAFEPATH: -c puts the working directory first on sys.path, ahead of PYTHONPATH (run
    # from the repository's root, the other tree was this one again)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    out = subprocess.run(
        [sys.executable, "-c", TIMED, url, which],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="the tree before (its warmup/)")
    parser.add_argument("--sends", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", help="an empty PostgreSQL ledger to fill (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/ledger.db"
        log = Path(tmp) / "log.csv"
        write_log(log, args.sends, send)
        subprocess.run(
            [str(WARMUP), "-q", "--db", url, "import", str(log)],
            check=True,
            env={**os.environ, "PYTHONPATH": str(HERE)},
        )
        runs: dict[str, list[tuple[float, int]]] = {"base all": [], "this all": [], "this one": []}
        for n in range(args.rounds):
            order = list(runs) if n % 2 == 0 else list(reversed(runs))
            for name in order:
                tree = args.base if name.startswith("base") else HERE
                runs[name].append(timed(tree, url, name.split()[1]))
        for name, got in runs.items():
            times = [t for t, _ in got]
            print(
                f"{name:9} median {statistics.median(times) * 1000:8.1f} ms "
                f"(range {min(times) * 1000:.1f}-{max(times) * 1000:.1f}), {got[0][1]} rows"
            )
        base = statistics.median(t for t, _ in runs["base all"])
        one = statistics.median(t for t, _ in runs["this one"])
        print(f"one mailbox / every mailbox (base): {one / base:.3f}")


if __name__ == "__main__":
    main()
