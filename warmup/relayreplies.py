"""What the loopback relay (:class:`warmup.relay.Relay`) answers its client, as SMTP reply lines.

    reply_line(451, "4.7.1 paced")               # one reply line: ASCII, an enhanced code
    answer(report, message_id)                   # the end-of-DATA Delivery for a gated send
    duplicate_reply(exc)                         # for a Message-ID the ledger already holds

The words in them that others read back are named here: :data:`ALREADY_SENT` (counted apart
by :class:`warmup.relaytally.Tally`), :data:`SENDER_REFUSED`, and the recipients of a retry
"refused before" or "reached before" (read by the sendmail shim, :mod:`warmup.cli.sendmail`).
:data:`MAX_HOLD` bounds how long the relay may hold an end-of-DATA reply for a paced slot.
Nothing here reads the ledger or talks to a server: an outcome in, a reply out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warmup.gate import DuplicateSend

MAX_HOLD = 600.0  # seconds: RFC 5321 §4.5.3.2.6, the client's wait for the end-of-DATA reply
NOTHING_SENT = "nothing sent (all or nothing)"
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}\b")


def reply_line(code: int, text: str) -> str:
    """One SMTP reply line: ASCII, no line breaks, with an enhanced status code. What is not
    ASCII is escaped (``\\u7528``), not made '?': a refusal of '??@example.com' named none
    of a script's addresses."""
    text = " ".join(str(text).split()).encode("ascii", "backslashreplace").decode()[:400]
    if not _ENHANCED.match(text):
        text = f"{code // 100}.0.0 {text}".rstrip()
    return f"{code} {text}"


@dataclass
class Delivery:
    """One end-of-DATA answer: the reply, and what the relay counts of it
    (:class:`warmup.relaytally.Tally`)."""

    reply: str
    rejected: int = 0
    error: str | None = None
    sent: tuple[str, ...] = ()  # the recipients it reached
    deferred: tuple[str, ...] = ()  # those a 4xx upstream kept from it while others got it


def shim_refusal(left_out: list[str]) -> str:
    """The end-of-DATA reply to the sendmail shim past recipients refused as suppressed, for
    a message that is no retry reaching the rest: all or nothing, as in direct mode."""
    return reply_line(
        550,
        f"5.1.1 {', '.join(f'<{r}>' for r in left_out[:3])} suppressed: {NOTHING_SENT}",
    )


ALREADY_SENT = "was already sent"  # in the 250 to a resent Message-ID (Tally tells it apart)
# The 554's words when the server refused the mailbox as sender for good (the sendmail shim,
# warmup.cli.sendmail._SENDER_REFUSED, exits 69 for it, as direct mode does).
SENDER_REFUSED = "5.7.1 upstream refused the sender"
_BEFORE = "refused before, not sent again"  # a retry's recipient, in its 250 (the shim reads it)
# A retry's recipient refused at RCPT TO as suppressed that the message reached before (in its
# 250: the shim reads it, and does not count that 550 as a refusal).
_REACHED = "reached before, not sent again"


def duplicate_reply(exc: DuplicateSend) -> str:
    """A client resending a Message-ID the ledger already holds for a recipient.

    Already sent: 250, the client's job is done (refusing it would make the client report a
    failure for a delivered message). Still in flight: 451, later. Fate unknown or refused
    before: 550, never sent twice (DESIGN invariant 9) — a person decides. Already sent to
    some recipients but naming others it never reached: 550 as well (a 250 would tell the
    client those got it), naming them.
    """
    if exc.outcome == "sent" and exc.unsent:
        return reply_line(
            550,
            f"5.7.1 {exc.message_id} was already sent to {exc.recipient}, so it is not sent "
            f"again, not even to {', '.join(exc.unsent[:3])}"
            f"{' and others' if len(exc.unsent) > 3 else ''}: send those a message with a "
            f"new Message-ID",
        )
    if exc.outcome == "sent":
        return reply_line(
            250, f"2.0.0 OK {exc.message_id} {ALREADY_SENT} to {exc.recipient}; not sent again"
        )
    if exc.outcome == "reserved":
        return reply_line(451, f"4.7.1 {exc}")
    return reply_line(550, f"5.7.1 {exc}")


