"""SMTP delivery: implicit TLS or STARTTLS with verification, failover, per-recipient results.

:class:`Session` sends messages, one at a time, on a :class:`~warmup.smtpconnect.Connection`
(the hosts tried in turn, TLS, the login: :mod:`warmup.smtpconnect`); what each reply means for
the message and its recipients (``sent``, a bounce, ``unknown``, ``released``; a throttle) is
:mod:`warmup.smtpreplies`'. This module gives every public name of both, as it always has.

When the server offers PIPELINING (RFC 2920) the commands before the data go in one write
(:class:`_Exchange`); the outcomes are those of the one-command-at-a-time conversation. When it
also offers CHUNKING (RFC 3030), as Gmail and Exchange Online do, a message of up to
:data:`CHUNKED_MAX` octets goes with them: MAIL, RCPT and ``BDAT <size> LAST`` with the data in
one write, one round trip a message instead of two (:meth:`Session._send_chunked`).
``$WARMUP_SMTP_CHUNKING=off``, or ``chunking = false`` in the config file's ``[smtp]``, keeps
every message on DATA (:func:`chunking_wanted`).
"""

from __future__ import annotations

import os
import re
import smtplib
import socket

from warmup import headerlines
from warmup.errors import ConfigError
from warmup.smtpconnect import (
    DEFAULT_TIMEOUT,
    NO_OAUTH,
    Connection,
    MechanismsRefused,
    Target,
    logged_in,
    password_login,
    quietly_close,
)
from warmup.smtpreplies import (
    MAIL_REFUSED,
    AuthDeferred,
    AuthFailed,
    AuthUnoffered,
    BadReply,
    LoginWanted,
    Outcome,
    RcptResult,
    TooBig,
    delivered,
    failure_text,
    login_wanted,
    refused_sender,
    reply_text,
    sender_refused,
    size_refused,
    smtp_auth_off,
    throttles,
    too_big,
    too_many_recipients,
)
from warmup.stopwindow import StopWindow
from warmup.words import byte_size

__all__ = [
    "CHUNKED_MAX",
    "CHUNKING_ENV",
    "DEFAULT_TIMEOUT",
    "MAIL_REFUSED",
    "NO_OAUTH",
    "PIPELINE_WINDOW",
    "AuthDeferred",
    "AuthFailed",
    "AuthUnoffered",
    "LoginWanted",
    "MechanismsRefused",
    "Outcome",
    "RcptResult",
    "Session",
    "Target",
    "TooBig",
    "chunking_setting",
    "chunking_wanted",
    "dot_stuff",
    "failure_text",
    "logged_in",
    "password_login",
    "quote",
    "refused_sender",
    "reply_text",
    "size_refused",
    "smtp_auth_off",
    "too_many_recipients",
]


