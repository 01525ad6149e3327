"""Writes tests/corpus/unseen3/*.eml: python tests/corpus/unseen3/generate.py tests/corpus/unseen3

Each fixture's source is in README.md; expected answers are in tests/test_bounce_unseen3.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/corpus: noticekit
import noticekit
from noticekit import (
    enc,
    exim,
    postfix,
    report_notice,
    text_notice,
    write,
)

noticekit.OUT = OUT = Path(sys.argv[1])

# ------------------------------------------------ European consumer providers' own notices
text_notice(
    "orange-fr-latin9-mailbox-full.eml",
    "Mail Delivery System <MAILER-DAEMON@orange.fr>",
    enc("Échec de la remise du message", "iso-8859-15"),
    """Ce message a été créé automatiquement par le logiciel de distribution du courrier.

Votre message n'a pas pu être remis à un ou plusieurs destinataires.
Il s'agit d'une erreur permanente. L'adresse suivante a échoué :

  amelie.roux@wanadoo.fr
    La boîte aux lettres du destinataire est pleine.
    552 5.2.2 Quota du destinataire dépassé (OFR_552)
""",
    "amelie.roux@wanadoo.fr",
    "un3-01",
    cs="iso-8859-15",
)
text_notice(
    "free-fr-latin1-user-unknown.eml",
    "MAILER-DAEMON@free.fr (Mail Delivery System)",
    enc("Message non remis : adresse inexistante", "iso-8859-1"),
    """Votre message n'a pas pu être délivré au destinataire suivant :

<bastien.petit@free.fr> : adresse électronique inexistante.
Le destinataire n'a pas de boîte aux lettres chez Free.
550 5.1.1 <bastien.petit@free.fr>: Recipient address rejected: free.fr
""",
    "bastien.petit@free.fr",
    "un3-02",
    cs="iso-8859-1",
)
postfix(
    "sfr-fr-554-refused-as-spam.eml",
    "claire.moreau@sfr.fr",
    "mx.sfr.fr",
    "554 5.7.1 Message refuse, considere comme spam / Message refused as spam (SFR)",
    "5.7.1",
    "un3-03",
    cmd="end of DATA",
)
text_notice(
    "laposte-fr-cp1252-user-unknown.eml",
    "Postmaster <postmaster@laposte.net>",
    enc("Non remis : quotation", "windows-1252"),
    """La remise de votre message aux destinataires suivants a échoué :

denis.lefevre@laposte.net
L'adresse e-mail du destinataire n'existe pas : utilisateur inconnu.
550 5.1.1 Utilisateur inconnu / User unknown
""",
    "denis.lefevre@laposte.net",
    "un3-04",
    cs="windows-1252",
)
postfix(
    "tonline-554-ip-tosa-block.eml",
    "emil.braun@t-online.de",
    "mx00.t-online.de",
    "554 IP=192.0.2.10 - A problem occurred. (Ask your postmaster for help or to contact "
    "tosa@rx.t-online.de to clarify.) (BL)",
    "5.0.0",
    "un3-05",
)
text_notice(
    "webde-de-latin1-mailbox-full.eml",
    "Mail Delivery System <mailer-daemon@web.de>",
    enc("Unzustellbar: quotation", "iso-8859-1"),
    """Diese Nachricht wurde automatisch vom Mail-System erzeugt.

Ihre Nachricht konnte an einen oder mehrere Empfänger nicht zugestellt werden.
Dies ist ein permanenter Fehler. Folgende Adresse(n) schlugen fehl:

  frieda.koch@web.de
    Das Postfach des Empfängers ist voll. Der Empfänger hat sein
    Speichervolumen überschritten.
    552 5.2.2 Mailbox voll / mailbox full
""",
    "frieda.koch@web.de",
    "un3-06",
    cs="iso-8859-1",
)
text_notice(
    "libero-it-latin1-mailbox-full.eml",
    "MAILER-DAEMON@libero.it",
    enc("Messaggio non recapitato", "iso-8859-1"),
    """Il messaggio non è stato recapitato ai seguenti destinatari:

