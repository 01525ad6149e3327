"""The directly written MIME of a template's message (warmup/outbox/mime.py) against what the
standard library's EmailMessage writes for the same message: parsed back with the standard
library, the headers, the parts, their transfer encodings and decoded bodies are the same."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmup.outbox.mime import compose
from warmup.outbox.template import Rendered

FIXED = [
    ("From", "sales@corp.example"),
    ("Date", "Mon, 30 Nov 2026 09:00:00 -0000"),
    ("Message-ID", "<1.2.3@corp.example>"),
]
LONG = "word " * 40
CASES = {
    "ascii": Rendered("lead@example.com", "A question for Acme", "Hello Ann,\n\nbye\n", None),
    "ascii html": Rendered(
        "lead@example.com",
        "A question for Acme",
        "Hello Ann,\n",
        "<p>Hello Ann,</p><p>a short note about Acme &amp; Co's outreach, one long line.</p>",
    ),
    "chinese": Rendered(
        "lead@example.cn",
        "关于贵公司外联的一个问题",
        "王先生您好，\n\n下周方便通个电话吗？\n",
        "<p>王先生您好，</p><p>下周方便通个电话吗？</p>",
    ),
    "chinese long lines": Rendered(
        "lead@example.cn",
        "关于贵公司外联的一个问题" * 6,
        "下周方便通个电话吗？" * 30 + "\n" + "短\n" * 12,
        "<p>" + "王先生您好，" * 40 + "</p>",
    ),
    "long ascii lines": Rendered(
        "lead@example.com",
        LONG.strip(),
        LONG + "\n" + "a = b; trailing space \n" * 12,
        "<p>" + LONG + "</p>\r\n<p>crlf</p>\rcr",
    ),
    "mixed latin": Rendered(
        "lead@example.com", "Café Müller", "Grüße aus Köln\n" + "é" * 100, "<b>naïve</b>"
    ),
    "encoded-word-like subject": Rendered("lead@example.com", "=?utf-8?q?hi?= there", "x\n", None),
    "control characters": Rendered("lead@example.com", "a b\x7fc\x01", "a\x0cb\x1dc\n", None),
    "empty": Rendered("lead@example.com", "", "", ""),
    "no final newline": Rendered("lead@example.com", "s", "one\ntwo", "<p>x</p>"),
    "boundary-like text": Rendered(
        "lead@example.com", "s", "--===============1234567890123456789==\n", None
    ),
}


def stdlib(item: Rendered) -> bytes:
    msg = item.message()
    for name, value in FIXED:
        msg[name] = value
    return msg.as_bytes(policy=email.policy.SMTP)


def ours(item: Rendered) -> bytes:
    head = [("To", item.rcpt), ("Subject", item.subject), *FIXED]
    return compose(head, item.text, item.html)


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def shape(msg: EmailMessage) -> list[tuple[object, ...]]:
    """Everything a reader sees: headers (the boundary aside), and per leaf part its type,
    charset, transfer encoding and decoded body."""
    heads = sorted(
        (k.lower(), str(v))
        for k, v in msg.items()
        if k.lower() not in ("content-type", "mime-version")
    )
    out: list[tuple[object, ...]] = [("headers", tuple(heads), msg.get_content_type())]
    for part in msg.walk():
        if part.is_multipart():
            continue
        out.append(
            (
                part.get_content_type(),
                part.get_content_charset(),
                part.get("Content-Transfer-Encoding"),
                part.get_content(),
                part.defects,
            )
        )
    return out


def check_same(item: Rendered) -> None:
    data = ours(item)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert data.split(b"\r\n\r\n")[0].isascii()  # headers: RFC 2047, never raw 8-bit
    mine, theirs = parsed(data), parsed(stdlib(item))
    assert shape(mine) == shape(theirs)
    assert not mine.defects
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_message_as_emailmessage(name: str) -> None:
    check_same(CASES[name])


def test_encodings_cover_the_stdlib_choices() -> None:
    """The cases above exercise every transfer encoding and RFC 2047 subjects."""
    seen = {
        p.get("Content-Transfer-Encoding") for c in CASES.values() for p in parsed(ours(c)).walk()
    }
    assert {"7bit", "8bit", "quoted-printable", "base64"} <= seen
    raw = ours(CASES["chinese"])
    assert b"Subject: =?utf-8?" in raw
    assert str(parsed(raw)["Subject"]) == "关于贵公司外联的一个问题"
    assert b"Subject: A question for Acme\r\n" in ours(CASES["ascii"])


def test_boundary_is_not_in_a_part() -> None:
    item = CASES["ascii html"]
    msg = parsed(ours(item))
    boundary = msg.get_boundary()
    assert boundary and boundary not in item.text and boundary not in (item.html or "")
    assert len({parsed(ours(item)).get_boundary() for _ in range(20)}) == 20


words = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
) | st.text(st.sampled_from("ab =.\n\r\t<>&é中"), max_size=300)  # mostly ASCII: the fast path


@settings(max_examples=150, deadline=None)
@given(
    subject=words,
    text=words,
    html=st.none() | words,
    long=st.booleans(),
)
def test_same_message_any_text(subject: str, text: str, html: str | None, long: bool) -> None:
    if long:
        text = text * 5
    check_same(Rendered("lead@example.com", " ".join(subject.split()), text, html))
