"""Writes tests/corpus/unseen6/*.eml: python tests/corpus/unseen6/generate.py tests/corpus/unseen6

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen6.py."""

import base64
import quopri
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/corpus: noticekit
import noticekit
from noticekit import ORIG, enc, report_notice, text_notice

noticekit.OUT = OUT = Path(sys.argv[1])


def encoded(text, cs, cte):
    """``text`` in charset ``cs`` under transfer encoding ``cte`` (8bit, base64,
    quoted-printable)."""
    data = text.encode(cs)
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    return data


def part(ctype, text, cs="us-ascii", cte="8bit"):
    return (
        f'Content-Type: {ctype}; charset="{cs}"\nContent-Transfer-Encoding: {cte}\n\n'.encode()
        + encoded(text, cs, cte)
        + b"\n"
    )


def status_fields(reporting, per_rcpt, arrival=""):
    blocks = []
    for rcpt, action, status, diag, more in per_rcpt:
        lines = [f"Final-Recipient: rfc822; {rcpt}", f"Action: {action}", f"Status: {status}"]
        lines += more
        if diag:
            lines.append(f"Diagnostic-Code: {diag}")
        blocks.append("\n".join(lines))
    head = f"Reporting-MTA: dns; {reporting}\n" + (f"Arrival-Date: {arrival}\n" if arrival else "")
    return head + "\n" + "\n\n".join(blocks) + "\n"


def report(name, sender, subject, human: bytes, per_rcpt, mid, reporting, extra="", headers=True):
    """A multipart/report: ``human`` (one whole MIME part, headers included), the status part,
    the returned message's headers (or the whole message)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:03:00 +0100
MIME-Version: 1.0
{extra}Content-Type: multipart/report; report-type=delivery-status; boundary="rp6"
"""
    orig = ORIG.format(rcpt=per_rcpt[0][0], mid=mid)
    returned = (
        f"Content-Type: text/rfc822-headers\n\n{orig}"
        if headers
        else f"Content-Type: message/rfc822\n\n{orig}\nhello\n"
    )
    body = (
        b"--rp6\n"
        + human
        + b"--rp6\nContent-Type: message/delivery-status\n\n"
        + status_fields(reporting, per_rcpt, "Mon, 7 Dec 2026 09:00:01 +0100").encode()
        + f"\n--rp6\n{returned}\n--rp6--\n".encode()
    )
    noticekit.write(name, head, body)


def alternative(text, html, cs="utf-8", cte="quoted-printable"):
    """A multipart/alternative part (text and HTML), as Google's and Microsoft's notices are."""
    return (
        b'Content-Type: multipart/alternative; boundary="alt6"\n\n--alt6\n'
        + part("text/plain", text, cs, cte)
        + b"--alt6\n"
        + part("text/html", html, cs, cte)
        + b"--alt6--\n"
    )


def mixed(name, sender, subject, text, rcpt, mid, cs="us-ascii", cte="8bit", extra=""):
    """A multipart/mixed notice: the text part, then the returned message (message/rfc822)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:04:00 +0100
MIME-Version: 1.0
{extra}Content-Type: multipart/mixed; boundary="mx6"
"""
    body = (
        b"--mx6\n"
        + part("text/plain", text, cs, cte)
        + f"--mx6\nContent-Type: message/rfc822\n\n{ORIG.format(rcpt=rcpt, mid=mid)}\nhello\n"
        "--mx6--\n".encode()
    )
    noticekit.write(name, head, body)


# ------------------------------------------------------------------ gateways' own notice forms
def gateway_dsn(
    name,
    sender,
    subject,
    text,
    rcpt,
    status,
    reply,
    mid,
    reporting,
    remote="",
    action="failed",
    extra="",
):
    """A gateway's RFC 3464 report of the downstream's reply: no stage stated."""
    more = [f"Remote-MTA: dns; {remote}"] if remote else []
    report(
        name,
        sender,
        subject,
        part("text/plain", text),
        [(rcpt, action, status, f"smtp; {reply}" if reply else "", more)],
        mid,
        reporting,
        extra=extra,
    )


