"""Why the ``day_stat`` rollup stays a rowid table in SQLite: the same rows clustered on their key
(``WITHOUT ROWID``) read faster by mailbox but write slower, on the paths that run every day.

    .venv/bin/python bench/rollup_read.py [--mailboxes 1000] [--days 365] [--rounds 7]

Both tables hold the same rows, written as a ledger writes them: day after day, every mailbox's
row of that day (the gate upserts a mailbox's row as it sends), so a rowid table holds them in
time order while every reader asks for them by mailbox. ``bench/report_scale.py``'s generated
ledger writes its rollup mailbox by mailbox instead, the order that suits a rowid table best, which
no ledger in use has.

Timed, in rounds alternating the two layouts (each a file of its own, opened afresh each round):

- quota: what ``warmup quota`` reads for 500 mailboxes without a walk memo (``sqlite_days.
  array_days``'s statement: ``mailbox_id IN (...)``, days before today, by mailbox and day);
- report: every row by mailbox and day (a cold report, ``reports_sql._day_stats``);
- send: 5,000 upserts of one day's rows (random mailboxes), a transaction each, as the gate
  bumps a mailbox's row with each reservation;
- batch: 20,000 such upserts in transactions of 100 (random mailboxes each), as an import or a
  bounce sync bumps many mailboxes' rows at once: each transaction dirties a page per mailbox
  in a clustered table, where a rowid table keeps today's rows of every mailbox together.

Prints each layout's median and the clustered ÷ rowid ratio of medians (below 1: faster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

COLUMNS = (
    "mailbox_id INTEGER NOT NULL REFERENCES mailbox (id), day DATE NOT NULL, "
    "sent INTEGER NOT NULL, hard INTEGER NOT NULL, soft INTEGER NOT NULL, "
    "block INTEGER NOT NULL, complaint INTEGER NOT NULL, PRIMARY KEY (mailbox_id, day)"
)
LAYOUTS = {"rowid": "", "clustered": " WITHOUT ROWID"}
START = dt.date(2025, 11, 29)
UPSERT = (
    "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
    "VALUES (?, ?, 1, 0, 0, 0, 0) "
    "ON CONFLICT (mailbox_id, day) DO UPDATE SET sent = sent + 1"
)


def build(path: Path, suffix: str, mailboxes: int, days: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE mailbox (id INTEGER PRIMARY KEY)")
    con.execute(f"CREATE TABLE day_stat ({COLUMNS}){suffix}")
    con.executemany("INSERT INTO mailbox VALUES (?)", [(m,) for m in range(1, mailboxes + 1)])
    rnd = random.Random(7)
    for d in range(days):
        day = (START + dt.timedelta(days=d)).isoformat()
        con.executemany(
            "INSERT INTO day_stat VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (m, day, rnd.randint(10, 45), rnd.randint(0, 1), 0, 0, 0)
                for m in range(1, mailboxes + 1)
            ],
        )
    con.commit()
    con.close()


def timed(fn: Callable[[sqlite3.Connection], object], path: Path) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous = NORMAL")  # the ledger's setting in WAL mode
    t0 = time.perf_counter()
    fn(con)
    took = time.perf_counter() - t0
    con.close()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mailboxes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    today = (START + dt.timedelta(days=args.days)).isoformat()
    half = list(range(1, min(500, args.mailboxes) + 1))
    quota_sql = (
        "SELECT mailbox_id, CAST(julianday(day) - 2440587.5 AS INTEGER), sent, hard, soft, "
        f"block, complaint FROM day_stat WHERE mailbox_id IN ({','.join('?' * len(half))}) "
        "AND day < ? ORDER BY mailbox_id, day"
    )
    report_sql = (
        "SELECT mailbox_id, day, sent, hard, soft, block, complaint FROM day_stat "
        "ORDER BY mailbox_id, day"
    )
    rnd = random.Random(11)
    upserts = [(rnd.randint(1, args.mailboxes), today) for _ in range(20_000)]
    singles = upserts[:5_000]

    def quota(con: sqlite3.Connection) -> object:
        return con.execute(quota_sql, (*half, today)).fetchall()

    def report(con: sqlite3.Connection) -> object:
        return con.execute(report_sql).fetchall()

    def send(con: sqlite3.Connection) -> None:
        for row in singles:
            with con:
                con.execute(UPSERT, row)

    def batch(con: sqlite3.Connection) -> None:
        for k in range(0, len(upserts), 100):
            with con:
                con.executemany(UPSERT, upserts[k : k + 100])

    work = (("quota", quota), ("report", report), ("send", send), ("batch", batch))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"{name}.db" for name in LAYOUTS}
        for name, suffix in LAYOUTS.items():
            build(paths[name], suffix, args.mailboxes, args.days)
        sizes = {name: os.path.getsize(p) for name, p in paths.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = list(LAYOUTS) if r % 2 == 0 else list(reversed(LAYOUTS))
            for what, fn in work:
                for name in order:
                    times.setdefault((what, name), []).append(timed(fn, paths[name]))
    print(
        f"{args.mailboxes} mailboxes x {args.days} days, {args.rounds} rounds, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for what, _ in work:
        rowid = statistics.median(times[(what, "rowid")])
        clustered = statistics.median(times[(what, "clustered")])
        print(
            f"{what:7} rowid {rowid:.3f} s  clustered {clustered:.3f} s  "
            f"clustered / rowid {clustered / rowid:.2f}"
        )
    print(
        f"file    rowid {sizes['rowid'] >> 10} KiB  clustered {sizes['clustered'] >> 10} KiB  "
        f"ratio {sizes['clustered'] / sizes['rowid']:.2f}"
    )


if __name__ == "__main__":
    main()