giulia.ricci@libero.it
La casella di posta del destinatario è piena: spazio esaurito.
552 5.2.2 casella piena / mailbox full
""",
    "giulia.ricci@libero.it",
    "un3-07",
    cs="iso-8859-1",
)
text_notice(
    "virgilio-it-latin1-user-unknown.eml",
    "MAILER-DAEMON@virgilio.it",
    enc("Messaggio non recapitato", "iso-8859-1"),
    """Il messaggio non è stato recapitato ai seguenti destinatari:

<luca.conti@virgilio.it>: utente inesistente.
L'indirizzo del destinatario non esiste.
550 5.1.1 <luca.conti@virgilio.it> recipient rejected
""",
    "luca.conti@virgilio.it",
    "un3-08",
    cs="iso-8859-1",
)
text_notice(
    "seznam-cs-latin2-mailbox-full.eml",
    "Mail Delivery System <MAILER-DAEMON@email.seznam.cz>",
    enc("Nedoručitelná zpráva", "iso-8859-2"),
    """Vaši zprávu nebylo možné doručit následujícím příjemcům:

  jana.novakova@seznam.cz
    Schránka příjemce je plná.
    552 5.2.2 Mailbox full
""",
    "jana.novakova@seznam.cz",
    "un3-09",
    cs="iso-8859-2",
)
text_notice(
    "onet-pl-latin2-no-account.eml",
    "Mail Delivery System <MAILER-DAEMON@onet.pl>",
    enc("Wiadomość niedostarczona", "iso-8859-2"),
    """Twoja wiadomość nie mogła zostać dostarczona do następujących adresatów:

  karol.wozniak@onet.pl
    Konto odbiorcy nie istnieje.
    550 5.1.1 Podany adres e-mail nie istnieje
""",
    "karol.wozniak@onet.pl",
    "un3-10",
    cs="iso-8859-2",
)
text_notice(
    "wp-pl-latin2-refused-as-spam.eml",
    "Mail Delivery System <MAILER-DAEMON@wp.pl>",
    enc("Wiadomość niedostarczona", "iso-8859-2"),
    """Twoja wiadomość nie mogła zostać dostarczona do następujących adresatów:

  lena.kaminska@wp.pl
    Wiadomość została odrzucona przez filtr antyspamowy (spam).
    554 5.7.1 Message rejected as spam
""",
    "lena.kaminska@wp.pl",
    "un3-11",
    cs="iso-8859-2",
)

# ------------------------------------------------ Russian providers (KOI8-R / Windows-1251)
text_notice(
    "mailru-ru-cp1251-ratelimit.eml",
    "Mail Delivery System <MAILER-DAEMON@corp.mail.ru>",
    enc("Письмо не доставлено", "windows-1251"),
    """Сообщение не было доставлено следующим получателям:

  maxim.orlov@mail.ru
    Превышен лимит писем для этого получателя, повторите попытку позже.
    451 Ratelimit exceeded for mailbox maxim.orlov@mail.ru. Try again later.
""",
    "maxim.orlov@mail.ru",
    "un3-12",
    cs="windows-1251",
    cte="base64",
)
text_notice(
    "yandex-ru-koi8r-mailbox-full.eml",
    "MAILER-DAEMON@yandex.ru",
    enc("Недоставленное сообщение", "koi8-r"),
    """Это письмо создано автоматически сервером Яндекс.Почты.

Ваше письмо не удалось доставить по следующим адресам:

<nina.volkova@yandex.ru>: Ящик получателя переполнен.
552 5.2.2 Mailbox size limit exceeded
""",
    "nina.volkova@yandex.ru",
    "un3-13",
    cs="koi8-r",
)
text_notice(
    "rambler-ru-cp1251-mailbox-blocked.eml",
    "Mail Delivery System <MAILER-DAEMON@rambler.ru>",
    enc("Письмо не доставлено", "windows-1251"),
    """Ваше сообщение не доставлено следующим получателям:

  oleg.sokolov@rambler.ru
    Почтовый ящик получателя заблокирован.
    550 5.2.1 Mailbox disabled
