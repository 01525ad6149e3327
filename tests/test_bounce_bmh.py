"""Replies PHPMailer-BMH's rule table knows that warmup read as the wrong side of hard / not
hard (issue #14; audit of voku/PHPMailer-BMH's ``phpmailer-bmh_rules.php``, GPL-2.0, 2026-12-05).

Each of its rules' patterns was written out as a reply in our own words and given to
:func:`~warmup.bounces.classify.decide`; where warmup was wrong in our judgement it is fixed by a
general rule, and the forms below (our wording, not BMH's samples) failed before it. Where BMH's
category is cruder than warmup's reading (an inactive or suspended account, a relay refusal, a
DNS time-out read as a dead address), warmup keeps its own (tests/corpus/README.md, "Reproduce the parser's
figures")."""

from __future__ import annotations

import pytest

from warmup.bounces.classify import decide

# The address is gone, in forms the word table did not know
GONE = [
    "553 5.0.0 <ana@client.example>: this mailbox no longer accepts mail",
    "550 ana@client.example is no longer accepting e-mail",
    "550 5.0.0 <ana@client.example>... user path no exist",
    "550 mailbox no exist: ana@client.example",
    "550 Recipient ana@client.example is not a member of this domain",
    "550 RCPT user <ana@client.example> not ok",
]


@pytest.mark.parametrize("diagnostic", GONE)
def test_a_dead_address_in_these_words_is_hard_at_rcpt(diagnostic: str) -> None:
    got = decide("", "", diagnostic, "RCPT")
    assert (got.reason, got.kind) == ("userunknown", "hard"), got.steps


@pytest.mark.parametrize(
    "diagnostic",
    [
        "550 5.7.1 <ana@client.example>: the recipient does not accept email in non-Latin scripts",
        "554 ana@client.example does not accept mail in HTML form",
    ],
)
@pytest.mark.parametrize("stage", ["RCPT", "DATA", ""])
def test_mail_refused_for_its_form_is_no_host_that_takes_no_mail(
    diagnostic: str, stage: str
) -> None:
    """ "Does not accept email in <a script, a format>" says what mail it refuses: the address
    and its host take mail (not ``notaccept``, never hard)."""
    got = decide("", "", diagnostic, stage)
    assert got.kind != "hard" and got.reason != "notaccept", got.steps


def test_a_host_that_takes_no_mail_at_all_stays_hard() -> None:
    got = decide("", "", "556 5.1.10 client.example does not accept mail (null MX)", "RCPT")
    assert (got.reason, got.kind) == ("notaccept", "hard"), got.steps


@pytest.mark.parametrize(
    "diagnostic",
    [
        "554 no longer accepting messages from your network",
        "550 Our server no longer accepts mail from your IP address",
        "550 ana@client.example no longer accepts e-mail via this relay",
        "550 We no longer accept mail over IPv6",
    ],
)
@pytest.mark.parametrize("stage", ["RCPT", ""])
def test_a_host_that_no_longer_takes_our_mail_is_no_dead_address(
    diagnostic: str, stage: str
) -> None:
    """ "No longer accepts mail" names a dead address only on its own: "... from your network /
    IP, via a relay, over IPv6" is a refusal of the sender's path (the address takes mail), as
    "does not accept mail from" is (the host-accepts-no-mail rule); reading it hard suppressed a
    good lead."""
    got = decide("", "", diagnostic, stage)
    assert got.kind != "hard", got.steps


@pytest.mark.parametrize(
    "diagnostic",
    [
        "550 Sender address is not a member of this domain",
        "550 Client host is not a member of this domain",
        "550 Sender <bob@corp.example> is not a member of this domain",
        "550 This server no longer accepts messages unless authenticated",
        "550 This server no longer accepts mail on port 25",
        "550 no longer accepting email at this IP address",
        "550 Service no longer accepts e-mail for relay",
        "550 ana@client.example no longer accepts email sent through open proxies",
        "550 sender address no exist",
        "550 IP address no exists in allow list",
    ],
)
@pytest.mark.parametrize("stage", ["RCPT", None])
def test_the_audits_phrases_about_the_sender_or_its_path_are_no_dead_address(
    diagnostic: str, stage: str | None
) -> None:
    """The audit's phrases name a dead address only when the address (the recipient, its
    mailbox) is what they are said of, and "no longer accepts mail" only when nothing
    qualifies the mail: a sender, a client host or an IP "not a member of this domain", a server
    that "no longer accepts mail on port 25 / unless authenticated / for relay", a "sender address
    no exist" refuse the sender or its path, and were read hard (a good lead suppressed). A
    denylist of the words after "no longer accepts mail" ("from", "via") missed the others."""
    got = decide("", "", diagnostic, stage)
    assert got.kind != "hard", got.steps


@pytest.mark.parametrize(
    "diagnostic",
    [
        "550 user is not ok to relay",
        "550 Recipient not OK for relay through this host",
        "550 recipient is not accepted for relaying",
        "554 <ana@client.example>: recipient not allowed to relay",
    ],
)
@pytest.mark.parametrize("stage", ["RCPT", ""])
def test_a_recipient_not_ok_for_relay_is_a_route_refused(diagnostic: str, stage: str) -> None:
    """ "Not OK / not accepted for relay(ing)" refuses the route (a server that does not serve
    the recipient's domain, or will not relay for us), not the address: ``norelaying``, as
    "relaying denied" is; the audit's "(recipient|user) ... not ok" wording read it as a dead
    address at RCPT, and suppressed it."""
    got = decide("", "", diagnostic, stage)
    assert (got.reason, got.kind) == ("norelaying", "block"), got.steps
