"""``warmup send ADDRESS -- COMMAND``: run a command behind the loopback relay.

    code = run_wrapped(gate, ["python", "outreach.py"], wait=True)

The command gets the relay's one-time credentials in its environment (never the mailbox's
secret, see :meth:`warmup.relay.Relay.child_env`) and a ``sendmail`` shim first on its PATH;
SIGINT (unless a terminal's ^C, which reached it already), SIGTERM and SIGHUP are forwarded to
it and its exit code is returned; they never end this process while the relay runs. Processes
it leaves running are adopted and waited for (:func:`_wait_for_orphans`). Keeping this
process fit to run it lives here too: :func:`shed_password` (no WARMUP_PASSWORD in what the
command can read of this process) and :func:`clean_stale_shims` (folders of killed runs).
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from warmup import credentials, procenv
from warmup.errors import ConfigError
from warmup.gate import Gate
from warmup.lazyre import compiled_later
from warmup.relay import MAX_HOLD, Relay
from warmup.relaytls import RUN_FOLDERS
from warmup.words import plural

SHIM_PREFIX = RUN_FOLDERS  # the relay certificate's folders share it


def shed_password(
    on_exec: Callable[[], object] | None = None,
    handed: tuple[str, ...] = credentials.HANDED_VARS,
) -> None:
    """Make sure a wrapped command cannot read WARMUP_PASSWORD (nor the overflow channel's
    password or the OAuth client secret) from this process.

    Removing them from ``os.environ`` is not enough: /proc/PID/environ shows the environment the
    process was started with, and a command of the same user can read it. ``warmup`` blanks
    their entries there as it starts (:func:`warmup.procenv.hide_initial_secrets`); the
    command's environment is built without them (:meth:`warmup.relay.Relay.child_env`,
    :func:`~warmup.credentials.child_env`), so that is enough when it worked. When it did not
    (no /proc, a kernel refusing the write: :func:`warmup.procenv.shows` does not say no) and
    this process is a ``warmup`` command line, re-execute it in place (same PID, standard
    streams, parent and signals) without them, handing those it uses
    (``handed``: by default :data:`~warmup.credentials.HANDED_VARS`) over through an inherited pipe
    (:func:`warmup.credentials.hand_over`); ``on_exec``
    runs first (close what the new image would not use). In the re-executed process, read
    that pipe now, before any command starts. Returns unless it re-executes.
    """
    shed = [k for k in credentials.SECRET_VARS if os.environ.get(k)]
    shed = [k for k in shed if k not in ("WARMUP_PASSWORD_COMMAND", credentials.HANDOVER_VAR)]
    argv = _own_argv()
    if shed and argv is not None and procenv.shows(shed) is False:
        # Blanked in place: no whole interpreter start again. os.environ keeps them for this
        # process; the C library's environ (what a child started without an environment of
        # its own inherits) no longer has them, as the new image's would not.
        for name in shed:
            os.unsetenv(name)
        shed = []
    if not shed or argv is None:
        credentials.take_handed_over()
        return
    fd = credentials.hand_over({k: os.environ[k] for k in handed if k in shed})
    env = {k: v for k, v in os.environ.items() if k not in shed}
    env[credentials.HANDOVER_VAR] = str(fd)
    if on_exec is not None:
        on_exec()
    for number, stream in enumerate((sys.stdin, sys.stdout, sys.stderr)):
        if stream is None:
            # Started with that descriptor closed ('>&-'): whatever took its number since
            # (a ledger file) is no stream; the new image must find it closed too.
            try:
                os.close(number)
            except OSError:
                pass
        elif number:
            stream.flush()
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(
            f"cannot re-execute warmup without WARMUP_PASSWORD in its "
            f"environment ({exc.strerror}); use --password-command or 'warmup "
            f"mailbox login' for a wrapped command"
        ) from None


def _own_argv() -> list[str] | None:
    """This process's command line if it is ``warmup`` (the script or ``python -m warmup``)
    on a system where exec replaces the process; else None (e.g. the library inside another
    program, which must not be re-executed)."""
    main = Path(sys.argv[0])
    ours = main.name == "warmup" or (main.name == "__main__.py" and main.parent.name == "warmup")
    if os.name != "posix" or not ours or len(sys.orig_argv) < 2:
        return None
    return [sys.executable, *sys.orig_argv[1:]]


def clean_stale_shims(root: str | None = None) -> list[Path]:
    """Remove the shim folders (``warmup-relay-PID-*`` in the temporary directory) that
    wrapped runs killed with no chance to clean up left behind: only this user's, and only
    those whose warmup process PID is gone. Returns the folders removed."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{SHIM_PREFIX}*"):
        m = re.fullmatch(rf"{SHIM_PREFIX}(\d{{1,9}})-.+", path.name)
        try:
            st = path.lstat()
        except OSError:
            continue
        if (
            m is None
            or not stat.S_ISDIR(st.st_mode)
            or st.st_uid != os.getuid()
            or _alive(int(m.group(1)))
        ):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process of its own: never guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process: it exists
    return True


