"""Helpers for non-RFC 3464 bounces: plain-text NDRs (qmail, Exim, Exchange, Gmail, Sendmail...),
auto-reply detection and returned-message splitting."""

from __future__ import annotations

import bisect
import codecs
import email
import email.header
import email.policy
import re
from collections.abc import Set
from email.message import Message
from typing import Any, AnyStr

from warmup.words import undeclared_text

from .screen import Screened
from .vendors import directory_verdict
from .wording import CHALLENGE_WORDS, simplified

# Python codecs that are no charset of mail: decoding with punycode costs time quadratic in the
# input (240 KB took 18 s; idna, 0.9 s for 100 KB), "undefined" raises UnicodeError, the escape
# codecs read Python literals. A part or parameter that names one is read as US-ASCII.
_NOT_CHARSETS = frozenset({"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape"})


def mail_codec(charset: str | None) -> str | None:
    """The codec to decode a part declared in ``charset`` with, or None (unknown, or a Python
    codec that is no mail charset)."""
    try:
        name = codecs.lookup(charset or "").name
    except (LookupError, ValueError):
        return None
    return None if name in _NOT_CHARSETS else name


# RFC 2046 5.1.1: a boundary has 1 to 70 characters. The stdlib compiles each into a pattern,
# at ~10 us a character: a 240 KB boundary took 2.4 s.
MAX_BOUNDARY = 200


# The stdlib splits a header's parameters in time quadratic in their number: a Content-Type of
# 50,000 (0.8 MB, within what a sync reads) took 5 s, each time the boundary or charset was
# asked for. A MIME header has a handful (a long file name in RFC 2231 pieces, a few dozen).
MAX_PARAMS = 100


class SafeMessage(Message):
    """A message read with bounded effort: its RFC 2231 parameters (``boundary*=punycode''...``)
    are never decoded with a codec :func:`mail_codec` refuses (the stdlib decodes them as it
    parses, and reads a part's charset and file name with them), a header's parameters past
    the first :data:`MAX_PARAMS` are not read, and a boundary longer than :data:`MAX_BOUNDARY`
    is none (the multipart is read as text)."""

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        said = self.get(header)
        if isinstance(said, str) and said.count(";") > MAX_PARAMS:
            cut = Message(policy=email.policy.compat32)
            cut[header] = ";".join(said.split(";", MAX_PARAMS + 1)[: MAX_PARAMS + 1])
            value = cut.get_param(param, failobj, header, unquote)
        else:
            value = super().get_param(param, failobj, header, unquote)
        if isinstance(value, tuple) and len(value) == 3 and value[0] and not mail_codec(value[0]):
            return ("us-ascii", value[1], value[2])
        return value

    def get_boundary(self, failobj: Any = None) -> Any:
        boundary = super().get_boundary(failobj)
        if isinstance(boundary, str) and len(boundary) > MAX_BOUNDARY:
            return failobj
        return boundary


def message_from(raw: bytes | str) -> Message:
    """``raw`` parsed (compat32) into :class:`SafeMessage` parts."""
    if isinstance(raw, bytes):
        return email.message_from_bytes(raw, SafeMessage, policy=email.policy.compat32)
    return email.message_from_string(raw, SafeMessage, policy=email.policy.compat32)


# An address starts where no local-part character precedes it. An opening quote ("addressed to
# 'user@host'") or an X.400 "SMTP=" attribute after ":" or ";" (Exchange: "dda:SMTP=user@host")
# before it is matched but not part of it: as prefixes, not look-behind alternatives (twice as
# slow, on every position of every text). Every domain label has a character:
# "user@host.net...User" (a Sendmail-style result with no blank) is user@host.net.
ADDR_RE = re.compile(
    r"(?<![\w.%+=/'!#$&*?^`{|}~-])(?:'|[Ss](?<=[:;][Ss])[Mm][Tt][Pp]=)?"
    r"([A-Za-z0-9][\w.%+=/'!#$&*?^`{|}~-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)"
    r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.)*[A-Za-z]{2,24})(?![\w-])"
)
MSGID_RE = re.compile(
    r"^(?:Message-I[Dd]|Message-Id)\s*:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE
)

