"""The IMAP connection of a bounce sync (:mod:`warmup.bounces.imap`) and of the IDLE watcher
(:mod:`warmup.bounces.idle`): the login on the first host that answers (:func:`connect`), the
opening and every command's answer given the timeout in all, the literals a server announces
bounded (:func:`whole_messages` around a FETCH of first parts), a connection closed with
(:func:`logout`) or without LOGOUT (:func:`drop`), and imaplib's answers and errors told in one
printable line (:func:`reason`, :func:`lost`, :func:`server_text`).
"""

from __future__ import annotations

import binascii
import contextlib
import imaplib
import re
import shlex
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from warmup import credentials
from warmup.bounces.message import MAX_INPUT
from warmup.errors import ConfigError, PermissionFailure, Unavailable
from warmup.neterr import Opening, TimedReader, describe
from warmup.words import printable, scrubbed

if TYPE_CHECKING:
    from warmup.oauth import Bearer

# Only the start of a message is read: everything a report says comes before the original it
# returns (which may be 25 MB), and the parser reads no further anyway.
READ_BYTES = MAX_INPUT


class LoginFailed(PermissionFailure):
    """The IMAP server refused the credentials (exit 77)."""


# The largest literal kept in memory: a message's first READ_BYTES, with room for the rest of
# an answer (a folder name). imaplib reads whatever size it is told into memory at once: from a
# broken or hostile server, {1000000000000} was a MemoryError and 2 GB was 2 GB.
MAX_LITERAL = READ_BYTES + 65_536
# The most a FETCH of first parts may announce for one message: its RFC822.SIZE (a server that
# ignores the partial FETCH sends it whole: read, and all but the first MAX_LITERAL bytes
# dropped as they come), never more than this.
MAX_WHOLE = 256 * 1024 * 1024
_DRAIN = 1 << 20


# The most one command's untagged answer lines may hold, literals included, each line counted
# as at least ANSWER_LINE bytes (what Python keeps for it): a FETCH of first parts holds at most
# FETCH_BYTES (4 MB) of them. imaplib keeps every untagged line until the command completes: a
# server sending "* OK ..." or "* 1 EXISTS" without end, never the tagged completion, grew the
# sync's memory without bound (and each line earned the answer more time).
MAX_ANSWER = 16 * 1024 * 1024
ANSWER_LINE = 64


