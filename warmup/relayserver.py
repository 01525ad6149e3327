"""The relay's SMTP server: RFC 5321 on :class:`asyncio.Protocol`, one thread, loopback only.

    server = Server(relay).start()     # relay: a warmup.relay.Relay; server.port is free
    server.stop()

Each connection is a :class:`Conversation`: ``data_received`` cuts what arrived into command
lines (several in one segment when a client pipelines, one split across segments when not) and
answers each from a table of commands, writing the replies straight to the transport; DATA is
read up to its ``<CRLF>.<CRLF>`` in one search. No stream reader, no task per command: a task
only for a message whose reply the relay holds (pacing), during which nothing more is read.

What it answers itself: the SMTP grammar (500/501/502/503/504/555 as RFC 5321 and aiosmtpd,
which served the relay before, give them), AUTH PLAIN and LOGIN (one-time credentials, compared
in constant time by the relay), ``530`` to MAIL before AUTH, the line length and message size
limits, a connection limit (``421``), the deadlines, and TLS: STARTTLS (RFC 3207) on the
relay's port, implicit TLS on a second one (``Server.tls_port``), both with the run's own
certificate (:mod:`warmup.relaytls`). What the relay answers: ``MAIL FROM`` (only its
mailbox), ``RCPT TO`` (suppressions, caps) and the end of DATA (the gate); see
:class:`warmup.relay.Relay`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import re
import socket
import ssl
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warmup.relay import Relay

from warmup import headers

# A client of the relay that never logged in is not counted (any local process may connect),
# but a script that skipped AUTH or used other credentials was told nothing else.
LOGIN_NOTE = (
    "a client {what}: the relay takes only this run's WARMUP_SMTP_USER and "
    "WARMUP_SMTP_PASSWORD (AUTH PLAIN or LOGIN)"
)
# A client that greets and leaves without trying to log in or STARTTLS: msmtp's "auth on"
# without "tls on" sends no password in clear. The summary said "0 sent".
GREETED_NOTE = (
    "a client said {verb} and left without logging in: the relay takes AUTH PLAIN or LOGIN, "
    "with or without STARTTLS (msmtp's auth on needs tls on and tls_trust_file "
    "$WARMUP_SMTP_CAFILE)"
)
# A client that started TLS at once on the plain port (SMTP_SSL, port 465 settings) failed on
# the plain greeting ("wrong version number"): implicit TLS has its own port.
IMPLICIT_NOTE = (
    "a client started TLS at once on WARMUP_SMTP_PORT: for implicit TLS (SMTP_SSL, port 465 "
    "settings) give it WARMUP_SMTPS_PORT"
)
# A handshake the client broke off because it does not trust the run's certificate.
TRUST_NOTE = (
    "a client refused the relay's certificate ({reason}): the relay makes one for each run, "
    "for 127.0.0.1 and localhost; have the command's SMTP client trust $WARMUP_SMTP_CAFILE "
    "(SSL_CERT_FILE and NODE_EXTRA_CA_CERTS, set for the command, hold it too)"
)
# A plain client on the implicit TLS port waits for a greeting that comes only after TLS.
SILENT_NOTE = (
    "a client connected to WARMUP_SMTPS_PORT and did not complete a TLS handshake within "
    "{seconds:g} s: that port speaks TLS at once; plain SMTP and STARTTLS are on WARMUP_SMTP_PORT"
)
# Closed without an alert: what a client that would not go on may do too.
TLS_CLOSED_NOTE = (
    "a client closed the connection during its TLS handshake with the relay: one that "
    "verifies the server must trust $WARMUP_SMTP_CAFILE"
)
TLS_FAILED_NOTE = "a client's TLS handshake with the relay failed ({reason})"
# A logged-in client left without a command for the idle limit: a script that sleeps between
# its sends (the providers' "5-10 minutes between sends") on one connection learns it only as
# a closed connection at its next send (smtplib: SMTPServerDisconnected), and the summary was
# silent.
IDLE_NOTE = (
    "a client's connection was closed after {seconds:g} s without a command (421 4.4.2): a "
    "script that waits between its messages must connect again for the next (or send NOOP "
    "meanwhile)"
)
HOSTNAME = "localhost"
HANDSHAKE_GRACE_S = 0.5  # what a stopping relay waits for TLS handshakes under way to end
COMMAND_LIMIT = 512  # octets of a command line without its CRLF (RFC 5321 §4.5.3.1.4)
MAIL_LIMIT = COMMAND_LIMIT + 26  # MAIL with a SIZE parameter (RFC 1870 §3)
LONGEST_READ = 1001  # a command line is dropped unread past this, answered 500 at its end
HELD_BUFFER = 65536  # octets read past a message whose reply is held before reading pauses
BOGUS_LIMIT = 5  # unknown commands before the connection is closed (a client that is no SMTP)
LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH_DATA = "552 Error: Too much mail data"
_END = b"\r\n.\r\n"
# The dot RFC 5321 §4.5.2 puts before a line starting with one. A bare LF ends a line too: the
# upstream server gets it as CRLF (smtp.dot_stuff), and smtplib doubles a dot after one.
_STUFFED = re.compile(rb"(?:^|(?<=\n))\.")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# ``<local@domain>`` with dot-atom parts, then nothing or blank-separated parameters that do not
# open with a comment: what scripts send, and what the stdlib parser reads back unchanged.
_PLAIN_PATH = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>(?:[ \t]+([^\s(].*))?")
log = logging.getLogger("warmup.relay")


@dataclass
class Envelope:
    """One mail transaction: from ``MAIL FROM`` to the end of DATA (or RSET)."""

    helo: str = ""  # the client's HELO/EHLO name when the transaction began
    mail_from: str | None = None
    mail_options: list[str] = field(default_factory=list)
    rcpt_tos: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)
    original_content: bytes = b""
    warmup_shim: bool = False  # the sendmail shim's session (warmup.relay.SHIM_HELO)
    warmup_suppressed: list[str] = field(default_factory=list)  # refused at RCPT as suppressed


def read_path(arg: str, local_limit: int = 0) -> tuple[str | None, str]:
    """The address of a MAIL/RCPT argument and the parameters after it; None for a malformed
    one (or a local part over ``local_limit`` octets), ``""`` for none at all. A plain
    ``<local@domain>`` is read by a regex; anything else by the stdlib's RFC 5322 parser."""
    if not arg:
        return "", ""
    m = _PLAIN_PATH.fullmatch(arg)
    if m is not None:
        address, rest = m.group(1), m.group(2) or ""
    else:
        try:
            parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
            token, rest = parse(arg)
            address = token.addr_spec
        except (HeaderParseError, IndexError):  # IndexError: the parser on '"a b"@'
            return None, ""
    if local_limit and len(address.rpartition("@")[0]) > local_limit:
        return None, ""
    return address, rest