# A blank between two words of a phrase, or the line break a wrap put there: a relaying MTA or
# a mail client re-wraps a text at its width, and an address longer than ours moves the breaks of
# the line it is on. Blanks, or blanks around one line end (never a blank line: that ends a
# paragraph). Possessive: a run of blanks is crossed once, never backtracked into.
_SP = r"(?:[ \t]++(?:\r?\n[ \t]*+)?|\r?\n[ \t]*+)"
# An escaped character, a class, or a space that no quantifier follows.
_SPACE_OR_CLASS = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]| (?![?*+{])")


def _wrappable(pattern: str) -> str:
    """``pattern`` with each space between words (not one in a class, nor an optional one: " ?")
    matching :data:`_SP`."""
    return _SPACE_OR_CLASS.sub(lambda m: _SP if m.group(0) == " " else m.group(0), pattern)


# Markers that start the returned copy of the original message in text bounces, with the
# newline before them: a pattern that starts with a literal lets the engine jump from line to
# line ("^" tries every position); none starts at 0 (the notification comes first). Bounded
# runs of blanks and dashes: "\s*" spans lines and "-+" overlaps "--+...", both quadratic on a
# body of blank lines or dashes.
_RETURNED_RE = re.compile(
    r"\n[ \t]*\|?(?:-{1,80} ?)?(?:"
    + _wrappable(
        r"below this line is a copy of the message|this is a copy of the message|"
        r"original message (?:follows|headers?(?: follows?)?\b|details|as received)|original message ?-|"
        r"-{2,80} ?returned mail ?-|start of returned message|"
        r"returned mail follows|original mail as follows|"
        r"(?:unsent|undelivered|original) message (?:follows|headers? follow)|"
        r"message headers? follows?|en-t.tes de message d.origine|\+{10,80}[ \t]*\n|headers of (?:the )?(?:original|returned) message|"
        r"the headers? of (?:your|the) message (?:is|are|follows?)|"
        r"the first \d+ lines of|your message (?:reads|follows)|"
        r"content-type: message/rfc822|content-type: text/rfc822-headers|"
        r"原始邮件|原邮件|以下是原|------ ?original|rfc822 headers? of|"
        r"a copy of the original message|the text you sent follows|"
        r"--- the header of the original message is following|"
        r"-{2,80}[ \t]*original message|\[returned message\]|transcript of session follows"
    )
    + r")",
    re.IGNORECASE,
)
# Transcript is part of the diagnostic; only the other markers end the notification.
_TRANSCRIPT_RE = re.compile(_wrappable(r"transcript of session follows"), re.IGNORECASE)

_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|deliver(?:y|ing)? (?:status|fail|notif|report|problem)|failure notice|"
    r"returned mail|mail delivery|could not be delivered|non.?deliver|not delivered|"
    r"delivery error|delivery fail|mail system error|bounce|unable to deliver|"
    r"rejected|warning: message|delayed mail|mail failure|nondeliverable|"
    r"message (?:not )?delivered|retour|non[ _]remis|退信|无法投递|未送达|投递失败|系统退信|"
    # Japanese 失敗 (failure) as the fold to simplified characters writes it: 失败
    r"配信(?:失败|エラー|不能)|送信(?:失败|エラー)|"
    r"delivery has failed|permanent error|error sending|message you sent|returned to sender|"
    r"unzustellbar|non distribuable|no se puede entregar|non recapitabile|não entregue|"
    r"не удалось доставить|не доставлено|발송 실패|전송 실패|반송|"
    # Italian, Polish, Czech, Dutch, Turkish, Vietnamese and Arabic, as mail systems in those
    # languages (Outlook's localised "Undeliverable:" among them) name a failure notice.
    r"non recapitat|niedostarczon|niedoręczon|nedoručiteln|nedoručen|onbestelbaar|niet bezorgd|"
    r"teslim edilemedi|không gửi được|không thể gửi|تعذر التسليم|لم يتم التسليم",
    re.IGNORECASE,
)
_BOUNCE_BODY_RE = re.compile(
    r"qmail-send program|mail delivery software|could not be delivered|"
    r"wasn't able to deliver|was not delivered|delivery to the following recipient|"
    r"did not reach the following recipient|following address(?:es)?(?: had| failed)|"
    r"permanent(?:ly)? (?:error|fatal|failure)|undeliverable|unable to deliver|"
    r"delivery has failed|message could not be delivered|returned to sender|"
    r"your message (?:to|was|could|cannot)|mailer-daemon|could not deliver|"
    r"the mail system|delivery failed|failed to deliver|couldn't be delivered|"
    r"delivery (?:status notification|report)|was undeliverable|undelivered|"
    r"无法投递|未能送达|退信|发送失败|投递失败|配信できません|届きませんでした|"
    r"配信に失败|送信できませんでした|未能(?:成功)?(?:投递|送达|发送)|"
    r"user unknown|mailbox unavailable|no such user|host unknown|"
    r"rejected|smtp error|remote server returned|delivery (?:to|of) .{0,40}failed|"
    r"(?:mail|message) has been returned|failed addresses follow|无法发送|无法送达|"
    r"не доставлено|не удалось доставить|전달되지 못했|보내지 못했|"
    # Exchange's NDR in any of its languages: its headings are translated, the line of
    # diagnostic information it gives each recipient is not ("#550 5.1.10
    # RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##").
    r"#[45]\d\d [45]\.\d{1,3}\.\d{1,3} [^#\n]{1,400}##",
    re.IGNORECASE,
)
# The same in Italian, Polish, Czech, Dutch, Turkish, Vietnamese and Arabic: searched only in a
# text that holds one of its phrases (a dozen more alternatives in the pattern above cost ~8 µs
# a notice, searched whole in every MTA's message). The phrase opens a sentence or follows its
# subject: its first letter in either case.
_BOUNCE_BODY_MORE = Screened(
    re.compile(
        r"[Nn]on è stat[oa] recapitat|[Nn]on (?:può|potrà) essere recapitat|nie została dostarczona|"
        r"[Nn]ie (?:można|udało się) dostarczyć|[Nn]ebylo možné doručit|[Nn]elze doručit|"
        r"[Kk]on niet worden (?:afgeleverd|bezorgd)|[Tt]eslim edilemedi|[Kk]hông thể gửi|"
        r"تعذر تسليم|لم يتم تسليم|"
        # French, Spanish, Portuguese and German MTAs' own sentence ("Votre message n'a pas pu
        # être remis", Exim's bounce as French servers translate it; "no se ha podido
        # entregar", "não pôde ser entregue", "konnte nicht zugestellt werden"), and Exchange's
        # delay notice as it words it in those languages (see notices._DELAY_RE).
        r"n['’]a pas pu être (?:remis|livré|distribué|délivré)|"
        r"no (?:se )?(?:ha )?(?:podido|pudo) (?:ser )?entregar|não (?:pôde|foi possível) (?:ser )?entreg|"
        r"konnte(?:n)? nicht zugestellt werden|"
        r"[Ll]a remise est retardée|[Ll]a entrega está retrasada|[Aa] entrega está atrasada|"
        r"[Zz]ustellung an folgende Empfänger oder Gruppen verzögert"
    )
)
_DAEMON_LOCALS = (
    "mailer-daemon",
    "postmaster",
    "mail-daemon",
    "maildaemon",
    "mailerdaemon",
    "mail-delivery",
    "mdaemon",
    "post_master",
    "mailer_daemon",
    "mail.delivery",
    "bounce",
    "noreply-dmarc",
    "nobody",
    "root",
)
# The words of an auto-reply's subject: English ones, and the prefix mail clients put before the
# original subject in their languages (Outlook's "Automatic reply:" as it localises it; Foxmail,
# QQ Mail and Japanese clients' own; Sieve vacation's "Auto:", RFC 5230 4.5).
_AUTOREPLY_SUBJECT_RE = re.compile(
    r"^\s*auto\s*:|out of (?:the )?office|auto(?:matic|mated)?[ -]?(?:reply|response|answer|antwort)|"
    r"vacation|away from|abwesen|absence|自动回复|自動応答|on leave|i am away|i'm away|"
    r"away until|holiday|réponse automatique|respuesta automática|"
    r"automatische antwort|automatisch antwoord|afwezig|risposta automatica|"
    r"resposta automática|автоматический ответ|автоответ|autosvar|automaattinen vastaus|"
    r"odpowiedź automatyczna|automatyczna odpowiedź|automatická odpověď|otomatik (?:yanıt|cevap)|"
    r"αυτόματη απάντηση|自动答复|自動回覆|自動回复|自動返信|자동 ?(?:회신|응답)|"
    # Outlook's Vietnamese, Thai, Indonesian and Arabic prefixes; Lotus Notes' out-of-office
    # subjects ("<name> is out of the office", "ist außer Haus", "est absent(e)").
    r"trả lời tự động|ตอบกลับอัตโนมัติ|balasan otomatis|رد تلقائي|"
    r" ist au(?:ß|ss)er haus\b| est absent(?:\(e\)|e?\.?$)",
    re.IGNORECASE,
)
_SKIP_LOCALS = {
    "postmaster",
    "mailer-daemon",
    "mail-daemon",
    "maildaemon",
    "mailerdaemon",
    "mdaemon",
    "abuse",
    "root",
    "noreply",
    "no-reply",
    "double-bounce",
}

