"""Writes tests/corpus/unseen4/*.eml: python tests/corpus/unseen4/generate.py tests/corpus/unseen4

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen4.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/corpus: noticekit
import noticekit
from noticekit import (
    ORIG,
    body_bytes,
    enc,
    exim,
    mixed_notice,
    postfix,
    postfix_delay,
    report_notice,
    text_notice,
    write,
)

noticekit.OUT = OUT = Path(sys.argv[1])


SENDMAIL = """The original message was received at Mon, 7 Dec 2026 09:00:02 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had permanent fatal errors -----
<{rcpt}>
    (reason: {reason})
{transcript}"""


def sendmail(name, sender, rcpt, reason, status, diag, mid, reporting, transcript="", remote=""):
    """A Sendmail-style notice (Sendmail, and the gateways built on it): the "(reason: ...)"
    line, an optional transcript, and the report part."""
    text = SENDMAIL.format(rcpt=rcpt, reason=reason, transcript=transcript)
    more = [f"Remote-MTA: DNS; {remote}"] if remote else []
    report_notice(
        name,
        sender,
        "Returned mail: see transcript for details",
        text,
        [(rcpt, "failed", status, diag, more)],
        mid,
        reporting,
    )


def qmail(name, sender, rcpt, said, mid):
    text = f"""Hi. This is the qmail-send program at {sender.split("@")[1].rstrip(">")}.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
{said}

--- Below this line is a copy of the message.
"""
    text_notice(name, sender, "failure notice", text, rcpt, mid)


def mdn(name, sender, subject, text, disposition, rcpt, mid, cs="utf-8", cte="8bit"):
    """An RFC 8098 disposition notification (a read receipt, or "deleted without being read")."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 11:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="md"
"""
    body = (
        f'--md\nContent-Type: text/plain; charset="{cs}"\nContent-Transfer-Encoding: {cte}\n\n'.encode()
        + body_bytes(text, cs, cte)
        + f"""
--md
Content-Type: message/disposition-notification

Reporting-UA: client.example; Microsoft Outlook 16.0
Final-Recipient: rfc822;{rcpt}
Original-Message-ID: <{mid}@corp.example>
Disposition: {disposition}

--md
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=mid)}
--md--
""".encode()
    )
    write(name, head, body)


def arf(name, sender, subject, text, fields, orig_to, mid, orig_extra=""):
    """An RFC 5965 feedback report: the human part, the report fields, the original's headers."""
    head = f"""From: {sender}
To: fbl@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 12:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="fb"
"""
    body = f"""--fb
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

{text}
--fb
Content-Type: message/feedback-report

{fields}
--fb
Content-Type: message/rfc822

From: Corp Sales <sales@corp.example>
To: {orig_to}
Subject: Winter offer
Date: Mon, 7 Dec 2026 08:00:00 +0100
Message-ID: <{mid}@corp.example>
{orig_extra}
hello
--fb--
"""
    write(name, head, body)


def auto_reply(name, sender, subject, text, mid, cs="utf-8", cte="8bit", extra=""):
    """A person's auto-reply (RFC 3834), quoting nothing of a failure."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:30:00 +0100
Message-ID: <{mid}@client.example>
In-Reply-To: <{mid}@corp.example>
MIME-Version: 1.0
{extra}Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    write(name, head, body_bytes(text, cs, cte))


# ------------------------------------------------ (a) a relay's or a gateway's notice, no stage
sendmail(
    "proofpoint-reason-500-no-such-recipient.eml",
    "MAILER-DAEMON@mx0a-0012ab01.pphosted.com (Mail Delivery Subsystem)",
    "aaron.bell@client.example",
    "550 5.0.0 <aaron.bell@client.example>... No such recipient",
    "5.0.0",
    "smtp; 550 5.0.0 <aaron.bell@client.example>... No such recipient",
    "un4-01",
    "mx0a-0012ab01.pphosted.com",
)
mixed_notice(
    "mimecast-text-remote-mailbox-unavailable.eml",
    "Mimecast Postmaster <postmaster@eu-smtp-delivery-1.mimecast.com>",
    "Mimecast Delivery Failure: quotation",
    """Your message couldn't be delivered to the recipient(s) below.

