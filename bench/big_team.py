"""A big team's ledger: 300 mailboxes, two years of history, an outbox of a million messages.

    .venv/bin/python bench/big_team.py generate [--db PATH] [--mailboxes 300] [--days 730]
        [--outbox 1000000]
    .venv/bin/python bench/big_team.py time [--db PATH|URL] [--rounds 3] [--warmups 1]
        [--only NAME ...] [--old TREE DB]
    .venv/bin/python bench/big_team.py worker [--db PATH] [--rounds 3] [--old TREE DB]
    .venv/bin/python bench/big_team.py notebook [--db PATH|URL]

``generate`` builds the ledger inside SQLite (``report_scale.generate``'s history: 10 to 45
recipients a mailbox and day, ~1.2% bounces, hard ones suppressed), ending yesterday, fills
``domain_day`` from the sends, then adds manual suppressions up to 50,000, 20 pools of 15
members, and an outbox: 70% sent (history), 25% queued to the pools and 5% to single
mailboxes (due now), over 40 campaigns. About 6 million sends and 73,000 bounces; ~80 s.
``warmup db copy --to postgresql+psycopg://...`` makes the PostgreSQL ledger (~12 min).

``time`` runs every command a user runs on it, each in its own process (``python -m warmup``,
bytecode cached: bench/bytecache.py), the untimed ``--warmups`` rounds first, and prints each
command's wall and CPU median and its peak RSS; ``--old TREE DB`` runs another tree (e.g.
``git archive main | tar -x -C /tmp/old``) on its own copy of the ledger in the same rounds,
command by command. ``worker`` times ``send`` of one message and ``run --once --no-sync`` on a
copy of each tree's ledger, every mailbox's SMTP host a lean TLS sink on loopback
(bench/leansink.py). ``notebook`` times the notebook's data loads (no figure drawn).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import report_scale
from bytecache import cached_env, compiled

POOLS, POOL_SIZE, CAMPAIGNS, SUPPRESSED = 20, 15, 40, 50_000
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def generate(path: Path, mailboxes: int, days: int, outbox: int) -> None:
    from warmup import Outbox
    from warmup.ledger import open_ledger

    report_scale.START = NOW.date() - dt.timedelta(days=days)  # history ends yesterday
    t0 = time.perf_counter()
    report_scale.generate(path, mailboxes, days)
    ledger = open_ledger(str(path))  # domain_day filled by report_scale.generate
    print(f"  history: {time.perf_counter() - t0:.0f} s", flush=True)
    for p in range(POOLS):
        members = [
            f"box{i}@corp{i % 20}.example"
            for i in range(1 + p * POOL_SIZE, 1 + (p + 1) * POOL_SIZE)
        ]
        ledger.add_pool(f"pool{p}", members, reply_to=None, now=NOW)
    msg = EmailMessage()
    msg["From"] = "box1@corp1.example"
    msg["To"] = "lead0@example.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello, a few lines of an outreach message.\n" * 20)
    Outbox(ledger).add(msg, pool="pool0", campaign="c0", now=NOW - dt.timedelta(hours=1))
    ledger.close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    cols = [r[1] for r in con.execute("PRAGMA table_info(outbox)") if r[1] != "id"]
    set_here = (
        "message_id",
        "recipients",
        "campaign",
        "pool_id",
        "mailbox_id",
        "sent_by",
        "state",
        "content_key",
    )
    other = [c for c in cols if c not in set_here]
    con.execute("BEGIN")
    con.execute("DELETE FROM outbox WHERE id != 1")
    # i % 20 < 14: sent by a pool's member; < 19: queued to a pool; else queued to one mailbox
    con.execute(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
        INSERT INTO outbox ({", ".join(set_here)}, {", ".join(other)})
        SELECT '<b' || i || '@corp0.example>', 'lead' || i || '@example' || (i % 7) || '.com',
               'c' || (i % {CAMPAIGNS}),
               CASE WHEN i % 20 < 19 THEN 1 + i % {POOLS} END,
               CASE WHEN i % 20 = 19 THEN 1 + i % :boxes END,
               CASE WHEN i % 20 < 14 THEN 1 + (i % {POOLS}) * {POOL_SIZE} + i % {POOL_SIZE} END,
               CASE WHEN i % 20 < 14 THEN 'sent' ELSE 'queued' END,
               'k' || i,
               {", ".join(other)}
        FROM outbox, n WHERE outbox.id = 1""",
        {"count": outbox, "boxes": mailboxes},
    )
    (have,) = con.execute("SELECT count(*) FROM suppression").fetchone()
    con.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :more)
        INSERT INTO suppression (address, kind, reason, mailbox_id, created_at)
        SELECT 'gone' || i || '@old' || (i % 50) || '.example', 'manual', 'list cleanup', NULL,
               :at FROM n""",
        {"more": max(0, SUPPRESSED - have), "at": f"{NOW:%Y-%m-%d %H:%M:%S}.000000"},
    )
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    print(f"  outbox, pools, suppressions: {time.perf_counter() - t0:.0f} s", flush=True)


def counts(path: Path) -> str:
    con = sqlite3.connect(path)
    got = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("mailbox", "send", "bounce", "suppression", "outbox", "pool", "day_stat")
    }
    con.close()
    return ", ".join(f"{k} {v:,}" for k, v in got.items())


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, str]:
    """(wall s, child CPU s, peak RSS MiB of the child, error text) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    wall = time.perf_counter() - t0
    # (RUSAGE_CHILDREN's ru_maxrss is the largest of any child so far: /usr/bin/time says each's)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = "" if p.returncode in (0, 75) else f"exit {p.returncode}: {p.stderr.decode()[-300:]}"
    rss = 0.0
    for line in p.stderr.decode().splitlines():
        if line.startswith("MAXRSS "):
            rss = int(line.split()[1]) / 1024
    return wall, cpu, rss, err


