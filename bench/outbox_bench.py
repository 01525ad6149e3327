"""The planner's sending half (issue #13), each figure against a baseline measured in the same run.

    .venv/bin/python bench/outbox_bench.py [worker|queue|status|all] [--n 300] [--rows 100000]
        [--queued 1000000] [--pool M] [--profile]

worker  messages/s of ``Worker.run_once`` draining N queued messages of one mailbox ÷ messages/s
        of ``Gate.send`` in a loop over the same N messages, both to the same lean TLS sink in its
        own process (bench/leansink.py), flat policy (no pacing, a quota no run reaches), rounds
        interleaved. Goal >= 0.8: the scheduler must not cost more than the gate. ``--pool M``:
        the messages are queued to a pool of M mailboxes (the Gate.send loop sends from each
        member in turn), and the CPU of the worker's look at the pool (``pool_by_id``) alone is
        shown against the worker's per message; ``--profile``: one more worker round under
        cProfile, the ledger and worker functions by their share of it.
queue   ``warmup queue add --mailbox ... --csv F --template T`` (the whole command) of R rows,
        and of R/4 rows: rows/s and the command's peak memory (flat in R?) ÷ a raw loop doing what
        any queueing must at least do, like for like: read the CSV, render the same Jinja2
        templates, build and flatten the message, insert the rows with sqlite3 ``executemany``
        in one transaction. Goal >= 10,000 rows/s, memory flat in the row count.
status  ``warmup queue status --json`` (the whole command) on a ledger holding Q queued messages
        (generated inside SQLite) ÷ the bare ``SELECT campaign, state, count(*) ... GROUP BY`` on
        the same file, and against the bare imports. Goal <= 1 s.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from leansink import LeanSink

from tests.gatekit import policy_file
from tests.peers.tls import TestPKI

USER, PASSWORD = "a@corp.example", "bench-pass"
FLAT = 1_000_000
TEMPLATE = '''subject = "A question for {{ company }}"
text = """Hello {{ name }},