Recipient: bella.cruz@client.example
Reason: Rejected by the recipient's mail server.
Remote server replied: 550 Requested action not taken: mailbox unavailable

If you believe the address is correct, contact the recipient by other means.
""",
    "bella.cruz@client.example",
    "un4-02",
)
text_notice(
    "sophos-text-no-status-user-unknown.eml",
    "Sophos Email <no-reply@email.sophos.example>",
    "Message delivery failed: quotation",
    """Your message could not be delivered.

The following recipient could not be reached:

    carl.dunn@client.example
    Error: 550 User unknown

The recipient's mail server rejected the message. Check the address and send it again.
""",
    "carl.dunn@client.example",
    "un4-03",
)
text_notice(
    "ironport-bounce-510-mailbox-unavailable.eml",
    "Mail Delivery System <MAILER-DAEMON@esa1.client.iphmx.com>",
    "Delivery Status Notification (Failure)",
    """This is a notification from the email gateway at esa1.client.iphmx.com.

The message could not be delivered to the following recipient:

    <dina.evans@client.example>

5.1.0 - Unknown address error ('550', ['Requested action not taken: mailbox unavailable'])
""",
    "dina.evans@client.example",
    "un4-04",
)
text_notice(
    "ironport-bounce-530-storage-allocation.eml",
    "Mail Delivery System <MAILER-DAEMON@esa2.client.iphmx.com>",
    "Delivery Status Notification (Failure)",
    """This is a notification from the email gateway at esa2.client.iphmx.com.

The message could not be delivered to the following recipient:

    <eli.ford@client.example>

5.3.0 - Other mail system problem ('552', ['Requested mail action aborted: exceeded storage allocation'])
""",
    "eli.ford@client.example",
    "un4-05",
)
mixed_notice(
    "trendmicro-hes-no-such-recipient.eml",
    "Trend Micro Email Security <no-reply@tmes.trendmicro.example>",
    "Undeliverable: quotation",
    """Trend Micro Email Security could not deliver your message.

Recipient: fay.gomez@client.example
Reason: 550 No such recipient

The recipient's server reported that the address does not exist.
""",
    "fay.gomez@client.example",
    "un4-06",
)
report_notice(
    "fortimail-x-fortimail-user-unknown.eml",
    "MAILER-DAEMON@fml.client.example (Mail Delivery Subsystem)",
    "DELIVERY FAILURE: User unknown",
    """The original message was received at Mon, 7 Dec 2026 09:00:04 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had permanent fatal errors -----
<gus.hale@client.example>
    (reason: User unknown)
""",
    [("gus.hale@client.example", "failed", "5.0.0", "X-FortiMail; User unknown", [])],
    "un4-07",
    "fml.client.example",
)
text_notice(
    "symantec-cloud-no-such-recipient-here.eml",
    "MAILER-DAEMON@messagelabs.com",
    "failure notice",
    """This is an automatically generated Delivery Status Notification.

Delivery to the following recipients failed permanently:

    hana.ivey@client.example

Reason: 5.0.0 - no such recipient here
""",
    "hana.ivey@client.example",
    "un4-08",
)
text_notice(
    "exim-old-host-said-no-such-recipient.eml",
    "Mail Delivery System <Mailer-Daemon@relay.corp.example>",
    "Mail delivery failed: returning message to sender",
    """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ian.jones@client.example
    host gw.client.example [192.0.2.61]: 550 No such recipient