def google(
    name,
    rcpt,
    reply,
    status,
    mid,
    remote="mx.client.example",
    heading="Address not found",
    sentence=None,
):
    """Google Workspace's (Gmail's) notice of a remote's refusal: "** Address not found **",
    "The response from the remote server was:", text and HTML, then its report part."""
    sentence = sentence or (
        f"Your message wasn't delivered to {rcpt} because the address couldn't be found, or is"
        " unable to receive mail."
    )
    text = f"""
** {heading} **

{sentence}

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response from the remote server was:
{reply}
"""
    html = (
        f"<html><body><h2>{heading}</h2><p>{sentence}</p>"
        '<p><a href="https://support.google.com/mail/?p=NoSuchUser">Learn more</a></p>'
        f"<p>The response from the remote server was:</p><p>{reply}</p></body></html>"
    )
    report(
        name,
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        alternative(text, html),
        [
            (
                rcpt,
                "failed",
                status,
                f"smtp; {reply}",
                [
                    f"Remote-MTA: dns; {remote}. (192.0.2.61, the server for the domain"
                    f" {rcpt.split('@')[1]}.)",
                    "Last-Attempt-Date: Mon, 07 Dec 2026 01:00:05 -0800 (PST)",
                ],
            )
        ],
        mid,
        "googlemail.com",
        extra=f"X-Failed-Recipients: {rcpt}\nAuto-Submitted: auto-replied\n",
    )


def m365(name, rcpt, reply, status, mid, sender=None, html_only=True, title=None):
    """Exchange Online's NDR of a remote's refusal: the user's part (HTML only, base64, as
    Exchange Online writes it), "Diagnostic information for administrators", "Remote Server
    returned '...'", then the report part."""
    domain = rcpt.split("@")[1]
    title = title or f"Your message to {rcpt} couldn't be delivered."
    admin = (
        "Diagnostic information for administrators:\n\n"
        "Generating server: AM6PR02MB1234.eurprd02.prod.outlook.com\n\n"
        f"{rcpt}\nmx.{domain}\nRemote Server returned '{reply}'\n\n"
        "Original message headers:\n"
    )
    html = (
        '<html><body><table><tr><td style="font-size:16px">'
        f"{title}</td></tr><tr><td>The recipient's email server ({domain}) rejected it."
        "</td></tr></table><p><b>How to Fix It</b></p><p>Check the address, or contact the"
        " recipient by another means.</p>"
        f"<pre>{admin}</pre></body></html>"
    )
    human = (
        part("text/html", html, "utf-8", "base64")
        if html_only
        else alternative(admin, html, "utf-8", "base64")
    )
    report(
        name,
        sender or "Microsoft Outlook <postmaster@corpexample.onmicrosoft.com>",
        "Undeliverable: quotation",
        human,
        [(rcpt, "failed", status, f"smtp;{reply}", [f"Remote-MTA: dns;mx.{domain}"])],
        mid,
        "AM6PR02MB1234.eurprd02.prod.outlook.com",
        extra="X-MS-Exchange-Message-Is-Ndr: \nAuto-Submitted: auto-replied\n",
    )


def exchange_onprem(name, rcpt, remote, reply, status, mid, sender):
    """An on-premises Exchange (2013-2019) NDR written by the recipient's organisation, whose
    Exchange relayed to an internal host that refused: English text part and report part."""
    text = f"""Delivery has failed to these recipients or groups:

{rcpt}
A problem occurred while delivering your message to this email address. Try sending your
message again. If the problem continues, please contact your helpdesk.

Diagnostic information for administrators:

Generating server: EXCH01.client.example

{rcpt}
{remote}
Remote Server returned '{reply}'

Original message headers:
"""
    report(
        name,
        sender,
        "Undeliverable: quotation",
        part("text/plain", text),
        [(rcpt, "failed", status, f"smtp;{reply}", [f"Remote-MTA: dns;{remote}"])],
        mid,
        "EXCH01.client.example",
        extra="X-MS-Exchange-Message-Is-Ndr: \nAuto-Submitted: auto-replied\n",
    )


