"""A paced pool's steady state: several slots in a row over a backlog, against another tree.

    .venv/bin/python bench/outbox_slots.py --old /tmp/main-tree [--queued 10000 50000]
        [--slots 6] [--rounds 3] [--pg [URL]] [--overflow] [--quiet] [--members 2 | --alone]
    .venv/bin/python bench/outbox_slots.py --pg --trips [--old /tmp/main-tree] [--members 3]

A pool of 2 mailboxes (flat policy, one send an hour each, each member's last send a minute
ago: bench/outbox_backlog.py's "paced" case) and Q messages queued to it, all due, on a
temporary SQLite ledger; a lean TLS sink in its own process takes what goes. One worker runs
pass after pass, its injected clock moved to the next due each time (no sleep): the first pass
holds the backlog, each next one is a slot where both members send one and the rest waits.
Prints, per tree and backlog, the median cost of a slot (slots after the first two), per
message sent, and the outbox rows a slot writes (rows whose state, time, reply or stamp
changed), and the ratio of this tree's slot to the other's. Each tree runs in a process of its
own (its ``warmup`` package first on the path), rounds interleaved.

``--overflow``: the pool has an overflow channel (never reached: its members are paced, not
out of quota), so each hold holds all but its bulk messages (none here), as a pool with one
is held. ``--quiet``: the worker ``warmup run --quiet`` makes (``count_waiting=False``: it
says no figure of what waits, and a tree that has the option counts none); a tree without it
counts as it always did.

``--pg``: the same on PostgreSQL (the server of URL, default ``$WARMUP_TEST_PG``): each child
makes a database of its own (``warmup_slots_<pid>``; ``$WARMUP_BENCH_DB`` names another prefix
than ``warmup_slots``, for benches sharing a server), fills it by ``generate_series`` and
drops it.

``--members N``: a pool of N (default 2). ``--alone`` (PostgreSQL): one mailbox, the messages
queued to it, no pool. ``--trips`` (PostgreSQL): instead of timing, each tree's round trips to
the server a steady slot, from libpq's trace of every connection (exact, whatever the load),
by statement, and the difference between the trees.

Goal: a slot's cost does not grow with the backlog (issue: a held backlog was written again at
every slot, 50,000 rows, 0.44 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _pg_setup(url: str, d: Path, queued: int, port: int, members: int, alone: bool) -> None:
    """bench/outbox_backlog.py's "paced" case on PostgreSQL: the same mailboxes, policy, sends,
    pool and message by the API, the backlog copied from its message by SQL (``alone``: one
    mailbox, the messages queued to it, no pool)."""
    import psycopg
    import sqlalchemy as sa
    from outbox_backlog import NOW

    from tests.gatekit import policy_file
    from warmup import Outbox, api
    from warmup.ledger import SendIn, open_ledger

    ledger = open_ledger(url)
    policy = policy_file(d / "p.toml", daily=100_000, interval="1h")
    boxes = [f"m{i}@corp{i}.example" for i in range(1 if alone else members)]
    for b in boxes:
        where = {"smtp_host": "127.0.0.1", "smtp_port": port}
        box = api.add_mailbox(ledger, b, "exmail", timezone="UTC", policy=str(policy), **where)
        ledger.record(box, sends=[SendIn("old@example.com", NOW - dt.timedelta(minutes=1))])
    if not alone:
        ledger.add_pool("P", boxes, reply_to=None, now=NOW)
    msg = EmailMessage()
    msg["To"] = "lead0@example.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello.\n" * 20)
    target = {"mailbox": boxes[0]} if alone else {"pool": "P"}
    Outbox(ledger).add(msg, now=NOW - dt.timedelta(hours=1), **target)
    ledger.close()
    libpq = sa.engine.make_url(url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False)) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'outbox' "
                "AND table_schema = current_schema() AND column_name NOT IN "
                "('id', 'message_id', 'recipients') ORDER BY ordinal_position"
            )
        ]
        conn.execute(
            f"INSERT INTO outbox (message_id, recipients, {', '.join(cols)}) "
            f"SELECT '<b' || i || '@corp0.example>', 'lead' || i || '@example.com', "
            f"{', '.join(cols)} FROM outbox, generate_series(2, {int(queued)}) i "
            f"WHERE outbox.id = 1"
        )
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _database(server: str, name: str, drop: bool) -> str:
    """Make (or ``drop``) database ``name`` on the server of ``server``; its URL."""
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(server).set(query={})
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return url.set(database=name).render_as_string(hide_password=False)


def child(
    tree: str,
    queued: int,
    slots: int,
    pg: str | None,
    overflow: bool,
    quiet: bool,
    members: int = 2,
    alone: bool = False,
    trips: bool = False,
) -> None:
    sys.path.insert(0, tree)
    import warmup.ledger
    import warmup.outbox.worker

    sys.path.insert(1, str(ROOT / "bench"))
    sys.path.insert(2, str(ROOT))
    import outbox_backlog as ob
    from leansink import LeanSink

    from tests.peers.tls import TestPKI
    from warmup.ledger import open_ledger

    assert warmup.ledger.__file__.startswith(tree), warmup.ledger.__file__
    with tempfile.TemporaryDirectory(prefix="warmup-slots-") as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        os.environ.update(SSL_CERT_FILE=str(pki.ca_pem_path), WARMUP_PASSWORD=ob.PASSWORD)
        d = Path(tmp) / "paced"
        d.mkdir()
        logins = ",".join(f"m{i}@corp{i}.example" for i in range(members))
        with LeanSink(pki, logins, ob.PASSWORD) as sink:
            name = f"{os.environ.get('WARMUP_BENCH_DB', 'warmup_slots')}_{os.getpid()}"
            if pg is None:
                db, _ = ob.setup(d, "paced", queued, members, sink.port)
                url = f"sqlite:///{db}"
                con: Any = sqlite3.connect(db)
            else:
                url = _database(pg, name, drop=False)
                _pg_setup(url, d, queued, sink.port, members, alone)
                import sqlalchemy as sa

                engine = sa.create_engine(url)
                con = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                ledger = open_ledger(url)
                if overflow:
                    from warmup.ledger import Overflow

                    ledger.set_overflow("P", Overflow("127.0.0.1", 9, "ssl"), ob.NOW)
                seen: list[list[str]] | None = [] if trips else None
                out: Any = _slots(ledger, con, slots, quiet, seen)
                if seen is not None:
                    out = seen
            finally:
                con.close()
                if pg is not None:
                    engine.dispose()
                    _database(pg, name, drop=True)
    print(json.dumps(out))


class _Trips:
    """The round trips to the server of every connection ``engine`` makes from now on (its pool
    emptied first), from libpq's trace of each (a round trip ends with the server's
    ReadyForQuery): :meth:`take` gives those since the last, each as the statements it sent
    (their text, literals and lists of parameters folded; the pool's check of a connection is
    ``;``)."""

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.files: dict[Any, Any] = {}
        self.named: dict[Any, dict[str, str]] = {}
        engine.dispose()
        sa.event.listen(engine, "connect", lambda raw, _: self._trace(raw))

    def _trace(self, raw: Any) -> None:
        import psycopg

        f = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by take())
        self.files[raw] = f
        raw.pgconn.trace(f.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def take(self) -> list[str]:
        trips: list[str] = []
        for raw, f in list(self.files.items()):
            if raw.closed:
                del self.files[raw]
            else:
                raw.pgconn.untrace()  # flushes it
            f.seek(0)
            sent: list[str] = []
            named = self.named.setdefault(raw, {})  # prepared statements by name
            for line in f:
                if line.count("\t") < 3:  # a statement's text goes on over several lines
                    continue
                side, _, kind, *rest = line.split("\t")
                quoted = rest[0].split('"') if rest else []
                if side == "F" and kind == "Query":
                    sent.append(_said(quoted[1]))
                elif side == "F" and kind == "Parse":
                    named[quoted[1]] = _said(quoted[3])
                    if quoted[1]:
                        continue  # prepared: counted by its Bind
                    sent.append(named[quoted[1]])
                elif side == "F" and kind == "Bind" and quoted[3]:
                    sent.append(named.get(quoted[3], "(prepared)"))
                elif side == "B" and kind == "ReadyForQuery":
                    trips.append("; ".join(sent))
                    sent = []
            f.close()
            if raw in self.files:
                self._trace(raw)
        return trips


def _said(sql: str) -> str:
    """A statement's text as the breakdown counts it: literals and parameters folded."""
    import re

    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\$\d+|\b\d+\b", "?", sql)
    sql = re.sub(r"\?(\s*,\s*\?)+", "?", sql)
    return " ".join(sql.split())[:100]


