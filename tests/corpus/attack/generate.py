"""Writes tests/corpus/attack/*.eml: python tests/corpus/attack/generate.py tests/corpus/attack"""

import base64
import sys
from email.header import Header
from pathlib import Path

OUT = Path(sys.argv[1])


def enc(text, cs):
    """An RFC 2047 encoded-word labelled ``cs`` as mail systems write it (Header would write
    Python's names: "eucgb2312_cn" for gb2312, "big5_tw" for big5)."""
    if cs in ("utf-8", "iso-8859-1"):
        return Header(text, cs).encode()
    return f"=?{cs}?B?{base64.b64encode(text.encode(cs)).decode()}?="


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def write(name, head, body: bytes | str):
    if isinstance(body, str):
        body = body.encode("utf-8")
    (OUT / name).write_bytes(head.encode("ascii") + b"\n" + body)


ORIG = """From: sales@corp.example
To: {rcpt}
Subject: quotation
Date: Tue, 1 Dec 2026 09:00:00 +0800
Message-ID: <{mid}@corp.example>
"""


# ---------------------------------------------------------------- Chinese NDRs
def qq_html(name, rcpt, reason_zh, reply, mid, cs="gb18030"):
    html = f"""<html><body>
<p>很抱歉您发送的邮件被退回，以下是该邮件的相关信息：</p>
<table>
<tr><td>被退回的邮件：</td><td>quotation</td></tr>
<tr><td>时间：</td><td>2026年12月1日 (星期二) 上午9:00</td></tr>
<tr><td>无法到达：</td><td>{rcpt}</td></tr>
<tr><td>退信原因：</td><td>{reason_zh}</td></tr>
</table>
<p>附：原始邮件信息 / 服务器返回信息：<br>
{reply}</p>
<hr><p>此邮件为系统自动发送，请勿回复。</p>
</body></html>
"""
    head = f"""From: "{enc("QQ邮箱", "gb2312")}" <PostMaster@qq.com>
To: sales@corp.example
Subject: {enc("来自QQ邮箱的退信", cs)}
Date: Tue, 1 Dec 2026 09:01:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="qqbound"

--qqbound
Content-Type: text/html; charset="{cs}"
Content-Transfer-Encoding: base64
"""
    body = (
        b64(html.encode(cs))
        + "\n--qqbound\nContent-Type: message/rfc822\n\n"
        + ORIG.format(rcpt=rcpt, mid=mid)
        + "\nhello\n--qqbound--\n"
    )
    write(name, head, body)


qq_html(
    "qq-html-notfound-gb18030.eml",
    "nobody.here@qq.com",
    "收件人地址不存在",
    "550 Mailbox not found or access denied",
    "atk-qq1",
)
qq_html(
    "qq-html-full-gb2312.eml",
    "full.box@qq.com",
    "收件人邮箱空间不足",
    "552 Quota exceeded or service disabled.",
    "atk-qq2",
    "gb2312",
)
qq_html(
    "qq-html-content-denied.eml",
    "buyer@qq.com",
    "邮件内容被拒绝，请检查邮件内容",
    "550 Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726",
    "atk-qq3",
)
qq_html(
    "qq-html-ip-blacklist.eml",
    "buyer2@qq.com",
    "发信IP在黑名单中，邮件被拒收",
    "550 Your IP is in the blacklist. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000728",
    "atk-qq4",
)
qq_html(
    "qq-html-domain-frequency.eml",
    "buyer3@qq.com",
    "发信频率过快，请降低发信频率后重试",
    "550 Domain frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000722",
    "atk-qq5",
)
qq_html(
    "qq-html-connection-frequency.eml",
    "buyer4@qq.com",
    "连接频率过快",
    "550 Connection frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000725",
    "atk-qq6",
)

