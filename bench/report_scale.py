"""Reports at scale: a year of 1,000 mailboxes (about 10 million sends) against a bare table scan.

Prints (a) the time of ``SELECT mailbox_id, day, count(*) FROM send GROUP BY mailbox_id, day``
(what any per-day report over raw rows must at least do), the time of the year's report frame for
every mailbox through :func:`warmup.reports.daily` (the ``day_stat`` rollup + the policy walk)
(b) cold: with the ledger's timeline cache emptied first, i.e. what a first report costs (every
mailbox walked from its first day, the memos written), and (c) warm: run again with the cache
filled, as a user re-running the report sees it; then a plot of a handful of mailboxes, the ratios
(b)/(a) and (c)/(a) by wall time and by this process's CPU time (SQLite's work runs in it: on a
shared machine the CPU ratio is the steadier one), and the peak RSS. Goals (issue #15): warm
<= 0.1, cold <= 0.2. With ``--synced``, (d): the warm
report again after a bounce sync that recorded, after the report before, one hard bounce of a
send of yesterday for every third mailbox (``quota_all.py``'s sync, by the code timed), in a
copy of the ledger.

The ledger is generated once inside SQLite (recursive CTEs, no per-row Python) and cached in
``bench/.cache/`` (or ``--db``); ``day_stat`` is filled by the same GROUP BY the ledger's
``Ledger._rebuild_rollup`` does, and ``--verify`` checks it against the raw rows.

    .venv/bin/python bench/report_scale.py [--mailboxes 1000] [--days 365] [--verify] [--synced]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from warmup import api, reports
from warmup.ledger import open_ledger

START = dt.date(2025, 11, 29)  # a year ending the day before 2026-11-29
SPIKE_EVERY = 50  # every 50th mailbox mails a stale list on days 100-101, is paused and resumed


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, mailboxes: int, days: int, weekdays: bool = False) -> None:
    """Create the ledger schema through warmup, then fill it with SQL inside SQLite.

    ``weekdays``: no sends on Saturdays and Sundays (a business mailbox's shape; the spike's
    days 100-101 are a Monday and a Tuesday, its resume on day 104 a Friday)."""
    open_ledger(str(path)).close()  # schema and migrations, as a user would get them
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; "
        "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;"
    )
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND "
        "tbl_name IN ('send', 'bounce') AND sql IS NOT NULL"
    ).fetchall()
    con.execute("BEGIN")
    for name, _ in indexes:  # rebuilt once after the load: much faster than row by row
        con.execute(f"DROP INDEX {name}")
    con.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :boxes)
        INSERT INTO mailbox (id, address, provider, timezone, policy, created_at)
        SELECT i, 'box' || i || '@corp' || (i % 20) || '.example', 'exmail', 'Asia/Shanghai',
               'default', :start || ' 00:00:00.000000' FROM n""",
        {"boxes": mailboxes, "start": START.isoformat()},
    )
    # 10 to 45 recipients per mailbox and day (27.5 on average), from 09:00 local (01:00 UTC)
    # every 10 minutes; the local day (UTC+8) is the UTC date since every send is before 16:00.
    con.execute(
        """
        WITH RECURSIVE
          d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < :days - 1),
          s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 44),
          t AS (SELECT m.id AS mid, k, i,
                       strftime('%Y-%m-%d %H:%M:%S', :start, '+' || k || ' days',
                                '+1 hours', '+' || (i * 10) || ' minutes') || '.000000' AS at
                FROM mailbox m, d, s WHERE i < 10 + (m.id * 7 + k * 13) % 36
                  AND (NOT :weekdays OR strftime('%w', :start, '+' || k || ' days') NOT IN ('0', '6'))
                ORDER BY m.id, k, i)
        INSERT INTO send (mailbox_id, recipient, at, day, outcome, settled_at, source, key)
        SELECT mid, 'r' || mid || '-' || k || '-' || i || '@example' || (i % 7) || '.com',
               at, substr(at, 1, 10), 'sent', at, 'bench',
               '@' || replace(at, ' ', 'T') || '|r' || mid || '-' || k || '-' || i
        FROM t""",
        {"days": days, "start": START.isoformat(), "weekdays": weekdays},
    )
    # about 1.2% bounce (hard, soft, block); the spike mailboxes bounce 30% on days 100-101
    con.execute(
        """
        INSERT INTO bounce (mailbox_id, send_id, recipient, kind, status, at, day, source, key,
                            counted, send_day)
        SELECT mailbox_id, id, recipient,
               CASE id % 3 WHEN 0 THEN 'hard' WHEN 1 THEN 'soft' ELSE 'block' END,
               CASE id % 3 WHEN 0 THEN '5.1.1' WHEN 1 THEN '4.2.2' ELSE '5.7.1' END,
               at, day, 'bench', 'bench:' || id, 1, day
        FROM send
        WHERE id % 83 = 0
           OR (mailbox_id % :every = 0 AND day IN (date(:start, '+100 days'),
                                                   date(:start, '+101 days')) AND id % 10 < 3)
        """,
        {"every": SPIKE_EVERY, "start": START.isoformat()},
    )
    con.execute("""
        INSERT INTO suppression (address, kind, reason, mailbox_id, created_at)
        SELECT recipient, 'hard', 'hard bounce ' || status, mailbox_id, at
        FROM bounce WHERE kind = 'hard'""")
    con.execute(
        """
        INSERT INTO event (mailbox_id, kind, at, reason)
        SELECT id, 'resume', date(:start, '+104 days') || ' 00:30:00.000000', 'list cleaned'
        FROM mailbox WHERE id % :every = 0""",
        {"every": SPIKE_EVERY, "start": START.isoformat()},
    )
    # the rollup, by the same GROUP BY as Ledger._rebuild_rollup (every bounce here answers
    # its own send: all counted)
    con.execute("""
        INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint)
        SELECT mailbox_id, day, sum(sent), sum(hard), sum(soft), sum(block), sum(complaint)
        FROM (SELECT mailbox_id, day, count(*) AS sent, 0 AS hard, 0 AS soft, 0 AS block,
                     0 AS complaint
              FROM send WHERE outcome != 'released' GROUP BY mailbox_id, day
              UNION ALL
              SELECT mailbox_id, day, 0, sum(kind = 'hard'), sum(kind = 'soft'),
                     sum(kind = 'block'), sum(kind = 'complaint')
              FROM bounce GROUP BY mailbox_id, day)
        GROUP BY mailbox_id, day""")
    for _, sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    ledger = open_ledger(str(path))
    fill_domain_day(ledger)  # raw rows bypass the writes that keep it: a domain cap saw none
    ledger.close()


