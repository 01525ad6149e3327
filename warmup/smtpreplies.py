"""What an SMTP server's replies mean for a message, each of its recipients and the mailbox.

Each recipient ends as ``sent`` (2xx), ``hard``/``soft``/``block`` (classified from the reply by
:mod:`warmup.bounces`), ``unknown`` (the connection broke after the message data began: it may
have been delivered) or ``released`` (nothing left: the slot does not count).
Provider throttling replies set :attr:`Outcome.throttle`; the message is not retried.

The results (:class:`RcptResult`, :class:`Outcome`), the errors a conversation ends in
(:class:`AuthFailed`, :class:`LoginWanted`, :class:`AuthDeferred`, :class:`AuthUnoffered`,
:class:`TooBig`) and the
readings of one reply — a throttle, a refused sender, a size refused, a limit of recipients, a
hard refusal that blames one address — for :mod:`warmup.smtp`'s dialogue and
:mod:`warmup.smtpconnect`'s login; no socket here. ``warmup.smtp`` gives every public name.
"""

from __future__ import annotations

import re
import shlex
import smtplib
from dataclasses import dataclass
from typing import Any

from warmup.errors import DataError, PermissionFailure, TempFail, Unavailable
from warmup.neterr import describe
from warmup.words import some, undeclared_text


@dataclass(frozen=True)
class RcptResult:
    recipient: str
    outcome: str  # sent | hard | soft | block | unknown | released
    code: int | None = None
    text: str = ""


@dataclass
class Outcome:
    results: dict[str, RcptResult]
    throttle: tuple[int, str] | None = None
    error: str | None = None  # why the message as a whole did not go
    # The command whose reply the connection was lost (or timed out) waiting for, before the
    # data left: "MAIL FROM", "RCPT TO" or "DATA" (None: not lost, or lost in the data)
    lost_at: str | None = None
    # The conversation ended on an answer that was no SMTP reply (:class:`BadReply`): the
    # server is broken, not busy (exit 69 before the data too, the member set aside).
    garbled: bool = False

    @property
    def sent(self) -> list[str]:
        return [r for r, v in self.results.items() if v.outcome == "sent"]


class AuthFailed(PermissionFailure):
    """The server refused the credentials (exit 77)."""


class LoginWanted(AuthFailed):
    """The server answered MAIL or RCPT '530 Authentication required' (RFC 4954): this session
    has no login the server takes for sending. The mailbox's fault, not a recipient's: nobody
    bounced for it (exit 77). Read as each recipient's block bounce, it was counted in the
    mailbox's bounce rate, which paused the mailbox for a login to fix.

    ``results``: every recipient's outcome (empty: all ``released``). A recipient refused for
    good before the 530 (550 5.1.1 user unknown) keeps its ``hard``: what the server said about
    that address stands, login or not. A refusal of another kind (a 5.7.x policy, a 4xx) may be
    the missing login speaking: released, for the retry after the login is fixed to tell.
    Nothing is sent where the data waits for DATA's 354; with CHUNKING it went with the
    envelope, and the recipients the server took are ``sent``."""

    def __init__(self, message: str, results: dict[str, RcptResult] | None = None) -> None:
        super().__init__(message)
        self.results = dict(results or {})


class AuthDeferred(TempFail):
    """The server answered the login with a temporary failure, e.g. 454 4.7.0 (exit 75)."""


class AuthUnoffered(Unavailable):
    """The server advertised AUTH mechanisms, then answered each one a password logs in with
    (of those advertised, smtplib's CRAM-MD5, PLAIN, LOGIN) 504, "mechanism not supported":
    its set-up is at fault, not the password, which no mechanism checked (exit 69, no password
    checklist). Taken for a refused login, it was exit 77 with the checklist, sending the user
    after a password that was never checked. Like a sender refused for good, no wait fixes it:
    ``run --once`` exits 69 when no member of a message could send it for such a fault."""


class TooBig(DataError):
    """The message is larger than the server takes (exit 65): over its SIZE (RFC 1870), refused
    before MAIL FROM; its size refused at MAIL FROM, or at the end of DATA (552 5.3.4), after
    which nothing was delivered either. The message's fault, not its recipients': no bounce.
    Read as each recipient's soft bounce, a too-big message raised the mailbox's bounce rate
    by its recipient count.

    ``results``: each recipient's outcome when the envelope was answered (a refusal at RCPT TO
    stands: a 550 5.1.1 is that address's hard bounce); empty: every one ``released``."""

    def __init__(self, message: str, results: dict[str, RcptResult] | None = None) -> None:
        super().__init__(message)
        self.results = dict(results or {})


