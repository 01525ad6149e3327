"""One wording for network and TLS failures, shared by SMTP delivery, IMAP sync and doctor."""

from __future__ import annotations

import socket
import ssl


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
