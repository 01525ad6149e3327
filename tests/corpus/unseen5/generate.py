"""Writes tests/corpus/unseen5/*.eml: python tests/corpus/unseen5/generate.py tests/corpus/unseen5

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen5.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/corpus: noticekit
import noticekit
from noticekit import (
    enc,
    exim,
    mixed_notice,
    postfix,
    postfix_delay,
    report_notice,
    text_notice,
)

noticekit.OUT = OUT = Path(sys.argv[1])


def exchange(name, lang, rcpt, remote, reply, status, mid, cs="utf-8"):
    """Exchange 2010-2019's NDR (on-premises): the user text in the sender's language, the
    administrators' part with the generating server and the remote's reply between '#' and
    '##', then the report part."""
    subject, failed, user_text, diag, gen = EXCHANGE[lang]
    text = f"""{failed}

{rcpt}
{user_text}

{diag}

{gen} mail.corp.example

{rcpt}
{remote} #{reply} ##
"""
    report_notice(
        name,
        "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example>",
        enc(f"{subject} quotation", cs) if cs != "us-ascii" else f"{subject} quotation",
        text,
        [(rcpt, "failed", status, f"smtp;{reply}", [f"Remote-MTA: dns;{remote}"])],
        mid,
        "mail.corp.example",
        cs=cs,
        cte="base64" if cs != "us-ascii" else "8bit",
        extra="X-MS-Exchange-Message-Is-Ndr: \nAuto-Submitted: auto-replied\n",
    )


EXCHANGE = {
    "en": (
        "Undeliverable:",
        "Delivery has failed to these recipients or groups:",
        "The email address you entered couldn't be found. Please check the recipient's email"
        " address and try to resend the message. If the problem continues, please contact your"
        " helpdesk.",
        "Diagnostic information for administrators:",
        "Generating server:",
    ),
    "nl": (
        "Onbestelbaar:",
        "De bezorging is mislukt voor deze ontvangers of groepen:",
        "Het e-mailadres dat u hebt ingevoerd, kan niet worden gevonden. Controleer het"
        " e-mailadres van de ontvanger en probeer het bericht opnieuw te verzenden.",
        "Diagnostische gegevens voor beheerders:",
        "Genererende server:",
    ),
    "pl": (
        "Niedostarczalne:",
        "Nie można dostarczyć wiadomości do tych adresatów lub grup:",
        "Nie można odnaleźć wprowadzonego adresu e-mail. Sprawdź adres e-mail adresata i"
        " spróbuj wysłać wiadomość ponownie.",
        "Informacje diagnostyczne dla administratorów:",
        "Serwer generujący:",
    ),
    "cs": (
        "Nedoručitelné:",
        "Doručení těmto příjemcům nebo skupinám se nezdařilo:",
        "Zadanou e-mailovou adresu se nepodařilo najít. Zkontrolujte e-mailovou adresu"
        " příjemce a zkuste zprávu odeslat znovu.",
        "Diagnostické informace pro správce:",
        "Generující server:",
    ),
    "ru": (
        "Недоставляемое:",
        "Не удалось доставить сообщение следующим получателям или группам:",
        "Введенный адрес электронной почты не найден. Проверьте адрес электронной почты"
        " получателя и попробуйте отправить сообщение еще раз.",
        "Диагностические сведения для администраторов:",
        "Создающий сервер:",
    ),
    "zh-tw": (
        "無法傳遞:",
        "傳遞至這些收件者或群組失敗:",
        "找不到您輸入的電子郵件地址。請檢查收件者的電子郵件地址，然後再次嘗試傳送郵件。",
        "給系統管理員的診斷資訊:",
        "產生伺服器:",
    ),
    "it": (
        "Non recapitabile:",
        "Recapito non riuscito per i destinatari o i gruppi seguenti:",
        "Non è stato possibile trovare l'indirizzo di posta elettronica immesso. Controllare"
        " l'indirizzo di posta elettronica del destinatario e provare a inviare di nuovo il"
        " messaggio.",
        "Informazioni di diagnostica per gli amministratori:",
        "Server di generazione:",
    ),
}


def exchange2003(name, rcpt, line, code, mid):
    """Exchange 2000/2003's text NDR: "The following recipient(s) cannot be reached", the
    recipient's line, then <generating server #status smtp;reply>."""
    text = f"""Your message did not reach some or all of the intended recipients.

      Subject:\tquotation
      Sent:\t12/7/2026 9:00 AM

The following recipient(s) cannot be reached:

      {rcpt} on 12/7/2026 9:00 AM
            {line}
            <mail.corp.example {code}>
"""
    mixed_notice(
        name,
        "System Administrator <postmaster@corp.example>",
        "Undeliverable: quotation",
        text,
        rcpt,
        mid,
    )


