"""Writes tests/corpus/unseen/*.eml: python tests/corpus/unseen/generate.py tests/corpus/unseen

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen.py."""

import base64
import sys
from email.header import Header
from pathlib import Path

OUT = Path(sys.argv[1])


def enc(text, cs):
    """An RFC 2047 encoded-word labelled ``cs`` as mail systems write it."""
    if cs in ("utf-8", "iso-8859-1"):
        return Header(text, cs).encode()
    return f"=?{cs}?B?{base64.b64encode(text.encode(cs)).decode()}?="


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


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


# ------------------------------------------------------------------ RFC 3464 reports
def postfix_dsn(
    name,
    rcpt,
    status,
    diag,
    mid,
    stage="RCPT TO",
    remote="mx.client.example",
    action="failed",
    text_extra="",
):
    """Postfix's bounce(8) notice: the human part states the stage ("in reply to ... command")."""
    said = f"host {remote}[192.0.2.25] said: {diag}"
    if stage:
        said += f" (in reply to {stage} command)"
    head = """From: MAILER-DAEMON@mx.corp.example (Mail Delivery System)
To: sales@corp.example
Subject: Undelivered Mail Returned to Sender
Date: Mon, 7 Dec 2026 09:03:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="pf"
"""
    body = f"""This is a MIME-encapsulated message.

--pf
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.
{text_extra}
<{rcpt}>: {said}

--pf
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.example
Arrival-Date: Mon, 7 Dec 2026 09:00:00 +0800

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; {remote}
Diagnostic-Code: smtp; {diag}

--pf
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=mid)}
--pf--
"""
    write(name, head, body)


def gateway_dsn(name, rcpt, status, diag, mid, remote, reporter="gw.corp.example"):
    """A bare RFC 3464 report (RFC 3464 section 6's examples): no stage stated anywhere."""
    head = f"""From: postmaster@{reporter}
To: sales@corp.example
Subject: Delivery Status Notification (Failure)
Date: Mon, 7 Dec 2026 09:04:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="gw"
"""
    body = f"""--gw
Content-Type: text/plain; charset=us-ascii

This is an automatically generated Delivery Status Notification.

Delivery to the following recipients failed.

       {rcpt}

--gw
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporter}

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {status}
Remote-MTA: dns; {remote}
Diagnostic-Code: smtp; {diag}

--gw
Content-Type: message/rfc822

{ORIG.format(rcpt=rcpt, mid=mid)}
hello
--gw--
"""
    write(name, head, body)


# user-unknown wording: no X.1.x status, the stage stated
postfix_dsn(
    "postfix-rcpt-500-no-such-user-here.eml",
    "ada.lind@client.example",
    "5.0.0",
    "550 No such user here",
    "uns-01",
)
postfix_dsn(
    "postfix-rcpt-521-user-unknown.eml",
    "bo.stahl@client.example",
    "5.2.1",
    "550 5.2.1 <bo.stahl@client.example>... User unknown",
    "uns-02",
)
postfix_dsn(
    "postfix-rcpt-411-gave-up-user-unknown.eml",
    "dora.kis@client.example",
    "4.1.1",
    "450 4.1.1 <dora.kis@client.example>: Recipient address rejected: User unknown in "
    "local recipient table",
    "uns-04",
    text_extra="\nThe message was not delivered for 5 days; giving up.\n",
)
# user-unknown wording: no stage stated, the provider that answered named by Remote-MTA
gateway_dsn(
    "gateway-500-exmail-mailbox-not-found.eml",
    "eli.wu@client.example",
    "5.0.0",
    "550 Mailbox not found. http://service.exmail.qq.com/cgi-bin/help?subtype=1&&id=20022"
    "&&no=1000728",
    "uns-05",
    "mxbiz1.qq.com",
)
gateway_dsn(
    "gateway-500-netease-qiye-user-not-found.eml",
    "fan.li@client.example",
    "5.0.0",
    "550 User not found: fan.li@client.example",
    "uns-06",
    "qiye163mx01.mxmail.netease.com",
)
gateway_dsn(
    "gateway-500-exchange-recipnotfound.eml",
    "gus.ek@client.example",
    "5.0.0",
    "550 5.0.0 RESOLVER.ADR.RecipNotFound; not found",
    "uns-07",
    "client-example.mail.protection.outlook.com",
)
# strong words under a 5.1.x status
postfix_dsn(
    "postfix-511-rbl-blocked.eml",
    "ida.berg@client.example",
    "5.1.1",
    "554 5.1.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org",
    "uns-09",
)
postfix_dsn(
    "postfix-510-rate-limited.eml",
    "jan.vos@client.example",
    "5.1.0",
    "550 5.1.0 Rate limited: too many messages from 203.0.113.7, slow down",
    "uns-10",
)
postfix_dsn(
    "postfix-511-security-policy.eml",
    "kai.roe@client.example",
    "5.1.1",
    "550 5.1.1 Message rejected due to security policy",
    "uns-11",
    stage="end of DATA",
)
postfix_dsn(
    "postfix-512-mailbox-disabled.eml",
    "nia.ford@client.example",
    "5.1.2",
    "550 5.1.2 <nia.ford@client.example>: mailbox disabled, not accepting messages",
    "uns-14",
)
postfix_dsn(
    "postfix-511-ip-blacklist-zh.eml",
    "ou.yang@client.example",
    "5.1.1",
    "550 5.1.1 发件人IP已被列入黑名单 (sender IP in blacklist)",
    "uns-15",
)


