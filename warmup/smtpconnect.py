"""The way to a mailbox's SMTP server: connection, TLS, failover to backup hosts, the login.

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

:class:`Connection` is what :class:`warmup.smtp.Session` sends on; :class:`Target` says where
and as whom. ``warmup.smtp`` gives every public name.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import shlex
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warmup import credentials
from warmup.errors import ConfigError, TempFail, Unavailable
from warmup.neterr import Opening, TimedReader
from warmup.smtpreplies import (
    AuthDeferred,
    AuthFailed,
    AuthUnoffered,
    BadReply,
    failure_text,
    reply_text,
    smtp_auth_off,
)
from warmup.words import ECHOED_LEAST, scrubbed, undeclared_text

if TYPE_CHECKING:
    import io
    from collections.abc import Callable

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


# The TLS context of the last connections and what it was made from (_context_inputs): each
# connection made its own, its CA file read and parsed again (~3M instructions: a pool of 3
# made three a pass, one mailbox one). OpenSSL shares a context between connections.
_CONTEXT: list[tuple[tuple[object, ...], ssl.SSLContext]] = []


def _context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, the same one while what it reads is the same: the
    environment's CA file and folder (and key log) and the CA file itself (its inode, size and
    times: a file replaced or rewritten gives a new context). A CA folder's certificates are
    looked up when a handshake needs them, by the kept context as by a new one (one found
    stays known to it)."""
    inputs = _context_inputs()
    kept = _CONTEXT[:1]
    if kept and kept[0][0] == inputs:
        return kept[0][1]
    context = ssl.create_default_context()
    _CONTEXT[:] = [(inputs, context)]
    return context