def domino(name, subject, head, sent, notto, because, rcpt, reason, mid, cs="us-ascii", cte="8bit"):
    """Domino's Delivery Failure Report as text: the message's subject, 'was not delivered
    to', 'because', in the server's language."""
    text = f"""{head}

  {sent}

{notto}

  {rcpt}

{because}

  {reason}
"""
    mixed_notice(
        name,
        "Mail Router <postmaster@notes.corp.example>",
        subject,
        text,
        rcpt,
        mid,
        cs=cs,
        cte=cte,
        extra="X-Mailer: Lotus Domino Release 9.0.1FP10\n",
    )


def imail(name, line, rcpt, mid):
    """Ipswitch IMail's undeliverable notice: one line naming the failure, then the original."""
    text_notice(
        name,
        "postmaster@mail.corp.example",
        "Undeliverable Mail",
        f"{line}\n\nOriginal message follows.",
        rcpt,
        mid,
        extra="X-Mailer: <SMTP32 v8.22>\n",
    )


def interscan(name, rcpt, sent, received, mid):
    """Trend Micro InterScan MSS's notice, its transcript's arrows the other way round."""
    text = f"""Unable to deliver message to <{rcpt}>.

Sent <<< {sent}
Received >>> {received}
"""
    mixed_notice(
        name,
        "InterScan MSS <postmaster@gw.corp.example>",
        "Mail could not be delivered",
        text,
        rcpt,
        mid,
    )


def mdaemon(name, rcpt, remote, rcpt_reply, mid, data_reply=None):
    """MDaemon's permanent failure notice with its session transcript ('-->' sent, '<--'
    received)."""
    t = "Mon 2026-12-07 09:00:03"
    lines = [
        f" {t}.200: Attempting SMTP connection to [{remote} : 25]",
        f" {t}.300: * Connection established (192.0.2.10:55000 -> 192.0.2.44:25)",
        f" {t}.400: <-- 220 {remote} ESMTP",
        f" {t}.401: --> EHLO mail.corp.example",
        f" {t}.410: <-- 250 {remote}",
        f" {t}.411: --> MAIL From:<sales@corp.example> SIZE=2048",
        f" {t}.420: <-- 250 2.1.0 Ok",
        f" {t}.421: --> RCPT To:<{rcpt}>",
        f" {t}.430: <-- {rcpt_reply}",
    ]
    if data_reply:
        lines += [
            f" {t}.431: --> DATA",
            f" {t}.440: <-- 354 go ahead",
            f" {t}.500: <-- {data_reply}",
        ]
    lines.append(f" {t}.501: --> QUIT")
    transcript = "\n".join(lines)
    text = f"""The attached message had PERMANENT fatal delivery errors!

After one or more unsuccessful delivery attempts the attached message has
been removed from the mail queue on this server.  The number and frequency
of delivery attempts are determined by local configuration parameters.

YOU DO NOT NEED TO RESEND YOUR MESSAGE TO DELIVERED RECIPIENTS.

--- Session Transcript ---
{transcript}
--- End Transcript ---
"""
    mixed_notice(
        name,
        "MDaemon@mail.corp.example",
        "Permanent Delivery Failure",
        text,
        rcpt,
        mid,
        extra="X-MDaemon-Deliver-To: sales@corp.example\nX-MDDSN-Message: Yes\n",
    )


def kerio(name, rcpt, reply, status, mid):
    """Kerio Connect's delivery status notification (paraphrased text) with its report part."""
    text = f"""This is a delivery status notification, automatically generated by
Kerio Connect on mail.corp.example.

Your message could not be delivered to the following recipient(s):

  {rcpt}
  Remote server replied: {reply}
"""
    report_notice(
        name,
        "Kerio Connect <postmaster@corp.example>",
        "Delivery Status Notification (Failure)",
        text,
        [(rcpt, "failed", status, f"smtp; {reply}", ["Remote-MTA: dns; mx.client.example"])],
        mid,
        "mail.corp.example",
    )


