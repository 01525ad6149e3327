"""What ``bounces list --limit 0`` costs on a ledger of 100,000 bounces, most of them unmatched
(a mailbox read for a year: strangers' reports, another mailbox's, second reports), two trees
compared: since each bounce not counted says why (``history._why_not_counted``: first two
queries fetching every send of the listed recipients, then lookups per row in the listing's
own statement, ``history._with_facts``).

    .venv/bin/python bench/bounces_list.py --base ../review-base [--bounces 100000] [--rounds 5]

One ledger (SQLite, or ``--url`` a PostgreSQL schema) is filled once; each round times
``Ledger.bounces(limit=None)`` in a fresh process of each tree (``PYTHONPATH``), alternating
which goes first. Prints each tree's median and range and the ratio of medians (this ÷ base).
A tree that fails the listing (PostgreSQL's 65,535 parameters) says so.
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

TIMED = """
import sys, time
from warmup.ledger import open_ledger
ledger = open_ledger(sys.argv[1])
t = time.perf_counter()
try:
    n = len(ledger.bounces(limit=None))
except Exception as e:
    print("failed:", type(e).__name__, str(e)[-80:])
else:
    print(f"{time.perf_counter() - t:.3f} {n}")
"""


def fill(url: str, n: int) -> None:
    sys.path.insert(0, str(HERE))  # this tree's warmup, not the editable install's
    import sqlalchemy as sa

    from warmup import api
    from warmup.ledger import BounceIn, SendIn, open_ledger
    from warmup.ledger.schema import BOUNCE

    ledger = open_ledger(url, create=True)
    try:
        box = api.add_mailbox(ledger, "sales@corp.example", "exmail")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sent = now - dt.timedelta(days=1)
        sends = [
            SendIn(f"lead{i}@client.example", sent, f"<a{i}@corp.example>") for i in range(2000)
        ]
        ledger.record(box, sends=sends)
        ledger.record(
            box,
            bounces=[
                BounceIn(s.recipient, "hard", now, f"m{i}", message_id=s.message_id, trusted=False)
                for i, s in enumerate(sends[:1000])
            ],
        )
        rows = [
            {
                "mailbox_id": box.id,
                # a third about leads (an unknown Message-ID), the rest strangers'
                "recipient": f"lead{i % 2000}@client.example" if i % 3 == 0 else f"x{i}@s.example",
                "kind": "hard",
                "message_id": f"<m{i}@s.example>",
                "at": now - dt.timedelta(seconds=i),
                "day": now.date(),
                "source": "imap",
                "key": f"k{i}",
                "counted": False,
            }
            for i in range(n - 1000)
        ]
        with ledger.engine.begin() as conn:  # type: ignore[attr-defined]
            for k in range(0, len(rows), 5000):
                conn.execute(sa.insert(BOUNCE), rows[k : k + 5000])
    finally:
        ledger.close()


def timed(tree: Path, url: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", TIMED, url],
        env=env,
        cwd=tree,  # "-c" puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, required=True, help="the other tree")
    ap.add_argument("--bounces", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--url", help="a ledger URL (default: a new SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/ledger.db"
        fill(url, args.bounces)
        trees = {"this": HERE, "base": args.base.resolve()}
        got: dict[str, list[float]] = {k: [] for k in trees}
        for r in range(args.rounds):
            for name in ["this", "base"] if r % 2 == 0 else ["base", "this"]:
                said = timed(trees[name], url)
                print(f"round {r + 1} {name}: {said}", flush=True)
                if not said.startswith("failed"):
                    got[name].append(float(said.split()[0]))
        for name, times in got.items():
            if times:
                print(
                    f"{name}: median {statistics.median(times):.2f}s, {min(times):.2f}-{max(times):.2f}s"
                )
        if got["this"] and got["base"]:
            print(
                f"this / base: {statistics.median(got['this']) / statistics.median(got['base']):.2f}"
            )


if __name__ == "__main__":
    main()