""",
    "oleg.sokolov@rambler.ru",
    "un3-14",
    cs="windows-1251",
)

# ------------------------------------------------ Korean (EUC-KR) and Japanese carriers
text_notice(
    "nate-ko-euckr-no-address.eml",
    "Mail Delivery System <mailer-daemon@nate.com>",
    enc("메일 전송 실패", "euc-kr"),
    """보내신 메일이 다음 수신자에게 전달되지 못했습니다.

받는 사람: park.jisoo@nate.com
실패 사유: 받는 사람의 메일 주소가 존재하지 않습니다.
550 5.1.1 User unknown
""",
    "park.jisoo@nate.com",
    "un3-15",
    cs="euc-kr",
    cte="base64",
)
text_notice(
    "naver-ko-euckr-mailbox-full.eml",
    "MAILER-DAEMON@naver.com",
    enc("메일 발송 실패 안내", "euc-kr"),
    """고객님께서 보내신 메일이 다음 수신인에게 전달되지 못했습니다.

받는 사람: kim.minji@naver.com
실패 사유: 받는 사람의 메일함 용량이 가득 찼습니다.
552 5.2.2 Mailbox full
""",
    "kim.minji@naver.com",
    "un3-16",
    cs="euc-kr",
    cte="base64",
)
text_notice(
    "softbank-ja-shiftjis-unknown.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@softbank.ne.jp>",
    enc("送信エラー", "shift_jis"),
    """送信したメールは、以下の宛先に配信できませんでした。

宛先: sato.haruto@softbank.ne.jp
理由: 宛先のメールアドレスが見つかりません。
550 Unknown user sato.haruto@softbank.ne.jp
""",
    "sato.haruto@softbank.ne.jp",
    "un3-17",
    cs="shift_jis",
    cte="base64",
)
text_notice(
    "docomo-ja-iso2022jp-refused-by-settings.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@docomo.ne.jp>",
    enc("送信エラー", "iso-2022-jp"),
    """送信したメールは、受信者の迷惑メール設定により受信が拒否されました。

