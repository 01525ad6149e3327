"""What the Chinese providers answer, as their public reply-code pages document it, through both
paths: a live SMTP reply (``warmup send``: kind, whether it throttles the mailbox) and the same
words quoted in a DSN (``decide``: reason and kind).

Sources (written 2026-12-02 without network access, from what is known of these public pages;
the wording as documented, nothing fetched or copied from any message or corpus):

- NetEase: help.mail.163.com, "企业退信代码说明" and "163免费邮退信代码" (codes such as RP:QRC,
  MI:DMC, HL:IPB with their Chinese explanations).
- Tencent: QQ Mail help ``service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022`` and the Tencent
  Exmail help centre, "退信代码说明".
- Alibaba: Alibaba Cloud mail help, "阿里邮箱常见退信代码".

The rules: a rate limit is a throttle (back off: exit 75) and never hard; spam, content and
sender blocks are ``block`` (counted, nothing suppressed); an unknown user is hard.
"""

from __future__ import annotations

import pytest

from warmup.bounces import classify_smtp_reply, is_throttle
from warmup.bounces.classify import decide

# (code, text, live kind, throttle, DSN reason). A throttle's DSN reason is toomanyconn.
THROTTLE = "toomanyconn"
REPLIES = [
    # --- NetEase (163 / 126 / yeah.net / Qiye) ---
    (421, "RL:TRC 发信频率过快，请稍后再试", "soft", True, THROTTLE),
    (450, "MI:CEL 发送方出现过多的错误指令", "soft", True, THROTTLE),
    (
        451,
        "MI:DMC 当前连接发送的邮件数量超出限制。请控制每次TCP连接发送的邮件数量",
        "soft",
        True,
        THROTTLE,
    ),
    (450, "RP:QRC 发送方短期内累计向非本域邮箱地址发送邮件数量超过限制", "soft", True, THROTTLE),
    (550, "RP:QRC 发送方短期内累计向非本域邮箱地址发送邮件数量超过限制", "soft", True, THROTTLE),
    (451, "RP:TRC 发送方短期内累计收件人数量超过限制", "soft", True, THROTTLE),
    (550, "RP:RCL 群发收件人数量超过了限额", "soft", True, THROTTLE),
    (550, "MI:STC 发件人当天的连接数量超出了限定数量", "soft", True, THROTTLE),
    (
        554,
        "HL:ICC 该IP同时并发连接数过大，超过了网易的限制，被临时禁止连接",
        "soft",
        True,
        THROTTLE,
    ),
    (
        421,
        "HL:IFC 该IP短期内发送了大量信件，超过了网易的限制，被临时禁止连接",
        "soft",
        True,
        THROTTLE,
    ),
    (
        554,
        "DT:SPM 发送的邮件内容包含了未被许可的信息，或被系统识别为垃圾邮件",
        "block",
        False,
        "spamdetected",
    ),
    (554, "IP:BL 发送方IP在网易黑名单中", "block", False, "blocked"),
    (550, "RBL 发送IP位于一个或多个RBL里", "block", False, "blocked"),
    (
        554,
        "HL:IHU 发信IP因发送垃圾邮件或存在异常的连接行为，被暂时挂起",
        "block",
        False,
        "spamdetected",
    ),
    (554, "HL:IPB 该IP不在网易允许的发送地址列表里", "block", False, "blocked"),
    (
        554,
        "HL:MEP 该IP发送行为异常，存在大量伪造发送域域名行为，被暂时禁止连接",
        "block",
        False,
        "blocked",
    ),
    (550, "MI:NHD HELO命令不允许为空", "block", False, "notcompliantrfc"),
    (550, "MI:IMF 发信人电子邮件地址不合规范", "block", False, "rejected"),
    (550, "MI:SPF 发信IP未被发送域的SPF许可", "block", False, "authfailure"),
    (550, "MI:DMA 该邮件未被发信域的DMARC许可", "block", False, "authfailure"),
    (553, "authentication is required", "block", False, "securityerror"),
    (550, "User not found: wang.fang@163.com", "hard", False, "userunknown"),
    (550, "User suspended", "soft", False, "suspend"),
    (552, "Requested mail action aborted: exceeded mailsize limit", "soft", False, "mesgtoobig"),
    (552, "Illegal Attachment 不允许发送该类型的附件", "block", False, "filtered"),
    # --- Tencent (QQ Mail / Exmail) ---
    (550, "Mailbox not found or access denied", "hard", False, "userunknown"),
    (550, "Ip frequency limited", "soft", True, THROTTLE),
    (550, "Connection frequency limited", "soft", True, THROTTLE),
    (550, "Domain frequency limited", "soft", True, THROTTLE),
    (550, "发送频率过高，请稍后再试", "soft", True, THROTTLE),
    (451, "发信频率过快", "soft", True, THROTTLE),
    (550, "发信频率过快", "soft", True, THROTTLE),
    (451, "连接过于频繁，请稍后再试", "soft", True, THROTTLE),
    (550, "Mail content denied", "block", False, "filtered"),
    (550, "Message rejected due to local policy", "block", False, "policyviolation"),
    (550, "Mail is rejected by recipients", "block", False, "blocked"),
    (550, "您的邮件被收件人拒收", "block", False, "blocked"),
    (554, "内容疑似垃圾邮件", "block", False, "spamdetected"),
    (554, "DNS PTR record not found", "block", False, "requireptr"),
    (550, "收件人不存在", "hard", False, "userunknown"),
    (552, "收件人邮箱容量已满", "soft", False, "mailboxfull"),
    (452, "收件人邮箱配额已满", "soft", False, "mailboxfull"),
    # --- Alibaba Mail (Aliyun / Alimail) ---
    (554, "5.7.1 [ANTISPAM_BAT] 发信频率过快", "soft", True, THROTTLE),
    (551, "virus infected mail rejected", "block", False, "virusdetected"),
    (554, "Your access has been denied", "block", False, "blocked"),
    (550, "Mailbox not found", "hard", False, "userunknown"),
    (526, "Authentication failure", "block", False, "authfailure"),
    (550, "5.1.1 收件人不存在", "hard", False, "userunknown"),
]


