"""A gate's settler: the thread that writes the gate's deferred "sent" settlements once the gate
has been idle.

A "sent" settlement rides on the gate's next reservation (a burst costs no transaction more);
for a script pacing its sends minutes apart, the message would stay ``reserved`` all that time
(lost as ``unknown`` by a crash meanwhile, refused by ``mailbox remove`` as in flight). So a
:class:`Settler` starts one thread when a settlement is deferred: it waits until the gate has
been idle :attr:`Settler.after` seconds (each message moves that time, and keeps the thread),
then flushes the gate, under the gate's lock, unless a reservation wrote it meanwhile; then it
ends, or when it is stopped, or when the gate is gone. It holds the gate only while it looks
(:class:`weakref.WeakMethod`): a gate a script drops without closing is not kept alive by its
thread. The ledger away (an error of warmup's): tried again, waiting longer each time up to
:data:`BACKOFF` (the next reservation or close() writes it first, and says so); any other error
ends the thread, for the caller's next reservation or close() to meet on its own thread.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from warmup import gateprocess
from warmup.errors import UsageError, WarmupError

# The longest wait between two tries of that write while the ledger refuses it (unavailable).
BACKOFF = 30.0


class Settler:
    """The settler thread of one gate (see the module docstring). ``lock``: the gate's, around
    its use of its ledger session; ``waiting()``: whether a settlement waits to be written;
    ``flush()``: write it (both methods of the gate, held weakly)."""

    def __init__(
        self,
        lock: threading.RLock,
        after: float | None,
        waiting: Callable[[], bool],
        flush: Callable[[], None],
    ) -> None:
        # Seconds of idleness before the thread writes; None: never (the relay turns it off).
        self.after = after
        self.idle = threading.Condition(lock)  # wakes the thread (stop())
        self.touched = 0.0  # time.monotonic() of the last settlement deferred
        self.thread: threading.Thread | None = None
        self._waiting = weakref.WeakMethod(waiting)
        self._flush = weakref.WeakMethod(flush)

    def soon(self) -> None:
        """A settlement waits to be written (under the lock): by the thread once the gate has
        been idle :attr:`after` seconds, unless a reservation writes it first. One thread for a
        burst (each message only moves the time it waits for), started again for the next
        message after it ended."""
        if self.after is None:
            return
        self.touched = time.monotonic()
        if self.thread is None:
            settler = threading.Thread(
                target=_settle_idle,
                args=(weakref.ref(self), self.idle),
                name="warmup-gate-settle",
                daemon=True,  # never keeps the interpreter from exiting
            )
            self.thread = settler
            try:
                settler.start()
            except RuntimeError:
                # No thread to be had (memory, a process limit): the settlement waits for the
                # next reservation, flush() or close(), as without the thread. Raised, it failed
                # the settle of a message already delivered, and close() then joined a thread
                # never started.
                self.thread = None

    def stop(self) -> threading.Thread | None:
        """Tell the thread to end (under the lock); it, to be joined outside the lock."""
        settler, self.thread = self.thread, None
        if settler is not None:
            self.idle.notify_all()
        return settler

    def renew(self, lock: threading.RLock) -> None:
        """In a forked child: the gate's new lock, and no thread (the parent's is not in the
        child)."""
        self.idle = threading.Condition(lock)
        self.thread = None


def _settle_idle(ref: weakref.ref[Settler], idle: threading.Condition) -> None:
    """The thread of a :class:`Settler` (see the module docstring)."""
    me = threading.current_thread()
    backoff = 0.0
    with idle:
        while True:
            settler = ref()
            if settler is None or settler.thread is not me:
                return
            after = settler.after
            if after is None:
                settler.thread = None
                return
            left = settler.touched + max(after, backoff) - time.monotonic()
            if left > 0:
                # Idle or not, nothing is decided before the gate has been idle this long: a
                # thread that first looked after the next reservation wrote what waited (a
                # busy machine) found nothing, ended, and the next message started another.
                del settler
                idle.wait(min(left, threading.TIMEOUT_MAX))  # longer: OverflowError
                continue
            waiting, flush = settler._waiting(), settler._flush()
            if waiting is None or flush is None:  # the gate is gone
                return
            if not waiting():  # a reservation wrote it meanwhile
                settler.thread = None
                return
            try:
                with gateprocess.writes():
                    flush()
                backoff = 0.0
            except UsageError:  # closed meanwhile: nothing to try again
                settler.thread = None
                return
            except (WarmupError, OSError):
                backoff = min(max(backoff * 2, 1.0), BACKOFF)
                settler.touched = time.monotonic()
            except Exception:
                settler.thread = None
                return
            del waiting, flush  # not held while the thread waits: the gate may go