宛先: suzuki.yui@docomo.ne.jp
理由: 受信者が指定受信設定をしているため、受信拒否されました。
550 5.7.1 Rejected by recipient's settings
""",
    "suzuki.yui@docomo.ne.jp",
    "un3-18",
    cs="iso-2022-jp",
    cte="7bit",
)

# ------------------------------------------------ US consumer providers
postfix(
    "icloud-552-message-too-big.eml",
    "tom.hill@icloud.com",
    "mx01.mail.icloud.com",
    "552 5.3.4 Message size exceeds fixed maximum message size",
    "5.3.4",
    "un3-19",
    cmd="end of DATA",
)
postfix(
    "comcast-554-bl000010-blocked.eml",
    "uma.reed@comcast.net",
    "mx1.comcast.net",
    "554 resimta-po-01v.sys.comcast.net comcast 192.0.2.10 Comcast block for spam. Please "
    "see http://postmaster.comcast.net/smtp-error-codes.php#BL000010",
    "5.0.0",
    "un3-20",
)
exim(
    "comcast-550-not-our-customer.eml",
    "vic.ross@comcast.net",
    "mx2.comcast.net",
    "550 5.1.1 <vic.ross@comcast.net> Not our Customer",
    "un3-21",
)
postfix(
    "cox-554-ip-blocked-cxbl.eml",
    "wes.gray@cox.net",
    "cxr.mx.a.cloudfilter.net",
    "554 cxr.cox.net cmsmtp 192.0.2.10 blocked - Refer to Error Code: CXBL "
    "https://www.cox.com/residential/support/email-error-codes.html",
    "5.0.0",
    "un3-22",
    cmd="MAIL FROM",
)
postfix(
    "outlookcom-550-ou-002-block-list.eml",
    "xia.lopez@hotmail.com",
    "hotmail-com.olc.protection.outlook.com",
    "550 OU-002 (SNT004-MC1F43) Unfortunately, messages from 192.0.2.10 weren't sent. "
    "Please contact your Internet service provider since part of their network is on our "
    "block list. You can also refer your provider to http://mail.live.com/mail/"
    "troubleshooting.aspx#errors.",
    "5.0.0",
    "un3-23",
    cmd="MAIL FROM",
)

# ------------------------------------------------ Gmail: rate, authentication, on behalf
exim(
    "gmail-421-470-unusual-rate-gave-up.eml",
    "yann.diaz@gmail.com",
    "gmail-smtp-in.l.google.com",
    "421-4.7.0 Our system has detected an unusual rate of unsolicited mail originating\n"
    "    421-4.7.0 from your IP address. To protect our users from spam, mail sent from your\n"
    "    421-4.7.0 IP address has been temporarily blocked. For more information, visit\n"
    "    421 4.7.0 https://support.google.com/mail/answer/188131 a1si123 - gsmtp",
    "un3-24",
    cmd="MAIL FROM:<sales@corp.example>",
    retry=True,
)
postfix(
    "gmail-550-5726-unauthenticated-spf-dkim.eml",
    "zoe.king@gmail.com",
    "gmail-smtp-in.l.google.com",
    "550-5.7.26 This mail has been blocked because the sender is unauthenticated. "
    "550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM. "
    "550-5.7.26  550-5.7.26  Authentication results: 550-5.7.26  DKIM = did not pass "
    "550-5.7.26  SPF [corp.example] with ip: [192.0.2.10] = did not pass "
    "550 5.7.26 https://support.google.com/mail/answer/81126 b2si456 - gsmtp",
    "5.7.26",
    "un3-25",
    cmd="end of DATA",
)
postfix(
    "gmail-550-571-not-authorized-on-behalf.eml",
    "adam@client.example",
    "aspmx.l.google.com",
    "550 5.7.1 <sales@corp.example> is not authorized to send on behalf of corp.example "
    "c3si789 - gsmtp",
    "5.7.1",
    "un3-26",
    cmd="MAIL FROM",
)

# ------------------------------------------------ Exchange NDRs, localised
EXCHANGE = {
    # lang: (charset, subject prefix, intro, diagnostic header, generating server, remote said)
    "de": (
        "utf-8",
        "Unzustellbar: ",
        "Fehler bei der Zustellung an folgende Empfänger oder Gruppen:",
        "Diagnoseinformationen für Administratoren:",
        "Generierender Server:",
        "Remoteserver hat '{reply}' zurückgegeben",
    ),
    "es": (
        "utf-8",
        "No se puede entregar: ",
        "No se pudo entregar a estos destinatarios o grupos:",
        "Información de diagnóstico para administradores:",
        "Servidor de generación:",
        "El servidor remoto devolvió '{reply}'",
    ),
    "pt": (
        "utf-8",
        "Não é possível entregar: ",
        "Falha na entrega a estes destinatários ou grupos:",
        "Informações de diagnóstico para administradores:",
        "Servidor de geração:",
        "O servidor remoto retornou '{reply}'",
    ),
    "ja": (
        "iso-2022-jp",
        "配信不能: ",
        "次の受信者またはグループへの配信に失敗しました:",
        "管理者向けの診断情報:",
        "生成サーバー:",
        "{reply}",
    ),
    "ko": (
        "ks_c_5601-1987",
        "배달 못 함: ",
        "다음 받는 사람 또는 그룹에게 배달하지 못했습니다.",
        "관리자를 위한 진단 정보:",
        "생성 서버:",
        "{reply}",
    ),
    "ru": (
        "koi8-r",
        "Недоставленное сообщение: ",
        "Не удалось доставить сообщение следующим получателям или группам:",
        "Диагностические сведения для администраторов:",
        "Создающий сервер:",
        'Удаленный сервер возвратил "{reply}"',
    ),
    "tr": (
        "iso-8859-9",
        "Teslim Edilemedi: ",
        "Şu alıcılara veya gruplara teslim başarısız oldu:",
        "Yöneticiler için tanılama bilgileri:",
        "Oluşturan sunucu:",
        "Uzak Sunucu '{reply}' döndürdü",
    ),
}


def exchange(name, lang, rcpt, explain, reply, mid):
    """Exchange's NDR in the sender's language (the text part only, as Outlook shows it): the
    localised explanation, then the administrators' diagnostic block, where a reply Exchange
    wrote itself is "#5xx x.x.x ... ##" and a remote's is quoted."""
    cs, prefix, intro, diag, server, said = EXCHANGE[lang]
    text = f"""{intro}

{rcpt}
{explain}

{diag}

{server} mail.corp.example

{rcpt}
{said.format(reply=reply)}

Original message headers:
"""
    text_notice(
        name,
        "Microsoft Outlook <MAILER-DAEMON@mail.corp.example>",
        enc(prefix + "quotation", "iso-2022-jp" if cs == "iso-2022-jp" else "utf-8"),
        text,
        rcpt,
        mid,
        cs=cs,
        cte="7bit" if cs == "iso-2022-jp" else ("base64" if cs != "utf-8" else "8bit"),
        extra="X-MS-Exchange-Message-Is-Ndr: \nContent-Language: " + lang + "\n",
    )