def answer(
    outcome: Any,
    message_id: str,
    already: list[str] | None = None,
    gone: list[str] | None = None,
    told: list[str] | None = None,
) -> Delivery:
    """The end-of-DATA reply for an upstream outcome; ``already``: recipients of a retry the
    message reached before (not sent again, counted in a 250); ``gone``: those the server
    refused for good before (not sent again, each named in a 250: the client must know);
    ``told``: those of ``already`` refused at RCPT TO as suppressed, named in the 250 (the sendmail
    shim must not take that 550 for a recipient who never got the message)."""
    from warmup.smtp import refused_sender, size_refused

    results = list(outcome.results.values())
    rejected = [r for r in results if r.outcome in ("hard", "soft", "block")]
    # Released at RCPT TO, refused for good: its server refuses the message's size.
    big = [r for r in results if size_refused(r)]
    sent = outcome.sent
    if sent:
        # A recipient throttled at RCPT while the data went on to the others (CHUNKING): not
        # sent, its slot given back; named like a refused one, so the client knows.
        # So is one past the server's limit of recipients per message (452, or 552 5.5.3),
        # and one whose server refuses the message's size (552 5.3.4: not deferred).
        rejected += [r for r in results if r.outcome == "released" and r.code]
        # the temporary ones first: a reply is cut at 400 characters, and a client (the
        # sendmail shim) that sees one 4xx may retry, 75, where only 5xx is final, 65
        rejected.sort(key=lambda r: not (r.code and 400 <= r.code < 500))
        note = "".join(f"; rejected upstream: {r.recipient} ({r.code})" for r in rejected)
        note += "".join(f"; {_BEFORE}: {r}" for r in gone or ())
        note += "".join(f"; {_REACHED}: {r}" for r in told or ())
        return Delivery(
            reply_line(
                250,
                f"2.0.0 OK {message_id} sent to {len(sent)} of {len(results)}"
                f"{f' ({len(already)} more reached before: not sent again)' if already else ''}"
                f"{note}",
            ),
            len(rejected),
            sent=tuple(sent),
            deferred=tuple(
                r.recipient
                for r in rejected
                if (r.outcome == "released" and r not in big) or (r.code and 400 <= r.code < 500)
            ),
        )
    if outcome.throttle:
        code, text = outcome.throttle
        return Delivery(
            reply_line(451, f"4.7.1 the provider throttled the mailbox: {code} {text}"),
            len(rejected),
            f"throttled: {code} {text}",
        )
    if any(r.outcome == "unknown" for r in results):
        # Permanent: a client retries a 4xx, and a retry (on another day: a Message-ID the relay
        # derives is new then) would go out again (DESIGN invariant 9: a person decides).
        return Delivery(
            "554 5.4.2 upstream connection lost during DATA: the message may have been "
            "delivered; a person decides whether to send it again",
            len(rejected),
            outcome.error,
        )
    sender = refused_sender(outcome)
    if sender is not None:
        # For good: a 451 had the script retry every message for ever, each retry another
        # refusal from the provider. 554, as to a connection refused with a 5xx (the shim: 69).
        return Delivery(
            reply_line(554, f"{SENDER_REFUSED}: {sender[0]} {ascii_text(sender[1])}"),
            len(rejected),
            outcome.error,
        )
    # Given back by a 5xx that blamed others (the end of DATA's "550 5.1.1 <b@...>: User
    # unknown", warmup.smtpreplies._blamed): nothing says their address is bad, and a retry reaches
    # them ('send' exits 75 for it). The server's 5xx had the client give them up with the rest.
    spared = [
        r.recipient
        for r in results
        if r.outcome == "released" and (r.code or 0) >= 500 and r not in big
    ]
    blamed = [r for r in results if r.outcome in ("hard", "block")]
    if big and not any(r.code and 400 <= r.code < 500 for r in results):
        # For good, as the size refused at MAIL FROM or the end of DATA (a retry is refused
        # again); a recipient refused for good besides it stays refused (suppressed if hard).
        return Delivery(
            reply_line(
                552,
                f"5.3.4 upstream: the server of {', '.join(r.recipient for r in big)} refuses "
                f"the message's size ({big[0].code} {ascii_text(big[0].text)}): make it smaller",
            ),
            len(rejected) + len(big),
        )
    if spared and blamed:
        return Delivery(
            reply_line(
                451,
                f"4.3.0 not sent: upstream refused {', '.join(r.recipient for r in blamed)} "
                f"for good ({blamed[0].code} {ascii_text(blamed[0].text)}); nothing says the "
                f"others are bad: send it again ({', '.join(spared)})",
            ),
            len(rejected),
        )
    # A soft refusal first: the client's retry may succeed (the hard ones are now suppressed).
    coded = sorted((r for r in results if r.code), key=lambda r: r.code // 100)
    if coded:
        return Delivery(reply_line(coded[0].code, coded[0].text), len(rejected))
    return Delivery(
        reply_line(451, f"4.4.2 upstream: {outcome.error or 'not sent'}"),
        len(rejected),
        outcome.error,
    )


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def ascii_text(text: str) -> str:
    return " ".join(str(text).split()).encode("ascii", "replace").decode()[:200]