def exchange2010(name, rcpt, line, status, reply, mid):
    """Exchange 2010's NDR of the recipient's organisation, relaying to an internal legacy host:
    the administrators' line in its "#< #status smtp;reply> #SMTP#" form."""
    text = f"""Delivery has failed to these recipients or groups:

{rcpt}
A problem occurred while delivering your message to this email address. Try sending your
message again. If the problem continues, please contact your helpdesk.

Diagnostic information for administrators:

Generating server: EXCH01.client.example

{rcpt}
{line}

Original message headers:
"""
    report(
        name,
        "postmaster@client.example",
        "Undeliverable: quotation",
        part("text/plain", text),
        [(rcpt, "failed", status, f"smtp;{reply}", [])],
        mid,
        "EXCH01.client.example",
    )


def cisco(name, rcpt, line, mid, host="esa1.client.iphmx.com"):
    """Cisco Secure Email (IronPort AsyncOS) bounce: its classification line, then the
    remote's code and words as it quotes them."""
    text = f"""The message you sent to {rcpt.split("@")[1]}/{rcpt} was rejected by the recipient's
mail system.

Message delivery has failed for the following recipient:

{rcpt}
{line}
"""
    mixed(
        name,
        f"Mail Delivery System <MAILER-DAEMON@{host}>",
        "Delivery Status Notification (Failure)",
        text,
        rcpt,
        mid,
    )


def zh(
    name,
    sender,
    cs,
    cte,
    rcpt,
    reason,
    returned,
    mid,
    subject="退信：quotation",
    lead="很抱歉您发送的邮件被退回，以下是该邮件的相关信息：",
):
    """A Chinese provider's notice (Exmail / NetEase Qiye / Alibaba shape) relaying a remote's
    reply: the recipient, the reason in Chinese, what the remote server returned."""
    body = f"""{lead}

被退回的邮件：quotation
收件人：{rcpt}
发送时间：2026年12月7日 16:00

退信原因：{reason}
"""
    if returned:
        body += f"对方服务器返回：{returned}\n"
    head = f"""From: {sender}
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Mon, 7 Dec 2026 17:05:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="zh6"
"""
    data = (
        b"--zh6\n"
        + part("text/plain", body, cs, cte)
        + f"--zh6\nContent-Type: message/rfc822\n\n{ORIG.format(rcpt=rcpt, mid=mid)}\nhello\n"
        "--zh6--\n".encode()
    )
    noticekit.write(name, head, data)


