"""`warmup run --once` during the wait after a fault a person must fix: every message of a
pool failed for one (no password, a refused login), so the worker holds them for a while
(:data:`warmup.outbox.worker.HOLD`, or a back-off), and a cron job heard the fault's code on the
pass that met it, then 0, "nothing was due", on every pass of the wait: its alert fired on one
run in five. Now each such pass exits 75 with one line that says so; a wait for quota is still
no fault (0).

Real `warmup` processes on the loopback TLS sink, on SQLite and PostgreSQL; time is an input
(the clock shim moves a process's clock past the hold: nothing sleeps)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import pool_of, queue_plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup.instants import local_text, machine_zone
from warmup.ledger import open_ledger
from warmup.outbox.worker import HOLD

pytest_plugins = ["tests.outboxkit"]  # sink

ROOT = Path(__file__).resolve().parent.parent


def warmup(
    *args: str, env: dict[str, str] | None = None, ahead: dt.timedelta | None = None
) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` as a process of its own, with ``env`` on top of this test's; ``ahead``:
    its clock that far ahead of the real time (tests/clockshim, in a fresh interpreter)."""
    full = {**os.environ, **(env or {})}
    command = forkcli.command()
    if ahead is not None:
        command = [sys.executable, "-m", "warmup"]
        shim = [str(ROOT / "tests" / "clockshim"), str(ROOT), full.get("PYTHONPATH", "")]
        shift = float(full.get("WARMUP_TEST_CLOCK_SHIFT") or 0) + ahead.total_seconds()
        full.update(PYTHONPATH=os.pathsep.join(shim), WARMUP_TEST_CLOCK_SHIFT=str(shift))
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=full,
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )


def once(
    env: dict[str, str] | None = None, ahead: dt.timedelta | None = None
) -> subprocess.CompletedProcess[str]:
    return warmup("run", "--once", "--no-sync", "--no-view", env=env, ahead=ahead)


def _next_try(mid: int) -> dt.datetime:
    ledger = open_ledger()
    try:
        return ledger.message(mid).next_attempt_at
    finally:
        ledger.close()


def _said(until: dt.datetime) -> str:
    """``until`` as the line says it: this machine's local time, to the second rounded up."""
    if until.microsecond:
        until = until.replace(microsecond=0) + dt.timedelta(seconds=1)
    return local_text(until, machine_zone(), "%Y-%m-%d %H:%M:%S %Z")


def test_run_once_exits_75_on_every_pass_of_the_hold_after_a_missing_password(
    sink,
    ssl_cert_env,
    empty_keyring,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """No password anywhere: the pass that meets it exits 78 and holds the pool's messages
    for 5 minutes; the passes of those 5 minutes exited 0, "nothing was due". Now 75, one line
    naming the pool, the fault, when the hold ends (local time) and what to do; past the hold
    the next pass meets the fault again (78), and with the password found it sends (0)."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    mids = queue_plain(2)

    first = once()
    assert first.returncode == 78, first.stderr
    # no keyring in a process of its own: no password, as the fault says
    fault = first.stderr.splitlines()[0].split("fault to fix: ", 1)[1]
    assert "WARMUP_PASSWORD" in fault, fault
    until = _next_try(mids[0])

    for _ in range(2):  # each pass of the hold, not the first alone
        res = once()
        assert res.returncode == 75, (res.stdout, res.stderr)
        assert "Done: nothing was due." in res.stdout, res.stdout
        (line,) = res.stderr.splitlines()
        assert line.startswith(
            "Error: 2 messages of pool P are held after a fault of the configuration: "
        ), line
        assert f": {fault}; held until " in line, line
        assert f"; held until {_said(until)}, when 'warmup run --once' tries them again" in line
        assert "'warmup mailbox login ADDRESS'" in line and "Traceback" not in res.stderr
        assert f"'warmup queue retry {mids[0]}' one message" in line, line
    assert not sink.messages

    # the hold over: tried again, the fault met again (its own code), not a 0
    res = once(ahead=HOLD + dt.timedelta(seconds=5))
    assert res.returncode == 78, (res.stdout, res.stderr)
    # the password found: sent, whatever the hold said
    res = once(env=PASSWORD_ENV, ahead=HOLD + dt.timedelta(seconds=10))
    assert res.returncode == 0 and "Done: 2 sent." in res.stdout, (res.stdout, res.stderr)


def test_a_wait_for_quota_after_the_hold_is_no_fault(
    sink,
    ssl_cert_env,
    empty_keyring,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """Held for a missing password, then the password is there and the day's quota of one
    lets one message go: the other waits for the next day, which no person need fix. A pass
    during that wait exits 0, as it always did (an entry kept apart from the messages outlived
    the hold and called this wait a fault)."""
    pool_of(sink.port, tmp_path, n=1, daily=1)
    queue_plain(2)
    assert once().returncode == 78
    assert once().returncode == 75

    after = HOLD + dt.timedelta(seconds=5)
    res = once(env=PASSWORD_ENV, ahead=after)
    assert res.returncode == 0 and "Done: 1 sent, 1 waiting." in res.stdout, res.stdout
    res = once(env=PASSWORD_ENV, ahead=after + dt.timedelta(seconds=5))
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "Done: nothing was due." in res.stdout and res.stderr == "", res.stderr


def test_run_once_exits_75_while_a_refused_login_backs_off(
    sink,
    ssl_cert_env,
    password,
    keyring_file,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A wrong password: the server refuses the login (535), the pass exits 77 and the message
    backs off 5 minutes; the passes of the back-off exited 0. Now 75, the refusal in words."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    [mid] = queue_plain(1)
    wrong = {"WARMUP_PASSWORD": "wrong"}
    assert once(env=wrong).returncode == 77

    res = once(env=wrong)

    assert res.returncode == 75, (res.stdout, res.stderr)
    (line,) = res.stderr.splitlines()
    assert line.startswith(
        f"Error: 1 message of pool P is held after a fault of the configuration: 127.0.0.1 "
        f"refused the login for {a}: 535 5.7.8 Authentication credentials invalid; held until "
        f"{_said(_next_try(mid))}, when 'warmup run --once' tries it again"
    ), line
    # 'mailbox login' (the fix) makes it due at once: sent, 0
    assert cli("mailbox", "login", a, stdin=PASSWORD_ENV["WARMUP_PASSWORD"] + "\n").returncode == 0
    res = once()
    assert res.returncode == 0 and "Done: 1 sent." in res.stdout, (res.stdout, res.stderr)


def test_only_the_pool_asked_for_is_told_of(
    sink,
    ssl_cert_env,
    empty_keyring,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """`run --once --pool Q` tells of Q's held messages only: P's hold is another worker's."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    assert cli("pool", "add", "Q", a).returncode == 0
    queue_plain(1, pool="P")
    assert warmup("run", "--once", "--no-sync", "--pool", "P").returncode == 78
    res = warmup("run", "--once", "--no-sync", "--pool", "Q")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = warmup("run", "--once", "--no-sync", "--pool", "P")
    assert res.returncode == 75 and "of pool P are" not in res.stderr, res.stderr
    assert "1 message of pool P is held" in res.stderr, res.stderr
