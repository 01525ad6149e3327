"""SMTP delivery: implicit TLS or STARTTLS with verification, failover, per-recipient results.

Certificates are verified against the system store (``ssl.create_default_context``, which honours
``SSL_CERT_FILE``/``SSL_CERT_DIR``, so a private CA works). Failover to the next host happens when
a host cannot be reached, greets with an error, or fails its TLS handshake — never after an
authentication failure, which would only lock the account faster. A host that refuses EHLO is
spoken to with HELO (RFC 5321 3.2); one that then offers no AUTH when a login is needed, or no
STARTTLS on a STARTTLS endpoint, is passed over like one that greets with an error (nothing was
asked of the account yet). One host's opening (connection, greeting, EHLO, TLS) is given the
timeout in all, not each read: a server trickling its greeting a byte at a time is cut off
(:class:`Opening`), and so is each reply after it, AUTH's, MAIL's, RCPT's, DATA's and BDAT's
(:class:`_Timed`): one cut off ends as one that timed out. A failure names every host tried,
each with its reason, in one line. An OAuth login on a host whose EHLO names no XOAUTH2 is
passed over too; none left, or a 504 to ``AUTH XOAUTH2``, is a :class:`ConfigError` (exit 78):
logging in again would not change it.

Each recipient ends as ``sent`` (2xx), ``hard``/``soft``/``block`` (classified from the reply by
:mod:`warmup.bounces`), ``unknown`` (the connection broke after the message data began: it may
have been delivered) or ``released`` (nothing left: the slot does not count).
Provider throttling replies set :attr:`Outcome.throttle`; the message is not retried.

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
import shlex
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warmup import credentials, headers
from warmup.errors import ConfigError, DataError, PermissionFailure, TempFail, Unavailable
from warmup.neterr import Opening, TimedReader, describe
from warmup.words import byte_size, scrubbed, some, undeclared_text

if TYPE_CHECKING:
    from warmup.oauth import Bearer

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Target:
    hosts: tuple[str, ...]
    port: int
    security: str  # ssl | starttls | none
    username: str
    password: str | Bearer = field(repr=False)  # a Bearer: AUTH XOAUTH2 with its token
    timeout: float = DEFAULT_TIMEOUT
    # What to check when the server wants a login it did not get (530): None, the mailbox's
    # (a pool's overflow channel says its own: its login is no mailbox's)
    login_fix: str | None = None


@dataclass(frozen=True)
class RcptResult:
    recipient: str
    outcome: str  # sent | hard | soft | block | unknown | released
    code: int | None = None
    text: str = ""


@dataclass
class Outcome:
    results: dict[str, RcptResult]
    throttle: tuple[int, str] | None = None
    error: str | None = None  # why the message as a whole did not go

    @property
    def sent(self) -> list[str]:
        return [r for r, v in self.results.items() if v.outcome == "sent"]


class AuthFailed(PermissionFailure):
    """The server refused the credentials (exit 77)."""


class LoginWanted(AuthFailed):
    """The server answered MAIL or RCPT '530 Authentication required' (RFC 4954): this session
    has no login the server takes for sending. The mailbox's fault, not a recipient's: nobody
    bounced for it (exit 77). Read as each recipient's block bounce, it was counted in the
    mailbox's bounce rate, which paused the mailbox for a login to fix.

    ``results``: every recipient's outcome (empty: all ``released``). A recipient refused for
    good before the 530 (550 5.1.1 user unknown) keeps its ``hard``: what the server said about
    that address stands, login or not. A refusal of another kind (a 5.7.x policy, a 4xx) may be
    the missing login speaking: released, for the retry after the login is fixed to tell.
    Nothing is sent where the data waits for DATA's 354; with CHUNKING it went with the
    envelope, and the recipients the server took are ``sent``."""

    def __init__(self, message: str, results: dict[str, RcptResult] | None = None) -> None:
        super().__init__(message)
        self.results = dict(results or {})


class AuthDeferred(TempFail):
    """The server answered the login with a temporary failure, e.g. 454 4.7.0 (exit 75)."""


class TooBig(DataError):
    """The message is larger than the server takes (exit 65): over its SIZE (RFC 1870), refused
    before MAIL FROM; its size refused at MAIL FROM, or at the end of DATA (552 5.3.4), after
    which nothing was delivered either. The message's fault, not its recipients': no bounce.
    Read as each recipient's soft bounce, a too-big message raised the mailbox's bounce rate
    by its recipient count.

    ``results``: each recipient's outcome when the envelope was answered (a refusal at RCPT TO
    stands: a 550 5.1.1 is that address's hard bounce); empty: every one ``released``."""

    def __init__(self, message: str, results: dict[str, RcptResult] | None = None) -> None:
        super().__init__(message)
        self.results = dict(results or {})