# ------------------------------------------------------------------ hMailServer's notice
def hmail(name, rcpt, sent, replied, mid):
    """hMailServer's default bounce text (its Settings > Advanced > ... bounce template macros:
    %MACRO_RECIPIENTS%, "Error Type: SMTP", "Remote server (%MACRO_IP%) issued an error.",
    "hMailServer sent: %MACRO_SENT%", "Remote server replied: %MACRO_RECEIVED%")."""
    head = """From: mailer-daemon@mail.corp.example
To: sales@corp.example
Subject: Message undeliverable: quotation
Date: Mon, 7 Dec 2026 09:05:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="hm"
"""
    body = f"""--hm
Content-Type: text/plain; charset="us-ascii"

Your message did not reach some or all of the intended recipients.

   Sent: Mon, 7 Dec 2026 09:00:00 +0800
   Subject: quotation

The following recipient(s) could not be reached:

{rcpt}
   Error Type: SMTP
   Remote server (192.0.2.40) issued an error.
   hMailServer sent: {sent}
   Remote server replied: {replied}

--hm
Content-Type: message/rfc822

{ORIG.format(rcpt=rcpt, mid=mid)}
hello
--hm--
"""
    write(name, head, body)


hmail(
    "hmailserver-rcpt-550-unknown-user.eml",
    "ray.dunn@client.example",
    "RCPT TO:<ray.dunn@client.example>",
    "550 Unknown user",
    "uns-17",
)
hmail(
    "hmailserver-rcpt-550-mailbox-not-found.eml",
    "sue.park@client.example",
    "RCPT TO:<sue.park@client.example>",
    "550 Requested action not taken: mailbox not found",
    "uns-18",
)
hmail(
    "hmailserver-data-552-mailbox-full.eml",
    "tom.hale@client.example",
    "DATA",
    "552 5.1.1 Requested mail action aborted: mailbox full",
    "uns-19",
)


# ------------------------------------------------------------------ providers' own notices
def plain_notice(name, sender, subject, cs, text, rcpt, mid, cte="base64"):
    head = f"""From: {sender}
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Mon, 7 Dec 2026 09:06:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="pn"
"""
    data = text.encode(cs)
    body = (
        f"""--pn
Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}

""".encode()
        + (b64(data) if cte == "base64" else data)
        + f"""
--pn
Content-Type: message/rfc822

{ORIG.format(rcpt=rcpt, mid=mid)}
hello
--pn--
""".encode()
    )
    write(name, head, body)


