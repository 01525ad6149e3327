"""``warmup run``: the worker that sends queued messages when the plan allows."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import click

from warmup.cli import cli
from warmup.cli.common import (
    EVERY,
    SECONDS,
    Duration,
    complete_pool,
    db_option,
    ledger_from,
    say,
    verbosity,
)
from warmup.cli.send import password_option
from warmup.words import plural, shown

LEDGER_WAIT = Duration(1, 7 * 86_400, "10m or 1h")
# How long `run` waits at start-up for a ledger that has not answered yet (without --once):
# a server restarting, failing over or still booting with the host answers well within it; a
# wrong host or port, which fails the same way, is told after it, not never.
START_WAIT = LEDGER_WAIT.convert("10m", None, None)
NO_WAIT = dt.timedelta(0)  # run --once: cron runs it again soon enough
T = TypeVar("T")

if TYPE_CHECKING:
    from warmup.ledger import FaultHold, Ledger
    from warmup.outbox.view import LiveView
    from warmup.outbox.worker import Worker


@cli.command()
@click.option(
    "--pool",
    metavar="NAME",
    shell_complete=complete_pool,
    help="Only the messages queued to this pool.",
)
@click.option("--once", is_flag=True, help="Send what is due now, say when the next is due, exit.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="SMTP timeout: seconds (60) or a duration (90s, 2m).",
)
@click.option(
    "--sync-every",
    metavar="DURATION",
    type=EVERY,
    default="10m",
    show_default=True,
    help="Sync the mailboxes' bounces over IMAP this often (and at once on new mail, by IDLE).",
)
@click.option("--no-sync", is_flag=True, help="Do not sync bounces over IMAP.")
@click.option(
    "--suppress-soft",
    is_flag=True,
    help="After a sync, suppress the addresses that keep soft-bouncing for its mailbox, as "
    "'suppress soft --apply' does (else a log line names how many).",
)
@click.option("--no-view", is_flag=True, help="One log line per event, even on a terminal.")
@click.option(
    "--ledger-wait",
    metavar="DURATION",
    type=LEDGER_WAIT,
    help="At start, wait this long for a ledger server that does not answer (restarting, "
    "unreachable), trying again after 1, 2, 4 ... 30 s, before exit 69 (75: it answered "
    "with no connection slot left).  [default: 10m; with --once: no wait, unless typed]",
)
@password_option
@db_option
def run(
    pool: str | None,
    once: bool,
    timeout: float,
    sync_every: dt.timedelta,
    no_sync: bool,
    suppress_soft: bool,
    no_view: bool,
    ledger_wait: dt.timedelta | None,
    password_command: str | None,
) -> int:
    """Send queued messages through the gate, each from the mailbox the plan allows soonest,
    for as long as there is work (SIGTERM or Ctrl-C: the message in flight is finished, then
    exit 0). On a terminal, a live view shows each mailbox's state and sent/quota today, each
    campaign's progress and the last events; otherwise (or with --no-view, NO_COLOR or
    TERM=dumb) one line per event. With --once (cron): what is due now, then exit 0; or 78
    (configuration) / 77 (login refused) / 69 (sender refused at MAIL FROM for good) when a
    message could go from none of its mailboxes because each failed for such a fault, so that
    cron tells someone, then 75 on each pass that sends nothing while such messages wait after
    it (waiting for quota, pacing or a pause is no fault: 0).

    Bounces are synced over IMAP (INBOX, as 'warmup bounces sync') for the mailboxes it sends
    for: first before sending, then every --sync-every, and at once when IMAP IDLE says mail
    arrived. A failed sync is logged and sending goes on. A sync that records bounces then
    looks, as 'bounces sync' does, for the mailbox's addresses that keep soft-bouncing: a log
    line names them, or --suppress-soft suppresses them.

    A ledger server that does not answer at start (restarting, out of connection slots) is
    waited for as while running, up to --ledger-wait; once it has answered, as long as it takes.
    A refused login (77), a database that does not exist or holds no warmup ledger (78) stop
    it at once.

    \b
    Example:
        warmup run --pool outreach
        warmup run --once
        warmup run --sync-every 5m
    """
    from warmup import credentials
    from warmup.instants import now_utc
    from warmup.outbox.overflow import PASSWORD_ENV

    if no_sync and _typed("sync_every"):
        # How often to sync, with no sync at all: the run went on without a word, and one of
        # the two was not what the user meant (as '-q -v'). The config file's sync_every under
        # a typed --no-sync is a default that does not apply, not a request.
        from warmup import config
        from warmup.errors import UsageError

        off = "--no-sync" if _typed("no_sync") else f"no_sync in the config file {config.path()}"
        raise UsageError(
            f"--sync-every sets how often the run syncs bounces, which {off} turns off: "
            "drop one of them"
        )
    if suppress_soft and no_sync and _typed("suppress_soft"):
        # Streaks are looked for after the run's syncs: with none, the flag did nothing, and
        # the script that asked for it went on mailing the full mailboxes, whether --no-sync
        # or the config file's no_sync turned them off. (The config file's suppress_soft
        # under --no-sync is a default that does not apply, not a request.)
        from warmup import config
        from warmup.errors import UsageError

        off = "--no-sync" if _typed("no_sync") else f"no_sync in the config file {config.path()}"
        raise UsageError(
            f"--suppress-soft acts after the run's bounce syncs, which {off} turns off: "
            "drop one of them ('warmup suppress soft --apply' suppresses without a run)"
        )
    from warmup.outbox.worker import Worker
    from warmup.wrap import shed_password

    # The notify and password commands it starts must not read its secrets in /proc/PPID/environ
    # (before the ledger is opened: the process may be executed again in place).
    shed_password(handed=(*credentials.HANDED_VARS, PASSWORD_ENV))

    from warmup import cli as root

    if root.STDOUT_CLOSED:
        # Started without a standard output (a supervisor's '>&-'): its lines are a log
        # nobody asked for, not an answer lost; the sends go on.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the process's stdout until exit)
    # Checked with --no-sync too (by its type): a script's typo would surface only the day it
    # drops the flag.
    every = None if no_sync else sync_every
    # 'suppress soft's measure as the config file sets it: a bad one stops the run before it
    # sends (exit 78), as it stops 'bounces sync' before it reads.
    soft = (3, 7)
    if every is not None:
        from warmup.cli.bounces import soft_measure

        soft = soft_measure()
    view: LiveView | None = None  # made once the ledger answers
    lost: list[str] = []  # why stdout could not take a line: the worker stops
    stopper: list[Worker] = []
    halted: list[bool] = []  # a stop came before the worker was made
    heard = _Heard()

    def log(line: str) -> None:
        try:
            (view.log if view is not None else click.echo)(_safe(line))
        except OSError as exc:
            from warmup.cli import _output_lost

            if not _output_lost(exc):  # stdout's reader gone, a full disk: now /dev/null
                raise
            # A lost log line must not leave the message it reports unsettled (recovered by
            # the next run, if any), nor look like a clean stop: the worker finishes the
            # message in flight, as for SIGTERM, and the exit code says it stopped early.
            lost.append(exc.strerror or type(exc).__name__)
            for worker in stopper:
                worker.stop()

    def view_lost(exc: OSError) -> None:
        from warmup.cli import _to_null

        # As a log line lost: the message in flight finished, then the exit says so (74). Its
        # unwritten lines go nowhere, not into a failing flush at exit.
        _to_null(sys.stdout)
        lost.append(exc.strerror or type(exc).__name__)
        for worker in stopper:
            worker.stop()

    def stop(*_: object) -> None:
        if not stopper:  # before the worker is made, nothing in flight: it stops now
            halted.append(True)
            raise KeyboardInterrupt
        _stop(stopper[0], view, heard)

    # --quiet (cron): a message sent, what the worker waits for, the ledger back are
    # confirmations
    note = log if verbosity() >= 0 else (lambda line: None)

    def make(ledger: Ledger) -> Worker:
        """The worker on ``ledger`` (and its view, on a terminal)."""
        nonlocal view
        drawn = None
        if not no_view and _terminal():
            from warmup.outbox.view import LiveView

            view = drawn = LiveView(ledger, sys.stdout, pool=pool)
            drawn.on_lost = view_lost
        return Worker(
            ledger,
            pool=pool,
            log=log,
            note=note,
            sleep=(lambda s: drawn.sleep(s, stopper[0].wait)) if drawn is not None else None,
            password_command=password_command,
            timeout=timeout,
            sync_every=every,
            soft=soft,
            suppress_soft=suppress_soft,
            # how many messages a held pool leaves waiting is said by confirmations alone
            # (the summary, the "waiting: N messages" line): quiet, their count is not read
            count_waiting=verbosity() >= 0,
        )

    # The config file's ledger_wait is for the service that keeps running: --once waits only
    # when told to on its command line (a cron job waited the service's hour, run after run).
    if ledger_wait is None or once and not _typed("ledger_wait"):
        ledger_wait = NO_WAIT if once else START_WAIT
    patience = ledger_wait
    # The handlers stay until the worker is closed, then the caller's are back (CliRunner, a
    # script calling the command: theirs were left replaced by one that stops a worker gone).
    with _stop_signals(stop, heard):
        try:
            worker = _start(make, patience, once, log, note)
        except KeyboardInterrupt:
            if not halted:
                raise
            click.echo("Stopped.")  # while it waited for the ledger: nothing was begun
            return 0
        # A password command's complaint on the terminal goes above the view, not under it
        shown = (
            credentials.command_errors_to(view.above)
            if view is not None
            else contextlib.nullcontext()
        )
        with worker, shown:
            stopper.append(worker)
            if lost:  # a line lost while it waited for the ledger, when no worker was to stop
                worker.stop()
            if view is not None:
                view.draw()  # after the handlers: once it shows, SIGTERM stops it cleanly
            if not once:
                worker.run()
                if view is not None:
                    view.close()
                if lost:
                    return _output_gone(lost[0])
                click.echo("Stopped.")
                return 0
            done = worker.run_once()
            # read only here, and only after a pass that sent nothing and met no fault
            held = worker.fault_holds(done)
            if view is not None:
                view.close()
    if lost:
        return _output_gone(lost[0])
    counts = ", ".join(f"{n} {what}" for what, n in sorted(done.outcomes.items()))
    # The summary is a confirmation: --quiet (cron) drops it; a fault's Error line stays.
    say(f"Done: {counts or 'nothing was due'}.")
    for why, n in done.waiting.most_common(3):  # why nothing went, say, every member paused
        say(f"Waiting ({n}): {_safe(why)}")
    due_later = done.next_due is not None and done.next_due > now_utc()
    if not done.waiting and done.next_why and due_later:  # held by an earlier run: its reason
        # its first line: a refused login's setup checklist, kept to 500 characters in the
        # ledger, was cut off mid-word here (and the try's own line gave it whole)
        say(f"Waiting: {_safe(done.next_why.splitlines()[0])}")
    if done.next_due is None:
        say("Nothing is queued.")
    elif done.next_held:
        from warmup.outbox.worker import HELD_DUE

        say(f"{HELD_DUE[0].upper()}{HELD_DUE[1:]}.")
    else:
        from warmup.outbox.worker import due_said

        said = due_said(done.next_due, done.next_expires)
        say(f"{said[0].upper()}{said[1:]}.")
    if done.fault_code:  # a person must act: one line on stderr, and the exit code says so
        n = sum(done.faults.values())
        click.echo(
            f"Error: {plural(n, 'message')} could go from no mailbox, each refused for a fault "
            f"to fix: {_safe(done.fault_why)}",
            err=True,
        )
        return done.fault_code
    for why in done.unreadable:  # left out, never sent: a person must mend the row
        click.echo(f"Error: {_safe(why)}", err=True)
    if done.unreadable:
        return 65  # EX_DATAERR
    if held:  # waiting for a fault an earlier pass met: cron must hear it on every pass
        click.echo(_held_line(held), err=True)
        return 75  # EX_TEMPFAIL
    return 0


def _held_line(held: list[FaultHold]) -> str:
    """The one line of ``run --once`` whose pass sent nothing while messages wait for a fault
    an earlier pass met (``held``, the first tried again first): where, the fault in words,
    until when (this machine's local time) and what to do."""
    from warmup.instants import local_text, machine_zone

    n = sum(h.messages for h in held)
    where = [f"pool {h.pool}" if h.pool is not None else f"mailbox {h.mailbox}" for h in held]
    if len(held) == 1:
        what = f"{plural(n, 'message')} of {where[0]} {'is' if n == 1 else 'are'}"
    else:
        each = ", ".join(f"{h.messages} of {w}" for h, w in zip(held, where, strict=True))
        what = f"{plural(n, 'message')} ({each}) are"
    first = held[0]
    why = (first.why or "").splitlines()
    fault = f": {_safe(why[0])}" if why and why[0] else ""
    # rounded up to the second, as 'Next message due at' is: a run at that second tries them
    until = first.until
    if until.microsecond:
        until = until.replace(microsecond=0) + dt.timedelta(seconds=1)
    when = local_text(until, machine_zone(), "%Y-%m-%d %H:%M:%S %Z")
    return (
        f"Error: {what} held after a fault of the configuration{fault}; held until {when}, "
        f"when 'warmup run --once' tries {'it' if n == 1 else 'them'} again: fix the fault "
        f"first ('warmup mailbox login ADDRESS' and 'warmup mailbox set ADDRESS ...' make "
        f"the messages due at once; 'warmup queue retry {first.first}' one message)"
    )


def _start(
    make: Callable[[Ledger], Worker],
    patience: dt.timedelta,
    once: bool,
    log: Callable[[str], None],
    note: Callable[[str], None],
) -> Worker:
    """``make(ledger)`` on the invocation's ledger (--db, $WARMUP_DB), the ledger waited for
    as a running worker waits for it (:mod:`warmup.outbox.away`): up to ``patience`` while its
    server has never answered (a server restarting and a wrong host or port look the same);
    once it has answered with a warmup ledger, the URL is right, and a drop before the first
    pass is waited for as long as it takes, as one under a pass is (--once: up to
    ``patience`` still). The error after the wait says how long it was."""
    from warmup.instants import now_utc
    from warmup.outbox.away import AWAY, until_answered

    ctx = click.get_current_context()
    give_up = now_utc() + patience

    def waited(step: Callable[[], T], until: dt.datetime | None) -> T:
        return until_answered(
            step,
            what="start-up",
            log=log,
            note=note,
            sleep=time.sleep,
            clock=now_utc,
            give_up=until,
        )

    try:
        ledger = waited(lambda: ledger_from(ctx), give_up)
        worker = waited(lambda: make(ledger), give_up if once else None)
    except AWAY as exc:
        if patience <= NO_WAIT:
            raise
        raise type(exc)(f"{exc}; waited {patience} for it (--ledger-wait)") from None
    return worker


@contextlib.contextmanager
def _stop_signals(handler: Callable[..., None], heard: _Heard | None = None) -> Iterator[None]:
    """SIGTERM, SIGINT (and SIGHUP, once) call ``handler`` within the block; the handlers
    before it are put back after it, however it ends (and ``heard`` stops listening). Off the
    main thread (a
    caller's thread) Python lets no handler be set: those signals stay the caller's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    # A hang-up (the terminal or SSH session closed) killed the worker mid-conversation, its
    # message left 'unknown' for a person; it now stops as SIGTERM's first does, however often
    # it comes (a terminal's and its shell's). Under nohup (ignored) it stays ignored.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        before[signal.SIGHUP] = signal.signal(signal.SIGHUP, _hang_up(handler))
    try:
        yield
    finally:
        if heard is not None:
            heard.close()
        for sig, old in before.items():
            # None: a handler set outside Python; the default is the nearest we can restore
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _hang_up(handler: Callable[..., None]) -> Callable[..., None]:
    """``handler`` for the first SIGHUP only: a stop to finish the message in flight, never
    the second signal's stop at once."""
    told: list[bool] = []

    def hang_up(*args: object) -> None:
        if not told:
            told.append(True)
            handler(*args)

    return hang_up


class _Heard:
    """After the first stop, a SIGTERM or SIGINT the main thread has not acted on within a
    moment is sent to that thread again.

    CPython runs a signal's handler on the main thread between two bytecodes. A signal that
    arrives while that thread runs Python code (the first stop's handler writing its line, say)
    or that lands on another thread only sets a flag, which a socket wait entered afterwards
    does not look at: a second SIGTERM sent right after the first's line waited for the
    server's reply, up to the SMTP timeout. The wakeup fd hears each signal at once, whatever
    the main thread does; a thread reading it sends the same signal again to the main thread,
    whose wait it interrupts this time (one handler call for both: a signal's flag is one)."""

    GRACE = 0.25  # seconds the main thread has to act on a signal before it is sent again
    TRIES = 40

    def __init__(self) -> None:
        self.acted = threading.Event()
        self._fds: tuple[int, int] | None = None
        self._before = -1

    def listen(self) -> None:
        """From the first stop's handler (the main thread): hear the signals after it."""
        if self._fds is not None:
            return
        r, w = os.pipe()
        os.set_blocking(w, False)  # as set_wakeup_fd wants: a full pipe drops a byte, not waits
        try:
            before = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: nothing to hear
            os.close(r)
            os.close(w)
            return
        if before != -1:  # an event loop's: left to it
            signal.set_wakeup_fd(before)
            os.close(r)
            os.close(w)
            return
        self._fds = (r, w)
        main = threading.main_thread().ident
        assert main is not None
        threading.Thread(
            target=self._resend, args=(r, main), name="warmup-heard", daemon=True
        ).start()

    def _resend(self, r: int, main: int) -> None:
        tries = self.TRIES
        try:
            # Read until close() closes the write end (EOF): closed here first, a signal's byte
            # written to the wakeup fd meanwhile failed, and Python printed "Exception ignored
            # when trying to write to the signal wakeup fd" and a BrokenPipeError traceback.
            while got := os.read(r, 64):
                if self.acted.is_set() or tries <= 0:
                    continue  # heard, no more to do
                tries -= 1
                stops = [n for n in got if n in (signal.SIGTERM, signal.SIGINT)]
                if stops and not self.acted.wait(self.GRACE) and self._fds is not None:
                    signal.pthread_kill(main, stops[-1])
        except OSError:  # closed under it: the block is over
            pass
        finally:
            os.close(r)

    def close(self) -> None:
        if self._fds is None:
            return
        signal.set_wakeup_fd(-1)
        os.close(self._fds[1])  # the reading thread sees its end, and closes its own
        self._fds = None


def _output_gone(why: str) -> int:
    """The worker stopped because stdout could not take its lines: one line on stderr, and
    EX_IOERR (a '| tee log' whose tee died is not a clean stop)."""
    from warmup.cli import _complain

    _complain(
        f"Error: cannot write the output ({why}): stopped after the message in flight; the "
        f"rest stays queued for the next 'warmup run'"
    )
    return 74  # EX_IOERR


def _stop(worker: Worker, view: LiveView | None, heard: _Heard | None = None) -> None:
    """SIGTERM or Ctrl-C: the first finishes the message in flight, and says so at once (a
    server slow to answer kept a silent worker running up to the SMTP timeout, and the user
    reached for kill -9); the second stops now, the message settled from the gate's slots as
    for any interruption (unknown once it may have left: never sent twice), exit 130."""
    if worker.stopping:
        if heard is not None:
            heard.acted.set()
        raise KeyboardInterrupt
    if heard is not None:  # before the line: a second signal sent on seeing it is heard
        heard.listen()
    # Read before the stop: the stop ends the wait. Idle, "the message in flight" named one
    # that was not there (the stop is at once: no second signal is needed).
    idle = worker.idle
    worker.stop()
    # os.write, not click.echo: a handler may run inside a buffered write of the main thread.
    line = (
        "Stopping now: the worker was waiting, no message in flight."
        if idle
        else "Stopping after the message in flight (SIGTERM or Ctrl-C again to stop at once)."
    )
    try:
        os.write(2, f"{line}\n".encode())
    except OSError:  # stderr closed: the stop goes on
        return
    if view is not None and os.isatty(2):  # under the view: redrawn over, and kept in it
        view.note(line)


def _typed(name: str) -> bool:
    """Whether the running command's parameter ``name`` was given on its command line (not by
    the config file or the environment)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) is ParameterSource.COMMANDLINE


def _terminal() -> bool:
    """Whether stdout is a terminal that may be drawn on (not TERM=dumb, no NO_COLOR)."""
    return (
        sys.stdout is not None
        and sys.stdout.isatty()
        and os.environ.get("TERM", "") != "dumb"
        and not os.environ.get("NO_COLOR")
    )


def _safe(text: str) -> str:
    """A log line as a terminal should show it: a server's reply (or a header) quoted in it
    may hold control characters, shown as escapes (its own line breaks kept)."""
    return "\n".join(shown(line) for line in text.split("\n"))
