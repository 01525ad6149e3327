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

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file
from tests.pgkit import drop_sessions, session_name
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
    name: str, n: int, *args: str, url: str, tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` on the ledger ``url`` in a process of its own, its every session on the
    server terminated when it enters ``name`` for the ``n``-th time; its result."""
    app = session_name("pgkill")
    where = tmp / f"cut-{app}"
    where.mkdir()
    os.mkfifo(where / "go")
    full = {
        **os.environ,
        **PASSWORD_ENV,
        **(env or {}),
        "WARMUP_DB": f"{url}&application_name={app}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(where), name, str(n), *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
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
    ledger = open_ledger(url)
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
    "postgres_gate.py:_write": 75,  # reserve: between its two round trips, the mailbox locked
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


COMMANDS = {
    "import": ("postgres.py:_insert_sends", 1),
    "suppress": ("base.py:_execute_context", 3),
    "mailbox-set": ("base.py:_execute_context", 3),
    "report": ("base.py:_execute_context", 3),
    "queue-add": ("postgres.py:insert_rows", 1),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_cut_mid_transaction_exits_75_and_runs_again(
    command, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    from tests.outboxkit import leads, pool_of, template

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(smtp_ssl.port, tmp_path)
    res = cli("import", str(leads_log(tmp_path / "log.csv", 50)))
    assert res.returncode == 0, res.stderr
    args = {
        "import": ["import", str(leads_log(tmp_path / "more.csv", 80))],
        "suppress": ["suppress", "add", "x@example.com", "--reason", "asked"],
        "mailbox-set": ["mailbox", "set", "a@corp.example", "--cap", "80"],
        "report": ["report", "--format", "csv"],
        "queue-add": [
            "queue",
            "add",
            "--pool",
            "P",
            "--campaign",
            "dec",
            "--csv",
            str(leads(tmp_path / "leads.csv", 20)),
            "--template",
            str(template(tmp_path / "t.toml")),
        ],  # fmt: skip
    }[command]
    name, n = COMMANDS[command]
    res = cut_at(name, n, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (75,))
    assert CUT in res.stderr and "unavailable" not in res.stderr, res.stderr
    again = cli(*args)
    assert again.returncode == 0, again.stderr
