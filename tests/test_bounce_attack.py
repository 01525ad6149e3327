"""Attack fixtures (tests/corpus/attack): Chinese providers' HTML and GBK notices, auto-replies
and challenges in several languages and charsets, and odd or hostile reports, through the
parser and ``bounces parse``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.addresses import normalize
from warmup.bounces import formats, parse_bounces, wording
from warmup.bounces.classify import (
    _BANNED,
    _FREQUENT,
    _NOT_THROTTLE,
    _THROTTLE_TEXT,
    _TOO_MANY,
    _VOLUME,
    decide,
)
from warmup.errors import DataError
from warmup.ledger import BounceIn, SendIn, open_ledger

ATTACK = Path(__file__).parent / "corpus" / "attack"

# file -> (recipient, kind, reason)
NDRS = {
    "qq-html-notfound-gb18030.eml": ("nobody.here@qq.com", "hard", "userunknown"),
    "qq-html-full-gb2312.eml": ("full.box@qq.com", "soft", "mailboxfull"),
    "qq-html-content-denied.eml": ("buyer@qq.com", "block", "filtered"),
    "qq-html-ip-blacklist.eml": ("buyer2@qq.com", "block", "blocked"),
    "qq-html-domain-frequency.eml": ("buyer3@qq.com", "soft", "toomanyconn"),
    "qq-html-connection-frequency.eml": ("buyer4@qq.com", "soft", "toomanyconn"),
    "exmail-netease-notfound-gbk.eml": ("li.ming@163.com", "hard", "userunknown"),
    "netease-qiye-451-dtspm.eml": ("zhao.min@qiye.163.com", "block", "spamdetected"),
    "text-ndr-holiday-subject.eml": ("gone.buyer@client.example", "hard", "userunknown"),
    "exmail-autoreply-words-subject.eml": ("wu.lei@client.example", "hard", "userunknown"),
    "dsn-no-boundary.eml": ("gone.user@client.example", "hard", "userunknown"),
    "dsn-plus-tag.eml": ("lead+spring@client.example", "hard", "userunknown"),
    "dsn-idn-punycode.eml": ("kaeufer@xn--bcher-kva.example", "hard", "userunknown"),
    # RFC 6533: the same address with its domain in Unicode, as warmup records the send to it
    "dsn-idn-utf8.eml": ("kaeufer@xn--bcher-kva.example", "hard", "userunknown"),
    # traditional Chinese (Big5 and UTF-8): read as the simplified wording is
    "tw-big5-full.eml": ("chen.mei@client.example.tw", "soft", "mailboxfull"),
    "tw-big5-spam.eml": ("lin.hao@client.example.tw", "block", "spamdetected"),
    "tw-big5-notfound-rcpt.eml": ("wang.xiao@client.example.tw", "hard", "userunknown"),
    "hk-utf8-frequency.eml": ("ho.ka@client.example.hk", "soft", "toomanyconn"),
    # notices in Japanese (ISO-2022-JP), Korean (EUC-KR), Russian (KOI8-R), German (Latin-1)
    "ja-iso2022jp-notfound.eml": ("yamada@client.example.jp", "hard", "userunknown"),
    "ja-iso2022jp-full.eml": ("sato@client.example.jp", "soft", "mailboxfull"),
    "ko-euckr-full.eml": ("kim@client.example.kr", "soft", "mailboxfull"),
    "ru-koi8-full.eml": ("ivan@client.example.ru", "soft", "mailboxfull"),
    "de-latin1-full.eml": ("max@client.example.de", "soft", "mailboxfull"),
    # a Diagnostic-Code in RFC 2047 words (GB2312, UTF-8), with a generic 5.0.0 status
    "dsn-encoded-words-full.eml": ("gao.yan@client.example", "soft", "mailboxfull"),
    "dsn-encoded-words-notfound.eml": ("no.such@qq.com", "hard", "userunknown"),
    # "服务器返回：450 ...": a temporary refusal, never hard (no stage stated: unconfirmed)
    "zh-fullwidth-colon-450.eml": ("tang.li@client.example", "block", "filtered"),
    # "您发送的邮件未能成功投递": a failure in Chinese words alone
    "zh-failure-notice.eml": ("qian.feng@client.example", "hard", "userunknown"),
}
NOT_BOUNCES = sorted(
    p.name for p in ATTACK.glob("*.eml") if p.name.startswith(("ooo-", "challenge-", "reply-"))
)


# delay warnings in words: recorded as delayed, never counted
DELAYS = {"zh-delay-notice.eml": "zhou.qi@client.example"}


@pytest.mark.parametrize("name", sorted(NDRS))
def test_ndr(name: str) -> None:
    (bounce,) = parse_bounces((ATTACK / name).read_bytes())
    assert (bounce.recipient, bounce.kind, bounce.reason) == NDRS[name], bounce.steps
    assert not bounce.delayed


@pytest.mark.parametrize("name", NOT_BOUNCES)
def test_auto_replies_challenges_and_replies_are_no_bounce(name: str) -> None:
    assert parse_bounces((ATTACK / name).read_bytes()) == []


def test_every_attack_file_is_expected() -> None:
    named = {*NDRS, *NOT_BOUNCES, *DELAYS}
    assert sorted(p.name for p in ATTACK.glob("*.eml")) == sorted(named)
    assert len(NOT_BOUNCES) >= 17


def test_a_text_ndr_returning_a_subject_with_holiday_words_is_a_bounce() -> None:
    """Exchange 2003's "Undeliverable: Holiday offer": the auto-reply words ("holiday",
    "vacation", "out of office", "自动回复") come after the notice's own, in the subject we
    wrote. Read as an auto-reply, the dead address was never suppressed."""
    for name in ("text-ndr-holiday-subject.eml", "exmail-autoreply-words-subject.eml"):
        (bounce,) = parse_bounces((ATTACK / name).read_bytes())
        assert bounce.kind == "hard", name


@pytest.mark.parametrize(
    "name",
    [
        "reply-fr-retour.eml",
        "ooo-re-rejected-autosubmitted.eml",
        "ooo-sieve-auto-undeliverable.eml",
        "ooo-de-automatische-antwort.eml",
    ],
)
def test_bounce_words_in_the_subject_answered_make_no_report(name: str) -> None:
    """A reply ("RE: Retour sur votre devis"), an RFC 3834 auto-reply keeping "Re: " or
    writing Sieve's "Auto: ", and Outlook's localised "Automatische Antwort:" were read as text
    bounces of the address their body names (a colleague's, which the mailbox may mail too)."""
    assert parse_bounces((ATTACK / name).read_bytes()) == []


def test_parse_json_and_explain_on_the_attack_files(run: Callable[..., Result]) -> None:
    files = sorted(str(p) for p in ATTACK.glob("*.eml"))
    result = run("bounces", "parse", "--json", *files)
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["file"] for i in items] == files
    found = {Path(i["file"]).name: i["bounces"] for i in items}
    assert all(found[n] == [] for n in NOT_BOUNCES)
    for name, (rcpt, kind, reason) in NDRS.items():
        (b,) = found[name]
        assert (b["recipient"], b["kind"], b["reason"]) == (rcpt, kind, reason)
        assert b["rule"]
    explained = run("bounces", "parse", "--explain", str(ATTACK / "qq-html-notfound-gb18030.eml"))
    assert explained.exit_code == 0, explained.output
    lines = explained.output.splitlines()
    assert "nobody.here@qq.com" in lines[0] and "userunknown" in lines[0]
    assert lines[-1] == "    rule: mta.directory"


