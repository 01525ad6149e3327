"""An SMTP sink on 127.0.0.1 (aiosmtpd in its own thread), a silent listener, a closed port."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import logging
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Generic, Literal, Self, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from tests.peers.tls import TestPKI

HOST = "127.0.0.1"
Mode = Literal["ssl", "starttls", "plain"]
_HANG_LIMIT = 30.0  # how long a handler waits for its dropped connection to be torn down
# aiosmtpd itself logs this on every successful AUTH; it is noise in captured test logs.
logging.getLogger("mail.log").addFilter(
    lambda record: "login_data is deprecated" not in record.getMessage()
)


def free_port() -> int:
    """Return a loopback TCP port with nothing listening on it (connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message as the sink got it: envelope, raw bytes, parsed message, AUTH login."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage = field(repr=False)
    auth_login: str | None = None
    mail_options: tuple[str, ...] = ()  # MAIL FROM parameters (BODY=8BITMIME, SMTPUTF8)


class _SMTP(SMTP):
    """aiosmtpd's SMTP, counting connections.

    aiosmtpd only counts STARTTLS as TLS for AUTH, so with implicit TLS (and in plain mode)
    ``allow_auth_without_starttls`` lifts that check after construction (passing
    ``auth_require_tls=False`` would emit a warning on every connection).
    """

    def __init__(
        self, handler: Any, *, sink: SmtpSink, allow_auth_without_starttls: bool, **kwargs: Any
    ) -> None:
        super().__init__(handler, auth_require_tls=True, **kwargs)
        self._sink = sink
        if allow_auth_without_starttls:
            self._auth_require_tls = False
        self._held: list[bytes] = []  # replies kept back (``buffer_replies``)

    async def push(self, status: str | bytes) -> None:
        """A reply, kept back while more of the client's input is already read when the sink
        ``buffer_replies`` (as Postfix's smtpd does: it flushes before a read that would wait)."""
        if self._sink.buffer_replies:
            raw = status if isinstance(status, bytes) else status.encode()
            self._held.append(raw + b"\r\n")
            if self._reader._buffer:  # type: ignore[attr-defined]
                return
            held, self._held = b"".join(self._held), []
            assert self._writer is not None
            self._writer.write(held)
            await self._writer.drain()
            return
        await super().push(status)

    async def smtp_BDAT(self, arg: str) -> None:
        """BDAT (RFC 3030 CHUNKING) when the sink offers it: the chunk of ``size`` octets that
        follows the command line is read whatever the answer (the sender may have pipelined it
        behind a refused MAIL or RCPT); ``LAST`` ends the message, which the handler gets as
        it gets a DATA one. Without CHUNKING: an unknown command, as to a server that lacks
        it (the chunk's bytes are then read as commands)."""
        if not self._sink.chunking:
            await self.push('500 Error: command "BDAT" not recognized')
            return
        words = arg.split() if arg else []
        if (
            not 1 <= len(words) <= 2
            or not words[0].isdigit()
            or (len(words) == 2 and words[1].upper() != "LAST")
        ):
            await self.push("501 5.5.4 Syntax: BDAT chunk-size [LAST]")
            return
        envelope = self.envelope
        if not self._sink.bdat_discard and (
            envelope is None or envelope.mail_from is None or not envelope.rcpt_tos
        ):
            # go-smtp's behaviour (its issue #315): the chunk is left unread, its lines read
            # as commands next
            await self.push("503 5.5.1 Error: no transaction for BDAT")
            return
        chunk = await self._reader.readexactly(int(words[0]))
        with self._sink._lock:
            self._sink.bdat_commands += 1
        if await self.check_helo_needed("EHLO") or await self.check_auth_needed("BDAT"):
            return
        envelope = self.envelope
        assert envelope is not None
        if envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if not envelope.rcpt_tos:
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        chunks = envelope.__dict__.setdefault("bdat_chunks", [])
        chunks.append(chunk)
        if len(words) == 1:
            await self.push(f"250 2.0.0 {len(chunk)} octets received")
            return
        envelope.content = envelope.original_content = b"".join(chunks)
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._sink._lock:
            self._sink.connections += 1
            self._sink._open.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with self._sink._lock:
            self._sink._open.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        with self._sink._lock:
            self._sink.reads.append(bytes(data))
        super().data_received(data)

    async def auth_XOAUTH2(self, _: Any, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 as Gmail and Exchange Online take it: a refused token gets a 334 with
        a JSON error, the client's empty line, then 535."""
        check = self._sink.oauth
        raw: Any = args[1] if len(args) > 1 else await self.challenge_auth("")
        if raw is MISSING or check is None:
            return AuthResult(success=False, handled=False)
        try:
            text = base64.b64decode(raw, validate=True).decode() if isinstance(raw, str) else raw
            text = text.decode() if isinstance(text, bytes) else text
            fields = dict(f.split("=", 1) for f in text.split("\x01") if f)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
            return AuthResult(success=False, handled=False)
        with self._sink._lock:
            self._sink.oauth_tokens.append(token)
        if user == self._sink.user and check(token):
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        refusal = self._sink.oauth_refusal
        if refusal is None:  # Gmail's way: the JSON error first
            await self.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
        return AuthResult(success=False, handled=False, message=refusal)


class _Controller(Controller):
    """Binds 127.0.0.1 on a free port (kept across restarts) and builds ``_SMTP``."""

    def __init__(self, sink: SmtpSink, port: int, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), hostname=HOST, port=port, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        return _SMTP(
            self.handler,
            sink=self._sink,
            allow_auth_without_starttls=self._sink.mode != "starttls",
            **self.SMTP_kwargs,
            auth_exclude_mechanism=() if self._sink.xoauth2 else ("XOAUTH2",),
        )

    def _create_server(self):  # type: ignore[override]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)

    def _trigger_server(self) -> None:
        """aiosmtpd's start-up probe (connect, read the greeting), with a bare client context:
        aiosmtpd's own loads the system's CA bundle only to then verify nothing (~50 ms of CPU
        per implicit-TLS sink, which the suite starts hundreds of)."""
        with socket.create_connection((HOST, self.port), 1.0) as raw:
            if not self.ssl_context:
                raw.recv(1024)
                return
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client.check_hostname = False
            client.verify_mode = ssl.CERT_NONE  # a probe of our own server on loopback
            with client.wrap_socket(raw) as tls:
                tls.recv(1024)


def _login_of(session: Any) -> str | None:
    login = getattr(session.auth_data, "login", None)
    return login.decode() if isinstance(login, bytes) else login


def _listed(addresses: str | tuple[str, ...] | None, address: str) -> bool:
    """Whether ``address`` is ``addresses`` (one, or any of several), case aside."""
    some = () if addresses is None else (addresses,) if isinstance(addresses, str) else addresses
    return address.lower() in {a.lower() for a in some}


class _Handler:
    """aiosmtpd handler hooks that apply the sink's configured behaviours."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # aiosmtpd leaves this to a handler that has the hook
        if self.sink.pipelining:
            responses.insert(1, "250-PIPELINING")
        if self.sink.chunking:
            responses.insert(1, "250-CHUNKING")
        if self.sink.auth_line is not None:  # (no AUTH line yet before STARTTLS)
            responses[:] = [
                f"250-AUTH {self.sink.auth_line}" if r.startswith("250-AUTH ") else r
                for r in responses
            ]
        if not self.sink.eightbitmime:
            responses.remove("250-8BITMIME")
        server.enable_SMTPUTF8 = self.sink.smtputf8  # MAIL FROM ... SMTPUTF8: 501 without
        if not self.sink.smtputf8 and "250-SMTPUTF8" in responses:
            responses.remove("250-SMTPUTF8")
        elif self.sink.smtputf8 and "250-SMTPUTF8" not in responses:
            responses.insert(1, "250-SMTPUTF8")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        sink = self.sink
        with sink._lock:
            sink.mail_commands += 1
            failing = (
                sink.fail_after_mail is not None and sink.mail_commands > sink.fail_after_mail_count
            )
        if sink.reject_mail is not None:
            return f"{sink.reject_mail[0]} {sink.reject_mail[1]}"
        if sink.drop_mail or sink.stall_mail:
            if sink.drop_mail:
                server.transport.abort()  # gone without a reply
            await asyncio.sleep(_HANG_LIMIT)  # cancelled as soon as the connection is gone
            return None
        if failing:
            code, text = sink.fail_after_mail
            await server.push(f"{code} {text}")
            server.transport.close()
            await asyncio.sleep(_HANG_LIMIT)  # cancelled as soon as the connection is gone
            return None
        if not sink.eightbitmime and any(o.upper().startswith("BODY=8") for o in mail_options):
            return "555 5.5.4 BODY=8BITMIME was not offered"  # RFC 6152: not to be sent
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        dropped = _listed(self.sink.drop_rcpt, address)
        if dropped or _listed(self.sink.stall_rcpt, address):
            if dropped:
                server.transport.abort()  # gone without a reply, mid-envelope
            # Stalled: no reply until the client gives up and closes the connection
            await asyncio.sleep(_HANG_LIMIT)  # cancelled as soon as the connection is gone
            return None
        rejection = {k.lower(): v for k, v in self.sink.reject_rcpt.items()}.get(address.lower())
        if rejection is not None:
            code, text = rejection
            if isinstance(text, bytes):  # words in another charset, sent as they are
                return f"{code} ".encode() + text
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        raw = bytes(envelope.content)
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),
            auth_login=_login_of(session),
            mail_options=tuple(envelope.mail_options),
        )
        if sink.drop_mid_data:
            sink._record(received, accepted=True)  # the server has it; the client won't know
            server.transport.abort()
            await asyncio.sleep(_HANG_LIMIT)  # cancelled as soon as the connection is gone
            return None
        if sink.hold_data_reply is not None:
            sink.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, sink.hold_data_reply.wait)
        if sink.delay_data_reply:
            await asyncio.sleep(sink.delay_data_reply)
        code, text = sink.data_reply or (250, "2.0.0 OK: queued")
        sink._record(received, accepted=200 <= code < 300)
        return f"{code} {text}"


class SmtpSink:
    """A real SMTP submission server on 127.0.0.1 that stores what it accepts.

    ``mode``: ``"ssl"`` (implicit TLS), ``"starttls"`` (STARTTLS required before AUTH/MAIL)
    or ``"plain"``. AUTH PLAIN/LOGIN is required; a wrong password gets
    ``535 5.7.8 Authentication credentials invalid``.

    Behaviours (constructor kwargs, or set the attributes at any time):
      - ``reject_rcpt``: address -> (code, text) reply to RCPT TO.
      - ``reject_mail``: (code, text) reply to every MAIL FROM; the session goes on.
      - ``pipelining``: EHLO offers PIPELINING (RFC 2920), as Gmail, Outlook and Exmail do.
        aiosmtpd reads commands in order whether or not they were pipelined; ``reads`` lists
        the bytes of each read the server got (after TLS), so a test can tell commands written
        together from commands written one reply at a time.
      - ``bdat_discard``: with CHUNKING, a BDAT without a transaction (MAIL refused, no
        recipient taken) still has its chunk read and discarded, as RFC 3030 asks; False: left
        unread, its lines then read as commands, as a server with go-smtp's bug #315 does.
      - ``chunking``: EHLO offers CHUNKING (RFC 3030), as Gmail and Exchange Online do, and
        BDAT is taken (``bdat_commands`` counts them); a BDAT message reaches the same handler,
        behaviours and lists as a DATA one.
      - ``buffer_replies``: replies wait while more of the client's input is already read, and
        go together before a read that would wait, as Postfix's smtpd sends them: the replies to
        a pipelined MAIL, RCPT and ``BDAT ... LAST`` with its data all come after the message
        is queued.
      - ``drop_rcpt``: RCPT TO this address (or any of these) closes the connection without a
        reply.
      - ``stall_rcpt``: RCPT TO this address (or any of these) gets no reply: the server keeps
        the connection and waits until the client gives up and closes it.
      - ``drop_mail``, ``stall_mail``: MAIL FROM closes the connection without a reply, or gets
        none while the server keeps the connection (the client's timeout ends it).
      - ``fail_after_mail``: (code, text) replied to MAIL FROM once ``fail_after_mail_count``
        MAIL commands have succeeded; the server then closes the connection.
      - ``drop_mid_data``: read the whole message, store it, then close the connection without
        replying to the end of DATA.
      - ``data_reply``: (code, text) reply to the end of DATA instead of 250.
      - ``delay_data_reply``: seconds to wait before replying to the end of DATA.
      - ``hold_data_reply``: an Event the reply to the end of DATA waits for (``holding`` is
        set once a message is held): a test decides when the delivery ends, no clock involved.
      - ``eightbitmime``: EHLO offers 8BITMIME (RFC 6152; aiosmtpd's default). Without it a
        MAIL FROM with BODY=8BITMIME is refused, and ``Received.raw`` shows whether 8-bit
        data came anyway.
      - ``smtputf8``: EHLO offers SMTPUTF8 (RFC 6531; aiosmtpd's Controller default) and MAIL
        FROM takes it; without it, EHLO does not offer it and MAIL FROM ... SMTPUTF8 gets 501.
      - ``size_limit``: the SIZE EHLO offers (RFC 1870; aiosmtpd's default 32 MiB): a message
        over it gets aiosmtpd's ``552 Error: Too much mail data`` at the end of DATA.
      - ``accounts``: more logins than ``user`` (address -> password): a pool's mailboxes.
      - ``oauth``: AUTH XOAUTH2 for ``user`` is accepted when this says its token is valid
        (``oauth_tokens`` lists every token offered); a refused one gets a 334 with Gmail's
        JSON error, then 535, or ``oauth_refusal`` (a whole reply line) at once, as Exchange
        Online answers.
      - ``xoauth2``: XOAUTH2 is among the AUTH mechanisms (True); False: EHLO does not name
        it and AUTH XOAUTH2 gets 504 5.5.4 Unrecognized authentication type, as a server that
        takes passwords only answers.
      - ``auth_line``: the mechanisms EHLO's AUTH line names instead of the real ones (a
        server naming XOAUTH2 it then refuses with 504).

    ``messages`` lists what the server holds (2xx replies, and drops); ``refused`` lists
    messages whose DATA got a non-2xx ``data_reply``. Both return thread-safe snapshots.
    """

    def __init__(
        self,
        mode: Mode = "ssl",
        user: str = "a@corp.example",
        password: str = "s3cret-pass",
        pki: TestPKI | None = None,
        *,
        reject_rcpt: dict[str, tuple[int, str | bytes]] | None = None,
        reject_mail: tuple[int, str] | None = None,
        pipelining: bool = False,
        chunking: bool = False,
        bdat_discard: bool = True,
        buffer_replies: bool = False,
        drop_rcpt: str | tuple[str, ...] | None = None,
        stall_rcpt: str | tuple[str, ...] | None = None,
        drop_mail: bool = False,
        stall_mail: bool = False,
        fail_after_mail: tuple[int, str] | None = None,
        fail_after_mail_count: int = 0,
        drop_mid_data: bool = False,
        data_reply: tuple[int, str] | None = None,
        delay_data_reply: float = 0.0,
        untrusted: bool = False,
        accounts: dict[str, str] | None = None,
        eightbitmime: bool = True,
        smtputf8: bool = True,
        size_limit: int | None = None,
    ) -> None:
        if mode not in ("ssl", "starttls", "plain"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.user = user
        self.password = password
        self.pki = pki if pki is not None or mode == "plain" else TestPKI()
        self.untrusted = untrusted
        self.accounts = dict(accounts or {})  # more logins (address -> password), for pools
        self.oauth: Callable[[str], bool] | None = None
        self.oauth_tokens: list[str] = []
        self.xoauth2 = True
        self.oauth_refusal: str | None = None  # Exchange's way: this reply at once, no 334
        self.auth_line: str | None = None
        self.reject_rcpt = dict(reject_rcpt or {})
        self.reject_mail = reject_mail
        self.pipelining = pipelining
        self.chunking = chunking
        self.bdat_discard = bdat_discard
        self.bdat_commands = 0
        self.buffer_replies = buffer_replies
        self.drop_rcpt = drop_rcpt
        self.stall_rcpt = stall_rcpt
        self.drop_mail = drop_mail
        self.stall_mail = stall_mail
        self.eightbitmime = eightbitmime
        self.smtputf8 = smtputf8
        self.size_limit = size_limit
        self.reads: list[bytes] = []
        self.fail_after_mail = fail_after_mail
        self.fail_after_mail_count = fail_after_mail_count
        self.drop_mid_data = drop_mid_data
        self.data_reply = data_reply
        self.delay_data_reply = delay_data_reply
        self.hold_data_reply: threading.Event | None = None
        self.holding = threading.Event()
        self.host = HOST
        self.port = 0
        self.connections = 0
        self.mail_commands = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._messages: list[Received] = []
        self._refused: list[Received] = []
        self._controller: _Controller | None = None
        self._open: set[_SMTP] = set()  # the connections the server has open

    # -- state -----------------------------------------------------------------------------
    def _record(self, received: Received, *, accepted: bool) -> None:
        with self._changed:
            (self._messages if accepted else self._refused).append(received)
            self._changed.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def refused(self) -> list[Received]:
        with self._lock:
            return list(self._refused)

    def wait_for_messages(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Block until at least ``count`` messages are held; return them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} messages after {timeout}s, want {count}")
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._refused.clear()
            self.reads.clear()
            self.connections = 0
            self.mail_commands = 0
            self.bdat_commands = 0

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        logins = {self.user: self.password, **self.accounts}
        ok = (
            isinstance(auth_data, LoginPassword)
            and logins.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    # -- lifecycle -------------------------------------------------------------------------
    def _tls_context(self):
        assert self.pki is not None
        if self.untrusted:
            return self.pki.untrusted_server_ssl_context()
        return self.pki.server_ssl_context()

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {
            "server_hostname": "smtp.test.example",  # avoids a getfqdn() DNS lookup
            "authenticator": self._authenticate,
            "auth_required": True,
        }
        if self.size_limit is not None:
            kwargs["data_size_limit"] = self.size_limit
        if self.mode == "ssl":
            kwargs["ssl_context"] = self._tls_context()
        elif self.mode == "starttls":
            kwargs["tls_context"] = self._tls_context()
            kwargs["require_starttls"] = True
        controller = _Controller(self, self.port, **kwargs)
        controller.start()
        self._controller = controller
        self.port = controller.port
        with self._lock:
            self.connections = 0  # forget the controller's own start-up probe
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def hang_up(self) -> None:
        """Close every open connection from the server's side without a word, as a server or
        a middlebox does to one left idle: a client learns it when it next writes and reads."""
        assert self._controller is not None
        with self._lock:
            servers = list(self._open)

        async def close() -> None:
            for server in servers:
                if server.transport is not None:
                    server.transport.close()

        asyncio.run_coroutine_threadsafe(close(), self._controller.loop).result(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SmtpSink {self.mode} {self.host}:{self.port} messages={len(self._messages)}>"


class SilentServer:
    """A TCP listener on 127.0.0.1 that never accepts nor greets: clients wait until timeout.

    The kernel completes the TCP handshake for up to ``backlog`` clients, so connecting
    succeeds, but nothing is ever read or written.
    """

    def __init__(self, backlog: int = 64) -> None:
        self.host = HOST
        self.port = 0
        self._backlog = backlog
        self._sock: socket.socket | None = None

    def start(self) -> SilentServer:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.port))
            sock.listen(self._backlog)
            self.port = sock.getsockname()[1]
            self._sock = sock
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackServer:
    """A raw-socket server on 127.0.0.1: accepts each connection and hands it to
    :meth:`_accepted` (by default :meth:`_handle` on a thread of its own) until closed."""

    def __init__(self) -> None:
        self._sock = socket.create_server((HOST, 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()


class BabblingServer(LoopbackServer):
    """A TCP server on 127.0.0.1 that greets with an endless multi-line reply: ``220-`` lines,
    one every ``every`` seconds, for ``seconds``, then ``220 done``. Each line comes well within
    any socket timeout, so only a bound on the whole answer stops a client waiting."""

    def __init__(self, seconds: float = 10.0, every: float = 0.05) -> None:
        super().__init__()
        self.seconds, self.every = seconds, every

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                for _ in range(int(self.seconds / self.every)):
                    if self._stop.wait(self.every):
                        return
                    conn.sendall(b"220-still greeting\r\n")
                conn.sendall(b"220 done\r\n")
                self._stop.wait()
            except OSError:  # the client hung up
                pass


class GreetingServer(LoopbackServer):
    """A TCP server on 127.0.0.1 that answers each connection with ``line`` (another
    service's banner, an SMTP refusal) and then waits for the client to hang up."""

    def __init__(self, line: bytes) -> None:
        super().__init__()
        self.line = line

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(self.line)
                while conn.recv(4096):
                    pass
            except OSError:
                pass


@dataclass
class Script:
    """What a :class:`ScriptedServer` does with one connection.

    ``greeting``: the first line(s), or None to close at once without a word. ``tls``: a
    server context to wrap the connection in first (implicit TLS). ``trickle``: seconds between
    the greeting's bytes (each comes well within a socket timeout). ``replies``: a command's
    verb (``EHLO``, ``AUTH``, ``MAIL``, ``RCPT``, ``DATA``, ``.`` for the end of the data) to
    its reply; ``None`` closes the connection without one, ``"rst"`` resets it. The default
    replies are a plain server's: ``EHLO`` offers ``AUTH PLAIN``, ``AUTH`` takes anything, and
    ``MAIL`` before a ``HELO`` or ``EHLO`` answered 250 gets 503 (RFC 5321 4.1.4).
    A verb and its first word (``"AUTH LOGIN"``) may have a reply of their own, taken before the
    verb's. ``dribble``: a verb to the seconds between its reply's bytes (each well within a socket
    timeout, the whole reply not). A reply may quote the command back (:func:`echoed`)."""

    greeting: bytes | None = b"220 scripted.test.example ESMTP\r\n"
    replies: dict[str, bytes | str | None] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    trickle: float = 0.0
    dribble: dict[str, float] = field(default_factory=dict)


_DEFAULT_REPLIES: dict[str, bytes | str | None] = {
    "EHLO": b"250-scripted.test.example\r\n250 AUTH PLAIN LOGIN\r\n",
    "HELO": b"250 scripted.test.example\r\n",
    "AUTH": b"235 2.7.0 Authentication successful\r\n",
    "DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    ".": b"250 2.0.0 OK: queued\r\n",
    "QUIT": b"221 2.0.0 Bye\r\n",
}


S = TypeVar("S")


class ScriptedPeer(LoopbackServer, Generic[S]):
    """A raw-socket server on 127.0.0.1 that hands its i-th connection ``scripts[i]`` (the last
    one every later connection) to :meth:`_talk`, each on a thread of its own; ``commands``: the
    lines each connection read, which :meth:`_talk` appends to."""

    def __init__(self, scripts: list[S]) -> None:
        super().__init__()
        self.scripts = scripts
        self._lock = threading.Lock()
        self.connections = 0
        self.commands: list[list[bytes]] = []

    def _accepted(self, conn: socket.socket) -> None:
        with self._lock:  # in the order the connections came
            script = self.scripts[min(self.connections, len(self.scripts) - 1)]
            self.connections += 1
            self.commands.append([])
            seen = self.commands[-1]
        threading.Thread(target=self._talk, args=(conn, script, seen), daemon=True).start()

    def _talk(self, conn: socket.socket, script: S, seen: list[bytes]) -> None:
        raise NotImplementedError

    def _greet(
        self, conn: socket.socket, greeting: bytes | None, trickle: float, step: int = 1
    ) -> bool:
        """Send ``greeting`` (``step`` bytes every ``trickle`` seconds, if given); False when
        the script greets with nothing (None: the connection is closed) or the server stops."""
        if greeting is None:
            return False
        if trickle:
            for k in range(0, len(greeting), step):
                if self._stop.wait(trickle):
                    return False
                conn.sendall(greeting[k : k + step])
        else:
            conn.sendall(greeting)
        return True

    def _reply(
        self, conn: socket.socket, reply: bytes | str | None, pace: float, step: int = 1
    ) -> bool:
        """:func:`_answer`, ``step`` bytes every ``pace`` seconds when given."""
        if pace and isinstance(reply, bytes):
            return self._greet(conn, reply, pace, step)
        return _answer(conn, reply)


class ScriptedServer(ScriptedPeer[Script]):
    """A raw-socket SMTP server on 127.0.0.1 that plays ``scripts[i]`` to its i-th connection
    (the last one to every later connection): a first host that fails one way and a backup
    that works, on one port (the hosts ``127.0.0.1`` and ``localhost`` reach the same server).

    ``commands`` lists every command line read (data lines excluded), per connection;
    ``messages`` the data of each message answered 2xx after its final dot."""

    def __init__(self, *scripts: Script) -> None:
        super().__init__(list(scripts) or [Script()])
        self.messages: list[bytes] = []

    def _talk(self, conn: socket.socket, script: Script, seen: list[bytes]) -> None:
        try:
            if script.tls is not None:
                conn.settimeout(10)
                conn = script.tls.wrap_socket(conn, server_side=True)
            with conn:
                self._converse(conn, script, seen)
        except OSError:  # the client hung up, or the handshake failed
            pass

    def _converse(self, conn: socket.socket, script: Script, seen: list[bytes]) -> None:
        if not self._greet(conn, script.greeting, script.trickle):
            return
        replies = {**_DEFAULT_REPLIES, **script.replies}
        greeted = False
        reader = conn.makefile("rb")
        for line in reader:
            seen.append(line)
            verb = (
                line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper().decode("ascii", "replace")
            )
            if verb == "MAIL" and not greeted and "MAIL" not in script.replies:
                reply: bytes | str | None = b"503 5.5.1 Error: send HELO/EHLO first\r\n"
            else:
                words = line.split()
                key = verb  # "AUTH LOGIN"'s own reply first, if the script gives one
                if len(words) > 1:
                    first = f"{verb} {words[1].decode('ascii', 'replace').upper()}"
                    key = first if first in replies else verb
                reply = echoed(replies.get(key, b"250 2.0.0 OK\r\n"), line)
            if not self._reply(conn, reply, script.dribble.get(verb, 0.0)):
                return
            if verb in ("EHLO", "HELO") and isinstance(reply, bytes) and reply.startswith(b"250"):
                greeted = True
            if verb == "DATA" and reply.startswith(b"354"):
                data = []
                for part in reader:
                    if part == b".\r\n":
                        break
                    data.append(part)
                end = replies["."]
                if isinstance(end, bytes) and end.startswith(b"2"):
                    with self._lock:
                        self.messages.append(b"".join(data))
                if not self._reply(conn, end, script.dribble.get(".", 0.0)):
                    return
            if verb == "QUIT":
                return


def echoed(reply: bytes | str | None, line: bytes) -> bytes | str | None:
    """``reply`` quoting the client's ``line`` back, as a careless server's error does:
    ``{said}`` stands for its last word as sent (an AUTH's base64 response), ``{decoded}`` for
    that word base64-decoded (the XOAUTH2 response's ``user=...^Aauth=Bearer TOKEN``);
    ``{said:N}`` and ``{decoded:N}`` for their first N bytes (a server cutting what it quotes)."""
    if not isinstance(reply, bytes) or b"{said" not in reply and b"{decoded" not in reply:
        return reply
    said = (line.split() or [b""])[-1]
    try:
        decoded = base64.b64decode(said, validate=True)
    except binascii.Error:
        decoded = b""
    words = {b"said": said, b"decoded": decoded}
    return re.sub(
        rb"\{(said|decoded)(?::(\d+))?\}",
        lambda m: words[m[1]][: int(m[2]) if m[2] else None],
        reply,
    )


def _answer(conn: socket.socket, reply: bytes | str | None) -> bool:
    """Send ``reply``; False when the script ends the connection instead (None: closed without
    a word, ``"rst"``: reset)."""
    if reply is None:
        return False
    if reply == "rst":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    assert isinstance(reply, bytes)
    conn.sendall(reply)
    return True
