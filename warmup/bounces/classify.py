"""Bounce classification: diagnostic words + enhanced status + reply code + SMTP stage +
reporting MTA -> reason -> kind (the reason table: :mod:`warmup.bounces.reasons`).

Reasons first (:func:`decide`): the words name a reason (:mod:`warmup.bounces.wording`), strong
words decide whatever the status, the status decides where the words are generic or missing;
"user unknown" words are weighed against the SMTP stage and the reporting MTA
(:mod:`warmup.bounces.vendors`). Throttling (our volume) is recognised first.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .providers import REMOTE_MARK, provider_reason
from .reasons import REASON_KIND, Verdict, kind_of
from .screen import Screened
from .stage import AFTER_DATA, LOCAL_DELIVERY, RCPT_STATED, at_rcpt, smtp_stage
from .vendors import (
    directory_verdict,
    masks_filters,
    mta_message,
    notice_verdict,
    posting_refused,
)
from .wording import WORD_RULES, agreeing, fold, read_words

__all__ = [
    "REMOTE_MARK",
    "classify",
    "classify_smtp_reply",
    "decide",
    "extract_reply",
    "extract_status",
    "refuses_size",
    "is_throttle",
    "reason_of",
    "says_nothing",
    "smtp_stage",
    "words_text",
]


def _p(block: str) -> Screened:
    """Compile alternatives written one group per line (lines are joined with "|")."""
    return Screened(
        re.compile("|".join(ln.strip() for ln in block.strip().splitlines() if ln.strip()))
    )


def _words(text: str) -> list[str]:
    """Whitespace-separated table entries (keeps long tables compact and diff-friendly)."""
    return text.split()


# The look-behind comes after the first digit, not before it: a pattern that starts with a class
# lets the engine skip to the next 2, 4 or 5 (4x faster on a diagnostic); "(?<!X)[245]" and
# "[245](?<!X[245])" match the same texts.
_STATUS_RE = re.compile(
    r"([245])(?<![\d.][245])(?<![A-Za-z_]-[245])\.(\d{1,3})\.(\d{1,3})(?![\d.])"
)
_REPLY_STATUS_RE = re.compile(
    r"([245](?<![\d.][245])\d\d)[\s-]+#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])"
)
# "：" is the colon of Chinese and Japanese text ("服务器返回：451 ...").
_REPLY_RE = re.compile(
    r"(?:^|said:|<<<|smtp;|\]:|\):|:|：)\s*([45]\d\d)(?=[\s-]|$)(?![\d.])", re.MULTILINE
)


# The rules of generic words: they name a reason only where nothing says more.
_WEAK_RULES = frozenset(f"words.{rule.name}" for rule in WORD_RULES if not rule.strong)

# Status codes that say nothing specific: the diagnostic text decides.
_GENERIC_DETAIL = {(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (7, 1)}

# Status codes whose meaning MTAs stretch a lot: clear wording overrides them.
_WEAK_STATUS = {
    (2, 1),
    (3, 0),
    (3, 3),
    (3, 5),
    *((4, d) for d in range(1, 5)),
    *((5, d) for d in range(1, 7)),
}
# Words naming a family whose member the status names (RFC 3463): "message too large" under
# X.2.3 is the recipient's own per-mailbox length limit (exceedlimit), not the system's (X.3.4).
_REFINED_BY_STATUS = {("mesgtoobig", "exceedlimit")}
# RFC 5321 4.2.3: 500 syntax error, 501 in parameters, 502 not implemented, 503 bad sequence of
# commands, 504 parameter not implemented: the session's commands, nothing about the address.
_SYNTAX_REPLIES = frozenset(("500", "501", "502", "503", "504"))
# A multi-line reply folded into one line keeps the code of every continuation line ("550-5.7.1
# Messages with multiple 550-5.7.1 addresses in From: header"), splitting the words the rules
# read: read without them. (The look-behind after the space, not before it: a pattern that starts
# with a literal lets the engine skip to the next space, 5x faster.)
_CONTINUATION = re.compile(r" (?<=[^\s\d] )[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} ")
# The reply code a multi-line reply opens with ("550-No such"), and the same code opening each
# of its later lines, folded into one ("550-No such 550 user", RFC 5321 4.2.1), with or without
# an enhanced status: the codes, not the words, split "no such user".
# (Not in a word: checked after the match, a look-behind is twice as slow.)
_OPENING = re.compile(r"([245]\d\d)-(?=[^\s\d])")
_IN_A_WORD = re.compile(r"[\w.-]")
# The pattern of each code's later lines, compiled when first met (not 300 at import).
_REPEATED: dict[str, re.Pattern[str]] = {}
# qmail-send ends a failure it kept retrying with "I'm not going to try again; this message has
# been in the queue too long.", after the last attempt's reason and its status ("Sorry, I wasn't
# able to establish an SMTP connection. (#4.4.1)"): the words say the retries ended, the status
# says why. (Not a timeout's words: "Connection timed out" is the failure itself.)
_QUEUE_ENDED = re.compile(r"not going to try again(?!.*timed? ?out)")
_SENDERS = ((1, 7), (1, 8))  # X.1.7 bad sender's mailbox address, X.1.8 bad sender's system
# RFC 7372's X.7.17 "mailbox owner has changed" and X.7.18 "domain owner has changed": under
# X.7 but a verdict on the address itself, never a policy filter masking as "user unknown".
_OWNER_CHANGED = ((7, 17), (7, 18))
_STATUS_REASON: dict[tuple[int, int], str] = {
    (int(k.split(".")[0]), int(k.split(".")[1])): v
    for k, v in (
        item.split("=")
        for item in _words("""
        1.1=userunknown 1.2=hostunknown 1.3=userunknown 1.4=userunknown 1.5=userunknown
        1.6=hasmoved 1.7=rejected 1.8=rejected 1.9=userunknown 1.10=notaccept
        2.1=suspend 2.2=mailboxfull 2.3=exceedlimit 2.4=systemerror
        3.1=systemfull 3.2=notaccept 3.3=systemerror 3.4=mesgtoobig 3.5=systemerror
        4.1=networkerror 4.2=networkerror 4.3=systemerror 4.4=hostunknown 4.5=systemerror
        4.6=networkerror 4.7=expired
        5.1=syntaxerror 5.2=syntaxerror 5.3=exceedlimit 5.4=syntaxerror 5.5=syntaxerror
        5.6=syntaxerror
        6.0=contenterror 6.1=contenterror 6.2=contenterror 6.3=contenterror 6.4=contenterror
        6.5=contenterror 6.6=contenterror 6.7=contenterror 6.8=contenterror 6.9=contenterror
        6.10=contenterror
        7.2=policyviolation 7.3=securityerror 7.4=securityerror 7.5=securityerror
        7.6=securityerror 7.7=securityerror 7.8=authfailure 7.9=securityerror
        7.10=securityerror 7.11=securityerror 7.12=securityerror 7.13=suspend
        7.14=securityerror 7.15=securityerror 7.16=securityerror 7.17=suspend 7.18=suspend
        7.20=authfailure 7.21=authfailure 7.22=authfailure 7.23=authfailure 7.24=authfailure
        7.25=requireptr 7.26=authfailure 7.27=notaccept 7.28=blocked 7.29=securityerror
        7.30=authfailure
        """)
    )
}

_THROTTLE_TEXT = _p(r"""
    too many (?:connections|concurrent|sessions|messages|mails|emails|recipients (?:per|received)|requests|smtp|simultaneous|errors)
    too frequent|too fast|\brate[- ]?limit|rate of (?:unsolicited )?mail|rate that prevents
    frequency|frequen|sending (?:rate|limit|quota)
    (?:daily|hourly) (?:user )?(?:sending |message |recipient )?(?:quota|limit)
    (?:quota|limit) exceeded
    exceed(?:ed|s)? (?:the |its |your )?(?:daily |hourly |sending |rate |message |connection )?limit
    server busy|temporarily deferred|unexpected volume|try again later|antispam_bat|throttl
    \brp:(?:cel|qrc|trc|drc|ccl|tmf|rcl)\b|\bmi:(?:sfq|stc|ctq|cel|dmc|ccl)\b|\bhl:(?:icc|ifc)\b
    \brl:trc\b|submissionquotaexceeded|limits? (?:for|on) how many (?:messages|recipients|emails)(?![^.;:]{0,30}\b(?:in|per) (?:a |one |a single |each )?(?:message|email)\b)
    connection limit|maximum number of (?:concurrent |simultaneous )?connections
    concurrent connections|tenant external recipient rate|exceeded its .{0,30}limit
    频率|频繁|过多|并发|超过限制|超出限制|超过了.{0,8}限制|数量超|超限|限额|配额