def sendmail_transcript(name, rcpt, remote, cmd, reply, status, mid):
    """Sendmail's DSN with its transcript: '>>> command' / '<<< reply'."""
    text = f"""The original message was received at Mon, 7 Dec 2026 09:00:02 +0100
from out.corp.example [198.51.100.7]

   ----- The following addresses had permanent fatal errors -----
<{rcpt}>
    (reason: {reply})

   ----- Transcript of session follows -----
... while talking to {remote}.:
>>> {cmd}
<<< {reply}
"""
    report_notice(
        name,
        "Mail Delivery Subsystem <MAILER-DAEMON@mx.corp.example>",
        "Returned mail: see transcript for details",
        text,
        [(rcpt, "failed", status, f"SMTP; {reply}", [f"Remote-MTA: DNS; {remote}"])],
        mid,
        "mx.corp.example",
    )


def zh_notice(name, sender, cs, rcpt, reason, returned, mid, subject="退信：quotation"):
    """A Chinese provider's own notice (QQ / Exmail / NetEase / Alibaba shape): the recipient,
    the reason in Chinese, the server's reply."""
    body = f"""很抱歉您发送的邮件被退回，以下是该邮件的相关信息：

被退回的邮件：quotation
收件人：{rcpt}

退信原因：{reason}
"""
    if returned:
        body += f"对方服务器返回：{returned}\n"
    text_notice(name, sender, enc(subject, cs), body, rcpt, mid, cs=cs, cte="base64")


def auto_reply(name, sender, subject, text, mid, cs="utf-8", cte="8bit", extra=""):
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
    noticekit.write(name, head, noticekit.body_bytes(text, cs, cte))


