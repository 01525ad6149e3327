"""Reasons read from documented status meanings and wordings (issue #14, third round).

X.6 is RFC 3463's "message content or media status" (section 3.8: media not supported,
conversions), to which RFC 6531 adds X.6.7-X.6.9 (a non-ASCII address or a UTF-8 header the
path cannot carry): the message's form, neither the address nor the sender's standing.
"""

from __future__ import annotations

import pytest

from warmup.bounces.classify import decide

S = "soft"


@pytest.mark.parametrize(
    ("status", "reply", "diagnostic"),
    [
        ("4.6.0", "", ""),  # temporary: retried, never a block
        ("5.6.0", "554", "554 5.6.0 Other or undefined media error"),
        ("5.6.1", "554", "554 5.6.1 Media not supported"),
        ("5.6.3", "554", "554 5.6.3 Conversion required but not supported"),
        # RFC 6531: the path cannot carry a non-ASCII address or a UTF-8 header
        ("5.6.7", "553", "553 5.6.7 Non-ASCII addresses not permitted for that recipient"),
        ("5.6.9", "550", "550 5.6.9 UTF-8 header message cannot be transferred"),
        # Exchange Online's own detail of X.6
        ("5.6.11", "554", "554 5.6.11 SMTPSEND.BareLinefeedsAreIllegal"),
    ],
)
def test_an_x6_status_is_the_messages_form_not_a_block(
    status: str, reply: str, diagnostic: str
) -> None:
    """X.6 is the message's media or form (RFC 3463 section 3.8; RFC 6531's non-ASCII
    addresses and headers): no judgement of the sender's standing (a block) nor of the
    address (hard). A 4.6.x was a block although a 4xx is retried."""
    verdict = decide(status, reply, diagnostic)
    assert (verdict.reason, verdict.kind) == ("contenterror", S), verdict.steps


@pytest.mark.parametrize(
    ("diagnostic", "reason", "kind"),
    [
        ("551 User not local", "norelaying", "block"),
        ("551 5.7.1 User not local", "norelaying", "block"),
        ("550 User not local", "norelaying", "block"),
        # RFC 5321's 551 with its forward-path: the user moved, still hard
        ("551 User not local; please try <ruth@new.example>", "hasmoved", "hard"),
        ("551 5.1.6 User not local; please try <ruth@new.example>", "hasmoved", "hard"),
    ],
)
def test_user_not_local_without_a_forward_path_is_no_moved_user(
    diagnostic: str, reason: str, kind: str
) -> None:
    """RFC 5321 (3.4, 4.2.2): 551 "User not local; please try <forward-path>" names where the
    user went; a bare "User not local" says only that this server does not serve the user and
    will not forward (a relay refused, an MX that does not host the domain): nothing about the
    address at its own host, so it is not suppressed."""
    verdict = decide("", "", diagnostic, stage="RCPT")
    assert (verdict.reason, verdict.kind) == (reason, kind), verdict.steps