def write_shim(folder: Path) -> Path:
    """An executable ``sendmail`` that submits through the relay via ``warmup sendmail``."""
    path = folder / "sendmail"
    # -P: `-m` would put the command's working directory first on sys.path, and a warmup.py or
    # warmup/ of the script's own project would run in place of warmup (exit 0, nothing sent).
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -P -m warmup sendmail "$@"\n')
    path.chmod(0o755)
    return path


def run_wrapped(
    gate: Gate,
    command: list[str],
    wait: bool,
    *,
    host: str = "127.0.0.1",
    max_hold: float = MAX_HOLD,
) -> int:
    """Run ``command`` behind a relay for ``gate``; its exit code (128+N if killed by signal N)."""
    return run_relay(Relay(gate, wait=wait, host=host, max_hold=max_hold), command)


def run_relay(relay: Relay, command: list[str]) -> int:
    """Run ``command`` behind ``relay`` (not started yet), then print its summary; the
    command's exit code."""
    clean_stale_shims()
    # Held from before the relay's threads start (they inherit the mask) until the relay has
    # stopped: a SIGTERM or SIGINT can neither end this process between starting the command
    # and forwarding to it (leaving the command running against a vanished relay) nor while a
    # delivery the command started is being settled.
    with _held_signals() as held:
        # The owner's PID in the name lets a later run tell a killed run's folder from a live
        # one.
        with tempfile.TemporaryDirectory(prefix=f"{SHIM_PREFIX}{os.getpid()}-") as shim_dir:
            write_shim(Path(shim_dir))
            relay.start()
            started = False
            try:
                code = _run_child(command, relay.child_env(shim_dir), held, relay)
                started = True
            except _NotStarted as exc:
                code = exc.code
            finally:
                relay.stop()
    if started:  # a command that never ran sent nothing: its one line says why, as sh's
        print(relay.summary(), file=sys.stderr, flush=True)
    if relay.fatal is not None:  # a newer warmup upgraded the ledger under the relay: 78
        raise relay.fatal
    return code