exchange(
    "exchange-de-remote-552-mailbox-full.eml",
    "de",
    "gerd.wolf@client.example",
    "Das Postfach des Empfängers ist voll, und es können zurzeit keine Nachrichten "
    "angenommen werden. Versuchen Sie später erneut, die Nachricht zu senden.",
    "552 5.2.2 Mailbox full",
    "un3-27",
)
exchange(
    "exchange-es-local-571-not-authorized.eml",
    "es",
    "ventas@client.example",
    "Su mensaje no se ha entregado al grupo porque no tiene permiso para enviar a este grupo.",
    "#550 5.7.1 RESOLVER.RST.AuthRequired; authentication required ##",
    "un3-28",
)
exchange(
    "exchange-pt-remote-541-access-denied.eml",
    "pt",
    "helena.costa@client.example",
    "O servidor de email do destinatário rejeitou a sua mensagem: o endereço de email "
    "não foi encontrado.",
    "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
    "[BN1NAM02FT001.eop-nam02.prod.protection.outlook.com]",
    "un3-29",
)
exchange(
    "exchange-ja-local-5110-recipient-not-found.eml",
    "ja",
    "ito.ren@client.example",
    "入力した電子メール アドレスが見つかりませんでした。受信者の電子メール アドレスを確認して、"
    "メッセージを再送信してください。",
    "#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##",
    "un3-30",
)
exchange(
    "exchange-ko-local-511-recip-not-found.eml",
    "ko",
    "lee.seojun@client.example",
    "입력한 전자 메일 주소를 찾을 수 없습니다. 받는 사람의 전자 메일 주소를 확인한 후 "
    "메시지를 다시 보내세요.",
    "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##",
    "un3-31",
)
exchange(
    "exchange-ru-remote-552-quota.eml",
    "ru",
    "irina.petrova@client.example",
    "Почтовый ящик получателя переполнен, и он не может принимать сообщения в данный момент. "
    "Попробуйте отправить сообщение позже.",
    "552 5.2.2 Quota exceeded",
    "un3-32",
)
exchange(
    "exchange-tr-local-571-delivery-not-authorized.eml",
    "tr",
    "satis@client.example",
    "Bu gruba gönderme izniniz olmadığından iletiniz gruba teslim edilemedi.",
    "#550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized ##",
    "un3-33",
)