def _slots(
    ledger: Any, con: Any, slots: int, quiet: bool, trips: list[list[str]] | None = None
) -> list[tuple[float, ...]]:
    """``slots`` passes of a worker over ``ledger``, its clock moved to the next due each time;
    each pass's seconds, messages sent, outbox rows written (read through ``con``), CPU
    seconds of this process, thousands of SQLite virtual machine instructions (0 on
    PostgreSQL) and seconds spent in the ledger's statements (the server's work included):
    the last three are what a busy machine blurs least. ``trips`` (PostgreSQL): each pass's
    round trips to the server (:class:`_Trips`) appended to it."""
    import outbox_backlog as ob
    import sqlalchemy as sa

    from warmup.outbox.worker import Worker

    now = ob.NOW
    look = "SELECT id, state || next_attempt_at || coalesce(last_reply, '') || updated_at"
    out = []

    def rows() -> dict[int, str]:
        result = getattr(con, "exec_driver_sql", con.execute)(f"{look} FROM outbox")
        return {i: v for i, v in result}

    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    def counted(conn: Any, *_: Any) -> None:  # each statement's connection (set again: cheap)
        raw = conn.connection.driver_connection
        if hasattr(raw, "set_progress_handler"):
            raw.set_progress_handler(step, 1000)

    sa.event.listen(ledger.engine, "before_cursor_execute", counted)
    in_sql = [0.0]

    def started(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def ended(conn: Any, *_: Any) -> None:
        in_sql[0] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    sa.event.listen(ledger.engine, "before_cursor_execute", started)
    sa.event.listen(ledger.engine, "after_cursor_execute", ended)
    import inspect

    quietly = quiet and "count_waiting" in inspect.signature(Worker).parameters
    traced = _Trips(ledger.engine) if trips is not None else None
    with Worker(
        ledger, clock=lambda: now, **({"count_waiting": False} if quietly else {})
    ) as worker:
        for _ in range(slots):
            before = rows()
            steps[0], in_sql[0] = 0, 0.0
            c0, t0 = time.process_time(), time.perf_counter()
            done = worker.run_once()
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            if traced is not None and trips is not None:
                trips.append(traced.take())
            vm, sql = steps[0], in_sql[0]
            after = rows()
            written = sum(before.get(i) != v for i, v in after.items())
            out.append((took, done.outcomes.get("sent", 0), written, cpu, vm, sql))
            assert done.next_due is not None
            now = max(done.next_due, now + dt.timedelta(seconds=1))
    ledger.close()
    return out


def run(tree: str, queued: int, slots: int, pg: str | None, *flags: object) -> Any:
    """A child over ``tree``: its JSON (the slots' figures, or with ``--trips`` their round
    trips)."""
    args = [pg or "-", *(str(int(f)) if isinstance(f, bool) else str(f) for f in flags)]
    res = subprocess.run(
        [sys.executable, __file__, "--child", tree, str(queued), str(slots), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.splitlines()[-1])


def _trips(trees: dict[str, str], args: argparse.Namespace, queued: int) -> None:
    """``--trips``: each tree's round trips a steady slot (exact: one run each), the statements
    that make them, and the difference."""
    import collections

    flags = (args.overflow, args.quiet, args.members, args.alone, True)
    per: dict[str, collections.Counter[str]] = {}
    for name, tree in trees.items():
        slots = run(tree, queued, args.slots, args.pg, *flags)[2:]  # the steady slots
        per[name] = collections.Counter(t for slot in slots for t in slot)
        total = sum(per[name].values()) / len(slots)
        print(f"{name}: {total:.1f} round trips a slot (mean of {len(slots)})")
        for text, n in per[name].most_common():
            print(f"  {n / len(slots):6.1f}  {text or '(none)'}")
    if len(trees) == 2:
        old, new = per["old"], per["new"]
        print("new - old, a slot:")
        for text in sorted(set(old) | set(new), key=lambda t: new[t] - old[t]):
            if new[text] != old[text]:
                print(f"  {(new[text] - old[text]) / (args.slots - 2):+6.1f}  {text or '(none)'}")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        pg = None if sys.argv[5] == "-" else sys.argv[5]
        bools = [a == "1" for a in sys.argv[6:11]]
        members = int(sys.argv[8]) if len(sys.argv) > 8 else 2
        child(
            sys.argv[2],
            int(sys.argv[3]),
            int(sys.argv[4]),
            pg,
            bools[0],
            bools[1],
            members,
            *bools[3:5],
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="the tree to compare with (its root); --trips: optional")
    parser.add_argument("--queued", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--slots", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg",
        nargs="?",
        const=os.environ.get("WARMUP_TEST_PG", ""),
        help="on PostgreSQL: a URL of the server (default $WARMUP_TEST_PG)",
    )
    parser.add_argument("--overflow", action="store_true", help="the pool has an overflow channel")
    parser.add_argument("--quiet", action="store_true", help="the worker of 'run --quiet'")
    parser.add_argument("--members", type=int, default=2, help="the pool's members (default 2)")
    parser.add_argument("--alone", action="store_true", help="one mailbox, no pool (--pg only)")
    parser.add_argument("--trips", action="store_true", help="count round trips (--pg only)")
    args = parser.parse_args()
    if args.pg == "":
        parser.error("--pg needs a URL or $WARMUP_TEST_PG")
    if (args.alone or args.trips) and not args.pg:
        parser.error("--alone and --trips are for PostgreSQL: add --pg")
    if args.old is None and not args.trips:
        parser.error("--old is required (but with --trips)")
    trees = {"old": args.old, "new": str(ROOT)} if args.old else {"new": str(ROOT)}
    if args.alone:
        args.members = 1
    flags = (args.overflow, args.quiet, args.members, args.alone, False)
    for queued in args.queued:
        if args.trips:
            _trips(trees, args, queued)
            continue
        got: dict[str, list[tuple[float, ...]]] = {"old": [], "new": []}
        for _ in range(args.rounds):  # interleaved: a busy machine slows both alike
            for name, tree in trees.items():
                slots = run(tree, queued, args.slots, args.pg, *flags)
                got[name].extend(tuple(x) for x in slots[2:])  # the steady slots
        med: dict[str, list[float]] = {}
        for name, rows in got.items():
            med[name] = [statistics.median(r[k] for r in rows) for k in range(6)]
            slot, sent, written, cpu, vm, sql = med[name]
            how = "".join(
                (
                    " (PostgreSQL)" * bool(args.pg),
                    ", overflow" * args.overflow,
                    ", quiet" * args.quiet,
                )
            )
            who = "1 mailbox" if args.alone else f"{args.members} members"
            print(
                f"{name}: {queued:,} queued{how}, {who}: a slot {1e3 * slot:.1f} ms "
                f"(median of {len(rows)}), {1e3 * slot / max(sent, 1):.1f} ms a message "
                f"sent, {written:,.0f} outbox rows written; CPU {1e3 * cpu:.1f} ms, "
                f"{1e3 * sql:.1f} ms in statements"
                + (f", {vm:,.0f}k SQLite VM steps" if not args.pg else "")
            )
        old, new = med["old"], med["new"]
        print(
            f"    new/old: {new[0] / old[0]:.3f} of a slot's time, {new[3] / old[3]:.3f} of its CPU, "
            f"{new[5] / old[5]:.3f} of its time in statements"
            + (f", {new[4] / old[4]:.3f} of its VM steps" if not args.pg else "")
        )


if __name__ == "__main__":
    main()
