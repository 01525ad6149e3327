"""Bounce classification: enhanced status + reply code + diagnostic text -> kind.

Kinds:
- ``hard``: the address itself is bad (unknown user/host, moved, domain accepts no mail).
- ``soft``: transient or recipient-side but not address-invalidating (full, disabled,
  expired in queue, network/system errors, throttling).
- ``block``: a signal about the sender (policy, spam, reputation, authentication, content).

Internally a finer *reason* (modelled on sisimai's vocabulary) is derived first, then mapped
to a kind, so the text patterns stay readable and testable.
"""

from __future__ import annotations

import re

from .stage import smtp_stage, uncorroborated_unknown

__all__ = [
    "classify",
    "classify_smtp_reply",
    "extract_reply",
    "extract_status",
    "is_throttle",
    "reason_of",
    "smtp_stage",
]


def _words(text: str) -> list[str]:
    """Whitespace-separated table entries (keeps long tables compact and diff-friendly)."""
    return text.split()


HARD_REASONS = frozenset(_words("userunknown hostunknown hasmoved notaccept"))
BLOCK_REASONS = frozenset(
    _words("""
    filtered rejected blocked spamdetected authfailure securityerror policyviolation
    requireptr badreputation norelaying virusdetected contenterror notcompliantrfc
    """)
)

_STATUS_RE = re.compile(r"(?<![\d.])(?<![A-Za-z_]-)([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_STATUS_RE = re.compile(r"(?<![\d.])([245]\d\d)[\s-]+#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_REPLY_RE = re.compile(
    r"(?:^|said:|<<<|smtp;|\]:|\):|:)\s*([45]\d\d)(?=[\s-]|$)(?![\d.])", re.MULTILINE
)


def _p(block: str) -> re.Pattern[str]:
    """Compile alternatives written one group per line (lines are joined with "|")."""
    return re.compile("|".join(ln.strip() for ln in block.strip().splitlines() if ln.strip()))


