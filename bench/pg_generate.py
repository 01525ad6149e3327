"""Generate a team ledger of about 10 million sends on PostgreSQL (1,000 mailboxes x 365 days).

Everything is generated on the server (``INSERT ... SELECT`` over ``generate_series``), no
per-row Python. The distribution is ``bench/report_scale.py``'s, so the SQLite and PostgreSQL
figures describe the same ledger: 10 to 45 recipients per mailbox and day from 09:00 Shanghai
time, ~1.2% bounces (hard/soft/block), and every 50th mailbox mails a stale list on days 100-101
(30% bounces), is paused by hand on day 101 and resumed on day 104. ``day_stat`` is filled by
the same GROUP BY as ``Ledger._rebuild_rollup`` (every bounce answers its own send: all counted), hard bounces are suppressed,
the secondary indexes are built after the load, the id sequences are moved past the rows, and the
tables are VACUUM ANALYZEd (so index-only scans see an all-visible map).

The database is created (``CREATE DATABASE``; the role needs CREATEDB) and its schema made by
``open_ledger``, as a user would get it. An existing bench database is kept unless ``--fresh``.

    .venv/bin/python bench/pg_generate.py [--server URL] [--db NAME] [--fresh]
        [--mailboxes 1000] [--days 365]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import psycopg
import sqlalchemy as sa
from report_scale import fill_domain_day

from warmup.ledger import open_ledger

SERVER = "postgresql+psycopg://warmup:warmup-test@127.0.0.1:5432/warmup_test"
START = dt.date(2025, 11, 29)  # a year ending the day before 2026-11-29
SPIKE_EVERY = 50


def server_url(args_server: str | None) -> str:
    return args_server or os.environ.get("WARMUP_TEST_PG") or SERVER


def database_url(server: str, name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the server of ``server``."""
    return (
        sa.engine.make_url(server)
        .set(database=name, query={})
        .render_as_string(hide_password=False)
    )