# ------------------------------------------------ (a) user unknown, vendors naming stage / directory
domino(
    "domino-de-latin1-not-in-directory.eml",
    enc("Zustellungsfehlerbericht: quotation", "iso-8859-1"),
    "Ihre Nachricht",
    "Betreff: quotation",
    "wurde nicht zugestellt an:",
    "weil:",
    "anna.bauer@notes.client.example",
    "Benutzer anna.bauer@notes.client.example (anna.bauer@notes.client.example) ist nicht im"
    " Domino-Verzeichnis aufgeführt",
    "un5-01",
    cs="iso-8859-1",
    cte="8bit",
)
domino(
    "domino-it-latin1-not-in-directory.eml",
    enc("ERRORE DI RECAPITO: quotation", "iso-8859-1"),
    "Il messaggio",
    "Oggetto: quotation",
    "non è stato recapitato a:",
    "perché:",
    "bruno.conti@notes.client.example",
    "L'utente bruno.conti@notes.client.example (bruno.conti@notes.client.example) non è"
    " presente nella Directory di Domino",
    "un5-02",
    cs="iso-8859-1",
)
domino(
    "domino-en-smtp-550-no-such-user.eml",
    "DELIVERY FAILURE: Error transferring to mx.client.example; SMTP Protocol Returned a"
    " Permanent Error 550 No such user",
    "Your message",
    "Subject: quotation",
    "was not delivered to:",
    "because:",
    "carla.diaz@client.example",
    "Error transferring to mx.client.example; SMTP Protocol Returned a Permanent Error 550"
    " No such user",
    "un5-03",
)
imail(
    "imail-invalid-final-delivery-userid.eml",
    "Invalid final delivery userid: dan.ellis@client.example",
    "dan.ellis@client.example",
    "un5-04",
)
imail(
    "imail-mailbox-exceeds-allowed-size.eml",
    "User mailbox exceeds allowed size: eva.frank@client.example",
    "eva.frank@client.example",
    "un5-05",
)
imail(
    "imail-delivery-failed-attempts.eml",
    "Delivery failed 5 attempts: finn.grant@client.example",
    "finn.grant@client.example",
    "un5-06",
)
interscan(
    "interscan-rcpt-521-mailbox-not-found.eml",
    "gina.hart@client.example",
    "RCPT TO:<gina.hart@client.example>",
    "550 5.2.1 <gina.hart@client.example>: Mailbox not found",
    "un5-07",
)
interscan(
    "interscan-rcpt-550-no-code-address-rejected.eml",
    "hugo.irwin@client.example",
    "RCPT TO:<hugo.irwin@client.example>",
    "550 Address rejected: no such user here",
    "un5-08",
)
mdaemon(
    "mdaemon-transcript-rcpt-550-no-such-user.eml",
    "ida.james@client.example",
    "mx.client.example",
    "550 No such user here",
    "un5-09",
)
mdaemon(
    "mdaemon-transcript-rcpt-552-quota.eml",
    "jon.kent@client.example",
    "mx.client.example",
    "552 5.2.2 Mailbox quota exceeded",
    "un5-10",
)
kerio(
    "kerio-500-mailbox-does-not-exist.eml",
    "kim.lee@client.example",
    "550 5.0.0 Mailbox kim.lee@client.example does not exist",
    "5.0.0",
    "un5-11",
)
postfix(
    "zimbra-postfix-rcpt-550-500-virtual-mailbox-table.eml",
    "leo.marsh@zm.client.example",
    "zimbra.client.example",
    "550 5.0.0 <leo.marsh@zm.client.example>: Recipient address rejected: User unknown in"
    " virtual mailbox table",
    "5.0.0",
    "un5-12",
)
exchange(
    "exchange-nl-remote-550-500-user-unknown.eml",
    "nl",
    "mia.nolan@client.example",
    "mx.client.example",
    "550 5.0.0 <mia.nolan@client.example>... User unknown",
    "5.0.0",
    "un5-13",
)
exchange(
    "exchange-pl-iso2-remote-550-550-no-such-user.eml",
    "pl",
    "nina.olsen@client.example",
    "mx.client.example",
    "550 5.5.0 <nina.olsen@client.example>: No such user",
    "5.5.0",
    "un5-14",
    cs="iso-8859-2",
)
exchange(
    "exchange-cs-remote-550-521-mailbox-not-found.eml",
    "cs",
    "otto.price@client.example",
    "mx.client.example",
    "550 5.2.1 Mailbox not found",
    "5.2.1",
    "un5-15",
)
exchange(
    "exchange-ru-koi8-remote-550-500-user-not-found.eml",
    "ru",
    "pavel.orlov@client.example",
    "mx.client.example",
    "550 5.0.0 <pavel.orlov@client.example>: user not found",
    "5.0.0",
    "un5-16",
    cs="koi8-r",
)
exchange(
    "exchange-zh-tw-big5-remote-550-no-such-user.eml",
    "zh-tw",
    "chen.wei@client.example",
    "mx.client.example",
    "550 No such user - psmtp",
    "5.0.0",
    "un5-17",
    cs="big5",
)
exchange2003(
    "exchange2003-550-smtp-user-unknown.eml",
    "rosa.quinn@client.example",
    "There was a SMTP communication problem with the recipient's email server.  Please"
    " contact your system administrator.",
    "#5.5.0 smtp;550 5.5.0 <rosa.quinn@client.example>... User unknown",
    "un5-18",
)
text_notice(
    "yahoo-554-dd-account-disabled-102.eml",
    "MAILER-DAEMON@yahoo.com",
    "Failure Notice",
    """Sorry, we were unable to deliver your message to the following address.

<sara.reid@yahoo.com>:
554: delivery error: dd Sorry your message to sara.reid@yahoo.com cannot be delivered. This account has been disabled or discontinued [#102]. - mta1009.mail.gq1.yahoo.com

--- Below this line is a copy of the message.
""",
    "sara.reid@yahoo.com",
    "un5-19",
)
text_notice(
    "yahoo-outbound-552-mailbox-not-found-rcpt-to.eml",
    "MAILER-DAEMON@yahoo.com",
    "Failure Notice",
    """Sorry, we were unable to deliver your message to the following address.

<tom.shaw@client.example>:
Remote host said: 552 1 Requested mail action aborted, mailbox not found [RCPT_TO]

--- Below this line is a copy of the message.
""",
    "tom.shaw@client.example",
    "un5-20",
)
postfix(
    "mailru-rcpt-550-account-disabled.eml",
    "uma.titova@list.ru",
    "mxs.mail.ru",
    "550 Message was not accepted -- invalid mailbox.  Local mailbox uma.titova@list.ru is"
    " unavailable: account is disabled",
    "5.0.0",
    "un5-21",
)
exim(
    "mailru-exim-rcpt-550-user-not-found-inbox.eml",
    "vlad.usov@inbox.ru",
    "mxs.mail.ru",
    "550 Message was not accepted -- invalid mailbox.  Local mailbox vlad.usov@inbox.ru is"
    " unavailable: user not found",
    "un5-22",
)
sendmail_transcript(
    "sendmail-transcript-rcpt-550-521-user-unknown.eml",
    "will.vega@client.example",
    "mx.client.example",
    "RCPT To:<will.vega@client.example>",
    "550 5.2.1 <will.vega@client.example>... User unknown",
    "5.2.1",
    "un5-23",
)
exim(
    "exim-rcpt-550-550-mailbox-not-found.eml",
    "xena.wolf@client.example",
    "mx.client.example",
    "550 5.5.0 <xena.wolf@client.example> mailbox not found",
    "un5-24",
)
postfix_delay(
    "postfix-delay-450-411-user-unknown-virtual.eml",
    "yuri.xu@client.example",
    "mx.client.example",
    "450 4.1.1 <yuri.xu@client.example>: Recipient address rejected: User unknown in virtual"
    " mailbox table",
    "4.1.1",
    "un5-25",
)
zh_notice(
    "qq-zh-gbk-550-mailbox-not-found.eml",
    "PostMaster@qq.com",
    "gbk",
    "liu.yang@qq.com",
    "收件人邮箱地址不存在，请核对后重新发送。",
    "550 Mailbox not found. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000728",
    "un5-26",
)
zh_notice(
    "exmail-zh-utf8-remote-550-500-user-unknown.eml",
    "PostMaster@exmail.qq.com",
    "utf-8",
    "gao.xin@client.example",
    "收件人不存在。",
    "550 5.0.0 <gao.xin@client.example>: User unknown",
    "un5-27",
)
zh_notice(
    "aliyun-zh-gb2312-550-mailbox-not-found.eml",
    "postmaster@service.aliyun.com",
    "gb2312",
    "luo.ping@aliyun.com",
    "收件人地址不存在。",
    "550 Mailbox not found.",
    "un5-28",
    subject="退信通知：quotation",
)
mixed_notice(
    "netease-163-relay-550-user-not-found.eml",
    "Mail Delivery System <postmaster@gw.corp.example>",
    "Delivery failure: quotation",
    """Your message could not be delivered.

Recipient: xie.nan@163.com
Remote server replied: 550 User not found: xie.nan@163.com
""",
    "xie.nan@163.com",
    "un5-29",
)
zh_notice(
    "sina-zh-gbk-no-code-user-not-exist.eml",
    "MAILER-DAEMON@sina.com",
    "gbk",
    "deng.hui@sina.cn",
    "该用户不存在，请确认收件人地址是否正确。",
    "",
    "un5-30",
    subject="系统退信：quotation",
)

