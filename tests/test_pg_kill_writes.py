"""The writes ``tests/test_pg_kill_more.py`` left exiting 75 on a cut connection — ``mailbox
add``/``set``/``remove``, ``policy add``/``set``, ``suppress add``/``remove``, ``import``,
``bounces sync`` — cut the same ways (a real process paused before its COMMIT while its
session is terminated on the real server; a proxy that passes the COMMIT and drops its answer),
and a worker's claim whose COMMIT a proxy holds up past the reconnect. Each then checked for
its exit code, one line, and a ledger changed exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.pgkit import PgProxy, session_name
from tests.test_pg_kill_more import _ok, cut_in_commit, made_once
from tests.test_pg_kill_points import PAUSED, cut_at, one_line, scalars

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url

NEW = "new@corp.example"
POLICY = """name = "mine"
ceiling = {daily}
growth_factor = 2.0

[[stage]]
name = "flat"
days = 0
daily = {daily}
interval = "0s"
"""


def _policy(tmp: Path, daily: int) -> str:
    path = tmp / f"mine-{daily}.toml"
    path.write_text(POLICY.format(daily=daily))
    return str(path)


# (the set-up, given the test's tmp path; the command, given it too; where its write's COMMIT
# is (the n-th COMMIT under that function); a read, true once the write committed; what it reads
# then, and after the command, once).
WRITES: dict[
    str, tuple[Callable[[Path], object], Callable[[Path], list[str]], str, int, str, list[object]]
] = {
    "mailbox add": (
        lambda tmp: None,
        lambda tmp: ["mailbox", "add", NEW, "--provider", "exmail"],
        "add_mailbox",
        1,
        "SELECT address FROM mailbox ORDER BY address",
        [BOX, NEW],
    ),
    "mailbox set": (
        lambda tmp: None,
        lambda tmp: ["mailbox", "set", BOX, "--cap", "80"],
        "update_mailbox",
        1,
        "SELECT e.kind || ' ' || m.cap FROM event e JOIN mailbox m ON m.id = e.mailbox_id",
        ["cap 80"],
    ),
    "mailbox remove": (
        lambda tmp: _ok("mailbox", "add", NEW, "--provider", "exmail"),
        lambda tmp: ["mailbox", "remove", NEW],
        "remove_mailbox",
        2,  # the first: the command's look at the mailbox
        "SELECT address FROM mailbox ORDER BY address",
        [BOX],
    ),
    "policy add": (
        lambda tmp: None,
        lambda tmp: ["policy", "add", "mine", _policy(tmp, 20)],
        "store_policy",
        1,
        "SELECT version FROM policy WHERE name = 'mine' ORDER BY version",
        [1],
    ),
    "policy set": (
        lambda tmp: (
            _ok("policy", "add", "mine", _policy(tmp, 20)),
            _ok("mailbox", "set", BOX, "--policy", "mine"),
        ),
        lambda tmp: ["policy", "set", "mine", _policy(tmp, 30)],
        "store_policy",
        1,
        "SELECT reason FROM event WHERE kind = 'policy' ORDER BY id",
        [
            "policy mine version 1 (was exmail-any-day version 1)",
            "policy mine version 2 (was mine version 1)",
        ],
    ),
    "suppress add": (
        lambda tmp: None,
        lambda tmp: ["suppress", "add", "x@example.com", "--reason", "asked"],
        "suppress_many",
        4,  # its TEMP table made, its batch staged, ordered: then the write
        "SELECT address FROM suppression",
        ["x@example.com"],
    ),
    "suppress remove": (
        lambda tmp: _ok("suppress", "add", "x@example.com", "--reason", "asked"),
        lambda tmp: ["suppress", "remove", "x@example.com"],
        "unsuppress",
        1,
        "SELECT (SELECT count(*) FROM suppression) || ' ' || count(*) FROM suppression_removal",
        ["0 1"],
    ),
    "suppress remove (several)": (
        lambda tmp: _ok("suppress", "add", "x@example.com", "y@example.com", "--reason", "asked"),
        lambda tmp: ["suppress", "remove", "x@example.com", "y@example.com", "z@example.com"],
        "unsuppress_many",
        4,  # staged as 'suppress add' stages: its TEMP table, its batch, ordered; the write
        "SELECT (SELECT count(*) FROM suppression) || ' ' || count(*) FROM suppression_removal",
        ["0 2"],
    ),
}


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
@pytest.mark.parametrize("command", sorted(WRITES))
def test_a_write_cut_at_its_commit_is_made_once_and_exits_0(
    command, how, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """Before: exit 75 "try again" whether or not the server had committed the write; run
    again, one that had landed was refused (``mailbox add``: "exists already", 65; ``mailbox
    remove``: not found; ``policy add``: "exists already"; ``suppress remove``: "not
    suppressed"), or (cut before the COMMIT) only then made. Now: made again on a new
    connection when cut before its COMMIT; cut in it, the server asked whether it committed:
    exit 0, no line on stderr, the ledger changed once."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port)
    setup, args_of, function, n, done, after = WRITES[command]
    setup(tmp_path)
    args = args_of(tmp_path)
    made_once(how, f"{function}>base.py:_commit_impl", n, args, pg_url, tmp_path, done, after)


SENDS = "SELECT count(*) FROM send"


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
def test_import_cut_at_a_batch_commit_imports_every_row_once(
    how, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """``warmup import`` of a log cut at its batch's COMMIT: before, exit 75 (run again, it
    wrote what was missing). Now the batch is written again on a new connection, or (cut in
    its COMMIT) the server is asked whether it landed: exit 0, every row once — the same
    import again adds nothing."""
    from tests.test_crash_points import long_log

    monkeypatch.setenv("WARMUP_DB", pg_url)
    log = long_log(tmp_path / "log.csv", 80)
    args = ["import", str(log)]
    point = "import_batch>base.py:_commit_impl"
    if how == "terminated":
        res = cut_at(point, 1, *args, url=pg_url, tmp=tmp_path)
    else:
        res = cut_in_commit(
            point, 1, *args, url=pg_url, tmp=tmp_path, landed=lambda: scalars(pg_url, SENDS) != [0]
        )
    one_line(res)
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    sends = scalars(pg_url, SENDS)
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "0 new sends" in again.stdout, again.stdout
    assert scalars(pg_url, SENDS) == sends


def test_suppress_add_of_a_long_list_cut_before_its_commit_exits_75_and_runs_again(
    smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """A list longer than one staged batch is read as it comes, not held: cut before its
    write's COMMIT, nothing of it was written and it cannot be staged again (75, one line);
    the same command run again suppresses each address once."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"a{i}@example.com\n" for i in range(10_001)))
    args = ["suppress", "add", "--from", str(listed), "--reason", "asked"]
    # its TEMP table made, two batches staged, ordered: then the write
    res = cut_at("suppress_many>base.py:_commit_impl", 5, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (75,))
    assert scalars(pg_url, "SELECT count(*) FROM suppression") == [0]
    _ok(*args)
    assert scalars(pg_url, "SELECT count(DISTINCT address) FROM suppression") == [10_001]
    assert scalars(pg_url, "SELECT count(*) FROM suppression") == [10_001]


def test_bounces_sync_whose_commit_the_server_took_unanswered_records_it_once(
    pki, dovecot_clean, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """``bounces sync`` cut in the COMMIT of a folder's bounces and position: before, 75 (and
    the sync run again found nothing new: "0 new" for the bounce it had recorded). Now the
    server is asked whether it committed: exit 0, the bounce recorded once, said once."""
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
    args = ["bounces", "sync", IBOX]
    bounces = "SELECT recipient FROM bounce"
    res = cut_in_commit(
        "record_synced>base.py:_commit_impl", 1, *args, url=pg_url, tmp=tmp_path,
        landed=lambda: scalars(pg_url, bounces) == [LEAD], env={"WARMUP_PASSWORD": IMAP_PASSWORD},
    )  # fmt: skip
    one_line(res)
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert "1 new bounce" in res.stdout, res.stdout
    assert scalars(pg_url, bounces) == [LEAD]
    assert scalars(pg_url, "SELECT address FROM suppression") == [LEAD]


RUN = ["run", "--once", "--no-sync", "--no-view"]


@pytest.mark.parametrize("how", ["terminated", "answer lost or not"])
def test_run_once_cut_at_its_passs_first_write_sends_every_message_once(
    how, sink, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """``warmup run --once`` cut at the COMMIT of its pass's first write (the messages past
    their expiry): before, exit 75 and nothing sent. Now made again on a new connection (or,
    cut in its COMMIT, asked of the server): the pass goes on, both messages sent once."""
    from tests.outboxkit import pool_of, queue_plain

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    point = "expire_messages>base.py:_commit_impl"
    if how == "terminated":
        res = cut_at(point, 1, *RUN, url=pg_url, tmp=tmp_path)
    else:  # nothing to expire: cut at once, whether or not the server has read the COMMIT
        res = cut_in_commit(point, 1, *RUN, url=pg_url, tmp=tmp_path, landed=lambda: True)
    one_line(res)
    assert scalars(pg_url, "SELECT state FROM outbox ORDER BY id") == ["sent", "sent"]
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    assert (res.returncode, res.stderr) == (0, ""), res.stderr


def test_mailbox_login_cut_as_it_releases_the_mailboxs_messages_exits_0(
    smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """``mailbox login`` stores the password, then makes the messages held for want of it
    due: cut there, it exited 75 with the password stored (run again, it asked for it again).
    Now the release is made again on a new connection: exit 0."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port)
    keyring = tmp_path / "keyring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.filekeyring.FileKeyring")
    monkeypatch.setenv("WARMUP_TEST_KEYRING", str(keyring))
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    res = cut_at(
        "release>base.py:_commit_impl", 1, "mailbox", "login", BOX, url=pg_url, tmp=tmp_path,
        stdin=password,
    )  # fmt: skip
    one_line(res)
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert f"Stored the password of {BOX}" in res.stdout, res.stdout
    assert "s3cret" in keyring.read_text()


