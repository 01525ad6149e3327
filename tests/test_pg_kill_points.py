"""A team ledger whose server cuts warmup's connection at every named point of every command
that writes (a DBA's ``pg_terminate_backend``, a pooler's restart, a fail-over): each command
is a real process, paused at a named function (:data:`PAUSED`, a profile hook as
``tests/test_crash_points.py``'s, which blocks on a FIFO instead of sending a signal) while the
test terminates its sessions on the real server, then let go.

After each: nothing sent twice (the TLS sink counts), nothing the server took lost (``sent`` in
the ledger, or a line saying it went), no slot left ``reserved``, one line and exit 75 where
trying again helps (0 where warmup reconnected by itself), no traceback, and the next command
works without a person.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file
from tests.pgkit import PgProxy, drop_sessions, session_name
from warmup.ledger import open_ledger

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url

# ``python -c PAUSED DIR [OUTER>][FILE:]FUNCTION N warmup-args...``: warmup, which, when FUNCTION
# (a code object's name, of a file whose path ends in FILE if given) is entered for the N-th time (counting only its calls made while OUTER
# runs, if given), creates DIR/reached and blocks until the test writes to the FIFO DIR/go.
PAUSED = r"""
import os, sys, threading
where, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
within, _, name = name.rpartition(">")
module, _, name = name.rpartition(":")
calls, lock = [0], threading.Lock()
def under(frame):
    while frame is not None and frame.f_code.co_name != within:
        frame = frame.f_back
    return frame is not None
def hook(frame, event, arg):
    code = frame.f_code
    if event != "call" or code.co_name != name or not code.co_filename.endswith(module):
        return
    if within and not under(frame):
        return
    with lock:
        calls[0] += 1
        if calls[0] != n:
            return
    sys.setprofile(None)
    threading.setprofile(None)
    open(os.path.join(where, "reached"), "w").close()
    with open(os.path.join(where, "go")) as f:
        f.read()