def test_a_report_naming_an_international_domain_in_unicode_answers_the_send(
    ledger_url,  # noqa: F811
) -> None:
    """warmup sends to (and records) an address at an international domain in its xn-- form
    only; a report writing the domain in Unicode (RFC 6533) named an address no send had: the
    hard bounce matched nothing, and the dead address was mailed on."""
    with pytest.raises(DataError, match="kaeufer@xn--bcher-kva.example"):
        normalize("kaeufer@bücher.example")
    (bounce,) = parse_bounces((ATTACK / "dsn-idn-utf8.eml").read_bytes())
    ledger = open_ledger(ledger_url)
    box = api.add_mailbox(ledger, "sales@corp.example", "exmail")
    sent = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    ledger.record(box, sends=[SendIn("kaeufer@xn--bcher-kva.example", sent)])
    got = ledger.record(
        box,
        bounces=[BounceIn(bounce.recipient, bounce.kind, sent + dt.timedelta(minutes=3), "k1")],
    )
    assert (got.matched, got.counted) == (1, 1)


def test_traditional_chinese_notices_are_read_whole() -> None:
    """A notice in traditional characters (郵件無法送達, 收件者信箱已滿) was no bounce at all:
    neither its subject nor its text was recognised, nor its returned original (原始郵件)."""
    for name in ("tw-big5-full.eml", "tw-big5-spam.eml", "hk-utf8-frequency.eml"):
        (bounce,) = parse_bounces((ATTACK / name).read_bytes())
        assert bounce.message_id == f"<{name}@corp.example>", name


