"""``warmup run`` started while its team ledger's server is away (a restart, a fail-over, a host
still booting): it exited 69 at once, where a worker already running waits for the ledger and
goes on. It now waits as a running worker does, for a bounded time while the server has never
answered (a wrong host or port looks the same), and without bound once it has; a refused login,
a database that does not exist or holds no warmup ledger still stop it at once."""

from __future__ import annotations

import datetime as dt
import io
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import PASSWORD_ENV
from tests.outboxkit import members_sink, pool_of, queue_plain, sent_once
from tests.pgkit import PgProxy, PgSchema, pg_server
from warmup.errors import Unavailable
from warmup.ledger import open_ledger
from warmup.outbox.view import LiveView
from warmup.outbox.worker import HOST, PLACE, Worker

WAIT = 60  # seconds a test waits for a line of the worker before it fails


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 1) as s:
        yield s


class Run:
    """``warmup ARGS`` in a process of its own; :meth:`until` reads its output line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*forkcli.command(), *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._got: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._got.put(line.rstrip("\n"))
        self._got.put(None)

    def until(self, wanted: Callable[[str], bool]) -> str:
        """The first line (from here on) for which ``wanted`` is true."""
        while True:
            line = self._got.get(timeout=WAIT)
            assert line is not None, (self.lines, self.proc.stderr and self.proc.stderr.read())
            self.lines.append(line)
            if wanted(line):
                return line

    def end(self) -> tuple[int, str, str]:
        """Its exit code, the rest of its output and its stderr."""
        rc = self.proc.wait(timeout=WAIT)
        rest = []
        while (line := self._got.get(timeout=WAIT)) is not None:
            rest.append(line)
        self.lines += rest
        assert self.proc.stderr is not None
        return rc, "\n".join(rest), self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _dead_workers_claim(url: str) -> int:
    """The first queued message, claimed by a worker of this machine whose process is gone
    (killed before its gate reserved anything): the next worker queues it again, once."""
    with subprocess.Popen(["true"]) as dead:
        dead.wait()
    ledger = open_ledger(url)
    try:
        now = dt.datetime.now(dt.UTC)
        msg = ledger.claim(f"{HOST}:{dead.pid}:{PLACE}:{'0' * 16}", now)
        assert msg is not None
        return msg.id
    finally:
        ledger.close()


def test_a_worker_started_while_the_ledger_is_away_waits_then_sends_each_message_once(
    sink, ssl_cert_env, pg_url, monkeypatch, tmp_path
):
    """Started by a service manager while the team server restarts (connections refused): it
    exited 69 at once, "unavailable", a service down until someone started it again. It waits
    as a running worker does (the same lines, 1, 2, 4 ... s), then recovers the claim a killed
    worker left (once), sends every message once and runs on until SIGTERM."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    claimed = _dead_workers_claim(pg_url)
    proxy = PgProxy()
    proxy.down()
    run = Run(["run", "--no-sync", "--no-view"], {**PASSWORD_ENV, "WARMUP_DB": proxy.url(pg_url)})
    try:
        cut = run.until(lambda line: " cut off: " in line)
        assert " start-up cut off: ledger postgresql+psycopg://" in cut, cut
        assert " is unavailable: " in cut and "; trying again in 1 s (until " in cut, cut
        proxy.up()
        run.until(lambda line: "the ledger is back" in line)
        for _ in range(2):
            run.until(lambda line: " sent #" in line)
        run.proc.send_signal(signal.SIGTERM)
        rc, rest, err = run.end()
    finally:
        proxy.up()
        run.kill()
    assert rc == 0 and rest.endswith("Stopped."), (run.lines, err)
    assert "Traceback" not in err, err
    assert proxy.refused >= 1
    recovered = [x for x in run.lines if f"queued #{claimed}: its worker " in x]
    assert len(recovered) == 1, run.lines
    sent_once(sink, 2)


def test_a_worker_whose_ledger_never_answers_exits_69_after_its_wait(pg_url):
    """A server that never answers (or a wrong port, which looks the same): it tries again
    for --ledger-wait, then exits 69 in one line saying how long it waited."""
    proxy = PgProxy()
    proxy.down()
    run = Run(
        ["run", "--no-sync", "--no-view", "--ledger-wait", "1s"], {"WARMUP_DB": proxy.url(pg_url)}
    )
    try:
        rc, _, err = run.end()
    finally:
        run.kill()
    assert rc == 69, (run.lines, err)
    assert proxy.refused >= 2  # tried again
    (line,) = err.splitlines()
    assert line.startswith("Error: ledger postgresql+psycopg://") and " is unavailable: " in line
    assert line.endswith("; waited 1s for it (--ledger-wait)"), line
    assert [x for x in run.lines if " start-up cut off: " in x], run.lines


