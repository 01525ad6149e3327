"""The relay in queue mode, behind ``warmup send (ADDRESS | --pool NAME) --queue -- COMMAND``.

    relay = QueueRelay(ledger, pool="outreach", campaign="dec")
    code = warmup.wrap.run_relay(relay, ["python", "outreach.py"])

Every message the command sends is stored in the outbox (:class:`warmup.Outbox`, with its
envelope recipients) and answered ``250 2.0.0 queued as ID`` at the end of DATA, at once:
nothing is reserved and nothing goes upstream here, so the command never waits for a paced slot
and never sees 451 for the plan; ``warmup run`` sends the messages when the plan allows.

A message its campaign has already — the same content to the same recipients, whatever Date,
Message-ID and MIME boundaries the command's library drew this time (see
:meth:`warmup.Outbox.add_many`): the command was run again after a crash, or twice — is not
queued again but answered ``250 2.0.0 already queued as ID``, so that the run goes through and
completes the campaign instead of mailing its leads twice; the summary counts them.

The guard is the gating relay's (:class:`warmup.relay.Relay`, DESIGN invariant 10): loopback
only, one-time credentials, ``MAIL FROM`` and the From/Sender headers only naming the mailbox —
for a pool, any of its members (the worker sets From to the member that sends the message) —
and suppressed recipients refused at ``RCPT`` (550 5.1.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from warmup import headers
from warmup.errors import DataError, NewerLedger, WarmupError
from warmup.gate import SchemaLook
from warmup.ledger import Ledger
from warmup.ledger.values import wall_clock
from warmup.outbox import DEFAULT_EXPIRY, Outbox, check_bulk, check_name
from warmup.providers import get_provider
from warmup.relay import (
    DATA_SIZE_LIMIT,
    IDLE_TIMEOUT,
    LOGIN_TIMEOUT,
    MAX_SESSIONS,
    Relay,
    suppressed_at_rcpt,
)
from warmup.relayreplies import ascii_text, first_line, reply_line, shim_refusal
from warmup.relayserver import Envelope
from warmup.words import plural


class QueueRelay(Relay):
    """A loopback relay that queues instead of sending; :meth:`start`, :meth:`child_env`,
    :meth:`stop` as :class:`warmup.relay.Relay`. Give exactly one of ``mailbox`` and ``pool``;
    ``bulk`` queues every message as bulk (:meth:`warmup.Outbox.add`)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        mailbox: str | None = None,
        pool: str | None = None,
        campaign: str | None = None,
        bulk: bool = False,
        host: str = "127.0.0.1",
        data_size_limit: int = DATA_SIZE_LIMIT,
        max_sessions: int = MAX_SESSIONS,
        login_timeout: float = LOGIN_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        clock: Callable[[], dt.datetime] = wall_clock,
    ) -> None:
        self.outbox = Outbox(ledger)
        members = self.outbox.senders(mailbox, pool)  # first: a bad target starts nothing
        check_bulk(bulk, pool)
        if campaign is not None:
            check_name(campaign, "campaign")
        self.ledger = ledger
        # A newer warmup's upgrade while the command runs: its writes would miss what the newer
        # schema keeps, as the gating relay's would (asked once a minute, not per message)
        self._clock = clock
        self._schema = SchemaLook(ledger, clock())
        self.mailbox = members[0].address if mailbox is not None else None
        self.pool = pool
        self.campaign = campaign
        self.bulk = bulk
        self.members = [m.address for m in members]
        # A pool's scripts log in and write From as its first member, or any member.
        self._listen(
            self.members[0],
            host=host,
            max_hold=0.0,  # the reply is never held
            data_size_limit=data_size_limit,
            max_sessions=max_sessions,
            login_timeout=login_timeout,
            idle_timeout=idle_timeout,
        )
        self.senders = frozenset(self.members)
        limits = [(p.max_recipients, p.title) for p in map(get_provider, _providers(members))]
        known = [lim for lim in limits if lim[0]]
        self._limit: tuple[int | None, str] = min(known) if known else (None, "")
        self.queued: list[int] = []
        self.already: list[int] = []  # messages the campaign had already (their ids)

    @property
    def target(self) -> str:
        """``pool P`` or ``mailbox M``, for messages and the summary."""
        return f"pool {self.pool}" if self.pool is not None else f"mailbox {self.mailbox}"

    # -- the hooks of Relay ------------------------------------------------------------------
    def _close_session(self) -> None:
        pass  # no upstream session: nothing was sent

    def _checkpoints_aside(self) -> None:
        pass  # no gate: the outbox's writes keep SQLite's own checkpoints

    def recipient_limit(self) -> tuple[int | None, str]:
        return self._limit

    def _past_domain_cap(self, rcpts: list[str], rcpt: str) -> str | None:
        return None  # no gate here: 'queue add' refuses a message no member could send (550)

    def _suppressed(self, rcpts: list[str]) -> dict[str, str]:
        return self.ledger.suppressed(rcpts)

    def _as_whom(self) -> str:
        if self.pool is None:
            return self.user
        return f"a member of pool {self.pool} ({', '.join(self.members)})"

    def child_env(self, shim_dir: str | None = None) -> dict[str, str]:
        env = super().child_env(shim_dir)
        if self.pool is not None:
            env["WARMUP_POOL"] = self.pool
        return env

    def _message(self, envelope: Envelope) -> str:
        left_out = suppressed_at_rcpt(envelope)
        if left_out and envelope.warmup_shim:  # all or nothing: no retries here
            return shim_refusal(left_out)
        raw = bytes(envelope.original_content)
        if headers.body_only(raw):  # no header at all, as the gating relay reads it
            raw = b"\r\n" + raw
        try:
            found, _ = headers.fields(raw)
            headers.check_stamps((f.name, f.value) for f in found)
            if self.pool is None:
                headers.check_sender(found, self.user)
            else:
                headers.check_sender_among(found, self.members, self.pool)
        except headers.MalformedHeader as exc:
            return reply_line(550, f"5.6.0 {exc}")
        except DataError as exc:
            return reply_line(550, f"5.7.1 {exc}")
        try:
            # Those refused at RCPT too: the envelope as the command gave it is the message's
            # key (a re-run after a recipient was suppressed is the same message); the outbox
            # leaves them out as suppressed.
            rcpts = list(envelope.rcpt_tos)
            self._schema.check(self._clock())
            queued, before = self._queue(raw, rcpts + [r for r in left_out if r not in rcpts])
        except DataError as exc:  # e.g. its Message-ID is another message's already
            return reply_line(550, f"5.6.0 {exc}")
        except NewerLedger as exc:  # nothing queued
            return self._newer_ledger(exc).reply
        except (WarmupError, OSError) as exc:  # the ledger unavailable: later
            self.tally.note(first_line(exc))
            return reply_line(451, f"4.3.0 outbox unavailable: {first_line(exc)}")
        if queued is None:  # suppressed between RCPT and the end of DATA
            return "550 5.1.1 every recipient is suppressed: not queued"
        if before:
            self.already.append(queued)
            return f"250 2.0.0 already queued as {queued}"
        self.queued.append(queued)
        return f"250 2.0.0 queued as {queued}"

    def _queue(self, raw: bytes, rcpts: list[str]) -> tuple[int | None, bool]:
        """The message's outbox id (None: every recipient suppressed), and whether it was
        queued before (not queued again)."""
        got = self.outbox.add_many(
            [(raw, rcpts)],
            mailbox=self.mailbox,
            pool=self.pool,
            campaign=self.campaign,
            expires=DEFAULT_EXPIRY,
            bulk=self.bulk,
        )
        if got.already:
            return got.already[0][1], True
        return (got.ids[0] if got.ids else None), False

    def summary(self) -> str:
        """``warmup: queued 8 messages to pool P; 'warmup run' sends them``, those queued
        already (by an earlier run), and the refusals, if any."""
        n = len(self.queued)
        line = f"warmup: queued {plural(n, 'message')} to {ascii_text(self.target)}"
        if self.campaign:
            line += f" (campaign {self.campaign})"
        if self.already:
            line += f"; {len(self.already)} already queued, not queued again"
        if n:
            line += f"; 'warmup run' sends {'it' if n == 1 else 'them'}"
        t = self.tally
        if t.deferred or t.refused:
            line += f"; {t.deferred} deferred (4xx), {t.refused} refused (5xx)"
        return t.with_refusals(line)


def _providers(members: list[Any]) -> list[str]:
    return sorted({m.provider for m in members})