def libpq(url: str) -> str:
    return (
        sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def ensure_database(server: str, name: str, fresh: bool) -> bool:
    """Create database ``name`` (dropping it first if ``fresh``); True if it was created."""
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            return True
    return False


def step(conn: psycopg.Connection, what: str, sql: str, params: dict | None = None) -> None:
    t0 = time.perf_counter()
    cur = conn.execute(sql, params or {})
    print(
        f"  {what}: {cur.rowcount if cur.rowcount >= 0 else ''} ({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )


def generate(url: str, mailboxes: int, days: int) -> None:
    open_ledger(url).close()  # the schema and its migrations, as a user gets them
    p = {"boxes": mailboxes, "days": days, "start": START, "every": SPIKE_EVERY}
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        # Secondary indexes and unique keys are built once after the load: much faster.
        rebuild = conn.execute("""
            SELECT 'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT ' || conname,
                   'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' || conname || ' '
                   || pg_get_constraintdef(oid)
            FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text IN ('send', 'bounce')
            UNION ALL
            SELECT 'DROP INDEX ' || indexname, indexdef FROM pg_indexes
            WHERE tablename IN ('send', 'bounce') AND indexname LIKE 'ix_%'""").fetchall()
        for drop, _ in rebuild:
            conn.execute(drop)
        step(
            conn,
            "mailbox",
            """
            INSERT INTO mailbox (id, address, provider, timezone, policy, created_at)
            SELECT i, 'box' || i || '@corp' || (i %% 20) || '.example', 'exmail', 'Asia/Shanghai',
                   'default', %(start)s::timestamptz FROM generate_series(1, %(boxes)s) i""",
            p,
        )
        # 09:00 Shanghai = 01:00 UTC, every 10 minutes: the local day is the UTC date.
        step(
            conn,
            "send",
            """
            INSERT INTO send (mailbox_id, recipient, at, day, outcome, settled_at, source, key)
            SELECT m, 'r' || m || '-' || k || '-' || i || '@example' || (i %% 7) || '.com',
                   t, (%(start)s::date + k), 'sent', t, 'bench',
                   '@' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
                   || '|r' || m || '-' || k || '-' || i
            FROM generate_series(1, %(boxes)s) m, generate_series(0, %(days)s - 1) k,
                 generate_series(0, 44) i,
                 LATERAL (SELECT (%(start)s::date + k)::timestamp AT TIME ZONE 'UTC'
                                 + interval '1 hour' + i * interval '10 minutes' AS t) x
            WHERE i < 10 + (m * 7 + k * 13) %% 36
            ORDER BY m, k, i""",
            p,
        )
        step(
            conn,
            "bounce",
            """
            INSERT INTO bounce (mailbox_id, send_id, recipient, kind, status, at, day, source, key,
                                counted, send_day)
            SELECT mailbox_id, id, recipient,
                   (ARRAY['hard', 'soft', 'block'])[id %% 3 + 1],
                   (ARRAY['5.1.1', '4.2.2', '5.7.1'])[id %% 3 + 1],
                   at + interval '7 minutes', day, 'bench', 'bench:' || id, true, day
            FROM send
            WHERE id %% 83 = 0
               OR (mailbox_id %% %(every)s = 0 AND day IN (%(start)s::date + 100,
                   %(start)s::date + 101) AND id %% 10 < 3)""",
            p,
        )
        step(
            conn,
            "suppression",
            """
            INSERT INTO suppression (address, kind, reason, mailbox_id, created_at)
            SELECT DISTINCT ON (recipient) recipient, 'hard', 'hard bounce ' || status,
                   mailbox_id, at FROM bounce WHERE kind = 'hard' ORDER BY recipient, at""",
        )
        step(
            conn,
            "event",
            """
            INSERT INTO event (mailbox_id, kind, at, reason)
            SELECT id, 'pause', (%(start)s::date + 101)::timestamp AT TIME ZONE 'UTC'
                   + interval '10 hours', 'stale list' FROM mailbox WHERE id %% %(every)s = 0
            UNION ALL
            SELECT id, 'resume', (%(start)s::date + 104)::timestamp AT TIME ZONE 'UTC'
                   + interval '30 minutes', 'list cleaned' FROM mailbox
            WHERE id %% %(every)s = 0""",
            p,
        )
        step(
            conn,
            "day_stat",
            """
            INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint)
            SELECT mailbox_id, day, sum(sent), sum(hard), sum(soft), sum(block), sum(complaint)
            FROM (SELECT mailbox_id, day, count(*) AS sent, 0 AS hard, 0 AS soft, 0 AS block,
                         0 AS complaint
                  FROM send WHERE outcome <> 'released' GROUP BY mailbox_id, day
                  UNION ALL
                  SELECT mailbox_id, day, 0, count(*) FILTER (WHERE kind = 'hard'),
                         count(*) FILTER (WHERE kind = 'soft'),
                         count(*) FILTER (WHERE kind = 'block'),
                         count(*) FILTER (WHERE kind = 'complaint')
                  FROM bounce GROUP BY mailbox_id, day) u
            GROUP BY mailbox_id, day""",
        )
        for _, create in rebuild:
            step(conn, create.split(" ON ")[0][:60], create)
        for table in ("mailbox", "send", "bounce", "suppression", "event"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE(max(id), 1), max(id) IS NOT NULL) FROM {table}"
            )
        conn.commit()
    ledger = open_ledger(url)
    fill_domain_day(ledger)  # raw rows bypass the writes that keep it
    ledger.close()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        print(f"  vacuum analyze: ({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="any database URL on the server (default $WARMUP_TEST_PG)")
    ap.add_argument("--db", default="warmup_bench", help="database to create (default %(default)s)")
    ap.add_argument("--mailboxes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--fresh", action="store_true", help="drop and regenerate it")
    args = ap.parse_args()
    server = server_url(args.server)
    url = database_url(server, args.db)
    if ensure_database(server, args.db, args.fresh):
        t0 = time.perf_counter()
        print(f"generating {args.mailboxes} mailboxes x {args.days} days in {args.db} ...")
        try:
            generate(url, args.mailboxes, args.days)
        except BaseException:
            ensure_database(server, args.db, fresh=True)  # no half-made ledger left behind
            raise
        print(f"generated in {time.perf_counter() - t0:.0f} s")
    with psycopg.connect(libpq(url)) as conn:
        sends, bounces, size = conn.execute(
            "SELECT (SELECT count(*) FROM send), (SELECT count(*) FROM bounce), "
            "pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    print(f"{args.db}: {sends:,} sends, {bounces:,} bounces, {size}")


if __name__ == "__main__":
    main()