# Exmail (the sender's provider) bouncing a NetEase reply, plain text, GBK, Chinese + English.
text = """您好，您发送的邮件未能成功投递。

收件人：li.ming@163.com
退信原因：收件人地址不存在
服务器返回：163mx01.mxmail.netease.com said: 550 User not found: li.ming@163.com

Your message to li.ming@163.com could not be delivered.
"""
head = f"""From: {enc("系统退信", "gbk")} <postmaster@exmail.qq.com>
To: sales@corp.example
Subject: {enc("退信：quotation", "gbk")}
Date: Tue, 1 Dec 2026 09:02:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=GBK
Content-Transfer-Encoding: 8bit
"""
write(
    "exmail-netease-notfound-gbk.eml",
    head,
    text.encode("gbk")
    + (
        "\n--b1\nContent-Type: text/rfc822-headers\n\n"
        + ORIG.format(rcpt="li.ming@163.com", mid="atk-ex1")
        + "\n--b1--\n"
    ).encode(),
)


# NetEase Qiye reply relayed by a Postfix MTA as an RFC 3464 report: temporary spam refusal.
def postfix_dsn(name, rcpt, status, diag, mid, action="failed", extra_text=""):
    head = """From: MAILER-DAEMON@mx.corp.example (Mail Delivery System)
To: sales@corp.example
Subject: Undelivered Mail Returned to Sender
Date: Tue, 1 Dec 2026 09:03:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="pf"
"""
    body = f"""--pf
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx.corp.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.
{extra_text}
<{rcpt}>: host mx.remote.example[192.0.2.10] said: {diag} (in reply to end of DATA command)

--pf
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.example
Arrival-Date: Tue, 1 Dec 2026 09:00:00 +0800

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.remote.example
Diagnostic-Code: smtp; {diag}

--pf
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=mid)}
--pf--
"""
    write(name, head, body)


postfix_dsn(
    "netease-qiye-451-dtspm.eml",
    "zhao.min@qiye.163.com",
    "4.0.0",
    "451 DT:SPM qiye163mx1,abc123 1764550000, please try again",
    "atk-nt1",
)


