"""The reporting MTAs' own messages (issue #14, audit against sisimai's per-MTA tables).

sisimai's ``lib/Sisimai/Lhost/*.pm`` modules (BSD-2) each hold a table of their MTA's own
messages -> reason, which decides before the generic reason lists: Exim's (exim's deliver.c,
parser.c, transports and routers, as Lhost/Exim.pm and its clone Lhost/MXLogic.pm quote them),
qmail's (qmail-remote.c and the qmail-ldap patch, Lhost/qmail.pm), Exchange 2003's MSEXCH codes
and Exchange 2007's RESOLVER/SMTPSEND codes (Lhost/Exchange2003.pm, Exchange2007.pm), Courier's
esmtpclient.c (Lhost/Courier.pm), Lotus Domino and Notes (Lhost/Domino.pm, Notes.pm), Gmail's
notices of 2008-2012 (Lhost/Gmail.pm: its SMTP client states, its DNS errors), au by KDDI's
(Lhost/KDDI.pm) and Zoho's (Lhost/Zoho.pm). Each report below is written here in the form the
module reads (its markers and the MTA's notice text as the module's comments quote them), with
our own addresses; none is copied from any message. Each failed before its rule
(``warmup/bounces/vendors.py`` ``_MTA_ROWS``). Where warmup disagrees with a table on purpose,
tests/corpus/README.md says why ("Reproduce the parser's figures").
"""

from __future__ import annotations

import pytest

from warmup.bounces import parse_bounces

R = "kim@client.example"
SENDER = "sales@corp.example"
ORIGINAL = f"""Return-Path: <{SENDER}>
From: Sales <{SENDER}>
To: <{R}>
Subject: Hello
Date: Thu, 29 Apr 2021 10:00:00 +0000
Message-ID: <abc123@corp.example>

Hi Kim
"""


def _message(headers: str, body: str) -> bytes:
    return f"{headers.strip()}\nTo: {SENDER}\nMIME-Version: 1.0\n\n{body}".encode()


