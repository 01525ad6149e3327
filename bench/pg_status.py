"""``queue status`` on a PostgreSQL outbox of 10,000 to 200,000 waiting messages, against another
tree.

    .venv/bin/python bench/pg_status.py --old /tmp/main-tree [--server URL]
        [--queued 10000 50000 200000] [--rounds 3] [--explain] [--keep]

For each backlog, each tree gets a database of its own on the server (``warmup_pgstatus_<tree>_
<queued>``, created fresh, its schema made by that tree's ``open_ledger``, dropped at the end
unless ``--keep``) holding the same rows: big_team.py's outbox (300 mailboxes, 20 pools of 15,
40 campaigns; 70% of the messages sent, 25% queued to the pools, 5% to single mailboxes), a
message in 100 to two recipients, one in 50 due later (a retry's time), one in 100 queued to a
pool a member already mailed (a follow-up: ``stays``), one in 100 to a suppressed address;
VACUUM ANALYZEd. Per round, trees interleaved: the waiting statement(s) of ``queue status``
(``Ledger.outbox_waiting``) timed in the tree's own process (median of 5), so is
``queue status``'s whole work without the start-up (median of 3), and ``warmup queue
status`` and ``queue status --json`` run as a user runs them (own process, wall), their outputs
hashed and compared between the trees. ``--explain``: EXPLAIN (ANALYZE, BUFFERS) of each
outbox statement ``outbox_waiting`` sends, in each tree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql+psycopg://warmup:warmup-test@127.0.0.1:5432/warmup_test"
POOLS, POOL_SIZE, BOXES, CAMPAIGNS = 20, 15, 300, 40
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _urls(server: str, name: str) -> tuple[str, str]:
    """(SQLAlchemy URL, libpq URL) of database ``name`` on ``server``."""
    import sqlalchemy as sa

    url = sa.engine.make_url(server).set(database=name, query={})
    return (
        url.render_as_string(hide_password=False),
        url.set(drivername="postgresql").render_as_string(hide_password=False),
    )


def libpq(url: str) -> str:
    import sqlalchemy as sa

    return (
        sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def fresh_database(server: str, name: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_urls(server, "postgres")[1], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')


def setup(url: str, queued: int) -> None:
    """In the tree's own process: the ledger's schema, mailboxes, pools and one message by its
    API, then the outbox filled by SQL from that message, follow-ups' sends, suppressions."""
    import psycopg

    from warmup import Outbox, api
    from warmup.ledger import SendIn, open_ledger

    ledger = open_ledger(url)
    ids = {}
    for i in range(1, BOXES + 1):
        box = api.add_mailbox(ledger, f"m{i}@corp{i % 20}.example", "exmail", timezone="UTC")
        ids[i] = box.id
    assert list(ids.values()) == list(range(1, BOXES + 1)), "mailbox ids are not 1..300"
    for p in range(POOLS):
        members = [
            f"m{i}@corp{i % 20}.example" for i in range(1 + p * POOL_SIZE, 1 + (p + 1) * POOL_SIZE)
        ]
        ledger.add_pool(f"pool{p}", members, reply_to=None, now=NOW)
    msg = EmailMessage()
    msg["From"] = "m1@corp1.example"
    msg["To"] = "lead1@example1.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello, a few lines of an outreach message.\n" * 20)
    Outbox(ledger).add(msg, pool="pool0", campaign="c1", now=NOW - dt.timedelta(hours=1))
    total = round(queued / 0.3)
    # row i: sent (i % 20 < 14), queued to pool 1 + (i // 20) % 20 (< 19), else to one mailbox
    pool_of = f"1 + (i / 20) % {POOLS}"
    member = f"1 + ((i / 20) % {POOLS}) * {POOL_SIZE} + i % {POOL_SIZE}"
    lead = "'lead' || i || '@example' || (i % 7) || '.com'"
    with psycopg.connect(libpq(url)) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'outbox' AND table_schema = current_schema() "
                "ORDER BY ordinal_position"
            )
        ]
        set_here = {
            "id": None,
            "message_id": "'<b' || i || '@corp0.example>'",
            "recipients": f"CASE WHEN i % 100 = 35 THEN {lead} || ',cc' || i || '@example.org' "
            f"ELSE {lead} END",
            "rcpt_count": "CASE WHEN i % 100 = 35 THEN 2 ELSE 1 END",
            "campaign": f"'c' || (i % {CAMPAIGNS})",
            "pool_id": f"CASE WHEN i % 20 < 19 THEN {pool_of} END",
            "mailbox_id": f"CASE WHEN i % 20 = 19 THEN 1 + i % {BOXES} END",
            "sent_by": f"CASE WHEN i % 20 < 14 THEN {member} END",
            "state": "CASE WHEN i % 20 < 14 THEN 'sent' WHEN i % 1000 = 17 THEN 'sending' "
            "ELSE 'queued' END",
            "content_key": "'k' || i",
            "next_attempt_at": "next_attempt_at + CASE WHEN i % 50 = 18 "
            "THEN (i % 97) * interval '1 minute' ELSE interval '0' END",
        }
        assert set(set_here) <= set(cols)
        other = [c for c in cols if c not in set_here]
        names = [c for c in set_here if c != "id"] + other
        values = [v for c, v in set_here.items() if c != "id"] + other
        conn.execute(
            f"INSERT INTO outbox ({', '.join(names)}) SELECT {', '.join(values)} "
            f"FROM outbox, generate_series(2, {total}) i WHERE outbox.id = 1"
        )
        follow = conn.execute(
            f"SELECT {member}, {lead} FROM generate_series(2, {total}) i "
            "WHERE i % 100 = 15"  # i % 20 = 15: queued to a pool
        ).fetchall()
        gone = [
            a
            for (a,) in conn.execute(
                f"SELECT {lead} FROM generate_series(2, {total}) i WHERE i % 100 = 16"
            )
        ]
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('outbox', 'id'), (SELECT max(id) FROM outbox))"
        )
    by_box: dict[int, list[SendIn]] = {}
    for k, (box_id, rcpt) in enumerate(follow):
        by_box.setdefault(box_id, []).append(SendIn(rcpt, NOW - dt.timedelta(days=3, seconds=k)))
    rows = {b.id: b for b in ledger.mailboxes()}
    for box_id, sends in by_box.items():
        ledger.record(rows[box_id], sends=sends)
    ledger.suppress(gone, "manual", "bench", at=NOW)
    ledger.close()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def measure(url: str, reps: int, explain: bool) -> dict[str, object]:
    """In the tree's own process: ``outbox_waiting``'s median time, its result's hash, its
    statements' plans."""
    import sqlalchemy as sa

    from warmup.ledger import open_ledger

    ledger = open_ledger(url)
    times, seen = [], []
    got = None
    for _ in range(reps):
        t0 = time.perf_counter()
        got = ledger.outbox_waiting()
        times.append(time.perf_counter() - t0)
    from warmup.outbox import status

    whole = []
    for _ in range(3):  # queue status's work in process (no start-up), median of 3
        t0 = time.perf_counter()
        status.status(ledger)
        whole.append(time.perf_counter() - t0)
    digest = hashlib.sha256(
        json.dumps(
            sorted(got or [], key=lambda r: json.dumps(r, sort_keys=True, default=str)),
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:12]
    plans = []
    if explain:

        def note(conn, cursor, statement, parameters, *_):  # type: ignore[no-untyped-def]
            seen.append((statement, parameters))

        sa.event.listen(ledger.engine, "before_cursor_execute", note)
        ledger.outbox_waiting()
        sa.event.remove(ledger.engine, "before_cursor_execute", note)
        for sql, params in seen:
            if "outbox" not in sql or "EXPLAIN" in sql:
                continue
            with ledger.read() as conn:
                rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                plans.append("\n".join(r[0] for r in rows))
    ledger.close()
    return {
        "waiting": statistics.median(times),
        "in process": statistics.median(whole),
        "groups": len(got or []),
        "hash": digest,
        "plans": plans,
    }


def command(tree: str, url: str, args: list[str]) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=tree, WARMUP_DB=url, COLUMNS="200")
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "warmup", *args], env=env, cwd=tree, capture_output=True, check=True
    )
    return time.perf_counter() - t0, hashlib.sha256(res.stdout).hexdigest()[:12]