NO_OAUTH = "offers no OAuth login"


class _NoOAuth(smtplib.SMTPNotSupportedError):
    """A host whose EHLO names no XOAUTH2 among its AUTH mechanisms, for an OAuth login."""


def _no_oauth_login(tried: str, user: str) -> ConfigError:
    """No host offered XOAUTH2 to an OAuth login: the configuration's problem (exit 78), which
    logging in again would not fix (IMAP says the same: :func:`warmup.bounces.imapconn.connect`)."""
    return ConfigError(
        f"the SMTP server offers no OAuth login ({tried}); check the mailbox's SMTP host, "
        f"or log in with a password instead ('warmup mailbox login {shlex.quote(user)}')"
    )


def _context() -> ssl.SSLContext:
    return ssl.create_default_context()


def reply_text(reply: bytes | str) -> str:
    """A server's reply text on one line, whatever its bytes' encoding."""
    # RFC 5321 says ASCII (UTF-8 with SMTPUTF8); Chinese servers also answer in GBK.
    text = undeclared_text(reply, latin1=False) if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def logged_in(answer: tuple[int, bytes]) -> None:
    """Raise :class:`smtplib.SMTPAuthenticationError` unless ``answer`` (of ``login`` or
    ``auth``) is 235. smtplib also returns a 503 ('already authenticated', it assumes), which
    on a connection that has not logged in is a refusal ('503 5.5.1 authentication not
    enabled'): taken for a login, the send went on unauthenticated, and the server's '530
    Authentication required' to each RCPT was recorded as the recipients' block bounces."""
    code, reply = answer
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _login_wanted(
    host: str | None,
    user: str,
    mail_from: str,
    verb: str,
    code: int,
    text: str,
    results: dict[str, RcptResult] | None = None,
    fix: str | None = None,
) -> None:
    """Raise :class:`LoginWanted` for a 530 to ``verb`` (MAIL or RCPT). ``user``: the name the
    session logged in as, '' when it logs in as no one. ``results``: each recipient's outcome
    as read so far (see :class:`LoginWanted` for what is kept). ``fix``: what to check
    (:attr:`Target.login_fix`); None: the mailbox's login."""
    if code != 530:
        return
    kept = {
        r: v
        if v.outcome in ("sent", "hard", "unknown")
        else RcptResult(r, "released", v.code, v.text)
        for r, v in (results or {}).items()
    }
    sent = [r for r, v in kept.items() if v.outcome == "sent"]
    hard = [r for r, v in kept.items() if v.outcome == "hard"]
    done = (
        f"the message went to {some(sent, 3)} with the envelope (CHUNKING), not to the others"
        if sent
        else "nothing was sent"
    )
    if hard:
        done += f" ({some(hard, 3)} refused for good, recorded)"
    if fix is None:
        fix = (
            f"check the mailbox's login with 'warmup doctor {shlex.quote(mail_from)}'"
            if user
            else "this connection logs in as no one: give it a user"
        )
    if sent:  # a new message to all would reach these twice
        fix += ", then send it again to the others alone"
    raise LoginWanted(
        f"{host or 'the server'} wants a login before {verb} ({code} {text}); {done}: {fix}",
        kept,
    )