# (traditional, simplified): the same verdict
TRADITIONAL = [
    ("550 收件者地址不存在", "550 收件人地址不存在"),
    ("550 帳號不存在", "550 帐号不存在"),
    ("552 收件者信箱已滿", "552 收件人信箱已满"),
    ("552 信箱空間不足", "552 信箱空间不足"),
    ("554 郵件被判定為垃圾郵件", "554 邮件被判定为垃圾邮件"),
    ("554 您的IP在黑名單中", "554 您的IP在黑名单中"),
    ("550 發信頻率過快", "550 发信频率过快"),
    ("550 帳戶已被凍結", "550 帐户已被冻结"),
    ("451 連接數過多", "451 连接数过多"),
]


@pytest.mark.parametrize(("traditional", "simple"), TRADITIONAL)
def test_traditional_chinese_reads_as_simplified(traditional: str, simple: str) -> None:
    for stage in ("RCPT", ""):
        got, want = decide("", "", traditional, stage), decide("", "", simple, stage)
        assert (got.reason, got.kind, got.rule) == (want.reason, want.kind, want.rule)
        assert got.reason != "undefined", got.steps


def _patterns() -> list[str]:
    """Every pattern that reads folded (simplified) text."""
    compiled = [rule.pattern for rule in wording.WORD_RULES]
    compiled += [s.pattern for s in (_THROTTLE_TEXT, _NOT_THROTTLE, _VOLUME)]
    compiled += [_BANNED, _FREQUENT, _TOO_MANY]
    compiled += [formats._BOUNCE_SUBJECT_RE, formats._BOUNCE_BODY_RE, formats._RETURNED_RE]
    return [p.pattern for p in compiled]


def test_the_rules_are_written_in_what_the_fold_gives() -> None:
    """A rule holding a character the fold replaces could never match; a table entry that no
    rule reads is dead weight on every non-ASCII text."""
    text = "".join(_patterns())
    assert wording.simplified(text) == text
    table = wording._TRADITIONAL
    assert all(chr(simple) in text for simple in table.values())
    assert len(table) >= 30


# (diagnostic, reason) answered at RCPT: general wordings the rules lacked
WORDINGS = [
    ("550 收件人帐户不存在", "userunknown"),
    ("550 收信人不存在", "userunknown"),
    ("550 抱歉，对方邮箱地址不存在", "userunknown"),
    ("550 账号已注销", "userunknown"),
    ("550 该用户已被注销", "userunknown"),
    ("550 使用者不存在", "userunknown"),
    ("550 无此使用者", "userunknown"),
    ("550 对不起，该账号已经被冻结", "suspend"),
    ("550 邮箱域名不存在", "hostunknown"),
    ("550 发件人地址不存在", "rejected"),
    ("550 受信者が存在しません", "userunknown"),
    ("550 メールアドレスが見つかりません", "userunknown"),
    ("550 該当するユーザーが存在しません", "userunknown"),
    ("552 Postfach ist voll", "mailboxfull"),
    ("552 La boîte aux lettres du destinataire est pleine", "mailboxfull"),
    ("552 El buzón está lleno", "mailboxfull"),
    ("552 La casella di posta è piena", "mailboxfull"),
    ("552 A caixa de correio está cheia", "mailboxfull"),
    ("552 Почтовый ящик переполнен", "mailboxfull"),
    ("552 받는 사람의 메일함 용량이 초과되었습니다", "mailboxfull"),
    ("552 Das Postfach des Empfängers ist voll", "mailboxfull"),
    ("552 El buzón del destinatario está lleno", "mailboxfull"),
    ("552 受信者のメールボックスがいっぱいです", "mailboxfull"),
    # "voll" as a word only: a full address, not "vollständig"
    ("550 Empfänger unbekannt: Postfach vollständig gelöscht", "userunknown"),
]