class _NotStarted(Exception):
    """The command could not be started (its line said why): exit ``code``, as sh's."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_CHILD_DONE = signal.SIGCHLD  # sent to the main thread by the thread that reaped the command
_SI_KERNEL = 0x80  # si_code (Linux) of a signal the kernel raised: a terminal's ^C, ^\\, hangup


@contextmanager
def _held_signals() -> Iterator[bool]:
    """Block the forwarded signals (and SIGCHLD) in this thread, and so in the threads it
    starts, so that :func:`_run_child` takes each with its sender (``sigwaitinfo``): a
    terminal's ^C, which reached the command already, from a ``kill -INT`` by another process,
    which must be forwarded. Yields whether they are held (only the main thread, where
    Python's handlers run, can; elsewhere the command is simply waited for). On the way out,
    what arrived once the command had ended is dropped: its fate is decided."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "sigwaitinfo"
    ):
        yield False
        return
    held = {*_FORWARDED, _CHILD_DONE}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield True
    finally:
        while signal.sigpending() & held:
            signal.sigwaitinfo(signal.sigpending() & held)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _not_run(path: str, exc: OSError) -> str:
    """Why ``path`` was found but not run, as sh words it. execve() answers EACCES for a
    directory, and "permission denied" sent root (whom modes do not stop) after permissions."""
    if exc.errno == errno.EACCES and os.path.isdir(path):
        return "is a directory"
    return (exc.strerror or type(exc).__name__).lower()


def _spawn(command: list[str], env: dict[str, str]) -> int:
    """Start ``command`` (looked up on ``env``'s PATH, as subprocess does) with no signal
    blocked, SIGPIPE and SIGXFSZ back to their defaults (Python ignores them) and no
    inherited descriptor but the standard three; its PID."""
    path = command[0]
    if os.sep not in path:
        found = shutil.which(path, path=os.pathsep.join(os.get_exec_path(env)))
        if found is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        path = found
    close = []
    try:
        close = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    except OSError:  # no /proc: descriptors Python opened are not inherited anyway
        pass
    actions = []
    for fd in close:
        try:
            if os.get_inheritable(fd):
                actions.append((os.POSIX_SPAWN_CLOSE, fd))
        except OSError:  # the listing's own descriptor, closed by now
            continue
    return os.posix_spawn(
        path,
        command,
        env,
        file_actions=actions,
        setsigmask=(),
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )


def _run_child(
    command: list[str], env: dict[str, str], held: bool = False, relay: Relay | None = None
) -> int:
    if held and signal.sigpending() & set(_FORWARDED):
        # Interrupted or terminated before the command started: it is not started.
        return 128 + min(signal.sigpending() & set(_FORWARDED))
    # None, or the children this thread had before the command (a library caller's own):
    # never the command's orphans, never waited for nor reaped here.
    own = _adopt_orphans() if held and relay is not None else None
    try:
        return _run_adopting(command, env, held, relay, own)
    finally:
        if own is not None:
            _stop_adopting()


def _shown_name(word: str) -> str:
    """The command's first word as the line saying it did not start quotes it: a whole command
    line given as one word (``-- "curl -u bot:TOKEN ..."``, as a notify command is written) with
    what looks like a secret masked, as a notify or password command is shown. So is one word
    holding one: ``-- API_KEY=sk-... python send.py`` (the shell passes an assignment after
    ``--`` as the command's name) and a URL with its password were quoted whole."""
    from warmup.cmdsecrets import masked_command

    shown = masked_command(word)
    if shown.startswith("(a command that"):  # a quote shlex cannot split
        return word if not any(c.isspace() for c in word) else "(a command)"
    return shown


# NAME=VALUE as the command: the shell sets a variable so only before a command, not after '--'
_ASSIGNED = compiled_later(r"[A-Za-z_][A-Za-z0-9_]*=")


def _not_found(word: str) -> str:
    """The line for a command not found, with what to write for an assignment given as one."""
    line = f"warmup: {_shown_name(word)}: command not found"
    if _ASSIGNED.match(word):
        line += "; to set a variable for the command, write: env NAME=VALUE COMMAND"
    return line


