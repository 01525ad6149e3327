"""What the reporting MTA (or the receiving provider) tells about a bounce's words.

Matched against a *signature*: the Reporting-MTA, the notification's sender and mailer headers
and the recipient's domain, lower-cased (:func:`warmup.bounces.parse` builds it).
"""

from __future__ import annotations

import re

from .screen import Screened

__all__ = [
    "directory_verdict",
    "masks_filters",
    "mta_message",
    "notice_verdict",
    "posting_refused",
    "reported_category",
]

# Mail systems whose "user unknown" wording comes from their own directory (they write the
# notification themselves, or answer RCPT from the directory): Lotus Domino/Notes ("not listed
# in Domino Directory"), Novell GroupWise (its Internet Agent writes "undeliverable to the
# following: addr (user not found)" from its own directory), Ipswitch IMail (X-Mailer "<SMTP32 ...>"), Trend Micro InterScan
# MSS, Mail.ru and Yahoo ("This user doesn't have a yahoo.com account", documented by Yahoo as
# its reply for a nonexistent account); the Chinese providers, whose published reply tables give
# "550 Mailbox not found or access denied" (Tencent QQ / Exmail), "550 User not found" (NetEase
# 163 / 126 / Qiye) and "收件人不存在" (Alibaba Mail) for an address that does not exist. Mail
# stores that write their own notices (Courier, Kerio Connect, MDaemon, SmarterMail, Zimbra,
# Exchange's "Microsoft Outlook" NDRs), and the consumer providers that answer RCPT from their
# own directory and document that answer for a nonexistent account: GMX / web.de ("mailbox
# unavailable"), Yandex ("No such user!", with a 5.7.1), Rambler, Outlook.com ("5.5.0 ... mailbox
# unavailable"), Sohu, Sina, Naver, Daum (tests/corpus/vendors/README.md names the sources).
# Mail.ru answers for its other domains (bk.ru, inbox.ru, list.ru, internet.ru) and Yahoo for
# ymail.com and rocketmail.com; Exchange's NDRs whatever their sender's name (a tenant's
# postmaster@NAME.onmicrosoft.com, Exchange's MicrosoftExchange<guid> system mailbox, the
# X-MS-Exchange-Message-Is-Ndr header or the NDR's "Diagnostic information for administrators"
# heading, which the parser marks in the signature as "microsoft exchange ndr"); Verizon
# Wireless' vtext.com (SMS) and vzwpix.com (MMS) gateways write their own notice ("Error:
# Invalid user address ... no such user here"), and so did verizon.net's mail ("The following
# destination addresses were unknown"). China Mobile's 139.com
# and China Telecom's 189.cn / 21cn.com answer from their own directory as the other Chinese
# providers do (their help pages on returned mail: 用户不存在, "550 User not found"). Yahoo's notice is
# known by its form too where its sender's domain was rewritten (message.signature: "yahoo
# failure notice"): Yahoo's "Remote host said: 550 ... <addr>... User Unknown" is the reply to
# its RCPT TO, as sisimai's lhost/yahoo.rb reads it (BSD-2). Symantec.cloud
# (MessageLabs) writes its own notice when its recipient validation refuses an address ("No such
# user", read so by sisimai's lhost/messagelabs.rb, BSD-2).
_DIRECTORY = re.compile(
    r"\bdomino\b|lotus notes|groupwise|\bimail\b|ipswitch|<smtp32 v|interscan|\bmail\.ru\b|\byahoo(?:dns)?\."
    r"|\bmessagelabs\.com\b|yahoo failure notice"
    r"|[@.]qq\.com\b|exmail|foxmail|[@.](?:163|126|188)\.com\b|yeah\.net|netease|qiye\.163"
    r"|aliyun|mxhichina|alibaba"
    r"|courier mail server|kerio connect|\bmdaemon\b|smartermail|\bzimbra\b|microsoft outlook"
    r"|[@.]onmicrosoft\.com\b|\bmicrosoftexchange[0-9a-f]{32}@|microsoft exchange ndr"
    r"|[@.](?:gmx\.(?:net|de|at|ch|com)|web\.de|yandex\.(?:ru|com|ua|by|kz)|ya\.ru|rambler\.ru"
    r"|(?:bk|inbox|list|internet)\.ru|ymail\.com|rocketmail\.com|vtext\.com|vzwpix\.com"
    r"|hotmail\.[a-z.]+|outlook\.com|live\.com|msn\.com|sohu\.com|sina\.(?:com|cn)|naver\.com"
    r"|hanmail\.net|daum\.net|verizon\.net|139\.com|189\.cn|21cn\.com)\b"
)
# Receiving providers documented to answer "550 Unknown user" to mail their users' filters
# refused (Japanese mobile carriers' reception settings): there the words say nothing about the
# address.
_MASKS = re.compile(
    r"(?:^|[@.\s])(?:docomo\.ne\.jp|ezweb\.ne\.jp|au\.com|softbank\.ne\.jp|i\.softbank\.jp|"
    r"[a-z]\.vodafone\.ne\.jp|disney\.ne\.jp|pdx\.ne\.jp|willcom\.com|emnet\.ne\.jp)\b"
)