def _params(options: list[str]) -> dict[str, str | bool] | None:
    """``KEY=value`` parameters (RFC 5321 §4.1.2) as a dict, None if one is malformed."""
    found: dict[str, str | bool] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not key.isalnum() or (eq and not value):
            return None
        found[key] = value if eq else True
    return found


class Conversation(asyncio.Protocol):
    """One client's SMTP session with the relay."""

    def __init__(
        self, relay: Relay, loop: asyncio.AbstractEventLoop, implicit: bool = False
    ) -> None:
        self.relay = relay
        self.loop = loop
        self.implicit = implicit  # on the implicit TLS port: the handshake comes first
        self.tls = False  # the session is encrypted (from the handshake on)
        self._handshaking = False  # in the TLS handshake (after STARTTLS, or at once)
        self._upgrading = False  # STARTTLS answered: nothing more is read in the clear
        self._handshake_task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.counted = False  # one of the relay's sessions (not turned away)
        self._handshake_counted = False  # one of the relay's ``handshaking`` connections
        self.helo = ""
        self.extended = False
        self.authenticated = False
        self.envelope = Envelope()
        self._buf = b""  # what arrived and is not read yet
        self._skipping = False  # inside a command line too long to read: dropped to its LF
        self._data: bytearray | None = None  # DATA being read (from the 354's CRLF on)
        self._scanned = 0  # octets of _data searched for the end already
        self._too_much = ""  # the limit the DATA being read broke: the rest is dropped
        self._continue: Callable[[str], str] | None = None  # an AUTH exchange's next line
        self._held: asyncio.Task[str] | None = None  # an end-of-DATA reply the relay holds
        self._bogus = 0
        # the client tried AUTH, STARTTLS or MAIL (each noted if refused), or was timed out
        self._asked = False
        self._closing = False  # the replies read so far are written, then the connection ends
        self._first = True
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._connected = 0.0  # loop.time() of connecting: the login deadline runs from it

    # -- the connection --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._connected = self.loop.time()
        if self.implicit:
            relay = self.relay
            if relay.handshaking >= relay.max_sessions:
                # Not greeted yet, so not among the sessions: without a bound of their own, any
                # number of connections could each hold a socket through a slow handshake.
                relay.tally.turned_away_handshaking += 1
                relay.tally.crowd = relay.max_sessions
                transport.close()
                return
            relay.handshaking += 1
            self._handshake_counted = True
            # The login deadline runs from connecting, the handshake included: from the
            # greeting, a client that finished its handshake just in time got as long again.
            self._deadline = self._connected + self.relay.login_timeout
            self._start_tls()  # greeted once TLS is up
        else:
            self._greet()

    def _greet(self) -> None:
        relay, transport = self.relay, self.transport
        assert transport is not None
        if relay.sessions >= relay.max_sessions:
            relay.tally.turned_away += 1  # before the client can read its 421
            relay.tally.crowd = relay.max_sessions
            transport.write(
                f"421 4.7.0 too many connections to the warmup relay (at most "
                f"{relay.max_sessions}); try again later\r\n".encode()
            )
            transport.close()
            return
        relay.sessions += 1
        self.counted = True
        self._wait(relay.login_timeout, since=self._connected)  # commands do not extend it
        transport.write(f"220 {HOSTNAME} warmup relay ESMTP\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        held, self._held = self._held, None
        if held is not None:
            held.cancel()  # a held reply: nothing is reserved while holding
        self.transport = None
        if not self.counted:
            return
        self.counted = False
        if held is not None:
            # its whole message came, the reply was held for the next paced slot and the client
            # gave up first (its timeout: swaks' is 30 s): not "before the end of DATA"
            self.relay.tally.gave_up_held += 1
            log.info("relay: a client closed the connection while its reply was held for pacing")
        elif self.helo and not self._asked and not self.authenticated:
            verb = "EHLO" if self.extended else "HELO"
            self.relay.tally.note(GREETED_NOTE.format(verb=verb))
        elif self.authenticated and self.envelope.rcpt_tos:
            # gone mid-message (the end of DATA resets the envelope): nothing was reserved;
            # without a word the summary said only "0 sent"
            self.relay.tally.abandoned += 1
            log.info("relay: a client closed the connection before the end of its DATA")
        self.relay.sessions -= 1

    # -- TLS -------------------------------------------------------------------------------
    def _start_tls(self) -> None:
        """The handshake, on the implicit TLS port at once, else after STARTTLS's 220: nothing
        more is read in the clear (what a client pipelined after STARTTLS was dropped)."""
        raw = self.transport
        assert raw is not None
        self._handshaking, self._upgrading, self._first = True, False, False
        raw.pause_reading()
        self._handshake_task = self.loop.create_task(self._handshake(raw))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        context = self.relay.tls_context
        assert context is not None
        try:
            transport = await self.loop.start_tls(
                raw,
                self,
                context,
                server_side=True,
                # the session's deadline (from connecting, or its idle one) ends it too
                ssl_handshake_timeout=max(self._deadline - self.loop.time(), 0.001),
                ssl_shutdown_timeout=self.relay.tls_shutdown_timeout,
            )
        except asyncio.CancelledError:  # the relay stops
            self._handshake_failed(raw, None)
            raise
        except Exception as exc:  # the client's failure: its session ends, the relay goes on
            self._handshake_failed(raw, exc)
            return
        self._handshake_over()
        self.transport = transport
        self.tls = True
        # RFC 3207 §4.2: nothing learnt before TLS holds; the client says EHLO again
        self.helo, self.extended, self.authenticated = "", False, False
        self.envelope = Envelope()
        if self.implicit:
            self._greet()
        if self._buf and self.counted:
            self._read()

    def _handshake_over(self) -> None:
        self._handshaking = False
        if self._handshake_counted:
            self._handshake_counted = False
            self.relay.handshaking -= 1

    def _handshake_failed(self, raw: asyncio.Transport, exc: Exception | None) -> None:
        self._handshake_over()
        if exc is not None and not self._closing:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
                self.relay.tally.note(TRUST_NOTE.format(reason=reason))
            elif self.implicit and isinstance(exc, ConnectionAbortedError | TimeoutError):
                self.relay.tally.note(SILENT_NOTE.format(seconds=self.relay.login_timeout))
            elif isinstance(exc, ConnectionError | ssl.SSLEOFError):
                self.relay.tally.note(TLS_CLOSED_NOTE)
            else:
                self.relay.tally.note(TLS_FAILED_NOTE.format(reason=reason))
        raw.close()
        # the TLS layer tells the session of no loss before its handshake is done
        self.connection_lost(exc)

    def _wait(self, seconds: float, since: float | None = None) -> None:
        """Close the connection if nothing comes for ``seconds`` (from ``since``, a
        ``loop.time()``, else now; a deadline moved, not a timer cancelled and scheduled per
        command)."""
        now = self.loop.time()  # asyncio's clock is time.monotonic()
        self.relay.active_at = now
        self._deadline = (now if since is None else since) + seconds
        timer = self._timer
        if timer is None or timer.when() > self._deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(self._deadline, self._timeout)

    def _timeout(self) -> None:
        if self.loop.time() < self._deadline:  # a command moved the deadline since
            self._timer = self.loop.call_at(self._deadline, self._timeout)
            return
        self._timer = None
        self._closing = True
        self._asked = True  # not a client that left on its own after the greeting
        if self._handshaking:  # nothing to tell it in the clear: the handshake fails
            if self.transport is not None:
                self.transport.close()
            return
        if self.authenticated and self._data is None and self._held is None:  # idle, not busy
            self.relay.tally.note(IDLE_NOTE.format(seconds=self.relay.idle_timeout))
        self._write(["421 4.4.2 timeout: closing the connection"])

    # -- reading ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._first:
            self._first = False
            # A TLS handshake record (SMTP_SSL, implicit TLS on 465): the client fails on the
            # plain greeting ("wrong version number") and the summary said only "0 sent".
            if data[:2] == b"\x16\x03":
                self.relay.tally.note(IMPLICIT_NOTE)
        if self._handshaking:
            # Decrypted (the clear text is not read from STARTTLS on): what a client sent with
            # the end of its handshake, read once the session is reset for TLS.
            self._buf += data
            return
        self._buf = self._buf + data if self._buf else data
        if self._held is None:
            self._read()
        elif len(self._buf) > HELD_BUFFER and self.transport is not None:
            self.transport.pause_reading()

    def _read(self) -> None:
        """Answer everything complete in the buffer, in order; stop at a held reply."""
        buf, at = self._buf, 0
        replies: list[str] = []
        while not self._closing and self._held is None and not self._upgrading:
            if self._data is not None:
                at = self._read_data(buf, at, replies)
                if self._data is not None:
                    break
                continue
            end = buf.find(b"\n", at)
            if end < 0:
                if len(buf) - at > LONGEST_READ:  # a line too long to keep: dropped to its LF
                    self._skipping = True
                    at = len(buf)
                break
            line, at = buf[at:end], end + 1
            if self._skipping:
                self._skipping = False
                replies.append("500 Command line too long")
                continue
            replies.append(self._command(line[:-1] if line[-1:] == b"\r" else line))
        # After STARTTLS what came in the clear is dropped, unread (RFC 3207 §4.2): commands a
        # client, or a man in the middle, pipelined behind it are never answered as if sent
        # over TLS.
        self._buf = b"" if self._upgrading else buf[at:]
        self._write(replies)
        if self._upgrading and not self._closing and self.transport is not None:
            self._start_tls()

    def _write(self, replies: list[str]) -> None:
        if self.transport is None:
            return
        if replies:
            self.transport.write(("\r\n".join(replies) + "\r\n").encode("utf-8", "replace"))
        if self._closing:
            self.transport.close()

    def _read_data(self, buf: bytes, at: int, replies: list[str]) -> int:
        """Take DATA from ``buf[at:]`` up to its end; where reading stopped."""
        data = self._data
        assert data is not None
        data += buf[at:]
        end = data.find(_END, max(self._scanned - 4, 0))
        if end < 0:
            self._scanned = len(data)
            limit = self.relay.data_size_limit
            if limit and not self._too_much and len(data) > limit + 2:  # kept no further
                self._too_much = _refusal(bytes(data[2:]), limit)
            if self._too_much:  # nothing more is kept: the end is all that is looked for
                del data[:-4]
                self._scanned = len(data)
            return len(buf)
        at = len(buf) - (len(data) - end - 5)  # just past the final dot's CRLF
        message = bytes(data[2 : end + 2])  # the 354's CRLF was kept in front: not the data
        self._data = None
        failed = self._too_much or _refusal(message, self.relay.data_size_limit)
        if failed:
            self._too_much = ""
            self.relay.tally.count(failed)  # a refused message: the summary must say so
            self._end_of_data(failed, replies)
            return at
        if message[:1] == b"." or b"\n." in message:  # RFC 5321 §4.5.2: a leading dot goes
            message = _STUFFED.sub(b"", message)
        self.envelope.original_content = message
        answer = self.relay.handle_DATA(self.envelope)
        if isinstance(answer, str):
            self._end_of_data(answer, replies)
            return at
        # Held for the next paced slot: nothing more is answered until it is given. Reading
        # goes on (a client that leaves is seen at once) until a pipelining client has sent
        # HELD_BUFFER octets.
        self._held = self.loop.create_task(_awaited(answer))
        self._held.add_done_callback(self._given)
        return at

    def _given(self, task: asyncio.Task[str]) -> None:
        self._held = None
        if task.cancelled() or self.transport is None:
            return
        replies: list[str] = []
        try:
            self._end_of_data(task.result(), replies)
        except Exception as exc:  # the relay answers every error itself: never expected
            self._end_of_data(internal_error(self.relay, exc), replies)
        self._write(replies)
        self.transport.resume_reading()  # if HELD_BUFFER paused it
        self._read()

    def _end_of_data(self, reply: str, replies: list[str]) -> None:
        self.envelope = Envelope(helo=self.helo)
        replies.append(reply)
        self._after_command()

    def _after_command(self) -> None:
        if self.authenticated:  # before, the login deadline runs from connecting
            self._wait(self.relay.idle_timeout)

    # -- commands --------------------------------------------------------------------------
    def _command(self, line: bytes) -> str:
        if self._continue is not None:  # the client's answer to an AUTH challenge
            step, self._continue = self._continue, None
            return step(line.strip().decode("ascii", "replace"))
        if not line:
            return "500 Error: bad syntax"
        verb_bytes, _, arg_bytes = line.partition(b" ")
        if not verb_bytes.isascii():
            return "500 Error: bad syntax"
        verb = verb_bytes.decode().upper()
        if len(line) > (MAIL_LIMIT if self.extended and verb == "MAIL" else COMMAND_LIMIT):
            return "500 Command line too long"
        answer = _COMMANDS.get(verb)
        if answer is None:
            self._bogus += 1
            if self._bogus >= BOGUS_LIMIT:
                self._closing = True
                return "502 5.5.1 Too many unrecognized commands, goodbye."
            return f'500 Error: command "{verb}" not recognized'
        arg = arg_bytes.strip().decode("utf-8", "surrogateescape")
        self._after_command()
        try:
            return answer(self, arg)
        except Exception as exc:  # never a traceback to the client, nor a dropped session
            return internal_error(self.relay, exc)

    def helo_(self, arg: str) -> str:
        if not arg:
            return "501 Syntax: HELO hostname"
        self.helo, self.extended = arg, False
        self.envelope = Envelope(helo=arg)
        return f"250 {HOSTNAME}"

    def ehlo(self, arg: str) -> str:
        if not arg:
            return "501 Syntax: EHLO hostname"
        self.helo, self.extended = arg, True
        self.envelope = Envelope(helo=arg)
        # No SMTPUTF8 (RFC 6531): warmup sends with ASCII addresses only.
        starttls = "250-STARTTLS\r\n" if self._offers_tls() else ""
        return (
            f"250-{HOSTNAME}\r\n250-SIZE {self.relay.data_size_limit}\r\n250-8BITMIME\r\n"
            f"250-PIPELINING\r\n{starttls}250-AUTH LOGIN PLAIN\r\n250 HELP"
        )

    def _offers_tls(self) -> bool:
        return not self.tls and self.relay.tls_context is not None

    def noop(self, arg: str) -> str:
        return "250 OK"

    def quit(self, arg: str) -> str:
        if arg:
            return "501 Syntax: QUIT"
        self._closing = True
        return "221 Bye"

    def rset(self, arg: str) -> str:
        if arg:
            return "501 Syntax: RSET"
        self.envelope = Envelope(helo=self.helo)
        return "250 OK"

    def starttls(self, arg: str) -> str:
        self._asked = True
        if arg:
            return "501 Syntax: STARTTLS"
        if self.tls:
            return "503 5.5.1 Error: TLS already active"
        if not self._offers_tls():
            return "454 4.7.0 TLS not available"
        if not self.helo:
            return "503 5.5.1 Error: send EHLO first"
        self._upgrading = True
        return "220 2.0.0 Ready to start TLS"

    def help(self, arg: str) -> str:
        if not self.authenticated:
            return "530 5.7.0 Authentication required"
        return (
            "250 Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET "
            "STARTTLS VRFY"
        )

    def vrfy(self, arg: str) -> str:
        if not self.authenticated:
            return "530 5.7.0 Authentication required"
        if not arg:
            return "501 Syntax: VRFY <address>"
        if read_path(arg)[0] is None:
            return f"502 Could not VRFY {arg}"
        return "252 Cannot VRFY user, but will accept message and attempt delivery"

    def expn(self, arg: str) -> str:
        return "502 EXPN not implemented"

    # AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN, with or without an initial response
    def auth(self, arg: str) -> str:
        self._asked = True
        if not self.helo:
            return "503 Error: send EHLO first"
        if not self.extended:
            return "500 Error: command 'AUTH' not recognized"
        if self.authenticated:
            return "503 Already authenticated"
        words = arg.split()
        if not words:
            return "501 Not enough value"
        if len(words) > 2:
            return "501 Too many values"
        mechanism, initial = words[0].upper(), words[1] if len(words) == 2 else None
        if mechanism == "PLAIN":
            if initial is None:
                self._continue = self._plain
                return "334 "
            return self._plain(initial)
        if mechanism == "LOGIN":
            if initial is None:
                self._continue = self._login_user
                return "334 VXNlcm5hbWU6"  # "Username:"
            return self._login_user(initial)
        return "504 5.5.4 Unrecognized authentication type"

    def _plain(self, answer: str) -> str:
        decoded = _decoded(answer)
        if isinstance(decoded, str):
            return decoded
        parts = decoded.split(b"\0")
        if len(parts) != 3:
            return "501 5.5.2 Can't split auth value"
        return self._logged_in(parts[1], parts[2])

    def _login_user(self, answer: str) -> str:
        decoded = _decoded(answer)
        if isinstance(decoded, str):
            return decoded
        self._continue = lambda password: self._login_password(decoded, password)
        return "334 UGFzc3dvcmQ6"  # "Password:"

    def _login_password(self, login: bytes, answer: str) -> str:
        decoded = _decoded(answer)
        if isinstance(decoded, str):
            return decoded
        return self._logged_in(login, decoded)

    def _logged_in(self, login: bytes, password: bytes) -> str:
        if not self.relay.authenticate(login, password):
            self.relay.tally.note(LOGIN_NOTE.format(what="failed to log in"))
            return "535 5.7.8 Authentication credentials invalid"
        self.authenticated = True
        self._wait(self.relay.idle_timeout)
        return "235 2.7.0 Authentication successful"

    def _ready(self, command: str) -> str:
        """The refusal of ``command`` before EHLO or AUTH, else ``""``."""
        self._asked = True
        if not self.helo:
            return "503 Error: send HELO first"
        if not self.authenticated:
            if command != "DATA":  # not counted, but the summary said only "0 sent"
                self.relay.tally.note(LOGIN_NOTE.format(what=f"sent {command} without logging in"))
            return "530 5.7.0 Authentication required"
        return ""

    def _path(self, command: str, keyword: str, arg: str) -> tuple[str, str, list[str]]:
        """A MAIL/RCPT argument read: (refusal or "", address, upper-cased parameters)."""
        syntax = f"501 Syntax: {command} {keyword} <address>" + (
            " [SP <mail-parameters>]" if self.extended else ""
        )
        if arg[: len(keyword)].upper() != keyword:
            return syntax, "", []
        address, rest = read_path(arg[len(keyword) :].strip())
        if address is None:
            return "553 5.1.3 Error: malformed address", "", []
        if not address or (rest and not self.extended):
            return syntax, "", []
        options = rest.upper().split()
        if _params(options) is None:
            return syntax, "", []
        return "", address, options

    def mail(self, arg: str) -> str:
        refusal = self._ready("MAIL FROM")
        if refusal:
            return refusal
        refusal, address, options = self._path("MAIL", "FROM:", arg)
        if not refusal:
            refusal = self._mail_params(options)
        if refusal:
            self.relay.tally.count(refusal, "MAIL FROM")
            return refusal
        return self.relay.handle_MAIL(self.envelope, address, options)

    def _mail_params(self, options: list[str]) -> str:
        if self.envelope.mail_from:
            return "503 Error: nested MAIL command"
        params = _params(options) or {}
        if params.pop("BODY", "7BIT") not in ("7BIT", "8BITMIME"):
            return "501 Error: BODY can only be one of 7BIT, 8BITMIME"
        if not isinstance(params.pop("SMTPUTF8", False), bool):  # the relay refuses it (555)
            return "501 Error: SMTPUTF8 takes no arguments"
        size = params.pop("SIZE", None)
        if size is not None:
            if not isinstance(size, str) or not (size.isascii() and size.isdigit()):
                return "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"
            if int(size) > self.relay.data_size_limit:
                return "552 Error: message size exceeds fixed maximum message size"
        if params:
            return "555 MAIL FROM parameters not recognized or not implemented"
        return ""

    def rcpt(self, arg: str) -> str:
        refusal = self._ready("RCPT TO")
        if refusal:
            return refusal
        if not self.envelope.mail_from:
            refusal = "503 Error: need MAIL command"
        else:
            refusal, address, options = self._path("RCPT", "TO:", arg)
            if not refusal and options:
                refusal = "555 RCPT TO parameters not recognized or not implemented"
        if refusal:
            self.relay.tally.count(refusal, "RCPT TO")
            return refusal
        return self.relay.handle_RCPT(self.envelope, address, options)

    def data(self, arg: str) -> str:
        refusal = self._ready("DATA")
        if refusal:
            return refusal
        if not self.envelope.rcpt_tos:
            return "503 Error: need RCPT command"
        if arg:
            return "501 Syntax: DATA"
        # From DATA to its reply the client is not idle but uploading, then waiting for a reply
        # held until the next paced slot: that phase gets max_hold more.
        self._wait(self.relay.max_hold + self.relay.idle_timeout)
        self._data = bytearray(b"\r\n")  # the end is searched for as <CRLF>.<CRLF> from here
        self._scanned = 0
        return "354 End data with <CR><LF>.<CR><LF>"


_COMMANDS: dict[str, Callable[[Conversation, str], str]] = {
    "HELO": Conversation.helo_,
    "EHLO": Conversation.ehlo,
    "AUTH": Conversation.auth,
    "MAIL": Conversation.mail,
    "RCPT": Conversation.rcpt,
    "DATA": Conversation.data,
    "RSET": Conversation.rset,
    "NOOP": Conversation.noop,
    "QUIT": Conversation.quit,
    "STARTTLS": Conversation.starttls,
    "HELP": Conversation.help,
    "VRFY": Conversation.vrfy,
    "EXPN": Conversation.expn,
}


def _decoded(answer: str) -> bytes | str:
    """An AUTH answer's base64 decoded, or the reply refusing it."""
    if answer == "*":
        return "501 5.7.0 Auth aborted"
    try:
        return base64.b64decode(answer, validate=True)
    except (binascii.Error, ValueError):
        return "501 5.5.2 Can't decode base64"


def _refusal(data: bytes, limit: int) -> str:
    """The first limit a message's DATA (dot-stuffed, its final dot left out) breaks, or "".

    Its size over ``limit`` (552), or a line over 998 octets and CRLF (500; a bare LF counted
    as CRLF, a stuffed dot not counted), whichever comes first in the message."""
    if (not limit or len(data) <= limit) and (
        len(data) < headers.LINE_LIMIT or max(map(len, data.split(b"\n"))) < headers.LINE_LIMIT
    ):
        return ""  # every line of at most 997 octets and LF: 999 with CRLF, its dot not counted
    size = 0
    for line in data.split(b"\n"):
        size += len(line) + 1
        if limit and size > limit:
            return TOO_MUCH_DATA
        bare = line[-1:] != b"\r"
        if len(line) + 1 + bare - (line[:1] == b".") > headers.LINE_LIMIT + 2:
            return LINE_TOO_LONG
    return ""


def internal_error(relay: Relay, exc: Exception) -> str:
    """The 451 for an error nobody expected (logged, and noted for the summary): never a
    traceback to the client, nor a dropped session."""
    log.exception("relay: unexpected error", exc_info=exc)
    relay.tally.note(f"internal error: {type(exc).__name__}")
    return f"451 4.3.0 warmup relay internal error ({type(exc).__name__})"


async def _awaited(answer: Awaitable[str]) -> str:
    return await answer


class Server:
    """The relay's listening sockets (plain SMTP with STARTTLS on ``port``, implicit TLS on
    ``tls_port`` when the relay has a ``tls_context``) and event loop, on a thread of their
    own."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.port = 0
        self.tls_port = 0
        self.loop = asyncio.new_event_loop()
        self._conversations: weakref.WeakSet[Conversation] = weakref.WeakSet()
        self._servers: list[asyncio.AbstractServer] = []
        self._thread: threading.Thread | None = None

    def start(self) -> Server:
        socks = [_bound(self.relay.host)]
        try:
            if self.relay.tls_context is not None:
                socks.append(_bound(self.relay.host))
        except OSError:
            socks[0].close()
            raise
        self.port = socks[0].getsockname()[1]
        self.tls_port = socks[1].getsockname()[1] if len(socks) > 1 else 0
        ready = threading.Event()
        failed: list[BaseException] = []

        async def listen() -> None:
            for sock, implicit in zip(socks, (False, True)):
                factory = functools.partial(self._conversation, implicit)
                self._servers.append(await self.loop.create_server(factory, sock=sock))

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(listen())
            except BaseException as exc:
                failed.append(exc)
                for sock in socks:
                    sock.close()
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self._thread = threading.Thread(target=serve, name="warmup-relay", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            raise failed[0]
        return self

    def _conversation(self, implicit: bool) -> Conversation:
        conversation = Conversation(self.relay, self.loop, implicit)
        self._conversations.add(conversation)
        return conversation

    def stop(self) -> None:
        """Stop listening and close every connection (a delivery in progress ends first: it
        runs on the loop's thread); returns once the loop's thread has ended."""
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self._thread = None

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        handshakes = [
            c._handshake_task
            for c in self._conversations
            if c._handshaking and c._handshake_task is not None
        ]
        if handshakes:
            # A client that broke its handshake off as its command ended (a script that does
            # not trust the run's certificate exits at once) has its alert read, and its note
            # said, rather than the handshake cancelled unread; a client still mid-handshake
            # delays the stop by HANDSHAKE_GRACE_S at most.
            await asyncio.wait(handshakes, timeout=HANDSHAKE_GRACE_S)
        for conversation in list(self._conversations):
            if conversation.transport is not None:
                if conversation.tls:  # its close() would wait for the client's close_notify
                    conversation.transport.abort()
                else:
                    conversation.transport.close()
        self._conversations.clear()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0)  # connection_lost of each closed transport runs
        await asyncio.sleep(0)


def _bound(host: str) -> socket.socket:
    """A socket bound to a free port of ``host``: the kernel picks one with no race, and never
    anything but the relay's checked loopback address."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock
