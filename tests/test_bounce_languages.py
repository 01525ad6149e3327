"""Notices in the languages warmup's users' recipients write in (tests/corpus/languages, sources
in its README): failure notices of the recipients' own mail systems in Chinese, Japanese, Korean,
Russian, German, French, Spanish, Portuguese, Italian, Polish, Czech, Dutch, Turkish, Vietnamese
and Arabic, each in a charset its mail is sent in; out-of-office replies of Outlook, Lotus Notes,
QQ Mail, NetEase, Feishu, Gmail and Naver; challenge-response forms. Expected results were
written before the classifier ran on them (first contact: tests/corpus/README.md)."""

from __future__ import annotations

from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from warmup.bounces import formats, parse_bounces
from warmup.bounces.classify import decide

LANGUAGES = Path(__file__).parent / "corpus" / "languages"

# file -> (recipient, kind, reason, the reason in English: the same notice, translated)
NDRS = {
    "coremail-gbk-no-account.eml": (
        "li.qiang@cm-client.example",
        "block",
        "filtered",
        "This mailbox account does not exist; please check the address and send again.",
    ),
    "coremail-gbk-timeout.eml": (
        "wu.hao@overseas-buyer.example",
        "soft",
        "expired",
        "The connection to the recipient's mail server timed out; the system stopped retrying.",
    ),
    "exmail-gb2312-dns.eml": (
        "anna.berg@nordic-buyer.example",
        "hard",
        "hostunknown",
        "The recipient's domain lookup failed; its mail server could not be found.",
    ),
    "netease-gb18030-refused.eml": (
        "k.tanaka@jp-partner.example",
        "block",
        "blocked",
        "The message was refused by the recipient's server, which set a rule to refuse it.",
    ),
    "hinet-big5-full.eml": (
        "chen.mei@ms1.hinet.net",
        "soft",
        "mailboxfull",
        "The recipient's mailbox is full and cannot take new mail.",
    ),
    "hinet-big5-no-user.eml": (
        "lin.wei@ms2.hinet.net",
        "block",
        "filtered",
        "No such user account.",
    ),
    "big5-spam.eml": (
        "huang.yu@tw-buyer.example",
        "block",
        "spamdetected",
        "The message was classified as spam and refused.",
    ),
    "ocn-iso2022jp-unknown.eml": (
        "yamada.taro@ocn-client.example",
        "block",
        "filtered",
        "The destination email address does not exist.",
    ),
    "jp-iso2022jp-spam.eml": (
        "sato.k@jp-buyer.example",
        "block",
        "spamdetected",
        "Reception was refused because the message was judged to be spam.",
    ),
    "jp-shiftjis-size.eml": (
        "suzuki.h@jp-maker.example",
        "soft",
        "mesgtoobig",
        "The message size exceeds the largest the recipient can take.",
    ),
    "jp-eucjp-full.eml": (
        "ito.m@jp-trader.example",
        "soft",
        "mailboxfull",
        "The recipient's mailbox is full.",
    ),
    "daum-euckr-not-found.eml": (
        "sujin.lee@hanmail.net",
        "hard",
        "userunknown",
        "Recipient not found.",
    ),
    "daum-euckr-full.eml": (
        "hyun.choi@hanmail.net",
        "soft",
        "mailboxfull",
        "The recipient's mailbox is full.",
    ),
    "naver-euckr-spam.eml": (
        "jiho.kang@naver.com",
        "block",
        "spamdetected",
        "The message was classified as spam and its reception refused.",
    ),
    "yandex-koi8r-nonexistent.eml": (
        "dmitry.k@yandex.ru",
        "hard",
        "userunknown",
        "The message was sent to a nonexistent address.",
    ),
    "mailru-cp1251-spam.eml": (
        "irina.v@mail.ru",
        "block",
        "spamdetected",
        "The message was rejected: it looks like spam.",
    ),
    "yandex-cp1251-blocked-account.eml": (
        "oleg.n@yandex.ru",
        "soft",
        "suspend",
        "The recipient's account has been blocked for violating the user agreement.",
    ),
    "rambler-iso8859-5-full.eml": (
        "sergey.p@rambler.ru",
        "soft",
        "mailboxfull",
        "The recipient's mailbox is full.",
    ),
    "gmx-latin1-locked.eml": (
        "jonas.w@gmx.de",
        "soft",
        "suspend",
        "The recipient's mailbox is locked.",
    ),
    "tonline-latin1-too-big.eml": (
        "petra.h@t-online.de",
        "soft",
        "mesgtoobig",
        "The message is too large.",
    ),
    "webde-latin1-no-user.eml": (
        "lukas.f@web.de",
        "hard",
        "userunknown",
        "The user does not exist.",
    ),
    "orange-latin9-nonexistent.eml": (
        "pierre.l@orange.fr",
        "block",
        "filtered",
        "The recipient's address does not exist.",
    ),
    "free-latin1-too-big.eml": (
        "claire.m@free.fr",
        "soft",
        "mesgtoobig",
        "The message is too large.",
    ),
    "laposte-cp1252-disabled.eml": (
        "luc.b@laposte.net",
        "soft",
        "suspend",
        "The recipient's account is disabled.",
    ),
    "terra-latin1-nonexistent.eml": (
        "javier.r@terra.com",
        "block",
        "filtered",
        "Nonexistent user.",
    ),
    "uol-latin1-no-account.eml": (
        "fernanda.s@uol.com.br",
        "block",
        "filtered",
        "The recipient's email account does not exist.",
    ),
    "libero-latin1-no-address.eml": (
        "marco.g@libero.it",
        "block",
        "filtered",
        "The address you are writing to does not exist.",
    ),
    "interia-latin2-no-account.eml": (
        "tomasz.k@interia.pl",
        "block",
        "filtered",
        "The account you are trying to send the message to does not exist.",
    ),
    "wp-latin2-full.eml": (
        "anna.z@wp.pl",
        "soft",
        "mailboxfull",
        "The recipient's mailbox is full.",
    ),
    "seznam-latin2-no-user.eml": (
        "petr.n@seznam.cz",
        "block",
        "filtered",
        "User does not exist.",
    ),
    "nl-utf8-unknown-user.eml": (
        "jan.devries@nl-buyer.example",
        "block",
        "filtered",
        "Unknown user, this email address does not exist.",
    ),
    "tr-latin5-not-found.eml": (
        "mehmet.y@tr-buyer.example",
        "block",
        "filtered",
        "Recipient not found.",
    ),
    "vi-utf8-no-address.eml": (
        "nguyen.an@vn-buyer.example",
        "block",
        "filtered",
        "The email address does not exist.",
    ),
    "ar-cp1256-no-user.eml": (
        "omar.h@ae-buyer.example",
        "block",
        "filtered",
        "The user does not exist.",
    ),
}
# "User unknown" words in a notice of a mail system no table knows, which states no SMTP stage
# and quotes no reply: read as a filter's mask (a block), in English as in these languages
# (tests/corpus/README.md: a relayed "user unknown" of no known stage); the words are read.
UNCONFIRMED_UNKNOWN = sorted(n for n, e in NDRS.items() if e[2] == "filtered")
AUTO_REPLIES = sorted(p.name for p in LANGUAGES.glob("*.eml") if p.name.startswith("ooo-"))
CHALLENGES = sorted(p.name for p in LANGUAGES.glob("*.eml") if p.name.startswith("challenge-"))
OUR_SUBJECT = "Quotation for 2027"


def _message(name: str) -> Message:
    return BytesParser(policy=compat32).parsebytes((LANGUAGES / name).read_bytes())


def _english(name: str) -> bytes:
    """The notice ``name`` as the same mail system would write it in English: its sender and
    returned original kept, its words translated (:data:`NDRS`)."""
    recipient, _, _, reason = NDRS[name]
    msg = _message(name)
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode(msg.get_content_charset() or "ascii")
    returned = text[text.index("------ Original message ------") :]
    return (
        f"From: {msg['From']}\nTo: {msg['To']}\nSubject: Undeliverable: {OUR_SUBJECT}\n"
        f"Date: {msg['Date']}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"
        "Your message could not be delivered to the following recipients:\n\n"
        f"  {recipient}\n    Reason: {reason}\n\n{returned}"
    ).encode()


def test_every_language_file_is_expected() -> None:
    assert sorted(p.name for p in LANGUAGES.glob("*.eml")) == sorted(
        [*NDRS, *AUTO_REPLIES, *CHALLENGES]
    )
    assert (len(NDRS), len(AUTO_REPLIES), len(CHALLENGES)) == (34, 22, 6)


@pytest.mark.parametrize("name", sorted(NDRS))
def test_a_notice_in_its_language(name: str) -> None:
    got = parse_bounces((LANGUAGES / name).read_bytes())
    assert [(b.recipient, b.kind, b.reason) for b in got] == [NDRS[name][:3]], [
        b.steps for b in got
    ]
    assert not got[0].delayed


@pytest.mark.parametrize("name", sorted(NDRS))
def test_a_notice_reads_as_its_english_translation(name: str) -> None:
    """The words decide as their English would: no language reads as "nothing known" (soft,
    mailed again) where English names a reason, nor the other way round."""
    (native,) = parse_bounces((LANGUAGES / name).read_bytes())
    (english,) = parse_bounces(_english(name))
    assert (native.recipient, native.kind, native.reason) == (
        english.recipient,
        english.kind,
        english.reason,
    ), (native.steps, english.steps)