# ------------------------------------------------ (a) gateways relaying a downstream's user unknown
text_notice(
    "proofpoint-essentials-530-other-problem-no-such-user-here.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@us1.ppe-hosted.com>",
    "Undeliverable: quotation",
    """The following message to <amos.bell@client.example> was undeliverable.
The reason for the problem:
5.3.0 - Other mail system problem 550-'No such user here'

---------- Original message ----------
""",
    "amos.bell@client.example",
    "un6-01",
)
gateway_dsn(
    "mimecast-dsn-500-user-unknown-no-stage.eml",
    "Mimecast <postmaster@eu-smtp-delivery-1.mimecast.com>",
    "Delivery Status Notification (Failure)",
    """Your message could not be delivered to one or more recipients.

Recipient: beth.carr@client.example
Reason: Rejected by the recipient's mail server.
""",
    "beth.carr@client.example",
    "5.0.0",
    "550 5.0.0 <beth.carr@client.example>... User unknown",
    "un6-02",
    "eu-smtp-delivery-1.mimecast.com",
    remote="mail.client.example",
)
text_notice(
    "mimecast-text-550-mailbox-does-not-exist.eml",
    "Mimecast Postmaster <postmaster@us-smtp-delivery-7.mimecast.com>",
    "Undeliverable Message: quotation",
    """Your message couldn't be delivered to the recipient(s) shown below.

Recipient: cody.dunn@client.example
Reason: Rejected by the recipient's mail server.
Remote server replied: 550 Mailbox cody.dunn@client.example does not exist

--- Original message headers ---
""",
    "cody.dunn@client.example",
    "un6-03",
)
mixed(
    "barracuda-ess-text-550-no-such-user.eml",
    "Barracuda Email Security Service <mailer-daemon@ess.barracudanetworks.com>",
    "Undelivered Mail: quotation",
    """This is the mail delivery service of the Barracuda Email Security Service.

Your message could not be delivered to the following recipient:

    dina.egan@client.example

The recipient's mail server answered:

    550 No such user (dina.egan@client.example)

The message has not been delivered and will not be retried.
""",
    "dina.egan@client.example",
    "un6-04",
)
cisco(
    "cisco-secure-email-530-other-problem-user-does-not-exist.eml",
    "eli.ford@client.example",
    "5.3.0 - Other mail system problem ('550', ['5.0.0 <eli.ford@client.example>: user does not"
    " exist'])",
    "un6-05",
)
gateway_dsn(
    "sophos-dsn-550-550-mailbox-unavailable-user-does-not-exist.eml",
    "Sophos Email <mailer-daemon@eu-west-1.prod.hydra.sophos.com>",
    "Undelivered Mail Returned to Sender",
    """The following recipient's mail server refused your message:

  fay.gale@client.example
""",
    "fay.gale@client.example",
    "5.5.0",
    "550 5.5.0 Requested action not taken: mailbox unavailable (user does not exist)",
    "un6-06",
    "eu-west-1.prod.hydra.sophos.com",
    remote="mx.client.example",
)
mixed(
    "trendmicro-ems-571-recipient-address-rejected-user-unknown.eml",
    "Trend Micro Email Security <postmaster@tmes.trendmicro.eu>",
    "Undeliverable: quotation",
    """Your message was not delivered.

Recipient: gus.hale@client.example
Reason: 554 5.7.1 <gus.hale@client.example>: Recipient address rejected: user unknown
""",
    "gus.hale@client.example",
    "un6-07",
)
text_notice(
    "messagelabs-symantec-500-user-unknown.eml",
    "MAILER-DAEMON@messagelabs.com",
    "failure notice",
    """This is the mail delivery agent at messagelabs.com.
I was not able to deliver your message to the following addresses.

<hana.ivey@client.example>:
192.0.2.71 does not like recipient.
Remote host said: 550 5.0.0 <hana.ivey@client.example>... User unknown
Giving up on 192.0.2.71.

--- Below this line is a copy of the message.
""",
    "hana.ivey@client.example",
    "un6-08",
)
mixed(
    "forcepoint-text-550-recipient-unknown.eml",
    "Forcepoint Email Security <postmaster@mailcontrol.com>",
    "Undeliverable: quotation",
    """Delivery has failed to these recipients:

    ian.jones@client.example

Reason: Remote SMTP server returned: 550 Recipient unknown
""",
    "ian.jones@client.example",
    "un6-09",
)
gateway_dsn(
    "hornetsecurity-dsn-500-no-such-recipient.eml",
    "Mail Delivery System <MAILER-DAEMON@mx-gate01.hornetsecurity.com>",
    "Undelivered Mail Returned to Sender",
    """Your message could not be delivered.

<jade.kemp@client.example>: 550 No such recipient
""",
    "jade.kemp@client.example",
    "5.0.0",
    "550 No such recipient",
    "un6-10",
    "mx-gate01.hornetsecurity.com",
    remote="mail.client.example",
)
gateway_dsn(
    "fortimail-dsn-550-521-user-unknown.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@fml.client.example>",
    "Returned mail: see transcript for details",
    """The original message was received at Mon, 7 Dec 2026 09:00:02 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had permanent fatal errors -----
<karl.lowe@client.example>
    (reason: 550 5.2.1 <karl.lowe@client.example>... User unknown)
""",
    "karl.lowe@client.example",
    "5.2.1",
    "550 5.2.1 <karl.lowe@client.example>... User unknown",
    "un6-11",
    "fml.client.example",
    extra="X-FEAS-Client-IP: 198.51.100.7\nX-Mailer: FortiMail\n",
)
mixed(
    "spamexperts-text-550-550-no-such-user.eml",
    "Mail Delivery System <mailer-daemon@mx.spamexperts.com>",
    "Mail delivery failed: returning message to sender",
    """Your message could not be delivered to the following recipient:

  lena.moss@client.example

The destination server (mail.client.example) said:
  550 5.5.0 No such user
""",
    "lena.moss@client.example",
    "un6-12",
)
mixed(
    "barracuda-ess-text-541-dbeb-access-denied.eml",
    "Barracuda Email Security Service <mailer-daemon@ess.barracudanetworks.com>",
    "Undelivered Mail: quotation",
    """This is the mail delivery service of the Barracuda Email Security Service.

Your message could not be delivered to the following recipient:

    milo.nash@client.example

The recipient's mail server answered:

    550 5.4.1 Recipient address rejected: Access denied. [AM6PEPF00000001.eurprd04.prod.outlook.com]

The message has not been delivered and will not be retried.
""",
    "milo.nash@client.example",
    "un6-13",
)