plain_notice(
    "netease-gb2312-user-not-found.eml",
    "Postmaster@163.com",
    "系统退信",
    "gb2312",
    "您发送的邮件无法送达以下收件人：\n\n    wang.fang@163.com\n\n"
    "退信原因：收件人帐号不存在\n服务器返回信息：550 User not found: wang.fang@163.com\n\n"
    "Your message could not be delivered. Reason: the recipient's account does not exist.\n",
    "wang.fang@163.com",
    "uns-20",
)
plain_notice(
    "sina-gbk-user-not-exist.eml",
    "MAILER-DAEMON@sina.com",
    "退信通知",
    "gbk",
    "抱歉，您的邮件未能成功发送到以下地址：\n\n    xu.lei@sina.com\n\n"
    "原因：该用户不存在，请核对收件人地址。\n",
    "xu.lei@sina.com",
    "uns-21",
    cte="8bit",
)
plain_notice(
    "exmail-gbk-511-mailbox-full-zh.eml",
    "PostMaster@exmail.qq.com",
    "退信：quotation",
    "gbk",
    "很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n\n无法到达：yan.bo@client.example\n"
    "退信原因：收件人邮箱空间已满\n服务器返回：550 5.1.1 收件人邮箱空间已满，请稍后再发\n",
    "yan.bo@client.example",
    "uns-22",
)
plain_notice(
    "ja-iso2022jp-552-mailbox-full.eml",
    "MAILER-DAEMON@mail.isp.example",
    "配信エラー: quotation",
    "iso-2022-jp",
    "以下のアドレスへのメール配信に失敗しました。\n\n    kenta.abe@client.example\n\n"
    "理由: 宛先のメールボックスの容量が不足しています。\n"
    "サーバーの応答: 552 5.2.2 Mailbox full\n",
    "kenta.abe@client.example",
    "uns-23",
    cte="7bit",
)
plain_notice(
    "tw-big5-rcpt-user-not-exist.eml",
    "MAILER-DAEMON@mail.isp.example",
    "郵件無法送達",
    "big5",
    "您的郵件無法送達以下收件者：\n\n"
    "<lin.yi@client.example>: host mx.client.example[192.0.2.25] said: 550 5.7.1 "
    "<lin.yi@client.example>: 收件者不存在 (in reply to RCPT TO command)\n",
    "lin.yi@client.example",
    "uns-24",
)


# ------------------------------------------------------------------ auto-replies, challenges
def auto(
    name,
    subject,
    body,
    cs="utf-8",
    extra="X-Auto-Response-Suppress: All\n",
    sender="ana.silva@client.example",
    cte="base64",
):
    head = f"""From: {sender}
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Mon, 7 Dec 2026 10:00:00 +0800
Message-ID: <auto-{name.split(".")[0]}@client.example>
In-Reply-To: <uns-99@corp.example>
{extra}MIME-Version: 1.0
Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    data = body.encode(cs)
    write(name, head, b64(data) if cte == "base64" else data)


auto(
    "ooo-outlook-sv.eml",
    "Autosvar: quotation",
    "Hej, jag är på semester till den 4 januari och har begränsad tillgång till e-post.\n",
    cs="iso-8859-1",
)
auto(
    "ooo-outlook-hu.eml",
    "Automatikus válasz: quotation",
    "Szabadságon vagyok január 4-ig, korlátozottan érem el a leveleimet.\n",
    cs="iso-8859-2",
)
auto(
    "ooo-outlook-el.eml",
    "Αυτόματη απάντηση: quotation",
    "Βρίσκομαι εκτός γραφείου έως τις 4 Ιανουαρίου.\n",
    cs="iso-8859-7",
)
auto(
    "ooo-outlook-he.eml",
    "תשובה אוטומטית: quotation",
    "אני מחוץ למשרד עד ה-4 בינואר.\n",
    cs="windows-1255",
)
auto(
    "ooo-dingtalk-zh-gbk.eml",
    "自动回复：quotation",
    "您好，我已休假，1月4日返回。邮件已收到，我会尽快回复。\n",
    cs="gbk",
    extra="Auto-Submitted: auto-replied\n",
)
auto(
    "challenge-pt.eml",
    "Confirmação necessária: quotation",
    "Olá! Sua mensagem está retida. Para que ela seja entregue, confirme que você é uma pessoa "
    "clicando no link abaixo.\nhttps://verify.client.example/c/55\n",
    cs="iso-8859-1",
    extra="Auto-Submitted: auto-replied\n",
    sender="verify@client.example",
)
auto(
    "challenge-it-noheader.eml",
    "Verifica mittente: quotation",
    "La tua email è stata trattenuta e non sarà consegnata finché non confermi di essere una "
    "persona: clicca sul link qui sotto.\nhttps://verify.client.example/c/77\n",
    cs="iso-8859-1",
    extra="",
    sender="verify@client.example",
)


# ------------------------------------------------------------------ second batch
def report(
    name,
    human,
    fields,
    mid,
    rcpt,
    subject="Undelivered Mail Returned to Sender",
    sender="MAILER-DAEMON@mx.corp.example (Mail Delivery System)",
    report_type="delivery-status",
    part_type="message/delivery-status",
):
    """An RFC 3462 multipart/report: a human part, the machine part, the returned headers."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 09:07:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="rp"
"""
    body = f"""--rp
Content-Type: text/plain; charset=us-ascii

{human}
--rp
Content-Type: {part_type}

{fields}
--rp
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=mid)}
--rp--
"""
    write(name, head, body)


# one Postfix report, three recipients, three reasons (RFC 3464 2.3: one block per recipient)
report(
    "postfix-three-recipients-three-reasons.eml",
    """This is the mail system at host mx.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<amy.cole@client.example>: host mx.client.example[192.0.2.25] said: 550 5.1.1
    <amy.cole@client.example>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