# ---------------------------------------------------------------- auto-replies
def ooo(name, subject, body, cs="utf-8", extra="", sender="zhang.wei@client.example", cte="base64"):
    head = f"""From: {sender}
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Tue, 1 Dec 2026 10:00:00 +0800
{extra}MIME-Version: 1.0
Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    data = body.encode(cs)
    write(name, head, b64(data) if cte == "base64" else data)


ooo(
    "ooo-zh-bare.eml",
    "自动回复：关于报价单",
    "您好！\n我正在休假，12月10日返回办公室，期间无法及时回复邮件。\n如有急事请联系同事 li.na@client.example，电话 010-12345678。\n谢谢！\n",
)
ooo(
    "ooo-zh-gb2312-xautoreply.eml",
    "自动回复: 休假通知",
    "您好，您的来信已收到。本人12月1日至12月8日休假，假期结束后尽快回复。\n",
    "gb2312",
    "X-Autoreply: yes\n",
)
ooo(
    "ooo-zh-big5.eml",
    "自動回覆：休假中",
    "您好，我目前休假中，將於12月9日返回。緊急事項請聯絡 chen.hua@client.example。\n",
    "big5",
    "Auto-Submitted: auto-replied\n",
)
ooo(
    "ooo-ja-iso2022jp.eml",
    "自動応答: 不在のお知らせ",
    "お世話になっております。\n12月1日から12月7日まで不在にしております。\n急ぎの場合は suzuki@client.example までご連絡ください。\n",
    "iso-2022-jp",
    "",
    "tanaka@client.example",
    "7bit",
)
ooo(
    "ooo-de-abwesenheitsnotiz.eml",
    "Abwesenheitsnotiz: Angebot",
    "Vielen Dank für Ihre Nachricht.\nIch bin bis einschließlich 11.12. nicht im Büro. Ihre E-Mail wird nicht weitergeleitet.\nIn dringenden Fällen wenden Sie sich bitte an kollegin@client.example.\n",
    "iso-8859-1",
    "",
    "max.muster@client.example",
    "quoted-printable",
)
ooo(
    "ooo-fr-absence.eml",
    "Réponse automatique : Absence du bureau",
    "Bonjour,\nJe suis absent du bureau jusqu'au 14 décembre et n'aurai qu'un accès limité à mes e-mails.\nPour toute urgence, contactez support@client.example.\n",
    "utf-8",
    "X-Autoreply: yes\nX-Autorespond: yes\n",
    "jean.dupont@client.example",
    "8bit",
)
ooo(
    "ooo-es-fuera.eml",
    "Respuesta automática: Fuera de la oficina",
    "Hola,\nEstoy fuera de la oficina hasta el 9 de diciembre sin acceso al correo.\nPara asuntos urgentes escriba a maria.lopez@client.example.\n",
    "iso-8859-1",
    "",
    "pablo@client.example",
    "8bit",
)
ooo(
    "ooo-ru-koi8.eml",
    "Автоответ: Я в отпуске",
    "Здравствуйте!\nЯ в отпуске до 10 декабря. Ваше письмо не будет прочитано до моего возвращения.\nПо срочным вопросам пишите ivanova@client.example.\n",
    "koi8-r",
    "Auto-Submitted: auto-replied\n",
    "petrov@client.example",
    "8bit",
)
ooo(
    "ooo-en-left-company.eml",
    "Automatic reply: quotation",
    "Thank you for your email. I have left the company and this mailbox is no longer monitored.\nPlease contact sales-team@client.example instead.\n",
    "utf-8",
    "",
    "former@client.example",
    "8bit",
)
ooo(
    "challenge-fr.eml",
    "Veuillez confirmer votre message",
    "Bonjour,\nCe destinataire utilise un filtre anti-spam. Votre message est en attente.\nPour qu'il soit remis, confirmez que vous êtes une personne en cliquant sur le lien ci-dessous :\nhttps://confirm.filter.example/c/abc123\nSans confirmation sous 7 jours, votre message sera supprimé et ne sera pas délivré.\n",
    "utf-8",
    "Auto-Submitted: auto-replied\n",
    "filter@client.example",
    "8bit",
)
ooo(
    "challenge-ja.eml",
    "送信確認のお願い",
    "このメールアドレスはスパム対策のため、送信者の確認を行っています。\n以下のリンクをクリックして確認してください。確認されない場合、メッセージは配信されません。\nhttps://confirm.filter.example/c/xyz\n",
    "utf-8",
    "",
    "filter@client.example",
    "8bit",
)
ooo(
    "challenge-ru.eml",
    "Подтвердите отправку письма",
    "Здравствуйте! Адресат использует защиту от спама. Ваше письмо не доставлено и ожидает подтверждения.\nЧтобы письмо было доставлено, перейдите по ссылке: https://confirm.filter.example/c/ru1\n",
    "utf-8",
    "",
    "filter@client.example",
    "8bit",
)
ooo(
    "challenge-es.eml",
    "Confirmación requerida: su mensaje está retenido",
    "Su mensaje a cliente@client.example no ha sido entregado todavía. Este buzón usa un sistema anti-spam de verificación.\nConfirme que es una persona: https://confirm.filter.example/c/es1\n",
    "utf-8",
    "X-Autoreply: yes\n",
    "filter@client.example",
    "8bit",
)

# ---------------------------------------------------------------- hostile / odd
# no boundary parameter on a multipart/report
head = """From: MAILER-DAEMON@mx.corp.example
To: sales@corp.example
Subject: Undelivered Mail Returned to Sender
Date: Tue, 1 Dec 2026 09:03:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status
"""
write(
    "dsn-no-boundary.eml",
    head,
    """--xyz
Content-Type: text/plain

<gone.user@client.example>: host mx.client.example[192.0.2.7] said: 550 5.1.1
    <gone.user@client.example>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

--xyz
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.example

Final-Recipient: rfc822; gone.user@client.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone.user@client.example>: Recipient address
    rejected: User unknown in virtual mailbox table