class BadReply(smtplib.SMTPException):
    """An answer that is no SMTP reply (RFC 5321 4.2): a line without a three-digit code from
    2xx to 5xx, a multi-line reply whose lines carry different codes, or an intermediate 3xx
    where a command's final reply is due (anything but DATA's 354 or AUTH's 334). The server
    and this client no longer agree on what answers what, so the connection is dropped: before
    the data nothing was sent (released), after it the message may have been taken
    (``unknown``). Read by smtplib as a reply (code -1 and the line's fifth byte on, a 999, a
    354 to the end of DATA), it was each recipient's soft bounce, counted in the mailbox's
    bounce rate, and after the data a "try again later" that could deliver the message twice."""

    def __init__(self, raw: bytes, why: str = "the server answered with no SMTP reply") -> None:
        shown = reply_text(raw[:400])
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{why} ({shown!r})")


def reply_text(reply: bytes | str) -> str:
    """A server's reply text on one line, whatever its bytes' encoding."""
    # RFC 5321 says ASCII (UTF-8 with SMTPUTF8); Chinese servers also answer in GBK.
    text = undeclared_text(reply, latin1=False) if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def login_wanted(
    host: str | None,
    user: str,
    mail_from: str,
    verb: str,
    code: int,
    text: str,
    results: dict[str, RcptResult] | None = None,
    fix: str | None = None,
) -> None:
    """Raise :class:`LoginWanted` for a 530 to ``verb`` (MAIL or RCPT). ``user``: the name the
    session logged in as, '' when it logs in as no one. ``results``: each recipient's outcome
    as read so far (see :class:`LoginWanted` for what is kept). ``fix``: what to check
    (:attr:`Target.login_fix`); None: the mailbox's login."""
    if code != 530:
        return
    kept = {
        r: v
        if v.outcome in ("sent", "hard", "unknown")
        else RcptResult(r, "released", v.code, v.text)
        for r, v in (results or {}).items()
    }
    sent = [r for r, v in kept.items() if v.outcome == "sent"]
    hard = [r for r, v in kept.items() if v.outcome == "hard"]
    done = (
        f"the message went to {some(sent, 3)} with the envelope (CHUNKING), not to the others"
        if sent
        else "nothing was sent"
    )
    if hard:
        done += f" ({some(hard, 3)} refused for good, recorded)"
    if fix is None:
        fix = (
            f"check the mailbox's login with 'warmup doctor {shlex.quote(mail_from)}'"
            if user
            else "this connection logs in as no one: give it a user"
        )
    if sent:  # a new message to all would reach these twice
        fix += ", then send it again to the others alone"
    raise LoginWanted(
        f"{host or 'the server'} wants a login before {verb} ({code} {text}); {done}: {fix}",
        kept,
    )


def smtp_auth_off(reply: str) -> bool:
    """Whether a 535 says authenticated SMTP is turned off for the mailbox or its tenant
    (Exchange Online: "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is
    disabled for the Tenant"), not that the login is wrong."""
    return "smtpclientauthentication is disabled" in reply.lower()


# Said of a host that took the connection but never greeted, with STARTTLS or no TLS: the
# commonest cause is a port of implicit TLS (465), whose server waits for the client's TLS
# handshake as the client waits for its greeting, until the timeout.
MAIL_REFUSED = "MAIL FROM refused: "  # how an Outcome's error begins when MAIL FROM was


def throttles(code: int, text: str, stage: str | None = None) -> bool:
    """:func:`warmup.bounces.classify.is_throttle` of a reply; a 2xx, never one, answered
    without importing the classifier (its wording rules: most of the imports of a message
    that went)."""
    if 200 <= code < 300:
        return False
    from warmup.bounces.classify import is_throttle

    return is_throttle(code, text, stage)


def sender_refused(
    released: dict[str, RcptResult], code: int, text: str, throttled: bool, host: str | None
) -> Outcome:
    """MAIL FROM refused: nothing sent, every slot given back. A throttle pauses the mailbox; a
    5xx is the server refusing this sender for good (a disabled or blocked account, a sender
    it does not take): each recipient carries that reply, so that :func:`refused_sender` tells
    it from a refusal that may pass later. But for one refusing the SIZE declared with MAIL
    FROM (RFC 1870: a limit for this sender below its EHLO's SIZE): the message is too big,
    :class:`TooBig`, as over that SIZE (it was "ask the provider why: a disabled account?")."""
    from warmup.bounces.classify import refuses_size

    if not throttled and refuses_size(code, text):
        raise TooBig(
            f"{host or 'the server'} refuses the message's size at MAIL FROM ({code} {text}): "
            f"nothing was sent; make it smaller (a link instead of an attachment?)"
        )
    if 500 <= code < 600 and not throttled:
        released = {r: RcptResult(r, "released", code, text) for r in released}
    return Outcome(released, (code, text) if throttled else None, f"{MAIL_REFUSED}{code} {text}")