class Session(Connection):
    """An authenticated SMTP connection to the first host of ``target`` that works, which
    sends messages (:meth:`send`)."""

    def __init__(self, target: Target) -> None:
        self.chunking = chunking_wanted()  # read before connecting: a bad value costs nothing
        super().__init__(target)

    def send(
        self,
        mail_from: str,
        recipients: list[str],
        data: bytes,
        window: StopWindow | None = None,
    ) -> Outcome:
        """One message; never raises for SMTP replies or a broken connection (see
        :meth:`_send`). Interrupted (a second Ctrl-C), the connection is dropped, not closed
        with QUIT: the server's next reply would answer the interrupted command, so QUIT
        waited up to the timeout for it, which the user had just asked not to do.
        ``window`` (:mod:`warmup.stopwindow`), the gate's, which writes the outcome: opened
        in its envelope phase as the message begins (a stop that raises cuts the connection:
        what was answered stands, the rest is released, nothing more goes), its data phase
        before the data goes, and held from the moment the message's own reply (to the end
        of DATA, or BDAT's) is read, before anything is made of it."""
        smtp = self.smtp
        if smtp is not None:
            smtp.garbled = False  # type: ignore[attr-defined]
        try:
            if window is not None:
                outcome = self._send(mail_from, recipients, data, window)
            else:
                with StopWindow() as own:
                    outcome = self._send(mail_from, recipients, data, own)
            outcome.garbled = bool(getattr(smtp, "garbled", False))
            return outcome
        except BaseException:
            if self.smtp is not None:
                quietly_close(self.smtp)
                self.smtp = None
            raise

    def _send(
        self, mail_from: str, recipients: list[str], data: bytes, window: StopWindow
    ) -> Outcome:
        """One message; never raises for SMTP replies or a broken connection.

        Bcc and Resent-Bcc headers are removed on the way out, whoever built ``data``: the
        envelope carries those recipients, and every recipient would read the header; so are
        Return-Path and Content-Length (:data:`~warmup.headerlines.DROPPED_FIELDS`).
        """
        data = headerlines.without(data, headerlines.DROPPED_FIELDS)
        smtp = self.smtp
        assert smtp is not None
        results: dict[str, RcptResult] = {}
        released = {r: RcptResult(r, "released") for r in recipients}
        # RFC 6152: 8-bit data (a UTF-8 body under 'Content-Transfer-Encoding: 8bit', as
        # EmailMessage.set_content writes Chinese text) is declared when the server takes it,
        # and made 7-bit when it does not; raw UTF-8 headers likewise with SMTPUTF8 (RFC 6531).
        if not data.isascii():
            from warmup import downgrade

            data, body = downgrade.for_server(
                data, eightbitmime=smtp.has_extn("8bitmime"), smtputf8=smtp.has_extn("smtputf8")
            )
        else:
            body = ""
        if smtp.has_extn("size"):
            # RFC 1870: the size declared with MAIL FROM lets a server refuse a message too
            # big for a recipient's mailbox at RCPT, before any of it is sent
            body += f" SIZE={_check_size(smtp, self.host or 'the server', data)}"
        pipelined = smtp.has_extn("pipelining")
        # as given over the limit, it is over as sent too (CRLF only adds): not normalised twice
        if self.chunking and pipelined and len(data) <= CHUNKED_MAX and smtp.has_extn("chunking"):
            chunk = _EOL.sub(b"\r\n", data)  # CRLF lines, as DATA carries them
            if not chunk.endswith(b"\r\n"):
                chunk += b"\r\n"  # the same bytes reach the mailbox either way
            if len(chunk) <= CHUNKED_MAX:  # the octets that go, bare LFs made CRLF
                # A stop from now cuts the connection: the replies read stand, the data may
                # have gone with the envelope (the recipients not refused are then unknown)
                window.envelope(lambda: _cut(smtp))
                return self._send_chunked(mail_from, recipients, chunk, body, window)
        talk = _Exchange(smtp, mail_from, recipients, pipelined=pipelined, body=body)
        # A stop from now cuts the connection: the replies read stand, nothing more goes
        window.envelope(lambda: _cut(smtp))
        try:
            code, reply = talk.reply()
            if code != 250:
                text = reply_text(reply)
                self._reset(talk, code)
                login_wanted(
                    self.host, self.target.username, mail_from, "MAIL FROM", code, text,
                    fix=self.target.login_fix,
                )  # fmt: skip
                return sender_refused(released, code, text, throttles(code, text), self.host)
            accepted = []
            for rcpt in recipients:
                code, reply = talk.reply()
                text = reply_text(reply)
                if code in (250, 251):
                    accepted.append(rcpt)
                    continue
                from warmup.bounces.classify import classify_smtp_reply, refuses_size

                if code == 530:
                    self._reset(talk, code)
                    login_wanted(
                        self.host, self.target.username, mail_from, "RCPT TO", code, text,
                        {**released, **results}, fix=self.target.login_fix,
                    )  # fmt: skip
                elif throttles(code, text, "rcpt"):
                    self._reset(talk, code)
                    # The refusals already read stand (a hard one suppresses its recipient).
                    return Outcome(
                        {**released, **results}, (code, text), f"throttled: {code} {text}"
                    )
                elif code == 421:  # the server ends the session: no bounce of this recipient
                    self._reset(talk, code)
                    return Outcome(
                        {**released, **results},
                        error=f"the server ended the session: {code} {text}",
                    )
                elif too_many_recipients(code, text) or refuses_size(code, text):
                    # the others still go: this one in a retry, or never (its server refuses
                    # the message's size); no bounce either way
                    results[rcpt] = RcptResult(rcpt, "released", code, text)
                else:
                    results[rcpt] = RcptResult(rcpt, classify_smtp_reply(code, text), code, text)
            if not accepted:
                self._reset(talk, code)
                return Outcome(results)
            code, reply = talk.reply()
            if code != 354 and code < 400:
                # Not an answer to DATA (a broken server's 250): no byte of the message left,
                # and it may be waiting for them, so not even QUIT (it could be read as data).
                quietly_close(smtp)
                self.smtp = None
                why = f"DATA answered {code} {reply_text(reply)}, not 354; nothing was sent"
                return Outcome({**released, **results}, error=why)
            if code != 354:
                text = reply_text(reply)
                self._reset(talk, code)
                throttle = (code, text) if throttles(code, text) else None
                too_big(results, accepted, code, text, throttle, self.host, "to DATA")
                results.update(delivered(accepted, code, text, throttle is not None))
                return Outcome(results, throttle)
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing of the message left: these slots do not count.
            self.close()
            return Outcome(
                {**released, **results},
                error=f"connection lost before DATA: {failure_text(exc)}",
                lost_at=talk.stage(),
            )
        if not window.data():  # stopped: the server waits for the data, which never goes
            quietly_close(smtp)
            self.smtp = None
            return Outcome({**released, **results}, error="stopped before the data was sent")
        try:
            smtp.send(dot_stuff(data))
            code, reply = smtp.getreply()
            if 300 <= code < 400:
                final(smtp, code, reply)  # raises
            window.open()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            for r in accepted:
                results[r] = RcptResult(
                    r, "unknown", None, f"connection lost in DATA: {failure_text(exc)}"
                )
            return Outcome(results, error=f"connection lost during DATA: {failure_text(exc)}")
        text = reply_text(reply)
        throttle = (code, text) if throttles(code, text) else None
        too_big(results, accepted, code, text, throttle, self.host, "at the end of DATA")
        results.update(delivered(accepted, code, text, throttle is not None))
        return Outcome(results, throttle)

    def _send_chunked(
        self,
        mail_from: str,
        recipients: list[str],
        chunk: bytes,
        body: str,
        window: StopWindow,
    ) -> Outcome:
        """:meth:`send` of a message (``chunk``: its bytes as they go, CRLF lines) whose
        envelope and data go in one write (RFC 3030 BDAT
        pipelined behind MAIL and RCPT, RFC 2920): every reply is read, since the data is on
        its way whatever they say; a recipient ends as the BDAT reply says when its RCPT was
        taken. A server that refused MAIL, or a recipient, discards the chunk (RFC 3030 4.2).

        A connection closed before any reply is read releases every recipient, as one lost
        before DATA does: a server that answers nothing has not taken the group (the usual case
        is an idle connection the server or a middlebox had closed, which :meth:`Gate.send` then
        reopens once). Not so a wait for the first reply that timed out once the data had left:
        Postfix answers the whole group after queueing the message, so every recipient is
        ``unknown``. Lost after a reply, a recipient not refused may have got the message:
        ``unknown`` — unless the data had not left yet (more recipients than one write holds:
        it goes with the last window), which releases them. A 421 ends the session: nothing
        after it is delivered. A stop before BDAT's reply (``window``'s envelope phase) cuts the
        connection: what was answered stands (a refusal at RCPT is a bounce), a recipient not
        refused is ``unknown`` once the data has left (a server may have taken it), released
        before."""
        smtp = self.smtp
        assert smtp is not None
        talk = _Exchange(smtp, mail_from, recipients, pipelined=True, body=body, chunk=chunk)
        replies: list[tuple[int, str]] = []
        lost: str | None = None
        waited = False  # the server said nothing in time: it may still be at work
        asked_login = False  # a 530 read: the data, if not on its way yet, stays back
        try:
            while talk.answered < len(talk.lines):
                code, reply = talk.reply()
                if talk.answered == len(talk.lines):
                    window.open()  # BDAT's: the message's own reply
                replies.append((code, reply_text(reply)))
                if code == 421:  # the server is closing: no more replies come
                    break
                if replies[0][0] != 250 and talk.answered == talk.sent:
                    break  # MAIL refused: the windows still unwritten (the data's) stay so
                asked_login = asked_login or code == 530
                if asked_login and talk.answered == talk.sent:
                    break  # a login wanted, known before the data left: it stays back
        except (OSError, smtplib.SMTPException) as exc:
            lost = failure_text(exc)
            waited = isinstance(exc, TimeoutError) or "timed out" in str(exc)
        # The data left only with the last window (a write that raised may not have ended).
        written = talk.sent == len(talk.lines)
        closed = lost is not None or replies[-1][0] == 421
        if closed:
            self.close()
        released = {r: RcptResult(r, "released") for r in recipients}
        if window.stopped and lost is not None:
            lost = "stopped before the server answered the data"
        if not replies and not (written and (waited or window.stopped)):
            return Outcome(
                released, error=f"connection lost before DATA: {lost}", lost_at="MAIL FROM"
            )
        if not replies:
            # Postfix answers a pipelined group once its input is drained: for a small
            # message, after the data is queued (milters included). Silence until the
            # timeout is no sign it was not taken.
            why = f"no reply after the data was sent: {lost}"
            return Outcome(
                {r: RcptResult(r, "unknown", None, why) for r in recipients},
                error=f"connection lost during DATA: {lost}",
            )
        code, text = replies[0]
        if code != 250:
            self._end(closed)
            login_wanted(
                self.host, self.target.username, mail_from, "MAIL FROM", code, text,
                fix=self.target.login_fix,
            )  # fmt: skip
            return sender_refused(released, code, text, throttles(code, text), self.host)
        results: dict[str, RcptResult] = {}
        accepted: list[str] = []
        throttle = None
        wanted: tuple[int, str] | None = None  # a 530: the server wants a login
        for rcpt, (code, text) in zip(recipients, replies[1:]):
            if code in (250, 251):
                accepted.append(rcpt)
                continue
            from warmup.bounces.classify import classify_smtp_reply, refuses_size

            if code == 530:
                wanted = wanted or (code, text)
                results[rcpt] = RcptResult(rcpt, "released", code, text)  # nobody's bounce
            elif throttles(code, text, "rcpt"):
                throttle = throttle or (code, text)
                # released, but refused: the others may still get it (the relay names it)
                results[rcpt] = RcptResult(rcpt, "released", code, text)
            elif code == 421 or too_many_recipients(code, text) or refuses_size(code, text):
                # the server ends the session (whatever its words), this recipient is past its
                # limit per message, or its server refuses the size: no bounce either way
                results[rcpt] = RcptResult(rcpt, "released", code, text)
            else:
                results[rcpt] = RcptResult(rcpt, classify_smtp_reply(code, text), code, text)
        if wanted is not None and not written and not closed:  # the data stayed back
            self._end(closed)
            login_wanted(
                self.host, self.target.username, mail_from, "RCPT TO", *wanted,
                {**released, **results}, fix=self.target.login_fix,
            )  # fmt: skip
        if len(replies) < len(talk.lines):  # a 421 or a lost connection before BDAT's reply
            if lost is None:  # 421: the transaction is abandoned, nothing delivered
                return Outcome({**released, **results}, throttle)
            if not written:  # lost before the last window, which carries the data, left
                return Outcome(
                    {**released, **results},
                    throttle,
                    f"connection lost before DATA: {lost}",
                    talk.stage(len(replies)),
                )
            unanswered = recipients[len(replies) - 1 :]
            for r in accepted + unanswered:
                results[r] = RcptResult(r, "unknown", None, f"connection lost in DATA: {lost}")
            return Outcome(
                {**released, **results}, throttle, f"connection lost during DATA: {lost}"
            )
        if wanted is not None and not accepted:  # the chunk was discarded: nothing went
            self._end(closed)
            login_wanted(
                self.host, self.target.username, mail_from, "RCPT TO", *wanted,
                {**released, **results}, fix=self.target.login_fix,
            )  # fmt: skip
        code, text = replies[-1]  # BDAT's: the message's, as DATA's final reply
        held = throttles(code, text)
        if not 200 <= code < 300:
            self._end(closed)
        too_big(
            {**released, **results}, accepted, code, text, held, self.host, "at the end of BDAT"
        )
        results.update(delivered(accepted, code, text, held))
        if wanted is not None:  # the data went with the envelope: those taken have it
            login_wanted(
                self.host, self.target.username, mail_from, "RCPT TO", *wanted,
                {**released, **results}, fix=self.target.login_fix,
            )  # fmt: skip
        return Outcome({**released, **results}, throttle or ((code, text) if held else None))

    def _end(self, closed: bool) -> None:
        """Abandon a chunked message the server refused: every reply is read, so RSET. A reply
        to RSET but 250 means the server did not discard the chunk behind a refused MAIL or
        RCPT (RFC 3030 asks it to; go-smtp's issue #315 is a server that reads it as
        commands): its replies to the message's lines would be read as the next message's, so
        the connection is closed instead."""
        if closed or self.smtp is None:
            return
        try:
            code, _ = self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            code = 0
        if code != 250:
            self.close()

    def _reset(self, talk: _Exchange, last_code: int) -> None:
        """Abandon the current message; a 421 means the server is closing the session.

        Pipelined commands already sent are answered first. If DATA was among them and the
        server took it (354), it waits for the message: only closing the connection abandons
        that without delivering anything (a lone "." would deliver an empty message).
        """
        try:
            if last_code != 421 and talk.unanswered():
                last_code = talk.drain()
                if last_code == 354:  # a QUIT now would be read as the message's first line
                    assert self.smtp is not None
                    quietly_close(self.smtp)
                    self.smtp = None
                    return
            if last_code == 421:
                self.close()
                return
            assert self.smtp is not None
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


