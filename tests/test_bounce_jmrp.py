"""Complaints in Microsoft's pre-ARF JMRP form, and the recipient JMRP names in the original.

Before its reports were ARF (tests/test_bounce_redacted.py has that shape), Microsoft's Junk
Mail Reporting Program sent each complaint as a plain multipart/mixed from staff@hotmail.com,
"Subject: complaint about message from <IP>", a line of text and the original attached, the
complaining recipient in the original's ``X-HmXmrOriginalRecipient`` header; Amazon SES
forwarded complaints in that form from complaints@email-abuse.amazonses.com (the forms sisimai's
ARF module reads, BSD-2; written here from that description, not copied). Such a report was read
as nothing: the recipient who complained was mailed on. Microsoft's ARF reports carry the
header too, in the original they return: it names the one who complained when the report's own
fields do not and the original was sent to several.
"""

from __future__ import annotations

from warmup.bounces import parse_bounces

PRE_ARF = """From: {sender}
To: fbl@corp.example
Subject: {subject}
Date: Tue, 1 Dec 2026 10:00:00 -0800
Message-ID: <jmrp1@hotmail.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="jmrp"

--jmrp
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1 on Tue, 1 Dec
2026 09:00:00 -0800.

--jmrp
Content-Type: message/rfc822
Content-Disposition: inline

X-HmXmrOriginalRecipient: {hmxmr}
From: sales@corp.example
To: {to}
Subject: offer
Message-ID: <orig1@corp.example>
Date: Tue, 1 Dec 2026 08:59:00 -0800

hello
--jmrp--
"""


def pre_arf(
    sender: str = "staff@hotmail.com",
    subject: str = "complaint about message from 192.0.2.1",
    hmxmr: str = "<kim@hotmail.com>",
    to: str = "kim@hotmail.com",
) -> bytes:
    return PRE_ARF.format(sender=sender, subject=subject, hmxmr=hmxmr, to=to).encode()


def test_a_pre_arf_jmrp_report_is_a_complaint_of_the_recipient_it_names() -> None:
    [b] = parse_bounces(pre_arf())
    assert (b.recipient, b.kind, b.reason, b.rule, b.message_id, b.redacted) == (
        "kim@hotmail.com",
        "complaint",
        "feedback",
        "jmrp",
        "<orig1@corp.example>",
        False,
    )
    assert "JMRP" in b.steps[0]
    # Amazon SES forwarded complaints in the same form
    [ses] = parse_bounces(pre_arf(sender="complaints@email-abuse.amazonses.com"))
    assert (ses.recipient, ses.kind, ses.rule) == ("kim@hotmail.com", "complaint", "jmrp")


def test_a_redacted_jmrp_recipient_is_no_address() -> None:
    [b] = parse_bounces(pre_arf(hmxmr="[redacted]", to="[redacted]"))
    assert (b.recipient, b.kind, b.redacted, b.message_id) == (
        "",
        "complaint",
        True,
        "<orig1@corp.example>",
    )


def test_the_form_from_anybody_else_or_about_anything_else_is_no_complaint() -> None:
    # The form is read only from the two senders that used it, under its subject: anybody's
    # forward of a message with that header is no report.
    for message in (
        pre_arf(sender="staff@hotmail.com.attacker.example"),
        pre_arf(sender="kim@hotmail.com"),
        pre_arf(subject="Re: offer"),
    ):
        assert [b for b in parse_bounces(message) if b.kind == "complaint"] == []


ARF_TO_SEVERAL = """From: staff@hotmail.com
To: fbl@corp.example
Subject: complaint about message from 192.0.2.1
Date: Tue, 1 Dec 2026 10:00:00 -0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Hotmail FBL
Version: 0.1
Source-IP: 192.0.2.1

--arf
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: <lee@outlook.com>
From: sales@corp.example
To: kim@outlook.com, lee@outlook.com
Subject: offer
Message-ID: <orig2@corp.example>

hello
--arf--
"""


def test_an_arf_report_takes_the_recipient_jmrp_names_in_the_original() -> None:
    # No Original-Rcpt-To and an original sent to two: which of them complained was unknown
    # (the complaint matched no one); Microsoft's header in the original names lee@.
    [b] = parse_bounces(ARF_TO_SEVERAL.encode())
    assert (b.recipient, b.kind, b.rule) == ("lee@outlook.com", "complaint", "arf")


# JMRP's older form (seen in PHP-Bounce-Handler's test messages, BSD-2; written here from that
# description): no report around the original, which comes back itself from staff@hotmail.com
# (its Return-Path) with the complainer added on top in X-HmXmrOriginalRecipient.
BARE = """Return-Path: {return_path}
Received: from JMR-HOST-01 ([192.0.2.80]) by omc.hotmail.example with Microsoft SMTPSVC;
 Tue, 1 Dec 2026 10:00:00 -0800
{hmxmr}X-Reporter-IP: 198.51.100.7
Received: from out.corp.example ([192.0.2.1]) by mc.hotmail.example with Microsoft SMTPSVC;
 Tue, 1 Dec 2026 08:59:02 -0800
Date: Tue, 1 Dec 2026 08:59:00 -0800
From: sales@corp.example
To: kim@hotmail.com
Subject: offer
Message-ID: <orig3@corp.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Our autumn offer: reply to this message to unsubscribe.
"""


def bare(
    return_path: str = "staff@hotmail.com",
    hmxmr: str = "X-HmXmrOriginalRecipient: kim@hotmail.com\n",
) -> bytes:
    return BARE.format(return_path=return_path, hmxmr=hmxmr).encode()


def test_the_original_itself_sent_back_by_jmrp_is_a_complaint() -> None:
    [b] = parse_bounces(bare())
    assert (b.recipient, b.kind, b.reason, b.rule, b.message_id) == (
        "kim@hotmail.com",
        "complaint",
        "feedback",
        "jmrp",
        "<orig3@corp.example>",
    )
    assert "the original itself" in b.steps[0]
    assert b.original_from == "sales@corp.example"
    assert "unsubscribe" not in b.diagnostic  # the original's words are no report's


def test_a_message_with_the_header_from_anybody_else_is_no_complaint() -> None:
    # Only the envelope sender JMRP used: a forward by the recipient, or a message that merely
    # carries the header, is no report; nor is a message from staff@hotmail.com without it.
    for message in (
        bare(return_path="<kim@hotmail.com>"),
        bare(return_path="<staff@hotmail.com.attacker.example>"),
        bare(hmxmr=""),
        # a second Return-Path added on the way: the envelope's sender is not Hotmail's alone
        bare(return_path="staff@hotmail.com\nReturn-Path: <kim@hotmail.com>"),
    ):
        assert [b for b in parse_bounces(message) if b.kind == "complaint"] == []