------ This is a copy of the message, including all the headers. ------
""",
    "ian.jones@client.example",
    "un4-09",
    extra="X-Failed-Recipients: ian.jones@client.example\nAuto-Submitted: auto-replied\n",
)
postfix(
    "postfix-gateway-data-500-user-unknown.eml",
    "jade.kerr@client.example",
    "gw.client.example",
    "550 5.0.0 <jade.kerr@client.example>: user unknown",
    "5.0.0",
    "un4-10",
    cmd="end of DATA",
)
qmail(
    "qmail-remote-said-no-code-mailbox-unavailable.eml",
    "MAILER-DAEMON@mx.relay.example",
    "kai.lowe@client.example",
    "Remote host said: Recipient address rejected: mailbox unavailable\nGiving up on 192.0.2.62.",
    "un4-11",
)
sendmail(
    "sendmail-relay-transcript-data-571-user-unknown.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@relay.corp.example>",
    "lara.moss@client.example",
    "550 5.7.1 <lara.moss@client.example>... user unknown",
    "5.7.1",
    "smtp; 550 5.7.1 <lara.moss@client.example>... user unknown",
    "un4-12",
    "relay.corp.example",
    transcript="""
   ----- Transcript of session follows -----
... while talking to gw.client.example.:
>>> DATA
<<< 550 5.7.1 <lara.moss@client.example>... user unknown
550 5.1.1 <lara.moss@client.example>... User unknown
""",
    remote="gw.client.example",
)
text_notice(
    "barracuda-wrapped-571-mailbox-full.eml",
    "MAILER-DAEMON@relay.corp.example (Mail Delivery System)",
    "Undelivered Mail Returned to Sender",
    """This is the mail system at host relay.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

                   The mail system

<max.nash@client.example>: host d123.ess.barracudanetworks.com[192.0.2.63] said:
    550 permanent failure for one or more recipients
    (max.nash@client.example:554 5.7.1 Mailbox full) (in reply to end of DATA
    command)
""",
    "max.nash@client.example",
    "un4-13",
)
text_notice(
    "gmail-relay-response-no-such-recipient.eml",
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "Delivery Status Notification (Failure)",
    """** Address not found **

Your message wasn't delivered to nora.owen@client.example because the address couldn't be found, or is unable to receive mail.

The response from the remote server was:
550 No such recipient here
""",
    "nora.owen@client.example",
    "un4-14",
    extra="X-Failed-Recipients: nora.owen@client.example\n",
)

# ------------------------------------------------ (b) a status that overrides clearer words
postfix(
    "postfix-lmtp-511-quota-exceeded.eml",
    "omar.page@client.example",
    "mail.client.example",
    "552 5.1.1 <omar.page@client.example> Quota exceeded (mailbox for user is full)",
    "5.1.1",
    "un4-15",
)
exim(
    "exim-511-rate-limit-exceeded.eml",
    "pia.quinn@client.example",
    "mx.client.example",
    "550 5.1.1 Rate limit exceeded for this sender, try again later",
    "un4-16",
)
postfix(
    "postfix-511-blocked-spam-content.eml",
    "ray.stone@client.example",
    "mx.client.example",
    "550 5.1.1 Message blocked due to spam content",
    "5.1.1",
    "un4-17",
    cmd="end of DATA",
)
postfix(
    "postfix-510-size-exceeds-maximum.eml",
    "sam.todd@client.example",
    "mx.client.example",
    "552 5.1.0 Message size exceeds maximum permitted",
    "5.1.0",
    "un4-18",
    cmd="end of DATA",
)
postfix(
    "postfix-511-sender-address-rejected.eml",
    "tara.vance@client.example",
    "mx.client.example",
    "550 5.1.1 <sales@corp.example>: Sender address rejected: User unknown in local recipient table",
    "5.1.1",
    "un4-19",
)
exim(
    "exim-cpanel-sender-verify-no-such-user.eml",
    "uri.wade@client.example",
    "server.host.example",
    "550-Verification failed for <sales@corp.example>\n    550-No Such User Here\n"
    "    550 Sender verify failed",
    "un4-20",
)
postfix_delay(
    "postfix-delay-400-user-unknown.eml",
    "vera.young@client.example",
    "mx.client.example",
    "450 4.0.0 <vera.young@client.example>: User unknown, try again later",
    "4.0.0",
    "un4-21",
)
postfix(
    "postfix-status-571-user-unknown-rcpt.eml",
    "walt.zane@client.example",
    "mx.client.example",
    "550 5.7.1 <walt.zane@client.example>: Recipient address rejected: user unknown",
    "5.7.1",
    "un4-22",
)

# ------------------------------------------------ (c) Chinese providers, Chinese and English
text_notice(
    "qq-zh-gb18030-ip-frequency-limited.eml",
    "PostMaster@qq.com",
    enc("退信：quotation", "gb18030"),
    """很抱歉您发送的邮件被退回，以下是该邮件的相关信息：