a short note about {{ company }}'s outreach: would a call next week help?
"""
html = """<p>Hello {{ name }},</p><p>a short note about {{ company }}'s outreach.</p>"""
'''


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = USER, f"lead{i}@example.com", f"Hello {i}"
    msg.set_content("A short outreach message.\n" * 5)
    return msg


def setup(tmp: Path) -> tuple[TestPKI, Path]:
    pki = TestPKI(tmp / "pki")
    os.environ["SSL_CERT_FILE"] = str(pki.ca_pem_path)
    os.environ["WARMUP_DB"] = str(tmp / "ledger.db")
    return pki, policy_file(tmp / "flat.toml", daily=FLAT)


def bench_worker(n: int, rounds: int, members: int = 0, profile: bool = False) -> None:
    """``members`` 0: the messages are queued to one mailbox; else to a pool of that many
    mailboxes (the Gate.send loop then sends each message from the members in turn)."""
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    pki, flat = setup(tmp)
    from warmup import Gate, Outbox, api, open_ledger
    from warmup.instants import now_utc
    from warmup.outbox.worker import Worker

    ledger = open_ledger()
    users = [USER] + [f"m{k}@corp.example" for k in range(1, members)]
    with LeanSink(pki, ",".join(users), PASSWORD) as sink:
        for user in users:
            api.add_mailbox(
                ledger, user, "exmail", policy=str(flat), smtp_host="127.0.0.1", smtp_port=sink.port
            )
        pool = ledger.add_pool("bench", users, None, now_utc())[0] if members else None
        os.environ["WARMUP_PASSWORD"] = PASSWORD

        def gated(offset: int) -> tuple[float, float]:
            start, cpu = time.perf_counter(), time.process_time()
            gates = [Gate(user, password=PASSWORD) for user in users]
            try:
                for i in range(n):
                    gate = gates[i % len(gates)]
                    msg = message(offset + i)
                    msg.replace_header("From", gate.box.address)
                    gate.send(msg)
            finally:
                for gate in gates:
                    gate.close()
            return time.perf_counter() - start, time.process_time() - cpu

        def worked(offset: int, prof: object = None) -> tuple[float, float]:
            out = Outbox(ledger)
            for i in range(n):
                if pool is None:
                    out.add(message(offset + i), mailbox=USER)
                else:
                    out.add(message(offset + i), pool=pool.name)
            start, cpu = time.perf_counter(), time.process_time()
            with Worker(ledger) as worker:
                if prof is not None:
                    prof.enable()  # type: ignore[attr-defined]
                done = worker.run_once()
                if prof is not None:
                    prof.disable()  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - start, time.process_time() - cpu
            assert done.outcomes.get("sent") == n, done.outcomes
            return elapsed

        gated(1_000_000), worked(2_000_000)  # warm up both paths
        g, w, gc, wc = [], [], [], []
        for r in range(rounds):
            for times, cpus, got in (
                (g, gc, gated(r * 10 * n)),
                (w, wc, worked(r * 10 * n + 5 * n)),
            ):
                times.append(got[0])
                cpus.append(got[1])
        if pool is not None:
            # What the worker's look at the pool costs, alone: the same call, warm, in a loop.
            calls = 2000
            t0 = time.process_time()
            for _ in range(calls):
                ledger.pool_by_id(pool.id)
            lookup = (time.process_time() - t0) / calls
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            worked(90 * n, prof)
            stats = pstats.Stats(prof)
            total = stats.total_tt  # type: ignore[attr-defined]
            print(f"profile of one worker round ({n} messages, {total:.2f} s profiled):")
            rows = stats.stats  # type: ignore[attr-defined]
            for (file, _, fn), (_, calls_, _, cum, _) in sorted(
                rows.items(), key=lambda kv: -kv[1][3]
            ):
                ours = "warmup/" in file and ("ledger" in file or "worker" in file)
                if ours and cum / total >= 0.02:
                    where = file.split("warmup/")[-1]
                    print(f"  {cum / total:6.1%}  {calls_:6d} calls  {where}:{fn}")
    gm, wm = statistics.median(g), statistics.median(w)
    what = f"a pool of {members} mailboxes" if members else "one mailbox"
    print(f"worker: {n} messages, {what}, loopback TLS sink, {rounds} interleaved rounds")
    print(
        f"  Gate.send loop       {n / gm:8.1f} msg/s  (rounds {', '.join(f'{n / x:.0f}' for x in g)})"
    )
    print(
        f"  Worker.run_once      {n / wm:8.1f} msg/s  (rounds {', '.join(f'{n / x:.0f}' for x in w)})"
    )
    ratio = gm / wm
    print(
        f"  ratio worker/gate = {ratio:.2f}  (goal >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})"
    )
    # The CPU this process spent per message (the sink is another process): what each path
    # costs, which the wall-clock ratio shows only on an idle machine.
    cg, cw = statistics.median(gc), statistics.median(wc)
    print(
        f"  CPU of this process: Gate.send loop {n / cg:.0f} msg per CPU-second, worker "
        f"{n / cw:.0f}: ratio {cg / cw:.2f} (load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  CPU per message: worker {cw / n * 1e3:.3f} ms (rounds "
        f"{', '.join(f'{x / n * 1e3:.3f}' for x in wc)}), Gate.send loop {cg / n * 1e3:.3f} ms"
    )
    if pool is not None:
        print(
            f"  one pool_by_id (warm): {lookup * 1e3:.3f} ms CPU, {lookup / (cw / n):.1%} of the "
            f"worker's CPU per message (what a look-up of the pool for each message costs)"
        )


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["email", "name", "company"])
        for i in range(rows):
            w.writerow([f"lead{i}@example{i % 50}.com", f"Lead {i}", f"Company & Co {i % 997}"])


def _raw_queue(csv_path: Path, template: Path, db: Path) -> None:
    """The baseline: what queueing must at least do, without warmup."""
    import tomllib

    import jinja2

    spec = tomllib.loads(template.read_text())
    text_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    html_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    subject, text = text_env.from_string(spec["subject"]), text_env.from_string(spec["text"])
    html = html_env.from_string(spec["html"])
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, rcpt TEXT, state TEXT, data BLOB)"
    )
    batch = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            msg = EmailMessage()
            msg["From"], msg["To"] = USER, row["email"]
            msg["Subject"] = subject.render(row)
            msg.set_content(text.render(row))
            msg.add_alternative(html.render(row), subtype="html")
            batch.append((row["email"], "queued", msg.as_bytes()))
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO q (rcpt, state, data) VALUES (?, ?, ?)", batch)
    con.execute("COMMIT")
    con.close()


def _child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds, peak RSS MiB, CPU seconds) of ``cmd`` run under /usr/bin/time-like accounting
    (CPU: user + system, what a free core would take on a machine shared with other work)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(time.perf_counter() - t, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *cmd], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def bench_queue(rows: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    template = tmp / "intro.toml"
    template.write_text(TEMPLATE)
    warmup = str(Path(sys.executable).parent / "warmup")
    print(f"queue add: CSV + Jinja2 template (text + HTML), {rounds} interleaved rounds")
    for size in (rows // 4, rows):
        data = tmp / f"leads{size}.csv"
        _write_csv(data, size)
        ours, raw = [], []
        for r in range(rounds):
            db = tmp / f"q{size}-{r}.db"
            env = dict(os.environ, WARMUP_DB=str(db))
            subprocess.run(
                [warmup, "mailbox", "add", USER, "--provider", "exmail"],
                env=env,
                check=True,
                capture_output=True,
            )
            ours.append(
                _child(
                    [
                        warmup,
                        "queue",
                        "add",
                        "--mailbox",
                        USER,
                        "--csv",
                        str(data),
                        "--template",
                        str(template),
                    ],
                    env,
                )
            )
            raw.append(
                _child(
                    [
                        sys.executable,
                        __file__,
                        "_raw",
                        str(data),
                        str(template),
                        str(tmp / f"raw{size}-{r}.db"),
                    ],
                    env,
                )
            )
        t_ours, t_raw = (
            statistics.median(t for t, *_ in ours),
            statistics.median(t for t, *_ in raw),
        )
        m_ours, m_raw = max(m for _, m, _ in ours), max(m for _, m, _ in raw)
        c_ours, c_raw = (
            statistics.median(c for *_, c in ours),
            statistics.median(c for *_, c in raw),
        )
        print(
            f"  {size:>7,} rows: warmup {size / t_ours:8,.0f} rows/s (peak {m_ours:5.0f} MiB)"
            f" | raw loop {size / t_raw:8,.0f} rows/s (peak {m_raw:5.0f} MiB)"
            f" | ratio {t_raw / t_ours:.2f}"
        )
        print(
            f"  {'':>7}  by CPU time: warmup {size / c_ours:8,.0f} rows/s ({c_ours:.2f} s)"
            f" | raw loop {size / c_raw:8,.0f} rows/s ({c_raw:.2f} s)"
        )
    print("  goal: >= 10,000 rows/s, memory flat in the row count")


def bench_status(queued: int, runs: int) -> None:
    tmp = HERE / ".cache"
    tmp.mkdir(exist_ok=True)
    db = tmp / f"outbox_{queued}.db"
    warmup = str(Path(sys.executable).parent / "warmup")
    env = dict(os.environ, WARMUP_DB=str(db))
    if not db.exists():
        t0 = time.perf_counter()
        subprocess.run(
            [warmup, "mailbox", "add", USER, "--provider", "exmail"],
            env=env,
            check=True,
            capture_output=True,
        )
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :q)
            INSERT INTO outbox (message_id, mailbox_id, campaign, recipients, data, state,
                                attempts, not_before, next_attempt_at, expires_at, created_at,
                                updated_at)
            SELECT '<bench' || i || '@corp.example>', 1, 'c' || (i % 20),
                   'lead' || i || '@example.com', zeroblob(600), 'queued', 0,
                   '2026-11-30 00:00:00.000000', '2026-11-30 00:00:00.000000',
                   '2026-12-03 00:00:00.000000', '2026-11-30 00:00:00.000000',
                   '2026-11-30 00:00:00.000000'
            FROM n""",
            {"q": queued},
        )
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.close()
        print(f"generated {db} ({queued:,} queued messages) in {time.perf_counter() - t0:.0f} s")
    con = sqlite3.connect(db)

    def bare_sql() -> float:
        start = time.perf_counter()
        con.execute(
            "SELECT campaign, state, count(*) FROM outbox GROUP BY campaign, state"
        ).fetchall()
        return time.perf_counter() - start

    status = [warmup, "queue", "status", "--json"]
    imports = [sys.executable, "-c", "import sqlmodel, click, pendulum"]
    ours, sql, bare = [], [], []
    for _ in range(runs):
        ours.append(_child(status, env))
        sql.append(bare_sql())
        bare.append(_child(imports, env))
    o, b = statistics.median(x[0] for x in ours), statistics.median(x[0] for x in bare)
    s = statistics.median(sql)
    o_cpu, b_cpu = statistics.median(x[2] for x in ours), statistics.median(x[2] for x in bare)
    print(f"queue status on {queued:,} queued messages, {runs} interleaved runs")
    print(f"  warmup queue status --json  {o:6.2f} s (whole command; CPU {o_cpu:.2f} s)")
    print(f"  bare GROUP BY (sqlite3)     {s:6.2f} s;  bare imports {b:6.2f} s (CPU {b_cpu:.2f} s)")
    print(
        f"  ratio status / (imports + GROUP BY) = {o / (b + s):.2f}; "
        f"goal <= 1 s: {'met' if o <= 1 else 'NOT met'}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_raw":
        _raw_queue(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="all", choices=["worker", "queue", "status", "all"])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--queued", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pool", type=int, default=0, metavar="M", help="worker: to a pool of M")
    ap.add_argument("--profile", action="store_true", help="worker: profile one more round")
    args = ap.parse_args()
    # An installed warmup has its bytecode (pip compiles it); a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module of warmup in every timed command.
    compileall.compile_dir(HERE.parent / "warmup", quiet=1)
    print(f"load average {os.getloadavg()[0]:.2f}, python {sys.executable}")
    if args.what in ("worker", "all"):
        bench_worker(args.n, args.rounds, args.pool, args.profile)
    if args.what in ("queue", "all"):
        bench_queue(args.rows, args.rounds)
    if args.what in ("status", "all"):
        bench_status(args.queued, max(args.rounds, 3))


if __name__ == "__main__":
    main()
