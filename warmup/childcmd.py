"""A command warmup starts for the user (a password command, a notify command), held to bounds.

One deadline for the whole run (writing its input, reading its output, its exit) and at most
:data:`LIMIT` bytes of the one stream read; past either it is killed, and with it every process
it started: it runs in a session (process group) of its own, and the whole group goes, so a
``sh -c 'helper & sleep 100'`` leaves nothing running. (In its own session it has no controlling
terminal: a command that prompts on ``/dev/tty`` fails at once instead of stopping, unseen, until
the deadline.) Kept whole until the command ended (``subprocess.run(capture_output=True)``), the
output of a command printing without end filled the memory. The other output stream goes nowhere (never kept, never echoed: it may
hold a secret).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Literal

LIMIT = 65_536  # bytes


class CommandFault(Exception):
    """The command could not be run to its end; the text completes "the ... command ..."."""


class NotStarted(CommandFault):
    pass


class TooLate(CommandFault):
    pass


class TooMuch(CommandFault):
    pass


def exit_words(returncode: int) -> str:
    """How a command ended, as a person reads it: ``exit code 3``, ``killed by signal 9
    (SIGKILL)`` (subprocess's -9 is no exit code any shell or man page shows)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    return f"killed by signal {number} ({name})"


def run(
    args: str | list[str],
    *,
    timeout: float,
    env: dict[str, str],
    keep: Literal["stdout", "stderr"] = "stdout",
    data: bytes = b"",
    limit: int = LIMIT,
    started: Callable[[int], object] | None = None,
    show_other: bool = False,
    other: Callable[[bytes], object] | None = None,
) -> tuple[int, bytes]:
    """Run ``args`` (a string: through the shell) with ``data`` on its standard input; returns its
    return code and what it wrote on ``keep`` (at most ``limit`` bytes). :class:`NotStarted`,
    :class:`TooLate` past ``timeout`` seconds, :class:`TooMuch` past ``limit`` bytes.
    ``started`` is told the command's process group once it runs (for :func:`kill_group` by a
    caller that stops waiting for it before its deadline). ``show_other``: the stream not kept
    goes to warmup's own (standard error, for a person at a terminal) instead of nowhere.
    ``other``: the stream not kept is read instead (at most ``limit`` bytes of it kept) and
    handed to ``other`` once the command ended, however it ended (``warmup run``'s live view
    shows it above itself: written straight to the terminal, it went under the view and the
    next redraw wiped it)."""
    piped = subprocess.PIPE
    sink = piped if other is not None else None if show_other else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            args,
            shell=isinstance(args, str),
            stdin=piped if data else subprocess.DEVNULL,
            stdout=piped if keep == "stdout" else sink,
            stderr=piped if keep == "stderr" else sink,
            env=env,
            # Its own process group: on a fault the whole group is killed, so what it started
            # (``sh -c 'helper & sleep 100'``) does not outlive it, holding the pipe or a secret.
            start_new_session=True,
        )
    except OSError as exc:  # no shell, no such program, no process left for this user
        raise NotStarted(f"cannot be started ({exc.strerror or type(exc).__name__})") from None
    if started is not None:
        started(proc.pid)
    deadline = time.monotonic() + timeout
    late = TooLate(f"did not finish within {timeout:g} s")
    out = bytearray()
    said = bytearray()  # the other stream, for ``other``
    ended = False
    reader = proc.stdout if keep == "stdout" else proc.stderr
    aside = proc.stderr if keep == "stdout" else proc.stdout
    assert reader is not None
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(reader, selectors.EVENT_READ)
            if other is not None:
                assert aside is not None
                sel.register(aside, selectors.EVENT_READ)
            if proc.stdin is not None:
                os.set_blocking(proc.stdin.fileno(), False)
                sel.register(proc.stdin, selectors.EVENT_WRITE)
            left_to_write = memoryview(data)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise late
                if other is not None and reader not in sel.get_map():
                    # Its output read to the end: once it has exited, what it started and
                    # left holding the other stream is not waited for (as with DEVNULL).
                    if proc.poll() is not None:
                        assert aside is not None
                        _drained(aside.fileno(), said, limit)
                        break
                    left = min(left, 0.05)
                for key, _ in sel.select(left):
                    if key.fileobj is aside:
                        chunk = os.read(key.fd, 65_536)
                        if not chunk:
                            sel.unregister(aside)
                        said += chunk[: max(limit - len(said), 0)]  # the rest read, dropped
                        continue
                    if key.fileobj is reader:
                        chunk = os.read(key.fd, 65_536)
                        if not chunk:
                            sel.unregister(reader)
                        out += chunk
                        if len(out) > limit:
                            raise TooMuch(f"printed more than {limit:,} bytes")
                        continue
                    try:
                        left_to_write = left_to_write[os.write(key.fd, left_to_write) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it reads no (more) input: its choice
                        left_to_write = left_to_write[:0]
                    if not left_to_write:
                        sel.unregister(key.fileobj)
                        assert proc.stdin is not None
                        proc.stdin.close()
        try:
            returncode = proc.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            raise late from None
        ended = True
    finally:
        if not ended:  # late, too much, interrupted: its children too, even if it has exited
            kill_group(proc.pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        # Not while a stop (Ctrl-C, SIGTERM's exception) goes by: only it is to happen now
        stopped = sys.exc_info()[1]
        if other is not None and said and (stopped is None or isinstance(stopped, CommandFault)):
            other(bytes(said))
    return returncode, bytes(out)


def _drained(fd: int, into: bytearray, limit: int) -> None:
    """What the pipe ``fd`` holds now, added to ``into`` up to ``limit`` bytes (no wait for
    more: a writer may hold it open for ever)."""
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 65_536):
            into += chunk[: max(limit - len(into), 0)]
    except BlockingIOError:
        pass


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group ``pgid`` (the command's session: what it started and
    left running, holding its output pipe open past its exit)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # none left (or not ours: never the case)
        pass
