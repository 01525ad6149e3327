"""``warmup send ADDRESS -- COMMAND``: run a command behind the loopback relay.

    code = run_wrapped(gate, ["python", "outreach.py"], wait=True)

The command gets the relay's one-time credentials in its environment (never the mailbox's
secret, see :meth:`warmup.relay.Relay.child_env`) and a ``sendmail`` shim first on its PATH;
SIGINT, SIGTERM and SIGHUP are forwarded to it and its exit code is returned. Keeping this
process fit to run it lives here too: :func:`shed_password` (no WARMUP_PASSWORD in what the
command can read of this process) and :func:`clean_stale_shims` (folders of killed runs).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warmup import credentials
from warmup.errors import ConfigError
from warmup.gate import Gate
from warmup.relay import MAX_HOLD, Relay

SHIM_PREFIX = "warmup-relay-"


def shed_password(on_exec: Callable[[], object] | None = None) -> None:
    """Make sure a wrapped command cannot read WARMUP_PASSWORD from this process.

    Removing it from ``os.environ`` is not enough: /proc/PID/environ shows the environment the
    process was started with, and a command of the same user can read it. So, when
    WARMUP_PASSWORD is set and this process is a ``warmup`` command line, re-execute it in
    place (same PID, standard streams, parent and signals) without the variable, handing the
    password over through an inherited pipe (:func:`warmup.credentials.hand_over`); ``on_exec``
    runs first (close what the new image would not use). In the re-executed process, read
    that pipe now, before any command starts. Returns unless it re-executes.
    """
    password = os.environ.get("WARMUP_PASSWORD")
    argv = _own_argv()
    if not password or argv is None:
        credentials.take_handed_over()
        return
    fd = credentials.hand_over(password)
    env = {k: v for k, v in os.environ.items() if k != "WARMUP_PASSWORD"}
    env[credentials.HANDOVER_VAR] = str(fd)
    if on_exec is not None:
        on_exec()
    sys.stdout.flush()
    sys.stderr.flush()
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
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m warmup sendmail "$@"\n')
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
    # The owner's PID in the name lets a later run tell a killed run's folder from a live one.
    with tempfile.TemporaryDirectory(prefix=f"{SHIM_PREFIX}{os.getpid()}-") as shim_dir:
        write_shim(Path(shim_dir))
        relay.start()
        try:
            code = _run_child(command, relay.child_env(shim_dir))
        finally:
            relay.stop()
    print(relay.summary(), file=sys.stderr, flush=True)
    return code


def _run_child(command: list[str], env: dict[str, str]) -> int:
    try:
        proc = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        print(f"warmup: {command[0]}: command not found", file=sys.stderr)
        return 127
    except OSError as exc:  # EACCES, ENOEXEC, ENOTDIR, E2BIG, ...: found but not run, as sh says
        why = (exc.strerror or type(exc).__name__).lower()
        print(f"warmup: {command[0]}: {why}", file=sys.stderr)
        return 126

    def forward(signum: int, _frame: object) -> None:
        # Ctrl-C at a terminal already reached the child (same foreground process group);
        # sending it again would interrupt the child's own clean-up.
        if signum == signal.SIGINT and _terminal_sent_it():
            return
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    handlers: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            handlers[sig] = signal.signal(sig, forward)
    try:
        rc = proc.wait()
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
    return 128 - rc if rc < 0 else rc


def _terminal_sent_it() -> bool:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
