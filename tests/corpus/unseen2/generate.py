"""Writes tests/corpus/unseen2/*.eml: python tests/corpus/unseen2/generate.py tests/corpus/unseen2

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen2.py."""

import base64
import sys
from pathlib import Path

OUT = Path(sys.argv[1])


def enc(text, cs):
    """An RFC 2047 encoded-word labelled ``cs``."""
    return f"=?{cs}?B?{base64.b64encode(text.encode(cs)).decode()}?="


def write(name, head, body: bytes | str):
    if isinstance(body, str):
        body = body.encode("utf-8")
    (OUT / name).write_bytes(head.encode("ascii") + b"\n" + body)


ORIG = """From: sales@corp.example
To: {rcpt}
Subject: quotation
Date: Mon, 7 Dec 2026 09:00:00 +0800
Message-ID: <{mid}@corp.example>
"""


def text_notice(name, sender, subject, text, rcpt, mid, cs="us-ascii", cte="7bit", extra=""):
    """A notice of one text part, the returned message's headers at its end."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
{extra}Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    data = text.encode(cs) + f"\n{ORIG.format(rcpt=rcpt, mid=mid)}\nhello\n".encode()
    write(name, head, base64.encodebytes(data) if cte == "base64" else data)


def mixed_notice(name, sender, subject, text, rcpt, mid, cs="us-ascii", cte="7bit", extra=""):
    """A multipart/mixed notice: the text part, then the returned message (message/rfc822)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:01:00 +0800
MIME-Version: 1.0
{extra}Content-Type: multipart/mixed; boundary="mx"
"""
    data = text.encode(cs)
    body = (
        f'--mx\nContent-Type: text/plain; charset="{cs}"\n'
        f"Content-Transfer-Encoding: {cte}\n\n".encode()
        + (base64.encodebytes(data) if cte == "base64" else data)
        + f"""
--mx
Content-Type: message/rfc822

{ORIG.format(rcpt=rcpt, mid=mid)}
hello
--mx--
""".encode()
    )
    write(name, head, body)


def report_notice(
    name, sender, subject, text, per_rcpt, mid, reporting, extra="", cs="us-ascii", boundary="rp"
):
    """An RFC 3464 report: the human text, one block of fields per recipient, the headers.
    ``per_rcpt`` is a list of (recipient, action, status, diagnostic or "", extra fields)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:02:00 +0800
MIME-Version: 1.0
{extra}Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"
"""
    blocks = []
    for rcpt, action, status, diag, more in per_rcpt:
        lines = [f"Final-Recipient: rfc822; {rcpt}", f"Action: {action}", f"Status: {status}"]
        lines += more
        if diag:
            lines.append(f"Diagnostic-Code: {diag}")
        blocks.append("\n".join(lines))
    fields = "\n\n".join(blocks)
    body = (
        f"--{boundary}\nContent-Type: text/plain; charset={cs}\n\n".encode()
        + text.encode(cs)
        + f"""
--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporting}

{fields}

--{boundary}
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=per_rcpt[0][0], mid=mid)}
--{boundary}--
""".encode()
    )
    write(name, head, body)


# ------------------------------------------------------------------ Lotus Domino, localised
def domino(name, subject, cs, intro, was_not, because, rcpt, reason, mid):
    """Domino's router failure report (a text notice: "Your message ... was not delivered to:
    ... because: ..."), its template in the server's language."""
    text = f"""{intro}

  Subject:  quotation

{was_not}

  {rcpt}

{because}

  {reason}
"""
    text_notice(
        name,
        "Postmaster@corp.example",
        enc(subject, cs),
        text,
        rcpt,
        mid,
        cs=cs,
        cte="7bit" if cs in ("iso-2022-jp", "us-ascii") else "8bit",
        extra="X-Mailer: Lotus Domino Release 9.0.1FP10\n",
    )


