"""IMAP IDLE (RFC 2177): a thread that waits on a mailbox's INBOX and says when mail arrives.

It only watches; the sync itself (:func:`warmup.bounces.imap.sync`) runs where the ledger is,
when told. The standard library's imaplib has no IDLE before Python 3.14, so the command is
spoken here over imaplib's public ``send``/``readline``, under a tag of its own that imaplib never
uses. IDLE is ended and issued again on the same connection at the first line the server sends
(its keep-alives come every few minutes) once :data:`RENEW` seconds have passed, so before the
29 minutes of RFC 2177 (a server may log out a client idle for 30); a connection silent for
RENEW + SILENCE seconds is dropped and opened again. :meth:`IdleWatcher.close` shuts the socket
down, which ends the blocking read at once.

Whatever the server does (cuts, answers BAD, garbles, ends the IDLE on its own, announces a
literal larger than any answer), the watcher outlives it: one line says what the server did,
and the watcher connects again after a delay that doubles with each failure in a row
(:func:`backoff`, injectable), the wait ended at once by :meth:`IdleWatcher.close`. Meanwhile
the caller's interval sync goes on. Only a server that will not IDLE at all ends the watcher,
with a line saying so, and one that floods it: an IDLE's lines are bounded as any command's
answer (MAX_ANSWER in all, each line counted as at least ANSWER_LINE bytes, and imaplib's bound
on one line), and a server past them (lines without end, a line without end) would only do it
again on a new connection.
"""

from __future__ import annotations

import imaplib
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmup.bounces.imapconn import (
    ANSWER_LINE,
    MAX_ANSWER,
    Flooded,
    connect,
    drop,
    logout,
    server_text,
)
from warmup.bounces.imapfolders import quote
from warmup.errors import PermissionFailure, WarmupError
from warmup.lazyre import compiled_later
from warmup.neterr import describe
from warmup.words import printable, scrubbed

if TYPE_CHECKING:
    from warmup.oauth import Bearer

RENEW = 25 * 60.0  # seconds: under the 29 minutes of RFC 2177, with a margin
SILENCE = 60.0  # seconds past RENEW after which a connection that said nothing is dead
RETRY = 2.0  # seconds before a lost or refused connection is tried again, the first time
MAX_RETRY = 600.0  # ... and at most, however many failures in a row
TAG = b"WIDLE"


def backoff(failures: int) -> float:
    """Seconds to wait before connecting again after ``failures`` failures in a row."""
    return min(RETRY * 2.0 ** min(failures - 1, 30), MAX_RETRY)


class NoIdle(Exception):
    """The server does not offer IDLE (the message says how it showed it)."""


class _Flood(Exception):
    """The server flooded the IDLE or the commands before it (the message says how)."""


class _Refused(Exception):
    """The server refused the login (the message says how)."""