threading.setprofile(hook)
sys.setprofile(hook)
from warmup.cli import cli
cli(sys.argv[4:], prog_name="warmup")
"""


def cut_at(
    name: str,
    n: int,
    *args: str,
    url: str,
    tmp: Path,
    env: dict[str, str] | None = None,
    stdin: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` on the ledger ``url`` in a process of its own (its standard input the
    file ``stdin``, else none), its every session on the server terminated when it enters
    ``name`` for the ``n``-th time; its result. An argument ``{db}`` is that ledger's URL
    (``db copy --to {db}``)."""
    app = session_name("pgkill")
    args = tuple(a.replace("{db}", f"{url}&application_name={app}") for a in args)
    where = tmp / f"cut-{app}"
    where.mkdir()
    os.mkfifo(where / "go")
    full = {
        **os.environ,
        **PASSWORD_ENV,
        **(env or {}),
        "WARMUP_DB": f"{url}&application_name={app}",
    }
    with open(stdin or os.devnull) as given:
        proc = subprocess.Popen(
            [sys.executable, "-c", PAUSED, str(where), name, str(n), *args],
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=given,
            text=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not (where / "reached").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate()
                pytest.fail(f"{name} #{n} never reached: {proc.returncode}\n{out}\n{err}")
            time.sleep(0.01)  # a poll's pace, not a wait for time to pass
        drop_sessions(app)
        with open(where / "go", "w") as go:
            go.write("go")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def one_line(res: subprocess.CompletedProcess[str], codes: tuple[int, ...] = (0, 75)) -> None:
    """The command ended in ``codes``; a failure is one line, and no traceback."""
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in codes, (res.returncode, res.stderr)
    if res.returncode:
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def scalars(url: str, sql: str) -> list[object]:
    ledger = open_ledger(url, migrate=False)
    try:
        with ledger.read() as conn:
            return list(conn.execute(sa.text(sql)).scalars())
    finally:
        ledger.close()


# Where ``warmup send`` is cut, and how it ends: 0 where it reconnects by itself; 75 and one
# line where the cut came mid-transaction (its reservation rolled back, the message not sent).
SEND_POINTS = {
    "postgres_gate.py:_connect": 0,  # reserve: the gate's connection just checked out
    "postgres_gate.py:_read": 0,  # reserve: its first round trip (BEGIN, the lock, the reads)
    "postgres_gate.py:_write": 0,  # reserve: between its two round trips, the mailbox locked
    "warmup/gate.py:_deliver": 0,  # the reservation committed, the SMTP conversation not begun
    "warmup/gate.py:_settle": 0,  # the SMTP server took the message
    "postgres_gate.py:flush": 0,  # the deferred "sent" written as the gate closes
}
CUT = "the server cut warmup's connection"


@pytest.mark.parametrize("point", sorted(SEND_POINTS))
def test_warmup_send_cut_at(point, smtp_ssl, ssl_cert_env, pg_url, tmp_path, monkeypatch):
    """Sent once and recorded ``sent``, or (cut mid-reservation) not sent, nothing left
    reserved, exit 75 in one line; the next send goes."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=10)))
    args = ["send", BOX, "--to", "r@example.com", "--subject", "s", "--body", "b"]
    res = cut_at(point, 1, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (SEND_POINTS[point],))
    sent = SEND_POINTS[point] == 0
    assert len(smtp_ssl.messages) == int(sent)
    assert Counter(scalars(pg_url, "SELECT outcome FROM send")) == ({"sent": 1} if sent else {})
    if not sent:
        assert CUT in res.stderr and res.stderr.rstrip().endswith("try again"), res.stderr
    again = cli(*args[:3], "s@example.com", *args[4:], env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr


def leads_log(path: Path, rows: int) -> Path:
    from tests.test_crash_points import long_log

    return long_log(path, rows)


# Where a command is cut, and how it ends: 0 where the write is made again on a new connection
# (an import's batch, cut as it inserts its sends: 75 before, and the import run again); 75 where
# the third statement is the set-up of the ledger's first connection, as it is opened (nothing
# written: run again; the writes of suppress and mailbox set cut: tests/test_pg_kill_writes.py).
COMMANDS = {
    "import": ("postgres.py:_insert_sends", 1, 0),
    "suppress": ("base.py:_execute_context", 3, 75),
    "mailbox-set": ("base.py:_execute_context", 3, 75),
    "report": ("base.py:_execute_context", 3, 75),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_cut_mid_transaction_exits_75_and_runs_again(
    command, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """Cut mid-transaction: one line and 75 where trying again helps, else (its write made
    again) 0 and the ledger as the command left it uncut; the command runs again."""
    from tests.outboxkit import pool_of

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(smtp_ssl.port, tmp_path)
    res = cli("import", str(leads_log(tmp_path / "log.csv", 50)))
    assert res.returncode == 0, res.stderr
    args = {
        "import": ["import", str(leads_log(tmp_path / "more.csv", 80))],
        "suppress": ["suppress", "add", "x@example.com", "--reason", "asked"],
        "mailbox-set": ["mailbox", "set", "a@corp.example", "--cap", "80"],
        "report": ["report", "--format", "csv"],
    }[command]
    name, n, code = COMMANDS[command]
    res = cut_at(name, n, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (code,))
    if code:
        assert CUT in res.stderr and "unavailable" not in res.stderr, res.stderr
    sends = scalars(pg_url, "SELECT count(*) FROM send")
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    if command == "import":  # every row written by the cut one: nothing more
        assert "0 new sends" in again.stdout, again.stdout
        assert scalars(pg_url, "SELECT count(*) FROM send") == sends


# Where ``warmup run --once`` is cut, and how it ends: 0, as it reconnects by itself (the claim
# that carries the first message's outcome made again on a new connection: test_pg_kill_more).
RUN_POINTS = {
    "outbox.py:claim": 0,  # the pass's first claim, its pooled connection idle
    "postgres_gate.py:_write": 0,  # the reservation, between its two round trips
    "warmup/gate.py:_deliver": 0,  # reserved, the SMTP conversation not begun
    "claim>_settle_statement": 0,  # the second claim, carrying the first message's "sent"
    "worker.py:_claim_all": 0,  # the worker's pass
}


@pytest.mark.parametrize("point", sorted(RUN_POINTS))
def test_warmup_run_cut_at(point, sink, ssl_cert_env, pg_url, tmp_path, monkeypatch):
    """Each message sent once and ``sent`` once the next run is done, no slot reserved."""
    from tests.outboxkit import pool_of, queue_plain

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    args = ["run", "--once", "--no-sync", "--no-view"]
    res = cut_at(point, 1, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (RUN_POINTS[point],))
    again = cli(*args, env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    assert states == {mid: "sent" for mid in arrived}
    assert Counter(scalars(pg_url, "SELECT outcome FROM send")) == {"sent": 2}


class MutedProxy(PgProxy):
    """A :class:`PgProxy` whose open connections can be muted (:meth:`mute`: the client's
    statements reach the server, its answers never come back) and then cut (:meth:`cut`),
    while new connections go through."""

    def __init__(self) -> None:
        self.muted: set[int] = set()  # the ids of the server sockets whose data is dropped
        super().__init__()

    def mute(self) -> None:
        with self.lock:
            self.muted = {id(s) for s in self.conns[1::2]}  # (client, server) pairs

    def cut(self) -> None:
        import socket

        with self.lock:
            cut = [s for s in self.conns if id(s) in self.muted]
            for s in cut:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _forward(self, a, b, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if id(a) not in self.muted:
            b.sendall(data)


def test_a_reservation_whose_commit_the_server_took_but_never_answered_stands(
    smtp_ssl, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """The connection cut after the server committed the reservation, before its answer came
    back (a network cut, a fail-over): exit 69 "unavailable", the message not sent and its
    slot ``reserved``, counted against the day's quota for 15 minutes. Now the gate reads on a
    new connection whether its reservation landed, and sends the message on it: sent once,
    one slot, ``sent``."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=10)))
    proxy = MutedProxy()
    where = tmp_path / "cut"
    where.mkdir()
    os.mkfifo(where / "go")
    args = ["send", BOX, "--to", "r@example.com", "--subject", "s", "--body", "b"]
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": proxy.url(pg_url)}
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(where), "postgres_gate.py:_write", "1", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (where / "reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)  # a poll's pace, not a wait for time to pass
        proxy.mute()
        with open(where / "go", "w") as go:
            go.write("go")
        while scalars(pg_url, "SELECT outcome FROM send") != ["reserved"]:  # committed
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proxy.cut()  # the answer to the COMMIT is lost with the connection
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (0, ""), err
    assert len(smtp_ssl.messages) == 1
    assert scalars(pg_url, "SELECT outcome FROM send") == ["sent"]


def test_db_migrate_cut_mid_migration_exits_75_and_the_next_migrate_finishes(pg_url, tmp_path):
    """Cut inside a migration's transaction (m038's, after m036): nothing of it committed, one
    line and 75; the next ``db migrate`` applies it and every later one, and the ledger is
    whole."""
    old = open_ledger(pg_url, migrate=False)
    try:
        old.migrate(upto="m036_outbox_expiry")
    finally:
        old.close()
    res = cut_at("m015_onward.py:m038_outbox_waiting", 1, "db", "migrate", url=pg_url, tmp=tmp_path)
    one_line(res, (75,))
    assert CUT in res.stderr, res.stderr
    assert scalars(pg_url, "SELECT max(name) FROM warmup_migrations") == ["m036_outbox_expiry"]
    again = cli("db", "migrate", env={"WARMUP_DB": pg_url})
    assert again.returncode == 0, again.stderr
    from warmup.ledger.reads import MIGRATION_NAMES

    assert scalars(pg_url, "SELECT max(name) FROM warmup_migrations") == [MIGRATION_NAMES[-1]]


@pytest.mark.parametrize("command", ["bounces sync", "run --once --no-view"])
def test_bounces_sync_cut_mid_write_records_the_bounce_once_on_a_new_connection(
    command, pki, dovecot_clean, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """Cut in the transaction that records a folder's bounces and its new position: before,
    ``bounces sync`` exited 75 in one line (the bounce sync step of ``warmup run``: a line of
    its log), neither written until the next sync. Now the transaction is made again on a new
    connection: exit 0, the bounce recorded once and its address suppressed; the next sync
    finds nothing new."""
    from tests.peers.fixtures import IMAP_PASSWORD
    from tests.peers.smtp import SmtpSink
    from tests.test_run_bounces import BOX as IBOX
    from tests.test_run_bounces import LEAD, add_pool, bounce_of

    monkeypatch.setenv("WARMUP_DB", pg_url)
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    with SmtpSink("ssl", user=IBOX, password=IMAP_PASSWORD, pki=pki) as sink:
        add_pool(sink, dovecot_clean.port, tmp_path)
        sent = cli("send", IBOX, "--to", LEAD, "--subject", "s", "--body", "b")
        assert sent.returncode == 0, sent.stderr
        (msg,) = sink.messages
    dovecot_clean.append("INBOX", bounce_of(str(msg.message["Message-ID"])))
    args = [*command.split(), *([IBOX] if command == "bounces sync" else [])]
    res = cut_at(
        "record_synced>base.py:_execute_context", 2, *args, url=pg_url, tmp=tmp_path,
        env={"WARMUP_PASSWORD": IMAP_PASSWORD},
    )  # fmt: skip
    one_line(res, (0,))
    assert (res.stderr, "failed" in res.stdout) == ("", False), res.stdout + res.stderr
    assert "1 new bounce" in res.stdout, res.stdout
    assert scalars(pg_url, "SELECT recipient FROM bounce") == [LEAD]
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert scalars(pg_url, "SELECT recipient FROM bounce") == [LEAD]
    assert scalars(pg_url, "SELECT address FROM suppression") == [LEAD]


def test_warmup_send_cut_as_it_writes_a_refusal_holds_it_and_writes_it_again(
    smtp_ssl, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """A message one recipient of which the server refused (550) is settled at once (not
    deferred, as a plain "sent" is); cut in that write's transaction, the gate holds the
    settlement and writes it on a new connection: the send ends as it would have uncut."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    smtp_ssl.reject_rcpt = {"x@example.com": (550, "5.1.1 no such user")}
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=10)))
    args = ["send", BOX, "--to", "r@example.com", "--to", "x@example.com", "--subject", "s"]
    args += ["--body", "b"]
    res = cut_at("postgres.py:_lock_mailboxes", 1, *args, url=pg_url, tmp=tmp_path)
    assert "Traceback" not in res.stderr, res.stderr
    assert (res.returncode, res.stderr) == (65, "x@example.com: hard 550 5.1.1 no such user "
                                                "(suppressed)\n")  # fmt: skip
    assert len(smtp_ssl.messages) == 1
    sends = "SELECT recipient || ' ' || outcome FROM send ORDER BY recipient"
    assert scalars(pg_url, sends) == ["r@example.com sent", "x@example.com hard"]
    assert scalars(pg_url, "SELECT address FROM suppression") == ["x@example.com"]
