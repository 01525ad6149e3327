"""One wording for network and TLS failures, shared by SMTP delivery, IMAP sync and doctor."""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from typing import Any


def describe(exc: BaseException) -> str:
    """A short phrase for a connection-level failure ("connection refused", "timed out", ...)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name does not resolve"
    return str(exc) or type(exc).__name__


class Cutoff:
    """A deadline for a connection's reads, which a socket's timeout cannot give (it bounds each
    read: a peer sending a byte a little faster holds the reader for as long as it goes on). At
    the deadline a timer shuts down every socket :meth:`watch` was given, which ends the read in
    progress (it fails as a connection lost; :attr:`passed` tells the two apart)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passed = False
        self.watched = False  # a connection was made (and given to watch)
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _keep(self, sock: socket.socket) -> socket.socket:
        """What is kept of ``sock`` to shut it down by (the socket itself here)."""
        return sock

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self.watched = True
            kept = self._keep(sock)
            self._socks.append(kept)
            if self.passed:
                shut(kept)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._socks:
                shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


class Opening(Cutoff):
    """The time one host's opening (connection, greeting, EHLO or CAPABILITY, STARTTLS) is given
    in all: SMTP's (:mod:`warmup.smtpconnect`) and IMAP's (:func:`warmup.bounces.imapconn.connect`).

    A socket's timeout bounds each read: a server sending its greeting a byte a second, or an
    endless ``220-`` greeting, would hold the send for as long as it kept sending. At the
    deadline a timer shuts the connection down, which ends the read in progress (it fails as a
    connection lost; :attr:`passed` tells the two apart). It watches a duplicate of the
    connection's descriptor: shutting it down reaches the connection whatever wraps it (the
    TLS socket of implicit TLS or of STARTTLS)."""

    def _keep(self, sock: socket.socket) -> socket.socket:
        return sock.dup()

    def end(self) -> bool:
        """Stop watching (the duplicates are closed: they would keep the connection open);
        whether the deadline had passed, and the connection was shut down."""
        self.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()
            return self.passed


class Replies(io.RawIOBase):
    """The reads of one connection, each reply given ``seconds`` in all once armed
    (SMTP's, IMAP's command's, up to :meth:`disarm`): what :class:`Opening` is for the opening.

    A socket's timeout bounds each read, so a server trickling a reply a byte a second, or an
    endless run of continuation lines, would hold a send or a sync for as long as it went on.
    Here each read's timeout is what is left of the reply's (the socket's own, while that is
    shorter: a reply that comes in one read costs no system call), and a read due after the
    deadline fails at once. Either way the failure is the socket timeout's own
    (:class:`TimeoutError`), so every caller treats it as it treats a read that timed out. No
    thread: only reads are timed, so nothing done between them (an OAuth token refresh before
    the AUTH, writing the message) counts. ``io.BufferedReader(replies)`` is what
    ``sock.makefile("rb")`` would be.

    ``rate`` (bytes a second), for answers that may be long (an IMAP FETCH of megabytes): each
    byte read earns ``1 / rate`` more seconds, so a transfer at least that fast never runs out
    of time, while a trickle below it still does."""

    _SLACK = 0.05  # a read may end this much past the deadline rather than cost a system call

    def __init__(self, sock: socket.socket, seconds: float, rate: float | None = None) -> None:
        super().__init__()
        self.sock, self.seconds, self.rate = sock, seconds, rate
        self.until: float | None = None
        self._kept: tuple[float | None] | None = None  # the socket's timeout, while shortened

    def readable(self) -> bool:
        return True

    def arm(self) -> None:
        self.until = time.monotonic() + self.seconds

    def disarm(self) -> None:
        self.until = None
        if self._kept is not None:
            kept, self._kept = self._kept[0], None
            try:
                self.sock.settimeout(kept)
            except OSError:  # closed already (a reply cut off closes the connection)
                pass

    def readinto(self, buffer: Any) -> int:
        if self.until is not None:
            left = self.until - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            current = self.sock.gettimeout()
            if current is None or left < current - self._SLACK:
                if self._kept is None:
                    self._kept = (current,)
                self.sock.settimeout(left)
        n = self.sock.recv_into(buffer)
        if self.until is not None and self.rate:
            self.until += n / self.rate
        return n


class TimedReader:
    """For a subclass of smtplib's SMTP or imaplib's IMAP4: the reader the library makes of
    its socket (``file``, made again after STARTTLS) replaced by :class:`Replies` over the same
    socket, given :meth:`reply_seconds` (and :attr:`reply_rate`); the subclass arms it around
    each reply. The library's own reader is closed unread (it would keep the socket open)."""

    sock: Any
    _replies: Replies | None = None
    reply_rate: float | None = None

    def reply_seconds(self) -> float:
        raise NotImplementedError

    @property
    def file(self) -> io.BufferedReader | None:
        return self.__dict__.get("_file")

    @file.setter
    def file(self, made: Any) -> None:
        if made is not None:
            made.close()
            assert self.sock is not None
            self._replies = Replies(self.sock, self.reply_seconds(), rate=self.reply_rate)
            made = io.BufferedReader(self._replies)
        self.__dict__["_file"] = made


def shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already gone
        pass
