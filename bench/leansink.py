"""A lean SMTP sink in its own process, for benches: the peer does no more work than a real server.

    with LeanSink(pki, user, password) as sink:   # implicit TLS on 127.0.0.1:sink.port
        ...                                        # user: one login, or several: "a,b,c"
    sink.received                                  # messages accepted (read after the block)
    sink.chunked                                   # of them, sent with BDAT

aiosmtpd (implicit TLS with the test CA, AUTH required) runs in a child process, so its CPU is
not the bench's; its DATA handler only counts: it neither parses nor stores the message, as a
real server's receive path queues the bytes and answers. Its EHLO offers PIPELINING (RFC 2920),
as Gmail, Outlook and Exmail do; aiosmtpd reads pipelined commands in order. smtplib never
pipelines, so a direct smtplib client converses with it exactly as before. With
``chunking=True`` it also offers CHUNKING (RFC 3030), as Gmail and Exchange Online do: a BDAT
chunk is read as the size says and counted like a DATA message (smtplib never uses it). Run
directly, it is the child: ``python bench/leansink.py CERT KEY USER PASSWORD COUNT_FILE [chunking]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class Child:
    """A peer in a process of its own: ``argv`` (after the interpreter) starts it, it prints
    the port it listens on, and SIGTERM stops it."""

    port = 0
    _proc: subprocess.Popen[str] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._proc = subprocess.Popen(
            [sys.executable, *self.argv()], stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        self._proc.wait(timeout=30)


class LeanSink(Child):
    def __init__(self, pki: Any, user: str, password: str, chunking: bool = False) -> None:
        self.pki, self.user, self.password = pki, user, password
        self.chunking = chunking
        self.count_file = Path(pki.directory) / f"sink-{os.getpid()}-{id(self)}.count"
        self.received: int | None = None
        self.chunked: int | None = None

    def argv(self) -> list[str]:
        return [
            __file__,
            str(self.pki.cert_path),
            str(self.pki.key_path),
            self.user,
            self.password,
            str(self.count_file),
            *(["chunking"] if self.chunking else []),
        ]

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.received, self.chunked = map(int, self.count_file.read_text().split())


def _serve(
    cert: str, key: str, user: str, password: str, count_file: str, chunking: bool = False
) -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    count = chunked = 0

    class Server(SMTP):
        async def smtp_BDAT(self, arg: str) -> None:
            """BDAT n LAST, as a server that takes it reads it: the n octets, then the reply."""
            nonlocal count, chunked
            words = arg.split() if arg else []
            if not chunking or not words or not words[0].isdigit():
                await self.push('500 Error: command "BDAT" not recognized')
                return
            await self._reader.readexactly(int(words[0]))
            if self.envelope is None or not self.envelope.rcpt_tos:
                await self.push("554 5.5.1 Error: no valid recipients")
                return
            if len(words) == 2 and words[1].upper() == "LAST":
                count += 1
                chunked += 1
                self._set_post_data_state()
            await self.push("250 2.0.0 OK queued")

    class Sink(Controller):
        def factory(self) -> SMTP:
            return Server(self.handler, **self.SMTP_kwargs)

    class Handler:
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname  # aiosmtpd leaves this to a handler with the hook
            offers = ["250-PIPELINING", *(["250-CHUNKING"] if chunking else [])]
            return [responses[0], *offers, *responses[1:]]

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            nonlocal count
            count += 1
            return "250 2.0.0 OK queued"

    logins = {u.encode() for u in user.split(",")}  # several mailboxes (a pool's) may log in

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login in logins
            and data.password == password.encode()
        )
        return AuthResult(success=ok)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    import socket

    with socket.socket() as s:  # a free port (aiosmtpd's controller needs it up front)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Sink(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        ssl_context=ctx,
        authenticator=auth,
        auth_required=True,
        auth_require_tls=False,
        server_hostname="localhost",
    )
    controller.start()
    print(controller.port, flush=True)
    stop = False

    def term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, term)
    while not stop:
        time.sleep(0.05)
    controller.stop()
    Path(count_file).write_text(f"{count} {chunked}")


if __name__ == "__main__":
    import logging
    import warnings

    logging.disable(logging.WARNING)  # aiosmtpd's per-connection notices
    warnings.simplefilter("ignore")  # "AUTH without TLS": the socket is implicit TLS
    _serve(*sys.argv[1:6], chunking=sys.argv[6:7] == ["chunking"])
