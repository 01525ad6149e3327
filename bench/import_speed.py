"""``warmup import`` of a sending log: rows/s and peak memory, against a raw loop in the same run
(issue #15: >= 30,000 rows/s, memory flat in the row count).

    .venv/bin/python bench/import_speed.py [--rows 200000] [--rounds 2] [--before TREE]

The log has ``data/sample.csv``'s columns: 20 exmail mailboxes (registered by the file's first
rows), one send per row over the last 60 days, 1.2% of them with a bounce. Timed as whole commands
(the venv's console script), at R/4 and R rows, rounds interleaved, each into a fresh ledger:

- warmup: ``warmup import FILE`` (validates the whole file first, then writes 2,000-row batches,
  each its own transaction, rollup and suppressions kept);
- raw: what any import must at least do, like for like: read the CSV with the csv module, parse
  the times with ``datetime.fromisoformat``, and insert the sends (and bounces) with sqlite3
  ``executemany`` in 2,000-row transactions into tables of the same shape, WAL, synchronous=NORMAL.

``--before TREE`` times a third contender in the same rounds: ``warmup import`` with another
source tree first on ``PYTHONPATH`` (e.g. ``git worktree add /tmp/old main``: the code before a
change). Each contender's modules, and those of the venv the command imports, are compiled
first (these shells set ``PYTHONDONTWRITEBYTECODE``: a timed run would otherwise recompile
every module).

Peak memory is the child's maximum RSS (``getrusage(RUSAGE_CHILDREN)`` in a wrapper process).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from outbox_bench import _child

GOAL = 30_000


def lead(i: int, at: dt.datetime) -> tuple[str, list[str]]:
    """Row ``i``'s recipient (a lead of its own) and bounce (one row in 83 hard-bounced)."""
    bounce = (
        ["hard", "5.1.1", (at + dt.timedelta(minutes=5)).isoformat()]
        if i % 83 == 0
        else ["", "", ""]
    )
    return f"lead{i}@example{i % 97}.com", bounce


def write_log(path: Path, rows: int, send: Callable[..., tuple[str, list[str]]] = lead) -> None:
    """A log of ``rows`` sends by 20 mailboxes over the last 60 days, row ``i`` at ``at`` to
    the recipient with the bounce (kind, status, when; blank: none) ``send(i, at)`` gives."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=60)
    step = dt.timedelta(days=59) / rows
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["mailbox", "recipient", "sent_at", "bounce_kind", "bounce_status", "bounced_at",
             "provider", "timezone"]
        )  # fmt: skip
        for i in range(rows):
            box = f"box{i % 20}@corp.example"
            at = start + step * i
            rcpt, bounce = send(i, at)
            first = ["exmail", "Asia/Shanghai"] if i < 20 else ["", ""]
            w.writerow([box, rcpt, at.isoformat(), *bounce, *first])


def raw_import(path: Path, db: Path) -> None:
    """The baseline (run as a child: ``python import_speed.py _raw CSV DB``)."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE send (id INTEGER PRIMARY KEY, mailbox TEXT, recipient TEXT, at TEXT, "
        "day TEXT, key TEXT UNIQUE)"
    )
    con.execute(
        "CREATE TABLE bounce (id INTEGER PRIMARY KEY, recipient TEXT, kind TEXT, status TEXT, "
        "at TEXT, key TEXT UNIQUE)"
    )
    sends, bounces = [], []

    def flush() -> None:
        con.execute("BEGIN IMMEDIATE")
        con.executemany(
            "INSERT INTO send (mailbox, recipient, at, day, key) VALUES (?, ?, ?, ?, ?)", sends
        )
        con.executemany(
            "INSERT INTO bounce (recipient, kind, status, at, key) VALUES (?, ?, ?, ?, ?)", bounces
        )
        con.execute("COMMIT")
        sends.clear()
        bounces.clear()

    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            at = dt.datetime.fromisoformat(row["sent_at"]).astimezone(dt.UTC)
            stamp = at.isoformat(sep=" ")
            sends.append(
                (row["mailbox"], row["recipient"], stamp, stamp[:10], f"{stamp}|{row['recipient']}")
            )
            if row["bounce_kind"]:
                b_at = dt.datetime.fromisoformat(row["bounced_at"]).astimezone(dt.UTC)
                bounces.append(
                    (row["recipient"], row["bounce_kind"], row["bounce_status"],
                     b_at.isoformat(sep=" "), f"b|{stamp}|{row['recipient']}")
                )  # fmt: skip
            if len(sends) >= 2000:
                flush()
    flush()
    con.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_raw":
        raw_import(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another source tree to time in the same rounds")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    warmup = str(Path(sys.executable).parent / "warmup")
    # A venv installed without bytecode (uv's default) recompiled SQLAlchemy and the rest of
    # what the command imports in every timed run (~1 s of CPU): one untimed import of a small
    # log per contender, allowed to write bytecode, compiles exactly what the command imports.
    write_log(tmp / "warm.csv", 100)
    for n, tree in enumerate([HERE.parent, *([args.before] if args.before else [])]):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "warmup")], check=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(WARMUP_DB=str(tmp / f"warm{n}.db"), PYTHONPATH=str(tree))
        subprocess.run([warmup, "-q", "import", str(tmp / "warm.csv")], env=env, check=True)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} interleaved rounds")
    for size in (args.rows // 4, args.rows):
        log = tmp / f"log{size}.csv"
        write_log(log, size)
        ours, raw, before = [], [], []
        for r in range(args.rounds):
            env = dict(os.environ, WARMUP_DB=str(tmp / f"w{size}-{r}.db"))
            ours.append(_child([warmup, "import", str(log)], env))
            raw.append(
                _child(
                    [sys.executable, __file__, "_raw", str(log), str(tmp / f"r{size}-{r}.db")], env
                )
            )
            if args.before:
                env = dict(env, WARMUP_DB=str(tmp / f"b{size}-{r}.db"))
                env["PYTHONPATH"] = str(args.before)
                before.append(_child([warmup, "import", str(log)], env))
        t_o, t_r = statistics.median(t for t, _, _ in ours), statistics.median(t for t, _, _ in raw)
        c_o, c_r = statistics.median(c for *_, c in ours), statistics.median(c for *_, c in raw)
        m_o, m_r = max(m for _, m, _ in ours), max(m for _, m, _ in raw)
        print(
            f"  {size:>7,} rows: warmup import {size / t_o:8,.0f} rows/s (peak {m_o:5.0f} MiB,"
            f" CPU {size / c_o:,.0f} rows/s) | raw loop {size / t_r:8,.0f} rows/s (peak"
            f" {m_r:5.0f} MiB, CPU {size / c_r:,.0f} rows/s) | ratio {t_r / t_o:.2f}"
        )
        if before:
            t_b = statistics.median(t for t, _, _ in before)
            c_b = statistics.median(c for *_, c in before)
            print(
                f"  {'':>7}       before: {size / t_b:8,.0f} rows/s (peak"
                f" {max(m for _, m, _ in before):5.0f} MiB, CPU {size / c_b:,.0f} rows/s)"
            )
        print(f"  load average {os.getloadavg()[0]:.2f}")
    print(f"  goal: >= {GOAL:,} rows/s, memory flat in the row count")
    subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