# Text patterns, checked in this order when the status code is missing or generic.
# The order matters: e.g. "mailbox full" must win over a generic "rejected".
_TEXT_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "mailboxfull",
        _p(r"""
        mailbox (?:is )?full|mailbox.{0,20}(?:exceeded|over) (?:its )?(?:storage|quota|size)
        over ?quota|quota (?:exceeded|full)
        exceeded (?:the |its |his |her )?(?:storage|quota)|disk quota
        insufficient (?:system )?storage|out of storage|mail ?box size limit
        user(?:'s)? quota|is over quota|mailfolder is full|account is full
        storage (?:space )?(?:exceeded|full)|full mailbox|mailbox has exceeded
        exceed(?:s|ed)? (?:the )?mailbox|not enough (?:disk )?space|容量|空间不足
    """),
    ),
    (
        "mesgtoobig",
        _p(r"""
        message (?:is )?too (?:large|big)|message size exceeds|size limit
        message exceeds (?:the )?(?:maximum|fixed)|message length exceeds
        too large for this recipient
    """),
    ),
    (
        "suspend",
        _p(r"""
        account (?:has been |is )?(?:disabled|suspended|inactive|deactivated|locked|expired)
        mailbox (?:has been |is )?(?:disabled|suspended|inactive|deactivated|locked)
        (?:disabled|suspended|inactive|deactivated|locked|expired) (?:account|mailbox|user)
        is a deactivated mailbox|account that you tried to reach is disabled
        user (?:is )?(?:suspended|disabled|inactive)|recipient (?:is )?suspended
        mailbox unavailable - (?:suspended|disabled)|not (?:an )?active
        has been (?:disabled|suspended)|is unavailable\b|currently suspended
        temporar(?:y|ily) (?:locked|disabled|blocked)|disabled recipient
    """),
    ),
    (
        "hasmoved",
        _p(r"""
        \bhas moved\b|address has (?:been )?changed|user has moved|has been replaced by
    """),
    ),
    (
        "norelaying",
        _p(r"""
        relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)
        not permitted to relay|unable to relay|no relaying|relay not permitted
        we do not relay|not a gateway|relaying denied
    """),
    ),
    (
        "authfailure",
        _p(r"""
        \bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|authentication (?:check )?fail
        unauthenticated|fails? to pass authentication|must pass either spf or dkim
    """),
    ),
    (
        "hostunknown",
        _p(r"""
        \bdomain (?:name )?(?:does ?n[o']t exist|not found)|no such domain
    """),
    ),
    (
        "userunknown",
        _p(r"""
        user(?:name)? (?:is )?unknown|unknown (?:user|recipient|mailbox|address|local)
        no such (?:user|mailbox|recipient|account|address|person|local user)
        recipient (?:address )?(?:is )?unknown|recipient (?:was )?not found
        recipient (?:address )?invalid|invalid (?:recipient|mailbox|user|address)
        recipient address rejected: access denied|invalid .{0,20}userid
        address (?:couldn't|could not|cannot|can't) be found|recipient address rejected\.?$
        recipient address rejected\.? \(|check if (?:the )?address is correct
        user (?:was )?not found|mailbox (?:was )?not found|(?:is|was) not found
        mailbox (?:is )?(?:unavailable|not available)|does ?n[o']t exist
        no longer (?:exists|valid|available|in use)|not a valid (?:mailbox|user|recipient)
        no mailbox here|unrouteable address|not (?:a )?known user
        recipient (?:name )?(?:is )?not recognized|address (?:is )?unknown|recipnotfound
        addressee unknown|bad recipient|no (?:valid )?recipient|unknown or illegal alias
        doesn't have a .{0,20} account|not our customer|mailbox unknown|user doesn't exist
        invalid address|account (?:does not|doesn't) exist|no account by that name
        not listed in|unknown local part|user account is unavailable|该邮箱不存在|用户不存在|收件人不存在
        邮箱不存在|帐号不存在|账号不存在
    """),
    ),
    (
        "filtered",
        _p(r"""
        content (?:filter|rejected|denied)|filtered|mail content denied
        recipient preferences|message rejected due to content|header (?:error|is rejected)
    """),
    ),
    (
        "requireptr",
        _p(r"""
        \bptr\b|reverse (?:dns|lookup|address)|\brdns\b|no reverse|cannot find your hostname
        not have a reverse|hostname (?:does not|doesn't) resolve|unresolvable
        forward-confirmed
    """),
    ),
    (
        "notcompliantrfc",
        _p(r"""
        rfc ?5322|rfc ?2822|not rfc compliant|duplicate header|multiple addresses in from
    """),
    ),
    (
        "badreputation",
        _p(r"""
        reputation|sender ?score|low quality
    """),
    ),
    (
        "hostunknown",
        _p(r"""
        host (?:or domain name )?(?:not found|unknown)|unknown host
        domain (?:not found|unknown|does ?n[o']t exist|is not valid|lookup failed)
        no such domain|name or service not known|couldn't find (?:a mail exchanger|any host)
        unrouteable mail domain|\bnxdomain\b|non-?existent (?:host|domain)|host not found
        no mx (?:record|host)|mx lookup failed|host \S+ not found
        domain (?:may|might) not exist|domain is not reachable|domain name not found
        unknown domain|invalid domain|cannot resolve|no (?:dns|mail exchanger)
    """),
    ),
    (
        "notaccept",
        _p(r"""
        does not accept (?:e-?)?mail|null mx|accepts no mail|no smtp service
        not accepting (?:network )?(?:messages|mail)
    """),
    ),
    (
        "spamdetected",
        _p(r"""
        spam|junk|unsolicited|bulk mail|垃圾邮件|\bdt:spm\b|phish
    """),
    ),
    (
        "virusdetected",
        _p(r"""
        virus|malware|infected
    """),
    ),
    (
        "toomanyconn",
        _p(r"""
        too many (?:connections|concurrent|sessions|smtp)|connection (?:frequency|rate)
        frequency limited|concurrent connections
    """),
    ),
    (
        "speeding",
        _p(r"""
        too (?:many|much) (?:mail|message|email)|too (?:fast|frequently)|rate limit|rate of
        sending (?:rate|limit|quota)|receiving mail at a rate
        exceeded (?:its |the )?(?:daily|hourly)\s
    """),
    ),
    (
        "expired",
        _p(r"""
        expired|retry (?:time|timeout)|could not be delivered (?:with)?in|gave up|given up
        too long|delivery time|has been delayed|unable to deliver in|queue|delayed|timeout
        timed out
    """),
    ),
    (
        "networkerror",
        _p(r"""
        connection (?:refused|reset|timed out|lost|dropped|closed)|name service error
        name server reply|network|routing loop|mail loop|loops back|too many hops|no route
        unreachable|dns (?:failure|error|lookup)
    """),
    ),
    (
        "securityerror",
        _p(r"""
        security|tls|certificate|starttls|encrypt
    """),
    ),
    (
        "rejected",
        _p(r"""
        sender (?:address )?(?:rejected|denied|invalid|unknown|not allowed)|domain of sender
        sender verify|sender domain|mail from.{0,30}rejected
    """),
    ),
    (
        "policyviolation",
        _p(r"""
        policy|prohibited|not allowed|not permitted|administrative
    """),
    ),
    (
        "blocked",
        _p(r"""
        block|blacklist|black list|denylist|\brbl\b|spamhaus|banned|denied|refused|rejected
        reject|forbidden|not authorized|access denied|suspicious|reject
    """),
    ),
    (
        "systemerror",
        _p(r"""
        system error|local error|internal error|server error|temporar|try again|resources
        service unavailable|configuration error|mail ?server (?:is )?(?:down|busy)
        insufficient
    """),
    ),
]

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
_STATUS_REASON: dict[tuple[int, int], str] = {
    (int(k.split(".")[0]), int(k.split(".")[1])): v
    for k, v in (
        item.split("=")
        for item in _words("""
        1.1=userunknown 1.2=hostunknown 1.3=userunknown 1.4=userunknown 1.5=userunknown
        1.6=hasmoved 1.7=rejected 1.8=rejected 1.9=userunknown 1.10=notaccept
        2.1=suspend 2.2=mailboxfull 2.3=mesgtoobig 2.4=systemerror
        3.1=systemfull 3.2=notaccept 3.3=systemerror 3.4=mesgtoobig 3.5=systemerror
        4.1=networkerror 4.2=networkerror 4.3=systemerror 4.4=hostunknown 4.5=systemerror
        4.6=networkerror 4.7=expired
        5.1=syntaxerror 5.2=syntaxerror 5.3=exceedlimit 5.4=syntaxerror 5.5=syntaxerror
        5.6=syntaxerror
        6.0=contenterror 6.1=contenterror 6.2=contenterror 6.3=contenterror 6.4=contenterror
        6.5=contenterror
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
    too many (?:connections|concurrent|sessions|messages|mails|emails|recipients per|requests|smtp|simultaneous|errors)
    too frequent|too fast|\brate[- ]?limit|rate of (?:unsolicited )?mail|rate that prevents
    frequency|frequen|sending (?:rate|limit|quota)
    (?:daily|hourly) (?:user )?(?:sending |message |recipient )?(?:quota|limit)
    (?:quota|limit) exceeded
    exceed(?:ed|s)? (?:the |its |your )?(?:daily |hourly |sending |rate |message |connection )?limit
    server busy|temporarily deferred|unexpected volume|try again later|antispam_bat|throttl
    \brp:(?:cel|qrc|trc|drc|ccl|tmf)\b|\bmi:(?:sfq|stc|ctq)\b|\bhl:(?:icc|ifc)\b
    connection limit|maximum number of (?:concurrent |simultaneous )?connections
    concurrent connections|tenant external recipient rate|exceeded its .{0,30}limit
""")
# Per-recipient mailbox size quota is not about our rate, even though it says "quota".
_NOT_THROTTLE = _p(r"""
    mailbox (?:is )?full|mail ?box .{0,20}quota|over ?quota|storage|disk quota
    user(?:'s)? (?:mailbox )?quota|size limit|message (?:is )?too (?:large|big)
    too many hops|too many recipients$
""")
# Gmail 4.7.28/5.4.5, Microsoft 5.7.232/5.7.233 (tenant external recipient rate), 4.7.500 and
# 4.7.650 (rate limited), 5.2.121/5.2.122 (per-hour receive limits), 5.1.90 (daily recipients),
# 4.3.2 (concurrent connections), 4.4.5 (server busy).
_THROTTLE_STATUS = frozenset(
    _words("4.7.28 5.7.28 5.7.232 5.7.233 5.4.5 4.4.5 4.7.500 4.7.650 5.2.121 5.2.122 5.1.90 4.3.2")
)
_THROTTLE_REPLIES = frozenset(_words("421 450 451 452 454 550 553 554"))
# Explicit wording about the sender's volume (what a permanent or per-recipient reply needs).
_VOLUME = re.compile(
    r"too many|frequen|rate[- ]?limit|quota exceeded|limit exceeded|exceed|"
    r"antispam_bat|sending (?:rate|limit|quota)|\brp:|\bmi:(?:sfq|stc)|\bhl:ic"
)
_GREYLIST = re.compile(r"gr[ae]y-?list")


def extract_status(text: str) -> str:
    """Return the first RFC 3463 enhanced status code found in ``text``, or ""."""
    m = _REPLY_STATUS_RE.search(text)
    if m:
        return m.group(2)
    m = _STATUS_RE.search(text)
    return ".".join(m.groups()) if m else ""


def extract_reply(text: str) -> str:
    """Return the first 3-digit SMTP reply code found in ``text``, or ""."""
    m = _REPLY_STATUS_RE.search(text)
    if m:
        return m.group(1)
    m = _REPLY_RE.search(text)
    return m.group(1) if m else ""


def _text_reason(text: str) -> str:
    for reason, pattern in _TEXT_RULES:
        if pattern.search(text):
            return reason
    return ""


def reason_of(status: str, reply: str, diagnostic: str, stage: str | None = None) -> str:
    """Return a fine-grained reason (sisimai-like vocabulary) for a failure.

    ``stage`` is given for bounces (DSNs, NDRs): the SMTP command that failed, "" when unknown.
    There, "user unknown" wording counts only when corroborated by an address status (X.1.x) or
    by the RCPT stage; otherwise it is taken as a filter wearing that mask ("filtered"), as
    sisimai does. ``None`` (a live reply, stage known to the caller) trusts the wording.
    """
    text = " ".join((diagnostic or "").lower().split())
    status = status or extract_status(text)
    reply = reply or extract_reply(text)
    code_class = status[:1] or reply[:1]
    if code_class == "2":
        return "delivered"
    if _is_throttle(int(reply) if reply.isdigit() else 0, text, status):
        if any(w in text for w in ("blocked", "spam", "blacklist")) and not re.search(
            r"frequen|too many", text
        ):
            return "blocked"
        return "toomanyconn"
    parts = status.split(".")
    key = (int(parts[1]), int(parts[2])) if len(parts) == 3 else None
    by_text = _text_reason(text)
    specific = key is not None and key not in _GENERIC_DETAIL and key in _STATUS_REASON
    if by_text == "userunknown" and uncorroborated_unknown(text, key, stage):
        # The address was accepted at RCPT and refused after DATA (or nothing says it was
        # refused at RCPT): a content/sender filter wearing a "user unknown" mask (common at
        # Japanese mobile carriers), not a bad address.
        by_text = "filtered"
    if specific:
        assert key is not None  # implied by ``specific``
        by_status = _STATUS_REASON[key]
        if by_text and key in _WEAK_STATUS:
            return by_text
        # Some MTAs put a mailbox state behind a 5.7.x policy code; "user unknown" behind
        # 5.7.x stays a policy verdict (the filter, not the directory, refused it).
        if key[0] == 7 and by_text in ("mailboxfull", "suspend"):
            return by_text
        if key == (1, 1) and by_text in ("mailboxfull", "suspend", "filtered"):
            return by_text
        return by_status
    if key in ((7, 0), (7, 1)) and by_text == "userunknown":
        return "filtered"
    if by_text:
        return by_text
    if reply in ("521", "556"):
        return "notaccept"
    if key == (7, 1) or key == (7, 0):
        return "blocked"
    if reply == "554" and not text:
        return "rejected"
    if code_class == "4":
        return "expired" if not text else "systemerror"
    return "undefined"


def kind_of_reason(reason: str, status: str = "", reply: str = "") -> str:
    """Map a fine reason to a kind; temporary (4xx) failures are never hard."""
    temporary = (status or reply)[:1] == "4"
    if reason in HARD_REASONS:
        return "soft" if temporary else "hard"
    if reason in BLOCK_REASONS:
        return "block"
    return "soft"


def classify(status: str, reply: str, diagnostic: str, stage: str | None = None) -> str:
    """Classify a failed delivery as ``"hard"``, ``"soft"`` or ``"block"``.

    ``status`` is an RFC 3463 code ("5.1.1"), ``reply`` an SMTP reply code ("550"); either may be
    empty, in which case they are looked for in ``diagnostic``, whose wording also refines
    generic codes such as 5.0.0 or 5.7.1.
    """
    text = diagnostic or ""
    status = status or extract_status(text)
    reply = reply or extract_reply(text)
    return kind_of_reason(reason_of(status, reply, text, stage), status, reply)


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
    return kind_of_reason(reason_of(status, reply, text or ""), status, reply)


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
    low = " ".join((text or "").lower().split())
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
    low = " ".join((text or "").lower().split())
    status = status or extract_status(low)
    reply = str(code) if code else extract_reply(low)
    if reply[:1] == "2" or status[:1] == "2":
        return False
    if _NOT_THROTTLE.search(low) and not re.search(r"frequen|too many (?:conn|mess|mail)", low):
        return False
    if status in _THROTTLE_STATUS or status.startswith("4.7.5"):
        return True
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
