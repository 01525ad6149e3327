"""The MIME bytes of a template's message (To, Subject, a text part and an optional HTML part),
written directly instead of through :class:`email.message.EmailMessage`.

Why: building, completing and flattening an ``EmailMessage`` through the header registry costs
milliseconds a message, which bounded ``warmup queue add --csv`` at a few hundred rows a second.
The structure here is fixed, so the bytes can be written in microseconds with the standard
library's own choices: each body's transfer encoding is chosen by the same function
``EmailMessage.set_content`` uses (7bit, 8bit, quoted-printable or base64), a header is written
as is when it is short ASCII and folded by the standard library's SMTP policy otherwise (RFC 2047
encoded words for non-ASCII), and the parts sit in a ``multipart/alternative`` with a random
boundary that none of them contains. ``tests/test_mime.py`` parses the bytes back with the
standard library and compares them with what ``EmailMessage`` writes.
"""

from __future__ import annotations

import email.policy
import random
from email.contentmanager import (  # type: ignore[attr-defined]
    _encode_text,  # the choice EmailMessage.set_content makes, for the same bytes
)

_DEFAULT = email.policy.default  # EmailMessage's policy: set_content's encoding choice
_SMTP = email.policy.SMTP  # what the outbox stores: CRLF, RFC 2047 headers
_LIMIT = 78  # RFC 5322 line length the SMTP policy folds at


def header(name: str, value: str) -> str:
    """``Name: value`` with CRLF: as is when short ASCII, else folded and RFC 2047 encoded."""
    line = f"{name}: {value}\r\n"
    if value.isascii() and len(line) <= _LIMIT + 2 and value.isprintable():
        return line
    return _SMTP.header_factory(name, value).fold(policy=_SMTP)


def _part(subtype: str, body: str) -> tuple[str, bytes]:
    if body.isascii() and "\r" not in body:  # the common case, decided as _encode_text would
        lines = body.split("\n")
        if lines[-1] == "":
            lines.pop()
        if max(map(len, lines), default=0) <= _LIMIT:
            head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            return head + "Content-Transfer-Encoding: 7bit\r\n", (
                "\r\n".join(lines) + "\r\n"
            ).encode()
    cte, payload = _encode_text(body, "utf-8", None, _DEFAULT)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    data = payload.encode("ascii", "surrogateescape") if cte == "8bit" else payload.encode()
    return head, data.replace(b"\n", b"\r\n")


def _boundary(parts: list[bytes]) -> str:
    while True:
        token = f"==============={random.getrandbits(63):019d}=="  # as the stdlib's
        mark = token.encode()
        if not any(mark in p for p in parts):
            return token


def compose(headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    """An RFC 5322 message (CRLF line ends, as the outbox stores messages): ``headers`` in order
    (values unfolded, without CR or LF), then MIME-Version and the body: ``text`` alone as
    text/plain, or with ``html`` as multipart/alternative."""
    head = "".join(header(n, v) for n, v in headers) + "MIME-Version: 1.0\r\n"
    text_head, text_data = _part("plain", text)
    if html is None:
        return (head + text_head + "\r\n").encode() + text_data
    html_head, html_data = _part("html", html)
    boundary = _boundary([text_data, html_data])
    mark = f"--{boundary}\r\n".encode()
    return b"".join(
        [
            (
                head + f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
            ).encode(),
            mark,
            (text_head + "\r\n").encode(),
            text_data,
            b"\r\n",
            mark,
            (html_head + "\r\n").encode(),
            html_data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
