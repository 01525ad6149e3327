"""Hostile mail for the bounce intake: inputs shaped to cost the parser time, to reach the
terminal, or to make ``warmup bounces parse`` hang or read without end."""

from __future__ import annotations

from email.message import Message

from warmup.bounces import parse_bounces
from warmup.bounces.formats import MAX_CONTAINERS, reparse_inline_mime
from warmup.bounces.parse import _to_message

HEAD = (
    "From: MAILER-DAEMON@mx.example.com\nTo: sales@corp.example\n"
    "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <r1@mx.example.com>\n"
)


def _nested(depth: int, lines: int = 2000) -> str:
    """A message/rfc822 part nested ``depth`` multiparts deep around ``lines`` lines: the
    stdlib parser matches each line against every enclosing boundary (depth x lines)."""
    inner = "\n" + "hello\n" * lines
    for i in range(depth):
        inner = f'Content-Type: multipart/mixed; boundary="n{i}"\n\n--n{i}\n{inner}\n--n{i}--\n'
    return inner


def _report(original: str) -> str:
    return (
        HEAD + "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="R"\n\n--R\nContent-Type: text/plain\n\nYour message could not be delivered.\n'
        "\n--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--R\nContent-Type: message/rfc822\n\n"
        f"From: sales@corp.example\nTo: gone@example.net\nMessage-ID: <o1@corp.example>\n{original}"
        "\n--R--\n"
    )


def _multiparts(msg: Message) -> int:
    return sum(1 for part in msg.walk() if part.get_content_maintype() == "multipart")


def test_deep_nesting_is_cut_to_a_bounded_number_of_multiparts() -> None:
    raw = _report(_nested(500)).encode()
    msg = _to_message(raw)
    assert msg is not None
    assert _multiparts(msg) <= MAX_CONTAINERS
    # What comes before the nesting is read as ever.
    [bounce] = parse_bounces(raw)
    assert (bounce.recipient, bounce.kind, bounce.status) == ("gone@example.net", "hard", "5.1.1")


def test_deep_nesting_in_an_inline_reparse_is_cut_too() -> None:
    body = (
        "--report1\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n\n--report1\n"
        + _nested(300)
    )
    msg = _to_message((HEAD + "\n" + body).encode())
    assert msg is not None and not msg.is_multipart()
    reparsed = reparse_inline_mime(msg, body)
    assert reparsed is not None
    assert _multiparts(reparsed) <= MAX_CONTAINERS
