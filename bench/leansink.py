"""A lean SMTP sink in its own process, for benches: the peer does no more work than a real server.

    with LeanSink(pki, user, password) as sink:   # implicit TLS on 127.0.0.1:sink.port
        ...                                        # user: one login, or several: "a,b,c"
    sink.received                                  # messages accepted (read after the block)

aiosmtpd (implicit TLS with the test CA, AUTH required) runs in a child process, so its CPU is
not the bench's; its DATA handler only counts: it neither parses nor stores the message, as a
real server's receive path queues the bytes and answers. Its EHLO offers PIPELINING (RFC 2920),
as Gmail, Outlook and Exmail do; aiosmtpd reads pipelined commands in order. smtplib never
pipelines, so a direct smtplib client converses with it exactly as before. Run directly, it is the child:
``python bench/leansink.py CERT KEY USER PASSWORD COUNT_FILE``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class LeanSink:
    def __init__(self, pki: Any, user: str, password: str) -> None:
        self.pki, self.user, self.password = pki, user, password
        self.count_file = Path(pki.directory) / f"sink-{os.getpid()}-{id(self)}.count"
        self.received: int | None = None
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LeanSink:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(self.pki.cert_path),
                str(self.pki.key_path),
                self.user,
                self.password,
                str(self.count_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        self._proc.wait(timeout=30)
        self.received = int(self.count_file.read_text())


def _serve(cert: str, key: str, user: str, password: str, count_file: str) -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    count = 0

    class Handler:
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname  # aiosmtpd leaves this to a handler with the hook
            return [responses[0], "250-PIPELINING", *responses[1:]]

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
    controller = Controller(
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
    Path(count_file).write_text(str(count))


if __name__ == "__main__":
    import logging
    import warnings

    logging.disable(logging.WARNING)  # aiosmtpd's per-connection notices
    warnings.simplefilter("ignore")  # "AUTH without TLS": the socket is implicit TLS
    _serve(*sys.argv[1:6])