# ------------------------------------------------ (b) Google Workspace relaying a remote's reply
google(
    "gworkspace-response-550-500-user-unknown.eml",
    "nora.odom@client.example",
    "550 5.0.0 <nora.odom@client.example>... User unknown",
    "5.0.0",
    "un6-14",
)
google(
    "gworkspace-response-550-550-mailbox-not-found.eml",
    "otis.page@client.example",
    "550 5.5.0 <otis.page@client.example>: mailbox not found",
    "5.5.0",
    "un6-15",
)
google(
    "gworkspace-response-554-571-unknown-user.eml",
    "pia.quill@client.example",
    "554 5.7.1 <pia.quill@client.example>: Unknown user",
    "5.7.1",
    "un6-16",
)
google(
    "gworkspace-response-550-no-status-invalid-recipient.eml",
    "quinn.rowe@client.example",
    "550 Invalid recipient <quinn.rowe@client.example>",
    "5.0.0",
    "un6-17",
)
google(
    "gworkspace-response-550-541-dbeb-access-denied.eml",
    "rhea.sims@client.example",
    "550 5.4.1 Recipient address rejected: Access denied. [DB8EUR05FT012.eop-eur05.prod.protection.outlook.com]",
    "5.4.1",
    "un6-18",
    remote="client-example.mail.protection.outlook.com",
)

# ------------------------------------------------ (c) Microsoft 365 relaying a remote's reply
m365(
    "m365-remote-server-returned-550-500-user-unknown.eml",
    "saul.tate@client.example",
    "550 5.0.0 <saul.tate@client.example>... User unknown",
    "5.0.0",
    "un6-19",
)
m365(
    "m365-remote-server-returned-550-550-user-does-not-exist.eml",
    "tara.vale@client.example",
    "550 5.5.0 Requested action not taken: mailbox unavailable. User does not exist",
    "5.5.0",
    "un6-20",
    sender="Mail Delivery System <MAILER-DAEMON@AM6PR02MB1234.eurprd02.prod.outlook.com>",
)
m365(
    "m365-remote-server-returned-554-571-unknown-user.eml",
    "ugo.wade@client.example",
    "554 5.7.1 <ugo.wade@client.example>: Recipient address rejected: User unknown",
    "5.7.1",
    "un6-21",
    sender="postmaster@corpexample.onmicrosoft.com",
    html_only=False,
)
m365(
    "m365-remote-server-returned-550-no-status-no-such-user.eml",
    "vera.xiong@client.example",
    "550 No such user here",
    "5.0.0",
    "un6-22",
    sender="postmaster@corpexample.onmicrosoft.com",
)