MAX_TEXT = 200_000
# Multipart parts a message may declare (a "boundary" parameter each). The stdlib parser matches
# every line against the boundary of every enclosing multipart: a message nested 900 deep in
# 19,000 lines took 3 s. Real reports declare at most 8 (the corpus).
MAX_CONTAINERS = 16
MAX_HEADER = 2_000  # of a header value matched against the subject/sender patterns
MAX_HITS = 2_000
# What the line of an address says before it, when the address is no failed recipient: in a link,
# a header field's value, the sender of a transcript.
_NOT_RECIPIENT_LINE = re.compile(
    r"https?://\S*$|^\s*(?:from|sender|reply-to|return-path|"
    r"envelope-from|references|in-reply-to)\s*:|mail from:|\(envelope-from|sender address"
)
# Words just before an address that say it is another's (searched up to it, from the line before:
# a longer address, or a re-wrap, puts the break between the words and the address, or among the
# words): a Message-ID, a sender ("from <"), whom to ask ("please contact helpdesk@...", a block
# list's "send an e-mail message from another address to dz@...", "e-mail us at", "write to us
# at"), where the user went (RFC 5321's 551 "User not local; please try <forward-path>").
_NOT_RECIPIENT_BEFORE = re.compile(
    _wrappable(
        r"(?:message[- ]?id|msgid)\s*[:=]?\s*<?\Z|from(?<!\wfrom) <?\Z|"
        r"contact(?<!\wcontact)(?: us)?(?: at)?:?\s*<?\Z|please(?<!\wplease) try:?\s*<?\Z|"
        r"send(?<!\wsend) an? e-?mail(?: message)?(?: from (?:another|a different) address)? to:?"
        r"\s*<?\Z|e(?<!\we)-?mail us at:?\s*<?\Z|write(?<!\wwrite) to us at:?\s*<?\Z"
    )
)
# The longest text those words and the blanks among them take: what of the line before is read.
# (The "\b" before each word is a look-behind after it, or after its first letter: a pattern
# whose every alternative starts with a letter lets the engine skip to those letters, 4x faster
# over the ~100 characters before an address.)
_BEFORE = 160


def addresses(text: str) -> list[str]:
    """Return lower-cased e-mail addresses in ``text`` in order of first appearance."""
    seen: dict[str, None] = {}
    for m in ADDR_RE.finditer(text[:MAX_TEXT]):
        seen.setdefault(m.group(1).lower().strip("."), None)
    return list(seen)