class HeldProxy(PgProxy):
    """A :class:`PgProxy` that can hold up what a client sends on its open connections
    (:meth:`hold`: kept, not passed on; the server's answers dropped), cut the client off
    (:meth:`cut`) while the server's side stays open, and pass on what it held, late
    (:meth:`release`): a COMMIT that reaches the server after its client gave up on it."""

    def __init__(self) -> None:
        self.held: dict[int, bytearray] = {}  # client socket id -> what it sent meanwhile
        self.peer: dict[int, socket.socket] = {}
        super().__init__()

    def hold(self) -> None:
        with self.lock:
            for client, server in zip(self.conns[::2], self.conns[1::2], strict=True):
                self.held[id(client)] = bytearray()
                self.held[id(server)] = bytearray()
                self.peer[id(client)] = server

    def holding(self) -> bool:
        """Whether a held client has sent something since (its COMMIT)."""
        with self.lock:
            return any(self.held[id(c)] for c in self.conns[::2] if id(c) in self.held)

    def cut(self) -> None:
        with self.lock:
            for client in self.conns[::2]:
                if id(client) in self.held:
                    try:
                        client.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def release(self) -> None:
        with self.lock:
            pairs = [(self.held[k], s) for k, s in self.peer.items()]
        for data, server in pairs:
            try:
                server.sendall(bytes(data))
                server.shutdown(socket.SHUT_WR)  # after it: the client's leaving
            except OSError:
                pass

    def _forward(self, a, b, data: bytes) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            kept = self.held.get(id(a))
        if kept is not None:
            kept.extend(data)
        else:
            b.sendall(data)

    def _ends_both(self, a) -> bool:  # type: ignore[no-untyped-def]
        return id(a) not in self.peer  # a held client cut off: its server waits for release


