"""Wordings of sisimai's reason lists that warmup read as another kind (issue #14, audit of the
word tables against sisimai's ``lib/Sisimai/Reason/*.pm`` ``match`` lists, BSD-2).

Every phrase of those lists was written out as an MTA would send it and given to
:func:`~warmup.bounces.classify.decide` at the RCPT stage under a generic 5.0.0 / 550, and in a
report that states neither stage nor status. The texts below are written here in the MTAs' own
forms (qmail and its badrcptto / validrcptto patches, vpopmail, Postfix's restrictions,
Sendmail, Exchange), not copied from any message; each failed (another kind or reason) before
its rule. Where warmup disagrees with the list on purpose, the README says why ("Reproduce the
parser's figures").
"""

from __future__ import annotations

import pytest

from warmup.bounces.classify import decide

H, S, B = "hard", "soft", "block"

# A recipient's address that does not exist, in words the rules did not know (UserUnknown.pm)
UNKNOWN = [
    "550 5.0.0 <kim@client.example>: Mailbox invalid",
    "553 5.0.0 <kim@client.example>: Address invalid",
    "550 5.0.0 <kim@client.example>: Address not present in directory",
    "550 5.0.0 <kim@client.example>: Mailbox not present",
    "550 5.0.0 <kim@client.example>: Destination addresses were unknown",
    "550 5.0.0 <kim@client.example>: Recipient address rejected: invalid-recipient",
    "550 5.0.0 <kim@client.example>: Recipient address rejected: userunknown",
    "550 5.0.0 RESOLVER.ADR.Recipient NotFound",
    "550 5.0.0 <kim@client.example>: No mailbox by that name is currently available",
    "550 5.0.0 <kim@client.example>: There is no one at this address",
    "550 5.0.0 vdeliver: Invalid or unknown virtual user",  # vpopmail
    "550 5.0.0 <kim@client.example>: Unknown e-mail address",
    "550 5.0.0 User (kim@client.example) unknown",
    "550 <kim@client.example> not found",
    "550 kim@client.example is not an active address at this host",
    "550 Nessun utente simile in questo indirizzo",
    "550 No existe dicha persona",
    "550 No existe ese usuario",
    "550 5.0.0 Can't accept user kim@client.example",
    "550 5.0.0 <kim@client.example>: Recipient not OK",
    "550 5.0.0 <kim@client.example>: Recipient is not accepted",
    "550 No thank you rejected: Account Unavailable: kim@client.example",
    "550 No kim in name directory",
    "550 5.0.0 <kim@client.example>: User missing home directory",
    "550 5.0.0 <kim@client.example>: Unroutable address",  # Exim's, in the other spelling
    # qmail's badrcptto / validrcptto patches: the server's own list of recipients, so a
    # directory's verdict even under the (#5.7.1) qmail gives every refusal
    "553 sorry, your envelope recipient is in my badrcptto list (#5.7.1)",
    "553 sorry, this recipient is not in my validrcptto list (#5.7.1)",
    "553 sorry, badrcptto (#5.7.1)",
]


@pytest.mark.parametrize("diagnostic", UNKNOWN)
@pytest.mark.parametrize("stage", ["RCPT", None])
def test_a_recipient_unknown_in_the_lists_words_is_hard(diagnostic: str, stage: str | None) -> None:
    got = decide("", "", diagnostic, stage)
    assert (got.reason, got.kind) == ("userunknown", H), got.steps


@pytest.mark.parametrize(
    "diagnostic",
    [
        # Blocked.pm "error: no valid recipients from ": the sending host refused, no address
        "550 5.0.0 Error: no valid recipients from 192.0.2.1",
        "Error: no valid recipients from 192.0.2.1",
    ],
)
def test_no_valid_recipients_from_our_host_is_no_unknown_address(diagnostic: str) -> None:
    for stage in ("RCPT", ""):
        got = decide("", "", diagnostic, stage)
        assert got.kind != H, (stage, got.steps)