# A directory's verdict in its own words, whoever relays it and whatever the status or the stage
# (the relay's notice may name neither the vendor nor the stage): each vendor's documented phrase
# for an address it does not have, which no filter's refusal borrows. Lotus Domino names its
# directory ("User x (addr) not listed in Domino Directory"; before R5, "... in public Name &
# Address Book"; its notices rarely name Domino in a header), in its localised releases too
# ("no se encuentra en el Directorio de Domino", "non répertorié dans l'annuaire Domino",
# "Domino ディレクトリには見つかりません", Notes' "ディレクトリのリストにありません": the product's
# strings as sisimai's Domino and Notes modules list them, BSD-2; the German release's "nicht im
# Domino-Verzeichnis aufgeführt", as CiviCRM's public test messages show it, AGPL; any other
# release's sentence that names the directory after its negation, "non è presente nella
# Directory di Domino", "não está listado no Diretório do Domino"). Yahoo prefixes its replies
# with "delivery error: dd" ("dd This user doesn't have a yahoo.com account", for each domain it
# hosts): the same sentence without the prefix is another system's and proves nothing. Ipswitch
# IMail: "Invalid final delivery userid". Mail.ru: "Message was not accepted -- invalid mailbox".
# Yandex: "No such user!" (with a 5.7.1). qmail's badrcptto and validrcptto patches refuse from
# the server's own list of recipients ("553 sorry, your envelope recipient is in my badrcptto
# list (#5.7.1)", "... is not in my validrcptto list"), under the 5.7.1 qmail-smtpd gives every
# refusal (sisimai's Reason/UserUnknown.pm reads them so, BSD-2). Gmail and Google Workspace,
# in the notice they write without a report: "Your message wasn't delivered to addr because the
# address couldn't be found. Check for typos or unnecessary spaces and try again." (the address
# does not exist; Lhost/GoogleWorkspace.pm reads it so). Exchange's own NDR (on-premises or
# Exchange Online), whoever sends it and whatever a relay rewrote of its headers, in the
# sentences its body is made of: "Diagnostic information for administrators:" and "Remote
# Server returned '...'" (Microsoft Learn, "Email non-delivery reports and SMTP errors in
# Exchange Online"; sisimai's Lhost::Office365 and Exchange2007 know the notice by them, BSD-2):
# the notice the "Microsoft Outlook" sender above writes. Tencent Exmail's "550 Mailbox not
# found or access denied" and NetEase's "550 User not found: <addr>" (their reply-code help
# pages: the address does not exist), relayed by a gateway or a forwarding host that names
# neither the provider nor the stage. Searched only for "user
# unknown" words without an X.1.x status: rare, so the searches cost nothing measurable.
_DIRECTORY_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "lotus domino",
            r"not listed in (?:the )?(?:domino directory|public name (?:&|and) address)"
            r"|no se encuentra en el directorio de domino|non r.pertori. dans l.annuaire domino"
            r"|nicht im domino-verzeichnis"
            r"|(?:\bnon?|\bnot|\bnicht|\bniet|\bnão|\bnie|\bne|\bej|\bikke)\b[^.;]{0,40}?"
            r"\b(?:directory|directorio|diret.rio|annuaire|verzeichnis|katalogu?|adresáři|katalogen"
            r"|kataloget)(?: (?:di|de|do|del|da|van|dans l.))? domino\b"
            r"|domino ディレクトリには見つかりません|ディレクトリのリストにありません",
        ),
        ("yahoo", r"delivery error: dd this user doesn.t have an? "),
        ("ipswitch imail", r"invalid final delivery userid"),
        ("mail.ru", r"message was not accepted -- invalid mailbox"),
        ("yandex", r"\bno such user!"),
        ("qmail's recipient lists", r"\bbad ?(?:rcpt|recipient)to\b|not in my validrcptto\b"),
        ("gmail", r"because the address couldn.t be found\. check for typos"),
        (
            "microsoft exchange",
            r"diagnostic information for administrators|remote server returned '",
        ),
        ("tencent exmail", r"\bmailbox not found or access denied\b"),
        ("netease", r"\buser not found: <?[^\s<>@]+@"),
    )
)


