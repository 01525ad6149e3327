"""The live view of ``warmup run`` on a terminal: each mailbox's state and sent/quota today, each
campaign's progress and estimated finish, and the last events.

:func:`snapshot` gathers the data (a dict, testable without a terminal), :func:`render` lays it
out as lines, and :class:`LiveView` redraws those lines in place with plain ANSI (cursor up,
clear to the end of the screen), on each event and every :data:`REFRESH` seconds while the worker
waits. Plain ANSI rather than a terminal library: a view of a few dozen lines needs no more, and
there is no dependency to keep off the hot path of ``quota``/``send``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from warmup.instants import now_utc
from warmup.ledger import Ledger, MailboxRow
from warmup.outbox.away import AWAY
from warmup.outbox.status import WAITING, nothing_to_send, status
from warmup.policy import Allowance
from warmup.words import shown

REFRESH = 2.0  # seconds between redraws while the worker waits
FRESH = 1.0  # an event redraws at once, re-reading the ledger at most this often (seconds)
EVENTS = 8  # events shown
ROWS = 20  # mailboxes or campaigns shown before "... and N more"
UNUSABLE = "not usable here"  # the state of a mailbox whose policy or provider is unknown here
_EMPTY: dict[str, Any] = {"mailboxes": [], "campaigns": [], "events": []}  # nothing read yet


def state_of(a: Allowance, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    """A mailbox's state as the view names it, and until when it waits (``waiting`` only):
    ``paused``, ``exhausted`` (today's quota used), ``waiting`` (pacing or a closed window),
    ``closed`` (no send allowed today), ``held`` / ``stepped back`` (sending, the ramp held or
    stepped back by its bounce rate), else ``sending``."""
    if a.status == "paused":
        return "paused", None
    if a.status == "exhausted":
        return "exhausted", None
    if a.next_send_at is not None and a.next_send_at > now:
        return "waiting", a.next_send_at
    if a.status == "closed":
        return "closed", None
    return {"hold": "held", "step_back": "stepped back"}.get(a.status, "sending"), None


def _boxes(ledger: Ledger, pool: str | None) -> list[MailboxRow]:
    """The mailboxes the worker may send from: its pool's, else every pool member and every
    mailbox with messages queued to it."""
    if pool is not None:
        return list(ledger.pool(pool).members)
    boxes = {m.address: m for p in ledger.pools() for m in p.members}
    names = ledger.mailbox_names()
    for row in ledger.outbox_counts():
        address = names.get(row["mailbox_id"])
        if row["state"] in WAITING and address is not None and address not in boxes:
            boxes[address] = ledger.mailbox(address)
    return [boxes[a] for a in sorted(boxes)]


def snapshot(
    ledger: Ledger, now: dt.datetime, pool: str | None = None, events: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What the view shows at ``now``: ``{"at", "pool", "mailboxes": [{"mailbox", "state",
    "until", "sent", "quota", "remaining"}], "campaigns": [{"campaign", "sent", "queued",
    "failed", "finish"}], "events"}`` (``queued`` counts the messages being sent too)."""
    from warmup import api

    mailboxes: list[dict[str, Any]] = []
    boxes = _boxes(ledger, pool)
    answers, refusals = api.quotas_each(ledger, boxes, now)
    for _, a in answers:
        state, until = state_of(a, now)
        mailboxes.append(
            {
                "mailbox": a.mailbox,
                "state": state,
                "until": until,
                "sent": a.sent,
                "quota": a.quota,
                "remaining": a.remaining,
            }
        )
    # one whose policy or provider preset this warmup does not know: the worker does not send
    # from it ('warmup quota' says why); the view of the others goes on
    mailboxes += [
        {
            "mailbox": r.box.address,
            "state": UNUSABLE,
            "until": None,
            "sent": None,
            "quota": None,
            "remaining": None,
        }
        for r in refusals
    ]
    order = {b.address: i for i, b in enumerate(boxes)}
    mailboxes.sort(key=lambda m: order[m["mailbox"]])
    campaigns = [
        {
            "campaign": c["campaign"],
            "sent": c["sent"],
            "queued": sum(c[s] for s in WAITING),
            "failed": c["failed"],
            # as 'queue status' says it: one with nothing to send, its unknown messages or
            # "none to send"; one expiring before the plan sends it, so
            "finish": nothing_to_send(c)
            or (f"expires {c['expires_day']}" if c["expires_first"] else c["finish"]),
        }
        for c in status(ledger, now, pool)["campaigns"]
    ]
    return {
        "at": now,
        "pool": pool,
        "mailboxes": mailboxes,
        "campaigns": campaigns,
        "events": list(events),
    }


def _clock(ts: dt.datetime, now: dt.datetime, tz: dt.tzinfo | None) -> str:
    local, today = ts.astimezone(tz), now.astimezone(tz)
    return f"{local:%H:%M}" if local.date() == today.date() else f"{local:%m-%d %H:%M}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def render(snap: dict[str, Any], tz: dt.tzinfo | None = None) -> list[str]:
    """The view's lines for a :func:`snapshot`; times in ``tz`` (default: this machine's)."""
    now = snap["at"]
    where = f"pool {snap['pool']}" if snap["pool"] else "all pools and mailboxes"
    lines = [f"warmup run · {where} · {now.astimezone(tz):%Y-%m-%d %H:%M:%S}", ""]
    boxes = snap["mailboxes"]
    rows = []
    for m in boxes[:ROWS]:
        state = m["state"]
        if m["until"] is not None:
            state = f"{state} until {_clock(m['until'], now, tz)}"
        used = "-" if m["quota"] is None else f"{m['sent']}/{m['quota']}"
        rows.append([m["mailbox"], state, used])
    lines += _table(["MAILBOX", "STATE", "SENT/QUOTA"], rows) if rows else ["No mailbox."]
    if len(boxes) > ROWS:
        lines.append(f"... and {len(boxes) - ROWS} more mailboxes")
    lines.append("")
    campaigns = snap["campaigns"]
    rows = [
        [
            c["campaign"] or "-",
            str(c["sent"]),
            str(c["queued"]),
            str(c["failed"]),
            c["finish"] or ("done" if not c["queued"] else "-"),
        ]
        for c in campaigns[:ROWS]
    ]
    if rows:
        lines += _table(["CAMPAIGN", "SENT", "QUEUED", "FAILED", "FINISH"], rows)
    else:
        lines.append("Nothing queued.")
    if len(campaigns) > ROWS:
        lines.append(f"... and {len(campaigns) - ROWS} more campaigns")
    if snap["events"]:
        lines += ["", "Last events:", *(f"  {e}" for e in snap["events"])]
    return lines


class LiveView:
    """Redraws :func:`render` of :func:`snapshot` on ``stream`` (a terminal) in place.

    :meth:`log` is the worker's ``log`` (an event: kept, and the view redrawn), :meth:`sleep` its
    ``sleep`` (redraws every ``refresh`` seconds while the worker waits), :meth:`close` leaves
    the last view on screen. Only the thread that made the view reads the ledger; an
    event logged from another thread (notifications) shows at the next redraw.
    """

    def __init__(
        self,
        ledger: Ledger,
        stream: TextIO,
        *,
        pool: str | None = None,
        clock: Callable[[], dt.datetime] = now_utc,
        refresh: float = REFRESH,
    ) -> None:
        self.ledger = ledger
        self.stream = stream
        self.pool = pool
        self.clock = clock
        self.refresh = refresh
        self.events: deque[str] = deque(maxlen=EVENTS)
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._drawn = 0
        self._snap: dict[str, Any] | None = None
        self._read_at = 0.0
        # Called (once) when the terminal cannot take a redraw (EIO after a hang-up): the
        # view draws no more, and the caller stops as for any output lost.
        self.on_lost: Callable[[OSError], object] | None = None
        self.lost: OSError | None = None

    def log(self, line: str) -> None:
        """An event: shown among the last ones; the view is redrawn."""
        with self._lock:
            self.events.append(line)
        if threading.get_ident() == self._owner:
            self.draw()

    def note(self, line: str) -> None:
        """``line`` was written under the view (by a signal handler, which may neither draw nor
        take the lock): it is kept among the events, and the next redraw goes up over it
        too. No lock: a deque's append and an int's store are single steps for the thread
        that the handler interrupts."""
        self.events.append(line)
        self._drawn += 1

    def above(self, text: str) -> None:
        """``text`` (what a password command said on standard error, for the person at the
        terminal) written above the view, which is drawn again under it. Written straight to
        the terminal, it went under the view, and the next redraw, going up over the view's
        lines alone, wiped it and left the view's first lines behind. Its control characters
        are shown, never acted on (a program's escapes would move the cursor the view counts
        on). From another thread than the view's: kept among the events instead."""
        lines = [shown(line) for line in text.rstrip().splitlines()]
        if not lines:
            return
        if threading.get_ident() != self._owner:
            with self._lock:
                self.events.extend(lines)
            return
        if self.lost is not None:
            return
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        try:
            self.stream.write(up + "\x1b[J" + "".join(f"{line}\n" for line in lines))
        except OSError as exc:
            self.lost = exc
            if self.on_lost is not None:
                self.on_lost(exc)
            return
        self._drawn = 0  # the text stays where it is; the view goes under it
        self.draw()

    def draw(self, fresh: bool = False) -> None:
        """Redraw; the ledger is read again if ``fresh`` or the data is older than
        :data:`FRESH`. Nothing once the stream failed (:attr:`on_lost`)."""
        if self.lost is not None:
            return
        if self._snap is None or fresh or time.monotonic() - self._read_at >= FRESH:
            try:
                self._snap = snapshot(self.ledger, self.clock(), self.pool)
            except AWAY:
                # The ledger away (the worker says so, and waits for it): the figures last
                # read stay on screen. Raised from the worker's log line or its wait, the
                # read made a running worker exit 69 where one without the view went on.
                if self._snap is None:
                    self._snap = {**_EMPTY, "at": self.clock(), "pool": self.pool}
            self._read_at = time.monotonic()
        with self._lock:
            snap = {**self._snap, "events": list(self.events)}
        size = shutil.get_terminal_size()
        width, height = max(size.columns - 1, 20), max(size.lines - 1, 5)
        lines = [line[:width] for line in render(snap)][:height]  # else it scrolls away
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        try:
            self.stream.write(up + "\x1b[J" + "".join(f"{line}\n" for line in lines))
            self.stream.flush()
        except OSError as exc:  # the terminal gone (EIO), a closed stdout: drawn no more
            self.lost = exc
            if self.on_lost is not None:
                self.on_lost(exc)
            return
        self._drawn = len(lines)

    def sleep(self, seconds: float, wait: Callable[[float], bool]) -> None:
        """Wait ``seconds`` with ``wait`` (the worker's :meth:`~warmup.outbox.worker.Worker.wait`,
        which returns True when woken: stop, new mail), redrawing every ``refresh`` seconds."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if wait(min(left, self.refresh)):
                return
            self.draw(fresh=True)

    def close(self) -> None:
        """Draw the final state and leave it on screen."""
        self.draw(fresh=True)