def smtp_auth_off(reply: str) -> bool:
    """Whether a 535 says authenticated SMTP is turned off for the mailbox or its tenant
    (Exchange Online: "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is
    disabled for the Tenant"), not that the login is wrong."""
    return "smtpclientauthentication is disabled" in reply.lower()


# Said of a host that took the connection but never greeted, with STARTTLS or no TLS: the
# commonest cause is a port of implicit TLS (465), whose server waits for the client's TLS
# handshake as the client waits for its greeting, until the timeout.
_SILENT = (
    ": connected, but the server never greeted; a port of implicit TLS (465) waits for "
    "the client's TLS first: if so, the mailbox's security is ssl ('warmup doctor' checks)"
)


def _trust_fix(address: str) -> str:
    """What to do about a server certificate that does not verify (never: skip verifying).
    ``SSL_CERT_FILE`` naming no file is the likeliest cause when it is set: OpenSSL skips it
    without a word, and the CA it was to add is not trusted."""
    named = os.environ.get("SSL_CERT_FILE")
    if named and not os.path.isfile(named):
        return (
            f"SSL_CERT_FILE names {named!r}, which is no file: point it at the CA certificates "
            f"(PEM) or unset it"
        )
    return (
        f"check the host is the provider's own (a proxy or antivirus that inspects TLS shows "
        f"its own certificate); for a server with a private CA, point SSL_CERT_FILE at the CA's "
        f"certificate (PEM); 'warmup doctor {shlex.quote(address)}' checks each host"
    )