PIPELINE_WINDOW = 100  # commands per write: their replies fit the socket buffers unread
# Largest message sent in the envelope's write (BDAT) when the server offers CHUNKING: a refused
# MAIL costs its upload for nothing, which is fine for a letter, not for a brochure; larger
# messages wait for DATA's 354 as before.
CHUNKED_MAX = 256 * 1024

CHUNKING_ENV = "WARMUP_SMTP_CHUNKING"
_SWITCH = {"1": True, "on": True, "true": True, "yes": True}
_SWITCH |= {"0": False, "off": False, "false": False, "no": False}


def chunking_wanted() -> bool:
    """Whether a message may go by BDAT when the server offers CHUNKING: ``$WARMUP_SMTP_CHUNKING``
    (on/off), else the config file's ``smtp.chunking``, else yes. The way out when a server
    offers CHUNKING and mishandles it (go-smtp's bug #315 read a refused chunk as commands):
    every message then waits for DATA's 354, as before."""
    return chunking_setting()[0]


def chunking_setting() -> tuple[bool, str]:
    """:func:`chunking_wanted` and where it came from, as ``warmup config show`` names it. The
    variable set empty (or blank) is one left unset, as every one of warmup's is: an ``export``
    of an unset shell variable stopped each send with exit 78."""
    given = os.environ.get(CHUNKING_ENV)
    if given is not None and given.strip():
        wanted = _SWITCH.get(given.strip().lower())
        if wanted is None:
            raise ConfigError(
                f"${CHUNKING_ENV} is {given!r}: expected on or off (1/0, true/false, yes/no)"
            )
        return wanted, f"environment ({CHUNKING_ENV})"
    from warmup import config

    loaded = config.load()
    if "smtp.chunking" in loaded.values:
        return bool(loaded.values["smtp.chunking"]), "config file"
    return True, "default"