def header_addresses(msg: Message | None, names: tuple[str, ...]) -> set[str]:
    """Addresses found in the given headers of ``msg``."""
    found: set[str] = set()
    if msg is None:
        return found
    # One pass over the headers (get_all makes one per name, lower-casing every header each time).
    wanted = {name.lower() for name in names}
    fetch = msg.policy.header_fetch_parse
    for name, value in msg.raw_items():
        if name.lower() in wanted:
            found.update(addresses(str(fetch(name, value))))
    return found


def is_daemon_sender(msg: Message) -> bool:
    """True if the From/Return-Path looks like an MTA rather than a person."""
    frm = " ".join(str(v) for v in (msg.get_all("From", []) or []))[:MAX_HEADER].lower()
    # unfolded: "Mail Delivery<CRLF> System" is as much "mail delivery"
    return any(d in frm for d in _DAEMON_LOCALS) or "mail delivery" in " ".join(frm.split())


# The subjects of fml's notices to a poster it refuses (sisimai's Lhost/FML.pm lists them, BSD-2):
# an error, a loop, a security alert, a post from a non-member or a rejected sender.
_ML_ERROR_RE = re.compile(
    r"loop alert|loop back warning|unix from loop|error|security alert|not member|reject",
    re.IGNORECASE,
)
_STRONG_BOUNCE_BODY_RE = re.compile(
    r"qmail-send program|mail delivery software|did not reach the following|"
    r"delivery to the following recipient|could not be delivered to|"
    r"transcript of session follows|following address(?:es)? failed",
    re.IGNORECASE,
)


def subject_of(msg: Message) -> str:
    """The Subject as its words (at most :data:`MAX_HEADER` characters of it): RFC 2047
    encoded-words decoded, as MTAs write every non-ASCII subject ("系统退信" from Tencent and
    NetEase is ``=?gbk?b?z7XNs83L0MU=?=``), so the patterns see what a reader sees. Unfolded,
    each run of blanks one space: a long subject is folded where the MTA's line ends, and
    "could not<LF><TAB>be delivered" says what "could not be delivered" does."""
    words = encoded_words(_raw_header(msg, "subject")[:MAX_HEADER])[:MAX_HEADER]
    return " ".join(words.split())


def encoded_words(raw: str) -> str:
    """``raw`` with its RFC 2047 encoded-words decoded (as written where it has none, or they
    cannot be read)."""
    if "=?" not in raw:
        return raw
    try:
        parts = email.header.decode_header(raw)
    except (ValueError, IndexError, TypeError):
        return raw
    words: list[str] = []
    for data, charset in parts:
        if isinstance(data, str):
            words.append(data)
            continue
        codec = mail_codec(charset) if charset else "ascii"
        try:
            words.append(data.decode(codec or "latin-1", "replace"))
        except (LookupError, UnicodeError):  # a codec refusing "replace" (e.g. a Python one)
            words.append(data.decode("latin-1"))
    return "".join(words)


def _raw_header(msg: Message, name: str) -> str:
    """The first ``name`` header of ``msg`` as text. A header in raw 8-bit (no RFC 2047 word:
    "Subject: 系统退信" in GBK, as older Chinese mail systems send it) is read from its bytes
    (:func:`undeclared_text`), not as the U+FFFD the stdlib makes of them."""
    for key, value in msg.raw_items():
        if key.lower() != name:
            continue
        if isinstance(value, str) and not value.isascii():
            data = value[: MAX_HEADER * 4].encode("utf-8", "surrogateescape")
            return undeclared_text(data)
        return str(value)
    return ""


def looks_like_bounce(msg: Message, text: str) -> bool:
    """Heuristic: a plain-text (non-3464) message that reports a delivery failure."""
    subject = subject_of(msg)
    # The words as read, not as wrapped: an MTA breaks its lines where the addresses and names
    # in them put the break, so "could not be<LF>delivered to" is as much its words.
    text = " ".join(text[:20_000].split())
    if msg.get("X-Failed-Recipients"):
        return True
    if (
        _declares_other_mail(msg)
        and not _NOTICE_MARK_RE.search(text[:20_000])
        and not _returns_message(msg)
    ):
        # A person's auto-reply (RFC 3834) or a list's mail (RFC 2369) says in its headers what
        # it is: bounce words in its subject ("Undeliverable: ..." answered by an out-of-office,
        # a newsletter's "Parcel undelivered?") are its subject's, not a notice's, unless its
        # text bears a notice's own marks (a status code, a notice's sentence) or it returns a
        # message (a notice a list passed on to its members keeps the list's headers).
        return False
    if _bounce_subject(subject) or (
        # "RE: <subject> : non remis": a suffix some MTAs append to the subject they return;
        # "Re: Retour sur votre devis" is a person's reply, which their words do not make one.
        (is_daemon_sender(msg) or _STRONG_BOUNCE_BODY_RE.search(text[:6000]))
        and _BOUNCE_SUBJECT_RE.search(simplified(subject))
    ):
        return True
    if msg.get("X-MLServer") and _ML_ERROR_RE.search(subject):
        # A mailing-list manager (fml) refusing to distribute the message.
        return True
    # 郵件無法送達 (Taiwan, Hong Kong) says what 邮件无法送达 does.
    if is_daemon_sender(msg) and (
        _BOUNCE_BODY_RE.search(simplified(text[:20_000])) or _BOUNCE_BODY_MORE.search(text[:20_000])
    ):
        return True
    # A daemon's notice in the words a vendor's directory states its verdict in ("no se
    # encuentra en el Directorio de Domino", "non répertorié dans l'annuaire Domino": Domino's
    # report in the server's language, under a subject in it too) says that delivery failed.
    if is_daemon_sender(msg) and directory_verdict("", text[:20_000].lower()):
        return True
    head = text[:6000]
    if _REPLY_SUBJECT_RE.match(subject) and not is_daemon_sender(msg):
        # A person's reply: "your mail could not be delivered to ..." is their words, about
        # addresses they name (a new one too), not a notice's.
        return False
    return bool(_STRONG_BOUNCE_BODY_RE.search(head)) and not is_autoreply(msg)


