"""The loopback relay behind ``warmup send ADDRESS -- COMMAND``: every message the command sends
goes through the gate (:mod:`warmup.wrap` runs the command).

    relay = Relay(gate, wait=True).start()
    env = relay.child_env()        # hand these credentials to the client, then
    relay.stop()

An SMTP server of its own (:mod:`warmup.relayserver`) listens on 127.0.0.1 (a free port, with
STARTTLS, and another for implicit TLS, both with a certificate made for the run:
:mod:`warmup.relaytls`) for the lifetime of the command. It is never an open relay (DESIGN.md
invariant 8): it binds a loopback address only, demands AUTH with one-time credentials handed
to the command in its environment, accepts ``MAIL FROM`` only for the gated mailbox and a
header ``From`` only naming it. Suppressed recipients are refused at ``RCPT`` (550 5.1.1, that
recipient only), before they cost quota (invariant 7). The server answers the SMTP grammar,
AUTH, TLS and the limits; the hooks below (``handle_MAIL``, ``handle_RCPT``, ``handle_DATA``)
answer what the gate decides.

At the end of ``DATA`` the message is gated: a reservation for every accepted recipient, the
upstream delivery, the settlement — all on the event loop's thread, which runs one callback at a
time: messages are serialised, the ledger and the one upstream :class:`warmup.smtp.Session` are
only ever used by that thread, and no thread hand-off sits on a message's path (on a loaded
machine each cost as much as a reservation). Other sessions' commands wait meanwhile, as their
messages would wait for the one upstream session anyway. The reply to the client is the gate's
answer: 250 when at least one recipient was accepted upstream, 451 when the plan says later, the
upstream code when it refused.

Waiting (``wait=True``, the default of ``warmup send``): when the next slot is paced to later
today, the relay holds its reply to the end of DATA and sends nothing until then. SMTP has no
way to keep a client alive during that reply, so the hold is bounded by :data:`MAX_HOLD` (the
10 minutes RFC 5321 §4.5.3.2.6 asks clients to wait for it); a longer wait, or a client with a
shorter timeout, gets 451 / a dropped connection. Either is harmless: nothing is reserved while
holding, so the client's retry is counted once.

The words of the replies, and the end-of-DATA reply for each outcome of the gate, are
:mod:`warmup.relayreplies`'s; the count of them printed when the command exits is
:class:`warmup.relaytally.Tally`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from warmup import addresses, credentials, headers
from warmup.errors import ConfigError, DataError, NewerLedger, WarmupError
from warmup.gate import SETTLE_AFTER, DuplicateSend, Gate, NotAllowed, Suppressed
from warmup.ledger import local_day
from warmup.ledger.values import MailboxNotFound
from warmup.outgoing import (
    message_id_for,
    new_message_id,
    prepare_data,
    refused_before,
    retry_of_derived,
    retry_of_own,
    retry_recipients,
)
from warmup.policy.engine import next_send_text
from warmup.relayreplies import (
    MAX_HOLD,  # the relay's limit, with those below (warmup.wrap takes it from here)
    NOTHING_SENT,
    Delivery,
    answer,
    ascii_text,
    duplicate_reply,
    first_line,
    reply_line,
    shim_refusal,
)
from warmup.relayserver import Envelope, Server, internal_error
from warmup.relaytally import Tally
from warmup.words import byte_size

if TYPE_CHECKING:
    import ssl

    from warmup.relaytls import RelayTLS

DATA_SIZE_LIMIT = headers.MESSAGE_LIMIT  # what the big providers accept per message
MAX_SESSIONS = 20  # connections at once; one script rarely opens more than a few
LOGIN_TIMEOUT = 30.0  # seconds from connecting to a successful AUTH
IDLE_TIMEOUT = 300.0  # seconds between an authenticated client's commands (RFC 5321 §4.5.3.2.7)
# Seconds a TLS session's end waits for the client's close_notify before the connection is
# dropped (asyncio's default, 30 s, kept a client that never answered counted that long).
TLS_SHUTDOWN_TIMEOUT = 5.0
# The command gets the relay's one-time credentials instead, never a way into the mailbox, the
# overflow channel or the OAuth app.
SECRET_VARS = credentials.SECRET_VARS
# The EHLO name of warmup's sendmail shim (warmup.cli.sendmail.SHIM_HELO), all or nothing: past a
# recipient refused at RCPT TO as suppressed it still sends DATA, for the relay to tell a retry
# (sent to the rest) from a first attempt (nothing sent: NOTHING_SENT).
SHIM_HELO = "warmup-sendmail.invalid"
# The relay's refusal of MAIL FROM ... SMTPUTF8: it does not offer it (relayserver's EHLO).
NO_UTF8 = (
    "warmup sends with ASCII addresses only; give an international domain in its xn-- form "
    "and an ASCII name before the '@'"
)
log = logging.getLogger("warmup.relay")


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback IP address, else :class:`ValueError`.

    Names (even ``localhost``) are refused: they resolve through files and DNS that a relay
    which must never be reachable from outside should not depend on.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the relay binds a loopback IP address only, not {host!r}") from None
    if not ip.is_loopback:
        raise ValueError(
            f"the relay binds a loopback address only, not {host}: it would be "
            f"an open relay for the network"
        )
    return str(ip)


class Relay:
    """The loopback SMTP server for one gate; :meth:`start`, hand :meth:`child_env` out, :meth:`stop`."""

    def __init__(
        self,
        gate: Gate,
        *,
        wait: bool,
        host: str = "127.0.0.1",
        max_hold: float = MAX_HOLD,
        data_size_limit: int = DATA_SIZE_LIMIT,
        max_sessions: int = MAX_SESSIONS,
        login_timeout: float = LOGIN_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.gate = gate
        self.wait = wait
        self._settle_handle: asyncio.TimerHandle | None = None  # loop thread only
        self._settle_after = gate.settle_after  # the gate's, off while the relay runs
        self._listen(
            gate.box.address,
            host=host,
            max_hold=max_hold,
            data_size_limit=data_size_limit,
            max_sessions=max_sessions,
            login_timeout=login_timeout,
            idle_timeout=idle_timeout,
        )

    def _listen(
        self,
        user: str,
        *,
        host: str,
        max_hold: float,
        data_size_limit: int,
        max_sessions: int,
        login_timeout: float,
        idle_timeout: float,
    ) -> None:
        """What every relay needs to listen: the address, the limits, one-time credentials."""
        self.host = check_loopback(host)  # first: nothing starts for a bad address
        self.max_hold = max_hold
        self.data_size_limit = data_size_limit
        self.max_sessions = max_sessions
        self.login_timeout = login_timeout
        self.idle_timeout = idle_timeout
        self.sessions = 0  # open client connections (event loop thread only)
        self.handshaking = 0  # connections to tls_port not greeted yet: at most max_sessions
        self.tls_shutdown_timeout = TLS_SHUTDOWN_TIMEOUT
        self.active_at = time.monotonic()  # the last connection or command (loop.time())
        self.user = user
        self.senders = frozenset({user})  # MAIL FROM accepted
        self.password = secrets.token_urlsafe(24)  # one run, one secret; never the real one
        self.port = 0
        self.tls_port = 0  # implicit TLS (STARTTLS is offered on ``port``)
        self.tls: RelayTLS | None = None  # the run's certificate, from start to stop
        self.tally = Tally(max_hold=max_hold)
        # A ledger a newer warmup upgraded while the relay ran: every message is answered 451
        # from then on, and the command's run ends in this error (78) once it exits
        self.fatal: NewerLedger | None = None
        self._server: Server | None = None

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        return None if self.tls is None else self.tls.context

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Relay:
        from warmup.relaytls import RelayTLS

        self.tls = RelayTLS.make(self.host)
        try:
            self._checkpoints_aside()
            self._server = Server(self).start()
        except BaseException:
            self._close_tls()
            raise
        self.port, self.tls_port = self._server.port, self._server.tls_port
        # On the loop's thread while the command starts (another process): what the first
        # message would otherwise load while its client waits.
        self._server.loop.call_soon_threadsafe(self._warm)
        return self

    def _warm(self) -> None:
        """Import what gating a message needs (the upstream reply's classification, the
        settlement's): nothing is read, connected or sent."""
        from warmup import api, bounces, logins, smtp  # noqa: F401

    def stop(self) -> None:
        """Stop listening, let an upstream delivery in progress settle, close the session (and
        the checkpoints' thread, after a last one)."""
        if self._server is not None:
            self._server.stop()  # waits for the loop's thread: the session is ours now
            self._server = None
        self._close_tls()
        self._close_session()

    def _close_tls(self) -> None:
        tls, self.tls = self.tls, None
        if tls is not None:
            tls.close()  # its certificate's file: trust in it ends with the run

    def _checkpoints_aside(self) -> None:
        """The ledger's checkpoints off the loop's thread, where a reservation's commit ran
        them (~2 ms every ~30 messages; issue #15), until :meth:`stop`. The deferred "sent"
        settlements likewise: written on the loop (:meth:`_settle_soon`), whose commits the
        checkpoints' thread is told of, not on the gate's own thread (given back at stop)."""
        self._settle_after, self.gate.settle_after = self.gate.settle_after, None
        self.gate.checkpoint_aside(self._checkpoints_back)

    def _checkpoints_back(self, why: str) -> None:
        log.warning("relay: checkpoints failed (%s); the relay's commits checkpoint again", why)

    def _close_session(self) -> None:
        try:
            self.gate.disconnect()
        finally:
            try:
                self.gate.checkpoint_inline()
            except (WarmupError, OSError):  # the ledger away: the gate's close says so
                pass
            self.gate.settle_after = self._settle_after

    def summary(self) -> str:
        """What the relay did, printed when the command exits."""
        return self.tally.summary()

    def recipient_limit(self) -> tuple[int | None, str]:
        """Recipients allowed per message, and who says so: the provider's, or fewer when
        the mailbox never sends to that many in a day (:meth:`Gate.day_top`). Past the day's
        top the end of DATA was a 451 "try tomorrow", and a client retrying on 4xx retried
        for ever; at RCPT TO a client sends the rest in another transaction."""
        most = self.gate.provider.max_recipients
        top, why = self.gate.day_top()
        if most is not None and most <= top:
            return most, self.gate.provider.title
        return top, f"{self.gate.box.address}, sending to at most {top} a day ({why}),"

    def _past_domain_cap(self, rcpts: list[str], rcpt: str) -> str | None:
        """The refusal of ``rcpt`` when the message would then mail its domain more than the
        policy's recipient-domain cap lets any day (see :func:`warmup.refusals.check_fits`): at
        the end of DATA it was a 451 "send to it tomorrow" that a client retried for ever."""
        caps = self.gate.spec.recipient_domains
        if not caps:
            return None
        domain = addresses.domain_of(rcpt)
        cap = caps.cap_for(domain)
        if cap is None:
            return None
        box = self.gate.box.address
        if cap == 0:
            return reply_line(
                550,
                f"5.7.1 {box} never mails anyone at {domain} (its policy's recipient-domain cap "
                f"there is 0): not sent",
            )
        if sum(addresses.domain_of(r) == domain for r in rcpts) >= cap:
            return reply_line(
                452,
                f"4.5.3 too many recipients at {domain}: {box} sends to at most {cap} a day "
                f"there (its policy's recipient-domain cap)",
            )
        return None

    def _suppressed(self, rcpts: list[str]) -> dict[str, str]:
        return self.gate.check_suppressed(rcpts)

    def child_env(self, shim_dir: str | None = None) -> dict[str, str]:
        """The command's environment: no mailbox secret, the relay's one-time credentials."""
        env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
        for prefix in ("WARMUP_SMTP_", "SMTP_"):
            env.update(
                {
                    f"{prefix}HOST": self.host,
                    f"{prefix}PORT": str(self.port),
                    f"{prefix}USER": self.user,
                    f"{prefix}PASSWORD": self.password,
                }
            )
            if self.tls is not None:
                env[f"{prefix[:-1]}S_PORT"] = str(self.tls_port)  # WARMUP_SMTPS_PORT, SMTPS_PORT
        if self.tls is not None:
            env.update(self.tls.child_env())
        env["WARMUP_MAILBOX"] = self.user
        if shim_dir:
            env["PATH"] = shim_dir + os.pathsep + env.get("PATH", os.defpath)
        return env

    # -- SMTP hooks (event loop thread, called by warmup.relayserver) ----------------------
    def authenticate(self, login: bytes, password: bytes) -> bool:
        """Whether AUTH gave this run's one-time credentials (compared in constant time)."""
        user_ok = hmac.compare_digest(login, self.user.encode())
        return hmac.compare_digest(password, self.password.encode()) and user_ok

    def handle_MAIL(self, envelope: Envelope, address: str, mail_options: list[str]) -> str:
        # The server has already answered 530 5.7.0 to a client that did not authenticate.
        if "SMTPUTF8" in mail_options:  # not offered (relayserver's EHLO): RFC 6531 §3.4's 555
            self.tally.count("555", "MAIL FROM")
            return f"555 5.5.4 SMTPUTF8 is not offered: {NO_UTF8}"
        try:
            sender = addresses.normalize(address, "sender")
        except DataError:
            sender = None
        if sender not in self.senders:
            self.tally.count("553", "MAIL FROM")
            who = "the null sender <>" if address in ("", "<>") else f"<{ascii_text(address)}>"
            return f"553 5.7.1 this relay sends only as {self._as_whom()}, not {who}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    def _as_whom(self) -> str:
        return self.user

    def handle_RCPT(self, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        envelope.warmup_shim = envelope.helo == SHIM_HELO
        try:
            reply = self._rcpt(envelope, address, rcpt_options)
        except WarmupError as exc:  # the suppression check found no ledger: later, not 500
            self.tally.note(first_line(exc))
            reply = reply_line(451, f"4.3.0 the ledger is unavailable: {first_line(exc)}")
        self.tally.count(reply, "RCPT TO")
        return reply

    def _rcpt(self, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        try:
            rcpt = addresses.normalize(address, "recipient")
        except DataError as exc:  # its reason: an international domain's xn-- form, a length
            if not address.isascii():  # RFC 6531 §3.7.4.1: not without SMTPUTF8
                return reply_line(553, f"5.6.7 {exc}")
            return reply_line(501, f"5.1.3 {exc}")
        if rcpt in envelope.rcpt_tos:
            return "250 2.1.5 OK (duplicate)"
        bad = self._suppressed([rcpt])  # first: refused for good, and never in the envelope
        if bad:
            self.tally.suppressed += 1
            # named still: the Message-ID derived for the message is the first attempt's, and
            # a retry that reached it (or was refused for it) before goes to the rest
            suppressed_at_rcpt(envelope).append(rcpt)
            return reply_line(550, f"5.1.1 <{rcpt}> is suppressed ({bad[rcpt]}): not sent")
        limit, who = self.recipient_limit()
        if limit and len(envelope.rcpt_tos) >= limit:
            return f"452 4.5.3 too many recipients: {ascii_text(who)} allows {limit} per message"
        over = self._past_domain_cap(envelope.rcpt_tos, rcpt)
        if over:
            return over
        envelope.rcpt_tos.append(rcpt)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def handle_DATA(self, envelope: Envelope) -> str | Awaitable[str]:
        """The end-of-DATA reply; or, held for the next paced slot, an awaitable of it."""
        try:
            reply = self._message(envelope)
        except Exception as exc:
            return self._counted(internal_error(self, exc))
        if isinstance(reply, str):
            return self._counted(reply)
        return self._held(reply)

    async def _held(self, reply: Awaitable[str]) -> str:
        try:
            return self._counted(await reply)
        except Exception as exc:  # never a traceback to the client
            return self._counted(internal_error(self, exc))

    def _counted(self, reply: str) -> str:
        if NOTHING_SENT not in reply:  # counted at RCPT TO, where the recipient was refused
            self.tally.count(reply)
        return reply

    def _message(self, envelope: Envelope) -> str | Awaitable[str]:
        try:
            rcpts = list(envelope.rcpt_tos)
            left_out = suppressed_at_rcpt(envelope)
            named = rcpts + [r for r in left_out if r not in rcpts]
            day = local_day(self.gate.clock(), self.gate.box.timezone)
            data, message_id, derived = prepare_data(
                bytes(envelope.original_content),
                self.user,
                lambda raw: message_id_for(self.gate.ledger, self.gate.box, named, raw, day),
            )
        except (headers.MalformedHeader, headers.MalformedBody) as exc:
            return reply_line(550, f"5.6.0 {exc}")
        except DataError as exc:
            return reply_line(550, f"5.7.1 {exc}")
        except (WarmupError, OSError) as exc:  # reading the ledger's key or the slots
            return reply_line(451, f"4.3.0 the ledger is unavailable: {first_line(exc)}")
        if len(data) > self.data_size_limit:  # the client's bytes fit; with what was added not
            return reply_line(
                552,
                f"5.3.4 the message with the From, Date and Message-ID the relay adds is "
                f"{byte_size(len(data))}, over the {byte_size(self.data_size_limit)} it takes; make it "
                f"smaller or give those headers yourself",
            )
        already: list[str] = []
        gone: list[str] = []
        told: list[str] = []  # refused at RCPT TO as suppressed, but reached before
        if left_out and envelope.warmup_shim:
            try:
                slots = self.gate.ledger.message_slots(self.gate.box, message_id, named)
            except (WarmupError, OSError) as exc:
                return reply_line(451, f"4.3.0 the ledger is unavailable: {first_line(exc)}")
            again = (retry_recipients if derived else retry_of_own)(slots, named)
            answered = refused_before(slots, named)
            reached = [r for r in named if r in slots and slots[r][1] == "sent"]
            if again is None or not set(left_out) <= {*answered, *reached}:
                return shim_refusal(left_out)
            gone = [r for r in answered if r not in left_out]  # those were told at RCPT TO
            # the shim read their 550 as a refusal: the 250 says they have the message
            told = [r for r in left_out if r in reached]
            already, rcpts = reached, again
        attempt = (rcpts, message_id, data, derived, already, gone, told)
        got = self._attempt(attempt, 0.0)
        return got if isinstance(got, str) else self._hold(attempt, got)

    def _attempt(self, attempt: tuple[Any, ...], held: float) -> str | float:
        """The reply to one attempt at :meth:`_deliver`, or the seconds to hold it first when
        the plan says later today (``held``: seconds it was held already)."""
        try:
            done = self._deliver(*attempt)
        except NotAllowed as exc:
            delay = self._hold_for(exc, held)
            return self._refusal(exc) if delay is None else delay
        self.tally.rejected_upstream += done.rejected
        self.tally.reached(done.sent, done.deferred)
        if done.error:
            self.tally.note(done.error)
        self._settle_soon()
        return done.reply

    async def _hold(self, attempt: tuple[Any, ...], delay: float) -> str:
        held = 0.0
        while True:
            await asyncio.sleep(delay)  # nothing is reserved: a client giving up is harmless
            held += delay
            got = self._attempt(attempt, held)
            if isinstance(got, str):
                return got
            delay = got

    def _settle_soon(self) -> None:
        """Write the gate's deferred "sent" settlements :data:`SETTLE_AFTER` seconds after the
        last message, unless another one's reservation writes them first (a client sending
        without a pause costs no transaction more). A script that waits between its sends (as
        warm-up pacing asks) left its last message ``reserved`` all that time: 'mailbox remove'
        refused as if the gate were sending it, and any other send from the mailbox 15 minutes
        on called it ``unknown`` until the script sent again or ended."""
        if self._settle_handle is not None:
            self._settle_handle.cancel()
        loop = asyncio.get_running_loop()
        self._settle_handle = loop.call_later(SETTLE_AFTER, self._settle_now)

    def _settle_now(self) -> None:
        self._settle_handle = None
        try:
            self.gate.flush()
        except (WarmupError, OSError):  # the ledger away: the next reservation (or stop) does
            pass

    def _hold_for(self, exc: NotAllowed, held: float) -> float | None:
        """Seconds to hold the reply for the next paced slot, or None to answer 451 now."""
        return self.gate.wait_for(exc, limit=self.max_hold - held) if self.wait else None

    def _refusal(self, exc: NotAllowed) -> str:
        a = exc.allowance
        if a.status == "paced" and a.next_send_at is not None:
            when = next_send_text(a.next_send_at, self.gate.box.timezone)
            return f"451 4.7.1 paced: next send at {when}"
        return reply_line(451, f"4.7.1 {exc}")

    # -- gating and delivery (event loop thread, blocking it) ------------------------------
    def _deliver(
        self,
        rcpts: list[str],
        message_id: str,
        data: bytes,
        derived: bool = False,
        already: list[str] | None = None,
        gone: list[str] | None = None,
        told: list[str] | None = None,
    ) -> Delivery:
        """:meth:`Gate.send` (reserve, send upstream, settle) and the client's reply for what
        happened. Raises :class:`NotAllowed` for the caller to hold or refuse. ``derived``:
        the relay gave the message its Message-ID (:func:`warmup.outgoing.derived_message_id`),
        so one the ledger holds is this message again (:func:`warmup.outgoing.retry_of_derived`);
        else it is the client's own, and a retry only when it names no one it did not name
        before (:func:`warmup.outgoing.retry_of_own`). ``already``, ``gone``: recipients of a retry
        reached before, and refused for good before (named in the 250, not sent again);
        ``told``: those of ``already`` refused at RCPT TO as suppressed (named in the 250)."""
        from warmup import smtp

        already, gone = list(already or ()), list(gone or ())
        try:
            try:
                report = self.gate.send(data, rcpts, message_id=message_id)
            except (NotAllowed, DuplicateSend) as first:
                # Read only when refused (a first attempt pays nothing): a retry goes to those
                # not reached yet, alone, and needs quota only for them.
                slots = self.gate.ledger.message_slots(self.gate.box, message_id, rcpts)
                again = (retry_recipients if derived else retry_of_own)(slots, rcpts)
                if again is not None:
                    already = [r for r in rcpts if r in slots and slots[r][1] == "sent"]
                    gone = refused_before(slots, rcpts)
                    rcpts = again
                elif derived and isinstance(first, DuplicateSend) and retry_of_derived(first) == []:
                    # sent to all before: the same text again, as a new message
                    fresh = new_message_id(self.gate.box.address)
                    line = f"Message-ID: {message_id}\r\n".encode()
                    data = data.replace(line, f"Message-ID: {fresh}\r\n".encode(), 1)
                    message_id = fresh
                else:
                    raise
                report = self.gate.send(data, rcpts, message_id=message_id)
        except NotAllowed:
            raise
        except Suppressed as exc:  # suppressed between RCPT and the end of DATA
            return Delivery(reply_line(550, f"5.1.1 {exc}"))
        except DuplicateSend as exc:
            return Delivery(duplicate_reply(exc))
        except smtp.AuthFailed as exc:
            return Delivery(
                reply_line(454, f"4.7.0 upstream login failed: {first_line(exc)}"),
                error=first_line(exc),
            )
        except smtp.TooBig as exc:  # over the server's SIZE: RFC 1870's reply, nothing sent
            return Delivery(reply_line(552, f"5.3.4 {exc}"))
        except DataError as exc:
            return Delivery(reply_line(550, f"5.7.1 {exc}"))
        except NewerLedger as exc:  # nothing reserved nor sent
            return self._newer_ledger(exc)
        except (WarmupError, OSError) as exc:  # upstream or the ledger unavailable: later
            code = (
                "4.3.0"
                if isinstance(exc, ConfigError | MailboxNotFound)
                else "4.7.0"
                if isinstance(exc, smtp.AuthDeferred)
                else "4.4.1"
            )
            return Delivery(
                reply_line(451, f"{code} unavailable: {first_line(exc)}"), error=first_line(exc)
            )
        return answer(report, message_id, already, gone, told)

    def _newer_ledger(self, exc: NewerLedger) -> Delivery:
        """The 451 for a message met by a ledger a newer warmup upgraded (said on stderr the
        first time): nothing is sent (or queued) until this warmup is upgraded, and a client
        that retries later sends it then; :func:`warmup.wrap.run_relay` ends in it (78)."""
        if self.fatal is None:
            self.fatal = exc
            log.warning(
                "warmup: %s; the relay answers 451 to every message from now on, taking "
                "none: upgrade warmup, then run the command again",
                first_line(exc),
            )
        return Delivery(reply_line(451, f"4.3.0 unavailable: {first_line(exc)}"))


def suppressed_at_rcpt(envelope: Envelope) -> list[str]:
    """The recipients of ``envelope`` refused at RCPT TO as suppressed (kept on it)."""
    return envelope.warmup_suppressed