def _context_inputs() -> tuple[object, ...]:
    """What ``ssl.create_default_context()`` reads of the environment and the CA file."""
    defaults = _verify_paths()
    named = tuple(
        os.environ.get(name)
        for name in (defaults.openssl_cafile_env, defaults.openssl_capath_env, "SSLKEYLOGFILE")
    )
    cafile = named[0] or defaults.openssl_cafile
    try:
        st = os.stat(cafile)
    except OSError:
        return (*named, None)
    return (*named, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@functools.cache
def _verify_paths() -> ssl.DefaultVerifyPaths:
    """OpenSSL's built-in CA file and folder, and the names of the variables that override them."""
    return ssl.get_default_verify_paths()


def logged_in(answer: tuple[int, bytes]) -> None:
    """Raise :class:`smtplib.SMTPAuthenticationError` unless ``answer`` (of ``login`` or
    ``auth``) is 235. smtplib also returns a 503 ('already authenticated', it assumes), which
    on a connection that has not logged in is a refusal ('503 5.5.1 authentication not
    enabled'): taken for a login, the send went on unauthenticated, and the server's '530
    Authentication required' to each RCPT was recorded as the recipients' block bounces."""
    code, reply = answer
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


class MechanismsRefused(smtplib.SMTPAuthenticationError):
    """Every AUTH mechanism :func:`password_login` tried, each advertised, was answered 504
    ("mechanism not supported"): the password was never checked. ``advertised``: the server's
    AUTH line; ``tried``: the mechanisms asked, in order; the code and reply are the last
    one's."""

    def __init__(self, advertised: str, tried: list[str], code: int, reply: bytes | str) -> None:
        super().__init__(code, reply)
        self.advertised, self.tried = advertised, tried


# The mechanisms a password logs in with, in smtplib's order of preference (SMTP.login's).
_PASSWORD_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")


def password_login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's ``login``: each mechanism of :data:`_PASSWORD_MECHANISMS` the server advertises,
    in turn, until one is taken (235; anything else raises as :func:`logged_in` does). Where
    smtplib raised the last mechanism's refusal, a refusal of the password (535) wins over a
    504 "mechanism not supported" to another, and a 504 to every one is
    :class:`MechanismsRefused`: the server's set-up, not the password."""
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    advertised = smtp.esmtp_features["auth"].split()
    tried = [m for m in _PASSWORD_MECHANISMS if m in advertised]
    if not tried:
        raise smtplib.SMTPException("No suitable authentication method found.")
    smtp.user, smtp.password = user, password  # what smtplib's auth_* objects read
    refused: smtplib.SMTPAuthenticationError | None = None
    unsupported: smtplib.SMTPAuthenticationError | None = None
    for mechanism in tried:
        method = getattr(smtp, "auth_" + mechanism.lower().replace("-", "_"))
        try:
            answer = smtp.auth(mechanism, method)
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code == 504:
                unsupported = exc
            else:
                refused = exc
            continue
        logged_in(answer)  # a 503 on a connection not logged in: refused, not tried further
        return
    if refused is not None:
        raise refused
    assert unsupported is not None
    raise MechanismsRefused(
        " ".join(advertised), tried, unsupported.smtp_code, unsupported.smtp_error
    )


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


class Connection:
    """An authenticated SMTP connection to the first host of ``target`` that works."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.failed: list[tuple[str, str]] = []
        self.greeted: list[int] = []  # the codes of greetings that turned this client away
        self._silent = False  # the last host tried took the connection and never greeted
        untrusted = False  # a host's certificate did not verify
        self.host: str | None = None
        self.smtp: smtplib.SMTP | None = None
        if isinstance(target.password, str) and target.username:
            credentials.sendable(target.password, f"the password for {target.username}")
        for host in target.hosts:
            opening = Opening(target.timeout)
            try:
                smtp = self._open(host, opening)
                if opening.end():  # cut just as it ended: the connection is shut down
                    quietly_close(smtp)
                    raise TimeoutError
                self.smtp, self.host = smtp, host
                smtp.secret = target.password  # type: ignore[attr-defined]
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
                if isinstance(exc, MechanismsRefused):
                    raise AuthUnoffered(
                        f"{self.host} advertises AUTH {exc.advertised}, then refused "
                        f"{', '.join(exc.tried)} as not supported ({reply}): the server's "
                        f"set-up is at fault, not the password (never checked); ask its "
                        f"administrator{passed}"
                    ) from None
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
        """AUTH, as smtplib speaks it. A 334 challenge that is no base64 (smtplib decodes it
        unchecked: ``binascii.Error``, a traceback and exit 1) is the server's broken answer,
        an :class:`smtplib.SMTPException`: the login failed, exit 69, one line."""
        try:
            self._authenticate()
        except binascii.Error:
            raise smtplib.SMTPException(
                "the server's AUTH challenge (its 334 reply) is not base64"
            ) from None

    def _authenticate(self) -> None:
        assert self.smtp is not None
        secret = self.target.password
        if isinstance(secret, str):
            password_login(self.smtp, self.target.username, secret)
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
            quietly_close(smtp)
            raise
        return smtp

    def _login_needed(self, smtp: smtplib.SMTP | None = None) -> bool:
        smtp = smtp or self.smtp
        assert smtp is not None
        if not self.target.username:  # a relay that takes mail without a login (by address)
            return False
        return self.target.security != "none" or smtp.has_extn("auth")

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                quietly_close(self.smtp)
            self.smtp = None


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

    # What a reply must never quote back, the login's password or token: set once connected
    # (Connection); every reply is cleaned of it where it is read (a 2xx or 3xx once a quick
    # look, :meth:`_may_quote`, says it may hold it).
    secret: str | Bearer | None = None

    # Set when a reply read was no SMTP reply (:class:`BadReply`): the server is broken.
    garbled = False
    # A password login's look (:meth:`_may_quote`): the search for its tells, and the password
    # and user it was made for.
    _tells: Callable[[bytes], object]
    _tells_of: object = object()  # no secret is it: no search made yet
    _tells_user: str | None = None
    user = ""  # smtplib's login sets it (so does password_login)

    def reply_seconds(self) -> float:
        return self.timeout

    def getreply(self) -> tuple[int, bytes]:
        """smtplib's ``getreply``, which takes any line for a reply (no code: -1, and its text
        from the fifth byte on), checked as RFC 5321 4.2 writes one: each line a code from 2xx
        to 5xx, then a space, a hyphen (more lines follow) or the line's end, every line the
        same code. Anything else is :class:`BadReply`, the connection dropped; so is a reply
        longer than :data:`REPLY_MAX` in all (smtplib keeps every line: a server streaming
        ``250-`` lines took a send past 1 GB of memory within its timeout).

        The common reply, one line, is told by one dict look-up of its first four bytes
        (:data:`_ONE_LINE`), which costs less than smtplib's own ``int()`` of its code; any
        other first line (a multi-line reply's, or no reply at all) goes to :meth:`_read_lines`,
        which checks each line in turn. A reply is read with the reader armed (its timeout in
        all), then cleaned of the login (:meth:`_may_quote`, :meth:`_unquoted`)."""
        file = self.file
        if file is None:
            assert self.sock is not None
            self.file = self.sock.makefile("rb")
            file = self.file
        replies = self._replies
        assert replies is not None
        replies.arm()
        try:
            line = self._line(file)
            code = (_ONE_LINE or _one_line()).get(line[:4])
            if code is None or len(line) > _LINE_MAX:
                code, reply = self._read_lines(file, line)
            else:
                reply = line[4:].strip(b" \t\r\n")
        finally:
            replies.disarm()
        if code < 400 and not self._may_quote(reply):  # DATA's 354 too: each message's
            return code, reply
        return code, self._unquoted(reply)

    def _line(self, file: io.BufferedReader) -> bytes:
        """The server's next line, at most one byte past ``_LINE_MAX`` (the caller tells it too
        long); a read that fails closes the connection as smtplib's does."""
        try:
            return file.readline(_LINE_MAX + 1)
        except OSError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected(f"Connection unexpectedly closed: {exc}") from exc

    def _read_lines(self, file: io.BufferedReader, line: bytes) -> tuple[int, bytes]:
        """:meth:`getreply`'s reply from its first ``line`` on, when that line is no whole
        reply (a multi-line reply's first, or no reply at all), each line checked in turn: the
        code and the lines' text, not yet cleaned of the login."""
        lines: list[bytes] = []
        size = 0
        while True:
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            if len(line) > _LINE_MAX:
                self.close()
                raise smtplib.SMTPResponseException(500, "Line too long.")
            lines.append(line)
            size += len(line)
            if size > REPLY_MAX:
                self.close()
                self.garbled = True
                raise BadReply(lines[0], f"the server's reply ran past {REPLY_MAX >> 10} KiB")
            if (
                not _REPLY_CODE.fullmatch(line[:3])
                or line[3:4] not in _AFTER_CODE
                or line[:3] != lines[0][:3]
            ):
                self.close()
                self.garbled = True
                raise BadReply(self._unquoted(b"".join(lines)))
            if line[3:4] != b"-":
                break
            line = self._line(file)
        return int(lines[0][:3]), b"\n".join(x[4:].strip(b" \t\r\n") for x in lines)

    def _may_quote(self, reply: bytes) -> bool:
        """Whether a 2xx or 3xx ``reply`` may quote the login back, by one search for its tells
        (the password or token as it is, or the start of the base64 it went in: AUTH LOGIN's,
        AUTH PLAIN's ``^@user^@``, XOAUTH2's ``user=``), so that the common reply costs no
        :func:`scrubbed` (~80 us a reply; DATA's 354, scrubbed whole, was 9% of a worker's
        message by instructions). A 2xx is printed (``send --json`` names each recipient's
        reply): one quoting the password printed it. A password's search is compiled once a
        connection (once its user is known), and tried first: one regular expression, since
        ``tell in reply`` on bytes first tries ``tell`` as an integer (a TypeError made and
        dropped, ~2k instructions a test)."""
        secret = self.secret
        if secret is self._tells_of and self.user is self._tells_user:
            return self._tells(reply) is not None
        if secret is None:
            return False
        if not isinstance(secret, str):
            token = secret.held()
            tells = [b"dXNlcj0", b"auth=", b"Bearer"] + ([token[:12].encode()] if token else [])
            return any(t in reply for t in tells)
        if not secret:
            return False
        user = self.user
        tells = [
            secret.encode(),
            # AUTH LOGIN's base64, unpadded as a server may quote it ("cHcxMg" for "pw12")
            base64.b64encode(secret.encode()[:6])[:8].rstrip(b"="),
            base64.b64encode(f"\0{user}\0".encode())[:8],
        ]
        # A longer password quoted cut short ("you logged in with s3cret-pa"), which
        # :func:`scrubbed` masks by any ECHOED_LEAST of its characters: looked for the same way,
        # or a 250 quoting it went out unmasked ('send --json', the ledger).
        tells += {
            secret[i : i + ECHOED_LEAST].encode() for i in range(len(secret) - ECHOED_LEAST + 1)
        }
        self._tells = re.compile(b"|".join(re.escape(t) for t in tells)).search
        self._tells_of, self._tells_user = secret, user
        return self._tells(reply) is not None

    def _unquoted(self, reply: bytes) -> bytes:
        """``reply`` without the login's secret, in any form :func:`scrubbed` finds it: a
        refusal (to MAIL, RCPT, the end of DATA) quoting the password or the AUTH line back
        went whole into the bounce's text in the ledger and the error line. A reply with
        nothing to hide is returned as it came (its bytes, whatever their charset)."""
        if self.secret is None:
            return reply
        text = undeclared_text(reply, latin1=False)
        clean = scrubbed(text, self.secret)
        return reply if clean == text else clean.encode()