def test_run_once_whose_ledger_is_away_exits_69_at_once(pg_url):
    """Cron runs it again soon enough: --once does not wait unless told to."""
    proxy = PgProxy()
    proxy.down()
    run = Run(["run", "--once", "--no-sync", "--no-view"], {"WARMUP_DB": proxy.url(pg_url)})
    try:
        rc, out, err = run.end()
    finally:
        run.kill()
    assert (rc, out, proxy.refused) == (69, "", 1), err
    (line,) = err.splitlines()
    assert " is unavailable: " in line and "--ledger-wait" not in line, line


def test_run_once_does_not_wait_for_the_config_files_ledger_wait(pg_url, tmp_path):
    """'[commands.run] ledger_wait' in the config file is the running service's: 'run --once'
    waited it too (an hour, say, each cron run piling on the last), where its help said
    --once does not wait. Typed with --once, it still waits."""
    config = tmp_path / "config.toml"
    config.write_text('[commands.run]\nledger_wait = "2s"\n')
    proxy = PgProxy()
    proxy.down()
    env = {"WARMUP_DB": proxy.url(pg_url), "WARMUP_CONFIG": str(config)}
    run = Run(["run", "--once", "--no-sync", "--no-view"], env)
    try:
        rc, _, err = run.end()
    finally:
        run.kill()
    assert (rc, proxy.refused) == (69, 1), (run.lines, err)
    (line,) = err.splitlines()
    assert " is unavailable: " in line and "--ledger-wait" not in line, line
    # 3 s: the wait's last try comes at its end, so two tries unless the first ends after it;
    # with 1 s, under load 11, the start-up's first try took the whole second (one try)
    run = Run(["run", "--once", "--no-sync", "--no-view", "--ledger-wait", "3s"], env)
    try:
        rc, _, err = run.end()
    finally:
        run.kill()
    assert rc == 69 and proxy.refused >= 1 + 2, (run.lines, err)
    assert err.rstrip().endswith("; waited 3s for it (--ledger-wait)"), err


def test_a_server_with_no_connection_slot_left_exits_75_after_the_wait(tmp_path):
    """Out of connection slots at start: it waits as for a server away, then exits 75 (the
    server is up; a later start may pass), the code any command exits with for it, as README
    now says (it said 69)."""
    from tests.pgkit import no_slot_left

    with no_slot_left() as (url, name):
        run = Run(["run", "--no-sync", "--no-view", "--ledger-wait", "1s"], {"WARMUP_DB": url})
        try:
            rc, _, err = run.end()
        finally:
            run.kill()
    assert rc == 75, (run.lines, err)
    (line,) = err.splitlines()
    assert f'too many connections for database "{name}"' in line, line
    assert line.endswith("; waited 1s for it (--ledger-wait)"), line
    assert [x for x in run.lines if " start-up cut off: " in x], run.lines
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert "exits 69 in one line saying how long it waited (75 when the server did answer" in readme


def test_sigterm_while_it_waits_for_the_ledger_stops_it_at_once(pg_url):
    """Stopped (systemctl stop) while it waits: nothing begun, so nothing to finish: it stops
    at once, exit 0, as a first SIGTERM leaves a running worker."""
    proxy = PgProxy()
    proxy.down()
    run = Run(["run", "--no-sync", "--no-view"], {"WARMUP_DB": proxy.url(pg_url)})
    try:
        run.until(lambda line: " start-up cut off: " in line)
        run.proc.send_signal(signal.SIGTERM)
        rc, rest, err = run.end()
    finally:
        run.kill()
    assert (rc, rest, err) == (0, "Stopped.", "")


@pytest.mark.parametrize(
    ("fault", "code", "said"),
    [
        ("password", 77, "password authentication failed"),
        ("foreign", 78, "holds another program's tables"),
    ],
)
def test_a_ledger_url_at_fault_stops_the_worker_at_once(fault, code, said):
    """No wait fixes a refused login or a database that is no warmup ledger (here a schema
    holding another program's table named as one of warmup's): it stops at once, without a
    line about trying again."""
    schema = PgSchema("fault")
    try:
        url = schema.url
        if fault == "password":
            made = sa.engine.make_url(pg_server()).set(password="not-the-password")
            url = made.render_as_string(hide_password=False)
        else:
            engine = sa.create_engine(pg_server())
            with engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE TABLE "{schema.name}".mailbox (address text)')
            engine.dispose()
        run = Run(["run", "--no-sync", "--no-view"], {"WARMUP_DB": url})
        try:
            rc, out, err = run.end()
        finally:
            run.kill()
    finally:
        schema.drop()
    assert (rc, out) == (code, ""), err
    (line,) = err.splitlines()
    assert said in line, line