# What only a notice's text holds: an RFC 3463 status ("5.1.1", Exchange's "#550 5.1.10 ...##"
# included) or an MTA's own sentence.
_NOTICE_MARK_RE = re.compile(
    r"(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d.])|" + _STRONG_BOUNCE_BODY_RE.pattern, re.IGNORECASE
)


def _declares_other_mail(msg: Message) -> bool:
    """Whether ``msg``, from no MTA, says in its headers that it is an auto-reply (RFC 3834's
    Auto-Submitted: auto-replied, X-Autoreply) or a list's mail (RFC 2369's List-Unsubscribe,
    List-Id): an MTA's notice is neither."""
    # One pass over the header names (most mail has none of these): msg.get() scans them all
    # for each name.
    names = {name.lower() for name in msg} & _DECLARING
    if not names or is_daemon_sender(msg):
        return False
    if names != {"auto-submitted"}:
        return True
    return str(msg.get("Auto-Submitted", ""))[:MAX_HEADER].lower().startswith("auto-replied")


_DECLARING = frozenset(
    ("auto-submitted", "x-autoreply", "x-autorespond", "list-unsubscribe", "list-id")
)


_RETURNED_TYPES = frozenset(
    ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
)


def _returns_message(msg: Message) -> bool:
    """Whether ``msg`` carries a message back: a returned copy or its headers as a part of their
    own (among its first parts), as a notice does and a newsletter or an auto-reply does not."""
    for n, part in enumerate(msg.walk()):
        if n > 64:
            break
        if part.get_content_type() in _RETURNED_TYPES:
            return True
    return False


# A reply's subject ("Re: ...", and as mail clients write it in German, Nordic languages, Chinese).
_REPLY_SUBJECT_RE = re.compile(r"\s*(?:re|aw|sv|vs|回复|答复|回覆)\s*[:：]", re.IGNORECASE)


def _bounce_subject(subject: str) -> bool:
    """Whether ``subject`` says in its own words that it reports a failure: bounce words ahead of
    any reply prefix or auto-reply words. After them ("Re: Retour sur votre devis", "Automatic
    reply: Rejected invoice") they are the subject of the mail answered, written by anyone."""
    # One character for one: the positions in the simplified subject are the subject's.
    bounce = _BOUNCE_SUBJECT_RE.search(simplified(subject))
    if bounce is None or _REPLY_SUBJECT_RE.match(subject):
        return False
    auto = _AUTOREPLY_SUBJECT_RE.search(subject, 0, bounce.start())
    return auto is None


def _autoreply_subject(subject: str) -> bool:
    """Whether ``subject`` says it is an auto-reply: auto-reply words ahead of any bounce words.
    After them ("Undeliverable: Holiday offer", "退信：自动回复设置") they are the subject of the
    mail returned, which the sender wrote: the notice is a bounce."""
    auto = _AUTOREPLY_SUBJECT_RE.search(subject)
    if auto is None:
        return False
    return _BOUNCE_SUBJECT_RE.search(simplified(subject), 0, auto.start()) is None


# A challenge-response system asking the sender to prove they are a person (RFC 3834 2: an
# automatic responder, which often sends no Auto-Submitted): "your message could not be
# delivered to ... until you verify" names the address it protects, which the mailbox mailed.
# Searched in lower-cased text, only where one of its literals occurs (screen.py): a case-blind
# search of its alternatives cost ~70 µs a message.
_CHALLENGE = Screened(re.compile(CHALLENGE_WORDS))


def is_challenge(msg: Message, text: str) -> bool:
    """Whether ``msg`` is a person's mail system asking the sender to prove they are one (its
    subject or the head of its ``text``); never an MTA's notice (Exim's "sender verify failed")."""
    if is_daemon_sender(msg):
        return False
    # The words as read, not as wrapped ("verify that you are<LF>a human").
    words = " ".join(text[:6000].split()).lower()
    return bool(_CHALLENGE.search(subject_of(msg).lower()) or _CHALLENGE.search(words))


def is_autoreply(msg: Message) -> bool:
    """RFC 3834 auto-replies, vacation notices and out-of-office messages."""
    subject = subject_of(msg)
    auto = str(msg.get("Auto-Submitted", ""))[:MAX_HEADER].lower()
    if _autoreply_subject(subject):
        return True
    auto_header = msg.get("X-Autoreply") or msg.get("X-Autorespond")
    if auto_header and not _bounce_subject(subject):
        return True
    precedence = str(msg.get("Precedence", "")).lower()
    if "auto_reply" in precedence or "auto-reply" in precedence:
        return True
    return (
        auto.startswith("auto-replied")
        and not is_daemon_sender(msg)
        and not _bounce_subject(subject)
    )


