"""What the words of a diagnostic say: named rules, each a reason and a strength.

The first rule whose pattern matches the folded, lower-cased text names the reason. A *strong*
rule is wording that says one thing whatever code it carries ("user unknown", "mailbox full",
"blacklisted"): it decides over the status code. A *weak* rule is generic wording ("rejected",
"policy", "timeout") that only decides where the status says nothing specific (or says the weak
X.1.x/X.2.1/X.5.x things MTAs stretch): :func:`warmup.bounces.classify.decide`.

Rules are general words and phrases of the trade, not copies of one sample's sentence: each
covers a family of MTAs (see tests/test_bounce_folds.py for agreement on every fold of the
corpus).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .screen import screen

__all__ = [
    "CHALLENGE_WORDS",
    "WORD_RULES",
    "WordRule",
    "agreeing",
    "fold",
    "read_words",
    "simplified",
]


# Traditional Chinese characters (the mail systems of Taiwan, Hong Kong and Macau, and servers set
# to zh-TW or zh-HK) whose simplified form the rules are written in: 收件者地址不存在, 信箱已滿,
# 垃圾郵件 say what 收件人地址不存在, 信箱已满, 垃圾邮件 do. Only characters that occur in the
# rules (tests/test_bounce_attack.py holds the rules and the table to each other).
_TRADITIONAL = str.maketrans(
    "儲凍單發號帳賬戶攔掛數無時暫結絕統誤敗達過連遞郵鎖錯間頻額滿範規並註銷",
    "储冻单发号帐账户拦挂数无时暂结绝统误败达过连递邮锁错间频额满范规并注销",
)


# str.translate costs ~0.2 µs a character (2 ms for a 10,000-character notice), a search of the
# class ~0.01: only a text that holds one of them is translated.
_ANY_TRADITIONAL = re.compile("[" + "".join(map(chr, _TRADITIONAL)) + "]")


def simplified(text: str) -> str:
    """``text`` with traditional Chinese characters in their simplified form."""
    if text.isascii() or not _ANY_TRADITIONAL.search(text):
        return text
    return text.translate(_TRADITIONAL)


def fold(text: str) -> str:
    """``text`` as the rules read it: lower case, runs of blanks as one space, and traditional
    Chinese characters in their simplified form."""
    return simplified(" ".join(text.lower().split()))


# A line of a rule: its literals, the ASCII ones among them (None: unknown), its pattern.
_Part = tuple[tuple[str, ...] | None, tuple[str, ...] | None, re.Pattern[str]]


@dataclass(frozen=True, slots=True)
class WordRule:
    """A named wording: the reason it names and whether it outweighs a status code."""

    name: str
    reason: str
    strong: bool
    pattern: re.Pattern[str]
    # Strings one of which every match contains (None: not known): a text with none of them is
    # not searched (see :mod:`warmup.bounces.screen`).
    literals: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # The pattern's lines (its top-level alternatives) one by one, each with its own literals
    # (None: searched wherever the rule's are found); empty: the pattern is searched whole.
    parts: tuple[_Part, ...] = field(default=(), compare=False, repr=False)
    # The ASCII ones of ``literals``: all an ASCII text (most diagnostics) can hold. Each literal
    # looked for is a scan of the text, and the words of other scripts (Chinese, Russian,
    # Korean, ...) would be looked for in every English reply.
    ascii_literals: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def matches(self, text: str) -> bool:
        """Whether the wording occurs in ``text``: ``pattern.search(text)``, cheaply.

        A rule of many lines ("user unknown" has some forty) has a common word among its
        literals ("address", "mailbox"), so the screen passes most diagnostics, and a search of
        the whole alternation costs ~25 µs; each line behind its own, rarer, literals ~5 µs."""
        ascii = text.isascii()
        literals = self.ascii_literals if ascii else self.literals
        if literals is not None:
            # contains_any, inlined: this runs ~20 times per diagnostic.
            for literal in literals:
                if literal in text:
                    break
            else:
                return False
        if not self.parts:
            return self.pattern.search(text) is not None
        for all_literals, ascii_literals, line in self.parts:
            literals = ascii_literals if ascii else all_literals
            if literals is not None:
                for literal in literals:
                    if literal in text:
                        break
                else:
                    continue
            if line.search(text):
                return True
        return False


def _lines(block: str) -> list[str]:
    return [ln.strip() for ln in block.strip().splitlines() if ln.strip()]


def _p(block: str) -> re.Pattern[str]:
    """Compile alternatives written one group per line (lines are joined with "|")."""
    return re.compile("|".join(_lines(block)))


# A line that refers to a group by number or name means something else on its own.
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")


def _parts(block: str) -> tuple[_Part, ...]:
    """Each line of ``block`` compiled on its own with its literals; () where a line is not a
    pattern on its own (a group opened on one line and closed on another, a back-reference)."""
    lines = _lines(block)
    if len(lines) < 2 or any(_BACKREFERENCE.search(line) for line in lines):
        return ()
    parts = []
    for line in lines:
        try:
            pattern = re.compile(line)
        except re.error:
            return ()
        literals = screen(pattern)
        parts.append((_sorted(literals), _ascii(literals), pattern))
    return tuple(parts)


def _sorted(literals: frozenset[str] | None) -> tuple[str, ...] | None:
    return tuple(sorted(literals)) if literals else None


def _ascii(literals: frozenset[str] | None) -> tuple[str, ...] | None:
    """The ASCII ones of ``literals`` (an empty tuple: no ASCII text matches), or None."""
    return tuple(sorted(x for x in literals if x.isascii())) if literals else None


def _rule(name: str, reason: str, strong: bool, block: str) -> WordRule:
    pattern = _p(block)
    literals = screen(pattern)
    return WordRule(
        name,
        reason,
        strong,
        pattern,
        _sorted(literals),
        _parts(block),
        _ascii(literals),
    )


# A challenge-response system asking the sender to prove they are a person (RFC 3834 2: an
# automatic responder), in the languages its replies are written in: read in a refusal (the
# recipient's system holds mail from senders it has not confirmed) and in an auto-reply
# (:func:`warmup.bounces.formats.is_challenge`). Lower-cased text.
CHALLENGE_WORDS = (
    r"(?:verify|confirm|prove)\b[^.\n]{0,40}\b(?:you are|you're|that you)\b[^.\n]{0,20}"
    r"(?:human|a person|a real|not a (?:robot|spammer))|challenge[- ]response|"
    r"(?:vérifi|confirm)\w*[^.\n]{0,60}(?:humain|personne)|confirme que es (?:una persona|humano)|"
    r"bestätigen sie[^.\n]{0,60}(?:mensch|person)|"
    r"подтверд\w*[^.\n]{0,60}(?:человек|отправ)|ожида\w* подтверждения|"
    r"验证[^。\n]{0,20}(?:真人|身份)|不是机器人|送信者の?確認|"
    # Spam Arrest's "[SpamArrest requests verification]" and its "complete the verification
    # process"; Boxbe's Guest List (a sender not on it is waitlisted); a sender verification
    # named in Chinese and Korean (发件人验证, 발신자 인증).
    r"requests verification|complete the verification process|\bmy guest list\b|\bwait-?listed\b|"
    r"(?:发件人|发信人)验证|발신자 인증"
)

STRONG, WEAK = True, False
# A relay refusal that goes on to say it wants authentication ("... without authentication",
# "relaying denied unless authenticated"): not the words of a server that relays for no one.
_UNLESS_AUTHENTICATED = r"(?![^.;]{0,60}\b(?:without|unless) (?:smtp )?authenticat)"

# Checked in this order: e.g. "mailbox full" must win over a generic "rejected", and a sender
# that is "rejected" over a recipient "not found".
WORD_RULES: tuple[WordRule, ...] = (
    # The local delivery program failed (a pipe, a filter, a mailer the MTA ran): Sendmail's
    # "unknown mailer error N" (EX_* exit codes), Exim's "pipe to |command" and "Child process
    # of T transport returned N", Postfix's "Command died with status N" (an exit code that is
    # no sysexits code). Nothing about the address nor the sender: what the reporting host's own
    # program did. Not Postfix's "Command output:" alone: it follows the sysexits code's own
    # words ("user unknown. Command output: ...", 5.1.1 for EX_NOUSER), which say why.
    _rule(
        "mailer-error",
        "mailererror",
        STRONG,
        r"""
        mailer error|pipe to \|(?=\S)|command died with status
        child process of \S+ transport returned
        """,
    ),
    # The receiving system's own disk, not the recipient's quota (RFC 5321 452 "insufficient
    # system storage"; Sendmail's "452 4.4.5 Insufficient disk space; try again later").
    _rule(
        "system-full",
        "systemfull",
        STRONG,
        r"insufficient (?:disk|system) (?:space|storage)|no space left on device|disk (?:is )?full"
        r"|not enough free (?:disk )?space",
    ),
    _rule(
        "mailbox-full",
        "mailboxfull",
        STRONG,
        r"""
        mailbox (?:is )?full|mailbox.{0,20}(?:exceeded|over) (?:its )?(?:storage|quota|size)
        over ?quota|quota (?:exceed(?:ed)?|full)\b
        exceeded (?:the |its |his |her )?(?:storage|quota)|disk quota
        insufficient storage|out of storage|mail ?box size limit
        user(?:'s)? quota|is over quota|mailfolder is full|account is full
        storage (?:space )?(?:exceeded|full)|full mailbox|mailbox has exceeded
        exceed(?:s|ed)? (?:the )?mailbox|mailbox exceeds|mailbox exceeded (?:the |its )?(?:local )?limit|(?:not|n[o']t have) enough (?:disk |storage )?space|容量|空间不足|(?:邮箱|信箱)(?:空间)?已满
        (?:邮箱|信箱)配额已满
        exhausted (?:\S+ ){0,2}storage|too many (?:messages|mails) (?:on the server|in (?:the |this |his |her |their )?(?:mailbox|inbox|folder))
        speicher\S* [^.]{0,20}(?:ue|ü)berschritten|zu ?viele (?:mails|nachrichten) (?:auf dem server|im postfach)
        postfach[^.]{0,40}\b(?:voll|überfüllt)\b|(?:boîte|boite)[^.]{0,40}\b(?:pleine|saturée)
        buzón[^.]{0,40}\blleno|casella[^.]{0,40}\bpiena|caixa[^.]{0,40}\bcheia
        ящик[^.]{0,20}(?:переполнен|заполнен)|메일함[^.]{0,20}(?:가득|초과|꽉)|満杯
        skrzynk\S*[^.]{0,30}\b(?:pełna|przepełnion\S*|zapełnion\S*)|schránk\S*[^.]{0,20}\b(?:plná|přeplněn\S*)
        (?:mailbox|postvak|postbus)[^.]{0,20}\b(?:is|zit) vol\b|posta kutusu[^.]{0,20}\bdolu\b|hộp thư[^.]{0,20}\bđầy
        صندوق البريد[^.]{0,20}ممتلئ
        (?:メールボックス|受信箱|メールボックスの容量)[^。、]{0,8}(?:いっぱい|一杯)
        """,
    ),
    _rule(
        "message-too-big",
        "mesgtoobig",
        STRONG,
        r"""
        message (?:is )?too (?:large|big)|message size exceed(?:s|ed)|size limit
        message exceeds (?:the )?(?:maximum|fixed)|message length exceeds
        too much mail data
        too large for this recipient|邮件(?:大小)?超过|邮件过大
        (?:nachricht|e-mail|mail)[^.]{0,20}\bzu groß|(?:message|courriel)[^.]{0,20}\btrop (?:volumineux|gros)
        mensaje[^.]{0,20}\bdemasiado grande|mensagem[^.]{0,20}\bmuito grande|messaggio[^.]{0,20}\btroppo grande
        wiadomoś?ć[^.]{0,20}\bzbyt duża|(?:размер|письм\S*|сообщени\S*)[^.]{0,30}(?:превыша|слишком больш)
        サイズ[^。]{0,20}(?:超え|大きすぎ)|크기[^.]{0,20}초과
        """,
    ),
    # The form of the message, not its size nor what it says (Sendmail's "552 5.6.0 Headers
    # too large", RFC 3463's X.6 media and RFC 6531's non-ASCII addresses and headers).
    _rule(
        "content-form",
        "contenterror",
        STRONG,
        r"""
        headers? (?:are |is )?too (?:large|long|big)|too many headers
        non-ascii (?:address|header)|8-?bit (?:data|characters?) (?:not|is not) (?:allowed|permitted|accepted)
        """,
    ),
    # The sender's own account, IP or sending suspended or closed ("Your IP has been temporarily
    # suspended", "Sender account is inactive", "Your account has been closed", 发件人账号被锁定;
    # Mail.ru's "message sending for this account is disabled": the sending, of an account; "Ihr
    # Konto", "compte de l'expéditeur", "ваш аккаунт" in the other languages read below; AOL's
    # "(RLY:B1) The IP address you are sending from has been temporarily blocked": an IP is only
    # ever the sender's): a verdict on us, not on the recipient's mailbox, which the suspension
    # words below ("temporarily blocked") or the closed account's (a gone address) would read it as.
    _rule(
        "sender-disabled",
        "blocked",
        STRONG,
        r"""
        (?:\byour|\bsender(?:'s)?|\bsending|\boutgoing|\boutbound) (?:(?:ip|ip address|account|mailbox|address|domain|server|host|access|mail|email) )?(?:has been |is |was )(?:temporarily )?(?:disabled|suspended|inactive|deactivated|locked|closed)
        \b(?:this|the|your|sending|sender(?:'s)?) ip (?:address )?(?:(?:that )?you (?:are |were )?(?:sending|sent|send) from )?(?:has been |is |was )(?:temporarily |permanently )?(?:blocked|disabled|suspended|banned)
        \bsending (?:for|from|of|by) (?:this|your) (?:account|mailbox|address|user|domain|ip)\b[^.;:]{0,20}? (?:has been |is |was )(?:temporarily )?(?:disabled|suspended|blocked|locked)
        (?:发件人|发信人|发信|寄件者)(?:帐号|账号|帐户|账户|邮箱|信箱)?(?:已经?)?被?(?:冻结|停用|禁用|锁定|锁)
        (?:\bihr(?:e)?|\bdein(?:e)?) (?:konto|postfach|e-mail-adresse)\b[^.]{0,30}\b(?:gesperrt|deaktiviert)|(?:konto|postfach) des absenders\b[^.]{0,30}\b(?:gesperrt|deaktiviert)
        (?:\bvotre|\bton) (?:compte|boîte aux lettres)\b[^.]{0,30}\b(?:désactivée?|suspendue?|bloquée?)|compte de l'expéditeur[^.]{0,30}\b(?:désactivé|suspendu|bloqué)
        (?:\bsu|\bsua) (?:cuenta|conta)\b[^.]{0,30}\b(?:desactivada|deshabilitada|suspendida|bloqueada|desativada|suspensa)
        (?:cuenta del|conta do) remitente[^.]{0,30}\b(?:desactivada|suspendida|bloqueada)
        (?:ваш|ваша) (?:аккаунт|ящик|учетн\S* запис\S*)[^.]{0,30}(?:заблокирован|отключ[её]н)|(?:аккаунт|ящик) отправителя[^.]{0,30}(?:заблокирован|отключ[её]н)
        """,
    ),
    # In German, French, Spanish, Portuguese, Italian and Russian, a mailbox or account locked,
    # disabled or suspended, unless it is the reader's own ("Ihr Konto", "votre compte", "ваш
    # ящик": ours, which the sender-disabled words say in English).
    _rule(
        "mailbox-disabled",
        "suspend",
        STRONG,
        r"""
        account (?:has been |is )?(?:disabled|suspended|inactive|deactivated|locked|expired)
        account (?:has been |is )(?:temporarily )?limited
        mailbox (?:has been |is )?(?:disabled|suspended|inactive|deactivated|locked)
        (?:disabled|suspended|inactive|deactivated|locked|expired) (?:account|mailbox|mbox|user)
        is a deactivated mailbox|account that you tried to reach is disabled
        user (?:is )?(?:suspended|disabled|inactive|locked)|recipient (?:is )?suspended
        mailbox unavailable - (?:suspended|disabled)|not (?:an )?active(?! address)
        delivery error: dd \S+ is no longer valid
        recipient(?:'s)? (?:account|mailbox) (?:is |has been )?blocked
        has been (?:temporarily )?(?:disabled|suspended)|administrativ\w* disabled|is unavailable\b(?!\s*:)|currently suspended
        temporar(?:y|ily) (?:locked|disabled|blocked)|disabled recipient|mailbox is frozen
        (?:mailbox|account|address|user|blocked|disabled|suspended|locked)\b[^.;:]{0,40}?(?:due to|because of|for) (?:its |long )?inactivity
        (?:帐号|账号|帐户|账户|邮箱|信箱|用户)(?:已经?)?被?(?:冻结|停用|禁用|锁定|锁)
        (?<!ihr )(?<!dein )(?:postfach|konto)\b[^.]{0,30}\bgesperrt
        (?<!ihr )(?<!dein )(?:postfach|konto)\b[^.]{0,30}\bdeaktiviert
        (?<!ihr )(?<!dein )(?:postfach|konto)\b[^.]{0,30}\bstillgelegt
        (?<!votre )(?<!ton )(?:compte|boîte aux lettres)\b[^.]{0,30}\bdésactivée?
        (?<!votre )(?<!ton )(?:compte|boîte aux lettres)\b[^.]{0,30}\bsuspendue?
        (?<!votre )(?<!ton )(?:compte|boîte aux lettres)\b[^.]{0,30}\bbloquée?
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bdesactivada
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bdeshabilitada
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bsuspendida
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bbloqueada
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bdesativada
        (?<!su )(?<!sua )(?:cuenta|buzón|conta|caixa postal)\b[^.]{0,30}\bsuspensa
        (?<!vostro )(?<!vostra )(?<!tuo )(?:casella|account)\b[^.]{0,30}\bdisattivat[ao]
        (?<!vostro )(?<!vostra )(?<!tuo )(?:casella|account)\b[^.]{0,30}\bsospes[ao]
        (?<!vostro )(?<!vostra )(?<!tuo )(?:casella|account)\b[^.]{0,30}\bbloccat[ao]
        (?<!ваш )(?<!ваша )(?:аккаунт|ящик|учетн\S* запис\S*)[^.]{0,30}(?:заблокирован|отключ[её]н)
        """,
    ),
    # A relay refused before a user moved: servers answer a relay attempt with 551's own words
    # ("551 User not local; relaying denied"), which are RFC 5321's for a moved user too. RFC
    # 5321 gives 551 a forward-path for a user who moved ("please try <addr>"); without one it
    # says only that this server does not serve the user and will not forward: a route refused
    # (an MX that does not host the domain), nothing about the address at its own host.
    # Not a relay refused for want of SMTP authentication ("is not permitted to relay through
    # this server without authentication", MessageLabs): the session's missing credentials
    # (security-policy, below), as sisimai's Reason/SecurityError.pm reads "authentication
    # required", not a server that relays for no one.
    _rule(
        "no-relaying",
        "norelaying",
        STRONG,
        "\n".join(
            f"(?:{line}){_UNLESS_AUTHENTICATED}"
            for line in (
                r"relay(?:ing)? (?:access |operation )?(?:denied|not permitted|not allowed|prohibited|rejected)",
                r"not permitted to relay|unable to relay|no relaying|relay not permitted",
                r"we do not relay|not a gateway|relaying denied|denies relay|in my list of allowed rcpthosts?\b",
                r"not (?:ok|accepted|allowed|permitted) (?:to |for )relay(?:ing)?\b",
            )
        )
        + "\n"
        + r"\buser not local\b(?![^.<]{0,20}\btry\b)",
    ),
    _rule(
        "moved",
        "hasmoved",
        STRONG,
        r"""
        \bhas moved\b|address has (?:been )?changed|user has moved|has been replaced by
        \buser not local\b[^.<]{0,20}\btry\b
        """,
    ),
    # The message judged spam, said so, before any advice that follows (Google Groups: "rejected
    # due to spam classification ... set up SPF records").
    _rule(
        "spam-verdict",
        "spamdetected",
        STRONG,
        r"""
        (?:rejected|refused|classified|identified|detected|flagged|marked) (?:due to|as|because of) (?:being )?(?:likely |suspected |possible )?(?:spam|junk)
        spam classification|\bube\b
        """,
    ),
    _rule(
        "sender-authentication",
        "authfailure",
        STRONG,
        r"""
        \bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|authentication (?:check )?fail
        unauthenticated (?:e-?mail|messages?|mail)\b|fails? to pass authentication
        must pass either spf or dkim|does not have authentication information
        fail(?:s|ed)? authentication
        \bmi:(?:spf|dma)\b
        not (?:authori[sz]ed|permitted|allowed) to send (?:e-?mail |mail |messages? )?(?:on behalf of|as)\b
        """,
    ),
    # A policy named as the reason ("rejected for policy reasons", "policy violation"): said so
    # by Yahoo (554 5.7.9), Microsoft and many gateways, whatever the status.
    _rule(
        "policy-reasons",
        "policyviolation",
        STRONG,
        r"for (?:local |content )?policy reasons|\bpolicy violation|violat\w* (?:(?!security)\S+ ){0,2}polic"
        r"|not accepting (?:e-?mail|mail|messages) with\b",
    ),
    # Only the sender is refused ("Sender address rejected", "domain of sender", "Invalid mailbox in
    # MAIL FROM"): before the recipient wordings, which share words ("address rejected", "not
    # found", "invalid mailbox") with it.
    # Exim's reply to a failed sender callout opens "550-Verification failed for <sender>" and
    # closes "550 Sender verify failed": a relay that quotes only the first line (Sendmail's
    # Diagnostic-Code, under its own 5.1.1) still names our sender, not the recipient.
    _rule(
        "sender-rejected",
        "rejected",
        STRONG,
        r"""
        sender(?:'s)? (?:(?:mailbox|address|account) ){0,2}(?:was |is )?(?:rejected|denied|invalid|unknown|not allowed|not exists?\b|not listed\b)
        domain of sender|sender verify|sender(?:'s)? domain|mail from.{0,30}(?:rejected|not exists?\b)
        invalid sender|(?:fake|forged|bogus) sender|\bfrom address (?:is )?(?:invalid|not exists?\b)
        envelope sender|envelope from (?:domain|address)|b(?<![a-z0-9@.-]b)atv\b(?![.@-])
        (?:invalid|unknown|bad|non-?existent) (?:mailbox|address|user|sender|domain) in (?:the )?mail from\b
        (?:user|mailbox|address) (?:(?:\([^()\s]+\)|<[^<>\s]+>) )?unknown in (?:the )?mail from\b
        \bmi:imf\b|(?:发信人|发件人|寄件者).{0,12}(?:不合规范|无效|不存在)
        (?:^|\d{3}[ -])verification failed for <
        sender(?: address)? (?:is )?not (?:pre-?approved|verified|confirmed)\b
        """,
    ),
    # The recipient's system takes mail only from senders or servers it has confirmed (a
    # whitelist, a challenge-response system): "550 Your server requires confirmation" and
    # "confirm this mail server" (sisimai's Reason/Blocked.pm, BSD-2, reads both as blocked),
    # "not on the whitelist", "allow list required", a challenge's own words in a refusal. A
    # verdict on our sending side, never on the address: read before the "user unknown"
    # wordings, and before qmail's "does not like recipient." (its word for any refusal at RCPT)
    # could read a reply that names no other reason as an unknown address. "Sender does not
    # exist in the users whitelist" (a German host's documented reply, hoody.de's help, which
    # words it "nicht in der Liste der erlaubten Absender"); in the other languages, the list's
    # common name (the Wikipedia articles' titles: liste blanche, lista blanca, lista branca,
    # белый список, 白名单, ホワイトリスト; Outlook's safe senders list, as its localised help
    # names it) behind a negation: "not in the list" is the refusal, the list's name alone is not.
    _rule(
        "sender-unconfirmed",
        "blocked",
        STRONG,
        r"""
        (?:\byour|\bsender(?:'s)?|\bsending) (?:mail )?(?:server|host|domain|address|ip)(?: address)? (?:requires|needs|must (?:be|get)) (?:a |an )?(?:confirm|verif|white-?list|allow-?list|approv|pre-?approv)
        \bconfirm this mail server|requires? (?:a |your )?confirmation (?:of|from) (?:the |all |its )?senders?\b
        \bnot (?:(?:exist|list|found|includ|present)\w* )?(?:on|in) (?:\S+ ){0,4}?(?:white|allow|safe|approved)[ -]?(?:list|senders?)\b|\bnot (?:white|allow)-?listed\b
        \bnicht (?:in|auf) (?:der|dem|einer) (?:whitelist|positivliste|freigabeliste|weißen liste|liste (?:der )?(?:erlaubten|zugelassenen|sicheren|freigegebenen) absender)
        \bpas (?:sur|dans) (?:la|sa|leur) liste (?:blanche|des expéditeurs (?:approuvés|autorisés|fiables))|\babsente? de (?:la|sa) liste blanche
        \bno (?:está|figura|se encuentra|aparece) en (?:la|su) lista (?:blanca|de remitentes (?:seguros|permitidos|autorizados|aprobados))
        \bnão (?:está|consta|se encontra|aparece) na (?:sua )?lista (?:branca|de remetentes (?:confiáveis|permitidos|autorizados|aprovados))
        (?:\bне (?:находится |внес[её]н\w* |включ[её]н\w* |состоит )?|\bнет |отсутствует )в (?:белом списке|белый список|списк(?:е|и) (?:над[её]жных|разреш[её]нных|доверенных) отправителей)
        不在[^，。,;]{0,12}(?:白名单|安全发件人列表|允许列表)|(?:ホワイトリスト|許可リスト|信頼できる差出人のリスト)に[^。]{0,10}(?:ません|ない)
        \b(?:verify|confirm) your (?:own |sender(?:'s)? |e-?mail |return )?address\b|\b(?:held|pending|awaiting) (?:for |until )?(?:sender )?(?:verification|confirmation)\b
        \b(?:white|allow)-?list(?:ing)? (?:is )?required\b
        """
        + CHALLENGE_WORDS,
    ),
    # Postfix's smtpd_helo_restrictions ("Helo command rejected: Host not found") and other MTAs'
    # "HELO domain must exist", "HELO name ...": the name our host gave in HELO, not the
    # recipient's domain.
    _rule(
        "helo-rejected",
        "blocked",
        STRONG,
        r"\b(?:helo|ehlo) (?:command rejected|(?:domain|name|hostname|host(?: name)?)\b)",
    ),
    # A domain that does not exist, in the MTAs' words for it: a reply whose subject is a bare
    # domain ("553 example.org does not exist"), a domain that "must exist", the "mail domain"
    # of an address said unknown.
    _rule(
        "no-such-domain",
        "hostunknown",
        STRONG,
        r"""
        \bdomain (?:name )?(?:[^\s@]+\.[^\s@]+ )?(?:does ?n[o']?t exist|not found)|no such domain|域名不存在
        domain must exist|mail domain [^.;:]{0,60}\bis unknown
        5(?<![\w.]5)\d\d (?:[245]\.\d{1,3}\.\d{1,3} )?(?:[a-z0-9-]+\.)+[a-z]{2,} does ?n[o']?t exist
        """,
    ),
    _rule(
        "user-unknown",
        "userunknown",
        STRONG,
        r"""
        user(?:name)? (?:is )?unknown|unknown (?:virtual |e-?mail )?(?:user|recipient|mailbox|address|local)
        (?:user|recipient|mailbox|address) (?:\([^()\s]+\)|<[^<>\s]+>) (?:is )?unknown
        non-?existent (?:user|recipient|mailbox|address|account)
        no such (?:user|mailbox|recipient|account|address|person|local user)
        (?<![a-z])nosuch(?:user|mailbox|recipient)\b|\bno_such_(?:user|mailbox|recipient)\b
        recipient (?:address )?(?:is )?unknown|recipient (?:was )?not found
        recipient (?:address )?invalid|invalid (?:recipient|mailbox|user)
        recipient address rejected\.?$|recipient address rejected\.? \(|address rejected\.
        recipient address rejected: (?:access denied|invalid[- ](?:user|recipient)|unknown user|user ?unknown)
        invalid .{0,20}userid
        address (?:couldn't|could not|cannot|can't) be found
        (?:user|mailbox|account|recipient|addressee) (?:was )?not found
        do(?:es|se|s) ?n[o']?t exist|no longer (?:exists|valid|in use)|not a valid (?:mailbox|user|recipient)
        no mailbox here|no (?:mailbox|user|account)(?: here)? by that name|no one at this address
        unroute?able address|not (?:a )?known user|user not known
        not (?:a )?user of this (?:server|system|host|domain)|n[o']t exists? (?:that|this|such) user
        (?:(?:user|recipient|mailbox|address|account)(?<!sender address)|(?<![^\s<])(?<!sender )(?<!sender <)[^\s<>@]+@[^\s<>]+>?) (?:is )?not a member of (?:this |the )?domain\b
        (?:(?:user|recipient|mailbox|address|account)(?<!sender address)(?<!ip address)|(?<![^\s<])(?<!sender )(?<!sender <)[^\s<>@]+@[^\s<>]+>?) (?:is )?no longer accept(?:s|ing) (?:e-?mail|mail|messages)(?=$| ?[.;,:!)(]| (?:and|please)\b)
        (?:user|mailbox|account|recipient|address)(?<!ip address)(?<!sender address)(?: path)? no exists?\b
        does not have an? (?:\S+ )?account
        recipient (?:name )?(?:is )?not recognized|address(?:es)? (?:is |was |were )?unknown|recip(?:ient)? ?notfound
        (?:mailbox|address)(?<!ip address)(?<!sender address) (?:invalid|not present)\b|not an active address
        bad ?(?:rcpt|recipient)to\b|not in my validrcptto\b
        addressee unknown|unknown or illegal alias|no account by that name
        doesn't have an? (?:\S+ ){1,3}account|not our customer|mailbox unknown|user doesn't exist
        account (?:does not|doesn't) exist|account (?:has been |is )?closed|unknown local part|not a valid address
        no mail ?box (?:available|found)|mail-box not found
        (?:user|mailbox|account|recipient|address) not exists?\b
        bad destination mailbox address|(?:mailbox|destination) address (?:is )?invalid
        (?:用户|使用者|帐号|账号|帐户|账户|邮箱|信箱|地址|收件人|收件者|收信人)[^，。,;\s]{0,6}?不存在
        (?:用户|使用者|帐号|账号|帐户|账户|邮箱|信箱)[^，。,;\s]{0,4}?(?:已被?|被)注销
        收件(?:人|者)地址(?:无效|错误)|无此(?:用户|使用者)|不存在的(?:用户|使用者)
        (?:benutzer|empfänger|adresse|postfach)\S* (?:ist )?unbekannt|unbekannte[rn]? (?:benutzer|empfänger)
        (?:e-mail-adresse|empfänger|postfach|konto|benutzer)[^.]{0,60}(?:nicht gefunden|existiert nicht)
        (?:adresse|destinataire|utilisateur|compte|boîte aux lettres)[^.]{0,40}\binexistante?
        (?:usuario|destinatario|cuenta|buzón|dirección|usuário|destinatário|conta|endereço|caixa postal) inexistente
        (?:conta|usuário|destinatário|caixa postal)[^.]{0,60}\bnão existe
        (?:indirizzo|utente|casella|destinatario)[^.]{0,60}\bnon esiste|(?:indirizzo|utente|casella|destinatario)[^.]{0,30}\binesistente
        (?:utilisateur|destinataire|adresse) inconnue?|adresse[^.]{0,60}(?:est introuvable|n'existe pas)
        (?:usuario|destinatario) desconocido|no se encontró la dirección|(?:buzón|cuenta) no existe
        no existe (?:dicha persona|ese usuario|el usuario|el destinatario)
        (?:utente|destinatario) sconosciuto|impossibile trovare l'indirizzo|nessun utente
        (?:usuário|utilizador|destinatário) desconhecido|endereço[^.]{0,60}não (?:foi encontrado|existe)
        (?:пользовател|адресат|получател)\S* не (?:найден|существует)|нет такого пользователя
        (?:почтов\S+ )?ящик\S* не (?:найден|существует)|несуществующ\S* (?:адрес|ящик|получател|пользовател|почтов)
        (?:konto|użytkownik|adres|skrzynka|odbiorca)[^.]{0,60}\bnie istnieje|nie ma takiego (?:użytkownika|konta|adresu|odbiorcy)
        (?:uživatel|adresa|adresát|schránka|účet)\S* neexistuje|(?:uživatel|adresa|adresát|schránka|účet)\S* nebyl nalezen
        onbekende (?:gebruiker|ontvanger|geadresseerde)|(?:e-?mailadres|adres|gebruiker|ontvanger|mailbox|postvak)[^.]{0,40}\bbestaat niet
        (?:alıcı|kullanıcı|adres|posta kutusu)[^.]{0,20}\b(?:bulunamadı|mevcut değil)
        (?:địa chỉ|người nhận|người dùng|tài khoản|hộp thư)[^.]{0,30}không tồn tại
        (?:المستخدم|المستلم|العنوان|عنوان البريد|الحساب)[^.]{0,30}غير موجود
        (?:받는 사람|수신자|사용자|계정|주소)\S*[^.]{0,10}찾을 수 없
        존재하지 않는 (?:계정|주소|메일|사용자)|주소가 존재하지 않|宛先不明
        (?:ユーザ|受信者|宛先|アドレス|アカウント|メールボックス)[^。、]{0,8}?(?:存在しません|見つかりません)
        """,
    ),
    # Wordings that usually mean an unknown address but also cover other states: a specific
    # status code outweighs them. Lotus Domino / Notes say "not listed in" their directory in
    # their localised releases too (Spanish, French, German, Japanese), and in any of them
    # name it ("Directory di Domino", "Diretório do Domino", "katalogu Domino") after the
    # sentence's negation: the release's own translation need not be listed here. Offered as one of two alternatives ("Mailbox unavailable or
    # access denied", Tencent's reply to a recipient paused for receiving too much) they are no
    # verdict on the address.
    _rule(
        "address-not-available",
        "userunknown",
        WEAK,
        r"""
        (?:is|was) not found|mailbox (?:<?[^\s<>@]+@[^\s<>]+>? )?(?:is )?(?:unavailable|not available)(?! or (?:access )?denied)|no longer available
        check if (?:the )?address is correct|bad[ _]recipient|no (?:valid )?recipients?\b(?! from\b)
        invalid address|not listed in|account (?:is )?unavailable|@[^\s<>]+>? not found
        can'?t accept (?:user|recipient)\b|(?:recipient|user) (?:<[^<>\s]+> )?(?:is )?not (?:accepted|ok)\b
        no \S+ in name directory|missing home directory
        no se encuentra en el directorio|non r.pertori. dans l.annuaire|nicht im domino-verzeichnis
        ディレクトリ(?:には見つかりません|のリストにありません)
        (?:\bnon?|\bnot|\bnicht|\bniet|\bnão|\bnie|\bne|\bej|\bikke)\b[^.;]{0,40}?\b(?:directory|directorio|diret.rio|annuaire|verzeichnis|katalogu?|adresáři|katalogen|kataloget)(?: (?:di|de|do|del|da|van|dans l.))? domino\b
        """,
    ),
    # A virus found, said so, before the content filter's own words that carry it ("550 Virus
    # Detected; Content Rejected").
    _rule(
        "virus-found",
        "virusdetected",
        STRONG,
        r"virus (?:detected|found)|(?:contains?|containing|infected with) (?:an? )?virus",
    ),
    _rule(
        "content-filtered",
        "filtered",
        STRONG,
        r"""
        content (?:filter|rejected|denied)|filtered|mail content denied
        recipient(?:'s)? preferences|preferences prevent|privacy settings|message rejected due to content|header (?:error|is rejected)
        not accepting (?:e-?mail|mail|messages) from\b|only accept(?:s|ing)? (?:e-?mail|mail|messages) from\b|not accepting any mail
        illegal attachment|附件
        """,
    ),
    _rule(
        "reverse-dns",
        "requireptr",
        STRONG,
        r"""
        \bptr\b|reverse (?:dns|lookup|address)|\brdns\b|no reverse|cannot find your hostname
        not have a reverse|hostname (?:does not|doesn't) resolve|unresolvable
        forward-confirmed
        """,
    ),
    _rule(
        "not-rfc-compliant",
        "notcompliantrfc",
        STRONG,
        r"""
        rfc ?5322|rfc ?2822|not rfc compliant|duplicate header|multiple addresses in from
        \bmi:nhd\b|\bdt:sum\b
        """,
    ),
    _rule("reputation", "badreputation", STRONG, r"reputation|sender ?score|low quality"),
    _rule(
        "host-unknown",
        "hostunknown",
        STRONG,
        r"""
        host (?:or domain name )?(?:not found|unknown)(?!,? try again)|unknown host
        domain (?:not found|unknown|does ?n[o']t exist|is not valid|lookup failed)
        no such domain|name or service not known|couldn't find any host
        unrouteable mail domain|\bnxdomain\b|non-?existent (?:host|domain)|host not found(?!,? try again)
        mx lookup failed|host \S+ not found|address lookups? failed permanently
        domain (?:may|might) not exist|domain is not reachable|domain name not found
        unknown domain|invalid domain|cannot resolve|no dns|域名不存在
        域名解析失败|无法解析[^，。,;\s]{0,6}域名
        """,
    ),
    # A domain that accepts no mail: a null MX (RFC 7505), a record saying so, or no mail
    # exchanger at all ("No MX found for domain", qmail's "couldn't find a mail exchanger or IP
    # address"): the domain exists and hosts no mail. A domain that does not exist is
    # host-unknown (NXDOMAIN, "couldn't find any host named"). A bare "554 No SMTP service" is
    # RFC 5321's greeting that refuses the connecting host, not the domain (a weak refusal below),
    # and a domain that "does not accept email over IPv6 / from your host" takes mail, not ours;
    # a recipient that "does not accept email in non-Latin scripts" refuses a form, not all mail.
    _rule(
        "accepts-no-mail",
        "notaccept",
        STRONG,
        r"""
        does not accept (?:e-?)?mail(?! (?:over|via|from|through|with|by|in)\b)|null mx|accepts no mail|record indicated no smtp service
        no mx (?:record|host|found)|couldn't find a mail exchanger|no mail exchanger
        not accepting (?:network )?(?:messages|mail)(?! (?:with|from|over|via|through|by)\b)
        """,
    ),
    # Postfix's reject_rbl_client ("Client host [192.0.2.1] blocked using zen.spamhaus.org") and
    # its kin: the sending host is on a blocklist, whatever the list's name says ("spam...").
    _rule(
        "client-blocked",
        "blocked",
        STRONG,
        r"client host (?:\S+ )?(?:rejected: )?blocked|\bblocked using\b|no access from mail server"
        r"|(?:listed|found) (?:on|in) (?:one or more |an? )?(?:dns)?(?:rbl|dnsbl|bl)s?\b",
    ),
    _rule(
        "spam",
        "spamdetected",
        STRONG,
        r"spam|junk|unsolicited|bulk mail|垃圾邮件|спам|스팸|迷惑メール|スパム|\bdt:spm\b|phish|\bube\b|\bsurbl\b|\buribl\b"
        r"|(?:black|block|deny)-?listed (?:url|uri|link)|ur[li] (?:black|block|deny)-?list",
    ),
    # Not a relay's disclaimer footer folded into the text ("This email has been scanned for all
    # viruses by ..."): that says nothing was found.
    _rule(
        "virus",
        "virusdetected",
        STRONG,
        r"(?<!scanned for )(?<!scanned for all )virus(?!-?free|checked)|malware|infected|病毒",
    ),
    # More recipients in one message than the server takes (RFC 5321 4.5.3.1.10's "452 Too
    # many recipients", RFC 3463 X.5.3): the message's envelope, not the address nor our volume
    # (a count per hour or per day is a throttle, read before the words). After the address
    # rules: "user unknown; too many recipients" says why this one failed.
    _rule(
        "too-many-recipients",
        "exceedlimit",
        WEAK,
        r"too many (?:recipients|rcpts?)\b(?! (?:per|in the last|this|today|received) )",
    ),
    _rule(
        "too-many-connections",
        "toomanyconn",
        STRONG,
        r"""
        too many (?:connections|concurrent|sessions|smtp)|connection (?:frequency|rate)
        frequency limited|concurrent connections|连接(?:数)?过多
        """,
    ),
    _rule(
        "sending-too-fast",
        "speeding",
        STRONG,
        r"""
        too (?:many|much) (?:mail|message|email)|too (?:fast|frequently|quickly)|rate limit|rate of
        sending (?:rate|limit|quota)|receiving mail at a rate
        exceeded (?:its |the )?(?:daily|hourly)\s|发送频率|发信频率|频率过[快高]
        submissionquotaexceeded|limits? (?:for|on) how many (?:messages|recipients|emails)(?![^.;:]{0,30}\b(?:in|per) (?:a |one |a single |each )?(?:message|email)\b)
        """,
    ),
    # "Not listed in" said of the sending side or of an allow list ("Your IP is not listed in our
    # allow list", "Client host not listed in DNSWL"): a refusal of us, over the weak words that
    # read a recipient "not listed in" a directory as an unknown address.
    _rule(
        "blacklisted",
        "blocked",
        STRONG,
        r"""
        (?:\bip|\bhost|\bclient|\bserver|\brelay|\bnetwork|\byou)(?: address)?(?: [^\s:;]+)?(?: is| are| was)? not listed in
        not listed in (?:\S+ ){0,3}?(?:allow|white|safe|trust|approv|permit|authori)|not listed in \S*dnswl
        blocked|blacklist|black list|denylist|block ?list|\brbl\b|spamhaus|banned|黑名单|拦截
        \binvalid ip\b|\bblack ip\b|\bhl:(?:ipb|mep|rep)\b|\bip:(?:bl|ipb)\b|\bwm:bl[iu]\b|\bmi:spb\b|拒收|禁止连接
        """,
    ),
    _rule(
        "security-policy",
        "securityerror",
        STRONG,
        r"security polic|secure connection|tls required|requires? (?:tls|encryption|starttls)"
        r"|authentication (?:is )?required|unauthenticated senders?|smtp auth"
        r"|\b(?:without|unless) (?:smtp )?authenticat",
    ),
    _rule(
        "syntax",
        "syntaxerror",
        WEAK,
        r"syntax error|malformed (?:address|recipient)|address syntax|invalid address format",
    ),
    _rule(
        "gave-up",
        "expired",
        WEAK,
        r"""
        expired|retry (?:time|timeout)|could not be delivered (?:with)?in|not delivered within|gave up|given up|giving up(?! on [^\s]+\.(?: |$))
        could not deliver for|did not accept our requests to connect
        too long|delivery time|has been delayed|unable to deliver in|queue(?! file)|delayed|timeout
        timed out|failed \d+ attempts|too many (?:delivery )?attempts
        超时|タイムアウト|тайм-?аут|시간 초과|истек\S* срок
        """,
    ),
    _rule(
        "network",
        "networkerror",
        WEAK,
        r"""
        connection (?:refused|reset|timed out|lost|dropped|closed)|name service error
        name server reply|network|routing loop|mail loop|loops back|too many hops|no route
        host not found,? try again|host name lookup failure
        unreachable|dns (?:failure|error|lookup)
        """,
    ),
    _rule("security", "securityerror", WEAK, r"security|tls|certificate|starttls|encrypt"),
    _rule(
        "policy",
        "policyviolation",
        WEAK,
        r"policy|prohibited|not allowed|not permitted|administrative",
    ),
    _rule(
        "refused",
        "blocked",
        WEAK,
        r"""
        block|denied|refused|rejected|reject|forbidden|not authorized|access denied|suspicious
        no smtp service
        拒绝|禁止
        """,
    ),
    _rule(
        "system",
        "systemerror",
        WEAK,
        r"""
        system error|local error|internal error|server error|temporar|try again|resources
        service (?:is )?(?:currently |temporarily )?unavailable|configuration error|mail ?server (?:is )?(?:down|busy)
        insufficient|write error
        """,
    ),
)


_RCPT_PREFIX = re.compile(r"recipient address rejected:")


def agreeing(text: str, reason: str) -> WordRule | None:
    """The first strong rule naming ``reason`` whose wording ``text`` matches, or ``None``.

    A strong rule earlier in :data:`WORD_RULES` wins over the status code, but not over an
    address status and words of its own that say the same: a hard bounce's "user unknown"
    under 5.1.1 stays one when another rule's words stand beside it ("for policy reasons",
    "disk full", "headers too large")."""
    for rule in WORD_RULES:
        if rule.strong and rule.reason == reason and rule.matches(text):
            return rule
    return None


# A report's recipients often share their words, a plain-text notice's one is read twice
# (:func:`warmup.bounces.classify.says_nothing`, then its bounce), and a provider's table is
# checked against a second decision of the same text: each read is ~70 µs. Only the last few
# texts are kept, so a report read again later is read in full.
@functools.lru_cache(maxsize=32)
def read_words(text: str) -> WordRule | None:
    """The first rule whose wording ``text`` (folded, lower-cased) matches, or ``None``."""
    # Postfix's "Recipient address rejected: ..." only says that RCPT was refused; what follows
    # it says why, so the prefix itself is no weak evidence of a block.
    bare = _RCPT_PREFIX.sub(" ", text) if "address rejected:" in text else text
    weak: WordRule | None = None
    for rule in WORD_RULES:
        if weak is not None and not rule.strong:
            continue
        if rule.matches(text if rule.strong else bare):
            if rule.strong or rule.reason != "userunknown":
                return rule
            # "Mailbox unavailable: sender blocked" names the mailbox only to say why it is
            # unavailable to us: a clear reason later in the text outweighs the weak wording.
            weak = rule
    return weak