def directory_verdict(signature: str, text: str = "") -> str:
    """The mail system named in ``signature`` whose "unknown user" is a directory verdict, or
    whose verdict ``text`` (the folded, lower-cased diagnostic) quotes in its own words; or ""."""
    m = _DIRECTORY.search(signature)
    if m:
        return m.group(0).strip("<.@ ")
    return next((name for name, words in _DIRECTORY_WORDS if words.search(text)), "")


def masks_filters(signature: str) -> str:
    """The provider in ``signature`` known to mask filter refusals as "unknown user", or ""."""
    m = _MASKS.search(signature)
    return m.group(0).strip("@. ") if m else ""


# Google Groups refuses a post (the group does not exist, or the sender may not post to it) in
# a notice of its own, with no status code and in the sender's language ("the group you tried to
# contact (name) may not exist, or you may not have permission to post messages to the group"):
# the failed recipient is the group's address at googlegroups.com.
_GROUPS = re.compile(r"[@.]googlegroups\.com\b")


# Its sentence is its own wherever the group lives (a Google Workspace group at the customer's
# domain, its notice carried in a report whose status says nothing): the refusal of a post.
_GROUP_REFUSAL = re.compile(
    r"the group you tried to contact \([^()]{1,200}\) may not exist"
    r"|may not have permission to post messages to the group"
)


def posting_refused(signature: str, text: str = "") -> str:
    """The group service in ``signature``, or whose sentence the (folded) ``text`` holds, whose
    code-less notice refuses a post; or ""."""
    if "googlegroups" in signature and _GROUPS.search(signature):
        return "google groups"
    return "google groups" if "the group" in text and _GROUP_REFUSAL.search(text) else ""


# A vendor's notice whose own sentence is its verdict, in words that say nothing (or only
# "rejected") elsewhere: Trend Micro's InterScan MSS / Vision One writes "Unable to deliver
# message to <addr>" for an address its recipient check refused; Symantec MessageLabs' own
# notice gives "542 <addr> Rejected" for an address its recipient validation does not know
# (sisimai's lhost/trendmicro.rb and messagelabs.rb read them so, BSD-2).
_NOTICE_WORDS: tuple[tuple[re.Pattern[str], str, re.Pattern[str]], ...] = (
    (
        re.compile(r"interscan|trend ?micro"),
        "trend micro",
        re.compile(r"unable to deliver message to <"),
    ),
    (re.compile(r"\bmessagelabs\.com\b"), "messagelabs", re.compile(r"\b542 \S+ rejected\b")),
)