domino(
    "domino-ja-iso2022jp-not-in-directory.eml",
    "配信不能: ユーザー aoki (aoki@client.example) は Domino ディレクトリには見つかりません",
    "iso-2022-jp",
    "メッセージ",
    "は次の宛先に配信されませんでした:",
    "理由:",
    "aoki@client.example",
    "ユーザー aoki (aoki@client.example) は Domino ディレクトリには見つかりません",
    "un2-01",
)
domino(
    "domino-es-latin1-not-in-directory.eml",
    "ERROR DE ENTREGA: El usuario bravo (bravo@client.example) no se encuentra en el "
    "Directorio de Domino",
    "iso-8859-1",
    "Su mensaje",
    "no se entregó a:",
    "porque:",
    "bravo@client.example",
    "El usuario bravo (bravo@client.example) no se encuentra en el Directorio de Domino",
    "un2-02",
)
domino(
    "domino-fr-latin1-not-in-directory.eml",
    "ÉCHEC DE LA REMISE: Utilisateur caron (caron@client.example) non répertorié dans "
    "l'annuaire Domino",
    "iso-8859-1",
    "Votre message",
    "n'a pas été remis à :",
    "parce que :",
    "caron@client.example",
    "Utilisateur caron (caron@client.example) non répertorié dans l'annuaire Domino",
    "un2-03",
)
domino(
    "domino-several-matches.eml",
    "DELIVERY FAILURE: Several matches found in Domino Directory",
    "us-ascii",
    "Your message",
    "was not delivered to:",
    "because:",
    "dale@client.example",
    "Several matches found in Domino Directory. Check your routing tables.",
    "un2-04",
)


# ------------------------------------------------------------------ OpenSMTPD
def opensmtpd(name, kind, lines, mid, report=None):
    """OpenSMTPD's bounce (usr.sbin/smtpd/bounce.c): "Hi! This is the MAILER-DAEMON, please DO
    NOT REPLY to this email.", one "user@domain: error line" per recipient; 5.x sent no report
    part, later versions add message/delivery-status (``report``: [(rcpt, action, status)])."""
    intros = {
        "error": "    An error has occurred while attempting to deliver a message for\n"
        "    the following list of recipients:\n",
        "relayed": "    Your message was relayed to these recipients.\n",
    }
    text = (
        "    Hi!\n\n    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n"
        + intros[kind]
        + "\n"
        + "".join(f"{ln}\n" for ln in lines)
        + "\n    Below is a copy of the original message:\n"
    )
    rcpt = lines[0].split(":")[0]
    head = f"""Subject: Delivery status notification: {kind}
From: Mailer Daemon <MAILER-DAEMON@mx.corp.example>
To: sales@corp.example
Date: Mon, 7 Dec 2026 10:03:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed;boundary="1234567890123456/mx.corp.example"
"""
    b = "1234567890123456/mx.corp.example"
    body = f"""This is a MIME-encapsulated message.

--{b}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

{text}
"""
    if report:
        fields = "\n".join(
            f"Final-Recipient: rfc822; {r}\nAction: {a}\nStatus: {s}\n" for r, a, s in report
        )
        body += f"""--{b}
Content-Description: Delivery Report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.example

{fields}
"""
    body += f"""--{b}
Content-Description: Message headers
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=mid)}
--{b}--
"""
    write(name, head, body)


