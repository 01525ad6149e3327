"""Work on a long list split across the machine's cores: all but one part in forked children.

``warmup quota`` for every mailbox of a big ledger whose walk memos are gone (the first question
after an upgrade or a policy edit) walks each mailbox's whole history: pure CPU, each mailbox on
its own. :func:`in_shards` cuts the list into contiguous parts; the first is done here, each
other one in a child made by ``os.fork`` (which shares what this process has loaded and
computed: nothing is imported or sent again), whose answers come back pickled over a pipe.

A child must not use anything of its parent's that talks to the outside (a database
connection: the ``there`` function opens its own) and must not write anything; it prints
nothing and leaves by ``os._exit`` (no buffer flushed, no handler run twice). A child that fails
in any way, or whose answer does not arrive whole, is not trusted: its part is done again here,
so an error is raised here as it would have been without children, and the answers are the same
whichever way each part was done. Where ``os.fork`` does not exist (Windows), or while another
thread runs (a fork copies only the calling thread: a lock another one held stays held in the
child), everything is done here.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Never more children than this: each costs a fork, its own connection and a pickled answer.
MOST = 4

_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def shard_count(items: int, least: int) -> int:
    """How many parts for ``items`` things when a part is worth a process from ``least`` things
    on: one per core (at most :data:`MOST`), fewer for a shorter list, 1 where this process
    cannot fork safely."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MOST, items // max(least, 1)))


def in_shards(
    items: Sequence[T],
    shards: int,
    here: Callable[[Sequence[T]], list[R]],
    there: Callable[[Sequence[T]], list[R]],
) -> list[R]:
    """``here(items)``, computed as ``shards`` contiguous parts: the first by ``here`` in this
    process, each other by ``there`` in a forked child (``there`` is ``here`` on the child's own
    resources), the answers joined in order. A part whose child failed is done by ``here``."""
    size = -(-len(items) // max(shards, 1))
    parts = [items[k : k + size] for k in range(0, len(items), size)] or [items]
    if len(parts) == 1:
        return here(items)
    pending: list[tuple[tuple[int, int] | None, Sequence[T]]] = []
    try:
        for part in parts[1:]:
            pending.append((_spawn(there, part), part))
        out = here(parts[0])
        while pending:
            child, part = pending.pop(0)
            got: list[R] | None = _collect(*child) if child is not None else None
            out.extend(here(part) if got is None or len(got) != len(part) else got)
        return out
    finally:
        for child, _ in pending:  # left on the way out (an error here)
            if child is not None:  # it only reads: stopped at once, whatever it was doing
                os.kill(child[0], signal.SIGKILL)
                os.close(child[1])
                os.waitpid(child[0], 0)


def _spawn(there: Callable[[Sequence[T]], list[R]], part: Sequence[T]) -> tuple[int, int] | None:
    """A child computing ``there(part)``: its pid, and the read end of the pipe its pickled
    answer comes through; None if no process could be made."""
    import pickle  # before the fork; collector_paused alone (every quota) needs none

    r, w = os.pipe()
    # Ctrl-C (or a TERM, a HUP) reaching the new child before its ``try`` would run the
    # parent's code in it (kill the siblings, print, flush copied buffers): held back over the
    # fork, and let through in the child only inside the ``try``, which ends it quietly.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pid = os.fork()
    except OSError:  # no process to be had (EAGAIN, ENOMEM): the part is done here
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(r)
        os.close(w)
        return None
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(w)
        return pid, r
    code = 1
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(r)
        data = pickle.dumps(there(part), pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
        code = 0
    except BaseException:  # the parent does the part again, and raises its error there
        pass
    finally:
        os._exit(code)


def _collect(pid: int, fd: int) -> list[R] | None:
    """The answer of the child ``pid`` from ``fd`` (closed), or None if it did not give one
    whole and exit 0."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    import pickle

    try:
        got = pickle.loads(b"".join(chunks))
    except Exception:  # cut short: the part is done again here
        return None
    return got if isinstance(got, list) else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a batch of mailboxes is read, walked (in the
    forked children too) and its memos kept (``warmup quota``, a report's frame), and let run
    again after, as it was: their objects
    die by their reference counts, and each collection on the way went through all of them
    again for no cycle to free (measured on 1,000 mailboxes x a year without memos: ~60 ms of
    a child's ~0.85 s, ~0.1 s of the parent's run)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