--xyz--
""",
)
postfix_dsn(
    "dsn-plus-tag.eml",
    "lead+spring@client.example",
    "5.1.1",
    "550 5.1.1 <lead+spring@client.example>: Recipient address rejected: User unknown in local recipient table",
    "atk-plus",
)
postfix_dsn(
    "dsn-idn-punycode.eml",
    "kaeufer@xn--bcher-kva.example",
    "5.1.1",
    "550 5.1.1 <kaeufer@xn--bcher-kva.example>: Recipient address rejected: User unknown",
    "atk-idn",
)
# the same, the recipient written as RFC 6533 utf-8 address with a unicode domain
postfix_dsn(
    "dsn-idn-utf8.eml",
    "kaeufer@bücher.example",
    "5.1.1",
    "550 5.1.1 <kaeufer@bücher.example>: Recipient address rejected: User unknown",
    "atk-idn2",
)

# ------------------------------------------------- subjects: whose words are they?
# Exchange 2003's text NDR (Microsoft KB, "non-delivery report" of Exchange 2000/2003): the
# subject is "Undeliverable: " + the subject we sent, which may hold an auto-reply's words.
head = """From: System Administrator <postmaster@client.example>
To: sales@corp.example
Subject: Undeliverable: Holiday offer - 20% off until Friday
Date: Tue, 1 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"
"""
write(
    "text-ndr-holiday-subject.eml",
    head,
    """Your message did not reach some or all of the intended recipients.

      Subject:\tHoliday offer - 20% off until Friday
      Sent:\t12/1/2026 9:00 AM

The following recipient(s) cannot be reached:

      gone.buyer@client.example on 12/1/2026 9:00 AM
            The e-mail account does not exist at the organization this message was sent to.  Check the e-mail address, or contact the recipient directly to find out the correct address.
            <mail.client.example #5.1.1 smtp;550 5.1.1 User unknown>
""",
)
text = """您好，您发送的邮件未能成功投递。

收件人：wu.lei@client.example
退信原因：收件人地址不存在
服务器返回：550 User not found: wu.lei@client.example

--- 原始邮件 ---
From: sales@corp.example
To: wu.lei@client.example
Subject: 关于邮箱自动回复设置的通知
Message-ID: <atk-ar1@corp.example>
"""
head = f"""From: {enc("系统退信", "gbk")} <postmaster@exmail.qq.com>
To: sales@corp.example
Subject: {enc("退信：关于邮箱自动回复设置的通知", "gbk")}
Date: Tue, 1 Dec 2026 09:02:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=GBK
Content-Transfer-Encoding: 8bit
"""
write("exmail-autoreply-words-subject.eml", head, text.encode("gbk"))
# a person's reply whose subject (the one answered) holds a bounce word: "Retour" (feedback)
head = """From: Claire Martin <claire.martin@client.example>
To: sales@corp.example
Subject: RE: Retour sur votre devis
Date: Tue, 1 Dec 2026 10:00:00 +0100
In-Reply-To: <atk-fr1@corp.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
"""
write(
    "reply-fr-retour.eml",
    head,
    """Bonjour,

Merci pour votre devis. Je transmets à mon collègue paul.martin@client.example,
qui gère les achats et vous répondra cette semaine.

