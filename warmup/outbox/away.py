"""The worker's waits for a ledger that is away: a team server restarting, failing over, out of
connection slots (:data:`AWAY`: :class:`~warmup.errors.Unavailable`,
:class:`~warmup.errors.LedgerBusy`).

One back-off for every such wait, 1, 2, 4 ... up to :data:`LEDGER_RETRY_MAX` seconds, and one
line for each (:func:`cut_off`): between two passes of a running worker
(:meth:`warmup.outbox.worker.Worker.run`) and before its first (:func:`until_answered`,
``warmup run``'s start-up). Any other error (a refused login, a URL naming no database, a
database that holds no warmup ledger) is no wait's to fix: it is raised at once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import TypeVar

from warmup.errors import LedgerBusy, Unavailable
from warmup.outbox.delivery import stamp

LEDGER_RETRY_MAX = 30.0  # longest wait of `run` between two tries of a ledger that is away
AWAY = (Unavailable, LedgerBusy)  # what a wait may fix

T = TypeVar("T")


def next_wait(last: float) -> float:
    """The seconds to wait after a try the ledger was away for, ``last`` the wait before it
    (0: none yet): 1, 2, 4 ... up to :data:`LEDGER_RETRY_MAX`."""
    return min(max(last * 2, 1.0), LEDGER_RETRY_MAX)


def cut_off(now: dt.datetime, what: str, exc: Exception, wait: float, until: str = "") -> str:
    """The line saying that ``what`` (a pass, the start-up) found the ledger away, and when it
    is tried again."""
    return f"{stamp(now)} {what} cut off: {exc}; trying again in {wait:g} s{until}"


def until_answered(
    step: Callable[[], T],
    *,
    what: str,
    log: Callable[[str], object],
    note: Callable[[str], object],
    sleep: Callable[[float], object],
    clock: Callable[[], dt.datetime],
    give_up: dt.datetime | None = None,
) -> T:
    """``step()``, tried again while the ledger is away (it raises :data:`AWAY`) after the
    waits of :func:`next_wait`, each said with ``log`` (:func:`cut_off`), until it returns
    (``note``: the ledger is back, when it was away). Past ``give_up`` (None: never) the last
    error is raised instead of a wait, and no wait ends after it."""
    away = 0.0
    while True:
        try:
            done = step()
        except AWAY as exc:
            now = clock()
            if give_up is not None and now >= give_up:
                raise
            away = next_wait(away)
            if give_up is not None:  # the last try at that time (a tenth of a second after)
                away = min(away, math.ceil((give_up - now).total_seconds() * 10) / 10)
            until = "" if give_up is None else f" (until {stamp(give_up)})"
            log(cut_off(now, what, exc, away, until))
            sleep(away)
            continue
        if away:
            note(f"{stamp(clock())} the ledger is back: {what} goes on")
        return done