# ------------------------------------------------ (d) on-premises relays to an internal host
exchange_onprem(
    "exchange-onprem-relay-domino-550-not-listed.eml",
    "walt.york@client.example",
    "notes01.client.local",
    "550 5.0.0 User walt.york@client.example not listed in Domino Directory",
    "5.0.0",
    "un6-23",
    "Microsoft Exchange <postmaster@client.example>",
)
exchange_onprem(
    "exchange-onprem-relay-legacy-550-500-user-unknown.eml",
    "xia.zhou@client.example",
    "legacy-mail.client.local",
    "550 5.0.0 <xia.zhou@client.example>... User unknown",
    "5.0.0",
    "un6-24",
    "postmaster@client.example",
)
exchange2010(
    "exchange2010-onprem-relay-legacy-hash-500-user-unknown.eml",
    "yann.abel@client.example",
    "#< #5.0.0 smtp;550 5.0.0 <yann.abel@client.example>... User unknown> #SMTP#",
    "5.0.0",
    "550 5.0.0 <yann.abel@client.example>... User unknown",
    "un6-25",
)
report_notice(
    "sendmail-relay-domino-550-no-such-user-no-transcript.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@gw.client.example>",
    "Returned mail: see transcript for details",
    """The original message was received at Mon, 7 Dec 2026 09:00:02 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had permanent fatal errors -----
<zoe.baird@client.example>
    (reason: 550 No such user)
    (expanded from: <zoe.baird@client.example>)
""",
    [
        (
            "zoe.baird@client.example",
            "failed",
            "5.0.0",
            "SMTP; 550 No such user",
            ["Remote-MTA: DNS; domino.client.local"],
        )
    ],
    "un6-26",
    "gw.client.example",
)

# ------------------------------------------------ (e) Chinese providers' outbound relays
zh(
    "exmail-hwsmtp-zh-utf8-remote-550-no-such-user.eml",
    "PostMaster@hwsmtp.exmail.qq.com",
    "utf-8",
    "base64",
    "ada.chen@client.example",
    "收件人地址不存在，对方服务器拒收。",
    "550 No such user",
    "un6-27",
)
zh(
    "exmail-hwsmtp-zh-gbk-qp-remote-550-550-mailbox-unavailable.eml",
    "PostMaster@hwsmtp.exmail.qq.com",
    "gbk",
    "quoted-printable",
    "bo.deng@client.example",
    "对方邮箱不存在，请核对收件人地址后重新发送。",
    "550 5.5.0 Requested action not taken: mailbox unavailable",
    "un6-28",
)
zh(
    "netease-qiye-zh-utf8-remote-550-500-user-unknown.eml",
    "postmaster@qiye.163.com",
    "utf-8",
    "base64",
    "cai.fang@client.example",
    "收件人不存在（对方服务器返回用户不存在）。",
    "550 5.0.0 <cai.fang@client.example>: User unknown",
    "un6-29",
    subject="系统退信：quotation",
)
zh(
    "netease-qiye-zh-gb18030-qp-remote-554-571-no-such-user.eml",
    "postmaster@qiye.163.com",
    "gb18030",
    "quoted-printable",
    "dong.guo@client.example",
    "对方服务器拒收：该收件人不存在。",
    "554 5.7.1 <dong.guo@client.example>: No such user",
    "un6-30",
    subject="系统退信：quotation",
)
zh(
    "aliyun-qiye-zh-utf8-8bit-remote-550-user-not-found.eml",
    "postmaster@qiye.aliyun.com",
    "utf-8",
    "8bit",
    "fei.hu@client.example",
    "收件人不存在。",
    "550 User not found",
    "un6-31",
    subject="退信通知：quotation",
)
zh(
    "aliyun-zh-gbk-remote-450-411-failed-after-retries.eml",
    "postmaster@service.aliyun.com",
    "gbk",
    "base64",
    "gang.jin@client.example",
    "多次投递失败，收件人不存在，邮件已被退回。",
    "450 4.1.1 <gang.jin@client.example>: Recipient address rejected: User unknown in local"
    " recipient table",
    "un6-32",
    subject="退信通知：quotation",
)
zh(
    "coremail-relay-zh-gbk-remote-550-500-user-unknown.eml",
    "postmaster@mail.corp-cn.example",
    "gbk",
    "base64",
    "hui.kong@client.example",
    "收件人地址不存在。",
    "550 5.0.0 <hui.kong@client.example>... User unknown",
    "un6-33",
    subject="系统退信：quotation",
    lead="您发送的邮件未能成功投递，系统已将邮件退回。",
)