def unsubscribe_request(msg: Message) -> str:
    """The address asking to unsubscribe, if ``msg`` is a mail client's mailto unsubscribe.

    Apple Mail marks the RFC 2369 List-Unsubscribe mailto it sends with
    ``X-Apple-Unsubscribe: true``.
    """
    if str(msg.get("X-Apple-Unsubscribe", "")).strip().lower() != "true":
        return ""
    found = addresses(str(msg.get("From", "")))
    return found[0] if found else ""


_BOUNDARY_WORD = re.compile("boundary", re.IGNORECASE)
_BOUNDARY_WORD_BYTES = re.compile(b"boundary", re.IGNORECASE)


def first_containers(raw: AnyStr) -> AnyStr:
    """``raw`` cut before the line of its ``MAX_CONTAINERS + 1``-th "boundary": no multipart
    declares one without that word, so the parser nests at most ``MAX_CONTAINERS`` deep."""
    # Most messages hold a few: counted in one pass of the lower-cased text (the word cannot
    # overlap itself, so the count is the number of matches), 6x cheaper than the search of
    # the case-insensitive pattern below.
    if raw.lower().count("boundary" if isinstance(raw, str) else b"boundary") <= MAX_CONTAINERS:
        return raw
    if isinstance(raw, bytes):
        hits, ends = _BOUNDARY_WORD_BYTES.finditer(raw), (b"\n", b"\r")
    else:
        hits, ends = _BOUNDARY_WORD.finditer(raw), ("\n", "\r")
    for n, m in enumerate(hits):
        if n == MAX_CONTAINERS:
            # The parser ends a line at CR, LF or CRLF: a message of bare CRs, cut at its last
            # LF (none), was cut to nothing.
            return raw[: max(raw.rfind(end, 0, m.start()) for end in ends) + 1]
    return raw


def split_returned(text: str) -> tuple[str, str]:
    """Split a text bounce into (notification, returned original message)."""
    # One character for one: the positions in the simplified text are the text's.
    for m in _RETURNED_RE.finditer(simplified(text)):
        start = m.start() + 1  # the line, after its newline
        if _TRANSCRIPT_RE.search(m.group(0)):
            continue
        if start < 20:
            continue
        return text[:start], text[start:]
    start = _quoted_header_start(text)
    return (text[:start], text[start:]) if start else (text, "")


# A returned copy quoted under a marker no one wrote down ("----- Message text follows -----"):
# a run of header lines at the start of their line, naming its sender and its subject or date.
_QUOTED_RUN_RE = re.compile(r"^(?:[!-9;-~]{1,76}:[^\n]*\n(?:[ \t][^\n]*\n)*){3,}", re.MULTILINE)
_QUOTED_FIELD_RE = re.compile(r"^([!-9;-~]{1,76}):", re.MULTILINE)
_QUOTED_SENDER = {"from", "return-path"}
_QUOTED_OTHER = {"subject", "date", "message-id"}


def _quoted_header_start(text: str) -> int:
    """Where a returned copy's header starts in ``text`` with no marker line before it: the
    first run of three or more header lines (their continuation lines between them) with a
    From (or Return-Path) and a Subject, Date or Message-ID, after an address; 0 if there is
    none."""
    head = text[:MAX_TEXT]
    for run in _QUOTED_RUN_RE.finditer(head):
        names = {name.lower() for name in _QUOTED_FIELD_RE.findall(run.group(0))}
        if names & _QUOTED_SENDER and names & _QUOTED_OTHER:
            # after the failed address, never before it: a notice that describes the original
            # first ("From: ... Subject: ...", then its failed recipients) returns no copy there
            return run.start() if run.start() >= 20 and "@" in head[: run.start()] else 0
    return 0


def original_message_id(returned: str) -> str:
    """Message-ID header inside a returned copy of the original message."""
    m = MSGID_RE.search(returned[:MAX_TEXT])
    return m.group(1) if m else ""


_SENDMAIL_RESULT_RE = re.compile(r"[ \t]*[45]\d\d <[^<>\s]+>\.\.\.")

# Postfix's bounce(8) notice: one block per recipient, its first line at column 0 ("<addr>:" or
# "<addr> (expanded from <alias>):"), the remote's reply it quotes folded onto indented lines.
# An address on those lines is the remote's echo (the sender it refused, "<bounces+...>:
# unauthorized sender"; a rewritten form of the recipient), no recipient of its own.
_POSTFIX_BLOCK_RE = re.compile(
    r"^<([^<>\s]{1,254})>"
    + _wrappable(r"(?: \(expanded from <[^<>\s]{1,254}>\))?")
    + r":[^\n]*\n((?:[ \t]+\S[^\n]*\n?)*)",
    re.MULTILINE,
)


class _QuotedReplies:
    """The folded continuation lines of each Postfix block of a text, in order."""

    def __init__(self, text: str) -> None:
        spans = [
            (m.start(2), m.end(2), m.group(1).lower())
            for m in _POSTFIX_BLOCK_RE.finditer(text)
            if m.end(2) > m.start(2)
        ]
        self._starts = [start for start, _, _ in spans]
        self._spans = spans

    def echoed(self, pos: int, addr: str) -> bool:
        """Whether ``addr`` at ``pos`` stands in the reply quoted for another recipient."""
        i = bisect.bisect_right(self._starts, pos) - 1
        if i < 0:
            return False
        _, end, own = self._spans[i]
        return pos < end and addr != own