opensmtpd(
    "opensmtpd-text-550-no-status-user-unknown.eml",
    "error",
    [
        "eden@client.example: 550 <eden@client.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    ],
    "un2-05",
)
opensmtpd(
    "opensmtpd-547-envelope-expired.eml",
    "error",
    ["faye@client.example: Envelope expired"],
    "un2-06",
    report=[("faye@client.example", "failed", "5.4.7")],
)
opensmtpd(
    "opensmtpd-552-message-too-big.eml",
    "error",
    ["gale@client.example: 552 Message size exceeds fixed maximum message size"],
    "un2-07",
    report=[("gale@client.example", "failed", "5.0.0")],
)
opensmtpd(
    "opensmtpd-relayed-not-a-failure.eml",
    "relayed",
    ["hana@client.example: 250 2.0.0 Ok: queued as 4CqLx70Yz1"],
    "un2-08",
    report=[("hana@client.example", "relayed", "2.0.0")],
)


# ------------------------------------------------------------------ Courier
def courier(name, rcpt, remote, transcript, status, mid):
    """Courier's DSN (courierdsn): "NOTICE: mail delivery status.", "UNDELIVERABLE MAIL", the
    remote host and the SMTP transcript (">>> command" / "<<< reply")."""
    text = f"""This is a delivery status notification from mx.corp.example,
running the Courier mail server, version 1.1.8.

The original message was received on Mon, 07 Dec 2026 09:00:00 +0800
from localhost [127.0.0.1]

---------------------------------------------------------------------------

                           UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<{rcpt}>:
    {remote} [192.0.2.25]:
{transcript}

---------------------------------------------------------------------------

If your message was also sent to additional recipients, their delivery
status is not included in this report.
"""
    diag = transcript.splitlines()[-1].removeprefix("<<< ")
    report_notice(
        name,
        '"Courier mail server at mx.corp.example" <@>',
        "NOTICE: mail delivery status.",
        text,
        [(rcpt, "failed", status, f"smtp; {diag}", [f"Remote-MTA: dns; {remote}"])],
        mid,
        "mx.corp.example",
    )


courier(
    "courier-rcpt-500-no-such-user.eml",
    "iris@client.example",
    "mx.client.example",
    ">>> RCPT TO:<iris@client.example>\n<<< 550 No such user - psmtp",
    "5.0.0",
    "un2-09",
)
courier(
    "courier-data-500-mailbox-full.eml",
    "jade@client.example",
    "mx.client.example",
    ">>> DATA\n<<< 552 Requested mail action aborted: exceeded storage allocation",
    "5.0.0",
    "un2-10",
)


# ------------------------------------------------------------------ Apache James
def james(name, rcpt, error, mid):
    """Apache James' bounce text (its mailet's default notice): "Hi. This is the James mail
    server at ...", "Failed recipient(s):", "Error message:"."""
    text = f"""Hi. This is the James mail server at mx.corp.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.  Below
I include the list of recipients and the reason why I was unable to deliver
your message.

Failed recipient(s):
{rcpt}

Error message:
{error}

"""
    mixed_notice(name, "postmaster@corp.example", "[BOUNCE]", text, rcpt, mid)


james(
    "james-500-user-unknown.eml",
    "kale@client.example",
    "550 5.0.0 <kale@client.example>... User unknown",
    "un2-11",
)
james(
    "james-no-dns-entries.eml",
    "lars@client-gone.example",
    "There are no DNS entries for the hostname client-gone.example.  I cannot determine "
    "where to send this message.",
    "un2-12",
)


# ------------------------------------------------------------------ Oracle / Sun Messaging Server
def messaging_server(name, recipients, mid):
    """Oracle (Sun, iPlanet) Messaging Server's DSN: "This report relates to a message you sent
    with the following header fields:", per recipient "Recipient address:", "Reason:",
    "Diagnostic code:", "Remote system:". ``recipients``: (rcpt, reason, diagnostic, status)."""
    parts = "".join(
        f"""  Recipient address: {r}
  Original address: {r}
  Reason: {why}
  Diagnostic code: smtp;{diag}
  Remote system: dns;mx.client.example (TCP|192.0.2.10|48211|192.0.2.25|25) (mx.client.example ESMTP)

"""
        for r, why, diag, _ in recipients
    )
    text = f"""This report relates to a message you sent with the following header fields:

  Message-id: <{mid}@corp.example>
  Date: Mon, 07 Dec 2026 09:00:00 +0800 (CST)
  From: sales@corp.example
  To: {", ".join(r for r, *_ in recipients)}
  Subject: quotation

Your message cannot be delivered to the following recipients:

{parts}"""
    report_notice(
        name,
        "Internet Mail Delivery <postmaster@corp.example>",
        "Delivery Notification: Delivery has failed",
        text,
        [
            (r, "failed", st, f"smtp;{diag}", ["Remote-MTA: dns;mx.client.example"])
            for r, _, diag, st in recipients
        ],
        mid,
        "ms.corp.example (Oracle Communications Messaging Server 8.1.0.1)",
        boundary="Boundary_(ID_kT1hX0)",
    )


messaging_server(
    "messagingserver-500-no-mailbox-here.eml",
    [
        (
            "mona@client.example",
            "Remote SMTP server has rejected address",
            "550 5.0.0 Sorry, no mailbox here by that name",
            "5.0.0",
        )
    ],
    "un2-13",
)
messaging_server(
    "messagingserver-rejected-address-quota.eml",
    [
        (
            "nell@client.example",
            "Remote SMTP server has rejected address",
            "552 5.2.2 Mailbox quota exceeded",
            "5.1.1",
        )
    ],
    "un2-14",
)
messaging_server(
    "messagingserver-two-recipients.eml",
    [
        (
            "otto@client.example",
            "Remote SMTP server has rejected address",
            "550 5.1.1 unknown or illegal alias: otto@client.example",
            "5.1.1",
        ),
        (
            "pia@client.example",
            "Remote SMTP server has rejected address",
            "550 5.7.1 Service unavailable; client [203.0.113.7] blocked using bl.spamcop.net",
            "5.1.1",
        ),
    ],
    "un2-15",
)


# ------------------------------------------------------------------ Yahoo's own notices
text_notice(
    "yahoo-sorry-unable-rcpt-to-mailbox-unavailable.eml",
    "MAILER-DAEMON@yahoo.com",
    "Failure Notice",
    """Sorry, we were unable to deliver your message to the following address.

<quinn@client.example>:
550: Requested action not taken: mailbox unavailable [RCPT_TO]

--- Below this line is a copy of the message.
""",
    "quinn@client.example",
    "un2-16",
)
text_notice(
    "yahoo-sorry-unable-554-spam.eml",
    "MAILER-DAEMON@yahoo.com",
    "Failure Notice",
    """Sorry, we were unable to deliver your message to the following address.

<rhea@client.example>:
554: 5.1.1 Message rejected: spam content detected

--- Below this line is a copy of the message.
""",
    "rhea@client.example",
    "un2-17",
)
text_notice(
    "yahoo-message-from-mailbox-full.eml",
    "MAILER-DAEMON@mta1012.mail.ir2.yahoo.com",
    "failure delivery",
    """Message from  yahoo.com.
Unable to deliver message to the following address(es).

<saul@client.example>:
552 Mailbox size limit exceeded (#5.2.2)

--- Original message follows.
""",
    "saul@client.example",
    "un2-18",
)


# ------------------------------------------------------------------ AOL, Verizon
report_notice(
    "aol-rly-b1-under-510.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@relay.corp.example>",
    "Delivery Status Notification (Failure)",
    "Delivery to the following recipient failed permanently:\n\n     tara@aol.com\n",
    [
        (
            "tara@aol.com",
            "failed",
            "5.1.0",
            "smtp; 554 5.7.1 :(RLY:B1) The IP address you are sending from has been "
            "temporarily blocked. http://postmaster.aol.com/error/554-rly-b1",
            ["Remote-MTA: dns; mx-aol.mail.gm0.yahoodns.net"],
        )
    ],
    "un2-19",
    "relay.corp.example",
)
text_notice(
    "verizon-unknown-destination-addresses.eml",
    "postmaster@verizon.net",
    "Undeliverable Message",
    """This Message was undeliverable due to the following reason:

The following destination addresses were unknown (please check
the addresses and re-mail the message):

SMTP <uma@verizon.net>

Please reply to Postmaster@verizon.net
if you feel this message to be in error.
""",
    "uma@verizon.net",
    "un2-20",
)
text_notice(
    "verizon-temporarily-over-quota.eml",
    "postmaster@verizon.net",
    "Undeliverable Message",
    """This Message was undeliverable due to the following reason:

The user(s) account is temporarily over quota.

<vera@verizon.net>

Please reply to Postmaster@verizon.net
if you feel this message to be in error.
""",
    "vera@verizon.net",
    "un2-21",
)


# ------------------------------------------------------------------ Zoho, GMX / 1&1, MXLogic
text_notice(
    "zoho-error-code-550-mailbox-unavailable.eml",
    "mailer-daemon@mail.zoho.com",
    "Undelivered Mail Returned to Sender",
    """This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.

wade@client.example, ERROR CODE :550 - Requested action not taken: mailbox unavailable
""",
    "wade@client.example",
    "un2-22",
)
text_notice(
    "zoho-error-code-550-mailbox-disabled.eml",
    "mailer-daemon@mail.zoho.com",
    "Undelivered Mail Returned to Sender",
    """This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.

xena@client.example, ERROR CODE :550 - 5.1.1 Mailbox disabled for this recipient
""",
    "xena@client.example",
    "un2-23",
)
text_notice(
    "gmx-rcpt-command-mailbox-unavailable.eml",
    "Mail Delivery System <mailer-daemon@gmx.net>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

yuri@client.example:
SMTP error from remote server for RCPT TO command, host: mx.client.example (192.0.2.25) reason: 550 Requested action not taken: mailbox unavailable

--- The header of the original message is following. ---
""",
    "yuri@client.example",
    "un2-24",
)
text_notice(
    "einsundeins-data-command-511-over-quota.eml",
    "Mail Delivery System <mailer-daemon@kundenserver.de>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

zack@client.example:
SMTP error from remote server for DATA command, host: mx.client.example (192.0.2.25) reason: 550 5.1.1 <zack@client.example>: mailbox is over quota

--- The header of the original message is following. ---
""",
    "zack@client.example",
    "un2-25",
)
text_notice(
    "gmx-mail-command-policy-under-510.eml",
    "Mail Delivery System <mailer-daemon@gmx.net>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

abel@client.example:
SMTP error from remote server for MAIL FROM command, host: mx.client.example (192.0.2.25) reason: 554 5.1.0 Reject due to policy restrictions. For explanation visit https://postmaster.client.example/en/error-messages

--- The header of the original message is following. ---
""",
    "abel@client.example",
    "un2-26",
)
text_notice(
    "mxlogic-exim-qmail-status-571-no-mailbox.eml",
    "Mail Delivery System <MAILER-DAEMON@p01c11m075.mxlogic.net>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  beth@client.example
    SMTP error from remote mail server after RCPT TO:<beth@client.example>:
    host mx.client.example [192.0.2.25]: 550 Sorry, no mailbox here by that name. (#5.7.1)

------ This is a copy of the message, including all the headers. ------
""",
    "beth@client.example",
    "un2-27",
)


# ------------------------------------------------------------------ MailMarshal, McAfee, Barracuda
mixed_notice(
    "mailmarshal-511-quota-exceeded.eml",
    "postmaster@corp.example",
    'Undeliverable Mail: "quotation"',
    """Your message:

   From:    sales@corp.example
   Subject: quotation

Could not be delivered because of

552 5.1.1 Mailbox quota exceeded for this recipient

The following recipients were affected:
    cleo@client.example

Additional Information
======================

Original Sender:    <sales@corp.example>
Sender-MTA:         <192.0.2.10>
Remote-MTA:         <192.0.2.25>
Reporting-MTA:      <mm.corp.example>
Recipient:          <cleo@client.example>
Action:             Failed
Status:             5.1.1 (Mailbox quota exceeded for this recipient)
""",
    "cleo@client.example",
    "un2-28",
)
text_notice(
    "mcafee-rcpt-550-user-unknown.eml",
    "Mail Delivery System <postmaster@mcafee.corp.example>",
    "Delivery Status Notification",
    """--- The following addresses had delivery problems ---

<dirk@client.example>   (User unknown)

--- Transcript of session follows ---
 >>> RCPT TO:<dirk@client.example>
 <<< 550 <dirk@client.example>: unknown user account
""",
    "dirk@client.example",
    "un2-29",
)
report_notice(
    "barracuda-permanent-failure-blocked.eml",
    "MAILER-DAEMON@barracuda.corp.example",
    "Undelivered Mail Returned to Sender",
    """This is the mail system at host barracuda.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<emil@client.example>: host mx.client.example[192.0.2.25] said: 550
    permanent failure for one or more recipients (emil@client.example:blocked)
    (in reply to end of DATA command)
""",
    [
        (
            "emil@client.example",
            "failed",
            "5.0.0",
            "smtp; 550 permanent failure for one or more recipients (emil@client.example:blocked)",
            ["Remote-MTA: dns; mx.client.example"],
        )
    ],
    "un2-30",
    "barracuda.corp.example",
)


# ------------------------------------------------------------------ Amazon SES / WorkMail, PowerMTA
report_notice(
    "amazonses-500-no-such-user-here.eml",
    "MAILER-DAEMON@amazonses.com",
    "Delivery Status Notification (Failure)",
    "An error occurred while trying to deliver the mail to the following recipients:\n"
    "fern@client.example\n",
    [
        (
            "fern@client.example",
            "failed",
            "5.0.0",
            "smtp; 550 No Such User Here",
            ["Remote-MTA: dns; mx.client.example"],
        )
    ],
    "un2-31",
    "a8-30.smtp-out.amazonses.com",
    extra="X-SES-Outgoing: 2026.12.07-54.240.8.30\n",
)
report_notice(
    "workmail-447-expired-dns-lookup.eml",
    "MAILER-DAEMON@us-west-2.amazonses.com",
    "Delivery Status Notification (Failure)",
    "An error occurred while trying to deliver the mail to the following recipients:\n"
    "gina@client.example\n",
    [
        (
            "gina@client.example",
            "failed",
            "5.4.7",
            "smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.0 "
            "Unable to lookup DNS for client.example>",
            [],
        )
    ],
    "un2-32",
    "a27-12.smtp-out.us-west-2.amazonses.com",
    extra="X-Mailer: Amazon WorkMail\n",
)
report_notice(
    "powermta-no-such-domain.eml",
    "postmaster@pmta.corp.example",
    "Delivery report",
    "This is a delivery report for a message you sent.\n\n"
    "The message could not be delivered to one recipient:\n\n  hugo@client-gone.example\n",
    [
        (
            "hugo@client-gone.example",
            "failed",
            "5.1.2",
            "smtp;554 5.4.4 [internal] Domain lookup failed for client-gone.example: "
            "no such domain",
            ["X-PowerMTA-BounceCategory: bad-domain"],
        )
    ],
    "un2-33",
    "pmta.corp.example",
)


# ------------------------------------------------------------------ Google Groups, FML
report_notice(
    "googlegroups-may-not-exist.eml",
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "Delivery Status Notification (Failure)",
    """Hello sales@corp.example,

We're writing to let you know that the group you tried to contact (team) may not exist, or you may not have permission to post messages to the group. A few more details on why you weren't able to post:

 * You might have spelled or formatted the group name incorrectly.
 * The owner of the group may have removed this group.
 * You may need to join the group before receiving permission to post.
 * This group may not be open to posting.

If you have questions related to this or any other Google Group, visit the Help Center at https://groups.google.com/support/.

Thanks,

client.example admins
""",
    [
        (
            "team@client.example",
            "failed",
            "5.0.0",
            "",
            [],
        )
    ],
    "un2-34",
    "googlegroups.com",
    extra="X-Failed-Recipients: team@client.example\n",
)
text_notice(
    "fml-not-a-member.eml",
    "team-admin@ml.client.example",
    "NOT MEMBER article from sales@corp.example (team ML)",
    """You are not a member of this mailing list <team@ml.client.example>.

If you know the general guide of this list, please send mail with
the mail body

guide

to the address

team-ctl@ml.client.example

where guide is equal to GUIDE for case insensitive.
""",
    "team@ml.client.example",
    "un2-35",
    extra="X-ML-Name: team\nX-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n",
)


# ------------------------------------------------------------------ V5 sendmail
text_notice(
    "v5sendmail-host-unknown.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@mx.corp.example>",
    "Returned mail: Host unknown (Name server: client-gone.example: host not found)",
    """The original message was received at Mon, 7 Dec 2026 09:00:00 +0800
from localhost [127.0.0.1]

   ----- Transcript of session follows -----
550 <ivy@client-gone.example>... Host unknown (Name server: client-gone.example: host not found)

   ----- Unsent message follows -----
""",
    "ivy@client-gone.example",
    "un2-36",
)
text_notice(
    "v5sendmail-cannot-send-5-days.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@mx.corp.example>",
    "Returned mail: Cannot send message for 5 days",
    """The original message was received at Wed, 2 Dec 2026 09:00:00 +0800
from localhost [127.0.0.1]

   ----- Transcript of session follows -----
<jon@client.example>... Deferred: Connection timed out with mx.client.example.
Message could not be delivered for 5 days
Message will be deleted from queue

   ----- Unsent message follows -----
""",
    "jon@client.example",
    "un2-37",
)


# ------------------------------------------------------------------ Chinese providers' notices
mixed_notice(
    "mail139-gbk-user-not-exist.eml",
    "Postmaster@139.com",
    enc("系统退信", "gbk"),
    """您好，您发送的邮件未能成功投递到以下收件人：

收件人：kong.wei@139.com
退信原因：收件人邮箱地址不存在 (550 User not found)

请核对收件人地址是否正确。
""",
    "kong.wei@139.com",
    "un2-38",
    cs="gbk",
    cte="base64",
)
mixed_notice(
    "mail189-gb2312-mailbox-full.eml",
    "MAILER-DAEMON@189.cn",
    enc("退信通知", "gb2312"),
    """很抱歉，您的邮件无法投递给以下收件人：

lu.min@189.cn
原因：收件人邮箱空间已满，暂时无法接收邮件 (552 Mailbox full)
""",
    "lu.min@189.cn",
    "un2-39",
    cs="gb2312",
    cte="base64",
)
report_notice(
    "sohu-511-too-many-connections.eml",
    "MAILER-DAEMON@relay.corp.example",
    "Undelivered Mail Returned to Sender",
    """This is the mail system at host relay.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<ma.jun@sohu.com>: host mx.sohu.com[192.0.2.60] said: 550 5.1.1 Too many
    connections from your IP, try again later (in reply to RCPT TO command)
""",
    [
        (
            "ma.jun@sohu.com",
            "failed",
            "5.1.1",
            "smtp; 550 5.1.1 Too many connections from your IP, try again later",
            ["Remote-MTA: dns; mx.sohu.com"],
        )
    ],
    "un2-40",
    "relay.corp.example",
)
mixed_notice(
    "coremail-gbk-suspended.eml",
    "Postmaster@corp-cm.example",
    enc("系统退信", "gbk"),
    """您发送的邮件未能送达以下收件人：

ning.bo@client.example
退信原因：对方服务器返回：550 该账号已被停用 (account disabled)
""",
    "ning.bo@client.example",
    "un2-41",
    cs="gbk",
    cte="base64",
    extra="X-Mailer: Coremail Webmail Server Version XT5.0.13\n",
)