class _Exchange:
    """The commands before a message's data — MAIL FROM, one RCPT TO per recipient, DATA — and
    their replies, read in order.

    Without PIPELINING each command is written when the previous one is answered, as smtplib's
    ``mail``/``rcpt``/``docmd`` do. With it (RFC 2920) they are written together, up to
    :data:`PIPELINE_WINDOW` at a time, so a message costs 2 round trips instead of 3 plus one
    per recipient; DATA closes the group, and the data waits for its 354 either way. The lines
    are smtplib's own (``putcmd``'s text and its refusal of CR/LF in an address).
    """

    def __init__(
        self,
        smtp: smtplib.SMTP,
        mail_from: str,
        recipients: list[str],
        *,
        pipelined: bool,
        body: str = "",
        chunk: bytes | None = None,
    ) -> None:
        lines = [f"mail from:{quote(mail_from)}{body}"]
        lines += [f"rcpt to:{quote(r)}" for r in recipients]
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"command contains prohibited newline characters: {line!r}")
        lines.append("DATA" if chunk is None else f"BDAT {len(chunk)} LAST")
        self.smtp = smtp
        self.chunk = chunk  # written right after the last command (BDAT's data)
        self.lines = [f"{line}\r\n" for line in lines]
        self.window = PIPELINE_WINDOW if pipelined else 1
        self.sent = 0
        self.answered = 0
        self.at = 0  # the index of the command whose reply is awaited (or whose line is written)

    def reply(self) -> tuple[int, bytes]:
        """The next command's reply, writing the next commands first when all sent are answered."""
        self.at = self.answered  # a batch written now begins with that command
        if self.answered == self.sent:
            batch = self.lines[self.sent : self.sent + self.window]
            text = "".join(batch)
            if self.chunk is not None and self.sent + len(batch) == len(self.lines):
                self.smtp.send(text.encode(self.smtp.command_encoding) + self.chunk)
            else:
                self.smtp.send(text)
            self.sent += len(batch)
        self.answered += 1
        code, reply = self.smtp.getreply()
        if 300 <= code < 400 and (self.chunk is not None or self.answered < len(self.lines)):
            final(self.smtp, code, reply)  # raises: only DATA's 354 goes on
        return code, reply

    def stage(self, at: int | None = None) -> str:
        """The command at index ``at`` (the one :meth:`reply` last waited for): "MAIL FROM",
        "RCPT TO" or the data's command, "DATA" (BDAT's too)."""
        at = self.at if at is None else at
        return "MAIL FROM" if at == 0 else "RCPT TO" if at < len(self.lines) - 1 else "DATA"

    def unanswered(self) -> int:
        """Commands written whose replies are still unread."""
        return self.sent - self.answered

    def drain(self) -> int:
        """Read the replies still due; the last one's code (421 at once: the server left)."""
        code = 0
        while self.unanswered():
            self.answered += 1
            code, _ = self.smtp.getreply()
            if code == 421:
                break
        return code


