"""``warmup bounces sync`` of a large folder: N messages (one in ten an RFC 3464 report
answering a send, the rest ordinary mail) in a real Dovecot on loopback, read by the whole
command from two trees, rounds interleaved, each round on a fresh copy of the same ledger.

    .venv/bin/python bench/sync_large.py --tree /path/to/baseline [--n 10000] [--rounds 3]

Prints each round's wall time and peak resident memory (VmHWM of the command's process), the
median and range of each tree, and the ratio of this tree's time to the baseline's per round
(the machine's noise hits both alike). The messages are written into the maildir directly
(APPENDing 10,000 took 200 s on a loaded machine); Dovecot indexes them at the first sync.
Needs Dovecot (tests/peers/dovecot.py) and runs as a user who may start it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers.dovecot import Dovecot, _identities
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.tls import TestPKI

# The command, reporting its own peak resident memory on stderr (VmHWM, not ru_maxrss).
from tests.test_bounces_sync import PEAK_RSS as PEAK

BOX = IMAP_USER
SEED = f"""import datetime as dt, sys
from warmup import api
from warmup.ledger import open_ledger
port, n = int(sys.argv[1]), int(sys.argv[2])
led = open_ledger()
api.add_mailbox(led, {BOX!r}, "exmail", imap_host="127.0.0.1", imap_port=port,
                smtp_host="127.0.0.1", smtp_port=1)
at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
api.record_send(led, {BOX!r}, [f"lead{{i}}@example.com" for i in range(n)], at=at)
"""


def report(n: int) -> bytes:
    return f"""From: MAILER-DAEMON@mx.example.com
To: {BOX}
Subject: Undelivered Mail Returned to Sender
Date: {email.utils.formatdate()}
Message-ID: <dsn-{n}@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-{n}"

--dsn-{n}
Content-Type: text/plain

Could not be delivered.

--dsn-{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; lead{n // 10}@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--dsn-{n}
Content-Type: text/rfc822-headers

From: {BOX}
To: lead{n // 10}@example.com
Subject: Hello

--dsn-{n}--
""".encode()


def plain(n: int) -> bytes:
    head = f"From: friend{n}@example.org\nTo: {BOX}\nSubject: hello {n}\n"
    return (head + f"Message-ID: <p{n}@example.org>\n\n" + "Ordinary mail.\n" * 40).encode()


def fill(dc: Dovecot, n: int, message: Callable[[int], bytes]) -> dict[str, str]:
    """Put ``message(i)`` for i in 0..n-1 in the INBOX of ``dc``, written into its maildir
    directly; the environment a command reading it with warmup needs (its password, its CA)."""
    dc.append("INBOX", message(0))  # the maildir
    new = next(dc.directory.glob("mail/**/new"))
    ids = _identities()
    for i in range(1, n):
        path = new / f"{1_700_000_000 + i}.M{i}P1.bench"
        path.write_bytes(message(i))
        shutil.chown(path, ids["user"], ids["group"])
    return {
        **os.environ,
        "WARMUP_PASSWORD": IMAP_PASSWORD,
        "SSL_CERT_FILE": str(dc.pki.ca_pem_path),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="the baseline checkout (e.g. a worktree of main)")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = {"baseline": str(Path(args.tree).resolve()), "this": str(ROOT)}
    tmp = Path(tempfile.mkdtemp(prefix="warmup-sync-large-"))
    pki = TestPKI(tmp / "pki")
    try:
        with Dovecot(pki, user=BOX, password=IMAP_PASSWORD) as dc:
            env = fill(dc, args.n, lambda i: report(i) if i % 10 == 0 else plain(i))
            # -c puts the working directory first on sys.path, ahead of PYTHONPATH: run from
            # the repository's root, the baseline was this tree again
            env["PYTHONSAFEPATH"] = "1"
            seed = tmp / "seed.db"
            subprocess.run(
                [sys.executable, "-c", SEED, str(dc.port), str(args.n // 10)],
                env={**env, "PYTHONPATH": trees["baseline"], "WARMUP_DB": str(seed)},
                check=True,
            )
            since = (dt.date.today() - dt.timedelta(days=2)).isoformat()
            runs: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
            found: dict[str, tuple[int, int]] = {}
            for r in range(args.rounds):
                order = list(trees.items())
                for name, tree in order if r % 2 == 0 else order[::-1]:
                    db = tmp / f"{name}-{r}.db"
                    shutil.copy(seed, db)
                    start = time.perf_counter()
                    p = subprocess.run(
                        [
                            sys.executable,
                            "-c",
                            PEAK,
                            "bounces",
                            "sync",
                            BOX,
                            "--since",
                            since,
                            "--json",
                        ],
                        env={**env, "PYTHONPATH": tree, "WARMUP_DB": str(db)},
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    took = time.perf_counter() - start
                    if p.returncode != 0:
                        raise SystemExit(f"{name}: exit {p.returncode}: {p.stderr[-500:]}")
                    mib = int(re.search(r"peak-rss-kib (\d+)", p.stderr).group(1)) / 1024  # type: ignore[union-attr]
                    runs[name].append((took, mib))
                    said = json.loads(p.stdout)
                    found.setdefault(name, (said["bounces"], said["matched"]))
                    print(
                        f"round {r} {name}: {took:.1f} s, {mib:.0f} MiB, "
                        f"{said['bounces']} bounces, {said['matched']} matched",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(set(found.values())) != 1:
        raise SystemExit(f"the trees recorded different bounces: {found}")
    for name, got in runs.items():
        ts, ms = [t for t, _ in got], [m for _, m in got]
        print(
            f"{name}: {args.n} messages in {statistics.median(ts):.1f} s median "
            f"({min(ts):.1f}-{max(ts):.1f}), {args.n / statistics.median(ts):.0f} messages/s; "
            f"peak {statistics.median(ms):.0f} MiB ({min(ms):.0f}-{max(ms):.0f})"
        )
    ratios = [a / b for (a, _), (b, _) in zip(runs["this"], runs["baseline"], strict=True)]
    print(
        f"this / baseline, time: median {statistics.median(ratios):.2f} "
        f"(range {min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
