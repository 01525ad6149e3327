"""Secrets out of this process's initial environment and command line, as others read them in /proc.

``/proc/PID/environ`` shows the environment a process was started with, byte for byte as it
was handed to ``execve``, to every process of the same user: removing a variable from
``os.environ`` does not change it. A command warmup starts (the notify command, which a ledger
shared by a team may hold; the password command) read ``WARMUP_PASSWORD``, the overflow
channel's password and the other :data:`~warmup.credentials.SECRET_VARS` there, in its
parent's, though its own environment (``credentials.child_env``) had none of them.

So, as the command starts, each such entry of that block is overwritten in place with NUL
bytes (what ``setproctitle`` does to the command line), after the C library's environment
stops pointing at it; ``os.environ``, a copy made as Python started, keeps the value for warmup
itself. Done through ``/proc/self/mem``, no ctypes: nothing is imported, and nothing at all is
done when none of the variables is set (``warmup quota``'s start pays one dictionary lookup per
name).

Best effort: with no ``/proc`` (or a kernel refusing the write) the block stays as it was, as
before. ``warmup send -- COMMAND`` and ``warmup run`` then start themselves over without the
variables (:func:`warmup.wrap.shed_password`), which asks :func:`shows` whether the block
still holds one: a wrapped command is a program the user runs for a long time.

``/proc/PID/cmdline`` (what ``ps`` shows every user of the host) is the same kind of block:
:func:`hide_argument` overwrites an option's value there (``--password-command 'echo X'``)
with ``x``, as mysql does with its ``-p``; ``sys.argv`` and ``sys.orig_argv`` are Python's own
copies and keep it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

# The names, as warmup.credentials.SECRET_VARS (a test keeps the two equal): that module is
# not imported here, for the commands that never read a secret.
NAMES = (
    "WARMUP_PASSWORD",
    "WARMUP_PASSWORD_COMMAND",
    "WARMUP_PASSWORD_FD",
    "WARMUP_OVERFLOW_PASSWORD",
    "WARMUP_OAUTH_CLIENT_SECRET",
    "WARMUP_NOTIFY_WEBHOOK",
)

# Fields of /proc/PID/stat (proc(5), counted from 1) bounding the blocks: arg_start, arg_end
# (48, 49) and env_start, env_end (50, 51).
_ARGS, _ENV = 48, 50


def hide_initial_secrets(names: tuple[str, ...] = NAMES) -> int:
    """Overwrite the entries of ``names`` in this process's initial environment block; the
    number of entries overwritten (0 when none is set, or the block cannot be written)."""
    environ = os.environ
    if not any(name in environ for name in names):
        return 0
    try:
        return _overwrite({os.fsencode(name) for name in names})
    except (OSError, ValueError, IndexError):  # no /proc, a kernel refusing: as before
        return 0


def shows(names: Iterable[str]) -> bool | None:
    """Whether this process's initial environment, as another process reads it in
    ``/proc/PID/environ``, still holds an entry of one of ``names``; None when it cannot be
    read (no ``/proc``): then nobody can tell."""
    try:
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except OSError:
        return None
    wanted = {os.fsencode(name) for name in names}
    return any(entry.partition(b"=")[0] in wanted for entry in block.split(b"\0") if entry)


def hide_argument(option: str, value: str) -> int:
    """Overwrite ``value`` with ``x`` where this process's initial command line gives it to
    ``option`` (``OPTION VALUE`` or ``OPTION=VALUE``); the number of values overwritten (0 when
    there is none, or the block cannot be written: best effort, as :func:`hide_initial_secrets`)."""
    try:
        return _overwrite_argument(os.fsencode(option), os.fsencode(value))
    except (OSError, ValueError, IndexError):
        return 0


def _bounds(first: int) -> tuple[int, int]:
    """The addresses of a block in this process's memory: fields ``first`` and ``first + 1``
    of /proc/self/stat; (0, 0) when the kernel does not give them."""
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    # After the ')' ending the name (which may hold spaces): field 3 is the first after it.
    fields = stat.rsplit(b")", 1)[1].split()
    start, end = int(fields[first - 3]), int(fields[first - 2])
    return (start, end) if 0 < start < end else (0, 0)


def _overwrite(names: set[bytes]) -> int:
    def blanks(entries: list[bytes]) -> Iterator[tuple[int, bytes]]:
        for i, entry in enumerate(entries):
            if entry and entry.partition(b"=")[0] in names:
                os.unsetenv(
                    entry.partition(b"=")[0]
                )  # the C library's environ no longer points here
                yield i, b"\0" * len(entry)

    return _rewrite(_ENV, blanks)


def _overwrite_argument(option: bytes, value: bytes) -> int:
    if not value:
        return 0
    joined = option + b"=" + value

    def hidden(args: list[bytes]) -> Iterator[tuple[int, bytes]]:
        for i, arg in enumerate(args):
            if arg == value and i and args[i - 1] == option:
                yield i, b"x" * len(value)
            elif arg == joined:
                yield i, option + b"=" + b"x" * len(value)

    return _rewrite(_ARGS, hidden)


def _rewrite(first: int, edits: Callable[[list[bytes]], Iterator[tuple[int, bytes]]]) -> int:
    """Overwrite, in place, the NUL-separated entries of the block whose bounds are fields
    ``first`` and ``first + 1`` of /proc/self/stat: ``edits`` is given the entries and yields
    ``(index, bytes of the same length)``; the number of entries overwritten."""
    start, end = _bounds(first)
    if not start:
        return 0
    fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
    try:
        entries = os.pread(fd, end - start, start).split(b"\0")
        offsets = [0]
        for entry in entries:
            offsets.append(offsets[-1] + len(entry) + 1)
        done = 0
        for i, data in edits(entries):
            os.pwrite(fd, data, start + offsets[i])
            done += 1
        return done
    finally:
        os.close(fd)