被退回的邮件：quotation
收件人：xu.ming@qq.com

退信原因：发送频率过高，请降低发送频率后再试。
对方服务器返回：550 Ip frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000725
""",
    "xu.ming@qq.com",
    "un4-23",
    cs="gb18030",
    cte="base64",
)
text_notice(
    "exmail-en-552-message-too-large.eml",
    "PostMaster@exmail.qq.com",
    "Undelivered Mail Returned to Sender",
    """Your message could not be delivered to the following recipient.

Recipient: yang.li@client.example
Reason: The message is larger than the recipient's server accepts.
Remote server returned: 552 Message too large
""",
    "yang.li@client.example",
    "un4-24",
)
text_notice(
    "netease-126-zh-gbk-451-rp-qrc.eml",
    "Postmaster@126.com",
    enc("系统退信", "gbk"),
    """抱歉，您的邮件未能成功投递。

收件人：zhao.lei@126.com
退信原因：您在短时间内向该收件人发送的邮件过多，请稍后再试。
对方服务器返回：451 RP:QRC http://mail.163.com/help/help_spam_16.htm?ip=198.51.100.7
""",
    "zhao.lei@126.com",
    "un4-25",
    cs="gbk",
    cte="base64",
)
exim(
    "netease-163-exim-421-hl-icc-gave-up.eml",
    "qian.hua@163.com",
    "163mx01.mxmail.netease.com",
    "421 HL:ICC http://mail.163.com/help/help_spam_16.htm?ip=198.51.100.7",
    "un4-26",
    cmd="initial connection",
    retry=True,
)
text_notice(
    "netease-qiye-zh-utf8-553-rp-rcl.eml",
    "postmaster@qiye.163.com",
    enc("邮件投递失败", "utf-8"),
    """您好，您发送的邮件未能投递到以下收件人：

sun.wei@client.example

原因：单封邮件的收件人数量超过了限额，请减少收件人后分批发送。
对方服务器返回：553 RP:RCL http://mail.163.com/help/help_spam_16.htm
""",
    "sun.wei@client.example",
    "un4-27",
    cs="utf-8",
)
text_notice(
    "aliyun-zh-utf8-account-disabled.eml",
    "postmaster@mxhichina.com",
    enc("邮件退信通知", "utf-8"),
    """您发送的邮件没有投递成功。

收件人：tang.yu@client.example
失败原因：收件人账号已被禁用，无法接收邮件。
对方服务器返回：550 Mailbox disabled
""",
    "tang.yu@client.example",
    "un4-28",
    cs="utf-8",
)
text_notice(
    "sina-zh-gb2312-mailbox-full-no-code.eml",
    "MAILER-DAEMON@sina.com",
    enc("退信通知", "gb2312"),
    """您发送的邮件未能送达。

收件人：wang.fang@sina.com
原因：收件人邮箱空间已满，无法接收新邮件。
""",
    "wang.fang@sina.com",
    "un4-29",
    cs="gb2312",
    cte="base64",
)
text_notice(
    "sohu-zh-gbk-address-cancelled-no-code.eml",
    "MAILER-DAEMON@sohu.com",
    enc("系统退信", "gbk"),
    """您的邮件没有发送成功。

