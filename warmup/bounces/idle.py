"""IMAP IDLE (RFC 2177): a thread that waits on a mailbox's INBOX and says when mail arrives.

It only watches; the sync itself (:func:`warmup.bounces.imap.sync`) runs where the ledger is,
when told. The standard library's imaplib has no IDLE before Python 3.14, so the command is
spoken here over imaplib's public ``send``/``readline``, under a tag of its own that imaplib never
uses. IDLE is ended and issued again on the same connection at the first line the server sends
(its keep-alives come every few minutes) once :data:`RENEW` seconds have passed, so before the
29 minutes of RFC 2177 (a server may log out a client idle for 30); a connection silent for
RENEW + RETRY seconds is dropped and opened again. :meth:`IdleWatcher.close` shuts the socket
down, which ends the blocking read at once.
"""

from __future__ import annotations

import imaplib
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmup.bounces.imap import _drop, _logout, _quote, connect
from warmup.errors import WarmupError
from warmup.neterr import describe

if TYPE_CHECKING:
    from warmup.oauth import Bearer

RENEW = 25 * 60.0  # seconds: under the 29 minutes of RFC 2177, with a margin
RETRY = 60.0  # seconds before a lost or refused connection is tried again
TAG = b"WIDLE"


class NoIdle(Exception):
    """The server does not offer IDLE."""


class IdleWatcher(threading.Thread):
    """Holds IDLE on ``folder`` of one mailbox and calls ``wake()`` when new mail arrives.

    ``supported`` is None until the server has answered, then whether it offers IDLE (if not,
    the thread ends and the caller's interval is all there is). ``log`` gets one line per
    failure in a row, never a password.
    """

    def __init__(
        self,
        address: str,
        *,
        hosts: tuple[str, ...],
        port: int,
        security: str,
        password: str | Bearer,
        wake: Callable[[], object],
        log: Callable[[str], object] = lambda line: None,
        folder: str = "INBOX",
        timeout: float = 60.0,
        renew: float = RENEW,
    ) -> None:
        super().__init__(name=f"imap-idle {address}", daemon=True)
        self.address = address
        self._login = (hosts, port, security, password, timeout)
        self._wake = wake
        self._log = log
        self._folder = folder
        self._renew = renew
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._imap: imaplib.IMAP4 | None = None
        self.supported: bool | None = None
        self.ready = threading.Event()  # set once IDLE was accepted the first time
        self.renewals = 0  # IDLE commands ended because it was time to issue a new one
        self._failed = False  # the last attempt failed: the next failure is not logged

    def close(self, wait: float = 5.0) -> None:
        """End the IDLE and the thread (safe from any thread; returns within ``wait``)."""
        self._closed.set()
        with self._lock:
            imap = self._imap
        if imap is not None:
            try:  # the socket's own shutdown: SSLSocket's would race the reading thread
                socket.socket.shutdown(imap.sock, socket.SHUT_RDWR)
            except OSError:
                pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(wait)

    def run(self) -> None:
        self._failed = False
        while not self._closed.is_set():
            hosts, port, security, password, timeout = self._login
            try:
                imap, _ = connect(hosts, port, security, self.address, password, timeout)
            except WarmupError:  # not logged: the interval's sync meets it too, and says so
                self._failed = True
                self._closed.wait(RETRY)
                continue
            with self._lock:
                if self._closed.is_set():  # closed while connecting: close() did not see it
                    _drop(imap)
                    return
                self._imap = imap
            try:
                self._watch(imap)
                return  # closed
            except NoIdle:
                self.supported = False
                self._log(
                    f"{self.address}: the IMAP server offers no IDLE; "
                    "bounces are synced on the interval"
                )
                _logout(imap)
                return
            except TimeoutError:
                pass  # silent for too long: a new connection, at once
            except (OSError, imaplib.IMAP4.error, ValueError) as exc:
                if self._closed.is_set():
                    return
                if not self._failed:
                    self._log(f"IMAP IDLE for {self.address} lost ({_why(exc)}); reconnecting")
                self._failed = True
                self._closed.wait(RETRY)
            finally:
                with self._lock:
                    self._imap = None
                _drop(imap)

    def _watch(self, imap: imaplib.IMAP4) -> None:
        # Asked again after LOGIN: a server may offer more once logged in.
        typ, data = imap.capability()
        words = b" ".join(d for d in data if isinstance(d, bytes)).upper().split()
        if typ != "OK" or b"IDLE" not in words:
            raise NoIdle
        typ, data = imap.select(_quote(self._folder), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open {self._folder}: {data!r}")
        # Past the renewal, the next line (a server's keep-alive comes every few minutes) ends
        # the IDLE; a connection silent for much longer than that is dead.
        imap.sock.settimeout(self._renew + RETRY)
        while not self._closed.is_set():
            if self._idle(imap):
                self._wake()
            else:
                self.renewals += 1

    def _idle(self, imap: imaplib.IMAP4) -> bool:
        """One IDLE command: True when new mail arrived, False when it was time to renew."""
        imap.send(TAG + b" IDLE\r\n")
        while not (line := _line(imap)).startswith(b"+"):
            if line.startswith(TAG):
                raise NoIdle
        self.supported, self._failed = True, False
        self.ready.set()
        started = time.monotonic()
        news = False
        while not news and time.monotonic() - started < self._renew:
            news = _exists(_line(imap))  # keep-alives ("* OK Still here") let the clock run
        imap.send(b"DONE\r\n")
        while not (line := _line(imap)).startswith(TAG):
            news = news or _exists(line)  # mail that came as the IDLE ended
        if not line[len(TAG) :].lstrip().upper().startswith(b"OK"):
            raise imaplib.IMAP4.error(f"IDLE ended with {line.decode(errors='replace').strip()}")
        return news


def _exists(line: bytes) -> bool:
    return line.startswith(b"* ") and line.rstrip().upper().endswith(b" EXISTS")


def _line(imap: imaplib.IMAP4) -> bytes:
    line = imap.readline()
    if not line:
        raise imaplib.IMAP4.abort("the server closed the connection")
    return line


def _why(exc: BaseException) -> str:
    return describe(exc) if isinstance(exc, OSError) else str(exc) or type(exc).__name__