# ------------------------------------------------ (f) relays whose words say the address is fine
gateway_dsn(
    "proofpoint-dsn-550-500-mailbox-full-over-quota.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@mx0b-00112233.pphosted.com>",
    "Returned mail: see transcript for details",
    """   ----- The following addresses had permanent fatal errors -----
<ivan.lamb@client.example>
    (reason: 550 5.0.0 <ivan.lamb@client.example>... Mailbox full, user over quota)
""",
    "ivan.lamb@client.example",
    "5.0.0",
    "550 5.0.0 <ivan.lamb@client.example>... Mailbox full, user over quota",
    "un6-34",
    "mx0b-00112233.pphosted.com",
)
text_notice(
    "mimecast-text-554-571-client-host-blocked-rbl.eml",
    "Mimecast Postmaster <postmaster@us-smtp-delivery-7.mimecast.com>",
    "Undeliverable Message: quotation",
    """Your message couldn't be delivered to the recipient(s) shown below.

Recipient: jill.mann@client.example
Reason: Rejected by the recipient's mail server.
Remote server replied: 554 5.7.1 Service unavailable; Client host [205.139.110.61] blocked using bl.spamcop.net

--- Original message headers ---
""",
    "jill.mann@client.example",
    "un6-35",
)
gateway_dsn(
    "barracuda-dsn-failed-451-471-greylisted.eml",
    "Barracuda Email Security Service <mailer-daemon@ess.barracudanetworks.com>",
    "Undelivered Mail: quotation",
    """Your message could not be delivered after repeated attempts: the recipient's mail server
kept deferring it.
""",
    "kent.neal@client.example",
    "4.7.1",
    "451 4.7.1 Greylisted, please try again in 300 seconds",
    "un6-36",
    "ess.barracudanetworks.com",
    remote="mx.client.example",
)
google(
    "gworkspace-response-452-422-over-quota-gave-up.eml",
    "lara.ortiz@client.example",
    "452 4.2.2 <lara.ortiz@client.example>: Mailbox is full, over quota",
    "4.2.2",
    "un6-37",
    heading="Message not delivered",
    sentence="Your message couldn't be delivered to lara.ortiz@client.example because the"
    " remote server's mailbox is full. Delivery was retried for 48 hours.",
)
m365(
    "m365-remote-server-returned-554-571-relay-access-denied.eml",
    "mark.pratt@client.example",
    "554 5.7.1 <mark.pratt@client.example>: Relay access denied",
    "5.7.1",
    "un6-38",
)
cisco(
    "cisco-secure-email-547-expired-421-too-many-connections.eml",
    "nell.quinn@client.example",
    "5.4.7 - Delivery expired (message too old) ('421', ['4.7.0 Too many concurrent"
    " connections from this IP'])",
    "un6-39",
)
zh(
    "exmail-hwsmtp-zh-utf8-remote-550-571-judged-spam.eml",
    "PostMaster@hwsmtp.exmail.qq.com",
    "utf-8",
    "base64",
    "ning.ren@client.example",
    "对方服务器拒收：邮件被判定为垃圾邮件。",
    "550 5.7.1 Message rejected as spam by Content Filtering",
    "un6-40",
)
gateway_dsn(
    "hornetsecurity-dsn-550-521-mailbox-disabled.eml",
    "Mail Delivery System <MAILER-DAEMON@mx-gate01.hornetsecurity.com>",
    "Undelivered Mail Returned to Sender",
    """Your message could not be delivered.

<olaf.reed@client.example>: 550 5.2.1 Mailbox disabled, not accepting messages
""",
    "olaf.reed@client.example",
    "5.2.1",
    "550 5.2.1 Mailbox disabled, not accepting messages",
    "un6-41",
    "mx-gate01.hornetsecurity.com",
    remote="mail.client.example",
)
gateway_dsn(
    "sophos-dsn-553-518-sender-domain-not-found.eml",
    "Sophos Email <mailer-daemon@eu-west-1.prod.hydra.sophos.com>",
    "Undelivered Mail Returned to Sender",
    """The following recipient's mail server refused your message:

  pete.shaw@client.example
""",
    "pete.shaw@client.example",
    "5.1.8",
    "553 5.1.8 <sales@corp.example>: Sender address rejected: Domain not found",
    "un6-42",
    "eu-west-1.prod.hydra.sophos.com",
    remote="mx.client.example",
)