# ------------------------------------------------ Postfix / Exim / Sendmail, odd statuses
postfix(
    "postfix-status-50550-no-such-user.eml",
    "jack@client.example",
    "mx.client.example",
    "550 No such user - psmtp",
    "5.0.550",
    "un3-34",
)
exim(
    "exim-552-550-mailbox-full.eml",
    "kira@client.example",
    "mx.client.example",
    "552 5.5.0 <kira@client.example>: Mailbox full, try again later",
    "un3-35",
)
report_notice(
    "sendmail-status-500-transcript-user-unknown.eml",
    "Mail Delivery Subsystem <MAILER-DAEMON@mx.corp.example>",
    "Returned mail: see transcript for details",
    """The original message was received at Mon, 7 Dec 2026 09:00:00 +0100
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<liam@client.example>
    (reason: 550 5.0.0 <liam@client.example>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.client.example.:
>>> RCPT To:<liam@client.example>
<<< 550 5.0.0 <liam@client.example>... User unknown
550 5.1.1 <liam@client.example>... User unknown
""",
    [
        (
            "liam@client.example",
            "failed",
            "5.0.0",
            "SMTP; 550 5.0.0 <liam@client.example>... User unknown",
            ["Remote-MTA: DNS; mx.client.example"],
        )
    ],
    "un3-36",
    "mx.corp.example",
)
postfix(
    "postfix-status-530-host-not-found.eml",
    "mia@client-gone.example",
    "client-gone.example",
    "Host or domain name not found. Name service error for name=client-gone.example "
    "type=A: Host not found",
    "5.3.0",
    "un3-37",
)

# ------------------------------------------------ delay notices (a warning, no failure)
report_notice(
    "exchange-de-delay-report.eml",
    "Microsoft Outlook <MAILER-DAEMON@mail.corp.example>",
    enc("Zustellung verzögert: quotation", "utf-8"),
    """Die Zustellung an folgende Empfänger oder Gruppen verzögert sich:

nico.lang@client.example

Betreff: quotation

Diese Nachricht wurde noch nicht zugestellt. Es wird weiterhin versucht, die Nachricht
zuzustellen.

Der Server versucht noch 1 Tag und 19 Stunden lang, die Nachricht zuzustellen. Sie
werden benachrichtigt, wenn die Nachricht nicht zugestellt werden kann.
""",
    [
        (
            "nico.lang@client.example",
            "delayed",
            "4.4.7",
            "",
            ["Will-Retry-Until: Wed, 9 Dec 2026 05:00:00 +0100"],
        )
    ],
    "un3-38",
    "mail.corp.example",
    cs="utf-8",
)
text_notice(
    "exchange-fr-delay-text.eml",
    "Microsoft Outlook <MAILER-DAEMON@mail.corp.example>",
    enc("Remise retardée : quotation", "utf-8"),
    """La remise est retardée pour ces destinataires ou groupes :

olga.marchand@client.example

Objet : quotation

Ce message n'a pas encore été remis. Les tentatives de remise se poursuivent.

Le serveur tentera de remettre le message pendant encore 1 jour et 19 heures. Vous
recevrez une notification si le message ne peut pas être remis d'ici là.
""",
    "olga.marchand@client.example",
    "un3-39",
    cs="utf-8",
)
text_notice(
    "exchange-es-delay-text.eml",
    "Microsoft Outlook <MAILER-DAEMON@mail.corp.example>",
    enc("Entrega retrasada: quotation", "utf-8"),
    """La entrega está retrasada para estos destinatarios o grupos:

pablo.ruiz@client.example

Asunto: quotation

Este mensaje aún no se ha entregado. Seguiremos intentando entregarlo.

El servidor seguirá intentando entregar este mensaje durante 1 día y 19 horas más. Se le
notificará si no se puede entregar para entonces.
""",
    "pablo.ruiz@client.example",
    "un3-40",
    cs="utf-8",
)
text_notice(
    "gmail-450-421-receiving-rate-warning.eml",
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "Delivery Status Notification (Delay)",
    """This is an automatically generated Delivery Status Notification

THIS IS A WARNING MESSAGE ONLY.

YOU DO NOT NEED TO RESEND YOUR MESSAGE.

Delivery to the following recipient has been delayed:

     quinn.baker@gmail.com

Message will be retried for 2 more day(s)

Technical details of temporary failure:
The recipient server did not accept our requests to connect.
The error that the other server returned was:
450-4.2.1 The user you are trying to contact is receiving mail at a rate that
450-4.2.1 prevents additional messages from being delivered. Please resend your
450-4.2.1 message at a later time. If the user is able to receive mail at that
450-4.2.1 time, your message will be delivered. For more information, please
450 4.2.1 visit https://support.google.com/mail/?p=ReceivingRate d4si1011 - gsmtp

----- Original message -----
""",
    "quinn.baker@gmail.com",
    "un3-41",
)
report_notice(
    "postfix-delay-outlookcom-421-rp-001.eml",
    "MAILER-DAEMON@mx.corp.example (Mail Delivery System)",
    "Delayed Mail (still being retried)",
    """This is the mail system at host mx.corp.example.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

                   The mail system

<rosa.white@outlook.com>: host outlook-com.olc.protection.outlook.com[192.0.2.46]
    said: 421 RP-001 (COL004-MC1F12) Unfortunately, some messages from
    192.0.2.10 weren't sent. Please try again. We have limits for how many
    messages can be sent per hour and per day. (in reply to MAIL FROM command)
""",
    [
        (
            "rosa.white@outlook.com",
            "delayed",
            "4.0.0",
            "smtp; 421 RP-001 (COL004-MC1F12) Unfortunately, some messages from 192.0.2.10 "
            "weren't sent. Please try again. We have limits for how many messages can be sent "
            "per hour and per day.",
            [
                "Remote-MTA: dns; outlook-com.olc.protection.outlook.com",
                "Will-Retry-Until: Sat, 12 Dec 2026 09:00:00 +0100",
            ],
        )
    ],
    "un3-42",
    "mx.corp.example",
)