<ben.drew@client.example>: host mx.client.example[192.0.2.25] said: 552 5.2.2
    <ben.drew@client.example>: Mailbox full (in reply to RCPT TO command)

<cy.eng@other.example>: host mx.other.example[198.51.100.9] said: 554 5.7.1
    Service unavailable; Client host [203.0.113.7] blocked using
    bl.spamcop.net (in reply to RCPT TO command)
""",
    """Reporting-MTA: dns; mx.corp.example
Arrival-Date: Mon, 7 Dec 2026 09:00:00 +0800

Final-Recipient: rfc822; amy.cole@client.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.client.example
Diagnostic-Code: smtp; 550 5.1.1 <amy.cole@client.example>: Recipient address
    rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; ben.drew@client.example
Action: failed
Status: 5.2.2
Remote-MTA: dns; mx.client.example
Diagnostic-Code: smtp; 552 5.2.2 <ben.drew@client.example>: Mailbox full

Final-Recipient: rfc822; cy.eng@other.example
Action: failed
Status: 5.7.1
Remote-MTA: dns; mx.other.example
Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.7]
    blocked using bl.spamcop.net
""",
    "uns-30",
    "amy.cole@client.example",
)


def text_notice(name, sender, subject, text, mid, rcpt, cs="us-ascii", cte="7bit"):
    """A notice without a report part: the text, then the returned message."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 09:08:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    data = text.encode(cs) + f"\n{ORIG.format(rcpt=rcpt, mid=mid)}\nhello\n".encode()
    write(name, head, data if cte != "base64" else b64(data))


