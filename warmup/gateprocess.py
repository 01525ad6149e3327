"""A gate's life in its process: forks, and a gate never closed.

A :class:`~warmup.gate.Gate` writes its deferred "sent" settlements on a thread of its own (its
settler). A fork waits for such a write under way (:class:`Writes`: a settler thread wraps each
write in ``with writes():``), and a forked child gives each open gate locks of its own (the
callback :func:`renew_after_fork` registers). A gate dropped without ``close()``, or open at the
interpreter's exit, still writes what it deferred (:func:`write_left` on a :class:`Left`, which
holds no reference to the gate: it must not keep the gate alive).
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from warmup.errors import WarmupError

if TYPE_CHECKING:
    from warmup.smtp import Session

_T = TypeVar("_T")

# Every open gate of the process, with what gives it locks of its own in a forked child.
_RENEW: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()


def renew_after_fork(owner: _T, renew: Callable[[_T], None]) -> None:
    """Call ``renew(owner)`` in a child this process forks while ``owner`` lives (a gate: its
    locks anew, the parent's settler thread not being in the child)."""
    _RENEW[owner] = renew


def writes() -> Writes:
    """This process's settler writes under way: ``with writes():`` around one, which a fork
    waits for (a forked child has new ones)."""
    return _WRITES


# The longest a fork waits for a settler thread's write (:class:`Writes`): longer than a busy
# SQLite ledger's or a PostgreSQL lock's timeout (30 s), which end a write that waits in vain.
_FORK_WAIT = 60.0


class Writes:
    """The settler threads' writes under way, which a fork waits for (and no write begins
    until it is over): a write runs in the driver's own code (SQLite's, libpq's), whose locks
    a fork copies held by a thread the child does not have; a child forked meanwhile (by
    multiprocessing, or :mod:`warmup.shards`-like code of the script's) could hang at its first
    open of a ledger. A fork from a thread that is itself writing does not wait for itself."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._writers: list[int] = []  # thread idents, one entry per write under way

    def __enter__(self) -> None:
        with self._cond:
            self._writers.append(threading.get_ident())

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._writers.remove(threading.get_ident())
            self._cond.notify_all()

    def before_fork(self) -> None:
        """Wait for the writes under way, and hold off new ones (until :meth:`after_fork`).
        Not for ever: a write stuck on a server that vanished (no answer, no reset) would hang
        the fork, and such a write waits on the network, not in the driver's locks."""
        me = threading.get_ident()
        self._cond.acquire()
        self._cond.wait_for(lambda: all(w == me for w in self._writers), _FORK_WAIT)

    def after_fork(self) -> None:
        self._cond.release()


_WRITES = Writes()


def _after_fork() -> None:
    global _WRITES
    _WRITES = Writes()  # the parent's is held by the thread that forked, and the writers gone
    for owner, renew in list(_RENEW.items()):
        renew(owner)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=lambda: _WRITES.before_fork(),
        after_in_parent=lambda: _WRITES.after_fork(),
        after_in_child=_after_fork,
    )


@dataclass
class Left:
    """What a gate left unclosed needs to write its deferred settlements (:func:`write_left`),
    without a reference to the gate: it must not keep the gate alive."""

    lock: threading.RLock
    db: Any = None
    address: str = ""
    session: Session | None = None  # the gate's SMTP session, said goodbye to (QUIT)
    pid: int = field(default_factory=os.getpid)


def write_left(left: Left) -> None:
    """A gate collected, or open at the interpreter's exit, without close(): its deferred
    "sent" settlements written, its ledger session let go and its SMTP session closed (QUIT),
    as close() would (not in a forked child: the sessions are the parent's). The ledger away:
    the slots stay counted (reserved, then unknown), as a crash leaves them."""
    if left.pid != os.getpid() or left.db is None:
        return
    warnings.warn(
        f"unclosed Gate of {left.address}: close it, or open it with 'with Gate(...)'",
        ResourceWarning,
        stacklevel=2,
    )
    try:
        with left.lock, _WRITES:
            left.db.close()
    except (WarmupError, OSError):
        pass
    session, left.session = left.session, None
    if session is not None:  # else its socket, collected, says "unclosed <ssl.SSLSocket>"
        session.close()