@pytest.mark.parametrize(("code", "text", "kind", "throttle", "reason"), REPLIES)
def test_a_live_reply(code: int, text: str, kind: str, throttle: bool, reason: str) -> None:
    """During ``warmup send``: a throttle pauses the mailbox (exit 75) whatever the stage, and
    its recipients are released, never suppressed."""
    assert classify_smtp_reply(code, text) == kind
    assert is_throttle(code, text) is throttle
    assert is_throttle(code, text, stage="rcpt") is throttle
    if throttle:
        assert kind != "hard"


@pytest.mark.parametrize(("code", "text", "kind", "throttle", "reason"), REPLIES)
def test_the_same_words_in_a_dsn(
    code: int, text: str, kind: str, throttle: bool, reason: str
) -> None:
    """Quoted in a DSN's Diagnostic-Code: the reason and its kind (a 4xx is never hard)."""
    verdict = decide("", str(code), f"smtp; {code} {text}", "RCPT")
    assert verdict.reason == reason, verdict.steps
    assert (verdict.rule == "throttle") is throttle, verdict.steps
    if code < 500:
        assert verdict.kind != "hard"
    else:
        assert verdict.kind == ("soft" if throttle else kind), verdict.steps


@pytest.mark.parametrize(
    "text",
    [
        "邮件大小超过限制",  # message too big: not our rate
        "收件人邮箱空间不足",  # the recipient's mailbox is full
        "收件人邮箱配额已满",
        "该邮箱不存在",
        # the recipient's mailbox over its quota, said otherwise than "已满" (full)
        "收件人邮箱超出配额",
        "收件人邮箱存储配额已用完",
        "用户邮箱空间超限",
        "该用户邮箱存储空间超出限额",
    ],
)
def test_chinese_limits_of_the_recipient_are_no_throttle(text: str) -> None:
    """ "超过限制" (over the limit) and "配额" (quota) are volume words only when they are not
    about the recipient's mailbox or the message's size: a throttle pauses the whole mailbox."""
    assert not is_throttle(552, text)
    assert not is_throttle(452, text, stage="rcpt")
    assert not is_throttle(550, text)
    assert decide("", "452", f"smtp; 452 {text}", "RCPT").rule != "throttle"


@pytest.mark.parametrize(
    "text", ["发件人邮箱超出每日限额", "您的邮箱发信数量超过限额", "发信邮箱今日配额已用完"]
)
def test_chinese_limits_of_the_sender_are_a_throttle(text: str) -> None:
    """The sender's mailbox over its quota is our volume, whatever the recipient's is."""
    assert is_throttle(451, text)
    assert is_throttle(550, text)


# NetEase's temporary bans of the sending IP, as a live 421 (the server ends the session) and
# quoted in a report afterwards.
BANS = [
    "HL:REP 该IP发送行为异常，存在接收者大量不存在情况，被临时禁止连接",
    "HL:MEP 该IP发送行为异常，存在大量伪造发送域域名行为，被暂时禁止连接",
    "HL:IHU 发信IP因发送垃圾邮件或存在异常的连接行为，被暂时挂起",
]


@pytest.mark.parametrize("text", BANS)
def test_a_temporary_ban_backs_off(text: str) -> None:
    """As a live 421 the mailbox backs off (it was one recipient's soft bounce and the next
    message went into the same ban); the same words in a report are a block: the message was
    refused for the sender, and no recipient is suppressed."""
    assert is_throttle(421, text, stage="rcpt")
    assert is_throttle(421, text)
    assert classify_smtp_reply(421, text) == "soft"
    verdict = decide("", "421", f"smtp; 421 {text}", "RCPT")
    assert verdict.kind != "hard", verdict.steps
    assert decide("", "554", f"smtp; 554 {text}", "RCPT").kind == "block"