def child(tree: str, what: str, url: str, n: int, explain: bool) -> None:
    sys.path.insert(0, tree)
    import warmup

    assert warmup.__file__.startswith(tree), warmup.__file__
    if what == "setup":
        setup(url, n)
        print(json.dumps({}))
    else:
        print(json.dumps(measure(url, n, explain)))


def in_tree(tree: str, what: str, url: str, n: int, explain: bool = False) -> dict[str, object]:
    argv = [sys.executable, __file__, "--child", tree, what, url, str(n)] + (
        ["--explain"] if explain else []
    )
    res = subprocess.run(
        argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=tree)
    )
    if res.returncode:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), "--explain" in sys.argv)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the tree to compare with (its root)")
    parser.add_argument("--server", default=os.environ.get("WARMUP_TEST_PG", SERVER))
    parser.add_argument("--queued", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases (and reuse them)")
    args = parser.parse_args()
    trees = {"old": str(Path(args.old).resolve()), "new": str(ROOT)}
    made: list[str] = []
    try:
        for queued in args.queued:
            urls = {}
            for name, tree in trees.items():
                db = f"warmup_pgstatus_{name}_{queued}"
                urls[name] = _urls(args.server, db)[0]
                t0 = time.perf_counter()
                fresh_database(args.server, db)
                made.append(db)
                in_tree(tree, "setup", urls[name], queued)
                print(f"{name}: {db} made in {time.perf_counter() - t0:.0f} s", flush=True)
            got: dict[str, dict[str, list[float]]] = {n: {} for n in trees}
            hashes: dict[str, set[str]] = {n: set() for n in trees}
            for r in range(args.rounds):
                for name, tree in trees.items():
                    m = in_tree(tree, "measure", urls[name], 5, args.explain and r == 0)
                    got[name].setdefault("waiting", []).append(float(m["waiting"]))  # type: ignore[arg-type]
                    hashes[name].add(f"waiting {m['hash']} ({m['groups']} groups)")
                    got[name].setdefault("status in process", []).append(float(m["in process"]))  # type: ignore[arg-type]
                    for plan in m["plans"]:  # type: ignore[attr-defined]
                        print(f"--- {name}, {queued:,} queued:\n{plan}")
                    for label, argv in (
                        ("status", ["queue", "status"]),
                        ("status --json", ["queue", "status", "--json"]),
                    ):
                        took, digest = command(tree, urls[name], argv)
                        got[name].setdefault(label, []).append(took)
                        hashes[name].add(f"{label} {digest}")
            same = hashes["old"] == hashes["new"]
            print(
                f"{queued:,} queued: outputs {'the same' if same else 'DIFFER'}: {sorted(hashes['new'])}"
            )
            if not same:
                print(f"   old: {sorted(hashes['old'])}")
            for label in got["old"]:
                old, new = (statistics.median(got[n][label]) for n in ("old", "new"))
                print(
                    f"  {label:17} old {1e3 * old:8.1f} ms  new {1e3 * new:8.1f} ms  "
                    f"new/old {new / old:.3f}  (median of {args.rounds})",
                    flush=True,
                )
    finally:
        if not args.keep:
            for db in made:
                fresh_database(args.server, db, drop_only=True)


if __name__ == "__main__":
    main()
