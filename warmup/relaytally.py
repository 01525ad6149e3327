"""The relay's tally: what it answered its client, counted for the summary printed when the
command exits (``warmup: 3 sent, 0 deferred (4xx), ...``).

    tally = Tally(max_hold=relay.max_hold)
    tally.count(reply, "RCPT TO")       # every reply the relay gives, at whichever command
    print(tally.summary())

:class:`warmup.relay.Relay` counts its replies and :mod:`warmup.relayserver` the connections it
turned away or that left early; nothing here answers a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from warmup.relayreplies import ALREADY_SENT, MAX_HOLD
from warmup.words import plural


@dataclass
class Tally:
    """What the relay answered, for the summary printed when the command exits: the messages
    it sent (2xx at the end of DATA), and every temporary (4xx) or permanent (5xx) refusal it
    answered, at whichever command (MAIL FROM, RCPT TO, DATA) it answered it."""

    sent: int = 0
    already: int = 0  # 250 to a Message-ID already sent to its recipients: not sent again
    deferred: int = 0  # 4xx replies, at any command
    refused: int = 0  # 5xx replies, at any command
    early: dict[str, int] = field(default_factory=dict)  # refusals before DATA, by command
    rejected_upstream: int = 0
    suppressed: int = 0  # of the refusals at RCPT TO
    errors: list[str] = field(default_factory=list)
    turned_away: int = 0  # connections answered 421 for being over ``crowd`` at once
    crowd: int = 0
    # Connections to the implicit TLS port closed at once: ``crowd`` were in their handshake.
    turned_away_handshaking: int = 0
    # Messages whose connection closed (or was reset) after a recipient was accepted and
    # before the end of DATA: nothing of them was reserved or sent, but the command meant them.
    abandoned: int = 0
    # Messages whose reply the relay held for the next paced slot and whose client closed the
    # connection first (its timeout shorter than the wait): nothing reserved or sent either.
    gave_up_held: int = 0
    max_hold: float = MAX_HOLD  # the relay's longest hold, named to those clients
    # Recipients a 4xx upstream kept from a message that reached others (the client got a 250
    # naming them), until a retry reaches them: named in the summary, so none is lost unseen.
    unreached: dict[str, None] = field(default_factory=dict)

    def reached(self, sent: Sequence[str], deferred: Sequence[str]) -> None:
        for rcpt in sent:
            self.unreached.pop(rcpt, None)
        self.unreached.update(dict.fromkeys(deferred))

    def count(self, reply: str, command: str = "DATA") -> None:
        """Count the relay's ``reply`` to ``command`` (``MAIL FROM``, ``RCPT TO``, ``DATA``)."""
        if reply.startswith("2"):
            if command == "DATA" and ALREADY_SENT in reply:
                self.already += 1
            elif command == "DATA":
                self.sent += 1
            return
        if reply.startswith("4"):
            self.deferred += 1
        else:
            self.refused += 1
        if command != "DATA":
            self.early[command] = self.early.get(command, 0) + 1

    def note(self, error: str) -> None:
        self.errors += [error] if error not in self.errors else []

    def summary(self) -> str:
        """``warmup: 0 sent, 0 deferred (4xx), 3 refused (5xx), 0 recipients rejected upstream;
        3 refusals at MAIL FROM``: where the refusals were not answered to a message, says
        where."""
        again = f", {self.already} already sent before (not again)" if self.already else ""
        line = (
            f"warmup: {self.sent} sent{again}, {self.deferred} deferred (4xx), {self.refused} "
            f"refused (5xx), {plural(self.rejected_upstream, 'recipient')} rejected upstream"
        )
        line = self.with_refusals(line)
        if self.unreached:
            names = list(self.unreached)
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            line += (
                f"\nwarmup: not reached (deferred upstream, 4xx, while others got the message): "
                f"{', '.join(names[:5])}{more}; send it to them again"
            )
        return line

    def with_refusals(self, line: str) -> str:
        """``line``, then where the refusals were answered, then the errors noted."""
        early = [
            f"{plural(n, 'refusal')} at {command}"
            + (
                f" ({self.suppressed} suppressed)"
                if command == "RCPT TO" and self.suppressed
                else ""
            )
            for command, n in sorted(self.early.items(), key=lambda kv: kv[0] != "MAIL FROM")
        ]
        if early:
            line += "; " + ", ".join(early)
        errors = list(self.errors)
        if self.turned_away:  # their 421 came before any message: counted nowhere above
            errors.append(
                f"{plural(self.turned_away, 'connection')} turned away with 421: the command "
                f"opened more than {self.crowd} at once; send over fewer connections"
            )
        if self.turned_away_handshaking:
            errors.append(
                f"{plural(self.turned_away_handshaking, 'connection')} to WARMUP_SMTPS_PORT "
                f"closed at once: {self.crowd} others were in their TLS handshake; send over "
                f"fewer connections"
            )
        if self.abandoned:
            errors.append(
                f"{plural(self.abandoned, 'message')} abandoned: the command closed the "
                f"connection before the end of DATA; not sent, no quota used"
            )
        if self.gave_up_held:
            errors.append(
                f"{plural(self.gave_up_held, 'message')} not sent: the command closed the "
                f"connection while the relay held its reply for the next paced slot (no quota "
                f"used); give its SMTP client a timeout longer than the pacing gap (the relay "
                f"holds a reply up to {self.max_hold:g} s), or answer 451 at once (--refuse)"
            )
        return "\n".join([line, *(f"warmup: {e}" for e in errors)])
