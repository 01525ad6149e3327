"""One ``Worker.run_once`` pass over a backlog its pool cannot send now.

    .venv/bin/python bench/outbox_backlog.py [--queued 10000] [--members 2] [--rounds 3]

A pool of M mailboxes (flat policy) and Q messages queued to it, all due, on a temporary SQLite
ledger; the pass runs at a fixed ``now``. Three cases:

- exhausted: a quota of 5 a day, each member's 5 of today recorded: nothing goes before the
  members' next local day;
- paced: a quota no pass reaches, one send an hour, each member's last send a minute ago:
  nothing goes for 59 minutes;
- slot: the same policy, one member, no send yet: the pass at a paced pool's slot, where one
  message goes (to a lean TLS sink in its own process, bench/leansink.py) and the rest waits.

Each round restores the queue as queued and due (its rows copied back; the slot case's send
removed), then times one pass. Prints seconds per pass and per message. Goal: a pass over a backlog no member can send costs far less than one
claim per message (issue: backlog cost).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from leansink import LeanSink

from tests.gatekit import policy_file
from tests.peers.tls import TestPKI

BOX, PASSWORD = "a@corp.example", "s3cret-pass"

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def setup(d: Path, case: str, queued: int, members: int, port: int) -> tuple[str, list[str]]:
    from warmup import Outbox, api
    from warmup.ledger import SendIn, open_ledger

    db = d / f"{case}.db"
    os.environ["WARMUP_DB"] = str(db)
    ledger = open_ledger(f"sqlite:///{db}")
    if case == "exhausted":
        policy = policy_file(d / "p.toml", daily=5)
    else:
        policy = policy_file(d / "p.toml", daily=100_000, interval="1h")
    boxes = [BOX] if case == "slot" else [f"m{i}@corp{i}.example" for i in range(members)]
    for b in boxes:
        # loopback only, whatever the case: a bug that lets a message go never reaches a real host
        where = {"smtp_host": "127.0.0.1", "smtp_port": port}
        box = api.add_mailbox(ledger, b, "exmail", timezone="UTC", policy=str(policy), **where)
        if case == "slot":
            continue
        if case == "exhausted":
            sends = [
                SendIn(f"old{k}@example.com", NOW - dt.timedelta(minutes=k + 1)) for k in range(5)
            ]
        else:
            sends = [SendIn("old@example.com", NOW - dt.timedelta(minutes=1))]
        ledger.record(box, sends=sends)
    ledger.add_pool("P", boxes, reply_to=None, now=NOW)
    msg = EmailMessage()
    msg["To"] = "lead0@example.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello.\n" * 20)
    Outbox(ledger).add(msg, pool="P", now=NOW - dt.timedelta(hours=1))
    ledger.close()
    con = sqlite3.connect(db, isolation_level=None)
    cols = [r[1] for r in con.execute("PRAGMA table_info(outbox)") if r[1] != "id"]
    other = [c for c in cols if c not in ("message_id", "recipients")]
    con.execute("BEGIN")
    con.execute(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        f"INSERT INTO outbox (message_id, recipients, {', '.join(other)}) "
        f"SELECT '<b' || i || '@corp0.example>', 'lead' || i || '@example.com', "
        f"{', '.join(other)} FROM outbox, n WHERE outbox.id = 1",
        (queued - 1,),
    )
    con.execute("CREATE TABLE saved AS SELECT * FROM outbox")
    con.execute("COMMIT")
    con.close()
    return str(db), boxes


def restore(db: str, case: str) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN")
    con.execute("DELETE FROM outbox")
    con.execute("INSERT INTO outbox SELECT * FROM saved")
    if case == "slot":  # the pass's one send undone
        con.execute("DELETE FROM send")
        con.execute("DELETE FROM day_stat")
        con.execute("DELETE FROM walk_memo")
    con.execute("COMMIT")
    con.close()


def one_pass(db: str) -> tuple[float, dict[str, int]]:
    from warmup.ledger import open_ledger
    from warmup.outbox.worker import Worker

    ledger = open_ledger(f"sqlite:///{db}")
    try:
        with Worker(ledger, clock=lambda: NOW) as worker:
            t0 = time.perf_counter()
            done = worker.run_once()
            took = time.perf_counter() - t0
        due = ledger.next_due()
    finally:
        ledger.close()
    assert due is not None and due > NOW, due
    return took, dict(done.outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warmup-backlog-") as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        os.environ.update(SSL_CERT_FILE=str(pki.ca_pem_path), WARMUP_PASSWORD=PASSWORD)
        for case in ("exhausted", "paced", "slot"):
            d = Path(tmp) / case
            d.mkdir()
            members = 1 if case == "slot" else args.members
            times = []
            with LeanSink(pki, BOX, PASSWORD) as sink:
                db, _ = setup(d, case, args.queued, members, sink.port)
                for _ in range(args.rounds):
                    restore(db, case)
                    took, outcomes = one_pass(db)
                    times.append(took)
            med = statistics.median(times)
            print(
                f"{case:9}: {args.queued:,} queued, {members} members: one pass "
                f"{med:.3f} s median of {args.rounds} ({1e6 * med / args.queued:.1f} us/message)"
                f"  outcomes {outcomes}"
            )


if __name__ == "__main__":
    main()