Cordialement,
Claire
""",
)
# RFC 3834 auto-replies whose subject quotes the one answered after "Re:" / RFC 5230's "Auto:"
ooo(
    "ooo-re-rejected-autosubmitted.eml",
    "Re: Rejected invoice 42 - corrected copy",
    "I am out of the office until 9 December.\nFor invoices please write to accounts@client.example.\n",
    "utf-8",
    "Auto-Submitted: auto-replied\n",
    "kim.lee@client.example",
    "8bit",
)
ooo(
    "ooo-sieve-auto-undeliverable.eml",
    "Auto: Undeliverable parcels - our new returns process",
    "I am away until 9 December.\nFor returns please write to returns@client.example.\n",
    "utf-8",
    "Auto-Submitted: auto-replied\n",
    "kim.lee@client.example",
    "8bit",
)
# Outlook's German auto-reply, no RFC 3834 header (Outlook sets X-Auto-Response-Suppress only),
# from a mailbox no longer in use
ooo(
    "ooo-de-automatische-antwort.eml",
    "Automatische Antwort: Angebot",
    "Dieses Postfach wird nicht mehr verwendet. / This mailbox is no longer in use: your message could not be delivered to the intended recipient.\nBitte schreiben Sie an / please write to neu.kontakt@client.example.\n",
    "utf-8",
    "X-Auto-Response-Suppress: All\n",
    "alt.kontakt@client.example",
    "8bit",
)


# ------------------------------------------------- traditional Chinese (Taiwan, Hong Kong)
def tw_notice(name, rcpt, reason, reply, cs="big5", sender="MAILER-DAEMON@mail.client.example.tw"):
    text = f"""您好，這是郵件系統自動發出的通知。

您寄出的郵件無法送達下列收件者：

    {rcpt}

原因：{reason}
遠端伺服器回應：{reply}

--- 原始郵件標頭 ---
From: sales@corp.example
To: {rcpt}
Subject: quotation
Message-ID: <{name}@corp.example>
"""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {enc("郵件無法送達", cs)}
Date: Tue, 1 Dec 2026 09:05:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset={cs}
Content-Transfer-Encoding: 8bit
"""
    write(name, head, text.encode(cs))


tw_notice("tw-big5-full.eml", "chen.mei@client.example.tw", "收件者信箱已滿", "552 信箱空間不足")
tw_notice("tw-big5-spam.eml", "lin.hao@client.example.tw", "郵件被判定為垃圾郵件", "554 郵件被拒絕")
tw_notice(
    "tw-big5-notfound-rcpt.eml",
    "wang.xiao@client.example.tw",
    "收件者地址不存在",
    "550 無此使用者 (in reply to RCPT TO command)",
)
tw_notice(
    "hk-utf8-frequency.eml",
    "ho.ka@client.example.hk",
    "發信頻率過快，請稍後再試",
    "451 發信頻率過快",
    "utf-8",
)


# ------------------------------------------------- notices in other languages and charsets
def daemon_notice(name, cs, subject, body):
    head = f"""From: MAILER-DAEMON@mx.client.example
To: sales@corp.example
Subject: {enc(subject, cs)}
Date: Tue, 1 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset={cs}
Content-Transfer-Encoding: {"7bit" if cs == "iso-2022-jp" else "8bit"}
"""
    write(name, head, body.encode(cs))


daemon_notice(
    "ja-iso2022jp-notfound.eml",
    "iso-2022-jp",
    "メール配信失敗のお知らせ",
    "以下の宛先へのメール配信に失敗しました。\n\n  yamada@client.example.jp\n\n"
    "理由：宛先のメールアドレスが存在しません。(in reply to RCPT TO command)\n",
)
daemon_notice(
    "ja-iso2022jp-full.eml",
    "iso-2022-jp",
    "配信エラー",
    "送信されたメールは以下の宛先に配信できませんでした。\n\n  sato@client.example.jp\n\n"
    "理由：受信者のメールボックスがいっぱいです。\n",
)
daemon_notice(
    "ko-euckr-full.eml",
    "euc-kr",
    "메일 발송 실패 안내",
    "다음 수신자에게 메일을 보내지 못했습니다.\n\n  kim@client.example.kr\n\n"
    "사유: 받는 사람의 메일함 용량이 초과되었습니다.\n",
)
daemon_notice(
    "ru-koi8-full.eml",
    "koi8-r",
    "Письмо не доставлено",
    "Ваше письмо не удалось доставить следующим получателям:\n\n  ivan@client.example.ru\n\n"
    "Причина: почтовый ящик получателя переполнен.\n",
)
daemon_notice(
    "de-latin1-full.eml",
    "iso-8859-1",
    "Unzustellbar: Angebot",
    "Ihre Nachricht konnte nicht an folgende Empfänger zugestellt werden:\n\n"
    "  max@client.example.de\n\nGrund: Das Postfach des Empfängers ist voll.\n",
)


