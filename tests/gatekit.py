"""Helpers for tests that run the gate against the loopback sink as real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests import forkcli
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.zonekit import kit_zone

if TYPE_CHECKING:
    from tests.peers.smtp import SmtpSink
    from warmup.smtp import Session

BOX = SMTP_USER


def policy_file(path: Path, daily: int = 50, interval: str = "0s") -> Path:
    """A one-stage policy: a flat quota with no pacing, for tests about quota, not ramps."""
    path.write_text(f'''name = "flat"
ceiling = {daily}
growth_factor = 2.0

[[stage]]
name = "flat"
days = 0
daily = {daily}
interval = "{interval}"
''')
    return path


def warmup(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` as a separate process (inherits WARMUP_DB, SSL_CERT_FILE)."""
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [*forkcli.command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The same command in this process (click's runner): for set-up and checks, where a process
    of its own is not what the test is about; a new interpreter costs ~0.6 s of CPU."""
    from click.testing import CliRunner

    from warmup.cli import load_all

    res = CliRunner().invoke(load_all(), list(args), input=stdin, env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(["warmup", *args], res.exit_code, res.stdout, res.stderr)


def cli_to_full_disk(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS > /dev/full`` as a process of its own (a disk full under its output), with
    the sink's password; its stderr read."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [*forkcli.command(), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **PASSWORD_ENV},
            timeout=timeout,
            check=False,
        )


def add_box(
    port: int,
    *extra: str,
    hosts: str = "127.0.0.1",
    provider: str = "exmail",
    box: str = BOX,
    imap_port: int | None = None,
    zone: str | None = None,
) -> None:
    """``warmup mailbox add BOX`` with SMTP at ``hosts``:``port`` (and IMAP on loopback at
    ``imap_port``), then ``extra`` options; the command must succeed. An exmail mailbox without
    a ``--policy`` gets the exmail preset that sends on Chinese public holidays too
    (:data:`ANY_DAY`): its tests send at the real time, which may be one. The mailbox lives in
    ``zone`` (or a ``--timezone`` of ``extra``), by default the test's
    :func:`~tests.zonekit.kit_zone`, not the provider's: a test that sends and then reads the
    quota at the real time stays in one day (``tests.zonekit.SHANGHAI`` for exmail's own)."""
    imap = ("--imap-host", "127.0.0.1", "--imap-port", str(imap_port)) if imap_port else ()
    if provider == "exmail" and "--policy" not in extra:
        extra = (*extra, "--policy", str(ANY_DAY))
    if "--timezone" not in extra:
        extra = (*extra, "--timezone", zone or kit_zone())
    res = cli(
        "mailbox",
        "add",
        box,
        "--provider",
        provider,
        "--smtp-host",
        hosts,
        "--smtp-port",
        str(port),
        *imap,
        *extra,
    )
    assert res.returncode == 0, res.stderr


PASSWORD_ENV = {"WARMUP_PASSWORD": SMTP_PASSWORD}
ANY_DAY = Path(__file__).parent / "policies" / "exmail-any-day.toml"


def rows(db: Path | str, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    """The rows ``sql`` reads from the SQLite ledger ``db``."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed orphan is one until its new
    parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    """Poll (bounded) for the kill to take effect: not sleeping time away, only waiting for
    the kernel to finish what was already done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.01)
    return not running(pid)


def within(seconds: float, holds: Callable[[], bool]) -> bool:
    """Poll (bounded) until ``holds()``: another process's write or step waited for, not time
    let pass for the test's sake; whether it held within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if holds():
            return True
        time.sleep(0.05)
    return False


def cue(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Wait (bounded) for the process ``proc`` to create ``path``, its cue; fail with what it
    said if it ends first."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)


def removed_while_paced(
    proc: subprocess.Popen[str], ready: Path, go: Path, settled: Callable[[], bool]
) -> tuple[str, str]:
    """A script pacing its sends (a gate idle between them): once ``proc`` says its message
    went (it creates ``ready``), ``settled()`` holds within 10 s while it waits, and
    ``mailbox remove --force`` then removes the mailbox (nothing in flight); then it goes on
    (``go``). Its stdout and stderr, once it exited 0."""
    try:
        cue(ready, proc)
        assert within(10, settled), "not recorded as sent within 10 s"
        assert proc.poll() is None  # still waiting
        removed = cli("mailbox", "remove", BOX, "--force")
        assert removed.returncode == 0, removed.stderr
    finally:
        go.touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err


def assert_reaped(pid: int) -> None:
    """The grandchild ``pid`` is gone (within 5 s of its group's kill); killed here if not."""
    try:
        assert gone_within(pid, 5.0), f"the grandchild {pid} still runs"
    finally:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def spawning(pidfile, then: str) -> str:
    """A shell command that starts a grandchild (it writes its pid to ``pidfile``, then sleeps a
    long time), waits until the pid is written, then runs ``then``."""
    return (
        f"sh -c 'echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; exec sleep 300' & "
        f"until [ -s {pidfile} ]; do sleep 0.01; done; {then}"
    )


def smtp_session(sink: SmtpSink) -> Session:
    """A logged-in :class:`warmup.smtp.Session` of ``BOX`` to ``sink`` (implicit TLS)."""
    from warmup.smtp import Session, Target

    return Session(Target(("127.0.0.1",), sink.port, "ssl", BOX, SMTP_PASSWORD, timeout=10))


def envelope_reads(sink: SmtpSink) -> list[bytes]:
    """The server's reads that carry a MAIL FROM, with whatever arrived with it."""
    return [r for r in sink.reads if b"mail from:" in r.lower()]


@contextlib.contextmanager
def mute_server() -> Iterator[tuple[int, threading.Event]]:
    """A listener on loopback that takes one connection and never says a word (no TLS
    handshake, no greeting): its port, and an event set once a client is connected, so a test
    stops that client while it connects, without a clock."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    connected = threading.Event()

    def accept() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed before anyone came
            return
        accepted.append(conn)
        connected.set()

    threading.Thread(target=accept, name="mute-server", daemon=True).start()
    try:
        yield listener.getsockname()[1], connected
    finally:
        for conn in accepted:
            conn.close()
        listener.close()