收件人：he.jun@sohu.com
原因：该邮箱地址不存在或已被注销，请核对收件人地址。
""",
    "he.jun@sohu.com",
    "un4-30",
    cs="gbk",
    cte="base64",
)
text_notice(
    "net263-zh-gbk-554-judged-spam.eml",
    "postmaster@263.net",
    enc("退信：quotation", "gbk"),
    """您发送的邮件被对方服务器拒收。

收件人：lin.tao@263.net
对方服务器返回：554 5.7.1 邮件内容被判定为垃圾邮件，拒绝接收
""",
    "lin.tao@263.net",
    "un4-31",
    cs="gbk",
    cte="base64",
)
text_notice(
    "coremail-zh-gbk-delay-still-retrying.eml",
    "postmaster@mail.client-cm.example",
    enc("邮件延迟投递通知：quotation", "gbk"),
    """这是一封系统自动发出的通知，您无需回复。

您发送给 ma.qing@client-cm.example 的邮件暂时未能投递成功。
系统将继续尝试投递，如果在 5 天内仍无法投递，您将收到退信通知。

对方服务器返回：451 4.3.0 Temporary system error, try again later
""",
    "ma.qing@client-cm.example",
    "un4-32",
    cs="gbk",
    cte="base64",
)
text_notice(
    "exmail-zh-gbk-refused-by-recipient.eml",
    "PostMaster@exmail.qq.com",
    enc("退信：quotation", "gbk"),
    """很抱歉您发送的邮件被退回，以下是该邮件的相关信息：

收件人：zhou.qi@client.example
退信原因：收件人已设置拒收您的邮件。
对方服务器返回：550 邮件被收件人拒收
""",
    "zhou.qi@client.example",
    "un4-33",
    cs="gbk",
    cte="base64",
)
text_notice(
    "coremail-en-571-user-not-found.eml",
    "postmaster@mail.client-cm.example",
    "Undelivered Mail Returned to Sender",
    """Your mail to feng.jie@client-cm.example was rejected by the recipient's mail server.

The mail server returned: 550 5.7.1 User not found: feng.jie@client-cm.example
""",
    "feng.jie@client-cm.example",
    "un4-34",
)

# ------------------------------------------------ (d) receipts, reports, replies: no failure
mdn(
    "mdn-de-read-receipt.eml",
    "Greta Hahn <greta.hahn@client.example>",
    "Gelesen: quotation",
    """Ihre Nachricht

  An: greta.hahn@client.example
  Betreff: quotation
  Gesendet: Montag, 7. Dezember 2026 09:00:00 (UTC+01:00)

wurde am Montag, 7. Dezember 2026 10:55:00 (UTC+01:00) gelesen.
""",
    "manual-action/MDN-sent-manually; displayed",
    "greta.hahn@client.example",
    "un4-35",
)
mdn(
    "mdn-zh-deleted-without-reading.eml",
    "Liu Yan <liu.yan@client.example>",
    enc("未读: quotation", "utf-8"),
    """您的邮件

  收件人: liu.yan@client.example
  主题: quotation
  发送时间: 2026年12月7日 9:00

已于 2026年12月7日 10:58 被删除，未被阅读。
""",
    "manual-action/MDN-sent-manually; deleted",
    "liu.yan@client.example",
    "un4-36",
)
report_notice(
    "exchange-fr-delivered-report.eml",
    "Microsoft Outlook <postmaster@client.example>",
    enc("Remis : quotation", "utf-8"),
    """Votre message a été remis aux destinataires suivants :

marc.dupuis@client.example

Objet : quotation
""",
    [("marc.dupuis@client.example", "delivered", "2.0.0", "", [])],
    "un4-37",
    "mail.client.example",
    cs="utf-8",
)
auto_reply(
    "ooo-ro-outlook.eml",
    "Ioana Pop <ioana.pop@client.example>",
    enc("Răspuns automat: quotation", "utf-8"),
    """Bună ziua,

Sunt în concediu până pe 14 decembrie, cu acces limitat la e-mail.
Pentru probleme urgente, vă rog să contactați biroul la office@client.example.