class Session:
    """An authenticated SMTP connection to the first host of ``target`` that works."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.failed: list[tuple[str, str]] = []
        self.greeted: list[int] = []  # the codes of greetings that turned this client away
        self._silent = False  # the last host tried took the connection and never greeted
        untrusted = False  # a host's certificate did not verify
        self.host: str | None = None
        self.smtp: smtplib.SMTP | None = None
        self.chunking = chunking_wanted()  # read before connecting: a bad value costs nothing
        if isinstance(target.password, str) and target.username:
            credentials.sendable(target.password, f"the password for {target.username}")
        for host in target.hosts:
            opening = Opening(target.timeout)
            try:
                smtp = self._open(host, opening)
                if opening.end():  # cut just as it ended: the connection is shut down
                    _quietly_close(smtp)
                    raise TimeoutError
                self.smtp, self.host = smtp, host
                break
            except (OSError, smtplib.SMTPException) as exc:
                why = failure_text(exc)
                if isinstance(exc, smtplib.SMTPConnectError):  # greeted, with no 220
                    self.greeted.append(exc.smtp_code)
                untrusted = untrusted or isinstance(exc, ssl.SSLCertVerificationError)
                cut = opening.end()
                if cut:  # cut off: each read came in time, the whole did not
                    why = f"timed out (no complete answer within {target.timeout:g} s)"
                waited = cut or isinstance(exc, TimeoutError) or "timed out" in str(exc)
                if self._silent and waited:
                    why += _SILENT
                self.failed.append((host, why))
            finally:
                opening.end()
        if self.smtp is None:
            if any(why.startswith(NO_OAUTH) for _, why in self.failed):
                raise _no_oauth_login(self._tried(), target.username)
            self._turned_away()
            if untrusted:  # reached: "check the network" sent the user after the wrong fault
                raise Unavailable(
                    f"the SMTP server's TLS certificate does not verify ({self._tried()}); "
                    f"warmup never sends without verifying it: {_trust_fix(target.username)}"
                )
            raise Unavailable(
                f"cannot reach the SMTP server ({self._tried()}); check the network and "
                f"'warmup mailbox show {shlex.quote(target.username)}'"
            )
        if self._login_needed():
            # Not failed over past here: the server has been asked about the account.
            passed = f" (passed over: {self._tried()})" if self.failed else ""
            try:
                self._login()
            except smtplib.SMTPAuthenticationError as exc:
                self.close()
                reply = f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
                # a server quoting the password or token back: never in a message
                reply = scrubbed(reply, target.password)
                if not isinstance(target.password, str) and exc.smtp_code == 504:
                    # "Unrecognized authentication type": XOAUTH2 offered in EHLO, refused as
                    # a mechanism (not the token): a new login would not change it.
                    self.failed.append((self.host or "", f"{NO_OAUTH} (AUTH XOAUTH2: {reply})"))
                    raise _no_oauth_login(self._tried(), target.username) from None
                if exc.smtp_code == 535 and smtp_auth_off(reply):
                    # Exchange Online's 5.7.139, to a password as to a token: no new login or
                    # password changes it, an admin must.
                    raise ConfigError(
                        f"{self.host} does not take authenticated SMTP for "
                        f"{target.username} ({reply}){passed}; an administrator must turn "
                        f"it on for the mailbox (Exchange Online: 'Set-CASMailbox "
                        f"{shlex.quote(target.username)} -SmtpClientAuthenticationDisabled "
                        f"$false', and for the tenant)"
                    ) from None
                if not isinstance(target.password, str) and exc.smtp_code == 535:
                    from warmup.oauth import LoginExpired

                    raise LoginExpired(
                        target.username, f"was refused by {self.host} ({reply}){passed}"
                    ) from None
                # 454 and other 4xx: the server cannot check now; 432 asks for a new password.
                if 400 <= exc.smtp_code < 500 and exc.smtp_code != 432:
                    raise AuthDeferred(
                        f"{self.host} could not log {target.username} in just "
                        f"now ({reply}){passed}; try again later"
                    ) from None
                raise AuthFailed(
                    f"{self.host} refused the login for {target.username}: {reply}{passed}"
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                why = scrubbed(failure_text(exc), target.password)
                self.failed.append((self.host or "", f"login failed: {why}"))
                raise Unavailable(
                    f"cannot use the SMTP server ({self._tried()}); check the network and "
                    f"'warmup mailbox show {shlex.quote(target.username)}'"
                ) from None

    def _turned_away(self) -> None:
        """Raise for a server that was reached and answered the connection with a refusal
        ("554 no service for you", "421 too busy") instead of its 220 greeting: it was reached,
        so "check the network" sent the user after the wrong fault. Every host greeting 4xx:
        :class:`TempFail` (75, try later); any 5xx: :class:`Unavailable` (69), in its words.
        Otherwise nothing: the caller says the server could not be reached."""
        every = bool(self.greeted) and len(self.greeted) == len(self.failed)
        if every and all(400 <= c < 500 for c in self.greeted):
            raise TempFail(
                f"the SMTP server turned the connection away for now ({self._tried()}); "
                f"try again later"
            )
        if not any(500 <= c < 600 for c in self.greeted):
            return
        show = f"'warmup mailbox show {shlex.quote(self.target.username)}'"
        raise Unavailable(
            f"the SMTP server refused the connection ({self._tried()}): it turns this client "
            f"away (its address, or the service off); ask the server's administrator, or "
            f"check the host in {show}"
        )

    def _tried(self) -> str:
        """Every host tried and why it was not used, for a one-line message."""
        return "; ".join(f"{h}:{self.target.port}: {w}" for h, w in self.failed)

    def _login(self) -> None:
        assert self.smtp is not None
        secret = self.target.password
        if isinstance(secret, str):
            logged_in(self.smtp.login(self.target.username, secret))
            return
        try:
            logged_in(self.smtp.auth("XOAUTH2", secret.smtp_response(), initial_response_ok=True))
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code != 535 or not secret.refused():
                raise
            # A cached token the server ended early: once more with a fresh one.
            logged_in(self.smtp.auth("XOAUTH2", secret.smtp_response(), initial_response_ok=True))

    def _open(self, host: str, opening: Opening) -> smtplib.SMTP:
        t = self.target
        smtp: smtplib.SMTP
        if t.security == "ssl":  # connected and greeted (smtplib: not 220 is SMTPConnectError)
            smtp = _WatchedSSL(opening, host, t.port, timeout=t.timeout, context=_context())
        else:
            self._silent = False
            try:
                smtp = _Watched(opening, host, t.port, timeout=t.timeout)
            except (OSError, smtplib.SMTPServerDisconnected):
                self._silent = opening.watched  # connected, and never greeted
                raise
        try:
            hello = _hello(smtp)
            if t.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(f"server does not offer STARTTLS{hello}")
                smtp.starttls(context=_context())
                hello = _hello(smtp)
            if self._login_needed(smtp) and not smtp.has_extn("auth"):
                raise smtplib.SMTPNotSupportedError(f"server offers no login (AUTH){hello}")
            if self._login_needed(smtp) and not isinstance(t.password, str):
                offered = (smtp.esmtp_features.get("auth") or "").upper().split()
                if "XOAUTH2" not in offered:  # nothing asked of the account: not a login fault
                    raise _NoOAuth(
                        f"{NO_OAUTH} (XOAUTH2 is not among its AUTH mechanisms: "
                        f"{' '.join(offered) or 'none named'})"
                    )
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def _login_needed(self, smtp: smtplib.SMTP | None = None) -> bool:
        smtp = smtp or self.smtp
        assert smtp is not None
        if not self.target.username:  # a relay that takes mail without a login (by address)
            return False
        return self.target.security != "none" or smtp.has_extn("auth")

    def send(self, mail_from: str, recipients: list[str], data: bytes) -> Outcome:
        """One message; never raises for SMTP replies or a broken connection (see
        :meth:`_send`). Interrupted (a second Ctrl-C), the connection is dropped, not closed
        with QUIT: the server's next reply would answer the interrupted command, so QUIT
        waited up to the timeout for it, which the user had just asked not to do."""
        try:
            return self._send(mail_from, recipients, data)
        except BaseException:
            if self.smtp is not None:
                _quietly_close(self.smtp)
                self.smtp = None
            raise

    def _send(self, mail_from: str, recipients: list[str], data: bytes) -> Outcome:
        """One message; never raises for SMTP replies or a broken connection.

        Bcc and Resent-Bcc headers are removed on the way out, whoever built ``data``: the
        envelope carries those recipients, and every recipient would read the header.
        """
        data = headers.without(data, headers.BLIND_FIELDS)
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
                return self._send_chunked(mail_from, recipients, chunk, body)
        talk = _Exchange(smtp, mail_from, recipients, pipelined=pipelined, body=body)
        try:
            code, reply = talk.reply()
            if code != 250:
                text = reply_text(reply)
                self._reset(talk, code)
                _login_wanted(
                    self.host, self.target.username, mail_from, "MAIL FROM", code, text,
                    fix=self.target.login_fix,
                )  # fmt: skip
                return _sender_refused(released, code, text, _throttles(code, text), self.host)
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
                    _login_wanted(
                        self.host, self.target.username, mail_from, "RCPT TO", code, text,
                        {**released, **results}, fix=self.target.login_fix,
                    )  # fmt: skip
                elif _throttles(code, text, "rcpt"):
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
                _quietly_close(smtp)
                self.smtp = None
                why = f"DATA answered {code} {reply_text(reply)}, not 354; nothing was sent"
                return Outcome({**released, **results}, error=why)
            if code != 354:
                text = reply_text(reply)
                self._reset(talk, code)
                throttle = (code, text) if _throttles(code, text) else None
                _size_refused(results, accepted, code, text, throttle, self.host, "to DATA")
                results.update(_delivered(accepted, code, text, throttle is not None))
                return Outcome(results, throttle)
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing of the message left: these slots do not count.
            self.close()
            return Outcome(
                {**released, **results}, error=f"connection lost before DATA: {failure_text(exc)}"
            )
        try:
            smtp.send(dot_stuff(data))
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            for r in accepted:
                results[r] = RcptResult(
                    r, "unknown", None, f"connection lost in DATA: {failure_text(exc)}"
                )
            return Outcome(results, error=f"connection lost during DATA: {failure_text(exc)}")
        text = reply_text(reply)
        throttle = (code, text) if _throttles(code, text) else None
        _size_refused(results, accepted, code, text, throttle, self.host, "at the end of DATA")
        results.update(_delivered(accepted, code, text, throttle is not None))
        return Outcome(results, throttle)

    def _send_chunked(
        self, mail_from: str, recipients: list[str], chunk: bytes, body: str
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
        after it is delivered."""
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
        if not replies and not (written and waited):
            return Outcome(released, error=f"connection lost before DATA: {lost}")
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
            _login_wanted(
                self.host, self.target.username, mail_from, "MAIL FROM", code, text,
                fix=self.target.login_fix,
            )  # fmt: skip
            return _sender_refused(released, code, text, _throttles(code, text), self.host)
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
            elif _throttles(code, text, "rcpt"):
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
            _login_wanted(
                self.host, self.target.username, mail_from, "RCPT TO", *wanted,
                {**released, **results}, fix=self.target.login_fix,
            )  # fmt: skip
        if len(replies) < len(talk.lines):  # a 421 or a lost connection before BDAT's reply
            if lost is None:  # 421: the transaction is abandoned, nothing delivered
                return Outcome({**released, **results}, throttle)
            if not written:  # lost before the last window, which carries the data, left
                return Outcome(
                    {**released, **results}, throttle, f"connection lost before DATA: {lost}"
                )
            unanswered = recipients[len(replies) - 1 :]
            for r in accepted + unanswered:
                results[r] = RcptResult(r, "unknown", None, f"connection lost in DATA: {lost}")
            return Outcome(
                {**released, **results}, throttle, f"connection lost during DATA: {lost}"
            )
        if wanted is not None and not accepted:  # the chunk was discarded: nothing went
            self._end(closed)
            _login_wanted(
                self.host, self.target.username, mail_from, "RCPT TO", *wanted,
                {**released, **results}, fix=self.target.login_fix,
            )  # fmt: skip
        code, text = replies[-1]  # BDAT's: the message's, as DATA's final reply
        held = _throttles(code, text)
        if not 200 <= code < 300:
            self._end(closed)
        _size_refused(
            {**released, **results}, accepted, code, text, held, self.host, "at the end of BDAT"
        )
        results.update(_delivered(accepted, code, text, held))
        if wanted is not None:  # the data went with the envelope: those taken have it
            _login_wanted(
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
                    _quietly_close(self.smtp)
                    self.smtp = None
                    return
            if last_code == 421:
                self.close()
                return
            assert self.smtp is not None
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(self.smtp)
            self.smtp = None


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
    """:func:`chunking_wanted` and where it came from, as ``warmup config show`` names it."""
    given = os.environ.get(CHUNKING_ENV)
    if given is not None:
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

    def reply(self) -> tuple[int, bytes]:
        """The next command's reply, writing the next commands first when all sent are answered."""
        if self.answered == self.sent:
            batch = self.lines[self.sent : self.sent + self.window]
            text = "".join(batch)
            if self.chunk is not None and self.sent + len(batch) == len(self.lines):
                self.smtp.send(text.encode(self.smtp.command_encoding) + self.chunk)
            else:
                self.smtp.send(text)
            self.sent += len(batch)
        self.answered += 1
        return self.smtp.getreply()

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


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


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


MAIL_REFUSED = "MAIL FROM refused: "  # how an Outcome's error begins when MAIL FROM was


def _throttles(code: int, text: str, stage: str | None = None) -> bool:
    """:func:`warmup.bounces.classify.is_throttle` of a reply; a 2xx, never one, answered
    without importing the classifier (its wording rules: most of the imports of a message
    that went)."""
    if 200 <= code < 300:
        return False
    from warmup.bounces.classify import is_throttle

    return is_throttle(code, text, stage)


def _sender_refused(
    released: dict[str, RcptResult], code: int, text: str, throttled: bool, host: str | None
) -> Outcome:
    """MAIL FROM refused: nothing sent, every slot given back. A throttle pauses the mailbox; a
    5xx is the server refusing this sender for good (a disabled or blocked account, a sender
    it does not take): each recipient carries that reply, so that :func:`refused_sender` tells
    it from a refusal that may pass later. But for one refusing the SIZE declared with MAIL
    FROM (RFC 1870: a limit for this sender below its EHLO's SIZE): the message is too big,
    :class:`TooBig`, as over that SIZE (it was "ask the provider why: a disabled account?")."""
    from warmup.bounces.classify import refuses_size

    if not throttled and refuses_size(code, text):
        raise TooBig(
            f"{host or 'the server'} refuses the message's size at MAIL FROM ({code} {text}): "
            f"nothing was sent; make it smaller (a link instead of an attachment?)"
        )
    if 500 <= code < 600 and not throttled:
        released = {r: RcptResult(r, "released", code, text) for r in released}
    return Outcome(released, (code, text) if throttled else None, f"{MAIL_REFUSED}{code} {text}")


def _size_refused(
    results: dict[str, RcptResult],
    accepted: list[str],
    code: int,
    text: str,
    throttled: object,
    host: str | None,
    where: str,
) -> None:
    """:class:`TooBig` when the message's reply (``code`` ``text``, ``where`` it came) refuses
    its size for good (a 552 5.3.4, or Exim's bare "552 Message size exceeds maximum
    permitted"): no recipient got it, and none is to blame, so those ``accepted`` are released
    (the MAIL FROM refusal of its size, :func:`_sender_refused`, the same); ``results``: the
    others' outcomes at RCPT TO, kept."""
    if throttled or 200 <= code < 300:  # (a message that went: no classifier imported)
        return
    from warmup.bounces.classify import refuses_size

    if not refuses_size(code, text):
        return
    kept = {**results, **{r: RcptResult(r, "released", code, text) for r in accepted}}
    hard = [r for r, v in kept.items() if v.outcome == "hard"]
    also = f" ({some(hard, 3)} refused for good at RCPT TO, recorded)" if hard else ""
    raise TooBig(
        f"{host or 'the server'} refuses the message's size {where} ({code} {text}): nothing "
        f"was delivered{also}; make it smaller (a link instead of an attachment?)",
        kept,
    )


def refused_sender(report: Any) -> tuple[int, str] | None:
    """The server's 5xx to MAIL FROM when it refused the sender for good (:class:`Outcome` or
    :class:`warmup.gate.SendReport`), else None. Nothing was sent, and a retry of any message
    gets the same answer: "try later" (exit 75, the relay's 451) had scripts retry it for
    ever, each retry another refusal from the provider."""
    error = getattr(report, "error", None) or ""
    results = list(getattr(report, "results", {}).values())
    if not error.startswith(MAIL_REFUSED) or report.throttle or not results:
        return None
    first = results[0]
    if first.code is None or not 500 <= first.code < 600:
        return None
    return first.code, first.text


def _delivered(accepted: list[str], code: int, text: str, throttled: bool) -> dict[str, RcptResult]:
    """Each accepted recipient as the message's reply (to DATA, to the end of DATA, or BDAT
    LAST) says: sent on 2xx, released when it throttles or is a 421 (the server ends the
    session without the message, whatever its words: no recipient bounced), else the bounce it
    is — but for a hard one, which blames an address (:func:`_blamed`)."""
    if 200 <= code < 300:
        outcome = "sent"
    elif throttled or code == 421:
        outcome = "released"
    else:
        from warmup.bounces.classify import classify_smtp_reply

        outcome = classify_smtp_reply(code, text)
    if outcome == "hard" and len(accepted) > 1:
        return _blamed(accepted, code, text)
    return {r: RcptResult(r, outcome, code, text) for r in accepted}


# An address in a server's words: "<c2@example.com>: Recipient address rejected", "user
# c2@example.com unknown".
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\]\\,;:\"']+@[^\s<>()\[\]\\,;:\"']+")