# ------------------------------------------------ (b) a 5.1.x status under other words
exchange(
    "exchange-en-remote-552-511-mailbox-quota.eml",
    "en",
    "amy.baker@client.example",
    "mx.client.example",
    "552 5.1.1 <amy.baker@client.example>: Mailbox quota exceeded",
    "5.1.1",
    "un5-31",
)
sendmail_transcript(
    "sendmail-transcript-rcpt-550-511-client-host-blocked.eml",
    "bob.clark@client.example",
    "mx.client.example",
    "RCPT To:<bob.clark@client.example>",
    "550 5.1.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org",
    "5.1.1",
    "un5-32",
)
postfix(
    "postfix-rcpt-550-516-mailbox-moved.eml",
    "cole.dean@client.example",
    "mx.client.example",
    "550 5.1.6 <cole.dean@client.example>: Recipient mailbox has moved, no forwarding address",
    "5.1.6",
    "un5-33",
)
postfix(
    "postfix-rcpt-553-517-sender-address-syntax.eml",
    "dora.earl@client.example",
    "mx.client.example",
    "553 5.1.7 <sales@corp.example>: Sender address rejected: invalid sender address syntax",
    "5.1.7",
    "un5-34",
    cmd="MAIL FROM",
)
postfix(
    "postfix-data-554-511-virus-found.eml",
    "evan.fox@client.example",
    "mx.client.example",
    "554 5.1.1 Message rejected: virus found in attachment",
    "5.1.1",
    "un5-35",
    cmd="end of DATA",
)
kerio(
    "kerio-550-511-mailbox-temporarily-disabled.eml",
    "faye.gill@client.example",
    "550 5.1.1 Mailbox temporarily disabled",
    "5.1.1",
    "un5-36",
)
exim(
    "exim-rcpt-550-510-daily-sending-quota.eml",
    "glen.hunt@client.example",
    "mx.client.example",
    "550 5.1.0 Daily sending quota exceeded for this sender, try again tomorrow",
    "un5-37",
)
mdaemon(
    "mdaemon-transcript-data-550-511-content-policy.eml",
    "hope.ivy@client.example",
    "mx.client.example",
    "250 2.1.5 Recipient ok",
    "un5-38",
    data_reply="550 5.1.1 Message rejected due to content restrictions",
)

