"""Gate overhead, measured against baselines in the same run (issue #3, point 8a and 8c).

(a) gate + send through the Python API, one SMTP connection, vs a bare smtplib send on one
    connection to the same loopback TLS sink. The sink is bench/leansink.py: its own process,
    counting messages without parsing them, as a real server's receive path. Goal <= 1.5
    (issue #15: <= 1.25).
(c) gate reservations/s vs a raw sqlite3 ``BEGIN IMMEDIATE`` loop doing what a correct
    reservation must at least do, like for like: read today's count from the rollup, insert the
    slot, bump the count, commit; on the same file (the same rows present) with the same
    settings (WAL, synchronous=NORMAL, busy timeout). Issue #15: >= 0.6.

Run: .venv/bin/python bench/gate_send.py [N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import smtplib
import sqlite3
import ssl
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from leansink import LeanSink

from tests.gatekit import policy_file
from tests.peers.tls import TestPKI

USER, PASSWORD = "a@corp.example", "bench-pass"
FLAT = 1_000_000  # a quota no bench reaches, no pacing: the gate's own cost alone


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = USER, f"lead{i}@example.com", f"Hello {i}"
    msg.set_content("A short outreach message.\n" * 5)
    return msg


def bare(sink: LeanSink, n: int, ctx: ssl.SSLContext) -> float:
    start = time.perf_counter()
    with smtplib.SMTP_SSL("127.0.0.1", sink.port, context=ctx) as smtp:
        smtp.login(USER, PASSWORD)
        for i in range(n):
            smtp.send_message(message(i))
    return time.perf_counter() - start


def gated(n: int, offset: int) -> float:
    from warmup import Gate

    start = time.perf_counter()
    with Gate(USER, password=PASSWORD) as gate:
        for i in range(n):
            gate.send(message(offset + i))
    return time.perf_counter() - start


def raw_reservations(path: Path, n: int, run: int) -> float:
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    day = dt.date.today().isoformat()
    start = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN IMMEDIATE")
        con.execute("SELECT sent FROM day_stat WHERE mailbox_id = 1 AND day = ?", (day,)).fetchone()
        con.execute(
            "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, "
            "source, key) VALUES (1, ?, ?, ?, ?, 'reserved', 'raw', ?)",
            (
                f"raw{i}@example.com",
                f"<raw{run}-{i}>",
                dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                day,
                f"raw{run}-{i}",
            ),
        )
        con.execute(
            "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
            "VALUES (1, ?, 1, 0, 0, 0, 0) ON CONFLICT (mailbox_id, day) DO UPDATE SET "
            "sent = sent + 1",
            (day,),
        )
        con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def gate_reservations(n: int, run: int) -> float:
    from warmup import Gate

    with Gate(USER, password=PASSWORD) as gate:
        start = time.perf_counter()
        for i in range(n):
            gate.reserve([f"res{run}-{i}@example.com"])
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=300, help="messages per round (default 300)")
    n = ap.parse_args().n
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    pki = TestPKI(tmp / "pki")
    os.environ["SSL_CERT_FILE"] = str(pki.ca_pem_path)
    os.environ["WARMUP_DB"] = str(tmp / "ledger.db")
    policy_file(tmp / "flat.toml", daily=FLAT)
    from warmup import api, open_ledger

    ledger = open_ledger()
    with LeanSink(pki, USER, PASSWORD) as sink:
        api.add_mailbox(
            ledger,
            USER,
            "exmail",
            policy=str(tmp / "flat.toml"),
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
        )
        ctx = ssl.create_default_context(cafile=str(pki.ca_pem_path))
        bare(sink, 20, ctx), gated(20, 10_000)  # warm up both paths
        b, g = [], []
        for r in range(3):  # interleaved, so drift affects both alike
            b.append(bare(sink, n, ctx))
            g.append(gated(n, 20_000 + r * n))
    assert sink.received == 40 + 6 * n, sink.received
    bm, gm = statistics.median(b), statistics.median(g)
    print(f"(a) {n} messages, one connection, loopback TLS sink (median of 3)")
    print(f"    bare smtplib  {bm / n * 1e3:7.3f} ms/message")
    print(f"    gate + send   {gm / n * 1e3:7.3f} ms/message")
    print(f"    ratio gate/bare = {gm / bm:.2f}   (goal <= 1.5; #15: <= 1.25)")

    m = n * 3
    raws, gates = [], []
    for r in range(3):
        raws.append(raw_reservations(tmp / "ledger.db", m, r))
        gates.append(gate_reservations(m, r))
    raw, gate = statistics.median(raws), statistics.median(gates)
    print(f"(c) {m} reservations on the same SQLite file (median of 3)")
    print(f"    raw sqlite3 BEGIN IMMEDIATE loop {m / raw:8.0f} /s")
    print(f"    Gate.reserve                     {m / gate:8.0f} /s")
    print(f"    ratio gate/raw = {(m / gate) / (m / raw):.2f}   (goal #15: >= 0.6)")


if __name__ == "__main__":
    main()
