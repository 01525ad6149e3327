"""One wording for network and TLS failures, shared by SMTP delivery, IMAP sync and doctor."""

from __future__ import annotations

import socket
import ssl
import threading


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


class Opening:
    """The time one host's opening (connection, greeting, EHLO or CAPABILITY, STARTTLS) is given
    in all: SMTP's (:mod:`warmup.smtp`) and IMAP's (:func:`warmup.bounces.imap.connect`).

    A socket's timeout bounds each read: a server sending its greeting a byte a second, or an
    endless ``220-`` greeting, would hold the send for as long as it kept sending. At the
    deadline a timer shuts the connection down, which ends the read in progress (it fails as a
    connection lost; :attr:`passed` tells the two apart). It watches a duplicate of the
    connection's descriptor: shutting it down reaches the connection whatever wraps it (the
    TLS socket of implicit TLS or of STARTTLS)."""

    def __init__(self, seconds: float) -> None:
        self.passed = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock.dup()
            if self.passed:
                shut(self._sock)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            if self._sock is not None:
                shut(self._sock)

    def end(self) -> bool:
        """Stop watching (the duplicate is closed: it would keep the connection open); whether
        the deadline had passed, and the connection was shut down."""
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            return self.passed


def shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already gone
        pass