# Exim's and qmail's notices quote the remote's reply under the failed address: Exim after "SMTP
# error from remote mail server after <command>:" on lines indented four or more (older
# releases: "remote mailer"), qmail after "Remote host said:" to the blank line that ends the
# recipient's block (or the next "<addr>:" line). An address in it is the remote's echo (the sender it judged, "The message
# from (<bounces+...>) ... spam"; the recipient as it rewrote it), as in Postfix's quoted reply.
# "Remote host said:" is qmail-remote's, in a block of qmail-send's notice (or Yahoo's, which
# keeps its form), whose first line is the failed address alone, "<addr>:" at column 0: there
# only. Other notices borrow the words in blocks of their own ("Failed Recipient: addr" /
# "Reason: Remote host said: ...", SmarterMail's), where the lines that follow the reply, up to
# a blank line, may name the next failed recipient.
_REMOTE_SAID_RE = re.compile(
    r"smtp error from remote mail(?:er| server) after [^\n]*\n((?:[ \t]{4,}\S[^\n]*(?:\n|$))*)"
    r"|(?m:^)<[^<>\s]+>:[ \t]*\n(?:[ \t]*\S[^\n]*\n)*?[^\n]*?"
    r"remote host said:([^\n]*(?:\n(?!<)[ \t]*\S[^\n]*)*)",
    re.IGNORECASE,
)