# ------------------------------------------------- RFC 2047 words inside a Diagnostic-Code
def encoded_dsn(name, rcpt, status, reply, words, cs, remote):
    human = "您发送的邮件无法投递到以下收件人：\n\n  " + rcpt + "\n"
    head = f"""From: {enc("系统管理员", "gb2312")} <postmaster@gw.corp.example>
To: sales@corp.example
Subject: {enc("邮件投递失败", "gb2312")}
Date: Tue, 1 Dec 2026 09:03:00 +0800
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="gw"
"""
    body = f"""--gw
Content-Type: text/plain; charset=gb2312
Content-Transfer-Encoding: base64

{b64(human.encode("gb2312"))}
--gw
Content-Type: message/delivery-status

Reporting-MTA: dns; gw.corp.example

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {status}
Remote-MTA: dns; {remote}
Diagnostic-Code: smtp; {reply} {enc(words, cs)}

--gw
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=rcpt, mid=name)}
--gw--
"""
    write(name, head, body)


encoded_dsn(
    "dsn-encoded-words-full.eml",
    "gao.yan@client.example",
    "5.0.0",
    "552",
    "收件人邮箱空间不足",
    "gb2312",
    "mx.client.example",
)
encoded_dsn(
    "dsn-encoded-words-notfound.eml",
    "no.such@qq.com",
    "5.0.0",
    "550",
    "收件人不存在",
    "utf-8",
    "mx3.qq.com",
)


# ------------------------------------------------- a temporary refusal after a full-width colon
text = """您好，您发送的邮件暂时未能投递，系统将不再重试。

收件人：tang.li@client.example
退信原因：收件人地址不存在
服务器返回：450 收件人地址不存在，请稍后重试
"""
head = f"""From: {enc("系统退信", "gbk")} <postmaster@mail.corp.example>
To: sales@corp.example
Subject: {enc("系统退信", "gbk")}
Date: Tue, 1 Dec 2026 09:02:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=GBK
Content-Transfer-Encoding: 8bit
"""
write("zh-fullwidth-colon-450.eml", head, text.encode("gbk"))


# ------------------------------------------------- a challenge without any RFC 3834 header
head = """From: Verification Service <verify@filter.example>
To: sales@corp.example
Subject: Verification required: your message is on hold
Date: Tue, 1 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
"""
write(
    "challenge-en-noheader.eml",
    head,
    """Hello,

I protect kim.lee@client.example from spam. Your message could not be delivered to
kim.lee@client.example until you verify that you are a human sender:

https://filter.example/v/123

Once verified, your messages will reach kim.lee@client.example without this step.
""",
)


# ------------------------------------------------- Chinese failure and delay notices in words
def zh_notice(name, subject, opening, rcpt, reason, closing):
    text = f"""您好，{opening}

收件人：{rcpt}
原因：{reason}
{closing}
"""
    head = f"""From: postmaster@exmail.qq.com
To: sales@corp.example
Subject: {enc(subject, "utf-8")}
Date: Tue, 1 Dec 2026 09:02:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
"""
    write(name, head, text.encode("utf-8"))


zh_notice(
    "zh-delay-notice.eml",
    "邮件延迟投递通知",
    "您发送的邮件暂时未能投递成功，系统将继续尝试投递，您无需重新发送。",
    "zhou.qi@client.example",
    "对方服务器暂时无法连接（451 Temporary local problem - please try later）",
    "系统将在48小时内继续尝试投递。",
)
zh_notice(
    "zh-failure-notice.eml",
    "邮件投递通知",
    "很抱歉，您发送的邮件未能成功投递，系统已不再重试。",
    "qian.feng@client.example",
    "收件人地址不存在（550 User not found）",
    "请核对收件人地址后重新发送。",
)