Mulțumesc,
Ioana
""",
    "un4-38",
    extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n",
)
auto_reply(
    "ooo-de-left-company-not-forwarded.eml",
    "Jonas Vogel <jonas.vogel@client.example>",
    enc("Automatische Antwort: quotation", "utf-8"),
    """Sehr geehrte Damen und Herren,

Herr Vogel ist nicht mehr in unserem Unternehmen tätig. Ihre Nachricht wird nicht
weitergeleitet. Bitte wenden Sie sich an vertrieb@client.example.

Mit freundlichen Grüßen
""",
    "un4-39",
    cs="iso-8859-1",
    cte="8bit",
    extra="Auto-Submitted: auto-replied\n",
)
auto_reply(
    "challenge-nl-confirm-sender.eml",
    "Bevestiging <confirm@antispam.client.example>",
    "Bevestig uw e-mailadres: quotation",
    """Hallo,

U hebt een bericht gestuurd naar kees.bakker@client.example. Deze ontvanger gebruikt een
spamfilter dat alleen berichten van bekende afzenders doorlaat.

Klik binnen 3 dagen op de onderstaande link om te bevestigen dat u geen spammer bent;
daarna wordt uw bericht afgeleverd:

https://antispam.client.example/confirm?id=8f2c91

Uw bericht wordt bewaard tot u bevestigt.
""",
    "un4-40",
    extra="Auto-Submitted: auto-replied\nPrecedence: bulk\n",
)
auto_reply(
    "ooo-zh-exmail-gbk-autoreply.eml",
    "Chen Hui <chen.hui@client.example>",
    enc("自动回复: quotation", "gbk"),
    """您好，我正在休假，12月14日返回，期间不能及时回复邮件。如有急事请联系 office@client.example。
""",
    "un4-41",
    cs="gbk",
    cte="base64",
    extra="X-QQ-AutoReply: yes\n",
)

# ------------------------------------------------ (e) ARF complaints from other providers
arf(
    "arf-yahoo-cfl-abuse-original-to.eml",
    "Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>",
    "FW: Winter offer",
    "This is an email abuse report for an email message received from IP 198.51.100.7 on "
    "Mon, 7 Dec 2026 07:01:00 +0000.",
    """Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <bounce@corp.example>
Arrival-Date: Mon, 7 Dec 2026 07:01:00 +0000
Reported-Domain: corp.example
Source-IP: 198.51.100.7
""",
    "<ava.brooks@yahoo.com>",
    "un4-42",
)
arf(
    "arf-aol-scomp-abuse.eml",
    "scomp@aol.net",
    "Email Feedback Report for IP 198.51.100.7",
    "This is an email abuse report for an email message received from IP 198.51.100.7.",
    """Feedback-Type: abuse
User-Agent: AOL SComp
Version: 1
Received-Date: Mon, 7 Dec 2026 07:02:00 +0000
Source-IP: 198.51.100.7
Reported-Domain: corp.example
""",
    "<ben.carter@aol.com>",
    "un4-43",
)
arf(
    "arf-mailru-fbl-original-rcpt-to.eml",
    "Mail.Ru FBL <fbl@corp.mail.ru>",
    "Abuse report",
    "This is a spam complaint from a Mail.Ru user about a message from 198.51.100.7.",
    """Feedback-Type: abuse
User-Agent: Mail.Ru FBL/1.0
Version: 1
Original-Mail-From: bounce@corp.example
Original-Rcpt-To: dasha.egorova@mail.ru
Source-IP: 198.51.100.7
""",
    "<dasha.egorova@mail.ru>",
    "un4-44",
)
arf(
    "arf-zoho-not-spam.eml",
    "Zoho FBL <fbl@zohomail.example>",
    "Not spam report",
    "A Zoho Mail user marked the message below as not spam.",
    """Feedback-Type: not-spam
User-Agent: ZohoFBL/1.0
Version: 1
Original-Rcpt-To: emma.fox@zoho.com
Source-IP: 198.51.100.7
""",
    "<emma.fox@zoho.com>",
    "un4-45",
)