def notice_verdict(signature: str, text: str) -> str:
    """The vendor named in ``signature`` whose notice sentence in ``text`` (folded, lower-cased)
    says the address is unknown, or ""."""
    for vendor, name, words in _NOTICE_WORDS:
        if vendor.search(signature) and words.search(text):
            return name
    return ""


# A report's own per-recipient category: PowerMTA's X-PowerMTA-BounceCategory (its documented
# bounce categories; sisimai's lhost/powermta.rb maps them so, BSD-2). The reporting MTA
# classified the reply itself, often from more than the words quoted.
_CATEGORIES = {
    "bad-domain": "hostunknown",
    "bad-mailbox": "userunknown",
    "inactive-mailbox": "suspend",
    "message-expired": "expired",
    "no-answer-from-host": "networkerror",
    "policy-related": "policyviolation",
    "quota-issues": "mailboxfull",
    "routing-errors": "systemerror",
    "spam-related": "spamdetected",
}
CATEGORY_FIELDS = ("x-powermta-bouncecategory",)


def reported_category(record: dict[str, str]) -> tuple[str, str]:
    """(field, reason) of a report's category field in ``record`` that names a reason, or ("", "")."""
    for name in CATEGORY_FIELDS:
        reason = _CATEGORIES.get(record.get(name, "").strip().lower(), "")
        if reason:
            return name, reason
    return "", ""