# ------------------------------------------------ not bounces, though they look like one
write(
    "human-reply-quoting-a-bounce.eml",
    """From: Sam Carter <sam.carter@client.example>
To: sales@corp.example
Subject: Re: quotation
Date: Mon, 7 Dec 2026 11:00:00 +0100
In-Reply-To: <un3-43@corp.example>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
""",
    """Hi,

our colleague's old address no longer works, your mail to her came back to us like this:

> Delivery to the following recipient failed permanently:
>
>      tina.old@client.example
>
> Technical details of permanent failure:
> 550 5.1.1 The email account that you tried to reach does not exist.

Please write to tina.new@client.example instead. I'd like the quotation too.

Best,
Sam
""",
)
write(
    "newsletter-undelivered-subject.eml",
    """From: Parcel News <news@parcels.example>
To: sales@corp.example
Subject: Parcel undelivered? Reschedule your delivery in one click
Date: Mon, 7 Dec 2026 11:05:00 +0100
List-Unsubscribe: <mailto:unsubscribe@parcels.example>, <https://parcels.example/u/123>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
""",
    """Hello,

missed a parcel? When a delivery fails, our drivers leave a card: undelivered parcels wait
5 days at your nearest pick-up point. Reschedule in one click in the app.

This month: free delivery on returns.

You receive this newsletter because you subscribed at parcels.example. Unsubscribe:
https://parcels.example/u/123
""",
)
write(
    "autoreply-subject-undeliverable.eml",
    """From: Ute Frank <ute.frank@client.example>
To: sales@corp.example
Subject: Undeliverable: quotation
Date: Mon, 7 Dec 2026 11:10:00 +0100
Auto-Submitted: auto-replied
X-Autoreply: yes
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
""",
    """Thank you for your message. I am out of the office until 14 December 2026 with
limited access to e-mail. For urgent matters please contact office@client.example.

Ute Frank
""",
)