def too_big(
    results: dict[str, RcptResult],
    accepted: list[str],
    code: int,
    text: str,
    throttled: object,
    host: str | None,
    where: str,
) -> None:
    """:class:`TooBig` when the message's reply (``code`` ``text``, ``where`` it came) refuses
    its size for good (a 552 5.3.4, or Exim's bare "552 Message size exceeds maximum
    permitted"): no recipient got it, and none is to blame, so those ``accepted`` are released
    (the MAIL FROM refusal of its size, :func:`sender_refused`, the same); ``results``: the
    others' outcomes at RCPT TO, kept."""
    if throttled or 200 <= code < 300:  # (a message that went: no classifier imported)
        return
    from warmup.bounces.classify import refuses_size

    if not refuses_size(code, text):
        return
    kept = {**results, **{r: RcptResult(r, "released", code, text) for r in accepted}}
    hard = [r for r, v in kept.items() if v.outcome == "hard"]
    also = f" ({some(hard, 3)} refused for good at RCPT TO, recorded)" if hard else ""
    raise TooBig(
        f"{host or 'the server'} refuses the message's size {where} ({code} {text}): nothing "
        f"was delivered{also}; make it smaller (a link instead of an attachment?)",
        kept,
    )


def refused_sender(report: Any) -> tuple[int, str] | None:
    """The server's 5xx to MAIL FROM when it refused the sender for good (:class:`Outcome` or
    :class:`warmup.gate.SendReport`), else None. Nothing was sent, and a retry of any message
    gets the same answer: "try later" (exit 75, the relay's 451) had scripts retry it for
    ever, each retry another refusal from the provider."""
    error = getattr(report, "error", None) or ""
    results = list(getattr(report, "results", {}).values())
    if not error.startswith(MAIL_REFUSED) or report.throttle or not results:
        return None
    first = results[0]
    if first.code is None or not 500 <= first.code < 600:
        return None
    return first.code, first.text


def delivered(accepted: list[str], code: int, text: str, throttled: bool) -> dict[str, RcptResult]:
    """Each accepted recipient as the message's reply (to DATA, to the end of DATA, or BDAT
    LAST) says: sent on 2xx, released when it throttles or is a 421 (the server ends the
    session without the message, whatever its words: no recipient bounced), else the bounce it
    is — but for a hard one, which blames an address (:func:`_blamed`)."""
    if 200 <= code < 300:
        outcome = "sent"
    elif throttled or code == 421:
        outcome = "released"
    else:
        from warmup.bounces.classify import classify_smtp_reply

        outcome = classify_smtp_reply(code, text)
    if outcome == "hard" and len(accepted) > 1:
        return _blamed(accepted, code, text)
    return {r: RcptResult(r, outcome, code, text) for r in accepted}


# An address in a server's words: "<c2@example.com>: Recipient address rejected", "user
# c2@example.com unknown".
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\]\\,;:\"']+@[^\s<>()\[\]\\,;:\"']+")


def _blamed(accepted: list[str], code: int, text: str) -> dict[str, RcptResult]:
    """A hard refusal ("550 5.1.1 User unknown") answering a transaction of several recipients:
    one reply for all of them, which one address earned. Those it names are that hard bounce
    (suppressed); the others did not get the message, and nothing says their address is bad:
    released (no bounce, not suppressed; a retry of the message reaches them). Naming none of
    them it blames no one for ever: each is refused for good, for this message (block, counted,
    not suppressed). Each recipient had been suppressed before, the good with the bad."""
    named = {a.rstrip(".").lower() for a in _ADDRESS_IN_TEXT.findall(text)}
    if not any(r.lower() in named for r in accepted):
        return {r: RcptResult(r, "block", code, text) for r in accepted}
    return {
        r: RcptResult(r, "hard" if r.lower() in named else "released", code, text) for r in accepted
    }


# RFC 3463 X.5.3 "too many recipients"; RFC 5321 4.5.3.1.10: a server past its limit of
# recipients per message refuses the rest with 452 (an older one with 552, which a client is to
# read as temporary), and the client sends them in another transaction.
_TOO_MANY = re.compile(r"\b[45]\.5\.3\b|too many recipients", re.IGNORECASE)


def too_many_recipients(code: int, text: str) -> bool:
    """Whether a refusal at RCPT TO is the server's limit of recipients per message, no fault
    of the recipient's: not sent, and no bounce (a soft one counted in the mailbox's bounce rate
    for each recipient past the limit)."""
    return 400 <= code < 600 and _TOO_MANY.search(text) is not None


def size_refused(result: RcptResult) -> bool:
    """Whether ``result`` is its recipient's server refusing the message's size for good (RFC
    1870: "552 5.3.4" at RCPT TO, the SIZE declared with MAIL FROM over that mailbox's limit):
    released, no bounce, but the same message never reaches it, so it is not to be sent again."""
    if result.outcome != "released" or result.code is None:
        return False  # (a recipient that has it: no classifier imported)
    from warmup.bounces.classify import refuses_size

    return refuses_size(result.code, result.text or "")


def failure_text(exc: BaseException) -> str:
    """What went wrong in an SMTP conversation, said for an operator: the server's reply, a
    closed connection, or the network error."""
    if isinstance(exc, BadReply):
        return str(exc)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if "timed out" in str(exc):
            # smtplib says "Connection unexpectedly closed" of a reply that did not come in
            # time: the server kept the connection and said nothing (a slow content filter at
            # the end of DATA), which "server closed the connection" blamed on a drop
            return "the server did not answer in time (timed out)"
        return "server closed the connection"
    return describe(exc)
