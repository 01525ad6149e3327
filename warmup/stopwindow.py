"""Stop signals held between a server's answer to a message and the ledger's record of it.

Once the server has answered the end of DATA (or BDAT), what it said is known to this process
alone until the gate has written it. A Ctrl-C, SIGTERM or hang-up acted on there unwound the
send before that write: the slot ended ``unknown`` (counted, "may have reached"), though the
server had taken the message, and the person sent it again or took it for lost. A
:class:`StopWindow` holds those signals from the moment the reply is read (:meth:`~StopWindow.open`,
which the SMTP session calls) until the gate has settled the reservation and written it
(:meth:`~StopWindow.close`); then each acts as its handler would have, in the order they came.

Held by swapping the handlers, not by a signal mask: CPython runs every handler on the main
thread, whichever thread the kernel gave the signal to, so masking one thread holds nothing.
Only the main thread can swap them; a gate sending on another thread (the relay's, a
script's) is never interrupted by a signal anyway. A signal ignored (``nohup``), or whose
handler Python did not set, is left as it is. SIGKILL cannot be held: killed there, the slot
stays ``reserved``, counted, as before.

What is held waits for the ledger's write alone, which gives up on a lock after its own timeout
(SQLite's busy timeout, a team server's ``lock_timeout``: 30 s each unless set otherwise): a
stop is acted on then at the latest. A stop that comes once one has been held for
:data:`HOLD_S` (a lock timeout set longer, a team server gone silent) is acted on at once, as
every stop was before: the process is never kept from stopping longer than that.

Before the data, a stop still stops the message, but what the server has answered by then is
not lost: the window opens in its *envelope* phase (:meth:`~StopWindow.envelope`) as the SMTP
session begins the message. A stop there acts at once, its handler called from the window's;
should the handler raise (Ctrl-C's KeyboardInterrupt, a SIGTERM taken as one), the exception is
kept and the connection cut (the ``abort`` given), so the session ends the message as one lost
before DATA: a recipient refused at RCPT (a hard bounce, suppressed), a throttle at MAIL or RCPT,
stay as the server said, the others are released, and nothing more goes out. The exception is
raised when the window closes, once that is written. A handler that returns (``warmup run``'s
first SIGTERM: "finish the message in flight") lets the message go on. From the data on
(:meth:`~StopWindow.data`) until the server's reply is read, a stop acts at once, as it always
did (the message may have reached its recipients: ``unknown``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Seconds a stop may be held: the ledger's own lock timeouts (warmup.ledger.sqlite_file's
# BUSY_TIMEOUT_S, warmup.ledger.postgres's LOCK_TIMEOUT_S), after which its write gives up.
HOLD_S = 30.0

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
# The window's phases: before the data (a stop acts, the connection cut), the data on its way (a
# stop acts), the server's reply read (a stop is held).
_ENVELOPE, _DATA, _ANSWERED = 0, 1, 2


class StopWindow:
    """SIGINT, SIGTERM and SIGHUP held from :meth:`open` to :meth:`close` (see the module)."""

    def __init__(self, hold: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        self.clock = clock
        self.held: list[int] = []  # the stops that came while open, in order
        self._before: dict[int, _Handler] = {}
        self._since: float | None = None  # when the first stop was held
        self._phase = _ANSWERED
        self._abort: Callable[[], object] = _nothing
        self._raised: BaseException | None = None  # a handler's, in the envelope phase

    @property
    def stopped(self) -> bool:
        """Whether a stop came while it was open: the caller writes now what it would have
        left for later (it acts as soon as the window closes)."""
        return bool(self.held) or self._raised is not None

    def envelope(self, abort: Callable[[], object]) -> None:
        """Open before the message's first command: a stop acts at once, and one whose handler
        raises cuts the connection (``abort``, from the handler: no more of the message goes),
        its exception raised by :meth:`close` (see the module)."""
        self._phase, self._abort = _ENVELOPE, abort
        self._install()

    def data(self) -> bool:
        """The data is about to go: whether it may (no stop cut the envelope); from now until
        :meth:`open`, a stop acts at once."""
        self._phase = _DATA
        return self._raised is None and not self.held

    def open(self) -> None:
        """Hold the stops from now (on the main thread; elsewhere, and when open, nothing)."""
        self._phase = _ANSWERED
        self._install()

    def _install(self) -> None:
        if self._before or threading.current_thread() is not threading.main_thread():
            return
        for sig in STOPS:
            handler = signal.getsignal(sig)
            if handler is signal.SIG_IGN or handler is None:
                continue
            self._before[sig] = signal.signal(sig, self._held)

    def _held(self, signum: int, frame: FrameType | None) -> None:
        if self._phase == _ENVELOPE:
            handler = self._before.get(signum)
            if not callable(handler):  # the default action: after what was answered is written
                self.held.append(signum)
                self._abort()
                return
            try:
                handler(signum, frame)
            except BaseException as exc:  # acted on once the answers so far are written
                if self._raised is None:
                    self._raised = exc
                self._abort()
            return
        if self._phase == _DATA:  # as if the window were not open
            self.held.append(signum)
            self.close()
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        self.held.append(signum)
        if now - self._since >= self.hold:  # the write is stuck past any lock timeout
            self.close()

    def close(self) -> None:
        """The handlers back; each stop held acts now, as its handler would have (Ctrl-C's
        KeyboardInterrupt raised here, a default action ending the process)."""
        if not self._before:
            return
        before, self._before = self._before, {}
        for sig, handler in before.items():
            signal.signal(sig, handler)
        held, self.held = self.held, []
        for sig in held:
            handler = before[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)
        raised, self._raised = self._raised, None
        if raised is not None:
            raise raised

    def __enter__(self) -> StopWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nothing() -> None:
    """No connection to cut."""