def _interpreter_missing(word: str, env: dict[str, str]) -> str | None:
    """Why a command that is there failed to start with ENOENT, or None when it is not there.

    execve() answers ENOENT for a script whose ``#!`` interpreter does not exist (a
    ``#!/usr/bin/python3`` written on another system, a ``#!`` line ending in CR) and for a
    program whose loader is missing: "command not found" sent its user to look for a file
    that was right there. 127, as bash says "cannot execute: required file not found"."""
    path = (
        word if os.sep in word else shutil.which(word, path=os.pathsep.join(os.get_exec_path(env)))
    )
    if path is None or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return "cannot execute: required file not found (a program for another system, without its loader?)"
    line = head[2:].split(b"\n", 1)[0]
    words = line.split()
    interpreter = os.fsdecode(words[0]) if words else ""
    if line.endswith(b"\r"):
        return (
            f"its #! line ends in a carriage return (Windows line ends), so its interpreter "
            f"{interpreter!r} is not found: convert the file (dos2unix {shlex.quote(path)})"
        )
    return (
        f"its interpreter {interpreter!r} (the #! line) is not found: install it, or change "
        f"that line (#!/usr/bin/env python3 finds one on PATH)"
    )


def _run_adopting(
    command: list[str],
    env: dict[str, str],
    held: bool,
    relay: Relay | None,
    own: frozenset[int] | None,
) -> int:
    try:
        pid = _spawn(command, env)
    except FileNotFoundError:
        missing = _interpreter_missing(command[0], env)
        if missing is not None:  # the file is there: what is not is what runs it
            print(f"warmup: {_shown_name(command[0])}: {missing}", file=sys.stderr)
        else:
            print(_not_found(command[0]), file=sys.stderr)
        raise _NotStarted(127) from None
    except OSError as exc:  # EACCES, ENOEXEC, ENOTDIR, E2BIG, ...: found but not run, as sh says
        why = _not_run(command[0], exc)
        print(f"warmup: {_shown_name(command[0])}: {why}", file=sys.stderr)
        raise _NotStarted(126) from None
    if not held:
        return _exit_code(os.waitpid(pid, 0)[1])
    status: list[int] = []
    sent: list[int] = []  # the signals forwarded to the command, in order
    main = threading.get_ident()

    def reap() -> None:
        status.append(os.waitpid(pid, 0)[1])
        signal.pthread_kill(main, _CHILD_DONE)

    def forward(signum: int, _frame: object) -> None:
        # Only for a signal that reached a thread started before the mask (none holds it):
        # no sender is known, so a terminal is guessed from the foreground process group.
        if not (signum == signal.SIGINT and _terminal_sent_it()):
            sent.append(signum)
            _kill(pid, signum)

    handlers = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        reaper = threading.Thread(target=reap, name="warmup-wrapped", daemon=True)
        reaper.start()
        while not status:
            info = signal.sigwaitinfo({*_FORWARDED, _CHILD_DONE})
            # A terminal's ^C went to its whole foreground process group, the command
            # included; sending it again would interrupt the command's own clean-up.
            if info.si_signo == signal.SIGINT and info.si_code == _SI_KERNEL:
                continue
            if info.si_signo != _CHILD_DONE:
                sent.append(info.si_signo)
                _kill(pid, info.si_signo)
            elif own is not None:  # an orphan may have ended: not left a zombie for the run
                _orphans(own | {pid})
        reaper.join()  # its signal to this thread is pending now: dropped with the mask
        if own is not None:
            assert relay is not None
            _wait_for_orphans(relay, own, sent)
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
    return _exit_code(status[0])


_PR_SET_CHILD_SUBREAPER = 36  # prctl(2), Linux 3.4
_PR_GET_CHILD_SUBREAPER = 37


def _adopt_orphans() -> frozenset[int] | None:
    """Become the reaper of the command's orphans (Linux): a process the command started and
    did not wait for (``send_one.sh &`` in a loop without ``wait``) becomes this process's
    child when the command exits, instead of init's, so the relay can stay up until it is done
    (:func:`_wait_for_orphans`). Without warmup it would have sent after the script ended.

    Returns the children this thread has already (a program using warmup as a library may
    have its own: they are not the command's, and its subprocess objects wait for them), or
    None when it cannot adopt. :func:`_stop_adopting` undoes it."""
    global _was_subreaper
    if not sys.platform.startswith("linux") or not os.path.exists(_children_file()):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        was = ctypes.c_int(0)
        if libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0) != 0:
            return None
        own = frozenset(_children())  # before the flag: any orphan after it is the command's
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return None
    except (OSError, AttributeError):
        return None
    _was_subreaper = bool(was.value)
    return own