def test_a_claim_whose_commit_reaches_the_server_after_the_reconnect_is_read_back(
    sink, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """A worker's claim (carrying the first message's outcome) whose COMMIT is held up on the
    way past the cut: the look on a new connection found no claim (the server had not seen the
    COMMIT yet), the claim was made again, and the held COMMIT landed after it: the second
    message ``sending`` for a worker that had gone on without it (until a later run called it
    a dead worker's). Now the cut session's transaction is waited for (its backend watched
    on new connections, bounded) before the look: both messages sent once, exit 0."""
    from tests.outboxkit import pool_of, queue_plain

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    app = session_name("held")
    proxy = HeldProxy()
    where = tmp_path / "held"
    where.mkdir()
    os.mkfifo(where / "go")
    args = ["run", "--once", "--no-sync", "--no-view"]
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": f"{proxy.url(pg_url)}&application_name={app}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(where), "claim>base.py:_commit_impl", "2", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    # The worker back on a new connection: waiting there on the held transaction's row lock
    # (its claim made again), or looking at the held session (the wait for it to end).
    back = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND pid <> pg_backend_pid() AND (wait_event_type = 'Lock' "
        "OR query LIKE '%%FROM pg_stat_activity%%')"
    )
    try:
        deadline = time.monotonic() + 120
        while not (where / "reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)  # a poll's pace, not a wait for time to pass
        proxy.hold()
        with open(where / "go", "w") as go:
            go.write("go")
        while not proxy.holding():  # its COMMIT sent, and held
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proxy.cut()
        while _count(back, app) == 0:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proxy.release()  # the COMMIT reaches the server now
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    assert scalars(pg_url, "SELECT state FROM outbox ORDER BY id") == ["sent", "sent"]
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    assert (proc.returncode, err) == (0, ""), err


def _count(sql: str, app: str) -> int:
    import psycopg
    import sqlalchemy as sa

    from tests.pgkit import pg_server

    url = sa.engine.make_url(pg_server()).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        row = conn.execute(sql, (app,)).fetchone()
    assert row is not None
    return int(row[0])
