"""Team mode on PostgreSQL: three ratios, each measured within one run (not timed tests).

    quota   ``warmup quota ADDRESS --json`` (the venv's console script, whole command) on the
            10M-send ledger / on an empty ledger. Interleaved runs, medians. Goal <= 1.2.
    gate    reservations/s through ``Gate.reserve`` (+ settle) with 8 concurrent client
            processes / a raw psycopg loop doing what a correct reservation must at least do,
            with 8 processes: lock the mailbox (``SELECT ... FOR UPDATE``), read today's count,
            insert the slot, bump the day's count, commit. Both on one shared mailbox (every reservation queues on its row
            lock) and with one mailbox per client. Interleaved rounds, medians. Goal >= 0.5.
    report  the year's report over the 10M ledger (``warmup.reports.daily``, every mailbox) /
            the bare ``SELECT mailbox_id, day, count(*) FROM send GROUP BY mailbox_id, day`` on
            the same server. Medians. Goal <= 0.1.
    explain EXPLAIN (ANALYZE, BUFFERS) of the statements ``warmup quota`` and the gate run.

The 10M ledger is ``bench/pg_generate.py``'s database (default ``warmup_bench``); this script
creates the small ones it needs (``warmup_bench_empty``, ``warmup_bench_gate``) itself.

    .venv/bin/python bench/pg_bench.py [quota|gate|report|explain|all] [--server URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import psycopg
from pg_generate import database_url, ensure_database, libpq, server_url

from warmup import api
from warmup.ledger import open_ledger

BOX = "box1@corp1.example"
AT = "2026-11-29T09:00:00+08:00"  # the morning after the generated year
WARMUP = HERE.parent / ".venv" / "bin" / "warmup"
CLIENTS = 8


def med(xs: list[float]) -> float:
    return statistics.median(xs)


# -- quota ---------------------------------------------------------------------------------------


def bench_quota(server: str, big: str, empty: str, n: int) -> float:
    ensure_database(server, "warmup_bench_empty", fresh=True)
    ledger = open_ledger(empty)
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()

    def once(url: str) -> float:
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(WARMUP), "quota", BOX, "--json", "--at", AT, "--db", url],
            capture_output=True,
            text=True,
            check=True,
        )
        assert BOX in out.stdout
        return time.perf_counter() - t0

    for _ in range(2):
        once(big), once(empty)
    t_big, t_empty = [], []
    for _ in range(n):
        t_big.append(once(big))
        t_empty.append(once(empty))
    ratio = med(t_big) / med(t_empty)
    print(
        f"quota: 10M ledger median {med(t_big) * 1000:.1f} ms (min {min(t_big) * 1000:.1f}), "
        f"empty ledger median {med(t_empty) * 1000:.1f} ms (min {min(t_empty) * 1000:.1f}), "
        f"N={n} interleaved"
    )
    print(f"  ratio of medians = {ratio:.3f}  (goal <= 1.2)")
    return ratio


# -- gate ----------------------------------------------------------------------------------------


def _gate_client(url: str, box: str, seconds: float, barrier, out) -> None:  # type: ignore[no-untyped-def]
    from warmup import Gate

    gate = Gate(box, db=url)
    gate.reserve([f"warm-{id(gate)}@example.com"]).settle("sent")  # connect, compile, cache
    barrier.wait()
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        gate.reserve([f"c{n}-{time.perf_counter_ns()}@example.com"]).settle("sent")
        n += 1
    gate.close()
    out.put(n)


def _raw_client(url: str, box: str, seconds: float, barrier, out) -> None:  # type: ignore[no-untyped-def]
    conn = psycopg.connect(libpq(url))
    mid = conn.execute("SELECT id FROM mailbox WHERE address = %s", (box,)).fetchone()[0]
    conn.commit()
    barrier.wait()
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        now = dt.datetime.now(dt.UTC)
        with conn.transaction():
            conn.execute("SELECT id FROM mailbox WHERE id = %s FOR UPDATE", (mid,))
            conn.execute(
                "SELECT sent FROM day_stat WHERE mailbox_id = %s AND day = %s", (mid, now.date())
            ).fetchone()
            conn.execute(
                "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, source, "
                "key) VALUES (%s, %s, %s, %s, %s, 'reserved', 'raw', %s) RETURNING id",
                (
                    mid,
                    f"r{n}@example.com",
                    f"<{n}@x>",
                    now,
                    now.date(),
                    f"raw{n}-{time.perf_counter_ns()}",
                ),
            )
            conn.execute(
                "INSERT INTO day_stat AS d (mailbox_id, day, sent, hard, soft, block, complaint) "
                "VALUES (%s, %s, 1, 0, 0, 0, 0) ON CONFLICT (mailbox_id, day) DO UPDATE SET "
                "sent = d.sent + 1",
                (mid, now.date()),
            )
        n += 1
    conn.close()
    out.put(n)


def _round(target, url: str, boxes: list[str], seconds: float) -> float:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(CLIENTS + 1), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(url, boxes[i % len(boxes)], seconds, barrier, out))
        for i in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return total / elapsed


def bench_gate(server: str, seconds: float, rounds: int) -> dict[str, float]:
    url = database_url(server, "warmup_bench_gate")
    ensure_database(server, "warmup_bench_gate", fresh=True)
    ledger = open_ledger(url)
    policy = HERE / ".cache" / "pg_flat.toml"
    policy.parent.mkdir(exist_ok=True)
    policy.write_text(
        'name = "flat"\nceiling = 1000000\ngrowth_factor = 2.0\n\n[[stage]]\n'
        'name = "flat"\ndays = 0\ndaily = 1000000\ninterval = "0s"\n'
    )
    boxes = [f"client{i}@corp.example" for i in range(CLIENTS)]
    for b in boxes:
        api.add_mailbox(
            ledger,
            b,
            "custom",
            policy=str(policy),
            smtp_host="127.0.0.1",
            smtp_port=2525,
            imap_host="127.0.0.1",
            imap_port=993,
        )
    ledger.close()
    ratios = {}
    for label, shared in (("one shared mailbox", boxes[:1]), ("a mailbox per client", boxes)):
        gate, raw = [], []
        for _ in range(rounds):
            gate.append(_round(_gate_client, url, shared, seconds))
            raw.append(_round(_raw_client, url, shared, seconds))
        ratios[label] = med(gate) / med(raw)
        print(
            f"gate, {CLIENTS} clients, {label}: Gate.reserve {med(gate):.0f}/s "
            f"(rounds {', '.join(f'{x:.0f}' for x in gate)}), raw psycopg FOR UPDATE + INSERT "
            f"{med(raw):.0f}/s (rounds {', '.join(f'{x:.0f}' for x in raw)})"
        )
        print(f"  ratio of medians = {ratios[label]:.3f}  (goal >= 0.5; #15: >= 0.6)")
    return ratios


# -- report --------------------------------------------------------------------------------------


def bench_report(big: str, n: int) -> float:
    from warmup import reports

    ledger = open_ledger(big)
    at = api.parse_instant(AT)
    conn = psycopg.connect(libpq(big))
    # The report memoizes past days' policy walk (timeline_cache): start cold, show both.
    if conn.execute("SELECT to_regclass('timeline_cache')").fetchone()[0]:
        conn.execute("DELETE FROM timeline_cache")
        conn.commit()
    t_sql, t_rep, rows = [], [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        groups = conn.execute(
            "SELECT mailbox_id, day, count(*) FROM send GROUP BY mailbox_id, day"
        ).fetchall()
        t_sql.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frame = reports.daily(ledger, at=at)
        t_rep.append(time.perf_counter() - t0)
        rows = len(frame)
    conn.close()
    ledger.close()
    ratio = med(t_rep) / med(t_sql)
    print(
        f"report: bare GROUP BY median {med(t_sql):.2f} s ({len(groups):,} groups); "
        f"reports.daily (all mailboxes, the year) median {med(t_rep):.2f} s ({rows:,} rows)"
    )
    print(
        f"  rounds: GROUP BY {', '.join(f'{x:.2f}' for x in t_sql)} s; reports.daily "
        f"{', '.join(f'{x:.2f}' for x in t_rep)} s (the first with an empty timeline_cache: "
        f"ratio {t_rep[0] / t_sql[0]:.3f})"
    )
    print(f"  ratio of medians = {ratio:.3f}  (goal <= 0.1)")
    return ratio


# -- explain -------------------------------------------------------------------------------------


def explain(big: str) -> None:
    """The plans of what ``Gate.reserve`` asks for BOX on the 10M ledger (its two statements,
    warmup/ledger/postgres_gate.py), after the row lock."""
    from warmup.ledger import local_day, postgres_gate
    from warmup.policy import load_policy
    from warmup.policy.walk import lookback

    ledger = open_ledger(big)
    box = ledger.mailbox(BOX)
    as_of = api.parse_instant(AT)
    today = local_day(as_of, box.timezone)
    read = {
        "sids": "",
        "sats": "",
        "mid": box.id,
        "inputs": "",
        "today": today,
        "lookback": lookback(load_policy(box.policy)),
        "rcpts": "r1-100-3@example3.com",
        "msgid": "<explain@x>",
        "now": as_of,
        "horizon": as_of,
        "domain": "%@corp1.example",
        "start": as_of,
    }
    reserve = {
        "mid": box.id,
        "rcpts": "new@example.com",
        "msgid": "<explain@x>",
        "now": as_of,
        "day": today,
        "source": "gate",
    }
    with psycopg.connect(libpq(big)) as conn:
        for title, sql, params in (
            (
                "gate: step 4's reads in one statement (no domain or recipient caps)",
                postgres_gate._read_sql(False, False),
                read,
            ),
            ("gate: insert and rollup bump", postgres_gate._RESERVE, reserve),
        ):
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print(f"-- {title}\n{sql.strip()}\n")
            print("\n".join(r[0] for r in plan.fetchall()) + "\n")
            conn.rollback()
    ledger.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "what", nargs="?", default="all", choices=["quota", "gate", "report", "explain", "all"]
    )
    ap.add_argument("--server", help="any database URL on the server (default $WARMUP_TEST_PG)")
    ap.add_argument("--db", default="warmup_bench", help="the 10M ledger (bench/pg_generate.py)")
    ap.add_argument("-n", type=int, default=15, help="quota runs per ledger")
    ap.add_argument("--seconds", type=float, default=5.0, help="gate: length of a round")
    ap.add_argument("--rounds", type=int, default=3, help="gate and report: rounds")
    args = ap.parse_args()
    server = server_url(args.server)
    big = database_url(server, args.db)
    empty = database_url(server, "warmup_bench_empty")
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, load average {load}")
    if args.what in ("quota", "all"):
        bench_quota(server, big, empty, args.n)
    if args.what in ("gate", "all"):
        bench_gate(server, args.seconds, args.rounds)
    if args.what in ("report", "all"):
        bench_report(big, args.rounds)
    if args.what == "explain":
        explain(big)


if __name__ == "__main__":
    main()