# The reporting MTA's own messages, which name their reason in words no generic rule reads (or
# reads as another): the strings its source writes, as sisimai's Lhost modules quote them
# (BSD-2). Exim (deliver.c, parser.c, transports/smtp.c, routers; its clone MXLogic), qmail
# (qmail-remote.c, the qmail-ldap patch), Exchange 2003 (its MSEXCH codes) and 2007 (its
# RESOLVER/SMTPSEND codes), Courier (esmtpclient.c), Lotus Domino and Notes, Gmail's SMTP
# client states of 2008-2012 ("(state 6)": TLS, "(state 12)": relay refused; 15, 17 and 18 after
# DATA), au by KDDI's notice, Zoho's. Each row says over which words it decides: a *code*
# (Exchange's, unique to it) whatever words stand beside it, it is the MTA's own classification
# of the reply; a *message* over generic words ("forbidden", "Giving up on 192.0.2.1.") or a
# status alone, but not over words a strong rule reads, nor over generic words the status
# confirms (Exim's catch-all "local delivery failed" beside "550 5.1.1 mailbox unavailable":
# two readings of the address against one that names no cause; the status breaks the tie, as
# everywhere in :func:`warmup.bounces.classify.decide`); a *fallback* only where neither the
# words nor the status name anything:
# qmail's "does not like recipient" is its word for any refusal at RCPT, so the remote's words
# after it ("Remote host said: 552 ... mailbox full", "550 5.7.1 Message refused") or its status
# ("552 5.2.2 Skrzynka pelna") decide when they say anything, and it says nothing after the queue ran out on a 4xx ("I'm not going to
# try again"). Rows with a signature apply only to reports it matches: "host not reachable" is
# Zoho's word for a delivery it stopped retrying, anyone else's for a network error.
_FALLBACK, _MESSAGE, _CODE = 0, 1, 2
_MTA_ROWS: tuple[tuple[str, str, int, str, str], ...] = (
    # (MTA, reason, over which words it decides, signature the report must match ("" any), words)
    ("exchange", "networkerror", _CODE, "", r"smtpsend\.dns\.mxloopback"),
    (
        "exchange",
        "systemerror",
        _CODE,
        "",
        r"resolver\.adr\.(?:badprimary|invalidinsmtp|ambiguous)",
    ),
    ("exchange", "toomanyconn", _CODE, "", r"resolver\.adr\.reciplimit"),
    ("exchange", "systemerror", _CODE, "", r"\((?:00010256|000d06b5)\)"),
    ("exchange", "networkerror", _CODE, "", r"\(00120270\) too many hops"),
    ("exchange", "contenterror", _CODE, "", r"\((?:00050311|000502cc)\)"),
    ("exchange", "securityerror", _CODE, "", r"\(000b0981\)"),
    ("exchange", "filtered", _CODE, "", r"\(000c0595\)"),
    ("exim", "notaccept", _MESSAGE, "", r"no host found for existing smtp connection"),
    (
        "exim",
        "syntaxerror",
        _MESSAGE,
        "",
        r"angle-brackets nested too deep|expected word or \"<\"|domain missing in source-routed"
        r"|malformed address: ",
    ),
    (
        "exim",
        "systemerror",
        _MESSAGE,
        "",
        r"delivery to file forbidden|delivery to pipe forbidden|local delivery failed",
    ),
    ("exim", "expired", _MESSAGE, "", r"have been failing for a long time"),
    ("exim", "contenterror", _MESSAGE, "", r'too many "received" headers'),
    (
        "qmail",
        "userunknown",
        _FALLBACK,
        "",
        r"does not like recipient\.(?!.*not going to try again)",
    ),
    ("qmail", "blocked", _MESSAGE, "", r"but my name was rejected"),
    (
        "qmail",
        "systemerror",
        _MESSAGE,
        "",
        r"bad interpreter: no such file|automatic homedir creat|temporary error in automatic homedir"
        r"|illegal value in ldap attribute|ldap attribute is not given|ldap server"
        r"|too many results returned but needs to be unique|temporary failure in ldap lookup"
        r"|(?:permanent|temporary) error while executing qmail-forward",
    ),
    ("courier", "systemerror", _MESSAGE, "", r"this domain's dns violates rfc 1035"),
    ("lotus domino", "filtered", _MESSAGE, "", r"cannot route mail to user"),
    ("lotus domino", "systemerror", _MESSAGE, "", r"several matches found in domino directory"),
    ("lotus notes", "networkerror", _MESSAGE, "", r"message has exceeded maximum hop count"),
    ("gmail", "systemerror", _MESSAGE, "", r"\(state [689]\)"),
    ("gmail", "norelaying", _MESSAGE, "", r"\(state 12\)"),
    ("gmail", "filtered", _MESSAGE, "", r"\(state 1[578]\)"),
    ("gmail", "expired", _MESSAGE, "", r"dns error: could not contact dns servers"),
    ("gmail", "hostunknown", _MESSAGE, "", r"dns error: dns server returned answer with no data"),
    ("au by kddi", "norelaying", _MESSAGE, "", r"due to the following smtp relay error"),
    ("zoho", "expired", _MESSAGE, r"\bzoho", r"host not reachable"),
    # fml, a mailing-list server, refusing a post in its own notice (Lhost/FML.pm's table):
    # the whole notice is fml's verdict on the post, whatever generic words it uses
    (
        "fml",
        "rejected",
        _CODE,
        r"\bfml\b",
        r"you are not a member of this mailing list|not member article from|reject mail from"
        r"|reject spammers:|header may cause mail loop",
    ),
    (
        "fml",
        "systemerror",
        _CODE,
        r"\bfml\b",
        r"has detected a loop condition so that|duplicated message-id|loop back warning:",
    ),
    ("fml", "securityerror", _CODE, r"\bfml\b", r"security alert:"),
)
# Each row's words searched only where one of their literals occurs: the literal checks of all
# rows cost ~5 µs a diagnostic, one pattern of all rows ~100 µs wherever any literal occurs.
_MTA_WORDS = tuple(Screened(re.compile(row[4])) for row in _MTA_ROWS)


def mta_message(signature: str, text: str, said: int = 0) -> tuple[str, str]:
    """(the MTA, the reason) of the reporting MTA's own message in ``text`` (folded,
    lower-cased), or ("", ""). ``said``: what the words already say (0 nothing, 1 generic
    words, 2 words a strong rule reads or the status confirms); a row decides only over what it
    outranks."""
    for row, words in zip(_MTA_ROWS, _MTA_WORDS, strict=True):
        mta, reason, over, signed, _ = row
        if over >= said and words.search(text) and (not signed or re.search(signed, signature)):
            return mta, reason
    return "", ""