@pytest.mark.parametrize(("text", "reason"), WORDINGS)
def test_wordings_in_more_forms_and_languages(text: str, reason: str) -> None:
    assert decide("", "", text, "RCPT").reason == reason


def test_a_japanese_notice_is_a_bounce() -> None:
    """ "メール配信失敗のお知らせ" / "配信に失敗しました" (delivery failed): a notice in Japanese
    alone was passed over as ordinary mail."""
    (bounce,) = parse_bounces((ATTACK / "ja-iso2022jp-notfound.eml").read_bytes())
    assert bounce.recipient == "yamada@client.example.jp"


def test_a_diagnostic_in_rfc2047_words_is_read_decoded() -> None:
    """ "Diagnostic-Code: smtp; 552 =?gb2312?B?...?=": the reply in Chinese, which some
    gateways write as encoded-words, was read as its base64 (reason undefined, a dead
    address at QQ left soft); and a diagnostic in Chinese alone was taken for one without
    words, replaced by the notice's text."""
    for name in ("dsn-encoded-words-full.eml", "dsn-encoded-words-notfound.eml"):
        (bounce,) = parse_bounces((ATTACK / name).read_bytes())
        assert "=?" not in bounce.diagnostic and "收件人" in bounce.diagnostic, bounce.diagnostic


def test_a_reply_code_after_a_full_width_colon_is_read() -> None:
    """Chinese and Japanese notices write "：" ("服务器返回：450 ..."): the code was not read,
    so a temporary refusal with "user unknown" words was judged hard and suppressed."""
    (bounce,) = parse_bounces((ATTACK / "zh-fullwidth-colon-450.eml").read_bytes())
    assert bounce.reply == "450" and bounce.kind != "hard"
    # the code read: live, a 450 is retried, never hard (in a report of a delivery given up on
    # it is the last reply, and "user unknown" then is the address's verdict)
    assert decide("", "", "遠端伺服器回應：450 使用者不存在", None).kind == "soft"
    assert decide("", "", "遠端伺服器回應：使用者不存在", None).kind == "hard"


def test_explain_names_the_reporter_in_its_words(run: Callable[..., Result]) -> None:
    """A sender's name in RFC 2047 words was shown (and matched against vendors) as its
    lower-cased base64; a control character in it is still shown escaped."""
    path = ATTACK / "dsn-encoded-words-notfound.eml"
    result = run("bounces", "parse", "--explain", str(path))
    assert "reported by gw.corp.example 系统管理员 <postmaster@gw.corp.example>" in result.output
    raw = path.read_bytes().replace(
        b"From: =?gb2312?B?z7XNs7ncwO3UsQ==?=", b"From: =?utf-8?q?evil=1B]0;title=07?="
    )
    (bounce,) = parse_bounces(raw)
    assert all(step.isprintable() for step in bounce.steps)


def test_a_challenge_without_rfc3834_headers_is_no_bounce() -> None:
    """A challenge-response system's "your message could not be delivered to kim@... until you
    verify that you are a human" (no Auto-Submitted, as many send) was a block bounce of the
    address it protects: one the mailbox mailed, so it counted against it."""
    raw = (ATTACK / "challenge-en-noheader.eml").read_bytes()
    assert parse_bounces(raw) == []
    # An MTA's notice is no challenge, whatever it says of verification.
    notice = raw.replace(b"Verification Service <verify@", b"Mail Delivery System <mailer-daemon@")
    assert [b.recipient for b in parse_bounces(notice)] == ["kim.lee@client.example"]


def test_chinese_failure_and_delay_notices_in_words() -> None:
    """ "您发送的邮件未能成功投递，系统已不再重试" (not delivered, no more retries) from the
    provider's postmaster was passed over: the dead address stayed. A notice that the system
    "继续尝试投递" (keeps trying) and "您无需重新发送" (no need to resend) is a delay warning."""
    (failed,) = parse_bounces((ATTACK / "zh-failure-notice.eml").read_bytes())
    assert (failed.kind, failed.delayed) == ("hard", False)
    (delay,) = parse_bounces((ATTACK / "zh-delay-notice.eml").read_bytes())
    assert (delay.recipient, delay.delayed) == (DELAYS["zh-delay-notice.eml"], True)