class Flooded(Unavailable):
    """More than MAX_ANSWER of answer lines to one command (exit 69): ``why`` says so after the
    host's name. The host is broken, not busy: asked again, it would do it again."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(f"the IMAP server {why}")


_FLOODED = f"sent more than {MAX_ANSWER // (1024 * 1024)} MiB of answer lines"  # Flooded.why


# The most digits a number an IMAP server states may have (a UID, a size, a count: 2^64 has
# 20): one far longer is no number of the protocol's, and Python's int() refuses one of more
# than 4,300 digits (ValueError).
MAX_DIGITS = 20
_ANNOUNCED = re.compile(rb"\{(\d+)\}$")


def number(digits: bytes) -> int | None:
    """``digits`` (ASCII digits) as a number; None past :data:`MAX_DIGITS` of them."""
    return int(digits) if len(digits) <= MAX_DIGITS else None


class _Bounded:
    """imaplib's literal reads, bounded: at most MAX_LITERAL bytes kept; a larger literal only
    up to ``whole`` (set around a FETCH of first parts to what its messages hold), else the
    connection is dropped and the sync stopped (:class:`Unavailable`, exit 69). So is an
    answer whose untagged lines hold more than MAX_ANSWER bytes before its command completes
    (:class:`Flooded`: the greeting's lines count toward the CAPABILITY that follows it)."""

    whole = MAX_LITERAL
    _held = 0
    _asked = "CAPABILITY"

    def _command(self, name: str, *args: Any) -> Any:
        self._held = 0
        self._asked = f"UID {str(args[0]).upper()}" if name == "UID" and args else name
        return super()._command(name, *args)  # type: ignore[misc]

    def _append_untagged(self, typ: str, dat: Any) -> None:
        parts = dat if isinstance(dat, tuple) else (dat,)
        self._held += max(ANSWER_LINE, sum(len(p) for p in parts if isinstance(p, bytes)))
        if self._held > MAX_ANSWER:
            drop(self)  # type: ignore[arg-type]
            raise Flooded(f"{_FLOODED} to {self._asked} without completing it")
        super()._append_untagged(typ, dat)  # type: ignore[misc]

    def _get_line(self) -> bytes:
        line: bytes = super()._get_line()  # type: ignore[misc]
        # imaplib reads a literal's size with int(), which refuses a number of more than 4,300
        # digits (ValueError: a traceback, from the greeting on). No size is that long.
        m = _ANNOUNCED.search(line) if line.endswith(b"}") else None
        if m is not None and len(m.group(1)) > MAX_DIGITS:
            drop(self)  # type: ignore[arg-type]
            raise Unavailable(
                f"the IMAP server announced a literal of a {len(m.group(1)):,}-digit number of "
                f"bytes where at most {READ_BYTES} were asked for; nothing of it was recorded "
                f"(progress is saved: run the sync again, or ask the server's administrator)"
            )
        return line

    def read(self, size: int) -> bytes:
        if size > max(self.whole, MAX_LITERAL):
            drop(self)  # type: ignore[arg-type]
            raise Unavailable(
                f"the IMAP server announced {size} bytes where at most {READ_BYTES} were asked "
                f"for; nothing of it was recorded (progress is saved: run the sync again, or "
                f"ask the server's administrator)"
            )
        kept: bytes = super().read(min(size, MAX_LITERAL))  # type: ignore[misc]
        left = size - len(kept)
        while left > 0 and len(kept) == MAX_LITERAL:  # a whole message: the rest dropped
            chunk = super().read(min(left, _DRAIN))  # type: ignore[misc]
            if not chunk:
                break
            left -= len(chunk)
        return kept


@contextlib.contextmanager
def whole_messages(imap: imaplib.IMAP4, largest: int) -> Iterator[None]:
    """Around a FETCH of first parts whose messages hold at most ``largest`` bytes each: a
    literal up to that size (never over MAX_WHOLE) is read, all but its first MAX_LITERAL bytes
    dropped as they come (a server that ignores the partial FETCH sends a message whole)."""
    if isinstance(imap, _Bounded):
        imap.whole = min(largest + 65_536, MAX_WHOLE)
    try:
        yield
    finally:
        if isinstance(imap, _Bounded):
            imap.whole = MAX_LITERAL


# The slowest transfer an answer may come at and still be waited for: a FETCH batch of
# FETCH_BYTES over a slow link takes far more than the timeout in all, a trickle far less.
MIN_RATE = 8 * 1024  # bytes a second


class _Timed(TimedReader, imaplib.IMAP4):  # type: ignore[misc]
    """imaplib's IMAP4 whose every command's answer (LOGIN's, AUTHENTICATE's, SELECT's,
    FETCH's...) is given the timeout in all, not each read (:class:`~warmup.neterr.TimedReader`),
    armed around each command, and earning more time as data comes at MIN_RATE or faster (a
    FETCH of megabytes over a slow link). The IDLE watcher's own reads
    (:mod:`warmup.bounces.idle`) go outside any command: their socket timeout bounds their
    time, and the watcher their size (MAX_ANSWER, as here)."""

    _timeout: float
    reply_rate = MIN_RATE

    def reply_seconds(self) -> float:
        return self._timeout

    def _simple_command(self, name: str, *args: Any) -> tuple[str, list[Any]]:
        replies = self._replies
        if replies is None:
            return super()._simple_command(name, *args)  # type: ignore[misc]
        replies.arm()
        try:
            return super()._simple_command(name, *args)  # type: ignore[misc]
        finally:
            replies.disarm()


class _IMAP4(_Bounded, _Timed):  # type: ignore[misc]
    """imaplib's IMAP4 whose connection ``opening`` watches from the moment it exists."""

    def __init__(self, host: str, port: int, timeout: float, opening: Opening) -> None:
        self._opening = opening
        self._timeout = timeout
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = imaplib.IMAP4._create_socket(self, timeout)  # type: ignore[attr-defined]
        self._opening.watch(sock)
        return sock


class _IMAP4_SSL(_Bounded, _Timed, imaplib.IMAP4_SSL):  # type: ignore[misc]
    """:class:`_IMAP4` for implicit TLS: watched before the handshake, which a server may drag
    out as well."""

    def __init__(
        self, host: str, port: int, timeout: float, opening: Opening, context: ssl.SSLContext
    ) -> None:
        self._opening = opening
        self._timeout = timeout
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = imaplib.IMAP4._create_socket(self, timeout)  # type: ignore[attr-defined]
        self._opening.watch(sock)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def connect(
    hosts: tuple[str, ...],
    port: int,
    security: str,
    user: str,
    password: str | Bearer,
    timeout: float = 60.0,
    failed: list[tuple[str, str]] | None = None,
) -> tuple[imaplib.IMAP4, str]:
    """Log in on the first host that answers; ``(connection, host)``. A :class:`Bearer` logs in
    with ``AUTHENTICATE XOAUTH2`` (a refusal is :class:`~warmup.oauth.LoginExpired`, once a
    cached token refused has been replaced by a fresh one: see :func:`_authenticate`).

    A host that cannot be reached, fails TLS, or cuts, stalls, garbles or floods (more than
    MAX_ANSWER of answer lines: :class:`Flooded`) the session before the login is answered
    is the network's fault, not the password's: it goes to ``failed`` and the next host is
    tried (:class:`Unavailable`, exit 69, when none is left). So is one
    that greets with BYE or PREAUTH (logged in already, as whom it does not say), offers no
    STARTTLS on a STARTTLS endpoint, answers the login BAD (not an answer about the account),
    or offers no XOAUTH2 to an OAuth login (nothing is asked of the account: exit 78 when no
    host is left, a configuration no new login would fix). The opening (connection, TLS,
    greeting, STARTTLS) is given ``timeout`` in all, not each read (:class:`Opening`). A NO
    to the login is a refused login (:class:`LoginFailed`, exit 77), and then no other host
    is tried: it would only lock the account faster. Every host tried is named, with why it
    was passed over, in one line.
    """
    failed = failed if failed is not None else []
    if isinstance(password, str):
        credentials.sendable(password, f"the password for {user}")
    for host in hosts:
        imap = _open(host, port, security, timeout, failed)
        if imap is None:
            continue
        if not isinstance(password, str) and "AUTH=XOAUTH2" not in imap.capabilities:
            drop(imap)
            failed.append((host, f"offers no OAuth login ({_NO_XOAUTH2})"))
            continue
        if isinstance(password, str) and "LOGINDISABLED" in imap.capabilities:
            drop(imap)  # RFC 3501 6.2.3: the password is not sent on this connection
            failed.append((host, _LOGIN_DISABLED))
            continue
        try:
            if isinstance(password, str):
                imap.login(user, password)
            else:
                try:
                    _authenticate(imap, password)
                except _Gone:  # refused a cached token, then hung up: the fresh one, here
                    drop(imap)
                    imap = _again(host, port, security, timeout, failed, user, password)
        except TimeoutError:
            drop(imap)
            failed.append((host, f"no answer to LOGIN within {timeout:g} s"))
            continue
        except Flooded as exc:  # no answer about the account came: as a cut, another host
            drop(imap)
            failed.append((host, exc.why))
            continue
        except _BadChallenge as exc:
            drop(imap)
            failed.append((host, f"login failed: {exc}"))
            continue
        except (OSError, imaplib.IMAP4.abort) as exc:  # abort: the connection is gone
            drop(imap)
            why = scrubbed(reason(exc), password)
            failed.append((host, f"connection lost during LOGIN ({why})"))
            continue
        except imaplib.IMAP4.error as exc:
            drop(imap)
            text = scrubbed(reason(exc), password)  # a server may quote it back
            if " command error: BAD" in text:  # not an answer about the account
                failed.append((host, f"LOGIN refused as a bad command ({text})"))
                continue
            _refused(host, port, user, password, text, failed)
        return imap, host
    tried = _tried(failed, port)
    if any(why.startswith("offers no OAuth login") for _, why in failed):
        raise ConfigError(
            f"the IMAP server offers no OAuth login ({tried}); check the mailbox's IMAP host, "
            f"or log in with a password instead ('warmup mailbox login {shlex.quote(user)}')"
        )
    if any(why == _LOGIN_DISABLED for _, why in failed):
        raise ConfigError(
            f"the IMAP server takes no login on this connection ({tried}); connect with TLS: "
            f"'warmup mailbox set {shlex.quote(user)} --imap-security ssl' (or starttls)"
        )
    if failed and all(why.startswith(_FLOODED) for _, why in failed):
        raise Unavailable(every_host_flooded(failed, port, "try again later"))
    # Every host greeted with BYE (RFC 3501 7.1.5: not willing to accept a connection): it was
    # reached, and refused; "cannot reach" sent the user to look at the network.
    refused = bool(failed) and all(why.startswith(_BYE) for _, why in failed)
    raise Unavailable(
        f"{'the IMAP server refused the connection' if refused else 'cannot reach the IMAP server'}"
        f" ({tried}); try again later, or check the mailbox's IMAP host and port"
    )


def every_host_flooded(failed: list[tuple[str, str]], port: int, then: str) -> str:
    """The error when every host flooded (:class:`Flooded`): reached, so not "cannot reach",
    which sends the user to the network; ``then``: what to do, before asking the admin."""
    return (
        f"the IMAP server flooded the connection ({_tried(failed, port)}); {then}, or ask the "
        f"server's administrator"
    )


_BYE = "greeted with BYE"
_NO_XOAUTH2 = "AUTH=XOAUTH2 is not among its capabilities"
_LOGIN_DISABLED = "login disabled without TLS (LOGINDISABLED): the password was not sent"


def _tried(failed: list[tuple[str, str]], port: int) -> str:
    return "; ".join(f"{h}:{port}: {w}" for h, w in failed)


def _open(
    host: str, port: int, security: str, timeout: float, failed: list[tuple[str, str]]
) -> imaplib.IMAP4 | None:
    """A connection to ``host``, greeted (and through STARTTLS), not logged in; None, with why
    in ``failed``, if it cannot be had within ``timeout`` in all."""
    opening = Opening(timeout)
    try:
        if security == "ssl":
            imap: imaplib.IMAP4 = _IMAP4_SSL(
                host, port, timeout, opening, ssl.create_default_context()
            )
        else:
            imap = _IMAP4(host, port, timeout, opening)
        try:
            if security == "starttls":
                if "STARTTLS" not in imap.capabilities:
                    raise imaplib.IMAP4.error("the server does not offer STARTTLS")
                imap.starttls(ssl_context=ssl.create_default_context())
            if imap.state != "NONAUTH":  # PREAUTH: logged in already, as the server chose
                raise imaplib.IMAP4.error(
                    "greeted as logged in already (PREAUTH), as an account it does not name"
                )
            if opening.end():  # cut just as it ended: the connection is shut down
                raise TimeoutError
        except BaseException:
            drop(imap)
            raise
        return imap
    except (OSError, imaplib.IMAP4.error) as exc:
        why = _said(exc)
        if opening.end():  # cut off: each read came in time, the whole did not
            why = f"timed out (no complete answer within {timeout:g} s)"
        failed.append((host, why))
    except UnicodeError:  # imaplib reads the greeting's CAPABILITY as ASCII
        failed.append((host, "its answer before LOGIN is not ASCII"))
    except Flooded as exc:  # its greeting, CAPABILITY or STARTTLS without end
        failed.append((host, exc.why))
    finally:
        opening.end()
    return None


def _said(exc: BaseException) -> str:
    """Why an opening failed, in one printable line (imaplib's error for a BYE greeting is the
    greeting itself, as bytes)."""
    if isinstance(exc, OSError):
        return describe(exc)
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith("* BYE"):
        text = f"{_BYE} ({text[5:].strip() or 'no reason given'})"
    text = _BYTES.sub(lambda m: m.group(2), text)  # "unexpected response: b'HTTP/1.1 400'"
    return printable(" ".join(text.split())[:200]) or type(exc).__name__


def lost(exc: BaseException) -> str:
    """Why a connection was lost, in one printable line without Python's bytes: imaplib's
    "command: UID => unexpected response: b''" is "UID: unexpected response: ''"."""
    if isinstance(exc, OSError):
        return describe(exc)
    command, _, why = str(exc).partition(" => ")
    text = _BYTES.sub(lambda m: repr(m.group(2)) if not m.group(2) else m.group(2), why or command)
    text = printable(" ".join(text.split())[:200]) or type(exc).__name__
    return f"{command.removeprefix('command: ')}: {text}" if why else text


def _refused(
    host: str,
    port: int,
    user: str,
    password: str | Bearer,
    text: str,
    failed: list[tuple[str, str]],
) -> NoReturn:
    """A NO to the login: the account's answer (no other host is tried)."""
    passed = f" (passed over: {_tried(failed, port)})" if failed else ""
    text = scrubbed(text, password)  # a server quoting the secret back: never in a message
    if not isinstance(password, str):
        from warmup.oauth import LoginExpired

        raise LoginExpired(user, f"was refused by {host} ({text}){passed}") from None
    raise LoginFailed(f"{host} refused the IMAP login for {user}: {text}{passed}") from None


def _again(
    host: str,
    port: int,
    security: str,
    timeout: float,
    failed: list[tuple[str, str]],
    user: str,
    bearer: Bearer,
) -> imaplib.IMAP4:
    """The login on ``host`` again, on a new connection, with a fresh token: the server refused
    the cached one, then hung up. The account was asked: no other host is tried."""
    imap = _open(host, port, security, timeout, failed)
    if imap is None:
        raise Unavailable(
            f"{host} refused the cached OAuth token of {user} and hung up, and could not be "
            f"reached again ({_tried(failed, port)}); try again later"
        )
    try:
        _xoauth2(imap, bearer)
    except (OSError, imaplib.IMAP4.abort, Flooded) as exc:
        drop(imap)
        # The server's broken line may quote the fresh token back (imaplib's "unexpected
        # response: b'...'"): said as any lost connection is, the token masked.
        why = exc.why if isinstance(exc, Flooded) else scrubbed(lost(exc), bearer)
        raise Unavailable(
            f"{host} refused the cached OAuth token of {user}, then the connection was lost "
            f"({why}); try again later"
        ) from None
    except imaplib.IMAP4.error as exc:
        drop(imap)
        _refused(host, port, user, bearer, reason(exc), failed)
    return imap


class _BadChallenge(imaplib.IMAP4.abort):
    """A ``+`` continuation to AUTHENTICATE that is no base64, which imaplib decodes unchecked
    (``binascii.Error`` escaped as a traceback, exit 1): the server's broken answer, before
    the token was sent. The connection waits for a response that never comes: dropped."""


def _xoauth2(imap: imaplib.IMAP4, bearer: Bearer) -> None:
    """``AUTHENTICATE XOAUTH2`` with ``bearer``'s response; :class:`_BadChallenge` for a
    challenge that is no base64."""
    try:
        imap.authenticate("XOAUTH2", bearer.imap_response())
    except binascii.Error:
        raise _BadChallenge("the server's AUTHENTICATE challenge is not base64") from None


class _Gone(Exception):
    """The server refused a cached token, then hung up before the fresh one could be sent."""


def _authenticate(imap: imaplib.IMAP4, bearer: Bearer) -> None:
    """``AUTHENTICATE XOAUTH2``; a refused token that came from memory is replaced once by a
    fresh one, on the same connection (IMAP allows another AUTHENTICATE after a NO): a provider
    may end an access token before its ``expires_in``, and a clock set back keeps one past it.
    A refused fresh token raises as it came: the login's fault. A server that hangs up after
    refusing the cached one is :class:`_Gone` (the account was asked: not another host)."""
    try:
        _xoauth2(imap, bearer)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        if " command error: BAD" in str(exc) or not bearer.refused():
            raise
        try:
            _xoauth2(imap, bearer)
        except (OSError, imaplib.IMAP4.abort, Flooded):
            raise _Gone from None


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return describe(exc)
    # imaplib's "command: LOGIN => socket error: EOF": the command is said already; and its
    # "AUTHENTICATE command error: BAD [b'...']": the server's words, not Python's list of bytes.
    text = str(exc).rpartition("=> ")[2].strip("b'\"")
    return _BYTES_LIST.sub(lambda m: m.group(2), text)


_BYTES_LIST = re.compile(r"""\[b(['"])(.*?)\1\]""")
_BYTES = re.compile(r"""\bb(['"])(.*?)\1""")


def drop(imap: imaplib.IMAP4) -> None:
    """Close without LOGOUT: after a cut or a stall, LOGOUT would only wait for the timeout."""
    try:
        imap.shutdown()
    except OSError:
        pass


def logout(imap: imaplib.IMAP4) -> None:
    """LOGOUT, and the connection closed; whatever the server answers, or not, is let be: a
    flood (:class:`Flooded`) or a literal past the bound too (each drops the connection). A
    sync that had recorded its bounces was exit 69, "sent more than 16 MiB of answer lines to
    LOGOUT", as if it had failed (and an error it was ending with was lost for that one)."""
    try:
        imap.logout()
    except (OSError, imaplib.IMAP4.error, Unavailable):
        drop(imap)


def searched(data: list[Any]) -> bytes:
    """The words of every ``* SEARCH`` line of an answer: a server may split a long answer
    over several (imaplib gives one item a line)."""
    return b" ".join(x for x in data if isinstance(x, bytes))


def server_text(data: object) -> str:
    """The server's words from an imaplib response (one line, bounded, printable: they end up
    on the user's terminal, where an escape sequence would set its title or clear it)."""
    items = data if isinstance(data, list) else [data]
    words = b" ".join(x for x in items if isinstance(x, bytes)).decode("utf-8", "replace")
    return printable(" ".join(words.split())[:200]) or "no reason given"