def _blamed(accepted: list[str], code: int, text: str) -> dict[str, RcptResult]:
    """A hard refusal ("550 5.1.1 User unknown") answering a transaction of several recipients:
    one reply for all of them, which one address earned. Those it names are that hard bounce
    (suppressed); the others did not get the message, and nothing says their address is bad:
    released (no bounce, not suppressed; a retry of the message reaches them). Naming none of
    them it blames no one for ever: each is refused for good, for this message (block, counted,
    not suppressed). Each recipient had been suppressed before, the good with the bad."""
    named = {a.rstrip(".").lower() for a in _ADDRESS_IN_TEXT.findall(text)}
    if not any(r.lower() in named for r in accepted):
        return {r: RcptResult(r, "block", code, text) for r in accepted}
    return {
        r: RcptResult(r, "hard" if r.lower() in named else "released", code, text) for r in accepted
    }


# RFC 3463 X.5.3 "too many recipients"; RFC 5321 4.5.3.1.10: a server past its limit of
# recipients per message refuses the rest with 452 (an older one with 552, which a client is to
# read as temporary), and the client sends them in another transaction.
_TOO_MANY = re.compile(r"\b[45]\.5\.3\b|too many recipients", re.IGNORECASE)


def too_many_recipients(code: int, text: str) -> bool:
    """Whether a refusal at RCPT TO is the server's limit of recipients per message, no fault
    of the recipient's: not sent, and no bounce (a soft one counted in the mailbox's bounce rate
    for each recipient past the limit)."""
    return 400 <= code < 600 and _TOO_MANY.search(text) is not None


