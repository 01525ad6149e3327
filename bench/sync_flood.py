"""A flood of forged bounce reports: ``warmup bounces sync`` of N RFC 3464 reports that return
no original, in a real Dovecot on loopback, read by the whole command from two trees.

    .venv/bin/python bench/sync_flood.py --tree /path/to/baseline [--n 10000] [--leads 100]

Every report names one address: one in ten a lead the mailbox mailed two hours ago (``--leads``
of them, each named again and again), the rest strangers' addresses, each its own (what a
forger who knows nothing writes). Each tree syncs a fresh copy of the same seeded ledger; the
bench prints the wall time, the ledger's size after the sync (the file and its WAL, after a
checkpoint), its bounce rows, what was counted, and what was suppressed. The messages are written
into the maildir directly; Dovecot indexes them at the first sync (both trees pay it: the
first tree to run re-reads an indexed folder only if the order is swapped, so run twice).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The seed (the mailbox on this Dovecot, one send to each of N leads two hours ago) and the
# folder written into the maildir.
from sync_large import SEED, fill

from tests.peers.dovecot import Dovecot
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.tls import TestPKI

BOX = IMAP_USER


def forged(n: int, leads: int) -> bytes:
    """A report without a returned original: no Message-ID, From or Date of ours to check."""
    rcpt = f"lead{n % leads}@example.com" if n % 10 == 0 else f"x{n}@stranger{n % 97}.example"
    return f"""From: MAILER-DAEMON@mx{n % 97}.example.net
To: {BOX}
Subject: Undelivered Mail Returned to Sender
Date: {email.utils.formatdate()}
Message-ID: <flood-{n}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="f{n}"

--f{n}
Content-Type: text/plain

Could not be delivered.

--f{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx{n % 97}.example.net

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--f{n}--
""".replace("\n", "\r\n").encode()


def measure(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        one = lambda q: con.execute(q).fetchone()[0]  # noqa: E731
        return {
            "bytes": db.stat().st_size,
            "bounce_rows": one("SELECT count(*) FROM bounce"),
            "counted": one("SELECT count(*) FROM bounce WHERE counted"),
            "suppressed": one("SELECT count(*) FROM suppression"),
        }
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="the baseline checkout")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--leads", type=int, default=100)
    args = ap.parse_args()
    trees = {"baseline": str(Path(args.tree).resolve()), "this": str(ROOT)}
    tmp = Path(tempfile.mkdtemp(prefix="warmup-sync-flood-"))
    pki = TestPKI(tmp / "pki")
    try:
        with Dovecot(pki, user=BOX, password=IMAP_PASSWORD) as dc:
            env = fill(dc, args.n, lambda i: forged(i, args.leads))
            seed = tmp / "seed.db"
            subprocess.run(
                [sys.executable, "-c", SEED, str(dc.port), str(args.leads)],
                env={**env, "PYTHONPATH": trees["baseline"], "WARMUP_DB": str(seed)},
                cwd=trees["baseline"],
                check=True,
            )
            before = measure(seed)
            print(f"seeded ledger: {before['bytes'] / 1e6:.2f} MB", flush=True)
            since = (dt.date.today() - dt.timedelta(days=2)).isoformat()
            for name, tree in trees.items():
                db = tmp / f"{name}.db"
                shutil.copy(seed, db)
                start = time.perf_counter()
                p = subprocess.run(
                    [sys.executable, "-m", "warmup", "bounces", "sync", BOX, "--since", since,
                     "--json"],
                    env={**env, "PYTHONPATH": tree, "WARMUP_DB": str(db)},
                    cwd=tree,  # -m puts the working directory first on sys.path
                    capture_output=True,
                    text=True,
                    check=False,
                )  # fmt: skip
                took = time.perf_counter() - start
                if p.returncode != 0:
                    raise SystemExit(f"{name}: exit {p.returncode}: {p.stderr[-500:]}")
                said = json.loads(p.stdout)
                got = measure(db)
                grown = (got["bytes"] - before["bytes"]) / 1e6
                print(
                    f"{name}: {args.n} reports in {took:.1f} s; ledger +{grown:.2f} MB, "
                    f"{got['bounce_rows']} bounce rows, {got['counted']} counted, "
                    f"{got['suppressed']} suppressed; sync said {said['bounces']} new, "
                    f"{said['matched']} matched",
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