@pytest.mark.parametrize(
    ("diagnostic", "stage"),
    [
        # HostUnknown.pm: a domain that does not exist, said of the recipient's
        ("550 5.0.0 <kim@client.example>: Recipient domain must exist", "RCPT"),
        ("550 5.0.0 <kim@client.example>: Domain must exist", ""),
        ("550 Mail domain mentioned in email address is unknown", ""),
        ("553 client.example does not exist", ""),
        # Exim's (transports/smtp.c, as sisimai's Lhost/Exim.pm lists it)
        ("all host address lookups failed permanently", "RCPT"),
    ],
)
def test_a_domain_that_does_not_exist_is_hard(diagnostic: str, stage: str) -> None:
    got = decide("", "", diagnostic, stage)
    assert (got.reason, got.kind) == ("hostunknown", H), got.steps


@pytest.mark.parametrize(
    ("diagnostic", "stage", "reason", "kind"),
    [
        # Postfix's smtpd_helo_restrictions (reject_unknown_helo_hostname): our HELO name, not
        # the recipient's domain (Blocked.pm "helo command rejected:")
        (
            "504 5.0.0 <mx.corp.example>: Helo command rejected: Host not found",
            "RCPT",
            "blocked",
            B,
        ),
        ("504 5.0.0 <mx.corp.example>: Helo command rejected: Host not found", "", "blocked", B),
        # AOL: a recipient who takes no attachments, not a host that takes no mail
        # (PolicyViolation.pm "because the recipient is not accepting mail with ")
        (
            "554 5.0.0 Because the recipient is not accepting mail with attachments",
            "",
            "policyviolation",
            B,
        ),
        # AOL: a recipient who takes mail only from some senders, not from us (Filtered.pm
        # "recipient is only accepting mail from specific email addresses")
        (
            "550 5.0.0 The recipient is only accepting mail from specific email addresses",
            "",
            "filtered",
            B,
        ),
        ("554 kim is not accepting mail from sales@corp.example", "", "filtered", B),
        # Sendmail: a lookup that failed this time ("Host not found, try again", its
        # TRY_AGAIN), not a domain that does not exist (NetworkError.pm)
        ("550 5.0.0 <kim@client.example>: Host not found, try again", "RCPT", "networkerror", S),
        ("kim@client.example: Host not found, try again", "", "networkerror", S),
        # the receiving system's disk, in a qmail server's words (sisimai's Lhost/qmail.pm
        # "mailbox unavailable (not enough free space)": systemfull), not an unknown mailbox
        (
            "550 5.0.0 <kim@client.example>: Requested action not taken: mailbox unavailable "
            "(not enough free space)",
            "RCPT",
            "systemfull",
            S,
        ),
        # our sender unknown, its address quoted: the audit's "mailbox <addr> unknown" (a
        # recipient's) must not read it as the recipient's
        (
            "550 5.1.0 Mailbox <sales@corp.example> unknown in MAIL FROM",
            "RCPT",
            "rejected",
            B,
        ),
        # qmail-smtpd: a domain this server does not relay for (NoRelaying.pm)
        ("553 sorry, that domain isn't in my list of allowed rcpthosts", "RCPT", "norelaying", B),
        # our host's HELO name refused (sendmail/Exim checks "HELO domain must exist"): the
        # audit's "domain must exist" (a recipient's domain) must not read it as the recipient's
        ("550 HELO domain must exist", "", "blocked", B),
        ("550 5.7.1 EHLO name must be a fully qualified domain name", "RCPT", "blocked", B),
        # a recipient whose domain is batv.org: the BATV wording (the sender's address tag) is
        # no word of an address's
        (
            "550 5.1.1 <kim@batv.org>: Recipient address rejected: User unknown in virtual "
            "mailbox table",
            "RCPT",
            "userunknown",
            H,
        ),
    ],
)
def test_words_of_another_reason_are_not_read_as_a_bad_address(
    diagnostic: str, stage: str, reason: str, kind: str
) -> None:
    got = decide("", "", diagnostic, stage)
    assert (got.reason, got.kind) == (reason, kind), got.steps