def _worker_through(
    proxy: PgProxy, url: str, cut: str = "start", view: bool = False, **kwargs: object
) -> list[str]:
    """A worker (:meth:`Worker.run`, in this process) on the ledger behind ``proxy``, made while
    the proxy is up, which is cut before its first pass (``cut="start"``) or after its first
    message is sent (``"sent"``); each sleep while it is down brings it up, the first sleep
    with the proxy up stops the worker. With ``view``, the live view of a terminal (on a
    buffer) takes its lines and sleeps, as ``warmup run`` gives them on a terminal. Returns
    its lines."""
    lines: list[str] = []
    ledger = open_ledger(proxy.url(url))
    shown = LiveView(ledger, io.StringIO()) if view else None
    worker: Worker

    def log(line: str) -> None:
        lines.append(line)
        if shown is not None:
            shown.log(line)
        if cut == "sent" and " sent #" in line and not proxy.refused:
            proxy.down()

    def sleep(seconds: float) -> None:
        if shown is not None:
            shown.sleep(0.01, worker.wait)  # the view redraws, its figures read afresh
        if proxy.is_down:
            proxy.up()
        else:
            worker.stop()

    try:
        with Worker(
            ledger,
            log=log,
            sleep=sleep,
            idle_retry=lambda n: 600.0,
            **kwargs,  # type: ignore[arg-type]
        ) as worker:
            if cut == "start":
                proxy.down()
            worker.run()
    finally:
        proxy.up()
        ledger.close()
    return lines


def test_a_worker_whose_ledger_drops_before_its_first_pass_syncs_then_sends(
    sink, ssl_cert_env, pg_url, password, monkeypatch, tmp_path
):
    """The server dropped between the worker's start and its first pass: its IMAP watch (which
    reads the worker's mailboxes) ran before the loop that waits for the ledger, so the worker
    exited 69. It waits, then syncs the bounces before it sends, as on any start."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    proxy = PgProxy()
    lines = _worker_through(proxy, pg_url, sync_every=dt.timedelta(minutes=10))
    assert proxy.refused >= 1
    assert " pass cut off: ledger " in lines[0], lines
    synced = next(i for i, x in enumerate(lines) if "bounce sync of a@corp.example failed" in x)
    first_sent = next(i for i, x in enumerate(lines) if " sent #" in x)
    assert synced < first_sent, lines
    sent_once(sink, 2)


def test_a_pass_cut_off_before_its_bounce_sync_syncs_on_the_next_pass(
    sink, ssl_cert_env, pg_url, password, monkeypatch, tmp_path
):
    """The ledger away as the first pass looked up the mailboxes to sync: the round was
    counted as done, and the next pass sent without the sync that comes before any send (a
    bounce in the inbox not suppressing its recipient) for --sync-every (10 minutes)."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(1)
    proxy = PgProxy()
    lines: list[str] = []
    ledger = open_ledger(proxy.url(pg_url))
    try:
        with Worker(ledger, log=lines.append, sync_every=dt.timedelta(minutes=10)) as worker:
            proxy.down()
            with pytest.raises(Unavailable):
                worker.run_once()
            proxy.up()
            assert worker.run_once().outcomes == {"sent": 1}
    finally:
        proxy.up()
        ledger.close()
    synced = [i for i, x in enumerate(lines) if "bounce sync of a@corp.example failed" in x]
    first_sent = next(i for i, x in enumerate(lines) if " sent #" in x)
    assert synced and synced[0] < first_sent, lines


def test_a_running_worker_under_the_live_view_whose_ledger_restarts_goes_on(
    sink, ssl_cert_env, pg_url, password, monkeypatch, tmp_path
):
    """On a terminal, the live view read the ledger as it drew the worker's "pass cut off"
    line and its wait: the read's "unavailable" ended the worker (exit 69) where one without
    the view waited for the ledger. The view keeps its last figures meanwhile."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    proxy = PgProxy()
    lines = _worker_through(proxy, pg_url, cut="sent", view=True)
    assert proxy.refused >= 1
    assert any(" pass cut off: ledger " in x for x in lines), lines
    assert any("the ledger is back" in x for x in lines), lines
    sent_once(sink, 2)


def test_output_lost_while_it_waits_for_the_ledger_stops_it_once_the_ledger_answers(pg_url):
    """Its log's reader gone while it waited ('warmup run | tee log' whose tee died): the
    running worker stops on such a loss (74), but one lost before the worker was made stopped
    no one, and the worker ran on once the ledger answered, every line written nowhere."""
    open_ledger(pg_url).close()  # a ledger there ('run' creates none in a blank schema)
    proxy = PgProxy()
    proxy.down()
    proc = subprocess.Popen(
        [*forkcli.command(), "run", "--no-sync", "--no-view"],
        env={**os.environ, "WARMUP_DB": proxy.url(pg_url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert " start-up cut off: " in proc.stdout.readline()
        proc.stdout.close()  # the reader gone: the next line ("the ledger is back") is lost
        proxy.up()
        rc = proc.wait(timeout=WAIT)
        err = proc.stderr.read()
    finally:
        proxy.up()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 74, err
    assert err.startswith("Error: cannot write the output ("), err