_LINE_MAX = 8192  # smtplib's _MAXLINE: a longer line is "500 Line too long."
# The most one reply may hold, all its lines: EHLO's, a refusal's policy text, are a few KiB.
REPLY_MAX = 256 * 1024
_REPLY_CODE = re.compile(rb"[2-5][0-9][0-9]")
_AFTER_CODE = (b" ", b"-", b"\r", b"\n", b"")
# A line's first four bytes that make it a whole reply (a code, then a space or the line's
# end), each to its code: the common reply told by one look-up. Filled at the first reply
# (:func:`_one_line`): its 1,600 keys made at import cost every 'warmup send' ~3M
# instructions (0.6% of its start-up), a dry run and a refusal too.
_ONE_LINE: dict[bytes, int] = {}


def _one_line() -> dict[bytes, int]:
    """:data:`_ONE_LINE`, filled."""
    _ONE_LINE.update(
        (b"%d%s" % (code, after), code)
        for code in range(200, 600)
        for after in (b" ", b"\r", b"\n", b"")
    )
    return _ONE_LINE


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


def quietly_close(smtp: smtplib.SMTP) -> None:
    """Close ``smtp``'s socket without a word to the server (no QUIT: see its callers)."""
    try:
        smtp.close()
    except OSError:
        pass