def _remote_said(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` that quote a remote's reply in Exim's or qmail's notice."""
    if "emote host said:" not in text and "emote mail" not in text:  # [Rr]emote
        return []
    return [
        m.span(1) if m.group(1) is not None else m.span(2) for m in _REMOTE_SAID_RE.finditer(text)
    ]


# The code of a multi-line reply glued by its dash to the address the reply opens with ("<<<
# 550-kim@example.net is not an active address at this host" in a Sendmail transcript, "(reason:
# 550-kim@...)"): an address's characters, so ADDR_RE reads "550-kim@example.net". At the start
# of a word (a blank, a colon or a semicolon before it, or the line's start) and naming an address
# the text names without the code too, it is that address: read as another, it ended the
# recipient's block before the reply that says why (and the stage: the reply right after ">>>
# RCPT To:<addr>"), and became a failed recipient of its own.
_GLUED_CODE = re.compile(r"[45]\d\d-")


def _unglued(text: str, start: int, addr: str) -> str:
    """``addr`` (found at ``start`` in ``text``) without a reply code glued to it, or as it is."""
    if addr[3:4] != "-" or not _GLUED_CODE.match(addr):
        return addr
    if start and text[start - 1] not in " \t\n:;":
        return addr
    bare = addr[4:]
    return bare if text.lower().count(bare) > 1 else addr


def recipient_blocks(text: str, exclude: Set[str], keep: Set[str] = frozenset()) -> dict[str, str]:
    """Map each failed-looking address in a notification text to the text describing it.

    The text after an address (up to the next different candidate address) is taken as its
    diagnostic; a recurring address (e.g. in a Sendmail transcript) extends its own block.
    """
    text = text[:MAX_TEXT]
    quoted = _QuotedReplies(text)
    said = _remote_said(text)
    hits: list[tuple[int, int, str]] = []
    for m in ADDR_RE.finditer(text):
        addr = m.group(1).lower().strip(".")
        local = addr.split("@", 1)[0]
        if addr not in keep and (addr in exclude or local in _SKIP_LOCALS):
            continue
        if quoted.echoed(m.start(), addr):
            continue
        if said and any(start <= m.start() < end for start, end in said):
            continue
        addr = _unglued(text, m.start(), addr)
        line_start = max(text.rfind("\n", 0, m.start()) + 1, m.start() - 300)
        if _NOT_RECIPIENT_LINE.search(text[line_start : m.start()].lower()):
            continue
        before = max(text.rfind("\n", 0, max(line_start - 1, 0)) + 1, m.start() - _BEFORE)
        if _NOT_RECIPIENT_BEFORE.search(text[before : m.start()].lower()):
            continue
        hits.append((m.start(), m.end(), addr))
        if len(hits) >= MAX_HITS:
            break
    # Index of the next hit naming a different address, computed backwards in one pass.
    next_other = [len(hits)] * len(hits)
    for i in range(len(hits) - 2, -1, -1):
        next_other[i] = i + 1 if hits[i + 1][2] != hits[i][2] else next_other[i + 1]
    blocks: dict[str, list[str]] = {}
    for i, (start, end, addr) in enumerate(hits):
        parts = blocks.setdefault(addr, [])
        if len(parts) >= 5:
            continue
        stop = len(text)
        if next_other[i] < len(hits):
            stop = hits[next_other[i]][0]
            # Keep the line containing the next address out of this block.
            stop = text.rfind("\n", start, stop) + 1 or stop
        line_start = max(text.rfind("\n", 0, start) + 1, start - 300)
        if _SENDMAIL_RESULT_RE.match(text, line_start, end + 4):
            # Sendmail's per-recipient result line ("554 <addr>... reason") is complete in itself.
            stop = text.find("\n", end) if "\n" in text[end:stop] else stop
        chunk = text[line_start : min(max(stop, end), start + 3000)]
        parts.append("\n".join(chunk.splitlines()[:20]))
    return {addr: "\n".join(parts) for addr, parts in blocks.items()}


# The line that introduces a notice's list of failed recipients: Exchange's "did not reach the
# following recipient(s):", Exim's "The following address(es) failed:", Gmail's "Delivery to the
# following recipient failed permanently:". What precedes it is the original's description (an
# echo of its "To:" and "Cc:", a mailing list's address): no failed recipient.
_LIST_MARKER_RE = re.compile(
    _wrappable(r"\bthe following (?:recipient|address|user)")
    + r"(?:s|es|\(s\)|\(es\))?\b[^\n]{0,200}\n",
    re.IGNORECASE,
)


def listed_blocks(text: str, exclude: Set[str]) -> dict[str, str]:
    """:func:`recipient_blocks` of what follows the notice's "the following recipient(s)" line,
    or {} if it has no such line or no address after it."""
    m = _LIST_MARKER_RE.search(text[:MAX_TEXT])
    return recipient_blocks(text[m.end() :], exclude) if m else {}


# Exim, when the failed address is hidden (a redirection it may not disclose): "an undisclosed
# address / (generated from user@host)", the address mailed.
_UNDISCLOSED_RE = re.compile(
    _wrappable(r"^[ \t]*an undisclosed address[ \t]*\n[ \t]*\(generated from <?")
    + r"([^()<>\s]{1,300})>?\)",
    re.IGNORECASE | re.MULTILINE,
)


def undisclosed_block(text: str) -> tuple[str, str]:
    """(the address an undisclosed one was generated from, its block of text), or ("", "")."""
    m = _UNDISCLOSED_RE.search(text[:MAX_TEXT])
    found = addresses(m.group(1)) if m else []
    if not m or len(found) != 1:
        return "", ""
    return found[0], "\n".join(text[m.start() : m.start() + 3000].splitlines()[:20])


# AOL's own notice names its failed recipients by screen name, one per indented line after
# "Your mail to the following recipients could not be delivered ...:": a screen name is the
# address at aol.com. Believed only from AOL itself.
_SCREEN_NAMES_RE = re.compile(
    _wrappable(r"mail to the following recipients could not be delivered") + r"[^\n]{0,300}\n"
    r"((?:[ \t]+[A-Za-z0-9][\w.-]{0,63}[ \t]*\n)+)",
    re.IGNORECASE,
)


def aol_screen_names(msg: Message, text: str) -> dict[str, str]:
    """{screen name at aol.com: its line} of an AOL notice listing failed screen names."""
    if "aol.com" not in str(msg.get("From", ""))[:MAX_HEADER].lower():
        return {}
    senders = header_addresses(msg, ("From",))
    if not senders or not all(a.endswith("@aol.com") for a in senders):
        return {}
    m = _SCREEN_NAMES_RE.search(text[:MAX_TEXT])
    if not m:
        return {}
    names = [line.strip() for line in m.group(1).splitlines()[:100]]
    return {f"{name.lower()}@aol.com": m.group(0) for name in names if name}


_RECORD_KEYS = ("final-recipient", "original-recipient", "action", "status")


def dsn_records(texts: list[str], limit: int = 1000) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Split delivery-status text into per-message fields and per-recipient records (at most
    ``limit`` of those).

    Blank lines separate records; a repeated Final-Recipient/Action/... also starts a new one,
    since some MTAs (AOL, a few appliances) omit the blank line.
    """
    per_message: dict[str, str] = {}
    records: list[dict[str, str]] = []
    for text in texts:
        current: dict[str, str] = {}
        key = ""
        for line in (text.replace("\r", "") + "\n\n").splitlines()[:20_000]:
            if not line.strip():
                if current:
                    records.append(current)
                current, key = {}, ""
            elif line[:1] in (" ", "\t") and key:
                current[key] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name in current and name in _RECORD_KEYS:
                    records.append(current)
                    current = {}
                key = name
                current.setdefault(key, value.strip())
    out: list[dict[str, str]] = []
    for rec in records:
        if any(k in rec for k in ("final-recipient", "original-recipient", "x-actual-recipient")):
            if len(out) == limit:
                break
            out.append(rec)
        else:
            for k, v in rec.items():
                per_message.setdefault(k, v)
    return per_message, out


_INLINE_PART_RE = re.compile(
    r"^Content-Type:\s*message/(?:delivery-status|rfc822|feedback-report)",
    re.MULTILINE | re.IGNORECASE,
)
_BOUNDARY_RE = re.compile(r"^--([^\s-][^\s]{5,200})\s*$", re.MULTILINE)


def reparse_inline_mime(msg: Message, body: str) -> Message | None:
    """Re-parse a single-part message whose body is really a multipart (missing MIME headers)."""
    if not _INLINE_PART_RE.search(body[:200_000]):
        return None
    m = _BOUNDARY_RE.search(body)
    if not m:
        return None
    head = "".join(
        f"{k}: {v}\n"
        for k, v in msg.items()
        if k.lower() not in ("content-type", "mime-version", "content-transfer-encoding")
    )
    text = (
        f"{head}MIME-Version: 1.0\nContent-Type: multipart/report; "
        f'report-type=delivery-status; boundary="{m.group(1)}"\n\n{body}'
    )
    return message_from(first_containers(text))


_MAILBOX_STATE_RE = re.compile(
    _wrappable(
        r"(?:account|mailbox)\W{0,3}(?:\w+ ){0,2}(?:has been |is )(?:disabled|suspended|deactivated)"
    ),
    re.IGNORECASE,
)


def mailbox_state(text: str) -> str:
    """A sentence of a notification stating the recipient's mailbox is disabled (unwrapped), or
    ""."""
    m = _MAILBOX_STATE_RE.search(text[:MAX_TEXT])
    return " ".join(m.group(0).split()) if m else ""
