"""Bounce sync inside ``warmup run``: the worker's mailboxes read over IMAP, so the holds,
pauses and suppressions its sends meet see the bounces without another cron job.

The sync is ``warmup bounces sync``'s (:func:`warmup.bounces.imap.sync`, INBOX), run in the
worker's thread (the one that holds the ledger) at the start of a pass: for every mailbox once
its interval has passed on the worker's clock, and at once for a mailbox whose
:class:`~warmup.bounces.idle.IdleWatcher` saw new mail. A failed sync is one log line and the
next try waits for the next interval: sending goes on. But the ledger away under a sync (or
under the read of the mailboxes) cuts the pass off, as at any of its reads, and what was still
to sync, an IDLE wake-up included, is synced at the next pass, before it sends.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmup import api, logins
from warmup.bounces.idle import IdleWatcher, backoff
from warmup.bounces.imap import sync
from warmup.ledger import Ledger, MailboxRow, PoolNotFound, PoolRow
from warmup.notify import Notifier
from warmup.outbox.away import AWAY

if TYPE_CHECKING:
    from warmup.oauth import Bearer

EVERY = dt.timedelta(minutes=10)


class BounceSync:
    """Syncs the bounces of the mailboxes a worker sends for: a pool's members, or (no pool)
    the members of every pool and the mailboxes messages are queued to, if they have an IMAP
    host (their own or their provider's)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        pool: PoolRow | None,
        every: dt.timedelta = EVERY,
        clock: Callable[[], dt.datetime],
        log: Callable[[str], object],
        password_command: str | None = None,
        timeout: float | None = None,
        notifier: Notifier | None = None,
        idle_retry: Callable[[int], float] | None = None,
        soft: tuple[int, int] = (3, 7),
        suppress_soft: bool = False,
    ) -> None:
        self.ledger = ledger
        # ``suppress soft``'s --sends and --days: after a sync that recorded bounces, the
        # mailbox's addresses that keep soft-bouncing are named, or (suppress_soft) suppressed
        self._soft = soft
        self._suppress_soft = suppress_soft
        # The mailboxes whose streaks were looked for: with suppress_soft each one's first sync
        # looks, new bounces or not (its streaks may predate this run: named by a run without
        # the flag, whose hint was to add it).
        self._looked: set[int] = set()
        self._idle_retry = idle_retry or backoff
        self.pool = pool
        self.every = every
        self.clock = clock
        self.log = log
        self._password_command = password_command
        self._bearers: dict[int, Bearer] = {}
        self._timeout = timeout or 60.0
        self._notifier = notifier
        self._round_at: dt.datetime | None = None  # when every mailbox is synced next
        self._boxes: dict[int, MailboxRow] = {}  # the mailboxes of the last round, by id
        self._woken: set[int] = set()
        self._lock = threading.Lock()
        self._watchers: dict[int, IdleWatcher] = {}
        self._wake: Callable[[], object] | None = None  # set while watching

    def mailboxes(self) -> list[MailboxRow]:
        """The worker's mailboxes that have an IMAP host."""
        if self.pool is not None:
            try:  # by name, as the worker follows it: a pool made again has new members
                boxes = list(self.ledger.pool(self.pool.name).members)
            except PoolNotFound:  # removed while the worker runs (it says so): none
                return []
        else:
            boxes = [m for p in self.ledger.pools() for m in p.members]
            queued = {
                c["mailbox_id"]
                for c in self.ledger.outbox_counts()
                if c["mailbox_id"] is not None and c["state"] in ("queued", "sending")
            }
            names = self.ledger.mailbox_names()
            boxes += [self.ledger.mailbox(names[i]) for i in sorted(queued) if i in names]
        unique = {b.id: b for b in boxes}
        return [b for b in unique.values() if api.endpoints(b).imap_hosts]

    def next_at(self) -> dt.datetime | None:
        """When the next round of syncs is due (None: none done yet, so due now)."""
        return self._round_at

    def run_due(self, now: dt.datetime) -> None:
        """Sync every mailbox when a round is due (the first at once, then every ``every``),
        and between rounds each mailbox that IDLE says has new mail. The ledger away under it
        (raised, :data:`~warmup.outbox.away.AWAY`) leaves what it had yet to sync due at the
        next pass: an IDLE wake-up, the rest of a round."""
        with self._lock:
            woken, self._woken = self._woken, set()
        try:
            due = self._due(now, woken)
        except BaseException:  # the pool's members not read: a wake-up is kept, not lost
            self._keep(woken)
            raise
        for n, box in enumerate(due):
            try:
                synced = self._sync(box, now)
            except BaseException:  # the ledger cut the sync off: not skipped for ``every``
                self._keep({b.id for b in due[n:]})
                raise
            if synced and self._wake is not None:
                # A watcher whose login was refused ended: the password the sync just logged
                # in with (read afresh) may be a new one; the watcher's is the old one.
                watcher = self._watchers.get(box.id)
                if watcher is not None and watcher.refused:
                    del self._watchers[box.id]
                    self._watch([box])

    def _keep(self, box_ids: set[int]) -> None:
        """Sync ``box_ids`` at the next pass, as if IDLE had said they have new mail."""
        with self._lock:
            self._woken |= box_ids

    def _due(self, now: dt.datetime, woken: set[int]) -> list[MailboxRow]:
        """The mailboxes to sync at ``now``: all of them when a round is due, else those of
        ``woken`` (and, with a pool, the members that joined since the round)."""
        if self._round_at is None or now >= self._round_at:
            # The mailboxes are looked up once a round, not each pass: it reads the outbox.
            # The round is due again until that read succeeds: a ledger away at the first one
            # (a worker started while the server restarts) skipped the sync before sending.
            self._boxes = {b.id: b for b in self.mailboxes()}
            self._round_at = now + self.every
            due = list(self._boxes.values())
            self._unwatch_gone()
            if self._wake is not None:  # watching: a mailbox that joined meanwhile too
                self._watch(due)
        else:
            due = [self._boxes[i] for i in sorted(woken) if i in self._boxes]
            if self.pool is not None:
                due += self._joined()
        return due

    def _joined(self) -> list[MailboxRow]:
        """The pool's members now (one read a pass, as the worker reads its pool): a member
        that joined since the round is synced (and watched) at once, not at the next round; one
        that left is no longer synced or watched (a joiner waited up to ``every``, a leaver
        kept its IDLE session for as long as the worker ran)."""
        boxes = {b.id: b for b in self.mailboxes()}
        joined = [b for i, b in boxes.items() if i not in self._boxes]
        if joined or boxes.keys() != self._boxes.keys():
            self._boxes = boxes
            self._unwatch_gone()
            if self._wake is not None:
                self._watch(joined)
        return joined

    def _unwatch_gone(self) -> None:
        """Stop the IDLE watchers of the mailboxes this worker no longer syncs."""
        for box_id in [i for i in self._watchers if i not in self._boxes]:
            self._watchers.pop(box_id).close(wait=0)
            self._bearers.pop(box_id, None)

    def _secret(self, box: MailboxRow) -> str | Bearer:
        """Its password (read afresh: it may have changed), or its one OAuth Bearer, shared
        with its IDLE watcher so the access token is refreshed once for both."""
        if box.id in self._bearers:
            return self._bearers[box.id]
        secret = logins.secret_for(box, self._password_command, self.clock)
        if not isinstance(secret, str):
            self._bearers[box.id] = secret
        return secret

    def _sync(self, box: MailboxRow, now: dt.datetime) -> bool:
        """Sync ``box``; whether it logged in and read its INBOX (a failure is logged)."""
        ep = api.endpoints(box)
        try:
            report = sync(
                self.ledger,
                box,
                hosts=ep.imap_hosts,
                port=ep.imap_port,
                security=ep.imap_security,
                password=self._secret(box),
                folders=["INBOX"],
                timeout=self._timeout,
                now=self.clock,
                notifier=self._notifier,
            )
        except Exception as exc:  # whatever the sync met, sending goes on
            if isinstance(exc, AWAY) and self._ledger_away():
                # The ledger, not the IMAP server: the pass is cut off as at any other read
                # (run_due keeps the mailbox due). Logged and passed over, the mailbox was
                # not synced for ``every``: the sends before it met no bounce it held.
                raise
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.log(
                f"{_stamp(now)} bounce sync of {box.address} failed: {why}; next try at "
                f"{_stamp(self._round_at or now)}"
            )
            return False
        if report.bounces:
            self.log(f"{_stamp(self.clock())} bounce sync of {box.address}: {report.new_text()}")
        if report.not_kept:  # a flood: said as 'bounces sync' says it, never silently dropped
            said = report.not_kept_text()
            self.log(f"{_stamp(self.clock())} bounce sync of {box.address}: {said}")
        if report.bounces or (self._suppress_soft and box.id not in self._looked):
            self._soft_streaks(box)
        return True

    def _ledger_away(self) -> bool:
        """Whether the ledger is away now (a sync's :data:`AWAY` error names no source: an
        IMAP server unreachable raises the same class)."""
        try:
            self.ledger.mailbox_names()
        except AWAY:
            return True
        return False

    def _soft_streaks(self, box: MailboxRow) -> None:
        """After new bounces of ``box`` (or its first sync, with suppress_soft): its addresses
        that now keep soft-bouncing, named in a line, or suppressed."""
        from warmup.bounces.streaks import said_of

        try:
            streaks = api.soft_streaks(self.ledger, *self._soft, mailbox=box.address)
            added = (
                api.suppress_streaks(self.ledger, streaks, self.clock())
                if self._suppress_soft and streaks
                else None
            )
        except Exception as exc:  # as a failed sync: said, and sending goes on
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.log(f"{_stamp(self.clock())} soft streaks of {box.address} not read: {why}")
            return
        self._looked.add(box.id)
        if streaks:
            self.log(f"{_stamp(self.clock())} {box.address}: {said_of(streaks, added)}")

    def watch(self, wake: Callable[[], object]) -> None:
        """Start an IMAP IDLE watcher for each mailbox (and, at each :meth:`run_due`, for a
        mailbox that joined since); each marks its mailbox and calls ``wake()`` when new mail
        arrives. A server without IDLE ends its watcher."""
        self._wake = wake
        self._watch(self.mailboxes())

    def _watch(self, boxes: list[MailboxRow]) -> None:
        wake = self._wake
        assert wake is not None
        for box in boxes:
            if box.id in self._watchers:
                continue
            ep = api.endpoints(box)
            try:
                password = self._secret(box)
            except Exception:  # the interval sync says what is wrong
                continue

            def woken(box_id: int = box.id) -> None:
                with self._lock:
                    self._woken.add(box_id)
                wake()

            watcher = IdleWatcher(
                box.address,
                hosts=ep.imap_hosts,
                port=ep.imap_port,
                security=ep.imap_security,
                password=password,
                wake=woken,
                log=lambda line: self.log(f"{_stamp(self.clock())} {line}"),
                timeout=self._timeout,
                retry=self._idle_retry,
            )
            self._watchers[box.id] = watcher
            watcher.start()

    def watchers(self) -> list[IdleWatcher]:
        return list(self._watchers.values())

    def close(self, wait: float = 5.0) -> None:
        """Stop the IDLE watchers, all at once, waiting at most ``wait`` seconds in all (one
        still connecting, which nothing interrupts, is a daemon thread: it ends with the
        process)."""
        self._wake = None
        watchers, self._watchers = list(self._watchers.values()), {}
        for w in watchers:
            w.close(wait=0)
        deadline = time.monotonic() + wait
        for w in watchers:
            w.join(max(0.0, deadline - time.monotonic()))


def _stamp(ts: dt.datetime) -> str:
    return f"{ts.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