_was_subreaper = False


def _stop_adopting() -> None:
    """No longer the reaper of orphans (unless it was before :func:`_adopt_orphans`): a
    library caller's later background processes go to init again, not to it as zombies."""
    if _was_subreaper:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _children() -> list[int]:
    """This thread's children (see :func:`_children_file`); none if it cannot be read."""
    try:
        with open(_children_file(), encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def _children_file() -> str:
    # An orphan goes to the reaper's first live thread, this (main) one, whose tid is the PID;
    # a child another thread started (a password command, the notify command) is listed
    # under that thread and never reaped here.
    return f"/proc/self/task/{os.getpid()}/children"


ORPHAN_TICK = 0.2  # seconds between looks at the orphans left


def _orphans(besides: frozenset[int] | set[int] = frozenset()) -> list[int]:
    """The command's processes still running that were handed to this one, each finished one
    reaped (but ``besides``: the command, which its own thread waits for, and the children this
    thread had before it). A process in another session (a daemon that called setsid: an
    agent, a server) is not waited for."""
    own = os.getsid(0)
    left = []
    for pid in _children():
        if pid in besides:
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                continue  # it ended
            if os.getsid(pid) == own:
                left.append(pid)
        except (ChildProcessError, ProcessLookupError):
            continue
    return left


def _wait_for_orphans(
    relay: Relay, own: frozenset[int] = frozenset(), sent: list[int] | tuple[int, ...] = ()
) -> None:
    """Keep the relay up while processes the command left running may still send: until none
    is left, or none has talked to the relay for its idle timeout (a process that is not a
    sender: ``tail -f`` left behind), or a terminal's ^C. A signal another process sends is
    forwarded to them, and so is each one ``sent`` to the command while it ran (a SIGTERM
    that ended it ends what it left too, not the relay's idle timeout later). In the main
    thread, the forwarded signals held."""
    left = _orphans(own)
    if not left:
        return
    # Quiet time counts from now at the earliest: a command that worked longer than the idle
    # timeout without the relay, then started its senders and exited, gives them their chance.
    since = time.monotonic()
    for signum in dict.fromkeys(sent):
        for orphan in left:
            _kill(orphan, signum)
    if sent:
        left = _orphans(own)
        if not left:
            return
    print(
        f"warmup: the command exited; the relay stays up for {plural(len(left), 'process', 'processes')} it "
        f"left running (PID {', '.join(map(str, left))}) until they end or none has talked to "
        f"it for {relay.idle_timeout:g} s; ^C to stop waiting",
        file=sys.stderr,
        flush=True,
    )
    while left:
        info = signal.sigtimedwait({*_FORWARDED, _CHILD_DONE}, ORPHAN_TICK)
        if info is not None and info.si_signo in _FORWARDED:
            if info.si_signo == signal.SIGINT and info.si_code == _SI_KERNEL:
                return  # a terminal's ^C, which reached them too: the user stops waiting
            for orphan in left:
                _kill(orphan, info.si_signo)
        left = _orphans(own)
        quiet = time.monotonic() - max(relay.active_at, since)
        if left and not relay.sessions and quiet > relay.idle_timeout:
            print(
                f"warmup: stopped waiting for PID {', '.join(map(str, left))}: no connection "
                f"to the relay for {relay.idle_timeout:g} s",
                file=sys.stderr,
                flush=True,
            )
            return


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N if killed by signal N."""
    rc = os.waitstatus_to_exitcode(status)
    return 128 - rc if rc < 0 else rc


def _terminal_sent_it() -> bool:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