class IdleWatcher(threading.Thread):
    """Holds IDLE on ``folder`` of one mailbox and calls ``wake()`` when new mail arrives,
    and once each time it is back after a lost connection (mail may have come meanwhile).

    ``supported`` is None until the server has answered, then whether it offers IDLE (if not,
    the thread ends and the caller's interval is all there is). ``log`` gets one line for each
    run of failures in a row, never a password or token. ``retry(n)``: the seconds to wait
    after the n-th failure in a row (:func:`backoff`); tests pass time in.
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
        retry: Callable[[int], float] = backoff,
    ) -> None:
        super().__init__(name=f"imap-idle {address}", daemon=True)
        self.address = address
        self._login = (hosts, port, security, password, timeout)
        self._wake = wake
        self._log = log
        self._folder = folder
        self._renew = renew
        self._retry = retry
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._imap: imaplib.IMAP4 | None = None
        self.supported: bool | None = None
        # The login was refused, and the watcher ended: its password is the one it was given,
        # which the user may since have changed (a new watcher is started once a sync logs in).
        self.refused = False
        self.ready = threading.Event()  # set while IDLE is held on a live connection
        self.renewals = 0  # IDLE commands ended because it was time to issue a new one
        self.failures = 0  # connections lost or refused, in all
        self.flooded = False  # ended: the server flooded it (each new connection would be)
        self._ended_well = False  # an IDLE ended with OK since the last failure
        self._sessions = 0  # connections that got as far as opening the folder

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
        streak, told = 0, False  # failures in a row; whether the run of them was logged
        while not self._closed.is_set():
            try:
                failed = self._session()
            except _Refused as exc:
                self.refused = True
                self._log(
                    f"IMAP IDLE for {self.address} stopped: {self._scrub(str(exc))}; it starts "
                    f"again once a sync logs in (bounces are synced on the interval meanwhile)"
                )
                return
            except NoIdle as exc:
                self.supported = False
                self._log(
                    f"{self.address}: {self._scrub(str(exc))}; bounces are synced on the interval"
                )
                return
            except _Flood as exc:
                self.flooded = True
                self._log(
                    f"IMAP IDLE for {self.address} stopped: {self._scrub(str(exc))}; bounces "
                    f"are synced on the interval"
                )
                return
            if self._closed.is_set():
                return
            if self._ended_well:
                self._ended_well, streak, told = False, 0, False
            if failed is None:  # silent for too long: a new connection, at once
                continue
            why, quiet = failed
            streak += 1
            self.failures += 1
            delay = max(0.0, self._retry(streak))
            if not quiet and not told:
                told = True
                self._log(
                    f"IMAP IDLE for {self.address} failed: {self._scrub(why)}; trying again in "
                    f"{delay:g} s (bounces are synced on the interval meanwhile)"
                )
            self._closed.wait(delay)

    def _session(self) -> tuple[str, bool] | None:
        """One connection: None when closed (or silent for too long), else ``(what went wrong,
        whether the interval's sync says it already)``; :class:`NoIdle` ends the watcher."""
        hosts, port, security, password, timeout = self._login
        try:
            imap, host = connect(hosts, port, security, self.address, password, timeout)
        except PermissionFailure as exc:  # again with the same password: refused again
            raise _Refused(_why(exc)) from None
        except WarmupError as exc:  # the interval's sync meets it too, and says so
            return _why(exc), True
        except Exception as exc:  # whatever the server said, the watcher outlives it
            return _why(exc), False
        with self._lock:
            if self._closed.is_set():  # closed while connecting: close() did not see it
                drop(imap)
                return None
            self._imap = imap
        try:
            self._watch(imap)
            return None  # closed
        except NoIdle:
            logout(imap)
            raise
        except Flooded as exc:  # its CAPABILITY or SELECT, or the IDLE itself, without end
            raise _Flood(f"{host} {exc.why}") from None
        except TimeoutError:
            return None
        except Exception as exc:  # whatever the server did, the watcher outlives it
            return None if self._closed.is_set() else (_why(exc), False)
        finally:
            self.ready.clear()
            with self._lock:
                self._imap = None
            drop(imap)

    def _scrub(self, text: str) -> str:
        """``text`` without the password or access token, should a server have echoed it."""
        return scrubbed(text, self._login[3])

    def _watch(self, imap: imaplib.IMAP4) -> None:
        # Asked again after LOGIN: a server may offer more once logged in.
        typ, data = imap.capability()
        words = b" ".join(d for d in data if isinstance(d, bytes)).upper().split()
        if typ != "OK" or b"IDLE" not in words:
            raise NoIdle("the IMAP server offers no IDLE")
        typ, data = imap.select(quote(self._folder), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open {self._folder}: {server_text(data)}")
        # Mail that came while no connection was watching (the server restarted, the link
        # dropped) is told by no IDLE: each new one tells only of mail that comes after it.
        if self._sessions:
            self._wake()
        self._sessions += 1
        # Past the renewal, the next line (a server's keep-alive comes every few minutes) ends
        # the IDLE; a connection silent for much longer than that is dead.
        imap.sock.settimeout(self._renew + SILENCE)
        while not self._closed.is_set():
            if self._idle(imap):
                self._wake()
            else:
                self.renewals += 1

    def _idle(self, imap: imaplib.IMAP4) -> bool:
        """One IDLE command: True when new mail arrived, False when it was time to renew."""
        imap.send(TAG + b" IDLE\r\n")
        read = _bounded(imap)
        while not (line := read()).startswith(b"+"):
            if line.startswith(TAG):  # it said IDLE, then refused it: it will again
                raise NoIdle(f"the IMAP server refused IDLE, which it offers ({_said(line)})")
        self.supported = True
        self.ready.set()
        started = time.monotonic()
        news = False
        try:
            while not news and time.monotonic() - started < self._renew:
                line = read()
                if line.startswith(TAG):
                    # Ended by the server, before any DONE (some do: RFC 2177 has no word for
                    # it), which pushes no new mail after: waiting on, the watcher was deaf
                    # until its renewal. A failure, as a cut: a new connection, its sync woken.
                    raise imaplib.IMAP4.error(f"the server ended IDLE on its own ({_said(line)})")
                news = _exists(line)  # keep-alives ("* OK Still here") let the clock run
            imap.send(b"DONE\r\n")
            # Answered within the timeout, as any command: a server that lets DONE go
            # unanswered and goes on saying "still here" would hold the watcher for ever, and
            # one gone silent would for the IDLE's own timeout (the renewal and SILENCE).
            ending = time.monotonic() + self._login[4]
            imap.sock.settimeout(self._login[4])
            while not (line := read()).startswith(TAG):
                news = news or _exists(line)  # mail that came as the IDLE ended
                if time.monotonic() > ending:
                    raise TimeoutError("no answer to DONE")
            imap.sock.settimeout(self._renew + SILENCE)
        except Exception:
            if news:  # the mail came: the sync reads it, whatever became of this connection
                self._wake()
            raise
        if not line[len(TAG) :].lstrip().upper().startswith(b"OK"):
            if news:
                self._wake()
            raise imaplib.IMAP4.error(f"IDLE ended with {_said(line)}")
        self._ended_well = True
        return news


def _exists(line: bytes) -> bool:
    return line.startswith(b"* ") and line.rstrip().upper().endswith(b" EXISTS")


def _line(imap: imaplib.IMAP4) -> bytes:
    line = imap.readline()
    if not line:
        raise imaplib.IMAP4.abort("the server closed the connection")
    return line


def _bounded(imap: imaplib.IMAP4) -> Callable[[], bytes]:
    """The reader of one IDLE command's lines, from the command to its tagged end, bounded as
    any command's answer (:class:`Flooded` past the bounds): MAX_ANSWER bytes in all, each line
    counted as at least ANSWER_LINE (what Python keeps for one, though these are not kept),
    and each line at most imaplib's bound on one. Only the time bounded them: a server
    streaming "* OK still here" was read for as long as the IDLE lasted (25 minutes, at
    whatever rate it sent), and woken by nothing else meanwhile."""
    held = 0

    def read() -> bytes:
        nonlocal held
        try:
            line = _line(imap)
        except imaplib.IMAP4.error as exc:
            if str(exc).startswith("got more than"):  # imaplib's bound on one line
                longest = getattr(imaplib, "_MAXLINE", 1_000_000)
                raise Flooded(f"sent a line longer than {longest:,} bytes during IDLE") from None
            raise
        held += max(ANSWER_LINE, len(line))
        if held > MAX_ANSWER:
            raise Flooded(
                f"sent more than {MAX_ANSWER // (1024 * 1024)} MiB of lines during IDLE "
                f"without ending it"
            )
        return line

    return read


def _said(line: bytes) -> str:
    return printable(line.decode("utf-8", "replace").strip())[:200]


def _why(exc: BaseException) -> str:
    """What the server did, in one printable line: the first clause of a WarmupError (the
    rest advises a sync run by hand), imaplib's words, or a connection-level phrase."""
    if isinstance(exc, OSError):
        why = describe(exc)
    elif isinstance(exc, UnicodeError):
        why = "it answered with bytes that are not ASCII"
    elif isinstance(exc, WarmupError):
        why = str(exc).split(";")[0]
    elif isinstance(exc, imaplib.IMAP4.error):
        why = _unbytes(str(exc)) or "an answer imaplib cannot read"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return printable(" ".join(why.split()))[:200] or type(exc).__name__


# Python's bytes in an imaplib error (its BAD's "EXAMINE command error: BAD [b'...']"), an
# escaped quote inside one
_BYTES = compiled_later(r"""\[?(?<!\w)b(['"])((?:\\.|(?!\1).)*)\1\]?""")


def _unbytes(text: str) -> str:
    """``text``, an imaplib error, with each of Python's bytes in it said as the server's
    words: decoded as UTF-8 (a byte that is not, U+FFFD), not ``\\xe6\\x9c...``."""
    import ast  # errors only

    def said(m: re.Match[str]) -> str:
        try:
            raw = ast.literal_eval(f"b{m[1]}{m[2]}{m[1]}")
        except (SyntaxError, ValueError):
            return m[0]
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else m[0]

    return _BYTES.sub(said, text)