def commands() -> dict[str, list[str]]:
    box = "box7@corp7.example"
    return {
        "quota one": ["quota", box],
        "quota all": ["quota"],
        "plan": ["plan", box],
        "mailbox list": ["mailbox", "list"],
        "mailbox show": ["mailbox", "show", box],
        "queue status": ["queue", "status"],
        "queue list": ["queue", "list"],
        "queue list --campaign": ["queue", "list", "--campaign", "c3"],
        "queue list --state sent": ["queue", "list", "--state", "sent"],
        "queue list --limit 0": ["queue", "list", "--limit", "0"],
        "queue status --pool": ["queue", "status", "--pool", "pool3"],
        "bounces list": ["bounces", "list"],
        "bounces list --kind hard": ["bounces", "list", "--kind", "hard"],
        "bounces list --limit 0": ["bounces", "list", "--limit", "0"],
        "suppress list": ["suppress", "list"],
        "suppress list --limit 0": ["suppress", "list", "--limit", "0"],
        "suppress soft": ["suppress", "soft"],
        "suppress list ADDRESS": ["suppress", "list", "gone77@old27.example"],
        "report": ["report"],
        "report --json": ["report", "--json"],
        "report --days 7": ["report", "--days", "7"],
        "report --by-reason": ["report", "--by-reason"],
        "plan --volume": ["plan", box, "--volume", "100000"],
        "pool list": ["pool", "list"],
        "pool show": ["pool", "show", "pool3"],
    }


def worker(db: str, trees: dict[str, tuple[Path, str]], rounds: int) -> None:
    """``run --once --no-sync`` and one ``send`` on a copy of each tree's ledger, every mailbox's
    SMTP host a lean TLS sink on loopback (never a real host): wall, CPU and what went."""
    import shutil
    import tempfile

    from leansink import LeanSink

    from tests.peers.tls import TestPKI

    with tempfile.TemporaryDirectory(prefix="warmup-bigteam-", dir=Path(db).parent) as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        logins = ",".join(f"box{i}@corp{i % 20}.example" for i in range(1, 301))
        with LeanSink(pki, logins, "bench-pass") as sink:
            for r in range(rounds):
                for tree, (root, source) in trees.items():
                    copy = Path(tmp) / f"{tree}.db"
                    shutil.copyfile(source, copy)
                    con = sqlite3.connect(copy)
                    con.execute(
                        "UPDATE mailbox SET smtp_host = '127.0.0.1', smtp_port = ?, "
                        "smtp_security = 'ssl', imap_host = NULL",
                        (sink.port,),
                    )
                    con.commit()
                    con.close()
                    env = cached_env(
                        WARMUP_DB=str(copy),
                        PYTHONPATH=str(root),
                        SSL_CERT_FILE=str(pki.ca_pem_path),
                        WARMUP_PASSWORD="bench-pass",
                    )
                    time_ = ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "warmup"]
                    send = ["send", "box299@corp19.example", "--to", "x@example.com"]
                    send += ["--subject", "Hi", "--body", "Hello"]
                    w, c, m, err = run([*time_, *send], env, root)
                    print(
                        f"round {r} {tree}: send one wall {w:.3f} s CPU {c:.3f} s RSS {m:.0f} MiB"
                        f"{(' ' + err) if err else ''}"
                    )
                    w, c, m, err = run([*time_, "run", "--once", "--no-sync"], env, root)
                    con = sqlite3.connect(copy)
                    (sent,) = con.execute(
                        "SELECT count(*) FROM send WHERE source != 'bench'"
                    ).fetchone()
                    print(
                        f"round {r} {tree}: run --once wall {w:.3f} s CPU {c:.3f} s RSS {m:.0f} MiB"
                        f", {sent} sent{(' ' + err) if err else ''}"
                    )
                    con.close()
                    copy.unlink()