@pytest.mark.parametrize("name", UNCONFIRMED_UNKNOWN)
def test_unknown_user_words_are_read_in_every_language(name: str) -> None:
    (bounce,) = parse_bounces((LANGUAGES / name).read_bytes())
    assert "words: strong rule 'user-unknown' says userunknown" in bounce.steps, bounce.steps
    assert bounce.rule == "stage.unknown"


@pytest.mark.parametrize("name", AUTO_REPLIES + CHALLENGES)
def test_an_auto_reply_is_no_bounce(name: str) -> None:
    assert parse_bounces((LANGUAGES / name).read_bytes()) == []


def _subject(msg: Message) -> str:
    return str(make_header(decode_header(str(msg["Subject"]))))


# The auto-replies whose Subject quotes the one we sent (Outlook's, QQ Mail's, NetEase's,
# Feishu's, Naver's prefix before it; not Lotus Notes' "<name> is out of the office", nor a
# Gmail vacation subject its user wrote).
PREFIXED = [n for n in AUTO_REPLIES if OUR_SUBJECT in _subject(_message(n))]


@pytest.mark.parametrize("name", PREFIXED)
def test_an_auto_reply_to_a_subject_with_bounce_words_is_no_bounce(name: str) -> None:
    """The localised "Automatic reply:" before the subject we sent: our subject's words
    ("Returned mail: delivery failed, refund") are the mail answered; read without the prefix,
    the reply was a bounce naming nobody."""
    raw = (LANGUAGES / name).read_bytes()
    msg = _message(name)
    subject = _subject(msg).replace(OUR_SUBJECT, "Returned mail: delivery failed, refund")
    encoded = Header(subject, "utf-8").encode()
    head, _, body = raw.partition(b"\n\n")
    lines = [
        f"Subject: {encoded}".encode() if line.startswith(b"Subject:") else line
        for line in head.split(b"\n")
    ]
    assert parse_bounces(b"\n".join(lines) + b"\n\n" + body) == []


@pytest.mark.parametrize("name", CHALLENGES)
def test_a_challenge_that_says_the_message_waits_is_no_bounce(name: str) -> None:
    """A challenge-response system's "your message could not be delivered to <the address we
    mailed> until you confirm": its words (Spam Arrest's "requests verification", Boxbe's
    Guest List, 发件人验证, 발신자 인증, подтвердите, 送信者確認) make it a challenge, not a
    failure of that address."""
    raw = (LANGUAGES / name).read_bytes()
    msg = _message(name)
    note = (
        "\n\nYour message could not be delivered to protected.person@buyer.example until "
        "the sender is confirmed.\n"
    )
    text = msg.get_payload(decode=True)
    assert isinstance(text, bytes)
    charset = msg.get_content_charset() or "ascii"
    body = text.decode(charset) + note
    head = raw[: raw.index(b"\n\n")].decode("ascii")
    head = "\n".join(
        line
        for line in head.splitlines()
        if not line.lower().startswith(("content-type:", "content-transfer-encoding:"))
    )
    rewritten = (
        head + "\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    ).encode() + body.encode("utf-8")
    assert parse_bounces(rewritten) == []


@pytest.mark.parametrize("name", AUTO_REPLIES)
def test_an_auto_reply_is_recognised(name: str) -> None:
    """Recognised as what it is by its Subject's or headers' words in its language (Outlook's
    prefix in Vietnamese, Thai, Indonesian, Arabic; Naver's "자동응답"; Lotus Notes' "ist außer
    Haus", "est absent(e)"), not merely left unread because nothing in it looked like a bounce."""
    assert formats.is_autoreply(_message(name))


@pytest.mark.parametrize("name", CHALLENGES)
def test_a_challenge_is_recognised(name: str) -> None:
    msg = _message(name)
    text = msg.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert formats.is_challenge(msg, text.decode(msg.get_content_charset() or "ascii"))


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        # the sender's own account stopped: a verdict on us (a block), as "your account has
        # been disabled" is in English; the recipient's: a suspended mailbox (soft)
        ("550 Das Konto des Absenders ist gesperrt", "blocked"),
        ("550 Ihr Konto wurde gesperrt", "blocked"),
        ("550 Votre compte est suspendu", "blocked"),
        ("550 Le compte de l'expéditeur est bloqué", "blocked"),
        ("550 Su cuenta ha sido suspendida", "blocked"),
        ("550 Ваш аккаунт заблокирован", "blocked"),
        ("550 Your account has been disabled", "blocked"),
        ("550 Das Postfach des Empfängers ist gesperrt", "suspend"),
        ("550 Le compte du destinataire est désactivé", "suspend"),
        ("550 Аккаунт получателя заблокирован", "suspend"),
        ("550 The recipient's account is disabled", "suspend"),
    ],
)
def test_whose_account_is_locked_decides_in_every_language(said: str, reason: str) -> None:
    assert decide("", "", said, "RCPT").reason == reason