def final(smtp: smtplib.SMTP, code: int, reply: bytes) -> tuple[int, bytes]:
    """``code`` and ``reply``, a command's final reply: an intermediate 3xx (a 354 to RCPT or to
    the end of DATA) answers nothing asked, and is :class:`BadReply` with the connection dropped
    (the server's next line would be read as the next command's answer)."""
    if 300 <= code < 400:
        quietly_close(smtp)
        smtp.garbled = True  # type: ignore[attr-defined]
        raise BadReply(f"{code} ".encode() + reply)
    return code, reply


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


def _cut(smtp: smtplib.SMTP) -> None:
    """Shut the connection down from a signal handler (a read waiting on it ends at once, as
    a connection lost); closed by the session as it sees that.

    The socket's own ``shutdown``, not :meth:`ssl.SSLSocket.shutdown`, which drops the TLS
    layer first: the next read then took the encrypted bytes already received (a pipelined
    RCPT's reply) as a reply, code -1 and binary text, and settled a recipient by it. Under
    TLS kept, what had arrived is read as the server wrote it, then the end of the
    connection."""
    sock = smtp.sock
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def quote(address: str) -> str:
    """``<address>`` for an SMTP path, as :func:`smtplib.quoteaddr` writes it.

    A plain ``local@domain`` (dot-atoms, what the gate's normalised addresses are) is bracketed
    as it is; anything else goes through smtplib, whose RFC 5322 parse cost a relayed message
    more than its reservation's statements.
    """
    return f"<{address}>" if _PLAIN.fullmatch(address) else smtplib.quoteaddr(address)


_EOL = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _check_size(smtp: smtplib.SMTP, host: str, data: bytes) -> int:
    """The octets of ``data`` in CRLF lines, as it goes; :class:`TooBig` when that is over the
    SIZE the server's EHLO named (``SIZE`` alone, or 0, names no limit)."""
    bare = data.count(b"\n") - data.count(b"\r\n")  # each goes as CRLF: one octet more
    octets = len(data) + bare + (0 if data.endswith(b"\n") else 2)
    limit = smtp.esmtp_features.get("size", "").strip()
    # ASCII digits (RFC 1870): smtplib reads EHLO as Latin-1, where "\u00b2" is a digit too
    if limit.isascii() and limit.isdigit() and 0 < int(limit) < octets:
        raise TooBig(
            f"the message is {byte_size(octets)} and {host} takes at most "
            f"{byte_size(int(limit))} (its SIZE): nothing was sent; make it smaller (a link "
            f"instead of an attachment?)"
        )
    return octets


def dot_stuff(data: bytes) -> bytes:
    """The message as the DATA phase carries it: CRLF lines, leading dots doubled, final dot."""
    body = _LEADING_DOT.sub(b"..", _EOL.sub(b"\r\n", data))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"