def size_refused(result: RcptResult) -> bool:
    """Whether ``result`` is its recipient's server refusing the message's size for good (RFC
    1870: "552 5.3.4" at RCPT TO, the SIZE declared with MAIL FROM over that mailbox's limit):
    released, no bounce, but the same message never reaches it, so it is not to be sent again."""
    if result.outcome != "released" or result.code is None:
        return False  # (a recipient that has it: no classifier imported)
    from warmup.bounces.classify import refuses_size

    return refuses_size(result.code, result.text or "")


def _hello(smtp: smtplib.SMTP) -> str:
    """EHLO, or HELO when the server refuses it (RFC 5321 3.2: an old or stripped-down server
    answers EHLO 500/502 and takes HELO; without either, MAIL FROM gets 503). Returns what to
    add to a refusal of the host's missing extensions: ``" (EHLO refused: ...)"`` after a HELO,
    else ``""``; raises :class:`smtplib.SMTPHeloError` when HELO is refused too."""
    code, reply = smtp.ehlo()
    if code == 250:
        return ""
    refused = f"EHLO refused: {code} {reply_text(reply)}"
    code, reply = smtp.helo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, f"{refused}; HELO refused: {code} {reply_text(reply)}")
    return f" ({refused})"


class _Timed(TimedReader, smtplib.SMTP):
    """smtplib's SMTP whose every reply is given its timeout in all, not each read
    (:class:`~warmup.neterr.TimedReader`): the AUTH reply, MAIL's, RCPT's, DATA's and BDAT's,
    the reader armed around :meth:`getreply`."""

    def reply_seconds(self) -> float:
        return self.timeout

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None:
            assert self.sock is not None
            self.file = self.sock.makefile("rb")
        replies = self._replies
        assert replies is not None
        replies.arm()
        try:
            return super().getreply()
        finally:
            replies.disarm()


class _Watched(_Timed):
    """smtplib's SMTP whose connection :class:`Opening` watches from the moment it exists
    (``_get_socket`` is smtplib's own, the connection watched before the greeting is read)."""

    def __init__(self, opening: Opening, host: str, port: int, **kwargs: Any) -> None:
        self._opening = opening
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._opening.watch(sock)
        return sock


class _WatchedSSL(_Timed, smtplib.SMTP_SSL):
    """:class:`_Watched` for implicit TLS: watched before the handshake, which a server may
    drag out as well."""

    def __init__(self, opening: Opening, host: str, port: int, **kwargs: Any) -> None:
        self._opening = opening
        self._server = host
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._opening.watch(sock)
        return self.context.wrap_socket(sock, server_hostname=self._server)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def failure_text(exc: BaseException) -> str:
    """What went wrong in an SMTP conversation, said for an operator: the server's reply, a
    closed connection, or the network error."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "server closed the connection" + (f" ({exc})" if "timed out" in str(exc) else "")
    return describe(exc)