def notebook(db: str) -> None:
    """The notebook's data load (notebooks/mailbox_report.ipynb, default 60 days, every
    mailbox), each call timed, no figure drawn: wall, CPU and this process's peak RSS."""
    from warmup import api, reports
    from warmup.ledger import open_ledger

    ledger = open_ledger(db, create=False)
    when = api.now_utc()
    days = 60
    calls = {
        "standing": lambda: reports.standing(ledger, [], when),
        "daily": lambda: reports.daily(ledger, [], days, when),
        "ahead": lambda: reports.ahead(
            ledger, [b.address for b in reports.mailboxes(ledger, [])], 14, when
        ),
        "bounces_by_domain": lambda: reports.bounces_by_domain(ledger, [], days, when),
        "bounces_by_kind": lambda: reports.bounces_by_kind(ledger, [], days, when),
        "bounces_by_reason": lambda: reports.bounces_by_reason(ledger, [], days, when),
        "suppressions": lambda: reports.suppressions(ledger, at=when),
    }
    for name, call in calls.items():
        c0, t0 = time.process_time(), time.perf_counter()
        frame = call()
        print(
            f"{name:18} wall {time.perf_counter() - t0:6.3f} s CPU {time.process_time() - c0:6.3f}"
            f" s, {len(frame):,} rows, peak RSS so far "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    ledger.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("generate", "time", "worker", "notebook"))
    ap.add_argument("--db", default=str(HERE / ".cache" / "big_team.db"))
    ap.add_argument("--mailboxes", type=int, default=300)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--outbox", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmups", type=int, default=1, help="untimed rounds first (memos filled)")
    ap.add_argument("--only", nargs="*")
    ap.add_argument(
        "--old", nargs=2, metavar=("TREE", "DB"), help="time this tree on its own ledger too"
    )
    args = ap.parse_args()
    if args.what == "generate":
        path = Path(args.db)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        t0 = time.perf_counter()
        generate(path, args.mailboxes, args.days, args.outbox)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s: {counts(path)}")
        return
    if args.what == "notebook":
        notebook(args.db)
        return
    trees = {"new": (ROOT, args.db)}
    if args.old:
        trees["old"] = (Path(args.old[0]).resolve(), args.old[1])
    compiled(cached_env(), [t for t, _ in trees.values()])
    if args.what == "worker":
        worker(args.db, trees, args.rounds)
        return
    cmds = commands()
    if args.only:
        cmds = {k: v for k, v in cmds.items() if k in args.only}
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], float] = {}
    for i in range(args.warmups + args.rounds):
        for name, cmd in cmds.items():
            for tree, (root, db) in trees.items():  # the trees interleaved, command by command
                env = cached_env(WARMUP_DB=db, PYTHONPATH=str(root))
                argv = ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "warmup", *cmd]
                w, c, r, err = run(argv, env, root)
                if err:
                    print(f"{tree} {name}: {err}")
                if i < args.warmups:
                    continue
                wall.setdefault((name, tree), []).append(w)
                cpu.setdefault((name, tree), []).append(c)
                rss[name, tree] = max(rss.get((name, tree), 0.0), r)
    print(f"load {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds")
    for name in cmds:
        line = f"{name:26}"
        for tree in trees:
            k = (name, tree)
            line += (
                f"  {tree}: wall {statistics.median(wall[k]):7.3f} s CPU "
                f"{statistics.median(cpu[k]):7.3f} s RSS {rss[k]:5.0f} MiB"
            )
        if "old" in trees:
            ratio = statistics.median(cpu[name, "new"]) / statistics.median(cpu[name, "old"])
            line += f"  CPU new/old {ratio:.2f}"
        print(line)


if __name__ == "__main__":
    main()