def exim(line: str) -> bytes:
    return _message(
        f"""From: Mail Delivery System <Mailer-Daemon@mx.corp.example>
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: {R}""",
        f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {R}
    {line}

------ This is a copy of the message, including all the headers. ------

{ORIGINAL}""",
    )


def mxlogic(line: str) -> bytes:
    return _message(
        """From: Mail Delivery System <Mailer-Daemon@mxl.corp.example>
Subject: Mail delivery failed: returning message to sender
X-MX-Bounce: mta/src/queue/bounce""",
        f"""This message was created automatically by mail delivery software.

A message that you have sent could not be delivered to one or more
recipients.  This is a permanent error.  The following address failed:

  <{R}>: {line}

Included is a copy of the message header:
-----------------------------------------
{ORIGINAL}""",
    )


def qmail(lines: str) -> bytes:
    return _message(
        """From: MAILER-DAEMON@mx.corp.example
Subject: failure notice
Received: (qmail 12345 invoked for bounce); 29 Apr 2021 10:00:01 -0000""",
        f"""Hi. This is the qmail-send program at mx.corp.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{R}>:
{lines}

--- Below this line is a copy of the message.

{ORIGINAL}""",
    )


def dsn(status: str, diagnostic: str) -> bytes:
    """A DSN whose status and Diagnostic-Code are the report's only words."""
    return _message(
        "From: MAILER-DAEMON@mx.corp.example\nSubject: Undelivered Mail Returned to Sender\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.corp.example\n\n"
        f"Final-Recipient: rfc822; {R}\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n--B\nContent-Type: message/rfc822\n\n"
        f"{ORIGINAL}\n--B--\n",
    )


def exchange2007(line: str) -> bytes:
    return _message(
        """From: postmaster@corp.example
Subject: Undeliverable: Hello
Content-Language: en-US""",
        f"""Delivery has failed to these recipients or groups:

{R}

Diagnostic information for administrators:

Generating server: mx.corp.example

{R}
{line}

Original message headers:

{ORIGINAL}""",
    )


def exchange2003(lines: str) -> bytes:
    return _message(
        """From: System Administrator <postmaster@corp.example>
Subject: Undeliverable: Hello
X-Mailer: Internet Mail Service (5.5.2653.19)""",
        f"""Your message

  To:      {R}
  Subject: Hello
  Sent:    Thu, 29 Apr 2021 10:00:00 +0000

did not reach the following recipient(s):

{R} on Thu, 29 Apr 2021 10:00:05 +0000
{lines}
""",
    )


def courier(line: str) -> bytes:
    b = "=_courier-1"
    return _message(
        f"""From: Courier mail server at mx.corp.example <@>
Subject: NOTICE: mail delivery status.
Content-Type: multipart/report; report-type=delivery-status; boundary="{b}" """,
        f"""--{b}
Content-Type: text/plain; charset=us-ascii

This is a delivery status notification from mx.corp.example,
running the Courier mail server, version 0.65.2.

                          UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<{R}>:
    {line}

--{b}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.example

Final-Recipient: rfc822; {R}
Action: failed
Status: 5.0.0

--{b}--
""",
    )


def domino(line: str) -> bytes:
    return _message(
        f"""From: Postmaster <postmaster@corp.example>
Subject: DELIVERY FAILURE: {line}""",
        f"""Your message

  Subject: Hello

was not delivered to:

  {R}

because:

  {line}
""",
    )


def notes(line: str) -> bytes:
    return _message(
        """From: Postmaster <postmaster@corp.example>
Subject: Undeliverable message""",
        f"""------- Failure Reasons  --------

{line}
{R}


------- Returned Message --------
{ORIGINAL}""",
    )


def gmail(details: str) -> bytes:
    return _message(
        """From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Failure)""",
        f"""This is an automatically generated Delivery Status Notification

Delivery to the following recipient failed permanently:

     {R}

Technical details of permanent failure:
{details}

   ----- Original message -----

{ORIGINAL}""",
    )


def gmail_said(reply: str) -> bytes:
    return gmail(
        "Google tried to deliver your message, but it was rejected by the server for the "
        "recipient domain client.example by mx.client.example. [192.0.2.1].\n\n"
        f"The error that the other server returned was:\n{reply}"
    )


def kddi(line: str) -> bytes:
    return _message(
        """From: no-reply@app.auone-net.jp
Subject: Mail Delivery Failure
Received: from mx.ezweb.ne.jp (mx.ezweb.ne.jp [192.0.2.7]) by mx.corp.example""",
        f"""Your mail sent on: Thu, 29 Apr 2010 11:04:47 +0900
    Could not be delivered to: <{R}>
    {line}
""",
    )


def zoho(line: str) -> bytes:
    return _message(
        """From: mailer-daemon@mail.zoho.com
Subject: Undelivered Mail Returned to Sender
X-ZohoMail: Si CHF_MF_NL SS_10""",
        f"""This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.

{line}
""",
    )


H, S, B = "hard", "soft", "block"
GAVE_UP = "I'm not going to try again; this message has been in the queue too long."

# (source, report, kind, reason)
CASES = [
    # Exim: its own messages (exim's source as Lhost/Exim.pm and MXLogic.pm quote it)
    (
        "Exim routers/dnslookup.c",
        exim("no host found for existing SMTP connection"),
        H,
        "notaccept",
    ),
    ("MXLogic (Exim)", mxlogic("no host found for existing SMTP connection"), H, "notaccept"),
    ("Exim parser.c", exim("angle-brackets nested too deep"), S, "syntaxerror"),
    (
        "Exim parser.c",
        exim('missing or malformed local part (expected word or "<")'),
        S,
        "syntaxerror",
    ),
    ("Exim parser.c", exim("domain missing in source-routed address"), S, "syntaxerror"),
    ("Exim deliver.c", exim("delivery to file forbidden"), S, "systemerror"),
    ("MXLogic (Exim)", mxlogic("delivery to pipe forbidden"), S, "systemerror"),
    ("Exim transports/pipe.c", exim("local delivery failed"), S, "systemerror"),
    (
        "Exim deliver.c",
        exim('Too many "Received" headers - suspected mail loop'),
        S,
        "contenterror",
    ),
    (
        "Exim transports/smtp.c",
        exim(
            "all hosts have been failing for a long time and were last tried after this "
            "message arrived"
        ),
        S,
        "expired",
    ),
    ("Exim appendfile (Lhost/Exim.pm)", exim("error: quota exceeded"), S, "mailboxfull"),
    # qmail-remote.c: "does not like recipient" is its refusal at RCPT (the remote's words say
    # nothing more); "Giving up on <host>." is no expiry
    (
        "qmail-remote.c",
        qmail(
            "192.0.2.1 does not like recipient.\nRemote host said: 550 Requested action not "
            "taken\nGiving up on 192.0.2.1."
        ),
        H,
        "userunknown",
    ),
    (
        "qmail-remote.c",
        qmail(
            "Connected to 192.0.2.1 but my name was rejected.\n"
            "Remote host said: 501 Syntax error in parameters"
        ),
        B,
        "blocked",
    ),
    (
        "qmail-local",
        qmail("/usr/local/bin/filter: bad interpreter: No such file or directory"),
        S,
        "systemerror",
    ),
    (
        "qmail-ldap",
        qmail(f"Automatic homedir creator crashed (#4.3.0)\n{GAVE_UP}"),
        S,
        "systemerror",
    ),
    (
        "qmail-ldap",
        qmail("Permanent error while executing qmail-forward (#5.4.4)"),
        S,
        "systemerror",
    ),
    # Exchange 2007: its RESOLVER and SMTPSEND codes, whatever the status or words beside them
    (
        "Exchange 2007",
        exchange2007(
            "#554 5.4.4 SMTPSEND.DNS.MxLoopback; DNS records for the destination domain are "
            "configured in a loop ##"
        ),
        S,
        "networkerror",
    ),
    (
        "Exchange 2007",
        exchange2007(
            "#550 5.2.0 RESOLVER.ADR.BadPrimary; recipient primary SMTP address is invalid ##"
        ),
        S,
        "systemerror",
    ),
    (
        "Exchange 2007",
        exchange2007("#550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients ##"),
        S,
        "toomanyconn",
    ),
    (
        "Exchange 2007",
        exchange2007("#550 5.1.0 RESOLVER.ADR.InvalidInSmtp; address invalid in SMTP ##"),
        S,
        "systemerror",
    ),
    (
        "Exchange 2007",
        exchange2007("#550 5.1.4 RESOLVER.ADR.Ambiguous; ambiguous address ##"),
        S,
        "systemerror",
    ),
    # Exchange 2003: its MSEXCH codes
    (
        "Exchange 2003",
        exchange2003("    MSEXCH:IMS:CORP:MX:EXCHANGE 0 (00010256) Too many recipients."),
        S,
        "systemerror",
    ),
    (
        "Exchange 2003",
        exchange2003(
            "    MSEXCH:IMS:CORP:MX:EXCHANGE 0 (000D06B5) No proxy for recipient (non-smtp mail?)"
        ),
        S,
        "systemerror",
    ),
    (
        "Exchange 2003",
        exchange2003(
            "    MSEXCH:IMS:CORP:MX:EXCHANGE 0 (00050311) Conversion to Internet format failed"
        ),
        S,
        "contenterror",
    ),
    (
        "Exchange 2003",
        exchange2003(
            "    MSEXCH:IMS:CORP:MX:EXCHANGE 0 (000B0981) 502 Server does not support AUTH"
        ),
        B,
        "securityerror",
    ),
    (
        "Exchange 2003",
        exchange2003("    MSEXCH:IMS:CORP:MX:EXCHANGE 0 (000C0595) Ambiguous Recipient"),
        B,
        "filtered",
    ),
    # Courier, Lotus Domino, Lotus Notes
    ("Courier esmtpclient.c", courier("This domain's DNS violates RFC 1035."), S, "systemerror"),
    ("Lotus Domino", domino(f"Cannot route mail to user ({R})"), B, "filtered"),
    ("Lotus Domino", domino("Several matches found in Domino Directory"), S, "systemerror"),
    ("Lotus Notes", notes("Message has exceeded maximum hop count"), S, "networkerror"),
    # Gmail's notices of 2008-2012: its SMTP client's state, its DNS errors
    (
        "Gmail (state 6)",
        gmail_said("500 Remote server does not support TLS (state 6)."),
        S,
        "systemerror",
    ),
    (
        "Gmail (state 9)",
        gmail_said(
            "454 454 TLS missing certificate: error:0200100D:system library:fopen:Permission "
            "denied (#4.3.0) (state 9)."
        ),
        S,
        "systemerror",
    ),
    (
        "Gmail (state 17)",
        gmail_said(f"550 550 #5.1.0 Address rejected {R} (state 17)."),
        B,
        "filtered",
    ),
    ("Gmail", gmail("DNS Error: Could not contact DNS servers"), S, "expired"),
    ("Gmail", gmail("DNS Error: DNS server returned answer with no data"), H, "hostunknown"),
    # au by KDDI, Zoho
    ("au by KDDI", kddi("Due to the following SMTP relay error."), B, "norelaying"),
    (
        "Zoho",
        zoho(f"[Status: Error, Address: <{R}>, ResponseCode 421, , Host not reachable.]"),
        S,
        "expired",
    ),
]


@pytest.mark.parametrize(
    ("source", "report", "kind", "reason"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES]
)
def test_the_reporting_mtas_own_message_names_the_reason(
    source: str, report: bytes, kind: str, reason: str
) -> None:
    got = parse_bounces(report)
    assert [(b.recipient, b.kind, b.reason) for b in got] == [(R, kind, reason)], [
        (b.rule, b.steps) for b in got
    ]


@pytest.mark.parametrize(
    "reply",
    [
        # the remote's own words still decide after qmail's "does not like recipient", generic
        # ones too (a 5.7.1 refusal at RCPT is a policy's)
        "552 sorry, mailbox is full (#5.2.2)",
        "550 5.7.1 Message refused\nGiving up on 192.0.2.1.",
        # ... and a 4xx repeated until the queue ran out is no refusal of the address
        f"451 Requested action aborted: local error in processing\nGiving up on 192.0.2.1.\n{GAVE_UP}",
    ],
)
def test_qmails_rcpt_refusal_yields_to_the_remotes_words(reply: str) -> None:
    got = parse_bounces(qmail(f"192.0.2.1 does not like recipient.\nRemote host said: {reply}"))
    assert [b.reason for b in got] != ["userunknown"], [(b.rule, b.steps) for b in got]


def test_zohos_words_are_zohos_only() -> None:
    # "Host not reachable" from anyone else is a network error, not an expiry
    report = exim("host not reachable")
    assert [b.reason for b in parse_bounces(report)] != ["expired"]


def test_qmails_giving_up_on_a_host_is_no_expiry() -> None:
    # qmail-remote names the host it gave up on after every failed attempt, whatever failed
    report = qmail(
        "192.0.2.1 failed after I sent the message.\nRemote host said: 554 Transaction failed\n"
        "Giving up on 192.0.2.1."
    )
    assert [b.reason for b in parse_bounces(report)] != ["expired"]


@pytest.mark.parametrize(
    "report",
    [
        dsn("5.1.1", "550 5.1.1 mailbox unavailable; local delivery failed"),
        dsn(
            "5.1.1",
            f"550 5.1.1 <{R}>: Requested action not taken: mailbox unavailable, local delivery failed",
        ),
        exim("550 5.1.1 mailbox unavailable; local delivery failed"),
    ],
    ids=["dsn", "dsn-requested-action", "exim-text"],
)
def test_a_status_and_words_that_agree_outweigh_an_mtas_catch_all(report: bytes) -> None:
    """Exim's "local delivery failed" names no cause: where a 5.1.1 and the generic words beside
    it ("mailbox unavailable") both say the address is bad, the status breaks the tie between
    those words and the MTA's message, and the address is suppressed."""
    got = parse_bounces(report)
    assert [(b.recipient, b.kind, b.reason) for b in got] == [(R, H, "userunknown")], [
        (b.rule, b.steps) for b in got
    ]


@pytest.mark.parametrize(
    ("status", "diagnostic"),
    [
        # generic words under a generic status: the MTA's message decides over them
        ("5.0.0", "550 5.0.0 mailbox unavailable; local delivery failed"),
        # a status alone, no words beside the message: one reading against one
        ("5.1.1", "550 5.1.1 local delivery failed"),
        # words that say another thing than the status: they do not confirm it
        ("5.1.1", "550 5.1.1 delivery to file forbidden"),
    ],
)
def test_an_mtas_message_still_outweighs_one_reading_alone(status: str, diagnostic: str) -> None:
    got = parse_bounces(dsn(status, diagnostic))
    assert [(b.kind, b.reason, b.rule) for b in got] == [(S, "systemerror", "mta.message")], [
        b.steps for b in got
    ]