def fill_domain_day(ledger: Any) -> None:
    """``domain_day`` (m030) from the sends, by the GROUP BY of ``Ledger._rebuild_rollup``:
    ledgers made of raw rows (this script's, ``pg_generate.py``'s) had none, and on them a
    policy with a domain cap saw no sends to any domain."""
    import sqlalchemy as sa

    from warmup.ledger.schema import COUNTED, DOMAIN_DAY, SEND

    domain = ledger.sql_domain(SEND.c.recipient)
    with ledger.write() as conn:
        conn.execute(DOMAIN_DAY.delete())
        conn.execute(
            DOMAIN_DAY.insert().from_select(
                ["mailbox_id", "day", "domain", "sent"],
                sa.select(SEND.c.mailbox_id, SEND.c.day, domain, sa.func.count())
                .where(COUNTED)
                .group_by(SEND.c.mailbox_id, SEND.c.day, domain),
            )
        )


CPU: dict[str, float] = {}  # each measure's best CPU time of this process (SQLite's included)


def best_of(n: int, fn, name: str = ""):  # type: ignore[no-untyped-def]
    """Best wall time of ``n`` runs (and, under ``name``, the best CPU time in :data:`CPU`)."""
    times, cpu, result = [], [], None
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if name:
        CPU[name] = min(cpu)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mailboxes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--db", type=Path, help="ledger file (default: bench/.cache/...)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verify", action="store_true", help="check day_stat against raw rows")
    ap.add_argument(
        "--synced",
        action="store_true",
        help="also time the warm report after a bounce sync (into a copy of the ledger)",
    )
    args = ap.parse_args()
    path = args.db or HERE / ".cache" / f"report_scale_{args.mailboxes}x{args.days}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, args.mailboxes, args.days)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s")
    made = None
    if args.synced:  # the sync writes bounces: into a copy, the cached ledger stays as made
        made = path.with_name(f"synced_{path.name}")
        shutil.copyfile(path, made)
        path = made
    con = sqlite3.connect(path)
    (sends,) = con.execute("SELECT count(*) FROM send").fetchone()
    (bounces,) = con.execute("SELECT count(*) FROM bounce").fetchone()
    print(
        f"ledger: {args.mailboxes} mailboxes x {args.days} days, {sends:,} sends, "
        f"{bounces:,} bounces, {path.stat().st_size / 2**30:.2f} GiB"
    )

    def scan() -> int:
        return len(
            con.execute(
                "SELECT mailbox_id, day, count(*) FROM send GROUP BY mailbox_id, day"
            ).fetchall()
        )

    t_scan, groups = best_of(min(args.repeat, 2), scan, "scan")
    con.close()
    print(f"(a) bare GROUP BY mailbox, day over send: {t_scan:.2f} s ({groups:,} groups)")

    ledger = open_ledger(str(path))  # applies any pending migration (m002: timeline_cache)
    at = api.parse_instant((START + dt.timedelta(days=args.days)).isoformat() + "T09:00:00+08:00")

    def cold():  # type: ignore[no-untyped-def]
        ledger.clear_timelines()  # not timed: forget every memo, as on a first report
        c0, t0 = time.process_time(), time.perf_counter()
        frame = reports.daily(ledger, at=at)
        CPU["cold"] = min(CPU.get("cold", float("inf")), time.process_time() - c0)
        return time.perf_counter() - t0, frame

    t_cold, frame = cold()
    for _ in range(args.repeat - 1):  # best of n, holding one frame at a time
        t_cold = min(t_cold, cold()[0])
    print(
        f"(b) year's report frame, all mailboxes, cold (empty cache; walks + memo writes): "
        f"{t_cold:.2f} s ({len(frame):,} rows; {int(frame['sent'].sum()):,} sends, "
        f"{int((frame['status'] == 'paused').sum())} paused mailbox-days)"
    )
    t_warm, again = best_of(args.repeat, lambda: reports.daily(ledger, at=at), "warm")
    same = again.equals(frame) and again.equals(reports.daily(ledger, at=at, cache=False))
    print(
        f"(c) the same report again, warm (cache filled): {t_warm:.2f} s "
        f"(frame identical to the cold one and to an uncached one: {same})"
    )
    if args.synced:
        from quota_all import sync

        last_day = (START + dt.timedelta(days=args.days - 1)).isoformat()
        synced = []
        for r in range(args.repeat):
            reports.daily(ledger, at=at)  # the memos as the morning's first report leaves them
            sync(path, last_day, r, dict(os.environ))
            t0 = time.perf_counter()
            reports.daily(ledger, at=at)
            synced.append(time.perf_counter() - t0)
        print(
            f"(d) the warm report after a bounce sync (one hard bounce of a send of yesterday for "
            f"every third mailbox, recorded after the report before): {min(synced):.2f} s "
            f"(best of {args.repeat}), ratio (d)/(a) = {min(synced) / t_scan:.3f}"
        )
    handful = [f"box{i}@corp{i % 20}.example" for i in (1, 2, SPIKE_EVERY, 2 * SPIKE_EVERY)]
    out = HERE / ".cache" / "report_scale.png"
    t0 = time.perf_counter()
    reports.plot(reports.daily(ledger, handful, at=at), out)
    t_plot = time.perf_counter() - t0
    print(f"    plot of {len(handful)} mailboxes (frame + figure + PNG): {t_plot:.2f} s -> {out}")
    print(
        f"ratio cold (b)/(a) = {t_cold / t_scan:.3f}, warm (c)/(a) = {t_warm / t_scan:.3f}  "
        f"(goal <= 0.1)"
    )
    print(
        f"by CPU: scan {CPU['scan']:.2f} s, cold {CPU['cold']:.2f} s, warm {CPU['warm']:.2f} s; "
        f"ratio cold {CPU['cold'] / CPU['scan']:.3f} (goal <= 0.2), "
        f"warm {CPU['warm'] / CPU['scan']:.3f} (goal <= 0.1)"
    )
    if args.verify:
        t0 = time.perf_counter()
        bad = reports.rollup_mismatches(ledger)
        print(f"rollup vs raw rows: {len(bad)} mismatches ({time.perf_counter() - t0:.1f} s)")
    ledger.close()
    if made is not None:
        made.unlink()
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