# ------------------------------------------------ (c) not failures
auto_reply(
    "ooo-domino-auto-out-of-office.eml",
    "Irene Jonas <irene.jonas@notes.client.example>",
    "AUTO: Irene Jonas is out of the office (returning 14.12.2026)",
    """I am out of the office until 14.12.2026.

I will respond to your message when I return.

Note: This is an automated response to your message "quotation" sent on 07.12.2026 9:00:00.

This is the only notification you will receive while this person is away.
""",
    "un5-39",
    extra="Auto-Submitted: auto-replied\nX-Mailer: Lotus Domino Release 9.0.1FP10\n",
)
auto_reply(
    "ooo-zimbra-away.eml",
    "Jack Kerr <jack.kerr@zm.client.example>",
    "Away: quotation",
    "I am on leave until 14 December and will have limited access to email. For urgent"
    " matters please contact office@zm.client.example.\n",
    "un5-40",
    extra="Auto-Submitted: auto-replied (zimbra; vacation)\nPrecedence: bulk\n",
)
auto_reply(
    "ooo-mdaemon-autoresponder.eml",
    "Kate Lyle <kate.lyle@client.example>",
    "Auto Response: quotation",
    "Thank you for your message. Our office is closed until 4 January; your message will be"
    " answered after that date.\n",
    "un5-41",
    extra="Auto-Submitted: auto-replied\nX-MDaemon-Deliver-To: kate.lyle@client.example\n",
)
report_notice(
    "exchange-en-delivered-relay-report.eml",
    "postmaster@corp.example",
    "Relayed: quotation",
    """Delivery to these recipients or groups is complete, but no delivery notification was sent
by the destination server:

luke.moore@client.example

Subject: quotation
""",
    [("luke.moore@client.example", "relayed", "2.0.0", "", ["Remote-MTA: dns;mx.client.example"])],
    "un5-42",
    "mail.corp.example",
)

# ------------------------------------------------ (d) several recipients, mixed
report_notice(
    "domino-dsn-two-recipients-unknown-and-full.eml",
    "Mail Router <postmaster@notes.corp.example>",
    "DELIVERY FAILURE: quotation",
    """Your message

  Subject: quotation

was not delivered to:

  mona.north@client.example
  neil.owens@client.example

because:

  mona.north@client.example: 550 No such user
  neil.owens@client.example: 552 Mailbox full
""",
    [
        ("mona.north@client.example", "failed", "5.0.0", "smtp; 550 No such user", []),
        ("neil.owens@client.example", "failed", "5.0.0", "smtp; 552 Mailbox full", []),
    ],
    "un5-43",
    "notes.corp.example",
    extra="X-Mailer: Lotus Domino Release 9.0.1FP10\n",
)
report_notice(
    "kerio-two-recipients-550-and-421.eml",
    "Kerio Connect <postmaster@corp.example>",
    "Delivery Status Notification (Failure)",
    """This is a delivery status notification, automatically generated by
Kerio Connect on mail.corp.example.

Your message could not be delivered to the following recipient(s):

  olga.park@client.example
  Remote server replied: 550 5.0.0 <olga.park@client.example>: Recipient address rejected: User unknown

  paul.ray@client.example
  Remote server replied: 421 4.7.0 Too many connections from your host, closing transmission channel
""",
    [
        (
            "olga.park@client.example",
            "failed",
            "5.0.0",
            "smtp; 550 5.0.0 <olga.park@client.example>: Recipient address rejected: User unknown",
            ["Remote-MTA: dns; mx.client.example"],
        ),
        (
            "paul.ray@client.example",
            "failed",
            "4.7.0",
            "smtp; 421 4.7.0 Too many connections from your host, closing transmission channel",
            ["Remote-MTA: dns; mx.client.example"],
        ),
    ],
    "un5-44",
    "mail.corp.example",
)
zh_notice(
    "netease-qiye-zh-gbk-550-511-mailbox-full.eml",
    "postmaster@qiye.163.com",
    "gbk",
    "qin.rui@client.example",
    "收件人邮箱空间已满，无法接收新邮件。",
    "552 5.1.1 Requested mail action aborted: exceeded mailbox storage",
    "un5-45",
)