# Exim's bounce text (its spec, "Bounce messages"), two recipients, two reasons
text_notice(
    "exim-two-recipients-unknown-and-full.eml",
    "Mail Delivery System <Mailer-Daemon@mx.corp.example>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  dan.fox@client.example
    host mx.client.example [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<dan.fox@client.example>:
    550 No such user here
  eva.gray@other.example
    host mx.other.example [198.51.100.9]
    SMTP error from remote mail server after end of data:
    552 Requested mail action aborted: exceeded storage allocation

------ This is a copy of the message, including all the headers. ------
""",
    "uns-31",
    "dan.fox@client.example",
)
# qmail-send's bounce (qmail-send(8), "Hi. This is the qmail-send program"), two recipients
text_notice(
    "qmail-two-recipients-unknown-and-full.eml",
    "MAILER-DAEMON@mx.corp.example",
    "failure notice",
    """Hi. This is the qmail-send program at mx.corp.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<finn.ho@client.example>:
192.0.2.25 does not like recipient.
Remote host said: 550 sorry, no mailbox here by that name
Giving up on 192.0.2.25.

<gwen.ito@other.example>:
198.51.100.9 failed after I sent the message.
Remote host said: 552 5.2.2 Mailbox over quota

--- Below this line is a copy of the message.
""",
    "uns-32",
    "finn.ho@client.example",
)
# RFC 5321 4.2.3's stock text of 552 from a relay with no status, no stage: a full mailbox
gateway_dsn(
    "gateway-552-exceeded-storage-allocation.eml",
    "hal.jung@client.example",
    "5.0.0",
    "552 Requested mail action aborted: exceeded storage allocation",
    "uns-33",
    "mx.client.example",
)
# Mail.ru's reply for a disabled account, in its "invalid mailbox" form
gateway_dsn(
    "gateway-mailru-account-disabled.eml",
    "ivan.popov@mail.ru",
    "5.0.0",
    "550 Message was not accepted -- invalid mailbox.  Local mailbox "
    "ivan.popov@mail.ru is unavailable: account is disabled",
    "uns-34",
    "mxs.mail.ru",
)
# Gmail's reply to a message over its size limit (Google's SMTP error reference: 552 5.2.3)
postfix_dsn(
    "postfix-gmail-523-size-limit.eml",
    "jo.kay@gmail.com",
    "5.2.3",
    "552-5.2.3 Your message exceeded Google's message size limits. For more information, "
    "visit 552 5.2.3  https://support.google.com/mail/?p=MaxSizeError",
    "uns-35",
    stage="end of DATA",
    remote="gmail-smtp-in.l.google.com",
)
# Exchange Online's 5.7.520 (Microsoft's NDR reference: external forwarding not allowed)
postfix_dsn(
    "postfix-o365-57520-forwarding.eml",
    "kim.lau@client.example",
    "5.7.520",
    "550 5.7.520 Access denied, Your organization does not allow external forwarding. "
    "Please contact your administrator for further assistance. AS(7555)",
    "uns-36",
    stage="end of DATA",
    remote="client-example.mail.protection.outlook.com",
)

# not failures: a relayed DSN (RFC 3464 2.3.3 "relayed"), a delivered one, a read receipt (RFC 8098)
report(
    "exchange-relayed-not-a-failure.eml",
    "Delivery to these recipients or groups is complete, but no delivery notification was sent "
    "by the destination server:\n\nleo.ma@client.example\n",
    """Reporting-MTA: dns; mail.corp.example

Final-Recipient: rfc822; leo.ma@client.example
Action: relayed
Status: 2.0.0
Remote-MTA: dns; mx.client.example
""",
    "uns-37",
    "leo.ma@client.example",
    subject="Relayed: quotation",
    sender="Microsoft Outlook <postmaster@corp.example>",
)
report(
    "mdn-read-receipt.eml",
    "Your message\n\n  To: ned.oh@client.example\n  Subject: quotation\n\nwas read on "
    "Mon, 7 Dec 2026 10:00:00 +0800.\n",
    """Reporting-UA: ned.oh-pc; Microsoft Outlook 16.0
Final-Recipient: rfc822; ned.oh@client.example
Original-Message-ID: <uns-39@corp.example>
Disposition: manual-action/MDN-sent-manually; displayed
""",
    "uns-39",
    "ned.oh@client.example",
    subject="Read: quotation",
    sender="ned.oh@client.example",
    report_type="disposition-notification",
    part_type="message/disposition-notification",
)


# Exchange's NDR without a report part, in the recipient organisation's language: every heading
# localised (the Swedish ones translated by this author), the "#550 5.1.10 ... ##" line as is
def exchange_ndr(
    name,
    subject,
    cs,
    heading,
    said,
    rcpt,
    diag,
    mid,
    admin="Diagnostic information for administrators:",
    server="Generating server:",
    headers="Original message headers:",
):
    text = (
        f"{heading}\n\n{rcpt}\n{said}\n\n{admin}\n\n"
        f"{server} mail.corp.example\n\n{rcpt}\n{diag}\n\n{headers}\n"
    )
    head = f"""From: Microsoft Outlook <postmaster@corp.example>
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Mon, 7 Dec 2026 09:09:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: base64
"""
    data = text.encode(cs) + f"\n{ORIG.format(rcpt=rcpt, mid=mid)}".encode()
    write(name, head, b64(data))


exchange_ndr(
    "exchange-sv-recipnotfound.eml",
    "Odeliverbart: quotation",
    "iso-8859-1",
    "Leveransen misslyckades till följande mottagare eller grupper:",
    "E-postadressen du angav kunde inte hittas.",
    "olle.pers@client.example",
    "#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##",
    "uns-40",
    admin="Diagnostisk information för administratörer:",
    server="Genererande server:",
    headers="Ursprungliga meddelandehuvuden:",
)
exchange_ndr(
    "exchange-hu-remote-550-no-such-user.eml",
    "Kézbesíthetetlen: quotation",
    "iso-8859-2",
    "A kézbesítés nem sikerült a következő címzettekhez vagy csoportokhoz:",
    "A címzett levelezőrendszere elutasította az üzenetet.",
    "peti.nagy@client.example",
    "mx.client.example #550 5.1.1 <peti.nagy@client.example>... User unknown ##",
    "uns-41",
)
exchange_ndr(
    "exchange-zh-cn-gb2312-mailbox-full.eml",
    "无法投递: quotation",
    "gb2312",
    "传递到这些收件人或组失败:",
    "收件人的邮箱已满，目前无法接收邮件。",
    "qin.hao@client.example",
    "mx.client.example #552 5.2.2 Mailbox full ##",
    "uns-42",
)
exchange_ndr(
    "exchange-da-remote-554-spam.eml",
    "Kan ikke leveres: quotation",
    "iso-8859-1",
    "Levering til disse modtagere eller grupper mislykkedes:",
    "Modtagerens mailsystem afviste meddelelsen.",
    "rasmus.lund@client.example",
    "mx.client.example #554 5.7.1 Message rejected as spam ##",
    "uns-43",
)

# RFC 5321 4.5.3.1.10's reply to one recipient more than the server takes in one message,
# relayed under a 5.1.1 status
postfix_dsn(
    "postfix-511-too-many-recipients.eml",
    "uma.frey@client.example",
    "5.1.1",
    "550 5.1.1 <uma.frey@client.example>: Too many recipients (at most 50 in one message)",
    "uns-44",
)
