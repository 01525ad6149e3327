"""A notice's phrases wrapped across a line break (warmup/bounces/formats.py).

An MTA writes its notice with the line breaks its template has; a relaying MTA or a mail client
may re-wrap the text at its own width, and an address longer than the template's moves the
break of the line it is on. Each phrase the notice's structure is read by — the marker before
the returned copy, the line before the list of failed recipients, Postfix's "(expanded from
<alias>)", Exim's "an undisclosed address (generated from ...)", AOL's list of screen names, a
mailbox's state, the words that say an address is whom to write to, a challenge's request, the
reporter's "Mail Delivery" name — is written here on one line and wrapped one word earlier: both
must read the same. Each wrapped form was read otherwise before its pattern took a line break
for the blank it replaces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from warmup.bounces import parse_bounces
from warmup.bounces.formats import (
    is_challenge,
    is_daemon_sender,
    listed_blocks,
    mailbox_state,
    message_from,
    recipient_blocks,
    split_returned,
    undisclosed_block,
)

FLUFL = Path(__file__).parent / "corpus" / "flufl" / "data"
NOTICE = "This is the mail system at host mx.corp.example. Your message was not delivered.\n\n"


def _wrap(text: str, before: str) -> str:
    """``text`` with the blank before the first ``before`` made a line break (and an indent)."""
    wrapped = text.replace(f" {before}", f"\n  {before}", 1)
    assert wrapped != text, before
    return wrapped


@pytest.mark.parametrize(
    ("marker", "at"),
    [
        ("--- Below this line is a copy of the message.", "the message"),
        ("------ This is a copy of the message, including all the headers. ------", "message,"),
        ("----- Original message follows -----", "follows"),
        ("   ----- Unsent message follows -----", "message"),
        ("The first 10 lines of your message follow:", "lines"),
    ],
)
def test_a_returned_copy_after_a_wrapped_marker_is_the_copy(marker: str, at: str) -> None:
    """The marker line starts the returned copy, wrapped or not: else the copy's words and
    addresses are read as the notice's."""
    returned = "Subject: Hello\n\nHi Kim, call me at kim.private@home.example\n"
    for line in (marker, _wrap(marker, at)):
        text = f"{NOTICE}<kim@client.example>: 550 5.1.1 User unknown\n\n{line}\n\n{returned}"
        notification, copy = split_returned(text)
        assert copy.startswith(line.lstrip(" ")) or copy.startswith(line), (line, copy[:80])
        assert copy.endswith(returned) and "kim.private" not in notification


def test_a_transcript_marker_wrapped_is_still_no_returned_copy() -> None:
    """Sendmail's transcript is part of the diagnostic, wrapped or not."""
    text = f"{NOTICE}   ----- Transcript of session\n  follows -----\n550 5.1.1 User unknown\n"
    assert split_returned(text) == (text, "")


def test_postfix_expanded_from_wrapped_keeps_the_block() -> None:
    """Postfix's "<addr> (expanded from <alias>):" wrapped before a long alias: the alias is
    no failed recipient, nor is the rewritten address the remote echoes in its reply."""
    block = (
        "<kim@client.example> (expanded from <everyone-in-the-sales-team@client.example>): host\n"
        "    mx.client.example[192.0.2.1] said: 550 5.1.1 <kim.r@mail.client.example>:\n"
        "    Recipient address rejected: User unknown (in reply to RCPT TO command)\n"
    )
    for text in (block, _wrap(block, "<everyone"), _wrap(block, "from")):
        assert list(recipient_blocks(NOTICE + text, frozenset())) == ["kim@client.example"], text


def test_the_list_marker_wrapped_starts_the_list() -> None:
    """What precedes "the following recipient(s):" describes the original (its To: and Cc:)."""
    notice = (
        "Your message\n\n  To: kim@client.example; team@client.example\n  Subject: Hello\n\n"
        "did not reach the following recipient(s):\n\nkim@client.example on 29/04/2021\n"
        "    The e-mail account does not exist at the organization this message was sent to.\n"
    )
    for text in (notice, _wrap(notice, "following"), _wrap(notice, "recipient(s)")):
        assert list(listed_blocks(text, frozenset())) == ["kim@client.example"], text


def test_exims_undisclosed_address_wrapped() -> None:
    text = (
        f"{NOTICE}  an undisclosed address\n"
        "    (generated from a-long-local-part-of-a-list@client.example)\n"
    )
    for wrapped in (text, _wrap(text, "a-long"), _wrap(text, "undisclosed")):
        assert undisclosed_block(wrapped)[0] == "a-long-local-part-of-a-list@client.example"


def test_aols_screen_names_after_a_wrapped_line() -> None:
    raw = (FLUFL / "aol_01.txt").read_bytes()
    wrapped = raw.replace(
        b"could not be delivered because =\n", b"could not be\ndelivered because "
    )
    assert wrapped != raw
    for message in (raw, wrapped):
        assert [b.recipient for b in parse_bounces(message)] == ["screenname@aol.com"]


@pytest.mark.parametrize("at", ["disabled", "been", "has"])
def test_a_mailbox_state_wrapped(at: str) -> None:
    line = "The user's mailbox has been disabled."
    assert mailbox_state(_wrap(line, at)) == mailbox_state(line) == "mailbox has been disabled"


@pytest.mark.parametrize(
    ("invitation", "at"),
    [
        ("please contact helpdesk@client.example for help", "helpdesk@"),
        ("or send an e-mail message from another address to dz@rbl.example", "address"),
        ("or send an e-mail message from another address to dz@rbl.example", "dz@"),
        ("If you believe this is an error, e-mail us at support@isp.example", "us"),
        ("User not local; please try <kim@elsewhere.example>", "<kim@"),
    ],
)
def test_an_address_to_write_to_wrapped_before_it_is_no_recipient(invitation: str, at: str) -> None:
    notice = (
        "Delivery to the following recipient failed permanently:\n\n     kim@client.example\n\n"
        "Technical details of permanent failure:\n550 5.7.1 Your message was blocked. "
        f"{invitation}.\n"
    )
    for text in (notice, _wrap(notice, at)):
        assert list(listed_blocks(text, frozenset())) == ["kim@client.example"], text


def test_a_link_ending_the_line_before_an_address_does_not_hide_it() -> None:
    """Only words that end right before an address say it is another's: a link ending the line
    above a recipient is a link, the recipient still one."""
    text = f"{NOTICE}Help: https://help.corp.example/bounces/\nkim@client.example: User unknown\n"
    assert list(recipient_blocks(text, frozenset())) == ["kim@client.example"]


def test_a_challenge_wrapped() -> None:
    raw = (
        b"From: kim@client.example\nTo: sales@corp.example\nSubject: Re: Hello\n\n"
        b"Your message is held. To have it delivered, please verify that you are a human by\n"
        b"replying to this message.\n"
    )
    msg = message_from(raw)
    wrapped = raw.replace(b"you are a human", b"you are\na human")
    assert is_challenge(msg, msg.get_payload())
    msg = message_from(wrapped)
    assert is_challenge(msg, msg.get_payload())


def test_a_from_folded_inside_mail_delivery() -> None:
    """RFC 5322 folds a header at any blank: "Mail<CRLF> Delivery System" is the reporter's."""
    for head in (b"Mail Delivery System", b"Mail\r\n Delivery System"):
        msg = message_from(b"From: " + head + b" <notices@mx.corp.example>\r\nSubject: x\r\n\r\n")
        assert is_daemon_sender(msg), head