""")
# Per-recipient mailbox size quota is not about our rate, even though it says "quota". In Chinese
# the mailbox's (邮箱) quota (配额, 限额) or storage (存储) over its limit, unless the sender's
# (发件人, 发信) or a day's (每日, 当天) is meant.
_NOT_THROTTLE = _p(r"""
    (?:mailbox|account|mailfolder) (?:is )?full|mail ?box .{0,20}quota|over ?quota|storage|disk quota|error: quota exceed
    insufficient (?:disk|system)|no space left|disk (?:is )?full
    user(?:'s)? (?:mailbox )?quota|size limit|message (?:is )?too (?:large|big)
    too many hops|too many recipients$
    容量|空间不足|(?:邮箱|信箱|空间|存储)(?:配额)?已满|大小|邮件过大|附件
    (?<!发件人)(?<!发信)(?<!发送)(?:邮箱|信箱)[^发送日天，。,;]{0,6}(?:配额|限额|超限)
    存储(?:空间)?[^发送日天，。,;]{0,4}(?:配额|限额|超限)|空间超限
""")
# Too many messages *held* for the recipient (web.de's "User has too many messages on the server"):
# the recipient's mailbox is full by count, not our volume.
_HELD = re.compile(
    r"too many (?:messages|mails) (?:on the server|in (?:the |this |his |her |their )?"
    r"(?:mailbox|inbox|folder))"
)
# Gmail 4.7.28/5.4.5, Microsoft 5.7.232/5.7.233 (tenant external recipient rate), 4.7.500 and
# 4.7.650 (rate limited), 5.2.121/5.2.122 (per-hour receive limits), 5.1.90 (daily recipients),
# 4.3.2 (concurrent connections), 4.4.5 (server busy).
_THROTTLE_STATUS = frozenset(
    _words("4.7.28 5.7.28 5.7.232 5.7.233 5.4.5 4.4.5 4.7.500 4.7.650 5.2.121 5.2.122 5.1.90 4.3.2")
)
_THROTTLE_REPLIES = frozenset(_words("421 450 451 452 454 550 553 554"))
# Explicit wording about the sender's volume (what a permanent or per-recipient reply needs).
_VOLUME = Screened(
    re.compile(
        r"too many|frequen|rate[- ]?limit|quota exceeded|limit exceeded|exceed|"
        r"antispam_bat|sending (?:rate|limit|quota)|\brp:|\bmi:(?:sfq|stc|cel|dmc|ccl)|\bhl:i[cf]c|"
        r"\brl:trc|submissionquotaexceeded|limits? (?:for|on) how many (?:messages|recipients|emails)(?![^.;:]{0,30}\b(?:in|per) (?:a |one |a single |each )?(?:message|email)\b)|频率|频繁|过多|并发|超过限制|超出限制|超过了.{0,8}限制|数量超|超限|限额|配额"
    )
)
_GREYLIST = re.compile(r"gr[ae]y-?list")
# The sending mailbox past its provider's own limit, named as such (Exchange Online's NDR,
# Outlook.com's wording): never a recipient's quota, whatever the status says.
_SENDER_LIMIT = re.compile(
    r"submissionquotaexceeded|limits? (?:for|on) how many (?:messages|recipients|emails) can be sent"
    r"(?![^.;:]{0,30}\b(?:in|per) (?:a |one |a single |each )?(?:message|email)\b)"
)
# A temporary ban of the sending IP or account (NetEase's HL:REP, "被临时禁止连接"): as a live
# 421 the session ends and every next one is refused until it lifts. A report quoting it
# afterwards is a block (wording.py): the message was refused for the sender's reputation.
_BANNED = re.compile(r"\bhl:(?:rep|mep|ihu)\b|禁止连接|被暂时挂起|temporarily (?:banned|suspended)")
# "quota" with nothing saying it is the sender's (sending, daily, hourly, too many)
_OWN_QUOTA = re.compile(r"^(?!.*(?:sending|daily|hourly|too many|frequen|rate)).*quota")
# The Chinese providers' own volume words: 频率 (frequency), 频繁 (too often), 过多 (too many).
_FREQUENT = re.compile(r"frequen|too many|频率|频繁|过多")
_TOO_MANY = re.compile(r"frequen|too many (?:conn|mess|mail)|频率|频繁")
# Words of a block inside a volume reply. Alibaba's "[ANTISPAM_BAT]" is the name of its rate
# rule ("发信频率过快"), not a spam verdict.
_BLOCK_WORDS = re.compile(r"blocked|(?<!anti)spam|blacklist")
# The advice that closes most temporary replies, whatever failed: a volume word only where
# nothing else in the reply names a reason (:func:`_advice_only`).
_RETRY_ADVICE = re.compile(r"(?:please )?try again later")
# A link's address is no wording: NetEase links every code to its help page help_spam_16.htm,
# its volume codes too ("421 HL:ICC http://mail.163.com/help/help_spam_16.htm"), whose words
# are read without it.
_LINK = re.compile(r"\b(?:https?://|www\.)\S+")


# Sendmail's own result line in its transcript ("550 5.1.1 <addr>... User unknown"): the text of
# the exit status it mapped the remote's reply code to (usersmtp.c: any 550 at RCPT is EX_NOUSER,
# 5.1.1; sysexits.c's SysExMsg gives EX_NOUSER "550 5.1.1 User unknown", EX_NOHOST "550 5.1.2
# Host unknown", EX_UNAVAILABLE "554 5.0.0 Service unavailable"), whatever the remote said. Where
# the transcript quotes the remote's reply ("<<< 550 Your server requires confirmation"), that
# reply is the evidence; Sendmail's line beside it says only that a 550 came back. Not a line the
# remote wrote itself: a Sendmail remote's "<<< 550 5.1.1 <addr>... User unknown" is its verdict,
# and so is the reply InterScan MSS's transcript marks the other way round ("Received >>> 550
# 5.0.0 <addr>... User unknown", stage.py): Sendmail never sends a reply code after ">>>".
_SENDMAIL_OWN = re.compile(
    r"(?<!<<< )(?<!>>> )(?<![\w.])[45]\d\d (?:[45]\.\d\.\d{1,3} )?<[^<>\s]*>\.\.\. "
    r"(?:user unknown|host unknown|service unavailable)\b"
)


def joined_reply(text: str) -> str:
    """``text`` (folded) with a multi-line reply's lines joined as its words run: the codes that
    open its later lines (:data:`_REPEATED`) dropped."""
    for opening in _OPENING.finditer(text):
        if not opening.start() or not _IN_A_WORD.match(text, opening.start() - 1):
            break
    else:
        return text
    start, code = opening.end(), opening.group(1)
    repeated = _REPEATED.get(code)
    if repeated is None:
        repeated = _REPEATED[code] = re.compile(
            r" (?<=[^\s\d] )" + code + r"[ -](?:[245]\.\d{1,3}\.\d{1,3}[ -])?(?=\S)"
        )
    return text[:start] + repeated.sub(" ", text[start:])


def words_text(text: str) -> str:
    """``text`` (folded) as the word rules read it: without the codes of the continuation lines
    of a multi-line reply folded into one (:data:`_CONTINUATION`), nor Sendmail's own result
    line beside the remote's reply it quotes (:data:`_SENDMAIL_OWN`)."""
    if "<<< " in text and ">... " in text:
        text = _SENDMAIL_OWN.sub(" ", text)
    return _CONTINUATION.sub(" ", text)


def _failing(pattern: re.Pattern[str], text: str, group: int) -> re.Match[str] | None:
    """The first match of ``pattern`` in ``text``; where it is a success (2xx, 2.X.X), the first
    failure after it if any. A session's transcript ("250 2.1.5 Ok ... 451 4.3.0 Error: queue
    file write error") answers each command in turn: its failure is what failed."""
    m = pattern.search(text)
    if m is None or m.group(group)[:1] != "2":
        return m
    for later in pattern.finditer(text, m.end()):
        if later.group(group)[:1] != "2":
            return later
    return m


def extract_status(text: str) -> str:
    """Return the first RFC 3463 enhanced status code found in ``text`` (the first failure's,
    after a success), or "". A success code in a text whose failing reply carries none is
    no status of that failure: "" (:func:`_failed_bare`)."""
    m = _failing(_REPLY_STATUS_RE, text, 2)
    if m and m.group(2)[:1] != "2":
        return m.group(2)
    s = _failing(_STATUS_RE, text, 1)
    status = ".".join(s.groups()) if s else (m.group(2) if m else "")
    return "" if status[:1] == "2" and _failed_bare(text) else status


def extract_reply(text: str) -> str:
    """Return the first 3-digit SMTP reply code found in ``text`` (the first failure's, after a
    success), or ""."""
    m = _failing(_REPLY_STATUS_RE, text, 1)
    if m and m.group(1)[:1] != "2":
        return m.group(1)
    r = _failing(_REPLY_RE, text, 1)
    reply = r.group(1) if r else ""
    return reply if reply[:1] in ("4", "5") or m is None else m.group(1)


def _failed_bare(text: str) -> bool:
    """Whether ``text`` holds a failing reply code (4xx, 5xx). A session's transcript ("250
    2.1.0 Sender ok ... RCPT TO:<x> ... 550 No such user here ... 221 2.0.0 Bye": Postfix's
    client notice, a Sendmail transcript) gives enhanced codes to the commands that went
    through and none to the reply that failed: theirs say nothing about it."""
    r = _failing(_REPLY_RE, text, 1)
    return r is not None and r.group(1)[:1] in ("4", "5")


# An enhanced status code as RFC 3463 writes it, and nothing else (ASCII digits: int() would
# take "٥" or " 1" too)
_CODE_RE = re.compile(r"[0-9]\.([0-9]{1,3})\.([0-9]{1,3})", re.ASCII)


def _code_key(status: str) -> tuple[int, int] | None:
    m = _CODE_RE.fullmatch(status)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _reporter(mta: str) -> str:
    """The explanation's words for ``mta``: the reporter's signature (Reporting-MTA, From,
    X-Mailer), the host that answered (after :data:`REMOTE_MARK`) and the recipient's domain,
    which the parser appends as " @domain"."""
    who, at, domain = f" {mta}".rpartition(" @")
    who, _, remote = (who if at else mta).partition(REMOTE_MARK)
    who, remote = " ".join(who.split()), " ".join(remote.split())
    said = (f"; reported by {who}" if who else "") + (f"; answered by {remote}" if remote else "")
    return said + (f"; recipient's domain {domain}" if at and domain else "")


def decide(
    status: str,
    reply: str,
    diagnostic: str,
    stage: str | None = None,
    mta: str = "",
    *,
    delayed: bool = False,
    tables: bool = True,
) -> Verdict:
    """Decide why one recipient failed: a :class:`~warmup.bounces.reasons.Verdict`.

    Reasons first: the diagnostic's words name a reason (:mod:`warmup.bounces.wording`); strong
    words decide whatever the status; the status code decides where the words are missing or
    only generic, and breaks ties. ``stage`` is the SMTP command the reply answered ("RCPT",
    "DATA"; "" unknown; ``None`` for a live reply). An unknown stage is no evidence: only a
    stated DATA stage turns "user unknown" words into a filter's mask (as at Japanese mobile
    carriers), unless an X.1.x status says the address is bad. ``mta`` names the reporting host
    (shown in the path). A live temporary (4xx) reply is never hard: the message is retried; in a
    report (``stage`` not None) a 4xx is the last reply before the server gave up, unless the
    report is a delay warning (``delayed``: the server still tries, a 4xx is never hard). The
    reason's kind comes from the one table,
    :data:`~warmup.bounces.reasons.REASON_KIND`. ``tables=False`` leaves the receiving
    providers' code tables unread: the verdict of the general evidence alone.
    """
    text = joined_reply(fold(diagnostic or ""))
    steps: list[str] = []
    given = bool(status or reply)
    status = status or extract_status(text)
    reply = reply or extract_reply(text)
    where = "" if given else " (read from the text)"
    steps.append(
        f"status {status or 'none'}, reply {reply or 'none'}{where}; SMTP stage "
        + ("live reply" if stage is None else stage or "unknown")
        + _reporter(mta)
    )
    code_class = status[:1] or reply[:1]
    temporary = code_class == "4"

    def verdict(reason: str, rule: str, why: str) -> Verdict:
        if temporary and reason == "hostunknown":
            # A name that did not resolve on an attempt that will be retried ("DNS Error: ...
            # NXDOMAIN" in a delay or a 4xx): a lookup failure for now, not yet a verdict.
            why += "; a temporary failure: the lookup failed this time"
            reason = "networkerror"
        # A live 4xx is retried: never hard. In a report of a delivery given up on (a stage, even
        # an unknown one), a 4xx is the last reply after days of retries: "user unknown" or "has
        # moved" then is the verdict on the address (as the reference reads it); a host "not
        # accepting mail" may come back (soft under a 4xx, as there). A delay warning's 4xx is
        # no last reply: the server still tries, and the address may yet take the message.
        retried = temporary and (stage is None or delayed or reason == "notaccept")
        kind = kind_of(reason, retried)
        note = (
            " (a 4xx: retried, never hard)" if retried and REASON_KIND.get(reason) == "hard" else ""
        )
        steps.append(f"{why} -> {reason} -> {kind}{note}")
        return Verdict(reason, kind, rule, tuple(steps))

    if code_class == "2":
        return verdict("delivered", "status.success", "a 2xx code: not a failure")
    # A receiving provider's own code or sentence says what its generic words do not
    # (Orange's "OFR_416", GoDaddy's "IB212"): its published table decides. Where the general
    # evidence (words, status, stage) reaches the same verdict without it ("Client host blocked
    # for spamming issues. OFR006_102"), that evidence is the rule named: it holds for every
    # provider, the table for one, and it is what an operator who disagrees should question.
    # Not generic words ("Service refused"), which name a reason only by default.
    known = provider_reason(mta, text, reply) if tables else None
    if known is not None:
        provider, code, reason = known
        table = f"{provider.label}'s table: {code}"
        ruled = verdict(reason, f"provider.{provider.name}", table)
        general = decide(status, reply, diagnostic, stage, mta, delayed=delayed, tables=False)
        if (general.reason, general.kind) != (ruled.reason, ruled.kind) or (
            general.rule in _WEAK_RULES
        ):
            return ruled
        return replace(general, steps=(*general.steps, f"{table}, which agrees"))
    number = int(reply) if reply.isdigit() else 0
    if _is_throttle(number, text, status) and not _advice_only(number, text, status):
        if _BLOCK_WORDS.search(_LINK.sub(" ", text)) and not _FREQUENT.search(text):
            return verdict("blocked", "throttle.blocked", "volume wording with a block")
        return verdict("toomanyconn", "throttle", "wording or code about our sending volume")
    key = _code_key(status)
    said = words_text(text)
    words = read_words(said)
    if words is None:
        steps.append("words: nothing known")
    else:
        strength = "strong" if words.strong else "weak"
        steps.append(f"words: {strength} rule {words.name!r} says {words.reason}")
    by_status = _STATUS_REASON.get(key) if key and key not in _GENERIC_DETAIL else None
    # The reporting MTA's own code or message (vendors.py): its classification of the reply.
    # One message of the MTA's outweighs generic words or a status alone, not both saying the
    # same ("550 5.1.1 mailbox unavailable; local delivery failed": the status and the words
    # name the address, Exim's catch-all names nothing): there the status breaks the tie.
    # A status that names a reason is something said, as generic words are: the MTA's fallback
    # (qmail's "does not like recipient", any refusal at RCPT) yields to "552 5.2.2" too, and
    # to X.6 (media) and X.7 (security or policy), whose class names one even as X.6.0, X.7.1.
    confirmed = words is not None and (words.strong or words.reason == by_status)
    if words is not None:
        said_by = 1 + confirmed
    else:
        said_by = by_status not in (None, "userunknown") or bool(key and key[0] in (6, 7))
    own, by_own = mta_message(mta, text, int(said_by))
    if by_own:
        return verdict(by_own, "mta.message", f"{own}'s own message says so")
    notice = notice_verdict(mta, text) if words is None or not words.strong else ""
    if notice:
        return verdict("userunknown", "mta.notice", f"{notice}'s notice says so in its words")
    if by_status:
        steps.append(f"status {status} says {by_status}")
    if words is not None and words.reason in ("userunknown", "hostunknown") and stage == "MAIL":
        return verdict("rejected", "stage.mail-from", "refused at MAIL FROM: the sender was judged")
    # Refused at MAIL FROM with generic words only ("550 5.7.1 Access denied", "rejected"): the
    # sender was refused before any recipient was named; words that name a reason (a block
    # list, a policy, spam, authentication) still say which.
    if stage == "MAIL" and words is not None and not words.strong and words.reason == "blocked":
        return verdict("rejected", "stage.mail-from", "refused at MAIL FROM: the sender was judged")
    # X.1.7 and X.1.8 are the sender's mailbox and system (RFC 3463): "Domain corp.example not
    # found", "mailbox not found" under them name the sender's, never the recipient's
    if words is not None and words.reason in ("userunknown", "hostunknown") and key in _SENDERS:
        return verdict("rejected", "status.sender", f"status {status}: the sender's address")
    if words is not None and words.reason == "userunknown" and not (key and key[0] == 1):
        unknown = _unknown_user(text, key, stage, mta)
        if unknown is not None:
            reason, rule, why = unknown
            return verdict(reason, rule, why)
    if words is not None and by_status:
        assert key is not None  # implied by ``by_status``
        if words.reason == by_status:
            return verdict(words.reason, f"words.{words.name}", "the words and the status agree")
        if (words.reason, by_status) in _REFINED_BY_STATUS:
            return verdict(by_status, f"status.{key[0]}.{key[1]}", "the status narrows the words")
        if words.name == "gave-up" and key[0] in (3, 4) and _QUEUE_ENDED.search(text):
            return verdict(
                by_status, f"status.{key[0]}.{key[1]}", "the retries ended; the status says why"
            )
        # An address status (X.1.X) and words that say the same outweigh another strong rule
        # found first ("user unknown; rejected for policy reasons" under 5.1.1 is hard), but
        # for the sender's refusal, whose words name an address too ("Sender address
        # rejected: User unknown"): that is no recipient's.
        readdress = words.strong and key[0] == 1 and words.name != "sender-rejected"
        agree = agreeing(said, by_status) if readdress else None
        if agree is not None:
            return verdict(
                agree.reason, f"words.{agree.name}", "the status and its own words agree"
            )
        if words.strong:
            return verdict(words.reason, f"words.{words.name}", "strong words outweigh the status")
        if key in _WEAK_STATUS or key[0] == 1:
            return verdict(
                words.reason, f"words.{words.name}", f"status {status} is often stretched"
            )
        return verdict(by_status, f"status.{key[0]}.{key[1]}", "the status outweighs weak words")
    if words is not None:
        return verdict(words.reason, f"words.{words.name}", "the words decide")
    if by_status:
        assert key is not None
        return verdict(by_status, f"status.{key[0]}.{key[1]}", "no words: the status decides")
    group = posting_refused(mta, text)
    if group:
        return verdict("rejected", "mta.group-posting", f"{group} refused the post to its group")
    if reply in _SYNTAX_REPLIES:
        return verdict(
            "syntaxerror", "reply.syntax", f"reply {reply}: a command the server refused"
        )
    if reply in ("521", "556"):
        return verdict("notaccept", "reply.no-mail", f"reply {reply}: the host takes no mail")
    if key is not None and key[0] == 7:  # X.7.XXX: security or policy status (RFC 3463)
        return verdict("blocked", "status.policy", f"status {status}: refused by policy")
    if key is not None and key[0] == 6:
        # X.6.XXX: the message's media or form (RFC 3463; RFC 6531's non-ASCII addresses and
        # headers): neither the address nor the sender's standing, another form may pass
        return verdict("contenterror", "status.content", f"status {status}: the message's form")
    if reply == "554" and not text:
        return verdict("rejected", "reply.554", "a bare 554: transaction refused")
    if code_class == "4":
        reason = "expired" if not text else "systemerror"
        return verdict(reason, "status.temporary", "a temporary failure with nothing more said")
    return verdict("undefined", "nothing", "nothing known in the code or the words")


def _advice_only(code: int, text: str, status: str) -> bool:
    """Whether the only volume wording of ``text`` is the retry advice any temporary reply
    carries ("try again later") while its other words name a reason: "451 4.3.0 Temporary
    system error, try again later" is the system's error, "450 4.0.0 <addr>: User unknown, try
    again later" the directory's answer for now, neither a word about our volume."""
    if not _RETRY_ADVICE.search(text):
        return False
    rest = _RETRY_ADVICE.sub(" ", text)
    return not _is_throttle(code, rest, status) and read_words(words_text(rest)) is not None


def _unknown_user(
    text: str, key: tuple[int, int] | None, stage: str | None, mta: str
) -> tuple[str, str, str] | None:
    """Whether "user unknown" words (without an X.1.x status) are a directory's verdict or a
    filter's mask, from the status, the SMTP stage and the reporting MTA; ``None``: the words
    decide (a live reply, the RCPT stage, a local delivery)."""
    # A mail system that answers from its own directory means its words, even with a 5.7.x
    # (Yandex's "550 5.7.1 No such user!") or after DATA (Yahoo's documented "552 1 Requested
    # mail action aborted, mailbox not found" answers the message, not RCPT).
    after_data = stage == "DATA" or bool(AFTER_DATA.search(text))
    directory = directory_verdict(mta, text)
    if directory and not (after_data and _stock_only(text)):
        return "userunknown", "mta.directory", f"{directory} states its own directory's verdict"
    if after_data:
        return "filtered", "stage.after-data", "refused after DATA, not at RCPT: a filter's mask"
    # A 5.7.x status beside "user unknown" is a filter's mask, unless the reporting MTA itself
    # states that the reply answered RCPT TO: then a directory refused the address, as at RCPT
    # without the status (hostedemail's "554 5.7.1 <addr>: Recipient address rejected: user
    # <addr> does not exist (in reply to RCPT TO command)").
    if key is not None and key[0] == 7 and key not in _OWNER_CHANGED:
        if RCPT_STATED.search(text):
            return None
        return "filtered", "status.policy-mask", f"a 5.7.{key[1]} policy status: a filter refused"
    if stage is None or stage == "RCPT" or at_rcpt(text) or LOCAL_DELIVERY.search(text):
        return None
    masking = masks_filters(mta)
    if masking:
        return "filtered", "mta.masks-filters", f"{masking} answers 'unknown user' for its filters"
    # Nothing says where the words came from. In the reference corpus a relayed "user unknown"
    # whose stage no one states is far more often a filter's mask than a directory verdict
    # (tests/test_bounce_folds.py measures it): not suppressed, counted as a block.
    return "filtered", "stage.unknown", "no SMTP stage and no known reporting MTA: unconfirmed"


# RFC 5321's stock text for 550 (§4.2.3), which a server may send for any refusal: it says no
# more than the code. After DATA the directory has already taken the address at RCPT, so this
# text alone ("550 Request failed; Mailbox unavailable", a Yahoo reply to the message) is no
# verdict of the directory's, whoever answered.
_STOCK_550 = re.compile(r"(?:requested action not taken: )?mailbox (?:is )?unavailable")


def _stock_only(text: str) -> bool:
    """Whether the "user unknown" words of ``text`` are only RFC 5321's stock "mailbox
    unavailable", nothing of the directory's own."""
    if not _STOCK_550.search(text):
        return False
    rest = read_words(_STOCK_550.sub(" ", text))
    return rest is None or rest.reason != "userunknown"


def reason_of(status: str, reply: str, diagnostic: str, stage: str | None = None) -> str:
    """The reason (sisimai-like vocabulary) of a failure: :func:`decide`'s reason."""
    return decide(status, reply, diagnostic, stage).reason


def says_nothing(diagnostic: str) -> bool:
    """``reason_of("", "", diagnostic) == "undefined"``: whether ``diagnostic`` alone (no status,
    reply, stage or MTA given) names no reason, cheaply where its words name one. :func:`decide`
    answers "undefined" only on its last line, which it reaches only when no word rule matched
    its text: a text whose words a rule reads is known to say something without the rest of the
    decision (the provider tables, the throttle and MTA wording, the status, ~3/4 of its cost;
    a plain-text notice of one recipient asks this before its recipient's bounce is made)."""
    if read_words(words_text(joined_reply(fold(diagnostic or "")))) is not None:
        return False
    return reason_of("", "", diagnostic) == "undefined"


def recorded_reason(kind: str, status: str, reply: str, diagnostic: str) -> str:
    """The reason of a bounce recorded earlier, from what the ledger kept of it (its kind, status,
    reply and the first 500 characters of its diagnostic). A complaint or a notice (an ARF
    report that is no complaint) is ``feedback``. When the
    kept text points to a reason of another kind than the one recorded (the parser had the whole
    report and its SMTP stage; the ledger keeps less), or to none, the reason is ``undefined``:
    the text kept does not say."""
    if kind in ("complaint", "notice"):  # an ARF report, whether a complaint or not
        return "feedback"
    if status and not _CODE_RE.fullmatch(status):
        # an imported bounce_status in another form is kept as it came ("5.1.1 user unknown"):
        # words, read as the diagnostic's
        status, diagnostic = "", f"{status} {diagnostic}"
    # a hard bounce with a 4xx status came from a report (a live 4xx is never hard): read it so
    verdict = decide(status, reply, diagnostic, "" if kind == "hard" else None)
    if kind == "delayed":  # a delay warning: of no kind, the words' reason is all there is
        return verdict.reason
    return verdict.reason if verdict.kind == kind else "undefined"


def classify(status: str, reply: str, diagnostic: str, stage: str | None = None) -> str:
    """Classify a failed delivery as ``"hard"``, ``"soft"`` or ``"block"``.

    ``status`` is an RFC 3463 code ("5.1.1"), ``reply`` an SMTP reply code ("550"); either may be
    empty, in which case they are looked for in ``diagnostic``, whose wording also refines
    generic codes such as 5.0.0 or 5.7.1.
    """
    kind = decide(status, reply, diagnostic, stage).kind
    return kind if kind in ("hard", "block") else "soft"


def classify_smtp_reply(code: int, text: str) -> str:
    """Classify a reply received live in an SMTP session (RCPT TO / DATA).

    Returns ``"sent"`` for 2xx, otherwise ``"hard"``, ``"soft"`` or ``"block"``.
    Any 4xx is ``"soft"``: the server asks us to retry.
    """
    if 200 <= code < 300:
        return "sent"
    if 400 <= code < 500:
        return "soft"
    status = extract_status(text or "")
    if status[:1] == "4":
        return "soft"
    reply = str(code) if 100 <= code < 1000 else ""
    kind = decide(status, reply, text or "", None).kind
    return kind if kind in ("hard", "block") else "soft"


# RFC 3463 5.3.4 "message too big for system", 5.2.3 "message length exceeds administrative
# limit": whatever words come with them.
_SIZE_STATUS = re.compile(r"\b5\.(?:3\.4|2\.3)\b")
# RFC 3463 5.2.2 "mailbox full", or words of a full mailbox or its quota: the recipient's, even
# when they speak of size ("552 5.2.2 <x@y>: message size exceeds remaining quota").
_FULL = re.compile(r"\b5\.2\.2\b|quota|mailbox (?:is )?full", re.IGNORECASE)


def refuses_size(code: int, text: str) -> bool:
    """Whether a live 5xx reply refuses the message's size for good: the same message will never
    go (a soft bounce, not the recipient's fault, but no retry). By its status, or, as Exim's
    "552 Message size exceeds maximum permitted" has none, by the words a message too big is
    read by. Not a full mailbox (RFC 5321's bare 552 may be one; 5.2.2, a quota): the
    recipient's soft bounce, which may have room tomorrow."""
    if not 500 <= code < 600:
        return False
    if _SIZE_STATUS.search(text):
        return True
    if _FULL.search(text):
        return False
    return decide(extract_status(text), str(code), text).reason == "mesgtoobig"


def is_throttle(code: int, text: str, stage: str | None = None) -> bool:
    """True if a reply means *we* are sending too fast or too much (back off), not a bad recipient.

    Covers 421/450/451/452/454 rate wording, Gmail 4.7.28 / 5.4.5 daily quota, Microsoft
    4.7.500-series "server busy", 4.7.650 and 5.7.232/5.7.233 tenant sending limits, Yahoo TSS
    deferrals, Alibaba ``ANTISPAM_BAT``, Tencent "frequency limited", NetEase RP:/MI:/HL: codes.
    Greylisting never is: it concerns one receiving domain, and a retry later passes.

    ``stage="rcpt"`` (the reply to one RCPT TO): a temporary refusal ("try again later", a
    recipient receiving too fast) defers that recipient only; it is a throttle only with a
    provider's throttling code or explicit wording about our volume, or as a 421 (the server
    ends the session).
    """
    low = fold(text or "")
    if code == 421 and _BANNED.search(low):
        return True  # the server refuses everything from us for a while: no next message
    if _GREYLIST.search(low) or not _is_throttle(code, text, ""):
        return False
    if stage != "rcpt" or code == 421 or not 400 <= code < 500:
        return True
    status = extract_status(low)
    return (
        status in _THROTTLE_STATUS
        or status.startswith("4.7.5")
        or (status.startswith("4.7.6") and "rate" in low)
        or bool(_VOLUME.search(low))
    )


def _is_throttle(code: int, text: str, status: str) -> bool:
    low = fold(text or "")
    status = status or extract_status(low)
    reply = str(code) if code else extract_reply(low)
    if reply[:1] == "2" or status[:1] == "2":
        return False
    if _NOT_THROTTLE.search(low) and not _TOO_MANY.search(low):
        return False
    if "too many" in low and _HELD.search(low):
        return False
    if status in _THROTTLE_STATUS or status.startswith("4.7.5"):
        return True
    if _SENDER_LIMIT.search(low):  # under any status: Exchange Online's is 5.2.0
        return True
    if status[1:3] == ".2" and status[3:4] == "." and _OWN_QUOTA.search(low):
        # X.2.Y is the recipient's mailbox's status (RFC 3463: 4.2.2 mailbox full): "452 4.2.2
        # Quota exceeded" is that mailbox's quota, not ours (a back-off would stop the whole
        # mailbox for one full recipient)
        return False
    if status.startswith("4.7.6") and "rate" in low:
        return True
    if not _THROTTLE_TEXT.search(low):
        return False
    if reply and reply not in _THROTTLE_REPLIES and reply[:1] != "4":
        return False
    if reply[:1] == "5" or status[:1] == "5":
        # On a permanent reply only explicit volume wording counts; "try again later" or
        # "temporarily deferred" inside a 5xx is not a rate signal.
        return bool(_VOLUME.search(low))
    return True