# ------------------------------------------------ (g) several recipients, a relay report, a delay
report(
    "mimecast-two-recipients-unknown-and-full.eml",
    "Mimecast <postmaster@eu-smtp-delivery-1.mimecast.com>",
    "Delivery Status Notification (Failure)",
    part(
        "text/plain",
        """Your message could not be delivered to one or more recipients.

Recipient: rita.stone@client.example
Reason: 550 5.0.0 <rita.stone@client.example>... User unknown

Recipient: sam.teal@client.example
Reason: 552 5.2.2 <sam.teal@client.example>: Mailbox full
""",
    ),
    [
        (
            "rita.stone@client.example",
            "failed",
            "5.0.0",
            "smtp; 550 5.0.0 <rita.stone@client.example>... User unknown",
            ["Remote-MTA: dns; mail.client.example"],
        ),
        (
            "sam.teal@client.example",
            "failed",
            "5.2.2",
            "smtp; 552 5.2.2 <sam.teal@client.example>: Mailbox full",
            ["Remote-MTA: dns; mail.client.example"],
        ),
    ],
    "un6-43",
    "eu-smtp-delivery-1.mimecast.com",
)
report(
    "gworkspace-two-recipients-unknown-and-rate-limited.eml",
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "Delivery Status Notification (Failure)",
    part(
        "text/plain",
        """** Message not delivered **

There was a problem delivering your message to tess.upton@client.example and
ugo.vance@client.example. See the technical details below.

The response from the remote server was:
550 5.0.0 <tess.upton@client.example>... No such user
451 4.7.1 ugo.vance@client.example: Rate limit exceeded for this sender, try again later
""",
    ),
    [
        (
            "tess.upton@client.example",
            "failed",
            "5.0.0",
            "smtp; 550 5.0.0 <tess.upton@client.example>... No such user",
            ["Remote-MTA: dns; mx.client.example"],
        ),
        (
            "ugo.vance@client.example",
            "failed",
            "4.7.1",
            "smtp; 451 4.7.1 ugo.vance@client.example: Rate limit exceeded for this sender,"
            " try again later",
            ["Remote-MTA: dns; mx.client.example"],
        ),
    ],
    "un6-44",
    "googlemail.com",
)
gateway_dsn(
    "proofpoint-relayed-report.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@mx0b-00112233.pphosted.com>",
    "Return receipt",
    """The original message was received at Mon, 7 Dec 2026 09:00:02 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had successful delivery notifications -----
<vic.wells@client.example>  (relayed to non-DSN-aware mailer)
""",
    "vic.wells@client.example",
    "2.0.0",
    "",
    "un6-45",
    "mx0b-00112233.pphosted.com",
    remote="mail.client.example",
    action="relayed",
)
gateway_dsn(
    "sophos-delay-451-411-user-unknown-still-trying.eml",
    "Sophos Email <mailer-daemon@eu-west-1.prod.hydra.sophos.com>",
    "Delayed Mail (still being retried)",
    """This is a warning only: your message has not yet been delivered.

  wren.xu@client.example

The recipient's mail server answered with a temporary error. Delivery attempts will
continue for up to 4 days; you do not need to resend your message.
""",
    "wren.xu@client.example",
    "4.1.1",
    "451 4.1.1 <wren.xu@client.example>: Recipient address rejected: User unknown, try later",
    "un6-46",
    "eu-west-1.prod.hydra.sophos.com",
    remote="mx.client.example",
    action="delayed",
)
